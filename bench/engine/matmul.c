/* Float matrix multiply C = A * B of N x N matrices with i-k-j loops (the inner loop runs
 * along a row of B and of C, the order compilers vectorize), repeated; each repetition
 * feeds a little of the previous result back into A so no repetition can be skipped.
 * usage: matmul [N=1024] [REPS=9], N a multiple of 16; prints a hash of the result's float
 * bits and its sum. Each element's sum is taken in the same k order on every build (no
 * -ffast-math), so every build must produce the same bits. */
#include "bench.h"

#include <string.h>

static void multiply(const float *restrict a, const float *restrict b, float *restrict c, int n) {
    memset(c, 0, (size_t)n * n * sizeof(float));
    for (int i = 0; i < n; i++) {
        float *crow = c + (size_t)i * n;
        for (int k = 0; k < n; k++) {
            float aik = a[(size_t)i * n + k];
            const float *brow = b + (size_t)k * n;
            /* In blocks of 16: a constant trip count that gcc -O2 vectorizes too. */
            for (int j0 = 0; j0 < n; j0 += 16)
                for (int j = j0; j < j0 + 16; j++)
                    crow[j] += aik * brow[j];
        }
    }
}

int main(int argc, char **argv) {
    int n = (int)bench_arg(argc, argv, 1, 1024);
    long reps = bench_arg(argc, argv, 2, 9);
    if (n > 8192 || n % 16 != 0) {
        fprintf(stderr, "matmul: N must be a multiple of 16, at most 8192\n");
        return 2;
    }
    size_t cells = (size_t)n * n;
    float *a = bench_alloc(cells * sizeof(float));
    float *b = bench_alloc(cells * sizeof(float));
    float *c = bench_alloc(cells * sizeof(float));
    bench_clock_t start = bench_now();
    uint64_t seed = 0x6D61746D756CULL;
    /* A in [-0.5, 0.5), B in [-4/N, 4/N): the sums stay of order 1. */
    float scale = 1.0f / (float)n;
    for (size_t i = 0; i < cells; i++)
        a[i] = ((float)(bench_rand(&seed) >> 40) / (float)(1 << 24) - 0.5f);
    for (size_t i = 0; i < cells; i++)
        b[i] = ((float)(bench_rand(&seed) >> 40) / (float)(1 << 24) - 0.5f) * scale * 8.0f;

    for (long r = 0; r < reps; r++) {
        multiply(a, b, c, n);
        /* Mix the result into A's diagonal band, so the next product depends on this one. */
        for (int i = 0; i < n; i++)
            a[(size_t)i * n + i] = 0.5f * a[(size_t)i * n + i] + 0.25f * c[(size_t)i * n + i];
    }
    bench_report(start);
    uint64_t h = 0xcbf29ce484222325ULL;
    double sum = 0;
    for (size_t i = 0; i < cells; i++) {
        uint32_t bits;
        memcpy(&bits, &c[i], 4);
        h = (h ^ bits) * 0x100000001b3ULL;
        sum += c[i];
    }
    printf("matmul %dx%d x %ld: %016llx %.6f\n", n, n, reps, (unsigned long long)h, sum);
    free(a);
    free(b);
    free(c);
    return 0;
}
