/* check: is a module one weft can run? Every import is a function weft provides (loading
 * a plugin's provider if need be) with the same type, or one it may stub (engine.h's
 * weft_unknown_imports_t); no SIMD code (Debian's wasm2c 1.0.32 cannot translate it), at
 * most one memory. Runs before translating, so that a refusal names the import or the
 * instruction instead of a compiler error.
 */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

void weft_check_import_str(const weft_wasm_module_t *m, uint32_t i, char *out, size_t size) {
    static const char *kinds[] = {"func", "table", "memory", "global", "tag"};
    const weft_wasm_import_t *im = &m->imports[i];
    if (im->kind == WEFT_EXTERN_FUNC)
        weft_wasm_functype_str(&m->types[im->type_index], out, size);
    else
        snprintf(out, size, "(%s)", im->kind < 5 ? kinds[im->kind] : "?");
}

int weft_check_module(const char *name, const weft_wasm_module_t *m, weft_unknown_imports_t mode,
                      bool *unknown, weft_error_t *err) {
    for (uint32_t i = 0; i < m->nimports; i++) {
        const weft_wasm_import_t *im = &m->imports[i];
        char tstr[256], sig[128];
        weft_check_import_str(m, i, tstr, sizeof tstr);
        if (im->kind != WEFT_EXTERN_FUNC)
            return weft_error_set(
                err, WEFT_EIMPORT, "%s imports %s.%s %s, which weft does not provide%s", name,
                im->module, im->name, tstr,
                mode == WEFT_UNKNOWN_IMPORTS_REFUSE ? "" : " (only functions can be left unknown)");
        const weft_wasm_functype_t *t = &m->types[im->type_index];
        const weft_import_def_t *def = weft_engine_find_import(im->module, im->name);
        if (!def) {
            /* A provider loaded on demand may have it. */
            weft_error_t lerr = {0};
            if (weft_engine_require_module(im->module, &lerr) == 0)
                def = weft_engine_find_import(im->module, im->name);
            else if (lerr.code != WEFT_EIMPORT)
                return weft_error_set(err, lerr.code, "%s: %s", name, lerr.msg);
        }
        if (!def && mode != WEFT_UNKNOWN_IMPORTS_REFUSE) {
            unknown[i] = true;
            continue;
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
