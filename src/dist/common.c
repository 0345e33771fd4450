/* common: what the distributed backends share (dist.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"

int64_t dist_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dist_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dist_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *dist_url_decode(const char *s, size_t n) {
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = 0;
    return out;
}

char *dist_prefix_end(const char *prefix) {
    size_t n = strlen(prefix);
    while (n && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (!n)
        return NULL;
    char *end = malloc(n + 1);
    if (!end)
        return NULL;
    memcpy(end, prefix, n);
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    end[n] = 0;
    return end;
}

void dist_names_free(weft_store_names_t *page) {
    for (size_t i = 0; i < page->n; i++)
        free(page->names[i]);
    free(page->names);
    memset(page, 0, sizeof *page);
}

void dist_doc_page_free(weft_doc_page_t *page) {
    for (size_t i = 0; i < page->n; i++) {
        free(page->items[i].id);
        free(page->items[i].json);
    }
    free(page->items);
    memset(page, 0, sizeof *page);
}

const char *dist_redact(const char *location, char *out, size_t size) {
    const char *start = strstr(location, "://");
    start = start ? start + 3 : location;
    const char *end = start + strcspn(start, "/?");
    const char *at = NULL;
    for (const char *p = start; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon)
        snprintf(out, size, "%s", location);
    else
        snprintf(out, size, "%.*s:***%s", (int)(colon - location), location, at);
    return out;
}
