/* poll: poll_oneoff with clocks (relative, absolute), descriptors, and both. */
#include <time.h>

#include "harness.h"

#define MS 1000000ull

static uint64_t now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Subscription i of the array at G_BUF. */
static void sub_clock(fixture_t *f, int i, uint64_t userdata, uint32_t clock, uint64_t timeout,
                      uint16_t flags) {
    uint8_t *s = h_mem(f, G_BUF + (uint32_t)i * 48);
    memset(s, 0, 48);
    weft_wasi_put_u64(s, userdata);
    s[8] = WEFT_WASI_EVENTTYPE_CLOCK;
    weft_wasi_put_u32(s + 16, clock);
    weft_wasi_put_u64(s + 24, timeout);
    weft_wasi_put_u16(s + 40, flags);
}

static void sub_fd(fixture_t *f, int i, uint64_t userdata, uint8_t type, uint32_t fd) {
    uint8_t *s = h_mem(f, G_BUF + (uint32_t)i * 48);
    memset(s, 0, 48);
    weft_wasi_put_u64(s, userdata);
    s[8] = type;
    weft_wasi_put_u32(s + 16, fd);
}

typedef struct event {
    uint64_t userdata, nbytes;
    uint16_t error, flags;
    uint8_t type;
} event_t;

static event_t ev(fixture_t *f, int i) {
    const uint8_t *e = h_mem(f, G_BIG + (uint32_t)i * 32);
    event_t x = {weft_wasi_get_u64(e), weft_wasi_get_u64(e + 16), weft_wasi_get_u16(e + 8),
                 weft_wasi_get_u16(e + 24), e[10]};
    return x;
}

static uint32_t poll(fixture_t *f, uint32_t n, uint32_t *nevents) {
    uint32_t rc = W(poll_oneoff)(&f->g, G_BUF, G_BIG, n, G_RES);
    *nevents = rc == OK ? h_u32(f, G_RES) : 0;
    return rc;
}

static void test_a_10ms_relative_timeout_sleeps_10ms(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t n;
    uint64_t took[5];
    for (int round = 0; round < 5; round++) {
        sub_clock(&f, 0, 42, WEFT_WASI_CLOCK_MONOTONIC, 10 * MS, 0);
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        CHECK_EQ_INT(poll(&f, 1, &n), OK);
        took[round] = now_ns(CLOCK_MONOTONIC) - t0;
        CHECK(took[round] >= 10 * MS); /* never early */
        for (int i = round; i > 0 && took[i] < took[i - 1]; i--) {
            uint64_t t = took[i];
            took[i] = took[i - 1];
            took[i - 1] = t;
        }
        CHECK_EQ_INT(n, 1);
        CHECK_EQ_INT(ev(&f, 0).userdata, 42);
        CHECK_EQ_INT(ev(&f, 0).type, WEFT_WASI_EVENTTYPE_CLOCK);
        CHECK_EQ_INT(ev(&f, 0).error, 0);
    }
    /* and not much late: a loaded machine may delay one wake-up, not most of them */
    printf("10 ms sleeps took %.1f .. %.1f ms (median %.1f)\n", took[0] / 1e6, took[4] / 1e6,
           took[2] / 1e6);
    CHECK(took[2] < 30 * MS);
    /* relative on the realtime clock too */
    sub_clock(&f, 0, 1, WEFT_WASI_CLOCK_REALTIME, 10 * MS, 0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ_INT(poll(&f, 1, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 10 * MS);
    h_teardown(&f);
}

static void test_absolute_timeouts(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t n;
    /* monotonic: the guest's clock_time_get is the same clock */
    CHECK_EQ_INT(W(clock_time_get)(&f.g, WEFT_WASI_CLOCK_MONOTONIC, 0, G_RES), OK);
    uint64_t deadline = h_u64(&f, G_RES) + 15 * MS;
    sub_clock(&f, 0, 7, WEFT_WASI_CLOCK_MONOTONIC, deadline, WEFT_WASI_SUBCLOCK_ABSTIME);
    CHECK_EQ_INT(poll(&f, 1, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) >= deadline);
    CHECK_EQ_INT(n, 1);
    /* realtime */
    deadline = now_ns(CLOCK_REALTIME) + 15 * MS;
    sub_clock(&f, 0, 8, WEFT_WASI_CLOCK_REALTIME, deadline, WEFT_WASI_SUBCLOCK_ABSTIME);
    CHECK_EQ_INT(poll(&f, 1, &n), OK);
    CHECK(now_ns(CLOCK_REALTIME) >= deadline);
    /* in the past: at once */
    sub_clock(&f, 0, 9, WEFT_WASI_CLOCK_MONOTONIC, 1, WEFT_WASI_SUBCLOCK_ABSTIME);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ_INT(poll(&f, 1, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 500 * MS);
    CHECK_EQ_INT(n, 1);
    h_teardown(&f);
}

static void test_several_clocks_only_the_due_ones_fire(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t n;
    sub_clock(&f, 0, 100, WEFT_WASI_CLOCK_MONOTONIC, 5000 * MS, 0);
    sub_clock(&f, 1, 5, WEFT_WASI_CLOCK_MONOTONIC, 5 * MS, 0);
    sub_clock(&f, 2, 50, WEFT_WASI_CLOCK_MONOTONIC, 800 * MS, 0);
    sub_clock(&f, 3, 6, WEFT_WASI_CLOCK_MONOTONIC, 5 * MS, 0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ_INT(poll(&f, 4, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 700 * MS);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ev(&f, 0).userdata, 5);
    CHECK_EQ_INT(ev(&f, 1).userdata, 6);
    h_teardown(&f);
}

static void test_a_ready_descriptor_wins_over_a_long_clock(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    fixture_t f;
    weft_wasi_config_t cfg = {.stdio = {{.kind = WEFT_STDIO_FD, .fd = p[0]}}};
    h_setup_with(&f, &cfg, false);
    uint32_t n;
    /* nothing to read: the clock fires */
    sub_fd(&f, 0, 1, WEFT_WASI_EVENTTYPE_FD_READ, 0);
    sub_clock(&f, 1, 2, WEFT_WASI_CLOCK_MONOTONIC, 20 * MS, 0);
    CHECK_EQ_INT(poll(&f, 2, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ev(&f, 0).userdata, 2);
    /* data: the read event, at once, with the byte count */
    CHECK(write(p[1], "hello", 5) == 5);
    sub_clock(&f, 1, 2, WEFT_WASI_CLOCK_MONOTONIC, 5000 * MS, 0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ_INT(poll(&f, 2, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000 * MS);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ev(&f, 0).userdata, 1);
    CHECK_EQ_INT(ev(&f, 0).type, WEFT_WASI_EVENTTYPE_FD_READ);
    CHECK_EQ_INT(ev(&f, 0).nbytes, 5);
    /* writer gone: hangup */
    close(p[1]);
    f.host_fds--;
    char buf[8];
    CHECK_EQ_INT(h_read(&f, 0, buf, sizeof buf, &n), OK);
    CHECK_EQ_INT(poll(&f, 2, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK(ev(&f, 0).flags & WEFT_WASI_EVENT_HANGUP);
    h_teardown(&f);
    close(p[0]);
}

static void test_files_and_memory_streams_are_always_ready(void) {
    fixture_t f;
    static const uint8_t in[] = "12345678";
    weft_buf_t out = {0};
    weft_wasi_config_t cfg = {.stdio = {{.kind = WEFT_STDIO_INPUT, .in = in, .in_len = 8},
                                        {.kind = WEFT_STDIO_OUTPUT, .out = &out}}};
    h_setup_with(&f, &cfg, false);
    h_write_file(f.sandbox, "f", "0123456789");
    uint32_t file, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &file), OK);
    CHECK_EQ_INT(W(fd_seek)(&f.g, file, 4, WEFT_WASI_WHENCE_SET, G_RES), OK);
    sub_fd(&f, 0, 10, WEFT_WASI_EVENTTYPE_FD_READ, 0);
    sub_fd(&f, 1, 11, WEFT_WASI_EVENTTYPE_FD_WRITE, 1);
    sub_fd(&f, 2, 12, WEFT_WASI_EVENTTYPE_FD_READ, file);
    sub_fd(&f, 3, 13, WEFT_WASI_EVENTTYPE_FD_WRITE, file);
    sub_clock(&f, 4, 14, WEFT_WASI_CLOCK_MONOTONIC, 10000 * MS, 0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ_INT(poll(&f, 5, &n), OK);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000 * MS);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(ev(&f, 0).userdata, 10);
    CHECK_EQ_INT(ev(&f, 0).nbytes, 8);
    CHECK_EQ_INT(ev(&f, 1).userdata, 11);
    CHECK_EQ_INT(ev(&f, 2).userdata, 12);
    CHECK_EQ_INT(ev(&f, 2).nbytes, 6); /* what is left from offset 4 */
    CHECK_EQ_INT(ev(&f, 3).userdata, 13);
    CHECK_EQ_INT(ev(&f, 3).type, WEFT_WASI_EVENTTYPE_FD_WRITE);
    W(fd_close)(&f.g, file);
    h_teardown(&f);
    weft_buf_free(&out);
}

static void test_bad_subscriptions(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t n;
    /* a closed descriptor: reported in its event, the others still reported */
    sub_fd(&f, 0, 1, WEFT_WASI_EVENTTYPE_FD_READ, 77);
    sub_fd(&f, 1, 2, WEFT_WASI_EVENTTYPE_FD_WRITE, 1);
    CHECK_EQ_INT(poll(&f, 2, &n), OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ev(&f, 0).error, WEFT_WASI_EBADF);
    CHECK_EQ_INT(ev(&f, 1).error, 0);
    /* no poll right */
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, 1, WEFT_WASI_RIGHT_FD_WRITE, 0), OK);
    sub_fd(&f, 0, 3, WEFT_WASI_EVENTTYPE_FD_WRITE, 1);
    CHECK_EQ_INT(poll(&f, 1, &n), OK);
    CHECK_EQ_INT(ev(&f, 0).error, WEFT_WASI_ENOTCAPABLE);
    /* malformed: the whole call fails */
    CHECK_EQ_INT(poll(&f, 0, &n), WEFT_WASI_EINVAL);
    sub_clock(&f, 0, 1, WEFT_WASI_CLOCK_PROCESS_CPUTIME, MS, 0);
    CHECK_EQ_INT(poll(&f, 1, &n), WEFT_WASI_EINVAL);
    sub_clock(&f, 0, 1, 9, MS, 0);
    CHECK_EQ_INT(poll(&f, 1, &n), WEFT_WASI_EINVAL);
    sub_clock(&f, 0, 1, WEFT_WASI_CLOCK_MONOTONIC, MS, 2);
    CHECK_EQ_INT(poll(&f, 1, &n), WEFT_WASI_EINVAL);
    sub_fd(&f, 0, 1, 3, 1);
    CHECK_EQ_INT(poll(&f, 1, &n), WEFT_WASI_EINVAL);
    h_teardown(&f);
}

int main(void) {
    test_a_10ms_relative_timeout_sleeps_10ms();
    test_absolute_timeouts();
    test_several_clocks_only_the_due_ones_fire();
    test_a_ready_descriptor_wins_over_a_long_clock();
    test_files_and_memory_streams_are_always_ready();
    test_bad_subscriptions();
    return TEST_DONE();
}
