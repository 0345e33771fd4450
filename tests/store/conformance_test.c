/* store: the conformance suite of the key-value, document and blob stores (store.h): every
 * documented behaviour of every call, run against one backend.
 *
 *   test_store_conformance [LOCATION [TEST]]
 *
 * LOCATION names where the stores live, with "%s" where each test puts a name of its
 * own, so that every test starts from empty stores of its own ("sqlite:/tmp/x/%s").
 * Without it, or as "", the embedded backend in a fresh temporary folder. A backend
 * added later runs this program unchanged with its own LOCATION. TEST runs only the
 * tests whose name holds it. The section "embedded backend" at the end runs only for
 * sqlite locations (what is particular to files: a second open, a file that is not a
 * store, a folder weft may not write). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

static char location_fmt[512];
static char tmpdir[256];
static bool embedded;

/* The location of the test's own stores. */
static const char *loc(const char *tag) {
    static char out[600];
    const char *p = strstr(location_fmt, "%s");
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - location_fmt), location_fmt, tag, p + 2);
    return out;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ==== Key-value ======================================================================== */

static weft_kv_t *kv_open(const char *tag, const weft_kv_options_t *opts) {
    weft_kv_t *kv = NULL;
    weft_error_t err = {0};
    int rc = weft_kv_open(loc(tag), opts, &kv, &err);
    if (rc)
        fprintf(stderr, "kv open %s: %s\n", loc(tag), err.msg);
    CHECK_EQ_INT(rc, 0);
    return kv;
}

static weft_kv_store_t *kv_store(weft_kv_t *kv, const char *name) {
    weft_kv_store_t *st = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_kv_store(kv, name, &st, &err), 0);
    return st;
}

static uint64_t kv_set(weft_kv_store_t *st, const char *key, const char *value) {
    weft_error_t err = {0};
    uint64_t v = 0;
    int rc = weft_kv_set(st, key, value, strlen(value), NULL, &v, &err);
    if (rc)
        fprintf(stderr, "set %s: %s\n", key, err.msg);
    CHECK_EQ_INT(rc, 0);
    return v;
}

/* The value of key as a string, "" when absent (then *rc says why). */
static char *kv_get_str(weft_kv_store_t *st, const char *key, int *rc, uint64_t *version) {
    static char out[256];
    uint8_t *v = NULL;
    size_t n = 0;
    weft_error_t err = {0};
    *rc = weft_kv_get(st, key, &v, &n, version, &err);
    snprintf(out, sizeof out, "%.*s", (int)n, v ? (const char *)v : "");
    free(v);
    return out;
}

static void test_kv_basic(void) {
    weft_kv_t *kv = kv_open("kv-basic", NULL);
    weft_kv_store_t *st = kv_store(kv, "default"), *other = kv_store(kv, "other");
    CHECK(kv_store(kv, "default") == st);
    CHECK_EQ_STR(weft_kv_describe(kv) ? "ok" : NULL, "ok");
    int rc;
    uint64_t v = 0, v1, v2;
    weft_error_t err = {0};

    /* Absent: get, exists and delete say ENOTFOUND. */
    kv_get_str(st, "k", &rc, &v);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(weft_kv_exists(st, "k", &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_delete(st, "k", 0, &err), WEFT_ENOTFOUND);
    CHECK(strstr(err.msg, "k") != NULL);

    /* Set, get (value and version), exists; another store does not see it. */
    v1 = kv_set(st, "k", "one");
    CHECK(v1 > 0);
    CHECK_EQ_STR(kv_get_str(st, "k", &rc, &v), "one");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(v, v1);
    CHECK_EQ_INT(weft_kv_exists(st, "k", &err), 0);
    kv_get_str(other, "k", &rc, NULL);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);

    /* Overwrite: a new, greater version. */
    v2 = kv_set(st, "k", "two");
    CHECK(v2 > v1);
    CHECK_EQ_STR(kv_get_str(st, "k", &rc, &v), "two");
    CHECK_EQ_INT(v, v2);

    /* Values are bytes: NULs inside, and the empty value (NULL, 0). */
    const uint8_t bin[] = {0, 1, 0, 255, 'x'};
    CHECK_EQ_INT(weft_kv_set(st, "bin", bin, sizeof bin, NULL, NULL, &err), 0);
    uint8_t *got = NULL;
    size_t n = 0;
    CHECK_EQ_INT(weft_kv_get(st, "bin", &got, &n, NULL, &err), 0);
    CHECK(n == sizeof bin && got && memcmp(got, bin, n) == 0);
    free(got);
    CHECK_EQ_INT(weft_kv_set(st, "empty", NULL, 0, NULL, NULL, &err), 0);
    got = NULL;
    n = 99;
    CHECK_EQ_INT(weft_kv_get(st, "empty", &got, &n, NULL, &err), 0);
    CHECK(got != NULL && n == 0);
    free(got);
    /* Everything optional may be NULL. */
    CHECK_EQ_INT(weft_kv_get(st, "k", NULL, NULL, NULL, &err), 0);
    CHECK_EQ_INT(weft_kv_get(st, "k", NULL, NULL, NULL, NULL), 0);

    /* Keys are any UTF-8. */
    kv_set(st, "caf\xc3\xa9/\xe2\x82\xac/ /\"'", "utf8");
    CHECK_EQ_STR(kv_get_str(st, "caf\xc3\xa9/\xe2\x82\xac/ /\"'", &rc, NULL), "utf8");

    /* Delete; a new set of the key gets a version never given before. */
    CHECK_EQ_INT(weft_kv_delete(st, "k", 0, &err), 0);
    kv_get_str(st, "k", &rc, NULL);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_delete(st, "k", 0, &err), WEFT_ENOTFOUND);
    CHECK(kv_set(st, "k", "three") > v2);

    /* Durable across close and open. */
    weft_kv_close(kv);
    kv = kv_open("kv-basic", NULL);
    st = kv_store(kv, "default");
    CHECK_EQ_STR(kv_get_str(st, "k", &rc, &v), "three");
    CHECK(v > v2);
    CHECK(kv_set(st, "k", "four") > v); /* versions go on rising after a reopen */
    weft_kv_close(kv);
}

static void test_kv_versions(void) {
    weft_kv_t *kv = kv_open("kv-versions", NULL);
    weft_kv_store_t *st = kv_store(kv, "default");
    weft_error_t err = {0};
    int rc;
    uint64_t v = 0, v1 = kv_set(st, "k", "one"), v2;

    /* if_version: the right one writes, a wrong one is ECONFLICT and changes nothing. */
    weft_kv_set_options_t o = {.if_version = v1};
    CHECK_EQ_INT(weft_kv_set(st, "k", "two", 3, &o, &v2, &err), 0);
    CHECK(v2 > v1);
    CHECK_EQ_INT(weft_kv_set(st, "k", "bad", 3, &o, &v, &err), WEFT_ECONFLICT);
    CHECK(strstr(err.msg, "version") != NULL);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_STR(kv_get_str(st, "k", &rc, &v), "two");
    CHECK_EQ_INT(v, v2);

    /* if_absent: only when absent. */
    weft_kv_set_options_t a = {.if_absent = true};
    CHECK_EQ_INT(weft_kv_set(st, "k", "bad", 3, &a, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_kv_set(st, "new", "n", 1, &a, NULL, &err), 0);
    CHECK_EQ_INT(weft_kv_set(st, "new", "m", 1, &a, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_STR(kv_get_str(st, "new", &rc, NULL), "n");

    /* if_version of an absent key: a conflict, not a creation. */
    weft_kv_set_options_t g = {.if_version = v2};
    CHECK_EQ_INT(weft_kv_set(st, "ghost", "x", 1, &g, NULL, &err), WEFT_ECONFLICT);
    kv_get_str(st, "ghost", &rc, NULL);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);

    /* Both at once: EINVAL. */
    weft_kv_set_options_t both = {.if_version = v2, .if_absent = true};
    CHECK_EQ_INT(weft_kv_set(st, "k", "x", 1, &both, NULL, &err), WEFT_EINVAL);

    /* Delete with a version. */
    CHECK_EQ_INT(weft_kv_delete(st, "k", v1, &err), WEFT_ECONFLICT);
    CHECK_EQ_STR(kv_get_str(st, "k", &rc, NULL), "two");
    CHECK_EQ_INT(weft_kv_delete(st, "k", v2, &err), 0);
    CHECK_EQ_INT(weft_kv_delete(st, "k", v2, &err), WEFT_ENOTFOUND);

    /* A key deleted and set again does not take back an old version (no ABA). */
    uint64_t v3 = kv_set(st, "k", "again");
    CHECK(v3 != v1 && v3 != v2);
    o.if_version = v2;
    CHECK_EQ_INT(weft_kv_set(st, "k", "stale", 5, &o, NULL, &err), WEFT_ECONFLICT);
    weft_kv_close(kv);
}

static void test_kv_ttl(void) {
    weft_kv_t *kv = kv_open("kv-ttl", NULL);
    weft_kv_store_t *st = kv_store(kv, "default");
    weft_error_t err = {0};
    int rc;
    weft_kv_set_options_t t = {.ttl_ms = 300};
    CHECK_EQ_INT(weft_kv_set(st, "short", "s", 1, &t, NULL, &err), 0);
    CHECK_EQ_INT(weft_kv_set(st, "short2", "s", 1, &t, NULL, &err), 0);
    weft_kv_set_options_t long_ttl = {.ttl_ms = 600000};
    CHECK_EQ_INT(weft_kv_set(st, "long", "l", 1, &long_ttl, NULL, &err), 0);
    kv_set(st, "forever", "f");
    CHECK_EQ_STR(kv_get_str(st, "short", &rc, NULL), "s");
    CHECK_EQ_INT(weft_kv_exists(st, "short", &err), 0);
    weft_store_names_t page;
    CHECK_EQ_INT(weft_kv_list(st, NULL, NULL, 0, &page, &err), 0);
    CHECK_EQ_INT(page.n, 4);
    weft_store_names_free(&page);

    sleep_ms(500);
    /* Expired: not found by any call, and absent for if_absent. */
    kv_get_str(st, "short", &rc, NULL);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_exists(st, "short", &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_delete(st, "short", 0, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_list(st, NULL, NULL, 0, &page, &err), 0);
    CHECK_EQ_INT(page.n, 2);
    if (page.n == 2) {
        CHECK_EQ_STR(page.names[0], "forever");
        CHECK_EQ_STR(page.names[1], "long");
    }
    weft_store_names_free(&page);
    CHECK_EQ_STR(kv_get_str(st, "long", &rc, NULL), "l");
    weft_kv_set_options_t a = {.if_absent = true};
    CHECK_EQ_INT(weft_kv_set(st, "short2", "new", 3, &a, NULL, &err), 0);
    CHECK_EQ_STR(kv_get_str(st, "short2", &rc, NULL), "new");

    /* A set without a TTL makes the key last again. */
    CHECK_EQ_INT(weft_kv_set(st, "t", "1", 1, &t, NULL, &err), 0);
    kv_set(st, "t", "2");
    sleep_ms(500);
    CHECK_EQ_STR(kv_get_str(st, "t", &rc, NULL), "2");

    /* Purge deletes what expired (short was deleted lazily or is deleted now). */
    CHECK_EQ_INT(weft_kv_set(st, "p", "1", 1, &t, NULL, &err), 0);
    sleep_ms(400);
    uint64_t deleted = 0;
    CHECK_EQ_INT(weft_kv_purge(kv, &deleted, &err), 0);
    kv_get_str(st, "p", &rc, NULL);
    CHECK_EQ_INT(rc, WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_kv_purge(kv, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    weft_kv_close(kv);
}

/* Lists every page of (prefix, limit) and checks it holds exactly want[0..n), in order. */
static void kv_list_all(weft_kv_store_t *st, const char *prefix, size_t limit, char **want,
                        size_t n, size_t want_pages) {
    char after[WEFT_KV_MAX_KEY + 1] = "";
    size_t seen = 0, pages = 0;
    for (;;) {
        weft_store_names_t page;
        weft_error_t err = {0};
        int rc = weft_kv_list(st, prefix, after, limit, &page, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc)
            return;
        pages++;
        CHECK(page.n <= limit);
        for (size_t i = 0; i < page.n; i++, seen++)
            if (seen >= n || strcmp(page.names[i], want[seen]) != 0) {
                CHECK(!"a listed key out of order, or one too many");
                fprintf(stderr, "  got %s at %zu\n", page.names[i], seen);
            }
        bool more = page.more;
        if (page.n)
            snprintf(after, sizeof after, "%s", page.names[page.n - 1]);
        CHECK(page.n == limit || !more);
        weft_store_names_free(&page);
        if (!more)
            break;
    }
    CHECK_EQ_INT(seen, n);
    CHECK_EQ_INT(pages, want_pages);
}

static void test_kv_list(void) {
    weft_kv_t *kv = kv_open("kv-list", NULL);
    weft_kv_store_t *st = kv_store(kv, "default"), *other = kv_store(kv, "other");
    char *a[250], *all[502];
    size_t nall = 0;
    for (int i = 0; i < 250; i++) {
        char key[32];
        snprintf(key, sizeof key, "b/%03d", i);
        kv_set(st, key, "v");
        snprintf(key, sizeof key, "a/%03d", i);
        kv_set(st, key, "v");
        a[i] = strdup(key);
    }
    kv_set(st, "a", "v");      /* sorts before "a/..." */
    kv_set(st, "a0", "v");     /* '0' > '/': after every "a/..." */
    kv_set(other, "a/x", "v"); /* another store: never listed */
    /* Prefix "a/": 250 keys in pages of 100: 100, 100, 50. */
    kv_list_all(st, "a/", 100, a, 250, 3);
    /* Exactly a page's worth: the last page says more = false. */
    kv_list_all(st, "a/", 125, a, 250, 2);
    /* All keys, in byte order. */
    all[nall++] = strdup("a");
    for (int i = 0; i < 250; i++)
        all[nall++] = strdup(a[i]);
    all[nall++] = strdup("a0");
    for (int i = 0; i < 250; i++) {
        char key[32];
        snprintf(key, sizeof key, "b/%03d", i);
        all[nall++] = strdup(key);
    }
    kv_list_all(st, NULL, 1000, all, nall, 1);
    kv_list_all(st, "", 7, all, nall, (nall + 6) / 7);
    /* The default page size. */
    weft_store_names_t page;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_kv_list(st, "b/", NULL, 0, &page, &err), 0);
    CHECK_EQ_INT(page.n, WEFT_STORE_DEFAULT_PAGE);
    CHECK(page.more);
    weft_store_names_free(&page);
    /* A prefix nothing has; a cursor past the end. */
    kv_list_all(st, "c", 10, NULL, 0, 1);
    CHECK_EQ_INT(weft_kv_list(st, NULL, "zzz", 10, &page, &err), 0);
    CHECK_EQ_INT(page.n, 0);
    CHECK(!page.more);
    weft_store_names_free(&page);
    /* A key deleted is not listed. */
    CHECK_EQ_INT(weft_kv_delete(st, "a0", 0, &err), 0);
    CHECK_EQ_INT(weft_kv_list(st, "a0", NULL, 10, &page, &err), 0);
    CHECK_EQ_INT(page.n, 0);
    weft_store_names_free(&page);
    for (int i = 0; i < 250; i++)
        free(a[i]);
    for (size_t i = 0; i < nall; i++)
        free(all[i]);
    weft_kv_close(kv);
}

static void test_kv_bad_arguments(void) {
    weft_kv_options_t opts = {.max_value_bytes = 1000};
    weft_kv_t *kv = kv_open("kv-args", &opts);
    weft_kv_store_t *st = kv_store(kv, "default"), *bad = NULL;
    weft_error_t err = {0};
    char *big = calloc(1, WEFT_KV_MAX_KEY + 2);
    memset(big, 'k', WEFT_KV_MAX_KEY + 1);

    /* Store names. */
    CHECK_EQ_INT(weft_kv_store(kv, "", &bad, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_store(kv, NULL, &bad, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_store(kv, "a\nb", &bad, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "control") != NULL);
    CHECK_EQ_INT(weft_kv_store(kv, big, &bad, &err), WEFT_EINVAL);
    CHECK(bad == NULL);
    /* Keys: empty, too long, not UTF-8; the longest is fine. */
    CHECK_EQ_INT(weft_kv_set(st, "", "v", 1, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_set(st, NULL, "v", 1, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_set(st, big, "v", 1, NULL, NULL, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "4097") != NULL);
    CHECK_EQ_INT(weft_kv_get(st, big, NULL, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_exists(st, big, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_delete(st, big, 0, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_set(st, "\xff\xfe", "v", 1, NULL, NULL, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "UTF-8") != NULL);
    big[WEFT_KV_MAX_KEY] = 0;
    CHECK_EQ_INT(weft_kv_set(st, big, "v", 1, NULL, NULL, &err), 0);
    CHECK_EQ_INT(weft_kv_exists(st, big, &err), 0);
    /* Values: too large (ELIMIT), a length without bytes. */
    char value[1001] = {0};
    CHECK_EQ_INT(weft_kv_set(st, "v", value, 1000, NULL, NULL, &err), 0);
    CHECK_EQ_INT(weft_kv_set(st, "v", value, 1001, NULL, NULL, &err), WEFT_ELIMIT);
    CHECK(strstr(err.msg, "1001") != NULL);
    CHECK_EQ_INT(weft_kv_set(st, "v", NULL, 3, NULL, NULL, &err), WEFT_EINVAL);
    weft_kv_set_options_t neg = {.ttl_ms = -1};
    CHECK_EQ_INT(weft_kv_set(st, "v", "x", 1, &neg, NULL, &err), WEFT_EINVAL);
    /* Pages. */
    weft_store_names_t page;
    CHECK_EQ_INT(weft_kv_list(st, NULL, NULL, WEFT_STORE_MAX_PAGE + 1, &page, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_list(st, "\xff", NULL, 10, &page, &err), WEFT_EINVAL);
    /* Locations. */
    weft_kv_t *none = NULL;
    CHECK_EQ_INT(weft_kv_open("", NULL, &none, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_kv_open("nosuch://host/db", NULL, &none, &err), WEFT_EUNSUPPORTED);
    CHECK(strstr(err.msg, "nosuch") != NULL);
    CHECK(none == NULL);
    free(big);
    weft_kv_close(kv);
}

static void test_kv_full(void) {
    weft_kv_options_t opts = {.max_bytes = 256 << 10};
    weft_kv_t *kv = kv_open("kv-full", &opts);
    weft_kv_store_t *st = kv_store(kv, "default");
    weft_error_t err = {0};
    char *value = malloc(16 << 10);
    memset(value, 'v', 16 << 10);
    int rc = 0, i = 0;
    for (; i < 100 && rc == 0; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%03d", i);
        rc = weft_kv_set(st, key, value, 16 << 10, NULL, NULL, &err);
    }
    CHECK_EQ_INT(rc, WEFT_ELIMIT);
    CHECK(strstr(err.msg, "full") != NULL);
    CHECK(i > 4 && i < 20);
    /* What was written stays readable; the failed key is absent. */
    CHECK_EQ_INT(weft_kv_exists(st, "k000", &err), 0);
    char last[16];
    snprintf(last, sizeof last, "k%03d", i - 1);
    CHECK_EQ_INT(weft_kv_exists(st, last, &err), WEFT_ENOTFOUND);
    /* Deleting makes room again. */
    CHECK_EQ_INT(weft_kv_delete(st, "k000", 0, &err), 0);
    CHECK_EQ_INT(weft_kv_delete(st, "k001", 0, &err), 0);
    CHECK_EQ_INT(weft_kv_set(st, last, value, 16 << 10, NULL, NULL, &err), 0);
    /* Expired keys make room too. */
    weft_kv_set_options_t t = {.ttl_ms = 100};
    rc = 0;
    for (i = 0; i < 100 && rc == 0; i++) {
        char key[16];
        snprintf(key, sizeof key, "t%03d", i);
        rc = weft_kv_set(st, key, value, 16 << 10, &t, NULL, &err);
    }
    CHECK_EQ_INT(rc, WEFT_ELIMIT);
    sleep_ms(200);
    CHECK_EQ_INT(weft_kv_set(st, "after", value, 16 << 10, NULL, NULL, &err), 0);
    free(value);
    weft_kv_close(kv);
}

typedef struct kv_thread {
    weft_kv_store_t *st;
    int id;
    int conflicts;
    int failures;
} kv_thread_t;

#define KV_THREADS 8
#define KV_PER_THREAD 100

static void *kv_worker(void *arg) {
    kv_thread_t *t = arg;
    weft_error_t err = {0};
    for (int i = 0; i < KV_PER_THREAD; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "t%d/%03d", t->id, i);
        snprintf(value, sizeof value, "%d:%d", t->id, i);
        if (weft_kv_set(t->st, key, value, strlen(value), NULL, NULL, &err))
            t->failures++;
        /* Increment the shared counter: read, set if unchanged, again on a conflict. */
        for (;;) {
            uint8_t *v = NULL;
            size_t n;
            uint64_t ver = 0;
            if (weft_kv_get(t->st, "counter", &v, &n, &ver, &err)) {
                t->failures++;
                break;
            }
            char next[32];
            snprintf(next, sizeof next, "%ld", strtol((const char *)v, NULL, 10) + 1);
            free(v);
            weft_kv_set_options_t o = {.if_version = ver};
            int rc = weft_kv_set(t->st, "counter", next, strlen(next), &o, NULL, &err);
            if (rc == 0)
                break;
            if (rc != WEFT_ECONFLICT) {
                t->failures++;
                break;
            }
            t->conflicts++;
        }
    }
    return NULL;
}

static void test_kv_threads(void) {
    weft_kv_t *kv = kv_open("kv-threads", NULL);
    weft_kv_store_t *st = kv_store(kv, "default");
    kv_set(st, "counter", "0");
    pthread_t th[KV_THREADS];
    kv_thread_t t[KV_THREADS];
    for (int i = 0; i < KV_THREADS; i++) {
        t[i] = (kv_thread_t){.st = st, .id = i};
        pthread_create(&th[i], NULL, kv_worker, &t[i]);
    }
    int conflicts = 0, failures = 0;
    for (int i = 0; i < KV_THREADS; i++) {
        pthread_join(th[i], NULL);
        conflicts += t[i].conflicts;
        failures += t[i].failures;
    }
    CHECK_EQ_INT(failures, 0);
    int rc;
    char want[32];
    snprintf(want, sizeof want, "%d", KV_THREADS * KV_PER_THREAD);
    /* Optimistic concurrency lost no increment, however many conflicts it took. */
    CHECK_EQ_STR(kv_get_str(st, "counter", &rc, NULL), want);
    printf("kv threads: %d conflicts\n", conflicts);
    for (int i = 0; i < KV_THREADS; i++)
        for (int k = 0; k < KV_PER_THREAD; k += 7) {
            char key[32], value[32];
            snprintf(key, sizeof key, "t%d/%03d", i, k);
            snprintf(value, sizeof value, "%d:%d", i, k);
            CHECK_EQ_STR(kv_get_str(st, key, &rc, NULL), value);
        }
    weft_kv_close(kv);
}

/* Writes that race for one name: of KV_THREADS if-absent writes of the same key (or
 * document) exactly one wins; of KV_THREADS deletes of it exactly one finds it. Each
 * round starts all threads at once (a barrier), so that the writes come together: on
 * the embedded stores they share commits (group commit), where each must still see the
 * ones before it. Every version handed out is distinct. The same for key-value and
 * documents, through these two calls. */
typedef struct racer {
    void *store;
    int (*add)(void *store, const char *name, const char *value, uint64_t *version);
    int (*remove)(void *store, const char *name);
    pthread_barrier_t *go;
    int id;
    int set_won, set_lost, del_won, del_lost, failures;
    uint64_t versions[KV_PER_THREAD];
} racer_t;

static void *racer(void *arg) {
    racer_t *r = arg;
    for (int i = 0; i < KV_PER_THREAD; i++) {
        char name[32], value[32];
        snprintf(name, sizeof name, "race-%03d", i);
        snprintf(value, sizeof value, "%d", r->id);
        pthread_barrier_wait(r->go);
        int rc = r->add(r->store, name, value, &r->versions[i]);
        if (rc == 0)
            r->set_won++;
        else if (rc == WEFT_ECONFLICT)
            r->set_lost++;
        else
            r->failures++;
        pthread_barrier_wait(r->go);
        rc = r->remove(r->store, name);
        if (rc == 0)
            r->del_won++;
        else if (rc == WEFT_ENOTFOUND)
            r->del_lost++;
        else
            r->failures++;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void race(void *store, int (*add)(void *, const char *, const char *, uint64_t *),
                 int (*remove)(void *, const char *)) {
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, KV_THREADS);
    pthread_t th[KV_THREADS];
    racer_t r[KV_THREADS];
    for (int i = 0; i < KV_THREADS; i++) {
        r[i] = (racer_t){.store = store, .add = add, .remove = remove, .go = &go, .id = i};
        pthread_create(&th[i], NULL, racer, &r[i]);
    }
    int set_won = 0, set_lost = 0, del_won = 0, del_lost = 0, failures = 0;
    uint64_t versions[KV_PER_THREAD];
    size_t nversions = 0;
    for (int i = 0; i < KV_THREADS; i++) {
        pthread_join(th[i], NULL);
        set_won += r[i].set_won;
        set_lost += r[i].set_lost;
        del_won += r[i].del_won;
        del_lost += r[i].del_lost;
        failures += r[i].failures;
        for (int k = 0; k < KV_PER_THREAD; k++)
            if (r[i].versions[k] && nversions < KV_PER_THREAD)
                versions[nversions++] = r[i].versions[k];
    }
    pthread_barrier_destroy(&go);
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(set_won, KV_PER_THREAD); /* one winner a name */
    CHECK_EQ_INT(set_lost, (KV_THREADS - 1) * KV_PER_THREAD);
    CHECK_EQ_INT(del_won, KV_PER_THREAD);
    CHECK_EQ_INT(del_lost, (KV_THREADS - 1) * KV_PER_THREAD);
    CHECK_EQ_INT(nversions, KV_PER_THREAD);
    qsort(versions, nversions, sizeof *versions, cmp_u64);
    int repeats = 0;
    for (size_t i = 1; i < nversions; i++)
        repeats += versions[i] == versions[i - 1];
    CHECK_EQ_INT(repeats, 0);
}

static int kv_add(void *st, const char *key, const char *value, uint64_t *version) {
    weft_error_t err = {0};
    weft_kv_set_options_t o = {.if_absent = true};
    return weft_kv_set(st, key, value, strlen(value), &o, version, &err);
}

static int kv_remove(void *st, const char *key) {
    weft_error_t err = {0};
    return weft_kv_delete(st, key, 0, &err);
}

static void test_kv_races(void) {
    weft_kv_t *kv = kv_open("kv-races", NULL);
    race(kv_store(kv, "default"), kv_add, kv_remove);
    weft_kv_close(kv);
}

/* Writers filling a store together: on the embedded store a batch of them that finds
 * the file full fails as a whole and is made again write by write. Every set answered
 * 0 must be readable with its value, every one answered ELIMIT absent, and nothing else
 * answered. */
#define KV_FILL_EACH 20

typedef struct kv_filler {
    weft_kv_store_t *st;
    pthread_barrier_t *go;
    int id;
    int answers[KV_FILL_EACH]; /* what each set was answered */
} kv_filler_t;

static void *kv_filler(void *arg) {
    kv_filler_t *f = arg;
    weft_error_t err = {0};
    char value[8 << 10];
    for (int i = 0; i < KV_FILL_EACH; i++) {
        char key[32];
        snprintf(key, sizeof key, "fill/%d/%02d", f->id, i);
        memset(value, 'a' + f->id, sizeof value);
        pthread_barrier_wait(f->go);
        f->answers[i] = weft_kv_set(f->st, key, value, sizeof value, NULL, NULL, &err);
    }
    return NULL;
}

static void test_kv_fill_together(void) {
    weft_kv_options_t opts = {.max_bytes = 512 << 10};
    weft_kv_t *kv = kv_open("kv-fill", &opts);
    weft_kv_store_t *st = kv_store(kv, "default");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, KV_THREADS);
    pthread_t th[KV_THREADS];
    kv_filler_t f[KV_THREADS];
    for (int i = 0; i < KV_THREADS; i++) {
        f[i] = (kv_filler_t){.st = st, .go = &go, .id = i};
        pthread_create(&th[i], NULL, kv_filler, &f[i]);
    }
    for (int i = 0; i < KV_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    int stored = 0, full = 0, other = 0, wrong = 0;
    for (int i = 0; i < KV_THREADS; i++)
        for (int k = 0; k < KV_FILL_EACH; k++) {
            char key[32];
            snprintf(key, sizeof key, "fill/%d/%02d", i, k);
            uint8_t *v = NULL;
            size_t n = 0;
            weft_error_t err = {0};
            int rc = weft_kv_get(st, key, &v, &n, NULL, &err);
            if (f[i].answers[k] == 0) {
                stored++;
                wrong += rc != 0 || n != 8 << 10 || v[0] != 'a' + i || v[n - 1] != 'a' + i;
            } else if (f[i].answers[k] == WEFT_ELIMIT) {
                full++;
                wrong += rc != WEFT_ENOTFOUND;
            } else {
                other++;
            }
            free(v);
        }
    printf("kv fill together: %d stored, %d refused as full\n", stored, full);
    CHECK(stored > 0);
    CHECK(full > 0);
    CHECK_EQ_INT(other, 0);
    CHECK_EQ_INT(wrong, 0);
    weft_kv_close(kv);
}

/* ==== Documents ======================================================================== */

static weft_doc_t *doc_open(const char *tag, const weft_doc_options_t *opts) {
    weft_doc_t *d = NULL;
    weft_error_t err = {0};
    int rc = weft_doc_open(loc(tag), opts, &d, &err);
    if (rc)
        fprintf(stderr, "doc open %s: %s\n", loc(tag), err.msg);
    CHECK_EQ_INT(rc, 0);
    return d;
}

static uint64_t doc_put(weft_doc_t *d, const char *c, const char *id, const char *json) {
    weft_error_t err = {0};
    uint64_t v = 0;
    int rc = weft_doc_put(d, c, id, json, strlen(json), NULL, &v, &err);
    if (rc)
        fprintf(stderr, "put %s/%s: %s\n", c, id, err.msg);
    CHECK_EQ_INT(rc, 0);
    return v;
}

static void test_doc_basic(void) {
    weft_doc_t *d = doc_open("doc-basic", NULL);
    weft_error_t err = {0};
    char *json = NULL;
    size_t len = 0;
    uint64_t v = 0;
    CHECK(weft_doc_describe(d) != NULL);
    CHECK_EQ_INT(weft_doc_get(d, "users", "u1", &json, &len, &v, &err), WEFT_ENOTFOUND);
    CHECK(strstr(err.msg, "u1") != NULL);
    CHECK(json == NULL);
    CHECK_EQ_INT(weft_doc_delete(d, "users", "u1", 0, &err), WEFT_ENOTFOUND);

    const char *text = "{ \"name\": \"Ada\",  \"age\": 36 }";
    uint64_t v1 = doc_put(d, "users", "u1", text);
    CHECK(v1 > 0);
    CHECK_EQ_INT(weft_doc_get(d, "users", "u1", &json, &len, &v, &err), 0);
    CHECK_EQ_STR(json, text); /* kept as given */
    CHECK_EQ_INT(len, strlen(text));
    CHECK_EQ_INT(v, v1);
    free(json);
    /* Another collection, same id: another document. */
    CHECK_EQ_INT(weft_doc_get(d, "admins", "u1", NULL, NULL, NULL, &err), WEFT_ENOTFOUND);

    /* Replace; conditions as for keys. */
    uint64_t v2 = doc_put(d, "users", "u1", "{\"name\":\"Ada\",\"age\":37}");
    CHECK(v2 > v1);
    weft_doc_put_options_t o = {.if_version = v1};
    CHECK_EQ_INT(weft_doc_put(d, "users", "u1", "{}", 2, &o, NULL, &err), WEFT_ECONFLICT);
    o.if_version = v2;
    uint64_t v3 = 0;
    CHECK_EQ_INT(weft_doc_put(d, "users", "u1", "{\"age\":38}", 10, &o, &v3, &err), 0);
    CHECK(v3 > v2);
    weft_doc_put_options_t a = {.if_absent = true};
    CHECK_EQ_INT(weft_doc_put(d, "users", "u1", "{}", 2, &a, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_doc_put(d, "users", "u2", "{}", 2, &a, NULL, &err), 0);
    weft_doc_put_options_t g = {.if_version = v3};
    CHECK_EQ_INT(weft_doc_put(d, "users", "u3", "{}", 2, &g, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_doc_get(d, "users", "u3", NULL, NULL, NULL, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_doc_delete(d, "users", "u1", v2, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_doc_delete(d, "users", "u1", v3, &err), 0);
    CHECK_EQ_INT(weft_doc_get(d, "users", "u1", NULL, NULL, NULL, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_doc_delete(d, "users", "u2", 0, &err), 0);

    /* Durable across close and open. */
    doc_put(d, "users", "u9", "{\"x\":1}");
    weft_doc_close(d);
    d = doc_open("doc-basic", NULL);
    CHECK_EQ_INT(weft_doc_get(d, "users", "u9", &json, NULL, NULL, &err), 0);
    CHECK_EQ_STR(json, "{\"x\":1}");
    free(json);
    weft_doc_close(d);
}

static int doc_add(void *d, const char *id, const char *value, uint64_t *version) {
    weft_error_t err = {0};
    weft_doc_put_options_t o = {.if_absent = true};
    char json[64];
    snprintf(json, sizeof json, "{\"by\":%s}", value);
    return weft_doc_put(d, "c", id, json, strlen(json), &o, version, &err);
}

static int doc_remove(void *d, const char *id) {
    weft_error_t err = {0};
    return weft_doc_delete(d, "c", id, 0, &err);
}

static void test_doc_races(void) {
    weft_doc_t *d = doc_open("doc-races", NULL);
    race(d, doc_add, doc_remove);
    weft_doc_close(d);
}

static void test_doc_bad_arguments(void) {
    weft_doc_options_t opts = {.max_doc_bytes = 100};
    weft_doc_t *d = doc_open("doc-args", &opts);
    weft_error_t err = {0};
    const char *bad[] = {"",
                         "[1,2]",
                         "\"s\"",
                         "42",
                         "{\"a\":}",
                         "{\"a\":1}x",
                         "{\"a\":1,\"a\":2}",
                         "{\"a\":\"x\\u0000\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = weft_doc_put(d, "c", "id", bad[i], strlen(bad[i]), NULL, NULL, &err);
        if (rc != WEFT_EINVAL)
            fprintf(stderr, "put %s: %s\n", bad[i], weft_err_name(rc));
        CHECK_EQ_INT(rc, WEFT_EINVAL);
        CHECK(strstr(err.msg, "c/id") != NULL);
    }
    CHECK_EQ_INT(weft_doc_get(d, "c", "id", NULL, NULL, NULL, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_doc_put(d, "c", "id", NULL, 0, NULL, NULL, &err), WEFT_EINVAL);
    /* Too large: ELIMIT; the largest allowed is fine. */
    char doc[128];
    snprintf(doc, sizeof doc, "{\"a\":\"%0*d\"}", 92, 0);
    CHECK_EQ_INT(strlen(doc), 100);
    CHECK_EQ_INT(weft_doc_put(d, "c", "id", doc, strlen(doc), NULL, NULL, &err), 0);
    snprintf(doc, sizeof doc, "{\"a\":\"%0*d\"}", 93, 0);
    CHECK_EQ_INT(weft_doc_put(d, "c", "id", doc, strlen(doc), NULL, NULL, &err), WEFT_ELIMIT);
    CHECK(strstr(err.msg, "101") != NULL);
    /* Names and ids. */
    CHECK_EQ_INT(weft_doc_put(d, "", "id", "{}", 2, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_put(d, "c", "", "{}", 2, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_put(d, "c", "a\tb", "{}", 2, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_get(d, "c", NULL, NULL, NULL, NULL, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_delete(d, NULL, "id", 0, &err), WEFT_EINVAL);
    char *longid = calloc(1, WEFT_DOC_MAX_ID + 2);
    memset(longid, 'i', WEFT_DOC_MAX_ID + 1);
    CHECK_EQ_INT(weft_doc_put(d, "c", longid, "{}", 2, NULL, NULL, &err), WEFT_EINVAL);
    longid[WEFT_DOC_MAX_ID] = 0;
    CHECK_EQ_INT(weft_doc_put(d, "c", longid, "{}", 2, NULL, NULL, &err), 0);
    free(longid);
    weft_doc_put_options_t both = {.if_version = 1, .if_absent = true};
    CHECK_EQ_INT(weft_doc_put(d, "c", "id", "{}", 2, &both, NULL, &err), WEFT_EINVAL);
    /* Queries: a value that is not a JSON scalar, too many conditions, a page too big. */
    weft_doc_page_t page;
    weft_doc_match_t m[WEFT_DOC_MAX_MATCHES + 1];
    for (int i = 0; i <= WEFT_DOC_MAX_MATCHES; i++)
        m[i] = (weft_doc_match_t){"a", "1"};
    CHECK_EQ_INT(weft_doc_query(d, "c", m, WEFT_DOC_MAX_MATCHES + 1, NULL, 10, &page, &err),
                 WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_query(d, "c", m, WEFT_DOC_MAX_MATCHES, NULL, 10, &page, &err), 0);
    weft_doc_page_free(&page);
    weft_doc_match_t bad_m[] = {{"a", "{\"x\":1}"}, {"a", "[1]"}, {"a", "red"},
                                {"a", NULL},        {"", "1"},    {NULL, "1"}};
    for (size_t i = 0; i < sizeof bad_m / sizeof bad_m[0]; i++)
        CHECK_EQ_INT(weft_doc_query(d, "c", &bad_m[i], 1, NULL, 10, &page, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_doc_query(d, "c", NULL, 0, NULL, WEFT_STORE_MAX_PAGE + 1, &page, &err),
                 WEFT_EINVAL);
    weft_doc_t *none = NULL;
    CHECK_EQ_INT(weft_doc_open("nosuch://x", NULL, &none, &err), WEFT_EUNSUPPORTED);
    weft_doc_close(d);
}

/* The ids a query returns, all pages, joined by ','; *pages counts the pages. */
static char *query_ids(weft_doc_t *d, const weft_doc_match_t *m, size_t n, size_t limit,
                       int *pages) {
    static char out[4096];
    char after[256] = "";
    out[0] = 0;
    *pages = 0;
    for (;;) {
        weft_doc_page_t page;
        weft_error_t err = {0};
        int rc = weft_doc_query(d, "things", m, n, after, limit, &page, &err);
        if (rc)
            fprintf(stderr, "query: %s\n", err.msg);
        CHECK_EQ_INT(rc, 0);
        if (rc)
            return out;
        (*pages)++;
        for (size_t i = 0; i < page.n; i++) {
            size_t len = strlen(out);
            snprintf(out + len, sizeof out - len, "%s%s", len ? "," : "", page.items[i].id);
            CHECK(page.items[i].version > 0);
            CHECK(page.items[i].json && page.items[i].len == strlen(page.items[i].json));
        }
        bool more = page.more;
        if (page.n)
            snprintf(after, sizeof after, "%s", page.items[page.n - 1].id);
        weft_doc_page_free(&page);
        if (!more)
            return out;
    }
}

static void test_doc_query(void) {
    weft_doc_t *d = doc_open("doc-query", NULL);
    doc_put(d, "things", "a", "{\"color\":\"red\",\"n\":3,\"ok\":true,\"z\":null}");
    doc_put(d, "things", "b", "{\"color\":\"blue\",\"n\":3.0,\"ok\":false}");
    doc_put(d, "things", "c", "{\"color\":\"red\",\"n\":1,\"ok\":1,\"nested\":{\"color\":\"x\"}}");
    doc_put(d, "things", "d", "{\"color\":\"red\",\"n\":\"3\",\"a.b\":\"dot\",\"q\\\"t\":2}");
    doc_put(d, "things", "e", "{\"color\":\"RED\",\"n\":2.5,\"z\":0}");
    doc_put(d, "others", "f", "{\"color\":\"red\"}");
    int pages;
    struct {
        weft_doc_match_t m[2];
        size_t n;
        const char *want;
    } cases[] = {
        {{{"color", "\"red\""}}, 1, "a,c,d"},         /* strings: exact, case-sensitive */
        {{{"n", "3"}}, 1, "a,b"},                     /* 3 matches 3.0, not "3" */
        {{{"n", "3.0"}}, 1, "a,b"},                   /* and the other way round */
        {{{"n", "\"3\""}}, 1, "d"},                   /* the string "3" only */
        {{{"n", "2.5"}}, 1, "e"},                     /* reals */
        {{{"ok", "true"}}, 1, "a"},                   /* true is not 1 */
        {{{"ok", "1"}}, 1, "c"},                      /* nor is 1 true */
        {{{"ok", "false"}}, 1, "b"},                  /* false is not 0 or missing */
        {{{"z", "null"}}, 1, "a"},                    /* null: present and null, not missing */
        {{{"z", "0"}}, 1, "e"},                       /* 0 is not null */
        {{{"color", "\"red\""}, {"n", "3"}}, 2, "a"}, /* every condition must hold */
        {{{"color", "\"x\""}}, 1, ""},                /* top-level members only */
        {{{"a.b", "\"dot\""}}, 1, "d"},               /* a member name is not a path */
        {{{"q\"t", "2"}}, 1, "d"},                    /* nor needs quoting */
        {{{"missing", "null"}}, 1, ""},               /* no such member anywhere */
        {{{"color", "\"red\""}}, 0, "a,b,c,d,e"},     /* no condition: all */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = query_ids(d, cases[i].m, cases[i].n, 10, &pages);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "query case %zu (%s = %s): got [%s], expected [%s]\n", i,
                    cases[i].m[0].field, cases[i].m[0].value, got, cases[i].want);
        CHECK_EQ_STR(got, cases[i].want);
    }
    /* Paging: 40 more matching documents in pages of 7, in id order, none twice. */
    char want[2048] = "a,c,d";
    for (int i = 0; i < 40; i++) {
        char id[16], body[64];
        snprintf(id, sizeof id, "p%02d", i);
        snprintf(body, sizeof body, "{\"color\":\"red\",\"i\":%d}", i);
        doc_put(d, "things", id, body);
        size_t len = strlen(want);
        snprintf(want + len, sizeof want - len, ",%s", id);
    }
    weft_doc_match_t red = {"color", "\"red\""};
    CHECK_EQ_STR(query_ids(d, &red, 1, 7, &pages), want);
    CHECK_EQ_INT(pages, (43 + 6) / 7);
    CHECK_EQ_STR(query_ids(d, &red, 1, 43, &pages), want);
    CHECK_EQ_INT(pages, 1);
    /* A changed document is found by its new fields only. */
    doc_put(d, "things", "a", "{\"color\":\"green\"}");
    weft_doc_match_t green = {"color", "\"green\""};
    CHECK_EQ_STR(query_ids(d, &green, 1, 10, &pages), "a");
    weft_doc_close(d);
}

static void test_doc_full(void) {
    weft_doc_options_t opts = {.max_bytes = 256 << 10};
    weft_doc_t *d = doc_open("doc-full", &opts);
    weft_error_t err = {0};
    char *doc = malloc(20 << 10);
    snprintf(doc, 20 << 10, "{\"a\":\"%0*d\"}", (20 << 10) - 10, 0);
    int rc = 0, i = 0;
    for (; i < 100 && rc == 0; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%03d", i);
        rc = weft_doc_put(d, "c", id, doc, strlen(doc), NULL, NULL, &err);
    }
    CHECK_EQ_INT(rc, WEFT_ELIMIT);
    CHECK(i > 3 && i < 20);
    CHECK_EQ_INT(weft_doc_get(d, "c", "d000", NULL, NULL, NULL, &err), 0);
    CHECK_EQ_INT(weft_doc_delete(d, "c", "d000", 0, &err), 0);
    CHECK_EQ_INT(weft_doc_delete(d, "c", "d001", 0, &err), 0);
    CHECK_EQ_INT(weft_doc_put(d, "c", "again", doc, strlen(doc), NULL, NULL, &err), 0);
    free(doc);
    weft_doc_close(d);
}

/* ==== Blobs ============================================================================ */

static weft_blob_t *blob_open(const char *tag, const weft_blob_options_t *opts) {
    weft_blob_t *b = NULL;
    weft_error_t err = {0};
    int rc = weft_blob_open(loc(tag), opts, &b, &err);
    if (rc)
        fprintf(stderr, "blob open %s: %s\n", loc(tag), err.msg);
    CHECK_EQ_INT(rc, 0);
    return b;
}

/* Byte i of test blob `seed`: recomputable at any offset. */
static uint8_t pattern(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    x ^= x >> 29;
    return (uint8_t)(x * 0xbf58476d1ce4e5b9ull >> 56);
}

static void fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(seed, off + i);
}

/* Writes a blob of size bytes of pattern(seed) in chunks; 0 or the error. */
static int blob_put(weft_blob_t *b, const char *c, const char *name, uint64_t seed, uint64_t size,
                    size_t chunk, const weft_blob_put_options_t *opts, weft_blob_meta_t *meta,
                    char *sha_hex, weft_error_t *err) {
    weft_blob_writer_t *w = NULL;
    int rc = weft_blob_writer_open(b, c, name, "application/x-test", opts, &w, err);
    if (rc)
        return rc;
    uint8_t *buf = malloc(chunk);
    struct sha256_ctx sha;
    sha256_init(&sha);
    for (uint64_t off = 0; off < size && !rc; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        fill(seed, off, buf, n);
        sha256_update(&sha, n, buf);
        rc = weft_blob_write(w, buf, n, err);
    }
    free(buf);
    if (sha_hex) {
        uint8_t d[32];
        sha256_digest(&sha, 32, d);
        weft_hex(d, 32, sha_hex);
    }
    if (rc) {
        weft_blob_writer_abort(w);
        return rc;
    }
    return weft_blob_writer_commit(w, meta, err);
}

/* Reads the whole blob in chunks and checks it is pattern(seed) of size bytes. */
static void blob_check(weft_blob_t *b, const char *c, const char *name, uint64_t seed,
                       uint64_t size, size_t chunk) {
    weft_blob_reader_t *r = NULL;
    weft_blob_meta_t m;
    weft_error_t err = {0};
    int rc = weft_blob_reader_open(b, c, name, &r, &m, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        return;
    CHECK_EQ_INT(m.size, size);
    uint8_t *buf = malloc(chunk), *want = malloc(chunk);
    uint64_t off = 0;
    bool same = true;
    for (;;) {
        size_t got = 0;
        if (weft_blob_read(r, off, buf, chunk, &got, &err)) {
            same = false;
            break;
        }
        if (got == 0)
            break;
        fill(seed, off, want, got);
        if (memcmp(buf, want, got) != 0)
            same = false;
        off += got;
        if (got < chunk)
            break;
    }
    CHECK(same);
    CHECK_EQ_INT(off, size);
    free(buf);
    free(want);
    weft_blob_reader_close(r);
}

static void test_blob_basic(void) {
    weft_blob_t *b = blob_open("blob-basic", NULL);
    weft_error_t err = {0};
    weft_blob_meta_t m, s;
    char sha[65];
    CHECK(weft_blob_describe(b) != NULL);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "a.jpg", &s, &err), WEFT_ENOTFOUND);
    CHECK(strstr(err.msg, "a.jpg") != NULL);
    weft_blob_reader_t *r = NULL;
    CHECK_EQ_INT(weft_blob_reader_open(b, "photos", "a.jpg", &r, NULL, &err), WEFT_ENOTFOUND);
    CHECK(r == NULL);
    CHECK_EQ_INT(weft_blob_delete(b, "photos", "a.jpg", 0, &err), WEFT_ENOTFOUND);

    /* Write in odd chunks; commit gives the metadata; stat agrees. */
    int64_t before = (int64_t)time(NULL) * 1000 - 2000;
    CHECK_EQ_INT(blob_put(b, "photos", "a.jpg", 1, 100000, 777, NULL, &m, sha, &err), 0);
    CHECK_EQ_INT(m.size, 100000);
    CHECK_EQ_STR(m.sha256, sha);
    CHECK_EQ_STR(m.content_type, "application/x-test");
    CHECK(m.version > 0);
    CHECK(m.mtime_ms >= before && m.mtime_ms <= (int64_t)time(NULL) * 1000 + 2000);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "a.jpg", &s, &err), 0);
    CHECK(memcmp(&s, &m, sizeof s) == 0);
    blob_check(b, "photos", "a.jpg", 1, 100000, 4096);

    /* Reads at offsets: inside, across the end, at and past the end. */
    CHECK_EQ_INT(weft_blob_reader_open(b, "photos", "a.jpg", &r, &s, &err), 0);
    uint8_t buf[1000], want[1000];
    size_t got = 0;
    uint64_t offs[] = {0, 1, 4095, 50000, 99999};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        CHECK_EQ_INT(weft_blob_read(r, offs[i], buf, sizeof buf, &got, &err), 0);
        size_t expect = 100000 - offs[i] < sizeof buf ? (size_t)(100000 - offs[i]) : sizeof buf;
        CHECK_EQ_INT(got, expect);
        fill(1, offs[i], want, got);
        CHECK(memcmp(buf, want, got) == 0);
    }
    CHECK_EQ_INT(weft_blob_read(r, 100000, buf, sizeof buf, &got, &err), 0);
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(weft_blob_read(r, 1ull << 40, buf, sizeof buf, &got, &err), 0);
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(weft_blob_read(r, 0, buf, 0, &got, &err), 0);
    CHECK_EQ_INT(got, 0);

    /* Replace: a new version; the open reader still reads the one it opened. */
    weft_blob_meta_t m2;
    CHECK_EQ_INT(blob_put(b, "photos", "a.jpg", 2, 5000, 5000, NULL, &m2, NULL, &err), 0);
    CHECK(m2.version > m.version);
    CHECK(strcmp(m2.sha256, m.sha256) != 0);
    CHECK_EQ_INT(weft_blob_read(r, 50000, buf, sizeof buf, &got, &err), 0);
    fill(1, 50000, want, sizeof want);
    CHECK(got == sizeof buf && memcmp(buf, want, got) == 0);
    blob_check(b, "photos", "a.jpg", 2, 5000, 1024);

    /* Conditions, checked at commit. */
    weft_blob_put_options_t o = {.if_version = m.version};
    CHECK_EQ_INT(blob_put(b, "photos", "a.jpg", 3, 10, 10, &o, NULL, NULL, &err), WEFT_ECONFLICT);
    blob_check(b, "photos", "a.jpg", 2, 5000, 1024);
    o.if_version = m2.version;
    weft_blob_meta_t m3;
    CHECK_EQ_INT(blob_put(b, "photos", "a.jpg", 3, 10, 10, &o, &m3, NULL, &err), 0);
    weft_blob_put_options_t a = {.if_absent = true};
    CHECK_EQ_INT(blob_put(b, "photos", "a.jpg", 4, 10, 10, &a, NULL, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(blob_put(b, "photos", "new", 4, 10, 10, &a, NULL, NULL, &err), 0);
    weft_blob_put_options_t g = {.if_version = m3.version};
    CHECK_EQ_INT(blob_put(b, "photos", "ghost", 4, 10, 10, &g, NULL, NULL, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "ghost", &s, &err), WEFT_ENOTFOUND);

    /* An empty blob; the default content type. */
    weft_blob_writer_t *w = NULL;
    CHECK_EQ_INT(weft_blob_writer_open(b, "photos", "empty", NULL, NULL, &w, &err), 0);
    CHECK_EQ_INT(weft_blob_writer_commit(w, &s, &err), 0);
    CHECK_EQ_INT(s.size, 0);
    CHECK_EQ_STR(s.content_type, "application/octet-stream");
    CHECK_EQ_STR(s.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    blob_check(b, "photos", "empty", 0, 0, 16);

    /* A writer not committed is not seen; an aborted one leaves nothing. */
    CHECK_EQ_INT(weft_blob_writer_open(b, "photos", "pending", "text/plain", NULL, &w, &err), 0);
    CHECK_EQ_INT(weft_blob_write(w, "abc", 3, &err), 0);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "pending", &s, &err), WEFT_ENOTFOUND);
    weft_blob_writer_abort(w);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "pending", &s, &err), WEFT_ENOTFOUND);

    /* Delete with and without a version; the open reader still reads. */
    CHECK_EQ_INT(weft_blob_delete(b, "photos", "a.jpg", m2.version, &err), WEFT_ECONFLICT);
    CHECK_EQ_INT(weft_blob_delete(b, "photos", "a.jpg", m3.version, &err), 0);
    CHECK_EQ_INT(weft_blob_stat(b, "photos", "a.jpg", &s, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_blob_delete(b, "photos", "a.jpg", 0, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_blob_read(r, 99000, buf, sizeof buf, &got, &err), 0);
    CHECK_EQ_INT(got, 1000);
    weft_blob_reader_close(r);

    /* Another container is another namespace; durable across close and open. */
    CHECK_EQ_INT(weft_blob_stat(b, "other", "new", &s, &err), WEFT_ENOTFOUND);
    weft_blob_close(b);
    b = blob_open("blob-basic", NULL);
    blob_check(b, "photos", "new", 4, 10, 16);
    weft_blob_close(b);
}

static void test_blob_names(void) {
    weft_blob_t *b = blob_open("blob-names", NULL);
    weft_error_t err = {0};
    weft_blob_writer_t *w = NULL;
    /* Containers: [a-z0-9-], 1..63. */
    const char *bad_c[] = {"",
                           "Photos",
                           "a_b",
                           "a/b",
                           "a.b",
                           "..",
                           "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad_c / sizeof bad_c[0]; i++)
        CHECK_EQ_INT(weft_blob_writer_open(b, bad_c[i], "n", NULL, NULL, &w, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_blob_writer_open(b, NULL, "n", NULL, NULL, &w, &err), WEFT_EINVAL);
    CHECK(w == NULL);
    weft_blob_meta_t s;
    CHECK_EQ_INT(weft_blob_stat(b, "UP", "n", &s, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_blob_delete(b, "", "n", 0, &err), WEFT_EINVAL);
    weft_store_names_t page;
    CHECK_EQ_INT(weft_blob_list(b, "a b", NULL, NULL, 10, &page, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_blob_list(b, "c", NULL, NULL, WEFT_STORE_MAX_PAGE + 1, &page, &err),
                 WEFT_EINVAL);
    /* Names: 1..1024 bytes, anything but NUL: path-like names stay names. */
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", "", NULL, NULL, &w, &err), WEFT_EINVAL);
    char *longname = calloc(1, WEFT_BLOB_MAX_NAME + 2);
    memset(longname, 'n', WEFT_BLOB_MAX_NAME + 1);
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", longname, NULL, NULL, &w, &err), WEFT_EINVAL);
    longname[WEFT_BLOB_MAX_NAME] = 0;
    /* Content types: printable ASCII. */
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", "n", "text/plain\r\nX: y", NULL, &w, &err),
                 WEFT_EINVAL);
    weft_blob_put_options_t both = {.if_version = 1, .if_absent = true};
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", "n", NULL, &both, &w, &err), WEFT_EINVAL);
    const char *names[] = {"../../../../etc/passwd-weft-test",
                           "/abs",
                           "a/b/c",
                           ".",
                           "..",
                           "sp ace",
                           "new\nline",
                           "\xff\xfe bytes",
                           "caf\xc3\xa9",
                           longname};
    size_t nn = sizeof names / sizeof names[0];
    for (size_t i = 0; i < nn; i++) {
        weft_blob_meta_t m;
        CHECK_EQ_INT(blob_put(b, "c", names[i], i, 100 + i, 64, NULL, &m, NULL, &err), 0);
    }
    for (size_t i = 0; i < nn; i++)
        blob_check(b, "c", names[i], i, 100 + i, 64);
    CHECK(access("/etc/passwd-weft-test", F_OK) != 0);
    CHECK_EQ_INT(weft_blob_list(b, "c", NULL, NULL, 100, &page, &err), 0);
    CHECK_EQ_INT(page.n, nn);
    for (size_t i = 1; i < page.n; i++) /* byte order */
        CHECK(strcmp(page.names[i - 1], page.names[i]) < 0);
    weft_store_names_free(&page);
    /* A prefix that ends in 0xff bytes. */
    CHECK_EQ_INT(weft_blob_list(b, "c", "\xff", NULL, 100, &page, &err), 0);
    CHECK_EQ_INT(page.n, 1);
    weft_store_names_free(&page);
    free(longname);
    weft_blob_close(b);
}

static void test_blob_list(void) {
    weft_blob_t *b = blob_open("blob-list", NULL);
    weft_error_t err = {0};
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "img/%02d.png", i);
        CHECK_EQ_INT(blob_put(b, "c", name, i, 10, 10, NULL, NULL, NULL, &err), 0);
        snprintf(name, sizeof name, "doc/%02d.txt", i);
        CHECK_EQ_INT(blob_put(b, "c", name, i, 10, 10, NULL, NULL, NULL, &err), 0);
    }
    CHECK_EQ_INT(blob_put(b, "d", "img/xx.png", 1, 10, 10, NULL, NULL, NULL, &err), 0);
    char after[64] = "";
    int pages = 0, seen = 0;
    bool ordered = true;
    for (;;) {
        weft_store_names_t page;
        CHECK_EQ_INT(weft_blob_list(b, "c", "img/", after, 10, &page, &err), 0);
        pages++;
        for (size_t i = 0; i < page.n; i++, seen++) {
            char want[32];
            snprintf(want, sizeof want, "img/%02d.png", seen);
            if (strcmp(page.names[i], want) != 0)
                ordered = false;
        }
        bool more = page.more;
        if (page.n)
            snprintf(after, sizeof after, "%s", page.names[page.n - 1]);
        weft_store_names_free(&page);
        if (!more)
            break;
    }
    CHECK(ordered);
    CHECK_EQ_INT(seen, 25);
    CHECK_EQ_INT(pages, 3);
    weft_store_names_t page;
    CHECK_EQ_INT(weft_blob_list(b, "c", NULL, NULL, 0, &page, &err), 0);
    CHECK_EQ_INT(page.n, 50);
    CHECK(!page.more);
    weft_store_names_free(&page);
    CHECK_EQ_INT(weft_blob_list(b, "empty", NULL, NULL, 0, &page, &err), 0);
    CHECK_EQ_INT(page.n, 0);
    weft_store_names_free(&page);
    weft_blob_close(b);
}

static void test_blob_large(void) {
    weft_blob_t *b = blob_open("blob-large", NULL);
    weft_error_t err = {0};
    weft_blob_meta_t m;
    char sha[65];
    const uint64_t size = 64ull << 20;
    CHECK_EQ_INT(blob_put(b, "big", "64MiB", 7, size, 64 << 10, NULL, &m, sha, &err), 0);
    CHECK_EQ_INT(m.size, size);
    CHECK_EQ_STR(m.sha256, sha);
    /* Read back in 1 MiB chunks, its SHA-256 recomputed from what was read. */
    weft_blob_reader_t *r = NULL;
    CHECK_EQ_INT(weft_blob_reader_open(b, "big", "64MiB", &r, NULL, &err), 0);
    if (r) {
        size_t chunk = 1 << 20;
        uint8_t *buf = malloc(chunk);
        struct sha256_ctx ctx;
        sha256_init(&ctx);
        uint64_t off = 0;
        size_t got = 0;
        while (weft_blob_read(r, off, buf, chunk, &got, &err) == 0 && got) {
            sha256_update(&ctx, got, buf);
            off += got;
        }
        uint8_t d[32];
        char hex[65];
        sha256_digest(&ctx, 32, d);
        weft_hex(d, 32, hex);
        CHECK_EQ_INT(off, size);
        CHECK_EQ_STR(hex, sha);
        /* Random offsets. */
        srand(7);
        bool same = true;
        for (int i = 0; i < 200; i++) {
            uint64_t at = ((uint64_t)rand() << 16 ^ (uint64_t)rand()) % size;
            uint8_t want[300];
            CHECK_EQ_INT(weft_blob_read(r, at, buf, 300, &got, &err), 0);
            fill(7, at, want, got);
            if (got != (size - at < 300 ? size - at : 300) || memcmp(buf, want, got) != 0)
                same = false;
        }
        CHECK(same);
        free(buf);
        weft_blob_reader_close(r);
    }
    weft_blob_close(b);
}

static void test_blob_full(void) {
    weft_blob_options_t opts = {.max_blob_bytes = 700 << 10, .max_bytes = 1 << 20};
    weft_blob_t *b = blob_open("blob-full", &opts);
    weft_error_t err = {0};
    weft_blob_meta_t m;
    /* One blob past max_blob_bytes: ELIMIT at the write that passes it. */
    CHECK_EQ_INT(blob_put(b, "c", "huge", 1, (700 << 10) + 1, 64 << 10, NULL, NULL, NULL, &err),
                 WEFT_ELIMIT);
    CHECK_EQ_INT(weft_blob_stat(b, "c", "huge", &m, &err), WEFT_ENOTFOUND);
    /* After a failed write, only abort remains: a commit fails and frees the writer. */
    weft_blob_writer_t *w = NULL;
    char *big = calloc(1, (700 << 10) + 1);
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", "huge", NULL, NULL, &w, &err), 0);
    CHECK_EQ_INT(weft_blob_write(w, big, (700 << 10) + 1, &err), WEFT_ELIMIT);
    CHECK_EQ_INT(weft_blob_write(w, big, 1, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_blob_writer_commit(w, NULL, &err), WEFT_EINVAL);
    free(big);
    /* The store's cap: 600 KiB fits, 600 more do not, replacing the first with 900 does
     * (its old bytes are given back). */
    CHECK_EQ_INT(blob_put(b, "c", "a", 1, 600 << 10, 64 << 10, NULL, NULL, NULL, &err), 0);
    CHECK_EQ_INT(blob_put(b, "c", "b", 2, 600 << 10, 64 << 10, NULL, NULL, NULL, &err),
                 WEFT_ELIMIT);
    CHECK(strstr(err.msg, "full") != NULL);
    CHECK_EQ_INT(weft_blob_stat(b, "c", "b", &m, &err), WEFT_ENOTFOUND);
    CHECK_EQ_INT(blob_put(b, "c", "a", 3, 650 << 10, 64 << 10, NULL, NULL, NULL, &err), 0);
    blob_check(b, "c", "a", 3, 650 << 10, 1 << 16);
    CHECK_EQ_INT(weft_blob_delete(b, "c", "a", 0, &err), 0);
    CHECK_EQ_INT(blob_put(b, "c", "b", 2, 600 << 10, 64 << 10, NULL, NULL, NULL, &err), 0);
    weft_blob_close(b);
}

typedef struct blob_thread {
    weft_blob_t *b;
    int id;
    int failures;
} blob_thread_t;

static void *blob_worker(void *arg) {
    blob_thread_t *t = arg;
    for (int i = 0; i < 10; i++) {
        char name[32];
        weft_error_t err = {0};
        weft_blob_meta_t m;
        char sha[65];
        snprintf(name, sizeof name, "t%d/%d", t->id, i);
        uint64_t seed = (uint64_t)t->id * 100 + (uint64_t)i;
        if (blob_put(t->b, "c", name, seed, 50000 + (uint64_t)i, 4096, NULL, &m, sha, &err) ||
            strcmp(m.sha256, sha) != 0)
            t->failures++;
        /* Every thread replaces one shared blob too. */
        if (blob_put(t->b, "c", "shared", seed, 3000, 1000, NULL, NULL, NULL, &err))
            t->failures++;
    }
    return NULL;
}

static void test_blob_threads(void) {
    weft_blob_t *b = blob_open("blob-threads", NULL);
    pthread_t th[4];
    blob_thread_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (blob_thread_t){.b = b, .id = i};
        pthread_create(&th[i], NULL, blob_worker, &t[i]);
    }
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        failures += t[i].failures;
    }
    CHECK_EQ_INT(failures, 0);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 10; k++) {
            char name[32];
            snprintf(name, sizeof name, "t%d/%d", i, k);
            blob_check(b, "c", name, (uint64_t)i * 100 + (uint64_t)k, 50000 + (uint64_t)k, 8192);
        }
    /* The shared blob is one of the writers' whole blobs. */
    weft_blob_reader_t *r = NULL;
    weft_error_t err = {0};
    weft_blob_meta_t m;
    CHECK_EQ_INT(weft_blob_reader_open(b, "c", "shared", &r, &m, &err), 0);
    if (r) {
        uint8_t buf[3000];
        size_t got = 0;
        CHECK_EQ_INT(weft_blob_read(r, 0, buf, sizeof buf, &got, &err), 0);
        uint8_t d[32];
        char hex[65];
        weft_sha256(buf, got, d);
        weft_hex(d, 32, hex);
        CHECK_EQ_STR(hex, m.sha256);
        weft_blob_reader_close(r);
    }
    weft_blob_close(b);
}

/* ==== Embedded backend ================================================================= */

/* A path under the test's sqlite folder. */
static const char *emb_path(const char *tag, const char *file) {
    static char out[700];
    const char *l = loc(tag);
    if (strncmp(l, "sqlite:", 7) == 0)
        l += 7;
    snprintf(out, sizeof out, "%s/%s", l, file);
    return out;
}

static void test_embedded_second_open(void) {
    weft_kv_t *kv = kv_open("emb-twice", NULL), *kv2 = NULL;
    weft_doc_t *d = doc_open("emb-twice", NULL), *d2 = NULL;
    weft_blob_t *b = blob_open("emb-twice", NULL), *b2 = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_kv_open(loc("emb-twice"), NULL, &kv2, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "in use") && strstr(err.msg, "kv.db"));
    CHECK_EQ_INT(weft_doc_open(loc("emb-twice"), NULL, &d2, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "in use") && strstr(err.msg, "docs.db"));
    CHECK_EQ_INT(weft_blob_open(loc("emb-twice"), NULL, &b2, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "in use") && strstr(err.msg, "blobs.db"));
    CHECK(!kv2 && !d2 && !b2);
    weft_kv_close(kv);
    weft_doc_close(d);
    weft_blob_close(b);
    /* Closed: it opens again. */
    kv = kv_open("emb-twice", NULL);
    weft_kv_close(kv);
}

/* A file that is not a store of its kind: EIO naming it. */
static void test_embedded_not_a_store(void) {
    const char *files[] = {"kv.db", "docs.db", "blobs.db"};
    /* Garbage bytes. */
    mkdir(emb_path("emb-garbage", ""), 0700);
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(emb_path("emb-garbage", files[i]), "w");
        for (int k = 0; k < 2000; k++)
            fputs("this is not a database ", f);
        fclose(f);
    }
    weft_error_t err = {0};
    weft_kv_t *kv = NULL;
    weft_doc_t *d = NULL;
    weft_blob_t *b = NULL;
    CHECK_EQ_INT(weft_kv_open(loc("emb-garbage"), NULL, &kv, &err), WEFT_EIO);
    CHECK(strstr(err.msg, emb_path("emb-garbage", "kv.db")) != NULL);
    CHECK(strstr(err.msg, "not a weft store") != NULL);
    CHECK_EQ_INT(weft_doc_open(loc("emb-garbage"), NULL, &d, &err), WEFT_EIO);
    CHECK(strstr(err.msg, emb_path("emb-garbage", "docs.db")) != NULL);
    CHECK_EQ_INT(weft_blob_open(loc("emb-garbage"), NULL, &b, &err), WEFT_EIO);
    CHECK(strstr(err.msg, emb_path("emb-garbage", "blobs.db")) != NULL);
    /* One kind's file where another's belongs. */
    kv = kv_open("emb-swap", NULL);
    weft_kv_close(kv);
    char from[700];
    snprintf(from, sizeof from, "%s", emb_path("emb-swap", "kv.db"));
    CHECK_EQ_INT(rename(from, emb_path("emb-swap", "docs.db")), 0);
    CHECK_EQ_INT(weft_doc_open(loc("emb-swap"), NULL, &d, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "docs.db: not a weft documents store") != NULL);
    /* A folder where the file belongs. */
    mkdir(emb_path("emb-dir", ""), 0700);
    mkdir(emb_path("emb-dir", "kv.db"), 0700);
    CHECK_EQ_INT(weft_kv_open(loc("emb-dir"), NULL, &kv, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "kv.db") != NULL);
    CHECK(!kv && !d && !b);
}

/* A store weft may not write: EIO naming the file (as another user when run as root,
 * who may write anything). */
static void test_embedded_read_only(void) {
    weft_kv_t *kv = kv_open("emb-ro", NULL);
    weft_kv_close(kv);
    weft_blob_t *b = blob_open("emb-ro", NULL);
    weft_blob_close(b);
    chmod(emb_path("emb-ro", ""), 0555);
    chmod(emb_path("emb-ro", "kv.db"), 0444);
    chmod(emb_path("emb-ro", "blobs.db"), 0444);
    int pipefd[2];
    CHECK_EQ_INT(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        weft_error_t e1 = {0}, e2 = {0};
        weft_kv_t *k = NULL;
        weft_blob_t *bb = NULL;
        int r1 = weft_kv_open(loc("emb-ro"), NULL, &k, &e1);
        int r2 = weft_blob_open(loc("emb-ro"), NULL, &bb, &e2);
        dprintf(pipefd[1], "%d %d\n%s\n%s\n", r1, r2, e1.msg, e2.msg);
        _exit(0);
    }
    close(pipefd[1]);
    char out[4096] = "";
    ssize_t n = read(pipefd[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int r1 = 0, r2 = 0;
    sscanf(out, "%d %d", &r1, &r2);
    CHECK_EQ_INT(r1, WEFT_EIO);
    CHECK_EQ_INT(r2, WEFT_EIO);
    CHECK(strstr(out, emb_path("emb-ro", "kv.db")) != NULL);
    CHECK(strstr(out, emb_path("emb-ro", "blobs.db")) != NULL);
    if (r1 != WEFT_EIO || !strstr(out, "kv.db"))
        fprintf(stderr, "read-only: %s\n", out);
    chmod(emb_path("emb-ro", ""), 0700);
}

/* A blob's bytes live in files named by version, and what no commit reached is removed
 * at open. */
static void test_embedded_blob_files(void) {
    weft_blob_t *b = blob_open("emb-files", NULL);
    weft_error_t err = {0};
    weft_blob_meta_t m;
    CHECK_EQ_INT(blob_put(b, "c", "../x", 1, 10, 10, NULL, &m, NULL, &err), 0);
    char file[64];
    snprintf(file, sizeof file, "blobs/%016" PRIx64, m.version);
    struct stat sb;
    CHECK_EQ_INT(stat(emb_path("emb-files", file), &sb), 0);
    CHECK_EQ_INT(sb.st_size, 10);
    /* A writer left open, then a stray file: both gone after the next open. */
    weft_blob_writer_t *w = NULL;
    CHECK_EQ_INT(weft_blob_writer_open(b, "c", "pending", NULL, NULL, &w, &err), 0);
    CHECK_EQ_INT(weft_blob_write(w, "abc", 3, &err), 0);
    FILE *f = fopen(emb_path("emb-files", "blobs/00000000000000ff"), "w");
    fputs("orphan", f);
    fclose(f);
    weft_blob_writer_abort(w);
    weft_blob_close(b);
    f = fopen(emb_path("emb-files", "blobs/tmp-leftover"), "w");
    fclose(f);
    b = blob_open("emb-files", NULL);
    CHECK(access(emb_path("emb-files", "blobs/00000000000000ff"), F_OK) != 0);
    CHECK(access(emb_path("emb-files", "blobs/tmp-leftover"), F_OK) != 0);
    CHECK_EQ_INT(stat(emb_path("emb-files", file), &sb), 0);
    blob_check(b, "c", "../x", 1, 10, 10);
    weft_blob_close(b);
}

/* ==== Running ========================================================================== */

static const struct {
    const char *name;
    void (*fn)(void);
    bool embedded_only;
} tests[] = {
    {"kv_basic", test_kv_basic, false},
    {"kv_versions", test_kv_versions, false},
    {"kv_ttl", test_kv_ttl, false},
    {"kv_list", test_kv_list, false},
    {"kv_bad_arguments", test_kv_bad_arguments, false},
    {"kv_full", test_kv_full, false},
    {"kv_threads", test_kv_threads, false},
    {"kv_races", test_kv_races, false},
    {"kv_fill_together", test_kv_fill_together, false},
    {"doc_basic", test_doc_basic, false},
    {"doc_races", test_doc_races, false},
    {"doc_bad_arguments", test_doc_bad_arguments, false},
    {"doc_query", test_doc_query, false},
    {"doc_full", test_doc_full, false},
    {"blob_basic", test_blob_basic, false},
    {"blob_names", test_blob_names, false},
    {"blob_list", test_blob_list, false},
    {"blob_large", test_blob_large, false},
    {"blob_full", test_blob_full, false},
    {"blob_threads", test_blob_threads, false},
    {"embedded_second_open", test_embedded_second_open, true},
    {"embedded_not_a_store", test_embedded_not_a_store, true},
    {"embedded_read_only", test_embedded_read_only, true},
    {"embedded_blob_files", test_embedded_blob_files, true},
};

int main(int argc, char **argv) {
    const char *given = argc > 1 ? argv[1] : getenv("WEFT_STORE_LOCATION");
    if (given && *given) {
        if (!strstr(given, "%s")) {
            fprintf(stderr, "conformance: the location %s has no %%s for the tests' names\n",
                    given);
            return 2;
        }
        snprintf(location_fmt, sizeof location_fmt, "%s", given);
    } else {
        snprintf(tmpdir, sizeof tmpdir, "%s/weft-store-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 1;
        }
        chmod(tmpdir, 0755); /* embedded_read_only's other user looks inside */
        snprintf(location_fmt, sizeof location_fmt, "sqlite:%s/%%s", tmpdir);
    }
    embedded = strncmp(location_fmt, "sqlite:", 7) == 0 || !strstr(location_fmt, ":");
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 2 && !strstr(tests[i].name, argv[2]))
            continue;
        if (tests[i].embedded_only && !embedded)
            continue;
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
    }
    if (*tmpdir) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", tmpdir, tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return TEST_DONE();
}
