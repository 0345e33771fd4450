/* CESQL: evaluation of a parsed expression against an event (cesql.h says what each
 * operator yields, on errors too; CESQL 1.0 sections 3.2 to 3.7).
 *
 * The evaluator walks the tree recursively (the parser bounds its depth). Values borrow
 * their strings from the expression, the event, or the evaluation's scratch memory:
 * a first area on the caller's stack, then heap blocks freed when the evaluation ends,
 * so that a filter comparing attributes with literals allocates nothing. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cesql_impl.h"

/* ---- Names ---------------------------------------------------------------------------- */

const char *weft_cesql_error_kind_name(weft_cesql_error_kind_t kind) {
    switch (kind) {
#define WEFT_CESQL_ERR_NAME_(name, text)                                                           \
    case WEFT_CESQL_E##name:                                                                       \
        return text;
        WEFT_CESQL_ERRORS(WEFT_CESQL_ERR_NAME_)
#undef WEFT_CESQL_ERR_NAME_
    case WEFT_CESQL_OK:
        break;
    }
    return "none";
}

const char *weft_cesql_type_name(weft_cesql_type_t type) {
    switch (type) {
    case WEFT_CESQL_BOOLEAN:
        return "Boolean";
    case WEFT_CESQL_INTEGER:
        return "Integer";
    case WEFT_CESQL_STRING:
        return "String";
    }
    return "?";
}

/* ---- Errors and scratch memory -------------------------------------------------------- */

void cesql_raise(cesql_ctx_t *c, weft_cesql_error_kind_t kind, uint32_t column, const char *fmt,
                 ...) {
    weft_cesql_error_t *e = c->error;
    e->count++;
    if (e->kind != WEFT_CESQL_OK)
        return;
    e->kind = kind;
    e->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void cesql_quote(char *buf, size_t cap, const char *s, size_t len) {
    enum { MAX_CHARS = 32 };
    size_t o = 0, chars = 0;
    if (cap < 16) {
        if (cap)
            buf[0] = 0;
        return;
    }
    buf[o++] = '\'';
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
        if (chars == MAX_CHARS || o + 8 > cap - 1) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
        } else {
            memcpy(buf + o, s + i, n);
            o += n;
        }
        i += n;
        chars++;
    }
    buf[o++] = '\'';
    buf[o] = 0;
}

struct cesql_scratch_block {
    struct cesql_scratch_block *next;
    char data[];
};

#define SCRATCH_BLOCK 4096

char *cesql_scratch(cesql_ctx_t *c, size_t n, uint32_t column) {
    if (n > WEFT_CESQL_MAX_STRING) {
        cesql_raise(c, WEFT_CESQL_EFUNCTION_EVALUATION, column,
                    "the result would be %zu bytes long, more than the limit of %u", n,
                    WEFT_CESQL_MAX_STRING);
        return NULL;
    }
    if (c->cap - c->used >= n) {
        char *p = c->chunk + c->used;
        c->used += n;
        return p;
    }
    size_t cap = n > SCRATCH_BLOCK ? n : SCRATCH_BLOCK;
    if (c->scratch_total + cap > WEFT_CESQL_MAX_SCRATCH) {
        cesql_raise(c, WEFT_CESQL_EGENERIC, column,
                    "the evaluation needs more than %u bytes for the strings it computes",
                    WEFT_CESQL_MAX_SCRATCH);
        return NULL;
    }
    cesql_scratch_block_t *b = malloc(sizeof *b + cap);
    if (!b) {
        cesql_raise(c, WEFT_CESQL_EGENERIC, column, "out of memory");
        return NULL;
    }
    b->next = c->blocks;
    c->blocks = b;
    c->scratch_total += cap;
    c->chunk = b->data;
    c->cap = cap;
    c->used = n;
    return b->data;
}

static void ctx_init(cesql_ctx_t *c, const weft_ce_t *ev, weft_cesql_error_t *error,
                     bool fail_fast) {
    c->ev = ev;
    c->error = error;
    c->fail_fast = fail_fast;
    c->scratch_total = 0;
    c->chunk = c->local;
    c->used = 0;
    c->cap = sizeof c->local;
    c->blocks = NULL;
    /* Not the whole message buffer: a filter runs this per event. */
    error->kind = WEFT_CESQL_OK;
    error->column = 0;
    error->count = 0;
    error->message[0] = 0;
}

static void ctx_done(cesql_ctx_t *c) {
    for (cesql_scratch_block_t *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    c->blocks = NULL;
}

/* ---- Values and casts ----------------------------------------------------------------- */

#define STR(s_, n_) ((cesql_val_t){.type = WEFT_CESQL_STRING, .s = (s_), .len = (n_)})
#define INT(i_) ((cesql_val_t){.type = WEFT_CESQL_INTEGER, .i = (i_)})
#define BOOL(b_) ((cesql_val_t){.type = WEFT_CESQL_BOOLEAN, .i = (b_) ? 1 : 0})

cesql_val_t cesql_zero(uint8_t type) {
    switch (type) {
    case WEFT_CESQL_INTEGER:
        return INT(0);
    case WEFT_CESQL_STRING:
        return STR("", 0);
    default:
        return BOOL(false);
    }
}

/* A decimal Integer with an optional sign, nothing else, in range. */
static bool parse_int(const char *s, size_t len, int32_t *out) {
    size_t i = 0;
    bool negative = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        negative = s[i++] == '-';
    if (i == len)
        return false;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return false;
    }
    if (negative)
        v = -v;
    if (v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

/* "true" or "false" in any case. */
static bool parse_bool(const char *s, size_t len, bool *out) {
    if (len == 4 && !strncasecmp(s, "true", 4))
        return *out = true, true;
    if (len == 5 && !strncasecmp(s, "false", 5))
        return *out = false, true;
    return false;
}

bool cesql_can_cast(cesql_val_t v, uint8_t type) {
    int32_t i;
    bool b;
    if (v.type != WEFT_CESQL_STRING)
        return true;
    if (type == WEFT_CESQL_INTEGER)
        return parse_int(v.s, v.len, &i);
    if (type == WEFT_CESQL_BOOLEAN)
        return parse_bool(v.s, v.len, &b);
    return true;
}

cesql_val_t cesql_cast(cesql_ctx_t *c, cesql_val_t v, uint8_t type, uint32_t column) {
    if (type == CESQL_ANY || v.type == type)
        return v;
    char q[64];
    switch (type) {
    case WEFT_CESQL_STRING: {
        if (v.type == WEFT_CESQL_BOOLEAN)
            return v.i ? STR("true", 4) : STR("false", 5);
        char *d = cesql_scratch(c, 12, column);
        if (!d)
            return STR("", 0);
        return STR(d, (size_t)snprintf(d, 12, "%d", v.i));
    }
    case WEFT_CESQL_INTEGER: {
        if (v.type == WEFT_CESQL_BOOLEAN)
            return INT(v.i);
        int32_t i;
        if (parse_int(v.s, v.len, &i))
            return INT(i);
        cesql_quote(q, sizeof q, v.s, v.len);
        cesql_raise(c, WEFT_CESQL_ECAST, column,
                    "cannot cast the String %s to an Integer: it is no decimal number from "
                    "-2147483648 to 2147483647",
                    q);
        return INT(0);
    }
    case WEFT_CESQL_BOOLEAN: {
        if (v.type == WEFT_CESQL_INTEGER)
            return BOOL(v.i != 0);
        bool b;
        if (parse_bool(v.s, v.len, &b))
            return BOOL(b);
        cesql_quote(q, sizeof q, v.s, v.len);
        cesql_raise(c, WEFT_CESQL_ECAST, column,
                    "cannot cast the String %s to a Boolean: only true and false do", q);
        return BOOL(false);
    }
    }
    return v;
}

static bool equal(cesql_val_t a, cesql_val_t b) {
    if (a.type == WEFT_CESQL_STRING)
        return a.len == b.len && !memcmp(a.s, b.s, a.len);
    return a.i == b.i;
}

/* ---- LIKE ----------------------------------------------------------------------------- */

static size_t char_len(unsigned char c) {
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* Does text match pattern? '%': any run of characters; '_': one character; '\%' and
 * '\_': those characters; anything else, a backslash alone too: itself. Greedy, going
 * back to the last '%' on a mismatch: O(text * pattern) at worst, no recursion. */
static bool like(const char *t, size_t tlen, const char *p, size_t plen) {
    size_t ti = 0, pi = 0, star_p = 0, star_t = 0;
    bool star = false;
    while (ti < tlen) {
        if (pi < plen) {
            char c = p[pi];
            if (c == '%') {
                star = true;
                star_p = ++pi;
                star_t = ti;
                continue;
            }
            if (c == '_') {
                ti += char_len((unsigned char)t[ti]);
                pi++;
                continue;
            }
            if (c == '\\' && pi + 1 < plen && (p[pi + 1] == '%' || p[pi + 1] == '_')) {
                if (t[ti] == p[pi + 1]) {
                    ti++;
                    pi += 2;
                    continue;
                }
            } else if (c == t[ti]) {
                ti++;
                pi++;
                continue;
            }
        }
        if (!star)
            return false;
        star_t += char_len((unsigned char)t[star_t]);
        ti = star_t;
        pi = star_p;
    }
    while (pi < plen && p[pi] == '%')
        pi++;
    return pi == plen;
}

/* ---- The evaluator -------------------------------------------------------------------- */

static cesql_val_t eval(cesql_ctx_t *c, const cesql_node_t *x);

static cesql_val_t attribute(cesql_ctx_t *c, const cesql_node_t *x) {
    const weft_ce_attr_t *a = weft_ce_attr(c->ev, x->name);
    if (!a) {
        cesql_raise(c, WEFT_CESQL_EMISSING_ATTRIBUTE, x->column, "the event has no attribute %s",
                    x->name);
        return BOOL(false);
    }
    size_t len = strlen(a->value);
    int32_t i;
    bool b;
    /* An integer or boolean attribute that does not read as one is left a String. */
    if (a->type == WEFT_CE_INTEGER && parse_int(a->value, len, &i))
        return INT(i);
    if (a->type == WEFT_CE_BOOLEAN && parse_bool(a->value, len, &b))
        return BOOL(b);
    return STR(a->value, len);
}

/* A 64-bit result brought into the Integer range, with a math error when it was not. */
static cesql_val_t saturate(cesql_ctx_t *c, const cesql_node_t *x, int64_t v, int32_t l,
                            int32_t r) {
    if (v >= INT32_MIN && v <= INT32_MAX)
        return INT((int32_t)v);
    int32_t s = v > 0 ? INT32_MAX : INT32_MIN;
    cesql_raise(c, WEFT_CESQL_EMATH, x->column, "%d %c %d overflows the Integer range: %d instead",
                l, x->op, r, s);
    return INT(s);
}

static cesql_val_t arith(cesql_ctx_t *c, const cesql_node_t *x) {
    cesql_val_t l = eval(c, x->kids[0]), r = eval(c, x->kids[1]);
    if (l.failed || r.failed)
        return INT(0);
    int32_t a = cesql_cast(c, l, WEFT_CESQL_INTEGER, x->kids[0]->column).i;
    int32_t b = cesql_cast(c, r, WEFT_CESQL_INTEGER, x->kids[1]->column).i;
    switch (x->op) {
    case '+':
        return saturate(c, x, (int64_t)a + b, a, b);
    case '-':
        return saturate(c, x, (int64_t)a - b, a, b);
    case '*':
        return saturate(c, x, (int64_t)a * b, a, b);
    }
    if (b == 0) {
        cesql_raise(c, WEFT_CESQL_EMATH, x->column, "%s by zero: %d %c 0",
                    x->op == '/' ? "division" : "modulo", a, x->op);
        return INT(0);
    }
    /* C's / and % truncate, and the remainder has the dividend's sign, as CESQL says. */
    return x->op == '/' ? saturate(c, x, (int64_t)a / b, a, b) : INT((int32_t)((int64_t)a % b));
}

static cesql_val_t compare(cesql_ctx_t *c, const cesql_node_t *x) {
    cesql_val_t l = eval(c, x->kids[0]), r = eval(c, x->kids[1]);
    if (l.failed || r.failed)
        return BOOL(false);
    int32_t a = cesql_cast(c, l, WEFT_CESQL_INTEGER, x->kids[0]->column).i;
    int32_t b = cesql_cast(c, r, WEFT_CESQL_INTEGER, x->kids[1]->column).i;
    switch (x->op) {
    case '<':
        return BOOL(a < b);
    case 'l':
        return BOOL(a <= b);
    case '>':
        return BOOL(a > b);
    default:
        return BOOL(a >= b);
    }
}

/* A run of AND, OR or XOR, evaluated as the left-grouped chain of binary operators it
 * stands for, ((k0 op k1) op k2) ...: each step is one binary operator, whose value has
 * failed when an error was raised during that step. */
static cesql_val_t logic(cesql_ctx_t *c, const cesql_node_t *x) {
    cesql_val_t acc = eval(c, x->kids[0]);
    for (uint32_t i = 1; i < x->n; i++) {
        uint32_t before = c->error->count;
        if (acc.failed) {
            /* The zero value; AND and OR leave the right operand unevaluated, XOR
             * evaluates both before it looks at them. */
            if (x->kind == N_XOR)
                eval(c, x->kids[i]);
            acc = BOOL(false);
            acc.failed = true;
            continue;
        }
        bool l = cesql_cast(c, acc, WEFT_CESQL_BOOLEAN, x->kids[i - 1]->column).i;
        cesql_val_t r = {0};
        if ((x->kind == N_AND && !l) || (x->kind == N_OR && l)) {
            acc = BOOL(l); /* short circuit: the right operand is not evaluated */
        } else if ((r = eval(c, x->kids[i])).failed) {
            acc = BOOL(false);
        } else {
            bool rb = cesql_cast(c, r, WEFT_CESQL_BOOLEAN, x->kids[i]->column).i;
            acc = BOOL(x->kind == N_XOR ? l != rb : rb);
        }
        acc.failed = c->error->count != before;
    }
    return acc;
}

static cesql_val_t in(cesql_ctx_t *c, const cesql_node_t *x) {
    cesql_val_t l = eval(c, x->kids[0]);
    if (l.failed)
        return BOOL(false);
    for (uint32_t i = 1; i < x->n; i++) {
        cesql_val_t r = eval(c, x->kids[i]);
        if (r.failed)
            return BOOL(false);
        if (equal(l, cesql_cast(c, r, l.type, x->kids[i]->column)))
            return BOOL(!x->negate);
    }
    return BOOL(x->negate);
}

#define CALL_LOCAL_ARGS 16

static cesql_val_t call(cesql_ctx_t *c, const cesql_node_t *x) {
    if (!x->fn) {
        char why[WEFT_CESQL_MESSAGE_MAX];
        cesql_builtin_missing(x, why, sizeof why);
        cesql_raise(c, WEFT_CESQL_EMISSING_FUNCTION, x->column, "%s", why);
        return BOOL(false);
    }
    cesql_val_t local[CALL_LOCAL_ARGS], *args = local;
    if (x->n > CALL_LOCAL_ARGS && !(args = malloc(x->n * sizeof *args))) {
        cesql_raise(c, WEFT_CESQL_EGENERIC, x->column, "out of memory");
        return cesql_zero(x->fn->ret);
    }
    bool failed = false;
    for (uint32_t i = 0; i < x->n; i++) {
        args[i] = eval(c, x->kids[i]);
        failed |= args[i].failed;
        if (!args[i].failed)
            args[i] = cesql_cast(c, args[i], cesql_builtin_param(x->fn, i), x->kids[i]->column);
    }
    cesql_val_t v = failed ? cesql_zero(x->fn->ret) : x->fn->call(c, x, args, x->n);
    if (args != local)
        free(args);
    return v;
}

static cesql_val_t eval_node(cesql_ctx_t *c, const cesql_node_t *x) {
    cesql_val_t v;
    switch ((cesql_kind_t)x->kind) {
    case N_LITERAL:
        return x->lit;
    case N_ATTRIBUTE:
        return attribute(c, x);
    case N_EXISTS:
        return BOOL(weft_ce_attr(c->ev, x->name) != NULL);
    case N_NOT:
        if ((v = eval(c, x->kids[0])).failed)
            return BOOL(false);
        return BOOL(!cesql_cast(c, v, WEFT_CESQL_BOOLEAN, x->kids[0]->column).i);
    case N_NEGATE:
        if ((v = eval(c, x->kids[0])).failed)
            return INT(0);
        v = cesql_cast(c, v, WEFT_CESQL_INTEGER, x->kids[0]->column);
        if (v.i == INT32_MIN) {
            cesql_raise(c, WEFT_CESQL_EMATH, x->column,
                        "-(-2147483648) overflows the Integer range: 2147483647 instead");
            return INT(INT32_MAX);
        }
        return INT(-v.i);
    case N_ARITH:
        return arith(c, x);
    case N_COMPARE:
        return compare(c, x);
    case N_EQUAL: {
        cesql_val_t l = eval(c, x->kids[0]), r = eval(c, x->kids[1]);
        if (l.failed || r.failed)
            return BOOL(false);
        /* = is ambiguous (Boolean, Integer, String): the right operand's type decides. */
        l = cesql_cast(c, l, r.type, x->kids[0]->column);
        return BOOL(equal(l, r) != x->negate);
    }
    case N_AND:
    case N_OR:
    case N_XOR:
        return logic(c, x);
    case N_LIKE:
        if ((v = eval(c, x->kids[0])).failed)
            return BOOL(false);
        v = cesql_cast(c, v, WEFT_CESQL_STRING, x->kids[0]->column);
        return BOOL(like(v.s, v.len, x->lit.s, x->lit.len) != x->negate);
    case N_IN:
        return in(c, x);
    case N_CALL:
        return call(c, x);
    }
    return BOOL(false);
}

/* The value of x; failed when an error was raised computing it. In fail-fast mode, once
 * an error is raised every node yields its zero value at once. */
static cesql_val_t eval(cesql_ctx_t *c, const cesql_node_t *x) {
    if (c->fail_fast && c->error->kind != WEFT_CESQL_OK) {
        cesql_val_t z = cesql_zero(x->type);
        z.failed = true;
        return z;
    }
    uint32_t before = c->error->count;
    cesql_val_t v = eval_node(c, x);
    v.failed = c->error->count != before;
    return v;
}

/* ---- The interface -------------------------------------------------------------------- */

int weft_cesql_eval(const weft_cesql_t *expr, const weft_ce_t *ev, weft_cesql_value_t *out,
                    weft_cesql_error_t *error) {
    weft_cesql_error_t local_error;
    if (!error)
        error = &local_error;
    cesql_ctx_t c;
    ctx_init(&c, ev, error, false);
    cesql_val_t v = eval(&c, expr->root);
    *out = (weft_cesql_value_t){.type = v.type, .boolean = v.i != 0, .integer = v.i};
    int rc = 0;
    if (v.type == WEFT_CESQL_STRING) {
        out->boolean = false;
        out->integer = 0;
        if ((out->string = malloc(v.len + 1))) {
            memcpy(out->string, v.s, v.len);
            out->string[v.len] = 0;
            out->len = v.len;
        } else {
            *out = (weft_cesql_value_t){.type = WEFT_CESQL_BOOLEAN};
            cesql_raise(&c, WEFT_CESQL_EGENERIC, expr->root->column, "out of memory");
            rc = WEFT_ENOMEM;
        }
    }
    ctx_done(&c);
    if (rc)
        return rc;
    return error->kind != WEFT_CESQL_OK ? WEFT_EINVAL : 0;
}

bool weft_cesql_match(const weft_cesql_t *expr, const weft_ce_t *ev, weft_cesql_error_t *error) {
    weft_cesql_error_t local_error;
    if (!error)
        error = &local_error;
    cesql_ctx_t c;
    ctx_init(&c, ev, error, true);
    cesql_val_t v = eval(&c, expr->root);
    ctx_done(&c);
    return !v.failed && v.type == WEFT_CESQL_BOOLEAN && v.i && error->kind == WEFT_CESQL_OK;
}

void weft_cesql_value_clear(weft_cesql_value_t *v) {
    free(v->string);
    *v = (weft_cesql_value_t){0};
}

int weft_cesql_value_json(const weft_cesql_value_t *v, weft_buf_t *out) {
    switch (v->type) {
    case WEFT_CESQL_BOOLEAN:
        return weft_buf_puts(out, v->boolean ? "true" : "false");
    case WEFT_CESQL_INTEGER:
        return weft_buf_printf(out, "%d", v->integer);
    case WEFT_CESQL_STRING:
        break;
    }
    /* jansson escapes what JSON needs escaped and keeps other UTF-8 as it is. */
    json_t *j = json_stringn(v->string ? v->string : "", v->len);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return WEFT_ENOMEM;
    int rc = weft_buf_puts(out, s);
    free(s);
    return rc;
}
