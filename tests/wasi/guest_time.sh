#!/bin/bash
# Clocks and sleeping, and blocking calls cut short by the deadline.
source "$(dirname "$0")/../lib.sh"
G="$GUESTS/wasi_time.wasm"

run "$WEFT" run "$G" sleep 10
check "a 10 ms sleep takes 10 ms (and not 100 more)" "$OUT" "slept ok"
run "$WEFT" run "$G" clocks
check "clocks" "$OUT" "$(printf '%s\n' 'monotonic advances: 1' 'cpu advances: 1' 'thread cpu: 1' \
  'realtime year: 1' 'random differs: 1')"
run_in "hello" "$WEFT" run "$G" poll-stdin
check "poll: stdin with data is ready" "$OUT" "ready: hello"

# An idle pipe on stdin: poll times out after 50 ms, a read blocks until the deadline.
mkfifo "$WORK/fifo"
(sleep 30 >"$WORK/fifo") &
holder=$!
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)
"$WEFT" run "$G" poll-stdin <"$WORK/fifo" >"$WORK/out" 2>&1
check "poll: an idle pipe times out" "$(cat "$WORK/out")" "timeout ok"

# Blocked in fd_read with a 500 ms deadline: the read returns EINTR at the deadline
# (not when the pipe's writer goes away 30 s later) and the engine stops the guest.
t0=$(ms)
"$WEFT" run --timeout 500ms "$G" block-read <"$WORK/fifo" >"$WORK/out" 2>"$WORK/err"
rc=$?
took=$(($(ms) - t0))
check "blocked read: stopped as a deadline trap" "$rc" 134
check_contains "blocked read: says why" "$(cat "$WORK/err")" "deadline exceeded"
check "blocked read: the guest ran no further" "$(cat "$WORK/out")" ""
[ "$took" -lt 5000 ] && pass || fail "blocked read: weft took ${took} ms with a 500 ms deadline"
[ "$took" -ge 500 ] && pass || fail "blocked read: stopped before the deadline (${took} ms)"

# Asleep for an hour in poll_oneoff with a 300 ms deadline.
t0=$(ms)
"$WEFT" run --timeout 300ms "$G" block-sleep >"$WORK/out" 2>"$WORK/err"
rc=$?
took=$(($(ms) - t0))
check "sleep: stopped as a deadline trap" "$rc" 134
check "sleep: the guest ran no further" "$(cat "$WORK/out")" ""
[ "$took" -lt 5000 ] && pass || fail "sleep: weft took ${took} ms with a 300 ms deadline"
kill $holder 2>/dev/null
wait 2>/dev/null

finish
