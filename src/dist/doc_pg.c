/* doc_pg: the document store on PostgreSQL (store.h), through libpq (pg.c: locations,
 * the connection, reconnecting).
 *
 * Layout, in the location's schema (default weft):
 *   docs(collection, id, body, doc, version)  body the text as given (what get returns),
 *       doc the same as jsonb (what queries read); collection and id COLLATE "C", so
 *       that ids sort by their bytes, as paging promises
 *   docs_doc  a GIN index of doc with jsonb_path_ops: a query's condition field = value
 *       is the containment doc @> '{"field": value}', which that index serves (it holds
 *       a hash per path-and-value, smaller and faster for @> than the default
 *       jsonb_ops, which also serves key-exists queries that weft does not make).
 *       Containment compares as the interface says: 3 matches 3.0 (numeric equality),
 *       true is not 1, null is present-and-null, and only top-level members.
 *   doc_versions  the sequence versions are drawn from (never reused)
 *   doc_meta(bytes)  the bytes of the bodies held, for max_bytes
 * Every write is one transaction (the document's row locked FOR UPDATE while its
 * condition is checked); a call returns 0 once PostgreSQL has committed it (durable as
 * the server's synchronous_commit makes it: on by default, WAL flushed). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static const char setup[] =
    "CREATE TABLE IF NOT EXISTS docs(collection text COLLATE \"C\" NOT NULL, "
    "id text COLLATE \"C\" NOT NULL, body text NOT NULL, doc jsonb NOT NULL, "
    "version bigint NOT NULL, PRIMARY KEY(collection, id));"
    "CREATE INDEX IF NOT EXISTS docs_doc ON docs USING GIN (doc jsonb_path_ops);"
    "CREATE SEQUENCE IF NOT EXISTS doc_versions;"
    "CREATE TABLE IF NOT EXISTS doc_meta(one int PRIMARY KEY CHECK (one = 1), bytes bigint NOT "
    "NULL);"
    "INSERT INTO doc_meta VALUES(1, 0) ON CONFLICT DO NOTHING;";

typedef struct pdoc {
    pgc_t *p;
    uint64_t max_bytes;
} pdoc_t;

static int pdoc_open(const char *location, const weft_doc_options_t *opts, void **self,
                     weft_error_t *err) {
    pdoc_t *d = calloc(1, sizeof *d);
    if (!d)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    d->max_bytes = opts->max_bytes;
    int rc = pgc_open(location, "documents", setup, &d->p, err);
    if (rc) {
        free(d);
        return rc;
    }
    *self = d;
    return 0;
}

static void pdoc_close(void *self) {
    pdoc_t *d = self;
    pgc_close(d->p);
    free(d);
}

static const char *pdoc_describe(void *self) {
    return pgc_describe(((pdoc_t *)self)->p);
}

static int pdoc_get(void *self, const char *collection, const char *id, char **json, size_t *len,
                    uint64_t *version, weft_error_t *err) {
    pdoc_t *d = self;
    const char *vals[] = {collection, id};
    PGresult *res = NULL;
    pgc_lock(d->p);
    int rc = pgc_exec(d->p, "SELECT body, version FROM docs WHERE collection = $1 AND id = $2", 2,
                      vals, NULL, NULL, &res, err);
    pgc_unlock(d->p);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        rc = weft_error_set(err, WEFT_ENOTFOUND, "documents: no document %s/%s", collection, id);
    } else {
        size_t n = (size_t)PQgetlength(res, 0, 0);
        char *copy = malloc(n + 1);
        if (!copy) {
            rc = weft_error_set(err, WEFT_ENOMEM, "documents: out of memory");
        } else {
            memcpy(copy, PQgetvalue(res, 0, 0), n);
            copy[n] = 0;
            *json = copy;
            *len = n;
            *version = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
        }
    }
    PQclear(res);
    return rc;
}

/* The document's row, locked for the transaction: *found, *have (its version), *bytes. */
static int lock_row(pdoc_t *d, const char *collection, const char *id, bool *found, uint64_t *have,
                    int64_t *bytes, weft_error_t *err) {
    const char *vals[] = {collection, id};
    PGresult *res = NULL;
    int rc = pgc_exec(d->p,
                      "SELECT version, octet_length(body) FROM docs WHERE collection = $1 AND "
                      "id = $2 FOR UPDATE",
                      2, vals, NULL, NULL, &res, err);
    if (rc)
        return rc;
    *found = PQntuples(res) > 0;
    *have = *found ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    *bytes = *found ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

/* Adds delta to the bytes held; ELIMIT when that passes max_bytes (only a growth can). */
static int count_bytes(pdoc_t *d, int64_t delta, const char *collection, const char *id,
                       weft_error_t *err) {
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, delta);
    const char *vals[] = {num};
    PGresult *res = NULL;
    int rc = pgc_exec(d->p, "UPDATE doc_meta SET bytes = bytes + $1 RETURNING bytes", 1, vals, NULL,
                      NULL, &res, err);
    if (rc)
        return rc;
    int64_t total = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (d->max_bytes && delta > 0 && (uint64_t)total > d->max_bytes)
        return weft_error_set(err, WEFT_ELIMIT,
                              "documents: %s is full: %s/%s would make %" PRId64
                              " bytes of documents (the store's max_bytes is %" PRIu64 ")",
                              pgc_describe(d->p), collection, id, total, d->max_bytes);
    return 0;
}

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

/* One attempt of a put; *retry when a concurrent insert of the same id came first (the
 * row can then be locked: try again). */
static int put_once(pdoc_t *d, const char *collection, const char *id, const char *json, size_t len,
                    const weft_doc_put_options_t *o, uint64_t *version, bool *retry,
                    weft_error_t *err) {
    bool found = false;
    uint64_t have = 0;
    int64_t old = 0;
    *retry = false;
    int rc = pgc_begin(d->p, err);
    if (!rc)
        rc = lock_row(d, collection, id, &found, &have, &old, err);
    if (!rc)
        rc = check_cond(collection, id, found, have, o->if_version, o->if_absent, err);
    if (!rc)
        rc = count_bytes(d, (int64_t)len - old, collection, id, err);
    PGresult *res = NULL;
    if (!rc) {
        const char *vals[] = {collection, id, json};
        int lens[] = {0, 0, (int)len};
        int fmts[] = {0, 0, 0};
        rc = pgc_exec(
            d->p,
            found ? "UPDATE docs SET body = $3::text, doc = $3::text::jsonb, version = "
                    "nextval('doc_versions') WHERE collection = $1 AND id = $2 "
                    "RETURNING version"
                  : "INSERT INTO docs(collection, id, body, doc, version) VALUES($1, "
                    "$2, $3::text, $3::text::jsonb, nextval('doc_versions')) ON CONFLICT DO "
                    "NOTHING RETURNING version",
            3, vals, lens, fmts, &res, err);
        if (!rc && PQntuples(res) == 0) {
            *retry = true;
            rc = weft_error_set(err, WEFT_ECONFLICT, "documents: %s/%s: written concurrently",
                                collection, id);
        } else if (!rc) {
            *version = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        }
        PQclear(res);
    }
    if (!rc)
        rc = pgc_commit(d->p, err);
    else
        pgc_rollback(d->p);
    return rc;
}

static int pdoc_put(void *self, const char *collection, const char *id, const char *json,
                    size_t len, const weft_doc_put_options_t *o, uint64_t *version,
                    weft_error_t *err) {
    pdoc_t *d = self;
    bool retry = false;
    int rc;
    pgc_lock(d->p);
    for (int i = 0; i < 3; i++)
        if (!(rc = put_once(d, collection, id, json, len, o, version, &retry, err)) || !retry)
            break;
    pgc_unlock(d->p);
    return rc;
}

static int pdoc_delete(void *self, const char *collection, const char *id, uint64_t if_version,
                       weft_error_t *err) {
    pdoc_t *d = self;
    bool found = false;
    uint64_t have = 0;
    int64_t old = 0;
    pgc_lock(d->p);
    int rc = pgc_begin(d->p, err);
    if (!rc)
        rc = lock_row(d, collection, id, &found, &have, &old, err);
    if (!rc && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "documents: no document %s/%s", collection, id);
    if (!rc)
        rc = check_cond(collection, id, found, have, if_version, false, err);
    if (!rc)
        rc = count_bytes(d, -old, collection, id, err);
    if (!rc) {
        const char *vals[] = {collection, id};
        PGresult *res = NULL;
        rc = pgc_exec(d->p, "DELETE FROM docs WHERE collection = $1 AND id = $2", 2, vals, NULL,
                      NULL, &res, err);
        PQclear(res);
    }
    if (!rc)
        rc = pgc_commit(d->p, err);
    else
        pgc_rollback(d->p);
    pgc_unlock(d->p);
    return rc;
}

/* Appends s[0..n) as a JSON string; false when it holds a NUL, which jsonb cannot hold
 * (so no document has it: the condition matches nothing). */
static bool json_string(weft_buf_t *b, const char *s, size_t n, int *brc) {
    *brc = *brc || weft_buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0)
            return false;
        if (c == '"' || c == '\\')
            *brc = *brc || weft_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            *brc = *brc || weft_buf_printf(b, "\\u%04x", c);
        else
            *brc = *brc || weft_buf_append(b, &s[i], 1);
    }
    *brc = *brc || weft_buf_puts(b, "\"");
    return true;
}

/* A condition as the jsonb text {"field": value}; false: it can match nothing. */
static bool cond_json(weft_buf_t *b, const weft_doc_cond_t *c, int *brc) {
    *brc = *brc || weft_buf_puts(b, "{");
    if (!json_string(b, c->field, strlen(c->field), brc))
        return false;
    *brc = *brc || weft_buf_puts(b, ":");
    switch (c->kind) {
    case WEFT_DOC_STRING:
        if (!json_string(b, c->str, c->str_len, brc))
            return false;
        break;
    case WEFT_DOC_INT:
        *brc = *brc || weft_buf_printf(b, "%" PRId64, c->i);
        break;
    case WEFT_DOC_REAL: {
        /* The shortest text that reads back as the same double: jsonb keeps numbers as
         * exact decimals, and 0.1 printed with 17 digits is another one. */
        char num[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, c->r);
            if (strtod(num, NULL) == c->r)
                break;
        }
        if (!isfinite(c->r))
            return false;
        *brc = *brc || weft_buf_puts(b, num);
        break;
    }
    case WEFT_DOC_TRUE:
        *brc = *brc || weft_buf_puts(b, "true");
        break;
    case WEFT_DOC_FALSE:
        *brc = *brc || weft_buf_puts(b, "false");
        break;
    case WEFT_DOC_NULL:
        *brc = *brc || weft_buf_puts(b, "null");
        break;
    }
    *brc = *brc || weft_buf_puts(b, "}");
    return true;
}

static int pdoc_query(void *self, const char *collection, const weft_doc_cond_t *conds, size_t n,
                      const char *after, size_t limit, weft_doc_page_t *page, weft_error_t *err) {
    pdoc_t *d = self;
    weft_buf_t sql = {0}, text[WEFT_DOC_MAX_MATCHES];
    memset(text, 0, sizeof text);
    const char *vals[3 + WEFT_DOC_MAX_MATCHES];
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", limit + 1);
    vals[0] = collection;
    vals[1] = after;
    vals[2] = lim;
    int brc = weft_buf_puts(&sql, "SELECT id, body, version FROM docs WHERE collection = $1 AND "
                                  "id > $2");
    bool possible = true;
    for (size_t i = 0; i < n && possible; i++) {
        possible = cond_json(&text[i], &conds[i], &brc);
        brc = brc || weft_buf_printf(&sql, " AND doc @> $%zu::jsonb", 4 + i);
        vals[3 + i] = (const char *)text[i].data;
    }
    brc = brc || weft_buf_puts(&sql, " ORDER BY id LIMIT $3");
    int rc = 0;
    PGresult *res = NULL;
    if (brc) {
        rc = weft_error_set(err, WEFT_ENOMEM, "documents: out of memory");
    } else if (possible) {
        pgc_lock(d->p);
        rc = pgc_exec(d->p, (const char *)sql.data, 3 + (int)n, vals, NULL, NULL, &res, err);
        pgc_unlock(d->p);
    }
    weft_buf_free(&sql);
    for (size_t i = 0; i < n; i++)
        weft_buf_free(&text[i]);
    if (rc)
        return rc;
    size_t rows = res ? (size_t)PQntuples(res) : 0;
    page->items = calloc(limit, sizeof *page->items);
    if (!page->items)
        rc = weft_error_set(err, WEFT_ENOMEM, "documents: out of memory");
    for (size_t i = 0; !rc && i < rows && i < limit; i++) {
        weft_doc_item_t *it = &page->items[i];
        size_t len = (size_t)PQgetlength(res, (int)i, 1);
        it->id = strdup(PQgetvalue(res, (int)i, 0));
        it->json = malloc(len + 1);
        if (!it->id || !it->json) {
            free(it->id);
            free(it->json);
            rc = weft_error_set(err, WEFT_ENOMEM, "documents: out of memory");
            break;
        }
        memcpy(it->json, PQgetvalue(res, (int)i, 1), len);
        it->json[len] = 0;
        it->len = len;
        it->version = strtoull(PQgetvalue(res, (int)i, 2), NULL, 10);
        page->n++;
    }
    page->more = !rc && rows > limit;
    PQclear(res);
    if (rc)
        dist_doc_page_free(page);
    return rc;
}

/* One table for each spelling of the scheme libpq reads (postgresql://, postgres://). */
#define PDOC_OPS(scheme_)                                                                          \
    {                                                                                              \
        .scheme = scheme_, .open = pdoc_open, .close = pdoc_close, .describe = pdoc_describe,      \
        .put = pdoc_put, .get = pdoc_get, .delete_ = pdoc_delete, .query = pdoc_query,             \
    }
const weft_doc_ops_t weft_doc_pg_ops = PDOC_OPS("postgresql");
const weft_doc_ops_t weft_doc_postgres_ops = PDOC_OPS("postgres");
