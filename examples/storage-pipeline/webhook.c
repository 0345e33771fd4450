/* webhook: the trigger "blob-created" delivers each com.example.blob.created event of
 * the broker "blobs" here, in CloudEvents binary mode (attributes in HTTP_CE_*
 * variables, data on stdin). The subject names the blob, "CONTAINER/NAME"; the webhook
 * reads it, as a stream, and writes the document
 *
 *   { "id": "CONTAINER-NAME", "value": "<the blob's text>" }
 *
 * with that id into the collection "uploads", replacing one already there.
 *
 * The text becomes a JSON string: '"', '\' and control characters are escaped, and what
 * is not UTF-8 text is replaced, not refused: each invalid UTF-8 sequence (and each NUL
 * byte, which the document store does not take) becomes U+FFFD, the replacement
 * character, as a browser decodes such bytes, and the log says how many. A blob whose
 * document would pass 1 MiB (the document store's limit) is refused; its bytes are read
 * in chunks, so memory stays within that bound whatever the blob's size.
 *
 * The answer tells the trigger what to do with the event: 204 done; a 4xx the event
 * cannot be processed (not retried: weft logs it as given up, with this answer's text);
 * 503 the store is unavailable (retried). Anyone who can reach the broker can post
 * events to it, so the subject is checked as the handler checks names. */
#include "weft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLLECTION "uploads"
#define EVENT_TYPE "com.example.blob.created"
enum { MAX_DOC = 1 << 20, MAX_NAME = 200, CHUNK = 16 << 10 };

/* A failure: its reason on stderr too, where weft up logs it. */
static int answer(int status, const char *text) {
    const char *reason = status == 400   ? "Bad Request"
                         : status == 403 ? "Forbidden"
                         : status == 422 ? "Unprocessable Content"
                                         : "Service Unavailable";
    fprintf(stderr, "%s\n", text);
    printf("Status: %d %s\nContent-Type: text/plain\n\n%s\n", status, reason, text);
    return 0;
}

/* ---- the document's text, built as the blob is read --------------------------------- */

typedef struct doc {
    char *buf;
    size_t len, cap;
    int too_large;          /* past MAX_DOC: nothing more is kept */
    unsigned char seq[4];   /* a UTF-8 sequence begun but not finished ... */
    int have, need;         /* ... its bytes so far and its length */
    unsigned char lo, hi;   /* the range its next byte must be in */
    unsigned long replaced; /* U+FFFD written for bytes that are not text */
} doc_t;

static void put(doc_t *d, const void *s, size_t n) {
    if (d->too_large || d->len + n > MAX_DOC) {
        d->too_large = 1;
        return;
    }
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + n)
            cap *= 2;
        char *more = realloc(d->buf, cap);
        if (!more) {
            d->too_large = 1;
            return;
        }
        d->buf = more;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, s, n);
    d->len += n;
}

static void put_str(doc_t *d, const char *s) {
    put(d, s, strlen(s));
}

static void replacement(doc_t *d) {
    put_str(d, "\xEF\xBF\xBD"); /* U+FFFD in UTF-8 */
    d->replaced++;
}

/* One byte of the blob into the JSON string. UTF-8 as RFC 3629 has it (no overlong
 * forms, no surrogates, nothing past U+10FFFF), checked byte by byte so that a sequence
 * may straddle two chunks; a sequence that breaks off becomes one U+FFFD and the byte
 * that broke it is read afresh (the W3C/Unicode "maximal subpart" practice). */
static void put_byte(doc_t *d, unsigned char c) {
    if (d->need) {
        if (c >= d->lo && c <= d->hi) {
            d->seq[d->have++] = c;
            d->lo = 0x80, d->hi = 0xBF;
            if (d->have == d->need) {
                put(d, d->seq, (size_t)d->need);
                d->need = d->have = 0;
            }
            return;
        }
        replacement(d);
        d->need = d->have = 0;
    }
    if (c < 0x80) {
        char esc[8];
        switch (c) {
        case 0:
            replacement(d);
            return;
        case '"':
            put_str(d, "\\\"");
            return;
        case '\\':
            put_str(d, "\\\\");
            return;
        case '\n':
            put_str(d, "\\n");
            return;
        case '\r':
            put_str(d, "\\r");
            return;
        case '\t':
            put_str(d, "\\t");
            return;
        }
        if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_str(d, esc);
        } else {
            put(d, &c, 1);
        }
        return;
    }
    d->lo = 0x80, d->hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        d->need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        d->need = 3;
        if (c == 0xE0)
            d->lo = 0xA0; /* no overlong forms */
        if (c == 0xED)
            d->hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        d->need = 4;
        if (c == 0xF0)
            d->lo = 0x90;
        if (c == 0xF4)
            d->hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        replacement(d); /* a continuation byte alone, C0, C1, F5..FF */
        return;
    }
    d->seq[0] = c;
    d->have = 1;
}

/* ---- the event --------------------------------------------------------------------- */

static int valid_container(const char *s, size_t n) {
    if (n < 1 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int valid_blob(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int main(void) {
    static char chunk[CHUNK];
    char container[64], blob[MAX_NAME + 1], id[64 + MAX_NAME + 1], text[512], why[256];
    const char *type = getenv("HTTP_CE_TYPE"), *subject = getenv("HTTP_CE_SUBJECT");
    if (!type || strcmp(type, EVENT_TYPE))
        return answer(400, "not a " EVENT_TYPE " event");
    const char *slash = subject ? strchr(subject, '/') : NULL;
    if (!slash || !valid_container(subject, (size_t)(slash - subject)) || !valid_blob(slash + 1)) {
        /* weft takes no control characters in an attribute: safe to show and log. */
        snprintf(text, sizeof text, "the subject '%.300s' names no blob (CONTAINER/NAME)",
                 subject ? subject : "");
        return answer(400, text);
    }
    memcpy(container, subject, (size_t)(slash - subject));
    container[slash - subject] = 0;
    strcpy(blob, slash + 1);
    snprintf(id, sizeof id, "%s-%s", container, blob);

    weft_blob_reader_t r;
    uint64_t size = 0;
    weft_error_t e = weft_blob_read_open(container, blob, &r, &size);
    if (e == WEFT_UNAVAILABLE)
        return answer(503, weft_last_error(why, sizeof why));
    if (e) {
        snprintf(text, sizeof text, "blob %s/%s: %s", container, blob,
                 weft_last_error(why, sizeof why));
        return answer(e == WEFT_ACCESS_DENIED ? 403 : 422, text);
    }

    doc_t d = {0};
    put_str(&d, "{ \"id\": \"");
    put_str(&d, id);
    put_str(&d, "\", \"value\": \"");
    /* Each byte gives at least one byte of JSON: a blob this large cannot fit. */
    if (size > MAX_DOC)
        d.too_large = 1;
    for (uint64_t offset = 0; !e && !d.too_large;) {
        size_t got = 0;
        if ((e = weft_blob_read(r, offset, chunk, sizeof chunk, &got)) || !got)
            break;
        for (size_t i = 0; i < got; i++)
            put_byte(&d, (unsigned char)chunk[i]);
        offset += got;
    }
    weft_blob_read_close(r);
    if (e)
        return answer(503, weft_last_error(why, sizeof why));
    if (d.need) /* the blob ends inside a sequence */
        replacement(&d);
    put_str(&d, "\" }");
    put(&d, "", 1); /* the NUL that ends the C string weft_doc_put takes */
    if (d.too_large) {
        snprintf(text, sizeof text,
                 "blob %s/%s: %llu bytes, too large for a document of at most 1 MiB", container,
                 blob, (unsigned long long)size);
        return answer(422, text);
    }

    e = weft_doc_put(COLLECTION, id, d.buf);
    if (e) {
        snprintf(text, sizeof text, "document %s/%s: %s", COLLECTION, id,
                 weft_last_error(why, sizeof why));
        return answer(e == WEFT_UNAVAILABLE ? 503 : 422, text);
    }
    if (d.replaced)
        fprintf(stderr,
                "blob %s/%s is not all UTF-8 text: %lu invalid sequences or NUL bytes "
                "stored as U+FFFD\n",
                container, blob, d.replaced);
    fprintf(stderr, "blob %s/%s (%llu byte%s) stored as document %s/%s\n", container, blob,
            (unsigned long long)size, size == 1 ? "" : "s", COLLECTION, id);
    printf("Status: 204 No Content\n\n");
    return 0;
}
