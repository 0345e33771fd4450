# Modules weft cannot run are refused before compiling, with a message that says what
# is wrong and where; nothing crashes on bad input.
. "$TESTS_DIR/lib.sh"

run "$WEFT" run "$GUESTS/imports_env.wasm"
check "unknown import: status" "$RC" 1
check "unknown import: message" "$ERR" "weft: $GUESTS/imports_env.wasm imports env.foo (func (param i32) (result i32)), which weft does not provide"

run "$WEFT" compile "$GUESTS/simd.wasm"
check "SIMD: status" "$RC" 1
check_contains "SIMD: names the instruction" "$ERR" "uses SIMD (v128."
check_contains "SIMD: gives the offset" "$ERR" "offset 0x"

printf 'not wasm at all' >"$WORK/text.wasm"
run "$WEFT" run "$WORK/text.wasm"
check "not wasm: status" "$RC" 1
check "not wasm: says so, with the file and the offset" "$ERR" \
  "weft: $WORK/text.wasm: offset 0x0: not a WebAssembly module (no \\0asm magic)"

# A component (the component model's layer 1: version 0xd, layer 1) with one empty
# custom section, as wasi:http and Spin 2 build them: weft runs core modules only.
printf '\0asm\15\0\1\0\0\2\1x' >"$WORK/component.wasm"
run "$WEFT" run "$WORK/component.wasm"
check "component: status" "$RC" 1
check "component: says what it is and what weft runs" "$ERR" \
  "weft: $WORK/component.wasm: offset 0x4: a WebAssembly component (component model, e.g. wasi:http), not a core module; weft runs core modules only (Spin 1 handlers, WAGI and WASI preview1)"

# A header and a section whose size runs past the end.
printf '\0asm\1\0\0\0\1\377\377' >"$WORK/trunc.wasm"
run "$WEFT" run "$WORK/trunc.wasm"
check "truncated: status" "$RC" 1
check_contains "truncated: offset" "$ERR" "offset 0x"

# Structurally fine but invalid (a function returning i32 with an empty body): the
# validator's message comes through. (The file's name says nothing: a check for the
# word "invalid" would otherwise find it in the path.)
printf '\0asm\1\0\0\0\1\5\1\140\0\1\177\3\2\1\0\7\10\1\4main\0\0\12\4\1\2\0\13' >"$WORK/m.wasm"
run "$WEFT" compile "$WORK/m.wasm"
check "invalid: status" "$RC" 1
check_contains "invalid: says invalid" "$ERR" "weft: $WORK/m.wasm: invalid module: "
check_contains "invalid: the validator's reason" "$ERR" "type mismatch"

# Every prefix of a real module is refused cleanly (no crash, exit 1).
head -c 2000 "$GUESTS/hello.wasm" >"$WORK/h.wasm"
crashes=0
# (8 bytes is the header alone: a valid empty module.)
for n in 0 1 4 9 10 11 20 50 100 300 1000 1999; do
  head -c $n "$WORK/h.wasm" >"$WORK/p.wasm"
  "$WEFT" compile -q "$WORK/p.wasm" >/dev/null 2>&1
  rc=$?
  [ $rc -eq 1 ] || { crashes=$((crashes + 1)); echo "prefix $n: status $rc" >&2; }
done
check "truncated prefixes are refused with status 1" "$crashes" 0
finish
