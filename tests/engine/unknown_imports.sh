# Imports weft does not provide, as wasmtime's -W unknown-imports-trap / -default treat
# them: refused by default, naming the import; with --unknown-imports=trap the module
# runs and traps only when it calls one, the trap naming it; with =default the call
# returns zeros. One artifact serves every mode, so a cached artifact with stubs is
# still refused where unknown imports are. Memories, tables and globals weft does not
# provide are refused in every mode.
. "$TESTS_DIR/lib.sh"

B="$GUESTS/imports_bridge.wasm"
msg="weft: $B imports env.bridge (func (param i32) (result i32)), which weft does not provide"

run "$WEFT" run "$B"
check "refused by default: status" "$RC" 1
check "refused by default: the import named" "$ERR" "$msg"

run "$WEFT" compile --cache-dir "$WORK/fresh" "$B"
check "refused by weft compile too (before its artifact is cached)" "$ERR" "$msg"

"$WEFT" compile -q --unknown-imports=trap "$B" >/dev/null # the runs below: no compile lines
run "$WEFT" run --unknown-imports=trap "$B"
check "trap: the module runs while it does not call the import" "$RC" 0
check "trap: its output" "$OUT" "bridge not called"
run "$WEFT" run --unknown-imports=trap "$B" call
check "trap: calling the import traps" "$RC" 134
check "trap: the trap names the import" "$ERR" \
  "weft: $B: trap: unknown import env.bridge called (weft does not provide it)"
check "trap: nothing after the call" "$OUT" ""

run "$WEFT" run --unknown-imports default "$B" call
check "default: status" "$RC" 0
check "default: the call returns zero" "$OUT" "bridge returned 0"

# The artifact is in the cache now, with its stubs: refusing still refuses it, from
# the cache as from an artifact file.
run "$WEFT" run "$B" call
check "refused again with the artifact cached: status" "$RC" 1
check "refused again with the artifact cached: the import named" "$ERR" "$msg"
run "$WEFT" run --unknown-imports=refuse "$B"
check "refuse, said explicitly" "$RC" 1
art=$("$WEFT" compile -q --unknown-imports=trap "$B")
run "$WEFT" run "$art" call
check "an artifact file with stubs is refused too" "$ERR" \
  "weft: $art imports env.bridge (func (param i32) (result i32)), which weft does not provide"
run "$WEFT" run --unknown-imports=default "$art" call
check "... and runs where unknown imports are allowed" "$OUT" "bridge returned 0"

run "$WEFT" run --unknown-imports=maybe "$B"
check "a mode that does not exist: usage error" "$RC" 2
check_contains "a mode that does not exist: says which are" "$ERR" "expected trap, default or refuse"

command -v wat2wasm >/dev/null || skip "wat2wasm (wabt) is not installed"

# Stubs of every value type, multi-value, an import named twice, a name with a newline
# (the trap message shows it as '?'), and a WASI function weft does not have.
cat >"$WORK/stubs.wat" <<'WAT'
(module
  (import "env" "wide" (func $wide (param i64 f32) (result f64)))
  (import "env" "pair" (func $pair (result i32 i64)))
  (import "env" "void" (func $void))
  (import "env" "void" (func $void2))
  (import "env" "line\0abreak" (func $nl (result f32)))
  (import "wasi_snapshot_preview1" "no_such_call" (func $nsc (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "wide") (result f64) (call $wide (i64.const 1) (f32.const 2)))
  (func (export "pair") (result i32 i64) (call $pair))
  (func (export "void") (call $void) (call $void2))
  (func (export "nl") (result f32) (call $nl))
  (func (export "nsc") (result i32) (call $nsc (i32.const 5)))
  (func (export "exit") (call $exit (i32.const 3)))
)
WAT
wat2wasm "$WORK/stubs.wat" -o "$WORK/stubs.wasm" || fail "wat2wasm stubs.wat"
S="$WORK/stubs.wasm"
run "$WEFT" run --unknown-imports=default --invoke wide "$S"
check "default: an f64 result of zero" "$OUT" "0"
run "$WEFT" run --unknown-imports=default --invoke pair "$S"
check "default: two results of zero" "$OUT" "$(printf '0\n0')"
run "$WEFT" run --unknown-imports=default --invoke void "$S"
check "default: a call with no result (the import is named twice)" "$RC/$OUT" "0/"
run "$WEFT" run --unknown-imports=default --invoke nsc "$S"
check "default: a WASI function weft does not have" "$OUT" "0"
run "$WEFT" run --unknown-imports=default --invoke exit "$S"
check "default: the functions weft provides still work" "$RC" 3
run "$WEFT" run --unknown-imports=trap --invoke wide "$S"
check "trap: status" "$RC" 134
check "trap: the import named" "$ERR" "weft: $S: trap: unknown import env.wide called (weft does not provide it)"
run "$WEFT" run --unknown-imports=trap --invoke nl "$S"
check "trap: a name's control characters are not printed" "$ERR" \
  "weft: $S: trap: unknown import env.line?break called (weft does not provide it)"
run "$WEFT" run --unknown-imports=trap --invoke nsc "$S"
check_contains "trap: the WASI function named" "$ERR" "unknown import wasi_snapshot_preview1.no_such_call called"
run "$WEFT" run --invoke exit "$S"
check "refused by default: the first unknown import named" "$ERR" \
  "weft: $S imports env.wide (func (param i64 f32) (result f64)), which weft does not provide"

# Not a function: refused whatever the mode.
for kind in '(global i32)' '(memory 1)' '(table 1 funcref)'; do
  printf '(module (import "env" "thing" %s))' "$kind" >"$WORK/k.wat"
  wat2wasm "$WORK/k.wat" -o "$WORK/k.wasm" || fail "wat2wasm $kind"
  word=${kind%% *}
  word=${word#(}
  run "$WEFT" run --unknown-imports=default "$WORK/k.wasm"
  check "an unknown $word import: refused in default mode" "$RC" 1
  check "an unknown $word import: says only functions can be" "$ERR" \
    "weft: $WORK/k.wasm imports env.thing ($word), which weft does not provide (only functions can be left unknown)"
  run "$WEFT" run "$WORK/k.wasm"
  check "an unknown $word import: refused by default" "$ERR" \
    "weft: $WORK/k.wasm imports env.thing ($word), which weft does not provide"
done
finish
