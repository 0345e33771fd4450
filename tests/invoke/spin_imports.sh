# Spin 1's host interfaces are imports like any other: one weft does not provide
# (spin-config.nope) refuses the module before compiling, naming it, unless unknown
# imports are allowed; the ones it provides load through the plugin in a plain run.
. "$TESTS_DIR/lib.sh"

M="$GUESTS/spin_unknown.wasm"
run "$WEFT" run "$M"
check "unknown Spin import: status" "$RC" 1
check "unknown Spin import: named" "$ERR" \
  "weft: $M imports spin-config.nope (func (param i32) (result i32)), which weft does not provide"

run "$WEFT" run --unknown-imports=trap "$M" config
check "trap mode: status" "$RC" 0
check "trap mode: get-config answers, without a configuration" "$OUT" \
  "ok
tag 1 case 3: unknown config path: $M.greeting"

run "$WEFT" run --unknown-imports=trap "$M" nope
check "trap mode: calling it traps" "$RC" 134
check_contains "trap mode: the trap names it" "$ERR" "unknown import spin-config.nope called"

run "$WEFT" run --unknown-imports=default "$M" nope
check "default mode: status" "$RC" 0
check "default mode: zeros" "$OUT" "ok
0"
finish
