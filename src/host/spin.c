/* spin: Spin 1's host interfaces, spin-config, wasi-outbound-http and key-value (host.h,
 * "Spin 1's host interfaces", has the layouts).
 *
 * The records are read and written byte for byte as the host code that Spin 1.x's
 * wit-bindgen-wasmtime generated reads and writes them: the guest's lists and strings
 * are checked against its memory, and a pointer or a length out of bounds traps the
 * guest there (out-of-bounds memory access), as that code does; what the host answers
 * with is allocated in the guest's memory through its canonical_abi_realloc export.
 *
 * Every call first reads what the guest passed and does its work with host copies, and
 * only then writes the answer: a call of canonical_abi_realloc runs guest code, which
 * may trap or exit, and the host function must hold nothing then but what it can free
 * before the trap goes on (weft_guest_invoke, weft_guest_unwind).
 *
 * The work itself is weft's: the function's resolved configuration (the policy's
 * config), outbound HTTP as wasi_experimental_http makes it (weft_http_send: allowed
 * hosts, redirects, bounds) and the key-value calls of the weft module (grants, handles,
 * the trial rule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Request header lines one outbound request may carry. */
#define SPIN_MAX_HEADERS 1024u
/* Longest config key read (Spin's keys are short names). */
#define SPIN_MAX_CONFIG_KEY 1024u

/* Spin's method enum, in its order. */
static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};

/* http-error of wasi-outbound-http. */
enum {
    SPIN_HTTP_SUCCESS = 0,
    SPIN_HTTP_DESTINATION_NOT_ALLOWED = 1,
    SPIN_HTTP_INVALID_URL = 2,
    SPIN_HTTP_REQUEST_ERROR = 3,
    SPIN_HTTP_RUNTIME_ERROR = 4,
};

/* error of key-value. */
enum {
    SPIN_KV_STORE_TABLE_FULL = 0,
    SPIN_KV_NO_SUCH_STORE = 1,
    SPIN_KV_ACCESS_DENIED = 2,
    SPIN_KV_INVALID_STORE = 3,
    SPIN_KV_NO_SUCH_KEY = 4,
    SPIN_KV_IO = 5,
};

/* error of spin-config. */
enum { SPIN_CONFIG_INVALID_KEY = 1, SPIN_CONFIG_OTHER = 3 };

/* ---- Reading what the guest passed -------------------------------------------------- */

/* The guest's n elements of size bytes at ptr, or a trap when any lies outside its
 * memory. Called while the host function holds nothing. */
static uint8_t *region(weft_guest_t *g, uint32_t ptr, uint64_t n, uint64_t size) {
    uint8_t *p = weft_guest_ptr(g, ptr, n * size); /* n < 2^32, size <= 32: no overflow */
    if (!p)
        wasm_rt_trap(WASM_RT_TRAP_OOB);
    return p;
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void set_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

/* A host copy of the guest's string, NUL-terminated; NULL when memory ran out or the
 * string holds a NUL (which no name, key or URL of weft's may). */
static char *copy_str(const uint8_t *p, size_t n) {
    if (n && memchr(p, 0, n))
        return NULL;
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* ---- Writing the answer ------------------------------------------------------------- */

/* Allocations in the guest's memory for one answer. After a failure every further
 * put does nothing; the caller frees what it holds and calls out_finish, which raises
 * the failure. */
typedef struct out {
    weft_guest_t *g;
    int unwind; /* 0: all well; -1: no canonical_abi_realloc; -2: it answered an address
                   out of bounds; else weft_guest_invoke's token */
} out_t;

/* Copies data[0..len) (NULL: zeros) into a fresh allocation of the guest's; its
 * address (0 after a failure). */
static uint32_t put_bytes(out_t *o, const void *data, uint64_t len, uint32_t align) {
    if (o->unwind)
        return 0;
    if (len > UINT32_MAX) {
        o->unwind = -2;
        return 0;
    }
    uint64_t args[4] = {0, 0, align, len}, result[1] = {0};
    int t = weft_guest_invoke(o->g, "canonical_abi_realloc", "iiii:i", args, result);
    if (t) {
        o->unwind = t;
        return 0;
    }
    uint32_t addr = (uint32_t)result[0];
    uint8_t *p = weft_guest_ptr(o->g, addr, len);
    if (!p) {
        o->unwind = -2;
        return 0;
    }
    if (len)
        data ? memcpy(p, data, len) : memset(p, 0, len);
    return addr;
}

static const char *tag_of(weft_guest_t *g) {
    const weft_host_policy_t *p = g->host ? weft_host_policy(g->host) : NULL;
    return p && p->log_tag ? p->log_tag : "guest";
}

/* Raises what stopped the answer, if anything: call after freeing what the call holds. */
static void out_finish(out_t *o) {
    if (!o->unwind)
        return;
    if (o->unwind == -1) {
        weft_log("%s: the module exports no canonical_abi_realloc of type (func (param i32 i32 "
                 "i32 i32) (result i32)): a Spin 1 host interface cannot answer it",
                 tag_of(o->g));
        wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
    }
    if (o->unwind == -2) {
        weft_log("%s: canonical_abi_realloc answered an address out of memory bounds",
                 tag_of(o->g));
        wasm_rt_trap(WASM_RT_TRAP_OOB);
    }
    weft_guest_unwind(o->unwind);
}

/* The return area of ret (size bytes), checked: call before anything is allocated. */
static void ret_check(weft_guest_t *g, uint32_t ret, uint32_t size) {
    region(g, ret, 1, size);
}

/* The return area again after allocations (the memory may have grown, never shrunk:
 * ret_check's check still holds, and the trap here cannot happen). */
static uint8_t *ret_at(weft_guest_t *g, uint32_t ret, uint32_t size) {
    return region(g, ret, 1, size);
}

/* Writes an error variant's string answer: tag u8 @0 = 1, case u8 @4, string @8. */
static void put_error(out_t *o, uint32_t ret, uint8_t which, const char *text) {
    uint32_t len = (uint32_t)strlen(text);
    uint32_t addr = put_bytes(o, text, len, 1);
    if (o->unwind)
        return;
    uint8_t *r = ret_at(o->g, ret, 16);
    memset(r, 0, 16);
    r[0] = 1;
    r[4] = which;
    set_u32(r + 8, addr);
    set_u32(r + 12, len);
}

/* ---- spin-config -------------------------------------------------------------------- */

/* Spin's rule for a key: lower-case ASCII letters, digits and '_', starting with a
 * letter, ending with a letter or a digit, no "__". NULL when key is one; else why not
 * (static). */
static const char *config_key_problem(const char *key, size_t len, char *bad) {
    if (!len)
        return "must not be empty";
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            *bad = c;
            return NULL;
        }
    }
    if (!(key[0] >= 'a' && key[0] <= 'z'))
        return "must start with a lowercase ASCII letter";
    if (key[len - 1] == '_')
        return "must end with a lowercase ASCII letter or digit";
    if (strstr(key, "__"))
        return "must not contain multiple consecutive underscores";
    return NULL;
}

void Z_spinZ2DconfigZ_getZ2Dconfig(weft_guest_t *g, uint32_t key, uint32_t key_len, uint32_t ret) {
    const uint8_t *k = region(g, key, key_len, 1);
    ret_check(g, ret, 16);
    const weft_host_policy_t *p = g->host ? weft_host_policy(g->host) : NULL;
    out_t o = {.g = g};
    char text[SPIN_MAX_CONFIG_KEY + 256];
    size_t n = key_len < SPIN_MAX_CONFIG_KEY ? key_len : SPIN_MAX_CONFIG_KEY;
    char shown[SPIN_MAX_CONFIG_KEY + 1];
    for (size_t i = 0; i < n; i++) /* the key as the messages show it */
        shown[i] = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' ? (char)k[i] : '?';
    shown[n] = 0;
    char bad = 0;
    const char *why = key_len > SPIN_MAX_CONFIG_KEY ? "is too long"
                                                    : config_key_problem((const char *)k, n, &bad);
    if (bad) {
        snprintf(text, sizeof text,
                 "\"%s\": invalid character '%c'. Config key names may contain only lower-case "
                 "letters, numbers, and underscores.",
                 shown, bad >= 0x20 && bad < 0x7f ? bad : '?');
        put_error(&o, ret, SPIN_CONFIG_INVALID_KEY, text);
    } else if (why) {
        snprintf(text, sizeof text, "\"%s\": %s", shown, why);
        put_error(&o, ret, SPIN_CONFIG_INVALID_KEY, text);
    } else {
        const char *value = NULL;
        for (size_t i = 0; p && i < p->nconfig && !value; i++)
            if (strlen(p->config_names[i]) == n && !memcmp(p->config_names[i], k, n))
                value = p->config_values[i];
        if (!value) {
            snprintf(text, sizeof text, "unknown config path: %s.%s",
                     p && p->function ? p->function : "component", shown);
            put_error(&o, ret, SPIN_CONFIG_OTHER, text);
        } else {
            uint32_t len = (uint32_t)strlen(value);
            uint32_t addr = put_bytes(&o, value, len, 1);
            if (!o.unwind) {
                uint8_t *r = ret_at(g, ret, 16);
                memset(r, 0, 16);
                set_u32(r + 4, addr);
                set_u32(r + 8, len);
            }
        }
    }
    out_finish(&o);
}

/* ---- wasi-outbound-http ------------------------------------------------------------- */

static bool is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Appends the guest's headers list (n tuples at list) to block as "name:value\n"
 * lines. A name that is not a token or a value with a line break or NUL in it: false
 * (the request is not made). Out-of-bounds strings trap. */
static bool headers_block(weft_guest_t *g, uint32_t list, uint32_t n, weft_buf_t *block,
                          bool *oom) {
    const uint8_t *tuples = region(g, list, n, 16);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *t = tuples + 16u * i;
        uint32_t nl = get_u32(t + 4), vl = get_u32(t + 12);
        const uint8_t *name = region(g, get_u32(t), nl, 1);
        const uint8_t *value = region(g, get_u32(t + 8), vl, 1);
        if (!nl)
            return false;
        for (uint32_t k = 0; k < nl; k++)
            if (!is_tchar(name[k]))
                return false;
        for (uint32_t k = 0; k < vl; k++)
            if (value[k] == '\r' || value[k] == '\n' || value[k] == 0)
                return false;
        if (block->len + nl + vl + 2 > WEFT_HTTP_MAX_HEADER_BYTES)
            return false;
        if (weft_buf_append(block, name, nl) || weft_buf_append(block, ":", 1) ||
            weft_buf_append(block, value, vl) || weft_buf_append(block, "\n", 1)) {
            *oom = true;
            return false;
        }
    }
    return true;
}

static uint8_t http_error(uint32_t code) {
    switch (code) {
    case WEFT_HTTP_DESTINATION_NOT_ALLOWED:
        return SPIN_HTTP_DESTINATION_NOT_ALLOWED;
    case WEFT_HTTP_INVALID_URL:
        return SPIN_HTTP_INVALID_URL;
    case WEFT_HTTP_REQUEST_ERROR:
    case WEFT_HTTP_INVALID_ENCODING:
    case WEFT_HTTP_INVALID_METHOD:
        return SPIN_HTTP_REQUEST_ERROR;
    default:
        return SPIN_HTTP_RUNTIME_ERROR;
    }
}

/* Writes the response's headers ("name:value\n" lines) as a list of tuples; its
 * address and length in *addr and *count. */
static void put_headers(out_t *o, const weft_buf_t *rh, uint32_t *addr, uint32_t *count) {
    const char *p = (const char *)rh->data, *end = p + rh->len;
    uint32_t n = 0;
    for (const char *q = p; q < end; q++)
        n += *q == '\n';
    *count = n;
    *addr = put_bytes(o, NULL, 16ull * n, 4);
    for (uint32_t i = 0; i < n && !o->unwind; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(nl - p));
        uint32_t name_len = (uint32_t)(colon - p), value_len = (uint32_t)(nl - colon - 1);
        uint32_t name = put_bytes(o, p, name_len, 1);
        uint32_t value = put_bytes(o, colon + 1, value_len, 1);
        if (o->unwind)
            return;
        uint8_t *t = weft_guest_ptr(o->g, *addr + 16u * i, 16);
        set_u32(t, name);
        set_u32(t + 4, name_len);
        set_u32(t + 8, value);
        set_u32(t + 12, value_len);
        p = nl + 1;
    }
}

void Z_wasiZ2DoutboundZ2DhttpZ_request(weft_guest_t *g, uint32_t method, uint32_t uri,
                                       uint32_t uri_len, uint32_t headers, uint32_t headers_len,
                                       uint32_t params, uint32_t params_len, uint32_t body_is_some,
                                       uint32_t body, uint32_t body_len, uint32_t ret) {
    if (method >= sizeof methods / sizeof methods[0])
        wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE); /* not a method: the ABI is broken */
    const uint8_t *u = region(g, uri, uri_len, 1);
    region(g, params, params_len, 16); /* Spin 1 sends no params; read, not used */
    const uint8_t *b = body_is_some ? region(g, body, body_len, 1) : NULL;
    ret_check(g, ret, 32);
    weft_buf_t block = {0}, rh = {0}, rb = {0};
    bool oom = false;
    uint32_t code = WEFT_HTTP_SUCCESS;
    uint16_t status = 0;
    char *url = NULL;
    if (headers_len > SPIN_MAX_HEADERS || !headers_block(g, headers, headers_len, &block, &oom))
        code = oom ? WEFT_HTTP_RUNTIME_ERROR : WEFT_HTTP_REQUEST_ERROR;
    else if (uri_len > WEFT_HTTP_MAX_URL_BYTES || !weft_utf8_valid(u, uri_len) ||
             !(url = copy_str(u, uri_len)))
        code = WEFT_HTTP_INVALID_URL;
    else
        code = weft_http_send(g->host, methods[method], url,
                              block.data ? (const char *)block.data : "", block.len, b, body_len,
                              body_is_some != 0, &status, &rh, &rb);
    free(url);
    weft_buf_free(&block);
    out_t o = {.g = g};
    if (code) {
        uint8_t *r = ret_at(g, ret, 32);
        memset(r, 0, 32);
        r[0] = 1;
        r[4] = http_error(code);
    } else {
        /* As Spin 1 answers: headers and body always present, even when empty. */
        uint32_t hl, hn;
        put_headers(&o, &rh, &hl, &hn);
        uint32_t body_addr = put_bytes(&o, rb.data, rb.len, 1);
        if (!o.unwind) {
            uint8_t *r = ret_at(g, ret, 32);
            memset(r, 0, 32);
            memcpy(r + 4, &status, 2);
            r[8] = 1;
            set_u32(r + 12, hl);
            set_u32(r + 16, hn);
            r[20] = 1;
            set_u32(r + 24, body_addr);
            set_u32(r + 28, (uint32_t)rb.len);
        }
    }
    weft_buf_free(&rh);
    weft_buf_free(&rb);
    out_finish(&o);
}

/* ---- key-value ---------------------------------------------------------------------- */

/* Writes the answer of a failed call: the weft module's code as Spin's error (io with
 * the text for what Spin has no case for). open: TOO_LARGE is the handle table. */
static void kv_fail(out_t *o, uint32_t ret, uint32_t code, bool open) {
    uint8_t which = code == WEFT_API_ACCESS_DENIED              ? SPIN_KV_ACCESS_DENIED
                    : code == WEFT_API_NOT_FOUND                ? SPIN_KV_NO_SUCH_KEY
                    : code == WEFT_API_INVALID_HANDLE           ? SPIN_KV_INVALID_STORE
                    : open && code == WEFT_API_TOO_LARGE        ? SPIN_KV_STORE_TABLE_FULL
                    : open && code == WEFT_API_INVALID_ARGUMENT ? SPIN_KV_NO_SUCH_STORE
                                                                : SPIN_KV_IO;
    if (which == SPIN_KV_IO) {
        const char *text = weft_api_error_text(o->g);
        put_error(o, ret, which, text[0] ? text : "store unavailable");
        return;
    }
    uint8_t *r = ret_at(o->g, ret, 16);
    memset(r, 0, 16);
    r[0] = 1;
    r[4] = which;
}

/* An answer without payload, or with a u32 / u8 one at @4. */
static void kv_ok(weft_guest_t *g, uint32_t ret, uint32_t value) {
    uint8_t *r = ret_at(g, ret, 16);
    memset(r, 0, 16);
    set_u32(r + 4, value);
}

/* The key as a host string: NULL (with the io answer written) when it is not one. */
/* The key at k as a C string in buf, or false (the error answered at ret). It lives on
 * the caller's stack: a store call may stop the guest (a write in a trial, the weft
 * module's rule), and nothing is then held across it. */
static bool kv_key(out_t *o, uint32_t ret, const uint8_t *k, uint32_t len,
                   char buf[WEFT_KV_MAX_KEY + 1]) {
    if (len > WEFT_KV_MAX_KEY || memchr(k, 0, len)) {
        put_error(o, ret, SPIN_KV_IO,
                  len > WEFT_KV_MAX_KEY ? "key: longer than weft's stores allow (4096 bytes)"
                                        : "key: holds a NUL byte");
        return false;
    }
    memcpy(buf, k, len);
    buf[len] = 0;
    return true;
}

void Z_keyZ2DvalueZ_open(weft_guest_t *g, uint32_t name, uint32_t name_len, uint32_t ret) {
    const uint8_t *n = region(g, name, name_len, 1);
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    char *s = name_len <= WEFT_STORE_MAX_NAME ? copy_str(n, name_len) : NULL;
    uint32_t handle = 0;
    uint32_t code = s ? weft_api_kv_open_name(g, s, &handle) : WEFT_API_INVALID_ARGUMENT;
    free(s);
    if (code)
        kv_fail(&o, ret, code, true);
    else
        kv_ok(g, ret, handle);
    out_finish(&o);
}

void Z_keyZ2DvalueZ_get(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                        uint32_t ret) {
    const uint8_t *k = region(g, key, key_len, 1);
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    char s[WEFT_KV_MAX_KEY + 1];
    if (kv_key(&o, ret, k, key_len, s)) {
        uint8_t *value = NULL;
        size_t len = 0;
        uint32_t code = weft_api_kv_get_value(g, store, s, &value, &len);
        if (code) {
            kv_fail(&o, ret, code, false);
        } else {
            uint32_t addr = put_bytes(&o, value, len, 1);
            if (!o.unwind) {
                kv_ok(g, ret, addr);
                set_u32(ret_at(g, ret, 16) + 8, (uint32_t)len);
            }
        }
        free(value);
    }
    out_finish(&o);
}

void Z_keyZ2DvalueZ_set(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                        uint32_t value, uint32_t value_len, uint32_t ret) {
    const uint8_t *k = region(g, key, key_len, 1);
    const uint8_t *v = region(g, value, value_len, 1);
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    char s[WEFT_KV_MAX_KEY + 1];
    if (kv_key(&o, ret, k, key_len, s)) {
        uint32_t code = weft_api_kv_set_value(g, store, s, v, value_len);
        if (code)
            kv_fail(&o, ret, code, false);
        else
            kv_ok(g, ret, 0);
    }
    out_finish(&o);
}

void Z_keyZ2DvalueZ_delete(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                           uint32_t ret) {
    const uint8_t *k = region(g, key, key_len, 1);
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    char s[WEFT_KV_MAX_KEY + 1];
    if (kv_key(&o, ret, k, key_len, s)) {
        /* Spin: deleting a key that is not there is no error (the weft module agrees). */
        uint32_t code = weft_api_kv_delete_key(g, store, s);
        if (code)
            kv_fail(&o, ret, code, false);
        else
            kv_ok(g, ret, 0);
    }
    out_finish(&o);
}

void Z_keyZ2DvalueZ_exists(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                           uint32_t ret) {
    const uint8_t *k = region(g, key, key_len, 1);
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    char s[WEFT_KV_MAX_KEY + 1];
    if (kv_key(&o, ret, k, key_len, s)) {
        bool exists = false;
        uint32_t code = weft_api_kv_exists_key(g, store, s, &exists);
        if (code)
            kv_fail(&o, ret, code, false);
        else
            kv_ok(g, ret, exists);
    }
    out_finish(&o);
}

void Z_keyZ2DvalueZ_getZ2Dkeys(weft_guest_t *g, uint32_t store, uint32_t ret) {
    ret_check(g, ret, 16);
    out_t o = {.g = g};
    weft_store_names_t keys = {0};
    uint32_t code = weft_api_kv_keys(g, store, WEFT_SPIN_KV_MAX_KEYS, &keys);
    if (code) {
        kv_fail(&o, ret, code, false);
    } else {
        uint32_t list = put_bytes(&o, NULL, 8ull * keys.n, 4);
        for (size_t i = 0; i < keys.n && !o.unwind; i++) {
            uint32_t len = (uint32_t)strlen(keys.names[i]);
            uint32_t addr = put_bytes(&o, keys.names[i], len, 1);
            if (o.unwind)
                break;
            uint8_t *e = weft_guest_ptr(g, list + 8u * (uint32_t)i, 8);
            set_u32(e, addr);
            set_u32(e + 4, len);
        }
        if (!o.unwind) {
            kv_ok(g, ret, list);
            set_u32(ret_at(g, ret, 16) + 8, (uint32_t)keys.n);
        }
    }
    weft_store_names_free(&keys);
    out_finish(&o);
}

void Z_keyZ2DvalueZ_close(weft_guest_t *g, uint32_t store) {
    weft_api_kv_close(g, store); /* Spin: closing what is not open is no error */
}
