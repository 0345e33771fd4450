/* Arguments and results of `weft run --invoke` as text (invoke/values.c): read as
 * wasmtime reads them, printed as wasmtime (Rust's Display) prints them. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "invoke/invoke.h"
#include "test.h"

static const char *fmt(char t, uint64_t v) {
    static char out[400];
    weft_value_format(t, v, out, sizeof out);
    return out;
}

static uint64_t f32_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static uint64_t f64_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* The bits t reads from s, or 0xdead when it refuses s. */
static uint64_t parse(char t, const char *s) {
    uint64_t v;
    return weft_value_parse(t, s, &v) ? 0xdead : v;
}

int main(void) {
    /* Integers print signed. */
    CHECK_EQ_STR(fmt('i', 42), "42");
    CHECK_EQ_STR(fmt('i', 0xffffffffu), "-1");
    CHECK_EQ_STR(fmt('i', 0x80000000u), "-2147483648");
    CHECK_EQ_STR(fmt('I', 0x8000000000000000u), "-9223372036854775808");
    CHECK_EQ_STR(fmt('I', 370370367036u), "370370367036");

    /* Floats: the shortest decimal that reads back the same, never an exponent. */
    CHECK_EQ_STR(fmt('F', f64_bits(1.0)), "1");
    CHECK_EQ_STR(fmt('F', f64_bits(0.1)), "0.1");
    CHECK_EQ_STR(fmt('F', f64_bits(0.1 + 0.2)), "0.30000000000000004");
    CHECK_EQ_STR(fmt('F', f64_bits(123.456)), "123.456");
    CHECK_EQ_STR(fmt('F', f64_bits(-2.5)), "-2.5");
    CHECK_EQ_STR(fmt('F', f64_bits(-0.0)), "-0");
    CHECK_EQ_STR(fmt('F', f64_bits(0.0)), "0");
    CHECK_EQ_STR(fmt('F', f64_bits(1e21)), "1000000000000000000000");
    CHECK_EQ_STR(fmt('F', f64_bits(1e-7)), "0.0000001");
    char tiny[400] = "0.";
    memset(tiny + 2, '0', 323); /* the smallest f64: 5e-324 */
    strcpy(tiny + 325, "5");
    CHECK_EQ_STR(fmt('F', f64_bits(5e-324)), tiny);
    CHECK_EQ_INT(strlen(fmt('F', f64_bits(1.7976931348623157e308))), 309);
    CHECK_EQ_STR(fmt('F', f64_bits(NAN)), "NaN");
    CHECK_EQ_STR(fmt('F', f64_bits(-NAN)), "NaN");
    CHECK_EQ_STR(fmt('F', f64_bits(INFINITY)), "inf");
    CHECK_EQ_STR(fmt('F', f64_bits(-INFINITY)), "-inf");
    /* An f32 is as short as an f32 needs, not as its widening to f64 would be. */
    CHECK_EQ_STR(fmt('f', f32_bits(0.1f)), "0.1");
    CHECK_EQ_STR(fmt('f', f32_bits(1.0f / 3.0f)), "0.33333334");
    CHECK_EQ_STR(fmt('f', f32_bits(16777216.0f)), "16777216");
    CHECK_EQ_STR(fmt('f', f32_bits(3.4028235e38f)), "340282350000000000000000000000000000000");
    CHECK_EQ_STR(fmt('f', f32_bits(-INFINITY)), "-inf");

    /* Integers: decimal with a sign, or hex after 0x; i32 in either 32-bit range. */
    CHECK_EQ_INT(parse('i', "40"), 40);
    CHECK_EQ_INT(parse('i', "+40"), 40);
    CHECK_EQ_INT(parse('i', "-1"), 0xffffffffu);
    CHECK_EQ_INT(parse('i', "-2147483648"), 0x80000000u);
    CHECK_EQ_INT(parse('i', "4294967295"), 0xffffffffu);
    CHECK_EQ_INT(parse('i', "0x7fffffff"), 0x7fffffff);
    CHECK_EQ_INT(parse('i', "0XFFFFFFFF"), 0xffffffffu);
    CHECK_EQ_INT(parse('i', "-2147483649"), 0xdead);
    CHECK_EQ_INT(parse('i', "4294967296"), 0xdead);
    CHECK_EQ_INT(parse('i', "0x100000000"), 0xdead);
    CHECK_EQ_INT(parse('I', "-9223372036854775808"), (int64_t)INT64_MIN);
    CHECK_EQ_INT(parse('I', "0xffffffffffffffff"), -1);
    CHECK_EQ_INT(parse('I', "18446744073709551616"), 0xdead);
    CHECK_EQ_INT(parse('I', "-9223372036854775809"), 0xdead);
    static const char *const not_integers[] = {"",    "-",    "0x",  "1.5",   " 1", "1 ",
                                               "1e3", "0x-1", "--1", "1_000", "abc"};
    for (size_t i = 0; i < sizeof not_integers / sizeof not_integers[0]; i++)
        CHECK_EQ_INT(parse('i', not_integers[i]), 0xdead);

    /* Floats as Rust reads them. */
    CHECK_EQ_INT(parse('F', "1.5"), f64_bits(1.5));
    CHECK_EQ_INT(parse('F', ".5"), f64_bits(0.5));
    CHECK_EQ_INT(parse('F', "5."), f64_bits(5.0));
    CHECK_EQ_INT(parse('F', "-2e-3"), f64_bits(-2e-3));
    CHECK_EQ_INT(parse('F', "1E+2"), f64_bits(100.0));
    CHECK_EQ_INT(parse('F', "-Infinity"), f64_bits(-INFINITY));
    CHECK_EQ_INT(parse('f', "INF"), f32_bits(INFINITY));
    CHECK_EQ_INT(parse('f', "0.1"), f32_bits(0.1f)); /* rounded once, to an f32 */
    CHECK(isnan(((union {
                    uint64_t b;
                    double d;
                }){parse('F', "nan")})
                    .d));
    static const char *const not_floats[] = {"",   ".",  "e5",    "1e",      "1e+", "0x1p3",
                                             " 1", "1 ", "1.2.3", "infinit", "1,5"};
    for (size_t i = 0; i < sizeof not_floats / sizeof not_floats[0]; i++) {
        CHECK_EQ_INT(parse('f', not_floats[i]), 0xdead);
        CHECK_EQ_INT(parse('F', not_floats[i]), 0xdead);
    }
    return TEST_DONE();
}
