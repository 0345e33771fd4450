/* A plain WASI module on a Redis trigger: the message is its stdin, the channel
 * REDIS_CHANNEL. It prints "wasi-redis got [PAYLOAD] on CHANNEL" on stderr; a message
 * "fail" makes it exit 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = 0;
    const char *channel = getenv("REDIS_CHANNEL");
    if (!strcmp(buf, "fail"))
        return 3;
    fprintf(stderr, "wasi-redis got [%s] on %s\n", buf, channel ? channel : "(none)");
    return 0;
}
