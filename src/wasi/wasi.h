/* wasi: WASI preview1 (wasi_snapshot_preview1) for guests, sandboxed to preopened
 * directories.
 *
 * A weft_wasi_t is the state of one guest's WASI world: its arguments, environment,
 * descriptor table (stdio, preopens, files it opened) and where its stdio goes. The
 * embedder creates one per invocation, points weft_guest_t.wasi at it, runs the guest
 * and destroys it. The host functions themselves are exported under wasm2c's names
 * (Z_wasi_snapshot_preview1Z_fd_write, ...) and listed by weft_wasi_imports() for the
 * engine's import check.
 *
 * Every guest pointer and length is checked against the guest's memory before use, and
 * every path is resolved beneath its preopen (openat2 RESOLVE_BENEATH): nothing outside
 * the preopened directories is reachable.
 */
#ifndef WEFT_WASI_H
#define WEFT_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../util/util.h"

typedef struct weft_wasi weft_wasi_t;

typedef struct weft_preopen {
    const char *host_path;  /* directory on the host */
    const char *guest_path; /* the name the guest sees, e.g. "/data" or "." */
    bool readonly;          /* no writes, creates, renames, deletes beneath it */
} weft_preopen_t;

typedef enum {
    WEFT_STDIO_NULL = 0, /* reads see EOF, writes are discarded */
    WEFT_STDIO_FD,       /* a host descriptor (dup'ed; the caller keeps its own) */
    WEFT_STDIO_INPUT,    /* reads come from the bytes in[0..in_len) (borrowed) */
    WEFT_STDIO_OUTPUT,   /* writes are appended to *out, up to out_limit bytes (0: none) */
    WEFT_STDIO_LINES,    /* writes are split into lines, each passed to on_line */
} weft_stdio_kind_t;

typedef struct weft_stdio {
    weft_stdio_kind_t kind;
    int fd;
    const uint8_t *in;
    size_t in_len;
    weft_buf_t *out;
    size_t out_limit; /* past it, writes fail with EFBIG */
    void (*on_line)(void *arg, const char *line, size_t len);
    void *arg;
} weft_stdio_t;

typedef struct weft_wasi_config {
    const char *const *argv; /* argv[0] is the program name the guest sees */
    size_t argc;
    const char *const *envp; /* "NAME=value" */
    size_t envc;
    const weft_preopen_t *preopens;
    size_t npreopens;
    weft_stdio_t stdio[3];
} weft_wasi_config_t;

/* Creates the WASI state for one guest. The config's strings are copied. Preopens
 * that do not exist or are not directories fail here, naming the path. */
int weft_wasi_create(const weft_wasi_config_t *cfg, weft_wasi_t **out, weft_error_t *err);
/* Closes every descriptor the guest left open and flushes a partial last line of
 * WEFT_STDIO_LINES streams. */
void weft_wasi_destroy(weft_wasi_t *w);

/* The functions of wasi_snapshot_preview1 with their signatures. */
const weft_import_def_t *weft_wasi_imports(size_t *n);

#endif
