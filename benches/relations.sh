#!/usr/bin/env bash
# Related parties under load (SPEC §8 "Batch, commands, performance"): the
# §7 data set with and without 5 million relations, measured in one run.
# Builds both snapshots from the same lists, then serves each in turn
# (ROUNDS times, alternating) and runs the batch socket (protocol version 1
# and 2, each on a fresh daemon) and single JSON checks against it.
#
#   benches/relations.sh                      # 10M entries, 5M relations, 3 rounds
#   ENTRIES=1000000 RELATIONS=500000 ROUNDS=1 DURATION=3s benches/relations.sh
#
# Settings: see benches/bench_env.sh, and
#   RELATIONS  relations generated beside the lists (default 5000000)
#   ROUNDS     alternating rounds (default 3)
#   RATE       JSON check requests per second (default 20000)
# Each run prints a line
#
#   REL snapshot=plain|relations round=N batch_v1=… batch_v2=… check_p99_us=… rss_anon_kb=…
#
# and the build lines give rows/s and snapshot sizes. Exit 1 when a run had
# failures.

# shellcheck source=benches/bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh"

RELATIONS=${RELATIONS:-5000000}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-20000}
RDATA=$ROOT/target/bench-data/${ENTRIES}-seed${SEED}-rel${RELATIONS}

build_release
if [[ ! -d $RDATA/lists || ! -d $RDATA/relations ]]; then
    log "generating $ENTRIES entries and $RELATIONS relations into $RDATA"
    rm -rf "$RDATA"
    bounded "$BIN" gen --entries "$ENTRIES" --relations "$RELATIONS" --seed "$SEED" \
        --as-of "$DATA_DATE" --files 8 --out "$RDATA"
fi
for kind in plain relations; do
    snap=$RDATA/$kind.snap
    extra=()
    [[ $kind == relations ]] && extra=(--relations "$RDATA/relations")
    log "building $snap"
    bounded "$BIN" build --catalog "$RDATA/catalog.toml" --as-of "$DATA_DATE" \
        --out "$snap" "${extra[@]}" "$RDATA/lists" | grep -E '^(rows read|elapsed)' >&2
    echo "SNAPSHOT $kind bytes=$(stat -c %s "$snap")"
done

failed=0
# Stops the daemon and drops its audit register: a 5 s batch run writes
# about a gigabyte of it, which would fill the disk over the rounds.
stop_daemon() {
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    rm -rf "$WORK/audit" "$WORK/state"
}
for round in $(seq 1 "$ROUNDS"); do
    for kind in plain relations; do
        SNAP=$RDATA/$kind.snap
        try_start_daemon || die "the daemon did not start: $(tail -5 "$WORK/daemon.log")"
        run_batch "batch-v1-$kind" --version 1 | grep -E '^(RESULT|error)' || failed=1
        # Each version on a fresh daemon: run right after v1 on the same
        # daemon, v2 measured up to 15 % lower with relations than on its own.
        stop_daemon
        try_start_daemon || die "the daemon did not start: $(tail -5 "$WORK/daemon.log")"
        run_batch "batch-v2-$kind" --version 2 | grep -E '^(RESULT|error)' || failed=1
        observe "$DAEMON_PID" bounded "$BIN" bench check --socket "$WORK/check.sock" \
            --snapshot-seed "$SEED" --entries "$ENTRIES" --as-of "$DATA_DATE" \
            --rate "$RATE" --codes-per-request 3 --connections 16 --matter gov_procurement \
            --hit-ratio "$HIT_RATIO" --duration "$DURATION" --warmup "$WARMUP" \
            >"$WORK/check-$kind.txt" || failed=1
        rss=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$DAEMON_PID/status")
        echo "REL snapshot=$kind round=$round" \
            "batch_v1=$(result_field "$WORK/batch-v1-$kind.txt" codes_per_s)" \
            "batch_v2=$(result_field "$WORK/batch-v2-$kind.txt" codes_per_s)" \
            "check_p99_us=$(result_field "$WORK/check-$kind.txt" p99_us)" \
            "rss_anon_kb=$rss"
        stop_daemon
    done
done
if [[ $failed != 0 ]]; then
    die "a run had failures (see above)"
fi
