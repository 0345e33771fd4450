/* store/internal.h: what the files of the store layer share and nothing outside it uses:
 * the checks of names and locations (common.c) and the SQLite file every embedded
 * key-value, document and blob backend is built on (sqlite_file.c). */
#ifndef WEFT_STORE_INTERNAL_H
#define WEFT_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

/* A name of a KV store or a collection (store.h, "Names"), or a document id (max bytes
 * given): 1..max bytes of UTF-8 without control characters. `layer` and `what` name it in
 * the message ("kv: store name ..."). */
int store_check_name(const char *layer, const char *what, const char *name, size_t max,
                     weft_error_t *err);

/* The index in schemes[0..n) of the backend location names: "SCHEME:..." or, without a
 * scheme this weft has (and no "://"), 0. A WEFT_E* code (< 0, err set) for an empty
 * location (EINVAL) or a URL of a backend this weft lacks (EUNSUPPORTED). */
int store_backend(const char *layer, const char *location, const char *const *schemes, size_t n,
                  weft_error_t *err);

/* The plugin of the distributed backends (store.h) when location's scheme is one of
 * WEFT_DIST_SCHEMES: 1 with *plugin set (loaded on first use), 0 when the scheme is not
 * one of them (an embedded backend), or a WEFT_E* code (< 0, err set: ELOAD when the
 * plugin cannot be loaded). *scheme_len: the length of the scheme. */
int store_dist(const char *layer, const char *location, const weft_dist_plugin_t **plugin,
               size_t *scheme_len, weft_error_t *err);

/* The index in ops[0..n) (backend tables of one kind, from the plugin: each begins with
 * its `const char *scheme`) of the backend of location's scheme (its first scheme_len
 * bytes), or EUNSUPPORTED (err set). */
int store_dist_pick(const char *layer, const char *location, size_t scheme_len,
                    const void *const *ops, size_t n, weft_error_t *err);

/* The size of a page: 0 the default, else 1..WEFT_STORE_MAX_PAGE (EINVAL past it). */
int store_check_limit(const char *layer, size_t *limit, weft_error_t *err);

/* Milliseconds since the Unix epoch. */
int64_t store_wall_ms(void);

/* ---- The embedded backends' SQLite file ---------------------------------------------- */

/* One SQLite file of a store folder: two connections, one that writes (and reads what a
 * write must check) under mu, and a read-only one under rmu for the reads, which WAL
 * lets go on while a write commits: a read never waits for a write's fsync, only for
 * another read. An exclusive flock(2) held while open (the journal's reason: see
 * journal_sqlite.c), and the last version given. */
typedef struct sqf {
    char *path;     /* DIR/NAME */
    char *dir;      /* DIR */
    char *describe; /* "SQLite key-value DIR/kv.db" */
    int lock_fd;
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3 *rdb;         /* read-only */
    pthread_mutex_t rmu;  /* guards rdb, the statements prepared on it, rgen and rtx */
    _Atomic uint64_t gen; /* commits of the writing connection so far */
    uint64_t rgen;        /* gen when rdb's open read transaction began */
    bool rtx;             /* rdb has a read transaction open (sqf_read_lock) */
    uint64_t version;     /* the last version given (meta table), under mu */
    sqlite3_stmt *bump;
    bool in_tx;
} sqf_t;

/* Opens DIR/file for location ("sqlite:DIR" or DIR), creating DIR, the file and, when
 * the file is new, its tables (schema: SQL run once in the creating transaction, besides
 * the table meta(version) every kind has). kind ("key-value") goes into messages,
 * app_id marks the file as this kind's. */
int sqf_open(sqf_t *f, const char *location, const char *file, const char *kind, int32_t app_id,
             const char *schema, uint64_t max_bytes, weft_error_t *err);
void sqf_close(sqf_t *f);

/* "PATH: what: SQLite's message", with the weft code for SQLite's result code. */
int sqf_fail(sqf_t *f, int rc, const char *what, weft_error_t *err);
int sqf_prepare(sqf_t *f, sqlite3_stmt **out, const char *sql, weft_error_t *err);
/* The same on the read-only connection (used under rmu). */
int sqf_prepare_read(sqf_t *f, sqlite3_stmt **out, const char *sql, weft_error_t *err);
/* Takes rmu for reads on rdb. rdb keeps one read transaction open from read to read
 * while nothing is committed (each transaction costs SQLite's file locks: system
 * calls), and starts a new one, which sees every commit so far, once something was: a
 * read sees every write that returned before it began. Release with
 * pthread_mutex_unlock(&f->rmu). */
void sqf_read_lock(sqf_t *f);
/* Runs a statement to its end (reset after). */
int sqf_run(sqf_t *f, sqlite3_stmt *s, weft_error_t *err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails). */
int sqf_begin(sqf_t *f, weft_error_t *err);
int sqf_commit(sqf_t *f, weft_error_t *err);
void sqf_rollback(sqf_t *f);
/* The next version, written to meta inside the open transaction (rolled back with it). */
int sqf_next_version(sqf_t *f, uint64_t *version, weft_error_t *err);
/* Group commit: writes that come while another commits share the next transaction and
 * its fsync. A write is a struct of the kind's that begins with an sqf_write_t. The
 * first writer to find no batch under way takes the queue and, with the file's mutex,
 * applies each write in the order they came (each sees those before it), commits once
 * and answers each; a write whose own condition fails (WEFT_ECONFLICT, WEFT_ENOTFOUND)
 * fails alone. When the batch's transaction fails as a whole (a full file, an I/O
 * error), each of its writes is made again in a transaction of its own. */
typedef struct sqf_write {
    struct sqf_write *next;
    int rc;            /* the write's answer */
    weft_error_t *err; /* its message, the writer's */
    bool done;
} sqf_write_t;

typedef struct sqf_writer {
    sqf_t *f;
    void *arg; /* the kind's, for the callbacks */
    /* Applies w inside the open transaction (its error in w->err). */
    int (*apply)(void *arg, sqf_write_t *w);
    /* First in each transaction, before its writes (the key-value store purges a few
     * expired keys); NULL: nothing. */
    int (*prologue)(void *arg, sqf_write_t *first, weft_error_t *err);
    /* A write alone failed with rc: may another try succeed (the key-value store purges
     * every expired key of a full file, and says whether any went)? NULL: no. */
    bool (*make_room)(void *arg, sqf_write_t *w, int rc);
    pthread_mutex_t mu; /* guards the queue and leading */
    pthread_cond_t cond;
    sqf_write_t *queue, **queue_end;
    bool leading;
} sqf_writer_t;

void sqf_writer_init(sqf_writer_t *g, sqf_t *f, void *arg);
void sqf_writer_destroy(sqf_writer_t *g);
/* Queues w (its rc and done cleared) and returns its answer once it is committed or
 * failed, by whichever writer leads: thread-safe. */
int sqf_write(sqf_writer_t *g, sqf_write_t *w);

/* Runs a listing statement (bound; column 0 a name; at most limit + 1 rows) into page:
 * limit names and whether more follow. Under the mutex. */
int store_sqlite_names(sqf_t *f, sqlite3_stmt *s, size_t limit, weft_store_names_t *page,
                       weft_error_t *err);

/* The least string past every string that begins with prefix, as bytes (malloc'd), so
 * that a prefix is the range [prefix, end): the prefix without its trailing 0xff bytes
 * and its last byte + 1. NULL when there is none (prefix "" or all 0xff: no upper
 * bound) or on ENOMEM (the caller tells them apart by prefix). */
char *store_prefix_end(const char *prefix);

#endif
