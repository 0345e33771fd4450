/* Integer sort: quicksort (median of three, insertion sort below a cutoff) of random
 * 32-bit keys, hand-written so that the C library's qsort is not what is measured.
 * usage: sort [MILLIONS=4] [ROUNDS=4]; prints a position-weighted sum of each sorted
 * array, folded over the rounds. */
#include "bench.h"

static void insertion(uint32_t *a, long n) {
    for (long i = 1; i < n; i++) {
        uint32_t v = a[i];
        long j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void quicksort(uint32_t *a, long n) {
    while (n > 24) {
        long mid = n / 2;
        uint32_t x = a[0], y = a[mid], z = a[n - 1];
        uint32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i >= j)
                break;
            uint32_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
        /* Recurse into the smaller side, loop on the larger: stack depth stays log n,
         * which matters in a wasm guest's small shadow stack. */
        if (j + 1 < n - j - 1) {
            quicksort(a, j + 1);
            a += j + 1;
            n -= j + 1;
        } else {
            quicksort(a + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    insertion(a, n);
}

int main(int argc, char **argv) {
    long n = bench_arg(argc, argv, 1, 4) * 1000000;
    long rounds = bench_arg(argc, argv, 2, 4);
    uint32_t *a = bench_alloc((size_t)n * sizeof *a);
    bench_clock_t start = bench_now();
    uint64_t seed = 0x50e7ab1eULL, sum = 0;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < n; i++)
            a[i] = (uint32_t)(bench_rand(&seed) >> 32);
        quicksort(a, n);
        uint64_t s = 0;
        for (long i = 0; i < n; i++) {
            if (i && a[i - 1] > a[i]) {
                fprintf(stderr, "sort: not sorted at %ld\n", i);
                return 1;
            }
            s += (uint64_t)a[i] * (uint64_t)(i + 1);
        }
        sum = sum * 31 + s;
    }
    bench_report(start);
    printf("sort %ld keys x %ld: %016llx\n", n, rounds, (unsigned long long)sum);
    free(a);
    return 0;
}
