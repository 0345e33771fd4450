/* events: the CloudEvents 1.0 model and its codecs.
 *
 * An event is a list of context attributes and optional data. Every attribute is held
 * in its canonical string form (the form the HTTP binding's binary mode puts in a
 * ce-* header before percent-encoding: "2026-11-30T05:00:00Z", "42", "true", base64
 * for binary) together with its type, so that a filter can compare strings and CESQL
 * can see an integer or a boolean extension as what it is. The required and optional
 * attributes of the spec have their fixed types; an extension read from a binary-mode
 * header is a string, one read from structured JSON is an integer, a boolean or a
 * string as the JSON said.
 *
 * The codecs (codec.h: ce_http.c, ce_json.c, ce_record.c) read and write the three
 * modes of the HTTP protocol binding: binary (ce-* headers, data as the body),
 * structured (application/cloudevents+json) and batched
 * (application/cloudevents-batch+json), and the durable log's record. Every decoder
 * validates what it reads (weft_ce_validate, ce_validate.c) and an error message names
 * the attribute and what is wrong with it ("time: '2026-13-01' is not an RFC 3339
 * timestamp"), to be answered as a 400 body.
 */
#ifndef WEFT_EVENTS_CLOUDEVENT_H
#define WEFT_EVENTS_CLOUDEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

#define WEFT_CE_SPECVERSION "1.0"
/* Extension names: [a-z0-9]{1,20}. */
#define WEFT_CE_NAME_MAX 20

/* The CloudEvents type system. */
typedef enum {
    WEFT_CE_STRING = 0,
    WEFT_CE_INTEGER,   /* -2^31 .. 2^31-1, in decimal */
    WEFT_CE_BOOLEAN,   /* "true" / "false" */
    WEFT_CE_BINARY,    /* base64 (RFC 4648) */
    WEFT_CE_URI,       /* absolute URI */
    WEFT_CE_URI_REF,   /* URI-reference */
    WEFT_CE_TIMESTAMP, /* RFC 3339 */
} weft_ce_type_t;

typedef struct weft_ce_attr {
    char *name;  /* lower case */
    char *value; /* canonical string form, NUL-terminated, valid UTF-8 */
    weft_ce_type_t type;
} weft_ce_attr_t;

typedef struct weft_ce {
    weft_ce_attr_t *attrs; /* no two with one name; order: as read or set */
    size_t nattrs;
    size_t cap;
    uint8_t *data; /* NULL when the event has no data */
    size_t data_len;
} weft_ce_t;

/* ---- The model (ce.c) ---------------------------------------------------------- */

/* The value of attribute name, or NULL when the event does not have it. */
const char *weft_ce_get(const weft_ce_t *ev, const char *name);
const weft_ce_attr_t *weft_ce_attr(const weft_ce_t *ev, const char *name);
/* Sets (adds or replaces) an attribute; the strings are copied. No validation: that
 * is weft_ce_validate's. */
int weft_ce_set(weft_ce_t *ev, const char *name, const char *value, weft_ce_type_t type);
/* Removes an attribute if present. */
void weft_ce_unset(weft_ce_t *ev, const char *name);
/* Replaces the data (copied; data NULL: no data). */
int weft_ce_set_data(weft_ce_t *ev, const void *data, size_t len);
/* A deep copy into *out. */
int weft_ce_copy(const weft_ce_t *ev, weft_ce_t *out);
/* Frees what ev holds and zeroes it (ev itself is not freed). */
void weft_ce_clear(weft_ce_t *ev);
/* The fixed type of a spec attribute ("time": TIMESTAMP), STRING for an extension. */
weft_ce_type_t weft_ce_attr_type(const char *name);
/* Is name a valid attribute name ([a-z0-9]{1,20})? */
bool weft_ce_name_valid(const char *name, size_t len);

/* Checks the event against the spec: specversion "1.0"; id, source, type present and
 * non-empty; every value of its type (source and dataschema URI-references or URIs,
 * time RFC 3339, datacontenttype RFC 2046, integers in range, booleans, base64);
 * names valid. The message names the attribute and the problem. WEFT_EINVAL. */
int weft_ce_validate(const weft_ce_t *ev, weft_error_t *err);

#endif
