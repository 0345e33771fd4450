/* Clocks, sleeping and blocking: "wasi_time SCENARIO [ARG]". */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static double now_ms(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    const char *s = argc > 1 ? argv[1] : "";
    if (!strcmp(s, "sleep")) { /* poll_oneoff with one relative clock */
        int ms = argc > 2 ? atoi(argv[2]) : 10;
        double t0 = now_ms(CLOCK_MONOTONIC);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        double took = now_ms(CLOCK_MONOTONIC) - t0;
        printf("slept %s\n", took >= ms && took < ms + 100 ? "ok" : "wrong");
        fprintf(stderr, "slept %.2f ms\n", took);
        return 0;
    }
    if (!strcmp(s, "poll-stdin")) { /* poll() with a timeout on stdin */
        struct pollfd p = {.fd = 0, .events = POLLIN};
        double t0 = now_ms(CLOCK_MONOTONIC);
        int r = poll(&p, 1, 50);
        double took = now_ms(CLOCK_MONOTONIC) - t0;
        if (r > 0) {
            char buf[64] = {0};
            read(0, buf, sizeof buf - 1);
            printf("ready: %s\n", buf);
        } else {
            printf("timeout %s\n", r == 0 && took >= 50 ? "ok" : "wrong");
        }
        return 0;
    }
    if (!strcmp(s, "clocks")) {
        double m0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        volatile unsigned long x = 0;
        while (now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0 < 20)
            x++;
        printf("monotonic advances: %d\n", now_ms(CLOCK_MONOTONIC) > m0);
        printf("cpu advances: %d\n", now_ms(CLOCK_PROCESS_CPUTIME_ID) >= c0 + 20);
        printf("thread cpu: %d\n", now_ms(CLOCK_THREAD_CPUTIME_ID) > 0);
        printf("realtime year: %d\n", (int)(time(NULL) / 31556952 + 1970) > 2020);
        unsigned char r1[16], r2[16];
        int e1 = __wasi_random_get(r1, sizeof r1), e2 = __wasi_random_get(r2, sizeof r2);
        printf("random differs: %d\n", !e1 && !e2 && memcmp(r1, r2, sizeof r1) != 0);
        return 0;
    }
    if (!strcmp(s, "block-read")) { /* read stdin until EOF: blocks on an idle pipe */
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf);
        printf("read returned %zd (%s)\n", n, n < 0 ? strerror(errno) : "");
        return 0;
    }
    if (!strcmp(s, "block-sleep")) { /* a long sleep */
        struct timespec ts = {3600, 0};
        int r = nanosleep(&ts, NULL);
        printf("nanosleep returned %d (%s)\n", r, r ? strerror(errno) : "");
        return 0;
    }
    fprintf(stderr, "usage: wasi_time sleep|poll-stdin|clocks|block-read|block-sleep\n");
    return 2;
}
