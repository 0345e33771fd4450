/* net: a listening TCP socket from "ADDR:PORT", shared by `weft up --listen` and
 * `weft run --tcplisten`. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

int weft_tcp_listen(const char *spec, const char *option, int backlog, char *host, size_t host_size,
                    int *fd_out, weft_error_t *err) {
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= host_size)
            return weft_error_set(err, WEFT_EUSAGE, "%s %s: expected [ADDR]:PORT", option, spec);
        snprintf(host, host_size, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= host_size)
            return weft_error_set(err, WEFT_EUSAGE, "%s %s: expected ADDR:PORT", option, spec);
        snprintf(host, host_size, "%.*s", (int)(colon - spec), spec);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai)
        return weft_error_set(err, WEFT_EUSAGE, "%s %s: %s", option, spec, gai_strerror(gai));
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return weft_error_set(err, WEFT_EIO, "cannot listen on %s: %s", spec, strerror(e));
    *fd_out = fd;
    return 0;
}
