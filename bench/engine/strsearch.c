/* String search with a small backtracking regular-expression matcher (after Kernighan
 * and Pike): literals, '.', '*' after any atom, '^', '$' and character classes such as
 * [a-f] or [^0-9]. A generated text of lines of words is searched for a dozen patterns,
 * line by line, several times; every pass flips a few letters so no pass repeats.
 * usage: strsearch [KIB=1024] [PASSES=24]; prints the lines matched and a hash of which
 * lines matched which pattern. */
#include "bench.h"

#include <string.h>

/* The atom at re: its length, and whether it matches c. */
static int atom_len(const char *re) {
    if (*re != '[')
        return 1;
    const char *p = re + 1;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']')
        p++;
    return (int)(p - re) + (*p == ']');
}

static int atom_matches(const char *re, int c) {
    if (*re == '.')
        return 1;
    if (*re != '[')
        return *re == c;
    const char *p = re + 1;
    int negate = *p == '^', hit = 0;
    if (negate)
        p++;
    for (int first = 1; *p && (*p != ']' || first); first = 0) {
        if (p[1] == '-' && p[2] && p[2] != ']') {
            if (c >= (unsigned char)p[0] && c <= (unsigned char)p[2])
                hit = 1;
            p += 3;
        } else {
            if (c == (unsigned char)*p)
                hit = 1;
            p++;
        }
    }
    return hit != negate;
}

static int match_here(const char *re, const char *s, const char *end);

/* Atom at re repeated zero or more times (shortest first), then rest. */
static int match_star(const char *atom, const char *rest, const char *s, const char *end) {
    do {
        if (match_here(rest, s, end))
            return 1;
    } while (s < end && atom_matches(atom, (unsigned char)*s++));
    return 0;
}

static int match_here(const char *re, const char *s, const char *end) {
    for (;;) {
        if (re[0] == '\0')
            return 1;
        int n = atom_len(re);
        if (re[n] == '*')
            return match_star(re, re + n + 1, s, end);
        if (re[0] == '$' && re[1] == '\0')
            return s == end;
        if (s == end || !atom_matches(re, (unsigned char)*s))
            return 0;
        re += n;
        s++;
    }
}

/* Whether re matches somewhere in [s, end). */
static int match(const char *re, const char *s, const char *end) {
    if (re[0] == '^')
        return match_here(re + 1, s, end);
    do {
        if (match_here(re, s, end))
            return 1;
    } while (s++ < end);
    return 0;
}

int main(int argc, char **argv) {
    size_t n = (size_t)bench_arg(argc, argv, 1, 1024) * 1024;
    long passes = bench_arg(argc, argv, 2, 24);
    if (n > ((size_t)1 << 30)) {
        fprintf(stderr, "strsearch: KIB must be at most %d\n", 1 << 20);
        return 2;
    }
    static const char *const words[] = {
        "alpha", "beta",   "gamma",  "delta",  "wasm",   "module", "engine",  "native",
        "code",  "memory", "table",  "import", "export", "func",   "call",    "loop",
        "block", "branch", "return", "i32",    "i64",    "f32",    "f64",     "local",
        "store", "load",   "0x1f",   "42",     "1999",   "error:", "warning", "note"};
    static const char *const patterns[] = {
        "error",         "^warning",           "[0-9][0-9][0-9][0-9]$",
        "w.sm m.d",      "b[aeiou]*ta",        "^[a-f][a-f]*",
        "lo*p.*ret",     "[^a-z0-9 ]",         "e.*e.*e.*e.*e",
        "0x[0-9a-f]*f ", "i[0-9]*4 f[0-9]*2$", "^.*call.*call.*call"};
    const size_t nwords = sizeof words / sizeof words[0];
    const size_t npatterns = sizeof patterns / sizeof patterns[0];
    char *text = bench_alloc(n + 1);
    bench_clock_t start = bench_now();
    uint64_t seed = 0x5354525345415243ULL;
    for (size_t i = 0; i < n;) {
        uint64_t r = bench_rand(&seed);
        if (r % 9 == 0) {
            text[i++] = '\n';
            continue;
        }
        const char *w = words[(r >> 8) % nwords];
        for (size_t k = 0; w[k] && i < n; k++)
            text[i++] = w[k];
        if (i < n)
            text[i++] = ' ';
    }
    text[n] = '\0';
    long matched = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (long p = 0; p < passes; p++) {
        for (int k = 0; k < 64; k++) {
            size_t at = bench_rand(&seed) % n;
            if (text[at] >= 'a' && text[at] <= 'z')
                text[at] = (char)('a' + (text[at] - 'a' + 1 + p) % 26);
        }
        uint64_t line = 0;
        for (const char *s = text; s < text + n; line++) {
            const char *end = memchr(s, '\n', (size_t)(text + n - s));
            if (!end)
                end = text + n;
            for (size_t q = 0; q < npatterns; q++) {
                if (match(patterns[q], s, end)) {
                    matched++;
                    h = (h ^ (line * 16 + q)) * 0x100000001b3ULL;
                }
            }
            s = end + 1;
        }
    }
    bench_report(start);
    printf("strsearch %zu bytes x %ld: %ld lines matched, %016llx\n", n, passes, matched,
           (unsigned long long)h);
    free(text);
    return 0;
}
