;; Calls: direct, multi-value, call_indirect with the right type, a wrong type, an
;; index past the table's end and a null entry; unreachable; recursion deep but
;; bounded, and unbounded (call stack exhausted), after which the instance still runs;
;; runaway recursion through tail calls, which must exhaust the stack too (in a module of
;; its own, at the end).
;;
;; Trap kinds: the spec says "indirect call type mismatch" for a wrong type, "undefined
;; element" for an index past the end and "uninitialized element" for a null entry;
;; weft (wasm2c 1.0.32's one CALL_INDIRECT check) reports all three as "indirect call
;; type mismatch" (tests/engine/wast.py, TRAP_KINDS).
(module
  (type $i32->i32 (func (param i32) (result i32)))
  (type $i64->i64 (func (param i64) (result i64)))
  (type $same (func (param i32) (result i32)))
  (type $void (func))
  (table 5 funcref)
  (elem (i32.const 0) $inc $inc64 $dec $fac_ind)
  (func $inc (type $i32->i32) (i32.add (local.get 0) (i32.const 1)))
  (func $inc64 (type $i64->i64) (i64.add (local.get 0) (i64.const 1)))
  (func $dec (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
  (func $fac_ind (type $i64->i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 1))
      (else (i64.mul (local.get 0)
        (call_indirect (type $i64->i64) (i64.sub (local.get 0) (i64.const 1)) (i32.const 3))))))

  (func (export "call_i32") (param i32 i32) (result i32)
    (call_indirect (type $i32->i32) (local.get 1) (local.get 0)))
  (func (export "call_same") (param i32 i32) (result i32)
    (call_indirect (type $same) (local.get 1) (local.get 0)))
  (func (export "call_i64") (param i32 i64) (result i64)
    (call_indirect (type $i64->i64) (local.get 1) (local.get 0)))
  (func (export "call_void") (param i32)
    (call_indirect (type $void) (local.get 0)))
  (func (export "fac") (param i64) (result i64)
    (call_indirect (type $i64->i64) (local.get 0) (i32.const 3)))

  (func (export "swap") (param i32 i64) (result i64 i32) (local.get 1) (local.get 0))
  (func (export "unreachable") (result i32) (unreachable))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get 0) (i32.const 1)))))))
  ;; Recursion no compiler turns into a loop: the call's result is rotated by the
  ;; caller's own argument.
  (func $forever (export "forever") (param i32) (result i32)
    (i32.rotl (call $forever (i32.add (local.get 0) (i32.const 1))) (local.get 0)))
  (func $ping (param i32) (result i32)
    (i32.rotl (call $pong (i32.add (local.get 0) (i32.const 1))) (local.get 0)))
  (func $pong (param i32) (result i32)
    (i32.rotl (call $ping (i32.add (local.get 0) (i32.const 3))) (local.get 0)))
  (func (export "mutual") (param i32) (result i32) (call $ping (local.get 0)))
)
(assert_return (invoke "call_i32" (i32.const 0) (i32.const 41)) (i32.const 42))
(assert_return (invoke "call_i32" (i32.const 2) (i32.const 0)) (i32.const -1))
(assert_return (invoke "call_same" (i32.const 0) (i32.const 1)) (i32.const 2))
(assert_return (invoke "call_i64" (i32.const 1) (i64.const -1)) (i64.const 0))
(assert_return (invoke "fac" (i64.const 20)) (i64.const 2432902008176640000))
(assert_return (invoke "fac" (i64.const 25)) (i64.const 7034535277573963776))
(assert_trap (invoke "call_i32" (i32.const 1) (i32.const 0)) "indirect call type mismatch")
(assert_trap (invoke "call_i64" (i32.const 0) (i64.const 0)) "indirect call type mismatch")
(assert_trap (invoke "call_void" (i32.const 2)) "indirect call type mismatch")
(assert_trap (invoke "call_i32" (i32.const 4) (i32.const 0)) "uninitialized element")
(assert_trap (invoke "call_void" (i32.const 4)) "uninitialized element")
(assert_trap (invoke "call_i32" (i32.const 5) (i32.const 0)) "undefined element")
(assert_trap (invoke "call_i32" (i32.const -1) (i32.const 0)) "undefined element")
(assert_trap (invoke "call_i32" (i32.const 0x80000000) (i32.const 0)) "undefined element")
(assert_return (invoke "swap" (i32.const 1) (i64.const -2)) (i64.const -2) (i32.const 1))
(assert_trap (invoke "unreachable") "unreachable")
(assert_return (invoke "depth" (i32.const 1000)) (i32.const 1000))
(assert_exhaustion (invoke "forever" (i32.const 0)) "call stack exhausted")
(assert_return (invoke "depth" (i32.const 100)) (i32.const 100))
(assert_exhaustion (invoke "mutual" (i32.const 0)) "call stack exhausted")
(assert_return (invoke "call_i32" (i32.const 0) (i32.const 1)) (i32.const 2))
;; Runaway recursion as the spec's call.wast writes it, through tail calls and an
;; accumulator: still an exhausted call stack, never a loop.
(module
  (func $runaway (export "runaway") (call $runaway))
  (func $m1 (export "mutual_runaway") (call $m2))
  (func $m2 (call $m1))
  (func $acc (export "acc_runaway") (param i32) (result i32)
    (i32.add (i32.const 1) (call $acc (i32.add (local.get 0) (i32.const 1)))))
)
(assert_exhaustion (invoke "runaway") "call stack exhausted")
(assert_exhaustion (invoke "mutual_runaway") "call stack exhausted")
(assert_exhaustion (invoke "acc_runaway" (i32.const 0)) "call stack exhausted")
