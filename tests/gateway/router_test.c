/* The router (gateway/router.c): WAGI's route patterns and the most specific match. */
#include <string.h>

#include "gateway/gateway.h"
#include "test.h"

static const char *match(weft_router_t *r, const char *path) {
    const weft_route_t *route = weft_router_match(r, path, strlen(path), NULL);
    return route ? route->pattern : "(none)";
}

int main(void) {
    weft_router_t *r;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_router_new(&r), 0);
    int t;
    const char *patterns[] = {"/foo/...", "/foo/bar", "/foo/bar/...", "/exact", "/x/y/z/..."};
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++)
        CHECK_EQ_INT(weft_router_add(r, patterns[i], &t, &err), 0);

    /* exact routes match only themselves */
    CHECK_EQ_STR(match(r, "/exact"), "/exact");
    CHECK_EQ_STR(match(r, "/exact/"), "(none)");
    CHECK_EQ_STR(match(r, "/exactly"), "(none)");
    CHECK_EQ_STR(match(r, "/exac"), "(none)");
    /* a wildcard matches its prefix, the prefix with a slash, and below; not /foobar */
    CHECK_EQ_STR(match(r, "/foo"), "/foo/...");
    CHECK_EQ_STR(match(r, "/foo/"), "/foo/...");
    CHECK_EQ_STR(match(r, "/foo/x"), "/foo/...");
    CHECK_EQ_STR(match(r, "/foo/x/y"), "/foo/...");
    CHECK_EQ_STR(match(r, "/foobar"), "(none)");
    CHECK_EQ_STR(match(r, "/fo"), "(none)");
    /* the most specific wins: exact over wildcard, longer prefix over shorter */
    CHECK_EQ_STR(match(r, "/foo/bar"), "/foo/bar");
    CHECK_EQ_STR(match(r, "/foo/bar/"), "/foo/bar/...");
    CHECK_EQ_STR(match(r, "/foo/bar/baz"), "/foo/bar/...");
    CHECK_EQ_STR(match(r, "/foo/barn"), "/foo/...");
    CHECK_EQ_STR(match(r, "/x/y/z"), "/x/y/z/...");
    CHECK_EQ_STR(match(r, "/x/y"), "(none)");
    /* the order of declaration does not matter: segment by segment, the end of a
     * pattern before a literal before a wildcard (exact routes first, then wildcards
     * with more segments) */
    CHECK_EQ_STR(weft_router_at(r, 0)->pattern, "/exact");
    CHECK_EQ_STR(weft_router_at(r, 1)->pattern, "/foo/bar");
    CHECK_EQ_STR(weft_router_at(r, 2)->pattern, "/x/y/z/...");
    CHECK_EQ_STR(weft_router_at(r, 3)->pattern, "/foo/bar/...");
    CHECK_EQ_STR(weft_router_at(r, 4)->pattern, "/foo/...");
    CHECK(weft_router_at(r, 5) == NULL);
    /* duplicates are refused */
    CHECK_EQ_INT(weft_router_add(r, "/foo/...", &t, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "declared twice") != NULL);
    /* the catch-all comes last and takes everything else */
    CHECK_EQ_STR(match(r, "/"), "(none)");
    CHECK_EQ_INT(weft_router_add(r, "/...", &t, &err), 0);
    CHECK_EQ_STR(match(r, "/"), "/...");
    CHECK_EQ_STR(match(r, "/foobar"), "/...");
    CHECK_EQ_STR(match(r, "/foo/bar"), "/foo/bar");
    CHECK_EQ_STR(weft_router_at(r, 5)->pattern, "/...");
    CHECK_EQ_INT(weft_router_count(r), 6);
    /* a path given with a length: bytes past it are not looked at */
    CHECK_EQ_STR(weft_router_match(r, "/exactXYZ", 6, NULL)->pattern, "/exact");
    weft_router_free(r);

    /* Spin's named segments: one non-empty segment each, captured */
    CHECK_EQ_INT(weft_router_new(&r), 0);
    const char *spin[] = {"/users/:id",    "/users/me", "/users/...", "/users/:id/posts/:post",
                          "/files/:d/...", "/...",      "/a/:x/b",    "/a/:x/..."};
    for (size_t i = 0; i < sizeof spin / sizeof *spin; i++)
        CHECK_EQ_INT(weft_router_add(r, spin[i], &t, &err), 0);
    weft_route_match_t m;
    const char *p = "/users/42";
    CHECK_EQ_STR(weft_router_match(r, p, strlen(p), &m)->pattern, "/users/:id");
    CHECK_EQ_INT(m.nparams, 1);
    CHECK(m.params[0].name_len == 2 && !memcmp(m.params[0].name, "id", 2));
    CHECK(m.params[0].value_len == 2 && !memcmp(m.params[0].value, "42", 2));
    CHECK_EQ_INT(m.prefix_len, strlen(p));
    CHECK_EQ_STR(match(r, "/users/me"), "/users/me"); /* a literal over a name */
    CHECK_EQ_STR(match(r, "/users/"), "/users/...");  /* a name needs a segment */
    CHECK_EQ_STR(match(r, "/users"), "/users/...");
    CHECK_EQ_STR(match(r, "/users/42/x"), "/users/..."); /* one segment only */
    p = "/users/42/posts/7";
    CHECK_EQ_STR(weft_router_match(r, p, strlen(p), &m)->pattern, "/users/:id/posts/:post");
    CHECK_EQ_INT(m.nparams, 2);
    CHECK(m.params[1].name_len == 4 && !memcmp(m.params[1].name, "post", 4));
    CHECK(m.params[1].value_len == 1 && m.params[1].value[0] == '7');
    p = "/files/docs/a/b.txt"; /* a name and a trailing wildcard: prefix_len ends before it */
    CHECK_EQ_STR(weft_router_match(r, p, strlen(p), &m)->pattern, "/files/:d/...");
    CHECK_EQ_INT(m.prefix_len, strlen("/files/docs"));
    CHECK(m.params[0].value_len == 4 && !memcmp(m.params[0].value, "docs", 4));
    p = "/files/docs";
    CHECK_EQ_STR(weft_router_match(r, p, strlen(p), &m)->pattern, "/files/:d/...");
    CHECK_EQ_INT(m.prefix_len, strlen(p));
    CHECK_EQ_STR(match(r, "/a/1/b"), "/a/:x/b"); /* ends exactly: over the wildcard */
    CHECK_EQ_STR(match(r, "/a/1/c"), "/a/:x/...");
    CHECK_EQ_STR(match(r, "/files"), "/...");
    p = "/anything/else";
    CHECK_EQ_STR(weft_router_match(r, p, strlen(p), &m)->pattern, "/...");
    CHECK_EQ_INT(m.nparams, 0);
    CHECK_EQ_INT(m.prefix_len, 0);
    CHECK_EQ_INT(weft_router_add(r, "/bad/:/x", &t, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "needs a name") != NULL);
    weft_router_free(r);

    /* joining _routes sub-routes to a module route, WAGI's way */
    char out[64];
    CHECK_EQ_INT(weft_route_join("/base/...", "/sub", out, sizeof out), 0);
    CHECK_EQ_STR(out, "/base/sub");
    CHECK_EQ_INT(weft_route_join("/base", "sub/...", out, sizeof out), 0);
    CHECK_EQ_STR(out, "/base/sub/...");
    CHECK_EQ_INT(weft_route_join("/base/", "/sub", out, sizeof out), 0);
    CHECK_EQ_STR(out, "/base/sub");
    CHECK_EQ_INT(weft_route_join("/...", "/sub", out, sizeof out), 0);
    CHECK_EQ_STR(out, "/sub");
    CHECK_EQ_INT(weft_route_join("/", "/sub", out, sizeof out), 0);
    CHECK_EQ_STR(out, "/sub");
    CHECK_EQ_INT(weft_route_join("/base",
                                 "/a-very-long-sub-route-that-does-not-fit-in-64-bytes-at-all", out,
                                 16),
                 WEFT_EINVAL);
    return TEST_DONE();
}
