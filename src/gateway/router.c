/* router: WAGI's route patterns, most specific first (contract in gateway.h).
 *
 * The routes are kept sorted in the order they are tried: exact routes first, then
 * wildcards by decreasing prefix length. Matching is then a scan that stops at the
 * first hit. An app has tens of routes, not thousands; a scan over a sorted array is
 * simpler than a trie and as fast at that size.
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

/* Negative when a must be tried before b. */
static int precedence(const weft_route_t *a, const weft_route_t *b) {
    if (a->wildcard != b->wildcard)
        return a->wildcard ? 1 : -1;
    if (a->wildcard) {
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
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        weft_route_t *p = realloc(r->routes, cap * sizeof *p);
        if (!p)
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        r->routes = p;
        r->cap = cap;
    }
    weft_route_t route = {.target = target};
    size_t n = strlen(pattern);
    route.wildcard = (n >= 4 && !strcmp(pattern + n - 4, "/...")) || !strcmp(pattern, "...");
    route.pattern = strdup(pattern);
    route.prefix = route.wildcard ? strndup(pattern, n >= 4 ? n - 4 : 0) : NULL;
    if (!route.pattern || (route.wildcard && !route.prefix)) {
        free(route.pattern);
        free(route.prefix);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    size_t at = 0;
    while (at < r->n && precedence(&r->routes[at], &route) < 0)
        at++;
    memmove(&r->routes[at + 1], &r->routes[at], (r->n - at) * sizeof route);
    r->routes[at] = route;
    r->n++;
    return 0;
}

static bool matches(const weft_route_t *route, const char *path, size_t len) {
    if (!route->wildcard)
        return strlen(route->pattern) == len && !memcmp(route->pattern, path, len);
    size_t pl = strlen(route->prefix);
    if (len < pl || memcmp(route->prefix, path, pl))
        return false;
    return len == pl || path[pl] == '/';
}

const weft_route_t *weft_router_match(const weft_router_t *r, const char *path, size_t len) {
    for (size_t i = 0; i < r->n; i++)
        if (matches(&r->routes[i], path, len))
            return &r->routes[i];
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
