/* libFuzzer target for the CGI response parser (src/invoke/cgi_response.c): a guest's stdout
 * is hostile, and every byte of it reaches this parser.
 *
 * Any input must either be refused with an error message, or parse into a response
 * that keeps the contract of invoke.h: a final status 200..599, at most
 * WEFT_CGI_MAX_HEADERS headers whose names are HTTP tokens and whose values hold no
 * control character but tab, every string inside the buffer and NUL-terminated there,
 * and a body that is the tail of the output. Anything else aborts.
 *
 * Build and run like the other targets (fuzz/README.md):
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON -DWEFT_SANITIZE=ON
 *   cmake --build build-fuzz --target cgi_fuzz
 *   mkdir -p /tmp/cgi-corpus && cp fuzz/corpus/cgi/[a-z]* /tmp/cgi-corpus/
 *   ./build-fuzz/fuzz/cgi_fuzz -max_len=8192 -max_total_time=600 /tmp/cgi-corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "invoke/invoke.h"

static const uint8_t *lo, *hi; /* the parsed buffer, hi included (the writable byte) */

static void check_string(const char *s, int is_name) {
    const uint8_t *p = (const uint8_t *)s;
    if (p < lo || p > hi)
        abort();
    for (; *p; p++) {
        if (p >= hi)
            abort(); /* ran past the buffer without a NUL */
        if (is_name && !(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') ||
                         strchr("!#$%&'*+-.^_`|~", *p)))
            abort();
        if (!is_name && (*p < 0x20 || *p == 0x7f) && *p != '\t')
            abort();
    }
    if (is_name && p == (const uint8_t *)s)
        abort(); /* empty name */
}

static void on_drop(void *arg, const char *why, const char *line, size_t len) {
    if (!why || (const uint8_t *)line < lo || (const uint8_t *)line + len > hi)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0xA5; /* the parser may write here, but must not read it as text */
    lo = buf;
    hi = buf + size;
    weft_cgi_response_t *r = malloc(sizeof *r);
    if (!r) {
        free(buf);
        return 0;
    }
    int rc = weft_cgi_parse(buf, size, r, on_drop, NULL);
    if (rc == 0) {
        if (r->status < 200 || r->status > 599 || r->nheaders > WEFT_CGI_MAX_HEADERS)
            abort();
        if (r->body < lo || r->body > hi || r->body + r->body_len != hi)
            abort();
        /* The body is the input's own tail, untouched. */
        if (r->body_len && memcmp(r->body, data + (r->body - lo), r->body_len))
            abort();
        for (size_t i = 0; i < r->nheaders; i++) {
            check_string(r->headers[i].name, 1);
            check_string(r->headers[i].value, 0);
            if (!strcasecmp(r->headers[i].name, "Status") ||
                !strcasecmp(r->headers[i].name, "Content-Length") ||
                !strcasecmp(r->headers[i].name, "Transfer-Encoding"))
                abort(); /* never passed on */
        }
    } else if (rc != WEFT_EINVAL || !r->error) {
        abort();
    }
    free(r);
    free(buf);
    return 0;
}
