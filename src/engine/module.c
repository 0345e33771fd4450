/* module: loading compiled artifacts and running instances of them.
 *
 * Loading a .wasm compiles it first, through the one public entry of the pipeline,
 * weft_module_compile (compile.c): module.c depends on compile.c, and compile.c knows
 * nothing of module.c. Everything else loading needs is the cache, which checks a
 * standalone artifact and takes it in (cache.c, artifact.c), and the providers of the
 * artifact's imports (imports.c).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "glue.h"

struct weft_module {
    int refs; /* atomic */
    void *dl;
    const weft_glue_t *glue;
    uintptr_t code_lo, code_hi;
    char *name;
    weft_tier_t tier; /* the tier compiled from a .wasm; WEFT_TIER_AUTO for an artifact */
    weft_unknown_imports_t unknown_imports; /* what its stubs do (engine.h) */
};

/* ---- Loading ----------------------------------------------------------------------- */

typedef struct find_code {
    uintptr_t probe;
    uintptr_t lo, hi;
} find_code_t;

/* Finds the executable segment of the shared object that contains probe. */
static int find_code_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    find_code_t *fc = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    bool contains = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (fc->probe >= a && fc->probe < b)
            contains = true;
        if (ph->p_flags & PF_X) {
            if (a < lo)
                lo = a;
            if (b > hi)
                hi = b;
        }
    }
    if (!contains)
        return 0;
    fc->lo = lo;
    fc->hi = hi;
    return 1;
}

/* dlopen is not re-entrant with respect to init_module: one load at a time. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Loads the artifact at artifact, whose trailer the caller has just checked
 * (weft_module_compile and weft_cache_adopt do); its path has a slash, so that dlopen()
 * does not search the library path for it. */
static int load_artifact(const char *artifact, const char *name, weft_module_t **out,
                         weft_error_t *err) {
    int rc = 0;
    wasm_rt_init();
    weft_module_t *m = calloc(1, sizeof *m);
    if (!m)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    pthread_mutex_lock(&load_lock);
    /* Lazy binding: the host functions of a plugin (see weft_engine_provide_loader)
     * are bound at their first call, after the check below has loaded the plugin. */
    m->dl = dlopen(artifact, RTLD_LAZY | RTLD_LOCAL);
    if (!m->dl) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: %s", artifact, dlerror());
        goto fail;
    }
    m->glue = dlsym(m->dl, "weft_glue");
    if (!m->glue) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: not a weft artifact (no weft_glue)", artifact);
        goto fail;
    }
    if (m->glue->abi != WEFT_GLUE_ABI) {
        rc = weft_error_set(err, WEFT_ELOAD,
                            "%s: artifact ABI %u, this weft needs %u; recompile the module",
                            artifact, m->glue->abi, WEFT_GLUE_ABI);
        goto fail;
    }
    for (const char *const *im = m->glue->import_modules; *im; im++) {
        if ((rc = weft_engine_require_module(*im, err))) {
            weft_error_prefix(err, "%s", name);
            goto fail;
        }
    }
    find_code_t fc = {.probe = (uintptr_t)m->glue->instantiate};
    if (!dl_iterate_phdr(find_code_cb, &fc)) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: cannot find its code segment", artifact);
        goto fail;
    }
    m->code_lo = fc.lo;
    m->code_hi = fc.hi;
    /* init_module registers function types; idempotent per dlopen handle, and dlopen
     * of an already loaded artifact returns the same handle. */
    m->glue->init_module();
    pthread_mutex_unlock(&load_lock);
    m->name = strdup(name);
    atomic_store((atomic_int *)&m->refs, 1);
    *out = m;
    return 0;
fail:
    if (m->dl)
        dlclose(m->dl);
    pthread_mutex_unlock(&load_lock);
    free(m);
    return rc;
}

/* An artifact has stubs for the imports weft did not provide (glue.h); where unknown
 * imports are refused, so is it, as the compiler would have refused its module: the
 * artifact may come from the cache or a file compiled in another mode. */
static int set_unknown_imports(weft_module_t *m, const weft_compile_opts_t *opts,
                               weft_error_t *err) {
    m->unknown_imports = opts ? opts->unknown_imports : WEFT_UNKNOWN_IMPORTS_REFUSE;
    const char *first = m->glue->unknown_imports[0];
    if (!first || m->unknown_imports != WEFT_UNKNOWN_IMPORTS_REFUSE)
        return 0;
    int rc = weft_error_set(err, WEFT_EIMPORT, "%s imports %s, which weft does not provide",
                            m->name, first);
    weft_module_release(m);
    return rc;
}

int weft_module_load(const char *path, const weft_compile_opts_t *opts, weft_module_t **out,
                     weft_error_t *err) {
    char artifact[4096];
    weft_tier_t tier = WEFT_TIER_AUTO;
    int rc = weft_artifact_is(path)
                 ? weft_cache_adopt(path, opts, artifact, sizeof artifact, err)
                 : weft_module_compile_tier(path, opts, artifact, sizeof artifact, &tier, err);
    if (rc)
        return rc;
    rc = load_artifact(artifact, path, out, err);
    if (!rc)
        (*out)->tier = tier;
    if (!rc && (rc = set_unknown_imports(*out, opts, err)))
        *out = NULL;
    return rc;
}

weft_tier_t weft_module_tier(const weft_module_t *m) {
    return m->tier;
}

void weft_module_retain(weft_module_t *m) {
    atomic_fetch_add((atomic_int *)&m->refs, 1);
}

void weft_module_release(weft_module_t *m) {
    if (!m || atomic_fetch_sub((atomic_int *)&m->refs, 1) != 1)
        return;
    /* The artifact stays mapped: function type ids registered by it stay valid, and a
     * later load of the same module is then free. */
    free(m->name);
    free(m);
}

bool weft_module_imports(const weft_module_t *m, const char *module) {
    for (const char *const *im = m->glue->import_modules; *im; im++)
        if (!strcmp(*im, module))
            return true;
    return false;
}

const char *weft_module_name(const weft_module_t *m) {
    return m->name;
}

static const weft_glue_export_t *find_export(const weft_module_t *m, const char *name) {
    for (uint32_t i = 0; i < m->glue->nexports; i++)
        if (!strcmp(m->glue->exports[i].name, name))
            return &m->glue->exports[i];
    return NULL;
}

bool weft_module_has_entry(const weft_module_t *m, const char *name) {
    const weft_glue_export_t *e = find_export(m, name);
    return e && e->fn;
}

size_t weft_module_export_count(const weft_module_t *m) {
    return m->glue->nexports;
}

const char *weft_module_export_name(const weft_module_t *m, size_t i) {
    return i < m->glue->nexports ? m->glue->exports[i].name : NULL;
}

const char *weft_module_export_sig(const weft_module_t *m, const char *name) {
    const weft_glue_export_t *e = find_export(m, name);
    return e ? e->sig : NULL;
}

/* ---- Instances ---------------------------------------------------------------------- */

struct weft_instance {
    weft_module_t *module;
    weft_guest_t *guest;
    uint64_t deadline_ns;
    uint32_t limit_pages;
    bool initialized; /* _initialize has run (or was never to run) */
    _Alignas(16) unsigned char data[];
};

static void do_instantiate(void *arg) {
    weft_instance_t *in = arg;
    in->module->glue->instantiate(in->data, in->guest);
    in->guest->memory = in->module->glue->memory(in->data);
}

typedef struct call_arg {
    weft_instance_t *in;
    const weft_glue_export_t *fn;
    const weft_value_t *args; /* NULL: fn is of type (func) */
    weft_value_t *results;
} call_arg_t;

static void do_call(void *arg) {
    call_arg_t *c = arg;
    if (c->args)
        c->fn->call(c->in->data, c->args, c->results);
    else
        c->fn->fn(c->in->data);
}

static void instance_release(weft_instance_t *in) {
    if (in->deadline_ns)
        weft_rt_deadline_end();
    /* Also after an instantiation that trapped half way: the instance was zeroed, and
     * freeing a table or memory that was never allocated does nothing. */
    in->module->glue->free(in->data);
    weft_module_release(in->module);
    free(in);
}

int weft_instance_new(weft_module_t *m, weft_guest_t *guest, const weft_limits_t *limits,
                      weft_instance_t **inst, weft_outcome_t *out, weft_error_t *err) {
    *inst = NULL;
    weft_instance_t *in = calloc(1, sizeof *in + m->glue->instance_size);
    if (!in)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    weft_module_retain(m);
    in->module = m;
    in->guest = guest;
    guest->memory = NULL;
    guest->instance_ = in;
    if (limits && limits->timeout_ns)
        in->deadline_ns = weft_now_ns() + limits->timeout_ns;
    if (limits && limits->max_memory) {
        uint64_t pages = limits->max_memory / 65536u;
        in->limit_pages = pages == 0 ? 1 : pages > 65536 ? 65536 : (uint32_t)pages;
    }
    weft_rt_call_t call = {.fn = do_instantiate,
                           .arg = in,
                           .code_lo = m->code_lo,
                           .code_hi = m->code_hi,
                           .deadline_ns = in->deadline_ns,
                           .limit_pages = in->limit_pages,
                           .unknown_imports = (uint8_t)m->unknown_imports};
    int rc = weft_rt_run(&call, out, err);
    if (rc || out->kind != WEFT_OUTCOME_RETURNED) {
        instance_release(in);
        return rc;
    }
    *inst = in;
    return 0;
}

/* Runs fn of in (c's other fields set) inside the trap boundary. */
static int call_guarded(weft_instance_t *in, call_arg_t *c, weft_outcome_t *out,
                        weft_error_t *err) {
    weft_rt_call_t call = {.fn = do_call,
                           .arg = c,
                           .code_lo = in->module->code_lo,
                           .code_hi = in->module->code_hi,
                           .deadline_ns = in->deadline_ns,
                           .limit_pages = in->limit_pages,
                           .unknown_imports = (uint8_t)in->module->unknown_imports};
    /* The memory's reservation must be known to the fault handler during the call. */
    if (in->guest->memory)
        weft_memory_make_current(in->guest->memory);
    return weft_rt_run(&call, out, err);
}

/* A reactor's _initialize, once per instance and before any other export, as wasmtime
 * calls it (for modules that export _start too). Returns with *ran false when there
 * was nothing to run; otherwise *out says how it ended. */
static int initialize(weft_instance_t *in, const char *entry, bool *ran, weft_outcome_t *out,
                      weft_error_t *err) {
    *ran = false;
    if (in->initialized)
        return 0;
    in->initialized = true;
    const weft_glue_export_t *init = find_export(in->module, "_initialize");
    if (!init || !init->fn || !strcmp(entry, "_initialize"))
        return 0;
    *ran = true;
    call_arg_t c = {.in = in, .fn = init};
    return call_guarded(in, &c, out, err);
}

static int no_export(const weft_module_t *m, const char *entry, const char *type,
                     weft_error_t *err) {
    return weft_error_set(err, WEFT_ENOTFOUND, "%s has no exported function '%s'%s", m->name, entry,
                          type);
}

int weft_instance_call(weft_instance_t *in, const char *entry, weft_outcome_t *out,
                       weft_error_t *err) {
    const weft_glue_export_t *fn = find_export(in->module, entry);
    if (!fn || !fn->fn)
        return no_export(in->module, entry, " of type (func)", err);
    bool ran;
    int rc = initialize(in, entry, &ran, out, err);
    if (rc || (ran && out->kind != WEFT_OUTCOME_RETURNED))
        return rc;
    call_arg_t c = {.in = in, .fn = fn};
    return call_guarded(in, &c, out, err);
}

int weft_instance_invoke(weft_instance_t *in, const char *name, const weft_value_t *args,
                         weft_value_t *results, weft_outcome_t *out, weft_error_t *err) {
    static const weft_value_t none[1];
    const weft_glue_export_t *fn = find_export(in->module, name);
    if (!fn)
        return no_export(in->module, name, "", err);
    bool ran;
    int rc = initialize(in, name, &ran, out, err);
    if (rc || (ran && out->kind != WEFT_OUTCOME_RETURNED))
        return rc;
    weft_value_t ignored[1];
    call_arg_t c = {
        .in = in, .fn = fn, .args = args ? args : none, .results = results ? results : ignored};
    return call_guarded(in, &c, out, err);
}

int weft_guest_invoke(weft_guest_t *g, const char *name, const char *sig, const uint64_t *args,
                      uint64_t *results) {
    static const uint64_t none[1];
    uint64_t ignored[1];
    weft_instance_t *in = g->instance_;
    const weft_glue_export_t *fn = in ? find_export(in->module, name) : NULL;
    if (!fn || strcmp(fn->sig, sig))
        return -1;
    call_arg_t c = {
        .in = in, .fn = fn, .args = args ? args : none, .results = results ? results : ignored};
    return weft_rt_nested(do_call, &c);
}

void weft_guest_unwind(int token) {
    weft_rt_unwind(token);
}

void weft_instance_free(weft_instance_t *in) {
    if (in)
        instance_release(in);
}

int weft_module_run(weft_module_t *m, const char *entry, weft_guest_t *guest,
                    const weft_limits_t *limits, weft_outcome_t *out, weft_error_t *err) {
    if (!weft_module_has_entry(m, entry))
        return no_export(m, entry, " of type (func)", err);
    weft_instance_t *in;
    int rc = weft_instance_new(m, guest, limits, &in, out, err);
    if (rc || !in)
        return rc;
    rc = weft_instance_call(in, entry, out, err);
    weft_instance_free(in);
    return rc;
}
