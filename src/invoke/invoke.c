/* invoke: one call of one function with one request (see invoke.h). */
#include "invoke.h"

#include <string.h>

#include "../host/host.h"

#define WEFT_HTTP_MODULE "wasi_experimental_http"

/* The host layer lives in the network plugin (util/plugin.c): these reach it. */
typedef const weft_import_def_t *(*host_imports_fn)(size_t *n);
typedef int (*host_create_fn)(const weft_host_policy_t *, weft_host_t **, weft_error_t *);
typedef void (*host_destroy_fn)(weft_host_t *);

static int load_http(weft_error_t *err) {
    host_imports_fn imports = (host_imports_fn)weft_net_sym("weft_host_imports", err);
    if (!imports)
        return err ? err->code : WEFT_ELOAD;
    size_t n;
    const weft_import_def_t *defs = imports(&n);
    return weft_engine_provide(defs, n, err);
}

int weft_invoke_init(weft_error_t *err) {
    size_t n;
    const weft_import_def_t *defs = weft_wasi_imports(&n);
    int rc = weft_engine_provide(defs, n, err);
    if (!rc)
        rc = weft_engine_provide_loader(WEFT_HTTP_MODULE, load_http, err);
    return rc;
}

int weft_invoke(weft_module_t *m, const weft_invoke_request_t *req, weft_outcome_t *out,
                weft_error_t *err) {
    weft_wasi_config_t cfg = {
        .argv = req->argv,
        .argc = req->argc,
        .envp = req->envp,
        .envc = req->envc,
        .preopens = req->preopens,
        .npreopens = req->npreopens,
        .sockets = req->sockets,
        .nsockets = req->nsockets,
    };
    memcpy(cfg.stdio, req->stdio, sizeof cfg.stdio);
    weft_wasi_t *wasi = NULL;
    int rc = weft_wasi_create(&cfg, &wasi, err);
    if (rc)
        return rc;
    /* Outbound HTTP: req->http NULL denies every request. */
    weft_host_policy_t policy = {0};
    if (req->http)
        policy = (weft_host_policy_t){req->http->allowed_hosts, req->http->nallowed,
                                      req->http->max_concurrency, req->http->log_tag};
    weft_host_t *host = NULL;
    host_destroy_fn host_destroy = NULL;
    if (weft_module_imports(m, WEFT_HTTP_MODULE)) {
        /* The engine loaded the plugin when it loaded the module. */
        host_create_fn host_create = (host_create_fn)weft_net_sym("weft_host_create", err);
        host_destroy = (host_destroy_fn)weft_net_sym("weft_host_destroy", err);
        rc = host_create && host_destroy
                 ? host_create(req->http ? &policy : NULL, &host, err)
                 : WEFT_ELOAD;
        if (rc) {
            weft_wasi_destroy(wasi);
            return rc;
        }
    }
    weft_guest_t guest = {.wasi = wasi, .host = host};
    rc = weft_module_run(m, req->entry ? req->entry : "_start", &guest, &req->limits, out, err);
    if (host)
        host_destroy(host);
    weft_wasi_destroy(wasi);
    return rc;
}
