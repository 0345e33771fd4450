/* The transformation of TriggerMesh's WebAssembly tutorial, as a WAGI/CGI guest: the
 * event arrives in binary mode (its attributes in HTTP_CE_* variables, its data, a
 * JSON object, on stdin); the answer is the same JSON with "hello":"wasm" added, as an
 * event of type <type>.transformed, with ce-source and ce-specversion and no ce-id
 * (the broker gives a reply without an id a fresh one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1 << 20)

int main(void) {
    static char body[MAX_BODY + 1];
    size_t n = fread(body, 1, MAX_BODY, stdin);
    body[n] = 0;
    const char *type = getenv("HTTP_CE_TYPE");
    if (!type) {
        printf("Status: 400 Bad Request\nContent-Type: text/plain\n\nnot a CloudEvent\n");
        return 0;
    }
    /* The last '}' closes the object; insert before it. */
    char *end = strrchr(body, '}');
    if (!end) {
        printf("Status: 400 Bad Request\nContent-Type: text/plain\n\ndata is not a JSON "
               "object\n");
        return 0;
    }
    char *p = end;
    while (p > body && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t' || p[-1] == '\r'))
        p--;
    int empty = p > body && p[-1] == '{';
    printf("Content-Type: application/json\n");
    printf("ce-specversion: 1.0\n");
    printf("ce-type: %s.transformed\n", type);
    printf("ce-source: transform\n\n");
    fwrite(body, 1, (size_t)(end - body), stdout);
    printf("%s\"hello\":\"wasm\"%s", empty ? "" : ",", end);
    return 0;
}
