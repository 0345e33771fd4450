/* weft.h: the host APIs weft offers a guest beyond WASI, for C guests compiled with
 * clang --target=wasm32-wasi.
 *
 *   #include "weft.h"          (clang --target=wasm32-wasi -I sdk ...)
 *
 * Two parts: the services (key-value, blobs, documents, publish: the import module
 * "weft", weft's own, below "Services") and outbound HTTP (WAGI's).
 *
 * Outbound HTTP is the wasi_experimental_http module of the deislabs
 * wasi-experimental-http crate, the one WAGI offers: a guest that uses only WASI and
 * these imports runs on WAGI as well as on weft. Requests go only to the hosts the
 * function's allowed_hosts permit (error 7 otherwise); a response stays open, holding
 * its status, headers and body, until weft_http_close or the end of the invocation.
 *
 * The raw imports come first, under the ABI's own names; the weft_http_* wrappers
 * below them take C strings and are what a C guest normally calls. Every function
 * returns 0 (WEFT_HTTP_SUCCESS) or one of the error codes.
 */
#ifndef WEFT_SDK_H
#define WEFT_SDK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ==== Services: key-value, blobs, documents, publish (import module "weft") ==========
 *
 * A function may use only what its [[function]] entry in weft.toml grants:
 *
 *   key_value_stores = ["default"]        weft_kv_open names
 *   blob_containers = ["uploads"]         containers of weft_blob_*
 *   document_collections = ["results"]    collections of weft_doc_*
 *   publish = ["blobs"]                   brokers of weft_publish
 *
 * Anything else answers WEFT_ACCESS_DENIED (and weft logs the function and the name).
 * Every call returns one of the codes below; weft_last_error() gives the text of the
 * last failure ("kv store 'cache' is not granted to function 'f'"). A pointer or a
 * length outside the guest's memory is WEFT_INVALID_ARGUMENT. Writes are durable when
 * the call returns. Names and keys are passed with their lengths (the wrappers take C
 * strings).
 */

typedef uint32_t weft_error_t;

#define WEFT_OK 0u
#define WEFT_NOT_FOUND 1u
#define WEFT_ACCESS_DENIED 2u    /* not granted in weft.toml */
#define WEFT_TOO_LARGE 3u        /* over a limit: value, document, blob, event, store size */
#define WEFT_INVALID_ARGUMENT 4u /* a bad name, key, JSON text, pointer or length */
#define WEFT_UNAVAILABLE 5u      /* the store cannot be opened, read or written */
#define WEFT_BUFFER_TOO_SMALL 6u /* nothing written; the size needed is reported */
#define WEFT_INVALID_HANDLE 7u
#define WEFT_CONFLICT 8u

static inline const char *weft_error_text(weft_error_t e) {
    static const char *const text[] = {
        "ok",
        "not found",
        "access denied",
        "too large",
        "invalid argument",
        "store unavailable",
        "buffer too small",
        "invalid handle",
        "conflict",
    };
    return e < sizeof text / sizeof text[0] ? text[e] : "unknown error";
}

typedef uint32_t weft_kv_t;          /* an open key-value store */
typedef uint32_t weft_blob_writer_t; /* a blob being written */
typedef uint32_t weft_blob_reader_t; /* a blob being read */

/* What weft_blob_stat fills in (352 bytes, the layout the host writes). */
typedef struct weft_blob_stat {
    uint64_t size;
    int64_t mtime_ms; /* when it was written: milliseconds since the Unix epoch */
    uint64_t version; /* changes with every write (the HTTP API's ETag) */
    char sha256[65];  /* lower-case hex, NUL-terminated */
    char content_type[256];
} weft_blob_stat_t;

#if defined(__wasm__)

_Static_assert(sizeof(weft_blob_stat_t) == 352, "weft_blob_stat_t is the host's layout");

#define WEFT_IMPORT_(module, name) __attribute__((import_module(module), import_name(name)))

/* ---- "weft", as imported ---------------------------------------------------------- */

/* The text of the last failure of this invocation (without NUL; *written bytes). */
WEFT_IMPORT_("weft", "last_error")
weft_error_t weft_last_error_raw(char *buf, size_t buf_len, size_t *written);

/* Key-value: Spin's key-value semantics. Open a store by name ("default"); get answers
 * WEFT_NOT_FOUND for a missing (or expired) key and WEFT_BUFFER_TOO_SMALL with *len the
 * value's size when buf is too small; set replaces, with a time to live in milliseconds
 * (0: none); delete of a missing key is WEFT_OK (as in Spin); list writes the keys that
 * begin with prefix and sort after `after` (empty: from the start), each followed by a
 * NUL, as many as fit (*more is 1 when another page follows: list again after the
 * last). */
WEFT_IMPORT_("weft", "kv_open")
weft_error_t weft_kv_open_raw(const char *name, size_t name_len, weft_kv_t *store);
WEFT_IMPORT_("weft", "kv_get")
weft_error_t weft_kv_get_raw(weft_kv_t store, const char *key, size_t key_len, void *buf,
                             size_t buf_len, size_t *len);
WEFT_IMPORT_("weft", "kv_set")
weft_error_t weft_kv_set_raw(weft_kv_t store, const char *key, size_t key_len, const void *value,
                             size_t value_len, uint64_t ttl_ms);
WEFT_IMPORT_("weft", "kv_delete")
weft_error_t weft_kv_delete_raw(weft_kv_t store, const char *key, size_t key_len);
WEFT_IMPORT_("weft", "kv_exists")
weft_error_t weft_kv_exists_raw(weft_kv_t store, const char *key, size_t key_len, uint32_t *exists);
WEFT_IMPORT_("weft", "kv_list")
weft_error_t weft_kv_list_raw(weft_kv_t store, const char *prefix, size_t prefix_len,
                              const char *after, size_t after_len, char *buf, size_t buf_len,
                              size_t *written, uint32_t *more);

/* Blobs, streamed both ways: a writer takes chunks and the blob appears, whole, only at
 * commit (abort, or the end of the invocation, drops it); a reader reads the version it
 * opened at any offset (*got 0: the end). list is kv_list's paging for names. */
WEFT_IMPORT_("weft", "blob_write_open")
weft_error_t weft_blob_write_open_raw(const char *container, size_t container_len, const char *name,
                                      size_t name_len, const char *type, size_t type_len,
                                      weft_blob_writer_t *writer);
WEFT_IMPORT_("weft", "blob_write")
weft_error_t weft_blob_write(weft_blob_writer_t writer, const void *data, size_t len);
WEFT_IMPORT_("weft", "blob_write_commit")
weft_error_t weft_blob_write_commit(weft_blob_writer_t writer);
WEFT_IMPORT_("weft", "blob_write_abort")
weft_error_t weft_blob_write_abort(weft_blob_writer_t writer);
WEFT_IMPORT_("weft", "blob_read_open")
weft_error_t weft_blob_read_open_raw(const char *container, size_t container_len, const char *name,
                                     size_t name_len, weft_blob_reader_t *reader, uint64_t *size);
WEFT_IMPORT_("weft", "blob_read")
weft_error_t weft_blob_read(weft_blob_reader_t reader, uint64_t offset, void *buf, size_t buf_len,
                            size_t *got);
WEFT_IMPORT_("weft", "blob_read_close")
weft_error_t weft_blob_read_close(weft_blob_reader_t reader);
WEFT_IMPORT_("weft", "blob_stat")
weft_error_t weft_blob_stat_raw(const char *container, size_t container_len, const char *name,
                                size_t name_len, weft_blob_stat_t *stat);
WEFT_IMPORT_("weft", "blob_delete")
weft_error_t weft_blob_delete_raw(const char *container, size_t container_len, const char *name,
                                  size_t name_len);
WEFT_IMPORT_("weft", "blob_list")
weft_error_t weft_blob_list_raw(const char *container, size_t container_len, const char *prefix,
                                size_t prefix_len, const char *after, size_t after_len, char *buf,
                                size_t buf_len, size_t *written, uint32_t *more);

/* Documents: JSON objects by collection and id. query matches the documents whose
 * top-level members equal every member of the JSON object `match` ("{}": all; values are
 * strings, numbers, true, false or null), in id order after `after`, and writes each as
 * its id, a NUL, its JSON text, a NUL, as many as fit (*more as for lists). */
WEFT_IMPORT_("weft", "doc_put")
weft_error_t weft_doc_put_raw(const char *collection, size_t collection_len, const char *id,
                              size_t id_len, const char *json, size_t json_len);
WEFT_IMPORT_("weft", "doc_get")
weft_error_t weft_doc_get_raw(const char *collection, size_t collection_len, const char *id,
                              size_t id_len, char *buf, size_t buf_len, size_t *len);
WEFT_IMPORT_("weft", "doc_delete")
weft_error_t weft_doc_delete_raw(const char *collection, size_t collection_len, const char *id,
                                 size_t id_len);
WEFT_IMPORT_("weft", "doc_query")
weft_error_t weft_doc_query_raw(const char *collection, size_t collection_len, const char *match,
                                size_t match_len, const char *after, size_t after_len, char *buf,
                                size_t buf_len, size_t *written, uint32_t *more);

/* Publish: appends a CloudEvent to broker; durable when it returns WEFT_OK. attrs is a
 * block of lines "name:value\n": its attributes (type is required; id defaults to a
 * fresh UUID, source to "/weft/functions/<function>", specversion to 1.0;
 * datacontenttype, subject, time and extensions as given). data is the event's data. */
WEFT_IMPORT_("weft", "publish")
weft_error_t weft_publish_raw(const char *broker, size_t broker_len, const char *attrs,
                              size_t attrs_len, const void *data, size_t data_len);

#undef WEFT_IMPORT_

/* ---- Wrappers taking C strings ---------------------------------------------------- */

/* The last failure's text as a C string in buf (cut to len-1 bytes). */
static inline const char *weft_last_error(char *buf, size_t len) {
    size_t n = 0;
    if (!len)
        return buf;
    if (weft_last_error_raw(buf, len - 1, &n))
        n = 0;
    buf[n < len ? n : len - 1] = 0;
    return buf;
}

static inline weft_error_t weft_kv_open(const char *name, weft_kv_t *store) {
    return weft_kv_open_raw(name, strlen(name), store);
}

/* Reads the value of key into a malloc'ed buffer (*value, NUL-terminated, *len bytes
 * without the NUL; free it). */
static inline weft_error_t weft_kv_get(weft_kv_t store, const char *key, char **value,
                                       size_t *len) {
    size_t cap = 256, n = 0;
    for (;;) {
        char *buf = (char *)malloc(cap + 1);
        if (!buf)
            return WEFT_TOO_LARGE;
        weft_error_t e = weft_kv_get_raw(store, key, strlen(key), buf, cap, &n);
        if (e == WEFT_BUFFER_TOO_SMALL && n > cap) {
            free(buf);
            cap = n;
            continue;
        }
        if (e) {
            free(buf);
            return e;
        }
        buf[n] = 0;
        *value = buf;
        *len = n;
        return WEFT_OK;
    }
}

static inline weft_error_t weft_kv_set(weft_kv_t store, const char *key, const void *value,
                                       size_t len, uint64_t ttl_ms) {
    return weft_kv_set_raw(store, key, strlen(key), value, len, ttl_ms);
}

static inline weft_error_t weft_kv_delete(weft_kv_t store, const char *key) {
    return weft_kv_delete_raw(store, key, strlen(key));
}

/* *exists: 1 or 0. */
static inline weft_error_t weft_kv_exists(weft_kv_t store, const char *key, uint32_t *exists) {
    return weft_kv_exists_raw(store, key, strlen(key), exists);
}

static inline weft_error_t weft_blob_write_open(const char *container, const char *name,
                                                const char *content_type,
                                                weft_blob_writer_t *writer) {
    if (!content_type)
        content_type = "";
    return weft_blob_write_open_raw(container, strlen(container), name, strlen(name), content_type,
                                    strlen(content_type), writer);
}

/* Stores data[0..len) as the blob, in one go. */
static inline weft_error_t weft_blob_put(const char *container, const char *name,
                                         const char *content_type, const void *data, size_t len) {
    weft_blob_writer_t w;
    weft_error_t e = weft_blob_write_open(container, name, content_type, &w);
    if (e)
        return e;
    if ((e = weft_blob_write(w, data, len))) {
        weft_blob_write_abort(w);
        return e;
    }
    return weft_blob_write_commit(w);
}

static inline weft_error_t weft_blob_read_open(const char *container, const char *name,
                                               weft_blob_reader_t *reader, uint64_t *size) {
    return weft_blob_read_open_raw(container, strlen(container), name, strlen(name), reader, size);
}

/* Reads the whole blob into a malloc'ed buffer (*data, NUL-terminated, *len bytes). */
static inline weft_error_t weft_blob_get(const char *container, const char *name, char **data,
                                         size_t *len) {
    weft_blob_reader_t r;
    uint64_t size = 0;
    weft_error_t e = weft_blob_read_open(container, name, &r, &size);
    if (e)
        return e;
    char *buf = size < SIZE_MAX ? (char *)malloc((size_t)size + 1) : NULL;
    if (!buf) {
        weft_blob_read_close(r);
        return WEFT_TOO_LARGE;
    }
    size_t n = 0;
    while (n < size) {
        size_t got = 0;
        if ((e = weft_blob_read(r, n, buf + n, (size_t)size - n, &got)) || !got)
            break;
        n += got;
    }
    weft_blob_read_close(r);
    if (e) {
        free(buf);
        return e;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return WEFT_OK;
}

static inline weft_error_t weft_blob_stat(const char *container, const char *name,
                                          weft_blob_stat_t *stat) {
    return weft_blob_stat_raw(container, strlen(container), name, strlen(name), stat);
}

static inline weft_error_t weft_blob_delete(const char *container, const char *name) {
    return weft_blob_delete_raw(container, strlen(container), name, strlen(name));
}

static inline weft_error_t weft_doc_put(const char *collection, const char *id, const char *json) {
    return weft_doc_put_raw(collection, strlen(collection), id, strlen(id), json, strlen(json));
}

/* Reads the document into a malloc'ed C string (*json; free it). */
static inline weft_error_t weft_doc_get(const char *collection, const char *id, char **json) {
    size_t cap = 1024, n = 0;
    for (;;) {
        char *buf = (char *)malloc(cap + 1);
        if (!buf)
            return WEFT_TOO_LARGE;
        weft_error_t e =
            weft_doc_get_raw(collection, strlen(collection), id, strlen(id), buf, cap, &n);
        if (e == WEFT_BUFFER_TOO_SMALL && n > cap) {
            free(buf);
            cap = n;
            continue;
        }
        if (e) {
            free(buf);
            return e;
        }
        buf[n] = 0;
        *json = buf;
        return WEFT_OK;
    }
}

static inline weft_error_t weft_doc_delete(const char *collection, const char *id) {
    return weft_doc_delete_raw(collection, strlen(collection), id, strlen(id));
}

/* weft_publish("blobs", "type:com.example.blob.created\nsubject:c/b\n", data, len). */
static inline weft_error_t weft_publish(const char *broker, const char *attrs, const void *data,
                                        size_t len) {
    if (!attrs)
        attrs = "";
    return weft_publish_raw(broker, strlen(broker), attrs, strlen(attrs), data ? data : "", len);
}

#endif /* __wasm__ */

/* ==== Outbound HTTP (wasi_experimental_http, as WAGI offers it) ======================= */

/* ---- Error codes (the crate's HttpError) ----------------------------------------- */

typedef uint32_t weft_http_error_t;

#define WEFT_HTTP_SUCCESS 0u
#define WEFT_HTTP_INVALID_HANDLE 1u      /* no open response has this handle */
#define WEFT_HTTP_MEMORY_NOT_FOUND 2u    /* the module exports no memory */
#define WEFT_HTTP_MEMORY_ACCESS_ERROR 3u /* a pointer/length outside memory */
#define WEFT_HTTP_BUFFER_TOO_SMALL 4u    /* the value does not fit; nothing written */
#define WEFT_HTTP_HEADER_NOT_FOUND 5u
#define WEFT_HTTP_UTF8_ERROR 6u              /* URL, method, headers or name not UTF-8 */
#define WEFT_HTTP_DESTINATION_NOT_ALLOWED 7u /* not in allowed_hosts */
#define WEFT_HTTP_INVALID_METHOD 8u
#define WEFT_HTTP_INVALID_ENCODING 9u /* a request header line that is no header */
#define WEFT_HTTP_INVALID_URL 10u
#define WEFT_HTTP_REQUEST_ERROR 11u /* no response: connection, timeout, size */
#define WEFT_HTTP_RUNTIME_ERROR 12u
#define WEFT_HTTP_TOO_MANY_SESSIONS 13u /* too many open responses: close some */

typedef uint32_t weft_http_handle_t;

static inline const char *weft_http_error_text(weft_http_error_t e) {
    static const char *const text[] = {
        "success",          "invalid handle",    "memory not found", "memory access error",
        "buffer too small", "header not found",  "UTF-8 error",      "destination not allowed",
        "invalid method",   "invalid encoding",  "invalid URL",      "request error",
        "runtime error",    "too many sessions",
    };
    return e < sizeof text / sizeof text[0] ? text[e] : "unknown error";
}

#if defined(__wasm__)

#define WEFT_IMPORT_(module, name) __attribute__((import_module(module), import_name(name)))

/* ---- wasi_experimental_http, as imported ----------------------------------------- */

/* Sends a request and waits for the whole response. headers is a block of lines
 * "name:value\n" (may be empty); body may be empty. On success *status is the HTTP
 * status and *handle the response's handle. */
WEFT_IMPORT_("wasi_experimental_http", "req")
weft_http_error_t wasi_experimental_http_req(const char *url, size_t url_len, const char *method,
                                             size_t method_len, const char *headers,
                                             size_t headers_len, const void *body, size_t body_len,
                                             uint16_t *status, weft_http_handle_t *handle);

/* Frees the response. */
WEFT_IMPORT_("wasi_experimental_http", "close")
weft_http_error_t wasi_experimental_http_close(weft_http_handle_t handle);

/* Copies the next at most buf_len bytes of the body into buf; *written 0 is the end. */
WEFT_IMPORT_("wasi_experimental_http", "body_read")
weft_http_error_t wasi_experimental_http_body_read(weft_http_handle_t handle, void *buf,
                                                   size_t buf_len, size_t *written);

/* The value of the first response header called name (any case). */
WEFT_IMPORT_("wasi_experimental_http", "header_get")
weft_http_error_t wasi_experimental_http_header_get(weft_http_handle_t handle, const char *name,
                                                    size_t name_len, char *buf, size_t buf_len,
                                                    size_t *written);

/* Every response header, as lines "name:value\n" with lower-case names. */
WEFT_IMPORT_("wasi_experimental_http", "headers_get_all")
weft_http_error_t wasi_experimental_http_headers_get_all(weft_http_handle_t handle, char *buf,
                                                         size_t buf_len, size_t *written);

#undef WEFT_IMPORT_

/* ---- Convenience wrappers -------------------------------------------------------- */

typedef struct weft_http_response {
    uint16_t status;
    weft_http_handle_t handle;
} weft_http_response_t;

/* weft_http_request("POST", "https://api.example.com/v1", "content-type:text/plain\n",
 *                   "hi", 2, &res). headers may be NULL, body NULL with body_len 0. */
static inline weft_http_error_t weft_http_request(const char *method, const char *url,
                                                  const char *headers, const void *body,
                                                  size_t body_len, weft_http_response_t *res) {
    if (!headers)
        headers = "";
    return wasi_experimental_http_req(url, strlen(url), method, strlen(method), headers,
                                      strlen(headers), body ? body : "", body_len, &res->status,
                                      &res->handle);
}

static inline weft_http_error_t weft_http_close(weft_http_handle_t handle) {
    return wasi_experimental_http_close(handle);
}

static inline weft_http_error_t weft_http_body_read(weft_http_handle_t handle, void *buf,
                                                    size_t len, size_t *written) {
    return wasi_experimental_http_body_read(handle, buf, len, written);
}

/* Reads the rest of the body into a malloc'ed buffer (*out, NUL-terminated, *len bytes
 * without the NUL; free it). WEFT_HTTP_RUNTIME_ERROR when malloc fails. */
static inline weft_http_error_t weft_http_body_read_all(weft_http_handle_t handle, char **out,
                                                        size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = (char *)malloc(cap + 1);
    if (!buf)
        return WEFT_HTTP_RUNTIME_ERROR;
    for (;;) {
        if (cap - n < 1024) {
            char *more = (char *)realloc(buf, cap * 2 + 1);
            if (!more) {
                free(buf);
                return WEFT_HTTP_RUNTIME_ERROR;
            }
            buf = more;
            cap *= 2;
        }
        size_t got = 0;
        weft_http_error_t e = wasi_experimental_http_body_read(handle, buf + n, cap - n, &got);
        if (e) {
            free(buf);
            return e;
        }
        if (!got)
            break;
        n += got;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return WEFT_HTTP_SUCCESS;
}

/* Copies the value of header name into buf as a C string (at most len-1 bytes). */
static inline weft_http_error_t weft_http_header_get(weft_http_handle_t handle, const char *name,
                                                     char *buf, size_t len) {
    size_t written = 0;
    if (!len)
        return WEFT_HTTP_BUFFER_TOO_SMALL;
    weft_http_error_t e =
        wasi_experimental_http_header_get(handle, name, strlen(name), buf, len - 1, &written);
    buf[e ? 0 : written] = 0;
    return e;
}

/* Copies the header block ("name:value\n" lines) into buf as a C string. */
static inline weft_http_error_t weft_http_headers_get_all(weft_http_handle_t handle, char *buf,
                                                          size_t len) {
    size_t written = 0;
    if (!len)
        return WEFT_HTTP_BUFFER_TOO_SMALL;
    weft_http_error_t e = wasi_experimental_http_headers_get_all(handle, buf, len - 1, &written);
    buf[e ? 0 : written] = 0;
    return e;
}

#endif /* __wasm__ */
#endif
