# shellcheck shell=bash
# Shared by benches/compare_redis.sh and benches/run_load.sh (sourced, not
# run): settings, the §7 data set, the daemon on Unix sockets in a
# temporary folder, and cleanup of exactly the processes started here.
#
# Settings (environment):
#   ENTRIES      entries in the data set (default 10000000, the §7 scale)
#   SEED         generator seed (default 1)
#   DURATION     measured time of each run (default 10s)
#   WARMUP       time before each measured window (default 2s)
#   CONNECTIONS  batch connections (default 2)
#   IN_FLIGHT    frames in flight per batch connection (default 4)
#   FRAME        codes per batch frame (default 4096)
#   HIT_RATIO    share of listed codes (default 0.5)
#   STEP_LIMIT   seconds any one step may take before it is stopped (default 300)
#   PROFILE      a folder: record `perf record -g` of the daemon during each
#                measured run into it (default: no profile)
#   KEEP_WORK    1: keep the temporary folder (config, logs, audit register)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENTRIES=${ENTRIES:-10000000}
SEED=${SEED:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-2}
IN_FLIGHT=${IN_FLIGHT:-4}
FRAME=${FRAME:-4096}
HIT_RATIO=${HIT_RATIO:-0.5}
STEP_LIMIT=${STEP_LIMIT:-300}
PROFILE=${PROFILE:-}
KEEP_WORK=${KEEP_WORK:-0}
# The data date of generated data sets (`credlist gen` and the criterion
# benches use the same).
DATA_DATE=2026-11-20

BIN=$ROOT/target/release/credlist
# The criterion benches (benches/engine.rs) cache the same data set here.
DATA=$ROOT/target/bench-data/${ENTRIES}-seed${SEED}
SNAP=$DATA/bench.snap

WORK=$(mktemp -d /tmp/credlist-bench.XXXXXX)
# Processes started by this script, stopped on exit (and no other).
STARTED_PIDS=()
DAEMON_PID=

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        # Bounded wait: 10 s, then SIGKILL.
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $KEEP_WORK == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a step bounded by STEP_LIMIT seconds.
bounded() { timeout --kill-after=10 "$STEP_LIMIT" "$@"; }

build_release() {
    log "building credlist (release)"
    (cd "$ROOT" && bounded cargo build --release --quiet --bin credlist)
}

# Generates the data set (when its lists are missing) and builds the snapshot.
build_data() {
    if [[ ! -f $DATA/catalog.toml || ! -d $DATA/lists ]]; then
        log "generating $ENTRIES entries (seed $SEED) into $DATA"
        rm -rf "$DATA/lists"
        bounded "$BIN" gen --entries "$ENTRIES" --seed "$SEED" --as-of "$DATA_DATE" \
            --files 8 --out "$DATA"
    fi
    log "building $SNAP"
    bounded "$BIN" build --catalog "$DATA/catalog.toml" --as-of "$DATA_DATE" \
        --out "$SNAP" "$DATA/lists"
}

ensure_data() {
    if [[ -f $SNAP ]]; then
        log "reusing $SNAP"
    else
        build_data
    fi
}

write_config() {
    mkdir -p "$WORK/audit"
    cat >"$WORK/credlist.toml" <<EOF
[snapshot]
path = "$SNAP"
[state]
dir = "$WORK/state"
[audit]
path = "$WORK/audit/audit.log"
[check]
socket = "$WORK/check.sock"
[batch]
socket = "$WORK/batch.sock"
[admin]
socket = "$WORK/admin.sock"
EOF
}

# Starts `credlist serve` and waits until its admin socket answers; `1`
# when it exits first (its log is in $WORK/daemon.log).
try_start_daemon() {
    write_config
    "$BIN" serve --config "$WORK/credlist.toml" 2>"$WORK/daemon.log" &
    DAEMON_PID=$!
    STARTED_PIDS+=("$DAEMON_PID")
    for _ in $(seq 1 600); do
        if "$BIN" holds --admin-socket "$WORK/admin.sock" >/dev/null 2>&1; then
            log "daemon $DAEMON_PID serving $SNAP on $WORK"
            return 0
        fi
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    die "the daemon did not answer within 60 s; log: $(tail -5 "$WORK/daemon.log")"
}

# Starts the daemon; a cached snapshot it refuses (say, of an older format)
# is rebuilt once.
start_daemon() {
    if try_start_daemon; then
        return 0
    fi
    log "the daemon refused $SNAP: $(tail -3 "$WORK/daemon.log")"
    build_data
    try_start_daemon || die "the daemon did not start: $(tail -5 "$WORK/daemon.log")"
}

# Records the daemon's profile while "$@" runs, into $PROFILE/<name>.perf.data.
with_profile() {
    local name=$1
    shift
    if [[ -z $PROFILE ]]; then
        "$@"
        return
    fi
    mkdir -p "$PROFILE"
    perf record -g -p "$DAEMON_PID" -o "$PROFILE/$name.perf.data" 2>"$PROFILE/$name.perf.log" &
    local perf_pid=$!
    STARTED_PIDS+=("$perf_pid")
    local rc=0
    "$@" || rc=$?
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    log "daemon profile: perf report -i $PROFILE/$name.perf.data"
    return $rc
}

# Reads the snapshot into the page cache, so that a run does not start by
# waiting for the disk: the daemon maps the file, and pages it has not
# touched for a while may have been reclaimed (some hosts reclaim idle
# page cache proactively).
warm_snapshot() {
    local t0=$SECONDS
    cat "$SNAP" >/dev/null
    log "snapshot read into the page cache ($((SECONDS - t0)) s)"
}

major_faults() { awk '$1 == "pgmajfault" { print $2 }' /proc/vmstat; }
# Busy and total clock ticks of all CPUs.
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# Clock ticks used by process $1.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Runs "$@" (the rest) and reports what the machine did meanwhile: CPU
# busy in all, CPU of the server process $1, and major page faults (disk
# reads of mapped pages). Busy CPU beyond the server's and the client's
# (its report prints its own) is other work competing for the cores.
observe() {
    local pid=$1 rc=0 faults busy0 total0 busy1 total1 own0 own1 cores
    shift
    # Earlier steps leave gigabytes of dirty pages (a built snapshot, the
    # audit register of a batch run); their writeback would otherwise run
    # on the same cores during this run.
    sync
    faults=$(major_faults)
    read -r busy0 total0 < <(cpu_ticks)
    own0=$(proc_ticks "$pid")
    "$@" || rc=$?
    read -r busy1 total1 < <(cpu_ticks)
    own1=$(proc_ticks "$pid")
    cores=$(nproc)
    awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v o=$((own1 - own0)) \
        -v n="$cores" -v f=$(($(major_faults) - faults)) 'BEGIN {
            if (t <= 0) t = 1
            printf "== during the run: CPU busy %.0f%% of %d cores in all, server process %.0f%%; major page faults %d\n",
                100 * n * b / t, n, 100 * n * o / t, f
        }' >&2
    return $rc
}

# The value of `key=` on the RESULT line of file $1.
result_field() {
    sed -n "s/^RESULT .*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" "$1" | tail -1
}

# `credlist bench batch` against the daemon, output in $WORK/$1.txt.
run_batch() {
    local out=$WORK/$1.txt
    shift
    warm_snapshot
    observe "$DAEMON_PID" with_profile "$(basename "$out" .txt)" bounded "$BIN" bench batch \
        --socket "$WORK/batch.sock" --snapshot "$SNAP" --as-of "$DATA_DATE" \
        --snapshot-seed "$SEED" --entries "$ENTRIES" --frame "$FRAME" \
        --hit-ratio "$HIT_RATIO" --connections "$CONNECTIONS" --in-flight "$IN_FLIGHT" \
        --duration "$DURATION" --warmup "$WARMUP" "$@" | tee "$out"
}
