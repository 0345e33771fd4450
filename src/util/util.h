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

/* Logging to stderr, one line per call, prefixed "weft: ". */
void weft_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
