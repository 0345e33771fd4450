/* Validation of an event against CloudEvents 1.0 (cloudevent.h, weft_ce_validate), and
 * the grammars it checks, which the codecs share (codec.h): RFC 3339 timestamps, RFC
 * 3986 URIs, RFC 2046 media types, RFC 4648 base64, the spec's integers and strings. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

/* ---- Characters ----------------------------------------------------------------- */

static bool is_alpha(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}
static bool is_hex(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/* RFC 9110 tchar. */
static bool is_tchar(int c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

const char *weft_ce_quote(const char *s, size_t n, char buf[WEFT_CE_QUOTE_MAX]) {
    const size_t cut = 60;
    bool utf8 = weft_utf8_valid((const uint8_t *)s, n);
    size_t o = 0;
    buf[o++] = '\'';
    size_t i = 0;
    for (; i < n && o < cut; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
            o += (size_t)snprintf(buf + o, WEFT_CE_QUOTE_MAX - o, "\\x%02X", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    /* Never stop inside a UTF-8 sequence. */
    while (i < n && utf8 && ((uint8_t)s[i] & 0xc0) == 0x80 && o < WEFT_CE_QUOTE_MAX - 6)
        buf[o++] = s[i++];
    buf[o++] = '\'';
    if (i < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* ---- Strings: what the spec's String type allows ---------------------------------- */

/* NULL when s[0..n) is a valid String value, else what is wrong (a constant, or why
 * filled in). */
static const char *string_problem(const char *s, size_t n, char *why, size_t why_size) {
    const uint8_t *p = (const uint8_t *)s;
    if (!weft_utf8_valid(p, n))
        return "is not valid UTF-8";
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len;
        if (p[i] < 0x80)
            cp = p[i], len = 1;
        else if ((p[i] & 0xe0) == 0xc0)
            cp = p[i] & 0x1fu, len = 2;
        else if ((p[i] & 0xf0) == 0xe0)
            cp = p[i] & 0x0fu, len = 3;
        else
            cp = p[i] & 0x07u, len = 4;
        for (size_t k = 1; k < len; k++)
            cp = (cp << 6) | (p[i + k] & 0x3fu);
        i += len;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            snprintf(why, why_size, "contains the control character U+%04X", (unsigned)cp);
            return why;
        }
        if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) {
            snprintf(why, why_size, "contains the noncharacter U+%04X", (unsigned)cp);
            return why;
        }
    }
    return NULL;
}

/* ---- Integers, booleans, base64 ----------------------------------------------------- */

bool weft_ce_integer_parse(const char *s, size_t n, int32_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-')
        neg = true, i++;
    if (i == n || !is_digit(s[i]) || (s[i] == '0' && i + 1 < n))
        return false; /* no digit, or a leading zero */
    int64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > 2147483648LL)
            return false;
    }
    if (neg)
        v = -v;
    if (v > INT32_MAX)
        return false;
    if (out)
        *out = (int32_t)v;
    return true;
}

static bool is_b64(int c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

bool weft_ce_base64_valid(const char *s, size_t n) {
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (is_b64(s[i]))
            continue;
        /* '=' only as the last one or two characters. */
        if (s[i] == '=' && (i == n - 1 || (i == n - 2 && s[n - 1] == '=')))
            continue;
        return false;
    }
    return true;
}

/* ---- RFC 3339 ------------------------------------------------------------------------ */

static bool digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* date-time = full-date "T" full-time (ABNF literals are case-insensitive: "t", "z"
 * too); seconds may be 60 (a leap second, at minute 59). */
bool weft_ce_timestamp_valid(const char *s, size_t n) {
    int y, mo, d, h, mi, sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return false;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return false;
    if (h > 23 || mi > 59 || sec > 60 || (sec == 60 && mi != 59))
        return false;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z'))
        return i + 1 == n;
    int oh, om;
    if (n - i != 6 || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':' ||
        !digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om))
        return false;
    return oh <= 23 && om <= 59;
}

/* ---- RFC 3986 ------------------------------------------------------------------------ */

static bool is_unreserved(int c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("-._~", c));
}
static bool is_subdelim(int c) {
    return c && strchr("!$&'()*+,;=", c);
}

/* Does s[0..n) consist of unreserved, pct-encoded, sub-delims and the characters of
 * extra? */
static bool uri_chars(const char *s, size_t n, const char *extra) {
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_subdelim(c) && !(c && strchr(extra, c))) {
            return false;
        }
    }
    return true;
}

/* host [":" port], with host = IP-literal / IPv4address / reg-name. */
static bool uri_hostport(const char *s, size_t n) {
    size_t host_end;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        size_t len = (size_t)(close - s) - 1;
        const char *lit = s + 1;
        if (len && (lit[0] == 'v' || lit[0] == 'V')) {
            /* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
            size_t i = 1;
            while (i < len && is_hex(lit[i]))
                i++;
            if (i == 1 || i >= len - 1 || lit[i] != '.')
                return false;
            for (i++; i < len; i++)
                if (!is_unreserved(lit[i]) && !is_subdelim(lit[i]) && lit[i] != ':')
                    return false;
        } else {
            char addr[64];
            unsigned char bin[16];
            if (len >= sizeof addr)
                return false;
            memcpy(addr, lit, len);
            addr[len] = 0;
            if (inet_pton(AF_INET6, addr, bin) != 1)
                return false;
        }
        host_end = (size_t)(close - s) + 1;
    } else {
        host_end = 0;
        while (host_end < n && s[host_end] != ':')
            host_end++;
        if (!uri_chars(s, host_end, ""))
            return false;
    }
    if (host_end == n)
        return true;
    if (s[host_end] != ':')
        return false;
    for (size_t i = host_end + 1; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

bool weft_ce_uri_valid(const char *s, size_t n, bool absolute) {
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':' */
    size_t i = 0;
    bool scheme = false;
    if (n && is_alpha(s[0])) {
        i = 1;
        while (i < n &&
               (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
            i++;
        scheme = i < n && s[i] == ':';
    }
    if (absolute && !scheme)
        return false;
    const char *p = scheme ? s + i + 1 : s;
    size_t len = scheme ? n - i - 1 : n;

    /* [ "?" query ] [ "#" fragment ]: pchar / "/" / "?" */
    const char *hash = memchr(p, '#', len);
    if (hash) {
        size_t off = (size_t)(hash - p);
        if (!uri_chars(hash + 1, len - off - 1, ":@/?"))
            return false;
        len = off;
    }
    const char *q = memchr(p, '?', len);
    if (q) {
        size_t off = (size_t)(q - p);
        if (!uri_chars(q + 1, len - off - 1, ":@/?"))
            return false;
        len = off;
    }

    /* "//" authority path-abempty, or a path. */
    if (len >= 2 && p[0] == '/' && p[1] == '/') {
        const char *slash = memchr(p + 2, '/', len - 2);
        size_t auth_len = slash ? (size_t)(slash - p) - 2 : len - 2;
        const char *auth = p + 2;
        const char *at = memchr(auth, '@', auth_len);
        if (at) {
            size_t ui = (size_t)(at - auth);
            if (!uri_chars(auth, ui, ":"))
                return false;
            auth += ui + 1;
            auth_len -= ui + 1;
        }
        if (!uri_hostport(auth, auth_len))
            return false;
        size_t rest = slash ? (size_t)(slash - p) : len;
        return uri_chars(p + rest, len - rest, ":@/");
    }
    /* path-absolute, path-rootless (after a scheme), path-noscheme (a relative
     * reference: its first segment has no ':'), or empty. */
    if (!scheme && len && p[0] != '/') {
        const char *slash = memchr(p, '/', len);
        size_t first = slash ? (size_t)(slash - p) : len;
        if (memchr(p, ':', first))
            return false;
    }
    return uri_chars(p, len, ":@/");
}

/* ---- RFC 2046 media types ------------------------------------------------------------ */

static size_t skip_ows(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static size_t token_end(const char *s, size_t n, size_t i) {
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    return i;
}

/* The end of the quoted-string at s[i] (which is '"'), or 0 when it is not one.
 * qdtext and quoted-pair, US-ASCII only. */
static size_t quoted_end(const char *s, size_t n, size_t i) {
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (++i == n)
                return 0;
            c = (unsigned char)s[i];
            if (c != '\t' && (c < 0x20 || c > 0x7e))
                return 0;
        } else if (c != '\t' && (c < 0x20 || c > 0x7e)) {
            return 0;
        }
    }
    return 0;
}

/* Walks the parameters of mt; calls f for each (name, raw value) until it returns
 * true. False when the syntax is broken. */
static bool params_walk(const char *s, size_t n,
                        bool (*f)(void *arg, const char *name, size_t nlen, const char *val,
                                  size_t vlen),
                        void *arg) {
    size_t i = 0;
    while (true) {
        i = skip_ows(s, n, i);
        if (i == n)
            return true;
        if (s[i] != ';')
            return false;
        i = skip_ows(s, n, i + 1);
        if (i == n || s[i] == ';')
            continue; /* an empty parameter (RFC 9110 allows it) */
        size_t name = i;
        i = token_end(s, n, i);
        if (i == name || i == n || s[i] != '=')
            return false;
        size_t nlen = i - name, val = ++i;
        if (i < n && s[i] == '"')
            i = quoted_end(s, n, i);
        else
            i = token_end(s, n, i);
        if (i == 0 || i == val)
            return false;
        if (f && f(arg, s + name, nlen, s + val, i - val))
            return true;
    }
}

bool weft_ce_media_type_parse(const char *s, size_t n, weft_ce_media_type_t *mt) {
    /* RFC 9110 allows "text/plain; " (an empty parameter after OWS), but HTTP strips
     * the whitespace that ends a field value: what binary mode cannot carry is refused. */
    if (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        return false;
    size_t t = token_end(s, n, 0);
    if (t == 0 || t == n || s[t] != '/')
        return false;
    size_t st = token_end(s, n, t + 1);
    if (st == t + 1)
        return false;
    if (!params_walk(s + st, n - st, NULL, NULL))
        return false;
    if (mt)
        *mt = (weft_ce_media_type_t){.type = s,
                                     .type_len = t,
                                     .subtype = s + t + 1,
                                     .subtype_len = st - t - 1,
                                     .params = s + st,
                                     .params_len = n - st};
    return true;
}

bool weft_ce_media_type_is_json(const char *s, size_t n) {
    weft_ce_media_type_t mt;
    if (!weft_ce_media_type_parse(s, n, &mt))
        return false;
    if (mt.subtype_len == 4 && !strncasecmp(mt.subtype, "json", 4))
        return true;
    return mt.subtype_len > 5 && !strncasecmp(mt.subtype + mt.subtype_len - 5, "+json", 5);
}

struct param_find {
    const char *name;
    char *out;
    size_t out_size;
    bool found;
};

static bool param_match(void *arg, const char *name, size_t nlen, const char *val, size_t vlen) {
    struct param_find *pf = arg;
    if (strlen(pf->name) != nlen || strncasecmp(pf->name, name, nlen))
        return false;
    size_t o = 0;
    if (vlen && val[0] == '"') {
        for (size_t i = 1; i + 1 < vlen && o + 1 < pf->out_size; i++) {
            if (val[i] == '\\')
                i++;
            pf->out[o++] = val[i];
        }
    } else {
        for (size_t i = 0; i < vlen && o + 1 < pf->out_size; i++)
            pf->out[o++] = val[i];
    }
    if (pf->out_size)
        pf->out[o] = 0;
    pf->found = true;
    return true;
}

bool weft_ce_media_type_param(const weft_ce_media_type_t *mt, const char *name, char *out,
                              size_t out_size) {
    struct param_find pf = {name, out, out_size, false};
    if (out_size)
        out[0] = 0;
    params_walk(mt->params, mt->params_len, param_match, &pf);
    return pf.found;
}

/* ---- The event ----------------------------------------------------------------------- */

static int missing(weft_error_t *err, const char *name) {
    return weft_error_set(err, WEFT_EINVAL, "missing required attribute '%s'", name);
}

/* Is s[0..n) an integer in the canonical form, whatever its size? */
static bool integer_syntax(const char *s, size_t n) {
    size_t i = n && s[0] == '-';
    if (i == n || (s[i] == '0' && n - i > 1))
        return false;
    for (; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* The attributes the spec defines, whose types are fixed (weft_ce_attr_type). */
static bool spec_attr(const char *name) {
    static const char *const names[] = {
        "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

/* Checks one attribute's value against type. */
static int check_value(const weft_ce_attr_t *a, weft_ce_type_t type, weft_error_t *err) {
    char q[WEFT_CE_QUOTE_MAX], why[64];
    const char *v = a->value;
    size_t n = strlen(v);
    const char *problem = string_problem(v, n, why, sizeof why);
    if (problem)
        return weft_error_set(err, WEFT_EINVAL, "%s: %s %s", a->name, weft_ce_quote(v, n, q),
                              problem);
    const char *what = NULL;
    switch (type) {
    case WEFT_CE_STRING:
        break;
    case WEFT_CE_INTEGER:
        if (!weft_ce_integer_parse(v, n, NULL))
            what = integer_syntax(v, n) ? "is out of the integer range -2147483648..2147483647"
                                        : "is not an integer";
        break;
    case WEFT_CE_BOOLEAN:
        if (strcmp(v, "true") && strcmp(v, "false"))
            what = "is not a boolean (true or false)";
        break;
    case WEFT_CE_BINARY:
        if (!weft_ce_base64_valid(v, n))
            what = "is not base64 (RFC 4648)";
        break;
    case WEFT_CE_URI:
        if (!weft_ce_uri_valid(v, n, true))
            what = "is not an absolute URI (RFC 3986)";
        break;
    case WEFT_CE_URI_REF:
        if (!weft_ce_uri_valid(v, n, false))
            what = "is not a URI-reference (RFC 3986)";
        break;
    case WEFT_CE_TIMESTAMP:
        if (!weft_ce_timestamp_valid(v, n))
            what = "is not an RFC 3339 timestamp";
        break;
    default:
        return weft_error_set(err, WEFT_EINVAL, "%s: unknown attribute type %d", a->name,
                              (int)type);
    }
    if (what)
        return weft_error_set(err, WEFT_EINVAL, "%s: %s %s", a->name, weft_ce_quote(v, n, q), what);
    return 0;
}

int weft_ce_validate_flags(const weft_ce_t *ev, unsigned flags, weft_error_t *err) {
    char q[WEFT_CE_QUOTE_MAX];
    const char *sv = weft_ce_get(ev, "specversion");
    if (!sv)
        return missing(err, "specversion");
    if (strcmp(sv, WEFT_CE_SPECVERSION))
        return weft_error_set(err, WEFT_EINVAL,
                              "specversion: %s is not supported (weft reads CloudEvents %s)",
                              weft_ce_quote(sv, strlen(sv), q), WEFT_CE_SPECVERSION);
    static const char *const required[] = {"id", "source", "type"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        const char *v = weft_ce_get(ev, required[i]);
        if (!v && i == 0 && (flags & WEFT_CE_ALLOW_NO_ID))
            continue;
        if (!v)
            return missing(err, required[i]);
        if (!*v)
            return weft_error_set(err, WEFT_EINVAL, "%s: must not be empty", required[i]);
    }
    if (ev->nattrs > WEFT_CE_MAX_ATTRS)
        return weft_error_set(err, WEFT_EINVAL, "the event has %zu attributes; at most %d are read",
                              ev->nattrs, WEFT_CE_MAX_ATTRS);
    for (size_t i = 0; i < ev->nattrs; i++) {
        const weft_ce_attr_t *a = &ev->attrs[i];
        size_t nlen = strlen(a->name);
        if (!weft_ce_name_valid(a->name, nlen))
            return weft_error_set(err, WEFT_EINVAL,
                                  "attribute name %s is not valid: names are 1 to %d characters "
                                  "from a-z and 0-9",
                                  weft_ce_quote(a->name, nlen, q), WEFT_CE_NAME_MAX);
        if (!strcmp(a->name, "data"))
            return weft_error_set(err, WEFT_EINVAL,
                                  "attribute name 'data' is reserved for the event's data");
        /* The spec's attributes have their fixed types; an extension has its own. */
        bool spec = spec_attr(a->name);
        int rc = check_value(a, spec ? weft_ce_attr_type(a->name) : a->type, err);
        if (rc)
            return rc;
        if (spec && !a->value[0] && (!strcmp(a->name, "subject") || !strcmp(a->name, "dataschema")))
            return weft_error_set(err, WEFT_EINVAL, "%s: must not be empty", a->name);
        if (!strcmp(a->name, "datacontenttype") &&
            !weft_ce_media_type_parse(a->value, strlen(a->value), NULL))
            return weft_error_set(
                err, WEFT_EINVAL,
                "datacontenttype: %s is not a media type (RFC 2046: type/subtype;name=value)",
                weft_ce_quote(a->value, strlen(a->value), q));
    }
    return 0;
}

int weft_ce_validate(const weft_ce_t *ev, weft_error_t *err) {
    return weft_ce_validate_flags(ev, 0, err);
}

void weft_ce_free_array(weft_ce_t *events, size_t n) {
    for (size_t i = 0; events && i < n; i++)
        weft_ce_clear(&events[i]);
    free(events);
}
