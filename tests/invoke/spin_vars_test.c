/* Spin's request information (weft_spin_vars) as Spin's trigger-http computes it, for
 * the routes Spin has: exact, trailing wildcard, "/...", named wildcards; and its
 * method enum. */
#include <stdio.h>
#include <string.h>

#include "invoke/invoke.h"
#include "test.h"

/* The value of header name in v, or NULL. */
static const char *value(const weft_spin_vars_t *v, const char *name) {
    for (size_t i = 0; i < v->headers.n; i++)
        if (!strcmp(v->headers.v[i], name))
            return v->values.v[i];
    return NULL;
}

static void vars(const weft_request_t *rq, weft_spin_vars_t *v) {
    memset(v, 0, sizeof *v);
    CHECK_EQ_INT(weft_spin_vars(rq, v), 0);
}

static void test_an_exact_route_has_no_path_info(void) {
    weft_app_route_t route = {.path = "/hello", .raw = "/hello", .base = "/"};
    weft_request_t rq = {.method = "GET",
                         .path = "/hello",
                         .route = "/hello",
                         .route_def = &route,
                         .remote_addr = "::1",
                         .remote_port = "8080"};
    weft_spin_vars_t v;
    vars(&rq, &v);
    CHECK_EQ_INT(v.headers.n, 7);
    CHECK_EQ_STR(v.headers.v[0], "spin-path-info"); /* Spin's order */
    CHECK_EQ_STR(v.env.v[0], "PATH_INFO");
    CHECK_EQ_STR(value(&v, "spin-path-info"), "");
    CHECK_EQ_STR(value(&v, "spin-full-url"), "http://localhost/hello"); /* no Host */
    CHECK_EQ_STR(value(&v, "spin-component-route"), "/hello");
    CHECK_EQ_STR(value(&v, "spin-client-addr"), "[::1]:8080");
    weft_spin_vars_free(&v);
}

static void test_a_catch_all_route_gives_the_whole_path(void) {
    weft_app_route_t route = {.path = "/...", .raw = "/...", .base = "/"};
    weft_header_t host[] = {{"HOST", "h.example"}};
    weft_request_t rq = {.method = "GET",
                         .path = "/a/b%20c",
                         .query = "q",
                         .route_def = &route,
                         .remote_addr = "10.0.0.1",
                         .remote_port = "1",
                         .tls = true,
                         .headers = host,
                         .nheaders = 1};
    weft_spin_vars_t v;
    vars(&rq, &v);
    CHECK_EQ_STR(value(&v, "spin-path-info"), "/a/b%20c");
    CHECK_EQ_STR(value(&v, "spin-full-url"), "https://h.example/a/b%20c?q");
    CHECK_EQ_STR(value(&v, "spin-component-route"), "");
    CHECK_EQ_STR(value(&v, "spin-raw-component-route"), "/...");
    weft_spin_vars_free(&v);
}

static void test_named_wildcards_are_skipped_and_named(void) {
    weft_app_route_t route = {
        .path = "/app/u/:id/f/:File_Name/...", .raw = "/u/:id/f/:File_Name/...", .base = "/app"};
    weft_header_t params[] = {{"id", "7"}, {"File_Name", "x.txt"}};
    weft_request_t rq = {.method = "GET",
                         .path = "/app/u/7/f/x.txt/more/here",
                         .route_def = &route,
                         .params = params,
                         .nparams = 2,
                         .remote_addr = "127.0.0.1"};
    weft_spin_vars_t v;
    vars(&rq, &v);
    CHECK_EQ_STR(value(&v, "spin-path-info"), "/more/here");
    CHECK_EQ_STR(value(&v, "spin-matched-route"), "/app/u/:id/f/:File_Name/...");
    CHECK_EQ_STR(value(&v, "spin-base-path"), "/app");
    CHECK_EQ_STR(value(&v, "spin-component-route"), "/u/:id/f/:File_Name");
    CHECK_EQ_STR(value(&v, "spin-client-addr"), "127.0.0.1:0");
    CHECK_EQ_STR(value(&v, "spin-path-match-id"), "7");
    CHECK_EQ_STR(value(&v, "spin-path-match-file-name"), "x.txt");
    CHECK_EQ_INT(v.env.n, 9);
    CHECK_EQ_STR(v.env.v[8], "X_PATH_MATCH_FILE_NAME");
    weft_spin_vars_free(&v);
    /* The prefix itself, without a trailing slash: nothing follows. */
    rq.path = "/app/u/7/f/x.txt";
    vars(&rq, &v);
    CHECK_EQ_STR(value(&v, "spin-path-info"), "");
    weft_spin_vars_free(&v);
}

static void test_methods(void) {
    CHECK_EQ_INT(weft_spin_method("GET"), 0);
    CHECK_EQ_INT(weft_spin_method("OPTIONS"), 6);
    CHECK_EQ_INT(weft_spin_method("get"), -1);
    CHECK_EQ_INT(weft_spin_method("TRACE"), -1);
    CHECK_EQ_INT(weft_spin_method(NULL), -1);
}

static void test_response_header_rules(void) {
    CHECK(weft_http_header_problem("x-a", 3, "v", 1) == NULL);
    CHECK_EQ_STR(weft_http_header_problem("Content-Length", 14, "1", 1),
                 "set by the server, not the guest");
    CHECK_EQ_STR(weft_http_header_problem("a b", 3, "v", 1), "invalid character in header name");
    CHECK_EQ_STR(weft_http_header_problem("a", 1, "v\n", 2), "invalid character in header value");
    CHECK_EQ_STR(weft_http_header_problem("", 0, "v", 1), "empty header name");
}

int main(void) {
    test_an_exact_route_has_no_path_info();
    test_a_catch_all_route_gives_the_whole_path();
    test_named_wildcards_are_skipped_and_named();
    test_methods();
    test_response_header_rules();
    return TEST_DONE();
}
