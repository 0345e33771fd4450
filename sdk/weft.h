/* weft.h: the host APIs weft offers a guest beyond WASI, for C guests compiled with
 * clang --target=wasm32-wasi.
 *
 *   #include "weft.h"          (clang --target=wasm32-wasi -I sdk ...)
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
