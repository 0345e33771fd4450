/* A WAGI-style HTTP handler: the request arrives as CGI (method, path and query in the
 * environment, the body on stdin), and stdout is the response, headers first. It runs
 * unchanged on WAGI and on weft. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *method = getenv("REQUEST_METHOD");
    const char *path = getenv("PATH_INFO");
    const char *query = getenv("QUERY_STRING");
    printf("Content-Type: text/plain\n\n");
    printf("Hello from WebAssembly: %s %s%s%s\n", method ? method : "?", path ? path : "",
           query && *query ? "?" : "", query ? query : "");
    char buf[4096];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        total += n;
    if (total)
        printf("(you sent %zu bytes)\n", total);
    return 0;
}
