/* cli: shared pieces of weft's commands. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../app/app.h"

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

/* weft new (new.c, in the binary): a project from one of the templates the binary
 * carries (templates/ in the source tree). */
int weft_cli_new(int argc, char **argv);

/* weft build (build.c, in the binary): runs the build command of each function. */
int weft_cli_build(int argc, char **argv);
/* Builds every function of app that has a build command, in manifest order, as `weft
 * build` does: "Building NAME: COMMAND" on stdout, the command's output on weft's own
 * stdout and stderr, and on a failure a line naming the function and its exit status.
 * Stops at the first failure. Returns 0, or WEFT_EXIT_ERROR after a failure. */
int weft_cli_build_app(const weft_app_t *app);
/* Starts f's build command (f->build.command non-NULL): `/bin/sh -c COMMAND` in
 * f->build.workdir (app->dir when NULL), with every signal unblocked and SIGPIPE at its
 * default. out_fd >= 0: its stdout and stderr go there. own_group: it leads a process
 * group of its own (kill(-pid, ...) stops the shell and the compiler it runs) and reads
 * /dev/null. The caller waits for *pid. */
int weft_cli_build_spawn(const weft_app_t *app, const weft_app_function_t *f, int out_fd,
                         bool own_group, pid_t *pid, weft_error_t *err);
/* "exit 1", "killed by signal 9, Killed": a wait status as a build's outcome. */
void weft_cli_build_status(int status, char *buf, size_t size);

/* The sources of an app's builds, watched with inotify (source_watch.c, in the binary),
 * for `weft up --watch`. A function's build.watch globs are relative to its build's
 * workdir; '*', '?' and [...] match within one path segment, '**' any number of
 * segments, and no wildcard matches a name starting with '.' (so .weft/ and .git/ are
 * watched only when a glob names them). Every directory a glob can reach is watched,
 * and directories that appear later are added as they appear. A change to a function's
 * own module (its source .wasm), or to a file whose path begins with the module's (the
 * linker's hello.wasm.tmpXXXX, renamed to hello.wasm), never counts: a build that
 * writes its output where its globs look would rebuild for ever. */
typedef struct weft_cli_source_watch weft_cli_source_watch_t;
/* Watches the sources of every function of app with a build command and watch globs.
 * On success *out is owned by the caller (weft_cli_source_watch_free); it borrows
 * nothing from app. */
int weft_cli_source_watch_create(const weft_app_t *app, weft_cli_source_watch_t **out,
                                 weft_error_t *err);
/* The descriptor that is readable when something changed (for poll). */
int weft_cli_source_watch_fd(const weft_cli_source_watch_t *w);
/* Reads what is pending on the descriptor (without waiting) and marks the functions
 * (by their index in the app) whose globs match a changed file. Returns how many are
 * marked, counting earlier marks not yet taken. */
size_t weft_cli_source_watch_read(weft_cli_source_watch_t *w);
/* How many functions are marked. */
size_t weft_cli_source_watch_marked(const weft_cli_source_watch_t *w);
/* Marks in to the functions marked in from (by name; with what is pending on from's
 * descriptor): what changed while a watch is replaced by a new one (after a reload) is
 * not lost. from may be NULL. */
void weft_cli_source_watch_carry(weft_cli_source_watch_t *to, weft_cli_source_watch_t *from);
/* Is function i marked? Clears its mark. */
bool weft_cli_source_watch_take(weft_cli_source_watch_t *w, size_t i);
/* A path that marked function i last (for the log), or NULL. */
const char *weft_cli_source_watch_why(const weft_cli_source_watch_t *w, size_t i);
void weft_cli_source_watch_free(weft_cli_source_watch_t *w);

#endif
