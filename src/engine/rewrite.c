/* rewrite: wasm2c's module.c made safer and faster before it is compiled: every call of
 * a host function keeps a reserve of native stack, and loads and stores read the
 * memory's base once per function.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ---- Faster loads and stores ------------------------------------------------------------ */

/* wasm2c 1.0.32 passes &instance->memory to every load and store, which read
 * memory->data each time; since a store through a byte pointer may alias that field,
 * the C compiler must reload the base after every store. weft's memories never move
 * (they grow in place inside their reservation), so each function can read the base
 * once: this text, inserted after wasm2c's own load/store helpers, redefines them to
 * use a base read by FUNC_PROLOGUE at the top of every function. Only for modules with
 * exactly one memory, which is all weft runs.
 *
 * A load or store is one access of its own type, unaligned and allowed to alias
 * anything (may_alias, as char is), not wasm2c's memcpy: gcc turns a 4-byte memcpy
 * into an integer load, so a float that is loaded into a register it cannot keep (a
 * 5x5 convolution's 25 weights) went through an integer register and the stack (a
 * load, a store and a reload for each use); typed, it is one movss (conv2d 1.74 s ->
 * 1.33 s, bench/README.md). */
#define WEFT_LOAD_STORE_ANCHOR "DEFINE_STORE(i64_store32, u32, u64)\n"
static const char fast_memory_text[] =
    "\n/* weft: the memory never moves; each function reads its base once. */\n"
    "#undef FUNC_PROLOGUE\n"
    "#define FUNC_PROLOGUE u8 *const weft_mb __attribute__((unused)) = instance->MEMORY.data\n"
    /* A load whose value is unused must still trap when out of bounds, and with guard
     * pages only the access itself can: the empty asm that takes the value keeps the C
     * compiler from deleting the load (as wasm2c's later FORCE_READ does). Floats are
     * handed over in their own registers where the compiler knows the constraint. */
    "#if defined(__x86_64__) && !defined(__TINYC__)\n#define WEFT_FREG \"x\"\n"
    "#elif defined(__aarch64__) && !defined(__TINYC__)\n#define WEFT_FREG \"w\"\n"
    "#else\n#define WEFT_FREG \"r\"\n#endif\n"
    "#define WEFT_LOAD_(name, t1, t2, t3, reg) static inline t3 weft_##name(u8 *mb, u64 addr) "
    "{ typedef t1 __attribute__((aligned(1), may_alias)) ua; t1 r = *(const ua *)(mb + addr); "
    "__asm__(\"\" ::reg(r)); return (t3)(t2)r; }\n"
    "#define WEFT_LOAD(name, t1, t2, t3) WEFT_LOAD_(name, t1, t2, t3, \"r\")\n"
    "#define WEFT_STORE(name, t1, t2) static inline void weft_##name(u8 *mb, u64 addr, t2 v) "
    "{ typedef t1 __attribute__((aligned(1), may_alias)) ua; *(ua *)(mb + addr) = (t1)v; }\n"
    "WEFT_LOAD(i32_load, u32, u32, u32)\nWEFT_LOAD(i64_load, u64, u64, u64)\n"
    "WEFT_LOAD_(f32_load, f32, f32, f32, WEFT_FREG)\n"
    "WEFT_LOAD_(f64_load, f64, f64, f64, WEFT_FREG)\n"
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

/* Appends c[0..len) to out with every call of an import guarded as above; nonzero
 * when out of memory. */
static int guard_host_calls(weft_buf_t *out, const char *c, size_t len) {
    const char *p = c, *end = c + len;
    int rc = 0;
    for (;;) {
        const char *at = weft_find_in(p, end, WEFT_HOST_CALL_PREFIX);
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

/* Appends c[0..len) to out with every `from` replaced by `to`; nonzero when out of
 * memory. */
static int replace_all(weft_buf_t *out, const char *c, size_t len, const char *from,
                       const char *to) {
    const char *p = c, *end = c + len;
    int rc = 0;
    for (const char *at; (at = weft_find_in(p, end, from)); p = at + strlen(from)) {
        rc |= weft_buf_append(out, p, (size_t)(at - p));
        rc |= weft_buf_puts(out, to);
    }
    return rc | weft_buf_append(out, p, (size_t)(end - p));
}

/* ---- f32.neg and f64.neg flip the sign bit, NaNs too ----------------------------------- *
 *
 * wasm2c writes a float negation as C's unary minus, "-(w2c_f0)" (f32) or "-(w2c_d0)"
 * (f64). gcc compiles that as a flip of the sign bit, as wasm wants, but tcc (the fast
 * tier) as a subtraction from -0.0, which quiets a NaN and leaves its sign
 * (tests/engine/wast/float.wast). So every negation becomes WEFT_FNEG32/64, defined at
 * the top of the file: the unary minus for other compilers, a flip of the bit for tcc. */
static const char fneg_text[] =
    "/* weft: float negation flips the sign bit (tcc: not a subtraction). */\n"
    "#ifdef __TINYC__\n"
    "static inline float weft_fneg32(float x) { union { float f; unsigned u; } v; v.f = x; "
    "v.u ^= 0x80000000u; return v.f; }\n"
    "static inline double weft_fneg64(double x) { union { double d; unsigned long long u; } v; "
    "v.d = x; v.u ^= 0x8000000000000000ull; return v.d; }\n"
    "#define WEFT_FNEG32(x) weft_fneg32(x)\n#define WEFT_FNEG64(x) weft_fneg64(x)\n"
    "#else\n#define WEFT_FNEG32(x) (-(x))\n#define WEFT_FNEG64(x) (-(x))\n#endif\n";

/* Rewrites tmp/module.c: host calls guarded, float negations as above, and fast_memory_text (MEMORY
 * replaced by the field name) after the load/store helpers when the module has a memory. A module.c
 * without the anchor gets no fast memory access: correct, only slower. */
int weft_rewrite_module_c(const char *tmp, const char *memory_field, const uint8_t *wasm,
                          const weft_wasm_module_t *m, weft_error_t *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    uint8_t *c = NULL;
    size_t len;
    int rc = weft_file_read(path, &c, &len, err);
    if (rc)
        return rc;
    weft_buf_t out = {0}, neg = {0};
    char *at = memory_field[0] ? strstr((char *)c, WEFT_LOAD_STORE_ANCHOR) : NULL;
    size_t head = at ? (size_t)(at - (char *)c) + strlen(WEFT_LOAD_STORE_ANCHOR) : 0;
    rc = weft_buf_puts(&out, fneg_text);
    rc |= weft_buf_append(&out, c, head);
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
    weft_buf_t final = {0};
    if (!rc)
        rc = replace_all(&neg, (const char *)out.data, out.len, "-(w2c_f", "WEFT_FNEG32(w2c_f");
    weft_buf_free(&out);
    if (!rc)
        rc = replace_all(&final, (const char *)neg.data, neg.len, "-(w2c_d", "WEFT_FNEG64(w2c_d");
    weft_buf_free(&neg);
    weft_buf_t looped = {0};
    int versioned = 0;
    if (!rc)
        rc = weft_loops_version(wasm, m, memory_field, (const char *) final.data, final.len,
                                &looped, &versioned);
    if (!rc && versioned) {
        weft_buf_free(&final);
        final = looped;
    } else {
        weft_buf_free(&looped);
    }
    if (rc) {
        weft_buf_free(&final);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    rc = weft_file_write_atomic(path, final.data, final.len, err);
    weft_buf_free(&final);
    return rc;
}

/* What the rewrite inserts, for the cache key: a change to it must compile anew. The
 * guard's text is named by its prefix and a revision, bumped when guard_host_calls
 * changes what it writes; the negations by their definitions. */
#define WEFT_HOST_CALL_GUARD_REVISION "host-call guard 1: (weft_rt_host_call(), *"
const char *weft_rewrite_text(void) {
    return fast_memory_text;
}
const char *weft_rewrite_guard_text(void) {
    return WEFT_HOST_CALL_GUARD_REVISION;
}
const char *weft_rewrite_fneg_text(void) {
    return fneg_text;
}
