/* events: the delivery engine (internal to the events layer).
 *
 * Delivers a prepared request (headers and a body: the caller has encoded the event in
 * binary or structured mode) to a destination, retries it as Knative's data-plane
 * contract says, and reports the outcome through a callback, with the last response's
 * status, headers and body (where the caller looks for a reply event, or takes
 * knativeerrordata from). It knows nothing of CloudEvents.
 *
 * Destinations:
 *  - a URL: an HTTP/1.1 POST (http or https) through libcurl, with `Prefer: reply`.
 *    Redirects are not followed. https is verified against the system's certificate
 *    authorities.
 *  - a function of the app, called in process through invoke (weft_function_call) as a
 *    binary-mode request: method POST, the destination's path ("/" by default: the
 *    route is the path itself, so SCRIPT_NAME is "/" and PATH_INFO empty), the headers
 *    as given plus `Prefer: reply` (so ce-id becomes HTTP_CE_ID), the body as stdin.
 *    Its status is invoke's: a trap or a non-zero exit is 500, the function's timeout
 *    504, otherwise what the guest printed.
 *
 * Threads. One delivery thread drives every URL attempt through one curl multi handle
 * (epoll and curl's socket API), so that deliveries run concurrently and connections
 * are kept alive and reused across deliveries; it also holds the timer of every retry
 * waiting for its backoff, so a wait blocks nothing. Function calls are CPU work: they
 * run on a pool of workers (one per core by default), never on the delivery thread,
 * taking turns among destinations; a destination with work waiting and no call running
 * gets a worker even when all are busy (one more thread is started, up to
 * WEFT_DELIVERY_MAX_WORKERS), so a slow function never holds up another one.
 * Each destination has its own queue and its own bound on attempts in flight
 * (the policy's parallelism): a slow or failing destination never delays another.
 *
 * What is retried (Knative's data-plane contract, "Event Acknowledgement and Delivery
 * Retry", and its dispatcher): a network error or a timed-out attempt (status 0), 404,
 * 408, 409, 429 and every 5xx. Never 400, 401, 403, 413, any other 4xx, 1xx or 3xx
 * (the contract makes unspecified 1xx and 3xx errors, not retried). Any 2xx is success.
 * A response body over WEFT_DELIVERY_MAX_BODY is a failure: with a 2xx it is not
 * retried (the reply cannot be read; the next attempt would send as much), with
 * another status the status decides and the body is the first WEFT_DELIVERY_MAX_BODY
 * bytes.
 *
 * Backoff. The wait before retry n (n = 1 for the first retry) is backoff_delay * n
 * (linear) or backoff_delay * 2^n (exponential): Knative's DeliverySpec,
 * "backoffDelay*<numberOfRetries>" and "backoffDelay*2^<numberOfRetries>", as its
 * dispatcher's tests spell it out (delay 0.5 s, exponential: 1 s, 2 s, 4 s, ...).
 *
 * Retry-After (delta-seconds or an HTTP-date) is honoured on 429 and 503 only, as
 * Knative's DeliverySpec.retryAfterMax says: the wait is the larger of the backoff and
 * the Retry-After value capped by retry_after_max. retry_after_max 0 ignores
 * Retry-After (Knative's "PT0S"); WEFT_DELIVERY_RETRY_AFTER_UNCAPPED honours it
 * without a cap, which is what Knative settles on when the field is absent once the
 * feature is stable, and what a manifest without retry_after_max should ask for.
 *
 * Each attempt is bounded by the policy's timeout (a URL: the whole exchange, connect
 * included; a function: the smaller of it and the function's own timeout, 504 either
 * way).
 */
#ifndef WEFT_EVENTS_DELIVERY_H
#define WEFT_EVENTS_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../invoke/invoke.h"
#include "../util/util.h"

/* ---- Bounds (one place to change each) ------------------------------------------- */

/* A response body larger than this is a failure (see above). */
#define WEFT_DELIVERY_MAX_BODY (16u << 20)
/* Response header bytes kept; more is a failure, not retried. */
#define WEFT_DELIVERY_MAX_HEADER_BYTES (256u << 10)
/* A URL attempt's bound when the policy gives none. */
#define WEFT_DELIVERY_TIMEOUT_DEFAULT (30ull * 1000000000u)
/* Attempts in flight per destination when the policy gives no parallelism. */
#define WEFT_DELIVERY_PARALLELISM_DEFAULT 64
/* Function calls running at once, whatever the pool's size and its growth. */
#define WEFT_DELIVERY_MAX_WORKERS 64
/* retry_after_max: honour Retry-After without a cap. */
#define WEFT_DELIVERY_RETRY_AFTER_UNCAPPED UINT64_MAX

/* ---- Policy ------------------------------------------------------------------------ */

typedef enum {
    WEFT_BACKOFF_EXPONENTIAL = 0, /* backoff_delay * 2^n */
    WEFT_BACKOFF_LINEAR,          /* backoff_delay * n */
} weft_backoff_policy_t;

/* A trigger's `delivery = { ... }`, in numbers. */
typedef struct weft_delivery_policy {
    uint32_t retry; /* attempts after the first */
    weft_backoff_policy_t backoff_policy;
    uint64_t backoff_delay_ns;
    uint64_t timeout_ns;         /* each attempt; 0: see WEFT_DELIVERY_TIMEOUT_DEFAULT (URLs),
                                    the function's own timeout (functions) */
    uint64_t retry_after_max_ns; /* 0: Retry-After ignored; WEFT_DELIVERY_RETRY_AFTER_UNCAPPED */
    uint32_t parallelism;        /* attempts in flight; 0: WEFT_DELIVERY_PARALLELISM_DEFAULT */
} weft_delivery_policy_t;

/* Is a failed attempt that ended with this status retried (0: no response)? */
bool weft_delivery_retryable(unsigned status);
/* The backoff before retry n (1 for the first), saturating rather than overflowing. */
uint64_t weft_delivery_backoff_ns(const weft_delivery_policy_t *p, uint32_t n);
/* Reads a Retry-After value, delta-seconds or an HTTP-date (curl_getdate), as a wait
 * from now_s (seconds since the epoch; a date in the past is a wait of 0). False when
 * it is neither. */
bool weft_delivery_retry_after_ns(const char *value, int64_t now_s, uint64_t *wait_ns);
/* The wait before retry n after an attempt that ended with status and a Retry-After
 * header value (NULL: none): the rule of the top of this file. */
uint64_t weft_delivery_wait_ns(const weft_delivery_policy_t *p, uint32_t n, unsigned status,
                               const char *retry_after, int64_t now_s);

/* ---- The engine -------------------------------------------------------------------- */

typedef struct weft_delivery weft_delivery_t;
typedef struct weft_delivery_dest weft_delivery_dest_t;

typedef struct weft_delivery_opts {
    unsigned workers; /* function calls at once before the pool grows; 0: one per core */
} weft_delivery_opts_t;

/* Starts the delivery thread and the workers. */
int weft_delivery_start(const weft_delivery_opts_t *opts, weft_delivery_t **out, weft_error_t *err);

/* Stops accepting (weft_delivery_submit then fails with WEFT_ECANCELED), cancels every
 * delivery not finished (in flight, waiting for a retry, queued), each reported to its
 * callback as WEFT_DELIVERY_CANCELED, joins the threads and frees d and its
 * destinations. A function call already running cannot be interrupted: stop waits for
 * it (its timeout bounds that) and reports it canceled too. Every outcome reported
 * after stop begins is a cancellation: the caller does not acknowledge those events,
 * and they are delivered again after a restart. Callbacks may run during stop, on the
 * engine's threads; stop must not be called from one. */
void weft_delivery_stop(weft_delivery_t *d);

/* A URL destination ("http://..." or "https://..."; anything else is WEFT_EINVAL with a
 * message naming the URL). The URL and policy are copied. The destination lives until
 * weft_delivery_stop. */
int weft_delivery_dest_url(weft_delivery_t *d, const char *url, const weft_delivery_policy_t *p,
                           weft_delivery_dest_t **out, weft_error_t *err);

typedef struct weft_delivery_function {
    weft_function_t *fn;     /* borrowed until weft_delivery_stop */
    const char *name;        /* the outcome's dest; NULL: the function's name */
    const char *path;        /* request path; NULL: "/" */
    const char *server_name; /* SERVER_NAME; NULL: "localhost" */
    const char *server_port; /* SERVER_PORT; NULL: "80" */
} weft_delivery_function_t;

/* A function destination (the strings and the policy are copied). */
int weft_delivery_dest_function(weft_delivery_t *d, const weft_delivery_function_t *f,
                                const weft_delivery_policy_t *p, weft_delivery_dest_t **out,
                                weft_error_t *err);

/* ---- Deliveries -------------------------------------------------------------------- */

typedef enum {
    WEFT_DELIVERY_DELIVERED = 0, /* a 2xx */
    WEFT_DELIVERY_FAILED,        /* not retried, or the retries used up */
    WEFT_DELIVERY_CANCELED,      /* weft_delivery_stop came first */
} weft_delivery_result_t;

/* Everything points into the engine's buffers and is valid only during the callback. */
typedef struct weft_delivery_outcome {
    weft_delivery_result_t result;
    unsigned status;              /* the last attempt's; 0: no response (network error, timeout) */
    const char *error;            /* why the last attempt failed ("Connection refused", "status
                                     503", ...); NULL when delivered */
    const weft_header_t *headers; /* the last response's, in order, repeats kept */
    size_t nheaders;
    const uint8_t *body; /* the last response's */
    size_t body_len;
    uint32_t attempts; /* made; 0 when canceled before the first */
    const char *dest;  /* the URL, or the function's name: knativeerrordest */
} weft_delivery_outcome_t;

/* Called exactly once per accepted submission, on one of the engine's threads (the
 * delivery thread for URLs, a worker for functions; several may run at once), never
 * from weft_delivery_submit itself. It may submit more deliveries. It must not block:
 * URL deliveries wait while it runs. */
typedef void (*weft_delivery_done_fn)(void *arg, const weft_delivery_outcome_t *outcome);

typedef struct weft_delivery_request {
    /* Borrowed until the callback returns. Content-Type is the body's; no
     * Content-Length, Host, Connection or Transfer-Encoding (the engine's). */
    const weft_header_t *headers;
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    bool no_reply; /* leave out `Prefer: reply` (a dead-letter send takes no reply) */
    weft_delivery_done_fn done;
    void *arg;
} weft_delivery_request_t;

/* Queues rq (the struct is copied, what it points to borrowed) for dest. Returns 0, and
 * the callback will be called once; or an error, and it will not be: WEFT_ECANCELED
 * once weft_delivery_stop has begun, WEFT_EINVAL for a header that cannot be sent (a
 * line break in it, an empty name). Thread-safe; never blocks on a delivery. */
int weft_delivery_submit(weft_delivery_dest_t *dest, const weft_delivery_request_t *rq,
                         weft_error_t *err);

#endif
