/* LZ77 compression and decompression of a generated semi-repetitive text (words drawn
 * from a small vocabulary, with occasional random letters), round-tripped many times.
 * Matches are found through hash chains over 3-byte prefixes in a 32 KiB window; the
 * output is a byte stream of literal runs and (length, distance) pairs. Every round trip
 * is checked against the input (exit 1 if it differs).
 * usage: lz77 [KIB=2048] [PASSES=24]; prints the compressed size and a hash of it. */
#include "bench.h"

#include <string.h>

#define WINDOW (1 << 15)
#define HASH_BITS 15
#define MIN_MATCH 4
#define MAX_MATCH (MIN_MATCH + 127)
#define MAX_CHAIN 48
#define MAX_LITERALS 128

static uint32_t hash3(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Token bytes: 0xxxxxxx = a run of x+1 literals follows; 1xxxxxxx = a match of length
 * x+MIN_MATCH, its distance-1 in the next two bytes (little-endian). Returns the
 * compressed size; out must hold n + n / MAX_LITERALS + 1 bytes. head has 1 << HASH_BITS
 * entries, prev n; both hold positions + 1 (0 = none). */
static size_t compress(const uint8_t *in, size_t n, uint8_t *out, uint32_t *head, uint32_t *prev) {
    memset(head, 0, sizeof(uint32_t) << HASH_BITS);
    size_t o = 0, lit_start = 0, i = 0;
    while (i < n) {
        size_t best_len = 0, best_dist = 0;
        if (i + MIN_MATCH <= n) {
            uint32_t hv = hash3(in + i);
            size_t limit = n - i < MAX_MATCH ? n - i : MAX_MATCH;
            uint32_t cand = head[hv];
            for (int chain = 0; cand && chain < MAX_CHAIN; chain++) {
                size_t j = cand - 1;
                if (i - j > WINDOW)
                    break;
                if (in[j + best_len] == in[i + best_len]) {
                    size_t len = 0;
                    while (len < limit && in[j + len] == in[i + len])
                        len++;
                    if (len > best_len) {
                        best_len = len;
                        best_dist = i - j;
                        if (len == limit)
                            break;
                    }
                }
                cand = prev[j];
            }
            prev[i] = head[hv];
            head[hv] = (uint32_t)i + 1;
        }
        if (best_len >= MIN_MATCH) {
            for (size_t s = lit_start; s < i; s += MAX_LITERALS) {
                size_t run = i - s < MAX_LITERALS ? i - s : MAX_LITERALS;
                out[o++] = (uint8_t)(run - 1);
                memcpy(out + o, in + s, run);
                o += run;
            }
            out[o++] = (uint8_t)(0x80 | (best_len - MIN_MATCH));
            out[o++] = (uint8_t)((best_dist - 1) & 0xff);
            out[o++] = (uint8_t)((best_dist - 1) >> 8);
            /* Enter the matched positions into the chains too. */
            size_t end = i + best_len;
            for (i++; i < end; i++) {
                if (i + MIN_MATCH <= n) {
                    uint32_t hv = hash3(in + i);
                    prev[i] = head[hv];
                    head[hv] = (uint32_t)i + 1;
                }
            }
            lit_start = i;
        } else {
            i++;
        }
    }
    for (size_t s = lit_start; s < n; s += MAX_LITERALS) {
        size_t run = n - s < MAX_LITERALS ? n - s : MAX_LITERALS;
        out[o++] = (uint8_t)(run - 1);
        memcpy(out + o, in + s, run);
        o += run;
    }
    return o;
}

/* Returns the decompressed size, or (size_t)-1 on a malformed stream or overflow. */
static size_t decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t tok = in[i++];
        if (tok < 0x80) {
            size_t run = (size_t)tok + 1;
            if (run > n - i || run > cap - o)
                return (size_t)-1;
            memcpy(out + o, in + i, run);
            i += run;
            o += run;
        } else {
            if (n - i < 2)
                return (size_t)-1;
            size_t len = (size_t)(tok & 0x7f) + MIN_MATCH;
            size_t dist = ((size_t)in[i] | (size_t)in[i + 1] << 8) + 1;
            i += 2;
            if (dist > o || len > cap - o)
                return (size_t)-1;
            for (size_t k = 0; k < len; k++, o++) /* byte by byte: a match may overlap */
                out[o] = out[o - dist];
        }
    }
    return o;
}

int main(int argc, char **argv) {
    size_t n = (size_t)bench_arg(argc, argv, 1, 2048) * 1024;
    long passes = bench_arg(argc, argv, 2, 24);
    if (n > ((size_t)1 << 30)) {
        fprintf(stderr, "lz77: KIB must be at most %d\n", 1 << 20);
        return 2;
    }
    static const char *const words[] = {
        "the ",    "quick ",  "brown ",  "fox ",    "jumps ",   "over ",   "lazy ",
        "dog ",    "wasm ",   "module ", "engine ", "compile ", "native ", "code ",
        "memory ", "table ",  "import ", "export ", "func ",    "call ",   "loop ",
        "block ",  "branch ", "return ", "i32 ",    "i64 ",     "f32 ",    "f64 ",
        "local ",  "global ", "store ",  "load ",   ", ",       ". ",      "\n"};
    const size_t nwords = sizeof words / sizeof words[0];
    uint8_t *text = bench_alloc(n);
    uint8_t *packed = bench_alloc(n + n / MAX_LITERALS + 1);
    uint8_t *back = bench_alloc(n);
    uint32_t *head = bench_alloc(sizeof(uint32_t) << HASH_BITS);
    uint32_t *prev = bench_alloc(n * sizeof(uint32_t));
    bench_clock_t start = bench_now();
    uint64_t seed = 0x4C5A3737ULL;
    for (size_t i = 0; i < n;) {
        uint64_t r = bench_rand(&seed);
        if (r % 16 == 0) {
            text[i++] = (uint8_t)('a' + (r >> 8) % 26);
        } else {
            const char *w = words[(r >> 8) % nwords];
            for (size_t k = 0; w[k] && i < n; k++)
                text[i++] = (uint8_t)w[k];
        }
    }
    size_t packed_len = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (long p = 0; p < passes; p++) {
        /* Each pass changes a few bytes, so no pass repeats the one before. */
        for (int k = 0; k < 16; k++)
            text[bench_rand(&seed) % n] = (uint8_t)('A' + p % 26);
        packed_len = compress(text, n, packed, head, prev);
        size_t back_len = decompress(packed, packed_len, back, n);
        if (back_len != n || memcmp(back, text, n) != 0) {
            fprintf(stderr, "lz77: pass %ld: the round trip differs from the input\n", p);
            return 1;
        }
        for (size_t i = 0; i < packed_len; i++)
            h = (h ^ packed[i]) * 0x100000001b3ULL;
    }
    bench_report(start);
    printf("lz77 %zu bytes x %ld: %zu compressed, %016llx\n", n, passes, packed_len,
           (unsigned long long)h);
    free(text);
    free(packed);
    free(back);
    free(head);
    free(prev);
    return 0;
}
