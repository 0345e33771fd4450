/* The properties the CloudEvents fuzzers (ce_binary_fuzz.c, ce_structured_fuzz.c,
 * ce_record_fuzz.c) check of every event a decoder accepts: it is valid; it encodes in
 * binary mode, in structured mode and as a record, and each decodes back to the same
 * event (binary mode loses only the JSON types of extensions and the difference between
 * empty data and none; structured mode rewrites JSON data compactly, once: a second
 * round changes nothing); and every refusal has a one-line message. Anything else
 * aborts. */
#ifndef WEFT_FUZZ_CE_CHECK_H
#define WEFT_FUZZ_CE_CHECK_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "events/codec.h"

/* A refusal: a known code and a message without control characters (it becomes the
 * body of a 400). */
static void ce_check_refusal(int rc, const weft_error_t *err) {
    if (rc != WEFT_EINVAL && rc != WEFT_ELIMIT && rc != WEFT_EUNSUPPORTED)
        abort();
    if (err->code != rc || !err->msg[0])
        abort();
    for (const char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
}

static bool ce_same_data(const weft_ce_t *a, const weft_ce_t *b) {
    return a->data_len == b->data_len && (!a->data_len || !memcmp(a->data, b->data, a->data_len));
}

/* a and b exactly: attributes in order, types, data (with none and empty apart). */
static bool ce_same(const weft_ce_t *a, const weft_ce_t *b) {
    if (a->nattrs != b->nattrs || !a->data != !b->data || !ce_same_data(a, b))
        return false;
    for (size_t i = 0; i < a->nattrs; i++)
        if (strcmp(a->attrs[i].name, b->attrs[i].name) ||
            strcmp(a->attrs[i].value, b->attrs[i].value) || a->attrs[i].type != b->attrs[i].type)
            return false;
    return true;
}

/* Every attribute of a is in b with its value (and its type, unless any_type), and b has
 * no other but, when allowed, datacontenttype "application/json". */
static bool ce_same_attrs(const weft_ce_t *a, const weft_ce_t *b, bool any_type,
                          bool extra_json_type) {
    for (size_t i = 0; i < a->nattrs; i++) {
        const weft_ce_attr_t *x = weft_ce_attr(b, a->attrs[i].name);
        if (!x || strcmp(x->value, a->attrs[i].value))
            return false;
        if (!any_type && x->type != a->attrs[i].type)
            return false;
        if (any_type && x->type != weft_ce_attr_type(x->name))
            return false; /* binary mode: the spec's types, or a string */
    }
    size_t extra = b->nattrs - a->nattrs;
    if (b->nattrs < a->nattrs || extra > 1)
        return false;
    if (extra == 1) {
        const char *ct = weft_ce_get(b, "datacontenttype");
        if (!extra_json_type || weft_ce_get(a, "datacontenttype") || !ct ||
            strcmp(ct, "application/json"))
            return false;
    }
    return true;
}

/* JSON data: the same JSON value (the text may be rewritten). */
static bool ce_same_json(const weft_ce_t *a, const weft_ce_t *b) {
    json_t *x =
        json_loadb((const char *)a->data, a->data_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *y =
        json_loadb((const char *)b->data, b->data_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool same = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

/* Encodes ev in mode and decodes the message again into *out (one event). */
static void ce_reencode(const weft_ce_t *ev, weft_ce_mode_t mode, unsigned flags, weft_ce_t *out) {
    weft_ce_http_msg_t m;
    weft_error_t err;
    if (weft_ce_encode_http(ev, mode, &m, &err))
        abort(); /* a valid event always encodes */
    weft_ce_t *evs;
    size_t n;
    if (weft_ce_decode_http(m.headers, m.nheaders, m.body, m.body_len, 0, flags, &evs, &n, &err) ||
        n != 1)
        abort();
    *out = evs[0];
    free(evs);
    weft_ce_http_msg_free(&m);
}

/* The record: exact, and the same bytes when written again. */
static void ce_check_record(const weft_ce_t *ev) {
    weft_buf_t rec = {0}, again = {0};
    weft_ce_t back;
    weft_error_t err;
    if (weft_ce_serialize(ev, &rec) || weft_ce_deserialize(rec.data, rec.len, &back, &err) ||
        !ce_same(ev, &back))
        abort();
    if (weft_ce_serialize(&back, &again) || again.len != rec.len ||
        memcmp(again.data, rec.data, rec.len))
        abort();
    weft_ce_clear(&back);
    weft_buf_free(&rec);
    weft_buf_free(&again);
}

/* Every property of a decoded event. */
static void ce_check_event(const weft_ce_t *ev, unsigned flags) {
    weft_error_t err;
    if (weft_ce_validate_flags(ev, flags, &err))
        abort();
    ce_check_record(ev);

    /* Binary mode: the same attributes and data bytes. */
    weft_ce_t bin;
    ce_reencode(ev, WEFT_CE_MODE_BINARY, flags, &bin);
    if (!ce_same_attrs(ev, &bin, true, false) || !ce_same_data(ev, &bin))
        abort();
    weft_ce_clear(&bin);

    /* Structured mode: the same attributes and types; JSON data the same JSON value. */
    weft_ce_t st, st2;
    ce_reencode(ev, WEFT_CE_MODE_STRUCTURED, flags, &st);
    const char *ct = weft_ce_get(ev, "datacontenttype");
    bool json = ev->data && (!ct || weft_ce_media_type_is_json(ct, strlen(ct)));
    if (!ce_same_attrs(ev, &st, false, true) || !st.data != !ev->data)
        abort();
    if (!ce_same_data(ev, &st) && !(json && ce_same_json(ev, &st)))
        abort();
    /* and a second round changes nothing. */
    ce_reencode(&st, WEFT_CE_MODE_STRUCTURED, flags, &st2);
    if (!ce_same(&st, &st2))
        abort();
    weft_ce_clear(&st);
    weft_ce_clear(&st2);
}

#endif
