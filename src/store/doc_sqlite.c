/* doc_sqlite: the document store's embedded backend (store.h), DIR/docs.db.
 *
 * Layout: docs(collection, id, body, version), the body the JSON text as given. A query
 * is one statement built for its conditions, each an EXISTS over json_each(body) (the
 * document's top-level members: a member name needs no quoting, unlike a JSON path) that
 * compares the member's JSON type as well as its value, since json_extract alone gives
 * true as 1 and would take it for the number 1. Nothing is indexed: a query reads the
 * collection's documents in id order from its cursor on until it has a page. Puts and
 * deletes that come together share a commit and its fsync (internal.h, "Group commit"),
 * each applied in turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DOC_APP_ID 0x7766646f /* "wfdo" */

typedef struct docq {
    sqf_t f;
    sqf_writer_t writer;
    sqlite3_stmt *get, *put, *del;
    sqlite3_stmt *rget; /* on the read-only connection */
} docq_t;

/* A put or a delete, as the group commit takes it. */
typedef struct docw {
    sqf_write_t base;
    bool is_delete;
    const char *collection, *id;
    const char *json; /* a put's */
    size_t len;
    uint64_t if_version;
    bool if_absent;   /* a put's */
    uint64_t version; /* a put's answer */
} docw_t;

static int apply(void *arg, sqf_write_t *base);

static const char *const schema =
    "CREATE TABLE docs(collection TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, "
    "version INTEGER NOT NULL, PRIMARY KEY(collection, id));";

static void docq_free(docq_t *q) {
    sqlite3_finalize(q->get);
    sqlite3_finalize(q->rget);
    sqlite3_finalize(q->put);
    sqlite3_finalize(q->del);
    sqf_close(&q->f);
    sqf_writer_destroy(&q->writer);
    free(q);
}

static int docq_open(const char *location, const weft_doc_options_t *opts, void **self,
                     weft_error_t *err) {
    docq_t *q = calloc(1, sizeof *q);
    if (!q)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    sqf_writer_init(&q->writer, &q->f, q);
    q->writer.apply = apply;
    int rc =
        sqf_open(&q->f, location, "docs.db", "documents", DOC_APP_ID, schema, opts->max_bytes, err);
    static const char get[] = "SELECT body, version FROM docs WHERE collection = ?1 AND id = ?2";
    if (!rc)
        rc = sqf_prepare(&q->f, &q->get, get, err);
    if (!rc)
        rc = sqf_prepare_read(&q->f, &q->rget, get, err);
    if (!rc)
        rc = sqf_prepare(&q->f, &q->put,
                         "INSERT INTO docs(collection, id, body, version) VALUES(?1, ?2, ?3, ?4) "
                         "ON CONFLICT(collection, id) DO UPDATE SET body = excluded.body, "
                         "version = excluded.version",
                         err);
    if (!rc)
        rc = sqf_prepare(&q->f, &q->del, "DELETE FROM docs WHERE collection = ?1 AND id = ?2", err);
    if (rc) {
        docq_free(q);
        return rc;
    }
    *self = q;
    return 0;
}

static void docq_close(void *self) {
    docq_free(self);
}

static const char *docq_describe(void *self) {
    return ((docq_t *)self)->f.describe;
}

/* The document's version (*found) and, if json, a copy of its text. Under the mutex. */
static int lookup(docq_t *q, sqlite3_stmt *get, const char *collection, const char *id, bool *found,
                  uint64_t *version, char **json, size_t *len, weft_error_t *err) {
    sqlite3_bind_text(get, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(get);
    int rc = 0;
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        *version = (uint64_t)sqlite3_column_int64(get, 1);
        if (json) {
            size_t n = (size_t)sqlite3_column_bytes(get, 0);
            char *copy = malloc(n + 1);
            if (!copy) {
                rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
            } else {
                memcpy(copy, sqlite3_column_text(get, 0), n);
                copy[n] = 0;
                *json = copy;
                *len = n;
            }
        }
    } else if (step != SQLITE_DONE) {
        rc = sqf_fail(&q->f, step, "read a document", err);
    }
    sqlite3_reset(get);
    return rc;
}

static int docq_get(void *self, const char *collection, const char *id, char **json, size_t *len,
                    uint64_t *version, weft_error_t *err) {
    docq_t *q = self;
    bool found;
    sqf_read_lock(&q->f);
    int rc = lookup(q, q->rget, collection, id, &found, version, json, len, err);
    pthread_mutex_unlock(&q->f.rmu);
    if (!rc && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "documents: no document %s/%s", collection, id);
    return rc;
}

/* ECONFLICT unless the document's state satisfies the condition. */
static int check_cond(const char *collection, const char *id, bool found, uint64_t have,
                      uint64_t if_version, bool if_absent, weft_error_t *err) {
    if (if_absent && found)
        return weft_error_set(err, WEFT_ECONFLICT, "documents: %s/%s exists (version %llu)",
                              collection, id, (unsigned long long)have);
    if (if_version && !found)
        return weft_error_set(err, WEFT_ECONFLICT,
                              "documents: %s/%s is absent, not at version %llu", collection, id,
                              (unsigned long long)if_version);
    if (if_version && have != if_version)
        return weft_error_set(err, WEFT_ECONFLICT, "documents: %s/%s holds version %llu, not %llu",
                              collection, id, (unsigned long long)have,
                              (unsigned long long)if_version);
    return 0;
}

/* Applies w inside the open transaction: its condition, then the row. Under the
 * mutex. */
static int apply(void *arg, sqf_write_t *base) {
    docq_t *q = arg;
    docw_t *w = (docw_t *)base;
    weft_error_t *err = w->base.err;
    bool found = false;
    uint64_t have = 0;
    int rc = 0;
    if (w->is_delete || w->if_version || w->if_absent)
        rc = lookup(q, q->get, w->collection, w->id, &found, &have, NULL, NULL, err);
    if (!rc && w->is_delete && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "documents: no document %s/%s", w->collection,
                            w->id);
    if (!rc)
        rc = check_cond(w->collection, w->id, found, have, w->if_version, w->if_absent, err);
    if (rc)
        return rc;
    if (w->is_delete) {
        sqlite3_bind_text(q->del, 1, w->collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(q->del, 2, w->id, -1, SQLITE_STATIC);
        return sqf_run(&q->f, q->del, err);
    }
    uint64_t v;
    if ((rc = sqf_next_version(&q->f, &v, err)))
        return rc;
    sqlite3_bind_text(q->put, 1, w->collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(q->put, 2, w->id, -1, SQLITE_STATIC);
    sqlite3_bind_text64(q->put, 3, w->json, w->len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(q->put, 4, (sqlite3_int64)v);
    if (!(rc = sqf_run(&q->f, q->put, err)))
        w->version = v;
    return rc;
}

static int docq_put(void *self, const char *collection, const char *id, const char *json,
                    size_t len, const weft_doc_put_options_t *o, uint64_t *version,
                    weft_error_t *err) {
    docw_t w = {.base.err = err,
                .collection = collection,
                .id = id,
                .json = json,
                .len = len,
                .if_version = o->if_version,
                .if_absent = o->if_absent};
    int rc = sqf_write(&((docq_t *)self)->writer, &w.base);
    if (!rc)
        *version = w.version;
    return rc;
}

static int docq_delete(void *self, const char *collection, const char *id, uint64_t if_version,
                       weft_error_t *err) {
    docw_t w = {.base.err = err,
                .is_delete = true,
                .collection = collection,
                .id = id,
                .if_version = if_version};
    return sqf_write(&((docq_t *)self)->writer, &w.base);
}

static int docq_query(void *self, const char *collection, const weft_doc_cond_t *conds, size_t n,
                      const char *after, size_t limit, weft_doc_page_t *page, weft_error_t *err) {
    docq_t *q = self;
    weft_buf_t sql = {0};
    int rc = weft_buf_puts(&sql, "SELECT id, body, version FROM docs WHERE collection = ?1 AND "
                                 "id > ?2");
    for (size_t i = 0; !rc && i < n; i++) {
        static const char *const test[] = {
            [WEFT_DOC_STRING] = "type = 'text' AND atom = ?%zu",
            [WEFT_DOC_INT] = "type IN ('integer', 'real') AND atom = ?%zu",
            [WEFT_DOC_REAL] = "type IN ('integer', 'real') AND atom = ?%zu",
            [WEFT_DOC_TRUE] = "type = 'true' AND ?%zu IS NULL",
            [WEFT_DOC_FALSE] = "type = 'false' AND ?%zu IS NULL",
            [WEFT_DOC_NULL] = "type = 'null' AND ?%zu IS NULL",
        };
        char cond[160];
        snprintf(cond, sizeof cond, test[conds[i].kind], 5 + 2 * i);
        rc = weft_buf_printf(&sql,
                             " AND EXISTS (SELECT 1 FROM json_each(docs.body) WHERE key = "
                             "?%zu AND %s)",
                             4 + 2 * i, cond);
    }
    if (!rc)
        rc = weft_buf_puts(&sql, " ORDER BY id LIMIT ?3");
    if (rc) {
        weft_buf_free(&sql);
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
    }
    page->items = calloc(limit, sizeof *page->items);
    if (!page->items) {
        weft_buf_free(&sql);
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
    }
    sqf_read_lock(&q->f);
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(q->f.rdb, (const char *)sql.data, -1, &s, NULL);
    if (src != SQLITE_OK)
        rc = sqf_fail(&q->f, src, "query", err);
    if (!rc) {
        sqlite3_bind_text(s, 1, collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, after, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)limit + 1);
        for (size_t i = 0; i < n; i++) {
            const weft_doc_cond_t *c = &conds[i];
            int k = (int)(4 + 2 * i);
            sqlite3_bind_text(s, k, c->field, -1, SQLITE_STATIC);
            if (c->kind == WEFT_DOC_STRING)
                sqlite3_bind_text64(s, k + 1, c->str, c->str_len, SQLITE_STATIC, SQLITE_UTF8);
            else if (c->kind == WEFT_DOC_INT)
                sqlite3_bind_int64(s, k + 1, c->i);
            else if (c->kind == WEFT_DOC_REAL)
                sqlite3_bind_double(s, k + 1, c->r);
        }
    }
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (page->n == limit) {
            page->more = true;
            break;
        }
        weft_doc_item_t *it = &page->items[page->n];
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        it->id = strdup((const char *)sqlite3_column_text(s, 0));
        it->json = malloc(len + 1);
        if (!it->id || !it->json) {
            free(it->id);
            free(it->json);
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", q->f.path);
            break;
        }
        memcpy(it->json, sqlite3_column_text(s, 1), len);
        it->json[len] = 0;
        it->len = len;
        it->version = (uint64_t)sqlite3_column_int64(s, 2);
        page->n++;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sqf_fail(&q->f, step, "query", err);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&q->f.rmu);
    weft_buf_free(&sql);
    if (rc)
        weft_doc_page_free(page);
    return rc;
}

const weft_doc_ops_t weft_doc_sqlite_ops = {
    .scheme = "sqlite",
    .open = docq_open,
    .close = docq_close,
    .describe = docq_describe,
    .put = docq_put,
    .get = docq_get,
    .delete_ = docq_delete,
    .query = docq_query,
};
