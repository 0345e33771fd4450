/* Imports a function weft does not provide (as ruby.wasm imports a JavaScript bridge it
 * uses only in browsers) and calls it only when its first argument is "call": with
 * unknown imports trapping the module runs until then; returning zeros, the call gives
 * 0. Under a gateway (REQUEST_METHOD set) it answers as CGI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("env"), import_name("bridge"))) int bridge(int);

int main(int argc, char **argv) {
    if (getenv("REQUEST_METHOD"))
        printf("Content-Type: text/plain\n\n");
    if (argc > 1 && !strcmp(argv[1], "call")) {
        printf("bridge returned %d\n", bridge(41));
        return 0;
    }
    printf("bridge not called\n");
    return 0;
}
