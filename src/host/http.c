/* http: the wasi_experimental_http functions, one invocation's responses, and the
 * requests themselves (libcurl).
 *
 * The ABI is that of the deislabs wasi-experimental-http crate (witx/
 * wasi_experimental_http.witx and its wasmtime host, which WAGI embeds):
 *
 *   req(url, url_len, method, method_len, headers, headers_len, body, body_len,
 *       status_ptr, handle_ptr)                  status as u16, handle as u32
 *   close(handle)
 *   body_read(handle, buf, buf_len, written_ptr)  0 bytes written: end of body
 *   header_get(handle, name, name_len, buf, buf_len, written_ptr)
 *   headers_get_all(handle, buf, buf_len, written_ptr)
 *
 * Header blocks, in both directions, are lines "name:value\n"; response header names
 * are lower case, as the crate's HeaderMap gives them. A request completes inside req:
 * status, headers and the whole body (up to WEFT_HTTP_MAX_BODY_BYTES) are kept under
 * the handle until close or the end of the invocation.
 *
 * Where weft differs from WAGI's host, on purpose:
 *  - a guest pointer out of bounds is always MemoryAccessError (3); WAGI answers
 *    BufferTooSmall for some of them;
 *  - every pointer is checked before the request is sent, so a request whose result
 *    could not be handed back is never made;
 *  - redirects are followed as reqwest does, but each hop must be allowed too (WAGI's
 *    reqwest followed them anywhere); a denied hop is DestinationNotAllowed;
 *  - handles are never reused within an invocation, so a stale handle is
 *    InvalidHandle rather than another response; closing an unknown handle is
 *    InvalidHandle too (WAGI ignores it);
 *  - a guest's Content-Length and Transfer-Encoding headers are dropped: libcurl frames
 *    the body it is given, and a guest cannot make the framing lie.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Longest method name a guest may pass. */
#define WEFT_HTTP_MAX_METHOD 64u
/* Longest URL shown in a log line. */
#define WEFT_HTTP_LOG_URL 512u

typedef struct response {
    uint32_t handle;
    uint16_t status;
    weft_buf_t headers; /* "name:value\n" lines, the block headers_get_all returns */
    weft_buf_t body;
    size_t pos; /* how much of body the guest has read */
} response_t;

struct weft_host {
    const weft_host_policy_t *policy; /* borrowed; NULL denies all */
    uint32_t max_handles;
    uint32_t next_handle;
    response_t **open;
    size_t nopen, cap;
    CURL *curl;            /* made at the first request; keeps connections for the next ones */
    weft_api_state_t *api; /* the services' handles, made at the first call (api.c) */
    bool trial;            /* weft_host_trial */
    bool trial_wrote;      /* a write stopped the trial */
};

void weft_host_trial(weft_host_t *h, bool on) {
    h->trial = on;
}

bool weft_host_trial_wrote(const weft_host_t *h) {
    return h->trial_wrote;
}

bool weft_host_trial_write(weft_host_t *h) {
    if (h->trial)
        h->trial_wrote = true;
    return h->trial;
}

const weft_host_policy_t *weft_host_policy(weft_host_t *h) {
    return h->policy;
}

weft_api_state_t **weft_host_api_state(weft_host_t *h) {
    return &h->api;
}

static const weft_import_def_t imports[] = {
#define WEFT_HTTP_IMPORT_(name, sig, params) {"wasi_experimental_http", #name, sig},
    WEFT_HTTP_FUNCTIONS(WEFT_HTTP_IMPORT_)
#undef WEFT_HTTP_IMPORT_
};

const weft_import_def_t *weft_host_imports(size_t *n) {
    *n = sizeof imports / sizeof imports[0];
    return imports;
}

const char *weft_http_error_text(uint32_t code) {
    switch (code) {
#define WEFT_HTTP_ERR_TEXT_(name, value, text)                                                     \
    case value:                                                                                    \
        return text;
        WEFT_HTTP_ERRORS(WEFT_HTTP_ERR_TEXT_)
#undef WEFT_HTTP_ERR_TEXT_
    }
    return "unknown error";
}

/* ---- The invocation's state ------------------------------------------------------ */

int weft_host_create(const weft_host_policy_t *policy, weft_host_t **out, weft_error_t *err) {
    weft_host_t *h = calloc(1, sizeof *h);
    if (!h)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory for the guest's host state");
    h->policy = policy;
    h->max_handles =
        policy && policy->max_concurrency ? policy->max_concurrency : WEFT_HTTP_DEFAULT_MAX_HANDLES;
    h->next_handle = 1;
    *out = h;
    return 0;
}

static void response_free(response_t *r) {
    weft_buf_free(&r->headers);
    weft_buf_free(&r->body);
    free(r);
}

void weft_host_destroy(weft_host_t *h) {
    if (!h)
        return;
    for (size_t i = 0; i < h->nopen; i++)
        response_free(h->open[i]);
    free(h->open);
    weft_api_state_free(h->api);
    if (h->curl) {
        /* The handle still points at the last request's buffers, which are gone. */
        curl_easy_reset(h->curl);
        curl_easy_cleanup(h->curl);
    }
    free(h);
}

static response_t *find(weft_host_t *h, uint32_t handle, size_t *index) {
    for (size_t i = 0; h && i < h->nopen; i++)
        if (h->open[i]->handle == handle) {
            if (index)
                *index = i;
            return h->open[i];
        }
    return NULL;
}

/* ---- Checks on what the guest passes --------------------------------------------- */

/* RFC 9110 tchar: what a method or a header name is made of. */
static bool is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n) {
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* A field value: visible ASCII, space, tab and obs-text; no CR, LF, NUL or controls. */
static bool is_field_value(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Copies guest bytes into a NUL-terminated host string (so that the guest cannot change
 * them under us, and libcurl gets a C string). */
static char *copy_str(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* The URL as it may appear in a log line: cut short, anything unprintable escaped, so
 * a guest cannot forge log lines. */
static void log_url(char *out, size_t size, const char *url, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)url[i];
        if (i == WEFT_HTTP_LOG_URL) {
            o += (size_t)snprintf(out + o, size - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o < size ? o : size - 1] = 0;
}

static const char *tag_of(const weft_host_t *h) {
    return h && h->policy && h->policy->log_tag ? h->policy->log_tag : "guest";
}

/* Outbound requests by outcome (util.h's metrics registry): answered (whatever the
 * status), refused by allowed_hosts (the first hop or a redirect), or failed (network
 * error, timeout, too many redirects). */
#define WEFT_OUTBOUND_METRIC(outcome)                                                              \
    {                                                                                              \
        .name = "weft_outbound_http_requests_total",                                               \
        .help = "Outbound HTTP requests of guests: allowed (answered), denied, failed",            \
        .type = WEFT_METRIC_COUNTER, .labels = "outcome=\"" outcome "\""                           \
    }
static weft_metric_t m_allowed = WEFT_OUTBOUND_METRIC("allowed");
static weft_metric_t m_denied = WEFT_OUTBOUND_METRIC("denied");
static weft_metric_t m_failed = WEFT_OUTBOUND_METRIC("failed");

static void count_outbound(weft_metric_t *m) {
    weft_metric_register(&m_allowed);
    weft_metric_register(&m_denied);
    weft_metric_register(&m_failed);
    weft_metric_add(m, 1);
}

static void log_denied(const weft_host_t *h, const char *what, const char *url) {
    count_outbound(&m_denied);
    char shown[4 * WEFT_HTTP_LOG_URL + 8];
    log_url(shown, sizeof shown, url, strlen(url));
    weft_log("%s: outbound HTTP %s %s denied: not in allowed_hosts", tag_of(h), what, shown);
}

/* ---- Request headers ------------------------------------------------------------- */

typedef struct header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} header_t;

typedef struct headers {
    header_t *v;
    size_t n;
} headers_t;

/* Splits the guest's "name:value\n" block (a host copy; borrowed by the result) into
 * headers. Empty lines are skipped, a CR before the LF is allowed and spaces around
 * the value are dropped. Returns WEFT_HTTP_INVALID_ENCODING for a line that is not a
 * header. */
static uint32_t headers_parse(const char *block, size_t len, headers_t *out) {
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += block[i] == '\n';
    out->v = calloc(lines, sizeof *out->v);
    out->n = 0;
    if (!out->v)
        return WEFT_HTTP_RUNTIME_ERROR;
    const char *p = block, *end = block + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) {
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon || !is_token(p, (size_t)(colon - p)))
            return WEFT_HTTP_INVALID_ENCODING;
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (!is_field_value(v, (size_t)(ve - v)))
            return WEFT_HTTP_INVALID_ENCODING;
        out->v[out->n++] = (header_t){p, (size_t)(colon - p), v, (size_t)(ve - v)};
        p = next;
    }
    return WEFT_HTTP_SUCCESS;
}

static bool name_is(const header_t *h, const char *name) {
    return strlen(name) == h->name_len && strncasecmp(h->name, name, h->name_len) == 0;
}

/* The curl list for one hop. drop_credentials: the hop goes to another host, which
 * does not get the guest's Authorization or Cookie (as reqwest does). */
static struct curl_slist *headers_to_curl(const headers_t *hs, bool drop_credentials, bool *ok) {
    struct curl_slist *list = NULL;
    bool has_expect = false, has_type = false;
    *ok = false;
    for (size_t i = 0; i < hs->n; i++) {
        const header_t *h = &hs->v[i];
        if (name_is(h, "content-length") || name_is(h, "transfer-encoding"))
            continue;
        if (drop_credentials && (name_is(h, "authorization") || name_is(h, "cookie") ||
                                 name_is(h, "proxy-authorization")))
            continue;
        has_expect |= name_is(h, "expect");
        has_type |= name_is(h, "content-type");
        /* "Name: value"; an empty value is spelled "Name;" for libcurl, for whom
         * "Name:" means "do not send Name". */
        size_t n = h->name_len + h->value_len + 3;
        char *line = malloc(n);
        if (!line)
            goto fail;
        if (h->value_len)
            snprintf(line, n, "%.*s: %.*s", (int)h->name_len, h->name, (int)h->value_len, h->value);
        else
            snprintf(line, n, "%.*s;", (int)h->name_len, h->name);
        struct curl_slist *l = curl_slist_append(list, line);
        free(line);
        if (!l)
            goto fail;
        list = l;
    }
    /* Only what the guest asked for: no "Expect: 100-continue" round trip for large
     * bodies, no form content type that libcurl would add to a body. */
    if (!has_expect) {
        struct curl_slist *l = curl_slist_append(list, "Expect:");
        if (!l)
            goto fail;
        list = l;
    }
    if (!has_type) {
        struct curl_slist *l = curl_slist_append(list, "Content-Type:");
        if (!l)
            goto fail;
        list = l;
    }
    *ok = true;
    return list;
fail:
    curl_slist_free_all(list);
    return NULL;
}

/* ---- One transfer ---------------------------------------------------------------- */

typedef struct transfer {
    response_t *res;
    const char *too_big; /* what a bound stopped the transfer for: "response body" */
    size_t limit;        /* and the bound */
} transfer_t;

static size_t on_header(char *buf, size_t size, size_t n, void *arg) {
    transfer_t *x = arg;
    size_t len = size * n;
    const char *p = buf, *e = buf + len;
    while (e > p && (e[-1] == '\n' || e[-1] == '\r'))
        e--;
    if (e - p >= 5 && !memcmp(p, "HTTP/", 5)) {
        /* A status line starts a response: a 1xx or a proxy's answer came before. */
        x->res->headers.len = 0;
        if (x->res->headers.data)
            x->res->headers.data[0] = 0;
        return len;
    }
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (!colon || !is_token(p, (size_t)(colon - p)))
        return len; /* the blank line, or a line that is no header: dropped */
    const char *v = colon + 1, *ve = e;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (!is_field_value(v, (size_t)(ve - v)))
        return len;
    size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
    weft_buf_t *b = &x->res->headers;
    if (b->len + nl + vl + 2 > WEFT_HTTP_MAX_HEADER_BYTES) {
        x->too_big = "response headers";
        x->limit = WEFT_HTTP_MAX_HEADER_BYTES;
        return 0;
    }
    if (weft_buf_reserve(b, nl + vl + 2))
        return 0;
    for (size_t i = 0; i < nl; i++)
        b->data[b->len++] = (uint8_t)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    b->data[b->len++] = ':';
    memcpy(b->data + b->len, v, vl);
    b->len += vl;
    b->data[b->len++] = '\n';
    b->data[b->len] = 0;
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg) {
    transfer_t *x = arg;
    size_t len = size * n;
    if (x->res->body.len + len > WEFT_HTTP_MAX_BODY_BYTES) {
        x->too_big = "response body";
        x->limit = WEFT_HTTP_MAX_BODY_BYTES;
        return 0;
    }
    return weft_buf_append(&x->res->body, buf, len) ? 0 : len;
}

/* Stops the transfer once the invocation's deadline has passed; the engine then ends
 * the guest as soon as it runs again. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)arg, (void)dt, (void)dn, (void)ut, (void)un;
    return weft_deadline_expired() ? 1 : 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What one hop sends. */
typedef struct hop {
    weft_http_target_t target;
    const char *method;
    const void *body; /* borrowed from guest memory for the length of req */
    size_t body_len;
    bool send_body;
    bool drop_credentials;
} hop_t;

/* Makes one request (no redirects) into x->res. Returns a WEFT_HTTP_* code; curl's
 * message for a failure in errbuf. */
static uint32_t perform(CURL *c, const hop_t *hop, const headers_t *hs, long timeout_ms,
                        transfer_t *x, char *errbuf) {
    bool ok;
    struct curl_slist *list = headers_to_curl(hs, hop->drop_credentials, &ok);
    if (!ok)
        return WEFT_HTTP_RUNTIME_ERROR;
    curl_easy_reset(c);
    errbuf[0] = 0;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CURLU, hop->target.url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < WEFT_HTTP_CONNECT_TIMEOUT_MS ? timeout_ms
                                                               : WEFT_HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WEFT_HTTP_MAX_BODY_BYTES);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (!strcmp(hop->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (hop->send_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)hop->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, hop->body_len ? hop->body : "");
        if (strcmp(hop->method, "POST"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, hop->method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (strcmp(hop->method, "GET"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, hop->method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    if (rc == CURLE_FILESIZE_EXCEEDED && !x->too_big) {
        x->too_big = "response body";
        x->limit = WEFT_HTTP_MAX_BODY_BYTES;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(errbuf, CURL_ERROR_SIZE, "the invocation's deadline passed");
    else if (x->too_big)
        snprintf(errbuf, CURL_ERROR_SIZE, "%s larger than weft keeps (%zu bytes)", x->too_big,
                 x->limit);
    else if (rc != CURLE_OK && !errbuf[0])
        snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
    if (rc == CURLE_OUT_OF_MEMORY)
        return WEFT_HTTP_RUNTIME_ERROR;
    return rc == CURLE_OK ? WEFT_HTTP_SUCCESS : WEFT_HTTP_REQUEST_ERROR;
}

static bool is_redirect(long status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Sends the request, following redirects that the policy allows, into res. Takes
 * ownership of hop->target.url. Failures are logged with url, the guest's URL. */
static uint32_t request(weft_host_t *h, hop_t *hop, const headers_t *hs, response_t *res,
                        const char *url) {
    char errbuf[CURL_ERROR_SIZE] = "";
    uint32_t rc = WEFT_HTTP_RUNTIME_ERROR;
    uint64_t start = weft_now_ns();
    if (!h->curl && !(h->curl = curl_easy_init()))
        goto out;
    for (int redirects = 0;; redirects++) {
        uint64_t spent_ms = (weft_now_ns() - start) / 1000000u;
        if (spent_ms >= (uint64_t)WEFT_HTTP_TIMEOUT_MS) {
            snprintf(errbuf, sizeof errbuf, "timed out after %ld ms", WEFT_HTTP_TIMEOUT_MS);
            rc = WEFT_HTTP_REQUEST_ERROR;
            break;
        }
        res->headers.len = res->body.len = 0;
        transfer_t x = {.res = res};
        rc = perform(h->curl, hop, hs, WEFT_HTTP_TIMEOUT_MS - (long)spent_ms, &x, errbuf);
        if (rc)
            break;
        long status = 0;
        char *location = NULL;
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
        res->status = (uint16_t)status;
        if (!is_redirect(status) ||
            curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &location) != CURLE_OK || !location)
            break;
        if (redirects == WEFT_HTTP_MAX_REDIRECTS) {
            snprintf(errbuf, sizeof errbuf, "more than %d redirects", WEFT_HTTP_MAX_REDIRECTS);
            rc = WEFT_HTTP_REQUEST_ERROR;
            break;
        }
        weft_http_target_t next;
        rc = weft_http_target_parse(location, strlen(location), &next);
        if (rc) {
            snprintf(errbuf, sizeof errbuf, "redirected to a URL weft does not follow");
            rc = rc == WEFT_HTTP_INVALID_URL ? WEFT_HTTP_REQUEST_ERROR : rc;
            break;
        }
        if (!weft_http_policy_allows(h->policy, &next)) {
            log_denied(h, "redirect to", location);
            curl_url_cleanup(next.url);
            rc = WEFT_HTTP_DESTINATION_NOT_ALLOWED;
            break;
        }
        /* As browsers and reqwest do: 301, 302 and 303 turn into a GET without a body
         * (HEAD stays HEAD); 307 and 308 repeat the request as it was. */
        if (status <= 303) {
            if (strcmp(hop->method, "HEAD"))
                hop->method = "GET";
            hop->send_body = false;
        }
        hop->drop_credentials |= strcmp(next.host, hop->target.host) != 0;
        curl_url_cleanup(hop->target.url);
        hop->target = next;
    }
out:
    if (rc == WEFT_HTTP_SUCCESS)
        count_outbound(&m_allowed);
    else if (rc != WEFT_HTTP_DESTINATION_NOT_ALLOWED) /* counted as denied */
        count_outbound(&m_failed);
    if (rc == WEFT_HTTP_REQUEST_ERROR || rc == WEFT_HTTP_RUNTIME_ERROR) {
        char shown[4 * WEFT_HTTP_LOG_URL + 8];
        log_url(shown, sizeof shown, url, strlen(url));
        weft_log("%s: outbound HTTP %s %s failed: %s", tag_of(h), hop->method, shown,
                 errbuf[0] ? errbuf : "out of memory");
    }
    curl_url_cleanup(hop->target.url);
    return rc;
}

/* ---- The host functions ---------------------------------------------------------- */

uint32_t Z_wasi_experimental_httpZ_req(weft_guest_t *g, uint32_t url, uint32_t url_len,
                                       uint32_t method, uint32_t method_len, uint32_t headers,
                                       uint32_t headers_len, uint32_t body, uint32_t body_len,
                                       uint32_t status_ptr, uint32_t handle_ptr) {
    weft_host_t *h = g->host;
    if (!g->memory)
        return WEFT_HTTP_MEMORY_NOT_FOUND;
    if (!weft_guest_check(g, url, url_len) || !weft_guest_check(g, method, method_len) ||
        !weft_guest_check(g, headers, headers_len) || !weft_guest_check(g, body, body_len) ||
        !weft_guest_check(g, status_ptr, 2) || !weft_guest_check(g, handle_ptr, 4))
        return WEFT_HTTP_MEMORY_ACCESS_ERROR;
    if (h && h->nopen >= h->max_handles)
        return WEFT_HTTP_TOO_MANY_SESSIONS;
    if (h && h->next_handle == 0)
        return WEFT_HTTP_TOO_MANY_SESSIONS; /* 2^32 handles used: never reused */

    const uint8_t *url_p = weft_guest_ptr(g, url, url_len);
    const uint8_t *method_p = weft_guest_ptr(g, method, method_len);
    const uint8_t *headers_p = weft_guest_ptr(g, headers, headers_len);
    if (!weft_utf8_valid(url_p, url_len) || !weft_utf8_valid(method_p, method_len) ||
        !weft_utf8_valid(headers_p, headers_len))
        return WEFT_HTTP_UTF8_ERROR;
    if (url_len > WEFT_HTTP_MAX_URL_BYTES || (url_len && memchr(url_p, 0, url_len)))
        return WEFT_HTTP_INVALID_URL;
    if (method_len > WEFT_HTTP_MAX_METHOD || !is_token((const char *)method_p, method_len))
        return WEFT_HTTP_INVALID_METHOD;
    if (headers_len > WEFT_HTTP_MAX_HEADER_BYTES)
        return WEFT_HTTP_INVALID_ENCODING;

    if (!h)
        return WEFT_HTTP_DESTINATION_NOT_ALLOWED; /* no policy: nothing is allowed */
    uint32_t rc = WEFT_HTTP_RUNTIME_ERROR;
    char *url_s = copy_str(url_p, url_len);
    char *method_s = copy_str(method_p, method_len);
    char *headers_s = copy_str(headers_p, headers_len);
    response_t *res = NULL;
    if (!url_s || !method_s || !headers_s)
        goto out;
    if (h->nopen == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4;
        response_t **v = realloc(h->open, cap * sizeof *v);
        if (!v)
            goto out;
        h->open = v;
        h->cap = cap;
    }
    if (!(res = calloc(1, sizeof *res)))
        goto out;
    bool send_body = body_len > 0 || !strcmp(method_s, "POST") || !strcmp(method_s, "PUT") ||
                     !strcmp(method_s, "PATCH");
    rc = weft_http_send(h, method_s, url_s, headers_s, headers_len,
                        weft_guest_ptr(g, body, body_len), body_len, send_body, &res->status,
                        &res->headers, &res->body);
    if (rc)
        goto out;
    res->handle = h->next_handle++;
    h->open[h->nopen++] = res;
    uint16_t status = res->status;
    memcpy(weft_guest_ptr(g, status_ptr, 2), &status, 2);
    memcpy(weft_guest_ptr(g, handle_ptr, 4), &res->handle, 4);
    res = NULL;
out:
    if (res)
        response_free(res);
    free(url_s);
    free(method_s);
    free(headers_s);
    return rc;
}

uint32_t weft_http_send(weft_host_t *h, const char *method, const char *url, const char *headers,
                        size_t headers_len, const void *body, size_t body_len, bool send_body,
                        uint16_t *status, weft_buf_t *rh, weft_buf_t *rb) {
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return WEFT_HTTP_RUNTIME_ERROR;
    hop_t hop = {.method = method, .body = body, .body_len = body_len, .send_body = send_body};
    uint32_t rc = weft_http_target_parse(url, strlen(url), &hop.target);
    if (rc)
        return rc;
    if (!h || !weft_http_policy_allows(h->policy, &hop.target)) {
        log_denied(h, "request to", url);
        curl_url_cleanup(hop.target.url);
        return WEFT_HTTP_DESTINATION_NOT_ALLOWED;
    }
    headers_t hs = {0};
    rc = headers_parse(headers, headers_len, &hs);
    if (rc) {
        free(hs.v);
        curl_url_cleanup(hop.target.url);
        return rc;
    }
    response_t res = {0};
    rc = request(h, &hop, &hs, &res, url); /* takes the target's URL */
    free(hs.v);
    if (rc) {
        weft_buf_free(&res.headers);
        weft_buf_free(&res.body);
        return rc;
    }
    *status = res.status;
    *rh = res.headers;
    *rb = res.body;
    return WEFT_HTTP_SUCCESS;
}

uint32_t Z_wasi_experimental_httpZ_close(weft_guest_t *g, uint32_t handle) {
    weft_host_t *h = g->host;
    size_t i;
    response_t *r = find(h, handle, &i);
    if (!r)
        return WEFT_HTTP_INVALID_HANDLE;
    response_free(r);
    h->open[i] = h->open[--h->nopen];
    return WEFT_HTTP_SUCCESS;
}

/* The start of the calls that copy out of a response (body_read, header_get,
 * headers_get_all): the handle, the guest's memory, its output buffer and the place for
 * the count written. */
static uint32_t response_out(weft_guest_t *g, uint32_t handle, uint32_t buf, uint32_t buf_len,
                             uint32_t written_ptr, response_t **out) {
    *out = find(g->host, handle, NULL);
    if (!*out)
        return WEFT_HTTP_INVALID_HANDLE;
    if (!g->memory)
        return WEFT_HTTP_MEMORY_NOT_FOUND;
    if (!weft_guest_check(g, buf, buf_len) || !weft_guest_check(g, written_ptr, 4))
        return WEFT_HTTP_MEMORY_ACCESS_ERROR;
    return WEFT_HTTP_SUCCESS;
}

uint32_t Z_wasi_experimental_httpZ_body_read(weft_guest_t *g, uint32_t handle, uint32_t buf,
                                             uint32_t buf_len, uint32_t written_ptr) {
    response_t *r;
    uint32_t rc = response_out(g, handle, buf, buf_len, written_ptr, &r);
    if (rc)
        return rc;
    size_t left = r->body.len - r->pos;
    uint32_t n = left < buf_len ? (uint32_t)left : buf_len;
    if (n)
        memcpy(weft_guest_ptr(g, buf, n), r->body.data + r->pos, n);
    r->pos += n;
    memcpy(weft_guest_ptr(g, written_ptr, 4), &n, 4);
    return WEFT_HTTP_SUCCESS;
}

uint32_t Z_wasi_experimental_httpZ_header_get(weft_guest_t *g, uint32_t handle, uint32_t name,
                                              uint32_t name_len, uint32_t buf, uint32_t buf_len,
                                              uint32_t written_ptr) {
    response_t *r;
    uint32_t rc = response_out(g, handle, buf, buf_len, written_ptr, &r);
    if (rc)
        return rc;
    if (!weft_guest_check(g, name, name_len))
        return WEFT_HTTP_MEMORY_ACCESS_ERROR;
    const char *want = weft_guest_ptr(g, name, name_len);
    if (!weft_utf8_valid((const uint8_t *)want, name_len))
        return WEFT_HTTP_UTF8_ERROR;
    if (!r->headers.len)
        return WEFT_HTTP_HEADER_NOT_FOUND;
    /* The first line whose name matches, as HeaderMap::get answers. */
    const char *p = (const char *)r->headers.data, *end = p + r->headers.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(nl - p));
        if ((size_t)(colon - p) == name_len && strncasecmp(p, want, name_len) == 0) {
            uint32_t n = (uint32_t)(nl - colon - 1);
            if (n > buf_len)
                return WEFT_HTTP_BUFFER_TOO_SMALL;
            if (n)
                memmove(weft_guest_ptr(g, buf, n), colon + 1, n);
            memcpy(weft_guest_ptr(g, written_ptr, 4), &n, 4);
            return WEFT_HTTP_SUCCESS;
        }
        p = nl + 1;
    }
    return WEFT_HTTP_HEADER_NOT_FOUND;
}

uint32_t Z_wasi_experimental_httpZ_headers_get_all(weft_guest_t *g, uint32_t handle, uint32_t buf,
                                                   uint32_t buf_len, uint32_t written_ptr) {
    response_t *r;
    uint32_t rc = response_out(g, handle, buf, buf_len, written_ptr, &r);
    if (rc)
        return rc;
    if (r->headers.len > buf_len)
        return WEFT_HTTP_BUFFER_TOO_SMALL;
    uint32_t n = (uint32_t)r->headers.len;
    if (n)
        memcpy(weft_guest_ptr(g, buf, n), r->headers.data, n);
    memcpy(weft_guest_ptr(g, written_ptr, 4), &n, 4);
    return WEFT_HTTP_SUCCESS;
}
