/* cgi_env: a request as a CGI invocation: environment and argv (contract in
 * invoke.h). The variables are RFC 3875's plus WAGI's X_ additions, with two of
 * WAGI's bugs fixed: CONTENT_TYPE is the request's content type (WAGI looked up a
 * header named "CONTENT_TYPE" and always passed ""), and an empty query item does not
 * become an empty argument.
 *
 * This runs for every request, so it builds each "NAME=value" in place in one arena
 * (no formatting, no allocation per variable) and looks for a name defined twice only
 * among the few variables that can collide: the global and module ones.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "invoke.h"

/* ---- a list of strings in one arena -------------------------------------------------- */

/* Room for one more pointer (and the terminating NULL). */
static int strv_slot(weft_strv_t *sv) {
    if (sv->n + 1 < sv->cap)
        return 0;
    if (sv->n >= WEFT_CGI_MAX_VARS)
        return WEFT_ELIMIT;
    size_t cap = sv->cap ? sv->cap * 2 : 64;
    char **v = realloc(sv->v, cap * sizeof *v);
    if (!v)
        return WEFT_ENOMEM;
    sv->v = v;
    sv->cap = cap;
    return 0;
}

/* Appends bytes to the string being built, moving the pointers to the finished ones
 * when the arena moves. */
static int strv_put(weft_strv_t *sv, const void *s, size_t len) {
    uintptr_t old = (uintptr_t)sv->arena.data;
    int rc = weft_buf_append(&sv->arena, s, len);
    if (rc)
        return rc;
    uintptr_t now = (uintptr_t)sv->arena.data;
    if (old && now != old)
        for (size_t i = 0; i < sv->n; i++)
            sv->v[i] = (char *)(now + ((uintptr_t)sv->v[i] - old));
    return 0;
}

/* Ends the string that starts at arena offset start and adds it to the list. */
static int strv_finish(weft_strv_t *sv, size_t start) {
    int rc = strv_slot(sv);
    if (rc || (rc = strv_put(sv, "", 1)))
        return rc;
    sv->v[sv->n++] = (char *)sv->arena.data + start;
    sv->v[sv->n] = NULL;
    return 0;
}

int weft_strv_add(weft_strv_t *sv, const char *s, size_t len) {
    size_t start = sv->arena.len;
    int rc = strv_slot(sv);
    if (rc || (rc = strv_put(sv, s, len)))
        return rc;
    return strv_finish(sv, start);
}

void weft_strv_free(weft_strv_t *sv) {
    free(sv->v);
    weft_buf_free(&sv->arena);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

/* ---- the route ------------------------------------------------------------------- */

/* For a wildcard route ("/prefix/...", or "/..." and "..." for every path) the length
 * of its prefix, as the gateway's router reads a pattern; -1 for an exact route. */
static long route_prefix_len(const char *route) {
    size_t n = strlen(route);
    if (n >= 4 && !strcmp(route + n - 4, "/..."))
        return (long)(n - 4);
    return strcmp(route, "...") ? -1 : 0;
}

const char *weft_cgi_script_name(const char *route, char *buf, size_t cap) {
    long n = route_prefix_len(route);
    if (n < 0)
        return route;
    if (n == 0)
        return "/";
    snprintf(buf, cap, "%.*s", (int)n, route);
    return buf;
}

/* ---- environment ------------------------------------------------------------------- */

/* The variables of RFC 3875 and WAGI that weft sets, in the order it sets them. */
enum {
    V_AUTH_TYPE,
    V_REMOTE_USER,
    V_CONTENT_LENGTH,
    V_CONTENT_TYPE,
    V_GATEWAY_INTERFACE,
    V_SERVER_SOFTWARE,
    V_SERVER_PROTOCOL,
    V_REQUEST_METHOD,
    V_QUERY_STRING,
    V_REMOTE_ADDR,
    V_REMOTE_HOST,
    V_SERVER_NAME,
    V_SERVER_PORT,
    V_X_FULL_URL,
    V_X_MATCHED_ROUTE,
    V_SCRIPT_NAME,
    V_X_RAW_PATH_INFO,
    V_PATH_INFO,
    V_PATH_TRANSLATED,
    V_COUNT
};
static const char *const cgi_names[V_COUNT] = {
    "AUTH_TYPE",       "REMOTE_USER",     "CONTENT_LENGTH", "CONTENT_TYPE",    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE", "SERVER_PROTOCOL", "REQUEST_METHOD", "QUERY_STRING",    "REMOTE_ADDR",
    "REMOTE_HOST",     "SERVER_NAME",     "SERVER_PORT",    "X_FULL_URL",      "X_MATCHED_ROUTE",
    "SCRIPT_NAME",     "X_RAW_PATH_INFO", "PATH_INFO",      "PATH_TRANSLATED",
};

static size_t name_len(const char *var) {
    const char *eq = strchr(var, '=');
    return eq ? (size_t)(eq - var) : strlen(var);
}

static char var_char(char c) {
    return c == '-' ? '_' : (char)toupper((unsigned char)c);
}

/* Headers that never become variables (RFC 3875 4.1.18: credentials, hop-by-hop). */
static bool header_hidden(const char *name) {
    return !strcasecmp(name, "Authorization") || !strcasecmp(name, "Connection");
}

/* Does header map to the variable HTTP_<s[0..n)>? */
static bool header_is(const char *header, const char *s, size_t n) {
    size_t i = 0;
    for (; header[i] && i < n; i++)
        if (var_char(header[i]) != s[i])
            return false;
    return !header[i] && i == n;
}

/* The value Spin's variables give NAME[0..n), or NULL. */
static const char *spin_value(const weft_spin_vars_t *spin, const char *name, size_t n) {
    for (size_t i = 0; spin && i < spin->env.n; i++)
        if (strlen(spin->env.v[i]) == n && !memcmp(spin->env.v[i], name, n))
            return spin->values.v[i];
    return NULL;
}

/* Is NAME[0..n) one of the variables the CGI layer sets for this request? */
static bool cgi_sets(const weft_request_t *rq, const weft_spin_vars_t *spin, const char *name,
                     size_t n) {
    if (spin_value(spin, name, n))
        return true;
    for (size_t i = 0; i < V_COUNT; i++)
        if (strlen(cgi_names[i]) == n && !memcmp(cgi_names[i], name, n))
            return true;
    if (n > 5 && !memcmp(name, "HTTP_", 5))
        for (size_t i = 0; i < rq->nheaders; i++)
            if (!header_hidden(rq->headers[i].name) &&
                header_is(rq->headers[i].name, name + 5, n - 5))
                return true;
    return false;
}

static bool defines(const char *const *vars, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (name_len(vars[i]) == len && !memcmp(vars[i], name, len))
            return true;
    return false;
}

static int put_str(weft_strv_t *sv, const char *s) {
    return strv_put(sv, s, strlen(s));
}

/* Appends s[0..len) percent-decoded; an invalid escape stays as written. */
static int put_decoded(weft_strv_t *sv, const char *s, size_t len) {
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        rc = strv_put(sv, &c, 1);
    }
    return rc;
}

/* HTTP_<NAME>=value, ", "-joined over every header that maps to NAME ("; " for
 * Cookie); only the first such header emits it. */
static int put_headers(const weft_request_t *rq, weft_strv_t *sv) {
    int rc = 0;
    for (size_t i = 0; i < rq->nheaders && !rc; i++) {
        const char *name = rq->headers[i].name;
        if (header_hidden(name))
            continue;
        size_t nl = strlen(name);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !header_hidden(rq->headers[k].name) && strlen(rq->headers[k].name) == nl &&
                   !strncasecmp(rq->headers[k].name, name, nl);
        if (!seen) /* names differing only in '-' against '_' map to one variable too */
            for (size_t k = 0; k < i && !seen; k++) {
                const char *o = rq->headers[k].name;
                seen = !header_hidden(o) && strlen(o) == nl;
                for (size_t j = 0; seen && j < nl; j++)
                    seen = var_char(o[j]) == var_char(name[j]);
            }
        if (seen)
            continue;
        size_t start = sv->arena.len;
        if ((rc = strv_slot(sv)) || (rc = strv_put(sv, "HTTP_", 5)))
            break;
        for (size_t j = 0; j < nl && !rc; j++) {
            char c = var_char(name[j]);
            rc = strv_put(sv, &c, 1);
        }
        if (rc || (rc = strv_put(sv, "=", 1)) ||
            (rc = put_str(sv, rq->headers[i].value ? rq->headers[i].value : "")))
            break;
        const char *sep = strcasecmp(name, "Cookie") ? ", " : "; ";
        for (size_t k = i + 1; k < rq->nheaders && !rc; k++) {
            const char *o = rq->headers[k].name;
            bool same = strlen(o) == nl;
            for (size_t j = 0; same && j < nl; j++)
                same = var_char(o[j]) == var_char(name[j]);
            if (same && !(rc = put_str(sv, sep)))
                rc = put_str(sv, rq->headers[k].value ? rq->headers[k].value : "");
        }
        if (!rc)
            rc = strv_finish(sv, start);
    }
    return rc;
}

/* weft_cgi_env, with spin's variables (NULL: none) over the CGI ones. */
static int cgi_env(const weft_request_t *rq, const char *const *global, size_t nglobal,
                   const char *const *module, size_t nmodule, const weft_spin_vars_t *spin,
                   weft_strv_t *out) {
    int rc = 0;
    /* The layers: a global variable is left out when a later global one, a module one
     * or a CGI one has its name; a module one when a CGI one has. */
    for (size_t i = 0; i < nglobal && !rc; i++) {
        size_t n = name_len(global[i]);
        if (!defines(global + i + 1, nglobal - i - 1, global[i], n) &&
            !defines(module, nmodule, global[i], n) && !cgi_sets(rq, spin, global[i], n))
            rc = weft_strv_add(out, global[i], strlen(global[i]));
    }
    for (size_t i = 0; i < nmodule && !rc; i++) {
        size_t n = name_len(module[i]);
        if (!defines(module + i + 1, nmodule - i - 1, module[i], n) &&
            !cgi_sets(rq, spin, module[i], n))
            rc = weft_strv_add(out, module[i], strlen(module[i]));
    }
    if (rc)
        return rc;

    const char *content_type = "";
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!strcasecmp(rq->headers[i].name, "Content-Type")) {
            content_type = rq->headers[i].value;
            break;
        }
    /* PATH_INFO: what follows the matched prefix (nothing for an exact route). */
    const char *route = rq->route ? rq->route : rq->path;
    long prefix = route_prefix_len(route);
    const char *raw_info = "";
    if (rq->path_info)
        raw_info = rq->path_info; /* the router's: it knows what ":name" segments took */
    else if (prefix >= 0 && strlen(rq->path) >= (size_t)prefix)
        raw_info = rq->path + prefix;
    char length[32], script[WEFT_CGI_MAX_ROUTE];
    const char *script_name = weft_cgi_script_name(route, script, sizeof script);
    /* With ":name" segments, SCRIPT_NAME is what of the path they matched. */
    size_t plen = strlen(rq->path), ilen = strlen(raw_info);
    if (rq->nparams && ilen <= plen) {
        snprintf(script, sizeof script, "%.*s", (int)(plen - ilen), rq->path);
        script_name = *script ? script : "/";
    }
    snprintf(length, sizeof length, "%llu", (unsigned long long)rq->body_len);
    const char *values[V_COUNT] = {
        [V_AUTH_TYPE] = "",
        [V_REMOTE_USER] = "",
        [V_CONTENT_LENGTH] = length,
        [V_CONTENT_TYPE] = content_type,
        [V_GATEWAY_INTERFACE] = "CGI/1.1",
        [V_SERVER_SOFTWARE] = "weft/" WEFT_VERSION,
        [V_SERVER_PROTOCOL] = rq->protocol,
        [V_REQUEST_METHOD] = rq->method,
        [V_QUERY_STRING] = rq->query ? rq->query : "",
        [V_REMOTE_ADDR] = rq->remote_addr,
        [V_REMOTE_HOST] = rq->remote_addr, /* RFC 3875 4.1.9: no reverse lookup */
        [V_SERVER_NAME] = rq->server_name,
        [V_SERVER_PORT] = rq->server_port,
        [V_X_MATCHED_ROUTE] = route,
        [V_SCRIPT_NAME] = script_name,
        [V_X_RAW_PATH_INFO] = raw_info,
    };
    for (size_t i = 0; i < V_COUNT && !rc; i++) {
        size_t start = out->arena.len;
        if ((rc = strv_slot(out)) || (rc = put_str(out, cgi_names[i])) ||
            (rc = strv_put(out, "=", 1)))
            break;
        const char *spin_set = spin_value(spin, cgi_names[i], strlen(cgi_names[i]));
        if (spin_set) {
            rc = put_str(out, spin_set);
        } else if (i == V_X_FULL_URL) {
            bool v6 = strchr(rq->server_name, ':') != NULL;
            if (!(rc = put_str(out, rq->tls ? "https://" : "http://")) &&
                !(rc = put_str(out, v6 ? "[" : "")) && !(rc = put_str(out, rq->server_name)) &&
                !(rc = put_str(out, v6 ? "]:" : ":")) && !(rc = put_str(out, rq->server_port)) &&
                !(rc = put_str(out, rq->path)) && rq->query && !(rc = strv_put(out, "?", 1)))
                rc = put_str(out, rq->query);
        } else if (i == V_PATH_INFO || i == V_PATH_TRANSLATED) {
            rc = put_decoded(out, raw_info, strlen(raw_info));
        } else {
            rc = put_str(out, values[i] ? values[i] : "");
        }
        if (!rc)
            rc = strv_finish(out, start);
    }
    /* Spin's own, but for those that replaced a CGI variable above. */
    for (size_t i = 0; spin && i < spin->env.n && !rc; i++) {
        const char *name = spin->env.v[i];
        bool cgi = false;
        for (size_t k = 0; k < V_COUNT && !cgi; k++)
            cgi = !strcmp(cgi_names[k], name);
        size_t start = out->arena.len;
        if (!cgi && !(rc = strv_slot(out)) && !(rc = put_str(out, name)) &&
            !(rc = strv_put(out, "=", 1)) && !(rc = put_str(out, spin->values.v[i])))
            rc = strv_finish(out, start);
    }
    return rc ? rc : put_headers(rq, out);
}

int weft_cgi_env(const weft_request_t *rq, const char *const *global, size_t nglobal,
                 const char *const *module, size_t nmodule, weft_strv_t *out) {
    return cgi_env(rq, global, nglobal, module, nmodule, NULL, out);
}

int weft_cgi_env_spin(const weft_request_t *rq, const char *const *global, size_t nglobal,
                      const char *const *module, size_t nmodule, weft_strv_t *out) {
    weft_spin_vars_t spin = {0};
    int rc = weft_spin_vars(rq, &spin);
    if (!rc)
        rc = cgi_env(rq, global, nglobal, module, nmodule, &spin, out);
    weft_spin_vars_free(&spin);
    return rc;
}

/* ---- argv -------------------------------------------------------------------------- */

/* Calls add for each non-empty '&'-separated item of the query. */
static int each_query_item(const char *query, int (*add)(void *arg, const char *s, size_t n),
                           void *arg) {
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        int rc = n ? add(arg, p, n) : 0;
        if (rc)
            return rc;
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static int add_arg(void *arg, const char *s, size_t n) {
    return weft_strv_add(arg, s, n);
}

static int add_joined(void *arg, const char *s, size_t n) {
    weft_buf_t *b = arg;
    int rc = b->len ? weft_buf_puts(b, " ") : 0;
    return rc ? rc : weft_buf_append(b, s, n);
}

/* argv from tmpl with ${SCRIPT_NAME} as script. */
static int cgi_argv(const char *tmpl, const weft_request_t *rq, const char *script,
                    weft_strv_t *out);

int weft_cgi_argv(const char *tmpl, const weft_request_t *rq, weft_strv_t *out) {
    char buf[WEFT_CGI_MAX_ROUTE];
    return cgi_argv(tmpl, rq,
                    weft_cgi_script_name(rq->route ? rq->route : rq->path, buf, sizeof buf), out);
}

int weft_cgi_argv_spin(const char *tmpl, const weft_request_t *rq, weft_strv_t *out) {
    return cgi_argv(tmpl, rq, rq->path, out);
}

static int cgi_argv(const char *tmpl, const weft_request_t *rq, const char *script,
                    weft_strv_t *out) {
    if (!tmpl) {
        int rc = weft_strv_add(out, rq->path, strlen(rq->path));
        return rc ? rc : each_query_item(rq->query, add_arg, out);
    }
    weft_buf_t args = {0}, line = {0};
    int rc = each_query_item(rq->query, add_joined, &args);
    for (const char *p = tmpl; *p && !rc;) {
        if (!strncmp(p, "${SCRIPT_NAME}", 14)) {
            rc = weft_buf_puts(&line, script);
            p += 14;
        } else if (!strncmp(p, "${ARGS}", 7)) {
            rc = weft_buf_append(&line, args.data ? (const char *)args.data : "", args.len);
            p += 7;
        } else {
            rc = weft_buf_append(&line, p, 1);
            p++;
        }
    }
    /* Split on blanks; the query is raw, so it holds no spaces of its own. */
    const char *s = line.data ? (const char *)line.data : "";
    while (!rc && *s) {
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, " \t");
        if (n)
            rc = weft_strv_add(out, s, n);
        s += n;
    }
    weft_buf_free(&args);
    weft_buf_free(&line);
    return rc;
}
