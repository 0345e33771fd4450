/* filter: a trigger's filters, Knative's subscriptions-API dialects (internal.h).
 *
 * A trigger's list of filters matches when every one matches (an empty list matches
 * every event). exact, prefix and suffix compare the canonical string form of the
 * attribute they name, which must be present (the app model holds one attribute a
 * leaf: a table naming several is an all of them); all, any and not combine filters; cesql
 * matches when its expression evaluates to true. A CESQL expression that raises an
 * error while evaluating does not match, and the first such error of each expression
 * is logged, so that a broken filter is seen without a line per event.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct weft_filter {
    weft_app_filter_kind_t kind;
    const char *attribute; /* exact, prefix, suffix; borrowed from the app */
    const char *value;
    weft_filter_t **children; /* all, any, not (one) */
    size_t nchildren;
    weft_cesql_t *expr;
    const char *text; /* the expression, for the log; borrowed */
    int line;
    atomic_bool logged;
};

static int compile_one(const weft_app_t *app, const weft_app_filter_t *def, weft_filter_t **out,
                       weft_error_t *err);

static int compile_list(const weft_app_t *app, weft_app_filter_kind_t kind,
                        const weft_app_filter_t *defs, size_t n, int line, weft_filter_t **out,
                        weft_error_t *err) {
    weft_filter_t *f = calloc(1, sizeof *f);
    if (!f || (n && !(f->children = calloc(n, sizeof *f->children)))) {
        free(f);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    f->kind = kind;
    f->line = line;
    *out = f;
    for (size_t i = 0; i < n; i++) {
        int rc = compile_one(app, &defs[i], &f->children[i], err);
        if (rc)
            return rc; /* the caller frees *out, children so far included */
        f->nchildren++;
    }
    return 0;
}

static int compile_one(const weft_app_t *app, const weft_app_filter_t *def, weft_filter_t **out,
                       weft_error_t *err) {
    switch (def->kind) {
    case WEFT_APP_FILTER_ALL:
    case WEFT_APP_FILTER_ANY:
    case WEFT_APP_FILTER_NOT:
        return compile_list(app, def->kind, def->children, def->nchildren, def->line, out, err);
    default:
        break;
    }
    weft_filter_t *f = calloc(1, sizeof *f);
    if (!f)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    *out = f;
    f->kind = def->kind;
    f->line = def->line;
    f->attribute = def->attribute;
    f->value = def->value;
    if (def->kind == WEFT_APP_FILTER_CESQL) {
        f->text = def->value;
        int rc = weft_cesql_parse(def->value, &f->expr, err);
        if (!rc)
            rc = weft_cesql_check(f->expr, err);
        if (rc) {
            weft_error_prefix(err, "%s:%d: cesql filter", app->path, def->line);
            return rc;
        }
    }
    return 0;
}

int weft_filter_compile(const weft_app_t *app, const weft_app_filter_t *filters, size_t n,
                        weft_filter_t **out, weft_error_t *err) {
    *out = NULL;
    int rc = compile_list(app, WEFT_APP_FILTER_ALL, filters, n, 0, out, err);
    if (rc) {
        weft_filter_free(*out);
        *out = NULL;
    }
    return rc;
}

/* exact, prefix, suffix: the attribute is present and its value compares. */
static bool attr_match(const weft_filter_t *f, const weft_ce_t *ev) {
    const char *v = weft_ce_get(ev, f->attribute), *want = f->value;
    if (!v)
        return false;
    size_t vl = strlen(v), wl = strlen(want);
    switch (f->kind) {
    case WEFT_APP_FILTER_EXACT:
        return vl == wl && !memcmp(v, want, vl);
    case WEFT_APP_FILTER_PREFIX:
        return vl >= wl && !memcmp(v, want, wl);
    case WEFT_APP_FILTER_SUFFIX:
        return vl >= wl && !memcmp(v + vl - wl, want, wl);
    default:
        return false;
    }
}

bool weft_filter_match(weft_filter_t *f, const weft_ce_t *ev, const char *tag) {
    switch (f->kind) {
    case WEFT_APP_FILTER_EXACT:
    case WEFT_APP_FILTER_PREFIX:
    case WEFT_APP_FILTER_SUFFIX:
        return attr_match(f, ev);
    case WEFT_APP_FILTER_ALL:
        for (size_t i = 0; i < f->nchildren; i++)
            if (!weft_filter_match(f->children[i], ev, tag))
                return false;
        return true;
    case WEFT_APP_FILTER_ANY:
        for (size_t i = 0; i < f->nchildren; i++)
            if (weft_filter_match(f->children[i], ev, tag))
                return true;
        return false;
    case WEFT_APP_FILTER_NOT:
        return f->nchildren == 1 && !weft_filter_match(f->children[0], ev, tag);
    case WEFT_APP_FILTER_CESQL: {
        weft_cesql_error_t error = {0};
        bool match = weft_cesql_match(f->expr, ev, &error);
        if (error.kind != WEFT_CESQL_OK && !atomic_exchange(&f->logged, true))
            weft_log("%s: cesql filter (line %d) '%s': %s error: %s (such events do not "
                     "match; logged once)",
                     tag, f->line, f->text, weft_cesql_error_kind_name(error.kind), error.message);
        return match && error.kind == WEFT_CESQL_OK;
    }
    }
    return false;
}

void weft_filter_free(weft_filter_t *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->nchildren; i++)
        weft_filter_free(f->children[i]);
    free(f->children);
    weft_cesql_free(f->expr);
    free(f);
}

/* ---- Back to weft.toml ------------------------------------------------------------- */

/* s as a TOML basic string: quotes and backslashes escaped, control characters as
 * \b \t \n \f \r or \uXXXX (TOML allows none of them, nor DEL, raw). */
static int toml_string(const char *s, weft_buf_t *out) {
    int rc = weft_buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        switch (*p) {
        case '"':
            rc = weft_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc = weft_buf_puts(out, "\\\\");
            break;
        case '\b':
            rc = weft_buf_puts(out, "\\b");
            break;
        case '\t':
            rc = weft_buf_puts(out, "\\t");
            break;
        case '\n':
            rc = weft_buf_puts(out, "\\n");
            break;
        case '\f':
            rc = weft_buf_puts(out, "\\f");
            break;
        case '\r':
            rc = weft_buf_puts(out, "\\r");
            break;
        default:
            rc = *p < 0x20 || *p == 0x7f ? weft_buf_printf(out, "\\u%04X", *p)
                                         : weft_buf_append(out, p, 1);
        }
    }
    return rc ? rc : weft_buf_puts(out, "\"");
}

static const char *dialect(weft_app_filter_kind_t kind) {
    switch (kind) {
    case WEFT_APP_FILTER_EXACT:
        return "exact";
    case WEFT_APP_FILTER_PREFIX:
        return "prefix";
    case WEFT_APP_FILTER_SUFFIX:
        return "suffix";
    case WEFT_APP_FILTER_ALL:
        return "all";
    case WEFT_APP_FILTER_ANY:
        return "any";
    case WEFT_APP_FILTER_NOT:
        return "not";
    case WEFT_APP_FILTER_CESQL:
        return "cesql";
    }
    return "?";
}

static int toml_filter(const weft_app_filter_t *f, weft_buf_t *out) {
    int rc = weft_buf_printf(out, "{ %s = ", dialect(f->kind));
    switch (f->kind) {
    case WEFT_APP_FILTER_EXACT:
    case WEFT_APP_FILTER_PREFIX:
    case WEFT_APP_FILTER_SUFFIX:
        /* The attribute is [a-z0-9]{1,20}: a bare key. */
        if (!rc)
            rc = weft_buf_printf(out, "{ %s = ", f->attribute);
        if (!rc)
            rc = toml_string(f->value, out);
        if (!rc)
            rc = weft_buf_puts(out, " }");
        break;
    case WEFT_APP_FILTER_ALL:
    case WEFT_APP_FILTER_ANY:
        if (!rc)
            rc = weft_buf_puts(out, "[");
        for (size_t i = 0; !rc && i < f->nchildren; i++) {
            if (i)
                rc = weft_buf_puts(out, ", ");
            if (!rc)
                rc = toml_filter(&f->children[i], out);
        }
        if (!rc)
            rc = weft_buf_puts(out, "]");
        break;
    case WEFT_APP_FILTER_NOT:
        if (!rc && f->nchildren == 1)
            rc = toml_filter(&f->children[0], out);
        break;
    case WEFT_APP_FILTER_CESQL:
        if (!rc)
            rc = toml_string(f->value, out);
        break;
    }
    return rc ? rc : weft_buf_puts(out, " }");
}

int weft_filter_toml(const weft_app_filter_t *filters, size_t n, weft_buf_t *out) {
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = weft_buf_puts(out, ", ");
        if (!rc)
            rc = toml_filter(&filters[i], out);
    }
    return rc;
}
