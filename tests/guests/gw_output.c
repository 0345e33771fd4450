/* A guest for the gateway's bounds on guest output (tests/gateway/hardening.sh). The
 * query picks what it writes:
 *   ?lines=N   N numbered lines on stderr, then a short response
 *   ?bytes=N   a response body of N bytes of 'x'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long query_number(const char *name) {
    const char *q = getenv("QUERY_STRING");
    size_t n = strlen(name);
    if (!q || strncmp(q, name, n) || q[n] != '=')
        return 0;
    return atol(q + n + 1);
}

int main(void) {
    long lines = query_number("lines"), bytes = query_number("bytes");
    for (long i = 1; i <= lines; i++)
        fprintf(stderr, "stderr line %ld of %ld\n", i, lines);
    printf("Content-Type: text/plain\n\n");
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    while (bytes > 0) {
        size_t n = bytes < (long)sizeof chunk ? (size_t)bytes : sizeof chunk;
        fwrite(chunk, 1, n, stdout);
        bytes -= (long)n;
    }
    if (!query_number("bytes"))
        printf("done\n");
    return 0;
}
