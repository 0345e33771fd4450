/* A server guest: accepts one connection on the socket weft handed over (fd 3 when there
 * are no preopens, as with wasmtime's --tcplisten), reads a line, answers it in upper
 * case, and exits. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

int main(void) {
    __wasi_fd_t conn;
    __wasi_errno_t e = __wasi_sock_accept(3, 0, &conn);
    if (e) {
        fprintf(stderr, "sock_accept: errno %u\n", (unsigned)e);
        return 1;
    }
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read((int)conn, line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    for (size_t i = 0; i < n; i++)
        line[i] = (char)toupper((unsigned char)line[i]);
    char reply[300];
    int len = snprintf(reply, sizeof reply, "you said: %s\n", line);
    if (write((int)conn, reply, (size_t)len) != len)
        return 2;
    close((int)conn);
    printf("served one connection\n");
    return 0;
}
