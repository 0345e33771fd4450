/* {{project-name}}: a WAGI module. A request runs it as a WASI command: argv is the
 * script's path, then the query's &-items ("?a&b" gives argv[1] "a", argv[2] "b"); the
 * environment holds weft.toml's variables and the CGI ones (REQUEST_METHOD,
 * QUERY_STRING, HTTP_*); /static is the project's static/ folder, read-only. What it
 * prints is the response: headers, a blank line, the body. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *greeting = getenv("GREETING");
    const char *method = getenv("REQUEST_METHOD");
    printf("Content-Type: text/plain\n\n");
    printf("%s from {{project-name}} (%s %s)\n", greeting ? greeting : "Hello",
           method ? method : "?", argc > 0 ? argv[0] : "?");
    for (int i = 1; i < argc; i++)
        printf("argument %d: %s\n", i, argv[i]);
    char line[256];
    FILE *f = fopen("/static/motd.txt", "r");
    if (f && fgets(line, sizeof line, f))
        printf("%s", line);
    if (f)
        fclose(f);
    return 0;
}
