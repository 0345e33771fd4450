/* The CGI response parser (invoke/cgi_response.c), case by case: what a guest may print and
 * what the client gets. */
#include <stdlib.h>
#include <string.h>

#include "invoke/invoke.h"
#include "test.h"

static char dropped[4096];
static int ndropped;

static void on_drop(void *arg, const char *why, const char *line, size_t len) {
    ndropped++;
    size_t n = strlen(dropped);
    snprintf(dropped + n, sizeof dropped - n, "[%s: %.*s]", why, (int)len, line);
}

/* Parses a copy of text (with the writable byte past the end the parser needs). */
static int parse(const char *text, size_t len, weft_cgi_response_t *r, char **keep) {
    dropped[0] = 0;
    ndropped = 0;
    char *copy = malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = 'Z'; /* not a NUL: the parser must not rely on one */
    *keep = copy;
    return weft_cgi_parse((uint8_t *)copy, len, r, on_drop, NULL);
}
#define PARSE(lit, r, keep) parse(lit, sizeof(lit) - 1, r, keep)

static const char *header(const weft_cgi_response_t *r, const char *name, int nth) {
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name) && nth-- == 0)
            return r->headers[i].value;
    return NULL;
}

static void body_is(const weft_cgi_response_t *r, const char *want) {
    CHECK_EQ_INT(r->body_len, strlen(want));
    CHECK(r->body_len == strlen(want) && !memcmp(r->body, want, r->body_len));
}

int main(void) {
    weft_cgi_response_t *r = malloc(sizeof *r);
    char *k;

    /* a plain response: LF and CRLF spellings */
    CHECK_EQ_INT(PARSE("Content-Type: text/plain\n\nhello\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK_EQ_STR(header(r, "Content-Type", 0), "text/plain");
    body_is(r, "hello\n");
    free(k);
    CHECK_EQ_INT(PARSE("Content-Type: text/html\r\nX-A: 1\r\n\r\n<p>\r\n", r, &k), 0);
    CHECK_EQ_STR(header(r, "X-A", 0), "1");
    body_is(r, "<p>\r\n");
    free(k);

    /* the body may contain blank lines and anything else; only the first ends headers */
    CHECK_EQ_INT(PARSE("Content-Type: a/b\n\nline\n\nStatus: 500\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 200);
    body_is(r, "line\n\nStatus: 500\n");
    free(k);

    /* output ending inside the header block: all headers, empty body */
    CHECK_EQ_INT(PARSE("Content-Type: text/plain", r, &k), 0);
    CHECK_EQ_STR(header(r, "content-type", 0), "text/plain");
    CHECK_EQ_INT(r->body_len, 0);
    free(k);

    /* Status */
    CHECK_EQ_INT(PARSE("Status: 404 Not Found\nContent-Type: text/plain\n\nno\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 404);
    CHECK(header(r, "Status", 0) == NULL); /* not passed on as a header */
    free(k);
    CHECK_EQ_INT(PARSE("status: 503\n\n", r, &k), 0); /* alone and bare is sufficient */
    CHECK_EQ_INT(r->status, 503);
    free(k);
    CHECK_EQ_INT(PARSE("Status: 99\nContent-Type: a/b\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK_EQ_INT(ndropped, 1);
    free(k);
    CHECK_EQ_INT(PARSE("Status: 600 Nope\nContent-Type: a/b\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 200);
    free(k);
    CHECK_EQ_INT(PARSE("Status: 2000\nContent-Type: a/b\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 200);
    free(k);
    CHECK_EQ_INT(PARSE("Status: 201\nStatus: 202\nContent-Type: a/b\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 201);
    CHECK(strstr(dropped, "Status given twice") != NULL);
    free(k);

    /* Location: 302 unless a Status says otherwise */
    CHECK_EQ_INT(PARSE("Location: /there\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 302);
    CHECK_EQ_STR(header(r, "Location", 0), "/there");
    free(k);
    CHECK_EQ_INT(PARSE("Location: /there\nStatus: 301\n\n", r, &k), 0);
    CHECK_EQ_INT(r->status, 301);
    free(k);

    /* no Content-Type, Location or Status: not a CGI response */
    CHECK_EQ_INT(PARSE("hello world\n", r, &k), WEFT_EINVAL);
    CHECK(r->error && strstr(r->error, "no Content-Type, Location or Status"));
    free(k);
    CHECK_EQ_INT(PARSE("", r, &k), WEFT_EINVAL);
    free(k);
    CHECK_EQ_INT(PARSE("\n\nbody only\n", r, &k), WEFT_EINVAL);
    free(k);
    CHECK_EQ_INT(PARSE("X-Only: custom\n\n", r, &k), WEFT_EINVAL);
    free(k);
    CHECK_EQ_INT(PARSE("Content-Type:\n\n", r, &k), WEFT_EINVAL); /* empty is not one */
    free(k);

    /* repeated headers are kept in order */
    CHECK_EQ_INT(
        PARSE("Content-Type: a/b\nSet-Cookie: a=1\nSet-Cookie: b=2\nSet-Cookie: c=3\n\n", r, &k),
        0);
    CHECK_EQ_STR(header(r, "Set-Cookie", 0), "a=1");
    CHECK_EQ_STR(header(r, "Set-Cookie", 1), "b=2");
    CHECK_EQ_STR(header(r, "Set-Cookie", 2), "c=3");
    CHECK_EQ_INT(r->nheaders, 4);
    free(k);

    /* values are trimmed; names are kept as written */
    CHECK_EQ_INT(PARSE("Content-Type:a/b\nX-Sp: \t padded \t \n\n", r, &k), 0);
    CHECK_EQ_STR(header(r, "X-Sp", 0), "padded");
    CHECK_EQ_STR(r->headers[0].name, "Content-Type");
    CHECK_EQ_STR(r->headers[0].value, "a/b");
    free(k);

    /* invalid lines are dropped and reported, never passed on */
    CHECK_EQ_INT(PARSE("Content-Type: a/b\n"
                       "Bad Name: x\n"
                       "no colon\n"
                       ": empty name\n"
                       " folded: continuation\n"
                       "X-Ctl: a\x01b\n"
                       "X-Del: a\x7f\n"
                       "X-Nul: a\0b\n"
                       "N\xc3\xa9: utf8 name\n"
                       "X-Ok: caf\xc3\xa9\n"
                       "\n",
                       r, &k),
                 0);
    CHECK_EQ_INT(ndropped, 8);
    CHECK_EQ_INT(r->nheaders, 2);
    CHECK_EQ_STR(header(r, "X-Ok", 0), "caf\xc3\xa9"); /* obs-text is a valid value */
    CHECK(strstr(dropped, "[invalid character in header name: Bad Name: x]") != NULL);
    CHECK(strstr(dropped, "[not a header (no ':'): no colon]") != NULL);
    CHECK(strstr(dropped, "continuation lines are not valid HTTP") != NULL);
    free(k);

    /* headers the server owns */
    CHECK_EQ_INT(PARSE("Content-Type: a/b\nContent-Length: 5\nTransfer-Encoding: chunked\n"
                       "Connection: keep-alive\nKeep-Alive: 5\nUpgrade: h2c\n\nbody\n",
                       r, &k),
                 0);
    CHECK_EQ_INT(r->nheaders, 1);
    CHECK_EQ_INT(ndropped, 5);
    CHECK(strstr(dropped, "[set by the server, not the guest: Content-Length: 5]") != NULL);
    free(k);

    /* a second Content-Type is dropped */
    CHECK_EQ_INT(PARSE("Content-Type: a/b\nContent-Type: c/d\n\n", r, &k), 0);
    CHECK_EQ_INT(r->nheaders, 1);
    CHECK_EQ_STR(header(r, "Content-Type", 0), "a/b");
    free(k);

    /* bounds: WEFT_CGI_MAX_HEADERS, WEFT_CGI_MAX_HEADER_BLOCK */
    {
        weft_buf_t b = {0};
        weft_buf_puts(&b, "Content-Type: a/b\n");
        for (int i = 0; i < WEFT_CGI_MAX_HEADERS + 10; i++)
            weft_buf_printf(&b, "X-H%d: %d\n", i, i);
        weft_buf_puts(&b, "\nbody");
        CHECK_EQ_INT(parse((const char *)b.data, b.len, r, &k), 0);
        CHECK_EQ_INT(r->nheaders, WEFT_CGI_MAX_HEADERS);
        CHECK_EQ_INT(ndropped, 11);
        body_is(r, "body");
        free(k);
        weft_buf_free(&b);

        size_t n = WEFT_CGI_MAX_HEADER_BLOCK + 100;
        char *huge = malloc(n);
        memcpy(huge, "Content-Type: a/b\nX-Long: ", 26);
        memset(huge + 26, 'v', n - 26);
        CHECK_EQ_INT(parse(huge, n, r, &k), WEFT_EINVAL);
        CHECK(r->error && strstr(r->error, "larger than 64 KiB"));
        free(k);
        /* the same bytes as a body are fine */
        memcpy(huge, "Content-Type: a/b\n\n", 19);
        CHECK_EQ_INT(parse(huge, n, r, &k), 0);
        CHECK_EQ_INT(r->body_len, n - 19);
        free(k);
        free(huge);
    }
    free(r);
    return TEST_DONE();
}
