/* values: the arguments and results of `weft run --invoke`, as text the way wasmtime's
 * --invoke reads and prints them (contract in invoke.h).
 *
 * wasmtime reads an integer as Rust's parse does (an optional sign and decimal digits)
 * or, after 0x, as hex digits, and a float as Rust's f32/f64 parse does (decimal with an
 * optional exponent, inf, infinity, nan, any case). weft reads the same and, since an
 * i32 argument is only bits to the guest, also accepts the unsigned range (4294967295,
 * 0xffffffff), which wasmtime refuses. Results print as Rust's Display prints them:
 * integers signed, floats in the shortest decimal that reads back as the same value,
 * never with an exponent (1e21 is 1000000000000000000000, 1.0 is 1), NaN, inf, -inf.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "invoke.h"

/* [+-]digits (decimal) or 0x hexdigits, into a magnitude and a sign; false when s is
 * anything else or overflows 64 bits. */
static bool read_integer(const char *s, uint64_t *mag, bool *neg) {
    *neg = false;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (*s == '+' || *s == '-') {
        *neg = *s == '-';
        s++;
    }
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (base == 16 ? !isxdigit((unsigned char)*p) : !isdigit((unsigned char)*p))
            return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return false;
    *mag = v;
    return true;
}

/* Rust's float syntax: [+-] then inf, infinity or nan (any case), or digits with at
 * most one '.', at least one digit, then an optional exponent [eE][+-]digits. */
static bool float_syntax(const char *s) {
    if (*s == '+' || *s == '-')
        s++;
    if (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity") || !strcasecmp(s, "nan"))
        return true;
    size_t digits = 0;
    while (isdigit((unsigned char)*s))
        s++, digits++;
    if (*s == '.')
        for (s++; isdigit((unsigned char)*s); s++)
            digits++;
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == 0;
}

int weft_value_parse(char type, const char *s, uint64_t *out) {
    uint64_t mag;
    bool neg;
    switch (type) {
    case 'i':
        if (!read_integer(s, &mag, &neg) || (neg ? mag > 0x80000000u : mag > 0xffffffffu))
            return WEFT_EINVAL;
        *out = (uint32_t)(neg ? 0u - (uint32_t)mag : (uint32_t)mag);
        return 0;
    case 'I':
        if (!read_integer(s, &mag, &neg) || (neg && mag > 0x8000000000000000u))
            return WEFT_EINVAL;
        *out = neg ? 0u - mag : mag;
        return 0;
    case 'f': {
        if (!float_syntax(s))
            return WEFT_EINVAL;
        float f = strtof(s, NULL);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        *out = bits;
        return 0;
    }
    case 'F': {
        if (!float_syntax(s))
            return WEFT_EINVAL;
        double d = strtod(s, NULL);
        memcpy(out, &d, 8);
        return 0;
    }
    default:
        return WEFT_EINVAL;
    }
}

/* d, a finite f64 (or, when single, an f32 widened), in the fewest significant decimal
 * digits that read back as the same value of its type, written out without an exponent. */
static void shortest(double d, bool single, char *out, size_t size) {
    char sci[64];
    int max = single ? 9 : 17;
    for (int prec = 1; prec <= max; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (single ? strtof(sci, NULL) == (float)d : strtod(sci, NULL) == d)
            break;
    }
    /* sci is "[-]d.ddde[+-]x": its digits and its decimal exponent. */
    char digits[32];
    size_t n = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && n < sizeof digits - 1)
            digits[n++] = *p;
    digits[n] = 0;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (n > 1 && digits[n - 1] == '0')
        digits[--n] = 0;
    size_t k = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (k + 1 < size)                                                                          \
            out[k++] = (c);                                                                        \
    } while (0)
    if (neg)
        PUT('-');
    if (exp < 0) {
        PUT('0');
        PUT('.');
        for (int z = 0; z < -exp - 1; z++)
            PUT('0');
        for (size_t i = 0; i < n; i++)
            PUT(digits[i]);
    } else {
        for (size_t i = 0; i < n || (int)i <= exp; i++) {
            if ((int)i == exp + 1)
                PUT('.');
            PUT(i < n ? digits[i] : '0');
        }
    }
#undef PUT
    out[k] = 0;
}

void weft_value_format(char type, uint64_t v, char *out, size_t size) {
    double d;
    bool single = type == 'f';
    switch (type) {
    case 'i':
        snprintf(out, size, "%d", (int32_t)(uint32_t)v);
        return;
    case 'I':
        snprintf(out, size, "%lld", (long long)(int64_t)v);
        return;
    case 'f': {
        uint32_t bits = (uint32_t)v;
        float f;
        memcpy(&f, &bits, 4);
        d = f;
        break;
    }
    default:
        memcpy(&d, &v, 8);
        break;
    }
    if (isnan(d))
        snprintf(out, size, "NaN");
    else if (isinf(d))
        snprintf(out, size, "%sinf", d < 0 ? "-" : "");
    else
        shortest(d, single, out, size);
}
