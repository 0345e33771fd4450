/* services: the stores a running app's guests and HTTP clients share (host.h,
 * "Services"), each opened at its first use. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct weft_services {
    char *location;
    char *kv_location, *doc_location, *blob_location; /* NULL: location */
    weft_services_config_t cfg;                       /* cfg.location points at location */
    pthread_mutex_t lock; /* guards the three handles while they are opened */
    weft_kv_t *_Atomic kv;
    weft_doc_t *_Atomic doc;
    weft_blob_t *_Atomic blob;
};

int weft_services_create(const weft_services_config_t *cfg, weft_services_t **out,
                         weft_error_t *err) {
    *out = NULL;
    if (!cfg || !cfg->location || !*cfg->location)
        return weft_error_set(err, WEFT_EINVAL, "the services need a location for their stores");
    weft_services_t *s = calloc(1, sizeof *s);
    if (!s || !(s->location = strdup(cfg->location))) {
        free(s);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory for the services");
    }
    s->cfg = *cfg;
    s->cfg.location = s->location;
    if ((cfg->kv_location && !(s->kv_location = strdup(cfg->kv_location))) ||
        (cfg->doc_location && !(s->doc_location = strdup(cfg->doc_location))) ||
        (cfg->blob_location && !(s->blob_location = strdup(cfg->blob_location)))) {
        free(s->kv_location);
        free(s->doc_location);
        free(s->location);
        free(s);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory for the services");
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void weft_services_free(weft_services_t *s) {
    if (!s)
        return;
    weft_kv_close(s->kv);
    weft_doc_close(s->doc);
    weft_blob_close(s->blob);
    pthread_mutex_destroy(&s->lock);
    free(s->location);
    free(s->kv_location);
    free(s->doc_location);
    free(s->blob_location);
    free(s);
}

/* One store's handle: read without the lock once set (it never changes until free);
 * opened under the lock by the first caller. */
#define SERVICES_GET(kind, type, opts)                                                             \
    int weft_services_##kind(weft_services_t *s, type **out, weft_error_t *err) {                  \
        type *h = s->kind;                                                                         \
        if (h) {                                                                                   \
            *out = h;                                                                              \
            return 0;                                                                              \
        }                                                                                          \
        pthread_mutex_lock(&s->lock);                                                              \
        int rc = 0;                                                                                \
        if (!(h = s->kind)) {                                                                      \
            weft_error_t e = {0};                                                                  \
            rc = weft_##kind##_open(s->kind##_location ? s->kind##_location : s->location,         \
                                    &s->cfg.opts, &h, &e);                                         \
            if (rc) {                                                                              \
                weft_log("services: %s", e.msg);                                                   \
                if (err)                                                                           \
                    *err = e;                                                                      \
            } else {                                                                               \
                s->kind = h;                                                                       \
            }                                                                                      \
        }                                                                                          \
        pthread_mutex_unlock(&s->lock);                                                            \
        *out = rc ? NULL : h;                                                                      \
        return rc;                                                                                 \
    }

SERVICES_GET(kv, weft_kv_t, kv)
SERVICES_GET(doc, weft_doc_t, doc)
SERVICES_GET(blob, weft_blob_t, blob)
#undef SERVICES_GET

unsigned weft_services_publish(weft_services_t *s, const char *broker, const char *const *names,
                               const char *const *values, size_t nheaders, const uint8_t *data,
                               size_t len, char *msg, size_t msg_size) {
    if (!s->cfg.publish) {
        snprintf(msg, msg_size, "publishing is not available: no broker runs here");
        return 503;
    }
    return s->cfg.publish(s->cfg.publish_arg, broker, names, values, nheaders, data, len, msg,
                          msg_size);
}
