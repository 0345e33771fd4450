/* router: WAGI's and Spin's route patterns, most specific first (contract in
 * gateway.h).
 *
 * The routes are kept sorted in the order they are tried, so matching is a scan that
 * stops at the first hit. Exact routes come first; the others are ordered segment by
 * segment from the left, the end of a pattern before a literal segment, a literal
 * before a ":name" and a ":name" before the trailing "...". Of two patterns that match
 * the same path, the one tried first is then the more specific (an exact route before
 * any wildcard, "/a/b/..." before "/a/...", "/users/me" before "/users/:id"). An app
 * has tens of routes, not thousands; a scan over a sorted array is simpler than a trie
 * and as fast at that size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

struct weft_router {
    weft_route_t *routes;
    size_t n, cap;
};

int weft_router_new(weft_router_t **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : WEFT_ENOMEM;
}

/* A pattern's segments, in the order of their rank (see the top of the file). */
typedef enum { SEG_END, SEG_LITERAL, SEG_PARAM, SEG_WILDCARD } seg_kind_t;

typedef struct seg {
    seg_kind_t kind;
    const char *p; /* LITERAL: the text; PARAM: the name (after ':') */
    size_t n;
} seg_t;

/* Reads the segment of pattern at *at (just past a '/', or 0) and moves past it. */
static seg_t next_seg(const char *pattern, size_t *at) {
    size_t i = *at, len = strlen(pattern);
    if (i == 0 && !strcmp(pattern, "..."))
        return *at = len + 1, (seg_t){SEG_WILDCARD, pattern, 3};
    if (i == 0 && pattern[0] == '/')
        i = 1;
    if (i > len)
        return (seg_t){SEG_END, NULL, 0};
    const char *slash = strchr(pattern + i, '/');
    size_t n = slash ? (size_t)(slash - (pattern + i)) : len - i;
    *at = i + n + 1;
    seg_t s = {SEG_LITERAL, pattern + i, n};
    if (!slash && n == 3 && !memcmp(s.p, "...", 3))
        s.kind = SEG_WILDCARD;
    else if (n >= 1 && s.p[0] == ':')
        s = (seg_t){SEG_PARAM, s.p + 1, n - 1};
    return s;
}

/* Negative when a must be tried before b. Exact routes (no wildcard, no name) come
 * first, in byte order: no other route matching a path they match is as specific. */
static int precedence(const weft_route_t *a, const weft_route_t *b) {
    bool ea = !a->wildcard && !a->nparams, eb = !b->wildcard && !b->nparams;
    if (ea || eb)
        return ea != eb ? (ea ? -1 : 1) : strcmp(a->pattern, b->pattern);
    size_t ia = 0, ib = 0;
    for (;;) {
        seg_t sa = next_seg(a->pattern, &ia), sb = next_seg(b->pattern, &ib);
        if (sa.kind != sb.kind)
            return sa.kind < sb.kind ? -1 : 1;
        if (sa.kind == SEG_END || sa.kind == SEG_WILDCARD)
            break;
    }
    if (a->wildcard && b->wildcard) { /* same shape: the longer prefix first */
        size_t la = strlen(a->prefix), lb = strlen(b->prefix);
        if (la != lb)
            return la > lb ? -1 : 1;
    }
    return strcmp(a->pattern, b->pattern);
}

int weft_router_add(weft_router_t *r, const char *pattern, void *target, weft_error_t *err) {
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->routes[i].pattern, pattern))
            return weft_error_set(err, WEFT_EINVAL, "route '%s' is declared twice", pattern);
    size_t nparams = 0, at = 0;
    for (seg_t s = next_seg(pattern, &at); s.kind != SEG_END && s.kind != SEG_WILDCARD;
         s = next_seg(pattern, &at)) {
        if (s.kind != SEG_PARAM)
            continue;
        if (!s.n)
            return weft_error_set(err, WEFT_EINVAL,
                                  "route '%s': a ':' segment needs a name (\"/users/:id\")",
                                  pattern);
        if (++nparams > WEFT_ROUTE_MAX_PARAMS)
            return weft_error_set(err, WEFT_EINVAL, "route '%s': more than %d named segments",
                                  pattern, WEFT_ROUTE_MAX_PARAMS);
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        weft_route_t *p = realloc(r->routes, cap * sizeof *p);
        if (!p)
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        r->routes = p;
        r->cap = cap;
    }
    weft_route_t route = {.target = target, .nparams = nparams};
    size_t n = strlen(pattern);
    route.wildcard = (n >= 4 && !strcmp(pattern + n - 4, "/...")) || !strcmp(pattern, "...");
    route.pattern = strdup(pattern);
    route.prefix = route.wildcard ? strndup(pattern, n >= 4 ? n - 4 : 0) : NULL;
    if (!route.pattern || (route.wildcard && !route.prefix)) {
        free(route.pattern);
        free(route.prefix);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    size_t pos = 0;
    while (pos < r->n && precedence(&r->routes[pos], &route) < 0)
        pos++;
    memmove(&r->routes[pos + 1], &r->routes[pos], (r->n - pos) * sizeof route);
    r->routes[pos] = route;
    r->n++;
    return 0;
}

/* A route with named segments, walked segment by segment against the path. */
static bool matches_params(const weft_route_t *route, const char *path, size_t len,
                           weft_route_match_t *m) {
    if (!len || path[0] != '/')
        return false;
    size_t at = 0, i = 1; /* i: start of the path's current segment */
    m->nparams = 0;
    for (;;) {
        seg_t s = next_seg(route->pattern, &at);
        if (s.kind == SEG_WILDCARD) { /* what is left is the wildcard's: "" or "/..." */
            m->prefix_len = i > len ? len : i - 1;
            return true;
        }
        if (s.kind == SEG_END) {
            m->prefix_len = len;
            return i > len;
        }
        if (i > len)
            return false;
        const char *slash = memchr(path + i, '/', len - i);
        size_t n = slash ? (size_t)(slash - (path + i)) : len - i;
        if (s.kind == SEG_LITERAL ? n != s.n || memcmp(path + i, s.p, n) : n == 0)
            return false;
        if (s.kind == SEG_PARAM) {
            m->params[m->nparams].name = s.p;
            m->params[m->nparams].name_len = s.n;
            m->params[m->nparams].value = path + i;
            m->params[m->nparams].value_len = n;
            m->nparams++;
        }
        i += n + 1;
    }
}

static bool matches(const weft_route_t *route, const char *path, size_t len,
                    weft_route_match_t *m) {
    if (route->nparams)
        return matches_params(route, path, len, m);
    m->nparams = 0;
    if (!route->wildcard) {
        m->prefix_len = len;
        return strlen(route->pattern) == len && !memcmp(route->pattern, path, len);
    }
    size_t pl = strlen(route->prefix);
    if (len < pl || memcmp(route->prefix, path, pl))
        return false;
    m->prefix_len = pl;
    return len == pl || path[pl] == '/';
}

const weft_route_t *weft_router_match(const weft_router_t *r, const char *path, size_t len,
                                      weft_route_match_t *m) {
    weft_route_match_t scratch;
    if (!m)
        m = &scratch;
    for (size_t i = 0; i < r->n; i++)
        if (matches(&r->routes[i], path, len, m))
            return &r->routes[i];
    m->nparams = 0;
    return NULL;
}

size_t weft_router_count(const weft_router_t *r) {
    return r->n;
}

const weft_route_t *weft_router_at(const weft_router_t *r, size_t i) {
    return i < r->n ? &r->routes[i] : NULL;
}

void weft_router_free(weft_router_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
        free(r->routes[i].prefix);
    }
    free(r->routes);
    free(r);
}

int weft_route_join(const char *base, const char *sub, char *out, size_t cap) {
    size_t bl = strlen(base);
    if (bl >= 4 && !strcmp(base + bl - 4, "/..."))
        bl -= 4;
    if (bl && base[bl - 1] == '/')
        bl--;
    if (sub[0] == '/')
        sub++;
    int n = snprintf(out, cap, "%.*s/%s", (int)bl, base, sub);
    return n >= 0 && (size_t)n < cap ? 0 : WEFT_EINVAL;
}
