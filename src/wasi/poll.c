/* poll: poll_oneoff, and waiting on host descriptors for the blocking calls.
 *
 * Waiting happens in ppoll, which the engine's deadline signal interrupts (EINTR, never
 * restarted); then, if the deadline has passed, the call returns EINTR to the guest at
 * once and the engine stops it. Regular files and directories are always ready, as
 * poll(2) says; stdio streams of kind NULL, INPUT, OUTPUT and LINES never wait either.
 *
 * Where wasmtime fails the whole call for a subscription on a bad descriptor (EBADF),
 * weft reports it in that subscription's event (error EBADF), which is what the event's
 * error field is for, and still reports the others.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ppoll until something is ready or until the monotonic time `until` (UINT64_MAX: no
 * limit). Returns ppoll's count (0 on timeout), or -1 with *rc set. */
static int poll_until(struct pollfd *p, nfds_t n, uint64_t until, uint32_t *rc) {
    /* A guest that goes on calling after its deadline (say, retrying a read that said
     * EINTR) must not block again until the next signal. */
    if (until != 0 && weft_deadline_expired()) {
        *rc = WEFT_WASI_EINTR;
        return -1;
    }
    for (;;) {
        struct timespec ts, *tsp = NULL;
        if (until != UINT64_MAX) {
            uint64_t now = clock_ns(CLOCK_MONOTONIC);
            uint64_t left = until > now ? until - now : 0;
            ts.tv_sec = (time_t)(left / 1000000000u);
            ts.tv_nsec = (long)(left % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(p, n, tsp, NULL);
        if (r >= 0)
            return r;
        if (errno != EINTR) {
            *rc = weft_wasi_errno(errno);
            return -1;
        }
        if (weft_deadline_expired()) {
            *rc = WEFT_WASI_EINTR;
            return -1;
        }
    }
}

uint32_t weft_wasi_wait(int host, short events, bool nonblock) {
    struct pollfd p = {.fd = host, .events = events};
    uint32_t rc = WEFT_WASI_ESUCCESS;
    int r = poll_until(&p, 1, nonblock ? 0 : UINT64_MAX, &rc);
    if (r < 0)
        return rc;
    if (r == 0)
        return WEFT_WASI_EAGAIN;
    /* Ready, or hung up / in error: the read or write that follows says which. */
    return WEFT_WASI_ESUCCESS;
}

/* One subscription, read out of guest memory before anything is written back (the
 * guest may pass overlapping in and out arrays). */
typedef struct sub {
    uint64_t userdata;
    uint8_t type;
    uint16_t error;  /* known before waiting (bad descriptor, no right) */
    bool ready;      /* ready without waiting (files, memory streams, errors) */
    uint64_t nbytes; /* for ready fd events */
    uint16_t rwflags;
    int pfd;           /* index into the pollfd array, or -1 */
    uint64_t deadline; /* clock: monotonic ns */
    uint32_t fd;
} sub_t;

/* Works out what an fd_read / fd_write subscription waits on. */
static void sub_fd(weft_wasi_t *w, sub_t *s, struct pollfd *pfds, nfds_t *npfds) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(w, s->fd);
    bool reading = s->type == WEFT_WASI_EVENTTYPE_FD_READ;
    if (!e) {
        s->error = WEFT_WASI_EBADF;
    } else if (!(e->base & WEFT_WASI_RIGHT_POLL_FD_READWRITE)) {
        s->error = WEFT_WASI_ENOTCAPABLE;
    } else if (e->kind == WEFT_WASI_FD_STREAM) {
        const weft_wasi_stream_t *st = &w->streams[e->stream];
        s->nbytes = reading ? weft_wasi_stream_available(st) : 0;
        if (reading && st->kind == WEFT_STDIO_INPUT && s->nbytes == 0)
            s->rwflags = WEFT_WASI_EVENT_HANGUP;
        if (st->kind == WEFT_STDIO_NULL && reading)
            s->rwflags = WEFT_WASI_EVENT_HANGUP;
    } else if (!weft_wasi_fd_may_block(e)) {
        if (reading) {
            /* What is left to read from the current position. */
            struct stat st;
            off_t pos = lseek(e->host, 0, SEEK_CUR);
            if (fstat(e->host, &st) == 0 && pos >= 0 && st.st_size > pos)
                s->nbytes = (uint64_t)(st.st_size - pos);
        }
    } else {
        s->pfd = (int)*npfds;
        pfds[*npfds].fd = e->host;
        pfds[*npfds].events = reading ? POLLIN : POLLOUT;
        pfds[*npfds].revents = 0;
        (*npfds)++;
        return;
    }
    s->ready = true;
}

/* Reads and checks subscription i; a malformed one fails the whole call (EINVAL), as
 * in wasmtime. */
static uint32_t sub_read(const uint8_t *in, sub_t *s, uint64_t now_mono) {
    s->userdata = weft_wasi_get_u64(in + 0);
    s->type = in[8];
    s->pfd = -1;
    s->deadline = UINT64_MAX;
    if (s->type == WEFT_WASI_EVENTTYPE_FD_READ || s->type == WEFT_WASI_EVENTTYPE_FD_WRITE) {
        s->fd = weft_wasi_get_u32(in + 16);
        return WEFT_WASI_ESUCCESS;
    }
    if (s->type != WEFT_WASI_EVENTTYPE_CLOCK)
        return WEFT_WASI_EINVAL;
    uint32_t id = weft_wasi_get_u32(in + 16);
    uint64_t timeout = weft_wasi_get_u64(in + 24);
    uint16_t flags = weft_wasi_get_u16(in + 40); /* precision (in + 32) is a hint */
    if (flags & ~WEFT_WASI_SUBCLOCK_ABSTIME)
        return WEFT_WASI_EINVAL;
    bool abs = flags & WEFT_WASI_SUBCLOCK_ABSTIME;
    uint64_t rel;
    if (id == WEFT_WASI_CLOCK_MONOTONIC) {
        rel = !abs ? timeout : timeout > now_mono ? timeout - now_mono : 0;
    } else if (id == WEFT_WASI_CLOCK_REALTIME) {
        uint64_t now_real = clock_ns(CLOCK_REALTIME);
        rel = !abs ? timeout : timeout > now_real ? timeout - now_real : 0;
    } else {
        /* CPU-time clocks do not advance while the guest sleeps; wasmtime refuses
         * them too. */
        return WEFT_WASI_EINVAL;
    }
    s->deadline = rel > UINT64_MAX - now_mono ? UINT64_MAX - 1 : now_mono + rel;
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(poll_oneoff)(weft_guest_t *g, uint32_t in, uint32_t out, uint32_t nsubscriptions,
                        uint32_t nevents_ptr) {
    weft_wasi_t *w = weft_wasi_of(g);
    if (!w)
        return WEFT_WASI_EBADF;
    /* Zero subscriptions would sleep forever: EINVAL, as wasmtime. */
    if (nsubscriptions == 0 || nsubscriptions > WEFT_WASI_MAX_SUBSCRIPTIONS)
        return WEFT_WASI_EINVAL;
    const uint8_t *subs =
        weft_guest_ptr(g, in, (uint64_t)nsubscriptions * WEFT_WASI_SUBSCRIPTION_SIZE);
    uint8_t *events = weft_guest_ptr(g, out, (uint64_t)nsubscriptions * WEFT_WASI_EVENT_SIZE);
    uint8_t *nevents = weft_guest_ptr(g, nevents_ptr, 4);
    if (!subs || !events || !nevents)
        return WEFT_WASI_EFAULT;

    uint32_t rc = WEFT_WASI_ESUCCESS;
    sub_t *s = calloc(nsubscriptions, sizeof *s);
    struct pollfd *pfds = calloc(nsubscriptions, sizeof *pfds);
    if (!s || !pfds) {
        rc = WEFT_WASI_ENOMEM;
        goto out;
    }
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t until = UINT64_MAX;
    bool any_ready = false;
    nfds_t npfds = 0;
    for (uint32_t i = 0; i < nsubscriptions; i++) {
        rc = sub_read(subs + (size_t)i * WEFT_WASI_SUBSCRIPTION_SIZE, &s[i], now);
        if (rc)
            goto out;
    }
    for (uint32_t i = 0; i < nsubscriptions; i++) {
        if (s[i].type == WEFT_WASI_EVENTTYPE_CLOCK) {
            if (s[i].deadline < until)
                until = s[i].deadline;
            continue;
        }
        sub_fd(w, &s[i], pfds, &npfds);
        any_ready |= s[i].ready;
    }
    if (any_ready)
        until = 0; /* report what is ready now, and whatever else is ready as well */

    int r = poll_until(pfds, npfds, until, &rc);
    if (r < 0)
        goto out;

    now = clock_ns(CLOCK_MONOTONIC);
    if (r == 0 && until != UINT64_MAX && now < until)
        now = until; /* ppoll timed out: the earliest clock has fired, whatever the
                        clock read a moment later says */
    uint32_t count = 0;
    for (uint32_t i = 0; i < nsubscriptions; i++) {
        sub_t *x = &s[i];
        if (x->type == WEFT_WASI_EVENTTYPE_CLOCK) {
            if (x->deadline > now)
                continue;
        } else if (x->pfd >= 0) {
            short re = pfds[x->pfd].revents;
            if (!re)
                continue;
            if (re & POLLNVAL)
                x->error = WEFT_WASI_EBADF;
            if (re & POLLHUP)
                x->rwflags |= WEFT_WASI_EVENT_HANGUP;
            int avail = 0;
            if (x->type == WEFT_WASI_EVENTTYPE_FD_READ &&
                ioctl(pfds[x->pfd].fd, FIONREAD, &avail) == 0 && avail > 0)
                x->nbytes = (uint64_t)avail;
        } else if (!x->ready) {
            continue;
        }
        uint8_t *ev = events + (size_t)count * WEFT_WASI_EVENT_SIZE;
        memset(ev, 0, WEFT_WASI_EVENT_SIZE);
        weft_wasi_put_u64(ev + 0, x->userdata);
        weft_wasi_put_u16(ev + 8, x->error);
        weft_wasi_put_u8(ev + 10, x->type);
        if (x->type != WEFT_WASI_EVENTTYPE_CLOCK) {
            weft_wasi_put_u64(ev + 16, x->nbytes);
            weft_wasi_put_u16(ev + 24, x->rwflags);
        }
        count++;
    }
    weft_wasi_put_u32(nevents, count);

out:
    free(s);
    free(pfds);
    return rc;
}
