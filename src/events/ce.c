/* The CloudEvents model: attributes by name, data (cloudevent.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cloudevent.h"

static ssize_t find(const weft_ce_t *ev, const char *name) {
    for (size_t i = 0; i < ev->nattrs; i++)
        if (!strcmp(ev->attrs[i].name, name))
            return (ssize_t)i;
    return -1;
}

const weft_ce_attr_t *weft_ce_attr(const weft_ce_t *ev, const char *name) {
    ssize_t i = find(ev, name);
    return i < 0 ? NULL : &ev->attrs[i];
}

const char *weft_ce_get(const weft_ce_t *ev, const char *name) {
    const weft_ce_attr_t *a = weft_ce_attr(ev, name);
    return a ? a->value : NULL;
}

int weft_ce_set(weft_ce_t *ev, const char *name, const char *value, weft_ce_type_t type) {
    char *v = strdup(value);
    if (!v)
        return WEFT_ENOMEM;
    ssize_t i = find(ev, name);
    if (i >= 0) {
        free(ev->attrs[i].value);
        ev->attrs[i].value = v;
        ev->attrs[i].type = type;
        return 0;
    }
    if (ev->nattrs == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 8;
        weft_ce_attr_t *a = realloc(ev->attrs, cap * sizeof *a);
        if (!a) {
            free(v);
            return WEFT_ENOMEM;
        }
        ev->attrs = a;
        ev->cap = cap;
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return WEFT_ENOMEM;
    }
    ev->attrs[ev->nattrs++] = (weft_ce_attr_t){.name = n, .value = v, .type = type};
    return 0;
}

void weft_ce_unset(weft_ce_t *ev, const char *name) {
    ssize_t i = find(ev, name);
    if (i < 0)
        return;
    free(ev->attrs[i].name);
    free(ev->attrs[i].value);
    memmove(&ev->attrs[i], &ev->attrs[i + 1], (ev->nattrs - (size_t)i - 1) * sizeof *ev->attrs);
    ev->nattrs--;
}

int weft_ce_set_data(weft_ce_t *ev, const void *data, size_t len) {
    uint8_t *d = NULL;
    if (data) {
        /* One byte more, NUL, so that text data can be read as a string. */
        if (!(d = malloc(len + 1)))
            return WEFT_ENOMEM;
        memcpy(d, data, len);
        d[len] = 0;
    }
    free(ev->data);
    ev->data = d;
    ev->data_len = data ? len : 0;
    return 0;
}

int weft_ce_copy(const weft_ce_t *ev, weft_ce_t *out) {
    *out = (weft_ce_t){0};
    for (size_t i = 0; i < ev->nattrs; i++)
        if (weft_ce_set(out, ev->attrs[i].name, ev->attrs[i].value, ev->attrs[i].type))
            goto fail;
    if (weft_ce_set_data(out, ev->data, ev->data_len) == 0)
        return 0;
fail:
    weft_ce_clear(out);
    return WEFT_ENOMEM;
}

void weft_ce_clear(weft_ce_t *ev) {
    for (size_t i = 0; i < ev->nattrs; i++) {
        free(ev->attrs[i].name);
        free(ev->attrs[i].value);
    }
    free(ev->attrs);
    free(ev->data);
    *ev = (weft_ce_t){0};
}

weft_ce_type_t weft_ce_attr_type(const char *name) {
    static const struct {
        const char *name;
        weft_ce_type_t type;
    } fixed[] = {
        {"id", WEFT_CE_STRING},
        {"source", WEFT_CE_URI_REF},
        {"specversion", WEFT_CE_STRING},
        {"type", WEFT_CE_STRING},
        {"datacontenttype", WEFT_CE_STRING},
        {"dataschema", WEFT_CE_URI},
        {"subject", WEFT_CE_STRING},
        {"time", WEFT_CE_TIMESTAMP},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(fixed[i].name, name))
            return fixed[i].type;
    return WEFT_CE_STRING;
}

bool weft_ce_name_valid(const char *name, size_t len) {
    if (len == 0 || len > WEFT_CE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}
