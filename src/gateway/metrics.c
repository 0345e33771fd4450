/* metrics: GET /_weft/metrics, and what the gateway counts of every request.
 *
 * Every request h2o hands to weft is counted once h2o is done with it (its answer
 * written, or its client gone), by an h2o logger on the I/O thread that served it: the
 * count of its route and status class, and its duration, into util's registry (no lock:
 * each thread counts into a block of its own). The same logger writes the access log.
 * What the logger needs of the request (its id and its route's series) rides in the
 * request's memory pool, found through req->env under a key of weft's.
 *
 * The exposition is util's registry (counters and histograms any layer keeps: guests,
 * compiles, outbound HTTP, deliveries' durations), then the figures read at scrape
 * time: the gateway's own (requests in flight, readiness) and the events layer's
 * counts of brokers and triggers, the very counters /_weft/describe shows (never
 * counted twice).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define WEFT_REQ_INFO_KEY "weft.request"

/* ---- Route metrics -------------------------------------------------------------------- */

typedef struct route_entry {
    struct route_entry *next;
    route_metrics_t m;
    char pattern[];
} route_entry_t;

static pthread_mutex_t routes_lock = PTHREAD_MUTEX_INITIALIZER;
static route_entry_t *routes; /* every pattern ever routed; never freed (as the series) */

const route_metrics_t *weft_gateway_route_metrics(const char *pattern) {
    static const char *const classes[] = {"2xx", "3xx", "4xx", "5xx"};
    pthread_mutex_lock(&routes_lock);
    route_entry_t *e = routes;
    while (e && strcmp(e->pattern, pattern))
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e + strlen(pattern) + 1))) {
        strcpy(e->pattern, pattern);
        char route[600] = "";
        bool ok = weft_metric_label(route, sizeof route, "route", pattern);
        for (size_t i = 0; ok && i < 4; i++) {
            char labels[700];
            snprintf(labels, sizeof labels, "%s", route);
            ok = weft_metric_label(labels, sizeof labels, "code_class", classes[i]) &&
                 (e->m.by_class[i] =
                      weft_metric_series("weft_http_requests_total",
                                         "HTTP requests answered, by route and status class",
                                         WEFT_METRIC_COUNTER, labels, NULL));
        }
        ok = ok && (e->m.duration = weft_metric_series(
                        "weft_http_request_duration_seconds",
                        "From a request read whole to its answer written, by route",
                        WEFT_METRIC_HISTOGRAM, route, NULL));
        if (ok) {
            e->next = routes;
            routes = e;
        } else {
            free(e);
            e = NULL;
        }
    }
    pthread_mutex_unlock(&routes_lock);
    return e ? &e->m : NULL;
}

/* ---- Per request ---------------------------------------------------------------------- */

req_info_t *weft_gateway_req_info_set(h2o_req_t *req, uint64_t id, const route_metrics_t *metrics) {
    req_info_t *info = h2o_mem_alloc_pool(&req->pool, sizeof *info);
    info->id = id;
    info->start_ns = weft_now_ns();
    info->metrics = metrics;
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(WEFT_REQ_INFO_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init((const char *)info, sizeof *info);
    return info;
}

static req_info_t *req_info(h2o_req_t *req) {
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len,
                      H2O_STRLIT(WEFT_REQ_INFO_KEY)) &&
            req->env.entries[i + 1].len == sizeof(req_info_t))
            return (req_info_t *)req->env.entries[i + 1].base;
    return NULL;
}

typedef struct logger {
    h2o_logger_t super;
    weft_gateway_t *gw;
} logger_t;

/* Appends s to the line as Apache writes a quoted field: '"', '\' and bytes outside
 * printable ASCII as \xHH. */
static size_t put_escaped(char *out, size_t n, size_t cap, const char *s, size_t len) {
    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    return n;
}

static const h2o_iovec_t *header_value(const h2o_req_t *req, const h2o_token_t *token) {
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? NULL : &req->headers.entries[i].value;
}

/* One line of the access log: Apache's combined format, then the duration in seconds
 * and the request id ("-" for none), written with one write(2) (O_APPEND): lines of
 * several I/O threads never interleave, and no lock is taken. */
static void access_line(int fd, h2o_req_t *req, uint64_t id, uint64_t ns) {
    char line[4096], host[INET6_ADDRSTRLEN] = "-";
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    else if (sl && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    time_t now = req->processed_at.at.tv_sec ? req->processed_at.at.tv_sec : time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[64];
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    size_t cap = sizeof line - 160; /* room for what follows the request line */
    size_t n = (size_t)snprintf(line, sizeof line, "%s - - [%s] \"", host, when);
    n = put_escaped(line, n, cap, req->input.method.base, req->input.method.len);
    line[n++] = ' ';
    n = put_escaped(line, n, cap, req->input.path.base, req->input.path.len);
    char proto[24];
    if (req->version >= 0x200)
        snprintf(proto, sizeof proto, "HTTP/2");
    else
        snprintf(proto, sizeof proto, "HTTP/%d.%d", req->version >> 8, req->version & 0xff);
    n += (size_t)snprintf(line + n, sizeof line - n, " %s\" %d ", proto, req->res.status);
    if (req->bytes_sent)
        n += (size_t)snprintf(line + n, sizeof line - n, "%zu \"", req->bytes_sent);
    else
        n += (size_t)snprintf(line + n, sizeof line - n, "- \"");
    const h2o_iovec_t *ref = header_value(req, H2O_TOKEN_REFERER);
    const h2o_iovec_t *ua = header_value(req, H2O_TOKEN_USER_AGENT);
    cap = sizeof line - 80;
    if (ref)
        n = put_escaped(line, n, cap, ref->base, ref->len);
    else
        line[n++] = '-';
    n += (size_t)snprintf(line + n, sizeof line - n, "\" \"");
    if (ua)
        n = put_escaped(line, n, cap, ua->base, ua->len);
    else
        line[n++] = '-';
    char rid[24] = "-";
    if (id)
        snprintf(rid, sizeof rid, "%" PRIu64, id);
    n += (size_t)snprintf(line + n, sizeof line - n, "\" %" PRIu64 ".%06" PRIu64 " %s\n",
                          (uint64_t)(ns / 1000000000u), (uint64_t)(ns % 1000000000u / 1000u), rid);
    ssize_t w = write(fd, line, n < sizeof line ? n : sizeof line - 1);
    (void)w;
}

/* h2o is done with req (on its I/O thread): count it, log it. */
static void log_access(h2o_logger_t *self, h2o_req_t *req) {
    logger_t *lg = (logger_t *)self;
    req_info_t *info = req_info(req);
    if (!info)
        return; /* not one weft's handler saw */
    /* h2o's timestamps are its loop's clock, the same for everything one turn of the
     * loop does: a request answered in the turn it arrived in would last 0 s. */
    uint64_t ns = weft_now_ns() - info->start_ns;
    int status = req->res.status;
    if (info->metrics) {
        size_t cls = status < 300 ? 0 : status < 400 ? 1 : status < 500 ? 2 : 3;
        weft_metric_add(info->metrics->by_class[cls], 1);
        weft_metric_observe_ns(info->metrics->duration, ns);
    }
    if (lg->gw->access_log_fd >= 0)
        access_line(lg->gw->access_log_fd, req, info->id, ns);
}

void weft_gateway_logger_setup(weft_gateway_t *gw, h2o_pathconf_t *path) {
    logger_t *lg = (logger_t *)h2o_create_logger(path, sizeof *lg);
    lg->super.log_access = log_access;
    lg->gw = gw;
}

/* ---- The exposition ------------------------------------------------------------------ */

typedef struct figures {
    weft_events_figures_t *v;
    size_t n, cap;
    bool oom;
} figures_t;

static void on_figures(void *arg, const weft_events_figures_t *f) {
    figures_t *fs = arg;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? 2 * fs->cap : 16;
        weft_events_figures_t *v = realloc(fs->v, cap * sizeof *v);
        if (!v) {
            fs->oom = true;
            return;
        }
        fs->v = v;
        fs->cap = cap;
    }
    fs->v[fs->n++] = *f; /* names borrowed: the running conf outlives the scrape's hold */
}

/* One family of the events' figures: HELP, TYPE, a line per broker (trigger false) or
 * per trigger. */
static int events_family(weft_buf_t *out, const figures_t *fs, bool trigger, const char *name,
                         const char *type, const char *help, size_t offset) {
    int rc = weft_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t i = 0; i < fs->n && !rc; i++) {
        const weft_events_figures_t *f = &fs->v[i];
        if ((f->trigger != NULL) != trigger)
            continue;
        char labels[600] = "";
        if (!weft_metric_label(labels, sizeof labels, "broker", f->broker) ||
            (trigger && !weft_metric_label(labels, sizeof labels, "trigger", f->trigger)))
            continue;
        uint64_t v = *(const uint64_t *)((const char *)f + offset);
        rc = weft_buf_printf(out, "%s{%s} %" PRIu64 "\n", name, labels, v);
    }
    return rc;
}

static int events_metrics(weft_buf_t *out, weft_events_t *ev) {
    figures_t fs = {0};
    weft_events_figures(ev, on_figures, &fs);
    int rc = fs.oom ? WEFT_ENOMEM : 0;
#define B(name, type, help, field)                                                                 \
    if (!rc)                                                                                       \
    rc = events_family(out, &fs, false, name, type, help, offsetof(weft_events_figures_t, field))
#define T(name, type, help, field)                                                                 \
    if (!rc)                                                                                       \
    rc = events_family(out, &fs, true, name, type, help, offsetof(weft_events_figures_t, field))
    B("weft_broker_events_ingested_total", "counter", "Events a broker accepted (durable, 202)",
      ingested);
    B("weft_broker_events_rejected_total", "counter", "Events a broker refused", rejected);
    B("weft_broker_events_stored", "gauge", "Events a broker's log holds now", stored);
    T("weft_trigger_deliveries_delivered_total", "counter",
      "Events a trigger's target answered with a 2xx", delivered);
    T("weft_trigger_deliveries_retried_total", "counter", "Attempts after the first of each event",
      retried);
    T("weft_trigger_deliveries_dead_lettered_total", "counter",
      "Events a trigger's dead-letter target took", dead_lettered);
    T("weft_trigger_deliveries_dropped_total", "counter",
      "Events given up (logged): no dead letter, or it failed too", failed);
    T("weft_trigger_events_filtered_total", "counter", "Events a trigger's filters did not pass",
      filtered_out);
    T("weft_trigger_lag", "gauge", "Events of the broker past the trigger's position", lag);
#undef B
#undef T
    free(fs.v);
    return rc;
}

int weft_gateway_metrics(weft_gateway_site_t *site, char **out, weft_error_t *err) {
    *out = NULL;
    weft_gateway_t *gw = site->gw;
    weft_buf_t b = {0};
    int rc = weft_metrics_render(&b);
    if (!rc)
        rc = weft_buf_printf(&b,
                             "# HELP weft_http_requests_in_flight Requests handed to a guest, the "
                             "events layer or a store, not answered yet\n"
                             "# TYPE weft_http_requests_in_flight gauge\n"
                             "weft_http_requests_in_flight %d\n"
                             "# HELP weft_ready 1 once every function is compiled and every broker "
                             "open (GET /readyz)\n"
                             "# TYPE weft_ready gauge\n"
                             "weft_ready %d\n",
                             atomic_load(&gw->in_flight), atomic_load(&gw->ready) ? 1 : 0);
    if (!rc && site->events)
        rc = events_metrics(&b, site->events);
    if (rc) {
        weft_buf_free(&b);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    *out = (char *)b.data; /* NUL-terminated */
    if (!*out)
        *out = strdup("");
    return *out ? 0 : weft_error_set(err, WEFT_ENOMEM, "out of memory");
}
