/* Outbound HTTP through wasi_experimental_http (sdk/weft.h), driven by argv:
 *
 *   req METHOD URL [BODY]   one request (BODY "-": stdin); prints the code, status, the
 *                           headers named in
 *                           $GET_HEADERS (comma-separated), all headers and the body.
 *                           $HEADERS is the request header block, sent as is.
 *   many URL N              N requests left open, then one more after a close
 *   bad-handle              every function on a handle that was never given out
 *   small URL               buffers too small for a header, the header block, the body
 *   missing URL             a header the response does not have
 *   close-twice URL         close, then close and read again
 *   bad-utf8 URL            a URL that is not UTF-8
 *   oob URL                 pointers and lengths outside memory, to every function
 *   leak URL N              N responses never closed: the host frees them
 *
 * Codes are printed as "what: CODE text"; the guest always exits 0 unless told
 * otherwise, so the test reads what the host answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static void code(const char *what, weft_http_error_t e) {
    printf("%s: %u %s\n", what, (unsigned)e, weft_http_error_text(e));
}

/* All of stdin, NUL-terminated. */
static char *read_stdin(void) {
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    if (buf)
        buf[n] = 0;
    return buf;
}

static int cmd_req(const char *method, const char *url, const char *body) {
    const char *headers = getenv("HEADERS");
    char *owned = NULL;
    if (body && !strcmp(body, "-"))
        body = owned = read_stdin();
    weft_http_response_t res;
    weft_http_error_t e =
        weft_http_request(method, url, headers, body, body ? strlen(body) : 0, &res);
    free(owned);
    code("req", e);
    if (e)
        return 0;
    printf("status: %u\n", (unsigned)res.status);
    const char *want = getenv("GET_HEADERS");
    if (want && *want) {
        char *list = strdup(want);
        for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
            char value[1024];
            e = weft_http_header_get(res.handle, name, value, sizeof value);
            if (e)
                printf("header %s: error %u %s\n", name, (unsigned)e, weft_http_error_text(e));
            else
                printf("header %s: %s\n", name, value);
        }
        free(list);
    }
    static char all[65536];
    e = weft_http_headers_get_all(res.handle, all, sizeof all);
    if (e)
        code("headers_get_all", e);
    else
        printf("headers:\n%s", all);
    char *data;
    size_t len;
    e = weft_http_body_read_all(res.handle, &data, &len);
    if (e) {
        code("body_read", e);
    } else {
        printf("body (%zu bytes): %s\n", len, len <= 4096 ? data : "(long)");
        free(data);
    }
    code("close", weft_http_close(res.handle));
    return 0;
}

static int cmd_many(const char *url, int n) {
    weft_http_handle_t first = 0;
    for (int i = 1; i <= n; i++) {
        weft_http_response_t res;
        char what[32];
        snprintf(what, sizeof what, "req %d", i);
        weft_http_error_t e = weft_http_request("GET", url, NULL, NULL, 0, &res);
        code(what, e);
        if (i == 1 && !e)
            first = res.handle;
    }
    code("close first", weft_http_close(first));
    weft_http_response_t res;
    code("req after close", weft_http_request("GET", url, NULL, NULL, 0, &res));
    return 0;
}

static int cmd_bad_handle(void) {
    char buf[64];
    size_t written;
    weft_http_handle_t h = 12345;
    code("body_read", wasi_experimental_http_body_read(h, buf, sizeof buf, &written));
    code("header_get", wasi_experimental_http_header_get(h, "a", 1, buf, sizeof buf, &written));
    code("headers_get_all", wasi_experimental_http_headers_get_all(h, buf, sizeof buf, &written));
    code("close", wasi_experimental_http_close(h));
    return 0;
}

static int open_or_die(const char *url, weft_http_response_t *res) {
    weft_http_error_t e = weft_http_request("GET", url, NULL, NULL, 0, res);
    if (e) {
        code("req", e);
        exit(3);
    }
    return 0;
}

static int cmd_small(const char *url) {
    weft_http_response_t res;
    open_or_die(url, &res);
    char buf[4] = "abc";
    size_t written = 99;
    code("header_get into 1 byte",
         wasi_experimental_http_header_get(res.handle, "x-test", 6, buf, 1, &written));
    printf("untouched: %s %zu\n", buf, written);
    code("headers_get_all into 1 byte",
         wasi_experimental_http_headers_get_all(res.handle, buf, 1, &written));
    printf("untouched: %s %zu\n", buf, written);
    /* A small body buffer is no error: the body comes in pieces. */
    char body[256] = {0};
    size_t n = 0, pieces = 0;
    for (;;) {
        weft_http_error_t e = wasi_experimental_http_body_read(res.handle, body + n, 3, &written);
        if (e) {
            code("body_read", e);
            break;
        }
        if (!written)
            break;
        n += written;
        pieces++;
    }
    printf("body in %zu pieces: %s\n", pieces, body);
    weft_http_close(res.handle);
    return 0;
}

static int cmd_missing(const char *url) {
    weft_http_response_t res;
    open_or_die(url, &res);
    char buf[64];
    size_t written = 0;
    code("header_get x-not-there", wasi_experimental_http_header_get(res.handle, "x-not-there", 11,
                                                                     buf, sizeof buf, &written));
    code("header_get X-TEST", weft_http_header_get(res.handle, "X-TEST", buf, sizeof buf));
    printf("value: %s\n", buf);
    weft_http_close(res.handle);
    return 0;
}

static int cmd_close_twice(const char *url) {
    weft_http_response_t res;
    open_or_die(url, &res);
    code("close", weft_http_close(res.handle));
    code("close again", weft_http_close(res.handle));
    char buf[8];
    size_t written;
    code("body_read after close", wasi_experimental_http_body_read(res.handle, buf, 8, &written));
    weft_http_response_t res2;
    open_or_die(url, &res2);
    printf("handles differ: %d\n", res2.handle != res.handle);
    return 0;
}

static int cmd_bad_utf8(const char *url) {
    char bad[512];
    snprintf(bad, sizeof bad, "%s\xff\xfe", url);
    weft_http_response_t res;
    code("req", weft_http_request("GET", bad, NULL, NULL, 0, &res));
    code("req bad header block", weft_http_request("GET", url, "x-a:\xc3\x28\n", NULL, 0, &res));
    code("req bad method", weft_http_request("G\xc3\x28", url, NULL, NULL, 0, &res));
    return 0;
}

#define PTR(a) ((void *)(uintptr_t)(a))

static int cmd_oob(const char *url) {
    uint32_t end = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
    size_t ul = strlen(url);
    uint16_t status;
    weft_http_handle_t handle;
    size_t written;
    code("req url past the end",
         wasi_experimental_http_req(PTR(end - 4), 16, "GET", 3, "", 0, "", 0, &status, &handle));
    code("req url length wraps", wasi_experimental_http_req(PTR(16), 0xffffffffu, "GET", 3, "", 0,
                                                            "", 0, &status, &handle));
    code("req method past the end",
         wasi_experimental_http_req(url, ul, PTR(0xfffffff0u), 3, "", 0, "", 0, &status, &handle));
    code("req headers past the end",
         wasi_experimental_http_req(url, ul, "GET", 3, PTR(end), 1, "", 0, &status, &handle));
    code("req body past the end",
         wasi_experimental_http_req(url, ul, "POST", 4, "", 0, PTR(end - 1), 2, &status, &handle));
    code("req status past the end",
         wasi_experimental_http_req(url, ul, "GET", 3, "", 0, "", 0, PTR(end - 1), &handle));
    code("req handle past the end",
         wasi_experimental_http_req(url, ul, "GET", 3, "", 0, "", 0, &status, PTR(end - 2)));

    weft_http_response_t res;
    open_or_die(url, &res);
    char buf[64];
    code("body_read buffer past the end",
         wasi_experimental_http_body_read(res.handle, PTR(end - 8), 64, &written));
    code("body_read written past the end",
         wasi_experimental_http_body_read(res.handle, buf, sizeof buf, PTR(end - 3)));
    code("header_get name past the end",
         wasi_experimental_http_header_get(res.handle, PTR(end), 6, buf, sizeof buf, &written));
    code("header_get buffer past the end",
         wasi_experimental_http_header_get(res.handle, "x-test", 6, PTR(0xffffff00u), 0x1000,
                                           &written));
    code("header_get written past the end",
         wasi_experimental_http_header_get(res.handle, "x-test", 6, buf, sizeof buf,
                                           PTR(0xfffffffcu)));
    code("headers_get_all buffer past the end",
         wasi_experimental_http_headers_get_all(res.handle, PTR(end - 1), 4096, &written));
    code("headers_get_all written past the end",
         wasi_experimental_http_headers_get_all(res.handle, buf, sizeof buf, PTR(end)));
    /* After all that, the response is intact. */
    char *body;
    size_t len;
    code("body_read_all", weft_http_body_read_all(res.handle, &body, &len));
    printf("body: %s\n", body);
    free(body);
    code("close", weft_http_close(res.handle));
    return 0;
}

static int cmd_leak(const char *url, int n) {
    for (int i = 0; i < n; i++) {
        weft_http_response_t res;
        open_or_die(url, &res);
    }
    printf("left %d open\n", n);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "req") && argc >= 4)
        return cmd_req(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    if (!strcmp(cmd, "many") && argc == 4)
        return cmd_many(argv[2], atoi(argv[3]));
    if (!strcmp(cmd, "bad-handle"))
        return cmd_bad_handle();
    if (!strcmp(cmd, "small") && argc == 3)
        return cmd_small(argv[2]);
    if (!strcmp(cmd, "missing") && argc == 3)
        return cmd_missing(argv[2]);
    if (!strcmp(cmd, "close-twice") && argc == 3)
        return cmd_close_twice(argv[2]);
    if (!strcmp(cmd, "bad-utf8") && argc == 3)
        return cmd_bad_utf8(argv[2]);
    if (!strcmp(cmd, "oob") && argc == 3)
        return cmd_oob(argv[2]);
    if (!strcmp(cmd, "leak") && argc == 4)
        return cmd_leak(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: http_out req|many|bad-handle|small|missing|close-twice|bad-utf8|"
                    "oob|leak ...\n");
    return 2;
}
