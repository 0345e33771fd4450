/* blob: the part of the blob store (store.h) that every backend shares: the backend
 * chosen by the location, the checks of names and content types, and the size and
 * SHA-256 of a blob counted as its bytes pass through a writer, so that no backend
 * computes them itself. */
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const weft_blob_ops_t *const backends[] = {&weft_blob_sqlite_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

struct weft_blob {
    const weft_blob_ops_t *ops;
    void *self;
    weft_blob_options_t opts;
};

struct weft_blob_writer {
    weft_blob_t *b;
    void *w; /* the backend's */
    struct sha256_ctx sha;
    uint64_t size;
    weft_blob_put_options_t opts;
    bool failed; /* a write failed: only abort remains */
    char content_type[WEFT_BLOB_MAX_CONTENT_TYPE + 1];
};

struct weft_blob_reader {
    weft_blob_t *b;
    void *r;
};

int weft_blob_open(const char *location, const weft_blob_options_t *opts, weft_blob_t **out,
                   weft_error_t *err) {
    *out = NULL;
    const weft_blob_ops_t *ops;
    const weft_dist_plugin_t *dist = NULL;
    size_t scheme_len = 0;
    int which = store_dist("blobs", location, &dist, &scheme_len, err);
    if (which > 0) {
        which = store_dist_pick("blobs", location, scheme_len, (const void *const *)dist->blob,
                                dist->nblob, err);
        if (which < 0)
            return which;
        ops = dist->blob[which];
    } else if (which == 0) {
        const char *schemes[NBACKENDS];
        for (size_t i = 0; i < NBACKENDS; i++)
            schemes[i] = backends[i]->scheme;
        which = store_backend("blobs", location, schemes, NBACKENDS, err);
        if (which < 0)
            return which;
        ops = backends[which];
    } else {
        return which;
    }
    weft_blob_t *b = calloc(1, sizeof *b);
    if (!b)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    if (opts)
        b->opts = *opts;
    if (!b->opts.max_blob_bytes)
        b->opts.max_blob_bytes = WEFT_BLOB_DEFAULT_MAX_BLOB;
    b->ops = ops;
    int rc = b->ops->open(location, &b->opts, &b->self, err);
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void weft_blob_close(weft_blob_t *b) {
    if (!b)
        return;
    b->ops->close(b->self);
    free(b);
}

const char *weft_blob_describe(const weft_blob_t *b) {
    return b->ops->describe(b->self);
}

/* A container: 1..63 of [a-z0-9-] (as S3's and Azure's, so that one maps onto theirs);
 * a name: 1..WEFT_BLOB_MAX_NAME bytes (a C string: no NUL). */
static int check_names(const char *container, const char *name, weft_error_t *err) {
    if (!container || !*container)
        return weft_error_set(err, WEFT_EINVAL, "blobs: empty container name");
    size_t n = strlen(container);
    if (n > WEFT_BLOB_MAX_CONTAINER)
        return weft_error_set(err, WEFT_EINVAL, "blobs: a container name of %zu bytes (at most %d)",
                              n, WEFT_BLOB_MAX_CONTAINER);
    for (size_t i = 0; i < n; i++) {
        char c = container[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return weft_error_set(err, WEFT_EINVAL,
                                  "blobs: container name \"%.63s\": byte %zu is not one of "
                                  "[a-z0-9-]",
                                  container, i + 1);
    }
    if (!name)
        return 0;
    if (!*name)
        return weft_error_set(err, WEFT_EINVAL, "blobs: %s: empty blob name", container);
    if ((n = strlen(name)) > WEFT_BLOB_MAX_NAME)
        return weft_error_set(err, WEFT_EINVAL, "blobs: %s: a blob name of %zu bytes (at most %d)",
                              container, n, WEFT_BLOB_MAX_NAME);
    return 0;
}

int weft_blob_writer_open(weft_blob_t *b, const char *container, const char *name,
                          const char *content_type, const weft_blob_put_options_t *opts,
                          weft_blob_writer_t **out, weft_error_t *err) {
    *out = NULL;
    int rc = check_names(container, name, err);
    if (rc)
        return rc;
    if (!content_type || !*content_type)
        content_type = "application/octet-stream";
    size_t n = strlen(content_type);
    if (n > WEFT_BLOB_MAX_CONTENT_TYPE)
        return weft_error_set(err, WEFT_EINVAL,
                              "blobs: %s: a content type of %zu bytes (at most "
                              "%d)",
                              container, n, WEFT_BLOB_MAX_CONTENT_TYPE);
    for (size_t i = 0; i < n; i++)
        if (content_type[i] < 0x20 || content_type[i] > 0x7e)
            return weft_error_set(err, WEFT_EINVAL,
                                  "blobs: %s: the content type holds a byte that is not "
                                  "printable ASCII",
                                  container);
    weft_blob_put_options_t o = {0};
    if (opts)
        o = *opts;
    if (o.if_absent && o.if_version)
        return weft_error_set(err, WEFT_EINVAL, "blobs: %s: if_absent and if_version together",
                              container);
    weft_blob_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    w->b = b;
    w->opts = o;
    memcpy(w->content_type, content_type, n + 1);
    sha256_init(&w->sha);
    rc = b->ops->writer_open(b->self, container, name, &w->w, err);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int weft_blob_write(weft_blob_writer_t *w, const void *data, size_t n, weft_error_t *err) {
    if (w->failed)
        return weft_error_set(err, WEFT_EINVAL, "blobs: a write after a failed one");
    if (n && !data)
        return weft_error_set(err, WEFT_EINVAL, "blobs: a write of %zu bytes without bytes", n);
    if (n > w->b->opts.max_blob_bytes - w->size) {
        w->failed = true;
        return weft_error_set(err, WEFT_ELIMIT, "blobs: a blob of more than %llu bytes",
                              (unsigned long long)w->b->opts.max_blob_bytes);
    }
    if (!n)
        return 0;
    int rc = w->b->ops->write(w->b->self, w->w, data, n, err);
    if (rc) {
        w->failed = true;
        return rc;
    }
    sha256_update(&w->sha, n, data);
    w->size += n;
    return 0;
}

int weft_blob_writer_commit(weft_blob_writer_t *w, weft_blob_meta_t *meta, weft_error_t *err) {
    if (w->failed) {
        weft_blob_writer_abort(w);
        return weft_error_set(err, WEFT_EINVAL, "blobs: a commit after a failed write");
    }
    weft_blob_meta_t m = {0};
    m.size = w->size;
    memcpy(m.content_type, w->content_type, sizeof m.content_type);
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&w->sha, sizeof digest, digest);
    weft_hex(digest, sizeof digest, m.sha256);
    int rc = w->b->ops->commit(w->b->self, w->w, &w->opts, &m, err);
    free(w);
    if (!rc && meta)
        *meta = m;
    return rc;
}

void weft_blob_writer_abort(weft_blob_writer_t *w) {
    if (!w)
        return;
    w->b->ops->abort(w->b->self, w->w);
    free(w);
}

int weft_blob_reader_open(weft_blob_t *b, const char *container, const char *name,
                          weft_blob_reader_t **out, weft_blob_meta_t *meta, weft_error_t *err) {
    *out = NULL;
    int rc = check_names(container, name, err);
    if (rc)
        return rc;
    weft_blob_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return weft_error_set(err, WEFT_ENOMEM, "blobs: out of memory");
    weft_blob_meta_t m = {0};
    r->b = b;
    rc = b->ops->reader_open(b->self, container, name, &r->r, &m, err);
    if (rc) {
        free(r);
        return rc;
    }
    if (meta)
        *meta = m;
    *out = r;
    return 0;
}

int weft_blob_read(weft_blob_reader_t *r, uint64_t offset, void *buf, size_t n, size_t *got,
                   weft_error_t *err) {
    *got = 0;
    if (n && !buf)
        return weft_error_set(err, WEFT_EINVAL, "blobs: a read of %zu bytes into no buffer", n);
    if (!n)
        return 0;
    return r->b->ops->read(r->b->self, r->r, offset, buf, n, got, err);
}

void weft_blob_reader_close(weft_blob_reader_t *r) {
    if (!r)
        return;
    r->b->ops->reader_close(r->b->self, r->r);
    free(r);
}

int weft_blob_stat(weft_blob_t *b, const char *container, const char *name, weft_blob_meta_t *meta,
                   weft_error_t *err) {
    memset(meta, 0, sizeof *meta);
    int rc = check_names(container, name, err);
    return rc ? rc : b->ops->stat(b->self, container, name, meta, err);
}

int weft_blob_delete(weft_blob_t *b, const char *container, const char *name, uint64_t if_version,
                     weft_error_t *err) {
    int rc = check_names(container, name, err);
    return rc ? rc : b->ops->delete_(b->self, container, name, if_version, err);
}

int weft_blob_list(weft_blob_t *b, const char *container, const char *prefix, const char *after,
                   size_t limit, weft_store_names_t *page, weft_error_t *err) {
    memset(page, 0, sizeof *page);
    int rc = check_names(container, NULL, err);
    if (!rc)
        rc = store_check_limit("blobs", &limit, err);
    if (rc)
        return rc;
    return b->ops->list(b->self, container, prefix ? prefix : "", after ? after : "", limit, page,
                        err);
}
