# A large module: its data segment (kept out of the generated C and assembled into the
# artifact) reaches the guest's memory intact, and its code, split into parallel
# translation units, computes what a native build of the same C computes.
. "$TESTS_DIR/lib.sh"
export XDG_CACHE_HOME="$WORK/cache"

expect=$(python3 "$SRC/bench/compile/make_big_module.py" "$WORK/big.wasm" 3 400 --native 2>/dev/null)
check "generator ran" "$?" 0
native=$("$WORK/big.wasm.native")

WEFT_KEEP_BUILD=1 run "$WEFT" compile -q "$WORK/big.wasm"
check "compiles" "$RC" 0
parts=$(ls "$WORK"/cache/weft/tmp-*/ | grep -c '^part[0-9]*\.c$')
if [ "$(nproc)" -gt 1 ]; then
  [ "$parts" -ge 1 ] && pass || fail "the generated C was not split on $(nproc) cores"
fi
check "no data bytes in the generated C" "$(grep -c '0x' "$WORK"/cache/weft/tmp-*/module.c | awk '$1 > 100000 {print "many"}')" ""

run "$WEFT" run "$WORK/big.wasm"
check "runs" "$RC" 0
check "code computes what native code computes" "$(printf '%s\n' "$OUT" | head -1)" "$native"
check "data is intact in memory" "data $(printf '%s\n' "$OUT" | sed -n 2p | cut -d' ' -f2)" "data ${expect#expect-data }"
finish
