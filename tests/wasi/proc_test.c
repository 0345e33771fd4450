/* proc: arguments, environment, clocks, randomness, raise, yield, sockets, and the
 * import table. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"

static void test_arguments_and_environment(void) {
    fixture_t f;
    static const char *argv[] = {"prog.wasm", "one", "", "three words"};
    static const char *envp[] = {"A=1", "EMPTY=", "PATH=/bin"};
    weft_wasi_config_t cfg = {.argv = argv, .argc = 4, .envp = envp, .envc = 3};
    h_setup_with(&f, &cfg, false);
    CHECK_EQ_INT(W(args_sizes_get)(&f.g, G_RES, G_RES + 4), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 4);
    CHECK_EQ_INT(h_u32(&f, G_RES + 4), 10 + 4 + 1 + 12);
    CHECK_EQ_INT(W(args_get)(&f.g, G_RES, G_BUF), OK);
    for (int i = 0; i < 4; i++) {
        uint32_t p = h_u32(&f, G_RES + 4 * (uint32_t)i);
        CHECK(p >= G_BUF && p < G_BUF + 27);
        CHECK_EQ_STR((char *)h_mem(&f, p), argv[i]);
    }
    CHECK_EQ_INT(W(environ_sizes_get)(&f.g, G_RES, G_RES + 4), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 3);
    CHECK_EQ_INT(h_u32(&f, G_RES + 4), 4 + 7 + 10);
    CHECK_EQ_INT(W(environ_get)(&f.g, G_RES, G_BUF), OK);
    CHECK_EQ_STR((char *)h_mem(&f, h_u32(&f, G_RES + 8)), "PATH=/bin");
    h_teardown(&f);
    /* the strings were copied: the caller's may go away */
    fixture_t g;
    char arg[] = "temporary";
    const char *av[] = {arg};
    weft_wasi_config_t cfg2 = {.argv = av, .argc = 1};
    h_setup_with(&g, &cfg2, false);
    memset(arg, 'X', sizeof arg - 1);
    CHECK_EQ_INT(W(args_get)(&g.g, G_RES, G_BUF), OK);
    CHECK_EQ_STR((char *)h_mem(&g, G_BUF), "temporary");
    h_teardown(&g);
}

/* Spins until clock c has advanced ms milliseconds (the CPU clock on a busy machine
 * runs slower than the wall). */
static void busy(clockid_t c, int ms) {
    struct timespec t0, t;
    clock_gettime(c, &t0);
    do
        clock_gettime(c, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void test_clocks(void) {
    fixture_t f;
    h_setup(&f);
    for (uint32_t id = 0; id < 4; id++) {
        CHECK_EQ_INT(W(clock_res_get)(&f.g, id, G_RES), OK);
        CHECK(h_u64(&f, G_RES) > 0 && h_u64(&f, G_RES) <= 1000000);
        CHECK_EQ_INT(W(clock_time_get)(&f.g, id, 0, G_RES), OK);
    }
    CHECK_EQ_INT(W(clock_res_get)(&f.g, 4, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(clock_time_get)(&f.g, 4, 0, G_RES), WEFT_WASI_EINVAL);
    /* realtime is the real time */
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_REALTIME, 0, G_RES), OK);
    uint64_t rt = h_u64(&f, G_RES) / 1000000000u;
    CHECK(rt + 2 >= (uint64_t)time(NULL) && rt <= (uint64_t)time(NULL));
    /* the CPU clocks count this guest's work, from about zero, and do not go back */
    uint64_t cpu[2];
    for (uint32_t id = 2; id < 4; id++) {
        CHECK_EQ_INT(W(clock_time_get)(&f.g, id, 0, G_RES), OK);
        cpu[id - 2] = h_u64(&f, G_RES);
        CHECK(cpu[id - 2] < 1000000000ull); /* not weft's whole process lifetime */
    }
    busy(CLOCK_THREAD_CPUTIME_ID, 30);
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_PROCESS_CPUTIME, 0, G_RES), OK);
    CHECK(h_u64(&f, G_RES) >= cpu[0] + 30000000ull);
    /* monotonic goes forward */
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_MONOTONIC, 0, G_RES), OK);
    uint64_t m0 = h_u64(&f, G_RES);
    busy(CLOCK_MONOTONIC, 2);
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_MONOTONIC, 0, G_RES), OK);
    CHECK(h_u64(&f, G_RES) > m0);
    h_teardown(&f);
}

static void test_random_raise_yield(void) {
    fixture_t f;
    h_setup(&f);
    CHECK_EQ_INT(W(random_get)(&f.g, G_BUF, 64), OK);
    CHECK_EQ_INT(W(random_get)(&f.g, G_BUF + 64, 64), OK);
    CHECK(memcmp(h_mem(&f, G_BUF), h_mem(&f, G_BUF + 64), 64) != 0);
    static const uint8_t zero[64];
    CHECK(memcmp(h_mem(&f, G_BUF), zero, 64) != 0);
    /* a large request, past getrandom's per-call cap (32 MiB) is not needed here:
     * all of guest memory will do */
    CHECK_EQ_INT(W(random_get)(&f.g, 0, H_MEM_BYTES), OK);
    CHECK_EQ_INT(W(random_get)(&f.g, G_BUF, 0), OK);
    CHECK_EQ_INT(W(proc_raise)(&f.g, 15), WEFT_WASI_ENOTSUP);
    CHECK_EQ_INT(W(sched_yield)(&f.g), OK);
    h_teardown(&f);
}

static void test_sockets_handed_over(void) {
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    CHECK(bind(lst, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(lst, 4) == 0);
    CHECK(getsockname(lst, (struct sockaddr *)&addr, &alen) == 0);
    int socks[2] = {sp[0], lst};
    fixture_t f;
    weft_wasi_config_t cfg = {.sockets = socks, .nsockets = 2};
    h_setup_with(&f, &cfg, false);
    uint32_t conn_fd = 4, listen_fd = 5;
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, conn_fd, G_RES), OK);
    CHECK_EQ_INT(h_mem(&f, G_RES)[0], WEFT_WASI_FILETYPE_SOCKET_STREAM);

    /* send and receive */
    memcpy(h_mem(&f, G_BUF), "ping", 4);
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 4);
    CHECK_EQ_INT(W(sock_send)(&f.g, conn_fd, G_IOV, 1, 0, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 4);
    char got[8] = {0};
    CHECK(read(sp[1], got, sizeof got) == 4);
    CHECK_EQ_STR(got, "ping");
    CHECK(write(sp[1], "pong!", 5) == 5);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 16);
    CHECK_EQ_INT(W(sock_recv)(&f.g, conn_fd, G_IOV, 1, WEFT_WASI_RIFLAG_PEEK, G_RES, G_RES + 4),
                 OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 5);
    CHECK_EQ_INT(W(sock_recv)(&f.g, conn_fd, G_IOV, 1, 0, G_RES, G_RES + 4), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 5);
    CHECK(memcmp(h_mem(&f, G_BUF), "pong!", 5) == 0);
    CHECK_EQ_INT(W(sock_send)(&f.g, conn_fd, G_IOV, 1, 1, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(sock_recv)(&f.g, conn_fd, G_IOV, 1, 4, G_RES, G_RES + 4), WEFT_WASI_EINVAL);
    /* WAITALL collects pieces */
    CHECK(write(sp[1], "ab", 2) == 2);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 4);
    /* (the rest arrives from a second write before the call returns: made here by
     * writing it first, since waiting for a thread is not the point) */
    CHECK(write(sp[1], "cd", 2) == 2);
    CHECK_EQ_INT(W(sock_recv)(&f.g, conn_fd, G_IOV, 1, WEFT_WASI_RIFLAG_WAITALL, G_RES, G_RES + 4),
                 OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 4);
    /* nonblocking with nothing there */
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, conn_fd, WEFT_WASI_FDFLAG_NONBLOCK), OK);
    CHECK_EQ_INT(W(sock_recv)(&f.g, conn_fd, G_IOV, 1, 0, G_RES, G_RES + 4), WEFT_WASI_EAGAIN);
    /* shutdown: the peer sees EOF */
    CHECK_EQ_INT(W(sock_shutdown)(&f.g, conn_fd, 0), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(sock_shutdown)(&f.g, conn_fd, WEFT_WASI_SDFLAG_WR), OK);
    CHECK(read(sp[1], got, sizeof got) == 0);
    /* the peer closing: the guest's writes are EPIPE, not a SIGPIPE for weft */
    close(sp[1]);
    f.host_fds--;
    CHECK_EQ_INT(W(sock_send)(&f.g, conn_fd, G_IOV, 1, 0, G_RES), WEFT_WASI_EPIPE);

    /* accept a connection on the listening socket */
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK_EQ_INT(W(sock_accept)(&f.g, listen_fd, 2, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(sock_accept)(&f.g, listen_fd, 0, G_RES), OK);
    uint32_t accepted = h_u32(&f, G_RES);
    CHECK(write(client, "hi", 2) == 2);
    uint32_t n;
    char buf[8];
    CHECK_EQ_INT(h_read(&f, accepted, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "hi");
    CHECK_EQ_INT(h_write(&f, accepted, "back", &n), OK);
    CHECK(read(client, got, sizeof got) == 4);
    CHECK_EQ_INT(W(fd_close)(&f.g, accepted), OK);
    int client2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(client2, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK_EQ_INT(W(sock_accept)(&f.g, listen_fd, WEFT_WASI_FDFLAG_NONBLOCK, G_RES), OK);
    accepted = h_u32(&f, G_RES);
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, accepted, G_RES), OK);
    CHECK_EQ_INT(weft_wasi_get_u16(h_mem(&f, G_RES + 2)), WEFT_WASI_FDFLAG_NONBLOCK);
    CHECK_EQ_INT(h_read(&f, accepted, buf, sizeof buf, &n), WEFT_WASI_EAGAIN);
    close(client2);
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, listen_fd, WEFT_WASI_FDFLAG_NONBLOCK), OK);
    CHECK_EQ_INT(W(sock_accept)(&f.g, listen_fd, 0, G_RES), WEFT_WASI_EAGAIN);
    close(client);

    /* not sockets */
    CHECK_EQ_INT(W(sock_shutdown)(&f.g, FD_PREOPEN, WEFT_WASI_SDFLAG_RD), WEFT_WASI_ENOTSOCK);
    CHECK_EQ_INT(W(sock_accept)(&f.g, 1, 0, G_RES), WEFT_WASI_ENOTSOCK);
    CHECK_EQ_INT(W(sock_recv)(&f.g, 0, G_IOV, 1, 0, G_RES, G_RES + 4), WEFT_WASI_ENOTSOCK);
    CHECK_EQ_INT(W(sock_send)(&f.g, 1, G_IOV, 1, 0, G_RES), WEFT_WASI_ENOTSOCK);
    CHECK_EQ_INT(W(sock_send)(&f.g, 99, G_IOV, 1, 0, G_RES), WEFT_WASI_EBADF);
    h_teardown(&f);
    close(sp[0]);
    close(lst);
}

static void test_a_bad_configuration_is_refused_with_a_message(void) {
    weft_wasi_t *w = NULL;
    weft_error_t err = {0};
    weft_preopen_t pre = {"/nonexistent/weft-test", "/x", false};
    weft_wasi_config_t cfg = {.preopens = &pre, .npreopens = 1};
    CHECK(weft_wasi_create(&cfg, &w, &err) != 0);
    CHECK(w == NULL);
    CHECK(strstr(err.msg, "/nonexistent/weft-test") != NULL);
    pre.host_path = "/etc/hostname"; /* a file */
    CHECK(weft_wasi_create(&cfg, &w, &err) != 0);
    CHECK(strstr(err.msg, "not a directory") != NULL);
    int fd = open("/dev/null", O_RDONLY);
    weft_wasi_config_t cfg2 = {.sockets = &fd, .nsockets = 1};
    CHECK(weft_wasi_create(&cfg2, &w, &err) != 0);
    CHECK(strstr(err.msg, "not a socket") != NULL);
    weft_wasi_config_t cfg3 = {.stdio = {{.kind = WEFT_STDIO_OUTPUT, .out = NULL}}};
    CHECK(weft_wasi_create(&cfg3, &w, &err) != 0);
    close(fd);
}

static void test_the_import_table(void) {
    size_t n;
    const weft_import_def_t *defs = weft_wasi_imports(&n);
    CHECK_EQ_INT(n, 46);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_STR(defs[i].module, "wasi_snapshot_preview1");
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(defs[i].name, defs[j].name) != 0);
    }
}

int main(void) {
    test_arguments_and_environment();
    test_clocks();
    test_random_raise_yield();
    test_sockets_handed_over();
    test_a_bad_configuration_is_refused_with_a_message();
    test_the_import_table();
    return TEST_DONE();
}
