#!/usr/bin/env bash
# The services benchmark (bench/README.md, "Services"): one `weft up` serving three
# routes, each a fresh instance per request, measured with wrk in the same run:
#   /hello    bench/http/hello.c: the plain hello route, the reference
#   /kv-get   bench/services/kv_get.c: opens the store "default" and reads a key
#   /kv-set   bench/services/kv_set.c: sets a key (durable when it answers)
# and a second `weft up` serving /kv-get and /kv-set with the store on Redis ([store]
# key_value = "redis+unix://..."; a redis-server of the script's own on a Unix socket,
# appendonly with appendfsync always), shown as redis:/kv-get and redis:/kv-set.
# Target (issue 13): the KV-reading route at 80% or more of the hello route's
# requests/s. Then the cached-inference example (examples/cached-inference): the same
# image POSTed to /infer, uncached (its cached answer deleted through the HTTP API
# before each request, not timed) and cached, p50 and p99 over N requests each on one
# keep-alive connection, beside /hello measured the same way. Target: a cached answer
# under 2 ms p50.
#
# usage: bash bench/services/run.sh [options]
#   -t THREADS -c CONNECTIONS -d DURATION -w WARMUP -r ROUNDS   as bench/http/run.sh
#   -n REQUESTS      requests of each latency series (default 300)
#   --no-inference   skip the cached-inference part
#   --no-redis       skip the key-value routes on Redis
# Environment: BUILD_DIR (default ./build); weft-dist.so is loaded from there.
#
# It installs nothing: without wrk (or redis-server) it says how to get it and exits 2. Guests, the
# artifact cache, raw outputs and weft's log go to bench/out/services/ (git-ignored).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out/services
CACHE=$OUT/cache
WEFT=$BUILD/weft
THREADS=2
CONNECTIONS=64
DURATION=10s
WARMUP=3s
ROUNDS=3
REQUESTS=300
INFERENCE=1
REDIS=1

die() { echo "run.sh: $*" >&2; exit 2; }
is_duration() { [[ $1 =~ ^[1-9][0-9]*[smh]?$ ]]; }
while (($#)); do
    case $1 in
    -t) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-t needs a positive number"; THREADS=$2; shift 2 ;;
    -c) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-c needs a positive number"; CONNECTIONS=$2; shift 2 ;;
    -d) is_duration "${2:-}" || die "-d needs a duration (10, 10s, 1m)"; DURATION=$2; shift 2 ;;
    -w) is_duration "${2:-}" || die "-w needs a duration (3, 3s)"; WARMUP=$2; shift 2 ;;
    -r) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-r needs a positive number"; ROUNDS=$2; shift 2 ;;
    -n) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"; REQUESTS=$2; shift 2 ;;
    --no-inference) INFERENCE=0; shift ;;
    --no-redis) REDIS=0; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
missing=()
for tool in wrk clang curl cmake python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((REDIS)); then
    for tool in redis-server redis-cli; do command -v "$tool" >/dev/null || missing+=("$tool"); done
fi
if ((${#missing[@]})); then
    echo "run.sh: missing: ${missing[*]}. This script installs nothing; on Debian:" >&2
    echo "  apt-get install wrk redis-server redis-tools  # or --no-redis" >&2
    echo "  WEFT_BENCH=1 bash scripts/install-deps.sh  # everything weft's builds, tests and benchmarks need" >&2
    exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-services.XXXXXX")
WEFT_PID="" RWEFT_PID="" REDIS_PID=""
stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
stop_weft() {
    stop_pid "$WEFT_PID"
    WEFT_PID=
}
trap 'stop_weft; stop_pid "${save_pid:-}"; stop_pid "$RWEFT_PID"; stop_pid "$REDIS_PID"; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT" "$CACHE"
rm -f "$OUT"/*.wrk* "$OUT"/*.log "$OUT"/table.txt

echo "== building weft ($BUILD) and the guests"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -B "$BUILD" -S "$ROOT" >"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target weft weft-net weft-dist >"$OUT/cmake.log" 2>&1 ||
    { tail -40 "$OUT/cmake.log"; exit 1; }
cc_guest() { clang --target=wasm32-wasi -O2 -Wall -Wextra -Werror -I "$ROOT/sdk" "$@"; }
cc_guest "$ROOT/bench/http/hello.c" -o "$OUT/hello.wasm"
cc_guest "$HERE/kv_get.c" -o "$OUT/kv_get.wasm"
cc_guest "$HERE/kv_set.c" -o "$OUT/kv_set.wasm"

# start_weft DIR: weft up -c DIR/weft.toml on a free port; sets WEFT_PID and WEFT_URL.
start_weft() {
    "$WEFT" up -c "$1/weft.toml" --listen 127.0.0.1:0 --cache-dir "$CACHE" -q --no-reload \
        >"$1/weft.out" 2>>"$OUT/weft.log" &
    WEFT_PID=$!
    WEFT_URL=
    for _ in $(seq 1 1200); do
        WEFT_URL=$(sed -n 's/^Ready: serving on //p' "$1/weft.out")
        [[ -n $WEFT_URL ]] && return 0
        kill -0 "$WEFT_PID" 2>/dev/null || { tail "$OUT/weft.log" >&2; die "weft up exited before it was ready"; }
        sleep 0.1
    done
    die "weft up did not print its Ready line in 120 s"
}

# ---- Key-value beside hello ------------------------------------------------------------
# functions_toml: the routes' [[function]] tables.
functions_toml() {
    cat <<TOML
[[function]]
name = "hello"
source = "$OUT/hello.wasm"
route = "/hello"
[[function]]
name = "kv-get"
source = "$OUT/kv_get.wasm"
route = "/kv-get"
key_value_stores = ["default"]
[[function]]
name = "kv-set"
source = "$OUT/kv_set.wasm"
route = "/kv-set"
key_value_stores = ["default"]
TOML
}
mkdir -p "$TMP/kv"
{ printf '[app]\nstate_dir = "%s"\n' "$TMP/kv/state"; functions_toml; } >"$TMP/kv/weft.toml"
start_weft "$TMP/kv"
echo "== weft up on $WEFT_URL; checking the routes"
declare -A URL PID
ROUTES=(hello kv-get kv-set)
for route in "${ROUTES[@]}"; do URL[$route]=$WEFT_URL/$route PID[$route]=$WEFT_PID; done

# ---- The same key-value routes with the store on Redis ------------------------------------
if ((REDIS)); then
    [[ -e $BUILD/weft-dist.so ]] || die "no $BUILD/weft-dist.so"
    export WEFT_PLUGIN_DIR=$BUILD # weft-dist.so holds the store on Redis
    SOCK=$TMP/redis/redis.sock
    mkdir -p "$TMP/redis"
    redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$TMP/redis" \
        --appendonly yes --appendfsync always --save '' --daemonize no \
        --logfile "$OUT/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 1 100); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
    [[ $(redis-cli -s "$SOCK" config get appendfsync | tail -1) == always ]] ||
        die "Redis did not start with appendfsync always (see $OUT/redis.log)"
    mkdir -p "$TMP/kv-redis"
    {
        printf '[app]\nstate_dir = "%s"\n' "$TMP/kv-redis/state"
        printf '[store]\nkey_value = "redis+unix://%s"\n' "$SOCK"
        functions_toml
    } >"$TMP/kv-redis/weft.toml"
    save_pid=$WEFT_PID save_url=$WEFT_URL
    start_weft "$TMP/kv-redis"
    RWEFT_PID=$WEFT_PID RWEFT_URL=$WEFT_URL
    WEFT_PID=$save_pid WEFT_URL=$save_url
    echo "== weft up on $RWEFT_URL with key-value on Redis ($SOCK, appendfsync always)"
    for route in kv-get kv-set; do
        ROUTES+=("redis:$route")
        URL[redis:$route]=$RWEFT_URL/$route PID[redis:$route]=$RWEFT_PID
    done
fi

for route in kv-set redis:kv-set kv-get redis:kv-get hello; do # kv-set first: it writes what kv-get reads
    [[ -n ${URL[$route]:-} ]] || continue
    body=$(curl -sS --max-time 5 -w '%{http_code}' "${URL[$route]}")
    [[ $body == $'Hello, world!\n200' ]] || die "$route answered '$body', not 200 'Hello, world!'"
    echo "   $route: 200 Hello, world!"
done

source "$ROOT/bench/wrk.bash"
label() { [[ $1 == redis:* ]] && echo "$1" | sed 's|:|:/|' || echo "/$1"; }
echo
echo "== machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'); wrk shares them with weft"
rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "unknown revision")
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg); $("$WEFT" --version | head -1) ($rev)"
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS round(s), routes in rotating order"
for route in "${ROUTES[@]}"; do
    run_wrk weft "${PID[$route]}" "${URL[$route]}" "$WARMUP" "$OUT/warmup.$route.wrk"
done
declare -A RPS P50 P99 CPU_US
failures=0
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < ${#ROUTES[@]}; i++)); do
        route=${ROUTES[$(((i + r - 1) % ${#ROUTES[@]}))]}
        f=$OUT/$route.$r.wrk
        run_wrk weft "${PID[$route]}" "${URL[$route]}" "$DURATION" "$f"
        read -r rps p50 p99 n bad < <(parse_wrk "$f")
        read -r ticks _ others <"$f.cpu"
        if [[ -z $rps || -z $n || $bad != 0 ]]; then
            echo "   round $r $route: failed ($bad errors):"; sed 's/^/     /' "$f" | head -20
            failures=$((failures + 1)); continue
        fi
        us=$(awk -v t="$ticks" -v k="$TICK" -v n="$n" 'BEGIN { printf "%.1f", t / k / n * 1e6 }')
        printf '   round %d %-13s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  weft CPU %5.1f us/req  others %.2f cores\n' \
            "$r" "$(label "$route")" "$rps" "$p50" "$p99" "$us" "$others"
        RPS[$route.$r]=$rps P50[$route.$r]=$p50 P99[$route.$r]=$p99 CPU_US[$route.$r]=$us
    done
done
REDIS_REF=
if [[ -n $RWEFT_PID ]]; then
    # The reference: Redis answering the read that redis:/kv-get makes (HMGET of the key's
    # hash, README "Distributed stores"), from redis-benchmark with the same connections;
    # it runs a number of requests, not a time: a short run sizes it.
    hmget=(HMGET weft:kv:7:default:k:greeting v ver exp)
    redis_hmget() { # N
        redis-benchmark -s "$SOCK" -c "$CONNECTIONS" -n "$1" --csv "${hmget[@]}" >"$OUT/redis-hmget.csv" 2>&1
        awk -F'"' 'NR == 2 { print $4 }' "$OUT/redis-hmget.csv"
    }
    secs=$(awk -v d="$DURATION" 'BEGIN { m = d ~ /m$/ ? 60 : d ~ /h$/ ? 3600 : 1; print (d + 0) * m }')
    n=$(awk -v r="$(redis_hmget 20000)" -v s="$secs" 'BEGIN { n = int(r * s); print (n < 1000 ? 1000 : n) }')
    REDIS_REF=$(redis_hmget "$n")
    [[ -n $REDIS_REF ]] || { cat "$OUT/redis-hmget.csv"; die "redis-benchmark printed no figures"; }
    IFS=, read -r _ _ _ _ p50 _ p99 _ < <(sed -n 2p "$OUT/redis-hmget.csv" | tr -d '"')
    printf '   redis-benchmark -c%s %s: %.0f req/s  p50 %6.3f ms  p99 %6.3f ms  (appendfsync always)\n' \
        "$CONNECTIONS" "${hmget[*]}" "$REDIS_REF" "$p50" "$p99"
fi
kill -0 "$WEFT_PID" 2>/dev/null || die "weft up died during the runs: $(tail -3 "$OUT/weft.log")"
[[ -z $RWEFT_PID ]] || kill -0 "$RWEFT_PID" 2>/dev/null ||
    die "weft up (Redis) died during the runs: $(tail -3 "$OUT/weft.log")"
stop_weft
stop_pid "$RWEFT_PID"
RWEFT_PID=
stop_pid "$REDIS_PID"
REDIS_PID=
median_round() { # ROUTE: the round of the median requests/s
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        [[ -n ${RPS[$1.$r]:-} ]] && echo "${RPS[$1.$r]} $r"
    done | sort -g | awk '{ a[NR] = $2 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
{
    echo
    echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, median of $ROUNDS run(s) each; $(nproc) cores shared by wrk and weft"
    printf '%-16s %12s %10s %10s %18s %10s\n' route requests/s p50 p99 "weft CPU/request" "vs /hello"
    hr=$(median_round hello)
    [[ -n $hr ]] || die "no successful run of /hello"
    for route in "${ROUTES[@]}"; do
        r=$(median_round "$route")
        [[ -n $r ]] || { echo "$(label "$route"): no successful run"; continue; }
        printf '%-16s %12.0f %7.3f ms %7.3f ms %15.1f us %9.2fx\n' "$(label "$route")" "${RPS[$route.$r]}" \
            "${P50[$route.$r]}" "${P99[$route.$r]}" "${CPU_US[$route.$r]}" \
            "$(awk -v a="${RPS[$route.$r]}" -v b="${RPS[hello.$hr]}" 'BEGIN { print a / b }')"
    done
    gr=$(median_round kv-get)
    [[ -n $gr ]] && awk -v a="${RPS[kv-get.$gr]}" -v b="${RPS[hello.$hr]}" 'BEGIN {
        printf "target (issue 13): /kv-get >= 0.80x the requests/s of /hello: %.2fx, %s\n", a / b,
            (a / b >= 0.8 ? "met" : "NOT met") }'
    rr=$(median_round redis:kv-get)
    [[ -n $rr && -n $gr ]] && awk -v a="${RPS[redis:kv-get.$rr]}" -v b="${RPS[kv-get.$gr]}" -v h="${RPS[hello.$hr]}" 'BEGIN {
        printf "key-value on Redis (appendfsync always): redis:/kv-get %.2fx the embedded /kv-get, %.2fx /hello\n", a / b, a / h }'
    [[ -n $REDIS_REF ]] && printf 'reference: redis-benchmark -c%s %s on the same server: %.0f req/s\n' \
        "$CONNECTIONS" "${hmget[*]}" "$REDIS_REF"
} | tee "$OUT/table.txt"

((INFERENCE)) || exit $((failures ? 1 : 0))

# ---- Cached inference ----------------------------------------------------------------------
EX=$ROOT/examples/cached-inference
echo
echo "== cached inference: building examples/cached-inference in a copy (training the model)"
mkdir -p "$TMP/examples"
cp -r "$EX" "$TMP/examples/"
ln -s "$ROOT/sdk" "$TMP/sdk" # build.sh includes ../../sdk
CI=$TMP/examples/cached-inference
(cd "$CI" && WEFT="$WEFT" ./build.sh >"$OUT/inference-build.log" 2>&1 && ./train --png 7 digit.png >>"$OUT/inference-build.log" 2>&1) ||
    { tail -20 "$OUT/inference-build.log"; die "the example did not build"; }
cat >>"$CI/weft.toml" <<TOML

# Added by the benchmark: the reference route.
[[function]]
name = "hello"
source = "$OUT/hello.wasm"
route = "/hello"
TOML
start_weft "$CI"
echo "   weft up on $WEFT_URL; $REQUESTS requests per series on one keep-alive connection"
python3 - "$WEFT_URL" "$CI/digit.png" "$REQUESTS" <<'PY' | tee -a "$OUT/table.txt"
import hashlib, http.client, statistics, sys, time, urllib.parse
url, image, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
digest = hashlib.sha256(image).hexdigest()

def request(method, path, body=None):
    conn.request(method, path, body=body)
    r = conn.getresponse()
    return r.status, r.getheader("X-Cache"), r.read()

def series(name, before, method, path, body=None, cache=None):
    times, answer = [], None
    for i in range(n):
        if before:
            before()
        t0 = time.perf_counter()
        status, xcache, text = request(method, path, body)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200 or (cache and xcache != cache):
            sys.exit(f"{name}: {status} X-Cache {xcache}: {text[:200]!r}")
        answer = text
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{name:<22} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  min {times[0]:7.3f} ms")
    return p50, answer

def forget():
    status, _, text = request("DELETE", f"/docs/classifications/{digest}")
    if status not in (200, 204, 404):
        sys.exit(f"DELETE /docs/classifications/{digest}: {status} {text[:200]!r}")

print()
print(f"same image ({len(image)} bytes, sha256 {digest[:12]}...), {n} requests each, one connection, python http.client")
series("GET /hello", None, "GET", "/hello")
_, a = series("POST /infer uncached", forget, "POST", "/infer", image, "miss")
request("POST", "/infer", image)  # cache it
p50, b = series("POST /infer cached", None, "POST", "/infer", image, "hit")
if a != b:
    sys.exit(f"the cached answer differs: {a!r} vs {b!r}")
print(f"answer: {b.decode().strip()}")
print(f"target (issue 13): cached answer under 2 ms p50: {p50:.3f} ms, {'met' if p50 < 2 else 'NOT met'}")
PY
stop_weft
exit $((failures ? 1 : 0))
