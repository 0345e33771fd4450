/* sock: sock_accept, sock_recv, sock_send and sock_shutdown on the sockets the
 * embedder handed over (weft_wasi_config_t.sockets, or a stdio slot that is a socket)
 * and on connections accepted from them. A guest cannot create a socket; on any other
 * descriptor these calls fail with ENOTSOCK. (wasmtime's preview1 answers ENOTSOCK for
 * every descriptor: it hands over no sockets.) */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

static uint32_t sock_lookup(weft_guest_t *g, uint32_t fd, uint64_t need, weft_wasi_fd_t **out) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e)
        return WEFT_WASI_EBADF;
    if (e->kind != WEFT_WASI_FD_HOST || (e->filetype != WEFT_WASI_FILETYPE_SOCKET_STREAM &&
                                         e->filetype != WEFT_WASI_FILETYPE_SOCKET_DGRAM))
        return WEFT_WASI_ENOTSOCK;
    if ((e->base & need) != need)
        return WEFT_WASI_ENOTCAPABLE;
    *out = e;
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(sock_accept)(weft_guest_t *g, uint32_t fd, uint32_t flags, uint32_t fd_ptr) {
    weft_wasi_fd_t *e;
    uint32_t rc = sock_lookup(g, fd, WEFT_WASI_RIGHT_SOCK_ACCEPT, &e);
    if (rc)
        return rc;
    if (flags & ~WEFT_WASI_FDFLAG_NONBLOCK)
        return WEFT_WASI_EINVAL;
    uint8_t *res = weft_guest_ptr(g, fd_ptr, 4);
    if (!res)
        return WEFT_WASI_EFAULT;
    int conn;
    for (;;) {
        rc = weft_wasi_wait(e->host, POLLIN, e->flags & WEFT_WASI_FDFLAG_NONBLOCK);
        if (rc)
            return rc;
        conn = accept4(e->host, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn >= 0)
            break;
        if (errno == EINTR) {
            if (weft_deadline_expired())
                return WEFT_WASI_EINTR;
        } else if (errno != EAGAIN && errno != ECONNABORTED) {
            return weft_wasi_errno(errno);
        }
    }
    /* The connection's description is weft's own and nonblocking; guest-visible
     * blocking is done by waiting first (host_read/host_write), so the deadline can
     * always interrupt it. */
    weft_wasi_fd_t c = {.kind = WEFT_WASI_FD_HOST,
                        .host = conn,
                        .filetype = WEFT_WASI_FILETYPE_SOCKET_STREAM,
                        .flags = (uint16_t)flags,
                        .base = WEFT_WASI_RIGHTS_SOCKET & ~WEFT_WASI_RIGHT_SOCK_ACCEPT,
                        .preopen = -1};
    uint32_t newfd;
    rc = weft_wasi_fd_insert(weft_wasi_of(g), &c, &newfd);
    if (rc) {
        close(conn);
        return rc;
    }
    weft_wasi_put_u32(res, newfd);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(sock_recv)(weft_guest_t *g, uint32_t fd, uint32_t ri_data, uint32_t ri_data_len,
                      uint32_t ri_flags, uint32_t ro_datalen_ptr, uint32_t ro_flags_ptr) {
    weft_wasi_fd_t *e;
    uint32_t rc = sock_lookup(g, fd, WEFT_WASI_RIGHT_FD_READ, &e);
    if (rc)
        return rc;
    if (ri_flags & ~(WEFT_WASI_RIFLAG_PEEK | WEFT_WASI_RIFLAG_WAITALL))
        return WEFT_WASI_EINVAL;
    uint8_t *datalen = weft_guest_ptr(g, ro_datalen_ptr, 4);
    uint8_t *oflags = weft_guest_ptr(g, ro_flags_ptr, 2);
    if (!datalen || !oflags)
        return WEFT_WASI_EFAULT;
    int n;
    rc = weft_wasi_iovecs(g, ri_data, ri_data_len, &n);
    if (rc)
        return rc;
    struct iovec *iov = weft_wasi_of(g)->iov;
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    if (want == 0) {
        weft_wasi_put_u32(datalen, 0);
        weft_wasi_put_u16(oflags, 0);
        return WEFT_WASI_ESUCCESS;
    }
    bool nonblock = e->flags & WEFT_WASI_FDFLAG_NONBLOCK;
    bool waitall = (ri_flags & WEFT_WASI_RIFLAG_WAITALL) && !(ri_flags & WEFT_WASI_RIFLAG_PEEK);
    int mflags = MSG_DONTWAIT | ((ri_flags & WEFT_WASI_RIFLAG_PEEK) ? MSG_PEEK : 0);
    size_t got = 0;
    uint16_t out_flags = 0;
    /* MSG_WAITALL is done here, wait by wait, so the deadline can cut it short (what
     * arrived before that is returned). */
    for (;;) {
        rc = weft_wasi_wait(e->host, POLLIN, nonblock);
        if (rc)
            break;
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t r = recvmsg(e->host, &msg, mflags);
        if (r < 0) {
            if (errno == EINTR && weft_deadline_expired()) {
                rc = WEFT_WASI_EINTR;
                break;
            }
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = weft_wasi_errno(errno);
            break;
        }
        if (msg.msg_flags & MSG_TRUNC)
            out_flags |= WEFT_WASI_ROFLAG_TRUNCATED;
        got += (size_t)r;
        if (!waitall || r == 0 || got >= want)
            break;
        /* Advance the iovecs past what arrived. */
        size_t skip = (size_t)r;
        while (n > 0 && skip >= iov[0].iov_len) {
            skip -= iov[0].iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + skip;
            iov[0].iov_len -= skip;
        }
    }
    if (rc && got == 0)
        return rc;
    weft_wasi_put_u32(datalen, (uint32_t)got);
    weft_wasi_put_u16(oflags, out_flags);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(sock_send)(weft_guest_t *g, uint32_t fd, uint32_t si_data, uint32_t si_data_len,
                      uint32_t si_flags, uint32_t so_datalen_ptr) {
    weft_wasi_fd_t *e;
    uint32_t rc = sock_lookup(g, fd, WEFT_WASI_RIGHT_FD_WRITE, &e);
    if (rc)
        return rc;
    if (si_flags != 0) /* siflags has no flags defined */
        return WEFT_WASI_EINVAL;
    uint8_t *datalen = weft_guest_ptr(g, so_datalen_ptr, 4);
    if (!datalen)
        return WEFT_WASI_EFAULT;
    int n;
    rc = weft_wasi_iovecs(g, si_data, si_data_len, &n);
    if (rc)
        return rc;
    bool nonblock = e->flags & WEFT_WASI_FDFLAG_NONBLOCK;
    for (;;) {
        rc = weft_wasi_wait(e->host, POLLOUT, nonblock);
        if (rc)
            return rc;
        ssize_t r = weft_wasi_host_writev(e, weft_wasi_of(g)->iov, n);
        if (r >= 0) {
            weft_wasi_put_u32(datalen, (uint32_t)r);
            return WEFT_WASI_ESUCCESS;
        }
        if (errno == EINTR && weft_deadline_expired())
            return WEFT_WASI_EINTR;
        if (errno != EINTR && errno != EAGAIN)
            return weft_wasi_errno(errno);
    }
}

uint32_t Z(sock_shutdown)(weft_guest_t *g, uint32_t fd, uint32_t how) {
    weft_wasi_fd_t *e;
    uint32_t rc = sock_lookup(g, fd, WEFT_WASI_RIGHT_SOCK_SHUTDOWN, &e);
    if (rc)
        return rc;
    int h;
    switch (how) {
    case WEFT_WASI_SDFLAG_RD:
        h = SHUT_RD;
        break;
    case WEFT_WASI_SDFLAG_WR:
        h = SHUT_WR;
        break;
    case WEFT_WASI_SDFLAG_RD | WEFT_WASI_SDFLAG_WR:
        h = SHUT_RDWR;
        break;
    default:
        return WEFT_WASI_EINVAL;
    }
    return shutdown(e->host, h) == 0 ? WEFT_WASI_ESUCCESS : weft_wasi_errno(errno);
}
