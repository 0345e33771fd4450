/* loops: a second copy of simple counted loops, with 64-bit addresses the C compiler
 * can vectorize.
 *
 * wasm2c writes a wasm address as `(u64)(u32)(p + i)`: an unsigned 32-bit sum that may
 * wrap, zero-extended. gcc cannot prove that it does not wrap, so it sees no affine
 * access pattern in a loop and vectorizes nothing (bench/README.md, "Why matmul stays
 * near 3x"). This pass finds innermost loops simple enough to reason about, and puts
 * before each a guard and a copy of the loop in which every i32 value is computed in 64
 * bits, so that addresses are plain linear functions of a 64-bit counter.
 *
 * Why the copy computes the same thing. add, sub, mul, shl, and, or and xor give the
 * same low 32 bits whatever the bits above them (arithmetic modulo 2^32 is a ring
 * homomorphism of the 64-bit one), so an i32 value kept in a u64 always holds the wasm
 * value in its low half; every other operation (compares, right shifts, conversions)
 * reads only that half. A value is only used whole as an address, and there only when
 * it is an affine function of the loop's induction variables: then it is linear in the
 * iteration number t, and the guard checks at the first and the last iteration that it
 * lies within the memory, so it is the wasm address itself (no wrap) and no access of
 * the copy can trap. The guard also works out the trip count from the exit condition,
 * exactly and in 128-bit arithmetic, so the copy runs as a counted `for`. When any
 * check fails, the original loop runs, unchanged.
 *
 * Eligible: a loop with an empty block type whose body is straight-line code (locals,
 * constants, loads and stores, integer arithmetic without division and rotation, float
 * arithmetic without min, max and sqrt, a few conversions) ending in `br_if 0; end`,
 * where the condition is a comparison (or a value tested against zero) of affine values.
 * Only in modules without exception handling. And only loops gcc can vectorize get a
 * copy: every address affine, at least one store, nothing carried from one iteration to
 * the next but the induction variables (see version()).
 *
 * The copy is compiled by gcc and clang only (tcc, the fast tier, keeps the original).
 * The accesses of a vectorized copy may run in another order than the original's, which
 * nobody can observe: the copy runs only when none of its guarded accesses can trap.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* The text this pass inserts once, among wasm2c's helpers, when it versions a loop. It
 * is the pass's part of the artifact cache key (weft_loops_text): bump its revision
 * whenever what the pass writes changes, so that no artifact compiled from the old text
 * is reused. */
static const char loops_prelude[] =
    "\n/* weft: loops versioned in 64-bit addresses (loops.c, revision 4). */\n"
    "typedef u8 __attribute__((aligned(1), may_alias)) weft_uu8;\n"
    "typedef s8 __attribute__((aligned(1), may_alias)) weft_us8;\n"
    "typedef u16 __attribute__((aligned(1), may_alias)) weft_uu16;\n"
    "typedef s16 __attribute__((aligned(1), may_alias)) weft_us16;\n"
    "typedef u32 __attribute__((aligned(1), may_alias)) weft_uu32;\n"
    "typedef s32 __attribute__((aligned(1), may_alias)) weft_us32;\n"
    "typedef u64 __attribute__((aligned(1), may_alias)) weft_uu64;\n"
    "typedef f32 __attribute__((aligned(1), may_alias)) weft_uf32;\n"
    "typedef f64 __attribute__((aligned(1), may_alias)) weft_uf64;\n"
    "static inline f32 weft_f32_bits(u32 b) { f32 f; memcpy(&f, &b, 4); return f; }\n"
    "static inline f64 weft_f64_bits(u64 b) { f64 f; memcpy(&f, &b, 8); return f; }\n"
    "#if defined(__SIZEOF_INT128__) && !defined(__TINYC__)\n#define WEFT_LOOPS 1\n"
    "typedef __int128 weft_w;\n#else\n#define WEFT_LOOPS 0\n#endif\n"
    /* gcc -O2's very cheap cost model vectorizes no loop that needs a run-time alias
     * check, which every loop over guest memory does: the copies get the cheap one. */
    "#if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)\n"
    "#define WEFT_LOOPS_FN __attribute__((noinline, optimize(\"vect-cost-model=cheap\")))\n"
    "#else\n#define WEFT_LOOPS_FN\n#endif\n";

/* Bounds that keep every product and sum of the guard far inside 128 bits, and the
 * pass's work small. */
#define MAX_SYMS 4
#define MAX_COEF (1 << 20)
#define MAX_CONST (1LL << 40)
#define MAX_STACK 64
#define MAX_ACCESSES 256
#define MAX_BODY_BYTES 16384
#define MAX_LOCALS 4096

/* c + sum k[i] * X(sym[i]), X(v) being local v's value (zero-extended) when an iteration
 * begins; ok is false for a value that is not such a function. */
typedef struct aff {
    bool ok;
    int n;
    int64_t c;
    uint32_t sym[MAX_SYMS];
    int64_t k[MAX_SYMS];
} aff_t;

static const aff_t not_affine = {.ok = false};

static aff_t aff_const(int64_t c) {
    return (aff_t){.ok = true, .c = c};
}

static bool aff_bounded(const aff_t *a) {
    if (a->c > MAX_CONST || a->c < -MAX_CONST)
        return false;
    for (int i = 0; i < a->n; i++)
        if (a->k[i] > MAX_COEF || a->k[i] < -MAX_COEF)
            return false;
    return true;
}

/* a + sign * b */
static aff_t aff_add(aff_t a, const aff_t *b, int sign) {
    if (!a.ok || !b->ok)
        return not_affine;
    a.c += sign * b->c;
    for (int j = 0; j < b->n; j++) {
        int i = 0;
        while (i < a.n && a.sym[i] != b->sym[j])
            i++;
        if (i == a.n) {
            if (a.n == MAX_SYMS)
                return not_affine;
            a.sym[a.n] = b->sym[j];
            a.k[a.n++] = 0;
        }
        a.k[i] += sign * b->k[j];
    }
    int w = 0; /* drop the symbols that cancelled */
    for (int i = 0; i < a.n; i++)
        if (a.k[i]) {
            a.sym[w] = a.sym[i];
            a.k[w++] = a.k[i];
        }
    a.n = w;
    return aff_bounded(&a) ? a : not_affine;
}

static aff_t aff_scale(aff_t a, int64_t f) {
    if (!a.ok || f > MAX_COEF || f < -MAX_COEF)
        return not_affine;
    a.c *= f;
    for (int i = 0; i < a.n; i++)
        a.k[i] *= f;
    if (!f)
        a.n = 0;
    return aff_bounded(&a) ? a : not_affine;
}

/* ---- The loop's body, evaluated symbolically ------------------------------------------- */

enum { T_I32 = 0x7f, T_I64 = 0x7e, T_F32 = 0x7d, T_F64 = 0x7c };

typedef struct val {
    uint8_t type;
    uint32_t id; /* the C temporary v<id> */
    aff_t a;     /* i32 values only */
    /* A comparison's operands (both i32), for the exit condition. */
    uint8_t cmp; /* its opcode, 0 when none */
    aff_t ca, cb;
} val_t;

typedef struct access {
    aff_t addr;
    uint32_t offset, width;
} access_t;

typedef struct loop_ctx {
    const uint8_t *b;
    size_t end;
    uint32_t nlocals;
    const uint8_t *types; /* of every local, parameters first */
    bool *written;        /* written in the loop */
    aff_t *now;           /* a written i32 local's value so far in this iteration */
    bool *set_now;        /* written so far in this iteration */
    /* After the first pass: which locals are induction variables, and their steps. */
    bool *iv;
    int64_t *step;
    bool analysed;
    weft_buf_t *out; /* the copy's body (second pass), or NULL */
    uint32_t ntemps;
    val_t stack[MAX_STACK];
    int sp;
    access_t acc[MAX_ACCESSES];
    int nacc;
    val_t exit;                  /* the br_if's condition */
    bool touched[MAX_LOCALS];    /* named in the copy */
    bool failed;                 /* a line of the copy could not be written */
    bool read_first[MAX_LOCALS]; /* read in an iteration before it is written */
    int stores;                  /* the copy's stores */
} loop_ctx_t;

/* Local i's name in wasm2c's C. */
static void local_name(uint32_t i, uint32_t nparams, char *out, size_t size) {
    snprintf(out, size, "w2c_%c%" PRIu32, i < nparams ? 'p' : 'l', i);
}

/* A value's type in the copy (i32 in 64 bits), and a local's as wasm2c declares it. */
static const char *ctype(uint8_t t) {
    return t == T_F32 ? "f32" : t == T_F64 ? "f64" : "u64";
}
static const char *wasm2c_type(uint8_t t) {
    return t == T_I32 ? "u32" : ctype(t);
}

/* Every symbol of a is an invariant or an induction variable (after the first pass). */
static bool aff_guardable(const loop_ctx_t *x, const aff_t *a) {
    if (!a->ok)
        return false;
    for (int i = 0; i < a->n; i++)
        if (x->written[a->sym[i]] && !x->iv[a->sym[i]])
            return false;
    return true;
}

static bool push(loop_ctx_t *x, uint8_t type, aff_t a, val_t **v) {
    if (x->sp == MAX_STACK)
        return false;
    val_t *p = &x->stack[x->sp++];
    *p = (val_t){.type = type, .id = x->ntemps++, .a = type == T_I32 ? a : not_affine};
    *v = p;
    return true;
}

static bool pop(loop_ctx_t *x, uint8_t type, val_t *out) {
    if (x->sp == 0 || x->stack[x->sp - 1].type != type)
        return false;
    *out = x->stack[--x->sp];
    return true;
}

/* Appends "const T v<id> = " for a new value; the caller writes the expression. */
static int def(loop_ctx_t *x, const val_t *v) {
    return x->out ? weft_buf_printf(x->out, "      const %s v%" PRIu32 " = ", ctype(v->type), v->id)
                  : 0;
}

static int emit(loop_ctx_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int emit(loop_ctx_t *x, const char *fmt, ...) {
    if (!x->out)
        return 0;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line || weft_buf_puts(x->out, line)) {
        x->failed = true; /* the copy is incomplete: the loop keeps its original only */
        return -1;
    }
    return 0;
}

typedef struct mem_op {
    uint8_t op;
    uint8_t type; /* of the value loaded or stored */
    uint8_t width;
    const char *ut;   /* the unaligned access type */
    const char *cast; /* how a load's bits become the value (before the u64 of ints) */
} mem_op_t;

static const mem_op_t mem_ops[] = {
    {0x28, T_I32, 4, "weft_uu32", ""},           {0x29, T_I64, 8, "weft_uu64", ""},
    {0x2a, T_F32, 4, "weft_uf32", ""},           {0x2b, T_F64, 8, "weft_uf64", ""},
    {0x2c, T_I32, 1, "weft_us8", "(u32)(s32)"},  {0x2d, T_I32, 1, "weft_uu8", ""},
    {0x2e, T_I32, 2, "weft_us16", "(u32)(s32)"}, {0x2f, T_I32, 2, "weft_uu16", ""},
    {0x30, T_I64, 1, "weft_us8", "(s64)"},       {0x31, T_I64, 1, "weft_uu8", ""},
    {0x32, T_I64, 2, "weft_us16", "(s64)"},      {0x33, T_I64, 2, "weft_uu16", ""},
    {0x34, T_I64, 4, "weft_us32", "(s64)"},      {0x35, T_I64, 4, "weft_uu32", ""},
    {0x36, T_I32, 4, "weft_uu32", "(u32)"},      {0x37, T_I64, 8, "weft_uu64", ""},
    {0x38, T_F32, 4, "weft_uf32", ""},           {0x39, T_F64, 8, "weft_uf64", ""},
    {0x3a, T_I32, 1, "weft_uu8", "(u8)"},        {0x3b, T_I32, 2, "weft_uu16", "(u16)"},
    {0x3c, T_I64, 1, "weft_uu8", "(u8)"},        {0x3d, T_I64, 2, "weft_uu16", "(u16)"},
    {0x3e, T_I64, 4, "weft_uu32", "(u32)"},
};

/* A load or store: 0 done, -1 not eligible. */
static int mem_access(loop_ctx_t *x, const mem_op_t *mo, uint32_t offset) {
    bool store = mo->op >= 0x36;
    val_t value = {0}, addr;
    if (store && !pop(x, mo->type, &value))
        return -1;
    if (!pop(x, T_I32, &addr) || x->nacc == MAX_ACCESSES)
        return -1;
    /* The second pass knows the induction variables: an address that is not affine in
     * them makes the copy worthless (gcc vectorizes no such access), so the loop keeps
     * its original. */
    if (x->analysed && !aff_guardable(x, &addr.a))
        return -1;
    x->acc[x->nacc++] = (access_t){.addr = addr.a, .offset = offset, .width = mo->width};
    if (store) {
        x->stores++;
        return emit(x, "      *(%s *)(weft_mb + v%" PRIu32 " + %" PRIu32 "u) = %sv%" PRIu32 ";\n",
                    mo->ut, addr.id, offset, mo->cast, value.id);
    }
    val_t *v;
    if (!push(x, mo->type, not_affine, &v) || def(x, v))
        return -1;
    bool fl = mo->type == T_F32 || mo->type == T_F64;
    return emit(x, "%s%s*(const %s *)(weft_mb + v%" PRIu32 " + %" PRIu32 "u);\n", fl ? "" : "(u64)",
                mo->cast, mo->ut, addr.id, offset);
}

/* A binary or unary operator: its C (operands a and b as %1$s... written out below). */
typedef struct num_op {
    uint8_t op;
    uint8_t in, out;
    int arity;
    const char *fmt; /* printf with the operands' names as %s (a, then b) */
} num_op_t;

static const num_op_t num_ops[] = {
    /* i32: wide in u64, low half exact */
    {0x45, T_I32, T_I32, 1, "(u64)((u32)%s == 0);\n"},
    {0x46, T_I32, T_I32, 2, "(u64)((u32)%s == (u32)%s);\n"},
    {0x47, T_I32, T_I32, 2, "(u64)((u32)%s != (u32)%s);\n"},
    {0x48, T_I32, T_I32, 2, "(u64)((s32)(u32)%s < (s32)(u32)%s);\n"},
    {0x49, T_I32, T_I32, 2, "(u64)((u32)%s < (u32)%s);\n"},
    {0x4a, T_I32, T_I32, 2, "(u64)((s32)(u32)%s > (s32)(u32)%s);\n"},
    {0x4b, T_I32, T_I32, 2, "(u64)((u32)%s > (u32)%s);\n"},
    {0x4c, T_I32, T_I32, 2, "(u64)((s32)(u32)%s <= (s32)(u32)%s);\n"},
    {0x4d, T_I32, T_I32, 2, "(u64)((u32)%s <= (u32)%s);\n"},
    {0x4e, T_I32, T_I32, 2, "(u64)((s32)(u32)%s >= (s32)(u32)%s);\n"},
    {0x4f, T_I32, T_I32, 2, "(u64)((u32)%s >= (u32)%s);\n"},
    {0x6a, T_I32, T_I32, 2, "%s + %s;\n"},
    {0x6b, T_I32, T_I32, 2, "%s - %s;\n"},
    {0x6c, T_I32, T_I32, 2, "%s * %s;\n"},
    {0x71, T_I32, T_I32, 2, "%s & %s;\n"},
    {0x72, T_I32, T_I32, 2, "%s | %s;\n"},
    {0x73, T_I32, T_I32, 2, "%s ^ %s;\n"},
    {0x74, T_I32, T_I32, 2, "%s << ((u32)%s & 31);\n"},
    {0x75, T_I32, T_I32, 2, "(u64)(u32)((s32)(u32)%s >> ((u32)%s & 31));\n"},
    {0x76, T_I32, T_I32, 2, "(u64)((u32)%s >> ((u32)%s & 31));\n"},
    /* i64 */
    {0x50, T_I64, T_I32, 1, "(u64)(%s == 0);\n"},
    {0x51, T_I64, T_I32, 2, "(u64)(%s == %s);\n"},
    {0x52, T_I64, T_I32, 2, "(u64)(%s != %s);\n"},
    {0x53, T_I64, T_I32, 2, "(u64)((s64)%s < (s64)%s);\n"},
    {0x54, T_I64, T_I32, 2, "(u64)(%s < %s);\n"},
    {0x55, T_I64, T_I32, 2, "(u64)((s64)%s > (s64)%s);\n"},
    {0x56, T_I64, T_I32, 2, "(u64)(%s > %s);\n"},
    {0x57, T_I64, T_I32, 2, "(u64)((s64)%s <= (s64)%s);\n"},
    {0x58, T_I64, T_I32, 2, "(u64)(%s <= %s);\n"},
    {0x59, T_I64, T_I32, 2, "(u64)((s64)%s >= (s64)%s);\n"},
    {0x5a, T_I64, T_I32, 2, "(u64)(%s >= %s);\n"},
    {0x7c, T_I64, T_I64, 2, "%s + %s;\n"},
    {0x7d, T_I64, T_I64, 2, "%s - %s;\n"},
    {0x7e, T_I64, T_I64, 2, "%s * %s;\n"},
    {0x83, T_I64, T_I64, 2, "%s & %s;\n"},
    {0x84, T_I64, T_I64, 2, "%s | %s;\n"},
    {0x85, T_I64, T_I64, 2, "%s ^ %s;\n"},
    {0x86, T_I64, T_I64, 2, "%s << (%s & 63);\n"},
    {0x87, T_I64, T_I64, 2, "(u64)((s64)%s >> (%s & 63));\n"},
    {0x88, T_I64, T_I64, 2, "%s >> (%s & 63);\n"},
    /* floats: C's operators are IEEE's, as wasm2c writes them */
    {0x5b, T_F32, T_I32, 2, "(u64)(%s == %s);\n"},
    {0x5c, T_F32, T_I32, 2, "(u64)(%s != %s);\n"},
    {0x5d, T_F32, T_I32, 2, "(u64)(%s < %s);\n"},
    {0x5e, T_F32, T_I32, 2, "(u64)(%s > %s);\n"},
    {0x5f, T_F32, T_I32, 2, "(u64)(%s <= %s);\n"},
    {0x60, T_F32, T_I32, 2, "(u64)(%s >= %s);\n"},
    {0x61, T_F64, T_I32, 2, "(u64)(%s == %s);\n"},
    {0x62, T_F64, T_I32, 2, "(u64)(%s != %s);\n"},
    {0x63, T_F64, T_I32, 2, "(u64)(%s < %s);\n"},
    {0x64, T_F64, T_I32, 2, "(u64)(%s > %s);\n"},
    {0x65, T_F64, T_I32, 2, "(u64)(%s <= %s);\n"},
    {0x66, T_F64, T_I32, 2, "(u64)(%s >= %s);\n"},
    {0x8c, T_F32, T_F32, 1, "WEFT_FNEG32(%s);\n"},
    {0x92, T_F32, T_F32, 2, "%s + %s;\n"},
    {0x93, T_F32, T_F32, 2, "%s - %s;\n"},
    {0x94, T_F32, T_F32, 2, "%s * %s;\n"},
    {0x95, T_F32, T_F32, 2, "%s / %s;\n"},
    {0x9a, T_F64, T_F64, 1, "WEFT_FNEG64(%s);\n"},
    {0xa0, T_F64, T_F64, 2, "%s + %s;\n"},
    {0xa1, T_F64, T_F64, 2, "%s - %s;\n"},
    {0xa2, T_F64, T_F64, 2, "%s * %s;\n"},
    {0xa3, T_F64, T_F64, 2, "%s / %s;\n"},
    /* conversions */
    {0xa7, T_I64, T_I32, 1, "%s;\n"},
    {0xac, T_I32, T_I64, 1, "(u64)(s64)(s32)(u32)%s;\n"},
    {0xad, T_I32, T_I64, 1, "(u64)(u32)%s;\n"},
    {0xb2, T_I32, T_F32, 1, "(f32)(s32)(u32)%s;\n"},
    {0xb3, T_I32, T_F32, 1, "(f32)(u32)%s;\n"},
    {0xb7, T_I32, T_F64, 1, "(f64)(s32)(u32)%s;\n"},
    {0xb8, T_I32, T_F64, 1, "(f64)(u32)%s;\n"},
    {0xbb, T_F32, T_F64, 1, "(f64)%s;\n"},
};

static bool is_i32_compare(uint8_t op) {
    return op >= 0x46 && op <= 0x4f;
}

static int numeric(loop_ctx_t *x, const num_op_t *no) {
    val_t a = {0}, b = {0};
    if (no->arity == 2 && !pop(x, no->in, &b))
        return -1;
    if (!pop(x, no->in, &a))
        return -1;
    aff_t r = not_affine;
    switch (no->op) {
    case 0x6a:
        r = aff_add(a.a, &b.a, 1);
        break;
    case 0x6b:
        r = aff_add(a.a, &b.a, -1);
        break;
    case 0x6c:
        if (b.a.ok && b.a.n == 0)
            r = aff_scale(a.a, b.a.c);
        else if (a.a.ok && a.a.n == 0)
            r = aff_scale(b.a, a.a.c);
        break;
    case 0x74:
        if (b.a.ok && b.a.n == 0 && (b.a.c & 31) <= 16)
            r = aff_scale(a.a, (int64_t)1 << (b.a.c & 31));
        break;
    default:
        break;
    }
    val_t *v;
    if (!push(x, no->out, r, &v))
        return -1;
    if (is_i32_compare(no->op)) {
        v->cmp = no->op;
        v->ca = a.a;
        v->cb = b.a;
    }
    char an[24], bn[24];
    snprintf(an, sizeof an, "v%" PRIu32, a.id);
    snprintf(bn, sizeof bn, "v%" PRIu32, b.id);
    if (def(x, v))
        return -1;
    if (!x->out)
        return 0;
    char line[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (no->arity == 2)
        snprintf(line, sizeof line, no->fmt, an, bn);
    else
        snprintf(line, sizeof line, no->fmt, an);
#pragma GCC diagnostic pop
    return weft_buf_puts(x->out, line);
}

/* Evaluates the body at b[pos..]: 0 when it is eligible (x->exit set), -1 when not. */
static int walk(loop_ctx_t *x, size_t pos, uint32_t nparams) {
    x->sp = 0;
    x->nacc = 0;
    x->ntemps = 0;
    memset(x->set_now, 0, x->nlocals * sizeof *x->set_now);
    const uint8_t *b = x->b;
    while (pos < x->end) {
        uint8_t op = b[pos++];
        uint32_t idx, align, offset;
        int64_t imm;
        val_t *v, a;
        char name[24];
        switch (op) {
        case 0x01: /* nop */
            break;
        case 0x0d: /* br_if: must be `br_if 0; end` with nothing else on the stack */
            if (!weft_wasm_leb_u32(b, x->end, &pos, &idx) || idx != 0 || pos >= x->end ||
                b[pos] != 0x0b || !pop(x, T_I32, &x->exit) || x->sp != 0)
                return -1;
            return 0;
        case 0x1a: /* drop */
            if (x->sp == 0)
                return -1;
            x->sp--;
            break;
        case 0x20:
        case 0x21:
        case 0x22:
            if (!weft_wasm_leb_u32(b, x->end, &pos, &idx) || idx >= x->nlocals)
                return -1;
            local_name(idx, nparams, name, sizeof name);
            x->touched[idx] = true;
            if (op == 0x20) {
                if (!x->set_now[idx])
                    x->read_first[idx] = true;
                aff_t now = not_affine;
                if (x->types[idx] == T_I32) {
                    if (x->set_now[idx])
                        now = x->now[idx];
                    else
                        now = (aff_t){.ok = true, .n = 1, .sym = {idx}, .k = {1}};
                }
                if (!push(x, x->types[idx], now, &v) || def(x, v))
                    return -1;
                if (x->written[idx])
                    emit(x, "W%" PRIu32 ";\n", idx);
                else
                    emit(x, "%s;\n", name);
                break;
            }
            if (!pop(x, x->types[idx], &a))
                return -1;
            x->written[idx] = true;
            x->set_now[idx] = true;
            x->now[idx] = a.a;
            emit(x, "      W%" PRIu32 " = v%" PRIu32 ";\n", idx, a.id);
            if (op == 0x22) {
                x->stack[x->sp++] = a; /* the same value, still named v<id> */
            }
            break;
        case 0x41:
            if (!weft_wasm_leb_s(b, x->end, &pos, 32, &imm) ||
                !push(x, T_I32, aff_const(imm), &v) || def(x, v))
                return -1;
            emit(x, "(u64)(s64)%" PRId64 "LL;\n", imm);
            break;
        case 0x42:
            if (!weft_wasm_leb_s(b, x->end, &pos, 64, &imm) || !push(x, T_I64, not_affine, &v) ||
                def(x, v))
                return -1;
            emit(x, "0x%" PRIx64 "ull;\n", (uint64_t)imm);
            break;
        case 0x43:
        case 0x44: {
            unsigned n = op == 0x43 ? 4 : 8;
            if (x->end - pos < n)
                return -1;
            uint64_t bits = 0;
            for (unsigned i = 0; i < n; i++)
                bits |= (uint64_t)b[pos + i] << (8 * i);
            pos += n;
            if (!push(x, op == 0x43 ? T_F32 : T_F64, not_affine, &v) || def(x, v))
                return -1;
            emit(x, "weft_f%s_bits(0x%" PRIx64 "ull);\n", op == 0x43 ? "32" : "64", bits);
            break;
        }
        default:
            if (op >= 0x28 && op <= 0x3e) {
                if (!weft_wasm_leb_u32(b, x->end, &pos, &align) ||
                    !weft_wasm_leb_u32(b, x->end, &pos, &offset) || align >= 64)
                    return -1;
                if (mem_access(x, &mem_ops[op - 0x28], offset))
                    return -1;
                break;
            }
            const num_op_t *no = NULL;
            for (size_t i = 0; i < sizeof num_ops / sizeof num_ops[0]; i++)
                if (num_ops[i].op == op)
                    no = &num_ops[i];
            if (!no || numeric(x, no))
                return -1;
            break;
        }
    }
    return -1;
}

/* ---- The guard ------------------------------------------------------------------------ */

/* Appends a's value at iteration 0 as a weft_w expression. */
static int put_aff0(weft_buf_t *o, const aff_t *a) {
    int rc = weft_buf_printf(o, "((weft_w)%" PRId64 "LL", a->c);
    for (int i = 0; i < a->n; i++)
        rc |= weft_buf_printf(o, " + (weft_w)%" PRId64 "LL * x%" PRIu32, a->k[i], a->sym[i]);
    return rc | weft_buf_puts(o, ")");
}

/* a's change per iteration. */
static int64_t aff_step(const loop_ctx_t *x, const aff_t *a) {
    int64_t s = 0;
    for (int i = 0; i < a->n; i++)
        if (x->iv[a->sym[i]])
            s += a->k[i] * x->step[a->sym[i]];
    return s;
}

/* Appends the checks that a lies in [lo, hi] at the first and last iteration. */
static int put_range(weft_buf_t *o, const loop_ctx_t *x, const aff_t *a, const char *lo,
                     const char *hi) {
    int rc = weft_buf_puts(o, "      { const weft_w a0 = ");
    rc |= put_aff0(o, a);
    rc |= weft_buf_printf(o, ", a1 = a0 + (n - 1) * (weft_w)%" PRId64 "LL;\n", aff_step(x, a));
    return rc | weft_buf_printf(o,
                                "        ok = ok && a0 >= %s && a0 <= %s && a1 >= %s && "
                                "a1 <= %s; }\n",
                                lo, hi, lo, hi);
}

/* The exit condition as "continue while d < 0" (or d != 0 for ne), d = A - B, with the
 * comparison's signedness; false when it is not a comparison of affine values this pass
 * can count. */
static bool exit_shape(const loop_ctx_t *x, aff_t *d, bool *ne, bool *is_signed) {
    const val_t *e = &x->exit;
    aff_t A, B;
    uint8_t op = e->cmp;
    if (op) {
        A = e->ca;
        B = e->cb;
    } else { /* br_if on a value: continue while it is not zero */
        A = e->a;
        B = aff_const(0);
        op = 0x47;
    }
    if (!aff_guardable(x, &A) || !aff_guardable(x, &B))
        return false;
    *is_signed = op == 0x48 || op == 0x4a || op == 0x4c || op == 0x4e;
    *ne = op == 0x47;
    aff_t diff = aff_add(A, &B, -1);
    switch (op) {
    case 0x47:
    case 0x48:
    case 0x49: /* ne, lt: A - B */
        *d = diff;
        break;
    case 0x4c:
    case 0x4d: /* le: A - B - 1 < 0 */
        *d = aff_add(diff, &(aff_t){.ok = true, .c = 1}, -1);
        break;
    case 0x4a:
    case 0x4b: /* gt: B - A < 0 */
        *d = aff_scale(diff, -1);
        break;
    case 0x4e:
    case 0x4f: { /* ge: B - A - 1 < 0 */
        aff_t neg = aff_scale(diff, -1);
        *d = aff_add(neg, &(aff_t){.ok = true, .c = 1}, -1);
        break;
    }
    default:
        return false;
    }
    return d->ok;
}

/* Writes the guarded copy of the loop to o; false when the loop is not eligible. */
static bool version(loop_ctx_t *x, size_t body, uint32_t nparams, uint32_t func, uint32_t label,
                    const char *memory_field, weft_buf_t *o, weft_buf_t *proto, weft_buf_t *def,
                    int *naccesses) {
    memset(x->written, 0, x->nlocals * sizeof *x->written);
    memset(x->touched, 0, sizeof x->touched);
    memset(x->read_first, 0, sizeof x->read_first);
    x->analysed = false;
    x->out = NULL;
    if (walk(x, body, nparams))
        return false;
    *naccesses = x->nacc;
    /* Induction variables: written once an iteration as themselves plus a constant. */
    for (uint32_t i = 0; i < x->nlocals; i++) {
        x->iv[i] = false;
        if (!x->written[i] || x->types[i] != T_I32)
            continue;
        const aff_t *f = &x->now[i];
        if (f->ok && f->n == 1 && f->sym[0] == i && f->k[0] == 1 && f->c >= -(1LL << 32) &&
            f->c <= (1LL << 32)) {
            x->iv[i] = true;
            x->step[i] = f->c;
        }
    }
    aff_t d;
    bool ne, is_signed;
    if (!exit_shape(x, &d, &ne, &is_signed))
        return false;
    /* The copy's body (second pass), into its own buffer. */
    weft_buf_t copy = {0};
    x->analysed = true;
    x->out = &copy;
    x->failed = false;
    x->stores = 0;
    bool carried = false; /* a value one iteration hands the next, other than a counter */
    for (uint32_t i = 0; i < x->nlocals; i++)
        carried |= x->written[i] && x->read_first[i] && !x->iv[i];
    /* Only copies gcc can vectorize are worth their compile time (flite: 96 copies
     * made its optimized tier 50% slower to compile): every access guarded, at least one
     * store, and no value carried from one iteration to the next (a running sum, a hash)
     * but the induction variables. */
    if (carried || walk(x, body, nparams) || x->failed || !x->stores) {
        weft_buf_free(&copy);
        return false;
    }
    int rc = weft_buf_printf(
        o, "    #if WEFT_LOOPS\n    { /* weft: loop %" PRIu32 " versioned (loops.c) */\n", label);
    for (uint32_t i = 0; i < x->nlocals; i++)
        if (x->read_first[i] && x->types[i] == T_I32) { /* a symbol of the guard */
            char name[24];
            local_name(i, nparams, name, sizeof name);
            rc |= weft_buf_printf(o, "      const weft_w x%" PRIu32 " = (u32)%s;\n", i, name);
        }
    rc |= weft_buf_printf(o, "      const weft_w mem = instance->%s.size;\n", memory_field);
    rc |= weft_buf_puts(o, "      weft_w n = 0;\n      int ok = 1;\n      { const weft_w d0 = ");
    rc |= put_aff0(o, &d);
    int64_t s = aff_step(x, &d);
    if (ne)
        rc |= weft_buf_printf(o,
                              ", s = %" PRId64 "LL;\n"
                              "        if (d0 == 0) n = 1;\n"
                              "        else if (s != 0 && (-d0) %% s == 0 && (-d0) / s > 0) n = "
                              "(-d0) / s + 1;\n"
                              "        else ok = 0; }\n",
                              s);
    else
        rc |= weft_buf_printf(o,
                              ", s = %" PRId64 "LL;\n"
                              "        if (d0 >= 0) n = 1;\n"
                              "        else if (s > 0) n = (-d0 + s - 1) / s + 1;\n"
                              "        else ok = 0; }\n",
                              s);
    rc |= weft_buf_puts(o, "      ok = ok && n >= 1 && n <= ((weft_w)1 << 32);\n");
    /* The comparison's operands keep their 32-bit meaning over the whole run. */
    const val_t *e = &x->exit;
    const char *lo = is_signed ? "-((weft_w)1 << 31)" : "0";
    const char *hi = is_signed ? "(((weft_w)1 << 31) - 1)" : "(((weft_w)1 << 32) - 1)";
    if (e->cmp) {
        rc |= put_range(o, x, &e->ca, lo, hi);
        rc |= put_range(o, x, &e->cb, lo, hi);
    } else {
        rc |= put_range(o, x, &e->a, lo, hi);
    }
    /* Every guarded access lies within the memory at both ends, so everywhere. Accesses
     * whose addresses differ by a constant (a[i], a[i + 1], ... of an unrolled loop) are
     * checked together, by their lowest first byte and highest last one. */
    bool *done = calloc((size_t)x->nacc + 1, sizeof *done);
    if (!done)
        rc = -1;
    for (int i = 0; !rc && i < x->nacc; i++) {
        if (done[i])
            continue;
        aff_t base = x->acc[i].addr;
        base.c = 0;
        int64_t lo = x->acc[i].addr.c;
        int64_t hi = lo + (int64_t)x->acc[i].offset + x->acc[i].width;
        for (int j = i + 1; j < x->nacc; j++) {
            aff_t d = aff_add(x->acc[j].addr, &x->acc[i].addr, -1);
            if (done[j] || !d.ok || d.n != 0)
                continue;
            done[j] = true;
            int64_t c = x->acc[j].addr.c, top = c + (int64_t)x->acc[j].offset + x->acc[j].width;
            lo = c < lo ? c : lo;
            hi = top > hi ? top : hi;
        }
        rc |= weft_buf_puts(o, "      { const weft_w b0 = ");
        rc |= put_aff0(o, &base);
        rc |= weft_buf_printf(o,
                              ", b1 = b0 + (n - 1) * (weft_w)%" PRId64 "LL;\n"
                              "        ok = ok && b0 + %" PRId64 "LL >= 0 && b0 + %" PRId64
                              "LL <= mem && b1 + %" PRId64 "LL >= 0 && b1 + %" PRId64
                              "LL <= mem; }\n",
                              aff_step(x, &base), lo, hi, lo, hi);
    }
    free(done);
    /* The copy runs in a function of its own (out of line: the cheap cost model costs
     * compile time, a second of gcc on a module whose libc functions hold copies, when
     * it covers a whole function), named so that split.c treats it as any other:
     * its parameters are the locals the body reads (by value, as wasm2c declares them)
     * and those it writes (by address, in 64 bits). */
    char fn[64];
    snprintf(fn, sizeof fn, "w2c_weftloop_%" PRIu32 "_%" PRIu32, func, label);
    weft_buf_t params = {0}, args = {0};
    rc |= weft_buf_puts(&params, "u8 *weft_mb, u64 weft_n");
    rc |= weft_buf_puts(&args, "weft_mb, (u64)n");
    rc |= weft_buf_puts(o, "      if (ok) {\n");
    for (uint32_t i = 0; i < x->nlocals; i++) {
        char name[24];
        local_name(i, nparams, name, sizeof name);
        if (x->written[i]) {
            rc |=
                weft_buf_printf(o, "        %s W%" PRIu32 " = %s;\n", ctype(x->types[i]), i, name);
            rc |= weft_buf_printf(&params, ", %s *weft_W%" PRIu32, ctype(x->types[i]), i);
            rc |= weft_buf_printf(&args, ", &W%" PRIu32, i);
        } else if (x->touched[i]) {
            rc |= weft_buf_printf(&params, ", %s %s", wasm2c_type(x->types[i]), name);
            rc |= weft_buf_printf(&args, ", %s", name);
        }
    }
    rc |= weft_buf_printf(o, "        %s(%s);\n", fn, (const char *)args.data);
    for (uint32_t i = 0; i < x->nlocals; i++)
        if (x->written[i]) {
            char name[24];
            local_name(i, nparams, name, sizeof name);
            rc |= weft_buf_printf(o, "        %s = %sW%" PRIu32 ";\n", name,
                                  x->types[i] == T_I32 ? "(u32)" : "", i);
        }
    rc |=
        weft_buf_printf(o, "        goto weft_X%" PRIu32 ";\n      }\n    }\n    #endif\n", label);
    rc |= weft_buf_printf(proto, "static WEFT_LOOPS_FN void %s(%s);\n", fn,
                          (const char *)params.data);
    rc |=
        weft_buf_printf(def, "static WEFT_LOOPS_FN void %s(%s) {\n", fn, (const char *)params.data);
    for (uint32_t i = 0; i < x->nlocals; i++)
        if (x->written[i])
            rc |= weft_buf_printf(def, "  %s W%" PRIu32 " = *weft_W%" PRIu32 ";\n",
                                  ctype(x->types[i]), i, i);
    rc |= weft_buf_puts(def, "  for (u64 weft_t = 0; weft_t < weft_n; weft_t++) {\n");
    rc |= weft_buf_append(def, copy.data, copy.len);
    rc |= weft_buf_puts(def, "  }\n");
    for (uint32_t i = 0; i < x->nlocals; i++)
        if (x->written[i])
            rc |= weft_buf_printf(def, "  *weft_W%" PRIu32 " = W%" PRIu32 ";\n", i, i);
    rc |= weft_buf_puts(def, "}\n\n");
    weft_buf_free(&params);
    weft_buf_free(&args);
    weft_buf_free(&copy);
    return rc == 0;
}

/* ---- Where the loops are in wasm2c's C -------------------------------------------------- */

/* The first occurrence of s in [p, end), or NULL. */
static const char *find(const char *p, const char *end, const char *s) {
    return weft_find_in(p, end, s);
}

/* How often s occurs in [p, end). */
static int count(const char *p, const char *end, const char *s) {
    int n = 0;
    for (const char *at; (at = find(p, end, s)); p = at + strlen(s))
        n++;
    return n;
}

/* Whether identifier id occurs in [p, end) as a whole word. */
static bool has_word(const char *p, const char *end, const char *id) {
    size_t n = strlen(id);
    for (const char *at; (at = find(p, end, id)); p = at + n) {
        char next = at + n < end ? at[n] : ' ';
        if (!(next == '_' || (next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') ||
              (next >= 'A' && next <= 'Z')))
            return true;
    }
    return false;
}

/* The definitions of the module's functions in wasm2c's output, in the order of the code
 * section: lines "static T w2c_NAME(Z_..._instance_t* instance...) {" up to the next
 * line "}". Returns how many were found (at most max). */
static uint32_t function_ranges(const char *c, size_t len, const char **starts, const char **ends,
                                uint32_t max) {
    const char *end = c + len, *p = c;
    uint32_t n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t ll = (size_t)(eol - p);
        if (ll > 10 && !memcmp(p, "static ", 7) && !memcmp(eol - 3, ") {", 3)) {
            const char *paren = memchr(p, '(', ll);
            const char *name = find(p, paren ? paren : eol, " w2c_");
            if (paren && name && eol - paren > 3 && !memcmp(paren + 1, "Z_", 2)) {
                const char *close = find(eol, end, "\n}\n");
                if (!close)
                    return 0;
                if (n < max) {
                    starts[n] = p;
                    ends[n] = close + 3;
                }
                n++;
                p = close + 3;
                continue;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return n;
}

/* Reads function f's local types (parameters first) into types; false when there are
 * more than MAX_LOCALS or the declarations cannot be read. */
static bool local_types(const uint8_t *wasm, const weft_wasm_module_t *m, uint32_t f,
                        uint8_t *types, uint32_t *nlocals, uint32_t *nparams) {
    const weft_wasm_functype_t *t = &m->types[m->func_types[m->nfunc_imports + f]];
    if (t->nparams > MAX_LOCALS)
        return false;
    if (t->nparams)
        memcpy(types, t->params, t->nparams);
    uint32_t n = t->nparams, groups;
    size_t pos = m->body_start[f], end = m->body_end[f];
    if (!weft_wasm_leb_u32(wasm, end, &pos, &groups))
        return false;
    for (uint32_t g = 0; g < groups; g++) {
        uint32_t k;
        if (!weft_wasm_leb_u32(wasm, end, &pos, &k) || pos >= end || k > MAX_LOCALS - n)
            return false;
        memset(types + n, wasm[pos++], k);
        n += k;
    }
    *nlocals = n;
    *nparams = t->nparams;
    return true;
}

typedef struct insertion {
    const char *at;
    weft_buf_t text;
} insertion_t;

int weft_loops_version(const uint8_t *wasm, const weft_wasm_module_t *m, const char *memory_field,
                       const char *c, size_t clen, weft_buf_t *out, int *versioned) {
    *versioned = 0;
    uint32_t ndefined = m->nfuncs - m->nfunc_imports;
    if (!memory_field[0] || m->uses_exceptions || !m->nloops || !ndefined ||
        clen > WEFT_O2_MAX_BYTES / 2 || !strstr(c, "#define FUNC_PROLOGUE u8 *const weft_mb"))
        return 0;
    const char **starts = calloc(ndefined, sizeof *starts);
    const char **ends = calloc(ndefined, sizeof *ends);
    insertion_t *ins = calloc((size_t)m->nloops * 3 + 1, sizeof *ins);
    loop_ctx_t *x = calloc(1, sizeof *x);
    uint8_t *types = malloc(MAX_LOCALS);
    bool *written = calloc(MAX_LOCALS, sizeof *written), *set_now = calloc(MAX_LOCALS, 1),
         *iv = calloc(MAX_LOCALS, 1);
    aff_t *now = calloc(MAX_LOCALS, sizeof *now);
    int64_t *step = calloc(MAX_LOCALS, sizeof *step);
    int rc = -1, nins = 0;
    weft_buf_t protos = {0};
    if (!starts || !ends || !ins || !x || !types || !written || !set_now || !iv || !now || !step)
        goto done;
    rc = 0;
    const char *prelude_at = find(c, c + clen, "\nstatic bool s_module_initialized = false;\n");
    if (!prelude_at || find(c, c + clen, "w2c_weftloop_") ||
        function_ranges(c, clen, starts, ends, ndefined) != ndefined || starts[0] < prelude_at)
        goto done; /* not the shape this pass knows: leave the C as it is */
    prelude_at++;
    x->b = wasm;
    x->types = types;
    x->written = written;
    x->set_now = set_now;
    x->iv = iv;
    x->now = now;
    x->step = step;
    uint32_t cur = UINT32_MAX, marked = UINT32_MAX, nparams = 0;
    int defs_at = 0;
    bool have_locals = false;
    for (uint32_t i = 0; i < m->nloops; i++) {
        const weft_wasm_loop_t *l = &m->loops[i];
        if (!l->empty || l->func >= ndefined)
            continue;
        if (l->func != cur) {
            cur = l->func;
            have_locals = local_types(wasm, m, cur, types, &x->nlocals, &nparams);
        }
        if (!have_locals || (size_t)(ends[cur] - starts[cur]) > WEFT_LOOPS_MAX_FUNCTION_BYTES)
            continue;
        x->end = m->body_end[cur];
        if (x->end - l->body > MAX_BODY_BYTES)
            x->end = l->body + MAX_BODY_BYTES;
        weft_buf_t text = {0}, def = {0};
        int naccesses = 0;
        size_t proto_len = protos.len;
        if (!version(x, l->body, nparams, cur, l->label, memory_field, &text, &protos, &def,
                     &naccesses)) {
            protos.len = proto_len;
            weft_buf_free(&text);
            weft_buf_free(&def);
            continue;
        }
        /* Find the loop in the function's C, and check it is this one. */
        const char *fs = starts[cur], *fe = ends[cur];
        char label[40], jump[48], name[24];
        snprintf(label, sizeof label, "w2c_L%" PRIu32 ": ", l->label);
        snprintf(jump, sizeof jump, "{goto w2c_L%" PRIu32 ";}", l->label);
        /* Every access of the loop passes &instance->MEMORY first (wasm2c's own loads
         * and stores, names by width: i32_load8_u(&instance->...). */
        char mem_arg[80];
        snprintf(mem_arg, sizeof mem_arg, "(&instance->%s,", memory_field);
        const char *at = find(fs, fe, label), *go = at ? find(at, fe, jump) : NULL;
        bool ok = at && go && count(fs, fe, label) == 1 && count(fs, fe, jump) == 1 &&
                  count(at, go, mem_arg) == naccesses && !find(at, go, "goto ");
        /* The label is its own line, the only label between it and the jump. */
        ok = ok && count(at, go, "w2c_L") == 1 && count(at, go, ": \n") <= 1;
        for (uint32_t v = 0; ok && v < x->nlocals; v++)
            if (x->touched[v]) {
                local_name(v, nparams, name, sizeof name);
                ok = has_word(fs, fe, name);
            }
        const char *line = at;
        while (ok && line > fs && line[-1] == ' ')
            line--;
        ok = ok && line > fs && line[-1] == '\n';
        const char *after = go ? memchr(go, '\n', (size_t)(fe - go)) : NULL;
        if (!ok || !after) {
            protos.len = proto_len;
            weft_buf_free(&text);
            weft_buf_free(&def);
            continue;
        }
        /* The copy's function goes just before the function it is called from. */
        if (cur != marked) {
            marked = cur;
            defs_at = nins;
            ins[nins++].at = fs;
        }
        int drc = weft_buf_append(&ins[defs_at].text, def.data, def.len);
        weft_buf_free(&def);
        if (drc) {
            weft_buf_free(&text);
            rc = -1;
            goto done;
        }
        ins[nins].at = line;
        ins[nins++].text = text;
        ins[nins].at = after + 1;
        if (weft_buf_printf(&ins[nins++].text, "    weft_X%" PRIu32 ":;\n", l->label)) {
            rc = -1;
            goto done;
        }
        (*versioned)++;
    }
    if (!nins)
        goto done;
    /* The insertions are in text order (functions and their loops in order); the
     * prelude goes among wasm2c's helpers, before what split.c shares with every unit
     * it cuts (its landmark). */
    const char *p = c;
    rc |= weft_buf_append(out, p, (size_t)(prelude_at - p));
    rc |= weft_buf_puts(out, loops_prelude);
    p = prelude_at;
    /* The copies' prototypes, among wasm2c's (before the first definition). */
    rc |= weft_buf_append(out, p, (size_t)(starts[0] - p));
    rc |= weft_buf_append(out, protos.data, protos.len);
    rc |= weft_buf_puts(out, "\n");
    p = starts[0];
    for (int i = 0; i < nins; i++) {
        rc |= weft_buf_append(out, p, (size_t)(ins[i].at - p));
        rc |= weft_buf_append(out, ins[i].text.data, ins[i].text.len);
        p = ins[i].at;
    }
    rc |= weft_buf_append(out, p, (size_t)(c + clen - p));
done:
    weft_buf_free(&protos);
    for (int i = 0; ins && i < nins; i++)
        weft_buf_free(&ins[i].text);
    free(starts);
    free(ends);
    free(ins);
    free(x);
    free(types);
    free(written);
    free(set_now);
    free(iv);
    free(now);
    free(step);
    return rc;
}

const char *weft_loops_text(void) {
    return loops_prelude;
}
