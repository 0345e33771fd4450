/* libFuzzer target for the durable log's record of an event (weft_ce_deserialize,
 * src/events/ce_record.c): a record read back from disk may be torn or corrupt.
 *
 * Every input must either be refused (WEFT_EINVAL, a message, the event left empty)
 * without reading past its end, or read into an event that writes back to exactly the
 * same bytes. Anything else aborts.
 *
 *   cmake --build build-fuzz --target ce_record_fuzz
 *   mkdir -p /tmp/ce-record && cp -r fuzz/corpus/ce_record/. /tmp/ce-record/
 *   ./build-fuzz/fuzz/ce_record_fuzz -max_len=4096 -max_total_time=600 /tmp/ce-record
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of its own, so that a read past the end is caught. */
    uint8_t *rec = malloc(size ? size : 1);
    if (!rec)
        return 0;
    memcpy(rec, data, size);
    weft_ce_t ev;
    weft_error_t err = {0};
    int rc = weft_ce_deserialize(rec, size, &ev, &err);
    if (rc == 0) {
        weft_buf_t again = {0};
        if (weft_ce_serialize(&ev, &again) || again.len != size || memcmp(again.data, rec, size))
            abort();
        weft_buf_free(&again);
        weft_ce_clear(&ev);
    } else if (rc != WEFT_EINVAL || !err.msg[0] || ev.nattrs || ev.data || ev.attrs) {
        abort();
    }
    free(rec);
    return 0;
}
