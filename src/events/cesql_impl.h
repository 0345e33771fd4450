/* CESQL internals shared by the parser (cesql_parse.c), the evaluator (cesql_eval.c)
 * and the built-in functions (cesql_func.c). Not part of the events layer's interface:
 * cesql.h is. */
#ifndef WEFT_EVENTS_CESQL_IMPL_H
#define WEFT_EVENTS_CESQL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cesql.h"

/* A type as the parser knows it: the three of the language, or ANY for what only the
 * event decides (a bare attribute). */
enum { CESQL_ANY = 0 };

typedef enum {
    N_LITERAL,
    N_ATTRIBUTE,
    N_EXISTS,
    N_NOT,
    N_NEGATE,
    N_ARITH,   /* op: '*', '/', '%', '+', '-' */
    N_COMPARE, /* op: '<', 'l' (<=), '>', 'g' (>=) */
    N_EQUAL,   /* negate: != and <> */
    N_AND,     /* n-ary: a run of one operator is one node, so that a long */
    N_OR,      /* a OR b OR c ... stays shallow */
    N_XOR,
    N_LIKE, /* negate: NOT LIKE */
    N_IN,   /* negate: NOT IN; kids[0] IN (kids[1..n-1]) */
    N_CALL,
} cesql_kind_t;

/* A value during evaluation: strings point into the expression, the event or the
 * evaluation's scratch memory and live as long as the evaluation. failed marks a value
 * whose computation raised an error (an attribute the event lacks is false and failed):
 * the operator it is an operand of yields its zero value. */
typedef struct cesql_val {
    uint8_t type;
    bool failed;
    int32_t i; /* Integer, and Boolean as 0/1 */
    const char *s;
    size_t len;
} cesql_val_t;

typedef struct cesql_node cesql_node_t;
typedef struct cesql_builtin cesql_builtin_t;

struct cesql_node {
    uint8_t kind;
    uint8_t op;
    bool negate;
    uint8_t type;    /* static type of the result (CESQL_ANY for an attribute) */
    uint16_t depth;  /* 1 + the deepest child */
    uint32_t column; /* of the operator, function name or token, for messages */
    uint32_t n;      /* children */
    cesql_node_t **kids;
    cesql_val_t lit;           /* N_LITERAL; the pattern of N_LIKE (a String) */
    const char *name;          /* N_ATTRIBUTE, N_EXISTS, N_CALL: NUL-terminated */
    const cesql_builtin_t *fn; /* N_CALL: NULL when no function fits (name, arity) */
};

struct weft_cesql {
    cesql_node_t *root;
    char *text;
    struct cesql_block *blocks; /* the arena holding the nodes and strings */
};

/* ---- Evaluation (cesql_eval.c) -------------------------------------------------------- */

typedef struct cesql_scratch_block cesql_scratch_block_t;

typedef struct cesql_ctx {
    const weft_ce_t *ev;
    weft_cesql_error_t *error; /* never NULL inside the evaluator */
    bool fail_fast;
    size_t scratch_total;
    char *chunk; /* current scratch area: [chunk, chunk+cap), used up to used */
    size_t used, cap;
    cesql_scratch_block_t *blocks; /* heap blocks to free */
    char local[512];               /* the first scratch area, on the caller's stack */
} cesql_ctx_t;

/* Records an error (the first one is kept, the others counted). */
void cesql_raise(cesql_ctx_t *c, weft_cesql_error_kind_t kind, uint32_t column, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/* n bytes of scratch memory for a computed string, or NULL with a generic or function
 * evaluation error raised (too long, out of memory). */
char *cesql_scratch(cesql_ctx_t *c, size_t n, uint32_t column);
/* v cast to type (CESQL_ANY: v); raises a cast error at column on failure. */
cesql_val_t cesql_cast(cesql_ctx_t *c, cesql_val_t v, uint8_t type, uint32_t column);
/* Whether v casts to type without error. */
bool cesql_can_cast(cesql_val_t v, uint8_t type);
/* The zero value of a type (false for CESQL_ANY). */
cesql_val_t cesql_zero(uint8_t type);
/* Appends s (len bytes) to buf (cap bytes) quoted and cut for a message. */
void cesql_quote(char *buf, size_t cap, const char *s, size_t len);

/* ---- Built-in functions (cesql_func.c) ----------------------------------------------- */

#define CESQL_VARIADIC 0xff

struct cesql_builtin {
    const char *name; /* upper case */
    uint8_t min_args;
    uint8_t max_args; /* CESQL_VARIADIC: any number from min_args */
    uint8_t params[3];
    uint8_t rest; /* type of the arguments past params, for a variadic one */
    uint8_t ret;
    /* args are already cast to the parameter types; none failed. */
    cesql_val_t (*call)(cesql_ctx_t *c, const cesql_node_t *call, const cesql_val_t *args,
                        uint32_t n);
};

/* The built-in taking nargs arguments named name (len bytes, any case), or NULL; *known
 * tells whether some built-in has that name. */
const cesql_builtin_t *cesql_builtin_find(const char *name, size_t len, uint32_t nargs,
                                          bool *known);
/* Why call (an N_CALL without fn) finds no function: "no function FOO", "SUBSTRING
 * takes 2 or 3 arguments, not 1". */
void cesql_builtin_missing(const cesql_node_t *call, char *buf, size_t cap);
/* Type of parameter i of fn. */
uint8_t cesql_builtin_param(const cesql_builtin_t *fn, uint32_t i);

/* UTF-8 helpers (valid UTF-8 only). */
size_t cesql_utf8_count(const char *s, size_t len);
/* Byte offset of character index k (k <= count). */
size_t cesql_utf8_offset(const char *s, size_t len, size_t k);

#endif
