/* host internals: what the files of the host layer share and nothing else includes.
 *
 * policy.c parses allowed_hosts entries and request URLs and matches one against the
 * other; http.c is the wasi_experimental_http functions, the per-invocation state and
 * the requests themselves (libcurl); api.c the services' functions (module weft),
 * services.c the stores they share.
 */
#ifndef WEFT_HOST_INTERNAL_H
#define WEFT_HOST_INTERNAL_H

#include <curl/curl.h>

#include "host.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "guest integers are little-endian; weft's host layer copies them with memcpy");

/* Longest host name (DNS: 253) or bracketed IPv6 address (with room to spare). */
#define WEFT_HTTP_MAX_HOST 255u

/* Where a request goes, as libcurl parsed it: the CURLU handle is what the request is
 * then made with, so the host checked is the host contacted. */
typedef struct weft_http_target {
    CURLU *url;                        /* owned; curl_url_cleanup */
    char scheme[8];                    /* "http" or "https" */
    char host[WEFT_HTTP_MAX_HOST + 1]; /* lower case; IPv6 in brackets */
    unsigned port;                     /* explicit or the scheme's */
} weft_http_target_t;

/* Parses url (NUL-terminated, len bytes) into t. Returns WEFT_HTTP_SUCCESS,
 * WEFT_HTTP_INVALID_URL, or WEFT_HTTP_RUNTIME_ERROR when memory ran out. On success
 * the caller owns t->url. */
uint32_t weft_http_target_parse(const char *url, size_t len, weft_http_target_t *t);

/* Does any entry of policy (NULL: none) allow t? */
bool weft_http_policy_allows(const weft_host_policy_t *policy, const weft_http_target_t *t);

/* ---- What api.c needs of the invocation's state (http.c owns weft_host_t) ---------- */

/* The services' part of one invocation (api.c): its handles and last error. */
typedef struct weft_api_state weft_api_state_t;
void weft_api_state_free(weft_api_state_t *a);

/* The invocation's policy (NULL: none). */
const weft_host_policy_t *weft_host_policy(weft_host_t *h);
/* The guest is about to write: in a trial (weft_host_trial) that is recorded
 * (weft_host_trial_wrote) and the answer is true: the caller stops the guest. */
bool weft_host_trial_write(weft_host_t *h);
/* Where the invocation keeps its services' state, created at the first call. */
weft_api_state_t **weft_host_api_state(weft_host_t *h);

/* ---- What spin.c needs of http.c and api.c ------------------------------------------ */

/* One outbound request, as wasi_experimental_http's req makes it (the policy, the
 * redirects, the bounds), from host copies: method and url NUL-terminated, headers as
 * "name:value\n" lines (checked here: a line that is no header is INVALID_ENCODING),
 * the body sent when send_body. On success *status, and the response's headers (the
 * same lines, names in lower case) and body in *rh and *rb, which the caller frees.
 * Returns a WEFT_HTTP_* code; a failure is logged. */
uint32_t weft_http_send(weft_host_t *h, const char *method, const char *url, const char *headers,
                        size_t headers_len, const void *body, size_t body_len, bool send_body,
                        uint16_t *status, weft_buf_t *rh, weft_buf_t *rb);

/* The key-value calls of the weft module on host strings, with the same checks, grants,
 * handles and trial rule (Spin's key-value). Each answers a WEFT_API_* code, its text
 * then in weft_api_error_text. get: *value malloc'd (the caller frees it). keys: every
 * key, at most max of them (more: TOO_LARGE). */
uint32_t weft_api_kv_open_name(weft_guest_t *g, const char *name, uint32_t *handle);
uint32_t weft_api_kv_get_value(weft_guest_t *g, uint32_t store, const char *key, uint8_t **value,
                               size_t *len);
uint32_t weft_api_kv_set_value(weft_guest_t *g, uint32_t store, const char *key, const void *value,
                               size_t len);
uint32_t weft_api_kv_delete_key(weft_guest_t *g, uint32_t store, const char *key);
uint32_t weft_api_kv_exists_key(weft_guest_t *g, uint32_t store, const char *key, bool *exists);
uint32_t weft_api_kv_keys(weft_guest_t *g, uint32_t store, size_t max, weft_store_names_t *all);
uint32_t weft_api_kv_close(weft_guest_t *g, uint32_t store);
const char *weft_api_error_text(weft_guest_t *g);

#endif
