/* glue: generates the two files that join wasm2c's output to weft: glue.c, which exports
 * the one symbol of glue.h's fixed shape (weft_glue) for a module whose C interface is
 * named after it (with callers of its exports and stubs for its unknown imports), and
 * data.S, which assembles the module's data segments into the artifact straight from
 * the module bytes (.incbin) instead of as C initializers.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

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

int weft_glue_read_header(const char *hdr, weft_glue_facts_t *f, weft_error_t *err) {
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

/* Conversions between wasm values and the uint64_t bits glue.h passes them as. */
#define GLUE_VALUE_HELPERS                                                                         \
    "static inline f32 glue_f32(uint64_t v) { uint32_t b = (uint32_t)v; f32 f; "                   \
    "memcpy(&f, &b, 4); return f; }\n"                                                             \
    "static inline f64 glue_f64(uint64_t v) { f64 f; memcpy(&f, &v, 8); return f; }\n"             \
    "static inline uint64_t glue_bits_f32(f32 f) { uint32_t b; memcpy(&b, &f, 4); return b; }\n"   \
    "static inline uint64_t glue_bits_f64(f64 f) { uint64_t b; memcpy(&b, &f, 8); return b; }\n\n"

/* How a value of type letter t ("ii:i" spelling) is taken from the uint64_t bits v and
 * turned back into them. */
static const char *arg_from_bits(char t) {
    return t == 'i' ? "(u32)" : t == 'I' ? "(u64)" : t == 'f' ? "glue_f32" : "glue_f64";
}
static const char *result_to_bits(char t) {
    return t == 'i'   ? "(uint64_t)(u32)"
           : t == 'I' ? "(uint64_t)"
           : t == 'f' ? "glue_bits_f32"
                      : "glue_bits_f64";
}

/* Is "<sym>(Z_weftmod_instance_t*" followed by ")" or "," declared in hdr? wasm2c names
 * some exports otherwise; those are not callable. */
static bool export_declared(const char *hdr, const char *sym) {
    size_t n = strlen(sym);
    for (const char *p = strstr(hdr, sym); p; p = strstr(p + 1, sym)) {
        const char *q = p + n;
        const char *inst = "(Z_" WEFT_MODULE_NAME "_instance_t*";
        if (!strncmp(q, inst, strlen(inst)) && (q[strlen(inst)] == ')' || q[strlen(inst)] == ','))
            return true;
    }
    return false;
}

/* The exports table: for each function export whose type has no reference in it, its
 * name, type and a caller taking and returning bits (glue.h), and for those of type
 * (func) a plain entry point too. */
static int write_exports(weft_buf_t *g, const weft_wasm_module_t *m, const char *hdr,
                         weft_error_t *err) {
    weft_buf_t table = {0}, sym = {0};
    uint32_t nexp = 0;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const weft_wasm_export_t *e = &m->exports[i];
        if (e->kind != WEFT_EXTERN_FUNC || e->index >= m->nfuncs)
            continue;
        const weft_wasm_functype_t *t = &m->types[m->func_types[e->index]];
        char sig[2 * WEFT_WASM_MAX_PARAMS + 4];
        if (!weft_wasm_functype_sig(t, sig, sizeof sig))
            continue;
        sym.len = 0;
        weft_buf_printf(&sym, "Z_%s", WEFT_MODULE_NAME);
        mangle(&sym, e->name);
        if (!export_declared(hdr, (const char *)sym.data))
            continue;
        const char *params = sig, *results = strchr(sig, ':') + 1;
        size_t nparams = (size_t)(results - 1 - params), nresults = strlen(results);
        if (!nparams && !nresults)
            weft_buf_printf(g, "static void export_%u(void *inst) { %s(inst); }\n", nexp,
                            (char *)sym.data);
        weft_buf_printf(g,
                        "static void call_%u(void *inst, const uint64_t *a, uint64_t *r) {\n"
                        "    (void)a; (void)r;\n    ",
                        nexp);
        if (nresults > 1) {
            weft_buf_puts(g, "struct wasm_multi_");
            for (size_t k = 0; k < nresults; k++)
                weft_buf_printf(g, "%c", "ijfd"[strchr("iIfF", results[k]) - "iIfF"]);
            weft_buf_puts(g, " v = ");
        } else if (nresults == 1) {
            weft_buf_printf(g, "r[0] = %s(", result_to_bits(results[0]));
        }
        weft_buf_printf(g, "%s(inst", (char *)sym.data);
        for (size_t k = 0; k < nparams; k++)
            weft_buf_printf(g, ", %s(a[%zu])", arg_from_bits(params[k]), k);
        weft_buf_puts(g, nresults == 1 ? "));\n" : ");\n");
        for (size_t k = 0; nresults > 1 && k < nresults; k++) {
            char letter = "ijfd"[strchr("iIfF", results[k]) - "iIfF"];
            weft_buf_printf(g, "    r[%zu] = %s(v.%c%zu);\n", k, result_to_bits(results[k]), letter,
                            k);
        }
        weft_buf_puts(g, "}\n");
        weft_buf_puts(&table, "    {");
        c_string(&table, e->name);
        weft_buf_puts(&table, ", ");
        c_string(&table, sig);
        if (!nparams && !nresults)
            weft_buf_printf(&table, ", export_%u, call_%u},\n", nexp, nexp);
        else
            weft_buf_printf(&table, ", NULL, call_%u},\n", nexp);
        nexp++;
    }
    int rc = weft_buf_printf(g,
                             "\nstatic const weft_glue_export_t exports[] = {\n%s    {NULL, NULL, "
                             "NULL, NULL}\n};\n\n",
                             table.data ? (char *)table.data : "");
    weft_buf_free(&table);
    weft_buf_free(&sym);
    return rc ? weft_error_set(err, WEFT_ENOMEM, "out of memory") : 0;
}

/* A stub for each unknown import (weft_check_module flagged it): the prototype wasm2c
 * declared for it in hdr, with its parameters named, calling weft_rt_unknown_import and
 * returning zeros. The trap's message names the import, with bytes that could forge a
 * log line made visible. Also the list glue.h's unknown_imports. */
static int write_stubs(weft_buf_t *g, const weft_wasm_module_t *m, const bool *unknown,
                       const char *hdr, weft_error_t *err) {
    weft_buf_t list = {0}, sym = {0}, text = {0};
    int rc = 0;
    for (uint32_t i = 0; unknown && i < m->nimports && !rc; i++) {
        if (!unknown[i])
            continue;
        const weft_wasm_import_t *im = &m->imports[i];
        char tstr[256];
        weft_check_import_str(m, i, tstr, sizeof tstr);
        text.len = 0;
        weft_buf_printf(&text, "%s.%s %s", im->module, im->name, tstr);
        weft_buf_puts(&list, "    ");
        c_string(&list, (const char *)text.data);
        weft_buf_puts(&list, ",\n");
        sym.len = 0;
        mangle(&sym, im->module);
        mangle(&sym, im->name);
        weft_buf_puts(&sym, "(");
        bool done = false; /* the same import twice: one stub */
        for (uint32_t j = 0; j < i && !done; j++)
            done = unknown[j] && !strcmp(m->imports[j].module, im->module) &&
                   !strcmp(m->imports[j].name, im->name);
        if (done)
            continue;
        /* "<result type> <sym>(<param types>);" on a line of its own. */
        const char *decl = NULL;
        for (const char *p = strstr(hdr, (const char *)sym.data); p && !decl;
             p = strstr(p + 1, (const char *)sym.data))
            if (p > hdr && (p[-1] == ' ' || p[-1] == '*'))
                decl = p;
        const char *line = decl;
        while (line && line > hdr && line[-1] != '\n')
            line--;
        const char *close = decl ? strstr(decl, ");\n") : NULL;
        if (!decl || !close) {
            rc = weft_error_set(err, WEFT_ECOMPILE,
                                "wasm2c output declares no function for import %s.%s", im->module,
                                im->name);
            break;
        }
        size_t rlen = (size_t)(decl - line);
        while (rlen && line[rlen - 1] == ' ')
            rlen--;
        bool is_void = rlen == 4 && !memcmp(line, "void", 4);
        weft_buf_printf(g, "%.*s %.*s", (int)rlen, line, (int)sym.len, (char *)sym.data);
        const char *p = decl + sym.len;
        for (int k = 0; p < close; k++) {
            const char *comma = memchr(p, ',', (size_t)(close - p));
            const char *end = comma ? comma : close;
            weft_buf_printf(g, "%s%.*s p%d", k ? ", " : "", (int)(end - p), p, k);
            p = comma ? comma + 1 : close;
            while (p < close && *p == ' ')
                p++;
        }
        weft_buf_puts(g, ") {\n    weft_rt_unknown_import(");
        /* The trap's message, printable ASCII only. */
        text.len = 0;
        weft_buf_printf(&text, "unknown import %s.%s called (weft does not provide it)", im->module,
                        im->name);
        for (size_t k = 0; k < text.len; k++)
            if (text.data[k] < 0x20 || text.data[k] >= 0x7f)
                text.data[k] = '?';
        c_string(g, (const char *)text.data);
        weft_buf_puts(g, ");\n");
        if (!is_void)
            weft_buf_printf(g, "    %.*s r;\n    memset(&r, 0, sizeof r);\n    return r;\n",
                            (int)rlen, line);
        weft_buf_puts(g, "}\n\n");
    }
    if (!rc &&
        weft_buf_printf(g, "static const char *const unknown_imports[] = {\n%s    NULL};\n\n",
                        list.data ? (char *)list.data : ""))
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
    weft_buf_free(&list);
    weft_buf_free(&sym);
    weft_buf_free(&text);
    return rc;
}

int weft_glue_write(const char *dir, const weft_wasm_module_t *m, bool stripped,
                    const bool *unknown, const char *hdr, const weft_glue_facts_t *f,
                    weft_error_t *err) {
    int rc;
    weft_buf_t g = {0}, s = {0};
    weft_buf_puts(&g, "/* generated by weft: the glue.h ABI for one module */\n"
                      "#include <string.h>\n#include \"wasm-rt.h\"\n#include \"glue.h\"\n"
                      "#include \"module.h\"\n\n" GLUE_VALUE_HELPERS);
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
                weft_buf_printf(&s,
                                "\t.globl weft_seg_%u\n\t.hidden weft_seg_%u\nweft_seg_%u:\n"
                                "\t.incbin \"module.wasm\", %zu, %zu\n",
                                i, i, i, d->bytes_offset, d->bytes_len);
                weft_buf_printf(&g, "extern const uint8_t weft_seg_%u[];\n", i);
            }
            if (d->bytes_len)
                weft_buf_printf(&segs, "    {%uu, %zuu, weft_seg_%u},\n", d->offset, d->bytes_len,
                                i);
            else
                weft_buf_printf(&segs, "    {%uu, 0, NULL},\n", d->offset);
            nsegs++;
        }
    }
    weft_buf_printf(&g, "\nstatic void glue_init_module(void) { Z_%s_init_module(); }\n\n",
                    WEFT_MODULE_NAME);
    if (nsegs && f->memory_field[0]) {
        weft_buf_printf(&g,
                        "static const struct { uint32_t offset; size_t len; const uint8_t *bytes; "
                        "} segments[] = {\n%s};\n\n",
                        segs.data);
    }
    weft_buf_printf(&g,
                    "static void glue_instantiate(void *inst, void *guest) {\n"
                    "    Z_%s_instance_t *i = inst;\n    Z_%s_instantiate(i",
                    WEFT_MODULE_NAME, WEFT_MODULE_NAME);
    for (int k = 0; k < f->import_modules; k++)
        weft_buf_puts(&g, ", guest");
    weft_buf_puts(&g, ");\n");
    if (!f->import_modules)
        weft_buf_puts(&g, "    (void)guest;\n");
    if (nsegs && f->memory_field[0]) {
        weft_buf_printf(&g,
                        "    wasm_rt_memory_t *mem = &i->%s;\n"
                        "    for (size_t k = 0; k < sizeof segments / sizeof segments[0]; k++) {\n"
                        "        if (segments[k].offset + (uint64_t)segments[k].len > mem->size)\n"
                        "            wasm_rt_trap(WASM_RT_TRAP_OOB);\n"
                        "        if (segments[k].len)\n"
                        "            memcpy(mem->data + segments[k].offset, segments[k].bytes, "
                        "segments[k].len);\n"
                        "    }\n",
                        f->memory_field);
    }
    weft_buf_puts(&g, "}\n\n");
    weft_buf_printf(&g, "static void glue_free(void *inst) { Z_%s_free(inst); }\n\n",
                    WEFT_MODULE_NAME);
    if (f->memory_field[0])
        weft_buf_printf(&g,
                        "static void *glue_memory(void *inst) { return &((Z_%s_instance_t "
                        "*)inst)->%s; }\n\n",
                        WEFT_MODULE_NAME, f->memory_field);
    else
        weft_buf_puts(&g, "static void *glue_memory(void *inst) { (void)inst; return NULL; }\n\n");

    if ((rc = write_exports(&g, m, hdr, err)) || (rc = write_stubs(&g, m, unknown, hdr, err)))
        goto out;
    /* Only modules of which some import is provided: a stubbed one has no provider. */
    weft_buf_puts(&g, "static const char *const import_modules[] = {");
    for (uint32_t i = 0; i < m->nimports; i++) {
        bool seen = unknown && unknown[i];
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = !(unknown && unknown[j]) && !strcmp(m->imports[j].module, m->imports[i].module);
        if (!seen) {
            c_string(&g, m->imports[i].module);
            weft_buf_puts(&g, ", ");
        }
    }
    weft_buf_puts(&g, "NULL};\n\n");
    weft_buf_printf(&g,
                    "__attribute__((visibility(\"default\"))) const weft_glue_t weft_glue = {\n"
                    "    WEFT_GLUE_ABI, sizeof exports / sizeof exports[0] - 1,\n"
                    "    sizeof(Z_%s_instance_t), glue_init_module, glue_instantiate, glue_free,\n"
                    "    glue_memory, exports, import_modules, unknown_imports,\n};\n",
                    WEFT_MODULE_NAME);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/glue.c", dir);
    rc = weft_file_write_atomic(path, g.data, g.len, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/data.S", dir);
        rc = weft_file_write_atomic(path, s.data, s.len, err);
    }
out:
    weft_buf_free(&g);
    weft_buf_free(&s);
    weft_buf_free(&segs);
    return rc;
}
