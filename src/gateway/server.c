/* server: HTTP on libmicrohttpd (MHD); the life of a request on the server side.
 *
 * MHD parses HTTP (request line, headers, chunked bodies, keep-alive, TLS) and answers
 * malformed requests with 4xx itself. weft sees a request in three callbacks:
 *
 *   uri_log      the request line was read: allocate the request, keep the target as
 *                it was on the wire (MHD decodes its own copy);
 *   on_request   called once when the headers are in (route it, refuse a declared
 *                body over the limit), once per piece of body, once at the end (hand
 *                it to a worker and suspend the connection), and once more after the
 *                worker resumed it (queue the response);
 *   completed    the response was sent or the connection died: free the request.
 *
 * Graceful stop: the listening socket is closed (MHD_quiesce_daemon), requests in
 * flight finish (their responses say Connection: close), then MHD stops. A request is
 * in flight from the moment it has been read whole (or answered early) until its
 * response is sent: one whose client is still sending (or went quiet half-way) is not
 * waited for.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* MHD threads doing network I/O (guests run on the pool, not on these). */
#define WEFT_GATEWAY_IO_THREADS 2
#define WEFT_GATEWAY_LISTEN_BACKLOG 1024

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    weft_log("http: %s", msg);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn) {
    weft_gateway_t *gw = cls;
    request_t *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    if (!(rq->target = strdup(uri ? uri : ""))) {
        free(rq);
        return NULL;
    }
    char *q = strchr(rq->target, '?');
    if (q) {
        *q = 0;
        rq->query = q + 1;
    }
    rq->gw = gw;
    rq->conn = conn;
    rq->id = atomic_fetch_add(&gw->next_id, 1);
    return rq;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    weft_gateway_t *gw = cls;
    request_t *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    if (rq->response)
        MHD_destroy_response(rq->response);
    weft_buf_free(&rq->body);
    free(rq->target);
    if (rq->in_flight)
        atomic_fetch_sub(&gw->in_flight, 1);
    free(rq);
}

static void mark_in_flight(request_t *rq) {
    if (!rq->in_flight) {
        rq->in_flight = true;
        atomic_fetch_add(&rq->gw->in_flight, 1);
    }
}

static enum MHD_Result queue(request_t *rq, unsigned status, struct MHD_Response *r) {
    if (!r)
        return MHD_NO;
    mark_in_flight(rq);
    if (atomic_load(&rq->gw->stopping))
        MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_text(request_t *rq, unsigned status, const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r)
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    return queue(rq, status, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    weft_gateway_t *gw = cls;
    request_t *rq = *con_cls;
    if (!rq)
        return MHD_NO; /* uri_log ran out of memory: drop the connection */

    if (rq->response) { /* a worker is done with it */
        struct MHD_Response *r = rq->response;
        rq->response = NULL;
        return queue(rq, rq->status, r);
    }

    if (!rq->headers_seen) {
        rq->headers_seen = true;
        rq->method = method;
        rq->version = version;
        rq->route = weft_router_match(gw->router, rq->target, strlen(rq->target));
        /* 404 and /healthz are answered once the request is read whole: answered now,
         * with a body still to come, MHD would have to close the connection. */
        if (!rq->route || !((handler_t *)rq->route->target)->fn)
            return MHD_YES;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > gw->max_body)
                return queue_text(rq, 413, "request body too large\n");
        }
        return MHD_YES;
    }

    if (*upload_data_size) {
        /* A chunked body has no declared size: count it as it comes, and once it is
         * over the limit keep reading (so the answer can be sent) without keeping. */
        if (!rq->too_large && rq->route && ((handler_t *)rq->route->target)->fn) {
            if (rq->body.len + *upload_data_size > gw->max_body) {
                rq->too_large = true;
                weft_buf_free(&rq->body);
            } else if (weft_buf_append(&rq->body, upload_data, *upload_data_size)) {
                rq->too_large = true;
                weft_buf_free(&rq->body);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (rq->too_large)
        return queue_text(rq, 413, "request body too large\n");
    if (!rq->route)
        return queue_text(rq, 404, "not found\n");
    if (!((handler_t *)rq->route->target)->fn)
        return queue_text(rq, 200, "OK\n");
    /* Suspend before handing over, so the worker's resume always finds it suspended. */
    mark_in_flight(rq);
    MHD_suspend_connection(conn);
    if (weft_pool_submit(&gw->pool, rq)) {
        MHD_resume_connection(conn);
        rq->status = 503;
        rq->response = MHD_create_response_from_buffer(strlen("no worker available\n"),
                                                       (void *)"no worker available\n",
                                                       MHD_RESPMEM_PERSISTENT);
    }
    return MHD_YES;
}

/* Binds ADDR:PORT ("127.0.0.1:3000", "[::1]:0", "localhost:3000", ":3000"). */
static int bind_listen(weft_gateway_t *gw, const char *listen_on, weft_error_t *err) {
    char host[256];
    int fd;
    int rc = weft_tcp_listen(listen_on, "--listen", WEFT_GATEWAY_LISTEN_BACKLOG, host, sizeof host,
                             &fd, err);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char numeric[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, numeric, sizeof numeric, gw->port, sizeof gw->port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        close(fd);
        return weft_error_set(err, WEFT_EIO, "cannot listen on %s: getsockname failed", listen_on);
    }
    snprintf(gw->host, sizeof gw->host, "%s", host[0] ? host : numeric);
    bool v6 = strchr(gw->host, ':') != NULL;
    snprintf(gw->url, sizeof gw->url, "%s://%s%s%s:%s", gw->cfg.tls_cert ? "https" : "http",
             v6 ? "[" : "", gw->host, v6 ? "]" : "", gw->port);
    gw->listen_fd = fd;
    return 0;
}

static int read_pem(const char *path, char **out, weft_error_t *err) {
    uint8_t *data;
    size_t len;
    int rc = weft_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    *out = (char *)data; /* weft_file_read leaves a NUL after the bytes */
    return 0;
}

int weft_gateway_start(weft_gateway_t *gw, weft_error_t *err) {
    int rc;
    size_t workers = gw->cfg.workers ? gw->cfg.workers : WEFT_GATEWAY_DEFAULT_WORKERS;
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (gw->cfg.tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return weft_error_set(err, WEFT_EUNSUPPORTED,
                                  "this libmicrohttpd was built without TLS");
        if ((rc = read_pem(gw->cfg.tls_cert, &gw->tls_cert_pem, err)) ||
            (rc = read_pem(gw->cfg.tls_key, &gw->tls_key_pem, err)))
            return rc;
        flags |= MHD_USE_TLS;
    }
    if ((rc = bind_listen(gw, gw->cfg.listen ? gw->cfg.listen : WEFT_APP_DEFAULT_LISTEN, err)))
        return rc;
    if ((rc = weft_pool_init(&gw->pool, workers, weft_gateway_run_request)))
        return weft_error_set(err, rc, "out of memory");
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, gw->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, gw->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    gw->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, gw, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, gw,
        MHD_OPTION_LISTEN_SOCKET, gw->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)WEFT_GATEWAY_IO_THREADS, MHD_OPTION_URI_LOG_CALLBACK, uri_log, gw,
        MHD_OPTION_NOTIFY_COMPLETED, completed, gw, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)WEFT_GATEWAY_MAX_HEADER_BYTES, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)WEFT_GATEWAY_IDLE_TIMEOUT_S, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_ARRAY,
        gw->cfg.tls_cert ? tls : tls + 2, MHD_OPTION_END);
    if (!gw->daemon)
        return weft_error_set(err, WEFT_EIO, "cannot start the HTTP server on %s (see the log)",
                              gw->url);
    /* MHD owns the listening socket now, until quiesce hands it back. */
    return 0;
}

const char *weft_gateway_url(const weft_gateway_t *gw) {
    return gw->url;
}

void weft_gateway_stop(weft_gateway_t *gw, uint64_t grace_ns) {
    if (!gw->daemon)
        return;
    atomic_store(&gw->stopping, true);
    MHD_socket fd = MHD_quiesce_daemon(gw->daemon);
    if (fd != MHD_INVALID_SOCKET && fd == gw->listen_fd) {
        close(fd);
        gw->listen_fd = -1;
    }
    if (!grace_ns) {
        uint64_t longest = 0;
        for (size_t i = 0; i < gw->nfns; i++)
            if (gw->fns[i].def->timeout_ns > longest)
                longest = gw->fns[i].def->timeout_ns;
        grace_ns = longest + 1000000000ull;
    }
    uint64_t end = weft_now_ns() + grace_ns;
    if (atomic_load(&gw->in_flight) > 0)
        weft_log("waiting for %d request(s) in flight", atomic_load(&gw->in_flight));
    while (atomic_load(&gw->in_flight) > 0 && weft_now_ns() < end)
        usleep(10000);
    if (atomic_load(&gw->in_flight) > 0)
        weft_log("%d request(s) still unfinished after %.3gs: closing them",
                 atomic_load(&gw->in_flight), (double)grace_ns / 1e9);
    /* A guest still running holds a suspended connection that MHD must not free under
     * it: wait for the workers whatever the grace period says. */
    weft_pool_drain(&gw->pool);
    /* Let the responses the workers just queued go out before MHD closes everything. */
    end = weft_now_ns() + 1000000000ull;
    while (atomic_load(&gw->in_flight) > 0 && weft_now_ns() < end)
        usleep(10000);
    MHD_stop_daemon(gw->daemon);
    gw->daemon = NULL;
    if (gw->listen_fd >= 0) {
        /* quiesce failed: MHD closed it */
        gw->listen_fd = -1;
    }
}
