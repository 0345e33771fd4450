/* plugin: weft's network plugin, loaded on first use.
 *
 * The gateway (h2o) and outbound HTTP (libcurl) pull in some thirty shared
 * libraries whose loading and relocation cost several milliseconds at every start of
 * the process: more than all of `weft run` on a cached module otherwise takes. They are
 * therefore built into weft-net.so, next to the weft binary, and loaded only by what
 * needs them: `weft up`, and a guest that imports wasi_experimental_http. The plugin
 * calls back into the binary's own weft_* functions (exported for it).
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define WEFT_NET_PLUGIN "weft-net.so"

static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static void *plugin;

/* Where to look: $WEFT_PLUGIN_DIR, the binary's folder, then ../lib/weft beside it. */
static void *open_plugin(weft_error_t *err) {
    char exe[PATH_MAX], path[PATH_MAX + 64];
    const char *dirs[3] = {getenv("WEFT_PLUGIN_DIR"), NULL, NULL};
    char d1[PATH_MAX], d2[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(d1, sizeof d1, "%s", exe);
            snprintf(d2, sizeof d2, "%s/../lib/weft", exe);
            dirs[1] = d1;
            dirs[2] = d2;
        }
    }
    const char *last_error = "not found";
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], WEFT_NET_PLUGIN);
        if (access(path, R_OK) != 0)
            continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (h)
            return h;
        last_error = dlerror();
    }
    weft_error_set(err, WEFT_ELOAD,
                   "cannot load %s (HTTP server and outbound HTTP): %s; it belongs next to the "
                   "weft binary or in $WEFT_PLUGIN_DIR",
                   WEFT_NET_PLUGIN, last_error);
    return NULL;
}

void *weft_net_sym(const char *name, weft_error_t *err) {
    /* A program linked with the network layers (the tests) has them already. */
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym)
        return sym;
    pthread_mutex_lock(&plugin_lock);
    if (!plugin)
        plugin = open_plugin(err);
    void *h = plugin;
    pthread_mutex_unlock(&plugin_lock);
    if (!h)
        return NULL;
    sym = dlsym(h, name);
    if (!sym)
        weft_error_set(err, WEFT_ELOAD, "%s has no symbol %s", WEFT_NET_PLUGIN, name);
    return sym;
}
