/* channels: the app's Redis channels (events.h, "Channels"): Spin's Redis triggers,
 * which call a function per message, and the broker sources, which turn each message
 * into a CloudEvent ingested into a broker.
 *
 * One subscription (store.h, weft_channel_subscribe) per distinct address, to the union
 * of the channels its triggers and sources name; a message goes to every trigger and
 * every source of its address and channel, in manifest order, one after the other on the
 * subscription's thread (Spin too handles one message of an address at a time). A
 * trigger's function is called through invoke (weft_function_message); a source's event
 * is ingested as a POST to /brokers/NAME in binary mode would be (weft_events_ingest),
 * so it is validated and made durable the same way, and a refusal is logged.
 *
 * The source's event, as TriggerMesh's sources make theirs (type named after the service
 * and what happened, source naming the resource, a fresh id, the time it was read):
 *   specversion 1.0, id a random UUID, time now (RFC 3339, UTC),
 *   type        WEFT_APP_REDIS_EVENT_TYPE ("io.redis.pubsub.message") or event_type,
 *   source      the address without user information and query ("redis://HOST:PORT/DB"),
 *               or event_source,
 *   subject     the channel,
 *   datacontenttype content_type when given; data the message's bytes as they are.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store/store.h"
#include "internal.h"

/* One subscription: an address and its channels, both owned (a reload that keeps them
 * keeps the subscription while the app they came from is freed). */
typedef struct sub {
    weft_channels_t *owner;
    char *address;
    char **channels;
    size_t nchannels;
    weft_channel_sub_t *handle;
} sub_t;

/* A trigger's or a source's two counters (util.h's registry: series live for ever, so
 * a reload that keeps the labels counts on). NULL where the registry is full. */
typedef struct counters {
    weft_metric_t *ok, *failed;
} counters_t;

/* A configuration, held by each message handled under it. */
typedef struct conf {
    weft_channels_config_t cfg;
    size_t refs;          /* under the owner's mu */
    counters_t *triggers; /* by index in the app's redis_triggers: handled, failed */
    counters_t *sources;  /* by index in its sources: ingested, refused */
} conf_t;

/* Events of the sources handed to the broker and not yet durable (or refused), past
 * which a subscription waits: a flood of messages is held back in Redis's buffer for
 * the subscriber (which drops the connection past its limit) rather than in weft's
 * memory. */
#define WEFT_CHANNELS_MAX_INFLIGHT 256

struct weft_channels {
    sub_t *subs;
    size_t nsubs;
    pthread_mutex_t mu; /* guards cur, its refs and inflight */
    pthread_cond_t cond;
    conf_t *cur;
    size_t inflight;
};

/* The series of name labelled OWNER=who, channel=channel and BY=value. */
static weft_metric_t *series(const char *name, const char *help, const char *owner, const char *who,
                             const char *channel, const char *by, const char *value) {
    char labels[512] = "";
    if (!weft_metric_label(labels, sizeof labels, owner, who) ||
        !weft_metric_label(labels, sizeof labels, "channel", channel) ||
        !weft_metric_label(labels, sizeof labels, by, value))
        return NULL;
    return weft_metric_series(name, help, WEFT_METRIC_COUNTER, labels, NULL);
}

/* A trigger's or a source's two series: BY=ok and BY=failed. */
static counters_t counters_of(const char *name, const char *help, const char *owner,
                              const char *who, const char *channel, const char *by, const char *ok,
                              const char *failed) {
    return (counters_t){.ok = series(name, help, owner, who, channel, by, ok),
                        .failed = series(name, help, owner, who, channel, by, failed)};
}

#define TRIGGER_METRIC "weft_redis_trigger_messages_total"
#define TRIGGER_HELP                                                                               \
    "Messages of a Redis channel a function was called with, by outcome (handled: Spin's "         \
    "ok or err(success), or exit 0)"
#define SOURCE_METRIC "weft_redis_source_events_total"
#define SOURCE_HELP                                                                                \
    "Messages of a Redis channel made events of a broker, by result (ingested: durable; "          \
    "refused: by the broker)"

static void conf_free(conf_t *c) {
    if (c) {
        free(c->triggers);
        free(c->sources);
        free(c);
    }
}

/* A configuration for cfg, its counters listed (so that they show at 0 before the
 * first message); refs 1. NULL when memory is out. */
static conf_t *conf_new(const weft_channels_config_t *cfg) {
    const weft_app_t *app = cfg->app;
    conf_t *c = calloc(1, sizeof *c);
    if (!c || !(c->triggers = calloc(app->nredis_triggers + 1, sizeof *c->triggers)) ||
        !(c->sources = calloc(app->nsources + 1, sizeof *c->sources))) {
        conf_free(c);
        return NULL;
    }
    c->cfg = *cfg;
    c->refs = 1;
    for (size_t i = 0; i < app->nredis_triggers; i++) {
        const weft_app_redis_trigger_t *t = &app->redis_triggers[i];
        c->triggers[i] =
            counters_of(TRIGGER_METRIC, TRIGGER_HELP, "function", app->functions[t->function].name,
                        t->channel, "outcome", "handled", "failed");
    }
    for (size_t i = 0; cfg->events && i < app->nsources; i++) {
        const weft_app_source_t *src = &app->sources[i];
        c->sources[i] =
            counters_of(SOURCE_METRIC, SOURCE_HELP, "broker", app->brokers[src->broker].name,
                        src->channel, "result", "ingested", "refused");
    }
    return c;
}

static void count(weft_metric_t *m) {
    if (m)
        weft_metric_add(m, 1);
}

static conf_t *conf_take(weft_channels_t *ch) {
    pthread_mutex_lock(&ch->mu);
    conf_t *c = ch->cur;
    c->refs++;
    pthread_mutex_unlock(&ch->mu);
    return c;
}

/* Drops a hold on c; the last one tells its owner (config's release). */
static void conf_drop(weft_channels_t *ch, conf_t *c) {
    pthread_mutex_lock(&ch->mu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&ch->mu);
    if (!last)
        return;
    if (c->cfg.release)
        c->cfg.release(c->cfg.release_arg);
    conf_free(c);
}

/* ---- a trigger's call ------------------------------------------------------------------ */

static void call_trigger(const weft_channels_config_t *cfg, const weft_app_redis_trigger_t *t,
                         const counters_t *counts, const char *channel, const uint8_t *payload,
                         size_t len) {
    const weft_app_t *app = cfg->app;
    const char *name = app->functions[t->function].name;
    weft_function_t *fn = cfg->function(cfg->function_arg, name);
    if (!fn) {
        weft_log("redis trigger (line %d): no function '%s' loaded", t->line, name);
        count(counts->failed);
        return;
    }
    char tag[300];
    snprintf(tag, sizeof tag, "%s (redis %.200s)", name, channel);
    weft_call_opts_t opts = {.log_tag = tag};
    weft_message_t msg = {.channel = channel, .payload = payload, .len = len};
    weft_call_outcome_t out;
    weft_error_t err = {0};
    bool handled = false;
    if (weft_function_message(fn, &msg, &opts, &out, &handled, &err))
        weft_log("%s: %s", tag, err.msg);
    count(handled ? counts->ok : counts->failed);
}

/* ---- a source's event -------------------------------------------------------------------- */

/* value, percent-encoded as the HTTP binding asks of a header value (space, '"', '%' and
 * every byte outside printable ASCII), into b. */
static int put_header_value(weft_buf_t *b, const char *value) {
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int rc = *p <= ' ' || *p >= 0x7f || *p == '"' || *p == '%'
                     ? weft_buf_printf(b, "%%%02X", *p)
                     : weft_buf_append(b, p, 1);
        if (rc)
            return rc;
    }
    return weft_buf_append(b, "", 1);
}

/* The address without user information, query or fragment. */
static int source_of(weft_buf_t *b, const char *address) {
    const char *start = strstr(address, "://");
    start = start ? start + 3 : address;
    const char *end = start + strcspn(start, "?#");
    const char *at = NULL;
    for (const char *p = start; p < end && *p != '/'; p++)
        if (*p == '@')
            at = p;
    if (!at && !strncmp(address, "redis+unix://", 13))
        for (const char *p = start; p < end; p++)
            if (*p == '@')
                at = p;
    weft_buf_t plain = {0};
    int rc = weft_buf_append(&plain, address, (size_t)(start - address));
    if (!rc)
        rc = weft_buf_append(&plain, at ? at + 1 : start, (size_t)(end - (at ? at + 1 : start)));
    if (!rc)
        rc = weft_buf_append(&plain, "", 1);
    if (!rc)
        rc = put_header_value(b, (const char *)plain.data);
    weft_buf_free(&plain);
    return rc;
}

typedef struct ingest_note {
    weft_channels_t *ch;
    char broker[WEFT_APP_MAX_NAME + 1];
    int line;
    counters_t counts; /* the registry's: they outlive the configuration */
} ingest_note_t;

static void ingest_done(void *arg, unsigned status, const char *body) {
    ingest_note_t *n = arg;
    if (status != 202) {
        size_t len = strlen(body ? body : "");
        while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
            len--;
        weft_log("redis source (line %d): broker %s refused the event: %u %.*s", n->line, n->broker,
                 status, (int)(len > 300 ? 300 : len), body ? body : "");
    }
    count(status == 202 ? n->counts.ok : n->counts.failed);
    pthread_mutex_lock(&n->ch->mu);
    n->ch->inflight--;
    pthread_cond_broadcast(&n->ch->cond);
    pthread_mutex_unlock(&n->ch->mu);
    free(n);
}

static void ingest_source(weft_channels_t *ch, const weft_channels_config_t *cfg,
                          const weft_app_source_t *s, const counters_t *counts, const char *channel,
                          const uint8_t *payload, size_t len) {
    const weft_app_t *app = cfg->app;
    char id[37], now[40];
    weft_uuid4(id);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(now + n, sizeof now - n, ".%03ldZ", ts.tv_nsec / 1000000);
    /* Offsets into one buffer: its data may move while it grows. */
    weft_buf_t b = {0};
    size_t at_source = 0, at_subject = 0;
    int rc = 0;
    if (s->event_source)
        rc = put_header_value(&b, s->event_source);
    else
        rc = source_of(&b, s->address);
    at_subject = b.len;
    if (!rc)
        rc = put_header_value(&b, channel);
    ingest_note_t *note = calloc(1, sizeof *note);
    if (rc || !note) {
        weft_log("redis source (line %d): out of memory: a message of %s is lost", s->line,
                 channel);
        count(counts->failed);
        weft_buf_free(&b);
        free(note);
        return;
    }
    const char *data = (const char *)b.data;
    weft_header_t h[7] = {{"ce-specversion", "1.0"},
                          {"ce-id", id},
                          {"ce-time", now},
                          {"ce-type", s->event_type},
                          {"ce-source", data + at_source},
                          {"ce-subject", data + at_subject},
                          {"content-type", s->content_type}};
    snprintf(note->broker, sizeof note->broker, "%s", app->brokers[s->broker].name);
    note->line = s->line;
    note->ch = ch;
    note->counts = *counts;
    pthread_mutex_lock(&ch->mu);
    while (ch->inflight >= WEFT_CHANNELS_MAX_INFLIGHT)
        pthread_cond_wait(&ch->cond, &ch->mu);
    ch->inflight++;
    pthread_mutex_unlock(&ch->mu);
    weft_events_ingest(cfg->events, app->brokers[s->broker].name, h, s->content_type ? 7 : 6,
                       payload, len, ingest_done, note);
    weft_buf_free(&b);
}

/* ---- subscriptions ------------------------------------------------------------------------- */

static void on_message(void *arg, const char *channel, const uint8_t *payload, size_t len) {
    sub_t *sub = arg;
    weft_channels_t *ch = sub->owner;
    conf_t *c = conf_take(ch);
    const weft_channels_config_t *cfg = &c->cfg;
    const weft_app_t *app = cfg->app;
    for (size_t i = 0; i < app->nredis_triggers; i++) {
        const weft_app_redis_trigger_t *t = &app->redis_triggers[i];
        if (!strcmp(t->address, sub->address) && !strcmp(t->channel, channel))
            call_trigger(cfg, t, &c->triggers[i], channel, payload, len);
    }
    for (size_t i = 0; cfg->events && i < app->nsources; i++) {
        const weft_app_source_t *s = &app->sources[i];
        if (!strcmp(s->address, sub->address) && !strcmp(s->channel, channel))
            ingest_source(ch, cfg, s, &c->sources[i], channel, payload, len);
    }
    conf_drop(ch, c);
}

/* ---- the plan: which subscriptions a configuration needs ------------------------------- */

static void subs_free(sub_t *subs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(subs[i].address);
        for (size_t k = 0; k < subs[i].nchannels; k++)
            free(subs[i].channels[k]);
        free(subs[i].channels);
    }
    free(subs);
}

/* Adds channel to sub unless it is there. */
static int add_channel(sub_t *sub, const char *channel) {
    for (size_t i = 0; i < sub->nchannels; i++)
        if (!strcmp(sub->channels[i], channel))
            return 0;
    return (sub->channels[sub->nchannels] = strdup(channel)) ? (sub->nchannels++, 0) : -1;
}

/* The distinct addresses of cfg's triggers and sources (these only with events), in
 * manifest order, each with its channels in manifest order. *out NULL when there are
 * none. */
static int plan(const weft_channels_config_t *cfg, sub_t **out, size_t *n) {
    const weft_app_t *app = cfg->app;
    size_t most = app->nredis_triggers + (cfg->events ? app->nsources : 0);
    *out = NULL;
    *n = 0;
    if (!most)
        return 0;
    sub_t *subs = calloc(most, sizeof *subs);
    if (!subs)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < most; i++) {
        bool trig = i < app->nredis_triggers;
        const char *a =
            trig ? app->redis_triggers[i].address : app->sources[i - app->nredis_triggers].address;
        const char *channel =
            trig ? app->redis_triggers[i].channel : app->sources[i - app->nredis_triggers].channel;
        size_t k;
        for (k = 0; k < count && strcmp(subs[k].address, a); k++)
            ;
        if (k == count) {
            if (!(subs[k].address = strdup(a)) ||
                !(subs[k].channels = calloc(most, sizeof *subs[k].channels))) {
                free(subs[k].address);
                subs_free(subs, count);
                return -1;
            }
            count++;
        }
        if (add_channel(&subs[k], channel)) {
            subs_free(subs, count);
            return -1;
        }
    }
    *out = subs;
    *n = count;
    return 0;
}

static bool plan_same(const sub_t *a, size_t na, const sub_t *b, size_t nb) {
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i].address, b[i].address) || a[i].nchannels != b[i].nchannels)
            return false;
        for (size_t k = 0; k < a[i].nchannels; k++)
            if (strcmp(a[i].channels[k], b[i].channels[k]))
                return false;
    }
    return true;
}

/* ---- running ----------------------------------------------------------------------------- */

int weft_channels_start(const weft_channels_config_t *cfg, weft_channels_t **out,
                        weft_error_t *err) {
    *out = NULL;
    weft_channels_t *ch = calloc(1, sizeof *ch);
    conf_t *c = conf_new(cfg); /* its reference is ch's own */
    if (!ch || !c || plan(cfg, &ch->subs, &ch->nsubs)) {
        free(ch);
        conf_free(c);
        if (cfg->release)
            cfg->release(cfg->release_arg);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    ch->cur = c;
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cond, NULL);
    for (size_t i = 0; i < ch->nsubs; i++) {
        sub_t *sub = &ch->subs[i];
        sub->owner = ch;
        int rc = weft_channel_subscribe(sub->address, (const char *const *)sub->channels,
                                        sub->nchannels, on_message, sub, &sub->handle, err);
        if (rc) {
            weft_channels_stop(ch);
            return rc;
        }
    }
    *out = ch;
    return 0;
}

bool weft_channels_update(weft_channels_t *ch, const weft_channels_config_t *cfg) {
    sub_t *subs;
    size_t n;
    conf_t *c = NULL;
    if (plan(cfg, &subs, &n))
        return false;
    bool same = plan_same(ch->subs, ch->nsubs, subs, n) && (c = conf_new(cfg));
    subs_free(subs, n);
    if (!same)
        return false;
    pthread_mutex_lock(&ch->mu);
    conf_t *old = ch->cur;
    ch->cur = c;
    pthread_mutex_unlock(&ch->mu);
    conf_drop(ch, old);
    return true;
}

size_t weft_channels_count(const weft_channels_t *ch) {
    return ch ? ch->nsubs : 0;
}

void weft_channels_stop(weft_channels_t *ch) {
    if (!ch)
        return;
    for (size_t i = 0; i < ch->nsubs; i++)
        weft_channel_unsubscribe(ch->subs[i].handle);
    /* The sources' events handed to the broker: their answers refer to ch. */
    pthread_mutex_lock(&ch->mu);
    while (ch->inflight)
        pthread_cond_wait(&ch->cond, &ch->mu);
    pthread_mutex_unlock(&ch->mu);
    conf_drop(ch, ch->cur);
    pthread_mutex_destroy(&ch->mu);
    pthread_cond_destroy(&ch->cond);
    subs_free(ch->subs, ch->nsubs);
    free(ch);
}
