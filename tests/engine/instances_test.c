/* Instances: a thousand instantiations in one process keep memory and address space
 * flat (memories come back to the pool), and several threads can run and trap guests
 * at once without disturbing each other. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "invoke/invoke.h"
#include "test.h"
#include "wasi/wasi.h"

static weft_module_t *load(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", getenv("GUESTS"), name);
    weft_module_t *m = NULL;
    weft_error_t err = {0};
    weft_compile_opts_t opts = {.quiet = true};
    if (weft_module_load(path, &opts, &m, &err)) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        exit(1);
    }
    return m;
}

/* Runs m once with argv and stdin; returns its outcome, its stdout in *out. */
static weft_outcome_t run(weft_module_t *m, const char *const *argv, size_t argc, const char *input,
                          weft_buf_t *out) {
    weft_wasi_config_t req = {
        .argv = argv,
        .argc = argc,
        .stdio = {{.kind = WEFT_STDIO_INPUT, .in = (const uint8_t *)input, .in_len = strlen(input)},
                  {.kind = WEFT_STDIO_OUTPUT, .out = out},
                  {.kind = WEFT_STDIO_NULL}},
    };
    weft_outcome_t o;
    weft_error_t err = {0};
    if (weft_wasi_run(m, NULL, &req, NULL, &(weft_limits_t){0}, &o, &err)) {
        fprintf(stderr, "invoke: %s\n", err.msg);
        exit(1);
    }
    return o;
}

/* VmSize and VmRSS of this process, in KiB. */
static void vm_sizes(long *vsz, long *rss) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *vsz = *rss = 0;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "VmSize: %ld", vsz);
        sscanf(line, "VmRSS: %ld", rss);
    }
    if (f)
        fclose(f);
}

static void test_thousand_instances_stay_flat(void) {
    weft_module_t *m = load("hello.wasm");
    const char *argv[] = {"hello", "a"};
    long vsz0 = 0, rss0 = 0;
    int bad = 0;
    for (int i = 0; i < 1100; i++) {
        weft_buf_t out = {0};
        weft_outcome_t o = run(m, argv, 2, "ping", &out);
        if (o.kind == WEFT_OUTCOME_TRAPPED || !out.data || !strstr((char *)out.data, "argv[1]=a") ||
            !strstr((char *)out.data, "ping"))
            bad++;
        weft_buf_free(&out);
        if (i == 99)
            vm_sizes(&vsz0, &rss0);
    }
    long vsz1, rss1;
    vm_sizes(&vsz1, &rss1);
    CHECK_EQ_INT(bad, 0);
    weft_pool_stats_t st;
    weft_pool_stats(&st);
    CHECK_EQ_INT(st.in_use, 0);
    CHECK(st.reserved <= 2);
    CHECK(st.reused >= 1000);
    /* From the 100th to the 1100th instance: address space and resident memory flat. */
    printf("VmSize %ld -> %ld KiB, VmRSS %ld -> %ld KiB\n", vsz0, vsz1, rss0, rss1);
    CHECK(vsz1 - vsz0 < 8 * 1024);
#ifdef __SANITIZE_ADDRESS__
    /* ASan keeps freed heap blocks in quarantine: resident memory grows by design. */
    CHECK(rss1 - rss0 < 128 * 1024);
#else
    CHECK(rss1 - rss0 < 8 * 1024);
#endif
    weft_module_release(m);
}

static void test_memory_is_fresh_per_instance(void) {
    /* Each instance looks for marks the one before it left in .bss, in the first grown
     * page and 1 MiB in (past the part the pool clears with memset), then leaves its own:
     * the second instance reuses the first one's pooled memory, and must find it zero. */
    weft_module_t *m = load("memory_marks.wasm");
    const char *clean = "bss: clean\ngrown first page: clean\ngrown last page: clean\n";
    const char *labels[] = {"first", "second", "third"};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        const char *argv[] = {"memory_marks", labels[i]};
        weft_buf_t out = {0};
        weft_outcome_t o = run(m, argv, 2, "", &out);
        CHECK_EQ_INT(o.kind, WEFT_OUTCOME_RETURNED);
        CHECK_EQ_STR((const char *)out.data, clean);
        weft_buf_free(&out);
    }
    weft_pool_stats_t st;
    weft_pool_stats(&st);
    CHECK(st.reused >= 2);
    weft_module_release(m);
}

typedef struct worker {
    weft_module_t *traps;
    int index;
    int wrong;
} worker_t;

static void *worker_main(void *arg) {
    worker_t *w = arg;
    static const struct {
        const char *kind;
        weft_trap_t trap;
    } cases[] = {{"oob", WEFT_TRAP_OOB},
                 {"div", WEFT_TRAP_DIV_BY_ZERO},
                 {"stack", WEFT_TRAP_EXHAUSTION},
                 {"unreachable", WEFT_TRAP_UNREACHABLE},
                 {"exit", WEFT_TRAP_NONE}};
    for (int i = 0; i < 40; i++) {
        int c = (i + w->index) % 5;
        const char *argv[] = {"traps", cases[c].kind, "3"};
        weft_buf_t out = {0};
        weft_outcome_t o = run(w->traps, argv, 3, "", &out);
        bool ok = cases[c].trap == WEFT_TRAP_NONE
                      ? o.kind == WEFT_OUTCOME_EXITED && o.exit_code == 3
                      : o.kind == WEFT_OUTCOME_TRAPPED && o.trap == cases[c].trap;
        if (!ok) {
            fprintf(stderr, "thread %d: %s ended as kind %d trap %d\n", w->index, cases[c].kind,
                    o.kind, o.trap);
            w->wrong++;
        }
        weft_buf_free(&out);
    }
    return NULL;
}

static void test_threads_trap_independently(void) {
    weft_module_t *m = load("traps.wasm");
    enum { N = 4 };
    pthread_t th[N];
    worker_t w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker_t){m, i, 0};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(w[i].wrong, 0);
    }
    weft_module_release(m);
}

static void test_deadline_and_limit_through_the_api(void) {
    weft_module_t *m = load("traps.wasm");
    const char *loop[] = {"traps", "loop"};
    weft_wasi_config_t req = {.argv = loop, .argc = 2};
    weft_limits_t limits = {.timeout_ns = 100000000};
    weft_outcome_t o;
    weft_error_t err = {0};
    uint64_t t0 = weft_now_ns();
    CHECK_EQ_INT(weft_wasi_run(m, NULL, &req, NULL, &limits, &o, &err), 0);
    uint64_t ms = (weft_now_ns() - t0) / 1000000;
    CHECK_EQ_INT(o.kind, WEFT_OUTCOME_TRAPPED);
    CHECK_EQ_INT(o.trap, WEFT_TRAP_DEADLINE);
    CHECK(ms >= 90 && ms < 2000);
    const char *alloc[] = {"traps", "alloc"};
    weft_wasi_config_t req2 = {.argv = alloc, .argc = 2};
    weft_limits_t limits2 = {.max_memory = 8 << 20};
    CHECK_EQ_INT(weft_wasi_run(m, NULL, &req2, NULL, &limits2, &o, &err), 0);
    CHECK_EQ_INT(o.kind, WEFT_OUTCOME_TRAPPED);
    CHECK_EQ_INT(o.trap, WEFT_TRAP_MEMORY_LIMIT);
    weft_module_release(m);
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    weft_error_t err = {0};
    if (weft_invoke_init(&err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_thousand_instances_stay_flat();
    test_memory_is_fresh_per_instance();
    test_threads_trap_independently();
    test_deadline_and_limit_through_the_api();
    return TEST_DONE();
}
