/* invoke: the one way to call a function.
 *
 * A function is loaded once from the app model (its module compiled and loaded, its
 * volumes checked) and then called any number of times, from any thread, each call in
 * a fresh instance with its own WASI world and host APIs, under the function's limits.
 * Two kinds of call:
 *
 *  - weft_function_call: a transport-neutral request (what an HTTP request or an event
 *    delivered to a function is) mapped to a CGI invocation (cgi_env.c: environment
 *    and argv; the body is stdin) and the guest's stdout read as a CGI response
 *    (cgi_response.c). The outcome decides the status as WAGI users know it: a trap or
 *    a non-zero exit is 500, the function's timeout 504, a response over the limit
 *    500, otherwise the status the guest printed. The gateway and the event triggers
 *    come through here, so a function does not know who called it.
 *  - the same request to a function whose executor is Spin's (spin_http.c): the export
 *    handle-http-request of a Spin 1 module is called with the request as Spin 1's
 *    canonical-ABI records and its answer read back (status, headers, body), under the
 *    same outcomes; a method Spin has no case for is 405 without a call.
 *  - weft_function_message: one message of a channel (Spin's Redis trigger) to a
 *    module exporting Spin's handle-redis-message, or on stdin to any other.
 *  - weft_function_run: a plain WASI command with weft's own stdio, argv, preopens and
 *    sockets (`weft run`), or wasmtime's --invoke: any export called with arguments
 *    given as text, its results printed.
 *
 * Either way a WASI reactor (a module exporting _initialize) has its _initialize run
 * once in every instance, before the export called, as wasmtime does.
 *
 * Nothing of the engine or of WASI shows through this header: callers see the app
 * model, requests, responses and outcomes.
 */
#ifndef WEFT_INVOKE_H
#define WEFT_INVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../app/app.h"
#include "../util/util.h"

/* Registers every host function weft provides with the engine. Call once at start-up;
 * it fails only when the engine's tables are full. */
int weft_invoke_init(weft_error_t *err);

/* ---- Bounds (one place to change each) ------------------------------------------- */

/* Defaults of the call options below when they are 0 (the [server] keys of the same
 * names, README.md "weft.toml"). */
#define WEFT_INVOKE_MAX_RESPONSE (64u << 20)     /* guest stdout */
#define WEFT_INVOKE_MAX_STDERR_BYTES (64u << 10) /* guest stderr delivered per call ... */
#define WEFT_INVOKE_MAX_STDERR_LINES 1000        /* ... whichever comes first */
/* Bytes of one guest stderr line delivered (the rest of the line is cut). */
#define WEFT_INVOKE_MAX_STDERR_LINE 4096
/* Bound on the variables or arguments of one request. */
#define WEFT_CGI_MAX_VARS 4096
/* Longest SCRIPT_NAME kept (a longer route is cut). */
#define WEFT_CGI_MAX_ROUTE 4096
/* Bounds on what a guest may answer with. */
#define WEFT_CGI_MAX_HEADERS 128
#define WEFT_CGI_MAX_HEADER_BLOCK (64u << 10)

/* ---- Functions ------------------------------------------------------------------- */

typedef struct weft_function weft_function_t;

/* Which compiled form of the module to load: the engine compiles a module two ways
 * (tiers), each cached. */
typedef enum weft_function_tier {
    WEFT_FUNCTION_TIER_AUTO = 0, /* optimized if cached; else fast for a large module */
    WEFT_FUNCTION_TIER_FAST,     /* tcc: compiles quickly, runs several times slower */
    WEFT_FUNCTION_TIER_OPT,      /* cc -O2: wait for it if need be */
} weft_function_tier_t;

typedef struct weft_function_opts {
    const char *const *env; /* global "NAME=value" (--env, --env-file), before the
                               function's own; borrowed until weft_function_release */
    size_t nenv;
    const char *cache_dir; /* artifact cache; NULL: the default */
    bool quiet;            /* no compile progress */
    weft_function_tier_t tier;
    /* When the fast tier was loaded (auto, for a large module): build the optimized
     * tier in the background, one function at a time, and give new calls that one
     * when it is ready; calls under way finish on the fast tier. weft up does this. */
    bool upgrade;
    /* The services its guests may use within the function's grants (host.h's
     * weft_services_t, shared by the app's functions); NULL: every call of them answers
     * "store unavailable". Borrowed until weft_function_release. */
    struct weft_services *services;
} weft_function_opts_t;

/* Compiles (through the cache) and loads def's module. def and opts' strings are
 * borrowed until weft_function_release. A volume's folder is opened at each call (a
 * missing one fails that call). */
int weft_function_load(const weft_app_function_t *def, const weft_function_opts_t *opts,
                       weft_function_t **out, weft_error_t *err);
/* Stops a background build of the optimized tier (its compilers are killed) and
 * frees fn once no call uses it. */
void weft_function_release(weft_function_t *fn);
/* Is fn running its module's optimized tier (or an artifact file)? False while the fast
 * tier serves and the optimized one is still being built. */
bool weft_function_optimized(weft_function_t *fn);

/* The definition it was loaded from. */
const weft_app_function_t *weft_function_def(const weft_function_t *fn);
/* Does its module export a function `entry` that a call can start at? */
bool weft_function_has_entry(const weft_function_t *fn, const char *entry);
/* 0 when it does; otherwise an error that names the module and says what it exports
 * instead ("app.wasm has no exported function '_start': it is a reactor (it exports
 * _initialize and no _start); its functions are _initialize, add, handle"). */
int weft_function_entry_check(const weft_function_t *fn, const char *entry, weft_error_t *err);
/* Writes the names of the functions its module exports, ", "-separated ("" when none),
 * cut with "..." to fit size. */
void weft_function_exports(const weft_function_t *fn, char *out, size_t size);
/* Can a call run twice without anyone noticing? True when the function has no volume
 * and no outbound HTTP, and no trial of it has yet wanted to write a store: it touches
 * nothing but its own stdin, stdout and stderr, which the call holds, and reads of the
 * stores. Such a call may be tried within a budget and run again: a trial that wants to
 * write (a key set, a document put, a publish) is stopped before it writes, as by its
 * budget, and from then on the function answers false. */
bool weft_function_repeatable(const weft_function_t *fn);

/* ---- Outcomes -------------------------------------------------------------------- */

typedef enum {
    WEFT_CALL_RETURNED,     /* the entry point returned */
    WEFT_CALL_EXITED,       /* proc_exit(exit_code) */
    WEFT_CALL_TRAPPED,      /* a trap (trap names it) other than the two below */
    WEFT_CALL_DEADLINE,     /* stopped at the function's timeout */
    WEFT_CALL_MEMORY_LIMIT, /* a memory.grow past the function's max_memory */
    WEFT_CALL_BUDGET,       /* stopped by the call's budget: nothing of it was kept or
                               delivered, and the same call may be made again */
    WEFT_CALL_NOT_STARTED,  /* could not be started (the error says why) */
} weft_call_end_t;

typedef struct weft_call_outcome {
    weft_call_end_t end;
    uint32_t exit_code; /* WEFT_CALL_EXITED */
    const char *trap;   /* the trap, "integer divide by zero" (static); NULL: none */
} weft_call_outcome_t;

/* ---- Requests and responses -------------------------------------------------------- */

typedef struct weft_header {
    const char *name;
    const char *value;
} weft_header_t;

/* What the caller knows of one request, all borrowed for the call. */
typedef struct weft_request {
    const char *method;
    const char *protocol; /* "HTTP/1.1" */
    const char *path;     /* as on the wire, without the query */
    const char *query;    /* after '?', raw; NULL when there was no '?' */
    /* The route the path matched: "/exact", or "/prefix/..." (SCRIPT_NAME is the
     * prefix, PATH_INFO what follows it). NULL: the path itself, as an exact route. */
    const char *route;
    /* Spin's named wildcards the route matched (":id" gives name "id"), in route
     * order; they become the params of Spin's handler and spin-path-match-* headers. */
    const weft_header_t *params;
    size_t nparams;
    /* The route's definition (weft_app_route_t's raw and base: Spin's headers); NULL:
     * not known (an event delivered to the function). */
    const struct weft_app_route *route_def;
    /* What of path the route's trailing wildcard matched ("/x" of "/users/7/x" for
     * "/users/:id/..."; "" for a route without one); NULL: worked out from route. */
    const char *path_info;
    const char *remote_addr; /* "127.0.0.1" */
    const char *remote_port; /* "52311"; NULL: not known */
    const char *server_name; /* from Host, else the listen address */
    const char *server_port;
    bool tls;
    const weft_header_t *headers; /* in the order received, repeats kept */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
} weft_request_t;

typedef struct weft_call_opts {
    const char *entry; /* export to call; NULL: the function's entrypoint */
    /* A trial: a call still running after budget_ns (when that is shorter than the
     * function's timeout) is stopped and ends WEFT_CALL_BUDGET; until the call is
     * known to count, its stderr is held back. 0: no budget. */
    uint64_t budget_ns;
    uint64_t max_response;     /* stdout beyond: 500; 0: WEFT_INVOKE_MAX_RESPONSE */
    uint64_t max_stderr_lines; /* 0: WEFT_INVOKE_MAX_STDERR_LINES */
    uint64_t max_stderr_bytes; /* 0: WEFT_INVOKE_MAX_STDERR_BYTES */
    /* Prefixes every log line of the call: the guest's stderr lines (control
     * characters made visible), the failures, the dropped response headers
     * ("/cart/... #17: 500: trap: ..."). NULL: the function's name. */
    const char *log_tag;
    /* When set, the guest's stderr lines (within the caps, without their newline) go
     * here instead of the log. Called on the calling thread. */
    void (*on_stderr)(void *arg, const char *line, size_t len);
    void *arg;
} weft_call_opts_t;

typedef struct weft_response {
    weft_call_outcome_t outcome;
    unsigned status; /* 200..599 */
    /* Why the call failed, a short text for the body of an error status (static);
     * NULL when status, headers and body are the guest's own. */
    const char *error;
    const weft_header_t *headers; /* in the guest's order, repeats kept */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;                  /* all borrowed from the response until weft_response_free */
    struct weft_response_data *data_; /* private: what the fields point into */
} weft_response_t;

/* Calls fn with rq, filling *resp (every field; free it with weft_response_free,
 * whatever the outcome). Returns 0 when the call ended one way or another (its
 * outcome and status in *resp), and an error only when the call could not be set up
 * at all (out of memory, too many variables). Thread-safe.
 *
 * rq NULL calls a module's own set-up export (WAGI's _routes): argv is the function's
 * name, there is no environment and no stdin, and stdout, up to max_response, is the
 * body as printed (not read as CGI; status 200 when the guest returned or exited 0). */
int weft_function_call(weft_function_t *fn, const weft_request_t *rq, const weft_call_opts_t *opts,
                       weft_response_t *resp, weft_error_t *err);
void weft_response_free(weft_response_t *resp);

/* ---- Messages (Spin's Redis trigger) ------------------------------------------------ */

/* One message of a channel, borrowed for the call. */
typedef struct weft_message {
    const char *channel; /* NUL-terminated (a channel with a NUL is never subscribed) */
    const uint8_t *payload;
    size_t len;
} weft_message_t;

/* Calls fn with one message: a module exporting Spin 1's handle-redis-message (and
 * canonical_abi_realloc) through that export, the payload as its list<u8> (spin_redis.c);
 * any other module at its entrypoint with the payload as stdin, argv the function's
 * name, and REDIS_CHANNEL=channel after the global and the function's own variables.
 * Either way what it prints on stdout and stderr goes to the log line by line (opts'
 * caps, tag and on_stderr apply; budget_ns and max_response do not). *handled is set
 * when it handled the message: Spin's handler answered ok(()) or err(success) (as Spin
 * judges it), or the entrypoint returned or exited 0; a failure is logged with why (a
 * trap, the timeout, a non-zero exit, Spin's err(error)). Returns an error only when the
 * call could not be set up. Thread-safe. */
int weft_function_message(weft_function_t *fn, const weft_message_t *msg,
                          const weft_call_opts_t *opts, weft_call_outcome_t *out, bool *handled,
                          weft_error_t *err);

/* A plain WASI command: weft's own stdin, stdout and stderr, the argv given, the
 * function's environment and volumes, and host sockets handed over (numbered after
 * the volumes). The error is set when the call could not start.
 *
 * With `invoke`, wasmtime's --invoke: entry may be any function export; its parameters
 * are read from params (as many as it takes, as weft_value_parse reads them; more are
 * ignored) and its results, when it returns, are written to *results one a line (as
 * weft_value_format writes them). An entry NULL then calls nothing: the module is
 * instantiated and its _initialize, if any, run. */
typedef struct weft_run_opts {
    const char *entry; /* NULL: the function's entrypoint */
    const char *const *argv;
    size_t argc;
    const int *sockets;
    size_t nsockets;
    bool invoke;
    const char *const *params;
    size_t nparams;
    weft_buf_t *results;
} weft_run_opts_t;

int weft_function_run(weft_function_t *fn, const weft_run_opts_t *opts, weft_call_outcome_t *out,
                      weft_error_t *err);

/* ---- Values as text (wasmtime's --invoke), on their own (for unit tests) ----------- */

/* Reads s as a value of type t ('i' i32, 'I' i64, 'f' f32, 'F' f64: weft_import_def_t's
 * letters) into its bits (engine.h's weft_value_t): an integer in decimal with an
 * optional sign or in hex after 0x (an i32 from -2147483648 to 4294967295, an i64 in
 * either 64-bit range), a float as 1.5, -2e-3, inf or NaN. WEFT_EINVAL for anything
 * else. */
int weft_value_parse(char t, const char *s, uint64_t *out);
/* Writes the value of type t with bits v as wasmtime prints a result: integers signed,
 * floats in the shortest decimal that reads back the same, without an exponent (1.5,
 * 3, 0.1, 100000000000000000000, NaN, -inf). 400 bytes always suffice. */
void weft_value_format(char t, uint64_t v, char *out, size_t size);

/* ---- The CGI mapping, on its own (for unit tests and fuzzers) -------------------- */

/* A list of strings living one after the other in one buffer, so that building a
 * request's environment costs a few allocations rather than one per variable. */
typedef struct weft_strv {
    char **v; /* NULL-terminated; point into arena, valid until the next add or free */
    size_t n, cap;
    weft_buf_t arena;
} weft_strv_t;

/* Appends a copy of s[0..len). WEFT_ELIMIT past WEFT_CGI_MAX_VARS strings. */
int weft_strv_add(weft_strv_t *sv, const char *s, size_t len);
void weft_strv_free(weft_strv_t *sv);

/* Builds the guest's environment: the global variables first, the function's own
 * next, the CGI variables last; a later definition of a name replaces an earlier one,
 * so every name appears once and the CGI variables cannot be overridden. Every request
 * header becomes HTTP_<NAME> (upper case, '-' as '_'), except Authorization and
 * Connection; repeated headers are joined with ", ". CONTENT_LENGTH is rq->body_len. */
int weft_cgi_env(const weft_request_t *rq, const char *const *global, size_t nglobal,
                 const char *const *module, size_t nmodule, weft_strv_t *out);

/* Builds argv. Without a template: the raw request path, then each non-empty
 * '&'-separated item of the raw query. With one (WAGI's `argv`): ${SCRIPT_NAME} and
 * ${ARGS} (the query items, space-separated) are substituted and the result is split
 * on spaces. */
int weft_cgi_argv(const char *tmpl, const weft_request_t *rq, weft_strv_t *out);

/* weft_cgi_argv for a function from a spin.toml: Spin's WAGI executor substitutes the
 * request's path for ${SCRIPT_NAME} (not the route's prefix). */
int weft_cgi_argv_spin(const char *tmpl, const weft_request_t *rq, weft_strv_t *out);

/* SCRIPT_NAME for a route: the pattern without "/..." ("/" for "/..."). */
const char *weft_cgi_script_name(const char *route, char *buf, size_t cap);

/* weft_cgi_env for a function from a spin.toml (its WAGI executor): Spin's variables
 * (weft_spin_vars' env names: X_FULL_URL, PATH_INFO, X_MATCHED_ROUTE, X_BASE_PATH, ...)
 * replace the CGI ones of the same name and follow them, as Spin's WAGI executor
 * overrides WAGI's. */
int weft_cgi_env_spin(const weft_request_t *rq, const char *const *global, size_t nglobal,
                      const char *const *module, size_t nmodule, weft_strv_t *out);

/* ---- Spin's request information, on its own (for unit tests) ---------------------- */

/* What Spin (trigger-http's compute_default_headers) tells a component of its request
 * beyond the request itself, in Spin's order, each as a header name (for the Spin
 * executor), a variable name (for the WAGI executor) and a value:
 *   spin-path-info            PATH_INFO              the path after a trailing
 *                                                    wildcard's prefix ("" for an
 *                                                    exact route), as on the wire
 *   spin-full-url             X_FULL_URL             scheme://Host (else "localhost")
 *                                                    + path and query
 *   spin-matched-route        X_MATCHED_ROUTE        route_def->path (with the base)
 *   spin-base-path            X_BASE_PATH            route_def->base, else "/"
 *   spin-raw-component-route  X_RAW_COMPONENT_ROUTE  route_def->raw
 *   spin-component-route      X_COMPONENT_ROUTE      raw without its "/..."
 *   spin-client-addr          X_CLIENT_ADDR          "ip:port" ("[ip]:port" for IPv6)
 *   spin-path-match-NAME      X_PATH_MATCH_NAME      each named wildcard's match: NAME
 *                                                    lower case, '_' as '-', in the
 *                                                    header; upper case in the variable
 * Without route_def (an event, a test) the route is rq->route, else the path. */
typedef struct weft_spin_vars {
    weft_strv_t headers; /* header names */
    weft_strv_t env;     /* variable names */
    weft_strv_t values;  /* values[i] belongs to headers[i] and env[i] */
} weft_spin_vars_t;

int weft_spin_vars(const weft_request_t *rq, weft_spin_vars_t *out);
void weft_spin_vars_free(weft_spin_vars_t *v);

/* Spin's method enum for an HTTP method (GET 0, POST 1, PUT 2, DELETE 3, PATCH 4, HEAD 5,
 * OPTIONS 6); -1 for any other, which Spin answers 405 without calling the handler. */
int weft_spin_method(const char *method);

/* Is a response header name: value fit to send (the rules weft_cgi_parse drops headers
 * by: a token for a name, field-value characters for a value, none the server owns)?
 * NULL when it is; else why not ("invalid character in header name"). */
const char *weft_http_header_problem(const char *name, size_t name_len, const char *value,
                                     size_t value_len);

/* A guest's stdout parsed as a CGI response. */
typedef struct weft_cgi_response {
    unsigned status;
    weft_header_t headers[WEFT_CGI_MAX_HEADERS]; /* to send, in the guest's order */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    const char *error; /* why the output is not a CGI response (for the 500 body) */
} weft_cgi_response_t;

/* Told about each header line that is dropped, and why. */
typedef void (*weft_cgi_warn_fn)(void *arg, const char *why, const char *line, size_t len);

/* Parses a guest's stdout out[0..len) as a CGI response. out[len] must be writable (a weft_buf_t
 * always has that byte): names and values are cut in place with NULs, and resp points
 * into out. The header block ends at the first empty line ("\n\n" or "\r\n\r\n");
 * output that ends inside it is all headers. Content-Type, Location and Status are the
 * CGI fields; Location alone means 302. Any other header that is valid HTTP is passed
 * on, repeated ones kept in order; invalid ones and the ones the server owns
 * (Content-Length, Transfer-Encoding, Connection, ...) are dropped and reported to
 * warn. Returns 0, or WEFT_EINVAL with resp->error set when there is no Content-Type,
 * Location or Status, or the header block is too large. */
int weft_cgi_parse(uint8_t *out, size_t len, weft_cgi_response_t *resp, weft_cgi_warn_fn warn,
                   void *arg);

#endif
