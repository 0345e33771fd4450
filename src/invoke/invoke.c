/* invoke: loading a function and calling it (contract in invoke.h).
 *
 * One call puts together what a guest needs for one run: a fresh instance of the
 * module (engine), its WASI world (arguments, environment, preopens, stdio from and to
 * memory or host descriptors) and the host APIs it may use (outbound HTTP within its
 * allowed hosts), runs the entry point under the limits, and tears everything down.
 *
 * A request's call (weft_function_call) then reads the outcome as a status: a guest
 * that ran out of time is 504 (the engine has stopped it), a response over the limit,
 * any other trap or a non-zero exit status is 500, and a guest that ran to completion
 * is answered with what its stdout says. Every failure is logged with the call's tag,
 * which also prefixes the guest's own stderr lines.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host/host.h"
#include "internal.h"

#define WEFT_HTTP_MODULE "wasi_experimental_http"
#define WEFT_API_MODULE "weft"
/* Spin 1's interfaces, which come with the services (host.h). */
static const char *const spin_modules[] = {"spin-config", "wasi-outbound-http", "key-value"};

struct weft_function {
    const weft_app_function_t *def; /* borrowed */
    weft_function_opts_t opts;      /* borrowed strings */
    pthread_mutex_t lock;           /* guards module: the upgrade replaces it */
    weft_module_t *module;          /* each call holds a reference of its own */
    weft_module_t *meta;            /* the module first loaded, for its exports: both tiers have the
                                       same, and this one stays until release */
    weft_preopen_t *preopens;       /* def->nvolumes of them */
    weft_host_policy_t http;
    const char **config; /* def->config's names, then its values (the policy's) */
    pthread_t upgrader;  /* building the optimized tier, when upgrading */
    bool upgrading;
    _Atomic bool cancel; /* tells the upgrader's compilers to stop */
    _Atomic bool writes; /* a trial stopped because the guest wanted to write a store */
};

/* What a response's fields point into. */
struct weft_response_data {
    weft_buf_t out; /* the guest's stdout */
    weft_cgi_response_t cgi;
    weft_spin_answer_t spin; /* Spin's executor: what the handler answered */
};

/* ---- the host APIs in the network plugin ------------------------------------------- */

/* The host layer lives in the network plugin (host.h, weft_net_plugin_t). The engine
 * runs this loader before it compiles or loads a module that imports outbound HTTP. */
static int load_http(weft_error_t *err) {
    const weft_net_plugin_t *net = weft_net_plugin_get(err);
    if (!net)
        return err ? err->code : WEFT_ELOAD;
    size_t n;
    const weft_import_def_t *defs = net->host_imports(&n);
    return weft_engine_provide(defs, n, err);
}

/* The same for the services (the weft module), which live there too. */
static int load_api(weft_error_t *err) {
    const weft_net_plugin_t *net = weft_net_plugin_get(err);
    if (!net)
        return err ? err->code : WEFT_ELOAD;
    size_t n;
    const weft_import_def_t *defs = net->api_imports(&n);
    return weft_engine_provide(defs, n, err);
}

/* ---- metrics (util.h's registry; GET /_weft/metrics) ---------------------------------- */

#define WEFT_OUTCOME_METRIC(label)                                                                 \
    {                                                                                              \
        .name = "weft_guest_outcomes_total",                                                       \
        .help =                                                                                    \
            "Guest calls by how they ended: returned (or exited 0), exit_nonzero, or the trap",    \
        .type = WEFT_METRIC_COUNTER, .labels = "outcome=\"" label "\""                             \
    }

static weft_metric_t m_started = {.name = "weft_guest_instances_started_total",
                                  .help = "Guest instances started (trials on I/O threads too)",
                                  .type = WEFT_METRIC_COUNTER};
static weft_metric_t m_returned = WEFT_OUTCOME_METRIC("returned");
static weft_metric_t m_exit_nonzero = WEFT_OUTCOME_METRIC("exit_nonzero");
/* By weft_trap_t (engine.h's WEFT_TRAPS order). */
static weft_metric_t m_traps[] = {
    WEFT_OUTCOME_METRIC("trap"), /* WEFT_TRAP_NONE: not a trap; unused */
    WEFT_OUTCOME_METRIC("out_of_bounds"),
    WEFT_OUTCOME_METRIC("integer_overflow"),
    WEFT_OUTCOME_METRIC("divide_by_zero"),
    WEFT_OUTCOME_METRIC("invalid_conversion"),
    WEFT_OUTCOME_METRIC("unreachable"),
    WEFT_OUTCOME_METRIC("indirect_call_mismatch"),
    WEFT_OUTCOME_METRIC("uncaught_exception"),
    WEFT_OUTCOME_METRIC("stack_exhausted"),
    WEFT_OUTCOME_METRIC("deadline"),
    WEFT_OUTCOME_METRIC("memory_limit"),
    WEFT_OUTCOME_METRIC("unknown_import"),
};
_Static_assert(sizeof m_traps / sizeof m_traps[0] == WEFT_TRAP_UNKNOWN_IMPORT + 1,
               "one outcome label per trap kind");

/* The outcome of a guest call, counted. */
static void count_outcome(const weft_outcome_t *o) {
    switch (o->kind) {
    case WEFT_OUTCOME_RETURNED:
        weft_metric_add(&m_returned, 1);
        break;
    case WEFT_OUTCOME_EXITED:
        weft_metric_add(o->exit_code ? &m_exit_nonzero : &m_returned, 1);
        break;
    case WEFT_OUTCOME_TRAPPED:
        if (o->trap > WEFT_TRAP_NONE && o->trap <= WEFT_TRAP_UNKNOWN_IMPORT)
            weft_metric_add(&m_traps[o->trap], 1);
        break;
    }
}

/* Lists the guest metrics, so that a scrape shows every outcome, at 0 before it
 * happens. */
static void metrics_register(void) {
    weft_metric_register(&m_started);
    weft_metric_register(&m_returned);
    weft_metric_register(&m_exit_nonzero);
    for (size_t i = WEFT_TRAP_NONE + 1; i < sizeof m_traps / sizeof m_traps[0]; i++)
        weft_metric_register(&m_traps[i]);
}

int weft_invoke_init(weft_error_t *err) {
    metrics_register();
    size_t n;
    const weft_import_def_t *defs = weft_wasi_imports(&n);
    int rc = weft_engine_provide(defs, n, err);
    if (!rc)
        rc = weft_engine_provide_loader(WEFT_HTTP_MODULE, load_http, err);
    if (!rc)
        rc = weft_engine_provide_loader(WEFT_API_MODULE, load_api, err);
    for (size_t i = 0; i < sizeof spin_modules / sizeof spin_modules[0] && !rc; i++)
        rc = weft_engine_provide_loader(spin_modules[i], load_api, err);
    return rc;
}

/* ---- functions ---------------------------------------------------------------------- */

static weft_compile_opts_t compile_opts(weft_function_t *fn, weft_tier_t tier) {
    weft_app_unknown_imports_t u = fn->def->unknown_imports;
    return (weft_compile_opts_t){
        .cache_dir = fn->opts.cache_dir,
        .quiet = fn->opts.quiet,
        .tier = tier,
        .cancel = &fn->cancel,
        .unknown_imports = u == WEFT_APP_UNKNOWN_IMPORTS_TRAP      ? WEFT_UNKNOWN_IMPORTS_TRAP
                           : u == WEFT_APP_UNKNOWN_IMPORTS_DEFAULT ? WEFT_UNKNOWN_IMPORTS_DEFAULT
                                                                   : WEFT_UNKNOWN_IMPORTS_REFUSE,
    };
}

/* The module a call runs: a reference the caller releases. */
static weft_module_t *current_module(weft_function_t *fn) {
    pthread_mutex_lock(&fn->lock);
    weft_module_t *m = fn->module;
    weft_module_retain(m);
    pthread_mutex_unlock(&fn->lock);
    return m;
}

/* One background build at a time: each runs a compiler per core already. */
static pthread_mutex_t upgrade_lock = PTHREAD_MUTEX_INITIALIZER;

/* Builds the optimized tier of fn's module and puts it in place for new calls. */
static void *upgrade_main(void *arg) {
    weft_function_t *fn = arg;
    weft_crash_thread("tier upgrade");
    pthread_mutex_lock(&upgrade_lock);
    uint64_t started = weft_now_ns();
    weft_compile_opts_t copts = compile_opts(fn, WEFT_TIER_OPT);
    copts.quiet = true;
    weft_module_t *m = NULL;
    weft_error_t err = {0};
    int rc = atomic_load(&fn->cancel) ? WEFT_ECANCELED
                                      : weft_module_load(fn->def->wasm, &copts, &m, &err);
    pthread_mutex_unlock(&upgrade_lock);
    if (rc) {
        if (rc != WEFT_ECANCELED)
            weft_log("function %s: the optimized tier could not be built; the fast tier "
                     "keeps serving: %s",
                     fn->def->name, err.msg);
        return NULL;
    }
    pthread_mutex_lock(&fn->lock);
    weft_module_t *old = fn->module;
    fn->module = m;
    pthread_mutex_unlock(&fn->lock);
    weft_module_release(old);
    weft_log("function %s: optimized tier ready after %.1f s; new calls use it", fn->def->name,
             (double)(weft_now_ns() - started) / 1e9);
    return NULL;
}

bool weft_function_optimized(weft_function_t *fn) {
    weft_module_t *m = current_module(fn);
    bool opt = weft_module_tier(m) != WEFT_TIER_FAST;
    weft_module_release(m);
    return opt;
}

int weft_function_load(const weft_app_function_t *def, const weft_function_opts_t *opts,
                       weft_function_t **out, weft_error_t *err) {
    *out = NULL;
    weft_function_t *fn = calloc(1, sizeof *fn);
    if (!fn)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    fn->def = def;
    if (opts)
        fn->opts = *opts;
    pthread_mutex_init(&fn->lock, NULL);
    weft_compile_opts_t copts =
        compile_opts(fn, fn->opts.tier == WEFT_FUNCTION_TIER_FAST  ? WEFT_TIER_FAST
                         : fn->opts.tier == WEFT_FUNCTION_TIER_OPT ? WEFT_TIER_OPT
                                                                   : WEFT_TIER_AUTO);
    /* The background build of the optimized tier reuses a fast build's translation. */
    copts.keep_c = fn->opts.upgrade && fn->opts.tier == WEFT_FUNCTION_TIER_AUTO;
    int rc = weft_module_load(def->wasm, &copts, &fn->module, err);
    if (rc)
        goto fail;
    fn->meta = fn->module;
    weft_module_retain(fn->meta);
    /* A Spin handler is known by its exports: one without them is refused at load, not
     * at its first request. */
    if (def->executor == WEFT_APP_EXECUTOR_SPIN && (rc = weft_spin_check(fn->module, err)))
        goto fail;
    if (fn->opts.upgrade && fn->opts.tier == WEFT_FUNCTION_TIER_AUTO &&
        weft_module_tier(fn->module) == WEFT_TIER_FAST) {
        if (pthread_create(&fn->upgrader, NULL, upgrade_main, fn) == 0) {
            fn->upgrading = true;
            weft_log("function %s: serving the fast tier; building the optimized tier in the "
                     "background",
                     def->name);
        } else {
            weft_log("function %s: serving the fast tier; no thread to build the optimized "
                     "one",
                     def->name);
        }
    }
    if (def->nvolumes && !(fn->preopens = calloc(def->nvolumes, sizeof *fn->preopens))) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < def->nvolumes; i++) {
        fn->preopens[i].host_path = def->volumes[i].host;
        fn->preopens[i].guest_path = def->volumes[i].guest;
        fn->preopens[i].readonly = def->volumes[i].readonly;
    }
    const weft_app_grants_t *g = &def->grants;
    fn->http = (weft_host_policy_t){
        .allowed_hosts = (const char *const *)def->allowed_hosts,
        .nallowed = def->nallowed,
        .max_concurrency = def->http_max_concurrency,
        .log_tag = def->name,
        .services = opts ? opts->services : NULL,
        .grants = {(const char *const *)g->kv, g->nkv, (const char *const *)g->blob, g->nblob,
                   (const char *const *)g->doc, g->ndoc, (const char *const *)g->publish,
                   g->npublish},
        .function = def->name,
    };
    if (def->nconfig) {
        if (!(fn->config = calloc(2 * def->nconfig, sizeof *fn->config))) {
            rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < def->nconfig; i++) {
            fn->config[i] = def->config[i].name;
            fn->config[def->nconfig + i] = def->config[i].value;
        }
        fn->http.config_names = fn->config;
        fn->http.config_values = fn->config + def->nconfig;
        fn->http.nconfig = def->nconfig;
    }
    *out = fn;
    return 0;
fail:
    weft_function_release(fn);
    return rc;
}

void weft_function_release(weft_function_t *fn) {
    if (!fn)
        return;
    if (fn->upgrading) {
        atomic_store(&fn->cancel, true);
        pthread_join(fn->upgrader, NULL);
    }
    if (fn->module)
        weft_module_release(fn->module);
    if (fn->meta)
        weft_module_release(fn->meta);
    pthread_mutex_destroy(&fn->lock);
    free(fn->preopens);
    free(fn->config);
    free(fn);
}

const weft_app_function_t *weft_function_def(const weft_function_t *fn) {
    return fn->def;
}

bool weft_function_has_entry(const weft_function_t *fn, const char *entry) {
    return weft_module_has_entry(fn->meta, entry); /* both tiers export the same */
}

void weft_function_exports(const weft_function_t *fn, char *out, size_t size) {
    size_t n = weft_module_export_count(fn->meta), used = 0;
    if (!size)
        return;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = weft_module_export_name(fn->meta, i);
        /* Room for this name and its separator, and for "..." after it. */
        if (used + strlen(name) + 2 + 4 >= size) {
            snprintf(out + used, size - used, "%s...", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", name);
    }
}

/* "(func (param i32 i32) (result i32))" for the signature "ii:i". */
static void sig_text(const char *sig, char *out, size_t size) {
    static const char *const names[] = {"i32", "i64", "f32", "f64"};
    weft_buf_t b = {0};
    weft_buf_puts(&b, "(func");
    const char *colon = strchr(sig, ':');
    for (int part = 0; part < 2; part++) {
        const char *from = part ? colon + 1 : sig, *to = part ? colon + strlen(colon) : colon;
        if (from < to)
            weft_buf_puts(&b, part ? " (result" : " (param");
        for (const char *p = from; p < to; p++)
            weft_buf_printf(&b, " %s", names[strchr("iIfF", *p) - "iIfF"]);
        if (from < to)
            weft_buf_puts(&b, ")");
    }
    weft_buf_puts(&b, ")");
    snprintf(out, size, "%s", b.data ? (char *)b.data : "(func)");
    weft_buf_free(&b);
}

int weft_function_entry_check(const weft_function_t *fn, const char *entry, weft_error_t *err) {
    if (weft_module_has_entry(fn->meta, entry))
        return 0;
    const char *name = weft_module_name(fn->meta);
    const char *sig = weft_module_export_sig(fn->meta, entry);
    char type[256], exports[512];
    if (sig) {
        sig_text(sig, type, sizeof type);
        return weft_error_set(err, WEFT_ENOTFOUND,
                              "%s: export '%s' has type %s; a call can start only at a function "
                              "that takes no parameters and returns nothing",
                              name, entry, type);
    }
    weft_function_exports(fn, exports, sizeof exports);
    bool command = weft_module_has_entry(fn->meta, "_start");
    bool reactor = weft_module_has_entry(fn->meta, "_initialize");
    const char *kind = reactor && !command
                           ? "it is a reactor (it exports _initialize and no _start); "
                       : !reactor && !command ? "it exports neither _start nor _initialize; "
                                              : "";
    return weft_error_set(err, WEFT_ENOTFOUND, "%s has no exported function '%s': %s%s%s", name,
                          entry, kind,
                          exports[0] ? "its functions are " : "it exports no functions", exports);
}

bool weft_function_repeatable(const weft_function_t *fn) {
    return fn->def->nvolumes == 0 && fn->def->nallowed == 0 &&
           !atomic_load_explicit(&fn->writes, memory_order_relaxed);
}

/* ---- one run -------------------------------------------------------------------------- */

static weft_call_outcome_t outcome_of(const weft_outcome_t *o) {
    weft_call_outcome_t c = {.exit_code = o->exit_code};
    switch (o->kind) {
    case WEFT_OUTCOME_RETURNED:
        c.end = WEFT_CALL_RETURNED;
        break;
    case WEFT_OUTCOME_EXITED:
        c.end = WEFT_CALL_EXITED;
        break;
    case WEFT_OUTCOME_TRAPPED:
        c.end = o->trap == WEFT_TRAP_DEADLINE       ? WEFT_CALL_DEADLINE
                : o->trap == WEFT_TRAP_MEMORY_LIMIT ? WEFT_CALL_MEMORY_LIMIT
                                                    : WEFT_CALL_TRAPPED;
        c.trap = weft_outcome_trap_text(o);
        break;
    }
    return c;
}

/* The host APIs of one call: outbound HTTP and the services when the module imports
 * them (*host stays NULL otherwise: a guest that uses neither pays nothing). Ended by
 * host_end. */
static int host_begin(weft_function_t *fn, weft_module_t *module, weft_host_t **host,
                      const weft_net_plugin_t **net, weft_error_t *err) {
    *host = NULL;
    *net = NULL;
    bool any = weft_module_imports(module, WEFT_HTTP_MODULE) ||
               weft_module_imports(module, WEFT_API_MODULE);
    for (size_t i = 0; i < sizeof spin_modules / sizeof spin_modules[0] && !any; i++)
        any = weft_module_imports(module, spin_modules[i]);
    if (!any)
        return 0;
    /* The engine loaded the plugin when it loaded the module. */
    *net = weft_net_plugin_get(err);
    return *net ? (*net)->host_create(&fn->http, host, err) : WEFT_ELOAD;
}

static void host_end(weft_host_t *host, const weft_net_plugin_t *net) {
    if (host)
        net->host_destroy(host);
}

/* Runs entry of fn with the WASI world cfg, under timeout_ns (0: the function's). A
 * trial's host APIs change nothing and do not block (host.h, weft_host_trial); when one
 * stopped it because the guest wanted to write, fn is marked as writing. */
static int run(weft_function_t *fn, const char *entry, const weft_wasi_config_t *cfg,
               uint64_t timeout_ns, bool trial, const weft_spin_call_t *spin,
               weft_spin_message_t *message, weft_call_outcome_t *out, weft_error_t *err) {
    weft_host_t *host;
    const weft_net_plugin_t *net;
    weft_module_t *module = current_module(fn);
    int rc = host_begin(fn, module, &host, &net, err);
    if (rc) {
        weft_module_release(module);
        return rc;
    }
    weft_limits_t limits = {.max_memory = fn->def->max_memory,
                            .timeout_ns = timeout_ns ? timeout_ns : fn->def->timeout_ns};
    weft_outcome_t o;
    if (host && trial)
        net->host_trial(host, true);
    rc = spin      ? weft_spin_exec(module, cfg, host, &limits, spin, &o, err)
         : message ? weft_spin_redis_exec(module, cfg, host, &limits, message, &o, err)
                   : weft_wasi_run(module, entry ? entry : fn->def->entrypoint, cfg, host, &limits,
                                   &o, err);
    if (!rc) {
        *out = outcome_of(&o);
        weft_metric_add(&m_started, 1);
        /* A trial stopped by its budget is run again: the second run's end counts. */
        if (!(trial && o.kind == WEFT_OUTCOME_TRAPPED && o.trap == WEFT_TRAP_DEADLINE))
            count_outcome(&o);
    }
    if (host && trial) {
        net->host_trial(host, false);
        if (net->host_trial_wrote(host))
            atomic_store_explicit(&fn->writes, true, memory_order_relaxed);
    }
    host_end(host, net);
    weft_module_release(module);
    return rc;
}

/* Bounds on what one --invoke passes (wasm allows 1000 of each; no C compiler writes a
 * function with that many). */
#define WEFT_INVOKE_MAX_VALUES 64

/* Reads the arguments of export entry of type sig from opts->params into args. */
static int invoke_args(const weft_function_t *fn, const char *entry, const char *sig,
                       const weft_run_opts_t *opts, weft_value_t *args, weft_error_t *err) {
    const char *colon = strchr(sig, ':');
    size_t n = (size_t)(colon - sig);
    char type[256];
    sig_text(sig, type, sizeof type);
    if (n > WEFT_INVOKE_MAX_VALUES || strlen(colon + 1) > WEFT_INVOKE_MAX_VALUES)
        return weft_error_set(err, WEFT_EUNSUPPORTED,
                              "%s: '%s' has type %s: weft passes at most %d",
                              weft_module_name(fn->meta), entry, type, WEFT_INVOKE_MAX_VALUES);
    const char *name = weft_module_name(fn->meta);
    if (opts->nparams < n)
        return weft_error_set(err, WEFT_EINVAL, "%s: '%s' takes %zu argument%s, %s; %zu given",
                              name, entry, n, n == 1 ? "" : "s", type, opts->nparams);
    static const char *const names[] = {"an i32", "an i64", "an f32", "an f64"};
    for (size_t i = 0; i < n; i++) {
        if (weft_value_parse(sig[i], opts->params[i], &args[i]))
            return weft_error_set(
                err, WEFT_EINVAL, "%s: '%s' takes %s: argument %zu, '%s', is not %s", name, entry,
                type, i + 1, opts->params[i], names[strchr("iIfF", sig[i]) - "iIfF"]);
    }
    return 0;
}

/* wasmtime's --invoke (invoke.h, weft_run_opts_t): one instance, its _initialize, then
 * entry with arguments read from text and its results written as text. */
static int run_invoke(weft_function_t *fn, const weft_run_opts_t *opts,
                      const weft_wasi_config_t *cfg, weft_call_outcome_t *out, weft_error_t *err) {
    const char *entry = opts->entry;
    const char *sig = entry ? weft_module_export_sig(fn->meta, entry) : ":";
    weft_value_t args[WEFT_INVOKE_MAX_VALUES], results[WEFT_INVOKE_MAX_VALUES];
    if (!sig) { /* no such export: the check says what there is instead */
        int rc = weft_function_entry_check(fn, entry, err);
        return rc ? rc : WEFT_ENOTFOUND;
    }
    int rc = invoke_args(fn, entry, sig, opts, args, err);
    weft_host_t *host = NULL;
    const weft_net_plugin_t *net = NULL;
    weft_wasi_t *wasi = NULL;
    weft_instance_t *in = NULL;
    weft_module_t *module = current_module(fn);
    if (rc || (rc = host_begin(fn, module, &host, &net, err)) ||
        (rc = weft_wasi_create(cfg, &wasi, err)))
        goto done;
    weft_guest_t guest = {.wasi = wasi, .host = host};
    weft_limits_t limits = {.max_memory = fn->def->max_memory, .timeout_ns = fn->def->timeout_ns};
    weft_outcome_t o;
    if ((rc = weft_instance_new(module, &guest, &limits, &in, &o, err)))
        goto done;
    if (in && entry)
        rc = weft_instance_invoke(in, entry, args, results, &o, err);
    else if (in && weft_module_has_entry(module, "_initialize"))
        rc = weft_instance_call(in, "_initialize", &o, err);
    if (rc)
        goto done;
    weft_metric_add(&m_started, 1);
    count_outcome(&o);
    *out = outcome_of(&o);
    const char *types = strchr(sig, ':') + 1;
    for (size_t i = 0; o.kind == WEFT_OUTCOME_RETURNED && types[i] && opts->results; i++) {
        char text[400];
        weft_value_format(types[i], results[i], text, sizeof text);
        if (weft_buf_puts(opts->results, text) || weft_buf_puts(opts->results, "\n")) {
            rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
            break;
        }
    }
done:
    weft_instance_free(in);
    if (wasi)
        weft_wasi_destroy(wasi);
    host_end(host, net);
    weft_module_release(module);
    return rc;
}

int weft_function_run(weft_function_t *fn, const weft_run_opts_t *opts, weft_call_outcome_t *out,
                      weft_error_t *err) {
    weft_wasi_config_t cfg = {
        .argv = opts->argv,
        .argc = opts->argc,
        .envp = fn->opts.env,
        .envc = fn->opts.nenv,
        .preopens = fn->preopens,
        .npreopens = fn->def->nvolumes,
        .sockets = opts->sockets,
        .nsockets = opts->nsockets,
        .stdio = {{.kind = WEFT_STDIO_FD, .fd = 0},
                  {.kind = WEFT_STDIO_FD, .fd = 1},
                  {.kind = WEFT_STDIO_FD, .fd = 2}},
    };
    *out = (weft_call_outcome_t){.end = WEFT_CALL_NOT_STARTED};
    if (opts->invoke)
        return run_invoke(fn, opts, &cfg, out, err);
    return run(fn, opts->entry, &cfg, 0, false, NULL, NULL, out, err);
}

/* ---- the guest's stderr ---------------------------------------------------------------- */

/* One call's stderr: delivered line by line (to on_stderr or the log) up to the caps,
 * past which lines are only counted (summed up in one log line at the end); held back
 * during a trial until the trial is known to count, so that a line is never delivered
 * twice. */
typedef struct call {
    const weft_call_opts_t *opts;
    const char *tag;
    uint64_t max_lines, max_bytes;
    bool hold;
    weft_buf_t held;
    uint64_t lines, bytes, dropped_lines, dropped_bytes;
} call_t;

/* Copies line into clean (cap bytes) with control characters made visible, so that a
 * guest cannot forge log lines of its own. Returns how many bytes of line it kept. */
static size_t log_safe(char *clean, size_t cap, const char *line, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    clean[n] = 0;
    return n;
}

static void deliver(const call_t *c, const char *line, size_t len) {
    if (c->opts->on_stderr) {
        c->opts->on_stderr(c->opts->arg, line,
                           len < WEFT_INVOKE_MAX_STDERR_LINE ? len : WEFT_INVOKE_MAX_STDERR_LINE);
        return;
    }
    char clean[WEFT_INVOKE_MAX_STDERR_LINE];
    log_safe(clean, sizeof clean, line, len);
    weft_log("%s: %s", c->tag, clean);
}

static void on_stderr_line(void *arg, const char *line, size_t len) {
    call_t *c = arg;
    if (c->dropped_lines || c->lines >= c->max_lines || c->bytes + len + 1 > c->max_bytes) {
        c->dropped_lines++;
        c->dropped_bytes += len + 1;
        return;
    }
    c->lines++;
    c->bytes += len + 1;
    if (!c->hold) {
        deliver(c, line, len);
        return;
    }
    if (len > WEFT_INVOKE_MAX_STDERR_LINE)
        len = WEFT_INVOKE_MAX_STDERR_LINE;
    if (weft_buf_append(&c->held, line, len) || weft_buf_append(&c->held, "\n", 1))
        deliver(c, line, len); /* out of memory: better now than never */
}

/* Delivers the held lines and sums up the dropped ones, or forgets both. */
static void release_stderr(call_t *c, bool keep) {
    const char *p = (const char *)c->held.data, *end = p + c->held.len;
    while (keep && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        deliver(c, p, (size_t)(nl - p));
        p = nl + 1;
    }
    weft_buf_free(&c->held);
    if (keep && c->dropped_lines)
        weft_log("%s: ... %llu more stderr line%s (%llu bytes) not logged", c->tag,
                 (unsigned long long)c->dropped_lines, c->dropped_lines == 1 ? "" : "s",
                 (unsigned long long)c->dropped_bytes);
}

static void on_dropped_header(void *arg, const char *why, const char *line, size_t len) {
    const call_t *c = arg;
    char clean[256];
    size_t n = log_safe(clean, sizeof clean, line, len);
    weft_log("%s: response header dropped (%s): %s%s", c->tag, why, clean, len > n ? "..." : "");
}

/* ---- a request's call ------------------------------------------------------------------ */

static void fail(weft_response_t *resp, unsigned status, const char *text) {
    resp->status = status;
    resp->error = text;
}

/* The status of a call that ran (see the top of this file). */
static void answer(const weft_function_t *fn, const call_t *c, uint64_t max_response,
                   weft_response_t *resp) {
    const weft_call_outcome_t *o = &resp->outcome;
    weft_buf_t *out = &resp->data_->out;
    if (o->end == WEFT_CALL_DEADLINE) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 504: stopped after its timeout of %.3gs", c->tag,
                    (double)fn->def->timeout_ns / 1e9);
        fail(resp, 504, "the function did not answer in time");
    } else if (out->len > max_response) {
        /* Before the exit status: a guest whose write past the limit failed may well
         * have given up with an error, and this is why. */
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: response larger than %llu bytes", c->tag,
                    (unsigned long long)max_response);
        fail(resp, 500, "the function's response is too large");
    } else if (o->trap) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: trap: %s", c->tag, o->trap);
        fail(resp, 500, "the function failed");
    } else if (o->end == WEFT_CALL_EXITED && o->exit_code != 0) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: exited with status %u", c->tag, o->exit_code);
        fail(resp, 500, "the function failed");
    } else if (weft_buf_reserve(out, 0)) { /* the parser needs out->data[len] */
        fail(resp, 500, "out of memory");
    } else if (weft_cgi_parse(out->data, out->len, &resp->data_->cgi, on_dropped_header,
                              (void *)c)) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: %s", c->tag, resp->data_->cgi.error);
        fail(resp, 500, resp->data_->cgi.error); /* a string constant of cgi_response.c */
    } else {
        const weft_cgi_response_t *cgi = &resp->data_->cgi;
        resp->status = cgi->status;
        resp->headers = cgi->headers;
        resp->nheaders = cgi->nheaders;
        resp->body = cgi->body;
        resp->body_len = cgi->body_len;
    }
}

/* Spin's handler answered (or not): the status as for a CGI call, the answer read back
 * instead of stdout. A handler that exits, even with 0, has not answered. */
static void answer_spin(const weft_function_t *fn, const call_t *c, weft_response_t *resp) {
    const weft_call_outcome_t *o = &resp->outcome;
    const weft_spin_answer_t *a = &resp->data_->spin;
    if (o->end == WEFT_CALL_DEADLINE) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 504: stopped after its timeout of %.3gs", c->tag,
                    (double)fn->def->timeout_ns / 1e9);
        fail(resp, 504, "the function did not answer in time");
    } else if (o->trap) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: trap: %s", c->tag, o->trap);
        fail(resp, 500, "the function failed");
    } else if (o->end == WEFT_CALL_EXITED) {
        weft_log_at(WEFT_LOG_ERROR,
                    "%s: 500: exited with status %u instead of returning a response", c->tag,
                    o->exit_code);
        fail(resp, 500, "the function failed");
    } else if (a->error) {
        fail(resp, 500, a->error); /* logged where it was found (spin_http.c) */
    } else {
        resp->status = a->status;
        resp->headers = a->headers;
        resp->nheaders = a->nheaders;
        resp->body = a->arena.data + a->body_at;
        resp->body_len = a->body_len;
    }
}

/* The WASI configuration of a call whose arguments and environment were mapped from a
 * request or a message: the function's volumes, stdio for the caller to set. */
static weft_wasi_config_t mapped_config(const weft_function_t *fn, const weft_strv_t *argv,
                                        const weft_strv_t *env) {
    return (weft_wasi_config_t){.argv = (const char *const *)argv->v,
                                .argc = argv->n,
                                .envp = (const char *const *)env->v,
                                .envc = env->n,
                                .preopens = fn->preopens,
                                .npreopens = fn->def->nvolumes};
}

/* The environment of a Spin handler: the global variables, then the function's own, a
 * later definition of a name replacing an earlier one (no CGI variables: Spin passes the
 * request as records). */
static int spin_env(const weft_function_t *fn, weft_strv_t *out) {
    const char *const *lists[2] = {fn->opts.env, (const char *const *)fn->def->env};
    size_t counts[2] = {fn->opts.nenv, fn->def->nenv};
    int rc = 0;
    for (int l = 0; l < 2 && !rc; l++)
        for (size_t i = 0; i < counts[l] && !rc; i++) {
            const char *v = lists[l][i];
            size_t n = strcspn(v, "=");
            bool later = false;
            for (int m = l; m < 2 && !later; m++)
                for (size_t k = m == l ? i + 1 : 0; k < counts[m] && !later; k++)
                    later = strcspn(lists[m][k], "=") == n && !strncmp(lists[m][k], v, n);
            if (!later)
                rc = weft_strv_add(out, v, strlen(v));
        }
    return rc;
}

int weft_function_call(weft_function_t *fn, const weft_request_t *rq, const weft_call_opts_t *opts,
                       weft_response_t *resp, weft_error_t *err) {
    static const weft_call_opts_t no_opts;
    if (!opts)
        opts = &no_opts;
    memset(resp, 0, sizeof *resp);
    resp->outcome.end = WEFT_CALL_NOT_STARTED;
    if (!(resp->data_ = calloc(1, sizeof *resp->data_)))
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    uint64_t max_response = opts->max_response ? opts->max_response : WEFT_INVOKE_MAX_RESPONSE;
    uint64_t timeout_ns = fn->def->timeout_ns;
    bool trial = opts->budget_ns && (!timeout_ns || opts->budget_ns < timeout_ns);
    if (trial)
        timeout_ns = opts->budget_ns;
    call_t c = {
        .opts = opts,
        .tag = opts->log_tag ? opts->log_tag : fn->def->name,
        .max_lines = opts->max_stderr_lines ? opts->max_stderr_lines : WEFT_INVOKE_MAX_STDERR_LINES,
        .max_bytes = opts->max_stderr_bytes ? opts->max_stderr_bytes : WEFT_INVOKE_MAX_STDERR_BYTES,
        .hold = trial,
    };
    bool spin = rq && fn->def->executor == WEFT_APP_EXECUTOR_SPIN;
    if (spin && weft_spin_method(rq->method) < 0) {
        /* As Spin: a method its enum has no case for is 405, empty, without a call. */
        resp->status = 405;
        return 0;
    }
    weft_strv_t env = {0}, argv = {0};
    int rc = 0;
    const char *const *genv = fn->opts.env, *const *menv = (const char *const *)fn->def->env;
    if (spin) {
        rc = spin_env(fn, &env);
    } else if (rq && fn->def->spin) { /* Spin's WAGI executor: its variables and argv */
        rc = weft_cgi_env_spin(rq, genv, fn->opts.nenv, menv, fn->def->nenv, &env);
        if (!rc)
            rc = weft_cgi_argv_spin(fn->def->argv, rq, &argv);
    } else if (rq) {
        rc = weft_cgi_env(rq, genv, fn->opts.nenv, menv, fn->def->nenv, &env);
        if (!rc)
            rc = weft_cgi_argv(fn->def->argv, rq, &argv);
    } else {
        rc = weft_strv_add(&argv, fn->def->name, strlen(fn->def->name));
    }
    if (rc) {
        weft_strv_free(&env);
        weft_strv_free(&argv);
        return weft_error_set(err, rc, "%s: cannot map the request: %s", c.tag, weft_err_text(rc));
    }
    weft_wasi_config_t cfg = mapped_config(fn, &argv, &env);
    cfg.stdio[0] = (weft_stdio_t){.kind = rq && !spin ? WEFT_STDIO_INPUT : WEFT_STDIO_NULL,
                                  .in = rq && !spin ? rq->body : NULL,
                                  .in_len = rq && !spin ? rq->body_len : 0};
    cfg.stdio[1] = (weft_stdio_t){.kind = WEFT_STDIO_OUTPUT,
                                  .out = &resp->data_->out,
                                  .out_limit = max_response + 1}; /* one byte over: too large */
    cfg.stdio[2] = (weft_stdio_t){.kind = WEFT_STDIO_LINES, .on_line = on_stderr_line, .arg = &c};
    if (spin) /* a Spin handler answers with records; what it prints is logged */
        cfg.stdio[1] = cfg.stdio[2];
    weft_spin_call_t sc = {.rq = rq,
                           .max_response = max_response,
                           .tag = c.tag,
                           .warn = on_dropped_header,
                           .arg = &c,
                           .answer = &resp->data_->spin};
    weft_error_t run_err = {0};
    rc = run(fn, opts->entry, &cfg, timeout_ns, trial, spin ? &sc : NULL, NULL, &resp->outcome,
             &run_err);
    weft_strv_free(&env);
    weft_strv_free(&argv);
    if (trial && !rc && resp->outcome.end == WEFT_CALL_DEADLINE) {
        release_stderr(&c, false);
        resp->outcome = (weft_call_outcome_t){.end = WEFT_CALL_BUDGET};
        weft_buf_free(&resp->data_->out);
        weft_spin_answer_free(&resp->data_->spin);
        return 0;
    }
    release_stderr(&c, true);
    if (rc && !rq) {
        *err = run_err;
        return rc;
    }
    if (rc) {
        weft_log_at(WEFT_LOG_ERROR, "%s: 500: cannot run the function: %s", c.tag, run_err.msg);
        fail(resp, 500, "the function could not be started");
        return 0;
    }
    if (spin) {
        answer_spin(fn, &c, resp);
    } else if (rq) {
        answer(fn, &c, max_response, resp);
    } else { /* a set-up export: its caller judges the outcome */
        bool ok = !resp->outcome.trap && !resp->outcome.exit_code;
        resp->status = ok ? 200 : 500;
        resp->body = resp->data_->out.data;
        resp->body_len = resp->data_->out.len;
    }
    return 0;
}

void weft_response_free(weft_response_t *resp) {
    if (resp->data_) {
        weft_buf_free(&resp->data_->out);
        weft_spin_answer_free(&resp->data_->spin);
        free(resp->data_);
    }
    memset(resp, 0, sizeof *resp);
}

/* ---- a message's call ------------------------------------------------------------------ */

int weft_function_message(weft_function_t *fn, const weft_message_t *msg,
                          const weft_call_opts_t *opts, weft_call_outcome_t *out, bool *handled,
                          weft_error_t *err) {
    static const weft_call_opts_t no_opts;
    if (!opts)
        opts = &no_opts;
    *out = (weft_call_outcome_t){.end = WEFT_CALL_NOT_STARTED};
    *handled = false;
    call_t c = {
        .opts = opts,
        .tag = opts->log_tag ? opts->log_tag : fn->def->name,
        .max_lines = opts->max_stderr_lines ? opts->max_stderr_lines : WEFT_INVOKE_MAX_STDERR_LINES,
        .max_bytes = opts->max_stderr_bytes ? opts->max_stderr_bytes : WEFT_INVOKE_MAX_STDERR_BYTES,
    };
    weft_module_t *m = current_module(fn);
    bool spin = weft_spin_redis_has(m);
    weft_module_release(m);
    weft_strv_t env = {0}, argv = {0};
    weft_buf_t chan = {0};
    int rc = spin_env(fn, &env);
    if (!rc && !spin)
        rc = weft_buf_printf(&chan, "REDIS_CHANNEL=%s", msg->channel) ? WEFT_ENOMEM : 0;
    if (!rc && !spin)
        rc = weft_strv_add(&env, (const char *)chan.data, chan.len);
    if (!rc)
        rc = weft_strv_add(&argv, fn->def->name, strlen(fn->def->name));
    weft_buf_free(&chan);
    if (rc) {
        weft_strv_free(&env);
        weft_strv_free(&argv);
        return weft_error_set(err, rc, "%s: cannot map the message: %s", c.tag, weft_err_text(rc));
    }
    /* stdout and stderr both go to the log, line by line, as Spin logs a component's. */
    weft_wasi_config_t cfg = mapped_config(fn, &argv, &env);
    cfg.stdio[0] = (weft_stdio_t){.kind = spin ? WEFT_STDIO_NULL : WEFT_STDIO_INPUT,
                                  .in = spin ? NULL : msg->payload,
                                  .in_len = spin ? 0 : msg->len};
    cfg.stdio[1] = cfg.stdio[2] =
        (weft_stdio_t){.kind = WEFT_STDIO_LINES, .on_line = on_stderr_line, .arg = &c};
    weft_spin_message_t sm = {.payload = msg->payload, .len = msg->len};
    weft_error_t run_err = {0};
    rc = run(fn, NULL, &cfg, 0, false, NULL, spin ? &sm : NULL, out, &run_err);
    weft_strv_free(&env);
    weft_strv_free(&argv);
    release_stderr(&c, true);
    if (rc) {
        weft_log_at(WEFT_LOG_ERROR, "%s: cannot run the function: %s", c.tag, run_err.msg);
        return 0;
    }
    if (out->end == WEFT_CALL_DEADLINE)
        weft_log_at(WEFT_LOG_ERROR, "%s: stopped after its timeout of %.3gs", c.tag,
                    (double)fn->def->timeout_ns / 1e9);
    else if (out->trap)
        weft_log_at(WEFT_LOG_ERROR, "%s: trap: %s", c.tag, out->trap);
    else if (spin && out->end == WEFT_CALL_EXITED)
        weft_log_at(WEFT_LOG_ERROR, "%s: exited with status %u instead of returning", c.tag,
                    out->exit_code);
    else if (spin && sm.error)
        weft_log_at(WEFT_LOG_ERROR, "%s: %s", c.tag, sm.error);
    else if (!spin && out->end == WEFT_CALL_EXITED && out->exit_code)
        weft_log_at(WEFT_LOG_ERROR, "%s: exited with status %u", c.tag, out->exit_code);
    else
        *handled = spin ? sm.handled : true;
    return 0;
}
