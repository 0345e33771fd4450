/* tail: live tails of a broker's log (events.h), for Server-Sent Events and the like.
 *
 * A tail is a reader of one broker's journal stream with a position of its own that the
 * journal does not keep (a tail holds no record back from retention), a journal watch
 * that tells its owner when the stream has more, and an optional CESQL filter. Reading
 * pages through the stream from the position, decodes each record, filters it and
 * encodes it in the JSON of structured mode, one line per event.
 *
 * A tail holds the stream, not the broker: the journal keeps its streams until
 * weft_events_free, so a tail whose broker a reload removed goes on reading the stream
 * (nothing is appended to it any more, unless a later configuration brings the broker
 * back, whose events it then sees).
 *
 * Threads: notify runs on the journal's writer thread (the watch's); read on the
 * owner's thread, one at a time per tail.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct weft_events_tail {
    weft_journal_stream_t *stream; /* the journal's, alive until weft_events_free */
    weft_journal_watch_t *watch;
    weft_cesql_t *filter; /* NULL: every event */
    char *broker;
    _Atomic uint64_t pos; /* the last seq read; the watch compares */
    void (*notify)(void *arg);
    void *arg;
};

/* From the journal's writer thread after a commit that added records. */
static void on_more(void *arg, uint64_t latest) {
    weft_events_tail_t *t = arg;
    if (latest > atomic_load_explicit(&t->pos, memory_order_relaxed) && t->notify)
        t->notify(t->arg);
}

int weft_events_tail_open(weft_events_t *ev, const weft_events_tail_opts_t *opts,
                          weft_events_tail_t **out, weft_error_t *err) {
    *out = NULL;
    if (!opts->broker)
        return weft_error_set(err, WEFT_EINVAL, "a tail needs a broker");
    weft_events_tail_t *t = calloc(1, sizeof *t);
    if (!t || !(t->broker = strdup(opts->broker))) {
        free(t);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    t->notify = opts->notify;
    t->arg = opts->arg;
    int rc = 0;
    if (opts->filter) {
        rc = weft_cesql_parse(opts->filter, &t->filter, err);
        if (!rc)
            rc = weft_cesql_check(t->filter, err);
        if (rc) {
            weft_error_prefix(err, "filter");
            goto fail;
        }
    }
    if (!(t->stream = weft_events_stream(ev, opts->broker))) {
        rc = weft_error_set(err, WEFT_ENOTFOUND, "no broker '%s'", opts->broker);
        goto fail;
    }
    /* The watch goes first, then the position is taken: an event committed in between
     * is notified, never missed. */
    if ((rc = weft_journal_watch(t->stream, on_more, t, &t->watch, err)))
        goto fail;
    uint64_t pos = opts->after;
    if (!pos && !opts->earliest)
        pos = weft_journal_latest(t->stream);
    atomic_store(&t->pos, pos); /* earliest: 0, the first record retained comes first */
    *out = t;
    return 0;
fail:
    weft_events_tail_close(t);
    return rc;
}

long weft_events_tail_read(weft_events_tail_t *t, size_t max, weft_events_tail_fn fn, void *arg,
                           weft_error_t *err) {
    if (max == 0)
        max = 1;
    if (max > WEFT_EVENTS_TAIL_PAGE)
        max = WEFT_EVENTS_TAIL_PAGE;
    weft_journal_page_t page = {0};
    uint64_t pos = atomic_load(&t->pos);
    int rc = weft_journal_read(t->stream, pos, max, WEFT_EVENTS_TAIL_PAGE_BYTES, &page, err);
    if (rc)
        return -1;
    weft_buf_t json = {0};
    for (size_t i = 0; i < page.n; i++) {
        const weft_journal_record_t *r = &page.records[i];
        weft_ce_t ce = {0};
        weft_error_t e = {0};
        json.len = 0;
        if (weft_ce_deserialize(r->data, r->len, &ce, &e)) {
            weft_log("broker %s, a tail: record #%" PRIu64 " of the log is not an event (%s): "
                     "skipped",
                     t->broker, r->seq, e.msg);
        } else if (!t->filter || weft_cesql_match(t->filter, &ce, NULL)) {
            if (!weft_ce_json_encode(&ce, &json, &e))
                fn(arg, r->seq, json.len ? (const char *)json.data : "", json.len);
            else
                weft_log("broker %s, a tail: event #%" PRIu64 " cannot be written as JSON (%s): "
                         "skipped",
                         t->broker, r->seq, e.msg);
        }
        weft_ce_clear(&ce);
        atomic_store(&t->pos, r->seq);
    }
    weft_buf_free(&json);
    long n = (long)page.n;
    weft_journal_page_free(&page);
    return n;
}

void weft_events_tail_close(weft_events_tail_t *t) {
    if (!t)
        return;
    if (t->watch)
        weft_journal_unwatch(t->stream, t->watch);
    weft_cesql_free(t->filter);
    free(t->broker);
    free(t);
}
