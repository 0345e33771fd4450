/* usage: the one-line report of a usage mistake, for every command (cli.h). */
#include <stdio.h>

#include "cli.h"

int weft_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'weft %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    va_end(ap);
    return WEFT_EXIT_USAGE;
}
