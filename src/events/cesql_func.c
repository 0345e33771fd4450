/* CESQL: the built-in functions (cesql.h lists them; CESQL 1.0 section 3.5).
 *
 * Each gets its arguments already cast to its parameter types, none of them a value
 * whose computation failed (the evaluator answers those calls with the zero value of
 * the return type), and returns a
 * value of its return type whatever happens, raising an error beside it when the
 * specification says so. Strings are UTF-8 and counted in characters. */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "cesql_impl.h"

/* ---- UTF-8 ---------------------------------------------------------------------------- */

size_t cesql_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

size_t cesql_utf8_offset(const char *s, size_t len, size_t k) {
    size_t i = 0;
    while (k && i < len) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        k--;
    }
    return i;
}

/* Decodes the character at s[*i] and moves *i past it. A sequence cut short by the end
 * (never in valid UTF-8, which events and expressions are) is taken byte by byte. */
static uint32_t utf8_next(const char *s, size_t len, size_t *i) {
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t n = u[0] < 0x80 ? 1 : u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;
    if (u[0] < 0x80 || *i + n > len) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xe0) {
        *i += 2;
        return (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
    }
    if (u[0] < 0xf0) {
        *i += 3;
        return (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    }
    *i += 4;
    return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
           (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
}

static size_t utf8_put(char *d, uint32_t c) {
    if (c < 0x80) {
        d[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        d[0] = (char)(0xc0 | c >> 6);
        d[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (char)(0xe0 | c >> 12);
        d[1] = (char)(0x80 | (c >> 6 & 0x3f));
        d[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | c >> 18);
    d[1] = (char)(0x80 | (c >> 12 & 0x3f));
    d[2] = (char)(0x80 | (c >> 6 & 0x3f));
    d[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* The Unicode White_Space property (PropList.txt), for TRIM. */
static bool is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Case mapping: the C library's Unicode tables, through a C.UTF-8 locale of our own so
 * that the process's locale does not change what LOWER and UPPER do. Where that locale
 * is missing, only ASCII letters are mapped. */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void) {
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t map_case(uint32_t c, bool upper) {
    if (utf8_locale) {
        wint_t m = upper ? towupper_l((wint_t)c, utf8_locale) : towlower_l((wint_t)c, utf8_locale);
        /* A mapping to a surrogate or beyond Unicode would not be UTF-8: keep c. */
        if ((m < 0xd800 || m > 0xdfff) && m <= 0x10ffff)
            return (uint32_t)m;
        return c;
    }
    if (upper && c >= 'a' && c <= 'z')
        return c - ('a' - 'A');
    if (!upper && c >= 'A' && c <= 'Z')
        return c + ('a' - 'A');
    return c;
}

/* ---- The functions -------------------------------------------------------------------- */

#define STR(s_, n_) ((cesql_val_t){.type = WEFT_CESQL_STRING, .s = (s_), .len = (n_)})
#define INT(i_) ((cesql_val_t){.type = WEFT_CESQL_INTEGER, .i = (i_)})
#define BOOL(b_) ((cesql_val_t){.type = WEFT_CESQL_BOOLEAN, .i = (b_) ? 1 : 0})

static cesql_val_t fn_length(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                             uint32_t n) {
    return INT((int32_t)cesql_utf8_count(a[0].s, a[0].len));
}

/* CONCAT(s...) and CONCAT_WS(sep, s...): sep (when ws) between the strings. */
static cesql_val_t concat(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a, uint32_t n,
                          bool ws) {
    uint32_t first = ws ? 1 : 0;
    size_t total = 0;
    for (uint32_t i = first; i < n; i++) {
        total += a[i].len + (ws && i > first ? a[0].len : 0);
        if (total > WEFT_CESQL_MAX_STRING)
            break;
    }
    char *d = cesql_scratch(c, total, x->column);
    if (!d)
        return STR("", 0);
    size_t o = 0;
    for (uint32_t i = first; i < n; i++) {
        if (ws && i > first) {
            memcpy(d + o, a[0].s, a[0].len);
            o += a[0].len;
        }
        memcpy(d + o, a[i].s, a[i].len);
        o += a[i].len;
    }
    return STR(d, o);
}

static cesql_val_t fn_concat(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                             uint32_t n) {
    return concat(c, x, a, n, false);
}

static cesql_val_t fn_concat_ws(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                                uint32_t n) {
    return concat(c, x, a, n, true);
}

static cesql_val_t change_case(cesql_ctx_t *c, const cesql_node_t *x, cesql_val_t s, bool upper) {
    pthread_once(&utf8_once, utf8_locale_init);
    /* A mapped character may take more bytes than the original: measure first. */
    size_t n = 0;
    char tmp[4];
    for (size_t i = 0; i < s.len;)
        n += utf8_put(tmp, map_case(utf8_next(s.s, s.len, &i), upper));
    char *d = cesql_scratch(c, n, x->column);
    if (!d)
        return STR("", 0);
    size_t o = 0;
    for (size_t i = 0; i < s.len;)
        o += utf8_put(d + o, map_case(utf8_next(s.s, s.len, &i), upper));
    return STR(d, o);
}

static cesql_val_t fn_lower(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                            uint32_t n) {
    return change_case(c, x, a[0], false);
}

static cesql_val_t fn_upper(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                            uint32_t n) {
    return change_case(c, x, a[0], true);
}

static cesql_val_t fn_trim(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                           uint32_t n) {
    size_t start = 0, end = 0;
    bool seen = false;
    for (size_t i = 0; i < a[0].len;) {
        size_t at = i;
        if (!is_white_space(utf8_next(a[0].s, a[0].len, &i))) {
            if (!seen)
                start = at;
            seen = true;
            end = i;
        }
    }
    return STR(a[0].s + start, end - start);
}

/* LEFT(s, n) and RIGHT(s, n): s itself when n >= LENGTH(s), and when n < 0 (an error). */
static cesql_val_t left_right(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                              bool right) {
    if (a[1].i < 0) {
        cesql_raise(c, WEFT_CESQL_EFUNCTION_EVALUATION, x->column, "%s: length %d is negative",
                    x->name, a[1].i);
        return a[0];
    }
    size_t count = cesql_utf8_count(a[0].s, a[0].len);
    if ((size_t)a[1].i >= count)
        return a[0];
    if (right) {
        size_t off = cesql_utf8_offset(a[0].s, a[0].len, count - (size_t)a[1].i);
        return STR(a[0].s + off, a[0].len - off);
    }
    return STR(a[0].s, cesql_utf8_offset(a[0].s, a[0].len, (size_t)a[1].i));
}

static cesql_val_t fn_left(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                           uint32_t n) {
    return left_right(c, x, a, false);
}

static cesql_val_t fn_right(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                            uint32_t n) {
    return left_right(c, x, a, true);
}

/* SUBSTRING(s, pos[, len]): pos counts from 1, or from the end when negative; pos 0
 * gives "". A pos beyond the string either way, or a negative len, gives "" and an
 * error. */
static cesql_val_t fn_substring(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                                uint32_t n) {
    int64_t count = (int64_t)cesql_utf8_count(a[0].s, a[0].len), pos = a[1].i;
    if (n == 3 && a[2].i < 0) {
        cesql_raise(c, WEFT_CESQL_EFUNCTION_EVALUATION, x->column,
                    "SUBSTRING: length %d is negative", a[2].i);
        return STR("", 0);
    }
    if (pos > count || pos < -count) {
        char q[64];
        cesql_quote(q, sizeof q, a[0].s, a[0].len);
        cesql_raise(c, WEFT_CESQL_EFUNCTION_EVALUATION, x->column,
                    "SUBSTRING: position %d is outside %s (%lld characters)", a[1].i, q,
                    (long long)count);
        return STR("", 0);
    }
    if (pos == 0)
        return STR("", 0);
    int64_t begin = pos < 0 ? count + pos : pos - 1;
    int64_t end = n == 3 && begin + a[2].i < count ? begin + a[2].i : count;
    size_t b = cesql_utf8_offset(a[0].s, a[0].len, (size_t)begin);
    size_t e = b + cesql_utf8_offset(a[0].s + b, a[0].len - b, (size_t)(end - begin));
    return STR(a[0].s + b, e - b);
}

static cesql_val_t fn_abs(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a, uint32_t n) {
    if (a[0].i == INT32_MIN) {
        cesql_raise(c, WEFT_CESQL_EMATH, x->column,
                    "ABS(-2147483648) overflows the Integer range: 2147483647 instead");
        return INT(INT32_MAX);
    }
    return INT(a[0].i < 0 ? -a[0].i : a[0].i);
}

static cesql_val_t fn_int(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a, uint32_t n) {
    return cesql_cast(c, a[0], WEFT_CESQL_INTEGER, x->kids[0]->column);
}

static cesql_val_t fn_bool(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                           uint32_t n) {
    return cesql_cast(c, a[0], WEFT_CESQL_BOOLEAN, x->kids[0]->column);
}

static cesql_val_t fn_string(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                             uint32_t n) {
    return cesql_cast(c, a[0], WEFT_CESQL_STRING, x->kids[0]->column);
}

static cesql_val_t fn_is_int(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                             uint32_t n) {
    return BOOL(cesql_can_cast(a[0], WEFT_CESQL_INTEGER));
}

static cesql_val_t fn_is_bool(cesql_ctx_t *c, const cesql_node_t *x, const cesql_val_t *a,
                              uint32_t n) {
    return BOOL(cesql_can_cast(a[0], WEFT_CESQL_BOOLEAN));
}

enum { S = WEFT_CESQL_STRING, I = WEFT_CESQL_INTEGER, B = WEFT_CESQL_BOOLEAN, A = CESQL_ANY };

static const cesql_builtin_t builtins[] = {
    {"LENGTH", 1, 1, {S}, 0, I, fn_length},
    {"CONCAT", 0, CESQL_VARIADIC, {0}, S, S, fn_concat},
    {"CONCAT_WS", 1, CESQL_VARIADIC, {S}, S, S, fn_concat_ws},
    {"LOWER", 1, 1, {S}, 0, S, fn_lower},
    {"UPPER", 1, 1, {S}, 0, S, fn_upper},
    {"TRIM", 1, 1, {S}, 0, S, fn_trim},
    {"LEFT", 2, 2, {S, I}, 0, S, fn_left},
    {"RIGHT", 2, 2, {S, I}, 0, S, fn_right},
    {"SUBSTRING", 2, 3, {S, I, I}, 0, S, fn_substring},
    {"ABS", 1, 1, {I}, 0, I, fn_abs},
    {"INT", 1, 1, {A}, 0, I, fn_int},
    {"BOOL", 1, 1, {A}, 0, B, fn_bool},
    {"STRING", 1, 1, {A}, 0, S, fn_string},
    {"IS_INT", 1, 1, {A}, 0, B, fn_is_int},
    {"IS_BOOL", 1, 1, {A}, 0, B, fn_is_bool},
};

const cesql_builtin_t *cesql_builtin_find(const char *name, size_t len, uint32_t nargs,
                                          bool *known) {
    *known = false;
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
        const cesql_builtin_t *f = &builtins[i];
        if (strlen(f->name) != len || strncasecmp(f->name, name, len))
            continue;
        *known = true;
        if (nargs >= f->min_args && (f->max_args == CESQL_VARIADIC || nargs <= f->max_args))
            return f;
    }
    return NULL;
}

uint8_t cesql_builtin_param(const cesql_builtin_t *fn, uint32_t i) {
    if (fn->max_args == CESQL_VARIADIC && i >= fn->min_args)
        return fn->rest;
    return fn->params[i];
}

void cesql_builtin_missing(const cesql_node_t *x, char *buf, size_t cap) {
    bool known;
    cesql_builtin_find(x->name, strlen(x->name), x->n, &known);
    if (!known) {
        snprintf(buf, cap, "no function %s", x->name);
        return;
    }
    const cesql_builtin_t *f = NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (!strcmp(builtins[i].name, x->name))
            f = &builtins[i];
    char takes[32];
    if (f->max_args == CESQL_VARIADIC)
        snprintf(takes, sizeof takes, "%u or more", f->min_args);
    else if (f->max_args != f->min_args)
        snprintf(takes, sizeof takes, "%u or %u", f->min_args, f->max_args);
    else
        snprintf(takes, sizeof takes, "%u", f->min_args);
    snprintf(buf, cap, "%s takes %s argument%s, not %u", x->name, takes,
             f->max_args == 1 && f->min_args == 1 ? "" : "s", x->n);
}
