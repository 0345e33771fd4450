/* SHA-256 as FIPS 180-4 defines it (section 6.2), for the guest's cache key: small and
 * plain rather than fast. Feed the bytes in any pieces; the digest is the same. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];           /* the hash value H(i) so far */
    uint64_t bits;           /* the message's length so far, in bits */
    unsigned char block[64]; /* a 512-bit block being filled ... */
    size_t used;             /* ... with this many bytes */
} sha256_t;

void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *data, size_t len);
/* Pads the message, writes the 32-byte digest; s must be initialized again for reuse. */
void sha256_final(sha256_t *s, unsigned char digest[32]);

/* The digest of data[0..len) as 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
