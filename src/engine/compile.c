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
 * compiles anew. Two processes compiling the same module serialize on a lock file;
 * artifacts are written under a temporary name and renamed, so a reader never sees half
 * of one.
 *
 * Nothing here calls module.c: loading calls weft_module_compile, never the reverse.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded_headers.h"
#include "engine_internal.h"

/* Flags for the generated C: compiling, then linking the shared object. */
#define WEFT_CC_COMPILE                                                                            \
    "-O2", "-std=gnu11", "-fPIC", "-w", "-fvisibility=hidden", "-fno-semantic-interposition"
/* No -z now: host functions from plugins are bound lazily (engine.h). */
#define WEFT_CC_LINK "-shared", "-Wl,-Bsymbolic", "-Wl,-z,noexecstack"
/* After the objects: wasm2c's float operations call libm (sqrt, floor, ...). */
#define WEFT_CC_LIBS "-lm"
/* The flags as the cache key spells them. */
#define WEFT_CFLAGS_TEXT                                                                           \
    "-O2 -std=gnu11 -fPIC -w -fvisibility=hidden -fno-semantic-interposition -shared "             \
    "-Wl,-Bsymbolic -Wl,-z,noexecstack -lm; split " WEFT_STR(WEFT_SPLIT_MIN_BYTES)
#define WEFT_STR_(x) #x
#define WEFT_STR(x) WEFT_STR_(x)
/* Generated C larger than this is split into parallel translation units. */
#define WEFT_SPLIT_MIN_BYTES 1000000

/* ---- cc ---------------------------------------------------------------------------------- */

/* Compiles tmp's C into tmp/module.so: one compiler run for small modules, parallel
 * ones for large. */
static int compile_c(const char *tmp, const char *name, weft_progress_t *prog, weft_error_t *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    struct stat st;
    int parts = 1, rc;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (stat(path, &st) == 0 && st.st_size > WEFT_SPLIT_MIN_BYTES && cores > 1) {
        long want = st.st_size / (WEFT_SPLIT_MIN_BYTES / 2);
        if (want > cores)
            want = cores;
        if (want > WEFT_MAX_PARTS)
            want = WEFT_MAX_PARTS;
        if ((rc = weft_split_module_c(tmp, (int)want, &parts, err)))
            return rc;
    }
    weft_progress_note(prog, "compiling C");
    char *cc = (char *)weft_tool_cc();
    bool crashed;
    int failed;
    if (parts == 1) {
        char *argv[] = {cc,         WEFT_CC_COMPILE, WEFT_CC_LINK, "-I.",        "-o", "module.so",
                        "module.c", "glue.c",        "data.S",     WEFT_CC_LIBS, NULL};
        failed = weft_tool_run(tmp, argv, prog, "compiling C", &crashed);
    } else {
        char srcs[WEFT_MAX_PARTS][32], objs[WEFT_MAX_PARTS][32];
        char *argvs_store[WEFT_MAX_PARTS][16];
        char *const *argvs[WEFT_MAX_PARTS];
        for (int i = 0; i < parts; i++) {
            if (i == 0) {
                snprintf(srcs[i], sizeof srcs[i], "module.c");
                snprintf(objs[i], sizeof objs[i], "module.o");
            } else {
                snprintf(srcs[i], sizeof srcs[i], "part%d.c", i);
                snprintf(objs[i], sizeof objs[i], "part%d.o", i);
            }
            char *a[] = {cc, WEFT_CC_COMPILE, "-I.", "-c", srcs[i], "-o", objs[i], NULL};
            memcpy(argvs_store[i], a, sizeof a);
            argvs[i] = argvs_store[i];
        }
        failed = weft_tools_run(tmp, argvs, parts, prog, "compiling C", &crashed);
        if (failed < 0) {
            char *argv[8 + WEFT_MAX_PARTS + 12];
            int k = 0;
            char *head[] = {cc, WEFT_CC_COMPILE, WEFT_CC_LINK, "-I.", "-o", "module.so"};
            for (size_t j = 0; j < sizeof head / sizeof head[0]; j++)
                argv[k++] = head[j];
            for (int i = 0; i < parts; i++)
                argv[k++] = objs[i];
            argv[k++] = "glue.c";
            argv[k++] = "data.S";
            argv[k++] = WEFT_CC_LIBS;
            argv[k] = NULL;
            failed = weft_tool_run(tmp, argv, prog, "linking", &crashed);
        }
    }
    if (failed >= 0) {
        char log[WEFT_ERROR_MAX - 200];
        weft_tool_log(tmp, failed, log, sizeof log);
        return weft_error_set(err, WEFT_ECOMPILE, "%s: the C compiler failed%s: %s", name,
                              crashed ? " (it crashed)" : "", log[0] ? log : "no message");
    }
    return 0;
}

/* ---- The pipeline ------------------------------------------------------------------------ */

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int write_file_in(const char *dir, const char *name, const void *data, size_t len,
                         weft_error_t *err) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return weft_file_write_atomic(p, data, len, err);
}

/* Runs the stages in tmp; on success tmp/module.so holds the shared object. */
static int build_in(const char *tmp, const char *name, const uint8_t *bytes, size_t len,
                    weft_progress_t *prog, weft_error_t *err) {
    weft_wasm_module_t m;
    uint8_t *stripped = NULL;
    size_t stripped_len = 0;
    uint8_t *hdr = NULL;
    size_t hdr_len;
    int rc = weft_wasm_read(bytes, len, &m, err);
    if (rc) {
        weft_error_prefix(err, "%s", name);
        return rc;
    }
    rc = weft_check_module(name, &m, err);
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
        (rc = weft_rewrite_module_c(tmp, facts.memory_field, err)) ||
        (rc = weft_glue_write(tmp, &m, strip, (const char *)hdr, &facts, err)))
        goto out;
    rc = compile_c(tmp, name, prog, err);
out:
    free(hdr);
    free(stripped);
    weft_wasm_module_free(&m);
    return rc;
}

int weft_module_compile(const char *wasm_path, const weft_compile_opts_t *opts, char *artifact,
                        size_t size, weft_error_t *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    int lock = -1;
    char tmp[PATH_MAX] = "", lockpath[PATH_MAX] = "";
    if (weft_artifact_is(wasm_path))
        return weft_error_set(err, WEFT_EMODULE,
                              "%s is a compiled artifact already: compile the .wasm it was "
                              "compiled from",
                              wasm_path);
    int rc = weft_file_read(wasm_path, &bytes, &len, err);
    if (rc)
        return rc;
    char dir[PATH_MAX - 200], key[65];
    if ((rc = weft_cache_dir(opts, dir, sizeof dir, err)) ||
        (rc = weft_cache_key(bytes, len, weft_tool_cc(), WEFT_CFLAGS_TEXT, key, err)) ||
        (rc = weft_cache_artifact_path(dir, key, artifact, size, err)))
        goto out;
    if (weft_artifact_verify(artifact, NULL) == 0)
        goto out; /* cached */

    /* One compiler per module at a time; whoever waited finds the artifact made. */
    lock = weft_cache_lock(dir, key, lockpath, sizeof lockpath);
    if (weft_artifact_verify(artifact, NULL) == 0)
        goto out;

    if ((rc = weft_cache_build_dir(dir, key, tmp, sizeof tmp, err)))
        goto out;
    weft_progress_t prog = {.module = wasm_path,
                            .module_bytes = len,
                            .started = weft_now_ns(),
                            .quiet = opts && opts->quiet,
                            .tty = isatty(2)};
    rc = build_in(tmp, wasm_path, bytes, len, &prog, err);
    if (!rc) {
        char so[PATH_MAX];
        snprintf(so, sizeof so, "%s/module.so", tmp);
        rc = weft_artifact_store(so, artifact, err);
    }
    if (prog.shown && prog.tty)
        fputs("\n", stderr);
    if (!rc && prog.shown)
        fprintf(stderr, "weft: compiled %s in %.1f s\n", wasm_path,
                (double)(weft_now_ns() - prog.started) / 1e9);
out:
    if (tmp[0] && !getenv("WEFT_KEEP_BUILD"))
        remove_tree(tmp);
    weft_cache_unlock(lock, lockpath);
    free(bytes);
    return rc;
}
