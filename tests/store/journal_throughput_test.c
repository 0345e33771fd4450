/* store: how many durable appends per second the SQLite journal takes, with fsync on, from
 * 1, 8 and 64 threads appending single records, 8 threads appending batches of 100, and
 * one thread keeping many asynchronous appends in flight (an event loop answering POSTs).
 * Records are 300 bytes with a dedupe key, as small events are.
 *
 * It prints figures and checks only that every acknowledged record is there: timings
 * depend on the machine and on what else runs, so nothing is asserted on them. Each case
 * runs 0.3 s; WEFT_JOURNAL_BENCH_SECONDS=5 measures for longer. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

enum { RECORD = 300, MAX_SAMPLES = 1 << 20 };

static char dir[256];
static double seconds = 0.3;

typedef struct run {
    weft_journal_stream_t *s;
    int threads, batch;
    uint64_t deadline;
    pthread_mutex_t mu;
    uint64_t acked;
    uint64_t *lat_ns; /* per append call */
    size_t nlat;
    int failures;
    uint64_t key_base;
} run_t;

static void record_of(char *data, char *key, size_t keysize, uint64_t n) {
    memset(data, 'e', RECORD);
    snprintf(key, keysize, "23:https://example.com/src%" PRIu64, n);
    memcpy(data, key, strlen(key));
}

static void add_latency(run_t *r, const uint64_t *lat, size_t n, uint64_t acked) {
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n && r->nlat < MAX_SAMPLES; i++)
        r->lat_ns[r->nlat++] = lat[i];
    r->acked += acked;
    pthread_mutex_unlock(&r->mu);
}

typedef struct worker {
    run_t *r;
    int id;
} worker_t;

static void *blocking_appender(void *arg) {
    worker_t *w = arg;
    run_t *r = w->r;
    weft_journal_entry_t *e = calloc((size_t)r->batch, sizeof *e);
    weft_journal_ack_t *acks = calloc((size_t)r->batch, sizeof *acks);
    char(*data)[RECORD] = calloc((size_t)r->batch, RECORD);
    char(*keys)[64] = calloc((size_t)r->batch, 64);
    static __thread uint64_t lat[4096];
    size_t nlat = 0;
    uint64_t acked = 0, n = 0;
    while (weft_now_ns() < r->deadline) {
        for (int k = 0; k < r->batch; k++) {
            record_of(data[k], keys[k], sizeof keys[k],
                      r->key_base + ((uint64_t)w->id << 32) + n++);
            e[k] = (weft_journal_entry_t){data[k], RECORD, keys[k], strlen(keys[k])};
        }
        uint64_t t0 = weft_now_ns();
        weft_error_t err = {0};
        if (weft_journal_append(r->s, e, (size_t)r->batch, acks, &err) != 0) {
            fprintf(stderr, "append: %s\n", err.msg);
            pthread_mutex_lock(&r->mu);
            r->failures++;
            pthread_mutex_unlock(&r->mu);
            break;
        }
        lat[nlat++] = weft_now_ns() - t0;
        acked += (uint64_t)r->batch;
        if (nlat == sizeof lat / sizeof lat[0]) {
            add_latency(r, lat, nlat, acked);
            nlat = 0;
            acked = 0;
        }
    }
    add_latency(r, lat, nlat, acked);
    free(e);
    free(acks);
    free(data);
    free(keys);
    return NULL;
}

/* One thread, `window` appends in flight: a new one as soon as one completes. */
typedef struct inflight {
    run_t *r;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int in_flight;
    uint64_t acked;
    int failures;
} inflight_t;

typedef struct pending {
    inflight_t *f;
    uint64_t t0;
} pending_t;

static void async_done(void *arg, int status, const weft_journal_ack_t *acks, size_t n,
                       const char *message) {
    pending_t *p = arg;
    inflight_t *f = p->f;
    uint64_t lat = weft_now_ns() - p->t0;
    free(p);
    add_latency(f->r, &lat, 1, 0);
    pthread_mutex_lock(&f->mu);
    f->in_flight--;
    if (status == 0)
        f->acked += n;
    else
        f->failures++;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static void run_async(run_t *r, int window) {
    inflight_t f = {.r = r};
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cond, NULL);
    char data[RECORD], key[64];
    uint64_t n = 0;
    while (weft_now_ns() < r->deadline) {
        pthread_mutex_lock(&f.mu);
        while (f.in_flight >= window)
            pthread_cond_wait(&f.cond, &f.mu);
        f.in_flight++;
        pthread_mutex_unlock(&f.mu);
        record_of(data, key, sizeof key, r->key_base + n++);
        weft_journal_entry_t e = {data, RECORD, key, strlen(key)};
        pending_t *p = malloc(sizeof *p);
        p->f = &f;
        p->t0 = weft_now_ns();
        weft_error_t err = {0};
        if (weft_journal_append_async(r->s, &e, 1, async_done, p, &err) != 0) {
            free(p);
            pthread_mutex_lock(&f.mu);
            f.in_flight--;
            pthread_mutex_unlock(&f.mu);
            if (err.code != WEFT_ELIMIT) {
                fprintf(stderr, "append: %s\n", err.msg);
                f.failures++;
                break;
            }
        }
    }
    pthread_mutex_lock(&f.mu);
    while (f.in_flight)
        pthread_cond_wait(&f.cond, &f.mu);
    pthread_mutex_unlock(&f.mu);
    r->acked = f.acked;
    r->failures += f.failures;
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cond);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *label, int threads, int batch, int window) {
    static int round;
    char path[512];
    snprintf(path, sizeof path, "%s/bench%d.db", dir, round++);
    weft_journal_t *j = NULL;
    weft_journal_stream_t *s = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_open(path, NULL, &j, &err), 0);
    if (!j) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_EQ_INT(weft_journal_stream(j, "b", &s, &err), 0);
    run_t r = {.s = s, .threads = threads, .batch = batch};
    pthread_mutex_init(&r.mu, NULL);
    r.lat_ns = malloc(MAX_SAMPLES * sizeof *r.lat_ns);
    uint64_t t0 = weft_now_ns();
    r.deadline = t0 + (uint64_t)(seconds * 1e9);
    if (window) {
        run_async(&r, window);
    } else {
        pthread_t *th = calloc((size_t)threads, sizeof *th);
        worker_t *w = calloc((size_t)threads, sizeof *w);
        for (int i = 0; i < threads; i++) {
            w[i] = (worker_t){&r, i};
            pthread_create(&th[i], NULL, blocking_appender, &w[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        free(th);
        free(w);
    }
    double elapsed = (double)(weft_now_ns() - t0) / 1e9;
    qsort(r.lat_ns, r.nlat, sizeof *r.lat_ns, cmp_u64);
    double p50 = r.nlat ? (double)r.lat_ns[r.nlat / 2] / 1e6 : 0;
    double p99 = r.nlat ? (double)r.lat_ns[r.nlat * 99 / 100] / 1e6 : 0;
    printf("%-34s %9.0f records/s  (%" PRIu64 " in %.2f s; per append: p50 %.2f ms, p99 %.2f "
           "ms)\n",
           label, (double)r.acked / elapsed, r.acked, elapsed, p50, p99);
    fflush(stdout);
    CHECK_EQ_INT(r.failures, 0);
    CHECK(r.acked > 0);
    CHECK_EQ_INT(weft_journal_latest(s), r.acked);
    /* Every acknowledged record is there. */
    uint64_t after = 0, count = 0;
    for (;;) {
        weft_journal_page_t page;
        if (weft_journal_read(s, after, 4096, 0, &page, &err) != 0 || page.n == 0) {
            weft_journal_page_free(&page);
            break;
        }
        count += page.n;
        after = page.records[page.n - 1].seq;
        weft_journal_page_free(&page);
    }
    CHECK_EQ_INT(count, r.acked);
    free(r.lat_ns);
    pthread_mutex_destroy(&r.mu);
    weft_journal_close(j);
}

int main(void) {
    const char *env = getenv("WEFT_JOURNAL_BENCH_SECONDS");
    if (env && atof(env) > 0)
        seconds = atof(env);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/weft-journal-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("durable appends of %d-byte records with a dedupe key, SQLite journal in %s\n", RECORD,
           dir);
    measure("1 thread, single records", 1, 1, 0);
    measure("8 threads, single records", 8, 1, 0);
    measure("64 threads, single records", 64, 1, 0);
    measure("8 threads, batches of 100", 8, 100, 0);
    measure("1 thread, 256 async in flight", 1, 1, 256);
    measure("1 thread, 4096 async in flight", 1, 1, 4096);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
