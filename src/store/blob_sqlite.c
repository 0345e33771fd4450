/* blob_sqlite: the blob store's embedded backend (store.h): metadata in DIR/blobs.db,
 * bytes in files under DIR/blobs/.
 *
 * A blob's file is named by its version (16 hex digits), never by the blob's name: names
 * are any bytes, and a version is given once per file (blobs.db). A writer writes
 * DIR/blobs/tmp-XXXXXX; commit syncs it, then, under the file's mutex and in one
 * transaction: checks the condition and the size cap, takes a version, renames the file
 * to it, syncs the folder (the rename is durable), writes the row and commits (synced:
 * the blob is visible). So a crash before the commit leaves a file no row names (an
 * orphan, or a tmp- file), and one after it a blob whole on disk. Open removes tmp-
 * files and orphans; a replaced or deleted blob's file is unlinked after its row is gone
 * (a crash between the two leaves an orphan, removed at the next open). Readers open the
 * file under the mutex, so that the row and the file they read agree; an open reader
 * keeps reading its version after the blob is replaced or deleted (the file is only
 * unlinked). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define BLOB_APP_ID 0x7766626c /* "wfbl" */

typedef struct blq {
    sqf_t f;
    char *data;  /* DIR/blobs */
    int data_fd; /* its descriptor, for fsync */
    uint64_t max_bytes;
    uint64_t total; /* the blobs' sizes, under f.mu */
    sqlite3_stmt *get, *put, *del, *list, *has_version;
    sqlite3_stmt *rget, *rlist; /* on the read-only connection */
} blq_t;

typedef struct blw {
    int fd;
    char *tmp;
    char *container, *name;
} blw_t;

typedef struct blr {
    int fd;
    uint64_t size;
} blr_t;

static const char *const schema =
    "CREATE TABLE blobs(container TEXT NOT NULL, name BLOB NOT NULL, size INTEGER NOT NULL, "
    "content_type TEXT NOT NULL, sha256 TEXT NOT NULL, mtime INTEGER NOT NULL, "
    "version INTEGER NOT NULL UNIQUE, PRIMARY KEY(container, name));";

static void file_of(const blq_t *q, uint64_t version, char *out, size_t size) {
    snprintf(out, size, "%s/%016" PRIx64, q->data, version);
}

static void blq_free(blq_t *q) {
    sqlite3_stmt *stmts[] = {q->get, q->put, q->del, q->list, q->has_version, q->rget, q->rlist};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        sqlite3_finalize(stmts[i]);
    sqf_close(&q->f);
    if (q->data_fd >= 0)
        close(q->data_fd);
    free(q->data);
    free(q);
}

/* Removes what no row names: tmp- files of writers that never committed, and files of
 * versions whose commit did not happen or whose blob was replaced or deleted. */
static int sweep(blq_t *q, weft_error_t *err) {
    DIR *d = fdopendir(dup(q->data_fd));
    if (!d)
        return weft_error_set(err, WEFT_EIO, "%s: cannot read the folder: %s", q->data,
                              strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        const char *n = e->d_name;
        bool orphan = strncmp(n, "tmp-", 4) == 0;
        if (!orphan && strlen(n) == 16 && strspn(n, "0123456789abcdef") == 16) {
            sqlite3_bind_int64(q->has_version, 1, (sqlite3_int64)strtoull(n, NULL, 16));
            int step = sqlite3_step(q->has_version);
            if (step == SQLITE_DONE)
                orphan = true;
            else if (step != SQLITE_ROW)
                rc = sqf_fail(&q->f, step, "read the blobs", err);
            sqlite3_reset(q->has_version);
        }
        if (orphan && unlinkat(q->data_fd, n, 0) != 0 && errno != ENOENT)
            rc = weft_error_set(err, WEFT_EIO, "%s/%s: cannot remove: %s", q->data, n,
                                strerror(errno));
    }
    closedir(d);
    return rc;
}

static int blq_open(const char *location, const weft_blob_options_t *opts, void **self,
                    weft_error_t *err) {
    blq_t *q = calloc(1, sizeof *q);
    if (!q)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    q->data_fd = -1;
    q->max_bytes = opts->max_bytes;
    int rc = sqf_open(&q->f, location, "blobs.db", "blobs", BLOB_APP_ID, schema, 0, err);
    if (!rc && asprintf(&q->data, "%s/blobs", q->f.dir) < 0) {
        q->data = NULL;
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    }
    if (!rc && mkdir(q->data, 0700) != 0 && errno != EEXIST)
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot create: %s", q->data, strerror(errno));
    if (!rc && (q->data_fd = open(q->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot open: %s", q->data, strerror(errno));
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } st[] = {
        {&q->get, "SELECT size, content_type, sha256, mtime, version FROM blobs WHERE "
                  "container = ?1 AND name = ?2"},
        {&q->put, "INSERT INTO blobs(container, name, size, content_type, sha256, mtime, version) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(container, name) DO UPDATE SET "
                  "size = excluded.size, content_type = excluded.content_type, "
                  "sha256 = excluded.sha256, mtime = excluded.mtime, version = excluded.version"},
        {&q->del, "DELETE FROM blobs WHERE container = ?1 AND name = ?2"},
        {&q->list, "SELECT name FROM blobs WHERE container = ?1 AND name > ?2 AND name >= ?3 AND "
                   "(?4 IS NULL OR name < ?4) ORDER BY name LIMIT ?5"},
        {&q->has_version, "SELECT 1 FROM blobs WHERE version = ?1"},
    };
    for (size_t i = 0; !rc && i < sizeof st / sizeof st[0]; i++)
        rc = sqf_prepare(&q->f, st[i].s, st[i].sql, err);
    if (!rc)
        rc = sqf_prepare_read(&q->f, &q->rget, st[0].sql, err);
    if (!rc)
        rc = sqf_prepare_read(&q->f, &q->rlist, st[3].sql, err);
    if (!rc)
        rc = sweep(q, err);
    if (!rc) {
        sqlite3_stmt *s = NULL;
        int src =
            sqlite3_prepare_v2(q->f.db, "SELECT coalesce(sum(size), 0) FROM blobs", -1, &s, NULL);
        if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW)
            q->total = (uint64_t)sqlite3_column_int64(s, 0);
        else
            rc = sqf_fail(&q->f, src, "read the blobs", err);
        sqlite3_finalize(s);
    }
    if (rc) {
        blq_free(q);
        return rc;
    }
    *self = q;
    return 0;
}

static void blq_close(void *self) {
    blq_free(self);
}

static const char *blq_describe(void *self) {
    return ((blq_t *)self)->f.describe;
}

/* The blob's row: *found and *m. Under the mutex. */
static int lookup(blq_t *q, sqlite3_stmt *get, const char *container, const char *name, bool *found,
                  weft_blob_meta_t *m, weft_error_t *err) {
    sqlite3_bind_text(get, 1, container, -1, SQLITE_STATIC);
    sqlite3_bind_blob(get, 2, name, (int)strlen(name), SQLITE_STATIC);
    int step = sqlite3_step(get);
    int rc = 0;
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        m->size = (uint64_t)sqlite3_column_int64(get, 0);
        const char *ct = (const char *)sqlite3_column_text(get, 1);
        const char *sha = (const char *)sqlite3_column_text(get, 2);
        snprintf(m->content_type, sizeof m->content_type, "%s", ct ? ct : "");
        snprintf(m->sha256, sizeof m->sha256, "%s", sha ? sha : "");
        m->mtime_ms = sqlite3_column_int64(get, 3);
        m->version = (uint64_t)sqlite3_column_int64(get, 4);
    } else if (step != SQLITE_DONE) {
        rc = sqf_fail(&q->f, step, "read a blob's metadata", err);
    }
    sqlite3_reset(get);
    return rc;
}

static int not_found(const char *container, const char *name, weft_error_t *err) {
    return weft_error_set(err, WEFT_ENOTFOUND, "blobs: no blob %s/%.200s", container, name);
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

static void blw_free(blw_t *w) {
    if (w->fd >= 0)
        close(w->fd);
    free(w->tmp);
    free(w->container);
    free(w->name);
    free(w);
}

static int blq_writer_open(void *self, const char *container, const char *name, void **out,
                           weft_error_t *err) {
    blq_t *q = self;
    blw_t *w = calloc(1, sizeof *w);
    if (!w)
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    w->fd = -1;
    if (asprintf(&w->tmp, "%s/tmp-XXXXXX", q->data) < 0) {
        w->tmp = NULL;
        blw_free(w);
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    }
    w->container = strdup(container);
    w->name = strdup(name);
    if (!w->container || !w->name) {
        blw_free(w);
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    }
    if ((w->fd = mkostemp(w->tmp, O_CLOEXEC)) < 0) {
        int rc =
            weft_error_set(err, WEFT_EIO, "%s: cannot create a file: %s", q->data, strerror(errno));
        blw_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int write_err(const char *path, int e, weft_error_t *err) {
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return weft_error_set(err, WEFT_ELIMIT, "%s: %s (the disk is full)", path, strerror(e));
    return weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(e));
}

static int blq_write(void *self, void *wp, const void *data, size_t n, weft_error_t *err) {
    blw_t *w = wp;
    const uint8_t *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return write_err(w->tmp, errno, err);
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void blq_abort(void *self, void *wp) {
    blw_t *w = wp;
    unlink(w->tmp);
    blw_free(w);
}

static int blq_commit(void *self, void *wp, const weft_blob_put_options_t *o, weft_blob_meta_t *m,
                      weft_error_t *err) {
    blq_t *q = self;
    blw_t *w = wp;
    char final[PATH_MAX];
    bool renamed = false;
    if (fsync(w->fd) != 0) {
        int rc = write_err(w->tmp, errno, err);
        blq_abort(self, w);
        return rc;
    }
    pthread_mutex_lock(&q->f.mu);
    bool found = false;
    weft_blob_meta_t old = {0};
    uint64_t v = 0;
    int rc = sqf_begin(&q->f, err);
    if (!rc && !(rc = lookup(q, q->get, w->container, w->name, &found, &old, err)))
        rc =
            check_cond(w->container, w->name, found, old.version, o->if_version, o->if_absent, err);
    if (!rc && q->max_bytes && q->total - old.size + m->size > q->max_bytes)
        rc = weft_error_set(err, WEFT_ELIMIT,
                            "%s: full: %llu bytes of blobs, and %s/%.200s would add %llu (the "
                            "store's max_bytes is %llu)",
                            q->data, (unsigned long long)q->total, w->container, w->name,
                            (unsigned long long)m->size, (unsigned long long)q->max_bytes);
    if (!rc)
        rc = sqf_next_version(&q->f, &v, err);
    if (!rc) {
        file_of(q, v, final, sizeof final);
        if (rename(w->tmp, final) != 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: cannot rename to %s: %s", w->tmp, final,
                                strerror(errno));
        else if (!(renamed = true) || fsync(q->data_fd) != 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: cannot sync the folder: %s", q->data,
                                strerror(errno));
    }
    if (!rc) {
        m->version = v;
        m->mtime_ms = store_wall_ms();
        sqlite3_bind_text(q->put, 1, w->container, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q->put, 2, w->name, (int)strlen(w->name), SQLITE_STATIC);
        sqlite3_bind_int64(q->put, 3, (sqlite3_int64)m->size);
        sqlite3_bind_text(q->put, 4, m->content_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(q->put, 5, m->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q->put, 6, m->mtime_ms);
        sqlite3_bind_int64(q->put, 7, (sqlite3_int64)v);
        rc = sqf_run(&q->f, q->put, err);
    }
    if (!rc)
        rc = sqf_commit(&q->f, err);
    else
        sqf_rollback(&q->f);
    if (rc) {
        if (renamed)
            unlink(final);
    } else {
        q->total = q->total - old.size + m->size;
        if (found) {
            char oldf[PATH_MAX];
            file_of(q, old.version, oldf, sizeof oldf);
            unlink(oldf);
        }
    }
    pthread_mutex_unlock(&q->f.mu);
    if (rc)
        unlink(w->tmp);
    blw_free(w);
    return rc;
}

static int blq_reader_open(void *self, const char *container, const char *name, void **out,
                           weft_blob_meta_t *m, weft_error_t *err) {
    blq_t *q = self;
    blr_t *r = calloc(1, sizeof *r);
    if (!r)
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    /* Under the writers' mutex: the file of the version read must not be unlinked by a
     * write before it is opened (once open, it stays readable). */
    pthread_mutex_lock(&q->f.mu);
    bool found;
    int rc = lookup(q, q->get, container, name, &found, m, err);
    if (!rc && !found)
        rc = not_found(container, name, err);
    if (!rc) {
        char path[PATH_MAX];
        file_of(q, m->version, path, sizeof path);
        if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: the file of %s/%.200s: %s", path, container,
                                name, strerror(errno));
        r->size = m->size;
    }
    pthread_mutex_unlock(&q->f.mu);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int blq_read(void *self, void *rp, uint64_t offset, void *buf, size_t n, size_t *got,
                    weft_error_t *err) {
    blr_t *r = rp;
    if (offset >= r->size)
        return 0;
    if (n > r->size - offset)
        n = (size_t)(r->size - offset);
    uint8_t *p = buf;
    while (*got < n) {
        ssize_t k = pread(r->fd, p + *got, n - *got, (off_t)(offset + *got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return weft_error_set(err, WEFT_EIO, "blobs: read at %llu: %s",
                                  (unsigned long long)(offset + *got), strerror(errno));
        if (k == 0)
            return weft_error_set(err, WEFT_EIO,
                                  "blobs: the file ends at %llu, before the blob's %llu bytes",
                                  (unsigned long long)(offset + *got), (unsigned long long)r->size);
        *got += (size_t)k;
    }
    return 0;
}

static void blq_reader_close(void *self, void *rp) {
    blr_t *r = rp;
    close(r->fd);
    free(r);
}

static int blq_stat(void *self, const char *container, const char *name, weft_blob_meta_t *m,
                    weft_error_t *err) {
    blq_t *q = self;
    bool found;
    sqf_read_lock(&q->f);
    int rc = lookup(q, q->rget, container, name, &found, m, err);
    pthread_mutex_unlock(&q->f.rmu);
    return !rc && !found ? not_found(container, name, err) : rc;
}

static int blq_delete(void *self, const char *container, const char *name, uint64_t if_version,
                      weft_error_t *err) {
    blq_t *q = self;
    pthread_mutex_lock(&q->f.mu);
    bool found = false;
    weft_blob_meta_t m = {0};
    int rc = sqf_begin(&q->f, err);
    if (!rc && !(rc = lookup(q, q->get, container, name, &found, &m, err)) && !found)
        rc = not_found(container, name, err);
    if (!rc)
        rc = check_cond(container, name, found, m.version, if_version, false, err);
    if (!rc) {
        sqlite3_bind_text(q->del, 1, container, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q->del, 2, name, (int)strlen(name), SQLITE_STATIC);
        rc = sqf_run(&q->f, q->del, err);
    }
    if (!rc)
        rc = sqf_commit(&q->f, err);
    else
        sqf_rollback(&q->f);
    if (!rc) {
        char path[PATH_MAX];
        file_of(q, m.version, path, sizeof path);
        unlink(path);
        q->total -= m.size;
    }
    pthread_mutex_unlock(&q->f.mu);
    return rc;
}

static int blq_list(void *self, const char *container, const char *prefix, const char *after,
                    size_t limit, weft_store_names_t *page, weft_error_t *err) {
    blq_t *q = self;
    char *end = store_prefix_end(prefix);
    sqf_read_lock(&q->f);
    sqlite3_bind_text(q->rlist, 1, container, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q->rlist, 2, after, (int)strlen(after), SQLITE_STATIC);
    sqlite3_bind_blob(q->rlist, 3, prefix, (int)strlen(prefix), SQLITE_STATIC);
    if (end)
        sqlite3_bind_blob(q->rlist, 4, end, (int)strlen(end), SQLITE_STATIC);
    else
        sqlite3_bind_null(q->rlist, 4);
    sqlite3_bind_int64(q->rlist, 5, (sqlite3_int64)limit + 1);
    int rc = store_sqlite_names(&q->f, q->rlist, limit, page, err);
    pthread_mutex_unlock(&q->f.rmu);
    free(end);
    return rc;
}

const weft_blob_ops_t weft_blob_sqlite_ops = {
    .scheme = "sqlite",
    .open = blq_open,
    .close = blq_close,
    .describe = blq_describe,
    .writer_open = blq_writer_open,
    .write = blq_write,
    .commit = blq_commit,
    .abort = blq_abort,
    .reader_open = blq_reader_open,
    .read = blq_read,
    .reader_close = blq_reader_close,
    .stat = blq_stat,
    .delete_ = blq_delete,
    .list = blq_list,
};
