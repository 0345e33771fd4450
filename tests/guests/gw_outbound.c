/* Outbound HTTP from a request handler: GETs the URL given as ?url=... (raw) through
 * wasi_experimental_http and answers with the host's code, the status and the body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

int main(void) {
    const char *q = getenv("QUERY_STRING");
    const char *url = q && !strncmp(q, "url=", 4) ? q + 4 : "";
    weft_http_response_t res;
    weft_http_error_t e = weft_http_request("GET", url, NULL, NULL, 0, &res);
    printf("Content-Type: text/plain\n\ncode=%u\n", (unsigned)e);
    if (e)
        return 0;
    char *body = NULL;
    size_t n = 0;
    e = weft_http_body_read_all(res.handle, &body, &n);
    printf("status=%u\nbody=%.*s\n", (unsigned)res.status, e ? 0 : (int)n, body ? body : "");
    free(body);
    weft_http_close(res.handle);
    return 0;
}
