# Every trap reaches the user as one line naming its kind, exit status 134, and the
# output the guest wrote before it is kept.
. "$TESTS_DIR/lib.sh"
T="$GUESTS/traps.wasm"
# Compile first, so that timings and stderr below are the run's alone.
"$WEFT" compile -q "$T" >/dev/null && "$WEFT" compile -q "$GUESTS/stdin_wait.wasm" >/dev/null

expect_trap() { # KIND MESSAGE [weft options...]
  local kind=$1 msg=$2
  shift 2
  run "$WEFT" run "$@" "$T" "$kind"
  check "$kind: exit status" "$RC" 134
  check "$kind: message" "$ERR" "weft: $T: trap: $msg"
  check "$kind: output before the trap is kept" "$OUT" "before $kind"
}
expect_trap oob "out-of-bounds memory access"
expect_trap oob-read "out-of-bounds memory access"
expect_trap div "integer divide by zero"
expect_trap overflow "integer overflow"
expect_trap conversion "invalid conversion to integer"
expect_trap unreachable "unreachable instruction executed"
expect_trap indirect "indirect call type mismatch"
expect_trap stack "call stack exhausted"
# Out of stack at a host call: stopped before the host function runs (weft_rt_host_call).
expect_trap stack-host "call stack exhausted"
expect_trap alloc "memory limit exceeded" --max-memory 64MiB

# The deadline stops a guest spinning in its own code, promptly.
start=$(date +%s%N)
expect_trap loop "deadline exceeded" --timeout 500ms
elapsed=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed" -ge 450 ] && [ "$elapsed" -lt 3000 ]; then pass; else fail "deadline took ${elapsed} ms"; fi

# ... and one blocked in a host call (reading a pipe nobody writes to).
mkfifo "$WORK/fifo"
sleep 30 >"$WORK/fifo" &
writer=$!
start=$(date +%s%N)
"$WEFT" run --timeout 300ms "$GUESTS/stdin_wait.wasm" <"$WORK/fifo" >"$WORK/out" 2>"$WORK/err"
RC=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
kill $writer 2>/dev/null
check "blocked guest: exit status" "$RC" 134
check "blocked guest: message" "$(cat "$WORK/err")" "weft: $GUESTS/stdin_wait.wasm: trap: deadline exceeded"
if [ "$elapsed" -lt 3000 ]; then pass; else fail "blocked guest deadline took ${elapsed} ms"; fi

# A limit the guest never reaches: it exits as it would without one.
run "$WEFT" run --max-memory 16MiB "$T" exit 5
check "a limit the guest stays under changes nothing" "$RC" 5
finish
