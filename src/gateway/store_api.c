/* store_api: the services guests use (key-value, blobs, documents: host.h) over HTTP.
 *
 *   /kv/STORE/KEY          GET, HEAD: the value (application/octet-stream)
 *                          PUT: the body is the value; ?ttl=MS expires it MS ms later
 *                          DELETE
 *   /kv/STORE              GET: {"keys": [...], "more": bool[, "next": KEY]}
 *                          (?prefix=P&after=A&limit=N)
 *   /blobs/CONTAINER/NAME  GET, HEAD: the bytes, streamed; Content-Type as stored,
 *                          Last-Modified, Accept-Ranges: bytes, one Range answered 206
 *                          PUT: the body, Content-Type kept; DELETE
 *   /blobs/CONTAINER       GET: {"names": [...], "more": bool[, "next": NAME]}
 *   /docs/COLL/ID          GET, HEAD: the document (application/json)
 *                          PUT: the body, which must be a JSON object; DELETE
 *   /docs/COLL             GET: {"items": [{"id", "version", "doc"}], "more": bool
 *                          [, "next": ID]}, ?FIELD=VALUE&... by equality (below)
 *
 * Every item's ETag is its version, decimal and quoted ("42"). PUT and DELETE honour
 * If-Match ("42" or *: 412 when the item is absent or holds another version), PUT
 * If-None-Match: * (create only: 412 when it exists); GET answers 304 to an
 * If-None-Match naming the current version. A PUT answers 201 when it created the item,
 * 200 when it replaced one, with the new ETag and a small JSON body ({"version": N}, and
 * for a blob its name, size, content_type and sha256); DELETE answers 204. Errors: 404
 * (no such item), 400 (a bad name, key, query or JSON), 405 (with Allow), 412, 413 (the
 * store's limits), 503 (the store cannot be opened, read or written: the message says
 * which file), each with a one-line text body.
 *
 * STORE, KEY and the rest are percent-decoded; a key may hold '/': everything after
 * /kv/STORE/ is the key (%2F works as well). Query values are form-urlencoded ('+' is a
 * space). A document query's value is compared as JSON when it is a JSON scalar (a
 * number, true, false, null or a "quoted string"), else as the string it is:
 * ?n=3 matches {"n": 3}, ?n="3" and ?name=ann match strings. after and limit are the
 * paging parameters, so no field of those names can be queried.
 *
 * The store calls block (SQLite, fsync), so every one runs on a worker: the I/O thread
 * hands the request over (server.c) and answers once it comes back. A blob is read a
 * chunk at a time, each chunk by a worker, the next asked for only once h2o has sent
 * the last (its generator's proceed): memory stays at one chunk per download whatever
 * the blob's size. A PUT's body is h2o's, read whole before the request is handed over
 * (h2o 2.2 has no streamed request bodies): at most max_body.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../host/host.h"
#include "internal.h"

/* Bytes of a blob read and sent at once. */
#define WEFT_STORE_API_CHUNK (256u << 10)
/* Query items of one request. */
#define WEFT_STORE_API_MAX_PARAMS 64

typedef struct store_call {
    h2o_generator_t gen; /* a blob's body, streamed */
    request_t *rq;
    /* The answer. */
    unsigned status;
    const char *ctype; /* static, or ctype_buf; NULL: none */
    char ctype_buf[WEFT_BLOB_MAX_CONTENT_TYPE + 1];
    char etag[32];
    char last_modified[40];
    char content_range[96];
    const char *allow; /* 405's methods */
    bool accept_ranges;
    bool head;       /* HEAD: the head alone, Content-Length as GET's */
    bool has_length; /* length is the body's length rather than body.len */
    uint64_t length; /* Content-Length of a blob (or of its range) */
    weft_buf_t body; /* the body, or the chunk being sent */
    /* A blob's body being streamed. */
    weft_blob_reader_t *reader;
    uint64_t offset; /* the next byte of the blob to read */
    uint64_t left;   /* bytes still to read */
    bool streaming;  /* the head is out; chunks follow */
    bool busy;       /* a worker reads the next chunk */
    bool in_send;    /* inside h2o_send */
    bool stopped;    /* h2o stopped the generator: the client left */
    bool failed;     /* a read failed: the response ends in error */
} store_call_t;

typedef struct param {
    char *name, *value;
} param_t;

/* ---- Small pieces ------------------------------------------------------------------ */

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..len) percent-decoded ('+' a space when plus), malloc'd; NULL for a bad escape,
 * a NUL byte, or no memory. */
static char *decode(const char *s, size_t len, bool plus) {
    char *out = malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < len ? hexval(s[i + 1]) : -1, l = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            c = h << 4 | l;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (!c) {
            free(out);
            return NULL;
        }
        *o++ = (char)c;
    }
    *o = 0;
    return out;
}

static void params_free(param_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
}

/* The query's items, decoded; -1 for a bad escape or too many items. */
static int params_parse(const char *q, param_t *out, size_t cap, size_t *n) {
    *n = 0;
    if (!q)
        return 0;
    const char *end = q + strlen(q);
    for (const char *p = q; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            if (*n == cap)
                return -1;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *name_end = eq ? eq : stop;
            const char *value = eq ? eq + 1 : stop;
            out[*n].name = decode(p, (size_t)(name_end - p), true);
            out[*n].value = decode(value, (size_t)(stop - value), true);
            (*n)++;
            if (!out[*n - 1].name || !out[*n - 1].value)
                return -1;
        }
        p = stop + 1;
    }
    return 0;
}

static const char *param(const param_t *p, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(p[i].name, name))
            return p[i].value;
    return NULL;
}

/* The request header called name (any case), or NULL. */
static const char *header(const request_t *rq, const char *name) {
    for (size_t i = 0; i < rq->call.nheaders; i++)
        if (!strcasecmp(rq->call.headers[i].name, name))
            return rq->call.headers[i].value;
    return NULL;
}

static bool method(const request_t *rq, const char *m) {
    return !strcmp(rq->call.method, m);
}

/* A text answer (a newline added). */
static void say(store_call_t *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(store_call_t *c, unsigned status, const char *fmt, ...) {
    c->status = status;
    c->ctype = "text/plain; charset=utf-8";
    c->etag[0] = 0;
    c->has_length = false;
    c->body.len = 0;
    va_list ap;
    va_start(ap, fmt);
    char line[WEFT_ERROR_MAX + 256];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    weft_buf_puts(&c->body, line);
    weft_buf_puts(&c->body, "\n");
}

static void not_allowed(store_call_t *c, const char *allow, const char *why) {
    say(c, 405, "%s", why);
    c->allow = allow;
}

/* A store's failure as an answer. conditional: the write named If-Match, for which an
 * absent item is a failed condition rather than a 404. */
static void fail(store_call_t *c, int rc, const weft_error_t *err, bool conditional) {
    switch (rc) {
    case WEFT_ENOTFOUND:
        if (conditional)
            say(c, 412, "If-Match: there is no such item");
        else
            say(c, 404, "not found");
        break;
    case WEFT_ECONFLICT:
        say(c, 412, "the condition failed: %s", err->msg[0] ? err->msg : "version mismatch");
        break;
    case WEFT_EINVAL:
        say(c, 400, "%s", err->msg);
        break;
    case WEFT_ELIMIT:
        say(c, 413, "%s", err->msg);
        break;
    case WEFT_EIO:
    case WEFT_ENOMEM:
        say(c, 503, "%s", err->msg[0] ? err->msg : weft_err_text(rc));
        break;
    default:
        say(c, 500, "%s", err->msg[0] ? err->msg : weft_err_text(rc));
    }
}

/* "42" (or W/"42"): the version; false when the tag is none weft gives. */
static bool etag_parse(const char *v, uint64_t *version) {
    while (*v == ' ' || *v == '\t')
        v++;
    if (!strncmp(v, "W/", 2))
        v += 2;
    if (*v++ != '"' || *v < '1' || *v > '9')
        return false;
    uint64_t n = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    if (*v++ != '"')
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v)
        return false;
    *version = n;
    return true;
}

static void set_etag(store_call_t *c, uint64_t version) {
    snprintf(c->etag, sizeof c->etag, "\"%llu\"", (unsigned long long)version);
}

/* Does If-None-Match name version (or *)? For GET: 304. */
static bool none_match_hit(const request_t *rq, uint64_t version) {
    const char *v = header(rq, "if-none-match");
    if (!v)
        return false;
    char tag[32];
    snprintf(tag, sizeof tag, "\"%llu\"", (unsigned long long)version);
    while (*v == ' ')
        v++;
    if (!strcmp(v, "*"))
        return true;
    /* A list of tags: any that matches (weak comparison, as RFC 9110 says for GET). */
    return strstr(v, tag) != NULL;
}

/* What a write's conditions say: 0, or the status answered (c is set). */
typedef struct cond {
    uint64_t if_version; /* If-Match "N" */
    bool if_any;         /* If-Match: *: the item must exist */
    bool if_match;       /* either */
    bool if_absent;      /* If-None-Match: * */
} cond_t;

static unsigned conditions(const request_t *rq, store_call_t *c, bool put, cond_t *k) {
    *k = (cond_t){0};
    const char *m = header(rq, "if-match"), *nm = header(rq, "if-none-match");
    if (m) {
        k->if_match = true;
        while (*m == ' ')
            m++;
        if (!strcmp(m, "*"))
            k->if_any = true;
        else if (!etag_parse(m, &k->if_version)) {
            say(c, 412,
                "If-Match: %s names no version this item can hold (weft's ETags are "
                "\"N\", N its version)",
                m);
            return 412;
        }
    }
    if (nm) {
        while (*nm == ' ')
            nm++;
        if (!put || strcmp(nm, "*")) {
            say(c, 400,
                "If-None-Match on a %s: only If-None-Match: * on a PUT (create only) "
                "is supported",
                rq->call.method);
            return 400;
        }
        k->if_absent = true;
    }
    if (k->if_absent && k->if_match) {
        say(c, 400, "If-Match and If-None-Match: * together can never both hold");
        return 400;
    }
    return 0;
}

/* limit=N: 0 when absent; -1 when not 1..WEFT_STORE_MAX_PAGE. */
static long limit_param(const param_t *p, size_t n) {
    const char *v = param(p, n, "limit");
    if (!v)
        return 0;
    char *end;
    long l = strtol(v, &end, 10);
    return *v && !*end && l >= 1 && l <= WEFT_STORE_MAX_PAGE ? l : -1;
}

/* A JSON answer (c takes j). */
static void json_answer(store_call_t *c, unsigned status, json_t *j) {
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        say(c, 503, "out of memory");
        return;
    }
    c->status = status;
    c->ctype = "application/json";
    c->body.len = 0;
    weft_buf_puts(&c->body, text);
    weft_buf_puts(&c->body, "\n");
    free(text);
}

/* {"<what>": [...names], "more": bool[, "next": last]} */
static void names_answer(store_call_t *c, const char *what, const weft_store_names_t *page) {
    json_t *names = json_array();
    for (size_t i = 0; names && i < page->n; i++)
        if (json_array_append_new(names, json_string(page->names[i]))) {
            json_decref(names);
            names = NULL;
        }
    json_t *j = names ? json_pack("{s:o,s:b}", what, names, "more", page->more) : NULL;
    if (j && page->more && page->n)
        json_object_set_new(j, "next", json_string(page->names[page->n - 1]));
    json_answer(c, 200, j);
}

static void bytes_answer(store_call_t *c, const char *ctype, const void *data, size_t len,
                         uint64_t version) {
    c->status = 200;
    c->ctype = ctype;
    set_etag(c, version);
    c->body.len = 0;
    weft_buf_append(&c->body, data, len);
}

/* The answer to a write that worked: 201 when it created the item, else 200. */
static void written(store_call_t *c, bool existed, uint64_t version, json_t *j) {
    json_answer(c, existed ? 200 : 201, j);
    set_etag(c, version);
}

/* ---- /kv ------------------------------------------------------------------------------ */

static void kv_call(request_t *rq, store_call_t *c, const char *name, const char *key,
                    const param_t *p, size_t np) {
    weft_error_t err = {0};
    weft_kv_t *kv;
    weft_kv_store_t *st;
    int rc = weft_services_kv(rq->gw->cfg.services, &kv, &err);
    if (!rc)
        rc = weft_kv_store(kv, name, &st, &err);
    if (rc) {
        fail(c, rc, &err, false);
        return;
    }
    if (!key) {
        if (!method(rq, "GET") && !method(rq, "HEAD")) {
            not_allowed(c, "GET, HEAD", "a store's keys are listed by GET");
            return;
        }
        long limit = limit_param(p, np);
        if (limit < 0) {
            say(c, 400, "limit: expected 1 to %d", WEFT_STORE_MAX_PAGE);
            return;
        }
        weft_store_names_t page = {0};
        rc = weft_kv_list(st, param(p, np, "prefix"), param(p, np, "after"), (size_t)limit, &page,
                          &err);
        if (rc)
            fail(c, rc, &err, false);
        else
            names_answer(c, "keys", &page);
        weft_store_names_free(&page);
        return;
    }
    if (method(rq, "GET") || method(rq, "HEAD")) {
        uint8_t *value = NULL;
        size_t len = 0;
        uint64_t version = 0;
        rc = weft_kv_get(st, key, &value, &len, &version, &err);
        if (rc)
            fail(c, rc, &err, false);
        else if (none_match_hit(rq, version)) {
            c->status = 304;
            set_etag(c, version);
        } else
            bytes_answer(c, "application/octet-stream", value, len, version);
        free(value);
        return;
    }
    bool put = method(rq, "PUT");
    if (!put && !method(rq, "DELETE")) {
        not_allowed(c, "GET, HEAD, PUT, DELETE",
                    "a key is read by GET, written by PUT and "
                    "deleted by DELETE");
        return;
    }
    cond_t k;
    if (conditions(rq, c, put, &k))
        return;
    uint64_t current = 0;
    rc = weft_kv_get(st, key, NULL, NULL, &current, &err);
    if (rc && rc != WEFT_ENOTFOUND) {
        fail(c, rc, &err, false);
        return;
    }
    if (k.if_any) {
        if (!current) {
            say(c, 412, "If-Match: * but there is no such key");
            return;
        }
        k.if_version = current;
    }
    err = (weft_error_t){0};
    if (!put) {
        rc = weft_kv_delete(st, key, k.if_version, &err);
        if (rc)
            fail(c, rc, &err, k.if_match);
        else
            c->status = 204;
        return;
    }
    weft_kv_set_options_t opts = {.if_version = k.if_version, .if_absent = k.if_absent};
    const char *ttl = param(p, np, "ttl");
    if (ttl) {
        char *end;
        long long ms = strtoll(ttl, &end, 10);
        if (!*ttl || *end || ms < 1) {
            say(c, 400, "ttl: expected a number of milliseconds, at least 1");
            return;
        }
        opts.ttl_ms = ms;
    }
    uint64_t version = 0;
    rc = weft_kv_set(st, key, rq->call.body, rq->call.body_len, &opts, &version, &err);
    if (rc)
        fail(c, rc, &err, k.if_match);
    else
        written(c, current != 0, version, json_pack("{s:I}", "version", (json_int_t)version));
}

/* ---- /docs ---------------------------------------------------------------------------- */

/* A query's value as JSON: itself when it is a JSON scalar, else a JSON string of it;
 * malloc'd, NULL when it is not UTF-8. */
static char *scalar(const char *v) {
    json_error_t jerr;
    json_t *j = json_loads(v, JSON_DECODE_ANY, &jerr);
    bool is_scalar = j && !json_is_object(j) && !json_is_array(j);
    json_decref(j);
    if (is_scalar)
        return strdup(v);
    json_t *s = json_string(v);
    char *text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    return text;
}

static void doc_query(request_t *rq, store_call_t *c, weft_doc_t *d, const char *coll,
                      const param_t *p, size_t np) {
    weft_doc_match_t m[WEFT_STORE_API_MAX_PARAMS];
    size_t n = 0;
    long limit = limit_param(p, np);
    if (limit < 0) {
        say(c, 400, "limit: expected 1 to %d", WEFT_STORE_MAX_PAGE);
        return;
    }
    bool bad = false;
    for (size_t i = 0; i < np && !bad; i++) {
        if (!strcmp(p[i].name, "after") || !strcmp(p[i].name, "limit"))
            continue;
        m[n].field = p[i].name;
        if (!(m[n].value = scalar(p[i].value))) {
            say(c, 400, "%s: the value is not UTF-8", p[i].name);
            bad = true;
            break;
        }
        n++;
    }
    if (!bad && n > WEFT_DOC_MAX_MATCHES) {
        say(c, 400, "at most %d field=value conditions in one query", WEFT_DOC_MAX_MATCHES);
        bad = true;
    }
    weft_doc_page_t page = {0};
    weft_error_t err = {0};
    int rc =
        bad ? 0 : weft_doc_query(d, coll, m, n, param(p, np, "after"), (size_t)limit, &page, &err);
    for (size_t i = 0; i < n; i++)
        free((char *)m[i].value);
    if (bad)
        return;
    if (rc) {
        fail(c, rc, &err, false);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < page.n; i++) {
        json_error_t jerr;
        json_t *doc = json_loadb(page.items[i].json, page.items[i].len, 0, &jerr);
        json_t *item = doc ? json_pack("{s:s,s:I,s:o}", "id", page.items[i].id, "version",
                                       (json_int_t)page.items[i].version, "doc", doc)
                           : NULL;
        if (!item || json_array_append_new(items, item)) {
            json_decref(items);
            items = NULL;
        }
    }
    json_t *j = items ? json_pack("{s:o,s:b}", "items", items, "more", page.more) : NULL;
    if (j && page.more && page.n)
        json_object_set_new(j, "next", json_string(page.items[page.n - 1].id));
    json_answer(c, 200, j);
    weft_doc_page_free(&page);
    (void)rq;
}

static void doc_call(request_t *rq, store_call_t *c, const char *coll, const char *id,
                     const param_t *p, size_t np) {
    weft_error_t err = {0};
    weft_doc_t *d;
    int rc = weft_services_doc(rq->gw->cfg.services, &d, &err);
    if (rc) {
        fail(c, rc, &err, false);
        return;
    }
    if (!id) {
        if (method(rq, "GET") || method(rq, "HEAD"))
            doc_query(rq, c, d, coll, p, np);
        else
            not_allowed(c, "GET, HEAD", "a collection is queried by GET");
        return;
    }
    if (method(rq, "GET") || method(rq, "HEAD")) {
        char *json = NULL;
        size_t len = 0;
        uint64_t version = 0;
        rc = weft_doc_get(d, coll, id, &json, &len, &version, &err);
        if (rc)
            fail(c, rc, &err, false);
        else if (none_match_hit(rq, version)) {
            c->status = 304;
            set_etag(c, version);
        } else
            bytes_answer(c, "application/json", json, len, version);
        free(json);
        return;
    }
    bool put = method(rq, "PUT");
    if (!put && !method(rq, "DELETE")) {
        not_allowed(c, "GET, HEAD, PUT, DELETE",
                    "a document is read by GET, written by PUT "
                    "and deleted by DELETE");
        return;
    }
    cond_t k;
    if (conditions(rq, c, put, &k))
        return;
    if (put) {
        json_error_t jerr;
        json_t *j = json_loadb((const char *)rq->call.body, rq->call.body_len,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        bool object = json_is_object(j);
        json_decref(j);
        if (!object) {
            if (j)
                say(c, 400, "the body must be a JSON object, not another JSON value");
            else
                say(c, 400, "the body must be a JSON object: %s (line %d, column %d)", jerr.text,
                    jerr.line, jerr.column);
            return;
        }
    }
    uint64_t current = 0;
    rc = weft_doc_get(d, coll, id, NULL, NULL, &current, &err);
    if (rc && rc != WEFT_ENOTFOUND) {
        fail(c, rc, &err, false);
        return;
    }
    if (k.if_any) {
        if (!current) {
            say(c, 412, "If-Match: * but there is no such document");
            return;
        }
        k.if_version = current;
    }
    err = (weft_error_t){0};
    if (!put) {
        rc = weft_doc_delete(d, coll, id, k.if_version, &err);
        if (rc)
            fail(c, rc, &err, k.if_match);
        else
            c->status = 204;
        return;
    }
    weft_doc_put_options_t opts = {.if_version = k.if_version, .if_absent = k.if_absent};
    uint64_t version = 0;
    rc = weft_doc_put(d, coll, id, (const char *)rq->call.body, rq->call.body_len, &opts, &version,
                      &err);
    if (rc)
        fail(c, rc, &err, k.if_match);
    else
        written(c, current != 0, version,
                json_pack("{s:s,s:I}", "id", id, "version", (json_int_t)version));
}

/* ---- /blobs --------------------------------------------------------------------------- */

/* Range (RFC 9110, section 14): 0 when the whole blob is answered (no Range, a unit
 * other than bytes, a malformed one, which is ignored, or several ranges); 1 with
 * [*from, *to] (inclusive); -1 when it cannot be satisfied. */
static int range_parse(const char *v, uint64_t size, uint64_t *from, uint64_t *to) {
    if (!v || strncasecmp(v, "bytes=", 6))
        return 0;
    const char *s = v + 6;
    while (*s == ' ')
        s++;
    if (strchr(s, ','))
        return 0;
    char *end;
    if (*s == '-') {
        if (s[1] < '0' || s[1] > '9')
            return 0;
        unsigned long long n = strtoull(s + 1, &end, 10);
        while (*end == ' ')
            end++;
        if (*end)
            return 0;
        if (!n || !size)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    if (*s < '0' || *s > '9')
        return 0;
    unsigned long long a = strtoull(s, &end, 10), b = UINT64_MAX;
    if (*end++ != '-')
        return 0;
    if (*end >= '0' && *end <= '9')
        b = strtoull(end, &end, 10);
    while (*end == ' ')
        end++;
    if (*end || b < a)
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = b < size - 1 ? b : size - 1;
    return 1;
}

static void http_date(int64_t ms, char out[40]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The next chunk of the blob, into c->body (on a worker). */
static void read_chunk(request_t *rq, store_call_t *c) {
    size_t n = c->left < WEFT_STORE_API_CHUNK ? (size_t)c->left : WEFT_STORE_API_CHUNK;
    c->body.len = 0;
    weft_error_t err = {0};
    size_t got = 0;
    if (weft_buf_reserve(&c->body, n)) {
        c->failed = true;
        weft_log("%s: out of memory while sending a blob", rq->tag);
        return;
    }
    int rc = 0;
    for (size_t part = 1; !rc && got < n && part;) { /* short reads until the chunk is in */
        rc = weft_blob_read(c->reader, c->offset + got, c->body.data + got, n - got, &part, &err);
        got += part;
    }
    if (rc || got != n) {
        c->failed = true;
        weft_log("%s: reading the blob: %s", rq->tag, rc ? err.msg : "it ended early");
        return;
    }
    c->body.len = got;
    c->offset += got;
    c->left -= got;
}

static void blob_get(request_t *rq, store_call_t *c, weft_blob_t *b, const char *container,
                     const char *name) {
    weft_error_t err = {0};
    weft_blob_reader_t *r = NULL;
    weft_blob_meta_t meta;
    int rc = weft_blob_reader_open(b, container, name, &r, &meta, &err);
    if (rc) {
        fail(c, rc, &err, false);
        return;
    }
    set_etag(c, meta.version);
    http_date(meta.mtime_ms, c->last_modified);
    c->accept_ranges = true;
    if (none_match_hit(rq, meta.version)) {
        c->status = 304;
        weft_blob_reader_close(r);
        return;
    }
    snprintf(c->ctype_buf, sizeof c->ctype_buf, "%s", meta.content_type);
    c->ctype = c->ctype_buf;
    uint64_t from = 0, to = 0;
    const char *if_range = header(rq, "if-range");
    int ranged = 0;
    /* If-Range: the range only of the version it names; the whole blob otherwise. */
    if (!if_range || !strcmp(if_range, c->etag))
        ranged = range_parse(header(rq, "range"), meta.size, &from, &to);
    if (ranged < 0) {
        weft_blob_reader_close(r);
        say(c, 416, "the range is not within the blob's %llu bytes", (unsigned long long)meta.size);
        set_etag(c, meta.version);
        snprintf(c->content_range, sizeof c->content_range, "bytes */%llu",
                 (unsigned long long)meta.size);
        return;
    }
    c->status = 200;
    c->offset = 0;
    c->left = meta.size;
    if (ranged) {
        c->status = 206;
        c->offset = from;
        c->left = to - from + 1;
        snprintf(c->content_range, sizeof c->content_range, "bytes %llu-%llu/%llu",
                 (unsigned long long)from, (unsigned long long)to, (unsigned long long)meta.size);
    }
    c->has_length = true;
    c->length = c->left;
    if (c->head || !c->left) {
        weft_blob_reader_close(r);
        c->left = 0;
        return;
    }
    c->reader = r;
    read_chunk(rq, c);
}

static void blob_call(request_t *rq, store_call_t *c, const char *container, const char *name,
                      const param_t *p, size_t np) {
    weft_error_t err = {0};
    weft_blob_t *b;
    int rc = weft_services_blob(rq->gw->cfg.services, &b, &err);
    if (rc) {
        fail(c, rc, &err, false);
        return;
    }
    if (!name) {
        if (!method(rq, "GET") && !method(rq, "HEAD")) {
            not_allowed(c, "GET, HEAD", "a container's blobs are listed by GET");
            return;
        }
        long limit = limit_param(p, np);
        if (limit < 0) {
            say(c, 400, "limit: expected 1 to %d", WEFT_STORE_MAX_PAGE);
            return;
        }
        weft_store_names_t page = {0};
        rc = weft_blob_list(b, container, param(p, np, "prefix"), param(p, np, "after"),
                            (size_t)limit, &page, &err);
        if (rc)
            fail(c, rc, &err, false);
        else
            names_answer(c, "names", &page);
        weft_store_names_free(&page);
        return;
    }
    if (method(rq, "GET") || method(rq, "HEAD")) {
        blob_get(rq, c, b, container, name);
        return;
    }
    bool put = method(rq, "PUT");
    if (!put && !method(rq, "DELETE")) {
        not_allowed(c, "GET, HEAD, PUT, DELETE",
                    "a blob is read by GET, written by PUT and "
                    "deleted by DELETE");
        return;
    }
    cond_t k;
    if (conditions(rq, c, put, &k))
        return;
    weft_blob_meta_t meta = {0};
    rc = weft_blob_stat(b, container, name, &meta, &err);
    if (rc && rc != WEFT_ENOTFOUND) {
        fail(c, rc, &err, false);
        return;
    }
    uint64_t current = rc ? 0 : meta.version;
    if (k.if_any) {
        if (!current) {
            say(c, 412, "If-Match: * but there is no such blob");
            return;
        }
        k.if_version = current;
    }
    err = (weft_error_t){0};
    if (!put) {
        rc = weft_blob_delete(b, container, name, k.if_version, &err);
        if (rc)
            fail(c, rc, &err, k.if_match);
        else
            c->status = 204;
        return;
    }
    weft_blob_put_options_t opts = {.if_version = k.if_version, .if_absent = k.if_absent};
    weft_blob_writer_t *w = NULL;
    rc = weft_blob_writer_open(b, container, name, header(rq, "content-type"), &opts, &w, &err);
    const uint8_t *data = rq->call.body;
    for (size_t at = 0; !rc && at < rq->call.body_len; at += WEFT_STORE_API_CHUNK) {
        size_t n = rq->call.body_len - at;
        rc = weft_blob_write(w, data + at, n < WEFT_STORE_API_CHUNK ? n : WEFT_STORE_API_CHUNK,
                             &err);
    }
    if (!rc) {
        rc = weft_blob_writer_commit(w, &meta, &err);
        w = NULL;
    }
    weft_blob_writer_abort(w);
    if (rc)
        fail(c, rc, &err, k.if_match);
    else
        written(c, current != 0, meta.version,
                json_pack("{s:s,s:I,s:s,s:s,s:I}", "name", name, "size", (json_int_t)meta.size,
                          "content_type", meta.content_type, "sha256", meta.sha256, "version",
                          (json_int_t)meta.version));
}

/* ---- The call ------------------------------------------------------------------------- */

static void call(request_t *rq, store_call_t *c) {
    const char *prefix = rq->kind == HANDLER_KV      ? "/kv"
                         : rq->kind == HANDLER_BLOBS ? "/blobs"
                                                     : "/docs";
    const char *what = rq->kind == HANDLER_KV      ? "/kv/STORE/KEY"
                       : rq->kind == HANDLER_BLOBS ? "/blobs/CONTAINER/NAME"
                                                   : "/docs/COLLECTION/ID";
    c->head = method(rq, "HEAD");
    const char *rest = rq->call.path + strlen(prefix);
    if (*rest == '/')
        rest++;
    if (!*rest) {
        say(c, 404, "name one: %s", what);
        return;
    }
    const char *slash = strchr(rest, '/');
    size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
    char *name = decode(rest, nlen, false);
    char *item = slash && slash[1] ? decode(slash + 1, strlen(slash + 1), false) : NULL;
    param_t p[WEFT_STORE_API_MAX_PARAMS];
    size_t np = 0;
    if (!name || (slash && slash[1] && !item))
        say(c, 400, "the path has a '%%' not followed by two hexadecimal digits, or a %%00");
    else if (params_parse(rq->call.query, p, WEFT_STORE_API_MAX_PARAMS, &np))
        say(c, 400, "the query has a bad '%%' escape or more than %d items",
            WEFT_STORE_API_MAX_PARAMS);
    else if (rq->kind == HANDLER_KV)
        kv_call(rq, c, name, item, p, np);
    else if (rq->kind == HANDLER_BLOBS)
        blob_call(rq, c, name, item, p, np);
    else
        doc_call(rq, c, name, item, p, np);
    params_free(p, np);
    free(name);
    free(item);
}

void weft_store_api_run(request_t *rq) {
    store_call_t *c = rq->store;
    if (c) { /* a blob streaming: its next chunk */
        read_chunk(rq, c);
        return;
    }
    if (!(c = calloc(1, sizeof *c)))
        return; /* answered 503 on the I/O thread */
    c->rq = rq;
    rq->store = c;
    call(rq, c);
    /* The request's copy is no longer needed: a PUT's body can be large. */
    weft_buf_free(&rq->body);
    rq->call.body = NULL;
    rq->call.body_len = 0;
}

/* ---- On the I/O thread ---------------------------------------------------------------- */

static void add_header(h2o_req_t *req, const h2o_token_t *t, const char *v) {
    if (v && *v)
        h2o_add_header(&req->pool, &req->res.headers, t, NULL, v, strlen(v));
}

static void put_head(store_call_t *c, h2o_req_t *req) {
    if (atomic_load(&c->rq->gw->stopping))
        req->http1_is_persistent = 0;
    req->res.status = (int)c->status;
    req->res.reason = weft_http_reason(c->status);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, c->status == 304 ? NULL : c->ctype);
    add_header(req, H2O_TOKEN_ETAG, c->etag);
    add_header(req, H2O_TOKEN_LAST_MODIFIED, c->last_modified);
    add_header(req, H2O_TOKEN_CONTENT_RANGE, c->content_range);
    add_header(req, H2O_TOKEN_ALLOW, c->allow);
    if (c->accept_ranges)
        add_header(req, H2O_TOKEN_ACCEPT_RANGES, "bytes");
    if (c->ctype && !strncmp(c->ctype, "text/plain", 10))
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"),
                              0, NULL, H2O_STRLIT("nosniff"));
}

/* Sends the chunk in c->body; false when the response is over (the caller frees rq). */
static bool send_chunk(store_call_t *c) {
    request_t *rq = c->rq;
    h2o_req_t *req = rq->req;
    if (c->failed) {
        *rq->req_link = NULL;
        rq->req = NULL;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return false;
    }
    bool last = !c->left;
    h2o_iovec_t buf = h2o_iovec_init(c->body.data, c->body.len);
    if (last) {
        /* h2o may hold the bytes past this call (TLS encrypts them when the socket can
         * take them), and after the last chunk nothing tells when it is done with them:
         * the request's pool keeps a copy until h2o frees the request. rq goes now. */
        buf.base = h2o_mem_alloc_pool(&req->pool, c->body.len ? c->body.len : 1);
        memcpy(buf.base, c->body.data, c->body.len);
        *rq->req_link = NULL;
        rq->req = NULL;
    }
    c->in_send = true;
    h2o_send(req, &buf, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    c->in_send = false;
    if (last)
        return false;
    /* Stopped from within the send: freed here unless a read is under way. */
    return !c->stopped || c->busy;
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req) {
    (void)req;
    store_call_t *c = H2O_STRUCT_FROM_MEMBER(store_call_t, gen, gen);
    c->busy = true;
    if (weft_pool_submit(&c->rq->gw->pool, c->rq)) {
        c->busy = false;
        c->failed = true;
        if (!send_chunk(c) && !c->in_send)
            weft_gateway_request_done(c->rq);
    }
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req) {
    (void)req;
    store_call_t *c = H2O_STRUCT_FROM_MEMBER(store_call_t, gen, gen);
    request_t *rq = c->rq;
    c->stopped = true;
    if (rq->req) {
        *rq->req_link = NULL;
        rq->req = NULL;
    }
    if (!c->busy && !c->in_send)
        weft_gateway_request_done(rq);
}

bool weft_store_api_answer(request_t *rq) {
    store_call_t *c = rq->store;
    h2o_req_t *req = rq->req;
    if (c && c->streaming) { /* a chunk read */
        c->busy = false;
        if (c->stopped || !req)
            return false;
        return send_chunk(c);
    }
    if (!req)
        return false;
    if (!c) {
        *rq->req_link = NULL;
        weft_gateway_answer_text(rq->gw, req, 503, "out of memory");
        return false;
    }
    put_head(c, req);
    if (c->reader && c->left + c->body.len > 0 && !c->head) {
        /* A blob's body: this chunk, the rest as h2o asks for it. */
        req->res.content_length = c->length;
        c->streaming = true;
        c->gen.proceed = on_proceed;
        c->gen.stop = on_stop;
        h2o_start_response(req, &c->gen);
        return send_chunk(c);
    }
    *rq->req_link = NULL;
    if (c->status == 304 || c->status == 204) {
        h2o_send_inline(req, "", 0);
        return false;
    }
    if (c->has_length) { /* HEAD of a blob, or an empty one */
        req->res.content_length = c->length;
        h2o_send_inline(req, "", 0);
        return false;
    }
    req->res.content_length = c->body.len;
    h2o_send_inline(req, c->body.len ? (const char *)c->body.data : "", c->body.len);
    return false;
}

void weft_store_api_free(store_call_t *c) {
    if (!c)
        return;
    weft_blob_reader_close(c->reader);
    weft_buf_free(&c->body);
    free(c);
}
