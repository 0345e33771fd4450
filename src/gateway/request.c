/* request: one HTTP request handed to its function.
 *
 * The I/O thread that read the request copies what the function gets of it
 * (weft_gateway_prepare_request); a worker, or the I/O thread itself for a short trial,
 * calls the function through the invoke layer, which maps the request to a CGI
 * invocation, runs it, reads its stdout as the response and logs what went wrong
 * (weft_gateway_run_request); the I/O thread then sends the answer (server.c). Every
 * log line of a request is tagged with its route and id.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

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

static void remote_address(h2o_req_t *req, char *out, size_t cap, char *port, size_t pcap) {
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (!len || getnameinfo((struct sockaddr *)&ss, len, out, (socklen_t)cap, port, (socklen_t)pcap,
                            NI_NUMERICHOST | NI_NUMERICSERV)) {
        snprintf(out, cap, "unknown");
        snprintf(port, pcap, "0");
    }
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

/* Adds a copy of v (NULL: "") to rq's strings. */
static int keep(request_t *rq, const char *v, size_t len) {
    return weft_strv_add(&rq->strings, v ? v : "", v ? len : 0);
}

static int keep_str(request_t *rq, const char *v) {
    return keep(rq, v, v ? strlen(v) : 0);
}

int weft_gateway_prepare_request(request_t *rq, h2o_req_t *req) {
    weft_gateway_t *gw = rq->gw;
    snprintf(rq->tag, sizeof rq->tag, "%s #%llu", rq->route->pattern, (unsigned long long)rq->id);
    /* The target as received, cut at '?'. */
    const char *target = req->input.path.base ? req->input.path.base : "";
    size_t tlen = req->input.path.len;
    const char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;
    /* Host first (h2o keeps it apart), then the headers as received. */
    bool has_host = weft_gateway_host_given(req);
    char host[512] = "";
    if (has_host)
        snprintf(host, sizeof host, "%.*s", (int)req->input.authority.len,
                 req->input.authority.base);
    char name[256], port[16], remote[64], remote_port[16];
    server_name_port(rq, has_host ? host : NULL, name, sizeof name, port, sizeof port);
    remote_address(req, remote, sizeof remote, remote_port, sizeof remote_port);
    size_t nheaders = req->headers.size + has_host, nparams = rq->match.nparams;
    rq->headers = calloc(nheaders + nparams ? nheaders + nparams : 1, sizeof *rq->headers);
    if (!rq->headers)
        return WEFT_ENOMEM;
    int rc = keep(rq, req->input.method.base, req->input.method.len);
    if (!rc)
        rc = keep_str(rq, protocol_name(req->version));
    if (!rc)
        rc = keep(rq, target, plen);
    if (!rc && q)
        rc = keep(rq, q + 1, tlen - plen - 1);
    if (!rc)
        rc = keep_str(rq, remote);
    if (!rc)
        rc = keep_str(rq, remote_port);
    if (!rc)
        rc = keep_str(rq, name);
    if (!rc)
        rc = keep_str(rq, port);
    if (!rc && has_host && !(rc = keep_str(rq, "Host")))
        rc = keep(rq, req->input.authority.base, req->input.authority.len);
    for (size_t i = 0; i < req->headers.size && !rc; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        rc = h->orig_name ? keep_str(rq, h->orig_name) : keep(rq, h->name->base, h->name->len);
        if (!rc)
            rc = keep(rq, h->value.base, h->value.len);
    }
    for (size_t i = 0; i < nparams && !rc; i++) {
        rc = keep(rq, rq->match.params[i].name, rq->match.params[i].name_len);
        if (!rc)
            rc = keep(rq, rq->match.params[i].value, rq->match.params[i].value_len);
    }
    /* What the trailing wildcard matched (the route's prefix_len bytes come before it). */
    size_t pi = rq->match.prefix_len <= plen ? rq->match.prefix_len : plen;
    if (!rc)
        rc = keep(rq, target + pi, plen - pi);
    if (!rc && req->entity.len)
        rc = weft_buf_append(&rq->body, req->entity.base, req->entity.len);
    if (rc)
        return rc;
    /* The strings no longer move: point at them. */
    char **v = rq->strings.v;
    size_t at = 3; /* after method, protocol and path (the order of keep() above) */
    rq->call = (weft_request_t){
        .method = v[0],
        .protocol = v[1],
        .path = v[2],
        .route = rq->route->pattern,
        .tls = gw->ssl != NULL,
        .headers = rq->headers,
        .nheaders = nheaders,
        .body = rq->body.data,
        .body_len = rq->body.len,
    };
    rq->call.query = q ? v[at++] : NULL;
    rq->call.remote_addr = v[at++];
    rq->call.remote_port = v[at++];
    rq->call.server_name = v[at++];
    rq->call.server_port = v[at++];
    for (size_t i = 0; i < nheaders + nparams; i++) {
        rq->headers[i].name = v[at++];
        rq->headers[i].value = v[at++];
    }
    rq->call.params = nparams ? rq->headers + nheaders : NULL;
    rq->call.nparams = nparams;
    rq->call.path_info = v[at++];
    const handler_t *h = rq->route->target;
    rq->call.route_def = h->def;
    return 0;
}

bool weft_gateway_run_request(request_t *rq, uint64_t budget_ns) {
    const handler_t *h = rq->route->target;
    const weft_gateway_config_t *cfg = &rq->gw->cfg;
    weft_call_opts_t opts = {
        .entry = h->entrypoint,
        .budget_ns = budget_ns,
        .max_response = cfg->max_response,
        .max_stderr_lines = cfg->max_stderr_lines,
        .max_stderr_bytes = cfg->max_stderr_bytes,
        .log_tag = rq->tag,
    };
    weft_error_t err = {0};
    /* The fields of the request's structured log lines (--log-format json). */
    weft_log_ctx_t ctx = {
        .request_id = rq->id, .route = rq->route->pattern, .function = h->fn->def->name};
    const weft_log_ctx_t *was = weft_log_ctx_set(&ctx);
    weft_crash_task(rq->route->pattern, rq->id);
    int rc = weft_function_call(h->fn->fn, &rq->call, &opts, &rq->resp, &err);
    weft_crash_task(NULL, 0);
    if (rc && rc != WEFT_ELIMIT)
        weft_log_at(WEFT_LOG_ERROR, "%s: 503: %s", rq->tag, err.msg);
    weft_log_ctx_set(was);
    if (rc == WEFT_ELIMIT) { /* more variables or arguments than a guest may get */
        rq->resp.status = 431;
        rq->resp.error = "too many request headers or query items";
    } else if (rc) {
        rq->resp.status = 503;
        rq->resp.error = "out of memory";
    } else if (rq->resp.outcome.end == WEFT_CALL_BUDGET) {
        weft_response_free(&rq->resp);
        return false;
    }
    /* Only the answer is needed from here on. */
    weft_strv_free(&rq->strings);
    free(rq->headers);
    rq->headers = NULL;
    weft_buf_free(&rq->body);
    return true;
}
