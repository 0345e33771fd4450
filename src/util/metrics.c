/* metrics: the registry of counters and histograms (util.h, "Metrics").
 *
 * Each thread that counts gets a block: one 64-bit slot per counter and per histogram
 * bucket of every series, at the same index in every block. Only its thread writes a
 * block (a relaxed load and store: no lock, no atomic read-modify-write, no cache line
 * shared with another writer); a scrape reads every block with relaxed loads and sums
 * them. A block outlives its thread: when the thread ends, its block is marked free
 * and the next thread to count takes it over, counts included, so that the sums only
 * grow. Blocks are mapped (not allocated) so that a block's untouched pages cost no
 * memory: a thread that counts three things touches one page.
 *
 * Listing a series (its first count, or weft_metric_register) takes the registry's
 * lock once; so does a thread's first count (to take a block) and every scrape.
 */
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const uint64_t weft_metric_buckets_fast[] = {
    500000ull,     1000000ull,    2500000ull,    5000000ull,     10000000ull,
    25000000ull,   50000000ull,   100000000ull,  250000000ull,   500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull, 0};
const uint64_t weft_metric_buckets_slow[] = {100000000ull,
                                             250000000ull,
                                             500000000ull,
                                             1000000000ull,
                                             2500000000ull,
                                             5000000000ull,
                                             10000000000ull,
                                             30000000000ull,
                                             60000000000ull,
                                             120000000000ull,
                                             300000000000ull,
                                             600000000000ull,
                                             0};

typedef struct block {
    struct block *next;
    bool in_use; /* a thread counts into it (under lock) */
    _Atomic uint64_t v[WEFT_METRIC_MAX_SLOTS];
} block_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static weft_metric_t *series[WEFT_METRIC_MAX_SERIES];
static size_t nseries;
static uint32_t nslots;
static block_t *blocks;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static _Thread_local block_t *mine;
static bool full_logged;

static const uint64_t *bounds_of(const weft_metric_t *m) {
    return m->bounds_ns ? m->bounds_ns : weft_metric_buckets_fast;
}

static size_t nbounds(const uint64_t *b) {
    size_t n = 0;
    while (b[n])
        n++;
    return n;
}

/* Slots a series takes: a histogram's buckets (+Inf too) and its sum. */
static uint32_t width(const weft_metric_t *m) {
    if (m->read)
        return 0;
    return m->type == WEFT_METRIC_HISTOGRAM ? (uint32_t)nbounds(bounds_of(m)) + 2 : 1;
}

/* With lock. */
static bool list_locked(weft_metric_t *m) {
    if (atomic_load_explicit(&m->slot_, memory_order_relaxed))
        return true;
    uint32_t w = width(m);
    if (nseries == WEFT_METRIC_MAX_SERIES || nslots + w > WEFT_METRIC_MAX_SLOTS) {
        if (!full_logged)
            weft_log("metrics: the registry is full: %s{%s} and later series are not counted",
                     m->name, m->labels ? m->labels : "");
        full_logged = true;
        return false;
    }
    series[nseries++] = m;
    uint32_t first = nslots;
    nslots += w;
    atomic_store_explicit(&m->slot_, first + 1, memory_order_release);
    return true;
}

bool weft_metric_register(weft_metric_t *m) {
    if (atomic_load_explicit(&m->slot_, memory_order_acquire))
        return true;
    pthread_mutex_lock(&lock);
    bool ok = list_locked(m);
    pthread_mutex_unlock(&lock);
    return ok;
}

static void block_release(void *b) {
    pthread_mutex_lock(&lock);
    ((block_t *)b)->in_use = false;
    pthread_mutex_unlock(&lock);
}

static void make_key(void) {
    pthread_key_create(&key, block_release);
}

/* The calling thread's block, taken at its first count; NULL when none can be mapped. */
static block_t *my_block(void) {
    if (mine)
        return mine;
    pthread_once(&key_once, make_key);
    pthread_mutex_lock(&lock);
    block_t *b = blocks;
    while (b && b->in_use)
        b = b->next;
    if (!b) {
        void *p = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            b = p;
            b->next = blocks;
            blocks = b;
        }
    }
    if (b)
        b->in_use = true;
    pthread_mutex_unlock(&lock);
    if (b) {
        mine = b;
        pthread_setspecific(key, b);
    }
    return b;
}

/* The first slot of m in the blocks (listing it first), or -1. */
static long slot_of(weft_metric_t *m) {
    uint32_t s = atomic_load_explicit(&m->slot_, memory_order_acquire);
    if (!s && weft_metric_register(m))
        s = atomic_load_explicit(&m->slot_, memory_order_acquire);
    return s ? (long)s - 1 : -1;
}

/* Only this thread writes its block: a load and a store, no read-modify-write. */
static inline void bump(_Atomic uint64_t *v, uint64_t n) {
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void weft_metric_add(weft_metric_t *m, uint64_t n) {
    long s = slot_of(m);
    block_t *b = s < 0 ? NULL : my_block();
    if (b)
        bump(&b->v[s], n);
}

void weft_metric_observe_ns(weft_metric_t *m, uint64_t ns) {
    long s = slot_of(m);
    block_t *b = s < 0 ? NULL : my_block();
    if (!b)
        return;
    const uint64_t *bounds = bounds_of(m);
    size_t i = 0;
    while (bounds[i] && ns > bounds[i])
        i++;
    bump(&b->v[s + (long)i], 1);                    /* its bucket (bounds[i] is "le") */
    bump(&b->v[s + (long)nbounds(bounds) + 1], ns); /* the sum */
}

weft_metric_t *weft_metric_series(const char *name, const char *help, weft_metric_type_t type,
                                  const char *labels, const uint64_t *bounds_ns) {
    if (!labels)
        labels = "";
    pthread_mutex_lock(&lock);
    weft_metric_t *m = NULL;
    for (size_t i = 0; i < nseries && !m; i++)
        if (!strcmp(series[i]->name, name) &&
            !strcmp(series[i]->labels ? series[i]->labels : "", labels))
            m = series[i];
    if (!m && (m = calloc(1, sizeof *m))) {
        m->name = strdup(name);
        m->help = strdup(help);
        m->labels = strdup(labels);
        m->type = type;
        m->bounds_ns = bounds_ns;
        if (!m->name || !m->help || !m->labels || !list_locked(m)) {
            free((char *)m->name);
            free((char *)m->help);
            free((char *)m->labels);
            free(m);
            m = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    return m;
}

bool weft_metric_label(char *out, size_t cap, const char *name, const char *value) {
    size_t n = strlen(out);
    int w = snprintf(out + n, cap - n, "%s%s=\"", n ? "," : "", name);
    if (w < 0 || (size_t)w >= cap - n)
        return false;
    n += (size_t)w;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t len = esc ? 2 : 1;
        if (n + len + 2 > cap)
            return false;
        memcpy(out + n, esc ? esc : p, len);
        n += len;
    }
    out[n++] = '"';
    out[n] = 0;
    return true;
}

static const char *type_name(weft_metric_type_t t) {
    return t == WEFT_METRIC_COUNTER ? "counter" : t == WEFT_METRIC_GAUGE ? "gauge" : "histogram";
}

/* "{labels}" or "", and "{labels,le=...}". */
static int put_series(weft_buf_t *out, const char *name, const char *suffix, const char *labels,
                      const char *le, const char *value) {
    bool any = labels && *labels;
    return weft_buf_printf(out, "%s%s%s%s%s%s%s%s%s %s\n", name, suffix, any || le ? "{" : "",
                           any ? labels : "", any && le ? "," : "", le ? "le=\"" : "", le ? le : "",
                           le ? "\"" : "", any || le ? "}" : "", value);
}

static int render_one(weft_buf_t *out, const weft_metric_t *m, const uint64_t *sums) {
    char v[64];
    if (m->read) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)m->read());
        return put_series(out, m->name, "", m->labels, NULL, v);
    }
    uint32_t s = atomic_load_explicit(&m->slot_, memory_order_acquire) - 1;
    if (m->type != WEFT_METRIC_HISTOGRAM) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)sums[s]);
        return put_series(out, m->name, "", m->labels, NULL, v);
    }
    const uint64_t *bounds = bounds_of(m);
    size_t nb = nbounds(bounds);
    uint64_t cum = 0;
    int rc = 0;
    for (size_t i = 0; i <= nb && !rc; i++) {
        char le[32];
        cum += sums[s + i];
        if (i < nb)
            snprintf(le, sizeof le, "%g", (double)bounds[i] / 1e9);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
        rc = put_series(out, m->name, "_bucket", m->labels, le, v);
    }
    uint64_t ns = sums[s + nb + 1];
    snprintf(v, sizeof v, "%llu.%09llu", (unsigned long long)(ns / 1000000000ull),
             (unsigned long long)(ns % 1000000000ull));
    if (!rc)
        rc = put_series(out, m->name, "_sum", m->labels, NULL, v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
    if (!rc)
        rc = put_series(out, m->name, "_count", m->labels, NULL, v);
    return rc;
}

int weft_metrics_render(weft_buf_t *out) {
    pthread_mutex_lock(&lock);
    size_t n = nseries;
    uint64_t *sums = calloc(nslots ? nslots : 1, sizeof *sums);
    weft_metric_t **list = malloc((n ? n : 1) * sizeof *list);
    bool *done = calloc(n ? n : 1, sizeof *done);
    if (sums && list && done) {
        for (block_t *b = blocks; b; b = b->next)
            for (uint32_t i = 0; i < nslots; i++)
                sums[i] += atomic_load_explicit(&b->v[i], memory_order_relaxed);
        memcpy(list, series, n * sizeof *list);
    }
    pthread_mutex_unlock(&lock);
    int rc = sums && list && done ? 0 : WEFT_ENOMEM;
    /* Grouped by name, each family in the order its first series was listed. */
    for (size_t i = 0; i < n && !rc; i++) {
        if (done[i])
            continue;
        const weft_metric_t *m = list[i];
        rc = weft_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                             type_name(m->type));
        for (size_t j = i; j < n && !rc; j++) {
            if (done[j] || strcmp(list[j]->name, m->name))
                continue;
            done[j] = true;
            rc = render_one(out, list[j], sums);
        }
    }
    free(sums);
    free(list);
    free(done);
    return rc;
}
