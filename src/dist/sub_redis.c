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
 * The location is one redis.c reads (the key-value backend's), and the connection
 * redis.c's (AUTH, SELECT, the location's timeout for connecting and subscribing): the
 * database and the prefix do not matter to pub/sub (channels belong to the server), and
 * the location's retry neither (this file waits between attempts, interruptibly). */
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

struct weft_channel_sub {
    dist_redis_t addr; /* retry 0: one attempt per connection; this file waits */
    rconn_t conn;      /* conn.c under mu while connected */
    char **channels;
    size_t n;
    weft_channel_fn fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop and conn.c's replacement */
    pthread_cond_t cond;
    bool stop;
};

/* One attempt: connect (redis.c: AUTH, SELECT) and subscribe. 0, or why is set. */
static int sub_connect(weft_channel_sub_t *s, char *why, size_t size) {
    weft_error_t err = {0};
    if (rconn_ensure(&s->conn, &err)) {
        snprintf(why, size, "%.400s", err.msg);
        return -1;
    }
    redisContext *c = s->conn.c;
    const char **argv = calloc(s->n + 1, sizeof *argv);
    if (!argv) {
        snprintf(why, size, "out of memory");
        return -1;
    }
    argv[0] = "SUBSCRIBE";
    for (size_t i = 0; i < s->n; i++)
        argv[i + 1] = s->channels[i];
    int rc = redisAppendCommandArgv(c, (int)s->n + 1, argv, NULL);
    free(argv);
    if (rc == REDIS_OK)
        rc = rconn_flush(c);
    if (rc != REDIS_OK)
        snprintf(why, size, "SUBSCRIBE: %s", c->errstr);
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
        return -1;
    /* The reads from now on wait as long as no message comes; TCP keep-alive notices a
     * peer gone without a word (a network cut), which a read alone never would. */
    struct timeval forever = {0, 0};
    redisSetTimeout(c, forever);
    if (!s->addr.path)
        redisEnableKeepAlive(c);
    return 0;
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
    bool ever = false;
    char why[512];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        /* Connecting under the lock: unsubscribe then waits for at most one attempt
         * (the location's timeout) and finds the connection to shut down. */
        pthread_mutex_lock(&s->mu);
        int rc = s->stop ? -1 : sub_connect(s, why, sizeof why);
        if (rc && s->conn.c)
            rconn_close(&s->conn);
        pthread_mutex_unlock(&s->mu);
        if (!rc) {
            weft_log("redis %s: %s to %zu channel%s (%s%s)", s->addr.server,
                     ever ? "subscribed again" : "subscribed", s->n, s->n == 1 ? "" : "s",
                     s->channels[0], s->n > 1 ? ", ..." : "");
            ever = true;
            backoff = SUB_FIRST_BACKOFF_MS;
            sub_read(s, s->conn.c, why, sizeof why);
            pthread_mutex_lock(&s->mu);
            rconn_close(&s->conn);
            stop = s->stop;
            pthread_mutex_unlock(&s->mu);
            if (stop)
                break;
            weft_log("redis %s: subscription lost (%s); subscribing again (messages published "
                     "meanwhile are lost)",
                     s->addr.server, why);
            /* From now on redis.c logs the first failure and the reconnection only. */
            s->conn.down = true;
            s->conn.quiet = true;
        } else {
            s->conn.quiet = true; /* the first failure was logged (redis.c) */
        }
        if (sub_wait(s, backoff))
            break;
        backoff =
            backoff * 2 > WEFT_CHANNEL_MAX_BACKOFF_MS ? WEFT_CHANNEL_MAX_BACKOFF_MS : backoff * 2;
    }
    return NULL;
}

static void sub_free(weft_channel_sub_t *s) {
    rconn_close(&s->conn);
    dist_redis_clear(&s->addr);
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
    int rc = dist_redis_parse(location, &s->addr, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->addr.retry_ms = 0;
    s->conn.addr = &s->addr;
    s->conn.what = "channels";
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
    if (s->conn.c)
        shutdown(s->conn.c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    sub_free(s);
}
