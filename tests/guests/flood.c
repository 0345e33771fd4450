/* Writes to stdout until a write fails: behind `| head -c 10` the reader leaves, and
 * the guest must see EPIPE (WASI errno 64), not take weft down with SIGPIPE. Exits 3
 * after saying "EPIPE seen" on stderr (4 on any other error, 5 if nothing failed);
 * with the argument "trap" it traps instead, so that weft itself has to report the
 * trap on a stderr that may be the same closed pipe. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static char line[4096];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 100000; i++) { /* 400 MB at most */
        if (write(1, line, sizeof line) >= 0)
            continue;
        if (errno != EPIPE) {
            fprintf(stderr, "write failed: %s\n", strerror(errno));
            return 4;
        }
        fprintf(stderr, "EPIPE seen\n");
        if (argc > 1 && !strcmp(argv[1], "trap"))
            __builtin_trap();
        return 3;
    }
    fprintf(stderr, "no write failed\n");
    return 5;
}
