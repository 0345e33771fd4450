/* The HTTP benchmark's guest (bench/http/run.sh): a WAGI CGI handler, the smallest
 * there is. stdout is the CGI response: a header block, a blank line, the body.
 * Built with clang --target=wasm32-wasi -O2. */
#include <stdio.h>

int main(void) {
    fputs("Content-Type: text/plain\n\nHello, world!\n", stdout);
    return 0;
}
