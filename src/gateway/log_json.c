/* log_json: weft's log lines as JSON objects, one a line (weft up --log-format json).
 *
 * util's weft_log hands each line to the sink set here, with its level and the log
 * context of the thread that logs it (util.h): the request a gateway thread runs, the
 * trigger and event a delivery thread works on. jansson encodes the line, so that any
 * byte a guest writes to its stderr comes out as valid JSON; one write(2) per line
 * keeps lines of several threads apart.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

/* "2026-11-30T17:53:55.123Z" */
static void rfc3339_now(char *out, size_t cap) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void set_str(json_t *o, const char *key, const char *value) {
    json_t *v = value ? json_string(value) : NULL; /* NULL too when not UTF-8 */
    if (v)
        json_object_set_new(o, key, v);
}

static void sink(weft_log_level_t level, const char *msg, size_t len, const weft_log_ctx_t *ctx) {
    char when[40];
    rfc3339_now(when, sizeof when);
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(weft_log_level_name(level)));
    /* A guest's stderr is not always UTF-8: its bytes are kept as the code points of
     * Latin-1 rather than the line dropped. */
    json_t *m = json_stringn(msg, len);
    if (!m) {
        char *latin = malloc(2 * len + 1);
        size_t n = 0;
        for (size_t i = 0; latin && i < len; i++) {
            unsigned char c = (unsigned char)msg[i];
            if (c < 0x80) {
                latin[n++] = (char)c;
            } else {
                latin[n++] = (char)(0xc0 | c >> 6);
                latin[n++] = (char)(0x80 | (c & 0x3f));
            }
        }
        m = latin ? json_stringn(latin, n) : NULL;
        free(latin);
    }
    json_object_set_new(o, "msg", m ? m : json_string(""));
    if (ctx) {
        if (ctx->request_id)
            json_object_set_new(o, "request_id", json_integer((json_int_t)ctx->request_id));
        set_str(o, "route", ctx->route);
        set_str(o, "function", ctx->function);
        set_str(o, "trigger", ctx->trigger);
        set_str(o, "event_id", ctx->event_id);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        return;
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, text, n);
        line[n] = '\n';
        ssize_t w = write(2, line, n + 1);
        (void)w;
        free(line);
    }
    free(text);
}

void weft_gateway_log_json(void) {
    weft_log_set_sink(sink);
}
