/* Blocks reading stdin: a deadline must stop it even though it waits in a host call. */
#include <stdio.h>

int main(void) {
    char buf[64];
    size_t n = fread(buf, 1, sizeof buf, stdin);
    printf("read %zu\n", n);
    return 0;
}
