/* wasi internals: what the files of the wasi layer share and nothing else includes.
 *
 * The layer is split by feature: ctx.c (the WASI state, the descriptor table, errno
 * mapping, the import table), stdio.c (streams backed by memory or callbacks), fd.c
 * (descriptor functions), dir.c (fd_readdir), path.c (sandboxed path resolution and the
 * path_* functions), poll.c (poll_oneoff and waiting on host descriptors), sock.c
 * (sock_*), proc.c (arguments, environment, clocks, random, exit).
 *
 * Layouts and numbers are those of wasi_snapshot_preview1 (typenames.witx); offsets of
 * guest structures are spelled out where they are read or written.
 */
#ifndef WEFT_WASI_INTERNAL_H
#define WEFT_WASI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "wasi.h"

/* Guest structures are little-endian; weft copies them with memcpy. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "weft's WASI layer assumes a "
                                                          "little-endian host");

/* ---- Bounds on what a guest may ask for (one place to change each) ---------------- */

/* Descriptors one guest may hold open: every one is a host descriptor of the weft
 * process, shared by all guests, so one guest must not exhaust them. */
#define WEFT_WASI_MAX_FDS 1024u
/* iovecs in one fd_read/fd_write/sock_* call: Linux's IOV_MAX, so one host call can
 * take them all; more is EINVAL, as readv(2) says. */
#define WEFT_WASI_MAX_IOVS 1024u
/* Bytes moved by one read or write: Linux's own cap per call (MAX_RW_COUNT), which
 * also keeps the count inside the u32 the guest gets back. */
#define WEFT_WASI_MAX_IO_BYTES 0x7ffff000u
/* Length of a path a guest passes (PATH_MAX without the NUL). */
#define WEFT_WASI_MAX_PATH 4095u
/* Subscriptions in one poll_oneoff: wasi-libc's poll() makes two per pollfd. */
#define WEFT_WASI_MAX_SUBSCRIPTIONS 4096u
/* A WEFT_STDIO_LINES line longer than this is passed on in pieces of this size. */
#define WEFT_WASI_MAX_LINE_BYTES 16384u
/* How often openat2 is retried when the kernel reports a concurrent rename (EAGAIN). */
#define WEFT_WASI_RESOLVE_RETRIES 64
/* Host buffer for one getdents64 call. */
#define WEFT_WASI_DIRENT_BUF 16384u

/* ---- wasi_snapshot_preview1 numbers ----------------------------------------------- */

/* clang-format off */
#define WEFT_WASI_ERRNOS(X)                                                                        \
    X(SUCCESS, 0) X(2BIG, 1) X(ACCES, 2) X(ADDRINUSE, 3) X(ADDRNOTAVAIL, 4) X(AFNOSUPPORT, 5)      \
    X(AGAIN, 6) X(ALREADY, 7) X(BADF, 8) X(BADMSG, 9) X(BUSY, 10) X(CANCELED, 11) X(CHILD, 12)     \
    X(CONNABORTED, 13) X(CONNREFUSED, 14) X(CONNRESET, 15) X(DEADLK, 16) X(DESTADDRREQ, 17)        \
    X(DOM, 18) X(DQUOT, 19) X(EXIST, 20) X(FAULT, 21) X(FBIG, 22) X(HOSTUNREACH, 23) X(IDRM, 24)   \
    X(ILSEQ, 25) X(INPROGRESS, 26) X(INTR, 27) X(INVAL, 28) X(IO, 29) X(ISCONN, 30) X(ISDIR, 31)   \
    X(LOOP, 32) X(MFILE, 33) X(MLINK, 34) X(MSGSIZE, 35) X(MULTIHOP, 36) X(NAMETOOLONG, 37)        \
    X(NETDOWN, 38) X(NETRESET, 39) X(NETUNREACH, 40) X(NFILE, 41) X(NOBUFS, 42) X(NODEV, 43)       \
    X(NOENT, 44) X(NOEXEC, 45) X(NOLCK, 46) X(NOLINK, 47) X(NOMEM, 48) X(NOMSG, 49)                \
    X(NOPROTOOPT, 50) X(NOSPC, 51) X(NOSYS, 52) X(NOTCONN, 53) X(NOTDIR, 54) X(NOTEMPTY, 55)       \
    X(NOTRECOVERABLE, 56) X(NOTSOCK, 57) X(NOTSUP, 58) X(NOTTY, 59) X(NXIO, 60) X(OVERFLOW, 61)    \
    X(OWNERDEAD, 62) X(PERM, 63) X(PIPE, 64) X(PROTO, 65) X(PROTONOSUPPORT, 66) X(PROTOTYPE, 67)   \
    X(RANGE, 68) X(ROFS, 69) X(SPIPE, 70) X(SRCH, 71) X(STALE, 72) X(TIMEDOUT, 73) X(TXTBSY, 74)   \
    X(XDEV, 75) X(NOTCAPABLE, 76)
/* clang-format on */

enum {
#define WEFT_WASI_ERRNO_ENUM_(name, value) WEFT_WASI_E##name = value,
    WEFT_WASI_ERRNOS(WEFT_WASI_ERRNO_ENUM_)
#undef WEFT_WASI_ERRNO_ENUM_
};

/* rights */
#define WEFT_WASI_RIGHT_FD_DATASYNC (1ull << 0)
#define WEFT_WASI_RIGHT_FD_READ (1ull << 1)
#define WEFT_WASI_RIGHT_FD_SEEK (1ull << 2)
#define WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS (1ull << 3)
#define WEFT_WASI_RIGHT_FD_SYNC (1ull << 4)
#define WEFT_WASI_RIGHT_FD_TELL (1ull << 5)
#define WEFT_WASI_RIGHT_FD_WRITE (1ull << 6)
#define WEFT_WASI_RIGHT_FD_ADVISE (1ull << 7)
#define WEFT_WASI_RIGHT_FD_ALLOCATE (1ull << 8)
#define WEFT_WASI_RIGHT_PATH_CREATE_DIRECTORY (1ull << 9)
#define WEFT_WASI_RIGHT_PATH_CREATE_FILE (1ull << 10)
#define WEFT_WASI_RIGHT_PATH_LINK_SOURCE (1ull << 11)
#define WEFT_WASI_RIGHT_PATH_LINK_TARGET (1ull << 12)
#define WEFT_WASI_RIGHT_PATH_OPEN (1ull << 13)
#define WEFT_WASI_RIGHT_FD_READDIR (1ull << 14)
#define WEFT_WASI_RIGHT_PATH_READLINK (1ull << 15)
#define WEFT_WASI_RIGHT_PATH_RENAME_SOURCE (1ull << 16)
#define WEFT_WASI_RIGHT_PATH_RENAME_TARGET (1ull << 17)
#define WEFT_WASI_RIGHT_PATH_FILESTAT_GET (1ull << 18)
#define WEFT_WASI_RIGHT_PATH_FILESTAT_SET_SIZE (1ull << 19)
#define WEFT_WASI_RIGHT_PATH_FILESTAT_SET_TIMES (1ull << 20)
#define WEFT_WASI_RIGHT_FD_FILESTAT_GET (1ull << 21)
#define WEFT_WASI_RIGHT_FD_FILESTAT_SET_SIZE (1ull << 22)
#define WEFT_WASI_RIGHT_FD_FILESTAT_SET_TIMES (1ull << 23)
#define WEFT_WASI_RIGHT_PATH_SYMLINK (1ull << 24)
#define WEFT_WASI_RIGHT_PATH_REMOVE_DIRECTORY (1ull << 25)
#define WEFT_WASI_RIGHT_PATH_UNLINK_FILE (1ull << 26)
#define WEFT_WASI_RIGHT_POLL_FD_READWRITE (1ull << 27)
#define WEFT_WASI_RIGHT_SOCK_SHUTDOWN (1ull << 28)
#define WEFT_WASI_RIGHT_SOCK_ACCEPT (1ull << 29)
#define WEFT_WASI_RIGHTS_ALL ((1ull << 30) - 1)

/* What each kind of descriptor can do at most. A descriptor's rights are these, cut
 * down by how it was opened and by what the guest asked for. */
#define WEFT_WASI_RIGHTS_FILE                                                                      \
    (WEFT_WASI_RIGHT_FD_DATASYNC | WEFT_WASI_RIGHT_FD_READ | WEFT_WASI_RIGHT_FD_SEEK |             \
     WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WEFT_WASI_RIGHT_FD_SYNC | WEFT_WASI_RIGHT_FD_TELL |     \
     WEFT_WASI_RIGHT_FD_WRITE | WEFT_WASI_RIGHT_FD_ADVISE | WEFT_WASI_RIGHT_FD_ALLOCATE |          \
     WEFT_WASI_RIGHT_FD_FILESTAT_GET | WEFT_WASI_RIGHT_FD_FILESTAT_SET_SIZE |                      \
     WEFT_WASI_RIGHT_FD_FILESTAT_SET_TIMES | WEFT_WASI_RIGHT_POLL_FD_READWRITE)
#define WEFT_WASI_RIGHTS_DIR                                                                       \
    (WEFT_WASI_RIGHT_FD_DATASYNC | WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WEFT_WASI_RIGHT_FD_SYNC | \
     WEFT_WASI_RIGHT_PATH_CREATE_DIRECTORY | WEFT_WASI_RIGHT_PATH_CREATE_FILE |                    \
     WEFT_WASI_RIGHT_PATH_LINK_SOURCE | WEFT_WASI_RIGHT_PATH_LINK_TARGET |                         \
     WEFT_WASI_RIGHT_PATH_OPEN | WEFT_WASI_RIGHT_FD_READDIR | WEFT_WASI_RIGHT_PATH_READLINK |      \
     WEFT_WASI_RIGHT_PATH_RENAME_SOURCE | WEFT_WASI_RIGHT_PATH_RENAME_TARGET |                     \
     WEFT_WASI_RIGHT_PATH_FILESTAT_GET | WEFT_WASI_RIGHT_PATH_FILESTAT_SET_SIZE |                  \
     WEFT_WASI_RIGHT_PATH_FILESTAT_SET_TIMES | WEFT_WASI_RIGHT_FD_FILESTAT_GET |                   \
     WEFT_WASI_RIGHT_FD_FILESTAT_SET_TIMES | WEFT_WASI_RIGHT_PATH_SYMLINK |                        \
     WEFT_WASI_RIGHT_PATH_REMOVE_DIRECTORY | WEFT_WASI_RIGHT_PATH_UNLINK_FILE)
/* stdio and other byte streams: no seeking, no sizes, no times. */
#define WEFT_WASI_RIGHTS_STREAM                                                                    \
    (WEFT_WASI_RIGHT_FD_READ | WEFT_WASI_RIGHT_FD_WRITE | WEFT_WASI_RIGHT_FD_FDSTAT_SET_FLAGS |    \
     WEFT_WASI_RIGHT_FD_FILESTAT_GET | WEFT_WASI_RIGHT_POLL_FD_READWRITE)
#define WEFT_WASI_RIGHTS_SOCKET                                                                    \
    (WEFT_WASI_RIGHTS_STREAM | WEFT_WASI_RIGHT_SOCK_SHUTDOWN | WEFT_WASI_RIGHT_SOCK_ACCEPT)
/* Rights that only make sense with a host descriptor open for reading / writing.
 * FD_DATASYNC is not among them: fdatasync(2) works on a descriptor open for reading,
 * and a directory holds that right, so that a guest passing a directory's own rights
 * back to path_open (as for ".") must not get a directory opened for writing (EISDIR).
 * wasmtime opens for writing only on FD_WRITE. */
#define WEFT_WASI_RIGHTS_NEED_READ (WEFT_WASI_RIGHT_FD_READ | WEFT_WASI_RIGHT_FD_READDIR)
#define WEFT_WASI_RIGHTS_NEED_WRITE                                                                \
    (WEFT_WASI_RIGHT_FD_WRITE | WEFT_WASI_RIGHT_FD_ALLOCATE | WEFT_WASI_RIGHT_FD_FILESTAT_SET_SIZE)

/* filetype */
#define WEFT_WASI_FILETYPE_UNKNOWN 0
#define WEFT_WASI_FILETYPE_BLOCK_DEVICE 1
#define WEFT_WASI_FILETYPE_CHARACTER_DEVICE 2
#define WEFT_WASI_FILETYPE_DIRECTORY 3
#define WEFT_WASI_FILETYPE_REGULAR_FILE 4
#define WEFT_WASI_FILETYPE_SOCKET_DGRAM 5
#define WEFT_WASI_FILETYPE_SOCKET_STREAM 6
#define WEFT_WASI_FILETYPE_SYMBOLIC_LINK 7

/* fdflags */
#define WEFT_WASI_FDFLAG_APPEND 1u
#define WEFT_WASI_FDFLAG_DSYNC 2u
#define WEFT_WASI_FDFLAG_NONBLOCK 4u
#define WEFT_WASI_FDFLAG_RSYNC 8u
#define WEFT_WASI_FDFLAG_SYNC 16u
#define WEFT_WASI_FDFLAGS_ALL 31u

/* oflags, lookupflags, fstflags */
#define WEFT_WASI_OFLAG_CREAT 1u
#define WEFT_WASI_OFLAG_DIRECTORY 2u
#define WEFT_WASI_OFLAG_EXCL 4u
#define WEFT_WASI_OFLAG_TRUNC 8u
#define WEFT_WASI_OFLAGS_ALL 15u
#define WEFT_WASI_LOOKUP_SYMLINK_FOLLOW 1u
#define WEFT_WASI_FST_ATIM 1u
#define WEFT_WASI_FST_ATIM_NOW 2u
#define WEFT_WASI_FST_MTIM 4u
#define WEFT_WASI_FST_MTIM_NOW 8u
#define WEFT_WASI_FST_ALL 15u

/* clocks, whence, advice */
#define WEFT_WASI_CLOCK_REALTIME 0u
#define WEFT_WASI_CLOCK_MONOTONIC 1u
#define WEFT_WASI_CLOCK_PROCESS_CPUTIME 2u
#define WEFT_WASI_CLOCK_THREAD_CPUTIME 3u
#define WEFT_WASI_WHENCE_SET 0u
#define WEFT_WASI_WHENCE_CUR 1u
#define WEFT_WASI_WHENCE_END 2u
#define WEFT_WASI_ADVICE_MAX 5u

/* poll_oneoff */
#define WEFT_WASI_EVENTTYPE_CLOCK 0u
#define WEFT_WASI_EVENTTYPE_FD_READ 1u
#define WEFT_WASI_EVENTTYPE_FD_WRITE 2u
#define WEFT_WASI_EVENT_HANGUP 1u
#define WEFT_WASI_SUBCLOCK_ABSTIME 1u
#define WEFT_WASI_SUBSCRIPTION_SIZE 48u
#define WEFT_WASI_EVENT_SIZE 32u

/* sockets */
#define WEFT_WASI_RIFLAG_PEEK 1u
#define WEFT_WASI_RIFLAG_WAITALL 2u
#define WEFT_WASI_ROFLAG_TRUNCATED 1u
#define WEFT_WASI_SDFLAG_RD 1u
#define WEFT_WASI_SDFLAG_WR 2u

/* structure sizes */
#define WEFT_WASI_IOVEC_SIZE 8u
#define WEFT_WASI_DIRENT_SIZE 24u
#define WEFT_WASI_FILESTAT_SIZE 64u
#define WEFT_WASI_FDSTAT_SIZE 24u
#define WEFT_WASI_PRESTAT_SIZE 8u

/* ---- State ------------------------------------------------------------------------ */

typedef enum {
    WEFT_WASI_FD_FREE = 0,
    WEFT_WASI_FD_STREAM, /* a stdio stream of kind NULL, INPUT, OUTPUT or LINES */
    WEFT_WASI_FD_HOST,   /* a host descriptor: file, directory, socket, pipe, device */
} weft_wasi_fd_kind_t;

typedef struct weft_wasi_fd {
    weft_wasi_fd_kind_t kind;
    int host;   /* HOST: the host descriptor, owned */
    int stream; /* STREAM: index into weft_wasi.streams */
    uint8_t filetype;
    uint16_t flags; /* fdflags the guest sees (APPEND, NONBLOCK, sync flags at open) */
    uint64_t base, inheriting;
    int preopen;   /* index into weft_wasi.preopen_names when preopened, else -1 */
    bool readonly; /* lies beneath a read-only preopen */
    bool shared;   /* host: the open file description is the embedder's (dup'ed
                      stdio), so its status flags are never changed */
} weft_wasi_fd_t;

typedef struct weft_wasi_stream {
    weft_stdio_kind_t kind;
    const uint8_t *in; /* INPUT: borrowed */
    size_t in_len, in_pos;
    weft_buf_t *out; /* OUTPUT: borrowed */
    size_t out_limit, out_written;
    void (*on_line)(void *arg, const char *line, size_t len);
    void *arg;
    char *line; /* LINES: the partial line, WEFT_WASI_MAX_LINE_BYTES + 1 bytes */
    size_t line_len;
} weft_wasi_stream_t;

struct weft_wasi {
    char *strings; /* argv, envp and preopen names, one allocation */
    char **argv;
    uint32_t argc, argv_bytes;
    char **envp;
    uint32_t envc, env_bytes;
    char **preopen_names;
    size_t npreopens;
    weft_wasi_stream_t streams[3];
    weft_wasi_fd_t *fds;
    uint32_t nfds; /* slots in fds */
    /* Scratch space for one call at a time (a guest is one thread and host calls do
     * not nest). On the heap rather than the stack: host functions run on the guest's
     * stack, which a deep guest may have nearly used up. */
    struct iovec *iov;                     /* WEFT_WASI_MAX_IOVS */
    char (*paths)[WEFT_WASI_MAX_PATH + 1]; /* 2 paths (rename, link, symlink) */
    /* CPU-time clocks measure the guest's own thread from its start (see proc.c). */
    int cpu_tid;
    uint64_t cpu_base, cpu_last;
};

/* ---- Shared helpers ------------------------------------------------------------------ */

/* Host errno to WASI errno. */
uint32_t weft_wasi_errno(int host_errno);

/* The open descriptor fd, or NULL (the caller answers EBADF). */
weft_wasi_fd_t *weft_wasi_fd_get(weft_wasi_t *w, uint32_t fd);
/* Takes a free descriptor number (the lowest) for e and stores it in *fd; EMFILE past
 * WEFT_WASI_MAX_FDS, ENOMEM. On failure e->host stays the caller's to close. */
uint32_t weft_wasi_fd_insert(weft_wasi_t *w, const weft_wasi_fd_t *e, uint32_t *fd);
/* Closes what an entry holds and frees its slot. */
void weft_wasi_fd_release(weft_wasi_t *w, weft_wasi_fd_t *e);
/* Looks up fd for an operation that needs every right in need: EBADF, ENOTCAPABLE. */
uint32_t weft_wasi_fd_lookup(weft_guest_t *g, uint32_t fd, uint64_t need, weft_wasi_fd_t **out);
/* Is this descriptor a byte stream the embedder handed over (stdio of any kind, a
 * socket) rather than a file or directory the guest reached through a preopen? */
static inline bool weft_wasi_fd_is_stream(const weft_wasi_fd_t *e) {
    return e->kind == WEFT_WASI_FD_STREAM || e->shared;
}
/* Writes a filestat (WEFT_WASI_FILESTAT_SIZE bytes at p). */
struct stat;
void weft_wasi_put_filestat(uint8_t *p, const struct stat *st, uint8_t filetype);
/* atim/mtim/fst_flags to utimensat's two timespecs; EINVAL for contradictory flags. */
struct timespec;
uint32_t weft_wasi_times(uint64_t atim, uint64_t mtim, uint32_t fst, struct timespec ts[2]);
/* WASI filetype of a host descriptor (sockets by SO_TYPE). */
uint8_t weft_wasi_filetype_of(int host, unsigned mode);

/* stdio streams (stdio.c) */
int weft_wasi_stream_init(weft_wasi_stream_t *s, const weft_stdio_t *cfg);
uint32_t weft_wasi_stream_read(weft_wasi_stream_t *s, const struct iovec *iov, int n,
                               uint32_t *nread);
uint32_t weft_wasi_stream_write(weft_wasi_stream_t *s, const struct iovec *iov, int n,
                                uint32_t *nwritten);
/* Bytes a read would return now (INPUT), for poll_oneoff. */
uint64_t weft_wasi_stream_available(const weft_wasi_stream_t *s);
/* Passes on a partial last line (LINES); called when the last descriptor on the stream
 * closes and at destroy. */
void weft_wasi_stream_flush(weft_wasi_stream_t *s);
void weft_wasi_stream_free(weft_wasi_stream_t *s);

/* A guest iovec array as host iovecs in w->iov (fd.c). Checks the array and every
 * buffer against guest memory, caps the total at WEFT_WASI_MAX_IO_BYTES. EFAULT,
 * EINVAL (more than WEFT_WASI_MAX_IOVS). */
uint32_t weft_wasi_iovecs(weft_guest_t *g, uint32_t iovs, uint32_t n, int *nout);

/* Waits until a host descriptor is ready for events (POLLIN/POLLOUT); returns 0,
 * EAGAIN when nonblock and not ready, EINTR when the deadline passed (poll.c). */
uint32_t weft_wasi_wait(int host, short events, bool nonblock);
/* Does reading or writing this descriptor block until the other side acts? */
bool weft_wasi_fd_may_block(const weft_wasi_fd_t *e);
/* writev that never raises SIGPIPE in the weft process (sockets use MSG_NOSIGNAL,
 * pipes have SIGPIPE blocked around the call); -1 and errno on failure. */
ssize_t weft_wasi_host_writev(const weft_wasi_fd_t *e, const struct iovec *iov, int n);

/* Reads a guest path (ptr, len) into out (WEFT_WASI_MAX_PATH + 1 bytes) as a C string.
 * EFAULT, ENAMETOOLONG, EINVAL (a NUL inside), EILSEQ (not UTF-8). */
uint32_t weft_wasi_path_read(weft_guest_t *g, uint32_t ptr, uint32_t len, char *out);

/* Guest-memory stores: the caller has checked the range. */
static inline void weft_wasi_put_u8(uint8_t *p, uint8_t v) {
    *p = v;
}
static inline void weft_wasi_put_u16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, sizeof v);
}
static inline void weft_wasi_put_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, sizeof v);
}
static inline void weft_wasi_put_u64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, sizeof v);
}
static inline uint16_t weft_wasi_get_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t weft_wasi_get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t weft_wasi_get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A guest's WASI state, from the guest handle; NULL when the embedder gave none. */
static inline weft_wasi_t *weft_wasi_of(weft_guest_t *g) {
    return g ? g->wasi : NULL;
}

#endif
