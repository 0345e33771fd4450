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

int weft_module_load(const char *path, const weft_compile_opts_t *opts, weft_module_t **out,
                     weft_error_t *err) {
    char artifact[4096];
    int rc = weft_artifact_is(path)
                 ? weft_cache_adopt(path, opts, artifact, sizeof artifact, err)
                 : weft_module_compile(path, opts, artifact, sizeof artifact, err);
    if (rc)
        return rc;
    return load_artifact(artifact, path, out, err);
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
    return find_export(m, name) != NULL;
}

/* ---- Instances ---------------------------------------------------------------------- */

struct weft_instance {
    weft_module_t *module;
    weft_guest_t *guest;
    uint64_t deadline_ns;
    uint32_t limit_pages;
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
} call_arg_t;

static void do_call(void *arg) {
    call_arg_t *c = arg;
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
                           .limit_pages = in->limit_pages};
    int rc = weft_rt_run(&call, out, err);
    if (rc || out->kind != WEFT_OUTCOME_RETURNED) {
        instance_release(in);
        return rc;
    }
    *inst = in;
    return 0;
}

int weft_instance_call(weft_instance_t *in, const char *entry, weft_outcome_t *out,
                       weft_error_t *err) {
    const weft_glue_export_t *fn = find_export(in->module, entry);
    if (!fn)
        return weft_error_set(err, WEFT_ENOTFOUND,
                              "%s has no exported function '%s' of type (func)", in->module->name,
                              entry);
    call_arg_t c = {in, fn};
    weft_rt_call_t call = {.fn = do_call,
                           .arg = &c,
                           .code_lo = in->module->code_lo,
                           .code_hi = in->module->code_hi,
                           .deadline_ns = in->deadline_ns,
                           .limit_pages = in->limit_pages};
    /* The memory's reservation must be known to the fault handler during the call. */
    if (in->guest->memory)
        weft_memory_make_current(in->guest->memory);
    return weft_rt_run(&call, out, err);
}

void weft_instance_free(weft_instance_t *in) {
    if (in)
        instance_release(in);
}

int weft_module_run(weft_module_t *m, const char *entry, weft_guest_t *guest,
                    const weft_limits_t *limits, weft_outcome_t *out, weft_error_t *err) {
    if (!find_export(m, entry))
        return weft_error_set(err, WEFT_ENOTFOUND,
                              "%s has no exported function '%s' of type (func)", m->name, entry);
    weft_instance_t *in;
    int rc = weft_instance_new(m, guest, limits, &in, out, err);
    if (rc || !in)
        return rc;
    /* A reactor (_initialize) is initialized before its entry point, as wasmtime does. */
    if (strcmp(entry, "_initialize") && find_export(m, "_initialize")) {
        rc = weft_instance_call(in, "_initialize", out, err);
        if (rc || out->kind != WEFT_OUTCOME_RETURNED)
            goto done;
    }
    rc = weft_instance_call(in, entry, out, err);
done:
    weft_instance_free(in);
    return rc;
}
