// guest-flags: -mexec-model=reactor
/* A WASI reactor: no _start, and an _initialize (wasi-libc's, which runs the
 * constructors) that the host must call once per instance before any other export.
 * The constructor counts its runs, so every export can tell whether it ran first and
 * only once; the exports cover each argument and result type of `weft run --invoke`
 * and a CGI handler the gateway can route to. */
#include <stdio.h>
#include <stdlib.h>

static int inits; /* runs of the constructor: _initialize */
static int calls; /* calls of report in this instance */

__attribute__((constructor)) static void initialize(void) {
    inits++;
    fprintf(stderr, "reactor: _initialize ran\n");
}

__attribute__((export_name("report"))) void report(void) {
    calls++;
    printf("inits=%d calls=%d\n", inits, calls);
    fflush(stdout); /* no exit flushes it: a reactor's export just returns */
}

__attribute__((export_name("add"))) int add(int a, int b) {
    return a + b;
}

__attribute__((export_name("mul64"))) long long mul64(long long a, long long b) {
    return a * b;
}

__attribute__((export_name("scale"))) double scale(float x, double y) {
    return (double)x * y;
}

__attribute__((export_name("third"))) float third(float x) {
    return x / 3.0f;
}

/* Reads the state _initialize made: 0 had it not run. */
__attribute__((export_name("inits"))) int get_inits(void) {
    return inits;
}

__attribute__((export_name("fail"))) int fail(int code) {
    if (code)
        exit(code);
    abort();
}

/* A CGI handler (a route's entrypoint). */
__attribute__((export_name("handle"))) void handle(void) {
    const char *method = getenv("REQUEST_METHOD");
    printf("Content-Type: text/plain\n\ninits=%d method=%s\n", inits, method ? method : "none");
    fflush(stdout);
}
