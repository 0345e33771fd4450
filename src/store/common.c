/* common: the checks that the key-value, document and blob front ends share. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int store_check_name(const char *layer, const char *what, const char *name, size_t max,
                     weft_error_t *err) {
    if (!name || !*name)
        return weft_error_set(err, WEFT_EINVAL, "%s: empty %s", layer, what);
    size_t n = strlen(name);
    if (n > max)
        return weft_error_set(err, WEFT_EINVAL, "%s: %s of %zu bytes (at most %zu)", layer, what, n,
                              max);
    if (!weft_utf8_valid((const uint8_t *)name, n))
        return weft_error_set(err, WEFT_EINVAL, "%s: %s is not valid UTF-8", layer, what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return weft_error_set(err, WEFT_EINVAL, "%s: %s \"%.*s...\" holds a control character",
                                  layer, what, (int)i, name);
    return 0;
}

int store_backend(const char *layer, const char *location, const char *const *schemes, size_t n,
                  weft_error_t *err) {
    if (!location || !*location)
        return weft_error_set(err, WEFT_EINVAL, "%s: empty location", layer);
    const char *colon = strchr(location, ':');
    if (colon) {
        size_t len = (size_t)(colon - location);
        for (size_t i = 0; i < n; i++)
            if (strlen(schemes[i]) == len && memcmp(schemes[i], location, len) == 0)
                return (int)i;
        if (strncmp(colon, "://", 3) == 0)
            return weft_error_set(err, WEFT_EUNSUPPORTED, "%s: no %s backend \"%.*s\" in this weft",
                                  location, layer, (int)len, location);
    }
    return 0;
}

int store_dist(const char *layer, const char *location, const weft_dist_plugin_t **plugin,
               size_t *scheme_len, weft_error_t *err) {
    static const char *const schemes[] = {WEFT_DIST_SCHEMES};
    static const weft_plugin_head_t *cache;
    static const weft_plugin_spec_t spec = {.file = "weft-dist.so",
                                            .symbol = "weft_dist_plugin",
                                            .abi = WEFT_DIST_PLUGIN_ABI,
                                            .size = sizeof(weft_dist_plugin_t),
                                            .cache = &cache};
    *plugin = NULL;
    const char *colon = location ? strstr(location, "://") : NULL;
    if (!colon)
        return 0;
    size_t len = (size_t)(colon - location);
    bool ours = false;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        ours = ours || (strlen(schemes[i]) == len && memcmp(schemes[i], location, len) == 0);
    if (!ours)
        return 0;
    *scheme_len = len;
    const weft_plugin_head_t *h = weft_plugin_get(&spec, err);
    if (!h) {
        weft_error_prefix(err, "the %s backend \"%.*s\" lives in weft-dist.so", layer, (int)len,
                          location);
        return WEFT_ELOAD;
    }
    *plugin = (const weft_dist_plugin_t *)h;
    return 1;
}

int store_dist_pick(const char *layer, const char *location, size_t scheme_len,
                    const void *const *ops, size_t n, weft_error_t *err) {
    for (size_t i = 0; i < n; i++) {
        const char *scheme = *(const char *const *)ops[i];
        if (strlen(scheme) == scheme_len && memcmp(scheme, location, scheme_len) == 0)
            return (int)i;
    }
    return weft_error_set(err, WEFT_EUNSUPPORTED, "weft-dist.so has no %s backend \"%.*s\"", layer,
                          (int)scheme_len, location);
}

int store_check_limit(const char *layer, size_t *limit, weft_error_t *err) {
    if (*limit == 0)
        *limit = WEFT_STORE_DEFAULT_PAGE;
    if (*limit > WEFT_STORE_MAX_PAGE)
        return weft_error_set(err, WEFT_EINVAL, "%s: a page of %zu items (at most %d)", layer,
                              *limit, WEFT_STORE_MAX_PAGE);
    return 0;
}

int64_t store_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void weft_store_names_free(weft_store_names_t *page) {
    if (!page)
        return;
    for (size_t i = 0; i < page->n; i++)
        free(page->names[i]);
    free(page->names);
    memset(page, 0, sizeof *page);
}
