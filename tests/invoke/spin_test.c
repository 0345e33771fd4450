/* Spin 1 HTTP handlers through invoke: a function whose executor is Spin's is called
 * with the request as Spin 1's canonical-ABI records and answers with its own record
 * (tests/guests/spin_handler.c, written against the ABI by hand), with Spin's spin-*
 * headers and Spin 1's host interfaces (spin-config, key-value, wasi-outbound-http to
 * tests/host/server.py); a handler's bad pointers and traps are 500s, never a crash.
 * The same request information reaches a Spin function run by the WAGI executor as X_*
 * variables (tests/guests/gw_cgi.c prints them). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host.h"
#include "invoke/invoke.h"
#include "test.h"

static weft_function_t *fn;
static weft_services_t *svc;
static char base[64]; /* the test server */

static const weft_app_route_t route = {
    .path = "/base/items/:user_id/...", .raw = "/items/:user_id/...", .base = "/base"};
static const weft_header_t params[] = {{"user_id", "42"}};

/* Calls fn: method on path?query with body, under opts; the response in *r. */
static void call_fn(weft_function_t *f, const char *method, const char *path, const char *query,
                    const char *body, const weft_call_opts_t *opts, weft_response_t *r) {
    static const weft_header_t headers[] = {
        {"Host", "example.com:3000"}, {"Content-Type", "text/plain"}, {"X-Mixed-Case", "v"}};
    weft_request_t rq = {
        .method = method,
        .protocol = "HTTP/1.1",
        .path = path,
        .query = query,
        .route = route.path,
        .params = params,
        .nparams = 1,
        .route_def = &route,
        .remote_addr = "127.0.0.1",
        .remote_port = "52311",
        .server_name = "example.com",
        .server_port = "3000",
        .headers = headers,
        .nheaders = 3,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
    };
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_function_call(f, &rq, opts, r, &err), 0);
}

static void call(const char *method, const char *path, const char *query, const char *body,
                 weft_response_t *r) {
    call_fn(fn, method, path, query, body, NULL, r);
}

static bool body_is(const weft_response_t *r, const char *want) {
    bool ok = r->body_len == strlen(want) && !memcmp(r->body, want, r->body_len);
    if (!ok)
        fprintf(stderr, "body: [%.*s]\nwant: [%s]\n", (int)r->body_len, (const char *)r->body,
                want);
    return ok;
}

static bool body_has(const weft_response_t *r, const char *want) {
    bool ok = r->body && memmem(r->body, r->body_len, want, strlen(want)) != NULL;
    if (!ok)
        fprintf(stderr, "body: [%.*s]\nlacks: [%s]\n", (int)r->body_len,
                r->body ? (const char *)r->body : "", want);
    return ok;
}

static void test_the_request_arrives_as_spin_1_records_with_spins_headers(void) {
    weft_response_t r;
    call("POST", "/base/items/42/rest/of", "x=1&y", "hello", &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_RETURNED);
    CHECK(r.error == NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_is(&r, "method=1\n"
                      "uri=/base/items/42/rest/of?x=1&y\n"
                      "h:host=example.com:3000\n"
                      "h:content-type=text/plain\n"
                      "h:x-mixed-case=v\n"
                      "h:spin-path-info=/rest/of\n"
                      "h:spin-full-url=http://example.com:3000/base/items/42/rest/of?x=1&y\n"
                      "h:spin-matched-route=/base/items/:user_id/...\n"
                      "h:spin-base-path=/base\n"
                      "h:spin-raw-component-route=/items/:user_id/...\n"
                      "h:spin-component-route=/items/:user_id\n"
                      "h:spin-client-addr=127.0.0.1:52311\n"
                      "h:spin-path-match-user-id=42\n"
                      "p:user_id=42\n"
                      "body=hello\n"));
    /* The handler's headers in its order, a repeated name kept. */
    CHECK_EQ_INT(r.nheaders, 3);
    if (r.nheaders == 3) {
        CHECK_EQ_STR(r.headers[0].name, "content-type");
        CHECK_EQ_STR(r.headers[0].value, "text/plain");
        CHECK_EQ_STR(r.headers[1].value, "yes");
        CHECK_EQ_STR(r.headers[2].value, "twice");
    }
    weft_response_free(&r);
}

static void test_methods_are_spins_enum_and_others_are_405_without_a_call(void) {
    weft_response_t r;
    const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    for (int i = 0; i < 7; i++) {
        call(methods[i], "/echo", NULL, NULL, &r);
        char want[32];
        snprintf(want, sizeof want, "method=%d\n", i);
        CHECK(body_has(&r, want));
        /* The body is Some even when empty, as Spin passes it. */
        CHECK(body_has(&r, "\nbody=\n"));
        weft_response_free(&r);
    }
    call("PROPFIND", "/echo", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_NOT_STARTED);
    CHECK_EQ_INT(r.body_len, 0);
    weft_response_free(&r);
}

static void test_the_status_is_the_handlers_within_200_to_599(void) {
    weft_response_t r;
    call("GET", "/status/418", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 418);
    CHECK(r.error == NULL);
    weft_response_free(&r);
    const char *bad[] = {"/status/99", "/status/100", "/status/600", "/status/700"};
    for (size_t i = 0; i < 4; i++) {
        call("GET", bad[i], NULL, NULL, &r);
        CHECK_EQ_INT(r.status, 500);
        CHECK_EQ_STR(r.error, "the function answered an invalid status");
        weft_response_free(&r);
    }
}

static void test_get_config_answers_the_resolved_value_or_spins_errors(void) {
    weft_response_t r;
    call("GET", "/config/greeting", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_is(&r, "hello, spin"));
    weft_response_free(&r);
    call("GET", "/config/missing", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK(body_is(&r, "err 3: unknown config path: spinfn.missing\n"));
    weft_response_free(&r);
    call("GET", "/config/Bad", NULL, NULL, &r);
    CHECK(body_is(&r, "err 1: \"Bad\": invalid character 'B'. Config key names may contain only "
                      "lower-case letters, numbers, and underscores.\n"));
    weft_response_free(&r);
    call("GET", "/config/a__b", NULL, NULL, &r);
    CHECK(body_is(&r, "err 1: \"a__b\": must not contain multiple consecutive underscores\n"));
    weft_response_free(&r);
}

static void test_key_value_on_a_granted_store_and_a_denied_one(void) {
    weft_response_t r;
    call("GET", "/kv/granted", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_is(&r, "open: ok\n"
                      "set k1: ok\n"
                      "get k1: ok v1\n"
                      "exists k1: ok true\n"
                      "exists nope: ok false\n"
                      "get-keys: ok 1: k1\n"
                      "delete k1: ok\n"
                      "delete k1 again: ok\n"
                      "exists k1: ok false\n"
                      "get nope: err 4\n"
                      "get after close: err 3\n"));
    weft_response_free(&r);
    /* In a trial a write stops the call before it writes, as the weft module's does. */
    weft_call_opts_t trial = {.budget_ns = 2000000000ull};
    call_fn(fn, "GET", "/kv/granted", NULL, NULL, &trial, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_BUDGET);
    weft_response_free(&r);
    weft_kv_t *kv = NULL;
    weft_kv_store_t *st = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_services_kv(svc, &kv, &err), 0);
    CHECK_EQ_INT(weft_kv_store(kv, "granted", &st, &err), 0);
    CHECK_EQ_INT(weft_kv_exists(st, "k1", &err), WEFT_ENOTFOUND); /* the set never happened */
    call("GET", "/kv/denied", NULL, NULL, &r);
    CHECK(body_is(&r, "open: err 2\n"));
    weft_response_free(&r);
}

static void test_outbound_http_within_the_allowed_hosts(void) {
    weft_response_t r;
    char q[256];
    snprintf(q, sizeof q, "/http?u=%s/echo", base);
    call("GET", q, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_has(&r, "status=200\n"));
    CHECK(body_has(&r, "x-method: POST\n"));
    CHECK(body_has(&r, "x-req-x-a: 1\n"));
    CHECK(body_has(&r, "x-body-length: 4\n"));
    CHECK(body_has(&r, "body=ping\n"));
    weft_response_free(&r);
    snprintf(q, sizeof q, "/http?u=%s/status?code=404", base);
    call("GET", q, NULL, NULL, &r);
    CHECK(body_has(&r, "status=404\n"));
    CHECK(body_has(&r, "body=status 404\n"));
    weft_response_free(&r);
    /* An empty body is still there (Some), as Spin 1 answers. */
    snprintf(q, sizeof q, "/http?u=%s/bytes?n=0", base);
    call("GET", q, NULL, NULL, &r);
    CHECK(body_has(&r, "status=200\n"));
    CHECK(body_has(&r, "\nbody=\n"));
    weft_response_free(&r);
    /* localhost is not 127.0.0.1 to the policy: not allowed. */
    snprintf(q, sizeof q, "/http?u=http://localhost:%s/echo", strrchr(base, ':') + 1);
    call("GET", q, NULL, NULL, &r);
    CHECK(body_is(&r, "err 1\n"));
    weft_response_free(&r);
    call("GET", "/http?u=not a url", NULL, NULL, &r);
    CHECK(body_is(&r, "err 2\n"));
    weft_response_free(&r);
}

static void test_a_bad_answer_is_500_never_a_crash(void) {
    static const struct {
        const char *path, *error;
    } cases[] = {
        {"/badheaders", "spin handler returned a header list out of memory bounds"},
        {"/badheader", "spin handler returned a header out of memory bounds"},
        {"/badbody", "spin handler returned a body out of memory bounds"},
        {"/badret", "spin handler returned a response record out of memory bounds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_response_t r;
        call("GET", cases[i].path, NULL, NULL, &r);
        CHECK_EQ_INT(r.outcome.end, WEFT_CALL_RETURNED);
        CHECK_EQ_INT(r.status, 500);
        CHECK_EQ_STR(r.error, cases[i].error);
        weft_response_free(&r);
    }
}

static void test_headers_that_are_not_http_or_the_servers_are_dropped(void) {
    weft_response_t r;
    call("GET", "/dropped", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.nheaders, 1);
    if (r.nheaders == 1)
        CHECK_EQ_STR(r.headers[0].name, "x-kept");
    CHECK(body_is(&r, "dropped"));
    weft_response_free(&r);
}

static void test_traps_exits_and_large_bodies_are_500(void) {
    weft_response_t r;
    call("GET", "/trap", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_TRAPPED);
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    call("GET", "/exit", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_EXITED);
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    /* A trap in canonical_abi_realloc while a host interface answers ends the call with
     * it; an address it answers out of memory traps there too. */
    call("GET", "/realloc-trap", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_TRAPPED);
    CHECK_EQ_STR(r.outcome.trap, "unreachable instruction executed");
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    call("GET", "/realloc-bad", NULL, NULL, &r);
    CHECK_EQ_INT(r.outcome.end, WEFT_CALL_TRAPPED);
    CHECK_EQ_STR(r.outcome.trap, "out-of-bounds memory access");
    CHECK_EQ_INT(r.status, 500);
    weft_response_free(&r);
    weft_call_opts_t opts = {.max_response = 1000};
    call_fn(fn, "GET", "/big?n=1000", NULL, NULL, &opts, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 1000);
    weft_response_free(&r);
    call_fn(fn, "GET", "/big?n=1001", NULL, NULL, &opts, &r);
    CHECK_EQ_INT(r.status, 500);
    CHECK_EQ_STR(r.error, "the function's response is too large");
    weft_response_free(&r);
}

/* A Spin function run by the WAGI executor: Spin's variables over WAGI's, and Spin's
 * ${SCRIPT_NAME} (the request's path) in its argv template. */
static void test_the_wagi_executor_of_a_spin_function_gets_spins_variables(void) {
    char wasm[4096];
    snprintf(wasm, sizeof wasm, "%s/gw_cgi.wasm", getenv("GUESTS"));
    weft_app_function_t def = {
        .name = "wagi",
        .source = wasm,
        .wasm = wasm,
        .entrypoint = "_start",
        .argv = "${SCRIPT_NAME} ${ARGS} extra",
        .timeout_ns = 5000000000ull,
        .executor = WEFT_APP_EXECUTOR_CGI,
        .spin = true,
    };
    weft_function_opts_t opts = {.quiet = true};
    weft_function_t *w = NULL;
    weft_error_t err = {0};
    if (weft_function_load(&def, &opts, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    weft_response_t r;
    call_fn(w, "GET", "/base/items/42/env", "a=1&b", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_has(&r, "\nPATH_INFO=/env\n"));
    CHECK(body_has(&r, "\nX_FULL_URL=http://example.com:3000/base/items/42/env?a=1&b\n"));
    CHECK(body_has(&r, "\nX_MATCHED_ROUTE=/base/items/:user_id/...\n"));
    CHECK(body_has(&r, "\nX_BASE_PATH=/base\n"));
    CHECK(body_has(&r, "\nX_RAW_COMPONENT_ROUTE=/items/:user_id/...\n"));
    CHECK(body_has(&r, "\nX_COMPONENT_ROUTE=/items/:user_id\n"));
    CHECK(body_has(&r, "\nX_CLIENT_ADDR=127.0.0.1:52311\n"));
    CHECK(body_has(&r, "\nX_PATH_MATCH_USER_ID=42\n"));
    CHECK(body_has(&r, "\nREQUEST_METHOD=GET\n")); /* WAGI's own stay */
    CHECK(body_has(&r, "argv[0]=/base/items/42/env\nargv[1]=a=1\nargv[2]=b\nargv[3]=extra\n"));
    weft_response_free(&r);
    weft_function_release(w);
}

/* Starts tests/host/server.py on a free port; its pid. */
static pid_t start_server(const char *dir) {
    char script[4096], portfile[600];
    snprintf(script, sizeof script, "%s/host/server.py", getenv("TESTS_DIR"));
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a test that crashes leaves no server behind */
        execlp("python3", "python3", script, portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(portfile, "r");
        int port = 0;
        if (f && fscanf(f, "%d", &port) == 1 && port > 0) {
            fclose(f);
            snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
            return pid;
        }
        if (f)
            fclose(f);
        usleep(50000);
    }
    return pid;
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    char dir[] = "/tmp/weft-spin-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    pid_t server = start_server(dir);
    if (!base[0]) {
        fprintf(stderr, "the test server did not start\n");
        return 1;
    }
    char loc[600], wasm[4096], allowed[128];
    snprintf(loc, sizeof loc, "%s/stores", dir);
    snprintf(wasm, sizeof wasm, "%s/spin_handler.wasm", getenv("GUESTS"));
    snprintf(allowed, sizeof allowed, "%s", base);
    weft_services_config_t scfg = {.location = loc};
    char *kv[] = {"granted", NULL};
    char *hosts[] = {allowed, NULL};
    weft_app_config_t config[] = {{"greeting", "hello, spin", false}, {"secret_key", "s3", true}};
    weft_app_function_t def = {
        .name = "spinfn",
        .source = wasm,
        .wasm = wasm,
        .entrypoint = "_start",
        .allowed_hosts = hosts,
        .nallowed = 1,
        .timeout_ns = 10000000000ull,
        .grants = {.kv = kv, .nkv = 1},
        .executor = WEFT_APP_EXECUTOR_SPIN,
        .spin = true,
        .config = config,
        .nconfig = 2,
    };
    weft_error_t err = {0};
    int rc = weft_invoke_init(&err);
    if (!rc)
        rc = weft_services_create(&scfg, &svc, &err);
    weft_function_opts_t opts = {.quiet = true, .services = svc};
    if (!rc)
        rc = weft_function_load(&def, &opts, &fn, &err);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        kill(server, SIGTERM);
        return 1;
    }
    test_the_request_arrives_as_spin_1_records_with_spins_headers();
    test_methods_are_spins_enum_and_others_are_405_without_a_call();
    test_the_status_is_the_handlers_within_200_to_599();
    test_get_config_answers_the_resolved_value_or_spins_errors();
    test_key_value_on_a_granted_store_and_a_denied_one();
    test_outbound_http_within_the_allowed_hosts();
    test_a_bad_answer_is_500_never_a_crash();
    test_headers_that_are_not_http_or_the_servers_are_dropped();
    test_traps_exits_and_large_bodies_are_500();
    test_the_wagi_executor_of_a_spin_function_gets_spins_variables();
    weft_function_release(fn);
    weft_services_free(svc);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
