# Module shapes the C guests do not produce: no memory at all; a start function (its
# module keeps its data in the generated C, which must be in place before start runs);
# an export whose name needs wasm2c's escaping; memory.grow past the module's own
# maximum, which returns -1 (only weft's --max-memory makes growing a trap).
. "$TESTS_DIR/lib.sh"

cat >"$WORK/nomem.wat" <<'WAT'
(module (func (export "_start") nop))
WAT
cat >"$WORK/shapes.wat" <<'WAT'
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 2)
  (global $started (mut i32) (i32.const 0))
  (data (i32.const 16) "started\n")
  (func $init (global.set $started (i32.load8_u (i32.const 16))))
  (start $init)
  (func $say
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (if (global.get $started) (then (call $say))))
  (func (export "weird-name Z!") (call $say))
  (func (export "grow")
    (if (i32.ne (memory.grow (i32.const 5)) (i32.const -1)) (then unreachable))
    (if (i32.ne (memory.grow (i32.const 1)) (i32.const 1)) (then unreachable))
    (call $say)))
WAT
wat2wasm "$WORK/nomem.wat" -o "$WORK/nomem.wasm" && wat2wasm "$WORK/shapes.wat" -o "$WORK/shapes.wasm"
check "wat2wasm" "$?" 0

run "$WEFT" run "$WORK/nomem.wasm"
check "a module without memory runs" "$RC" 0
run "$WEFT" run "$WORK/shapes.wasm"
check "start ran after the data was in place" "$OUT" "started"
run "$WEFT" run --invoke "weird-name Z!" "$WORK/shapes.wasm"
check "an export with an escaped name is callable" "$OUT" "started"
run "$WEFT" run --invoke grow "$WORK/shapes.wasm"
check "grow past the module's maximum returns -1, growing within it works" "$RC:$OUT" "0:started"
run "$WEFT" run --max-memory 64KiB --invoke grow "$WORK/shapes.wasm"
check "grow past --max-memory traps" "$RC" 134
check_contains "... saying why" "$ERR" "memory limit exceeded"
finish
