/* The durable log's record of one event (codec.h): written at every ingest and read at
 * every delivery, so it is plain bytes rather than JSON.
 *
 *   record  = version nattrs *attr data
 *   version = %x01
 *   nattrs  = uvarint
 *   attr    = type (one byte, weft_ce_type_t) name-len name value-len value
 *   data    = %x00 (no data) / %x01 data-len bytes
 *
 * Lengths are unsigned LEB128 in their shortest form, so that a record read and written
 * again is the same bytes. Names are [a-z0-9]{1,20}, values hold no NUL, no name comes
 * twice: a record that breaks a rule is corrupt. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define RECORD_VERSION 1
#define TYPE_COUNT (WEFT_CE_TIMESTAMP + 1)

static size_t uvarint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80)
        v >>= 7, n++;
    return n;
}

static uint8_t *put_uvarint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a uvarint at *p (before end); false when it runs past end, is longer than 64
 * bits, or is not in its shortest form. */
static bool get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                return false; /* a zero last byte: not the shortest form */
            *out = v;
            return true;
        }
    }
    return false;
}

/* Do the attributes keep the record's rules? */
static bool attrs_ok(const weft_ce_t *ev) {
    if (ev->nattrs > WEFT_CE_MAX_ATTRS)
        return false;
    for (size_t i = 0; i < ev->nattrs; i++) {
        const weft_ce_attr_t *a = &ev->attrs[i];
        if ((unsigned)a->type >= TYPE_COUNT || !weft_ce_name_valid(a->name, strlen(a->name)))
            return false;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(ev->attrs[k].name, a->name))
                return false;
    }
    return true;
}

int weft_ce_serialize(const weft_ce_t *ev, weft_buf_t *out) {
    if (!attrs_ok(ev))
        return WEFT_EINVAL;
    size_t size = 1 + uvarint_len(ev->nattrs) + 1;
    for (size_t i = 0; i < ev->nattrs; i++) {
        size_t nl = strlen(ev->attrs[i].name), vl = strlen(ev->attrs[i].value);
        size += 1 + uvarint_len(nl) + nl + uvarint_len(vl) + vl;
    }
    if (ev->data)
        size += uvarint_len(ev->data_len) + ev->data_len;
    int rc = weft_buf_reserve(out, size);
    if (rc)
        return rc;
    uint8_t *p = out->data + out->len;
    *p++ = RECORD_VERSION;
    p = put_uvarint(p, ev->nattrs);
    for (size_t i = 0; i < ev->nattrs; i++) {
        const weft_ce_attr_t *a = &ev->attrs[i];
        size_t nl = strlen(a->name), vl = strlen(a->value);
        *p++ = (uint8_t)a->type;
        p = put_uvarint(p, nl);
        memcpy(p, a->name, nl);
        p += nl;
        p = put_uvarint(p, vl);
        memcpy(p, a->value, vl);
        p += vl;
    }
    *p++ = ev->data ? 1 : 0;
    if (ev->data) {
        p = put_uvarint(p, ev->data_len);
        memcpy(p, ev->data, ev->data_len);
        p += ev->data_len;
    }
    out->len += size;
    out->data[out->len] = 0;
    return 0;
}

/* A length at *p that fits in what is left, with the bytes it counts. */
static bool get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **bytes, size_t *len) {
    uint64_t n;
    if (!get_uvarint(p, end, &n) || n > (uint64_t)(end - *p))
        return false;
    *bytes = *p;
    *len = (size_t)n;
    *p += n;
    return true;
}

int weft_ce_deserialize(const uint8_t *rec, size_t len, weft_ce_t *out, weft_error_t *err) {
    *out = (weft_ce_t){0};
    const uint8_t *p = rec, *end = rec + len;
    uint64_t nattrs;
    const char *why = NULL;
    char name[WEFT_CE_NAME_MAX + 1];
    if (len == 0 || *p != RECORD_VERSION) {
        if (len)
            return weft_error_set(err, WEFT_EINVAL,
                                  "event record: version %u, not %u (written by another weft?)", *p,
                                  RECORD_VERSION);
        return weft_error_set(err, WEFT_EINVAL, "event record: empty");
    }
    p++;
    if (!get_uvarint(&p, end, &nattrs) || nattrs > WEFT_CE_MAX_ATTRS) {
        why = "attribute count";
        goto corrupt;
    }
    for (uint64_t i = 0; i < nattrs; i++) {
        const uint8_t *n, *v;
        size_t nl, vl;
        if (p == end || *p >= TYPE_COUNT) {
            why = "attribute type";
            goto corrupt;
        }
        weft_ce_type_t type = (weft_ce_type_t)*p++;
        if (!get_bytes(&p, end, &n, &nl) || !weft_ce_name_valid((const char *)n, nl)) {
            why = "attribute name";
            goto corrupt;
        }
        memcpy(name, n, nl);
        name[nl] = 0;
        if (weft_ce_attr(out, name)) {
            why = "attribute given twice";
            goto corrupt;
        }
        if (!get_bytes(&p, end, &v, &vl) || memchr(v, 0, vl)) {
            why = "attribute value";
            goto corrupt;
        }
        /* The value is not NUL-terminated in the record: copy it through a buffer. */
        char small[256];
        char *value = vl < sizeof small ? small : malloc(vl + 1);
        if (!value) {
            weft_ce_clear(out);
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        }
        memcpy(value, v, vl);
        value[vl] = 0;
        int rc = weft_ce_set(out, name, value, type);
        if (value != small)
            free(value);
        if (rc) {
            weft_ce_clear(out);
            return weft_error_set(err, rc, "out of memory");
        }
    }
    if (p == end || *p > 1) {
        why = "data flag";
        goto corrupt;
    }
    if (*p++ == 1) {
        const uint8_t *d;
        size_t dl;
        if (!get_bytes(&p, end, &d, &dl)) {
            why = "data length";
            goto corrupt;
        }
        if (weft_ce_set_data(out, d, dl)) {
            weft_ce_clear(out);
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    if (p != end) {
        why = "bytes past the end";
        goto corrupt;
    }
    return 0;
corrupt:
    weft_ce_clear(out);
    return weft_error_set(err, WEFT_EINVAL, "event record: corrupt %s at byte %zu", why,
                          (size_t)(p - rec));
}
