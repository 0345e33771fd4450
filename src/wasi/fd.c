/* fd: the descriptor functions of wasi_snapshot_preview1 (fd_*), except fd_readdir.
 *
 * Where the spec leaves the error open, weft answers as wasmtime does: ESPIPE for
 * seeking stdio, EBADF for file operations on stdio or directories. A missing right is
 * ENOTCAPABLE. Anything that would change a file beneath a read-only preopen is EROFS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

uint32_t weft_wasi_fd_lookup(weft_guest_t *g, uint32_t fd, uint64_t need, weft_wasi_fd_t **out) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e)
        return WEFT_WASI_EBADF;
    if ((e->base & need) != need)
        return WEFT_WASI_ENOTCAPABLE;
    *out = e;
    return WEFT_WASI_ESUCCESS;
}

/* Looks up fd as an open file or directory (not a stream): EBADF otherwise. */
static uint32_t lookup_file(weft_guest_t *g, uint32_t fd, uint64_t need, weft_wasi_fd_t **out) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || weft_wasi_fd_is_stream(e))
        return WEFT_WASI_EBADF;
    if ((e->base & need) != need)
        return WEFT_WASI_ENOTCAPABLE;
    *out = e;
    return WEFT_WASI_ESUCCESS;
}

uint32_t weft_wasi_iovecs(weft_guest_t *g, uint32_t iovs, uint32_t n, int *nout) {
    struct iovec *out = weft_wasi_of(g)->iov;
    *nout = 0;
    if (n > WEFT_WASI_MAX_IOVS)
        return WEFT_WASI_EINVAL;
    const uint8_t *arr = weft_guest_ptr(g, iovs, (uint64_t)n * WEFT_WASI_IOVEC_SIZE);
    if (!arr)
        return WEFT_WASI_EFAULT;
    uint64_t total = 0;
    int k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t buf = weft_wasi_get_u32(arr + i * WEFT_WASI_IOVEC_SIZE);
        uint32_t len = weft_wasi_get_u32(arr + i * WEFT_WASI_IOVEC_SIZE + 4);
        void *p = weft_guest_ptr(g, buf, len);
        if (!p)
            return WEFT_WASI_EFAULT;
        /* Past the cap the rest is left for the guest's next call, as a short read
         * or write would leave it. */
        if (total + len > WEFT_WASI_MAX_IO_BYTES)
            len = (uint32_t)(WEFT_WASI_MAX_IO_BYTES - total);
        total += len;
        out[k].iov_base = p;
        out[k].iov_len = len;
        k++;
    }
    *nout = k;
    return WEFT_WASI_ESUCCESS;
}

bool weft_wasi_fd_may_block(const weft_wasi_fd_t *e) {
    return e->kind == WEFT_WASI_FD_HOST && e->filetype != WEFT_WASI_FILETYPE_REGULAR_FILE &&
           e->filetype != WEFT_WASI_FILETYPE_DIRECTORY;
}

static bool is_socket(const weft_wasi_fd_t *e) {
    return e->filetype == WEFT_WASI_FILETYPE_SOCKET_STREAM ||
           e->filetype == WEFT_WASI_FILETYPE_SOCKET_DGRAM;
}

ssize_t weft_wasi_host_writev(const weft_wasi_fd_t *e, const struct iovec *iov, int n) {
    if (is_socket(e)) {
        struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        return sendmsg(e->host, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (!weft_wasi_fd_may_block(e))
        return writev(e->host, iov, n);
    /* A pipe whose reader is gone raises SIGPIPE, which would kill all of weft. The
     * signal is blocked for this call and a SIGPIPE it caused is taken back before the
     * mask is restored; one that was already pending is left alone. No handler is
     * installed: the process's signal dispositions are not the wasi layer's. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t r = writev(e->host, iov, n);
    int saved = errno;
    if (r < 0 && saved == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

static size_t iov_total(const struct iovec *iov, int n) {
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* Reads from or writes to a host descriptor, waiting (interruptibly) when it is a
 * pipe, socket or device that is not ready. */
static uint32_t host_io(const weft_wasi_fd_t *e, const struct iovec *iov, int n, uint32_t *done,
                        bool write) {
    bool nonblock = e->flags & WEFT_WASI_FDFLAG_NONBLOCK;
    bool wait = weft_wasi_fd_may_block(e) && iov_total(iov, n) > 0;
    for (;;) {
        if (wait) {
            uint32_t rc = weft_wasi_wait(e->host, write ? POLLOUT : POLLIN, nonblock);
            if (rc)
                return rc;
        }
        ssize_t r = write ? weft_wasi_host_writev(e, iov, n) : readv(e->host, iov, n);
        if (r >= 0) {
            *done = (uint32_t)r;
            return WEFT_WASI_ESUCCESS;
        }
        if (errno == EINTR) {
            if (weft_deadline_expired())
                return WEFT_WASI_EINTR;
        } else if (!(errno == EAGAIN && wait && !nonblock)) {
            /* (EAGAIN after a wait: the host made the description nonblocking and
             * someone else took the data or the room; wait again.) */
            return weft_wasi_errno(errno);
        }
    }
}

/* fd_read and fd_write: the same checks, then a stream (stdio from or to memory) or a
 * host descriptor. */
static uint32_t sequential_io(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                              uint32_t done_ptr, bool write) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (!(e->base & (write ? WEFT_WASI_RIGHT_FD_WRITE : WEFT_WASI_RIGHT_FD_READ)))
        return WEFT_WASI_ENOTCAPABLE;
    uint8_t *res = weft_guest_ptr(g, done_ptr, 4);
    if (!res)
        return WEFT_WASI_EFAULT;
    const struct iovec *iov = weft_wasi_of(g)->iov;
    int n;
    uint32_t rc = weft_wasi_iovecs(g, iovs, iovs_len, &n);
    if (rc)
        return rc;
    uint32_t done = 0;
    if (e->kind == WEFT_WASI_FD_STREAM) {
        weft_wasi_stream_t *st = &weft_wasi_of(g)->streams[e->stream];
        rc = write ? weft_wasi_stream_write(st, iov, n, &done)
                   : weft_wasi_stream_read(st, iov, n, &done);
    } else {
        rc = host_io(e, iov, n, &done, write);
    }
    if (rc == WEFT_WASI_ESUCCESS)
        weft_wasi_put_u32(res, done);
    return rc;
}

uint32_t Z(fd_read)(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                    uint32_t nread_ptr) {
    return sequential_io(g, fd, iovs, iovs_len, nread_ptr, false);
}

uint32_t Z(fd_write)(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                     uint32_t nwritten_ptr) {
    return sequential_io(g, fd, iovs, iovs_len, nwritten_ptr, true);
}

/* fd_pread and fd_pwrite: the same checks and the same loop, with the read or the
 * write right and call. On a descriptor opened for appending Linux ignores the offset of
 * a write and appends, as wasmtime does too. */
static uint32_t positioned_io(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                              uint64_t offset, uint32_t done_ptr, bool write) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (weft_wasi_fd_is_stream(e))
        return WEFT_WASI_ESPIPE;
    uint64_t rights =
        (write ? WEFT_WASI_RIGHT_FD_WRITE : WEFT_WASI_RIGHT_FD_READ) | WEFT_WASI_RIGHT_FD_SEEK;
    if ((e->base & rights) != rights)
        return WEFT_WASI_ENOTCAPABLE;
    if (offset > INT64_MAX)
        return WEFT_WASI_EINVAL;
    uint8_t *res = weft_guest_ptr(g, done_ptr, 4);
    if (!res)
        return WEFT_WASI_EFAULT;
    const struct iovec *iov = weft_wasi_of(g)->iov;
    int n;
    uint32_t rc = weft_wasi_iovecs(g, iovs, iovs_len, &n);
    if (rc)
        return rc;
    for (;;) {
        ssize_t r = write ? pwritev(e->host, iov, n, (off_t)offset)
                          : preadv(e->host, iov, n, (off_t)offset);
        if (r >= 0) {
            weft_wasi_put_u32(res, (uint32_t)r);
            return WEFT_WASI_ESUCCESS;
        }
        if (errno != EINTR)
            return weft_wasi_errno(errno);
        if (weft_deadline_expired())
            return WEFT_WASI_EINTR;
    }
}

uint32_t Z(fd_pread)(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                     uint64_t offset, uint32_t nread_ptr) {
    return positioned_io(g, fd, iovs, iovs_len, offset, nread_ptr, false);
}

uint32_t Z(fd_pwrite)(weft_guest_t *g, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                      uint64_t offset, uint32_t nwritten_ptr) {
    return positioned_io(g, fd, iovs, iovs_len, offset, nwritten_ptr, true);
}

uint32_t Z(fd_seek)(weft_guest_t *g, uint32_t fd, uint64_t offset, uint32_t whence,
                    uint32_t newoffset_ptr) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (weft_wasi_fd_is_stream(e))
        return WEFT_WASI_ESPIPE;
    if (whence > WEFT_WASI_WHENCE_END)
        return WEFT_WASI_EINVAL;
    /* fd_seek(fd, 0, CUR) is how wasi-libc tells; the tell right is enough for it. */
    uint64_t need = (offset == 0 && whence == WEFT_WASI_WHENCE_CUR) ? WEFT_WASI_RIGHT_FD_TELL
                                                                    : WEFT_WASI_RIGHT_FD_SEEK;
    if (!(e->base & need))
        return WEFT_WASI_ENOTCAPABLE;
    uint8_t *res = weft_guest_ptr(g, newoffset_ptr, 8);
    if (!res)
        return WEFT_WASI_EFAULT;
    static const int how[] = {SEEK_SET, SEEK_CUR, SEEK_END};
    off_t r = lseek(e->host, (off_t)(int64_t)offset, how[whence]);
    if (r < 0)
        return weft_wasi_errno(errno);
    weft_wasi_put_u64(res, (uint64_t)r);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_tell)(weft_guest_t *g, uint32_t fd, uint32_t offset_ptr) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (weft_wasi_fd_is_stream(e))
        return WEFT_WASI_ESPIPE;
    if (!(e->base & WEFT_WASI_RIGHT_FD_TELL))
        return WEFT_WASI_ENOTCAPABLE;
    uint8_t *res = weft_guest_ptr(g, offset_ptr, 8);
    if (!res)
        return WEFT_WASI_EFAULT;
    off_t r = lseek(e->host, 0, SEEK_CUR);
    if (r < 0)
        return weft_wasi_errno(errno);
    weft_wasi_put_u64(res, (uint64_t)r);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_close)(weft_guest_t *g, uint32_t fd) {
    weft_wasi_t *w = weft_wasi_of(g);
    weft_wasi_fd_t *e = weft_wasi_fd_get(w, fd);
    if (!e)
        return WEFT_WASI_EBADF;
    weft_wasi_fd_release(w, e);
    return WEFT_WASI_ESUCCESS;
}

/* Both descriptors must be open (wasmtime also accepts an unused `to`; weft does not,
 * so a guest cannot make its table as large as a u32 index). */
uint32_t Z(fd_renumber)(weft_guest_t *g, uint32_t fd, uint32_t to) {
    weft_wasi_t *w = weft_wasi_of(g);
    weft_wasi_fd_t *from = weft_wasi_fd_get(w, fd);
    weft_wasi_fd_t *dst = weft_wasi_fd_get(w, to);
    if (!from || !dst)
        return WEFT_WASI_EBADF;
    if (fd == to)
        return WEFT_WASI_ESUCCESS;
    weft_wasi_fd_t moved = *from;
    memset(from, 0, sizeof *from);
    from->kind = WEFT_WASI_FD_FREE;
    from->host = -1;
    weft_wasi_fd_release(w, dst);
    *dst = moved;
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_fdstat_get)(weft_guest_t *g, uint32_t fd, uint32_t stat_ptr) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e)
        return WEFT_WASI_EBADF;
    uint8_t *p = weft_guest_ptr(g, stat_ptr, WEFT_WASI_FDSTAT_SIZE);
    if (!p)
        return WEFT_WASI_EFAULT;
    memset(p, 0, WEFT_WASI_FDSTAT_SIZE);
    weft_wasi_put_u8(p + 0, e->filetype);
    weft_wasi_put_u16(p + 2, e->flags);
    weft_wasi_put_u64(p + 8, e->base);
    weft_wasi_put_u64(p + 16, e->inheriting);
    return WEFT_WASI_ESUCCESS;
}

/* APPEND and NONBLOCK can change; the sync flags only at path_open (EINVAL here, as in
 * wasmtime). NONBLOCK is weft's own: a read or write that would wait returns EAGAIN
 * instead, and the host description is never made nonblocking, because stdio's is
 * shared with the embedder. */
uint32_t Z(fd_fdstat_set_flags)(weft_guest_t *g, uint32_t fd, uint32_t flags) {
    weft_wasi_fd_t *e;
    uint32_t rc = weft_wasi_fd_lookup(g, fd, WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS, &e);
    if (rc)
        return rc;
    if (flags & ~(uint32_t)(WEFT_WASI_FDFLAG_APPEND | WEFT_WASI_FDFLAG_NONBLOCK))
        return WEFT_WASI_EINVAL;
    bool append = flags & WEFT_WASI_FDFLAG_APPEND;
    if (e->kind == WEFT_WASI_FD_HOST && !e->shared && e->filetype != WEFT_WASI_FILETYPE_DIRECTORY &&
        append != (bool)(e->flags & WEFT_WASI_FDFLAG_APPEND)) {
        int fl = fcntl(e->host, F_GETFL);
        if (fl < 0 || fcntl(e->host, F_SETFL, append ? fl | O_APPEND : fl & ~O_APPEND) < 0)
            return weft_wasi_errno(errno);
    }
    e->flags =
        (uint16_t)((e->flags & ~(WEFT_WASI_FDFLAG_APPEND | WEFT_WASI_FDFLAG_NONBLOCK)) | flags);
    return WEFT_WASI_ESUCCESS;
}

/* Rights only shrink: asking for one the descriptor does not have is ENOTCAPABLE
 * (wasmtime accepts and ignores the call; weft enforces rights). */
uint32_t Z(fd_fdstat_set_rights)(weft_guest_t *g, uint32_t fd, uint64_t base, uint64_t inheriting) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e)
        return WEFT_WASI_EBADF;
    if ((base & ~e->base) || (inheriting & ~e->inheriting))
        return WEFT_WASI_ENOTCAPABLE;
    e->base = base;
    e->inheriting = inheriting;
    return WEFT_WASI_ESUCCESS;
}

void weft_wasi_put_filestat(uint8_t *p, const struct stat *st, uint8_t filetype) {
    memset(p, 0, WEFT_WASI_FILESTAT_SIZE);
    if (!st) {
        weft_wasi_put_u8(p + 16, filetype);
        return;
    }
    weft_wasi_put_u64(p + 0, (uint64_t)st->st_dev);
    weft_wasi_put_u64(p + 8, (uint64_t)st->st_ino);
    weft_wasi_put_u8(p + 16, filetype);
    weft_wasi_put_u64(p + 24, (uint64_t)st->st_nlink);
    weft_wasi_put_u64(p + 32, (uint64_t)st->st_size);
    weft_wasi_put_u64(p + 40,
                      (uint64_t)st->st_atim.tv_sec * 1000000000u + (uint64_t)st->st_atim.tv_nsec);
    weft_wasi_put_u64(p + 48,
                      (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec);
    weft_wasi_put_u64(p + 56,
                      (uint64_t)st->st_ctim.tv_sec * 1000000000u + (uint64_t)st->st_ctim.tv_nsec);
}

uint32_t Z(fd_filestat_get)(weft_guest_t *g, uint32_t fd, uint32_t stat_ptr) {
    weft_wasi_fd_t *e;
    uint32_t rc = weft_wasi_fd_lookup(g, fd, WEFT_WASI_RIGHT_FD_FILESTAT_GET, &e);
    if (rc)
        return rc;
    uint8_t *p = weft_guest_ptr(g, stat_ptr, WEFT_WASI_FILESTAT_SIZE);
    if (!p)
        return WEFT_WASI_EFAULT;
    if (weft_wasi_fd_is_stream(e)) {
        /* stdio and sockets: only the type, as wasmtime; the embedder's descriptors
         * say nothing about the host. */
        weft_wasi_put_filestat(p, NULL, e->filetype);
        return WEFT_WASI_ESUCCESS;
    }
    struct stat st;
    if (fstat(e->host, &st) != 0)
        return weft_wasi_errno(errno);
    weft_wasi_put_filestat(p, &st, weft_wasi_filetype_of(e->host, st.st_mode));
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_filestat_set_size)(weft_guest_t *g, uint32_t fd, uint64_t size) {
    weft_wasi_fd_t *e;
    uint32_t rc = lookup_file(g, fd, WEFT_WASI_RIGHT_FD_FILESTAT_SET_SIZE, &e);
    if (rc)
        return rc;
    if (e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (e->readonly)
        return WEFT_WASI_EROFS;
    if (size > INT64_MAX)
        return WEFT_WASI_EFBIG;
    while (ftruncate(e->host, (off_t)size) != 0) {
        if (errno != EINTR)
            return weft_wasi_errno(errno);
        if (weft_deadline_expired())
            return WEFT_WASI_EINTR;
    }
    return WEFT_WASI_ESUCCESS;
}

uint32_t weft_wasi_times(uint64_t atim, uint64_t mtim, uint32_t fst, struct timespec ts[2]) {
    if ((fst & ~WEFT_WASI_FST_ALL) ||
        ((fst & WEFT_WASI_FST_ATIM) && (fst & WEFT_WASI_FST_ATIM_NOW)) ||
        ((fst & WEFT_WASI_FST_MTIM) && (fst & WEFT_WASI_FST_MTIM_NOW)))
        return WEFT_WASI_EINVAL;
    uint64_t t[2] = {atim, mtim};
    uint32_t set[2] = {WEFT_WASI_FST_ATIM, WEFT_WASI_FST_MTIM};
    uint32_t now[2] = {WEFT_WASI_FST_ATIM_NOW, WEFT_WASI_FST_MTIM_NOW};
    for (int i = 0; i < 2; i++) {
        ts[i].tv_sec = 0;
        if (fst & now[i]) {
            ts[i].tv_nsec = UTIME_NOW;
        } else if (fst & set[i]) {
            ts[i].tv_sec = (time_t)(t[i] / 1000000000u);
            ts[i].tv_nsec = (long)(t[i] % 1000000000u);
        } else {
            ts[i].tv_nsec = UTIME_OMIT;
        }
    }
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_filestat_set_times)(weft_guest_t *g, uint32_t fd, uint64_t atim, uint64_t mtim,
                                  uint32_t fst_flags) {
    weft_wasi_fd_t *e;
    uint32_t rc = lookup_file(g, fd, WEFT_WASI_RIGHT_FD_FILESTAT_SET_TIMES, &e);
    if (rc)
        return rc;
    struct timespec ts[2];
    rc = weft_wasi_times(atim, mtim, fst_flags, ts);
    if (rc)
        return rc;
    if (e->readonly)
        return WEFT_WASI_EROFS;
    if (futimens(e->host, ts) != 0)
        return weft_wasi_errno(errno);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_advise)(weft_guest_t *g, uint32_t fd, uint64_t offset, uint64_t len,
                      uint32_t advice) {
    weft_wasi_fd_t *e;
    uint32_t rc = lookup_file(g, fd, WEFT_WASI_RIGHT_FD_ADVISE, &e);
    if (rc)
        return rc;
    if (e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (advice > WEFT_WASI_ADVICE_MAX || offset > INT64_MAX || len > INT64_MAX)
        return WEFT_WASI_EINVAL;
    static const int how[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                              POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
    int r = posix_fadvise(e->host, (off_t)offset, (off_t)len, how[advice]);
    return weft_wasi_errno(r);
}

/* wasmtime answers ENOTSUP here (WASI 0.2 has no allocate); weft does what the spec
 * describes, with posix_fallocate. */
uint32_t Z(fd_allocate)(weft_guest_t *g, uint32_t fd, uint64_t offset, uint64_t len) {
    weft_wasi_fd_t *e;
    uint32_t rc = lookup_file(g, fd, WEFT_WASI_RIGHT_FD_ALLOCATE, &e);
    if (rc)
        return rc;
    if (e->filetype == WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_EBADF;
    if (e->readonly)
        return WEFT_WASI_EROFS;
    if (offset > INT64_MAX || len > INT64_MAX - offset)
        return WEFT_WASI_EFBIG;
    if (len == 0)
        return WEFT_WASI_EINVAL;
    int r;
    while ((r = posix_fallocate(e->host, (off_t)offset, (off_t)len)) == EINTR)
        if (weft_deadline_expired())
            return WEFT_WASI_EINTR;
    return weft_wasi_errno(r);
}

static uint32_t sync_fd(weft_guest_t *g, uint32_t fd, uint64_t right, bool data_only) {
    weft_wasi_fd_t *e;
    uint32_t rc = lookup_file(g, fd, right, &e);
    if (rc)
        return rc;
    while ((data_only ? fdatasync(e->host) : fsync(e->host)) != 0) {
        if (errno != EINTR)
            return weft_wasi_errno(errno);
        if (weft_deadline_expired())
            return WEFT_WASI_EINTR;
    }
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_datasync)(weft_guest_t *g, uint32_t fd) {
    return sync_fd(g, fd, WEFT_WASI_RIGHT_FD_DATASYNC, true);
}

uint32_t Z(fd_sync)(weft_guest_t *g, uint32_t fd) {
    return sync_fd(g, fd, WEFT_WASI_RIGHT_FD_SYNC, false);
}

uint32_t Z(fd_prestat_get)(weft_guest_t *g, uint32_t fd, uint32_t prestat_ptr) {
    weft_wasi_t *w = weft_wasi_of(g);
    weft_wasi_fd_t *e = weft_wasi_fd_get(w, fd);
    if (!e || e->preopen < 0)
        return WEFT_WASI_EBADF;
    uint8_t *p = weft_guest_ptr(g, prestat_ptr, WEFT_WASI_PRESTAT_SIZE);
    if (!p)
        return WEFT_WASI_EFAULT;
    memset(p, 0, WEFT_WASI_PRESTAT_SIZE);
    weft_wasi_put_u8(p, 0); /* preopentype dir */
    weft_wasi_put_u32(p + 4, (uint32_t)strlen(w->preopen_names[e->preopen]));
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(fd_prestat_dir_name)(weft_guest_t *g, uint32_t fd, uint32_t path, uint32_t path_len) {
    weft_wasi_t *w = weft_wasi_of(g);
    weft_wasi_fd_t *e = weft_wasi_fd_get(w, fd);
    if (!e || e->preopen < 0)
        return WEFT_WASI_EBADF;
    const char *name = w->preopen_names[e->preopen];
    size_t len = strlen(name);
    if (path_len < len)
        return WEFT_WASI_ENAMETOOLONG;
    uint8_t *p = weft_guest_ptr(g, path, len);
    if (!p)
        return WEFT_WASI_EFAULT;
    memcpy(p, name, len);
    return WEFT_WASI_ESUCCESS;
}
