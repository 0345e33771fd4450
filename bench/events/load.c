/* The events benchmark's load generator (bench/README.md): HTTP/1.1 keep-alive
 * connections, one request in flight on each, either as fast as answers come or paced
 * at a fixed rate. Each request is a CloudEvent with a unique id and its send time
 * (CLOCK_REALTIME, ns) in a `benchsent` extension and in its data, in binary mode or as
 * a batch (application/cloudevents-batch+json); or, for the reference server, a plain
 * GET.
 *
 * usage: bench_events_load [options] URL [URL...]
 *   -c N          connections (default 64), spread over the threads
 *   -t N          threads, each with its own connections and epoll loop (default 1)
 *   -d SECONDS    how long to send (default 10); the answers still awaited are waited for
 *   -n EVENTS     send this many events and stop (instead of -d)
 *   -R RATE       paced: RATE requests/s in all, open loop; a request's latency counts
 *                 from when it was due, so a server that falls behind is not hidden by
 *                 the generator waiting for it (its send time is the due time as well)
 *   --batch N     N events per request, as a batch (default 1: binary mode)
 *   --get         GET requests and no event (expects 200)
 *   --type TYPE   the events' type (default bench.event)
 *   --id-prefix P the events' ids are P-N, N counting from 0 (default P: the process id
 *                 and the time); N is also "seq" in the data
 *   --expect S    the status that counts as success (default 202; 200 with --get)
 *
 * With several URLs (several servers sharing one broker), connection k goes to URL k mod
 * the number of URLs: the load is split evenly, with one count of seqs over all of them.
 *
 * It prints one line on stdout: "requests R events E ok_events O errors X seconds S
 * req_per_s Q events_per_s V p50_ms A p99_ms B max_ms C" (latency from send, or due
 * time, to the whole answer), then, paced, "behind N" (requests due but not yet sent
 * when sending stopped); and on stderr what the errors were.
 *
 * The answers are parsed with picohttpparser as bundled in libh2o-evloop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

/* picohttpparser's API: libh2o-evloop exports it, Debian ships no header for it. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
                       const char **msg, size_t *msg_len, struct phr_header *headers,
                       size_t *num_headers, size_t last_len);

#define LOAD_MAX_THREADS 64
#define LOAD_MAX_HEADERS 64
#define LOAD_IN_CAP (64u << 10) /* an answer (head and body) larger than this is an error */
#define LOAD_HEAD_MAX 1024      /* room for a request's head before its body */
#define LOAD_EVENT_MAX 512      /* bytes of one event in a batch, at most */
#define LOAD_DRAIN_NS (10ull * 1000000000ull) /* how long answers are awaited after the end */
#define LOAD_MAX_URLS 16

/* A URL the requests go to. */
typedef struct target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char hostport[256];
    char path[1024];
} target_t;

typedef struct conn {
    const target_t *to;
    int fd;
    bool busy, want_out;
    uint64_t since; /* monotonic ns the request in flight was sent or due */
    unsigned events;
    char *buf; /* LOAD_HEAD_MAX + body */
    size_t buf_cap;
    const char *out;
    size_t out_len;
    char in[LOAD_IN_CAP];
    size_t in_len;
} conn_t;

typedef struct worker {
    int index;
    pthread_t thread;
    int nconns;
    conn_t *conns;
    int ep;
    double rate;       /* requests/s of this thread; 0: as fast as answers come */
    uint64_t quota;    /* events left to send (-n), UINT64_MAX: no limit */
    uint64_t requests; /* answers received, ok or not */
    uint64_t events, ok_events, errors, closed;
    uint64_t status_count[600];
    uint64_t behind;
    uint64_t first_ns, last_ns; /* monotonic: start, last answer */
    bench_hist_t hist;
} worker_t;

static struct {
    target_t urls[LOAD_MAX_URLS];
    int nurls;
    int connections, threads, batch, expect;
    double seconds, rate;
    uint64_t count; /* 0: -d */
    bool get;
    const char *type;
    char id_prefix[64];
} opt = {.connections = 64, .threads = 1, .batch = 1, .seconds = 10, .type = "bench.event"};

/* The events' sequence numbers, over all threads: each id is the prefix and one of them,
 * and the sink counts the ones it gets twice. */
static _Atomic uint64_t next_seq;

static uint64_t clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "bench_events_load: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static int conn_open(worker_t *w, conn_t *c) {
    c->fd = socket(c->to->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&c->to->addr, c->to->addr_len)) {
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = c->want_out = false;
    c->in_len = 0;
    return 0;
}

static void conn_close(worker_t *w, conn_t *c) {
    if (c->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
}

/* The request for the next event(s), stamped with sent (realtime ns), into c->out. */
static void build_request(worker_t *w, conn_t *c, uint64_t sent) {
    char head[LOAD_HEAD_MAX];
    int hl;
    char *body = c->buf + LOAD_HEAD_MAX;
    size_t bl = 0;
    c->events = 0;
    if (opt.get) {
        hl = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", c->to->path,
                      c->to->hostport);
    } else if (opt.batch == 1) {
        uint64_t seq = atomic_fetch_add(&next_seq, 1);
        c->events = 1;
        bl = (size_t)snprintf(body, c->buf_cap - LOAD_HEAD_MAX,
                              "{\"seq\":%" PRIu64 ",\"benchsent\":%" PRIu64 "}", seq, sent);
        hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nce-specversion: 1.0\r\n"
                      "ce-id: %s-%" PRIu64 "\r\nce-source: bench\r\nce-type: %s\r\n"
                      "ce-benchsent: %" PRIu64 "\r\ncontent-type: application/json\r\n"
                      "content-length: %zu\r\n\r\n",
                      c->to->path, c->to->hostport, opt.id_prefix, seq, opt.type, sent, bl);
    } else {
        body[bl++] = '[';
        for (int i = 0; i < opt.batch && w->quota > (uint64_t)c->events; i++) {
            uint64_t seq = atomic_fetch_add(&next_seq, 1);
            c->events++;
            bl += (size_t)snprintf(
                body + bl, LOAD_EVENT_MAX,
                "%s{\"specversion\":\"1.0\",\"id\":\"%s-%" PRIu64
                "\",\"source\":\"bench\",\"type\":\"%s\",\"benchsent\":\"%" PRIu64
                "\",\"datacontenttype\":\"application/json\",\"data\":{\"seq\":%" PRIu64
                ",\"benchsent\":%" PRIu64 "}}",
                i ? "," : "", opt.id_prefix, seq, opt.type, sent, seq, sent);
        }
        body[bl++] = ']';
        hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\n"
                      "content-type: application/cloudevents-batch+json\r\n"
                      "content-length: %zu\r\n\r\n",
                      c->to->path, c->to->hostport, bl);
    }
    memcpy(body - hl, head, (size_t)hl);
    c->out = body - hl;
    c->out_len = (size_t)hl + bl;
    if (w->quota != UINT64_MAX)
        w->quota -= c->events < w->quota ? c->events : w->quota;
}

static void set_out(worker_t *w, conn_t *c, bool on) {
    if (c->want_out == on)
        return;
    c->want_out = on;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A request failed on c (no answer): its events are errors; c connects again. */
static void conn_failed(worker_t *w, conn_t *c) {
    w->requests++;
    w->errors += c->events ? c->events : 1;
    w->closed++;
    conn_close(w, c);
    conn_open(w, c);
}

static void flush_out(worker_t *w, conn_t *c) {
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            set_out(w, c, true);
            return;
        }
        if (n <= 0) {
            conn_failed(w, c);
            return;
        }
        c->out += n;
        c->out_len -= (size_t)n;
    }
    set_out(w, c, false);
}

/* Sends the next request on idle connection c; since: monotonic ns it counts from. */
static void send_request(worker_t *w, conn_t *c, uint64_t since, uint64_t mono_to_real) {
    build_request(w, c, since + mono_to_real);
    c->since = since;
    c->busy = true;
    c->in_len = 0;
    w->events += c->events;
    flush_out(w, c);
}

/* Reads what c received; records the answer once it is whole. */
static void on_readable(worker_t *w, conn_t *c) {
    for (;;) {
        if (c->in_len == sizeof c->in) {
            conn_failed(w, c); /* too large an answer */
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            if (c->busy)
                conn_failed(w, c);
            else {
                w->closed++;
                conn_close(w, c);
                conn_open(w, c);
            }
            return;
        }
        c->in_len += (size_t)n;
    }
    if (!c->busy)
        return;
    struct phr_header h[LOAD_MAX_HEADERS];
    size_t nh = LOAD_MAX_HEADERS, msg_len;
    int minor, status;
    const char *msg;
    int head = phr_parse_response(c->in, c->in_len, &minor, &status, &msg, &msg_len, h, &nh, 0);
    if (head == -2)
        return; /* more to come */
    size_t clen = 0;
    bool close_after = false, has_len = false;
    for (size_t i = 0; head > 0 && i < nh; i++) {
        if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14)) {
            clen = strtoull(h[i].value, NULL, 10);
            has_len = true;
        } else if (h[i].name_len == 10 && !strncasecmp(h[i].name, "connection", 10) &&
                   h[i].value_len == 5 && !strncasecmp(h[i].value, "close", 5)) {
            close_after = true;
        }
    }
    if (head < 0 || (!has_len && status != 204 && status != 304)) {
        conn_failed(w, c); /* not HTTP, or a body without a length (chunked): not expected */
        return;
    }
    if (c->in_len < (size_t)head + clen)
        return;
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    w->requests++;
    w->status_count[status > 0 && status < 600 ? status : 0]++;
    if (status == opt.expect) {
        w->ok_events += c->events;
        bench_hist_add(&w->hist, now - c->since);
    } else {
        w->errors += c->events ? c->events : 1;
    }
    w->last_ns = now;
    c->busy = false;
    c->in_len = 0;
    if (close_after) {
        w->closed++;
        conn_close(w, c);
        conn_open(w, c);
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        c->buf_cap = LOAD_HEAD_MAX + (size_t)opt.batch * LOAD_EVENT_MAX + 16;
        c->buf = malloc(c->buf_cap);
        if (!c->buf || conn_open(w, c)) {
            fprintf(stderr, "bench_events_load: cannot connect to %s: %s\n", c->to->hostport,
                    strerror(errno));
            exit(1);
        }
    }
    uint64_t mono_to_real = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    uint64_t start = clock_ns(CLOCK_MONOTONIC);
    uint64_t stop = opt.count ? UINT64_MAX : start + (uint64_t)(opt.seconds * 1e9);
    uint64_t interval = w->rate > 0 ? (uint64_t)(1e9 / w->rate) : 0, due = start;
    w->first_ns = w->last_ns = start;
    struct epoll_event evs[256];
    bool sending = true;
    uint64_t drain_by = 0;
    for (;;) {
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (sending && (now >= stop || w->quota == 0)) {
            sending = false;
            drain_by = now + LOAD_DRAIN_NS;
            if (interval && due <= now)
                w->behind = (now - due) / interval + 1;
        }
        int busy = 0;
        for (int i = 0; i < w->nconns; i++) {
            conn_t *c = &w->conns[i];
            if (sending && !c->busy && c->fd >= 0 && w->quota && (!interval || due <= now)) {
                send_request(w, c, interval ? due : now, mono_to_real);
                if (interval)
                    due += interval;
            }
            busy += c->busy;
        }
        if (!sending && (busy == 0 || now >= drain_by))
            break;
        struct timespec ts = {0, 0};
        uint64_t wait = 1000000000ull; /* at most 1 s, so that the end is seen */
        if (sending && stop - now < wait)
            wait = stop - now;
        if (sending && interval) {
            bool idle = false;
            for (int i = 0; i < w->nconns && !idle; i++)
                idle = !w->conns[i].busy;
            if (idle)
                wait = due > now ? due - now : 0;
        }
        ts.tv_sec = (time_t)(wait / 1000000000ull);
        ts.tv_nsec = (long)(wait % 1000000000ull);
        int n = epoll_pwait2(w->ep, evs, 256, &ts, NULL);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT)
                flush_out(w, c);
            if (c->fd >= 0 && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(w, c);
        }
    }
    for (int i = 0; i < w->nconns; i++) {
        if (w->conns[i].busy)
            w->errors += w->conns[i].events ? w->conns[i].events : 1; /* never answered */
        conn_close(w, &w->conns[i]);
        free(w->conns[i].buf);
    }
    close(w->ep);
    return NULL;
}

static void parse_url(target_t *t, const char *url) {
    if (strncmp(url, "http://", 7))
        die("the URL must start with http:// (got '%s')", url);
    const char *hp = url + 7, *slash = strchr(hp, '/');
    size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
    if (!hl || hl >= sizeof t->hostport)
        die("no host in '%s'", url);
    memcpy(t->hostport, hp, hl);
    t->hostport[hl] = 0;
    snprintf(t->path, sizeof t->path, "%s", slash ? slash : "/");
    char host[256];
    const char *port = "80", *colon = strrchr(t->hostport, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon ? (size_t)(colon - t->hostport) : hl),
             t->hostport);
    if (colon)
        port = colon + 1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res))
        die("cannot resolve '%s'", t->hostport);
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
}

static double number(const char *name, const char *v, double min, double max) {
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || d < min || d > max)
        die("%s needs a number in range", name);
    return d;
}

int main(int argc, char **argv) {
    const char *urls[LOAD_MAX_URLS];
    snprintf(opt.id_prefix, sizeof opt.id_prefix, "%d-%" PRIu64, (int)getpid(),
             clock_ns(CLOCK_REALTIME) / 1000000);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-c"))
            opt.connections = (int)number(a, v, 1, 100000), i++;
        else if (!strcmp(a, "-t"))
            opt.threads = (int)number(a, v, 1, LOAD_MAX_THREADS), i++;
        else if (!strcmp(a, "-d"))
            opt.seconds = number(a, v, 0.001, 86400), i++;
        else if (!strcmp(a, "-n"))
            opt.count = (uint64_t)number(a, v, 1, 1e12), i++;
        else if (!strcmp(a, "-R"))
            opt.rate = number(a, v, 0, 1e8), i++;
        else if (!strcmp(a, "--batch"))
            opt.batch = (int)number(a, v, 1, 10000), i++;
        else if (!strcmp(a, "--expect"))
            opt.expect = (int)number(a, v, 100, 599), i++;
        else if (!strcmp(a, "--type") && v)
            opt.type = v, i++;
        else if (!strcmp(a, "--id-prefix") && v && strlen(v) < sizeof opt.id_prefix)
            snprintf(opt.id_prefix, sizeof opt.id_prefix, "%s", v), i++;
        else if (!strcmp(a, "--get"))
            opt.get = true;
        else if (a[0] == '-')
            die("unknown or incomplete argument '%s' (see the comment at the top of load.c)", a);
        else if (opt.nurls == LOAD_MAX_URLS)
            die("%s", "too many URLs");
        else
            urls[opt.nurls++] = a;
    }
    if (!opt.nurls)
        die("%s", "no URL");
    if (opt.nurls > opt.connections)
        die("%s", "more URLs than connections (-c)");
    if (opt.threads > opt.connections)
        die("%s", "-t is more than -c: each thread needs a connection");
    if (opt.get && opt.batch > 1)
        die("%s", "--get and --batch do not go together");
    if (!opt.expect)
        opt.expect = opt.get ? 200 : 202;
    for (int i = 0; i < opt.nurls; i++)
        parse_url(&opt.urls[i], urls[i]);
    signal(SIGPIPE, SIG_IGN);

    worker_t *ws = calloc((size_t)opt.threads, sizeof *ws);
    if (!ws)
        die("%s", "out of memory");
    for (int i = 0, k = 0; i < opt.threads; i++) {
        worker_t *w = &ws[i];
        w->index = i;
        w->nconns = opt.connections / opt.threads + (i < opt.connections % opt.threads);
        w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
        for (int j = 0; w->conns && j < w->nconns; j++, k++)
            w->conns[j].to = &opt.urls[k % opt.nurls];
        w->rate = opt.rate / opt.threads;
        w->quota = UINT64_MAX;
        if (opt.count)
            w->quota = opt.count / (uint64_t)opt.threads +
                       ((uint64_t)i < opt.count % (uint64_t)opt.threads);
        if (!w->conns)
            die("%s", "out of memory");
    }
    for (int i = 0; i < opt.threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]))
            die("%s", "cannot start a thread");
    bench_hist_t *all = calloc(1, sizeof *all);
    uint64_t requests = 0, events = 0, ok = 0, errors = 0, closed = 0, behind = 0, first = 0,
             last = 0, status[600] = {0};
    for (int i = 0; i < opt.threads; i++) {
        worker_t *w = &ws[i];
        pthread_join(w->thread, NULL);
        bench_hist_merge(all, &w->hist);
        requests += w->requests;
        events += w->events;
        ok += w->ok_events;
        errors += w->errors;
        closed += w->closed;
        behind += w->behind;
        for (int s = 0; s < 600; s++)
            status[s] += w->status_count[s];
        if (!first || w->first_ns < first)
            first = w->first_ns;
        if (w->last_ns > last)
            last = w->last_ns;
    }
    double secs = (double)(last - first) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    printf("requests %" PRIu64 " events %" PRIu64 " ok_events %" PRIu64 " errors %" PRIu64
           " seconds %.3f req_per_s %.1f events_per_s %.1f p50_ms %.3f p99_ms %.3f max_ms %.3f",
           requests, events, ok, errors, secs, (double)all->n / secs, (double)ok / secs,
           (double)bench_hist_quantile(all, 0.50) / 1e6,
           (double)bench_hist_quantile(all, 0.99) / 1e6, (double)all->max / 1e6);
    if (opt.rate > 0)
        printf(" behind %" PRIu64, behind);
    printf("\n");
    for (int s = 0; s < 600; s++)
        if (status[s] && s != opt.expect)
            fprintf(stderr, "bench_events_load: %" PRIu64 " answers with status %d\n", status[s],
                    s);
    if (closed)
        fprintf(stderr, "bench_events_load: %" PRIu64 " connections closed or failed\n", closed);
    return 0;
}
