/* The router (gateway/router.c): WAGI's route patterns and the most specific match. */
#include <string.h>

#include "gateway/gateway.h"
#include "test.h"

static const char *match(weft_router_t *r, const char *path) {
    const weft_route_t *route = weft_router_match(r, path, strlen(path));
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
    /* the order of declaration does not matter: exact first, then longer prefixes */
    CHECK_EQ_STR(weft_router_at(r, 0)->pattern, "/exact");
    CHECK_EQ_STR(weft_router_at(r, 1)->pattern, "/foo/bar");
    CHECK_EQ_STR(weft_router_at(r, 2)->pattern, "/foo/bar/..."); /* prefix of 8 bytes */
    CHECK_EQ_STR(weft_router_at(r, 3)->pattern, "/x/y/z/...");   /* 6 */
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
    CHECK_EQ_STR(weft_router_match(r, "/exactXYZ", 6)->pattern, "/exact");
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
