/* gateway: WASI modules served as HTTP handlers, the way WAGI does it.
 *
 * An HTTP request is routed (router.c) to a function of the app and handed to the
 * invoke layer as a transport-neutral request; its response (status, headers, body)
 * goes back to the client. The server (server.c) is h2o; short functions are tried on
 * its I/O threads within a budget, every other call runs on a worker thread, so a slow
 * guest stalls only its own request.
 *
 * The router is exported on its own as well, for unit tests.
 */
#ifndef WEFT_GATEWAY_H
#define WEFT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../app/app.h"
#include "../events/events.h"
#include "../util/util.h"

/* ---- Router ------------------------------------------------------------------------ */

/* A route is exact ("/foo" matches "/foo" only) or a wildcard ("/foo/..." matches
 * "/foo", "/foo/" and "/foo/x", never "/foobar"; "/..." matches every path), and may
 * hold Spin's named single-segment wildcards ("/users/:id" matches "/users/7", never
 * "/users/" or "/users/7/x"; "/users/:id/..." also matches below it). When several
 * match, the most specific wins: segment by segment from the left, a literal segment
 * over a named one over a trailing wildcard, so an exact route wins over any wildcard
 * and a longer wildcard prefix over a shorter one (Spin's and WAGI's rule). Paths are
 * compared as they came on the wire, percent-encoding included, as WAGI does. */
typedef struct weft_route {
    char *pattern; /* as declared */
    char *prefix;  /* wildcards: the pattern without "/..." ("" for "/...") */
    bool wildcard;
    size_t nparams; /* its ":name" segments */
    void *target;   /* borrowed; what the route serves */
} weft_route_t;

/* The most named segments a route may have. */
#define WEFT_ROUTE_MAX_PARAMS 16

/* What a match captured: each ":name" segment's name and value (pointing into the
 * pattern and the path), and where the trailing wildcard's part of the path starts. */
typedef struct weft_route_match {
    struct {
        const char *name, *value;
        size_t name_len, value_len;
    } params[WEFT_ROUTE_MAX_PARAMS];
    size_t nparams;
    size_t prefix_len; /* bytes of the path before the wildcard's part (the whole path
                          for a route without a trailing wildcard) */
} weft_route_match_t;

typedef struct weft_router weft_router_t;

int weft_router_new(weft_router_t **out);
/* Adds pattern (copied). A pattern that is already there, or a ":" segment without a
 * name, or more than WEFT_ROUTE_MAX_PARAMS of them, is refused (WEFT_EINVAL). */
int weft_router_add(weft_router_t *r, const char *pattern, void *target, weft_error_t *err);
/* The most specific route matching path[0..len), or NULL; m (may be NULL) gets what it
 * captured. */
const weft_route_t *weft_router_match(const weft_router_t *r, const char *path, size_t len,
                                      weft_route_match_t *m);
size_t weft_router_count(const weft_router_t *r);
/* Routes in the order they are tried (most specific first). */
const weft_route_t *weft_router_at(const weft_router_t *r, size_t i);
void weft_router_free(weft_router_t *r);

/* WAGI's composition of a module's route and a sub-route from its _routes export:
 * "/base/..." + "/sub" is "/base/sub", with exactly one slash between them. Writes a
 * NUL-terminated string; WEFT_EINVAL when it does not fit. */
int weft_route_join(const char *base, const char *sub, char *out, size_t cap);

/* ---- The gateway ------------------------------------------------------------------- */

/* The export a Spin HTTP handler is called at (weft_app_executor_t). */
#define WEFT_GATEWAY_SPIN_ENTRY "handle-http-request"

/* Bounds of the server, each with one place to change it; the defaults of the
 * [server] keys of the same names (README.md, "weft.toml"). */
#define WEFT_GATEWAY_MAX_HEADER_BYTES (64u << 10) /* request line + headers */
/* The most max_header_bytes may be: h2o reads no further into a head than its
 * H2O_MAX_REQLEN (8192 + 4096 * 100 bytes; server.c checks that the two agree). */
#define WEFT_GATEWAY_MAX_HEADER_BYTES_LIMIT 417792u
#define WEFT_GATEWAY_MIN_HEADER_BYTES 1024u
#define WEFT_GATEWAY_HEADER_TIMEOUT_S 10 /* to receive a request head */
#define WEFT_GATEWAY_IDLE_TIMEOUT_S 60   /* keep-alive connection between requests */
/* Connections open at once. Each costs a descriptor and a few KiB; ten thousand is far
 * more than the guests behind them can serve at once, and few enough to stay clear of
 * the descriptor limit once weft has raised it (see server.c). */
#define WEFT_GATEWAY_MAX_CONNECTIONS 10000
/* max_response, max_stderr_bytes, max_stderr_lines: invoke.h's WEFT_INVOKE_MAX_*. */
#define WEFT_GATEWAY_DEFAULT_WORKERS 64 /* guests running at once */

/* For each number below, 0 means the default above (WEFT_APP_DEFAULT_MAX_BODY for
 * max_body). */
typedef struct weft_gateway_config {
    const char *listen;     /* "ADDR:PORT" ("[::1]:3000"); port 0 picks one */
    const char *const *env; /* global "NAME=value", borrowed until free */
    size_t nenv;
    uint64_t max_body;          /* request bodies beyond get 413 */
    uint64_t max_header_bytes;  /* heads beyond get 431; at most the LIMIT above */
    uint64_t header_timeout_ns; /* a head not received in time: 408 */
    uint64_t idle_timeout_ns;   /* an idle keep-alive connection is closed */
    size_t max_connections;     /* more wait in the listen backlog */
    uint64_t max_response;      /* a guest's stdout beyond: 500 */
    uint64_t max_stderr_bytes;  /* a guest's stderr logged per request */
    uint64_t max_stderr_lines;
    const char *tls_cert; /* PEM files; both or neither */
    const char *tls_key;
    size_t workers;        /* 0: WEFT_GATEWAY_DEFAULT_WORKERS */
    const char *cache_dir; /* artifact cache; NULL: the default */
    bool quiet;            /* no compile progress */
    /* The services the app's functions may use (host.h), borrowed until free; NULL:
     * none. */
    struct weft_services *services;
    /* The bearer token weft's own endpoints (/brokers, /_weft, /kv, /blobs, /docs)
     * require; NULL or "": none, and they answer loopback clients only (auth.c).
     * Borrowed for weft_gateway_create only. */
    const char *token;
    /* The access log (README, "Operations"): "-" is stdout, a path a file appended to;
     * NULL: none. Borrowed for weft_gateway_create only. */
    const char *access_log;
} weft_gateway_config_t;

typedef struct weft_gateway weft_gateway_t;
/* A configuration served (below, "Reloading"). */
typedef struct weft_gateway_site weft_gateway_site_t;

/* Compiles and loads every function of app (borrowed until weft_gateway_free), runs
 * each module's _routes export once to learn its sub-routes, and builds the router.
 * Nothing listens yet. The gateway is ready (/readyz answers 200): the same as
 * weft_gateway_create_empty, weft_gateway_load, weft_gateway_set_ready. */
int weft_gateway_create(const weft_app_t *app, const weft_gateway_config_t *cfg,
                        weft_gateway_t **out, weft_error_t *err);

/* A gateway that can start listening before its app is compiled (weft up does): it
 * serves only weft's own endpoints (/healthz, /readyz, /_weft/...), answers any other
 * path 503 with Retry-After while it is not ready, and is not ready (/readyz: 503)
 * until weft_gateway_set_ready. */
int weft_gateway_create_empty(const weft_gateway_config_t *cfg, weft_gateway_t **out,
                              weft_error_t *err);
/* Compiles and loads app's functions (app borrowed until the site is freed) into a
 * site held once for the caller, not served yet: weft_gateway_site_add_brokers, then
 * weft_gateway_swap serves it (before or after weft_gateway_start). */
int weft_gateway_load(weft_gateway_t *gw, const weft_app_t *app, weft_gateway_site_t **out,
                      weft_error_t *err);
/* What GET /readyz answers: 200 once ready (every function compiled and every broker
 * open: the caller knows when), 503 before. */
void weft_gateway_set_ready(weft_gateway_t *gw, bool ready);

/* Log lines (weft_log) as JSON objects from now on, one a line on stderr: "time" (RFC
 * 3339, UTC, milliseconds), "level", "msg", and "request_id", "route", "function",
 * "trigger", "event_id" where the thread's log context has them (log_json.c). */
void weft_gateway_log_json(void);

/* Calls fn for each route served, most specific first: pattern, and the function name
 * and entry point behind it (NULL for built-ins like /healthz and /_weft/describe; a
 * broker's name and "(broker)" for /brokers/NAME, "(events)" for its events; NULL and "(static)"
 * for a static response). */
void weft_gateway_each_route(const weft_gateway_t *gw,
                             void (*fn)(void *arg, const char *pattern, const char *function,
                                        const char *entrypoint),
                             void *arg);

/* The loaded function of the app named name, or NULL (for the events layer's
 * function targets: one load serves routes and triggers). */
weft_function_t *weft_gateway_function(weft_gateway_t *gw, const char *name);

/* Serves every broker of the app by handing its requests to ev (borrowed until free):
 *   POST /brokers/<name>          ingest (events.h)
 *   GET  /brokers/<name>/events   the broker's events as Server-Sent Events (below)
 *   GET  /brokers/<name>          the live event page (HTML)
 * and GET /_weft/describe, the app's state as JSON (below). Before weft_gateway_start.
 *
 * With services in the configuration, the gateway also serves them over HTTP under
 * /kv, /blobs and /docs (store_api.c says how). Every one of weft's own endpoints
 * (/brokers, /_weft, /kv, /blobs, /docs; not /healthz, not a function's routes) needs
 * the configuration's token as "Authorization: Bearer TOKEN" when one is set (else 401),
 * and answers only loopback clients when none is (else 403). */
int weft_gateway_add_brokers(weft_gateway_t *gw, weft_events_t *ev, weft_error_t *err);

/* Server-Sent Events (GET /brokers/<name>/events): text/event-stream, one event per
 * message, "id: <seq>" then "data: <the event as structured-mode JSON, one line>" and a
 * blank line; a comment line (": keep-alive") when nothing else goes out at once (it
 * carries the response's head) and every WEFT_GATEWAY_SSE_KEEPALIVE_S (or
 * $WEFT_SSE_KEEPALIVE_MS milliseconds) when nothing else was sent. From the next event on, unless
 * the query says since=earliest (from the oldest retained) or the request carries Last-Event-ID
 * (after that seq: what EventSource sends when it reconnects; it wins over since); filter=<CESQL>
 * keeps only the events for which it is true (400 when it does not parse). Query values are
 * form-urlencoded (%XX, '+' a space). A stream ends when the server stops (a graceful
 * stop does not wait for it), when a swap brings a site whose brokers lack it (or that
 * hands its brokers to other events), or when the client leaves. */
#define WEFT_GATEWAY_SSE_KEEPALIVE_S 15

/* GET /_weft/metrics: every metric of weft in the Prometheus text exposition format
 * 0.0.4 (README.md, "Operations", lists them), guarded as /_weft/describe is. GET
 * /readyz: 200 "ready" once the gateway is ready, else 503 (never guarded, as /healthz).
 * Every request the gateway answers is counted by route and status class, and written
 * to the access log when there is one, once h2o is done with it. */

/* GET /_weft/describe: weft_events_describe's object (an app without brokers: empty
 * lists) with four more members:
 *   "functions":      [{"name", "module": the .wasm, "optimized": true / false}],
 *   "routes":         [{"route", "function" and "entrypoint"} or {"route", "broker"}]
 *                     (most specific first, built-ins such as /healthz left out),
 *   "redis_triggers": [{"address", "channel", "function"}],
 *   "sources":        [{"type": "redis", "address", "channel", "broker", "event_type"}]
 * (addresses without their user information and query: they may hold a password). */

/* ---- Reloading: a new configuration while requests flow ---------------------------- */

/* A configuration the gateway serves: an app's functions loaded, its routes, and
 * its brokers' routes. Requests hold the site they were routed by until they are
 * answered, so a site replaced by weft_gateway_swap serves its requests in flight to
 * the end and is freed after the last one (and after every other holder let go). */

/* Builds a site for app as weft_gateway_create builds the first one (compiling what
 * the cache lacks, running _routes), with gw's configuration; the site owns app (freed
 * with the site). Serves nothing yet. On error app is left to the caller. */
int weft_gateway_site_create(weft_gateway_t *gw, weft_app_t *app, weft_gateway_site_t **out,
                             weft_error_t *err);
/* The brokers' routes of the site's app, handed to ev (see weft_gateway_add_brokers). */
int weft_gateway_site_add_brokers(weft_gateway_site_t *site, weft_events_t *ev, weft_error_t *err);
/* The site's loaded function named name, or NULL. */
weft_function_t *weft_gateway_site_function(weft_gateway_site_t *site, const char *name);
/* A holder more / one less (the last release frees it). Any thread. */
void weft_gateway_site_retain(weft_gateway_site_t *site);
void weft_gateway_site_release(weft_gateway_site_t *site);
/* The site requests are routed by now (not retained). */
weft_gateway_site_t *weft_gateway_site(weft_gateway_t *gw);
/* Routes new requests by site from now on (gw takes the caller's hold); the site
 * replaced is released. Server-Sent Events streams of brokers the new site lacks
 * end. */
void weft_gateway_swap(weft_gateway_t *gw, weft_gateway_site_t *site);

/* Starts listening and serving. */
int weft_gateway_start(weft_gateway_t *gw, weft_error_t *err);
/* "http://127.0.0.1:3000" (the port actually bound). */
const char *weft_gateway_url(const weft_gateway_t *gw);

/* Graceful stop: no new connections are accepted, requests already received finish
 * (up to grace_ns; 0: the longest function timeout plus a second), then the server
 * stops. */
void weft_gateway_stop(weft_gateway_t *gw, uint64_t grace_ns);
void weft_gateway_free(weft_gateway_t *gw);

#endif
