/* pool: the worker threads that run guests.
 *
 * Why our own pool and not libmicrohttpd's threads: an MHD thread multiplexes many
 * connections, so a guest running on it would stall all of them, and MHD's
 * thread-per-connection mode would tie a thread to every idle keep-alive connection
 * and put no bound on how many guests run at once. Instead the MHD thread suspends
 * the connection, hands the request here, and a worker resumes it with the response.
 *
 * Threads are started on demand (when a request arrives and none is idle) up to the
 * configured bound, and then kept: starting one costs a signal stack and a timer in
 * the engine, which a request should not pay. Past the bound requests wait in FIFO
 * order.
 */
#include <signal.h>
#include <stdlib.h>

#include "internal.h"

static void *worker_main(void *arg) {
    pool_t *p = arg;
    /* Workers inherit the mask of whichever thread started them (an MHD thread). The
     * engine's deadline signal must reach them; process signals must not. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->wake, &p->lock);
            p->idle--;
        }
        if (!p->head)
            break;
        request_t *rq = p->head;
        p->head = rq->next;
        if (!p->head)
            p->tail = NULL;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        p->run(rq);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        if (!p->busy && !p->head)
            pthread_cond_broadcast(&p->idle_cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int weft_pool_init(pool_t *p, size_t max, void (*run)(request_t *rq)) {
    p->threads = calloc(max, sizeof *p->threads);
    if (!p->threads)
        return WEFT_ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    p->max = max;
    p->run = run;
    return 0;
}

int weft_pool_submit(pool_t *p, request_t *rq) {
    int rc = 0;
    rq->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = rq;
    else
        p->head = rq;
    p->tail = rq;
    if (p->idle == 0 && p->nthreads < p->max) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        /* Guests' native code runs on this stack: give it room (wasm2c code recurses
         * as deeply as the guest does; the engine turns overflow into a trap). */
        pthread_attr_setstacksize(&attr, 8u << 20);
        if (pthread_create(&p->threads[p->nthreads], &attr, worker_main, p) == 0)
            p->nthreads++;
        else if (p->nthreads == 0)
            rc = WEFT_ENOMEM; /* nobody would ever run it */
        pthread_attr_destroy(&attr);
    }
    if (rc) {
        /* Take it back out: it is the tail, and nothing ran since it was queued. */
        request_t **pp = &p->head;
        while (*pp != rq)
            pp = &(*pp)->next;
        *pp = NULL;
        p->tail = NULL;
        for (request_t *q = p->head; q; q = q->next)
            p->tail = q;
    } else {
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void weft_pool_drain(pool_t *p) {
    pthread_mutex_lock(&p->lock);
    while (p->head || p->busy)
        pthread_cond_wait(&p->idle_cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void weft_pool_destroy(pool_t *p) {
    if (!p->threads)
        return;
    weft_pool_drain(p);
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    p->threads = NULL;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle_cv);
}
