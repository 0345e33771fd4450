/* broker: brokers, triggers and the path of an event (events.h).
 *
 * Ingest. A POST to /brokers/NAME is decoded (codec.h), each event given the TTL
 * extension when it lacks one, serialized and appended to the broker's log (store.h)
 * as one all-or-nothing batch; the log's writer thread calls back once the batch is on
 * disk and only then is the answer 202. The log's dedupe key is the event's source and
 * id, so a retried POST stores nothing twice.
 *
 * Triggers. Each has a thread that reads the log from the trigger's position, at most
 * WEFT_TRIGGER_PAGE records at a time, and never more than `parallelism` deliveries
 * under way nor WEFT_TRIGGER_WINDOW events past its position: memory stays bounded
 * however long the backlog. Each event is filtered once; the matching ones go to the
 * delivery engine (delivery.h), which retries as the trigger's policy says and calls
 * back. An event is finished when it was filtered out, delivered (and its reply, if
 * any, stored in the log), dead-lettered, or given up (logged). The position is the
 * highest sequence below which every event is finished; it is saved at most every
 * WEFT_TRIGGER_SAVE_NS, so after a crash a trigger starts again from a position at or
 * before where it was: at least once. A trigger of a broker whose log several nodes
 * share reads through its group instead of a position (shared.c); the rest of an
 * event's path is the same. The trigger's struct is in trigger.h.
 *
 * Configurations and reloading. Everything made of one weft_events_config_t (its
 * brokers, triggers, delivery engine and release hook) is a conf_t; the journal (opened
 * by the first configuration with brokers, its state folder fixed from then on) and the
 * counts by name (broker_stats_t, trigger_stats_t) belong to weft_events_t and outlive
 * configurations. weft_events_commit makes a prepared conf the running one and retires
 * the previous one: its triggers stop reading at once (their threads end), and the
 * reloader thread hands each one over once its deliveries under way are finished (at
 * most its reload_grace_ns (WEFT_EVENTS_RELOAD_GRACE_NS) after the commit; then weft_delivery_stop
 * of the old engine cancels what is left, unacknowledged): it saves its position, then starts its
 * successor (the running conf's trigger of the same broker and trigger name) from there,
 * or forgets the position when there is none. A trigger with no predecessor still
 * draining starts at the commit. So at any moment at most one trigger of a given broker
 * and name reads or delivers (a trigger's state: WAITING for its predecessor, RUNNING,
 * DRAINING after its conf was retired, DONE). A retired conf whose triggers are all DONE
 * is freed and its release hook called.
 *
 * Locks, in the order they are taken:
 *  - ev->lock: the running conf, the retiring list, trigger states, the journal's
 *    opening, the lists of counts, started/stopping. Taken by prepare, commit, describe,
 *    the reloader and the janitor, never on the path of an event. Under it: joining a
 *    trigger's thread that was told to stop (it takes no lock but its own), the
 *    journal's calls that do not wait for the disk, and two that read it: the journal's
 *    opening (once) and describe's weft_journal_bounds. Never a delivery engine's stop
 *    nor a release hook.
 *  - ev->running_lock (a reader-writer lock, writers first): ingest and tail_open read
 *    the running conf under it, only to find a broker and copy what they need (its
 *    stream and counts, which outlive confs) before appending; commit writes it.
 *  - a trigger's lock: its window, position and in-flight count; callbacks from the
 *    delivery engine and the log take it briefly. Nothing holds it while calling out.
 * Counts are atomics, taken without locks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/base64.h>

#include "internal.h"
#include "trigger.h"

/* One configuration: what weft_events_prepare builds and weft_events_commit runs. */
typedef struct conf {
    struct weft_events *ev;
    weft_events_config_t cfg;
    broker_t *brokers;
    size_t nbrokers;
    trigger_t *triggers;
    size_t ntriggers;
    weft_delivery_t *delivery; /* NULL once stopped */
    uint64_t retired_at;       /* when a later conf replaced it (weft_now_ns) */
    struct conf *next;         /* in ev->retiring, oldest first */
} conf_t;

/* How long a replaced configuration's deliveries may go on. */
static uint64_t conf_grace(const conf_t *c) {
    return c->cfg.reload_grace_ns ? c->cfg.reload_grace_ns : WEFT_EVENTS_RELOAD_GRACE_NS;
}

/* A journal a broker's backend names (redis://...), open until weft_events_free. */
typedef struct remote {
    struct remote *next;
    char *location;
    weft_journal_t *journal;
} remote_t;

struct weft_events_conf {
    conf_t c;
};

struct weft_events {
    pthread_mutex_t lock; /* see the top of this file */
    pthread_cond_t cond;  /* the janitor's and the reloader's sleep */
    pthread_rwlock_t running_lock;
    conf_t *running;
    conf_t *retiring;
    weft_journal_t *journal;          /* every broker's log, one file in the state folder */
    char *state_dir;                  /* the journal's, once open */
    remote_t *remotes;                /* the shared journals brokers' backends name */
    char node[WEFT_APP_MAX_NAME + 1]; /* this weft's name among the nodes */
    pthread_t janitor, reloader;
    bool janitor_started, reloader_started;
    bool started, stopping, stopped;
    broker_stats_t *broker_stats;
    trigger_stats_t *trigger_stats;
};

/* One event on its way to a target or to the dead-letter target. */
typedef struct job {
    trigger_t *t;
    uint64_t seq;
    weft_ce_t ev;   /* the event as read from the log */
    weft_ce_t sent; /* what is being sent: ev, or the dead letter made of it */
    bool to_dead_letter;
    weft_ce_http_msg_t msg; /* sent, encoded */
    weft_header_t *headers; /* msg's, as the delivery engine takes them */
    uint64_t read_ns;       /* when it was read from the log */
} job_t;

/* ---- Small pieces ------------------------------------------------------------------ */

/* The counts of the broker called name, made on first use; with ev->lock. */
static broker_stats_t *broker_stats(weft_events_t *ev, const char *name) {
    broker_stats_t *s = ev->broker_stats;
    while (s && strcmp(s->name, name))
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s))) {
        snprintf(s->name, sizeof s->name, "%s", name);
        s->next = ev->broker_stats;
        ev->broker_stats = s;
    }
    return s;
}

/* The counts of the trigger called name on broker, made on first use; with ev->lock. */
static trigger_stats_t *trigger_stats(weft_events_t *ev, const char *broker, const char *name) {
    trigger_stats_t *s = ev->trigger_stats;
    while (s && (strcmp(s->broker, broker) || strcmp(s->name, name)))
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s))) {
        snprintf(s->broker, sizeof s->broker, "%s", broker);
        snprintf(s->name, sizeof s->name, "%s", name);
        char labels[512] = "";
        if (weft_metric_label(labels, sizeof labels, "broker", broker) &&
            weft_metric_label(labels, sizeof labels, "trigger", name))
            s->latency = weft_metric_series(
                "weft_trigger_delivery_duration_seconds",
                "From an event read from the log to its target's 2xx (retries included)",
                WEFT_METRIC_HISTOGRAM, labels, NULL);
        s->next = ev->trigger_stats;
        ev->trigger_stats = s;
    }
    return s;
}

static void count(atomic_uint_fast64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static broker_t *find_broker(conf_t *c, const char *name) {
    for (size_t i = 0; c && i < c->nbrokers; i++)
        if (!strcmp(c->brokers[i].def->name, name))
            return &c->brokers[i];
    return NULL;
}

/* What ingest and tails need of the running conf's broker called name (all of it
 * outlives confs); false when there is none. */
static bool lookup_broker(weft_events_t *ev, const char *name, weft_journal_stream_t **stream,
                          broker_stats_t **stats, uint64_t *max_event_size) {
    pthread_rwlock_rdlock(&ev->running_lock);
    broker_t *b = find_broker(ev->running, name);
    if (b) {
        *stream = b->stream;
        *stats = b->stats;
        *max_event_size = b->def->max_event_size;
    }
    pthread_rwlock_unlock(&ev->running_lock);
    return b != NULL;
}

weft_journal_stream_t *weft_events_stream(weft_events_t *ev, const char *name) {
    weft_journal_stream_t *stream = NULL;
    broker_stats_t *stats;
    uint64_t max;
    return lookup_broker(ev, name, &stream, &stats, &max) ? stream : NULL;
}

/* The event's TTL; WEFT_EVENTS_TTL_DEFAULT when it has none, and 0 when it has one
 * that is not a number (such an event is not delivered). */
static long event_ttl(const weft_ce_t *ev) {
    const char *v = weft_ce_get(ev, WEFT_EVENTS_TTL_NAME);
    if (!v)
        return WEFT_EVENTS_TTL_DEFAULT;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    return errno || end == v || *end ? 0 : n;
}

static int set_ttl(weft_ce_t *ev, long ttl) {
    char v[24];
    snprintf(v, sizeof v, "%ld", ttl);
    return weft_ce_set(ev, WEFT_EVENTS_TTL_NAME, v, WEFT_CE_INTEGER);
}

/* The log record of an event: its serialized form, and its dedupe key made of source
 * and id so that no two pairs give one key: the source's length, ':', source, id. */
static int make_record(const weft_ce_t *ce, weft_buf_t *bytes, weft_buf_t *key) {
    const char *source = weft_ce_get(ce, "source"), *id = weft_ce_get(ce, "id");
    int rc = weft_ce_serialize(ce, bytes);
    if (!rc)
        rc = weft_buf_printf(key, "%zu:%s%s", strlen(source), source, id);
    return rc;
}

/* NUL-terminated headers as the codec takes them (borrowed: they point into in). */
static weft_ce_header_t *borrow_headers(const weft_header_t *in, size_t n) {
    weft_ce_header_t *out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = (weft_ce_header_t){.name = in[i].name,
                                    .name_len = strlen(in[i].name),
                                    .value = in[i].value,
                                    .value_len = strlen(in[i].value)};
    return out;
}

/* ---- Ingest ------------------------------------------------------------------------ */

typedef struct ingest {
    broker_stats_t *stats;
    weft_events_done_fn done;
    void *arg;
    size_t n;
    weft_buf_t *bytes, *keys;
    weft_journal_entry_t *records;
} ingest_t;

static void ingest_free(ingest_t *in) {
    for (size_t i = 0; i < in->n; i++) {
        weft_buf_free(&in->bytes[i]);
        weft_buf_free(&in->keys[i]);
    }
    free(in->bytes);
    free(in->keys);
    free(in->records);
    free(in);
}

/* From the journal's writer thread: the batch is durable, or failed. */
static void on_ingest_stored(void *arg, int rc, const weft_journal_ack_t *acks, size_t n,
                             const char *why) {
    ingest_t *in = arg;
    count(rc ? &in->stats->rejected : &in->stats->ingested, in->n);
    if (rc)
        in->done(in->arg, 503, why && *why ? why : "the broker's log could not store the event");
    else
        in->done(in->arg, 202, "");
    ingest_free(in);
}

void weft_events_ingest(weft_events_t *ev, const char *name, const weft_header_t *headers,
                        size_t nheaders, const uint8_t *body, size_t body_len,
                        weft_events_done_fn done, void *arg) {
    weft_journal_stream_t *stream;
    broker_stats_t *stats;
    uint64_t max_event_size;
    if (!lookup_broker(ev, name, &stream, &stats, &max_event_size)) {
        done(arg, 404, "no such broker");
        return;
    }
    weft_ce_t *events = NULL;
    size_t n = 0;
    weft_error_t err = {0};
    weft_ce_header_t *h = borrow_headers(headers, nheaders);
    if (!h) {
        count(&stats->rejected, 1);
        done(arg, 503, "out of memory");
        return;
    }
    int rc = weft_ce_decode_http(h, nheaders, body, body_len, max_event_size, 0, &events, &n, &err);
    free(h);
    if (rc) {
        unsigned status = rc == WEFT_ELIMIT ? 413 : rc == WEFT_EUNSUPPORTED ? 415 : 400;
        count(&stats->rejected, 1); /* how many it held is not known */
        done(arg, status, err.msg);
        return;
    }
    if (n == 0) { /* an empty batch */
        done(arg, 202, "");
        return;
    }
    ingest_t *in = calloc(1, sizeof *in);
    if (!in || !(in->bytes = calloc(n, sizeof *in->bytes)) ||
        !(in->keys = calloc(n, sizeof *in->keys)) ||
        !(in->records = calloc(n, sizeof *in->records))) {
        if (in)
            ingest_free(in);
        weft_ce_free_array(events, n);
        count(&stats->rejected, n);
        done(arg, 503, "out of memory");
        return;
    }
    in->stats = stats;
    in->done = done;
    in->arg = arg;
    in->n = n;
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!weft_ce_get(&events[i], WEFT_EVENTS_TTL_NAME))
            rc = set_ttl(&events[i], WEFT_EVENTS_TTL_DEFAULT);
        if (!rc)
            rc = make_record(&events[i], &in->bytes[i], &in->keys[i]);
        in->records[i] = (weft_journal_entry_t){.data = in->bytes[i].data,
                                                .len = in->bytes[i].len,
                                                .key = in->keys[i].data,
                                                .key_len = in->keys[i].len};
    }
    weft_ce_free_array(events, n);
    if (rc) {
        ingest_free(in);
        count(&stats->rejected, n);
        done(arg, 503, "out of memory");
        return;
    }
    if (weft_journal_append_async(stream, in->records, n, on_ingest_stored, in, &err)) {
        ingest_free(in);
        count(&stats->rejected, n);
        done(arg, 503, err.msg); /* the log is full or closing: the client tries again */
    }
}

/* ---- Finishing events -------------------------------------------------------------- */

/* A shared trigger no longer holds seq; with its lock. */
static void unhold(trigger_t *t, uint64_t seq) {
    for (size_t i = 0; i < t->nheld; i++)
        if (t->held[i].seq == seq) {
            t->held[i] = t->held[--t->nheld];
            return;
        }
}

/* seq is finished: the trigger's position may move (a shared trigger's group is told
 * by its thread, which acknowledges in batches). */
static void finish(trigger_t *t, uint64_t seq) {
    pthread_mutex_lock(&t->lock);
    if (t->shared) {
        unhold(t, seq);
        if (t->nacks == t->acks_cap) {
            size_t cap = t->acks_cap ? 2 * t->acks_cap : 64;
            uint64_t *more = realloc(t->acks, cap * sizeof *more);
            if (more) {
                t->acks = more;
                t->acks_cap = cap;
            }
        }
        if (t->nacks < t->acks_cap)
            t->acks[t->nacks++] = seq;
        else /* out of memory: not acknowledged, so delivered again (at-least-once) */
            weft_log("%s: out of memory acknowledging event #%" PRIu64, t->tag, seq);
    } else {
        t->done[seq % WEFT_TRIGGER_WINDOW] = 1;
    }
    t->in_flight--;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

/* A delivery abandoned at shutdown: not finished, so delivered again after a restart
 * (on a shared broker, by this node when it comes back, or by another once the event
 * has been idle for claim_after). */
static void abandon(trigger_t *t, uint64_t seq) {
    pthread_mutex_lock(&t->lock);
    if (t->shared)
        unhold(t, seq);
    t->in_flight--;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static void job_free(job_t *j) {
    weft_ce_clear(&j->ev);
    weft_ce_clear(&j->sent);
    weft_ce_http_msg_free(&j->msg);
    free(j->headers);
    free(j);
}

/* The encoded message's headers as the delivery engine takes them: the codec
 * NUL-terminates every name and value in msg's text, so they are pointed at, not copied. */
static int engine_headers(const weft_ce_http_msg_t *msg, weft_header_t **out) {
    free(*out);
    if (!(*out = calloc(msg->nheaders ? msg->nheaders : 1, sizeof **out)))
        return WEFT_ENOMEM;
    for (size_t i = 0; i < msg->nheaders; i++)
        (*out)[i] = (weft_header_t){.name = msg->headers[i].name, .value = msg->headers[i].value};
    return 0;
}

/* Logs an event given up, with everything needed to find it. */
static void give_up(job_t *j, const char *why) {
    count(&j->t->stats->failed, 1);
    weft_log_ctx_t ctx = {.trigger = j->t->def->name, .event_id = weft_ce_get(&j->ev, "id")};
    const weft_log_ctx_t *was = weft_log_ctx_set(&ctx);
    weft_log_at(WEFT_LOG_WARN, "%s: event id '%s' (source '%s') given up: %s", j->t->tag,
                weft_ce_get(&j->ev, "id"), weft_ce_get(&j->ev, "source"), why);
    weft_log_ctx_set(was);
}

static void on_delivered(void *arg, const weft_delivery_outcome_t *out);

/* Sends j->sent to the dead-letter target (to_dead_letter) or the target. */
static void send_job(job_t *j) {
    trigger_t *t = j->t;
    const dest_t *d = j->to_dead_letter ? &t->dead_letter : &t->target;
    weft_error_t err = {0};
    weft_ce_http_msg_free(&j->msg);
    int rc = weft_ce_encode_http(
        &j->sent, d->structured ? WEFT_CE_MODE_STRUCTURED : WEFT_CE_MODE_BINARY, &j->msg, &err);
    if (!rc && engine_headers(&j->msg, &j->headers))
        rc = weft_error_set(&err, WEFT_ENOMEM, "out of memory");
    weft_delivery_request_t rq = {.headers = j->headers,
                                  .nheaders = j->msg.nheaders,
                                  .body = j->msg.body,
                                  .body_len = j->msg.body_len,
                                  .no_reply = j->to_dead_letter,
                                  .done = on_delivered,
                                  .arg = j};
    if (!rc && (rc = weft_delivery_submit(d->dd, &rq, &err)) == WEFT_ECANCELED) {
        abandon(t, j->seq); /* stopping: delivered again after a restart */
        job_free(j);
        return;
    }
    if (rc) {
        char why[WEFT_ERROR_MAX + 32];
        snprintf(why, sizeof why, "it cannot be sent: %s", err.msg);
        give_up(j, why);
        finish(t, j->seq);
        job_free(j);
    }
}

/* The target failed (why, last status and body): to the dead-letter target when the
 * trigger has one, else given up. */
static void fail_job(job_t *j, const char *why, unsigned status, const uint8_t *body,
                     size_t body_len) {
    trigger_t *t = j->t;
    if (!t->has_dead_letter) {
        give_up(j, why);
        finish(t, j->seq);
        job_free(j);
        return;
    }
    /* The dead letter: the event with Knative's three error extensions. */
    weft_ce_clear(&j->sent);
    char code[16], *data = NULL;
    snprintf(code, sizeof code, "%u", status);
    int rc = weft_ce_copy(&j->ev, &j->sent);
    if (!rc)
        rc = weft_ce_set(&j->sent, "knativeerrordest",
                         t->target.url ? t->target.url : t->target.name, WEFT_CE_STRING);
    if (!rc)
        rc = weft_ce_set(&j->sent, "knativeerrorcode", code, WEFT_CE_STRING);
    if (!rc && body_len) {
        /* At most WEFT_EVENTS_ERRORDATA_MAX characters of base64: 3 bytes each 4. */
        size_t keep = body_len < WEFT_EVENTS_ERRORDATA_MAX / 4 * 3
                          ? body_len
                          : WEFT_EVENTS_ERRORDATA_MAX / 4 * 3;
        if (!(data = malloc(BASE64_ENCODE_RAW_LENGTH(keep) + 1))) {
            rc = WEFT_ENOMEM;
        } else {
            base64_encode_raw(data, keep, body);
            data[BASE64_ENCODE_RAW_LENGTH(keep)] = 0;
            rc = weft_ce_set(&j->sent, "knativeerrordata", data, WEFT_CE_BINARY);
        }
        free(data);
    }
    if (rc) {
        give_up(j, "out of memory making its dead letter");
        finish(t, j->seq);
        job_free(j);
        return;
    }
    weft_log("%s: event id '%s' to the dead-letter target '%s': %s", t->tag,
             weft_ce_get(&j->ev, "id"), t->dead_letter.name, why);
    j->to_dead_letter = true;
    send_job(j);
}

typedef struct reply {
    job_t *job;
    weft_buf_t bytes, key;
    weft_journal_entry_t record;
} reply_t;

static void reply_free(reply_t *r) {
    weft_buf_free(&r->bytes);
    weft_buf_free(&r->key);
    free(r);
}

static void on_reply_stored(void *arg, int rc, const weft_journal_ack_t *acks, size_t n,
                            const char *why) {
    reply_t *r = arg;
    job_t *j = r->job;
    if (rc)
        give_up(j, why && *why ? why : "its reply could not be stored");
    finish(j->t, j->seq);
    job_free(j);
    reply_free(r);
}

/* A 2xx from the target carried reply: give it an id if it has none, count the hop,
 * and append it to the broker; the event is finished once the reply is stored. */
static void take_reply(job_t *j, weft_ce_t *reply) {
    trigger_t *t = j->t;
    char id[37];
    int rc = 0;
    if (!weft_ce_get(reply, "id")) {
        weft_uuid4(id);
        rc = weft_ce_set(reply, "id", id, WEFT_CE_STRING);
    }
    long ttl = event_ttl(&j->ev) - 1;
    if (!rc)
        rc = set_ttl(reply, ttl < 0 ? 0 : ttl);
    if (!rc && ttl <= 0) {
        /* A reply loop: the reply is not delivered. */
        if (t->has_dead_letter) {
            weft_ce_clear(&j->ev);
            j->ev = *reply;
            *reply = (weft_ce_t){0};
            fail_job(j, "reply dropped: its knativebrokerttl reached 0 (a reply loop?)", 0, NULL,
                     0);
        } else {
            weft_log("%s: reply '%s' to event id '%s' dropped: its knativebrokerttl reached 0 "
                     "(a reply loop?)",
                     t->tag, weft_ce_get(reply, "id"), weft_ce_get(&j->ev, "id"));
            finish(t, j->seq);
            job_free(j);
        }
        return;
    }
    reply_t *r = calloc(1, sizeof *r);
    if (rc || !r || make_record(reply, &r->bytes, &r->key)) {
        if (r) {
            weft_buf_free(&r->bytes);
            weft_buf_free(&r->key);
        }
        free(r);
        give_up(j, "out of memory storing its reply");
        finish(t, j->seq);
        job_free(j);
        return;
    }
    r->job = j;
    r->record = (weft_journal_entry_t){
        .data = r->bytes.data, .len = r->bytes.len, .key = r->key.data, .key_len = r->key.len};
    weft_error_t err = {0};
    if (weft_journal_append_async(t->broker->stream, &r->record, 1, on_reply_stored, r, &err)) {
        char why[WEFT_ERROR_MAX + 32];
        snprintf(why, sizeof why, "its reply could not be stored: %s", err.msg);
        give_up(j, why);
        finish(t, j->seq);
        job_free(j);
        reply_free(r);
    }
}

/* The delivery engine is done with one job. */
static void on_delivered(void *arg, const weft_delivery_outcome_t *out) {
    job_t *j = arg;
    trigger_t *t = j->t;
    if (out->result == WEFT_DELIVERY_CANCELED) {
        abandon(t, j->seq);
        job_free(j);
        return;
    }
    if (out->attempts > 1)
        count(&t->stats->retried, out->attempts - 1);
    char why[WEFT_ERROR_MAX + 128];
    if (out->result == WEFT_DELIVERY_FAILED)
        snprintf(why, sizeof why, "%s: %s after %u attempt%s", out->dest,
                 out->error ? out->error : "no answer", out->attempts,
                 out->attempts == 1 ? "" : "s");
    if (j->to_dead_letter) {
        if (out->result != WEFT_DELIVERY_DELIVERED) {
            char also[sizeof why + 64];
            snprintf(also, sizeof also, "its dead-letter target failed too (%s)", why);
            give_up(j, also);
        } else {
            count(&t->stats->dead_lettered, 1);
        }
        finish(t, j->seq);
        job_free(j);
        return;
    }
    if (out->result != WEFT_DELIVERY_DELIVERED) {
        fail_job(j, why, out->status, out->body, out->body_len);
        return;
    }
    count(&t->stats->delivered, 1);
    if (t->stats->latency)
        weft_metric_observe_ns(t->stats->latency, weft_now_ns() - j->read_ns);
    /* A 2xx: a reply when the answer carries an event (a 202 never does). */
    weft_ce_header_t *h = out->status == 202 ? NULL : borrow_headers(out->headers, out->nheaders);
    if (h && weft_ce_http_has_event(h, out->nheaders)) {
        weft_ce_t *replies = NULL;
        size_t n = 0;
        weft_error_t err = {0};
        int rc = weft_ce_decode_http(h, out->nheaders, out->body, out->body_len,
                                     t->broker->def->max_event_size, WEFT_CE_ALLOW_NO_ID, &replies,
                                     &n, &err);
        free(h);
        if (rc || n != 1) {
            char why[WEFT_ERROR_MAX + 64];
            snprintf(why, sizeof why, "its reply is not a valid event: %s",
                     rc ? err.msg : "a batch is not a reply");
            weft_ce_free_array(replies, n);
            fail_job(j, why, out->status, out->body, out->body_len);
            return;
        }
        take_reply(j, &replies[0]);
        weft_ce_free_array(replies, n);
        return;
    }
    free(h);
    finish(t, j->seq);
    job_free(j);
}

/* ---- A trigger's thread ------------------------------------------------------------ */

/* One record read from the log: filtered, then delivered or finished (trigger.h). */
void weft_trigger_dispatch(trigger_t *t, uint64_t seq, const uint8_t *data, size_t len,
                           uint32_t deliveries) {
    job_t *j = calloc(1, sizeof *j);
    weft_error_t err = {0};
    if (!j) {
        weft_log("%s: out of memory at event #%" PRIu64 "; it is delivered after a restart", t->tag,
                 seq);
        abandon(t, seq);
        return;
    }
    j->t = t;
    j->seq = seq;
    j->read_ns = weft_now_ns();
    if (weft_ce_deserialize(data, len, &j->ev, &err)) {
        weft_log("%s: record #%" PRIu64 " of the log is not an event (%s): skipped", t->tag, seq,
                 err.msg);
        finish(t, seq);
        job_free(j);
        return;
    }
    if (!weft_filter_match(t->filter, &j->ev, t->tag)) {
        count(&t->stats->filtered_out, 1);
        finish(t, seq);
        job_free(j);
        return;
    }
    if (event_ttl(&j->ev) <= 0) {
        fail_job(j, "not delivered: its knativebrokerttl is 0", 0, NULL, 0);
        return;
    }
    uint32_t max = t->broker->def->max_deliveries;
    if (max && deliveries > max) {
        /* Taken over from node after node: its delivery may be what stops them. */
        char why[192];
        snprintf(why, sizeof why,
                 "not delivered: handed to a node %" PRIu32 " times without being finished "
                 "(max_deliveries is %" PRIu32 ")",
                 deliveries, max);
        fail_job(j, why, 0, NULL, 0);
        return;
    }
    if (weft_ce_copy(&j->ev, &j->sent)) {
        give_up(j, "out of memory");
        finish(t, seq);
        job_free(j);
        return;
    }
    send_job(j);
}

/* Moves the position over finished events; with the lock. */
static void advance(trigger_t *t) {
    while (t->pos + 1 < t->next && t->done[(t->pos + 1) % WEFT_TRIGGER_WINDOW]) {
        t->done[(t->pos + 1) % WEFT_TRIGGER_WINDOW] = 0;
        t->pos++;
    }
}

/* Writes the position when it moved, at most every WEFT_TRIGGER_SAVE_NS unless force;
 * with the lock, which it drops while writing. */
static void save_position(trigger_t *t, bool force) {
    if (t->shared)
        return; /* its group keeps its position */
    uint64_t now = weft_now_ns();
    if (t->pos == t->saved || (!force && now - t->saved_at < WEFT_TRIGGER_SAVE_NS))
        return;
    uint64_t pos = t->pos;
    pthread_mutex_unlock(&t->lock);
    weft_error_t err = {0};
    int rc = weft_journal_position_set(t->broker->stream, t->def->name, pos, &err);
    pthread_mutex_lock(&t->lock);
    if (rc) {
        weft_log("%s: position not saved: %s", t->tag, err.msg);
        t->saved_at = now; /* tried: again at the next interval */
        return;
    }
    t->saved = pos;
    t->saved_at = now;
}

/* Waits on the trigger's condition (a delivery finished, or stop) for up to ms; with the
 * lock. */
void weft_trigger_wait_ms(trigger_t *t, long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&t->cond, &t->lock, &ts);
}

/* The same, at most until the next save is due. */
void weft_trigger_wait(trigger_t *t) {
    weft_trigger_wait_ms(t, (long)(WEFT_TRIGGER_SAVE_NS / 1000000));
}

static void *trigger_main(void *arg) {
    trigger_t *t = arg;
    weft_crash_thread("trigger");
    weft_journal_page_t page = {0};
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        advance(t);
        save_position(t, false);
        size_t par = t->def->delivery.parallelism ? t->def->delivery.parallelism : 1;
        size_t room = t->in_flight < par ? par - t->in_flight : 0;
        size_t window = WEFT_TRIGGER_WINDOW - (size_t)(t->next - t->pos - 1);
        if (window < room)
            room = window;
        if (room > WEFT_TRIGGER_PAGE)
            room = WEFT_TRIGGER_PAGE;
        if (room == 0) {
            weft_trigger_wait(t); /* full: wait for a delivery to finish */
            continue;
        }
        uint64_t after = t->next - 1;
        pthread_mutex_unlock(&t->lock);
        weft_error_t err = {0};
        weft_journal_page_free(&page);
        int rc = weft_journal_read(t->broker->stream, after, room, 0, &page, &err);
        if (rc)
            weft_log("%s: reading the log: %s", t->tag, err.msg);
        size_t taken = 0;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; !rc && i < page.n && !t->stopping; i++) {
            uint64_t seq = page.records[i].seq;
            if (seq >= t->next && t->pos + 1 == t->next) {
                /* Nothing under way: a gap (events deleted by retention) is skipped. */
                t->pos = seq - 1;
            } else if (seq != t->next) {
                break; /* read again once the deliveries under way are finished */
            }
            t->next = seq + 1;
            t->in_flight++;
            taken++;
            pthread_mutex_unlock(&t->lock);
            weft_trigger_dispatch(t, seq, page.records[i].data, page.records[i].len, 0);
            pthread_mutex_lock(&t->lock);
        }
        if (taken == 0 && !t->stopping) {
            if (!rc && page.n) {
                /* Held back by deliveries under way: wait for one to finish. */
                weft_trigger_wait(t);
            } else {
                /* Nothing new (or a failed read, tried again): wait for the log to say
                 * it has more, or for the next save. */
                pthread_mutex_unlock(&t->lock);
                weft_journal_wait(t->broker->stream, after, (int)(WEFT_TRIGGER_SAVE_NS / 1000000));
                pthread_mutex_lock(&t->lock);
            }
        }
    }
    /* Stopping: what is under way is abandoned by the delivery engine's shutdown. */
    advance(t);
    save_position(t, true);
    pthread_mutex_unlock(&t->lock);
    weft_journal_page_free(&page);
    return NULL;
}

/* ---- Retention ----------------------------------------------------------------------- */

/* One broker to trim: what the janitor copies out of the running conf. */
typedef struct trim {
    weft_journal_stream_t *stream;
    uint64_t retention_ns;
    char name[WEFT_APP_MAX_NAME + 1];
} trim_t;

/* Deletes the events of each broker of the running conf that are older than its
 * retention and that every trigger has finished: every WEFT_EVENTS_TRIM_NS, or every half
 * of the shortest retention when that is shorter (a retention of seconds is honoured in
 * seconds). */
static void *janitor_main(void *arg) {
    weft_events_t *ev = arg;
    weft_crash_thread("broker retention");
    trim_t *trims = NULL;
    pthread_mutex_lock(&ev->lock);
    while (!ev->stopping) {
        conf_t *c = ev->running;
        size_t n = 0;
        uint64_t period = WEFT_EVENTS_TRIM_NS;
        trim_t *more = realloc(trims, (c->nbrokers ? c->nbrokers : 1) * sizeof *trims);
        if (more) {
            trims = more;
            for (; n < c->nbrokers; n++) {
                const weft_app_broker_t *def = c->brokers[n].def;
                trims[n].stream = c->brokers[n].stream;
                trims[n].retention_ns = def->retention_ns;
                snprintf(trims[n].name, sizeof trims[n].name, "%s", def->name);
                if (def->retention_ns / 2 < period)
                    period = def->retention_ns / 2;
            }
        }
        if (period < WEFT_EVENTS_TRIM_MIN_NS)
            period = WEFT_EVENTS_TRIM_MIN_NS;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t at = (uint64_t)ts.tv_nsec + period % 1000000000ull;
        ts.tv_sec += (time_t)(period / 1000000000ull + at / 1000000000ull);
        ts.tv_nsec = (long)(at % 1000000000ull);
        pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
        if (ev->stopping)
            break;
        pthread_mutex_unlock(&ev->lock);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        for (size_t i = 0; i < n; i++) {
            weft_error_t err = {0};
            int64_t before = now_ms - (int64_t)(trims[i].retention_ns / 1000000);
            if (weft_journal_trim(trims[i].stream, before, NULL, &err))
                weft_log("broker %s: deleting old events: %s", trims[i].name, err.msg);
        }
        pthread_mutex_lock(&ev->lock);
    }
    pthread_mutex_unlock(&ev->lock);
    free(trims);
    return NULL;
}

/* ---- Building a configuration ---------------------------------------------------------- */

/* A trigger's target or dead letter (a [[target]] or a [[function]]), resolved for
 * delivery. */
static int resolve_dest(conf_t *c, const weft_app_ref_t *ref, dest_t *out, weft_error_t *err) {
    const weft_app_t *app = c->cfg.app;
    const weft_app_function_t *fn = NULL;
    *out = (dest_t){0};
    if (ref->kind == WEFT_APP_REF_TARGET) {
        const weft_app_target_t *tg = &app->targets[ref->index];
        out->name = tg->name;
        out->structured = tg->mode == WEFT_APP_MODE_STRUCTURED;
        if (tg->url) {
            out->url = tg->url;
            return 0;
        }
        fn = &app->functions[tg->function];
    } else {
        fn = &app->functions[ref->index];
        out->name = fn->name;
    }
    out->fn = c->cfg.function ? c->cfg.function(c->cfg.function_arg, fn->name) : NULL;
    if (!out->fn)
        return weft_error_set(err, WEFT_ECONFIG, "%s:%d: function '%s' is not loaded", app->path,
                              ref->line, fn->name);
    return 0;
}

/* The delivery engine's destination for d, with the trigger's policy. */
static int make_dest(conf_t *c, dest_t *d, const weft_delivery_policy_t *policy,
                     weft_error_t *err) {
    if (d->url)
        return weft_delivery_dest_url(c->delivery, d->url, policy, &d->dd, err);
    weft_delivery_function_t f = {.fn = d->fn, .name = d->name};
    return weft_delivery_dest_function(c->delivery, &f, policy, &d->dd, err);
}

/* Everything of a trigger but its position, which it gets when it starts. */
static int trigger_init(conf_t *c, trigger_t *t, const weft_app_trigger_t *def, weft_error_t *err) {
    weft_events_t *ev = c->ev;
    const weft_app_t *app = c->cfg.app;
    t->conf = c;
    t->def = def;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->broker = &c->brokers[def->broker];
    t->shared = weft_journal_shared(t->broker->stream);
    t->node = ev->node;
    snprintf(t->tag, sizeof t->tag, "broker %s, trigger %s", t->broker->def->name, def->name);
    pthread_mutex_lock(&ev->lock);
    t->stats = trigger_stats(ev, t->broker->def->name, def->name);
    pthread_mutex_unlock(&ev->lock);
    if (!t->stats)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    int rc = weft_filter_compile(app, def->filters, def->nfilters, &t->filter, err);
    if (!rc)
        rc = resolve_dest(c, &def->target, &t->target, err);
    if (!rc && def->delivery.dead_letter.kind != WEFT_APP_REF_NONE) {
        t->has_dead_letter = true;
        rc = resolve_dest(c, &def->delivery.dead_letter, &t->dead_letter, err);
    }
    if (rc)
        return rc;
    const weft_app_delivery_t *d = &def->delivery;
    weft_delivery_policy_t policy = {
        .retry = d->retry,
        .backoff_policy = d->backoff_policy == WEFT_APP_BACKOFF_LINEAR ? WEFT_BACKOFF_LINEAR
                                                                       : WEFT_BACKOFF_EXPONENTIAL,
        .backoff_delay_ns = d->backoff_delay_ns,
        .timeout_ns = d->timeout_ns,
        .retry_after_max_ns = d->retry_after_max_ns,
        .parallelism = d->parallelism,
    };
    if ((rc = make_dest(c, &t->target, &policy, err)) ||
        (t->has_dead_letter && (rc = make_dest(c, &t->dead_letter, &policy, err))))
        return rc;
    return 0;
}

/* Frees a conf none of whose triggers runs (never started, or joined), stopping its
 * delivery engine if it still runs, and tells its owner (release). */
static void conf_free(conf_t *c) {
    if (!c)
        return;
    if (c->delivery)
        weft_delivery_stop(c->delivery);
    for (size_t i = 0; i < c->ntriggers; i++) {
        weft_filter_free(c->triggers[i].filter);
        free(c->triggers[i].held);
        free(c->triggers[i].acks);
        pthread_mutex_destroy(&c->triggers[i].lock);
        pthread_cond_destroy(&c->triggers[i].cond);
    }
    free(c->triggers);
    free(c->brokers);
    void (*release)(void *) = c->cfg.release;
    void *arg = c->cfg.release_arg;
    free(c);
    if (release)
        release(arg);
}

/* The log, opened by the first configuration with brokers in its state folder, which is
 * the log's from then on. */
static int open_journal(weft_events_t *ev, const weft_app_t *app, weft_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&ev->lock);
    if (ev->journal) {
        if (strcmp(ev->state_dir, app->state_dir))
            rc = weft_error_set(err, WEFT_ECONFIG,
                                "%s: state_dir %s is not the one weft runs with (%s): the "
                                "brokers' log cannot move while weft runs (restart weft)",
                                app->path, app->state_dir, ev->state_dir);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/events.db", app->state_dir);
        if (!(ev->state_dir = strdup(app->state_dir)))
            rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        else if ((rc = weft_journal_open(path, NULL, &ev->journal, err))) {
            free(ev->state_dir);
            ev->state_dir = NULL;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    return rc;
}

/* The shared journal at a broker's backend, opened on first use (and kept until
 * weft_events_free). */
static int open_remote(weft_events_t *ev, const weft_app_broker_t *def, weft_journal_t **out,
                       weft_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&ev->lock);
    remote_t *r = ev->remotes;
    while (r && strcmp(r->location, def->backend))
        r = r->next;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)) || !(r->location = strdup(def->backend))) {
            free(r);
            r = NULL;
            rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        } else if ((rc = weft_journal_open(def->backend, NULL, &r->journal, err))) {
            weft_error_prefix(err, "broker %s", def->name);
            free(r->location);
            free(r);
            r = NULL;
        } else {
            r->next = ev->remotes;
            ev->remotes = r;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    *out = r ? r->journal : NULL;
    return rc;
}

/* Builds a conf of cfg: brokers' streams (created in the log), counts, the delivery
 * engine, triggers with their filters and destinations; nothing runs yet. On error the
 * conf is freed (and cfg released). */
static int conf_build(weft_events_t *ev, const weft_events_config_t *cfg, conf_t **out,
                      weft_error_t *err) {
    const weft_app_t *app = cfg->app;
    *out = NULL;
    conf_t *c = calloc(1, sizeof(struct weft_events_conf));
    if (!c) {
        if (cfg->release)
            cfg->release(cfg->release_arg);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    c->ev = ev;
    c->cfg = *cfg;
    int rc = 0;
    if (!(c->brokers = calloc(app->nbrokers ? app->nbrokers : 1, sizeof *c->brokers)) ||
        !(c->triggers = calloc(app->ntriggers ? app->ntriggers : 1, sizeof *c->triggers))) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    bool embedded = false;
    for (size_t i = 0; i < app->nbrokers; i++)
        embedded = embedded || !app->brokers[i].backend;
    if (embedded && (rc = open_journal(ev, app, err)))
        goto fail;
    for (size_t i = 0; i < app->nbrokers; i++) {
        broker_t *b = &c->brokers[c->nbrokers++];
        b->conf = c;
        b->def = &app->brokers[i];
        weft_journal_t *journal = ev->journal;
        if (b->def->backend && (rc = open_remote(ev, b->def, &journal, err)))
            goto fail;
        if ((rc = weft_journal_stream(journal, b->def->name, &b->stream, err)))
            goto fail;
        pthread_mutex_lock(&ev->lock);
        b->stats = broker_stats(ev, b->def->name);
        pthread_mutex_unlock(&ev->lock);
        if (!b->stats) {
            rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = weft_delivery_start(NULL, &c->delivery, err)))
        goto fail;
    for (size_t i = 0; i < app->ntriggers; i++) {
        trigger_t *t = &c->triggers[c->ntriggers++];
        if ((rc = trigger_init(c, t, &app->triggers[i], err)))
            goto fail;
    }
    *out = c;
    return 0;
fail:
    conf_free(c);
    return rc;
}

/* ---- Running triggers and handing them over ---------------------------------------------- */

/* Starts t from pos (have_pos), else from its saved position, else from its `from`;
 * with ev->lock. */
static int trigger_start(trigger_t *t, bool have_pos, uint64_t pos, weft_error_t *err) {
    const weft_app_trigger_t *def = t->def;
    weft_journal_stream_t *stream = t->broker->stream;
    if (t->shared) {
        /* Its group's position is the group's, whoever ran it before. */
        int rc =
            weft_journal_group_join(stream, def->name, def->from == WEFT_APP_FROM_EARLIEST, err);
        if (rc)
            return rc;
        if (pthread_create(&t->thread, NULL, weft_trigger_shared_main, t))
            return weft_error_set(err, WEFT_ENOMEM, "%s: no thread to run it", t->tag);
        t->started = true;
        t->state = TRIGGER_RUNNING;
        return 0;
    }
    bool found = have_pos || weft_journal_position_get(stream, def->name, &pos) == 0;
    if (!found)
        pos = def->from == WEFT_APP_FROM_EARLIEST ? 0 : weft_journal_latest(stream);
    int rc = !found || have_pos ? weft_journal_position_set(stream, def->name, pos, err) : 0;
    if (rc)
        return rc;
    pthread_mutex_lock(&t->lock);
    t->pos = t->saved = pos;
    t->next = pos + 1;
    t->saved_at = weft_now_ns();
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&t->thread, NULL, trigger_main, t))
        return weft_error_set(err, WEFT_ENOMEM, "%s: no thread to run it", t->tag);
    t->started = true;
    t->state = TRIGGER_RUNNING;
    return 0;
}

static bool same_trigger(const trigger_t *a, const trigger_t *b) {
    return !strcmp(a->def->name, b->def->name) &&
           !strcmp(a->broker->def->name, b->broker->def->name);
}

/* Is a trigger like t still reading or delivering, in a retired conf? With ev->lock. */
static bool predecessor_live(weft_events_t *ev, const trigger_t *t) {
    for (conf_t *c = ev->retiring; c; c = c->next)
        for (size_t i = 0; i < c->ntriggers; i++)
            if (c->triggers[i].state == TRIGGER_DRAINING && same_trigger(&c->triggers[i], t))
                return true;
    return false;
}

/* Starts the triggers of the running conf that wait and have no predecessor draining;
 * with ev->lock. */
static void start_waiting(weft_events_t *ev) {
    conf_t *c = ev->running;
    for (size_t i = 0; i < c->ntriggers; i++) {
        trigger_t *t = &c->triggers[i];
        weft_error_t err = {0};
        if (t->state == TRIGGER_WAITING && !predecessor_live(ev, t) &&
            trigger_start(t, false, 0, &err))
            weft_log("%s: not started: %s", t->tag, err.msg);
    }
}

/* Tells t to stop reading; with ev->lock. */
static void trigger_stop_reading(trigger_t *t) {
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    weft_journal_wake(t->broker->stream);
}

/* t (DRAINING) has nothing under way: its position saved, its successor started from
 * there, or its position forgotten when the running conf has no such trigger. With
 * ev->lock. */
static void hand_over(weft_events_t *ev, trigger_t *t) {
    if (t->started)
        pthread_join(t->thread, NULL);
    t->started = false;
    pthread_mutex_lock(&t->lock);
    advance(t);
    save_position(t, true);
    weft_trigger_shared_ack(t); /* what finished after its thread's last turn */
    uint64_t pos = t->pos;
    pthread_mutex_unlock(&t->lock);
    t->state = TRIGGER_DONE;
    conf_t *c = ev->running;
    trigger_t *succ = NULL;
    for (size_t i = 0; i < c->ntriggers && !succ; i++)
        if (same_trigger(&c->triggers[i], t))
            succ = &c->triggers[i];
    weft_error_t err = {0};
    if (!succ) {
        if (weft_journal_position_delete(t->broker->stream, t->def->name, &err))
            weft_log("%s: removed, but its position stays: %s", t->tag, err.msg);
    } else if (succ->state == TRIGGER_WAITING && trigger_start(succ, true, pos, &err)) {
        weft_log("%s: not started: %s", succ->tag, err.msg);
    }
}

/* One pass of the reloader over the retired confs; with ev->lock, which it drops to stop
 * an engine or free a conf. Returns whether retired confs remain. */
static bool reload_pass(weft_events_t *ev) {
    conf_t **p = &ev->retiring;
    while (*p && !ev->stopping) {
        conf_t *c = *p;
        bool done = true;
        for (size_t i = 0; i < c->ntriggers; i++) {
            trigger_t *t = &c->triggers[i];
            if (t->state != TRIGGER_DRAINING)
                continue;
            pthread_mutex_lock(&t->lock);
            size_t in_flight = t->in_flight;
            pthread_mutex_unlock(&t->lock);
            if (in_flight == 0)
                hand_over(ev, t);
            else
                done = false;
        }
        if (!done && c->delivery && weft_now_ns() - c->retired_at >= conf_grace(c)) {
            /* The grace is over: what is under way is canceled, unacknowledged, for the
             * successors to deliver again. Its callbacks take only triggers' locks. */
            weft_delivery_t *d = c->delivery;
            c->delivery = NULL;
            pthread_mutex_unlock(&ev->lock);
            weft_delivery_stop(d);
            pthread_mutex_lock(&ev->lock);
            return true; /* the list may have changed: start again */
        }
        if (!done) {
            p = &c->next;
            continue;
        }
        *p = c->next;
        pthread_mutex_unlock(&ev->lock);
        conf_free(c);
        pthread_mutex_lock(&ev->lock);
        return true;
    }
    return ev->retiring != NULL;
}

/* The reloader: hands retired confs' triggers over as their deliveries finish. */
static void *reloader_main(void *arg) {
    weft_events_t *ev = arg;
    weft_crash_thread("events reload");
    pthread_mutex_lock(&ev->lock);
    while (!ev->stopping) {
        bool pending = reload_pass(ev);
        if (ev->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* Finishing deliveries are polled: a hand-over is rare, a delivery's callback
         * is not, and it should not have to signal anyone. */
        ts.tv_nsec += pending ? WEFT_EVENTS_RELOAD_POLL_NS : 0;
        ts.tv_sec += pending ? 0 : 3600;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

/* ---- Life cycle -------------------------------------------------------------------- */

/* Forgets the positions in the log of triggers that c's brokers no longer have (removed
 * from the manifest while weft was not running; a reload forgets its removals itself),
 * so that they no longer hold the brokers' events back from retention. */
static void forget_removed(conf_t *c) {
    for (size_t b = 0; b < c->nbrokers; b++) {
        broker_t *br = &c->brokers[b];
        weft_store_names_t names;
        weft_error_t err = {0};
        if (weft_journal_consumers(br->stream, &names, &err)) {
            weft_log("broker %s: %s", br->def->name, err.msg);
            continue;
        }
        for (size_t i = 0; i < names.n; i++) {
            bool kept = false;
            for (size_t t = 0; t < c->ntriggers && !kept; t++)
                kept = c->triggers[t].broker == br &&
                       !strcmp(c->triggers[t].def->name, names.names[i]);
            if (kept)
                continue;
            if (weft_journal_position_delete(br->stream, names.names[i], &err))
                weft_log("broker %s: forgetting trigger %s: %s", br->def->name, names.names[i],
                         err.msg);
            else
                weft_log("broker %s: trigger %s is no longer in the manifest: its position is "
                         "forgotten",
                         br->def->name, names.names[i]);
        }
        weft_store_names_free(&names);
    }
}

int weft_events_create(const weft_events_config_t *cfg, weft_events_t **out, weft_error_t *err) {
    *out = NULL;
    weft_events_t *ev = calloc(1, sizeof *ev);
    if (!ev) {
        if (cfg->release)
            cfg->release(cfg->release_arg);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ev->running_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (cfg->node) {
        snprintf(ev->node, sizeof ev->node, "%s", cfg->node);
    } else {
        char host[64] = "weft";
        gethostname(host, sizeof host - 1);
        snprintf(ev->node, sizeof ev->node, "%s:%ld", host, (long)getpid());
    }
    int rc = conf_build(ev, cfg, &ev->running, err);
    if (rc) {
        weft_events_free(ev);
        return rc;
    }
    forget_removed(ev->running);
    *out = ev;
    return 0;
}

int weft_events_prepare(weft_events_t *ev, const weft_events_config_t *cfg,
                        weft_events_conf_t **out, weft_error_t *err) {
    conf_t *c = NULL;
    *out = NULL;
    int rc = conf_build(ev, cfg, &c, err);
    if (!rc)
        *out = (weft_events_conf_t *)c;
    return rc;
}

void weft_events_discard(weft_events_conf_t *conf) {
    conf_free(conf ? &conf->c : NULL);
}

void weft_events_commit(weft_events_t *ev, weft_events_conf_t *conf) {
    conf_t *c = &conf->c, *old;
    pthread_mutex_lock(&ev->lock);
    if (ev->stopping) {
        pthread_mutex_unlock(&ev->lock);
        conf_free(c);
        return;
    }
    pthread_rwlock_wrlock(&ev->running_lock);
    old = ev->running;
    ev->running = c;
    pthread_rwlock_unlock(&ev->running_lock);
    if (!ev->started) {
        /* Nothing of old ran: it goes at once. */
        pthread_mutex_unlock(&ev->lock);
        conf_free(old);
        return;
    }
    old->retired_at = weft_now_ns();
    for (size_t i = 0; i < old->ntriggers; i++) {
        trigger_t *t = &old->triggers[i];
        if (t->state == TRIGGER_RUNNING) {
            trigger_stop_reading(t);
            t->state = TRIGGER_DRAINING;
        } else {
            t->state = TRIGGER_DONE; /* never started: its predecessor hands over to c */
        }
    }
    conf_t **p = &ev->retiring;
    while (*p)
        p = &(*p)->next;
    *p = old;
    start_waiting(ev);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

int weft_events_start(weft_events_t *ev, weft_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&ev->lock);
    conf_t *c = ev->running;
    for (size_t i = 0; !rc && i < c->ntriggers; i++)
        rc = trigger_start(&c->triggers[i], false, 0, err);
    ev->started = true;
    if (!rc) {
        if (pthread_create(&ev->janitor, NULL, janitor_main, ev))
            rc = weft_error_set(err, WEFT_ENOMEM, "no thread to delete old events");
        else
            ev->janitor_started = true;
    }
    if (!rc) {
        if (pthread_create(&ev->reloader, NULL, reloader_main, ev))
            rc = weft_error_set(err, WEFT_ENOMEM, "no thread to reload the configuration");
        else
            ev->reloader_started = true;
    }
    pthread_mutex_unlock(&ev->lock);
    return rc;
}

/* Stops what runs of c: its triggers' threads, then its engine (abandoning what is under
 * way), then saves the positions of those that ran. Without ev->lock; the reloader is
 * gone. */
static void conf_stop(conf_t *c) {
    for (size_t i = 0; i < c->ntriggers; i++)
        if (c->triggers[i].started)
            trigger_stop_reading(&c->triggers[i]);
    for (size_t i = 0; i < c->ntriggers; i++) {
        trigger_t *t = &c->triggers[i];
        if (t->started)
            pthread_join(t->thread, NULL);
        t->started = false;
    }
    if (c->delivery)
        weft_delivery_stop(c->delivery);
    c->delivery = NULL;
    for (size_t i = 0; i < c->ntriggers; i++) {
        trigger_t *t = &c->triggers[i];
        if (t->state != TRIGGER_RUNNING && t->state != TRIGGER_DRAINING)
            continue;
        pthread_mutex_lock(&t->lock);
        advance(t);
        save_position(t, true);
        weft_trigger_shared_ack(t); /* what finished after its thread's last turn */
        pthread_mutex_unlock(&t->lock);
        t->state = TRIGGER_DONE;
    }
}

void weft_events_stop(weft_events_t *ev) {
    if (!ev)
        return;
    pthread_mutex_lock(&ev->lock);
    bool again = ev->stopped;
    ev->stopping = ev->stopped = true;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    if (again)
        return;
    if (ev->reloader_started)
        pthread_join(ev->reloader, NULL);
    ev->reloader_started = false;
    if (ev->janitor_started)
        pthread_join(ev->janitor, NULL);
    ev->janitor_started = false;
    /* Nothing else changes the confs now. Deliveries under way are abandoned (their
     * events stay unfinished); the replies and ingests being written finish first. */
    for (conf_t *c = ev->retiring; c; c = c->next)
        conf_stop(c);
    if (ev->running)
        conf_stop(ev->running);
    weft_error_t err = {0};
    if (ev->journal && weft_journal_flush(ev->journal, &err))
        weft_log("events: the last writes failed: %s", err.msg);
    for (remote_t *r = ev->remotes; r; r = r->next)
        if (weft_journal_flush(r->journal, &err))
            weft_log("events: the last writes failed: %s", err.msg);
}

void weft_events_free(weft_events_t *ev) {
    if (!ev)
        return;
    weft_events_stop(ev);
    while (ev->retiring) {
        conf_t *next = ev->retiring->next;
        conf_free(ev->retiring);
        ev->retiring = next;
    }
    conf_free(ev->running);
    weft_journal_close(ev->journal);
    while (ev->remotes) {
        remote_t *next = ev->remotes->next;
        weft_journal_close(ev->remotes->journal);
        free(ev->remotes->location);
        free(ev->remotes);
        ev->remotes = next;
    }
    free(ev->state_dir);
    while (ev->broker_stats) {
        broker_stats_t *next = ev->broker_stats->next;
        free(ev->broker_stats);
        ev->broker_stats = next;
    }
    while (ev->trigger_stats) {
        trigger_stats_t *next = ev->trigger_stats->next;
        free(ev->trigger_stats);
        ev->trigger_stats = next;
    }
    pthread_rwlock_destroy(&ev->running_lock);
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->cond);
    free(ev);
}

/* ---- Describe ------------------------------------------------------------------------ */

static json_t *json_u64(uint64_t n) {
    return json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n);
}

static json_t *json_counter(atomic_uint_fast64_t *c) {
    return json_u64(atomic_load_explicit(c, memory_order_relaxed));
}

/* What a trigger's target or dead letter names: a [[target]]'s name or a [[function]]'s;
 * JSON null for none. */
static json_t *ref_json(const weft_app_t *app, const weft_app_ref_t *ref) {
    switch (ref->kind) {
    case WEFT_APP_REF_TARGET:
        return json_string(app->targets[ref->index].name);
    case WEFT_APP_REF_FUNCTION:
        return json_string(app->functions[ref->index].name);
    default:
        return json_null();
    }
}

static json_t *describe_broker(broker_t *b) {
    uint64_t first = 0, last = 0;
    weft_error_t err = {0};
    if (weft_journal_bounds(b->stream, &first, &last, &err))
        weft_log("broker %s: describe: %s", b->def->name, err.msg);
    uint64_t latest = weft_journal_latest(b->stream);
    return json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", b->def->name, "stored",
                     json_u64(first ? last - first + 1 : 0), "latest", json_u64(latest), "ingested",
                     json_counter(&b->stats->ingested), "rejected",
                     json_counter(&b->stats->rejected));
}

/* A trigger's position: where it is when it runs, else the one saved (its predecessor's
 * while it waits). With ev->lock. */
static uint64_t trigger_position(trigger_t *t) {
    uint64_t pos = 0;
    if (t->state == TRIGGER_RUNNING || t->state == TRIGGER_DRAINING) {
        pthread_mutex_lock(&t->lock);
        advance(t); /* over what finished while its thread waits for the log */
        pos = t->pos;
        pthread_mutex_unlock(&t->lock);
    } else if (weft_journal_position_get(t->broker->stream, t->def->name, &pos)) {
        pos = 0;
    }
    return pos;
}

static json_t *describe_trigger(const weft_app_t *app, trigger_t *t) {
    const weft_app_trigger_t *def = t->def;
    json_t *filter = json_null();
    if (def->nfilters) {
        weft_buf_t text = {0};
        if (weft_filter_toml(def->filters, def->nfilters, &text)) {
            weft_buf_free(&text);
            return NULL;
        }
        filter = json_stringn((const char *)text.data, text.len);
        weft_buf_free(&text);
    }
    uint64_t pos = trigger_position(t), latest = weft_journal_latest(t->broker->stream);
    trigger_stats_t *st = t->stats;
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", def->name, "broker",
        t->broker->def->name, "filter", filter, "target", ref_json(app, &def->target),
        "dead_letter", ref_json(app, &def->delivery.dead_letter), "position", json_u64(pos), "lag",
        json_u64(latest > pos ? latest - pos : 0), "delivered", json_counter(&st->delivered),
        "retried", json_counter(&st->retried), "failed", json_counter(&st->failed), "dead_lettered",
        json_counter(&st->dead_lettered), "filtered_out", json_counter(&st->filtered_out));
}

static json_t *describe_target(const weft_app_t *app, const weft_app_target_t *tg) {
    if (tg->url)
        return json_pack("{s:s, s:s, s:s}", "name", tg->name, "url", tg->url, "mode",
                         tg->mode == WEFT_APP_MODE_STRUCTURED ? "structured" : "binary");
    return json_pack("{s:s, s:s}", "name", tg->name, "function", app->functions[tg->function].name);
}

/* The JSON of events.h, for brokers[0..nb) and triggers[0..nt) of app. */
static int describe(const weft_app_t *app, broker_t *brokers, size_t nb, trigger_t *triggers,
                    size_t nt, weft_buf_t *out, weft_error_t *err) {
    json_t *root = json_object(), *jb = json_array(), *jt = json_array(), *jg = json_array();
    bool ok = root && jb && jt && jg;
    for (size_t i = 0; ok && i < nb; i++)
        ok = !json_array_append_new(jb, describe_broker(&brokers[i]));
    for (size_t i = 0; ok && i < nt; i++)
        ok = !json_array_append_new(jt, describe_trigger(app, &triggers[i]));
    for (size_t i = 0; ok && app && i < app->ntargets; i++)
        ok = !json_array_append_new(jg, describe_target(app, &app->targets[i]));
    ok = ok && !json_object_set(root, "brokers", jb) && !json_object_set(root, "triggers", jt) &&
         !json_object_set(root, "targets", jg);
    char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(jb);
    json_decref(jt);
    json_decref(jg);
    json_decref(root);
    int rc = text ? weft_buf_puts(out, text) : WEFT_ENOMEM;
    free(text);
    return rc ? weft_error_set(err, WEFT_ENOMEM, "out of memory") : 0;
}

void weft_events_figures(weft_events_t *ev, weft_events_figures_fn fn, void *arg) {
    pthread_mutex_lock(&ev->lock);
    conf_t *c = ev->running;
    for (size_t i = 0; c && i < c->nbrokers; i++) {
        broker_t *b = &c->brokers[i];
        uint64_t first = 0, last = 0;
        weft_error_t err = {0};
        if (weft_journal_bounds(b->stream, &first, &last, &err))
            weft_log("broker %s: metrics: %s", b->def->name, err.msg);
        weft_events_figures_t f = {
            .broker = b->def->name,
            .stored = first ? last - first + 1 : 0,
            .ingested = atomic_load_explicit(&b->stats->ingested, memory_order_relaxed),
            .rejected = atomic_load_explicit(&b->stats->rejected, memory_order_relaxed)};
        fn(arg, &f);
    }
    for (size_t i = 0; c && i < c->ntriggers; i++) {
        trigger_t *t = &c->triggers[i];
        trigger_stats_t *st = t->stats;
        uint64_t pos = trigger_position(t), latest = weft_journal_latest(t->broker->stream);
        weft_events_figures_t f = {
            .broker = t->broker->def->name,
            .trigger = t->def->name,
            .delivered = atomic_load_explicit(&st->delivered, memory_order_relaxed),
            .retried = atomic_load_explicit(&st->retried, memory_order_relaxed),
            .failed = atomic_load_explicit(&st->failed, memory_order_relaxed),
            .dead_lettered = atomic_load_explicit(&st->dead_lettered, memory_order_relaxed),
            .filtered_out = atomic_load_explicit(&st->filtered_out, memory_order_relaxed),
            .lag = latest > pos ? latest - pos : 0};
        fn(arg, &f);
    }
    pthread_mutex_unlock(&ev->lock);
}

int weft_events_describe(weft_events_t *ev, weft_buf_t *out, weft_error_t *err) {
    pthread_mutex_lock(&ev->lock);
    conf_t *c = ev->running;
    int rc = describe(c->cfg.app, c->brokers, c->nbrokers, c->triggers, c->ntriggers, out, err);
    pthread_mutex_unlock(&ev->lock);
    return rc;
}
