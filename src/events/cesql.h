/* events: CloudEvents SQL Expression Language (CESQL) 1.0.
 *
 * An expression is parsed once (weft_cesql_parse) into an immutable tree that any
 * number of threads may evaluate at once against events (weft_cesql_eval for the value,
 * weft_cesql_match for a trigger's filter).
 *
 * The language, as weft reads the 1.0 specification where it leaves room:
 *
 * Syntax. Keywords (AND OR XOR NOT LIKE IN EXISTS TRUE FALSE) and function names are
 * case-insensitive. An attribute name is what an event can hold, [a-z0-9]{1,20}: any
 * other word that is not a keyword nor followed by '(' is a parse error. Strings are
 * '...' or "..."; inside them a backslash followed by the delimiting quote stands for
 * that quote, and any other backslash is kept as it is ('a\b' is a, backslash, b).
 * Integer literals are 32-bit: a sign written directly before the digits belongs to the
 * literal (-2147483648 is a literal; --10 is minus -10), anything out of range is a
 * parse error. Precedence, tightest first, as the specification lists it: function
 * calls; NOT and unary -; LIKE; EXISTS; IN; * / %; + -; the comparisons; AND, OR and
 * XOR, which share one level and group from the left like every binary operator here
 * (a OR b AND c is (a OR b) AND c, and NOT a = b is (NOT a) = b: write the parentheses).
 * A LIKE pattern is a string literal: '%' matches any run of characters, '_' one
 * character, '\%' and '\_' those characters, anything else (a lone backslash too)
 * itself, case included. Nesting is limited to WEFT_CESQL_MAX_DEPTH levels and the text
 * to WEFT_CESQL_MAX_LENGTH bytes of UTF-8.
 *
 * Types. Boolean, Integer (int32) and String (UTF-8; lengths and positions count
 * characters). An attribute is an Integer when the event types it WEFT_CE_INTEGER, a
 * Boolean when WEFT_CE_BOOLEAN, else a String (timestamps, URIs, binary as their
 * canonical text). Operands are cast to what an operator takes: = != <> cast the left
 * operand to the right one's type; IN casts each element to the left operand's type;
 * LIKE casts its left operand to String. Casts: Integer to String in decimal; Boolean to
 * String "true"/"false"; Integer to Boolean nonzero; Boolean to Integer 1/0; String to
 * Integer an optionally signed decimal in range; String to Boolean "true"/"false" in any
 * case. A cast that fails raises a cast error and yields 0 or false (a String always
 * casts), and the operator goes on with that value.
 *
 * Errors never stop an evaluation (except in weft_cesql_match, which stops at the first:
 * the specification's fail-fast mode for filters). Every operator and function yields a
 * value whatever happens, and the first error raised is reported beside the result:
 *   - An operator or function one of whose operands raised an error yields the zero value
 *     of its type (false, 0, "") without computing, as the specification says of an
 *     attribute the event lacks (which raises a missing attribute error): missing * 5
 *     is 0, missing / 0 is 0 without a math error, true AND (1 != 1 / 0) is false, and
 *     a bare missing attribute is false. EXISTS never raises.
 *   - Its own errors yield what the specification gives: x / 0 and x % 0 are 0 (math
 *     error); a result outside int32 (+ - * /, unary -, ABS(-2147483648)) is the nearest
 *     int32 (math error); LEFT and RIGHT with a negative length give x, SUBSTRING with a
 *     position beyond the string or a negative length "" (function evaluation error); a
 *     failed cast of an operand gives 0 or false and the operator goes on with it.
 *   - AND and OR evaluate their right operand only when the left one does not decide.
 *     IN stops at the first element that matches.
 *   - A call to an unknown function, or with a number of arguments it does not take,
 *     yields false (missing function error) and evaluates no argument. The parser finds
 *     such calls, but they are evaluation errors as the specification says:
 *     weft_cesql_check reports them beforehand for those who refuse such expressions.
 *   - A string result longer than WEFT_CESQL_MAX_STRING bytes is "" (function
 *     evaluation error); an evaluation needing more than WEFT_CESQL_MAX_SCRATCH bytes of
 *     computed strings in all yields zero values (generic error).
 *
 * Built-in functions: LENGTH(s), CONCAT(s...), CONCAT_WS(sep, s...), LOWER(s), UPPER(s)
 * (Unicode simple case mapping), TRIM(s) (Unicode White_Space), LEFT(s, n), RIGHT(s, n),
 * SUBSTRING(s, pos), SUBSTRING(s, pos, len), ABS(n), INT(x), BOOL(x), STRING(x) (the
 * casts above), IS_INT(x) and IS_BOOL(x) (whether x casts without error).
 */
#ifndef WEFT_EVENTS_CESQL_H
#define WEFT_EVENTS_CESQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"
#include "cloudevent.h"

/* Bounds on an expression (untrusted text: a manifest, a command line). */
#define WEFT_CESQL_MAX_LENGTH 65536 /* bytes of expression text */
#define WEFT_CESQL_MAX_DEPTH 100    /* nested operators, calls and parentheses */
/* Bounds on one evaluation. */
#define WEFT_CESQL_MAX_STRING (1u << 20)   /* bytes of a computed string */
#define WEFT_CESQL_MAX_SCRATCH (16u << 20) /* bytes of computed strings in all */

typedef struct weft_cesql weft_cesql_t;

typedef enum {
    WEFT_CESQL_BOOLEAN = 1,
    WEFT_CESQL_INTEGER,
    WEFT_CESQL_STRING,
} weft_cesql_type_t;

/* A value. string is owned by the value (NUL-terminated at len, valid UTF-8) and freed
 * by weft_cesql_value_clear; it is NULL for the other types. */
typedef struct weft_cesql_value {
    weft_cesql_type_t type;
    bool boolean;
    int32_t integer;
    char *string;
    size_t len;
} weft_cesql_value_t;

/* X(NAME, name): the specification's error types and the names weft prints. */
#define WEFT_CESQL_ERRORS(X)                                                                       \
    X(PARSE, "parse")                                                                              \
    X(MATH, "math")                                                                                \
    X(CAST, "cast")                                                                                \
    X(MISSING_ATTRIBUTE, "missing attribute")                                                      \
    X(MISSING_FUNCTION, "missing function")                                                        \
    X(FUNCTION_EVALUATION, "function evaluation")                                                  \
    X(GENERIC, "generic")

typedef enum {
    WEFT_CESQL_OK = 0,
#define WEFT_CESQL_ERR_ENUM_(name, text) WEFT_CESQL_E##name,
    WEFT_CESQL_ERRORS(WEFT_CESQL_ERR_ENUM_)
#undef WEFT_CESQL_ERR_ENUM_
} weft_cesql_error_kind_t;

#define WEFT_CESQL_MESSAGE_MAX 256
/* The first error an evaluation raised, and how many it raised in all. */
typedef struct weft_cesql_error {
    weft_cesql_error_kind_t kind; /* WEFT_CESQL_OK: none */
    uint32_t column;              /* 1-based, in characters, of what raised it */
    uint32_t count;
    char message[WEFT_CESQL_MESSAGE_MAX]; /* one line, without the kind and column */
} weft_cesql_error_t;

/* "parse", "math", "cast", "missing attribute", "missing function", "function
 * evaluation", "generic"; "none" for WEFT_CESQL_OK. */
const char *weft_cesql_error_kind_name(weft_cesql_error_kind_t kind);
/* "Boolean", "Integer", "String". */
const char *weft_cesql_type_name(weft_cesql_type_t type);

/* Parses text (NUL-terminated) into *out, which the caller frees with weft_cesql_free.
 * A parse error is WEFT_EINVAL with err's message saying where and what ("column 12:
 * expected an expression after AND, found the end"); WEFT_ENOMEM. */
int weft_cesql_parse(const char *text, weft_cesql_t **out, weft_error_t *err);
void weft_cesql_free(weft_cesql_t *expr);
/* The text the expression was parsed from. */
const char *weft_cesql_text(const weft_cesql_t *expr);

/* What the parser knows every evaluation would do wrong, for a filter to refuse the
 * expression beforehand: a call to a missing function ("column 1: no function FOO"),
 * or a result that is never a Boolean ("the expression yields an Integer, never a
 * Boolean: as a filter it matches no event"). 0 or WEFT_EINVAL with err set. */
int weft_cesql_check(const weft_cesql_t *expr, weft_error_t *err);

/* Evaluates expr against ev into *out (clear it with weft_cesql_value_clear). Returns
 * 0 when no error was raised (error->kind is WEFT_CESQL_OK), WEFT_EINVAL when one was:
 * *error tells the first and *out holds the value evaluation yields all the same;
 * WEFT_ENOMEM when the result could not be copied out (*out is then false). error may
 * be NULL. */
int weft_cesql_eval(const weft_cesql_t *expr, const weft_ce_t *ev, weft_cesql_value_t *out,
                    weft_cesql_error_t *error);

/* Does ev pass expr as a filter? Only when the result is the Boolean true and no error
 * was raised (CESQL 1.0 section 1.2: a String "true" or an Integer does not pass). Stops
 * at the first error, which goes to *error when error is not NULL. Allocates nothing
 * unless a function computes a string longer than a few hundred bytes. */
bool weft_cesql_match(const weft_cesql_t *expr, const weft_ce_t *ev, weft_cesql_error_t *error);

void weft_cesql_value_clear(weft_cesql_value_t *v);
/* Appends v as JSON to out: true, 42, "text" (escaped as JSON). 0 or WEFT_ENOMEM. */
int weft_cesql_value_json(const weft_cesql_value_t *v, weft_buf_t *out);

/* weft cesql [--event FILE] [--] EXPRESSION (cesql_cli.c): evaluates EXPRESSION against
 * the structured-mode JSON event in FILE (or a minimal event) and prints the value as
 * JSON. Returns the exit status: 0; 1 when parsing or evaluation raised an error, or the
 * event file is wrong; 2 for a usage error (the values of cli.h's WEFT_EXIT_*). argv[0]
 * is the command's name. */
int weft_cesql_cli(int argc, char **argv);

#endif
