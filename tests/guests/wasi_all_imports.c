/* Imports every function of wasi_snapshot_preview1, so tests can compare the types
 * wasi-libc (and wasm2c) give them with weft's table. Run, it calls none of them
 * unless asked to with "call-all" (then with zeros: every call must fail cleanly). */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

/* Newer witx dropped proc_raise from wasi-libc's header; the import is still part of
 * preview1. */
int32_t weft_proc_raise(int32_t sig)
    __attribute__((__import_module__("wasi_snapshot_preview1"), __import_name__("proc_raise")));

#define T(call) printf("%s=%d\n", #call, (int)(call))

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "call-all") != 0)
        return 0;
    T(__wasi_args_get(0, 0));
    T(__wasi_args_sizes_get(0, 0));
    T(__wasi_environ_get(0, 0));
    T(__wasi_environ_sizes_get(0, 0));
    T(__wasi_clock_res_get(9, 0));
    T(__wasi_clock_time_get(9, 0, 0));
    T(__wasi_fd_advise(99, 0, 0, 0));
    T(__wasi_fd_allocate(99, 0, 0));
    T(__wasi_fd_datasync(99));
    T(__wasi_fd_fdstat_get(99, 0));
    T(__wasi_fd_fdstat_set_flags(99, 0));
    T(__wasi_fd_fdstat_set_rights(99, 0, 0));
    T(__wasi_fd_filestat_get(99, 0));
    T(__wasi_fd_filestat_set_size(99, 0));
    T(__wasi_fd_filestat_set_times(99, 0, 0, 0));
    T(__wasi_fd_pread(99, 0, 0, 0, 0));
    T(__wasi_fd_prestat_get(99, 0));
    T(__wasi_fd_prestat_dir_name(99, 0, 0));
    T(__wasi_fd_pwrite(99, 0, 0, 0, 0));
    T(__wasi_fd_read(99, 0, 0, 0));
    T(__wasi_fd_readdir(99, 0, 0, 0, 0));
    T(__wasi_fd_renumber(99, 98));
    T(__wasi_fd_seek(99, 0, 0, 0));
    T(__wasi_fd_sync(99));
    T(__wasi_fd_tell(99, 0));
    T(__wasi_fd_write(99, 0, 0, 0));
    T(__wasi_path_create_directory(99, ""));
    T(__wasi_path_filestat_get(99, 0, "", 0));
    T(__wasi_path_filestat_set_times(99, 0, "", 0, 0, 0));
    T(__wasi_path_link(99, 0, "", 99, ""));
    T(__wasi_path_open(99, 0, "", 0, 0, 0, 0, 0));
    T(__wasi_path_readlink(99, "", 0, 0, 0));
    T(__wasi_path_remove_directory(99, ""));
    T(__wasi_path_rename(99, "", 99, ""));
    T(__wasi_path_symlink("", 99, ""));
    T(__wasi_path_unlink_file(99, ""));
    T(__wasi_poll_oneoff(0, 0, 0, 0));
    T(weft_proc_raise(0));
    T(__wasi_sched_yield());
    T(__wasi_random_get(0, 0));
    T(__wasi_sock_accept(99, 0, 0));
    T(__wasi_sock_recv(99, 0, 0, 0, 0, 0));
    T(__wasi_sock_send(99, 0, 0, 0, 0));
    T(__wasi_sock_shutdown(99, 0));
    T(__wasi_fd_close(99));
    fflush(stdout);
    __wasi_proc_exit(3);
}
