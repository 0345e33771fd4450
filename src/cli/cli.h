/* cli: shared pieces of weft's commands. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <stdarg.h>

/* Prints "weft CMD: <message> (see 'weft CMD --help')" and returns exit status 2. */
int weft_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* weft up (up.c). */
int weft_cli_up(int argc, char **argv);

#endif
