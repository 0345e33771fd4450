/* describe: GET /_weft/describe, the app's state as JSON (gateway.h): the events layer's
 * description of its brokers, triggers and targets, with the functions, routes, Redis
 * triggers and sources of the site that routed the request. Built on a worker: the events layer
 * reads its logs for it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int add(json_t *array, json_t *item) {
    return item ? json_array_append_new(array, item) : -1;
}

/* A Redis location without its user information (it may hold a password) and query,
 * into out (size bytes). */
static const char *plain_address(const char *address, char *out, size_t size) {
    const char *start = strstr(address, "://");
    start = start ? start + 3 : address;
    const char *end = start + strcspn(start, "?#"), *at = NULL;
    bool unix_socket = !strncmp(address, "redis+unix://", 13);
    for (const char *p = start; p < end && (unix_socket || *p != '/'); p++)
        if (*p == '@')
            at = p;
    const char *from = at ? at + 1 : start;
    snprintf(out, size, "%.*s%.*s", (int)(start - address), address, (int)(end - from), from);
    return out;
}

/* The app's Redis triggers and sources, as weft.toml or spin.toml declared them. */
static int add_channels(json_t *root, const weft_app_t *app) {
    json_t *triggers = json_array(), *sources = json_array();
    int bad = !triggers || !sources;
    char a[1024];
    for (size_t i = 0; i < app->nredis_triggers && !bad; i++) {
        const weft_app_redis_trigger_t *t = &app->redis_triggers[i];
        bad = add(triggers,
                  json_pack("{s:s,s:s,s:s}", "address", plain_address(t->address, a, sizeof a),
                            "channel", t->channel, "function", app->functions[t->function].name));
    }
    for (size_t i = 0; i < app->nsources && !bad; i++) {
        const weft_app_source_t *src = &app->sources[i];
        bad = add(sources, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "redis", "address",
                                     plain_address(src->address, a, sizeof a), "channel",
                                     src->channel, "broker", app->brokers[src->broker].name,
                                     "event_type", src->event_type));
    }
    if (bad) {
        json_decref(triggers);
        json_decref(sources);
        return -1;
    }
    return json_object_set_new(root, "redis_triggers", triggers) ||
           json_object_set_new(root, "sources", sources);
}

int weft_gateway_describe(weft_gateway_site_t *site, char **out, weft_error_t *err) {
    *out = NULL;
    json_t *root = NULL;
    if (site->events) {
        weft_buf_t text = {0};
        int rc = weft_events_describe(site->events, &text, err);
        if (rc) {
            weft_buf_free(&text);
            return rc;
        }
        json_error_t jerr;
        root = json_loadb((const char *)text.data, text.len, 0, &jerr);
        weft_buf_free(&text);
        if (!json_is_object(root)) {
            json_decref(root);
            return weft_error_set(err, WEFT_EIO, "the events layer's description: %s", jerr.text);
        }
    } else {
        root = json_pack("{s:[],s:[],s:[]}", "brokers", "triggers", "targets");
    }
    json_t *functions = json_array(), *routes = json_array();
    int bad = !root || !functions || !routes;
    for (size_t i = 0; i < site->nfns && !bad; i++) {
        const function_t *fn = &site->fns[i];
        bad =
            add(functions, json_pack("{s:s,s:s,s:b}", "name", fn->def->name, "module",
                                     fn->def->wasm, "optimized", weft_function_optimized(fn->fn)));
    }
    for (size_t i = 0; i < weft_router_count(site->router) && !bad; i++) {
        const weft_route_t *r = weft_router_at(site->router, i);
        const handler_t *h = r->target;
        if (h->kind == HANDLER_FUNCTION)
            bad = add(routes, json_pack("{s:s,s:s,s:s}", "route", r->pattern, "function",
                                        h->fn->def->name, "entrypoint", h->entrypoint));
        else if (h->kind == HANDLER_STATIC)
            bad = add(routes, json_pack("{s:s,s:i}", "route", r->pattern, "static_response",
                                        (int)h->def->static_response->status));
        else if (h->kind == HANDLER_BROKER || h->kind == HANDLER_EVENTS)
            bad = add(routes, json_pack("{s:s,s:s}", "route", r->pattern, "broker", h->broker));
    }
    if (!bad)
        bad = json_object_set_new(root, "functions", functions) ||
              json_object_set_new(root, "routes", routes) || add_channels(root, site->app);
    else {
        json_decref(functions);
        json_decref(routes);
    }
    if (!bad)
        *out = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!*out)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    return 0;
}
