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

/* weft send, weft describe, weft watch (client.c, in the plugin: they use libcurl):
 * talk to a running `weft up`, found by --url or by the <state_dir>/address it writes. */
int weft_cli_send(int argc, char **argv);
int weft_cli_describe(int argc, char **argv);
int weft_cli_watch(int argc, char **argv);
/* weft kv, weft blob, weft doc (client_store.c, in the plugin): the services of a running
 * `weft up` over its HTTP API. */
int weft_cli_kv(int argc, char **argv);
int weft_cli_blob(int argc, char **argv);
int weft_cli_doc(int argc, char **argv);

/* weft create broker|target|trigger (create.c, in the binary): appends a block to
 * weft.toml once the result loads. */
int weft_cli_create(int argc, char **argv);
/* The plugin's command "filter-check" (client.c; not one of weft's commands): exits 0
 * when argv[1] parses as a CESQL filter (events/cesql.h), else 2 after saying why as
 * `weft create --filter` would. weft create checks its --filter through it, since the
 * CESQL parser lives in the plugin with the events layer. */
int weft_cli_filter_check(int argc, char **argv);

#endif
