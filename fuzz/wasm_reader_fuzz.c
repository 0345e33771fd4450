/* libFuzzer target for src/engine/wasm_reader.c.
 *
 * Any bytes must either be refused with "offset 0x...: ..." (an offset inside the input,
 * the module left empty) or read into facts that keep the header's promises: every index
 * weft will follow is in range, every span lies inside the input. A module that reads
 * must also strip: the stripped bytes must read again with the same facts, except that
 * the stripped segments hold no bytes, and stripping them again must change nothing.
 * Any broken promise aborts, which libFuzzer reports with the input.
 */
#include "engine/wasm_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "wasm_reader_fuzz: broken promise: %s (line %d)\n", #cond, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool is_empty(const weft_wasm_module_t *m) {
    static const weft_wasm_module_t empty;
    return memcmp(m, &empty, sizeof empty) == 0;
}

static void check_facts(const weft_wasm_module_t *m, const uint8_t *data, size_t size) {
    EXPECT(m->nfunc_imports <= m->nimports);
    EXPECT(m->nfunc_imports <= m->nfuncs && m->nfuncs <= WEFT_WASM_MAX_FUNCS);
    EXPECT(m->ntypes <= WEFT_WASM_MAX_TYPES && m->nimports <= WEFT_WASM_MAX_IMPORTS);
    EXPECT(m->nexports <= WEFT_WASM_MAX_EXPORTS && m->ndata <= WEFT_WASM_MAX_DATA_SEGMENTS);
    for (uint32_t i = 0; i < m->ntypes; i++)
        EXPECT(m->types[i].nparams <= WEFT_WASM_MAX_PARAMS &&
               m->types[i].nresults <= WEFT_WASM_MAX_PARAMS);
    for (uint32_t i = 0; i < m->nfuncs; i++)
        EXPECT(m->func_types[i] < m->ntypes);
    for (uint32_t i = 0; i < m->nimports; i++) {
        const weft_wasm_import_t *imp = &m->imports[i];
        EXPECT(imp->module && imp->name && imp->offset < size);
        EXPECT(strlen(imp->name) <= WEFT_WASM_MAX_NAME_BYTES);
        if (imp->kind == WEFT_EXTERN_FUNC)
            EXPECT(imp->type_index < m->ntypes);
    }
    for (uint32_t i = 0; i < m->nexports; i++) {
        const weft_wasm_export_t *ex = &m->exports[i];
        EXPECT(ex->name);
        if (ex->kind == WEFT_EXTERN_FUNC)
            EXPECT(ex->index < m->nfuncs);
        if (ex->kind == WEFT_EXTERN_MEMORY)
            EXPECT(ex->index < m->nmemories);
    }
    for (uint32_t i = 0; i < m->nmemories; i++) {
        EXPECT(m->memories[i].initial_pages <= 65536);
        if (m->memories[i].has_max)
            EXPECT(m->memories[i].initial_pages <= m->memories[i].max_pages &&
                   m->memories[i].max_pages <= 65536);
    }
    if (m->has_start)
        EXPECT(m->start_func < m->nfuncs);
    if (m->ndata)
        EXPECT(m->data_section_offset >= 8 && m->data_section_offset < m->data_section_end &&
               m->data_section_end <= size);
    for (uint32_t i = 0; i < m->ndata; i++) {
        const weft_wasm_data_t *d = &m->data[i];
        EXPECT(d->flags <= 2);
        if (d->flags != 1)
            EXPECT(d->memidx < m->nmemories);
        EXPECT(d->bytes_offset > m->data_section_offset &&
               d->bytes_len <= m->data_section_end - d->bytes_offset);
    }
    if (m->uses_simd) {
        EXPECT(m->simd_offset < size && m->simd_name[0]);
        if (strncmp(m->simd_name, "v128 ", 5) != 0)
            EXPECT(data[m->simd_offset] == 0xfd);
    } else {
        EXPECT(m->simd_name[0] == 0);
    }
    char text[256], sig[64];
    for (uint32_t i = 0; i < m->ntypes; i++) {
        weft_wasm_functype_str(&m->types[i], text, sizeof text);
        EXPECT(strncmp(text, "(func", 5) == 0 && strlen(text) < sizeof text);
        if (weft_wasm_functype_sig(&m->types[i], sig, sizeof sig))
            EXPECT(strlen(sig) == m->types[i].nparams + 1 + m->types[i].nresults);
    }
}

static void check_stripped(const weft_wasm_module_t *m, const weft_wasm_module_t *s) {
    EXPECT(s->ntypes == m->ntypes && s->nimports == m->nimports && s->nfuncs == m->nfuncs);
    EXPECT(s->nexports == m->nexports && s->nmemories == m->nmemories);
    EXPECT(s->has_start == m->has_start && s->start_func == m->start_func);
    EXPECT(s->ndata == m->ndata && s->data_section_offset == m->data_section_offset);
    /* The data section follows all code, so SIMD findings before it keep their offsets;
     * one inside a segment's offset expression (copied verbatim) moves back by the bytes
     * stripped before it. */
    EXPECT(s->uses_simd == m->uses_simd && strcmp(s->simd_name, m->simd_name) == 0);
    if (m->ndata == 0 || m->simd_offset < m->data_section_offset)
        EXPECT(s->simd_offset == m->simd_offset);
    else
        EXPECT(s->simd_offset <= m->simd_offset && s->simd_offset > s->data_section_offset);
    for (uint32_t i = 0; i < m->ndata; i++) {
        const weft_wasm_data_t *a = &m->data[i], *b = &s->data[i];
        EXPECT(a->flags == b->flags && a->memidx == b->memidx);
        EXPECT(a->offset_is_const == b->offset_is_const && a->offset == b->offset);
        if (a->flags != 1 && a->offset_is_const)
            EXPECT(b->bytes_len == 0);
        else
            EXPECT(b->bytes_len == a->bytes_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    weft_wasm_module_t m, s;
    weft_error_t err = {0};
    uint8_t *out = NULL, *again = NULL;
    size_t out_len = 0, again_len = 0;

    int rc = weft_wasm_read(data, size, &m, &err);
    if (rc) {
        size_t off = SIZE_MAX;
        EXPECT(rc == WEFT_EMODULE);
        EXPECT(sscanf(err.msg, "offset 0x%zx: ", &off) == 1 && off <= size);
        EXPECT(is_empty(&m));
        return 0;
    }
    check_facts(&m, data, size);

    rc = weft_wasm_strip_data(data, size, &m, &out, &out_len, &err);
    if (rc)
        fprintf(stderr, "wasm_reader_fuzz: %s\n", err.msg);
    EXPECT(rc == 0 && out && out_len <= size);
    rc = weft_wasm_read(out, out_len, &s, &err);
    if (rc)
        fprintf(stderr, "wasm_reader_fuzz: stripped module: %s\n", err.msg);
    EXPECT(rc == 0);
    check_facts(&s, out, out_len);
    check_stripped(&m, &s);

    EXPECT(weft_wasm_strip_data(out, out_len, &s, &again, &again_len, &err) == 0);
    EXPECT(again_len == out_len && memcmp(again, out, out_len) == 0);

    free(again);
    weft_wasm_module_free(&s);
    free(out);
    weft_wasm_module_free(&m);
    return 0;
}
