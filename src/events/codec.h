/* events: the codecs of CloudEvents 1.0 (ce_http.c, ce_json.c, ce_record.c) and the
 * checks they share (ce_validate.c).
 *
 * HTTP (the HTTP protocol binding, transport-neutral: a message is a list of headers
 * and a body, as the gateway, libcurl and invoke each hold them):
 *   - binary mode: every attribute in a `ce-<name>` header, its value percent-encoded;
 *     datacontenttype in Content-Type; data is the body;
 *   - structured mode: Content-Type `application/cloudevents+json`, the event as one
 *     JSON object (the JSON event format);
 *   - batched mode: Content-Type `application/cloudevents-batch+json`, a JSON array of
 *     such objects (possibly empty).
 * The durable log's record (ce_record.c): a compact, versioned, length-prefixed binary
 * form of one event that round-trips it exactly.
 *
 * What the binding and the JSON format leave open, decided here:
 *   - An empty body in binary mode is an event without data (HTTP cannot tell empty
 *     data from none).
 *   - Structured `data` held as JSON (datacontenttype absent, or of subtype `json` or `...+json`)
 *     is kept as its compact JSON text (jansson's, numbers written with the fewest
 *     digits that read back to the same value); when datacontenttype is absent it is
 *     set to "application/json", as the format says a re-encoded event should carry
 *     it. `"data": null` is the JSON text `null`, not the absence of data.
 *   - With any other datacontenttype, `data` must be a JSON string: its UTF-8 bytes
 *     are the data.
 *   - Encoding to JSON: data is written as a JSON value when datacontenttype is absent
 *     or JSON and the bytes are one JSON document, as a string when datacontenttype is
 *     not JSON and the bytes are UTF-8, else as `data_base64`: what any event's bytes
 *     decode back to.
 *   - A binary-mode extension is a string; a structured one is an integer, a boolean
 *     or a string as its JSON type says (JSON reals, objects and arrays are refused).
 *   - The size of an event (the limit the caller gives, WEFT_ELIMIT past it) is its
 *     wire size, as the spec's "Size Limits" define it: in binary mode the body plus
 *     the names and values of the ce-* and Content-Type headers; in structured mode
 *     the body; in a batch, each event's compact JSON. A batch's whole body is the
 *     caller's to bound.
 */
#ifndef WEFT_EVENTS_CODEC_H
#define WEFT_EVENTS_CODEC_H

#include "cloudevent.h"

/* More attributes than this in one event are refused (WEFT_EINVAL): the model finds
 * attributes by a linear search, and a hostile event must not make that quadratic. */
#define WEFT_CE_MAX_ATTRS 256

/* Decoder flags. */
enum {
    /* A reply: an event without `id` is accepted and left for the caller to give one
     * (an empty id is still refused). */
    WEFT_CE_ALLOW_NO_ID = 1u << 0,
};

/* weft_ce_validate with flags (WEFT_CE_ALLOW_NO_ID). */
int weft_ce_validate_flags(const weft_ce_t *ev, unsigned flags, weft_error_t *err);

/* Frees events[0..n) and the array itself. */
void weft_ce_free_array(weft_ce_t *events, size_t n);

/* ---- HTTP (ce_http.c) ----------------------------------------------------------- */

/* One header, borrowed: name and value are not NUL-terminated. Names compare
 * without regard to case. */
typedef struct weft_ce_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} weft_ce_header_t;

/* Decodes the event(s) of an HTTP request or response, whichever mode it is in (by
 * Content-Type, as the binding says). On success *events is a new array of *nevents
 * events (0 for an empty batch; free with weft_ce_free_array), each validated. A
 * batch is all or nothing: one invalid event refuses it, the message naming its
 * index ("event [2]: time: ...").
 * max_event_size: the largest event accepted (its wire size, see above); 0: no limit.
 * Errors: WEFT_ELIMIT for an event over max_event_size (answer 413);
 * WEFT_EUNSUPPORTED for a CloudEvents format other than JSON or a charset other than
 * UTF-8 (answer 415); WEFT_EINVAL for anything else, including a message that is not
 * a CloudEvent at all (answer 400). The message names the attribute or header and the
 * problem. */
int weft_ce_decode_http(const weft_ce_header_t *headers, size_t nheaders, const uint8_t *body,
                        size_t body_len, size_t max_event_size, unsigned flags, weft_ce_t **events,
                        size_t *nevents, weft_error_t *err);

/* Does this message carry an event (to be decoded)? True when a header's name starts
 * with `ce-` or Content-Type is a CloudEvents media type (structured or batched). A
 * response without these (a 202, an empty body, a plain JSON answer) is no reply. A
 * message that is true here may still fail to decode (ce-type without ce-specversion):
 * that is a broken reply, not the absence of one. */
bool weft_ce_http_has_event(const weft_ce_header_t *headers, size_t nheaders);

typedef enum {
    WEFT_CE_MODE_BINARY = 0,
    WEFT_CE_MODE_STRUCTURED,
} weft_ce_mode_t;

/* An encoded HTTP message. Header names are lower case (`ce-id`, `content-type`). */
typedef struct weft_ce_http_msg {
    weft_ce_header_t *headers; /* names and values point into text, each followed there
                                  by a NUL: they may be read as C strings */
    size_t nheaders;
    /* Binary mode: the event's data, borrowed until the event changes or is freed.
     * Structured and batched: the JSON, in text. */
    const uint8_t *body;
    size_t body_len;
    weft_buf_t text;
} weft_ce_http_msg_t;

/* Encodes one event in binary or structured mode into *out (which it initializes;
 * free with weft_ce_http_msg_free, also after a failure). The event is not validated
 * (the caller sends what it decoded and validated), but what would make a broken
 * message is refused (WEFT_EINVAL): an attribute name that is not [a-z0-9]{1,20}, a
 * datacontenttype that is not a media type, a value that is not UTF-8, an integer or
 * boolean attribute whose value is not one. */
int weft_ce_encode_http(const weft_ce_t *ev, weft_ce_mode_t mode, weft_ce_http_msg_t *out,
                        weft_error_t *err);
/* Encodes events[0..n) in batched mode (n may be 0: `[]`). */
int weft_ce_encode_http_batch(const weft_ce_t *events, size_t n, weft_ce_http_msg_t *out,
                              weft_error_t *err);
void weft_ce_http_msg_free(weft_ce_http_msg_t *m);

/* A binary-mode header value to the attribute value: OWS trimmed, double-quoted
 * strings unescaped (RFC 7230 3.2.6, for older senders), then one round of
 * percent-decoding (%XX only; `+` is a plus). Appends to out; WEFT_EINVAL when a `%`
 * is not followed by two hex digits, a quoted string is not closed, or the result is
 * not UTF-8 or holds NUL. */
int weft_ce_header_value_decode(const char *value, size_t len, weft_buf_t *out, weft_error_t *err);
/* An attribute value to a header value: space, `"`, `%` and every byte outside
 * printable ASCII (%x21-7E) as %XX (upper-case hex). Appends to out. */
int weft_ce_header_value_encode(const char *value, weft_buf_t *out);

/* ---- The JSON event format (ce_json.c) ------------------------------------------ */

/* Decodes one event in the JSON format (a structured-mode body, or `weft cesql
 * --event FILE`) into *out, validated. max_event_size: as above (the document's
 * length), 0: no limit. Errors as weft_ce_decode_http's. */
int weft_ce_json_decode(const uint8_t *json, size_t len, size_t max_event_size, unsigned flags,
                        weft_ce_t *out, weft_error_t *err);
/* Decodes a JSON batch (an array of events), all or nothing. */
int weft_ce_json_decode_batch(const uint8_t *json, size_t len, size_t max_event_size,
                              unsigned flags, weft_ce_t **events, size_t *nevents,
                              weft_error_t *err);
/* Appends ev in the JSON format (compact) to out. Refuses what weft_ce_encode_http
 * refuses. */
int weft_ce_json_encode(const weft_ce_t *ev, weft_buf_t *out, weft_error_t *err);
/* Appends events[0..n) as a JSON batch to out. */
int weft_ce_json_encode_batch(const weft_ce_t *events, size_t n, weft_buf_t *out,
                              weft_error_t *err);

/* ---- The durable log's record (ce_record.c) -------------------------------------- */

/* Appends ev to out as one record: a version byte, then length-prefixed (LEB128)
 * attributes (type, name, value) and data. deserialize(serialize(ev)) is ev exactly:
 * names, values, types, order, and data bytes (NUL bytes too; no data and empty data
 * differ). WEFT_EINVAL for an event that breaks the model's rules (a name that is not
 * [a-z0-9]{1,20}, two attributes of one name, an unknown type, more than
 * WEFT_CE_MAX_ATTRS attributes), which deserialize would refuse. */
int weft_ce_serialize(const weft_ce_t *ev, weft_buf_t *out);
/* Reads one record (all of rec[0..len)) into *out (which it initializes). A record
 * that is truncated, too long, of another version, or breaks the rules above is
 * refused (WEFT_EINVAL, out left empty) without reading past len. */
int weft_ce_deserialize(const uint8_t *rec, size_t len, weft_ce_t *out, weft_error_t *err);

/* ---- Shared by the codecs (ce_validate.c) ---------------------------------------- */

/* A media type (RFC 2046, with the parameter syntax of RFC 9110: type "/" subtype
 * *(OWS ";" OWS [name "=" (token / quoted-string)])), split. */
typedef struct weft_ce_media_type {
    const char *type, *subtype, *params; /* params: from the first ';' (or the end) */
    size_t type_len, subtype_len, params_len;
} weft_ce_media_type_t;

/* Parses s[0..n) as a media type; false when it is not one, or ends in whitespace
 * (which an HTTP header cannot carry). */
bool weft_ce_media_type_parse(const char *s, size_t n, weft_ce_media_type_t *mt);
/* Does the media type declare JSON (subtype `json` or `...+json`, any case)? False when s is
 * not a media type. */
bool weft_ce_media_type_is_json(const char *s, size_t n);
/* The value of parameter name (any case) into out (unquoted, cut to out_size - 1);
 * false when absent. */
bool weft_ce_media_type_param(const weft_ce_media_type_t *mt, const char *name, char *out,
                              size_t out_size);

bool weft_ce_timestamp_valid(const char *s, size_t n); /* RFC 3339 date-time */
/* RFC 3986: an absolute URI (with a scheme; a fragment allowed) or a URI-reference. */
bool weft_ce_uri_valid(const char *s, size_t n, bool absolute);
bool weft_ce_base64_valid(const char *s, size_t n); /* RFC 4648, padded */
/* -2^31 .. 2^31-1 in the canonical form (no '+', no leading zeros). */
bool weft_ce_integer_parse(const char *s, size_t n, int32_t *out);

/* Writes s[0..n) into buf for a message: in quotes, control characters and bytes
 * that are not UTF-8 as \xNN, cut with "..." past about 60 bytes. Returns buf. */
#define WEFT_CE_QUOTE_MAX 96
const char *weft_ce_quote(const char *s, size_t n, char buf[WEFT_CE_QUOTE_MAX]);

#endif
