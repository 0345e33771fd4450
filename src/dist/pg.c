/* pg: the connection the PostgreSQL backends share (dist.h): the location read into a
 * libpq URI and a schema, the schema and tables set up at each connection, and a lost
 * connection noticed before a call and reopened with a backoff. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

struct pgc {
    char *conninfo; /* the URI as libpq takes it: weft's parameters removed */
    char *schema;
    char *setup;
    char *server;   /* "postgresql HOST:PORT/DB" */
    char *describe; /* "PostgreSQL documents HOST:PORT/DB, schema S" */
    const char *kind;
    int retry_ms;
    pthread_mutex_t mu;
    PGconn *c;  /* NULL: not connected */
    bool down;  /* a loss was logged and no reconnection yet */
    bool in_tx; /* between pgc_begin and pgc_commit or pgc_rollback: never reconnect */
};

static void quiet(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* The first line of libpq's message. */
static const char *first_line(const char *msg, char *buf, size_t size) {
    snprintf(buf, size, "%s", msg ? msg : "");
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

static int connect_once(pgc_t *p, weft_error_t *err) {
    PGconn *c = PQconnectdb(p->conninfo);
    char line[512];
    if (!c)
        return weft_error_set(err, WEFT_ENOMEM, "%s: %s: out of memory", p->kind, p->server);
    if (PQstatus(c) != CONNECTION_OK) {
        int rc = weft_error_set(err, WEFT_EIO, "%s: %s: cannot connect: %s", p->kind, p->server,
                                first_line(PQerrorMessage(c), line, sizeof line));
        PQfinish(c);
        return rc;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    /* The tables, once per database and schema: concurrent creators wait for each other
     * (CREATE ... IF NOT EXISTS alone races). */
    char *sql = NULL;
    if (asprintf(&sql,
                 "BEGIN; SELECT pg_advisory_xact_lock(7765667464); "
                 "CREATE SCHEMA IF NOT EXISTS \"%s\"; SET search_path TO \"%s\"; %s COMMIT;",
                 p->schema, p->schema, p->setup) < 0) {
        PQfinish(c);
        return weft_error_set(err, WEFT_ENOMEM, "%s: %s: out of memory", p->kind, p->server);
    }
    PGresult *res = PQexec(c, sql);
    free(sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc =
            weft_error_set(err, WEFT_EIO, "%s: %s: cannot set up schema %s: %s", p->kind, p->server,
                           p->schema, first_line(PQresultErrorMessage(res), line, sizeof line));
    PQclear(res);
    if (rc) {
        PQfinish(c);
        return rc;
    }
    p->c = c;
    return 0;
}

static void drop_connection(pgc_t *p, const char *why) {
    char line[512];
    if (!p->down)
        weft_log("%s: connection lost (%s); reconnecting at the next call", p->server,
                 first_line(why, line, sizeof line));
    PQfinish(p->c);
    p->c = NULL;
    p->down = true;
}

/* Is the connection still there? A server that went away (a restart) has sent its last
 * words and closed the socket: read them now, before a call is sent into it. */
static bool alive(PGconn *c) {
    if (PQstatus(c) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (poll(&pfd, 1, 0) > 0) {
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
            return false;
        if (!PQconsumeInput(c))
            return false;
        PGnotify *n;
        while ((n = PQnotifies(c)))
            PQfreemem(n);
    }
    return PQstatus(c) == CONNECTION_OK;
}

static int ensure(pgc_t *p, weft_error_t *err) {
    if (p->c && !alive(p->c))
        drop_connection(p, PQerrorMessage(p->c));
    if (p->c)
        return 0;
    if (p->in_tx)
        return weft_error_set(err, WEFT_EIO,
                              "%s: %s: the connection was lost in a transaction, which is gone "
                              "with it",
                              p->kind, p->server);
    int64_t until = dist_mono_ms() + p->retry_ms;
    int wait = 50, rc;
    while ((rc = connect_once(p, err)) == WEFT_EIO && dist_mono_ms() + wait <= until) {
        dist_sleep_ms(wait);
        if (wait < 800)
            wait *= 2;
    }
    if (rc == WEFT_EIO) {
        weft_log("%s (retried for %d ms)", err->msg, p->retry_ms);
        p->down = true;
    } else if (!rc && p->down) {
        weft_log("%s: reconnected", p->server);
        p->down = false;
    }
    return rc;
}

static int exec_as(pgc_t *p, const char *sql, int n, const char *const *vals, const int *lens,
                   const int *fmts, int result_format, PGresult **out, weft_error_t *err) {
    *out = NULL;
    int rc = ensure(p, err);
    if (rc)
        return rc;
    PGresult *res = PQexecParams(p->c, sql, n, NULL, vals, lens, fmts, result_format);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *out = res;
        return 0;
    }
    char line[512];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(p->c), line, sizeof line);
    if (PQstatus(p->c) != CONNECTION_OK) {
        drop_connection(p, line);
        rc = weft_error_set(err, WEFT_EIO,
                            "%s: %s: %s (the connection was lost: the call was not completed)",
                            p->kind, p->server, line);
    } else {
        /* 53100 disk full, 53200 out of memory, 54000 a value too large. */
        bool limit = state && (!strcmp(state, "53100") || !strcmp(state, "54000"));
        rc = weft_error_set(err, limit ? WEFT_ELIMIT : WEFT_EIO, "%s: %s: %s", p->kind, p->server,
                            line);
    }
    PQclear(res);
    return rc;
}

int pgc_exec(pgc_t *p, const char *sql, int n, const char *const *vals, const int *lens,
             const int *fmts, PGresult **out, weft_error_t *err) {
    return exec_as(p, sql, n, vals, lens, fmts, 0, out, err);
}

int pgc_exec_binary(pgc_t *p, const char *sql, int n, const char *const *vals, const int *lens,
                    const int *fmts, PGresult **out, weft_error_t *err) {
    return exec_as(p, sql, n, vals, lens, fmts, 1, out, err);
}

static int simple(pgc_t *p, const char *sql, weft_error_t *err) {
    PGresult *res = NULL;
    int rc = pgc_exec(p, sql, 0, NULL, NULL, NULL, &res, err);
    PQclear(res);
    return rc;
}

int pgc_begin(pgc_t *p, weft_error_t *err) {
    int rc = simple(p, "BEGIN", err);
    p->in_tx = rc == 0;
    return rc;
}

int pgc_commit(pgc_t *p, weft_error_t *err) {
    /* A commit whose connection is lost before the answer may or may not have happened:
     * pgc_exec refuses to reconnect inside a transaction anyway (ensure only reconnects
     * before a call, and a lost transaction is gone with its connection). */
    int rc = simple(p, "COMMIT", err);
    p->in_tx = false;
    return rc;
}

void pgc_rollback(pgc_t *p) {
    p->in_tx = false;
    if (p->c && PQstatus(p->c) == CONNECTION_OK && PQtransactionStatus(p->c) != PQTRANS_IDLE) {
        PGresult *res = PQexec(p->c, "ROLLBACK");
        PQclear(res);
    }
}

static int bad(const char *given, const char *what, weft_error_t *err) {
    char location[512];
    dist_redact(given, location, sizeof location);
    return weft_error_set(err, WEFT_EINVAL,
                          "%s: %s (expected postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DB]"
                          "[?schema=NAME&...], libpq's URI)",
                          location, what);
}

void pgc_close(pgc_t *p) {
    if (!p)
        return;
    if (p->c)
        PQfinish(p->c);
    free(p->conninfo);
    free(p->schema);
    free(p->setup);
    free(p->server);
    free(p->describe);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int pgc_open(const char *location, const char *kind, const char *setup, pgc_t **out,
             weft_error_t *err) {
    *out = NULL;
    pgc_t *p = calloc(1, sizeof *p);
    if (!p)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    pthread_mutex_init(&p->mu, NULL);
    p->kind = kind;
    p->retry_ms = 2000;
    weft_buf_t uri = {0};
    int rc = 0;
    const char *query = strchr(location, '?');
    const char *schema = "weft";
    size_t schema_len = 4;
    bool timeout = false;
    int brc =
        weft_buf_append(&uri, location, query ? (size_t)(query - location) : strlen(location));
    char sep = '?';
    for (const char *q = query ? query + 1 : NULL; !rc && q && *q;) {
        const char *amp = strchr(q, '&'), *qend = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(qend - q));
        size_t kn = eq ? (size_t)(eq - q) : (size_t)(qend - q);
        const char *v = eq ? eq + 1 : qend;
        size_t vn = (size_t)(qend - v);
        if (kn == 6 && !memcmp(q, "schema", 6)) {
            if (!vn || vn > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") < vn)
                rc = bad(location, "a schema is 1 to 63 of [a-z0-9_-]", err);
            schema = v;
            schema_len = vn;
        } else if (kn == 5 && !memcmp(q, "retry", 5)) {
            char num[16];
            snprintf(num, sizeof num, "%.*s", (int)(vn < 15 ? vn : 15), v);
            if (!vn || vn > 7 || strspn(num, "0123456789") < vn)
                rc = bad(location, "retry is milliseconds", err);
            p->retry_ms = atoi(num);
        } else {
            timeout = timeout || (kn == 15 && !memcmp(q, "connect_timeout", 15));
            brc = brc || weft_buf_append(&uri, &sep, 1) ||
                  weft_buf_append(&uri, q, (size_t)(qend - q));
            sep = '&';
        }
        q = amp ? amp + 1 : NULL;
    }
    if (!timeout)
        brc = brc || weft_buf_printf(&uri, "%cconnect_timeout=5", sep);
    if (!rc && brc)
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (!rc) {
        p->conninfo = (char *)uri.data;
        uri.data = NULL;
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(p->conninfo, &perr);
        if (!opts) {
            char line[512];
            rc = bad(location, first_line(perr, line, sizeof line), err);
        } else {
            const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
            for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (!o->val)
                    continue;
                if (!strcmp(o->keyword, "host"))
                    host = o->val;
                else if (!strcmp(o->keyword, "port"))
                    port = o->val;
                else if (!strcmp(o->keyword, "dbname"))
                    db = o->val;
                else if (!strcmp(o->keyword, "user"))
                    user = o->val;
            }
            if (asprintf(&p->server, "postgresql %s%s%s/%s", host ? host : "(default socket)",
                         port ? ":" : "", port ? port : "",
                         db     ? db
                         : user ? user
                                : "") < 0)
                p->server = NULL;
            PQconninfoFree(opts);
        }
        PQfreemem(perr);
    }
    weft_buf_free(&uri);
    if (!rc &&
        (!p->server || !(p->schema = strndup(schema, schema_len)) || !(p->setup = strdup(setup)) ||
         asprintf(&p->describe, "PostgreSQL %s %s, schema %s", kind, p->server + 11, p->schema) <
             0))
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (!rc) {
        pthread_mutex_lock(&p->mu);
        rc = ensure(p, err);
        pthread_mutex_unlock(&p->mu);
    }
    if (rc) {
        pgc_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

const char *pgc_describe(const pgc_t *p) {
    return p->describe;
}

const char *pgc_server(const pgc_t *p) {
    return p->server;
}

void pgc_lock(pgc_t *p) {
    pthread_mutex_lock(&p->mu);
}

void pgc_unlock(pgc_t *p) {
    pthread_mutex_unlock(&p->mu);
}
