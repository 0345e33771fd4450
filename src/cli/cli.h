/* cli: shared pieces of weft's commands. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <stdarg.h>

/* Exit statuses of weft's commands besides a guest's own. */
#define WEFT_EXIT_ERROR 1
#define WEFT_EXIT_USAGE 2

/* Prints "weft CMD: <message> (see 'weft CMD --help')" and returns exit status 2. */
int weft_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* weft up (up.c, in the plugin weft-net.so: the binary runs it as the plugin's command
 * "up"). */
int weft_cli_up(int argc, char **argv);

#endif
