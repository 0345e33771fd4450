/* 2D convolution of a float image with a 5x5 kernel, repeated (ping-pong buffers).
 * usage: conv2d [SIZE=1024] [PASSES=100]; prints a hash of the final image's float bits
 * and its sum. Without -ffast-math no compiler may reorder the float sums, so every
 * build must produce the same bits. */
#include "bench.h"

#include <string.h>

#define KS 5
#define KR (KS / 2)

static void convolve(const float *in, float *out, int n, const float k[KS * KS]) {
    for (int y = KR; y < n - KR; y++) {
        for (int x = KR; x < n - KR; x++) {
            float acc = 0.0f;
            for (int ky = 0; ky < KS; ky++) {
                const float *row = in + (size_t)(y + ky - KR) * n + (x - KR);
                for (int kx = 0; kx < KS; kx++)
                    acc += row[kx] * k[ky * KS + kx];
            }
            out[(size_t)y * n + x] = acc;
        }
    }
}

int main(int argc, char **argv) {
    int n = (int)bench_arg(argc, argv, 1, 1024);
    long passes = bench_arg(argc, argv, 2, 100);
    if (n < KS || n > 16384) {
        fprintf(stderr, "conv2d: SIZE must be between %d and 16384\n", KS);
        return 2;
    }
    size_t cells = (size_t)n * n;
    float *a = bench_alloc(cells * sizeof(float));
    float *b = bench_alloc(cells * sizeof(float));
    bench_clock_t start = bench_now();
    uint64_t seed = 0xC0FFEE1234ULL;
    for (size_t i = 0; i < cells; i++)
        a[i] = (float)(bench_rand(&seed) >> 40) / (float)(1 << 24);
    memcpy(b, a, cells * sizeof(float)); /* borders are never written: keep them equal */

    /* A separable binomial blur minus a little of the centre (a mild sharpen), so the
     * values neither vanish nor explode over many passes. */
    static const float w[KS] = {1, 4, 6, 4, 1};
    float k[KS * KS];
    for (int i = 0; i < KS; i++)
        for (int j = 0; j < KS; j++)
            k[i * KS + j] = w[i] * w[j] / 256.0f;
    k[KR * KS + KR] += 0.0625f;
    for (int i = 0; i < KS * KS; i++)
        k[i] /= 1.0625f;

    for (long p = 0; p < passes; p++) {
        convolve(a, b, n, k);
        float *t = a;
        a = b;
        b = t;
    }
    bench_report(start);
    uint64_t h = 0xcbf29ce484222325ULL;
    double sum = 0;
    for (size_t i = 0; i < cells; i++) {
        uint32_t bits;
        memcpy(&bits, &a[i], 4);
        h = (h ^ bits) * 0x100000001b3ULL;
        sum += a[i];
    }
    printf("conv2d %dx%d x %ld: %016llx %.6f\n", n, n, passes, (unsigned long long)h, sum);
    free(a);
    free(b);
    return 0;
}
