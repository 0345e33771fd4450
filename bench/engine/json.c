/* JSON-style tokenizing: a generated JSON text (nested objects and arrays, strings with
 * escapes, integers, decimals with exponents, literals) tokenized many times. Each pass
 * folds every token's kind and value (string contents, number digits) into a hash
 * seeded by the pass number, so no pass can be hoisted or skipped.
 * usage: json [KIB=2048] [PASSES=300]; prints the token count and the hash. */
#include "bench.h"

#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} text_t;

static void put(text_t *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1 << 16;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *d = bench_alloc(cap);
        if (t->data)
            memcpy(d, t->data, t->len);
        free(t->data);
        t->data = d;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void puts_(text_t *t, const char *s) {
    put(t, s, strlen(s));
}

static const char *const keys[] = {"id",    "name",   "email", "tags",  "score", "active",
                                   "owner", "items",  "price", "notes", "geo",   "created_at",
                                   "ratio", "parent", "kind",  "meta"};
static const char *const words[] = {"alpha", "beta", "gamma", "delta", "lorem", "ipsum",
                                    "dolor", "sit",  "amet",  "weft",  "warp",  "loom",
                                    "quux",  "foo",  "bar",   "baz"};

static void gen_value(text_t *t, uint64_t *seed, int depth);

static void gen_string(text_t *t, uint64_t *seed) {
    char tmp[32];
    puts_(t, "\"");
    int nw = 1 + (int)(bench_rand(seed) % 6);
    for (int i = 0; i < nw; i++) {
        if (i)
            puts_(t, " ");
        uint64_t r = bench_rand(seed);
        puts_(t, words[r % 16]);
        switch ((r >> 8) % 16) {
        case 0:
            puts_(t, "\\n");
            break;
        case 1:
            puts_(t, "\\\"quoted\\\"");
            break;
        case 2:
            snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)((r >> 16) % 0xd000) + 0x20);
            puts_(t, tmp);
            break;
        case 3:
            puts_(t, "\\\\");
            break;
        default:
            break;
        }
    }
    puts_(t, "\"");
}

static void gen_number(text_t *t, uint64_t *seed) {
    char tmp[64];
    uint64_t r = bench_rand(seed);
    long long v = (long long)(r % 2000000) - 1000000;
    switch ((r >> 32) % 4) {
    case 0:
        snprintf(tmp, sizeof tmp, "%lld.%03u", v, (unsigned)((r >> 40) % 1000));
        break;
    case 1:
        snprintf(tmp, sizeof tmp, "%lld.%02ue%c%u", v % 1000, (unsigned)((r >> 40) % 100),
                 (r >> 50) & 1 ? '-' : '+', (unsigned)((r >> 52) % 30));
        break;
    default:
        snprintf(tmp, sizeof tmp, "%lld", v);
        break;
    }
    puts_(t, tmp);
}

static void gen_object(text_t *t, uint64_t *seed, int depth) {
    int n = 1 + (int)(bench_rand(seed) % 8);
    puts_(t, "{");
    for (int i = 0; i < n; i++) {
        if (i)
            puts_(t, ", ");
        puts_(t, "\"");
        puts_(t, keys[bench_rand(seed) % 16]);
        puts_(t, "\": ");
        gen_value(t, seed, depth + 1);
    }
    puts_(t, "}");
}

static void gen_value(text_t *t, uint64_t *seed, int depth) {
    uint64_t r = bench_rand(seed) % 16;
    if (depth >= 5 && r >= 10)
        r %= 10;
    if (r < 3)
        gen_string(t, seed);
    else if (r < 7)
        gen_number(t, seed);
    else if (r < 8)
        puts_(t, "true");
    else if (r < 9)
        puts_(t, "false");
    else if (r < 10)
        puts_(t, "null");
    else if (r < 13)
        gen_object(t, seed, depth);
    else {
        int n = (int)(bench_rand(seed) % 6);
        puts_(t, "[");
        for (int i = 0; i < n; i++) {
            if (i)
                puts_(t, ",");
            gen_value(t, seed, depth + 1);
        }
        puts_(t, "]");
    }
}

enum {
    T_LBRACE = 1,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_COLON,
    T_COMMA,
    T_STRING,
    T_NUMBER,
    T_TRUE,
    T_FALSE,
    T_NULL
};

#define MIX(h, v) ((h) = ((h) ^ (uint64_t)(v)) * 0x100000001b3ULL)

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Tokenizes s (NUL-terminated); returns the number of tokens, or -1 at the first byte
 * that cannot start or continue a token. */
static long tokenize(const char *s, uint64_t *hash) {
    uint64_t h = *hash;
    long ntok = 0;
    size_t i = 0;
    for (;;) {
        char c = s[i];
        while (c == ' ' || c == '\n' || c == '\t' || c == '\r')
            c = s[++i];
        if (c == '\0')
            break;
        ntok++;
        switch (c) {
        case '{':
            MIX(h, T_LBRACE);
            i++;
            break;
        case '}':
            MIX(h, T_RBRACE);
            i++;
            break;
        case '[':
            MIX(h, T_LBRACKET);
            i++;
            break;
        case ']':
            MIX(h, T_RBRACKET);
            i++;
            break;
        case ':':
            MIX(h, T_COLON);
            i++;
            break;
        case ',':
            MIX(h, T_COMMA);
            i++;
            break;
        case '"': {
            uint64_t sh = 0xcbf29ce484222325ULL;
            uint32_t len = 0;
            i++;
            for (;;) {
                unsigned char ch = (unsigned char)s[i];
                if (ch == '"')
                    break;
                if (ch < 0x20)
                    return -1;
                uint32_t cp = ch;
                if (ch == '\\') {
                    char e = s[++i];
                    switch (e) {
                    case 'n':
                        cp = '\n';
                        break;
                    case 't':
                        cp = '\t';
                        break;
                    case '"':
                    case '\\':
                    case '/':
                        cp = (unsigned char)e;
                        break;
                    case 'u': {
                        cp = 0;
                        for (int k = 1; k <= 4; k++) {
                            int d = hexval(s[i + k]);
                            if (d < 0)
                                return -1;
                            cp = cp << 4 | (uint32_t)d;
                        }
                        i += 4;
                        break;
                    }
                    default:
                        return -1;
                    }
                }
                MIX(sh, cp);
                len++;
                i++;
            }
            i++;
            MIX(h, T_STRING);
            MIX(h, sh);
            MIX(h, len);
            break;
        }
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            int neg = c == '-';
            if (neg)
                i++;
            uint64_t mant = 0;
            int scale = 0, exp = 0, eneg = 0;
            if (s[i] < '0' || s[i] > '9')
                return -1;
            while (s[i] >= '0' && s[i] <= '9')
                mant = mant * 10 + (uint64_t)(s[i++] - '0');
            if (s[i] == '.') {
                i++;
                while (s[i] >= '0' && s[i] <= '9') {
                    mant = mant * 10 + (uint64_t)(s[i++] - '0');
                    scale++;
                }
            }
            if (s[i] == 'e' || s[i] == 'E') {
                i++;
                if (s[i] == '+' || s[i] == '-')
                    eneg = s[i++] == '-';
                while (s[i] >= '0' && s[i] <= '9')
                    exp = exp * 10 + (s[i++] - '0');
            }
            MIX(h, T_NUMBER);
            MIX(h, neg ? 0 - mant : mant);
            MIX(h, (eneg ? -exp : exp) - scale);
            break;
        }
        case 't':
            if (strncmp(s + i, "true", 4))
                return -1;
            MIX(h, T_TRUE);
            i += 4;
            break;
        case 'f':
            if (strncmp(s + i, "false", 5))
                return -1;
            MIX(h, T_FALSE);
            i += 5;
            break;
        case 'n':
            if (strncmp(s + i, "null", 4))
                return -1;
            MIX(h, T_NULL);
            i += 4;
            break;
        default:
            return -1;
        }
    }
    *hash = h;
    return ntok;
}

int main(int argc, char **argv) {
    size_t target = (size_t)bench_arg(argc, argv, 1, 2048) << 10;
    long passes = bench_arg(argc, argv, 2, 300);
    bench_clock_t start = bench_now();
    text_t t = {0};
    uint64_t seed = 0x15011234ABCDULL;
    puts_(&t, "[\n");
    while (t.len < target) {
        if (t.len > 2)
            puts_(&t, ",\n");
        gen_object(&t, &seed, 0);
    }
    puts_(&t, "\n]\n");
    uint64_t total = 0;
    long ntok = 0;
    for (long p = 0; p < passes; p++) {
        uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)p;
        ntok = tokenize(t.data, &h);
        if (ntok < 0) {
            fprintf(stderr, "json: the generated text does not tokenize\n");
            return 1;
        }
        total ^= h;
    }
    bench_report(start);
    printf("json %zu bytes x %ld: %ld tokens, %016llx\n", t.len, passes, ntok,
           (unsigned long long)total);
    free(t.data);
    return 0;
}
