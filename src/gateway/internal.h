/* gateway internals shared by its files; not part of the layer's contract. */
#ifndef WEFT_GATEWAY_INTERNAL_H
#define WEFT_GATEWAY_INTERNAL_H

/* h2o: the event-loop build (libh2o-evloop), not the libuv one. */
#define H2O_USE_EPOLL 1
#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../events/events.h"
#include "../invoke/invoke.h"
#include "gateway.h"

/* Native stack of a thread that runs guests (workers and I/O threads): wasm2c code
 * recurses as deeply as the guest does (the engine turns an overflow into a trap),
 * and a guest must get as deep on one kind of thread as on the other. */
#define WEFT_GATEWAY_GUEST_STACK_BYTES (8u << 20)

/* A function of the app, loaded. */
typedef struct function {
    const weft_app_function_t *def; /* borrowed from the app */
    weft_function_t *fn;
    /* Until when (weft_now_ns) requests skip the I/O thread because one ran over
     * WEFT_GATEWAY_INLINE_NS there; 0: they do not. */
    atomic_uint_fast64_t inline_after_ns;
    /* Trials in a row that ran over it (server.c). */
    atomic_uint inline_fails;
} function_t;

/* What a route serves. */
typedef enum handler_kind {
    HANDLER_FUNCTION, /* a function's entry point */
    HANDLER_HEALTH,   /* /healthz */
    HANDLER_DESCRIBE, /* GET /_weft/describe */
    HANDLER_BROKER,   /* /brokers/<broker>: POST ingest, GET the live page */
    HANDLER_EVENTS,   /* GET /brokers/<broker>/events: Server-Sent Events */
    HANDLER_KV,       /* /kv/...: the key-value service over HTTP (store_api.c) */
    HANDLER_BLOBS,    /* /blobs/...: blobs */
    HANDLER_DOCS,     /* /docs/...: documents */
    HANDLER_STATIC,   /* a Spin static_response, answered by the gateway itself */
    HANDLER_READY,    /* /readyz */
    HANDLER_METRICS,  /* GET /_weft/metrics */
} handler_kind_t;

/* The HTTP metrics of one route (metrics.c): requests by status class and their
 * durations. The series belong to util's registry and live for ever, so a request may
 * point at them after its site is gone. */
typedef struct route_metrics {
    weft_metric_t *by_class[4]; /* 2xx (and below), 3xx, 4xx, 5xx */
    weft_metric_t *duration;
} route_metrics_t;

/* What the gateway keeps of a request until h2o disposes of it (its access log line and
 * metrics: log_access in metrics.c), in the request's memory pool, found through
 * req->env (weft_gateway_req_info). */
typedef struct req_info {
    uint64_t id;
    uint64_t start_ns; /* weft_now_ns when on_request took it (its head and body read) */
    const route_metrics_t *metrics; /* NULL: not counted */
} req_info_t;

/* A handler of the services' HTTP API (store_api.c)? */
static inline bool weft_handler_is_store(handler_kind_t kind) {
    return kind == HANDLER_KV || kind == HANDLER_BLOBS || kind == HANDLER_DOCS;
}

typedef struct handler {
    handler_kind_t kind;
    function_t *fn;     /* HANDLER_FUNCTION */
    const char *broker; /* HANDLER_BROKER, HANDLER_EVENTS: the app's name; borrowed */
    char *entrypoint;
    const weft_app_route_t *def;    /* HANDLER_FUNCTION, HANDLER_STATIC: the manifest's
                                       route (Spin's headers; the static answer) */
    const route_metrics_t *metrics; /* its route's (weft_gateway_route_metrics) */
    struct handler *next;           /* every handler of the site, for freeing */
} handler_t;

/* A configuration served (gateway.h): an app's functions loaded and its routes. Never
 * changed once it serves (weft_gateway_swap), so any thread may read it while it holds
 * it. */
struct weft_gateway_site {
    atomic_uint refs;
    struct weft_gateway *gw;
    const weft_app_t *app;
    weft_app_t *owned; /* app, when the site frees it */
    function_t *fns;
    size_t nfns;
    handler_t *handlers;
    handler_t health, describe, ready, metrics;
    handler_t kv, blobs, docs; /* the services' HTTP API, when the gateway has services */
    weft_events_t *events;     /* the brokers' (weft_gateway_site_add_brokers); NULL: none */
    weft_router_t *router;
};

/* One request handed to a worker: made by the I/O thread that read it (with copies of
 * what the guest gets of it, so that the worker never touches h2o's request), run by
 * one worker, and sent back to that I/O thread as a message, which answers the client
 * and frees it. */
typedef struct request {
    h2o_multithread_message_t msg; /* first: the I/O thread's queue links these */
    struct weft_gateway *gw;
    weft_gateway_site_t *site; /* held: the site that routed it (route points into it) */
    struct io_thread *io;      /* the thread that owns req */
    h2o_req_t *req;            /* NULL once h2o has disposed of it (the client left) */
    struct request **req_link; /* in req's memory pool, pointing back here */
    uint64_t id;
    const weft_route_t *route;
    weft_route_match_t match; /* what the route captured of the path (req's memory:
                                 read before weft_gateway_prepare_request returns) */
    char tag[128];            /* "/route #id", for the log */
    /* The request as the function gets it: call.headers and the strings point into
     * strings (method, protocol, path, [query], remote, name, port, then each header's
     * name and value), call.body into body. */
    weft_request_t call;
    weft_strv_t strings;
    weft_header_t *headers; /* the request's, then its params (call.params) */
    weft_buf_t body;
    /* The answer, set by the worker. */
    weft_response_t resp;
    bool retried; /* its run on the I/O thread was cut short */
    /* Not a guest's: an event ingest (HANDLER_BROKER) or the description
     * (HANDLER_DESCRIBE), answered with status and text (owned). */
    handler_kind_t kind;
    unsigned status;
    char *text;
    /* HANDLER_KV, _BLOBS, _DOCS: the call's state and answer (store_api.c), owned. */
    struct store_call *store;
    struct request *next; /* in the pool's queue */
    uint64_t queued_ns;   /* when it was queued there */
} request_t;

/* A connection accepted by an I/O thread, until h2o closes it (server.c), with what the
 * head guard knows of it (guard.c). */
typedef struct conn_entry {
    struct io_thread *io;
    h2o_socket_t *sock; /* its on_close.data is this entry */
    int fd;
    struct conn_entry *prev, *next; /* in io->conns */
    struct timeval connected_at;
    /* The head guard. */
    uint8_t state;          /* GUARD_* in guard.c */
    h2o_socket_cb h2o_read; /* h2o's read callback, while the guard's stands in front */
    size_t parsed;          /* bytes the last parse of an incomplete head saw */
    size_t head_len;        /* of the request h2o reads now, as the guard measured it */
    size_t req_len;         /* head and body of the request being answered; 0: unknown */
    uint64_t since_ms;      /* when the wait the sweep measures began */
    h2o_linklist_t wait;    /* in one of io's wait lists, oldest first */
    h2o_linklist_t pending; /* in io->guard_pending, until weft_guard_arm */
    unsigned refuse_status; /* the answer a pending refusal gives ... */
    const char *refuse_why; /* ... and why (static) */
    char *answer;           /* a refusal being written (owned) */
    bool answer_sent;       /* it is written */
    bool peer_gone;         /* the client closed before that */
    struct sse *sse;        /* the stream an HTTP/1 connection serves (sse.c), or NULL */
} conn_entry_t;

/* An I/O thread: an h2o event loop serving connections, answering routes without a
 * guest itself, and handing requests with one to the pool. */
typedef struct io_thread {
    struct weft_gateway *gw;
    pthread_t thread;
    bool started;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_socket_t *listener; /* NULL once closed */
    int listen_fd;          /* this thread's dup of the listening socket */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t done; /* requests back from workers; or a wake-up */
    struct conn_entry *conns;        /* the connections accepted here, still open */
    size_t nconns;
    size_t max_conns;           /* this thread's share of max_connections */
    bool accept_paused;         /* the listener is not read: max_conns reached, or no descriptor */
    h2o_timeout_t tick_timeout; /* the periodic tick (sweep, accept retry) */
    h2o_timeout_entry_t tick;
    /* The head guard (guard.c). */
    h2o_socket_cb h1_read;        /* h2o's HTTP/1 read callback, once seen */
    h2o_linklist_t wait_head;     /* waiting for a head: header_timeout */
    h2o_linklist_t wait_idle;     /* kept alive, nothing sent yet: idle_timeout */
    h2o_linklist_t wait_linger;   /* refused, draining: WEFT_GUARD_LINGER_MS */
    h2o_linklist_t guard_pending; /* answered, to guard again before the next loop turn */
    /* The site this thread routes by (held), until it sees gw->site change (io_site). A
     * request answered on the thread is covered by this hold; one that leaves the
     * thread (to a worker, to the events layer) holds its site itself. */
    weft_gateway_site_t *site;
    /* Server-Sent Events streams (sse.c). */
    h2o_linklist_t streams;             /* the open ones */
    h2o_multithread_receiver_t sse_rcv; /* streams whose tail has more */
    h2o_timeout_t keepalive;            /* WEFT_GATEWAY_SSE_KEEPALIVE_S */
    uint64_t request_id;                /* of the request on_request is routing (new_request's) */
} io_thread_t;

/* A pool of threads that run guests (pool.c). */
typedef struct worker {
    struct pool *pool;
    pthread_t thread;
    pthread_cond_t wake;
    request_t *job; /* handed over by weft_pool_submit, or NULL */
    struct worker *next_idle;
} worker_t;

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t drained;  /* nothing queued or running */
    pthread_cond_t starving; /* wakes the manager: requests wait and no worker is idle */
    request_t *head, *tail;  /* requests no worker could take at once, oldest first */
    worker_t *workers;       /* max of them, nthreads started */
    worker_t *idle;          /* idle workers, the most recently idle on top */
    size_t nthreads, max, hot, busy;
    uint64_t last_done_ns; /* when a worker last finished a request */
    pthread_t manager;
    bool has_manager;
    bool stopping;
    void (*run)(request_t *rq);
} pool_t;

struct weft_gateway {
    weft_gateway_config_t cfg;
    /* cfg.token's SHA-256 (auth.c compares digests, in constant time); has_token: one
     * is set. */
    uint8_t token_digest[32];
    bool has_token;
    uint64_t max_body;
    /* The site new requests are routed by (gw holds it). Read without the lock only to
     * compare it with a site one holds; taken (and changed) under site_lock, so that a
     * swap cannot free it between the load and the retain. */
    _Atomic(weft_gateway_site_t *) site;
    pthread_mutex_t site_lock;
    io_thread_t *io; /* nio of them */
    size_t nio;
    pthread_mutex_t ready_lock; /* I/O threads say when their loop is set up */
    pthread_cond_t ready_cond;
    size_t nready;
    h2o_globalconf_t h2o;
    SSL_CTX *ssl;
    const char *default_authority; /* h2o's authority for a request without one */
    bool running;
    int listen_fd;
    char host[256]; /* listen address, for SERVER_NAME without a Host header */
    char port[16];
    char url[300];
    pool_t pool;
    atomic_uint_fast64_t next_id;
    atomic_int in_flight;
    atomic_bool stopping; /* no new connections; answers close theirs */
    /* /readyz: every function compiled and every broker open (weft_gateway_set_ready). */
    atomic_bool ready;
    int access_log_fd; /* -1: none */
    bool access_log_owned;
    const route_metrics_t *unmatched; /* requests no route took (404, 503 while starting) */
    atomic_bool closing;              /* the I/O threads close every connection and exit */
};

/* The I/O thread whose h2o context ctx is. */
static inline io_thread_t *weft_gateway_io_of(h2o_context_t *ctx) {
    return H2O_STRUCT_FROM_MEMBER(io_thread_t, ctx, ctx);
}

/* The path of the gateway's description (gateway.h). */
#define WEFT_GATEWAY_DESCRIBE_PATH "/_weft/describe"
#define WEFT_GATEWAY_METRICS_PATH "/_weft/metrics"
#define WEFT_GATEWAY_READY_PATH "/readyz"

/* ---- Metrics and the access log (metrics.c) ------------------------------------------ */

/* The metrics of requests routed by pattern ("(unmatched)" for none): the registry's
 * series, made once per pattern and kept for ever (the same after a reload). NULL when
 * the registry is full. */
const route_metrics_t *weft_gateway_route_metrics(const char *pattern);
/* Attaches what log_access needs to req (in its pool: h2o aborts when that is out of
 * memory); the caller may change its metrics once the request is routed. */
req_info_t *weft_gateway_req_info_set(h2o_req_t *req, uint64_t id, const route_metrics_t *metrics);
/* Registers the logger that counts every request h2o handed to weft once it is done, and
 * writes its access log line (gw->access_log_fd). */
void weft_gateway_logger_setup(weft_gateway_t *gw, h2o_pathconf_t *path);
/* GET /_weft/metrics's text for site (on a worker); *out freed with free(). */
int weft_gateway_metrics(weft_gateway_site_t *site, char **out, weft_error_t *err);

/* ---- weft's own endpoints guarded (auth.c) ------------------------------------------ */

/* Is the path (without its query) one of weft's own endpoints: /brokers, /_weft, /kv,
 * /blobs, /docs, or below one of them? */
bool weft_gateway_guarded_path(const char *path, size_t len);
/* May req reach weft's own endpoints? 0 when it may; otherwise the status to answer
 * (401: no token or the wrong one, with WWW-Authenticate added to req's response; 403:
 * no token is set and the client is not on a loopback address), with *why. */
unsigned weft_gateway_auth(const weft_gateway_t *gw, h2o_req_t *req, const char **why);

/* ---- The services over HTTP (store_api.c) ------------------------------------------- */

/* The prefixes the API is routed under, one per handler kind. */
#define WEFT_GATEWAY_KV_ROUTE "/kv/..."
#define WEFT_GATEWAY_BLOBS_ROUTE "/blobs/..."
#define WEFT_GATEWAY_DOCS_ROUTE "/docs/..."

/* On a worker: runs rq's call of the API (its request copied by
 * weft_gateway_prepare_request) and sets its answer; for a blob read whose body is
 * streamed, reads the next chunk. */
void weft_store_api_run(request_t *rq);
/* On rq's I/O thread, once the worker sent it back: answers the client (or sends the
 * next chunk). True when rq lives on (a body still streaming: it comes back through
 * the pool); false when the caller frees it (weft_gateway_request_free). */
bool weft_store_api_answer(request_t *rq);
/* Frees the call's state (request_free). */
void weft_store_api_free(struct store_call *call);

/* Frees rq and ends its count in flight (server.c), on its I/O thread. */
void weft_gateway_request_done(request_t *rq);
/* The plain-text answer weft gives itself (server.c). */
void weft_gateway_answer_text(weft_gateway_t *gw, h2o_req_t *req, unsigned status,
                              const char *text);

/* ---- Server-Sent Events (sse.c) ------------------------------------------------------ */

/* Sets up the thread's streams (its loop and queue exist). */
void weft_sse_init(io_thread_t *io);
/* GET /brokers/<broker>/events on site: 0 when the stream runs; otherwise the status to
 * answer, with why. */
unsigned weft_sse_open(io_thread_t *io, h2o_req_t *req, weft_gateway_site_t *site,
                       const char *broker, char *why, size_t why_cap);
/* The thread's site changed: the streams of brokers it lacks end. */
void weft_sse_site_changed(io_thread_t *io);
/* The server stops: every stream of the thread ends. True when one did: HTTP/2 writes
 * the end of a stream at the end of a loop turn, and only while its connection is not
 * closing, so the thread gives it that turn before it closes connections. */
bool weft_sse_stop(io_thread_t *io);
/* Before the thread's queue is destroyed. */
void weft_sse_dispose(io_thread_t *io);

/* GET /_weft/describe's JSON for site (describe.c); *out freed with free(). */
int weft_gateway_describe(weft_gateway_site_t *site, char **out, weft_error_t *err);

/* The live event page (page.c): HTML, len bytes. */
const char *weft_gateway_page(size_t *len);

/* The gateway's site, held once more for the caller (gateway.c). */
weft_gateway_site_t *weft_gateway_site_acquire(weft_gateway_t *gw);
/* Makes every I/O thread run its loop once more: look at gw->stopping, gw->closing and
 * gw->site (server.c). */
void weft_gateway_wake_io(weft_gateway_t *gw);

int weft_pool_init(pool_t *p, size_t max, void (*run)(request_t *rq));
/* Queues rq; a thread is started when none is idle and the bound allows one. */
int weft_pool_submit(pool_t *p, request_t *rq);
/* Waits until no request is queued or running. */
void weft_pool_drain(pool_t *p);
/* Stops and joins every thread (after draining). */
void weft_pool_destroy(pool_t *p);

/* On the I/O thread: rq's request for the function, copied from req (request.c). */
int weft_gateway_prepare_request(request_t *rq, h2o_req_t *req);
/* Did the client name the host (Host, or HTTP/2's :authority)? h2o moves Host out of
 * the headers into req->input.authority, which is its host entry's name when the
 * client gave none. */
bool weft_gateway_host_given(const h2o_req_t *req);
/* Calls rq's function and sets its answer (request.c). With budget_ns, a run still
 * going after that long is stopped and nothing of it is kept: returns false, and rq can
 * be run again. Otherwise (and always without a budget) returns true. */
bool weft_gateway_run_request(request_t *rq, uint64_t budget_ns);
/* Stops the server if it runs and frees what weft_gateway_start made (server.c). */
void weft_gateway_server_free(weft_gateway_t *gw);

/* ---- The head guard (guard.c) -------------------------------------------------------
 * What h2o 2.2 leaves undone while an HTTP/1 connection waits for a request head:
 * ambiguous lengths (400), heads over max_header_bytes or H2O_MAX_HEADERS (431), heads
 * late (408), idle keep-alive connections. All on the connection's I/O thread. */

/* Sets up the thread's lists (before its loop runs). */
void weft_guard_init(io_thread_t *io);
/* Hands a connection just accepted to h2o, after a TLS handshake when the server has
 * TLS, with the guard in front of its first head. */
void weft_guard_accept(conn_entry_t *e);
/* For each request (on_request): an HTTP/1 one is watched until its memory is freed,
 * which is when h2o turns to the next head. False for an HTTP/1 request whose head the
 * guard did not read (a bug: on_request refuses it rather than trust it). */
bool weft_guard_request(h2o_req_t *req);
/* Puts the guard back in front of the connections whose answer is written; io_main
 * calls it before each turn of the loop, before they can read again. */
void weft_guard_arm(io_thread_t *io);
/* Acts on the deadlines: 408, idle and lingering connections closed. */
void weft_guard_sweep(io_thread_t *io);
/* The connection's socket is being freed (its on_close). */
void weft_guard_forget(conn_entry_t *e);
/* h2o's http1.req_timeout: a backstop that must never fire before the guard's own
 * deadlines, in milliseconds. */
uint64_t weft_guard_backstop_ms(const weft_gateway_t *gw);

#endif
