// guest-flags: -msimd128
/* Uses SIMD through explicit intrinsics over memory, so clang cannot fold it away:
 * weft must refuse it naming the first SIMD instruction. */
#include <stdio.h>
#include <stdlib.h>
#include <wasm_simd128.h>

static int data[1024];

int main(void) {
    for (int i = 0; i < 1024; i++)
        data[i] = rand();
    v128_t acc = wasm_i32x4_splat(0);
    for (int i = 0; i < 1024; i += 4)
        acc = wasm_i32x4_add(acc, wasm_v128_load(&data[i]));
    printf("%d %d\n", wasm_i32x4_extract_lane(acc, 1), wasm_i32x4_extract_lane(acc, 2));
    return 0;
}
