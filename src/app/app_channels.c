/* app_channels: Redis channels in the app model (contract in app.h, "Redis channels"):
 * weft.toml's [[redis_trigger]] and [[source]], and what spin.c shares with them to add
 * Spin's Redis triggers.
 *
 * weft.toml's shape. Spin v2 writes its Redis triggers [[trigger.redis]], but weft.toml's
 * `trigger` is already the array of the brokers' [[trigger]] tables (TOML cannot make it
 * a table of arrays as well), so the same keys live in [[redis_trigger]]:
 *   [[redis_trigger]]
 *   address = "redis://127.0.0.1:6379"   # required (weft.toml has no app-wide default)
 *   channel = "messages"
 *   function = "on-message"               # a [[function]], as a route names one
 * A broker source is a [[source]] with a type, so that later kinds of source take the
 * same table:
 *   [[source]]
 *   type = "redis"
 *   address = "redis://127.0.0.1:6379"
 *   channel = "orders"
 *   broker = "default"
 *   event_type = "..."      # optional: WEFT_APP_REDIS_EVENT_TYPE
 *   event_source = "..."    # optional: the address without credentials
 *   content_type = "..."    # optional: no datacontenttype
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int weft_app_redis_address_check(ctx_t *c, const char *address, int line, const char *who) {
    if (!strncmp(address, "redis://", 8) || !strncmp(address, "redis+unix://", 13))
        return 0;
    return weft_app_fail(c, line,
                         "%s: address '%.200s' is not a Redis location "
                         "(redis://HOST[:PORT][/DB] or redis+unix:///PATH)",
                         who, address);
}

static int channel_check(ctx_t *c, const char *channel, size_t len, int line, const char *who) {
    if (!len || len != strlen(channel))
        return weft_app_fail(c, line, "%s: the channel is empty or holds a NUL", who);
    if (len > WEFT_APP_MAX_CHANNEL)
        return weft_app_fail(c, line, "%s: a channel name of more than %d bytes", who,
                             WEFT_APP_MAX_CHANNEL);
    return 0;
}

int weft_app_add_redis_trigger(ctx_t *c, weft_app_t *app, const char *address, const char *channel,
                               size_t function, int line, const char *who) {
    int rc = weft_app_redis_address_check(c, address, line, who);
    if (rc || (rc = channel_check(c, channel, strlen(channel), line, who)))
        return rc;
    if ((rc = weft_app_grow(c, (void **)&app->redis_triggers, app->nredis_triggers,
                            sizeof *app->redis_triggers, "Redis triggers")))
        return rc;
    weft_app_redis_trigger_t *t = &app->redis_triggers[app->nredis_triggers++];
    t->function = function;
    t->line = line;
    if (!(t->address = strdup(address)) || !(t->channel = strdup(channel)))
        return weft_app_nomem(c);
    return 0;
}

static size_t find_function(const weft_app_t *app, const char *name) {
    for (size_t i = 0; i < app->nfunctions; i++)
        if (!strcmp(app->functions[i].name, name))
            return i;
    return SIZE_MAX;
}

/* A required string key: its value, or an error naming the table. */
static int need_string(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                       const char **out) {
    *out = NULL;
    int rc = weft_app_get_string(c, t, w, key, out);
    if (!rc && !*out)
        rc = weft_app_fail(c, t->line, "%s needs %s '%s'", w->section,
                           strchr("aeiou", key[0]) ? "an" : "a", key);
    return rc;
}

static int parse_redis_trigger(ctx_t *c, const weft_toml_value_t *t, weft_app_t *app) {
    static const char *const keys[] = {"address", "channel", "function", NULL};
    where_t w = {"[[redis_trigger]]", NULL, NULL};
    const char *address, *channel, *fn;
    int rc;
    if ((rc = weft_app_check_keys(c, t, &w, keys)) ||
        (rc = need_string(c, t, &w, "address", &address)) ||
        (rc = need_string(c, t, &w, "channel", &channel)) ||
        (rc = need_string(c, t, &w, "function", &fn)))
        return rc;
    size_t k = find_function(app, fn);
    if (k == SIZE_MAX)
        return weft_app_fail(c, weft_toml_get(t, "function")->line,
                             "[[redis_trigger]]: no [[function]] is named '%s'", fn);
    return weft_app_add_redis_trigger(c, app, address, channel, k, t->line, "[[redis_trigger]]");
}

static int parse_source(ctx_t *c, const weft_toml_value_t *t, weft_app_t *app) {
    static const char *const keys[] = {"type",       "address",      "channel",      "broker",
                                       "event_type", "event_source", "content_type", NULL};
    where_t w = {"[[source]]", NULL, NULL};
    const char *type, *address, *channel, *broker;
    int rc;
    if ((rc = weft_app_check_keys(c, t, &w, keys)) || (rc = need_string(c, t, &w, "type", &type)))
        return rc;
    if (strcmp(type, "redis"))
        return weft_app_fail(c, weft_toml_get(t, "type")->line,
                             "[[source]]: type '%s' is not one weft has (\"redis\")", type);
    if ((rc = need_string(c, t, &w, "address", &address)) ||
        (rc = need_string(c, t, &w, "channel", &channel)) ||
        (rc = need_string(c, t, &w, "broker", &broker)) ||
        (rc = weft_app_redis_address_check(c, address, weft_toml_get(t, "address")->line,
                                           "[[source]]")) ||
        (rc = channel_check(c, channel, weft_toml_get(t, "channel")->u.str.len,
                            weft_toml_get(t, "channel")->line, "[[source]]")))
        return rc;
    size_t b;
    for (b = 0; b < app->nbrokers && strcmp(app->brokers[b].name, broker); b++)
        ;
    if (b == app->nbrokers)
        return weft_app_fail(c, weft_toml_get(t, "broker")->line,
                             "[[source]]: no [[broker]] is named '%s'", broker);
    if ((rc = weft_app_grow(c, (void **)&app->sources, app->nsources, sizeof *app->sources,
                            "sources")))
        return rc;
    weft_app_source_t *s = &app->sources[app->nsources++];
    s->broker = b;
    s->line = t->line;
    if (!(s->address = strdup(address)) || !(s->channel = strdup(channel)))
        return weft_app_nomem(c);
    if ((rc = weft_app_dup_string(c, t, &w, "event_type", &s->event_type)) ||
        (rc = weft_app_dup_string(c, t, &w, "event_source", &s->event_source)) ||
        (rc = weft_app_dup_string(c, t, &w, "content_type", &s->content_type)))
        return rc;
    /* Empty attributes would make every event invalid: refused here, with the line. */
    const char *const attrs[] = {"event_type", "event_source", "content_type"};
    const char *const vals[] = {s->event_type, s->event_source, s->content_type};
    for (size_t i = 0; i < 3; i++)
        if (vals[i] && !*vals[i])
            return weft_app_fail(c, weft_toml_get(t, attrs[i])->line, "[[source]]: '%s' is empty",
                                 attrs[i]);
    if (!s->event_type && !(s->event_type = strdup(WEFT_APP_REDIS_EVENT_TYPE)))
        return weft_app_nomem(c);
    return 0;
}

/* An array of tables, each read by parse. */
static int each_table(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app, const char *key,
                      int (*parse)(ctx_t *, const weft_toml_value_t *, weft_app_t *)) {
    for (size_t i = 0; v->type == WEFT_TOML_ARRAY && i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            break;
        int rc = parse(c, t, app);
        if (rc)
            return rc;
        if (i + 1 == v->u.arr.len)
            return 0;
    }
    if (v->type == WEFT_TOML_ARRAY && !v->u.arr.len)
        return 0;
    return weft_app_fail(c, v->line, "'%s' must be an array of tables ([[%s]])", key, key);
}

int weft_app_parse_redis_triggers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    return each_table(c, v, app, "redis_trigger", parse_redis_trigger);
}

int weft_app_parse_sources(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    return each_table(c, v, app, "source", parse_source);
}

void weft_app_channels_free(weft_app_t *app) {
    for (size_t i = 0; i < app->nredis_triggers; i++) {
        free(app->redis_triggers[i].address);
        free(app->redis_triggers[i].channel);
    }
    free(app->redis_triggers);
    for (size_t i = 0; i < app->nsources; i++) {
        weft_app_source_t *s = &app->sources[i];
        free(s->address);
        free(s->channel);
        free(s->event_type);
        free(s->event_source);
        free(s->content_type);
    }
    free(app->sources);
}
