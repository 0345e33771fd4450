/* tools: the external programs of the pipeline (wasm2c, the C compiler), run in the
 * build folder with their output to log files, and the progress lines a long compile
 * prints while they run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_internal.h"

extern char **environ;

/* Show progress once a compile has run this long. */
#define WEFT_PROGRESS_AFTER_NS 1000000000ull

/* "12.3 s" under a minute, "1m12s" after. */
static void format_elapsed(uint64_t ns, char *out, size_t size) {
    double s = (double)ns / 1e9;
    if (s < 60)
        snprintf(out, size, "%.1f s", s);
    else
        snprintf(out, size, "%um%02us", (unsigned)(s / 60), (unsigned)s % 60);
}

/* Says what the compiler is doing once a compile has taken a second: a line per stage,
 * then the elapsed time and the units done, redrawn in place on a terminal and every
 * 10 s otherwise. */
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
        fputs(new_stage ? "\n" : "\r\033[K", stderr);
    char elapsed[32];
    format_elapsed(now - p->started, elapsed, sizeof elapsed);
    fprintf(stderr, "weft: compiling %s (%.1f MB): %s%s%s, %s%s", p->module,
            (double)p->module_bytes / 1e6, stage, p->detail[0] ? ": " : "", p->detail, elapsed,
            p->tty ? "" : "\n");
    fflush(stderr);
    p->shown = true;
    p->stage = stage;
    p->last_line = now;
}

int weft_tool_jobs(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Starts argv in dir with stdout and stderr to dir/log<i>; the child's pid, or -1.
 *
 * The child dies with the thread that started it (PR_SET_PDEATHSIG), so that a weft
 * killed mid-compile, even by SIGKILL, leaves no compiler running on: a yosys-sized
 * wasm2c holds 1.8 GB for a minute and more. posix_spawn cannot ask for that, so this
 * is vfork and exec, the child making only system calls in between, as posix_spawn
 * itself does. */
static pid_t spawn_in(const char *dir, char *const argv[], int i) {
    /* The log is opened after the chdir, so its name is relative to dir (dir itself may
     * be relative: weft compile --cache-dir cache). */
    char log[32], prog[PATH_MAX];
    snprintf(log, sizeof log, "log%d", i);
    if (weft_tool_find(argv[0], prog, sizeof prog))
        return -1;
    pid_t parent = getpid();
    pid_t pid = vfork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent || chdir(dir))
            _exit(127);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        if (out > 2)
            close(out);
        if (in > 2)
            close(in);
        execve(prog, argv, environ);
        _exit(127);
    }
    return pid;
}

int weft_tools_run(const char *dir, char *const *const argvs[], int n, int jobs, weft_progress_t *p,
                   const char *stage, bool *crashed) {
    *crashed = false;
    if (jobs < 1)
        jobs = 1;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids)
        return 0;
    int failed = -1, running = 0, next = 0, done = 0;
    uint64_t next_note = weft_now_ns();
    for (;;) {
        while (failed < 0 && running < jobs && next < n) {
            pids[next] = spawn_in(dir, argvs[next], next);
            if (pids[next] < 0)
                failed = next;
            else
                running++;
            next++;
        }
        if (running == 0)
            break;
        if (p->cancel && atomic_load(p->cancel) && !p->canceled) {
            p->canceled = true;
            for (int i = 0; i < next; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            if (failed < 0)
                failed = next - 1;
        }
        for (int i = 0; i < next; i++) {
            if (pids[i] <= 0)
                continue;
            int status;
            pid_t w = waitpid(pids[i], &status, WNOHANG);
            if (w == 0 || (w < 0 && errno == EINTR))
                continue;
            pids[i] = 0;
            running--;
            done++;
            if ((w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) && failed < 0) {
                failed = i;
                *crashed = w < 0 || !WIFEXITED(status);
            }
        }
        if (n > 1)
            snprintf(p->detail, sizeof p->detail, "%d/%d units", done, n);
        if (weft_now_ns() >= next_note) {
            weft_progress_note(p, stage);
            next_note = weft_now_ns() + 1000000000ull;
        }
        if (running == 0 && (failed >= 0 || next == n))
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    p->detail[0] = 0;
    free(pids);
    return failed;
}

int weft_tool_run(const char *dir, char *const argv[], weft_progress_t *p, const char *stage,
                  bool *crashed) {
    char *const *const argvs[] = {argv};
    return weft_tools_run(dir, argvs, 1, 1, p, stage, crashed);
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

int weft_tool_find(const char *cmd, char *out, size_t size) {
    if (strchr(cmd, '/'))
        return realpath(cmd, out) ? 0 : -1;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, cmd) < (int)sizeof cand &&
            access(cand, X_OK) == 0 && realpath(cand, out))
            return 0;
        path += n;
        if (*path == ':')
            path++;
    }
    (void)size;
    return -1;
}

bool weft_tool_available(const char *prog) {
    char path[PATH_MAX];
    return weft_tool_find(prog, path, sizeof path) == 0;
}

int weft_tool_tcc_runtime(char *out, size_t size) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char found[PATH_MAX];
    pthread_mutex_lock(&lock);
    if (!found[0]) {
        /* tcc says where it is: "libtcc1:\n  /usr/lib/x86_64-linux-gnu/tcc/libtcc1.a". */
        FILE *f = popen("tcc -print-search-dirs 2>/dev/null", "r");
        char line[PATH_MAX + 16];
        bool next = false;
        while (f && fgets(line, sizeof line, f)) {
            char *p = line + strspn(line, " \t");
            p[strcspn(p, "\n")] = 0;
            if (next && *p) {
                snprintf(found, sizeof found, "%s", p);
                break;
            }
            next = !strcmp(p, "libtcc1:");
        }
        if (f)
            pclose(f);
        if (found[0] && access(found, R_OK) != 0)
            found[0] = 0;
    }
    int rc = found[0] ? 0 : -1;
    if (!rc)
        snprintf(out, size, "%s", found);
    pthread_mutex_unlock(&lock);
    return rc;
}

const char *weft_tool_cc(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}
