/* journal_sqlite: the journal's embedded backend (store.h), one SQLite file.
 *
 * Durability. The file is in WAL mode with synchronous=FULL. In WAL mode SQLite writes a
 * transaction's pages to the -wal file; with FULL it syncs that file at every commit,
 * before COMMIT returns and before other connections can see the transaction, so that a
 * commit survives a power loss. With NORMAL the WAL is synced only before a checkpoint: a
 * commit survives a crash of the process but "might roll back following a power loss or
 * system crash" (sqlite.org/pragma.html#pragma_synchronous, sqlite.org/wal.html), which
 * is the one thing the journal promises not to do. FULL costs one fsync per commit, and
 * group commit (below) shares it among every append that arrived while the previous
 * commit was being synced. (NORMAL with a second thread syncing the WAL, so that the next
 * group is written while the previous one is synced, was measured: no faster with many
 * appends in flight, slower with few, on a disk whose fsync takes 1-5 ms.) The file's
 * folder is synced when open creates the file, so that the file itself survives; SQLite
 * syncs it when it creates the -wal file.
 *
 * Group commit. One writer thread owns the one writing connection. Appends, position
 * updates, stream creations and trim chunks are queued to it; it takes everything queued
 * (up to GROUP_RECORDS records, GROUP_BYTES bytes), applies it in one transaction, commits
 * (one fsync) and only then reports to each caller. While it commits, new appends queue
 * and form the next group: the fsyncs per second stay what the disk can do, and the
 * records per fsync grow with the load. A failure inside a group (a full disk, a full
 * journal) must fail only the batch that caused it: the group is rolled back and its
 * jobs replayed one transaction each.
 *
 * Layout: streams(id, name, last_seq); per stream, r<id>(seq INTEGER PRIMARY KEY, time,
 * data) and k<id>(seq INTEGER PRIMARY KEY, key), key being the SHA-256 of the dedupe key;
 * positions(stream, consumer, seq). seq is the rowid: a record is one b-tree entry, a page
 * of records one range scan, and an append only ever writes at the right edge of the two
 * b-trees, so a commit writes about as many pages as it adds bytes. (A UNIQUE index on the
 * key would put each record's key on a page of its own, at random: a commit of n records
 * would rewrite n index pages, and the disk's bandwidth, not its fsyncs, would bound the
 * appends.) Dedupe is answered instead by a hash table in memory, per stream, from the
 * key's first 64 bits to its seq, rebuilt from k<id> at open (a sequential scan of 40
 * bytes a record) and checked against the whole SHA-256 in k<id> when it finds a key, so
 * that two keys sharing 64 bits are not taken for one: 16 bytes of memory per retained
 * keyed record, at a load of at most 0.7. streams.last_seq is written when records are
 * trimmed, so that a seq is never given twice even when a stream's every record is gone.
 * A record's time is never less than that of the record before it (the clock is not
 * trusted to be monotonic), so a stream's records older than a cut-off are a prefix of
 * it, which trimming deletes from the front.
 *
 * Checkpoints run on the writer thread between groups, once the WAL holds
 * CHECKPOINT_PAGES: PASSIVE (it copies what no reader still needs), RESTART once the WAL
 * has grown past RESTART_PAGES because readers kept passive ones from completing. So the
 * WAL stays bounded and is rewritten in place (an overwrite syncs faster than a growing
 * file).
 *
 * Reads use a pool of connections of their own (WAL lets them read while the writer
 * writes), which see only committed, hence synced, transactions.
 *
 * A second process writing the same file would give the same seqs twice: open takes an
 * exclusive flock(2) of the file, held until close (flock locks are apart from the POSIX
 * locks SQLite takes, and the descriptor stays open until SQLite has closed the file,
 * since closing any descriptor of a file drops the process's POSIX locks on it).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SQ_APPLICATION_ID 0x77656674 /* "weft": PRAGMA application_id of a journal */
#define SQ_SCHEMA 1                  /* PRAGMA user_version: the layout above */
#define SQ_MAX_READERS 8             /* read connections */
#define SQ_GROUP_RECORDS 16384       /* records in one transaction, at most... */
#define SQ_GROUP_BYTES (32u << 20)   /* ...and bytes (a single larger batch goes alone) */
#define SQ_TRIM_CHUNK 2000           /* records deleted by one trim transaction */
#define SQ_CHECKPOINT_PAGES 4000     /* WAL pages (4 KiB) that start a passive checkpoint */
#define SQ_RESTART_PAGES 32768       /* WAL pages past which a checkpoint waits for readers */
#define SQ_RESTART_WAIT_MS 200       /* how long such a checkpoint waits for them */
#define SQ_BUSY_MS 10000             /* how long a connection waits for a lock */
#define SQ_WRITER_CACHE_KIB 8192     /* the writer's page cache */
#define SQ_WAL_LIMIT (64 << 20)      /* PRAGMA journal_size_limit: a WAL is cut back to this */

typedef struct sq sq_t;

/* A consumer's position. Entries are allocated one by one so that the writer can hold a
 * pointer to one while the array of them grows. */
typedef struct sq_pos {
    char *consumer;
    uint64_t seq;
    bool dirty; /* set since the writer last took it */
    bool gone;  /* deleted: the entry goes once the deletion is written */
} sq_pos_t;

/* A stream's dedupe keys: open addressing with linear probing, from the first 64 bits of
 * a key's SHA-256 to the seq of its record (seq 0: an empty slot). Two keys may share the
 * 64 bits: every slot with them is a candidate, checked against k<id>. */
typedef struct sq_slot {
    uint64_t h;
    uint64_t seq;
} sq_slot_t;

typedef struct sq_keymap {
    sq_slot_t *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
} sq_keymap_t;

#define SQ_KEYMAP_MIN 1024

typedef struct sq_stream {
    int64_t id;
    size_t index; /* in sq_t.streams and in each reader's statements */
    char *name;
    /* Under sq_t.mu. */
    weft_journal_stream_t *pub; /* NULL until weft_journal_stream opens it */
    uint64_t latest;            /* the last committed seq */
    uint64_t high;              /* the highest seq ever given, committed or not */
    sq_pos_t **pos;
    size_t npos, cappos;
    /* The writer thread's. */
    uint64_t durable; /* its copy of latest */
    uint64_t next;    /* the last seq given in the open transaction */
    int64_t last_time;
    bool touched;  /* records added in the open transaction */
    bool advanced; /* records committed in this group: to publish */
    sq_keymap_t keys;
    sqlite3_stmt *ins, *ins_key, *key_of, *scan, *scan_keys, *del, *del_keys, *bump;
} sq_stream_t;

typedef enum { SQ_APPEND, SQ_CREATE, SQ_TRIM, SQ_FLUSH } sq_kind_t;

typedef struct sq_item {
    const uint8_t *data;
    size_t len;
    bool keyed;
    uint8_t key[32]; /* SHA-256 of the dedupe key */
} sq_item_t;

/* A unit of work for the writer. Appends are allocated by weft_journal_append_async and
 * freed by the writer once reported; the others live on the stack of a caller that waits
 * for `finished`. */
typedef struct sq_job {
    struct sq_job *next;
    sq_kind_t kind;
    sq_stream_t *st;
    /* SQ_APPEND */
    size_t n;
    sq_item_t *items;
    weft_journal_ack_t *acks;
    size_t bytes; /* counted in sq_t.queued_bytes */
    weft_journal_done_fn done;
    void *arg;
    /* SQ_CREATE */
    const char *name;
    int64_t id;
    /* SQ_TRIM */
    int64_t before_ms;
    uint64_t deleted;
    bool more;
    /* The outcome. */
    bool finished;
    int status;
    weft_error_t err;
} sq_job_t;

/* What the open transaction did to the key maps, undone if it rolls back. */
typedef struct sq_undo {
    sq_stream_t *st;
    uint64_t h, seq;
    bool added; /* else removed */
} sq_undo_t;

/* A position taken by the writer for the next commit. */
typedef struct sq_pw {
    sq_stream_t *st;
    sq_pos_t *e;
    uint64_t seq;
    bool gone;
} sq_pw_t;

typedef struct sq_reader {
    struct sq_reader *next;
    sqlite3 *db;
    sqlite3_stmt **read; /* by stream index */
    size_t nread;
} sq_reader_t;

struct sq {
    char *path;
    char *describe;
    weft_journal_options_t opts;
    int lock_fd;

    /* The writer thread's (and open's and close's). */
    sqlite3 *w;
    sqlite3_stmt *pos_set, *pos_del, *minpos;
    int wal_pages;
    sq_undo_t *undo;
    size_t nundo, capundo;
    sq_pw_t *pw;
    size_t npw, cappw;
    sq_stream_t **touched; /* streams with records in the open transaction */
    size_t ntouched, captouched;
    struct sq_note *notes; /* streams to notify after a commit */
    size_t capnotes;

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer waits for work */
    pthread_cond_t done; /* callers wait for their jobs */
    /* Under mu. */
    sq_job_t *head, **tail;
    size_t queued_bytes;
    bool pos_dirty;  /* a position was set or deleted */
    bool pos_failed; /* positions a failed commit did not write: retried with the next one */
    bool stopping;
    sq_stream_t **streams;
    size_t nstreams, capstreams;

    pthread_mutex_t rmu;
    pthread_cond_t rfree;
    sq_reader_t *readers; /* free ones */
    size_t nreaders;      /* open ones */
};

/* ---- Errors --------------------------------------------------------------------------- */

/* The weft code for a SQLite result. */
static int sq_code(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return WEFT_ELIMIT;
    case SQLITE_NOMEM:
        return WEFT_ENOMEM;
    case SQLITE_TOOBIG:
        return WEFT_EINVAL;
    default:
        return WEFT_EIO;
    }
}

/* "PATH: what: SQLite's message", with a hint when the journal's own cap is what is full.
 * Call it right after the failing call, on the thread that made it. */
static int sq_fail(sq_t *l, sqlite3 *db, int rc, const char *what, weft_error_t *err) {
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_FULL && l->opts.max_bytes)
        return weft_error_set(err, WEFT_ELIMIT,
                              "%s: %s: %s (the journal may grow to max_bytes %llu; disk "
                              "space or trimming makes room)",
                              l->path, what, msg, (unsigned long long)l->opts.max_bytes);
    return weft_error_set(err, sq_code(rc), "%s: %s: %s", l->path, what, msg);
}

static int sq_exec(sq_t *l, sqlite3 *db, const char *sql, weft_error_t *err) {
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(l, db, rc, sql, err);
}

static int sq_prepare(sq_t *l, sqlite3 *db, sqlite3_stmt **out, weft_error_t *err, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static int sq_prepare(sq_t *l, sqlite3 *db, sqlite3_stmt **out, weft_error_t *err, const char *fmt,
                      ...) {
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(l, db, rc, sql, err);
}

/* Runs a statement that returns at most one integer; *out keeps its value when the row
 * or the value is absent (*found says which). */
static int sq_step_int(sq_t *l, sqlite3 *db, sqlite3_stmt *s, int64_t *out, bool *found,
                       weft_error_t *err) {
    int rc = sqlite3_step(s);
    bool have = rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL;
    if (have)
        *out = sqlite3_column_int64(s, 0);
    if (found)
        *found = have;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = sq_fail(l, db, rc, sqlite3_sql(s), err);
        sqlite3_reset(s);
        return rc;
    }
    sqlite3_reset(s);
    return 0;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Streams and positions in memory -------------------------------------------------- */

static sq_stream_t *stream_add(sq_t *l, int64_t id, const char *name, uint64_t last_seq) {
    if (l->nstreams == l->capstreams) {
        size_t cap = l->capstreams ? 2 * l->capstreams : 4;
        sq_stream_t **a = realloc(l->streams, cap * sizeof *a);
        if (!a)
            return NULL;
        l->streams = a;
        l->capstreams = cap;
    }
    sq_stream_t *st = calloc(1, sizeof *st);
    if (!st || !(st->name = strdup(name))) {
        free(st);
        return NULL;
    }
    st->id = id;
    st->index = l->nstreams;
    st->latest = st->high = st->durable = st->next = last_seq;
    l->streams[l->nstreams++] = st;
    return st;
}

static sq_stream_t *stream_find(sq_t *l, const char *name) {
    for (size_t i = 0; i < l->nstreams; i++)
        if (strcmp(l->streams[i]->name, name) == 0)
            return l->streams[i];
    return NULL;
}

static sq_pos_t *pos_find(sq_stream_t *st, const char *consumer) {
    for (size_t i = 0; i < st->npos; i++)
        if (strcmp(st->pos[i]->consumer, consumer) == 0)
            return st->pos[i];
    return NULL;
}

static sq_pos_t *pos_add(sq_stream_t *st, const char *consumer) {
    if (st->npos == st->cappos) {
        size_t cap = st->cappos ? 2 * st->cappos : 8;
        sq_pos_t **a = realloc(st->pos, cap * sizeof *a);
        if (!a)
            return NULL;
        st->pos = a;
        st->cappos = cap;
    }
    sq_pos_t *e = calloc(1, sizeof *e);
    if (!e || !(e->consumer = strdup(consumer))) {
        free(e);
        return NULL;
    }
    st->pos[st->npos++] = e;
    return e;
}

static void pos_remove(sq_stream_t *st, sq_pos_t *e) {
    for (size_t i = 0; i < st->npos; i++)
        if (st->pos[i] == e) {
            st->pos[i] = st->pos[--st->npos];
            free(e->consumer);
            free(e);
            return;
        }
}

/* ---- Dedupe keys in memory ------------------------------------------------------------ */

static uint64_t key_h(const uint8_t key[32]) {
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return h;
}

static int km_resize(sq_keymap_t *m, size_t cap) {
    sq_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].seq)
            continue;
        size_t k = (size_t)m->slots[i].h & (cap - 1);
        while (slots[k].seq)
            k = (k + 1) & (cap - 1);
        slots[k] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* Adds (h, seq). It never needs memory to add back what km_del removed since the last
 * km_shrink: the undo of a rolled-back trim cannot fail. */
static int km_add(sq_keymap_t *m, uint64_t h, uint64_t seq) {
    if ((m->n + 1) * 10 > m->cap * 7) {
        int rc = km_resize(m, m->cap ? 2 * m->cap : SQ_KEYMAP_MIN);
        if (rc)
            return rc;
    }
    size_t i = (size_t)h & (m->cap - 1);
    while (m->slots[i].seq)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (sq_slot_t){h, seq};
    m->n++;
    return 0;
}

/* Removes (h, seq) if present, shifting back the slots after it (no tombstones). */
static void km_del(sq_keymap_t *m, uint64_t h, uint64_t seq) {
    if (!m->cap)
        return;
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].seq && (m->slots[i].h != h || m->slots[i].seq != seq))
        i = (i + 1) & mask;
    if (!m->slots[i].seq)
        return;
    for (size_t j = (i + 1) & mask; m->slots[j].seq; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].h & mask;
        /* The slot at j may move to the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].seq = 0;
    m->n--;
}

/* Gives memory back once a backlog has been trimmed (outside transactions only). */
static void km_shrink(sq_keymap_t *m) {
    if (!m->n) {
        free(m->slots);
        m->slots = NULL;
        m->cap = 0;
        return;
    }
    size_t cap = m->cap;
    while (cap > SQ_KEYMAP_MIN && m->n * 8 < cap)
        cap /= 2;
    if (cap != m->cap)
        km_resize(m, cap); /* on failure it keeps the larger table */
}

static int undo_push(sq_t *l, sq_stream_t *st, uint64_t h, uint64_t seq, bool added,
                     weft_error_t *err) {
    if (l->nundo == l->capundo) {
        size_t cap = l->capundo ? 2 * l->capundo : 1024;
        sq_undo_t *a = realloc(l->undo, cap * sizeof *a);
        if (!a)
            return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
        l->undo = a;
        l->capundo = cap;
    }
    l->undo[l->nundo++] = (sq_undo_t){st, h, seq, added};
    return 0;
}

/* The seq of the record holding key in the stream (this transaction's too), or 0. */
static int key_find(sq_t *l, sq_stream_t *st, const uint8_t key[32], uint64_t *seq,
                    weft_error_t *err) {
    *seq = 0;
    sq_keymap_t *m = &st->keys;
    if (!m->cap)
        return 0;
    uint64_t h = key_h(key);
    for (size_t i = (size_t)h & (m->cap - 1); m->slots[i].seq; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].h != h)
            continue;
        sqlite3_bind_int64(st->key_of, 1, (sqlite3_int64)m->slots[i].seq);
        int rc = sqlite3_step(st->key_of);
        bool same = rc == SQLITE_ROW && sqlite3_column_bytes(st->key_of, 0) == 32 &&
                    memcmp(sqlite3_column_blob(st->key_of, 0), key, 32) == 0;
        sqlite3_reset(st->key_of);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sq_fail(l, l->w, rc, "dedupe", err);
        if (same) {
            *seq = m->slots[i].seq;
            return 0;
        }
    }
    return 0;
}

/* ---- The writer ----------------------------------------------------------------------- */

/* SQLite calls this after each commit with the WAL's size in pages (it replaces the
 * automatic checkpoint, which the writer does itself). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages) {
    ((sq_t *)arg)->wal_pages = pages;
    return SQLITE_OK;
}

static int writer_statements(sq_t *l, sq_stream_t *st, weft_error_t *err) {
    if (st->ins)
        return 0;
    long long id = (long long)st->id;
    int rc;
    if ((rc = sq_prepare(l, l->w, &st->ins, err,
                         "INSERT INTO r%lld(seq, time, data) VALUES(?1, ?2, ?3)", id)) ||
        (rc = sq_prepare(l, l->w, &st->ins_key, err, "INSERT INTO k%lld(seq, key) VALUES(?1, ?2)",
                         id)) ||
        (rc = sq_prepare(l, l->w, &st->key_of, err, "SELECT key FROM k%lld WHERE seq = ?1", id)) ||
        (rc =
             sq_prepare(l, l->w, &st->scan, err,
                        "SELECT seq, time FROM r%lld WHERE seq <= ?1 ORDER BY seq LIMIT ?2", id)) ||
        (rc = sq_prepare(l, l->w, &st->scan_keys, err, "SELECT seq, key FROM k%lld WHERE seq <= ?1",
                         id)) ||
        (rc = sq_prepare(l, l->w, &st->del, err, "DELETE FROM r%lld WHERE seq <= ?1", id)) ||
        (rc = sq_prepare(l, l->w, &st->del_keys, err, "DELETE FROM k%lld WHERE seq <= ?1", id)) ||
        (rc = sq_prepare(l, l->w, &st->bump, err,
                         "UPDATE streams SET last_seq = ?1 WHERE id = %lld", id)))
        return rc;
    return 0;
}

static int touch(sq_t *l, sq_stream_t *st, weft_error_t *err) {
    if (st->touched)
        return 0;
    if (l->ntouched == l->captouched) {
        size_t cap = l->captouched ? 2 * l->captouched : 8;
        sq_stream_t **a = realloc(l->touched, cap * sizeof *a);
        if (!a)
            return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
        l->touched = a;
        l->captouched = cap;
    }
    st->touched = true;
    l->touched[l->ntouched++] = st;
    return 0;
}

static int apply_append(sq_t *l, sq_job_t *j, int64_t now, weft_error_t *err) {
    sq_stream_t *st = j->st;
    int rc = writer_statements(l, st, err);
    if (!rc)
        rc = touch(l, st, err);
    if (rc)
        return rc;
    int64_t t = now > st->last_time ? now : st->last_time;
    for (size_t i = 0; i < j->n; i++) {
        const sq_item_t *it = &j->items[i];
        if (it->keyed) {
            uint64_t have;
            if ((rc = key_find(l, st, it->key, &have, err)))
                return rc;
            if (have) {
                j->acks[i] = (weft_journal_ack_t){.seq = have, .duplicate = true};
                continue;
            }
        }
        uint64_t seq = st->next + 1;
        sqlite3_bind_int64(st->ins, 1, (sqlite3_int64)seq);
        sqlite3_bind_int64(st->ins, 2, t);
        /* A NULL pointer would bind SQL NULL: an empty record is an empty blob. */
        sqlite3_bind_blob64(st->ins, 3, it->len ? (const void *)it->data : "", it->len,
                            SQLITE_STATIC);
        rc = sqlite3_step(st->ins);
        sqlite3_reset(st->ins);
        if (rc != SQLITE_DONE)
            return sq_fail(l, l->w, rc, "append", err);
        if (it->keyed) {
            sqlite3_bind_int64(st->ins_key, 1, (sqlite3_int64)seq);
            sqlite3_bind_blob(st->ins_key, 2, it->key, sizeof it->key, SQLITE_STATIC);
            rc = sqlite3_step(st->ins_key);
            sqlite3_reset(st->ins_key);
            if (rc != SQLITE_DONE)
                return sq_fail(l, l->w, rc, "append", err);
            if (km_add(&st->keys, key_h(it->key), seq))
                return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
            if ((rc = undo_push(l, st, key_h(it->key), seq, true, err))) {
                km_del(&st->keys, key_h(it->key), seq);
                return rc;
            }
        }
        st->next = seq;
        j->acks[i] = (weft_journal_ack_t){.seq = seq, .duplicate = false};
    }
    st->last_time = t;
    return 0;
}

/* One chunk of trimming: the records of the prefix of the stream that is older than
 * before_ms and that every consumer has passed, at most SQ_TRIM_CHUNK of them. */
static int apply_trim(sq_t *l, sq_job_t *j, weft_error_t *err) {
    sq_stream_t *st = j->st;
    int rc = writer_statements(l, st, err);
    if (!rc)
        rc = touch(l, st, err); /* its key map may shrink after the commit */
    if (rc)
        return rc;
    int64_t limit = (int64_t)st->next, minpos = 0;
    bool found = false;
    sqlite3_bind_int64(l->minpos, 1, st->id);
    if ((rc = sq_step_int(l, l->w, l->minpos, &minpos, &found, err)))
        return rc;
    if (found && minpos < limit)
        limit = minpos;
    sqlite3_bind_int64(st->scan, 1, limit);
    sqlite3_bind_int(st->scan, 2, SQ_TRIM_CHUNK);
    int64_t upto = 0;
    int rows = 0;
    while ((rc = sqlite3_step(st->scan)) == SQLITE_ROW) {
        if (sqlite3_column_int64(st->scan, 1) >= j->before_ms)
            break;
        upto = sqlite3_column_int64(st->scan, 0);
        rows++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = sq_fail(l, l->w, rc, "trim", err);
        sqlite3_reset(st->scan);
        return rc;
    }
    sqlite3_reset(st->scan);
    j->more = rows == SQ_TRIM_CHUNK;
    j->deleted = 0;
    if (upto == 0)
        return 0;
    /* The keys go with their records. */
    sqlite3_bind_int64(st->scan_keys, 1, upto);
    while ((rc = sqlite3_step(st->scan_keys)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st->scan_keys, 0);
        const void *key = sqlite3_column_blob(st->scan_keys, 1);
        if (!key || sqlite3_column_bytes(st->scan_keys, 1) != 32)
            continue;
        uint64_t h = key_h(key);
        if (undo_push(l, st, h, seq, false, err)) {
            sqlite3_reset(st->scan_keys);
            return WEFT_ENOMEM;
        }
        km_del(&st->keys, h, seq);
    }
    sqlite3_reset(st->scan_keys);
    if (rc != SQLITE_DONE)
        return sq_fail(l, l->w, rc, "trim", err);
    sqlite3_stmt *steps[3] = {st->del, st->del_keys, st->bump};
    for (int k = 0; k < 3; k++) {
        /* last_seq: the stream may be empty now, and its next seq must still follow. */
        sqlite3_bind_int64(steps[k], 1, k == 2 ? (sqlite3_int64)st->next : upto);
        rc = sqlite3_step(steps[k]);
        if (k == 0)
            j->deleted = (uint64_t)sqlite3_changes(l->w);
        sqlite3_reset(steps[k]);
        if (rc != SQLITE_DONE)
            return sq_fail(l, l->w, rc, "trim", err);
    }
    return 0;
}

static int apply_create(sq_t *l, sq_job_t *j, weft_error_t *err) {
    sqlite3_stmt *s = NULL;
    int rc = sq_prepare(l, l->w, &s, err, "INSERT INTO streams(name, last_seq) VALUES(?1, 0)");
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, j->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return sq_fail(l, l->w, rc, "create stream", err);
    j->id = sqlite3_last_insert_rowid(l->w);
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE r%lld(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, data BLOB NOT "
             "NULL); CREATE TABLE k%lld(seq INTEGER PRIMARY KEY, key BLOB NOT NULL)",
             (long long)j->id, (long long)j->id);
    return sq_exec(l, l->w, sql, err);
}

static int apply_positions(sq_t *l, weft_error_t *err) {
    for (size_t i = 0; i < l->npw; i++) {
        sq_pw_t *p = &l->pw[i];
        sqlite3_stmt *s = p->gone ? l->pos_del : l->pos_set;
        sqlite3_bind_int64(s, 1, p->st->id);
        sqlite3_bind_text(s, 2, p->e->consumer, -1, SQLITE_STATIC);
        if (!p->gone)
            sqlite3_bind_int64(s, 3, (sqlite3_int64)p->seq);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return sq_fail(l, l->w, rc, "write positions", err);
    }
    return 0;
}

static int apply_job(sq_t *l, sq_job_t *j, int64_t now, weft_error_t *err) {
    switch (j->kind) {
    case SQ_APPEND:
        return apply_append(l, j, now, err);
    case SQ_TRIM:
        return apply_trim(l, j, err);
    case SQ_CREATE:
        return apply_create(l, j, err);
    case SQ_FLUSH:
        return 0;
    }
    return 0;
}

/* One transaction: the positions taken (with_positions) and the jobs from `jobs` up to
 * `end` (exclusive). On failure everything is rolled back, in memory too. */
static int transaction(sq_t *l, bool with_positions, sq_job_t *jobs, sq_job_t *end, int64_t now,
                       weft_error_t *err) {
    int rc = sq_exec(l, l->w, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    if (with_positions)
        rc = apply_positions(l, err);
    for (sq_job_t *j = jobs; !rc && j != end; j = j->next)
        rc = apply_job(l, j, now, err);
    if (!rc) {
        /* A reader may see these records as soon as COMMIT has made them visible, and
         * set a position to them before the writer publishes them: high covers them. */
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < l->ntouched; i++)
            if (l->touched[i]->next > l->touched[i]->high)
                l->touched[i]->high = l->touched[i]->next;
        pthread_mutex_unlock(&l->mu);
        rc = sq_exec(l, l->w, "COMMIT", err);
    }
    for (size_t i = 0; i < l->ntouched; i++) {
        sq_stream_t *st = l->touched[i];
        if (rc) {
            st->next = st->durable;
        } else {
            st->durable = st->next;
            st->advanced = true;
            km_shrink(&st->keys);
        }
        st->touched = false;
    }
    l->ntouched = 0;
    if (rc && !sqlite3_get_autocommit(l->w))
        sqlite3_exec(l->w, "ROLLBACK", NULL, NULL, NULL);
    while (rc && l->nundo) {
        sq_undo_t *u = &l->undo[--l->nundo];
        if (u->added)
            km_del(&u->st->keys, u->h, u->seq);
        else
            km_add(&u->st->keys, u->h, u->seq);
    }
    l->nundo = 0;
    return rc;
}

/* Applies a group: one transaction for all, or, when that fails, one transaction per job
 * so that only the jobs that fail by themselves fail. */
static bool run_group(sq_t *l, sq_job_t *group) {
    int64_t now = wall_ms();
    weft_error_t err = {0};
    bool with_positions = l->npw > 0;
    int rc = transaction(l, with_positions, group, NULL, now, &err);
    if (rc == 0)
        return true;
    bool positions_ok = false;
    if (!group->next && !with_positions) {
        group->status = rc;
        group->err = err;
        return false;
    }
    if (with_positions)
        positions_ok = transaction(l, true, NULL, NULL, now, &err) == 0;
    for (sq_job_t *j = group; j; j = j->next)
        j->status = transaction(l, false, j, j->next, now, &j->err);
    return positions_ok;
}

/* The jobs the next group takes, from the head of the queue (under mu). */
static sq_job_t *take_group(sq_t *l) {
    sq_job_t *group = l->head, *last = NULL;
    size_t records = 0, bytes = 0;
    for (sq_job_t *j = l->head; j; j = j->next) {
        size_t n = j->kind == SQ_APPEND ? j->n : 1;
        if (last && (records + n > SQ_GROUP_RECORDS || bytes + j->bytes > SQ_GROUP_BYTES))
            break;
        records += n;
        bytes += j->bytes;
        last = j;
    }
    l->head = last->next;
    if (!l->head)
        l->tail = &l->head;
    last->next = NULL;
    return group;
}

/* The positions set since the last commit (under mu). */
static void take_positions(sq_t *l) {
    l->npw = 0;
    if (!l->pos_dirty && !l->pos_failed)
        return;
    for (size_t i = 0; i < l->nstreams; i++) {
        sq_stream_t *st = l->streams[i];
        for (size_t k = 0; k < st->npos; k++) {
            sq_pos_t *e = st->pos[k];
            if (!e->dirty)
                continue;
            if (l->npw == l->cappw) {
                size_t cap = l->cappw ? 2 * l->cappw : 64;
                sq_pw_t *a = realloc(l->pw, cap * sizeof *a);
                if (!a)
                    return; /* the rest stay dirty: the next commit takes them */
                l->pw = a;
                l->cappw = cap;
            }
            l->pw[l->npw++] = (sq_pw_t){.st = st, .e = e, .seq = e->seq, .gone = e->gone};
            e->dirty = false;
        }
    }
    l->pos_dirty = l->pos_failed = false;
}

typedef struct sq_note {
    weft_journal_stream_t *pub;
    uint64_t latest;
} sq_note_t;

/* Room for a note per stream (under mu); false when memory is short. */
static bool notes_room(sq_t *l) {
    if (l->capnotes >= l->nstreams)
        return true;
    sq_note_t *a = realloc(l->notes, l->nstreams * sizeof *a);
    if (!a)
        return false;
    l->notes = a;
    l->capnotes = l->nstreams;
    return true;
}

/* Reports a group: publishes the new latest seqs, wakes the callers of the jobs that
 * wait, then (without the lock) notifies readers and calls the appends' callbacks. */
static void finish_group(sq_t *l, sq_job_t *group, bool positions_ok) {
    sq_job_t *appends = NULL, **tail = &appends;
    size_t nnotes = 0;
    pthread_mutex_lock(&l->mu);
    bool room = notes_room(l);
    for (size_t i = 0; i < l->nstreams; i++) {
        sq_stream_t *st = l->streams[i];
        if (!st->advanced)
            continue;
        st->advanced = false;
        st->latest = st->durable;
        if (st->pub && room)
            l->notes[nnotes++] = (sq_note_t){st->pub, st->latest};
        else if (st->pub)
            weft_journal_notify(st->pub, st->latest); /* out of memory: under the lock */
    }
    for (size_t i = 0; i < l->npw; i++) {
        sq_pw_t *p = &l->pw[i];
        if (!positions_ok)
            p->e->dirty = l->pos_failed = true;
        else if (p->e->gone && !p->e->dirty)
            pos_remove(p->st, p->e);
    }
    l->npw = 0;
    sq_job_t *j = group;
    while (j) {
        sq_job_t *next = j->next;
        if (j->kind == SQ_APPEND) {
            l->queued_bytes -= j->bytes;
            *tail = j;
            tail = &j->next;
        } else {
            j->finished = true; /* the caller owns it from here on */
        }
        j = next;
    }
    *tail = NULL;
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < nnotes; i++)
        weft_journal_notify(l->notes[i].pub, l->notes[i].latest);
    while (appends) {
        sq_job_t *next = appends->next;
        if (appends->status == 0)
            appends->done(appends->arg, 0, appends->acks, appends->n, NULL);
        else
            appends->done(appends->arg, appends->status, NULL, appends->n, appends->err.msg);
        free(appends);
        appends = next;
    }
}

static void checkpoint(sq_t *l) {
    if (l->wal_pages < SQ_CHECKPOINT_PAGES)
        return;
    bool restart = l->wal_pages >= SQ_RESTART_PAGES;
    if (restart)
        sqlite3_busy_timeout(l->w, SQ_RESTART_WAIT_MS);
    int frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(
        l->w, NULL, restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, &frames,
        &copied);
    if (restart)
        sqlite3_busy_timeout(l->w, SQ_BUSY_MS);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        weft_log("%s: checkpoint: %s", l->path, sqlite3_errmsg(l->w));
    /* The next commit's hook says how large the WAL is then. */
    l->wal_pages = 0;
}

static void *writer_main(void *arg) {
    sq_t *l = arg;
    weft_crash_thread("journal");
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->pos_dirty && !l->stopping)
            pthread_cond_wait(&l->wake, &l->mu);
        if (!l->head && !l->pos_dirty)
            break; /* stopping, and everything is written */
        sq_job_t *group = l->head ? take_group(l) : NULL;
        take_positions(l);
        pthread_mutex_unlock(&l->mu);
        bool positions_ok = true;
        if (group || l->npw) {
            if (group) {
                positions_ok = run_group(l, group);
            } else {
                weft_error_t err;
                positions_ok = transaction(l, true, NULL, NULL, 0, &err) == 0;
                if (!positions_ok)
                    weft_log("%s", err.msg);
            }
        }
        finish_group(l, group, positions_ok);
        checkpoint(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Queues a job the caller waits for (on its stack) and waits. */
static int submit_wait(sq_t *l, sq_job_t *j, weft_error_t *err) {
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        return weft_error_set(err, WEFT_ECANCELED, "%s: the journal is closing", l->path);
    }
    *l->tail = j;
    l->tail = &j->next;
    pthread_cond_signal(&l->wake);
    while (!j->finished)
        pthread_cond_wait(&l->done, &l->mu);
    pthread_mutex_unlock(&l->mu);
    if (j->status)
        weft_error_set(err, j->status, "%s", j->err.msg);
    return j->status;
}

/* ---- The operations ------------------------------------------------------------------- */

static int sq_append(void *self, void *stp, const weft_journal_entry_t *entries, size_t n,
                     weft_journal_done_fn done, void *arg, weft_error_t *err) {
    sq_t *l = self;
    sq_stream_t *st = stp;
    size_t bytes = sizeof(sq_job_t) + n * (sizeof(sq_item_t) + sizeof(weft_journal_ack_t));
    for (size_t i = 0; i < n; i++)
        bytes += entries[i].len;
    sq_job_t *j = malloc(bytes);
    if (!j)
        return weft_error_set(err, WEFT_ENOMEM, "%s: stream %s: out of memory for %zu bytes",
                              l->path, st->name, bytes);
    memset(j, 0, sizeof *j);
    j->kind = SQ_APPEND;
    j->st = st;
    j->n = n;
    j->bytes = bytes;
    j->done = done;
    j->arg = arg;
    j->items = (sq_item_t *)(j + 1);
    j->acks = (weft_journal_ack_t *)(j->items + n);
    uint8_t *data = (uint8_t *)(j->acks + n);
    for (size_t i = 0; i < n; i++) {
        sq_item_t *it = &j->items[i];
        it->len = entries[i].len;
        it->data = data;
        if (it->len)
            memcpy(data, entries[i].data, it->len);
        data += it->len;
        it->keyed = entries[i].key != NULL;
        if (it->keyed)
            weft_sha256(entries[i].key, entries[i].key_len, it->key);
    }
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->stopping)
        rc = weft_error_set(err, WEFT_ECANCELED, "%s: the journal is closing", l->path);
    else if (l->queued_bytes && l->queued_bytes + bytes > l->opts.max_queued_bytes)
        rc = weft_error_set(err, WEFT_ELIMIT,
                            "%s: %zu bytes of appends are already waiting for the disk "
                            "(max_queued_bytes %zu): try again later",
                            l->path, l->queued_bytes, l->opts.max_queued_bytes);
    if (rc) {
        pthread_mutex_unlock(&l->mu);
        free(j);
        return rc;
    }
    l->queued_bytes += bytes;
    *l->tail = j;
    l->tail = &j->next;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int reader_take(sq_t *l, sq_reader_t **out, weft_error_t *err) {
    pthread_mutex_lock(&l->rmu);
    while (!l->readers && l->nreaders >= SQ_MAX_READERS)
        pthread_cond_wait(&l->rfree, &l->rmu);
    sq_reader_t *r = l->readers;
    if (r) {
        l->readers = r->next;
        pthread_mutex_unlock(&l->rmu);
        *out = r;
        return 0;
    }
    l->nreaders++;
    pthread_mutex_unlock(&l->rmu);
    int rc = 0;
    r = calloc(1, sizeof *r);
    if (!r) {
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
    } else {
        int src =
            sqlite3_open_v2(l->path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (src != SQLITE_OK)
            rc = sq_fail(l, r->db, src, "open for reading", err);
        else {
            sqlite3_busy_timeout(r->db, SQ_BUSY_MS);
            rc = sq_exec(l, r->db, "PRAGMA query_only = 1", err);
        }
        if (rc) {
            sqlite3_close(r->db);
            free(r);
        }
    }
    if (rc) {
        pthread_mutex_lock(&l->rmu);
        l->nreaders--;
        pthread_cond_signal(&l->rfree);
        pthread_mutex_unlock(&l->rmu);
        return rc;
    }
    *out = r;
    return 0;
}

static void reader_give(sq_t *l, sq_reader_t *r) {
    pthread_mutex_lock(&l->rmu);
    r->next = l->readers;
    l->readers = r;
    pthread_cond_signal(&l->rfree);
    pthread_mutex_unlock(&l->rmu);
}

static void reader_close(sq_reader_t *r) {
    for (size_t i = 0; i < r->nread; i++)
        sqlite3_finalize(r->read[i]);
    free(r->read);
    sqlite3_close(r->db);
    free(r);
}

static int reader_statement(sq_t *l, sq_reader_t *r, sq_stream_t *st, sqlite3_stmt **out,
                            weft_error_t *err) {
    if (st->index >= r->nread) {
        size_t n = st->index + 1;
        sqlite3_stmt **a = realloc(r->read, n * sizeof *a);
        if (!a)
            return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
        memset(a + r->nread, 0, (n - r->nread) * sizeof *a);
        r->read = a;
        r->nread = n;
    }
    if (!r->read[st->index]) {
        int rc = sq_prepare(l, r->db, &r->read[st->index], err,
                            "SELECT seq, time, data FROM r%lld WHERE seq > ?1 ORDER BY seq "
                            "LIMIT ?2",
                            (long long)st->id);
        if (rc)
            return rc;
    }
    *out = r->read[st->index];
    return 0;
}

static int sq_read(void *self, void *stp, uint64_t after, size_t max_records, size_t max_bytes,
                   weft_journal_page_t *page, weft_error_t *err) {
    sq_t *l = self;
    sq_stream_t *st = stp;
    if (after >= (uint64_t)INT64_MAX)
        return 0;
    sq_reader_t *r;
    int rc = reader_take(l, &r, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = NULL;
    if ((rc = reader_statement(l, r, st, &s, err))) {
        reader_give(l, r);
        return rc;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(s, 2, max_records > INT64_MAX ? INT64_MAX : (sqlite3_int64)max_records);
    weft_buf_t data = {0};
    weft_journal_record_t *recs = NULL;
    size_t n = 0, cap = 0;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t c = cap ? 2 * cap : 64;
            weft_journal_record_t *a = realloc(recs, c * sizeof *a);
            if (!a) {
                rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
                break;
            }
            recs = a;
            cap = c;
        }
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        const void *bytes = sqlite3_column_blob(s, 2);
        /* data holds offsets until the buffer stops moving. */
        recs[n] = (weft_journal_record_t){.seq = (uint64_t)sqlite3_column_int64(s, 0),
                                          .time_ms = sqlite3_column_int64(s, 1),
                                          .data = (const uint8_t *)(uintptr_t)data.len,
                                          .len = len};
        if (len && weft_buf_append(&data, bytes, len)) {
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory reading %zu bytes", l->path,
                                len);
            break;
        }
        n++;
        if (max_bytes && data.len >= max_bytes)
            break;
    }
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(l, r->db, src, "read", err);
    /* Ends the read transaction at once: an open one would keep checkpoints from
     * completing. */
    sqlite3_reset(s);
    reader_give(l, r);
    if (rc) {
        free(recs);
        weft_buf_free(&data);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        recs[i].data = data.data ? data.data + (uintptr_t)recs[i].data : (const uint8_t *)"";
    page->records = recs;
    page->n = n;
    page->mem_ = data.data;
    return 0;
}

static int sq_bounds(void *self, void *stp, uint64_t *first, uint64_t *last, weft_error_t *err) {
    sq_t *l = self;
    sq_stream_t *st = stp;
    sq_reader_t *r;
    int rc = reader_take(l, &r, err);
    if (rc)
        return rc;
    /* min and max of the rowid: two b-tree descents, whatever the stream holds. */
    sqlite3_stmt *s = NULL;
    if (!(rc = sq_prepare(l, r->db, &s, err, "SELECT min(seq), max(seq) FROM r%lld",
                          (long long)st->id))) {
        int src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            *first = (uint64_t)sqlite3_column_int64(s, 0); /* NULL reads as 0 */
            *last = (uint64_t)sqlite3_column_int64(s, 1);
        } else {
            rc = sq_fail(l, r->db, src, "read", err);
        }
        sqlite3_finalize(s);
    }
    reader_give(l, r);
    return rc;
}

static int sq_stream(void *self, const char *name, weft_journal_stream_t *pub, void **out,
                     weft_error_t *err) {
    sq_t *l = self;
    pthread_mutex_lock(&l->mu);
    sq_stream_t *st = stream_find(l, name);
    pthread_mutex_unlock(&l->mu);
    if (!st) {
        sq_job_t j = {.kind = SQ_CREATE, .name = name};
        int rc = submit_wait(l, &j, err);
        if (rc)
            return rc;
        pthread_mutex_lock(&l->mu);
        st = stream_add(l, j.id, name, 0);
        pthread_mutex_unlock(&l->mu);
        if (!st)
            return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
    }
    pthread_mutex_lock(&l->mu);
    st->pub = pub;
    uint64_t latest = st->latest;
    pthread_mutex_unlock(&l->mu);
    weft_journal_notify(pub, latest);
    *out = st;
    return 0;
}

static int sq_position_get(void *self, void *stp, const char *consumer, uint64_t *seq) {
    sq_t *l = self;
    pthread_mutex_lock(&l->mu);
    sq_pos_t *e = pos_find(stp, consumer);
    int rc = e && !e->gone ? 0 : WEFT_ENOTFOUND;
    if (!rc)
        *seq = e->seq;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int sq_position_set(void *self, void *stp, const char *consumer, uint64_t seq,
                           weft_error_t *err) {
    sq_t *l = self;
    sq_stream_t *st = stp;
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (seq > st->high) {
        rc = weft_error_set(err, WEFT_EINVAL,
                            "%s: stream %s: position %llu for %s is past the stream's last "
                            "record (%llu)",
                            l->path, st->name, (unsigned long long)seq, consumer,
                            (unsigned long long)st->high);
    } else {
        sq_pos_t *e = pos_find(st, consumer);
        if (!e && !(e = pos_add(st, consumer)))
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
        else {
            e->seq = seq;
            e->gone = false;
            e->dirty = l->pos_dirty = true;
            pthread_cond_signal(&l->wake);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int sq_position_delete(void *self, void *stp, const char *consumer, weft_error_t *err) {
    sq_t *l = self;
    pthread_mutex_lock(&l->mu);
    sq_pos_t *e = pos_find(stp, consumer);
    if (e && !e->gone) {
        e->gone = true;
        e->dirty = l->pos_dirty = true;
        pthread_cond_signal(&l->wake);
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int sq_consumers(void *self, void *stp, weft_store_names_t *names, weft_error_t *err) {
    sq_t *l = self;
    sq_stream_t *st = stp;
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    names->names = calloc(st->npos ? st->npos : 1, sizeof *names->names);
    for (size_t i = 0; names->names && i < st->npos && !rc; i++) {
        if (st->pos[i]->gone)
            continue;
        if (!(names->names[names->n] = strdup(st->pos[i]->consumer)))
            rc = WEFT_ENOMEM;
        else
            names->n++;
    }
    if (!names->names)
        rc = WEFT_ENOMEM;
    pthread_mutex_unlock(&l->mu);
    if (rc) {
        weft_store_names_free(names);
        return weft_error_set(err, rc, "%s: out of memory", l->path);
    }
    return 0;
}

static int sq_flush(void *self, weft_error_t *err) {
    sq_job_t j = {.kind = SQ_FLUSH};
    return submit_wait(self, &j, err);
}

static int sq_trim(void *self, void *stp, int64_t before_ms, uint64_t *deleted, weft_error_t *err) {
    *deleted = 0;
    for (;;) {
        sq_job_t j = {.kind = SQ_TRIM, .st = stp, .before_ms = before_ms};
        int rc = submit_wait(self, &j, err);
        if (rc)
            return rc;
        *deleted += j.deleted;
        if (!j.more)
            return 0;
    }
}

static const char *sq_describe(void *self) {
    return ((sq_t *)self)->describe;
}

/* ---- Open and close ------------------------------------------------------------------- */

static void sq_free(sq_t *l) {
    while (l->readers) {
        sq_reader_t *r = l->readers;
        l->readers = r->next;
        reader_close(r);
    }
    for (size_t i = 0; i < l->nstreams; i++) {
        sq_stream_t *st = l->streams[i];
        sqlite3_stmt *stmts[] = {st->ins,       st->ins_key, st->key_of,   st->scan,
                                 st->scan_keys, st->del,     st->del_keys, st->bump};
        for (size_t k = 0; k < sizeof stmts / sizeof stmts[0]; k++)
            sqlite3_finalize(stmts[k]);
        free(st->keys.slots);
        for (size_t k = 0; k < st->npos; k++) {
            free(st->pos[k]->consumer);
            free(st->pos[k]);
        }
        free(st->pos);
        free(st->name);
        free(st);
    }
    free(l->streams);
    sqlite3_finalize(l->pos_set);
    sqlite3_finalize(l->pos_del);

    sqlite3_finalize(l->minpos);
    /* The last connection to close checkpoints the WAL into the file and removes it. */
    if (l->w && sqlite3_close(l->w) != SQLITE_OK)
        weft_log("%s: close: %s", l->path, sqlite3_errmsg(l->w));
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* after SQLite closed the file: see the top of this file */
    free(l->pw);
    free(l->undo);
    free(l->touched);
    free(l->notes);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->rmu);
    pthread_cond_destroy(&l->rfree);
    free(l->path);
    free(l->describe);
    free(l);
}

static void sq_close(void *self) {
    sq_t *l = self;
    if (l->writer_started) {
        pthread_mutex_lock(&l->mu);
        l->stopping = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->writer, NULL);
    }
    sq_free(l);
}

/* Creates the file if absent (and its folder), syncing the folder so that a new file
 * survives a power loss, and takes the journal's lock. */
static int lock_file(sq_t *l, weft_error_t *err) {
    char *dir = strdup(l->path);
    if (!dir)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int rc = 0;
    struct stat sb;
    if (stat(dir, &sb) != 0 && weft_mkdirs(dir, 0700) != 0)
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot create its folder %s: %s", l->path, dir,
                            strerror(errno));
    if (!rc) {
        l->lock_fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (l->lock_fd < 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: cannot open: %s", l->path, strerror(errno));
    }
    if (!rc && fstat(l->lock_fd, &sb) == 0 && !S_ISREG(sb.st_mode))
        rc = weft_error_set(err, WEFT_EIO, "%s: not a regular file", l->path);
    if (!rc && flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0)
        rc = weft_error_set(err, WEFT_EIO,
                            errno == EWOULDBLOCK
                                ? "%s: in use: another weft process (or this one) has the "
                                  "journal open"
                                : "%s: cannot lock: %s",
                            l->path, strerror(errno));
    if (!rc && sb.st_size == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: cannot sync its folder %s: %s", l->path, dir,
                                strerror(errno));
        if (dfd >= 0)
            close(dfd);
    }
    free(dir);
    return rc;
}

/* Says whether the file is a journal this weft can read, and makes a new one one. */
static int prepare_file(sq_t *l, weft_error_t *err) {
    sqlite3_stmt *s = NULL;
    int64_t app = 0, version = 0, tables = 0;
    int rc = sq_prepare(l, l->w, &s, err, "PRAGMA application_id");
    if (!rc)
        rc = sq_step_int(l, l->w, s, &app, NULL, err);
    sqlite3_finalize(s);
    if (rc) {
        if (sqlite3_errcode(l->w) == SQLITE_NOTADB)
            return weft_error_set(err, WEFT_EIO, "%s: not a weft journal (not a SQLite database)",
                                  l->path);
        return rc;
    }
    if ((rc = sq_prepare(l, l->w, &s, err, "PRAGMA user_version")) == 0)
        rc = sq_step_int(l, l->w, s, &version, NULL, err);
    sqlite3_finalize(s);
    if (!rc && (rc = sq_prepare(l, l->w, &s, err, "SELECT count(*) FROM sqlite_schema")) == 0)
        rc = sq_step_int(l, l->w, s, &tables, NULL, err);
    sqlite3_finalize(s);
    if (rc)
        return rc;
    if (app != SQ_APPLICATION_ID && (app != 0 || tables != 0))
        return weft_error_set(err, WEFT_EIO,
                              "%s: not a weft journal (a SQLite database of another program)",
                              l->path);
    if (version > SQ_SCHEMA)
        return weft_error_set(err, WEFT_EIO,
                              "%s: written by a newer weft (journal layout %lld; this weft "
                              "reads up to %d)",
                              l->path, (long long)version, SQ_SCHEMA);

    if ((rc = sq_prepare(l, l->w, &s, err, "PRAGMA journal_mode = WAL")) == 0) {
        int step = sqlite3_step(s);
        const char *mode = step == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        if (step != SQLITE_ROW)
            rc = sq_fail(l, l->w, step, "PRAGMA journal_mode = WAL", err);
        else if (!mode || strcmp(mode, "wal") != 0)
            rc = weft_error_set(err, WEFT_EIO,
                                "%s: SQLite cannot use its write-ahead log here (journal mode "
                                "\"%s\"); put the state folder on a local file system",
                                l->path, mode ? mode : "?");
    }
    sqlite3_finalize(s);
    if (rc)
        return rc;
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = FULL; PRAGMA secure_delete = FAST; "
             "PRAGMA journal_size_limit = %d; PRAGMA cache_size = -%d",
             SQ_WAL_LIMIT, SQ_WRITER_CACHE_KIB);
    if ((rc = sq_exec(l, l->w, sql, err)))
        return rc;
    if (l->opts.max_bytes) {
        int64_t page = 4096;
        if ((rc = sq_prepare(l, l->w, &s, err, "PRAGMA page_size")) == 0)
            rc = sq_step_int(l, l->w, s, &page, NULL, err);
        sqlite3_finalize(s);
        uint64_t pages = l->opts.max_bytes / (uint64_t)page;
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %llu",
                 (unsigned long long)(pages ? pages : 1));
        if (rc || (rc = sq_exec(l, l->w, sql, err)))
            return rc;
    }
    if (app == 0) {
        snprintf(sql, sizeof sql,
                 "BEGIN IMMEDIATE;"
                 "CREATE TABLE streams(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                 "last_seq INTEGER NOT NULL);"
                 "CREATE TABLE positions(stream INTEGER NOT NULL, consumer TEXT NOT NULL, "
                 "seq INTEGER NOT NULL, PRIMARY KEY(stream, consumer)) WITHOUT ROWID;"
                 "PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT",
                 SQ_APPLICATION_ID, SQ_SCHEMA);
        if ((rc = sq_exec(l, l->w, sql, err))) {
            sqlite3_exec(l->w, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

/* A stream's last record (its seq and time: streams.last_seq is written only by trims)
 * and its dedupe keys. */
static int load_stream(sq_t *l, sq_stream_t *st, weft_error_t *err) {
    sqlite3_stmt *s = NULL;
    int rc = sq_prepare(l, l->w, &s, err, "SELECT seq, time FROM r%lld ORDER BY seq DESC LIMIT 1",
                        (long long)st->id);
    int step = rc ? SQLITE_ERROR : sqlite3_step(s);
    if (step == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
        if (seq > st->latest)
            st->latest = st->high = st->durable = st->next = seq;
        st->last_time = sqlite3_column_int64(s, 1);
    } else if (!rc && step != SQLITE_DONE) {
        rc = sq_fail(l, l->w, step, "read streams", err);
    }
    sqlite3_finalize(s);
    if (!rc)
        rc = sq_prepare(l, l->w, &s, err, "SELECT seq, key FROM k%lld", (long long)st->id);
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const void *key = sqlite3_column_blob(s, 1);
        if (key && sqlite3_column_bytes(s, 1) == 32 &&
            km_add(&st->keys, key_h(key), (uint64_t)sqlite3_column_int64(s, 0)))
            rc = weft_error_set(err, WEFT_ENOMEM,
                                "%s: out of memory for the dedupe keys of "
                                "stream %s",
                                l->path, st->name);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sq_fail(l, l->w, step, "read dedupe keys", err);
    sqlite3_finalize(s);
    return rc;
}

/* Streams and positions into memory. */
static int load(sq_t *l, weft_error_t *err) {
    sqlite3_stmt *s = NULL;
    int rc = sq_prepare(l, l->w, &s, err, "SELECT id, name, last_seq FROM streams ORDER BY id");
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 1);
        if (!stream_add(l, sqlite3_column_int64(s, 0), name ? name : "",
                        (uint64_t)sqlite3_column_int64(s, 2)))
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sq_fail(l, l->w, step, "read streams", err);
    sqlite3_finalize(s);
    for (size_t i = 0; !rc && i < l->nstreams; i++)
        rc = load_stream(l, l->streams[i], err);
    if (!rc)
        rc = sq_prepare(l, l->w, &s, err, "SELECT stream, consumer, seq FROM positions");
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *consumer = (const char *)sqlite3_column_text(s, 1);
        for (size_t i = 0; consumer && i < l->nstreams; i++) {
            if (l->streams[i]->id != id)
                continue;
            sq_pos_t *e = pos_add(l->streams[i], consumer);
            if (!e)
                rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", l->path);
            else
                e->seq = (uint64_t)sqlite3_column_int64(s, 2);
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = sq_fail(l, l->w, step, "read positions", err);
    sqlite3_finalize(s);
    return rc;
}

static int sq_open(const char *location, const weft_journal_options_t *opts, void **self,
                   weft_error_t *err) {
    const char *path = strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location;
    if (!*path)
        return weft_error_set(err, WEFT_EINVAL, "%s: no file named after \"sqlite:\"", location);
    sq_t *l = calloc(1, sizeof *l);
    if (!l)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", path);
    l->lock_fd = -1;
    l->opts = *opts;
    l->tail = &l->head;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    pthread_cond_init(&l->done, NULL);
    pthread_mutex_init(&l->rmu, NULL);
    pthread_cond_init(&l->rfree, NULL);
    int rc = 0;
    l->path = strdup(path);
    if (!l->path || asprintf(&l->describe, "SQLite journal %s", path) < 0) {
        l->describe = NULL;
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", path);
    }
    if (!rc)
        rc = lock_file(l, err);
    if (!rc) {
        int src =
            sqlite3_open_v2(l->path, &l->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (src != SQLITE_OK)
            rc = sq_fail(l, l->w, src, "open", err);
    }
    if (!rc) {
        sqlite3_extended_result_codes(l->w, 1);
        sqlite3_busy_timeout(l->w, SQ_BUSY_MS);
        rc = prepare_file(l, err);
    }
    if (!rc)
        rc = load(l, err);
    if (!rc &&
        (rc = sq_prepare(l, l->w, &l->pos_set, err,
                         "INSERT INTO positions(stream, consumer, seq) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(stream, consumer) DO UPDATE SET seq = excluded.seq")) == 0 &&
        (rc = sq_prepare(l, l->w, &l->pos_del, err,
                         "DELETE FROM positions WHERE stream = ?1 AND consumer = ?2")) == 0)
        rc = sq_prepare(l, l->w, &l->minpos, err,
                        "SELECT min(seq) FROM positions WHERE stream = ?1");
    if (!rc)
        sqlite3_wal_hook(l->w, wal_hook, l);
    if (!rc) {
        int prc = pthread_create(&l->writer, NULL, writer_main, l);
        if (prc != 0)
            rc = weft_error_set(err, WEFT_EIO, "%s: cannot start the writer thread: %s", path,
                                strerror(prc));
        l->writer_started = prc == 0;
    }
    if (rc) {
        sq_close(l);
        return rc;
    }
    *self = l;
    return 0;
}

const weft_journal_ops_t weft_journal_sqlite_ops = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .describe = sq_describe,
    .stream = sq_stream,
    .append = sq_append,
    .read = sq_read,
    .bounds = sq_bounds,
    .position_get = sq_position_get,
    .position_set = sq_position_set,
    .position_delete = sq_position_delete,
    .consumers = sq_consumers,
    .flush = sq_flush,
    .trim = sq_trim,
};
