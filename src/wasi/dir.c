/* dir: fd_readdir.
 *
 * Like wasmtime, a listing starts with "." and "..", whose d_next cookies are 1 and 2.
 * After them weft passes on the host's own directory positions: the cookie of a host
 * entry is the kernel's d_off for it plus 2, and reading resumes with lseek to that
 * position. So a guest that reads a directory in small pieces gets every entry once
 * even when entries are created or removed between its calls (wasmtime numbers
 * entries by index instead, which skips entries when earlier ones are deleted, as in
 * "read some, delete them, read on"). The host's own "." and ".." are skipped.
 *
 * Entries are packed as the spec says: a 24-byte dirent then the name, the last one
 * cut off where the buffer ends; a full buffer tells the guest to call again from the
 * cookie of the last entry it could read whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define Z(name) Z_wasi_snapshot_preview1Z_##name

/* Cookies 1 and 2 are "after ." and "after ..". */
#define WEFT_WASI_COOKIE_HOST_BASE 2u

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

typedef struct packer {
    uint8_t *out;
    uint32_t cap, used;
} packer_t;

/* Appends one entry, cut where the buffer ends; false once the buffer is full. */
static bool pack(packer_t *pk, uint64_t next, uint64_t ino, uint8_t type, const char *name,
                 uint32_t namlen) {
    uint8_t ent[WEFT_WASI_DIRENT_SIZE] = {0};
    weft_wasi_put_u64(ent + 0, next);
    weft_wasi_put_u64(ent + 8, ino);
    weft_wasi_put_u32(ent + 16, namlen);
    weft_wasi_put_u8(ent + 20, type);
    uint32_t k =
        pk->cap - pk->used < WEFT_WASI_DIRENT_SIZE ? pk->cap - pk->used : WEFT_WASI_DIRENT_SIZE;
    memcpy(pk->out + pk->used, ent, k);
    pk->used += k;
    k = pk->cap - pk->used < namlen ? pk->cap - pk->used : namlen;
    memcpy(pk->out + pk->used, name, k);
    pk->used += k;
    return pk->used < pk->cap;
}

static uint8_t type_of(int dirfd, const struct linux_dirent64 *d) {
    switch (d->d_type) {
    case DT_REG:
        return WEFT_WASI_FILETYPE_REGULAR_FILE;
    case DT_DIR:
        return WEFT_WASI_FILETYPE_DIRECTORY;
    case DT_LNK:
        return WEFT_WASI_FILETYPE_SYMBOLIC_LINK;
    case DT_BLK:
        return WEFT_WASI_FILETYPE_BLOCK_DEVICE;
    case DT_CHR:
        return WEFT_WASI_FILETYPE_CHARACTER_DEVICE;
    case DT_SOCK:
        return WEFT_WASI_FILETYPE_SOCKET_STREAM;
    case DT_FIFO:
        return WEFT_WASI_FILETYPE_UNKNOWN;
    default: {
        /* Some file systems do not say; ask (the name comes from the directory
         * itself, never from the guest, and is not followed). */
        struct stat st;
        if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return weft_wasi_filetype_of(-1, st.st_mode);
        return WEFT_WASI_FILETYPE_UNKNOWN;
    }
    }
}

uint32_t Z(fd_readdir)(weft_guest_t *g, uint32_t fd, uint32_t buf, uint32_t buf_len,
                       uint64_t cookie, uint32_t used_ptr) {
    weft_wasi_fd_t *e = weft_wasi_fd_get(weft_wasi_of(g), fd);
    if (!e || e->filetype != WEFT_WASI_FILETYPE_DIRECTORY || e->kind != WEFT_WASI_FD_HOST)
        return WEFT_WASI_EBADF;
    if (!(e->base & WEFT_WASI_RIGHT_FD_READDIR))
        return WEFT_WASI_ENOTCAPABLE;
    packer_t pk = {.out = weft_guest_ptr(g, buf, buf_len), .cap = buf_len};
    uint8_t *used = weft_guest_ptr(g, used_ptr, 4);
    if (!pk.out || !used)
        return WEFT_WASI_EFAULT;
    if (cookie > (uint64_t)INT64_MAX + WEFT_WASI_COOKIE_HOST_BASE)
        return WEFT_WASI_EINVAL;
    uint32_t rc = WEFT_WASI_ESUCCESS;
    uint8_t *hostbuf = NULL;

    struct stat self;
    if (fstat(e->host, &self) != 0)
        return weft_wasi_errno(errno);
    /* ".." gets the directory's own inode, as in wasmtime: the real parent of a
     * preopen is outside the sandbox, and nothing a guest does needs its number. */
    if (cookie == 0 && !pack(&pk, 1, self.st_ino, WEFT_WASI_FILETYPE_DIRECTORY, ".", 1))
        goto done;
    if (cookie <= 1 && !pack(&pk, 2, self.st_ino, WEFT_WASI_FILETYPE_DIRECTORY, "..", 2))
        goto done;
    if (pk.used == pk.cap)
        goto done;

    off_t pos =
        cookie <= WEFT_WASI_COOKIE_HOST_BASE ? 0 : (off_t)(cookie - WEFT_WASI_COOKIE_HOST_BASE);
    if (lseek(e->host, pos, SEEK_SET) < 0) {
        rc = weft_wasi_errno(errno);
        goto done;
    }
    hostbuf = malloc(WEFT_WASI_DIRENT_BUF);
    if (!hostbuf) {
        rc = WEFT_WASI_ENOMEM;
        goto done;
    }
    for (;;) {
        long n = syscall(SYS_getdents64, e->host, hostbuf, WEFT_WASI_DIRENT_BUF);
        if (n < 0) {
            if (errno == EINTR && !weft_deadline_expired())
                continue;
            rc = weft_wasi_errno(errno);
            goto done;
        }
        if (n == 0)
            goto done;
        for (long off = 0; off < n;) {
            const struct linux_dirent64 *d = (const void *)(hostbuf + off);
            off += d->d_reclen;
            if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
                continue;
            uint64_t next = (uint64_t)d->d_off + WEFT_WASI_COOKIE_HOST_BASE;
            if (!pack(&pk, next, d->d_ino, type_of(e->host, d), d->d_name,
                      (uint32_t)strlen(d->d_name)))
                goto done;
        }
    }

done:
    free(hostbuf);
    if (rc == WEFT_WASI_ESUCCESS)
        weft_wasi_put_u32(used, pk.used);
    return rc;
}
