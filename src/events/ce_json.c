/* The JSON event format of CloudEvents 1.0 and its batch format (codec.h), with jansson.
 * The rules for `data` and the decisions the format leaves open are in codec.h. */
#include <jansson.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* jansson's messages quote the input: keep control characters out of ours. */
static int json_error(weft_error_t *err, const json_error_t *je) {
    char text[JSON_ERROR_TEXT_LENGTH];
    size_t i = 0;
    for (; je->text[i] && i + 1 < sizeof text; i++)
        text[i] = (unsigned char)je->text[i] < 0x20 || je->text[i] == 0x7f ? '?' : je->text[i];
    text[i] = 0;
    return weft_error_set(err, WEFT_EINVAL, "not valid JSON: %s (line %d, column %d)", text,
                          je->line, je->column);
}

static int oom(weft_error_t *err) {
    return weft_error_set(err, WEFT_ENOMEM, "out of memory");
}

/* ---- Numbers in data: the fewest digits that read back -------------------------------- */

/* The digits %.*g needs for v to read back as v, and enough not to write a number
 * below 1e17 in exponent form (100.0, not 1e+02). */
static int real_digits(double v) {
    char buf[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* The digits before the point (without libm, which weft-net.so does not load). */
    double a = v < 0 ? -v : v, ten = 10;
    for (int whole = 1; a >= 1 && a < 1e17 && whole <= 17; whole++, ten *= 10) {
        if (a < ten) {
            if (p < whole)
                p = whole;
            break;
        }
    }
    return p;
}

static void max_digits(const json_t *v, int *p) {
    if (json_is_real(v)) {
        int d = real_digits(json_real_value(v));
        if (d > *p)
            *p = d;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) max_digits(m, p);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) max_digits(m, p);
    }
}

/* jansson writes every real with 17 significant digits unless told fewer (0.1 as
 * 0.10000000000000001): the flags that write v's reals with the fewest digits that
 * still read back to the same values, checked by reading them back. */
static size_t real_flags(const json_t *v) {
    const size_t base = JSON_COMPACT | JSON_ENCODE_ANY;
    int p = 0;
    max_digits(v, &p);
    if (p == 0 || p >= 17)
        return base;
    size_t flags = base | JSON_REAL_PRECISION(p);
    char *s = json_dumps(v, flags);
    json_t *back = s ? json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    bool same = back && json_equal(back, v);
    json_decref(back);
    free(s);
    return same ? flags : base;
}

/* ---- Decoding ----------------------------------------------------------------------- */

static bool is_spec_attr(const char *name) {
    return weft_ce_attr_type(name) != WEFT_CE_STRING || !strcmp(name, "id") ||
           !strcmp(name, "specversion") || !strcmp(name, "type") || !strcmp(name, "subject") ||
           !strcmp(name, "datacontenttype");
}

/* One attribute member (not data or data_base64) into ev. */
static int read_attr(weft_ce_t *ev, const char *name, const json_t *v, weft_error_t *err) {
    char buf[32];
    bool spec = is_spec_attr(name);
    switch (json_typeof(v)) {
    case JSON_NULL:
        return 0; /* the format: null is an unset attribute */
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (memchr(s, 0, json_string_length(v)))
            return weft_error_set(err, WEFT_EINVAL, "%s: contains the control character U+0000",
                                  name);
        return weft_ce_set(ev, name, s, spec ? weft_ce_attr_type(name) : WEFT_CE_STRING);
    }
    default:
        break;
    }
    if (spec)
        return weft_error_set(err, WEFT_EINVAL, "%s: must be a JSON string", name);
    switch (json_typeof(v)) {
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i < INT32_MIN || i > INT32_MAX)
            return weft_error_set(err, WEFT_EINVAL,
                                  "%s: %" JSON_INTEGER_FORMAT
                                  " is out of the integer range -2147483648..2147483647",
                                  name, i);
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, i);
        return weft_ce_set(ev, name, buf, WEFT_CE_INTEGER);
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return weft_ce_set(ev, name, json_is_true(v) ? "true" : "false", WEFT_CE_BOOLEAN);
    case JSON_REAL:
        return weft_error_set(err, WEFT_EINVAL,
                              "%s: %g is not an integer (attribute values are strings, integers "
                              "or booleans)",
                              name, json_real_value(v));
    default:
        return weft_error_set(err, WEFT_EINVAL,
                              "%s: attribute values are strings, integers or booleans, not %s",
                              name, json_is_object(v) ? "objects" : "arrays");
    }
}

static int read_data_base64(weft_ce_t *ev, const json_t *v, weft_error_t *err) {
    if (!json_is_string(v))
        return weft_error_set(err, WEFT_EINVAL, "data_base64: must be a JSON string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!weft_ce_base64_valid(s, n)) {
        char q[WEFT_CE_QUOTE_MAX];
        return weft_error_set(err, WEFT_EINVAL, "data_base64: %s is not base64 (RFC 4648)",
                              weft_ce_quote(s, n, q));
    }
    uint8_t *bytes = malloc(BASE64_DECODE_LENGTH(n) + 1);
    if (!bytes)
        return oom(err);
    struct base64_decode_ctx ctx;
    size_t len = 0;
    base64_decode_init(&ctx);
    int rc = 0;
    if (!base64_decode_update(&ctx, &len, bytes, n, s) || !base64_decode_final(&ctx))
        rc = weft_error_set(err, WEFT_EINVAL, "data_base64: not base64 (RFC 4648)");
    else if (weft_ce_set_data(ev, bytes, len))
        rc = oom(err);
    free(bytes);
    return rc;
}

static int read_data(weft_ce_t *ev, const json_t *v, weft_error_t *err) {
    const char *ctype = weft_ce_get(ev, "datacontenttype");
    if (!ctype || weft_ce_media_type_is_json(ctype, strlen(ctype))) {
        char *text = json_dumps(v, real_flags(v));
        if (!text)
            return oom(err);
        int rc = weft_ce_set_data(ev, text, strlen(text));
        if (rc == 0 && !ctype)
            rc = weft_ce_set(ev, "datacontenttype", "application/json", WEFT_CE_STRING);
        free(text);
        return rc ? oom(err) : 0;
    }
    if (!json_is_string(v)) {
        char q[WEFT_CE_QUOTE_MAX];
        return weft_error_set(err, WEFT_EINVAL,
                              "data: datacontenttype %s is not JSON, so data must be a JSON "
                              "string (or use data_base64)",
                              weft_ce_quote(ctype, strlen(ctype), q));
    }
    if (weft_ce_set_data(ev, json_string_value(v), json_string_length(v)))
        return oom(err);
    return 0;
}

/* One event from its JSON object into *ev (initialized here, left empty on failure). */
static int from_object(const json_t *obj, unsigned flags, weft_ce_t *ev, weft_error_t *err) {
    *ev = (weft_ce_t){0};
    if (!json_is_object(obj))
        return weft_error_set(err, WEFT_EINVAL, "an event in the JSON format is an object");
    if (json_object_size(obj) > WEFT_CE_MAX_ATTRS + 2)
        return weft_error_set(err, WEFT_EINVAL, "the event has %zu members; at most %d are read",
                              json_object_size(obj), WEFT_CE_MAX_ATTRS);
    const json_t *data = NULL, *data64 = NULL;
    char q[WEFT_CE_QUOTE_MAX];
    int rc = 0;
    for (void *it = json_object_iter((json_t *)obj); it && rc == 0;
         it = json_object_iter_next((json_t *)obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        if (!strcmp(key, "data") && klen == 4)
            data = v;
        else if (!strcmp(key, "data_base64") && klen == 11)
            data64 = json_is_null(v) ? NULL : v;
        else if (!weft_ce_name_valid(key, klen)) /* before the name goes into a message */
            rc = weft_error_set(err, WEFT_EINVAL,
                                "attribute name %s is not valid: names are 1 to %d characters "
                                "from a-z and 0-9",
                                weft_ce_quote(key, klen, q), WEFT_CE_NAME_MAX);
        else
            rc = read_attr(ev, key, v, err);
    }
    if (rc == WEFT_ENOMEM)
        oom(err);
    if (rc == 0 && data && data64)
        rc = weft_error_set(err, WEFT_EINVAL,
                            "both data and data_base64 are present: an event has one or the other");
    if (rc == 0)
        rc = weft_ce_validate_flags(ev, flags, err);
    if (rc == 0 && data64)
        rc = read_data_base64(ev, data64, err);
    if (rc == 0 && data)
        rc = read_data(ev, data, err);
    if (rc)
        weft_ce_clear(ev);
    return rc;
}

/* Parses json[0..len) into *root. Duplicate names are refused (which one would count?);
 * NUL is allowed in strings, for data (an attribute holding one is refused). */
static int load(const uint8_t *json, size_t len, const char *what, json_t **root,
                weft_error_t *err) {
    if (len == 0)
        return weft_error_set(err, WEFT_EINVAL, "the body is empty: %s", what);
    json_error_t je;
    *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    return *root ? 0 : json_error(err, &je);
}

int weft_ce_json_decode(const uint8_t *json, size_t len, size_t max_event_size, unsigned flags,
                        weft_ce_t *out, weft_error_t *err) {
    *out = (weft_ce_t){0};
    if (max_event_size && len > max_event_size)
        return weft_error_set(err, WEFT_ELIMIT, "the event is %zu bytes; the limit is %zu", len,
                              max_event_size);
    json_t *root;
    int rc = load(json, len, "a structured event is a JSON object", &root, err);
    if (rc)
        return rc;
    rc = json_is_object(root)
             ? from_object(root, flags, out, err)
             : weft_error_set(err, WEFT_EINVAL, "a structured event is a JSON object");
    json_decref(root);
    return rc;
}

int weft_ce_json_decode_batch(const uint8_t *json, size_t len, size_t max_event_size,
                              unsigned flags, weft_ce_t **events, size_t *nevents,
                              weft_error_t *err) {
    *events = NULL;
    *nevents = 0;
    json_t *root;
    int rc = load(json, len, "a batch is a JSON array", &root, err);
    if (rc)
        return rc;
    size_t n = json_array_size(root), done = 0;
    weft_ce_t *evs = NULL;
    if (!json_is_array(root))
        rc = weft_error_set(err, WEFT_EINVAL, "a batch is a JSON array of events");
    else if (n && !(evs = calloc(n, sizeof *evs)))
        rc = oom(err);
    for (; rc == 0 && done < n; done++) {
        json_t *item = json_array_get(root, done);
        size_t size = max_event_size ? json_dumpb(item, NULL, 0, JSON_COMPACT) : 0;
        if (size > max_event_size)
            rc = weft_error_set(err, WEFT_ELIMIT, "the event is %zu bytes; the limit is %zu", size,
                                max_event_size);
        else
            rc = from_object(item, flags, &evs[done], err);
        if (rc)
            weft_error_prefix(err, "event [%zu]", done);
    }
    json_decref(root);
    if (rc) {
        weft_ce_free_array(evs, done);
        return rc;
    }
    *events = evs;
    *nevents = n;
    return 0;
}

/* ---- Encoding ----------------------------------------------------------------------- */

static json_t *data_member(const weft_ce_t *ev, const char **member) {
    const char *ctype = weft_ce_get(ev, "datacontenttype");
    bool json_ish = !ctype || weft_ce_media_type_is_json(ctype, strlen(ctype));
    if (json_ish) {
        /* Duplicate names would not come back as they were: base64 them. */
        json_t *v = json_loadb((const char *)ev->data, ev->data_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
        if (v) {
            *member = "data";
            return v;
        }
    } else if (weft_utf8_valid(ev->data, ev->data_len)) {
        *member = "data";
        return json_stringn((const char *)ev->data, ev->data_len);
    }
    /* Bytes that are neither: base64. */
    char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(ev->data_len) + 1);
    if (!b64)
        return NULL;
    base64_encode_raw(b64, ev->data_len, ev->data);
    json_t *v = json_stringn(b64, BASE64_ENCODE_RAW_LENGTH(ev->data_len));
    free(b64);
    *member = "data_base64";
    return v;
}

/* ev as a JSON object, into *out (a new reference). */
static int to_object(const weft_ce_t *ev, json_t **out, weft_error_t *err) {
    char q[WEFT_CE_QUOTE_MAX];
    int rc = WEFT_EINVAL;
    json_t *obj = *out = json_object();
    if (!obj)
        return oom(err);
    for (size_t i = 0; i < ev->nattrs; i++) {
        const weft_ce_attr_t *a = &ev->attrs[i];
        size_t nlen = strlen(a->name);
        if (!weft_ce_name_valid(a->name, nlen) || !strcmp(a->name, "data")) {
            weft_error_set(err, WEFT_EINVAL, "attribute name %s is not valid",
                           weft_ce_quote(a->name, nlen, q));
            goto fail;
        }
        weft_ce_type_t type = is_spec_attr(a->name) ? WEFT_CE_STRING : a->type;
        size_t vlen = strlen(a->value);
        json_t *v;
        int32_t num;
        if (type == WEFT_CE_INTEGER) {
            if (!weft_ce_integer_parse(a->value, vlen, &num)) {
                weft_error_set(err, WEFT_EINVAL, "%s: %s is not an integer", a->name,
                               weft_ce_quote(a->value, vlen, q));
                goto fail;
            }
            v = json_integer(num);
        } else if (type == WEFT_CE_BOOLEAN) {
            if (strcmp(a->value, "true") && strcmp(a->value, "false")) {
                weft_error_set(err, WEFT_EINVAL, "%s: %s is not a boolean", a->name,
                               weft_ce_quote(a->value, vlen, q));
                goto fail;
            }
            v = json_boolean(a->value[0] == 't');
        } else if (!(v = json_stringn(a->value, vlen))) {
            weft_error_set(err, WEFT_EINVAL, "%s: %s is not valid UTF-8", a->name,
                           weft_ce_quote(a->value, vlen, q));
            goto fail;
        }
        if (json_object_set_new(obj, a->name, v)) {
            rc = oom(err);
            goto fail;
        }
    }
    if (ev->data) {
        const char *member = NULL;
        json_t *v = data_member(ev, &member);
        if (!v || json_object_set_new(obj, member, v)) {
            rc = oom(err);
            goto fail;
        }
    }
    return 0;
fail:
    json_decref(obj);
    *out = NULL;
    return rc;
}

static int dump(const json_t *root, weft_buf_t *out, weft_error_t *err) {
    size_t flags = real_flags(root);
    size_t size = json_dumpb(root, NULL, 0, flags);
    if (size == 0 || weft_buf_reserve(out, size))
        return oom(err);
    json_dumpb(root, (char *)out->data + out->len, size, flags);
    out->len += size;
    out->data[out->len] = 0;
    return 0;
}

int weft_ce_json_encode(const weft_ce_t *ev, weft_buf_t *out, weft_error_t *err) {
    json_t *obj;
    int rc = to_object(ev, &obj, err);
    if (rc)
        return rc;
    rc = dump(obj, out, err);
    json_decref(obj);
    return rc;
}

int weft_ce_json_encode_batch(const weft_ce_t *events, size_t n, weft_buf_t *out,
                              weft_error_t *err) {
    json_t *arr = json_array();
    if (!arr)
        return oom(err);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *obj;
        if ((rc = to_object(&events[i], &obj, err))) {
            weft_error_prefix(err, "event [%zu]", i);
        } else if (json_array_append_new(arr, obj)) {
            rc = oom(err);
        }
    }
    if (rc == 0)
        rc = dump(arr, out, err);
    json_decref(arr);
    return rc;
}
