/* sub_redis: subscriptions to Redis channels (store.h, "Channels"), through hiredis.
 *
 * One thread and one connection per subscription. The thread connects (AUTH when the
 * location has a password), sends SUBSCRIBE with every channel and then reads: each
 * ["message", channel, payload] goes to the callback, on this thread, in order. When the
 * connection cannot be made or is lost (the server restarted, the network failed), the
 * thread waits (100 ms, doubling up to WEFT_CHANNEL_MAX_BACKOFF_MS) and tries again;
 * the first failure of a run of them is logged, and so is the subscription once it is
 * back ("subscribed again"). What was published in between is lost: Redis keeps nothing
 * for a subscriber that is not connected.
 *
 * Stopping: unsubscribe sets the flag and shuts the socket down under the lock, which
 * wakes a blocking read at once; a wait for the backoff is a timed wait on a condition
 * the stop signals. The thread is joined: a callback under way finishes first.
 *
 * The location: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?...] or
 * redis+unix://[[USER]:PASSWORD@]/PATH[?...], USER and PASSWORD percent-encoded, as the
 * key-value backend reads them; the database and the query do not matter to pub/sub
 * (channels belong to the server) and are not read. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dist.h"

#define SUB_FIRST_BACKOFF_MS 100
#define SUB_CONNECT_TIMEOUT_MS 5000

/* Where to connect. */
typedef struct sub_target {
    char *host, *path; /* one of the two */
    int port;
    char *user, *pass;
    char server[300]; /* "HOST:PORT" or PATH, for messages */
} sub_target_t;

struct weft_channel_sub {
    sub_target_t to;
    char **channels;
    size_t n;
    weft_channel_fn fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop and c */
    pthread_cond_t cond;
    bool stop;
    redisContext *c;
};

static void target_free(sub_target_t *t) {
    free(t->host);
    free(t->path);
    free(t->user);
    free(t->pass);
}

/* Reads location into *t. */
static int target_parse(const char *location, sub_target_t *t, weft_error_t *err) {
    char shown[512];
    memset(t, 0, sizeof *t);
    t->port = 6379;
    bool unix_socket = !strncmp(location, "redis+unix://", 13);
    const char *p = strstr(location, "://") + 3;
    const char *end = p + strcspn(p, "?#");
    /* Credentials: up to the last '@' before the host (or the socket's path). */
    const char *host_end = unix_socket ? end : p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < host_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        if (user_end > p && !(t->user = dist_url_decode(p, (size_t)(user_end - p))))
            goto bad;
        if (colon && !(t->pass = dist_url_decode(colon + 1, (size_t)(at - colon - 1))))
            goto bad;
        p = at + 1;
    }
    if (unix_socket) {
        if (*p != '/' || end == p + 1)
            goto bad;
        if (!(t->path = dist_url_decode(p, (size_t)(end - p))))
            goto bad;
        snprintf(t->server, sizeof t->server, "%s", t->path);
        return 0;
    }
    host_end = p + strcspn(p, "/?#");
    const char *colon = NULL;
    if (*p == '[') { /* [IPv6]:port */
        const char *close = memchr(p, ']', (size_t)(host_end - p));
        if (!close)
            goto bad;
        if (!(t->host = dist_url_decode(p + 1, (size_t)(close - p - 1))))
            goto bad;
        colon = close + 1 < host_end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(host_end - p));
        const char *he = colon ? colon : host_end;
        if (he == p || !(t->host = dist_url_decode(p, (size_t)(he - p))))
            goto bad;
    }
    if (colon) {
        char *stop;
        errno = 0;
        long port = strtol(colon + 1, &stop, 10);
        if (stop != host_end || colon + 1 == host_end || errno || port < 1 || port > 65535)
            goto bad;
        t->port = (int)port;
    }
    snprintf(t->server, sizeof t->server, "%s:%d", t->host, t->port);
    return 0;
bad:
    target_free(t);
    return weft_error_set(err, WEFT_EINVAL,
                          "%s: not a Redis location (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] "
                          "or redis+unix://[[USER]:PASSWORD@]/PATH)",
                          dist_redact(location, shown, sizeof shown));
}

/* One attempt: connect, authenticate, subscribe. NULL with why set on failure. */
static redisContext *sub_connect(weft_channel_sub_t *s, char *why, size_t size) {
    struct timeval tv = {SUB_CONNECT_TIMEOUT_MS / 1000, (SUB_CONNECT_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = s->to.path ? redisConnectUnixWithTimeout(s->to.path, tv)
                                 : redisConnectWithTimeout(s->to.host, s->to.port, tv);
    if (!c) {
        snprintf(why, size, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(why, size, "cannot connect: %s", c->errstr);
        goto fail;
    }
    /* The answers to AUTH and SUBSCRIBE within the connect timeout; the reads after
     * them wait as long as no message comes. */
    redisSetTimeout(c, tv);
    if (s->to.pass) {
        const char *argv[] = {"AUTH", s->to.user ? s->to.user : s->to.pass, s->to.pass};
        redisReply *r = redisCommandArgv(c, s->to.user ? 3 : 2, argv, NULL);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        snprintf(why, size, "AUTH: %s", !r ? c->errstr : ok ? "" : r->str);
        if (r)
            freeReplyObject(r);
        if (!ok)
            goto fail;
    }
    const char **argv = calloc(s->n + 1, sizeof *argv);
    if (!argv) {
        snprintf(why, size, "out of memory");
        goto fail;
    }
    argv[0] = "SUBSCRIBE";
    for (size_t i = 0; i < s->n; i++)
        argv[i + 1] = s->channels[i];
    int rc = redisAppendCommandArgv(c, (int)s->n + 1, argv, NULL);
    free(argv);
    /* One confirmation per channel: ["subscribe", channel, count]. */
    for (size_t i = 0; rc == REDIS_OK && i < s->n; i++) {
        redisReply *r = NULL;
        rc = redisGetReply(c, (void **)&r);
        bool ok = rc == REDIS_OK && r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  !strcmp(r->element[0]->str, "subscribe");
        if (rc == REDIS_OK && !ok) {
            snprintf(why, size, "SUBSCRIBE: %s",
                     r && r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected answer");
            rc = REDIS_ERR;
        } else if (rc != REDIS_OK) {
            snprintf(why, size, "SUBSCRIBE: %s", c->errstr);
        }
        if (r)
            freeReplyObject(r);
    }
    if (rc != REDIS_OK)
        goto fail;
    struct timeval forever = {0, 0};
    redisSetTimeout(c, forever);
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Waits ms, or less when unsubscribe comes. Returns whether to stop. */
static bool sub_wait(weft_channel_sub_t *s, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->stop && pthread_cond_timedwait(&s->cond, &s->mu, &until) != ETIMEDOUT)
        ;
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Reads messages until the connection fails (why says how) or the stop. */
static void sub_read(weft_channel_sub_t *s, redisContext *c, char *why, size_t size) {
    for (;;) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            snprintf(why, size, "%s", c->err ? c->errstr : "closed by the server");
            return;
        }
        /* ["message", channel, payload]; anything else (a pong, a confirmation) is
         * skipped. */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message") &&
            r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING)
            s->fn(s->arg, r->element[1]->str, (const uint8_t *)r->element[2]->str,
                  r->element[2]->len);
        freeReplyObject(r);
    }
}

static void *sub_main(void *arg) {
    weft_channel_sub_t *s = arg;
    /* hiredis writes with write(2): a connection the server closed must not kill weft. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    int backoff = SUB_FIRST_BACKOFF_MS;
    bool down = false, ever = false;
    char why[512];
    for (;;) {
        redisContext *c = sub_connect(s, why, sizeof why);
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        if (!stop)
            s->c = c;
        pthread_mutex_unlock(&s->mu);
        if (stop) {
            if (c)
                redisFree(c);
            break;
        }
        if (c) {
            weft_log("redis %s: %s to %zu channel%s (%s%s)", s->to.server,
                     ever ? "subscribed again" : "subscribed", s->n, s->n == 1 ? "" : "s",
                     s->channels[0], s->n > 1 ? ", ..." : "");
            ever = true;
            down = false;
            backoff = SUB_FIRST_BACKOFF_MS;
            sub_read(s, c, why, sizeof why);
            pthread_mutex_lock(&s->mu);
            s->c = NULL;
            stop = s->stop;
            pthread_mutex_unlock(&s->mu);
            redisFree(c);
            if (stop)
                break;
            weft_log("redis %s: subscription lost (%s); subscribing again (messages published "
                     "meanwhile are lost)",
                     s->to.server, why);
            down = true;
        } else if (!down) {
            weft_log("redis %s: %s; trying again every %d ms at most", s->to.server, why,
                     WEFT_CHANNEL_MAX_BACKOFF_MS);
            down = true;
        }
        if (sub_wait(s, backoff))
            break;
        backoff =
            backoff * 2 > WEFT_CHANNEL_MAX_BACKOFF_MS ? WEFT_CHANNEL_MAX_BACKOFF_MS : backoff * 2;
    }
    return NULL;
}

static void sub_free(weft_channel_sub_t *s) {
    target_free(&s->to);
    for (size_t i = 0; i < s->n; i++)
        free(s->channels[i]);
    free(s->channels);
    free(s);
}

int dist_redis_subscribe(const char *location, const char *const *channels, size_t n,
                         weft_channel_fn fn, void *arg, weft_channel_sub_t **out,
                         weft_error_t *err) {
    *out = NULL;
    weft_channel_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    int rc = target_parse(location, &s->to, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->fn = fn;
    s->arg = arg;
    if (!(s->channels = calloc(n, sizeof *s->channels))) {
        sub_free(s);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (; s->n < n; s->n++)
        if (!(s->channels[s->n] = strdup(channels[s->n]))) {
            sub_free(s);
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if ((rc = pthread_create(&s->thread, NULL, sub_main, s))) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        sub_free(s);
        return weft_error_set(err, WEFT_ENOMEM, "cannot start a thread: %s", strerror(rc));
    }
    *out = s;
    return 0;
}

void dist_redis_unsubscribe(weft_channel_sub_t *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    if (s->c)
        shutdown(s->c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    sub_free(s);
}
