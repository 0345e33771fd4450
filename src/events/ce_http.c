/* CloudEvents over HTTP (codec.h): which mode a message is in, binary mode's headers
 * both ways, and the JSON modes through ce_json.c. Nothing here knows h2o or libcurl:
 * a message is a list of (name, value) slices and a body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

/* What Content-Type says of a message. */
typedef enum {
    CT_NONE = 0,    /* absent, or any other media type: binary mode if ce-specversion */
    CT_STRUCTURED,  /* application/cloudevents+json */
    CT_BATCH,       /* application/cloudevents-batch+json */
    CT_UNSUPPORTED, /* application/cloudevents+<another format>, or a charset not UTF-8 */
} content_kind_t;

static bool name_is(const weft_ce_header_t *h, const char *name) {
    size_t n = strlen(name);
    return h->name_len == n && !strncasecmp(h->name, name, n);
}

static bool is_ce_header(const weft_ce_header_t *h) {
    return h->name_len > 3 && !strncasecmp(h->name, "ce-", 3);
}

static void trim(const char **s, size_t *n) {
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The kind of a Content-Type value; *why says what is unsupported. The binding:
 * "prefixed with application/cloudevents" is structured, "application/cloudevents-batch"
 * batched, anything else binary. */
static content_kind_t content_kind(const char *v, size_t n, char *why, size_t why_size) {
    trim(&v, &n);
    weft_ce_media_type_t mt;
    if (!weft_ce_media_type_parse(v, n, &mt) || mt.type_len != 11 ||
        strncasecmp(mt.type, "application", 11))
        return CT_NONE;
    const char *sub = mt.subtype;
    size_t sl = mt.subtype_len;
    content_kind_t kind;
    size_t base;
    if (sl >= 17 && !strncasecmp(sub, "cloudevents-batch", 17))
        kind = CT_BATCH, base = 17;
    else if (sl >= 11 && !strncasecmp(sub, "cloudevents", 11))
        kind = CT_STRUCTURED, base = 11;
    else
        return CT_NONE;
    if (sl != base + 5 || strncasecmp(sub + base, "+json", 5)) {
        snprintf(why, why_size,
                 "Content-Type %.*s: weft reads the JSON event format only "
                 "(application/cloudevents+json, application/cloudevents-batch+json)",
                 (int)(sl < 64 ? sl : 64) + 12, v);
        return CT_UNSUPPORTED;
    }
    char charset[32];
    if (weft_ce_media_type_param(&mt, "charset", charset, sizeof charset) &&
        strcasecmp(charset, "utf-8")) {
        snprintf(why, why_size, "Content-Type: charset %.31s is not supported: JSON is UTF-8",
                 charset);
        return CT_UNSUPPORTED;
    }
    return kind;
}

bool weft_ce_http_has_event(const weft_ce_header_t *headers, size_t nheaders) {
    char why[256];
    for (size_t i = 0; i < nheaders; i++) {
        if (is_ce_header(&headers[i]))
            return true;
        if (name_is(&headers[i], "content-type") &&
            content_kind(headers[i].value, headers[i].value_len, why, sizeof why) != CT_NONE)
            return true;
    }
    return false;
}

/* ---- Header values ------------------------------------------------------------------ */

int weft_ce_header_value_decode(const char *value, size_t len, weft_buf_t *out, weft_error_t *err) {
    trim(&value, &len);
    /* First the quoted strings (RFC 7230 3.2.6), which only older senders use: take
     * what they quote, backslash escapes undone. */
    weft_buf_t unq = {0};
    const char *v = value;
    size_t n = len;
    if (memchr(value, '"', len)) {
        bool quoted = false;
        for (size_t i = 0; i < len; i++) {
            char c = value[i];
            if (c == '"') {
                quoted = !quoted;
                continue;
            }
            if (quoted && c == '\\') {
                if (++i == len)
                    break;
                c = value[i];
            }
            if (weft_buf_append(&unq, &c, 1)) {
                weft_buf_free(&unq);
                return weft_error_set(err, WEFT_ENOMEM, "out of memory");
            }
        }
        if (quoted) {
            weft_buf_free(&unq);
            return weft_error_set(err, WEFT_EINVAL, "a quoted string is not closed");
        }
        v = (const char *)unq.data;
        n = unq.len;
    }
    /* Then one round of percent-decoding. */
    int rc = weft_buf_reserve(out, n);
    size_t start = out->len;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t c = (uint8_t)v[i];
        if (c == '%') {
            if (n - i < 3 || weft_hex_digit(v[i + 1]) < 0 || weft_hex_digit(v[i + 2]) < 0) {
                char q[WEFT_CE_QUOTE_MAX];
                rc = weft_error_set(err, WEFT_EINVAL,
                                    "%s at offset %zu is not a percent-encoded byte (%%XX, two "
                                    "hex digits)",
                                    weft_ce_quote(v + i, n - i < 3 ? n - i : 3, q), i);
                break;
            }
            c = (uint8_t)(weft_hex_digit(v[i + 1]) << 4 | weft_hex_digit(v[i + 2]));
            i += 2;
        }
        out->data[out->len++] = c;
    }
    weft_buf_free(&unq);
    if (rc) {
        out->len = start;
        out->data[start] = 0;
        return rc;
    }
    out->data[out->len] = 0;
    const uint8_t *d = out->data + start;
    size_t dn = out->len - start;
    if (!weft_utf8_valid(d, dn) || memchr(d, 0, dn)) {
        bool nul = weft_utf8_valid(d, dn);
        out->len = start;
        out->data[start] = 0;
        return weft_error_set(err, WEFT_EINVAL,
                              nul ? "contains the control character U+0000 once percent-decoded"
                                  : "is not valid UTF-8 once percent-decoded");
    }
    return 0;
}

int weft_ce_header_value_encode(const char *value, weft_buf_t *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(value);
    int rc = weft_buf_reserve(out, 3 * n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)value[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '%') {
            out->data[out->len++] = '%';
            out->data[out->len++] = (uint8_t)hex[c >> 4];
            out->data[out->len++] = (uint8_t)hex[c & 15];
        } else {
            out->data[out->len++] = c;
        }
    }
    out->data[out->len] = 0;
    return 0;
}

/* ---- Decoding ----------------------------------------------------------------------- */

static int too_big(weft_error_t *err, size_t size, size_t max) {
    return weft_error_set(err, WEFT_ELIMIT, "the event is %zu bytes; the limit is %zu", size, max);
}

/* Binary mode: one event from the ce-* headers, Content-Type and the body. */
static int decode_binary(const weft_ce_header_t *h, size_t nh, const weft_ce_header_t *ctype,
                         const uint8_t *body, size_t body_len, size_t max, unsigned flags,
                         weft_ce_t *ev, weft_error_t *err) {
    size_t size = body_len;
    for (size_t i = 0; i < nh; i++)
        if (is_ce_header(&h[i]) || &h[i] == ctype)
            size += h[i].name_len + h[i].value_len;
    if (max && size > max)
        return too_big(err, size, max);

    *ev = (weft_ce_t){0};
    weft_buf_t val = {0};
    char q[WEFT_CE_QUOTE_MAX], q2[WEFT_CE_QUOTE_MAX];
    int rc = 0;
    for (size_t i = 0; i < nh && rc == 0; i++) {
        if (!is_ce_header(&h[i]))
            continue;
        char name[WEFT_CE_NAME_MAX + 1];
        size_t nlen = h[i].name_len - 3;
        const char *hn = h[i].name + 3;
        bool ok = nlen <= WEFT_CE_NAME_MAX;
        for (size_t k = 0; ok && k < nlen; k++) {
            char c = hn[k];
            name[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        if (ok) {
            name[nlen] = 0;
            ok = weft_ce_name_valid(name, nlen);
        }
        if (!ok) {
            rc = weft_error_set(err, WEFT_EINVAL,
                                "header %s: %s is not a valid attribute name (1 to %d "
                                "characters from a-z and 0-9)",
                                weft_ce_quote(h[i].name, h[i].name_len, q),
                                weft_ce_quote(hn, nlen, q2), WEFT_CE_NAME_MAX);
            break;
        }
        if (!strcmp(name, "datacontenttype")) {
            rc = weft_error_set(err, WEFT_EINVAL,
                                "header ce-datacontenttype: not allowed in binary mode, where "
                                "Content-Type carries datacontenttype");
            break;
        }
        if (!strcmp(name, "data")) {
            rc = weft_error_set(err, WEFT_EINVAL,
                                "header ce-data: 'data' is reserved for the event's data");
            break;
        }
        if (weft_ce_attr(ev, name)) {
            rc = weft_error_set(err, WEFT_EINVAL, "header ce-%s: given more than once", name);
            break;
        }
        if (ev->nattrs == WEFT_CE_MAX_ATTRS) {
            rc = weft_error_set(err, WEFT_EINVAL, "more than %d ce-* headers", WEFT_CE_MAX_ATTRS);
            break;
        }
        val.len = 0;
        rc = weft_ce_header_value_decode(h[i].value, h[i].value_len, &val, err);
        if (rc) {
            weft_error_prefix(err, "header ce-%s", name);
            break;
        }
        rc = weft_ce_set(ev, name, val.len ? (const char *)val.data : "", weft_ce_attr_type(name));
    }
    if (rc == 0 && ctype) {
        const char *v = ctype->value;
        size_t n = ctype->value_len;
        trim(&v, &n);
        val.len = 0;
        rc = weft_buf_append(&val, v, n);
        if (rc == 0 && memchr(val.data, 0, n))
            rc = weft_error_set(err, WEFT_EINVAL, "Content-Type holds a NUL byte");
        if (rc == 0)
            rc = weft_ce_set(ev, "datacontenttype", (const char *)val.data, WEFT_CE_STRING);
    }
    if (rc == 0 && body_len)
        rc = weft_ce_set_data(ev, body, body_len);
    weft_buf_free(&val);
    if (rc == WEFT_ENOMEM)
        weft_error_set(err, rc, "out of memory");
    if (rc == 0)
        rc = weft_ce_validate_flags(ev, flags, err);
    if (rc)
        weft_ce_clear(ev);
    return rc;
}

int weft_ce_decode_http(const weft_ce_header_t *headers, size_t nheaders, const uint8_t *body,
                        size_t body_len, size_t max_event_size, unsigned flags, weft_ce_t **events,
                        size_t *nevents, weft_error_t *err) {
    *events = NULL;
    *nevents = 0;
    const weft_ce_header_t *ctype = NULL, *specversion = NULL;
    bool any_ce = false;
    for (size_t i = 0; i < nheaders; i++) {
        if (name_is(&headers[i], "content-type")) {
            if (ctype)
                return weft_error_set(err, WEFT_EINVAL, "Content-Type given more than once");
            ctype = &headers[i];
        } else if (name_is(&headers[i], "ce-specversion")) {
            specversion = &headers[i];
        }
        any_ce |= is_ce_header(&headers[i]);
    }
    char why[256];
    content_kind_t kind =
        ctype ? content_kind(ctype->value, ctype->value_len, why, sizeof why) : CT_NONE;
    if (kind == CT_UNSUPPORTED)
        return weft_error_set(err, WEFT_EUNSUPPORTED, "%s", why);
    if (kind == CT_BATCH)
        return weft_ce_json_decode_batch(body, body_len, max_event_size, flags, events, nevents,
                                         err);
    weft_ce_t *ev = calloc(1, sizeof *ev);
    if (!ev)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    int rc;
    if (kind == CT_STRUCTURED) {
        rc = weft_ce_json_decode(body, body_len, max_event_size, flags, ev, err);
    } else if (specversion) {
        rc =
            decode_binary(headers, nheaders, ctype, body, body_len, max_event_size, flags, ev, err);
    } else {
        rc = weft_error_set(err, WEFT_EINVAL,
                            any_ce ? "not a CloudEvent: ce-* headers without ce-specversion"
                                   : "not a CloudEvent: no ce-specversion header (binary mode) "
                                     "and Content-Type is not application/cloudevents+json or "
                                     "application/cloudevents-batch+json");
    }
    if (rc) {
        free(ev);
        return rc;
    }
    *events = ev;
    *nevents = 1;
    return 0;
}

/* ---- Encoding ----------------------------------------------------------------------- */

/* Header (name, value) offsets into msg->text while it grows; pointers once done. */
typedef struct {
    size_t name, name_len, value, value_len;
} span_t;

static int add_span(span_t **spans, size_t *n, size_t *cap, span_t s) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        span_t *p = realloc(*spans, c * sizeof *p);
        if (!p)
            return WEFT_ENOMEM;
        *spans = p;
        *cap = c;
    }
    (*spans)[(*n)++] = s;
    return 0;
}

/* Appends the header name then value (each NUL-terminated in text) and records it. */
static int add_header(weft_ce_http_msg_t *m, span_t **spans, size_t *n, size_t *cap,
                      const char *prefix, const char *name, const char *value, bool encode) {
    span_t s;
    s.name = m->text.len;
    int rc = weft_buf_puts(&m->text, prefix);
    if (rc == 0)
        rc = weft_buf_puts(&m->text, name);
    if (rc)
        return rc;
    s.name_len = m->text.len - s.name;
    if ((rc = weft_buf_append(&m->text, "", 1)))
        return rc;
    s.value = m->text.len;
    rc = encode ? weft_ce_header_value_encode(value, &m->text) : weft_buf_puts(&m->text, value);
    if (rc)
        return rc;
    s.value_len = m->text.len - s.value;
    if ((rc = weft_buf_append(&m->text, "", 1)))
        return rc;
    return add_span(spans, n, cap, s);
}

static int finish_headers(weft_ce_http_msg_t *m, span_t *spans, size_t n) {
    if (n == 0)
        return 0;
    m->headers = calloc(n, sizeof *m->headers);
    if (!m->headers)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        m->headers[i] =
            (weft_ce_header_t){(const char *)m->text.data + spans[i].name, spans[i].name_len,
                               (const char *)m->text.data + spans[i].value, spans[i].value_len};
    m->nheaders = n;
    return 0;
}

static int encode_binary(const weft_ce_t *ev, weft_ce_http_msg_t *m, weft_error_t *err) {
    span_t *spans = NULL;
    size_t n = 0, cap = 0;
    char q[WEFT_CE_QUOTE_MAX];
    int rc = 0;
    for (size_t i = 0; i < ev->nattrs && rc == 0; i++) {
        const weft_ce_attr_t *a = &ev->attrs[i];
        size_t nlen = strlen(a->name);
        if (!weft_ce_name_valid(a->name, nlen)) {
            rc = weft_error_set(err, WEFT_EINVAL, "attribute name %s is not valid",
                                weft_ce_quote(a->name, nlen, q));
        } else if (!strcmp(a->name, "datacontenttype")) {
            size_t vlen = strlen(a->value);
            if (!weft_ce_media_type_parse(a->value, vlen, NULL))
                rc = weft_error_set(err, WEFT_EINVAL, "datacontenttype: %s is not a media type",
                                    weft_ce_quote(a->value, vlen, q));
            else
                rc = add_header(m, &spans, &n, &cap, "", "content-type", a->value, false);
        } else {
            rc = add_header(m, &spans, &n, &cap, "ce-", a->name, a->value, true);
        }
    }
    if (rc == 0)
        rc = finish_headers(m, spans, n);
    free(spans);
    if (rc == WEFT_ENOMEM)
        weft_error_set(err, rc, "out of memory");
    if (rc == 0) {
        m->body = ev->data;
        m->body_len = ev->data ? ev->data_len : 0;
    }
    return rc;
}

/* Structured and batched: the JSON goes into text, after the Content-Type header. */
static int encode_json(const weft_ce_t *events, size_t n, bool batch, weft_ce_http_msg_t *m,
                       weft_error_t *err) {
    span_t *spans = NULL;
    size_t ns = 0, cap = 0;
    int rc = add_header(m, &spans, &ns, &cap, "", "content-type",
                        batch ? "application/cloudevents-batch+json; charset=utf-8"
                              : "application/cloudevents+json; charset=utf-8",
                        false);
    size_t start = m->text.len;
    if (rc == 0)
        rc = batch ? weft_ce_json_encode_batch(events, n, &m->text, err)
                   : weft_ce_json_encode(events, &m->text, err);
    else
        weft_error_set(err, rc, "out of memory");
    if (rc == 0 && (rc = finish_headers(m, spans, ns)))
        weft_error_set(err, rc, "out of memory");
    free(spans);
    if (rc == 0) {
        m->body = m->text.data + start;
        m->body_len = m->text.len - start;
    }
    return rc;
}

int weft_ce_encode_http(const weft_ce_t *ev, weft_ce_mode_t mode, weft_ce_http_msg_t *out,
                        weft_error_t *err) {
    *out = (weft_ce_http_msg_t){0};
    return mode == WEFT_CE_MODE_BINARY ? encode_binary(ev, out, err)
                                       : encode_json(ev, 1, false, out, err);
}

int weft_ce_encode_http_batch(const weft_ce_t *events, size_t n, weft_ce_http_msg_t *out,
                              weft_error_t *err) {
    *out = (weft_ce_http_msg_t){0};
    return encode_json(events, n, true, out, err);
}

void weft_ce_http_msg_free(weft_ce_http_msg_t *m) {
    free(m->headers);
    weft_buf_free(&m->text);
    *m = (weft_ce_http_msg_t){0};
}
