/* The delivery engine (src/events/delivery.h) against real sockets and a real guest:
 * a small threaded HTTP/1.1 sink in this process (keep-alive; each request may ask it,
 * through x-* headers, for a status, a Retry-After, a delay, a large body or a closed
 * connection) counts the attempts, their times and the connections, and
 * tests/guests/ev_target.c is the function target.
 *
 * WEFT_DELIVERY_BENCH=1 runs a throughput measurement instead (figures, no checks). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "events/delivery.h"
#include "test.h"

#define MS 1000000ull

static uint64_t now_ms(void) {
    return weft_now_ns() / MS;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- The sink ------------------------------------------------------------------------ */

#define SINK_MAX_CONN 1024
#define SINK_MAX_RECS 8192

typedef struct rec {
    char id[64];
    uint64_t t_ns;
    int conn;
    char prefer[32];
    char ctype[64];
    size_t body_len;
} rec_t;

typedef struct sink {
    int lfd, port;
    pthread_t acceptor;
    pthread_mutex_t lock;
    int nconn;
    int fds[SINK_MAX_CONN];
    pthread_t threads[SINK_MAX_CONN];
    rec_t *recs;
    size_t nrecs;
    atomic_int stop;
    unsigned delay_ms; /* every request waits this long (a slow destination) */
    bool quiet;        /* no records (the benchmark) */
    atomic_long requests;
} sink_t;

typedef struct conn_arg {
    sink_t *s;
    int fd, conn;
} conn_arg_t;

/* The value of header name in the request head (NUL-cut lines), or NULL. */
static const char *req_header(char **names, char **values, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcasecmp(names[i], name))
            return values[i];
    return NULL;
}

static bool write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void sink_sleep(sink_t *s, unsigned ms) {
    for (unsigned t = 0; t < ms && !s->stop; t += 10)
        sleep_ms(ms - t < 10 ? ms - t : 10);
}

static void *sink_conn(void *arg) {
    conn_arg_t a = *(conn_arg_t *)arg;
    free(arg);
    sink_t *s = a.s;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == cap)
                goto out;
            ssize_t r = recv(a.fd, buf + len, cap - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        *end = 0;
        char *names[64], *values[64];
        int nh = 0;
        char *line = strstr(buf, "\r\n");
        while (line && nh < 64) {
            *line = 0;
            line += 2;
            char *next = strstr(line, "\r\n");
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = 0;
                char *v = colon + 1;
                while (*v == ' ')
                    v++;
                names[nh] = line;
                values[nh++] = v;
            }
            line = next;
        }
        const char *cl = req_header(names, values, nh, "Content-Length");
        size_t body_len = cl ? strtoul(cl, NULL, 10) : 0;
        while (len < head_len + body_len) {
            if (head_len + body_len > cap) {
                cap = head_len + body_len;
                buf = realloc(buf, cap);
            }
            ssize_t r = recv(a.fd, buf + len, cap - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        const char *id = req_header(names, values, nh, "ce-id");
        int attempt = 0;
        s->requests++;
        if (!s->quiet) {
            pthread_mutex_lock(&s->lock);
            for (size_t i = 0; i < s->nrecs; i++)
                attempt += id && !strcmp(s->recs[i].id, id);
            if (s->nrecs < SINK_MAX_RECS) {
                rec_t *r = &s->recs[s->nrecs++];
                const char *prefer = req_header(names, values, nh, "Prefer");
                const char *ct = req_header(names, values, nh, "Content-Type");
                snprintf(r->id, sizeof r->id, "%s", id ? id : "");
                snprintf(r->prefer, sizeof r->prefer, "%s", prefer ? prefer : "");
                snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
                r->t_ns = weft_now_ns();
                r->conn = a.conn;
                r->body_len = body_len;
            }
            pthread_mutex_unlock(&s->lock);
        }
        const char *status_h = req_header(names, values, nh, "x-status");
        const char *fail_h = req_header(names, values, nh, "x-fail");
        bool failing = status_h && (!fail_h || attempt < atoi(fail_h));
        int status = failing ? atoi(status_h) : 200;
        if (failing && req_header(names, values, nh, "x-close"))
            goto out;
        const char *delay = req_header(names, values, nh, "x-delay-ms");
        sink_sleep(s, delay ? (unsigned)atoi(delay) : s->delay_ms);
        char extra[256] = "";
        const char *ra = req_header(names, values, nh, "x-retry-after");
        const char *ra_date = req_header(names, values, nh, "x-retry-after-date");
        if (failing && ra)
            snprintf(extra, sizeof extra, "Retry-After: %s\r\n", ra);
        if (failing && ra_date) {
            time_t t = time(NULL) + atoi(ra_date);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(extra, sizeof extra, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        }
        const char *reply = req_header(names, values, nh, "x-reply");
        if (reply) {
            size_t n = strlen(extra);
            snprintf(extra + n, sizeof extra - n, "ce-type: %s\r\n", reply);
        }
        const char *body = req_header(names, values, nh, "x-body");
        const char *big = req_header(names, values, nh, "x-body-size");
        size_t out_len = big ? strtoul(big, NULL, 10) : body ? strlen(body) : 0;
        char head[512];
        int hn = snprintf(head, sizeof head, "HTTP/1.1 %d Sink\r\nContent-Length: %zu\r\n%s\r\n",
                          status, out_len, extra);
        bool ok = write_all(a.fd, head, (size_t)hn);
        if (ok && big) {
            static char zs[65536];
            memset(zs, 'z', sizeof zs);
            for (size_t left = out_len; ok && left;) {
                size_t n = left < sizeof zs ? left : sizeof zs;
                ok = write_all(a.fd, zs, n);
                left -= n;
            }
        } else if (ok && body) {
            ok = write_all(a.fd, body, out_len);
        }
        if (!ok || req_header(names, values, nh, "x-then-close"))
            goto out;
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
out:
    shutdown(a.fd, SHUT_RDWR);
    free(buf);
    return NULL;
}

static void *sink_accept(void *arg) {
    sink_t *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (s->stop)
                return NULL;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&s->lock);
        if (s->stop || s->nconn == SINK_MAX_CONN) {
            pthread_mutex_unlock(&s->lock);
            close(fd);
            continue;
        }
        conn_arg_t *a = malloc(sizeof *a);
        *a = (conn_arg_t){s, fd, s->nconn};
        s->fds[s->nconn] = fd;
        pthread_create(&s->threads[s->nconn], NULL, sink_conn, a);
        s->nconn++;
        pthread_mutex_unlock(&s->lock);
    }
}

static sink_t *sink_start(unsigned delay_ms) {
    sink_t *s = calloc(1, sizeof *s);
    s->recs = calloc(SINK_MAX_RECS, sizeof *s->recs);
    s->delay_ms = delay_ms;
    pthread_mutex_init(&s->lock, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(s->lfd, 1024) ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl)) {
        perror("sink");
        exit(1);
    }
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->acceptor, NULL, sink_accept, s);
    return s;
}

static void sink_stop(sink_t *s) {
    s->stop = 1;
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->lock);
    int n = s->nconn;
    for (int i = 0; i < n; i++)
        shutdown(s->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++) {
        pthread_join(s->threads[i], NULL);
        close(s->fds[i]);
    }
    free(s->recs);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static char *sink_url(const sink_t *s, char *buf, size_t size) {
    snprintf(buf, size, "http://127.0.0.1:%d/events", s->port);
    return buf;
}

/* The times of the attempts for id, in order; returns how many. */
static size_t sink_times(sink_t *s, const char *id, uint64_t *t, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nrecs; i++)
        if (!strcmp(s->recs[i].id, id) && n < max)
            t[n++] = s->recs[i].t_ns;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static size_t sink_count(sink_t *s, const char *id) {
    uint64_t t[64];
    return sink_times(s, id, t, 64);
}

static rec_t sink_last(sink_t *s, const char *id) {
    rec_t r = {0};
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nrecs; i++)
        if (!strcmp(s->recs[i].id, id))
            r = s->recs[i];
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- Deliveries and their outcomes ----------------------------------------------------- */

#define MAX_H 12

typedef struct sub {
    /* what was submitted (kept until the callback) */
    weft_header_t hs[MAX_H];
    char text[MAX_H][2][96];
    char body[64];
    /* what came back */
    int calls;
    weft_delivery_result_t result;
    unsigned status;
    uint32_t attempts;
    char error[256];
    char out[8192];
    size_t out_len;
    char reply_type[64];
    char dest[256];
    uint64_t t_ns;
    int resubmit_rc; /* a submit tried from the callback (shutdown test) */
    weft_delivery_dest_t *resubmit_to;
} sub_t;

static pthread_t main_thread;
static atomic_int callbacks_on_main; /* must stay 0: callbacks run on the engine's threads */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_total;

static void on_done(void *arg, const weft_delivery_outcome_t *o) {
    sub_t *s = arg;
    if (pthread_equal(pthread_self(), main_thread))
        callbacks_on_main++;
    s->result = o->result;
    s->status = o->status;
    s->attempts = o->attempts;
    snprintf(s->error, sizeof s->error, "%s", o->error ? o->error : "");
    s->out_len = o->body_len;
    size_t n = o->body_len < sizeof s->out - 1 ? o->body_len : sizeof s->out - 1;
    if (n)
        memcpy(s->out, o->body, n);
    s->out[n] = 0;
    const char *rt = NULL;
    for (size_t i = 0; i < o->nheaders; i++)
        if (!strcasecmp(o->headers[i].name, "ce-type"))
            rt = o->headers[i].value;
    snprintf(s->reply_type, sizeof s->reply_type, "%s", rt ? rt : "");
    snprintf(s->dest, sizeof s->dest, "%s", o->dest ? o->dest : "");
    s->t_ns = weft_now_ns();
    if (s->resubmit_to) {
        weft_delivery_request_t rq = {.done = on_done, .arg = s};
        s->resubmit_rc = weft_delivery_submit(s->resubmit_to, &rq, NULL);
    }
    pthread_mutex_lock(&done_lock);
    s->calls++;
    done_total++;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

/* Waits until done_total reaches total, at most timeout_ms. */
static bool wait_done(int total, unsigned timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&done_lock);
    int rc = 0;
    while (done_total < total && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&done_cond, &done_lock, &until);
    bool ok = done_total >= total;
    pthread_mutex_unlock(&done_lock);
    return ok;
}

static int done_now(void) {
    pthread_mutex_lock(&done_lock);
    int n = done_total;
    pthread_mutex_unlock(&done_lock);
    return n;
}

/* Submits an event with id (ce-id), type (ce-type) and "name", "value" pairs (NULL
 * ends them) as more headers; the outcome lands in s. */
static bool next_no_reply; /* the next submit leaves out Prefer: reply */

static int submit(weft_delivery_dest_t *dest, sub_t *s, const char *id, const char *type, ...) {
    memset(s, 0, sizeof *s);
    size_t n = 0;
    const char *pairs[2 * MAX_H];
    size_t np = 0;
    pairs[np++] = "ce-id";
    pairs[np++] = id;
    pairs[np++] = "ce-type";
    pairs[np++] = type;
    pairs[np++] = "ce-specversion";
    pairs[np++] = "1.0";
    va_list ap;
    va_start(ap, type);
    for (const char *name; (name = va_arg(ap, const char *)) && np < 2 * MAX_H - 1;) {
        pairs[np++] = name;
        pairs[np++] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (size_t i = 0; i + 1 < np; i += 2, n++) {
        snprintf(s->text[n][0], sizeof s->text[n][0], "%s", pairs[i]);
        snprintf(s->text[n][1], sizeof s->text[n][1], "%s", pairs[i + 1]);
        s->hs[n] = (weft_header_t){s->text[n][0], s->text[n][1]};
    }
    snprintf(s->body, sizeof s->body, "{\"id\":\"%s\"}", id);
    weft_delivery_request_t rq = {
        .headers = s->hs,
        .nheaders = n,
        .body = (const uint8_t *)s->body,
        .body_len = strlen(s->body),
        .no_reply = next_no_reply,
        .done = on_done,
        .arg = s,
    };
    next_no_reply = false;
    weft_error_t err = {0};
    int rc = weft_delivery_submit(dest, &rq, &err);
    if (rc)
        fprintf(stderr, "submit: %s\n", err.msg);
    return rc;
}

static weft_delivery_t *start(unsigned workers) {
    weft_delivery_opts_t o = {.workers = workers};
    weft_delivery_t *d = NULL;
    weft_error_t err = {0};
    if (weft_delivery_start(&o, &d, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return d;
}

static weft_delivery_dest_t *url_dest(weft_delivery_t *d, sink_t *s,
                                      const weft_delivery_policy_t *p) {
    char url[128];
    weft_delivery_dest_t *dest = NULL;
    weft_error_t err = {0};
    if (weft_delivery_dest_url(d, sink_url(s, url, sizeof url), p, &dest, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return dest;
}

/* Gaps between the attempts for id, in ms. */
static size_t gaps_ms(sink_t *s, const char *id, double *gaps, size_t max) {
    uint64_t t[16];
    size_t n = sink_times(s, id, t, 16);
    for (size_t i = 1; i < n && i - 1 < max; i++)
        gaps[i - 1] = (double)(t[i] - t[i - 1]) / 1e6;
    return n ? n - 1 : 0;
}

/* A gap that is never shorter than asked, and at most slack ms longer (the machine is
 * shared, so the slack is generous). */
static bool gap_near(double got, double want, double slack) {
    if (got < want - 2 || got > want + slack) {
        fprintf(stderr, "gap %.1f ms, expected %.0f ms (+%.0f)\n", got, want, slack);
        return false;
    }
    return true;
}

/* CPU seconds spent so far by this process's threads named name. */
static double thread_cpu(const char *name) {
    double total = 0;
    char path[128], comm[64];
    for (int tid = getpid(); tid < getpid() + 4096; tid++) {
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        bool match = fgets(comm, sizeof comm, f) && !strncmp(comm, name, strlen(name));
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
        if (!match || !(f = fopen(path, "r")))
            continue;
        char line[1024];
        if (fgets(line, sizeof line, f)) {
            const char *p = strrchr(line, ')');
            unsigned long ut = 0, st = 0;
            if (p &&
                sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                total += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    return total;
}

/* The benchmark's submissions: the request a broker would send, and a lean callback. */
typedef struct bench {
    weft_header_t hs[5];
    char id[16];
    char body[32];
} bench_t;

static atomic_int bench_delivered, bench_completed, bench_wake_at;
static pthread_cond_t bench_cond = PTHREAD_COND_INITIALIZER;

/* As light as a broker's would be: a count, and a wake-up once per batch. */
static void on_bench_done(void *arg, const weft_delivery_outcome_t *o) {
    if (o->result == WEFT_DELIVERY_DELIVERED)
        bench_delivered++;
    if (++bench_completed == bench_wake_at) {
        pthread_mutex_lock(&done_lock);
        pthread_cond_signal(&bench_cond);
        pthread_mutex_unlock(&done_lock);
    }
}

/* Submits total requests to dest in batches, as a broker reading its log would: up to
 * window outstanding, the next batch once half of them are done. Returns the seconds
 * taken. */
static double bench_run(weft_delivery_dest_t *dest, int total, int window, const char *type) {
    bench_t *b = calloc((size_t)total, sizeof *b);
    bench_delivered = bench_completed = 0;
    bench_wake_at = -1;
    uint64_t t0 = weft_now_ns();
    for (int i = 0; i < total;) {
        for (; i < total && i - bench_completed < window; i++) {
            snprintf(b[i].id, sizeof b[i].id, "b%d", i);
            snprintf(b[i].body, sizeof b[i].body, "{\"n\":%d}", i);
            b[i].hs[0] = (weft_header_t){"ce-id", b[i].id};
            b[i].hs[1] = (weft_header_t){"ce-source", "bench"};
            b[i].hs[2] = (weft_header_t){"ce-type", type};
            b[i].hs[3] = (weft_header_t){"ce-specversion", "1.0"};
            b[i].hs[4] = (weft_header_t){"Content-Type", "application/json"};
            weft_delivery_request_t rq = {.headers = b[i].hs,
                                          .nheaders = 5,
                                          .body = (const uint8_t *)b[i].body,
                                          .body_len = strlen(b[i].body),
                                          .done = on_bench_done};
            weft_delivery_submit(dest, &rq, NULL);
        }
        int want = i < total ? i - window / 2 : total;
        pthread_mutex_lock(&done_lock);
        bench_wake_at = want;
        while (bench_completed < want) { /* timed: a signal may come before wake_at moved */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 10000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&bench_cond, &done_lock, &until);
        }
        pthread_mutex_unlock(&done_lock);
    }
    double secs = (double)(weft_now_ns() - t0) / 1e9;
    free(b);
    return secs;
}

/* ---- The policy on its own ---------------------------------------------------------------- */

static void test_the_policy_rules(void) {
    CHECK(weft_delivery_retryable(0));
    unsigned yes[] = {404, 408, 409, 429, 500, 501, 502, 503, 504, 599};
    unsigned no[] = {100, 200, 202, 300, 301, 304, 400, 401, 403, 405, 410, 413, 415, 422};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(weft_delivery_retryable(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(!weft_delivery_retryable(no[i]));

    weft_delivery_policy_t lin = {.backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 100};
    weft_delivery_policy_t exp = {.backoff_policy = WEFT_BACKOFF_EXPONENTIAL,
                                  .backoff_delay_ns = 100};
    CHECK_EQ_INT(weft_delivery_backoff_ns(&lin, 1), 100);
    CHECK_EQ_INT(weft_delivery_backoff_ns(&lin, 3), 300);
    CHECK_EQ_INT(weft_delivery_backoff_ns(&exp, 1), 200);
    CHECK_EQ_INT(weft_delivery_backoff_ns(&exp, 3), 800);
    CHECK(weft_delivery_backoff_ns(&exp, 200) == UINT64_MAX);
    lin.backoff_delay_ns = UINT64_MAX / 2;
    CHECK(weft_delivery_backoff_ns(&lin, 3) == UINT64_MAX);

    uint64_t w = 0;
    int64_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    CHECK(weft_delivery_retry_after_ns("120", now, &w) && w == 120 * 1000000000ull);
    CHECK(weft_delivery_retry_after_ns(" 3 ", now, &w) && w == 3 * 1000000000ull);
    CHECK(weft_delivery_retry_after_ns("99999999999999999999999", now, &w) && w == UINT64_MAX);
    CHECK(weft_delivery_retry_after_ns("Tue, 14 Nov 2023 22:13:25 GMT", now, &w) &&
          w == 5 * 1000000000ull);
    CHECK(weft_delivery_retry_after_ns("Tuesday, 14-Nov-23 22:13:30 GMT", now, &w) &&
          w == 10 * 1000000000ull);
    CHECK(weft_delivery_retry_after_ns("Tue, 14 Nov 2023 22:00:00 GMT", now, &w) && w == 0);
    CHECK(!weft_delivery_retry_after_ns("", now, &w));
    CHECK(!weft_delivery_retry_after_ns("soon", now, &w));
    CHECK(!weft_delivery_retry_after_ns("12abc", now, &w));

    weft_delivery_policy_t p = {.backoff_policy = WEFT_BACKOFF_LINEAR,
                                .backoff_delay_ns = 2000000000ull,
                                .retry_after_max_ns = 10000000000ull};
    /* The larger of the backoff and Retry-After capped by retry_after_max. */
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 429, "5", now), 5000000000ll);
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 503, "60", now), 10000000000ll);
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 503, "1", now), 2000000000ll);
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 500, "5", now), 2000000000ll); /* 429, 503 only */
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 429, "soon", now), 2000000000ll);
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 429, NULL, now), 2000000000ll);
    p.retry_after_max_ns = 0; /* Knative's PT0S: ignored */
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 429, "5", now), 2000000000ll);
    p.retry_after_max_ns = WEFT_DELIVERY_RETRY_AFTER_UNCAPPED;
    CHECK_EQ_INT(weft_delivery_wait_ns(&p, 1, 429, "3600", now), 3600000000000ll);
}

/* ---- URL destinations ----------------------------------------------------------------------- */

static void test_a_2xx_is_delivered_once_with_prefer_reply(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {.retry = 3, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    static sub_t a, b, c;
    int base = done_now();
    CHECK_EQ_INT(submit(dest, &a, "ok-1", "t", "Content-Type", "application/json", "x-body",
                        "hello", "x-reply", "io.reply", NULL),
                 0);
    CHECK_EQ_INT(submit(dest, &b, "ok-2", "t", "x-status", "202", NULL), 0);
    next_no_reply = true; /* a dead-letter send */
    CHECK_EQ_INT(submit(dest, &c, "ok-3", "t", "x-status", "204", NULL), 0);
    CHECK(wait_done(base + 3, 5000));
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(a.result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(a.attempts, 1);
    CHECK_EQ_STR(a.error, "");
    CHECK_EQ_STR(a.out, "hello");
    CHECK_EQ_STR(a.reply_type, "io.reply");
    char url[128];
    CHECK_EQ_STR(a.dest, sink_url(sink, url, sizeof url));
    CHECK_EQ_INT(b.result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(b.status, 202);
    CHECK_EQ_INT(c.result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(c.status, 204);
    CHECK_EQ_INT(sink_count(sink, "ok-1"), 1);
    CHECK_EQ_INT(sink_count(sink, "ok-2"), 1);
    rec_t r = sink_last(sink, "ok-1");
    CHECK_EQ_STR(r.prefer, "reply");
    CHECK_EQ_STR(r.ctype, "application/json");
    CHECK_EQ_INT(r.body_len, strlen("{\"id\":\"ok-1\"}"));
    r = sink_last(sink, "ok-2"); /* no Content-Type given: curl adds none of its own */
    CHECK_EQ_STR(r.ctype, "");
    r = sink_last(sink, "ok-3");
    CHECK_EQ_STR(r.prefer, "");
    weft_delivery_stop(d);
}

static void test_retryable_statuses_are_retried(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {
        .retry = 2, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    const char *statuses[] = {"404", "408", "409", "429", "500", "502", "503", "504", "599"};
    enum { N = sizeof statuses / sizeof *statuses };
    static sub_t s[N + 1];
    char ids[N + 1][32];
    int base = done_now();
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "retry-%s", statuses[i]);
        CHECK_EQ_INT(
            submit(dest, &s[i], ids[i], "t", "x-status", statuses[i], "x-body", "boom", NULL), 0);
    }
    snprintf(ids[N], sizeof ids[N], "retry-close");
    CHECK_EQ_INT(submit(dest, &s[N], ids[N], "t", "x-status", "500", "x-close", "1", NULL), 0);
    CHECK(wait_done(base + N + 1, 10000));
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(s[i].calls, 1);
        CHECK_EQ_INT(s[i].result, WEFT_DELIVERY_FAILED);
        CHECK_EQ_INT(s[i].status, atoi(statuses[i]));
        CHECK_EQ_INT(s[i].attempts, 3);
        CHECK_EQ_INT(sink_count(sink, ids[i]), 3);
        CHECK_EQ_STR(s[i].out, "boom"); /* the last response's body, for knativeerrordata */
        CHECK(strstr(s[i].error, statuses[i]) != NULL);
    }
    CHECK_EQ_INT(s[N].result, WEFT_DELIVERY_FAILED); /* a connection closed: a network error */
    CHECK_EQ_INT(s[N].status, 0);
    CHECK_EQ_INT(s[N].attempts, 3);
    /* curl sends a request again, on another connection, when a kept-alive one dies
     * before any answer (a server closing an idle connection as the request left): the
     * sink may see more than the three attempts. */
    CHECK(sink_count(sink, ids[N]) >= 3);
    CHECK(s[N].error[0] != 0);
    weft_delivery_stop(d);

    /* Nothing listening: connection refused, retried. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd); /* the port is free again, and nothing listens on it */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    d = start(1);
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_delivery_dest_url(d, url, &p, &dest, &err), 0);
    static sub_t refused;
    base = done_now();
    CHECK_EQ_INT(submit(dest, &refused, "refused", "t", NULL), 0);
    CHECK(wait_done(base + 1, 5000));
    CHECK_EQ_INT(refused.result, WEFT_DELIVERY_FAILED);
    CHECK_EQ_INT(refused.status, 0);
    CHECK_EQ_INT(refused.attempts, 3);
    CHECK(strcasestr(refused.error, "refused") != NULL || strcasestr(refused.error, "connect"));
    weft_delivery_stop(d);
}

static void test_other_statuses_are_not_retried(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {
        .retry = 3, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    const char *statuses[] = {"400", "401", "403", "405", "413", "422", "300", "301", "302"};
    enum { N = sizeof statuses / sizeof *statuses };
    static sub_t s[N];
    char ids[N][32];
    int base = done_now();
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "final-%s", statuses[i]);
        CHECK_EQ_INT(submit(dest, &s[i], ids[i], "t", "x-status", statuses[i], NULL), 0);
    }
    CHECK(wait_done(base + N, 5000));
    sleep_ms(50); /* a retry, were there one, would come by now */
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(s[i].calls, 1);
        CHECK_EQ_INT(s[i].result, WEFT_DELIVERY_FAILED);
        CHECK_EQ_INT(s[i].status, atoi(statuses[i]));
        CHECK_EQ_INT(s[i].attempts, 1);
        CHECK_EQ_INT(sink_count(sink, ids[i]), 1);
    }
    weft_delivery_stop(d);
}

static void test_a_retry_can_succeed(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {
        .retry = 5, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    static sub_t s;
    int base = done_now();
    CHECK_EQ_INT(submit(dest, &s, "third-time", "t", "x-status", "503", "x-fail", "2", "x-body",
                        "fine", NULL),
                 0);
    CHECK(wait_done(base + 1, 5000));
    CHECK_EQ_INT(s.result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(s.status, 200);
    CHECK_EQ_INT(s.attempts, 3);
    CHECK_EQ_STR(s.out, "fine");
    CHECK_EQ_INT(sink_count(sink, "third-time"), 3);
    weft_delivery_stop(d);
}

static void test_backoff_timing(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t lin = {
        .retry = 3, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 50 * MS};
    weft_delivery_policy_t exp = {
        .retry = 3, .backoff_policy = WEFT_BACKOFF_EXPONENTIAL, .backoff_delay_ns = 40 * MS};
    weft_delivery_dest_t *dl = url_dest(d, sink, &lin), *de = url_dest(d, sink, &exp);
    static sub_t a, b;
    int base = done_now();
    CHECK_EQ_INT(submit(dl, &a, "linear", "t", "x-status", "500", NULL), 0);
    CHECK_EQ_INT(submit(de, &b, "exponential", "t", "x-status", "500", NULL), 0);
    CHECK(wait_done(base + 2, 5000));
    CHECK_EQ_INT(a.attempts, 4);
    CHECK_EQ_INT(b.attempts, 4);
    double g[8];
    CHECK_EQ_INT(gaps_ms(sink, "linear", g, 8), 3); /* delay x n: 50, 100, 150 */
    CHECK(gap_near(g[0], 50, 100) && gap_near(g[1], 100, 100) && gap_near(g[2], 150, 100));
    CHECK_EQ_INT(gaps_ms(sink, "exponential", g, 8), 3); /* delay x 2^n: 80, 160, 320 */
    CHECK(gap_near(g[0], 80, 100) && gap_near(g[1], 160, 100) && gap_near(g[2], 320, 100));
    weft_delivery_stop(d);
}

static void test_retry_after_is_honoured_on_429_and_503(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t uncapped = {.retry = 1,
                                       .backoff_policy = WEFT_BACKOFF_LINEAR,
                                       .backoff_delay_ns = 10 * MS,
                                       .retry_after_max_ns = WEFT_DELIVERY_RETRY_AFTER_UNCAPPED};
    weft_delivery_policy_t capped = uncapped;
    capped.retry_after_max_ns = 300 * MS;
    weft_delivery_policy_t ignored = uncapped;
    ignored.retry_after_max_ns = 0;
    weft_delivery_dest_t *du = url_dest(d, sink, &uncapped), *dc = url_dest(d, sink, &capped),
                         *di = url_dest(d, sink, &ignored);
    static sub_t s[6];
    int base = done_now();
    CHECK_EQ_INT(submit(du, &s[0], "ra-seconds", "t", "x-status", "429", "x-fail", "1",
                        "x-retry-after", "1", NULL),
                 0);
    CHECK_EQ_INT(submit(du, &s[1], "ra-date", "t", "x-status", "503", "x-fail", "1",
                        "x-retry-after-date", "2", NULL),
                 0);
    CHECK_EQ_INT(submit(dc, &s[2], "ra-capped", "t", "x-status", "503", "x-fail", "1",
                        "x-retry-after", "30", NULL),
                 0);
    CHECK_EQ_INT(submit(du, &s[3], "ra-on-500", "t", "x-status", "500", "x-fail", "1",
                        "x-retry-after", "5", NULL),
                 0);
    CHECK_EQ_INT(submit(di, &s[4], "ra-ignored", "t", "x-status", "429", "x-fail", "1",
                        "x-retry-after", "5", NULL),
                 0);
    CHECK(wait_done(base + 5, 10000));
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(s[i].result, WEFT_DELIVERY_DELIVERED);
        CHECK_EQ_INT(s[i].attempts, 2);
    }
    double g[2];
    CHECK(gaps_ms(sink, "ra-seconds", g, 2) == 1 && gap_near(g[0], 1000, 300));
    /* An HTTP-date two seconds ahead, read at a one-second resolution: 1 to 2 s. */
    CHECK(gaps_ms(sink, "ra-date", g, 2) == 1 && g[0] > 900 && g[0] < 2400);
    CHECK(gaps_ms(sink, "ra-capped", g, 2) == 1 && gap_near(g[0], 300, 200));
    CHECK(gaps_ms(sink, "ra-on-500", g, 2) == 1 && gap_near(g[0], 10, 200));
    CHECK(gaps_ms(sink, "ra-ignored", g, 2) == 1 && gap_near(g[0], 10, 200));
    weft_delivery_stop(d);
}

static void test_each_attempt_is_bounded_by_the_timeout(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {.retry = 1,
                                .backoff_policy = WEFT_BACKOFF_LINEAR,
                                .backoff_delay_ns = 50 * MS,
                                .timeout_ns = 200 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    static sub_t s;
    int base = done_now();
    uint64_t t0 = now_ms();
    CHECK_EQ_INT(submit(dest, &s, "too-slow", "t", "x-delay-ms", "3000", NULL), 0);
    CHECK(wait_done(base + 1, 5000));
    uint64_t took = now_ms() - t0;
    CHECK_EQ_INT(s.result, WEFT_DELIVERY_FAILED);
    CHECK_EQ_INT(s.status, 0);
    CHECK_EQ_INT(s.attempts, 2);
    CHECK(strcasestr(s.error, "timed out") != NULL);
    CHECK(took >= 440 && took < 1500); /* 200 + 50 + 200 ms */
    CHECK_EQ_INT(sink_count(sink, "too-slow"), 2);
    weft_delivery_stop(d);
}

static void test_a_slow_destination_does_not_delay_a_fast_one(sink_t *fast) {
    sink_t *slow = sink_start(2000);
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {.parallelism = 64, .timeout_ns = 10000 * MS};
    weft_delivery_dest_t *ds = url_dest(d, slow, &p), *df = url_dest(d, fast, &p);
    enum { NS = 50, NF = 200 };
    static sub_t s[NS], f[NF];
    char id[32];
    int base = done_now();
    uint64_t t0 = weft_now_ns();
    for (int i = 0; i < NS; i++) {
        snprintf(id, sizeof id, "slow-%d", i);
        CHECK_EQ_INT(submit(ds, &s[i], id, "t", NULL), 0);
    }
    for (int i = 0; i < NF; i++) {
        snprintf(id, sizeof id, "fast-%d", i);
        CHECK_EQ_INT(submit(df, &f[i], id, "t", NULL), 0);
    }
    CHECK(wait_done(base + NS + NF, 10000));
    uint64_t fast_last = 0, slow_first = UINT64_MAX;
    int delivered = 0;
    for (int i = 0; i < NF; i++) {
        delivered += f[i].result == WEFT_DELIVERY_DELIVERED;
        fast_last = f[i].t_ns > fast_last ? f[i].t_ns : fast_last;
    }
    for (int i = 0; i < NS; i++) {
        delivered += s[i].result == WEFT_DELIVERY_DELIVERED;
        slow_first = s[i].t_ns < slow_first ? s[i].t_ns : slow_first;
    }
    CHECK_EQ_INT(delivered, NS + NF);
    printf("fast destination done after %.0f ms, slow one's first after %.0f ms\n",
           (double)(fast_last - t0) / 1e6, (double)(slow_first - t0) / 1e6);
    CHECK(fast_last < slow_first);
    CHECK(fast_last - t0 < 1000 * MS);
    weft_delivery_stop(d);
    sink_stop(slow);

    /* A destination whose attempts time out and are retried, with all its parallelism
     * in use, beside a healthy one. */
    slow = sink_start(5000);
    d = start(1);
    weft_delivery_policy_t tp = {.parallelism = 64,
                                 .retry = 3,
                                 .backoff_policy = WEFT_BACKOFF_LINEAR,
                                 .backoff_delay_ns = 10 * MS,
                                 .timeout_ns = 400 * MS};
    ds = url_dest(d, slow, &tp);
    df = url_dest(d, fast, &p);
    base = done_now();
    for (int i = 0; i < NS; i++) {
        snprintf(id, sizeof id, "timeout-%d", i);
        CHECK_EQ_INT(submit(ds, &s[i], id, "t", NULL), 0);
    }
    sleep_ms(100); /* the slow attempts are in flight */
    t0 = weft_now_ns();
    for (int i = 0; i < NF; i++) {
        snprintf(id, sizeof id, "healthy-%d", i);
        CHECK_EQ_INT(submit(df, &f[i], id, "t", NULL), 0);
    }
    fast_last = 0;
    while (done_now() < base + NF && weft_now_ns() - t0 < 5000 * MS)
        sleep_ms(5);
    int healthy = 0;
    for (int i = 0; i < NF; i++)
        if (f[i].calls == 1 && f[i].result == WEFT_DELIVERY_DELIVERED) {
            healthy++;
            fast_last = f[i].t_ns > fast_last ? f[i].t_ns : fast_last;
        }
    CHECK_EQ_INT(healthy, NF);
    printf("healthy destination done after %.0f ms beside one timing out\n",
           (double)(fast_last - t0) / 1e6);
    CHECK(fast_last - t0 < 1000 * MS);
    weft_delivery_stop(d); /* cancels the rest */
    CHECK(wait_done(base + NF + NS, 1000));
    sink_stop(slow);
}

static void test_connections_are_reused(void) {
    sink_t *sink = sink_start(0);
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {.parallelism = 8};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    enum { N = 400 };
    static sub_t s[N];
    char id[32];
    int base = done_now();
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "reuse-%d", i);
        CHECK_EQ_INT(submit(dest, &s[i], id, "t", NULL), 0);
    }
    CHECK(wait_done(base + N, 10000));
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += s[i].result == WEFT_DELIVERY_DELIVERED;
    CHECK_EQ_INT(ok, N);
    pthread_mutex_lock(&sink->lock);
    int conns = sink->nconn;
    size_t reqs = sink->nrecs;
    pthread_mutex_unlock(&sink->lock);
    printf("%zu deliveries over %d connections (parallelism 8)\n", reqs, conns);
    CHECK_EQ_INT(reqs, N);
    CHECK(conns <= 8);
    /* One at a time: one connection. */
    base = done_now();
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "serial-%d", i);
        CHECK_EQ_INT(submit(dest, &s[i], id, "t", NULL), 0);
        CHECK(wait_done(base + i + 1, 5000));
    }
    pthread_mutex_lock(&sink->lock);
    CHECK_EQ_INT(sink->nconn, conns);
    pthread_mutex_unlock(&sink->lock);
    weft_delivery_stop(d);
    sink_stop(sink);

    /* A server that drops an idle kept-alive connection: the next delivery opens
     * another, and the dropped socket does not keep the delivery thread busy. */
    sink = sink_start(0);
    d = start(1);
    p.parallelism = 1;
    dest = url_dest(d, sink, &p);
    base = done_now();
    CHECK_EQ_INT(submit(dest, &s[0], "idle-1", "t", "x-then-close", "1", NULL), 0);
    CHECK(wait_done(base + 1, 5000));
    double cpu = thread_cpu("weft delivery");
    sleep_ms(300);
    cpu = thread_cpu("weft delivery") - cpu;
    CHECK_EQ_INT(submit(dest, &s[1], "idle-2", "t", NULL), 0);
    CHECK(wait_done(base + 2, 5000));
    CHECK_EQ_INT(s[0].result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(s[1].result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(s[1].attempts, 1);
    pthread_mutex_lock(&sink->lock);
    CHECK_EQ_INT(sink->nconn, 2);
    pthread_mutex_unlock(&sink->lock);
    printf("delivery thread: %.2f s of CPU while a dropped connection idled 0.3 s\n", cpu);
    CHECK(cpu < 0.1);
    weft_delivery_stop(d);
    sink_stop(sink);
}

static void test_a_response_body_is_bounded(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {
        .retry = 2, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    static sub_t a, b;
    char size[32];
    snprintf(size, sizeof size, "%u", WEFT_DELIVERY_MAX_BODY + 1);
    int base = done_now();
    CHECK_EQ_INT(submit(dest, &a, "big-200", "t", "x-body-size", size, NULL), 0);
    CHECK(wait_done(base + 1, 10000));
    CHECK_EQ_INT(submit(dest, &b, "big-500", "t", "x-status", "500", "x-body-size", size, NULL), 0);
    CHECK(wait_done(base + 2, 10000));
    CHECK_EQ_INT(a.result, WEFT_DELIVERY_FAILED); /* a 2xx whose reply cannot be read */
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(a.attempts, 1);
    CHECK(strstr(a.error, "body over 16777216 bytes") != NULL);
    CHECK_EQ_INT(b.result, WEFT_DELIVERY_FAILED); /* a 500: retried as any 500 */
    CHECK_EQ_INT(b.status, 500);
    CHECK_EQ_INT(b.attempts, 3);
    CHECK_EQ_INT(b.out_len, WEFT_DELIVERY_MAX_BODY);
    weft_delivery_stop(d);
}

static void test_bad_input_is_refused(sink_t *sink) {
    weft_delivery_t *d = start(1);
    weft_delivery_dest_t *dest = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_delivery_dest_url(d, "ftp://example.com/x", NULL, &dest, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "ftp://example.com/x") && strstr(err.msg, "http or https"));
    CHECK_EQ_INT(weft_delivery_dest_url(d, "not a url", NULL, &dest, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "'not a url'") != NULL);
    dest = url_dest(d, sink, NULL);
    static sub_t s;
    int base = done_now();
    CHECK_EQ_INT(submit(dest, &s, "bad-header", "t", "x-bad", "a\r\nInjected: yes", NULL),
                 WEFT_EINVAL);
    CHECK_EQ_INT(submit(dest, &s, "bad-name", "t", "x bad", "1", NULL), WEFT_EINVAL);
    sleep_ms(50);
    CHECK_EQ_INT(done_now(), base); /* a refused submission has no callback */
    CHECK_EQ_INT(sink_count(sink, "bad-header"), 0);
    weft_delivery_stop(d);
}

/* ---- Function destinations ------------------------------------------------------------------ */

static weft_function_t *load_target(void) {
    static char wasm[4096];
    snprintf(wasm, sizeof wasm, "%s/ev_target.wasm", getenv("GUESTS"));
    static weft_app_function_t def = {
        .name = "target",
        .entrypoint = "_start",
        .timeout_ns = 5000 * MS,
        .max_memory = 16 << 20,
    };
    def.source = def.wasm = wasm;
    weft_function_opts_t opts = {.quiet = true};
    weft_function_t *fn = NULL;
    weft_error_t err = {0};
    if (weft_invoke_init(&err) || weft_function_load(&def, &opts, &fn, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return fn;
}

static weft_delivery_dest_t *fn_dest(weft_delivery_t *d, weft_function_t *fn, const char *name,
                                     const weft_delivery_policy_t *p) {
    weft_delivery_function_t f = {.fn = fn, .name = name};
    weft_delivery_dest_t *dest = NULL;
    weft_error_t err = {0};
    if (weft_delivery_dest_function(d, &f, p, &dest, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return dest;
}

static void test_a_function_gets_the_event_as_cgi(weft_function_t *fn) {
    weft_delivery_t *d = start(2);
    weft_delivery_policy_t p = {
        .retry = 2, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 1 * MS};
    weft_delivery_dest_t *dest = fn_dest(d, fn, NULL, &p);
    static sub_t a, b, c, e;
    int base = done_now();
    CHECK_EQ_INT(submit(dest, &a, "fn-1", "io.wasm.event", "ce-source", "me", "Content-Type",
                        "application/json", NULL),
                 0);
    CHECK_EQ_INT(submit(dest, &b, "fn-fail", "fail", NULL), 0);
    CHECK_EQ_INT(submit(dest, &c, "fn-trap", "trap", NULL), 0);
    CHECK_EQ_INT(submit(dest, &e, "fn-busy", "busy", NULL), 0);
    CHECK(wait_done(base + 4, 20000));
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(a.result, WEFT_DELIVERY_DELIVERED);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(a.attempts, 1);
    CHECK_EQ_STR(a.dest, "target");
    CHECK_EQ_STR(a.reply_type, "io.wasm.event.transformed");
    CHECK(strstr(a.out, "\nHTTP_CE_ID=fn-1\n") != NULL);
    CHECK(strstr(a.out, "\nHTTP_CE_SOURCE=me\n") != NULL);
    CHECK(strstr(a.out, "\nHTTP_CE_SPECVERSION=1.0\n") != NULL);
    CHECK(strstr(a.out, "\nHTTP_PREFER=reply\n") != NULL);
    CHECK(strstr(a.out, "\nREQUEST_METHOD=POST\n") != NULL);
    CHECK(strstr(a.out, "\nCONTENT_TYPE=application/json\n") != NULL);
    CHECK(strstr(a.out, "\nbody={\"id\":\"fn-1\"}\n") != NULL);
    CHECK_EQ_INT(b.result, WEFT_DELIVERY_FAILED);
    CHECK_EQ_INT(b.status, 500);
    CHECK_EQ_INT(b.attempts, 3);
    CHECK_EQ_STR(b.out, "failed on purpose\n");
    CHECK_EQ_INT(c.result, WEFT_DELIVERY_FAILED); /* a trap is a 500, retried */
    CHECK_EQ_INT(c.status, 500);
    CHECK_EQ_INT(c.attempts, 3);
    CHECK(strstr(c.error, "failed") != NULL);
    CHECK_EQ_INT(e.result, WEFT_DELIVERY_FAILED); /* 503 with Retry-After, ignored by policy */
    CHECK_EQ_INT(e.status, 503);
    CHECK_EQ_INT(e.attempts, 3);
    /* Honoured when the policy says so, as for a URL. */
    weft_delivery_policy_t honour = p;
    honour.retry = 1;
    honour.retry_after_max_ns = WEFT_DELIVERY_RETRY_AFTER_UNCAPPED;
    dest = fn_dest(d, fn, "honour", &honour);
    base = done_now();
    uint64_t t0 = now_ms();
    CHECK_EQ_INT(submit(dest, &e, "fn-busy-2", "busy", NULL), 0);
    CHECK(wait_done(base + 1, 5000));
    uint64_t took = now_ms() - t0;
    CHECK_EQ_INT(e.attempts, 2);
    CHECK(took >= 990 && took < 2500);
    weft_delivery_stop(d);
}

static void test_a_function_attempt_is_bounded_by_the_timeout(weft_function_t *fn) {
    weft_delivery_t *d = start(2);
    weft_delivery_policy_t p = {.retry = 1,
                                .backoff_policy = WEFT_BACKOFF_LINEAR,
                                .backoff_delay_ns = 10 * MS,
                                .timeout_ns = 200 * MS};
    weft_delivery_dest_t *dest = fn_dest(d, fn, "spinner", &p);
    static sub_t s;
    int base = done_now();
    uint64_t t0 = now_ms();
    CHECK_EQ_INT(submit(dest, &s, "fn-spin", "spin", NULL), 0);
    CHECK(wait_done(base + 1, 10000));
    uint64_t took = now_ms() - t0;
    CHECK_EQ_INT(s.result, WEFT_DELIVERY_FAILED);
    CHECK_EQ_INT(s.status, 504);
    CHECK_EQ_INT(s.attempts, 2);
    CHECK(strstr(s.error, "timeout") != NULL);
    CHECK(took >= 400 && took < 2500);
    weft_delivery_stop(d);
}

static void test_a_slow_function_does_not_delay_another(weft_function_t *fn) {
    weft_delivery_t *d = start(2); /* two workers, both taken by the slow calls */
    weft_delivery_policy_t p = {.parallelism = 64};
    weft_delivery_dest_t *ds = fn_dest(d, fn, "slow", &p), *df = fn_dest(d, fn, "fast", &p);
    enum { NS = 6, NF = 20 };
    static sub_t s[NS], f[NF];
    char id[32];
    int base = done_now();
    uint64_t t0 = weft_now_ns();
    for (int i = 0; i < NS; i++) {
        snprintf(id, sizeof id, "fn-slow-%d", i);
        CHECK_EQ_INT(submit(ds, &s[i], id, "sleep", "x-sleep-ms", "1500", NULL), 0);
    }
    sleep_ms(50);
    for (int i = 0; i < NF; i++) {
        snprintf(id, sizeof id, "fn-fast-%d", i);
        CHECK_EQ_INT(submit(df, &f[i], id, "echo", NULL), 0);
    }
    CHECK(wait_done(base + NS + NF, 20000));
    uint64_t fast_last = 0, slow_first = UINT64_MAX;
    for (int i = 0; i < NF; i++) {
        CHECK_EQ_INT(f[i].result, WEFT_DELIVERY_DELIVERED);
        fast_last = f[i].t_ns > fast_last ? f[i].t_ns : fast_last;
    }
    for (int i = 0; i < NS; i++) {
        CHECK_EQ_INT(s[i].result, WEFT_DELIVERY_DELIVERED);
        slow_first = s[i].t_ns < slow_first ? s[i].t_ns : slow_first;
    }
    printf("fast function done after %.0f ms, slow one's first after %.0f ms\n",
           (double)(fast_last - t0) / 1e6, (double)(slow_first - t0) / 1e6);
    CHECK(fast_last < slow_first);
    weft_delivery_stop(d);
}

/* ---- Shutdown ------------------------------------------------------------------------------ */

static void test_stop_cancels_everything_once(sink_t *sink, weft_function_t *fn) {
    sink_t *slow = sink_start(5000);
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t waiting = {
        .retry = 5, .backoff_policy = WEFT_BACKOFF_LINEAR, .backoff_delay_ns = 10000 * MS};
    weft_delivery_policy_t one = {.parallelism = 1};
    weft_delivery_policy_t two = {.parallelism = 2};
    weft_delivery_dest_t *dw = url_dest(d, sink, &waiting);     /* retries waiting */
    weft_delivery_dest_t *di = url_dest(d, slow, &two);         /* 2 in flight, 8 queued */
    weft_delivery_dest_t *df = fn_dest(d, fn, "sleeper", &one); /* 1 running, 3 queued */
    enum { NW = 20, NI = 10, NF = 4 };
    static sub_t w[NW], in[NI], f[NF];
    char id[32];
    int base = done_now();
    for (int i = 0; i < NW; i++) {
        snprintf(id, sizeof id, "stop-wait-%d", i);
        CHECK_EQ_INT(submit(dw, &w[i], id, "t", "x-status", "503", NULL), 0);
    }
    for (int i = 0; i < NI; i++) {
        snprintf(id, sizeof id, "stop-flight-%d", i);
        CHECK_EQ_INT(submit(di, &in[i], id, "t", NULL), 0);
    }
    for (int i = 0; i < NF; i++) {
        snprintf(id, sizeof id, "stop-fn-%d", i);
        CHECK_EQ_INT(submit(df, &f[i], id, "sleep", "x-sleep-ms", "300", NULL), 0);
    }
    w[0].resubmit_to = dw; /* a callback that submits during stop is refused */
    for (int i = 0; i < 200 && sink_count(sink, "stop-wait-19") < 1; i++)
        sleep_ms(10);
    sleep_ms(100);
    CHECK_EQ_INT(done_now(), base); /* nothing reported yet */
    uint64_t t0 = now_ms();
    weft_delivery_stop(d);
    uint64_t took = now_ms() - t0;
    CHECK_EQ_INT(done_now(), base + NW + NI + NF);
    int canceled = 0, once = 0;
    for (int i = 0; i < NW; i++) {
        canceled += w[i].result == WEFT_DELIVERY_CANCELED;
        once += w[i].calls == 1;
    }
    for (int i = 0; i < NI; i++) {
        canceled += in[i].result == WEFT_DELIVERY_CANCELED;
        once += in[i].calls == 1;
    }
    for (int i = 0; i < NF; i++) {
        canceled += f[i].result == WEFT_DELIVERY_CANCELED;
        once += f[i].calls == 1;
    }
    CHECK_EQ_INT(canceled, NW + NI + NF);
    CHECK_EQ_INT(once, NW + NI + NF);
    CHECK_EQ_INT(w[0].resubmit_rc, WEFT_ECANCELED);
    CHECK_EQ_INT(w[1].attempts, 1);
    CHECK(took < 1500); /* the running call (300 ms) is waited for; nothing else */
    sleep_ms(50);
    CHECK_EQ_INT(done_now(), base + NW + NI + NF); /* and nothing more */
    sink_stop(slow);
}

/* ---- A measurement (WEFT_DELIVERY_BENCH=1) -------------------------------------------------- */

static void bench_url(unsigned parallelism, int total) {
    sink_t *sink = sink_start(0);
    sink->quiet = true;
    weft_delivery_t *d = start(1);
    weft_delivery_policy_t p = {.parallelism = parallelism};
    weft_delivery_dest_t *dest = url_dest(d, sink, &p);
    const char *url = getenv("WEFT_DELIVERY_BENCH_URL"); /* another sink (nginx) */
    weft_error_t err = {0};
    if (url && weft_delivery_dest_url(d, url, &p, &dest, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    double secs = bench_run(dest, total, (int)parallelism * 4, "io.bench");
    pthread_mutex_lock(&sink->lock);
    int conns = sink->nconn;
    pthread_mutex_unlock(&sink->lock);
    printf("URL sink%s, parallelism %u: %d deliveries in %.2f s: %.0f/s (%d delivered, %d "
           "connections); delivery thread %.1f us CPU per delivery\n",
           url ? " (external)" : "", parallelism, total, secs, total / secs, (int)bench_delivered,
           url ? 0 : conns, thread_cpu("weft delivery") * 1e6 / total);
    weft_delivery_stop(d);
    sink_stop(sink);
}

static void bench_function(weft_function_t *fn, int total) {
    weft_delivery_t *d = start(0);
    weft_delivery_policy_t p = {.parallelism = 64};
    weft_delivery_dest_t *dest = fn_dest(d, fn, "bench", &p);
    double secs = bench_run(dest, total, 256, "echo");
    printf("function (ev_target echo): %d calls in %.2f s: %.0f/s (%d delivered); workers %.1f us "
           "CPU per call\n",
           total, secs, total / secs, (int)bench_delivered,
           thread_cpu("weft events") * 1e6 / total);
    weft_delivery_stop(d);
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    signal(SIGPIPE, SIG_IGN);
    weft_function_t *fn = load_target();
    if (getenv("WEFT_DELIVERY_BENCH")) {
        int n = atoi(getenv("WEFT_DELIVERY_BENCH"));
        n = n > 1 ? n : 100000;
        bench_url(64, n);
        bench_url(16, n);
        bench_function(fn, n / 4);
        weft_function_release(fn);
        return 0;
    }
    main_thread = pthread_self();
    sink_t *sink = sink_start(0);
    test_the_policy_rules();
    test_a_2xx_is_delivered_once_with_prefer_reply(sink);
    test_retryable_statuses_are_retried(sink);
    test_other_statuses_are_not_retried(sink);
    test_a_retry_can_succeed(sink);
    test_backoff_timing(sink);
    test_retry_after_is_honoured_on_429_and_503(sink);
    test_each_attempt_is_bounded_by_the_timeout(sink);
    test_a_slow_destination_does_not_delay_a_fast_one(sink);
    test_connections_are_reused();
    test_a_response_body_is_bounded(sink);
    test_bad_input_is_refused(sink);
    test_a_function_gets_the_event_as_cgi(fn);
    test_a_function_attempt_is_bounded_by_the_timeout(fn);
    test_a_slow_function_does_not_delay_another(fn);
    test_stop_cancels_everything_once(sink, fn);
    CHECK_EQ_INT(callbacks_on_main, 0); /* not from submit, not from stop */
    sink_stop(sink);
    weft_function_release(fn);
    return TEST_DONE();
}
