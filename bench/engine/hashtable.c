/* An open-addressing hash table of 64-bit keys and values (linear probing, deletion by
 * backward shift, so no tombstones): each round inserts a batch of generated keys, looks
 * up every one of them (hits) and as many keys never inserted (misses), then deletes
 * every other key of the batch; the table keeps what was not deleted between rounds.
 * usage: hashtable [KEYS=1000000] [ROUNDS=6]; prints the table's final size and a hash
 * of every value found and every probe's outcome. */
#include "bench.h"

#include <string.h>

typedef struct {
    uint64_t *keys; /* 0 marks an empty slot; keys are never 0 */
    uint64_t *vals;
    size_t mask, count;
} table_t;

static size_t slot_of(const table_t *t, uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & t->mask;
}

static void insert(table_t *t, uint64_t key, uint64_t val) {
    size_t i = slot_of(t, key);
    while (t->keys[i] != 0 && t->keys[i] != key)
        i = (i + 1) & t->mask;
    if (t->keys[i] == 0)
        t->count++;
    t->keys[i] = key;
    t->vals[i] = val;
}

/* The value of key, or 0 when absent (values are never 0). */
static uint64_t lookup(const table_t *t, uint64_t key) {
    for (size_t i = slot_of(t, key);; i = (i + 1) & t->mask) {
        if (t->keys[i] == key)
            return t->vals[i];
        if (t->keys[i] == 0)
            return 0;
    }
}

/* Removes key; moves later entries of its probe run back so that no lookup stops early. */
static int erase(table_t *t, uint64_t key) {
    size_t i = slot_of(t, key);
    while (t->keys[i] != key) {
        if (t->keys[i] == 0)
            return 0;
        i = (i + 1) & t->mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->keys[j] == 0)
            break;
        size_t home = slot_of(t, t->keys[j]);
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->keys[i] = t->keys[j];
            t->vals[i] = t->vals[j];
            i = j;
        }
    }
    t->keys[i] = 0;
    t->count--;
    return 1;
}

static uint64_t key_of(uint64_t *seed) {
    return bench_rand(seed) | 1; /* odd keys are inserted; even keys are the misses */
}

int main(int argc, char **argv) {
    long nkeys = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 6);
    if (nkeys > (1L << 26)) {
        fprintf(stderr, "hashtable: KEYS must be at most %ld\n", 1L << 26);
        return 2;
    }
    /* At most nkeys/2 per round stay, plus a batch: a load factor of at most ~0.6. */
    size_t need = (size_t)nkeys / 2 * (size_t)rounds + (size_t)nkeys, cap = 1024;
    while (cap < need + need * 2 / 3)
        cap *= 2;
    table_t t = {bench_alloc(cap * sizeof(uint64_t)), bench_alloc(cap * sizeof(uint64_t)), cap - 1,
                 0};
    uint64_t *batch = bench_alloc((size_t)nkeys * sizeof(uint64_t));
    bench_clock_t start = bench_now();
    memset(t.keys, 0, cap * sizeof(uint64_t));
    uint64_t seed = 0x4A5348544142ULL, h = 0xcbf29ce484222325ULL;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < nkeys; i++) {
            batch[i] = key_of(&seed);
            insert(&t, batch[i], batch[i] * 31 + (uint64_t)r + 1);
        }
        for (long i = 0; i < nkeys; i++) {
            h = (h ^ lookup(&t, batch[i])) * 0x100000001b3ULL;
            h = (h ^ lookup(&t, bench_rand(&seed) & ~1ULL)) * 0x100000001b3ULL;
        }
        for (long i = 0; i < nkeys; i += 2)
            h = (h ^ (uint64_t)erase(&t, batch[i])) * 0x100000001b3ULL;
        for (long i = 0; i < nkeys; i += 7) /* deleted keys miss, kept keys hit */
            h = (h ^ lookup(&t, batch[i])) * 0x100000001b3ULL;
    }
    bench_report(start);
    printf("hashtable %ld keys x %ld: %zu left, %016llx\n", nkeys, rounds, t.count,
           (unsigned long long)h);
    free(batch);
    free(t.keys);
    free(t.vals);
    return 0;
}
