/* events: the CloudEvents codecs (codec.h). Binary, structured and batched HTTP
 * messages both ways, percent-encoding, every attribute type valid and not, the
 * messages that name what is wrong, the size limit, replies without an id, and the
 * durable log's record. Each test names its input when it fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/codec.h"
#include "test.h"

#define H(n, v) ((weft_ce_header_t){n, sizeof(n) - 1, v, sizeof(v) - 1})
#define NH(a) (sizeof(a) / sizeof *(a))

static const weft_ce_header_t BASE[] = {
    H("ce-specversion", "1.0"),
    H("ce-id", "1"),
    H("ce-source", "/me"),
    H("ce-type", "io.wasm.event"),
};

/* The type of attribute name, -1 when the event lacks it. */
static int type_of(const weft_ce_t *ev, const char *name) {
    const weft_ce_attr_t *a = weft_ce_attr(ev, name);
    return a ? (int)a->type : -1;
}

/* Decodes headers + body, expecting exactly one event in *ev. */
static int decode1(const weft_ce_header_t *h, size_t nh, const char *body, size_t max,
                   unsigned flags, weft_ce_t *ev, weft_error_t *err) {
    weft_ce_t *evs = NULL;
    size_t n = 0;
    *ev = (weft_ce_t){0};
    err->msg[0] = 0;
    int rc = weft_ce_decode_http(h, nh, (const uint8_t *)body, body ? strlen(body) : 0, max, flags,
                                 &evs, &n, err);
    if (rc == 0) {
        CHECK_EQ_INT(n, 1);
        if (n == 1)
            *ev = evs[0], evs[0] = (weft_ce_t){0};
        weft_ce_free_array(evs, n);
    }
    return rc;
}

/* Binary mode: BASE plus one more header (name, value); the decoded attribute. */
static int binary_with(const char *name, const char *value, weft_ce_t *ev, weft_error_t *err) {
    weft_ce_header_t h[NH(BASE) + 1];
    memcpy(h, BASE, sizeof BASE);
    h[NH(BASE)] = (weft_ce_header_t){name, strlen(name), value, strlen(value)};
    return decode1(h, NH(h), NULL, 0, 0, ev, err);
}

/* A structured event: the required attributes plus `extra` (JSON members, with a
 * leading comma, or ""). */
static int structured_with(const char *extra, size_t max, weft_ce_t *ev, weft_error_t *err) {
    char body[4096];
    snprintf(body, sizeof body,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/me\",\"type\":\"t\"%s}", extra);
    weft_ce_header_t h[] = {H("Content-Type", "application/cloudevents+json")};
    return decode1(h, 1, body, max, 0, ev, err);
}

/* The error is code and its message contains want. */
static void refused(int rc, const weft_error_t *err, int code, const char *want, const char *what) {
    bool ok = rc == code && strstr(err->msg, want);
    if (!ok)
        fprintf(stderr, "%s: status %d, message \"%s\"; expected %d with \"%s\"\n", what, rc,
                err->msg, code, want);
    CHECK(ok);
}

/* One attribute of type `type` set on a valid event: does validation take it? */
static void attr_valid(const char *name, const char *value, weft_ce_type_t type, bool valid,
                       const char *want) {
    weft_ce_t ev = {0};
    weft_ce_set(&ev, "specversion", "1.0", WEFT_CE_STRING);
    weft_ce_set(&ev, "id", "1", WEFT_CE_STRING);
    weft_ce_set(&ev, "source", "/me", WEFT_CE_URI_REF);
    weft_ce_set(&ev, "type", "t", WEFT_CE_STRING);
    weft_ce_set(&ev, name, value, type);
    weft_error_t err = {0};
    int rc = weft_ce_validate(&ev, &err);
    if (valid) {
        if (rc)
            fprintf(stderr, "%s = \"%s\": refused (%s), expected valid\n", name, value, err.msg);
        CHECK_EQ_INT(rc, 0);
    } else {
        char what[200];
        snprintf(what, sizeof what, "%s = \"%s\"", name, value);
        refused(rc, &err, WEFT_EINVAL, want, what);
    }
    weft_ce_clear(&ev);
}

static void test_binary_mode_reads_headers_content_type_and_body(void) {
    weft_ce_header_t h[] = {
        H("ce-specversion", "1.0"),
        H("CE-ID", "A234-1234-1234"),
        H("Ce-Source", "https://github.com/cloudevents/spec/pull"),
        H("ce-type", "com.github.pull_request.opened"),
        H("ce-time", "2018-04-05T17:31:00Z"),
        H("ce-subject", "123"),
        H("Ce-ComExampleExtension1", " value "),
        H("Host", "example.com"),
        H("Content-Type", "application/json; charset=utf-8"),
    };
    weft_ce_t ev;
    weft_error_t err;
    int rc = decode1(h, NH(h), "{\"hi\":\"world\"}", 0, 0, &ev, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(weft_ce_get(&ev, "id"), "A234-1234-1234");
    CHECK_EQ_STR(weft_ce_get(&ev, "source"), "https://github.com/cloudevents/spec/pull");
    CHECK_EQ_STR(weft_ce_get(&ev, "comexampleextension1"), "value"); /* lower case, OWS trimmed */
    CHECK_EQ_STR(weft_ce_get(&ev, "datacontenttype"), "application/json; charset=utf-8");
    CHECK(weft_ce_get(&ev, "host") == NULL);
    CHECK_EQ_INT(type_of(&ev, "time"), WEFT_CE_TIMESTAMP);
    CHECK_EQ_INT(type_of(&ev, "source"), WEFT_CE_URI_REF);
    CHECK_EQ_INT(type_of(&ev, "comexampleextension1"), WEFT_CE_STRING);
    CHECK(ev.data && ev.data_len == 14 && !memcmp(ev.data, "{\"hi\":\"world\"}", 14));
    weft_ce_clear(&ev);

    /* No body: no data; no Content-Type: no datacontenttype. */
    rc = decode1(BASE, NH(BASE), NULL, 0, 0, &ev, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK(ev.data == NULL);
    CHECK(weft_ce_get(&ev, "datacontenttype") == NULL);
    weft_ce_clear(&ev);
}

static void test_binary_mode_refuses_what_the_binding_forbids(void) {
    weft_ce_t ev;
    weft_error_t err;
    refused(binary_with("ce-datacontenttype", "text/plain", &ev, &err), &err, WEFT_EINVAL,
            "ce-datacontenttype: not allowed in binary mode", "ce-datacontenttype");
    refused(binary_with("ce-id", "2", &ev, &err), &err, WEFT_EINVAL, "ce-id: given more than once",
            "two ce-id");
    refused(binary_with("ce-data", "x", &ev, &err), &err, WEFT_EINVAL, "reserved", "ce-data");
    refused(binary_with("ce-my-ext", "x", &ev, &err), &err, WEFT_EINVAL,
            "'my-ext' is not a valid attribute name", "ce-my-ext");
    refused(binary_with("ce-abcdefghijklmnopqrstu", "x", &ev, &err), &err, WEFT_EINVAL,
            "is not a valid attribute name", "21-character header name");
    CHECK_EQ_INT(binary_with("ce-ABCDEFGHIJKLMNOPQRST", "x", &ev, &err), 0); /* 20, any case */
    CHECK_EQ_STR(weft_ce_get(&ev, "abcdefghijklmnopqrst"), "x");
    weft_ce_clear(&ev);
    refused(binary_with("Content-Type", "json", &ev, &err), &err, WEFT_EINVAL,
            "datacontenttype: 'json' is not a media type", "Content-Type json");
}

static void test_a_message_without_an_event_is_not_a_cloudevent(void) {
    weft_ce_t ev;
    weft_error_t err;
    weft_ce_header_t plain[] = {H("Content-Type", "application/json")};
    refused(decode1(plain, 1, "{}", 0, 0, &ev, &err), &err, WEFT_EINVAL,
            "not a CloudEvent: no ce-specversion header", "plain JSON");
    weft_ce_header_t partial[] = {H("ce-type", "t"), H("ce-source", "s")};
    refused(decode1(partial, 2, NULL, 0, 0, &ev, &err), &err, WEFT_EINVAL,
            "ce-* headers without ce-specversion", "ce-type without ce-specversion");
    weft_ce_header_t old[] = {H("ce-specversion", "0.3"), H("ce-id", "1"), H("ce-source", "s"),
                              H("ce-type", "t")};
    refused(decode1(old, 4, NULL, 0, 0, &ev, &err), &err, WEFT_EINVAL,
            "specversion: '0.3' is not supported", "specversion 0.3");
}

static void test_percent_decoding_follows_the_binding(void) {
    static const struct {
        const char *header, *value;
    } ok[] = {
        {"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"100%25", "100%"},
        {"say%20%22hi%22", "say \"hi\""},
        {"%e2%82%ac", "\xE2\x82\xAC"}, /* lower-case hex is accepted */
        {"%61bc", "abc"},              /* needlessly encoded: accepted */
        {"a+b", "a+b"},                /* only %XX is decoded */
        {"\"hello world\"", "hello world"},
        {"\"a\\\"b\"", "a\"b"},           /* a quoted string, with a backslash escape */
        {"\"%25\"", "%"},                 /* unquoted first, then percent-decoded */
        {"\xE2\x82\xAC", "\xE2\x82\xAC"}, /* raw UTF-8 passes */
    };
    for (size_t i = 0; i < NH(ok); i++) {
        weft_ce_t ev;
        weft_error_t err;
        int rc = binary_with("ce-subject", ok[i].header, &ev, &err);
        if (rc)
            fprintf(stderr, "ce-subject: %s: %s\n", ok[i].header, err.msg);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_STR(weft_ce_get(&ev, "subject"), ok[i].value);
        weft_ce_clear(&ev);
    }
    static const struct {
        const char *header, *want;
    } bad[] = {
        {"abc%G1", "ce-subject: '%G1' at offset 3 is not a percent-encoded byte"},
        {"abc%2", "ce-subject: '%2' at offset 3 is not a percent-encoded byte"},
        {"%C0%A0", "ce-subject: is not valid UTF-8"}, /* overlong space */
        {"%FF", "ce-subject: is not valid UTF-8"},
        {"%E2%82", "ce-subject: is not valid UTF-8"},    /* cut "€" */
        {"%ED%A0%80", "ce-subject: is not valid UTF-8"}, /* a surrogate */
        {"a%00b", "ce-subject: contains the control character U+0000"},
        {"a%0Ab", "subject: 'a\\x0Ab' contains the control character U+000A"},
        {"\"open", "ce-subject: a quoted string is not closed"},
    };
    for (size_t i = 0; i < NH(bad); i++) {
        weft_ce_t ev;
        weft_error_t err;
        refused(binary_with("ce-subject", bad[i].header, &ev, &err), &err, WEFT_EINVAL, bad[i].want,
                bad[i].header);
    }
}

static void test_percent_encoding_follows_the_binding(void) {
    static const struct {
        const char *value, *header;
    } cases[] = {
        {"Euro \xE2\x82\xAC \xF0\x9F\x98\x80", "Euro%20%E2%82%AC%20%F0%9F%98%80"},
        {"100%", "100%25"},
        {"say \"hi\"", "say%20%22hi%22"},
        {"tab\there", "tab%09here"},
        {"\x7f", "%7F"},
        {"a+b/c?d=e&f:g;h,i'(j)*~!", "a+b/c?d=e&f:g;h,i'(j)*~!"}, /* printable: as is */
    };
    for (size_t i = 0; i < NH(cases); i++) {
        weft_buf_t b = {0};
        CHECK_EQ_INT(weft_ce_header_value_encode(cases[i].value, &b), 0);
        CHECK_EQ_STR((const char *)b.data, cases[i].header);
        /* And back. */
        weft_buf_t back = {0};
        CHECK_EQ_INT(weft_ce_header_value_decode((const char *)b.data, b.len, &back, NULL), 0);
        CHECK_EQ_STR((const char *)back.data, cases[i].value);
        weft_buf_free(&b);
        weft_buf_free(&back);
    }
}

static void test_binary_encoding_writes_headers_and_body(void) {
    weft_ce_t ev = {0};
    weft_ce_set(&ev, "specversion", "1.0", WEFT_CE_STRING);
    weft_ce_set(&ev, "id", "1", WEFT_CE_STRING);
    weft_ce_set(&ev, "source", "/me", WEFT_CE_URI_REF);
    weft_ce_set(&ev, "type", "t", WEFT_CE_STRING);
    weft_ce_set(&ev, "subject", "Euro \xE2\x82\xAC", WEFT_CE_STRING);
    weft_ce_set(&ev, "count", "42", WEFT_CE_INTEGER);
    weft_ce_set(&ev, "datacontenttype", "text/plain; charset=utf-8", WEFT_CE_STRING);
    weft_ce_set_data(&ev, "hello", 5);
    weft_ce_http_msg_t m;
    weft_error_t err;
    CHECK_EQ_INT(weft_ce_encode_http(&ev, WEFT_CE_MODE_BINARY, &m, &err), 0);
    CHECK_EQ_INT(m.nheaders, 7);
    bool subject = false, ctype = false, count = false;
    for (size_t i = 0; i < m.nheaders; i++) {
        const weft_ce_header_t *h = &m.headers[i];
        CHECK_EQ_INT(strlen(h->name), h->name_len); /* NUL-terminated (codec.h) */
        CHECK_EQ_INT(strlen(h->value), h->value_len);
        if (!strcmp(h->name, "ce-subject"))
            subject = !strcmp(h->value, "Euro%20%E2%82%AC");
        if (!strcmp(h->name, "content-type"))
            ctype = !strcmp(h->value, "text/plain; charset=utf-8");
        if (!strcmp(h->name, "ce-count"))
            count = !strcmp(h->value, "42");
        CHECK(strcmp(h->name, "ce-datacontenttype"));
    }
    CHECK(subject && ctype && count);
    CHECK(m.body == ev.data && m.body_len == 5); /* borrowed, not copied */

    /* Decoding it gives the event back (the integer extension comes back a string). */
    weft_ce_t back;
    CHECK_EQ_INT(decode1(m.headers, m.nheaders, "hello", 0, 0, &back, &err), 0);
    CHECK_EQ_STR(weft_ce_get(&back, "subject"), "Euro \xE2\x82\xAC");
    CHECK_EQ_STR(weft_ce_get(&back, "count"), "42");
    CHECK_EQ_INT(type_of(&back, "count"), WEFT_CE_STRING);
    weft_ce_clear(&back);
    weft_ce_http_msg_free(&m);

    /* A name that would break the message is refused. */
    weft_ce_set(&ev, "bad:name\r\nx", "1", WEFT_CE_STRING);
    refused(weft_ce_encode_http(&ev, WEFT_CE_MODE_BINARY, &m, &err), &err, WEFT_EINVAL,
            "attribute name 'bad:name\\x0D\\x0Ax' is not valid", "bad name");
    weft_ce_http_msg_free(&m);
    weft_ce_clear(&ev);
}

static void test_structured_mode_reads_the_json_format(void) {
    weft_ce_t ev;
    weft_error_t err;
    int rc = structured_with(",\"comexampleextension1\":\"value\",\"comexampleothervalue\":5,"
                             "\"flag\":true,\"unset\":null,\"subject\":null,"
                             "\"time\":\"2018-04-05T17:31:00Z\","
                             "\"data\":{\"appinfoA\" : \"abc\", \"x\": [1, 0.1, 1e400]}",
                             0, &ev, &err);
    /* 1e400 is not a number jansson reads: a clear error, not a crash. */
    refused(rc, &err, WEFT_EINVAL, "not valid JSON", "1e400");
    rc = structured_with(",\"comexampleextension1\":\"value\",\"comexampleothervalue\":5,"
                         "\"flag\":true,\"unset\":null,\"subject\":null,"
                         "\"time\":\"2018-04-05T17:31:00Z\","
                         "\"data\":{\"appinfoA\" : \"abc\", \"x\": [1, 0.1, 100.0, 2.5e-7]}",
                         0, &ev, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(weft_ce_get(&ev, "comexampleothervalue"), "5");
    CHECK_EQ_INT(type_of(&ev, "comexampleothervalue"), WEFT_CE_INTEGER);
    CHECK_EQ_STR(weft_ce_get(&ev, "flag"), "true");
    CHECK_EQ_INT(type_of(&ev, "flag"), WEFT_CE_BOOLEAN);
    CHECK(weft_ce_get(&ev, "unset") == NULL && weft_ce_get(&ev, "subject") == NULL);
    /* data as JSON: compact, the numbers as written; datacontenttype made explicit. */
    CHECK_EQ_STR((const char *)ev.data, "{\"appinfoA\":\"abc\",\"x\":[1,0.1,100.0,2.5e-7]}");
    CHECK_EQ_STR(weft_ce_get(&ev, "datacontenttype"), "application/json");
    weft_ce_clear(&ev);

    /* A JSON string as data with a JSON type stays JSON text (quotes and all). */
    CHECK_EQ_INT(structured_with(",\"data\":\"I'm just a string\"", 0, &ev, &err), 0);
    CHECK_EQ_STR((const char *)ev.data, "\"I'm just a string\"");
    weft_ce_clear(&ev);
    /* With a type that is not JSON, the string's bytes are the data. */
    CHECK_EQ_INT(structured_with(",\"datacontenttype\":\"application/xml\","
                                 "\"data\":\"<much wow=\\\"xml\\\"/>\"",
                                 0, &ev, &err),
                 0);
    CHECK_EQ_STR((const char *)ev.data, "<much wow=\"xml\"/>");
    weft_ce_clear(&ev);
    /* +json types are JSON. */
    CHECK_EQ_INT(structured_with(",\"datacontenttype\":\"application/cloudevents+json\","
                                 "\"data\":[true]",
                                 0, &ev, &err),
                 0);
    CHECK_EQ_STR((const char *)ev.data, "[true]");
    weft_ce_clear(&ev);
    /* An explicit null is data, distinct from none. */
    CHECK_EQ_INT(structured_with(",\"data\":null", 0, &ev, &err), 0);
    CHECK(ev.data && !strcmp((const char *)ev.data, "null"));
    weft_ce_clear(&ev);
    CHECK_EQ_INT(structured_with("", 0, &ev, &err), 0);
    CHECK(ev.data == NULL && weft_ce_get(&ev, "datacontenttype") == NULL);
    weft_ce_clear(&ev);

    /* data_base64: bytes, NUL included. */
    CHECK_EQ_INT(structured_with(",\"datacontenttype\":\"application/octet-stream\","
                                 "\"data_base64\":\"AAEC/w==\"",
                                 0, &ev, &err),
                 0);
    CHECK(ev.data_len == 4 && !memcmp(ev.data, "\x00\x01\x02\xff", 4));
    weft_ce_clear(&ev);

    refused(structured_with(",\"data\":1,\"data_base64\":\"AA==\"", 0, &ev, &err), &err,
            WEFT_EINVAL, "both data and data_base64 are present", "data and data_base64");
    refused(structured_with(",\"data_base64\":\"AA=\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "data_base64: 'AA=' is not base64", "bad base64");
    refused(structured_with(",\"data_base64\":5", 0, &ev, &err), &err, WEFT_EINVAL,
            "data_base64: must be a JSON string", "data_base64 number");
    refused(structured_with(",\"datacontenttype\":\"text/plain\",\"data\":{}", 0, &ev, &err), &err,
            WEFT_EINVAL, "data: datacontenttype 'text/plain' is not JSON", "text object");
    refused(structured_with(",\"id\":\"2\"", 0, &ev, &err), &err, WEFT_EINVAL, "duplicate",
            "two ids");
    refused(structured_with(",\"ext\":1.5", 0, &ev, &err), &err, WEFT_EINVAL,
            "ext: 1.5 is not an integer", "real extension");
    refused(structured_with(",\"ext\":{}", 0, &ev, &err), &err, WEFT_EINVAL,
            "ext: attribute values are strings, integers or booleans, not objects", "object");
    refused(structured_with(",\"subject\":5", 0, &ev, &err), &err, WEFT_EINVAL,
            "subject: must be a JSON string", "numeric subject");
    refused(structured_with(",\"subject\":\"a\\u0000b\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "subject: contains the control character U+0000", "NUL in subject");

    weft_ce_header_t h[] = {H("Content-Type", "application/cloudevents+json")};
    refused(decode1(h, 1, "[1]", 0, 0, &ev, &err), &err, WEFT_EINVAL, "is a JSON object",
            "array as structured");
    refused(decode1(h, 1, "{\"id\":", 0, 0, &ev, &err), &err, WEFT_EINVAL, "not valid JSON",
            "truncated JSON");
    refused(decode1(h, 1, "", 0, 0, &ev, &err), &err, WEFT_EINVAL, "the body is empty",
            "empty body");
}

static void test_structured_content_types(void) {
    const char *body = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/me\",\"type\":\"t\"}";
    weft_ce_t ev;
    weft_error_t err;
    weft_ce_header_t cs[] = {H("content-type", "Application/CloudEvents+JSON; charset=UTF-8"),
                             H("ce-specversion", "0.3")}; /* headers are ignored here */
    CHECK_EQ_INT(decode1(cs, 2, body, 0, 0, &ev, &err), 0);
    weft_ce_clear(&ev);
    weft_ce_header_t q[] = {H("content-type", "application/cloudevents+json;charset=\"utf-8\"")};
    CHECK_EQ_INT(decode1(q, 1, body, 0, 0, &ev, &err), 0);
    weft_ce_clear(&ev);
    weft_ce_header_t latin[] = {H("content-type", "application/cloudevents+json; charset=latin1")};
    refused(decode1(latin, 1, body, 0, 0, &ev, &err), &err, WEFT_EUNSUPPORTED,
            "charset latin1 is not supported", "latin1");
    weft_ce_header_t avro[] = {H("content-type", "application/cloudevents+avro")};
    refused(decode1(avro, 1, body, 0, 0, &ev, &err), &err, WEFT_EUNSUPPORTED,
            "application/cloudevents+avro: weft reads the JSON event format only", "avro");
    weft_ce_header_t two[] = {H("content-type", "application/cloudevents+json"),
                              H("Content-Type", "application/json")};
    refused(decode1(two, 2, body, 0, 0, &ev, &err), &err, WEFT_EINVAL,
            "Content-Type given more than once", "two content types");
}

static void test_batched_mode_is_all_or_nothing(void) {
    weft_ce_header_t h[] = {H("Content-Type", "application/cloudevents-batch+json")};
    weft_ce_t *evs;
    size_t n;
    weft_error_t err;
    const char *two = "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/a\",\"type\":\"t\","
                      "\"data_base64\":\"aGk=\"},"
                      "{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/b\",\"type\":\"t\","
                      "\"datacontenttype\":\"application/json\",\"data\":{\"a\":1}}]";
    CHECK_EQ_INT(weft_ce_decode_http(h, 1, (const uint8_t *)two, strlen(two), 0, 0, &evs, &n, &err),
                 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_STR(weft_ce_get(&evs[1], "source"), "/b");
        CHECK(evs[0].data_len == 2 && !memcmp(evs[0].data, "hi", 2));
        CHECK_EQ_STR((const char *)evs[1].data, "{\"a\":1}");
    }
    weft_ce_free_array(evs, n);

    /* An empty batch is valid: no events. */
    CHECK_EQ_INT(weft_ce_decode_http(h, 1, (const uint8_t *)" [ ] ", 5, 0, 0, &evs, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
    weft_ce_free_array(evs, n);

    const char *bad = "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/a\",\"type\":\"t\"},"
                      "{\"specversion\":\"1.0\",\"id\":\"2\",\"type\":\"t\"}]";
    int rc = weft_ce_decode_http(h, 1, (const uint8_t *)bad, strlen(bad), 0, 0, &evs, &n, &err);
    refused(rc, &err, WEFT_EINVAL, "event [1]: missing required attribute 'source'",
            "batch with a bad second event");
    CHECK(evs == NULL && n == 0);
    rc = weft_ce_decode_http(h, 1, (const uint8_t *)"{}", 2, 0, 0, &evs, &n, &err);
    refused(rc, &err, WEFT_EINVAL, "a batch is a JSON array", "object as batch");
    rc = weft_ce_decode_http(h, 1, (const uint8_t *)"[1]", 3, 0, 0, &evs, &n, &err);
    refused(rc, &err, WEFT_EINVAL, "event [0]: an event in the JSON format is an object",
            "number in batch");
}

static void test_every_attribute_type_valid_and_invalid(void) {
    /* Timestamps (RFC 3339). */
    attr_valid("time", "2018-04-05T17:31:00Z", 0, true, NULL);
    attr_valid("time", "2018-04-05T17:31:00.123456+02:00", 0, true, NULL);
    attr_valid("time", "2018-04-05t17:31:00z", 0, true, NULL);
    attr_valid("time", "2024-02-29T00:00:00-05:30", 0, true, NULL);
    attr_valid("time", "2016-12-31T23:59:60Z", 0, true, NULL); /* a leap second */
    attr_valid("time", "2026-13-01", 0, false, "time: '2026-13-01' is not an RFC 3339 timestamp");
    attr_valid("time", "2026-13-01T00:00:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2026-00-01T00:00:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2023-02-29T00:00:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-31T00:00:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05 17:31:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05T24:00:00Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05T17:31:00", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05T17:31:00.Z", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05T17:31:00+0200", 0, false, "is not an RFC 3339 timestamp");
    attr_valid("time", "2018-04-05T17:30:60Z", 0, false, "is not an RFC 3339 timestamp");

    /* source: URI-reference; dataschema: absolute URI. */
    static const char *const refs[] = {
        "https://github.com/cloudevents",
        "mailto:cncf-wg-serverless@lists.cncf.io",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "/cloudevents/spec/pull/123",
        "1-555-123-4567",
        "me",
        "http://user:pw@[::1]:8080/a%20b?q=1&r#frag",
        "//host/path",
        "../up",
    };
    for (size_t i = 0; i < NH(refs); i++)
        attr_valid("source", refs[i], 0, true, NULL);
    attr_valid("source", "a b", 0, false, "source: 'a b' is not a URI-reference (RFC 3986)");
    attr_valid("source", "http://exa mple/", 0, false, "is not a URI-reference");
    attr_valid("source", "/%zz", 0, false, "is not a URI-reference");
    attr_valid("source", "1-555:x", 0, false, "is not a URI-reference"); /* ':' in 1st segment */
    attr_valid("source", "http://[::g]/", 0, false, "is not a URI-reference");
    attr_valid("source", "/d\xC3\xA9j\xC3\xA0", 0, false, "is not a URI-reference");
    attr_valid("source", "", 0, false, "source: must not be empty");
    attr_valid("dataschema", "https://example.com/schema.json#/defs/a", 0, true, NULL);
    attr_valid("dataschema", "/schema.json", 0, false,
               "dataschema: '/schema.json' is not an absolute URI (RFC 3986)");

    /* datacontenttype: RFC 2046. */
    attr_valid("datacontenttype", "application/json", 0, true, NULL);
    attr_valid("datacontenttype", "text/plain; charset=\"utf-8\"", 0, true, NULL);
    attr_valid("datacontenttype", "application/vnd.apache.thrift.binary", 0, true, NULL);
    attr_valid("datacontenttype", "json", 0, false, "datacontenttype: 'json' is not a media type");
    attr_valid("datacontenttype", "application/", 0, false, "is not a media type");
    attr_valid("datacontenttype", "text/plain; charset", 0, false, "is not a media type");
    attr_valid("datacontenttype", "text /plain", 0, false, "is not a media type");

    /* Integers: 32-bit, canonical. */
    attr_valid("count", "2147483647", WEFT_CE_INTEGER, true, NULL);
    attr_valid("count", "-2147483648", WEFT_CE_INTEGER, true, NULL);
    attr_valid("count", "0", WEFT_CE_INTEGER, true, NULL);
    attr_valid("count", "2147483648", WEFT_CE_INTEGER, false,
               "count: '2147483648' is out of the integer range -2147483648..2147483647");
    attr_valid("count", "-2147483649", WEFT_CE_INTEGER, false, "is out of the integer range");
    attr_valid("count", "007", WEFT_CE_INTEGER, false, "count: '007' is not an integer");
    attr_valid("count", "+1", WEFT_CE_INTEGER, false, "is not an integer");
    attr_valid("count", "1.0", WEFT_CE_INTEGER, false, "is not an integer");
    attr_valid("count", "", WEFT_CE_INTEGER, false, "is not an integer");

    attr_valid("flag", "true", WEFT_CE_BOOLEAN, true, NULL);
    attr_valid("flag", "false", WEFT_CE_BOOLEAN, true, NULL);
    attr_valid("flag", "True", WEFT_CE_BOOLEAN, false,
               "flag: 'True' is not a boolean (true or false)");

    attr_valid("blob", "aGVsbG8=", WEFT_CE_BINARY, true, NULL);
    attr_valid("blob", "", WEFT_CE_BINARY, true, NULL);
    attr_valid("blob", "aGVsbG8", WEFT_CE_BINARY, false, "blob: 'aGVsbG8' is not base64");
    attr_valid("blob", "a=bc", WEFT_CE_BINARY, false, "is not base64");
    attr_valid("blob", "aGV sbG8=", WEFT_CE_BINARY, false, "is not base64");

    attr_valid("link", "https://example.com/x", WEFT_CE_URI, true, NULL);
    attr_valid("link", "x", WEFT_CE_URI, false, "link: 'x' is not an absolute URI");
    attr_valid("at", "2018-04-05T17:31:00Z", WEFT_CE_TIMESTAMP, true, NULL);
    attr_valid("at", "yesterday", WEFT_CE_TIMESTAMP, false, "is not an RFC 3339 timestamp");

    /* Strings: no control characters, no noncharacters. */
    attr_valid("subject", "caf\xC3\xA9", 0, true, NULL);
    attr_valid("subject", "a\nb", 0, false,
               "subject: 'a\\x0Ab' contains the control character U+000A");
    attr_valid("subject", "a\xC2\x85", 0, false, "contains the control character U+0085");
    attr_valid("subject", "\xEF\xBF\xBE", 0, false, "contains the noncharacter U+FFFE");
    attr_valid("subject", "\xFF", 0, false, "is not valid UTF-8");
    attr_valid("subject", "", 0, false, "subject: must not be empty");
}

static void test_missing_required_attributes_are_named(void) {
    static const char *const required[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < NH(required); i++) {
        weft_ce_header_t h[NH(BASE)];
        size_t n = 0;
        for (size_t k = 0; k < NH(BASE); k++)
            if (k != i)
                h[n++] = BASE[k];
        if (i == 0) /* without ce-specversion it is no CloudEvent: use JSON */
            continue;
        weft_ce_t ev;
        weft_error_t err;
        char want[64];
        snprintf(want, sizeof want, "missing required attribute '%s'", required[i]);
        refused(decode1(h, n, NULL, 0, 0, &ev, &err), &err, WEFT_EINVAL, want, required[i]);
    }
    weft_ce_t ev;
    weft_error_t err;
    weft_ce_header_t h[] = {H("content-type", "application/cloudevents+json")};
    refused(decode1(h, 1, "{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}", 0, 0, &ev, &err), &err,
            WEFT_EINVAL, "missing required attribute 'specversion'", "no specversion");
    refused(binary_with("ce-id", "", &ev, &err), &err, WEFT_EINVAL, "given more than once",
            "empty id twice");
    weft_ce_header_t empty[] = {H("ce-specversion", "1.0"), H("ce-id", ""), H("ce-source", "s"),
                                H("ce-type", "t")};
    refused(decode1(empty, 4, NULL, 0, 0, &ev, &err), &err, WEFT_EINVAL, "id: must not be empty",
            "empty id");
}

static void test_extension_names(void) {
    weft_ce_t ev;
    weft_error_t err;
    refused(structured_with(",\"MyExt\":\"x\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "attribute name 'MyExt' is not valid: names are 1 to 20 characters from a-z and 0-9",
            "upper case");
    refused(structured_with(",\"abcdefghijklmnopqrstu\":\"x\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "attribute name 'abcdefghijklmnopqrstu' is not valid", "21 characters");
    refused(structured_with(",\"my_ext\":\"x\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "attribute name 'my_ext' is not valid", "underscore");
    refused(structured_with(",\"\":\"x\"", 0, &ev, &err), &err, WEFT_EINVAL,
            "attribute name '' is not valid", "empty name");
    /* A name that is not valid is quoted, whatever its value (it goes into a 400's body). */
    refused(structured_with(",\"a\x7f\\u0001\":{}", 0, &ev, &err), &err, WEFT_EINVAL,
            "attribute name 'a\\x7F\\x01' is not valid", "control characters in a name");
    CHECK_EQ_INT(structured_with(",\"abcdefghijklmnopqrst\":\"x\",\"0a9\":\"y\"", 0, &ev, &err), 0);
    weft_ce_clear(&ev);
}

static void test_size_limit(void) {
    weft_ce_t ev;
    weft_error_t err;
    /* Binary: ce-* header names and values plus body. */
    size_t headers = 0;
    for (size_t i = 0; i < NH(BASE); i++)
        headers += BASE[i].name_len + BASE[i].value_len;
    char body[101];
    memset(body, 'x', 100);
    body[100] = 0;
    CHECK_EQ_INT(decode1(BASE, NH(BASE), body, headers + 100, 0, &ev, &err), 0);
    weft_ce_clear(&ev);
    refused(decode1(BASE, NH(BASE), body, headers + 99, 0, &ev, &err), &err, WEFT_ELIMIT,
            "the limit is", "binary over the limit");
    /* Structured: the body. */
    refused(
        structured_with(",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", 100, &ev, &err),
        &err, WEFT_ELIMIT, "the limit is 100", "structured over the limit");
    CHECK_EQ_INT(structured_with("", 100, &ev, &err), 0);
    weft_ce_clear(&ev);
    /* Batch: each event. */
    weft_ce_header_t h[] = {H("Content-Type", "application/cloudevents-batch+json")};
    const char *b = "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/a\",\"type\":\"t\"},"
                    "{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/a\",\"type\":\"t\","
                    "\"data\":\"a long enough string to pass the limit\"}]";
    weft_ce_t *evs;
    size_t n;
    int rc = weft_ce_decode_http(h, 1, (const uint8_t *)b, strlen(b), 80, 0, &evs, &n, &err);
    refused(rc, &err, WEFT_ELIMIT, "event [1]: the event is", "batch over the limit");
}

static void test_replies_may_lack_an_id(void) {
    weft_ce_header_t reply[] = {H("ce-specversion", "1.0"), H("ce-source", "/fn"),
                                H("ce-type", "io.wasm.event.transformed"),
                                H("content-type", "application/json")};
    weft_ce_t ev;
    weft_error_t err;
    refused(decode1(reply, NH(reply), "{}", 0, 0, &ev, &err), &err, WEFT_EINVAL,
            "missing required attribute 'id'", "reply without the flag");
    CHECK_EQ_INT(decode1(reply, NH(reply), "{}", 0, WEFT_CE_ALLOW_NO_ID, &ev, &err), 0);
    CHECK(weft_ce_get(&ev, "id") == NULL);
    weft_ce_clear(&ev);

    CHECK(weft_ce_http_has_event(reply, NH(reply)));
    weft_ce_header_t only_type[] = {H("Ce-Type", "t")};
    CHECK(weft_ce_http_has_event(only_type, 1));
    weft_ce_header_t structured[] = {H("Content-Type", "application/cloudevents+json")};
    CHECK(weft_ce_http_has_event(structured, 1));
    weft_ce_header_t batch[] = {H("content-type", "application/cloudevents-batch+json")};
    CHECK(weft_ce_http_has_event(batch, 1));
    weft_ce_header_t plain[] = {H("Content-Type", "application/json"), H("Cent-x", "1"),
                                H("ce", "x")};
    CHECK(!weft_ce_http_has_event(plain, NH(plain)));
    CHECK(!weft_ce_http_has_event(NULL, 0));
}

/* An event with one of each thing the record must keep. */
static void full_event(weft_ce_t *ev) {
    *ev = (weft_ce_t){0};
    weft_ce_set(ev, "specversion", "1.0", WEFT_CE_STRING);
    weft_ce_set(ev, "id", "abc", WEFT_CE_STRING);
    weft_ce_set(ev, "source", "/me", WEFT_CE_URI_REF);
    weft_ce_set(ev, "type", "t", WEFT_CE_STRING);
    weft_ce_set(ev, "time", "2018-04-05T17:31:00Z", WEFT_CE_TIMESTAMP);
    weft_ce_set(ev, "dataschema", "https://x/y", WEFT_CE_URI);
    weft_ce_set(ev, "count", "-7", WEFT_CE_INTEGER);
    weft_ce_set(ev, "flag", "false", WEFT_CE_BOOLEAN);
    weft_ce_set(ev, "blob", "AAE=", WEFT_CE_BINARY);
    weft_ce_set(ev, "empty", "", WEFT_CE_STRING);
    weft_ce_set(ev, "datacontenttype", "application/octet-stream", WEFT_CE_STRING);
    static const uint8_t bytes[] = {0, 1, 0xff, 0, 'x', 0x80};
    weft_ce_set_data(ev, bytes, sizeof bytes);
}

static bool same_event(const weft_ce_t *a, const weft_ce_t *b) {
    if (a->nattrs != b->nattrs || !a->data != !b->data || a->data_len != b->data_len)
        return false;
    for (size_t i = 0; i < a->nattrs; i++)
        if (strcmp(a->attrs[i].name, b->attrs[i].name) ||
            strcmp(a->attrs[i].value, b->attrs[i].value) || a->attrs[i].type != b->attrs[i].type)
            return false;
    return !a->data_len || !memcmp(a->data, b->data, a->data_len);
}

static void test_the_record_round_trips_every_event_exactly(void) {
    weft_ce_t ev, back;
    weft_error_t err;
    full_event(&ev);
    weft_buf_t rec = {0};
    CHECK_EQ_INT(weft_ce_serialize(&ev, &rec), 0);
    CHECK_EQ_INT(weft_ce_deserialize(rec.data, rec.len, &back, &err), 0);
    CHECK(same_event(&ev, &back));
    weft_ce_clear(&back);

    /* Empty data and no data are two events. */
    weft_buf_t rec2 = {0};
    weft_ce_set_data(&ev, "", 0);
    CHECK_EQ_INT(weft_ce_serialize(&ev, &rec2), 0);
    CHECK_EQ_INT(weft_ce_deserialize(rec2.data, rec2.len, &back, &err), 0);
    CHECK(back.data != NULL && back.data_len == 0);
    weft_ce_clear(&back);
    rec2.len = 0;
    weft_ce_set_data(&ev, NULL, 0);
    CHECK_EQ_INT(weft_ce_serialize(&ev, &rec2), 0);
    CHECK_EQ_INT(weft_ce_deserialize(rec2.data, rec2.len, &back, &err), 0);
    CHECK(back.data == NULL);
    CHECK(same_event(&ev, &back));
    weft_ce_clear(&back);
    weft_buf_free(&rec2);

    /* Every cut of the record is refused, and so is a byte more. */
    for (size_t len = 0; len < rec.len; len++) {
        int rc = weft_ce_deserialize(rec.data, len, &back, &err);
        if (rc != WEFT_EINVAL)
            fprintf(stderr, "record cut at %zu of %zu: status %d\n", len, rec.len, rc);
        CHECK_EQ_INT(rc, WEFT_EINVAL);
        CHECK(back.nattrs == 0 && back.data == NULL);
    }
    weft_buf_append(&rec, "", 1);
    refused(weft_ce_deserialize(rec.data, rec.len, &back, &err), &err, WEFT_EINVAL,
            "event record: corrupt bytes past the end", "a byte more");
    rec.len--;
    rec.data[0] = 2;
    refused(weft_ce_deserialize(rec.data, rec.len, &back, &err), &err, WEFT_EINVAL,
            "event record: version 2, not 1", "version 2");
    rec.data[0] = 1;
    rec.data[2] = 99; /* the first attribute's type */
    refused(weft_ce_deserialize(rec.data, rec.len, &back, &err), &err, WEFT_EINVAL,
            "corrupt attribute type", "type 99");
    /* A length not in its shortest form (0x81 0x00 for 1). */
    static const uint8_t overlong[] = {1, 0x80, 0x00, 0};
    refused(weft_ce_deserialize(overlong, sizeof overlong, &back, &err), &err, WEFT_EINVAL,
            "corrupt attribute count", "overlong count");
    static const uint8_t dup[] = {1, 2, 0, 1, 'a', 1, 'x', 0, 1, 'a', 1, 'y', 0};
    refused(weft_ce_deserialize(dup, sizeof dup, &back, &err), &err, WEFT_EINVAL,
            "corrupt attribute given twice", "two attributes named a");
    static const uint8_t upper[] = {1, 1, 0, 1, 'A', 1, 'x', 0};
    refused(weft_ce_deserialize(upper, sizeof upper, &back, &err), &err, WEFT_EINVAL,
            "corrupt attribute name", "upper-case name");
    static const uint8_t nul[] = {1, 1, 0, 1, 'a', 1, 0, 0};
    refused(weft_ce_deserialize(nul, sizeof nul, &back, &err), &err, WEFT_EINVAL,
            "corrupt attribute value", "NUL in a value");
    static const uint8_t minimal[] = {1, 0, 0};
    CHECK_EQ_INT(weft_ce_deserialize(minimal, sizeof minimal, &back, &err), 0);
    weft_ce_clear(&back);
    weft_buf_free(&rec);

    /* What it would refuse, serialize refuses. */
    weft_ce_set(&ev, "Bad", "x", WEFT_CE_STRING);
    weft_buf_t r3 = {0};
    CHECK_EQ_INT(weft_ce_serialize(&ev, &r3), WEFT_EINVAL);
    weft_buf_free(&r3);
    weft_ce_clear(&ev);
}

static void test_structured_encoding_chooses_data_data_base64_or_a_string(void) {
    static const struct {
        const char *ctype; /* NULL: none */
        const char *data;
        size_t len;
        const char *want; /* in the JSON */
    } cases[] = {
        {"application/json", "{ \"a\" : [1, 0.1] }", 18, "\"data\":{\"a\":[1,0.1]}"},
        {"application/vnd.x+json", "\"s\"", 3, "\"data\":\"s\""},
        {NULL, "[true]", 6, "\"data\":[true]"},
        {"application/json", "{\"a\":1,\"a\":2}", 13, "\"data_base64\":"},
        {"application/json", "not json", 8, "\"data_base64\":\"bm90IGpzb24=\""},
        {NULL, "hello", 5, "\"data_base64\":\"aGVsbG8=\""},
        {"text/plain", "caf\xC3\xA9 \"q\"", 9, "\"data\":\"caf\xC3\xA9 \\\"q\\\"\""},
        {"application/octet-stream", "\x00\xff", 2, "\"data_base64\":\"AP8=\""},
        {"text/plain", "", 0, "\"data\":\"\""},
    };
    for (size_t i = 0; i < NH(cases); i++) {
        weft_ce_t ev = {0}, back;
        weft_ce_set(&ev, "specversion", "1.0", WEFT_CE_STRING);
        weft_ce_set(&ev, "id", "1", WEFT_CE_STRING);
        weft_ce_set(&ev, "source", "/me", WEFT_CE_URI_REF);
        weft_ce_set(&ev, "type", "t", WEFT_CE_STRING);
        weft_ce_set(&ev, "n", "12", WEFT_CE_INTEGER);
        weft_ce_set(&ev, "b", "true", WEFT_CE_BOOLEAN);
        if (cases[i].ctype)
            weft_ce_set(&ev, "datacontenttype", cases[i].ctype, WEFT_CE_STRING);
        weft_ce_set_data(&ev, cases[i].data, cases[i].len);
        weft_ce_http_msg_t m;
        weft_error_t err;
        CHECK_EQ_INT(weft_ce_encode_http(&ev, WEFT_CE_MODE_STRUCTURED, &m, &err), 0);
        const char *json = (const char *)m.body;
        if (!strstr(json, cases[i].want))
            fprintf(stderr, "case %zu: %s lacks %s\n", i, json, cases[i].want);
        CHECK(strstr(json, cases[i].want) != NULL);
        CHECK(strstr(json, "\"n\":12") && strstr(json, "\"b\":true"));
        CHECK_EQ_INT(m.nheaders, 1);
        CHECK_EQ_STR(m.headers[0].value, "application/cloudevents+json; charset=utf-8");
        /* It decodes to the same data (as JSON text when it was JSON). */
        weft_ce_t *evs;
        size_t n;
        CHECK_EQ_INT(
            weft_ce_decode_http(m.headers, m.nheaders, m.body, m.body_len, 0, 0, &evs, &n, &err),
            0);
        back = evs[0];
        CHECK_EQ_INT(type_of(&back, "n"), WEFT_CE_INTEGER);
        if (!strstr(cases[i].want, "\"data\":{"))
            CHECK(back.data_len == cases[i].len && !memcmp(back.data, cases[i].data, cases[i].len));
        weft_ce_free_array(evs, n);
        weft_ce_http_msg_free(&m);
        weft_ce_clear(&ev);
    }
    /* A batch of none. */
    weft_ce_http_msg_t m;
    CHECK_EQ_INT(weft_ce_encode_http_batch(NULL, 0, &m, NULL), 0);
    CHECK(m.body_len == 2 && !memcmp(m.body, "[]", 2));
    CHECK_EQ_STR(m.headers[0].value, "application/cloudevents-batch+json; charset=utf-8");
    weft_ce_http_msg_free(&m);
}

int main(void) {
    test_binary_mode_reads_headers_content_type_and_body();
    test_binary_mode_refuses_what_the_binding_forbids();
    test_a_message_without_an_event_is_not_a_cloudevent();
    test_percent_decoding_follows_the_binding();
    test_percent_encoding_follows_the_binding();
    test_binary_encoding_writes_headers_and_body();
    test_structured_mode_reads_the_json_format();
    test_structured_content_types();
    test_batched_mode_is_all_or_nothing();
    test_every_attribute_type_valid_and_invalid();
    test_missing_required_attributes_are_named();
    test_extension_names();
    test_size_limit();
    test_replies_may_lack_an_id();
    test_the_record_round_trips_every_event_exactly();
    test_structured_encoding_chooses_data_data_base64_or_a_string();
    return TEST_DONE();
}
