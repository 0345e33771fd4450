/* redis: what the Redis backends share (dist.h, "Redis"): reading a location, and a
 * connection that reconnects.
 *
 * Locations:
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout=MS&retry=MS]
 *   redis+unix://[[USER]:PASSWORD@]/PATH/TO/SOCKET[?db=N&prefix=P&timeout=MS&retry=MS]
 * (redis:// as redis-cli -u and the Redis clients read it; port 6379 and DB 0 by
 * default; USER and PASSWORD percent-encoded; TLS, rediss://, is not supported.) P, by
 * default "weft", is 1 to 64 of [A-Za-z0-9_.-] and begins every key weft writes, so that
 * two weft installations share one Redis database without meeting.
 *
 * A connection: before each command, a connection whose server has closed it (a
 * restart) is noticed and reopened; reopening tries again with a backoff (50 ms doubling
 * to 800 ms) for up to `retry` ms (2000), then the call fails with EIO naming the
 * server. Commands time out after `timeout` ms (5000): the connection is dropped and
 * the call fails (a write then may or may not have been applied). Each loss and each
 * reconnection logs one line. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dist.h"

/* ---- Locations ------------------------------------------------------------------------- */

static int bad(const char *given, const char *what, weft_error_t *err) {
    char location[512];
    dist_redact(given, location, sizeof location);
    return weft_error_set(err, WEFT_EINVAL,
                          "%s: %s (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P] "
                          "or redis+unix://[[USER]:PASSWORD@]/PATH[?db=N&prefix=P])",
                          location, what);
}

/* A number in [lo, hi] from s[0..n). */
static bool number(const char *s, size_t n, long lo, long hi, int *out) {
    if (!n || n > 9 || strspn(s, "0123456789") < n)
        return false;
    long v = strtol(s, NULL, 10);
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static int parse(dist_redis_t *r, const char *location, weft_error_t *err) {
    bool unix_socket = strncmp(location, "redis+unix:", 11) == 0;
    const char *p = strstr(location, "://");
    if (!p)
        return bad(location, "not a Redis location", err);
    p += 3;
    const char *query = strchr(p, '?');
    const char *end = query ? query : p + strlen(p);
    /* Credentials: up to the last '@' before the path (a password may hold '/'). */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon && colon > p && !(r->user = dist_url_decode(p, (size_t)(colon - p))))
            return bad(location, "a bad user name", err);
        const char *pw = colon ? colon + 1 : p;
        if (!(r->pass = dist_url_decode(pw, (size_t)(at - pw))))
            return bad(location, "a bad password", err);
        p = at + 1;
    }
    if (unix_socket) {
        if (*p != '/' || p == end)
            return bad(location, "no socket path", err);
        if (!(r->path = dist_url_decode(p, (size_t)(end - p))))
            return bad(location, "a bad socket path", err);
    } else {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *hend = slash ? slash : end;
        const char *hp = p, *colon = NULL;
        if (*hp == '[') { /* [IPv6]:port */
            const char *close = memchr(hp, ']', (size_t)(hend - hp));
            if (!close)
                return bad(location, "an unclosed [", err);
            r->host = strndup(hp + 1, (size_t)(close - hp - 1));
            colon = close + 1 < hend && close[1] == ':' ? close + 1 : NULL;
        } else {
            colon = memchr(hp, ':', (size_t)(hend - hp));
            r->host = strndup(hp, (size_t)((colon ? colon : hend) - hp));
        }
        if (!r->host || !*r->host)
            return bad(location, "no host", err);
        r->port = 6379;
        if (colon && !number(colon + 1, (size_t)(hend - colon - 1), 1, 65535, &r->port))
            return bad(location, "a bad port", err);
        if (slash && slash + 1 < end &&
            !number(slash + 1, (size_t)(end - slash - 1), 0, 1 << 20, &r->db))
            return bad(location, "a bad database number", err);
    }
    r->timeout_ms = 5000;
    r->retry_ms = 2000;
    const char *prefix = "weft";
    size_t prefix_len = 4;
    for (const char *q = query ? query + 1 : NULL; q && *q;) {
        const char *amp = strchr(q, '&'), *qend = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(qend - q));
        if (!eq)
            return bad(location, "a query parameter without =", err);
        size_t kn = (size_t)(eq - q), vn = (size_t)(qend - eq - 1);
        const char *v = eq + 1;
        if (kn == 6 && !memcmp(q, "prefix", 6)) {
            if (!vn || vn > 64 ||
                strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") < vn)
                return bad(location, "a prefix is 1 to 64 of [A-Za-z0-9_.-]", err);
            prefix = v;
            prefix_len = vn;
        } else if (kn == 2 && !memcmp(q, "db", 2) && unix_socket) {
            if (!number(v, vn, 0, 1 << 20, &r->db))
                return bad(location, "a bad database number", err);
        } else if (kn == 7 && !memcmp(q, "timeout", 7)) {
            if (!number(v, vn, 1, 3600000, &r->timeout_ms))
                return bad(location, "timeout is milliseconds, 1 or more", err);
        } else if (kn == 5 && !memcmp(q, "retry", 5)) {
            if (!number(v, vn, 0, 3600000, &r->retry_ms))
                return bad(location, "retry is milliseconds", err);
        } else {
            char what[96];
            snprintf(what, sizeof what, "an unknown parameter \"%.*s\"", (int)(kn > 40 ? 40 : kn),
                     q);
            return bad(location, what, err);
        }
        q = amp ? amp + 1 : NULL;
    }
    if (r->path)
        r->server = strdup(r->path);
    else if (asprintf(&r->server, strchr(r->host, ':') ? "[%s]:%d" : "%s:%d", r->host, r->port) < 0)
        r->server = NULL;
    if (!r->server || !(r->prefix = strndup(prefix, prefix_len)))
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    return 0;
}

int dist_redis_parse(const char *location, dist_redis_t *out, weft_error_t *err) {
    memset(out, 0, sizeof *out);
    int rc = parse(out, location, err);
    if (rc)
        dist_redis_clear(out);
    return rc;
}

void dist_redis_clear(dist_redis_t *r) {
    free(r->host);
    free(r->path);
    free(r->user);
    free(r->pass);
    free(r->server);
    free(r->prefix);
    memset(r, 0, sizeof *r);
}

/* ---- Connections ----------------------------------------------------------------------- */

/* Has the server closed the connection (a restart, a timeout of its own)? Checked before
 * each command, so that a write is never sent into a connection already dead and then
 * reported as lost (when it could not have been applied), and the call reconnects. */
static bool peer_closed(redisContext *c) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return true;
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The connection's down flag: its pool's when it has one. */
static bool *down_of(rconn_t *rc) {
    return rc->shared ? rc->shared : &rc->down;
}

void rconn_drop(rconn_t *rc, const char *why) {
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
    if (!*down_of(rc))
        weft_log("redis %s: connection lost (%s); reconnecting at the next call", rc->addr->server,
                 why);
    *down_of(rc) = true;
}

void rconn_close(rconn_t *rc) {
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
}

/* Runs f(c, arg) with SIGPIPE blocked (hiredis writes with write(2): a connection the
 * server closed must not kill the process) and any SIGPIPE it raised taken back. */
#define WITHOUT_SIGPIPE(stmt)                                                                      \
    do {                                                                                           \
        sigset_t pipe_set_, old_;                                                                  \
        sigemptyset(&pipe_set_);                                                                   \
        sigaddset(&pipe_set_, SIGPIPE);                                                            \
        pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_);                                             \
        stmt;                                                                                      \
        struct timespec zero_ = {0, 0};                                                            \
        while (sigtimedwait(&pipe_set_, NULL, &zero_) > 0)                                         \
            ;                                                                                      \
        pthread_sigmask(SIG_SETMASK, &old_, NULL);                                                 \
    } while (0)

redisReply *rconn_command(redisContext *c, int argc, const char **argv, const size_t *lens) {
    redisReply *reply;
    WITHOUT_SIGPIPE(reply = redisCommandArgv(c, argc, argv, lens));
    return reply;
}

int rconn_flush(redisContext *c) {
    int done = 0, rc = REDIS_OK;
    WITHOUT_SIGPIPE(while (rc == REDIS_OK && !done) rc = redisBufferWrite(c, &done));
    return rc;
}

/* A reply that must be +OK or similar: 0, or EIO naming what failed. */
static int simple(const dist_redis_t *a, redisContext *c, const char *what, int argc,
                  const char **argv, weft_error_t *err) {
    redisReply *rep = rconn_command(c, argc, argv, NULL);
    int rc = 0;
    if (!rep)
        rc = weft_error_set(err, WEFT_EIO, "redis %s: %s: %s", a->server, what, c->errstr);
    else if (rep->type == REDIS_REPLY_ERROR)
        rc = weft_error_set(err, WEFT_EIO, "redis %s: %s: %s", a->server, what, rep->str);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* One attempt to connect (authenticate, select the database). */
static int connect_once(rconn_t *rc, weft_error_t *err) {
    const dist_redis_t *a = rc->addr;
    struct timeval tv = {a->timeout_ms / 1000, (a->timeout_ms % 1000) * 1000};
    redisContext *c = a->path ? redisConnectUnixWithTimeout(a->path, tv)
                              : redisConnectWithTimeout(a->host, a->port, tv);
    if (!c)
        return weft_error_set(err, WEFT_ENOMEM, "redis %s: out of memory", a->server);
    int r = 0;
    if (c->err)
        r = weft_error_set(err, WEFT_EIO, "redis %s: cannot connect: %s", a->server, c->errstr);
    if (!r && redisSetTimeout(c, tv) != REDIS_OK)
        r = weft_error_set(err, WEFT_EIO, "redis %s: cannot set the timeout: %s", a->server,
                           c->errstr);
    if (!r && a->pass) {
        const char *argv[] = {"AUTH", a->user ? a->user : a->pass, a->pass};
        r = simple(a, c, "AUTH", a->user ? 3 : 2, argv, err);
    }
    if (!r && a->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", a->db);
        const char *argv[] = {"SELECT", db};
        r = simple(a, c, "SELECT", 2, argv, err);
    }
    if (r) {
        redisFree(c);
        return r;
    }
    rc->c = c;
    return 0;
}

int rconn_ensure(rconn_t *rc, weft_error_t *err) {
    if (rc->c && (rc->c->err || peer_closed(rc->c)))
        rconn_drop(rc, rc->c->err ? rc->c->errstr : "closed by the server");
    if (rc->c)
        return 0;
    int64_t until = dist_mono_ms() + rc->addr->retry_ms;
    int wait = 50, r;
    while ((r = connect_once(rc, err)) == WEFT_EIO && dist_mono_ms() + wait <= until) {
        dist_sleep_ms(wait);
        if (wait < 800)
            wait *= 2;
    }
    if (r == WEFT_EIO) {
        if (!*down_of(rc) || !rc->quiet)
            weft_log("%s (retried for %d ms)", err->msg, rc->addr->retry_ms);
        weft_error_prefix(err, "%s", rc->what);
        *down_of(rc) = true;
        return r;
    }
    if (!r && *down_of(rc)) {
        weft_log("redis %s: reconnected", rc->addr->server);
        *down_of(rc) = false;
    }
    return r;
}

int rconn_check(rconn_t *rc, redisReply *rep, redisReply **out, weft_error_t *err) {
    *out = NULL;
    if (!rep) {
        char why[160];
        snprintf(why, sizeof why, "%s", rc->c->errstr);
        rconn_drop(rc, why);
        return weft_error_set(err, WEFT_EIO,
                              "%s: redis %s: %s (the connection was lost: a write may or may not "
                              "have been applied)",
                              rc->what, rc->addr->server, why);
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        int r = weft_error_set(err, strncmp(rep->str, "OOM", 3) == 0 ? WEFT_ELIMIT : WEFT_EIO,
                               "%s: redis %s: %s", rc->what, rc->addr->server, rep->str);
        freeReplyObject(rep);
        return r;
    }
    *out = rep;
    return 0;
}

int rconn_run(rconn_t *rc, int argc, const char **argv, const size_t *lens, redisReply **out,
              weft_error_t *err) {
    *out = NULL;
    int r = rconn_ensure(rc, err);
    if (r)
        return r;
    return rconn_check(rc, rconn_command(rc->c, argc, argv, lens), out, err);
}

/* EVAL each time rather than EVALSHA: Redis keeps the compiled script by its text's
 * SHA-1, and an EVALSHA would need a fallback for a restarted Redis anyway. */
int rconn_script(rconn_t *rc, const char *lua, int nkeys, int nargs, const char **args,
                 const size_t *lens, redisReply **out, weft_error_t *err) {
    const char *argv[3 + RCONN_MAX_SCRIPT_ARGS];
    size_t alen[3 + RCONN_MAX_SCRIPT_ARGS];
    char nk[16];
    if (nargs > RCONN_MAX_SCRIPT_ARGS)
        return weft_error_set(err, WEFT_EINVAL, "%s: a script of %d arguments", rc->what, nargs);
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = lua;
    alen[0] = 4;
    alen[1] = strlen(lua);
    argv[2] = nk;
    alen[2] = strlen(nk);
    for (int i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        alen[3 + i] = lens ? lens[i] : strlen(args[i]);
    }
    return rconn_run(rc, 3 + nargs, argv, alen, out, err);
}

/* ---- Pools ------------------------------------------------------------------------------ */

typedef struct rpooled {
    struct rpooled *next;
    rconn_t conn;
} rpooled_t;

void rpool_init(rpool_t *p, const dist_redis_t *addr, const char *what) {
    *p = (rpool_t){.addr = addr, .what = what};
    pthread_mutex_init(&p->mu, NULL);
}

void rpool_clear(rpool_t *p) {
    for (rpooled_t *c = p->free, *next; c; c = next) {
        next = c->next;
        rconn_close(&c->conn);
        free(c);
    }
    p->free = NULL;
    pthread_mutex_destroy(&p->mu);
}

rconn_t *rpool_take(rpool_t *p) {
    pthread_mutex_lock(&p->mu);
    rpooled_t *c = p->free;
    if (c)
        p->free = c->next;
    pthread_mutex_unlock(&p->mu);
    if (!c && (c = calloc(1, sizeof *c)))
        c->conn = (rconn_t){.addr = p->addr, .what = p->what, .shared = &p->down};
    return c ? &c->conn : NULL;
}

void rpool_give(rpool_t *p, rconn_t *conn) {
    rpooled_t *c = (rpooled_t *)((char *)conn - offsetof(rpooled_t, conn));
    pthread_mutex_lock(&p->mu);
    c->next = p->free;
    p->free = c;
    pthread_mutex_unlock(&p->mu);
}

int rpool_run(rpool_t *p, int argc, const char **argv, const size_t *lens, redisReply **out,
              weft_error_t *err) {
    *out = NULL;
    rconn_t *c = rpool_take(p);
    if (!c)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", p->what);
    int rc = rconn_run(c, argc, argv, lens, out, err);
    rpool_give(p, c);
    return rc;
}

int rpool_script(rpool_t *p, const char *lua, int nkeys, int nargs, const char **args,
                 const size_t *lens, redisReply **out, weft_error_t *err) {
    *out = NULL;
    rconn_t *c = rpool_take(p);
    if (!c)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", p->what);
    int rc = rconn_script(c, lua, nkeys, nargs, args, lens, out, err);
    rpool_give(p, c);
    return rc;
}
