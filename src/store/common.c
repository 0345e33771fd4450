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
