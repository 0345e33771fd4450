/* spin_http: Spin's HTTP executor for Spin 1 modules, and the request information Spin
 * gives a component under either executor (contracts in invoke.h and internal.h).
 *
 * A Spin 1 HTTP module (wit-bindgen 0.2's canonical ABI, fermyon/spin's
 * wit/ephemeral/spin-http.wit) exports
 *
 *   handle-http-request(method, uri_ptr, uri_len, headers_ptr, headers_len, params_ptr,
 *                       params_len, body_is_some, body_ptr, body_len) -> ret_ptr
 *   canonical_abi_realloc(old_ptr, old_size, align, new_size) -> ptr
 *   canonical_abi_free(ptr, size, align)
 *
 * with method Spin's enum (weft_spin_method), strings and lists as (pointer, length),
 * a header or a param a 16-byte tuple (name ptr @0, len @4, value ptr @8, len @12), and
 * the answer a 28-byte record at ret_ptr: status u16 @0; headers option: is_some u8 @4,
 * list @8 (ptr) and @12 (len); body option: is_some u8 @16, bytes @20 and @24. The host
 * allocates every string and list of the request in the guest's memory with
 * canonical_abi_realloc(0, 0, align, size) (align 1 for bytes, 4 for tuples) and copies
 * it in. The answer is hostile: every pointer and length is checked against the guest's
 * memory (in 64 bits: no sum wraps), and a bad one is a 500 with a log line, never a
 * read outside it.
 *
 * As Spin 1.x (crates/trigger-http/src/spin.rs) calls it: the uri is the path and
 * query; the headers are the request's (names in lower case, as hyper gives them) and
 * then Spin's own (weft_spin_vars); the body is always Some, empty or not; a method
 * Spin has no case for is 405 with an empty body, without a call. Where weft differs,
 * on purpose:
 *  - params carries the route's named wildcards (":id" matched "42": ("id", "42")).
 *    Spin 1 passes an empty list (the field was kept for the ABI's sake, spin#663):
 *    a handler written for Spin finds them in the spin-path-match-* headers either way;
 *  - a response header that is invalid HTTP or that the server owns (Content-Length,
 *    Transfer-Encoding, Connection, ...) is dropped with a log line, by the rules the
 *    CGI executor drops them by (Spin fails the whole response on an invalid one, and
 *    lets a handler set the framing headers); repeated names are all sent (Spin keeps
 *    the last: it inserts into a map);
 *  - a status outside 200..599 is a 500 (Spin: outside 100..600), as a 1xx cannot end
 *    a request and 600 is no HTTP status;
 *  - the scheme of spin-full-url is https for a request that came over TLS (Spin takes
 *    it from the request's URI, which a server's request does not carry: always http).
 * The module's stdout and stderr lines go to the log, as Spin writes both to the
 * component's log.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Bytes of a dropped header shown in its log line. */
#define SPIN_LOG_HEADER 256u

/* ---- Spin's request information ------------------------------------------------------- */

int weft_spin_method(const char *method) {
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    for (int i = 0; method && i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(method, names[i]))
            return i;
    return -1;
}

void weft_spin_vars_free(weft_spin_vars_t *v) {
    weft_strv_free(&v->headers);
    weft_strv_free(&v->env);
    weft_strv_free(&v->values);
}

static int add_var(weft_spin_vars_t *v, const char *header, const char *env, const char *value,
                   size_t value_len) {
    int rc = weft_strv_add(&v->headers, header, strlen(header));
    if (!rc)
        rc = weft_strv_add(&v->env, env, strlen(env));
    if (!rc)
        rc = weft_strv_add(&v->values, value, value_len);
    return rc;
}

/* The first header named name (any case), or NULL. */
static const char *header_value(const weft_request_t *rq, const char *name) {
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!strcasecmp(rq->headers[i].name, name))
            return rq->headers[i].value ? rq->headers[i].value : "";
    return NULL;
}

/* What follows the prefix of a trailing-wildcard route in path: the prefix's segments
 * ("/users/:id" has two) skipped, as Spin's router matched them. "" for an exact route. */
static const char *path_info(const char *route, const char *path) {
    size_t n = strlen(route);
    if (n < 4 || strcmp(route + n - 4, "/..."))
        return "";
    size_t segments = 0;
    for (size_t i = 0; i < n - 4; i++)
        segments += route[i] == '/';
    const char *p = path;
    for (size_t k = 0; k < segments && *p == '/'; k++) {
        const char *next = strchr(p + 1, '/');
        p = next ? next : p + strlen(p);
    }
    return p;
}

int weft_spin_vars(const weft_request_t *rq, weft_spin_vars_t *out) {
    memset(out, 0, sizeof *out);
    const struct weft_app_route *def = rq->route_def;
    const char *route = def && def->path ? def->path : rq->route ? rq->route : rq->path;
    const char *raw = def && def->raw ? def->raw : route;
    const char *host = header_value(rq, "host");
    weft_buf_t b = {0};
    int rc = 0;
    const char *info = rq->path_info ? rq->path_info : path_info(route, rq->path);
    rc = add_var(out, "spin-path-info", "PATH_INFO", info, strlen(info));

    if (!rc)
        rc = weft_buf_printf(&b, "%s://%s%s%s%s", rq->tls ? "https" : "http",
                             host && *host ? host : "localhost", rq->path, rq->query ? "?" : "",
                             rq->query ? rq->query : "");
    if (!rc)
        rc = add_var(out, "spin-full-url", "X_FULL_URL", (const char *)b.data, b.len);
    if (!rc)
        rc = add_var(out, "spin-matched-route", "X_MATCHED_ROUTE", route, strlen(route));
    const char *base = def && def->base ? def->base : "/";
    if (!rc)
        rc = add_var(out, "spin-base-path", "X_BASE_PATH", base, strlen(base));
    if (!rc)
        rc = add_var(out, "spin-raw-component-route", "X_RAW_COMPONENT_ROUTE", raw, strlen(raw));
    size_t rn = strlen(raw);
    if (rn >= 4 && !strcmp(raw + rn - 4, "/..."))
        rn -= 4;
    if (!rc)
        rc = add_var(out, "spin-component-route", "X_COMPONENT_ROUTE", raw, rn);
    b.len = 0;
    const char *ip = rq->remote_addr ? rq->remote_addr : "";
    bool v6 = strchr(ip, ':') != NULL;
    if (!rc)
        rc = weft_buf_printf(&b, "%s%s%s:%s", v6 ? "[" : "", ip, v6 ? "]" : "",
                             rq->remote_port ? rq->remote_port : "0");
    if (!rc)
        rc = add_var(out, "spin-client-addr", "X_CLIENT_ADDR", (const char *)b.data, b.len);
    for (size_t i = 0; i < rq->nparams && !rc; i++) {
        const char *name = rq->params[i].name, *value = rq->params[i].value;
        weft_buf_t h = {0}, e = {0};
        rc = weft_buf_puts(&h, "spin-path-match-") || weft_buf_puts(&e, "X_PATH_MATCH_")
                 ? WEFT_ENOMEM
                 : 0;
        for (const char *p = name; *p && !rc; p++) {
            char lc = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
            char uc = (char)toupper((unsigned char)*p);
            rc = weft_buf_append(&h, &lc, 1) || weft_buf_append(&e, &uc, 1) ? WEFT_ENOMEM : 0;
        }
        if (!rc)
            rc = add_var(out, (const char *)h.data, (const char *)e.data, value ? value : "",
                         value ? strlen(value) : 0);
        weft_buf_free(&h);
        weft_buf_free(&e);
    }
    weft_buf_free(&b);
    if (rc)
        weft_spin_vars_free(out);
    return rc;
}

/* ---- one call ------------------------------------------------------------------------- */

void weft_spin_answer_free(weft_spin_answer_t *a) {
    free(a->headers);
    weft_buf_free(&a->arena);
    memset(a, 0, sizeof *a);
}

/* The request's records being written into one instance. */
typedef struct writer {
    weft_instance_t *in;
    weft_guest_t *g;
    const weft_spin_call_t *call;
    weft_outcome_t *out;
    weft_error_t *err;
    int rc;    /* an error that stopped the call before it ran */
    bool stop; /* the guest trapped or exited (*out), or the answer is refused (error) */
} writer_t;

/* Refuses the handler's answer (or the module): a 500, logged with why. */
static void refuse(writer_t *w, const char *why) {
    weft_log("%s: 500: %s", w->call->tag, why);
    w->call->answer->error = why;
    w->stop = true;
}

/* Copies data[0..len) (NULL: zeros) into an allocation of the guest's; its address. */
static uint32_t put(writer_t *w, const void *data, size_t len, uint32_t align) {
    if (w->stop)
        return 0;
    if (len > UINT32_MAX) {
        refuse(w, "the request is larger than a guest's memory");
        return 0;
    }
    weft_value_t args[4] = {0, 0, align, len}, result[1] = {0};
    w->rc = weft_instance_invoke(w->in, "canonical_abi_realloc", args, result, w->out, w->err);
    if (w->rc || w->out->kind != WEFT_OUTCOME_RETURNED) {
        w->stop = true;
        return 0;
    }
    uint32_t addr = (uint32_t)result[0];
    uint8_t *p = weft_guest_ptr(w->g, addr, len);
    if (!p) {
        refuse(w, "canonical_abi_realloc returned an address out of memory bounds");
        return 0;
    }
    if (len)
        data ? memcpy(p, data, len) : memset(p, 0, len);
    return addr;
}

static void set_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A list of (name, value) tuples: names[i], values[i] for i < n (lower-casing the
 * names when lower). Its address. */
static uint32_t put_tuples(writer_t *w, const char *const *names, const char *const *values,
                           size_t n, bool lower) {
    uint32_t list = put(w, NULL, 16 * n, 4);
    char small[256];
    for (size_t i = 0; i < n && !w->stop; i++) {
        const char *name = names[i], *value = values[i] ? values[i] : "";
        size_t nl = strlen(name), vl = strlen(value);
        char *lc = NULL;
        if (lower) {
            lc = nl < sizeof small ? small : malloc(nl + 1);
            if (!lc) {
                w->rc = weft_error_set(w->err, WEFT_ENOMEM, "out of memory");
                w->stop = true;
                break;
            }
            for (size_t k = 0; k <= nl; k++)
                lc[k] = (char)tolower((unsigned char)name[k]);
        }
        uint32_t np = put(w, lc ? lc : name, nl, 1);
        if (lc && lc != small)
            free(lc);
        uint32_t vp = put(w, value, vl, 1);
        if (w->stop)
            break;
        uint8_t *t = weft_guest_ptr(w->g, list + 16u * (uint32_t)i, 16);
        set_u32(t, np);
        set_u32(t + 4, (uint32_t)nl);
        set_u32(t + 8, vp);
        set_u32(t + 12, (uint32_t)vl);
    }
    return list;
}

/* Appends s[0..n) and a NUL to the answer's arena; its offset. */
static size_t keep(writer_t *w, const void *s, size_t n, bool *oom) {
    weft_buf_t *b = &w->call->answer->arena;
    size_t at = b->len;
    if (weft_buf_append(b, s, n) || weft_buf_append(b, "", 1))
        *oom = true;
    return at;
}

/* Reads the handler's answer from the record at ret into call->answer. */
static void read_answer(writer_t *w, uint32_t ret) {
    weft_spin_answer_t *a = w->call->answer;
    const uint8_t *r = weft_guest_ptr(w->g, ret, 28);
    if (!r) {
        refuse(w, "spin handler returned a response record out of memory bounds");
        return;
    }
    uint16_t status;
    memcpy(&status, r, 2);
    if (status < 200 || status > 599) {
        weft_log("%s: 500: spin handler returned status %u, not one from 200 to 599", w->call->tag,
                 (unsigned)status);
        a->error = "the function answered an invalid status";
        w->stop = true;
        return;
    }
    if (r[4] > 1 || r[16] > 1) {
        refuse(w, "spin handler returned an option that is neither none nor some");
        return;
    }
    uint32_t hptr = get_u32(r + 8), hn = r[4] ? get_u32(r + 12) : 0;
    const uint8_t *list = weft_guest_ptr(w->g, hptr, 16ull * hn);
    if (!list) {
        refuse(w, "spin handler returned a header list out of memory bounds");
        return;
    }
    uint32_t bptr = get_u32(r + 20), blen = r[16] ? get_u32(r + 24) : 0;
    const uint8_t *body = weft_guest_ptr(w->g, bptr, blen);
    if (!body) {
        refuse(w, "spin handler returned a body out of memory bounds");
        return;
    }
    if (blen > w->call->max_response) {
        weft_log("%s: 500: response larger than %llu bytes", w->call->tag,
                 (unsigned long long)w->call->max_response);
        a->error = "the function's response is too large";
        w->stop = true;
        return;
    }
    /* Every header in bounds first: a bad one refuses the whole answer. */
    for (uint32_t i = 0; i < hn; i++) {
        const uint8_t *t = list + 16u * i;
        if (!weft_guest_check(w->g, get_u32(t), get_u32(t + 4)) ||
            !weft_guest_check(w->g, get_u32(t + 8), get_u32(t + 12))) {
            refuse(w, "spin handler returned a header out of memory bounds");
            return;
        }
    }
    size_t *at = hn ? calloc(hn, 2 * sizeof *at) : NULL;
    bool oom = hn && !at;
    size_t kept = 0, bytes = 0;
    for (uint32_t i = 0; i < hn && !oom; i++) {
        const uint8_t *t = list + 16u * i;
        uint32_t nl = get_u32(t + 4), vl = get_u32(t + 12);
        const char *name = weft_guest_ptr(w->g, get_u32(t), nl);
        const char *value = weft_guest_ptr(w->g, get_u32(t + 8), vl);
        const char *why = weft_http_header_problem(name, nl, value, vl);
        if (!why && kept == WEFT_CGI_MAX_HEADERS)
            why = "too many headers";
        if (!why && bytes + nl + vl + 4 > WEFT_CGI_MAX_HEADER_BLOCK)
            why = "the headers are larger than 64 KiB";
        if (why) {
            if (w->call->warn) {
                char line[2 * SPIN_LOG_HEADER + 4];
                int n = snprintf(line, sizeof line, "%.*s: %.*s",
                                 (int)(nl < SPIN_LOG_HEADER ? nl : SPIN_LOG_HEADER), name,
                                 (int)(vl < SPIN_LOG_HEADER ? vl : SPIN_LOG_HEADER), value);
                w->call->warn(w->call->arg, why, line,
                              n < 0                     ? 0
                              : (size_t)n < sizeof line ? (size_t)n
                                                        : sizeof line - 1);
            }
            continue;
        }
        bytes += nl + vl + 4;
        at[2 * kept] = keep(w, name, nl, &oom);
        at[2 * kept + 1] = keep(w, value, vl, &oom);
        kept++;
    }
    a->body_at = keep(w, body, blen, &oom);
    a->body_len = blen;
    if (!oom && kept && !(a->headers = calloc(kept, sizeof *a->headers)))
        oom = true;
    for (size_t i = 0; i < kept && !oom; i++) {
        a->headers[i].name = (const char *)a->arena.data + at[2 * i];
        a->headers[i].value = (const char *)a->arena.data + at[2 * i + 1];
    }
    free(at);
    if (oom) {
        refuse(w, "out of memory for the handler's answer");
        return;
    }
    a->nheaders = kept;
    a->status = status;
}

int weft_spin_check(weft_module_t *m, weft_error_t *err) {
    const char *sig = weft_module_export_sig(m, "handle-http-request");
    const char *re = weft_module_export_sig(m, "canonical_abi_realloc");
    if (sig && !strcmp(sig, "iiiiiiiiii:i") && re && !strcmp(re, "iiii:i"))
        return 0;
    return weft_error_set(err, WEFT_ENOTFOUND,
                          "%s is not a Spin 1 HTTP handler: it needs the exports "
                          "handle-http-request (10 i32 parameters, an i32 result) and "
                          "canonical_abi_realloc (4 i32 parameters, an i32 result)",
                          weft_module_name(m));
}

int weft_spin_exec(weft_module_t *m, const weft_wasi_config_t *cfg, void *host,
                   const weft_limits_t *limits, const weft_spin_call_t *call, weft_outcome_t *out,
                   weft_error_t *err) {
    const weft_request_t *rq = call->rq;
    memset(call->answer, 0, sizeof *call->answer);
    memset(out, 0, sizeof *out);
    weft_spin_vars_t vars = {0};
    weft_wasi_t *wasi = NULL;
    weft_buf_t uri = {0};
    const char **names = NULL, **values = NULL;
    int rc = weft_spin_vars(rq, &vars);
    if (rc)
        return weft_error_set(err, rc, "cannot map the request: %s", weft_err_text(rc));
    if ((rc = weft_wasi_create(cfg, &wasi, err))) {
        weft_spin_vars_free(&vars);
        return rc;
    }
    weft_guest_t guest = {.wasi = wasi, .host = host};
    writer_t w = {.g = &guest, .call = call, .out = out, .err = err};
    if ((rc = weft_spin_check(m, err)))
        goto done;
    if ((rc = weft_instance_new(m, &guest, limits, &w.in, out, err)) || !w.in)
        goto done;
    if (!guest.memory) {
        refuse(&w, "the module exports no memory");
        goto done;
    }

    /* The records: uri, headers (the request's, then Spin's), params, body. */
    if (weft_buf_puts(&uri, rq->path) ||
        (rq->query && (weft_buf_puts(&uri, "?") || weft_buf_puts(&uri, rq->query)))) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    size_t nh = rq->nheaders + vars.headers.n;
    names = calloc(nh + 1 + rq->nparams, sizeof *names);
    values = calloc(nh + 1 + rq->nparams, sizeof *values);
    if (!names || !values) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < rq->nheaders; i++) {
        names[i] = rq->headers[i].name;
        values[i] = rq->headers[i].value;
    }
    for (size_t i = 0; i < vars.headers.n; i++) {
        names[rq->nheaders + i] = vars.headers.v[i];
        values[rq->nheaders + i] = vars.values.v[i];
    }
    int method = weft_spin_method(rq->method);
    uint32_t uri_at = put(&w, uri.data, uri.len, 1);
    uint32_t headers_at = put_tuples(&w, names, values, nh, true);
    for (size_t i = 0; i < rq->nparams; i++) {
        names[i] = rq->params[i].name;
        values[i] = rq->params[i].value;
    }
    uint32_t params_at = put_tuples(&w, names, values, rq->nparams, false);
    uint32_t body_at = put(&w, rq->body, rq->body_len, 1);
    if (w.stop) {
        rc = w.rc;
        goto done;
    }
    weft_value_t args[10] = {(uint32_t)method, uri_at,      uri.len, headers_at, nh,
                             params_at,        rq->nparams, 1,       body_at,    rq->body_len};
    weft_value_t result[1] = {0};
    rc = weft_instance_invoke(w.in, "handle-http-request", args, result, out, err);
    if (!rc && out->kind == WEFT_OUTCOME_RETURNED)
        read_answer(&w, (uint32_t)result[0]);
done:
    weft_instance_free(w.in);
    weft_wasi_destroy(wasi);
    weft_spin_vars_free(&vars);
    weft_buf_free(&uri);
    free(names);
    free(values);
    return rc;
}
