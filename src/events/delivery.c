/* The delivery engine (delivery.h): the retry policy, the jobs, and the delivery thread,
 * which owns the curl multi handle (driven through epoll and curl's socket API) and
 * the timers of the retries waiting for their backoff. URL attempts are
 * delivery_http.c's, function calls delivery_pool.c's. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "delivery_internal.h"

/* ---- Policy ------------------------------------------------------------------------ */

bool weft_delivery_retryable(unsigned status) {
    /* The data-plane contract's table: 404, 409, 429 and 5xx, and codes it does not
     * name beyond 5xx; 408 as Knative's dispatcher adds it. */
    return status == 0 || status == 404 || status == 408 || status == 409 || status == 429 ||
           status >= 500;
}

uint64_t weft_delivery_backoff_ns(const weft_delivery_policy_t *p, uint32_t n) {
    uint64_t delay = p->backoff_delay_ns;
    if (!delay)
        return 0;
    if (p->backoff_policy == WEFT_BACKOFF_LINEAR)
        return n && delay > UINT64_MAX / n ? UINT64_MAX : delay * n;
    if (n >= 64 || delay > (UINT64_MAX >> n))
        return UINT64_MAX;
    return delay << n;
}

bool weft_delivery_retry_after_ns(const char *value, int64_t now_s, uint64_t *wait_ns) {
    while (*value == ' ' || *value == '\t')
        value++;
    size_t digits = strspn(value, "0123456789");
    if (digits && value[digits + strspn(value + digits, " \t")] == 0) {
        /* delta-seconds (RFC 9110 10.2.3), saturating. */
        uint64_t s = 0;
        for (size_t i = 0; i < digits && s <= UINT64_MAX / 1000000000u; i++)
            s = s * 10 + (uint64_t)(value[i] - '0');
        *wait_ns = s > UINT64_MAX / 1000000000u ? UINT64_MAX : s * 1000000000u;
        return true;
    }
    if (digits == strlen(value)) /* empty, or digits cut by something else */
        return false;
    time_t t = curl_getdate(value, NULL);
    if (t == -1)
        return false;
    *wait_ns = (int64_t)t > now_s ? (uint64_t)((int64_t)t - now_s) * 1000000000u : 0;
    return true;
}

uint64_t weft_delivery_wait_ns(const weft_delivery_policy_t *p, uint32_t n, unsigned status,
                               const char *retry_after, int64_t now_s) {
    uint64_t wait = weft_delivery_backoff_ns(p, n);
    uint64_t asked;
    if ((status == 429 || status == 503) && retry_after && p->retry_after_max_ns &&
        weft_delivery_retry_after_ns(retry_after, now_s, &asked)) {
        if (asked > p->retry_after_max_ns)
            asked = p->retry_after_max_ns;
        if (asked > wait)
            wait = asked;
    }
    return wait;
}

/* ---- Jobs ---------------------------------------------------------------------------- */

void delivery_jobs_push(job_list_t *l, job_t *j) {
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

job_t *delivery_jobs_pop(job_list_t *l) {
    job_t *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        j->next = NULL;
    }
    return j;
}

const char *delivery_header(const weft_header_t *hs, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(hs[i].name, name))
            return hs[i].value;
    return NULL;
}

static void report(job_t *job, weft_delivery_result_t result, const attempt_result_t *r) {
    weft_delivery_outcome_t o = {
        .result = result,
        .attempts = job->attempts,
        .dest = job->dest->name,
    };
    if (r && result != WEFT_DELIVERY_CANCELED) {
        o.status = r->status;
        o.error = result == WEFT_DELIVERY_DELIVERED ? NULL : r->error;
        o.headers = r->headers;
        o.nheaders = r->nheaders;
        o.body = r->body;
        o.body_len = r->body_len;
    } else if (result == WEFT_DELIVERY_CANCELED) {
        o.error = "canceled: weft is stopping";
    }
    job->rq.done(job->rq.arg, &o);
    free(job);
}

void delivery_cancel(job_t *job) {
    report(job, WEFT_DELIVERY_CANCELED, NULL);
}

/* ---- Timers: a binary min-heap of jobs by due_ns ------------------------------------ */

static void heap_set(weft_delivery_t *d, size_t i, job_t *j) {
    d->heap[i] = j;
    j->heap_i = i;
}

static int heap_push(weft_delivery_t *d, job_t *j) {
    if (d->nheap == d->heap_cap) {
        size_t cap = d->heap_cap ? d->heap_cap * 2 : 256;
        job_t **h = realloc(d->heap, cap * sizeof *h);
        if (!h)
            return WEFT_ENOMEM;
        d->heap = h;
        d->heap_cap = cap;
    }
    size_t i = d->nheap++;
    while (i && d->heap[(i - 1) / 2]->due_ns > j->due_ns) {
        heap_set(d, i, d->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(d, i, j);
    return 0;
}

static job_t *heap_pop(weft_delivery_t *d) {
    job_t *top = d->heap[0];
    job_t *last = d->heap[--d->nheap];
    size_t i = 0, n = d->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && d->heap[c + 1]->due_ns < d->heap[c]->due_ns)
            c++;
        if (d->heap[c]->due_ns >= last->due_ns)
            break;
        heap_set(d, i, d->heap[c]);
        i = c;
    }
    if (n)
        heap_set(d, i, last);
    return top;
}

/* ---- Attempts ------------------------------------------------------------------------ */

/* On the delivery thread: a job whose attempt may start now. */
static void attempt(weft_delivery_t *d, job_t *job) {
    if (job->dest->is_function) {
        if (delivery_pool_push(&d->pool, job))
            delivery_cancel(job);
    } else {
        delivery_http_start(d, job);
    }
}

/* Hands a job to the delivery thread (new, or a retry at due_ns). */
static int inbox_push(weft_delivery_t *d, job_t *job) {
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        return WEFT_ECANCELED;
    }
    bool wake = !d->inbox.head;
    delivery_jobs_push(&d->inbox, job);
    pthread_mutex_unlock(&d->lock);
    if (wake) {
        uint64_t one = 1;
        while (write(d->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    return 0;
}

void delivery_attempt_ended(weft_delivery_t *d, job_t *job, const attempt_result_t *r,
                            bool on_thread) {
    const weft_delivery_policy_t *p = &job->dest->policy;
    if (r->status >= 200 && r->status < 300 && !r->permanent) {
        report(job, WEFT_DELIVERY_DELIVERED, r);
        return;
    }
    if (r->permanent || !weft_delivery_retryable(r->status) || job->attempts > p->retry) {
        report(job, WEFT_DELIVERY_FAILED, r);
        return;
    }
    const char *retry_after = delivery_header(r->headers, r->nheaders, "Retry-After");
    uint64_t wait = weft_delivery_wait_ns(p, job->attempts, r->status, retry_after, time(NULL));
    uint64_t now = weft_now_ns();
    job->due_ns = wait > UINT64_MAX - now ? UINT64_MAX : now + wait;
    int rc = on_thread ? heap_push(d, job) : inbox_push(d, job);
    if (rc == WEFT_ENOMEM)
        weft_log("delivery to %s: no memory for a retry's timer: canceled (not acknowledged, "
                 "it is delivered again after a restart)",
                 job->dest->name);
    if (rc)
        delivery_cancel(job);
}

/* ---- The delivery thread --------------------------------------------------------------- */

/* Milliseconds until the first of curl's timeout and the first retry (rounded up, so
 * that a timer never fires early); -1: nothing to wait for. */
static int next_wait_ms(weft_delivery_t *d) {
    uint64_t due = UINT64_MAX;
    if (d->curl_due_ns >= 0)
        due = (uint64_t)d->curl_due_ns;
    if (d->nheap && d->heap[0]->due_ns < due)
        due = d->heap[0]->due_ns;
    if (due == UINT64_MAX)
        return -1;
    uint64_t now = weft_now_ns();
    if (due <= now)
        return 0;
    uint64_t ms = (due - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void *run(void *arg) {
    weft_delivery_t *d = arg;
    weft_crash_thread("delivery");
    struct epoll_event evs[128];
    job_list_t inbox = {0};
    for (;;) {
        int n = epoll_wait(d->epfd, evs, 128, next_wait_ms(d));
        bool woken = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == d->wake_fd) {
                uint64_t v;
                while (read(d->wake_fd, &v, sizeof v) < 0 && errno == EINTR)
                    ;
                woken = true;
            } else {
                delivery_http_socket(d, evs[i].data.fd, evs[i].events);
            }
        }
        if (woken) {
            pthread_mutex_lock(&d->lock);
            inbox = d->inbox;
            d->inbox = (job_list_t){0};
            bool stopping = d->stopping;
            pthread_mutex_unlock(&d->lock);
            if (stopping)
                break;
            for (job_t *j; (j = delivery_jobs_pop(&inbox));) {
                if (j->due_ns > weft_now_ns()) {
                    if (heap_push(d, j)) {
                        weft_log("delivery to %s: no memory for a retry's timer: canceled",
                                 j->dest->name);
                        delivery_cancel(j);
                    }
                } else {
                    attempt(d, j);
                }
            }
        }
        uint64_t now = weft_now_ns();
        while (d->nheap && d->heap[0]->due_ns <= now)
            attempt(d, heap_pop(d));
        if (d->curl_due_ns >= 0 && (uint64_t)d->curl_due_ns <= weft_now_ns())
            delivery_http_timeout(d);
        delivery_http_completions(d);
    }
    /* Stopping: everything not reported yet is canceled. */
    for (job_t *j; (j = delivery_jobs_pop(&inbox));)
        delivery_cancel(j);
    delivery_http_cancel_all(d);
    while (d->nheap)
        delivery_cancel(heap_pop(d));
    return NULL;
}

/* ---- The API ------------------------------------------------------------------------- */

int weft_delivery_start(const weft_delivery_opts_t *opts, weft_delivery_t **out,
                        weft_error_t *err) {
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return weft_error_set(err, WEFT_EIO, "delivery: libcurl could not be initialized");
    int rc = WEFT_ENOMEM;
    weft_delivery_t *d = calloc(1, sizeof *d);
    if (!d) {
        weft_error_set(err, rc, "delivery: out of memory");
        goto fail_curl;
    }
    d->wake_fd = d->epfd = -1;
    d->curl_due_ns = -1;
    pthread_mutex_init(&d->lock, NULL);
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = d->wake_fd};
    if (d->wake_fd < 0 || d->epfd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wake_fd, &ev)) {
        rc = weft_error_set(err, WEFT_EIO, "delivery: cannot set up its event loop: %s",
                            strerror(errno));
        goto fail_fds;
    }
    if ((rc = delivery_http_init(d, err)))
        goto fail_http;
    if ((rc = delivery_pool_start(&d->pool, d, opts ? opts->workers : 0, err)))
        goto fail_http;
    if ((errno = pthread_create(&d->thread, NULL, run, d))) {
        rc =
            weft_error_set(err, WEFT_EIO, "delivery: cannot start its thread: %s", strerror(errno));
        goto fail_pool;
    }
    *out = d;
    return 0;

fail_pool:
    delivery_pool_stop(&d->pool);
fail_http:
    delivery_http_free(d);
fail_fds:
    if (d->epfd >= 0)
        close(d->epfd);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    pthread_mutex_destroy(&d->lock);
    free(d);
fail_curl:
    curl_global_cleanup();
    return rc;
}

static void dest_free(weft_delivery_dest_t *dest) {
    free(dest->name);
    free(dest->path);
    free(dest->server_name);
    free(dest->server_port);
    free(dest);
}

void weft_delivery_stop(weft_delivery_t *d) {
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_mutex_unlock(&d->lock);
    /* The workers take no more calls from now on. */
    pthread_mutex_lock(&d->pool.lock);
    d->pool.stopping = true;
    pthread_cond_broadcast(&d->pool.cond);
    pthread_mutex_unlock(&d->pool.lock);
    uint64_t one = 1;
    while (write(d->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(d->thread, NULL);
    /* The queued calls are canceled, the running ones waited for. */
    delivery_pool_stop(&d->pool);
    delivery_http_free(d);
    for (weft_delivery_dest_t *dest = d->dests, *next; dest; dest = next) {
        next = dest->next;
        dest_free(dest);
    }
    free(d->heap);
    close(d->epfd);
    close(d->wake_fd);
    pthread_mutex_destroy(&d->lock);
    free(d);
    curl_global_cleanup();
}

static weft_delivery_dest_t *dest_new(weft_delivery_t *d, const weft_delivery_policy_t *p,
                                      const char *name) {
    weft_delivery_dest_t *dest = calloc(1, sizeof *dest);
    if (!dest || !(dest->name = strdup(name))) {
        free(dest);
        return NULL;
    }
    dest->d = d;
    if (p)
        dest->policy = *p;
    if (!dest->policy.parallelism)
        dest->policy.parallelism = WEFT_DELIVERY_PARALLELISM_DEFAULT;
    return dest;
}

static void dest_add(weft_delivery_t *d, weft_delivery_dest_t *dest) {
    pthread_mutex_lock(&d->lock);
    dest->next = d->dests;
    d->dests = dest;
    pthread_mutex_unlock(&d->lock);
}

int weft_delivery_dest_url(weft_delivery_t *d, const char *url, const weft_delivery_policy_t *p,
                           weft_delivery_dest_t **out, weft_error_t *err) {
    *out = NULL;
    CURLU *u = curl_url();
    if (!u)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    char *scheme = NULL;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    int rc = 0;
    if (uc)
        rc = weft_error_set(err, WEFT_EINVAL, "url '%s': %s", url, curl_url_strerror(uc));
    else if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))
        rc = weft_error_set(err, WEFT_EINVAL,
                            "url '%s': events are delivered over http or https, not %s", url,
                            scheme);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (rc)
        return rc;
    weft_delivery_dest_t *dest = dest_new(d, p, url);
    if (!dest)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    if (!dest->policy.timeout_ns)
        dest->policy.timeout_ns = WEFT_DELIVERY_TIMEOUT_DEFAULT;
    dest_add(d, dest);
    *out = dest;
    return 0;
}

int weft_delivery_dest_function(weft_delivery_t *d, const weft_delivery_function_t *f,
                                const weft_delivery_policy_t *p, weft_delivery_dest_t **out,
                                weft_error_t *err) {
    *out = NULL;
    if (!f || !f->fn)
        return weft_error_set(err, WEFT_EINVAL,
                              "delivery: a function destination needs a function");
    const char *name = f->name ? f->name : weft_function_def(f->fn)->name;
    weft_delivery_dest_t *dest = dest_new(d, p, name);
    if (!dest)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    dest->is_function = true;
    dest->fn = f->fn;
    dest->path = strdup(f->path ? f->path : "/");
    dest->server_name = strdup(f->server_name ? f->server_name : "localhost");
    dest->server_port = strdup(f->server_port ? f->server_port : "80");
    if (!dest->path || !dest->server_name || !dest->server_port) {
        dest_free(dest);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    dest_add(d, dest);
    *out = dest;
    return 0;
}

/* A header curl or a CGI environment could not carry as given. */
static bool header_ok(const weft_header_t *h) {
    size_t n = h->name ? strlen(h->name) : 0;
    return n && strcspn(h->name, ":\r\n \t") == n &&
           (!h->value || !h->value[strcspn(h->value, "\r\n")]);
}

int weft_delivery_submit(weft_delivery_dest_t *dest, const weft_delivery_request_t *rq,
                         weft_error_t *err) {
    if (!rq->done)
        return weft_error_set(err, WEFT_EINVAL, "delivery to %s: no callback", dest->name);
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!header_ok(&rq->headers[i]))
            return weft_error_set(err, WEFT_EINVAL,
                                  "delivery to %s: header %zu ('%.64s') cannot be sent: an empty "
                                  "name, or a line break or ':' where none may be",
                                  dest->name, i + 1,
                                  rq->headers[i].name ? rq->headers[i].name : "");
    job_t *job = malloc(sizeof *job);
    if (!job)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    *job = (job_t){.dest = dest, .rq = *rq};
    weft_delivery_t *d = dest->d;
    int rc = dest->is_function ? delivery_pool_push(&d->pool, job) : inbox_push(d, job);
    if (rc) {
        free(job);
        return weft_error_set(err, rc, "delivery to %s: weft is stopping", dest->name);
    }
    return 0;
}
