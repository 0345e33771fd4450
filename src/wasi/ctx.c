/* ctx: a guest's WASI state (arguments, environment, descriptor table, stdio) from its
 * creation to its end, the errno mapping and the table of imports. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static const weft_import_def_t imports[] = {
#define WEFT_WASI_IMPORT_(name, sig, params) {"wasi_snapshot_preview1", #name, sig},
    WEFT_WASI_FUNCTIONS(WEFT_WASI_IMPORT_)
#undef WEFT_WASI_IMPORT_
        {"wasi_snapshot_preview1", "proc_exit", "i:"},
};

const weft_import_def_t *weft_wasi_imports(size_t *n) {
    *n = sizeof imports / sizeof imports[0];
    return imports;
}

uint32_t weft_wasi_errno(int e) {
    switch (e) {
    case 0:
        return WEFT_WASI_ESUCCESS;
    case E2BIG:
        return WEFT_WASI_E2BIG;
    case EACCES:
        return WEFT_WASI_EACCES;
    case EADDRINUSE:
        return WEFT_WASI_EADDRINUSE;
    case EADDRNOTAVAIL:
        return WEFT_WASI_EADDRNOTAVAIL;
    case EAFNOSUPPORT:
        return WEFT_WASI_EAFNOSUPPORT;
    case EAGAIN:
        return WEFT_WASI_EAGAIN;
    case EALREADY:
        return WEFT_WASI_EALREADY;
    case EBADF:
        return WEFT_WASI_EBADF;
    case EBADMSG:
        return WEFT_WASI_EBADMSG;
    case EBUSY:
        return WEFT_WASI_EBUSY;
    case ECANCELED:
        return WEFT_WASI_ECANCELED;
    case ECHILD:
        return WEFT_WASI_ECHILD;
    case ECONNABORTED:
        return WEFT_WASI_ECONNABORTED;
    case ECONNREFUSED:
        return WEFT_WASI_ECONNREFUSED;
    case ECONNRESET:
        return WEFT_WASI_ECONNRESET;
    case EDEADLK:
        return WEFT_WASI_EDEADLK;
    case EDESTADDRREQ:
        return WEFT_WASI_EDESTADDRREQ;
    case EDOM:
        return WEFT_WASI_EDOM;
    case EDQUOT:
        return WEFT_WASI_EDQUOT;
    case EEXIST:
        return WEFT_WASI_EEXIST;
    case EFAULT:
        return WEFT_WASI_EFAULT;
    case EFBIG:
        return WEFT_WASI_EFBIG;
    case EHOSTUNREACH:
        return WEFT_WASI_EHOSTUNREACH;
    case EIDRM:
        return WEFT_WASI_EIDRM;
    case EILSEQ:
        return WEFT_WASI_EILSEQ;
    case EINPROGRESS:
        return WEFT_WASI_EINPROGRESS;
    case EINTR:
        return WEFT_WASI_EINTR;
    case EINVAL:
        return WEFT_WASI_EINVAL;
    case EIO:
        return WEFT_WASI_EIO;
    case EISCONN:
        return WEFT_WASI_EISCONN;
    case EISDIR:
        return WEFT_WASI_EISDIR;
    case ELOOP:
        return WEFT_WASI_ELOOP;
    case EMFILE:
        return WEFT_WASI_EMFILE;
    case EMLINK:
        return WEFT_WASI_EMLINK;
    case EMSGSIZE:
        return WEFT_WASI_EMSGSIZE;
    case EMULTIHOP:
        return WEFT_WASI_EMULTIHOP;
    case ENAMETOOLONG:
        return WEFT_WASI_ENAMETOOLONG;
    case ENETDOWN:
        return WEFT_WASI_ENETDOWN;
    case ENETRESET:
        return WEFT_WASI_ENETRESET;
    case ENETUNREACH:
        return WEFT_WASI_ENETUNREACH;
    case ENFILE:
        return WEFT_WASI_ENFILE;
    case ENOBUFS:
        return WEFT_WASI_ENOBUFS;
    case ENODEV:
        return WEFT_WASI_ENODEV;
    case ENOENT:
        return WEFT_WASI_ENOENT;
    case ENOEXEC:
        return WEFT_WASI_ENOEXEC;
    case ENOLCK:
        return WEFT_WASI_ENOLCK;
    case ENOLINK:
        return WEFT_WASI_ENOLINK;
    case ENOMEM:
        return WEFT_WASI_ENOMEM;
    case ENOMSG:
        return WEFT_WASI_ENOMSG;
    case ENOPROTOOPT:
        return WEFT_WASI_ENOPROTOOPT;
    case ENOSPC:
        return WEFT_WASI_ENOSPC;
    case ENOSYS:
        return WEFT_WASI_ENOSYS;
    case ENOTCONN:
        return WEFT_WASI_ENOTCONN;
    case ENOTDIR:
        return WEFT_WASI_ENOTDIR;
    case ENOTEMPTY:
        return WEFT_WASI_ENOTEMPTY;
    case ENOTRECOVERABLE:
        return WEFT_WASI_ENOTRECOVERABLE;
    case ENOTSOCK:
        return WEFT_WASI_ENOTSOCK;
    case ENOTSUP: /* == EOPNOTSUPP on Linux */
        return WEFT_WASI_ENOTSUP;
    case ENOTTY:
        return WEFT_WASI_ENOTTY;
    case ENXIO:
        return WEFT_WASI_ENXIO;
    case EOVERFLOW:
        return WEFT_WASI_EOVERFLOW;
    case EOWNERDEAD:
        return WEFT_WASI_EOWNERDEAD;
    case EPERM:
        return WEFT_WASI_EPERM;
    case EPIPE:
        return WEFT_WASI_EPIPE;
    case EPROTO:
        return WEFT_WASI_EPROTO;
    case EPROTONOSUPPORT:
        return WEFT_WASI_EPROTONOSUPPORT;
    case EPROTOTYPE:
        return WEFT_WASI_EPROTOTYPE;
    case ERANGE:
        return WEFT_WASI_ERANGE;
    case EROFS:
        return WEFT_WASI_EROFS;
    case ESPIPE:
        return WEFT_WASI_ESPIPE;
    case ESRCH:
        return WEFT_WASI_ESRCH;
    case ESTALE:
        return WEFT_WASI_ESTALE;
    case ETIMEDOUT:
        return WEFT_WASI_ETIMEDOUT;
    case ETXTBSY:
        return WEFT_WASI_ETXTBSY;
    case EXDEV:
        return WEFT_WASI_EXDEV;
    default:
        /* A host condition WASI has no name for: say it is an I/O error rather than
         * inventing a meaning. */
        return WEFT_WASI_EIO;
    }
}

uint8_t weft_wasi_filetype_of(int host, unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG:
        return WEFT_WASI_FILETYPE_REGULAR_FILE;
    case S_IFDIR:
        return WEFT_WASI_FILETYPE_DIRECTORY;
    case S_IFLNK:
        return WEFT_WASI_FILETYPE_SYMBOLIC_LINK;
    case S_IFBLK:
        return WEFT_WASI_FILETYPE_BLOCK_DEVICE;
    case S_IFCHR:
        return WEFT_WASI_FILETYPE_CHARACTER_DEVICE;
    case S_IFSOCK: {
        int type = 0;
        socklen_t len = sizeof type;
        if (host >= 0 && getsockopt(host, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
            type == SOCK_DGRAM)
            return WEFT_WASI_FILETYPE_SOCKET_DGRAM;
        return WEFT_WASI_FILETYPE_SOCKET_STREAM;
    }
    default: /* FIFOs: preview1 has no type for them (wasmtime says unknown too) */
        return WEFT_WASI_FILETYPE_UNKNOWN;
    }
}

weft_wasi_fd_t *weft_wasi_fd_get(weft_wasi_t *w, uint32_t fd) {
    if (!w || fd >= w->nfds || w->fds[fd].kind == WEFT_WASI_FD_FREE)
        return NULL;
    return &w->fds[fd];
}

uint32_t weft_wasi_fd_insert(weft_wasi_t *w, const weft_wasi_fd_t *e, uint32_t *fd) {
    uint32_t i = 0;
    while (i < w->nfds && w->fds[i].kind != WEFT_WASI_FD_FREE)
        i++;
    if (i == w->nfds) {
        if (w->nfds >= WEFT_WASI_MAX_FDS)
            return WEFT_WASI_EMFILE;
        uint32_t n = w->nfds ? w->nfds * 2 : 16;
        if (n > WEFT_WASI_MAX_FDS)
            n = WEFT_WASI_MAX_FDS;
        weft_wasi_fd_t *fds = realloc(w->fds, n * sizeof *fds);
        if (!fds)
            return WEFT_WASI_ENOMEM;
        memset(fds + w->nfds, 0, (n - w->nfds) * sizeof *fds);
        w->fds = fds;
        w->nfds = n;
    }
    w->fds[i] = *e;
    *fd = i;
    return WEFT_WASI_ESUCCESS;
}

/* Is any other open descriptor using stream s? */
static bool stream_in_use(const weft_wasi_t *w, int s, const weft_wasi_fd_t *except) {
    for (uint32_t i = 0; i < w->nfds; i++) {
        const weft_wasi_fd_t *e = &w->fds[i];
        if (e != except && e->kind == WEFT_WASI_FD_STREAM && e->stream == s)
            return true;
    }
    return false;
}

void weft_wasi_fd_release(weft_wasi_t *w, weft_wasi_fd_t *e) {
    if (e->kind == WEFT_WASI_FD_HOST) {
        /* Linux releases the descriptor even when close reports an error or EINTR,
         * so it is never retried. */
        close(e->host);
    } else if (e->kind == WEFT_WASI_FD_STREAM && !stream_in_use(w, e->stream, e)) {
        weft_wasi_stream_flush(&w->streams[e->stream]);
    }
    memset(e, 0, sizeof *e);
    e->kind = WEFT_WASI_FD_FREE;
    e->host = -1;
}

/* Copies n strings into the arena at *cursor, filling vec; returns the bytes used
 * including NULs, or -1 when the total does not fit the guest's u32 sizes. */
static int64_t copy_strings(const char *const *src, size_t n, char **vec, char **cursor) {
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]) + 1;
        memcpy(*cursor, src[i], len);
        vec[i] = *cursor;
        *cursor += len;
        total += len;
    }
    return total > UINT32_MAX ? -1 : (int64_t)total;
}

/* Can this kernel resolve paths beneath a directory? Checked once per guest so a host
 * without openat2 (Linux < 5.6) fails with a message instead of every path call
 * failing with ENOSYS. */
static bool have_openat2(int dirfd) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, dirfd, ".", &how, sizeof how);
    if (fd < 0)
        return errno != ENOSYS;
    close(fd);
    return true;
}

/* Sets up the descriptor for stdio slot i. */
static int stdio_open(weft_wasi_t *w, int i, const weft_stdio_t *cfg, weft_error_t *err) {
    weft_wasi_fd_t e = {.kind = WEFT_WASI_FD_STREAM,
                        .host = -1,
                        .stream = i,
                        .preopen = -1,
                        .filetype = WEFT_WASI_FILETYPE_UNKNOWN};
    /* Like wasmtime: stdin can be read, stdout and stderr written, none sought. */
    uint64_t dir = i == 0 ? WEFT_WASI_RIGHT_FD_READ : WEFT_WASI_RIGHT_FD_WRITE;
    e.base = dir | WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WEFT_WASI_RIGHT_FD_FILESTAT_GET |
             WEFT_WASI_RIGHT_POLL_FD_READWRITE;
    if (cfg->kind == WEFT_STDIO_FD) {
        int fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return weft_error_set(err, WEFT_EIO, "stdio %d: host descriptor %d: %s", i, cfg->fd,
                                  strerror(errno));
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
            e.filetype = weft_wasi_filetype_of(fd, st.st_mode);
            e.base |=
                WEFT_WASI_RIGHTS_SOCKET & ~(WEFT_WASI_RIGHT_FD_READ | WEFT_WASI_RIGHT_FD_WRITE);
        } else if (isatty(fd)) {
            e.filetype = WEFT_WASI_FILETYPE_CHARACTER_DEVICE;
        }
        e.kind = WEFT_WASI_FD_HOST;
        e.host = fd;
        e.shared = true;
    } else {
        int rc = weft_wasi_stream_init(&w->streams[i], cfg);
        if (rc)
            return weft_error_set(err, rc, "stdio %d: invalid configuration", i);
    }
    w->fds[i] = e;
    return 0;
}

int weft_wasi_create(const weft_wasi_config_t *cfg, weft_wasi_t **out, weft_error_t *err) {
    int rc = 0;
    *out = NULL;
    weft_wasi_t *w = calloc(1, sizeof *w);
    if (!w)
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        w->streams[i].kind = WEFT_STDIO_NULL;

    /* One arena for every string the guest may read. */
    size_t bytes = 0;
    for (size_t i = 0; i < cfg->argc; i++)
        bytes += strlen(cfg->argv[i]) + 1;
    for (size_t i = 0; i < cfg->envc; i++)
        bytes += strlen(cfg->envp[i]) + 1;
    for (size_t i = 0; i < cfg->npreopens; i++)
        bytes += strlen(cfg->preopens[i].guest_path) + 1;
    size_t nvec = cfg->argc + cfg->envc + cfg->npreopens;
    w->strings = malloc(bytes ? bytes : 1);
    char **vec = calloc(nvec ? nvec : 1, sizeof *vec);
    if (!w->strings || !vec) {
        free(vec);
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    w->argv = vec;
    w->envp = vec + cfg->argc;
    w->preopen_names = vec + cfg->argc + cfg->envc;
    char *cursor = w->strings;
    int64_t n = copy_strings(cfg->argv, cfg->argc, w->argv, &cursor);
    int64_t m = copy_strings(cfg->envp, cfg->envc, w->envp, &cursor);
    for (size_t i = 0; i < cfg->npreopens; i++) {
        size_t len = strlen(cfg->preopens[i].guest_path) + 1;
        memcpy(cursor, cfg->preopens[i].guest_path, len);
        w->preopen_names[i] = cursor;
        cursor += len;
    }
    if (n < 0 || m < 0 || cfg->argc > UINT32_MAX / 4 || cfg->envc > UINT32_MAX / 4) {
        rc = weft_error_set(err, WEFT_ELIMIT, "arguments or environment too large for a guest");
        goto fail;
    }
    w->argc = (uint32_t)cfg->argc;
    w->argv_bytes = (uint32_t)n;
    w->envc = (uint32_t)cfg->envc;
    w->env_bytes = (uint32_t)m;
    w->npreopens = cfg->npreopens;

    size_t need = 3 + cfg->npreopens + cfg->nsockets;
    if (need > WEFT_WASI_MAX_FDS) {
        rc = weft_error_set(err, WEFT_ELIMIT, "more than %u preopens and sockets",
                            WEFT_WASI_MAX_FDS - 3);
        goto fail;
    }
    w->nfds = (uint32_t)(need < 16 ? 16 : need);
    w->fds = calloc(w->nfds, sizeof *w->fds);
    w->iov = malloc(WEFT_WASI_MAX_IOVS * sizeof *w->iov);
    w->paths = malloc(2 * sizeof *w->paths);
    if (!w->fds || !w->iov || !w->paths) {
        rc = weft_error_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < w->nfds; i++)
        w->fds[i].host = -1;
    for (int i = 0; i < 3; i++) {
        rc = stdio_open(w, i, &cfg->stdio[i], err);
        if (rc)
            goto fail;
    }

    for (size_t i = 0; i < cfg->npreopens; i++) {
        const weft_preopen_t *p = &cfg->preopens[i];
        int fd = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            rc = weft_error_set(err, errno == ENOENT ? WEFT_ENOTFOUND : WEFT_ECONFIG,
                                "preopen %s: %s", p->host_path,
                                errno == ENOTDIR ? "not a directory" : strerror(errno));
            goto fail;
        }
        weft_wasi_fd_t e = {.kind = WEFT_WASI_FD_HOST,
                            .host = fd,
                            .filetype = WEFT_WASI_FILETYPE_DIRECTORY,
                            .base = WEFT_WASI_RIGHTS_DIR,
                            .inheriting = WEFT_WASI_RIGHTS_DIR | WEFT_WASI_RIGHTS_FILE,
                            .preopen = (int)i,
                            .readonly = p->readonly};
        w->fds[3 + i] = e;
        if (i == 0 && !have_openat2(fd)) {
            rc = weft_error_set(err, WEFT_EUNSUPPORTED,
                                "preopen %s: this kernel cannot confine paths to a directory "
                                "(openat2 needs Linux 5.6 or later)",
                                p->host_path);
            goto fail;
        }
    }

    for (size_t i = 0; i < cfg->nsockets; i++) {
        int fd = fcntl(cfg->sockets[i], F_DUPFD_CLOEXEC, 3);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            if (fd >= 0)
                close(fd);
            rc = weft_error_set(err, WEFT_ECONFIG, "socket %d: not a socket", cfg->sockets[i]);
            goto fail;
        }
        weft_wasi_fd_t e = {.kind = WEFT_WASI_FD_HOST,
                            .host = fd,
                            .filetype = weft_wasi_filetype_of(fd, st.st_mode),
                            .base = WEFT_WASI_RIGHTS_SOCKET,
                            .preopen = -1,
                            .shared = true};
        w->fds[3 + cfg->npreopens + i] = e;
    }

    *out = w; /* the CPU clocks start at the guest's first read (proc.c) */
    return 0;

fail:
    weft_wasi_destroy(w);
    return rc;
}

void weft_wasi_destroy(weft_wasi_t *w) {
    if (!w)
        return;
    for (uint32_t i = 0; i < w->nfds; i++)
        if (w->fds[i].kind != WEFT_WASI_FD_FREE)
            weft_wasi_fd_release(w, &w->fds[i]);
    for (int i = 0; i < 3; i++) {
        weft_wasi_stream_flush(&w->streams[i]);
        weft_wasi_stream_free(&w->streams[i]);
    }
    free(w->fds);
    free(w->iov);
    free(w->paths);
    free(w->argv); /* the one vector behind argv, envp and preopen_names */
    free(w->strings);
    free(w);
}

int weft_wasi_run(weft_module_t *m, const char *entry, const weft_wasi_config_t *cfg, void *host,
                  const weft_limits_t *limits, weft_outcome_t *out, weft_error_t *err) {
    weft_wasi_t *wasi = NULL;
    int rc = weft_wasi_create(cfg, &wasi, err);
    if (rc)
        return rc;
    weft_guest_t guest = {.wasi = wasi, .host = host};
    rc = weft_module_run(m, entry ? entry : "_start", &guest, limits, out, err);
    weft_wasi_destroy(wasi);
    return rc;
}
