/* app: weft.toml and WAGI's modules.toml read into one weft_app_t (contract in app.h).
 *
 * Every table is read against a list of the keys it may hold, so that an unknown key
 * is caught by the same code that reads the known ones, and a later issue adds a key
 * (or a whole section, like [[broker]]) by adding one line to a list.
 */
#include "app.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "internal.h"

extern char **environ;

int weft_app_fail(ctx_t *c, int line, const char *fmt, ...) {
    char msg[WEFT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return weft_error_set(c->err, WEFT_ECONFIG, "%s:%d: %s", c->name, line, msg);
}

int weft_app_nomem(ctx_t *c) {
    return weft_error_set(c->err, WEFT_ENOMEM, "%s: out of memory", c->name);
}

const char *weft_app_type_name(const weft_toml_value_t *v) {
    switch (v->type) {
    case WEFT_TOML_STRING:
        return "a string";
    case WEFT_TOML_INTEGER:
        return "an integer";
    case WEFT_TOML_FLOAT:
        return "a float";
    case WEFT_TOML_BOOL:
        return "a boolean";
    case WEFT_TOML_ARRAY:
        return "an array";
    case WEFT_TOML_TABLE:
        return "a table";
    default:
        return "a date or time";
    }
}

const char *weft_app_where_key(const where_t *w, const char *key, char *buf, size_t size) {
    snprintf(buf, size, "'%s%s%s' in %s%s%s%s", w->table ? w->table : "", w->table ? "." : "", key,
             w->section, w->item ? " '" : "", w->item ? w->item : "", w->item ? "'" : "");
    return buf;
}

/* Room for weft_app_where_key's text: a key, a section and an item name (each a line of
 * the manifest at most, cut to fit). */
#define WHERE_MAX 512

int weft_app_fail_type(ctx_t *c, const where_t *w, const char *key, const weft_toml_value_t *v,
                       const char *want) {
    char where[WHERE_MAX];
    return weft_app_fail(c, v->line, "%s must be %s, not %s",
                         weft_app_where_key(w, key, where, sizeof where), want,
                         weft_app_type_name(v));
}

int weft_app_check_keys(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                        const char *const *keys) {
    for (size_t i = 0; i < t->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &t->u.tab.items[i];
        bool known = false;
        for (size_t k = 0; keys[k] && !known; k++)
            known = kv->key_len == strlen(keys[k]) && !memcmp(kv->key, keys[k], kv->key_len);
        if (known)
            continue;
        char where[WHERE_MAX];
        if (c->format == WEFT_APP_WAGI) {
            weft_log("%s:%d: warning: unknown key '%s' in %s ignored (as WAGI does)", c->name,
                     kv->value->line, kv->key, w->section);
            continue;
        }
        return weft_app_fail(c, kv->value->line, "unknown key %s",
                             weft_app_where_key(w, kv->key, where, sizeof where));
    }
    return 0;
}

/* A string value without embedded NULs, or an error naming the key. */
int weft_app_get_string(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                        const char **out) {
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    *out = NULL;
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_STRING)
        return weft_app_fail_type(c, w, key, v, "a string");
    if (strlen(v->u.str.ptr) != v->u.str.len)
        return weft_app_fail(c, v->line, "%s must not contain a NUL character",
                             weft_app_where_key(w, key, where, sizeof where));
    *out = v->u.str.ptr;
    return 0;
}

int weft_app_dup_string(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                        char **out) {
    const char *s;
    int rc = weft_app_get_string(c, t, w, key, &s);
    if (rc || !s)
        return rc;
    if (!(*out = strdup(s)))
        return weft_app_nomem(c);
    return 0;
}

int weft_app_get_duration(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                          uint64_t *out) {
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type == WEFT_TOML_INTEGER) {
        if (v->u.i < 0 || v->u.i > 1000000)
            return weft_app_fail(c, v->line, "%s: %lld seconds is out of range",
                                 weft_app_where_key(w, key, where, sizeof where),
                                 (long long)v->u.i);
        *out = (uint64_t)v->u.i * 1000000000ull;
        return 0;
    }
    if (v->type != WEFT_TOML_STRING)
        return weft_app_fail_type(c, w, key, v, "a duration like \"30s\"");
    if (weft_parse_duration(v->u.str.ptr, out))
        return weft_app_fail(c, v->line, "%s: '%s' is not a duration (like \"30s\" or \"500ms\")",
                             weft_app_where_key(w, key, where, sizeof where), v->u.str.ptr);
    return 0;
}

/* A duration that must not be zero ("0s" would mean "no time at all", not "none"). */
int weft_app_get_positive_duration(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                                   const char *key, uint64_t *out) {
    char where[WHERE_MAX];
    int rc = weft_app_get_duration(c, t, w, key, out);
    if (!rc && weft_toml_get(t, key) && !*out)
        rc = weft_app_fail(c, weft_toml_get(t, key)->line, "%s must be longer than zero",
                           weft_app_where_key(w, key, where, sizeof where));
    return rc;
}

int weft_app_get_size(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                      uint64_t *out) {
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type == WEFT_TOML_INTEGER) {
        if (v->u.i <= 0)
            return weft_app_fail(c, v->line, "%s must be positive",
                                 weft_app_where_key(w, key, where, sizeof where));
        *out = (uint64_t)v->u.i;
        return 0;
    }
    if (v->type != WEFT_TOML_STRING)
        return weft_app_fail_type(c, w, key, v, "a size like \"64MiB\"");
    if (weft_parse_size(v->u.str.ptr, out) || !*out)
        return weft_app_fail(c, v->line, "%s: '%s' is not a size (like \"64MiB\")",
                             weft_app_where_key(w, key, where, sizeof where), v->u.str.ptr);
    return 0;
}

int weft_app_get_u32(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                     uint32_t *out) {
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_INTEGER)
        return weft_app_fail_type(c, w, key, v, "an integer");
    if (v->u.i < 0 || v->u.i > UINT32_MAX)
        return weft_app_fail(c, v->line, "%s: %lld is out of range",
                             weft_app_where_key(w, key, where, sizeof where), (long long)v->u.i);
    *out = (uint32_t)v->u.i;
    return 0;
}

int weft_app_get_positive_u32(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                              const char *key, uint32_t *out) {
    char where[WHERE_MAX];
    int rc = weft_app_get_u32(c, t, w, key, out);
    if (!rc && weft_toml_get(t, key) && !*out)
        rc = weft_app_fail(c, weft_toml_get(t, key)->line, "%s must be positive",
                           weft_app_where_key(w, key, where, sizeof where));
    return rc;
}

/* An array of strings, copied. */
int weft_app_get_strings(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                         char ***out, size_t *n) {
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail_type(c, w, key, v, "an array of strings");
    if (v->u.arr.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "%s: more than %d entries",
                             weft_app_where_key(w, key, where, sizeof where), WEFT_APP_MAX_LIST);
    char **list = calloc(v->u.arr.len + 1, sizeof *list);
    if (!list)
        return weft_app_nomem(c);
    *out = list;
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *e = v->u.arr.items[i];
        if (e->type != WEFT_TOML_STRING || strlen(e->u.str.ptr) != e->u.str.len)
            return weft_app_fail(c, e->line, "%s must hold strings only, not %s",
                                 weft_app_where_key(w, key, where, sizeof where),
                                 weft_app_type_name(e));
        if (!(list[i] = strdup(e->u.str.ptr)))
            return weft_app_nomem(c);
        (*n)++;
    }
    return 0;
}

/* spin.toml's command = ["a", "b"] as "a && b". */
static int join_commands(ctx_t *c, const weft_toml_value_t *v, const where_t *w, char **out) {
    char **list = NULL;
    size_t n = 0, len = 1;
    char where[WHERE_MAX];
    int rc = weft_app_get_strings(c, v, w, "command", &list, &n);
    for (size_t i = 0; !rc && i < n; i++)
        len += strlen(list[i]) + 4;
    if (!rc && !n)
        rc = weft_app_fail(c, weft_toml_get(v, "command")->line, "%s is an empty list",
                           weft_app_where_key(w, "command", where, sizeof where));
    if (!rc && !(*out = malloc(len)))
        rc = weft_app_nomem(c);
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            strcat(*out, " && ");
        else
            **out = 0;
        strcat(*out, list[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

/* build = { command = "...", workdir = "...", watch = ["..."] } (or a [function.build]
 * table, which TOML makes the same): weft.toml's and spin.toml's. The command is a
 * string; spin.toml's may also be a list of commands (Spin 2 runs them in order and stops
 * at the first that fails), held joined with " && ", which does the same under sh -c. */
int weft_app_get_build(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                       weft_app_build_t *out) {
    const weft_toml_value_t *v = weft_toml_get(t, "build");
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, w, "build", v, "a table { command = \"...\" }");
    static const char *const keys[] = {"command", "workdir", "watch", NULL};
    where_t bw = {w->section, w->item, "build"};
    const char *workdir;
    int rc = weft_app_check_keys(c, v, &bw, keys);
    if (rc || (rc = weft_app_get_string(c, v, &bw, "workdir", &workdir)) ||
        (rc = weft_app_get_strings(c, v, &bw, "watch", &out->watch, &out->nwatch)))
        return rc;
    out->line = v->line;
    const weft_toml_value_t *cmd = weft_toml_get(v, "command");
    if (!cmd)
        return weft_app_fail(c, v->line, "%s needs a 'command'",
                             weft_app_where_key(w, "build", where, sizeof where));
    if (cmd->type == WEFT_TOML_ARRAY && c->format == WEFT_APP_SPIN) {
        if ((rc = join_commands(c, v, &bw, &out->command)))
            return rc;
    } else if ((rc = weft_app_dup_string(c, v, &bw, "command", &out->command))) {
        return rc;
    }
    if (!*out->command)
        return weft_app_fail(c, cmd->line, "%s is empty",
                             weft_app_where_key(&bw, "command", where, sizeof where));
    if (workdir && !*workdir)
        return weft_app_fail(c, weft_toml_get(v, "workdir")->line, "%s is empty",
                             weft_app_where_key(&bw, "workdir", where, sizeof where));
    /* The manifest's folder when absent, whatever the format's rule for other paths:
     * a build runs where the manifest is, as Spin's does. */
    const char *dir = c->base ? c->base : ".";
    if (!(out->workdir = workdir ? weft_app_resolve(dir, workdir) : strdup(dir)))
        return weft_app_nomem(c);
    return 0;
}

char *weft_app_resolve(const char *dir, const char *p) {
    if (p[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
        return strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, p);
    return s;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* A module reference: a path, or file:// followed by one (WAGI). Other schemes (WAGI's
 * oci: and bindle: sources) are refused by name. */
int weft_app_set_source(ctx_t *c, weft_app_function_t *f, const char *src, int line) {
    const char *p = src;
    if (!strncmp(p, "file://", 7))
        p += 7;
    else if (strstr(p, "://") || !strncmp(p, "oci:", 4) || !strncmp(p, "bindle:", 7))
        return weft_app_fail(
            c, line, "module '%s': only local files (a path or file://) are supported", src);
    if (!*p)
        return weft_app_fail(c, line, "module path is empty");
    if (!(f->source = strdup(src)))
        return weft_app_nomem(c);
    f->source_line = line;
    /* A .wat stays in wasm until weft_app_load converts it. */
    if (!(f->wasm = weft_app_resolve(c->base, p)))
        return weft_app_nomem(c);
    return 0;
}

int weft_app_add_env(ctx_t *c, weft_app_function_t *f, const weft_toml_value_t *t,
                     const where_t *w) {
    const weft_toml_value_t *v = weft_toml_get(t, "environment");
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, w, "environment", v, "a table of NAME = \"value\"");
    if (v->u.tab.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "%s: more than %d entries",
                             weft_app_where_key(w, "environment", where, sizeof where),
                             WEFT_APP_MAX_LIST);
    f->env = calloc(v->u.tab.len + 1, sizeof *f->env);
    if (!f->env)
        return weft_app_nomem(c);
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        const weft_toml_value_t *e = kv->value;
        if (!kv->key_len || strlen(kv->key) != kv->key_len || strchr(kv->key, '='))
            return weft_app_fail(c, e->line, "environment variable name '%s' is not valid",
                                 kv->key);
        char num[32];
        const char *val;
        if (e->type == WEFT_TOML_STRING && strlen(e->u.str.ptr) == e->u.str.len) {
            val = e->u.str.ptr;
        } else if (e->type == WEFT_TOML_INTEGER) {
            snprintf(num, sizeof num, "%lld", (long long)e->u.i);
            val = num;
        } else if (e->type == WEFT_TOML_BOOL) {
            val = e->u.b ? "true" : "false";
        } else {
            return weft_app_fail(c, e->line, "environment variable '%s' must be a string, not %s",
                                 kv->key, weft_app_type_name(e));
        }
        size_t n = kv->key_len + strlen(val) + 2;
        if (!(f->env[i] = malloc(n)))
            return weft_app_nomem(c);
        snprintf(f->env[i], n, "%s=%s", kv->key, val);
        f->nenv++;
    }
    return 0;
}

/* volumes = { "/guest" = "host/dir" } (WAGI), or in weft.toml also
 * { "/guest" = { path = "host/dir", readonly = true } }. */
static int add_volumes(ctx_t *c, weft_app_function_t *f, const weft_toml_value_t *t,
                       const where_t *w) {
    const weft_toml_value_t *v = weft_toml_get(t, "volumes");
    char where[WHERE_MAX];
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, w, "volumes", v, "a table of \"/guest/path\" = \"host/path\"");
    if (v->u.tab.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "%s: more than %d entries",
                             weft_app_where_key(w, "volumes", where, sizeof where),
                             WEFT_APP_MAX_LIST);
    f->volumes = calloc(v->u.tab.len + 1, sizeof *f->volumes);
    if (!f->volumes)
        return weft_app_nomem(c);
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        const weft_toml_value_t *e = kv->value;
        weft_app_volume_t *vol = &f->volumes[f->nvolumes];
        const char *host = NULL;
        if (!kv->key_len || strlen(kv->key) != kv->key_len)
            return weft_app_fail(c, e->line, "volume name '%s' is not valid", kv->key);
        if (e->type == WEFT_TOML_STRING) {
            if (strlen(e->u.str.ptr) != e->u.str.len)
                return weft_app_fail(c, e->line, "volume '%s': host path contains a NUL", kv->key);
            host = e->u.str.ptr;
        } else if (e->type == WEFT_TOML_TABLE && c->format == WEFT_APP_WEFT) {
            static const char *const keys[] = {"path", "readonly", NULL};
            where_t vw = {"volume", kv->key, NULL};
            int rc = weft_app_check_keys(c, e, &vw, keys);
            if (rc || (rc = weft_app_get_string(c, e, &vw, "path", &host)))
                return rc;
            const weft_toml_value_t *ro = weft_toml_get(e, "readonly");
            if (ro && ro->type != WEFT_TOML_BOOL)
                return weft_app_fail_type(c, &vw, "readonly", ro, "a boolean");
            vol->readonly = ro && ro->u.b;
            if (!host)
                return weft_app_fail(c, e->line, "volume '%s' needs a 'path'", kv->key);
        } else {
            return weft_app_fail(c, e->line, "volume '%s' must be a host path string, not %s",
                                 kv->key, weft_app_type_name(e));
        }
        if (!*host)
            return weft_app_fail(c, e->line, "volume '%s' has an empty host path", kv->key);
        if (!(vol->guest = strdup(kv->key)) || !(vol->host = weft_app_resolve(c->base, host)))
            return weft_app_nomem(c);
        vol->line = e->line;
        f->nvolumes++;
    }
    return 0;
}

/* A route as written: "/x" or "/x/..."; must start with '/' (WAGI also accepted a
 * missing leading slash, which is added). */
static int check_route(ctx_t *c, const char *r, int line, char **out) {
    if (!*r)
        return weft_app_fail(c, line, "route is empty");
    for (const char *p = r; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || (unsigned char)*p == 0x7f)
            return weft_app_fail(c, line, "route '%s' must not contain spaces, '?' or '#'", r);
    const char *dots = strstr(r, "...");
    if (dots && (dots[3] || (dots != r && dots[-1] != '/')))
        return weft_app_fail(c, line, "route '%s': '...' may only end a route, as in '/prefix/...'",
                             r);
    size_t n = strlen(r) + 2;
    char *s = malloc(n);
    if (!s)
        return weft_app_nomem(c);
    snprintf(s, n, "%s%s", r[0] == '/' ? "" : "/", r);
    *out = s;
    return 0;
}

int weft_app_grow(ctx_t *c, void **items, size_t n, size_t size, const char *what) {
    if (n >= WEFT_APP_MAX_FUNCTIONS)
        return weft_app_fail(c, 0, "more than %d %s", WEFT_APP_MAX_FUNCTIONS, what);
    if ((n & (n - 1)) == 0) { /* 0, 1, 2, 4, ...: double */
        void *p = realloc(*items, (n ? n * 2 : 1) * size);
        if (!p)
            return weft_app_nomem(c);
        *items = p;
    }
    memset((char *)*items + n * size, 0, size);
    return 0;
}

static int add_route(ctx_t *c, weft_app_t *app, const char *path, size_t fn, const char *entry,
                     int line) {
    int rc = weft_app_grow(c, (void **)&app->routes, app->nroutes, sizeof *app->routes, "routes");
    if (rc)
        return rc;
    weft_app_route_t *r = &app->routes[app->nroutes];
    r->function = fn;
    r->line = line;
    if ((rc = check_route(c, path, line, &r->path)))
        return rc;
    if (entry && !(r->entrypoint = strdup(entry))) {
        free(r->path);
        return weft_app_nomem(c);
    }
    for (size_t i = 0; i < app->nroutes; i++)
        if (!strcmp(app->routes[i].path, r->path)) {
            rc = weft_app_fail(c, line, "route '%s' is already declared on line %d", r->path,
                               app->routes[i].line);
            free(r->path);
            free(r->entrypoint);
            return rc;
        }
    app->nroutes++;
    return 0;
}

/* The keys a function may have in either format; weft.toml adds its own. (WAGI has no
 * unknown_imports: weft accepts it in WAGI files too.) */
#define COMMON_FUNCTION_KEYS                                                                       \
    "entrypoint", "argv", "environment", "allowed_hosts", "volumes", "http_max_concurrency",       \
        "timeout", "max_memory", "unknown_imports"

int weft_app_unknown_imports_parse(const char *s, weft_app_unknown_imports_t *out) {
    static const char *const names[] = {"refuse", "trap", "default"};
    for (int i = 0; i < 3; i++) {
        if (!strcmp(s, names[i])) {
            *out = (weft_app_unknown_imports_t)i;
            return 0;
        }
    }
    return WEFT_EINVAL;
}

static int get_unknown_imports(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                               weft_app_unknown_imports_t *out) {
    const char *s;
    char where[WHERE_MAX];
    int rc = weft_app_get_string(c, t, w, "unknown_imports", &s);
    if (rc || !s)
        return rc;
    if (weft_app_unknown_imports_parse(s, out))
        return weft_app_fail(c, weft_toml_get(t, "unknown_imports")->line,
                             "%s: '%s' is not \"trap\", \"default\" or \"refuse\"",
                             weft_app_where_key(w, "unknown_imports", where, sizeof where), s);
    return 0;
}

static int read_function_common(ctx_t *c, weft_app_function_t *f, const weft_toml_value_t *t,
                                const where_t *w) {
    int rc;
    if ((rc = weft_app_dup_string(c, t, w, "entrypoint", &f->entrypoint)) ||
        (rc = weft_app_dup_string(c, t, w, "argv", &f->argv)) ||
        (rc = weft_app_add_env(c, f, t, w)) ||
        (rc = weft_app_get_strings(c, t, w, "allowed_hosts", &f->allowed_hosts, &f->nallowed)) ||
        (rc = add_volumes(c, f, t, w)) ||
        (rc = weft_app_get_u32(c, t, w, "http_max_concurrency", &f->http_max_concurrency)) ||
        (rc = weft_app_get_duration(c, t, w, "timeout", &f->timeout_ns)) ||
        (rc = weft_app_get_size(c, t, w, "max_memory", &f->max_memory)) ||
        (rc = get_unknown_imports(c, t, w, &f->unknown_imports)))
        return rc;
    if (!f->entrypoint && !(f->entrypoint = strdup(WEFT_APP_DEFAULT_ENTRYPOINT)))
        return weft_app_nomem(c);
    if (!*f->entrypoint)
        return weft_app_fail(c, t->line, "'entrypoint' in %s '%s' is empty", w->section, f->name);
    return 0;
}

int weft_app_new_function(ctx_t *c, weft_app_t *app, const weft_toml_value_t *t,
                          weft_app_function_t **out) {
    int rc = weft_app_grow(c, (void **)&app->functions, app->nfunctions, sizeof *app->functions,
                           "functions");
    if (rc)
        return rc;
    weft_app_function_t *f = &app->functions[app->nfunctions++];
    f->line = t->line;
    f->timeout_ns = WEFT_APP_DEFAULT_TIMEOUT_NS;
    *out = f;
    return 0;
}

/* ---- WAGI ---------------------------------------------------------------------------- */

static int parse_wagi(ctx_t *c, const weft_toml_value_t *root, weft_app_t *app) {
    static const char *const top[] = {"module", NULL};
    where_t tw = {"the top level", NULL, NULL};
    int rc = weft_app_check_keys(c, root, &tw, top);
    if (rc)
        return rc;
    const weft_toml_value_t *mods = weft_toml_get(root, "module");
    if (!mods)
        return weft_app_fail(c, 1, "no [[module]] tables: nothing to serve");
    if (mods->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, mods->line, "'module' must be an array of tables ([[module]])");
    for (size_t i = 0; i < mods->u.arr.len; i++) {
        const weft_toml_value_t *m = mods->u.arr.items[i];
        if (m->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, m->line, "'module' must be an array of tables ([[module]])");
        static const char *const keys[] = {"route", "module", COMMON_FUNCTION_KEYS, NULL};
        where_t w = {"[[module]]", NULL, NULL};
        const char *route, *module;
        if ((rc = weft_app_get_string(c, m, &w, "route", &route)) ||
            (rc = weft_app_get_string(c, m, &w, "module", &module)))
            return rc;
        if (!route)
            return weft_app_fail(c, m->line, "[[module]] needs a 'route'");
        if (!module)
            return weft_app_fail(c, m->line, "[[module]] for route '%s' needs a 'module'", route);
        w.item = route;
        if ((rc = weft_app_check_keys(c, m, &w, keys)))
            return rc;
        weft_app_function_t *f;
        if ((rc = weft_app_new_function(c, app, m, &f)))
            return rc;
        if (!(f->name = strdup(route)))
            return weft_app_nomem(c);
        if ((rc = weft_app_set_source(c, f, module, weft_toml_get(m, "module")->line)) ||
            (rc = read_function_common(c, f, m, &w)))
            return rc;
        if ((rc = add_route(c, app, route, app->nfunctions - 1, NULL, m->line)))
            return rc;
    }
    return 0;
}

/* ---- weft.toml ----------------------------------------------------------------------- */

bool weft_app_valid_name(const char *s) {
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static int parse_app_table(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    static const char *const keys[] = {"name", "state_dir", NULL};
    where_t w = {"[app]", NULL, NULL};
    const char *state_dir;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'app' must be a table ([app])");
    int rc = weft_app_check_keys(c, v, &w, keys);
    if (rc || (rc = weft_app_dup_string(c, v, &w, "name", &app->name)) ||
        (rc = weft_app_get_string(c, v, &w, "state_dir", &state_dir)) || !state_dir)
        return rc;
    if (!*state_dir)
        return weft_app_fail(c, weft_toml_get(v, "state_dir")->line,
                             "'state_dir' in [app] is empty");
    if (!(app->state_dir = weft_app_resolve(c->base, state_dir)))
        return weft_app_nomem(c);
    return 0;
}

static int parse_server_table(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    static const char *const keys[] = {"listen",
                                       "max_body",
                                       "max_header_bytes",
                                       "header_timeout",
                                       "idle_timeout",
                                       "max_connections",
                                       "max_response",
                                       "max_stderr_bytes",
                                       "max_stderr_lines",
                                       "token",
                                       "log_format",
                                       "access_log",
                                       "node",
                                       NULL};
    where_t w = {"[server]", NULL, NULL};
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'server' must be a table ([server])");
    int rc = weft_app_check_keys(c, v, &w, keys);
    if (rc || (rc = weft_app_dup_string(c, v, &w, "listen", &app->listen)) ||
        (rc = weft_app_get_size(c, v, &w, "max_body", &app->max_body)) ||
        (rc = weft_app_get_size(c, v, &w, "max_header_bytes", &app->max_header_bytes)) ||
        (rc =
             weft_app_get_positive_duration(c, v, &w, "header_timeout", &app->header_timeout_ns)) ||
        (rc = weft_app_get_positive_duration(c, v, &w, "idle_timeout", &app->idle_timeout_ns)) ||
        (rc = weft_app_get_positive_u32(c, v, &w, "max_connections", &app->max_connections)) ||
        (rc = weft_app_get_size(c, v, &w, "max_response", &app->max_response)) ||
        (rc = weft_app_get_size(c, v, &w, "max_stderr_bytes", &app->max_stderr_bytes)) ||
        (rc = weft_app_get_positive_u32(c, v, &w, "max_stderr_lines", &app->max_stderr_lines)) ||
        (rc = weft_app_dup_string(c, v, &w, "token", &app->token)) ||
        (rc = weft_app_dup_string(c, v, &w, "log_format", &app->log_format)) ||
        (rc = weft_app_dup_string(c, v, &w, "node", &app->node)))
        return rc;
    if (app->node && !weft_app_node_valid(app->node))
        return weft_app_fail(c, weft_toml_get(v, "node")->line,
                             "[server] node must be 1 to %d of [A-Za-z0-9_.:-], not \"%s\"",
                             WEFT_APP_MAX_NAME, app->node);
    if (app->log_format && strcmp(app->log_format, "text") && strcmp(app->log_format, "json"))
        return weft_app_fail(c, weft_toml_get(v, "log_format")->line,
                             "[server] log_format must be \"text\" or \"json\", not \"%s\"",
                             app->log_format);
    char *access_log = NULL;
    if ((rc = weft_app_dup_string(c, v, &w, "access_log", &access_log)))
        return rc;
    if (access_log && !*access_log) {
        free(access_log);
        return weft_app_fail(c, weft_toml_get(v, "access_log")->line,
                             "[server] access_log is empty (\"-\" is stdout)");
    }
    if (access_log && strcmp(access_log, "-")) {
        app->access_log = weft_app_resolve(c->base, access_log);
        free(access_log);
        if (!app->access_log)
            return weft_app_nomem(c);
    } else {
        app->access_log = access_log;
    }
    if (app->token && !weft_app_token_valid(app->token))
        return weft_app_fail(c, weft_toml_get(v, "token")->line,
                             "[server] token must be 1 to %d visible ASCII characters (no "
                             "spaces)",
                             WEFT_APP_MAX_TOKEN);
    return 0;
}

/* [store]: a location of another backend than the embedded one for each kind of store
 * (store.h): a URL, checked here only for its form; the store says at its first use
 * whether this weft has its backend. */
static int parse_store_table(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    static const char *const keys[] = {"key_value", "documents", "blobs", NULL};
    where_t w = {"[store]", NULL, NULL};
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'store' must be a table ([store])");
    int rc = weft_app_check_keys(c, v, &w, keys);
    if (rc || (rc = weft_app_dup_string(c, v, &w, "key_value", &app->store_key_value)) ||
        (rc = weft_app_dup_string(c, v, &w, "documents", &app->store_documents)) ||
        (rc = weft_app_dup_string(c, v, &w, "blobs", &app->store_blobs)))
        return rc;
    char *const *given[] = {&app->store_key_value, &app->store_documents, &app->store_blobs};
    for (size_t i = 0; i < 3; i++)
        if (*given[i] && !strstr(*given[i], "://"))
            return weft_app_fail(c, weft_toml_get(v, keys[i])->line,
                                 "[store] %s: expected a URL (redis://..., postgresql://...); "
                                 "the embedded stores live under [app] state_dir",
                                 keys[i]);
    const char *d = app->store_documents;
    if (!app->store_blobs && d &&
        (!strncmp(d, "postgresql://", 13) || !strncmp(d, "postgres://", 11)) &&
        !(app->store_blobs = strdup(d)))
        return weft_app_nomem(c);
    return 0;
}

static bool valid_container(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

/* How get_grant checks each name. */
typedef enum { GRANT_NAME, GRANT_CONTAINER, GRANT_BROKER } grant_kind_t;

/* One list of names a function is granted: each valid (a broker's is checked once the
 * brokers are read: check_publish), none twice. */
static int get_grant(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                     grant_kind_t kind, char ***out, size_t *n) {
    int rc = weft_app_get_strings(c, t, w, key, out, n);
    if (rc || !*n)
        return rc;
    const weft_toml_value_t *v = weft_toml_get(t, key);
    char where[WHERE_MAX];
    weft_app_where_key(w, key, where, sizeof where);
    for (size_t i = 0; i < *n; i++) {
        const char *s = (*out)[i];
        int line = v->u.arr.items[i]->line;
        if (kind == GRANT_CONTAINER && !valid_container(s))
            return weft_app_fail(c, line,
                                 "%s: '%s' is no container name: 1 to 63 lower-case letters, "
                                 "digits and '-'",
                                 where, s);
        if (kind == GRANT_NAME && (!weft_app_valid_name(s) || strlen(s) > WEFT_APP_MAX_STORE_NAME))
            return weft_app_fail(c, line,
                                 "%s: '%s' may hold only letters, digits, '-', '_' and '.' (at "
                                 "most %d of them)",
                                 where, s, WEFT_APP_MAX_STORE_NAME);
        for (size_t k = 0; k < i; k++)
            if (!strcmp((*out)[k], s))
                return weft_app_fail(c, line, "%s: '%s' is listed twice", where, s);
    }
    return 0;
}

int weft_app_get_store_names(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                             const char *key, char ***out, size_t *n) {
    return get_grant(c, t, w, key, GRANT_NAME, out, n);
}

/* key_value_stores, blob_containers, document_collections, publish (the brokers are
 * checked once they are read: check_publish). */
static int read_grants(ctx_t *c, weft_app_function_t *f, const weft_toml_value_t *t,
                       const where_t *w) {
    weft_app_grants_t *g = &f->grants;
    int rc;
    if ((rc = get_grant(c, t, w, "key_value_stores", GRANT_NAME, &g->kv, &g->nkv)) ||
        (rc = get_grant(c, t, w, "blob_containers", GRANT_CONTAINER, &g->blob, &g->nblob)) ||
        (rc = get_grant(c, t, w, "document_collections", GRANT_NAME, &g->doc, &g->ndoc)) ||
        (rc = get_grant(c, t, w, "publish", GRANT_BROKER, &g->publish, &g->npublish)))
        return rc;
    const weft_toml_value_t *p = weft_toml_get(t, "publish");
    f->publish_line = p ? p->line : 0;
    return 0;
}

/* Every broker a function may publish to is one of the app's. */
static int check_publish(ctx_t *c, const weft_app_t *app) {
    for (size_t i = 0; i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        for (size_t k = 0; k < f->grants.npublish; k++) {
            size_t b;
            for (b = 0; b < app->nbrokers && strcmp(app->brokers[b].name, f->grants.publish[k]);
                 b++)
                ;
            if (b == app->nbrokers)
                return weft_app_fail(c, f->publish_line,
                                     "[[function]] '%s': publish: no [[broker]] is named '%s'",
                                     f->name, f->grants.publish[k]);
        }
    }
    return 0;
}

static int parse_functions(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, v->line, "'function' must be an array of tables ([[function]])");
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line,
                                 "'function' must be an array of tables ([[function]])");
        static const char *const keys[] = {"name",
                                           "source",
                                           "route",
                                           COMMON_FUNCTION_KEYS,
                                           "build",
                                           "key_value_stores",
                                           "blob_containers",
                                           "document_collections",
                                           "publish",
                                           NULL};
        where_t w = {"[[function]]", NULL, NULL};
        const char *name, *source, *route;
        int rc;
        if ((rc = weft_app_get_string(c, t, &w, "name", &name)))
            return rc;
        if (!name)
            return weft_app_fail(c, t->line, "[[function]] needs a 'name'");
        if (!weft_app_valid_name(name))
            return weft_app_fail(
                c, weft_toml_get(t, "name")->line,
                "function name '%s' may hold only letters, digits, '-', '_' and '.'", name);
        w.item = name;
        if ((rc = weft_app_check_keys(c, t, &w, keys)) ||
            (rc = weft_app_get_string(c, t, &w, "source", &source)) ||
            (rc = weft_app_get_string(c, t, &w, "route", &route)))
            return rc;
        if (!source)
            return weft_app_fail(c, t->line, "[[function]] '%s' needs a 'source' (its .wasm)",
                                 name);
        for (size_t k = 0; k < app->nfunctions; k++)
            if (!strcmp(app->functions[k].name, name))
                return weft_app_fail(c, t->line, "function '%s' is already declared on line %d",
                                     name, app->functions[k].line);
        weft_app_function_t *f;
        if ((rc = weft_app_new_function(c, app, t, &f)))
            return rc;
        if (!(f->name = strdup(name)))
            return weft_app_nomem(c);
        if ((rc = weft_app_set_source(c, f, source, weft_toml_get(t, "source")->line)) ||
            (rc = read_function_common(c, f, t, &w)) || (rc = read_grants(c, f, t, &w)) ||
            (rc = weft_app_get_build(c, t, &w, &f->build)))
            return rc;
        if (route && (rc = add_route(c, app, route, app->nfunctions - 1, NULL,
                                     weft_toml_get(t, "route")->line)))
            return rc;
    }
    return 0;
}

static int parse_routes(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app) {
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, v->line, "'route' must be an array of tables ([[route]])");
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *t = v->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line, "'route' must be an array of tables ([[route]])");
        static const char *const keys[] = {"path", "function", "entrypoint", NULL};
        where_t w = {"[[route]]", NULL, NULL};
        const char *path, *fn, *entry;
        int rc;
        if ((rc = weft_app_get_string(c, t, &w, "path", &path)))
            return rc;
        w.item = path;
        if ((rc = weft_app_check_keys(c, t, &w, keys)) ||
            (rc = weft_app_get_string(c, t, &w, "function", &fn)) ||
            (rc = weft_app_get_string(c, t, &w, "entrypoint", &entry)))
            return rc;
        if (!path)
            return weft_app_fail(c, t->line, "[[route]] needs a 'path'");
        if (!fn)
            return weft_app_fail(c, t->line, "[[route]] '%s' needs a 'function'", path);
        size_t k;
        for (k = 0; k < app->nfunctions && strcmp(app->functions[k].name, fn); k++)
            ;
        if (k == app->nfunctions)
            return weft_app_fail(c, weft_toml_get(t, "function")->line,
                                 "[[route]] '%s': no [[function]] is named '%s'", path, fn);
        if (entry && !*entry)
            return weft_app_fail(c, t->line, "[[route]] '%s': 'entrypoint' is empty", path);
        if ((rc = add_route(c, app, path, k, entry, t->line)))
            return rc;
    }
    return 0;
}

/* The sections of weft.toml, in the order they are read: each may name what the ones
 * before it declared (a route its function; a target its function; a trigger its
 * broker, target and dead letter). Stores are added here by the issue that brings
 * them. */
typedef struct section {
    const char *key;
    int (*parse)(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
} section_t;

static const section_t sections[] = {
    {"app", parse_app_table},
    {"server", parse_server_table},
    {"store", parse_store_table},
    {"function", parse_functions},
    {"route", parse_routes},
    {"broker", weft_app_parse_brokers},
    {"target", weft_app_parse_targets},
    {"trigger", weft_app_parse_triggers},
    {"redis_trigger", weft_app_parse_redis_triggers},
    {"source", weft_app_parse_sources},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

static int parse_weft(ctx_t *c, const weft_toml_value_t *root, weft_app_t *app) {
    const char *keys[NSECTIONS + 1];
    for (size_t i = 0; i < NSECTIONS; i++)
        keys[i] = sections[i].key;
    keys[NSECTIONS] = NULL;
    where_t w = {"the top level", NULL, NULL};
    int rc = weft_app_check_keys(c, root, &w, keys);
    if (rc)
        return rc;
    for (size_t i = 0; i < NSECTIONS; i++) {
        const weft_toml_value_t *v = weft_toml_get(root, sections[i].key);
        if (v && (rc = sections[i].parse(c, v, app)))
            return rc;
    }
    return check_publish(c, app);
}

/* ---- the model ----------------------------------------------------------------------- */

void weft_app_free(weft_app_t *app) {
    if (!app)
        return;
    for (size_t i = 0; i < app->nfunctions; i++) {
        weft_app_function_t *f = &app->functions[i];
        free(f->name);
        free(f->source);
        free(f->wasm);
        free(f->entrypoint);
        free(f->argv);
        for (size_t k = 0; f->env && f->env[k]; k++)
            free(f->env[k]);
        free(f->env);
        for (size_t k = 0; f->allowed_hosts && f->allowed_hosts[k]; k++)
            free(f->allowed_hosts[k]);
        free(f->allowed_hosts);
        char **grants[] = {f->grants.kv, f->grants.blob, f->grants.doc, f->grants.publish};
        for (size_t g = 0; g < sizeof grants / sizeof grants[0]; g++) {
            for (size_t k = 0; grants[g] && grants[g][k]; k++)
                free(grants[g][k]);
            free(grants[g]);
        }
        for (size_t k = 0; k < f->nvolumes; k++) {
            free(f->volumes[k].guest);
            free(f->volumes[k].host);
        }
        free(f->volumes);
        for (size_t k = 0; k < f->nconfig; k++) {
            free(f->config[k].name);
            free(f->config[k].value);
        }
        free(f->config);
        free(f->build.command);
        free(f->build.workdir);
        for (size_t k = 0; k < f->build.nwatch; k++)
            free(f->build.watch[k]);
        free(f->build.watch);
        for (size_t k = 0; k < f->nfiles; k++) {
            free(f->files[k].source);
            free(f->files[k].destination);
        }
        free(f->files);
        for (size_t k = 0; k < f->nexclude_files; k++)
            free(f->exclude_files[k]);
        free(f->exclude_files);
    }
    free(app->functions);
    for (size_t i = 0; i < app->nroutes; i++) {
        weft_app_route_t *r = &app->routes[i];
        free(r->path);
        free(r->entrypoint);
        free(r->raw);
        free(r->base);
        weft_app_static_free(r->static_response);
    }
    free(app->routes);
    weft_app_events_free(app);
    weft_app_channels_free(app);
    free(app->path);
    free(app->dir);
    free(app->name);
    free(app->state_dir);
    free(app->listen);
    free(app->token);
    free(app->log_format);
    free(app->access_log);
    free(app->store_key_value);
    free(app->node);
    free(app->store_documents);
    free(app->store_blobs);
    free(app);
}

static int parse(const char *text, size_t len, const char *name, const char *dir,
                 weft_app_format_t format, bool build_only, weft_app_t **out, weft_error_t *err);

int weft_app_parse(const char *text, size_t len, const char *name, const char *dir,
                   weft_app_format_t format, weft_app_t **out, weft_error_t *err) {
    return parse(text, len, name, dir, format, false, out, err);
}

static int parse(const char *text, size_t len, const char *name, const char *dir,
                 weft_app_format_t format, bool build_only, weft_app_t **out, weft_error_t *err) {
    *out = NULL;
    weft_toml_value_t *root = NULL;
    int rc = weft_toml_parse(text, len, name, &root, err);
    if (rc)
        return rc;
    /* WAGI opens a relative module or volume path as written, from the working
     * directory it was started in (its docs: "Relative paths will be resolved from the
     * current working directory in which wagi was started"); weft.toml's own rule is
     * its folder, so that `weft up -c some/app/weft.toml` works from anywhere. */
    ctx_t c = {.name = name,
               .base = format == WEFT_APP_WAGI ? NULL : dir,
               .format = format,
               .err = err,
               .build_only = build_only};
    weft_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        rc = weft_app_nomem(&c);
        goto out;
    }
    app->format = format;
    if (!(app->path = strdup(name)) || !(app->dir = strdup(dir ? dir : "."))) {
        rc = weft_app_nomem(&c);
        goto out;
    }
    rc = format == WEFT_APP_WAGI   ? parse_wagi(&c, root, app)
         : format == WEFT_APP_SPIN ? weft_app_parse_spin(&c, root, app)
                                   : parse_weft(&c, root, app);
    if (rc)
        goto out;
    if (format == WEFT_APP_SPIN) {
        /* Spin has no state folder: weft's default, beside spin.toml. */
        if (!(app->state_dir = weft_app_resolve(c.base, WEFT_APP_DEFAULT_STATE_DIR)))
            rc = weft_app_nomem(&c);
        goto out;
    }
    if (format == WEFT_APP_WAGI) {
        if (!app->nfunctions)
            rc = weft_app_fail(&c, 1, "no functions declared: nothing to serve");
        goto out;
    }
    /* A broker alone serves its ingest (to URL targets, or only to its log). */
    if (!app->nfunctions && !app->nbrokers)
        rc = weft_app_fail(&c, 1, "no functions or brokers declared: nothing to serve");
    else if (!app->state_dir &&
             !(app->state_dir = weft_app_resolve(c.base, WEFT_APP_DEFAULT_STATE_DIR)))
        rc = weft_app_nomem(&c);
out:
    weft_toml_free(root);
    if (rc)
        weft_app_free(app);
    else
        *out = app;
    return rc;
}

/* ---- .wat sources -------------------------------------------------------------------- */

/* Runs wat2wasm on the .wat at src, writing dst; its own messages go to our stderr. */
static int run_wat2wasm(const char *src, const char *dst, weft_error_t *err) {
    char *const argv[] = {"wat2wasm", (char *)src, "-o", (char *)dst, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "wat2wasm", NULL, NULL, argv, environ);
    if (e)
        return weft_error_set(err, WEFT_EIO,
                              "%s: cannot run wat2wasm (%s); install wabt to use .wat modules", src,
                              strerror(e));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return weft_error_set(err, WEFT_EIO, "%s: waitpid: %s", src, strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return weft_error_set(err, WEFT_EMODULE, "%s: wat2wasm failed to convert it", src);
    return 0;
}

/* Converts the .wat at f->wasm into <cache>/wat/<sha256 of the text>.wasm, once. */
static int convert_wat(weft_app_function_t *f, const weft_app_opts_t *opts, weft_error_t *err) {
    uint8_t *text;
    size_t len;
    const char *wat = f->wasm;
    int rc = weft_file_read(wat, &text, &len, err);
    if (rc)
        return rc;
    uint8_t hash[32];
    char hex[65];
    weft_sha256(text, len, hash);
    weft_hex(hash, sizeof hash, hex);
    free(text);
    /* Into the wat/ folder of the engine's artifact cache. */
    char dir[PATH_MAX], path[PATH_MAX + 80], tmp[PATH_MAX + 100];
    weft_compile_opts_t copts = {.cache_dir = opts ? opts->cache_dir : NULL};
    if ((rc = weft_cache_dir(&copts, dir, sizeof dir - strlen("/wat"), err))) {
        weft_error_prefix(err, "%s", wat);
        return rc;
    }
    strcat(dir, "/wat");
    snprintf(path, sizeof path, "%s/%s.wasm", dir, hex);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (weft_mkdirs(dir, 0755))
            return weft_error_set(err, WEFT_EIO, "%s: cannot create %s", wat, dir);
        /* A temporary name and a rename, so that two weft processes converting the same
         * file never see half of it. */
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
        if ((rc = run_wat2wasm(wat, tmp, err))) {
            unlink(tmp);
            return rc;
        }
        if (rename(tmp, path) != 0) {
            unlink(tmp);
            return weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(errno));
        }
    }
    char *converted = strdup(path);
    if (!converted)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    free(f->wasm);
    f->wasm = converted;
    return 0;
}

/* ---- WAGI's paths ------------------------------------------------------------------- */

/* A relative path in a WAGI file that is missing from the working directory but
 * present beside the manifest: the file was written to be run from its own folder (or
 * by someone expecting weft.toml's rule). Says so, rather than leaving the user with
 * "no such file". Returns 0 when there is nothing to say (the path exists, is
 * absolute, or is missing under both readings: loading it then fails as usual). */
static int wagi_path_check(const weft_app_t *app, const char *what, const char *written,
                           const char *path, bool folder, int line, weft_error_t *err) {
    struct stat st;
    if (path[0] == '/' || !strcmp(app->dir, ".") || stat(path, &st) == 0 ||
        (errno != ENOENT && errno != ENOTDIR))
        return 0;
    char beside[PATH_MAX];
    if (snprintf(beside, sizeof beside, "%s/%s", app->dir, path) >= (int)sizeof beside ||
        stat(beside, &st) != 0)
        return 0;
    bool dotted = !strncmp(path, "./", 2) || !strncmp(path, "../", 3);
    return weft_error_set(
        err, WEFT_ENOTFOUND,
        "%s:%d: %s '%s': no such %s %s%s; WAGI resolves %s paths against the working "
        "directory, and %s exists: run weft up from %s, or use an absolute path",
        app->path, line, what, written, folder ? "folder" : "file", dotted ? "" : "./", path,
        folder ? "volume" : "module", beside, app->dir);
}

static int wagi_paths_check(const weft_app_t *app, weft_error_t *err) {
    for (size_t i = 0; i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        int rc = wagi_path_check(app, "module", f->source, f->wasm, false, f->source_line, err);
        for (size_t k = 0; !rc && k < f->nvolumes; k++)
            rc = wagi_path_check(app, "volume", f->volumes[k].guest, f->volumes[k].host, true,
                                 f->volumes[k].line, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* weft.toml declares [[function]]; WAGI's files declare [[module]]; a spin.toml starts
 * with spin_manifest_version (or v1's spin_version). The file name decides for the four
 * names weft looks for, the content for any other. */
static weft_app_format_t detect_format(const char *path, const char *text, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strcmp(base, "weft.toml"))
        return WEFT_APP_WEFT;
    if (!strcmp(base, "modules.toml") || !strcmp(base, "wagi.toml"))
        return WEFT_APP_WAGI;
    if (!strcmp(base, "spin.toml") || weft_app_spin_detect(text, len))
        return WEFT_APP_SPIN;
    /* Any line that opens a [[module]] table. */
    for (size_t i = 0; i < len; i++) {
        if (i && text[i - 1] != '\n')
            continue;
        size_t j = i;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (len - j >= 8 && !memcmp(text + j, "[[module", 8))
            return WEFT_APP_WAGI;
    }
    return WEFT_APP_WEFT;
}

int weft_app_load(const char *path, const weft_app_opts_t *opts, weft_app_t **out,
                  weft_error_t *err) {
    uint8_t *text;
    size_t len;
    *out = NULL;
    int rc = weft_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    char *dir = strdup(path);
    if (!dir) {
        free(text);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
    else
        strcpy(dir, ".");
    weft_app_t *app = NULL;
    bool build_only = opts && opts->build_only;
    rc = parse((const char *)text, len, path, dir, detect_format(path, (const char *)text, len),
               build_only, &app, err);
    free(text);
    free(dir);
    if (rc)
        return rc;
    if ((app->format == WEFT_APP_WAGI && (rc = wagi_paths_check(app, err))) ||
        (app->format == WEFT_APP_SPIN && !build_only &&
         (rc = weft_app_spin_stage_files(app, err)))) {
        weft_app_free(app);
        return rc;
    }
    for (size_t i = 0; i < app->nfunctions; i++) {
        weft_app_function_t *f = &app->functions[i];
        if (ends_with(f->wasm, ".wat") && (rc = convert_wat(f, opts, err))) {
            weft_app_free(app);
            return rc;
        }
    }
    *out = app;
    return 0;
}

const char *weft_app_find_default(void) {
    static const char *const names[] = {"weft.toml", "wagi.toml", "modules.toml", "spin.toml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (access(names[i], F_OK) == 0)
            return names[i];
    return NULL;
}

bool weft_app_token_valid(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > WEFT_APP_MAX_TOKEN)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

bool weft_app_node_valid(const char *s) {
    size_t n = strlen(s);
    return n >= 1 && n <= WEFT_APP_MAX_NAME &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

char *weft_app_stores_path(const weft_app_t *app) {
    char *path = NULL;
    int n = app->state_dir ? asprintf(&path, "%s/stores", app->state_dir)
                           : asprintf(&path, "%s/" WEFT_APP_DEFAULT_STATE_DIR "/stores", app->dir);
    return n < 0 ? NULL : path;
}

char *weft_app_address_path(const weft_app_t *app) {
    char *path = NULL;
    int n = app->state_dir ? asprintf(&path, "%s/address", app->state_dir)
                           : asprintf(&path, "%s/" WEFT_APP_DEFAULT_STATE_DIR "/address", app->dir);
    return n < 0 ? NULL : path;
}
