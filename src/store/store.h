/* store: what weft keeps on disk for its users, behind interfaces that do not say where.
 *
 * Today: the journal, the durable log of records a broker keeps (journal.c holds the
 * part every backend shares, journal_sqlite.c the embedded SQLite backend). Key-value,
 * blobs and documents join this header later, each the same way: an opaque handle, a
 * table of backend functions, and a location string that picks the backend.
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
 * opts may be NULL (defaults). One process at a time may open a journal: a second open of
 * the same file, from this process or another, is refused (EIO, "in use"). A file that is
 * not a journal, or one written by a newer weft, is refused with a message naming it.
 * On success *out is the journal; close it with weft_journal_close. */
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
    int (*flush)(void *self, weft_error_t *err);
    int (*trim)(void *self, void *st, int64_t before_ms, uint64_t *deleted, weft_error_t *err);
} weft_journal_ops_t;

/* For backends: the stream's latest durable seq is now `latest`. Call it when a stream is
 * opened and after each commit that adds records (before the appends' callbacks), so
 * that weft_journal_latest, _wait and watches see it. */
void weft_journal_notify(weft_journal_stream_t *pub, uint64_t latest);

extern const weft_journal_ops_t weft_journal_sqlite_ops;

#endif
