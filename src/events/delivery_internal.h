/* The delivery engine's parts (delivery.h): the jobs and the delivery thread
 * (delivery.c), URL attempts through curl (delivery_http.c), function calls on the
 * workers (delivery_pool.c). */
#ifndef WEFT_EVENTS_DELIVERY_INTERNAL_H
#define WEFT_EVENTS_DELIVERY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>

#include "delivery.h"

/* One submission, from weft_delivery_submit to its callback. */
typedef struct job {
    struct job *next; /* in the inbox, a destination's queue, or a list being canceled */
    weft_delivery_dest_t *dest;
    weft_delivery_request_t rq;
    uint32_t attempts;
    uint64_t due_ns; /* when the next attempt may start (0: now) */
    size_t heap_i;   /* in the timer heap */
} job_t;

typedef struct job_list {
    job_t *head, *tail;
} job_list_t;

struct weft_delivery_dest {
    weft_delivery_t *d;
    bool is_function;
    weft_delivery_policy_t policy; /* defaults applied */
    char *name;                    /* the URL, or the function's name */
    struct weft_delivery_dest *next;
    /* a function */
    weft_function_t *fn;
    char *path, *server_name, *server_port;
    /* URL attempts: the delivery thread's alone */
    uint32_t inflight;
    job_list_t waiting;
    /* function calls: under the pool's lock */
    uint32_t running;
    job_list_t queued;
    bool ready; /* in the pool's ready list */
    struct weft_delivery_dest *ready_next;
};

/* The workers (delivery_pool.c). */
typedef struct pool_thread {
    struct pool *pool;
    pthread_t thread;
    bool used, done; /* started; returned (to be joined) */
    bool extra;      /* started beyond the base: leaves when idle */
} pool_thread_t;

typedef struct pool {
    weft_delivery_t *d;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Destinations with queued calls and room for one more, in turn order. */
    weft_delivery_dest_t *ready;
    unsigned base;     /* workers that stay */
    unsigned nthreads; /* alive */
    unsigned idle;     /* waiting for work */
    bool stopping;
    pool_thread_t threads[WEFT_DELIVERY_MAX_WORKERS];
} pool_t;

/* A URL attempt in flight: an easy handle and its buffers, reused (delivery_http.c). */
typedef struct slot slot_t;

/* A socket in the delivery thread's epoll set (delivery_http.c). */
typedef struct fd_state {
    bool in_set; /* registered with this mask */
    bool wanted; /* by curl */
    bool conn;   /* a connection's socket, opened and closed through our callbacks */
    uint32_t mask;
} fd_state_t;

struct weft_delivery {
    pthread_mutex_t lock; /* inbox, stopping, dests */
    job_list_t inbox;     /* new URL jobs and retries scheduled by workers */
    bool stopping;
    weft_delivery_dest_t *dests;
    int wake_fd; /* eventfd: the inbox has jobs, or stop */
    int epfd;
    pthread_t thread;
    pool_t pool;
    /* The delivery thread's alone: */
    CURLM *multi;
    CURLSH *share;
    int64_t curl_due_ns; /* when curl wants its timeout action; -1: never */
    job_t **heap;        /* retries by due_ns */
    size_t nheap, heap_cap;
    slot_t *slots; /* every slot made */
    slot_t *free_slots;
    fd_state_t *fds; /* by socket number */
    size_t nfds;
};

/* What an attempt ended with. headers, body and error are valid until the call
 * returns. */
typedef struct attempt_result {
    unsigned status; /* 0: no response */
    const char *error;
    bool permanent; /* a failure not to retry whatever the status */
    const weft_header_t *headers;
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
} attempt_result_t;

void delivery_jobs_push(job_list_t *l, job_t *j);
job_t *delivery_jobs_pop(job_list_t *l);

/* Decides what follows an attempt: the callback (delivered, failed, or canceled when
 * stop has begun), or a retry after its wait. on_thread: called on the delivery
 * thread (else on a worker). Frees the job once reported. */
void delivery_attempt_ended(weft_delivery_t *d, job_t *job, const attempt_result_t *r,
                            bool on_thread);
/* Reports job canceled and frees it. */
void delivery_cancel(job_t *job);
/* The value of header name in hs (case-insensitive), or NULL. */
const char *delivery_header(const weft_header_t *hs, size_t n, const char *name);

/* delivery_http.c, on the delivery thread. */
int delivery_http_init(weft_delivery_t *d, weft_error_t *err);
void delivery_http_socket(weft_delivery_t *d, int fd, uint32_t events); /* epoll said */
void delivery_http_timeout(weft_delivery_t *d);                         /* curl's timer */
void delivery_http_start(weft_delivery_t *d, job_t *job);
void delivery_http_completions(weft_delivery_t *d);
void delivery_http_cancel_all(weft_delivery_t *d); /* in flight and waiting */
void delivery_http_free(weft_delivery_t *d);

/* delivery_pool.c. push fails (WEFT_ECANCELED) once stop has begun. */
int delivery_pool_start(pool_t *p, weft_delivery_t *d, unsigned workers, weft_error_t *err);
int delivery_pool_push(pool_t *p, job_t *job);
void delivery_pool_stop(pool_t *p); /* cancels queued calls, waits for running ones, joins */

#endif
