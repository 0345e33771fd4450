/* journal: the part of the journal (store.h) that every backend shares: the choice of the
 * backend by the location's scheme, the checks of what callers pass, the blocking append
 * built on the asynchronous one, and waiting and watches built on the backends'
 * weft_journal_notify. */
#include "store.h"

#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The backends, by scheme. A plain path (no "scheme:" that names one of them, no "://")
 * is the first one's. */
static const weft_journal_ops_t *const backends[] = {&weft_journal_sqlite_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

struct weft_journal_watch {
    weft_journal_watch_t *next;
    weft_journal_watch_fn fn;
    void *arg;
};

struct weft_journal_stream {
    weft_journal_stream_t *next;
    weft_journal_t *j;
    void *st; /* the backend's */
    char *name;
    /* mu guards what follows; cond (CLOCK_MONOTONIC) wakes weft_journal_wait. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t latest;
    uint64_t wakes; /* weft_journal_wake calls */
    weft_journal_watch_t *watches;
};

struct weft_journal {
    const weft_journal_ops_t *ops;
    void *self;
    weft_journal_options_t opts; /* defaults filled in */
    pthread_mutex_t mu;          /* guards streams */
    weft_journal_stream_t *streams;
};

/* A name of a stream or consumer: 1..WEFT_JOURNAL_MAX_NAME bytes of UTF-8, no control
 * characters (they end up in messages and file contents). */
static int check_name(const char *what, const char *name, weft_error_t *err) {
    if (!name || !*name)
        return weft_error_set(err, WEFT_EINVAL, "journal: empty %s name", what);
    size_t n = strlen(name);
    if (n > WEFT_JOURNAL_MAX_NAME)
        return weft_error_set(err, WEFT_EINVAL, "journal: %s name of %zu bytes (at most %d)", what,
                              n, WEFT_JOURNAL_MAX_NAME);
    if (!weft_utf8_valid((const uint8_t *)name, n))
        return weft_error_set(err, WEFT_EINVAL, "journal: %s name is not valid UTF-8", what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return weft_error_set(err, WEFT_EINVAL,
                                  "journal: %s name \"%.*s...\" holds a control character", what,
                                  (int)i, name);
    return 0;
}

/* The backend a location names, or NULL. */
static const weft_journal_ops_t *backend_for(const char *location) {
    const char *colon = strchr(location, ':');
    if (colon) {
        size_t n = (size_t)(colon - location);
        for (size_t i = 0; i < NBACKENDS; i++)
            if (strlen(backends[i]->scheme) == n && memcmp(backends[i]->scheme, location, n) == 0)
                return backends[i];
        if (strncmp(colon, "://", 3) == 0)
            return NULL; /* a URL of a backend this weft does not have */
    }
    return backends[0];
}

int weft_journal_open(const char *location, const weft_journal_options_t *opts,
                      weft_journal_t **out, weft_error_t *err) {
    *out = NULL;
    if (!location || !*location)
        return weft_error_set(err, WEFT_EINVAL, "journal: empty location");
    const weft_dist_plugin_t *dist = NULL;
    size_t scheme_len = 0;
    int which = store_dist("journal", location, &dist, &scheme_len, err);
    if (which < 0)
        return which;
    const weft_journal_ops_t *ops = NULL;
    if (which > 0) {
        which = store_dist_pick("journal", location, scheme_len, (const void *const *)dist->journal,
                                dist->njournal, err);
        if (which < 0)
            return which;
        ops = dist->journal[which];
    } else {
        ops = backend_for(location);
    }
    if (!ops) {
        const char *colon = strchr(location, ':');
        return weft_error_set(err, WEFT_EUNSUPPORTED,
                              "%s: no journal backend \"%.*s\" in this weft (it has: sqlite)",
                              location, (int)(colon - location), location);
    }
    weft_journal_t *j = calloc(1, sizeof *j);
    if (!j)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (opts)
        j->opts = *opts;
    if (!j->opts.max_record_bytes)
        j->opts.max_record_bytes = WEFT_JOURNAL_DEFAULT_MAX_RECORD;
    if (!j->opts.max_queued_bytes)
        j->opts.max_queued_bytes = WEFT_JOURNAL_DEFAULT_MAX_QUEUED;
    j->ops = ops;
    int rc = ops->open(location, &j->opts, &j->self, err);
    if (rc) {
        free(j);
        return rc;
    }
    pthread_mutex_init(&j->mu, NULL);
    if (ops->bind)
        ops->bind(j->self, weft_journal_notify);
    *out = j;
    return 0;
}

void weft_journal_close(weft_journal_t *j) {
    if (!j)
        return;
    /* The backend first: it completes the appends still queued, whose callbacks may
     * still notify the streams. */
    j->ops->close(j->self);
    weft_journal_stream_t *s = j->streams;
    while (s) {
        weft_journal_stream_t *next = s->next;
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        free(s->name);
        free(s);
        s = next;
    }
    pthread_mutex_destroy(&j->mu);
    free(j);
}

const char *weft_journal_describe(const weft_journal_t *j) {
    return j->ops->describe(j->self);
}

int weft_journal_stream(weft_journal_t *j, const char *name, weft_journal_stream_t **out,
                        weft_error_t *err) {
    *out = NULL;
    int rc = check_name("stream", name, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&j->mu);
    weft_journal_stream_t *s = j->streams;
    while (s && strcmp(s->name, name) != 0)
        s = s->next;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->name = strdup(name))) {
            free(s);
            pthread_mutex_unlock(&j->mu);
            return weft_error_set(err, WEFT_ENOMEM, "journal: stream %s: out of memory", name);
        }
        s->j = j;
        pthread_mutex_init(&s->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        rc = j->ops->stream(j->self, name, s, &s->st, err);
        if (rc) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cond);
            free(s->name);
            free(s);
            pthread_mutex_unlock(&j->mu);
            return rc;
        }
        s->next = j->streams;
        j->streams = s;
    }
    pthread_mutex_unlock(&j->mu);
    *out = s;
    return 0;
}

const char *weft_journal_stream_name(const weft_journal_stream_t *s) {
    return s->name;
}

static int check_entries(weft_journal_stream_t *s, const weft_journal_entry_t *entries, size_t n,
                         weft_error_t *err) {
    if (n == 0 || n > WEFT_JOURNAL_MAX_BATCH)
        return weft_error_set(err, WEFT_EINVAL,
                              "journal: stream %s: a batch of %zu records (1 to %d)", s->name, n,
                              WEFT_JOURNAL_MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        const weft_journal_entry_t *e = &entries[i];
        if (e->len > s->j->opts.max_record_bytes)
            return weft_error_set(err, WEFT_EINVAL,
                                  "journal: stream %s: record %zu of the batch holds %zu bytes "
                                  "(at most %zu)",
                                  s->name, i, e->len, s->j->opts.max_record_bytes);
        if ((e->len && !e->data) || (e->key_len && !e->key))
            return weft_error_set(err, WEFT_EINVAL,
                                  "journal: stream %s: record %zu of the batch has a length "
                                  "but no bytes",
                                  s->name, i);
        if (e->key_len > WEFT_JOURNAL_MAX_KEY)
            return weft_error_set(err, WEFT_EINVAL,
                                  "journal: stream %s: record %zu of the batch has a dedupe key "
                                  "of %zu bytes (at most %d)",
                                  s->name, i, e->key_len, WEFT_JOURNAL_MAX_KEY);
    }
    return 0;
}

int weft_journal_append_async(weft_journal_stream_t *s, const weft_journal_entry_t *entries,
                              size_t n, weft_journal_done_fn done, void *arg, weft_error_t *err) {
    int rc = check_entries(s, entries, n, err);
    if (rc)
        return rc;
    return s->j->ops->append(s->j->self, s->st, entries, n, done, arg, err);
}

/* The blocking append: an asynchronous one and a condition variable. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    int status;
    weft_journal_ack_t *acks;
    weft_error_t *err;
} waiter_t;

static void waiter_done(void *arg, int status, const weft_journal_ack_t *acks, size_t n,
                        const char *message) {
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    if (status == 0)
        memcpy(w->acks, acks, n * sizeof *acks);
    else
        weft_error_set(w->err, status, "%s", message);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

int weft_journal_append(weft_journal_stream_t *s, const weft_journal_entry_t *entries, size_t n,
                        weft_journal_ack_t *acks, weft_error_t *err) {
    waiter_t w = {.acks = acks, .err = err};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = weft_journal_append_async(s, entries, n, waiter_done, &w, err);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.mu);
        rc = w.status;
        pthread_mutex_unlock(&w.mu);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cond);
    return rc;
}

int weft_journal_read(weft_journal_stream_t *s, uint64_t after, size_t max_records,
                      size_t max_bytes, weft_journal_page_t *page, weft_error_t *err) {
    memset(page, 0, sizeof *page);
    if (max_records == 0)
        return weft_error_set(err, WEFT_EINVAL, "journal: stream %s: a read of 0 records", s->name);
    return s->j->ops->read(s->j->self, s->st, after, max_records, max_bytes, page, err);
}

int weft_journal_bounds(weft_journal_stream_t *s, uint64_t *first, uint64_t *last,
                        weft_error_t *err) {
    *first = *last = 0;
    return s->j->ops->bounds(s->j->self, s->st, first, last, err);
}

void weft_journal_page_free(weft_journal_page_t *page) {
    free(page->records);
    free(page->mem_);
    memset(page, 0, sizeof *page);
}

/* ---- Latest, waiting, watches ---------------------------------------------------------- */

void weft_journal_notify(weft_journal_stream_t *s, uint64_t latest) {
    pthread_mutex_lock(&s->mu);
    if (latest > s->latest) {
        s->latest = latest;
        pthread_cond_broadcast(&s->cond);
        for (weft_journal_watch_t *w = s->watches; w; w = w->next)
            w->fn(w->arg, latest);
    }
    pthread_mutex_unlock(&s->mu);
}

uint64_t weft_journal_latest(weft_journal_stream_t *s) {
    pthread_mutex_lock(&s->mu);
    uint64_t latest = s->latest;
    pthread_mutex_unlock(&s->mu);
    return latest;
}

uint64_t weft_journal_wait(weft_journal_stream_t *s, uint64_t after, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&s->mu);
    uint64_t wakes = s->wakes;
    while (s->latest <= after && s->wakes == wakes && timeout_ms > 0)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &deadline) == ETIMEDOUT)
            break;
    uint64_t latest = s->latest;
    pthread_mutex_unlock(&s->mu);
    return latest;
}

void weft_journal_wake(weft_journal_stream_t *s) {
    pthread_mutex_lock(&s->mu);
    s->wakes++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

int weft_journal_watch(weft_journal_stream_t *s, weft_journal_watch_fn fn, void *arg,
                       weft_journal_watch_t **out, weft_error_t *err) {
    weft_journal_watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return weft_error_set(err, WEFT_ENOMEM, "journal: stream %s: out of memory", s->name);
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&s->mu);
    w->next = s->watches;
    s->watches = w;
    pthread_mutex_unlock(&s->mu);
    *out = w;
    return 0;
}

void weft_journal_unwatch(weft_journal_stream_t *s, weft_journal_watch_t *w) {
    pthread_mutex_lock(&s->mu);
    for (weft_journal_watch_t **p = &s->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    free(w);
}

/* ---- Positions, flush, retention ------------------------------------------------------ */

int weft_journal_position_get(weft_journal_stream_t *s, const char *consumer, uint64_t *seq) {
    *seq = 0;
    if (check_name("consumer", consumer, NULL))
        return WEFT_ENOTFOUND;
    return s->j->ops->position_get(s->j->self, s->st, consumer, seq);
}

int weft_journal_position_set(weft_journal_stream_t *s, const char *consumer, uint64_t seq,
                              weft_error_t *err) {
    int rc = check_name("consumer", consumer, err);
    if (rc)
        return rc;
    return s->j->ops->position_set(s->j->self, s->st, consumer, seq, err);
}

int weft_journal_position_delete(weft_journal_stream_t *s, const char *consumer,
                                 weft_error_t *err) {
    int rc = check_name("consumer", consumer, err);
    if (rc)
        return rc;
    return s->j->ops->position_delete(s->j->self, s->st, consumer, err);
}

int weft_journal_consumers(weft_journal_stream_t *s, weft_store_names_t *names, weft_error_t *err) {
    *names = (weft_store_names_t){0};
    return s->j->ops->consumers(s->j->self, s->st, names, err);
}

int weft_journal_flush(weft_journal_t *j, weft_error_t *err) {
    return j->ops->flush(j->self, err);
}

int weft_journal_trim(weft_journal_stream_t *s, int64_t before_ms, uint64_t *deleted,
                      weft_error_t *err) {
    uint64_t n = 0;
    int rc = s->j->ops->trim(s->j->self, s->st, before_ms, &n, err);
    if (deleted)
        *deleted = n;
    return rc;
}

/* ---- Shared streams ------------------------------------------------------------------- */

bool weft_journal_shared(const weft_journal_stream_t *s) {
    return s->j->ops->group_read != NULL;
}

/* Checks the names of a group call: 0, or EUNSUPPORTED when the stream is not shared. */
static int group_check(weft_journal_stream_t *s, const char *group, const char *consumer,
                       weft_error_t *err) {
    if (!weft_journal_shared(s))
        return weft_error_set(err, WEFT_EUNSUPPORTED,
                              "journal: stream %s is not shared (%s): it has no groups", s->name,
                              s->j->ops->describe(s->j->self));
    int rc = check_name("group", group, err);
    return rc || !consumer ? rc : check_name("consumer", consumer, err);
}

int weft_journal_group_join(weft_journal_stream_t *s, const char *group, bool earliest,
                            weft_error_t *err) {
    int rc = group_check(s, group, NULL, err);
    return rc ? rc : s->j->ops->group_join(s->j->self, s->st, group, earliest, err);
}

int weft_journal_group_read(weft_journal_stream_t *s, const char *group, const char *consumer,
                            bool own, uint64_t after, size_t max_records, int block_ms,
                            weft_journal_page_t *page, weft_error_t *err) {
    *page = (weft_journal_page_t){0};
    int rc = group_check(s, group, consumer, err);
    if (!rc && max_records == 0)
        rc = weft_error_set(err, WEFT_EINVAL, "journal: a read of 0 records");
    return rc ? rc
              : s->j->ops->group_read(s->j->self, s->st, group, consumer, own, after, max_records,
                                      block_ms < 0 ? 0 : block_ms, page, err);
}

int weft_journal_group_claim(weft_journal_stream_t *s, const char *group, const char *consumer,
                             uint64_t min_idle_ms, uint64_t *cursor, size_t max_records,
                             weft_journal_page_t *page, weft_error_t *err) {
    *page = (weft_journal_page_t){0};
    int rc = group_check(s, group, consumer, err);
    if (!rc && max_records == 0)
        rc = weft_error_set(err, WEFT_EINVAL, "journal: a claim of 0 records");
    return rc ? rc
              : s->j->ops->group_claim(s->j->self, s->st, group, consumer, min_idle_ms, cursor,
                                       max_records, page, err);
}

int weft_journal_group_ack(weft_journal_stream_t *s, const char *group, const uint64_t *seqs,
                           size_t n, weft_error_t *err) {
    int rc = group_check(s, group, NULL, err);
    return rc || n == 0 ? rc : s->j->ops->group_ack(s->j->self, s->st, group, seqs, n, err);
}

int weft_journal_group_hold(weft_journal_stream_t *s, const char *group, const char *consumer,
                            const uint64_t *seqs, size_t n, weft_error_t *err) {
    int rc = group_check(s, group, consumer, err);
    return rc || n == 0 ? rc
                        : s->j->ops->group_hold(s->j->self, s->st, group, consumer, seqs, n, err);
}

int weft_journal_group_state(weft_journal_stream_t *s, const char *group, uint64_t *position,
                             uint64_t *pending, weft_error_t *err) {
    *position = *pending = 0;
    int rc = group_check(s, group, NULL, err);
    return rc ? rc : s->j->ops->group_state(s->j->self, s->st, group, position, pending, err);
}

int weft_journal_group_prune(weft_journal_stream_t *s, const char *group, const char *keep,
                             uint64_t min_idle_ms, size_t *removed, weft_error_t *err) {
    *removed = 0;
    int rc = group_check(s, group, keep, err);
    return rc ? rc
              : s->j->ops->group_prune(s->j->self, s->st, group, keep, min_idle_ms, removed, err);
}
