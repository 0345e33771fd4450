/* Function calls (delivery.h): the workers that call functions through invoke.
 *
 * A call is CPU work and may take up to the function's timeout, so calls never run on
 * the delivery thread. Each destination queues its own calls; a free worker serves
 * first a destination that has nothing running ("starving"), else the one whose turn
 * it is, so destinations take turns. A starving destination with no idle worker to
 * serve it gets one more thread (up to WEFT_DELIVERY_MAX_WORKERS; it leaves after
 * IDLE_EXIT_NS without work): however slow one function is, calls to another start
 * at once, and the kernel shares the cores between them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "delivery_internal.h"

/* A worker started beyond the base leaves after this long without work. */
#define IDLE_EXIT_NS (2ull * 1000000000u)

/* ---- Turns among destinations (under the pool's lock) ------------------------------ */

static void ready_append(pool_t *p, weft_delivery_dest_t *dest) {
    weft_delivery_dest_t **pp = &p->ready;
    while (*pp)
        pp = &(*pp)->ready_next;
    *pp = dest;
    dest->ready_next = NULL;
    dest->ready = true;
}

/* Puts dest in turn if it has calls queued and room to run one more. */
static void ready_update(pool_t *p, weft_delivery_dest_t *dest) {
    if (!dest->ready && dest->queued.head && dest->running < dest->policy.parallelism)
        ready_append(p, dest);
}

static bool starving(const pool_t *p) {
    for (const weft_delivery_dest_t *d = p->ready; d; d = d->ready_next)
        if (!d->running)
            return true;
    return false;
}

/* The destination to serve next, out of the ready list. */
static weft_delivery_dest_t *ready_take(pool_t *p) {
    weft_delivery_dest_t **pick = &p->ready;
    for (weft_delivery_dest_t **pp = &p->ready; *pp; pp = &(*pp)->ready_next)
        if (!(*pp)->running) {
            pick = pp;
            break;
        }
    weft_delivery_dest_t *dest = *pick;
    if (dest) {
        *pick = dest->ready_next;
        dest->ready_next = NULL;
        dest->ready = false;
    }
    return dest;
}

/* ---- Threads ------------------------------------------------------------------------- */

static void *worker(void *arg);

/* Starts a worker (under the lock). False when none can be. */
static bool spawn(pool_t *p, bool extra) {
    if (p->nthreads >= WEFT_DELIVERY_MAX_WORKERS)
        return false;
    pool_thread_t *t = NULL;
    for (unsigned i = 0; i < WEFT_DELIVERY_MAX_WORKERS && !t; i++)
        if (!p->threads[i].used)
            t = &p->threads[i];
    for (unsigned i = 0; i < WEFT_DELIVERY_MAX_WORKERS && !t; i++)
        if (p->threads[i].done) {
            pthread_join(p->threads[i].thread, NULL);
            t = &p->threads[i];
        }
    if (!t)
        return false;
    *t = (pool_thread_t){.pool = p, .used = true, .extra = extra};
    int rc = pthread_create(&t->thread, NULL, worker, t);
    if (rc) {
        t->used = false;
        errno = rc;
        return false;
    }
    p->nthreads++;
    p->idle++; /* until it takes a call */
    return true;
}

/* Makes sure a starving destination will be served: wakes an idle worker (or counts
 * on one just started), else starts one (under the lock). */
static void serve(pool_t *p) {
    if (p->idle)
        pthread_cond_signal(&p->cond);
    else if (starving(p))
        spawn(p, true);
}

/* Calls the function for one attempt of job and reports what it ended with. hs: the
 * worker's header array (grown as needed). */
static void call(pool_t *p, job_t *job, weft_header_t **hs, size_t *cap) {
    weft_delivery_dest_t *dest = job->dest;
    const weft_delivery_request_t *rq = &job->rq;
    job->attempts++;
    attempt_result_t r = {.status = 500, .error = "out of memory"};
    weft_response_t resp = {0};
    char msg[160];
    size_t n = rq->nheaders + 1;
    if (n > *cap) {
        weft_header_t *h = realloc(*hs, n * sizeof *h);
        if (!h)
            goto report;
        *hs = h;
        *cap = n;
    }
    memcpy(*hs, rq->headers, rq->nheaders * sizeof **hs);
    n = rq->nheaders;
    if (!rq->no_reply)
        (*hs)[n++] = (weft_header_t){"Prefer", "reply"};
    weft_request_t req = {
        .method = "POST",
        .protocol = "HTTP/1.1",
        .path = dest->path,
        .remote_addr = "127.0.0.1",
        .server_name = dest->server_name,
        .server_port = dest->server_port,
        .headers = *hs,
        .nheaders = n,
        .body = rq->body,
        .body_len = rq->body_len,
    };
    weft_call_opts_t opts = {
        .budget_ns = dest->policy.timeout_ns,
        .max_response = WEFT_DELIVERY_MAX_BODY + WEFT_CGI_MAX_HEADER_BLOCK,
        .log_tag = dest->name,
    };
    weft_error_t err = {0};
    if (weft_function_call(dest->fn, &req, &opts, &resp, &err)) {
        r.error = err.msg;
    } else if (resp.outcome.end == WEFT_CALL_BUDGET) {
        snprintf(msg, sizeof msg,
                 "the function did not answer within the delivery timeout of %.3gs",
                 (double)dest->policy.timeout_ns / 1e9);
        r = (attempt_result_t){.status = 504, .error = msg};
    } else {
        r = (attempt_result_t){
            .status = resp.status,
            .error = resp.error,
            .headers = resp.headers,
            .nheaders = resp.nheaders,
            .body = resp.body,
            .body_len = resp.body_len,
        };
        if (!r.error && (r.status < 200 || r.status > 299)) {
            snprintf(msg, sizeof msg, "status %u", r.status);
            r.error = msg;
        }
    }
report:;
    pthread_mutex_lock(&p->lock);
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    if (stopping)
        delivery_cancel(job);
    else
        delivery_attempt_ended(p->d, job, &r, false);
    weft_response_free(&resp);
}

/* Stopping: reports every queued call canceled (under the lock, which it leaves and
 * takes again around the callbacks; lock order: pool, engine). */
static void drain(pool_t *p) {
    job_list_t canceled = {0};
    pthread_mutex_lock(&p->d->lock);
    for (weft_delivery_dest_t *dest = p->d->dests; dest; dest = dest->next) {
        for (job_t *j; (j = delivery_jobs_pop(&dest->queued));)
            delivery_jobs_push(&canceled, j);
        dest->ready = false;
        dest->ready_next = NULL;
    }
    pthread_mutex_unlock(&p->d->lock);
    p->ready = NULL;
    if (!canceled.head)
        return;
    pthread_mutex_unlock(&p->lock);
    for (job_t *j; (j = delivery_jobs_pop(&canceled));)
        delivery_cancel(j);
    pthread_mutex_lock(&p->lock);
}

static void *worker(void *arg) {
    pool_thread_t *t = arg;
    pool_t *p = t->pool;
    weft_crash_thread("events");
    weft_header_t *hs = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) { /* idle (counted in p->idle since spawn) at the top */
        weft_delivery_dest_t *dest = ready_take(p);
        if (!dest) {
            int rc = 0;
            if (t->extra) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += (time_t)(IDLE_EXIT_NS / 1000000000u);
                rc = pthread_cond_timedwait(&p->cond, &p->lock, &until);
            } else {
                pthread_cond_wait(&p->cond, &p->lock);
            }
            if (rc == ETIMEDOUT && !p->ready)
                break;
            continue;
        }
        p->idle--;
        job_t *job = delivery_jobs_pop(&dest->queued);
        dest->running++;
        ready_update(p, dest);
        if (p->ready)
            serve(p); /* more work: another worker for it */
        pthread_mutex_unlock(&p->lock);
        weft_crash_task(dest->name, job->attempts + 1);
        call(p, job, &hs, &cap);
        weft_crash_task(NULL, 0);
        pthread_mutex_lock(&p->lock);
        dest->running--;
        ready_update(p, dest);
        p->idle++;
    }
    if (p->stopping) /* the queued calls are canceled here, on an engine thread */
        drain(p);
    p->idle--;
    p->nthreads--;
    t->done = true;
    pthread_mutex_unlock(&p->lock);
    free(hs);
    return NULL;
}

/* ---- The pool ------------------------------------------------------------------------- */

int delivery_pool_start(pool_t *p, weft_delivery_t *d, unsigned workers, weft_error_t *err) {
    memset(p, 0, sizeof *p);
    p->d = d;
    if (!workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    if (workers > WEFT_DELIVERY_MAX_WORKERS)
        workers = WEFT_DELIVERY_MAX_WORKERS;
    p->base = workers;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_mutex_lock(&p->lock);
    bool ok = true;
    for (unsigned i = 0; i < workers && ok; i++)
        ok = spawn(p, false);
    pthread_mutex_unlock(&p->lock);
    if (!ok) {
        delivery_pool_stop(p);
        return weft_error_set(err, WEFT_EIO, "delivery: cannot start its workers: %s",
                              strerror(errno));
    }
    return 0;
}

int delivery_pool_push(pool_t *p, job_t *job) {
    weft_delivery_dest_t *dest = job->dest;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return WEFT_ECANCELED;
    }
    delivery_jobs_push(&dest->queued, job);
    ready_update(p, dest);
    serve(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void delivery_pool_stop(pool_t *p) {
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    /* The workers cancel the queued calls as they leave (once their running call is
     * done), so that callbacks run on the engine's threads, not the caller's. */
    for (unsigned i = 0; i < WEFT_DELIVERY_MAX_WORKERS; i++)
        if (p->threads[i].used) {
            pthread_join(p->threads[i].thread, NULL);
            p->threads[i].used = false;
        }
    pthread_mutex_lock(&p->lock);
    drain(p); /* nothing, unless no worker ever started */
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}
