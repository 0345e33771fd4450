/* A latency histogram for the events benchmark's sink and load generator: nanoseconds
 * in log-linear buckets (64 per power of two, so a percentile is within 1.6% of the
 * value recorded), up to about 18 minutes; larger values count in the last bucket.
 * Header-only: both tools include it. */
#ifndef BENCH_EVENTS_HIST_H
#define BENCH_EVENTS_HIST_H

#include <stdint.h>
#include <string.h>

#define BENCH_HIST_SUB 64     /* buckets per power of two */
#define BENCH_HIST_MAX_BIT 40 /* values from 2^40 ns (~18 min) are clamped */
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * (BENCH_HIST_MAX_BIT - 4))

typedef struct bench_hist {
    uint64_t n;
    uint64_t max;
    uint64_t count[BENCH_HIST_BUCKETS];
} bench_hist_t;

/* The bucket of v: v itself below 128; above, 64 buckets for each power of two. */
static inline unsigned bench_hist_index(uint64_t v) {
    if (v >= (1ull << BENCH_HIST_MAX_BIT))
        v = (1ull << BENCH_HIST_MAX_BIT) - 1;
    if (v < 2 * BENCH_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6;
    return BENCH_HIST_SUB * shift + (unsigned)(v >> shift);
}

/* The middle of bucket i, in ns. */
static inline uint64_t bench_hist_value(unsigned i) {
    if (i < 2 * BENCH_HIST_SUB)
        return i;
    unsigned shift = i / BENCH_HIST_SUB - 1;
    uint64_t lo = (uint64_t)(i - BENCH_HIST_SUB * shift) << shift;
    return lo + ((1ull << shift) >> 1);
}

static inline void bench_hist_add(bench_hist_t *h, uint64_t v) {
    h->count[bench_hist_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

static inline void bench_hist_merge(bench_hist_t *into, const bench_hist_t *h) {
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->count[i] += h->count[i];
    into->n += h->n;
    if (h->max > into->max)
        into->max = h->max;
}

static inline void bench_hist_reset(bench_hist_t *h) {
    memset(h, 0, sizeof *h);
}

/* The value at quantile q (0 < q <= 1), in ns; 0 when empty. */
static inline uint64_t bench_hist_quantile(const bench_hist_t *h, double q) {
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t v = bench_hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

#endif
