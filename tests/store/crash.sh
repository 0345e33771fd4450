#!/usr/bin/env bash
# store: kill -9 loses no acknowledged key-value set or blob commit, and leaves no half
# blob visible. tests/store/crash_driver.c writes keys and blobs from two threads, printing
# each write once acknowledged; it is killed at a random moment (often inside a blob's
# bytes or its commit), three times on the same folder, and after each kill `check`
# reopens the stores and reads back every acknowledged write and every listed blob whole.
source "$(dirname "$0")/../lib.sh"

DRIVER=$BUILD_DIR/tests/driver_store_crash
[ -x "$DRIVER" ] || { fail "no $DRIVER: build the driver_store_crash target"; finish; exit 1; }
STORE=$WORK/store
: >"$WORK/acks"

for round in 1 2 3; do
  "$DRIVER" write "sqlite:$STORE" "$round" >>"$WORK/acks" 2>"$WORK/write.err" &
  pid=$!
  # Long enough for some acknowledgements, at a moment that differs every time.
  sleep "0.$((RANDOM % 6 + 4))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  status=$?
  check "round $round: the writer died by SIGKILL (not by an error: $(cat "$WORK/write.err"))" "$status" 137
  kv=$(grep -c "^kv $round/" "$WORK/acks")
  blobs=$(grep -c "^blob $round/" "$WORK/acks")
  check "round $round: some keys acknowledged" "$([ "$kv" -gt 0 ] && echo yes)" yes
  check "round $round: some blobs acknowledged" "$([ "$blobs" -gt 0 ] && echo yes)" yes
  "$DRIVER" check "sqlite:$STORE" <"$WORK/acks" >"$WORK/check.out" 2>&1
  RC=$?
  check "round $round: check ($(head -5 "$WORK/check.out"))" "$RC" 0
  check_contains "round $round: check" "$(cat "$WORK/check.out")" "ok:"
  echo "round $round: $kv keys, $blobs blobs acknowledged; $(cat "$WORK/check.out")"
done
finish
