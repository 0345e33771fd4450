/* doc: the part of the document store (store.h) that every backend shares: the backend
 * chosen by the location, the checks of what callers pass (a document is one JSON object,
 * read with jansson, which also refuses duplicate member names), and the parsing of a
 * query's values into typed conditions. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const weft_doc_ops_t *const backends[] = {&weft_doc_sqlite_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

struct weft_doc {
    const weft_doc_ops_t *ops;
    void *self;
    weft_doc_options_t opts;
};

int weft_doc_open(const char *location, const weft_doc_options_t *opts, weft_doc_t **out,
                  weft_error_t *err) {
    *out = NULL;
    const weft_doc_ops_t *ops;
    const weft_dist_plugin_t *dist = NULL;
    size_t scheme_len = 0;
    int which = store_dist("documents", location, &dist, &scheme_len, err);
    if (which > 0) {
        which = store_dist_pick("documents", location, scheme_len, (const void *const *)dist->doc,
                                dist->ndoc, err);
        if (which < 0)
            return which;
        ops = dist->doc[which];
    } else if (which == 0) {
        const char *schemes[NBACKENDS];
        for (size_t i = 0; i < NBACKENDS; i++)
            schemes[i] = backends[i]->scheme;
        which = store_backend("documents", location, schemes, NBACKENDS, err);
        if (which < 0)
            return which;
        ops = backends[which];
    } else {
        return which;
    }
    weft_doc_t *d = calloc(1, sizeof *d);
    if (!d)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (opts)
        d->opts = *opts;
    if (!d->opts.max_doc_bytes)
        d->opts.max_doc_bytes = WEFT_DOC_DEFAULT_MAX_BYTES;
    d->ops = ops;
    int rc = d->ops->open(location, &d->opts, &d->self, err);
    if (rc) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void weft_doc_close(weft_doc_t *d) {
    if (!d)
        return;
    d->ops->close(d->self);
    free(d);
}

const char *weft_doc_describe(const weft_doc_t *d) {
    return d->ops->describe(d->self);
}

/* The collection's name and, when with_id, the document's id. */
static int check_ids(const char *collection, const char *id, bool with_id, weft_error_t *err) {
    int rc = store_check_name("documents", "collection name", collection, WEFT_STORE_MAX_NAME, err);
    if (!rc && with_id)
        rc = store_check_name("documents", "document id", id, WEFT_DOC_MAX_ID, err);
    return rc;
}

int weft_doc_put(weft_doc_t *d, const char *collection, const char *id, const char *json,
                 size_t len, const weft_doc_put_options_t *opts, uint64_t *version,
                 weft_error_t *err) {
    if (version)
        *version = 0;
    int rc = check_ids(collection, id, true, err);
    if (rc)
        return rc;
    if (!json)
        return weft_error_set(err, WEFT_EINVAL, "documents: %s/%s: no document", collection, id);
    if (len > d->opts.max_doc_bytes)
        return weft_error_set(err, WEFT_ELIMIT,
                              "documents: %s/%s: a document of %zu bytes (at most %zu)", collection,
                              id, len, d->opts.max_doc_bytes);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return weft_error_set(err, WEFT_EINVAL, "documents: %s/%s: line %d, column %d: %s",
                              collection, id, je.line, je.column, je.text);
    bool object = json_is_object(root);
    json_decref(root);
    if (!object)
        return weft_error_set(err, WEFT_EINVAL,
                              "documents: %s/%s: a document is a JSON object ({...})", collection,
                              id);
    weft_doc_put_options_t o = {0};
    if (opts)
        o = *opts;
    if (o.if_absent && o.if_version)
        return weft_error_set(err, WEFT_EINVAL,
                              "documents: %s/%s: if_absent and if_version together", collection,
                              id);
    uint64_t v = 0;
    rc = d->ops->put(d->self, collection, id, json, len, &o, &v, err);
    if (!rc && version)
        *version = v;
    return rc;
}

int weft_doc_get(weft_doc_t *d, const char *collection, const char *id, char **json, size_t *len,
                 uint64_t *version, weft_error_t *err) {
    if (json)
        *json = NULL;
    if (len)
        *len = 0;
    if (version)
        *version = 0;
    int rc = check_ids(collection, id, true, err);
    if (rc)
        return rc;
    char *j = NULL;
    size_t n = 0;
    uint64_t v = 0;
    rc = d->ops->get(d->self, collection, id, &j, &n, &v, err);
    if (rc)
        return rc;
    if (json)
        *json = j;
    else
        free(j);
    if (len)
        *len = n;
    if (version)
        *version = v;
    return 0;
}

int weft_doc_delete(weft_doc_t *d, const char *collection, const char *id, uint64_t if_version,
                    weft_error_t *err) {
    int rc = check_ids(collection, id, true, err);
    if (rc)
        return rc;
    return d->ops->delete_(d->self, collection, id, if_version, err);
}

void weft_doc_page_free(weft_doc_page_t *page) {
    if (!page)
        return;
    for (size_t i = 0; i < page->n; i++) {
        free(page->items[i].id);
        free(page->items[i].json);
    }
    free(page->items);
    memset(page, 0, sizeof *page);
}

/* matches[i] as a condition: its value read as one JSON scalar. The string of a
 * WEFT_DOC_STRING points into *held, which the caller frees with json_decref. */
static int parse_match(const char *collection, size_t i, const weft_doc_match_t *m,
                       weft_doc_cond_t *c, json_t **held, weft_error_t *err) {
    int rc = store_check_name("documents", "query field", m->field, WEFT_DOC_MAX_ID, err);
    if (rc)
        return rc;
    if (!m->value)
        return weft_error_set(err, WEFT_EINVAL, "documents: %s: query field %s: no value",
                              collection, m->field);
    json_error_t je;
    json_t *v = json_loads(m->value, JSON_DECODE_ANY, &je);
    if (!v)
        return weft_error_set(err, WEFT_EINVAL,
                              "documents: %s: query field %s: the value is not JSON: %s",
                              collection, m->field, je.text);
    *held = v;
    c->field = m->field;
    switch (json_typeof(v)) {
    case JSON_STRING:
        c->kind = WEFT_DOC_STRING;
        c->str = json_string_value(v);
        c->str_len = json_string_length(v);
        return 0;
    case JSON_INTEGER:
        c->kind = WEFT_DOC_INT;
        c->i = json_integer_value(v);
        return 0;
    case JSON_REAL:
        c->kind = WEFT_DOC_REAL;
        c->r = json_real_value(v);
        return 0;
    case JSON_TRUE:
        c->kind = WEFT_DOC_TRUE;
        return 0;
    case JSON_FALSE:
        c->kind = WEFT_DOC_FALSE;
        return 0;
    case JSON_NULL:
        c->kind = WEFT_DOC_NULL;
        return 0;
    default:
        (void)i;
        return weft_error_set(err, WEFT_EINVAL,
                              "documents: %s: query field %s: the value is an %s, not a string, "
                              "number, true, false or null",
                              collection, m->field, json_is_object(v) ? "object" : "array");
    }
}

int weft_doc_query(weft_doc_t *d, const char *collection, const weft_doc_match_t *matches, size_t n,
                   const char *after, size_t limit, weft_doc_page_t *page, weft_error_t *err) {
    memset(page, 0, sizeof *page);
    int rc = check_ids(collection, NULL, false, err);
    if (!rc)
        rc = store_check_limit("documents", &limit, err);
    if (rc)
        return rc;
    if (n > WEFT_DOC_MAX_MATCHES || (n && !matches))
        return weft_error_set(err, WEFT_EINVAL,
                              "documents: %s: a query of %zu conditions (at "
                              "most %d)",
                              collection, n, WEFT_DOC_MAX_MATCHES);
    weft_doc_cond_t conds[WEFT_DOC_MAX_MATCHES];
    json_t *held[WEFT_DOC_MAX_MATCHES] = {0};
    size_t i = 0;
    for (; !rc && i < n; i++)
        rc = parse_match(collection, i, &matches[i], &conds[i], &held[i], err);
    if (!rc)
        rc = d->ops->query(d->self, collection, conds, n, after ? after : "", limit, page, err);
    for (size_t k = 0; k < n; k++)
        json_decref(held[k]);
    return rc;
}
