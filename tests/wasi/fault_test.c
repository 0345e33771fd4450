/* fault: guest pointers and lengths that do not fit its memory are EFAULT, before any
 * side effect, and never crash the host (run under ASan: a read or write out of the
 * buffer would be reported). */
#include <sys/socket.h>

#include "harness.h"

/* Out of bounds in several ways: straddling the end, past it, at the top of u32. */
static const uint32_t bad[] = {H_MEM_BYTES - 1, H_MEM_BYTES, H_MEM_BYTES + 4096, 0xfffffffcu,
                               0xffffffffu};
#define NBAD (sizeof bad / sizeof bad[0])
#define EF WEFT_WASI_EFAULT

static void test_results_written_out_of_bounds(void) {
    fixture_t f;
    static const char *argv[] = {"prog", "arg"};
    static const char *envp[] = {"A=1"};
    weft_wasi_config_t cfg = {.argv = argv, .argc = 2, .envp = envp, .envc = 1};
    h_setup_with(&f, &cfg, false);
    h_write_file(f.sandbox, "f", "abc");
    uint32_t file;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &file), OK);
    for (size_t i = 0; i < NBAD; i++) {
        uint32_t b = bad[i];
        CHECK_EQ_INT(W(args_sizes_get)(&f.g, b, G_RES), EF);
        CHECK_EQ_INT(W(args_sizes_get)(&f.g, G_RES, b), EF);
        CHECK_EQ_INT(W(args_get)(&f.g, b, G_BUF), EF);
        CHECK_EQ_INT(W(args_get)(&f.g, G_RES, b), EF);
        CHECK_EQ_INT(W(environ_sizes_get)(&f.g, b, G_RES), EF);
        CHECK_EQ_INT(W(environ_get)(&f.g, G_RES, b), EF);
        CHECK_EQ_INT(W(clock_res_get)(&f.g, 0, b), EF);
        CHECK_EQ_INT(W(clock_time_get)(&f.g, 1, 0, b), EF);
        CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, 1, b), EF);
        CHECK_EQ_INT(W(fd_filestat_get)(&f.g, file, b), EF);
        CHECK_EQ_INT(W(fd_prestat_get)(&f.g, FD_PREOPEN, b), EF);
        CHECK_EQ_INT(W(fd_prestat_dir_name)(&f.g, FD_PREOPEN, b, 8), EF);
        CHECK_EQ_INT(W(fd_seek)(&f.g, file, 0, 0, b), EF);
        CHECK_EQ_INT(W(fd_tell)(&f.g, file, b), EF);
        CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, b, 100, 0, G_RES), EF);
        CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, G_BUF, 100, 0, b), EF);
        CHECK_EQ_INT(W(random_get)(&f.g, b, 16), EF);
        uint32_t n = h_str(&f, G_PATH, "f");
        CHECK_EQ_INT(W(path_filestat_get)(&f.g, FD_PREOPEN, 0, G_PATH, n, b), EF);
        CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, b, 16, G_RES), EF);
        CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, G_BUF, 16, b), EF);
        /* path_open must not create the file when it cannot say which fd it got */
        n = h_str(&f, G_PATH, "created");
        CHECK_EQ_INT(
            W(path_open)(&f.g, FD_PREOPEN, 0, G_PATH, n, WEFT_WASI_OFLAG_CREAT, H_RW, 0, 0, b), EF);
        CHECK(!h_exists(f.sandbox, "created"));
        CHECK_EQ_INT(W(poll_oneoff)(&f.g, G_BUF, G_BUF + 1024, 1, b), EF);
        CHECK_EQ_INT(W(poll_oneoff)(&f.g, b, G_BUF + 1024, 1, G_RES), EF);
        CHECK_EQ_INT(W(poll_oneoff)(&f.g, G_BUF, b, 1, G_RES), EF);
    }
    /* a region whose length runs off the end */
    CHECK_EQ_INT(W(random_get)(&f.g, G_BUF, H_MEM_BYTES), EF);
    CHECK_EQ_INT(W(random_get)(&f.g, 0, H_MEM_BYTES), OK);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, G_BUF, 0xffffffffu, 0, G_RES), EF);
    CHECK_EQ_INT(W(fd_prestat_dir_name)(&f.g, FD_PREOPEN, H_MEM_BYTES - 4, 8), EF);
    W(fd_close)(&f.g, file);
    h_teardown(&f);
}

static void test_iovecs_out_of_bounds(void) {
    fixture_t f;
    weft_buf_t out = {0};
    weft_wasi_config_t cfg = {.stdio = {{0}, {.kind = WEFT_STDIO_OUTPUT, .out = &out}}};
    h_setup_with(&f, &cfg, false);
    h_write_file(f.sandbox, "f", "abc");
    uint32_t file;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &file), OK);
    for (size_t i = 0; i < NBAD; i++) {
        uint32_t b = bad[i];
        /* the array itself */
        CHECK_EQ_INT(W(fd_write)(&f.g, 1, b, 1, G_RES), EF);
        CHECK_EQ_INT(W(fd_read)(&f.g, file, b, 1, G_RES), EF);
        /* a buffer it names, after a good one: nothing is written at all */
        weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
        weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 4);
        weft_wasi_put_u32(h_mem(&f, G_IOV + 8), b);
        weft_wasi_put_u32(h_mem(&f, G_IOV + 12), 4);
        CHECK_EQ_INT(W(fd_write)(&f.g, 1, G_IOV, 2, G_RES), EF);
        CHECK_EQ_INT(W(fd_write)(&f.g, file, G_IOV, 2, G_RES), EF);
        CHECK_EQ_INT(W(fd_read)(&f.g, file, G_IOV, 2, G_RES), EF);
        CHECK_EQ_INT(W(fd_pread)(&f.g, file, G_IOV, 2, 0, G_RES), EF);
        CHECK_EQ_INT(W(fd_pwrite)(&f.g, file, G_IOV, 2, 0, G_RES), EF);
        /* the result */
        CHECK_EQ_INT(W(fd_write)(&f.g, 1, G_IOV, 1, b), EF);
        CHECK_EQ_INT(W(fd_read)(&f.g, file, G_IOV, 1, b), EF);
        CHECK_EQ_INT(W(fd_pwrite)(&f.g, file, G_IOV, 1, 0, b), EF);
        CHECK_EQ_INT(W(fd_pread)(&f.g, file, G_IOV, 1, 0, b), EF);
    }
    /* a buffer whose length runs past the end */
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BIG);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), H_MEM_BYTES - G_BIG + 1);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, G_IOV, 1, G_RES), EF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 0xffffffffu);
    CHECK_EQ_INT(W(fd_read)(&f.g, file, G_IOV, 1, G_RES), EF);
    /* an empty buffer at the very end is fine */
    weft_wasi_put_u32(h_mem(&f, G_IOV), H_MEM_BYTES);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 0);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, G_IOV, 1, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 0);
    CHECK_EQ_INT(out.len, 0); /* no bad write wrote anything */
    /* too many iovecs is EINVAL (as readv), a count that runs off memory EFAULT */
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, 0, WEFT_WASI_MAX_IOVS + 1, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, 0, 0xffffffffu, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, H_MEM_BYTES - 8, 2, G_RES), EF);
    /* the file is as it was */
    char buf[8];
    h_read_file(f.sandbox, "f", buf, sizeof buf);
    CHECK_EQ_STR(buf, "abc");
    W(fd_close)(&f.g, file);
    h_teardown(&f);
    weft_buf_free(&out);
}

static void test_paths_out_of_bounds_or_malformed(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.sandbox);
    for (size_t i = 0; i < NBAD; i++) {
        uint32_t b = bad[i];
        CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, b, 4), EF);
        CHECK_EQ_INT(W(path_unlink_file)(&f.g, FD_PREOPEN, b, 4), EF);
        CHECK_EQ_INT(W(path_remove_directory)(&f.g, FD_PREOPEN, b, 4), EF);
        CHECK_EQ_INT(
            W(path_open)(&f.g, FD_PREOPEN, 0, b, 4, WEFT_WASI_OFLAG_CREAT, H_RW, 0, 0, G_RES), EF);
        CHECK_EQ_INT(W(path_filestat_get)(&f.g, FD_PREOPEN, 0, b, 4, G_RES), EF);
        CHECK_EQ_INT(W(path_filestat_set_times)(&f.g, FD_PREOPEN, 0, b, 4, 0, 0, 0), EF);
        CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, b, 4, G_BUF, 10, G_RES), EF);
        uint32_t n = h_str(&f, G_PATH, "ok");
        CHECK_EQ_INT(W(path_rename)(&f.g, FD_PREOPEN, G_PATH, n, FD_PREOPEN, b, 4), EF);
        CHECK_EQ_INT(W(path_rename)(&f.g, FD_PREOPEN, b, 4, FD_PREOPEN, G_PATH, n), EF);
        CHECK_EQ_INT(W(path_link)(&f.g, FD_PREOPEN, 0, b, 4, FD_PREOPEN, G_PATH, n), EF);
        CHECK_EQ_INT(W(path_link)(&f.g, FD_PREOPEN, 0, G_PATH, n, FD_PREOPEN, b, 4), EF);
        CHECK_EQ_INT(W(path_symlink)(&f.g, b, 4, FD_PREOPEN, G_PATH, n), EF);
        CHECK_EQ_INT(W(path_symlink)(&f.g, G_PATH, n, FD_PREOPEN, b, 4), EF);
    }
    /* lengths: longer than a path may be, or running off memory */
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, WEFT_WASI_MAX_PATH + 1),
                 WEFT_WASI_ENAMETOOLONG);
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, 0xffffffffu),
                 WEFT_WASI_ENAMETOOLONG);
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, H_MEM_BYTES - 10, 20), EF);
    /* a NUL inside, and bytes that are not UTF-8 */
    memcpy(h_mem(&f, G_PATH), "a\0b", 3);
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, 3), WEFT_WASI_EINVAL);
    static const char *not_utf8[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                     "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof not_utf8 / sizeof not_utf8[0]; i++) {
        uint32_t n = h_str(&f, G_PATH, not_utf8[i]);
        CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, n), WEFT_WASI_EILSEQ);
    }
    uint32_t n = h_str(&f, G_PATH, "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80");
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, n), OK);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80"), OK);
    CHECK_EQ_INT(h_tree_hash(f.sandbox), before);
    h_teardown(&f);
}

static void test_poll_and_sockets_out_of_bounds(void) {
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    fixture_t f;
    weft_wasi_config_t cfg = {.sockets = &sp[0], .nsockets = 1};
    h_setup_with(&f, &cfg, false);
    uint32_t sock = 4;
    CHECK(write(sp[1], "data", 4) == 4);
    for (size_t i = 0; i < NBAD; i++) {
        uint32_t b = bad[i];
        weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
        weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 4);
        CHECK_EQ_INT(W(sock_recv)(&f.g, sock, b, 1, 0, G_RES, G_RES + 4), EF);
        CHECK_EQ_INT(W(sock_recv)(&f.g, sock, G_IOV, 1, 0, b, G_RES + 4), EF);
        CHECK_EQ_INT(W(sock_recv)(&f.g, sock, G_IOV, 1, 0, G_RES, b), EF);
        CHECK_EQ_INT(W(sock_send)(&f.g, sock, b, 1, 0, G_RES), EF);
        CHECK_EQ_INT(W(sock_send)(&f.g, sock, G_IOV, 1, 0, b), EF);
        CHECK_EQ_INT(W(sock_accept)(&f.g, sock, 0, b), EF);
    }
    /* the data is still there for a good call */
    CHECK_EQ_INT(W(sock_recv)(&f.g, sock, G_IOV, 1, 0, G_RES, G_RES + 4), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 4);
    /* poll: more subscriptions than memory holds, or than the bound */
    CHECK_EQ_INT(W(poll_oneoff)(&f.g, H_MEM_BYTES - 48 * 10, 0, 11, G_RES), EF);
    CHECK_EQ_INT(W(poll_oneoff)(&f.g, 0, H_MEM_BYTES - 32 * 10, 11, G_RES), EF);
    CHECK_EQ_INT(W(poll_oneoff)(&f.g, 0, 0, WEFT_WASI_MAX_SUBSCRIPTIONS + 1, G_RES),
                 WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(poll_oneoff)(&f.g, 0, 0, 0xffffffffu, G_RES), WEFT_WASI_EINVAL);
    h_teardown(&f);
    close(sp[0]);
    close(sp[1]);
}

static void test_a_guest_without_memory_or_wasi(void) {
    fixture_t f;
    h_setup(&f);
    wasm_rt_memory_t *mem = f.g.memory;
    f.g.memory = NULL; /* a module that exports no memory */
    CHECK_EQ_INT(W(args_sizes_get)(&f.g, 0, 4), EF);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, 0, 0, 0), EF);
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, 0, 1, 8), EF);
    CHECK_EQ_INT(W(random_get)(&f.g, 0, 0), EF); /* no memory: no pointer is good */
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, 0, 1), EF);
    f.g.memory = mem;
    weft_wasi_t *w = f.g.wasi;
    f.g.wasi = NULL; /* an embedder that gave none */
    CHECK_EQ_INT(W(fd_write)(&f.g, 1, G_IOV, 0, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(args_sizes_get)(&f.g, G_RES, G_RES + 4), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 0);
    CHECK_EQ_INT(W(path_create_directory)(&f.g, FD_PREOPEN, G_PATH, 1), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(poll_oneoff)(&f.g, G_BUF, G_BIG, 1, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_PROCESS_CPUTIME, 0, G_RES), OK);
    f.g.wasi = w;
    h_teardown(&f);
}

int main(void) {
    test_results_written_out_of_bounds();
    test_iovecs_out_of_bounds();
    test_paths_out_of_bounds_or_malformed();
    test_poll_and_sockets_out_of_bounds();
    test_a_guest_without_memory_or_wasi();
    return TEST_DONE();
}
