#!/usr/bin/env bash
# The HTTP benchmark (bench/README.md): wrk against `weft up` serving a hello-world
# WAGI module (a fresh instance per request) and, in the same run and on the same
# machine, against nginx returning the same static string. Prints requests/s, p50 and
# p99 latency for both, and weft/nginx.
#
# usage: bash bench/http/run.sh [options]
#   -t THREADS       wrk threads (default 2)
#   -c CONNECTIONS   wrk connections, kept alive (default 64)
#   -d DURATION      length of each measured run, as wrk takes it (default 10s)
#   -w DURATION      warm-up of each server before the first round (default 3s)
#   -r ROUNDS        rounds; each runs weft and nginx once, in alternating order;
#                    the median run of each server counts (default 3)
#   --workers N      passed to `weft up --workers` (default: weft's own default)
#   --max-load L     wait until the 1-minute load average is below L ... (default 1.5)
#   --wait-load S    ... for at most S seconds, then run anyway (default 300; 0: no wait)
# Environment: BUILD_DIR (default ./build).
#
# It installs nothing: without wrk or nginx it says how to get them and exits 2. It
# builds weft (CMake, in BUILD_DIR) and bench/http/hello.c (clang --target=wasm32-wasi);
# the module, the artifact cache, wrk's raw output and both servers' logs go to
# bench/out/http/ (git-ignored). nginx runs as the current user from a temporary prefix
# directory with its own nginx.conf; both servers listen on free ports of 127.0.0.1 and
# are stopped when the script ends, however it ends.
#
# wrk shares the machine's cores with the server it measures: a figure is what that
# server achieves with the CPU time the load generator leaves it. So each run also
# prints the CPU time the server used per request (user + system, all its threads or
# processes), wrk's own CPU time, and how many cores everything else on the machine
# kept busy meanwhile (from /proc/stat): other people's work, the noise in the figures.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out/http
CACHE=$OUT/cache
WEFT=$BUILD/weft
THREADS=2
CONNECTIONS=64
DURATION=10s
WARMUP=3s
ROUNDS=3
WORKERS=
MAX_LOAD=1.5
WAIT_LOAD=300
BODY=$'Hello, world!\n'

die() { echo "run.sh: $*" >&2; exit 2; }
is_duration() { [[ $1 =~ ^[1-9][0-9]*[smh]?$ ]]; }
while (($#)); do
    case $1 in
    -t) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-t needs a positive number"; THREADS=$2; shift 2 ;;
    -c) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-c needs a positive number"; CONNECTIONS=$2; shift 2 ;;
    -d) is_duration "${2:-}" || die "-d needs a duration (10, 10s, 1m)"; DURATION=$2; shift 2 ;;
    -w) is_duration "${2:-}" || die "-w needs a duration (3, 3s)"; WARMUP=$2; shift 2 ;;
    -r) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-r needs a positive number"; ROUNDS=$2; shift 2 ;;
    --workers) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--workers needs a positive number"
        WORKERS=$2; shift 2 ;;
    --max-load) [[ ${2:-} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--max-load needs a number"
        MAX_LOAD=$2; shift 2 ;;
    --wait-load) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--wait-load needs seconds"
        WAIT_LOAD=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
((THREADS <= CONNECTIONS)) || die "-t $THREADS is more than -c $CONNECTIONS (wrk needs a connection per thread)"

# ---- What it needs, installed by nobody but the user ---------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx # not on a user's PATH
[[ -n $NGINX ]] || missing+=(nginx)
for tool in clang curl cmake python3; do command -v $tool >/dev/null || missing+=($tool); done
if ((${#missing[@]})); then
    echo "run.sh: missing: ${missing[*]}. This script installs nothing; on Debian:" >&2
    echo "  sudo apt-get install wrk nginx-light      # wrk and nginx" >&2
    echo "  WEFT_BENCH=1 bash scripts/install-deps.sh  # or everything weft's builds, tests and benchmarks need" >&2
    exit 2
fi

# ---- Everything started is stopped, whatever happens ---------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-http.XXXXXX")
WEFT_PID=
NGINX_PID=
stop_pid() { # PID SIGNAL: signal, wait up to 5 s, then SIGKILL
    local pid=$1 sig=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    # SIGQUIT: nginx's graceful stop (its workers exit with the master)
    stop_pid "$NGINX_PID" QUIT
    stop_pid "$WEFT_PID" TERM
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$CACHE"
rm -f "$OUT"/*.wrk "$OUT"/weft.log "$OUT"/nginx.error.log "$OUT"/table.txt

# ---- Build ---------------------------------------------------------------------------
echo "== building weft ($BUILD) and bench/http/hello.c"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -B "$BUILD" -S "$ROOT" >"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target weft weft-net >"$OUT/cmake.log" 2>&1 ||
    { tail -40 "$OUT/cmake.log"; exit 1; }
clang --target=wasm32-wasi -O2 -Wall -Wextra -Werror "$HERE/hello.c" -o "$OUT/hello.wasm"

# ---- weft ----------------------------------------------------------------------------
cat >"$TMP/modules.toml" <<TOML
# WAGI's format: one module on /.
[[module]]
route = "/"
module = "$OUT/hello.wasm"
TOML
weft_args=(up -c "$TMP/modules.toml" --listen 127.0.0.1:0 --cache-dir "$CACHE" -q)
[[ -n $WORKERS ]] && weft_args+=(--workers "$WORKERS")
echo "== starting weft ${weft_args[*]}"
"$WEFT" "${weft_args[@]}" >"$TMP/weft.out" 2>"$OUT/weft.log" &
WEFT_PID=$!
WEFT_URL=
for _ in $(seq 1 1200); do # the first run compiles the module: give it time
    WEFT_URL=$(sed -n 's/^Ready: serving on //p' "$TMP/weft.out")
    [[ -n $WEFT_URL ]] && break
    kill -0 "$WEFT_PID" 2>/dev/null || { cat "$OUT/weft.log" >&2; die "weft up exited before it was ready"; }
    sleep 0.1
done
[[ -n $WEFT_URL ]] || die "weft up did not print its Ready line in 120 s"
WEFT_URL=$WEFT_URL/

# ---- nginx ---------------------------------------------------------------------------
source "$HERE/../nginx.bash"
echo "== starting nginx $("$NGINX" -v 2>&1 | sed 's/.*version: //') (prefix $TMP, $CORES worker processes)"
nginx_start

# ---- Both answer what they should: a benchmark of error responses is worthless ------
check_body() { # NAME URL
    local got status
    status=$(curl -sS -o "$TMP/curl.body" -w '%{http_code}' --max-time 5 "$2" || true)
    got=$(cat "$TMP/curl.body" 2>/dev/null; echo x)
    if [[ $status != 200 || ${got%x} != "$BODY" ]]; then
        die "$1 at $2 answered $status '${got%x}', not 200 'Hello, world!'"
    fi
    echo "   $1 $2: 200 Hello, world!"
}
echo "== checking the responses"
check_body weft "$WEFT_URL"
check_body nginx "$NGINX_URL"

# ---- A quiet machine, if it can be had -----------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }' && ((waited < WAIT_LOAD)); do
    ((waited == 0)) && echo "== load average $(load1) >= $MAX_LOAD: waiting up to ${WAIT_LOAD}s for a quieter machine"
    sleep 10
    waited=$((waited + 10))
done
if awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; then
    echo "   WARNING: load average still $(load1): other work shares the cores, figures are low"
fi

# ---- Runs ----------------------------------------------------------------------------
source "$HERE/../wrk.bash"
server_pid() { if [[ $1 == nginx ]]; then echo "$NGINX_PID"; else echo "$WEFT_PID"; fi; }

echo
echo "== machine: $CORES cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'); wrk shares them with the server"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "unknown revision")
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the runs: $LOAD_BEFORE"
echo "   $("$WEFT" --version | head -1) ($rev), $("$NGINX" -v 2>&1 | sed 's/.*version: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS round(s), warm-up $WARMUP each (raw output in ${OUT#"$ROOT"/})"

weft_log_size=$(stat -c %s "$OUT/weft.log")
failures=0
# After every weft run: weft must still be up and must have logged nothing (with -q its
# log stays empty unless a request failed, trapped or hit a limit).
check_weft_log() {
    local size
    kill -0 "$WEFT_PID" 2>/dev/null || { echo "   weft up DIED: $(tail -3 "$OUT/weft.log")"; exit 1; }
    size=$(stat -c %s "$OUT/weft.log")
    if ((size != weft_log_size)); then
        echo "   weft LOGGED during the run (errors or traps?):"
        tail -c +"$((weft_log_size + 1))" "$OUT/weft.log" | head -5 | sed 's/^/     /'
        weft_log_size=$size
        failures=$((failures + 1))
    fi
}

for s in weft nginx; do
    url=$WEFT_URL
    [[ $s == nginx ]] && url=$NGINX_URL
    run_wrk "$s" "$(server_pid "$s")" "$url" "$WARMUP" "$OUT/warmup.$s.wrk"
    read -r rps _ _ _ bad < <(parse_wrk "$OUT/warmup.$s.wrk")
    echo "   warm-up $s: ${rps:-?} requests/s, $bad errors"
    [[ $s == weft ]] && check_weft_log
done

declare -A RPS P50 P99 CPU_US WRK_CPU
ALL_OTHERS=()
for ((r = 1; r <= ROUNDS; r++)); do
    order=(weft nginx)
    ((r % 2 == 0)) && order=(nginx weft)
    for s in "${order[@]}"; do
        url=$WEFT_URL
        [[ $s == nginx ]] && url=$NGINX_URL
        f=$OUT/$s.$r.wrk
        run_wrk "$s" "$(server_pid "$s")" "$url" "$DURATION" "$f"
        read -r rps p50 p99 n bad < <(parse_wrk "$f")
        read -r ticks wcpu others <"$f.cpu"
        if [[ -z $rps || -z $n ]]; then
            echo "   round $r $s: wrk printed no figures:"; sed 's/^/     /' "$f"
            failures=$((failures + 1)); continue
        fi
        us=$(awk -v t="$ticks" -v k="$TICK" -v n="$n" 'BEGIN { printf "%.1f", t / k / n * 1e6 }')
        printf '   round %d %-5s %7.0f req/s  p50 %6.3f ms  p99 %6.3f ms  server CPU %5.1f us/req  wrk CPU %4.1fs  others %.2f cores  %s\n' \
            "$r" "$s" "$rps" "$p50" "$p99" "$us" "$wcpu" "$others" "$([[ $bad == 0 ]] && echo ok || echo "$bad ERRORS")"
        if [[ $bad != 0 ]]; then
            failures=$((failures + 1)); continue
        fi
        RPS[$s.$r]=$rps P50[$s.$r]=$p50 P99[$s.$r]=$p99 CPU_US[$s.$r]=$us WRK_CPU[$s.$r]=$wcpu
        ALL_OTHERS+=("$others")
        [[ $s == weft ]] && check_weft_log
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "   load average after the runs: $LOAD_AFTER"
echo "== checking the responses again"
check_body weft "$WEFT_URL"
check_body nginx "$NGINX_URL"

# ---- Table ---------------------------------------------------------------------------
# The median run of each server by requests/s (for an even count, the lower middle),
# with that run's latencies.
median_round() {
    local s=$1 r
    for ((r = 1; r <= ROUNDS; r++)); do
        [[ -n ${RPS[$s.$r]:-} ]] && echo "${RPS[$s.$r]} $r"
    done | sort -g | awk '{ a[NR] = $2 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
wr=$(median_round weft)
nr=$(median_round nginx)
[[ -n $wr && -n $nr ]] || { echo "run.sh: no successful run of weft or of nginx" >&2; exit 1; }
{
    echo
    echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, median of $ROUNDS run(s) each;" \
        "$CORES cores shared by wrk and the server"
    printf '%-12s %12s %10s %10s %22s\n' server requests/s p50 p99 "server CPU per request"
    for s in weft nginx; do
        r=$wr
        [[ $s == nginx ]] && r=$nr
        printf '%-12s %12.0f %7.3f ms %7.3f ms %19.1f us\n' "$s" "${RPS[$s.$r]}" "${P50[$s.$r]}" \
            "${P99[$s.$r]}" "${CPU_US[$s.$r]}"
    done
    awk -v w="${RPS[weft.$wr]}" -v n="${RPS[nginx.$nr]}" -v cw="${CPU_US[weft.$wr]}" \
        -v cn="${CPU_US[nginx.$nr]}" 'BEGIN {
        printf "%-12s %11.2fx %10s %10s %20.2fx\n", "weft/nginx", w / n, "", "", cw / cn
        printf "target (issue 4): weft >= 0.5x the requests/s of nginx: %s\n", (w / n >= 0.5 ? "met" : "NOT met")
    }'
    echo "for reference: WAGI's own hello-world figure was about 1,000 requests/s (quoted by issue 4, not measured here)"
    echo "load average before $LOAD_BEFORE, after $LOAD_AFTER (the benchmark's own threads count in the latter)"
    printf '%s\n' "${ALL_OTHERS[@]}" | awk '{ s += $1; if ($1 > m) m = $1 }
        END { printf "other work on the machine during the runs: mean %.2f, at most %.2f of %d cores\n", s / NR, m, '"$CORES"' }'

} | tee "$OUT/table.txt"

cp "$TMP/nginx.error.log" "$OUT/nginx.error.log" 2>/dev/null || true
if ((failures)); then
    echo
    echo "run.sh: $failures run(s) had errors (see above); their figures are left out" >&2
    exit 1
fi
