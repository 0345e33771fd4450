/* invoke: one call of one function with one request (see invoke.h). */
#include "invoke.h"

#include <string.h>

#include "../host/host.h"

void weft_invoke_init(void) {
    size_t n;
    const weft_import_def_t *defs = weft_wasi_imports(&n);
    weft_engine_provide(defs, n);
    defs = weft_host_imports(&n);
    weft_engine_provide(defs, n);
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
    rc = weft_host_create(req->http ? &policy : NULL, &host, err);
    if (rc) {
        weft_wasi_destroy(wasi);
        return rc;
    }
    weft_guest_t guest = {.wasi = wasi, .host = host};
    rc = weft_module_run(m, req->entry ? req->entry : "_start", &guest, &req->limits, out, err);
    weft_host_destroy(host);
    weft_wasi_destroy(wasi);
    return rc;
}
