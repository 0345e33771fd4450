/* libFuzzer target for the CESQL parser and evaluator (src/events/cesql_*.c).
 *
 * The input is an expression. It must either be refused with "column N: ..." (N within
 * the text) or "the expression is longer than ...", or parse; an expression that parses
 * is evaluated against a fixed event and must keep the contract of cesql.h: a value of
 * one of the three types (a String NUL-terminated at its length, valid UTF-8), an error
 * kind the specification names with a one-line message, the return code that goes with
 * them, the same value every time, and weft_cesql_match true exactly when evaluation
 * gives the Boolean true without an error. Anything else (a crash, a sanitizer report,
 * a leak, a broken invariant) is a finding. How to run: fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/cesql.h"

static weft_ce_t event;

static void make_event(void) {
    weft_ce_set(&event, "specversion", "1.0", WEFT_CE_STRING);
    weft_ce_set(&event, "id", "a1", WEFT_CE_STRING);
    weft_ce_set(&event, "source", "https://example.com/src", WEFT_CE_URI_REF);
    weft_ce_set(&event, "type", "io.wasm.event", WEFT_CE_STRING);
    weft_ce_set(&event, "subject", "Héllo wörld 😀", WEFT_CE_STRING);
    weft_ce_set(&event, "time", "2026-11-30T05:00:00Z", WEFT_CE_TIMESTAMP);
    weft_ce_set(&event, "n", "42", WEFT_CE_INTEGER);
    weft_ce_set(&event, "min", "-2147483648", WEFT_CE_INTEGER);
    weft_ce_set(&event, "flag", "true", WEFT_CE_BOOLEAN);
    weft_ce_set(&event, "num", "17", WEFT_CE_STRING);
    weft_ce_set(&event, "sp", " \t a \u3000", WEFT_CE_STRING);
}

static size_t utf8_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static void check_value(const weft_cesql_value_t *v) {
    switch (v->type) {
    case WEFT_CESQL_BOOLEAN:
    case WEFT_CESQL_INTEGER:
        if (v->string)
            abort();
        break;
    case WEFT_CESQL_STRING:
        if (!v->string || v->string[v->len] || strlen(v->string) != v->len ||
            !weft_utf8_valid((const uint8_t *)v->string, v->len))
            abort();
        break;
    default:
        abort();
    }
}

static void check_error(const weft_cesql_error_t *e, int rc) {
    if ((rc == 0) != (e->kind == WEFT_CESQL_OK) || (e->kind == WEFT_CESQL_OK) != (e->count == 0))
        abort();
    if (e->kind == WEFT_CESQL_OK)
        return;
    if (e->kind < WEFT_CESQL_EPARSE || e->kind > WEFT_CESQL_EGENERIC || e->column < 1 ||
        !e->message[0] || strchr(e->message, '\n') ||
        !strcmp(weft_cesql_error_kind_name(e->kind), "none"))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!event.nattrs)
        make_event();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t len = strlen(text);

    weft_cesql_t *expr = NULL;
    weft_error_t err = {0};
    int rc = weft_cesql_parse(text, &expr, &err);
    if (rc) {
        unsigned column;
        if (expr || rc != WEFT_EINVAL)
            abort();
        if (len > WEFT_CESQL_MAX_LENGTH) {
            if (strncmp(err.msg, "the expression is longer than", 29))
                abort();
        } else if (sscanf(err.msg, "column %u: ", &column) != 1 || column < 1 ||
                   column > utf8_chars(text, len) + 1 || strchr(err.msg, '\n')) {
            abort();
        }
        free(text);
        return 0;
    }
    if (strcmp(weft_cesql_text(expr), text))
        abort();
    weft_cesql_check(expr, &err);

    weft_cesql_value_t v1, v2;
    weft_cesql_error_t e1, e2;
    int rc1 = weft_cesql_eval(expr, &event, &v1, &e1);
    int rc2 = weft_cesql_eval(expr, &event, &v2, &e2);
    if (rc1 == WEFT_ENOMEM || rc2 == WEFT_ENOMEM)
        abort();
    check_value(&v1);
    check_error(&e1, rc1);
    weft_buf_t j1 = {0}, j2 = {0};
    if (weft_cesql_value_json(&v1, &j1) || weft_cesql_value_json(&v2, &j2))
        abort();
    /* Evaluation is deterministic. */
    if (rc1 != rc2 || e1.kind != e2.kind || e1.count != e2.count ||
        strcmp(e1.message, e2.message) || strcmp((char *)j1.data, (char *)j2.data))
        abort();
    /* A filter passes exactly the Boolean true without an error, and in fail-fast mode
     * reports the same first error. */
    weft_cesql_error_t f;
    bool match = weft_cesql_match(expr, &event, &f);
    if (match != (rc1 == 0 && v1.type == WEFT_CESQL_BOOLEAN && v1.boolean))
        abort();
    if (f.kind != e1.kind || strcmp(f.message, e1.message))
        abort();

    weft_buf_free(&j1);
    weft_buf_free(&j2);
    weft_cesql_value_clear(&v1);
    weft_cesql_value_clear(&v2);
    weft_cesql_free(expr);
    free(text);
    return 0;
}
