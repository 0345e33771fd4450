/* policy: which URLs an allowed_hosts list lets a guest reach (src/host/policy.c). */
#include "host/host.h"
#include "test.h"

#define ALLOWED WEFT_HTTP_SUCCESS
#define DENIED WEFT_HTTP_DESTINATION_NOT_ALLOWED
#define BAD_URL WEFT_HTTP_INVALID_URL

/* One entry, one URL. */
static uint32_t with(const char *entry, const char *url) {
    const char *list[] = {entry};
    weft_host_policy_t p = {.allowed_hosts = list, .nallowed = 1};
    return weft_host_url_allowed(&p, url);
}

#define EXPECT(entry, url, want)                                                                   \
    do {                                                                                           \
        uint32_t got_ = with(entry, url);                                                          \
        weft_test_checks++;                                                                        \
        if (got_ != (uint32_t)(want)) {                                                            \
            weft_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: [%s] with %s: %u, expected %u\n", __FILE__, __LINE__, entry,   \
                    url, got_, (uint32_t)(want));                                                  \
        }                                                                                          \
    } while (0)

static void test_nothing_allowed(void) {
    weft_host_policy_t empty = {0};
    CHECK_EQ_INT(weft_host_url_allowed(&empty, "https://example.com/"), DENIED);
    CHECK_EQ_INT(weft_host_url_allowed(NULL, "https://example.com/"), DENIED);
    /* An invalid URL is said to be invalid even when nothing is allowed, as WAGI does. */
    CHECK_EQ_INT(weft_host_url_allowed(NULL, "not a url"), BAD_URL);
}

static void test_wagi_entries_compare_the_host(void) {
    EXPECT("https://api.example.com", "https://api.example.com/v1/x?y=1", ALLOWED);
    EXPECT("https://api.example.com", "http://api.example.com:8080/", ALLOWED);
    EXPECT("https://API.Example.com", "https://api.example.COM/", ALLOWED);
    EXPECT("https://api.example.com/some/path", "https://api.example.com/other", ALLOWED);
    EXPECT("http://192.168.0.1", "http://192.168.0.1/login", ALLOWED);
    EXPECT("https://api.example.com", "https://test.example.com/", DENIED);
    EXPECT("https://example.com", "https://api.example.com/", DENIED);
    EXPECT("https://example.com", "https://example.com.evil.net/", DENIED);
    EXPECT("https://example.com", "https://evilexample.com/", DENIED);
}

static void test_spin_entries_compare_scheme_host_and_port(void) {
    EXPECT("http://127.0.0.1:8080", "http://127.0.0.1:8080/x", ALLOWED);
    EXPECT("http://127.0.0.1:8080", "http://127.0.0.1:8081/x", DENIED);
    EXPECT("http://127.0.0.1:8080", "https://127.0.0.1:8080/x", DENIED);
    EXPECT("http://127.0.0.1:8080", "http://127.0.0.2:8080/x", DENIED);
    EXPECT("http://127.0.0.1:*", "http://127.0.0.1:1/", ALLOWED);
    EXPECT("http://127.0.0.1:*", "http://127.0.0.1/", ALLOWED);
    EXPECT("http://127.0.0.1:*", "https://127.0.0.1:443/", DENIED);
    EXPECT("*://127.0.0.1:*", "https://127.0.0.1:443/", ALLOWED);
    EXPECT("*://127.0.0.1:*", "http://localhost/", DENIED);
    /* No port: the scheme's own. */
    EXPECT("https://*.example.com", "https://api.example.com/", ALLOWED);
    EXPECT("https://*.example.com", "https://api.example.com:443/", ALLOWED);
    EXPECT("https://*.example.com", "https://api.example.com:8443/", DENIED);
    EXPECT("https://*.example.com", "http://api.example.com/", DENIED);
    EXPECT("http://*.example.com", "http://a.b.example.com/", ALLOWED);
    /* A subdomain wildcard does not cover the domain itself, nor look-alikes. */
    EXPECT("https://*.example.com", "https://example.com/", DENIED);
    EXPECT("https://*.example.com", "https://evilexample.com/", DENIED);
    EXPECT("https://*.example.com", "https://example.com.evil.net/", DENIED);
    /* Port ranges end before their last number, as Spin's do. */
    EXPECT("http://localhost:8000..8080", "http://localhost:8000/", ALLOWED);
    EXPECT("http://localhost:8000..8080", "http://localhost:8079/", ALLOWED);
    EXPECT("http://localhost:8000..8080", "http://localhost:8080/", DENIED);
    EXPECT("http://localhost:8000..8080", "http://localhost:7999/", DENIED);
    EXPECT("https://*:443", "https://anything.example/", ALLOWED);
    EXPECT("https://*:443", "https://anything.example:444/", DENIED);
    EXPECT("http://[::1]:*", "http://[::1]:9000/", ALLOWED);
    EXPECT("http://[::1]:*", "http://127.0.0.1:9000/", DENIED);
}

static void test_allow_all(void) {
    EXPECT("insecure:allow-all", "https://anything.example/", ALLOWED);
    EXPECT("insecure:allow-all", "http://10.0.0.1:1234/", ALLOWED);
    EXPECT("*://*:*", "http://10.0.0.1:1234/", ALLOWED);
    EXPECT("*://*:*", "https://a.b/", ALLOWED);
    /* Anywhere in the list, as in WAGI. */
    const char *list[] = {"https://example.com", "insecure:allow-all"};
    weft_host_policy_t p = {.allowed_hosts = list, .nallowed = 2};
    CHECK_EQ_INT(weft_host_url_allowed(&p, "https://other.example/"), ALLOWED);
    /* It is still only http and https. */
    EXPECT("insecure:allow-all", "file:///etc/passwd", BAD_URL);
    EXPECT("insecure:allow-all", "ftp://example.com/", BAD_URL);
    EXPECT("insecure:allow-all", "gopher://example.com/", BAD_URL);
}

static void test_the_host_checked_is_the_host_contacted(void) {
    /* User info is not the host. */
    EXPECT("https://allowed.example", "https://allowed.example@evil.example/", DENIED);
    EXPECT("https://allowed.example", "https://allowed.example:pw@evil.example/", DENIED);
    EXPECT("https://allowed.example", "https://user@allowed.example/", ALLOWED);
    /* Nor is a look-alike in the path, query or fragment. */
    EXPECT("https://allowed.example", "https://evil.example/https://allowed.example", DENIED);
    EXPECT("https://allowed.example", "https://evil.example?allowed.example", DENIED);
    EXPECT("https://allowed.example", "https://evil.example#@allowed.example", DENIED);
    /* A trailing dot is another spelling, not taken for the allowed name. */
    EXPECT("https://allowed.example", "https://allowed.example./", DENIED);
    /* libcurl decodes an encoded host and contacts the decoded name, so that name is
     * what is checked, both ways round. */
    EXPECT("https://allowed.example", "https://allowed%2eexample/", ALLOWED);
    EXPECT("https://allowed.example", "https://evil%2eexample/", DENIED);
    EXPECT("https://allowed.example", "https://allowed.example%2f@evil.example/", DENIED);
    EXPECT("https://allowed.example", "https://evil.example%2f@allowed.example/", ALLOWED);
    /* Numeric forms of an address are the address libcurl connects to. */
    EXPECT("http://127.0.0.1:*", "http://0x7f.1:8080/", ALLOWED);
    EXPECT("http://127.0.0.1:*", "http://2130706433:8080/", ALLOWED);
    /* Bytes that would be encoded or cut are refused, not guessed at. */
    EXPECT("https://allowed.example", "https://allowed.example/a b", BAD_URL);
    EXPECT("https://allowed.example", "https://allowed.example/\r\nX: y", BAD_URL);
    EXPECT("https://allowed.example", "https://allowed.exämple/", BAD_URL);
    EXPECT("insecure:allow-all", "allowed.example/no-scheme", BAD_URL);
    EXPECT("insecure:allow-all", "", BAD_URL);
    EXPECT("insecure:allow-all", "http://[fe80::1%25eth0]/", BAD_URL);
}

static void test_entries_are_checked(void) {
    weft_error_t err = {0};
    const char *good[] = {
        "insecure:allow-all",          "https://api.example.com", "https://api.example.com/v1",
        "http://127.0.0.1:*",          "https://*.example.com",   "*://*:*",
        "http://localhost:8000..8080", "http://[::1]:8080",       " https://padded.example "};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = weft_host_allowed_check(good[i], &err);
        if (rc)
            fprintf(stderr, "refused [%s]: %s\n", good[i], err.msg);
        CHECK_EQ_INT(rc, 0);
    }
    const char *bad[] = {"api.example.com",
                         "example.com:443",
                         "https://",
                         "https://a*.example.com",
                         "https://*example.com",
                         "https://*.*.com",
                         "https://user@example.com",
                         "http://example.com:http",
                         "http://example.com:99999",
                         "http://example.com:8080..80",
                         "*://example.com",
                         "ftp+x://*.example.com",
                         "http://*.example.com:*/path",
                         "http://x.example:/",
                         "1http://x",
                         "https://exa mple.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = weft_host_allowed_check(bad[i], &err);
        if (!rc)
            fprintf(stderr, "accepted [%s]\n", bad[i]);
        CHECK_EQ_INT(rc, WEFT_ECONFIG);
        CHECK(strstr(err.msg, bad[i]) != NULL);
    }
    /* An entry that does not parse allows nothing, even what it seems to name. */
    EXPECT("https://user@example.com", "https://example.com/", DENIED);
    EXPECT("api.example.com", "https://api.example.com/", DENIED);
}

static void test_error_texts(void) {
    CHECK_EQ_STR(weft_http_error_text(WEFT_HTTP_DESTINATION_NOT_ALLOWED),
                 "destination not allowed");
    CHECK_EQ_STR(weft_http_error_text(13), "too many sessions");
    CHECK_EQ_STR(weft_http_error_text(14), "unknown error");
    size_t n;
    const weft_import_def_t *defs = weft_host_imports(&n);
    CHECK_EQ_INT(n, 5);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_STR(defs[i].module, "wasi_experimental_http");
}

int main(void) {
    test_nothing_allowed();
    test_wagi_entries_compare_the_host();
    test_spin_entries_compare_scheme_host_and_port();
    test_allow_all();
    test_the_host_checked_is_the_host_contacted();
    test_entries_are_checked();
    test_error_texts();
    return TEST_DONE();
}
