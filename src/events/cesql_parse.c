/* CESQL: the lexer and the parser, text to an immutable tree (cesql.h, cesql_impl.h).
 *
 * A recursive-descent parser, one function per precedence level, reading tokens one at
 * a time from the lexer. Its recursion is bounded: every way in to a deeper level (a
 * parenthesis, a call's arguments, an IN list, a prefix operator) counts against
 * WEFT_CESQL_MAX_DEPTH, and so does the depth of the tree it builds (a + b + c ... is a
 * chain as deep as it is long), so that neither the parser nor the evaluator, which
 * walks the tree recursively, can exhaust the stack. Nodes and strings live in an arena
 * freed at once with the expression. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cesql_impl.h"

/* ---- The arena ------------------------------------------------------------------------ */

struct cesql_block {
    struct cesql_block *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_BLOCK 4096

static void *arena_alloc(weft_cesql_t *e, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct cesql_block *b = e->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = e->blocks;
        e->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void weft_cesql_free(weft_cesql_t *e) {
    if (!e)
        return;
    for (struct cesql_block *b = e->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(e->text);
    free(e);
}

const char *weft_cesql_text(const weft_cesql_t *e) {
    return e->text;
}

/* ---- Tokens --------------------------------------------------------------------------- */

typedef enum {
    T_END,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_AND,
    T_OR,
    T_XOR,
    T_NOT,
    T_LIKE,
    T_IN,
    T_EXISTS,
    T_TRUE,
    T_FALSE,
    T_INT,
    T_STRING,
    T_IDENT, /* an attribute name */
    T_FUNC,  /* a function name: a word followed by '(' */
} tok_kind_t;

static const struct {
    const char *word;
    tok_kind_t kind;
} keywords[] = {
    {"AND", T_AND}, {"OR", T_OR},         {"XOR", T_XOR},   {"NOT", T_NOT},     {"LIKE", T_LIKE},
    {"IN", T_IN},   {"EXISTS", T_EXISTS}, {"TRUE", T_TRUE}, {"FALSE", T_FALSE},
};

typedef struct token {
    tok_kind_t kind;
    size_t start, end; /* byte offsets in the text */
    uint64_t mag;      /* T_INT: the digits' value, saturated past 2^32 */
    char *str;         /* T_STRING: decoded; T_IDENT, T_FUNC: the name (arena) */
    size_t len;
} token_t;

typedef struct parser {
    const char *text;
    size_t len;
    size_t pos;
    token_t tok;
    weft_cesql_t *e;
    weft_error_t *err;
    int nest;
    bool failed;
    int code; /* of the failure */
} parser_t;

/* Column (1-based, in characters) of byte offset off. */
static uint32_t column_of(const parser_t *p, size_t off) {
    return (uint32_t)cesql_utf8_count(p->text, off) + 1;
}

static void *fail(parser_t *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *fail(parser_t *p, size_t off, const char *fmt, ...) {
    if (p->failed)
        return NULL;
    p->failed = true;
    p->code = WEFT_EINVAL;
    char msg[WEFT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weft_error_set(p->err, WEFT_EINVAL, "column %u: %s", column_of(p, off), msg);
    return NULL;
}

static void *out_of_memory(parser_t *p) {
    if (!p->failed) {
        p->failed = true;
        p->code = WEFT_ENOMEM;
        weft_error_set(p->err, WEFT_ENOMEM, "out of memory parsing an expression");
    }
    return NULL;
}

/* What a token is, for messages: "the end", "')'", "AND", "'abc'", "42", "subject". */
static void describe(const parser_t *p, const token_t *t, char *buf, size_t cap) {
    switch (t->kind) {
    case T_END:
        snprintf(buf, cap, "the end");
        return;
    case T_STRING:
        cesql_quote(buf, cap, t->str, t->len);
        return;
    default: {
        size_t n = t->end - t->start;
        if (n > 40)
            n = 40;
        snprintf(buf, cap, t->kind <= T_GE ? "'%.*s'" : "%.*s", (int)n, p->text + t->start);
    }
    }
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static char *arena_strndup(parser_t *p, const char *s, size_t n) {
    char *d = arena_alloc(p->e, n + 1);
    if (!d)
        return out_of_memory(p);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* '...' or "...": a backslash and the delimiting quote stand for the quote; any other
 * backslash stays, with the character after it (so '\\' ends after two backslashes). */
static bool lex_string(parser_t *p, token_t *t) {
    char q = p->text[p->pos];
    size_t i = p->pos + 1, n = 0;
    for (;;) { /* the closing quote and the decoded length */
        if (i >= p->len) {
            fail(p, p->pos, "unterminated string: no closing %c", q);
            return false;
        }
        if (p->text[i] == q)
            break;
        if (p->text[i] == '\\' && i + 1 < p->len) {
            n += p->text[i + 1] == q ? 1 : 2;
            i += 2;
        } else {
            n++;
            i++;
        }
    }
    char *d = arena_alloc(p->e, n + 1);
    if (!d)
        return out_of_memory(p), false;
    size_t o = 0;
    for (size_t k = p->pos + 1; k < i;) {
        if (p->text[k] == '\\') { /* a pair, as the scan above found it */
            if (p->text[k + 1] != q)
                d[o++] = '\\';
            d[o++] = p->text[k + 1];
            k += 2;
        } else {
            d[o++] = p->text[k++];
        }
    }
    d[o] = 0;
    t->kind = T_STRING;
    t->str = d;
    t->len = o;
    t->end = p->pos = i + 1;
    return true;
}

static bool lex_word(parser_t *p, token_t *t) {
    size_t s = p->pos, i = s;
    while (i < p->len && is_word(p->text[i]))
        i++;
    size_t n = i - s;
    const char *w = p->text + s;
    t->end = p->pos = i;

    bool digits = true, lower = true, fname = !is_digit(w[0]) && w[0] != '_';
    for (size_t k = 0; k < n; k++) {
        char c = w[k];
        digits &= is_digit(c);
        lower &= (c >= 'a' && c <= 'z') || is_digit(c);
        fname &= c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    if (digits) {
        uint64_t v = 0;
        for (size_t k = 0; k < n; k++)
            if ((v = v * 10 + (uint64_t)(w[k] - '0')) > UINT32_MAX)
                v = (uint64_t)UINT32_MAX + 1;
        t->kind = T_INT;
        t->mag = v;
        return true;
    }
    for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++)
        if (strlen(keywords[k].word) == n && !strncasecmp(keywords[k].word, w, n)) {
            t->kind = keywords[k].kind;
            return true;
        }
    size_t j = i;
    while (j < p->len && is_space(p->text[j]))
        j++;
    if (j < p->len && p->text[j] == '(') {
        if (!fname) {
            fail(p, s, "%.*s is not a function name: those are letters and '_'",
                 (int)(n > 40 ? 40 : n), w);
            return false;
        }
        t->kind = T_FUNC;
    } else {
        if (!lower) {
            fail(p, s,
                 "%.*s is not an attribute name: those are lower-case letters and digits (a "
                 "function call needs its parentheses)",
                 (int)(n > 40 ? 40 : n), w);
            return false;
        }
        if (n > WEFT_CE_NAME_MAX) {
            fail(p, s, "attribute name %.*s... is longer than %d characters", 20, w,
                 WEFT_CE_NAME_MAX);
            return false;
        }
        t->kind = T_IDENT;
    }
    if (!(t->str = arena_strndup(p, w, n)))
        return false;
    t->len = n;
    return true;
}

/* Reads the next token into p->tok; false (with the error set) on a lexical error. */
static bool lex(parser_t *p) {
    while (p->pos < p->len && is_space(p->text[p->pos]))
        p->pos++;
    token_t *t = &p->tok;
    *t = (token_t){.start = p->pos, .end = p->pos};
    if (p->pos >= p->len) {
        t->kind = T_END;
        return true;
    }
    char c = p->text[p->pos], c2 = p->pos + 1 < p->len ? p->text[p->pos + 1] : 0;
    size_t w = 1;
    switch (c) {
    case '(':
        t->kind = T_LPAREN;
        break;
    case ')':
        t->kind = T_RPAREN;
        break;
    case ',':
        t->kind = T_COMMA;
        break;
    case '+':
        t->kind = T_PLUS;
        break;
    case '-':
        t->kind = T_MINUS;
        break;
    case '*':
        t->kind = T_STAR;
        break;
    case '/':
        t->kind = T_SLASH;
        break;
    case '%':
        t->kind = T_PERCENT;
        break;
    case '=':
        t->kind = T_EQ;
        break;
    case '!':
        if (c2 != '=') {
            fail(p, p->pos, "unexpected '!': 'not equal' is != or <>, negation NOT");
            return false;
        }
        t->kind = T_NE;
        w = 2;
        break;
    case '<':
        t->kind = c2 == '=' ? T_LE : c2 == '>' ? T_NE : T_LT;
        w = c2 == '=' || c2 == '>' ? 2 : 1;
        break;
    case '>':
        t->kind = c2 == '=' ? T_GE : T_GT;
        w = c2 == '=' ? 2 : 1;
        break;
    case '\'':
    case '"':
        return lex_string(p, t);
    default:
        if (is_word(c))
            return lex_word(p, t);
        if ((unsigned char)c < 0x20 || c == 0x7f)
            fail(p, p->pos, "unexpected control character U+%04X", (unsigned)c);
        else {
            size_t n = cesql_utf8_offset(p->text + p->pos, p->len - p->pos, 1);
            fail(p, p->pos, "unexpected character '%.*s'", (int)n, p->text + p->pos);
        }
        return false;
    }
    t->end = p->pos += w;
    return true;
}

/* ---- Nodes ---------------------------------------------------------------------------- */

static cesql_node_t *node_new(parser_t *p, cesql_kind_t kind, uint8_t type, size_t off,
                              cesql_node_t **kids, uint32_t n) {
    uint32_t depth = 0;
    for (uint32_t i = 0; i < n; i++)
        if (kids[i]->depth > depth)
            depth = kids[i]->depth;
    if (depth + 1 > WEFT_CESQL_MAX_DEPTH)
        return fail(p, off, "the expression nests deeper than %d levels", WEFT_CESQL_MAX_DEPTH);
    cesql_node_t *x = arena_alloc(p->e, sizeof *x);
    if (!x)
        return out_of_memory(p);
    *x = (cesql_node_t){.kind = kind,
                        .type = type,
                        .depth = (uint16_t)(depth + 1),
                        .column = column_of(p, off),
                        .n = n};
    if (n) {
        if (!(x->kids = arena_alloc(p->e, n * sizeof *kids)))
            return out_of_memory(p);
        memcpy(x->kids, kids, n * sizeof *kids);
    }
    return x;
}

/* A growable list of children, for n-ary nodes (a run of AND, arguments, IN lists). */
typedef struct kids {
    cesql_node_t **v;
    uint32_t n, cap;
    cesql_node_t *local[8];
} kids_t;

static void kids_init(kids_t *k) {
    k->v = k->local;
    k->n = 0;
    k->cap = 8;
}

static bool kids_push(parser_t *p, kids_t *k, cesql_node_t *x) {
    if (k->n == k->cap) {
        uint32_t cap = k->cap * 2;
        cesql_node_t **v = malloc(cap * sizeof *v);
        if (!v)
            return out_of_memory(p), false;
        memcpy(v, k->v, k->n * sizeof *v);
        if (k->v != k->local)
            free(k->v);
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = x;
    return true;
}

static void kids_free(kids_t *k) {
    if (k->v != k->local)
        free(k->v);
}

/* ---- The grammar ---------------------------------------------------------------------- */

static cesql_node_t *parse_expr(parser_t *p);

static bool enter(parser_t *p, size_t off) {
    if (++p->nest > WEFT_CESQL_MAX_DEPTH) {
        fail(p, off, "the expression nests deeper than %d levels", WEFT_CESQL_MAX_DEPTH);
        return false;
    }
    return true;
}

static bool expect(parser_t *p, tok_kind_t kind, const char *what, size_t open) {
    if (p->tok.kind == kind)
        return lex(p);
    char found[64];
    describe(p, &p->tok, found, sizeof found);
    if (kind == T_RPAREN)
        fail(p, p->tok.start, "expected %s to close the '(' at column %u, found %s", what,
             column_of(p, open), found);
    else
        fail(p, p->tok.start, "expected %s, found %s", what, found);
    return false;
}

static cesql_node_t *literal(parser_t *p, uint8_t type, int32_t i, const char *s, size_t len,
                             size_t off) {
    cesql_node_t *x = node_new(p, N_LITERAL, type, off, NULL, 0);
    if (x)
        x->lit = (cesql_val_t){.type = type, .i = i, .s = s, .len = len};
    return x;
}

static cesql_node_t *int_literal(parser_t *p, bool negative, size_t off) {
    uint64_t limit = negative ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX;
    if (p->tok.mag > limit)
        return fail(p, off, "%s%.*s is out of the Integer range (-2147483648 to 2147483647)",
                    negative ? "-" : "",
                    (int)(p->tok.end - p->tok.start > 40 ? 40 : p->tok.end - p->tok.start),
                    p->text + p->tok.start);
    int64_t v = negative ? -(int64_t)p->tok.mag : (int64_t)p->tok.mag;
    if (!lex(p))
        return NULL;
    return literal(p, WEFT_CESQL_INTEGER, (int32_t)v, NULL, 0, off);
}

static cesql_node_t *parse_call(parser_t *p) {
    size_t off = p->tok.start;
    char *name = p->tok.str;
    size_t nlen = p->tok.len;
    if (!lex(p))
        return NULL;
    size_t open = p->tok.start;
    if (!lex(p)) /* the '(' the lexer saw */
        return NULL;
    kids_t args;
    kids_init(&args);
    cesql_node_t *x = NULL;
    if (p->tok.kind != T_RPAREN) {
        for (;;) {
            cesql_node_t *a = parse_expr(p);
            if (!a || !kids_push(p, &args, a))
                goto done;
            if (p->tok.kind != T_COMMA)
                break;
            if (!lex(p))
                goto done;
        }
    }
    if (!expect(p, T_RPAREN, "',' or ')'", open))
        goto done;
    bool known;
    const cesql_builtin_t *fn = cesql_builtin_find(name, nlen, args.n, &known);
    if ((x = node_new(p, N_CALL, fn ? fn->ret : WEFT_CESQL_BOOLEAN, off, args.v, args.n))) {
        x->fn = fn;
        x->name = name;
        for (char *c = name; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c -= 'a' - 'A';
    }
done:
    kids_free(&args);
    return x;
}

static cesql_node_t *parse_primary(parser_t *p) {
    token_t t = p->tok;
    char found[64];
    switch (t.kind) {
    case T_INT:
        return int_literal(p, false, t.start);
    case T_STRING:
        return lex(p) ? literal(p, WEFT_CESQL_STRING, 0, t.str, t.len, t.start) : NULL;
    case T_TRUE:
    case T_FALSE:
        return lex(p) ? literal(p, WEFT_CESQL_BOOLEAN, t.kind == T_TRUE, NULL, 0, t.start) : NULL;
    case T_IDENT: {
        if (!lex(p))
            return NULL;
        cesql_node_t *x = node_new(p, N_ATTRIBUTE, CESQL_ANY, t.start, NULL, 0);
        if (x)
            x->name = t.str;
        return x;
    }
    case T_EXISTS: {
        if (!lex(p))
            return NULL;
        if (p->tok.kind != T_IDENT) {
            describe(p, &p->tok, found, sizeof found);
            return fail(p, p->tok.start, "expected an attribute name after EXISTS, found %s",
                        found);
        }
        const char *name = p->tok.str;
        if (!lex(p))
            return NULL;
        cesql_node_t *x = node_new(p, N_EXISTS, WEFT_CESQL_BOOLEAN, t.start, NULL, 0);
        if (x)
            x->name = name;
        return x;
    }
    case T_FUNC:
        return parse_call(p);
    case T_LPAREN: {
        if (!lex(p))
            return NULL;
        cesql_node_t *x = parse_expr(p);
        if (x && !expect(p, T_RPAREN, "')'", t.start))
            return NULL;
        return x;
    }
    default:
        describe(p, &t, found, sizeof found);
        return fail(p, t.start, "expected an expression, found %s", found);
    }
}

/* NOT x, -x, and the signed integer literal: a sign directly before digits. */
static cesql_node_t *parse_unary(parser_t *p) {
    token_t t = p->tok;
    if (t.kind != T_NOT && t.kind != T_MINUS && t.kind != T_PLUS)
        return parse_primary(p);
    if (!lex(p))
        return NULL;
    if (t.kind != T_NOT && p->tok.kind == T_INT && p->tok.start == t.end)
        return int_literal(p, t.kind == T_MINUS, t.start);
    if (t.kind == T_PLUS)
        return fail(p, t.start, "'+' is no unary operator: a sign belongs directly before digits");
    if (!enter(p, t.start))
        return NULL;
    cesql_node_t *x = parse_unary(p);
    p->nest--;
    if (!x)
        return NULL;
    return t.kind == T_NOT ? node_new(p, N_NOT, WEFT_CESQL_BOOLEAN, t.start, &x, 1)
                           : node_new(p, N_NEGATE, WEFT_CESQL_INTEGER, t.start, &x, 1);
}

/* x [NOT] LIKE 'pattern', x [NOT] IN (a, b, ...): bind tighter than binary operators. */
static cesql_node_t *parse_postfix(parser_t *p) {
    cesql_node_t *x = parse_unary(p);
    while (x) {
        token_t t = p->tok;
        bool negate = t.kind == T_NOT;
        if (negate) {
            if (!lex(p))
                return NULL;
            if (p->tok.kind != T_LIKE && p->tok.kind != T_IN) {
                char found[64];
                describe(p, &p->tok, found, sizeof found);
                return fail(p, p->tok.start, "expected LIKE or IN after NOT, found %s", found);
            }
        } else if (t.kind != T_LIKE && t.kind != T_IN) {
            break;
        }
        token_t op = p->tok;
        if (!lex(p))
            return NULL;
        if (op.kind == T_LIKE) {
            if (p->tok.kind != T_STRING) {
                char found[64];
                describe(p, &p->tok, found, sizeof found);
                return fail(p, p->tok.start, "LIKE takes a string literal as its pattern, found %s",
                            found);
            }
            token_t pat = p->tok;
            if (!lex(p) || !(x = node_new(p, N_LIKE, WEFT_CESQL_BOOLEAN, op.start, &x, 1)))
                return NULL;
            x->lit = (cesql_val_t){.type = WEFT_CESQL_STRING, .s = pat.str, .len = pat.len};
            x->negate = negate;
            continue;
        }
        size_t open = p->tok.start;
        if (!expect(p, T_LPAREN, "'(' and a list after IN", 0))
            return NULL;
        kids_t set;
        kids_init(&set);
        bool ok = kids_push(p, &set, x);
        while (ok) {
            cesql_node_t *e = parse_expr(p);
            if (!(ok = e && kids_push(p, &set, e)) || p->tok.kind != T_COMMA)
                break;
            ok = lex(p);
        }
        ok = ok && expect(p, T_RPAREN, "',' or ')'", open);
        x = ok ? node_new(p, N_IN, WEFT_CESQL_BOOLEAN, op.start, set.v, set.n) : NULL;
        kids_free(&set);
        if (x)
            x->negate = negate;
    }
    return x;
}

/* One level of left-associative binary operators: a op b op c is (a op b) op c. */
typedef struct level {
    cesql_node_t *(*next)(parser_t *p);
    tok_kind_t toks[7];
    cesql_kind_t kinds[7];
    uint8_t ops[7];
    uint8_t type;
} level_t;

static cesql_node_t *parse_level(parser_t *p, const level_t *l) {
    cesql_node_t *x = l->next(p);
    while (x) {
        int k = -1;
        for (int i = 0; i < 7 && l->toks[i]; i++)
            if (p->tok.kind == l->toks[i])
                k = i;
        if (k < 0)
            break;
        token_t op = p->tok;
        if (!lex(p))
            return NULL;
        cesql_node_t *pair[2] = {x, l->next(p)};
        if (!pair[1])
            return NULL;
        if ((x = node_new(p, l->kinds[k], l->type, op.start, pair, 2))) {
            x->op = l->ops[k];
            x->negate = op.kind == T_NE;
        }
    }
    return x;
}

static cesql_node_t *parse_multiplicative(parser_t *p) {
    static const level_t l = {parse_postfix,
                              {T_STAR, T_SLASH, T_PERCENT},
                              {N_ARITH, N_ARITH, N_ARITH},
                              {'*', '/', '%'},
                              WEFT_CESQL_INTEGER};
    return parse_level(p, &l);
}

static cesql_node_t *parse_additive(parser_t *p) {
    static const level_t l = {parse_multiplicative,
                              {T_PLUS, T_MINUS},
                              {N_ARITH, N_ARITH},
                              {'+', '-'},
                              WEFT_CESQL_INTEGER};
    return parse_level(p, &l);
}

static cesql_node_t *parse_comparison(parser_t *p) {
    static const level_t l = {parse_additive,
                              {T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE},
                              {N_EQUAL, N_EQUAL, N_COMPARE, N_COMPARE, N_COMPARE, N_COMPARE},
                              {'=', '!', '<', 'l', '>', 'g'},
                              WEFT_CESQL_BOOLEAN};
    return parse_level(p, &l);
}

/* AND, OR, XOR: one level, from the left; a run of one operator is one n-ary node. */
static cesql_node_t *parse_expr(parser_t *p) {
    if (!enter(p, p->tok.start))
        return NULL;
    cesql_node_t *x = parse_comparison(p);
    while (x && (p->tok.kind == T_AND || p->tok.kind == T_OR || p->tok.kind == T_XOR)) {
        tok_kind_t op = p->tok.kind;
        size_t off = p->tok.start;
        kids_t run;
        kids_init(&run);
        bool ok = kids_push(p, &run, x);
        while (ok && p->tok.kind == op) {
            cesql_node_t *y = NULL;
            ok = lex(p) && (y = parse_comparison(p)) && kids_push(p, &run, y);
        }
        x = ok ? node_new(p,
                          op == T_AND  ? N_AND
                          : op == T_OR ? N_OR
                                       : N_XOR,
                          WEFT_CESQL_BOOLEAN, off, run.v, run.n)
               : NULL;
        kids_free(&run);
    }
    p->nest--;
    return x;
}

int weft_cesql_parse(const char *text, weft_cesql_t **out, weft_error_t *err) {
    *out = NULL;
    size_t len = strlen(text);
    if (len > WEFT_CESQL_MAX_LENGTH)
        return weft_error_set(err, WEFT_EINVAL, "the expression is longer than %d bytes",
                              WEFT_CESQL_MAX_LENGTH);
    if (!weft_utf8_valid((const uint8_t *)text, len)) {
        /* The column of the first byte that does not start valid UTF-8. */
        size_t ok = 0;
        while (ok < len) {
            unsigned char c = (unsigned char)text[ok];
            size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (ok + n > len || !weft_utf8_valid((const uint8_t *)text + ok, n))
                break;
            ok += n;
        }
        return weft_error_set(err, WEFT_EINVAL, "column %zu: not valid UTF-8",
                              cesql_utf8_count(text, ok) + 1);
    }
    weft_cesql_t *e = calloc(1, sizeof *e);
    if (!e || !(e->text = strdup(text))) {
        free(e);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory parsing an expression");
    }
    parser_t p = {.text = e->text, .len = len, .e = e, .err = err};
    if (lex(&p) && (e->root = parse_expr(&p)) && p.tok.kind != T_END) {
        char found[64];
        describe(&p, &p.tok, found, sizeof found);
        fail(&p, p.tok.start, "unexpected %s after a complete expression", found);
    }
    if (p.failed) {
        weft_cesql_free(e);
        return p.code;
    }
    *out = e;
    return 0;
}

/* ---- Checks before evaluation --------------------------------------------------------- */

static const cesql_node_t *first_missing_function(const cesql_node_t *x) {
    if (x->kind == N_CALL && !x->fn)
        return x;
    for (uint32_t i = 0; i < x->n; i++) {
        const cesql_node_t *m = first_missing_function(x->kids[i]);
        if (m)
            return m;
    }
    return NULL;
}

int weft_cesql_check(const weft_cesql_t *e, weft_error_t *err) {
    const cesql_node_t *m = first_missing_function(e->root);
    if (m) {
        char why[WEFT_CESQL_MESSAGE_MAX];
        cesql_builtin_missing(m, why, sizeof why);
        return weft_error_set(err, WEFT_EINVAL, "column %u: %s", m->column, why);
    }
    if (e->root->type != CESQL_ANY && e->root->type != WEFT_CESQL_BOOLEAN)
        return weft_error_set(
            err, WEFT_EINVAL,
            "the expression yields %s %s, never a Boolean: as a filter it matches no event",
            e->root->type == WEFT_CESQL_INTEGER ? "an" : "a", weft_cesql_type_name(e->root->type));
    return 0;
}
