#!/usr/bin/env bash
# credlist's batch socket and Redis SMISMEMBER side by side (SPEC §7: at
# least 5× Redis on the same codes over a Unix socket, in one run).
#
#   benches/compare_redis.sh                 # 10M entries, 10 s each side
#   ENTRIES=2000000 DURATION=5s benches/compare_redis.sh
#
# Steps: installs redis-server with apt when missing; builds credlist
# (release); generates the data set and builds its snapshot unless
# target/bench-data/<ENTRIES>-seed<SEED>/bench.snap exists (the criterion
# benches' cache); starts `credlist serve` and `redis-server` (persistence
# off) on Unix sockets in a temporary folder; loads the listed codes
# (`credlist bench codes`) into a Redis set; then sends the same frames
# (FRAME codes, HIT_RATIO listed, CONNECTIONS × IN_FLIGHT pipelined) to
# both with the same client (`credlist bench batch` and `credlist bench
# redis`). The last line is
#
#   COMPARE credlist_codes_per_s=… redis_codes_per_s=… ratio=…
#
# Settings: see benches/bench_env.sh (ENTRIES, DURATION, CONNECTIONS, …,
# PROFILE=dir to record the daemon's profile). Only the processes started
# here are stopped at exit. Exit 1 when either side had a failure.

# shellcheck source=benches/bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh"

REDIS_KEY=credlist:codes
REDIS_SOCK=$WORK/redis.sock

install_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    log "installing redis-server"
    [[ $(id -u) == 0 ]] || die "redis-server is missing; install it (apt-get install redis-server) or run as root"
    bounded apt-get update -qq
    DEBIAN_FRONTEND=noninteractive bounded apt-get install -y -qq redis-server >/dev/null
}

start_redis() {
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" \
        --daemonize no &
    REDIS_PID=$!
    STARTED_PIDS+=("$REDIS_PID")
    for _ in $(seq 1 300); do
        if [[ $(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null) == PONG ]]; then
            log "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') serving on $REDIS_SOCK"
            return 0
        fi
        sleep 0.1
    done
    die "redis-server did not answer within 30 s: $(tail -5 "$WORK/redis.log")"
}

# The listed codes as SADD commands of 1000 members, through redis-cli --pipe.
load_redis() {
    log "loading the listed codes into the Redis set $REDIS_KEY"
    bounded "$BIN" bench codes --snapshot-seed "$SEED" --entries "$ENTRIES" |
        awk -v key="$REDIS_KEY" -v per=1000 '
            function flush(  i) {
                printf "*%d\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n", n + 2, length(key), key
                for (i = 0; i < n; i++) printf "$%d\r\n%s\r\n", length(codes[i]), codes[i]
                n = 0
            }
            { codes[n++] = $0; if (n == per) flush() }
            END { if (n) flush() }' |
        bounded redis-cli -s "$REDIS_SOCK" --pipe >"$WORK/redis-load.txt"
    grep -q 'errors: 0' "$WORK/redis-load.txt" || die "loading Redis failed: $(cat "$WORK/redis-load.txt")"
    local want have
    # subjects_for(entries) = ceil(4 entries / 5) codes.
    want=$(((ENTRIES * 4 + 4) / 5))
    have=$(redis-cli -s "$REDIS_SOCK" scard "$REDIS_KEY")
    [[ $have == "$want" ]] || die "the Redis set holds $have codes, expected $want"
    log "Redis set $REDIS_KEY: $have codes, $(redis-cli -s "$REDIS_SOCK" info memory | sed -n 's/^used_memory_human:\(.*\)\r*$/\1/p' | tr -d '\r') used"
}

run_redis() {
    observe "$REDIS_PID" bounded "$BIN" bench redis --socket "$REDIS_SOCK" --key "$REDIS_KEY" \
        --snapshot-seed "$SEED" --entries "$ENTRIES" --frame "$FRAME" \
        --hit-ratio "$HIT_RATIO" --connections "$CONNECTIONS" --in-flight "$IN_FLIGHT" \
        --duration "$DURATION" --warmup "$WARMUP" | tee "$WORK/redis.txt"
}

install_redis
build_release
ensure_data
start_daemon
start_redis
load_redis

failed=0
log "credlist batch socket"
run_batch credlist || failed=1
log "Redis SMISMEMBER"
run_redis || failed=1

c=$(result_field "$WORK/credlist.txt" codes_per_s)
r=$(result_field "$WORK/redis.txt" codes_per_s)
[[ -n $c && -n $r ]] || die "a run printed no RESULT line"
ratio=$(awk -v c="$c" -v r="$r" 'BEGIN { if (r > 0) printf "%.2f", c / r; else print "inf" }')
echo "COMPARE credlist_codes_per_s=$c redis_codes_per_s=$r ratio=$ratio entries=$ENTRIES frame=$FRAME hit_ratio=$HIT_RATIO connections=$CONNECTIONS in_flight=$IN_FLIGHT duration=$DURATION"
if [[ $failed != 0 ]]; then
    die "a run had failures (see above)"
fi
