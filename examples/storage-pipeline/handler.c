/* handler: POST /handler?container=C&blob=NAME stores the request body as blob NAME in
 * container C, then publishes an event naming the blob to the broker "blobs":
 *
 *   type     com.example.blob.created
 *   subject  C/NAME
 *   data     {"container":"C","blob":"NAME","size":16}   (application/json)
 *
 * and answers "Writing 16 bytes." and "Published blob C/NAME to broker \"blobs\"".
 * The body goes to the store in chunks as it is read (a streamed write: the blob
 * appears whole at the commit, or not at all), so its size is not bounded by the
 * guest's memory.
 *
 * Names are checked before anything is stored: a container is what weft accepts (1 to
 * 63 of a-z, 0-9, '-'), a blob name 1 to 200 of letters, digits, '.', '_' and '-' (a
 * choice of this example: such a name needs no escaping in the event's JSON data, the
 * subject or the document id the webhook makes of it). A missing or bad name is a 400
 * that says which; a container weft.toml does not grant to this function a 403 with
 * weft's reason. */
#include "weft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROKER "blobs"
#define EVENT_TYPE "com.example.blob.created"
enum { MAX_NAME = 200, CHUNK = 64 << 10 };

static int answer(int status, const char *text) {
    const char *reason = status == 400   ? "Bad Request"
                         : status == 403 ? "Forbidden"
                         : status == 405 ? "Method Not Allowed"
                         : status == 413 ? "Payload Too Large"
                                         : "Internal Server Error";
    if (status != 200)
        printf("Status: %d %s\n", status, reason);
    printf("Content-Type: text/plain\n\n%s\n", text);
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of query parameter `name` in QUERY_STRING, form-decoded (%XX, '+' a
 * space), copied into out (size len); a later occurrence replaces an earlier one.
 * Returns 1 when found, 0 when absent, -1 when its value is badly encoded or too long. */
static int query_param(const char *query, const char *name, char *out, size_t len) {
    size_t name_len = strlen(name);
    int found = 0;
    for (const char *p = query; *p;) {
        const char *end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) > name_len && !strncmp(p, name, name_len) && p[name_len] == '=') {
            size_t n = 0;
            for (const char *v = p + name_len + 1; v < end; v++) {
                int c = (unsigned char)*v;
                if (c == '+')
                    c = ' ';
                else if (c == '%') {
                    if (end - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
                        return -1;
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                }
                if (n + 1 >= len)
                    return -1;
                out[n++] = (char)c;
            }
            out[n] = 0;
            found = 1;
        } else if ((size_t)(end - p) == name_len && !strncmp(p, name, name_len)) {
            out[0] = 0; /* "?blob" without '=': present, empty */
            found = 1;
        }
        p = *end ? end + 1 : end;
    }
    return found;
}

static int valid_container(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int valid_blob(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Copies stdin into a new blob, chunk by chunk; *size counts the bytes. */
static weft_error_t store_body(const char *container, const char *blob, const char *type,
                               unsigned long long *size) {
    static char chunk[CHUNK];
    weft_blob_writer_t w;
    weft_error_t e = weft_blob_write_open(container, blob, type, &w);
    if (e)
        return e;
    size_t n;
    *size = 0;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if ((e = weft_blob_write(w, chunk, n))) {
            weft_blob_write_abort(w);
            return e;
        }
        *size += n;
    }
    return weft_blob_write_commit(w);
}

int main(void) {
    char container[64 + 1], blob[MAX_NAME + 1], text[512], why[256];
    const char *method = getenv("REQUEST_METHOD");
    const char *query = getenv("QUERY_STRING");
    const char *usage = "POST /handler?container=NAME&blob=NAME, the blob's bytes as body";
    if (!method || strcmp(method, "POST")) {
        snprintf(text, sizeof text, "method %s: use %s", method ? method : "?", usage);
        return answer(405, text);
    }
    if (!query)
        query = "";

    int c = query_param(query, "container", container, sizeof container);
    int b = query_param(query, "blob", blob, sizeof blob);
    if (c <= 0 || !*container) {
        snprintf(text, sizeof text, "missing query parameter 'container' (%s)", usage);
        return answer(400, text);
    }
    if (b <= 0 || !*blob) {
        snprintf(text, sizeof text, "missing query parameter 'blob' (%s)", usage);
        return answer(400, text);
    }
    if (!valid_container(container)) {
        snprintf(text, sizeof text,
                 "bad container name '%.64s': 1 to 63 lower-case letters, digits and '-'",
                 container);
        return answer(400, text);
    }
    if (!valid_blob(blob)) {
        snprintf(text, sizeof text,
                 "bad blob name '%.200s': 1 to 200 letters, digits, '.', '_' and '-'", blob);
        return answer(400, text);
    }

    const char *type = getenv("CONTENT_TYPE");
    unsigned long long size = 0;
    weft_error_t e = store_body(container, blob, type, &size);
    if (e == WEFT_ACCESS_DENIED) /* weft's text names the container and what to change */
        return answer(403, weft_last_error(why, sizeof why));
    if (e == WEFT_TOO_LARGE)
        return answer(413, weft_last_error(why, sizeof why));
    if (e == WEFT_INVALID_ARGUMENT) /* the names are checked: a Content-Type weft refuses */
        return answer(400, weft_last_error(why, sizeof why));
    if (e) {
        fprintf(stderr, "handler: blob %s/%s: %s\n", container, blob,
                weft_last_error(why, sizeof why));
        return answer(500, "the blob could not be stored (see the log)");
    }

    /* The names hold no character JSON would escape (valid_container, valid_blob). */
    char attrs[512], data[512];
    snprintf(attrs, sizeof attrs,
             "type:" EVENT_TYPE "\nsubject:%s/%s\ndatacontenttype:application/json\n", container,
             blob);
    int len = snprintf(data, sizeof data, "{\"container\":\"%s\",\"blob\":\"%s\",\"size\":%llu}",
                       container, blob, size);
    e = weft_publish(BROKER, attrs, data, (size_t)len);
    if (e) {
        /* The blob stays: posting it again replaces it and publishes again. */
        fprintf(stderr, "handler: publishing blob %s/%s: %s\n", container, blob,
                weft_last_error(why, sizeof why));
        snprintf(text, sizeof text,
                 "Writing %llu byte%s.\nthe blob %s/%s is stored, but the event could not be "
                 "published (see the log): POST it again",
                 size, size == 1 ? "" : "s", container, blob);
        return answer(500, text);
    }
    snprintf(text, sizeof text, "Writing %llu byte%s.\nPublished blob %s/%s to broker \"%s\"", size,
             size == 1 ? "" : "s", container, blob, BROKER);
    return answer(200, text);
}
