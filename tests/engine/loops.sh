# The loop pass (src/engine/loops.c): which loops of tests/engine/wast/loops.wast it
# copies into 64-bit addresses (engine.wast checks what they compute, at every level),
# and that the copy of a matrix multiply's inner loop, clang's wasm of
# bench/engine/matmul.c, is vectorized and computes what the native build computes.
. "$TESTS_DIR/lib.sh"
command -v wast2json >/dev/null || skip "wast2json (Debian's wabt) is not installed"

(cd "$WORK" && wast2json "$TESTS_DIR/engine/wast/loops.wast" -o loops.json) >"$WORK/w2j.log" 2>&1
check "wast2json loops.wast" "$?" 0
WEFT_KEEP_BUILD=1 "$WEFT" compile -q --cache-dir "$WORK/cache" "$WORK/loops.0.wasm" >/dev/null
check "weft compile loops.wast's module" "$?" 0
c=$(ls "$WORK"/cache/tmp-*/module.c 2>/dev/null | head -1)
# The functions holding a copy, in order (not fsum and hash: a value carried from one
# iteration to the next; touch: loads only; gather: an address that is not affine;
# init_call: a call).
copied=$(awk '/^static .*w2c_.*\(Z_.*\) \{$/ { match($0, /w2c_[a-zA-Z0-9_]*\(/); f = substr($0, RSTART + 4, RLENGTH - 5) }
              /versioned \(loops.c\)/ { printf "%s ", f }' "$c")
check "the loops copied" "$copied" \
  "init axpy axpy4 fill_down signed_range widen down_gt_s down_ge_u up_le_s up_gt_u fdiv "

# matmul, small: the same checksum as gcc's native build, and packed multiplies.
"${CC:-cc}" -O2 -I"$SRC/bench/engine" "$SRC/bench/engine/matmul.c" -o "$WORK/matmul.native" -lm
clang --target=wasm32-wasi -O2 -I"$SRC/bench/engine" "$SRC/bench/engine/matmul.c" -o "$WORK/matmul.wasm"
check "matmul built natively and to wasm" "$?" 0
native=$("$WORK/matmul.native" 128 2 2>/dev/null)
run "$WEFT" run --cache-dir "$WORK/cache" "$WORK/matmul.wasm" 128 2
check "matmul under weft" "$RC:$OUT" "0:$native"
so=$(ls -t "$WORK"/cache/*.so | head -1)
case $(uname -m) in
x86_64) packed=$(objdump -d "$so" | grep -c 'mulps') ;;
aarch64) packed=$(objdump -d "$so" | grep -c 'fmul.*v[0-9]*\.4s') ;;
*) packed=skip ;;
esac
[ "$packed" = skip ] || check "matmul's inner loop vectorized (packed multiplies)" "$([ "$packed" -gt 0 ] && echo yes)" yes
finish
