/* {{project-name}}: a WAGI module. A request runs it as a WASI command: argv is the
 * route's path (SCRIPT_NAME), then the query's &-items ("?a&b" gives argv[1] "a" and
 * argv[2] "b"); the environment holds weft.toml's variables and the CGI ones
 * (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_*); /static is the project's static/ folder,
 * read-only. What it prints is the response: headers, a blank line, the body. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *greeting = getenv("GREETING");
    const char *method = getenv("REQUEST_METHOD");
    const char *path = getenv("PATH_INFO");
    printf("Content-Type: text/plain\n\n");
    printf("%s from {{project-name}} (%s %s)\n", greeting ? greeting : "Hello",
           method ? method : "?", path && *path ? path : "/");
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
