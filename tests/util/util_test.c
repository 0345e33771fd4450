/* util: the parsers of what users type (durations, sizes) and of what guests hand over
 * (UTF-8). Every case is its own check and names its input when it fails. */
#include <stdint.h>
#include <stdio.h>

#include "test.h"
#include "util/util.h"

typedef int (*parse_fn)(const char *s, uint64_t *out);

/* parses: f(s) succeeds with want. */
static void parses(const char *what, parse_fn f, const char *s, uint64_t want) {
    uint64_t got = 0;
    int rc = f(s, &got);
    if (rc != 0 || got != want)
        fprintf(stderr, "%s(\"%s\"): status %d, value %llu; expected 0, %llu\n", what, s, rc,
                (unsigned long long)got, (unsigned long long)want);
    CHECK(rc == 0 && got == want);
}

/* refuses: f(s) is WEFT_EINVAL. */
static void refuses(const char *what, parse_fn f, const char *s) {
    uint64_t got = 0;
    int rc = f(s, &got);
    if (rc != WEFT_EINVAL)
        fprintf(stderr, "%s(\"%s\"): status %d, value %llu; expected a refusal\n", what,
                s ? s : "(null)", rc, (unsigned long long)got);
    CHECK(rc == WEFT_EINVAL);
}

#define DURATION(s, ns) parses("weft_parse_duration", weft_parse_duration, s, ns)
#define NOT_DURATION(s) refuses("weft_parse_duration", weft_parse_duration, s)
#define SIZE(s, bytes) parses("weft_parse_size", weft_parse_size, s, bytes)
#define NOT_SIZE(s) refuses("weft_parse_size", weft_parse_size, s)

static void test_durations_in_every_unit(void) {
    DURATION("2s", 2000000000ull);
    DURATION("30", 30000000000ull); /* no unit: seconds */
    DURATION("500ms", 500000000ull);
    DURATION("250us", 250000ull);
    DURATION("7ns", 7ull);
    DURATION("1m", 60000000000ull);
    DURATION("2h", 7200000000000ull);
    DURATION("0", 0ull);
    DURATION("0ms", 0ull);
}

static void test_durations_with_a_fraction_are_exact(void) {
    DURATION("1.5s", 1500000000ull);
    DURATION("0.25ms", 250000ull);
    DURATION(".5s", 500000000ull);
    /* 1.001 is not a double: 1.001 * 1e9 is 1000999999.99..., not to be cut to ...999. */
    DURATION("1.001s", 1001000000ull);
    DURATION("0.3s", 300000000ull);
    DURATION("1.1ms", 1100000ull);
    DURATION("2.017s", 2017000000ull);
}

static void test_durations_past_64_bits_are_refused(void) {
    DURATION("10000000000s", 10000000000000000000ull); /* 1e19 ns: fits */
    NOT_DURATION("18446744074s");                      /* just past 2^64 ns */
    NOT_DURATION("5124096h");                          /* 2^64 ns is 5124095.6 h */
    NOT_DURATION("1e30s");
    NOT_DURATION("1e400"); /* past a double */
    NOT_DURATION("inf");
    NOT_DURATION("infs");
}

static void test_malformed_durations_are_refused(void) {
    NOT_DURATION(NULL);
    NOT_DURATION("");
    NOT_DURATION("s");
    NOT_DURATION("ms");
    NOT_DURATION("-1s");
    NOT_DURATION("-0.5s");
    NOT_DURATION("nan");
    NOT_DURATION("nans");
    NOT_DURATION("1x");
    NOT_DURATION("1sec");
    NOT_DURATION("1 s");
    NOT_DURATION("1s ");
    NOT_DURATION("1.5.5s");
    NOT_DURATION("1ms5");
    NOT_DURATION("1KiB");
}

static void test_sizes_in_every_unit(void) {
    SIZE("65536", 65536ull);
    SIZE("0", 0ull);
    SIZE("5B", 5ull);
    SIZE("1K", 1024ull);
    SIZE("1KiB", 1024ull);
    SIZE("1KB", 1000ull);
    SIZE("2M", 2097152ull);
    SIZE("64MiB", 67108864ull);
    SIZE("10MB", 10000000ull);
    SIZE("1G", 1073741824ull);
    SIZE("4GiB", 4294967296ull);
    SIZE("3GB", 3000000000ull);
}

static void test_sizes_with_a_fraction_are_exact(void) {
    SIZE("1.5KiB", 1536ull);
    SIZE("0.5MiB", 524288ull);
    SIZE("1.001KB", 1001ull); /* not 1000: 1.001 * 1000 is 1000.99... as a double */
    SIZE("2.5GB", 2500000000ull);
}

static void test_sizes_past_64_bits_are_refused(void) {
    SIZE("16000000000GiB", 17179869184000000000ull); /* under 2^64 */
    NOT_SIZE("17179869184GiB");                      /* 2^64 */
    NOT_SIZE("18446744073709551616");                /* 2^64 */
    NOT_SIZE("1e30GB");
    NOT_SIZE("1e400");
    NOT_SIZE("inf");
    NOT_SIZE("infB");
}

static void test_malformed_sizes_are_refused(void) {
    NOT_SIZE(NULL);
    NOT_SIZE("");
    NOT_SIZE("MiB");
    NOT_SIZE("-1");
    NOT_SIZE("-1MiB");
    NOT_SIZE("nan");
    NOT_SIZE("1 MiB");
    NOT_SIZE("1MiB ");
    NOT_SIZE("1Mi");
    NOT_SIZE("1TiB");
    NOT_SIZE("1MiBs");
    NOT_SIZE("1s");
}

/* utf8: weft_utf8_valid over exactly n bytes is want. */
static void utf8(const char *name, const char *bytes, size_t n, bool want) {
    bool got = weft_utf8_valid((const uint8_t *)bytes, n);
    if (got != want)
        fprintf(stderr, "weft_utf8_valid(%s): %s, expected %s\n", name, got ? "valid" : "invalid",
                want ? "valid" : "invalid");
    CHECK(got == want);
}
#define VALID(name, lit) utf8(name, lit, sizeof lit - 1, true)
#define INVALID(name, lit) utf8(name, lit, sizeof lit - 1, false)

static void test_utf8_accepts_every_length_to_its_bounds(void) {
    VALID("nothing", "");
    VALID("ASCII", "plain text, 0-9 ~");
    VALID("a NUL byte", "a\0b");
    VALID("U+007F", "\x7f");
    VALID("U+0080, the first of two bytes", "\xc2\x80");
    VALID("U+07FF, the last of two bytes", "\xdf\xbf");
    VALID("U+0800, the first of three bytes", "\xe0\xa0\x80");
    VALID("U+D7FF, just below the surrogates", "\xed\x9f\xbf");
    VALID("U+E000, just above the surrogates", "\xee\x80\x80");
    VALID("U+FFFF, the last of three bytes", "\xef\xbf\xbf");
    VALID("U+10000, the first of four bytes", "\xf0\x90\x80\x80");
    VALID("U+10FFFF, the last code point", "\xf4\x8f\xbf\xbf");
    VALID("mixed text", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.");
}

static void test_utf8_refuses_overlong_forms(void) {
    INVALID("/ in two bytes (C0 AF)", "\xc0\xaf");
    INVALID("NUL in two bytes (C0 80)", "\xc0\x80");
    INVALID("U+007F in two bytes (C1 BF)", "\xc1\xbf");
    INVALID("U+07FF in three bytes (E0 9F BF)", "\xe0\x9f\xbf");
    INVALID("U+FFFF in four bytes (F0 8F BF BF)", "\xf0\x8f\xbf\xbf");
}

static void test_utf8_refuses_surrogates_and_what_is_past_unicode(void) {
    INVALID("U+D800, the first surrogate", "\xed\xa0\x80");
    INVALID("U+DFFF, the last surrogate", "\xed\xbf\xbf");
    INVALID("a surrogate pair, CESU-8 style", "\xed\xa0\xbd\xed\xb8\x80");
    INVALID("U+110000 (F4 90 80 80)", "\xf4\x90\x80\x80");
    INVALID("F5, never a lead byte", "\xf5\x80\x80\x80");
    INVALID("F8, a five-byte lead", "\xf8\x88\x80\x80\x80");
    INVALID("FE", "\xfe");
    INVALID("FF", "\xff");
}

static void test_utf8_refuses_broken_sequences(void) {
    INVALID("a lone continuation byte", "\x80");
    INVALID("a continuation byte after ASCII", "a\xbf");
    INVALID("two bytes cut short at the end", "ab\xc3");
    INVALID("three bytes cut short at the end", "\xe2\x82");
    INVALID("four bytes cut short at the end", "\xf0\x9f\x98");
    INVALID("a lead byte followed by ASCII", "\xe2(\xa1");
    INVALID("a lead byte followed by a lead byte", "\xc3\xc3\xa9");
    /* n is the length: what lies past it is not read, what lies before it is. */
    utf8("valid bytes before n, a bad byte after", "ok\xff", 2, true);
    utf8("a sequence cut by n", "\xc3\xa9", 1, false);
}

int main(void) {
    test_durations_in_every_unit();
    test_durations_with_a_fraction_are_exact();
    test_durations_past_64_bits_are_refused();
    test_malformed_durations_are_refused();
    test_sizes_in_every_unit();
    test_sizes_with_a_fraction_are_exact();
    test_sizes_past_64_bits_are_refused();
    test_malformed_sizes_are_refused();
    test_utf8_accepts_every_length_to_its_bounds();
    test_utf8_refuses_overlong_forms();
    test_utf8_refuses_surrogates_and_what_is_past_unicode();
    test_utf8_refuses_broken_sequences();
    return TEST_DONE();
}
