/* pool: the worker threads that run guests.
 *
 * Why guests do not run on the server's I/O threads: an I/O thread multiplexes many
 * connections, so a guest running on it would stall all of them, and a
 * thread per connection would tie a thread to every idle keep-alive connection and
 * put no bound on how many guests run at once. Instead the I/O thread hands the
 * request here, and the worker sends it back with the answer (server.c).
 *
 * How many threads: a guest that computes gains nothing from more threads than
 * cores, and every extra one costs context switches and lock contention on the
 * request path (measured in bench/README.md: 64 threads on 2 cores spent 40% of
 * weft's CPU in futex calls). A guest that waits (sleep, outbound HTTP) needs another
 * thread to keep the others moving. So:
 *
 *  - up to one thread per core ("hot") is started as soon as a request finds no idle
 *    worker;
 *  - beyond that a manager thread adds one only when requests have waited
 *    WEFT_POOL_STALL_NS and no worker has finished one in that time either: the
 *    pool is stalled on waiting guests, not busy with computing ones;
 *  - up to the configured maximum; threads are then kept (starting one costs a signal
 *    stack and a timer in the engine, which a request should not pay).
 *
 * A request goes straight to an idle worker when there is one, the most recently idle
 * first (its stack and caches are warm, and the others stay asleep); otherwise it
 * waits in FIFO order and the next worker to finish takes it without sleeping.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long requests wait with no progress before the pool grows past the cores. */
#define WEFT_POOL_STALL_NS 5000000ull

static void take_job(pool_t *p, request_t **rq) {
    *rq = p->head;
    p->head = (*rq)->next;
    if (!p->head)
        p->tail = NULL;
    p->busy++;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    pool_t *p = w->pool;
    /* Workers inherit the mask of whichever thread started them (an I/O thread). The
     * engine's deadline signal must reach them; process signals must not. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    weft_crash_thread("worker");
    pthread_mutex_lock(&p->lock);
    for (;;) {
        request_t *rq = w->job; /* counted in busy by whoever handed it over */
        w->job = NULL;
        if (!rq && p->head)
            take_job(p, &rq);
        if (!rq) {
            if (p->stopping)
                break;
            w->next_idle = p->idle;
            p->idle = w;
            while (!w->job && !p->stopping)
                pthread_cond_wait(&w->wake, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        p->run(rq);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        p->last_done_ns = weft_now_ns();
        if (!p->busy && !p->head)
            pthread_cond_broadcast(&p->drained);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts one more worker; called with the lock held. */
static int start_worker(pool_t *p) {
    if (p->nthreads == p->max)
        return WEFT_ELIMIT;
    worker_t *w = &p->workers[p->nthreads];
    w->pool = p;
    w->job = NULL;
    pthread_cond_init(&w->wake, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WEFT_GATEWAY_GUEST_STACK_BYTES);
    int e = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (e) {
        pthread_cond_destroy(&w->wake);
        return WEFT_ENOMEM;
    }
    p->nthreads++;
    return 0;
}

static void deadline_in(struct timespec *ts, uint64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000u);
    ts->tv_nsec += (long)(ns % 1000000000u);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Grows the pool past the hot threads when it is stalled (see the top). */
static void *manager_main(void *arg) {
    pool_t *p = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    weft_crash_thread("pool manager");
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        if (!p->head || p->idle || p->nthreads == p->max) {
            pthread_cond_wait(&p->starving, &p->lock);
            continue;
        }
        struct timespec ts;
        deadline_in(&ts, WEFT_POOL_STALL_NS);
        pthread_cond_timedwait(&p->starving, &p->lock, &ts);
        uint64_t now = weft_now_ns();
        if (p->head && !p->idle && now - p->head->queued_ns >= WEFT_POOL_STALL_NS &&
            now - p->last_done_ns >= WEFT_POOL_STALL_NS)
            start_worker(p); /* on failure, the ones there will get to it */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int weft_pool_init(pool_t *p, size_t max, void (*run)(request_t *rq)) {
    p->workers = calloc(max, sizeof *p->workers);
    if (!p->workers)
        return WEFT_ENOMEM;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    p->hot = cores > 0 ? (size_t)cores : 1;
    if (p->hot > max)
        p->hot = max;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->drained, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->starving, &ca);
    pthread_condattr_destroy(&ca);
    p->max = max;
    p->run = run;
    return 0;
}

int weft_pool_submit(pool_t *p, request_t *rq) {
    int rc = 0;
    rq->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->idle) {
        worker_t *w = p->idle;
        p->idle = w->next_idle;
        w->job = rq;
        p->busy++;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    bool was_empty = !p->head;
    rq->queued_ns = weft_now_ns();
    if (p->tail)
        p->tail->next = rq;
    else
        p->head = rq;
    p->tail = rq;
    if (p->nthreads < p->hot) {
        if (start_worker(p) && p->nthreads == 0)
            rc = WEFT_ENOMEM; /* nobody would ever run it */
    } else if (p->nthreads < p->max) {
        if (!p->has_manager && pthread_create(&p->manager, NULL, manager_main, p) == 0)
            p->has_manager = true;
        if (was_empty)
            pthread_cond_signal(&p->starving);
    }
    if (rc) { /* take it back out: it is the only one queued, as no thread exists */
        p->head = p->tail = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void weft_pool_drain(pool_t *p) {
    if (!p->workers)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->head || p->busy)
        pthread_cond_wait(&p->drained, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void weft_pool_destroy(pool_t *p) {
    if (!p->workers)
        return;
    weft_pool_drain(p);
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_cond_signal(&p->workers[i].wake);
    pthread_cond_signal(&p->starving);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->nthreads; i++) {
        pthread_join(p->workers[i].thread, NULL);
        pthread_cond_destroy(&p->workers[i].wake);
    }
    if (p->has_manager)
        pthread_join(p->manager, NULL);
    free(p->workers);
    p->workers = NULL;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->drained);
    pthread_cond_destroy(&p->starving);
}
