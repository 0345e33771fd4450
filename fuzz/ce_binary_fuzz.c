/* libFuzzer target for binary-mode CloudEvents over HTTP (weft_ce_decode_http,
 * src/events/ce_http.c): the headers and body of every request to a broker are hostile.
 *
 * The input is a message in a simple form: header lines "name:value" up to an empty
 * line, then the body. Its first byte picks the decoder's flags (odd: a reply, where
 * `id` may be missing) and is not part of the message. Whatever decodes must keep the
 * properties of ce_check.h (valid, and the same event back from binary mode, structured
 * mode and the durable log's record); whatever is refused must be refused with a clean
 * one-line message. Anything else aborts.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON -DWEFT_SANITIZE=ON
 *   cmake --build build-fuzz --target ce_binary_fuzz
 *   mkdir -p /tmp/ce-binary && cp -r fuzz/corpus/ce_binary/. /tmp/ce-binary/
 *   ./build-fuzz/fuzz/ce_binary_fuzz -max_len=4096 -max_total_time=600 /tmp/ce-binary
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ce_check.h"

#define MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    unsigned flags = (data[0] & 1) ? WEFT_CE_ALLOW_NO_ID : 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    weft_ce_header_t h[MAX_HEADERS];
    size_t nh = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol == p) {
            p++; /* the empty line: the body follows */
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && nh < MAX_HEADERS)
            h[nh++] =
                (weft_ce_header_t){p, (size_t)(colon - p), colon + 1, (size_t)(eol - colon - 1)};
        p = nl ? nl + 1 : end;
    }
    /* The body in a buffer of its own, so that a read past it is caught. */
    size_t body_len = p < end ? (size_t)(end - p) : 0;
    uint8_t *body = malloc(body_len ? body_len : 1);
    if (!body)
        return 0;
    memcpy(body, p, body_len);

    weft_ce_t *evs;
    size_t n;
    weft_error_t err = {0};
    int rc = weft_ce_decode_http(h, nh, body, body_len, 0, flags, &evs, &n, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            ce_check_event(&evs[i], flags);
        weft_ce_free_array(evs, n);
    } else {
        ce_check_refusal(rc, &err);
    }
    /* has_event is true for every message that decodes. */
    if (rc == 0 && !weft_ce_http_has_event(h, nh))
        abort();
    free(body);
    return 0;
}
