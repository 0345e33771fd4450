/* wasi: WASI preview1 (wasi_snapshot_preview1) for guests, sandboxed to preopened
 * directories.
 *
 * A weft_wasi_t is the state of one guest's WASI world: its arguments, environment,
 * descriptor table (stdio, preopens, files it opened) and where its stdio goes. The
 * embedder creates one per invocation, points weft_guest_t.wasi at it, runs the guest
 * and destroys it. The host functions themselves are exported under wasm2c's names
 * (Z_wasi_snapshot_preview1Z_fd_write, ...) and listed by weft_wasi_imports() for the
 * engine's import check.
 *
 * Every guest pointer and length is checked against the guest's memory before use, and
 * every path is resolved beneath its preopen (openat2 RESOLVE_BENEATH): nothing outside
 * the preopened directories is reachable. Needs Linux 5.6 or later.
 *
 * wasmtime is the reference where the spec leaves room. Where weft answers otherwise,
 * and why:
 *  - A bad guest pointer is EFAULT (wasmtime traps): the guest can handle it.
 *  - Rights are enforced: fd_fdstat_set_rights only drops rights (more: ENOTCAPABLE),
 *    an operation without its right is ENOTCAPABLE, files opened get the rights they
 *    asked for that apply (wasmtime ignores rights). Rights asked for beyond what the
 *    directory passes on are dropped, not refused, as toolchains ask for all of them.
 *  - Read-only preopens refuse changes with EROFS (wasmtime: EPERM), which names the
 *    reason; a hard link or rename between a read-only and a writable preopen counts
 *    as a change.
 *  - Escapes are ENOTCAPABLE; symlinks with absolute targets cannot be made
 *    (ENOTCAPABLE): the guest could never follow one, a host program could.
 *  - fd_readdir cookies are the host's directory positions (after "." = 1 and
 *    ".." = 2, as in wasmtime), so reading on after deleting entries misses none;
 *    wasmtime counts entries, which skips some then.
 *  - clock_*_get on the process and thread CPU clocks give the guest thread's CPU time
 *    since its WASI state was made (wasmtime: EBADF); weft's process time would tell a
 *    guest about the others. poll_oneoff refuses CPU clocks with EINVAL, as wasmtime.
 *  - poll_oneoff reports a subscription on a bad descriptor in its event's error
 *    (wasmtime fails the whole call with EBADF).
 *  - fd_allocate allocates (wasmtime: ENOTSUP); path_link with SYMLINK_FOLLOW links
 *    the target, resolved beneath the directory.
 *  - sock_* work on sockets the embedder hands over (config.sockets, or a socket as
 *    stdio) and on connections accepted from them; ENOTSOCK elsewhere (wasmtime has
 *    none to hand over).
 *  - fd_renumber needs `to` open (wasmtime also takes a free number), so a guest's
 *    table stays bounded (WEFT_WASI_MAX_FDS descriptors).
 *  - Writing to stdin or reading stdout is ENOTCAPABLE (their rights), wasmtime EBADF.
 *  - proc_raise is ENOTSUP, as in wasmtime. proc_exit passes any status on (wasmtime
 *    traps on 126 and above).
 *  - A blocking call (fd_read on a pipe, poll_oneoff asleep, sock_accept) that the
 *    deadline interrupts returns EINTR at once; it never retries once the deadline
 *    has passed.
 */
#ifndef WEFT_WASI_H
#define WEFT_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../util/util.h"

typedef struct weft_wasi weft_wasi_t;

typedef struct weft_preopen {
    const char *host_path;  /* directory on the host */
    const char *guest_path; /* the name the guest sees, e.g. "/data" or "." */
    bool readonly;          /* no writes, creates, renames, deletes beneath it */
} weft_preopen_t;

typedef enum {
    WEFT_STDIO_NULL = 0, /* reads see EOF, writes are discarded */
    WEFT_STDIO_FD,       /* a host descriptor (dup'ed; the caller keeps its own) */
    WEFT_STDIO_INPUT,    /* reads come from the bytes in[0..in_len) (borrowed) */
    WEFT_STDIO_OUTPUT,   /* writes are appended to *out, up to out_limit bytes (0: none) */
    WEFT_STDIO_LINES,    /* writes are split into lines, each passed to on_line */
} weft_stdio_kind_t;

typedef struct weft_stdio {
    weft_stdio_kind_t kind;
    int fd;
    const uint8_t *in;
    size_t in_len;
    weft_buf_t *out;
    size_t out_limit; /* past it, writes fail with EFBIG */
    void (*on_line)(void *arg, const char *line, size_t len);
    void *arg;
} weft_stdio_t;

typedef struct weft_wasi_config {
    const char *const *argv; /* argv[0] is the program name the guest sees */
    size_t argc;
    const char *const *envp; /* "NAME=value" */
    size_t envc;
    const weft_preopen_t *preopens;
    size_t npreopens;
    weft_stdio_t stdio[3];
    /* Host sockets handed to the guest (dup'ed; the caller keeps its own), numbered
     * after the preopens: listening sockets for sock_accept, or connected ones for
     * sock_recv/sock_send. Nothing else the host has open is ever visible. */
    const int *sockets;
    size_t nsockets;
} weft_wasi_config_t;

/* Creates the WASI state for one guest. The config's strings are copied. Preopens
 * that do not exist or are not directories fail here, naming the path. */
int weft_wasi_create(const weft_wasi_config_t *cfg, weft_wasi_t **out, weft_error_t *err);
/* Closes every descriptor the guest left open and flushes a partial last line of
 * WEFT_STDIO_LINES streams. */
void weft_wasi_destroy(weft_wasi_t *w);

/* Runs entry (NULL: "_start") of m in a fresh instance, with a WASI world made from
 * cfg for the call and host as the guest's further host APIs (weft_guest_t.host,
 * borrowed; NULL: none), under limits: weft_wasi_create, weft_module_run and
 * weft_wasi_destroy in one step. Returns as weft_module_run does. Thread-safe. */
int weft_wasi_run(weft_module_t *m, const char *entry, const weft_wasi_config_t *cfg, void *host,
                  const weft_limits_t *limits, weft_outcome_t *out, weft_error_t *err);

/* The functions of wasi_snapshot_preview1 with their signatures. */
const weft_import_def_t *weft_wasi_imports(size_t *n);

/* ---- The host functions ----------------------------------------------------------- */

/* X(name, sig, parameters) for every function of wasi_snapshot_preview1 but proc_exit:
 * one list builds the C declarations below and the import table, so the signature the
 * engine checks a module against and the C type of the function cannot disagree
 * (tests/wasi/imports_test.c checks both against wasm2c's own output). Every function
 * returns the WASI errno; i32 is uint32_t and i64 uint64_t. */
#define WEFT_WASI_FUNCTIONS(X)                                                                     \
    X(args_get, "ii:i", (weft_guest_t * g, uint32_t argv, uint32_t argv_buf))                      \
    X(args_sizes_get, "ii:i", (weft_guest_t * g, uint32_t argc_ptr, uint32_t size_ptr))            \
    X(environ_get, "ii:i", (weft_guest_t * g, uint32_t environ, uint32_t environ_buf))             \
    X(environ_sizes_get, "ii:i", (weft_guest_t * g, uint32_t count_ptr, uint32_t size_ptr))        \
    X(clock_res_get, "ii:i", (weft_guest_t * g, uint32_t id, uint32_t res_ptr))                    \
    X(clock_time_get, "iIi:i",                                                                     \
      (weft_guest_t * g, uint32_t id, uint64_t precision, uint32_t time_ptr))                      \
    X(fd_advise, "iIIi:i",                                                                         \
      (weft_guest_t * g, uint32_t fd, uint64_t offset, uint64_t len, uint32_t advice))             \
    X(fd_allocate, "iII:i", (weft_guest_t * g, uint32_t fd, uint64_t offset, uint64_t len))        \
    X(fd_close, "i:i", (weft_guest_t * g, uint32_t fd))                                            \
    X(fd_datasync, "i:i", (weft_guest_t * g, uint32_t fd))                                         \
    X(fd_fdstat_get, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t stat_ptr))                   \
    X(fd_fdstat_set_flags, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t flags))                \
    X(fd_fdstat_set_rights, "iII:i",                                                               \
      (weft_guest_t * g, uint32_t fd, uint64_t base, uint64_t inheriting))                         \
    X(fd_filestat_get, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t stat_ptr))                 \
    X(fd_filestat_set_size, "iI:i", (weft_guest_t * g, uint32_t fd, uint64_t size))                \
    X(fd_filestat_set_times, "iIIi:i",                                                             \
      (weft_guest_t * g, uint32_t fd, uint64_t atim, uint64_t mtim, uint32_t fst_flags))           \
    X(fd_pread, "iiiIi:i",                                                                         \
      (weft_guest_t * g, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,           \
       uint32_t nread_ptr))                                                                        \
    X(fd_prestat_get, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t prestat_ptr))               \
    X(fd_prestat_dir_name, "iii:i",                                                                \
      (weft_guest_t * g, uint32_t fd, uint32_t path, uint32_t path_len))                           \
    X(fd_pwrite, "iiiIi:i",                                                                        \
      (weft_guest_t * g, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,           \
       uint32_t nwritten_ptr))                                                                     \
    X(fd_read, "iiii:i",                                                                           \
      (weft_guest_t * g, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nread_ptr))       \
    X(fd_readdir, "iiiIi:i",                                                                       \
      (weft_guest_t * g, uint32_t fd, uint32_t buf, uint32_t buf_len, uint64_t cookie,             \
       uint32_t used_ptr))                                                                         \
    X(fd_renumber, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t to))                           \
    X(fd_seek, "iIii:i",                                                                           \
      (weft_guest_t * g, uint32_t fd, uint64_t offset, uint32_t whence, uint32_t newoffset_ptr))   \
    X(fd_sync, "i:i", (weft_guest_t * g, uint32_t fd))                                             \
    X(fd_tell, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t offset_ptr))                       \
    X(fd_write, "iiii:i",                                                                          \
      (weft_guest_t * g, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_ptr))    \
    X(path_create_directory, "iii:i",                                                              \
      (weft_guest_t * g, uint32_t fd, uint32_t path, uint32_t path_len))                           \
    X(path_filestat_get, "iiiii:i",                                                                \
      (weft_guest_t * g, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,            \
       uint32_t stat_ptr))                                                                         \
    X(path_filestat_set_times, "iiiiIIi:i",                                                        \
      (weft_guest_t * g, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,            \
       uint64_t atim, uint64_t mtim, uint32_t fst_flags))                                          \
    X(path_link, "iiiiiii:i",                                                                      \
      (weft_guest_t * g, uint32_t old_fd, uint32_t old_flags, uint32_t old_path,                   \
       uint32_t old_path_len, uint32_t new_fd, uint32_t new_path, uint32_t new_path_len))          \
    X(path_open, "iiiiiIIii:i",                                                                    \
      (weft_guest_t * g, uint32_t fd, uint32_t dirflags, uint32_t path, uint32_t path_len,         \
       uint32_t oflags, uint64_t rights_base, uint64_t rights_inheriting, uint32_t fdflags,        \
       uint32_t fd_ptr))                                                                           \
    X(path_readlink, "iiiiii:i",                                                                   \
      (weft_guest_t * g, uint32_t fd, uint32_t path, uint32_t path_len, uint32_t buf,              \
       uint32_t buf_len, uint32_t used_ptr))                                                       \
    X(path_remove_directory, "iii:i",                                                              \
      (weft_guest_t * g, uint32_t fd, uint32_t path, uint32_t path_len))                           \
    X(path_rename, "iiiiii:i",                                                                     \
      (weft_guest_t * g, uint32_t fd, uint32_t old_path, uint32_t old_path_len, uint32_t new_fd,   \
       uint32_t new_path, uint32_t new_path_len))                                                  \
    X(path_symlink, "iiiii:i",                                                                     \
      (weft_guest_t * g, uint32_t old_path, uint32_t old_path_len, uint32_t fd, uint32_t new_path, \
       uint32_t new_path_len))                                                                     \
    X(path_unlink_file, "iii:i",                                                                   \
      (weft_guest_t * g, uint32_t fd, uint32_t path, uint32_t path_len))                           \
    X(poll_oneoff, "iiii:i",                                                                       \
      (weft_guest_t * g, uint32_t in, uint32_t out, uint32_t nsubscriptions,                       \
       uint32_t nevents_ptr))                                                                      \
    X(proc_raise, "i:i", (weft_guest_t * g, uint32_t sig))                                         \
    X(sched_yield, ":i", (weft_guest_t * g))                                                       \
    X(random_get, "ii:i", (weft_guest_t * g, uint32_t buf, uint32_t buf_len))                      \
    X(sock_accept, "iii:i", (weft_guest_t * g, uint32_t fd, uint32_t flags, uint32_t fd_ptr))      \
    X(sock_recv, "iiiiii:i",                                                                       \
      (weft_guest_t * g, uint32_t fd, uint32_t ri_data, uint32_t ri_data_len, uint32_t ri_flags,   \
       uint32_t ro_datalen_ptr, uint32_t ro_flags_ptr))                                            \
    X(sock_send, "iiiii:i",                                                                        \
      (weft_guest_t * g, uint32_t fd, uint32_t si_data, uint32_t si_data_len, uint32_t si_flags,   \
       uint32_t so_datalen_ptr))                                                                   \
    X(sock_shutdown, "ii:i", (weft_guest_t * g, uint32_t fd, uint32_t how))

#define WEFT_WASI_DECLARE_(name, sig, params) uint32_t Z_wasi_snapshot_preview1Z_##name params;
WEFT_WASI_FUNCTIONS(WEFT_WASI_DECLARE_)
#undef WEFT_WASI_DECLARE_

/* proc_exit "i:" ends the guest with status code (weft_guest_exit); it does not return. */
__attribute__((noreturn)) void Z_wasi_snapshot_preview1Z_proc_exit(weft_guest_t *g, uint32_t code);

#endif
