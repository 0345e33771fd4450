/* spin: Spin's spin.toml (manifest version 1 and 2) read into the app model.
 *
 * What Spin does is the rule: its manifest schema (crates/manifest: schema/v1.rs,
 * schema/v2.rs, compat.rs for v1, normalize.rs for generated names), its HTTP trigger
 * (crates/http: routes, executors, static responses), its Redis trigger
 * (crates/trigger-redis: a default address, per-trigger addresses and channels, both
 * templates of the variables), its variables (crates/expressions) and its loader
 * (crates/loader: files). Where weft differs, the comment says so.
 *
 * Keys. Spin rejects unknown fields in both versions (serde's deny_unknown_fields), so
 * an unknown key is an error here too, with file, line and key. Keys Spin knows and weft
 * does not implement (sqlite_databases, ai_models, dependencies, ...) are warnings that
 * name the key and where it is, and are otherwise ignored; keys Spin itself ignores
 * (tool) are ignored. A component source or trigger weft cannot run is refused by name.
 *
 * Every relative path is relative to the manifest's folder, as Spin resolves them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Room for a section's name in messages ("[component.NAME]"). */
#define SECTION_MAX 300
/* The longest component, trigger or variable name weft takes (Spin sets none): names
 * land in messages, paths (spin-files/NAME) and SPIN_VARIABLE_NAME. */
#define SPIN_MAX_NAME 200
/* How deep a files glob walks (and a folder is copied): far past any real tree, short of
 * a symbolic-link loop. */
#define SPIN_MAX_DEPTH 32

/* snprintf for messages' section names, cut to fit: a name that long is cut in the
 * message, never in the model. */
static void say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* ---- names ----------------------------------------------------------------------------- */

/* Spin's ids (spin-serde): words separated by delim, each starting with an ASCII letter
 * and holding letters and digits only, all lower-case or all upper-case (lower-case only
 * when lower). Component names are kebab-case ('-'), variable names snake-case ('_'). */
static bool spin_id_valid(const char *s, char delim, bool lower) {
    if (!*s || strlen(s) > SPIN_MAX_NAME)
        return false;
    const char *p = s;
    while (1) {
        if (!((*p >= 'a' && *p <= 'z') || (!lower && *p >= 'A' && *p <= 'Z')))
            return false;
        bool upper = *p >= 'A' && *p <= 'Z';
        for (p++; *p && *p != delim; p++) {
            if (*p >= '0' && *p <= '9')
                continue;
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                return false;
            if ((*p >= 'A' && *p <= 'Z') != upper)
                return false;
        }
        if (!*p)
            return true;
        p++; /* past the delimiter: the next word must not be empty */
    }
}

/* A variable's or a config key's name (spin-expressions' Key): lower-case letters,
 * digits and single '_', starting with a letter and ending with a letter or digit. */
static bool spin_key_valid(const char *s) {
    size_t n = strlen(s);
    if (!n || n > SPIN_MAX_NAME || !(s[0] >= 'a' && s[0] <= 'z') || s[n - 1] == '_' ||
        strstr(s, "__"))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* ---- one parse -------------------------------------------------------------------------- */

typedef struct variable {
    const char *name; /* borrowed from the TOML tree */
    const char *def;  /* default, or NULL */
    bool required;
    bool secret;
    int line;
    char *value; /* resolved once, when first used */
} variable_t;

typedef struct spin {
    ctx_t *c;
    weft_app_t *app;
    int version; /* 1 or 2 */
    variable_t *vars;
    size_t nvars;
    const char *base; /* the HTTP base path as written; "/" when none */
    /* Which functions a trigger uses, for the warning about the others. */
    bool *used;
    size_t nused;
    size_t inline_counter; /* the next "inline-component<n>" */
    /* The Redis triggers' default address as written (v1's trigger.address, v2's
     * [application.trigger.redis] address; a template), or NULL, and its line. */
    const char *redis_address;
    int redis_address_line;
} spin_t;

static void warn_key(ctx_t *c, int line, const char *key, const char *section, const char *why) {
    weft_log("%s:%d: warning: '%s' in %s %s: ignored", c->name, line, key, section, why);
}

/* Keys of t weft does not implement: warned about one by one. */
static void warn_keys(ctx_t *c, const weft_toml_value_t *t, const char *section,
                      const char *const *keys, const char *why) {
    for (size_t i = 0; keys[i]; i++) {
        const weft_toml_value_t *v = weft_toml_get(t, keys[i]);
        if (v)
            warn_key(c, v->line, keys[i], section, why);
    }
}

/* Checks t's keys against known[] and warned[] together (an unknown key is an error, as
 * in Spin), then warns about the warned ones present. */
static int check_spin_keys(ctx_t *c, const weft_toml_value_t *t, const char *section,
                           const char *const *known, const char *const *warned, const char *why) {
    const char *all[48];
    size_t n = 0;
    for (size_t i = 0; known[i] && n < 47; i++)
        all[n++] = known[i];
    for (size_t i = 0; warned && warned[i] && n < 47; i++)
        all[n++] = warned[i];
    all[n] = NULL;
    where_t w = {section, NULL, NULL};
    int rc = weft_app_check_keys(c, t, &w, all);
    if (!rc && warned)
        warn_keys(c, t, section, warned, why);
    return rc;
}

static const char *const WHY_NOT_YET = "is not supported by weft yet";

/* ---- variables and templates ------------------------------------------------------------- */

static int read_variables(spin_t *s, const weft_toml_value_t *v) {
    ctx_t *c = s->c;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'variables' must be a table ([variables])");
    if (v->u.tab.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "[variables]: more than %d entries", WEFT_APP_MAX_LIST);
    s->vars = calloc(v->u.tab.len + 1, sizeof *s->vars);
    if (!s->vars)
        return weft_app_nomem(c);
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        const weft_toml_value_t *t = kv->value;
        variable_t *var = &s->vars[s->nvars];
        if (strlen(kv->key) != kv->key_len || !spin_key_valid(kv->key))
            return weft_app_fail(c, t->line,
                                 "variable name '%s' is not valid: lower-case letters, digits "
                                 "and single '_', starting with a letter (as Spin's)",
                                 kv->key);
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line,
                                 "variable '%s' must be a table like { default = \"...\" } or "
                                 "{ required = true }, not %s",
                                 kv->key, weft_app_type_name(t));
        char section[SECTION_MAX];
        say(section, sizeof section, "[variables] '%s'", kv->key);
        static const char *const keys[] = {"default", "required", "secret", NULL};
        where_t w = {section, NULL, NULL};
        int rc = weft_app_check_keys(c, t, &w, keys);
        if (rc || (rc = weft_app_get_string(c, t, &w, "default", &var->def)))
            return rc;
        const weft_toml_value_t *req = weft_toml_get(t, "required");
        const weft_toml_value_t *sec = weft_toml_get(t, "secret");
        if (req && req->type != WEFT_TOML_BOOL)
            return weft_app_fail_type(c, &w, "required", req, "a boolean");
        if (sec && sec->type != WEFT_TOML_BOOL)
            return weft_app_fail_type(c, &w, "secret", sec, "a boolean");
        var->required = req && req->u.b;
        var->secret = sec && sec->u.b;
        /* Spin's loader: "must be `required` OR have a `default`". */
        if (var->required == (var->def != NULL))
            return weft_app_fail(c, t->line,
                                 "variable '%s' must be required = true or have a default, "
                                 "not %s",
                                 kv->key, var->required ? "both" : "neither");
        var->name = kv->key;
        var->line = t->line;
        s->nvars++;
    }
    return 0;
}

/* The variable's value: SPIN_VARIABLE_<NAME> from the environment (Spin's environment
 * provider), else SPIN_CONFIG_<NAME> (its legacy prefix, with Spin's warning), else its
 * default. A required variable without one is an error (line: where it is needed), as
 * Spin refuses to start. weft
 * reads no .env file for variables (Spin's provider merges one from the working
 * directory): export them, or use weft up --env-file for the guest's environment. */
static int variable_value(spin_t *s, variable_t *var, int line, const char **out) {
    if (!var->value) {
        char env[300];
        size_t n = (size_t)snprintf(env, sizeof env, "SPIN_VARIABLE_%s", var->name);
        for (size_t i = 0; i < n && i < sizeof env; i++)
            if (env[i] >= 'a' && env[i] <= 'z')
                env[i] = (char)(env[i] - 'a' + 'A');
        const char *v = getenv(env);
        if (!v) {
            char legacy[300];
            say(legacy, sizeof legacy, "SPIN_CONFIG_%s", env + strlen("SPIN_VARIABLE_"));
            if ((v = getenv(legacy)))
                weft_log("%s: warning: variable '%s' taken from %s, the deprecated spelling of "
                         "%s",
                         s->c->name, var->name, legacy, env);
        }
        if (!v)
            v = var->def;
        if (!v && s->c->build_only)
            v = ""; /* a build needs no value */
        if (!v)
            return weft_app_fail(s->c, line,
                                 "variable '%s' (line %d) is required and has no value: set "
                                 "%s in the environment",
                                 var->name, var->line, env);
        if (!(var->value = strdup(v)))
            return weft_app_nomem(s->c);
    }
    *out = var->value;
    return 0;
}

/* Appends n bytes to the growing string *buf (length *len, capacity *cap). */
static int append(spin_t *s, char **buf, size_t *len, size_t *cap, const char *p, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *b = realloc(*buf, want);
        if (!b)
            return weft_app_nomem(s->c);
        *buf = b;
        *cap = want;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* A template of Spin's expressions crate: literal text and {{ name }} references to the
 * app's [variables] (the name trimmed of spaces); "{{" opens an expression up to the
 * next "}}" (an unmatched one is an error), and there is no escape. *secret is set when
 * a secret variable is used. */
static int resolve_template(spin_t *s, const char *tmpl, int line, const char *what, char **out,
                            bool *secret) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = append(s, &buf, &len, &cap, "", 0);
    const char *p = tmpl;
    while (!rc && *p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            rc = append(s, &buf, &len, &cap, p, strlen(p));
            break;
        }
        if ((rc = append(s, &buf, &len, &cap, p, (size_t)(open - p))))
            break;
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            rc = weft_app_fail(s->c, line, "%s: unmatched '{{' in '%s'", what, tmpl);
            break;
        }
        const char *a = open + 2, *b = close;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
            b--;
        size_t k;
        for (k = 0; k < s->nvars; k++)
            if (strlen(s->vars[k].name) == (size_t)(b - a) && !memcmp(s->vars[k].name, a, b - a))
                break;
        if (k == s->nvars) {
            rc = weft_app_fail(s->c, line, "%s: '{{ %.*s }}' names no variable of [variables]",
                               what, (int)(b - a), a);
            break;
        }
        const char *value = NULL;
        if ((rc = variable_value(s, &s->vars[k], line, &value)) ||
            (rc = append(s, &buf, &len, &cap, value, strlen(value))))
            break;
        *secret = *secret || s->vars[k].secret;
        p = close + 2;
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* v1's [component.config], v2's [component.NAME.variables]: name = "template". */
static int read_config(spin_t *s, weft_app_function_t *f, const weft_toml_value_t *t,
                       const char *key, const char *section) {
    ctx_t *c = s->c;
    const weft_toml_value_t *v = weft_toml_get(t, key);
    if (!v)
        return 0;
    where_t w = {section, NULL, NULL};
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, &w, key, v, "a table of name = \"value\"");
    if (v->u.tab.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "'%s' in %s: more than %d entries", key, section,
                             WEFT_APP_MAX_LIST);
    f->config = calloc(v->u.tab.len + 1, sizeof *f->config);
    if (!f->config)
        return weft_app_nomem(c);
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        const weft_toml_value_t *e = kv->value;
        if (strlen(kv->key) != kv->key_len || !spin_key_valid(kv->key))
            return weft_app_fail(c, e->line,
                                 "'%s' in %s: name '%s' is not valid: lower-case letters, "
                                 "digits and single '_', starting with a letter (as Spin's)",
                                 key, section, kv->key);
        if (e->type != WEFT_TOML_STRING || strlen(e->u.str.ptr) != e->u.str.len)
            return weft_app_fail(c, e->line, "'%s.%s' in %s must be a string, not %s", key, kv->key,
                                 section, weft_app_type_name(e));
        char what[SECTION_MAX + 64];
        say(what, sizeof what, "'%s.%s' in %s", key, kv->key, section);
        weft_app_config_t *cfg = &f->config[f->nconfig];
        int rc = resolve_template(s, e->u.str.ptr, e->line, what, &cfg->value, &cfg->secret);
        if (rc)
            return rc;
        if (!(cfg->name = strdup(kv->key))) {
            free(cfg->value);
            return weft_app_nomem(c);
        }
        f->nconfig++;
    }
    return 0;
}

/* ---- components ----------------------------------------------------------------------------- */

/* A path of files inside the manifest's folder: relative, no ".." segment. */
static bool inside(const char *p) {
    if (p[0] == '/')
        return false;
    for (const char *q = p; *q;) {
        const char *slash = strchr(q, '/');
        size_t n = slash ? (size_t)(slash - q) : strlen(q);
        if (n == 2 && q[0] == '.' && q[1] == '.')
            return false;
        q += n + (slash ? 1 : 0);
    }
    return true;
}

/* files: globs and paths (strings) and { source = "assets", destination = "/assets" }. */
static int read_files(spin_t *s, weft_app_function_t *f, const weft_toml_value_t *t,
                      const char *section) {
    ctx_t *c = s->c;
    const weft_toml_value_t *v = weft_toml_get(t, "files");
    where_t w = {section, NULL, NULL};
    int rc;
    if ((rc = weft_app_get_strings(c, t, &w, "exclude_files", &f->exclude_files,
                                   &f->nexclude_files)))
        return rc;
    if (!v)
        return 0;
    if (v->type != WEFT_TOML_ARRAY)
        return weft_app_fail_type(c, &w, "files", v,
                                  "an array of globs and { source, destination } tables");
    if (v->u.arr.len > WEFT_APP_MAX_LIST)
        return weft_app_fail(c, v->line, "'files' in %s: more than %d entries", section,
                             WEFT_APP_MAX_LIST);
    f->files = calloc(v->u.arr.len + 1, sizeof *f->files);
    if (!f->files)
        return weft_app_nomem(c);
    for (size_t i = 0; i < v->u.arr.len; i++) {
        const weft_toml_value_t *e = v->u.arr.items[i];
        const char *src = NULL, *dst = NULL;
        char fsection[SECTION_MAX + 16];
        say(fsection, sizeof fsection, "%s files", section);
        where_t fw = {fsection, NULL, NULL};
        if (e->type == WEFT_TOML_STRING && strlen(e->u.str.ptr) == e->u.str.len) {
            src = e->u.str.ptr;
        } else if (e->type == WEFT_TOML_TABLE) {
            static const char *const keys[] = {"source", "destination", NULL};
            if ((rc = weft_app_check_keys(c, e, &fw, keys)) ||
                (rc = weft_app_get_string(c, e, &fw, "source", &src)) ||
                (rc = weft_app_get_string(c, e, &fw, "destination", &dst)))
                return rc;
            if (!src || !dst)
                return weft_app_fail(c, e->line,
                                     "%s: a table needs both 'source' and "
                                     "'destination'",
                                     fsection);
        } else {
            return weft_app_fail(c, e->line,
                                 "'files' in %s must hold globs (strings) and { source, "
                                 "destination } tables, not %s",
                                 section, weft_app_type_name(e));
        }
        while (src[0] == '.' && src[1] == '/')
            src += 2;
        if (!*src)
            return weft_app_fail(c, e->line, "%s: an empty path", fsection);
        if (!inside(src))
            return weft_app_fail(c, e->line,
                                 "%s: '%s' is outside the manifest's folder (Spin maps only "
                                 "files within the application's folder)",
                                 fsection, src);
        if (dst && (!*dst || !inside(dst[0] == '/' ? dst + 1 : dst)))
            return weft_app_fail(c, e->line, "%s: destination '%s' is not a path in the guest",
                                 fsection, dst);
        weft_app_files_t *fl = &f->files[f->nfiles];
        fl->line = e->line;
        if (!(fl->source = strdup(src)))
            return weft_app_nomem(c);
        f->nfiles++;
        /* Spin joins the destination below the guest's root, a leading '/' or not. */
        if (dst && asprintf(&fl->destination, "%s%s", dst[0] == '/' ? "" : "/", dst) < 0) {
            fl->destination = NULL;
            return weft_app_nomem(c);
        }
    }
    return 0;
}

/* source = "path.wasm"; a URL or a registry package is refused: weft reads no network at
 * start. */
static int read_source(spin_t *s, weft_app_function_t *f, const weft_toml_value_t *t,
                       const char *section) {
    ctx_t *c = s->c;
    const weft_toml_value_t *v = weft_toml_get(t, "source");
    if (!v)
        return weft_app_fail(c, t->line, "%s needs a 'source' (its .wasm)", section);
    if (v->type == WEFT_TOML_TABLE) {
        const weft_toml_value_t *url = weft_toml_get(v, "url");
        const weft_toml_value_t *pkg = weft_toml_get(v, "package");
        return weft_app_fail(
            c, v->line,
            "'source' in %s is %s%s%s: weft reads no network at start; download the module "
            "and name its path",
            section,
            url   ? "a URL"
            : pkg ? "a registry package"
                  : "a table",
            url && url->type == WEFT_TOML_STRING ? " " : "",
            url && url->type == WEFT_TOML_STRING ? url->u.str.ptr : "");
    }
    if (v->type != WEFT_TOML_STRING || strlen(v->u.str.ptr) != v->u.str.len) {
        where_t w = {section, NULL, NULL};
        return weft_app_fail_type(c, &w, "source", v, "a path");
    }
    return weft_app_set_source(c, f, v->u.str.ptr, v->line);
}

/* The keys of a component both versions share, and what they mean here. */
#define COMPONENT_KEYS                                                                             \
    "source", "description", "environment", "files", "exclude_files", "allowed_http_hosts",        \
        "allowed_outbound_hosts", "key_value_stores", "build"

/* A component into a new function named name. vars_key is where its configuration is
 * ("config" in v1, "variables" in v2). */
static int read_component(spin_t *s, const weft_toml_value_t *t, const char *name,
                          const char *section, const char *vars_key) {
    ctx_t *c = s->c;
    weft_app_t *app = s->app;
    weft_app_function_t *f;
    where_t w = {section, NULL, NULL};
    const char *desc;
    int rc;
    for (size_t k = 0; k < app->nfunctions; k++)
        if (!strcmp(app->functions[k].name, name))
            return weft_app_fail(c, t->line, "component '%s' is already declared on line %d", name,
                                 app->functions[k].line);
    if ((rc = weft_app_new_function(c, app, t, &f)))
        return rc;
    f->spin = true;
    f->executor = WEFT_APP_EXECUTOR_SPIN;
    if (!(f->name = strdup(name)) || !(f->entrypoint = strdup(WEFT_APP_DEFAULT_ENTRYPOINT)))
        return weft_app_nomem(c);
    if ((rc = read_source(s, f, t, section)) ||
        (rc = weft_app_get_string(c, t, &w, "description", &desc)) ||
        (rc = read_config(s, f, t, vars_key, section)) || (rc = weft_app_add_env(c, f, t, &w)) ||
        (rc = read_files(s, f, t, section)) ||
        (rc = weft_app_get_store_names(c, t, &w, "key_value_stores", &f->grants.kv,
                                       &f->grants.nkv)) ||
        (rc = weft_app_get_build(c, t, &w, &f->build)))
        return rc;
    /* allowed_outbound_hosts, then allowed_http_hosts (Spin's order when it merges them),
     * kept as written: the host layer reads both spellings ("https://x:443", "x",
     * "insecure:allow-all"). */
    char **out = NULL, **http = NULL;
    size_t nout = 0, nhttp = 0;
    if ((rc = weft_app_get_strings(c, t, &w, "allowed_outbound_hosts", &out, &nout)) ||
        (rc = weft_app_get_strings(c, t, &w, "allowed_http_hosts", &http, &nhttp))) {
        for (size_t i = 0; i < nout; i++)
            free(out[i]);
        for (size_t i = 0; i < nhttp; i++)
            free(http[i]);
        free(out);
        free(http);
        return rc;
    }
    if (nhttp && s->version == 2)
        weft_log("%s:%d: warning: 'allowed_http_hosts' in %s is deprecated in Spin 2: use "
                 "allowed_outbound_hosts (weft reads it as Spin does)",
                 c->name, weft_toml_get(t, "allowed_http_hosts")->line, section);
    /* One list, taking the strings of both (or freeing them when out of memory). */
    f->allowed_hosts = calloc(nout + nhttp + 1, sizeof *f->allowed_hosts);
    for (size_t i = 0; i < nout + nhttp; i++) {
        char *h = i < nout ? out[i] : http[i - nout];
        if (f->allowed_hosts)
            f->allowed_hosts[f->nallowed++] = h;
        else
            free(h);
    }
    free(out);
    free(http);
    return f->allowed_hosts ? 0 : weft_app_nomem(c);
}

/* ---- routes and triggers ---------------------------------------------------------------- */

/* Spin's route syntax: "/exact", "/prefix/..." (or routefinder's trailing "*"), named
 * segments "/users/:id", a missing leading '/' added and one trailing '/' dropped, as
 * Spin's router does. Joined to the base into *out ("/" for the empty path). */
static int spin_route_path(spin_t *s, const char *raw, int line, char **out) {
    ctx_t *c = s->c;
    for (const char *p = raw; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || (unsigned char)*p == 0x7f)
            return weft_app_fail(c, line, "route '%s' must not contain spaces, '?' or '#'", raw);
    const char *base = s->base;
    size_t blen = strlen(base), rlen = strlen(raw);
    if (blen && base[blen - 1] == '/')
        blen--;
    char *path = malloc(blen + rlen + 8);
    if (!path)
        return weft_app_nomem(c);
    size_t n = 0;
    memcpy(path, base, blen);
    n = blen;
    if (raw[0] != '/')
        path[n++] = '/';
    memcpy(path + n, raw, rlen);
    n += rlen;
    if (n && path[n - 1] == '/')
        n--;
    path[n] = 0;
    if (!n)
        strcpy(path, "/");
    /* Check each segment of the joined path (the base's too). */
    for (const char *seg = path + 1; *seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        bool last = !slash;
        const char *bad = NULL;
        if (len == 1 && seg[0] == '*')
            bad = last ? NULL : "'*' may only end a route, as in '/prefix/*'";
        else if (len == 3 && !memcmp(seg, "...", 3))
            bad = last ? NULL : "'...' may only end a route, as in '/prefix/...'";
        else if (memmem(seg, len, "...", 3) || memchr(seg, '*', len))
            bad = "'...' and '*' must be a whole segment, as in '/prefix/...'";
        else if (len && seg[0] == ':' && len == 1)
            bad = "a ':name' segment needs a name";
        else if (!len && !last)
            bad = "an empty segment ('//')";
        if (bad) {
            free(path);
            return weft_app_fail(c, line, "route '%s': %s", raw, bad);
        }
        seg += len + (slash ? 1 : 0);
    }
    /* routefinder's trailing "*" segment is Spin's "...". */
    n = strlen(path);
    if (n >= 2 && !strcmp(path + n - 2, "/*")) {
        char *p = realloc(path, n + 3);
        if (!p) {
            free(path);
            return weft_app_nomem(c);
        }
        path = p;
        strcpy(path + n - 1, "...");
    }
    *out = path;
    return 0;
}

void weft_app_static_free(weft_app_static_t *st) {
    if (!st)
        return;
    for (size_t k = 0; k < st->nheaders; k++) {
        free(st->header_names[k]);
        free(st->header_values[k]);
    }
    free(st->header_names);
    free(st->header_values);
    free(st->body);
    free(st);
}

/* A route to function fn (or a static response when st). Two triggers with the same
 * route: Spin's router keeps the last and warns; so does weft. Takes ownership of st. */
static int add_spin_route(spin_t *s, const char *raw, int line, size_t fn, weft_app_static_t *st,
                          const char *who) {
    ctx_t *c = s->c;
    weft_app_t *app = s->app;
    weft_app_route_t r = {.function = fn, .static_response = st, .line = line};
    int rc = spin_route_path(s, raw, line, &r.path);
    if (!rc && (!(r.raw = strdup(raw)) || !(r.base = strdup(s->base))))
        rc = weft_app_nomem(c);
    size_t i;
    for (i = 0; !rc && i < app->nroutes && strcmp(app->routes[i].path, r.path); i++)
        ;
    if (!rc && i == app->nroutes)
        rc = weft_app_grow(c, (void **)&app->routes, app->nroutes, sizeof *app->routes, "routes");
    if (rc) {
        free(r.path);
        free(r.raw);
        free(r.base);
        weft_app_static_free(st);
        return rc;
    }
    if (i == app->nroutes) {
        app->routes[app->nroutes++] = r;
        return 0;
    }
    weft_app_route_t *old = &app->routes[i];
    weft_log("%s:%d: warning: route '%s' of %s replaces the one on line %d, as Spin does: the "
             "last wins",
             c->name, line, r.path, who, old->line);
    free(old->path);
    free(old->raw);
    free(old->base);
    free(old->entrypoint);
    weft_app_static_free(old->static_response);
    *old = r;
    return 0;
}

/* static_response = { status_code = 200, headers = { ... }, body = "..." }. Spin ignores
 * other keys (its StaticResponse does not deny unknown fields); weft warns. */
static int read_static(spin_t *s, const weft_toml_value_t *v, const char *section,
                       weft_app_static_t **out) {
    ctx_t *c = s->c;
    char ssection[SECTION_MAX + 32];
    say(ssection, sizeof ssection, "%s static_response", section);
    where_t w = {ssection, NULL, NULL};
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail_type(c, &w, "static_response", v, "a table");
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const char *k = v->u.tab.items[i].key;
        if (strcmp(k, "status_code") && strcmp(k, "headers") && strcmp(k, "body"))
            weft_log("%s:%d: warning: unknown key '%s' in %s ignored (as Spin does)", c->name,
                     v->u.tab.items[i].value->line, k, ssection);
    }
    weft_app_static_t *st = calloc(1, sizeof *st);
    if (!st)
        return weft_app_nomem(c);
    int rc = 0;
    st->status = 200;
    const weft_toml_value_t *code = weft_toml_get(v, "status_code");
    const weft_toml_value_t *hdrs = weft_toml_get(v, "headers");
    const weft_toml_value_t *body = weft_toml_get(v, "body");
    if (code && code->type != WEFT_TOML_INTEGER)
        rc = weft_app_fail_type(c, &w, "status_code", code, "an integer");
    else if (code && (code->u.i < 100 || code->u.i > 599))
        rc = weft_app_fail(c, code->line, "'status_code' in %s: %lld is not an HTTP status",
                           ssection, (long long)code->u.i);
    else if (code)
        st->status = (unsigned)code->u.i;
    if (!rc && body && body->type != WEFT_TOML_STRING)
        rc = weft_app_fail_type(c, &w, "body", body, "a string");
    if (!rc && body) {
        if (!(st->body = malloc(body->u.str.len + 1)))
            rc = weft_app_nomem(c);
        else {
            memcpy(st->body, body->u.str.ptr, body->u.str.len + 1);
            st->body_len = body->u.str.len;
        }
    }
    if (!rc && hdrs && hdrs->type != WEFT_TOML_TABLE)
        rc = weft_app_fail_type(c, &w, "headers", hdrs, "a table of name = \"value\"");
    if (!rc && hdrs && hdrs->u.tab.len > WEFT_APP_MAX_LIST)
        rc = weft_app_fail(c, hdrs->line, "'headers' in %s: more than %d entries", ssection,
                           WEFT_APP_MAX_LIST);
    if (!rc && hdrs && hdrs->u.tab.len) {
        st->header_names = calloc(hdrs->u.tab.len, sizeof *st->header_names);
        st->header_values = calloc(hdrs->u.tab.len, sizeof *st->header_values);
        if (!st->header_names || !st->header_values)
            rc = weft_app_nomem(c);
    }
    for (size_t i = 0; !rc && hdrs && i < hdrs->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &hdrs->u.tab.items[i];
        const weft_toml_value_t *e = kv->value;
        bool name_ok = kv->key_len && strlen(kv->key) == kv->key_len;
        for (const char *p = kv->key; name_ok && *p; p++)
            name_ok = *p > ' ' && *p < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", *p);
        if (!name_ok) {
            rc =
                weft_app_fail(c, e->line, "%s: '%s' is not an HTTP header name", ssection, kv->key);
            break;
        }
        bool value_ok = e->type == WEFT_TOML_STRING && strlen(e->u.str.ptr) == e->u.str.len;
        for (const char *p = value_ok ? e->u.str.ptr : ""; value_ok && *p; p++)
            value_ok = *p == '\t' || ((unsigned char)*p >= ' ' && *p != 0x7f);
        if (!value_ok) {
            rc = weft_app_fail(c, e->line, "%s: header '%s' must be a string of one line", ssection,
                               kv->key);
            break;
        }
        if (!(st->header_names[i] = strdup(kv->key)) ||
            !(st->header_values[i] = strdup(e->u.str.ptr))) {
            free(st->header_names[i]);
            rc = weft_app_nomem(c);
            break;
        }
        st->nheaders++;
    }
    if (rc) {
        weft_app_static_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

/* executor = { type = "spin" } (or "http", Spin 3's name), or { type = "wagi", argv,
 * entrypoint }: onto the function (weft holds the executor per function; a component
 * that two triggers use with different executors is refused). */
static int read_executor(spin_t *s, const weft_toml_value_t *t, const char *section, size_t fn) {
    ctx_t *c = s->c;
    const weft_toml_value_t *v = weft_toml_get(t, "executor");
    weft_app_function_t *f = &s->app->functions[fn];
    weft_app_executor_t ex = WEFT_APP_EXECUTOR_SPIN;
    const char *argv = NULL, *entry = NULL;
    char esection[SECTION_MAX + 16];
    say(esection, sizeof esection, "%s executor", section);
    where_t w = {esection, NULL, NULL};
    int rc;
    if (v) {
        if (v->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, v->line, "'executor' in %s must be a table { type = ... }",
                                 section);
        const char *type;
        if ((rc = weft_app_get_string(c, v, &w, "type", &type)))
            return rc;
        if (!type)
            return weft_app_fail(c, v->line, "'executor' in %s needs a 'type'", section);
        static const char *const spin_keys[] = {"type", NULL};
        static const char *const wagi_keys[] = {"type", "argv", "entrypoint", NULL};
        if (!strcmp(type, "wagi")) {
            ex = WEFT_APP_EXECUTOR_CGI;
            if ((rc = weft_app_check_keys(c, v, &w, wagi_keys)) ||
                (rc = weft_app_get_string(c, v, &w, "argv", &argv)) ||
                (rc = weft_app_get_string(c, v, &w, "entrypoint", &entry)))
                return rc;
            if (entry && !*entry)
                return weft_app_fail(c, v->line, "'entrypoint' in %s is empty", esection);
        } else if (!strcmp(type, "spin") || !strcmp(type, "http")) {
            if ((rc = weft_app_check_keys(c, v, &w, spin_keys)))
                return rc;
        } else if (!strcmp(type, "wasi")) {
            return weft_app_fail(c, v->line,
                                 "executor type 'wasi' in %s (wasi-http) is not supported: weft "
                                 "runs Spin's and WAGI's executors (\"spin\", \"wagi\")",
                                 section);
        } else {
            return weft_app_fail(c, v->line,
                                 "executor type '%s' in %s is not one of \"spin\", \"http\" "
                                 "and \"wagi\"",
                                 type, section);
        }
    }
    /* The first trigger to use a function sets it; it starts as SPIN with no argv. */
    bool first = !s->used[fn];
    if (!first && (f->executor != ex || (argv && (!f->argv || strcmp(argv, f->argv))) ||
                   (!argv && f->argv) || (entry && strcmp(entry, f->entrypoint))))
        return weft_app_fail(c, v ? v->line : t->line,
                             "component '%s' is used by two triggers with different executors: "
                             "weft holds one executor per component",
                             f->name);
    s->used[fn] = true;
    f->executor = ex;
    if (first && argv && !(f->argv = strdup(argv)))
        return weft_app_nomem(c);
    if (first && entry) {
        char *e = strdup(entry);
        if (!e)
            return weft_app_nomem(c);
        free(f->entrypoint);
        f->entrypoint = e;
    }
    return 0;
}

/* A route = "..." or { private = true } (Spin's private endpoint, reached only by service
 * chaining, which weft does not have: the component gets no route, with a warning). */
static int trigger_route(spin_t *s, const weft_toml_value_t *t, const char *section,
                         const char **raw) {
    ctx_t *c = s->c;
    const weft_toml_value_t *v = weft_toml_get(t, "route");
    *raw = NULL;
    if (!v)
        return weft_app_fail(c, t->line, "%s needs a 'route'", section);
    if (v->type == WEFT_TOML_STRING && strlen(v->u.str.ptr) == v->u.str.len) {
        *raw = v->u.str.ptr;
        return 0;
    }
    if (v->type == WEFT_TOML_TABLE) {
        static const char *const keys[] = {"private", NULL};
        char rsection[SECTION_MAX + 16];
        say(rsection, sizeof rsection, "%s route", section);
        where_t w = {rsection, NULL, NULL};
        const weft_toml_value_t *p = weft_toml_get(v, "private");
        int rc = weft_app_check_keys(c, v, &w, keys);
        if (rc)
            return rc;
        if (!p || p->type != WEFT_TOML_BOOL || !p->u.b)
            return weft_app_fail(
                c, v->line, "route in %s must be a string pattern or { private = true }", section);
        weft_log("%s:%d: warning: route = { private = true } in %s: a private endpoint is "
                 "reached by Spin's service chaining, which weft does not have: no route",
                 c->name, v->line, section);
        return 0;
    }
    return weft_app_fail(c, v->line, "route in %s must be a string pattern, not %s", section,
                         weft_app_type_name(v));
}

static size_t find_function(const weft_app_t *app, const char *name) {
    for (size_t k = 0; k < app->nfunctions; k++)
        if (!strcmp(app->functions[k].name, name))
            return k;
    return SIZE_MAX;
}

static int grow_used(spin_t *s) {
    if (s->nused >= s->app->nfunctions)
        return 0;
    bool *u = realloc(s->used, s->app->nfunctions * sizeof *u);
    if (!u)
        return weft_app_nomem(s->c);
    memset(u + s->nused, 0, (s->app->nfunctions - s->nused) * sizeof *u);
    s->used = u;
    s->nused = s->app->nfunctions;
    return 0;
}

/* ---- v2 --------------------------------------------------------------------------------- */

static const char *const V2_COMPONENT_KEYS[] = {COMPONENT_KEYS, "variables", "tool", NULL};
static const char *const V2_COMPONENT_WARNED[] = {"sqlite_databases", "ai_models", "dependencies",
                                                  "dependencies_inherit_configuration", NULL};

/* A v2 trigger's `component`: the name of a [component.NAME], or an inline table read
 * as a component named "<id>-component" when that is a valid, free name, else
 * "inline-component<n>" (normalize.rs). *fn is its function's index. */
static int trigger_component(spin_t *s, const weft_toml_value_t *comp, const char *section,
                             const char *id, size_t *fn) {
    ctx_t *c = s->c;
    weft_app_t *app = s->app;
    if (comp->type == WEFT_TOML_STRING) {
        if ((*fn = find_function(app, comp->u.str.ptr)) == SIZE_MAX)
            return weft_app_fail(c, comp->line, "%s: no [component.%s] is declared", section,
                                 comp->u.str.ptr);
        return 0;
    }
    if (comp->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, comp->line,
                             "'component' in %s must be a component's name or a table, not %s",
                             section, weft_app_type_name(comp));
    char name[SECTION_MAX + 16];
    say(name, sizeof name, "%s-component", id);
    if (!spin_id_valid(name, '-', false) || find_function(app, name) != SIZE_MAX) {
        do
            say(name, sizeof name, "inline-component%zu", s->inline_counter++);
        while (find_function(app, name) != SIZE_MAX);
    }
    char csection[SECTION_MAX * 2];
    say(csection, sizeof csection, "%s component ('%s')", section, name);
    int rc;
    if ((rc = check_spin_keys(c, comp, csection, V2_COMPONENT_KEYS, V2_COMPONENT_WARNED,
                              WHY_NOT_YET)) ||
        (rc = read_component(s, comp, name, csection, "variables")) || (rc = grow_used(s)))
        return rc;
    *fn = app->nfunctions - 1;
    return 0;
}

static int read_v2_component(spin_t *s, const weft_toml_value_t *t, const char *name) {
    char section[SECTION_MAX];
    say(section, sizeof section, "[component.%s]", name);
    if (t->type != WEFT_TOML_TABLE)
        return weft_app_fail(s->c, t->line, "%s must be a table", section);
    int rc = check_spin_keys(s->c, t, section, V2_COMPONENT_KEYS, V2_COMPONENT_WARNED, WHY_NOT_YET);
    if (rc || (rc = read_component(s, t, name, section, "variables")))
        return rc;
    return grow_used(s);
}

/* [application]: name (required, as in Spin), version, description, authors; the HTTP
 * trigger's base in [application.trigger.http]. */
static int read_application(spin_t *s, const weft_toml_value_t *v) {
    ctx_t *c = s->c;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'application' must be a table ([application])");
    static const char *const keys[] = {"name",    "version", "description", "authors",
                                       "trigger", "tool",    NULL};
    static const char *const warned[] = {"targets", NULL};
    int rc = check_spin_keys(c, v, "[application]", keys, warned, WHY_NOT_YET);
    if (rc || (rc = weft_app_dup_string(c, v, &(where_t){"[application]", NULL, NULL}, "name",
                                        &s->app->name)))
        return rc;
    if (!s->app->name)
        return weft_app_fail(c, v->line, "[application] needs a 'name'");
    where_t w = {"[application]", NULL, NULL};
    const char *str;
    char **list = NULL;
    size_t n = 0;
    if ((rc = weft_app_get_string(c, v, &w, "version", &str)) ||
        (rc = weft_app_get_string(c, v, &w, "description", &str)))
        return rc;
    rc = weft_app_get_strings(c, v, &w, "authors", &list, &n);
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    if (rc)
        return rc;
    const weft_toml_value_t *tr = weft_toml_get(v, "trigger");
    if (!tr)
        return 0;
    if (tr->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, tr->line, "'trigger' in [application] must be a table");
    for (size_t i = 0; i < tr->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &tr->u.tab.items[i];
        if (!strcmp(kv->key, "redis")) {
            /* Spin's redis TriggerMetadata: the default address of [[trigger.redis]]. */
            static const char *const rkeys[] = {"address", NULL};
            where_t rw = {"[application.trigger.redis]", NULL, NULL};
            if (kv->value->type != WEFT_TOML_TABLE)
                return weft_app_fail(c, kv->value->line,
                                     "[application.trigger.redis] must be a table");
            if ((rc = weft_app_check_keys(c, kv->value, &rw, rkeys)) ||
                (rc = weft_app_get_string(c, kv->value, &rw, "address", &s->redis_address)))
                return rc;
            if (s->redis_address)
                s->redis_address_line = weft_toml_get(kv->value, "address")->line;
            continue;
        }
        if (strcmp(kv->key, "http"))
            return weft_app_fail(c, kv->value->line,
                                 "[application.trigger.%s]: trigger type '%s' is not supported: "
                                 "weft has the HTTP and Redis triggers",
                                 kv->key, kv->key);
        if (kv->value->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, kv->value->line, "[application.trigger.http] must be a table");
        static const char *const hkeys[] = {"base", NULL};
        where_t hw = {"[application.trigger.http]", NULL, NULL};
        if ((rc = weft_app_check_keys(c, kv->value, &hw, hkeys)) ||
            (rc = weft_app_get_string(c, kv->value, &hw, "base", &str)))
            return rc;
        if (str)
            s->base = str;
    }
    return 0;
}

/* A trigger's id as Spin's normalize.rs gives it: as written, else
 * "<component>-http-trigger" for a referenced component when free, else
 * "http-trigger<n>" (n from 1, skipping taken ids). ids[] holds every id so far. */
static void trigger_id(const char *type, const weft_toml_value_t *t, const char **ids, size_t nids,
                       size_t *counter, char *out, size_t size) {
    const weft_toml_value_t *comp = weft_toml_get(t, "component");
    if (comp && comp->type == WEFT_TOML_STRING) {
        snprintf(out, size, "%s-%s-trigger", comp->u.str.ptr, type);
        size_t k;
        for (k = 0; k < nids && strcmp(ids[k], out); k++)
            ;
        if (k == nids)
            return;
    }
    for (;; (*counter)++) {
        snprintf(out, size, "%s-trigger%zu", type, *counter);
        size_t k;
        for (k = 0; k < nids && strcmp(ids[k], out); k++)
            ;
        if (k == nids)
            return;
    }
}

static int read_v2_http(spin_t *s, const weft_toml_value_t *http) {
    ctx_t *c = s->c;
    weft_app_t *app = s->app;
    if (http->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, http->line,
                             "'trigger.http' must be an array of tables "
                             "([[trigger.http]])");
    size_t n = http->u.arr.len;
    if (n > WEFT_APP_MAX_FUNCTIONS)
        return weft_app_fail(c, http->line, "more than %d triggers", WEFT_APP_MAX_FUNCTIONS);
    /* Every id: the ones written first, then the generated ones as they are made. */
    const char **ids = calloc(2 * n + 1, sizeof *ids);
    char(*gen)[SECTION_MAX] = calloc(n + 1, sizeof *gen);
    int rc = 0;
    size_t nids = 0, counter = 1;
    if (!ids || !gen)
        rc = weft_app_nomem(c);
    for (size_t i = 0; !rc && i < n; i++) {
        const weft_toml_value_t *t = http->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE) {
            rc = weft_app_fail(c, t->line, "'trigger.http' must be an array of tables");
            break;
        }
        const weft_toml_value_t *id = weft_toml_get(t, "id");
        if (id && id->type == WEFT_TOML_STRING)
            ids[nids++] = id->u.str.ptr;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const weft_toml_value_t *t = http->u.arr.items[i];
        char section[SECTION_MAX + 32];
        const char *id;
        say(section, sizeof section, "[[trigger.http]] (line %d)", t->line);
        static const char *const keys[] = {"id",       "component",       "route",
                                           "executor", "static_response", NULL};
        static const char *const warned[] = {"components", NULL};
        if ((rc = check_spin_keys(c, t, section, keys, warned, WHY_NOT_YET)) ||
            (rc = weft_app_get_string(c, t, &(where_t){section, NULL, NULL}, "id", &id)))
            break;
        if (!id) {
            trigger_id("http", t, ids, nids, &counter, gen[i], sizeof gen[i]);
            ids[nids++] = id = gen[i];
        }
        say(section, sizeof section, "[[trigger.http]] '%s'", id);
        const weft_toml_value_t *comp = weft_toml_get(t, "component");
        const weft_toml_value_t *stv = weft_toml_get(t, "static_response");
        const char *raw;
        if ((rc = trigger_route(s, t, section, &raw)))
            break;
        if (comp && stv) {
            rc = weft_app_fail(c, stv->line, "%s has both a 'component' and a 'static_response'",
                               section);
            break;
        }
        if (stv) {
            weft_app_static_t *st = NULL;
            if (weft_toml_get(t, "executor")) {
                rc = weft_app_fail(c, weft_toml_get(t, "executor")->line,
                                   "%s: a static_response has no executor", section);
                break;
            }
            if ((rc = read_static(s, stv, section, &st)))
                break;
            if (!raw) {
                weft_app_static_free(st);
                continue;
            }
            char who[SECTION_MAX + 40];
            say(who, sizeof who, "the static response of trigger '%s'", id);
            if ((rc = add_spin_route(s, raw, weft_toml_get(t, "route")->line, SIZE_MAX, st, who)))
                break;
            continue;
        }
        if (!comp) {
            rc =
                weft_app_fail(c, t->line, "%s needs a 'component' or a 'static_response'", section);
            break;
        }
        size_t fn;
        if ((rc = trigger_component(s, comp, section, id, &fn)))
            break;
        if ((rc = read_executor(s, t, section, fn)))
            break;
        if (raw) {
            char who[SECTION_MAX * 2];
            say(who, sizeof who, "component '%s'", app->functions[fn].name);
            if ((rc = add_spin_route(s, raw, weft_toml_get(t, "route")->line, fn, NULL, who)))
                break;
        }
    }
    free(ids);
    free(gen);
    return rc;
}

/* A Redis trigger of component fn: its address (the trigger's own, else the default;
 * both templates of Spin's variables, as Spin resolves them) and channel (a template
 * too). Spin calls the component through handle-redis-message; weft calls a module
 * without that export with the message on stdin (invoke.h). */
static int add_spin_redis(spin_t *s, const weft_toml_value_t *t, const char *section, size_t fn,
                          const char *address, int address_line, const char *channel) {
    ctx_t *c = s->c;
    if (!address) {
        address = s->redis_address;
        address_line = s->redis_address_line;
    }
    if (!address)
        return weft_app_fail(c, t->line, "%s has no 'address' and there is no default one (%s)",
                             section,
                             s->version == 1 ? "trigger = { type = \"redis\", address = "
                                               "\"redis://...\" }"
                                             : "[application.trigger.redis] address");
    char *addr = NULL, *chan = NULL;
    bool secret = false;
    int rc = resolve_template(s, address, address_line, section, &addr, &secret);
    if (!rc)
        rc = resolve_template(s, channel, weft_toml_get(t, "channel")->line, section, &chan,
                              &secret);
    if (!rc)
        rc = weft_app_add_redis_trigger(c, s->app, addr, chan, fn, t->line, section);
    free(addr);
    free(chan);
    if (!rc)
        s->used[fn] = true;
    return rc;
}

/* [[trigger.redis]]: component (a name or an inline table), channel, address (optional:
 * [application.trigger.redis]'s), id; Spin ignores an executor there, and so does weft. */
static int read_v2_redis(spin_t *s, const weft_toml_value_t *redis) {
    ctx_t *c = s->c;
    if (redis->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, redis->line,
                             "'trigger.redis' must be an array of tables ([[trigger.redis]])");
    size_t n = redis->u.arr.len;
    if (n > WEFT_APP_MAX_FUNCTIONS)
        return weft_app_fail(c, redis->line, "more than %d triggers", WEFT_APP_MAX_FUNCTIONS);
    /* Ids as for [[trigger.http]]: the written ones first, then the generated ones. */
    const char **ids = calloc(2 * n + 1, sizeof *ids);
    char(*gen)[SECTION_MAX] = calloc(n + 1, sizeof *gen);
    size_t nids = 0, counter = 1;
    int rc = ids && gen ? 0 : weft_app_nomem(c);
    for (size_t i = 0; !rc && i < n; i++) {
        const weft_toml_value_t *t = redis->u.arr.items[i], *id;
        if (t->type == WEFT_TOML_TABLE && (id = weft_toml_get(t, "id")) &&
            id->type == WEFT_TOML_STRING)
            ids[nids++] = id->u.str.ptr;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const weft_toml_value_t *t = redis->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE) {
            rc = weft_app_fail(c, t->line, "'trigger.redis' must be an array of tables");
            break;
        }
        char section[SECTION_MAX + 32];
        say(section, sizeof section, "[[trigger.redis]] (line %d)", t->line);
        static const char *const keys[] = {"id",      "component", "channel",
                                           "address", "executor",  NULL};
        where_t w = {section, NULL, NULL};
        const char *id, *channel, *address;
        if ((rc = check_spin_keys(c, t, section, keys, NULL, NULL)) ||
            (rc = weft_app_get_string(c, t, &w, "id", &id)) ||
            (rc = weft_app_get_string(c, t, &w, "channel", &channel)) ||
            (rc = weft_app_get_string(c, t, &w, "address", &address)))
            break;
        if (!channel) {
            rc = weft_app_fail(c, t->line, "%s needs a 'channel'", section);
            break;
        }
        if (!id) {
            trigger_id("redis", t, ids, nids, &counter, gen[i], sizeof gen[i]);
            ids[nids++] = id = gen[i];
        }
        const weft_toml_value_t *comp = weft_toml_get(t, "component");
        size_t fn;
        if (!comp) {
            rc = weft_app_fail(c, t->line, "%s needs a 'component'", section);
            break;
        }
        if ((rc = trigger_component(s, comp, section, id, &fn)))
            break;
        rc = add_spin_redis(s, t, section, fn, address,
                            address ? weft_toml_get(t, "address")->line : 0, channel);
    }
    free(ids);
    free(gen);
    return rc;
}

static int read_v2_triggers(spin_t *s, const weft_toml_value_t *v) {
    ctx_t *c = s->c;
    if (v->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, v->line, "'trigger' must be a table of [[trigger.TYPE]] lists");
    for (size_t i = 0; i < v->u.tab.len; i++) {
        const weft_toml_kv_t *kv = &v->u.tab.items[i];
        if (strcmp(kv->key, "http") && strcmp(kv->key, "redis"))
            return weft_app_fail(c, kv->value->line,
                                 "[[trigger.%s]]: trigger type '%s' is not supported: weft has "
                                 "the HTTP and Redis triggers ([[trigger.http]], "
                                 "[[trigger.redis]])",
                                 kv->key, kv->key);
    }
    const weft_toml_value_t *http = weft_toml_get(v, "http");
    const weft_toml_value_t *redis = weft_toml_get(v, "redis");
    int rc = http ? read_v2_http(s, http) : 0;
    return rc || !redis ? rc : read_v2_redis(s, redis);
}

static int parse_v2(spin_t *s, const weft_toml_value_t *root) {
    ctx_t *c = s->c;
    static const char *const top[] = {
        "spin_manifest_version", "application", "variables", "trigger", "component", NULL};
    int rc = check_spin_keys(c, root, "the top level", top, NULL, NULL);
    if (rc)
        return rc;
    const weft_toml_value_t *app = weft_toml_get(root, "application");
    if (!app)
        return weft_app_fail(c, 1, "no [application] table (Spin requires one, with a name)");
    if ((rc = read_application(s, app)))
        return rc;
    const weft_toml_value_t *vars = weft_toml_get(root, "variables");
    if (vars && (rc = read_variables(s, vars)))
        return rc;
    const weft_toml_value_t *comps = weft_toml_get(root, "component");
    if (comps) {
        if (comps->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, comps->line,
                                 "'component' must be a table of "
                                 "[component.NAME] tables");
        for (size_t i = 0; i < comps->u.tab.len; i++) {
            const weft_toml_kv_t *kv = &comps->u.tab.items[i];
            if (strlen(kv->key) != kv->key_len || !spin_id_valid(kv->key, '-', false))
                return weft_app_fail(c, kv->value->line,
                                     "component name '%s' is not valid: words of letters and "
                                     "digits joined by '-', each starting with a letter (as "
                                     "Spin's)",
                                     kv->key);
            if ((rc = read_v2_component(s, kv->value, kv->key)))
                return rc;
        }
    }
    const weft_toml_value_t *trig = weft_toml_get(root, "trigger");
    if (!trig)
        return weft_app_fail(c, 1, "no [[trigger.http]] or [[trigger.redis]]: nothing to serve");
    return read_v2_triggers(s, trig);
}

/* ---- v1 --------------------------------------------------------------------------------- */

/* v1's component id, made a valid v2 name as Spin's compat.rs does: '_' becomes '-' and
 * the whole lower-case. */
static int v1_component_id(spin_t *s, const char *id, int line, char *out, size_t size) {
    snprintf(out, size, "%s", id);
    if (spin_id_valid(out, '-', false))
        return 0;
    for (char *p = out; *p; p++)
        *p = *p == '_' ? '-' : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    if (!spin_id_valid(out, '-', false))
        return weft_app_fail(s->c, line,
                             "component id '%s' is not valid: words of letters and digits "
                             "joined by '-', each starting with a letter (as Spin's)",
                             id);
    return 0;
}

static int parse_v1(spin_t *s, const weft_toml_value_t *root) {
    ctx_t *c = s->c;
    weft_app_t *app = s->app;
    static const char *const top[] = {"spin_manifest_version",
                                      "spin_version",
                                      "name",
                                      "version",
                                      "description",
                                      "authors",
                                      "trigger",
                                      "variables",
                                      "component",
                                      NULL};
    where_t w = {"the top level", NULL, NULL};
    const char *str;
    char **list = NULL;
    size_t n = 0;
    int rc = check_spin_keys(c, root, "the top level", top, NULL, NULL);
    if (rc || (rc = weft_app_dup_string(c, root, &w, "name", &app->name)) ||
        (rc = weft_app_get_string(c, root, &w, "version", &str)) ||
        (rc = weft_app_get_string(c, root, &w, "description", &str)))
        return rc;
    rc = weft_app_get_strings(c, root, &w, "authors", &list, &n);
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    if (rc)
        return rc;
    if (!app->name)
        return weft_app_fail(c, 1, "no 'name' (Spin requires one)");
    const weft_toml_value_t *tr = weft_toml_get(root, "trigger");
    if (!tr)
        return weft_app_fail(c, 1, "no 'trigger' (like trigger = { type = \"http\" })");
    if (tr->type != WEFT_TOML_TABLE)
        return weft_app_fail(c, tr->line, "'trigger' must be a table like { type = \"http\" }");
    where_t tw = {"trigger", NULL, NULL};
    const char *type;
    if ((rc = weft_app_get_string(c, tr, &tw, "type", &type)))
        return rc;
    if (!type)
        return weft_app_fail(c, tr->line, "'trigger' needs a 'type'");
    bool redis = !strcmp(type, "redis");
    if (strcmp(type, "http") && !redis)
        return weft_app_fail(c, tr->line,
                             "trigger type '%s' is not supported: weft has the HTTP and Redis "
                             "triggers (\"http\", \"redis\")",
                             type);
    static const char *const tkeys[] = {"type", "base", NULL};
    static const char *const rkeys[] = {"type", "address", NULL};
    if ((rc = weft_app_check_keys(c, tr, &tw, redis ? rkeys : tkeys)) ||
        (rc = weft_app_get_string(c, tr, &tw, redis ? "address" : "base", &str)))
        return rc;
    if (redis && !str)
        return weft_app_fail(c, tr->line, "trigger = { type = \"redis\" } needs an 'address'");
    if (redis) {
        s->redis_address = str;
        s->redis_address_line = weft_toml_get(tr, "address")->line;
    } else if (str) {
        s->base = str;
    }
    const weft_toml_value_t *vars = weft_toml_get(root, "variables");
    if (vars && (rc = read_variables(s, vars)))
        return rc;
    const weft_toml_value_t *comps = weft_toml_get(root, "component");
    if (!comps)
        return 0;
    if (comps->type != WEFT_TOML_ARRAY)
        return weft_app_fail(c, comps->line,
                             "'component' must be an array of tables "
                             "([[component]])");
    for (size_t i = 0; i < comps->u.arr.len; i++) {
        const weft_toml_value_t *t = comps->u.arr.items[i];
        if (t->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, t->line,
                                 "'component' must be an array of tables "
                                 "([[component]])");
        static const char *const keys[] = {COMPONENT_KEYS, "id", "trigger", "config", NULL};
        static const char *const warned[] = {"sqlite_databases", "ai_models", NULL};
        const char *id;
        char name[SECTION_MAX], section[SECTION_MAX + 32];
        if ((rc = weft_app_get_string(c, t, &(where_t){"[[component]]", NULL, NULL}, "id", &id)))
            return rc;
        if (!id)
            return weft_app_fail(c, t->line, "[[component]] needs an 'id'");
        if ((rc = v1_component_id(s, id, weft_toml_get(t, "id")->line, name, sizeof name)))
            return rc;
        say(section, sizeof section, "[[component]] '%s'", id);
        if ((rc = check_spin_keys(c, t, section, keys, warned, WHY_NOT_YET)) ||
            (rc = read_component(s, t, name, section, "config")) || (rc = grow_used(s)))
            return rc;
        size_t fn = app->nfunctions - 1;
        const weft_toml_value_t *trig = weft_toml_get(t, "trigger");
        if (!trig)
            return weft_app_fail(c, t->line, "%s needs a [component.trigger] with a '%s'", section,
                                 redis ? "channel" : "route");
        if (trig->type != WEFT_TOML_TABLE)
            return weft_app_fail(c, trig->line, "'trigger' in %s must be a table", section);
        char tsection[SECTION_MAX + 48];
        say(tsection, sizeof tsection, "%s trigger", section);
        if (redis) {
            /* v1's redis component trigger: channel, and an executor Spin ignores. */
            static const char *const chkeys[] = {"channel", "executor", NULL};
            const char *channel;
            if ((rc = check_spin_keys(c, trig, tsection, chkeys, NULL, NULL)) ||
                (rc = weft_app_get_string(c, trig, &(where_t){tsection, NULL, NULL}, "channel",
                                          &channel)))
                return rc;
            if (!channel)
                return weft_app_fail(c, trig->line, "%s needs a 'channel'", tsection);
            if ((rc = add_spin_redis(s, trig, tsection, fn, NULL, 0, channel)))
                return rc;
            continue;
        }
        static const char *const trkeys[] = {"route", "executor", NULL};
        const char *raw;
        if ((rc = check_spin_keys(c, trig, tsection, trkeys, NULL, NULL)) ||
            (rc = trigger_route(s, trig, tsection, &raw)) ||
            (rc = read_executor(s, trig, tsection, fn)))
            return rc;
        char who[SECTION_MAX + 16];
        say(who, sizeof who, "component '%s'", name);
        if (raw && (rc = add_spin_route(s, raw, weft_toml_get(trig, "route")->line, fn, NULL, who)))
            return rc;
    }
    return 0;
}

/* ---- the file ---------------------------------------------------------------------------- */

bool weft_app_spin_detect(const char *text, size_t len) {
    static const char *const keys[] = {"spin_manifest_version", "spin_version"};
    for (size_t i = 0; i < len; i++) {
        if (i && text[i - 1] != '\n')
            continue;
        size_t j = i;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (j < len && text[j] == '[')
            return false; /* past the top level */
        for (size_t k = 0; k < 2; k++) {
            size_t n = strlen(keys[k]);
            if (len - j > n && !memcmp(text + j, keys[k], n) &&
                (text[j + n] == ' ' || text[j + n] == '\t' || text[j + n] == '='))
                return true;
        }
    }
    return false;
}

int weft_app_parse_spin(ctx_t *c, const weft_toml_value_t *root, weft_app_t *app) {
    spin_t s = {.c = c, .app = app, .base = "/", .inline_counter = 1};
    const weft_toml_value_t *v2 = weft_toml_get(root, "spin_manifest_version");
    const weft_toml_value_t *v1 = weft_toml_get(root, "spin_version");
    const weft_toml_value_t *ver = v2 ? v2 : v1;
    int rc;
    if (v1 && v2)
        return weft_app_fail(c, v1->line, "both spin_manifest_version and spin_version: give one");
    if (!ver)
        return weft_app_fail(c, 1,
                             "no spin_manifest_version: a spin.toml starts with "
                             "spin_manifest_version = 2 (or spin_manifest_version = \"1\")");
    if (ver->type == WEFT_TOML_STRING && !strcmp(ver->u.str.ptr, "1"))
        s.version = 1;
    else if (ver->type == WEFT_TOML_INTEGER && ver->u.i == 2 && v2)
        s.version = 2;
    else
        return weft_app_fail(c, ver->line,
                             "%s is not a Spin manifest version weft reads (\"1\" or 2)",
                             v2 ? "spin_manifest_version" : "spin_version");
    rc = s.version == 1 ? parse_v1(&s, root) : parse_v2(&s, root);
    /* Spin checks at start that every required variable has a value, used or not
     * (validate_variable_existence); one a template used was resolved already. */
    for (size_t i = 0; !rc && i < s.nvars; i++) {
        const char *value;
        rc = variable_value(&s, &s.vars[i], s.vars[i].line, &value);
    }
    /* A component that only Redis triggers use is no HTTP handler: nothing checks it
     * for handle-http-request. */
    for (size_t i = 0; !rc && i < app->nredis_triggers; i++) {
        size_t fn = app->redis_triggers[i].function, k;
        for (k = 0; k < app->nroutes && app->routes[k].function != fn; k++)
            ;
        if (k == app->nroutes && app->functions[fn].executor == WEFT_APP_EXECUTOR_SPIN)
            app->functions[fn].executor = WEFT_APP_EXECUTOR_MESSAGES;
    }
    if (!rc && !app->nfunctions && !app->nroutes)
        rc = weft_app_fail(c, 1, "no components or triggers declared: nothing to serve");
    /* Spin loads a component no trigger uses, warns, and never instantiates it; weft keeps
     * it (weft build builds it, as spin build does) and warns alike. */
    for (size_t i = 0; !rc && i < app->nfunctions; i++)
        if (i >= s.nused || !s.used[i])
            weft_log("%s:%d: warning: component '%s' is not used by any trigger", c->name,
                     app->functions[i].line, app->functions[i].name);
    for (size_t i = 0; i < s.nvars; i++)
        free(s.vars[i].value);
    free(s.vars);
    free(s.used);
    return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

static bool has_glob_chars(const char *s) {
    return strpbrk(s, "*?[") != NULL;
}

/* Does path (relative, '/'-separated) match pattern? Rust's glob crate, which Spin uses:
 * segment by segment, "**" a whole segment matching any number of segments, '*' and '?'
 * within a segment, leading dots matched like any character. */
static bool glob_match(const char *pat, const char *path) {
    const char *pslash = strchr(pat, '/');
    size_t plen = pslash ? (size_t)(pslash - pat) : strlen(pat);
    if (plen == 2 && pat[0] == '*' && pat[1] == '*') {
        const char *rest = pslash ? pslash + 1 : "";
        if (!*rest)
            return true; /* a trailing "**": everything below */
        for (const char *p = path;;) {
            if (glob_match(rest, p))
                return true;
            const char *next = strchr(p, '/');
            if (!next)
                return false;
            p = next + 1;
        }
    }
    const char *sslash = strchr(path, '/');
    size_t slen = sslash ? (size_t)(sslash - path) : strlen(path);
    char ps[NAME_MAX + 1], ss[NAME_MAX + 1];
    if (plen > NAME_MAX || slen > NAME_MAX)
        return false;
    memcpy(ps, pat, plen);
    ps[plen] = 0;
    memcpy(ss, path, slen);
    ss[slen] = 0;
    if (fnmatch(ps, ss, 0) != 0)
        return false;
    if (!pslash || !sslash)
        return !pslash && !sslash;
    return glob_match(pslash + 1, sslash + 1);
}

/* exclude_files: Spin matches each glob against the path relative to the manifest's
 * folder with '*' crossing '/' (glob's Pattern::matches_path): fnmatch without flags. */
static bool excluded(const weft_app_function_t *f, const char *rel) {
    for (size_t i = 0; i < f->nexclude_files; i++) {
        const char *p = f->exclude_files[i];
        while (p[0] == '.' && p[1] == '/')
            p += 2;
        if (fnmatch(p, rel, 0) == 0)
            return true;
    }
    return false;
}

typedef struct stage {
    const weft_app_t *app;
    const weft_app_function_t *f;
    const char *root; /* the staging folder */
    weft_error_t *err;
    size_t copied;
} stage_t;

/* Copies (or hard-links) the file src to <root>/dest, making its folders. */
static int stage_file(stage_t *st, const char *src, const char *dest) {
    char to[PATH_MAX];
    if (snprintf(to, sizeof to, "%s/%s", st->root, dest[0] == '/' ? dest + 1 : dest) >=
        (int)sizeof to)
        return weft_error_set(st->err, WEFT_EIO, "%s: path too long", dest);
    char *slash = strrchr(to, '/');
    *slash = 0;
    if (weft_mkdirs(to, 0755))
        return weft_error_set(st->err, WEFT_EIO, "%s: cannot create %s: %s", st->app->path, to,
                              strerror(errno));
    *slash = '/';
    unlink(to);
    if (link(src, to) == 0) {
        st->copied++;
        return 0;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return weft_error_set(st->err, WEFT_EIO, "%s: component '%s': files: %s: %s", st->app->path,
                              st->f->name, src, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return weft_error_set(st->err, WEFT_EIO, "%s: cannot create %s: %s", st->app->path, to,
                              strerror(e));
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            rc = weft_error_set(st->err, WEFT_EIO, "%s: copying %s to %s: %s", st->app->path, src,
                                to, strerror(errno));
            break;
        }
    }
    close(in);
    if (close(out) && !rc)
        rc = weft_error_set(st->err, WEFT_EIO, "%s: %s: %s", st->app->path, to, strerror(errno));
    if (!rc)
        st->copied++;
    return rc;
}

/* Walks the folder <app dir>/rel (rel "" for the folder itself). Each regular file whose
 * path relative to the manifest's folder matches pattern (NULL: every file) and no
 * exclude_files glob is staged at dest_prefix + its path below strip (the first
 * strip_len bytes of its relative path cut off). */
static int stage_walk(stage_t *st, const char *rel, const char *pattern, size_t strip_len,
                      const char *dest_prefix, int depth) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", st->app->dir, rel) >= (int)sizeof dir)
        return weft_error_set(st->err, WEFT_EIO, "%s: path too long", rel);
    if (depth > SPIN_MAX_DEPTH)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : weft_error_set(st->err, WEFT_EIO, "%s: %s: %s", st->app->path, dir,
                                    strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char child[PATH_MAX], full[PATH_MAX];
        if (snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
                (int)sizeof child ||
            snprintf(full, sizeof full, "%s/%s", st->app->dir, child) >= (int)sizeof full) {
            rc = weft_error_set(st->err, WEFT_EIO, "%s: path too long", child);
            break;
        }
        struct stat sb, lsb;
        if (stat(full, &sb) != 0 || lstat(full, &lsb) != 0)
            continue; /* a dangling link */
        /* Never the state folder (a files entry naming the whole app would copy its own
         * copies), nor a folder reached through a symbolic link (a loop, or the
         * machine; Spin's glob follows them). */
        if (S_ISDIR(sb.st_mode) && (S_ISLNK(lsb.st_mode) || !strcmp(full, st->app->state_dir)))
            continue;
        if (S_ISDIR(sb.st_mode)) {
            rc = stage_walk(st, child, pattern, strip_len, dest_prefix, depth + 1);
        } else if (S_ISREG(sb.st_mode) && (!pattern || glob_match(pattern, child)) &&
                   !excluded(st->f, child)) {
            char dest[PATH_MAX];
            const char *below = child + strip_len;
            while (*below == '/')
                below++;
            if (snprintf(dest, sizeof dest, "%s/%s", dest_prefix, below) >= (int)sizeof dest)
                rc = weft_error_set(st->err, WEFT_EIO, "%s: path too long", child);
            else
                rc = stage_file(st, full, dest);
        }
    }
    closedir(d);
    return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int add_volume(weft_app_function_t *f, const char *guest, const char *host, int line,
                      weft_error_t *err) {
    weft_app_volume_t *v = realloc(f->volumes, (f->nvolumes + 1) * sizeof *v);
    if (!v)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    f->volumes = v;
    v = &f->volumes[f->nvolumes];
    memset(v, 0, sizeof *v);
    if (!(v->guest = strdup(guest)) || !(v->host = strdup(host))) {
        free(v->guest);
        free(v->host);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    v->readonly = true;
    v->line = line;
    f->nvolumes++;
    return 0;
}

/* One function's files, as Spin's loader copies them (FilesMountStrategy::Copy):
 *   "path"   an existing file: that file; an existing folder: its whole tree; both at
 *            the same relative path under the guest's "/"
 *   "glob"   every file matching it, at its relative path (none matching is no error)
 *   { source = "dir", destination = "/d" }    the folder's tree at /d
 *   { source = "f.txt", destination = "/g.txt" }  the file at /g.txt
 * exclude_files removes matching files (a file named directly is copied regardless, as in
 * Spin). A folder placed with no exclude_files is mounted as it is (read-only) rather
 * than copied; everything else is staged in <state_dir>/spin-files/<name>/, made afresh,
 * mounted read-only at "/". */
static int stage_into(const weft_app_t *app, weft_app_function_t *f, const char *root,
                      bool *staged_out, weft_error_t *err) {
    struct stat sb;
    stage_t st = {.app = app, .f = f, .root = root, .err = err};
    bool staged = false;
    int rc = 0;
    for (size_t i = 0; !rc && i < f->nfiles; i++) {
        const weft_app_files_t *fl = &f->files[i];
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", app->dir, fl->source) >= (int)sizeof full)
            return weft_error_set(err, WEFT_EIO, "%s: path too long", fl->source);
        bool exists = stat(full, &sb) == 0;
        if (fl->destination) {
            if (!exists)
                return weft_error_set(err, WEFT_ENOTFOUND,
                                      "%s:%d: component '%s': files: source '%s' does not exist",
                                      app->path, fl->line, f->name, fl->source);
            if (S_ISDIR(sb.st_mode) && !f->nexclude_files) {
                rc = add_volume(f, fl->destination, full, fl->line, err);
            } else if (S_ISDIR(sb.st_mode)) {
                const char *rel = strcmp(fl->source, ".") ? fl->source : "";
                staged = true;
                rc = stage_walk(&st, rel, NULL, strlen(rel), fl->destination, 0);
            } else {
                staged = true;
                rc = stage_file(&st, full, fl->destination);
            }
            continue;
        }
        staged = true;
        if (exists && S_ISDIR(sb.st_mode)) {
            rc = stage_walk(&st, strcmp(fl->source, ".") ? fl->source : "", NULL, 0, "", 0);
        } else if (exists) {
            rc = stage_file(&st, full, fl->source);
        } else if (has_glob_chars(fl->source)) {
            /* Walk from the folder the pattern's literal segments name. */
            char prefix[PATH_MAX];
            size_t n = 0;
            for (const char *seg = fl->source; *seg;) {
                const char *slash = strchr(seg, '/');
                size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
                if (!slash || memchr(seg, '*', len) || memchr(seg, '?', len) ||
                    memchr(seg, '[', len))
                    break;
                n = (size_t)(seg - fl->source) + len;
                seg += len + 1;
            }
            memcpy(prefix, fl->source, n);
            prefix[n] = 0;
            rc = stage_walk(&st, prefix, fl->source, 0, "", 0);
        } else {
            return weft_error_set(err, WEFT_ENOTFOUND,
                                  "%s:%d: component '%s': files: '%s' does not exist and is not "
                                  "a glob pattern",
                                  app->path, fl->line, f->name, fl->source);
        }
    }
    if (!rc && staged && weft_mkdirs(root, 0755))
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot create %s: %s", app->path, root,
                            strerror(errno));
    *staged_out = staged;
    return rc;
}

static int remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Stages f's files into <state_dir>/spin-files/<name>.new-<pid>, then exchanges it with
 * <name> (renameat2 RENAME_EXCHANGE) and removes the old tree: a weft up serving the
 * app while it is loaded again (a reload, or weft describe and send, which load the
 * manifest too) sees the old files or the new ones, never a half-made folder. */
static int stage_function(const weft_app_t *app, weft_app_function_t *f, weft_error_t *err) {
    char root[PATH_MAX], fresh[PATH_MAX + 32];
    if (snprintf(root, sizeof root, "%s/spin-files/%s", app->state_dir, f->name) >=
        (int)sizeof root)
        return weft_error_set(err, WEFT_EIO, "%s: state folder path too long", app->path);
    snprintf(fresh, sizeof fresh, "%s.new-%ld", root, (long)getpid());
    bool staged = false;
    if (remove_tree(fresh) != 0)
        return weft_error_set(err, WEFT_EIO, "%s: cannot remove %s: %s", app->path, fresh,
                              strerror(errno));
    int rc = stage_into(app, f, fresh, &staged, err);
    struct stat sb;
    bool old = lstat(root, &sb) == 0;
    if (!rc && staged &&
        (old ? renameat2(AT_FDCWD, fresh, AT_FDCWD, root, RENAME_EXCHANGE) : rename(fresh, root)))
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot put %s in place: %s", app->path, root,
                            strerror(errno));
    /* fresh now holds the old tree (or what a failure left); root, when nothing is staged,
     * is stale. */
    if ((remove_tree(fresh) != 0 || (!staged && remove_tree(root) != 0)) && !rc)
        rc = weft_error_set(err, WEFT_EIO, "%s: cannot remove the old files of %s: %s", app->path,
                            root, strerror(errno));
    if (!rc && staged)
        rc = add_volume(f, "/", root, f->files[0].line, err);
    return rc;
}

int weft_app_spin_stage_files(weft_app_t *app, weft_error_t *err) {
    for (size_t i = 0; i < app->nfunctions; i++) {
        weft_app_function_t *f = &app->functions[i];
        int rc = f->nfiles ? stage_function(app, f, err) : 0;
        if (rc)
            return rc;
    }
    return 0;
}
