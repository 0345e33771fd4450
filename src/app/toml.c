/* toml: a strict TOML 1.0.0 parser (contract in toml.h).
 *
 * One forward pass over the text builds the tree directly; there is no separate token
 * stream, because TOML's lexical rules depend on where the parser is (a bare key, a
 * number and a date all start with digits). Before parsing, the whole document is
 * checked to be UTF-8, so that later stages can copy non-ASCII bytes without looking
 * at them.
 *
 * The redefinition rules of TOML are kept with a few flags on each table (see node_t):
 * how a table came to exist decides what may later add to it.
 *
 * Choices where TOML leaves freedom:
 *  - a newline inside a multi-line string is returned as "\n" whether it was written
 *    LF or CRLF, so a manifest reads the same on every platform;
 *  - the date/time kinds keep their text, canonicalised: 'T' between date and time,
 *    an upper-case 'Z', the fraction of a second with all the digits written;
 *  - a float that overflows a double is an error rather than a silent infinity.
 */
#include "toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables and arrays nested inside each other, counting the root as 0. The parser
 * recurses once per level, and so does weft_toml_free. */
#define WEFT_TOML_MAX_DEPTH 128
/* Largest document accepted: line and column numbers are ints. */
#define WEFT_TOML_MAX_BYTES (64u * 1024 * 1024)
/* Bytes of a key shown in an error message before it is cut with "...". */
#define WEFT_TOML_MAX_KEY_SHOWN 64
/* Bytes of a whole dotted key (a.b.c) shown in an error message. */
#define WEFT_TOML_MAX_PATH_SHOWN 512
/* Tables with at least this many keys get a hash index, so that a large table does not
 * make parsing quadratic. */
#define WEFT_TOML_INDEX_MIN 8

/* How a table came to exist, which decides what may still add keys to it. A table
 * with none of these flags was defined by a [header] (or is the root, or an element of
 * an array of tables): only its own section adds keys to it. */
enum {
    NODE_IMPLICIT = 1u << 0, /* made as the parent in a [a.b] header; [a] may still define it */
    NODE_DOTTED = 1u << 1,   /* made by a dotted key; dotted keys may add, a [header] may not */
    NODE_INLINE = 1u << 2,   /* an inline table { ... }: complete as written */
    NODE_AOT = 1u << 3,      /* an array made by [[header]]; the only kind [[ ]] appends to */
};

/* Every value the parser makes is a node; the public value comes first so that a
 * weft_toml_value_t pointer from this parser is also a node_t pointer. */
typedef struct node {
    weft_toml_value_t v;
    unsigned flags;
    int depth;
    size_t cap;       /* slots allocated in v.u.arr.items or v.u.tab.items */
    uint32_t *index;  /* tables: open addressing, slot = item index + 1, 0 = empty */
    size_t index_cap; /* a power of two, or 0 while the table is small */
} node_t;

/* One part of a (dotted) key, decoded; s is owned by the key path. */
typedef struct {
    char *s;
    size_t len;
    size_t pos; /* where the part starts in the text, for error messages */
} key_part_t;

typedef struct {
    key_part_t *parts;
    size_t n, cap;
} key_path_t;

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    const char *name;
    weft_error_t *err;
    size_t line_pos; /* lines are counted up to here ... */
    int line;        /* ... and this is the line at line_pos */
    weft_buf_t buf;  /* scratch for decoding strings and numbers */
} parser_t;

/* ---- errors and positions ---------------------------------------------------- */

/* Line of pos, 1-based. Positions asked for only grow while parsing, so the count
 * moves forward and the whole document is scanned once; an error may ask about an
 * earlier position, which restarts the count. */
static int line_at(parser_t *p, size_t pos) {
    if (pos < p->line_pos) {
        p->line_pos = 0;
        p->line = 1;
    }
    for (; p->line_pos < pos && p->line_pos < p->len; p->line_pos++)
        if (p->s[p->line_pos] == '\n')
            p->line++;
    return p->line;
}

/* Column of pos in characters, 1-based. */
static int col_at(const parser_t *p, size_t pos) {
    if (pos > p->len)
        pos = p->len;
    size_t start = pos;
    while (start > 0 && p->s[start - 1] != '\n')
        start--;
    int col = 1;
    for (size_t i = start; i < pos; i++)
        if (((unsigned char)p->s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int fail_at(parser_t *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(parser_t *p, size_t pos, const char *fmt, ...) {
    char what[WEFT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = line_at(p, pos);
    return weft_error_set(p->err, WEFT_ECONFIG, "%s:%d:%d: %s", p->name, line, col_at(p, pos),
                          what);
}

static int fail_nomem(parser_t *p) {
    return weft_error_set(p->err, WEFT_ENOMEM, "%s: out of memory", p->name);
}

/* Names the character at pos for a message: 'x', "end of file", or U+XXXX. */
static const char *describe_char(const parser_t *p, size_t pos, char *out, size_t cap) {
    if (pos >= p->len) {
        snprintf(out, cap, "end of file");
        return out;
    }
    unsigned char c = (unsigned char)p->s[pos];
    if (c == '\n' || c == '\r')
        snprintf(out, cap, "end of line");
    else if (c >= 0x21 && c < 0x7F)
        snprintf(out, cap, "'%c'", c);
    else if (c < 0x80)
        snprintf(out, cap, "U+%04X", c);
    else {
        /* The document is valid UTF-8 by now, so the sequence is complete. */
        unsigned n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        uint32_t cp = c & (0x3Fu >> n);
        for (unsigned i = 1; i <= n && pos + i < p->len; i++)
            cp = (cp << 6) | ((unsigned char)p->s[pos + i] & 0x3F);
        snprintf(out, cap, "U+%04X", (unsigned)cp);
    }
    return out;
}

/* Quotes a key for a message: printable as is, the rest as \xNN, cut when long. */
static const char *show_key(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == WEFT_TOML_MAX_KEY_SHOWN) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = 0;
    return out;
}

/* The first upto+1 parts of a path joined with dots, for messages about tables. */
static const char *show_path(const key_path_t *k, size_t upto, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i <= upto && i < k->n; i++) {
        char part[WEFT_TOML_MAX_KEY_SHOWN * 4 + 8];
        show_key(k->parts[i].s, k->parts[i].len, part, sizeof part);
        int n = snprintf(out + o, cap - o, "%s%s", i ? "." : "", part);
        if (n < 0 || (size_t)n >= cap - o) {
            if (cap > 4)
                memcpy(out + cap - 4, "...", 4);
            break;
        }
        o += (size_t)n;
    }
    return out;
}

static const char *type_name(const weft_toml_value_t *v) {
    switch (v->type) {
    case WEFT_TOML_STRING:
        return "string";
    case WEFT_TOML_INTEGER:
        return "integer";
    case WEFT_TOML_FLOAT:
        return "float";
    case WEFT_TOML_BOOL:
        return "boolean";
    case WEFT_TOML_DATETIME:
        return "offset date-time";
    case WEFT_TOML_DATETIME_LOCAL:
        return "local date-time";
    case WEFT_TOML_DATE_LOCAL:
        return "local date";
    case WEFT_TOML_TIME_LOCAL:
        return "local time";
    case WEFT_TOML_ARRAY:
        return (((const node_t *)v)->flags & NODE_AOT) ? "array of tables" : "array";
    case WEFT_TOML_TABLE:
        return (((const node_t *)v)->flags & NODE_INLINE) ? "inline table" : "table";
    }
    return "value";
}

/* ---- UTF-8 --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (overlong
 * forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static int check_utf8(parser_t *p) {
    const unsigned char *s = (const unsigned char *)p->s;
    for (size_t i = 0; i < p->len;) {
        size_t n = utf8_seq_len(s + i, p->len - i);
        if (!n)
            return fail_at(p, i, "invalid UTF-8 (byte 0x%02X); TOML documents must be UTF-8", s[i]);
        i += n;
    }
    return 0;
}

/* Appends code point cp (a Unicode scalar value) as UTF-8. */
static int buf_put_utf8(weft_buf_t *b, uint32_t cp) {
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return weft_buf_append(b, o, n);
}

/* ---- nodes and tables ---------------------------------------------------------- */

static node_t *node_new(weft_toml_type_t type, int line, int depth) {
    node_t *n = calloc(1, sizeof *n);
    if (n) {
        n->v.type = type;
        n->v.line = line;
        n->depth = depth;
    }
    return n;
}

static void node_free(node_t *n) {
    if (!n)
        return;
    switch (n->v.type) {
    case WEFT_TOML_STRING:
    case WEFT_TOML_DATETIME:
    case WEFT_TOML_DATETIME_LOCAL:
    case WEFT_TOML_DATE_LOCAL:
    case WEFT_TOML_TIME_LOCAL:
        free(n->v.u.str.ptr);
        break;
    case WEFT_TOML_ARRAY:
        for (size_t i = 0; i < n->v.u.arr.len; i++)
            node_free((node_t *)n->v.u.arr.items[i]);
        free(n->v.u.arr.items);
        break;
    case WEFT_TOML_TABLE:
        for (size_t i = 0; i < n->v.u.tab.len; i++) {
            free(n->v.u.tab.items[i].key);
            node_free((node_t *)n->v.u.tab.items[i].value);
        }
        free(n->v.u.tab.items);
        free(n->index);
        break;
    default:
        break;
    }
    free(n);
}

void weft_toml_free(weft_toml_value_t *v) {
    node_free((node_t *)v);
}

const weft_toml_value_t *weft_toml_get(const weft_toml_value_t *table, const char *key) {
    if (!table || !key || table->type != WEFT_TOML_TABLE)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < table->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &table->u.tab.items[i];
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0)
            return kv->value;
    }
    return NULL;
}

static uint64_t key_hash(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool key_eq(const weft_toml_kv_t *kv, const char *s, size_t len) {
    return kv->key_len == len && memcmp(kv->key, s, len) == 0;
}

static node_t *table_find(const node_t *t, const char *s, size_t len) {
    const weft_toml_kv_t *items = t->v.u.tab.items;
    if (!t->index_cap) {
        for (size_t i = 0; i < t->v.u.tab.len; i++)
            if (key_eq(&items[i], s, len))
                return (node_t *)items[i].value;
        return NULL;
    }
    size_t mask = t->index_cap - 1;
    for (size_t slot = (size_t)key_hash(s, len) & mask;; slot = (slot + 1) & mask) {
        uint32_t at = t->index[slot];
        if (!at)
            return NULL;
        if (key_eq(&items[at - 1], s, len))
            return (node_t *)items[at - 1].value;
    }
}

static void index_put(node_t *t, size_t item) {
    const weft_toml_kv_t *kv = &t->v.u.tab.items[item];
    size_t mask = t->index_cap - 1;
    size_t slot = (size_t)key_hash(kv->key, kv->key_len) & mask;
    while (t->index[slot])
        slot = (slot + 1) & mask;
    t->index[slot] = (uint32_t)(item + 1);
}

/* Adds a copy of key -> child to table t. Takes ownership of child in every case (on
 * failure it is freed); key is borrowed, so the caller's key path stays whole for later
 * messages. The caller has checked that the key is not there yet. */
static int table_add(parser_t *p, node_t *t, const char *key_in, size_t key_len, node_t *child) {
    size_t len = t->v.u.tab.len;
    char *key = malloc(key_len + 1);
    if (!key)
        goto nomem;
    memcpy(key, key_in, key_len);
    key[key_len] = 0;
    if (len == t->cap) {
        /* Item indices live in 32-bit index slots; a table that large cannot come from a
         * document under WEFT_TOML_MAX_BYTES anyway. */
        size_t cap = t->cap ? t->cap * 2 : 4;
        weft_toml_kv_t *items =
            cap < UINT32_MAX ? realloc(t->v.u.tab.items, cap * sizeof *items) : NULL;
        if (!items)
            goto nomem;
        t->v.u.tab.items = items;
        t->cap = cap;
    }
    t->v.u.tab.items[len] = (weft_toml_kv_t){key, key_len, &child->v};
    t->v.u.tab.len = len + 1;
    if (len + 1 < WEFT_TOML_INDEX_MIN)
        return 0;
    if ((len + 1) * 2 > t->index_cap) {
        /* Grow to keep the load under one half, and rehash everything. */
        size_t cap = t->index_cap ? t->index_cap * 2 : 32;
        while ((len + 1) * 2 > cap)
            cap *= 2;
        uint32_t *index = calloc(cap, sizeof *index);
        if (!index)
            return fail_nomem(p); /* key and child are in the table now: freed with it */
        free(t->index);
        t->index = index;
        t->index_cap = cap;
        for (size_t i = 0; i <= len; i++)
            index_put(t, i);
    } else
        index_put(t, len);
    return 0;
nomem:
    free(key);
    node_free(child);
    return fail_nomem(p);
}

/* Appends child to array a; takes ownership of child (freed on failure). */
static int array_add(parser_t *p, node_t *a, node_t *child) {
    if (a->v.u.arr.len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        weft_toml_value_t **items = realloc(a->v.u.arr.items, cap * sizeof *items);
        if (!items) {
            node_free(child);
            return fail_nomem(p);
        }
        a->v.u.arr.items = items;
        a->cap = cap;
    }
    a->v.u.arr.items[a->v.u.arr.len++] = &child->v;
    return 0;
}

static int check_depth(parser_t *p, size_t pos, int depth) {
    if (depth > WEFT_TOML_MAX_DEPTH)
        return fail_at(p, pos, "tables and arrays nested more than %d deep", WEFT_TOML_MAX_DEPTH);
    return 0;
}

/* Makes an empty table with the given flags as key part k of t. */
static int table_add_table(parser_t *p, node_t *t, const key_part_t *k, unsigned flags, int line,
                           node_t **out) {
    int rc = check_depth(p, k->pos, t->depth + 1);
    if (rc)
        return rc;
    node_t *n = node_new(WEFT_TOML_TABLE, line, t->depth + 1);
    if (!n)
        return fail_nomem(p);
    n->flags = flags;
    rc = table_add(p, t, k->s, k->len, n);
    if (!rc)
        *out = n;
    return rc;
}

/* ---- lexical helpers ---------------------------------------------------------------- */

static bool at_end(const parser_t *p) {
    return p->pos >= p->len;
}

static int peek(const parser_t *p) {
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const parser_t *p, size_t off) {
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}

static bool is_bare_key_char(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

/* Characters that may continue a number, boolean, inf/nan or date token. */
static bool is_token_char(int c) {
    return is_bare_key_char(c) || c == '.' || c == '+' || c == ':';
}

/* TOML forbids raw control characters everywhere but tab (and newlines where allowed). */
static bool is_control(int c) {
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static void skip_ws(parser_t *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

/* Consumes a newline (LF or CRLF) if there is one; a CR alone is an error. Returns 1 if
 * a newline was consumed, 0 if none is here, or an error code. */
static int eat_newline(parser_t *p) {
    int c = peek(p);
    if (c == '\n') {
        p->pos++;
        return 1;
    }
    if (c == '\r') {
        if (peek_at(p, 1) != '\n')
            return fail_at(p, p->pos, "carriage return not followed by a line feed");
        p->pos += 2;
        return 1;
    }
    return 0;
}

/* At '#': consumes the comment up to (not including) the end of the line. */
static int skip_comment(parser_t *p) {
    for (p->pos++; p->pos < p->len; p->pos++) {
        int c = (unsigned char)p->s[p->pos];
        if (c == '\n' || c == '\r')
            break;
        if (is_control(c))
            return fail_at(p, p->pos, "control character U+%04X in a comment", c);
    }
    return 0;
}

/* Inside arrays: whitespace, newlines and comments in any number. */
static int skip_ws_comments_newlines(parser_t *p) {
    for (;;) {
        skip_ws(p);
        if (peek(p) == '#') {
            int rc = skip_comment(p);
            if (rc)
                return rc;
        }
        int rc = eat_newline(p);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 0;
    }
}

/* After a key/value pair or a table header: only a comment may follow on the line. */
static int expect_line_end(parser_t *p, const char *after) {
    skip_ws(p);
    if (peek(p) == '#') {
        int rc = skip_comment(p);
        if (rc)
            return rc;
    }
    if (at_end(p))
        return 0;
    int rc = eat_newline(p);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        char what[32];
        return fail_at(p, p->pos, "expected the end of the line after %s, found %s", after,
                       describe_char(p, p->pos, what, sizeof what));
    }
    return 0;
}

/* ---- strings ------------------------------------------------------------------------- */

/* After a backslash in a basic string (p->pos at the character after it). */
static int parse_escape(parser_t *p, bool multiline) {
    size_t at = p->pos - 1;
    int c = peek(p);
    char simple = 0;
    switch (c) {
    case 'b':
        simple = '\b';
        break;
    case 't':
        simple = '\t';
        break;
    case 'n':
        simple = '\n';
        break;
    case 'f':
        simple = '\f';
        break;
    case 'r':
        simple = '\r';
        break;
    case '"':
        simple = '"';
        break;
    case '\\':
        simple = '\\';
        break;
    default:
        break;
    }
    if (simple) {
        p->pos++;
        return weft_buf_append(&p->buf, &simple, 1) ? fail_nomem(p) : 0;
    }
    if (c == 'u' || c == 'U') {
        size_t digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t i = 1; i <= digits; i++) {
            int h = weft_hex_digit(peek_at(p, i));
            if (h < 0)
                return fail_at(p, at, "\\%c needs exactly %zu hexadecimal digits", c, digits);
            cp = (cp << 4) | (uint32_t)h;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail_at(p, at, "\\%c%0*X is not a Unicode scalar value", c, (int)digits,
                           (unsigned)cp);
        p->pos += digits + 1;
        return buf_put_utf8(&p->buf, cp) ? fail_nomem(p) : 0;
    }
    if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
        /* A line-ending backslash: it, the newline and all whitespace and newlines after
         * it vanish. Only whitespace may stand between it and the end of the line. */
        skip_ws(p);
        int rc = eat_newline(p);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return fail_at(p, at,
                           "a backslash may only be followed by whitespace at the end "
                           "of a line");
        for (;;) {
            skip_ws(p);
            rc = eat_newline(p);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return 0;
        }
    }
    char what[32];
    return fail_at(p, at, "invalid escape: backslash followed by %s",
                   describe_char(p, p->pos, what, sizeof what));
}

/* Parses a string starting at p->pos (a quote) into p->buf. Multi-line forms are
 * refused unless allowed (keys). */
static int parse_string(parser_t *p, bool allow_multiline) {
    size_t start = p->pos;
    char q = p->s[p->pos];
    bool basic = q == '"';
    bool multiline = peek_at(p, 1) == q && peek_at(p, 2) == q;
    p->buf.len = 0;
    if (multiline) {
        if (!allow_multiline)
            return fail_at(p, start, "a multi-line string cannot be a key");
        p->pos += 3;
        /* A newline right after the opening delimiter is not part of the string. */
        int rc = eat_newline(p);
        if (rc < 0)
            return rc;
    } else
        p->pos++;
    for (;;) {
        if (at_end(p))
            return fail_at(p, start, "unterminated string");
        size_t at = p->pos;
        int c = (unsigned char)p->s[at];
        if (c == q) {
            if (!multiline) {
                p->pos++;
                break;
            }
            size_t run = 0;
            while (peek_at(p, run) == q)
                run++;
            if (run >= 3) {
                /* Up to two quotes may stand just before the closing delimiter. */
                if (run > 5)
                    return fail_at(p, at + 5,
                                   "too many quotes at the end of a multi-line "
                                   "string");
                if (weft_buf_append(&p->buf, p->s + at, run - 3))
                    return fail_nomem(p);
                p->pos += run;
                break;
            }
            if (weft_buf_append(&p->buf, p->s + at, run))
                return fail_nomem(p);
            p->pos += run;
        } else if (basic && c == '\\') {
            p->pos++;
            int rc = parse_escape(p, multiline);
            if (rc)
                return rc;
        } else if (c == '\n' || c == '\r') {
            if (!multiline)
                return fail_at(p, at, "newline in a single-line string");
            int rc = eat_newline(p);
            if (rc < 0)
                return rc;
            if (weft_buf_append(&p->buf, "\n", 1))
                return fail_nomem(p);
        } else if (is_control(c)) {
            return fail_at(p, at, "control character U+%04X in a string must be escaped", c);
        } else {
            /* Copy the run of ordinary bytes at once. */
            size_t end = at + 1;
            while (end < p->len) {
                int d = (unsigned char)p->s[end];
                if (d == q || d == '\\' || d == '\n' || d == '\r' || is_control(d))
                    break;
                end++;
            }
            if (weft_buf_append(&p->buf, p->s + at, end - at))
                return fail_nomem(p);
            p->pos = end;
        }
    }
    if (!p->buf.data && weft_buf_reserve(&p->buf, 0))
        return fail_nomem(p);
    return 0;
}

/* A copy of p->buf as a NUL-terminated string. */
static char *buf_dup(const parser_t *p) {
    char *s = malloc(p->buf.len + 1);
    if (s) {
        if (p->buf.len)
            memcpy(s, p->buf.data, p->buf.len);
        s[p->buf.len] = 0;
    }
    return s;
}

/* ---- keys ------------------------------------------------------------------------------ */

static void key_path_free(key_path_t *k) {
    for (size_t i = 0; i < k->n; i++)
        free(k->parts[i].s);
    free(k->parts);
    k->parts = NULL;
    k->n = k->cap = 0;
}

/* Parses a key, dotted or not, with the whitespace TOML allows around the dots. */
static int parse_key(parser_t *p, key_path_t *k) {
    for (;;) {
        if (k->n == WEFT_TOML_MAX_DEPTH)
            return fail_at(p, p->pos, "key has more than %d parts", WEFT_TOML_MAX_DEPTH);
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4;
            key_part_t *parts = realloc(k->parts, cap * sizeof *parts);
            if (!parts)
                return fail_nomem(p);
            k->parts = parts;
            k->cap = cap;
        }
        key_part_t *part = &k->parts[k->n];
        part->pos = p->pos;
        int c = peek(p);
        if (c == '"' || c == '\'') {
            int rc = parse_string(p, false);
            if (rc)
                return rc;
        } else {
            size_t start = p->pos;
            while (p->pos < p->len && is_bare_key_char((unsigned char)p->s[p->pos]))
                p->pos++;
            if (p->pos == start) {
                char what[32];
                return fail_at(p, start, "expected a key, found %s",
                               describe_char(p, start, what, sizeof what));
            }
            p->buf.len = 0;
            if (weft_buf_append(&p->buf, p->s + start, p->pos - start))
                return fail_nomem(p);
        }
        part->len = p->buf.len;
        part->s = buf_dup(p);
        if (!part->s)
            return fail_nomem(p);
        k->n++;
        skip_ws(p);
        if (peek(p) != '.')
            return 0;
        p->pos++;
        skip_ws(p);
    }
}

/* ---- numbers, booleans, dates ----------------------------------------------------- */

/* Checks digits of the given base with TOML's underscore rule (each '_' between two
 * digits) in s[*i..end), stopping at the first other character. Appends the digits to
 * p->buf if keep. Returns the number of digits, or -1 on a misplaced underscore. */
static long scan_digits(parser_t *p, const char *s, size_t *i, size_t end, int base, bool keep) {
    long n = 0;
    bool prev_digit = false;
    for (; *i < end; (*i)++) {
        int c = (unsigned char)s[*i];
        if (c == '_') {
            if (!prev_digit || *i + 1 >= end)
                return -1;
            int h = weft_hex_digit((unsigned char)s[*i + 1]);
            if (h < 0 || h >= base)
                return -1;
            prev_digit = false;
            continue;
        }
        int h = weft_hex_digit(c);
        if (h < 0 || h >= base)
            break;
        if (keep && weft_buf_append(&p->buf, &s[*i], 1))
            return -2;
        prev_digit = true;
        n++;
    }
    return n;
}

/* scan_digits for a part of a number that must have digits: a misplaced underscore,
 * running out of memory and an empty part (none_msg) are errors of the number at start.
 * The count of digits goes to *count (count may be NULL). */
static int scan_required_digits(parser_t *p, size_t start, size_t *i, size_t end, int base,
                                bool keep, const char *none_msg, long *count) {
    long n = scan_digits(p, p->s, i, end, base, keep);
    if (n == -2)
        return fail_nomem(p);
    if (n == -1)
        return fail_at(p, start, "misplaced '_' in a number: each must stand between two digits");
    if (n == 0)
        return fail_at(p, start, "%s", none_msg);
    if (count)
        *count = n;
    return 0;
}

static int new_scalar(parser_t *p, weft_toml_type_t type, int line, int depth, node_t **out) {
    *out = node_new(type, line, depth);
    return *out ? 0 : fail_nomem(p);
}

static int parse_integer(parser_t *p, size_t start, size_t end, int line, int depth, node_t **out) {
    const char *s = p->s;
    size_t i = start;
    bool neg = false, sign = false;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        sign = true;
        i++;
    }
    int base = 10;
    if (i + 1 < end && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
        base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
        if (sign)
            return fail_at(p, start,
                           "a sign is not allowed on a hexadecimal, octal or binary "
                           "integer");
        i += 2;
    }
    size_t digits_at = i;
    long n;
    int rc =
        scan_required_digits(p, start, &i, end, base, false, "integer prefix without digits", &n);
    if (rc)
        return rc;
    if (i != end) {
        char what[32];
        return fail_at(p, i, "unexpected %s in %s integer", describe_char(p, i, what, sizeof what),
                       base == 16  ? "a hexadecimal"
                       : base == 8 ? "an octal"
                       : base == 2 ? "a binary"
                                   : "a decimal");
    }
    if (base == 10 && n > 1 && s[digits_at] == '0')
        return fail_at(p, start, "leading zeros are not allowed in an integer");
    /* Accumulate the magnitude; the negative range has one more value. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (i = digits_at; i < end; i++) {
        if (s[i] == '_')
            continue;
        uint64_t d = (uint64_t)weft_hex_digit((unsigned char)s[i]);
        if (v > (limit - d) / (uint64_t)base)
            return fail_at(p, start, "integer %.*s does not fit in 64 bits", (int)(end - start),
                           s + start);
        v = v * (uint64_t)base + d;
    }
    rc = new_scalar(p, WEFT_TOML_INTEGER, line, depth, out);
    if (!rc)
        (*out)->v.u.i = !neg ? (int64_t)v : v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return rc;
}

static int parse_float(parser_t *p, size_t start, size_t end, int line, int depth, node_t **out) {
    const char *s = p->s;
    size_t i = start;
    p->buf.len = 0;
    if (s[i] == '+' || s[i] == '-') {
        if (weft_buf_append(&p->buf, &s[i], 1))
            return fail_nomem(p);
        i++;
    }
    size_t tail = end - i;
    if ((tail == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0))) {
        int rc = new_scalar(p, WEFT_TOML_FLOAT, line, depth, out);
        if (!rc) {
            double v = s[i] == 'i' ? INFINITY : NAN;
            (*out)->v.u.f = s[start] == '-' ? -v : v;
        }
        return rc;
    }
    size_t int_at = i;
    long n;
    int rc = scan_required_digits(p, start, &i, end, 10, true,
                                  "invalid float: it must start with a digit", &n);
    if (rc)
        return rc;
    if (n > 1 && s[int_at] == '0')
        return fail_at(p, start, "leading zeros are not allowed in a float");
    bool frac = false, exp = false;
    if (i < end && s[i] == '.') {
        i++;
        if (weft_buf_append(&p->buf, ".", 1))
            return fail_nomem(p);
        if ((rc = scan_required_digits(p, start, &i, end, 10, true,
                                       "invalid float: a digit must follow the decimal point",
                                       NULL)))
            return rc;
        frac = true;
    }
    if (i < end && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (weft_buf_append(&p->buf, "e", 1))
            return fail_nomem(p);
        if (i < end && (s[i] == '+' || s[i] == '-')) {
            if (weft_buf_append(&p->buf, &s[i], 1))
                return fail_nomem(p);
            i++;
        }
        if ((rc = scan_required_digits(p, start, &i, end, 10, true,
                                       "invalid float: the exponent needs digits", NULL)))
            return rc;
        exp = true;
    }
    if (i != end || (!frac && !exp))
        return fail_at(p, start, "invalid number %.*s", (int)(end - start), s + start);
    /* p->buf holds only [+-]digits[.digits][e[+-]digits], which strtod reads the same
     * in the C locale; weft never changes LC_NUMERIC. */
    errno = 0;
    double v = strtod((const char *)p->buf.data, NULL);
    if (errno == ERANGE && isinf(v))
        return fail_at(p, start, "float %.*s is out of range", (int)(end - start), s + start);
    rc = new_scalar(p, WEFT_TOML_FLOAT, line, depth, out);
    if (!rc)
        (*out)->v.u.f = v;
    return rc;
}

static bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly n digits at p->pos into *v. */
static bool read_digits(parser_t *p, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        int c = peek_at(p, (size_t)i);
        if (!is_digit(c))
            return false;
        x = x * 10 + (c - '0');
    }
    p->pos += (size_t)n;
    *v = x;
    return true;
}

/* HH:MM:SS[.frac] at p->pos, appended to p->buf as written. */
static int parse_time(parser_t *p) {
    size_t start = p->pos;
    int h, m, sec;
    if (!read_digits(p, 2, &h) || peek(p) != ':' || (p->pos++, !read_digits(p, 2, &m)) ||
        peek(p) != ':' || (p->pos++, !read_digits(p, 2, &sec)))
        return fail_at(p, start, "invalid time: expected HH:MM:SS");
    if (h > 23 || m > 59 || sec > 60)
        return fail_at(p, start, "invalid time %.8s: out of range", p->s + start);
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p)))
            return fail_at(p, p->pos, "a fraction of a second needs digits after the '.'");
        while (is_digit(peek(p)))
            p->pos++;
    }
    return weft_buf_append(&p->buf, p->s + start, p->pos - start) ? fail_nomem(p) : 0;
}

/* A date, date-time or time, at p->pos. The caller saw "DDDD-" or "DD:". */
static int parse_datetime(parser_t *p, int line, int depth, node_t **out) {
    size_t start = p->pos;
    weft_toml_type_t type;
    p->buf.len = 0;
    if (peek_at(p, 2) == ':') {
        int rc = parse_time(p);
        if (rc)
            return rc;
        type = WEFT_TOML_TIME_LOCAL;
    } else {
        int y, mo, d;
        if (!read_digits(p, 4, &y) || peek(p) != '-' || (p->pos++, !read_digits(p, 2, &mo)) ||
            peek(p) != '-' || (p->pos++, !read_digits(p, 2, &d)))
            return fail_at(p, start, "invalid date: expected YYYY-MM-DD");
        static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y) ? 1 : 0))
            return fail_at(p, start, "invalid date %.10s: no such day in the calendar",
                           p->s + start);
        if (weft_buf_append(&p->buf, p->s + start, 10))
            return fail_nomem(p);
        type = WEFT_TOML_DATE_LOCAL;
        int c = peek(p);
        /* A space separates date and time only when a time follows: "2020-01-01 # x"
         * is a date and a comment. */
        bool time = c == 'T' || c == 't' ||
                    (c == ' ' && is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) &&
                     peek_at(p, 3) == ':');
        if (time) {
            p->pos++;
            if (weft_buf_append(&p->buf, "T", 1))
                return fail_nomem(p);
            int rc = parse_time(p);
            if (rc)
                return rc;
            type = WEFT_TOML_DATETIME_LOCAL;
            c = peek(p);
            if (c == 'Z' || c == 'z') {
                p->pos++;
                if (weft_buf_append(&p->buf, "Z", 1))
                    return fail_nomem(p);
                type = WEFT_TOML_DATETIME;
            } else if (c == '+' || c == '-') {
                size_t off = p->pos++;
                int oh, om;
                if (!read_digits(p, 2, &oh) || peek(p) != ':' ||
                    (p->pos++, !read_digits(p, 2, &om)))
                    return fail_at(p, off, "invalid time offset: expected +HH:MM or -HH:MM");
                if (oh > 23 || om > 59)
                    return fail_at(p, off, "invalid time offset: out of range");
                if (weft_buf_append(&p->buf, p->s + off, 6))
                    return fail_nomem(p);
                type = WEFT_TOML_DATETIME;
            }
        }
    }
    if (is_token_char(peek(p))) {
        char what[32];
        return fail_at(p, p->pos, "unexpected %s after a date or time",
                       describe_char(p, p->pos, what, sizeof what));
    }
    int rc = new_scalar(p, type, line, depth, out);
    if (rc)
        return rc;
    (*out)->v.u.str.ptr = buf_dup(p);
    (*out)->v.u.str.len = p->buf.len;
    if (!(*out)->v.u.str.ptr) {
        node_free(*out);
        *out = NULL;
        return fail_nomem(p);
    }
    return 0;
}

/* Numbers, booleans, inf and nan: one token of [A-Za-z0-9_.+-:], judged whole. */
static int parse_bare_value(parser_t *p, int line, int depth, node_t **out) {
    size_t start = p->pos;
    while (p->pos < p->len && is_token_char((unsigned char)p->s[p->pos]))
        p->pos++;
    size_t end = p->pos, n = end - start;
    const char *s = p->s + start;
    if (n == 0) {
        char what[32];
        return fail_at(p, start, "expected a value, found %s",
                       describe_char(p, start, what, sizeof what));
    }
    if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
        int rc = new_scalar(p, WEFT_TOML_BOOL, line, depth, out);
        if (!rc)
            (*out)->v.u.b = n == 4;
        return rc;
    }
    size_t body = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (body >= n || !(is_digit((unsigned char)s[body]) || s[body] == 'i' || s[body] == 'n'))
        return fail_at(p, start, "expected a value, found '%.*s'", n > 40 ? 40 : (int)n, s);
    bool hex = n > body + 1 && s[body] == '0' && s[body + 1] == 'x';
    bool is_float = !hex && (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n) ||
                             s[body] == 'i' || s[body] == 'n');
    if (is_float)
        return parse_float(p, start, end, line, depth, out);
    return parse_integer(p, start, end, line, depth, out);
}

/* ---- values, arrays, inline tables ------------------------------------------------ */

static int parse_value(parser_t *p, int depth, node_t **out);
static int parse_keyval(parser_t *p, node_t *table);

static int parse_array(parser_t *p, int depth, node_t **out) {
    size_t start = p->pos;
    int rc = check_depth(p, start, depth);
    if (rc)
        return rc;
    node_t *a = node_new(WEFT_TOML_ARRAY, line_at(p, start), depth);
    if (!a)
        return fail_nomem(p);
    p->pos++;
    for (;;) {
        if ((rc = skip_ws_comments_newlines(p)))
            goto fail;
        if (at_end(p)) {
            rc = fail_at(p, start, "unterminated array");
            goto fail;
        }
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        node_t *item = NULL;
        if ((rc = parse_value(p, depth + 1, &item)))
            goto fail;
        if ((rc = array_add(p, a, item)))
            goto fail;
        if ((rc = skip_ws_comments_newlines(p)))
            goto fail;
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == ']') {
            p->pos++;
            break;
        }
        char what[32];
        rc = c < 0 ? fail_at(p, start, "unterminated array")
                   : fail_at(p, p->pos, "expected ',' or ']' in an array, found %s",
                             describe_char(p, p->pos, what, sizeof what));
        goto fail;
    }
    *out = a;
    return 0;
fail:
    node_free(a);
    return rc;
}

static int parse_inline_table(parser_t *p, int depth, node_t **out) {
    size_t start = p->pos;
    int rc = check_depth(p, start, depth);
    if (rc)
        return rc;
    node_t *t = node_new(WEFT_TOML_TABLE, line_at(p, start), depth);
    if (!t)
        return fail_nomem(p);
    /* Marked now: keys inside go straight into t, and nothing outside may add to it. */
    t->flags = NODE_INLINE;
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        goto done;
    }
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c == '\n' || c == '\r') {
            rc = fail_at(p, p->pos, "an inline table must be on one line");
            goto fail;
        }
        if (c == '}') {
            rc = fail_at(p, p->pos, "a trailing comma is not allowed in an inline table");
            goto fail;
        }
        if ((rc = parse_keyval(p, t)))
            goto fail;
        skip_ws(p);
        c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == '}') {
            p->pos++;
            break;
        }
        char what[32];
        if (c < 0)
            rc = fail_at(p, start, "unterminated inline table");
        else if (c == '\n' || c == '\r')
            rc = fail_at(p, p->pos, "an inline table must be on one line");
        else
            rc = fail_at(p, p->pos, "expected ',' or '}' in an inline table, found %s",
                         describe_char(p, p->pos, what, sizeof what));
        goto fail;
    }
done:
    *out = t;
    return 0;
fail:
    node_free(t);
    return rc;
}

/* Parses the value at p->pos into *out, as a value depth levels below the root. */
static int parse_value(parser_t *p, int depth, node_t **out) {
    int line = line_at(p, p->pos);
    int c = peek(p);
    if (c == '"' || c == '\'') {
        int rc = parse_string(p, true);
        if (rc)
            return rc;
        rc = new_scalar(p, WEFT_TOML_STRING, line, depth, out);
        if (rc)
            return rc;
        (*out)->v.u.str.ptr = buf_dup(p);
        (*out)->v.u.str.len = p->buf.len;
        if (!(*out)->v.u.str.ptr) {
            node_free(*out);
            *out = NULL;
            return fail_nomem(p);
        }
        return 0;
    }
    if (c == '[')
        return parse_array(p, depth, out);
    if (c == '{')
        return parse_inline_table(p, depth, out);
    if (is_digit(c) && is_digit(peek_at(p, 1))) {
        if ((peek_at(p, 2) == ':') ||
            (is_digit(peek_at(p, 2)) && is_digit(peek_at(p, 3)) && peek_at(p, 4) == '-'))
            return parse_datetime(p, line, depth, out);
    }
    return parse_bare_value(p, line, depth, out);
}

/* ---- key/value pairs and tables ---------------------------------------------------- */

/* Steps from t into key part k of a dotted key (not the last part), making the table
 * if it is missing. Dotted keys may only extend tables that dotted keys made (or that
 * only exist as the parents of a header so far); a table defined by a [header] or
 * written inline is closed to them. */
static int dotted_step(parser_t *p, node_t *t, key_path_t *k, size_t i, int line, node_t **out) {
    key_part_t *part = &k->parts[i];
    node_t *n = table_find(t, part->s, part->len);
    if (!n)
        return table_add_table(p, t, part, NODE_DOTTED, line, out);
    char name[WEFT_TOML_MAX_PATH_SHOWN];
    show_path(k, i, name, sizeof name);
    if (n->v.type != WEFT_TOML_TABLE)
        return fail_at(p, part->pos,
                       "key '%s' already holds a value of type %s (line %d), not a table", name,
                       type_name(&n->v), n->v.line);
    if (n->flags & NODE_INLINE)
        return fail_at(p, part->pos, "cannot add to '%s': it is an inline table (line %d)", name,
                       n->v.line);
    if (!(n->flags & (NODE_DOTTED | NODE_IMPLICIT)))
        return fail_at(p, part->pos,
                       "cannot add to table '%s' with a dotted key: it is defined by a [header] "
                       "on line %d",
                       name, n->v.line);
    /* Extended by dotted keys, it is now defined by them, here: no [header] for it later. */
    if (n->flags & NODE_IMPLICIT) {
        n->flags = NODE_DOTTED;
        n->v.line = line;
    }
    *out = n;
    return 0;
}

/* key = value, at p->pos, into table. */
static int parse_keyval(parser_t *p, node_t *table) {
    key_path_t k = {0};
    int line = line_at(p, p->pos);
    int rc = parse_key(p, &k);
    if (rc)
        goto done;
    skip_ws(p);
    if (peek(p) != '=') {
        char what[32];
        rc = fail_at(p, p->pos, "expected '=' after a key, found %s",
                     describe_char(p, p->pos, what, sizeof what));
        goto done;
    }
    p->pos++;
    skip_ws(p);
    node_t *t = table;
    for (size_t i = 0; i + 1 < k.n; i++)
        if ((rc = dotted_step(p, t, &k, i, line, &t)))
            goto done;
    key_part_t *last = &k.parts[k.n - 1];
    node_t *old = table_find(t, last->s, last->len);
    if (old) {
        char name[WEFT_TOML_MAX_PATH_SHOWN];
        rc = fail_at(p, last->pos, "duplicate key '%s' (first defined on line %d)",
                     show_path(&k, k.n - 1, name, sizeof name), old->v.line);
        goto done;
    }
    if (at_end(p) || peek(p) == '\n' || peek(p) == '\r' || peek(p) == '#') {
        rc = fail_at(p, p->pos, "expected a value after '='");
        goto done;
    }
    node_t *v = NULL;
    if ((rc = check_depth(p, last->pos, t->depth + 1)))
        goto done;
    if ((rc = parse_value(p, t->depth + 1, &v)))
        goto done;
    rc = table_add(p, t, last->s, last->len, v);
done:
    key_path_free(&k);
    return rc;
}

/* [a.b.c] or [[a.b.c]] at p->pos; on success *cur is the table that following
 * key/value pairs go into. */
static int parse_header(parser_t *p, node_t *root, node_t **cur) {
    size_t start = p->pos;
    bool aot = peek_at(p, 1) == '[';
    int line = line_at(p, start);
    key_path_t k = {0};
    int rc = 0;
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    if ((rc = parse_key(p, &k)))
        goto done;
    if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
        char what[32];
        rc = fail_at(p, p->pos, "expected '%s' to close the table header, found %s",
                     aot ? "]]" : "]", describe_char(p, p->pos, what, sizeof what));
        goto done;
    }
    p->pos += aot ? 2 : 1;
    char name[WEFT_TOML_MAX_PATH_SHOWN];
    node_t *t = root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        key_part_t *part = &k.parts[i];
        node_t *n = table_find(t, part->s, part->len);
        if (!n) {
            if ((rc = table_add_table(p, t, part, NODE_IMPLICIT, line, &t)))
                goto done;
            continue;
        }
        if (n->v.type == WEFT_TOML_ARRAY && (n->flags & NODE_AOT)) {
            /* [a.b] after [[a]] belongs to the last element of a. */
            t = (node_t *)n->v.u.arr.items[n->v.u.arr.len - 1];
            continue;
        }
        show_path(&k, i, name, sizeof name);
        if (n->v.type != WEFT_TOML_TABLE)
            rc = fail_at(p, part->pos,
                         "key '%s' already holds a value of type %s (line %d), not a table", name,
                         type_name(&n->v), n->v.line);
        else if (n->flags & NODE_INLINE)
            rc = fail_at(p, part->pos, "cannot add to '%s': it is an inline table (line %d)", name,
                         n->v.line);
        else {
            t = n;
            continue;
        }
        goto done;
    }
    key_part_t *last = &k.parts[k.n - 1];
    node_t *n = table_find(t, last->s, last->len);
    show_path(&k, k.n - 1, name, sizeof name);
    if (!aot) {
        if (!n) {
            rc = table_add_table(p, t, last, 0, line, cur);
        } else if (n->v.type == WEFT_TOML_TABLE && n->flags == NODE_IMPLICIT) {
            n->flags = 0;
            n->v.line = line;
            *cur = n;
        } else if (n->v.type == WEFT_TOML_TABLE) {
            rc = fail_at(p, last->pos, "table '%s' is already defined%s (line %d)", name,
                         (n->flags & NODE_DOTTED)   ? " by dotted keys"
                         : (n->flags & NODE_INLINE) ? " inline"
                                                    : "",
                         n->v.line);
        } else {
            rc = fail_at(p, last->pos,
                         "key '%s' already holds a value of type %s (line %d), not a table", name,
                         type_name(&n->v), n->v.line);
        }
        goto done;
    }
    if (!n) {
        if ((rc = check_depth(p, last->pos, t->depth + 1)))
            goto done;
        n = node_new(WEFT_TOML_ARRAY, line, t->depth + 1);
        if (!n) {
            rc = fail_nomem(p);
            goto done;
        }
        n->flags = NODE_AOT;
        rc = table_add(p, t, last->s, last->len, n);
        if (rc)
            goto done;
    } else if (!(n->v.type == WEFT_TOML_ARRAY && (n->flags & NODE_AOT))) {
        rc = fail_at(p, last->pos,
                     "cannot append to '%s' with [[ ]]: it holds a value of type %s (line %d)",
                     name, type_name(&n->v), n->v.line);
        goto done;
    }
    if ((rc = check_depth(p, last->pos, n->depth + 1)))
        goto done;
    node_t *elem = node_new(WEFT_TOML_TABLE, line, n->depth + 1);
    if (!elem) {
        rc = fail_nomem(p);
        goto done;
    }
    if ((rc = array_add(p, n, elem)))
        goto done;
    *cur = elem;
done:
    key_path_free(&k);
    return rc;
}

int weft_toml_parse(const char *text, size_t len, const char *name, weft_toml_value_t **root,
                    weft_error_t *err) {
    if (!root || (!text && len))
        return weft_error_set(err, WEFT_EINVAL, "weft_toml_parse: no text or no result");
    *root = NULL;
    parser_t p = {
        .s = text ? text : "", .len = len, .name = name ? name : "(toml)", .err = err, .line = 1};
    node_t *top = NULL;
    int rc;
    if (len > WEFT_TOML_MAX_BYTES) {
        rc = weft_error_set(err, WEFT_ECONFIG, "%s: document is larger than %u bytes", p.name,
                            WEFT_TOML_MAX_BYTES);
        goto done;
    }
    if ((rc = check_utf8(&p)))
        goto done;
    /* A byte order mark is tolerated at the very start only. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p.pos = 3;
    top = node_new(WEFT_TOML_TABLE, 1, 0);
    if (!top) {
        rc = fail_nomem(&p);
        goto done;
    }
    node_t *cur = top;
    for (;;) {
        skip_ws(&p);
        if (at_end(&p))
            break;
        int c = peek(&p);
        if (c == '#') {
            if ((rc = skip_comment(&p)))
                goto done;
        } else if (c == '\n' || c == '\r') {
            if ((rc = eat_newline(&p)) < 0)
                goto done;
        } else if (c == '[') {
            if ((rc = parse_header(&p, top, &cur)) || (rc = expect_line_end(&p, "a table header")))
                goto done;
        } else {
            if ((rc = parse_keyval(&p, cur)) || (rc = expect_line_end(&p, "a value")))
                goto done;
        }
    }
    rc = 0;
    *root = &top->v;
    top = NULL;
done:
    node_free(top);
    weft_buf_free(&p.buf);
    return rc;
}
