/* kv: the part of the key-value store (store.h) that every backend shares: the backend
 * chosen by the location, the checks of what callers pass, and the stores' handles. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const weft_kv_ops_t *const backends[] = {&weft_kv_sqlite_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

struct weft_kv_store {
    weft_kv_store_t *next;
    weft_kv_t *kv;
    void *st; /* the backend's */
    char *name;
};

struct weft_kv {
    const weft_kv_ops_t *ops;
    void *self;
    weft_kv_options_t opts; /* defaults filled in */
    pthread_mutex_t mu;     /* guards stores */
    weft_kv_store_t *stores;
};

int weft_kv_open(const char *location, const weft_kv_options_t *opts, weft_kv_t **out,
                 weft_error_t *err) {
    *out = NULL;
    const weft_kv_ops_t *ops;
    const weft_dist_plugin_t *dist = NULL;
    size_t scheme_len = 0;
    int which = store_dist("key-value", location, &dist, &scheme_len, err);
    if (which > 0) {
        which = store_dist_pick("key-value", location, scheme_len, (const void *const *)dist->kv,
                                dist->nkv, err);
        if (which < 0)
            return which;
        ops = dist->kv[which];
    } else if (which == 0) {
        const char *schemes[NBACKENDS];
        for (size_t i = 0; i < NBACKENDS; i++)
            schemes[i] = backends[i]->scheme;
        which = store_backend("key-value", location, schemes, NBACKENDS, err);
        if (which < 0)
            return which;
        ops = backends[which];
    } else {
        return which;
    }
    weft_kv_t *kv = calloc(1, sizeof *kv);
    if (!kv)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (opts)
        kv->opts = *opts;
    if (!kv->opts.max_value_bytes)
        kv->opts.max_value_bytes = WEFT_KV_DEFAULT_MAX_VALUE;
    kv->ops = ops;
    int rc = kv->ops->open(location, &kv->opts, &kv->self, err);
    if (rc) {
        free(kv);
        return rc;
    }
    pthread_mutex_init(&kv->mu, NULL);
    *out = kv;
    return 0;
}

void weft_kv_close(weft_kv_t *kv) {
    if (!kv)
        return;
    kv->ops->close(kv->self);
    for (weft_kv_store_t *s = kv->stores, *next; s; s = next) {
        next = s->next;
        free(s->name);
        free(s);
    }
    pthread_mutex_destroy(&kv->mu);
    free(kv);
}

const char *weft_kv_describe(const weft_kv_t *kv) {
    return kv->ops->describe(kv->self);
}

int weft_kv_store(weft_kv_t *kv, const char *name, weft_kv_store_t **out, weft_error_t *err) {
    *out = NULL;
    int rc = store_check_name("key-value", "store name", name, WEFT_STORE_MAX_NAME, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&kv->mu);
    weft_kv_store_t *s = kv->stores;
    while (s && strcmp(s->name, name) != 0)
        s = s->next;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->name = strdup(name))) {
            free(s);
            pthread_mutex_unlock(&kv->mu);
            return weft_error_set(err, WEFT_ENOMEM, "key-value: store %s: out of memory", name);
        }
        s->kv = kv;
        rc = kv->ops->store(kv->self, name, &s->st, err);
        if (rc) {
            free(s->name);
            free(s);
            pthread_mutex_unlock(&kv->mu);
            return rc;
        }
        s->next = kv->stores;
        kv->stores = s;
    }
    pthread_mutex_unlock(&kv->mu);
    *out = s;
    return 0;
}

/* A key: 1..WEFT_KV_MAX_KEY bytes of UTF-8 (a C string: no NUL). */
static int check_key(weft_kv_store_t *st, const char *key, weft_error_t *err) {
    if (!key || !*key)
        return weft_error_set(err, WEFT_EINVAL, "key-value: store %s: empty key", st->name);
    size_t n = strlen(key);
    if (n > WEFT_KV_MAX_KEY)
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: a key of %zu bytes (at most %d)", st->name, n,
                              WEFT_KV_MAX_KEY);
    if (!weft_utf8_valid((const uint8_t *)key, n))
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: key \"%.40s\" is not valid "
                              "UTF-8",
                              st->name, key);
    return 0;
}

int weft_kv_get(weft_kv_store_t *st, const char *key, uint8_t **value, size_t *len,
                uint64_t *version, weft_error_t *err) {
    if (value)
        *value = NULL;
    if (len)
        *len = 0;
    if (version)
        *version = 0;
    int rc = check_key(st, key, err);
    if (rc)
        return rc;
    uint8_t *v = NULL;
    size_t n = 0;
    uint64_t ver = 0;
    rc = st->kv->ops->get(st->kv->self, st->st, key, store_wall_ms(), value ? &v : NULL, &n, &ver,
                          err);
    if (rc)
        return rc;
    if (value)
        *value = v;
    if (len)
        *len = n;
    if (version)
        *version = ver;
    return 0;
}

int weft_kv_exists(weft_kv_store_t *st, const char *key, weft_error_t *err) {
    int rc = check_key(st, key, err);
    if (rc)
        return rc;
    size_t n;
    uint64_t ver;
    return st->kv->ops->get(st->kv->self, st->st, key, store_wall_ms(), NULL, &n, &ver, err);
}

int weft_kv_set(weft_kv_store_t *st, const char *key, const void *value, size_t len,
                const weft_kv_set_options_t *opts, uint64_t *version, weft_error_t *err) {
    if (version)
        *version = 0;
    int rc = check_key(st, key, err);
    if (rc)
        return rc;
    if (len && !value)
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: key %.40s: a length but "
                              "no bytes",
                              st->name, key);
    if (len > st->kv->opts.max_value_bytes)
        return weft_error_set(err, WEFT_ELIMIT,
                              "key-value: store %s: key %.40s: a value of %zu bytes (at most %zu)",
                              st->name, key, len, st->kv->opts.max_value_bytes);
    weft_kv_set_options_t o = {0};
    if (opts)
        o = *opts;
    if (o.ttl_ms < 0)
        return weft_error_set(err, WEFT_EINVAL, "key-value: store %s: key %.40s: a negative TTL",
                              st->name, key);
    if (o.if_absent && o.if_version)
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: key %.40s: if_absent and if_version together",
                              st->name, key);
    uint64_t ver = 0;
    rc = st->kv->ops->set(st->kv->self, st->st, key, value ? value : "", len, &o, store_wall_ms(),
                          &ver, err);
    if (!rc && version)
        *version = ver;
    return rc;
}

int weft_kv_delete(weft_kv_store_t *st, const char *key, uint64_t if_version, weft_error_t *err) {
    int rc = check_key(st, key, err);
    if (rc)
        return rc;
    return st->kv->ops->delete_(st->kv->self, st->st, key, if_version, store_wall_ms(), err);
}

int weft_kv_list(weft_kv_store_t *st, const char *prefix, const char *after, size_t limit,
                 weft_store_names_t *page, weft_error_t *err) {
    memset(page, 0, sizeof *page);
    int rc = store_check_limit("key-value", &limit, err);
    if (rc)
        return rc;
    if (prefix && strlen(prefix) > WEFT_KV_MAX_KEY)
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: a prefix of %zu bytes (at "
                              "most %d)",
                              st->name, strlen(prefix), WEFT_KV_MAX_KEY);
    /* (So that store_prefix_end has a bound: UTF-8 holds no byte 0xff.) */
    if (prefix && !weft_utf8_valid((const uint8_t *)prefix, strlen(prefix)))
        return weft_error_set(err, WEFT_EINVAL,
                              "key-value: store %s: the prefix is not valid UTF-8", st->name);
    return st->kv->ops->list(st->kv->self, st->st, prefix ? prefix : "", after ? after : "", limit,
                             store_wall_ms(), page, err);
}

int weft_kv_purge(weft_kv_t *kv, uint64_t *deleted, weft_error_t *err) {
    uint64_t n = 0;
    int rc = kv->ops->purge(kv->self, store_wall_ms(), &n, err);
    if (deleted)
        *deleted = n;
    return rc;
}
