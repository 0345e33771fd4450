/* server: HTTP on h2o (libh2o-evloop); the life of a request on the server side.
 *
 * h2o parses HTTP/1.x and HTTP/2 (request line, headers, chunked bodies, keep-alive,
 * TLS with ALPN) and answers malformed requests with 400 itself. weft runs one h2o
 * event loop per core, the I/O threads; each accepts from the shared listening socket,
 * up to its share of max_connections (past it, it stops reading the listening socket
 * and new connections wait in the kernel's backlog until one of its own closes), and
 * serves its connections. While an HTTP/1 connection waits for a request head, the head
 * guard (guard.c) stands in front of h2o: it refuses what h2o 2.2 would let through or
 * answer wrongly (an ambiguous body length: 400; a head over max_header_bytes or with
 * too many headers: 431; a head not received within header_timeout: 408) and closes
 * keep-alive connections idle for idle_timeout. h2o then reads the request whole, body
 * included (over the body limit it answers 413), and calls on_request on the I/O
 * thread, which
 *
 *   - answers what needs no guest itself: 404, /healthz, and the few checks h2o leaves
 *     to its user (Host, the target's length, HTTP/2's header sizes);
 *   - otherwise maps the request to a CGI invocation (request.c) and hands it to the
 *     worker pool (pool.c), keeping the connection waiting. The worker runs the guest
 *     and sends the request back to the I/O thread through h2o's thread queue, and
 *     on_done answers the client.
 *
 * Where guests run. Handing a request to a worker and back costs two thread wake-ups,
 * several times what a small guest costs to run. So a function that can run twice
 * without anyone noticing (no volumes, no outbound HTTP, no writes to the stores:
 * weft_function_repeatable) runs on the I/O thread first, for at most
 * WEFT_GATEWAY_INLINE_NS. A run that takes longer, or wants to write a store, is
 * stopped there, its output and stderr are dropped, and it runs again from the start
 * on a worker. After WEFT_GATEWAY_INLINE_TRIES such runs in a row (one may be a cold
 * start), the function's requests go to the workers directly for
 * WEFT_GATEWAY_INLINE_BACKOFF_NS, unless that second run takes less than the budget
 * (the first was slow only because its thread lost its core). The other connections
 * of that I/O thread wait for it at most about 2 ms (the budget, plus up to a tick of
 * the engine's deadline watchdog), a few times per function every ten seconds.
 *
 * Reloading. The routes come from a site (gateway.c), which weft_gateway_swap may
 * replace at any time. Each I/O thread holds the site it routes by and moves to the
 * gateway's current one when it sees that changed (one atomic load per request, and the
 * site lock only then); a request answered on its I/O thread is covered by the
 * thread's hold, one handed to a worker or to the events layer holds its site until it
 * is freed. So a replaced site serves its requests in flight to the end.
 *
 * A client may leave while its guest runs: h2o then frees its request, and a hook in
 * the request's memory pool tells the request_t, whose answer is then dropped.
 *
 * Graceful stop: the I/O threads close their listening sockets, requests in flight
 * finish (their answers say Connection: close), then every connection is shut down for
 * reading, which h2o sees as the client's end, and the threads exit once their
 * connections are gone. A request is in flight from the moment h2o hands it over until
 * its answer is given to h2o; one whose client is still sending is not waited for.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define WEFT_GATEWAY_LISTEN_BACKLOG 1024
/* Connections taken from the listening socket per wake-up of an I/O thread. */
#define WEFT_GATEWAY_ACCEPT_BATCH 16
/* Bound on the request target, and on the request line and headers together. */
#define WEFT_GATEWAY_MAX_TARGET (16u << 10)
/* How long a guest may run on an I/O thread before it is stopped and run again on a
 * worker, and for how long its function's requests then go to the workers directly. */
#define WEFT_GATEWAY_INLINE_NS 1000000ull
#define WEFT_GATEWAY_INLINE_BACKOFF_NS 10000000000ull
/* Trials in a row that must run over before a function backs off: one run over may be
 * the first on a thread (memory mapped, pages touched, a store opened) or a thread
 * that lost its core. */
#define WEFT_GATEWAY_INLINE_TRIES 3u
/* How long the I/O threads wait, at the end of a stop, for their clients to go. */
#define WEFT_GATEWAY_CLOSE_NS 1000000000ull

/* How often each I/O thread looks at the guard's deadlines and at a paused listener. */
#define WEFT_GATEWAY_TICK_MS 250
/* Descriptors weft needs besides its connections: listening sockets, the I/O threads'
 * loops and queues, guests' preopened folders, outbound HTTP, artifacts being loaded. */
#define WEFT_GATEWAY_RESERVED_FDS 256

_Static_assert(WEFT_GATEWAY_MAX_HEADER_BYTES_LIMIT == H2O_MAX_REQLEN,
               "gateway.h's bound on max_header_bytes is h2o's H2O_MAX_REQLEN");

/* Once the server is stopping, answers close their connections. */
static void before_answer(h2o_req_t *req, weft_gateway_t *gw) {
    if (atomic_load(&gw->stopping))
        req->http1_is_persistent = 0;
}

static void send_body(h2o_req_t *req, const char *body, size_t len) {
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

/* A plain-text answer (text ends with a newline or gets one). */
static void answer_text(weft_gateway_t *gw, h2o_req_t *req, unsigned status, const char *text) {
    before_answer(req, gw);
    req->res.status = (int)status;
    req->res.reason = weft_http_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n') {
        send_body(req, text, len);
        return;
    }
    char *line = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(line, text, len);
    line[len] = '\n';
    send_body(req, line, len + 1);
}

/* /healthz: 200 and exactly "OK", no newline and no Content-Type, byte for byte what
 * WAGI answers (its health check is a bare Response::new(Body::from("OK"))), so that
 * probes written against WAGI keep matching. */
static void answer_health(weft_gateway_t *gw, h2o_req_t *req) {
    before_answer(req, gw);
    req->res.status = 200;
    req->res.reason = weft_http_reason(200);
    send_body(req, "OK", 2);
}

/* /readyz: 200 once every function is compiled and every broker open (weft up says so
 * with weft_gateway_set_ready), 503 before. A short text either way, never cached. */
static void answer_ready(weft_gateway_t *gw, h2o_req_t *req) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    if (atomic_load_explicit(&gw->ready, memory_order_acquire))
        answer_text(gw, req, 200, "ready");
    else
        answer_text(gw, req, 503, "not ready: compiling the functions and opening the brokers");
}

/* Adds a response header of an app's (copied into req's pool). h2o wants names in
 * lower case (HTTP/2 requires it); HTTP/1.x keeps the app's spelling. */
static void add_header(h2o_req_t *req, const char *name, const char *value) {
    size_t nlen = strlen(name), vlen = strlen(value);
    char *lower = h2o_mem_alloc_pool(&req->pool, nlen + 1);
    for (size_t k = 0; k <= nlen; k++)
        lower[k] = (char)h2o_tolower(name[k]);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lower, nlen, 1,
                          h2o_strdup(&req->pool, name, nlen).base,
                          h2o_strdup(&req->pool, value, vlen).base, vlen);
}

/* A Spin static_response: its status, headers and body, whatever the method. */
static void answer_static(weft_gateway_t *gw, h2o_req_t *req, const weft_app_static_t *st) {
    before_answer(req, gw);
    req->res.status = (int)st->status;
    req->res.reason = weft_http_reason(st->status);
    for (size_t i = 0; i < st->nheaders; i++)
        add_header(req, st->header_names[i], st->header_values[i]);
    send_body(req, st->body ? st->body : "", st->body ? st->body_len : 0);
}

static bool method_is(const h2o_req_t *req, const char *method) {
    return h2o_memis(req->input.method.base, req->input.method.len, method, strlen(method));
}

/* 405, with the methods the route takes. */
static void answer_not_allowed(weft_gateway_t *gw, h2o_req_t *req, const char *allow,
                               const char *why) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    answer_text(gw, req, 405, why);
}

/* GET /brokers/<name>: the live event page. It loads nothing from elsewhere, and says
 * so to the browser, which then refuses anything an event might smuggle in. */
static void answer_page(weft_gateway_t *gw, h2o_req_t *req) {
    before_answer(req, gw);
    req->res.status = 200;
    req->res.reason = weft_http_reason(200);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/html; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL,
                          H2O_STRLIT("default-src 'none'; script-src 'unsafe-inline'; "
                                     "style-src 'unsafe-inline'; connect-src 'self'"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    size_t len;
    const char *page = weft_gateway_page(&len);
    send_body(req, page, len);
}

void weft_gateway_answer_text(weft_gateway_t *gw, h2o_req_t *req, unsigned status,
                              const char *text) {
    answer_text(gw, req, status, text);
}

static void request_free(request_t *rq) {
    weft_store_api_free(rq->store);
    weft_gateway_site_release(rq->site);
    free(rq->text);
    weft_strv_free(&rq->strings);
    free(rq->headers);
    weft_buf_free(&rq->body);
    weft_response_free(&rq->resp);
    free(rq);
}

void weft_gateway_request_done(request_t *rq) {
    weft_gateway_t *gw = rq->gw;
    request_free(rq);
    atomic_fetch_sub(&gw->in_flight, 1);
}

/* h2o is freeing a request whose guest may still run: forget it. */
static void on_req_disposed(void *link) {
    request_t *rq = *(request_t **)link;
    if (rq)
        rq->req = NULL;
}

/* The answer of a guest (request.c set it), given to h2o. */
static void answer_guest(request_t *rq) {
    h2o_req_t *req = rq->req;
    const weft_response_t *cgi = &rq->resp;
    if (cgi->error) {
        answer_text(rq->gw, req, cgi->status, cgi->error);
        return;
    }
    before_answer(req, rq->gw);
    req->res.status = (int)cgi->status;
    req->res.reason = weft_http_reason(cgi->status);
    for (size_t i = 0; i < cgi->nheaders; i++)
        add_header(req, cgi->headers[i].name, cgi->headers[i].value);
    send_body(req, (const char *)cgi->body, cgi->body_len);
}

/* The events layer's answer to an ingest: 202 with no body, as Knative's broker
 * ingress answers, or an error status with the reason. */
static void answer_ingest(request_t *rq) {
    h2o_req_t *req = rq->req;
    if (rq->status >= 300) {
        answer_text(rq->gw, req, rq->status, rq->text && *rq->text ? rq->text : "refused");
        return;
    }
    before_answer(req, rq->gw);
    req->res.status = (int)rq->status;
    req->res.reason = weft_http_reason(rq->status);
    send_body(req, "", 0);
}

/* Called by the events layer once (on this thread, or on the log's writer thread once
 * the events are durable): back to the I/O thread that owns the request. */
static void on_ingest_done(void *arg, unsigned status, const char *body) {
    request_t *rq = arg;
    rq->status = status;
    rq->text = body && *body ? strdup(body) : NULL;
    h2o_multithread_send_message(&rq->io->done, &rq->msg);
}

/* A request of kind for route, answered 503 (and NULL) when there is no memory; hold:
 * it holds the thread's site (it leaves the thread, whose site may change meanwhile). */
static request_t *new_request(io_thread_t *io, h2o_req_t *req, const weft_route_t *route,
                              handler_kind_t kind, bool hold) {
    request_t *rq = calloc(1, sizeof *rq);
    if (!rq) {
        answer_text(io->gw, req, 503, "out of memory");
        return NULL;
    }
    rq->gw = io->gw;
    rq->io = io;
    rq->route = route;
    rq->kind = kind;
    rq->id = io->request_id; /* on_request's */
    if (hold) {
        rq->site = io->site;
        weft_gateway_site_retain(rq->site);
    }
    return rq;
}

/* POST /brokers/<name>: the request goes to the events layer, which answers once the
 * events are durable; the connection waits meanwhile. */
static void ingest(io_thread_t *io, h2o_req_t *req, const weft_route_t *route) {
    weft_gateway_t *gw = io->gw;
    const handler_t *h = route->target;
    request_t *rq = new_request(io, req, route, HANDLER_BROKER, true);
    if (!rq)
        return;
    int rc = weft_gateway_prepare_request(rq, req);
    if (rc) {
        request_free(rq);
        answer_text(gw, req, rc == WEFT_ELIMIT ? 431 : 503,
                    rc == WEFT_ELIMIT ? "too many request headers" : "out of memory");
        return;
    }
    rq->req = req;
    rq->req_link = h2o_mem_alloc_shared(&req->pool, sizeof *rq->req_link, on_req_disposed);
    *rq->req_link = rq;
    atomic_fetch_add(&gw->in_flight, 1);
    weft_events_ingest(rq->site->events, h->broker, rq->call.headers, rq->call.nheaders,
                       rq->call.body, rq->call.body_len, on_ingest_done, rq);
}

/* GET /_weft/metrics, rendered by a worker: the Prometheus text exposition format. */
static void answer_metrics(request_t *rq) {
    h2o_req_t *req = rq->req;
    if (!rq->text) {
        answer_text(rq->gw, req, 503, "the metrics could not be rendered: see the log");
        return;
    }
    before_answer(req, rq->gw);
    req->res.status = 200;
    req->res.reason = weft_http_reason(200);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    send_body(req, rq->text, strlen(rq->text));
}

/* GET /_weft/describe, built by a worker (describe_run). */
static void answer_describe(request_t *rq) {
    h2o_req_t *req = rq->req;
    if (!rq->text) {
        answer_text(rq->gw, req, 503, "the description could not be made: see the log");
        return;
    }
    before_answer(req, rq->gw);
    req->res.status = 200;
    req->res.reason = weft_http_reason(200);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    size_t len = strlen(rq->text);
    rq->text[len] = '\n'; /* the JSON ends with a line break: its NUL's place */
    send_body(req, rq->text, len + 1);
}

/* Requests back from the workers. */
static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    io_thread_t *io = H2O_STRUCT_FROM_MEMBER(io_thread_t, done, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        request_t *rq = (request_t *)m;
        if (weft_handler_is_store(rq->kind)) {
            if (!weft_store_api_answer(rq))
                weft_gateway_request_done(rq);
            continue;
        }
        if (rq->req) {
            *rq->req_link = NULL;
            if (rq->kind == HANDLER_BROKER)
                answer_ingest(rq);
            else if (rq->kind == HANDLER_DESCRIBE)
                answer_describe(rq);
            else if (rq->kind == HANDLER_METRICS)
                answer_metrics(rq);
            else
                answer_guest(rq);
        }
        request_free(rq);
        atomic_fetch_sub(&io->gw->in_flight, 1);
    }
}

/* Tries rq on this I/O thread, within WEFT_GATEWAY_INLINE_NS; true when it was
 * answered. See "Where guests run" at the top. */
static bool run_inline(request_t *rq) {
    function_t *fn = ((const handler_t *)rq->route->target)->fn;
    if (!weft_function_repeatable(fn->fn)) /* changes once a trial of it wanted to write */
        return false;
    uint64_t after = atomic_load_explicit(&fn->inline_after_ns, memory_order_relaxed);
    if (after && weft_now_ns() < after)
        return false;
    if (!weft_gateway_run_request(rq, WEFT_GATEWAY_INLINE_NS)) {
        rq->retried = true;
        if (atomic_fetch_add_explicit(&fn->inline_fails, 1, memory_order_relaxed) + 1 >=
            WEFT_GATEWAY_INLINE_TRIES) {
            atomic_store_explicit(&fn->inline_fails, 0, memory_order_relaxed);
            atomic_store_explicit(&fn->inline_after_ns,
                                  weft_now_ns() + WEFT_GATEWAY_INLINE_BACKOFF_NS,
                                  memory_order_relaxed);
        }
        return false;
    }
    if (atomic_load_explicit(&fn->inline_fails, memory_order_relaxed))
        atomic_store_explicit(&fn->inline_fails, 0, memory_order_relaxed);
    answer_guest(rq);
    request_free(rq);
    return true;
}

/* Run by a worker once the guest is done: back to the I/O thread that owns the
 * request. */
static void run_and_return(request_t *rq) {
    if (weft_handler_is_store(rq->kind)) {
        weft_crash_task(rq->route->pattern, rq->id);
        weft_store_api_run(rq);
        weft_crash_task(NULL, 0);
        h2o_multithread_send_message(&rq->io->done, &rq->msg);
        return;
    }
    if (rq->kind == HANDLER_DESCRIBE || rq->kind == HANDLER_METRICS) {
        weft_error_t err = {0};
        int rc = rq->kind == HANDLER_DESCRIBE ? weft_gateway_describe(rq->site, &rq->text, &err)
                                              : weft_gateway_metrics(rq->site, &rq->text, &err);
        if (rc)
            weft_log("%s: %s", rq->tag, err.msg);
        h2o_multithread_send_message(&rq->io->done, &rq->msg);
        return;
    }
    uint64_t t0 = weft_now_ns();
    weft_gateway_run_request(rq, 0);
    if (rq->retried && weft_now_ns() - t0 < WEFT_GATEWAY_INLINE_NS) {
        /* Its trial ran out of time only because the thread was not on a core (the
         * machine is busy): let its function's requests try the I/O thread again. */
        function_t *fn = ((const handler_t *)rq->route->target)->fn;
        atomic_store_explicit(&fn->inline_after_ns, 0, memory_order_relaxed);
    }
    h2o_multithread_send_message(&rq->io->done, &rq->msg);
}

/* What h2o leaves to its user: HTTP/1.1 requires Host (RFC 9112 section 3.2), and the
 * sizes of the target and the header block, which h2o bounds only loosely (an HTTP/1
 * head over max_header_bytes was refused by the guard before h2o read it; this bounds
 * HTTP/2's). */
static unsigned check_head(const weft_gateway_t *gw, const h2o_req_t *req, const char **why) {
    if (req->version == 0x101 && !weft_gateway_host_given(req)) {
        *why = "an HTTP/1.1 request needs a Host header";
        return 400;
    }
    if (req->input.path.len > WEFT_GATEWAY_MAX_TARGET) {
        *why = "the request target is too long";
        return 414;
    }
    size_t bytes = req->input.method.len + req->input.path.len;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (bytes > gw->cfg.max_header_bytes) {
        *why = "the request headers are too large";
        return 431;
    }
    return 0;
}

/* Hands a request answered by weft itself, without its content, to a worker. */
static void submit_builtin(io_thread_t *io, h2o_req_t *req, const weft_route_t *route,
                           handler_kind_t kind) {
    weft_gateway_t *gw = io->gw;
    request_t *rq = new_request(io, req, route, kind, true);
    if (!rq)
        return;
    snprintf(rq->tag, sizeof rq->tag, "%s #%llu", route->pattern, (unsigned long long)rq->id);
    rq->req = req;
    rq->req_link = h2o_mem_alloc_shared(&req->pool, sizeof *rq->req_link, on_req_disposed);
    *rq->req_link = rq;
    atomic_fetch_add(&gw->in_flight, 1);
    if (weft_pool_submit(&gw->pool, rq)) {
        atomic_fetch_sub(&gw->in_flight, 1);
        *rq->req_link = NULL;
        request_free(rq);
        answer_text(gw, req, 503, "no worker available");
    }
}

/* GET /_weft/describe: the events layer reads its logs for it, which is a worker's job. */
static void describe(io_thread_t *io, h2o_req_t *req, const weft_route_t *route) {
    submit_builtin(io, req, route, HANDLER_DESCRIBE);
}

/* /kv, /blobs, /docs: the request, copied, goes to a worker, which calls the store
 * (store_api.c); the connection waits meanwhile. */
static void store_call(io_thread_t *io, h2o_req_t *req, const weft_route_t *route,
                       handler_kind_t kind) {
    weft_gateway_t *gw = io->gw;
    request_t *rq = new_request(io, req, route, kind, true);
    if (!rq)
        return;
    int rc = weft_gateway_prepare_request(rq, req);
    if (rc) {
        request_free(rq);
        answer_text(gw, req, rc == WEFT_ELIMIT ? 431 : 503,
                    rc == WEFT_ELIMIT ? "too many request headers" : "out of memory");
        return;
    }
    rq->req = req;
    rq->req_link = h2o_mem_alloc_shared(&req->pool, sizeof *rq->req_link, on_req_disposed);
    *rq->req_link = rq;
    atomic_fetch_add(&gw->in_flight, 1);
    if (weft_pool_submit(&gw->pool, rq)) {
        atomic_fetch_sub(&gw->in_flight, 1);
        *rq->req_link = NULL;
        request_free(rq);
        answer_text(gw, req, 503, "no worker available");
    }
}

/* The site the thread routes by: the gateway's, held by the thread. */
static weft_gateway_site_t *io_site(io_thread_t *io) {
    if (atomic_load_explicit(&io->gw->site, memory_order_acquire) != io->site) {
        weft_gateway_site_t *old = io->site;
        io->site = weft_gateway_site_acquire(io->gw);
        weft_sse_site_changed(io);
        weft_gateway_site_release(old);
    }
    return io->site;
}

static const handler_t *handler_of(const weft_route_t *route) {
    return route->target;
}

static int on_request(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    io_thread_t *io = weft_gateway_io_of(req->conn->ctx);
    weft_gateway_t *gw = io->gw;
    weft_gateway_site_t *site = io_site(io);
    /* Every request gets its id here; the logger counts it when h2o is done with it
     * (metrics.c), under its route once it is routed. */
    io->request_id = atomic_fetch_add_explicit(&gw->next_id, 1, memory_order_relaxed);
    req_info_t *info = weft_gateway_req_info_set(req, io->request_id, gw->unmatched);
    const char *why;
    unsigned bad = check_head(gw, req, &why);
    if (!weft_guard_request(req)) {
        weft_log("http: a request head the guard did not check (a bug in weft): refused");
        bad = 400;
        why = "the request could not be checked";
    }
    if (bad) {
        req->http1_is_persistent = 0; /* what else this client sends is suspect too */
        answer_text(gw, req, bad, why);
        return 0;
    }
    const char *path = req->input.path.base;
    const char *q = memchr(path, '?', req->input.path.len);
    size_t plen = q ? (size_t)(q - path) : req->input.path.len;
    weft_route_match_t match;
    const weft_route_t *route = weft_router_match(site->router, path, plen, &match);
    handler_kind_t kind = route ? handler_of(route)->kind : HANDLER_HEALTH;
    if (route)
        info->metrics = handler_of(route)->metrics;
    /* weft's own endpoints (auth.c), also where nothing is routed: who is not let in
     * does not learn which brokers or stores exist. An app's routes (its functions and
     * Spin's static responses) are never guarded. */
    if (route ? kind != HANDLER_FUNCTION && kind != HANDLER_STATIC && kind != HANDLER_HEALTH &&
                    kind != HANDLER_READY
              : weft_gateway_guarded_path(path, plen)) {
        unsigned refused = weft_gateway_auth(gw, req, &why);
        if (refused) {
            answer_text(gw, req, refused, why);
            return 0;
        }
    }
    if (!route) {
        if (!atomic_load_explicit(&gw->ready, memory_order_acquire)) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           H2O_STRLIT("1"));
            answer_text(gw, req, 503, "weft is starting: its functions are being compiled");
        } else {
            answer_text(gw, req, 404, "not found");
        }
        return 0;
    }
    switch (kind) {
    case HANDLER_FUNCTION:
        break;
    case HANDLER_HEALTH:
        answer_health(gw, req);
        return 0;
    case HANDLER_READY:
        answer_ready(gw, req);
        return 0;
    case HANDLER_METRICS:
        if (method_is(req, "GET"))
            submit_builtin(io, req, route, HANDLER_METRICS);
        else
            answer_not_allowed(gw, req, "GET", "the metrics are read by GET");
        return 0;
    case HANDLER_STATIC:
        answer_static(gw, req, handler_of(route)->def->static_response);
        return 0;
    case HANDLER_BROKER:
        if (method_is(req, "POST"))
            ingest(io, req, route);
        else if (method_is(req, "GET"))
            answer_page(gw, req);
        else
            answer_not_allowed(gw, req, "GET, POST",
                               "a broker takes events by POST, and shows them by GET");
        return 0;
    case HANDLER_DESCRIBE:
        if (method_is(req, "GET"))
            describe(io, req, route);
        else
            answer_not_allowed(gw, req, "GET", "the description is read by GET");
        return 0;
    case HANDLER_KV:
    case HANDLER_BLOBS:
    case HANDLER_DOCS:
        store_call(io, req, route, kind);
        return 0;
    case HANDLER_EVENTS:
        if (!method_is(req, "GET")) {
            answer_not_allowed(gw, req, "GET", "a broker's events stream is read by GET");
        } else {
            char why[512];
            unsigned status =
                weft_sse_open(io, req, site, handler_of(route)->broker, why, sizeof why);
            if (status)
                answer_text(gw, req, status, why);
        }
        return 0;
    default:
        answer_text(gw, req, 404, "not found");
        return 0;
    }
    request_t *rq = new_request(io, req, route, HANDLER_FUNCTION, false);
    if (!rq)
        return 0;
    rq->match = match;
    int rc = weft_gateway_prepare_request(rq, req);
    if (rc) {
        request_free(rq);
        if (rc == WEFT_ELIMIT)
            answer_text(gw, req, 431, "too many request headers or query items");
        else
            answer_text(gw, req, 503, "out of memory");
        return 0;
    }
    rq->req = req;
    if (run_inline(rq))
        return 0;
    /* It leaves the thread, whose site may change meanwhile. */
    rq->site = site;
    weft_gateway_site_retain(site);
    rq->req_link = h2o_mem_alloc_shared(&req->pool, sizeof *rq->req_link, on_req_disposed);
    *rq->req_link = rq;
    atomic_fetch_add(&gw->in_flight, 1);
    if (weft_pool_submit(&gw->pool, rq)) {
        atomic_fetch_sub(&gw->in_flight, 1);
        *rq->req_link = NULL;
        request_free(rq);
        answer_text(gw, req, 503, "no worker available");
    }
    return 0;
}

/* ---- Connections ------------------------------------------------------------------- */

/* Accepting stops while the thread holds its share of max_connections (or has no
 * descriptor left): new connections wait in the kernel's listen backlog. */
static void pause_accept(io_thread_t *io) {
    if (io->accept_paused || !io->listener)
        return;
    h2o_socket_read_stop(io->listener);
    io->accept_paused = true;
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void resume_accept(io_thread_t *io) {
    if (!io->accept_paused || !io->listener || io->nconns >= io->max_conns ||
        atomic_load(&io->gw->stopping))
        return;
    io->accept_paused = false;
    h2o_socket_read_start(io->listener, on_accept);
}

static void on_conn_close(void *data) {
    conn_entry_t *e = data;
    io_thread_t *io = e->io;
    weft_guard_forget(e);
    if (e->prev)
        e->prev->next = e->next;
    else
        io->conns = e->next;
    if (e->next)
        e->next->prev = e->prev;
    io->nconns--;
    free(e);
    resume_accept(io);
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    io_thread_t *io = listener->data;
    if (err)
        return;
    for (int i = 0; i < WEFT_GATEWAY_ACCEPT_BATCH; i++) {
        if (io->nconns >= io->max_conns) {
            pause_accept(io);
            return;
        }
        int fd = accept4(io->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The listener stays readable: reading it again at once would spin.
                 * The next tick tries again. */
                weft_log("http: cannot accept a connection: %s", strerror(errno));
                pause_accept(io);
            }
            return; /* EAGAIN: another I/O thread took it, or none left */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_entry_t *e = calloc(1, sizeof *e);
        if (!e) {
            close(fd);
            continue;
        }
        h2o_socket_t *sock =
            h2o_evloop_socket_create(io->ctx.loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
        e->io = io;
        e->sock = sock;
        e->fd = fd;
        e->next = io->conns;
        if (io->conns)
            io->conns->prev = e;
        io->conns = e;
        io->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = e;
        weft_guard_accept(e);
    }
}

/* Every WEFT_GATEWAY_TICK_MS on each I/O thread. */
static void on_tick(h2o_timeout_entry_t *entry) {
    io_thread_t *io = H2O_STRUCT_FROM_MEMBER(io_thread_t, tick, entry);
    weft_guard_sweep(io);
    resume_accept(io);
    h2o_timeout_link(io->ctx.loop, &io->tick_timeout, &io->tick);
}

static void tick_start(io_thread_t *io) {
    h2o_timeout_init(io->ctx.loop, &io->tick_timeout, WEFT_GATEWAY_TICK_MS);
    io->tick.cb = on_tick;
    h2o_timeout_link(io->ctx.loop, &io->tick_timeout, &io->tick);
}

static void close_listener(io_thread_t *io) {
    if (!io->listener)
        return;
    h2o_socket_read_stop(io->listener);
    h2o_socket_close(io->listener); /* closes io->listen_fd */
    io->listener = NULL;
    io->listen_fd = -1;
}

/* Frees the thread's loop, on that thread (see io_main). */
static void io_dispose(io_thread_t *io) {
    if (io->nconns) {
        /* Clients that did not read their answers for a second: h2o cannot free a
         * context with connections, and the process is about to end anyway. */
        weft_log("http: %zu connection(s) did not close in time", io->nconns);
        return;
    }
    close_listener(io);
    h2o_timeout_unlink(&io->tick);
    h2o_timeout_dispose(io->ctx.loop, &io->tick_timeout);
    weft_sse_dispose(io);
    h2o_multithread_unregister_receiver(io->queue, &io->done);
    h2o_multithread_destroy_queue(io->queue);
    h2o_evloop_t *loop = io->ctx.loop;
    h2o_context_dispose(&io->ctx);
    h2o_evloop_destroy(loop);
    io->queue = NULL;
}

/* Waits until every I/O thread started has set up its loop. */
static void wait_ready(weft_gateway_t *gw) {
    size_t started = 0;
    for (size_t i = 0; i < gw->nio; i++)
        started += gw->io[i].started;
    pthread_mutex_lock(&gw->ready_lock);
    while (gw->nready < started)
        pthread_cond_wait(&gw->ready_cond, &gw->ready_lock);
    pthread_mutex_unlock(&gw->ready_lock);
}

/* An I/O thread. Its h2o loop and context are made here, not by the thread that
 * starts it: h2o keeps per-thread state (memory recycling) that a loop run on another
 * thread than the one it was made on corrupts. */
static void *io_main(void *arg) {
    io_thread_t *io = arg;
    weft_gateway_t *gw = io->gw;
    /* Process signals are the main thread's; writes to a closed socket are errors. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    weft_crash_thread("I/O");
    h2o_context_init(&io->ctx, h2o_evloop_create(), &gw->h2o);
    io->accept.ctx = &io->ctx;
    io->accept.hosts = gw->h2o.hosts;
    io->accept.ssl_ctx = gw->ssl;
    io->queue = h2o_multithread_create_queue(io->ctx.loop);
    h2o_multithread_register_receiver(io->queue, &io->done, on_done);
    weft_sse_init(io);
    tick_start(io);
    io->listener = h2o_evloop_socket_create(io->ctx.loop, io->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    io->listener->data = io;
    h2o_socket_read_start(io->listener, on_accept);
    pthread_mutex_lock(&gw->ready_lock);
    gw->nready++;
    pthread_cond_broadcast(&gw->ready_cond);
    pthread_mutex_unlock(&gw->ready_lock);
    uint64_t close_by = 0;
    for (;;) {
        weft_guard_arm(io);
        h2o_evloop_run(io->ctx.loop, INT32_MAX);
        io_site(io); /* after a swap, let go of the site replaced */
        if (atomic_load(&gw->stopping)) {
            close_listener(io);
            if (weft_sse_stop(io)) { /* one more turn, to write the streams' ends */
                h2o_multithread_send_message(&io->done, NULL);
                continue;
            }
        }
        if (!atomic_load(&gw->closing))
            continue;
        if (!close_by) {
            close_by = weft_now_ns() + WEFT_GATEWAY_CLOSE_NS;
            /* h2o reads the end of the stream and closes each connection, once any
             * answer still being written is out. */
            for (conn_entry_t *e = io->conns; e; e = e->next)
                shutdown(e->fd, SHUT_RD);
        }
        if (!io->nconns || weft_now_ns() >= close_by)
            break;
        /* Wake up in time to give up on clients that do not read. */
        h2o_multithread_send_message(&io->done, NULL);
        usleep(1000);
    }
    io_dispose(io);
    weft_gateway_site_release(io->site);
    io->site = NULL;
    return NULL;
}

/* ---- Start and stop ---------------------------------------------------------------- */

/* Binds ADDR:PORT ("127.0.0.1:3000", "[::1]:0", "localhost:3000", ":3000"). */
static int bind_listen(weft_gateway_t *gw, const char *listen_on, weft_error_t *err) {
    char host[256];
    int fd;
    int rc = weft_tcp_listen(listen_on, "--listen", WEFT_GATEWAY_LISTEN_BACKLOG, host, sizeof host,
                             &fd, err);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char numeric[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, numeric, sizeof numeric, gw->port, sizeof gw->port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        close(fd);
        return weft_error_set(err, WEFT_EIO, "cannot listen on %s: getsockname failed", listen_on);
    }
    snprintf(gw->host, sizeof gw->host, "%s", host[0] ? host : numeric);
    bool v6 = strchr(gw->host, ':') != NULL;
    snprintf(gw->url, sizeof gw->url, "%s://%s%s%s:%s", gw->cfg.tls_cert ? "https" : "http",
             v6 ? "[" : "", gw->host, v6 ? "]" : "", gw->port);
    gw->listen_fd = fd;
    return 0;
}

/* OpenSSL's last error, for a message. */
static const char *ssl_error(char *buf, size_t cap) {
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

static int tls_setup(weft_gateway_t *gw, weft_error_t *err) {
    char why[256];
    gw->ssl = SSL_CTX_new(TLS_server_method());
    if (!gw->ssl)
        return weft_error_set(err, WEFT_ENOMEM, "TLS: %s", ssl_error(why, sizeof why));
    SSL_CTX_set_min_proto_version(gw->ssl, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(gw->ssl, gw->cfg.tls_cert) != 1)
        return weft_error_set(err, WEFT_EINVAL, "--tls-cert %s: %s", gw->cfg.tls_cert,
                              ssl_error(why, sizeof why));
    if (SSL_CTX_use_PrivateKey_file(gw->ssl, gw->cfg.tls_key, SSL_FILETYPE_PEM) != 1)
        return weft_error_set(err, WEFT_EINVAL, "--tls-key %s (for --tls-cert %s): %s",
                              gw->cfg.tls_key, gw->cfg.tls_cert, ssl_error(why, sizeof why));
    if (SSL_CTX_check_private_key(gw->ssl) != 1)
        return weft_error_set(err, WEFT_EINVAL, "--tls-key %s does not match --tls-cert %s: %s",
                              gw->cfg.tls_key, gw->cfg.tls_cert, ssl_error(why, sizeof why));
    h2o_ssl_register_alpn_protocols(gw->ssl, h2o_http2_alpn_protocols);
    return 0;
}

static void h2o_setup(weft_gateway_t *gw) {
    h2o_config_init(&gw->h2o);
    gw->h2o.server_name = h2o_iovec_init(H2O_STRLIT("weft/" WEFT_VERSION));
    gw->h2o.max_request_entity_size = (size_t)gw->max_body;
    /* HTTP/1 heads and idle connections are timed by the guard; h2o's timer is a
     * backstop behind it (and bounds a request body that stops coming). */
    gw->h2o.http1.req_timeout = weft_guard_backstop_ms(gw);
    gw->h2o.http2.idle_timeout = (gw->cfg.idle_timeout_ns + 999999u) / 1000000u;
    h2o_hostconf_t *host =
        h2o_config_register_host(&gw->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    gw->default_authority = host->authority.hostport.base;
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = on_request;
    weft_gateway_logger_setup(gw, path);
}

/* How many connections may be open at once: max_connections, within what the open-file
 * limit allows. The soft limit is raised as far as the hard one lets it for that (many
 * systems start processes at 1024), as servers commonly do; when even that is too low,
 * fewer connections are served at once than asked (and logged, when asked explicitly),
 * rather than failing accept() with EMFILE. */
static size_t connection_limit(const weft_gateway_t *gw) {
    size_t want = gw->cfg.max_connections ? gw->cfg.max_connections : WEFT_GATEWAY_MAX_CONNECTIONS;
    rlim_t need = (rlim_t)want + WEFT_GATEWAY_RESERVED_FDS;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return want;
    rlim_t cur = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        cur = rl.rlim_cur;
    if (cur >= need)
        return want;
    size_t fit =
        cur > WEFT_GATEWAY_RESERVED_FDS + 16 ? (size_t)cur - WEFT_GATEWAY_RESERVED_FDS : 16;
    if (gw->cfg.max_connections)
        weft_log("max_connections %zu: the open-file limit (%llu) leaves room for %zu", want,
                 (unsigned long long)cur, fit);
    return fit;
}

static int io_init(weft_gateway_t *gw, io_thread_t *io, weft_error_t *err) {
    io->gw = gw;
    weft_guard_init(io);
    io->listen_fd = dup(gw->listen_fd);
    if (io->listen_fd < 0)
        return weft_error_set(err, WEFT_EIO, "cannot listen: %s", strerror(errno));
    return 0;
}

int weft_gateway_start(weft_gateway_t *gw, weft_error_t *err) {
    int rc;
    size_t workers = gw->cfg.workers ? gw->cfg.workers : WEFT_GATEWAY_DEFAULT_WORKERS;
    if (gw->cfg.tls_cert && (rc = tls_setup(gw, err)))
        return rc;
    if ((rc = bind_listen(gw, gw->cfg.listen ? gw->cfg.listen : WEFT_APP_DEFAULT_LISTEN, err)))
        return rc;
    if ((rc = weft_pool_init(&gw->pool, workers, run_and_return)))
        return weft_error_set(err, rc, "out of memory");
    h2o_setup(gw);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    gw->nio = cores > 0 ? (size_t)cores : 1;
    if (!(gw->io = calloc(gw->nio, sizeof *gw->io)))
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    for (size_t i = 0; i < gw->nio; i++)
        gw->io[i].listen_fd = -1;
    pthread_mutex_init(&gw->ready_lock, NULL);
    pthread_cond_init(&gw->ready_cond, NULL);
    for (size_t i = 0; i < gw->nio; i++)
        if ((rc = io_init(gw, &gw->io[i], err)))
            return rc;
    /* Each thread accepts on its own up to its share (an even split). */
    size_t max_conns = connection_limit(gw);
    for (size_t i = 0; i < gw->nio; i++)
        gw->io[i].max_conns = max_conns / gw->nio + (i < max_conns % gw->nio);
    gw->running = true;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WEFT_GATEWAY_GUEST_STACK_BYTES);
    for (size_t i = 0; i < gw->nio; i++) {
        if (pthread_create(&gw->io[i].thread, &attr, io_main, &gw->io[i]) != 0) {
            pthread_attr_destroy(&attr);
            wait_ready(gw);
            weft_gateway_stop(gw, 1);
            return weft_error_set(err, WEFT_ENOMEM, "cannot start the HTTP server's threads");
        }
        gw->io[i].started = true;
    }
    pthread_attr_destroy(&attr);
    wait_ready(gw);
    return 0;
}

const char *weft_gateway_url(const weft_gateway_t *gw) {
    return gw->url;
}

void weft_gateway_wake_io(weft_gateway_t *gw) {
    for (size_t i = 0; i < gw->nio; i++)
        if (gw->io[i].started)
            h2o_multithread_send_message(&gw->io[i].done, NULL);
}

void weft_gateway_stop(weft_gateway_t *gw, uint64_t grace_ns) {
    if (!gw->running)
        return;
    gw->running = false;
    atomic_store(&gw->stopping, true);
    weft_gateway_wake_io(gw);
    if (gw->listen_fd >= 0) {
        close(gw->listen_fd); /* the I/O threads close their copies */
        gw->listen_fd = -1;
    }
    if (!grace_ns) {
        weft_gateway_site_t *site = weft_gateway_site_acquire(gw);
        uint64_t longest = 0;
        for (size_t i = 0; i < site->nfns; i++)
            if (site->fns[i].def->timeout_ns > longest)
                longest = site->fns[i].def->timeout_ns;
        weft_gateway_site_release(site);
        grace_ns = longest + 1000000000ull;
    }
    uint64_t end = weft_now_ns() + grace_ns;
    if (atomic_load(&gw->in_flight) > 0)
        weft_log("waiting for %d request(s) in flight", atomic_load(&gw->in_flight));
    while (atomic_load(&gw->in_flight) > 0 && weft_now_ns() < end)
        usleep(10000);
    if (atomic_load(&gw->in_flight) > 0)
        weft_log("%d request(s) still unfinished after %.3gs: closing them",
                 atomic_load(&gw->in_flight), (double)grace_ns / 1e9);
    /* A guest still running will send its request back to an I/O thread: wait for the
     * workers whatever the grace period says, and for the I/O threads to take them. */
    weft_pool_drain(&gw->pool);
    end = weft_now_ns() + 1000000000ull;
    while (atomic_load(&gw->in_flight) > 0 && weft_now_ns() < end)
        usleep(1000);
    atomic_store(&gw->closing, true);
    weft_gateway_wake_io(gw);
    for (size_t i = 0; i < gw->nio; i++)
        if (gw->io[i].started) {
            pthread_join(gw->io[i].thread, NULL);
            gw->io[i].started = false;
        }
}

void weft_gateway_server_free(weft_gateway_t *gw) {
    if (gw->running)
        weft_gateway_stop(gw, 0);
    weft_pool_destroy(&gw->pool);
    if (gw->io) {
        for (size_t i = 0; i < gw->nio; i++)
            if (gw->io[i].listen_fd >= 0) /* its thread never started */
                close(gw->io[i].listen_fd);
        free(gw->io);
        gw->io = NULL;
        pthread_mutex_destroy(&gw->ready_lock);
        pthread_cond_destroy(&gw->ready_cond);
        h2o_config_dispose(&gw->h2o);
    }
    if (gw->ssl)
        SSL_CTX_free(gw->ssl);
    gw->ssl = NULL;
}
