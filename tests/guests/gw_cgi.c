/* A CGI guest for the gateway tests. The last segment of PATH_INFO picks what it does
 * (so /cgi/env and /cgi/any/thing/env both print the environment), and one module
 * covers every response path:
 *   /env       every variable and argument, one per line (text/plain)
 *   /echo      the body back, with the request's Content-Type
 *   /headers   Status 201, three Set-Cookie headers, a custom header, and bad lines
 *   /location  a Location header only (302)
 *   /see-other Status 303 and a Location
 *   /noct      a body with no CGI header at all (500)
 *   /exit0     the response, then proc_exit(0) (success)
 *   /exit3     the response, then proc_exit(3) (500)
 *   /spin      loops forever (504 once the timeout stops it)
 *   /trap      executes unreachable (500)
 *   /grow      allocates until the memory limit stops it (500)
 *   /sleep     sleeps 1.5 s (or ?ms=N), then answers, with X-Who: $WHO when set
 *              (graceful shutdown, slow guests, reloads)
 *   /stderr    two lines on stderr, then a response
 *   /state     a counter in a global: 1 on every request if instances are fresh
 *   /volume    reads /data/in.txt and writes /data/out.txt
 *   /big       a 1 MiB body of 'x'
 *   /print     a body of ?mb=N MiB (default 50) of 'y', written 64 KiB at a time
 *   /stack     recurses until the native stack is exhausted (500)
 *   /flood     writes stderr lines until its timeout stops it (504)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static int counter;
static char *volatile last_block; /* keeps the compiler from dropping allocations */

/* Recursion through a function pointer, so that clang keeps every frame. */
static int recurse(int depth);
static int (*volatile recurse_ptr)(int) = recurse;
static int recurse(int depth) {
    return recurse_ptr(depth + 1) * 3 + depth;
}

static void text(void) {
    printf("Content-Type: text/plain\n\n");
}

int main(int argc, char **argv) {
    const char *info = getenv("PATH_INFO");
    if (!info)
        info = "";
    if (strrchr(info, '/'))
        info = strrchr(info, '/');
    if (!strcmp(info, "/env")) {
        text();
        for (int i = 0; i < argc; i++)
            printf("argv[%d]=%s\n", i, argv[i]);
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
    } else if (!strcmp(info, "/echo")) {
        const char *ct = getenv("CONTENT_TYPE");
        printf("Content-Type: %s\r\n\r\n", ct && *ct ? ct : "application/octet-stream");
        static char buf[65536]; /* not on the stack: wasm-ld gives it 64 KiB in all */
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
            fwrite(buf, 1, n, stdout);
    } else if (!strcmp(info, "/headers")) {
        printf("Status: 201 Created\n"
               "Content-Type: text/plain\n"
               "Set-Cookie: a=1\n"
               "Set-Cookie: b=2\n"
               "X-Custom:   spaced value  \n"
               "Bad Header: no spaces in names\n"
               "not a header line\n"
               "X-Ctl: bell\a here\n"
               "Content-Length: 999\n"
               "Set-Cookie: c=3\n"
               "\n"
               "created\n");
    } else if (!strcmp(info, "/location")) {
        printf("Location: /elsewhere\n\n");
    } else if (!strcmp(info, "/see-other")) {
        printf("Status: 303 See Other\nLocation: /other\n\n");
    } else if (!strcmp(info, "/noct")) {
        printf("just some text\n");
    } else if (!strcmp(info, "/exit0")) {
        text();
        printf("exiting 0\n");
        fflush(stdout);
        exit(0);
    } else if (!strcmp(info, "/exit3")) {
        text();
        printf("exiting 3\n");
        fflush(stdout);
        exit(3);
    } else if (!strcmp(info, "/spin")) {
        volatile unsigned long n = 0;
        for (;;)
            n++;
    } else if (!strcmp(info, "/trap")) {
        __builtin_trap();
    } else if (!strcmp(info, "/grow")) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p)
                break;
            memset(p, 1, 1 << 20);
            last_block = p;
        }
        text();
        printf("malloc failed cleanly\n");
    } else if (!strcmp(info, "/sleep")) {
        const char *q = getenv("QUERY_STRING");
        long ms = q && !strncmp(q, "ms=", 3) ? atol(q + 3) : 1500;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        if (getenv("WHO")) /* which function slept, when several serve this module */
            printf("X-Who: %s\n", getenv("WHO"));
        text();
        printf("slept\n");
    } else if (!strcmp(info, "/busy")) {
        /* Says so on stderr first, then computes for ms milliseconds. */
        const char *q = getenv("QUERY_STRING");
        long ms = q && !strncmp(q, "ms=", 3) ? atol(q + 3) : 20;
        fprintf(stderr, "busy for %ld ms\n", ms);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
        text();
        printf("busy done\n");
    } else if (!strcmp(info, "/stderr")) {
        fprintf(stderr, "first guest line\nsecond guest line\n");
        text();
        printf("logged\n");
    } else if (!strcmp(info, "/state")) {
        counter++;
        text();
        printf("counter=%d\n", counter);
    } else if (!strcmp(info, "/volume")) {
        FILE *in = fopen("/data/in.txt", "r");
        char line[256] = "";
        if (in) {
            if (!fgets(line, sizeof line, in))
                line[0] = 0;
            fclose(in);
        }
        FILE *out = fopen("/data/out.txt", "w");
        if (out) {
            fprintf(out, "written by the guest\n");
            fclose(out);
        }
        text();
        printf("in=%s", line);
        printf("out=%s\n", out ? "ok" : "failed");
    } else if (!strcmp(info, "/big")) {
        text();
        static char block[1 << 20];
        memset(block, 'x', sizeof block);
        fwrite(block, 1, sizeof block, stdout);
    } else if (!strcmp(info, "/print")) {
        const char *q = getenv("QUERY_STRING");
        long mb = q && !strncmp(q, "mb=", 3) ? atol(q + 3) : 50;
        text();
        static char chunk[64 << 10];
        memset(chunk, 'y', sizeof chunk);
        for (long i = 0; i < mb * 16; i++)
            fwrite(chunk, 1, sizeof chunk, stdout);
    } else if (!strcmp(info, "/stack")) {
        text();
        printf("%d\n", recurse(0));
    } else if (!strcmp(info, "/flood")) {
        for (unsigned long i = 0;; i++)
            fprintf(stderr, "flood line %lu\n", i);
    } else {
        const char *who = getenv("WHO");
        printf("Status: 404 Not Found\nContent-Type: text/plain\nX-Who: %s\n\n"
               "no such test: %s\n",
               who ? who : "", info);
    }
    return 0;
}
