/* gateway: WASI modules served as HTTP handlers, the way WAGI does it.
 *
 * An HTTP request is routed (router.c) to a function of the app, mapped to a CGI
 * invocation (cgi_request.c: environment, argv, the body as stdin), run in a fresh
 * instance on a worker thread (invoke layer), and the guest's stdout is parsed as a
 * CGI response (cgi.c). The server (server.c) is h2o; guests never run on its I/O
 * threads, so a slow guest stalls only its own request.
 *
 * The router and the two CGI mappings are exported on their own as well, for unit
 * tests and fuzzers, and because the event layer delivers events to functions through
 * the same mapping.
 */
#ifndef WEFT_GATEWAY_H
#define WEFT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../app/app.h"
#include "../engine/engine.h"
#include "../util/util.h"

/* ---- A list of strings ------------------------------------------------------------- */

/* The strings live one after the other in one buffer, so that building a request's
 * environment costs a few allocations rather than one per variable. */
typedef struct weft_strv {
    char **v; /* NULL-terminated; point into arena, valid until the next add or free */
    size_t n, cap;
    weft_buf_t arena;
} weft_strv_t;

/* Appends a copy of s[0..len). WEFT_ELIMIT past WEFT_CGI_MAX_VARS strings. */
int weft_strv_add(weft_strv_t *sv, const char *s, size_t len);
void weft_strv_free(weft_strv_t *sv);

/* ---- Router ------------------------------------------------------------------------ */

/* A route is exact ("/foo" matches "/foo" only) or a wildcard ("/foo/..." matches
 * "/foo", "/foo/" and "/foo/x", never "/foobar"; "/..." matches every path). When
 * several match, the most specific wins: an exact route over any wildcard, a longer
 * wildcard prefix over a shorter one. Paths are compared as they came on the wire,
 * percent-encoding included, as WAGI does. */
typedef struct weft_route {
    char *pattern; /* as declared */
    char *prefix;  /* wildcards: the pattern without "/..." ("" for "/...") */
    bool wildcard;
    void *target; /* borrowed; what the route serves */
} weft_route_t;

typedef struct weft_router weft_router_t;

int weft_router_new(weft_router_t **out);
/* Adds pattern (copied). A pattern that is already there is refused (WEFT_EINVAL). */
int weft_router_add(weft_router_t *r, const char *pattern, void *target, weft_error_t *err);
/* The most specific route matching path[0..len), or NULL. */
const weft_route_t *weft_router_match(const weft_router_t *r, const char *path, size_t len);
size_t weft_router_count(const weft_router_t *r);
/* Routes in the order they are tried (most specific first). */
const weft_route_t *weft_router_at(const weft_router_t *r, size_t i);
void weft_router_free(weft_router_t *r);

/* WAGI's composition of a module's route and a sub-route from its _routes export:
 * "/base/..." + "/sub" is "/base/sub", with exactly one slash between them. Writes a
 * NUL-terminated string; WEFT_EINVAL when it does not fit. */
int weft_route_join(const char *base, const char *sub, char *out, size_t cap);

/* SCRIPT_NAME for a route: the pattern without "/..." ("/" for "/..."). */
const char *weft_route_script_name(const weft_route_t *route);

/* ---- CGI request mapping ----------------------------------------------------------- */

/* Bound on the variables or arguments of one request. */
#define WEFT_CGI_MAX_VARS 4096

typedef struct weft_cgi_header_in {
    const char *name; /* as received */
    const char *value;
} weft_cgi_header_in_t;

/* What the gateway knows of one request, all borrowed. */
typedef struct weft_cgi_request {
    const char *method;
    const char *protocol; /* "HTTP/1.1" */
    const char *raw_path; /* as on the wire, without the query */
    const char *query;    /* after '?', raw; NULL when the target had no '?' */
    const weft_route_t *route;
    const char *remote_addr; /* "127.0.0.1" */
    const char *server_name; /* from Host, else the listen address */
    const char *server_port;
    bool tls;
    uint64_t content_length; /* of the body as the guest gets it */
    const weft_cgi_header_in_t *headers;
    size_t nheaders;
} weft_cgi_request_t;

/* Builds the guest's environment: the global variables (--env, --env-file) first, the
 * module's environment next, the CGI variables last; a later definition of a name
 * replaces an earlier one, so every name appears once and the CGI variables cannot be
 * overridden. Every request header becomes HTTP_<NAME> (upper case, '-' as '_'),
 * except Authorization and Connection; repeated headers are joined with ", ". */
int weft_cgi_env(const weft_cgi_request_t *rq, const char *const *global, size_t nglobal,
                 const char *const *module, size_t nmodule, weft_strv_t *out);

/* Builds argv. Without a template: the raw request path, then each non-empty
 * '&'-separated item of the raw query. With one (WAGI's `argv`): ${SCRIPT_NAME} and
 * ${ARGS} (the query items, space-separated) are substituted and the result is split
 * on spaces. */
int weft_cgi_argv(const char *tmpl, const weft_cgi_request_t *rq, weft_strv_t *out);

/* ---- CGI response parsing ---------------------------------------------------------- */

/* Bounds on what a guest may answer with. */
#define WEFT_CGI_MAX_HEADERS 128
#define WEFT_CGI_MAX_HEADER_BLOCK (64u << 10)

typedef struct weft_cgi_header {
    const char *name; /* NUL-terminated, inside the parsed buffer */
    const char *value;
} weft_cgi_header_t;

typedef struct weft_cgi_response {
    unsigned status;
    weft_cgi_header_t headers[WEFT_CGI_MAX_HEADERS]; /* to send, in the guest's order */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    const char *error; /* why the output is not a CGI response (for the 500 body) */
} weft_cgi_response_t;

/* Told about each header line that is dropped, and why. */
typedef void (*weft_cgi_warn_fn)(void *arg, const char *why, const char *line, size_t len);

/* Parses a guest's stdout out[0..len) as a CGI response. out[len] must be writable (a
 * weft_buf_t always has that byte): names and values are cut in place with NULs, and
 * resp points into out. The header block ends at the first empty line ("\n\n" or
 * "\r\n\r\n"); output that ends inside it is all headers. Content-Type, Location and
 * Status are the CGI fields; Location alone means 302. Any other header that is valid
 * HTTP is passed on, repeated ones kept in order; invalid ones and the ones the server
 * owns (Content-Length, Transfer-Encoding, Connection, ...) are dropped and reported
 * to warn. Returns 0, or WEFT_EINVAL with resp->error set when there is no
 * Content-Type, Location or Status, or the header block is too large. */
int weft_cgi_parse(uint8_t *out, size_t len, weft_cgi_response_t *resp, weft_cgi_warn_fn warn,
                   void *arg);

/* ---- The gateway ------------------------------------------------------------------- */

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
#define WEFT_GATEWAY_MAX_RESPONSE (64u << 20)     /* guest stdout */
#define WEFT_GATEWAY_MAX_STDERR_BYTES (64u << 10) /* guest stderr logged per request ... */
#define WEFT_GATEWAY_MAX_STDERR_LINES 1000        /* ... whichever comes first */
#define WEFT_GATEWAY_DEFAULT_WORKERS 64           /* guests running at once */

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
} weft_gateway_config_t;

typedef struct weft_gateway weft_gateway_t;

/* Compiles and loads every function of app (borrowed until weft_gateway_free), runs
 * each module's _routes export once to learn its sub-routes, and builds the router.
 * Nothing listens yet. */
int weft_gateway_create(const weft_app_t *app, const weft_gateway_config_t *cfg,
                        weft_gateway_t **out, weft_error_t *err);

/* Calls fn for each route served, most specific first: pattern, and the function name
 * and entry point behind it (NULL for built-ins like /healthz). */
void weft_gateway_each_route(const weft_gateway_t *gw,
                             void (*fn)(void *arg, const char *pattern, const char *function,
                                        const char *entrypoint),
                             void *arg);

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
