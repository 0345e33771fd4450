/* {{project-name}}: an HTTP handler. weft runs it once per request (WAGI, which is CGI
 * on WebAssembly): the request is in environment variables (REQUEST_METHOD, PATH_INFO,
 * QUERY_STRING, HTTP_* headers) and its body on stdin; the response is what it prints:
 * headers, a blank line, then the body. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *path = getenv("PATH_INFO");
    printf("Content-Type: text/plain\n\n");
    printf("Hello from {{project-name}}!\n");
    printf("You asked for %s\n", path && *path ? path : "/");
    return 0;
}
