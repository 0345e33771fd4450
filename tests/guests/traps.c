/* Each argument names a way for a guest to trap; the engine must stop it with that
 * trap's name and nothing else going wrong. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int zero = 0;
static volatile int one = 1;
static char *volatile last_block;
static volatile int minus_one = -1;
static volatile float not_a_number = NAN;

typedef int (*int_fn)(int);
typedef double (*double_fn)(double, double);
static int twice(int x) {
    return 2 * x;
}
static volatile int_fn fn_ptr = twice;

/* Recursion through a function pointer with no locals in linear memory: it exhausts
 * the native call stack, not the guest's shadow stack. */
static int recurse(int depth);
static int (*volatile recurse_ptr)(int) = recurse;
static int recurse(int depth) {
    return recurse_ptr(depth + 1) * 3 + depth;
}

/* The same, calling the host at every level: the stack runs out at a host call. The
 * clock is read into a global: a local whose address is taken would live on the
 * guest's own 64 KiB stack in linear memory, which would overflow into its data long
 * before the native stack ran out. */
static struct timespec now;
static int recurse_host(int depth);
static int (*volatile recurse_host_ptr)(int) = recurse_host;
static int recurse_host(int depth) {
    struct timespec *const t = &now;
    clock_gettime(CLOCK_MONOTONIC, t);
    return recurse_host_ptr(depth + 1) * 3 + depth + (int)t->tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: traps KIND\n");
        return 2;
    }
    const char *k = argv[1];
    printf("before %s\n", k);
    fflush(stdout);
    if (!strcmp(k, "oob")) {
        volatile int *p = (volatile int *)(uintptr_t)0xfffffff0u;
        *p = 1;
    } else if (!strcmp(k, "oob-read")) {
        volatile char *p = (volatile char *)(uintptr_t)0x7ffffff0u;
        printf("%d\n", *p);
    } else if (!strcmp(k, "div")) {
        printf("%d\n", one / zero);
    } else if (!strcmp(k, "overflow")) {
        printf("%d\n", INT_MIN / minus_one);
    } else if (!strcmp(k, "conversion")) {
        /* C leaves this undefined and clang guards it; the builtin is the trapping
         * i32.trunc_f32_s instruction itself. */
        printf("%d\n", __builtin_wasm_trunc_s_i32_f32(not_a_number));
    } else if (!strcmp(k, "unreachable")) {
        __builtin_trap();
    } else if (!strcmp(k, "indirect")) {
        double_fn wrong = (double_fn)(void *)fn_ptr;
        printf("%f\n", wrong(1.0, 2.0));
    } else if (!strcmp(k, "stack")) {
        printf("%d\n", recurse(0));
    } else if (!strcmp(k, "stack-host")) {
        printf("%d\n", recurse_host(0));
    } else if (!strcmp(k, "loop")) {
        for (volatile unsigned i = 0;; i++)
            ;
    } else if (!strcmp(k, "flood")) {
        /* Lives in host code (fd_write) as much as in its own. */
        for (unsigned i = 0;; i++)
            fprintf(stderr, "line %u of a guest that never stops writing\n", i);
    } else if (!strcmp(k, "alloc")) {
        /* Touch every byte so the memory is really used. */
        for (size_t total = 0;; total += 1 << 20) {
            char *p = malloc(1 << 20);
            if (!p) {
                printf("malloc failed after %zu MiB\n", total >> 20);
                return 3;
            }
            memset(p, 1, 1 << 20);
            last_block = p; /* keeps the compiler from dropping the allocation */
        }
    } else if (!strcmp(k, "exit")) {
        exit(argc > 2 ? atoi(argv[2]) : 0);
    } else {
        fprintf(stderr, "unknown kind %s\n", k);
        return 2;
    }
    printf("after %s\n", k);
    return 0;
}
