/* Deadline storm: many guests run into their deadlines at once, thousands of times,
 * on more runnable threads than cores, some stopped in their own code and some while
 * they are in host code (writing to stderr), mixed with guests that exhaust the stack
 * or trap. Every run must end with its own outcome and the process must live: a
 * deadline signal that piles up or nests on a thread that lost its core kills all of
 * weft (it did, with a queued real-time signal and SA_NODEFER). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "invoke/invoke.h"
#include "test.h"
#include "wasi/wasi.h"

#define GUEST_THREADS 6
#define BUSY_THREADS 32
#define TARGET_DEADLINES 1000
#define MAX_SECONDS 12

static weft_module_t *module;
static atomic_bool stop;
static atomic_int deadlines, exhausted, oob, wrong, slow;

static void discard_line(void *arg, const char *line, size_t len) {
    (void)arg;
    (void)line;
    (void)len;
}

/* Runs traps.wasm KIND with timeout_ms (0: none); returns its outcome. */
static weft_outcome_t run_kind(const char *kind, uint64_t timeout_ms, uint64_t *took_ns) {
    const char *argv[] = {"traps", kind};
    weft_buf_t out = {0};
    weft_wasi_config_t req = {
        .argv = argv,
        .argc = 2,
        .stdio = {{.kind = WEFT_STDIO_NULL},
                  {.kind = WEFT_STDIO_OUTPUT, .out = &out},
                  {.kind = WEFT_STDIO_LINES, .on_line = discard_line}},
    };
    weft_outcome_t o;
    weft_error_t err = {0};
    uint64_t t0 = weft_now_ns();
    weft_limits_t limits = {.timeout_ns = timeout_ms * 1000000ull};
    if (weft_wasi_run(module, NULL, &req, NULL, &limits, &o, &err)) {
        fprintf(stderr, "invoke: %s\n", err.msg);
        exit(1);
    }
    *took_ns = weft_now_ns() - t0;
    weft_buf_free(&out);
    return o;
}

static uint64_t timeout_ms = 3;

static void *guest_thread(void *arg) {
    unsigned i = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        uint64_t took;
        weft_outcome_t o;
        switch (i++ % 8) {
        case 6: /* overflows the native stack, unless its deadline comes first (with 50 ms
                   it nearly always did, under the sanitizers among 32 busy threads on 2
                   cores; a quarter of a second leaves the recursion time to get there,
                   and one run in 8 keeps the storm of deadlines going meanwhile) */
            o = run_kind("stack", 250, &took);
            if (o.kind == WEFT_OUTCOME_TRAPPED && o.trap == WEFT_TRAP_EXHAUSTION)
                atomic_fetch_add(&exhausted, 1);
            else if (!(o.kind == WEFT_OUTCOME_TRAPPED && o.trap == WEFT_TRAP_DEADLINE))
                atomic_fetch_add(&wrong, 1);
            break;
        case 7:
            o = run_kind("oob", 0, &took);
            if (o.kind == WEFT_OUTCOME_TRAPPED && o.trap == WEFT_TRAP_OOB)
                atomic_fetch_add(&oob, 1);
            else
                atomic_fetch_add(&wrong, 1);
            break;
        default: /* stopped in its own code, or in fd_write */
            o = run_kind(i % 2 ? "loop" : "flood", timeout_ms, &took);
            if (o.kind == WEFT_OUTCOME_TRAPPED && o.trap == WEFT_TRAP_DEADLINE)
                atomic_fetch_add(&deadlines, 1);
            else
                atomic_fetch_add(&wrong, 1);
            /* Stopped, not left running: well within a second even on a busy machine. */
            if (took > 2000000000ull)
                atomic_fetch_add(&slow, 1);
        }
        if (atomic_load(&deadlines) >= TARGET_DEADLINES)
            atomic_store(&stop, true);
    }
    return NULL;
}

/* Keeps a core busy, so that guest threads lose theirs at any moment. */
static void *busy_thread(void *arg) {
    (void)arg;
    volatile unsigned long n = 0;
    while (!atomic_load(&stop))
        n++;
    return NULL;
}

int main(void) {
    if (getenv("STORM_TIMEOUT_MS"))
        timeout_ms = strtoull(getenv("STORM_TIMEOUT_MS"), NULL, 10);
    weft_error_t err = {0};
    if (weft_invoke_init(&err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/traps.wasm", getenv("GUESTS"));
    weft_compile_opts_t opts = {.quiet = true};
    if (weft_module_load(path, &opts, &module, &err)) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return 1;
    }
    pthread_t g[GUEST_THREADS], b[BUSY_THREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20);
    int nbusy = getenv("STORM_BUSY") ? atoi(getenv("STORM_BUSY")) : BUSY_THREADS;
    for (int i = 0; i < nbusy; i++)
        pthread_create(&b[i], NULL, busy_thread, NULL);
    for (int i = 0; i < GUEST_THREADS; i++)
        pthread_create(&g[i], &attr, guest_thread, (void *)(uintptr_t)i);
    uint64_t end = weft_now_ns() + MAX_SECONDS * 1000000000ull;
    while (!atomic_load(&stop) && weft_now_ns() < end)
        usleep(100000);
    atomic_store(&stop, true);
    for (int i = 0; i < GUEST_THREADS; i++)
        pthread_join(g[i], NULL);
    for (int i = 0; i < nbusy; i++)
        pthread_join(b[i], NULL);
    printf("deadlines %d, stack exhausted %d, out of bounds %d, wrong outcome %d, slow stop %d\n",
           atomic_load(&deadlines), atomic_load(&exhausted), atomic_load(&oob), atomic_load(&wrong),
           atomic_load(&slow));
    /* Enough of a storm to mean something, even under the sanitizers on a busy machine
     * (alone, about 400 deadlines there in the 12 s it runs, with some 15 stacks
     * exhausted and 65 out-of-bounds traps; the old runtime died within 300 ms). */
    CHECK(atomic_load(&deadlines) >= 200);
    CHECK(atomic_load(&exhausted) >= 1);
    CHECK(atomic_load(&oob) >= 10);
    CHECK_EQ_INT(atomic_load(&wrong), 0);
    CHECK_EQ_INT(atomic_load(&slow), 0);
    weft_module_release(module);
    return TEST_DONE();
}
