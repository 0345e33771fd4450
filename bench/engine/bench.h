/* What every benchmark program shares: a monotonic clock, the line that reports the
 * time of the measured work, and positive integer arguments with defaults.
 *
 * Each program times its own work and prints "bench-seconds WALL CPU" on stderr, so process
 * start-up (and, under weft, loading the artifact) is not counted: run.sh reads that
 * line the same way for the native and the wasm builds. The checksum goes to stdout
 * and must be identical for every build. */
#ifndef BENCH_H
#define BENCH_H

#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    double wall, cpu;
} bench_clock_t;

static inline double bench_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline bench_clock_t bench_now(void) {
    return (bench_clock_t){bench_seconds(CLOCK_MONOTONIC), bench_seconds(CLOCK_PROCESS_CPUTIME_ID)};
}

/* "bench-seconds WALL CPU": CPU time is the process's (under weft, the guest thread's)
 * and leaves out time spent waiting for a core, which matters on a shared machine. */
static inline void bench_report(bench_clock_t start) {
    bench_clock_t end = bench_now();
    fprintf(stderr, "bench-seconds %.6f %.6f\n", end.wall - start.wall, end.cpu - start.cpu);
}

/* argv[i] as a positive integer, or def when absent; exits 2 on anything else. */
static inline long bench_arg(int argc, char **argv, int i, long def) {
    if (i >= argc)
        return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "%s: argument %d must be a positive integer, got '%s'\n", argv[0], i,
                argv[i]);
        exit(2);
    }
    return v;
}

static inline void *bench_alloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory allocating %zu bytes\n", n);
        exit(1);
    }
    return p;
}

/* xorshift64*: the same stream on every build, so inputs and checksums agree. */
static inline uint64_t bench_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
