/* store: what weft keeps on disk for its users, behind interfaces that do not say where.
 *
 * The journal, the durable log of records a broker keeps (journal.c holds the part every
 * backend shares, journal_sqlite.c the embedded SQLite backend); key-value (kv.c,
 * kv_sqlite.c), documents (doc.c, doc_sqlite.c) and blobs (blob.c, blob_sqlite.c), the
 * services guests use. Each the same way: an opaque handle, a table of backend functions,
 * and a location string that picks the backend. The shared file checks what callers pass
 * (names, sizes, NULLs) and picks the backend; a backend only stores.
 *
 * ---- The journal ---------------------------------------------------------------------
 *
 * A journal holds streams (one per broker), each a sequence of records numbered 1, 2, 3,
 * ... without gaps. A record is opaque bytes to the store (the events layer serializes a
 * CloudEvent into it) plus what the store needs itself: a dedupe key and the time it
 * was appended. Consumers (the triggers of a broker) page through a stream after their
 * own position, which the journal keeps for them; records every consumer has passed are
 * deleted once they are older than the broker's retention (weft_journal_trim).
 *
 * Guarantees:
 * - An append is acknowledged (returns, or its callback reports success) only once its
 *   records are durable: they survive kill -9 of weft and a power loss of the machine
 *   (as far as the disk honours fsync). An append of several records is all-or-nothing.
 * - Concurrent appends share transactions and fsyncs (group commit): the cost of a
 *   durable append is paid once per group, not once per record.
 * - Sequence numbers of a stream are strictly increasing without gaps; a failed or
 *   duplicate append consumes none. A seq is never given twice, even after every record
 *   has been deleted.
 * - Readers see only durable records.
 * - A consumer's stored position never runs ahead of what its owner set; after a crash
 *   it may lag behind (so delivery is at-least-once).
 * - A record some consumer has not passed is never deleted.
 *
 * Threads: every function may be called from any thread, concurrently, except
 * weft_journal_open and weft_journal_close. Completion and watch callbacks run on the
 * journal's own writer thread (below).
 *
 * Naming: weft_journal_* is the durable log; weft_log() (util) writes a line to stderr.
 */
#ifndef WEFT_STORE_STORE_H
#define WEFT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* Names of streams and consumers: 1 to 128 bytes of UTF-8, no control characters. */
#define WEFT_JOURNAL_MAX_NAME 128
/* A dedupe key: at most this many bytes (the backend may store a digest of it). */
#define WEFT_JOURNAL_MAX_KEY 8192
/* Records in one append. */
#define WEFT_JOURNAL_MAX_BATCH 65536
/* Defaults of weft_journal_options_t. */
#define WEFT_JOURNAL_DEFAULT_MAX_RECORD (16u << 20)
#define WEFT_JOURNAL_DEFAULT_MAX_QUEUED (64u << 20)

/* Names (keys of a key-value store, consumers of a journal stream), the caller's:
 * weft_store_names_free. */
typedef struct weft_store_names {
    char **names;
    size_t n;
    bool more; /* another page follows: list again after names[n - 1] */
} weft_store_names_t;
void weft_store_names_free(weft_store_names_t *page);

typedef struct weft_journal weft_journal_t;
typedef struct weft_journal_stream weft_journal_stream_t;
typedef struct weft_journal_watch weft_journal_watch_t;

typedef struct weft_journal_options {
    /* A record larger than this is refused (EINVAL); 0: WEFT_JOURNAL_DEFAULT_MAX_RECORD. */
    size_t max_record_bytes;
    /* Bytes of appends waiting for the disk beyond which an append is refused (ELIMIT)
     * rather than queued, so that memory stays bounded when producers outrun the disk;
     * 0: WEFT_JOURNAL_DEFAULT_MAX_QUEUED. An append into an empty queue is always taken. */
    size_t max_queued_bytes;
    /* A cap on the journal's size on disk, 0: none. An append that would pass it fails
     * (ELIMIT) and leaves nothing, as on a full disk; trimming makes room again. */
    uint64_t max_bytes;
} weft_journal_options_t;

/* Opens (creating it if absent) the journal at location, which picks the backend:
 *   "sqlite:PATH" or a plain PATH   the embedded SQLite backend, one file (its folder is
 *                                   created if missing, mode 0700), with PATH-wal and
 *                                   PATH-shm beside it while it is open. It answers dedupe
 *                                   from memory: 16 to 23 bytes per retained record that
 *                                   has a key, read back from the file at open.
 *   "redis://..." or "redis+unix://..."  the Redis Streams backend of weft-dist.so
 *                                   (src/dist/journal_redis.c): streams several weft
 *                                   processes share, consumed through groups (below,
 *                                   "Shared streams"); the plugin is loaded at the first
 *                                   such open.
 * opts may be NULL (defaults). One process at a time may open an embedded journal: a
 * second open of the same file, from this process or another, is refused (EIO, "in use"). A file
 * that is not a journal, or one written by a newer weft, is refused with a message naming it. On
 * success *out is the journal; close it with weft_journal_close. */
int weft_journal_open(const char *location, const weft_journal_options_t *opts,
                      weft_journal_t **out, weft_error_t *err);

/* Waits for every append already accepted to complete (their callbacks run), writes the
 * positions set so far, closes the files and frees the journal and its streams. No other
 * call on this journal or its streams may be in progress or follow; watches must have
 * been removed. NULL: nothing. */
void weft_journal_close(weft_journal_t *j);

/* "SQLite journal .weft/events.db": which backend and where, for messages. Borrowed
 * until close. */
const char *weft_journal_describe(const weft_journal_t *j);

/* The stream called name, created (empty, latest seq 0) if absent; the same handle for
 * the same name until close, which frees it. Creating a stream is durable when this
 * returns. */
int weft_journal_stream(weft_journal_t *j, const char *name, weft_journal_stream_t **out,
                        weft_error_t *err);
const char *weft_journal_stream_name(const weft_journal_stream_t *s);

/* ---- Appending ------------------------------------------------------------------------ */

/* One record to append. Everything is borrowed only until the append call returns: the
 * journal copies what it keeps. */
typedef struct weft_journal_entry {
    const void *data; /* may be NULL when len is 0 */
    size_t len;
    /* The dedupe key, NULL/0: none. While the stream holds a record with this key, an
     * append of the key stores nothing and answers that record's seq, marked duplicate
     * (also for a second entry of one batch). The key lives as long as its record: once
     * trimmed, the key can be appended again. The broker builds it from an event's
     * source and id so that no two pairs give one key (for example the decimal length of
     * the source, ':', the source, then the id). */
    const void *key;
    size_t key_len;
} weft_journal_entry_t;

/* What an append did with one entry. */
typedef struct weft_journal_ack {
    uint64_t seq;   /* the record's seq: new, or the existing one when duplicate */
    bool duplicate; /* the key was already held: nothing was stored */
} weft_journal_ack_t;

/* Called once per accepted append, from the journal's writer thread, when the append is
 * durable (status 0; acks[i] answers entries[i]) or has failed (status < 0, acks NULL,
 * message says what went wrong and where; nothing of the batch was stored). acks and
 * message are borrowed for the call. The callback must be quick and must not block on
 * the journal (no weft_journal_append, _stream, _trim, _flush or _close from it): every
 * other append waits for it. Handing the result to an event loop (a queue and an eventfd)
 * is what it is for. */
typedef void (*weft_journal_done_fn)(void *arg, int status, const weft_journal_ack_t *acks,
                                     size_t n, const char *message);

/* Appends entries[0..n) to the stream as one all-or-nothing batch, without waiting: the
 * records join the next group commit and done(arg, ...) reports the outcome. Returns 0
 * when the append was accepted (done will be called exactly once, possibly before this
 * returns), or an error, in which case done is never called: EINVAL (n is 0 or over
 * WEFT_JOURNAL_MAX_BATCH, a record over max_record_bytes, a key over
 * WEFT_JOURNAL_MAX_KEY), ELIMIT (max_queued_bytes of appends are already waiting: try
 * again later, e.g. answer 503), ECANCELED (the journal is closing). */
int weft_journal_append_async(weft_journal_stream_t *s, const weft_journal_entry_t *entries,
                              size_t n, weft_journal_done_fn done, void *arg, weft_error_t *err);

/* The same, waiting for the outcome: returns 0 once the batch is durable, with acks[i]
 * (acks: n elements, caller's) answering entries[i]; or an error with nothing stored. */
int weft_journal_append(weft_journal_stream_t *s, const weft_journal_entry_t *entries, size_t n,
                        weft_journal_ack_t *acks, weft_error_t *err);

/* ---- Reading -------------------------------------------------------------------------- */

typedef struct weft_journal_record {
    uint64_t seq;
    int64_t time_ms; /* when it was appended: milliseconds since the Unix epoch, UTC; never
                        less than the time of an earlier record of the stream */
    const uint8_t *data;
    size_t len;
    /* Group reads only (weft_journal_group_read, _claim): how many times the group has
     * handed this record to a member, this time included (a first read is 1; each
     * claim and each read of a member's own pending records adds one); 0 when the
     * backend does not say. */
    uint32_t deliveries;
} weft_journal_record_t;

/* Records read by weft_journal_read, freed by weft_journal_page_free. */
typedef struct weft_journal_page {
    weft_journal_record_t *records; /* malloc'd by the backend */
    size_t n;
    void *mem_; /* malloc'd by the backend: what records[i].data point into */
} weft_journal_page_t;

/* Reads the stream's records with seq > after in order: at most max_records (at least 1),
 * and no more once max_bytes of data are read (0: no byte bound; at least one record when
 * there is one, whatever its size), so that memory stays bounded whatever the backlog. n == 0:
 * nothing after `after` yet (wait for it: weft_journal_wait or a watch). Records before `after`
 * that were trimmed are simply not there: a consumer at position 0 starts at the first retained
 * record. The page is the caller's: weft_journal_page_free. */
int weft_journal_read(weft_journal_stream_t *s, uint64_t after, size_t max_records,
                      size_t max_bytes, weft_journal_page_t *page, weft_error_t *err);
void weft_journal_page_free(weft_journal_page_t *page);

/* The stream's latest durable seq (0: none yet): where a consumer that starts at "latest"
 * puts its position. */
uint64_t weft_journal_latest(weft_journal_stream_t *s);

/* The oldest and the newest record the stream holds now (*first and *last, both 0 when it
 * holds none), as one read sees them: since trimming deletes from the front and seqs
 * have no gaps, it holds *last - *first + 1 records. For describing a stream, not for
 * hot paths (a query of the backend). */
int weft_journal_bounds(weft_journal_stream_t *s, uint64_t *first, uint64_t *last,
                        weft_error_t *err);

/* ---- Waiting for records -------------------------------------------------------------- */

/* Blocks until the stream's latest seq is past `after`, timeout_ms passes, or
 * weft_journal_wake is called; returns the latest seq (compare it with after). For
 * consumers on threads of their own. */
uint64_t weft_journal_wait(weft_journal_stream_t *s, uint64_t after, int timeout_ms);
/* Wakes every thread in weft_journal_wait on the stream (to stop them: set your own flag,
 * then wake). */
void weft_journal_wake(weft_journal_stream_t *s);

/* For event loops: fn(arg, latest) is called from the writer thread after each commit
 * that added records to the stream (latest: its new latest seq). fn must be quick, must
 * not block, and must not call the journal (writing to an eventfd is what it is for).
 * Several commits may be reported by one call. */
typedef void (*weft_journal_watch_fn)(void *arg, uint64_t latest);
int weft_journal_watch(weft_journal_stream_t *s, weft_journal_watch_fn fn, void *arg,
                       weft_journal_watch_t **out, weft_error_t *err);
/* Removes a watch: when this returns, fn is not running and will not be called again.
 * Not from fn itself. */
void weft_journal_unwatch(weft_journal_stream_t *s, weft_journal_watch_t *w);

/* ---- Consumer positions --------------------------------------------------------------- */

/* A consumer's position is the seq up to which it has finished every record (0: none).
 *
 * Setting it is cheap: the value is kept in memory at once (get sees it) and written
 * with the next commit, which the writer starts at once when idle and which shares the
 * fsync of concurrent appends. So a crash may lose the positions of the last few
 * milliseconds (the consumer then sees those records again: at-least-once); it never
 * stores a position its owner did not set. weft_journal_flush waits for it.
 *
 * Retention uses positions: a consumer must have a position (set it to latest or to 0
 * when it starts) before weft_journal_trim runs, or its records may be deleted. */

/* The consumer's position in *seq; ENOTFOUND when it has none (a new consumer: the caller
 * starts it at latest or 0 and sets it). */
int weft_journal_position_get(weft_journal_stream_t *s, const char *consumer, uint64_t *seq);
/* Sets the position (it may go back). EINVAL for a bad name or a seq the stream never
 * gave. */
int weft_journal_position_set(weft_journal_stream_t *s, const char *consumer, uint64_t seq,
                              weft_error_t *err);
/* Forgets the consumer (a trigger removed): it no longer holds records back. */
int weft_journal_position_delete(weft_journal_stream_t *s, const char *consumer, weft_error_t *err);
/* The consumers that have a position in the stream, in no particular order (names->more
 * is false); the caller's: weft_store_names_free. For forgetting the ones that no longer
 * exist (a trigger removed from the manifest while weft was not running). */
int weft_journal_consumers(weft_journal_stream_t *s, weft_store_names_t *names, weft_error_t *err);

/* Waits until every append accepted and every position set before the call is durable. */
int weft_journal_flush(weft_journal_t *j, weft_error_t *err);

/* ---- Retention ------------------------------------------------------------------------ */

/* Deletes the stream's records appended before before_ms (milliseconds since the Unix
 * epoch: the broker passes now - retention) that every consumer of the stream has passed
 * (seq <= its position; a stream without consumers: every such record), and their dedupe
 * keys; *deleted (may be NULL) counts them. It deletes in chunks, each a short
 * transaction of its own between group commits, so appends are never held up for long;
 * the call blocks its caller (not an event loop) until done. Meant to be called
 * periodically by the broker. */
int weft_journal_trim(weft_journal_stream_t *s, int64_t before_ms, uint64_t *deleted,
                      weft_error_t *err);

/* ---- Shared streams: consumer groups --------------------------------------------------
 *
 * A stream of a backend that several weft processes share (the Redis journal of
 * weft-dist.so; weft_journal_shared says so) is not consumed by positions, which one
 * process owns, but by groups: one per consumer of the stream (a trigger), each with
 * members (one per weft node) among which the group's records are shared out. A record
 * read by a member is pending for it until it is acknowledged; a member that stops
 * leaves its pending records behind, which another member claims once they have been
 * idle long enough, and which the same member reads again first when it comes back
 * under the same name. Retention (weft_journal_trim) deletes only records every group
 * has acknowledged. On a shared stream, position_get is the group's position (every
 * record at or below it acknowledged), position_delete removes the group and consumers
 * lists the groups; a stream that is not shared answers EUNSUPPORTED to the group_*
 * calls. */

bool weft_journal_shared(const weft_journal_stream_t *s);
/* Creates the group if it does not exist: it starts before the stream's first record
 * (earliest) or after its latest. Joining an existing group changes nothing. */
int weft_journal_group_join(weft_journal_stream_t *s, const char *group, bool earliest,
                            weft_error_t *err);
/* Records for member `consumer` of the group, at most max_records. own: the member's own
 * pending records with seq > after (read them first after a start: a previous run of the
 * same member left them); else records no member has read yet, waiting up to block_ms
 * (0: not at all) for some. A record trimmed while pending comes back with len 0 and
 * data NULL (acknowledge it). ENOTFOUND: the group does not exist (any more): join it
 * again. */
int weft_journal_group_read(weft_journal_stream_t *s, const char *group, const char *consumer,
                            bool own, uint64_t after, size_t max_records, int block_ms,
                            weft_journal_page_t *page, weft_error_t *err);
/* Takes over, for `consumer`, records pending at any member for min_idle_ms or more: at
 * most max_records, scanning the group's pending records from *cursor (0: from the
 * start), which it moves on (back to 0 once the scan is through). */
int weft_journal_group_claim(weft_journal_stream_t *s, const char *group, const char *consumer,
                             uint64_t min_idle_ms, uint64_t *cursor, size_t max_records,
                             weft_journal_page_t *page, weft_error_t *err);
/* Acknowledges records: they are finished for the group. */
int weft_journal_group_ack(weft_journal_stream_t *s, const char *group, const uint64_t *seqs,
                           size_t n, weft_error_t *err);
/* Tells the group that `consumer` is still working on these records (their idle time
 * starts again), so that no other member claims them. */
int weft_journal_group_hold(weft_journal_stream_t *s, const char *group, const char *consumer,
                            const uint64_t *seqs, size_t n, weft_error_t *err);
/* The group's position (every record at or below it acknowledged) and how many records
 * are pending at its members. */
int weft_journal_group_state(weft_journal_stream_t *s, const char *group, uint64_t *position,
                             uint64_t *pending, weft_error_t *err);
/* Removes the group's members other than `keep` that have nothing pending and have not
 * read, claimed or held for min_idle_ms or more (nodes that stopped, whose records
 * were claimed by others): each check and removal is one step on the backend, so a
 * member that reads meanwhile is kept. *removed: how many went. A member removed comes
 * back at its next read. */
int weft_journal_group_prune(weft_journal_stream_t *s, const char *group, const char *keep,
                             uint64_t min_idle_ms, size_t *removed, weft_error_t *err);

/* ---- Backends ------------------------------------------------------------------------- */

/* What a backend implements. `self` is the backend's journal (from open), `st` the
 * backend's stream (from stream). journal.c checks arguments (names, sizes, NULLs)
 * before calling, builds the blocking append, waiting and watches on these, and picks
 * the backend by the location's scheme. Each function has the contract of the public
 * function of the same name. */
typedef struct weft_journal_ops {
    const char *scheme; /* "sqlite": locations "sqlite:..." */
    int (*open)(const char *location, const weft_journal_options_t *opts, void **self,
                weft_error_t *err);
    void (*close)(void *self);
    const char *(*describe)(void *self);
    /* pub is the public handle to pass to weft_journal_notify. */
    int (*stream)(void *self, const char *name, weft_journal_stream_t *pub, void **st,
                  weft_error_t *err);
    int (*append)(void *self, void *st, const weft_journal_entry_t *entries, size_t n,
                  weft_journal_done_fn done, void *arg, weft_error_t *err);
    int (*read)(void *self, void *st, uint64_t after, size_t max_records, size_t max_bytes,
                weft_journal_page_t *page, weft_error_t *err);
    int (*bounds)(void *self, void *st, uint64_t *first, uint64_t *last, weft_error_t *err);
    int (*position_get)(void *self, void *st, const char *consumer, uint64_t *seq);
    int (*position_set)(void *self, void *st, const char *consumer, uint64_t seq,
                        weft_error_t *err);
    int (*position_delete)(void *self, void *st, const char *consumer, weft_error_t *err);
    int (*consumers)(void *self, void *st, weft_store_names_t *names, weft_error_t *err);
    int (*flush)(void *self, weft_error_t *err);
    int (*trim)(void *self, void *st, int64_t before_ms, uint64_t *deleted, weft_error_t *err);
    /* A backend outside the weft binary (a plugin) cannot call weft_journal_notify: the
     * store layer hands it over right after open. NULL: not needed. */
    void (*bind)(void *self, void (*notify)(weft_journal_stream_t *pub, uint64_t latest));
    /* Shared streams (above); all NULL in a backend whose streams are not shared. */
    int (*group_join)(void *self, void *st, const char *group, bool earliest, weft_error_t *err);
    int (*group_read)(void *self, void *st, const char *group, const char *consumer, bool own,
                      uint64_t after, size_t max_records, int block_ms, weft_journal_page_t *page,
                      weft_error_t *err);
    int (*group_claim)(void *self, void *st, const char *group, const char *consumer,
                       uint64_t min_idle_ms, uint64_t *cursor, size_t max_records,
                       weft_journal_page_t *page, weft_error_t *err);
    int (*group_ack)(void *self, void *st, const char *group, const uint64_t *seqs, size_t n,
                     weft_error_t *err);
    int (*group_hold)(void *self, void *st, const char *group, const char *consumer,
                      const uint64_t *seqs, size_t n, weft_error_t *err);
    int (*group_state)(void *self, void *st, const char *group, uint64_t *position,
                       uint64_t *pending, weft_error_t *err);
    int (*group_prune)(void *self, void *st, const char *group, const char *keep,
                       uint64_t min_idle_ms, size_t *removed, weft_error_t *err);
} weft_journal_ops_t;

/* For backends: the stream's latest durable seq is now `latest`. Call it when a stream is
 * opened and after each commit that adds records (before the appends' callbacks), so
 * that weft_journal_latest, _wait and watches see it. */
void weft_journal_notify(weft_journal_stream_t *pub, uint64_t latest);

extern const weft_journal_ops_t weft_journal_sqlite_ops;

/* ==== Key-value, documents, blobs: what the three share ================================
 *
 * Location: "sqlite:DIR" or a plain DIR picks the embedded backend: one SQLite file per
 * kind in DIR (kv.db, docs.db, blobs.db and the folder blobs/ for the bytes; DIR is
 * created if missing, mode 0700), WAL, synchronous=FULL: a call that returns 0 has made
 * its write durable (it survives kill -9 and, as far as the disk honours fsync, a power
 * loss). Opening is cheap (open the file, check it, create the tables if new): callers
 * open a store when a guest first uses the service. One open handle per file at a time:
 * a second open of the same kind in the same DIR, from this process or another, is
 * refused (EIO, "in use"); share the handle instead (every call is thread-safe).
 * "redis://...", "redis+unix://..." (key-value) and "postgresql://...", "postgres://..."
 * (documents, blobs) pick the distributed backends of weft-dist.so (below, "Distributed
 * backends"; their forms and guarantees are in src/dist/kv_redis.c, pg.c, doc_pg.c,
 * blob_pg.c): a call that returns 0 was answered by the server (Redis applied it;
 * PostgreSQL committed it), and a lost connection fails the call with EIO naming the
 * server and is opened again at the next one.
 *
 * Threads: every call may be made from any thread, concurrently, except open and close
 * (and a blob writer, one thread at a time). The embedded backend serializes the calls
 * on one file (one connection under a mutex: a read waits for a write's fsync).
 *
 * Names (KV stores, document collections): 1 to WEFT_STORE_MAX_NAME bytes of UTF-8, no
 * control characters. Blob containers: 1 to 63 of [a-z0-9-].
 *
 * Versions: every write gives what it wrote a version, a number > 0 that no earlier
 * write of the same KV (all its named stores), document store or blob store was given,
 * even after a delete or a reopen: so a version names one write (an ETag is its
 * decimal) and a key deleted and set again never matches an old if_version. A write with if_version
 * != 0 happens only when the item exists with that version; with if_absent, only when it does not
 * exist: else ECONFLICT and nothing changes.
 *
 * Errors: EINVAL bad argument (what and which), ENOTFOUND no such item, ECONFLICT a
 * condition failed, ELIMIT too large or the store is full (max_bytes, or the disk), EIO
 * the store cannot be read or written (the message names the file), ENOMEM.
 *
 * Paging: a list returns at most `limit` items (1..WEFT_STORE_MAX_PAGE; 0: the
 * default) in byte order of their key (id, name), after the cursor `after` (NULL or "":
 * from the start); page.more says whether another page follows: pass the last item's key
 * as `after` for it. Items written meanwhile may or may not appear; none appears twice.
 */
#define WEFT_STORE_MAX_NAME 128

#define WEFT_STORE_MAX_PAGE 1000
#define WEFT_STORE_DEFAULT_PAGE 100

/* ==== Key-value ======================================================================== *
 *
 * Spin's key-value interface (get, set, delete, exists, get-keys) plus what an HTTP API
 * needs: versions for optimistic concurrency, a time to live, keys listed by prefix in
 * pages. A KV holds named stores ("default" ...), each a map of keys to byte values. */

#define WEFT_KV_MAX_KEY 4096                  /* bytes of UTF-8, no NUL */
#define WEFT_KV_DEFAULT_MAX_VALUE (16u << 20) /* weft_kv_options_t.max_value_bytes */

typedef struct weft_kv weft_kv_t;
typedef struct weft_kv_store weft_kv_store_t;

typedef struct weft_kv_options {
    size_t max_value_bytes; /* a larger value: ELIMIT; 0: WEFT_KV_DEFAULT_MAX_VALUE */
    uint64_t max_bytes;     /* a cap on the file's size (all stores), 0: none: ELIMIT */
} weft_kv_options_t;

/* Opens the KV at location (above); opts may be NULL. Close with weft_kv_close. */
int weft_kv_open(const char *location, const weft_kv_options_t *opts, weft_kv_t **out,
                 weft_error_t *err);
/* No call may be in progress or follow; frees the stores' handles. NULL: nothing. */
void weft_kv_close(weft_kv_t *kv);
/* "SQLite key-value DIR/kv.db", for messages; borrowed until close. */
const char *weft_kv_describe(const weft_kv_t *kv);
/* The store called name, created if absent; the same handle until close. */
int weft_kv_store(weft_kv_t *kv, const char *name, weft_kv_store_t **out, weft_error_t *err);

/* The value of key: *value (malloc'd, the caller frees it; NUL-terminated past *len),
 * *len and *version (each may be NULL). ENOTFOUND when absent or expired. */
int weft_kv_get(weft_kv_store_t *st, const char *key, uint8_t **value, size_t *len,
                uint64_t *version, weft_error_t *err);
/* 0 when key is present (not expired), ENOTFOUND when not, or an error. */
int weft_kv_exists(weft_kv_store_t *st, const char *key, weft_error_t *err);

typedef struct weft_kv_set_options {
    int64_t ttl_ms;      /* > 0: the key expires this long after the set; 0: never */
    uint64_t if_version; /* != 0: only if the key holds this version (else ECONFLICT) */
    bool if_absent;      /* only if the key is absent (else ECONFLICT) */
} weft_kv_set_options_t;

/* Sets key to value[0..len) (value may be NULL when len is 0); opts may be NULL. An
 * expired key is absent. *version (may be NULL): the new version. */
int weft_kv_set(weft_kv_store_t *st, const char *key, const void *value, size_t len,
                const weft_kv_set_options_t *opts, uint64_t *version, weft_error_t *err);
/* Deletes key: ENOTFOUND when absent; if_version != 0: only if it holds this version
 * (else ECONFLICT). */
int weft_kv_delete(weft_kv_store_t *st, const char *key, uint64_t if_version, weft_error_t *err);

/* The store's keys that begin with prefix (NULL or "": all), after `after`, paged. */
int weft_kv_list(weft_kv_store_t *st, const char *prefix, const char *after, size_t limit,
                 weft_store_names_t *page, weft_error_t *err);

/* Expired keys are never seen; their rows are deleted by later writes (a few at a time)
 * and by this call (all), which counts them in *deleted (may be NULL). */
int weft_kv_purge(weft_kv_t *kv, uint64_t *deleted, weft_error_t *err);

/* What a KV backend implements. kv.c checks the arguments (names, keys, sizes, limits,
 * NULLs) before calling; each function has the contract of the public one of the same
 * name. `self` is the backend's KV, `st` its store. now_ms: the wall clock, for TTLs
 * (passed in so that every backend reads one clock). */
typedef struct weft_kv_ops {
    const char *scheme;
    int (*open)(const char *location, const weft_kv_options_t *opts, void **self,
                weft_error_t *err);
    void (*close)(void *self);
    const char *(*describe)(void *self);
    int (*store)(void *self, const char *name, void **st, weft_error_t *err);
    int (*get)(void *self, void *st, const char *key, int64_t now_ms, uint8_t **value, size_t *len,
               uint64_t *version, weft_error_t *err);
    int (*set)(void *self, void *st, const char *key, const void *value, size_t len,
               const weft_kv_set_options_t *opts, int64_t now_ms, uint64_t *version,
               weft_error_t *err);
    int (*delete_)(void *self, void *st, const char *key, uint64_t if_version, int64_t now_ms,
                   weft_error_t *err);
    /* prefix and after are "" when absent; limit is 1..WEFT_STORE_MAX_PAGE. */
    int (*list)(void *self, void *st, const char *prefix, const char *after, size_t limit,
                int64_t now_ms, weft_store_names_t *page, weft_error_t *err);
    int (*purge)(void *self, int64_t now_ms, uint64_t *deleted, weft_error_t *err);
} weft_kv_ops_t;

extern const weft_kv_ops_t weft_kv_sqlite_ops;

/* ==== Documents ======================================================================== *
 *
 * JSON objects by collection and id, queried by equality of top-level fields. */

#define WEFT_DOC_MAX_ID 1024                  /* bytes of UTF-8, no control characters */
#define WEFT_DOC_DEFAULT_MAX_BYTES (1u << 20) /* weft_doc_options_t.max_doc_bytes */
#define WEFT_DOC_MAX_MATCHES 32               /* field=value pairs in one query */

typedef struct weft_doc weft_doc_t;

typedef struct weft_doc_options {
    size_t max_doc_bytes; /* a larger document: ELIMIT; 0: WEFT_DOC_DEFAULT_MAX_BYTES */
    uint64_t max_bytes;   /* a cap on the file's size, 0: none: ELIMIT */
} weft_doc_options_t;

int weft_doc_open(const char *location, const weft_doc_options_t *opts, weft_doc_t **out,
                  weft_error_t *err);
void weft_doc_close(weft_doc_t *d);
const char *weft_doc_describe(const weft_doc_t *d);

typedef struct weft_doc_put_options {
    uint64_t if_version; /* != 0: only if the document holds this version */
    bool if_absent;      /* only if there is no such document */
} weft_doc_put_options_t;

/* Stores json[0..len), which must be one JSON object (no duplicate member names, no
 * \u0000 in its strings), as
 * the document id of collection, replacing what was there; opts may be NULL. The text is
 * kept as given. *version (may be NULL): its new version. */
int weft_doc_put(weft_doc_t *d, const char *collection, const char *id, const char *json,
                 size_t len, const weft_doc_put_options_t *opts, uint64_t *version,
                 weft_error_t *err);
/* The document's text (*json malloc'd, NUL-terminated, the caller's), its length and
 * version (each may be NULL); ENOTFOUND. */
int weft_doc_get(weft_doc_t *d, const char *collection, const char *id, char **json, size_t *len,
                 uint64_t *version, weft_error_t *err);
/* ENOTFOUND; if_version != 0: only if it holds this version (else ECONFLICT). */
int weft_doc_delete(weft_doc_t *d, const char *collection, const char *id, uint64_t if_version,
                    weft_error_t *err);

/* A condition of a query: the document's top-level member `field` equals `value`, the
 * JSON text of a scalar: a string ("\"red\""), a number ("3", "2.5": compared as numbers,
 * so 3 matches 3.0), true, false or null. A missing member matches nothing, not null. */
typedef struct weft_doc_match {
    const char *field;
    const char *value;
} weft_doc_match_t;

typedef struct weft_doc_item {
    char *id;
    char *json;
    size_t len;
    uint64_t version;
} weft_doc_item_t;

typedef struct weft_doc_page {
    weft_doc_item_t *items;
    size_t n;
    bool more; /* query again after items[n - 1].id */
} weft_doc_page_t;
void weft_doc_page_free(weft_doc_page_t *page);

/* The documents of collection (in id order, after `after`, paged) that satisfy every
 * match (n 0..WEFT_DOC_MAX_MATCHES; 0: all). */
int weft_doc_query(weft_doc_t *d, const char *collection, const weft_doc_match_t *matches, size_t n,
                   const char *after, size_t limit, weft_doc_page_t *page, weft_error_t *err);

/* A match as doc.c hands it to backends, parsed. */
typedef enum {
    WEFT_DOC_STRING,
    WEFT_DOC_INT,
    WEFT_DOC_REAL,
    WEFT_DOC_TRUE,
    WEFT_DOC_FALSE,
    WEFT_DOC_NULL
} weft_doc_kind_t;
typedef struct weft_doc_cond {
    const char *field;
    weft_doc_kind_t kind;
    const char *str; /* WEFT_DOC_STRING: UTF-8 ... */
    size_t str_len;  /* ... of this many bytes (may hold NUL) */
    int64_t i;       /* WEFT_DOC_INT */
    double r;        /* WEFT_DOC_REAL */
} weft_doc_cond_t;

typedef struct weft_doc_ops {
    const char *scheme;
    int (*open)(const char *location, const weft_doc_options_t *opts, void **self,
                weft_error_t *err);
    void (*close)(void *self);
    const char *(*describe)(void *self);
    int (*put)(void *self, const char *collection, const char *id, const char *json, size_t len,
               const weft_doc_put_options_t *opts, uint64_t *version, weft_error_t *err);
    int (*get)(void *self, const char *collection, const char *id, char **json, size_t *len,
               uint64_t *version, weft_error_t *err);
    int (*delete_)(void *self, const char *collection, const char *id, uint64_t if_version,
                   weft_error_t *err);
    int (*query)(void *self, const char *collection, const weft_doc_cond_t *conds, size_t n,
                 const char *after, size_t limit, weft_doc_page_t *page, weft_error_t *err);
} weft_doc_ops_t;

extern const weft_doc_ops_t weft_doc_sqlite_ops;

/* ==== Blobs ============================================================================ *
 *
 * Byte strings of any size by container and name, written and read as streams, with
 * metadata: size, content type, SHA-256, modification time, version. A blob is visible
 * whole or not at all: a writer's bytes go to a temporary place and appear only when
 * committed; a crash at any point leaves the blob as it was before the commit or as
 * committed, and a committed blob survives kill -9. A reader reads the version it opened,
 * even if the blob is replaced or deleted meanwhile. */

#define WEFT_BLOB_MAX_CONTAINER 63              /* [a-z0-9-] */
#define WEFT_BLOB_MAX_NAME 1024                 /* bytes, no NUL */
#define WEFT_BLOB_MAX_CONTENT_TYPE 255          /* printable ASCII */
#define WEFT_BLOB_DEFAULT_MAX_BLOB (4ull << 30) /* weft_blob_options_t.max_blob_bytes */

typedef struct weft_blob weft_blob_t;
typedef struct weft_blob_writer weft_blob_writer_t;
typedef struct weft_blob_reader weft_blob_reader_t;

typedef struct weft_blob_options {
    uint64_t max_blob_bytes; /* a larger blob: ELIMIT; 0: WEFT_BLOB_DEFAULT_MAX_BLOB */
    uint64_t max_bytes;      /* a cap on the blobs' total size, 0: none: ELIMIT */
} weft_blob_options_t;

typedef struct weft_blob_meta {
    uint64_t size;
    char content_type[WEFT_BLOB_MAX_CONTENT_TYPE + 1];
    char sha256[65];  /* lower-case hex */
    int64_t mtime_ms; /* when committed: milliseconds since the Unix epoch */
    uint64_t version;
} weft_blob_meta_t;

int weft_blob_open(const char *location, const weft_blob_options_t *opts, weft_blob_t **out,
                   weft_error_t *err);
/* No writer or reader may be open. */
void weft_blob_close(weft_blob_t *b);
const char *weft_blob_describe(const weft_blob_t *b);

typedef struct weft_blob_put_options {
    uint64_t if_version; /* != 0: commit only if the blob holds this version */
    bool if_absent;      /* commit only if there is no such blob */
} weft_blob_put_options_t;

/* Starts writing the blob name of container (content_type NULL or "":
 * "application/octet-stream"; opts may be NULL, its conditions are checked at commit).
 * A writer belongs to one thread at a time; end it with commit or abort. */
int weft_blob_writer_open(weft_blob_t *b, const char *container, const char *name,
                          const char *content_type, const weft_blob_put_options_t *opts,
                          weft_blob_writer_t **out, weft_error_t *err);
/* Appends data[0..n): ELIMIT past max_blob_bytes; after any error only abort remains. */
int weft_blob_write(weft_blob_writer_t *w, const void *data, size_t n, weft_error_t *err);
/* Makes the bytes written the blob, durably, and frees w whatever the outcome; *meta
 * (may be NULL): what was committed. ECONFLICT, ELIMIT (max_bytes), EIO. */
int weft_blob_writer_commit(weft_blob_writer_t *w, weft_blob_meta_t *meta, weft_error_t *err);
/* Drops what was written and frees w. NULL: nothing. */
void weft_blob_writer_abort(weft_blob_writer_t *w);

/* Opens the blob for reading: *meta (may be NULL) is the version it reads. ENOTFOUND. */
int weft_blob_reader_open(weft_blob_t *b, const char *container, const char *name,
                          weft_blob_reader_t **out, weft_blob_meta_t *meta, weft_error_t *err);
/* Reads up to n bytes at offset into buf: *got is less than n only at the end (0: the
 * offset is at or past the end). Readers may be used from several threads at once. */
int weft_blob_read(weft_blob_reader_t *r, uint64_t offset, void *buf, size_t n, size_t *got,
                   weft_error_t *err);
void weft_blob_reader_close(weft_blob_reader_t *r);

/* The blob's metadata; ENOTFOUND. */
int weft_blob_stat(weft_blob_t *b, const char *container, const char *name, weft_blob_meta_t *meta,
                   weft_error_t *err);
/* ENOTFOUND; if_version != 0: only if it holds this version (else ECONFLICT). */
int weft_blob_delete(weft_blob_t *b, const char *container, const char *name, uint64_t if_version,
                     weft_error_t *err);
/* Names of container's blobs that begin with prefix (NULL or "": all), paged. Blob names
 * may be any bytes but NUL, so names[i] are C strings. */
int weft_blob_list(weft_blob_t *b, const char *container, const char *prefix, const char *after,
                   size_t limit, weft_store_names_t *page, weft_error_t *err);

/* What a blob backend implements. blob.c checks names, counts the bytes and computes the
 * SHA-256 as they pass; a backend keeps them. `w` and `r` are the backend's. */
typedef struct weft_blob_ops {
    const char *scheme;
    int (*open)(const char *location, const weft_blob_options_t *opts, void **self,
                weft_error_t *err);
    void (*close)(void *self);
    const char *(*describe)(void *self);
    int (*writer_open)(void *self, const char *container, const char *name, void **w,
                       weft_error_t *err);
    int (*write)(void *self, void *w, const void *data, size_t n, weft_error_t *err);
    /* meta->size, content_type and sha256 are filled in; the backend sets version and
     * mtime_ms. Frees w whatever the outcome. */
    int (*commit)(void *self, void *w, const weft_blob_put_options_t *opts, weft_blob_meta_t *meta,
                  weft_error_t *err);
    void (*abort)(void *self, void *w);
    int (*reader_open)(void *self, const char *container, const char *name, void **r,
                       weft_blob_meta_t *meta, weft_error_t *err);
    int (*read)(void *self, void *r, uint64_t offset, void *buf, size_t n, size_t *got,
                weft_error_t *err);
    void (*reader_close)(void *self, void *r);
    int (*stat)(void *self, const char *container, const char *name, weft_blob_meta_t *meta,
                weft_error_t *err);
    int (*delete_)(void *self, const char *container, const char *name, uint64_t if_version,
                   weft_error_t *err);
    int (*list)(void *self, const char *container, const char *prefix, const char *after,
                size_t limit, weft_store_names_t *page, weft_error_t *err);
} weft_blob_ops_t;

extern const weft_blob_ops_t weft_blob_sqlite_ops;

/* ==== Channels ========================================================================= *
 *
 * A subscription to publish/subscribe channels of a Redis server (Redis's SUBSCRIBE):
 * each message PUBLISHed on one of them is handed to fn, in the order the server sent
 * them, on the subscription's own thread, one at a time (fn may take its time: the
 * server buffers what comes meanwhile, up to its client-output-buffer-limit for pubsub,
 * past which it drops the connection, which is then reopened). The location is one the
 * Redis key-value backend takes (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB],
 * redis+unix://[[USER]:PASSWORD@]/PATH; the database does not matter: Redis's channels
 * are the server's, not a database's). Subscribing loads weft-dist.so (only then) and
 * returns at once: the connection is made on the subscription's thread, and a
 * connection that cannot be made or is lost is tried again with a backoff (100 ms
 * doubling to WEFT_CHANNEL_MAX_BACKOFF_MS), each loss and each return logged once.
 * A message published while no connection is up is lost: that is Redis pub/sub's
 * nature (a subscriber receives only what is published while it is subscribed). */
#define WEFT_CHANNEL_MAX_BACKOFF_MS 2000

typedef struct weft_channel_sub weft_channel_sub_t;
/* One message: channel NUL-terminated, payload[0..len) (any bytes), both valid during
 * the call. */
typedef void (*weft_channel_fn)(void *arg, const char *channel, const uint8_t *payload, size_t len);

/* Subscribes to channels[0..n) (each 1 or more bytes, no NUL) at location. WEFT_EINVAL
 * for a location that does not parse or is no Redis one, WEFT_ELOAD when weft-dist.so
 * cannot be loaded. The channels' names are copied; arg is borrowed until
 * weft_channel_unsubscribe returns. */
int weft_channel_subscribe(const char *location, const char *const *channels, size_t n,
                           weft_channel_fn fn, void *arg, weft_channel_sub_t **out,
                           weft_error_t *err);
/* Stops the subscription: its connection is closed, a call of fn under way finishes
 * first; fn is never called after it returns. NULL: nothing. */
void weft_channel_unsubscribe(weft_channel_sub_t *sub);

/* ==== Distributed backends ============================================================= *
 *
 * Key-value on Redis ("redis://...", "redis+unix://..."), documents and blobs on
 * PostgreSQL ("postgresql://...", "postgres://...") live in a plugin, weft-dist.so
 * (util.h, "Plugins"), so that hiredis and libpq are loaded only by a weft that opens
 * such a location: a store's open asks for the plugin when, and only when, the
 * location's scheme is one of WEFT_DIST_SCHEMES. The plugin's table lists backends of
 * each kind; a backend's `scheme` is matched against the location's. The subscriptions
 * to Redis channels ("Channels" above) live there too. */
#define WEFT_DIST_SCHEMES "redis", "redis+unix", "postgres", "postgresql"
#define WEFT_DIST_PLUGIN_ABI 4u

typedef struct weft_dist_plugin {
    weft_plugin_head_t head; /* name "weft-dist", no commands */
    const weft_kv_ops_t *const *kv;
    size_t nkv;
    const weft_doc_ops_t *const *doc;
    size_t ndoc;
    const weft_blob_ops_t *const *blob;
    size_t nblob;
    const weft_journal_ops_t *const *journal;
    size_t njournal;
    /* Channels (weft_channel_subscribe): subscribe for a redis:// or redis+unix://
     * location, unsubscribe for what it made. */
    int (*subscribe)(const char *location, const char *const *channels, size_t n,
                     weft_channel_fn fn, void *arg, weft_channel_sub_t **out, weft_error_t *err);
    void (*unsubscribe)(weft_channel_sub_t *sub);
} weft_dist_plugin_t;

#endif
