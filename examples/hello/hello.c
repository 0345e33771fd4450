/* The demo function: a WASI command that greets, shows its arguments and environment,
 * echoes stdin and reads a file from a preopened directory. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *who = getenv("USER_NAME");
    printf("Hello, %s, from WebAssembly!\n", who ? who : "stranger");
    for (int i = 1; i < argc; i++)
        printf("  argument %d: %s\n", i, argv[i]);
    char line[256];
    if (fgets(line, sizeof line, stdin))
        printf("  stdin: %s", line);
    FILE *f = fopen("/data/greeting.txt", "r");
    if (f && fgets(line, sizeof line, f))
        printf("  /data/greeting.txt: %s", line);
    if (f)
        fclose(f);
    return 0;
}
