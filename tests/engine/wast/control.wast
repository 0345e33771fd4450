;; Globals (mutable, immutable, every type), select (every type, either way), br_table
;; (in range, the default for any index past the end, huge indices included), loops
;; whose i32 induction variable wraps around, and modules the spec calls invalid (which
;; weft must refuse). Commands run in order on one instance.
(module
  (global $g32 (mut i32) (i32.const -1))
  (global $g64 (mut i64) (i64.const 0x7fffffffffffffff))
  (global $gf32 (mut f32) (f32.const -0))
  (global $gf64 (mut f64) (f64.const nan:0x1))
  (global $k i32 (i32.const 42))
  (func (export "get32") (result i32) (global.get $g32))
  (func (export "set32") (param i32) (global.set $g32 (local.get 0)))
  (func (export "inc64") (result i64)
    (global.set $g64 (i64.add (global.get $g64) (i64.const 1))) (global.get $g64))
  (func (export "getf32") (result f32) (global.get $gf32))
  (func (export "getf64") (result f64) (global.get $gf64))
  (func (export "setf64") (param f64) (global.set $gf64 (local.get 0)))
  (func (export "k") (result i32) (global.get $k))

  (func (export "select_i32") (param i32 i32 i32) (result i32) (select (local.get 0) (local.get 1) (local.get 2)))
  (func (export "select_i64") (param i64 i64 i32) (result i64) (select (local.get 0) (local.get 1) (local.get 2)))
  (func (export "select_f32") (param f32 f32 i32) (result f32) (select (local.get 0) (local.get 1) (local.get 2)))
  (func (export "select_f64") (param f64 f64 i32) (result f64) (select (result f64) (local.get 0) (local.get 1) (local.get 2)))

  (func (export "br_table") (param i32) (result i32)
    (block $default
      (block $2
        (block $1
          (block $0
            (br_table $0 $1 $2 $default (local.get 0)))
          (return (i32.const 100)))
        (return (i32.const 101)))
      (return (i32.const 102)))
    (i32.const 199))
  ;; A br_table carrying a value out of a block.
  (func (export "br_table_value") (param i32) (result i32)
    (block $b (result i32)
      (block $a (result i32)
        (br_table $a $b $a (i32.const 7) (local.get 0)))
      (i32.add (i32.const 10))))

  ;; Counts iterations of a loop on i from start while i != end, stepping by step (i32,
  ;; wrapping).
  (func (export "count") (param $i i32) (param $end i32) (param $step i32) (result i32)
    (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (local.get $i) (local.get $end)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (local.get $step)))
        (br $l)))
    (local.get $n))
  ;; The sum of i for i = start, start + 1, ... while i <s limit, as i64: a signed loop
  ;; a compiler may not assume stops at the wrap.
  (func (export "sum_to") (param $i i32) (param $limit i32) (result i64)
    (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_s (local.get $i) (local.get $limit)))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_s (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))
  ;; An unsigned i32 counter that wraps past 0xffffffff: the iterations until it is 3.
  (func (export "wrap_until_3") (param $i i32) (result i32)
    (local $n i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i32.ne (local.get $i) (i32.const 3))))
    (local.get $n))
)
(assert_return (invoke "get32") (i32.const -1))
(assert_return (invoke "set32" (i32.const 0x80000000)))
(assert_return (invoke "get32") (i32.const 0x80000000))
(assert_return (invoke "inc64") (i64.const 0x8000000000000000))
(assert_return (invoke "inc64") (i64.const 0x8000000000000001))
(assert_return (invoke "getf32") (f32.const -0))
(assert_return (invoke "getf64") (f64.const nan:0x1))
(assert_return (invoke "setf64" (f64.const -nan:0x8000000000001)))
(assert_return (invoke "getf64") (f64.const -nan:0x8000000000001))
(assert_return (invoke "k") (i32.const 42))

(assert_return (invoke "select_i32" (i32.const 1) (i32.const 2) (i32.const 1)) (i32.const 1))
(assert_return (invoke "select_i32" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 2))
(assert_return (invoke "select_i32" (i32.const 1) (i32.const 2) (i32.const 0x80000000)) (i32.const 1))
(assert_return (invoke "select_i64" (i64.const -1) (i64.const 2) (i32.const -1)) (i64.const -1))
(assert_return (invoke "select_i64" (i64.const -1) (i64.const 2) (i32.const 0)) (i64.const 2))
(assert_return (invoke "select_f32" (f32.const -0) (f32.const 0) (i32.const 1)) (f32.const -0))
(assert_return (invoke "select_f32" (f32.const nan:0x200000) (f32.const 1) (i32.const 1)) (f32.const nan:0x200000))
(assert_return (invoke "select_f64" (f64.const 1) (f64.const -nan:0x1) (i32.const 0)) (f64.const -nan:0x1))
(assert_return (invoke "select_f64" (f64.const 1) (f64.const -0) (i32.const 0)) (f64.const -0))

(assert_return (invoke "br_table" (i32.const 0)) (i32.const 100))
(assert_return (invoke "br_table" (i32.const 1)) (i32.const 101))
(assert_return (invoke "br_table" (i32.const 2)) (i32.const 102))
(assert_return (invoke "br_table" (i32.const 3)) (i32.const 199))
(assert_return (invoke "br_table" (i32.const 4)) (i32.const 199))
(assert_return (invoke "br_table" (i32.const 0x7fffffff)) (i32.const 199))
(assert_return (invoke "br_table" (i32.const 0x80000000)) (i32.const 199))
(assert_return (invoke "br_table" (i32.const -1)) (i32.const 199))
(assert_return (invoke "br_table_value" (i32.const 0)) (i32.const 17))
(assert_return (invoke "br_table_value" (i32.const 1)) (i32.const 7))
(assert_return (invoke "br_table_value" (i32.const 2)) (i32.const 17))
(assert_return (invoke "br_table_value" (i32.const -1)) (i32.const 17))

(assert_return (invoke "count" (i32.const 0xfffffffe) (i32.const 2) (i32.const 1)) (i32.const 4))
(assert_return (invoke "count" (i32.const 0x7ffffffe) (i32.const 0x80000002) (i32.const 1)) (i32.const 4))
(assert_return (invoke "count" (i32.const 0xfffffff0) (i32.const 0x10) (i32.const 4)) (i32.const 8))
(assert_return (invoke "count" (i32.const 0x10) (i32.const 0xfffffff0) (i32.const -4)) (i32.const 8))
(assert_return (invoke "count" (i32.const 0x40000000) (i32.const 0) (i32.const 0x40000000)) (i32.const 3))
(assert_return (invoke "sum_to" (i32.const 0x7ffffffd) (i32.const 0x7fffffff)) (i64.const 0xfffffffb))
(assert_return (invoke "sum_to" (i32.const -3) (i32.const 3)) (i64.const -3))
(assert_return (invoke "wrap_until_3" (i32.const 0xfffffffd)) (i32.const 6))
(assert_return (invoke "wrap_until_3" (i32.const 2)) (i32.const 1))

;; invalid: weft refuses each
(assert_invalid
  (module (func (result i32) (i64.const 0)))
  "type mismatch")
(assert_invalid
  (module (func (param i32) (result i32) (select (local.get 0) (i64.const 1) (i32.const 1))))
  "type mismatch")
(assert_invalid
  (module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))
  "global is immutable")
(assert_invalid
  (module (memory 1) (func (drop (i32.load align=8 (i32.const 0)))))
  "alignment must not be larger than natural")
(assert_invalid
  (module (func (block (br 2))))
  "unknown label")
(assert_invalid
  (module (func (call_indirect (type 0) (i32.const 0))) (type (func)))
  "unknown table")
