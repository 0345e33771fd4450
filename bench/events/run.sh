#!/usr/bin/env bash
# The events benchmark (bench/README.md): `weft up` with a broker, loaded over loopback
# by a separate process (bench/events/load.c), events delivered to a sink that answers
# 200 at once (bench/events/sink.c) and measures each event's latency from its send
# time. Durability is on: a broker answers 202 once the event is fsynced.
#
#   (a) ingest -> trigger -> URL sink
#   (b) ingest -> trigger -> wasm transform (tests/guests/ev_transform.c), whose reply
#       goes back into the broker -> second trigger (type bench.event.transformed) -> sink
#   (c) ingest alone (no trigger): single events, and batches
#   (d) a backlog behind a sink that is not there yet: weft's peak RSS, then the drain
#   (e) ingest -> trigger -> URL sink with the broker on Redis Streams (a redis-server of
#       the script's own on a Unix socket, appendonly with appendfsync always): (e0) the
#       embedded broker, (e1) one node on Redis, (e2) two nodes with the same weft.toml,
#       the load generator's connections split between them; beside redis-benchmark's
#       XADD on that same server
#
# (a), (b), (c) each run as fast as the answers come and then paced at half their
# target; each is printed beside nginx serving a static string, loaded by the same tool
# with the same connections in the same run, and (c) beside Redis appending to a stream
# (XADD) with appendfsync always. (e) runs as fast as answers come only.
#
# usage: bash bench/events/run.sh [options]
#   -d SECONDS       length of each measured run (default 10)
#   -w SECONDS       warm-up before each case's runs (default 2)
#   -c CONNECTIONS   the load generator's connections, kept alive (default 64)
#   -t THREADS       the load generator's threads (default 1)
#   --batch N        events per request in the batched runs (default 100)
#   --backlog N      events of the backlog in (d) (default 1000000)
#   --sink-threads N the sink's threads (default 1)
#   --cases LIST     some of a,b,c,d,e, comma-separated (default all)
# Environment: BUILD_DIR (default ./build); (e) loads weft-dist.so from there.
#
# It installs nothing: without nginx or Redis it says how to get them and exits 2. It
# builds weft, the sink and the load generator with CMake in BUILD_DIR, and the
# transform guest with clang --target=wasm32-wasi -O2. The figures, the raw output of
# every run and the servers' logs go to bench/out/events/ (git-ignored); each case's
# weft keeps its state in a temporary folder, deleted at the end with everything the
# script started, however it ends.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out/events
CACHE=$ROOT/bench/out/cache
WEFT=$BUILD/weft
SINK_BIN=$BUILD/bench/bench_events_sink
LOAD_BIN=$BUILD/bench/bench_events_load
DURATION=10
WARMUP=2
CONNECTIONS=64
THREADS=1
BATCH=100
BACKLOG=1000000
SINK_THREADS=1
CASES=a,b,c,d,e
# Targets (issue 11), events/s; the paced runs go at half of each.
TARGET_A=25000
TARGET_B=12000
TARGET_C=50000
TARGET_P99_MS=10
TARGET_RSS_MB=200

die() { echo "run.sh: $*" >&2; exit 2; }
posint() { [[ ${1:-} =~ ^[1-9][0-9]*$ ]]; }
while (($#)); do
    case $1 in
    -d) posint "${2:-}" || die "-d needs seconds"; DURATION=$2; shift 2 ;;
    -w) [[ ${2:-} =~ ^[0-9]+$ ]] || die "-w needs seconds"; WARMUP=$2; shift 2 ;;
    -c) posint "${2:-}" || die "-c needs a positive number"; CONNECTIONS=$2; shift 2 ;;
    -t) posint "${2:-}" || die "-t needs a positive number"; THREADS=$2; shift 2 ;;
    --batch) posint "${2:-}" || die "--batch needs a positive number"; BATCH=$2; shift 2 ;;
    --backlog) posint "${2:-}" || die "--backlog needs a positive number"; BACKLOG=$2; shift 2 ;;
    --sink-threads) posint "${2:-}" || die "--sink-threads needs a positive number"
        SINK_THREADS=$2; shift 2 ;;
    --cases) [[ ${2:-} =~ ^[abcde](,[abcde])*$ ]] || die "--cases is a list of a,b,c,d,e"
        CASES=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
((THREADS <= CONNECTIONS)) || die "-t $THREADS is more than -c $CONNECTIONS"
want() { [[ ,$CASES, == *,$1,* ]]; }

# ---- What it needs, installed by nobody but the user ---------------------------------
missing=()
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx # not on a user's PATH
[[ -n $NGINX ]] || missing+=(nginx-light)
for tool in redis-server redis-benchmark redis-cli clang curl cmake python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "run.sh: missing: ${missing[*]}. This script installs nothing; on Debian:" >&2
    echo "  apt-get install nginx-light redis-server redis-tools" >&2
    echo "  WEFT_BENCH=1 bash scripts/install-deps.sh  # or everything weft's builds, tests and benchmarks need" >&2
    exit 2
fi

# ---- Everything started is stopped, whatever happens ---------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-events.XXXXXX")
WEFT_PID="" WEFT2_PID="" NGINX_PID="" REDIS_PID="" SINK_PID="" SINK2_PID=""
stop_pid() { # PID SIGNAL: signal, wait up to 10 s, then SIGKILL
    local pid=$1 sig=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$WEFT_PID" TERM
    stop_pid "$WEFT2_PID" TERM
    stop_pid "$NGINX_PID" QUIT # nginx's graceful stop (its workers exit with the master)
    stop_pid "$REDIS_PID" TERM
    stop_pid "$SINK_PID" TERM
    stop_pid "$SINK2_PID" TERM
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$CACHE"
rm -f "$OUT"/*.load "$OUT"/*.err "$OUT"/*.log "$OUT"/*.sink "$OUT"/*.csv "$OUT"/table.txt

# ---- Build ---------------------------------------------------------------------------
echo "== building weft, the sink and the load generator ($BUILD), and the transform guest"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -B "$BUILD" -S "$ROOT" >"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target weft weft-net weft-dist bench_events_sink bench_events_load \
    >"$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
clang --target=wasm32-wasi -O2 -Wall -Wextra -Werror "$ROOT/tests/guests/ev_transform.c" \
    -o "$OUT/ev_transform.wasm"


# ---- The sink ------------------------------------------------------------------------
# start_sink VAR PIDVAR [--listen ADDR]: a sink; its port in VAR, its pid in PIDVAR.
start_sink() {
    local var=$1 pidvar=$2 port_file
    shift 2
    port_file=$TMP/$var.port
    rm -f "$port_file"
    "$SINK_BIN" -t "$SINK_THREADS" --port-file "$port_file" "$@" >>"$OUT/sink.log" 2>&1 &
    printf -v "$pidvar" '%s' $!
    for _ in $(seq 1 100); do [[ -s $port_file ]] && break; sleep 0.05; done
    [[ -s $port_file ]] || die "the sink did not start (see $OUT/sink.log)"
    printf -v "$var" '%s' "$(cat "$port_file")"
}
sink_stats() { curl -sS --max-time 5 "http://127.0.0.1:$1/stats"; }
sink_reset() { curl -sS --max-time 5 -X POST -o /dev/null "http://127.0.0.1:$1/reset"; }
# field NAME LINE: the value after NAME in a "name value name value" line.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }
# sink_wait PORT N [STALL]: waits until the sink has N distinct events, or none came for
# STALL seconds (default 10); prints its stats line.
sink_wait() {
    local port=$1 n=$2 stall=${3:-10} line got last=-1 still=0
    while :; do
        line=$(sink_stats "$port")
        got=$(($(field events "$line") - $(field again "$line")))
        ((got >= n)) && break
        if ((got == last)); then
            still=$((still + 1))
            ((still >= stall * 5)) && break
        else
            still=0 last=$got
        fi
        sleep 0.2
    done
    echo "$line"
}
start_sink SINK_PORT SINK_PID
SINK_URL=http://127.0.0.1:$SINK_PORT/

# ---- nginx: a static string, the ceiling of an HTTP hop ------------------------------
source "$HERE/../nginx.bash"
nginx_start

# ---- Redis ---------------------------------------------------------------------------
# redis_start NAME ARGS...: a redis-server of the script's own, its files in $TMP/NAME and
# its log in $OUT/NAME.log, appendonly with appendfsync always, listening as ARGS say;
# the caller sets REDIS_CLI to how redis-cli and redis-benchmark reach it (-p PORT, or
# -s SOCKET). Sets REDIS_PID.
redis_start() {
    local name=$1
    shift
    mkdir -p "$TMP/$name"
    redis-server "$@" --dir "$TMP/$name" --appendonly yes --appendfsync always --save '' \
        --daemonize no --logfile "$OUT/$name.log" &
    REDIS_PID=$!
    for _ in $(seq 1 100); do redis-cli "${REDIS_CLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
    [[ $(redis-cli "${REDIS_CLI[@]}" config get appendfsync | tail -1) == always ]] ||
        die "Redis did not start with appendfsync always (see $OUT/$name.log)"
}
redis_stop() {
    stop_pid "$REDIS_PID" TERM
    REDIS_PID=
}
# The value XADDed by redis-benchmark: about as long as one of weft's events as stored.
# (x's: the value is a field of redis-benchmark's CSV output, where commas and quotes
# would not do.)
REDIS_VALUE=$(printf '{"specversion":"1.0","id":"%s","source":"bench","type":"bench.event","benchsent":"%d","datacontenttype":"application/json","data":{"seq":%d,"benchsent":%d}}' \
    "12345-1796000000000-123456" "$(date +%s%N)" 123456 "$(date +%s%N)" | tr -c '\n' x)
# redis_run NAME PIPELINE: redis-benchmark XADD on the server of REDIS_CLI, $CONNECTIONS
# connections, about $DURATION seconds (it runs a number of requests, not a time: a short
# run sizes it); sets REDIS_RPS, REDIS_P50, REDIS_P99.
redis_run() {
    local n=20000 rps
    redis-benchmark "${REDIS_CLI[@]}" -c "$CONNECTIONS" -n "$n" -P "$2" --csv \
        XADD bench '*' data "$REDIS_VALUE" >"$OUT/$1.csv" 2>&1
    rps=$(awk -F'"' 'NR == 2 { print $4 }' "$OUT/$1.csv")
    n=$(awk -v r="${rps:-0}" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
    ((n >= 1000)) || n=1000
    redis-benchmark "${REDIS_CLI[@]}" -c "$CONNECTIONS" -n "$n" -P "$2" --csv \
        XADD bench '*' data "$REDIS_VALUE" >"$OUT/$1.csv" 2>&1
    IFS=, read -r _ REDIS_RPS _ _ REDIS_P50 _ REDIS_P99 _ < <(sed -n 2p "$OUT/$1.csv" | tr -d '"')
    [[ -n $REDIS_RPS ]] || { cat "$OUT/$1.csv"; die "redis-benchmark printed no figures"; }
    REDIS_RPS=$(fmt0 "$REDIS_RPS")
}

# ---- weft ----------------------------------------------------------------------------
# start_weft NAME: weft up on $TMP/NAME/weft.toml (written by the caller), its state in
# $TMP/NAME/.weft; sets WEFT_PID and WEFT_URL.
start_weft() {
    local dir=$TMP/$1
    (cd "$dir" && exec "$WEFT" up --listen 127.0.0.1:0 --cache-dir "$CACHE" -q \
        >"$dir/out" 2>"$OUT/weft.$1.log") &
    WEFT_PID=$!
    WEFT_URL=
    for _ in $(seq 1 1200); do # the first run compiles the transform: give it time
        WEFT_URL=$(sed -n 's/^Ready: serving on //p' "$dir/out")
        [[ -n $WEFT_URL ]] && return 0
        kill -0 "$WEFT_PID" 2>/dev/null || { cat "$OUT/weft.$1.log" >&2; die "weft up exited before it was ready"; }
        sleep 0.1
    done
    die "weft up did not print its Ready line in 120 s"
}
stop_weft() {
    stop_pid "$WEFT_PID" TERM
    WEFT_PID=
}
TICK=$(getconf CLK_TCK)
cpu_ticks() { # user + system ticks of a process and its threads
    local f
    f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    f=${f##*) }
    read -r -a a <<<"$f"
    echo $((a[11] + a[12]))
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

failures=0
weft_log_check() { # NAME: weft's log must hold nothing but its two lines at start (the
    # address, and that without a token its endpoints answer loopback clients only): -q
    # logs nothing else unless something went wrong (checked before weft is stopped, which
    # it logs)
    local other
    other=$(grep -v -e '^weft: listening on ' -e '^weft: no token set: ' "$OUT/weft.$1.log" || true)
    if [[ -n $other ]]; then
        echo "   weft LOGGED (see ${OUT#"$ROOT"/}/weft.$1.log):"
        head -5 <<<"$other" | sed 's/^/     /'
        failures=$((failures + 1))
    fi
}

# load NAME URL ARGS...: one run of the load generator; its line in $OUT/NAME.load,
# its complaints in $OUT/NAME.err; sets LINE. Errors fail the script.
load() {
    local name=$1 url=$2
    shift 2
    "$LOAD_BIN" -c "$CONNECTIONS" -t "$THREADS" "$@" "$url" >"$OUT/$name.load" 2>"$OUT/$name.err" ||
        { cat "$OUT/$name.err"; die "the load generator failed"; }
    LINE=$(cat "$OUT/$name.load")
    if [[ $(field errors "$LINE") != 0 || -s $OUT/$name.err ]]; then
        echo "   $name: $(field errors "$LINE") ERRORS: $(head -3 "$OUT/$name.err" | tr '\n' ' ')"
        failures=$((failures + 1))
    fi
}

SUMMARY=()
# row LABEL EVENTS/S P50 P99 REFERENCE TARGET: a line of the table at the end.
row() { SUMMARY+=("$(printf '%-50s %10s %9s %9s   %-26s %s' "$@")"); }
fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

# nginx_ref NAME: nginx with the same tool and connections; sets NGINX_RPS.
nginx_ref() {
    load "nginx.$1" "$NGINX_URL" --get -d "$DURATION"
    NGINX_RPS=$(fmt0 "$(field req_per_s "$LINE")")
    printf '   %-34s %8s req/s   p50 %7.3f ms  p99 %7.3f ms\n' "nginx, static string (reference)" \
        "$NGINX_RPS" "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")"
}

# deliver_max CASE [PID...]: the warm-up and the run as fast as answers come of a case
# delivered to the sink, the load on the URLs in URLS (the connections split between
# them), weft's CPU the sum of the PIDs' (default WEFT_PID); waits for the sink to get
# every event answered 202 (counting duplicates) and prints the figures. Sets RATE (events/s
# delivered), OK and WARM_OK (events answered 202 in the run, in the warm-up) and
# SINK_LINE (the sink's stats). With ALSO_PID
# set (Redis), that process's CPU per event is printed too.
deliver_max() {
    local c=$1 t0 r0=0 line us also="" pids=("${@:2}")
    ((${#pids[@]})) || pids=("$WEFT_PID")
    sink_reset "$SINK_PORT"
    load "$c.warmup" "${URLS[0]}" -d "$WARMUP" "${URLS[@]:1}"
    OK=$(field ok_events "$LINE") WARM_OK=$OK
    line=$(sink_wait "$SINK_PORT" "$OK")
    (($(field events "$line") - $(field again "$line") >= OK)) ||
        { echo "   MISSING EVENTS at the sink after the warm-up"; failures=$((failures + 1)); }
    sink_reset "$SINK_PORT"
    t0=$(ticks_sum "${pids[@]}")
    [[ -n ${ALSO_PID:-} ]] && r0=$(cpu_ticks "$ALSO_PID")
    load "$c.max" "${URLS[0]}" -d "$DURATION" "${URLS[@]:1}"
    OK=$(field ok_events "$LINE")
    SINK_LINE=$(sink_wait "$SINK_PORT" "$OK")
    echo "$SINK_LINE" >"$OUT/$c.max.sink"
    us=$(awk -v t=$(($(ticks_sum "${pids[@]}") - t0)) -v k="$TICK" -v n="$OK" \
        'BEGIN { printf "%.1f", n ? t / k / n * 1e6 : 0 }')
    [[ -n ${ALSO_PID:-} ]] && also=$(awk -v t=$(($(cpu_ticks "$ALSO_PID") - r0)) -v k="$TICK" -v n="$OK" \
        'BEGIN { printf "; Redis CPU %.1f us/event", n ? t / k / n * 1e6 : 0 }')
    RATE=$(fmt0 "$(field rate "$SINK_LINE")")
    printf '   %-34s %8s ev/s   202: p50 %7.3f ms  p99 %7.3f ms\n' "ingest, as fast as answered" \
        "$(fmt0 "$(field events_per_s "$LINE")")" "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")"
    printf '   %-34s %8s ev/s   end to end: p50 %7.3f ms  p99 %7.3f ms  (%s of %s delivered, %s more than once; weft CPU %s us/event%s)\n' \
        "delivered to the sink" "$RATE" "$(field p50_ms "$SINK_LINE")" "$(field p99_ms "$SINK_LINE")" \
        "$(field events "$SINK_LINE")" "$OK" "$(field again "$SINK_LINE")" "$us" "$also"
    (($(field events "$SINK_LINE") - $(field again "$SINK_LINE") >= OK)) ||
        { echo "   MISSING EVENTS at the sink"; failures=$((failures + 1)); }
}
ticks_sum() { # PID...: cpu_ticks summed
    local p total=0
    for p in "$@"; do total=$((total + $(cpu_ticks "$p"))); done
    echo "$total"
}

# delivered_run CASE LABEL TARGET: (a) or (b) on the weft started: warm-up, a run as fast
# as answers come, a run paced at half the target; each waits for the sink to get every
# event that was answered 202.
delivered_run() {
    local c=$1 label=$2 target=$3 ok line half
    nginx_ref "$c"
    URLS=("$WEFT_URL/brokers/bench")
    deliver_max "$c"
    ok=$OK line=$SINK_LINE
    row "$label, max rate" "$RATE" "$(field p50_ms "$line")" "$(field p99_ms "$line")" \
        "nginx $NGINX_RPS req/s" "$target/s"

    half=$((target / 2))
    sink_wait "$SINK_PORT" "$ok" >/dev/null
    sink_reset "$SINK_PORT"
    load "$c.paced" "$WEFT_URL/brokers/bench" -d "$DURATION" -R "$half"
    ok=$(field ok_events "$LINE")
    line=$(sink_wait "$SINK_PORT" "$ok")
    echo "$line" >"$OUT/$c.paced.sink"
    printf '   %-34s %8s ev/s   202: p50 %7.3f ms  p99 %7.3f ms  (%s requests behind at the end)\n' \
        "ingest paced at $half/s" "$(fmt0 "$(field events_per_s "$LINE")")" "$(field p50_ms "$LINE")" \
        "$(field p99_ms "$LINE")" "$(field behind "$LINE")"
    printf '   %-34s %8s ev/s   end to end: p50 %7.3f ms  p99 %7.3f ms  (%s of %s delivered, %s more than once)\n' \
        "delivered to the sink" "$(fmt0 "$(field rate "$line")")" "$(field p50_ms "$line")" \
        "$(field p99_ms "$line")" "$(field events "$line")" "$ok" "$(field again "$line")"
    (($(field events "$line") - $(field again "$line") >= ok)) || { echo "   MISSING EVENTS at the sink"; failures=$((failures + 1)); }
    row "$label, paced at $half/s" "$(fmt0 "$(field rate "$line")")" "$(field p50_ms "$line")" \
        "$(field p99_ms "$line")" "" "p99 < $TARGET_P99_MS ms"
}

echo
echo "== machine: $CORES cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'); the load generator, the sink and weft share them"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "unknown revision")
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the runs: $LOAD_BEFORE"
echo "   $("$WEFT" --version | head -1) ($rev), $("$NGINX" -v 2>&1 | sed 's/.*version: //'), $(redis-server --version | cut -d' ' -f1-3)"
echo "   runs of ${DURATION}s after ${WARMUP}s of warm-up; $CONNECTIONS connections, $THREADS load thread(s), $SINK_THREADS sink thread(s)"

# ---- (a) ingest -> trigger -> URL sink -----------------------------------------------
if want a; then
    echo
    echo "== (a) ingest -> trigger -> URL sink (target $TARGET_A events/s; p99 < $TARGET_P99_MS ms at $((TARGET_A / 2))/s)"
    mkdir -p "$TMP/a"
    cat >"$TMP/a/weft.toml" <<T
[[broker]]
name = "bench"

[[target]]
name = "sink"
url = "$SINK_URL"

[[trigger]]
name = "to-sink"
broker = "bench"
target = "sink"
T
    start_weft a
    delivered_run a "(a) ingest -> URL sink" "$TARGET_A"
    weft_log_check a
    stop_weft
fi

# ---- (b) ingest -> transform -> reply -> sink ----------------------------------------
if want b; then
    echo
    echo "== (b) ingest -> trigger -> wasm transform, its reply -> trigger -> URL sink (target $TARGET_B events/s; p99 < $TARGET_P99_MS ms at $((TARGET_B / 2))/s)"
    mkdir -p "$TMP/b"
    cat >"$TMP/b/weft.toml" <<T
[[broker]]
name = "bench"

[[function]]
name = "transform"
source = "$OUT/ev_transform.wasm"

[[target]]
name = "sink"
url = "$SINK_URL"

[[trigger]]
name = "to-transform"
broker = "bench"
target = "transform"
filters = [{ exact = { type = "bench.event" } }]

[[trigger]]
name = "to-sink"
broker = "bench"
target = "sink"
filters = [{ exact = { type = "bench.event.transformed" } }]
T
    start_weft b
    delivered_run b "(b) ingest -> transform -> sink" "$TARGET_B"
    weft_log_check b
    stop_weft
fi

# ---- (c) ingest alone ----------------------------------------------------------------
if want c; then
    echo
    echo "== (c) ingest alone, no trigger (target $TARGET_C events/s single, more in batches)"
    nginx_ref c

    # Redis: XADD to a stream, appendfsync always, from redis-benchmark with the same
    # connections.
    REDIS_PORT=$(free_port)
    REDIS_CLI=(-p "$REDIS_PORT")
    redis_start redis --port "$REDIS_PORT" --bind 127.0.0.1
    redis_run redis.single 1
    redis_single=$REDIS_RPS
    printf '   %-34s %8s ev/s   p50 %7.3f ms  p99 %7.3f ms\n' "Redis XADD, appendfsync always" \
        "$REDIS_RPS" "$REDIS_P50" "$REDIS_P99"
    redis_run redis.pipelined "$BATCH"
    redis_batch=$REDIS_RPS
    printf '   %-34s %8s ev/s   p50 %7.3f ms  p99 %7.3f ms  (per command)\n' \
        "Redis XADD, pipelined by $BATCH" "$REDIS_RPS" "$REDIS_P50" "$REDIS_P99"
    redis_stop

    mkdir -p "$TMP/c"
    printf '[[broker]]\nname = "bench"\n' >"$TMP/c/weft.toml"
    start_weft c
    load c.warmup "$WEFT_URL/brokers/bench" -d "$WARMUP"
    t0=$(cpu_ticks "$WEFT_PID")
    load c.single "$WEFT_URL/brokers/bench" -d "$DURATION"
    us=$(awk -v t=$(($(cpu_ticks "$WEFT_PID") - t0)) -v k="$TICK" -v n="$(field ok_events "$LINE")" \
        'BEGIN { printf "%.1f", n ? t / k / n * 1e6 : 0 }')
    printf '   %-34s %8s ev/s   202: p50 %7.3f ms  p99 %7.3f ms  (weft CPU %s us/event)\n' \
        "single events, as fast as answered" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "$us"
    row "(c) ingest, single events, max rate" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "Redis XADD $redis_single/s" "$TARGET_C/s"
    load c.paced "$WEFT_URL/brokers/bench" -d "$DURATION" -R $((TARGET_C / 2))
    printf '   %-34s %8s ev/s   202: p50 %7.3f ms  p99 %7.3f ms  (%s requests behind at the end)\n' \
        "single events paced at $((TARGET_C / 2))/s" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "$(field behind "$LINE")"
    row "(c) ingest, single events, paced $((TARGET_C / 2))/s" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "" "p99 < $TARGET_P99_MS ms"
    t0=$(cpu_ticks "$WEFT_PID")
    load c.batch "$WEFT_URL/brokers/bench" -d "$DURATION" --batch "$BATCH"
    us=$(awk -v t=$(($(cpu_ticks "$WEFT_PID") - t0)) -v k="$TICK" -v n="$(field ok_events "$LINE")" \
        'BEGIN { printf "%.1f", n ? t / k / n * 1e6 : 0 }')
    printf '   %-34s %8s ev/s   202: p50 %7.3f ms  p99 %7.3f ms  (%s requests/s; weft CPU %s us/event)\n' \
        "batches of $BATCH, as fast as answered" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "$(fmt0 "$(field req_per_s "$LINE")")" "$us"
    row "(c) ingest, batches of $BATCH, max rate" "$(fmt0 "$(field events_per_s "$LINE")")" \
        "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "Redis -P $BATCH $redis_batch/s" "> $TARGET_C/s"
    row "(c) reference: nginx, static string" "$NGINX_RPS" "" "" "req/s" ""
    weft_log_check c
    stop_weft
fi

# ---- (d) a backlog, then the drain ---------------------------------------------------
if want d; then
    echo
    echo "== (d) $BACKLOG events behind a sink that is not there, then the drain (target: weft under $TARGET_RSS_MB MB)"
    DPORT=$(free_port)
    mkdir -p "$TMP/d"
    # Nothing listens on DPORT until the drain: every attempt fails at once and is retried,
    # linearly, long enough not to give up (50 ms x n before retry n: over 4 minutes).
    cat >"$TMP/d/weft.toml" <<T
[[broker]]
name = "bench"

[[target]]
name = "sink"
url = "http://127.0.0.1:$DPORT/"

[[trigger]]
name = "to-sink"
broker = "bench"
target = "sink"
delivery = { retry = 100, backoff_policy = "linear", backoff_delay = "50ms", timeout = "10s" }
T
    start_weft d
    echo "   weft at start: RSS $(($(rss_kb "$WEFT_PID" VmRSS) / 1024)) MB"
    t0=$EPOCHREALTIME
    load d.ingest "$WEFT_URL/brokers/bench" -n "$BACKLOG" --batch "$BATCH"
    t1=$EPOCHREALTIME
    backlog_ok=$(field ok_events "$LINE")
    printf '   %-34s %8s ev/s   (%s events in %.1f s, batches of %s)\n' "ingest of the backlog" \
        "$(fmt0 "$(field events_per_s "$LINE")")" "$backlog_ok" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$BATCH"
    sleep 2
    peak_ingest=$(($(rss_kb "$WEFT_PID" VmHWM) / 1024))
    echo "   weft after the ingest: RSS $(($(rss_kb "$WEFT_PID" VmRSS) / 1024)) MB, peak $peak_ingest MB;" \
        "state folder $(du -sm "$TMP/d/.weft" | cut -f1) MB"
    t0=$EPOCHREALTIME
    start_sink DPORT_GOT SINK2_PID --listen "127.0.0.1:$DPORT"
    line=$(sink_wait "$DPORT" "$backlog_ok" 30)
    t1=$EPOCHREALTIME
    echo "$line" >"$OUT/d.drain.sink"
    got=$(field events "$line")
    first=$(field first_ns "$line") last=$(field last_ns "$line")
    drain=$(awk -v n="$got" -v a="$first" -v b="$last" 'BEGIN { printf "%.0f", (b > a ? (n - 1) / ((b - a) / 1e9) : 0) }')
    peak=$(($(rss_kb "$WEFT_PID" VmHWM) / 1024))
    printf '   %-34s %8s ev/s   (%s of %s delivered, %s more than once; the first %.1f s after the sink started, the last %.1f s after)\n' \
        "drain" "$drain" "$got" "$backlog_ok" "$(field again "$line")" \
        "$(awk -v a="$t0" -v f="$first" 'BEGIN { printf "%.1f", f / 1e9 - a }')" \
        "$(awk -v a="$t0" -v l="$last" 'BEGIN { printf "%.1f", l / 1e9 - a }')"
    echo "   weft after the drain: RSS $(($(rss_kb "$WEFT_PID" VmRSS) / 1024)) MB, peak $peak MB (target < $TARGET_RSS_MB MB)"
    (($(field events "$line") - $(field again "$line") >= backlog_ok)) || { echo "   MISSING EVENTS at the sink"; failures=$((failures + 1)); }
    row "(d) backlog of $BACKLOG: peak RSS of weft" "$peak MB" "" "" "" "< $TARGET_RSS_MB MB"
    row "(d) drain of the backlog" "$drain" "" "" "" ""
    # Attempts that failed before the sink came are not logged; anything else is.
    weft_log_check d
    stop_weft
    stop_pid "$SINK2_PID" TERM
    SINK2_PID=
fi

# ---- (e) the broker on Redis Streams: one node, two nodes -----------------------------
if want e; then
    echo
    echo "== (e) ingest -> trigger -> URL sink, the broker on Redis Streams (targets: one node at >= 0.5x the embedded broker's rate, two nodes at >= 0.9x one node's)"
    [[ -e $BUILD/weft-dist.so ]] || die "no $BUILD/weft-dist.so"
    export WEFT_PLUGIN_DIR=$BUILD # weft-dist.so holds the broker on Redis
    SOCK=$TMP/redis-e/redis.sock
    REDIS_CLI=(-s "$SOCK")
    # No automatic AOF rewrite: it forks and writes the whole dataset at a moment chance
    # decides, in whichever run reaches the size first.
    redis_start redis-e --port 0 --unixsocket "$SOCK" --unixsocketperm 700 \
        --auto-aof-rewrite-percentage 0
    redis_run redis-e.single 1
    redis_e=$REDIS_RPS
    printf '   %-34s %8s ev/s   p50 %7.3f ms  p99 %7.3f ms\n' "Redis XADD, Unix socket, always" \
        "$REDIS_RPS" "$REDIS_P50" "$REDIS_P99"
    # e_toml NAME [BACKEND]: the weft.toml of a run of (e), in $TMP/NAME.
    e_toml() {
        mkdir -p "$TMP/$1"
        {
            printf '[[broker]]\nname = "bench"\n'
            [[ -z ${2:-} ]] || printf 'backend = "%s"\n' "$2"
            printf '\n[[target]]\nname = "sink"\nurl = "%s"\n' "$SINK_URL"
            printf '\n[[trigger]]\nname = "to-sink"\nbroker = "bench"\ntarget = "sink"\n'
            printf 'delivery = { parallelism = 64 }\n'
        } >"$TMP/$1/weft.toml"
    }
    # delivered_by URL: the node's count of events its trigger delivered.
    delivered_by() {
        curl -sS --max-time 5 "$1/_weft/describe" | python3 -c '
import json, sys
print(next(t["delivered"] for t in json.load(sys.stdin)["triggers"] if t["name"] == "to-sink"))'
    }
    # commands: Redis's count of calls of each command so far, "name calls" lines.
    commands() {
        redis-cli -s "$SOCK" info commandstats | tr -d '\r' |
            sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' | sort
    }
    # per_event BEFORE N: the commands Redis ran per event since BEFORE (commands' output),
    # over N events, the busiest first.
    per_event() {
        join -a 2 -e 0 -o 0,1.2,2.2 <(echo "$1") <(commands) |
            awk -v n="$2" '$3 > $2 && $1 != "info" { printf "%s %.2f\n", $1, ($3 - $2) / n }' |
            sort -k2 -g -r | head -8 | tr '\n' ' '
    }
    # pending PREFIX: the events the trigger's group holds undelivered.
    pending() { redis-cli -s "$SOCK" XPENDING "$1:ev:5:bench:s" to-sink | head -1; }
    # verdict A B MIN: "A/B, met" when A >= MIN x B (the ratio shown to 3 places, so that
    # a miss by a hair does not print as the target).
    verdict() {
        awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { r = b ? a / b : 0
            printf "%.3f, %s", r, (r >= m ? "met" : "NOT met") }'
    }

    echo "   (e0) the embedded broker (SQLite journal), one node"
    e_toml e0
    start_weft e0
    URLS=("$WEFT_URL/brokers/bench")
    deliver_max e0
    e0=$RATE
    row "(e0) embedded broker -> URL sink, max rate" "$RATE" "$(field p50_ms "$SINK_LINE")" \
        "$(field p99_ms "$SINK_LINE")" "Redis XADD $redis_e/s" ""
    weft_log_check e0
    stop_weft

    echo "   (e1) the broker on Redis, one node"
    e_toml e1 "redis+unix://$SOCK?prefix=e1"
    start_weft e1
    URLS=("$WEFT_URL/brokers/bench")
    before=$(commands)
    ALSO_PID=$REDIS_PID deliver_max e1
    e1=$RATE
    echo "   Redis calls per event (warm-up and run): $(per_event "$before" $((WARM_OK + OK)))"
    echo "   left pending in Redis: $(pending e1)"
    row "(e1) Redis broker, one node, max rate" "$RATE" "$(field p50_ms "$SINK_LINE")" \
        "$(field p99_ms "$SINK_LINE")" "" ">= 0.50x (e0): $(verdict "$e1" "$e0" 0.5)"
    weft_log_check e1
    stop_weft

    echo "   (e2) the broker on Redis, two nodes with the same weft.toml, the connections split between them"
    e_toml e2-1 "redis+unix://$SOCK?prefix=e2"
    mkdir -p "$TMP/e2-2"
    cp "$TMP/e2-1/weft.toml" "$TMP/e2-2/weft.toml"
    start_weft e2-1
    WEFT2_PID=$WEFT_PID url1=$WEFT_URL
    start_weft e2-2
    url2=$WEFT_URL
    URLS=("$url1/brokers/bench" "$url2/brokers/bench")
    d1=$(delivered_by "$url1") d2=$(delivered_by "$url2")
    before=$(commands)
    ALSO_PID=$REDIS_PID deliver_max e2 "$WEFT2_PID" "$WEFT_PID"
    e2=$RATE
    echo "   Redis calls per event (warm-up and run): $(per_event "$before" $((WARM_OK + OK)))"
    echo "   delivered by node 1: $(($(delivered_by "$url1") - d1)), by node 2: $(($(delivered_by "$url2") - d2)) (warm-up and run); left pending in Redis: $(pending e2)"
    row "(e2) Redis broker, two nodes, max rate" "$RATE" "$(field p50_ms "$SINK_LINE")" \
        "$(field p99_ms "$SINK_LINE")" "" ">= 0.90x (e1): $(verdict "$e2" "$e1" 0.9)"
    weft_log_check e2-1
    weft_log_check e2-2
    stop_weft
    stop_pid "$WEFT2_PID" TERM
    WEFT2_PID=
    redis_stop
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo
    echo "events/s: delivered to the sink for (a), (b) and (e), answered 202 for (c); latency: end to end"
    echo "(send -> sink) for (a), (b) and (e), of the 202 for (c); $CONNECTIONS connections, runs of ${DURATION}s"
    printf '%-50s %10s %9s %9s   %-26s %s\n' case events/s "p50 ms" "p99 ms" "reference, same run" target
    printf '%s\n' "${SUMMARY[@]}"
    echo "load average before $LOAD_BEFORE, after $LOAD_AFTER (the benchmark's own processes count in the latter)"
} | tee "$OUT/table.txt"

if ((failures)); then
    echo
    echo "run.sh: $failures check(s) failed (see above)" >&2
    exit 1
fi
