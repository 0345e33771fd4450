/* invoke: one call of one function with one request.
 *
 * Puts together what a guest needs for one run: a fresh instance of the module (engine),
 * its WASI world (arguments, environment, preopens, stdio from and to memory or host
 * descriptors) and the host APIs it may use (outbound HTTP within its allowed hosts),
 * runs the entry point under the limits, and tears everything down. The gateway (HTTP
 * routes), the event triggers and `weft run` all come through here, so a function does
 * not know who called it.
 */
#ifndef WEFT_INVOKE_H
#define WEFT_INVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../wasi/wasi.h"

/* Registers every host function weft provides with the engine. Call once at start-up;
 * it fails only when the engine's tables are full (WEFT_MAX_PROVIDERS). */
int weft_invoke_init(weft_error_t *err);

/* Outbound HTTP policy (wasi_experimental_http). */
typedef struct weft_http_policy {
    const char *const *allowed_hosts; /* as in wagi.toml / spin.toml; empty denies all */
    size_t nallowed;
    uint32_t max_concurrency; /* open response handles; 0: default */
    const char *log_tag;      /* e.g. the module or route, for "denied" log lines */
} weft_http_policy_t;

typedef struct weft_invoke_request {
    const char *entry; /* export to call; NULL: "_start" */
    const char *const *argv;
    size_t argc;
    const char *const *envp; /* "NAME=value" */
    size_t envc;
    const weft_preopen_t *preopens;
    size_t npreopens;
    const int *sockets; /* host sockets handed over, numbered after the preopens */
    size_t nsockets;
    weft_stdio_t stdio[3]; /* see wasi.h */
    weft_limits_t limits;
    const weft_http_policy_t *http; /* NULL: no outbound HTTP */
} weft_invoke_request_t;

/* Runs req against m. Returns 0 when the guest ran (its outcome in *out: returned,
 * exited with a code, or trapped), or an error when it could not be started (bad
 * preopen, no such entry point). Thread-safe. */
int weft_invoke(weft_module_t *m, const weft_invoke_request_t *req, weft_outcome_t *out,
                weft_error_t *err);

#endif
