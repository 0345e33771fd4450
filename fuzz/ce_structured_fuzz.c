/* libFuzzer target for the JSON event format (src/events/ce_json.c): structured and
 * batched CloudEvents bodies, through weft_ce_decode_http.
 *
 * The first byte of the input picks the mode and flags: bit 0 a batch
 * (application/cloudevents-batch+json) rather than one event
 * (application/cloudevents+json), bit 1 a reply (`id` may be missing), bit 2 a size
 * limit of 512 bytes; the rest is the body. Every decoded event must keep the
 * properties of ce_check.h; a decoded batch must also encode as a batch and decode to
 * the same events; a refusal must have a clean one-line message. Anything else aborts.
 *
 *   cmake --build build-fuzz --target ce_structured_fuzz
 *   mkdir -p /tmp/ce-structured && cp -r fuzz/corpus/ce_structured/. /tmp/ce-structured/
 *   ./build-fuzz/fuzz/ce_structured_fuzz -max_len=4096 -max_total_time=600 /tmp/ce-structured
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ce_check.h"

#define CT(s) ((weft_ce_header_t){"Content-Type", 12, s, sizeof(s) - 1})

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    bool batch = data[0] & 1;
    unsigned flags = (data[0] & 2) ? WEFT_CE_ALLOW_NO_ID : 0;
    size_t max = (data[0] & 4) ? 512 : 0;
    weft_ce_header_t h = batch ? CT("application/cloudevents-batch+json")
                               : CT("application/cloudevents+json; charset=utf-8");
    size_t body_len = size - 1;
    uint8_t *body = malloc(body_len ? body_len : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, body_len);

    weft_ce_t *evs;
    size_t n;
    weft_error_t err = {0};
    int rc = weft_ce_decode_http(&h, 1, body, body_len, max, flags, &evs, &n, &err);
    if (rc) {
        ce_check_refusal(rc, &err);
        free(body);
        return 0;
    }
    if (!batch && n != 1)
        abort();
    for (size_t i = 0; i < n; i++)
        ce_check_event(&evs[i], flags);
    if (batch) {
        /* The batch as a whole, encoded and decoded: JSON data may be rewritten once. */
        weft_ce_http_msg_t m;
        weft_ce_t *back;
        size_t nb;
        if (weft_ce_encode_http_batch(evs, n, &m, &err) ||
            weft_ce_decode_http(m.headers, m.nheaders, m.body, m.body_len, 0, flags, &back, &nb,
                                &err) ||
            nb != n)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!ce_same_attrs(&evs[i], &back[i], false, true) ||
                (!ce_same_data(&evs[i], &back[i]) && !ce_same_json(&evs[i], &back[i])))
                abort();
        weft_ce_free_array(back, nb);
        weft_ce_http_msg_free(&m);
    }
    weft_ce_free_array(evs, n);
    free(body);
    return 0;
}
