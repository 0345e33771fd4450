/* gateway internals shared by its files; not part of the layer's contract. */
#ifndef WEFT_GATEWAY_INTERNAL_H
#define WEFT_GATEWAY_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../invoke/invoke.h"
#include "gateway.h"

/* A function of the app, loaded. */
typedef struct function {
    const weft_app_function_t *def; /* borrowed from the app */
    weft_module_t *module;
    weft_preopen_t *preopens;
    weft_http_policy_t http;
} function_t;

/* What a route serves: a function's entry point, or a built-in. */
typedef struct handler {
    function_t *fn; /* NULL: /healthz */
    char *entrypoint;
    struct handler *next; /* every handler, for freeing */
} handler_t;

/* One request, from its request line to the end of its response. Made by the URI
 * callback, freed by the completion callback; between the two, it is touched by the
 * MHD thread, or (while the connection is suspended) by one worker, never both. */
typedef struct request {
    struct weft_gateway *gw;
    struct MHD_Connection *conn;
    uint64_t id;
    char *target;       /* the request target as received, cut at '?' */
    const char *query;  /* into target, or NULL */
    const char *method; /* MHD's, valid until the request completes */
    const char *version;
    const weft_route_t *route;
    bool headers_seen;
    bool too_large;
    bool in_flight; /* counted in weft_gateway_t.in_flight */
    weft_buf_t body;
    struct MHD_Response *response; /* set by the worker before it resumes */
    unsigned status;
    struct request *next; /* in the pool's queue */
    uint64_t queued_ns;   /* when it was queued there */
} request_t;

/* A pool of threads that run guests (pool.c). */
typedef struct worker {
    struct pool *pool;
    pthread_t thread;
    pthread_cond_t wake;
    request_t *job; /* handed over by weft_pool_submit, or NULL */
    struct worker *next_idle;
} worker_t;

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t drained;  /* nothing queued or running */
    pthread_cond_t starving; /* wakes the manager: requests wait and no worker is idle */
    request_t *head, *tail;  /* requests no worker could take at once, oldest first */
    worker_t *workers;       /* max of them, nthreads started */
    worker_t *idle;          /* idle workers, the most recently idle on top */
    size_t nthreads, max, hot, busy;
    uint64_t last_done_ns; /* when a worker last finished a request */
    pthread_t manager;
    bool has_manager;
    bool stopping;
    void (*run)(request_t *rq);
} pool_t;

struct weft_gateway {
    const weft_app_t *app;
    weft_gateway_config_t cfg;
    uint64_t max_body;
    function_t *fns;
    size_t nfns;
    handler_t *handlers;
    handler_t health;
    weft_router_t *router;
    struct MHD_Daemon *daemon;
    int listen_fd;
    char host[256]; /* listen address, for SERVER_NAME without a Host header */
    char port[16];
    char url[300];
    char *tls_cert_pem, *tls_key_pem;
    pool_t pool;
    atomic_uint_fast64_t next_id;
    atomic_int in_flight;
    atomic_bool stopping;
};

int weft_pool_init(pool_t *p, size_t max, void (*run)(request_t *rq));
/* Queues rq; a thread is started when none is idle and the bound allows one. */
int weft_pool_submit(pool_t *p, request_t *rq);
/* Waits until no request is queued or running. */
void weft_pool_drain(pool_t *p);
/* Stops and joins every thread (after draining). */
void weft_pool_destroy(pool_t *p);

/* Runs rq's guest on the calling (worker) thread and sets rq->response. */
void weft_gateway_run_request(request_t *rq);

#endif
