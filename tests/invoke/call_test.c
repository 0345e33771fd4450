/* The invoke contract: a function loaded from the app model, called with a
 * transport-neutral request, answers with a parsed response and an outcome, the status
 * mapped as WAGI users know it (tests/guests/gw_cgi.c is the guest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "invoke/invoke.h"
#include "test.h"

static char stderr_seen[1024];
static int stderr_lines;

static void on_stderr(void *arg, const char *line, size_t len) {
    (void)arg;
    stderr_lines++;
    size_t n = strlen(stderr_seen);
    snprintf(stderr_seen + n, sizeof stderr_seen - n, "[%.*s]", (int)len, line);
}

static weft_function_t *fn;

/* Calls the guest at path (the last segment picks its behaviour) with body, under
 * opts; the response in *r (freed by the caller). */
static void call(const char *path, const char *body, const weft_call_opts_t *opts,
                 weft_response_t *r) {
    static const weft_header_t headers[] = {
        {"Content-Type", "text/csv"}, {"X-Twice", "1"}, {"X-Twice", "2"}};
    weft_request_t rq = {
        .method = "POST",
        .protocol = "HTTP/1.1",
        .path = path,
        .query = NULL,
        .route = "/cgi/...",
        .remote_addr = "127.0.0.1",
        .server_name = "localhost",
        .server_port = "3000",
        .headers = headers,
        .nheaders = 3,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
    };
    weft_error_t err = {0};
    stderr_seen[0] = 0;
    stderr_lines = 0;
    CHECK_EQ_INT(weft_function_call(fn, &rq, opts, r, &err), 0);
}

static bool body_is(const weft_response_t *r, const char *want) {
    return r->body_len == strlen(want) && !memcmp(r->body, want, r->body_len);
}

static const char *header(const weft_response_t *r, size_t i, const char *name) {
    return i < r->nheaders && !strcasecmp(r->headers[i].name, name) ? r->headers[i].value
                                                                    : "(other)";
}

static void test_a_response_keeps_status_headers_in_order_and_body(void) {
    weft_response_t r;
    call("/cgi/headers", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_RETURNED);
    CHECK(r.error == NULL);
    CHECK_EQ_INT(r.status, 201);
    CHECK_EQ_INT(r.nheaders, 5);
    CHECK_EQ_STR(header(&r, 0, "Content-Type"), "text/plain");
    CHECK_EQ_STR(header(&r, 1, "Set-Cookie"), "a=1");
    CHECK_EQ_STR(header(&r, 2, "Set-Cookie"), "b=2");
    CHECK_EQ_STR(header(&r, 3, "X-Custom"), "spaced value");
    CHECK_EQ_STR(header(&r, 4, "Set-Cookie"), "c=3");
    CHECK(body_is(&r, "created\n"));
    weft_response_free(&r);
}

static void test_the_request_reaches_the_guest(void) {
    weft_response_t r;
    call("/cgi/echo", "a,b\n", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(header(&r, 0, "Content-Type"), "text/csv");
    CHECK(body_is(&r, "a,b\n"));
    weft_response_free(&r);
    call("/cgi/x/env", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    char *text = strndup((const char *)r.body, r.body_len);
    CHECK(strstr(text, "\nSCRIPT_NAME=/cgi\n") != NULL);
    CHECK(strstr(text, "\nPATH_INFO=/x/env\n") != NULL);
    CHECK(strstr(text, "\nHTTP_X_TWICE=1, 2\n") != NULL);
    CHECK(strstr(text, "\nGLOBAL=g\n") != NULL);
    CHECK(strstr(text, "\nOWN=o\n") != NULL);
    free(text);
    weft_response_free(&r);
}

static void test_a_non_zero_exit_is_500_with_its_code(void) {
    weft_response_t r;
    call("/cgi/exit3", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_EXITED);
    CHECK_EQ_INT(r.outcome.exit_code, 3);
    CHECK_EQ_INT(r.status, 500);
    CHECK(r.error != NULL);
    weft_response_free(&r);
    call("/cgi/exit0", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_EXITED);
    CHECK_EQ_INT(r.outcome.exit_code, 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_is(&r, "exiting 0\n"));
    weft_response_free(&r);
}

static void test_a_trap_is_500_and_named(void) {
    weft_response_t r;
    call("/cgi/trap", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_TRAPPED);
    CHECK_EQ_STR(r.outcome.trap, "unreachable instruction executed");
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    call("/cgi/grow", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_MEMORY_LIMIT);
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    call("/cgi/noct", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_RETURNED);
    CHECK_EQ_INT(r.status, 500); /* not a CGI response */
    weft_response_free(&r);
}

static void test_the_timeout_is_504(void) {
    weft_response_t r;
    call("/cgi/spin", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_DEADLINE);
    CHECK_EQ_INT(r.status, 504);
    weft_response_free(&r);
}

static void test_a_response_over_the_limit_is_500(void) {
    weft_call_opts_t opts = {.max_response = 1000};
    weft_response_t r;
    call("/cgi/big", NULL, &opts, &r);
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
}

static void test_stderr_goes_to_the_callback_within_the_caps(void) {
    weft_call_opts_t opts = {.on_stderr = on_stderr};
    weft_response_t r;
    call("/cgi/stderr", NULL, &opts, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(stderr_seen, "[first guest line][second guest line]");
    weft_response_free(&r);
    opts.max_stderr_lines = 1;
    call("/cgi/stderr", NULL, &opts, &r);
    CHECK_EQ_STR(stderr_seen, "[first guest line]");
    weft_response_free(&r);
}

static void test_a_budget_stops_the_call_and_keeps_nothing(void) {
    weft_call_opts_t opts = {.budget_ns = 1000000, .on_stderr = on_stderr};
    weft_response_t r;
    call("/cgi/spin", NULL, &opts, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_BUDGET);
    weft_response_free(&r);
    call("/cgi/busy", NULL, &opts, &r); /* a stderr line, then 20 ms of work */
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_BUDGET);
    CHECK_EQ_INT(stderr_lines, 0); /* held back, then dropped */
    CHECK(r.body == NULL && r.nheaders == 0);
    weft_response_free(&r);
    opts.budget_ns = 0; /* the same call without a budget counts */
    call("/cgi/busy", NULL, &opts, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(stderr_seen, "[busy for 20 ms]");
    weft_response_free(&r);
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    char wasm[4096];
    snprintf(wasm, sizeof wasm, "%s/gw_cgi.wasm", getenv("GUESTS"));
    char *env[] = {"OWN=o"};
    weft_app_function_t def = {
        .name = "cgi",
        .source = wasm,
        .wasm = wasm,
        .entrypoint = "_start",
        .env = env,
        .nenv = 1,
        .timeout_ns = 300000000,
        .max_memory = 16 << 20,
    };
    const char *global[] = {"GLOBAL=g", "OWN=overridden"};
    weft_function_opts_t opts = {.env = global, .nenv = 2, .quiet = true};
    weft_error_t err = {0};
    if (weft_invoke_init(&err) || weft_function_load(&def, &opts, &fn, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    CHECK(weft_function_has_entry(fn, "_start"));
    CHECK(!weft_function_has_entry(fn, "nonesuch"));
    CHECK(weft_function_repeatable(fn));
    test_a_response_keeps_status_headers_in_order_and_body();
    test_the_request_reaches_the_guest();
    test_a_non_zero_exit_is_500_with_its_code();
    test_a_trap_is_500_and_named();
    test_the_timeout_is_504();
    test_a_response_over_the_limit_is_500();
    test_stderr_goes_to_the_callback_within_the_caps();
    test_a_budget_stops_the_call_and_keeps_nothing();
    weft_function_release(fn);
    return TEST_DONE();
}
