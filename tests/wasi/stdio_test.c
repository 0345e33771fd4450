/* stdio: each weft_stdio_t kind, as a guest sees it through fd_read/fd_write. */
#include <poll.h>
#include <signal.h>

#include "harness.h"

typedef struct lines {
    char got[16][64];
    size_t len[16];
    int n;
} lines_t;

static void on_line(void *arg, const char *line, size_t len) {
    lines_t *l = arg;
    if (l->n < 16) {
        snprintf(l->got[l->n], sizeof l->got[0], "%s", line);
        l->len[l->n] = len;
        l->n++;
    }
}

static void test_null_reads_eof_and_swallows_writes(void) {
    fixture_t f;
    weft_wasi_config_t cfg = {
        .stdio = {{.kind = WEFT_STDIO_NULL}, {.kind = WEFT_STDIO_NULL}, {.kind = WEFT_STDIO_NULL}}};
    h_setup_with(&f, &cfg, false);
    char buf[64];
    uint32_t n = 99;
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(h_write(&f, 1, "discarded", &n), OK);
    CHECK_EQ_INT(n, 9);
    h_teardown(&f);
}

static void test_input_is_read_in_pieces_then_eof(void) {
    fixture_t f;
    static const uint8_t in[] = "hello, guest";
    weft_wasi_config_t cfg = {.stdio = {{.kind = WEFT_STDIO_INPUT, .in = in, .in_len = 12}}};
    h_setup_with(&f, &cfg, false);
    /* Two iovecs of 5 bytes: 10 bytes, then the last 2, then EOF. */
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 5);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 8), G_BUF + 100);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 12), 5);
    CHECK_EQ_INT(W(fd_read)(&f.g, 0, G_IOV, 2, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 10);
    CHECK(memcmp(h_mem(&f, G_BUF), "hello", 5) == 0);
    CHECK(memcmp(h_mem(&f, G_BUF + 100), ", gue", 5) == 0);
    char buf[64];
    uint32_t n;
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "st");
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_INT(n, 0);
    /* stdin is for reading only */
    CHECK_EQ_INT(h_write(&f, 0, "x", &n), WEFT_WASI_ENOTCAPABLE);
    h_teardown(&f);
}

static void test_output_appends_up_to_its_limit(void) {
    fixture_t f;
    weft_buf_t out = {0};
    weft_wasi_config_t cfg = {.stdio = {{.kind = WEFT_STDIO_NULL},
                                        {.kind = WEFT_STDIO_OUTPUT, .out = &out, .out_limit = 8}}};
    h_setup_with(&f, &cfg, false);
    uint32_t n;
    CHECK_EQ_INT(h_write(&f, 1, "abcde", &n), OK);
    CHECK_EQ_INT(n, 5);
    /* Only 3 bytes of room: a short write, as a pipe would do. */
    CHECK_EQ_INT(h_write(&f, 1, "fghij", &n), OK);
    CHECK_EQ_INT(n, 3);
    /* Full: the guest learns why. */
    CHECK_EQ_INT(h_write(&f, 1, "k", &n), WEFT_WASI_EFBIG);
    CHECK_EQ_INT(out.len, 8);
    CHECK_EQ_STR((char *)out.data, "abcdefgh");
    /* stdout cannot be read */
    char buf[8];
    CHECK_EQ_INT(h_read(&f, 1, buf, sizeof buf, &n), WEFT_WASI_ENOTCAPABLE);
    h_teardown(&f);
    weft_buf_free(&out);
}

static void test_output_without_limit(void) {
    fixture_t f;
    weft_buf_t out = {0};
    weft_wasi_config_t cfg = {.stdio = {{0}, {.kind = WEFT_STDIO_OUTPUT, .out = &out}}};
    h_setup_with(&f, &cfg, false);
    uint32_t n;
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(h_write(&f, 1, "0123456789", &n), OK);
    CHECK_EQ_INT(out.len, 10000);
    h_teardown(&f);
    weft_buf_free(&out);
}

static void test_lines_are_split_and_a_partial_line_flushed_at_the_end(void) {
    fixture_t f;
    lines_t l = {0};
    weft_wasi_config_t cfg = {
        .stdio = {{0}, {0}, {.kind = WEFT_STDIO_LINES, .on_line = on_line, .arg = &l}}};
    h_setup_with(&f, &cfg, false);
    uint32_t n;
    CHECK_EQ_INT(h_write(&f, 2, "first\nsec", &n), OK);
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_INT(h_write(&f, 2, "ond\n\nthird", &n), OK);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_STR(l.got[0], "first");
    CHECK_EQ_STR(l.got[1], "second");
    CHECK_EQ_STR(l.got[2], "");
    h_teardown(&f); /* "third" has no newline: passed on when the guest ends */
    CHECK_EQ_INT(l.n, 4);
    CHECK_EQ_STR(l.got[3], "third");
}

static void test_lines_flush_when_the_guest_closes_stderr(void) {
    fixture_t f;
    lines_t l = {0};
    weft_wasi_config_t cfg = {
        .stdio = {{0}, {0}, {.kind = WEFT_STDIO_LINES, .on_line = on_line, .arg = &l}}};
    h_setup_with(&f, &cfg, false);
    uint32_t n;
    CHECK_EQ_INT(h_write(&f, 2, "no newline", &n), OK);
    CHECK_EQ_INT(W(fd_close)(&f.g, 2), OK);
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_STR(l.got[0], "no newline");
    CHECK_EQ_INT(h_write(&f, 2, "x", &n), WEFT_WASI_EBADF);
    h_teardown(&f);
    CHECK_EQ_INT(l.n, 1);
}

static void test_an_overlong_line_comes_in_pieces(void) {
    fixture_t f;
    lines_t l = {0};
    weft_wasi_config_t cfg = {
        .stdio = {{0}, {0}, {.kind = WEFT_STDIO_LINES, .on_line = on_line, .arg = &l}}};
    h_setup_with(&f, &cfg, false);
    size_t big = WEFT_WASI_MAX_LINE_BYTES + 10;
    memset(h_mem(&f, G_BUF), 'x', big);
    h_mem(&f, G_BUF)[big] = '\n';
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), (uint32_t)big + 1);
    CHECK_EQ_INT(W(fd_write)(&f.g, 2, G_IOV, 1, G_RES), OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.len[0], WEFT_WASI_MAX_LINE_BYTES);
    CHECK_EQ_INT(l.len[1], 10);
    h_teardown(&f);
}

static void test_fd_kind_uses_a_copy_of_the_host_descriptor(void) {
    int in[2], out[2];
    CHECK(pipe(in) == 0 && pipe(out) == 0);
    fixture_t f;
    weft_wasi_config_t cfg = {.stdio = {{.kind = WEFT_STDIO_FD, .fd = in[0]},
                                        {.kind = WEFT_STDIO_FD, .fd = out[1]},
                                        {.kind = WEFT_STDIO_NULL}}};
    h_setup_with(&f, &cfg, false);
    CHECK(write(in[1], "ping", 4) == 4);
    char buf[16];
    uint32_t n;
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "ping");
    CHECK_EQ_INT(h_write(&f, 1, "pong", &n), OK);
    char got[8] = {0};
    CHECK(read(out[0], got, sizeof got) == 4);
    CHECK_EQ_STR(got, "pong");
    /* The guest closing its stdout leaves the embedder's descriptor open. */
    CHECK_EQ_INT(W(fd_close)(&f.g, 1), OK);
    CHECK(write(out[1], "still", 5) == 5);
    /* Nonblocking stdin with nothing to read: EAGAIN, not a hang. */
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, 0, WEFT_WASI_FDFLAG_NONBLOCK), OK);
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), WEFT_WASI_EAGAIN);
    /* ... and the embedder's description is still blocking. */
    CHECK((fcntl(in[0], F_GETFL) & O_NONBLOCK) == 0);
    /* Writer gone: EOF. */
    close(in[1]);
    f.host_fds--;
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_INT(n, 0);
    h_teardown(&f);
    close(in[0]);
    close(out[0]);
    close(out[1]);
}

static void test_writing_to_a_closed_pipe_is_epipe_not_sigpipe(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    fixture_t f;
    weft_wasi_config_t cfg = {.stdio = {{0}, {.kind = WEFT_STDIO_FD, .fd = p[1]}}};
    h_setup_with(&f, &cfg, false);
    close(p[0]);
    f.host_fds--;
    uint32_t n;
    /* With SIGPIPE at its default action this would kill the test. */
    CHECK_EQ_INT(h_write(&f, 1, "nobody reads", &n), WEFT_WASI_EPIPE);
    sigset_t pending;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    h_teardown(&f);
    close(p[1]);
}

static void test_stdio_is_a_stream_not_a_file(void) {
    fixture_t f;
    weft_wasi_config_t cfg = {0};
    h_setup_with(&f, &cfg, false);
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, 1, G_RES), OK);
    CHECK_EQ_INT(h_mem(&f, G_RES)[0], WEFT_WASI_FILETYPE_UNKNOWN);
    uint64_t rights = h_u64(&f, G_RES + 8);
    CHECK(rights & WEFT_WASI_RIGHT_FD_WRITE);
    CHECK(!(rights & (WEFT_WASI_RIGHT_FD_SEEK | WEFT_WASI_RIGHT_FD_TELL)));
    CHECK_EQ_INT(W(fd_seek)(&f.g, 1, 0, WEFT_WASI_WHENCE_SET, G_RES), WEFT_WASI_ESPIPE);
    CHECK_EQ_INT(W(fd_tell)(&f.g, 0, G_RES), WEFT_WASI_ESPIPE);
    CHECK_EQ_INT(W(fd_pwrite)(&f.g, 1, G_IOV, 0, 0, G_RES), WEFT_WASI_ESPIPE);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, 1, G_RES), OK);
    CHECK_EQ_INT(h_mem(&f, G_RES)[16], WEFT_WASI_FILETYPE_UNKNOWN);
    CHECK_EQ_INT(h_u64(&f, G_RES + 8), 0); /* no host inode leaks */
    CHECK_EQ_INT(W(fd_prestat_get)(&f.g, 1, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_sync)(&f.g, 1), WEFT_WASI_EBADF);
    h_teardown(&f);
}

static void test_renumber_moves_stdout_over_stderr(void) {
    fixture_t f;
    weft_buf_t out = {0}, err = {0};
    weft_wasi_config_t cfg = {.stdio = {{0},
                                        {.kind = WEFT_STDIO_OUTPUT, .out = &out},
                                        {.kind = WEFT_STDIO_OUTPUT, .out = &err}}};
    h_setup_with(&f, &cfg, false);
    CHECK_EQ_INT(W(fd_renumber)(&f.g, 1, 2), OK);
    uint32_t n;
    CHECK_EQ_INT(h_write(&f, 2, "to stdout's buffer", &n), OK);
    CHECK_EQ_INT(h_write(&f, 1, "x", &n), WEFT_WASI_EBADF);
    CHECK_EQ_INT(out.len, 18);
    CHECK_EQ_INT(err.len, 0);
    CHECK_EQ_INT(W(fd_renumber)(&f.g, 2, 40), WEFT_WASI_EBADF); /* 40 is not open */
    h_teardown(&f);
    weft_buf_free(&out);
    weft_buf_free(&err);
}

int main(void) {
    test_null_reads_eof_and_swallows_writes();
    test_input_is_read_in_pieces_then_eof();
    test_output_appends_up_to_its_limit();
    test_output_without_limit();
    test_lines_are_split_and_a_partial_line_flushed_at_the_end();
    test_lines_flush_when_the_guest_closes_stderr();
    test_an_overlong_line_comes_in_pieces();
    test_fd_kind_uses_a_copy_of_the_host_descriptor();
    test_writing_to_a_closed_pipe_is_epipe_not_sigpipe();
    test_stdio_is_a_stream_not_a_file();
    test_renumber_moves_stdout_over_stderr();
    return TEST_DONE();
}
