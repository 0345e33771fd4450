/* glue: the ABI between weft and a compiled artifact.
 *
 * wasm2c names everything after the module and passes one pointer per imported module
 * to its instantiate function, so each module's C interface is different. The pipeline
 * therefore generates (glue.c), next to wasm2c's output, a small C file that exports one
 * symbol of this fixed shape, `weft_glue`. Bump WEFT_GLUE_ABI whenever this struct,
 * wasm-rt.h or the host function ABI changes: it is part of the cache key, and loading
 * an artifact with another ABI is refused.
 */
#ifndef WEFT_GLUE_H
#define WEFT_GLUE_H

#include <stddef.h>
#include <stdint.h>

#define WEFT_GLUE_ABI 5u

/* One function export. Those whose type has a reference (funcref, externref) in it are
 * not listed: nothing weft calls can pass one. */
typedef struct weft_glue_export {
    const char *name;
    const char *sig;        /* its type as weft_import_def_t spells it: "iI:f" */
    void (*fn)(void *inst); /* calls it, when its type is (func); else NULL */
    /* Calls it with args (one per parameter) and writes its results (one per result),
     * each value's bits in a uint64_t (i32 and f32 in the low 32). */
    void (*call)(void *inst, const uint64_t *args, uint64_t *results);
} weft_glue_export_t;

typedef struct weft_glue {
    uint32_t abi;
    uint32_t nexports;
    size_t instance_size;
    void (*init_module)(void);                    /* once per process, before instantiate */
    void (*instantiate)(void *inst, void *guest); /* may trap */
    void (*free)(void *inst);
    void *(*memory)(void *inst); /* wasm_rt_memory_t* of memory 0, NULL if none */
    const weft_glue_export_t *exports;
    /* Modules the artifact imports functions weft provides from, NULL-terminated:
     * their providers must be present before the first call (see
     * weft_engine_provide_loader). */
    const char *const *import_modules;
    /* The function imports weft did not provide when it compiled the artifact, each as
     * "env.bridge (func (param i32))", NULL-terminated: each is a stub calling
     * weft_rt_unknown_import (wasm-rt.h). A module with any is refused where unknown
     * imports are. */
    const char *const *unknown_imports;
} weft_glue_t;

#endif
