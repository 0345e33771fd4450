/* app_events: weft.toml's [[broker]], [[target]] and [[trigger]] read into the app model
 * (contract in app.h, "The events half").
 *
 * The sections are read in that order, after [[function]], so that each name it refers
 * to is already known: a target's function, a trigger's broker, target and dead
 * letter. A reference that names nothing, a filter that could match every event by
 * mistake, a name that would be ambiguous: all are refused here, with the line, so
 * that `weft up` never starts with a trigger that does something else than written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Room for "[[trigger]] 'name'" and for "'key' in [[trigger]] 'name'". */
#define WHO_MAX 512

/* "[[trigger]] 'x'" (or "[[trigger]]" before the name is known) into buf. */
static const char *who(const where_t *w, char *buf, size_t size) {
    snprintf(buf, size, "%s%s%s%s", w->section, w->item ? " '" : "", w->item ? w->item : "",
             w->item ? "'" : "");
    return buf;
}

/* A broker's or trigger's name: see WEFT_APP_MAX_NAME. */
static bool valid_event_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > WEFT_APP_MAX_NAME || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

#define EVENT_NAME_RULE                                                                            \
    "may hold only lower-case letters, digits and '-', start and end with a letter or a "          \
    "digit, and be at most %d characters long"

static size_t find_function(const weft_app_t *app, const char *name) {
    for (size_t i = 0; i < app->nfunctions; i++)
        if (!strcmp(app->functions[i].name, name))
            return i;
    return SIZE_MAX;
}

static size_t find_target(const weft_app_t *app, const char *name) {
    for (size_t i = 0; i < app->ntargets; i++)
        if (!strcmp(app->targets[i].name, name))
            return i;
    return SIZE_MAX;
}

/* What a trigger's target or dead_letter names. Target and function names never clash
 * (parse_target refuses it), so the order of the look-ups does not matter. */
static bool find_ref(const weft_app_t *app, const char *name, int line, weft_app_ref_t *out) {
    size_t i = find_target(app, name);
    if (i != SIZE_MAX) {
        *out = (weft_app_ref_t){WEFT_APP_REF_TARGET, i, line};
        return true;
    }
    if ((i = find_function(app, name)) != SIZE_MAX) {
        *out = (weft_app_ref_t){WEFT_APP_REF_FUNCTION, i, line};
        return true;
    }
    return false;
}

/* A string key read as one of names[] (NULL-terminated), *out its index; absent: *out
 * unchanged. expected is what the message lists ("\"binary\" or \"structured\""). */
static int get_choice(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                      const char *const *names, const char *expected, int *out) {
    const char *s;
    int rc = weft_app_get_string(c, t, w, key, &s);
    if (rc || !s)
        return rc;
    for (int i = 0; names[i]; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    }
    char where[WHO_MAX];
    return weft_app_fail(c, weft_toml_get(t, key)->line, "%s: '%s' is not %s",
                         weft_app_where_key(w, key, where, sizeof where), s, expected);
}

/* ---- [[broker]] ---------------------------------------------------------------------- */

static int parse_broker(ctx_t *c, const weft_toml_value_t *t, weft_app_t *app) {
    static const char *const keys[] = {
        "name", "retention", "max_event_size", "backend", "claim_after", "max_deliveries", NULL};
    where_t w = {"[[broker]]", NULL, NULL};
    char where[WHO_MAX];
    const char *name;
    int rc = weft_app_get_string(c, t, &w, "name", &name);
    if (rc)
        return rc;
    if (!name)
        return weft_app_fail(c, t->line, "[[broker]] needs a 'name'");
    if (!valid_event_name(name))
        return weft_app_fail(c, weft_toml_get(t, "name")->line, "broker name '%s' " EVENT_NAME_RULE,
                             name, WEFT_APP_MAX_NAME);
    w.item = name;
    if ((rc = weft_app_check_keys(c, t, &w, keys)))
        return rc;
    for (size_t i = 0; i < app->nbrokers; i++)
        if (!strcmp(app->brokers[i].name, name))
            return weft_app_fail(c, t->line, "broker '%s' is already declared on line %d", name,
                                 app->brokers[i].line);
    if ((rc = weft_app_grow(c, (void **)&app->brokers, app->nbrokers, sizeof *app->brokers,
                            "brokers")))
        return rc;
    weft_app_broker_t *b = &app->brokers[app->nbrokers++];
    b->line = t->line;
    b->retention_ns = WEFT_APP_DEFAULT_RETENTION_NS;
    b->max_event_size = WEFT_APP_DEFAULT_MAX_EVENT_SIZE;
    b->claim_after_ns = WEFT_APP_DEFAULT_CLAIM_AFTER_NS;
    b->max_deliveries = WEFT_APP_DEFAULT_MAX_DELIVERIES;
    if (!(b->name = strdup(name)))
        return weft_app_nomem(c);
    if ((rc = weft_app_get_positive_duration(c, t, &w, "retention", &b->retention_ns)) ||
        (rc = weft_app_get_size(c, t, &w, "max_event_size", &b->max_event_size)) ||
        (rc = weft_app_get_positive_duration(c, t, &w, "claim_after", &b->claim_after_ns)) ||
        (rc = weft_app_get_positive_u32(c, t, &w, "max_deliveries", &b->max_deliveries)) ||
        (rc = weft_app_dup_string(c, t, &w, "backend", &b->backend)))
        return rc;
    if (b->backend && strncmp(b->backend, "redis://", 8) &&
        strncmp(b->backend, "redis+unix://", 13))
        return weft_app_fail(c, weft_toml_get(t, "backend")->line,
                             "%s: expected a Redis location (redis://HOST[:PORT][/DB] or "
                             "redis+unix:///PATH); without it the broker's log is the embedded "
                             "one in [app] state_dir",
                             weft_app_where_key(&w, "backend", where, sizeof where));
    if (!b->backend && weft_toml_get(t, "max_deliveries"))
        return weft_app_fail(c, weft_toml_get(t, "max_deliveries")->line,
                             "%s is for a broker with a 'backend' (a log several nodes share, "
                             "where an event can be taken over from a node that stopped); the "
                             "embedded log is read by one process",
                             weft_app_where_key(&w, "max_deliveries", where, sizeof where));
    if (b->claim_after_ns < 1000000000ull)
        return weft_app_fail(c, weft_toml_get(t, "claim_after")->line,
                             "%s must be at least 1s (a node holds its events for a third of it "
                             "between two words to Redis)",
                             weft_app_where_key(&w, "claim_after", where, sizeof where));
    /* An event of 64 KiB is always accepted (what a sender may count on everywhere). */
    if (b->max_event_size < WEFT_APP_MIN_EVENT_SIZE)
        return weft_app_fail(c, weft_toml_get(t, "max_event_size")->line,
                             "%s must be at least %lluKiB (an event of %llu KiB is always "
                             "accepted), not %llu bytes",
                             weft_app_where_key(&w, "max_event_size", where, sizeof where),
                             WEFT_APP_MIN_EVENT_SIZE >> 10, WEFT_APP_MIN_EVENT_SIZE >> 10,
                             (unsigned long long)b->max_event_size);
    if (b->max_event_size > WEFT_APP_MAX_EVENT_SIZE)
        return weft_app_fail(c, weft_toml_get(t, "max_event_size")->line,
                             "%s must be at most %lluMiB, not %llu bytes",
                             weft_app_where_key(&w, "max_event_size", where, sizeof where),
                             WEFT_APP_MAX_EVENT_SIZE >> 20, (unsigned long long)b->max_event_size);
    return 0;
}

int weft_app_parse_brokers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, v->line, "'broker' must be an array of tables ([[broker]])");
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line, "'broker' must be an array of tables ([[broker]])");
        int rc = parse_broker(c, t, app);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- [[target]] ---------------------------------------------------------------------- */

/* What is wrong with a target's URL, or NULL. Only what libcurl would otherwise take
 * for something else, or send nowhere, is checked: the scheme, a host, the port. */
static const char *url_problem(const char *u) {
    size_t skip;
    if (!strncasecmp(u, "http://", 7))
        skip = 7;
    else if (!strncasecmp(u, "https://", 8))
        skip = 8;
    else
        return "must start with http:// or https://";
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return "must hold printable ASCII only, no spaces (percent-encode the rest)";
    const char *auth = u + skip;
    size_t alen = strcspn(auth, "/?#");
    /* userinfo@host:port: the host starts after the last '@' of the authority. */
    for (size_t i = alen; i > 0; i--) {
        if (auth[i - 1] == '@') {
            alen -= i;
            auth += i;
            break;
        }
    }
    const char *port = NULL;
    size_t hlen;
    if (alen && auth[0] == '[') { /* [IPv6] */
        const char *close = memchr(auth, ']', alen);
        if (!close || close == auth + 1)
            return "has an IPv6 host without its closing ']'";
        hlen = (size_t)(close - auth) + 1;
        if (hlen < alen) {
            if (auth[hlen] != ':')
                return "has something between its host and its port";
            port = auth + hlen + 1;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        port = colon ? colon + 1 : NULL;
    }
    if (!hlen)
        return "has no host";
    if (port) {
        size_t plen = (size_t)(auth + alen - port);
        unsigned long n = 0;
        if (!plen || plen > 5)
            return "has an invalid port (1 to 65535)";
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return "has an invalid port (1 to 65535)";
            n = n * 10 + (unsigned long)(port[i] - '0');
        }
        if (n == 0 || n > 65535)
            return "has an invalid port (1 to 65535)";
    }
    return NULL;
}

static int parse_target(ctx_t *c, const weft_toml_value_t *t, weft_app_t *app) {
    static const char *const keys[] = {"name", "url", "function", "mode", NULL};
    static const char *const modes[] = {"binary", "structured", NULL};
    where_t w = {"[[target]]", NULL, NULL};
    const char *name, *url, *fn;
    int rc = weft_app_get_string(c, t, &w, "name", &name);
    if (rc)
        return rc;
    if (!name)
        return weft_app_fail(c, t->line, "[[target]] needs a 'name'");
    if (!weft_app_valid_name(name))
        return weft_app_fail(c, weft_toml_get(t, "name")->line,
                             "target name '%s' may hold only letters, digits, '-', '_' and '.'",
                             name);
    w.item = name;
    if ((rc = weft_app_check_keys(c, t, &w, keys)) ||
        (rc = weft_app_get_string(c, t, &w, "url", &url)) ||
        (rc = weft_app_get_string(c, t, &w, "function", &fn)))
        return rc;
    size_t k = find_target(app, name);
    if (k != SIZE_MAX)
        return weft_app_fail(c, t->line, "target '%s' is already declared on line %d", name,
                             app->targets[k].line);
    /* A trigger's target = "x" names a [[target]] or a [[function]]: both named x would
     * leave the reader to guess which one is meant. */
    if ((k = find_function(app, name)) != SIZE_MAX)
        return weft_app_fail(c, t->line,
                             "target '%s' has the name of the [[function]] on line %d (a "
                             "trigger's 'target' names either): give it another name",
                             name, app->functions[k].line);
    if (url && fn)
        return weft_app_fail(c, t->line,
                             "[[target]] '%s' has both a 'url' and a 'function': give one", name);
    if (!url && !fn)
        return weft_app_fail(c, t->line, "[[target]] '%s' needs a 'url' or a 'function'", name);
    size_t f = SIZE_MAX;
    if (fn && (f = find_function(app, fn)) == SIZE_MAX)
        return weft_app_fail(c, weft_toml_get(t, "function")->line,
                             "[[target]] '%s': no [[function]] is named '%s'", name, fn);
    const char *why = url ? url_problem(url) : NULL;
    if (why)
        return weft_app_fail(c, weft_toml_get(t, "url")->line, "[[target]] '%s': url '%s' %s", name,
                             url, why);
    int mode = WEFT_APP_MODE_BINARY;
    if ((rc = get_choice(c, t, &w, "mode", modes, "\"binary\" or \"structured\"", &mode)))
        return rc;
    if (fn && mode == WEFT_APP_MODE_STRUCTURED)
        return weft_app_fail(c, weft_toml_get(t, "mode")->line,
                             "[[target]] '%s': mode \"structured\" is for a 'url'; a function "
                             "target is called in binary mode",
                             name);
    if ((rc = weft_app_grow(c, (void **)&app->targets, app->ntargets, sizeof *app->targets,
                            "targets")))
        return rc;
    weft_app_target_t *tg = &app->targets[app->ntargets++];
    tg->line = t->line;
    tg->mode = (weft_app_mode_t)mode;
    tg->function = f;
    if (!(tg->name = strdup(name)) || (url && !(tg->url = strdup(url))))
        return weft_app_nomem(c);
    return 0;
}

int weft_app_parse_targets(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, v->line, "'target' must be an array of tables ([[target]])");
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line, "'target' must be an array of tables ([[target]])");
        int rc = parse_target(c, t, app);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- filters ------------------------------------------------------------------------- */

static const char *const dialects[] = {"exact", "prefix", "suffix", "all",
                                       "any",   "not",    "cesql",  NULL};
#define DIALECTS "exact, prefix, suffix, all, any, not or cesql"

static bool valid_attribute_name(const weft_toml_kv_t *kv) {
    if (!kv->key_len || kv->key_len > WEFT_APP_MAX_ATTRIBUTE_NAME)
        return false;
    for (size_t i = 0; i < kv->key_len; i++)
        if (!((kv->key[i] >= 'a' && kv->key[i] <= 'z') || (kv->key[i] >= '0' && kv->key[i] <= '9')))
            return false;
    return true;
}

static int parse_filter(ctx_t *c, const char *who, const weft_toml_value_t *v,
                        weft_app_filter_t *f);

/* { exact = { attr = "value", ... } } and its prefix and suffix kin into f: one leaf,
 * or an ALL of one leaf per attribute. */
static int parse_attributes(ctx_t *c, const char *who, const char *dialect,
                            weft_app_filter_kind_t kind, const weft_toml_value_t *x,
                            weft_app_filter_t *f) {
    if (x->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, x->line,
                             "%s: '%s' must be a table of attribute = \"value\", not %s", who,
                             dialect, weft_app_type_name(x));
    if (!x->u.tab.len)
        return weft_app_fail(c, x->line,
                             "%s: '%s' names no attribute (an empty filter would match every "
                             "event)",
                             who, dialect);
    if (x->u.tab.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, x->line, "%s: '%s' names more than %d attributes", who, dialect,
                             WEFT_APP_MAX_LIST);
    weft_app_filter_t *leaves = f;
    if (x->u.tab.len > 1) {
        f->kind = WEFT_APP_FILTER_ALL;
        if (!(f->children = calloc(x->u.tab.len, sizeof *f->children)))
            return weft_app_nomem(c);
        f->nchildren = x->u.tab.len;
        leaves = f->children;
    }
    for (size_t i = 0; i < x->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &x->u.tab.items[i];
        const weft_toml_value_t *e = kv->value;
        weft_app_filter_t *leaf = &leaves[i];
        if (!valid_attribute_name(kv))
            return weft_app_fail(c, e->line,
                                 "%s: '%s' in '%s' is not a CloudEvents attribute name (1 to %d "
                                 "lower-case letters or digits)",
                                 who, kv->key, dialect, WEFT_APP_MAX_ATTRIBUTE_NAME);
        if (!strcmp(kv->key, "data"))
            return weft_app_fail(c, e->line,
                                 "%s: 'data' in '%s' is the event's payload, not an attribute: "
                                 "filters see attributes only",
                                 who, dialect);
        if (e->type != WEFT_TOML_STRING)
            return weft_app_fail(c, e->line, "%s: attribute '%s' in '%s' must be a string, not %s",
                                 who, kv->key, dialect, weft_app_type_name(e));
        if (strlen(e->u.str.ptr) != e->u.str.len)
            return weft_app_fail(c, e->line,
                                 "%s: attribute '%s' in '%s' must not contain a NUL character", who,
                                 kv->key, dialect);
        if (!e->u.str.len)
            return weft_app_fail(c, e->line, "%s: attribute '%s' in '%s' has an empty value", who,
                                 kv->key, dialect);
        leaf->kind = kind;
        leaf->line = e->line;
        if (!(leaf->attribute = strdup(kv->key)) || !(leaf->value = strdup(e->u.str.ptr)))
            return weft_app_nomem(c);
    }
    return 0;
}

/* { all = [ ... ] } and { any = [ ... ] }: at least one filter each. */
static int parse_list(ctx_t *c, const char *who, const char *dialect, const weft_toml_value_t *x,
                      weft_app_filter_t *f) {
    if (x->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, x->line, "%s: '%s' must be an array of filter tables, not %s", who,
                             dialect, weft_app_type_name(x));
    if (!x->u.arr.len)
        return weft_app_fail(c, x->line, "%s: '%s' holds no filter (it would match %s event)", who,
                             dialect, f->kind == WEFT_APP_FILTER_ALL ? "every" : "no");
    if (x->u.arr.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, x->line, "%s: '%s' holds more than %d filters", who, dialect,
                             WEFT_APP_MAX_LIST);
    if (!(f->children = calloc(x->u.arr.len, sizeof *f->children)))
        return weft_app_nomem(c);
    f->nchildren = x->u.arr.len;
    for (size_t i = 0; i < x->u.arr.len; i++) {
        int rc = parse_filter(c, who, x->u.arr.items[i], &f->children[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* One filter table into f (zeroed; what it allocates is freed with the trigger even
 * when this fails half-way). The recursion is as deep as the TOML nesting, which the
 * TOML parser bounds (WEFT_TOML_MAX_DEPTH). */
static int parse_filter(ctx_t *c, const char *who, const weft_toml_value_t *v,
                        weft_app_filter_t *f) {
    f->line = v->line;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line,
                             "%s: a filter must be a table like { exact = { type = \"...\" } }, "
                             "not %s",
                             who, weft_app_type_name(v));
    if (!v->u.tab.len)
        return weft_app_fail(c, v->line, "%s: empty filter table: it needs one of " DIALECTS, who);
    int d = -1;
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        int k;
        for (k = 0; dialects[k] && (kv->key_len != strlen(dialects[k]) ||
                                    memcmp(kv->key, dialects[k], kv->key_len));
             k++)
            ;
        if (!dialects[k])
            return weft_app_fail(c, kv->value->line,
                                 "%s: unknown filter dialect '%s' (" DIALECTS ")", who, kv->key);
        if (d >= 0)
            return weft_app_fail(c, kv->value->line,
                                 "%s: a filter table holds one dialect, not both '%s' and '%s' "
                                 "(combine filters with all = [...])",
                                 who, dialects[d], dialects[k]);
        d = k;
    }
    const weft_toml_value_t *x = v->u.tab.items[0].value;
    static const weft_app_filter_kind_t kinds[] = {
        WEFT_APP_FILTER_EXACT, WEFT_APP_FILTER_PREFIX, WEFT_APP_FILTER_SUFFIX, WEFT_APP_FILTER_ALL,
        WEFT_APP_FILTER_ANY,   WEFT_APP_FILTER_NOT,    WEFT_APP_FILTER_CESQL};
    f->kind = kinds[d];
    switch (f->kind) {
    case WEFT_APP_FILTER_EXACT:
    case WEFT_APP_FILTER_PREFIX:
    case WEFT_APP_FILTER_SUFFIX:
        return parse_attributes(c, who, dialects[d], f->kind, x, f);
    case WEFT_APP_FILTER_ALL:
    case WEFT_APP_FILTER_ANY:
        return parse_list(c, who, dialects[d], x, f);
    case WEFT_APP_FILTER_NOT:
        if (x->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, x->line, "%s: 'not' must be a filter table, not %s", who,
                                 weft_app_type_name(x));
        if (!(f->children = calloc(1, sizeof *f->children)))
            return weft_app_nomem(c);
        f->nchildren = 1;
        return parse_filter(c, who, x, f->children);
    case WEFT_APP_FILTER_CESQL:
        if (x->type != WEFT_TOML_STRING)
            return weft_app_fail(c, x->line, "%s: 'cesql' must be a string (an expression), not %s",
                                 who, weft_app_type_name(x));
        if (strlen(x->u.str.ptr) != x->u.str.len)
            return weft_app_fail(c, x->line, "%s: 'cesql' must not contain a NUL character", who);
        if (!x->u.str.ptr[strspn(x->u.str.ptr, " \t\r\n")])
            return weft_app_fail(c, x->line, "%s: 'cesql' is empty", who);
        f->line = x->line;
        if (!(f->value = strdup(x->u.str.ptr)))
            return weft_app_nomem(c);
        return 0;
    }
    return 0;
}

static void filter_free(weft_app_filter_t *f) {
    free(f->attribute);
    free(f->value);
    for (size_t i = 0; i < f->nchildren; i++)
        filter_free(&f->children[i]);
    free(f->children);
}

/* ---- [[trigger]] --------------------------------------------------------------------- */

static int parse_delivery(ctx_t *c, const weft_toml_value_t *t, const where_t *tw, weft_app_t *app,
                          weft_app_delivery_t *d) {
    static const char *const keys[] = {"retry",       "backoff_policy",  "backoff_delay", "timeout",
                                       "dead_letter", "retry_after_max", "parallelism",   NULL};
    static const char *const policies[] = {"exponential", "linear", NULL};
    char where[WHO_MAX], item[WHO_MAX];
    d->retry = WEFT_APP_DEFAULT_RETRY;
    d->backoff_policy = WEFT_APP_BACKOFF_EXPONENTIAL;
    d->backoff_delay_ns = WEFT_APP_DEFAULT_BACKOFF_DELAY_NS;
    d->timeout_ns = WEFT_APP_DEFAULT_DELIVERY_TIMEOUT_NS;
    d->retry_after_max_ns = WEFT_APP_DEFAULT_RETRY_AFTER_MAX_NS;
    d->parallelism = WEFT_APP_DEFAULT_PARALLELISM;
    d->line = t->line;
    const weft_toml_value_t *v = weft_toml_get(t, "delivery");
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, tw, "delivery", v, "a table like { retry = 3 }");
    d->line = v->line;
    where_t w = {tw->section, tw->item, "delivery"};
    int policy = WEFT_APP_BACKOFF_EXPONENTIAL;
    const char *dls;
    int rc;
    if ((rc = weft_app_check_keys(c, v, &w, keys)) ||
        (rc = weft_app_get_u32(c, v, &w, "retry", &d->retry)) ||
        (rc = get_choice(c, v, &w, "backoff_policy", policies, "\"exponential\" or \"linear\"",
                         &policy)) ||
        (rc = weft_app_get_duration(c, v, &w, "backoff_delay", &d->backoff_delay_ns)) ||
        (rc = weft_app_get_positive_duration(c, v, &w, "timeout", &d->timeout_ns)) ||
        (rc = weft_app_get_string(c, v, &w, "dead_letter", &dls)) ||
        (rc = weft_app_get_duration(c, v, &w, "retry_after_max", &d->retry_after_max_ns)) ||
        (rc = weft_app_get_positive_u32(c, v, &w, "parallelism", &d->parallelism)))
        return rc;
    d->backoff_policy = (weft_app_backoff_t)policy;
    if (d->retry > WEFT_APP_MAX_RETRY)
        return weft_app_fail(c, weft_toml_get(v, "retry")->line, "%s must be at most %d, not %u",
                             weft_app_where_key(&w, "retry", where, sizeof where),
                             WEFT_APP_MAX_RETRY, d->retry);
    if (d->parallelism > WEFT_APP_MAX_PARALLELISM)
        return weft_app_fail(c, weft_toml_get(v, "parallelism")->line,
                             "%s must be at most %d, not %u",
                             weft_app_where_key(&w, "parallelism", where, sizeof where),
                             WEFT_APP_MAX_PARALLELISM, d->parallelism);
    if (dls) {
        int line = weft_toml_get(v, "dead_letter")->line;
        if (!find_ref(app, dls, line, &d->dead_letter))
            return weft_app_fail(c, line,
                                 "%s: dead_letter '%s' is neither a [[target]] nor a [[function]]",
                                 who(tw, item, sizeof item), dls);
    }
    return 0;
}

/* The name of an unnamed trigger (see weft_app_trigger_t.name) into out; false when it
 * would be too long to be a name. */
static bool default_trigger_name(const weft_app_t *app, size_t broker, const weft_app_ref_t *target,
                                 const char *target_name, char *out, size_t size) {
    unsigned n = 1;
    for (size_t i = 0; i < app->ntriggers; i++) {
        const weft_app_trigger_t *o = &app->triggers[i];
        if (!o->named && o->broker == broker && o->target.kind == target->kind &&
            o->target.index == target->index)
            n++;
    }
    const char *bname = app->brokers[broker].name;
    int len = snprintf(out, size, "%s-%s-%u", bname, target_name, n);
    if (len < 0 || (size_t)len >= size)
        return false;
    for (char *p = out + strlen(bname) + 1; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '-';
    }
    return valid_event_name(out);
}

static int parse_trigger(ctx_t *c, const weft_toml_value_t *t, weft_app_t *app) {
    static const char *const keys[] = {"name",     "broker", "target", "filters",
                                       "delivery", "from",   NULL};
    static const char *const froms[] = {"latest", "earliest", NULL};
    where_t w = {"[[trigger]]", NULL, NULL};
    char item[WHO_MAX], derived[WEFT_APP_MAX_NAME + 1];
    const char *name, *broker, *target;
    int rc = weft_app_get_string(c, t, &w, "name", &name);
    if (rc)
        return rc;
    if (name && !valid_event_name(name))
        return weft_app_fail(c, weft_toml_get(t, "name")->line,
                             "trigger name '%s' " EVENT_NAME_RULE, name, WEFT_APP_MAX_NAME);
    w.item = name;
    if ((rc = weft_app_check_keys(c, t, &w, keys)) ||
        (rc = weft_app_get_string(c, t, &w, "broker", &broker)) ||
        (rc = weft_app_get_string(c, t, &w, "target", &target)))
        return rc;
    if (!broker)
        return weft_app_fail(c, t->line, "%s needs a 'broker'", who(&w, item, sizeof item));
    if (!target)
        return weft_app_fail(c, t->line, "%s needs a 'target' (a [[target]] or a [[function]])",
                             who(&w, item, sizeof item));
    /* Before a name is derived from them, the broker and target must exist. */
    size_t b;
    for (b = 0; b < app->nbrokers && strcmp(app->brokers[b].name, broker); b++)
        ;
    if (b == app->nbrokers)
        return weft_app_fail(c, weft_toml_get(t, "broker")->line, "%s: no [[broker]] is named '%s'",
                             who(&w, item, sizeof item), broker);
    weft_app_ref_t ref;
    if (!find_ref(app, target, weft_toml_get(t, "target")->line, &ref))
        return weft_app_fail(c, weft_toml_get(t, "target")->line,
                             "%s: target '%s' is neither a [[target]] nor a [[function]]",
                             who(&w, item, sizeof item), target);
    if (!name) {
        if (!default_trigger_name(app, b, &ref, target, derived, sizeof derived))
            return weft_app_fail(c, t->line,
                                 "[[trigger]] needs a 'name': its default name ('%s-%s-N') would "
                                 "be longer than %d characters",
                                 broker, target, WEFT_APP_MAX_NAME);
        w.item = derived;
    }
    for (size_t i = 0; i < app->ntriggers; i++) {
        const weft_app_trigger_t *o = &app->triggers[i];
        if (strcmp(o->name, w.item))
            continue;
        return weft_app_fail(c, t->line, "trigger '%s' is already declared on line %d%s", w.item,
                             o->line,
                             name && o->named ? ""
                                              : " (an unnamed trigger is named "
                                                "BROKER-TARGET-N): give one of them a 'name'");
    }
    if ((rc = weft_app_grow(c, (void **)&app->triggers, app->ntriggers, sizeof *app->triggers,
                            "triggers")))
        return rc;
    weft_app_trigger_t *tr = &app->triggers[app->ntriggers++];
    tr->line = t->line;
    tr->named = name != NULL;
    tr->broker = b;
    tr->target = ref;
    if (!(tr->name = strdup(w.item)))
        return weft_app_nomem(c);
    const char *me = who(&w, item, sizeof item); /* for the filters' messages */
    const weft_toml_value_t *fv = weft_toml_get(t, "filters");
    if (fv) {
        if (fv->type != WEFT_TOML_ARRAY)
            return weft_app_fail_type(c, &w, "filters", fv,
                                      "an array of filter tables like [{ exact = { type = "
                                      "\"...\" } }]");
        if (fv->u.arr.len > WEFT_APP_MAX_LIST)
            return weft_app_fail(c, fv->line, "%s: more than %d filters", me, WEFT_APP_MAX_LIST);
        if (fv->u.arr.len && !(tr->filters = calloc(fv->u.arr.len, sizeof *tr->filters)))
            return weft_app_nomem(c);
        tr->nfilters = fv->u.arr.len;
        for (size_t i = 0; i < fv->u.arr.len; i++)
            if ((rc = parse_filter(c, me, fv->u.arr.items[i], &tr->filters[i])))
                return rc;
    }
    int from = WEFT_APP_FROM_LATEST;
    if ((rc = parse_delivery(c, t, &w, app, &tr->delivery)) ||
        (rc = get_choice(c, t, &w, "from", froms, "\"latest\" or \"earliest\"", &from)))
        return rc;
    tr->from = (weft_app_from_t)from;
    return 0;
}

int weft_app_parse_triggers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, v->line, "'trigger' must be an array of tables ([[trigger]])");
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line, "'trigger' must be an array of tables ([[trigger]])");
        int rc = parse_trigger(c, t, app);
        if (rc)
            return rc;
    }
    return 0;
}

void weft_app_events_free(weft_app_t *app) {
    for (size_t i = 0; i < app->nbrokers; i++) {
        free(app->brokers[i].name);
        free(app->brokers[i].backend);
    }
    free(app->brokers);
    for (size_t i = 0; i < app->ntargets; i++) {
        free(app->targets[i].name);
        free(app->targets[i].url);
    }
    free(app->targets);
    for (size_t i = 0; i < app->ntriggers; i++) {
        weft_app_trigger_t *tr = &app->triggers[i];
        free(tr->name);
        for (size_t k = 0; k < tr->nfilters; k++)
            filter_free(&tr->filters[k]);
        free(tr->filters);
    }
    free(app->triggers);
}
