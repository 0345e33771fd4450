/* invoke internals: what invoke.c and spin_http.c share and nothing else includes.
 *
 * invoke.c owns functions and calls (the module, the host state, the limits, stderr,
 * the outcome); spin_http.c and spin_redis.c run one instance of a Spin 1 handler for it
 * and hand back what the handler answered.
 */
#ifndef WEFT_INVOKE_INTERNAL_H
#define WEFT_INVOKE_INTERNAL_H

#include "../engine/engine.h"
#include "../wasi/wasi.h"
#include "invoke.h"

/* What Spin's handler answered, copied out of the guest's memory before its instance
 * went away. */
typedef struct weft_spin_answer {
    unsigned status;
    weft_header_t *headers; /* point into arena */
    size_t nheaders;
    weft_buf_t arena; /* header names and values, NUL-terminated, then the body */
    size_t body_at, body_len;
    /* Set when the answer cannot be used (a 500): why, for the response's error
     * (static); the log line saying so was written. */
    const char *error;
} weft_spin_answer_t;

void weft_spin_answer_free(weft_spin_answer_t *a);

/* One call of Spin's handler. */
typedef struct weft_spin_call {
    const weft_request_t *rq;
    uint64_t max_response; /* a larger body is a 500 */
    const char *tag;       /* prefixes log lines */
    /* Told about each response header dropped, and why (invoke.c logs it). */
    void (*warn)(void *arg, const char *why, const char *line, size_t len);
    void *arg;
    weft_spin_answer_t *answer; /* filled when the handler returned */
} weft_spin_call_t;

/* 0 when m exports Spin 1's handle-http-request and canonical_abi_realloc with their
 * types; otherwise an error naming the module and what it lacks. */
int weft_spin_check(weft_module_t *m, weft_error_t *err);
/* Runs call's request through the handle-http-request export of a fresh instance of m,
 * with the WASI world cfg and host as its further host APIs, under limits: the request's
 * records written into the guest's memory (canonical_abi_realloc), the handler called,
 * its answer read back into call->answer. Returns as weft_module_run does: 0 when the
 * guest ran, whatever its outcome (*out); when it returned but its answer is unusable,
 * call->answer->error says why. */
int weft_spin_exec(weft_module_t *m, const weft_wasi_config_t *cfg, void *host,
                   const weft_limits_t *limits, const weft_spin_call_t *call, weft_outcome_t *out,
                   weft_error_t *err);

/* One message for Spin's Redis handler (spin_redis.c). */
typedef struct weft_spin_message {
    const uint8_t *payload;
    size_t len;
    bool handled;      /* set: the handler answered ok(()) or err(success) */
    const char *error; /* set when it did not and returned: why (static) */
} weft_spin_message_t;

/* Does m export Spin 1's handle-redis-message and canonical_abi_realloc with their
 * types? */
bool weft_spin_redis_has(weft_module_t *m);
/* Runs call's payload through the handle-redis-message export of a fresh instance of m,
 * as weft_spin_exec does a request. 0 when the guest ran, whatever its outcome. */
int weft_spin_redis_exec(weft_module_t *m, const weft_wasi_config_t *cfg, void *host,
                         const weft_limits_t *limits, weft_spin_message_t *call,
                         weft_outcome_t *out, weft_error_t *err);

#endif
