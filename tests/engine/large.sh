# A large module: its data segment (kept out of the generated C and assembled into the
# artifact) reaches the guest's memory intact, and its code, split into parallel
# translation units, computes what a native build of the same C computes. On one core
# there is no split to check: the rest runs, and the test then reports itself skipped.
. "$TESTS_DIR/lib.sh"
export XDG_CACHE_HOME="$WORK/cache"

expect=$(python3 "$SRC/bench/compile/make_big_module.py" "$WORK/big.wasm" 3 400 --native 2>/dev/null)
check "generator ran" "$?" 0
native=$("$WORK/big.wasm.native")

WEFT_KEEP_BUILD=1 run "$WEFT" compile -q --tier opt "$WORK/big.wasm"
check "compiles" "$RC" 0
kept=("$WORK"/cache/weft/tmp-*/)
check "one build folder kept" "${#kept[@]}" 1
check "the generated C is kept as module.c" "$([ -s "${kept[0]}module.c" ] && echo kept)" kept
# wasm2c writes a data segment as 0x.. literals: 3 MB of data would be millions.
hex=$(cat "${kept[0]}"module.c "${kept[0]}"unit*.c 2>/dev/null | grep -o '0x[0-9a-f]' | wc -l)
check "no data bytes in the generated C ($hex hex literals)" "$([ "$hex" -lt 100000 ] && echo few)" few
# weft runs a compiler per core it may use (sched_getaffinity), which nproc reports.
cores=$(nproc)
if [ "$cores" -gt 1 ]; then
  parts=$(ls "${kept[0]}" | grep -c '^unit[0-9]*\.c$')
  check "the generated C is split on $cores cores" "$([ "$parts" -ge 2 ] && echo split)" split
fi

run "$WEFT" run "$WORK/big.wasm"
check "runs" "$RC" 0
check "code computes what native code computes" "$(printf '%s\n' "$OUT" | head -1)" "$native"
check "data is intact in memory" "data $(printf '%s\n' "$OUT" | sed -n 2p | cut -d' ' -f2)" "data ${expect#expect-data }"
if [ "$cores" -eq 1 ] && [ "$FAILED" -eq 0 ]; then
  skip "one core: the split into parallel translation units was not checked ($PASSED other checks passed)"
fi
finish
