/* host: the host APIs weft adds for guests beyond WASI.
 *
 * Today: outbound HTTP through the `wasi_experimental_http` imports, the ABI of the
 * deislabs wasi-experimental-http crate that WAGI modules use (functions req, close,
 * body_read, header_get, headers_get_all; error codes 0 to 13 of its HttpError).
 * Requests are made with libcurl, within the invocation's policy: the allowed hosts
 * (see weft_host_url_allowed for how entries match) and a cap on open responses.
 *
 * A weft_host_t is the state of one invocation: the responses the guest holds open and
 * the policy it runs under. The embedder creates one per invocation, points
 * weft_guest_t.host at it, runs the guest and destroys it; every response the guest did
 * not close dies with it. The host functions are exported under wasm2c's names
 * (Z_wasi_experimental_httpZ_req, ...) and listed by weft_host_imports() for the
 * engine's import check.
 *
 * Every guest pointer and length is checked against the guest's memory before use; a
 * bad one is error 3 (MemoryAccessError), never a host fault.
 */
#ifndef WEFT_HOST_H
#define WEFT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../util/util.h"

/* ---- Bounds (one place to change each) ------------------------------------------- */

/* Response body kept for one handle; a larger response fails with RequestError. */
#define WEFT_HTTP_MAX_BODY_BYTES (16u << 20)
/* Response header block kept for one handle, and the request header block a guest may
 * pass. The crate's own guest code reads headers into 64 KiB. */
#define WEFT_HTTP_MAX_HEADER_BYTES (64u << 10)
/* Length of a URL a guest may pass. */
#define WEFT_HTTP_MAX_URL_BYTES 8192u
/* Wall time of one request, redirects included, and of its connection set-up. The
 * invocation's own deadline cuts a request shorter. */
#define WEFT_HTTP_TIMEOUT_MS 30000L
#define WEFT_HTTP_CONNECT_TIMEOUT_MS 10000L
/* Redirects followed for one request (reqwest's default, which WAGI guests saw). Each
 * hop is checked against the allowed hosts. */
#define WEFT_HTTP_MAX_REDIRECTS 10
/* Open responses per invocation when the policy does not say (max_concurrency 0). */
#define WEFT_HTTP_DEFAULT_MAX_HANDLES 16u

/* ---- Error codes (the crate's HttpError, as the guest sees them) ----------------- */

#define WEFT_HTTP_ERRORS(X)                                                                        \
    X(SUCCESS, 0, "success")                                                                       \
    X(INVALID_HANDLE, 1, "invalid handle")                                                         \
    X(MEMORY_NOT_FOUND, 2, "memory not found")                                                     \
    X(MEMORY_ACCESS_ERROR, 3, "memory access error")                                               \
    X(BUFFER_TOO_SMALL, 4, "buffer too small")                                                     \
    X(HEADER_NOT_FOUND, 5, "header not found")                                                     \
    X(UTF8_ERROR, 6, "UTF-8 error")                                                                \
    X(DESTINATION_NOT_ALLOWED, 7, "destination not allowed")                                       \
    X(INVALID_METHOD, 8, "invalid method")                                                         \
    X(INVALID_ENCODING, 9, "invalid encoding")                                                     \
    X(INVALID_URL, 10, "invalid URL")                                                              \
    X(REQUEST_ERROR, 11, "request error")                                                          \
    X(RUNTIME_ERROR, 12, "runtime error")                                                          \
    X(TOO_MANY_SESSIONS, 13, "too many sessions")

enum {
#define WEFT_HTTP_ERR_ENUM_(name, value, text) WEFT_HTTP_##name = value,
    WEFT_HTTP_ERRORS(WEFT_HTTP_ERR_ENUM_)
#undef WEFT_HTTP_ERR_ENUM_
};

/* "destination not allowed"; "unknown error" for codes outside 0..13. */
const char *weft_http_error_text(uint32_t code);

/* ---- Policy ---------------------------------------------------------------------- */

/* What one invocation may do with outbound HTTP. The same fields as invoke.h's
 * weft_http_policy_t, which the invoke layer copies in (host sits below invoke). */
typedef struct weft_host_policy {
    const char *const *allowed_hosts; /* borrowed; empty (or NULL) denies everything */
    size_t nallowed;
    uint32_t max_concurrency; /* open responses at once; 0: WEFT_HTTP_DEFAULT_MAX_HANDLES */
    const char *log_tag;      /* names the module or route in "denied" log lines */
} weft_host_policy_t;

/* Checks one allowed_hosts entry when a manifest or the command line is read, so that
 * a typo is reported where it was made rather than denying requests at run time.
 * Returns 0, or WEFT_ECONFIG with a message naming the entry. */
int weft_host_allowed_check(const char *entry, weft_error_t *err);

/* Is a request to url allowed by policy? Returns WEFT_HTTP_SUCCESS,
 * WEFT_HTTP_DESTINATION_NOT_ALLOWED, or WEFT_HTTP_INVALID_URL when url is not an
 * absolute http or https URL with a plain host name or address.
 *
 * The URL is parsed by libcurl, the parser that then makes the request, so the host
 * checked is the host contacted. An entry matches when:
 *  - it is "insecure:allow-all": everything (WAGI's spelling);
 *  - it is a plain URL, "https://api.example.com" (WAGI style): the host is compared,
 *    case-insensitively, whatever the scheme, port and path;
 *  - it names a port or has a wildcard (Spin style), scheme://host:port: the scheme is
 *    "*" or compared; the host is "*", "*.example.com" (any name ending in
 *    ".example.com", not example.com itself) or compared; the port is "*", a number,
 *    a range "8000..8080" (end excluded, as Spin does) or, when absent, the scheme's
 *    own (80 for http, 443 for https). "*" for scheme, host and port allows everything.
 * An entry that weft_host_allowed_check refuses matches nothing. */
uint32_t weft_host_url_allowed(const weft_host_policy_t *policy, const char *url);

/* ---- Per-invocation state -------------------------------------------------------- */

typedef struct weft_host weft_host_t;

/* Creates the state of one invocation. policy NULL denies every request. The policy
 * and its strings are borrowed until weft_host_destroy. Cheap: nothing is parsed or
 * connected until the guest makes its first request. */
int weft_host_create(const weft_host_policy_t *policy, weft_host_t **out, weft_error_t *err);
/* Frees every response the guest left open and closes the invocation's connections. */
void weft_host_destroy(weft_host_t *h);

/* The functions of wasi_experimental_http with their signatures. */
const weft_import_def_t *weft_host_imports(size_t *n);

/* ---- The plugin ------------------------------------------------------------------ */

/* This layer, the gateway and `weft up` live in the plugin weft-net.so (util.h,
 * "Plugins"), whose libraries (libcurl, h2o) only they need. What lives in the binary
 * reaches them through this table, the plugin's one exported symbol. Change the table
 * (members, their types or what they mean) only together with WEFT_NET_PLUGIN_ABI: a
 * weft binary refuses a weft-net.so built with another version. Commands: "up". */
#define WEFT_NET_PLUGIN_ABI 1u
#define WEFT_NET_PLUGIN_FILE "weft-net.so"
#define WEFT_NET_PLUGIN_SYMBOL "weft_net_plugin"

typedef struct weft_net_plugin {
    weft_plugin_head_t head;
    const weft_import_def_t *(*host_imports)(size_t *n);
    int (*host_create)(const weft_host_policy_t *policy, weft_host_t **out, weft_error_t *err);
    void (*host_destroy)(weft_host_t *h);
    int (*host_allowed_check)(const char *entry, weft_error_t *err);
} weft_net_plugin_t;

/* Defined in the plugin (src/cli/net_plugin.c). */
extern const weft_net_plugin_t weft_net_plugin;

/* The table, loading weft-net.so on first use; NULL with err set when it cannot. */
static inline const weft_net_plugin_t *weft_net_plugin_get(weft_error_t *err) {
    static const weft_plugin_head_t *cache;
    const weft_plugin_spec_t spec = {WEFT_NET_PLUGIN_FILE, WEFT_NET_PLUGIN_SYMBOL,
                                     WEFT_NET_PLUGIN_ABI, sizeof(weft_net_plugin_t), &cache};
    return (const weft_net_plugin_t *)weft_plugin_get(&spec, err);
}

/* ---- The host functions ---------------------------------------------------------- */

/* X(name, sig, parameters): one list builds the declarations below and the import
 * table, so the type the engine checks a module against and the C type of the function
 * cannot disagree. Every function returns a WEFT_HTTP_* code. Pointers and lengths are
 * guest addresses (i32); status is written as a u16, handles and counts as u32. */
#define WEFT_HTTP_FUNCTIONS(X)                                                                     \
    X(req, "iiiiiiiiii:i",                                                                         \
      (weft_guest_t * g, uint32_t url, uint32_t url_len, uint32_t method, uint32_t method_len,     \
       uint32_t headers, uint32_t headers_len, uint32_t body, uint32_t body_len,                   \
       uint32_t status_ptr, uint32_t handle_ptr))                                                  \
    X(close, "i:i", (weft_guest_t * g, uint32_t handle))                                           \
    X(body_read, "iiii:i",                                                                         \
      (weft_guest_t * g, uint32_t handle, uint32_t buf, uint32_t buf_len, uint32_t written_ptr))   \
    X(header_get, "iiiiii:i",                                                                      \
      (weft_guest_t * g, uint32_t handle, uint32_t name, uint32_t name_len, uint32_t buf,          \
       uint32_t buf_len, uint32_t written_ptr))                                                    \
    X(headers_get_all, "iiii:i",                                                                   \
      (weft_guest_t * g, uint32_t handle, uint32_t buf, uint32_t buf_len, uint32_t written_ptr))

#define WEFT_HTTP_DECLARE_(name, sig, params) uint32_t Z_wasi_experimental_httpZ_##name params;
WEFT_HTTP_FUNCTIONS(WEFT_HTTP_DECLARE_)
#undef WEFT_HTTP_DECLARE_

#endif
