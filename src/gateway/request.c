/* request: one HTTP request run as one CGI invocation of a guest.
 *
 * The I/O thread that read the request maps it to the guest's environment, argv and
 * stdin (weft_gateway_prepare_request); a worker runs the guest and parses its stdout
 * (weft_gateway_run_request); the I/O thread then sends the answer (server.c).
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
#include <sys/socket.h>

#include "internal.h"

/* Bytes of one guest stderr line shown in the log. */
#define WEFT_GATEWAY_MAX_LOG_LINE 4096

static void fail(request_t *rq, unsigned status, const char *text) {
    rq->status = status;
    rq->error_text = text;
}

/* Copies line into clean (cap bytes) with control characters made visible, so that a
 * guest cannot forge log lines of its own. Returns how many bytes of line it kept. */
static size_t log_safe(char *clean, size_t cap, const char *line, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    clean[n] = 0;
    return n;
}

static void log_stderr_line(const request_t *rq, const char *line, size_t len) {
    char clean[WEFT_GATEWAY_MAX_LOG_LINE];
    log_safe(clean, sizeof clean, line, len);
    weft_log("%s #%llu: %s", rq->route->pattern, (unsigned long long)rq->id, clean);
}

/* Guest stderr: one log line per guest line, up to cfg.max_stderr_lines lines or
 * cfg.max_stderr_bytes bytes (newlines included) per request, whichever comes first;
 * past that, lines are only counted (log_dropped_stderr sums them up). Held back during
 * a run that may not count (a line is never logged twice). */
static void on_stderr_line(void *arg, const char *line, size_t len) {
    request_t *rq = arg;
    const weft_gateway_config_t *cfg = &rq->gw->cfg;
    if (rq->stderr_dropped_lines || rq->stderr_lines >= cfg->max_stderr_lines ||
        rq->stderr_bytes + len + 1 > cfg->max_stderr_bytes) {
        rq->stderr_dropped_lines++;
        rq->stderr_dropped_bytes += len + 1;
        return;
    }
    rq->stderr_lines++;
    rq->stderr_bytes += len + 1;
    if (!rq->hold_stderr) {
        log_stderr_line(rq, line, len);
        return;
    }
    if (len > WEFT_GATEWAY_MAX_LOG_LINE)
        len = WEFT_GATEWAY_MAX_LOG_LINE;
    if (weft_buf_append(&rq->held_stderr, line, len) ||
        weft_buf_append(&rq->held_stderr, "\n", 1))
        log_stderr_line(rq, line, len); /* out of memory: better now than never */
}

/* Logs the held lines, or forgets them (and that the run wrote any). */
static void release_stderr(request_t *rq, bool log) {
    const char *p = (const char *)rq->held_stderr.data, *end = p + rq->held_stderr.len;
    while (log && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        log_stderr_line(rq, p, (size_t)(nl - p));
        p = nl + 1;
    }
    weft_buf_free(&rq->held_stderr);
    rq->hold_stderr = false;
    if (!log)
        rq->stderr_lines = rq->stderr_bytes = rq->stderr_dropped_lines =
            rq->stderr_dropped_bytes = 0;
}

/* One line for the stderr lines the caps kept out of the log. */
static void log_dropped_stderr(const request_t *rq) {
    if (!rq->stderr_dropped_lines)
        return;
    weft_log("%s #%llu: ... %llu more stderr line%s (%llu bytes) not logged", rq->route->pattern,
             (unsigned long long)rq->id, (unsigned long long)rq->stderr_dropped_lines,
             rq->stderr_dropped_lines == 1 ? "" : "s",
             (unsigned long long)rq->stderr_dropped_bytes);
}

static void on_dropped_header(void *arg, const char *why, const char *line, size_t len) {
    request_t *rq = arg;
    char clean[256];
    size_t n = log_safe(clean, sizeof clean, line, len);
    weft_log("%s #%llu: response header dropped (%s): %s%s", rq->route->pattern,
             (unsigned long long)rq->id, why, clean, len > n ? "..." : "");
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

static void remote_address(h2o_req_t *req, char *out, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (!len || getnameinfo((struct sockaddr *)&ss, len, out, (socklen_t)cap, NULL, 0,
                            NI_NUMERICHOST))
        snprintf(out, cap, "unknown");
}

/* A NUL-terminated copy of v in the request's memory pool (freed with the request). */
static const char *pool_str(h2o_req_t *req, h2o_iovec_t v) {
    return h2o_strdup(&req->pool, v.base ? v.base : "", v.len).base;
}

static const char *protocol_name(int version) {
    switch (version) {
    case 0x100:
        return "HTTP/1.0";
    case 0x200:
        return "HTTP/2";
    default:
        return "HTTP/1.1";
    }
}

bool weft_gateway_host_given(const h2o_req_t *req) {
    const weft_gateway_t *gw = weft_gateway_io_of(req->conn->ctx)->gw;
    return req->input.authority.base && req->input.authority.base != gw->default_authority;
}

int weft_gateway_prepare_request(request_t *rq, h2o_req_t *req) {
    weft_gateway_t *gw = rq->gw;
    const function_t *fn = ((const handler_t *)rq->route->target)->fn;
    /* The headers, and Host first (h2o keeps it apart). */
    size_t nheaders = 0;
    weft_cgi_header_in_t *hs =
        h2o_mem_alloc_pool(&req->pool, (req->headers.size + 1) * sizeof *hs);
    const char *host = NULL;
    if (weft_gateway_host_given(req)) {
        host = pool_str(req, req->input.authority);
        hs[nheaders++] = (weft_cgi_header_in_t){.name = "Host", .value = host};
    }
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[nheaders].name = h->orig_name ? h->orig_name : pool_str(req, *h->name);
        hs[nheaders++].value = pool_str(req, h->value);
    }
    /* The target as received, cut at '?'. */
    char *path = (char *)pool_str(req, req->input.path);
    const char *query = NULL;
    char *q = strchr(path, '?');
    if (q) {
        *q = 0;
        query = q + 1;
    }
    char name[256], port[16], remote[64];
    server_name_port(rq, host, name, sizeof name, port, sizeof port);
    remote_address(req, remote, sizeof remote);
    weft_cgi_request_t cgi = {
        .method = pool_str(req, req->input.method),
        .protocol = protocol_name(req->version),
        .raw_path = path,
        .query = query,
        .route = rq->route,
        .remote_addr = remote,
        .server_name = name,
        .server_port = port,
        .tls = gw->ssl != NULL,
        .content_length = req->entity.len,
        .headers = hs,
        .nheaders = nheaders,
    };
    int rc = weft_cgi_env(&cgi, gw->cfg.env, gw->cfg.nenv, (const char *const *)fn->def->env,
                          fn->def->nenv, &rq->env);
    if (!rc)
        rc = weft_cgi_argv(fn->def->argv, &cgi, &rq->argv);
    if (!rc && req->entity.len)
        rc = weft_buf_append(&rq->body, req->entity.base, req->entity.len);
    return rc;
}

/* The answer of a guest that ran to completion: its stdout parsed as a CGI response,
 * in place (rq->resp points into rq->out). */
static void parse_cgi(request_t *rq) {
    weft_cgi_response_t *cgi = malloc(sizeof *cgi);
    if (!cgi || weft_buf_reserve(&rq->out, 0)) { /* the parser needs out->data[len] */
        free(cgi);
        fail(rq, 500, "out of memory");
        return;
    }
    if (weft_cgi_parse(rq->out.data, rq->out.len, cgi, on_dropped_header, rq)) {
        weft_log("%s #%llu: 500: %s", rq->route->pattern, (unsigned long long)rq->id, cgi->error);
        fail(rq, 500, cgi->error); /* a string constant of cgi.c */
        free(cgi);
        return;
    }
    rq->status = cgi->status;
    rq->resp = cgi;
}

bool weft_gateway_run_request(request_t *rq, uint64_t budget_ns) {
    const handler_t *h = rq->route->target;
    const function_t *fn = h->fn;
    uint64_t timeout_ns = fn->def->timeout_ns;
    uint64_t max_response = rq->gw->cfg.max_response;
    bool trial = budget_ns && (!timeout_ns || budget_ns < timeout_ns);
    if (trial)
        timeout_ns = budget_ns;
    rq->hold_stderr = trial;
    weft_invoke_request_t req = {
        .entry = h->entrypoint,
        .argv = (const char *const *)rq->argv.v,
        .argc = rq->argv.n,
        .envp = (const char *const *)rq->env.v,
        .envc = rq->env.n,
        .preopens = fn->preopens,
        .npreopens = fn->def->nvolumes,
        .limits = {.max_memory = fn->def->max_memory, .timeout_ns = timeout_ns},
        .http = &fn->http,
        .stdio = {{.kind = WEFT_STDIO_INPUT, .in = rq->body.data, .in_len = rq->body.len},
                  {.kind = WEFT_STDIO_OUTPUT,
                   .out = &rq->out,
                   .out_limit = max_response + 1}, /* one byte over tells "too large" */
                  {.kind = WEFT_STDIO_LINES, .on_line = on_stderr_line, .arg = rq}},
    };
    weft_outcome_t outcome;
    weft_error_t err = {0};
    unsigned long long id = (unsigned long long)rq->id;
    const char *route = rq->route->pattern;
    weft_crash_task(route, id);
    int rc = weft_invoke(fn->module, &req, &outcome, &err);
    weft_crash_task(NULL, 0);
    if (trial && !rc && outcome.kind == WEFT_OUTCOME_TRAPPED &&
        outcome.trap == WEFT_TRAP_DEADLINE) {
        release_stderr(rq, false);
        weft_buf_free(&rq->out);
        return false;
    }
    release_stderr(rq, true);
    log_dropped_stderr(rq);
    if (rc) {
        weft_log("%s #%llu: 500: cannot run the function: %s", route, id, err.msg);
        fail(rq, 500, "the function could not be started");
    } else if (outcome.kind == WEFT_OUTCOME_TRAPPED && outcome.trap == WEFT_TRAP_DEADLINE) {
        weft_log("%s #%llu: 504: stopped after its timeout of %.3gs", route, id,
                 (double)fn->def->timeout_ns / 1e9);
        fail(rq, 504, "the function did not answer in time");
    } else if (rq->out.len > max_response) {
        /* Before the exit status: a guest whose write past the limit failed may well
         * have given up with an error, and this is why. */
        weft_log("%s #%llu: 500: response larger than %llu bytes", route, id,
                 (unsigned long long)max_response);
        fail(rq, 500, "the function's response is too large");
    } else if (outcome.kind == WEFT_OUTCOME_TRAPPED) {
        weft_log("%s #%llu: 500: trap: %s", route, id, weft_trap_text(outcome.trap));
        fail(rq, 500, "the function failed");
    } else if (outcome.kind == WEFT_OUTCOME_EXITED && outcome.exit_code != 0) {
        weft_log("%s #%llu: 500: exited with status %u", route, id, outcome.exit_code);
        fail(rq, 500, "the function failed");
    } else {
        parse_cgi(rq);
    }
    /* Only the answer is needed from here on. */
    weft_strv_free(&rq->env);
    weft_strv_free(&rq->argv);
    weft_buf_free(&rq->body);
    return true;
}
