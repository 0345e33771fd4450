/* The events benchmark's sink (bench/README.md): an HTTP/1.1 server on h2o that answers
 * every event at once with 200 and no body, and measures each event's end-to-end
 * latency: now (CLOCK_REALTIME) minus the send time the load generator put in the
 * event, from its `ce-benchsent` header (binary mode) or, when a transform dropped the
 * extension, from `"benchsent":N` in its data. It also counts the events it gets more
 * than once, by the `"seq":N` in their data (the load generator numbers its events).
 *
 * usage: bench_events_sink [--listen HOST:PORT] [--port-file FILE] [-t THREADS]
 *
 *   GET  /stats   one line: events, seconds from the first to the last, their rate,
 *                 p50/p99/max latency in ms, events without a send time, events got
 *                 again (same seq), and the first and last arrival (ns since the epoch)
 *   POST /reset   starts counting afresh
 *   POST (other)  an event
 *
 * The port it listens on (port 0: the kernel picks one) is written to --port-file once
 * it accepts connections. Threads share the listening socket, each with its own loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
/* h2o: the event-loop build (libh2o-evloop), not the libuv one. */
#define H2O_USE_EPOLL 1
#include <h2o.h>

#include "hist.h"

#define SINK_MAX_THREADS 16
/* Sequence numbers followed for duplicates: below this (a bit each). */
#define SINK_MAX_SEQ (1ull << 28)

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static bench_hist_t stats_hist;
static uint64_t stats_unstamped, stats_first, stats_last, stats_again;
static uint8_t *seen;     /* a bit per seq, SINK_MAX_SEQ / 8 bytes; cleared by /reset */
static uint64_t seen_max; /* bytes of seen written since the last reset */

static h2o_globalconf_t config;
static int listen_fd = -1;

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The decimal number at p (at most len bytes, an optional opening quote); 0 if none
 * (the load generator's first event has seq 0: its duplicates are not seen). */
static uint64_t parse_ns(const char *p, size_t len) {
    uint64_t v = 0;
    size_t i = 0;
    if (i < len && p[i] == '"')
        i++;
    size_t start = i;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && i - start < 19; i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    return i > start ? v : 0;
}

/* The number after key (a JSON member name with its colon) in the body of req; 0 when
 * absent. */
static uint64_t body_number(h2o_req_t *req, const char *key, size_t key_len) {
    const char *body = req->entity.base;
    size_t len = req->entity.len;
    if (!body || len <= key_len)
        return 0;
    const char *hit = memmem(body, len, key, key_len);
    if (!hit)
        return 0;
    hit += key_len;
    while (hit < body + len && *hit == ' ')
        hit++;
    return parse_ns(hit, (size_t)(body + len - hit));
}

/* The send time of the event in req: its ce-benchsent header, else "benchsent": in its
 * body. */
static uint64_t sent_ns(h2o_req_t *req) {
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("ce-benchsent"), -1);
    if (i >= 0)
        return parse_ns(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    return body_number(req, H2O_STRLIT("\"benchsent\":"));
}

static void answer(h2o_req_t *req, int status, const char *text, size_t len) {
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Not Found";
    if (len)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("text/plain"));
    req->res.content_length = len;
    h2o_send_inline(req, text, len);
}

static void answer_stats(h2o_req_t *req) {
    pthread_mutex_lock(&stats_lock);
    uint64_t n = stats_hist.n + stats_unstamped, first = stats_first, last = stats_last;
    double p50 = (double)bench_hist_quantile(&stats_hist, 0.50) / 1e6;
    double p99 = (double)bench_hist_quantile(&stats_hist, 0.99) / 1e6;
    double max = (double)stats_hist.max / 1e6;
    uint64_t unstamped = stats_unstamped, again = stats_again;
    pthread_mutex_unlock(&stats_lock);
    double secs = n > 1 ? (double)(last - first) / 1e9 : 0;
    char *line = h2o_mem_alloc_pool(&req->pool, 512);
    int len = snprintf(line, 512,
                       "events %" PRIu64 " seconds %.3f rate %.1f p50_ms %.3f p99_ms %.3f max_ms "
                       "%.3f unstamped %" PRIu64 " again %" PRIu64 " first_ns %" PRIu64
                       " last_ns %" PRIu64 "\n",
                       n, secs, secs > 0 ? (double)(n - 1) / secs : 0, p50, p99, max, unstamped,
                       again, first, last);
    answer(req, 200, line, (size_t)len);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/stats"))) {
        answer_stats(req);
        return 0;
    }
    if (!get &&
        h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/reset"))) {
        pthread_mutex_lock(&stats_lock);
        bench_hist_reset(&stats_hist);
        stats_unstamped = stats_first = stats_last = stats_again = 0;
        memset(seen, 0, seen_max);
        seen_max = 0;
        pthread_mutex_unlock(&stats_lock);
        answer(req, 200, "", 0);
        return 0;
    }
    if (get) {
        answer(req, 404, "", 0);
        return 0;
    }
    uint64_t now = realtime_ns(), sent = sent_ns(req);
    uint64_t seq = body_number(req, H2O_STRLIT("\"seq\":"));
    pthread_mutex_lock(&stats_lock);
    if (seq && seq < SINK_MAX_SEQ) {
        uint8_t bit = (uint8_t)(1u << (seq & 7));
        stats_again += (seen[seq >> 3] & bit) != 0;
        seen[seq >> 3] |= bit;
        if ((seq >> 3) + 1 > seen_max)
            seen_max = (seq >> 3) + 1;
    }
    if (sent)
        bench_hist_add(&stats_hist, now > sent ? now - sent : 0);
    else
        stats_unstamped++;
    if (!stats_first)
        stats_first = now;
    stats_last = now;
    pthread_mutex_unlock(&stats_lock);
    answer(req, 200, "", 0);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    if (err)
        return;
    h2o_accept_ctx_t *actx = listener->data;
    h2o_socket_t *sock;
    /* A few at a time: another thread may take them as well (NULL: none left). */
    for (int i = 0; i < 16 && (sock = h2o_evloop_socket_accept(listener)); i++)
        h2o_accept(actx, sock);
}

static void *loop_main(void *arg) {
    (void)arg;
    h2o_context_t ctx;
    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    h2o_accept_ctx_t actx = {.ctx = &ctx, .hosts = config.hosts};
    h2o_socket_t *listener =
        h2o_evloop_socket_create(ctx.loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = &actx;
    h2o_socket_read_start(listener, on_accept);
    for (;;)
        h2o_evloop_run(ctx.loop, INT32_MAX);
    return NULL;
}

static int usage(const char *why) {
    fprintf(stderr,
            "bench_events_sink: %s\n"
            "usage: bench_events_sink [--listen HOST:PORT] [--port-file FILE] [-t THREADS]\n",
            why);
    return 2;
}

int main(int argc, char **argv) {
    const char *listen_at = "127.0.0.1:0", *port_file = NULL;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_at = argv[++i];
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            return usage("unknown argument");
    }
    if (threads < 1 || threads > SINK_MAX_THREADS)
        return usage("-t is 1 to 16");
    const char *colon = strrchr(listen_at, ':');
    if (!colon)
        return usage("--listen needs HOST:PORT");
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen_at), listen_at);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return usage("--listen: not an IPv4 address");

    signal(SIGPIPE, SIG_IGN);
    /* Untouched pages cost nothing: only the part of it the runs' numbers reach. */
    if (!(seen = calloc(SINK_MAX_SEQ / 8, 1))) {
        fprintf(stderr, "bench_events_sink: out of memory\n");
        return 1;
    }
    int one = 1;
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
        bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) || listen(listen_fd, 4096)) {
        fprintf(stderr, "bench_events_sink: cannot listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }
    socklen_t salen = sizeof sa;
    getsockname(listen_fd, (struct sockaddr *)&sa, &salen);

    h2o_config_init(&config);
    config.max_request_entity_size = 64u << 20;
    h2o_hostconf_t *hc =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_request;

    pthread_t tid[SINK_MAX_THREADS];
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[i], NULL, loop_main, NULL)) {
            fprintf(stderr, "bench_events_sink: cannot start a thread\n");
            return 1;
        }
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(f) ||
            rename(tmp, port_file)) {
            fprintf(stderr, "bench_events_sink: cannot write %s\n", port_file);
            return 1;
        }
    }
    loop_main(NULL);
    return 0;
}
