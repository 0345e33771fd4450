/* cgi_request: an HTTP request as a CGI invocation: environment and argv (contract in
 * gateway.h). The variables are RFC 3875's plus WAGI's X_ additions, with two of
 * WAGI's bugs fixed: CONTENT_TYPE is the request's content type (WAGI looked up a
 * header named "CONTENT_TYPE" and always passed ""), and an empty query item does not
 * become an empty argument.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

/* Bound on the number of variables and arguments one request can produce. */
#define WEFT_CGI_MAX_VARS 4096

int weft_strv_add(weft_strv_t *sv, const char *s, size_t len) {
    if (sv->n + 1 >= sv->cap) {
        if (sv->n >= WEFT_CGI_MAX_VARS)
            return WEFT_ELIMIT;
        size_t cap = sv->cap ? sv->cap * 2 : 32;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (!v)
            return WEFT_ENOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    char *copy = strndup(s, len);
    if (!copy)
        return WEFT_ENOMEM;
    sv->v[sv->n++] = copy;
    sv->v[sv->n] = NULL;
    return 0;
}

int weft_strv_addf(weft_strv_t *sv, const char *fmt, ...) {
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WEFT_ENOMEM;
    int rc = weft_strv_add(sv, s, (size_t)n);
    free(s);
    return rc;
}

void weft_strv_free(weft_strv_t *sv) {
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

/* ---- environment ------------------------------------------------------------------- */

static size_t name_len(const char *var) {
    const char *eq = strchr(var, '=');
    return eq ? (size_t)(eq - var) : strlen(var);
}

/* Adds "NAME=value", first removing an earlier variable of the same name, so that the
 * later layer wins and the guest never sees a name twice (libcs disagree on which of
 * two copies getenv returns). */
static int env_set(weft_strv_t *sv, const char *var, size_t len) {
    size_t nl = name_len(var);
    if (nl > len)
        nl = len;
    for (size_t i = 0; i < sv->n; i++) {
        if (name_len(sv->v[i]) == nl && !memcmp(sv->v[i], var, nl)) {
            free(sv->v[i]);
            memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i) * sizeof *sv->v);
            sv->n--;
            break;
        }
    }
    return weft_strv_add(sv, var, len);
}

static int env_put(weft_strv_t *sv, const char *name, const char *value) {
    char *s;
    int n = asprintf(&s, "%s=%s", name, value ? value : "");
    if (n < 0)
        return WEFT_ENOMEM;
    int rc = env_set(sv, s, (size_t)n);
    free(s);
    return rc;
}

/* Percent-decodes s[0..len) into a new string; invalid escapes are kept as written. */
static char *percent_decode(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return out;
}

/* "User-Agent" -> "HTTP_USER_AGENT". */
static char *http_var_name(const char *header) {
    size_t n = strlen(header);
    char *s = malloc(n + 6);
    if (!s)
        return NULL;
    memcpy(s, "HTTP_", 5);
    for (size_t i = 0; i < n; i++)
        s[5 + i] = header[i] == '-' ? '_' : (char)toupper((unsigned char)header[i]);
    s[5 + n] = 0;
    return s;
}

static int add_headers(const weft_cgi_request_t *rq, weft_strv_t *out) {
    weft_buf_t joined = {0};
    int rc = 0;
    for (size_t i = 0; i < rq->nheaders && !rc; i++) {
        const char *name = rq->headers[i].name;
        if (!strcasecmp(name, "Authorization") || !strcasecmp(name, "Connection"))
            continue;
        /* Only the first of a repeated header emits the variable, with every value. */
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcasecmp(rq->headers[k].name, name);
        if (seen)
            continue;
        joined.len = 0;
        rc = weft_buf_puts(&joined, rq->headers[i].value ? rq->headers[i].value : "");
        for (size_t k = i + 1; k < rq->nheaders && !rc; k++)
            if (!strcasecmp(rq->headers[k].name, name))
                if (!(rc = weft_buf_puts(&joined, !strcasecmp(name, "Cookie") ? "; " : ", ")))
                    rc = weft_buf_puts(&joined, rq->headers[k].value ? rq->headers[k].value : "");
        char *var = rc ? NULL : http_var_name(name);
        if (!rc && !var)
            rc = WEFT_ENOMEM;
        if (!rc)
            rc = env_put(out, var, (const char *)joined.data);
        free(var);
    }
    weft_buf_free(&joined);
    return rc;
}

int weft_cgi_env(const weft_cgi_request_t *rq, const char *const *global, size_t nglobal,
                 const char *const *module, size_t nmodule, weft_strv_t *out) {
    int rc = 0;
    for (size_t i = 0; i < nglobal && !rc; i++)
        rc = env_set(out, global[i], strlen(global[i]));
    for (size_t i = 0; i < nmodule && !rc; i++)
        rc = env_set(out, module[i], strlen(module[i]));
    if (rc)
        return rc;

    const char *content_type = "";
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!strcasecmp(rq->headers[i].name, "Content-Type")) {
            content_type = rq->headers[i].value;
            break;
        }
    const char *script = weft_route_script_name(rq->route);
    /* PATH_INFO: what follows the matched prefix (nothing for an exact route). */
    const char *raw_info = "";
    if (rq->route->wildcard && strlen(rq->raw_path) >= strlen(rq->route->prefix))
        raw_info = rq->raw_path + strlen(rq->route->prefix);
    char *info = percent_decode(raw_info, strlen(raw_info));
    if (!info)
        return WEFT_ENOMEM;
    char length[32];
    snprintf(length, sizeof length, "%llu", (unsigned long long)rq->content_length);
    bool v6 = strchr(rq->server_name, ':') != NULL;
    char *url;
    if (asprintf(&url, "%s://%s%s%s:%s%s%s%s", rq->tls ? "https" : "http", v6 ? "[" : "",
                 rq->server_name, v6 ? "]" : "", rq->server_port, rq->raw_path,
                 rq->query ? "?" : "", rq->query ? rq->query : "") < 0) {
        free(info);
        return WEFT_ENOMEM;
    }
    struct {
        const char *name, *value;
    } vars[] = {
        {"AUTH_TYPE", ""},
        {"REMOTE_USER", ""},
        {"CONTENT_LENGTH", length},
        {"CONTENT_TYPE", content_type},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"SERVER_SOFTWARE", "weft/" WEFT_VERSION},
        {"SERVER_PROTOCOL", rq->protocol},
        {"REQUEST_METHOD", rq->method},
        {"QUERY_STRING", rq->query ? rq->query : ""},
        {"REMOTE_ADDR", rq->remote_addr},
        {"REMOTE_HOST", rq->remote_addr}, /* RFC 3875 4.1.9: no reverse lookup */
        {"SERVER_NAME", rq->server_name},
        {"SERVER_PORT", rq->server_port},
        {"X_FULL_URL", url},
        {"X_MATCHED_ROUTE", rq->route->pattern},
        {"SCRIPT_NAME", script},
        {"X_RAW_PATH_INFO", raw_info},
        {"PATH_INFO", info},
        {"PATH_TRANSLATED", info},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0] && !rc; i++)
        rc = env_put(out, vars[i].name, vars[i].value);
    free(info);
    free(url);
    return rc ? rc : add_headers(rq, out);
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

int weft_cgi_argv(const char *tmpl, const weft_cgi_request_t *rq, weft_strv_t *out) {
    if (!tmpl) {
        int rc = weft_strv_add(out, rq->raw_path, strlen(rq->raw_path));
        return rc ? rc : each_query_item(rq->query, add_arg, out);
    }
    weft_buf_t args = {0}, line = {0};
    int rc = each_query_item(rq->query, add_joined, &args);
    const char *script = weft_route_script_name(rq->route);
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
