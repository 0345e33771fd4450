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

#define WEFT_GLUE_ABI 4u

typedef struct weft_glue_export {
    const char *name;       /* export name, for (func) exports only */
    void (*fn)(void *inst); /* calls the export on an instance */
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
    /* Modules the artifact imports functions from, NULL-terminated: their providers
     * must be present before the first call (see weft_engine_provide_loader). */
    const char *const *import_modules;
} weft_glue_t;

#endif
