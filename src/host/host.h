/* host: the host APIs weft adds for guests beyond WASI.
 *
 * Two import modules. The services (key-value, blobs, documents, publish) through the
 * `weft` module, below ("Services"), each call within what the function's manifest entry
 * grants. And outbound HTTP through the `wasi_experimental_http` imports, the ABI of the
 * deislabs wasi-experimental-http crate that WAGI modules use (functions req, close,
 * body_read, header_get, headers_get_all; error codes 0 to 13 of its HttpError).
 * Requests are made with libcurl, within the invocation's policy: the allowed hosts
 * (see weft_host_url_allowed for how entries match) and a cap on open responses.
 *
 * A weft_host_t is the state of one invocation: the responses, store handles, blob
 * writers and readers the guest holds open and the policy it runs under. The embedder
 * creates one per invocation, points weft_guest_t.host at it, runs the guest and destroys
 * it; everything the guest did not close dies with it (a blob not committed is dropped).
 * The host functions are exported under wasm2c's names (Z_wasi_experimental_httpZ_req,
 * Z_weftZ_kv_get, ...) and listed by weft_host_imports() and weft_api_imports() for the
 * engine's import check.
 *
 * Every guest pointer and length is checked against the guest's memory before use; a
 * bad one is error 3 (MemoryAccessError) for HTTP, WEFT_API_INVALID_ARGUMENT for the
 * services, never a host fault.
 */
#ifndef WEFT_HOST_H
#define WEFT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../store/store.h"
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
typedef struct weft_services weft_services_t;

/* The names of each service a function may use (weft.toml's key_value_stores,
 * blob_containers, document_collections, publish); borrowed. Empty grants nothing. */
typedef struct weft_host_grants {
    const char *const *kv;
    size_t nkv;
    const char *const *blob;
    size_t nblob;
    const char *const *doc;
    size_t ndoc;
    const char *const *publish;
    size_t npublish;
} weft_host_grants_t;

typedef struct weft_host_policy {
    const char *const *allowed_hosts; /* borrowed; empty (or NULL) denies everything */
    size_t nallowed;
    uint32_t max_concurrency; /* open responses at once; 0: WEFT_HTTP_DEFAULT_MAX_HANDLES */
    const char *log_tag;      /* names the module or route in "denied" log lines */
    /* The services (below): where the function's stores are and what it may use of
     * them. services NULL: every call of the weft module answers WEFT_API_UNAVAILABLE. */
    weft_services_t *services;
    weft_host_grants_t grants;
    const char *function; /* its name, for "access denied" log lines and publish's source */
    /* Spin's component configuration, what spin-config.get-config answers: name i has
     * value i (borrowed; NULL when none). */
    const char *const *config_names;
    const char *const *config_values;
    size_t nconfig;
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

/* A trial (invoke.h's budget_ns: a call tried on an event loop, which may be stopped and
 * made again elsewhere) must change nothing. Between weft_host_trial(h, true) and
 * weft_host_trial(h, false), a service call that would write (set, delete, put, a blob
 * writer, publish) stops the guest before it writes anything, as its deadline would.
 * Reads go on: the stores' reads never wait for a write's fsync (store.h). */
void weft_host_trial(weft_host_t *h, bool on);
/* Was the trial stopped because the guest wanted to write? Then its function writes:
 * its later calls are better made where they may block. */
bool weft_host_trial_wrote(const weft_host_t *h);

/* ---- Services: key-value, blobs, documents, publish ------------------------------- */

/* The services weft gives guests (the `weft` import module, below, and sdk/weft.h) and
 * the HTTP API (/kv, /blobs, /docs): one weft_services_t per running app, shared by every
 * invocation and by the gateway. It opens nothing when created: each store (key-value,
 * documents, blobs) is opened the first time a guest or a request uses it, in the folder
 * the config names, so an app whose functions use no service pays nothing for them. A
 * store that fails to open is tried again at its next use (the failure is logged once
 * per failed attempt, naming the file).
 *
 * Publishing goes through the embedder: the host layer sits below the events layer, so
 * `weft up` hands in a function that appends an event to a broker's log the way an
 * ingest request does. */

/* Appends one event to broker, given as the HTTP binding's binary mode (ce-* headers and
 * Content-Type; data as the body), and returns once it is durable or refused. Returns the
 * status an ingest request would get (202, 400, 404, 413, 415, 503); for any other than
 * 202, msg (msg_size bytes) says why. Called on the guest's thread, never on an event
 * loop. */
typedef unsigned (*weft_services_publish_fn)(void *arg, const char *broker,
                                             const char *const *names, const char *const *values,
                                             size_t nheaders, const uint8_t *data, size_t len,
                                             char *msg, size_t msg_size);

typedef struct weft_services_config {
    const char *location; /* "sqlite:DIR" or DIR (store.h); copied */
    /* Another location for one kind (redis://..., postgresql://...: store.h), NULL:
     * location; copied. */
    const char *kv_location;
    const char *doc_location;
    const char *blob_location;
    weft_kv_options_t kv;
    weft_doc_options_t doc;
    weft_blob_options_t blob;
    weft_services_publish_fn publish; /* NULL: publish answers WEFT_API_UNAVAILABLE */
    void *publish_arg;
} weft_services_config_t;

int weft_services_create(const weft_services_config_t *cfg, weft_services_t **out,
                         weft_error_t *err);
/* Closes the stores that were opened. No call may be in progress or follow. */
void weft_services_free(weft_services_t *s);
/* The stores, each opened at its first use (thread-safe); borrowed until
 * weft_services_free. On failure err says why (EIO, naming the file). */
int weft_services_kv(weft_services_t *s, weft_kv_t **out, weft_error_t *err);
int weft_services_doc(weft_services_t *s, weft_doc_t **out, weft_error_t *err);
int weft_services_blob(weft_services_t *s, weft_blob_t **out, weft_error_t *err);
/* weft_services_config_t.publish, or 503 with msg set when there is none. */
unsigned weft_services_publish(weft_services_t *s, const char *broker, const char *const *names,
                               const char *const *values, size_t nheaders, const uint8_t *data,
                               size_t len, char *msg, size_t msg_size);

/* ---- The guest API of the services (import module "weft") -------------------------- *
 *
 * Declared for guests in sdk/weft.h, which documents each call. Every function returns
 * one of these codes; every guest pointer and length is checked against the guest's
 * memory (a bad one is WEFT_API_INVALID_ARGUMENT, never a host fault). A call on a name
 * the function is not granted answers WEFT_API_ACCESS_DENIED and is logged with the
 * function and the name. weft_last_error copies the text of the last failure. */
#define WEFT_API_ERRORS(X)                                                                         \
    X(OK, 0, "ok")                                                                                 \
    X(NOT_FOUND, 1, "not found")                                                                   \
    X(ACCESS_DENIED, 2, "access denied")                                                           \
    X(TOO_LARGE, 3, "too large")                                                                   \
    X(INVALID_ARGUMENT, 4, "invalid argument")                                                     \
    X(UNAVAILABLE, 5, "store unavailable")                                                         \
    X(BUFFER_TOO_SMALL, 6, "buffer too small")                                                     \
    X(INVALID_HANDLE, 7, "invalid handle")                                                         \
    X(CONFLICT, 8, "conflict")

enum {
#define WEFT_API_ERR_ENUM_(name, value, text) WEFT_API_##name = value,
    WEFT_API_ERRORS(WEFT_API_ERR_ENUM_)
#undef WEFT_API_ERR_ENUM_
};

/* Handles (stores, blob writers and readers) open at once in one invocation. */
#define WEFT_API_MAX_HANDLES 64u
/* Bytes of a publish's attribute block. */
#define WEFT_API_MAX_ATTRIBUTES (64u << 10)
/* The guest's view of a blob's metadata (blob_stat), little-endian:
 *   0 size u64 | 8 mtime_ms i64 | 16 version u64 | 24 sha256: 64 hex + NUL |
 *   89 content_type: NUL-terminated, 256 bytes | 352 bytes in all */
#define WEFT_API_BLOB_STAT_SIZE 352u

/* The functions of the weft module and of Spin 1's interfaces (below) with their
 * signatures. */
const weft_import_def_t *weft_api_imports(size_t *n);

/* X(name, sig, parameters), as WEFT_HTTP_FUNCTIONS. u64 results (sizes) are written as
 * u64, counts and handles as u32, flags as u32 0/1. */
#define WEFT_API_FUNCTIONS(X)                                                                      \
    X(last_error, "iii:i", (weft_guest_t * g, uint32_t buf, uint32_t buf_len, uint32_t written))   \
    X(kv_open, "iii:i", (weft_guest_t * g, uint32_t name, uint32_t name_len, uint32_t handle_ptr)) \
    X(kv_get, "iiiiii:i",                                                                          \
      (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t buf,             \
       uint32_t buf_len, uint32_t len_ptr))                                                        \
    X(kv_set, "iiiiiI:i",                                                                          \
      (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t value,           \
       uint32_t value_len, uint64_t ttl_ms))                                                       \
    X(kv_delete, "iii:i", (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len))      \
    X(kv_exists, "iiii:i",                                                                         \
      (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t exists_ptr))     \
    X(kv_list, "iiiiiiiii:i",                                                                      \
      (weft_guest_t * g, uint32_t store, uint32_t prefix, uint32_t prefix_len, uint32_t after,     \
       uint32_t after_len, uint32_t buf, uint32_t buf_len, uint32_t written_ptr,                   \
       uint32_t more_ptr))                                                                         \
    X(blob_write_open, "iiiiiii:i",                                                                \
      (weft_guest_t * g, uint32_t container, uint32_t container_len, uint32_t name,                \
       uint32_t name_len, uint32_t type, uint32_t type_len, uint32_t writer_ptr))                  \
    X(blob_write, "iii:i", (weft_guest_t * g, uint32_t writer, uint32_t data, uint32_t len))       \
    X(blob_write_commit, "i:i", (weft_guest_t * g, uint32_t writer))                               \
    X(blob_write_abort, "i:i", (weft_guest_t * g, uint32_t writer))                                \
    X(blob_read_open, "iiiiii:i",                                                                  \
      (weft_guest_t * g, uint32_t container, uint32_t container_len, uint32_t name,                \
       uint32_t name_len, uint32_t reader_ptr, uint32_t size_ptr))                                 \
    X(blob_read, "iIiii:i",                                                                        \
      (weft_guest_t * g, uint32_t reader, uint64_t offset, uint32_t buf, uint32_t buf_len,         \
       uint32_t got_ptr))                                                                          \
    X(blob_read_close, "i:i", (weft_guest_t * g, uint32_t reader))                                 \
    X(blob_stat, "iiiii:i",                                                                        \
      (weft_guest_t * g, uint32_t container, uint32_t container_len, uint32_t name,                \
       uint32_t name_len, uint32_t stat_ptr))                                                      \
    X(blob_delete, "iiii:i",                                                                       \
      (weft_guest_t * g, uint32_t container, uint32_t container_len, uint32_t name,                \
       uint32_t name_len))                                                                         \
    X(blob_list, "iiiiiiiiii:i",                                                                   \
      (weft_guest_t * g, uint32_t container, uint32_t container_len, uint32_t prefix,              \
       uint32_t prefix_len, uint32_t after, uint32_t after_len, uint32_t buf, uint32_t buf_len,    \
       uint32_t written_ptr, uint32_t more_ptr))                                                   \
    X(doc_put, "iiiiii:i",                                                                         \
      (weft_guest_t * g, uint32_t collection, uint32_t collection_len, uint32_t id,                \
       uint32_t id_len, uint32_t json, uint32_t json_len))                                         \
    X(doc_get, "iiiiiii:i",                                                                        \
      (weft_guest_t * g, uint32_t collection, uint32_t collection_len, uint32_t id,                \
       uint32_t id_len, uint32_t buf, uint32_t buf_len, uint32_t len_ptr))                         \
    X(doc_delete, "iiii:i",                                                                        \
      (weft_guest_t * g, uint32_t collection, uint32_t collection_len, uint32_t id,                \
       uint32_t id_len))                                                                           \
    X(doc_query, "iiiiiiiiii:i",                                                                   \
      (weft_guest_t * g, uint32_t collection, uint32_t collection_len, uint32_t match,             \
       uint32_t match_len, uint32_t after, uint32_t after_len, uint32_t buf, uint32_t buf_len,     \
       uint32_t written_ptr, uint32_t more_ptr))                                                   \
    X(publish, "iiiiii:i",                                                                         \
      (weft_guest_t * g, uint32_t broker, uint32_t broker_len, uint32_t attrs, uint32_t attrs_len, \
       uint32_t data, uint32_t data_len))

#define WEFT_API_DECLARE_(name, sig, params) uint32_t Z_weftZ_##name params;
WEFT_API_FUNCTIONS(WEFT_API_DECLARE_)
#undef WEFT_API_DECLARE_

/* ---- Spin 1's host interfaces (spin.c) ---------------------------------------------- *
 *
 * The interfaces Spin 1.x gives its modules, in the canonical ABI of the wit-bindgen of
 * its day (the .wit files of wit/ephemeral): import modules "spin-config", "wasi-outbound-http" and
 * "key-value". Strings and lists are (pointer, length) pairs in guest memory; a function
 * with a result writes it to a return area the guest passes last, and what the host
 * hands back (strings, lists) it allocates in the guest's memory by calling the guest's
 * export canonical_abi_realloc(0, 0, align, size). Layouts (offsets in bytes, every
 * field little-endian):
 *
 *   string, list<T>        ptr i32, len i32 (len in elements); tuple<string, string>:
 *                          16 bytes, align 4: name ptr @0 len @4, value ptr @8 len @12
 *   get-config(key, ret)   ret: tag u8 @0 (0 ok, 1 err); ok: string @4; err: variant
 *                          tag u8 @4 (provider 0, invalid-key 1, invalid-schema 2,
 *                          other 3), its string @8
 *   request(method, uri, headers, params, body?, ret)  ret, 32 bytes: tag u8 @0; ok:
 *                          status u16 @4, headers option (is_some u8 @8, list @12),
 *                          body option (is_some u8 @20, list @24); err: http-error u8
 *                          @4 (success 0, destination-not-allowed 1, invalid-url 2,
 *                          request-error 3, runtime-error 4, too-many-requests 5)
 *   key-value              ret: tag u8 @0; ok @4: store u32, list<u8>, bool u8 or
 *                          list<string> (8 bytes each); err: error tag u8 @4
 *                          (store-table-full 0, no-such-store 1, access-denied 2,
 *                          invalid-store 3, no-such-key 4, io 5 with its string @8)
 *
 * Methods are Spin's enum: get 0, post 1, put 2, delete 3, patch 4, head 5, options 6.
 * A bad pointer or length from the guest, or a canonical_abi_realloc that answers one,
 * traps the guest (out-of-bounds memory access), as wasmtime's generated host code does;
 * a trap inside canonical_abi_realloc ends the call with that trap. */
#define WEFT_SPIN_KV_MAX_KEYS 100000u /* get-keys answers at most this many */

/* X(module, name, mangled, sig, parameters), as WEFT_HTTP_FUNCTIONS; none returns a
 * value. */
#define WEFT_SPIN_FUNCTIONS(X)                                                                     \
    X("spin-config", "get-config", Z_spinZ2DconfigZ_getZ2Dconfig,                                  \
      "iii:", (weft_guest_t * g, uint32_t key, uint32_t key_len, uint32_t ret))                    \
    X("wasi-outbound-http", "request", Z_wasiZ2DoutboundZ2DhttpZ_request, "iiiiiiiiiii:",          \
      (weft_guest_t * g, uint32_t method, uint32_t uri, uint32_t uri_len, uint32_t headers,        \
       uint32_t headers_len, uint32_t params, uint32_t params_len, uint32_t body_is_some,          \
       uint32_t body, uint32_t body_len, uint32_t ret))                                            \
    X("key-value", "open", Z_keyZ2DvalueZ_open,                                                    \
      "iii:", (weft_guest_t * g, uint32_t name, uint32_t name_len, uint32_t ret))                  \
    X("key-value", "get", Z_keyZ2DvalueZ_get,                                                      \
      "iiii:", (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t ret))   \
    X("key-value", "set", Z_keyZ2DvalueZ_set, "iiiiii:",                                           \
      (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t value,           \
       uint32_t value_len, uint32_t ret))                                                          \
    X("key-value", "delete", Z_keyZ2DvalueZ_delete,                                                \
      "iiii:", (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t ret))   \
    X("key-value", "exists", Z_keyZ2DvalueZ_exists,                                                \
      "iiii:", (weft_guest_t * g, uint32_t store, uint32_t key, uint32_t key_len, uint32_t ret))   \
    X("key-value", "get-keys", Z_keyZ2DvalueZ_getZ2Dkeys,                                          \
      "ii:", (weft_guest_t * g, uint32_t store, uint32_t ret))                                     \
    X("key-value", "close", Z_keyZ2DvalueZ_close, "i:", (weft_guest_t * g, uint32_t store))

#define WEFT_SPIN_DECLARE_(module, name, mangled, sig, params) void mangled params;
WEFT_SPIN_FUNCTIONS(WEFT_SPIN_DECLARE_)
#undef WEFT_SPIN_DECLARE_

/* ---- The plugin ------------------------------------------------------------------ */

/* This layer, the gateway and `weft up` live in the plugin weft-net.so (util.h,
 * "Plugins"), whose libraries (libcurl, h2o) only they need. What lives in the binary
 * reaches them through this table, the plugin's one exported symbol. Change the table
 * (members, their types or what they mean) only together with WEFT_NET_PLUGIN_ABI: a
 * weft binary refuses a weft-net.so built with another version. Commands: "up". */
#define WEFT_NET_PLUGIN_ABI 2u
#define WEFT_NET_PLUGIN_FILE "weft-net.so"
#define WEFT_NET_PLUGIN_SYMBOL "weft_net_plugin"

typedef struct weft_net_plugin {
    weft_plugin_head_t head;
    const weft_import_def_t *(*host_imports)(size_t *n);
    int (*host_create)(const weft_host_policy_t *policy, weft_host_t **out, weft_error_t *err);
    void (*host_destroy)(weft_host_t *h);
    int (*host_allowed_check)(const char *entry, weft_error_t *err);
    const weft_import_def_t *(*api_imports)(size_t *n);
    void (*host_trial)(weft_host_t *h, bool on);
    bool (*host_trial_wrote)(const weft_host_t *h);
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
