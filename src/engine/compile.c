/* compile: .wasm -> checked -> wasm2c -> system C compiler -> shared object, cached.
 *
 * Stages (each named in progress lines and errors):
 *   read     wasm_reader.c: structure, imports, SIMD, data segments
 *   check    every import is one weft provides, with the same type
 *   translate  wasm2c (validates the module; its message and offset are passed on)
 *   glue     generate glue.c (the fixed ABI of glue.h) and data.S
 *   cc       cc -O2 -fPIC -shared
 *   store    cache.c: append the trailer, rename into the cache
 *
 * Data segments stay out of the C: wasm2c would write them as byte-array initializers,
 * which gcc parses slowly (a module with 17 MB of data took most of a minute). They are
 * removed from the module given to wasm2c and assembled into the artifact with .incbin
 * straight from the module bytes, then copied into memory at instantiation by the glue.
 *
 * The cache key (cache.c) covers the module bytes, weft's version and glue ABI, the
 * compiler (resolved path, size, mtime) and the flags, so a change to any of them
 * compiles anew. Two processes compiling the same module serialize on a lock file; artifacts are
 * written under a temporary name and renamed, so a reader never sees half of one.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "embedded_headers.h"
#include "engine_internal.h"
#include "wasm_reader.h"

extern char **environ;

#define WEFT_MODULE_NAME "weftmod"
/* Flags for the generated C: compiling, then linking the shared object. */
#define WEFT_CC_COMPILE                                                                            \
    "-O2", "-std=gnu11", "-fPIC", "-w", "-fvisibility=hidden", "-fno-semantic-interposition"
/* No -z now: host functions from plugins are bound lazily (engine.h). */
#define WEFT_CC_LINK "-shared", "-Wl,-Bsymbolic", "-Wl,-z,noexecstack"
/* After the objects: wasm2c's float operations call libm (sqrt, floor, ...). */
#define WEFT_CC_LIBS "-lm"
/* The flags as the cache key spells them. */
#define WEFT_CFLAGS_TEXT                                                                           \
    "-O2 -std=gnu11 -fPIC -w -fvisibility=hidden -fno-semantic-interposition -shared "            \
    "-Wl,-Bsymbolic -Wl,-z,noexecstack -lm; split " WEFT_STR(WEFT_SPLIT_MIN_BYTES)
#define WEFT_STR_(x) #x
#define WEFT_STR(x) WEFT_STR_(x)
/* Generated C larger than this is split into parallel translation units. */
#define WEFT_SPLIT_MIN_BYTES 1000000
#define WEFT_MAX_PARTS 8
/* Show progress once a compile has run this long. */
#define WEFT_PROGRESS_AFTER_NS 1000000000ull

/* ---- Running tools ------------------------------------------------------------------ */

typedef struct progress {
    const char *module;
    size_t module_bytes;
    uint64_t started;
    uint64_t last_line; /* when a line was last printed */
    const char *stage;  /* the stage last printed */
    bool shown;
    bool quiet;
    bool tty;
} progress_t;

/* Says what the compiler is doing once a compile has taken a second: a line per stage,
 * then the elapsed time, redrawn in place on a terminal and every 10 s otherwise. */
static void progress_note(progress_t *p, const char *stage) {
    if (p->quiet)
        return;
    uint64_t now = weft_now_ns();
    if (!p->shown && now - p->started < WEFT_PROGRESS_AFTER_NS)
        return;
    bool new_stage = !p->stage || strcmp(p->stage, stage) != 0;
    if (!new_stage && !p->tty && now - p->last_line < 10 * 1000000000ull)
        return;
    if (p->tty && p->shown)
        fputs(new_stage ? "\n" : "\r", stderr);
    fprintf(stderr, "weft: compiling %s (%.1f MB): %s (%.1f s)%s", p->module,
            (double)p->module_bytes / 1e6, stage, (double)(now - p->started) / 1e9,
            p->tty ? "" : "\n");
    fflush(stderr);
    p->shown = true;
    p->stage = stage;
    p->last_line = now;
}

/* Runs the n commands argvs[i] in dir at once, each with stdout and stderr to
 * dir/log<i>, and waits for all, noting progress each second. Returns the index of the
 * first that failed (exit status != 0, or could not run, or died), or -1 if all
 * succeeded. */
static int run_tools(const char *dir, char *const *const argvs[], int n, progress_t *p,
                     const char *stage, bool *crashed) {
    *crashed = false;
    pid_t pids[WEFT_MAX_PARTS + 1];
    int failed = -1, running = 0;
    for (int i = 0; i < n; i++) {
        char log[32];
        snprintf(log, sizeof log, "log%d", i);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addchdir_np(&fa, dir);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        int rc = posix_spawnp(&pids[i], argvs[i][0], &fa, NULL, argvs[i], environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pids[i] = -1;
            if (failed < 0)
                failed = i;
        } else {
            running++;
        }
    }
    uint64_t next_note = weft_now_ns();
    while (running > 0) {
        for (int i = 0; i < n; i++) {
            if (pids[i] <= 0)
                continue;
            int status;
            pid_t w = waitpid(pids[i], &status, WNOHANG);
            if (w == 0 || (w < 0 && errno == EINTR))
                continue;
            pids[i] = 0;
            running--;
            if ((w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) && failed < 0) {
                failed = i;
                *crashed = w < 0 || !WIFEXITED(status);
            }
        }
        if (running == 0)
            break;
        if (weft_now_ns() >= next_note) {
            progress_note(p, stage);
            next_note = weft_now_ns() + 1000000000ull;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return failed;
}

static int run_tool(const char *dir, char *const argv[], progress_t *p, const char *stage,
                    bool *crashed) {
    char *const *const argvs[] = {argv};
    return run_tools(dir, argvs, 1, p, stage, crashed);
}

/* Reads dir/log<i> for an error message: its first lines, trimmed. */
static void tool_log(const char *dir, int i, char *out, size_t size) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/log%d", dir, i);
    uint8_t *text = NULL;
    size_t len = 0;
    out[0] = 0;
    if (weft_file_read(path, &text, &len, NULL))
        return;
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(out, text, n);
    out[n] = 0;
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = 0;
    free(text);
}

static const char *cc_command(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

/* ---- Checks before translating ---------------------------------------------------------- */

static int check_module(const char *name, const weft_wasm_module_t *m, weft_error_t *err) {
    for (uint32_t i = 0; i < m->nimports; i++) {
        const weft_wasm_import_t *im = &m->imports[i];
        if (im->kind != WEFT_EXTERN_FUNC) {
            static const char *kinds[] = {"func", "table", "memory", "global", "tag"};
            return weft_error_set(err, WEFT_EIMPORT,
                                  "%s imports %s.%s (%s), which weft does not provide", name,
                                  im->module, im->name, im->kind < 5 ? kinds[im->kind] : "?");
        }
        const weft_wasm_functype_t *t = &m->types[im->type_index];
        char tstr[256], sig[128];
        weft_wasm_functype_str(t, tstr, sizeof tstr);
        const weft_import_def_t *def = weft_engine_find_import(im->module, im->name);
        if (!def) {
            /* A provider loaded on demand may have it. */
            weft_error_t lerr = {0};
            if (weft_engine_require_module(im->module, &lerr) == 0)
                def = weft_engine_find_import(im->module, im->name);
            else if (lerr.code != WEFT_EIMPORT)
                return weft_error_set(err, lerr.code, "%s: %s", name, lerr.msg);
        }
        if (!def)
            return weft_error_set(err, WEFT_EIMPORT,
                                  "%s imports %s.%s %s, which weft does not provide", name,
                                  im->module, im->name, tstr);
        if (!weft_wasm_functype_sig(t, sig, sizeof sig) || strcmp(sig, def->sig) != 0)
            return weft_error_set(err, WEFT_EIMPORT,
                                  "%s imports %s.%s as %s, but weft provides it with another "
                                  "type (%s)",
                                  name, im->module, im->name, tstr, def->sig);
    }
    if (m->uses_simd)
        return weft_error_set(err, WEFT_EUNSUPPORTED,
                              "%s: offset 0x%zx: uses SIMD (%s), which weft cannot compile yet "
                              "(wasm2c 1.0.32 has no SIMD support); rebuild without -msimd128",
                              name, m->simd_offset, m->simd_name);
    if (m->nmemories > 1)
        return weft_error_set(err, WEFT_EUNSUPPORTED, "%s: has %u memories; weft supports one",
                              name, m->nmemories);
    return 0;
}

/* ---- Faster loads and stores ------------------------------------------------------------ */

/* wasm2c 1.0.32 passes &instance->memory to every load and store, which read
 * memory->data each time; since a store through a byte pointer may alias that field,
 * the C compiler must reload the base after every store. weft's memories never move
 * (they grow in place inside their reservation), so each function can read the base
 * once: this text, inserted after wasm2c's own load/store helpers, redefines them to
 * use a base read by FUNC_PROLOGUE at the top of every function. Only for modules with
 * exactly one memory, which is all weft runs. */
#define WEFT_LOAD_STORE_ANCHOR "DEFINE_STORE(i64_store32, u32, u64)\n"
static const char fast_memory_text[] =
    "\n/* weft: the memory never moves; each function reads its base once. */\n"
    "#undef FUNC_PROLOGUE\n"
    "#define FUNC_PROLOGUE u8 *const weft_mb __attribute__((unused)) = instance->MEMORY.data\n"
    "#define WEFT_LOAD(name, t1, t2, t3) static inline t3 weft_##name(u8 *mb, u64 addr) "
    "{ t1 r; wasm_rt_memcpy(&r, mb + addr, sizeof(t1)); return (t3)(t2)r; }\n"
    "#define WEFT_STORE(name, t1, t2) static inline void weft_##name(u8 *mb, u64 addr, t2 v) "
    "{ t1 w = (t1)v; wasm_rt_memcpy(mb + addr, &w, sizeof(t1)); }\n"
    "WEFT_LOAD(i32_load, u32, u32, u32)\nWEFT_LOAD(i64_load, u64, u64, u64)\n"
    "WEFT_LOAD(f32_load, f32, f32, f32)\nWEFT_LOAD(f64_load, f64, f64, f64)\n"
    "WEFT_LOAD(i32_load8_s, s8, s32, u32)\nWEFT_LOAD(i64_load8_s, s8, s64, u64)\n"
    "WEFT_LOAD(i32_load8_u, u8, u32, u32)\nWEFT_LOAD(i64_load8_u, u8, u64, u64)\n"
    "WEFT_LOAD(i32_load16_s, s16, s32, u32)\nWEFT_LOAD(i64_load16_s, s16, s64, u64)\n"
    "WEFT_LOAD(i32_load16_u, u16, u32, u32)\nWEFT_LOAD(i64_load16_u, u16, u64, u64)\n"
    "WEFT_LOAD(i64_load32_s, s32, s64, u64)\nWEFT_LOAD(i64_load32_u, u32, u64, u64)\n"
    "WEFT_STORE(i32_store, u32, u32)\nWEFT_STORE(i64_store, u64, u64)\n"
    "WEFT_STORE(f32_store, f32, f32)\nWEFT_STORE(f64_store, f64, f64)\n"
    "WEFT_STORE(i32_store8, u8, u32)\nWEFT_STORE(i32_store16, u16, u32)\n"
    "WEFT_STORE(i64_store8, u8, u64)\nWEFT_STORE(i64_store16, u16, u64)\n"
    "WEFT_STORE(i64_store32, u32, u64)\n"
    "#define i32_load(m, a) weft_i32_load(weft_mb, a)\n"
    "#define i64_load(m, a) weft_i64_load(weft_mb, a)\n"
    "#define f32_load(m, a) weft_f32_load(weft_mb, a)\n"
    "#define f64_load(m, a) weft_f64_load(weft_mb, a)\n"
    "#define i32_load8_s(m, a) weft_i32_load8_s(weft_mb, a)\n"
    "#define i64_load8_s(m, a) weft_i64_load8_s(weft_mb, a)\n"
    "#define i32_load8_u(m, a) weft_i32_load8_u(weft_mb, a)\n"
    "#define i64_load8_u(m, a) weft_i64_load8_u(weft_mb, a)\n"
    "#define i32_load16_s(m, a) weft_i32_load16_s(weft_mb, a)\n"
    "#define i64_load16_s(m, a) weft_i64_load16_s(weft_mb, a)\n"
    "#define i32_load16_u(m, a) weft_i32_load16_u(weft_mb, a)\n"
    "#define i64_load16_u(m, a) weft_i64_load16_u(weft_mb, a)\n"
    "#define i64_load32_s(m, a) weft_i64_load32_s(weft_mb, a)\n"
    "#define i64_load32_u(m, a) weft_i64_load32_u(weft_mb, a)\n"
    "#define i32_store(m, a, v) weft_i32_store(weft_mb, a, v)\n"
    "#define i64_store(m, a, v) weft_i64_store(weft_mb, a, v)\n"
    "#define f32_store(m, a, v) weft_f32_store(weft_mb, a, v)\n"
    "#define f64_store(m, a, v) weft_f64_store(weft_mb, a, v)\n"
    "#define i32_store8(m, a, v) weft_i32_store8(weft_mb, a, v)\n"
    "#define i32_store16(m, a, v) weft_i32_store16(weft_mb, a, v)\n"
    "#define i64_store8(m, a, v) weft_i64_store8(weft_mb, a, v)\n"
    "#define i64_store16(m, a, v) weft_i64_store16(weft_mb, a, v)\n"
    "#define i64_store32(m, a, v) weft_i64_store32(weft_mb, a, v)\n";

/* ---- Host calls keep a reserve of native stack ------------------------------------------- *
 *
 * A guest that recursed to just short of the end of its thread's stack and then calls a
 * host function would overflow it inside weft's own code (fd_write, libc, malloc),
 * where unwinding could leave a lock held. So every call of an imported function in the
 * generated code first calls weft_rt_host_call (runtime.c), which traps "call stack
 * exhausted" while still in the guest's frame when less than the reserve is left.
 * wasm2c 1.0.32 calls an import as "(*Z_<module>Z_<name>)(instance, ...)"; each such
 * call becomes "(weft_rt_host_call(), *Z_<module>Z_<name>)(instance, ...)". Other uses
 * of the name (its address in a table) are left alone. */
#define WEFT_HOST_CALL_PREFIX "(*Z_"

/* The first needle in [from, to), or NULL. */
static const char *find_in(const char *from, const char *to, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = from; p && p + n <= to; p++) {
        p = memchr(p, needle[0], (size_t)(to - p));
        if (!p || p + n > to)
            return NULL;
        if (!memcmp(p, needle, n))
            return p;
    }
    return NULL;
}

/* Appends c[0..len) to out with every call of an import guarded as above; nonzero
 * when out of memory. */
static int guard_host_calls(weft_buf_t *out, const char *c, size_t len) {
    const char *p = c, *end = c + len;
    int rc = 0;
    for (;;) {
        const char *at = find_in(p, end, WEFT_HOST_CALL_PREFIX);
        if (!at)
            return rc | weft_buf_append(out, p, (size_t)(end - p));
        const char *name = at + 2, *q = name;
        while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
            q++;
        bool call = end - q >= 2 && q[0] == ')' && q[1] == '(';
        rc |= weft_buf_append(out, p, (size_t)(at - p));
        if (call) {
            rc |= weft_buf_puts(out, "(weft_rt_host_call(), *");
            rc |= weft_buf_append(out, name, (size_t)(q - name));
        } else {
            rc |= weft_buf_append(out, at, (size_t)(q - at));
        }
        p = q;
    }
}

/* Rewrites tmp/module.c: host calls guarded, and fast_memory_text (MEMORY replaced by
 * the field name) after the load/store helpers when the module has a memory. A
 * module.c without the anchor gets no fast memory access: correct, only slower. */
static int rewrite_module_c(const char *tmp, const char *memory_field, weft_error_t *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    uint8_t *c = NULL;
    size_t len;
    int rc = weft_file_read(path, &c, &len, err);
    if (rc)
        return rc;
    weft_buf_t out = {0};
    char *at = memory_field[0] ? strstr((char *)c, WEFT_LOAD_STORE_ANCHOR) : NULL;
    size_t head = at ? (size_t)(at - (char *)c) + strlen(WEFT_LOAD_STORE_ANCHOR) : 0;
    rc = weft_buf_append(&out, c, head);
    if (at) {
        const char *t = fast_memory_text, *m;
        while ((m = strstr(t, "MEMORY"))) {
            rc |= weft_buf_append(&out, t, (size_t)(m - t));
            rc |= weft_buf_puts(&out, memory_field);
            t = m + strlen("MEMORY");
        }
        rc |= weft_buf_puts(&out, t);
    }
    rc |= guard_host_calls(&out, (const char *)c + head, len - head);
    free(c);
    if (rc) {
        weft_buf_free(&out);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    rc = weft_file_write_atomic(path, out.data, out.len, err);
    weft_buf_free(&out);
    return rc;
}

/* ---- Generated glue --------------------------------------------------------------------- */

/* wasm2c 1.0.32's name mangling: "Z_" then each byte, [A-Za-z0-9_] but 'Z' as is, others
 * as Z and two hex digits. */
static void mangle(weft_buf_t *b, const char *s) {
    weft_buf_puts(b, "Z_");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p < 128 && isalnum(*p) && *p != 'Z') || *p == '_';
        if (plain)
            weft_buf_append(b, p, 1);
        else
            weft_buf_printf(b, "Z%02X", *p);
    }
}

/* A C string literal for s: everything but [A-Za-z0-9_ .-] as an octal escape. */
static void c_string(weft_buf_t *b, const char *s) {
    weft_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 128 && isalnum(*p)) || *p == '_' || *p == ' ' || *p == '.' || *p == '-')
            weft_buf_append(b, p, 1);
        else
            weft_buf_printf(b, "\\%03o", *p);
    }
    weft_buf_puts(b, "\"");
}

/* Facts about wasm2c's output that the glue needs, read from its header. */
typedef struct header_facts {
    int import_modules;    /* pointers instantiate takes after the instance */
    char memory_field[256]; /* "w2c_memory": the instance field of memory 0, or "" */
} header_facts_t;

static int read_header(const char *hdr, header_facts_t *f, weft_error_t *err) {
    memset(f, 0, sizeof *f);
    const char *inst = strstr(hdr, "void Z_" WEFT_MODULE_NAME "_instantiate(");
    if (!inst)
        return weft_error_set(err, WEFT_ECOMPILE, "wasm2c output has no instantiate function");
    const char *end = strchr(inst, ';');
    for (const char *p = inst; p && p < end; p = strstr(p + 1, "struct "))
        if (p != inst)
            f->import_modules++;
    const char *st = strstr(hdr, "typedef struct Z_" WEFT_MODULE_NAME "_instance_t {");
    const char *st_end = st ? strstr(st, "} Z_" WEFT_MODULE_NAME "_instance_t;") : NULL;
    if (st && st_end) {
        const char *m = strstr(st, "  wasm_rt_memory_t w2c_");
        if (m && m < st_end) {
            m += strlen("  wasm_rt_memory_t ");
            size_t n = strcspn(m, ";");
            if (n < sizeof f->memory_field)
                memcpy(f->memory_field, m, n);
        }
    }
    return 0;
}

static int write_glue(const char *dir, const weft_wasm_module_t *m, bool stripped,
                      const char *hdr, weft_error_t *err) {
    header_facts_t f;
    int rc = read_header(hdr, &f, err);
    if (rc)
        return rc;
    if ((rc = rewrite_module_c(dir, f.memory_field, err)))
        return rc;
    weft_buf_t g = {0}, s = {0};
    weft_buf_puts(&g, "/* generated by weft: the glue.h ABI for one module */\n"
                      "#include <string.h>\n#include \"wasm-rt.h\"\n#include \"glue.h\"\n"
                      "#include \"module.h\"\n\n");
    weft_buf_puts(&s, "\t.section .note.GNU-stack,\"\",@progbits\n"
                      "\t.section .rodata.weft_data,\"a\"\n");
    /* Segments removed from the C by weft_wasm_strip_data come back through .incbin. */
    weft_buf_t segs = {0};
    uint32_t nsegs = 0;
    if (stripped) {
        for (uint32_t i = 0; i < m->ndata; i++) {
            const weft_wasm_data_t *d = &m->data[i];
            if (d->flags == 1 || !d->offset_is_const)
                continue;
            if (d->bytes_len) {
                weft_buf_printf(&s, "\t.globl weft_seg_%u\n\t.hidden weft_seg_%u\nweft_seg_%u:\n"
                                    "\t.incbin \"module.wasm\", %zu, %zu\n",
                                i, i, i, d->bytes_offset, d->bytes_len);
                weft_buf_printf(&g, "extern const uint8_t weft_seg_%u[];\n", i);
            }
            if (d->bytes_len)
                weft_buf_printf(&segs, "    {%uu, %zuu, weft_seg_%u},\n", d->offset, d->bytes_len, i);
            else
                weft_buf_printf(&segs, "    {%uu, 0, NULL},\n", d->offset);
            nsegs++;
        }
    }
    weft_buf_printf(&g, "\nstatic void glue_init_module(void) { Z_%s_init_module(); }\n\n",
                    WEFT_MODULE_NAME);
    if (nsegs && f.memory_field[0]) {
        weft_buf_printf(&g,
                        "static const struct { uint32_t offset; size_t len; const uint8_t *bytes; "
                        "} segments[] = {\n%s};\n\n",
                        segs.data);
    }
    weft_buf_printf(&g, "static void glue_instantiate(void *inst, void *guest) {\n"
                        "    Z_%s_instance_t *i = inst;\n    Z_%s_instantiate(i",
                    WEFT_MODULE_NAME, WEFT_MODULE_NAME);
    for (int k = 0; k < f.import_modules; k++)
        weft_buf_puts(&g, ", guest");
    weft_buf_puts(&g, ");\n");
    if (!f.import_modules)
        weft_buf_puts(&g, "    (void)guest;\n");
    if (nsegs && f.memory_field[0]) {
        weft_buf_printf(&g,
                        "    wasm_rt_memory_t *mem = &i->%s;\n"
                        "    for (size_t k = 0; k < sizeof segments / sizeof segments[0]; k++) {\n"
                        "        if (segments[k].offset + (uint64_t)segments[k].len > mem->size)\n"
                        "            wasm_rt_trap(WASM_RT_TRAP_OOB);\n"
                        "        if (segments[k].len)\n"
                        "            memcpy(mem->data + segments[k].offset, segments[k].bytes, "
                        "segments[k].len);\n"
                        "    }\n",
                        f.memory_field);
    }
    weft_buf_puts(&g, "}\n\n");
    weft_buf_printf(&g, "static void glue_free(void *inst) { Z_%s_free(inst); }\n\n",
                    WEFT_MODULE_NAME);
    if (f.memory_field[0])
        weft_buf_printf(&g,
                        "static void *glue_memory(void *inst) { return &((Z_%s_instance_t "
                        "*)inst)->%s; }\n\n",
                        WEFT_MODULE_NAME, f.memory_field);
    else
        weft_buf_puts(&g, "static void *glue_memory(void *inst) { (void)inst; return NULL; }\n\n");

    /* Function exports of type (func) become entry points. */
    weft_buf_t table = {0};
    uint32_t nexp = 0;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const weft_wasm_export_t *e = &m->exports[i];
        if (e->kind != WEFT_EXTERN_FUNC || e->index >= m->nfuncs)
            continue;
        const weft_wasm_functype_t *t = &m->types[m->func_types[e->index]];
        if (t->nparams || t->nresults)
            continue;
        weft_buf_t sym = {0};
        weft_buf_printf(&sym, "Z_%s", WEFT_MODULE_NAME);
        mangle(&sym, e->name);
        weft_buf_printf(&sym, "(Z_%s_instance_t*);", WEFT_MODULE_NAME);
        bool present = strstr(hdr, (char *)sym.data) != NULL;
        weft_buf_free(&sym);
        if (!present)
            continue; /* wasm2c named it otherwise; not callable as an entry point */
        weft_buf_printf(&g, "static void export_%u(void *inst) { Z_%s", nexp, WEFT_MODULE_NAME);
        weft_buf_t mangled = {0};
        mangle(&mangled, e->name);
        weft_buf_printf(&g, "%s(inst); }\n", mangled.data);
        weft_buf_free(&mangled);
        weft_buf_puts(&table, "    {");
        c_string(&table, e->name);
        weft_buf_printf(&table, ", export_%u},\n", nexp);
        nexp++;
    }
    weft_buf_printf(&g, "\nstatic const weft_glue_export_t exports[] = {\n%s    {NULL, NULL}\n};\n\n",
                    table.data ? (char *)table.data : "");
    weft_buf_puts(&g, "static const char *const import_modules[] = {");
    for (uint32_t i = 0; i < m->nimports; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = !strcmp(m->imports[j].module, m->imports[i].module);
        if (!seen) {
            c_string(&g, m->imports[i].module);
            weft_buf_puts(&g, ", ");
        }
    }
    weft_buf_puts(&g, "NULL};\n\n");
    weft_buf_printf(&g,
                    "__attribute__((visibility(\"default\"))) const weft_glue_t weft_glue = {\n"
                    "    WEFT_GLUE_ABI, %uu, sizeof(Z_%s_instance_t), glue_init_module,\n"
                    "    glue_instantiate, glue_free, glue_memory, exports, import_modules,\n};\n",
                    nexp, WEFT_MODULE_NAME);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/glue.c", dir);
    rc = weft_file_write_atomic(path, g.data, g.len, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/data.S", dir);
        rc = weft_file_write_atomic(path, s.data, s.len, err);
    }
    weft_buf_free(&g);
    weft_buf_free(&s);
    weft_buf_free(&segs);
    weft_buf_free(&table);
    return rc;
}

/* ---- Parallel compilation of large modules ---------------------------------------------- */

/* gcc -O2 spends its time evenly over all functions, so a large module compiles about
 * n times faster as n translation units on n cores. wasm2c 1.0.32 writes one file whose
 * layout is regular: helpers (macros and static inline functions), then
 * s_module_initialized, func_types, prototypes of the module's functions (w2c_*), the
 * init functions and segments, the definitions of the w2c_* functions, and last the
 * exports and instantiate. The split keeps everything in module.c but moves runs of
 * definitions to part<i>.c, each of which gets the helpers, the prototypes and
 * func_types as extern. The w2c_* functions lose `static` (they stay hidden: the object
 * is built with -fvisibility=hidden). Definitions that refer to data or element
 * segments (bulk memory, table.init) stay in module.c; if there are any, nothing is
 * split. */

typedef struct span {
    const char *p;
    size_t n;
} span_t;


/* Is the line at p ("static <type> w2c_name(" ...) a module function's prototype or
 * definition? */
static bool is_w2c_function_line(const char *p, const char *end) {
    if ((size_t)(end - p) < 8 || memcmp(p, "static ", 7) != 0)
        return false;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    const char *name = find_in(p, eol, " w2c_");
    if (!name)
        return false;
    name += 5;
    while (name < eol && (isalnum((unsigned char)*name) || *name == '_'))
        name++;
    return name < eol && *name == '(';
}

/* Appends [p, end) with "static " removed from the w2c_* function lines. */
static void append_unstatic(weft_buf_t *b, const char *p, const char *end) {
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        eol = eol ? eol + 1 : end;
        if (is_w2c_function_line(p, end))
            p += 7;
        weft_buf_append(b, p, (size_t)(eol - p));
        p = eol;
    }
}

/* Splits tmp/module.c into at most want parts; *nparts says how many (1: unchanged). */
static int split_module_c(const char *tmp, int want, int *nparts, weft_error_t *err) {
    *nparts = 1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    uint8_t *data = NULL;
    size_t len;
    int rc = weft_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    const char *c = (const char *)data, *end = c + len;
    weft_buf_t bufs[WEFT_MAX_PARTS] = {{0}};
    span_t chunks[WEFT_MAX_PARTS];
    const char *init = find_in(c, end, "\nstatic bool s_module_initialized = false;\n");
    const char *ft = init ? find_in(init, end, "\nstatic u32 func_types[") : NULL;
    const char *elem = ft ? find_in(ft, end, "\nstatic void init_elem_instances(") : NULL;
    const char *defs = elem ? find_in(elem, end, "\n}\n") : NULL;
    const char *defs_end = NULL;
    if (defs) {
        defs += 3;
        const char *e1 = find_in(defs, end, "\n/* export: ");
        const char *e2 = find_in(defs, end, "\nstatic void init_instance_import(");
        defs_end = e1 && (!e2 || e1 < e2) ? e1 + 1 : e2 ? e2 + 1 : NULL;
    }
    if (!defs || !defs_end || defs_end <= defs)
        goto out; /* not the layout this was written for: compile as one unit */
    unsigned ntypes = 0;
    if (sscanf(ft + strlen("\nstatic u32 func_types["), "%u", &ntypes) != 1)
        goto out;

    /* Cut the definitions into want runs of about equal size, at function starts. */
    size_t total = (size_t)(defs_end - defs);
    const char *at = defs;
    int n = 0;
    for (int i = 0; i < want && at < defs_end; i++) {
        const char *target = i == want - 1 ? defs_end : defs + total * (size_t)(i + 1) / (size_t)want;
        const char *cut = target >= defs_end ? defs_end : find_in(target, defs_end, "\nstatic ");
        cut = cut && cut < defs_end ? cut + 1 : defs_end;
        chunks[n++] = (span_t){at, (size_t)(cut - at)};
        at = cut;
    }
    for (int i = 1; i < n; i++) {
        const char *e = chunks[i].p + chunks[i].n;
        if (find_in(chunks[i].p, e, "data_segment_") || find_in(chunks[i].p, e, "elem_segment_") ||
            find_in(chunks[i].p, e, "s_module_initialized"))
            goto out;
    }
    if (n < 2)
        goto out;

    /* module.c: all but chunks 1.., func_types made visible to the parts. */
    weft_buf_t *m = &bufs[0];
    weft_buf_append(m, c, (size_t)(ft + 1 - c));
    weft_buf_puts(m, "u32 func_types[");
    append_unstatic(m, ft + strlen("\nstatic u32 func_types["), chunks[0].p + chunks[0].n);
    weft_buf_append(m, defs_end, (size_t)(end - defs_end));
    /* The parts: helpers, func_types, prototypes, their run of definitions. */
    for (int i = 1; i < n; i++) {
        weft_buf_t *b = &bufs[i];
        weft_buf_append(b, c, (size_t)(init + 1 - c));
        weft_buf_printf(b, "extern u32 func_types[%u];\n", ntypes);
        for (const char *q = init + 1; q < defs;) {
            const char *eol = memchr(q, '\n', (size_t)(defs - q));
            eol = eol ? eol + 1 : defs;
            if (is_w2c_function_line(q, defs) && eol - q >= 3 && eol[-2] == ';')
                append_unstatic(b, q, eol);
            q = eol;
        }
        append_unstatic(b, chunks[i].p, chunks[i].p + chunks[i].n);
    }
    for (int i = 0; i < n && !rc; i++) {
        char out_path[PATH_MAX];
        if (i == 0)
            snprintf(out_path, sizeof out_path, "%s/module.c", tmp);
        else
            snprintf(out_path, sizeof out_path, "%s/part%d.c", tmp, i);
        rc = weft_file_write_atomic(out_path, bufs[i].data, bufs[i].len, err);
    }
    if (!rc)
        *nparts = n;
out:
    for (int i = 0; i < WEFT_MAX_PARTS; i++)
        weft_buf_free(&bufs[i]);
    free(data);
    return rc;
}

/* Compiles tmp's C into tmp/module.so: one compiler run for small modules, parallel
 * ones for large. */
static int compile_c(const char *tmp, const char *name, progress_t *prog, weft_error_t *err) {
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
        if ((rc = split_module_c(tmp, (int)want, &parts, err)))
            return rc;
    }
    progress_note(prog, "compiling C");
    char *cc = (char *)cc_command();
    bool crashed;
    int failed;
    if (parts == 1) {
        char *argv[] = {cc,    WEFT_CC_COMPILE, WEFT_CC_LINK, "-I.",   "-o", "module.so",
                        "module.c", "glue.c",   "data.S",     WEFT_CC_LIBS, NULL};
        failed = run_tool(tmp, argv, prog, "compiling C", &crashed);
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
        failed = run_tools(tmp, argvs, parts, prog, "compiling C", &crashed);
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
            failed = run_tool(tmp, argv, prog, "linking", &crashed);
        }
    }
    if (failed >= 0) {
        char log[WEFT_ERROR_MAX - 200];
        tool_log(tmp, failed, log, sizeof log);
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
                    progress_t *prog, weft_error_t *err) {
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
    rc = check_module(name, &m, err);
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
        (rc = write_file_in(tmp, "glue.h", weft_embedded_glue_h, strlen(weft_embedded_glue_h),
                            err)))
        goto out;

    progress_note(prog, "translating to C (wasm2c)");
    char *w2c_argv[] = {"wasm2c", "-n", WEFT_MODULE_NAME, "input.wasm", "-o", "module.c", NULL};
    bool crashed;
    if (run_tool(tmp, w2c_argv, prog, "translating to C (wasm2c)", &crashed) >= 0) {
        char log[WEFT_ERROR_MAX - 200];
        tool_log(tmp, 0, log, sizeof log);
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
    if ((rc = write_glue(tmp, &m, strip, (const char *)hdr, err)))
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
    int rc = weft_file_read(wasm_path, &bytes, &len, err);
    if (rc)
        return rc;
    char dir[PATH_MAX - 200], key[65];
    if ((rc = weft_cache_dir(opts, dir, sizeof dir, err)) ||
        (rc = weft_cache_key(bytes, len, cc_command(), WEFT_CFLAGS_TEXT, key, err)) ||
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
    progress_t prog = {.module = wasm_path,
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
