/* path_open of "." on the first preopen (fd 3), called directly as a toolchain's
 * runtime does it: with the preopen's own rights, with no rights, and with O_DIRECTORY
 * and no rights; then what each opened descriptor may do, and that rights narrowed on
 * the way down are never regained. The preopen must hold a file "file.txt". Prints one
 * line per step; tests/wasi/guest_open_dot.sh checks them. */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define PREOPEN 3

static const char *name(__wasi_errno_t e) {
    switch (e) {
    case __WASI_ERRNO_SUCCESS:
        return "ok";
    case __WASI_ERRNO_ISDIR:
        return "EISDIR";
    case __WASI_ERRNO_NOTCAPABLE:
        return "ENOTCAPABLE";
    case __WASI_ERRNO_NOTDIR:
        return "ENOTDIR";
    case __WASI_ERRNO_BADF:
        return "EBADF";
    case __WASI_ERRNO_NOENT:
        return "ENOENT";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno %u", e);
        return buf;
    }
    }
}

static void close_fd(__wasi_fd_t fd) {
    if (fd != (__wasi_fd_t)-1)
        (void)__wasi_fd_close(fd);
}

static __wasi_fdstat_t stat_of(__wasi_fd_t fd) {
    __wasi_fdstat_t st;
    memset(&st, 0, sizeof st);
    if (__wasi_fd_fdstat_get(fd, &st) != 0)
        printf("fd_fdstat_get %u failed\n", fd);
    return st;
}

/* Opens "." beneath dir and says what came back. */
static __wasi_fd_t open_dot(const char *label, __wasi_fd_t dir, __wasi_oflags_t oflags,
                            __wasi_rights_t base, __wasi_rights_t inheriting) {
    __wasi_fd_t fd = (__wasi_fd_t)-1;
    __wasi_errno_t e = __wasi_path_open(dir, 0, ".", oflags, base, inheriting, 0, &fd);
    if (e) {
        printf("%s: %s\n", label, name(e));
        return (__wasi_fd_t)-1;
    }
    __wasi_fdstat_t st = stat_of(fd);
    printf("%s: ok, %s\n", label,
           st.fs_filetype == __WASI_FILETYPE_DIRECTORY ? "a directory" : "not a directory");
    return fd;
}

/* Lists dir with fd_readdir: the error, or whether file.txt is among the entries. */
static void readdir_of(const char *label, __wasi_fd_t dir) {
    uint8_t buf[4096];
    __wasi_size_t used = 0;
    __wasi_errno_t e = __wasi_fd_readdir(dir, buf, sizeof buf, 0, &used);
    if (e) {
        printf("%s readdir: %s\n", label, name(e));
        return;
    }
    int seen = 0;
    for (size_t off = 0; off + sizeof(__wasi_dirent_t) <= used;) {
        __wasi_dirent_t d;
        memcpy(&d, buf + off, sizeof d);
        off += sizeof d;
        if (off + d.d_namlen > used)
            break;
        if (d.d_namlen == 8 && !memcmp(buf + off, "file.txt", 8))
            seen = 1;
        off += d.d_namlen;
    }
    printf("%s readdir: ok, %s\n", label, seen ? "file.txt listed" : "file.txt missing");
}

/* Opens file.txt beneath dir asking for base, and reads it. */
static __wasi_fd_t read_file(const char *label, __wasi_fd_t dir, __wasi_rights_t base) {
    __wasi_fd_t fd = (__wasi_fd_t)-1;
    __wasi_errno_t e = __wasi_path_open(dir, 0, "file.txt", 0, base, 0, 0, &fd);
    if (e) {
        printf("%s open file.txt: %s\n", label, name(e));
        return (__wasi_fd_t)-1;
    }
    char text[64] = {0};
    __wasi_iovec_t iov = {(uint8_t *)text, sizeof text - 1};
    __wasi_size_t n = 0;
    e = __wasi_fd_read(fd, &iov, 1, &n);
    if (e)
        printf("%s open file.txt: ok, read: %s\n", label, name(e));
    else
        printf("%s open file.txt: ok, read [%.*s]\n", label, (int)n, text);
    return fd;
}

int main(void) {
    __wasi_prestat_t pre;
    if (__wasi_fd_prestat_get(PREOPEN, &pre) != 0 || pre.tag != __WASI_PREOPENTYPE_DIR) {
        printf("fd %d is not a preopened directory\n", PREOPEN);
        return 1;
    }
    __wasi_fdstat_t p = stat_of(PREOPEN);
    const __wasi_rights_t read_only = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK;

    /* (a) the preopen's own rights: the new descriptor is the preopen again. */
    __wasi_fd_t a = open_dot("own rights", PREOPEN, 0, p.fs_rights_base, p.fs_rights_inheriting);
    if (a != (__wasi_fd_t)-1) {
        __wasi_fdstat_t st = stat_of(a);
        printf("own rights: base %s, inheriting %s\n",
               st.fs_rights_base == p.fs_rights_base ? "the preopen's" : "different",
               st.fs_rights_inheriting == p.fs_rights_inheriting ? "the preopen's" : "different");
        readdir_of("own rights", a);
        __wasi_fd_t f = read_file("own rights", a, read_only);
        close_fd(f);
        close_fd(a);
    }

    /* (b) no rights at all: opened, and it may do nothing. */
    __wasi_fd_t b = open_dot("no rights", PREOPEN, 0, 0, 0);
    if (b != (__wasi_fd_t)-1) {
        __wasi_fdstat_t st = stat_of(b);
        printf("no rights: base %llu, inheriting %llu\n", (unsigned long long)st.fs_rights_base,
               (unsigned long long)st.fs_rights_inheriting);
        readdir_of("no rights", b);
        close_fd(read_file("no rights", b, read_only));
        close_fd(b);
    }

    /* (c) O_DIRECTORY and no rights. */
    __wasi_fd_t c = open_dot("directory, no rights", PREOPEN, __WASI_OFLAGS_DIRECTORY, 0, 0);
    close_fd(c);

    /* Rights narrowed on the way down stay narrow: "." passing on reading only gives a
     * file opened beneath it no write right, whatever is asked, and no descriptor gets
     * back what its parent did not have. */
    __wasi_fd_t n =
        open_dot("narrowed", PREOPEN, __WASI_OFLAGS_DIRECTORY, p.fs_rights_base, read_only);
    if (n != (__wasi_fd_t)-1) {
        __wasi_fd_t f = read_file("narrowed", n, read_only | __WASI_RIGHTS_FD_WRITE);
        if (f != (__wasi_fd_t)-1) {
            __wasi_fdstat_t st = stat_of(f);
            printf("narrowed: write right %s\n",
                   st.fs_rights_base & __WASI_RIGHTS_FD_WRITE ? "granted" : "not granted");
            __wasi_ciovec_t iov = {(const uint8_t *)"x", 1};
            __wasi_size_t w = 0;
            printf("narrowed: fd_write: %s\n", name(__wasi_fd_write(f, &iov, 1, &w)));
            printf("narrowed: asking the write right back: %s\n",
                   name(__wasi_fd_fdstat_set_rights(f, st.fs_rights_base | __WASI_RIGHTS_FD_WRITE,
                                                    0)));
            close_fd(f);
        }
        /* "." beneath the narrowed one, asking for the preopen's rights, gets only
         * what "narrowed" passes on: no path_open, no readdir. */
        __wasi_fd_t nn = open_dot("narrowed again", n, 0, p.fs_rights_base, p.fs_rights_inheriting);
        if (nn != (__wasi_fd_t)-1) {
            readdir_of("narrowed again", nn);
            close_fd(read_file("narrowed again", nn, read_only));
            close_fd(nn);
        }
        close_fd(n);
    }
    return 0;
}
