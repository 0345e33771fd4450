/* path: the path_* functions, confined to the directory they start from.
 *
 * Every path a guest passes is resolved by the kernel beneath the directory descriptor
 * it names, with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute
 * paths, absolute symlinks and symlink chains that would leave the directory fail
 * (EXDEV from the kernel, ENOTCAPABLE to the guest), and because the kernel walks the
 * path in one call, a directory swapped for a symlink half-way cannot lead outside
 * either. weft never resolves a path itself.
 *
 * Operations that are not opens (mkdir, unlink, rename, link, symlink, readlink) open
 * the parent directory that way (O_PATH) and then act on the last component with the
 * *at() call, which does not follow a symlink there. The last component is never "."
 * or "..": those are answered here with the error Linux would give once the path is
 * known to stay inside, so no *at() call ever sees them. Stat and set-times open the
 * whole path O_PATH (O_NOFOLLOW unless the guest asked to follow) and act on that.
 *
 * Read-only preopens: every operation that would change something beneath one fails
 * with EROFS, which is what a read-only mount says. (wasmtime says EPERM; EROFS tells
 * the guest, and the person reading its error message, the actual reason.)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

uint32_t weft_wasi_path_read(weft_guest_t *g, uint32_t ptr, uint32_t len, char *out) {
    if (len > WEFT_WASI_MAX_PATH)
        return WEFT_WASI_ENAMETOOLONG;
    const uint8_t *p = weft_guest_ptr(g, ptr, len);
    if (!p)
        return WEFT_WASI_EFAULT;
    if (memchr(p, '\0', len))
        return WEFT_WASI_EINVAL;
    if (!weft_utf8_valid(p, len))
        return WEFT_WASI_EILSEQ;
    memcpy(out, p, len);
    out[len] = '\0';
    return WEFT_WASI_ESUCCESS;
}

/* Opens path beneath dirfd. Returns the WASI errno and the descriptor in *out. The
 * kernel's EXDEV (the path would leave dirfd) is ENOTCAPABLE, the capability error of
 * WASI; EAGAIN (a rename raced with the walk) is retried. */
static uint32_t beneath(int dirfd, const char *path, uint64_t flags, uint64_t mode, int *out) {
    *out = -1;
    if (path[0] == '/')
        return WEFT_WASI_ENOTCAPABLE;
    struct open_how how = {.flags = flags | O_CLOEXEC,
                           .mode = mode,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    for (int tries = 0;; tries++) {
        int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0) {
            *out = fd;
            return WEFT_WASI_ESUCCESS;
        }
        if (errno == EXDEV)
            return WEFT_WASI_ENOTCAPABLE;
        if (errno == EINTR) {
            if (weft_deadline_expired())
                return WEFT_WASI_EINTR;
            continue;
        }
        if (errno == EAGAIN && tries < WEFT_WASI_RESOLVE_RETRIES)
            continue;
        return weft_wasi_errno(errno);
    }
}

/* Where the last component of a path lives. */
typedef struct parent {
    int dir;          /* host directory descriptor the name is relative to */
    bool owned;       /* dir was opened for this call (close it) */
    const char *name; /* the last component: no '/', never empty */
    bool slash;       /* the path ended with '/' (the object must be a directory) */
    bool dots;        /* name is "." or ".." */
} parent_t;

/* Splits path (modified in place) into its parent, opened beneath dirfd, and its last
 * component. When the last component is "." or "..", p->dots is set and nothing is
 * opened: the caller decides what Linux would answer, after dots_check. */
static uint32_t parent_open(int dirfd, char *path, parent_t *p) {
    memset(p, 0, sizeof *p);
    p->dir = -1;
    size_t len = strlen(path);
    if (len == 0)
        return WEFT_WASI_ENOENT;
    if (path[0] == '/')
        return WEFT_WASI_ENOTCAPABLE;
    while (len > 1 && path[len - 1] == '/') {
        path[--len] = '\0';
        p->slash = true;
    }
    char *last = strrchr(path, '/');
    p->name = last ? last + 1 : path;
    if (!strcmp(p->name, ".") || !strcmp(p->name, "..")) {
        p->dots = true;
        return WEFT_WASI_ESUCCESS;
    }
    if (!last) {
        p->dir = dirfd;
        return WEFT_WASI_ESUCCESS;
    }
    *last = '\0'; /* path is now the parent; not empty, since it does not start with '/' */
    uint32_t rc = beneath(dirfd, path, O_PATH | O_DIRECTORY, 0, &p->dir);
    if (rc)
        return rc;
    p->owned = true;
    return WEFT_WASI_ESUCCESS;
}

static void parent_close(parent_t *p) {
    if (p->owned)
        close(p->dir);
    p->owned = false;
}

/* For a path ending in "." or "..": fails as resolving it fails (ENOTCAPABLE when it
 * leaves dirfd), else returns inside, the error the operation gives for it. path is
 * the original path (parent_open has only cut trailing slashes off it). */
static uint32_t dots_check(int dirfd, const char *path, uint32_t inside) {
    int fd;
    uint32_t rc = beneath(dirfd, path, O_PATH, 0, &fd);
    if (rc)
        return rc;
    close(fd);
    return inside;
}

/* Looks up a directory descriptor for a path operation. */
static uint32_t dir_lookup(weft_guest_t *g, uint32_t fd, uint64_t need, weft_wasi_fd_t **out) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->kind != WEFT_WASI_FD_HOST || e->shared)
        return WEFT_WASI_EBADF;
    if (e->filetype != WEFT_WASI_FILETYPE_DIRECTORY)
        return WEFT_WASI_ENOTDIR;
    if ((e->base & need) != need)
        return WEFT_WASI_ENOTCAPABLE;
    *out = e;
    return WEFT_WASI_ESUCCESS;
}

static uint32_t host_rc(int r) {
    return r == 0 ? WEFT_WASI_ESUCCESS : weft_wasi_errno(errno);
}

/* lstat of name in p, as a WASI errno; *isdir says whether it is a directory. */
static uint32_t stat_name(const parent_t *p, bool *isdir) {
    struct stat st;
    if (fstatat(p->dir, p->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return weft_wasi_errno(errno);
    *isdir = S_ISDIR(st.st_mode);
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(path_open)(weft_guest_t *g, uint32_t fd, uint32_t dirflags, uint32_t path,
                      uint32_t path_len, uint32_t oflags, uint64_t rights_base,
                      uint64_t rights_inheriting, uint32_t fdflags, uint32_t fd_ptr) {
    weft_wasi_fd_t *d;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_OPEN, &d);
    if (rc)
        return rc;
    if ((oflags & ~WEFT_WASI_OFLAGS_ALL) || (fdflags & ~WEFT_WASI_FDFLAGS_ALL) ||
        (dirflags & ~WEFT_WASI_LOOKUP_SYMLINK_FOLLOW))
        return WEFT_WASI_EINVAL;
    if ((oflags & WEFT_WASI_OFLAG_CREAT) && (oflags & WEFT_WASI_OFLAG_DIRECTORY))
        return WEFT_WASI_EINVAL;
    if (((oflags & WEFT_WASI_OFLAG_CREAT) && !(d->base & WEFT_WASI_RIGHT_PATH_CREATE_FILE)) ||
        ((oflags & WEFT_WASI_OFLAG_TRUNC) && !(d->base & WEFT_WASI_RIGHT_PATH_FILESTAT_SET_SIZE)))
        return WEFT_WASI_ENOTCAPABLE;
    /* Rights beyond what the directory passes on are dropped rather than refused:
     * toolchains ask for "everything" (Go asks for all bits) and expect to get what
     * applies. */
    uint64_t base = rights_base & d->inheriting;
    uint64_t inheriting = rights_inheriting & d->inheriting;
    bool want_dir = oflags & WEFT_WASI_OFLAG_DIRECTORY;
    bool rd = base & WEFT_WASI_RIGHTS_NEED_READ;
    bool wr =
        !want_dir && ((base & WEFT_WASI_RIGHTS_NEED_WRITE) || (fdflags & WEFT_WASI_FDFLAG_APPEND));
    if (d->readonly && (wr || (oflags & (WEFT_WASI_OFLAG_CREAT | WEFT_WASI_OFLAG_TRUNC))))
        return WEFT_WASI_EROFS;
    uint8_t *res = weft_guest_ptr(g, fd_ptr, 4);
    if (!res)
        return WEFT_WASI_EFAULT;
    char *p = weft_wasi_of(g)->paths[0];
    rc = weft_wasi_path_read(g, path, path_len, p);
    if (rc)
        return rc;

    uint64_t flags = (rd && wr) ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
    flags |= O_NOCTTY;
    if (oflags & WEFT_WASI_OFLAG_CREAT)
        flags |= O_CREAT;
    if (oflags & WEFT_WASI_OFLAG_EXCL)
        flags |= O_EXCL;
    if (oflags & WEFT_WASI_OFLAG_TRUNC)
        flags |= O_TRUNC;
    if (want_dir)
        flags |= O_DIRECTORY;
    if (!(dirflags & WEFT_WASI_LOOKUP_SYMLINK_FOLLOW))
        flags |= O_NOFOLLOW;
    if (fdflags & WEFT_WASI_FDFLAG_APPEND)
        flags |= O_APPEND;
    if (fdflags & WEFT_WASI_FDFLAG_DSYNC)
        flags |= O_DSYNC;
    if (fdflags & WEFT_WASI_FDFLAG_SYNC)
        flags |= O_SYNC;
    if (fdflags & WEFT_WASI_FDFLAG_RSYNC)
        flags |= O_RSYNC;
    /* Also makes opening a FIFO with no writer return at once instead of blocking. */
    if (fdflags & WEFT_WASI_FDFLAG_NONBLOCK)
        flags |= O_NONBLOCK;
    int host;
    rc = beneath(d->host, p, flags, (flags & O_CREAT) ? 0666 : 0, &host);
    if (rc)
        return rc;

    struct stat st;
    if (fstat(host, &st) != 0) {
        rc = weft_wasi_errno(errno);
        close(host);
        return rc;
    }
    weft_wasi_fd_t e = {.kind = WEFT_WASI_FD_HOST,
                        .host = host,
                        .filetype = weft_wasi_filetype_of(host, st.st_mode),
                        .flags = (uint16_t)fdflags,
                        .preopen = -1,
                        .readonly = d->readonly};
    if (S_ISDIR(st.st_mode)) {
        e.base = base & WEFT_WASI_RIGHTS_DIR;
        e.inheriting = inheriting;
    } else {
        e.base = base & WEFT_WASI_RIGHTS_FILE;
        if (!rd)
            e.base &= ~WEFT_WASI_RIGHTS_NEED_READ;
        if (!wr)
            e.base &= ~WEFT_WASI_RIGHTS_NEED_WRITE;
    }
    uint32_t newfd;
    rc = weft_wasi_fd_insert(weft_wasi_of(g), &e, &newfd);
    if (rc) {
        close(host);
        return rc;
    }
    weft_wasi_put_u32(res, newfd);
    return WEFT_WASI_ESUCCESS;
}

/* The start of a call that changes one name beneath a directory (mkdir, rmdir,
 * unlink): the descriptor with `right`, EROFS beneath a read-only preopen, the guest's
 * path read into the call's buffer (*p), and its parent opened beneath the directory
 * (*pa, the caller's to close). */
static uint32_t change_begin(weft_guest_t *g, uint32_t fd, uint64_t right, uint32_t path,
                             uint32_t path_len, weft_wasi_fd_t **d, char **p, parent_t *pa) {
    uint32_t rc = dir_lookup(g, fd, right, d);
    if (rc)
        return rc;
    if ((*d)->readonly)
        return WEFT_WASI_EROFS;
    *p = weft_wasi_of(g)->paths[0];
    rc = weft_wasi_path_read(g, path, path_len, *p);
    if (rc)
        return rc;
    return parent_open((*d)->host, *p, pa);
}

uint32_t Z(path_create_directory)(weft_guest_t *g, uint32_t fd, uint32_t path, uint32_t path_len) {
    weft_wasi_fd_t *d;
    char *p;
    parent_t pa;
    uint32_t rc =
        change_begin(g, fd, WEFT_WASI_RIGHT_PATH_CREATE_DIRECTORY, path, path_len, &d, &p, &pa);
    if (rc)
        return rc;
    if (pa.dots)
        return dots_check(d->host, p, WEFT_WASI_EEXIST);
    rc = host_rc(mkdirat(pa.dir, pa.name, 0777));
    parent_close(&pa);
    return rc;
}

uint32_t Z(path_remove_directory)(weft_guest_t *g, uint32_t fd, uint32_t path, uint32_t path_len) {
    weft_wasi_fd_t *d;
    char *p;
    parent_t pa;
    uint32_t rc =
        change_begin(g, fd, WEFT_WASI_RIGHT_PATH_REMOVE_DIRECTORY, path, path_len, &d, &p, &pa);
    if (rc)
        return rc;
    if (pa.dots) /* rmdir(2): "." is EINVAL, ".." ENOTEMPTY */
        return dots_check(d->host, p,
                          !strcmp(pa.name, ".") ? WEFT_WASI_EINVAL : WEFT_WASI_ENOTEMPTY);
    rc = host_rc(unlinkat(pa.dir, pa.name, AT_REMOVEDIR));
    parent_close(&pa);
    return rc;
}

uint32_t Z(path_unlink_file)(weft_guest_t *g, uint32_t fd, uint32_t path, uint32_t path_len) {
    weft_wasi_fd_t *d;
    char *p;
    parent_t pa;
    uint32_t rc =
        change_begin(g, fd, WEFT_WASI_RIGHT_PATH_UNLINK_FILE, path, path_len, &d, &p, &pa);
    if (rc)
        return rc;
    if (pa.dots)
        return dots_check(d->host, p, WEFT_WASI_EISDIR);
    if (pa.slash) {
        /* "name/" names a directory, which unlink does not remove. */
        bool isdir = false;
        rc = stat_name(&pa, &isdir);
        if (rc == WEFT_WASI_ESUCCESS)
            rc = isdir ? WEFT_WASI_EISDIR : WEFT_WASI_ENOTDIR;
    } else {
        rc = host_rc(unlinkat(pa.dir, pa.name, 0));
    }
    parent_close(&pa);
    return rc;
}

uint32_t Z(path_rename)(weft_guest_t *g, uint32_t fd, uint32_t old_path, uint32_t old_path_len,
                        uint32_t new_fd, uint32_t new_path, uint32_t new_path_len) {
    weft_wasi_fd_t *d1, *d2;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_RENAME_SOURCE, &d1);
    if (rc)
        return rc;
    rc = dir_lookup(g, new_fd, WEFT_WASI_RIGHT_PATH_RENAME_TARGET, &d2);
    if (rc)
        return rc;
    if (d1->readonly || d2->readonly)
        return WEFT_WASI_EROFS;
    char *p1 = weft_wasi_of(g)->paths[0], *p2 = weft_wasi_of(g)->paths[1];
    rc = weft_wasi_path_read(g, old_path, old_path_len, p1);
    if (!rc)
        rc = weft_wasi_path_read(g, new_path, new_path_len, p2);
    if (rc)
        return rc;
    parent_t a, b;
    rc = parent_open(d1->host, p1, &a);
    if (rc)
        return rc;
    if (a.dots)
        return dots_check(d1->host, p1, WEFT_WASI_EBUSY);
    rc = parent_open(d2->host, p2, &b);
    if (rc)
        goto out_a;
    if (b.dots) {
        rc = dots_check(d2->host, p2, WEFT_WASI_EBUSY);
        goto out_a;
    }
    if (a.slash || b.slash) {
        /* A trailing slash on either side says the source is a directory. */
        bool isdir = false;
        rc = stat_name(&a, &isdir);
        if (rc)
            goto out_b;
        if (!isdir) {
            rc = WEFT_WASI_ENOTDIR;
            goto out_b;
        }
    }
    rc = host_rc(renameat(a.dir, a.name, b.dir, b.name));
out_b:
    parent_close(&b);
out_a:
    parent_close(&a);
    return rc;
}

/* Links the object open as fd (O_PATH) under dir/name. AT_EMPTY_PATH needs
 * CAP_DAC_READ_SEARCH before Linux 6.10; without it the /proc/self/fd link of our own
 * descriptor names the same object (a host path weft makes, never a guest's). */
static uint32_t link_fd(int fd, int dir, const char *name) {
    if (linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
        return WEFT_WASI_ESUCCESS;
    if (errno != ENOENT && errno != EPERM)
        return weft_wasi_errno(errno);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return host_rc(linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW));
}

/* The name link and symlink create must be new: "." and ".." name what exists, and
 * link(2) and symlink(2) never make "name/" (EEXIST if something is there, else
 * ENOENT). path is the one pa was opened from. */
static uint32_t new_name_check(int dirfd, const char *path, const parent_t *pa) {
    if (pa->dots)
        return dots_check(dirfd, path, WEFT_WASI_EEXIST);
    if (pa->slash) {
        bool isdir;
        return stat_name(pa, &isdir) == WEFT_WASI_ESUCCESS ? WEFT_WASI_EEXIST : WEFT_WASI_ENOENT;
    }
    return WEFT_WASI_ESUCCESS;
}

uint32_t Z(path_link)(weft_guest_t *g, uint32_t old_fd, uint32_t old_flags, uint32_t old_path,
                      uint32_t old_path_len, uint32_t new_fd, uint32_t new_path,
                      uint32_t new_path_len) {
    weft_wasi_fd_t *d1, *d2;
    uint32_t rc = dir_lookup(g, old_fd, WEFT_WASI_RIGHT_PATH_LINK_SOURCE, &d1);
    if (rc)
        return rc;
    rc = dir_lookup(g, new_fd, WEFT_WASI_RIGHT_PATH_LINK_TARGET, &d2);
    if (rc)
        return rc;
    if (old_flags & ~WEFT_WASI_LOOKUP_SYMLINK_FOLLOW)
        return WEFT_WASI_EINVAL;
    /* A link out of a read-only preopen would let the guest write the file through the
     * new name, so the source side counts as a modification too. */
    if (d1->readonly || d2->readonly)
        return WEFT_WASI_EROFS;
    char *p1 = weft_wasi_of(g)->paths[0], *p2 = weft_wasi_of(g)->paths[1];
    rc = weft_wasi_path_read(g, old_path, old_path_len, p1);
    if (!rc)
        rc = weft_wasi_path_read(g, new_path, new_path_len, p2);
    if (rc)
        return rc;
    parent_t b;
    rc = parent_open(d2->host, p2, &b);
    if (rc)
        return rc;
    if ((rc = new_name_check(d2->host, p2, &b)))
        goto out_b;
    if (old_flags & WEFT_WASI_LOOKUP_SYMLINK_FOLLOW) {
        /* The kernel follows the whole chain beneath the directory, then the object it
         * found is linked: a symlink pointing outside fails to resolve. */
        int src;
        rc = beneath(d1->host, p1, O_PATH, 0, &src);
        if (rc)
            goto out_b;
        struct stat st;
        if (fstat(src, &st) == 0 && S_ISDIR(st.st_mode))
            rc = WEFT_WASI_EPERM;
        else
            rc = link_fd(src, b.dir, b.name);
        close(src);
        goto out_b;
    }
    parent_t a;
    rc = parent_open(d1->host, p1, &a);
    if (rc)
        goto out_b;
    if (a.dots) {
        rc = dots_check(d1->host, p1, WEFT_WASI_EPERM); /* a directory */
        goto out_b;
    }
    if (a.slash) {
        bool isdir = false;
        rc = stat_name(&a, &isdir);
        if (!rc)
            rc = isdir ? WEFT_WASI_EPERM : WEFT_WASI_ENOTDIR;
    } else {
        /* Without AT_SYMLINK_FOLLOW a symlink is linked as itself, never followed. */
        rc = host_rc(linkat(a.dir, a.name, b.dir, b.name, 0));
    }
    parent_close(&a);
out_b:
    parent_close(&b);
    return rc;
}

/* Absolute targets are refused (ENOTCAPABLE): the guest could never follow one, and a
 * host program that later does would leave the preopen. Relative targets are stored as
 * given; following them is confined like any other path. */
uint32_t Z(path_symlink)(weft_guest_t *g, uint32_t old_path, uint32_t old_path_len, uint32_t fd,
                         uint32_t new_path, uint32_t new_path_len) {
    weft_wasi_fd_t *d;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_SYMLINK, &d);
    if (rc)
        return rc;
    if (d->readonly)
        return WEFT_WASI_EROFS;
    char *target = weft_wasi_of(g)->paths[0], *p = weft_wasi_of(g)->paths[1];
    rc = weft_wasi_path_read(g, old_path, old_path_len, target);
    if (!rc)
        rc = weft_wasi_path_read(g, new_path, new_path_len, p);
    if (rc)
        return rc;
    if (target[0] == '\0')
        return WEFT_WASI_ENOENT;
    if (target[0] == '/')
        return WEFT_WASI_ENOTCAPABLE;
    parent_t pa;
    rc = parent_open(d->host, p, &pa);
    if (rc)
        return rc;
    rc = new_name_check(d->host, p, &pa);
    if (!rc)
        rc = host_rc(symlinkat(target, pa.dir, pa.name));
    parent_close(&pa);
    return rc;
}

/* A link longer than the buffer is cut to it, as readlink(2) and wasmtime do. */
uint32_t Z(path_readlink)(weft_guest_t *g, uint32_t fd, uint32_t path, uint32_t path_len,
                          uint32_t buf, uint32_t buf_len, uint32_t used_ptr) {
    weft_wasi_fd_t *d;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_READLINK, &d);
    if (rc)
        return rc;
    uint8_t *out = weft_guest_ptr(g, buf, buf_len);
    uint8_t *used = weft_guest_ptr(g, used_ptr, 4);
    if (!out || !used)
        return WEFT_WASI_EFAULT;
    char *p = weft_wasi_of(g)->paths[0], *link = weft_wasi_of(g)->paths[1];
    rc = weft_wasi_path_read(g, path, path_len, p);
    if (rc)
        return rc;
    parent_t pa;
    rc = parent_open(d->host, p, &pa);
    if (rc)
        return rc;
    if (pa.dots)
        return dots_check(d->host, p, WEFT_WASI_EINVAL);
    ssize_t n = -1;
    if (pa.slash) {
        /* "name/" resolves through the link: if that works, it names a directory,
         * which is not a link. */
        bool isdir = false;
        rc = stat_name(&pa, &isdir);
        if (!rc)
            rc = isdir ? WEFT_WASI_EINVAL : WEFT_WASI_ENOTDIR;
    } else {
        n = readlinkat(pa.dir, pa.name, link, WEFT_WASI_MAX_PATH + 1);
        rc = n < 0 ? weft_wasi_errno(errno) : WEFT_WASI_ESUCCESS;
    }
    parent_close(&pa);
    if (rc)
        return rc;
    size_t k = (size_t)n < buf_len ? (size_t)n : buf_len;
    memcpy(out, link, k);
    weft_wasi_put_u32(used, (uint32_t)k);
    return WEFT_WASI_ESUCCESS;
}

/* Opens the object a path names, following a final symlink only when asked. */
static uint32_t open_object(int dirfd, const char *p, uint32_t flags, int *out) {
    if (flags & ~WEFT_WASI_LOOKUP_SYMLINK_FOLLOW)
        return WEFT_WASI_EINVAL;
    return beneath(dirfd, p, O_PATH | ((flags & WEFT_WASI_LOOKUP_SYMLINK_FOLLOW) ? 0 : O_NOFOLLOW),
                   0, out);
}

uint32_t Z(path_filestat_get)(weft_guest_t *g, uint32_t fd, uint32_t flags, uint32_t path,
                              uint32_t path_len, uint32_t stat_ptr) {
    weft_wasi_fd_t *d;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_FILESTAT_GET, &d);
    if (rc)
        return rc;
    uint8_t *out = weft_guest_ptr(g, stat_ptr, WEFT_WASI_FILESTAT_SIZE);
    if (!out)
        return WEFT_WASI_EFAULT;
    char *p = weft_wasi_of(g)->paths[0];
    rc = weft_wasi_path_read(g, path, path_len, p);
    if (rc)
        return rc;
    int obj;
    rc = open_object(d->host, p, flags, &obj);
    if (rc)
        return rc;
    struct stat st;
    if (fstat(obj, &st) != 0)
        rc = weft_wasi_errno(errno);
    else
        weft_wasi_put_filestat(out, &st, weft_wasi_filetype_of(-1, st.st_mode));
    close(obj);
    return rc;
}

uint32_t Z(path_filestat_set_times)(weft_guest_t *g, uint32_t fd, uint32_t flags, uint32_t path,
                                    uint32_t path_len, uint64_t atim, uint64_t mtim,
                                    uint32_t fst_flags) {
    weft_wasi_fd_t *d;
    uint32_t rc = dir_lookup(g, fd, WEFT_WASI_RIGHT_PATH_FILESTAT_SET_TIMES, &d);
    if (rc)
        return rc;
    struct timespec ts[2];
    rc = weft_wasi_times(atim, mtim, fst_flags, ts);
    if (rc)
        return rc;
    if (d->readonly)
        return WEFT_WASI_EROFS;
    char *p = weft_wasi_of(g)->paths[0];
    rc = weft_wasi_path_read(g, path, path_len, p);
    if (rc)
        return rc;
    int obj;
    rc = open_object(d->host, p, flags, &obj);
    if (rc)
        return rc;
    if (utimensat(obj, "", ts, AT_EMPTY_PATH) == 0) {
        rc = WEFT_WASI_ESUCCESS;
    } else if (errno == EINVAL) {
        /* Kernels before 5.8 lack AT_EMPTY_PATH here; the /proc link of our own
         * descriptor names the same object (for a symlink: the link itself). */
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", obj);
        rc = host_rc(utimensat(AT_FDCWD, proc, ts, 0));
    } else {
        rc = weft_wasi_errno(errno);
    }
    close(obj);
    return rc;
}
