/* An event display, as Knative's event_display service shows events: a function that
 * receives each event in binary mode (its attributes in HTTP_CE_* variables, its data
 * on stdin) and writes it to stderr, which weft up logs under the function's name. It
 * answers 204 with no body, so nothing goes back into the broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DATA (1 << 20)

extern char **environ;

int main(void) {
    static char data[MAX_DATA + 1];
    size_t n = fread(data, 1, MAX_DATA, stdin);
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    data[n] = 0;
    fprintf(stderr, "cloudevents.Event\nContext Attributes,\n");
    static const char *const attrs[] = {"specversion", "type", "source", "id", "time", "subject"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        char var[64] = "HTTP_CE_";
        for (size_t j = 0; attrs[i][j] && j < 40; j++)
            var[8 + j] = (char)(attrs[i][j] - 'a' + 'A');
        const char *v = getenv(var);
        if (v)
            fprintf(stderr, "  %s: %s\n", attrs[i], v);
    }
    const char *ct = getenv("CONTENT_TYPE");
    if (ct)
        fprintf(stderr, "  datacontenttype: %s\n", ct);
    /* Every other ce- header is an extension. */
    int ext = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "HTTP_CE_", 8))
            continue;
        const char *name = *e + 8;
        int known = 0;
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
            size_t len = strlen(attrs[i]);
            if (!strncasecmp(name, attrs[i], len) && name[len] == '=')
                known = 1;
        }
        if (known)
            continue;
        if (!ext++)
            fprintf(stderr, "Extensions,\n");
        fprintf(stderr, "  ");
        for (; *name && *name != '='; name++)
            fputc(*name >= 'A' && *name <= 'Z' ? *name - 'A' + 'a' : *name, stderr);
        fprintf(stderr, ": %s\n", *name ? name + 1 : "");
    }
    fprintf(stderr, "Data,\n  %s\n", data);
    printf("Status: 204 No Content\n\n");
    return 0;
}
