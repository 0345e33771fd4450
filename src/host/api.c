/* api: the services as guests call them, the import module "weft" (host.h, "The guest
 * API of the services"; sdk/weft.h documents each call for guests).
 *
 * Every call goes the same way: check what the guest passed (each pointer and length
 * against its memory, each name against the store's rules), check the name against the
 * function's grants, open the store if this is its first use, call the store, and map
 * the store's error to a WEFT_API_* code, keeping its text for last_error. Nothing is
 * written to guest memory before every output pointer has been checked, and nothing a
 * failed call computed is written at all (but the size a too-small buffer needed).
 *
 * Handles (stores, blob writers, blob readers) live in one small table per invocation,
 * numbered from 1 and never reused within it, so a stale handle is INVALID_HANDLE rather
 * than another object. What the guest leaves open is closed when the invocation ends;
 * a blob writer not committed is aborted, so the blob never appears.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Bytes of last_error's text kept. */
#define API_MAX_ERROR 1024u
/* Largest buffer a list or query page is built in before it is copied out. */
#define API_LIST_PAGE 256u

typedef enum { H_NONE, H_KV, H_WRITER, H_READER } handle_kind_t;

typedef struct handle {
    uint32_t id;
    handle_kind_t kind;
    void *p; /* weft_kv_store_t, weft_blob_writer_t or weft_blob_reader_t */
} handle_t;

struct weft_api_state {
    handle_t handles[WEFT_API_MAX_HANDLES];
    uint32_t next_id;
    char error[API_MAX_ERROR];
};

static const weft_import_def_t imports[] = {
#define WEFT_API_IMPORT_(name, sig, params) {"weft", #name, sig},
    WEFT_API_FUNCTIONS(WEFT_API_IMPORT_)
#undef WEFT_API_IMPORT_
/* Spin 1's interfaces (spin.c) come with the services: its key-value is theirs. */
#define WEFT_SPIN_IMPORT_(module, name, mangled, sig, params) {module, name, sig},
        WEFT_SPIN_FUNCTIONS(WEFT_SPIN_IMPORT_)
#undef WEFT_SPIN_IMPORT_
};

const weft_import_def_t *weft_api_imports(size_t *n) {
    *n = sizeof imports / sizeof imports[0];
    return imports;
}

/* Ends what h holds (a writer not committed is aborted) and frees its slot. */
static void handle_release(handle_t *h) {
    if (h->kind == H_WRITER)
        weft_blob_writer_abort(h->p);
    else if (h->kind == H_READER)
        weft_blob_reader_close(h->p);
    *h = (handle_t){0};
}

void weft_api_state_free(weft_api_state_t *a) {
    if (!a)
        return;
    for (size_t i = 0; i < WEFT_API_MAX_HANDLES; i++)
        handle_release(&a->handles[i]);
    free(a);
}

/* ---- the call's context ------------------------------------------------------------- */

typedef struct call {
    weft_guest_t *g;
    weft_host_t *host;
    const weft_host_policy_t *policy;
    weft_api_state_t *a;
} call_t;

static uint32_t fail(call_t *c, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint32_t fail(call_t *c, uint32_t code, const char *fmt, ...) {
    if (c->a) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->a->error, sizeof c->a->error, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Sets up c for a call; a non-zero return is the call's answer. */
static uint32_t begin(call_t *c, weft_guest_t *g) {
    *c = (call_t){.g = g, .host = g->host};
    if (!c->host)
        return WEFT_API_UNAVAILABLE;
    c->policy = weft_host_policy(c->host);
    if (!c->policy)
        return WEFT_API_UNAVAILABLE;
    weft_api_state_t **slot = weft_host_api_state(c->host);
    if (!*slot) {
        if (!(*slot = calloc(1, sizeof **slot)))
            return WEFT_API_UNAVAILABLE;
        (*slot)->next_id = 1;
    }
    c->a = *slot;
    c->a->error[0] = 0;
    if (!g->memory)
        return fail(c, WEFT_API_INVALID_ARGUMENT, "the module exports no memory");
    return WEFT_API_OK;
}

/* In a trial (weft_host_trial), the guest is stopped before it writes: the call is made
 * again where it may (its deadline's trap, which the trial's caller reads as "try again
 * elsewhere"). Called before the call holds anything. */
static void before_write(call_t *c) {
    if (weft_host_trial_write(c->host))
        wasm_rt_trap(WASM_RT_TRAP_DEADLINE);
}

/* The store's error as the guest's code, its text kept for last_error. */
static uint32_t store_fail(call_t *c, int rc, const weft_error_t *err) {
    uint32_t code = rc == WEFT_ENOTFOUND   ? WEFT_API_NOT_FOUND
                    : rc == WEFT_EINVAL    ? WEFT_API_INVALID_ARGUMENT
                    : rc == WEFT_ELIMIT    ? WEFT_API_TOO_LARGE
                    : rc == WEFT_ECONFLICT ? WEFT_API_CONFLICT
                                           : WEFT_API_UNAVAILABLE;
    return fail(c, code, "%s", err->msg[0] ? err->msg : weft_err_text(rc));
}

/* Copies the guest string [ptr, ptr+len) into out (cap bytes, NUL-terminated); what
 * names it in messages. A string with a NUL in it, longer than cap-1 bytes, or outside
 * memory is INVALID_ARGUMENT. */
static uint32_t guest_str(call_t *c, uint32_t ptr, uint32_t len, char *out, size_t cap,
                          const char *what) {
    const char *p = weft_guest_ptr(c->g, ptr, len);
    if (!p)
        return fail(c, WEFT_API_INVALID_ARGUMENT, "%s: %u bytes at %u lie outside memory", what,
                    len, ptr);
    if (len >= cap)
        return fail(c, WEFT_API_INVALID_ARGUMENT, "%s: %u bytes, more than the %zu allowed", what,
                    len, cap - 1);
    if (len && memchr(p, 0, len))
        return fail(c, WEFT_API_INVALID_ARGUMENT, "%s holds a NUL byte", what);
    memcpy(out, p, len);
    out[len] = 0;
    return WEFT_API_OK;
}

/* Checks that an output of size bytes at ptr lies in memory. */
static uint32_t guest_out(call_t *c, uint32_t ptr, uint64_t size, const char *what) {
    if (!weft_guest_check(c->g, ptr, size))
        return fail(c, WEFT_API_INVALID_ARGUMENT, "%s: %llu bytes at %u lie outside memory", what,
                    (unsigned long long)size, ptr);
    return WEFT_API_OK;
}

static void put_u32(call_t *c, uint32_t ptr, uint32_t v) {
    memcpy(weft_guest_ptr(c->g, ptr, 4), &v, 4);
}

static void put_u64(call_t *c, uint32_t ptr, uint64_t v) {
    memcpy(weft_guest_ptr(c->g, ptr, 8), &v, 8);
}

/* name as a log line may show it: cut short, anything unprintable as '?', so that a
 * guest cannot forge log lines. */
static void visible(char *out, size_t size, const char *name) {
    size_t i;
    for (i = 0; name[i] && i + 4 < size; i++)
        out[i] = (unsigned char)name[i] < ' ' || name[i] == 0x7f ? '?' : name[i];
    if (name[i])
        memcpy(out + i, "...", 4);
    else
        out[i] = 0;
}

/* Is name in the list the function was granted? If not: ACCESS_DENIED, logged. */
static uint32_t granted(call_t *c, const char *const *list, size_t n, const char *kind,
                        const char *key, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], name))
            return WEFT_API_OK;
    const char *fn = c->policy && c->policy->function ? c->policy->function : "?";
    char shown[160];
    visible(shown, sizeof shown, name);
    weft_log("function %s: access denied: %s '%s' is not granted to it (%s in weft.toml)", fn, kind,
             shown, key);
    return fail(c, WEFT_API_ACCESS_DENIED,
                "%s '%s' is not granted to function '%s' (add it to %s in weft.toml)", kind, shown,
                fn, key);
}

static weft_services_t *services(call_t *c) {
    return c->policy ? c->policy->services : NULL;
}

static uint32_t no_services(call_t *c) {
    return fail(c, WEFT_API_UNAVAILABLE,
                "this run has no stores (the services are offered by weft up)");
}

/* ---- handles ------------------------------------------------------------------------ */

static uint32_t handle_add(call_t *c, handle_kind_t kind, void *p, uint32_t *id) {
    for (size_t i = 0; i < WEFT_API_MAX_HANDLES; i++) {
        handle_t *h = &c->a->handles[i];
        if (h->kind == H_NONE) {
            *h = (handle_t){.id = c->a->next_id++, .kind = kind, .p = p};
            *id = h->id;
            return WEFT_API_OK;
        }
    }
    return fail(c, WEFT_API_TOO_LARGE,
                "%u handles are open already: close blob readers and writers first",
                WEFT_API_MAX_HANDLES);
}

static handle_t *handle_find(call_t *c, uint32_t id, handle_kind_t kind) {
    for (size_t i = 0; id && i < WEFT_API_MAX_HANDLES; i++) {
        handle_t *h = &c->a->handles[i];
        if (h->id == id && h->kind == kind)
            return h;
    }
    return NULL;
}

/* Sets up c for a call on handle id of kind: the handle, or NULL with *rc the answer. */
static handle_t *handle_begin(call_t *c, weft_guest_t *g, uint32_t id, handle_kind_t kind,
                              uint32_t *rc) {
    static const char *const what[] = {"", "key-value store", "blob writer", "blob reader"};
    if ((*rc = begin(c, g)))
        return NULL;
    handle_t *h = handle_find(c, id, kind);
    if (!h)
        *rc = fail(c, WEFT_API_INVALID_HANDLE, "%u is no open %s", id, what[kind]);
    return h;
}

/* A get's answer: the store's failure, or data (malloc'd, freed here) copied into the
 * guest's buffer with its length; a buffer too small gets only the length. */
static uint32_t value_out(call_t *c, int src, const weft_error_t *err, void *data, size_t len,
                          uint32_t buf, uint32_t buf_len, uint32_t len_ptr, const char *what) {
    if (src)
        return store_fail(c, src, err);
    put_u32(c, len_ptr, (uint32_t)len);
    uint32_t rc = WEFT_API_OK;
    if (len > buf_len)
        rc = fail(c, WEFT_API_BUFFER_TOO_SMALL, "the %s has %zu bytes; the buffer %u", what, len,
                  buf_len);
    else if (len)
        memcpy(weft_guest_ptr(c->g, buf, len), data, len);
    free(data);
    return rc;
}

/* ---- last_error ----------------------------------------------------------------------- */

uint32_t Z_weftZ_last_error(weft_guest_t *g, uint32_t buf, uint32_t buf_len, uint32_t written) {
    call_t c = {.g = g, .host = g->host};
    if (!c.host)
        return WEFT_API_UNAVAILABLE;
    weft_api_state_t *a = *weft_host_api_state(c.host);
    const char *text = a ? a->error : "";
    size_t n = strlen(text);
    if (n > buf_len)
        n = buf_len;
    if (!weft_guest_check(g, buf, buf_len) || !weft_guest_check(g, written, 4))
        return WEFT_API_INVALID_ARGUMENT;
    memcpy(weft_guest_ptr(g, buf, n), text, n);
    uint32_t w = (uint32_t)n;
    memcpy(weft_guest_ptr(g, written, 4), &w, 4);
    return WEFT_API_OK;
}

/* ---- key-value ---------------------------------------------------------------------- */

/* Opens store n for the call c has begun; its handle in *id. */
static uint32_t kv_open(call_t *c, const char *n, uint32_t *id) {
    uint32_t rc = granted(c, c->policy->grants.kv, c->policy->grants.nkv, "key-value store",
                          "key_value_stores", n);
    if (rc)
        return rc;
    if (!services(c))
        return no_services(c);
    weft_error_t err = {0};
    weft_kv_t *kv;
    weft_kv_store_t *st;
    int src = weft_services_kv(services(c), &kv, &err);
    if (src || (src = weft_kv_store(kv, n, &st, &err)))
        return store_fail(c, src, &err);
    /* The same store opened twice shares one handle. */
    for (size_t i = 0; i < WEFT_API_MAX_HANDLES; i++)
        if (c->a->handles[i].kind == H_KV && c->a->handles[i].p == st) {
            *id = c->a->handles[i].id;
            return WEFT_API_OK;
        }
    return handle_add(c, H_KV, st, id);
}

uint32_t Z_weftZ_kv_open(weft_guest_t *g, uint32_t name, uint32_t name_len, uint32_t handle_ptr) {
    call_t c;
    char n[WEFT_STORE_MAX_NAME + 1];
    uint32_t id, rc = begin(&c, g);
    if (rc || (rc = guest_str(&c, name, name_len, n, sizeof n, "store name")) ||
        (rc = guest_out(&c, handle_ptr, 4, "handle")) || (rc = kv_open(&c, n, &id)))
        return rc;
    put_u32(&c, handle_ptr, id);
    return WEFT_API_OK;
}

/* The store of handle id, and the key as a C string. */
static uint32_t kv_begin(call_t *c, weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                         char *k, weft_kv_store_t **st) {
    uint32_t rc;
    handle_t *h = handle_begin(c, g, store, H_KV, &rc);
    *st = h ? h->p : NULL;
    if (!h)
        return rc;
    return guest_str(c, key, key_len, k, WEFT_KV_MAX_KEY + 1, "key");
}

/* The store calls themselves, for the weft module and Spin's key-value alike. A set's
 * caller has passed before_write (before it read the value). */
static uint32_t kv_do_set(call_t *c, weft_kv_store_t *st, const char *k, const void *v, size_t len,
                          uint64_t ttl_ms) {
    weft_kv_set_options_t o = {.ttl_ms = (int64_t)ttl_ms};
    weft_error_t err = {0};
    int src = weft_kv_set(st, k, v, len, &o, NULL, &err);
    return src ? store_fail(c, src, &err) : WEFT_API_OK;
}

static uint32_t kv_do_delete(call_t *c, weft_kv_store_t *st, const char *k) {
    before_write(c);
    weft_error_t err = {0};
    int src = weft_kv_delete(st, k, 0, &err);
    /* Spin: deleting a key that is not there is no error. */
    return src && src != WEFT_ENOTFOUND ? store_fail(c, src, &err) : WEFT_API_OK;
}

static uint32_t kv_do_exists(call_t *c, weft_kv_store_t *st, const char *k, bool *exists) {
    weft_error_t err = {0};
    int src = weft_kv_exists(st, k, &err);
    if (src && src != WEFT_ENOTFOUND)
        return store_fail(c, src, &err);
    *exists = src == 0;
    return WEFT_API_OK;
}

uint32_t Z_weftZ_kv_get(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                        uint32_t buf, uint32_t buf_len, uint32_t len_ptr) {
    call_t c;
    weft_kv_store_t *st;
    char k[WEFT_KV_MAX_KEY + 1];
    uint32_t rc = kv_begin(&c, g, store, key, key_len, k, &st);
    if (rc || (rc = guest_out(&c, buf, buf_len, "buffer")) ||
        (rc = guest_out(&c, len_ptr, 4, "length")))
        return rc;
    weft_error_t err = {0};
    uint8_t *value = NULL;
    size_t len = 0;
    int src = weft_kv_get(st, k, &value, &len, NULL, &err);
    return value_out(&c, src, &err, value, len, buf, buf_len, len_ptr, "value");
}

uint32_t Z_weftZ_kv_set(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                        uint32_t value, uint32_t value_len, uint64_t ttl_ms) {
    call_t c;
    weft_kv_store_t *st;
    char k[WEFT_KV_MAX_KEY + 1];
    uint32_t rc = kv_begin(&c, g, store, key, key_len, k, &st);
    if (rc)
        return rc;
    before_write(&c);
    const void *v = weft_guest_ptr(g, value, value_len);
    if (!v)
        return fail(&c, WEFT_API_INVALID_ARGUMENT, "value: %u bytes at %u lie outside memory",
                    value_len, value);
    if (ttl_ms > (uint64_t)INT64_MAX / 2)
        return fail(&c, WEFT_API_INVALID_ARGUMENT, "time to live %llu ms is too long",
                    (unsigned long long)ttl_ms);
    return kv_do_set(&c, st, k, v, value_len, ttl_ms);
}

uint32_t Z_weftZ_kv_delete(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len) {
    call_t c;
    weft_kv_store_t *st;
    char k[WEFT_KV_MAX_KEY + 1];
    uint32_t rc = kv_begin(&c, g, store, key, key_len, k, &st);
    return rc ? rc : kv_do_delete(&c, st, k);
}

uint32_t Z_weftZ_kv_exists(weft_guest_t *g, uint32_t store, uint32_t key, uint32_t key_len,
                           uint32_t exists_ptr) {
    call_t c;
    weft_kv_store_t *st;
    char k[WEFT_KV_MAX_KEY + 1];
    bool exists;
    uint32_t rc = kv_begin(&c, g, store, key, key_len, k, &st);
    if (rc || (rc = guest_out(&c, exists_ptr, 4, "result")) ||
        (rc = kv_do_exists(&c, st, k, &exists)))
        return rc;
    put_u32(&c, exists_ptr, exists);
    return WEFT_API_OK;
}

/* Writes names[0..n) into the guest's buffer, each followed by a NUL, as many as fit; *more
 * is set when some did not fit or the store has more. */
static uint32_t write_names(call_t *c, char *const *names, size_t n, bool more, uint32_t buf,
                            uint32_t buf_len, uint32_t written_ptr, uint32_t more_ptr) {
    uint8_t *out = weft_guest_ptr(c->g, buf, buf_len);
    size_t w = 0, i;
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]) + 1;
        if (len > buf_len - w)
            break;
        memcpy(out + w, names[i], len);
        w += len;
    }
    if (i == 0 && n > 0) {
        put_u32(c, written_ptr, (uint32_t)(strlen(names[0]) + 1));
        return fail(c, WEFT_API_BUFFER_TOO_SMALL,
                    "the next name needs %zu bytes; the buffer has %u", strlen(names[0]) + 1,
                    buf_len);
    }
    put_u32(c, written_ptr, (uint32_t)w);
    put_u32(c, more_ptr, more || i < n);
    return WEFT_API_OK;
}

/* A list call's answer: the store's failure, or its page written out (and freed). */
static uint32_t names_out(call_t *c, int src, const weft_error_t *err, weft_store_names_t *page,
                          uint32_t buf, uint32_t buf_len, uint32_t written_ptr, uint32_t more_ptr) {
    if (src)
        return store_fail(c, src, err);
    uint32_t rc =
        write_names(c, page->names, page->n, page->more, buf, buf_len, written_ptr, more_ptr);
    weft_store_names_free(page);
    return rc;
}

/* The outputs of a list call, checked. */
static uint32_t list_outputs(call_t *c, uint32_t buf, uint32_t buf_len, uint32_t written_ptr,
                             uint32_t more_ptr) {
    uint32_t rc;
    if ((rc = guest_out(c, buf, buf_len, "buffer")) ||
        (rc = guest_out(c, written_ptr, 4, "written")) || (rc = guest_out(c, more_ptr, 4, "more")))
        return rc;
    return WEFT_API_OK;
}

uint32_t Z_weftZ_kv_list(weft_guest_t *g, uint32_t store, uint32_t prefix, uint32_t prefix_len,
                         uint32_t after, uint32_t after_len, uint32_t buf, uint32_t buf_len,
                         uint32_t written_ptr, uint32_t more_ptr) {
    call_t c;
    weft_kv_store_t *st;
    char p[WEFT_KV_MAX_KEY + 1], a[WEFT_KV_MAX_KEY + 1];
    uint32_t rc = kv_begin(&c, g, store, prefix, prefix_len, p, &st);
    if (rc || (rc = guest_str(&c, after, after_len, a, sizeof a, "after")) ||
        (rc = list_outputs(&c, buf, buf_len, written_ptr, more_ptr)))
        return rc;
    weft_error_t err = {0};
    weft_store_names_t page = {0};
    int src = weft_kv_list(st, p, a, API_LIST_PAGE, &page, &err);
    return names_out(&c, src, &err, &page, buf, buf_len, written_ptr, more_ptr);
}

/* ---- key-value on host strings (Spin's key-value interface, spin.c) ------------------ */

static uint32_t handle_close(weft_guest_t *g, uint32_t id, handle_kind_t kind);

/* The store of handle id, for a call on a key the caller has copied (begin, handle). */
static uint32_t kv_handle(call_t *c, weft_guest_t *g, uint32_t store, const char *key,
                          weft_kv_store_t **st) {
    uint32_t rc;
    handle_t *h = handle_begin(c, g, store, H_KV, &rc);
    *st = h ? h->p : NULL;
    if (h && strlen(key) > WEFT_KV_MAX_KEY)
        return fail(c, WEFT_API_INVALID_ARGUMENT, "key: more than the %u bytes allowed",
                    WEFT_KV_MAX_KEY);
    return h ? WEFT_API_OK : rc;
}

uint32_t weft_api_kv_open_name(weft_guest_t *g, const char *name, uint32_t *handle) {
    call_t c;
    uint32_t rc = begin(&c, g);
    if (!rc && strlen(name) > WEFT_STORE_MAX_NAME)
        rc = fail(&c, WEFT_API_INVALID_ARGUMENT, "store name: more than the %u bytes allowed",
                  WEFT_STORE_MAX_NAME);
    return rc ? rc : kv_open(&c, name, handle);
}

uint32_t weft_api_kv_get_value(weft_guest_t *g, uint32_t store, const char *key, uint8_t **value,
                               size_t *len) {
    call_t c;
    weft_kv_store_t *st;
    *value = NULL;
    *len = 0;
    uint32_t rc = kv_handle(&c, g, store, key, &st);
    if (rc)
        return rc;
    weft_error_t err = {0};
    int src = weft_kv_get(st, key, value, len, NULL, &err);
    return src ? store_fail(&c, src, &err) : WEFT_API_OK;
}

uint32_t weft_api_kv_set_value(weft_guest_t *g, uint32_t store, const char *key, const void *value,
                               size_t len) {
    call_t c;
    weft_kv_store_t *st;
    uint32_t rc = kv_handle(&c, g, store, key, &st);
    if (rc)
        return rc;
    before_write(&c);
    return kv_do_set(&c, st, key, value, len, 0);
}

uint32_t weft_api_kv_delete_key(weft_guest_t *g, uint32_t store, const char *key) {
    call_t c;
    weft_kv_store_t *st;
    uint32_t rc = kv_handle(&c, g, store, key, &st);
    return rc ? rc : kv_do_delete(&c, st, key);
}

uint32_t weft_api_kv_exists_key(weft_guest_t *g, uint32_t store, const char *key, bool *exists) {
    call_t c;
    weft_kv_store_t *st;
    *exists = false;
    uint32_t rc = kv_handle(&c, g, store, key, &st);
    return rc ? rc : kv_do_exists(&c, st, key, exists);
}

uint32_t weft_api_kv_keys(weft_guest_t *g, uint32_t store, size_t max, weft_store_names_t *all) {
    call_t c;
    weft_kv_store_t *st;
    *all = (weft_store_names_t){0};
    uint32_t rc = kv_handle(&c, g, store, "", &st);
    if (rc)
        return rc;
    weft_error_t err = {0};
    for (;;) {
        weft_store_names_t page = {0};
        const char *after = all->n ? all->names[all->n - 1] : "";
        int src = weft_kv_list(st, "", after, API_LIST_PAGE, &page, &err);
        if (src) {
            weft_store_names_free(all);
            return store_fail(&c, src, &err);
        }
        if (all->n + page.n > max) {
            weft_store_names_free(&page);
            weft_store_names_free(all);
            return fail(&c, WEFT_API_TOO_LARGE, "the store has more than %zu keys", max);
        }
        char **v = realloc(all->names, (all->n + page.n + 1) * sizeof *v);
        if (!v) {
            weft_store_names_free(&page);
            weft_store_names_free(all);
            return fail(&c, WEFT_API_UNAVAILABLE, "out of memory");
        }
        all->names = v;
        memcpy(all->names + all->n, page.names, page.n * sizeof *v);
        all->n += page.n;
        bool more = page.more && page.n;
        free(page.names); /* the names themselves moved to all */
        if (!more)
            return WEFT_API_OK;
    }
}

uint32_t weft_api_kv_close(weft_guest_t *g, uint32_t store) {
    return handle_close(g, store, H_KV);
}

const char *weft_api_error_text(weft_guest_t *g) {
    weft_host_t *h = g->host;
    weft_api_state_t *a = h ? *weft_host_api_state(h) : NULL;
    return a ? a->error : "";
}

/* ---- blobs -------------------------------------------------------------------------- */

/* The blob store, with container and name read and the container checked against the
 * grants. */
static uint32_t blob_begin(call_t *c, weft_guest_t *g, uint32_t container, uint32_t container_len,
                           uint32_t name, uint32_t name_len, char *ct, char *nm, weft_blob_t **b) {
    uint32_t rc = begin(c, g);
    if (rc ||
        (rc = guest_str(c, container, container_len, ct, WEFT_BLOB_MAX_CONTAINER + 1,
                        "container")) ||
        (nm && (rc = guest_str(c, name, name_len, nm, WEFT_BLOB_MAX_NAME + 1, "blob name"))) ||
        (rc = granted(c, c->policy->grants.blob, c->policy->grants.nblob, "blob container",
                      "blob_containers", ct)))
        return rc;
    if (!services(c))
        return no_services(c);
    weft_error_t err = {0};
    int src = weft_services_blob(services(c), b, &err);
    return src ? store_fail(c, src, &err) : WEFT_API_OK;
}

uint32_t Z_weftZ_blob_write_open(weft_guest_t *g, uint32_t container, uint32_t container_len,
                                 uint32_t name, uint32_t name_len, uint32_t type, uint32_t type_len,
                                 uint32_t writer_ptr) {
    call_t c;
    char ct[WEFT_BLOB_MAX_CONTAINER + 1], nm[WEFT_BLOB_MAX_NAME + 1],
        ty[WEFT_BLOB_MAX_CONTENT_TYPE + 1];
    weft_blob_t *b;
    uint32_t rc = blob_begin(&c, g, container, container_len, name, name_len, ct, nm, &b);
    if (rc || (rc = guest_str(&c, type, type_len, ty, sizeof ty, "content type")) ||
        (rc = guest_out(&c, writer_ptr, 4, "writer")))
        return rc;
    before_write(&c);
    weft_error_t err = {0};
    weft_blob_writer_t *w;
    int src = weft_blob_writer_open(b, ct, nm, ty, NULL, &w, &err);
    if (src)
        return store_fail(&c, src, &err);
    uint32_t id;
    if ((rc = handle_add(&c, H_WRITER, w, &id))) {
        weft_blob_writer_abort(w);
        return rc;
    }
    put_u32(&c, writer_ptr, id);
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_write(weft_guest_t *g, uint32_t writer, uint32_t data, uint32_t len) {
    call_t c;
    uint32_t rc;
    handle_t *h = handle_begin(&c, g, writer, H_WRITER, &rc);
    if (!h)
        return rc;
    const void *p = weft_guest_ptr(g, data, len);
    if (!p)
        return fail(&c, WEFT_API_INVALID_ARGUMENT, "data: %u bytes at %u lie outside memory", len,
                    data);
    weft_error_t err = {0};
    int src = weft_blob_write(h->p, p, len, &err);
    if (src) { /* the writer can only be aborted now: it is gone */
        handle_release(h);
        return store_fail(&c, src, &err);
    }
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_write_commit(weft_guest_t *g, uint32_t writer) {
    call_t c;
    uint32_t rc;
    handle_t *h = handle_begin(&c, g, writer, H_WRITER, &rc);
    if (!h)
        return rc;
    weft_blob_writer_t *w = h->p;
    *h = (handle_t){0};
    weft_error_t err = {0};
    int src = weft_blob_writer_commit(w, NULL, &err);
    return src ? store_fail(&c, src, &err) : WEFT_API_OK;
}

/* Closes handle id of kind. */
static uint32_t handle_close(weft_guest_t *g, uint32_t id, handle_kind_t kind) {
    call_t c;
    uint32_t rc;
    handle_t *h = handle_begin(&c, g, id, kind, &rc);
    if (!h)
        return rc;
    handle_release(h);
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_write_abort(weft_guest_t *g, uint32_t writer) {
    return handle_close(g, writer, H_WRITER);
}

uint32_t Z_weftZ_blob_read_open(weft_guest_t *g, uint32_t container, uint32_t container_len,
                                uint32_t name, uint32_t name_len, uint32_t reader_ptr,
                                uint32_t size_ptr) {
    call_t c;
    char ct[WEFT_BLOB_MAX_CONTAINER + 1], nm[WEFT_BLOB_MAX_NAME + 1];
    weft_blob_t *b;
    uint32_t rc = blob_begin(&c, g, container, container_len, name, name_len, ct, nm, &b);
    if (rc || (rc = guest_out(&c, reader_ptr, 4, "reader")) ||
        (rc = guest_out(&c, size_ptr, 8, "size")))
        return rc;
    weft_error_t err = {0};
    weft_blob_reader_t *r;
    weft_blob_meta_t meta;
    int src = weft_blob_reader_open(b, ct, nm, &r, &meta, &err);
    if (src)
        return store_fail(&c, src, &err);
    uint32_t id;
    if ((rc = handle_add(&c, H_READER, r, &id))) {
        weft_blob_reader_close(r);
        return rc;
    }
    put_u32(&c, reader_ptr, id);
    put_u64(&c, size_ptr, meta.size);
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_read(weft_guest_t *g, uint32_t reader, uint64_t offset, uint32_t buf,
                           uint32_t buf_len, uint32_t got_ptr) {
    call_t c;
    uint32_t rc;
    handle_t *h = handle_begin(&c, g, reader, H_READER, &rc);
    if (!h)
        return rc;
    if ((rc = guest_out(&c, buf, buf_len, "buffer")) || (rc = guest_out(&c, got_ptr, 4, "got")))
        return rc;
    weft_error_t err = {0};
    size_t got = 0;
    int src = weft_blob_read(h->p, offset, weft_guest_ptr(g, buf, buf_len), buf_len, &got, &err);
    if (src)
        return store_fail(&c, src, &err);
    put_u32(&c, got_ptr, (uint32_t)got);
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_read_close(weft_guest_t *g, uint32_t reader) {
    return handle_close(g, reader, H_READER);
}

uint32_t Z_weftZ_blob_stat(weft_guest_t *g, uint32_t container, uint32_t container_len,
                           uint32_t name, uint32_t name_len, uint32_t stat_ptr) {
    call_t c;
    char ct[WEFT_BLOB_MAX_CONTAINER + 1], nm[WEFT_BLOB_MAX_NAME + 1];
    weft_blob_t *b;
    uint32_t rc = blob_begin(&c, g, container, container_len, name, name_len, ct, nm, &b);
    if (rc || (rc = guest_out(&c, stat_ptr, WEFT_API_BLOB_STAT_SIZE, "stat")))
        return rc;
    weft_error_t err = {0};
    weft_blob_meta_t m;
    int src = weft_blob_stat(b, ct, nm, &m, &err);
    if (src)
        return store_fail(&c, src, &err);
    uint8_t out[WEFT_API_BLOB_STAT_SIZE] = {0};
    memcpy(out, &m.size, 8);
    memcpy(out + 8, &m.mtime_ms, 8);
    memcpy(out + 16, &m.version, 8);
    memcpy(out + 24, m.sha256, 64);
    size_t tl = strnlen(m.content_type, 255);
    memcpy(out + 89, m.content_type, tl);
    memcpy(weft_guest_ptr(g, stat_ptr, sizeof out), out, sizeof out);
    return WEFT_API_OK;
}

uint32_t Z_weftZ_blob_delete(weft_guest_t *g, uint32_t container, uint32_t container_len,
                             uint32_t name, uint32_t name_len) {
    call_t c;
    char ct[WEFT_BLOB_MAX_CONTAINER + 1], nm[WEFT_BLOB_MAX_NAME + 1];
    weft_blob_t *b;
    uint32_t rc = blob_begin(&c, g, container, container_len, name, name_len, ct, nm, &b);
    if (rc)
        return rc;
    before_write(&c);
    weft_error_t err = {0};
    int src = weft_blob_delete(b, ct, nm, 0, &err);
    return src ? store_fail(&c, src, &err) : WEFT_API_OK;
}

uint32_t Z_weftZ_blob_list(weft_guest_t *g, uint32_t container, uint32_t container_len,
                           uint32_t prefix, uint32_t prefix_len, uint32_t after, uint32_t after_len,
                           uint32_t buf, uint32_t buf_len, uint32_t written_ptr,
                           uint32_t more_ptr) {
    call_t c;
    char ct[WEFT_BLOB_MAX_CONTAINER + 1], p[WEFT_BLOB_MAX_NAME + 1], a[WEFT_BLOB_MAX_NAME + 1];
    weft_blob_t *b;
    uint32_t rc = blob_begin(&c, g, container, container_len, prefix, prefix_len, ct, p, &b);
    if (rc || (rc = guest_str(&c, after, after_len, a, sizeof a, "after")) ||
        (rc = list_outputs(&c, buf, buf_len, written_ptr, more_ptr)))
        return rc;
    weft_error_t err = {0};
    weft_store_names_t page = {0};
    int src = weft_blob_list(b, ct, p, a, API_LIST_PAGE, &page, &err);
    return names_out(&c, src, &err, &page, buf, buf_len, written_ptr, more_ptr);
}

/* ---- documents ---------------------------------------------------------------------- */

static uint32_t doc_begin(call_t *c, weft_guest_t *g, uint32_t collection, uint32_t collection_len,
                          uint32_t id, uint32_t id_len, char *co, char *ident, weft_doc_t **d) {
    uint32_t rc = begin(c, g);
    if (rc ||
        (rc =
             guest_str(c, collection, collection_len, co, WEFT_STORE_MAX_NAME + 1, "collection")) ||
        (ident && (rc = guest_str(c, id, id_len, ident, WEFT_DOC_MAX_ID + 1, "document id"))) ||
        (rc = granted(c, c->policy->grants.doc, c->policy->grants.ndoc, "document collection",
                      "document_collections", co)))
        return rc;
    if (!services(c))
        return no_services(c);
    weft_error_t err = {0};
    int src = weft_services_doc(services(c), d, &err);
    return src ? store_fail(c, src, &err) : WEFT_API_OK;
}

uint32_t Z_weftZ_doc_put(weft_guest_t *g, uint32_t collection, uint32_t collection_len, uint32_t id,
                         uint32_t id_len, uint32_t json, uint32_t json_len) {
    call_t c;
    char co[WEFT_STORE_MAX_NAME + 1], ident[WEFT_DOC_MAX_ID + 1];
    weft_doc_t *d;
    uint32_t rc = doc_begin(&c, g, collection, collection_len, id, id_len, co, ident, &d);
    if (rc)
        return rc;
    before_write(&c);
    const char *j = weft_guest_ptr(g, json, json_len);
    if (!j)
        return fail(&c, WEFT_API_INVALID_ARGUMENT, "document: %u bytes at %u lie outside memory",
                    json_len, json);
    weft_error_t err = {0};
    int src = weft_doc_put(d, co, ident, j, json_len, NULL, NULL, &err);
    return src ? store_fail(&c, src, &err) : WEFT_API_OK;
}

uint32_t Z_weftZ_doc_get(weft_guest_t *g, uint32_t collection, uint32_t collection_len, uint32_t id,
                         uint32_t id_len, uint32_t buf, uint32_t buf_len, uint32_t len_ptr) {
    call_t c;
    char co[WEFT_STORE_MAX_NAME + 1], ident[WEFT_DOC_MAX_ID + 1];
    weft_doc_t *d;
    uint32_t rc = doc_begin(&c, g, collection, collection_len, id, id_len, co, ident, &d);
    if (rc || (rc = guest_out(&c, buf, buf_len, "buffer")) ||
        (rc = guest_out(&c, len_ptr, 4, "length")))
        return rc;
    weft_error_t err = {0};
    char *json = NULL;
    size_t len = 0;
    int src = weft_doc_get(d, co, ident, &json, &len, NULL, &err);
    return value_out(&c, src, &err, json, len, buf, buf_len, len_ptr, "document");
}

uint32_t Z_weftZ_doc_delete(weft_guest_t *g, uint32_t collection, uint32_t collection_len,
                            uint32_t id, uint32_t id_len) {
    call_t c;
    char co[WEFT_STORE_MAX_NAME + 1], ident[WEFT_DOC_MAX_ID + 1];
    weft_doc_t *d;
    uint32_t rc = doc_begin(&c, g, collection, collection_len, id, id_len, co, ident, &d);
    if (rc)
        return rc;
    before_write(&c);
    weft_error_t err = {0};
    int src = weft_doc_delete(d, co, ident, 0, &err);
    return src ? store_fail(&c, src, &err) : WEFT_API_OK;
}

/* Reads the guest's match object into up to WEFT_DOC_MAX_MATCHES conditions; the texts
 * live in *keep (json_decref it). */
static uint32_t read_match(call_t *c, uint32_t match, uint32_t match_len, weft_doc_match_t *m,
                           char **texts, size_t *n, json_t **keep) {
    const char *p = weft_guest_ptr(c->g, match, match_len);
    *n = 0;
    *keep = NULL;
    if (!p)
        return fail(c, WEFT_API_INVALID_ARGUMENT, "match: %u bytes at %u lie outside memory",
                    match_len, match);
    if (!match_len)
        return WEFT_API_OK;
    json_error_t je;
    json_t *o = json_loadb(p, match_len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return fail(c, WEFT_API_INVALID_ARGUMENT,
                    o ? "match must be a JSON object" : "match is not JSON: %s", je.text);
    }
    if (json_object_size(o) > WEFT_DOC_MAX_MATCHES) {
        json_decref(o);
        return fail(c, WEFT_API_INVALID_ARGUMENT, "match has more than %d members",
                    WEFT_DOC_MAX_MATCHES);
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (json_is_object(v) || json_is_array(v)) {
            uint32_t rc = fail(c, WEFT_API_INVALID_ARGUMENT,
                               "match: '%s' must be a string, a number, true, false or null", key);
            json_decref(o); /* key lives in o */
            for (size_t k = 0; k < *n; k++)
                free(texts[k]);
            *n = 0;
            return rc;
        }
        texts[*n] = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!texts[*n]) {
            json_decref(o);
            for (size_t k = 0; k < *n; k++)
                free(texts[k]);
            *n = 0;
            return fail(c, WEFT_API_UNAVAILABLE, "out of memory");
        }
        m[*n] = (weft_doc_match_t){key, texts[*n]};
        (*n)++;
    }
    *keep = o;
    return WEFT_API_OK;
}

uint32_t Z_weftZ_doc_query(weft_guest_t *g, uint32_t collection, uint32_t collection_len,
                           uint32_t match, uint32_t match_len, uint32_t after, uint32_t after_len,
                           uint32_t buf, uint32_t buf_len, uint32_t written_ptr,
                           uint32_t more_ptr) {
    call_t c;
    char co[WEFT_STORE_MAX_NAME + 1], a[WEFT_DOC_MAX_ID + 1];
    weft_doc_t *d;
    uint32_t rc = doc_begin(&c, g, collection, collection_len, 0, 0, co, NULL, &d);
    if (rc || (rc = guest_str(&c, after, after_len, a, sizeof a, "after")) ||
        (rc = list_outputs(&c, buf, buf_len, written_ptr, more_ptr)))
        return rc;
    weft_doc_match_t m[WEFT_DOC_MAX_MATCHES];
    char *texts[WEFT_DOC_MAX_MATCHES];
    size_t n = 0;
    json_t *keep = NULL;
    if ((rc = read_match(&c, match, match_len, m, texts, &n, &keep)))
        goto out;
    weft_error_t err = {0};
    weft_doc_page_t page = {0};
    int src = weft_doc_query(d, co, m, n, a, API_LIST_PAGE, &page, &err);
    if (src) {
        rc = store_fail(&c, src, &err);
        goto out;
    }
    uint8_t *o = weft_guest_ptr(g, buf, buf_len);
    size_t w = 0, i;
    for (i = 0; i < page.n; i++) {
        size_t il = strlen(page.items[i].id) + 1, jl = page.items[i].len + 1;
        if (il + jl > buf_len - w)
            break;
        memcpy(o + w, page.items[i].id, il);
        memcpy(o + w + il, page.items[i].json, jl - 1);
        o[w + il + jl - 1] = 0;
        w += il + jl;
    }
    if (i == 0 && page.n > 0) {
        size_t need = strlen(page.items[0].id) + 1 + page.items[0].len + 1;
        put_u32(&c, written_ptr, (uint32_t)need);
        rc = fail(&c, WEFT_API_BUFFER_TOO_SMALL,
                  "the next document needs %zu bytes; the buffer has %u", need, buf_len);
    } else {
        put_u32(&c, written_ptr, (uint32_t)w);
        put_u32(&c, more_ptr, page.more || i < page.n);
    }
    weft_doc_page_free(&page);
out:
    for (size_t k = 0; k < n; k++)
        free(texts[k]);
    json_decref(keep);
    return rc;
}

/* ---- publish ------------------------------------------------------------------------ */

/* A CloudEvents attribute name: 1 to 20 lower-case letters or digits. */
static bool attr_name_ok(const char *s, size_t n) {
    if (n < 1 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* The HTTP binding's percent-encoding of a ce-* header value: space, '"', '%' and
 * everything outside printable ASCII. */
static int pct_encode(weft_buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '%') {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            if (weft_buf_append(b, e, 3))
                return -1;
        } else if (weft_buf_append(b, &s[i], 1)) {
            return -1;
        }
    }
    return weft_buf_append(b, "", 1);
}

#define PUBLISH_MAX_ATTRS 64

uint32_t Z_weftZ_publish(weft_guest_t *g, uint32_t broker, uint32_t broker_len, uint32_t attrs,
                         uint32_t attrs_len, uint32_t data, uint32_t data_len) {
    call_t c;
    char br[WEFT_STORE_MAX_NAME + 1];
    uint32_t rc = begin(&c, g);
    if (rc || (rc = guest_str(&c, broker, broker_len, br, sizeof br, "broker")) ||
        (rc = granted(&c, c.policy->grants.publish, c.policy->grants.npublish, "broker", "publish",
                      br)))
        return rc;
    if (!services(&c))
        return no_services(&c);
    before_write(&c);
    if (attrs_len > WEFT_API_MAX_ATTRIBUTES)
        return fail(&c, WEFT_API_TOO_LARGE, "attributes: %u bytes, more than the %u allowed",
                    attrs_len, WEFT_API_MAX_ATTRIBUTES);
    const char *ap = weft_guest_ptr(g, attrs, attrs_len);
    const uint8_t *dp = weft_guest_ptr(g, data, data_len);
    if (!ap || !dp)
        return fail(&c, WEFT_API_INVALID_ARGUMENT, "%s lie outside memory",
                    !ap ? "attributes" : "data");
    /* The header names and values, one after the other in text, each NUL-terminated. */
    weft_buf_t text = {0};
    size_t offs[2 * (PUBLISH_MAX_ATTRS + 3)], n = 0;
    bool has[4] = {false}; /* specversion, id, source, type */
    static const char *const required[] = {"specversion", "id", "source", "type"};
    rc = WEFT_API_OK;
    for (size_t i = 0; i < attrs_len && !rc;) {
        const char *line = ap + i, *nl = memchr(line, '\n', attrs_len - i);
        size_t ll = nl ? (size_t)(nl - line) : attrs_len - i;
        i += ll + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (!ll)
            continue;
        const char *colon = memchr(line, ':', ll);
        size_t nl_ = colon ? (size_t)(colon - line) : 0;
        if (!colon || !attr_name_ok(line, nl_)) {
            rc = fail(&c, WEFT_API_INVALID_ARGUMENT,
                      "attributes: '%.*s' is not a line name:value with a name of 1 to 20 "
                      "lower-case letters or digits",
                      (int)(ll > 60 ? 60 : ll), line);
            break;
        }
        if (n / 2 >= PUBLISH_MAX_ATTRS) {
            rc = fail(&c, WEFT_API_TOO_LARGE, "attributes: more than %d", PUBLISH_MAX_ATTRS);
            break;
        }
        const char *val = colon + 1;
        size_t vl = ll - nl_ - 1;
        while (vl && (*val == ' ' || *val == '\t'))
            val++, vl--;
        for (int k = 0; k < 4; k++)
            if (strlen(required[k]) == nl_ && !memcmp(line, required[k], nl_))
                has[k] = true;
        bool ct = nl_ == 15 && !memcmp(line, "datacontenttype", 15);
        offs[n++] = text.len;
        if ((ct ? weft_buf_puts(&text, "content-type")
                : (weft_buf_puts(&text, "ce-") || weft_buf_append(&text, line, nl_))) ||
            weft_buf_append(&text, "", 1)) {
            rc = fail(&c, WEFT_API_UNAVAILABLE, "out of memory");
            break;
        }
        offs[n++] = text.len;
        if (ct ? (memchr(val, 0, vl) || weft_buf_append(&text, val, vl) ||
                  weft_buf_append(&text, "", 1))
               : pct_encode(&text, val, vl)) {
            rc = fail(&c, WEFT_API_INVALID_ARGUMENT, "attributes: bad datacontenttype");
            break;
        }
    }
    if (!rc) {
        char uuid[37], source[WEFT_STORE_MAX_NAME + 40];
        weft_uuid4(uuid);
        snprintf(source, sizeof source, "/weft/functions/%s",
                 c.policy->function ? c.policy->function : "unknown");
        const char *defaults[3][2] = {
            {"ce-specversion", "1.0"}, {"ce-id", uuid}, {"ce-source", source}};
        for (int k = 0; k < 3 && !rc; k++) {
            if (has[k])
                continue;
            offs[n++] = text.len;
            weft_buf_puts(&text, defaults[k][0]);
            weft_buf_append(&text, "", 1);
            offs[n++] = text.len;
            if (weft_buf_puts(&text, defaults[k][1]) || weft_buf_append(&text, "", 1))
                rc = fail(&c, WEFT_API_UNAVAILABLE, "out of memory");
        }
        if (!rc && !has[3])
            rc = fail(&c, WEFT_API_INVALID_ARGUMENT, "attributes: 'type' is required");
    }
    if (!rc) {
        const char *names[PUBLISH_MAX_ATTRS + 3], *values[PUBLISH_MAX_ATTRS + 3];
        for (size_t k = 0; k < n / 2; k++) {
            names[k] = (const char *)text.data + offs[2 * k];
            values[k] = (const char *)text.data + offs[2 * k + 1];
        }
        char msg[512] = "";
        unsigned status = weft_services_publish(services(&c), br, names, values, n / 2, dp,
                                                data_len, msg, sizeof msg);
        if (status < 200 || status > 299)
            rc = fail(&c,
                      status == 404                    ? WEFT_API_NOT_FOUND
                      : status == 413                  ? WEFT_API_TOO_LARGE
                      : status == 400 || status == 415 ? WEFT_API_INVALID_ARGUMENT
                                                       : WEFT_API_UNAVAILABLE,
                      "broker '%s': %s", br, msg[0] ? msg : weft_http_reason(status));
    }
    weft_buf_free(&text);
    return rc;
}
