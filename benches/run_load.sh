#!/usr/bin/env bash
# The daemon under load (SPEC §7): single-application JSON checks at a
# target rate for the p99 figure, then the batch socket, against one
# daemon serving the §7 data set.
#
#   benches/run_load.sh                       # 10M entries, 20k req/s × 3 codes
#   ENTRIES=2000000 RATE=10000 benches/run_load.sh
#
# Settings: see benches/bench_env.sh, and
#   RATE               check requests per second (default 20000)
#   CODES_PER_REQUEST  subjects per check (default 3)
#   CHECK_CONNECTIONS  keep-alive check connections (default 16)
#   MATTER             matter of the checks (default gov_procurement)
# The last line is
#
#   LOAD check_p99_us=… check_achieved_rps=… batch_codes_per_s=…
#
# Exit 1 when a run had failures.

# shellcheck source=benches/bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh"

RATE=${RATE:-20000}
CODES_PER_REQUEST=${CODES_PER_REQUEST:-3}
CHECK_CONNECTIONS=${CHECK_CONNECTIONS:-16}
MATTER=${MATTER:-gov_procurement}

build_release
ensure_data
start_daemon

failed=0
log "JSON checks: $RATE requests/s, $CODES_PER_REQUEST codes each"
warm_snapshot
observe "$DAEMON_PID" with_profile check bounded "$BIN" bench check --socket "$WORK/check.sock" \
    --snapshot-seed "$SEED" --entries "$ENTRIES" --as-of "$DATA_DATE" \
    --rate "$RATE" --codes-per-request "$CODES_PER_REQUEST" \
    --connections "$CHECK_CONNECTIONS" --matter "$MATTER" --hit-ratio "$HIT_RATIO" \
    --duration "$DURATION" --warmup "$WARMUP" | tee "$WORK/check.txt" || failed=1
log "batch socket"
run_batch batch || failed=1

echo "LOAD check_p99_us=$(result_field "$WORK/check.txt" p99_us)" \
    "check_achieved_rps=$(result_field "$WORK/check.txt" achieved_rps)" \
    "check_target_rps=$RATE batch_codes_per_s=$(result_field "$WORK/batch.txt" codes_per_s)" \
    "batch_p99_us=$(result_field "$WORK/batch.txt" p99_us) entries=$ENTRIES"
if [[ $failed != 0 ]]; then
    die "a run had failures (see above)"
fi
