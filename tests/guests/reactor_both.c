/* A command (_start) that exports _initialize too: wasmtime runs _initialize, then
 * _start, and so does weft. */
#include <stdio.h>

static int initialized;

__attribute__((export_name("_initialize"))) void initialize(void) {
    initialized++;
    fprintf(stderr, "both: _initialize\n");
}

int main(void) {
    printf("both: main after %d _initialize\n", initialized);
    return 0;
}
