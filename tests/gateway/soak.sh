#!/bin/bash
# Fault-mix soak: hello traffic from a load generator (wrk) while, in parallel, guests
# trap, loop into their timeout, exhaust their memory or their stack, print 50 MiB and
# flood stderr, with more busy processes than cores. The server must live through it;
# every hello gets 200; every fault request gets its documented status (500 for traps,
# memory and an oversized response, 504 for deadlines) and one log line; stderr stays
# within its cap; RSS after the run stays within SOAK_RSS_MIB of RSS before it; and
# weft up stops cleanly.
#
# SOAK_SECONDS sets the length (default 20 s; 10 s under the sanitizers, which are
# slower). bench/soak/run.sh runs the same script for minutes and keeps the figures.
source "$(dirname "$0")/gw.bash"

if ldd "$WEFT" 2>/dev/null | grep -q libasan; then
  RUN_S=${SOAK_SECONDS:-10}
  # AddressSanitizer keeps freed memory in quarantine (256 MiB by default) to catch
  # use after free; leaks are LeakSanitizer's to find, at exit.
  RSS_BOUND_MIB=${SOAK_RSS_MIB:-288}
else
  RUN_S=${SOAK_SECONDS:-20}
  RSS_BOUND_MIB=${SOAK_RSS_MIB:-32}
fi
STDERR_LINES=1000 # weft's default cap on stderr lines logged per request

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_hello.wasm" "$GUESTS/gw_cgi.wasm" "$DIR/"
{
  echo '[server]'
  [ -n "${SOAK_NO_LIMITS:-}" ] || echo 'max_response = "16MiB"'
  echo
  echo '[[function]]'
  echo 'name = "hello"'
  echo 'source = "gw_hello.wasm"'
  echo 'route = "/hello"'
  for kind in trap spin grow stack print flood; do
    echo
    echo '[[function]]'
    echo "name = \"$kind\""
    echo 'source = "gw_cgi.wasm"'
    echo "route = \"/$kind/...\""
    # 1 s where the timeout is the fault; elsewhere enough for a loaded machine, so
    # that the fault at hand, not the clock, decides the answer.
    case $kind in spin | flood) echo 'timeout = "1s"' ;; *) echo 'timeout = "20s"' ;; esac
    echo 'max_memory = "16MiB"'
  done
} >"$DIR/weft.toml"

# What each fault answers, and the log line that says so.
declare -A WANT_STATUS=([trap]=500 [spin]=504 [grow]=500 [stack]=500 [print]=500 [flood]=504)
declare -A WANT_LINE=(
  [trap]="500: trap: unreachable instruction executed"
  [spin]="504: stopped after its timeout"
  [grow]="500: trap: memory limit exceeded"
  [stack]="500: trap: call stack exhausted"
  [print]="500: response larger than"
  [flood]="504: stopped after its timeout")

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

start_weft "$DIR" || { fail "server start"; finish; exit 1; }

# Warm-up: each fault once, some hellos; RSS is measured after it, when the pools are
# as large as this mix makes them.
for kind in trap spin grow stack print flood; do
  curl -s -o /dev/null --max-time 20 "$URL/$kind/$kind"
done
for _ in $(seq 1 200); do curl -s -o /dev/null "$URL/hello"; done
rss0=$(rss_kib)

end=$(($(date +%s) + RUN_S))
busy=()
for _ in $(seq 1 $(($(nproc) * 2 + 2))); do
  timeout $((RUN_S + 10)) sh -c 'while :; do :; done' &
  busy+=($!)
done
wrk -t1 -c8 -d"${RUN_S}s" --timeout 10s "$URL/hello" >"$WORK/wrk.out" 2>&1 &
wrk_pid=$!
clients=()
for kind in trap spin grow stack print flood; do
  (
    while [ "$(date +%s)" -lt "$end" ]; do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$URL/$kind/$kind"
    done
  ) >"$WORK/status.$kind" &
  clients+=($!)
done
wait "$wrk_pid"
wait "${clients[@]}"
kill "${busy[@]}" 2>/dev/null
wait "${busy[@]}" 2>/dev/null

alive=$(kill -0 "$PID" 2>/dev/null && echo alive || echo dead)
check "weft up lived through the soak" "$alive" alive
[ "$alive" = alive ] || { tail -n 20 "$DIR/log" >&2; finish; exit 1; }
rss1=$(rss_kib)
threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status")

# Hello: every request 200.
hellos=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
check "wrk sent hello requests (${hellos:-0})" "$([ "${hellos:-0}" -gt 100 ] && echo yes)" yes
check "every hello got 200 (wrk: non-2xx)" "$(grep -c 'Non-2xx' "$WORK/wrk.out")" 0
check "no hello failed or timed out (wrk: socket errors)" "$(grep -c 'Socket errors' "$WORK/wrk.out")" 0

# Faults: each answered with its status, each logged once.
summary="hello: $hellos requests ($(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")/s)"
for kind in trap spin grow stack print flood; do
  n=$(wc -l <"$WORK/status.$kind")
  other=$(grep -vc "^${WANT_STATUS[$kind]}\$" "$WORK/status.$kind")
  check "$kind: requests made ($n)" "$([ "$n" -ge 1 ] && echo yes)" yes
  check "$kind: every request answered ${WANT_STATUS[$kind]} ($other other: $(sort "$WORK/status.$kind" | uniq -c | tr '\n' ' '))" "$other" 0
  # The warm-up request was logged too.
  lines=$(grep -c "^weft: /$kind/\.\.\. #[0-9]*: ${WANT_LINE[$kind]}" "$DIR/log")
  check "$kind: one log line per request" "$lines" $((n + 1))
  summary="$summary, $kind: $n"
done

# Flood: at most the cap of stderr lines per request, and a line that counts the rest.
most=$(grep -o "^weft: /flood/\.\.\. #[0-9]*: flood line" "$DIR/log" | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
check "flood: at most $STDERR_LINES stderr lines logged per request (most: ${most:-0})" \
  "$([ "${most:-0}" -le "$STDERR_LINES" ] && [ "${most:-0}" -gt 0 ] && echo yes)" yes
floods=$(wc -l <"$WORK/status.flood")
summarized=$(grep -c "^weft: /flood/\.\.\. #[0-9]*: .*more stderr line" "$DIR/log")
check "flood: the rest of each request's stderr is summarized in one line" "$summarized" $((floods + 1))

grown=$(((rss1 - rss0) / 1024))
check "RSS after the soak within ${RSS_BOUND_MIB} MiB of RSS before (${rss0} KiB -> ${rss1} KiB)" \
  "$([ "$grown" -le "$RSS_BOUND_MIB" ] && echo yes)" yes
echo "soak ${RUN_S}s: $summary; RSS ${rss0} KiB -> ${rss1} KiB, $threads threads; log $(wc -l <"$DIR/log") lines"

stop_weft
check "weft up stops cleanly after the soak" "$STOP_RC" 0
finish
