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

typedef struct sub {
    weft_channels_t *owner;
    const char *address; /* borrowed from the app */
    weft_channel_sub_t *handle;
} sub_t;

/* Events of the sources handed to the broker and not yet durable (or refused), past
 * which a subscription waits: a flood of messages is held back in Redis's buffer for
 * the subscriber (which drops the connection past its limit) rather than in weft's
 * memory. */
#define WEFT_CHANNELS_MAX_INFLIGHT 256

struct weft_channels {
    weft_channels_config_t cfg;
    sub_t *subs;
    size_t nsubs;
    pthread_mutex_t mu; /* guards inflight */
    pthread_cond_t cond;
    size_t inflight;
};

/* ---- a trigger's call ------------------------------------------------------------------ */

static void call_trigger(weft_channels_t *ch, const weft_app_redis_trigger_t *t,
                         const char *channel, const uint8_t *payload, size_t len) {
    const weft_app_t *app = ch->cfg.app;
    const char *name = app->functions[t->function].name;
    weft_function_t *fn = ch->cfg.function(ch->cfg.function_arg, name);
    if (!fn) {
        weft_log("redis trigger (line %d): no function '%s' loaded", t->line, name);
        return;
    }
    char tag[300];
    snprintf(tag, sizeof tag, "%s (redis %.200s)", name, channel);
    weft_call_opts_t opts = {.log_tag = tag};
    weft_message_t msg = {.channel = channel, .payload = payload, .len = len};
    weft_call_outcome_t out;
    weft_error_t err = {0};
    bool handled;
    if (weft_function_message(fn, &msg, &opts, &out, &handled, &err))
        weft_log("%s: %s", tag, err.msg);
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
    pthread_mutex_lock(&n->ch->mu);
    n->ch->inflight--;
    pthread_cond_broadcast(&n->ch->cond);
    pthread_mutex_unlock(&n->ch->mu);
    free(n);
}

static void ingest_source(weft_channels_t *ch, const weft_app_source_t *s, const char *channel,
                          const uint8_t *payload, size_t len) {
    const weft_app_t *app = ch->cfg.app;
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
    pthread_mutex_lock(&ch->mu);
    while (ch->inflight >= WEFT_CHANNELS_MAX_INFLIGHT)
        pthread_cond_wait(&ch->cond, &ch->mu);
    ch->inflight++;
    pthread_mutex_unlock(&ch->mu);
    weft_events_ingest(ch->cfg.events, app->brokers[s->broker].name, h, s->content_type ? 7 : 6,
                       payload, len, ingest_done, note);
    weft_buf_free(&b);
}

/* ---- subscriptions ------------------------------------------------------------------------- */

static void on_message(void *arg, const char *channel, const uint8_t *payload, size_t len) {
    sub_t *sub = arg;
    weft_channels_t *ch = sub->owner;
    const weft_app_t *app = ch->cfg.app;
    for (size_t i = 0; i < app->nredis_triggers; i++) {
        const weft_app_redis_trigger_t *t = &app->redis_triggers[i];
        if (!strcmp(t->address, sub->address) && !strcmp(t->channel, channel))
            call_trigger(ch, t, channel, payload, len);
    }
    for (size_t i = 0; ch->cfg.events && i < app->nsources; i++) {
        const weft_app_source_t *s = &app->sources[i];
        if (!strcmp(s->address, sub->address) && !strcmp(s->channel, channel))
            ingest_source(ch, s, channel, payload, len);
    }
}

/* Adds channel to list (n of them) unless it is there. */
static void add_channel(const char **list, size_t *n, const char *channel) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], channel))
            return;
    list[(*n)++] = channel;
}

/* The subscription of address: its channels gathered from the triggers and sources. */
static int subscribe(weft_channels_t *ch, sub_t *sub, weft_error_t *err) {
    const weft_app_t *app = ch->cfg.app;
    const char **list = calloc(app->nredis_triggers + app->nsources + 1, sizeof *list);
    if (!list)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < app->nredis_triggers; i++)
        if (!strcmp(app->redis_triggers[i].address, sub->address))
            add_channel(list, &n, app->redis_triggers[i].channel);
    for (size_t i = 0; ch->cfg.events && i < app->nsources; i++)
        if (!strcmp(app->sources[i].address, sub->address))
            add_channel(list, &n, app->sources[i].channel);
    int rc = weft_channel_subscribe(sub->address, list, n, on_message, sub, &sub->handle, err);
    free(list);
    return rc;
}

int weft_channels_start(const weft_channels_config_t *cfg, weft_channels_t **out,
                        weft_error_t *err) {
    *out = NULL;
    const weft_app_t *app = cfg->app;
    weft_channels_t *ch = calloc(1, sizeof *ch);
    size_t most = app->nredis_triggers + app->nsources;
    if (!ch || !(ch->subs = calloc(most + 1, sizeof *ch->subs))) {
        free(ch);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    ch->cfg = *cfg;
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cond, NULL);
    /* The distinct addresses, in manifest order. */
    for (size_t i = 0; i < most; i++) {
        const char *a = i < app->nredis_triggers ? app->redis_triggers[i].address
                                                 : app->sources[i - app->nredis_triggers].address;
        if (i >= app->nredis_triggers && !cfg->events)
            continue;
        size_t k;
        for (k = 0; k < ch->nsubs && strcmp(ch->subs[k].address, a); k++)
            ;
        if (k == ch->nsubs)
            ch->subs[ch->nsubs++] = (sub_t){.owner = ch, .address = a};
    }
    for (size_t i = 0; i < ch->nsubs; i++) {
        int rc = subscribe(ch, &ch->subs[i], err);
        if (rc) {
            weft_channels_stop(ch);
            return rc;
        }
    }
    *out = ch;
    return 0;
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
    pthread_mutex_destroy(&ch->mu);
    pthread_cond_destroy(&ch->cond);
    free(ch->subs);
    free(ch);
}
