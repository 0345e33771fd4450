/* cgi_response: a guest's stdout read as a CGI response (RFC 3875 section 6; contract
 * in invoke.h).
 *
 * The output is hostile: any byte may appear anywhere. The parser only ever looks at
 * out[0..len] (the last byte being the one the caller keeps writable), never trusts a
 * line to end, and drops rather than repairs: a header that would not be valid HTTP
 * is not sent, so the client never sees what the guest could not have meant. Status
 * is read as WAGI does ("Status: 404 Not Found", or just "404"); the reason phrase is
 * not passed on, as the server writes the standard one.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "invoke.h"

/* RFC 9110 token characters: what a header name may be made of. */
static bool is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 field-value characters: visible ASCII, space, tab and obs-text. */
static bool is_value_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Headers that describe the connection or the framing, which the server sets. */
static bool server_owned(const char *name, size_t len) {
    static const char *const owned[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                        "Keep-Alive",     "Upgrade",           "TE",
                                        "Trailer",        "Proxy-Connection"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strlen(owned[i]) == len && !strncasecmp(name, owned[i], len))
            return true;
    return false;
}

const char *weft_http_header_problem(const char *name, size_t name_len, const char *value,
                                     size_t value_len) {
    if (!name_len)
        return "empty header name";
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return "invalid character in header name";
    for (size_t i = 0; i < value_len; i++)
        if (!is_value_char((unsigned char)value[i]))
            return "invalid character in header value";
    if (server_owned(name, name_len))
        return "set by the server, not the guest";
    return NULL;
}

/* Is the header name line[0..len) equal to want, ignoring case? Compares no byte past
 * len: the name is not NUL-terminated yet. */
static bool name_is(const uint8_t *line, size_t len, const char *want) {
    return strlen(want) == len && !strncasecmp((const char *)line, want, len);
}

/* "404", "404 Not Found": a final status 200..599, else 0. */
static unsigned parse_status(const char *v) {
    if (v[0] < '2' || v[0] > '5' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9')
        return 0;
    if (v[3] && v[3] != ' ' && v[3] != '\t')
        return 0;
    return (unsigned)(v[0] - '0') * 100 + (unsigned)(v[1] - '0') * 10 + (unsigned)(v[2] - '0');
}

typedef struct state {
    weft_cgi_response_t *resp;
    weft_cgi_warn_fn warn;
    void *arg;
    bool content_type, location, status;
} state_t;

static void drop(state_t *st, const char *why, const uint8_t *line, size_t len) {
    if (st->warn)
        st->warn(st->arg, why, (const char *)line, len);
}

static void add(state_t *st, const char *name, const char *value, const uint8_t *line, size_t len) {
    weft_cgi_response_t *r = st->resp;
    if (r->nheaders == WEFT_CGI_MAX_HEADERS) {
        drop(st, "too many headers", line, len);
        return;
    }
    r->headers[r->nheaders].name = name;
    r->headers[r->nheaders].value = value;
    r->nheaders++;
}

/* One header line, line[0..len) without its line ending; line[len] is writable. */
static void header_line(state_t *st, uint8_t *line, size_t len) {
    if (line[0] == ' ' || line[0] == '\t') {
        drop(st, "continuation lines are not valid HTTP", line, len);
        return;
    }
    uint8_t *colon = memchr(line, ':', len);
    if (!colon) {
        drop(st, "not a header (no ':')", line, len);
        return;
    }
    if (colon == line) {
        drop(st, "empty header name", line, len);
        return;
    }
    for (uint8_t *p = line; p < colon; p++)
        if (!is_tchar(*p)) {
            drop(st, "invalid character in header name", line, len);
            return;
        }
    uint8_t *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (uint8_t *p = v; p < end; p++)
        if (!is_value_char(*p)) {
            drop(st, "invalid character in header value", line, len);
            return;
        }
    /* Cut in place. Everything checked above is reported with the line intact. */
    const char *name = (const char *)line, *value = (const char *)v;
    size_t name_len = (size_t)(colon - line);
    if (name_is(line, name_len, "Status")) {
        if (st->status) {
            drop(st, "Status given twice", line, len);
            return;
        }
        *end = 0;
        unsigned s = parse_status(value);
        if (!s) {
            drop(st, "Status is not a code from 200 to 599", line, len);
            return;
        }
        st->status = true;
        st->resp->status = s;
        return;
    }
    bool ct = name_is(line, name_len, "Content-Type"), loc = name_is(line, name_len, "Location");
    if ((ct && st->content_type) || (loc && st->location)) {
        drop(st, ct ? "Content-Type given twice" : "Location given twice", line, len);
        return;
    }
    if ((ct || loc) && v == end) {
        drop(st, "empty value", line, len);
        return;
    }
    if (server_owned(name, name_len)) {
        drop(st, "set by the server, not the guest", line, len);
        return;
    }
    *colon = 0;
    *end = 0;
    st->content_type |= ct;
    st->location |= loc;
    add(st, name, value, line, len);
}

int weft_cgi_parse(uint8_t *out, size_t len, weft_cgi_response_t *resp, weft_cgi_warn_fn warn,
                   void *arg) {
    memset(resp, 0, offsetof(weft_cgi_response_t, headers));
    resp->nheaders = 0;
    resp->body = out + len;
    resp->body_len = 0;
    resp->error = NULL;
    state_t st = {.resp = resp, .warn = warn, .arg = arg};
    size_t pos = 0;
    while (pos < len) {
        uint8_t *start = out + pos;
        uint8_t *nl = memchr(start, '\n', len - pos);
        size_t line_end = nl ? (size_t)(nl - out) : len;
        if (line_end > WEFT_CGI_MAX_HEADER_BLOCK) {
            resp->error = "the guest's response headers are larger than 64 KiB, or it printed "
                          "no empty line after them";
            return WEFT_EINVAL;
        }
        size_t e = line_end;
        if (e > pos && out[e - 1] == '\r')
            e--;
        size_t next = nl ? line_end + 1 : len;
        if (e == pos) { /* the empty line: the body follows */
            resp->body = out + next;
            resp->body_len = len - next;
            break;
        }
        /* out[e] is the '\r', the '\n' or out[len]: writable either way. */
        header_line(&st, start, e - pos);
        pos = next;
    }
    if (!st.content_type && !st.location && !st.status) {
        resp->error = "the guest's output is not a CGI response: it has no Content-Type, "
                      "Location or Status header";
        return WEFT_EINVAL;
    }
    if (!st.status)
        resp->status = st.location ? 302 : 200;
    return 0;
}
