/* wasm_reader: the first stage of the compile pipeline. Reads a WebAssembly binary
 * (the bytes are hostile) into the facts weft needs before translating it: types,
 * imports, exports, memories, the start function, data segments and whether the code
 * uses SIMD. It decodes every instruction of every function body so that the first
 * SIMD (0xfd-prefixed) instruction can be named with its offset, because Debian's
 * wasm2c (wabt 1.0.32) aborts on SIMD instead of reporting it.
 *
 * It is not a full validator: wasm2c validates what this reader accepts. It never reads
 * out of bounds, never allocates more than the input could justify, and reports the
 * first problem as "offset 0x1a2b: <what>".
 */
#ifndef WEFT_WASM_READER_H
#define WEFT_WASM_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* Bounds on untrusted input: counts beyond these are refused as malformed. */
#define WEFT_WASM_MAX_TYPES 1000000u
#define WEFT_WASM_MAX_FUNCS 1000000u
#define WEFT_WASM_MAX_IMPORTS 100000u
#define WEFT_WASM_MAX_EXPORTS 100000u
#define WEFT_WASM_MAX_PARAMS 1000u
#define WEFT_WASM_MAX_DATA_SEGMENTS 100000u
#define WEFT_WASM_MAX_NAME_BYTES 100000u

enum {
    WEFT_WASM_I32 = 0x7f,
    WEFT_WASM_I64 = 0x7e,
    WEFT_WASM_F32 = 0x7d,
    WEFT_WASM_F64 = 0x7c,
    WEFT_WASM_V128 = 0x7b,
    WEFT_WASM_FUNCREF = 0x70,
    WEFT_WASM_EXTERNREF = 0x6f,
};

enum {
    WEFT_EXTERN_FUNC = 0,
    WEFT_EXTERN_TABLE = 1,
    WEFT_EXTERN_MEMORY = 2,
    WEFT_EXTERN_GLOBAL = 3,
    WEFT_EXTERN_TAG = 4
};

typedef struct weft_wasm_functype {
    uint32_t nparams, nresults;
    uint8_t *params; /* value type bytes (WEFT_WASM_*) */
    uint8_t *results;
} weft_wasm_functype_t;

typedef struct weft_wasm_import {
    char *module; /* NUL-terminated copies; names with embedded NUL are refused */
    char *name;
    uint8_t kind;        /* WEFT_EXTERN_* */
    uint32_t type_index; /* kind == FUNC: index into types */
    size_t offset;       /* file offset of this import entry, for messages */
} weft_wasm_import_t;

typedef struct weft_wasm_export {
    char *name;
    uint8_t kind;
    uint32_t index; /* function index counts imported functions first */
} weft_wasm_export_t;

typedef struct weft_wasm_memory {
    uint32_t initial_pages;
    uint32_t max_pages; /* UINT32_MAX-free: valid only when has_max */
    bool has_max;
    bool imported;
} weft_wasm_memory_t;

typedef struct weft_wasm_data {
    uint32_t flags; /* 0: active memory 0; 1: passive; 2: active with memidx */
    uint32_t memidx;
    bool offset_is_const; /* the offset expression is a single i32.const */
    uint32_t offset;      /* its value, when offset_is_const */
    size_t bytes_offset;  /* where the segment's bytes start in the file */
    size_t bytes_len;
} weft_wasm_data_t;

/* A loop instruction of a function body, for the loop pass (loops.c). */
typedef struct weft_wasm_loop {
    uint32_t func;  /* defined function (0 is the first body of the code section) */
    uint32_t label; /* block, loop and if instructions before it in that body */
    size_t body;    /* offset of its first instruction, past the block type */
    bool empty;     /* its block type is empty: no parameters, no results */
} weft_wasm_loop_t;

typedef struct weft_wasm_module {
    weft_wasm_functype_t *types;
    uint32_t ntypes;
    weft_wasm_import_t *imports;
    uint32_t nimports;
    uint32_t nfunc_imports;
    uint32_t *func_types;         /* type index of each function, imported ones first */
    uint32_t nfuncs;              /* imported + defined */
    weft_wasm_memory_t *memories; /* imported ones first */
    uint32_t nmemories;
    weft_wasm_export_t *exports;
    uint32_t nexports;
    bool has_start;
    uint32_t start_func;
    weft_wasm_data_t *data;
    uint32_t ndata;
    /* The data section as found in the file (both 0 when there is none). */
    size_t data_section_offset; /* offset of the section id byte */
    size_t data_section_end;    /* offset just past the section */
    /* First SIMD instruction in the code, if any. */
    bool uses_simd;
    size_t simd_offset; /* file offset of the 0xfd prefix byte */
    char simd_name[48]; /* e.g. "i32x4.add" (or "simd opcode 0xfd 0x..." if unnamed) */
    /* Each defined function's body (nfuncs - nfunc_imports of them, in order): the
     * offset of its local declarations and the offset just past its final end. */
    size_t *body_start;
    size_t *body_end;
    /* Every loop instruction, in order, and whether any body uses exception handling
     * (try, catch, throw, rethrow, delegate). */
    weft_wasm_loop_t *loops;
    uint32_t nloops;
    bool uses_exceptions;
} weft_wasm_module_t;

/* Reads bytes[0..len). On error fills err with "offset 0x..: what" and returns WEFT_EMODULE;
 * *m is then empty and need not be freed (freeing it is harmless). */
int weft_wasm_read(const uint8_t *bytes, size_t len, weft_wasm_module_t *m, weft_error_t *err);
void weft_wasm_module_free(weft_wasm_module_t *m);

/* LEB128 reads for later passes over bytes this reader accepted: an unsigned 32-bit
 * value, or a signed one of `bits` bits (32 or 64), at b[*pos], never reading at or past
 * end. On success *pos moves past it; false when it is cut short or too long. */
bool weft_wasm_leb_u32(const uint8_t *b, size_t end, size_t *pos, uint32_t *out);
bool weft_wasm_leb_s(const uint8_t *b, size_t end, size_t *pos, unsigned bits, int64_t *out);

/* Writes "(func (param i32 i32) (result i32))" for type t into out (size bytes). */
void weft_wasm_functype_str(const weft_wasm_functype_t *t, char *out, size_t size);
/* Writes t as a weft_import_def_t signature ("ii:i"); returns false if t uses a type that
 * no host function takes (v128, references). */
bool weft_wasm_functype_sig(const weft_wasm_functype_t *t, char *out, size_t size);

/* Returns a copy of the module (malloc'd, *out_len bytes) in which the bytes of every
 * active data segment whose offset is a constant are removed (the segment kept, with
 * length 0), so that wasm2c does not write them into the C source. The removed
 * segments are exactly those with flags != 1 and offset_is_const; the caller copies
 * them into memory itself at instantiation. */
int weft_wasm_strip_data(const uint8_t *bytes, size_t len, const weft_wasm_module_t *m,
                         uint8_t **out, size_t *out_len, weft_error_t *err);

#endif
