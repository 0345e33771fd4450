#!/bin/bash
# Isolation and limits: a timeout answers 504 and stops the guest, a body over the
# limit gets 413, a trap or the memory limit gets 500, each logged, and the server
# answers the next request as if nothing happened. A slow guest does not hold up
# other requests. Volumes are the guest's preopened folders.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR/data"
echo "hello from the host" >"$DIR/data/in.txt"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[server]
max_body = "64KiB"

[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
timeout = "1s"
max_memory = "16MiB"
volumes = { "/data" = "data" }

[[function]]
name = "slow"
source = "gw_cgi.wasm"
route = "/slow/..."
timeout = "10s"

[[function]]
name = "pure"
source = "gw_cgi.wasm"
route = "/pure/..."
timeout = "1s"
TOML
# In weft's environment, never in a guest's (checked with the volumes below).
export WEFT_TEST_HOST_ONLY=1
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

good() {
  get /cgi/state
  check "$1: the next request succeeds" "$STATUS:$BODY" "200:counter=1"
}

# Timeout: 504 after about the timeout, the guest stopped (not still spinning).
t0=$(date +%s%N)
get /cgi/spin
t1=$(date +%s%N)
check "a guest past its timeout: 504" "$STATUS" 504
ms=$(((t1 - t0) / 1000000))
check "504 after about 1 s (took ${ms} ms)" "$([ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] && echo yes)" yes
check "the timeout is logged once, with the route" \
  "$(log_count '^weft: /cgi/\.\.\. #[0-9]+: 504: stopped after its timeout of 1s$')" 1
good "after 504"
# The spinning guest was stopped: the process is not burning a core any more.
sleep 0.3
cpu1=$(awk '{print $14+$15}' "/proc/$PID/stat")
sleep 1
cpu2=$(awk '{print $14+$15}' "/proc/$PID/stat")
check "the stopped guest uses no CPU ($((cpu2 - cpu1)) ticks in 1 s)" "$([ $((cpu2 - cpu1)) -lt 30 ] && echo idle)" idle

# A function with no volume and no outbound HTTP runs on the I/O thread first, and a
# run over a millisecond there starts again on a worker (server.c). Neither the
# answer, nor the timeout, nor the guest's stderr may show it.
for ms in 5 30; do
  get "/pure/busy?ms=$ms"
  check "a guest that computes ${ms} ms: answered" "$STATUS:$BODY" "200:busy done"
  check "its stderr line is logged once" "$(log_count "^weft: /pure/\.\.\. #[0-9]+: busy for $ms ms\$")" 1
done
get /pure/state
check "then a quick one, on a worker (fresh instance)" "$STATUS:$BODY" "200:counter=1"
t0=$(date +%s%N)
get /pure/spin
ms=$((($(date +%s%N) - t0) / 1000000))
check "its timeout is still its own: 504" "$STATUS" 504
check "... after about 1 s, not 1 ms (took ${ms} ms)" "$([ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] && echo yes)" yes
check "the 504 is logged once" "$(log_count '^weft: /pure/\.\.\. #[0-9]+: 504: ')" 1

# Trap: 500, logged with the trap and the route.
get /cgi/trap
check "a trap: 500" "$STATUS" 500
log_has "500: trap: unreachable instruction executed"
check "the trap is logged" $? 0
check "with the route" "$(grep -c '^weft: /cgi/\.\.\. #[0-9]*: 500: trap: unreachable' "$DIR/log")" 1
good "after a trap"

# Memory limit: a guest that grows past max_memory is stopped: 500.
get /cgi/grow
check "past max_memory: 500" "$STATUS" 500
log_has "memory limit exceeded"
check "the memory limit is logged" $? 0
good "after the memory limit"

# Bodies over max_body: 413, whether the size is declared or the body is chunked.
head -c 70000 /dev/zero | tr '\0' 'a' >"$WORK/big"
head -c 60000 /dev/zero | tr '\0' 'a' >"$WORK/fits"
get /cgi/echo --data-binary @"$WORK/big"
check "Content-Length over the limit: 413" "$STATUS" 413
good "after 413"
get /cgi/echo -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big"
check "a chunked body over the limit: 413" "$STATUS" 413
good "after a chunked 413"
get /cgi/echo --data-binary @"$WORK/fits"
check "a body under the limit passes" "$STATUS:${#BODY}" "200:60000"

# Volumes: the host folder is the guest's /data.
get /cgi/volume
check "volume read" "$(printf '%s\n' "$BODY" | head -1)" "in=hello from the host"
check "volume write" "$(cat "$DIR/data/out.txt" 2>/dev/null)" "written by the guest"
get /cgi/env
check "weft's own environment does not reach the guest" \
  "$(printf '%s\n' "$BODY" | grep -c '^WEFT_TEST_HOST_ONLY=')" 0

# A slow guest does not stall others: start one that sleeps 3 s, then ten quick
# requests must all finish well before it does.
curl -s --max-time 10 "$URL/slow/sleep?ms=3000" -o "$WORK/slow" &
slow=$!
sleep 0.2
t0=$(date +%s%N)
quick=()
for i in $(seq 1 10); do
  curl -s --max-time 10 "$URL/cgi/state" -o "$WORK/quick.$i" &
  quick+=($!)
done
wait "${quick[@]}"
t1=$(date +%s%N)
ok=0
for i in $(seq 1 10); do [ "$(cat "$WORK/quick.$i")" == "counter=1" ] && ok=$((ok + 1)); done
check "ten quick requests answered while a slow one runs" "$ok" 10
ms=$(((t1 - t0) / 1000000))
check "... before the slow one is done (${ms} ms)" "$([ "$ms" -lt 2500 ] && echo yes)" yes
wait "$slow"
check "the slow one finishes too" "$(cat "$WORK/slow")" "slept"

# A client that leaves while its guest runs on a worker: the answer has nowhere to go
# and is dropped; nothing else notices.
curl -s --max-time 0.3 "$URL/slow/sleep?ms=800" -o /dev/null
sleep 1
get /slow/state
check "a client left while its guest ran: the next request succeeds" "$STATUS:$BODY" "200:counter=1"
check "weft up is still running" "$(kill -0 "$PID" && echo alive)" alive

# More slow guests than cores: the pool grows past one worker per core once guests
# wait rather than compute, so a quick request still gets through at once.
slows=()
for i in $(seq 1 $(($(nproc) + 2))); do
  curl -s --max-time 10 "$URL/slow/sleep?ms=3000" -o "$WORK/slow.$i" &
  slows+=($!)
done
sleep 0.3
t0=$(date +%s%N)
get /cgi/state
ms=$((($(date +%s%N) - t0) / 1000000))
check "a quick request while every core's worker sleeps in a guest" "$STATUS:$BODY" "200:counter=1"
check "... answered before they wake (${ms} ms)" "$([ "$ms" -lt 2000 ] && echo yes)" yes
wait "${slows[@]}"
check "the sleeping ones all finish" "$(cat "$WORK"/slow.* | sort -u)" "slept"

stop_weft
check "clean exit" "$STOP_RC" 0
finish
