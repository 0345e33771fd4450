/* util: the small pieces that several layers share.
 *
 * Errors: every fallible weft function returns 0 or a negative WEFT_E* code and,
 * when it is given a weft_error_t, fills it with one line that tells the user what
 * went wrong and where ("app.wasm: offset 0x1f: ..."). The code is for programs,
 * the message is for people.
 */
#ifndef WEFT_UTIL_H
#define WEFT_UTIL_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_VERSION "0.1.0"

/* X(name, text): one list builds the codes and weft_err_name(). */
#define WEFT_ERRORS(X)                                                                             \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(EIO, "input/output error")                                                                   \
    X(ENOTFOUND, "not found")                                                                      \
    X(EMODULE, "invalid WebAssembly module")                                                       \
    X(EIMPORT, "unsupported import")                                                               \
    X(EUNSUPPORTED, "unsupported feature")                                                         \
    X(ECOMPILE, "compilation failed")                                                              \
    X(ELOAD, "artifact could not be loaded")                                                       \
    X(ETRAP, "guest trapped")                                                                      \
    X(ELIMIT, "limit exceeded")                                                                    \
    X(ECONFIG, "invalid configuration")                                                            \
    X(EUSAGE, "usage error")                                                                       \
    X(ECANCELED, "canceled")                                                                       \
    X(ECONFLICT, "version mismatch")

enum {
    WEFT_OK = 0,
#define WEFT_ERR_ENUM_(name, text) WEFT_##name,
    WEFT_ERR_FIRST_ = -100,
    WEFT_ERRORS(WEFT_ERR_ENUM_)
#undef WEFT_ERR_ENUM_
};

/* Names an error code ("EMODULE") and says what it means ("invalid WebAssembly module"). */
const char *weft_err_name(int code);
const char *weft_err_text(int code);

#define WEFT_ERROR_MAX 1024
typedef struct weft_error {
    int code;
    char msg[WEFT_ERROR_MAX];
} weft_error_t;

/* Records code and a formatted message in err (err may be NULL); returns code so that
 * `return weft_error_set(err, WEFT_EIO, "...")` reads as one step. */
int weft_error_set(weft_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in err with "prefix: ". */
void weft_error_prefix(weft_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable byte buffer. Always NUL-terminated past len so it can be used as a string. */
typedef struct weft_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} weft_buf_t;

int weft_buf_reserve(weft_buf_t *b, size_t extra);
int weft_buf_append(weft_buf_t *b, const void *data, size_t len);
int weft_buf_puts(weft_buf_t *b, const char *s);
int weft_buf_printf(weft_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft_buf_free(weft_buf_t *b);

/* Reads a whole file into *out (caller frees with free()). */
int weft_file_read(const char *path, uint8_t **out, size_t *len, weft_error_t *err);
/* Writes data to path atomically: a temporary name in the same folder, fsync, rename. */
int weft_file_write_atomic(const char *path, const void *data, size_t len, weft_error_t *err);
/* mkdir -p */
int weft_mkdirs(const char *path, int mode);

/* SHA-256 (nettle: it needs no set-up, where OpenSSL 3's libcrypto spends some 5 ms
 * of every process start loading its providers for one digest). hex must hold 65
 * bytes. */
void weft_sha256(const void *data, size_t len, uint8_t out[32]);
void weft_hex(const uint8_t *bytes, size_t n, char *out);
/* The value of one hexadecimal digit (either case), or -1. */
int weft_hex_digit(int c);

/* "2s", "500ms", "1m", "30" (seconds) -> nanoseconds. */
int weft_parse_duration(const char *s, uint64_t *ns);
/* "64MiB", "1GiB", "65536", "10MB" -> bytes. */
int weft_parse_size(const char *s, uint64_t *bytes);

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool weft_utf8_valid(const uint8_t *s, size_t n);

/* Monotonic clock in nanoseconds. */
uint64_t weft_now_ns(void);

/* ---- HTTP ---------------------------------------------------------------------------- */

/* RFC 9110's reason phrase of status ("Not Found"), for an HTTP/1.x status line or a
 * message; its class's ("Client Error") for a status it does not name. */
const char *weft_http_reason(unsigned status);

/* A fresh random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", NUL-terminated:
 * 122 bits from getrandom, or, should the kernel have none to give, the clock and a
 * counter (unique within the process, not unguessable). */
void weft_uuid4(char out[37]);

/* ---- Plugins --------------------------------------------------------------------- */

/* A plugin is a shared object beside the weft binary that carries layers whose
 * libraries cost too much to load at every start (weft-net.so: h2o and libcurl). It
 * exports exactly one symbol: a table of functions whose type the lowest layer it
 * serves declares in its header (weft-net.so: weft_net_plugin_t in host/host.h). The
 * table begins with this head. The plugin calls back into the binary only through
 * functions that public headers declare; the build exports those and nothing else. */

/* A command of the weft CLI that lives in a plugin (`weft up`). */
typedef struct weft_plugin_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
} weft_plugin_command_t;

typedef struct weft_plugin_head {
    uint32_t abi;     /* the version of the table's type the plugin was built with */
    uint32_t size;    /* sizeof the whole table, as the plugin was built */
    const char *name; /* "weft-net", for messages */
    const weft_plugin_command_t *commands;
    size_t ncommands;
} weft_plugin_head_t;

/* What a layer asks for: the file, the table's symbol, and the version and size of
 * the table type its header declares. `cache` (one per caller, starting NULL) keeps
 * the table once found. */
typedef struct weft_plugin_spec {
    const char *file;   /* "weft-net.so" */
    const char *symbol; /* "weft_net_plugin" */
    uint32_t abi;
    uint32_t size;
    const weft_plugin_head_t **cache;
} weft_plugin_spec_t;

/* The plugin's table, loading the plugin on first use; NULL with err set (WEFT_ELOAD)
 * when the file is missing or does not load, has no such table, or was built with
 * another version of it (the message names the file and both versions). A program
 * that links the plugin's layers itself (the tests) uses its own table. The plugin is
 * looked for in $WEFT_PLUGIN_DIR, the binary's folder, then ../lib/weft beside it. */
const weft_plugin_head_t *weft_plugin_get(const weft_plugin_spec_t *spec, weft_error_t *err);
/* The command `name` of a plugin's table, or NULL. */
const weft_plugin_command_t *weft_plugin_command(const weft_plugin_head_t *p, const char *name);

/* Binds and listens on "ADDR:PORT" ("[::1]:PORT" for IPv6, ":PORT" for every address);
 * the ADDR part goes to host (host_size bytes). option names the flag the address came
 * from, for messages ("--listen nonsense: expected ADDR:PORT", a usage error, EUSAGE);
 * a failure to bind is EIO ("cannot listen on ...: Address already in use"). */
int weft_tcp_listen(const char *spec, const char *option, int backlog, char *host, size_t host_size,
                    int *fd_out, weft_error_t *err);

/* ---- Logging ---------------------------------------------------------------------- */

/* Logging to stderr, one line per call, prefixed "weft: " (or as the sink set below
 * writes it). */
void weft_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef enum { WEFT_LOG_INFO, WEFT_LOG_WARN, WEFT_LOG_ERROR } weft_log_level_t;
/* weft_log at a level ("info" is weft_log's); the level shows in JSON lines only. */
void weft_log_at(weft_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "info", "warn", "error". */
const char *weft_log_level_name(weft_log_level_t level);

/* What the thread works on now, for the fields of structured log lines: the request it
 * serves (id 0: none), its route and function, the trigger and event it delivers.
 * Every string is borrowed until the context is set again or cleared (NULL). */
typedef struct weft_log_ctx {
    uint64_t request_id;
    const char *route;
    const char *function;
    const char *trigger; /* "broker/trigger" */
    const char *event_id;
} weft_log_ctx_t;
/* Sets the thread's context (NULL clears it); returns the previous one, to restore. */
const weft_log_ctx_t *weft_log_ctx_set(const weft_log_ctx_t *ctx);

/* Where weft_log's lines go instead of "weft: MSG" on stderr (weft up's --log-format
 * json): sink gets the message without its prefix, its level and the thread's context
 * (NULL: none), from any thread, and writes the whole line itself. NULL: the default.
 * Set before threads log, not while they do. */
typedef void (*weft_log_sink_fn)(weft_log_level_t level, const char *msg, size_t len,
                                 const weft_log_ctx_t *ctx);
void weft_log_set_sink(weft_log_sink_fn sink);

/* ---- Metrics (metrics.c) ------------------------------------------------------------ *
 * A registry of counters and histograms that any layer counts into and the gateway
 * renders as Prometheus text (GET /_weft/metrics). Counting takes no lock and no
 * read-modify-write shared between threads: each thread counts into a block of its own
 * (a slot per counter, per bucket), and a scrape sums the blocks. A thread that ends
 * leaves its block to the next thread that starts, counts and all, so sums never go
 * back. Series are never removed (a route gone at a reload keeps its last counts). */

typedef enum { WEFT_METRIC_COUNTER, WEFT_METRIC_GAUGE, WEFT_METRIC_HISTOGRAM } weft_metric_type_t;

/* The most slots all series together may take (a counter 1, a histogram its buckets
 * + 2), and the most series. */
#define WEFT_METRIC_MAX_SLOTS 16384
#define WEFT_METRIC_MAX_SERIES 4096

/* One series: a metric's name and one set of its labels. Declare those a layer knows at
 * build time as static objects (their first count registers them), or make them with
 * weft_metric_series. */
typedef struct weft_metric {
    const char *name; /* "weft_guest_outcomes_total": Prometheus's conventions */
    const char *help; /* one line */
    weft_metric_type_t type;
    const char *labels; /* label pairs as rendered, without braces: outcome="trap"; NULL
                           or "": none (weft_metric_label escapes a value) */
    /* A counter or gauge that is read at scrape time rather than counted (a figure
     * some layer keeps anyway); NULL: counted with weft_metric_add. */
    uint64_t (*read)(void);
    /* A histogram's upper bounds in nanoseconds, ascending, ended by 0; NULL:
     * weft_metric_buckets_fast. */
    const uint64_t *bounds_ns;
    _Atomic uint32_t slot_; /* the registry's: 1 + its first slot, 0 before it is listed */
} weft_metric_t;

/* Bounds for request-sized durations (0.5 ms to 10 s) and for compiles (0.1 s to 10
 * min), in nanoseconds, each ended by 0. */
extern const uint64_t weft_metric_buckets_fast[];
extern const uint64_t weft_metric_buckets_slow[];

/* Lists m (idempotent): a series shows in a scrape, at 0, once it is listed. Counting
 * lists it too. False when the registry is full (it is then never shown). */
bool weft_metric_register(weft_metric_t *m);
/* Counts n (a counter). */
void weft_metric_add(weft_metric_t *m, uint64_t n);
/* Observes a duration (a histogram), in nanoseconds. */
void weft_metric_observe_ns(weft_metric_t *m, uint64_t ns);
/* The series of name with labels (copied), listed: the same object for the same name
 * and labels, so that a route served again after a reload counts on. help and type are
 * the family's; bounds_ns (a histogram's, NULL: the fast ones) must live for ever.
 * NULL when the registry is full or memory is out. */
weft_metric_t *weft_metric_series(const char *name, const char *help, weft_metric_type_t type,
                                  const char *labels, const uint64_t *bounds_ns);
/* Appends NAME="VALUE" to out (cap bytes, NUL-terminated; after a comma when out is not
 * empty), escaping the value as the exposition format says; false when it does not fit. */
bool weft_metric_label(char *out, size_t cap, const char *name, const char *value);
/* Appends every listed series to out in the Prometheus text exposition format 0.0.4,
 * grouped by name (HELP, TYPE, then its series in the order they were listed). */
int weft_metrics_render(weft_buf_t *out);

/* Fatal signals in weft itself (crash.c). weft_crash_init installs a handler that
 * writes one line naming the signal, the thread's role and its task, then lets the
 * signal take its course (the previous handler, else the default: death and a core).
 * Call it before installing handlers that should see those signals first (the
 * engine's trap handler does); calling it again does nothing. */
void weft_crash_init(void);
/* What this thread is, for that line: "worker", "I/O", "watchdog". role is static.
 * Other threads than the main one are also named after it ("weft worker" in top -H). */
void weft_crash_thread(const char *role);
/* What this thread runs now ("/route", request 42); what is borrowed until the next
 * call, which NULL ends. */
void weft_crash_task(const char *what, uint64_t id);
/* Passes a signal on from a handler to the one it replaced (prev, as sigaction(2)
 * returned it), or to the default action: death by that signal, with its core. */
void weft_signal_chain(const struct sigaction *prev, int sig, siginfo_t *si, void *uctx);

#endif
