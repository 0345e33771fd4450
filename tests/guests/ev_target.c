/* A function target for the delivery tests (tests/events/delivery_test.c). The event's
 * type (HTTP_CE_TYPE) picks what it does:
 *   echo    200: every variable it got, one a line, then "body=" and its stdin
 *   fail    Status: 500
 *   trap    executes unreachable (500)
 *   busy    Status: 503 and Retry-After: 1
 *   sleep   sleeps HTTP_X_SLEEP_MS milliseconds (default 1000), then 200
 *   spin    loops until a timeout stops it (504)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

int main(void) {
    const char *type = getenv("HTTP_CE_TYPE");
    if (!type)
        type = "";
    if (!strcmp(type, "fail")) {
        printf("Status: 500\nContent-Type: text/plain\n\nfailed on purpose\n");
    } else if (!strcmp(type, "trap")) {
        __builtin_trap();
    } else if (!strcmp(type, "busy")) {
        printf("Status: 503\nRetry-After: 1\nContent-Type: text/plain\n\nbusy\n");
    } else if (!strcmp(type, "sleep")) {
        const char *ms = getenv("HTTP_X_SLEEP_MS");
        long n = ms ? atol(ms) : 1000;
        struct timespec ts = {n / 1000, (n % 1000) * 1000000};
        nanosleep(&ts, NULL);
        printf("Content-Type: text/plain\n\nslept %ld ms\n", n);
    } else if (!strcmp(type, "spin")) {
        for (volatile unsigned long i = 0;; i++)
            ;
    } else {
        printf("Content-Type: text/plain\nce-type: %s.transformed\n\n", type);
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
        printf("body=");
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
            fwrite(buf, 1, n, stdout);
        printf("\n");
    }
    return 0;
}
