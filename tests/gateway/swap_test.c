/* Reloading: weft_gateway_swap replaces the site requests are routed by while requests
 * flow. A request in flight finishes with the function that routed it, new requests see
 * the new routes, a route the new site lacks is 404, and requests sent while sites are
 * swapped again and again are each answered whole by one site or the other (run it
 * under the sanitizers: a site freed too early, or never, shows there). The guest is
 * tests/guests/gw_cgi.c: /env prints its environment, /sleep sleeps and names its
 * function in X-Who. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "test.h"

static char dir[] = "/tmp/weft-swap-XXXXXX";
static const char *base_url;

/* One HTTP answer. */
typedef struct answer {
    long status;
    char body[4096];
    size_t len;
    char who[64]; /* X-Who */
} answer_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t len = size * n, room = sizeof a->body - 1 - a->len;
    memcpy(a->body + a->len, p, len < room ? len : room);
    a->len += len < room ? len : room;
    a->body[a->len] = 0;
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t len = size * n;
    if (len > 7 && !strncasecmp(p, "x-who: ", 7))
        snprintf(a->who, sizeof a->who, "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
    return len;
}

/* GET path on a handle (kept alive between calls when the caller reuses it). */
static void get_on(CURL *c, const char *path, answer_t *a) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    memset(a, 0, sizeof *a);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
}

static void get(const char *path, answer_t *a) {
    CURL *c = curl_easy_init();
    get_on(c, path, a);
    curl_easy_cleanup(c);
}

/* Writes dir/name with a manifest: function `who` of gw_cgi.wasm on each route given. */
static char *manifest(const char *name, const char *who, const char *route1, const char *route2) {
    static char path[2][512];
    static int turn;
    char *p = path[turn++ % 2];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fprintf(f,
            "[[function]]\nname = \"%s\"\nsource = \"%s/gw_cgi.wasm\"\nroute = \"%s\"\n"
            "environment = { WHO = \"%s\" }\n\n[[route]]\npath = \"%s\"\nfunction = \"%s\"\n",
            who, getenv("GUESTS"), route1, who, route2, who);
    fclose(f);
    return p;
}

static weft_app_t *load(const char *path) {
    weft_app_t *app = NULL;
    weft_error_t err = {0};
    weft_app_opts_t opts = {.cache_dir = getenv("WEFT_TEST_CACHE")};
    if (weft_app_load(path, &opts, &app, &err))
        fprintf(stderr, "%s: %s\n", path, err.msg);
    return app;
}

static weft_gateway_site_t *site_of(weft_gateway_t *gw, const char *path) {
    weft_app_t *app = load(path);
    weft_gateway_site_t *site = NULL;
    weft_error_t err = {0};
    if (app && weft_gateway_site_create(gw, app, &site, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        weft_app_free(app);
    }
    return site;
}

static void *slow_request(void *arg) {
    get("/shared/sleep?ms=1500", arg);
    return NULL;
}

static void test_a_swap_keeps_requests_in_flight_and_routes_new_ones(weft_gateway_t *gw,
                                                                     const char *two) {
    answer_t slow, a;
    get("/shared/env", &a);
    CHECK_EQ_INT(a.status, 200);
    CHECK(strstr(a.body, "WHO=one") != NULL);
    pthread_t t;
    pthread_create(&t, NULL, slow_request, &slow);
    usleep(400000); /* on a worker by now, sleeping */
    weft_gateway_site_t *site = site_of(gw, two);
    CHECK(site != NULL);
    if (!site) {
        pthread_join(t, NULL);
        return;
    }
    weft_gateway_swap(gw, site);
    CHECK(weft_gateway_site(gw) == site);
    CHECK(weft_gateway_function(gw, "two") != NULL);
    CHECK(weft_gateway_function(gw, "one") == NULL);
    get("/shared/env", &a);
    CHECK_EQ_INT(a.status, 200);
    CHECK(strstr(a.body, "WHO=two") != NULL);
    get("/added/env", &a);
    CHECK_EQ_INT(a.status, 200);
    get("/gone/env", &a);
    CHECK_EQ_INT(a.status, 404);
    get("/healthz", &a);
    CHECK_EQ_INT(a.status, 200);
    pthread_join(t, NULL);
    CHECK_EQ_INT(slow.status, 200);
    CHECK_EQ_STR(slow.who, "one");
    CHECK_EQ_STR(slow.body, "slept\n");
}

/* Clients on kept-alive connections while the main thread swaps sites. */
static atomic_bool hammering;
static atomic_int answered, wrong;

static void *hammer(void *arg) {
    (void)arg;
    CURL *c = curl_easy_init();
    answer_t a;
    while (atomic_load(&hammering)) {
        get_on(c, "/shared/env", &a);
        atomic_fetch_add(&answered, 1);
        if (a.status != 200 || (!strstr(a.body, "WHO=one\n") && !strstr(a.body, "WHO=two\n"))) {
            atomic_fetch_add(&wrong, 1);
            fprintf(stderr, "during swaps: %ld %.80s\n", a.status, a.body);
        }
        get_on(c, "/shared/sleep?ms=5", &a);
        if (a.status != 200 || (strcmp(a.who, "one") && strcmp(a.who, "two")))
            atomic_fetch_add(&wrong, 1);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_requests_during_many_swaps_are_each_answered(weft_gateway_t *gw, const char *one,
                                                              const char *two) {
    enum { CLIENTS = 4, SWAPS = 12 };
    pthread_t t[CLIENTS];
    atomic_store(&hammering, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    int swapped = 0;
    for (int i = 0; i < SWAPS; i++) {
        weft_gateway_site_t *site = site_of(gw, i % 2 ? two : one);
        if (!site)
            break;
        /* A holder besides the gateway (as the events layer is), let go after the swap
         * that replaces it. */
        weft_gateway_site_retain(site);
        weft_gateway_swap(gw, site);
        usleep(50000);
        weft_gateway_site_release(site);
        swapped++;
    }
    atomic_store(&hammering, false);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(swapped, SWAPS);
    CHECK(atomic_load(&answered) > SWAPS);
    CHECK_EQ_INT(atomic_load(&wrong), 0);
}

int main(void) {
    if (!getenv("GUESTS") || !mkdtemp(dir)) {
        fprintf(stderr, "GUESTS must name the guest folder\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_invoke_init(&err), 0);
    const char *one = manifest("one.toml", "one", "/shared/...", "/gone/...");
    const char *two = manifest("two.toml", "two", "/shared/...", "/added/...");
    weft_app_t *app = load(one);
    CHECK(app != NULL);
    weft_gateway_config_t cfg = {
        .listen = "127.0.0.1:0", .cache_dir = getenv("WEFT_TEST_CACHE"), .quiet = true};
    weft_gateway_t *gw = NULL;
    if (app && !weft_gateway_create(app, &cfg, &gw, &err) && !weft_gateway_start(gw, &err)) {
        base_url = weft_gateway_url(gw);
        test_a_swap_keeps_requests_in_flight_and_routes_new_ones(gw, two);
        test_requests_during_many_swaps_are_each_answered(gw, one, two);
        weft_gateway_stop(gw, 0);
    } else {
        fprintf(stderr, "gateway: %s\n", err.msg);
        CHECK(!"the gateway starts");
    }
    weft_gateway_free(gw);
    weft_app_free(app);
    curl_global_cleanup();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_DONE();
}
