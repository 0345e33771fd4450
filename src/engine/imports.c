/* imports: what the host provides to guests (contract in engine.h).
 *
 * Two tables, each of at most WEFT_MAX_PROVIDERS entries: providers (tables of
 * weft_import_def_t, borrowed for the life of the process) and loaders (one per import
 * module whose functions live in a plugin loaded on demand). The pipeline asks here
 * whether an import is provided before compiling; loading (module.c) asks here that the
 * providers of an artifact's import modules are present. A table that is full is an
 * error for the caller: dropping a provider would refuse its guests later with a
 * message that points nowhere near the cause.
 */
#include <pthread.h>
#include <string.h>

#include "engine_internal.h"

static struct {
    const weft_import_def_t *defs;
    size_t n;
} providers[WEFT_MAX_PROVIDERS];
static size_t nproviders;
static pthread_mutex_t providers_lock = PTHREAD_MUTEX_INITIALIZER;

int weft_engine_provide(const weft_import_def_t *defs, size_t n, weft_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&providers_lock);
    for (size_t i = 0; i < nproviders; i++) {
        if (providers[i].defs == defs)
            goto out;
    }
    if (nproviders < WEFT_MAX_PROVIDERS)
        providers[nproviders++] = (typeof(providers[0])){defs, n};
    else
        rc = weft_error_set(err, WEFT_ELIMIT,
                            "cannot provide the imports of '%s': the engine already has %d "
                            "tables of host functions (WEFT_MAX_PROVIDERS in engine.h)",
                            n ? defs[0].module : "?", WEFT_MAX_PROVIDERS);
out:
    pthread_mutex_unlock(&providers_lock);
    return rc;
}

static struct {
    const char *module;
    int (*load)(weft_error_t *err);
    bool done;
} loaders[WEFT_MAX_PROVIDERS];
static size_t nloaders;

int weft_engine_provide_loader(const char *module, int (*load)(weft_error_t *err),
                               weft_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&providers_lock);
    if (nloaders < WEFT_MAX_PROVIDERS)
        loaders[nloaders++] = (typeof(loaders[0])){module, load, false};
    else
        rc = weft_error_set(err, WEFT_ELIMIT,
                            "cannot register a loader for import module '%s': the engine "
                            "already has %d (WEFT_MAX_PROVIDERS in engine.h)",
                            module, WEFT_MAX_PROVIDERS);
    pthread_mutex_unlock(&providers_lock);
    return rc;
}

static bool module_provided(const char *module) {
    bool found = false;
    pthread_mutex_lock(&providers_lock);
    for (size_t p = 0; p < nproviders && !found; p++)
        for (size_t i = 0; i < providers[p].n && !found; i++)
            found = !strcmp(providers[p].defs[i].module, module);
    pthread_mutex_unlock(&providers_lock);
    return found;
}

int weft_engine_require_module(const char *module, weft_error_t *err) {
    /* Loaders run under their own lock: they call weft_engine_provide. */
    static pthread_mutex_t loading = PTHREAD_MUTEX_INITIALIZER;
    int rc = 0;
    pthread_mutex_lock(&loading);
    for (size_t i = 0; i < nloaders; i++) {
        if (strcmp(loaders[i].module, module) || loaders[i].done)
            continue;
        rc = loaders[i].load(err);
        if (!rc)
            loaders[i].done = true;
        break;
    }
    pthread_mutex_unlock(&loading);
    if (!rc && !module_provided(module))
        rc =
            weft_error_set(err, WEFT_EIMPORT, "import module '%s' is not provided by weft", module);
    return rc;
}

const weft_import_def_t *weft_engine_find_import(const char *module, const char *name) {
    const weft_import_def_t *found = NULL;
    pthread_mutex_lock(&providers_lock);
    for (size_t p = 0; p < nproviders && !found; p++) {
        for (size_t i = 0; i < providers[p].n; i++) {
            const weft_import_def_t *d = &providers[p].defs[i];
            if (!strcmp(d->module, module) && !strcmp(d->name, name)) {
                found = d;
                break;
            }
        }
    }
    pthread_mutex_unlock(&providers_lock);
    return found;
}
