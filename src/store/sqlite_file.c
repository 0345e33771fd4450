/* sqlite_file: the SQLite file under each embedded key-value, document and blob backend
 * (internal.h). The durability settings are the journal's (journal_sqlite.c says why):
 * WAL with synchronous=FULL, so that a transaction is synced before COMMIT returns; the
 * folder synced when the file is created; an exclusive flock(2) while open, so that two
 * handles never write one file (versions would be given twice). Unlike the journal,
 * these stores have no group commit: each write is a transaction of its own, one fsync,
 * on the one connection, under the file's mutex. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SQF_SCHEMA 1      /* PRAGMA user_version */
#define SQF_BUSY_MS 10000 /* how long a connection waits for a lock */
#define SQF_WAL_LIMIT (64 << 20)

static int sqf_code(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return WEFT_ELIMIT;
    case SQLITE_NOMEM:
        return WEFT_ENOMEM;
    case SQLITE_TOOBIG:
        return WEFT_ELIMIT;
    default:
        return WEFT_EIO;
    }
}

int sqf_fail(sqf_t *f, int rc, const char *what, weft_error_t *err) {
    const char *msg = f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return weft_error_set(err, WEFT_EIO, "%s: %s: not a weft store (not a SQLite database)",
                              f->path, what);
    if ((rc & 0xff) == SQLITE_FULL)
        return weft_error_set(err, WEFT_ELIMIT,
                              "%s: %s: %s (the store is full: its max_bytes or the disk)", f->path,
                              what, msg);
    return weft_error_set(err, sqf_code(rc), "%s: %s: %s", f->path, what, msg);
}

int sqf_prepare(sqf_t *f, sqlite3_stmt **out, const char *sql, weft_error_t *err) {
    int rc = sqlite3_prepare_v3(f->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : sqf_fail(f, rc, "prepare", err);
}

int sqf_run(sqf_t *f, sqlite3_stmt *s, weft_error_t *err) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    int out = rc == SQLITE_DONE ? 0 : sqf_fail(f, rc, "write", err);
    sqlite3_reset(s);
    return out;
}

static int sqf_exec(sqf_t *f, const char *sql, const char *what, weft_error_t *err) {
    int rc = sqlite3_exec(f->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sqf_fail(f, rc, what, err);
}

int sqf_begin(sqf_t *f, weft_error_t *err) {
    int rc = sqf_exec(f, "BEGIN IMMEDIATE", "begin a transaction", err);
    f->in_tx = rc == 0;
    return rc;
}

int sqf_commit(sqf_t *f, weft_error_t *err) {
    int rc = sqf_exec(f, "COMMIT", "commit", err);
    if (rc)
        sqf_rollback(f);
    f->in_tx = false;
    return rc;
}

void sqf_rollback(sqf_t *f) {
    if (!sqlite3_get_autocommit(f->db))
        sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
    f->in_tx = false;
}

int sqf_next_version(sqf_t *f, uint64_t *version, weft_error_t *err) {
    sqlite3_bind_int64(f->bump, 1, (sqlite3_int64)(f->version + 1));
    int rc = sqf_run(f, f->bump, err);
    if (rc)
        return rc;
    /* Given even if the transaction rolls back: a version is never given twice, and
     * one nobody saw may be skipped. */
    *version = ++f->version;
    return 0;
}

/* ---- Group commit (internal.h) ---------------------------------------------------------- */

/* Most writes one transaction takes. */
#define SQF_BATCH 256

void sqf_writer_init(sqf_writer_t *g, sqf_t *f, void *arg) {
    g->f = f;
    g->arg = arg;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->queue = NULL;
    g->queue_end = &g->queue;
    g->leading = false;
}

void sqf_writer_destroy(sqf_writer_t *g) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cond);
}

static bool own_failure(int rc) {
    return rc == WEFT_ECONFLICT || rc == WEFT_ENOTFOUND;
}

/* Writes ws[0..n) in one transaction. Returns the transaction's failure, if any (then
 * nothing of the batch is written and the answers are not final); else each write's rc
 * is its answer. Under the file's mutex. */
static int write_batch(sqf_writer_t *g, sqf_write_t *const *ws, size_t n, weft_error_t *err) {
    int rc = sqf_begin(g->f, err);
    if (!rc && g->prologue)
        rc = g->prologue(g->arg, ws[0], err);
    for (size_t i = 0; !rc && i < n; i++) {
        int wrc = g->apply(g->arg, ws[i]);
        if (wrc && !own_failure(wrc)) {
            *err = *ws[i]->err;
            rc = wrc;
        }
        ws[i]->rc = wrc;
    }
    if (!rc)
        rc = sqf_commit(g->f, err);
    else
        sqf_rollback(g->f);
    return rc;
}

/* One write in a transaction of its own, tried once more when make_room says so. Under
 * the file's mutex. */
static void write_alone(sqf_writer_t *g, sqf_write_t *w) {
    sqf_write_t *one[] = {w};
    weft_error_t err = {0};
    int rc = write_batch(g, one, 1, &err);
    if (rc && g->make_room && g->make_room(g->arg, w, rc))
        rc = write_batch(g, one, 1, &err);
    if (rc) {
        w->rc = rc;
        *w->err = err;
    }
}

/* The leader's turn over the queue it took: applied and committed with the file's
 * mutex, every write answered. */
static void lead(sqf_writer_t *g, sqf_write_t *batch) {
    sqf_write_t *ws[SQF_BATCH];
    pthread_mutex_lock(&g->f->mu);
    while (batch) {
        size_t n = 0;
        for (; batch && n < SQF_BATCH; batch = batch->next)
            ws[n++] = batch;
        weft_error_t err = {0};
        if (n == 1 || write_batch(g, ws, n, &err))
            for (size_t i = 0; i < n; i++)
                write_alone(g, ws[i]); /* alone, or the batch failed as a whole */
        /* Answered: a write marked done may be gone at once (its writer returns). */
        pthread_mutex_lock(&g->mu);
        for (size_t i = 0; i < n; i++)
            ws[i]->done = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&g->f->mu);
}

int sqf_write(sqf_writer_t *g, sqf_write_t *w) {
    w->next = NULL;
    w->rc = 0;
    w->done = false;
    pthread_mutex_lock(&g->mu);
    *g->queue_end = w;
    g->queue_end = &w->next;
    while (!w->done) {
        if (g->leading) {
            pthread_cond_wait(&g->cond, &g->mu);
            continue;
        }
        sqf_write_t *batch = g->queue;
        g->queue = NULL;
        g->queue_end = &g->queue;
        g->leading = true;
        pthread_mutex_unlock(&g->mu);
        lead(g, batch);
        pthread_mutex_lock(&g->mu);
        g->leading = false;
        pthread_cond_broadcast(&g->cond); /* a writer queued meanwhile leads next */
    }
    pthread_mutex_unlock(&g->mu);
    return w->rc;
}

/* Creates the folder and the file, takes the lock, syncs the folder of a new file. */
static int lock_file(sqf_t *f, weft_error_t *err) {
    struct stat sb;
    if (stat(f->dir, &sb) != 0 && weft_mkdirs(f->dir, 0700) != 0)
        return weft_error_set(err, WEFT_EIO, "%s: cannot create the folder: %s", f->dir,
                              strerror(errno));
    f->lock_fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f->lock_fd < 0)
        return weft_error_set(err, WEFT_EIO, "%s: cannot open: %s", f->path, strerror(errno));
    if (fstat(f->lock_fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return weft_error_set(err, WEFT_EIO, "%s: not a regular file", f->path);
    if (flock(f->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return weft_error_set(err, WEFT_EIO,
                              errno == EWOULDBLOCK ? "%s: in use: another weft process (or this "
                                                     "one) has the store open"
                                                   : "%s: cannot lock: %s",
                              f->path, strerror(errno));
    if (sb.st_size == 0) {
        int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = dfd < 0 || fsync(dfd) != 0;
        if (dfd >= 0)
            close(dfd);
        if (rc)
            return weft_error_set(err, WEFT_EIO, "%s: cannot sync the folder: %s", f->dir,
                                  strerror(errno));
    }
    return 0;
}

static int read_int(sqf_t *f, const char *sql, int64_t *out, weft_error_t *err) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(f->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int64(s, 0);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    int out_rc = rc == SQLITE_OK ? 0 : sqf_fail(f, rc, sql, err);
    sqlite3_finalize(s);
    return out_rc;
}

static int prepare_file(sqf_t *f, const char *kind, int32_t app_id, const char *schema,
                        uint64_t max_bytes, weft_error_t *err) {
    int64_t app = 0, version = 0, tables = 0;
    int rc = read_int(f, "PRAGMA application_id", &app, err);
    if (!rc)
        rc = read_int(f, "PRAGMA user_version", &version, err);
    if (!rc)
        rc = read_int(f, "SELECT count(*) FROM sqlite_schema", &tables, err);
    if (rc)
        return rc;
    if (app != app_id && (app != 0 || tables != 0))
        return weft_error_set(err, WEFT_EIO,
                              "%s: not a weft %s store (a SQLite database of "
                              "something else)",
                              f->path, kind);
    if (version > SQF_SCHEMA)
        return weft_error_set(err, WEFT_EIO,
                              "%s: written by a newer weft (layout %lld; this weft reads up to %d)",
                              f->path, (long long)version, SQF_SCHEMA);
    char mode[16] = "";
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(f->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(s, 0);
        snprintf(mode, sizeof mode, "%s", m ? m : "?");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = sqf_fail(f, rc, "PRAGMA journal_mode = WAL", err);
    sqlite3_finalize(s);
    if (rc)
        return rc;
    if (strcmp(mode, "wal") != 0)
        return weft_error_set(err, WEFT_EIO,
                              "%s: SQLite cannot use its write-ahead log here (journal mode "
                              "\"%s\"); put the folder on a local file system",
                              f->path, mode);
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = %d; "
             "PRAGMA foreign_keys = OFF",
             SQF_WAL_LIMIT);
    if ((rc = sqf_exec(f, sql, "set up", err)))
        return rc;
    if (max_bytes) {
        int64_t page = 4096;
        if ((rc = read_int(f, "PRAGMA page_size", &page, err)))
            return rc;
        uint64_t pages = max_bytes / (uint64_t)page;
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %llu",
                 (unsigned long long)(pages ? pages : 1));
        if ((rc = sqf_exec(f, sql, "set max_bytes", err)))
            return rc;
    }
    if (app == 0) {
        if ((rc = sqf_begin(f, err)))
            return rc;
        snprintf(sql, sizeof sql,
                 "CREATE TABLE meta(version INTEGER NOT NULL); INSERT INTO meta VALUES(0); "
                 "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 (int)app_id, SQF_SCHEMA);
        if ((rc = sqf_exec(f, sql, "create the tables", err)) ||
            (rc = sqf_exec(f, schema, "create the tables", err)) || (rc = sqf_commit(f, err))) {
            sqf_rollback(f);
            return rc;
        }
    }
    int64_t v = 0;
    if ((rc = read_int(f, "SELECT version FROM meta", &v, err)))
        return rc;
    f->version = (uint64_t)v;
    return sqf_prepare(f, &f->bump, "UPDATE meta SET version = ?1", err);
}

/* WAL's automatic checkpoint, which a WAL hook replaces, in pages. */
#define SQF_CHECKPOINT_PAGES 1000

/* Called by SQLite after each commit of the writing connection, the write lock
 * released: counts it, checkpoints as SQLite's automatic checkpoint would, and ends the
 * read connection's transaction if no read holds it (else its next read does), so that
 * an old snapshot does not keep the WAL from being reused. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages) {
    sqf_t *f = arg;
    atomic_fetch_add(&f->gen, 1);
    if (pages >= SQF_CHECKPOINT_PAGES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (pthread_mutex_trylock(&f->rmu) == 0) {
        if (f->rtx) {
            sqlite3_exec(f->rdb, "COMMIT", NULL, NULL, NULL);
            f->rtx = false;
        }
        pthread_mutex_unlock(&f->rmu);
    }
    return SQLITE_OK;
}

void sqf_read_lock(sqf_t *f) {
    pthread_mutex_lock(&f->rmu);
    uint64_t gen = atomic_load(&f->gen);
    if (f->rtx && f->rgen != gen) {
        sqlite3_exec(f->rdb, "COMMIT", NULL, NULL, NULL);
        f->rtx = false;
    }
    /* gen is read before BEGIN, and the snapshot is taken at the first read after it:
     * it holds every commit counted in gen. On failure, each read is its own
     * transaction. */
    if (!f->rtx && sqlite3_exec(f->rdb, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
        f->rgen = gen;
        f->rtx = true;
    }
}

int sqf_open(sqf_t *f, const char *location, const char *file, const char *kind, int32_t app_id,
             const char *schema, uint64_t max_bytes, weft_error_t *err) {
    memset(f, 0, sizeof *f);
    f->lock_fd = -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->rmu, NULL);
    const char *dir = strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location;
    if (!*dir)
        return weft_error_set(err, WEFT_EINVAL, "%s: no folder named after \"sqlite:\"", location);
    if (asprintf(&f->path, "%s/%s", dir, file) < 0) {
        f->path = NULL;
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", dir);
    }
    if (asprintf(&f->describe, "SQLite %s %s", kind, f->path) < 0) {
        f->describe = NULL;
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", dir);
    }
    if (!(f->dir = strdup(dir)))
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", dir);
    int rc = lock_file(f, err);
    if (rc)
        return rc;
    int src = sqlite3_open_v2(f->path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK)
        return sqf_fail(f, src, "open", err);
    sqlite3_extended_result_codes(f->db, 1);
    sqlite3_busy_timeout(f->db, SQF_BUSY_MS);
    if ((rc = prepare_file(f, kind, app_id, schema, max_bytes, err)))
        return rc;
    /* Opened once the file is a WAL database with its tables. */
    src = sqlite3_open_v2(f->path, &f->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK)
        return weft_error_set(err, WEFT_EIO, "%s: open for reading: %s", f->path,
                              f->rdb ? sqlite3_errmsg(f->rdb) : sqlite3_errstr(src));
    sqlite3_extended_result_codes(f->rdb, 1);
    sqlite3_busy_timeout(f->rdb, SQF_BUSY_MS);
    sqlite3_wal_hook(f->db, on_commit, f);
    return 0;
}

int sqf_prepare_read(sqf_t *f, sqlite3_stmt **out, const char *sql, weft_error_t *err) {
    int rc = sqlite3_prepare_v3(f->rdb, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK)
        return weft_error_set(err, WEFT_EIO, "%s: prepare: %s", f->path, sqlite3_errmsg(f->rdb));
    return 0;
}

void sqf_close(sqf_t *f) {
    sqlite3_finalize(f->bump);
    if (f->rtx)
        sqlite3_exec(f->rdb, "COMMIT", NULL, NULL, NULL);
    if (f->rdb && sqlite3_close(f->rdb) != SQLITE_OK)
        weft_log("%s: close: %s", f->path, sqlite3_errmsg(f->rdb));
    if (f->db && sqlite3_close(f->db) != SQLITE_OK)
        weft_log("%s: close: %s", f->path, sqlite3_errmsg(f->db));
    if (f->lock_fd >= 0)
        close(f->lock_fd); /* after SQLite closed the file (journal_sqlite.c says why) */
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->rmu);
    free(f->path);
    free(f->dir);
    free(f->describe);
    memset(f, 0, sizeof *f);
    f->lock_fd = -1;
}

int store_sqlite_names(sqf_t *f, sqlite3_stmt *s, size_t limit, weft_store_names_t *page,
                       weft_error_t *err) {
    int rc = 0, step;
    page->names = calloc(limit, sizeof *page->names);
    if (!page->names)
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", f->path);
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (page->n == limit) {
            page->more = true;
            break;
        }
        const char *name = (const char *)sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        char *copy = malloc((size_t)n + 1);
        if (!copy) {
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", f->path);
            break;
        }
        if (n)
            memcpy(copy, name, (size_t)n);
        copy[n] = 0;
        page->names[page->n++] = copy;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = sqf_fail(f, step, "list", err);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc)
        weft_store_names_free(page);
    return rc;
}

char *store_prefix_end(const char *prefix) {
    size_t n = strlen(prefix);
    while (n && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (!n)
        return NULL;
    char *end = strndup(prefix, n);
    if (end)
        end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    return end;
}
