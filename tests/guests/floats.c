/* Floating point the way wasm defines it: operations wasm2c implements with libm
 * (sqrt, floor, ceil, trunc, nearest, min/max with NaN and signed zero) give the
 * results the spec requires. */
#include <math.h>
#include <stdio.h>

static volatile double d[] = {2.0, -2.5, 2.5, -0.0, 0.0, 1e308};
static volatile float f[] = {9.0f, -1.5f, 1.5f};

int main(void) {
    printf("sqrt %.6f %.3f\n", sqrt(d[0]), (double)sqrtf(f[0]));
    printf("floor %.1f ceil %.1f trunc %.1f\n", floor(d[1]), ceil(d[1]), trunc(d[1]));
    printf("nearest %.1f %.1f %.1f\n", rint(d[2]), rint(d[1]), (double)rintf(f[2]));
    printf("min %.1f max %.1f\n", fmin(d[3], d[4]), fmax(d[3], d[4]));
    printf("signbit(min(-0,0)) %d\n", signbit(__builtin_wasm_min_f64(d[3], d[4])) != 0);
    printf("nan min %d\n", isnan(__builtin_wasm_min_f64(NAN, d[0])));
    printf("overflow %g\n", d[5] * 10);
    printf("copysign %.1f\n", copysign(3.0, d[3]));
    return 0;
}
