/* compile: .wasm -> checked -> wasm2c -> system C compiler -> shared object, cached.
 *
 * This file is the pipeline; each stage is its own file (each named in progress lines
 * and errors):
 *   read       wasm_reader.c: structure, imports, SIMD, data segments
 *   check      check.c: every import is one weft provides, with the same type; no SIMD
 *   translate  wasm2c (validates the module; its message and offset are passed on),
 *              run by tools.c
 *   rewrite    rewrite.c: host calls guarded, fast memory access
 *   glue       glue.c: generate glue.c (the fixed ABI of glue.h) and data.S
 *   cc         cc -O2 -fPIC -shared (here), large modules split first (split.c)
 *   store      artifact.c: append the trailer, rename into the cache
 *
 * Data segments stay out of the C: wasm2c would write them as byte-array initializers,
 * which gcc parses slowly (a module with 17 MB of data took most of a minute). They are
 * removed from the module given to wasm2c and assembled into the artifact with .incbin
 * straight from the module bytes, then copied into memory at instantiation by the glue.
 *
 * The cache key (cache.c) covers the module bytes, weft's version and glue ABI, the
 * compiler (resolved path, size, mtime) and the flags below, so a change to any of them
 * compiles anew. It does not cover what unknown imports do (engine.h): an artifact
 * serves every mode, its stubs asking the running call, and loading refuses it where
 * unknown imports are refused. Two processes compiling the same module serialize on a
 * lock file; artifacts are written under a temporary name and renamed, so a reader never
 * sees half of one.
 *
 * Nothing here calls module.c: loading calls weft_module_compile, never the reverse.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded_headers.h"
#include "engine_internal.h"

/* Flags for the generated C: compiling, then linking the shared object. */
#define WEFT_CC_COMPILE                                                                            \
    "-std=gnu11", "-fPIC", "-w", "-fvisibility=hidden", "-fno-semantic-interposition"
/* The optimized tier's level: -O2, but a lighter one for generated C over
 * WEFT_O2_MAX_BYTES, on which -O2 costs about 4 s of CPU per MB (a 30 MB module's 350 MB
 * of C: 24 minutes of CPU, 12 on two cores). WEFT_HUGE_LEVEL is gcc's -Og with loop
 * invariant motion and scalar replacement put back: about 2.0 s of CPU per MB against
 * 2.8 for -O1 (a 5.7 MB unit of yosys: 5.5 s against 7.4), for code as fast as -O1's
 * on the engine benchmark (both levels forced on it: geomean 1.02x and 1.05x gcc -O2,
 * within that run's noise; bench/README.md, "Compile"). */
#define WEFT_HUGE_LEVEL "-Og", "-fmove-loop-invariants", "-ftree-sra"
#define WEFT_HUGE_LEVEL_TEXT "-Og -fmove-loop-invariants -ftree-sra"
/* For tests only: WEFT_FORCE_HUGE_LEVEL=1 in the environment compiles the optimized tier
 * at WEFT_HUGE_LEVEL whatever the size of the C, so that tests/engine/wast.sh can run
 * small modules at that level too. It is part of the cache key (the flags' text). */
static bool huge_forced(void) {
    const char *env = getenv("WEFT_FORCE_HUGE_LEVEL");
    return env && !strcmp(env, "1");
}
/* No -z now: host functions from plugins are bound lazily (engine.h). */
#define WEFT_CC_LINK "-shared", "-Wl,-Bsymbolic", "-Wl,-z,noexecstack"
/* After the objects: wasm2c's float operations call libm (sqrt, floor, ...). */
#define WEFT_CC_LIBS "-lm"
/* The fast tier's compiler, and its flags: the builtins wasm2c's output uses that tcc
 * lacks come from tcc_compat.h. */
#define WEFT_TCC "tcc"
#define WEFT_TCC_COMPILE "-fPIC", "-w", "-include", "tcc_compat.h"
/* The flags as the cache key spells them; a tier's key differs from the other's. */
#define WEFT_CFLAGS_TEXT                                                                           \
    "-O2 (" WEFT_HUGE_LEVEL_TEXT                                                                   \
    " over " WEFT_STR(WEFT_O2_MAX_BYTES) ") -std=gnu11 -fPIC -w -fvisibility=hidden "              \
                                         "-fno-semantic-interposition -shared "                    \
                                         "-Wl,-Bsymbolic -Wl,-z,noexecstack -lm; units " WEFT_STR( \
                                             WEFT_UNIT_BYTES)
#define WEFT_TCC_TEXT                                                                              \
    "tier fast 1: tcc -fPIC -w -include tcc_compat.h; cc -shared -Wl,-Bsymbolic "                  \
    "-Wl,-z,noexecstack -lm; units " WEFT_STR(WEFT_UNIT_BYTES)
#define WEFT_STR_(x) #x
#define WEFT_STR(x) WEFT_STR_(x)
/* Generated C larger than this is compiled in units, at least one per core and each
 * of at most about WEFT_UNIT_BYTES of function definitions, on which gcc -O2 stays well
 * under 1 GB (split.c). */
#define WEFT_SPLIT_MIN_BYTES 1000000
#define WEFT_UNIT_BYTES 4000000

/* What tcc lacks of the GNU C that wasm2c's output uses. */
static const char tcc_compat_h[] =
    "static inline int weft_clz32(unsigned x) {\n"
    "    int n = 0;\n"
    "    if (!(x & 0xffff0000u)) { n += 16; x <<= 16; }\n"
    "    if (!(x & 0xff000000u)) { n += 8; x <<= 8; }\n"
    "    if (!(x & 0xf0000000u)) { n += 4; x <<= 4; }\n"
    "    if (!(x & 0xc0000000u)) { n += 2; x <<= 2; }\n"
    "    if (!(x & 0x80000000u)) { n += 1; }\n"
    "    return n;\n"
    "}\n"
    "static inline int weft_clz64(unsigned long long x) {\n"
    "    return (x >> 32) ? weft_clz32((unsigned)(x >> 32)) : 32 + weft_clz32((unsigned)x);\n"
    "}\n"
    "static inline int weft_ctz32(unsigned x) {\n"
    "    int n = 0;\n"
    "    if (!(x & 0xffffu)) { n += 16; x >>= 16; }\n"
    "    if (!(x & 0xffu)) { n += 8; x >>= 8; }\n"
    "    if (!(x & 0xfu)) { n += 4; x >>= 4; }\n"
    "    if (!(x & 0x3u)) { n += 2; x >>= 2; }\n"
    "    if (!(x & 0x1u)) { n += 1; }\n"
    "    return n;\n"
    "}\n"
    "static inline int weft_ctz64(unsigned long long x) {\n"
    "    return (unsigned)x ? weft_ctz32((unsigned)x) : 32 + weft_ctz32((unsigned)(x >> 32));\n"
    "}\n"
    "static inline int weft_popcount32(unsigned x) {\n"
    "    x = x - ((x >> 1) & 0x55555555u);\n"
    "    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);\n"
    "    return (int)((((x + (x >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);\n"
    "}\n"
    "static inline int weft_popcount64(unsigned long long x) {\n"
    "    return weft_popcount32((unsigned)x) + weft_popcount32((unsigned)(x >> 32));\n"
    "}\n"
    "#define __builtin_clz(x) weft_clz32(x)\n"
    "#define __builtin_clzll(x) weft_clz64(x)\n"
    "#define __builtin_ctz(x) weft_ctz32(x)\n"
    "#define __builtin_ctzll(x) weft_ctz64(x)\n"
    "#define __builtin_popcount(x) weft_popcount32(x)\n"
    "#define __builtin_popcountll(x) weft_popcount64(x)\n";

const char *weft_tier_name(weft_tier_t tier) {
    return tier == WEFT_TIER_FAST ? "fast" : tier == WEFT_TIER_OPT ? "optimized" : "auto";
}

bool weft_tier_available(weft_tier_t tier) {
    return tier != WEFT_TIER_FAST || weft_tool_available(WEFT_TCC);
}

static int write_file_in(const char *dir, const char *name, const void *data, size_t len,
                         weft_error_t *err) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return weft_file_write_atomic(p, data, len, err);
}

/* ---- cc ---------------------------------------------------------------------------------- */

/* The command that compiles src to obj in tier; huge: the C is over WEFT_O2_MAX_BYTES. */
static void compile_argv(weft_tier_t tier, bool huge, char *cc, char *src, char *obj, char **out) {
    if (tier == WEFT_TIER_FAST) {
        char *a[] = {WEFT_TCC, WEFT_TCC_COMPILE, "-I.", "-c", src, "-o", obj, NULL};
        memcpy(out, a, sizeof a);
    } else if (huge) {
        char *a[] = {cc, WEFT_HUGE_LEVEL, WEFT_CC_COMPILE, "-I.", "-c", src, "-o", obj, NULL};
        memcpy(out, a, sizeof a);
    } else {
        char *a[] = {cc, "-O2", WEFT_CC_COMPILE, "-I.", "-c", src, "-o", obj, NULL};
        memcpy(out, a, sizeof a);
    }
}
#define WEFT_ARGV_MAX 16

/* The translated C in a build folder: module.c and, when it was split, units
 * unit0.c .. unit<units-1>.c; c_bytes is the size of module.c as wasm2c wrote it. */
typedef struct c_tree {
    int units;
    size_t c_bytes;
} c_tree_t;

/* Splits a large tmp/module.c into units (split.c): enough to bound each compiler's
 * memory, and at least one per core. */
static int split_c(const char *tmp, weft_progress_t *prog, c_tree_t *tree, weft_error_t *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    struct stat st;
    int rc;
    *tree = (c_tree_t){0};
    if (stat(path, &st))
        return 0; /* the compiler will say */
    tree->c_bytes = (size_t)st.st_size;
    if (st.st_size > WEFT_SPLIT_MIN_BYTES) {
        /* Enough units to bound each compiler's memory, and at least one per core. */
        size_t size = (size_t)st.st_size, jobs = (size_t)weft_tool_jobs();
        size_t want = (size + WEFT_UNIT_BYTES - 1) / WEFT_UNIT_BYTES;
        size_t parallel = size / (WEFT_SPLIT_MIN_BYTES / 2);
        if (parallel > jobs)
            parallel = jobs;
        if (want < parallel)
            want = parallel;
        if (want > WEFT_MAX_UNITS)
            want = WEFT_MAX_UNITS;
        /* $WEFT_COMPILE_UNITS overrides (1: one unit), to compare builds. */
        const char *env = getenv("WEFT_COMPILE_UNITS");
        if (env && atoi(env) > 0)
            want = (size_t)atoi(env) < WEFT_MAX_UNITS ? (size_t)atoi(env) : WEFT_MAX_UNITS;
        weft_progress_note(prog, "splitting C");
        if (want >= 2 && (rc = weft_split_module_c(tmp, (int)want, &tree->units, err)))
            return rc;
    }
    return 0;
}

/* Compiles tmp's C (tree) into tmp/module.so: module.c and the units, at most one
 * compiler per core; then glue.c and data.S (always with cc: they are small, and tcc's
 * assembler lacks .incbin), and links. */
static int compile_c(const char *tmp, const char *name, weft_tier_t tier, const c_tree_t *tree,
                     weft_progress_t *prog, weft_error_t *err) {
    int units = tree->units, rc;
    bool huge = tree->c_bytes > WEFT_O2_MAX_BYTES || huge_forced();
    if (tier == WEFT_TIER_FAST &&
        (rc = write_file_in(tmp, "tcc_compat.h", tcc_compat_h, strlen(tcc_compat_h), err)))
        return rc;
    char *cc = (char *)weft_tool_cc();
    /* Jobs: module.c, the units, glue.c, data.S. */
    int n = units + 3;
    char(*names)[2][32] = calloc((size_t)n, sizeof *names);
    char *(*store)[WEFT_ARGV_MAX] = calloc((size_t)n, sizeof *store);
    char *const **argvs = calloc((size_t)n, sizeof *argvs);
    char **link = calloc((size_t)n + 16, sizeof *link);
    bool crashed = false;
    int failed = -1;
    const char *stage = tier == WEFT_TIER_FAST ? "compiling C (fast tier, tcc)" : "compiling C";
    if (!names || !store || !argvs || !link) {
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char *src = names[i][0], *obj = names[i][1];
        if (i == 0)
            snprintf(src, 32, "module.c");
        else if (i <= units)
            snprintf(src, 32, "unit%d.c", i - 1);
        else
            snprintf(src, 32, "%s", i == units + 1 ? "glue.c" : "data.S");
        snprintf(obj, 32, "%.*s.o", (int)(strrchr(src, '.') - src), src);
        compile_argv(i <= units ? tier : WEFT_TIER_OPT, huge, cc, src, obj, store[i]);
        argvs[i] = store[i];
    }
    failed = weft_tools_run(tmp, argvs, n, weft_tool_jobs(), prog, stage, &crashed);
    if (failed < 0) {
        int k = 0;
        char *head[] = {cc, WEFT_CC_LINK, "-o", "module.so"};
        for (size_t j = 0; j < sizeof head / sizeof head[0]; j++)
            link[k++] = head[j];
        for (int i = 0; i < n; i++)
            link[k++] = names[i][1];
        char tcc_rt[PATH_MAX];
        if (tier == WEFT_TIER_FAST) {
            if (weft_tool_tcc_runtime(tcc_rt, sizeof tcc_rt)) {
                rc = weft_error_set(err, WEFT_ECOMPILE,
                                    "%s: tcc's runtime library (libtcc1.a) was not found: "
                                    "'tcc -print-search-dirs' does not name one that exists",
                                    name);
                goto out;
            }
            link[k++] = "-Wl,--exclude-libs,ALL";
            link[k++] = tcc_rt;
        }
        link[k++] = WEFT_CC_LIBS;
        link[k] = NULL;
        failed = weft_tool_run(tmp, link, prog, "linking", &crashed);
        if (failed >= 0)
            failed = n; /* the link's log is log0 of its own run */
    }
    rc = 0;
    if (failed >= 0) {
        char log[WEFT_ERROR_MAX - 200];
        weft_tool_log(tmp, failed == n ? 0 : failed, log, sizeof log);
        rc = weft_error_set(
            err, WEFT_ECOMPILE, "%s: the C compiler%s failed%s (%s): %s", name,
            tier == WEFT_TIER_FAST ? " of the fast tier (tcc)" : "", crashed ? " (it crashed)" : "",
            failed == n ? "linking" : names[failed][0], log[0] ? log : "no message");
    }
out:
    free(names);
    free(store);
    free(argvs);
    free(link);
    return rc;
}

/* ---- The pipeline ------------------------------------------------------------------------ */

/* Runs the stages in tmp; on success tmp/module.so holds the shared object. */
static int build_in(const char *tmp, const char *name, const uint8_t *bytes, size_t len,
                    weft_tier_t tier, weft_unknown_imports_t mode, weft_progress_t *prog,
                    c_tree_t *tree, weft_error_t *err) {
    weft_wasm_module_t m;
    uint8_t *stripped = NULL;
    size_t stripped_len = 0;
    uint8_t *hdr = NULL;
    bool *unknown = NULL;
    size_t hdr_len;
    int rc = weft_wasm_read(bytes, len, &m, err);
    if (rc) {
        weft_error_prefix(err, "%s", name);
        return rc;
    }
    if (mode != WEFT_UNKNOWN_IMPORTS_REFUSE && m.nimports &&
        !(unknown = calloc(m.nimports, sizeof *unknown))) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    rc = weft_check_module(name, &m, mode, unknown, err);
    if (rc)
        goto out;
    /* With a start function the data must be in place before instantiate returns, so
     * such a module keeps its data in the C. */
    bool strip = !m.has_start && m.ndata > 0;
    if (strip) {
        rc = weft_wasm_strip_data(bytes, len, &m, &stripped, &stripped_len, err);
        if (rc) {
            weft_error_prefix(err, "%s", name);
            goto out;
        }
    }
    if ((rc = write_file_in(tmp, "module.wasm", bytes, len, err)) ||
        (rc = write_file_in(tmp, "input.wasm", strip ? stripped : bytes, strip ? stripped_len : len,
                            err)) ||
        (rc = write_file_in(tmp, "wasm-rt.h", weft_embedded_wasm_rt_h,
                            strlen(weft_embedded_wasm_rt_h), err)) ||
        (rc =
             write_file_in(tmp, "glue.h", weft_embedded_glue_h, strlen(weft_embedded_glue_h), err)))
        goto out;

    weft_progress_note(prog, "translating to C (wasm2c)");
    char *w2c_argv[] = {"wasm2c", "-n", WEFT_MODULE_NAME, "input.wasm", "-o", "module.c", NULL};
    bool crashed;
    if (weft_tool_run(tmp, w2c_argv, prog, "translating to C (wasm2c)", &crashed) >= 0) {
        char log[WEFT_ERROR_MAX - 200];
        weft_tool_log(tmp, 0, log, sizeof log);
        if (crashed)
            rc = weft_error_set(err, WEFT_ECOMPILE, "%s: wasm2c failed%s%s", name,
                                log[0] ? ": " : " (it crashed)", log);
        else
            rc = weft_error_set(err, WEFT_EMODULE, "%s: invalid module: %s", name,
                                log[0] ? log : "wasm2c refused it");
        goto out;
    }
    char hp[PATH_MAX];
    snprintf(hp, sizeof hp, "%s/module.h", tmp);
    if ((rc = weft_file_read(hp, &hdr, &hdr_len, err)))
        goto out;
    weft_glue_facts_t facts;
    if ((rc = weft_glue_read_header((const char *)hdr, &facts, err)) ||
        (rc = weft_rewrite_module_c(tmp, facts.memory_field, bytes, &m, err)) ||
        (rc = weft_glue_write(tmp, &m, strip, unknown, (const char *)hdr, &facts, err)))
        goto out;
    if (!(rc = split_c(tmp, prog, tree, err)))
        rc = compile_c(tmp, name, tier, tree, prog, err);
out:
    free(unknown);
    free(hdr);
    free(stripped);
    weft_wasm_module_free(&m);
    return rc;
}

/* The cache key and artifact path of tier for a module's bytes. */
static int tier_artifact(const uint8_t *bytes, size_t len, const char *dir, weft_tier_t tier,
                         char *artifact, size_t size, char key[65], weft_error_t *err) {
    bool fast = tier == WEFT_TIER_FAST;
    int rc = weft_cache_key(bytes, len, fast ? WEFT_TCC : weft_tool_cc(),
                            fast            ? WEFT_TCC_TEXT
                            : huge_forced() ? WEFT_CFLAGS_TEXT "; " WEFT_HUGE_LEVEL_TEXT " forced"
                                            : WEFT_CFLAGS_TEXT,
                            key, err);
    return rc ? rc : weft_cache_artifact_path(dir, key, artifact, size, err);
}

/* ---- Translations kept for the optimized tier ------------------------------------ */

/* A fast build asked to (keep_c) leaves its folder, stripped of what tcc made, for the
 * optimized build of the same module that follows in this process: that build compiles
 * the same C again with gcc instead of translating anew (a minute of wasm2c for a 30 MB
 * module). The folder keeps its build-folder name, so a process that exits before using
 * it leaves it to weft_cache_sweep, like any other dead build. */
#define WEFT_KEPT_MAX 4
static struct kept_c {
    char key[65]; /* the optimized tier's cache key */
    char dir[PATH_MAX];
    c_tree_t tree;
} kept[WEFT_KEPT_MAX];
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

/* Removes what the fast tier wrote beside the C: objects, logs, its header, module.so. */
static void strip_fast_outputs(const char *tmp) {
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if ((n > 2 && !strcmp(e->d_name + n - 2, ".o")) || !strncmp(e->d_name, "log", 3) ||
            !strcmp(e->d_name, "module.so") || !strcmp(e->d_name, "tcc_compat.h")) {
            char p[PATH_MAX];
            if ((size_t)snprintf(p, sizeof p, "%s/%s", tmp, e->d_name) < sizeof p)
                unlink(p);
        }
    }
    closedir(d);
}

/* Keeps tmp for key; a full table drops its oldest entry. */
static void keep_c(const char *key, const char *tmp, const c_tree_t *tree) {
    strip_fast_outputs(tmp);
    pthread_mutex_lock(&kept_lock);
    if (kept[WEFT_KEPT_MAX - 1].dir[0])
        weft_cache_remove_tree(kept[WEFT_KEPT_MAX - 1].dir);
    memmove(&kept[1], &kept[0], (WEFT_KEPT_MAX - 1) * sizeof kept[0]);
    snprintf(kept[0].key, sizeof kept[0].key, "%s", key);
    snprintf(kept[0].dir, sizeof kept[0].dir, "%s", tmp);
    kept[0].tree = *tree;
    pthread_mutex_unlock(&kept_lock);
}

/* Takes the folder kept for key into tmp (size bytes); false when there is none. */
static bool take_kept_c(const char *key, char *tmp, size_t size, c_tree_t *tree) {
    bool found = false;
    pthread_mutex_lock(&kept_lock);
    for (int i = 0; i < WEFT_KEPT_MAX && !found; i++) {
        if (!kept[i].dir[0] || strcmp(kept[i].key, key))
            continue;
        snprintf(tmp, size, "%s", kept[i].dir);
        *tree = kept[i].tree;
        memmove(&kept[i], &kept[i + 1], (size_t)(WEFT_KEPT_MAX - 1 - i) * sizeof kept[0]);
        memset(&kept[WEFT_KEPT_MAX - 1], 0, sizeof kept[0]);
        found = true;
    }
    pthread_mutex_unlock(&kept_lock);
    return found;
}

/* ---- metrics (util.h's registry) ---------------------------------------------------- */

static weft_metric_t m_cache_hit = {.name = "weft_compile_cache_total",
                                    .help =
                                        "Artifact cache look-ups: found (hit) or compiled (miss)",
                                    .type = WEFT_METRIC_COUNTER,
                                    .labels = "result=\"hit\""};
static weft_metric_t m_cache_miss = {.name = "weft_compile_cache_total",
                                     .help =
                                         "Artifact cache look-ups: found (hit) or compiled (miss)",
                                     .type = WEFT_METRIC_COUNTER,
                                     .labels = "result=\"miss\""};
#define WEFT_COMPILE_METRIC(tier)                                                                  \
    {                                                                                              \
        .name = "weft_compile_duration_seconds",                                                   \
        .help = "Compiles of a module (wasm2c and the C compiler), by tier",                       \
        .type = WEFT_METRIC_HISTOGRAM, .labels = "tier=\"" tier "\"",                              \
        .bounds_ns = weft_metric_buckets_slow                                                      \
    }
static weft_metric_t m_compile_fast = WEFT_COMPILE_METRIC("fast");
static weft_metric_t m_compile_opt = WEFT_COMPILE_METRIC("optimized");

static void count_cache(bool hit) {
    /* Both listed at the first look-up, so that a scrape shows the other at 0. */
    weft_metric_register(&m_cache_hit);
    weft_metric_register(&m_cache_miss);
    weft_metric_register(&m_compile_fast);
    weft_metric_register(&m_compile_opt);
    weft_metric_add(hit ? &m_cache_hit : &m_cache_miss, 1);
}

/* Finds or builds the artifact of one tier. */
static int compile_tier(const char *wasm_path, const uint8_t *bytes, size_t len, const char *dir,
                        weft_tier_t tier, const weft_compile_opts_t *opts, char *artifact,
                        size_t size, weft_error_t *err) {
    int lock = -1;
    char tmp[PATH_MAX] = "", lockpath[PATH_MAX] = "", key[65];
    int rc = tier_artifact(bytes, len, dir, tier, artifact, size, key, err);
    if (rc)
        return rc;
    if (weft_artifact_verify(artifact, NULL) == 0) {
        count_cache(true);
        return 0; /* cached */
    }

    /* Build folders of compiles that were killed go first. */
    weft_cache_sweep(dir);
    /* One compiler per module and tier at a time; whoever waited finds it made. */
    lock = weft_cache_lock(dir, key, lockpath, sizeof lockpath);
    if (weft_artifact_verify(artifact, NULL) == 0) {
        count_cache(true); /* another process or thread made it meanwhile */
        goto out;
    }
    count_cache(false);
    c_tree_t tree;
    bool reuse = tier == WEFT_TIER_OPT && take_kept_c(key, tmp, sizeof tmp, &tree);
    if (!reuse && (rc = weft_cache_build_dir(dir, key, tmp, sizeof tmp, err)))
        goto out;
    weft_progress_t prog = {.module = wasm_path,
                            .module_bytes = len,
                            .started = weft_now_ns(),
                            .quiet = opts && opts->quiet,
                            .tty = isatty(2),
                            .cancel = opts ? opts->cancel : NULL};
    rc = reuse ? compile_c(tmp, wasm_path, tier, &tree, &prog, err)
               : build_in(tmp, wasm_path, bytes, len, tier, opts ? opts->unknown_imports : 0, &prog,
                          &tree, err);
    if (rc && prog.canceled)
        rc = weft_error_set(err, WEFT_ECANCELED, "%s: compile of the %s tier canceled", wasm_path,
                            weft_tier_name(tier));
    if (!rc) {
        char so[PATH_MAX];
        snprintf(so, sizeof so, "%s/module.so", tmp);
        rc = weft_artifact_store(so, artifact, err);
    }
    if (!rc)
        weft_metric_observe_ns(tier == WEFT_TIER_FAST ? &m_compile_fast : &m_compile_opt,
                               weft_now_ns() - prog.started);
    if (prog.shown && prog.tty)
        fputs("\n", stderr);
    if (!rc && prog.shown)
        fprintf(stderr, "weft: compiled %s (%s tier) in %.1f s\n", wasm_path, weft_tier_name(tier),
                (double)(weft_now_ns() - prog.started) / 1e9);
    if (!rc && tier == WEFT_TIER_FAST && opts && opts->keep_c) {
        char opt_artifact[PATH_MAX], opt_key[65];
        if (tier_artifact(bytes, len, dir, WEFT_TIER_OPT, opt_artifact, sizeof opt_artifact,
                          opt_key, NULL) == 0) {
            keep_c(opt_key, tmp, &tree);
            tmp[0] = 0;
        }
    }
out:
    if (tmp[0] && !getenv("WEFT_KEEP_BUILD"))
        weft_cache_remove_tree(tmp);
    weft_cache_unlock(lock, lockpath);
    return rc;
}

int weft_module_compile_tier(const char *wasm_path, const weft_compile_opts_t *opts, char *artifact,
                             size_t size, weft_tier_t *built, weft_error_t *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (weft_artifact_is(wasm_path))
        return weft_error_set(err, WEFT_EMODULE,
                              "%s is a compiled artifact already: compile the .wasm it was "
                              "compiled from",
                              wasm_path);
    int rc = weft_file_read(wasm_path, &bytes, &len, err);
    if (rc)
        return rc;
    char dir[PATH_MAX - 200], key[65];
    weft_tier_t tier = opts ? opts->tier : WEFT_TIER_AUTO;
    const char *env = getenv("WEFT_TIER");
    if (tier == WEFT_TIER_AUTO && env)
        tier = !strcmp(env, "fast")  ? WEFT_TIER_FAST
               : !strcmp(env, "opt") ? WEFT_TIER_OPT
                                     : WEFT_TIER_AUTO;
    if ((rc = weft_cache_dir(opts, dir, sizeof dir, err)))
        goto out;
    if (tier == WEFT_TIER_AUTO) {
        /* The optimized tier when it is there; else the fast one for a large module. */
        if ((rc = tier_artifact(bytes, len, dir, WEFT_TIER_OPT, artifact, size, key, err)))
            goto out;
        if (weft_artifact_verify(artifact, NULL) == 0) {
            count_cache(true);
            tier = WEFT_TIER_OPT;
            goto out;
        }
        tier = len >= WEFT_TIER_FAST_FROM && weft_tier_available(WEFT_TIER_FAST) ? WEFT_TIER_FAST
                                                                                 : WEFT_TIER_OPT;
    }
    if (!weft_tier_available(tier)) {
        rc = weft_error_set(err, WEFT_ECOMPILE,
                            "%s: the fast tier compiles with tcc, which is not installed "
                            "(apt-get install tcc)",
                            wasm_path);
        goto out;
    }
    rc = compile_tier(wasm_path, bytes, len, dir, tier, opts, artifact, size, err);
out:
    if (!rc && built)
        *built = tier;
    free(bytes);
    return rc;
}

int weft_module_compile(const char *wasm_path, const weft_compile_opts_t *opts, char *artifact,
                        size_t size, weft_error_t *err) {
    return weft_module_compile_tier(wasm_path, opts, artifact, size, NULL, err);
}
