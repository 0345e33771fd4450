/* wasm_reader: reads the facts weft needs from a WebAssembly binary (see wasm_reader.h).
 *
 * The reader walks the sections in one pass with a cursor (reader_t) whose `end` is the
 * end of the region being read (the file, a section, a function body), so that no read
 * can leave the region it belongs to. Every count read from the input is checked against
 * a named bound and against the bytes that remain before anything is allocated for it:
 * an element takes at least one byte, so a count larger than the bytes left is a lie.
 *
 * Every instruction is decoded, not just skipped by body size, because the point is to
 * name the first SIMD instruction and to refuse opcodes we do not know with an offset
 * instead of letting wasm2c abort on them.
 */
#include "wasm_reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal bounds on untrusted input, beyond the public WEFT_WASM_MAX_*. */
/* Locals declared in one function body: the same bound as V8's, which no real toolchain
 * reaches; without it two bytes could declare four billion locals for wasm2c to emit. */
#define WASM_MAX_LOCALS 50000u
/* Linear memory is at most 2^16 pages of 64 KiB in wasm32. */
#define WASM_MAX_PAGES 65536u

enum {
    SEC_CUSTOM = 0,
    SEC_TYPE = 1,
    SEC_IMPORT = 2,
    SEC_FUNCTION = 3,
    SEC_TABLE = 4,
    SEC_MEMORY = 5,
    SEC_GLOBAL = 6,
    SEC_EXPORT = 7,
    SEC_START = 8,
    SEC_ELEMENT = 9,
    SEC_CODE = 10,
    SEC_DATA = 11,
    SEC_DATACOUNT = 12,
    SEC_TAG = 13,
    SEC_COUNT_ = 14,
};

static const char *const section_names[SEC_COUNT_] = {
    "custom", "type",  "import",  "function", "table", "memory",    "global",
    "export", "start", "element", "code",     "data",  "datacount", "tag",
};

/* Where each known section may appear: ids are not in file order (datacount comes before
 * code, tag between memory and global), so order is checked on this rank instead. */
static const uint8_t section_rank[SEC_COUNT_] = {
    [SEC_TYPE] = 1,       [SEC_IMPORT] = 2, [SEC_FUNCTION] = 3, [SEC_TABLE] = 4, [SEC_MEMORY] = 5,
    [SEC_TAG] = 6,        [SEC_GLOBAL] = 7, [SEC_EXPORT] = 8,   [SEC_START] = 9, [SEC_ELEMENT] = 10,
    [SEC_DATACOUNT] = 11, [SEC_CODE] = 12,  [SEC_DATA] = 13,
};

/* read_expr's answer when a function body holds a 0xfd opcode this reader has no entry
 * for: its immediates are unknown, so the rest of the body cannot be decoded, but the
 * module is already known to use SIMD (which weft refuses with that name), so the body is
 * skipped by its size rather than failing with a less useful message. */
#define SKIP_BODY 1

typedef struct reader {
    const uint8_t *base; /* the whole module: offsets in messages are relative to it */
    size_t pos;
    size_t end; /* end of the region being read */
    weft_error_t *err;
    weft_wasm_module_t *m; /* NULL when only expressions are decoded (strip_data) */
    uint32_t ntypes;       /* mirrors m->ntypes, for block types */
    uint32_t ntables, nglobals, ntags;
    uint32_t ndefined; /* functions declared by the function section */
    uint32_t memories_cap;
    bool has_datacount;
    uint32_t datacount;
    /* First SIMD instruction, and, failing one, first v128 value type. */
    bool simd_insn;
    size_t simd_insn_offset;
    char simd_insn_name[48];
    bool simd_type;
    size_t simd_type_offset;
    const char *simd_type_what;
    /* The body being read (code section), its labels so far, and the loops' capacity. */
    uint32_t func;
    uint32_t labels;
    uint32_t loops_cap;
} reader_t;

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)

static int fail(reader_t *r, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(reader_t *r, size_t off, const char *fmt, ...) {
    char what[WEFT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return weft_error_set(r->err, WEFT_EMODULE, "offset 0x%zx: %s", off, what);
}

static int out_of_memory(reader_t *r) {
    return weft_error_set(r->err, WEFT_ENOMEM, "offset 0x%zx: out of memory", r->pos);
}

static size_t remaining(const reader_t *r) {
    return r->end - r->pos;
}

/* ---- Primitive reads ----------------------------------------------------------------- */

/* Primitive reads store 0 on failure too, so that callers' variables are never read
 * uninitialized on paths the compiler cannot prove dead. */
static int read_byte(reader_t *r, uint8_t *out, const char *what) {
    *out = 0;
    if (r->pos >= r->end)
        return fail(r, r->pos, "unexpected end of %s", what);
    *out = r->base[r->pos++];
    return 0;
}

static int skip_bytes(reader_t *r, size_t n, const char *what) {
    if (n > remaining(r))
        return fail(r, r->pos, "unexpected end of %s", what);
    r->pos += n;
    return 0;
}

/* LEB128 u32: at most 5 bytes, and the fifth may carry only the top 4 bits. */
static int read_u32(reader_t *r, uint32_t *out, const char *what) {
    size_t start = r->pos;
    uint32_t v = 0;
    *out = 0;
    for (unsigned i = 0;; i++) {
        if (r->pos >= r->end)
            return fail(r, start, "unexpected end of %s", what);
        uint8_t b = r->base[r->pos++];
        if (i == 4) {
            if (b & 0xf0)
                return fail(r, start, "%s: LEB128 u32 too long or too large", what);
            v |= (uint32_t)b << 28;
            break;
        }
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = v;
    return 0;
}

/* Signed LEB128 of `bits` bits (32, 33 or 64): at most ceil(bits/7) bytes; in the last
 * byte the bits above the value's sign bit must repeat it. */
static int read_sleb(reader_t *r, unsigned bits, int64_t *out, const char *what) {
    size_t start = r->pos;
    unsigned maxlen = (bits + 6) / 7;
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    *out = 0;
    for (unsigned i = 0; i < maxlen; i++) {
        if (r->pos >= r->end)
            return fail(r, start, "unexpected end of %s", what);
        b = r->base[r->pos++];
        if (i == maxlen - 1) {
            unsigned used = bits - shift; /* value bits in this byte, sign included */
            uint8_t mask = (uint8_t)(0x7f & ~((1u << (used - 1)) - 1));
            if ((b & 0x80) || ((b & mask) != 0 && (b & mask) != mask))
                return fail(r, start, "%s: LEB128 s%u too long or too large", what, bits);
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
    *out = (int64_t)v;
    return 0;
}

/* A vector length: refused beyond `max`, or beyond what the bytes left could hold when
 * each element takes at least `min_bytes`, so that no allocation outgrows the input. */
static int read_count(reader_t *r, uint32_t *out, uint32_t max, size_t min_bytes,
                      const char *what) {
    size_t start = r->pos;
    TRY(read_u32(r, out, what));
    if (*out > max)
        return fail(r, start, "too many %s: %u (at most %u)", what, *out, max);
    if (*out > remaining(r) / min_bytes)
        return fail(r, start, "%s count %u is larger than the %zu bytes left can hold", what, *out,
                    remaining(r));
    return 0;
}

/* A name: valid UTF-8 of at most WEFT_WASM_MAX_NAME_BYTES. Copied NUL-terminated into
 * *out when out is not NULL, which is why an embedded NUL is refused: the copy would
 * silently name something else. */
static int read_name(reader_t *r, char **out, const char *what) {
    size_t start = r->pos;
    uint32_t n;
    TRY(read_u32(r, &n, what));
    if (n > WEFT_WASM_MAX_NAME_BYTES)
        return fail(r, start, "%s is %u bytes long (at most %u)", what, n,
                    WEFT_WASM_MAX_NAME_BYTES);
    if (n > remaining(r))
        return fail(r, r->pos, "unexpected end of %s", what);
    const uint8_t *s = r->base + r->pos;
    if (!weft_utf8_valid(s, n))
        return fail(r, r->pos, "%s is not valid UTF-8", what);
    if (out) {
        if (memchr(s, 0, n))
            return fail(r, r->pos, "%s contains a NUL byte", what);
        char *copy = malloc((size_t)n + 1);
        if (!copy)
            return out_of_memory(r);
        memcpy(copy, s, n);
        copy[n] = 0;
        *out = copy;
    }
    r->pos += n;
    return 0;
}

/* ---- Types ----------------------------------------------------------------------------- */

static bool is_valtype(uint8_t t) {
    switch (t) {
    case WEFT_WASM_I32:
    case WEFT_WASM_I64:
    case WEFT_WASM_F32:
    case WEFT_WASM_F64:
    case WEFT_WASM_V128:
    case WEFT_WASM_FUNCREF:
    case WEFT_WASM_EXTERNREF:
        return true;
    default:
        return false;
    }
}

/* Remembers the first v128 value type, which makes the module a SIMD module when no SIMD
 * instruction names the problem better. */
static void note_v128(reader_t *r, size_t off, const char *what) {
    if (!r->simd_type) {
        r->simd_type = true;
        r->simd_type_offset = off;
        r->simd_type_what = what;
    }
}

static int read_valtype(reader_t *r, uint8_t *out, const char *what) {
    size_t at = r->pos;
    TRY(read_byte(r, out, what));
    if (!is_valtype(*out))
        return fail(r, at, "invalid value type 0x%02x in %s", *out, what);
    if (*out == WEFT_WASM_V128)
        note_v128(r, at, what);
    return 0;
}

static int read_reftype(reader_t *r, const char *what) {
    size_t at = r->pos;
    uint8_t t;
    TRY(read_byte(r, &t, what));
    if (t != WEFT_WASM_FUNCREF && t != WEFT_WASM_EXTERNREF)
        return fail(r, at, "invalid reference type 0x%02x in %s", t, what);
    return 0;
}

static int read_valtypes(reader_t *r, uint32_t *n, uint8_t **types, const char *what,
                         const char *v128_what) {
    TRY(read_count(r, n, WEFT_WASM_MAX_PARAMS, 1, what));
    if (*n == 0)
        return 0;
    *types = malloc(*n);
    if (!*types)
        return out_of_memory(r);
    for (uint32_t i = 0; i < *n; i++)
        TRY(read_valtype(r, &(*types)[i], v128_what));
    return 0;
}

/* Limits of a memory (in pages) or a table (in elements). Shared and 64-bit memories are
 * refused here, by name: weft runs single-threaded wasm32 (atomics are refused as opcodes
 * too), and the message is clearer than what wasm2c would say later. */
static int read_limits(reader_t *r, bool memory, uint32_t *min, uint32_t *max, bool *has_max) {
    size_t at = r->pos;
    uint8_t flags;
    TRY(read_byte(r, &flags, "limits"));
    if (memory && (flags & 4))
        return fail(r, at, "64-bit memories (memory64) are not supported");
    if (memory && (flags & 2))
        return fail(r, at, "shared memories (threads) are not supported");
    if (flags > 1)
        return fail(r, at, "invalid limits flags 0x%02x", flags);
    *has_max = flags & 1;
    size_t min_at = r->pos;
    TRY(read_u32(r, min, "limits minimum"));
    size_t max_at = r->pos;
    *max = 0;
    if (*has_max)
        TRY(read_u32(r, max, "limits maximum"));
    if (memory && *min > WASM_MAX_PAGES)
        return fail(r, min_at, "memory minimum of %u pages is over 65536 pages (4 GiB)", *min);
    if (memory && *has_max && *max > WASM_MAX_PAGES)
        return fail(r, max_at, "memory maximum of %u pages is over 65536 pages (4 GiB)", *max);
    if (*has_max && *min > *max)
        return fail(r, max_at, "limits minimum %u is larger than the maximum %u", *min, *max);
    return 0;
}

static int add_memory(reader_t *r, const weft_wasm_memory_t *mem) {
    weft_wasm_module_t *m = r->m;
    if (m->nmemories == r->memories_cap) {
        uint32_t cap = r->memories_cap ? r->memories_cap * 2 : 1;
        weft_wasm_memory_t *p = realloc(m->memories, (size_t)cap * sizeof *p);
        if (!p)
            return out_of_memory(r);
        m->memories = p;
        r->memories_cap = cap;
    }
    m->memories[m->nmemories++] = *mem;
    return 0;
}

/* Adds n to a count of tables, globals or tags; no u32 total can overflow for a real
 * module, but the input is not one. */
static int add_count(reader_t *r, uint32_t *total, uint32_t n, size_t at, const char *what) {
    if (n > UINT32_MAX - *total)
        return fail(r, at, "too many %s", what);
    *total += n;
    return 0;
}

/* ---- Instructions ---------------------------------------------------------------------- */

/* The SIMD opcodes (0xfd prefix) by their number in the final SIMD proposal, with the
 * relaxed-SIMD ones after them. Gaps are numbers the proposal left unused. */
#define SIMD_OPS 0x114
static const char *const simd_names[SIMD_OPS] = {
    [0x00] = "v128.load",
    [0x01] = "v128.load8x8_s",
    [0x02] = "v128.load8x8_u",
    [0x03] = "v128.load16x4_s",
    [0x04] = "v128.load16x4_u",
    [0x05] = "v128.load32x2_s",
    [0x06] = "v128.load32x2_u",
    [0x07] = "v128.load8_splat",
    [0x08] = "v128.load16_splat",
    [0x09] = "v128.load32_splat",
    [0x0a] = "v128.load64_splat",
    [0x0b] = "v128.store",
    [0x0c] = "v128.const",
    [0x0d] = "i8x16.shuffle",
    [0x0e] = "i8x16.swizzle",
    [0x0f] = "i8x16.splat",
    [0x10] = "i16x8.splat",
    [0x11] = "i32x4.splat",
    [0x12] = "i64x2.splat",
    [0x13] = "f32x4.splat",
    [0x14] = "f64x2.splat",
    [0x15] = "i8x16.extract_lane_s",
    [0x16] = "i8x16.extract_lane_u",
    [0x17] = "i8x16.replace_lane",
    [0x18] = "i16x8.extract_lane_s",
    [0x19] = "i16x8.extract_lane_u",
    [0x1a] = "i16x8.replace_lane",
    [0x1b] = "i32x4.extract_lane",
    [0x1c] = "i32x4.replace_lane",
    [0x1d] = "i64x2.extract_lane",
    [0x1e] = "i64x2.replace_lane",
    [0x1f] = "f32x4.extract_lane",
    [0x20] = "f32x4.replace_lane",
    [0x21] = "f64x2.extract_lane",
    [0x22] = "f64x2.replace_lane",
    [0x23] = "i8x16.eq",
    [0x24] = "i8x16.ne",
    [0x25] = "i8x16.lt_s",
    [0x26] = "i8x16.lt_u",
    [0x27] = "i8x16.gt_s",
    [0x28] = "i8x16.gt_u",
    [0x29] = "i8x16.le_s",
    [0x2a] = "i8x16.le_u",
    [0x2b] = "i8x16.ge_s",
    [0x2c] = "i8x16.ge_u",
    [0x2d] = "i16x8.eq",
    [0x2e] = "i16x8.ne",
    [0x2f] = "i16x8.lt_s",
    [0x30] = "i16x8.lt_u",
    [0x31] = "i16x8.gt_s",
    [0x32] = "i16x8.gt_u",
    [0x33] = "i16x8.le_s",
    [0x34] = "i16x8.le_u",
    [0x35] = "i16x8.ge_s",
    [0x36] = "i16x8.ge_u",
    [0x37] = "i32x4.eq",
    [0x38] = "i32x4.ne",
    [0x39] = "i32x4.lt_s",
    [0x3a] = "i32x4.lt_u",
    [0x3b] = "i32x4.gt_s",
    [0x3c] = "i32x4.gt_u",
    [0x3d] = "i32x4.le_s",
    [0x3e] = "i32x4.le_u",
    [0x3f] = "i32x4.ge_s",
    [0x40] = "i32x4.ge_u",
    [0x41] = "f32x4.eq",
    [0x42] = "f32x4.ne",
    [0x43] = "f32x4.lt",
    [0x44] = "f32x4.gt",
    [0x45] = "f32x4.le",
    [0x46] = "f32x4.ge",
    [0x47] = "f64x2.eq",
    [0x48] = "f64x2.ne",
    [0x49] = "f64x2.lt",
    [0x4a] = "f64x2.gt",
    [0x4b] = "f64x2.le",
    [0x4c] = "f64x2.ge",
    [0x4d] = "v128.not",
    [0x4e] = "v128.and",
    [0x4f] = "v128.andnot",
    [0x50] = "v128.or",
    [0x51] = "v128.xor",
    [0x52] = "v128.bitselect",
    [0x53] = "v128.any_true",
    [0x54] = "v128.load8_lane",
    [0x55] = "v128.load16_lane",
    [0x56] = "v128.load32_lane",
    [0x57] = "v128.load64_lane",
    [0x58] = "v128.store8_lane",
    [0x59] = "v128.store16_lane",
    [0x5a] = "v128.store32_lane",
    [0x5b] = "v128.store64_lane",
    [0x5c] = "v128.load32_zero",
    [0x5d] = "v128.load64_zero",
    [0x5e] = "f32x4.demote_f64x2_zero",
    [0x5f] = "f64x2.promote_low_f32x4",
    [0x60] = "i8x16.abs",
    [0x61] = "i8x16.neg",
    [0x62] = "i8x16.popcnt",
    [0x63] = "i8x16.all_true",
    [0x64] = "i8x16.bitmask",
    [0x65] = "i8x16.narrow_i16x8_s",
    [0x66] = "i8x16.narrow_i16x8_u",
    [0x67] = "f32x4.ceil",
    [0x68] = "f32x4.floor",
    [0x69] = "f32x4.trunc",
    [0x6a] = "f32x4.nearest",
    [0x6b] = "i8x16.shl",
    [0x6c] = "i8x16.shr_s",
    [0x6d] = "i8x16.shr_u",
    [0x6e] = "i8x16.add",
    [0x6f] = "i8x16.add_sat_s",
    [0x70] = "i8x16.add_sat_u",
    [0x71] = "i8x16.sub",
    [0x72] = "i8x16.sub_sat_s",
    [0x73] = "i8x16.sub_sat_u",
    [0x74] = "f64x2.ceil",
    [0x75] = "f64x2.floor",
    [0x76] = "i8x16.min_s",
    [0x77] = "i8x16.min_u",
    [0x78] = "i8x16.max_s",
    [0x79] = "i8x16.max_u",
    [0x7a] = "f64x2.trunc",
    [0x7b] = "i8x16.avgr_u",
    [0x7c] = "i16x8.extadd_pairwise_i8x16_s",
    [0x7d] = "i16x8.extadd_pairwise_i8x16_u",
    [0x7e] = "i32x4.extadd_pairwise_i16x8_s",
    [0x7f] = "i32x4.extadd_pairwise_i16x8_u",
    [0x80] = "i16x8.abs",
    [0x81] = "i16x8.neg",
    [0x82] = "i16x8.q15mulr_sat_s",
    [0x83] = "i16x8.all_true",
    [0x84] = "i16x8.bitmask",
    [0x85] = "i16x8.narrow_i32x4_s",
    [0x86] = "i16x8.narrow_i32x4_u",
    [0x87] = "i16x8.extend_low_i8x16_s",
    [0x88] = "i16x8.extend_high_i8x16_s",
    [0x89] = "i16x8.extend_low_i8x16_u",
    [0x8a] = "i16x8.extend_high_i8x16_u",
    [0x8b] = "i16x8.shl",
    [0x8c] = "i16x8.shr_s",
    [0x8d] = "i16x8.shr_u",
    [0x8e] = "i16x8.add",
    [0x8f] = "i16x8.add_sat_s",
    [0x90] = "i16x8.add_sat_u",
    [0x91] = "i16x8.sub",
    [0x92] = "i16x8.sub_sat_s",
    [0x93] = "i16x8.sub_sat_u",
    [0x94] = "f64x2.nearest",
    [0x95] = "i16x8.mul",
    [0x96] = "i16x8.min_s",
    [0x97] = "i16x8.min_u",
    [0x98] = "i16x8.max_s",
    [0x99] = "i16x8.max_u",
    [0x9b] = "i16x8.avgr_u",
    [0x9c] = "i16x8.extmul_low_i8x16_s",
    [0x9d] = "i16x8.extmul_high_i8x16_s",
    [0x9e] = "i16x8.extmul_low_i8x16_u",
    [0x9f] = "i16x8.extmul_high_i8x16_u",
    [0xa0] = "i32x4.abs",
    [0xa1] = "i32x4.neg",
    [0xa3] = "i32x4.all_true",
    [0xa4] = "i32x4.bitmask",
    [0xa7] = "i32x4.extend_low_i16x8_s",
    [0xa8] = "i32x4.extend_high_i16x8_s",
    [0xa9] = "i32x4.extend_low_i16x8_u",
    [0xaa] = "i32x4.extend_high_i16x8_u",
    [0xab] = "i32x4.shl",
    [0xac] = "i32x4.shr_s",
    [0xad] = "i32x4.shr_u",
    [0xae] = "i32x4.add",
    [0xb1] = "i32x4.sub",
    [0xb5] = "i32x4.mul",
    [0xb6] = "i32x4.min_s",
    [0xb7] = "i32x4.min_u",
    [0xb8] = "i32x4.max_s",
    [0xb9] = "i32x4.max_u",
    [0xba] = "i32x4.dot_i16x8_s",
    [0xbc] = "i32x4.extmul_low_i16x8_s",
    [0xbd] = "i32x4.extmul_high_i16x8_s",
    [0xbe] = "i32x4.extmul_low_i16x8_u",
    [0xbf] = "i32x4.extmul_high_i16x8_u",
    [0xc0] = "i64x2.abs",
    [0xc1] = "i64x2.neg",
    [0xc3] = "i64x2.all_true",
    [0xc4] = "i64x2.bitmask",
    [0xc7] = "i64x2.extend_low_i32x4_s",
    [0xc8] = "i64x2.extend_high_i32x4_s",
    [0xc9] = "i64x2.extend_low_i32x4_u",
    [0xca] = "i64x2.extend_high_i32x4_u",
    [0xcb] = "i64x2.shl",
    [0xcc] = "i64x2.shr_s",
    [0xcd] = "i64x2.shr_u",
    [0xce] = "i64x2.add",
    [0xd1] = "i64x2.sub",
    [0xd5] = "i64x2.mul",
    [0xd6] = "i64x2.eq",
    [0xd7] = "i64x2.ne",
    [0xd8] = "i64x2.lt_s",
    [0xd9] = "i64x2.gt_s",
    [0xda] = "i64x2.le_s",
    [0xdb] = "i64x2.ge_s",
    [0xdc] = "i64x2.extmul_low_i32x4_s",
    [0xdd] = "i64x2.extmul_high_i32x4_s",
    [0xde] = "i64x2.extmul_low_i32x4_u",
    [0xdf] = "i64x2.extmul_high_i32x4_u",
    [0xe0] = "f32x4.abs",
    [0xe1] = "f32x4.neg",
    [0xe3] = "f32x4.sqrt",
    [0xe4] = "f32x4.add",
    [0xe5] = "f32x4.sub",
    [0xe6] = "f32x4.mul",
    [0xe7] = "f32x4.div",
    [0xe8] = "f32x4.min",
    [0xe9] = "f32x4.max",
    [0xea] = "f32x4.pmin",
    [0xeb] = "f32x4.pmax",
    [0xec] = "f64x2.abs",
    [0xed] = "f64x2.neg",
    [0xef] = "f64x2.sqrt",
    [0xf0] = "f64x2.add",
    [0xf1] = "f64x2.sub",
    [0xf2] = "f64x2.mul",
    [0xf3] = "f64x2.div",
    [0xf4] = "f64x2.min",
    [0xf5] = "f64x2.max",
    [0xf6] = "f64x2.pmin",
    [0xf7] = "f64x2.pmax",
    [0xf8] = "i32x4.trunc_sat_f32x4_s",
    [0xf9] = "i32x4.trunc_sat_f32x4_u",
    [0xfa] = "f32x4.convert_i32x4_s",
    [0xfb] = "f32x4.convert_i32x4_u",
    [0xfc] = "i32x4.trunc_sat_f64x2_s_zero",
    [0xfd] = "i32x4.trunc_sat_f64x2_u_zero",
    [0xfe] = "f64x2.convert_low_i32x4_s",
    [0xff] = "f64x2.convert_low_i32x4_u",
    [0x100] = "i8x16.relaxed_swizzle",
    [0x101] = "i32x4.relaxed_trunc_f32x4_s",
    [0x102] = "i32x4.relaxed_trunc_f32x4_u",
    [0x103] = "i32x4.relaxed_trunc_f64x2_s_zero",
    [0x104] = "i32x4.relaxed_trunc_f64x2_u_zero",
    [0x105] = "f32x4.relaxed_madd",
    [0x106] = "f32x4.relaxed_nmadd",
    [0x107] = "f64x2.relaxed_madd",
    [0x108] = "f64x2.relaxed_nmadd",
    [0x109] = "i8x16.relaxed_laneselect",
    [0x10a] = "i16x8.relaxed_laneselect",
    [0x10b] = "i32x4.relaxed_laneselect",
    [0x10c] = "i64x2.relaxed_laneselect",
    [0x10d] = "f32x4.relaxed_min",
    [0x10e] = "f32x4.relaxed_max",
    [0x10f] = "f64x2.relaxed_min",
    [0x110] = "f64x2.relaxed_max",
    [0x111] = "i16x8.relaxed_q15mulr_s",
    [0x112] = "i16x8.relaxed_dot_i8x16_i7x16_s",
    [0x113] = "i32x4.relaxed_dot_i8x16_i7x16_add_s",
};

static void note_simd_insn(reader_t *r, size_t off, uint32_t op) {
    if (r->simd_insn)
        return;
    r->simd_insn = true;
    r->simd_insn_offset = off;
    if (op < SIMD_OPS && simd_names[op])
        snprintf(r->simd_insn_name, sizeof r->simd_insn_name, "%s", simd_names[op]);
    else
        snprintf(r->simd_insn_name, sizeof r->simd_insn_name, "simd opcode 0xfd 0x%x", op);
}

/* memarg: alignment exponent, then offset. Under multi-memory, bit 6 of the alignment
 * says a memory index follows it. */
static int read_memarg(reader_t *r) {
    uint32_t align, memidx, offset;
    TRY(read_u32(r, &align, "memarg alignment"));
    if (align & 0x40)
        TRY(read_u32(r, &memidx, "memarg memory index"));
    return read_u32(r, &offset, "memarg offset");
}

static int read_index(reader_t *r, const char *what) {
    uint32_t idx;
    return read_u32(r, &idx, what);
}

static int read_blocktype(reader_t *r) {
    size_t at = r->pos;
    if (r->pos >= r->end)
        return fail(r, at, "unexpected end of block type");
    uint8_t b = r->base[r->pos];
    if (b == 0x40 || is_valtype(b)) {
        r->pos++;
        if (b == WEFT_WASM_V128)
            note_v128(r, at, "v128 block type");
        return 0;
    }
    /* Otherwise a type index (multi-value), as a non-negative s33. */
    int64_t idx;
    TRY(read_sleb(r, 33, &idx, "block type"));
    if (idx < 0)
        return fail(r, at, "invalid block type 0x%02x", b);
    if (idx >= r->ntypes)
        return fail(r, at, "block type index %lld out of range (%u types)", (long long)idx,
                    r->ntypes);
    return 0;
}

/* One 0xfd instruction after its prefix byte (at `at`). */
static int read_simd(reader_t *r, size_t at, bool in_body) {
    uint32_t op;
    TRY(read_u32(r, &op, "SIMD opcode"));
    note_simd_insn(r, at, op);
    if (op >= SIMD_OPS || !simd_names[op]) {
        if (in_body)
            return SKIP_BODY;
        return fail(r, at, "unknown opcode 0xfd 0x%x", op);
    }
    uint8_t lane;
    if (op <= 0x0b || op == 0x5c || op == 0x5d)
        return read_memarg(r);
    if (op == 0x0c || op == 0x0d) /* v128.const's value, i8x16.shuffle's lanes */
        return skip_bytes(r, 16, "SIMD immediate");
    if (op >= 0x15 && op <= 0x22)
        return read_byte(r, &lane, "lane index");
    if (op >= 0x54 && op <= 0x5b) {
        TRY(read_memarg(r));
        return read_byte(r, &lane, "lane index");
    }
    return 0;
}

/* One 0xfc instruction after its prefix byte (at `at`). */
static int read_misc(reader_t *r, size_t at) {
    uint32_t op;
    TRY(read_u32(r, &op, "0xfc opcode"));
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: /* trunc_sat */
        return 0;
    case 8: /* memory.init data memory */
        TRY(read_index(r, "data index"));
        return read_index(r, "memory index");
    case 9: /* data.drop */
        return read_index(r, "data index");
    case 10: /* memory.copy dst src */
        TRY(read_index(r, "memory index"));
        return read_index(r, "memory index");
    case 11: /* memory.fill */
        return read_index(r, "memory index");
    case 12: /* table.init elem table */
        TRY(read_index(r, "element index"));
        return read_index(r, "table index");
    case 13: /* elem.drop */
        return read_index(r, "element index");
    case 14: /* table.copy dst src */
        TRY(read_index(r, "table index"));
        return read_index(r, "table index");
    case 15:
    case 16:
    case 17: /* table.grow, table.size, table.fill */
        return read_index(r, "table index");
    default:
        return fail(r, at, "unknown opcode 0xfc 0x%x", op);
    }
}

/* Decodes an expression: instructions up to the `end` that closes its outermost block,
 * leaving r->pos just past it. Function bodies (in_body) and constant expressions share
 * this decoder; which instructions a constant expression may hold is wasm2c's to check.
 * Returns SKIP_BODY (in bodies only) after a SIMD opcode with no known encoding. */
/* Records the loop whose block type was just read (the body starts at r->pos). */
static int note_loop(reader_t *r, bool empty) {
    weft_wasm_module_t *m = r->m;
    if (m->nloops == r->loops_cap) {
        uint32_t cap = r->loops_cap ? r->loops_cap * 2 : 64;
        weft_wasm_loop_t *grown = realloc(m->loops, (size_t)cap * sizeof *grown);
        if (!grown)
            return out_of_memory(r);
        m->loops = grown;
        r->loops_cap = cap;
    }
    m->loops[m->nloops++] =
        (weft_wasm_loop_t){.func = r->func, .label = r->labels, .body = r->pos, .empty = empty};
    return 0;
}

static int read_expr(reader_t *r, bool in_body) {
    const char *what = in_body ? "function body" : "constant expression";
    size_t depth = 1;
    for (;;) {
        size_t at = r->pos;
        uint8_t op;
        uint32_t n;
        int64_t imm;
        TRY(read_byte(r, &op, what));
        switch (op) {
        case 0x00:
        case 0x01: /* unreachable, nop */
        case 0x05: /* else */
        case 0x0f: /* return */
        case 0x19: /* catch_all */
        case 0x1a:
        case 0x1b: /* drop, select */
        case 0xd1: /* ref.is_null */
            break;
        case 0x02:
        case 0x03:
        case 0x04:
        case 0x06: /* block, loop, if, try */
            TRY(read_blocktype(r));
            if (op == 0x03 && in_body && r->m)
                TRY(note_loop(r, r->base[at + 1] == 0x40));
            if (op == 0x06 && r->m)
                r->m->uses_exceptions = true;
            r->labels++;
            depth++;
            break;
        case 0x0b: /* end */
            if (--depth == 0)
                return 0;
            break;
        case 0x07:
        case 0x08: /* catch, throw */
            TRY(read_index(r, "tag index"));
            if (r->m)
                r->m->uses_exceptions = true;
            break;
        case 0x09:
        case 0x0c:
        case 0x0d: /* rethrow, br, br_if */
            TRY(read_index(r, "label index"));
            break;
        case 0x18: /* delegate: ends its try */
            TRY(read_index(r, "label index"));
            if (depth < 2)
                return fail(r, at, "delegate outside a try block");
            depth--;
            break;
        case 0x0e: /* br_table */
            TRY(read_count(r, &n, UINT32_MAX, 1, "br_table targets"));
            for (uint32_t i = 0; i < n; i++)
                TRY(read_index(r, "label index"));
            TRY(read_index(r, "label index"));
            break;
        case 0x10:
        case 0x12: /* call, return_call */
        case 0xd2: /* ref.func */
            TRY(read_index(r, "function index"));
            break;
        case 0x11:
        case 0x13: /* call_indirect, return_call_indirect */
            TRY(read_index(r, "type index"));
            TRY(read_index(r, "table index"));
            break;
        case 0x1c: /* select t* */
            TRY(read_count(r, &n, UINT32_MAX, 1, "select types"));
            for (uint32_t i = 0; i < n; i++) {
                uint8_t t;
                TRY(read_valtype(r, &t, "v128 select type"));
            }
            break;
        case 0x20:
        case 0x21:
        case 0x22: /* local.get/set/tee */
            TRY(read_index(r, "local index"));
            break;
        case 0x23:
        case 0x24: /* global.get/set */
            TRY(read_index(r, "global index"));
            break;
        case 0x25:
        case 0x26: /* table.get/set */
            TRY(read_index(r, "table index"));
            break;
        case 0x3f:
        case 0x40: /* memory.size, memory.grow */
            TRY(read_index(r, "memory index"));
            break;
        case 0x41:
            TRY(read_sleb(r, 32, &imm, "i32.const"));
            break;
        case 0x42:
            TRY(read_sleb(r, 64, &imm, "i64.const"));
            break;
        case 0x43:
            TRY(skip_bytes(r, 4, "f32.const"));
            break;
        case 0x44:
            TRY(skip_bytes(r, 8, "f64.const"));
            break;
        case 0xd0: /* ref.null */
            TRY(read_reftype(r, "ref.null"));
            break;
        case 0xfc:
            TRY(read_misc(r, at));
            break;
        case 0xfd:
            TRY(read_simd(r, at, in_body));
            break;
        case 0xfe:
            return fail(r, at, "unsupported opcode 0xfe (threads and atomics)");
        default:
            if (op >= 0x28 && op <= 0x3e) { /* loads and stores */
                TRY(read_memarg(r));
                break;
            }
            if (op >= 0x45 && op <= 0xc4) /* numeric, sign extension: no immediates */
                break;
            return fail(r, at, "unknown opcode 0x%02x", op);
        }
    }
}

/* A constant expression; sets *is_i32_const and *value when it is exactly
 * `i32.const N end`, the only form weft copies into memory itself. */
static int read_const_expr(reader_t *r, bool *is_i32_const, uint32_t *value) {
    size_t start = r->pos;
    TRY(read_expr(r, false));
    if (!is_i32_const)
        return 0;
    *is_i32_const = false;
    if (r->base[start] != 0x41)
        return 0;
    reader_t t = *r;
    t.err = NULL;
    t.pos = start + 1;
    int64_t v;
    if (read_sleb(&t, 32, &v, "i32.const") == 0 && t.pos + 1 == r->pos && r->base[t.pos] == 0x0b) {
        *is_i32_const = true;
        *value = (uint32_t)v;
    }
    return 0;
}

/* ---- Sections -------------------------------------------------------------------------- */

static int read_type_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    uint32_t n;
    /* Smallest type: 0x60, no params, no results. */
    TRY(read_count(r, &n, WEFT_WASM_MAX_TYPES, 3, "types"));
    if (n) {
        m->types = calloc(n, sizeof *m->types);
        if (!m->types)
            return out_of_memory(r);
    }
    m->ntypes = n;
    for (uint32_t i = 0; i < n; i++) {
        weft_wasm_functype_t *t = &m->types[i];
        size_t at = r->pos;
        uint8_t form;
        TRY(read_byte(r, &form, "type"));
        if (form != 0x60)
            return fail(r, at, "type form 0x%02x is not a function type", form);
        TRY(read_valtypes(r, &t->nparams, &t->params, "params", "v128 param"));
        TRY(read_valtypes(r, &t->nresults, &t->results, "results", "v128 result"));
    }
    r->ntypes = n;
    return 0;
}

static int read_type_index(reader_t *r, uint32_t *idx, const char *what) {
    size_t at = r->pos;
    TRY(read_u32(r, idx, what));
    if (*idx >= r->ntypes)
        return fail(r, at, "%s %u out of range (%u types)", what, *idx, r->ntypes);
    return 0;
}

static int read_global_type(reader_t *r) {
    uint8_t t, mut;
    TRY(read_valtype(r, &t, "v128 global"));
    size_t at = r->pos;
    TRY(read_byte(r, &mut, "global mutability"));
    if (mut > 1)
        return fail(r, at, "invalid global mutability 0x%02x", mut);
    return 0;
}

static int read_table_type(reader_t *r) {
    uint32_t min, max;
    bool has_max;
    size_t at = r->pos;
    if (r->pos < r->end && r->base[r->pos] == 0x40)
        return fail(r, at, "tables with initializer expressions are not supported");
    TRY(read_reftype(r, "table type"));
    return read_limits(r, false, &min, &max, &has_max);
}

static int read_memory_type(reader_t *r, bool imported) {
    weft_wasm_memory_t mem = {.imported = imported};
    TRY(read_limits(r, true, &mem.initial_pages, &mem.max_pages, &mem.has_max));
    return add_memory(r, &mem);
}

static int read_tag_type(reader_t *r) {
    size_t at = r->pos;
    uint8_t attribute;
    uint32_t idx;
    TRY(read_byte(r, &attribute, "tag attribute"));
    if (attribute != 0)
        return fail(r, at, "invalid tag attribute 0x%02x", attribute);
    return read_type_index(r, &idx, "tag type index");
}

static int read_import_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    uint32_t n;
    /* Smallest import: two empty names, a kind and a one-byte description. */
    TRY(read_count(r, &n, WEFT_WASM_MAX_IMPORTS, 4, "imports"));
    if (n) {
        m->imports = calloc(n, sizeof *m->imports);
        if (!m->imports)
            return out_of_memory(r);
    }
    m->nimports = n;
    uint32_t nfunc = 0;
    for (uint32_t i = 0; i < n; i++) {
        weft_wasm_import_t *imp = &m->imports[i];
        imp->offset = r->pos;
        TRY(read_name(r, &imp->module, "import module name"));
        TRY(read_name(r, &imp->name, "import name"));
        size_t at = r->pos;
        TRY(read_byte(r, &imp->kind, "import kind"));
        switch (imp->kind) {
        case WEFT_EXTERN_FUNC:
            TRY(read_type_index(r, &imp->type_index, "import type index"));
            nfunc++;
            break;
        case WEFT_EXTERN_TABLE:
            TRY(read_table_type(r));
            r->ntables++;
            break;
        case WEFT_EXTERN_MEMORY:
            TRY(read_memory_type(r, true));
            break;
        case WEFT_EXTERN_GLOBAL:
            TRY(read_global_type(r));
            r->nglobals++;
            break;
        case WEFT_EXTERN_TAG:
            TRY(read_tag_type(r));
            r->ntags++;
            break;
        default:
            return fail(r, at, "invalid import kind 0x%02x", imp->kind);
        }
    }
    if (nfunc) {
        m->func_types = malloc((size_t)nfunc * sizeof *m->func_types);
        if (!m->func_types)
            return out_of_memory(r);
        for (uint32_t i = 0; i < n; i++)
            if (m->imports[i].kind == WEFT_EXTERN_FUNC)
                m->func_types[m->nfuncs++] = m->imports[i].type_index;
    }
    m->nfunc_imports = nfunc;
    return 0;
}

static int read_function_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    size_t at = r->pos;
    uint32_t n;
    TRY(read_count(r, &n, WEFT_WASM_MAX_FUNCS, 1, "functions"));
    if (n > WEFT_WASM_MAX_FUNCS - m->nfuncs)
        return fail(r, at, "too many functions: %u imported and %u defined (at most %u)", m->nfuncs,
                    n, WEFT_WASM_MAX_FUNCS);
    if (n) {
        uint32_t *p = realloc(m->func_types, ((size_t)m->nfuncs + n) * sizeof *p);
        if (!p)
            return out_of_memory(r);
        m->func_types = p;
    }
    for (uint32_t i = 0; i < n; i++) {
        TRY(read_type_index(r, &m->func_types[m->nfuncs], "function type index"));
        m->nfuncs++;
    }
    r->ndefined = n;
    return 0;
}

static int read_table_section(reader_t *r) {
    size_t at = r->pos;
    uint32_t n;
    TRY(read_count(r, &n, UINT32_MAX, 3, "tables"));
    for (uint32_t i = 0; i < n; i++)
        TRY(read_table_type(r));
    return add_count(r, &r->ntables, n, at, "tables");
}

static int read_memory_section(reader_t *r) {
    uint32_t n;
    TRY(read_count(r, &n, UINT32_MAX, 2, "memories"));
    for (uint32_t i = 0; i < n; i++)
        TRY(read_memory_type(r, false));
    return 0;
}

static int read_tag_section(reader_t *r) {
    size_t at = r->pos;
    uint32_t n;
    TRY(read_count(r, &n, UINT32_MAX, 2, "tags"));
    for (uint32_t i = 0; i < n; i++)
        TRY(read_tag_type(r));
    return add_count(r, &r->ntags, n, at, "tags");
}

static int read_global_section(reader_t *r) {
    size_t at = r->pos;
    uint32_t n;
    TRY(read_count(r, &n, UINT32_MAX, 3, "globals"));
    for (uint32_t i = 0; i < n; i++) {
        TRY(read_global_type(r));
        TRY(read_const_expr(r, NULL, NULL));
    }
    return add_count(r, &r->nglobals, n, at, "globals");
}

static int read_export_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    uint32_t n;
    TRY(read_count(r, &n, WEFT_WASM_MAX_EXPORTS, 3, "exports"));
    if (n) {
        m->exports = calloc(n, sizeof *m->exports);
        if (!m->exports)
            return out_of_memory(r);
    }
    m->nexports = n;
    for (uint32_t i = 0; i < n; i++) {
        weft_wasm_export_t *ex = &m->exports[i];
        TRY(read_name(r, &ex->name, "export name"));
        size_t at = r->pos;
        TRY(read_byte(r, &ex->kind, "export kind"));
        size_t idx_at = r->pos;
        TRY(read_u32(r, &ex->index, "export index"));
        static const char *const kinds[] = {"function", "table", "memory", "global", "tag"};
        uint32_t limit;
        switch (ex->kind) {
        case WEFT_EXTERN_FUNC:
            limit = m->nfuncs;
            break;
        case WEFT_EXTERN_TABLE:
            limit = r->ntables;
            break;
        case WEFT_EXTERN_MEMORY:
            limit = m->nmemories;
            break;
        case WEFT_EXTERN_GLOBAL:
            limit = r->nglobals;
            break;
        case WEFT_EXTERN_TAG:
            limit = r->ntags;
            break;
        default:
            return fail(r, at, "invalid export kind 0x%02x", ex->kind);
        }
        if (ex->index >= limit)
            return fail(r, idx_at, "export \"%s\" refers to %s %u, but there are %u", ex->name,
                        kinds[ex->kind], ex->index, limit);
    }
    return 0;
}

static int read_start_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    size_t at = r->pos;
    TRY(read_u32(r, &m->start_func, "start function"));
    if (m->start_func >= m->nfuncs)
        return fail(r, at, "start function %u out of range (%u functions)", m->start_func,
                    m->nfuncs);
    m->has_start = true;
    return 0;
}

/* Element segments, in all eight forms of the flags: bit 0 passive or declarative, bit 1
 * an explicit table index (active) or declarative (passive), bit 2 expressions instead of
 * function indices. Read for their shape only: weft keeps nothing from them. */
static int read_element_section(reader_t *r) {
    uint32_t n;
    TRY(read_count(r, &n, UINT32_MAX, 3, "element segments"));
    for (uint32_t i = 0; i < n; i++) {
        size_t at = r->pos;
        uint32_t flags, count;
        TRY(read_u32(r, &flags, "element segment flags"));
        if (flags > 7)
            return fail(r, at, "invalid element segment flags %u", flags);
        if (!(flags & 1)) {
            if (flags & 2) {
                size_t t_at = r->pos;
                uint32_t table;
                TRY(read_u32(r, &table, "table index"));
                if (table >= r->ntables)
                    return fail(r, t_at, "element segment table %u out of range (%u tables)", table,
                                r->ntables);
            }
            TRY(read_const_expr(r, NULL, NULL));
        }
        if (flags & 3) {
            if (flags & 4) {
                TRY(read_reftype(r, "element segment"));
            } else {
                size_t k_at = r->pos;
                uint8_t kind;
                TRY(read_byte(r, &kind, "element kind"));
                if (kind != 0)
                    return fail(r, k_at, "invalid element kind 0x%02x", kind);
            }
        }
        TRY(read_count(r, &count, UINT32_MAX, 1, "elements"));
        for (uint32_t k = 0; k < count; k++) {
            if (flags & 4) {
                TRY(read_const_expr(r, NULL, NULL));
            } else {
                size_t f_at = r->pos;
                uint32_t func;
                TRY(read_u32(r, &func, "function index"));
                if (func >= r->m->nfuncs)
                    return fail(r, f_at, "element function %u out of range (%u functions)", func,
                                r->m->nfuncs);
            }
        }
    }
    return 0;
}

static int read_datacount_section(reader_t *r) {
    TRY(read_u32(r, &r->datacount, "data count"));
    r->has_datacount = true;
    return 0;
}

static int read_code_section(reader_t *r) {
    size_t at = r->pos;
    uint32_t n;
    TRY(read_count(r, &n, WEFT_WASM_MAX_FUNCS, 2, "function bodies"));
    if (n != r->ndefined)
        return fail(r, at, "the code section has %u function bodies, the function section %u", n,
                    r->ndefined);
    size_t section_end = r->end;
    if (n && (!(r->m->body_start = calloc(n, sizeof *r->m->body_start)) ||
              !(r->m->body_end = calloc(n, sizeof *r->m->body_end))))
        return out_of_memory(r);
    for (uint32_t i = 0; i < n; i++) {
        size_t size_at = r->pos;
        uint32_t size;
        TRY(read_u32(r, &size, "function body size"));
        if (size > remaining(r))
            return fail(r, size_at, "function body size %u is past the end of the section", size);
        size_t body_end = r->pos + size;
        r->m->body_start[i] = r->pos;
        r->m->body_end[i] = body_end;
        r->func = i;
        r->labels = 0;
        r->end = body_end;
        uint32_t groups;
        uint64_t nlocals = 0;
        TRY(read_count(r, &groups, UINT32_MAX, 2, "local declarations"));
        for (uint32_t g = 0; g < groups; g++) {
            size_t l_at = r->pos;
            uint32_t count;
            uint8_t t;
            TRY(read_u32(r, &count, "local count"));
            nlocals += count;
            if (nlocals > WASM_MAX_LOCALS)
                return fail(r, l_at, "too many locals in function %u (at most %u)",
                            r->m->nfunc_imports + i, WASM_MAX_LOCALS);
            TRY(read_valtype(r, &t, "v128 local"));
        }
        int rc = read_expr(r, true);
        if (rc == SKIP_BODY)
            r->pos = body_end;
        else if (rc)
            return rc;
        if (r->pos != body_end)
            return fail(r, r->pos, "function body has %zu bytes after its final end",
                        body_end - r->pos);
        r->end = section_end;
    }
    return 0;
}

static int read_data_section(reader_t *r) {
    weft_wasm_module_t *m = r->m;
    size_t at = r->pos;
    uint32_t n;
    /* Smallest segment: passive flags and an empty byte vector. */
    TRY(read_count(r, &n, WEFT_WASM_MAX_DATA_SEGMENTS, 2, "data segments"));
    if (r->has_datacount && n != r->datacount)
        return fail(r, at, "the data section has %u segments, the data count section %u", n,
                    r->datacount);
    if (n) {
        m->data = calloc(n, sizeof *m->data);
        if (!m->data)
            return out_of_memory(r);
    }
    m->ndata = n;
    for (uint32_t i = 0; i < n; i++) {
        weft_wasm_data_t *d = &m->data[i];
        size_t seg_at = r->pos;
        TRY(read_u32(r, &d->flags, "data segment flags"));
        if (d->flags > 2)
            return fail(r, seg_at, "invalid data segment flags %u", d->flags);
        if (d->flags == 2)
            TRY(read_u32(r, &d->memidx, "data segment memory index"));
        if (d->flags != 1) {
            if (d->memidx >= m->nmemories)
                return fail(r, seg_at, "data segment %u is for memory %u, but there are %u", i,
                            d->memidx, m->nmemories);
            TRY(read_const_expr(r, &d->offset_is_const, &d->offset));
        }
        uint32_t len;
        TRY(read_u32(r, &len, "data segment size"));
        d->bytes_offset = r->pos;
        d->bytes_len = len;
        TRY(skip_bytes(r, len, "data segment"));
    }
    return 0;
}

static int read_custom_section(reader_t *r) {
    TRY(read_name(r, NULL, "custom section name"));
    r->pos = r->end; /* the contents are for other tools */
    return 0;
}

static int read_section(reader_t *r, uint8_t id) {
    switch (id) {
    case SEC_CUSTOM:
        return read_custom_section(r);
    case SEC_TYPE:
        return read_type_section(r);
    case SEC_IMPORT:
        return read_import_section(r);
    case SEC_FUNCTION:
        return read_function_section(r);
    case SEC_TABLE:
        return read_table_section(r);
    case SEC_MEMORY:
        return read_memory_section(r);
    case SEC_GLOBAL:
        return read_global_section(r);
    case SEC_EXPORT:
        return read_export_section(r);
    case SEC_START:
        return read_start_section(r);
    case SEC_ELEMENT:
        return read_element_section(r);
    case SEC_CODE:
        return read_code_section(r);
    case SEC_DATA:
        return read_data_section(r);
    case SEC_DATACOUNT:
        return read_datacount_section(r);
    case SEC_TAG:
        return read_tag_section(r);
    default:
        return fail(r, r->pos, "unknown section id %u", id);
    }
}

static int read_header(reader_t *r) {
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    if (r->end < 4 || memcmp(r->base, magic, 4) != 0)
        return fail(r, 0, "not a WebAssembly module (no \\0asm magic)");
    if (r->end < 8)
        return fail(r, 4, "unexpected end of version");
    const uint8_t *v = r->base + 4;
    uint32_t version = v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
    /* The component model's layer 1, version 0xd (what wasi:http and Spin 2's
     * components are): a container of core modules and types that weft cannot run. */
    if (version == 0x1000d)
        return fail(r, 4,
                    "a WebAssembly component (component model, e.g. wasi:http), not a core "
                    "module; weft runs core modules only (Spin 1 handlers, WAGI and WASI "
                    "preview1)");
    if (version != 1)
        return fail(r, 4, "unsupported WebAssembly version 0x%x (expected 1)", version);
    r->pos = 8;
    return 0;
}

static int read_module(reader_t *r) {
    size_t file_end = r->end;
    uint8_t last_rank = 0, last_id = 0;
    bool has_code = false;
    TRY(read_header(r));
    while (r->pos < file_end) {
        size_t sec_at = r->pos;
        uint8_t id;
        uint32_t size;
        TRY(read_byte(r, &id, "section id"));
        if (id >= SEC_COUNT_)
            return fail(r, sec_at, "unknown section id %u", id);
        size_t size_at = r->pos;
        TRY(read_u32(r, &size, "section size"));
        if (size > file_end - r->pos)
            return fail(r, size_at,
                        "%s section size %u is past the end of the file (%zu bytes left)",
                        section_names[id], size, file_end - r->pos);
        if (id != SEC_CUSTOM) {
            if (section_rank[id] == last_rank)
                return fail(r, sec_at, "duplicate %s section", section_names[id]);
            if (section_rank[id] < last_rank)
                return fail(r, sec_at, "%s section out of order (after the %s section)",
                            section_names[id], section_names[last_id]);
            last_rank = section_rank[id];
            last_id = id;
        }
        r->end = r->pos + size;
        TRY(read_section(r, id));
        if (r->pos != r->end)
            return fail(r, r->pos, "%s section has %zu bytes past its contents", section_names[id],
                        r->end - r->pos);
        if (id == SEC_DATA) {
            r->m->data_section_offset = sec_at;
            r->m->data_section_end = r->end;
        }
        if (id == SEC_CODE)
            has_code = true;
        r->end = file_end;
    }
    if (r->ndefined && !has_code)
        return fail(r, file_end,
                    "the function section declares %u functions but there is no "
                    "code section",
                    r->ndefined);
    if (r->has_datacount && r->datacount && !r->m->data_section_end)
        return fail(r, file_end,
                    "the data count section says %u segments but there is no data "
                    "section",
                    r->datacount);
    return 0;
}

int weft_wasm_read(const uint8_t *bytes, size_t len, weft_wasm_module_t *m, weft_error_t *err) {
    memset(m, 0, sizeof *m);
    if (!bytes && len)
        return weft_error_set(err, WEFT_EINVAL, "no module bytes");
    static const uint8_t empty[1];
    reader_t r = {.base = bytes ? bytes : empty, .end = len, .err = err, .m = m};
    int rc = read_module(&r);
    if (rc) {
        weft_wasm_module_free(m);
        return rc;
    }
    /* An instruction names the problem better than a type, even when the type is first. */
    if (r.simd_insn) {
        m->uses_simd = true;
        m->simd_offset = r.simd_insn_offset;
        snprintf(m->simd_name, sizeof m->simd_name, "%s", r.simd_insn_name);
    } else if (r.simd_type) {
        m->uses_simd = true;
        m->simd_offset = r.simd_type_offset;
        snprintf(m->simd_name, sizeof m->simd_name, "%s", r.simd_type_what);
    }
    return 0;
}

bool weft_wasm_leb_u32(const uint8_t *b, size_t end, size_t *pos, uint32_t *out) {
    reader_t r = {.base = b, .pos = *pos, .end = end};
    weft_error_t ignored;
    r.err = &ignored;
    if (read_u32(&r, out, "LEB128"))
        return false;
    *pos = r.pos;
    return true;
}

bool weft_wasm_leb_s(const uint8_t *b, size_t end, size_t *pos, unsigned bits, int64_t *out) {
    reader_t r = {.base = b, .pos = *pos, .end = end};
    weft_error_t ignored;
    r.err = &ignored;
    if (read_sleb(&r, bits, out, "LEB128"))
        return false;
    *pos = r.pos;
    return true;
}

void weft_wasm_module_free(weft_wasm_module_t *m) {
    if (!m)
        return;
    free(m->body_start);
    free(m->body_end);
    free(m->loops);
    for (uint32_t i = 0; i < m->ntypes; i++) {
        free(m->types[i].params);
        free(m->types[i].results);
    }
    free(m->types);
    for (uint32_t i = 0; i < m->nimports; i++) {
        free(m->imports[i].module);
        free(m->imports[i].name);
    }
    free(m->imports);
    free(m->func_types);
    free(m->memories);
    for (uint32_t i = 0; i < m->nexports; i++)
        free(m->exports[i].name);
    free(m->exports);
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- Signatures ------------------------------------------------------------------------ */

static const char *valtype_name(uint8_t t) {
    switch (t) {
    case WEFT_WASM_I32:
        return "i32";
    case WEFT_WASM_I64:
        return "i64";
    case WEFT_WASM_F32:
        return "f32";
    case WEFT_WASM_F64:
        return "f64";
    case WEFT_WASM_V128:
        return "v128";
    case WEFT_WASM_FUNCREF:
        return "funcref";
    case WEFT_WASM_EXTERNREF:
        return "externref";
    default:
        return "?";
    }
}

/* Appends to out[*used..size) like snprintf, and stops writing (but keeps the string
 * NUL-terminated) once it is full. */
static void append(char *out, size_t size, size_t *used, const char *s) {
    size_t n = strlen(s);
    if (*used + 1 >= size)
        return;
    size_t room = size - *used - 1;
    if (n > room)
        n = room;
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = 0;
}

static void append_types(char *out, size_t size, size_t *used, const char *label, uint32_t n,
                         const uint8_t *types) {
    if (!n)
        return;
    append(out, size, used, " (");
    append(out, size, used, label);
    for (uint32_t i = 0; i < n; i++) {
        append(out, size, used, " ");
        append(out, size, used, valtype_name(types[i]));
    }
    append(out, size, used, ")");
}

void weft_wasm_functype_str(const weft_wasm_functype_t *t, char *out, size_t size) {
    size_t used = 0;
    if (!size)
        return;
    out[0] = 0;
    append(out, size, &used, "(func");
    append_types(out, size, &used, "param", t->nparams, t->params);
    append_types(out, size, &used, "result", t->nresults, t->results);
    append(out, size, &used, ")");
}

static char sig_letter(uint8_t t) {
    switch (t) {
    case WEFT_WASM_I32:
        return 'i';
    case WEFT_WASM_I64:
        return 'I';
    case WEFT_WASM_F32:
        return 'f';
    case WEFT_WASM_F64:
        return 'F';
    default:
        return 0;
    }
}

bool weft_wasm_functype_sig(const weft_wasm_functype_t *t, char *out, size_t size) {
    if (!size)
        return false;
    out[0] = 0;
    /* params, ':', results, NUL */
    if ((uint64_t)t->nparams + t->nresults + 2 > size)
        return false;
    size_t k = 0;
    for (uint32_t i = 0; i < t->nparams; i++)
        if (!(out[k++] = sig_letter(t->params[i])))
            goto refuse;
    out[k++] = ':';
    for (uint32_t i = 0; i < t->nresults; i++)
        if (!(out[k++] = sig_letter(t->results[i])))
            goto refuse;
    out[k] = 0;
    return true;
refuse:
    out[0] = 0;
    return false;
}

/* ---- Stripping data -------------------------------------------------------------------- */

static int mismatch(weft_error_t *err, size_t off) {
    return weft_error_set(err, WEFT_EINVAL,
                          "offset 0x%zx: the module facts given do not match these bytes", off);
}

static void put_u32(uint8_t *p, size_t *k, uint32_t v) {
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        p[(*k)++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
}

/* The data section is read again rather than trusted from m because stripping needs the
 * spans m does not keep (where each segment starts, where its size is); m is then
 * checked against what is found, so facts from other bytes are refused, not applied. */
int weft_wasm_strip_data(const uint8_t *bytes, size_t len, const weft_wasm_module_t *m,
                         uint8_t **out, size_t *out_len, weft_error_t *err) {
    int rc = 0;
    weft_buf_t content = {0};
    uint8_t *res = NULL;
    *out = NULL;
    *out_len = 0;
    size_t off = m->data_section_offset, end = m->data_section_end;
    if (!bytes && len)
        return weft_error_set(err, WEFT_EINVAL, "no module bytes");
    if (!off && !end) {
        res = malloc(len ? len : 1);
        if (!res)
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        if (len)
            memcpy(res, bytes, len);
        *out = res;
        *out_len = len;
        return 0;
    }
    if (off < 8 || off >= end || end > len || bytes[off] != SEC_DATA)
        return mismatch(err, off);

    reader_t r = {.base = bytes, .pos = off + 1, .end = end, .err = err, .ntypes = m->ntypes};
    uint32_t size, count;
    if ((rc = read_u32(&r, &size, "section size")))
        goto out;
    if (size != end - r.pos) {
        rc = mismatch(err, off);
        goto out;
    }
    size_t count_at = r.pos;
    if ((rc = read_u32(&r, &count, "data segment count")))
        goto out;
    if (count != m->ndata) {
        rc = mismatch(err, count_at);
        goto out;
    }
    if ((rc = weft_buf_append(&content, bytes + count_at, r.pos - count_at)))
        goto oom;
    for (uint32_t i = 0; i < count; i++) {
        const weft_wasm_data_t *d = &m->data[i];
        size_t seg_at = r.pos;
        uint32_t flags, memidx, blen;
        if ((rc = read_u32(&r, &flags, "data segment flags")))
            goto out;
        if (flags == 2 && (rc = read_u32(&r, &memidx, "data segment memory index")))
            goto out;
        if (flags != 1 && (rc = read_const_expr(&r, NULL, NULL)))
            goto out;
        size_t head_end = r.pos;
        if ((rc = read_u32(&r, &blen, "data segment size")))
            goto out;
        if (flags != d->flags || r.pos != d->bytes_offset || blen != d->bytes_len ||
            blen > remaining(&r)) {
            rc = mismatch(err, seg_at);
            goto out;
        }
        r.pos += blen;
        if (flags != 1 && d->offset_is_const) {
            static const uint8_t no_bytes = 0;
            rc = weft_buf_append(&content, bytes + seg_at, head_end - seg_at);
            if (!rc)
                rc = weft_buf_append(&content, &no_bytes, 1);
        } else {
            rc = weft_buf_append(&content, bytes + seg_at, r.pos - seg_at);
        }
        if (rc)
            goto oom;
    }
    if (r.pos != end) {
        rc = mismatch(err, r.pos);
        goto out;
    }
    if (content.len > UINT32_MAX) { /* cannot happen: content only shrinks */
        rc = mismatch(err, off);
        goto out;
    }

    size_t total = off + 1 + 5 + content.len + (len - end);
    res = malloc(total);
    if (!res)
        goto oom;
    size_t k = off;
    memcpy(res, bytes, off);
    res[k++] = SEC_DATA;
    put_u32(res, &k, (uint32_t)content.len);
    if (content.len)
        memcpy(res + k, content.data, content.len);
    k += content.len;
    if (len > end)
        memcpy(res + k, bytes + end, len - end);
    k += len - end;
    *out = res;
    *out_len = k;
    res = NULL;
    goto out;
oom:
    rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
out:
    free(res);
    weft_buf_free(&content);
    return rc;
}
