/* proc: arguments, environment, clocks, randomness, exit, raise, yield. */
#include <errno.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

/* argv-style vector and its strings, as args_get and environ_get lay them out: the
 * pointers at vec, the NUL-terminated strings packed from buf. */
static uint32_t strings_get(weft_guest_t *g, char **strs, uint32_t n, uint32_t bytes, uint32_t vec,
                            uint32_t buf) {
    uint8_t *pv = weft_guest_ptr(g, vec, (uint64_t)n * 4);
    uint8_t *pb = weft_guest_ptr(g, buf, bytes);
    if (!pv || !pb)
        return WEFT_WASI_EFAULT;
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]) + 1;
        weft_wasi_put_u32(pv + (size_t)i * 4, buf + off); /* inside memory: checked above */
        memcpy(pb + off, strs[i], len);
        off += (uint32_t)len;
    }
    return WEFT_WASI_ESUCCESS;
}

static uint32_t sizes_get(weft_guest_t *g, uint32_t n, uint32_t bytes, uint32_t n_ptr,
                          uint32_t bytes_ptr) {
    uint8_t *pn = weft_guest_ptr(g, n_ptr, 4);
    uint8_t *pb = weft_guest_ptr(g, bytes_ptr, 4);
    if (!pn || !pb)
        return WEFT_WASI_EFAULT;
    weft_wasi_put_u32(pn, n);
    weft_wasi_put_u32(pb, bytes);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(args_get)(weft_guest_t *g, uint32_t argv, uint32_t argv_buf) {
    weft_wasi_t *w = weft_wasi_of(g);
    if (!w)
        return WEFT_WASI_ESUCCESS;
    return strings_get(g, w->argv, w->argc, w->argv_bytes, argv, argv_buf);
}

uint32_t Z(args_sizes_get)(weft_guest_t *g, uint32_t argc_ptr, uint32_t size_ptr) {
    weft_wasi_t *w = weft_wasi_of(g);
    return sizes_get(g, w ? w->argc : 0, w ? w->argv_bytes : 0, argc_ptr, size_ptr);
}

uint32_t Z(environ_get)(weft_guest_t *g, uint32_t environ, uint32_t environ_buf) {
    weft_wasi_t *w = weft_wasi_of(g);
    if (!w)
        return WEFT_WASI_ESUCCESS;
    return strings_get(g, w->envp, w->envc, w->env_bytes, environ, environ_buf);
}

uint32_t Z(environ_sizes_get)(weft_guest_t *g, uint32_t count_ptr, uint32_t size_ptr) {
    weft_wasi_t *w = weft_wasi_of(g);
    return sizes_get(g, w ? w->envc : 0, w ? w->env_bytes : 0, count_ptr, size_ptr);
}

static uint64_t ts_ns(const struct timespec *ts) {
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* The two CPU-time clocks both measure the CPU time of the guest's own thread, from
 * zero at the first time the guest reads either (starting them when the WASI state is
 * made would cost two system calls for every instance, most of which never look at
 * them; only differences of these clocks mean anything). The process clock cannot be weft's
 * process: that is every guest at once, and would tell one guest how busy the others are. A guest
 * runs on one thread; should a later call come from another thread, the clock carries on from the
 * last value it gave, so it never goes back. (wasmtime answers EBADF for both clocks.) */
static uint64_t guest_cpu_ns(weft_wasi_t *w) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    uint64_t now = ts_ns(&ts);
    int tid = (int)syscall(SYS_gettid);
    if (tid != w->cpu_tid) {
        w->cpu_tid = tid;
        w->cpu_base = now - w->cpu_last;
    }
    uint64_t v = now - w->cpu_base;
    if (v < w->cpu_last)
        v = w->cpu_last;
    w->cpu_last = v;
    return v;
}

static bool host_clock(uint32_t id, clockid_t *out) {
    switch (id) {
    case WEFT_WASI_CLOCK_REALTIME:
        *out = CLOCK_REALTIME;
        return true;
    case WEFT_WASI_CLOCK_MONOTONIC:
        *out = CLOCK_MONOTONIC;
        return true;
    case WEFT_WASI_CLOCK_PROCESS_CPUTIME:
    case WEFT_WASI_CLOCK_THREAD_CPUTIME:
        *out = CLOCK_THREAD_CPUTIME_ID;
        return true;
    default:
        return false;
    }
}

uint32_t Z(clock_res_get)(weft_guest_t *g, uint32_t id, uint32_t res_ptr) {
    clockid_t c;
    if (!host_clock(id, &c))
        return WEFT_WASI_EINVAL;
    uint8_t *p = weft_guest_ptr(g, res_ptr, 8);
    if (!p)
        return WEFT_WASI_EFAULT;
    struct timespec ts;
    if (clock_getres(c, &ts) != 0)
        return weft_wasi_errno(errno);
    weft_wasi_put_u64(p, ts_ns(&ts));
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(clock_time_get)(weft_guest_t *g, uint32_t id, uint64_t precision, uint32_t time_ptr) {
    clockid_t c;
    if (!host_clock(id, &c))
        return WEFT_WASI_EINVAL;
    uint8_t *p = weft_guest_ptr(g, time_ptr, 8);
    if (!p)
        return WEFT_WASI_EFAULT;
    weft_wasi_t *w = weft_wasi_of(g);
    if (c == CLOCK_THREAD_CPUTIME_ID && w) {
        weft_wasi_put_u64(p, guest_cpu_ns(w));
        return WEFT_WASI_ESUCCESS;
    }
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return weft_wasi_errno(errno);
    weft_wasi_put_u64(p, ts_ns(&ts));
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(random_get)(weft_guest_t *g, uint32_t buf, uint32_t buf_len) {
    uint8_t *p = weft_guest_ptr(g, buf, buf_len);
    if (!p)
        return WEFT_WASI_EFAULT;
    size_t done = 0;
    while (done < buf_len) {
        ssize_t r = getrandom(p + done, buf_len - done, 0);
        if (r < 0) {
            if (errno != EINTR)
                return weft_wasi_errno(errno);
            if (weft_deadline_expired())
                return WEFT_WASI_EINTR;
            continue;
        }
        done += (size_t)r;
    }
    return WEFT_WASI_ESUCCESS;
}

void Z(proc_exit)(weft_guest_t *g, uint32_t code) {
    weft_guest_exit(code);
}

/* Signals are not part of what a guest can do to weft's process; wasmtime answers
 * ENOTSUP as well. */
uint32_t Z(proc_raise)(weft_guest_t *g, uint32_t sig) {
    return WEFT_WASI_ENOTSUP;
}

uint32_t Z(sched_yield)(weft_guest_t *g) {
    sched_yield();
    return WEFT_WASI_ESUCCESS;
}
