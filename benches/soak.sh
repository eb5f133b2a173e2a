#!/usr/bin/env bash
# Soak: one daemon on a generated data set under mixed load for a bounded
# time, with the snapshot reloaded every few seconds (alternating two
# snapshots) and objection holds placed and released all along. Not part
# of CI.
#
#   benches/soak.sh                               # 180 s, 300 000 entries
#   SOAK_SECONDS=600 ENTRIES=2000000 benches/soak.sh
#
# Settings:
#   SOAK_SECONDS   length of the load (default 180, at most 3600)
#   ENTRIES        entries of the generated data set (default 300000)
#   RELOAD_EVERY   seconds between reloads (default 3)
#   CHECK_RATE     JSON check requests per second (default 2000)
#   KEEP=1         keep the work folder
#
# Load: `credlist bench batch` (frames of 4096 codes; unlisted codes must
# be answered 0 and listed ones as listed: holds change flags, so answers
# are not compared with a snapshot computed without them) and `credlist
# bench check` (3-code checks at CHECK_RATE) at the same time, reloads,
# hold/release pairs. The daemon's RSS is sampled every second. The last line is
#
#   SOAK seconds=… batch_frames=… batch_codes=… checks=… reloads=… holds=… failures=… rss_start_kib=… rss_end_kib=… rss_max_kib=…
#
# Exit status 1 when anything failed (failures > 0, or the daemon did not
# exit 0 on SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-180}
ENTRIES=${ENTRIES:-300000}
RELOAD_EVERY=${RELOAD_EVERY:-3}
CHECK_RATE=${CHECK_RATE:-2000}
DATA_DATE=2026-11-20
[ "$SOAK_SECONDS" -le 3600 ] || { echo "SOAK_SECONDS at most 3600" >&2; exit 2; }

log() { echo "soak: $*" >&2; }

cargo build --release --quiet
BIN=$PWD/target/release/credlist
WORK=$(mktemp -d /tmp/credlist-soak.XXXXXX)
DAEMON=
cleanup() {
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  jobs -p | xargs -r kill 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && log "work folder kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

log "generating $ENTRIES entries"
"$BIN" gen --entries "$ENTRIES" --out "$WORK/data" >/dev/null
for d in A B; do
  as_of=$DATA_DATE
  [ "$d" = B ] && as_of=2026-11-21
  "$BIN" build --catalog "$WORK/data/catalog.toml" --as-of "$as_of" --max-reject-ratio 1 \
    --out "$WORK/$d.snap" "$WORK/data/lists" >/dev/null
done
cp "$WORK/A.snap" "$WORK/current.snap"
cat >"$WORK/credlist.toml" <<TOML
[snapshot]
path = "$WORK/current.snap"
[state]
dir = "$WORK/state"
[audit]
path = "$WORK/log/audit.log"
[check]
socket = "$WORK/check.sock"
[batch]
socket = "$WORK/batch.sock"
[admin]
socket = "$WORK/admin.sock"
TOML

CREDLIST_LOG=warn "$BIN" serve --config "$WORK/credlist.toml" 2>"$WORK/daemon.log" &
DAEMON=$!
for _ in $(seq 1 500); do
  curl -sf --unix-socket "$WORK/check.sock" http://localhost/v1/health >/dev/null 2>&1 && break
  sleep 0.02
done
curl -sf --unix-socket "$WORK/check.sock" http://localhost/v1/health >/dev/null

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status" 2>/dev/null || echo 0; }
STOP=$WORK/stop

# RSS every second.
( while [ ! -e "$STOP" ]; do rss >>"$WORK/rss.txt"; sleep 1; done ) &

# Reloads, alternating the two snapshots.
(
  n=0 bad=0
  while [ ! -e "$STOP" ]; do
    sleep "$RELOAD_EVERY"
    [ -e "$STOP" ] && break
    snap=$WORK/A.snap
    [ $((n % 2)) = 0 ] && snap=$WORK/B.snap
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$WORK/admin.sock" \
      -X POST -d "{\"path\": \"$snap\"}" http://localhost/v1/admin/reload || echo 000)
    n=$((n + 1))
    [ "$code" = 200 ] || { bad=$((bad + 1)); echo "reload: HTTP $code" >>"$WORK/errors.txt"; }
  done
  echo "$n $bad" >"$WORK/reloads.txt"
) &

# Holds placed and released on entries of the data set.
mapfile -t IDS < <(tail -n +2 "$WORK/data/lists/part-000.csv" | head -n 50 | cut -d, -f1)
(
  n=0 bad=0 i=0
  while [ ! -e "$STOP" ]; do
    id=${IDS[$((i % ${#IDS[@]}))]}
    i=$((i + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$WORK/admin.sock" -X POST \
      -d "{\"entry_id\": \"$id\", \"reason\": \"soak\"}" http://localhost/v1/admin/holds || echo 000)
    [ "$code" = 201 ] || { bad=$((bad + 1)); echo "hold $id: HTTP $code" >>"$WORK/errors.txt"; }
    sleep 0.2
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$WORK/admin.sock" -X DELETE \
      "http://localhost/v1/admin/holds/$id" || echo 000)
    [ "$code" = 204 ] || { bad=$((bad + 1)); echo "release $id: HTTP $code" >>"$WORK/errors.txt"; }
    n=$((n + 1))
    sleep 0.3
  done
  echo "$n $bad" >"$WORK/holds.txt"
) &

log "load for $SOAK_SECONDS s: batch frames + $CHECK_RATE checks/s, reloads every $RELOAD_EVERY s, holds"
set +e
"$BIN" bench batch --socket "$WORK/batch.sock" --entries "$ENTRIES" \
  --as-of "$DATA_DATE" --connections 1 --in-flight 2 --duration "${SOAK_SECONDS}s" --warmup 1s \
  >"$WORK/batch.txt" 2>&1 &
BATCH=$!
"$BIN" bench check --socket "$WORK/check.sock" --entries "$ENTRIES" --as-of "$DATA_DATE" \
  --rate "$CHECK_RATE" --connections 4 --duration "${SOAK_SECONDS}s" --warmup 1s \
  >"$WORK/check.txt" 2>&1 &
CHECK=$!
wait "$BATCH"; batch_rc=$?
wait "$CHECK"; check_rc=$?
set -e
touch "$STOP"
sleep $((RELOAD_EVERY + 1))
rss_end=$(rss)
kill -TERM "$DAEMON"
set +e
wait "$DAEMON"; daemon_rc=$?
set -e
DAEMON=

field() { grep -o "$2=[0-9.]*" "$1" | tail -1 | cut -d= -f2; }
batch_frames=$(field "$WORK/batch.txt" frames)
batch_codes=$(field "$WORK/batch.txt" codes)
batch_fail=$(field "$WORK/batch.txt" failures)
checks=$(field "$WORK/check.txt" requests)
check_fail=$(field "$WORK/check.txt" failures)
read -r reloads reload_fail <"$WORK/reloads.txt"
read -r holds hold_fail <"$WORK/holds.txt"
failures=$(( ${batch_fail:-1} + ${check_fail:-1} + reload_fail + hold_fail ))
[ "$batch_rc" = 0 ] || failures=$((failures + 1))
[ "$check_rc" = 0 ] || failures=$((failures + 1))
[ "$daemon_rc" = 0 ] || failures=$((failures + 1))
rss_start=$(head -n 1 "$WORK/rss.txt")
rss_max=$(sort -n "$WORK/rss.txt" | tail -n 1)
if [ "$failures" -ne 0 ]; then
  log "failures: see below"
  tail -n 20 "$WORK/batch.txt" "$WORK/check.txt" "$WORK/errors.txt" "$WORK/daemon.log" 2>/dev/null >&2 || true
fi
echo "SOAK seconds=$SOAK_SECONDS entries=$ENTRIES batch_frames=${batch_frames:-0} batch_codes=${batch_codes:-0} checks=${checks:-0} reloads=$reloads holds=$holds failures=$failures rss_start_kib=$rss_start rss_end_kib=$rss_end rss_max_kib=$rss_max"
[ "$failures" -eq 0 ]
