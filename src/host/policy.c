/* policy: which destinations a guest may send requests to (allowed_hosts).
 *
 * Two spellings meet here. WAGI's modules.toml lists URLs and compares only their host
 * ("https://api.example.com" lets a guest reach api.example.com on any scheme and
 * port). Spin's manifests list scheme://host:port with wildcards, and there the scheme
 * and port count too. An entry that names a port or has a "*" is read as Spin's;
 * anything else as WAGI's, so a WAGI user's modules.toml means what it meant. Entries
 * are parsed without allocating, on each request: lists are short and most guests
 * never make a request.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ALLOW_ALL "insecure:allow-all"

typedef struct slice {
    const char *p;
    size_t n;
} slice_t;

/* One parsed entry; slices borrow the entry's text. */
typedef struct rule {
    bool all;       /* insecure:allow-all, or "*" for scheme, host and port */
    bool host_only; /* WAGI style: compare the host, nothing else */
    bool scheme_any;
    slice_t scheme;
    bool host_any;
    bool host_suffix; /* host is ".example.com": any name ending with it */
    slice_t host;
    bool port_any;
    unsigned port_lo, port_hi; /* [lo, hi) */
} rule_t;

static bool slice_ieq(slice_t a, const char *b) {
    return strlen(b) == a.n && strncasecmp(a.p, b, a.n) == 0;
}

static bool is_name_char(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static bool valid_name(slice_t s) {
    if (!s.n || s.n > WEFT_HTTP_MAX_HOST)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (!is_name_char(s.p[i]))
            return false;
    return true;
}

/* "[2001:db8::1]" */
static bool valid_ipv6(slice_t s) {
    if (s.n < 4 || s.n > 48 || s.p[0] != '[' || s.p[s.n - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < s.n; i++)
        if (!isxdigit((unsigned char)s.p[i]) && s.p[i] != ':' && s.p[i] != '.')
            return false;
    return true;
}

static bool parse_port_number(slice_t s, unsigned *out) {
    if (!s.n || s.n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!isdigit((unsigned char)s.p[i]))
            return false;
        v = v * 10 + (unsigned)(s.p[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = v;
    return true;
}

static unsigned default_port(slice_t scheme) {
    if (slice_ieq(scheme, "http"))
        return 80;
    if (slice_ieq(scheme, "https"))
        return 443;
    return 0;
}

static int rule_parse(const char *entry, rule_t *r, weft_error_t *err) {
    memset(r, 0, sizeof *r);
    const char *s = entry, *end = entry + strlen(entry);
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    slice_t all = {s, (size_t)(end - s)};
    if (slice_ieq(all, ALLOW_ALL)) {
        r->all = true;
        return 0;
    }
    const char *sep = memmem(s, (size_t)(end - s), "://", 3);
    if (!sep)
        return weft_error_set(err, WEFT_ECONFIG,
                              "allowed host \"%s\": expected a URL such as https://api.example.com "
                              "or scheme://host:port, or \"" ALLOW_ALL "\"",
                              entry);
    r->scheme = (slice_t){s, (size_t)(sep - s)};
    if (r->scheme.n == 1 && r->scheme.p[0] == '*') {
        r->scheme_any = true;
    } else {
        bool ok = r->scheme.n > 0 && isalpha((unsigned char)r->scheme.p[0]);
        for (size_t i = 0; ok && i < r->scheme.n; i++)
            ok = isalnum((unsigned char)r->scheme.p[i]) || strchr("+.-", r->scheme.p[i]);
        if (!ok)
            return weft_error_set(err, WEFT_ECONFIG, "allowed host \"%s\": bad scheme", entry);
    }

    const char *a = sep + 3, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    slice_t path = {ae, (size_t)(end - ae)};
    if (memchr(a, '@', (size_t)(ae - a)))
        return weft_error_set(err, WEFT_ECONFIG,
                              "allowed host \"%s\": user names do not belong in an allowed host",
                              entry);
    const char *he;
    if (a < ae && *a == '[') {
        he = memchr(a, ']', (size_t)(ae - a));
        he = he ? he + 1 : ae;
    } else {
        he = memchr(a, ':', (size_t)(ae - a));
        if (!he)
            he = ae;
    }
    r->host = (slice_t){a, (size_t)(he - a)};
    bool has_port = he < ae;
    if (has_port && *he != ':')
        return weft_error_set(err, WEFT_ECONFIG, "allowed host \"%s\": bad host", entry);
    slice_t port = has_port ? (slice_t){he + 1, (size_t)(ae - he - 1)} : (slice_t){ae, 0};

    if (r->host.n == 1 && r->host.p[0] == '*') {
        r->host_any = true;
    } else if (r->host.n > 2 && r->host.p[0] == '*' && r->host.p[1] == '.') {
        r->host_suffix = true;
        r->host = (slice_t){r->host.p + 1, r->host.n - 1};
        if (!valid_name(r->host) || memchr(r->host.p, '*', r->host.n))
            return weft_error_set(err, WEFT_ECONFIG,
                                  "allowed host \"%s\": a wildcard may only stand for the whole "
                                  "host (*) or its subdomains (*.example.com)",
                                  entry);
    } else if (memchr(r->host.p, '*', r->host.n)) {
        return weft_error_set(err, WEFT_ECONFIG,
                              "allowed host \"%s\": a wildcard may only stand for the whole host "
                              "(*) or its subdomains (*.example.com)",
                              entry);
    } else if (!valid_name(r->host) && !valid_ipv6(r->host)) {
        return weft_error_set(err, WEFT_ECONFIG, "allowed host \"%s\": bad host name", entry);
    }

    bool spin = r->scheme_any || r->host_any || r->host_suffix || has_port;
    if (!spin) {
        /* WAGI's reading; its path, if any, never mattered. */
        r->host_only = true;
        return 0;
    }
    if (path.n > 1 || (path.n == 1 && path.p[0] != '/'))
        return weft_error_set(err, WEFT_ECONFIG,
                              "allowed host \"%s\": scheme://host:port entries have no path",
                              entry);
    if (!has_port) {
        unsigned p = r->scheme_any ? 0 : default_port(r->scheme);
        if (!p)
            return weft_error_set(err, WEFT_ECONFIG,
                                  "allowed host \"%s\": no port, and the scheme has no default "
                                  "one (add :PORT or :*)",
                                  entry);
        r->port_lo = p;
        r->port_hi = p + 1;
    } else if (port.n == 1 && port.p[0] == '*') {
        r->port_any = true;
    } else {
        const char *dots = memmem(port.p, port.n, "..", 2);
        unsigned lo, hi;
        bool ok;
        if (dots) {
            ok =
                parse_port_number((slice_t){port.p, (size_t)(dots - port.p)}, &lo) &&
                parse_port_number((slice_t){dots + 2, (size_t)(port.p + port.n - dots - 2)}, &hi) &&
                lo < hi;
        } else {
            ok = parse_port_number(port, &lo);
            hi = lo + 1;
        }
        if (!ok)
            return weft_error_set(err, WEFT_ECONFIG,
                                  "allowed host \"%s\": the port is a number, a range such as "
                                  "8000..8080, or *",
                                  entry);
        r->port_lo = lo;
        r->port_hi = hi;
    }
    r->all = r->scheme_any && r->host_any && r->port_any;
    return 0;
}

static bool rule_matches(const rule_t *r, const weft_http_target_t *t) {
    if (r->all)
        return true;
    size_t hn = strlen(t->host);
    bool host_ok;
    if (r->host_any)
        host_ok = true;
    else if (r->host_suffix)
        host_ok =
            hn > r->host.n && strncasecmp(t->host + hn - r->host.n, r->host.p, r->host.n) == 0;
    else
        host_ok = slice_ieq(r->host, t->host);
    if (!host_ok)
        return false;
    if (r->host_only)
        return true;
    if (!r->scheme_any && !slice_ieq(r->scheme, t->scheme))
        return false;
    return r->port_any || (t->port >= r->port_lo && t->port < r->port_hi);
}

int weft_host_allowed_check(const char *entry, weft_error_t *err) {
    rule_t r;
    return rule_parse(entry, &r, err);
}

bool weft_http_policy_allows(const weft_host_policy_t *policy, const weft_http_target_t *t) {
    if (!policy || !policy->allowed_hosts)
        return false;
    for (size_t i = 0; i < policy->nallowed; i++) {
        rule_t r;
        if (policy->allowed_hosts[i] && rule_parse(policy->allowed_hosts[i], &r, NULL) == 0 &&
            rule_matches(&r, t))
            return true;
    }
    return false;
}

/* Bytes a URL may hold: printable ASCII without spaces. Anything else (controls, NUL,
 * raw UTF-8) is refused rather than encoded, so that what is checked is exactly what
 * libcurl sends. */
static bool url_bytes_ok(const char *url, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] < 0x21 || (unsigned char)url[i] > 0x7e)
            return false;
    return true;
}

uint32_t weft_http_target_parse(const char *url, size_t len, weft_http_target_t *t) {
    memset(t, 0, sizeof *t);
    if (!len || len > WEFT_HTTP_MAX_URL_BYTES || !url_bytes_ok(url, len))
        return WEFT_HTTP_INVALID_URL;
    CURLU *u = curl_url();
    if (!u)
        return WEFT_HTTP_RUNTIME_ERROR;
    uint32_t rc = WEFT_HTTP_INVALID_URL;
    char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
    /* No CURLU_GUESS_SCHEME, no CURLU_NON_SUPPORT_SCHEME: absolute URLs of schemes
     * libcurl knows; then only http and https pass. */
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = WEFT_HTTP_RUNTIME_ERROR;
        goto out;
    }
    if (uc != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK)
        goto out; /* fe80::1%eth0: an interface of this machine is not a destination */
    if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))
        goto out;
    slice_t hs = {host, strlen(host)};
    if (!valid_name(hs) && !valid_ipv6(hs))
        goto out; /* percent-encoded or international names: ask for the plain form */
    slice_t ps = {port, strlen(port)};
    if (!parse_port_number(ps, &t->port) || !t->port)
        goto out;
    for (size_t i = 0; scheme[i]; i++)
        t->scheme[i] = (char)tolower((unsigned char)scheme[i]);
    for (size_t i = 0; i < hs.n; i++)
        t->host[i] = (char)tolower((unsigned char)host[i]);
    t->url = u;
    u = NULL;
    rc = WEFT_HTTP_SUCCESS;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(zone);
    curl_url_cleanup(u);
    return rc;
}

uint32_t weft_host_url_allowed(const weft_host_policy_t *policy, const char *url) {
    weft_http_target_t t;
    uint32_t rc = weft_http_target_parse(url, strlen(url), &t);
    if (rc)
        return rc;
    rc =
        weft_http_policy_allows(policy, &t) ? WEFT_HTTP_SUCCESS : WEFT_HTTP_DESTINATION_NOT_ALLOWED;
    curl_url_cleanup(t.url);
    return rc;
}
