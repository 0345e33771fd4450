/* gateway: the app's functions loaded and routed (contract in gateway.h).
 *
 * Start-up does everything that can fail before the first request: every module is
 * compiled and loaded, every entry point a route names is checked to exist, and each
 * module's _routes export (WAGI's dynamic routes) is run once. A request then only
 * instantiates.
 *
 * What one app makes (its functions, handlers and router) is a site, shared by
 * reference count: the gateway holds the site it routes by, each I/O thread holds the
 * one it saw last, and each request that leaves its I/O thread holds the one that
 * routed it. weft_gateway_swap replaces the gateway's; the old site is freed by its
 * last holder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Bound on the _routes output of one module. */
#define WEFT_GATEWAY_MAX_ROUTES_OUTPUT (1u << 20)

static handler_t *new_handler(weft_gateway_site_t *site, handler_kind_t kind, function_t *fn,
                              const char *entry) {
    handler_t *h = calloc(1, sizeof *h);
    if (!h || !(h->entrypoint = strdup(entry))) {
        free(h);
        return NULL;
    }
    h->kind = kind;
    h->fn = fn;
    h->next = site->handlers;
    site->handlers = h;
    return h;
}

/* Routes pattern to h, whose requests are counted under it (metrics.c). */
static int route_add(weft_gateway_site_t *site, const char *pattern, handler_t *h,
                     weft_error_t *err) {
    int rc = weft_router_add(site->router, pattern, h, err);
    if (!rc)
        h->metrics = weft_gateway_route_metrics(pattern);
    return rc;
}

/* Adds a route unless it is /healthz, /readyz, /_weft/describe or /_weft/metrics, which
 * the gateway always answers itself. */
static int add_route(weft_gateway_site_t *site, const char *pattern, function_t *fn,
                     const char *entry, const weft_app_route_t *def, weft_error_t *err) {
    if (!strcmp(pattern, "/healthz") || !strcmp(pattern, WEFT_GATEWAY_READY_PATH) ||
        !strcmp(pattern, WEFT_GATEWAY_DESCRIBE_PATH) ||
        !strcmp(pattern, WEFT_GATEWAY_METRICS_PATH)) {
        weft_log("%s: route %s is served by weft itself; the declaration is ignored",
                 site->app->path, pattern);
        return 0;
    }
    int rc = 0;
    /* (A Spin handler's export was checked when its function was loaded.) */
    if (fn && fn->def->executor != WEFT_APP_EXECUTOR_SPIN &&
        (rc = weft_function_entry_check(fn->fn, entry, err))) {
        weft_error_prefix(err, "%s: route %s", site->app->path, pattern);
        return rc;
    }
    handler_t *h = new_handler(site, fn ? HANDLER_FUNCTION : HANDLER_STATIC, fn, entry);
    if (!h)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    h->def = def;
    rc = route_add(site, pattern, h, err);
    if (rc)
        weft_error_prefix(err, "%s", site->app->path);
    return rc;
}

/* Runs the module's _routes export, if it has one, and adds a route per output line
 * "<route> <entrypoint>", joined to each route the function is declared on. */
static int add_dynamic_routes(weft_gateway_site_t *site, function_t *fn, weft_error_t *err) {
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
        for (size_t i = 0; i < site->app->nroutes && !rc; i++) {
            const weft_app_route_t *r = &site->app->routes[i];
            if (r->static_response || &site->fns[r->function] != fn)
                continue;
            char joined[4096];
            if (weft_route_join(r->path, sub, joined, sizeof joined))
                rc = weft_error_set(err, WEFT_EINVAL, "%s: _routes: route too long", fn->def->wasm);
            else
                rc = add_route(site, joined, fn, entry, r, err);
        }
    }
    weft_response_free(&resp);
    return rc;
}

/* The services' HTTP API (store_api.c) under /kv, /blobs and /docs, after the app's
 * routes: a route the app declares there is its function's (the most specific route
 * wins, and the API's own "/kv/..." is not added when the app declares that very
 * pattern), and is said to shadow the API. */
static int add_store_routes(weft_gateway_site_t *site, weft_error_t *err) {
    static const struct {
        const char *pattern;
        handler_kind_t kind;
    } api[] = {{WEFT_GATEWAY_KV_ROUTE, HANDLER_KV},
               {WEFT_GATEWAY_BLOBS_ROUTE, HANDLER_BLOBS},
               {WEFT_GATEWAY_DOCS_ROUTE, HANDLER_DOCS}};
    handler_t *handlers[] = {&site->kv, &site->blobs, &site->docs};
    for (size_t a = 0; a < sizeof api / sizeof api[0]; a++) {
        size_t plen = strlen(api[a].pattern) - 4; /* "/kv" of "/kv/..." */
        bool taken = false;
        for (size_t i = 0; i < weft_router_count(site->router); i++) {
            const weft_route_t *r = weft_router_at(site->router, i);
            const handler_t *h = r->target;
            if (h->kind != HANDLER_FUNCTION || strncmp(r->pattern, api[a].pattern, plen) ||
                (r->pattern[plen] && r->pattern[plen] != '/'))
                continue;
            weft_log("%s: route %s (function '%s') shadows weft's HTTP API under %.*s",
                     site->app->path, r->pattern, h->fn->def->name, (int)plen, api[a].pattern);
            taken |= !strcmp(r->pattern, api[a].pattern);
        }
        handlers[a]->kind = api[a].kind;
        if (taken)
            continue;
        int rc = route_add(site, api[a].pattern, handlers[a], err);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_function(const weft_gateway_t *gw, function_t *fn, const weft_app_function_t *def,
                         weft_error_t *err) {
    fn->def = def;
    weft_function_opts_t opts = {.env = gw->cfg.env,
                                 .nenv = gw->cfg.nenv,
                                 .cache_dir = gw->cfg.cache_dir,
                                 .quiet = gw->cfg.quiet,
                                 /* A large module serves on the fast tier at once. */
                                 .upgrade = true,
                                 .services = gw->cfg.services};
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
    atomic_init(&fn->inline_after_ns, 0);
    atomic_init(&fn->inline_fails, 0);
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

static void site_free(weft_gateway_site_t *site) {
    for (size_t i = 0; i < site->nfns; i++)
        weft_function_release(site->fns[i].fn);
    free(site->fns);
    while (site->handlers) {
        handler_t *h = site->handlers;
        site->handlers = h->next;
        free(h->entrypoint);
        free(h);
    }
    weft_router_free(site->router);
    weft_app_free(site->owned);
    free(site);
}

/* A site for app (borrowed), held once by the caller. */
static int site_build(weft_gateway_t *gw, const weft_app_t *app, weft_gateway_site_t **out,
                      weft_error_t *err) {
    *out = NULL;
    weft_gateway_site_t *site = calloc(1, sizeof *site);
    if (!site)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    atomic_init(&site->refs, 1);
    site->gw = gw;
    site->app = app;
    site->health.kind = HANDLER_HEALTH;
    site->describe.kind = HANDLER_DESCRIBE;
    site->ready.kind = HANDLER_READY;
    site->metrics.kind = HANDLER_METRICS;
    int rc = weft_router_new(&site->router);
    if (rc) {
        rc = weft_error_set(err, rc, "out of memory");
        goto fail;
    }
    if ((rc = route_add(site, "/healthz", &site->health, err)) ||
        (rc = route_add(site, WEFT_GATEWAY_READY_PATH, &site->ready, err)) ||
        (rc = route_add(site, WEFT_GATEWAY_DESCRIBE_PATH, &site->describe, err)) ||
        (rc = route_add(site, WEFT_GATEWAY_METRICS_PATH, &site->metrics, err)))
        goto fail;
    site->fns = calloc(app->nfunctions ? app->nfunctions : 1, sizeof *site->fns);
    if (!site->fns) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < app->nfunctions; i++) {
        site->nfns++;
        if ((rc = load_function(gw, &site->fns[i], &app->functions[i], err)))
            goto fail;
    }
    for (size_t i = 0; i < app->nroutes; i++) {
        const weft_app_route_t *r = &app->routes[i];
        if (r->static_response) {
            if ((rc = add_route(site, r->path, NULL, "(static)", r, err)))
                goto fail;
            continue;
        }
        function_t *fn = &site->fns[r->function];
        /* Spin's handler is its export handle-http-request, whatever the entrypoint. */
        const char *entry = fn->def->executor == WEFT_APP_EXECUTOR_SPIN ? WEFT_GATEWAY_SPIN_ENTRY
                            : r->entrypoint                             ? r->entrypoint
                                                                        : fn->def->entrypoint;
        if ((rc = add_route(site, r->path, fn, entry, r, err)))
            goto fail;
    }
    for (size_t i = 0; i < site->nfns; i++)
        if ((rc = add_dynamic_routes(site, &site->fns[i], err)))
            goto fail;
    if (gw->cfg.services && (rc = add_store_routes(site, err)))
        goto fail;
    *out = site;
    return 0;
fail:
    site_free(site);
    return rc;
}

/* The app of the site a gateway serves before it has loaded its own (weft up listens
 * while it compiles): no functions, no routes but weft's own. */
static const weft_app_t no_app = {.path = "(starting)"};

/* The access log: "-" is stdout, anything else a file appended to. */
static int access_log_open(weft_gateway_t *gw, const char *path, weft_error_t *err) {
    if (!path)
        return 0;
    if (!strcmp(path, "-")) {
        gw->access_log_fd = 1;
        return 0;
    }
    gw->access_log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (gw->access_log_fd < 0)
        return weft_error_set(err, WEFT_EIO, "access log %s: %s", path, strerror(errno));
    gw->access_log_owned = true;
    return 0;
}

int weft_gateway_create(const weft_app_t *app, const weft_gateway_config_t *cfg,
                        weft_gateway_t **out, weft_error_t *err) {
    weft_gateway_site_t *site;
    int rc = weft_gateway_create_empty(cfg, out, err);
    if (rc)
        return rc;
    if ((rc = weft_gateway_load(*out, app, &site, err))) {
        weft_gateway_free(*out);
        *out = NULL;
        return rc;
    }
    weft_gateway_swap(*out, site);
    weft_gateway_set_ready(*out, true);
    return 0;
}

int weft_gateway_load(weft_gateway_t *gw, const weft_app_t *app, weft_gateway_site_t **out,
                      weft_error_t *err) {
    return site_build(gw, app, out, err);
}

void weft_gateway_set_ready(weft_gateway_t *gw, bool ready) {
    atomic_store_explicit(&gw->ready, ready, memory_order_release);
}

int weft_gateway_create_empty(const weft_gateway_config_t *cfg, weft_gateway_t **out,
                              weft_error_t *err) {
    *out = NULL;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        return weft_error_set(err, WEFT_EUSAGE, "TLS needs both a certificate and a key");
    weft_gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    gw->cfg = *cfg;
    gw->listen_fd = -1;
    gw->max_body = cfg->max_body ? cfg->max_body : WEFT_APP_DEFAULT_MAX_BODY;
    /* Only the token's digest is kept (auth.c). */
    gw->has_token = cfg->token && *cfg->token;
    if (gw->has_token)
        weft_sha256(cfg->token, strlen(cfg->token), gw->token_digest);
    gw->cfg.token = NULL;
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
    atomic_init(&gw->ready, false);
    atomic_init(&gw->site, NULL);
    pthread_mutex_init(&gw->site_lock, NULL);
    gw->access_log_fd = -1;
    gw->cfg.access_log = NULL;
    gw->unmatched = (route_metrics_t *)weft_gateway_route_metrics("(unmatched)");
    weft_gateway_site_t *site;
    int rc = access_log_open(gw, cfg->access_log, err);
    if (!rc)
        rc = site_build(gw, &no_app, &site, err);
    if (rc) {
        weft_gateway_free(gw);
        return rc;
    }
    atomic_store(&gw->site, site);
    *out = gw;
    return 0;
}

int weft_gateway_site_create(weft_gateway_t *gw, weft_app_t *app, weft_gateway_site_t **out,
                             weft_error_t *err) {
    int rc = site_build(gw, app, out, err);
    if (!rc)
        (*out)->owned = app;
    return rc;
}

weft_function_t *weft_gateway_site_function(weft_gateway_site_t *site, const char *name) {
    for (size_t i = 0; i < site->nfns; i++)
        if (!strcmp(site->fns[i].def->name, name))
            return site->fns[i].fn;
    return NULL;
}

void weft_gateway_site_retain(weft_gateway_site_t *site) {
    atomic_fetch_add_explicit(&site->refs, 1, memory_order_relaxed);
}

void weft_gateway_site_release(weft_gateway_site_t *site) {
    if (site && atomic_fetch_sub_explicit(&site->refs, 1, memory_order_acq_rel) == 1)
        site_free(site);
}

weft_gateway_site_t *weft_gateway_site(weft_gateway_t *gw) {
    return atomic_load(&gw->site);
}

weft_gateway_site_t *weft_gateway_site_acquire(weft_gateway_t *gw) {
    pthread_mutex_lock(&gw->site_lock);
    weft_gateway_site_t *site = atomic_load(&gw->site);
    weft_gateway_site_retain(site);
    pthread_mutex_unlock(&gw->site_lock);
    return site;
}

void weft_gateway_swap(weft_gateway_t *gw, weft_gateway_site_t *site) {
    pthread_mutex_lock(&gw->site_lock);
    weft_gateway_site_t *old = atomic_load(&gw->site);
    atomic_store(&gw->site, site);
    pthread_mutex_unlock(&gw->site_lock);
    /* The I/O threads move to it (and end the streams of brokers it lacks) now rather
     * than at their next request. */
    weft_gateway_wake_io(gw);
    weft_gateway_site_release(old);
}

weft_function_t *weft_gateway_function(weft_gateway_t *gw, const char *name) {
    return weft_gateway_site_function(weft_gateway_site(gw), name);
}

int weft_gateway_site_add_brokers(weft_gateway_site_t *site, weft_events_t *ev, weft_error_t *err) {
    site->events = ev;
    for (size_t i = 0; i < site->app->nbrokers; i++) {
        const char *name = site->app->brokers[i].name;
        char pattern[512];
        for (int events = 0; events < 2; events++) {
            snprintf(pattern, sizeof pattern, "/brokers/%s%s", name, events ? "/events" : "");
            handler_t *h = new_handler(site, events ? HANDLER_EVENTS : HANDLER_BROKER, NULL,
                                       events ? "(events)" : "(broker)");
            if (!h)
                return weft_error_set(err, WEFT_ENOMEM, "out of memory");
            h->broker = name;
            int rc = route_add(site, pattern, h, err);
            if (rc) {
                weft_error_prefix(err, "%s: [[broker]] '%s'", site->app->path, name);
                return rc;
            }
        }
    }
    return 0;
}

int weft_gateway_add_brokers(weft_gateway_t *gw, weft_events_t *ev, weft_error_t *err) {
    return weft_gateway_site_add_brokers(weft_gateway_site(gw), ev, err);
}

void weft_gateway_each_route(const weft_gateway_t *gw,
                             void (*fn)(void *arg, const char *pattern, const char *function,
                                        const char *entrypoint),
                             void *arg) {
    const weft_gateway_site_t *site = atomic_load(&gw->site);
    for (size_t i = 0; i < weft_router_count(site->router); i++) {
        const weft_route_t *r = weft_router_at(site->router, i);
        const handler_t *h = r->target;
        switch (h->kind) {
        case HANDLER_FUNCTION:
            fn(arg, r->pattern, h->fn->def->name, h->entrypoint);
            break;
        case HANDLER_BROKER:
        case HANDLER_EVENTS:
            fn(arg, r->pattern, h->broker, h->entrypoint);
            break;
        case HANDLER_STATIC:
            fn(arg, r->pattern, NULL, h->entrypoint);
            break;
        default:
            fn(arg, r->pattern, NULL, NULL);
        }
    }
}

void weft_gateway_free(weft_gateway_t *gw) {
    if (!gw)
        return;
    weft_gateway_server_free(gw);
    weft_gateway_site_release(atomic_load(&gw->site));
    pthread_mutex_destroy(&gw->site_lock);
    if (gw->access_log_owned)
        close(gw->access_log_fd);
    if (gw->listen_fd >= 0)
        close(gw->listen_fd);
    free(gw);
}
