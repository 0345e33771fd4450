/* The services as guests call them (the weft import module, host.h and sdk/weft.h):
 * every call's success and failure codes, grants, pointers outside the guest's memory,
 * handles, paging, a blob far larger than the guest's memory, publish's attributes, and
 * stores that are full or cannot be opened. tests/guests/svc.c is the guest; it prints
 * one line per call, "what=code". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "invoke/invoke.h"
#include "test.h"

static char wasm[4096];
static char dir[] = "/tmp/weft-services-XXXXXX";

/* ---- publish, as the test sees it --------------------------------------------------- */

static char published[8][1024]; /* each event's headers, "name=value;" in order */
static char published_data[8][256];
static char published_broker[64];
static int npublished;

static unsigned on_publish(void *arg, const char *broker, const char *const *names,
                           const char *const *values, size_t n, const uint8_t *data, size_t len,
                           char *msg, size_t msg_size) {
    (void)arg;
    int k = npublished++ % 8;
    char *out = published[k];
    out[0] = 0;
    snprintf(published_broker, sizeof published_broker, "%s", broker);
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        if (!strcmp(names[i], "ce-id") && strlen(values[i]) == 36) /* a fresh UUID */
            snprintf(out + used, sizeof published[k] - used, "ce-id=<uuid>;");
        else
            snprintf(out + used, sizeof published[k] - used, "%s=%s;", names[i], values[i]);
    }
    snprintf(published_data[k], sizeof published_data[k], "%.*s", (int)len, (const char *)data);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], "ce-type") && !strcmp(values[i], "refuse")) {
            snprintf(msg, msg_size, "the event is too large");
            return 413;
        }
    return 202;
}

/* ---- calling the guest -------------------------------------------------------------- */

static weft_function_t *load(weft_services_t *svc, weft_app_function_t *def) {
    static const char *kv[] = {"default", NULL}, *blob[] = {"c", NULL}, *doc[] = {"d", NULL},
                      *pub[] = {"b", NULL};
    *def = (weft_app_function_t){
        .name = "svc",
        .source = wasm,
        .wasm = wasm,
        .entrypoint = "_start",
        .timeout_ns = 60ull * 1000000000ull,
        .max_memory = 4 << 20, /* the big blob is many times this */
        .grants = {(char **)kv, 1, (char **)blob, 1, (char **)doc, 1, (char **)pub, 1},
    };
    weft_function_opts_t opts = {.quiet = true, .services = svc};
    weft_function_t *fn = NULL;
    weft_error_t err = {0};
    if (weft_function_load(def, &opts, &fn, &err))
        fprintf(stderr, "load: %s\n", err.msg);
    return fn;
}

/* Calls /svc/WHAT?QUERY under opts (NULL: none); the outcome in *end, the body
 * (NUL-terminated, the caller frees it; empty when the call did not answer). */
static char *call_with(weft_function_t *fn, const char *what, const char *query,
                       const weft_call_opts_t *opts, weft_call_end_t *end) {
    char path[256];
    snprintf(path, sizeof path, "/svc/%s", what);
    weft_request_t rq = {
        .method = "GET",
        .protocol = "HTTP/1.1",
        .path = path,
        .query = query,
        .route = "/svc/...",
        .remote_addr = "127.0.0.1",
        .server_name = "localhost",
        .server_port = "3000",
    };
    weft_response_t r;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_function_call(fn, &rq, opts, &r, &err), 0);
    *end = r.outcome.end;
    char *body = strndup(r.body ? (const char *)r.body : "", r.body_len);
    if (r.outcome.end != WEFT_CALL_BUDGET && r.status != 200)
        fprintf(stderr, "%s: %u %s %s\n", what, r.status, r.error ? r.error : "", body);
    weft_response_free(&r);
    return body;
}

static char *call(weft_function_t *fn, const char *what, const char *query) {
    weft_call_end_t end;
    char *body = call_with(fn, what, query, NULL, &end);
    CHECK(end == WEFT_CALL_RETURNED || end == WEFT_CALL_EXITED);
    return body;
}

/* Does body hold line (a whole line)? */
static bool has_line(const char *body, const char *line) {
    size_t n = strlen(line);
    for (const char *p = body; (p = strstr(p, line)); p++)
        if ((p == body || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
            return true;
    return false;
}

#define EXPECT(body, line)                                                                         \
    do {                                                                                           \
        bool ok_ = has_line(body, line);                                                           \
        CHECK(ok_ &&line);                                                                         \
        if (!ok_)                                                                                  \
            fprintf(stderr, "  expected the line '%s' in:\n%s\n", line, body);                     \
    } while (0)

/* Runs fn with stderr captured: what weft logged during the call. */
static char *call_logged(weft_function_t *fn, const char *what, char **log) {
    char path[256];
    snprintf(path, sizeof path, "%s/stderr.log", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    dup2(fd, 2);
    char *body = call(fn, what, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    *log = calloc(1, 8192);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, *log, 8191);
    (void)got;
    close(fd);
    return body;
}

/* ---- the tests ---------------------------------------------------------------------- */

static void test_key_value(weft_function_t *fn) {
    char *b = call(fn, "kv", NULL);
    EXPECT(b, "open=0");
    EXPECT(b, "open.again=0");
    EXPECT(b, "same=1");
    EXPECT(b, "set=0");
    EXPECT(b, "get=0");
    EXPECT(b, "value=value one len=9");
    EXPECT(b, "exists=1");
    EXPECT(b, "get.small=6"); /* buffer too small ... */
    EXPECT(b, "need=9");      /* ... with the size needed */
    EXPECT(b, "delete=0");
    EXPECT(b, "exists.after=0");
    EXPECT(b, "exists=0");
    EXPECT(b, "get.after=1");    /* not found */
    EXPECT(b, "delete.again=0"); /* Spin: no error */
    EXPECT(b, "set.empty=0");
    EXPECT(b, "get.empty=0");
    EXPECT(b, "len=0");
    EXPECT(b, "set.ttl=0");
    EXPECT(b, "get.expired=1");
    EXPECT(b, "keys=p/1 p/2 p/3 p/4 p/5 pages=3");
    EXPECT(b, "list.tiny=6");
    EXPECT(b, "need=6"); /* "empty" and its NUL, the first key */
    EXPECT(b, "handle.bad=7");
    free(b);
}

static void test_access_denied_is_answered_and_logged(weft_function_t *fn) {
    char *log = NULL;
    char *b = call_logged(fn, "denied", &log);
    EXPECT(b, "kv=2");
    EXPECT(b, "error=key-value store 'secret' is not granted to function 'svc' (add it to "
              "key_value_stores in weft.toml)");
    EXPECT(b, "blob=2");
    EXPECT(b, "doc=2");
    EXPECT(b, "publish=2");
    CHECK(strstr(log, "function svc: access denied: key-value store 'secret' is not granted"));
    CHECK(strstr(log, "function svc: access denied: blob container 'other'"));
    CHECK(strstr(log, "function svc: access denied: document collection 'other'"));
    CHECK(strstr(log, "function svc: access denied: broker 'other'"));
    CHECK_EQ_INT(npublished, 0);
    free(log);
    free(b);
}

static void test_bad_pointers_are_invalid_arguments(weft_function_t *fn) {
    char *b = call(fn, "badptr", NULL);
    EXPECT(b, "open.name=4");
    EXPECT(b, "open.out=4");
    EXPECT(b, "open.len=4");
    EXPECT(b, "get.key=4");
    EXPECT(b, "get.buf=4");
    EXPECT(b, "get.len=4");
    EXPECT(b, "set.value=4");
    EXPECT(b, "key.nul=4");
    EXPECT(b, "error=key holds a NUL byte");
    EXPECT(b, "blob.name=4");
    EXPECT(b, "blob.open=0");
    EXPECT(b, "blob.data=4");
    EXPECT(b, "blob.gone=0"); /* the writer was not touched */
    EXPECT(b, "blob.stat=4");
    EXPECT(b, "doc.json=4");
    EXPECT(b, "doc.query=4");
    EXPECT(b, "publish.data=4");
    EXPECT(b, "last_error=4");
    CHECK_EQ_INT(npublished, 0);
    free(b);
}

static void test_blobs(weft_function_t *fn, weft_services_t *svc) {
    char *b = call(fn, "blob", NULL);
    EXPECT(b, "put=0");
    EXPECT(b, "stat=0");
    /* sha256("hello, blob") */
    EXPECT(b, "size=11 type=text/plain "
              "sha256=d867e6d01ad026f722d27a707c89b80c9ae5817ad0d07b259915d476b45beaa7 "
              "version>0=1 mtime>0=1");
    EXPECT(b, "get=0");
    EXPECT(b, "data=hello, blob");
    EXPECT(b, "read.at7=0");
    EXPECT(b, "got=4 blob");
    EXPECT(b, "read.end=0");
    EXPECT(b, "got=0");
    EXPECT(b, "read.close=0");
    EXPECT(b, "read.closed=7");
    EXPECT(b, "abort=0");
    EXPECT(b, "stat.aborted=1");
    EXPECT(b, "left.open=0");
    EXPECT(b, "list=0");
    EXPECT(b, "names=dir/b.txt more=0");
    EXPECT(b, "delete=0");
    EXPECT(b, "delete.again=1");
    EXPECT(b, "stat.deleted=1");
    free(b);
    /* The writer left open was dropped with the invocation. */
    weft_blob_t *bs;
    weft_error_t err = {0};
    weft_blob_meta_t m;
    CHECK_EQ_INT(weft_services_blob(svc, &bs, &err), 0);
    CHECK_EQ_INT(weft_blob_stat(bs, "c", "left-open", &m, &err), WEFT_ENOTFOUND);
}

static void test_a_blob_larger_than_the_guests_memory(weft_function_t *fn, weft_services_t *svc) {
    char *b = call(fn, "blob_big", "64"); /* 64 MiB through a guest of 4 MiB at most */
    EXPECT(b, "open=0");
    EXPECT(b, "commit=0");
    EXPECT(b, "read.open=0");
    EXPECT(b, "size=67108864 same=1");
    free(b);
    weft_blob_t *bs;
    weft_error_t err = {0};
    weft_blob_meta_t m;
    CHECK_EQ_INT(weft_services_blob(svc, &bs, &err), 0);
    CHECK_EQ_INT(weft_blob_stat(bs, "c", "big", &m, &err), 0);
    CHECK_EQ_INT(m.size, 64 << 20);
}

static void test_documents(weft_function_t *fn) {
    char *b = call(fn, "doc", NULL);
    EXPECT(b, "put.a=0");
    EXPECT(b, "get=0");
    EXPECT(b, "doc={\"kind\":\"y\",\"n\":2}");
    EXPECT(b, "query=0");
    EXPECT(b, "found=a:{\"kind\":\"x\",\"n\":1} c:{\"kind\":\"x\",\"n\":3.0} more=0");
    EXPECT(b, "query.num=0");
    EXPECT(b, "first=c");
    EXPECT(b, "query.bad=4");
    EXPECT(b, "query.small=6");
    EXPECT(b, "put.notjson=4");
    EXPECT(b, "put.array=4");
    EXPECT(b, "delete=0");
    EXPECT(b, "get.deleted=1");
    EXPECT(b, "delete.again=1");
    free(b);
}

static void test_publish(weft_function_t *fn) {
    npublished = 0;
    char *b = call(fn, "publish", NULL);
    EXPECT(b, "plain=0");
    EXPECT(b, "own_id=0");
    EXPECT(b, "no_type=4");
    EXPECT(b, "error=attributes: 'type' is required");
    EXPECT(b, "bad_name=4");
    EXPECT(b, "refused=3"); /* 413: too large */
    EXPECT(b, "error=broker 'b': the event is too large");
    CHECK_EQ_INT(npublished, 3); /* plain, own_id, refused: the others never left the guest */
    CHECK_EQ_STR(published_broker, "b");
    /* Attributes as binary-mode headers, values percent-encoded, defaults added. */
    CHECK_EQ_STR(published[0], "ce-type=com.example.created;content-type=application/json;"
                               "ce-subject=c/b%20%22x%22%20100%25;ce-specversion=1.0;"
                               "ce-id=<uuid>;ce-source=/weft/functions/svc;");
    CHECK_EQ_STR(published_data[0], "{\"blob\":\"c/b\"}");
    CHECK_EQ_STR(published[1],
                 "ce-type=t;ce-id=my-id;ce-source=/mine;ce-extattr=1;ce-specversion=1.0;");
    CHECK_EQ_STR(published_data[1], "");
    free(b);
}

/* A trial (a call tried on an event loop within a budget, which may be made again
 * elsewhere) reads, but is stopped before it writes, leaving nothing written; from then
 * on its function is no longer tried. */
static void test_a_trial_reads_but_never_writes(weft_services_t *svc) {
    weft_app_function_t def;
    weft_function_t *fn = load(svc, &def);
    weft_kv_t *kv;
    weft_kv_store_t *st;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_services_kv(svc, &kv, &err), 0);
    CHECK_EQ_INT(weft_kv_store(kv, "default", &st, &err), 0);
    CHECK_EQ_INT(weft_kv_set(st, "seen", "before", 6, NULL, NULL, &err), 0);
    CHECK(weft_function_repeatable(fn)); /* grants alone do not stop trials */
    weft_call_opts_t trial = {.budget_ns = 50 * 1000000ull};
    weft_call_end_t end;
    char *b = call_with(fn, "read", NULL, &trial, &end);
    CHECK_EQ_INT(end, WEFT_CALL_RETURNED);
    EXPECT(b, "get=0");
    EXPECT(b, "value=before");
    EXPECT(b, "doc=0");
    free(b);
    CHECK(weft_function_repeatable(fn));
    b = call_with(fn, "read_write", NULL, &trial, &end);
    CHECK_EQ_INT(end, WEFT_CALL_BUDGET);
    CHECK_EQ_STR(b, ""); /* nothing of it was kept */
    free(b);
    CHECK_EQ_INT(weft_kv_exists(st, "written", &err), WEFT_ENOTFOUND);
    CHECK(!weft_function_repeatable(fn));
    /* Made again outside a trial, it writes. */
    b = call(fn, "read_write", NULL);
    EXPECT(b, "set=0");
    free(b);
    CHECK_EQ_INT(weft_kv_exists(st, "written", &err), 0);
    weft_function_release(fn);
}

/* A store that cannot take more, and one that cannot be opened. */
static void test_full_and_unavailable_stores(void) {
    char loc[512];
    snprintf(loc, sizeof loc, "%s/small", dir);
    weft_services_config_t cfg = {.location = loc,
                                  .kv = {.max_value_bytes = 1000},
                                  .blob = {.max_blob_bytes = 1000},
                                  .publish = on_publish};
    weft_services_t *svc = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_services_create(&cfg, &svc, &err), 0);
    weft_app_function_t def;
    weft_function_t *fn = load(svc, &def);
    char *b = call(fn, "write_one", "2000");
    EXPECT(b, "open=0");
    EXPECT(b, "set=3");
    EXPECT(b, "doc=0");
    EXPECT(b, "blob=3");
    free(b);
    weft_function_release(fn);
    weft_services_free(svc);

    /* kv.db and docs.db are folders, blobs.db a file of garbage: none opens. */
    snprintf(loc, sizeof loc, "%s/broken", dir);
    mkdir(loc, 0700);
    char p[600];
    snprintf(p, sizeof p, "%s/kv.db", loc);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/docs.db", loc);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/blobs.db", loc);
    FILE *f = fopen(p, "w");
    fputs("this is not a database, not even close; it goes on long enough to be read\n", f);
    for (int i = 0; i < 100; i++)
        fputs("garbage garbage garbage garbage garbage garbage garbage garbage\n", f);
    fclose(f);
    cfg = (weft_services_config_t){.location = loc};
    CHECK_EQ_INT(weft_services_create(&cfg, &svc, &err), 0);
    fn = load(svc, &def);
    b = call(fn, "write_one", "10");
    EXPECT(b, "open=5");
    CHECK(strstr(b, "error=") && strstr(b, "kv.db"));
    EXPECT(b, "doc=5");
    EXPECT(b, "blob=5");
    free(b);
    weft_function_release(fn);
    weft_services_free(svc);

    /* No services at all (weft run): every call answers unavailable. */
    fn = load(NULL, &def);
    b = call(fn, "write_one", "10");
    EXPECT(b, "open=5");
    EXPECT(b, "error=this run has no stores (the services are offered by weft up)");
    free(b);
    weft_function_release(fn);
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    snprintf(wasm, sizeof wasm, "%s/svc.wasm", getenv("GUESTS"));
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char loc[512];
    snprintf(loc, sizeof loc, "%s/stores", dir);
    weft_services_config_t cfg = {.location = loc, .publish = on_publish};
    weft_services_t *svc = NULL;
    weft_error_t err = {0};
    if (weft_invoke_init(&err) || weft_services_create(&cfg, &svc, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    weft_app_function_t def;
    weft_function_t *fn = load(svc, &def);
    if (!fn)
        return 1;
    /* Nothing is opened until a guest uses a store. */
    char p[600];
    snprintf(p, sizeof p, "%s/kv.db", loc);
    CHECK(access(p, F_OK) != 0);
    test_key_value(fn);
    CHECK(access(p, F_OK) == 0);
    test_access_denied_is_answered_and_logged(fn);
    test_bad_pointers_are_invalid_arguments(fn);
    test_blobs(fn, svc);
    test_a_blob_larger_than_the_guests_memory(fn, svc);
    test_documents(fn);
    test_publish(fn);
    weft_function_release(fn);
    test_a_trial_reads_but_never_writes(svc);
    weft_services_free(svc);
    test_full_and_unavailable_stores();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
