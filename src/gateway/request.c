/* request: one HTTP request run as one CGI invocation of a guest, on a worker thread.
 *
 * The outcome decides the status: a guest that ran out of time is 504 (the engine has
 * stopped it), any other trap or a non-zero exit status is 500, and a guest that ran
 * to completion is answered with what its stdout says. Every failure is logged with
 * the route and the request id, which is also what tags the guest's own stderr lines.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "internal.h"

/* Bound on the request headers passed to a guest. */
#define WEFT_GATEWAY_MAX_REQUEST_HEADERS 256
/* Bytes of one guest stderr line shown in the log. */
#define WEFT_GATEWAY_MAX_LOG_LINE 4096

static void free_buffer(void *cls) {
    free(cls);
}

/* A response whose body is a copy of text. */
static struct MHD_Response *text_response(const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r)
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    return r;
}

static void fail(request_t *rq, unsigned status, const char *text) {
    rq->status = status;
    rq->response = text_response(text);
}

/* Guest stderr: one log line per guest line, with control characters made visible so
 * that a guest cannot forge log lines of its own. */
static void on_stderr_line(void *arg, const char *line, size_t len) {
    request_t *rq = arg;
    char clean[WEFT_GATEWAY_MAX_LOG_LINE];
    size_t n = len < sizeof clean - 1 ? len : sizeof clean - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    clean[n] = 0;
    weft_log("%s #%llu: %s", rq->route->pattern, (unsigned long long)rq->id, clean);
}

static void on_dropped_header(void *arg, const char *why, const char *line, size_t len) {
    request_t *rq = arg;
    char clean[256];
    size_t n = len < sizeof clean - 1 ? len : sizeof clean - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    clean[n] = 0;
    weft_log("%s #%llu: response header dropped (%s): %s%s", rq->route->pattern,
             (unsigned long long)rq->id, why, clean, len > n ? "..." : "");
}

typedef struct headers {
    weft_cgi_header_in_t v[WEFT_GATEWAY_MAX_REQUEST_HEADERS];
    size_t n;
    const char *host;
} headers_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    headers_t *h = cls;
    if (h->n == WEFT_GATEWAY_MAX_REQUEST_HEADERS)
        return MHD_NO;
    h->v[h->n].name = key;
    h->v[h->n].value = value ? value : "";
    if (!strcasecmp(key, "Host") && !h->host)
        h->host = h->v[h->n].value;
    h->n++;
    return MHD_YES;
}

/* SERVER_NAME and SERVER_PORT: from the Host header when there is one ("name:port",
 * "[v6]:port"), else the address weft listens on. */
static void server_name_port(const request_t *rq, const char *host, char *name, size_t ncap,
                             char *port, size_t pcap) {
    const weft_gateway_t *gw = rq->gw;
    snprintf(name, ncap, "%s", gw->host);
    snprintf(port, pcap, "%s", gw->port);
    if (!host || !*host)
        return;
    const char *colon;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return;
        snprintf(name, ncap, "%.*s", (int)(close - host - 1), host + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(host, ':');
        snprintf(name, ncap, "%.*s", (int)(colon ? (size_t)(colon - host) : strlen(host)), host);
    }
    if (colon && colon[1])
        snprintf(port, pcap, "%s", colon + 1);
}

static void remote_address(struct MHD_Connection *conn, char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST))
        snprintf(out, cap, "unknown");
}

/* The response from a guest that ran to completion. out is taken over. */
static void respond_cgi(request_t *rq, weft_buf_t *out) {
    weft_cgi_response_t *cgi = malloc(sizeof *cgi);
    if (!cgi) {
        weft_buf_free(out);
        fail(rq, 500, "out of memory\n");
        return;
    }
    if (weft_buf_reserve(out, 0)) { /* the parser needs out->data[len] */
        free(cgi);
        weft_buf_free(out);
        fail(rq, 500, "out of memory\n");
        return;
    }
    if (weft_cgi_parse(out->data, out->len, cgi, on_dropped_header, rq)) {
        weft_log("%s #%llu: 500: %s", rq->route->pattern, (unsigned long long)rq->id, cgi->error);
        char msg[512];
        snprintf(msg, sizeof msg, "%s\n", cgi->error);
        fail(rq, 500, msg);
        weft_buf_free(out);
        free(cgi);
        return;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        cgi->body_len, (void *)cgi->body, free_buffer, out->data);
    if (!r) {
        weft_buf_free(out);
        free(cgi);
        fail(rq, 500, "out of memory\n");
        return;
    }
    out->data = NULL; /* the response frees it */
    for (size_t i = 0; i < cgi->nheaders; i++)
        if (MHD_add_response_header(r, cgi->headers[i].name, cgi->headers[i].value) != MHD_YES)
            weft_log("%s #%llu: response header dropped (refused by the server): %s",
                     rq->route->pattern, (unsigned long long)rq->id, cgi->headers[i].name);
    rq->status = cgi->status;
    rq->response = r;
    free(cgi);
}

void weft_gateway_run_request(request_t *rq) {
    weft_gateway_t *gw = rq->gw;
    const handler_t *h = rq->route->target;
    const function_t *fn = h->fn;
    headers_t *hs = malloc(sizeof *hs); /* 4 KiB: not zeroed, only n entries are used */
    weft_strv_t env = {0}, argv = {0};
    weft_buf_t out = {0};
    if (!hs) {
        fail(rq, 500, "out of memory\n");
        goto done;
    }
    hs->n = 0;
    hs->host = NULL;
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, collect_header, hs);
    char name[256], port[16], remote[64];
    server_name_port(rq, hs->host, name, sizeof name, port, sizeof port);
    remote_address(rq->conn, remote, sizeof remote);
    weft_cgi_request_t cgi = {
        .method = rq->method,
        .protocol = rq->version,
        .raw_path = rq->target,
        .query = rq->query,
        .route = rq->route,
        .remote_addr = remote,
        .server_name = name,
        .server_port = port,
        .tls = gw->cfg.tls_cert != NULL,
        .content_length = rq->body.len,
        .headers = hs->v,
        .nheaders = hs->n,
    };
    if (weft_cgi_env(&cgi, gw->cfg.env, gw->cfg.nenv, (const char *const *)fn->def->env,
                     fn->def->nenv, &env) ||
        weft_cgi_argv(fn->def->argv, &cgi, &argv)) {
        fail(rq, 500, "out of memory, or too many variables\n");
        goto done;
    }
    weft_invoke_request_t req = {
        .entry = h->entrypoint,
        .argv = (const char *const *)argv.v,
        .argc = argv.n,
        .envp = (const char *const *)env.v,
        .envc = env.n,
        .preopens = fn->preopens,
        .npreopens = fn->def->nvolumes,
        .limits = {.max_memory = fn->def->max_memory, .timeout_ns = fn->def->timeout_ns},
        .http = &fn->http,
        .stdio = {{.kind = WEFT_STDIO_INPUT, .in = rq->body.data, .in_len = rq->body.len},
                  {.kind = WEFT_STDIO_OUTPUT, .out = &out, .out_limit = WEFT_GATEWAY_MAX_RESPONSE},
                  {.kind = WEFT_STDIO_LINES, .on_line = on_stderr_line, .arg = rq}},
    };
    weft_outcome_t outcome;
    weft_error_t err = {0};
    unsigned long long id = (unsigned long long)rq->id;
    const char *route = rq->route->pattern;
    if (weft_invoke(fn->module, &req, &outcome, &err)) {
        weft_log("%s #%llu: 500: cannot run the function: %s", route, id, err.msg);
        fail(rq, 500, "the function could not be started\n");
    } else if (outcome.kind == WEFT_OUTCOME_TRAPPED && outcome.trap == WEFT_TRAP_DEADLINE) {
        weft_log("%s #%llu: 504: stopped after its timeout of %.3gs", route, id,
                 (double)fn->def->timeout_ns / 1e9);
        fail(rq, 504, "the function did not answer in time\n");
    } else if (outcome.kind == WEFT_OUTCOME_TRAPPED) {
        weft_log("%s #%llu: 500: trap: %s", route, id, weft_trap_text(outcome.trap));
        fail(rq, 500, "the function failed\n");
    } else if (outcome.kind == WEFT_OUTCOME_EXITED && outcome.exit_code != 0) {
        weft_log("%s #%llu: 500: exited with status %u", route, id, outcome.exit_code);
        fail(rq, 500, "the function failed\n");
    } else if (out.len >= WEFT_GATEWAY_MAX_RESPONSE) {
        weft_log("%s #%llu: 500: response larger than %u bytes", route, id,
                 WEFT_GATEWAY_MAX_RESPONSE);
        fail(rq, 500, "the function's response is too large\n");
    } else {
        respond_cgi(rq, &out);
    }
done:
    weft_buf_free(&out);
    weft_strv_free(&env);
    weft_strv_free(&argv);
    free(hs);
    /* The body is no longer needed; the response may take a while to send. */
    weft_buf_free(&rq->body);
    MHD_resume_connection(rq->conn);
}
