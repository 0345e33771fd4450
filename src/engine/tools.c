/* tools: the external programs of the pipeline (wasm2c, the C compiler), run in the
 * build folder with their output to log files, and the progress lines a long compile
 * prints while they run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "engine_internal.h"

extern char **environ;

/* Show progress once a compile has run this long. */
#define WEFT_PROGRESS_AFTER_NS 1000000000ull

/* Says what the compiler is doing once a compile has taken a second: a line per stage,
 * then the elapsed time, redrawn in place on a terminal and every 10 s otherwise. */
void weft_progress_note(weft_progress_t *p, const char *stage) {
    if (p->quiet)
        return;
    uint64_t now = weft_now_ns();
    if (!p->shown && now - p->started < WEFT_PROGRESS_AFTER_NS)
        return;
    bool new_stage = !p->stage || strcmp(p->stage, stage) != 0;
    if (!new_stage && !p->tty && now - p->last_line < 10 * 1000000000ull)
        return;
    if (p->tty && p->shown)
        fputs(new_stage ? "\n" : "\r", stderr);
    fprintf(stderr, "weft: compiling %s (%.1f MB): %s (%.1f s)%s", p->module,
            (double)p->module_bytes / 1e6, stage, (double)(now - p->started) / 1e9,
            p->tty ? "" : "\n");
    fflush(stderr);
    p->shown = true;
    p->stage = stage;
    p->last_line = now;
}

/* Runs the n commands argvs[i] in dir at once, each with stdout and stderr to
 * dir/log<i>, and waits for all, noting progress each second. Returns the index of the
 * first that failed (exit status != 0, or could not run, or died), or -1 if all
 * succeeded. */
int weft_tools_run(const char *dir, char *const *const argvs[], int n, weft_progress_t *p,
                   const char *stage, bool *crashed) {
    *crashed = false;
    pid_t pids[WEFT_MAX_PARTS + 1];
    int failed = -1, running = 0;
    for (int i = 0; i < n; i++) {
        char log[32];
        snprintf(log, sizeof log, "log%d", i);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addchdir_np(&fa, dir);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        int rc = posix_spawnp(&pids[i], argvs[i][0], &fa, NULL, argvs[i], environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pids[i] = -1;
            if (failed < 0)
                failed = i;
        } else {
            running++;
        }
    }
    uint64_t next_note = weft_now_ns();
    while (running > 0) {
        for (int i = 0; i < n; i++) {
            if (pids[i] <= 0)
                continue;
            int status;
            pid_t w = waitpid(pids[i], &status, WNOHANG);
            if (w == 0 || (w < 0 && errno == EINTR))
                continue;
            pids[i] = 0;
            running--;
            if ((w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) && failed < 0) {
                failed = i;
                *crashed = w < 0 || !WIFEXITED(status);
            }
        }
        if (running == 0)
            break;
        if (weft_now_ns() >= next_note) {
            weft_progress_note(p, stage);
            next_note = weft_now_ns() + 1000000000ull;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return failed;
}

int weft_tool_run(const char *dir, char *const argv[], weft_progress_t *p, const char *stage,
                  bool *crashed) {
    char *const *const argvs[] = {argv};
    return weft_tools_run(dir, argvs, 1, p, stage, crashed);
}

/* Reads dir/log<i> for an error message: its first lines, trimmed. */
void weft_tool_log(const char *dir, int i, char *out, size_t size) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/log%d", dir, i);
    uint8_t *text = NULL;
    size_t len = 0;
    out[0] = 0;
    if (weft_file_read(path, &text, &len, NULL))
        return;
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(out, text, n);
    out[n] = 0;
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = 0;
    free(text);
}

const char *weft_tool_cc(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}
