/* kv_sqlite: the key-value store's embedded backend (store.h), DIR/kv.db.
 *
 * Layout: stores(id, name); kv(store, key BLOB, value BLOB, version, expires), the key
 * a BLOB so that keys sort by their bytes (what paging promises) and a prefix is a range
 * [prefix, store_prefix_end(prefix)). expires (ms since the epoch, NULL: never) has a partial
 * index: every transaction of writes deletes up to PURGE_BATCH expired rows first, so that expired
 * keys do not pile up, and a set that finds the file full purges them all and tries once more.
 *
 * Writes (sets and deletes) are durable when they return; those that come together
 * share a commit and its fsync (internal.h, "Group commit"), each applied in turn. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KV_APP_ID 0x77666b76 /* "wfkv" */
#define PURGE_BATCH 64

typedef struct kvs {
    struct kvs *next;
    int64_t id;
} kvs_t;

/* A set or a delete, as the group commit takes it (internal.h). */
typedef struct kvw {
    sqf_write_t base;
    bool is_delete;
    kvs_t *s;
    const char *key;
    const void *value; /* a set's */
    size_t len;
    const weft_kv_set_options_t *o; /* a set's */
    uint64_t if_version;            /* a delete's */
    int64_t now_ms;
    uint64_t version; /* a set's answer */
} kvw_t;

typedef struct kvq {
    sqf_t f;
    sqf_writer_t writer;
    kvs_t *stores;
    sqlite3_stmt *get, *put, *del, *list, *purge_some, *purge_all, *store_get, *store_add;
    sqlite3_stmt *rget, *rlist; /* on the read-only connection */
} kvq_t;

static const char *const schema =
    "CREATE TABLE stores(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE kv(store INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, "
    "version INTEGER NOT NULL, expires INTEGER, PRIMARY KEY(store, key));"
    "CREATE INDEX kv_expires ON kv(expires) WHERE expires IS NOT NULL;";

static void kvq_free(kvq_t *q) {
    sqlite3_stmt *stmts[] = {q->get,       q->put,       q->del,       q->list, q->purge_some,
                             q->purge_all, q->store_get, q->store_add, q->rget, q->rlist};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        sqlite3_finalize(stmts[i]);
    sqf_close(&q->f);
    sqf_writer_destroy(&q->writer);
    for (kvs_t *s = q->stores, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    free(q);
}

static int apply(void *arg, sqf_write_t *base);
static int purge_some(void *arg, sqf_write_t *first, weft_error_t *err);
static bool make_room(void *arg, sqf_write_t *base, int rc);

static int kvq_open(const char *location, const weft_kv_options_t *opts, void **self,
                    weft_error_t *err) {
    kvq_t *q = calloc(1, sizeof *q);
    if (!q)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    sqf_writer_init(&q->writer, &q->f, q);
    q->writer.apply = apply;
    q->writer.prologue = purge_some;
    q->writer.make_room = make_room;
    int rc =
        sqf_open(&q->f, location, "kv.db", "key-value", KV_APP_ID, schema, opts->max_bytes, err);
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } st[] = {
        {&q->get, "SELECT value, version, expires FROM kv WHERE store = ?1 AND key = ?2"},
        {&q->put, "INSERT INTO kv(store, key, value, version, expires) VALUES(?1, ?2, ?3, ?4, ?5) "
                  "ON CONFLICT(store, key) DO UPDATE SET value = excluded.value, "
                  "version = excluded.version, expires = excluded.expires"},
        {&q->del, "DELETE FROM kv WHERE store = ?1 AND key = ?2"},
        {&q->list, "SELECT key FROM kv WHERE store = ?1 AND key > ?2 AND key >= ?3 AND "
                   "(?4 IS NULL OR key < ?4) AND (expires IS NULL OR expires > ?5) "
                   "ORDER BY key LIMIT ?6"},
        {&q->purge_some, "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires <= ?1 "
                         "LIMIT 64)"},
        {&q->purge_all, "DELETE FROM kv WHERE expires <= ?1"},
        {&q->store_get, "SELECT id FROM stores WHERE name = ?1"},
        {&q->store_add, "INSERT INTO stores(name) VALUES(?1)"},
    };
    for (size_t i = 0; !rc && i < sizeof st / sizeof st[0]; i++)
        rc = sqf_prepare(&q->f, st[i].s, st[i].sql, err);
    if (!rc)
        rc = sqf_prepare_read(&q->f, &q->rget, st[0].sql, err);
    if (!rc)
        rc = sqf_prepare_read(&q->f, &q->rlist, st[3].sql, err);
    if (rc) {
        kvq_free(q);
        return rc;
    }
    *self = q;
    return 0;
}

static void kvq_close(void *self) {
    kvq_free(self);
}

static const char *kvq_describe(void *self) {
    return ((kvq_t *)self)->f.describe;
}

static int kvq_store(void *self, const char *name, void **out, weft_error_t *err) {
    kvq_t *q = self;
    kvs_t *s = calloc(1, sizeof *s);
    if (!s)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
    pthread_mutex_lock(&q->f.mu);
    sqlite3_bind_text(q->store_get, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(q->store_get);
    int rc = 0;
    if (step == SQLITE_ROW)
        s->id = sqlite3_column_int64(q->store_get, 0);
    else if (step != SQLITE_DONE)
        rc = sqf_fail(&q->f, step, "read the stores", err);
    sqlite3_reset(q->store_get);
    if (!rc && step == SQLITE_DONE) {
        sqlite3_bind_text(q->store_add, 1, name, -1, SQLITE_STATIC);
        rc = sqf_run(&q->f, q->store_add, err);
        s->id = sqlite3_last_insert_rowid(q->f.db);
    }
    if (!rc) {
        s->next = q->stores;
        q->stores = s;
        *out = s;
    } else {
        free(s);
    }
    pthread_mutex_unlock(&q->f.mu);
    return rc;
}

/* The row of key, if present and not expired: *found, *version. Under the mutex. */
static int lookup(kvq_t *q, sqlite3_stmt *get, kvs_t *s, const char *key, int64_t now_ms,
                  bool *found, uint64_t *version, uint8_t **value, size_t *len, weft_error_t *err) {
    sqlite3_bind_int64(get, 1, s->id);
    sqlite3_bind_blob(get, 2, key, (int)strlen(key), SQLITE_STATIC);
    int step = sqlite3_step(get);
    int rc = 0;
    *found = false;
    if (step == SQLITE_ROW) {
        bool expired =
            sqlite3_column_type(get, 2) != SQLITE_NULL && sqlite3_column_int64(get, 2) <= now_ms;
        if (!expired) {
            *found = true;
            *version = (uint64_t)sqlite3_column_int64(get, 1);
            if (value) {
                const void *v = sqlite3_column_blob(get, 0);
                size_t n = (size_t)sqlite3_column_bytes(get, 0);
                uint8_t *copy = malloc(n + 1);
                if (!copy) {
                    rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
                } else {
                    if (n)
                        memcpy(copy, v, n);
                    copy[n] = 0;
                    *value = copy;
                    *len = n;
                }
            }
        }
    } else if (step != SQLITE_DONE) {
        rc = sqf_fail(&q->f, step, "read a key", err);
    }
    sqlite3_reset(get);
    return rc;
}

static int kvq_get(void *self, void *st, const char *key, int64_t now_ms, uint8_t **value,
                   size_t *len, uint64_t *version, weft_error_t *err) {
    kvq_t *q = self;
    bool found;
    sqf_read_lock(&q->f);
    int rc = lookup(q, q->rget, st, key, now_ms, &found, version, value, len, err);
    pthread_mutex_unlock(&q->f.rmu);
    if (!rc && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "key-value: no key %.80s", key);
    return rc;
}

/* Deletes expired rows: a few (all: every one), counted in *n. Under the mutex. */
static int purge(kvq_t *q, int64_t now_ms, bool all, uint64_t *n, weft_error_t *err) {
    sqlite3_stmt *s = all ? q->purge_all : q->purge_some;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc = sqf_run(&q->f, s, err);
    if (!rc && n)
        *n += (uint64_t)sqlite3_changes(q->f.db);
    return rc;
}

/* ECONFLICT unless the key's state satisfies the condition. */
static int check_cond(const char *key, bool found, uint64_t have, uint64_t if_version,
                      bool if_absent, weft_error_t *err) {
    if (if_absent && found)
        return weft_error_set(err, WEFT_ECONFLICT, "key-value: key %.80s exists (version %llu)",
                              key, (unsigned long long)have);
    if (if_version && !found)
        return weft_error_set(err, WEFT_ECONFLICT,
                              "key-value: key %.80s is absent, not at version %llu", key,
                              (unsigned long long)if_version);
    if (if_version && have != if_version)
        return weft_error_set(err, WEFT_ECONFLICT,
                              "key-value: key %.80s holds version %llu, not %llu", key,
                              (unsigned long long)have, (unsigned long long)if_version);
    return 0;
}

/* Applies w inside the open transaction: its condition, then the row. Sets w->version
 * for a set. Under the mutex. */
static int apply(void *arg, sqf_write_t *base) {
    kvq_t *q = arg;
    kvw_t *w = (kvw_t *)base;
    bool found = false;
    uint64_t have = 0;
    const char *key = w->key;
    const weft_kv_set_options_t *o = w->o;
    bool if_absent = !w->is_delete && o->if_absent;
    uint64_t if_version = w->is_delete ? w->if_version : o->if_version;
    int rc = 0;
    if (w->is_delete || if_version || if_absent)
        rc = lookup(q, q->get, w->s, key, w->now_ms, &found, &have, NULL, NULL, w->base.err);
    if (!rc && w->is_delete && !found)
        rc = weft_error_set(w->base.err, WEFT_ENOTFOUND, "key-value: no key %.80s", key);
    if (!rc)
        rc = check_cond(key, found, have, if_version, if_absent, w->base.err);
    if (rc)
        return rc;
    if (w->is_delete) {
        sqlite3_bind_int64(q->del, 1, w->s->id);
        sqlite3_bind_blob(q->del, 2, key, (int)strlen(key), SQLITE_STATIC);
        return sqf_run(&q->f, q->del, w->base.err);
    }
    uint64_t v;
    if ((rc = sqf_next_version(&q->f, &v, w->base.err)))
        return rc;
    sqlite3_bind_int64(q->put, 1, w->s->id);
    sqlite3_bind_blob(q->put, 2, key, (int)strlen(key), SQLITE_STATIC);
    sqlite3_bind_blob64(q->put, 3, w->value, w->len, SQLITE_STATIC);
    sqlite3_bind_int64(q->put, 4, (sqlite3_int64)v);
    if (o->ttl_ms > 0)
        sqlite3_bind_int64(q->put, 5, w->now_ms + o->ttl_ms);
    else
        sqlite3_bind_null(q->put, 5);
    rc = sqf_run(&q->f, q->put, w->base.err);
    sqlite3_clear_bindings(q->put);
    if (!rc)
        w->version = v;
    return rc;
}

/* A transaction's first step: a few expired keys deleted. */
static int purge_some(void *arg, sqf_write_t *first, weft_error_t *err) {
    return purge(arg, ((kvw_t *)first)->now_ms, false, NULL, err);
}

/* A set that found the file full: every expired key deleted, in a transaction of its
 * own; another try is worth it when some went. */
static bool make_room(void *arg, sqf_write_t *base, int rc) {
    kvq_t *q = arg;
    kvw_t *w = (kvw_t *)base;
    uint64_t n = 0;
    weft_error_t err;
    if (rc != WEFT_ELIMIT || w->is_delete || sqf_begin(&q->f, &err))
        return false;
    if (purge(q, w->now_ms, true, &n, &err) || sqf_commit(&q->f, &err)) {
        sqf_rollback(&q->f);
        return false;
    }
    return n > 0;
}

static int kvq_set(void *self, void *st, const char *key, const void *value, size_t len,
                   const weft_kv_set_options_t *opts, int64_t now_ms, uint64_t *version,
                   weft_error_t *err) {
    kvw_t w = {.base.err = err,
               .s = st,
               .key = key,
               .value = value,
               .len = len,
               .o = opts,
               .now_ms = now_ms};
    int rc = sqf_write(&((kvq_t *)self)->writer, &w.base);
    if (!rc)
        *version = w.version;
    return rc;
}

static int kvq_delete(void *self, void *st, const char *key, uint64_t if_version, int64_t now_ms,
                      weft_error_t *err) {
    kvw_t w = {.base.err = err,
               .is_delete = true,
               .s = st,
               .key = key,
               .if_version = if_version,
               .now_ms = now_ms};
    return sqf_write(&((kvq_t *)self)->writer, &w.base);
}

static int kvq_list(void *self, void *st, const char *prefix, const char *after, size_t limit,
                    int64_t now_ms, weft_store_names_t *page, weft_error_t *err) {
    kvq_t *q = self;
    char *end = store_prefix_end(prefix);
    if (*prefix && !end)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
    sqf_read_lock(&q->f);
    sqlite3_bind_int64(q->rlist, 1, ((kvs_t *)st)->id);
    sqlite3_bind_blob(q->rlist, 2, after, (int)strlen(after), SQLITE_STATIC);
    sqlite3_bind_blob(q->rlist, 3, prefix, (int)strlen(prefix), SQLITE_STATIC);
    if (end)
        sqlite3_bind_blob(q->rlist, 4, end, (int)strlen(end), SQLITE_STATIC);
    else
        sqlite3_bind_null(q->rlist, 4);
    sqlite3_bind_int64(q->rlist, 5, now_ms);
    sqlite3_bind_int64(q->rlist, 6, (sqlite3_int64)limit + 1);
    int rc = store_sqlite_names(&q->f, q->rlist, limit, page, err);
    pthread_mutex_unlock(&q->f.rmu);
    free(end);
    return rc;
}

static int kvq_purge(void *self, int64_t now_ms, uint64_t *deleted, weft_error_t *err) {
    kvq_t *q = self;
    pthread_mutex_lock(&q->f.mu);
    int rc = sqf_begin(&q->f, err);
    if (!rc && !(rc = purge(q, now_ms, true, deleted, err)))
        rc = sqf_commit(&q->f, err);
    else
        sqf_rollback(&q->f);
    pthread_mutex_unlock(&q->f.mu);
    return rc;
}

const weft_kv_ops_t weft_kv_sqlite_ops = {
    .scheme = "sqlite",
    .open = kvq_open,
    .close = kvq_close,
    .describe = kvq_describe,
    .store = kvq_store,
    .get = kvq_get,
    .set = kvq_set,
    .delete_ = kvq_delete,
    .list = kvq_list,
    .purge = kvq_purge,
};
