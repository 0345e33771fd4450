/* The CGI request mapping (invoke/cgi_env.c): the environment a guest gets, in
 * which order, and its argv. */
#include <string.h>

#include "invoke/invoke.h"
#include "test.h"

static const char *get(const weft_strv_t *sv, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sv->n; i++)
        if (!strncmp(sv->v[i], name, n) && sv->v[i][n] == '=')
            return sv->v[i] + n + 1;
    return NULL;
}

static int index_of(const weft_strv_t *sv, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sv->n; i++)
        if (!strncmp(sv->v[i], name, n) && sv->v[i][n] == '=')
            return (int)i;
    return -1;
}

static const char *joined(const weft_strv_t *sv) {
    static char buf[1024];
    buf[0] = 0;
    for (size_t i = 0; i < sv->n; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s[%s]", i ? " " : "", sv->v[i]);
    return buf;
}

int main(void) {
    weft_header_t headers[] = {
        {"Host", "example.com:8080"},
        {"User-Agent", "test"},
        {"Content-Type", "text/csv"},
        {"Authorization", "secret"},
        {"Connection", "close"},
        {"x-lower-case", "v"},
        {"X-Twice", "1"},
        {"x-twice", "2"},
        {"Cookie", "a=1"},
        {"Cookie", "b=2"},
        {"Proxy-Authorization", "p"},
        {"X-Dash", "a"},
        {"X_Dash", "b"},
    };
    weft_request_t rq = {
        .method = "POST",
        .protocol = "HTTP/1.1",
        .path = "/api/a%2Fb/c%20d",
        .query = "x=1&&y=%41&z",
        .route = "/api/...",
        .remote_addr = "192.0.2.7",
        .server_name = "example.com",
        .server_port = "8080",
        .tls = true,
        .body_len = 1234, /* only its length is read */
        .headers = headers,
        .nheaders = sizeof headers / sizeof headers[0],
    };
    const char *global[] = {"G=global",    "SHARED=global",          "REQUEST_METHOD=forged",
                            "TWICE=first", "HTTP_USER_AGENT=forged", "TWICE=second",
                            "EMPTY="};
    const char *module[] = {"M=module", "SHARED=module", "PATH_INFO=forged"};
    weft_strv_t env = {0};
    CHECK_EQ_INT(weft_cgi_env(&rq, global, 7, module, 3, &env), 0);
    CHECK_EQ_STR(get(&env, "AUTH_TYPE"), "");
    CHECK_EQ_STR(get(&env, "REMOTE_USER"), "");
    CHECK_EQ_STR(get(&env, "CONTENT_LENGTH"), "1234");
    CHECK_EQ_STR(get(&env, "CONTENT_TYPE"), "text/csv");
    CHECK_EQ_STR(get(&env, "GATEWAY_INTERFACE"), "CGI/1.1");
    CHECK_EQ_STR(get(&env, "SERVER_SOFTWARE"), "weft/" WEFT_VERSION);
    CHECK_EQ_STR(get(&env, "SERVER_PROTOCOL"), "HTTP/1.1");
    CHECK_EQ_STR(get(&env, "REQUEST_METHOD"), "POST");
    CHECK_EQ_STR(get(&env, "QUERY_STRING"), "x=1&&y=%41&z");
    CHECK_EQ_STR(get(&env, "REMOTE_ADDR"), "192.0.2.7");
    CHECK_EQ_STR(get(&env, "REMOTE_HOST"), "192.0.2.7");
    CHECK_EQ_STR(get(&env, "SERVER_NAME"), "example.com");
    CHECK_EQ_STR(get(&env, "SERVER_PORT"), "8080");
    CHECK_EQ_STR(get(&env, "X_FULL_URL"), "https://example.com:8080/api/a%2Fb/c%20d?x=1&&y=%41&z");
    CHECK_EQ_STR(get(&env, "X_MATCHED_ROUTE"), "/api/...");
    CHECK_EQ_STR(get(&env, "SCRIPT_NAME"), "/api");
    CHECK_EQ_STR(get(&env, "X_RAW_PATH_INFO"), "/a%2Fb/c%20d");
    CHECK_EQ_STR(get(&env, "PATH_INFO"), "/a/b/c d");
    CHECK_EQ_STR(get(&env, "PATH_TRANSLATED"), "/a/b/c d");
    CHECK_EQ_STR(get(&env, "HTTP_HOST"), "example.com:8080");
    CHECK_EQ_STR(get(&env, "HTTP_USER_AGENT"), "test");
    CHECK_EQ_STR(get(&env, "HTTP_CONTENT_TYPE"), "text/csv");
    CHECK_EQ_STR(get(&env, "HTTP_X_LOWER_CASE"), "v");
    CHECK_EQ_STR(get(&env, "HTTP_X_TWICE"), "1, 2");
    CHECK_EQ_STR(get(&env, "HTTP_COOKIE"), "a=1; b=2");
    CHECK_EQ_STR(get(&env, "HTTP_PROXY_AUTHORIZATION"), "p");
    CHECK_EQ_STR(get(&env, "HTTP_X_DASH"), "a, b");     /* X-Dash and X_Dash: one variable */
    CHECK_EQ_STR(get(&env, "TWICE"), "second");         /* the later --env wins */
    CHECK_EQ_STR(get(&env, "HTTP_USER_AGENT"), "test"); /* a header beats --env */
    CHECK_EQ_STR(get(&env, "EMPTY"), "");
    CHECK(get(&env, "HTTP_AUTHORIZATION") == NULL);
    CHECK(get(&env, "HTTP_CONNECTION") == NULL);
    /* layers: global, module, CGI; a later definition replaces an earlier one */
    CHECK_EQ_STR(get(&env, "G"), "global");
    CHECK_EQ_STR(get(&env, "M"), "module");
    CHECK_EQ_STR(get(&env, "SHARED"), "module");
    CHECK_EQ_STR(get(&env, "REQUEST_METHOD"), "POST");
    CHECK_EQ_STR(get(&env, "PATH_INFO"), "/a/b/c d");
    CHECK(index_of(&env, "G") < index_of(&env, "M"));
    CHECK(index_of(&env, "M") < index_of(&env, "AUTH_TYPE"));
    CHECK(index_of(&env, "AUTH_TYPE") < index_of(&env, "HTTP_HOST"));
    for (size_t i = 0; i < env.n; i++) /* every name once */
        for (size_t j = i + 1; j < env.n; j++) {
            size_t a = strcspn(env.v[i], "="), b = strcspn(env.v[j], "=");
            CHECK(a != b || memcmp(env.v[i], env.v[j], a));
        }
    weft_strv_free(&env);

    /* argv: the raw path, then the non-empty query items, raw */
    weft_strv_t argv = {0};
    CHECK_EQ_INT(weft_cgi_argv(NULL, &rq, &argv), 0);
    CHECK_EQ_STR(joined(&argv), "[/api/a%2Fb/c%20d] [x=1] [y=%41] [z]");
    weft_strv_free(&argv);
    CHECK_EQ_INT(weft_cgi_argv("${SCRIPT_NAME} ${ARGS}", &rq, &argv), 0);
    CHECK_EQ_STR(joined(&argv), "[/api] [x=1] [y=%41] [z]");
    weft_strv_free(&argv);
    CHECK_EQ_INT(weft_cgi_argv("  prog  --name=${SCRIPT_NAME}   -- ${ARGS} last ", &rq, &argv), 0);
    CHECK_EQ_STR(joined(&argv), "[prog] [--name=/api] [--] [x=1] [y=%41] [z] [last]");
    weft_strv_free(&argv);
    CHECK_EQ_INT(weft_cgi_argv("fixed ${NOT_A_VARIABLE}", &rq, &argv), 0);
    CHECK_EQ_STR(joined(&argv), "[fixed] [${NOT_A_VARIABLE}]");
    weft_strv_free(&argv);

    /* no query at all; an exact route; the catch-all */
    rq.query = NULL;
    rq.path = "/exact";
    rq.route = "/exact";
    rq.tls = false;
    CHECK_EQ_INT(weft_cgi_argv("${SCRIPT_NAME} ${ARGS}", &rq, &argv), 0);
    CHECK_EQ_STR(joined(&argv), "[/exact]");
    weft_strv_free(&argv);
    CHECK_EQ_INT(weft_cgi_env(&rq, NULL, 0, NULL, 0, &env), 0);
    CHECK_EQ_STR(get(&env, "QUERY_STRING"), "");
    CHECK_EQ_STR(get(&env, "PATH_INFO"), "");
    CHECK_EQ_STR(get(&env, "SCRIPT_NAME"), "/exact");
    CHECK_EQ_STR(get(&env, "X_FULL_URL"), "http://example.com:8080/exact");
    weft_strv_free(&env);
    rq.path = "/";
    rq.route = "/...";
    rq.server_name = "::1";
    CHECK_EQ_INT(weft_cgi_env(&rq, NULL, 0, NULL, 0, &env), 0);
    CHECK_EQ_STR(get(&env, "SCRIPT_NAME"), "/");
    CHECK_EQ_STR(get(&env, "PATH_INFO"), "/");
    CHECK_EQ_STR(get(&env, "X_FULL_URL"), "http://[::1]:8080/");
    weft_strv_free(&env);
    /* SCRIPT_NAME of each kind of route */
    char buf[64];
    CHECK_EQ_STR(weft_cgi_script_name("/foo/...", buf, sizeof buf), "/foo");
    CHECK_EQ_STR(weft_cgi_script_name("/exact", buf, sizeof buf), "/exact");
    CHECK_EQ_STR(weft_cgi_script_name("/...", buf, sizeof buf), "/");
    /* a bad escape stays as written */
    rq.path = "/x%zz%4";
    CHECK_EQ_INT(weft_cgi_env(&rq, NULL, 0, NULL, 0, &env), 0);
    CHECK_EQ_STR(get(&env, "PATH_INFO"), "/x%zz%4");
    weft_strv_free(&env);
    return TEST_DONE();
}
