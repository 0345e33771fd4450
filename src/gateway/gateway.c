/* gateway: the app's functions loaded and routed (contract in gateway.h).
 *
 * Start-up does everything that can fail before the first request: every module is
 * compiled and loaded, every entry point a route names is checked to exist, and each
 * module's _routes export (WAGI's dynamic routes) is run once. A request then only
 * instantiates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Bound on the _routes output of one module. */
#define WEFT_GATEWAY_MAX_ROUTES_OUTPUT (1u << 20)

static handler_t *new_handler(weft_gateway_t *gw, function_t *fn, const char *entry) {
    handler_t *h = calloc(1, sizeof *h);
    if (!h || !(h->entrypoint = strdup(entry))) {
        free(h);
        return NULL;
    }
    h->fn = fn;
    h->next = gw->handlers;
    gw->handlers = h;
    return h;
}

/* Adds a route unless it is /healthz, which the gateway always answers itself. */
static int add_route(weft_gateway_t *gw, const char *pattern, function_t *fn, const char *entry,
                     weft_error_t *err) {
    if (!strcmp(pattern, "/healthz")) {
        weft_log("%s: route /healthz is served by weft itself; the declaration is ignored",
                 gw->app->path);
        return 0;
    }
    int rc = weft_function_entry_check(fn->fn, entry, err);
    if (rc) {
        weft_error_prefix(err, "%s: route %s", gw->app->path, pattern);
        return rc;
    }
    handler_t *h = new_handler(gw, fn, entry);
    if (!h)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    rc = weft_router_add(gw->router, pattern, h, err);
    if (rc)
        weft_error_prefix(err, "%s", gw->app->path);
    return rc;
}

/* Runs the module's _routes export, if it has one, and adds a route per output line
 * "<route> <entrypoint>", joined to each route the function is declared on. */
static int add_dynamic_routes(weft_gateway_t *gw, function_t *fn, weft_error_t *err) {
    if (!weft_function_has_entry(fn->fn, "_routes"))
        return 0;
    char tag[300];
    snprintf(tag, sizeof tag, "%s: _routes", fn->def->name);
    weft_call_opts_t opts = {
        .entry = "_routes", .max_response = WEFT_GATEWAY_MAX_ROUTES_OUTPUT, .log_tag = tag};
    weft_response_t resp;
    int rc = weft_function_call(fn->fn, NULL, &opts, &resp, err);
    if (!rc && resp.outcome.trap)
        rc = weft_error_set(err, WEFT_ETRAP, "%s: _routes trapped: %s", fn->def->wasm,
                            resp.outcome.trap);
    else if (!rc && resp.outcome.end == WEFT_CALL_EXITED && resp.outcome.exit_code)
        rc = weft_error_set(err, WEFT_ETRAP, "%s: _routes exited with status %u", fn->def->wasm,
                            resp.outcome.exit_code);
    char *save = NULL, *words = NULL;
    char *text = rc || !resp.body ? NULL : (char *)resp.body;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        char *sub = strtok_r(line, " \t\r", &words);
        char *entry = sub ? strtok_r(NULL, " \t\r", &words) : NULL;
        if (!sub)
            continue;
        if (!entry || strtok_r(NULL, " \t\r", &words)) {
            rc = weft_error_set(err, WEFT_EMODULE,
                                "%s: _routes printed '%s': expected '<route> <entrypoint>'",
                                fn->def->wasm, line);
            break;
        }
        for (size_t i = 0; i < gw->app->nroutes && !rc; i++) {
            const weft_app_route_t *r = &gw->app->routes[i];
            if (&gw->fns[r->function] != fn)
                continue;
            char joined[4096];
            if (weft_route_join(r->path, sub, joined, sizeof joined))
                rc = weft_error_set(err, WEFT_EINVAL, "%s: _routes: route too long", fn->def->wasm);
            else
                rc = add_route(gw, joined, fn, entry, err);
        }
    }
    weft_response_free(&resp);
    return rc;
}

static int load_function(weft_gateway_t *gw, function_t *fn, const weft_app_function_t *def,
                         weft_error_t *err) {
    fn->def = def;
    weft_function_opts_t opts = {.env = gw->cfg.env,
                                 .nenv = gw->cfg.nenv,
                                 .cache_dir = gw->cfg.cache_dir,
                                 .quiet = gw->cfg.quiet,
                                 /* A large module serves on the fast tier at once. */
                                 .upgrade = true};
    int rc = weft_function_load(def, &opts, &fn->fn, err);
    if (rc) {
        weft_error_prefix(err, "function '%s'", def->name);
        return rc;
    }
    /* At start-up rather than at each request. */
    for (size_t i = 0; i < def->nvolumes; i++)
        if (access(def->volumes[i].host, F_OK) != 0)
            return weft_error_set(err, WEFT_ENOTFOUND,
                                  "function '%s': volume %s: host folder %s does not exist",
                                  def->name, def->volumes[i].guest, def->volumes[i].host);
    fn->repeatable = weft_function_repeatable(fn->fn);
    atomic_init(&fn->inline_after_ns, 0);
    return 0;
}

/* Gives every number the configuration leaves at 0 its default (gateway.h). */
static void set_defaults(weft_gateway_config_t *cfg) {
    if (!cfg->max_header_bytes)
        cfg->max_header_bytes = WEFT_GATEWAY_MAX_HEADER_BYTES;
    if (!cfg->header_timeout_ns)
        cfg->header_timeout_ns = WEFT_GATEWAY_HEADER_TIMEOUT_S * 1000000000ull;
    if (!cfg->idle_timeout_ns)
        cfg->idle_timeout_ns = WEFT_GATEWAY_IDLE_TIMEOUT_S * 1000000000ull;
    if (!cfg->max_response)
        cfg->max_response = WEFT_INVOKE_MAX_RESPONSE;
    /* max_stderr_bytes, max_stderr_lines: 0 is the invoke layer's default. */
    /* max_connections: weft_gateway_start, which knows the descriptor limit. */
}

int weft_gateway_create(const weft_app_t *app, const weft_gateway_config_t *cfg,
                        weft_gateway_t **out, weft_error_t *err) {
    *out = NULL;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        return weft_error_set(err, WEFT_EUSAGE, "TLS needs both a certificate and a key");
    weft_gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    gw->app = app;
    gw->cfg = *cfg;
    gw->listen_fd = -1;
    gw->max_body = cfg->max_body ? cfg->max_body : WEFT_APP_DEFAULT_MAX_BODY;
    set_defaults(&gw->cfg);
    if (gw->cfg.max_header_bytes < WEFT_GATEWAY_MIN_HEADER_BYTES ||
        gw->cfg.max_header_bytes > WEFT_GATEWAY_MAX_HEADER_BYTES_LIMIT) {
        free(gw);
        return weft_error_set(err, WEFT_ECONFIG,
                              "max_header_bytes: %llu bytes is out of range (%u to %u: h2o "
                              "reads no further into a request head)",
                              (unsigned long long)cfg->max_header_bytes,
                              WEFT_GATEWAY_MIN_HEADER_BYTES, WEFT_GATEWAY_MAX_HEADER_BYTES_LIMIT);
    }
    atomic_init(&gw->next_id, 1);
    atomic_init(&gw->in_flight, 0);
    atomic_init(&gw->stopping, false);
    int rc = weft_router_new(&gw->router);
    if (rc) {
        rc = weft_error_set(err, rc, "out of memory");
        goto fail;
    }
    if ((rc = weft_router_add(gw->router, "/healthz", &gw->health, err)))
        goto fail;
    gw->fns = calloc(app->nfunctions ? app->nfunctions : 1, sizeof *gw->fns);
    if (!gw->fns) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < app->nfunctions; i++) {
        gw->nfns++;
        if ((rc = load_function(gw, &gw->fns[i], &app->functions[i], err)))
            goto fail;
    }
    for (size_t i = 0; i < app->nroutes; i++) {
        const weft_app_route_t *r = &app->routes[i];
        function_t *fn = &gw->fns[r->function];
        if ((rc = add_route(gw, r->path, fn, r->entrypoint ? r->entrypoint : fn->def->entrypoint,
                            err)))
            goto fail;
    }
    for (size_t i = 0; i < gw->nfns; i++)
        if ((rc = add_dynamic_routes(gw, &gw->fns[i], err)))
            goto fail;
    *out = gw;
    return 0;
fail:
    weft_gateway_free(gw);
    return rc;
}

weft_function_t *weft_gateway_function(weft_gateway_t *gw, const char *name) {
    for (size_t i = 0; i < gw->nfns; i++)
        if (!strcmp(gw->fns[i].def->name, name))
            return gw->fns[i].fn;
    return NULL;
}

int weft_gateway_add_brokers(weft_gateway_t *gw, weft_events_t *ev, weft_error_t *err) {
    gw->events = ev;
    for (size_t i = 0; i < gw->app->nbrokers; i++) {
        const char *name = gw->app->brokers[i].name;
        char pattern[512];
        snprintf(pattern, sizeof pattern, "/brokers/%s", name);
        handler_t *h = new_handler(gw, NULL, "");
        if (!h)
            return weft_error_set(err, WEFT_ENOMEM, "out of memory");
        h->broker = name;
        int rc = weft_router_add(gw->router, pattern, h, err);
        if (rc) {
            weft_error_prefix(err, "%s: [[broker]] '%s'", gw->app->path, name);
            return rc;
        }
    }
    return 0;
}

void weft_gateway_each_route(const weft_gateway_t *gw,
                             void (*fn)(void *arg, const char *pattern, const char *function,
                                        const char *entrypoint),
                             void *arg) {
    for (size_t i = 0; i < weft_router_count(gw->router); i++) {
        const weft_route_t *r = weft_router_at(gw->router, i);
        const handler_t *h = r->target;
        fn(arg, r->pattern, h->fn ? h->fn->def->name : h->broker,
           h->fn       ? h->entrypoint
           : h->broker ? "(broker)"
                       : NULL);
    }
}

void weft_gateway_free(weft_gateway_t *gw) {
    if (!gw)
        return;
    weft_gateway_server_free(gw);
    for (size_t i = 0; i < gw->nfns; i++)
        weft_function_release(gw->fns[i].fn);
    free(gw->fns);
    while (gw->handlers) {
        handler_t *h = gw->handlers;
        gw->handlers = h->next;
        free(h->entrypoint);
        free(h);
    }
    weft_router_free(gw->router);
    if (gw->listen_fd >= 0)
        close(gw->listen_fd);
    free(gw);
}
