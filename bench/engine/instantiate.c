/* bench_instantiate: what a fresh instance of a module costs, measured in one process.
 *
 * usage: bench_instantiate [--cache-dir DIR] [-n ITERATIONS] HELLO.wasm
 *
 * HELLO.wasm is bench/engine/hello.c (one line on stdout). Three loops, each after a
 * warm-up, each iteration timed on its own so that the median and the 99th percentile
 * can be told apart:
 *   invoke    weft_wasi_run: WASI world created, instance made, _start run with stdout
 *             captured to a buffer, everything freed. What a request to the gateway pays.
 *   instance  weft_instance_new + weft_instance_free through the engine API, with one
 *             WASI state created once: the instance alone (memory from the pool, data
 *             segments, tables, globals).
 *   run       weft_module_run (instantiate, call _start, free) with that same WASI
 *             state: with the two above, shows where the time of an invoke goes.
 * Exits 1, saying why, if any iteration fails or the guest's output is not what hello
 * prints (another module than hello.c's, say).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "invoke/invoke.h"
#include "wasi/wasi.h"

#define BENCH_WARMUP 1000
#define BENCH_DEFAULT_ITERATIONS 20000
#define HELLO_OUTPUT "hello from weft\n"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts ns[0..n) and prints its median, 99th percentile and minimum in microseconds. */
static void report(const char *what, uint64_t *ns, size_t n) {
    qsort(ns, n, sizeof *ns, cmp_u64);
    printf("  %-46s median %7.2f us   p99 %7.2f us   min %7.2f us\n", what, ns[n / 2] / 1e3,
           ns[n * 99 / 100] / 1e3, ns[0] / 1e3);
}

static bool ran_ok(const weft_outcome_t *o) {
    return o->kind == WEFT_OUTCOME_RETURNED || (o->kind == WEFT_OUTCOME_EXITED && !o->exit_code);
}

/* Says on stderr how a run that should have printed HELLO_OUTPUT went instead. */
static void explain(const char *loop, const weft_outcome_t *o, const weft_buf_t *out) {
    if (o->kind == WEFT_OUTCOME_TRAPPED)
        fprintf(stderr, "%s: the guest trapped: %s\n", loop, weft_trap_text(o->trap));
    else if (o->kind == WEFT_OUTCOME_EXITED && o->exit_code)
        fprintf(stderr, "%s: the guest exited with status %u\n", loop, o->exit_code);
    else if (out)
        fprintf(stderr,
                "%s: the guest printed %zu bytes (\"%.40s%s\") instead of \"hello from "
                "weft\\n\"\n",
                loop, out->len, out->data ? (const char *)out->data : "",
                out->len > 40 ? "..." : "");
    if (out)
        fprintf(stderr, "bench_instantiate measures bench/engine/hello.c's module, which prints "
                        "that line and exits 0; give it that one\n");
}

/* One weft_wasi_run of hello with stdout to a buffer; false if it failed or printed
 * anything but HELLO_OUTPUT. */
static bool invoke_once(weft_module_t *m) {
    static const char *const argv[] = {"hello"};
    weft_buf_t out = {0};
    weft_wasi_config_t req = {
        .argv = argv,
        .argc = 1,
        .stdio = {{.kind = WEFT_STDIO_NULL},
                  {.kind = WEFT_STDIO_OUTPUT, .out = &out},
                  {.kind = WEFT_STDIO_NULL}},
    };
    weft_outcome_t o;
    weft_error_t err = {0};
    if (weft_wasi_run(m, NULL, &req, NULL, &(weft_limits_t){0}, &o, &err)) {
        fprintf(stderr, "invoke: %s\n", err.msg);
        weft_buf_free(&out);
        return false;
    }
    bool ok = ran_ok(&o) && out.data && out.len == strlen(HELLO_OUTPUT) &&
              !memcmp(out.data, HELLO_OUTPUT, out.len);
    if (!ok)
        explain("invoke", &o, &out);
    weft_buf_free(&out);
    return ok;
}

static bool instance_once(weft_module_t *m, weft_guest_t *guest) {
    weft_limits_t limits = {0};
    weft_instance_t *inst = NULL;
    weft_outcome_t o;
    weft_error_t err = {0};
    if (weft_instance_new(m, guest, &limits, &inst, &o, &err) || !inst) {
        fprintf(stderr, "instance: %s\n", err.msg[0] ? err.msg : "trapped while instantiating");
        return false;
    }
    weft_instance_free(inst);
    return true;
}

static bool run_once(weft_module_t *m, weft_guest_t *guest) {
    weft_limits_t limits = {0};
    weft_outcome_t o;
    weft_error_t err = {0};
    if (weft_module_run(m, "_start", guest, &limits, &o, &err)) {
        fprintf(stderr, "run: %s\n", err.msg);
        return false;
    }
    if (!ran_ok(&o))
        explain("run", &o, NULL);
    return ran_ok(&o);
}

int main(int argc, char **argv) {
    const char *cache_dir = NULL, *path = NULL;
    long iterations = BENCH_DEFAULT_ITERATIONS;
    bool usage = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc)
            cache_dir = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            iterations = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            usage = true;
    }
    if (usage || !path || iterations < 100) {
        fprintf(stderr, "usage: bench_instantiate [--cache-dir DIR] [-n ITERATIONS>=100] "
                        "HELLO.wasm\n");
        return 2;
    }

    int rc = 1;
    weft_module_t *m = NULL;
    weft_wasi_t *wasi = NULL;
    uint64_t *ns = malloc((size_t)iterations * sizeof *ns);
    weft_error_t err = {0};
    weft_compile_opts_t opts = {.cache_dir = cache_dir, .quiet = true};
    if (!ns) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (weft_invoke_init(&err) || weft_module_load(path, &opts, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    static const char *const wargv[] = {"hello"};
    weft_wasi_config_t cfg = {.argv = wargv, .argc = 1}; /* stdio: all WEFT_STDIO_NULL */
    if (weft_wasi_create(&cfg, &wasi, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    weft_guest_t guest = {.wasi = wasi};

    printf("%s, %ld iterations each after %d warm-up:\n", weft_module_name(m), iterations,
           BENCH_WARMUP);
    int failed = 0;
    for (int i = 0; i < BENCH_WARMUP && !failed; i++)
        failed += !invoke_once(m);
    for (long i = 0; i < iterations && !failed; i++) {
        uint64_t t0 = now_ns();
        failed += !invoke_once(m);
        ns[i] = now_ns() - t0;
    }
    if (failed)
        goto out;
    report("instantiate + run + free (weft_wasi_run)", ns, (size_t)iterations);

    for (int i = 0; i < BENCH_WARMUP && !failed; i++)
        failed += !instance_once(m, &guest);
    for (long i = 0; i < iterations && !failed; i++) {
        uint64_t t0 = now_ns();
        failed += !instance_once(m, &guest);
        ns[i] = now_ns() - t0;
    }
    if (failed)
        goto out;
    report("instantiate + free (weft_instance_new/free)", ns, (size_t)iterations);

    for (int i = 0; i < BENCH_WARMUP && !failed; i++)
        failed += !run_once(m, &guest);
    for (long i = 0; i < iterations && !failed; i++) {
        uint64_t t0 = now_ns();
        failed += !run_once(m, &guest);
        ns[i] = now_ns() - t0;
    }
    if (failed)
        goto out;
    report("instantiate + _start + free (weft_module_run)", ns, (size_t)iterations);

    weft_pool_stats_t st;
    weft_pool_stats(&st);
    printf("  memory pool: %zu reservations, %zu in use, %llu allocations served from it\n",
           st.reserved, st.in_use, (unsigned long long)st.reused);
    rc = 0;
out:
    if (wasi)
        weft_wasi_destroy(wasi);
    if (m)
        weft_module_release(m);
    free(ns);
    return rc;
}
