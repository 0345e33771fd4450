// guest-flags: -mexec-model=reactor
/* A Spin 1 HTTP handler written against the canonical ABI by hand (no generated
 * bindings): the export handle-http-request, canonical_abi_realloc and _free, and the
 * imports of spin-config, wasi-outbound-http and key-value, every record laid out byte
 * for byte as Spin 1's wit-bindgen lays it out (host.h, "Spin 1's host interfaces";
 * invoke/spin_http.c). It routes on the uri's path:
 *
 *   /echo..., /base/...  200: the method, uri, headers, params and body it was given
 *   /status/N       status N, empty body
 *   /config/KEY     get-config KEY: 200 and the value, or 404 "err TAG: message"
 *   /kv/STORE       open, set, get, exists, get-keys, delete, delete again, exists,
 *                   get of a missing key, on STORE: one line per call
 *   /http?u=URL     a POST of "ping" with x-a: 1 to URL: "status=N", its headers
 *                   that start with x-, its body; or "err N"
 *   /badheaders     a header list pointer out of memory
 *   /badheader      a header whose value lies out of memory
 *   /badbody        a body out of memory
 *   /badret         a response record out of memory
 *   /dropped        headers weft drops (content-length, a bad name, a line break)
 *   /big?n=N        N bytes of body
 *   /realloc-trap   get-config with a canonical_abi_realloc that traps
 *   /realloc-bad    get-config with a canonical_abi_realloc answering an address out
 *                   of memory
 *   /trap           traps
 *   /exit           proc_exit(0) without answering
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What canonical_abi_realloc does: 0 allocates, 1 traps, 2 answers a bad address. */
static int realloc_mode;

__attribute__((export_name("canonical_abi_realloc"))) void *
canonical_abi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    if (realloc_mode == 1)
        __builtin_trap();
    if (realloc_mode == 2)
        return (void *)(uintptr_t)0xfffffff0u;
    if (new_size == 0)
        return (void *)align;
    void *p = realloc(ptr, new_size);
    if (!p)
        abort();
    return p;
}

__attribute__((export_name("canonical_abi_free"))) void canonical_abi_free(void *ptr, size_t size,
                                                                           size_t align) {
    (void)align;
    if (size)
        free(ptr);
}

__attribute__((import_module("spin-config"), import_name("get-config"))) void
spin_get_config(int32_t key, int32_t key_len, int32_t ret);
__attribute__((import_module("wasi-outbound-http"), import_name("request"))) void
spin_http_request(int32_t method, int32_t uri, int32_t uri_len, int32_t headers,
                  int32_t headers_len, int32_t params, int32_t params_len, int32_t body_is_some,
                  int32_t body, int32_t body_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("open"))) void
kv_open(int32_t name, int32_t name_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("get"))) void
kv_get(int32_t store, int32_t key, int32_t key_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("set"))) void
kv_set(int32_t store, int32_t key, int32_t key_len, int32_t value, int32_t value_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("delete"))) void
kv_delete(int32_t store, int32_t key, int32_t key_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("exists"))) void
kv_exists(int32_t store, int32_t key, int32_t key_len, int32_t ret);
__attribute__((import_module("key-value"), import_name("get-keys"))) void kv_get_keys(int32_t store,
                                                                                      int32_t ret);
__attribute__((import_module("key-value"), import_name("close"))) void kv_close(int32_t store);

/* A (ptr, len) pair as the records hold it. */
typedef struct {
    const char *ptr;
    uint32_t len;
} str_t;

/* A header or param tuple: 16 bytes. */
typedef struct {
    str_t name, value;
} tuple_t;

_Static_assert(sizeof(tuple_t) == 16, "a tuple of two strings is 16 bytes");

static uint8_t RET[28] __attribute__((aligned(4)));
static uint8_t CALL[32] __attribute__((aligned(4)));

/* The response being built. */
static char body[1 << 16];
static size_t blen;
static tuple_t out_headers[16];
static uint32_t nout;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    int n = vsnprintf(body + blen, sizeof body - blen, fmt, ap);
    __builtin_va_end(ap);
    if (n > 0)
        blen += (size_t)n < sizeof body - blen ? (size_t)n : sizeof body - blen - 1;
}

static void add_header(const char *name, const char *value) {
    out_headers[nout].name = (str_t){name, (uint32_t)strlen(name)};
    out_headers[nout].value = (str_t){value, (uint32_t)strlen(value)};
    nout++;
}

static int32_t answer(uint16_t status) {
    memset(RET, 0, sizeof RET);
    memcpy(RET, &status, 2);
    RET[4] = nout ? 1 : 0;
    uint32_t hp = (uint32_t)(uintptr_t)out_headers, hn = nout;
    memcpy(RET + 8, &hp, 4);
    memcpy(RET + 12, &hn, 4);
    RET[16] = 1;
    uint32_t bp = (uint32_t)(uintptr_t)body, bl = (uint32_t)blen;
    memcpy(RET + 20, &bp, 4);
    memcpy(RET + 24, &bl, 4);
    return (int32_t)(uintptr_t)RET;
}

static uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static bool starts(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && !memcmp(s, prefix, k);
}

/* The error of an expected<_, error> at CALL + 4, and its string when it has one. */
static void say_error(int with_string) {
    say("err %u", CALL[4]);
    if (with_string)
        say(": %.*s", (int)u32_at(CALL + 12), (const char *)(uintptr_t)u32_at(CALL + 8));
    say("\n");
}

static void kv_result(const char *what, int kind) {
    say("%s: ", what);
    if (CALL[0]) {
        say_error(CALL[4] == 5);
        return;
    }
    if (kind == 0)
        say("ok\n");
    else if (kind == 1)
        say("ok %.*s\n", (int)u32_at(CALL + 8), (const char *)(uintptr_t)u32_at(CALL + 4));
    else if (kind == 2)
        say("ok %s\n", CALL[4] ? "true" : "false");
    else {
        const str_t *keys = (const str_t *)(uintptr_t)u32_at(CALL + 4);
        uint32_t n = u32_at(CALL + 8);
        say("ok %u:", n);
        for (uint32_t i = 0; i < n; i++)
            say(" %.*s", (int)keys[i].len, keys[i].ptr);
        say("\n");
    }
}

static int32_t kv(const char *store, size_t n) {
    kv_open((int32_t)(uintptr_t)store, (int32_t)n, (int32_t)(uintptr_t)CALL);
    if (CALL[0]) {
        say("open: ");
        say_error(CALL[4] == 5);
        return answer(200);
    }
    uint32_t h = u32_at(CALL + 4);
    say("open: ok\n");
    static const char k1[] = "k1", v1[] = "v1", nope[] = "nope";
    kv_set((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)v1, 2,
           (int32_t)(uintptr_t)CALL);
    kv_result("set k1", 0);
    kv_get((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("get k1", 1);
    kv_exists((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("exists k1", 2);
    kv_exists((int32_t)h, (int32_t)(uintptr_t)nope, 4, (int32_t)(uintptr_t)CALL);
    kv_result("exists nope", 2);
    kv_get_keys((int32_t)h, (int32_t)(uintptr_t)CALL);
    kv_result("get-keys", 3);
    kv_delete((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("delete k1", 0);
    kv_delete((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("delete k1 again", 0);
    kv_exists((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("exists k1", 2);
    kv_get((int32_t)h, (int32_t)(uintptr_t)nope, 4, (int32_t)(uintptr_t)CALL);
    kv_result("get nope", 1);
    kv_close((int32_t)h);
    kv_get((int32_t)h, (int32_t)(uintptr_t)k1, 2, (int32_t)(uintptr_t)CALL);
    kv_result("get after close", 1);
    return answer(200);
}

static int32_t config(const char *key, size_t n) {
    spin_get_config((int32_t)(uintptr_t)key, (int32_t)n, (int32_t)(uintptr_t)CALL);
    if (CALL[0]) {
        say_error(1);
        return answer(404);
    }
    say("%.*s", (int)u32_at(CALL + 8), (const char *)(uintptr_t)u32_at(CALL + 4));
    return answer(200);
}

static int32_t http(const char *url, size_t n) {
    static const char ping[] = "ping";
    static tuple_t hs[1] = {{{"x-a", 3}, {"1", 1}}};
    spin_http_request(1, (int32_t)(uintptr_t)url, (int32_t)n, (int32_t)(uintptr_t)hs, 1, 0, 0, 1,
                      (int32_t)(uintptr_t)ping, 4, (int32_t)(uintptr_t)CALL);
    if (CALL[0]) {
        say("err %u\n", CALL[4]);
        return answer(200);
    }
    uint16_t status;
    memcpy(&status, CALL + 4, 2);
    say("status=%u\n", status);
    const tuple_t *h = (const tuple_t *)(uintptr_t)u32_at(CALL + 12);
    for (uint32_t i = 0; CALL[8] && i < u32_at(CALL + 16); i++)
        if (starts(h[i].name.ptr, h[i].name.len, "x-"))
            say("%.*s: %.*s\n", (int)h[i].name.len, h[i].name.ptr, (int)h[i].value.len,
                h[i].value.ptr);
    if (CALL[20])
        say("body=%.*s\n", (int)u32_at(CALL + 28), (const char *)(uintptr_t)u32_at(CALL + 24));
    return answer(200);
}

static int32_t echo(int32_t method, const char *uri, uint32_t uri_len, const tuple_t *hs,
                    uint32_t hn, const tuple_t *ps, uint32_t pn, int32_t body_is_some,
                    const char *b, uint32_t bl) {
    say("method=%d\nuri=%.*s\n", method, (int)uri_len, uri);
    for (uint32_t i = 0; i < hn; i++)
        say("h:%.*s=%.*s\n", (int)hs[i].name.len, hs[i].name.ptr, (int)hs[i].value.len,
            hs[i].value.ptr);
    for (uint32_t i = 0; i < pn; i++)
        say("p:%.*s=%.*s\n", (int)ps[i].name.len, ps[i].name.ptr, (int)ps[i].value.len,
            ps[i].value.ptr);
    say("body%s=%.*s\n", body_is_some ? "" : "(none)", (int)bl, b);
    add_header("content-type", "text/plain");
    add_header("x-spin", "yes");
    add_header("x-spin", "twice");
    return answer(200);
}

__attribute__((export_name("handle-http-request"))) int32_t
handle_http_request(int32_t method, int32_t uri_ptr, int32_t uri_len, int32_t headers_ptr,
                    int32_t headers_len, int32_t params_ptr, int32_t params_len,
                    int32_t body_is_some, int32_t body_ptr, int32_t body_len) {
    const char *uri = (const char *)(uintptr_t)uri_ptr;
    size_t n = (size_t)uri_len;
    blen = 0;
    nout = 0;
    if (starts(uri, n, "/echo") || starts(uri, n, "/base/"))
        return echo(method, uri, (uint32_t)uri_len, (const tuple_t *)(uintptr_t)headers_ptr,
                    (uint32_t)headers_len, (const tuple_t *)(uintptr_t)params_ptr,
                    (uint32_t)params_len, body_is_some, (const char *)(uintptr_t)body_ptr,
                    (uint32_t)body_len);
    if (starts(uri, n, "/status/"))
        return answer((uint16_t)atoi(uri + 8));
    if (starts(uri, n, "/config/"))
        return config(uri + 8, n - 8);
    if (starts(uri, n, "/kv/"))
        return kv(uri + 4, n - 4);
    if (starts(uri, n, "/http?u="))
        return http(uri + 8, n - 8);
    if (starts(uri, n, "/badheaders")) {
        add_header("x-a", "1");
        answer(200);
        uint32_t bad = 0xfffffff0u;
        memcpy(RET + 8, &bad, 4);
        return (int32_t)(uintptr_t)RET;
    }
    if (starts(uri, n, "/badheader")) {
        add_header("x-a", "1");
        out_headers[0].value.ptr = (const char *)(uintptr_t)0xffff0000u;
        return answer(200);
    }
    if (starts(uri, n, "/badbody")) {
        answer(200);
        uint32_t bad = 0x7fffffffu, len = 0x7fffffffu;
        memcpy(RET + 20, &bad, 4);
        memcpy(RET + 24, &len, 4);
        return (int32_t)(uintptr_t)RET;
    }
    if (starts(uri, n, "/badret"))
        return (int32_t)0xfffffff0u;
    if (starts(uri, n, "/dropped")) {
        add_header("content-length", "5");
        add_header("bad name", "x");
        add_header("x-break", "a\r\nevil: 1");
        add_header("x-kept", "kept");
        say("dropped");
        return answer(200);
    }
    if (starts(uri, n, "/big?n=")) {
        size_t k = (size_t)atoi(uri + 7);
        memset(body, 'b', k < sizeof body ? k : sizeof body);
        blen = k < sizeof body ? k : sizeof body;
        return answer(200);
    }
    if (starts(uri, n, "/realloc-")) {
        realloc_mode = starts(uri, n, "/realloc-trap") ? 1 : 2;
        static const char key[] = "greeting";
        spin_get_config((int32_t)(uintptr_t)key, 8, (int32_t)(uintptr_t)CALL);
        realloc_mode = 0;
        say("get-config returned\n");
        return answer(200);
    }
    if (starts(uri, n, "/trap"))
        __builtin_trap();
    if (starts(uri, n, "/exit"))
        exit(0);
    say("no route for %.*s\n", (int)n, uri);
    return answer(404);
}
