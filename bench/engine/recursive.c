/* Call-heavy recursion: naive Fibonacci, Takeuchi's function, Ackermann's function with
 * small arguments, and
 * building a binary tree recursively (nodes from one array) then summing it recursively.
 * Each repetition shifts the arguments a little so no call can be hoisted out.
 * usage: recursive [FIB=35] [REPS=50]; prints a hash of every result. */
#include "bench.h"

typedef struct node {
    struct node *left, *right;
    uint32_t value;
} node_t;

static uint32_t fib(uint32_t n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static uint32_t tak(uint32_t x, uint32_t y, uint32_t z) {
    return y < x ? tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y)) : z;
}

static uint32_t ack(uint32_t m, uint32_t n) {
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

/* Builds a tree of the given depth from pool[*used...]; values follow a simple mix. */
static node_t *build(node_t *pool, size_t *used, int depth, uint32_t seed) {
    node_t *t = &pool[(*used)++];
    t->value = seed * 2654435761u >> 7;
    t->left = depth > 0 ? build(pool, used, depth - 1, seed * 2 + 1) : NULL;
    t->right = depth > 0 ? build(pool, used, depth - 1, seed * 2 + 2) : NULL;
    return t;
}

/* A sum that depends on the shape: each level folds its children differently. */
static uint32_t walk(const node_t *t) {
    if (!t)
        return 1;
    uint32_t l = walk(t->left), r = walk(t->right);
    return (l * 31 + r) ^ t->value;
}

int main(int argc, char **argv) {
    uint32_t n = (uint32_t)bench_arg(argc, argv, 1, 35);
    long reps = bench_arg(argc, argv, 2, 50);
    if (n > 40) {
        fprintf(stderr, "recursive: FIB must be at most 40\n");
        return 2;
    }
    /* A tree of 2^(depth+1) - 1 nodes: depth FIB-16, between 4 and 18. */
    int depth = (int)n - 16 < 4 ? 4 : (int)n - 16 > 18 ? 18 : (int)n - 16;
    node_t *pool = bench_alloc(((size_t)2 << depth) * sizeof(node_t));
    uint64_t h = 0xcbf29ce484222325ULL;
    bench_clock_t start = bench_now();
    for (long r = 0; r < reps; r++) {
        h = (h ^ fib(n - (uint32_t)(r & 1))) * 0x100000001b3ULL;
        h = (h ^ tak(22 + (uint32_t)(r & 1), 16, 8)) * 0x100000001b3ULL;
        h = (h ^ ack(2, 500 + (uint32_t)r)) * 0x100000001b3ULL;
        h = (h ^ ack(3, 6 + (uint32_t)(r & 3))) * 0x100000001b3ULL;
        for (int k = 0; k < 8; k++) {
            size_t used = 0;
            node_t *root = build(pool, &used, depth, (uint32_t)(r * 8 + k));
            h = (h ^ walk(root)) * 0x100000001b3ULL;
        }
    }
    bench_report(start);
    printf("recursive fib(%u) x %ld: %016llx\n", n, reps, (unsigned long long)h);
    free(pool);
    return 0;
}
