;; Loops that weft's loop pass (src/engine/loops.c) copies into 64-bit addresses behind
;; a guard, each run where the guard lets the copy run and where it must not: arrays
;; that overlap (the copy, vectorized, must keep the loop's order), addresses that wrap
;; at 2^32 (the copy must not run), a last iteration out of bounds (the original runs
;; and traps after its earlier stores), exit conditions of every comparison, signed and
;; unsigned, counting up and down, loops whose count wraps, i32 arithmetic that wraps in
;; values that are not addresses, narrow loads and stores, i64 and float operations.
;; tests/engine/loops.sh checks which of these loops the pass copies (not: a running
;; sum or hash, a loop that only loads, an address that is not affine, a call).
;; Commands run in order on one instance: stores are checked by the loads after them.
(module
  (memory 1 1)
  ;; 0..63: bytes 0x01.. 0x40; 1024..: floats 1.0, 2.0, 3.0, ... written by "init"
  (data (i32.const 0) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10\11\12\13\14\15\16\17\18\19\1a\1b\1c\1d\1e\1f\20")
  (data (i32.const 32) "\21\22\23\24\25\26\27\28\29\2a\2b\2c\2d\2e\2f\30\31\32\33\34\35\36\37\38\39\3a\3b\3c\3d\3e\3f\40")

  ;; f32 at base + 4i = i + 1 for i < n: a copy (lt_s, one induction variable).
  (func (export "init") (param $base i32) (param $n i32)
    (local $i i32)
    (loop $l
      (f32.store (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2)))
        (f32.convert_i32_s (i32.add (local.get $i) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))

  ;; dst[i] += k * src[i], i < n, pointers as induction variables (as clang writes
  ;; matmul's inner loop): the copy is vectorized.
  (func (export "axpy") (param $dst i32) (param $src i32) (param $n i32) (param $k f32)
    (local $i i32)
    (loop $l
      (f32.store (local.get $dst)
        (f32.add (f32.mul (local.get $k) (f32.load (local.get $src))) (f32.load (local.get $dst))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.ne (local.get $i) (local.get $n)))))

  ;; Unrolled by four with i32.add offsets (no static offsets), counted by le_u.
  (func (export "axpy4") (param $dst i32) (param $src i32) (param $last i32) (param $k f32)
    (local $i i32) (local $d i32) (local $s i32)
    (loop $l
      (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
      (f32.store (local.get $d) (f32.add (f32.mul (local.get $k) (f32.load (local.get $s))) (f32.load (local.get $d))))
      (f32.store (i32.add (local.get $d) (i32.const 4))
        (f32.add (f32.mul (local.get $k) (f32.load (i32.add (local.get $s) (i32.const 4)))) (f32.load (i32.add (local.get $d) (i32.const 4)))))
      (f32.store (i32.add (local.get $d) (i32.const 8))
        (f32.add (f32.mul (local.get $k) (f32.load (i32.add (local.get $s) (i32.const 8)))) (f32.load (i32.add (local.get $d) (i32.const 8)))))
      (f32.store (i32.add (local.get $d) (i32.const 12))
        (f32.add (f32.mul (local.get $k) (f32.load (i32.add (local.get $s) (i32.const 12)))) (f32.load (i32.add (local.get $d) (i32.const 12)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $l (i32.le_u (local.get $i) (local.get $last)))))

  ;; The sum of the f32s at base + 4i, i < n, as f64 (a reduction: stays in order).
  (func (export "fsum") (param $base i32) (param $n i32) (result f64)
    (local $i i32) (local $s f64)
    (loop $l
      (local.set $s (f64.add (local.get $s)
        (f64.promote_f32 (f32.load (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))

  ;; FNV-style hash of the bytes at p .. p+n-1 (i64 multiply, wraps): a checksum.
  (func (export "hash") (param $p i32) (param $n i32) (result i64)
    (local $h i64) (local $end i32)
    (local.set $h (i64.const 0xcbf29ce484222325))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (loop $l
      (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load8_u (local.get $p)))
        (i64.const 0x100000001b3)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $end))))
    (local.get $h))

  ;; Counting down with br_if on the counter itself (not zero: go on): bytes
  ;; p[i-1] = (i * 0x01010101 + salt) truncated, i = n .. 1; n = 0 wraps the count.
  (func (export "fill_down") (param $p i32) (param $n i32) (param $salt i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (i32.store8 (i32.add (local.get $p) (local.get $n))
        (i32.add (i32.mul (local.get $n) (i32.const 0x01010101)) (local.get $salt)))
      (br_if $l (local.get $n))))

  ;; i from lo while i <s hi (lo may be negative): q[i - lo] = i16 of (i * 40000).
  (func (export "signed_range") (param $q i32) (param $lo i32) (param $hi i32)
    (local $i i32)
    (local.set $i (local.get $lo))
    (loop $l
      (i32.store16 (i32.add (local.get $q) (i32.shl (i32.sub (local.get $i) (local.get $lo)) (i32.const 1)))
        (i32.mul (local.get $i) (i32.const 40000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $hi)))))

  ;; dst[i] (i64) = (i64 of src16[i] sign-extended) * 0x100000001 ^ (i64 of src8[i]
  ;; zero-extended) << 40, i < n: narrow loads, extensions and i64 arithmetic.
  (func (export "widen") (param $dst i32) (param $src i32) (param $n i32)
    (local $i i32)
    (loop $l
      (i64.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 3)))
        (i64.xor
          (i64.mul (i64.extend_i32_s (i32.load16_s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
            (i64.const 0x100000001))
          (i64.shl (i64.extend_i32_u (i32.load8_u (i32.add (local.get $src) (local.get $i)))) (i64.const 40))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))

  ;; Not copied (an address that is not affine: src[idx[i]]): dst[i] = src[idx[i]].
  (func (export "gather") (param $dst i32) (param $src i32) (param $idx i32) (param $n i32)
    (local $i i32)
    (loop $l
      (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
        (i32.load (i32.add (local.get $src) (i32.shl (i32.load8_u (i32.add (local.get $idx) (local.get $i))) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))

  ;; i from start while i >s stop, stepping down by 3 (gt_s), and ge_u, and ge_s:
  ;; each returns how many times its body ran, and stores each i at base + 4 * count.
  (func (export "down_gt_s") (param $base i32) (param $start i32) (param $stop i32) (result i32)
    (local $i i32) (local $c i32)
    (local.set $i (local.get $start))
    (loop $l
      (i32.store (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))) (local.get $i))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (local.set $i (i32.sub (local.get $i) (i32.const 3)))
      (br_if $l (i32.gt_s (local.get $i) (local.get $stop))))
    (local.get $c))
  (func (export "down_ge_u") (param $base i32) (param $start i32) (param $stop i32) (result i32)
    (local $i i32) (local $c i32)
    (local.set $i (local.get $start))
    (loop $l
      (i32.store (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))) (local.get $i))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const -2)))
      (br_if $l (i32.ge_u (local.get $i) (local.get $stop))))
    (local.get $c))
  (func (export "up_le_s") (param $base i32) (param $start i32) (param $stop i32) (result i32)
    (local $i i32) (local $c i32)
    (local.set $i (local.get $start))
    (loop $l
      (i32.store (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))) (local.get $i))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 5)))
      (br_if $l (i32.le_s (local.get $i) (local.get $stop))))
    (local.get $c))
  (func (export "up_gt_u") (param $base i32) (param $start i32) (param $stop i32) (result i32)
    (local $i i32) (local $c i32)
    (local.set $i (local.get $start))
    (loop $l
      (i32.store (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))) (local.get $i))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.gt_u (local.get $stop) (local.get $i))))
    (local.get $c))

  ;; Loads whose values are dropped, at base + 8i, i < n: out of bounds must trap.
  (func (export "touch") (param $base i32) (param $n i32)
    (local $i i32)
    (loop $l
      (drop (i64.load (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 3)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))

  ;; Float operations in a loop: dst[i] = -(src[i] / d) - 0.5 as f32, NaNs included.
  (func (export "fdiv") (param $dst i32) (param $src i32) (param $n i32) (param $d f32)
    (local $i i32)
    (loop $l
      (f32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
        (f32.sub (f32.neg (f32.div (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
          (local.get $d))) (f32.const 0.5)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))

  ;; Not copied (a call in the body): the same as init.
  (func $one (result i32) (i32.const 1))
  (func (export "init_call") (param $base i32) (param $n i32)
    (local $i i32)
    (loop $l
      (f32.store (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2)))
        (f32.convert_i32_s (i32.add (local.get $i) (call $one))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))

  (func (export "f32_at") (param i32) (result f32) (f32.load (local.get 0)))
  (func (export "i32_at") (param i32) (result i32) (i32.load (local.get 0)))
)

;; The copy runs: init, then axpy over disjoint arrays, checked element by element.
(assert_return (invoke "init" (i32.const 1024) (i32.const 64)))
(assert_return (invoke "f32_at" (i32.const 1024)) (f32.const 1))
(assert_return (invoke "f32_at" (i32.const 1276)) (f32.const 64))
(assert_return (invoke "init" (i32.const 2048) (i32.const 64)))
(assert_return (invoke "axpy" (i32.const 2048) (i32.const 1024) (i32.const 64) (f32.const 0.5)))
(assert_return (invoke "f32_at" (i32.const 2048)) (f32.const 1.5))
(assert_return (invoke "f32_at" (i32.const 2300)) (f32.const 96))
(assert_return (invoke "fsum" (i32.const 2048) (i32.const 64)) (f64.const 3120))

;; Overlapping: dst one element after src, so each iteration reads what the last wrote
;; (a vectorized copy that ignored it would read the old values).
(assert_return (invoke "init" (i32.const 4096) (i32.const 40)))
(assert_return (invoke "axpy" (i32.const 4100) (i32.const 4096) (i32.const 39) (f32.const 1)))
(assert_return (invoke "f32_at" (i32.const 4100)) (f32.const 3))
(assert_return (invoke "f32_at" (i32.const 4104)) (f32.const 6))
(assert_return (invoke "f32_at" (i32.const 4252)) (f32.const 820))
(assert_return (invoke "fsum" (i32.const 4096) (i32.const 40)) (f64.const 11480))
;; ... and dst before src (reads ahead of the writes: any order would do, checked anyway).
(assert_return (invoke "init" (i32.const 4096) (i32.const 40)))
(assert_return (invoke "axpy" (i32.const 4096) (i32.const 4100) (i32.const 39) (f32.const 2)))
(assert_return (invoke "fsum" (i32.const 4096) (i32.const 40)) (f64.const 2458))

;; Unrolled, counted by le_u; and overlapping by two elements.
(assert_return (invoke "init" (i32.const 8192) (i32.const 64)))
(assert_return (invoke "axpy4" (i32.const 8192) (i32.const 1024) (i32.const 60) (f32.const -1)))
(assert_return (invoke "fsum" (i32.const 8192) (i32.const 64)) (f64.const 0))
(assert_return (invoke "init" (i32.const 8192) (i32.const 64)))
(assert_return (invoke "axpy4" (i32.const 8200) (i32.const 8192) (i32.const 56) (f32.const 1)))
(assert_return (invoke "fsum" (i32.const 8192) (i32.const 64)) (f64.const 21455))
(assert_return (invoke "f32_at" (i32.const 8444)) (f32.const 64))

;; Addresses that wrap at 2^32: src = 0xfffffc00 + 4i is out of bounds at once ...
(assert_trap (invoke "axpy" (i32.const 12288) (i32.const 0xfffffc00) (i32.const 4) (f32.const 1)) "out of bounds memory access")
;; ... but base + 4i with base = 2^32 - 8 wraps into bounds from i = 2 on: init's
;; store at i = 0 traps first.
(assert_trap (invoke "init" (i32.const 0xfffffff8) (i32.const 8)) "out of bounds memory access")
;; The count of fill_down wraps when n = 0: its first store (p + 0xffffffff) traps.
(assert_trap (invoke "fill_down" (i32.const 16384) (i32.const 0) (i32.const 0)) "out of bounds memory access")
;; With p = 2^32 - 16384 and n = 16400: p + n - 1 wraps to 15, bytes 0..15 are written
;; from the top down, then p + 16383 = 2^32 - 1 traps: bytes 0..15 keep the new values
;; (byte k: the low byte of (16384 + k) * 0x01010101 + 7).
(assert_trap (invoke "fill_down" (i32.const 0xffffc000) (i32.const 16400) (i32.const 7)) "out of bounds memory access")
(assert_return (invoke "i32_at" (i32.const 0)) (i32.const 0x0a090807))
(assert_return (invoke "i32_at" (i32.const 12)) (i32.const 0x16151413))
(assert_return (invoke "hash" (i32.const 0) (i32.const 64)) (i64.const 0x4f3b611b034767c5))

;; The last iteration out of bounds: the original runs, its earlier stores stay.
(assert_return (invoke "init" (i32.const 65280) (i32.const 64)))
(assert_trap (invoke "init" (i32.const 65288) (i32.const 64)) "out of bounds memory access")
(assert_return (invoke "f32_at" (i32.const 65288)) (f32.const 1))
(assert_return (invoke "f32_at" (i32.const 65532)) (f32.const 62))
(assert_return (invoke "touch" (i32.const 65024) (i32.const 64)))
(assert_trap (invoke "touch" (i32.const 65032) (i32.const 64)) "out of bounds memory access")
(assert_trap (invoke "touch" (i32.const 0) (i32.const 8193)) "out of bounds memory access")

;; fill_down in bounds, then the hash of what it wrote.
(assert_return (invoke "fill_down" (i32.const 16384) (i32.const 256) (i32.const 3)))
(assert_return (invoke "hash" (i32.const 16384) (i32.const 256)) (i64.const 0xb39d9d0d1bcb0325))
(assert_return (invoke "i32_at" (i32.const 16384)) (i32.const 0x06050403))

;; Signed ranges, i16 stores wrapping; then widened (loads sign- and zero-extending).
(assert_return (invoke "signed_range" (i32.const 20480) (i32.const -100) (i32.const 100)))
(assert_return (invoke "hash" (i32.const 20480) (i32.const 400)) (i64.const 0x720f8c696a0fb3d5))
(assert_return (invoke "signed_range" (i32.const 20480) (i32.const 5) (i32.const 5)))
(assert_return (invoke "hash" (i32.const 20480) (i32.const 2)) (i64.const 0x090bfb07b5a42416))
(assert_return (invoke "signed_range" (i32.const 20480) (i32.const 0x7ffffff0) (i32.const 0x7fffffff)))
(assert_return (invoke "hash" (i32.const 20480) (i32.const 30)) (i64.const 0x8b5b87192cd19d8c))
(assert_return (invoke "widen" (i32.const 40960) (i32.const 20480) (i32.const 200)))
(assert_return (invoke "hash" (i32.const 40960) (i32.const 1600)) (i64.const 0x18d37c11ce9d3ce9))
(assert_return (invoke "gather" (i32.const 45056) (i32.const 1024) (i32.const 0) (i32.const 64)))
(assert_return (invoke "hash" (i32.const 45056) (i32.const 256)) (i64.const 0x50031d881835c0a5))

;; Every other comparison, including counts of one (the body runs once) and steps that
;; jump over the limit.
(assert_return (invoke "down_gt_s" (i32.const 24576) (i32.const 100) (i32.const 0)) (i32.const 34))
(assert_return (invoke "i32_at" (i32.const 24708)) (i32.const 1))
(assert_return (invoke "down_gt_s" (i32.const 24576) (i32.const -5) (i32.const 0)) (i32.const 1))
;; Down to INT32_MIN: hundreds of millions of iterations, until base + 4 * count
;; leaves the memory.
(assert_trap (invoke "down_gt_s" (i32.const 24576) (i32.const 10) (i32.const -0x80000000)) "out of bounds memory access")
(assert_return (invoke "down_ge_u" (i32.const 24576) (i32.const 100) (i32.const 10)) (i32.const 46))
(assert_return (invoke "i32_at" (i32.const 24756)) (i32.const 10))
(assert_return (invoke "down_ge_u" (i32.const 24576) (i32.const 0xffffffff) (i32.const 0xfffffff0)) (i32.const 8))
(assert_return (invoke "up_le_s" (i32.const 24576) (i32.const -50) (i32.const 50)) (i32.const 21))
(assert_return (invoke "i32_at" (i32.const 24656)) (i32.const 50))
(assert_return (invoke "up_le_s" (i32.const 24576) (i32.const 0x7fffff00) (i32.const 0x7ffffff0)) (i32.const 49))
(assert_return (invoke "up_gt_u" (i32.const 24576) (i32.const 0) (i32.const 300)) (i32.const 300))
(assert_return (invoke "up_gt_u" (i32.const 24576) (i32.const 0xfffffff0) (i32.const 0xffffffff)) (i32.const 15))
(assert_return (invoke "up_gt_u" (i32.const 24576) (i32.const 7) (i32.const 3)) (i32.const 1))

;; Float operations: NaN in, NaN out with its sign flipped by the negation.
(assert_return (invoke "init" (i32.const 28672) (i32.const 16)))
(assert_return (invoke "fdiv" (i32.const 32768) (i32.const 28672) (i32.const 16) (f32.const 4)))
(assert_return (invoke "f32_at" (i32.const 32768)) (f32.const -0.75))
(assert_return (invoke "f32_at" (i32.const 32828)) (f32.const -4.5))
(assert_return (invoke "fdiv" (i32.const 32768) (i32.const 28672) (i32.const 16) (f32.const 0)))
(assert_return (invoke "f32_at" (i32.const 32768)) (f32.const -inf))
(assert_return (invoke "init_call" (i32.const 36864) (i32.const 16)))
(assert_return (invoke "fsum" (i32.const 36864) (i32.const 16)) (f64.const 136))
