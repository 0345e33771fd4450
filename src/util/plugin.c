/* plugin: loading a plugin and checking its table (util.h).
 *
 * The gateway (h2o) and outbound HTTP (libcurl) pull in some thirty shared libraries
 * whose loading and relocation cost several milliseconds at every start of the process:
 * more than all of `weft run` on a cached module otherwise takes. They are therefore
 * built into a plugin, weft-net.so next to the weft binary, and loaded only by what
 * needs them: `weft up`, and a guest that imports wasi_experimental_http.
 *
 * A plugin is reached through one table whose type a header declares, so the compiler
 * checks every call; this file knows nothing of what the tables hold, only their head.
 * The plugin binds to the binary's exported functions when it is loaded (RTLD_NOW), so
 * a plugin from another build fails here, with its file named, and not at some later
 * call. Its symbols are made global (RTLD_GLOBAL): compiled guests bind to the host
 * functions it defines.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;

/* Finds spec->file in the folders plugins are looked for in; 0 with path set, or -1
 * with err set. */
static int find_plugin(const char *file, char *path, size_t cap, weft_error_t *err) {
    char exe[PATH_MAX], here[PATH_MAX], lib[PATH_MAX + 16];
    const char *dirs[3] = {getenv("WEFT_PLUGIN_DIR"), NULL, NULL};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(here, sizeof here, "%s", exe);
            snprintf(lib, sizeof lib, "%s/../lib/weft", exe);
            dirs[1] = here;
            dirs[2] = lib;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        if ((size_t)snprintf(path, cap, "%s/%s", dirs[i], file) < cap && access(path, R_OK) == 0)
            return 0;
    }
    weft_error_set(err, WEFT_ELOAD,
                   "cannot find %s: it belongs next to the weft binary, in ../lib/weft beside "
                   "it, or in $WEFT_PLUGIN_DIR",
                   file);
    return -1;
}

/* Checks that a table found under spec->symbol is the one spec's header declares. */
static int check_table(const weft_plugin_spec_t *spec, const char *where,
                       const weft_plugin_head_t *t, weft_error_t *err) {
    if (t->abi != spec->abi) {
        weft_error_set(err, WEFT_ELOAD,
                       "%s (%s) was built for another weft: its table %s is version %u, this "
                       "weft needs version %u; install the %s built with this weft binary",
                       spec->file, where, spec->symbol, t->abi, spec->abi, spec->file);
        return -1;
    }
    if (t->size != spec->size) {
        weft_error_set(err, WEFT_ELOAD,
                       "%s (%s): its table %s (version %u) is %u bytes, this weft's is %u; "
                       "install the %s built with this weft binary",
                       spec->file, where, spec->symbol, t->abi, t->size, spec->size, spec->file);
        return -1;
    }
    return 0;
}

static const weft_plugin_head_t *load(const weft_plugin_spec_t *spec, weft_error_t *err) {
    /* A program linked with the plugin's layers (the tests) has the table already. */
    const weft_plugin_head_t *t = dlsym(RTLD_DEFAULT, spec->symbol);
    if (t)
        return check_table(spec, "linked in", t, err) ? NULL : t;
    char path[PATH_MAX + 64];
    if (find_plugin(spec->file, path, sizeof path, err))
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        weft_error_set(err, WEFT_ELOAD, "cannot load %s: %s", path, dlerror());
        return NULL;
    }
    t = dlsym(h, spec->symbol);
    if (!t) {
        weft_error_set(err, WEFT_ELOAD, "%s has no table %s: not a %s plugin", path, spec->symbol,
                       spec->file);
        dlclose(h);
        return NULL;
    }
    if (check_table(spec, path, t, err)) {
        dlclose(h);
        return NULL;
    }
    return t; /* the plugin stays loaded for the life of the process */
}

const weft_plugin_head_t *weft_plugin_get(const weft_plugin_spec_t *spec, weft_error_t *err) {
    const weft_plugin_head_t *t = __atomic_load_n(spec->cache, __ATOMIC_ACQUIRE);
    if (t)
        return t;
    pthread_mutex_lock(&plugin_lock);
    t = *spec->cache;
    if (!t) {
        t = load(spec, err);
        if (t)
            __atomic_store_n(spec->cache, t, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&plugin_lock);
    return t;
}

const weft_plugin_command_t *weft_plugin_command(const weft_plugin_head_t *p, const char *name) {
    for (size_t i = 0; p && i < p->ncommands; i++)
        if (!strcmp(p->commands[i].name, name))
            return &p->commands[i];
    return NULL;
}
