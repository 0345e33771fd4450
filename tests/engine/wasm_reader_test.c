/* wasm_reader: the facts read from hand-made modules (bytes written out below, so the
 * test says exactly what it feeds in), the refusals of malformed ones, the stripping of
 * data segments, and the same on modules that clang builds for wasm32-wasi.
 *
 * Modules meant to be valid are also given to wabt's wasm-validate, so that a mistake in
 * the test's bytes cannot hide behind a mistake in the reader that agrees with it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, mkdtemp */
#endif
#include "engine/wasm_reader.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Building modules ------------------------------------------------------------------ */

typedef struct {
    uint8_t b[8192];
    size_t n;
} buf_t;

static void bput(buf_t *d, const uint8_t *p, size_t n) {
    if (d->n + n > sizeof d->b) {
        fprintf(stderr, "test module too large\n");
        exit(2);
    }
    memcpy(d->b + d->n, p, n);
    d->n += n;
}

static void bleb(buf_t *d, uint32_t v) {
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        if (v)
            c |= 0x80;
        bput(d, &c, 1);
    } while (v);
}

#define BYTES(d, ...)                                                                              \
    bput(d, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void header(buf_t *mod) {
    BYTES(mod, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
}

/* src prefixed with its size: a section's contents or a function body. */
static void sized(buf_t *d, const buf_t *src) {
    bleb(d, (uint32_t)src->n);
    bput(d, src->b, src->n);
}

static void section(buf_t *mod, uint8_t id, const buf_t *content) {
    bput(mod, &id, 1);
    sized(mod, content);
}

#define SECTION(mod, id, ...)                                                                      \
    do {                                                                                           \
        buf_t c_ = {.n = 0};                                                                       \
        BYTES(&c_, __VA_ARGS__);                                                                   \
        section(mod, id, &c_);                                                                     \
    } while (0)

/* A code section of one function body with no locals and the given instructions. */
#define CODE1(mod, ...)                                                                            \
    do {                                                                                           \
        buf_t body_ = {.n = 0}, code_ = {.n = 0};                                                  \
        BYTES(&body_, 0x00, __VA_ARGS__);                                                          \
        BYTES(&code_, 0x01);                                                                       \
        sized(&code_, &body_);                                                                     \
        section(mod, 10, &code_);                                                                  \
    } while (0)

/* Offset of the only occurrence of needle in mod (the test's own bytes: it must be unique). */
static size_t find(const buf_t *mod, const uint8_t *needle, size_t n) {
    size_t found = SIZE_MAX;
    for (size_t i = 0; i + n <= mod->n; i++) {
        if (memcmp(mod->b + i, needle, n) == 0) {
            if (found != SIZE_MAX) {
                fprintf(stderr, "needle is not unique in the test module\n");
                exit(2);
            }
            found = i;
        }
    }
    if (found == SIZE_MAX) {
        fprintf(stderr, "needle not found in the test module\n");
        exit(2);
    }
    return found;
}
#define FIND(mod, ...)                                                                             \
    find(mod, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* ---- External tools ------------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/weft-wasm-reader.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static void remove_tmpdir(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* Whether wabt's own validator accepts the bytes (flags: extra --enable-... options). */
static bool wabt_valid(const uint8_t *bytes, size_t n, const char *flags) {
    char path[300], cmd[700];
    snprintf(path, sizeof path, "%s/check.wasm", tmpdir);
    write_file(path, bytes, n);
    snprintf(cmd, sizeof cmd, "wasm-validate %s '%s'", flags, path);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "wasm-validate refused the module (status %d)\n", rc);
    return rc == 0;
}

/* ---- Modules -------------------------------------------------------------------------- */

/* Imports, a defined function, exports of each kind that the module has. */
static void build_linking_module(buf_t *mod) {
    header(mod);
    SECTION(mod, 1, 0x02,                       /* types */
            0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7f, /* 0: (param i32 i64) (result i32) */
            0x60, 0x00, 0x00);                  /* 1: (func) */
    SECTION(mod, 2, 0x04,                       /* imports */
            0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's', 'h', 'o', 't', '_', 'p', 'r',
            'e', 'v', 'i', 'e', 'w', '1', 0x08, 'f', 'd', '_', 'w', 'r', 'i', 't', 'e', 0x00,
            0x00, /* func, type 0 */
            0x03, 'e', 'n', 'v', 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x01, 0x01,
            0x02, /* memory, min 1 max 2 */
            0x03, 'e', 'n', 'v', 0x04, 'b', 'a', 's', 'e', 0x03, 0x7f, 0x00, /* global i32 */
            0x03, 'e', 'n', 'v', 0x05, 0xc3, 0xa9, 't', 0xc3, 0xa9, /* "été": UTF-8 name */
            0x00, 0x01);                                            /* func, type 1 */
    SECTION(mod, 3, 0x02, 0x01, 0x00);       /* functions 2 and 3: types 1 and 0 */
    SECTION(mod, 4, 0x01, 0x70, 0x00, 0x01); /* table funcref min 1 */
    SECTION(mod, 7, 0x04,                    /* exports */
            0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x02, 0x03, 'a', 'd', 'd', 0x00, 0x03, 0x03,
            'm', 'e', 'm', 0x02, 0x00, 0x03, 't', 'b', 'l', 0x01, 0x00);
    buf_t code = {.n = 0}, body = {.n = 0};
    BYTES(&code, 0x02);
    BYTES(&body, 0x00, 0x0b);
    sized(&code, &body);
    body.n = 0;
    BYTES(&body, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x21, 0x02, 0x20, 0x02, 0x0b); /* 1 i32 local */
    sized(&code, &body);
    section(mod, 10, &code);
}

/* One memory and five data segments: active with a constant offset, passive, active with
 * a memory index, active with a global.get offset, active at i32.const -1; a custom
 * section follows the data section. */
static void build_data_module(buf_t *mod) {
    header(mod);
    SECTION(mod, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(mod, 2, 0x01, 0x03, 'e', 'n', 'v', 0x01, 'g', 0x03, 0x7f, 0x00);
    SECTION(mod, 3, 0x01, 0x00);
    SECTION(mod, 5, 0x01, 0x01, 0x01, 0x02);
    SECTION(mod, 8, 0x00);  /* start: function 0 */
    SECTION(mod, 12, 0x05); /* data count */
    CODE1(mod, 0x0b);
    SECTION(mod, 11, 0x05, 0x00, 0x41, 0x10, 0x0b, 0x03, 'a', 'b', 'c', 0x01, 0x02, 'x', 'y', 0x02,
            0x00, 0x41, 0x80, 0x08, 0x0b, 0x05, 'h', 'e', 'l', 'l', 'o', 0x00, 0x23, 0x00, 0x0b,
            0x02, 'g', 'g', 0x00, 0x41, 0x7f, 0x0b, 0x01, 'z');
    SECTION(mod, 0, 0x04, 'n', 'o', 't', 'e', 'x', 'y', 'z');
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_imports_exports_and_types(void) {
    buf_t mod = {.n = 0};
    build_linking_module(&mod);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK_EQ_INT(m.ntypes, 2);
    CHECK_EQ_INT(m.nimports, 4);
    CHECK_EQ_INT(m.nfunc_imports, 2);
    CHECK_EQ_INT(m.nfuncs, 4);
    if (m.nimports == 4 && m.nfuncs == 4 && m.ntypes == 2) {
        CHECK_EQ_STR(m.imports[0].module, "wasi_snapshot_preview1");
        CHECK_EQ_STR(m.imports[0].name, "fd_write");
        CHECK_EQ_INT(m.imports[0].kind, WEFT_EXTERN_FUNC);
        CHECK_EQ_INT(m.imports[0].type_index, 0);
        CHECK_EQ_INT(m.imports[0].offset, FIND(&mod, 0x16, 'w', 'a', 's', 'i'));
        CHECK_EQ_STR(m.imports[1].name, "memory");
        CHECK_EQ_INT(m.imports[1].kind, WEFT_EXTERN_MEMORY);
        CHECK_EQ_INT(m.imports[2].kind, WEFT_EXTERN_GLOBAL);
        CHECK_EQ_STR(m.imports[3].name, "\xc3\xa9t\xc3\xa9");
        CHECK_EQ_INT(m.imports[3].type_index, 1);
        /* Function indices count imports first. */
        CHECK_EQ_INT(m.func_types[0], 0);
        CHECK_EQ_INT(m.func_types[1], 1);
        CHECK_EQ_INT(m.func_types[2], 1);
        CHECK_EQ_INT(m.func_types[3], 0);
        char s[64];
        weft_wasm_functype_str(&m.types[0], s, sizeof s);
        CHECK_EQ_STR(s, "(func (param i32 i64) (result i32))");
        CHECK(weft_wasm_functype_sig(&m.types[0], s, sizeof s));
        CHECK_EQ_STR(s, "iI:i");
        weft_wasm_functype_str(&m.types[1], s, sizeof s);
        CHECK_EQ_STR(s, "(func)");
        CHECK(weft_wasm_functype_sig(&m.types[1], s, sizeof s));
        CHECK_EQ_STR(s, ":");
    }
    CHECK_EQ_INT(m.nmemories, 1);
    if (m.nmemories == 1) {
        CHECK(m.memories[0].imported);
        CHECK_EQ_INT(m.memories[0].initial_pages, 1);
        CHECK(m.memories[0].has_max);
        CHECK_EQ_INT(m.memories[0].max_pages, 2);
    }
    CHECK_EQ_INT(m.nexports, 4);
    if (m.nexports == 4) {
        CHECK_EQ_STR(m.exports[0].name, "_start");
        CHECK_EQ_INT(m.exports[0].kind, WEFT_EXTERN_FUNC);
        CHECK_EQ_INT(m.exports[0].index, 2);
        CHECK_EQ_STR(m.exports[1].name, "add");
        CHECK_EQ_INT(m.exports[1].index, 3);
        CHECK_EQ_STR(m.exports[2].name, "mem");
        CHECK_EQ_INT(m.exports[2].kind, WEFT_EXTERN_MEMORY);
        CHECK_EQ_STR(m.exports[3].name, "tbl");
        CHECK_EQ_INT(m.exports[3].kind, WEFT_EXTERN_TABLE);
    }
    CHECK(!m.has_start);
    CHECK_EQ_INT(m.ndata, 0);
    CHECK_EQ_INT(m.data_section_offset, 0);
    CHECK_EQ_INT(m.data_section_end, 0);
    CHECK(!m.uses_simd);
    weft_wasm_module_free(&m);
    weft_wasm_module_free(&m); /* freeing twice is harmless: free empties it */
}

static void test_functype_strings(void) {
    uint8_t params[] = {WEFT_WASM_F32, WEFT_WASM_F64, WEFT_WASM_I32};
    uint8_t results[] = {WEFT_WASM_I64};
    weft_wasm_functype_t t = {3, 1, params, results};
    char s[64];
    weft_wasm_functype_str(&t, s, sizeof s);
    CHECK_EQ_STR(s, "(func (param f32 f64 i32) (result i64))");
    CHECK(weft_wasm_functype_sig(&t, s, sizeof s));
    CHECK_EQ_STR(s, "fFi:I");
    /* Too small a buffer truncates the text and refuses the signature. */
    char small[8];
    weft_wasm_functype_str(&t, small, sizeof small);
    CHECK_EQ_STR(small, "(func (");
    CHECK(!weft_wasm_functype_sig(&t, small, 5));
    weft_wasm_functype_t only_results = {0, 1, NULL, results};
    weft_wasm_functype_str(&only_results, s, sizeof s);
    CHECK_EQ_STR(s, "(func (result i64))");
    /* No host function takes vectors or references. */
    uint8_t v[] = {WEFT_WASM_V128};
    weft_wasm_functype_t tv = {1, 0, v, NULL};
    weft_wasm_functype_str(&tv, s, sizeof s);
    CHECK_EQ_STR(s, "(func (param v128))");
    CHECK(!weft_wasm_functype_sig(&tv, s, sizeof s));
    uint8_t ref[] = {WEFT_WASM_I32, WEFT_WASM_EXTERNREF};
    weft_wasm_functype_t tr = {0, 2, NULL, ref};
    weft_wasm_functype_str(&tr, s, sizeof s);
    CHECK_EQ_STR(s, "(func (result i32 externref))");
    CHECK(!weft_wasm_functype_sig(&tr, s, sizeof s));
}

/* Reads a module whose only section is a memory section with the given limits bytes. */
static int read_memory(const uint8_t *limits, size_t n, weft_wasm_module_t *m, weft_error_t *err) {
    buf_t mod = {.n = 0}, c = {.n = 0};
    header(&mod);
    BYTES(&c, 0x01);
    bput(&c, limits, n);
    section(&mod, 5, &c);
    return weft_wasm_read(mod.b, mod.n, m, err);
}
#define READ_MEMORY(m, err, ...)                                                                   \
    read_memory((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), m, err)

static void test_memory_limits(void) {
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x00, 0x11), 0);
    CHECK_EQ_INT(m.nmemories, 1);
    if (m.nmemories == 1) {
        CHECK(!m.memories[0].imported);
        CHECK(!m.memories[0].has_max);
        CHECK_EQ_INT(m.memories[0].initial_pages, 17);
    }
    weft_wasm_module_free(&m);
    /* 0 to 65536 pages: the whole 4 GiB of wasm32. */
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x01, 0x00, 0x80, 0x80, 0x04), 0);
    CHECK(m.nmemories == 1 && m.memories[0].has_max && m.memories[0].max_pages == 65536);
    weft_wasm_module_free(&m);
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x00, 0x81, 0x80, 0x04), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xc: memory minimum of 65537 pages is over 65536 pages (4 GiB)");
    CHECK_EQ_INT(m.nmemories, 0);
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x01, 0x00, 0x81, 0x80, 0x04), WEFT_EMODULE);
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x01, 0x03, 0x02), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xd: limits minimum 3 is larger than the maximum 2");
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x04, 0x01), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: 64-bit memories (memory64) are not supported");
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x03, 0x01, 0x04), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: shared memories (threads) are not supported");
    CHECK_EQ_INT(READ_MEMORY(&m, &err, 0x08, 0x01), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: invalid limits flags 0x08");
}

static void test_data_segments_and_start(void) {
    buf_t mod = {.n = 0};
    build_data_module(&mod);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK(m.has_start);
    CHECK_EQ_INT(m.start_func, 0);
    CHECK_EQ_INT(m.nmemories, 1);
    CHECK_EQ_INT(m.ndata, 5);
    size_t data_at = FIND(&mod, 0x0b, 0x26, 0x05, 0x00, 0x41, 0x10);
    CHECK_EQ_INT(m.data_section_offset, data_at);
    CHECK_EQ_INT(m.data_section_end, data_at + 2 + 0x26);
    if (m.ndata == 5) {
        const weft_wasm_data_t *d = m.data;
        CHECK_EQ_INT(d[0].flags, 0);
        CHECK(d[0].offset_is_const);
        CHECK_EQ_INT(d[0].offset, 16);
        CHECK_EQ_INT(d[0].bytes_len, 3);
        CHECK(memcmp(mod.b + d[0].bytes_offset, "abc", 3) == 0);
        CHECK_EQ_INT(d[1].flags, 1);
        CHECK(!d[1].offset_is_const);
        CHECK_EQ_INT(d[1].bytes_len, 2);
        CHECK(memcmp(mod.b + d[1].bytes_offset, "xy", 2) == 0);
        CHECK_EQ_INT(d[2].flags, 2);
        CHECK_EQ_INT(d[2].memidx, 0);
        CHECK(d[2].offset_is_const);
        CHECK_EQ_INT(d[2].offset, 1024);
        CHECK(memcmp(mod.b + d[2].bytes_offset, "hello", 5) == 0);
        CHECK_EQ_INT(d[3].flags, 0);
        CHECK(!d[3].offset_is_const); /* global.get */
        CHECK_EQ_INT(d[3].bytes_len, 2);
        CHECK(d[4].offset_is_const);
        CHECK_EQ_INT(d[4].offset, 0xffffffffu); /* i32.const -1, an address as unsigned */
    }
    weft_wasm_module_free(&m);

    /* The start function must exist. */
    buf_t bad = {.n = 0};
    header(&bad);
    SECTION(&bad, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(&bad, 3, 0x01, 0x00);
    SECTION(&bad, 8, 0x01);
    CODE1(&bad, 0x0b);
    CHECK_EQ_INT(weft_wasm_read(bad.b, bad.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x14: start function 1 out of range (1 functions)");

    /* A data segment needs its memory, and the data count must agree. */
    bad.n = 0;
    header(&bad);
    SECTION(&bad, 11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x00);
    CHECK_EQ_INT(weft_wasm_read(bad.b, bad.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: data segment 0 is for memory 0, but there are 0");
    bad.n = 0;
    header(&bad);
    SECTION(&bad, 5, 0x01, 0x00, 0x01);
    SECTION(&bad, 12, 0x02);
    SECTION(&bad, 11, 0x01, 0x01, 0x00);
    CHECK_EQ_INT(weft_wasm_read(bad.b, bad.n, &m, &err), WEFT_EMODULE);
    CHECK(strstr(err.msg, "data count section 2") != NULL);
    bad.n = 0;
    header(&bad);
    SECTION(&bad, 5, 0x01, 0x00, 0x01);
    SECTION(&bad, 11, 0x01, 0x03, 0x00);
    CHECK_EQ_INT(weft_wasm_read(bad.b, bad.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x10: invalid data segment flags 3");
}

static void test_strip_data(void) {
    buf_t mod = {.n = 0};
    build_data_module(&mod);
    weft_wasm_module_t m, s;
    weft_error_t err = {0};
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK_EQ_INT(weft_wasm_strip_data(mod.b, mod.n, &m, &out, &out_len, &err), 0);
    CHECK(out != NULL);
    if (!out)
        return;
    CHECK(wabt_valid(out, out_len, ""));
    /* "abc", "hello" and "z" go (constant offsets); "xy" (passive) and "gg" (global
     * offset) stay; the section size shrinks with them. */
    CHECK_EQ_INT(out_len, mod.n - 9);
    CHECK_EQ_INT(weft_wasm_read(out, out_len, &s, &err), 0);
    CHECK_EQ_INT(s.ndata, m.ndata);
    if (s.ndata == 5 && m.ndata == 5) {
        static const size_t kept[5] = {0, 2, 0, 2, 0};
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_INT(s.data[i].flags, m.data[i].flags);
            CHECK_EQ_INT(s.data[i].memidx, m.data[i].memidx);
            CHECK_EQ_INT(s.data[i].offset_is_const, m.data[i].offset_is_const);
            CHECK_EQ_INT(s.data[i].offset, m.data[i].offset);
            CHECK_EQ_INT(s.data[i].bytes_len, kept[i]);
        }
        CHECK(memcmp(out + s.data[1].bytes_offset, "xy", 2) == 0);
        CHECK(memcmp(out + s.data[3].bytes_offset, "gg", 2) == 0);
    }
    /* Everything outside the data section is byte for byte the same. */
    CHECK_EQ_INT(s.data_section_offset, m.data_section_offset);
    CHECK(memcmp(out, mod.b, m.data_section_offset) == 0);
    size_t tail = mod.n - m.data_section_end;
    CHECK_EQ_INT(out_len - s.data_section_end, tail);
    CHECK(memcmp(out + s.data_section_end, mod.b + m.data_section_end, tail) == 0);
    CHECK(s.has_start && s.start_func == m.start_func);
    CHECK_EQ_INT(s.nmemories, m.nmemories);
    CHECK_EQ_INT(s.nimports, m.nimports);

    /* Stripping again changes nothing. */
    uint8_t *again = NULL;
    size_t again_len = 0;
    CHECK_EQ_INT(weft_wasm_strip_data(out, out_len, &s, &again, &again_len, &err), 0);
    CHECK(again && again_len == out_len && memcmp(again, out, out_len) == 0);
    free(again);

    /* Facts read from other bytes are refused, not applied. */
    again = NULL;
    CHECK_EQ_INT(weft_wasm_strip_data(out, out_len, &m, &again, &again_len, &err), WEFT_EINVAL);
    CHECK(again == NULL);
    free(again);
    weft_wasm_module_free(&s);
    weft_wasm_module_free(&m);
    free(out);

    /* No data section: an exact copy. */
    buf_t plain = {.n = 0};
    build_linking_module(&plain);
    CHECK_EQ_INT(weft_wasm_read(plain.b, plain.n, &m, &err), 0);
    out = NULL;
    CHECK_EQ_INT(weft_wasm_strip_data(plain.b, plain.n, &m, &out, &out_len, &err), 0);
    CHECK(out && out_len == plain.n && memcmp(out, plain.b, plain.n) == 0);
    free(out);
    weft_wasm_module_free(&m);
}

/* Every kind of instruction the reader knows, in one valid function. */
static void test_instruction_coverage(void) {
    buf_t mod = {.n = 0};
    header(&mod);
    SECTION(&mod, 1, 0x03, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x02, 0x7f,
            0x7f);
    SECTION(&mod, 3, 0x02, 0x00, 0x01);
    SECTION(&mod, 4, 0x01, 0x70, 0x00, 0x01);
    SECTION(&mod, 5, 0x01, 0x00, 0x01);
    SECTION(&mod, 6, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b);
    SECTION(&mod, 9, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01, /* active, function 1 */
            0x05, 0x70, 0x01, 0xd2, 0x01, 0x0b);               /* passive, expressions */
    SECTION(&mod, 12, 0x01);
    buf_t code = {.n = 0}, body = {.n = 0};
    BYTES(&code, 0x02);
    BYTES(&body, 0x01, 0x02, 0x7f,                              /* two i32 locals */
          0x02, 0x40, 0x0b, 0x03, 0x40, 0x0b,                   /* block, loop */
          0x02, 0x02, 0x41, 0x01, 0x41, 0x02, 0x0b, 0x1a, 0x1a, /* block (type 2): multi-value */
          0x41, 0x01, 0x04, 0x40, 0x01, 0x05, 0x01, 0x0b,       /* if nop else nop end */
          0x02, 0x40, 0x41, 0x00, 0x0e, 0x02, 0x00, 0x00, 0x00, 0x0b, /* br_table */
          0x02, 0x40, 0x41, 0x00, 0x0d, 0x00, 0x0c, 0x00, 0x0b,       /* br_if, br */
          0x41, 0x05, 0x10, 0x01, 0x1a,                               /* call */
          0x41, 0x05, 0x41, 0x00, 0x11, 0x01, 0x00, 0x1a,             /* call_indirect */
          0x41, 0x01, 0x41, 0x02, 0x41, 0x01, 0x1c, 0x01, 0x7f, 0x1a, /* select (result i32) */
          0x41, 0x01, 0x41, 0x02, 0x41, 0x00, 0x1b, 0x1a,             /* select */
          0x20, 0x00, 0x21, 0x01, 0x20, 0x01, 0x22, 0x00, 0x1a,       /* locals */
          0x23, 0x00, 0x24, 0x00,                                     /* globals */
          0x41, 0x00, 0x25, 0x00, 0x1a,                               /* table.get */
          0x41, 0x00, 0xd0, 0x70, 0x26, 0x00,                         /* table.set */
          0xd0, 0x70, 0x41, 0x01, 0xfc, 0x0f, 0x00, 0x1a,             /* table.grow */
          0xfc, 0x10, 0x00, 0x1a,                                     /* table.size */
          0x41, 0x00, 0xd0, 0x70, 0x41, 0x00, 0xfc, 0x11, 0x00,       /* table.fill */
          0xd2, 0x01, 0xd1, 0x1a,                                     /* ref.func, ref.is_null */
          0x41, 0x00, 0x28, 0x02, 0x00, 0x1a,                         /* i32.load */
          0x41, 0x00, 0x42, 0x07, 0x37, 0x03, 0x88, 0x01,             /* i64.store offset=136 */
          0x41, 0x00, 0x2d, 0x00, 0x00, 0x1a,                         /* i32.load8_u */
          0x3f, 0x00, 0x1a, 0x41, 0x00, 0x40, 0x00, 0x1a,             /* memory.size, memory.grow */
          0x43, 0x00, 0x00, 0x80, 0x3f, 0x1a,                         /* f32.const */
          0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x1a, /* f64.const */
          0x43, 0x00, 0x00, 0x80, 0x3f, 0xfc, 0x00, 0x1a,             /* i32.trunc_sat_f32_s */
          0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0xfc, 0x07, 0x1a, /* ..f64_u */
          0x41, 0x7f, 0xc0, 0x1a, /* i32.extend8_s */
          0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f, 0xc4, 0x1a, 0x41, 0xff,
          0xff, 0xff, 0xff, 0x07, 0x1a,                               /* i32.const INT32_MAX */
          0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x00, 0x00, /* memory.init */
          0xfc, 0x09, 0x00,                                           /* data.drop */
          0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0a, 0x00, 0x00, /* memory.copy */
          0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0b, 0x00,       /* memory.fill */
          0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0c, 0x00, 0x00, /* table.init */
          0xfc, 0x0d, 0x01,                                           /* elem.drop */
          0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0e, 0x00, 0x00, /* table.copy */
          0x41, 0x00, 0x41, 0x00, 0x6a, 0x1a,                         /* i32.add */
          0x0f, 0x0b);                                                /* return, end */
    sized(&code, &body);
    body.n = 0;
    BYTES(&body, 0x00, 0x20, 0x00, 0x0b);
    sized(&code, &body);
    section(&mod, 10, &code);
    SECTION(&mod, 11, 0x01, 0x01, 0x02, 'h', 'i');
    CHECK(wabt_valid(mod.b, mod.n, ""));
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(!m.uses_simd);
    weft_wasm_module_free(&m);

    /* Tail calls. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f);
    SECTION(&mod, 3, 0x02, 0x00, 0x00);
    SECTION(&mod, 4, 0x01, 0x70, 0x00, 0x01);
    code.n = 0;
    BYTES(&code, 0x02);
    body.n = 0;
    BYTES(&body, 0x00, 0x20, 0x00, 0x12, 0x01, 0x0b);
    sized(&code, &body);
    body.n = 0;
    BYTES(&body, 0x00, 0x20, 0x00, 0x20, 0x00, 0x13, 0x00, 0x00, 0x0b);
    sized(&code, &body);
    section(&mod, 10, &code);
    CHECK(wabt_valid(mod.b, mod.n, "--enable-tail-call"));
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    weft_wasm_module_free(&m);
}

/* Reads a module of one function (type (func)) with the given body instructions. */
static int read_body(buf_t *mod, const uint8_t *insns, size_t n, weft_wasm_module_t *m,
                     weft_error_t *err) {
    mod->n = 0;
    header(mod);
    SECTION(mod, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(mod, 3, 0x01, 0x00);
    SECTION(mod, 5, 0x01, 0x00, 0x01);
    buf_t code = {.n = 0}, body = {.n = 0};
    BYTES(&code, 0x01);
    BYTES(&body, 0x00);
    bput(&body, insns, n);
    sized(&code, &body);
    section(mod, 10, &code);
    return weft_wasm_read(mod->b, mod->n, m, err);
}
#define READ_BODY(mod, m, err, ...)                                                                \
    read_body(mod, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), m, err)

static void test_simd_detection(void) {
    buf_t mod = {.n = 0};
    weft_wasm_module_t m;
    weft_error_t err = {0};

    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x1a, 0x0b), 0);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK(m.uses_simd);
    CHECK_EQ_INT(m.simd_offset, FIND(&mod, 0xfd, 0x00, 0x04));
    CHECK_EQ_STR(m.simd_name, "v128.load");
    weft_wasm_module_free(&m);

    /* Opcodes past 0x7f take two LEB128 bytes; the first SIMD instruction is named even
     * when more follow. v128.const and i8x16.shuffle carry 16 bytes, lanes one byte. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                           14, 15, 16, 0xfd, 0x0c, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                           0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0xfd, 0xae, 0x01, 0xfd,
                           0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0x0d, 0, 1,
                           2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 31, 0xfd, 0x1b, 0x03, 0x1a,
                           0x0b),
                 0);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK_EQ_STR(m.simd_name, "v128.const");
    CHECK_EQ_INT(m.simd_offset, FIND(&mod, 0xfd, 0x0c, 1, 2, 3));
    weft_wasm_module_free(&m);

    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd, 0x11, 0xfd,
                           0xae, 0x01, 0xfd, 0xa4, 0x01, 0x1a, 0x0b),
                 0);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK_EQ_STR(m.simd_name, "i32x4.splat");
    weft_wasm_module_free(&m);

    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd,
                           0x11, 0xfd, 0xae, 0x01, 0xfd, 0x0b, 0x04, 0x10, 0x0b),
                 0);
    CHECK_EQ_STR(m.simd_name, "i32x4.splat");
    weft_wasm_module_free(&m);

    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x00, 0x41, 0x00, 0xfd, 0x11, 0xfd, 0x5b, 0x03,
                           0x00, 0x01, 0x0b),
                 0);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    weft_wasm_module_free(&m);

    /* An opcode with no name still makes a SIMD module, named by its number. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x01, 0xfd, 0x9a, 0x01, 0x77, 0x0b), 0);
    CHECK(m.uses_simd);
    CHECK_EQ_STR(m.simd_name, "simd opcode 0xfd 0x9a");
    CHECK_EQ_INT(m.simd_offset, FIND(&mod, 0xfd, 0x9a, 0x01));
    weft_wasm_module_free(&m);

    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x01, 0x0b), 0);
    CHECK(!m.uses_simd);
    CHECK_EQ_STR(m.simd_name, "");
    weft_wasm_module_free(&m);

    /* A v128 local, with no SIMD instruction. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(&mod, 3, 0x01, 0x00);
    SECTION(&mod, 10, 0x01, 0x06, 0x02, 0x01, 0x7f, 0x01, 0x7b, 0x0b);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK(m.uses_simd);
    CHECK_EQ_STR(m.simd_name, "v128 local");
    CHECK_EQ_INT(m.simd_offset, FIND(&mod, 0x01, 0x7b, 0x0b) + 1);
    weft_wasm_module_free(&m);

    /* A v128 param comes first in the file, but an instruction names it better. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x02, 0x60, 0x01, 0x7b, 0x00, 0x60, 0x00, 0x00);
    SECTION(&mod, 3, 0x01, 0x01);
    CODE1(&mod, 0x41, 0x01, 0xfd, 0x0f, 0x1a, 0x0b);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK_EQ_STR(m.simd_name, "i8x16.splat");
    CHECK_EQ_INT(m.simd_offset, FIND(&mod, 0xfd, 0x0f));
    weft_wasm_module_free(&m);
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x02, 0x60, 0x01, 0x7b, 0x00, 0x60, 0x00, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK_EQ_STR(m.simd_name, "v128 param");
    CHECK_EQ_INT(m.simd_offset, 13);
    weft_wasm_module_free(&m);

    /* A v128 global initialised by v128.const: the instruction is named. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 6, 0x01, 0x7b, 0x00, 0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x0b);
    CHECK(wabt_valid(mod.b, mod.n, ""));
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    CHECK_EQ_STR(m.simd_name, "v128.const");
    CHECK_EQ_INT(m.simd_offset, 13);
    weft_wasm_module_free(&m);
}

/* SIMD opcodes are named by their number in the final proposal, whatever their
 * immediates; the body ends right after each one, so a wrong immediate size shows too. */
static void test_simd_names(void) {
    static const struct {
        uint8_t insn[24];
        size_t n;
        const char *name;
    } cases[] = {
        {{0xfd, 0x00, 0x04, 0x00}, 4, "v128.load"},
        {{0xfd, 0x0b, 0x04, 0x10}, 4, "v128.store"},
        {{0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 18, "v128.const"},
        {{0xfd, 0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 18, "i8x16.shuffle"},
        {{0xfd, 0x8e, 0x80, 0x80, 0x80, 0x00}, 6, "i8x16.swizzle"}, /* padded LEB128 */
        {{0xfd, 0x15, 0x0f}, 3, "i8x16.extract_lane_s"},
        {{0xfd, 0x22, 0x01}, 3, "f64x2.replace_lane"},
        {{0xfd, 0x53}, 2, "v128.any_true"},
        {{0xfd, 0x54, 0x00, 0x00, 0x0f}, 5, "v128.load8_lane"},
        {{0xfd, 0x5b, 0x03, 0x08, 0x01}, 5, "v128.store64_lane"},
        {{0xfd, 0x5c, 0x02, 0x00}, 4, "v128.load32_zero"},
        {{0xfd, 0x5d, 0x03, 0x00}, 4, "v128.load64_zero"},
        {{0xfd, 0x5e}, 2, "f32x4.demote_f64x2_zero"},
        {{0xfd, 0x7f}, 2, "i32x4.extadd_pairwise_i16x8_u"},
        {{0xfd, 0x80, 0x01}, 3, "i16x8.abs"},
        {{0xfd, 0x82, 0x01}, 3, "i16x8.q15mulr_sat_s"},
        {{0xfd, 0x9b, 0x01}, 3, "i16x8.avgr_u"},
        {{0xfd, 0xae, 0x01}, 3, "i32x4.add"},
        {{0xfd, 0xba, 0x01}, 3, "i32x4.dot_i16x8_s"},
        {{0xfd, 0xd5, 0x01}, 3, "i64x2.mul"},
        {{0xfd, 0xdb, 0x01}, 3, "i64x2.ge_s"},
        {{0xfd, 0xeb, 0x01}, 3, "f32x4.pmax"},
        {{0xfd, 0xff, 0x01}, 3, "f64x2.convert_low_i32x4_u"},
        {{0xfd, 0x80, 0x02}, 3, "i8x16.relaxed_swizzle"},
        {{0xfd, 0x93, 0x02}, 3, "i32x4.relaxed_dot_i8x16_i7x16_add_s"},
        {{0xfd, 0x9a, 0x01}, 3, "simd opcode 0xfd 0x9a"}, /* numbers the proposal skipped */
        {{0xfd, 0xa2, 0x01}, 3, "simd opcode 0xfd 0xa2"},
        {{0xfd, 0x94, 0x02}, 3, "simd opcode 0xfd 0x114"},
        {{0xfd, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6, "simd opcode 0xfd 0xffffffff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t mod = {.n = 0};
        uint8_t insns[32];
        memcpy(insns, cases[i].insn, cases[i].n);
        insns[cases[i].n] = 0x0b;
        weft_wasm_module_t m;
        weft_error_t err = {0};
        CHECK_EQ_INT(read_body(&mod, insns, cases[i].n + 1, &m, &err), 0);
        CHECK_EQ_STR(m.simd_name, cases[i].name);
        CHECK_EQ_INT(m.simd_offset, 0x1c);
        weft_wasm_module_free(&m);
        /* One byte short of its immediates, a named instruction is refused. */
        if (strncmp(cases[i].name, "simd opcode", 11) != 0 && cases[i].n > 3) {
            CHECK_EQ_INT(read_body(&mod, insns, cases[i].n - 1, &m, &err), WEFT_EMODULE);
        }
    }
}

static void test_unknown_opcodes(void) {
    buf_t mod = {.n = 0};
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x01, 0xff, 0x0b), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: unknown opcode 0xff");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x01, 0xfc, 0x12, 0x0b), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: unknown opcode 0xfc 0x12");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x00, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b),
                 WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1e: unsupported opcode 0xfe (threads and atomics)");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x02, 0x60, 0x0b, 0x0b), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: invalid block type 0x60");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x02, 0x05, 0x0b, 0x0b), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: block type index 5 out of range (1 types)");
    /* Bodies must end exactly at their final end. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x0b, 0x01), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: function body has 1 bytes after its final end");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x02, 0x40, 0x0b), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1f: unexpected end of function body");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: unexpected end of i32.const");
}

static void test_leb128_bounds(void) {
    buf_t mod = {.n = 0};
    weft_wasm_module_t m;
    weft_error_t err = {0};
    /* The example from the header's contract. */
    static const uint8_t cut[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x80};
    CHECK_EQ_INT(weft_wasm_read(cut, sizeof cut, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x9: unexpected end of section size");
    /* u32: five bytes at most, and the fifth holds only four bits. */
    header(&mod);
    BYTES(&mod, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x9: section size: LEB128 u32 too long or too large");
    mod.n = 0;
    header(&mod);
    BYTES(&mod, 0x00, 0xff, 0xff, 0xff, 0xff, 0x1f);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x9: section size: LEB128 u32 too long or too large");
    /* A padded but in-range u32 is fine: a custom section of size 5 in five bytes. */
    mod.n = 0;
    header(&mod);
    BYTES(&mod, 0x00, 0x85, 0x80, 0x80, 0x80, 0x00, 0x04, 'n', 'a', 'm', 'e');
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    weft_wasm_module_free(&m);
    /* Section size 0xffffffff in a short file. */
    mod.n = 0;
    header(&mod);
    BYTES(&mod, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x9: type section size 4294967295 is past the end of the file "
                          "(1 bytes left)");

    /* s32: the unused bits of the fifth byte repeat the sign. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x1a, 0x0b), 0);
    weft_wasm_module_free(&m);
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x1a, 0x0b), 0);
    weft_wasm_module_free(&m);
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x1a, 0x0b),
                 WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: i32.const: LEB128 s32 too long or too large");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x80, 0x80, 0x80, 0x80, 0x08, 0x1a, 0x0b),
                 WEFT_EMODULE);
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b),
                 WEFT_EMODULE);
    /* s64: ten bytes at most, the tenth only a sign. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0x00, 0x1a, 0x0b),
                 0);
    weft_wasm_module_free(&m);
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0x01, 0x1a, 0x0b),
                 WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: i64.const: LEB128 s64 too long or too large");
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                           0x80, 0x80, 0x00, 0x1a, 0x0b),
                 WEFT_EMODULE);
    /* s33 block types: a type index of 0 written in five bytes is still an index. */
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x02, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b, 0x0b), 0);
    weft_wasm_module_free(&m);
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0x02, 0x80, 0x80, 0x80, 0x80, 0x10, 0x0b, 0x0b),
                 WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x1d: block type: LEB128 s33 too long or too large");
}

static void test_header(void) {
    weft_wasm_module_t m;
    weft_error_t err = {0};
    static const uint8_t empty[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(weft_wasm_read(empty, sizeof empty, &m, &err), 0);
    CHECK_EQ_INT(m.ntypes + m.nimports + m.nfuncs + m.nexports + m.ndata, 0);
    weft_wasm_module_free(&m);
    static const uint8_t magic[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(weft_wasm_read(magic, sizeof magic, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x0: not a WebAssembly module (no \\0asm magic)");
    static const uint8_t version[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(weft_wasm_read(version, sizeof version, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x4: unsupported WebAssembly version 0x2 (expected 1)");
    static const uint8_t component[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
    CHECK_EQ_INT(weft_wasm_read(component, sizeof component, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x4: a WebAssembly component (component model, e.g. "
                          "wasi:http), not a core module; weft runs core modules only (Spin 1 "
                          "handlers, WAGI and WASI preview1)");
    CHECK_EQ_INT(weft_wasm_read(empty, 6, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x4: unexpected end of version");
    CHECK_EQ_INT(weft_wasm_read(empty, 0, &m, &err), WEFT_EMODULE);
    CHECK_EQ_INT(weft_wasm_read(NULL, 0, &m, &err), WEFT_EMODULE);
    CHECK_EQ_INT(weft_wasm_read(NULL, 8, &m, &err), WEFT_EINVAL);
}

static void test_section_order(void) {
    buf_t mod = {.n = 0};
    weft_wasm_module_t m;
    weft_error_t err = {0};
    header(&mod);
    SECTION(&mod, 2, 0x00);
    SECTION(&mod, 1, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: type section out of order (after the import section)");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x00);
    SECTION(&mod, 1, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: duplicate type section");
    /* Data count goes before code although its id is larger; custom sections go anywhere. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 0, 0x01, 'a');
    SECTION(&mod, 1, 0x00);
    SECTION(&mod, 0, 0x01, 'b');
    SECTION(&mod, 12, 0x00);
    SECTION(&mod, 10, 0x00);
    SECTION(&mod, 0, 0x01, 'c');
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), 0);
    weft_wasm_module_free(&m);
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 10, 0x00);
    SECTION(&mod, 12, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: datacount section out of order (after the code section)");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 14, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x8: unknown section id 14");
    /* A section's contents must fill exactly its size. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x00, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xb: type section has 1 bytes past its contents");
    /* Functions declared need their bodies. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(&mod, 3, 0x01, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK(strstr(err.msg, "there is no code section") != NULL);
}

static void test_names_and_counts(void) {
    buf_t mod = {.n = 0};
    weft_wasm_module_t m;
    weft_error_t err = {0};
    header(&mod);
    SECTION(&mod, 2, 0x01, 0x03, 'e', 0x00, 'v', 0x01, 'x', 0x02, 0x00, 0x01);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xc: import module name contains a NUL byte");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 2, 0x01, 0x01, 'e', 0x02, 0xc0, 0x80, 0x02, 0x00, 0x01); /* overlong NUL */
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xe: import name is not valid UTF-8");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 2, 0x01, 0x01, 'e', 0x03, 0xed, 0xa0, 0x80, 0x02, 0x00, 0x01); /* surrogate */
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    /* Imported function types must exist. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 2, 0x01, 0x01, 'e', 0x01, 'f', 0x00, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x10: import type index 0 out of range (0 types)");
    /* Counts larger than the bytes that follow are refused before any allocation. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0xc0, 0x84, 0x3d, 0x60, 0x00, 0x00); /* 1000000 types in 3 bytes */
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg,
                 "offset 0xa: types count 1000000 is larger than the 3 bytes left can hold");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0xc1, 0x84, 0x3d);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xa: too many types: 1000001 (at most 1000000)");
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x01, 0x60, 0xe9, 0x07); /* 1001 params */
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xc: too many params: 1001 (at most 1000)");
    /* Exports must refer to something that exists. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 7, 0x01, 0x01, 'f', 0x00, 0x00);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0xe: export \"f\" refers to function 0, but there are 0");
    /* Locals are bounded: two bytes could otherwise declare four billion. */
    mod.n = 0;
    header(&mod);
    SECTION(&mod, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(&mod, 3, 0x01, 0x00);
    SECTION(&mod, 10, 0x01, 0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b);
    CHECK_EQ_INT(weft_wasm_read(mod.b, mod.n, &m, &err), WEFT_EMODULE);
    CHECK_EQ_STR(err.msg, "offset 0x17: too many locals in function 0 (at most 50000)");
}

/* Every proper prefix of a valid module either is itself a module (cut at a section
 * boundary) or is refused with an offset inside it; each is read from its own allocation
 * of exactly that size so that AddressSanitizer sees a read one byte too far. */
static void check_truncations(const buf_t *mod, const char *name) {
    size_t accepted = 0;
    for (size_t n = 0; n < mod->n; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, mod->b, n);
        weft_wasm_module_t m;
        weft_error_t err = {0};
        int rc = weft_wasm_read(copy, n, &m, &err);
        if (rc == 0) {
            accepted++;
            weft_wasm_module_free(&m);
        } else {
            size_t off = SIZE_MAX;
            CHECK_EQ_INT(rc, WEFT_EMODULE);
            CHECK(sscanf(err.msg, "offset 0x%zx: ", &off) == 1 && off <= n);
            CHECK_EQ_INT(m.ntypes + m.nimports + m.nfuncs + m.nexports + m.ndata + m.nmemories, 0);
            CHECK(m.types == NULL && m.imports == NULL && m.data == NULL);
        }
        free(copy);
    }
    /* Only section boundaries can be whole modules, and these modules end with bodies or
     * data that need what precedes them, so few prefixes are. */
    if (accepted > 12)
        fprintf(stderr, "%s: %zu prefixes accepted\n", name, accepted);
    CHECK(accepted <= 12);
}

static void test_truncated_inputs(void) {
    buf_t mod = {.n = 0};
    build_linking_module(&mod);
    check_truncations(&mod, "linking module");
    mod.n = 0;
    build_data_module(&mod);
    check_truncations(&mod, "data module");
    weft_wasm_module_t m;
    weft_error_t err = {0};
    CHECK_EQ_INT(READ_BODY(&mod, &m, &err, 0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                           14, 15, 16, 0xfd, 0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                           31, 0xfd, 0x1b, 0x03, 0x1a, 0x0b),
                 0);
    weft_wasm_module_free(&m);
    check_truncations(&mod, "simd module");
}

/* ---- Modules built by clang ------------------------------------------------------------ */

static const char plain_c[] = "#include <stdio.h>\n"
                              "#include <string.h>\n"
                              "static char greeting[64] = \"hello from a data segment\";\n"
                              "int main(int argc, char **argv) {\n"
                              "    printf(\"%s %d\\n\", greeting, argc);\n"
                              "    return (int)strlen(argv[0]) & 1;\n"
                              "}\n";

/* Intrinsics over an array whose contents depend on argc, so that clang cannot fold the
 * vector code away. */
static const char simd_c[] =
    "#include <wasm_simd128.h>\n"
    "#include <stdio.h>\n"
    "#include <stdint.h>\n"
    "int32_t data[1024];\n"
    "int main(int argc, char **argv) {\n"
    "    for (int i = 0; i < 1024; i++) data[i] = i * argc;\n"
    "    v128_t acc = wasm_i32x4_splat(argc);\n"
    "    for (int i = 0; i < 1024; i += 4)\n"
    "        acc = wasm_i32x4_add(acc, wasm_v128_load(&data[i]));\n"
    "    printf(\"%d\\n\", wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 3));\n"
    "    return 0;\n"
    "}\n";

static bool clang_build(const char *name, const char *source, const char *flags, uint8_t **bytes,
                        size_t *len) {
    char src[300], wasm[300], cmd[1024];
    snprintf(src, sizeof src, "%s/%s.c", tmpdir, name);
    snprintf(wasm, sizeof wasm, "%s/%s.wasm", tmpdir, name);
    write_file(src, source, strlen(source));
    const char *cc = getenv("WASI_CLANG");
    snprintf(cmd, sizeof cmd, "%s --target=wasm32-wasi -O2 %s '%s' -o '%s'",
             cc && *cc ? cc : "clang", flags, src, wasm);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not build %s with: %s\n", name, cmd);
        return false;
    }
    weft_error_t err;
    if (weft_file_read(wasm, bytes, len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return false;
    }
    return true;
}

/* The first SIMD instruction according to wasm-objdump: its offset and mnemonic. */
static bool objdump_first_simd(const char *wasm, size_t *off, char *name, size_t size) {
    char cmd[400], line[1024];
    snprintf(cmd, sizeof cmd, "wasm-objdump -d '%s'", wasm);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, p)) {
        unsigned long o;
        int pos = 0;
        if (sscanf(line, " %lx: fd %n", &o, &pos) == 1 && pos > 0) {
            char *bar = strchr(line, '|');
            if (!bar)
                continue;
            if (sscanf(bar + 1, " %s", name) != 1 || strlen(name) >= size)
                continue;
            *off = o;
            found = true;
        }
    }
    while (fgets(line, sizeof line, p))
        ;
    pclose(p);
    return found;
}

static void test_clang_modules(void) {
    uint8_t *bytes = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    weft_wasm_module_t m, s;
    weft_error_t err = {0};

    CHECK(clang_build("plain", plain_c, "", &bytes, &len));
    if (bytes) {
        CHECK_EQ_INT(weft_wasm_read(bytes, len, &m, &err), 0);
        if (err.code)
            fprintf(stderr, "%s\n", err.msg);
        CHECK(!m.uses_simd);
        CHECK_EQ_INT(m.nmemories, 1);
        bool has_start = false, has_memory = false, imports_wasi = false;
        for (uint32_t i = 0; i < m.nexports; i++) {
            if (!strcmp(m.exports[i].name, "_start") && m.exports[i].kind == WEFT_EXTERN_FUNC) {
                char str[64], sig[16];
                const weft_wasm_functype_t *t = &m.types[m.func_types[m.exports[i].index]];
                weft_wasm_functype_str(t, str, sizeof str);
                CHECK_EQ_STR(str, "(func)");
                CHECK(weft_wasm_functype_sig(t, sig, sizeof sig));
                CHECK_EQ_STR(sig, ":");
                has_start = true;
            }
            has_memory |= !strcmp(m.exports[i].name, "memory");
        }
        for (uint32_t i = 0; i < m.nimports; i++)
            imports_wasi |= !strcmp(m.imports[i].module, "wasi_snapshot_preview1");
        CHECK(has_start && has_memory && imports_wasi);
        size_t stripped_bytes = 0;
        bool found_greeting = false;
        for (uint32_t i = 0; i < m.ndata; i++) {
            if (m.data[i].flags != 1 && m.data[i].offset_is_const)
                stripped_bytes += m.data[i].bytes_len;
            found_greeting |= memmem(bytes + m.data[i].bytes_offset, m.data[i].bytes_len,
                                     "hello from a data segment", 25) != NULL;
        }
        CHECK(found_greeting);
        CHECK(stripped_bytes > 0);

        CHECK_EQ_INT(weft_wasm_strip_data(bytes, len, &m, &out, &out_len, &err), 0);
        CHECK(out && out_len + stripped_bytes <= len);
        if (out) {
            CHECK(wabt_valid(out, out_len, ""));
            CHECK(memmem(out, out_len, "hello from a data segment", 25) == NULL);
            CHECK_EQ_INT(weft_wasm_read(out, out_len, &s, &err), 0);
            CHECK_EQ_INT(s.ndata, m.ndata);
            CHECK_EQ_INT(s.nexports, m.nexports);
            CHECK_EQ_INT(s.nfuncs, m.nfuncs);
            weft_wasm_module_free(&s);
        }
        weft_wasm_module_free(&m);
    }
    free(bytes);
    free(out);
    bytes = out = NULL;

    CHECK(clang_build("simd", simd_c, "-msimd128", &bytes, &len));
    if (bytes) {
        CHECK_EQ_INT(weft_wasm_read(bytes, len, &m, &err), 0);
        CHECK(m.uses_simd);
        CHECK(m.simd_offset < len && bytes[m.simd_offset] == 0xfd);
        CHECK(strncmp(m.simd_name, "simd opcode", 11) != 0);
        char path[300], name[64] = "";
        size_t off = 0;
        snprintf(path, sizeof path, "%s/simd.wasm", tmpdir);
        CHECK(objdump_first_simd(path, &off, name, sizeof name));
        CHECK_EQ_INT(m.simd_offset, off);
        CHECK_EQ_STR(m.simd_name, name);
        /* Stripping leaves the SIMD code alone. */
        CHECK_EQ_INT(weft_wasm_strip_data(bytes, len, &m, &out, &out_len, &err), 0);
        if (out) {
            CHECK(wabt_valid(out, out_len, ""));
            CHECK_EQ_INT(weft_wasm_read(out, out_len, &s, &err), 0);
            CHECK(s.uses_simd);
            CHECK_EQ_STR(s.simd_name, m.simd_name);
            weft_wasm_module_free(&s);
        }
        weft_wasm_module_free(&m);
    }
    free(bytes);
    free(out);
}

int main(void) {
    make_tmpdir();
    test_imports_exports_and_types();
    test_functype_strings();
    test_memory_limits();
    test_data_segments_and_start();
    test_strip_data();
    test_instruction_coverage();
    test_simd_detection();
    test_simd_names();
    test_unknown_opcodes();
    test_leb128_bounds();
    test_header();
    test_section_order();
    test_names_and_counts();
    test_truncated_inputs();
    test_clang_modules();
    remove_tmpdir();
    return TEST_DONE();
}
