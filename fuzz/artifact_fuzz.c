/* libFuzzer target for the artifact trailer check (src/engine/artifact.c), the parser
 * of artifact files a user may hand weft from anywhere (`weft run app.wasmc`).
 *
 * The first byte picks how the rest is used:
 *   even: the bytes are the file, as they are;
 *   odd:  the bytes are code and a trailer's meta (its last 100 bytes: glue ABI,
 *         version, target, runtime hash), sealed here with a correct checksum, length
 *         and magic, so that the checks past the checksum see arbitrary fields.
 * Every input must be accepted (only a sealed one whose meta is this weft's) or refused
 * with WEFT_ELOAD and a message that names the file, tells how to recompile and holds
 * no control character (the fields come from the file). Anything else aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "artifact_fuzz: broken promise: %s (line %d)\n", #cond, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The trailer's layout, as artifact.c writes it: meta (4 + 32 + 32 + 32 bytes), the
 * SHA-256 of code and meta, the code's length (8 bytes, little-endian), "WEFTART" and
 * the format character. */
#define META_BYTES 100
#define NAME "fuzz.art"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    bool seal = data[0] & 1;
    data++;
    size--;
    uint8_t *file = NULL;
    size_t len = size;
    if (seal) {
        if (size < META_BYTES)
            return 0;
        len = size + 32 + 8 + 8;
        file = malloc(len);
        EXPECT(file != NULL);
        memcpy(file, data, size);
        weft_sha256(file, size, file + size);
        uint64_t code = size - META_BYTES;
        for (int i = 0; i < 8; i++)
            file[size + 32 + i] = (uint8_t)(code >> (8 * i));
        memcpy(file + size + 40, "WEFTART", 7);
        file[len - 1] = WEFT_ARTIFACT_FORMAT;
    } else {
        file = malloc(len ? len : 1);
        EXPECT(file != NULL);
        memcpy(file, data, len);
    }
    weft_error_t err = {0};
    uint8_t sum[32];
    int rc = weft_artifact_check(NAME, file, len, sum, &err);
    EXPECT(rc == 0 || rc == WEFT_ELOAD);
    if (rc) {
        EXPECT(!strncmp(err.msg, NAME ": ", strlen(NAME) + 2));
        EXPECT(strstr(err.msg, "recompile it from its .wasm") != NULL);
        for (const char *p = err.msg; *p; p++)
            EXPECT((unsigned char)*p >= 0x20);
        /* Sealed here: the checksum and the length always agree. (The phrases are
         * longer than a field of the file, which the message may quote.) */
        if (seal) {
            EXPECT(strstr(err.msg, "corrupted artifact (checksum mismatch)") == NULL);
            EXPECT(strstr(err.msg, "corrupted artifact (its trailer gives") == NULL);
        }
    } else {
        EXPECT(seal); /* a raw input cannot carry a checksum by chance */
    }
    free(file);
    return 0;
}
