/* blob_pg: the blob store on PostgreSQL (store.h), through libpq (pg.c: locations, the
 * connection, reconnecting).
 *
 * Layout, in the location's schema (default weft):
 *   blobs(container, name, size, content_type, sha256, mtime, version, data)  one row per
 *       visible blob; name bytea (names are any bytes but NUL: not always text), which
 *       sorts by its bytes as paging promises; data names the blob's chunks
 *   blob_chunks(data, n, bytes)  the bytes in chunks of BLOB_CHUNK (1 MiB), stored
 *       uncompressed (STORAGE EXTERNAL), so that a read of a few bytes fetches only the
 *       part of a chunk it needs
 *   blob_pending(data, since)  writers not committed yet
 *   blob_garbage(data, since)  the chunks of replaced and deleted blobs, removed
 *       BLOB_GRACE_MS later, so that a reader that opened a version keeps reading it
 *   blob_versions, blob_meta(bytes)  versions and data ids; the bytes of visible blobs
 *
 * Visible whole or not at all: a writer draws a data id, registers it in blob_pending
 * and writes its chunks (each a committed insert) as they fill. The commit is one
 * transaction: it checks that the chunks are all there (their count and bytes), the
 * condition and the size cap, then writes the blobs row and drops the pending one. So
 * until that commit no row names the chunks: a writer that dies, a server restarted
 * under it, or an abort leaves chunks no reader can reach, which the abort, or the next
 * open after BLOB_STALE_MS, deletes. A commit returns 0 once PostgreSQL committed. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#define BLOB_CHUNK (1 << 20)
#define BLOB_GRACE_MS (10 * 60 * 1000)
#define BLOB_STALE_MS (24 * 3600 * 1000)

static const char setup[] =
    "CREATE TABLE IF NOT EXISTS blobs(container text COLLATE \"C\" NOT NULL, name bytea NOT "
    "NULL, size bigint NOT NULL, content_type text NOT NULL, sha256 text NOT NULL, mtime "
    "bigint NOT NULL, version bigint NOT NULL UNIQUE, data bigint NOT NULL, "
    "PRIMARY KEY(container, name));"
    "CREATE TABLE IF NOT EXISTS blob_chunks(data bigint NOT NULL, n int NOT NULL, bytes bytea "
    "NOT NULL, PRIMARY KEY(data, n));"
    "ALTER TABLE blob_chunks ALTER bytes SET STORAGE EXTERNAL;"
    "CREATE TABLE IF NOT EXISTS blob_pending(data bigint PRIMARY KEY, since bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blob_garbage(data bigint PRIMARY KEY, since bigint NOT NULL);"
    "CREATE SEQUENCE IF NOT EXISTS blob_versions;"
    "CREATE TABLE IF NOT EXISTS blob_meta(one int PRIMARY KEY CHECK (one = 1), bytes bigint "
    "NOT NULL);"
    "INSERT INTO blob_meta VALUES(1, 0) ON CONFLICT DO NOTHING;";

typedef struct pblob {
    pgc_t *p;
    uint64_t max_bytes;
} pblob_t;

typedef struct pbw {
    char data[24]; /* the data id, decimal */
    int n;         /* chunks written */
    uint64_t written;
    uint8_t *buf; /* the chunk being filled: BLOB_CHUNK bytes */
    size_t len;
    char *container, *name;
} pbw_t;

typedef struct pbr {
    char data[24];
    uint64_t size;
    char *container, *name;
} pbr_t;

static int run(pblob_t *b, const char *sql, int n, const char *const *vals, weft_error_t *err) {
    PGresult *res = NULL;
    int rc = pgc_exec(b->p, sql, n, vals, NULL, NULL, &res, err);
    PQclear(res);
    return rc;
}

/* Removes what no reader can reach: the chunks of writers gone for BLOB_STALE_MS, and
 * of blobs replaced or deleted BLOB_GRACE_MS ago (a few at a time when !all). Under the
 * lock; failures are left for the next time. */
static void sweep(pblob_t *b, bool all) {
    char grace[24], stale[24];
    int64_t now = dist_wall_ms();
    snprintf(grace, sizeof grace, "%" PRId64, now - BLOB_GRACE_MS);
    snprintf(stale, sizeof stale, "%" PRId64, now - BLOB_STALE_MS);
    weft_error_t e;
    const char *g[] = {grace};
    run(b,
        all ? "WITH g AS (DELETE FROM blob_garbage WHERE since < $1 RETURNING data) "
              "DELETE FROM blob_chunks WHERE data IN (SELECT data FROM g)"
            : "WITH g AS (DELETE FROM blob_garbage WHERE data IN (SELECT data FROM blob_garbage "
              "WHERE since < $1 LIMIT 16) RETURNING data) DELETE FROM blob_chunks WHERE data IN "
              "(SELECT data FROM g)",
        1, g, &e);
    if (all) {
        const char *s[] = {stale};
        run(b,
            "WITH g AS (DELETE FROM blob_pending WHERE since < $1 RETURNING data) "
            "DELETE FROM blob_chunks WHERE data IN (SELECT data FROM g)",
            1, s, &e);
    }
}

static int pblob_open(const char *location, const weft_blob_options_t *opts, void **self,
                      weft_error_t *err) {
    pblob_t *b = calloc(1, sizeof *b);
    if (!b)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    b->max_bytes = opts->max_bytes;
    int rc = pgc_open(location, "blobs", setup, &b->p, err);
    if (rc) {
        free(b);
        return rc;
    }
    pgc_lock(b->p);
    sweep(b, true);
    pgc_unlock(b->p);
    *self = b;
    return 0;
}

static void pblob_close(void *self) {
    pblob_t *b = self;
    pgc_close(b->p);
    free(b);
}

static const char *pblob_describe(void *self) {
    return pgc_describe(((pblob_t *)self)->p);
}

static void pbw_free(pbw_t *w) {
    free(w->buf);
    free(w->container);
    free(w->name);
    free(w);
}

static int pblob_writer_open(void *self, const char *container, const char *name, void **out,
                             weft_error_t *err) {
    pblob_t *b = self;
    pbw_t *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(BLOB_CHUNK)) || !(w->container = strdup(container)) ||
        !(w->name = strdup(name))) {
        if (w)
            pbw_free(w);
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    }
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, dist_wall_ms());
    const char *vals[] = {now};
    PGresult *res = NULL;
    pgc_lock(b->p);
    int rc = pgc_exec(b->p,
                      "INSERT INTO blob_pending(data, since) SELECT nextval('blob_versions'), $1 "
                      "RETURNING data",
                      1, vals, NULL, NULL, &res, err);
    pgc_unlock(b->p);
    if (rc) {
        pbw_free(w);
        return rc;
    }
    snprintf(w->data, sizeof w->data, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    *out = w;
    return 0;
}

/* Writes the chunk being filled as chunk w->n. */
static int flush(pblob_t *b, pbw_t *w, weft_error_t *err) {
    char n[16];
    snprintf(n, sizeof n, "%d", w->n);
    const char *vals[] = {w->data, n, (const char *)w->buf};
    int lens[] = {0, 0, (int)w->len};
    int fmts[] = {0, 0, 1};
    PGresult *res = NULL;
    pgc_lock(b->p);
    int rc = pgc_exec(b->p, "INSERT INTO blob_chunks(data, n, bytes) VALUES($1, $2, $3)", 3, vals,
                      lens, fmts, &res, err);
    pgc_unlock(b->p);
    PQclear(res);
    if (!rc) {
        w->n++;
        w->len = 0;
    }
    return rc;
}

static int pblob_write(void *self, void *wp, const void *data, size_t n, weft_error_t *err) {
    pbw_t *w = wp;
    const uint8_t *p = data;
    while (n) {
        size_t k = BLOB_CHUNK - w->len < n ? BLOB_CHUNK - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        w->written += k;
        p += k;
        n -= k;
        if (w->len == BLOB_CHUNK) {
            int rc = flush(self, w, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static void pblob_abort(void *self, void *wp) {
    pblob_t *b = self;
    pbw_t *w = wp;
    const char *vals[] = {w->data};
    weft_error_t e;
    pgc_lock(b->p);
    run(b,
        "WITH g AS (DELETE FROM blob_pending WHERE data = $1 RETURNING data) "
        "DELETE FROM blob_chunks WHERE data = $1",
        1, vals, &e);
    pgc_unlock(b->p);
    pbw_free(w);
}

static int check_cond(const char *container, const char *name, bool found, uint64_t have,
                      uint64_t if_version, bool if_absent, weft_error_t *err) {
    if (if_absent && found)
        return weft_error_set(err, WEFT_ECONFLICT, "blobs: %s/%.200s exists (version %llu)",
                              container, name, (unsigned long long)have);
    if (if_version && (!found || have != if_version))
        return weft_error_set(err, WEFT_ECONFLICT, "blobs: %s/%.200s %s, not at version %llu",
                              container, name, found ? "holds another version" : "is absent",
                              (unsigned long long)if_version);
    return 0;
}

/* The blob's row: *found, *m and its data id (data: 24 bytes). FOR UPDATE when lock. */
static int lookup(pblob_t *b, const char *container, const char *name, bool lock, bool *found,
                  weft_blob_meta_t *m, char *data, weft_error_t *err) {
    const char *vals[] = {container, name};
    int lens[] = {0, (int)strlen(name)};
    int fmts[] = {0, 1};
    PGresult *res = NULL;
    int rc = pgc_exec(b->p,
                      lock ? "SELECT size, content_type, sha256, mtime, version, data FROM blobs "
                             "WHERE container = $1 AND name = $2 FOR UPDATE"
                           : "SELECT size, content_type, sha256, mtime, version, data FROM blobs "
                             "WHERE container = $1 AND name = $2",
                      2, vals, lens, fmts, &res, err);
    if (rc)
        return rc;
    *found = PQntuples(res) > 0;
    if (*found) {
        m->size = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(m->content_type, sizeof m->content_type, "%s", PQgetvalue(res, 0, 1));
        snprintf(m->sha256, sizeof m->sha256, "%s", PQgetvalue(res, 0, 2));
        m->mtime_ms = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        m->version = strtoull(PQgetvalue(res, 0, 4), NULL, 10);
        snprintf(data, 24, "%s", PQgetvalue(res, 0, 5));
    }
    PQclear(res);
    return 0;
}

/* Adds delta to the visible bytes; ELIMIT when a growth passes max_bytes. */
static int count_bytes(pblob_t *b, int64_t delta, const char *container, const char *name,
                       uint64_t size, weft_error_t *err) {
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, delta);
    const char *vals[] = {num};
    PGresult *res = NULL;
    int rc = pgc_exec(b->p, "UPDATE blob_meta SET bytes = bytes + $1 RETURNING bytes", 1, vals,
                      NULL, NULL, &res, err);
    if (rc)
        return rc;
    int64_t total = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (b->max_bytes && delta > 0 && (uint64_t)total > b->max_bytes)
        return weft_error_set(err, WEFT_ELIMIT,
                              "blobs: %s is full: %" PRId64 " bytes of blobs, and %s/%.200s would "
                              "add %" PRIu64 " (the store's max_bytes is %" PRIu64 ")",
                              pgc_describe(b->p), total - delta, container, name, size,
                              b->max_bytes);
    return 0;
}

/* One attempt at the commit's transaction; *retry when a concurrent commit of the same
 * absent name came first. */
static int commit_once(pblob_t *b, pbw_t *w, const weft_blob_put_options_t *o, weft_blob_meta_t *m,
                       bool *retry, weft_error_t *err) {
    bool found = false;
    weft_blob_meta_t old = {0};
    char old_data[24] = "";
    *retry = false;
    int rc = pgc_begin(b->p, err);
    PGresult *res = NULL;
    if (!rc) {
        /* Every chunk is there: none was lost with a connection. */
        const char *vals[] = {w->data};
        rc = pgc_exec(b->p,
                      "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM blob_chunks WHERE "
                      "data = $1",
                      1, vals, NULL, NULL, &res, err);
        if (!rc && (strtol(PQgetvalue(res, 0, 0), NULL, 10) != w->n ||
                    strtoull(PQgetvalue(res, 0, 1), NULL, 10) != m->size))
            rc = weft_error_set(err, WEFT_EIO,
                                "blobs: %s: %s/%.200s: %d chunks of %" PRIu64
                                " bytes were written, the server holds %s of %s",
                                pgc_server(b->p), w->container, w->name, w->n, m->size,
                                PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        PQclear(res);
        res = NULL;
    }
    if (!rc)
        rc = lookup(b, w->container, w->name, true, &found, &old, old_data, err);
    if (!rc)
        rc =
            check_cond(w->container, w->name, found, old.version, o->if_version, o->if_absent, err);
    if (!rc)
        rc = count_bytes(b, (int64_t)m->size - (int64_t)old.size, w->container, w->name, m->size,
                         err);
    char size[24], mtime[24];
    m->mtime_ms = dist_wall_ms();
    snprintf(size, sizeof size, "%" PRIu64, m->size);
    snprintf(mtime, sizeof mtime, "%" PRId64, m->mtime_ms);
    if (!rc) {
        const char *vals[] = {w->container, w->name, size,   m->content_type,
                              m->sha256,    mtime,   w->data};
        int lens[] = {0, (int)strlen(w->name), 0, 0, 0, 0, 0};
        int fmts[] = {0, 1, 0, 0, 0, 0, 0};
        rc = pgc_exec(b->p,
                      found ? "UPDATE blobs SET size = $3, content_type = $4, sha256 = $5, "
                              "mtime = $6, version = nextval('blob_versions'), data = $7 WHERE "
                              "container = $1 AND name = $2 RETURNING version"
                            : "INSERT INTO blobs(container, name, size, content_type, sha256, "
                              "mtime, version, data) VALUES($1, $2, $3, $4, $5, $6, "
                              "nextval('blob_versions'), $7) ON CONFLICT DO NOTHING RETURNING "
                              "version",
                      7, vals, lens, fmts, &res, err);
        if (!rc && PQntuples(res) == 0) {
            *retry = true;
            rc = weft_error_set(err, WEFT_ECONFLICT, "blobs: %s/%.200s: committed concurrently",
                                w->container, w->name);
        } else if (!rc) {
            m->version = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        }
        PQclear(res);
    }
    if (!rc) {
        const char *vals[] = {w->data};
        rc = run(b, "DELETE FROM blob_pending WHERE data = $1", 1, vals, err);
    }
    if (!rc && found) {
        const char *vals[] = {old_data, mtime};
        rc = run(b, "INSERT INTO blob_garbage(data, since) VALUES($1, $2)", 2, vals, err);
    }
    if (!rc)
        rc = pgc_commit(b->p, err);
    else
        pgc_rollback(b->p);
    return rc;
}

static int pblob_commit(void *self, void *wp, const weft_blob_put_options_t *o, weft_blob_meta_t *m,
                        weft_error_t *err) {
    pblob_t *b = self;
    pbw_t *w = wp;
    int rc = w->len ? flush(b, w, err) : 0;
    bool retry = false;
    pgc_lock(b->p);
    for (int i = 0; !rc && i < 3; i++)
        if (!(rc = commit_once(b, w, o, m, &retry, err)) || !retry)
            break;
    if (!rc)
        sweep(b, false);
    pgc_unlock(b->p);
    if (rc)
        pblob_abort(self, w); /* its chunks go */
    else
        pbw_free(w);
    return rc;
}

static int pblob_reader_open(void *self, const char *container, const char *name, void **out,
                             weft_blob_meta_t *m, weft_error_t *err) {
    pblob_t *b = self;
    pbr_t *r = calloc(1, sizeof *r);
    if (!r || !(r->container = strdup(container)) || !(r->name = strdup(name))) {
        if (r)
            free(r->container);
        free(r);
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    }
    bool found = false;
    pgc_lock(b->p);
    int rc = lookup(b, container, name, false, &found, m, r->data, err);
    pgc_unlock(b->p);
    if (!rc && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "blobs: no blob %s/%.200s", container, name);
    if (rc) {
        free(r->container);
        free(r->name);
        free(r);
        return rc;
    }
    r->size = m->size;
    *out = r;
    return 0;
}

static int pblob_read(void *self, void *rp, uint64_t offset, void *buf, size_t n, size_t *got,
                      weft_error_t *err) {
    pblob_t *b = self;
    pbr_t *r = rp;
    if (offset >= r->size)
        return 0;
    if (n > r->size - offset)
        n = (size_t)(r->size - offset);
    uint8_t *out = buf;
    int rc = 0;
    pgc_lock(b->p);
    while (!rc && *got < n) {
        uint64_t at = offset + *got;
        size_t in = (size_t)(at % BLOB_CHUNK), k = BLOB_CHUNK - in;
        if (k > n - *got)
            k = n - *got;
        char chunk[16], from[16], len[16];
        snprintf(chunk, sizeof chunk, "%" PRIu64, at / BLOB_CHUNK);
        snprintf(from, sizeof from, "%zu", in + 1);
        snprintf(len, sizeof len, "%zu", k);
        const char *vals[] = {r->data, chunk, from, len};
        PGresult *res = NULL;
        rc = pgc_exec_binary(b->p,
                             "SELECT substring(bytes FROM $3::int FOR $4::int) FROM blob_chunks "
                             "WHERE data = $1 AND n = $2",
                             4, vals, NULL, NULL, &res, err);
        if (!rc && (PQntuples(res) == 0 || (size_t)PQgetlength(res, 0, 0) != k))
            rc = weft_error_set(err, WEFT_EIO,
                                "blobs: %s: %s/%.200s: the bytes at %" PRIu64
                                " are gone (the version read was replaced or deleted more than "
                                "%d minutes ago)",
                                pgc_server(b->p), r->container, r->name, at, BLOB_GRACE_MS / 60000);
        if (!rc) {
            memcpy(out + *got, PQgetvalue(res, 0, 0), k);
            *got += k;
        }
        PQclear(res);
    }
    pgc_unlock(b->p);
    return rc;
}

static void pblob_reader_close(void *self, void *rp) {
    pbr_t *r = rp;
    free(r->container);
    free(r->name);
    free(r);
}

static int pblob_stat(void *self, const char *container, const char *name, weft_blob_meta_t *m,
                      weft_error_t *err) {
    pblob_t *b = self;
    bool found = false;
    char data[24];
    pgc_lock(b->p);
    int rc = lookup(b, container, name, false, &found, m, data, err);
    pgc_unlock(b->p);
    if (!rc && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "blobs: no blob %s/%.200s", container, name);
    return rc;
}

static int pblob_delete(void *self, const char *container, const char *name, uint64_t if_version,
                        weft_error_t *err) {
    pblob_t *b = self;
    bool found = false;
    weft_blob_meta_t m = {0};
    char data[24] = "";
    pgc_lock(b->p);
    int rc = pgc_begin(b->p, err);
    if (!rc && !(rc = lookup(b, container, name, true, &found, &m, data, err)) && !found)
        rc = weft_error_set(err, WEFT_ENOTFOUND, "blobs: no blob %s/%.200s", container, name);
    if (!rc)
        rc = check_cond(container, name, found, m.version, if_version, false, err);
    if (!rc)
        rc = count_bytes(b, -(int64_t)m.size, container, name, 0, err);
    if (!rc) {
        const char *vals[] = {container, name};
        int lens[] = {0, (int)strlen(name)};
        int fmts[] = {0, 1};
        PGresult *res = NULL;
        rc = pgc_exec(b->p, "DELETE FROM blobs WHERE container = $1 AND name = $2", 2, vals, lens,
                      fmts, &res, err);
        PQclear(res);
    }
    if (!rc) {
        char now[24];
        snprintf(now, sizeof now, "%" PRId64, dist_wall_ms());
        const char *vals[] = {data, now};
        rc = run(b, "INSERT INTO blob_garbage(data, since) VALUES($1, $2)", 2, vals, err);
    }
    if (!rc)
        rc = pgc_commit(b->p, err);
    else
        pgc_rollback(b->p);
    pgc_unlock(b->p);
    return rc;
}

static int pblob_list(void *self, const char *container, const char *prefix, const char *after,
                      size_t limit, weft_store_names_t *page, weft_error_t *err) {
    pblob_t *b = self;
    char *end = dist_prefix_end(prefix);
    if (*prefix && !end && strspn(prefix, "\xff") < strlen(prefix))
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", limit + 1);
    const char *vals[] = {container, after, prefix, end, lim};
    int lens[] = {0, (int)strlen(after), (int)strlen(prefix), end ? (int)strlen(end) : 0, 0};
    int fmts[] = {0, 1, 1, 1, 0};
    PGresult *res = NULL;
    pgc_lock(b->p);
    int rc = pgc_exec_binary(b->p,
                             "SELECT name FROM blobs WHERE container = $1 AND name > $2 AND "
                             "name >= $3 AND ($4::bytea IS NULL OR name < $4) ORDER BY name "
                             "LIMIT $5::int",
                             5, vals, lens, fmts, &res, err);
    pgc_unlock(b->p);
    free(end);
    if (rc)
        return rc;
    size_t rows = (size_t)PQntuples(res), n = rows > limit ? limit : rows;
    page->names = calloc(n ? n : 1, sizeof *page->names);
    if (!page->names)
        rc = weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!(page->names[i] =
                  strndup(PQgetvalue(res, (int)i, 0), (size_t)PQgetlength(res, (int)i, 0))))
            rc = weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
        else
            page->n++;
    }
    page->more = !rc && rows > limit;
    PQclear(res);
    if (rc)
        dist_names_free(page);
    return rc;
}

/* One table for each spelling of the scheme libpq reads (postgresql://, postgres://). */
#define PBLOB_OPS(scheme_)                                                                         \
    {                                                                                              \
        .scheme = scheme_, .open = pblob_open, .close = pblob_close, .describe = pblob_describe,   \
        .writer_open = pblob_writer_open, .write = pblob_write, .commit = pblob_commit,            \
        .abort = pblob_abort, .reader_open = pblob_reader_open, .read = pblob_read,                \
        .reader_close = pblob_reader_close, .stat = pblob_stat, .delete_ = pblob_delete,           \
        .list = pblob_list,                                                                        \
    }
const weft_blob_ops_t weft_blob_pg_ops = PBLOB_OPS("postgresql");
const weft_blob_ops_t weft_blob_postgres_ops = PBLOB_OPS("postgres");
