/* URL attempts (delivery.h): HTTP/1.1 POSTs through the delivery thread's curl multi
 * handle, driven by epoll through curl's socket API. Everything here runs on the
 * delivery thread.
 *
 * An attempt borrows a slot: an easy handle with the buffers its request and response
 * need, kept for the next attempt once this one is reported, so that a steady stream
 * of deliveries allocates nothing per request (curl's own connection cache, in the
 * multi handle, keeps the connections alive across slots and destinations). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "delivery_internal.h"

/* Idle connections curl keeps open, over every destination. */
#define MAX_IDLE_CONNECTIONS 1024
/* A slot's buffer larger than this after an attempt is freed rather than kept. */
#define SLOT_KEEP_BYTES (256u << 10)

struct slot {
    CURL *easy;
    slot_t *next_all, *next_free;
    job_t *job;       /* NULL: free */
    weft_buf_t head;  /* the response's header lines as received */
    weft_buf_t body;  /* the response's body */
    weft_buf_t lines; /* the request's header lines, each NUL-terminated */
    struct curl_slist *nodes;
    size_t nodes_cap;
    weft_header_t *hdrs; /* the response's headers, pointing into head */
    size_t hdrs_cap;
    bool body_over, head_over;
    char errbuf[CURL_ERROR_SIZE];
    char msg[160];
};

/* ---- The multi handle and the event loop -------------------------------------------- */

/* What the epoll set holds for a socket, kept so that a connection going back to curl's
 * cache and out of it again costs no system call: curl drops a socket from its
 * interest (CURL_POLL_REMOVE) after every response, and asks for it again with the
 * next request on that connection. A connection's socket (one curl opened and will
 * close through on_open and on_close, which keep this table right when a number is
 * used again) stays in the set while curl does not want it, until it reports an event
 * (the server closing an idle connection): it leaves the set then. Any other socket
 * (the resolver's) leaves the set as soon as curl drops it. */
static fd_state_t *fd_state(weft_delivery_t *d, int fd) {
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= d->nfds) {
        size_t n = d->nfds ? d->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        fd_state_t *f = realloc(d->fds, n * sizeof *f);
        if (!f)
            return NULL;
        memset(f + d->nfds, 0, (n - d->nfds) * sizeof *f);
        d->fds = f;
        d->nfds = n;
    }
    return &d->fds[fd];
}

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
    weft_delivery_t *d = arg;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    fd_state_t *st = fd_state(d, fd);
    if (st)
        *st = (fd_state_t){.conn = true};
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int on_close(void *arg, curl_socket_t fd) {
    weft_delivery_t *d = arg;
    if (fd >= 0 && (size_t)fd < d->nfds)
        d->fds[fd] = (fd_state_t){0}; /* the kernel drops it from the set */
    return close(fd);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socketp) {
    weft_delivery_t *d = arg;
    fd_state_t *st = fd_state(d, fd);
    if (what == CURL_POLL_REMOVE) {
        if (st && st->conn) {
            st->wanted = false;
        } else {
            epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
            if (st)
                st->in_set = st->wanted = false;
        }
        return 0;
    }
    if (!st)
        return -1;
    uint32_t mask = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    st->wanted = true;
    if (st->in_set && st->mask == mask)
        return 0;
    struct epoll_event ev = {.events = mask, .data.fd = fd};
    int op = st->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(d->epfd, op, fd, &ev)) {
        op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
        if (op < 0 || epoll_ctl(d->epfd, op, fd, &ev))
            return -1;
    }
    st->in_set = true;
    st->mask = mask;
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *arg) {
    weft_delivery_t *d = arg;
    d->curl_due_ns =
        timeout_ms < 0 ? -1 : (int64_t)(weft_now_ns() + (uint64_t)timeout_ms * 1000000u);
    return 0;
}

int delivery_http_init(weft_delivery_t *d, weft_error_t *err) {
    if (!(d->multi = curl_multi_init()))
        return weft_error_set(err, WEFT_ENOMEM, "delivery: cannot create a curl multi handle");
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)MAX_IDLE_CONNECTIONS);
    /* TLS sessions resumed across slots (the multi handle shares connections and DNS
     * answers already); one thread uses it, so no locks. */
    if (!(d->share = curl_share_init()))
        return weft_error_set(err, WEFT_ENOMEM, "delivery: cannot create a curl share handle");
    curl_share_setopt(d->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void delivery_http_socket(weft_delivery_t *d, int fd, uint32_t events) {
    if ((size_t)fd < d->nfds && !d->fds[fd].wanted) { /* idle: see fd_state */
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
        d->fds[fd].in_set = false;
        return;
    }
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(d->multi, fd, flags, &running);
}

void delivery_http_timeout(weft_delivery_t *d) {
    d->curl_due_ns = -1; /* curl sets the next one from inside the call */
    int running;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* ---- Slots ------------------------------------------------------------------------------ */

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    slot_t *s = arg;
    size_t len = size * n;
    if (len >= 5 && !memcmp(p, "HTTP/", 5))
        s->head.len = 0; /* a new response: what came before was a 1xx */
    if (s->head.len + len > WEFT_DELIVERY_MAX_HEADER_BYTES || weft_buf_append(&s->head, p, len)) {
        s->head_over = true;
        return 0;
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    slot_t *s = arg;
    size_t len = size * n;
    if (s->body.len + len > WEFT_DELIVERY_MAX_BODY) {
        weft_buf_append(&s->body, p, WEFT_DELIVERY_MAX_BODY - s->body.len);
        s->body_over = true;
        return 0;
    }
    if (weft_buf_append(&s->body, p, len)) {
        s->body_over = true;
        return 0;
    }
    return len;
}

static slot_t *slot_get(weft_delivery_t *d) {
    slot_t *s = d->free_slots;
    if (s) {
        d->free_slots = s->next_free;
        return s;
    }
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    if (!(s->easy = curl_easy_init())) {
        free(s);
        return NULL;
    }
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, d);
    curl_easy_setopt(e, CURLOPT_SHARE, d->share);
    s->next_all = d->slots;
    d->slots = s;
    return s;
}

static void buf_recycle(weft_buf_t *b) {
    if (b->cap > SLOT_KEEP_BYTES)
        weft_buf_free(b);
    b->len = 0;
}

static void slot_put(weft_delivery_t *d, slot_t *s) {
    s->job = NULL;
    buf_recycle(&s->head);
    buf_recycle(&s->body);
    buf_recycle(&s->lines);
    s->next_free = d->free_slots;
    d->free_slots = s;
}

/* One request header line into s->lines; its offset is kept in the node until the
 * buffer stops moving. */
static int add_line(slot_t *s, size_t i, const char *name, const char *value) {
    s->nodes[i].data = (char *)(uintptr_t)s->lines.len;
    int rc = weft_buf_puts(&s->lines, name);
    if (!rc) /* curl sends "Name;" as a header with an empty value, "Name:" not at all */
        rc = weft_buf_puts(&s->lines, value && *value ? ": " : (value ? ";" : ":"));
    if (!rc && value)
        rc = weft_buf_puts(&s->lines, value);
    if (!rc)
        rc = weft_buf_append(&s->lines, "", 1);
    return rc;
}

/* The request's header list, in s's buffers: the caller's headers, `Prefer: reply`,
 * and what keeps curl from adding its own (Expect, a form Content-Type). */
static int build_headers(slot_t *s, const job_t *job) {
    const weft_delivery_request_t *rq = &job->rq;
    size_t want = rq->nheaders + 3;
    if (want > s->nodes_cap) {
        struct curl_slist *nodes = realloc(s->nodes, want * sizeof *nodes);
        if (!nodes)
            return WEFT_ENOMEM;
        s->nodes = nodes;
        s->nodes_cap = want;
    }
    size_t n = 0;
    int rc = 0;
    bool has_type = false;
    for (size_t i = 0; i < rq->nheaders && !rc; i++) {
        has_type = has_type || !strcasecmp(rq->headers[i].name, "Content-Type");
        rc =
            add_line(s, n++, rq->headers[i].name, rq->headers[i].value ? rq->headers[i].value : "");
    }
    if (!rc && !rq->no_reply)
        rc = add_line(s, n++, "Prefer", "reply");
    if (!rc)
        rc = add_line(s, n++, "Expect", NULL);
    if (!rc && !has_type)
        rc = add_line(s, n++, "Content-Type", NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        s->nodes[i].data = (char *)s->lines.data + (uintptr_t)s->nodes[i].data;
        s->nodes[i].next = i + 1 < n ? &s->nodes[i + 1] : NULL;
    }
    return 0;
}

/* Cuts s->head into headers (names and values NUL-terminated in place). */
static size_t parse_headers(slot_t *s) {
    size_t n = 0;
    char *p = (char *)s->head.data, *end = p + s->head.len;
    while (p && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *line = p;
        p = nl ? nl + 1 : NULL;
        if (eol > line && eol[-1] == '\r')
            eol--;
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line || (eol - line >= 5 && !memcmp(line, "HTTP/", 5)))
            continue;
        if (n == s->hdrs_cap) {
            size_t cap = s->hdrs_cap ? s->hdrs_cap * 2 : 32;
            weft_header_t *h = realloc(s->hdrs, cap * sizeof *h);
            if (!h)
                break;
            s->hdrs = h;
            s->hdrs_cap = cap;
        }
        char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
            eol--;
        *colon = 0;
        *eol = 0;
        s->hdrs[n++] = (weft_header_t){.name = line, .value = v};
    }
    return n;
}

/* ---- Attempts ------------------------------------------------------------------------- */

static void start_failed(weft_delivery_t *d, job_t *job, const char *why) {
    attempt_result_t r = {.status = 0, .error = why};
    delivery_attempt_ended(d, job, &r, true);
}

void delivery_http_start(weft_delivery_t *d, job_t *job) {
    weft_delivery_dest_t *dest = job->dest;
    if (dest->inflight >= dest->policy.parallelism) {
        delivery_jobs_push(&dest->waiting, job);
        return;
    }
    job->attempts++;
    slot_t *s = slot_get(d);
    if (!s) {
        start_failed(d, job, "out of memory");
        return;
    }
    if (build_headers(s, job)) {
        slot_put(d, s);
        start_failed(d, job, "out of memory");
        return;
    }
    s->job = job;
    s->errbuf[0] = 0;
    s->body_over = s->head_over = false;
    uint64_t ms = (dest->policy.timeout_ns + 999999) / 1000000;
    long timeout_ms = ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)ms;
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, dest->name);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->nodes);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->rq.body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->rq.body_len ? (const char *)job->rq.body : "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    CURLMcode mc = curl_multi_add_handle(d->multi, e);
    if (mc != CURLM_OK) {
        slot_put(d, s);
        start_failed(d, job, curl_multi_strerror(mc));
        return;
    }
    dest->inflight++;
}

/* Reports the attempt s ran, which ended with res, and frees s for the next. */
static void finish(weft_delivery_t *d, slot_t *s, CURLcode res) {
    job_t *job = s->job;
    weft_delivery_dest_t *dest = job->dest;
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    attempt_result_t r = {.status = (unsigned)code};
    if (res == CURLE_OK) {
        if (code < 200 || code > 299) {
            snprintf(s->msg, sizeof s->msg, "status %ld", code);
            r.error = s->msg;
        }
    } else if (res == CURLE_WRITE_ERROR && s->body_over) {
        /* A 2xx whose reply cannot be read would be sent as much again: not retried. */
        r.permanent = code >= 200 && code <= 299;
        snprintf(s->msg, sizeof s->msg, "status %ld with a response body over %u bytes", code,
                 (unsigned)WEFT_DELIVERY_MAX_BODY);
        r.error = s->msg;
    } else if (res == CURLE_WRITE_ERROR && s->head_over) {
        r.permanent = true;
        snprintf(s->msg, sizeof s->msg, "response headers over %u bytes",
                 (unsigned)WEFT_DELIVERY_MAX_HEADER_BYTES);
        r.error = s->msg;
    } else {
        r.status = 0; /* no (whole) response: a network error or the timeout */
        r.error = s->errbuf[0] ? s->errbuf : curl_easy_strerror(res);
    }
    r.nheaders = parse_headers(s);
    r.headers = s->hdrs;
    r.body = s->body.data;
    r.body_len = s->body.len;
    dest->inflight--;
    delivery_attempt_ended(d, job, &r, true);
    slot_put(d, s);
    for (job_t *w;
         dest->inflight < dest->policy.parallelism && (w = delivery_jobs_pop(&dest->waiting));)
        delivery_http_start(d, w);
}

void delivery_http_completions(weft_delivery_t *d) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result; /* m dies with the removal */
        slot_t *s = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
        curl_multi_remove_handle(d->multi, e);
        finish(d, s, res);
    }
}

void delivery_http_cancel_all(weft_delivery_t *d) {
    for (slot_t *s = d->slots; s; s = s->next_all) {
        if (!s->job)
            continue;
        job_t *job = s->job;
        curl_multi_remove_handle(d->multi, s->easy);
        job->dest->inflight--;
        slot_put(d, s);
        delivery_cancel(job);
    }
    job_list_t waiting = {0};
    pthread_mutex_lock(&d->lock);
    for (weft_delivery_dest_t *dest = d->dests; dest; dest = dest->next)
        for (job_t *j; (j = delivery_jobs_pop(&dest->waiting));)
            delivery_jobs_push(&waiting, j);
    pthread_mutex_unlock(&d->lock);
    for (job_t *j; (j = delivery_jobs_pop(&waiting));)
        delivery_cancel(j);
}

void delivery_http_free(weft_delivery_t *d) {
    if (d->multi)
        curl_multi_cleanup(d->multi); /* closes the cached connections */
    d->multi = NULL;
    for (slot_t *s = d->slots, *next; s; s = next) {
        next = s->next_all;
        curl_easy_cleanup(s->easy);
        weft_buf_free(&s->head);
        weft_buf_free(&s->body);
        weft_buf_free(&s->lines);
        free(s->nodes);
        free(s->hdrs);
        free(s);
    }
    d->slots = d->free_slots = NULL;
    if (d->share)
        curl_share_cleanup(d->share); /* after the handles that use it */
    d->share = NULL;
    free(d->fds);
    d->fds = NULL;
    d->nfds = 0;
}
