/* Tiers behind the invoke contract: a function over 1 MB loaded with `upgrade` starts
 * on the fast tier, answers every call while the optimized tier is built in the
 * background, then answers the same from the optimized tier; releasing a function
 * whose upgrade is under way stops the compilers at once and leaves no build folder in
 * the cache. The module is tests/engine/segments.py's, as a CGI responder. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "invoke/invoke.h"
#include "test.h"
#include "util/util.h"

static char expect[64];

static bool call_ok(weft_function_t *fn) {
    weft_request_t rq = {.method = "GET",
                         .protocol = "HTTP/1.1",
                         .path = "/",
                         .route = "/",
                         .remote_addr = "127.0.0.1",
                         .server_name = "localhost",
                         .server_port = "3000"};
    weft_response_t r;
    weft_error_t err = {0};
    if (weft_function_call(fn, &rq, NULL, &r, &err)) {
        fprintf(stderr, "call: %s\n", err.msg);
        return false;
    }
    bool ok =
        r.status == 200 && r.body_len == strlen(expect) && !memcmp(r.body, expect, r.body_len);
    if (!ok)
        fprintf(stderr, "answer: %d [%.*s]\n", r.status, (int)r.body_len, (const char *)r.body);
    weft_response_free(&r);
    return ok;
}

/* Entries of the cache folder dir whose names start with prefix and end with suffix;
 * -1 when it cannot be read. */
static int cache_entries(const char *dir, const char *prefix, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        n += !strncmp(e->d_name, prefix, strlen(prefix)) && len >= sl &&
             !strcmp(e->d_name + len - sl, suffix);
    }
    closedir(d);
    return n;
}
#define build_folders(dir) cache_entries(dir, "tmp-", "")

int main(void) {
    char dir[] = "/tmp/weft-tiers-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cmd[8192], wasm[4096];
    snprintf(wasm, sizeof wasm, "%s/big.wasm", dir);
    snprintf(cmd, sizeof cmd,
             "python3 '%s/tests/engine/segments.py' '%s/big.wat' 3000 --cgi --pad 1100000 "
             "> '%s/expect' && wat2wasm '%s/big.wat' -o '%s'",
             getenv("SRC"), dir, dir, dir, wasm);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/expect", dir);
    FILE *f = fopen(cmd, "r");
    CHECK(f && fgets(expect, sizeof expect, f));
    if (f)
        fclose(f);
    CHECK(system("command -v tcc >/dev/null") == 0); /* the fast tier's compiler */

    weft_app_function_t def = {.name = "big",
                               .source = wasm,
                               .wasm = wasm,
                               .entrypoint = "_start",
                               .timeout_ns = 10000000000ull};
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    weft_function_opts_t opts = {.cache_dir = cache, .quiet = true, .upgrade = true};
    weft_error_t err = {0};
    weft_function_t *fn = NULL;
    if (weft_invoke_init(&err) || weft_function_load(&def, &opts, &fn, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    CHECK(!weft_function_optimized(fn));
    int before = 0, after = 0, failed = 0;
    uint64_t until = weft_now_ns() + 300000000000ull;
    while (after < 5 && weft_now_ns() < until) {
        bool opt = weft_function_optimized(fn);
        if (!call_ok(fn))
            failed++;
        else if (opt)
            after++;
        else
            before++;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    printf("%d calls on the fast tier, %d on the optimized one, %d failed\n", before, after,
           failed);
    CHECK_EQ_INT(failed, 0);
    CHECK(before >= 1);
    CHECK(after >= 5);
    weft_function_release(fn);
    CHECK_EQ_INT(build_folders(cache), 0);
    CHECK_EQ_INT(cache_entries(cache, "", ".so"), 2); /* both tiers */

    /* Released in the middle of its upgrade: stops at once, leaves nothing behind. */
    snprintf(cache, sizeof cache, "%s/cache2", dir);
    if (weft_function_load(&def, &opts, &fn, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    CHECK(!weft_function_optimized(fn));
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL); /* the optimized tier's compilers are running now */
    uint64_t t0 = weft_now_ns();
    weft_function_release(fn);
    double secs = (double)(weft_now_ns() - t0) / 1e9;
    printf("released during its upgrade in %.2f s\n", secs);
    CHECK_EQ_INT(build_folders(cache), 0);
    /* Stopped, not waited for: only the fast tier was stored. */
    CHECK_EQ_INT(cache_entries(cache, "", ".so"), 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_DONE();
}
