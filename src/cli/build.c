/* weft build: runs the build command of each function of the app (weft.toml's and
 * spin.toml's `build` table), as `spin build` runs its components': `/bin/sh -c COMMAND`
 * in the build's workdir, one function after the other in manifest order, the
 * command's output streamed as it comes, stopping at the first failure. `weft up
 * --build` and `weft up --watch` (up.c, in the plugin) build through the same
 * functions, which cli.h declares for them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "util/util.h"

static const char build_help[] =
    "usage: weft build [options] [FUNCTION...]\n"
    "\n"
    "Runs the build command of every function of the app that has one (or of the\n"
    "FUNCTIONs named), in the order of the manifest: /bin/sh -c COMMAND in the build's\n"
    "workdir (the manifest's folder by default), its output shown as it comes. It stops\n"
    "at the first command that fails and exits 1, naming the function. Reads\n"
    "./weft.toml, else ./wagi.toml or ./modules.toml, unless -c names a file.\n"
    "\n"
    "  [[function]]\n"
    "  name = \"hello\"\n"
    "  source = \"hello.wasm\"\n"
    "  build = { command = \"clang --target=wasm32-wasi -O2 src/main.c -o hello.wasm\",\n"
    "            workdir = \".\", watch = [\"src/**/*.c\", \"src/**/*.h\"] }\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   the manifest\n"
    "  -h, --help          this help\n"
    "\n"
    "'weft up --build' builds the same way, then serves; 'weft up --watch' also\n"
    "rebuilds a function whenever a file its build.watch globs match changes.\n";

void weft_cli_build_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status))
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d, %s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "wait status %d", status);
}

int weft_cli_build_spawn(const weft_app_t *app, const weft_app_function_t *f, int out_fd,
                         bool own_group, pid_t *pid, weft_error_t *err) {
    const char *workdir = f->build.workdir ? f->build.workdir : app->dir;
    if (!f->build.command)
        return weft_error_set(err, WEFT_EINVAL, "function %s has no build command", f->name);
    pid_t p = fork();
    if (p < 0)
        return weft_error_set(err, WEFT_EIO, "cannot start the build of %s: %s", f->name,
                              strerror(errno));
    if (p == 0) {
        /* Only async-signal-safe calls from here: the parent may have threads. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (own_group) {
            setpgid(0, 0);
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0 && null != 0) {
                dup2(null, 0);
                close(null);
            }
        }
        if (out_fd >= 0) {
            dup2(out_fd, 1);
            dup2(out_fd, 2);
        }
        if (chdir(workdir)) {
            static const char msg[] = "weft: cannot enter the build's workdir\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            _exit(127);
        }
        execl("/bin/sh", "sh", "-c", f->build.command, (char *)NULL);
        _exit(127);
    }
    *pid = p;
    return 0;
}

/* Is f one of the names (all when n is 0)? */
static bool wanted(const weft_app_function_t *f, char *const *names, size_t n) {
    if (!n)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], f->name))
            return true;
    return false;
}

/* The build of app's functions that names lists (all when nnames is 0). */
static int build_functions(const weft_app_t *app, char *const *names, size_t nnames) {
    size_t nbuilt = 0, nwithout = 0;
    weft_buf_t without = {0};
    for (size_t i = 0; i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        if (wanted(f, names, nnames) && !f->build.command) {
            weft_buf_printf(&without, "%s%s", nwithout ? ", " : "", f->name);
            nwithout++;
        }
    }
    if (nwithout)
        printf("No build command for %s: %s (not built)\n",
               nwithout == 1 ? "the function" : "the functions", without.data);
    weft_buf_free(&without);
    for (size_t i = 0; i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        if (!wanted(f, names, nnames) || !f->build.command)
            continue;
        printf("Building %s: %s\n", f->name, f->build.command);
        fflush(stdout);
        weft_error_t err = {0};
        pid_t pid;
        int status;
        if (weft_cli_build_spawn(app, f, -1, false, &pid, &err)) {
            fprintf(stderr, "weft: %s\n", err.msg);
            return WEFT_EXIT_ERROR;
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            char how[128];
            weft_cli_build_status(status, how, sizeof how);
            fprintf(stderr, "weft: the build of %s failed (%s): %s\n", f->name, how,
                    f->build.command);
            return WEFT_EXIT_ERROR;
        }
        nbuilt++;
    }
    if (nbuilt)
        printf("Finished building %zu function%s\n", nbuilt, nbuilt == 1 ? "" : "s");
    else
        printf("Nothing to build: no function of %s has a build command\n", app->path);
    fflush(stdout);
    return 0;
}

int weft_cli_build_app(const weft_app_t *app) {
    return build_functions(app, NULL, 0);
}

int weft_cli_build(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(build_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("build", "unknown option");
        }
    }
    if (!config && !(config = weft_app_find_default())) {
        fprintf(stderr, "weft build: no weft.toml, wagi.toml, modules.toml or spin.toml here; "
                        "name one with -c FILE\n");
        return WEFT_EXIT_ERROR;
    }
    weft_error_t err = {0};
    weft_app_t *app = NULL;
    if (weft_app_load(config, &(weft_app_opts_t){.build_only = true}, &app, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        return WEFT_EXIT_ERROR;
    }
    int rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
        bool found = false;
        for (size_t j = 0; j < app->nfunctions && !found; j++)
            found = !strcmp(app->functions[j].name, argv[i]);
        if (!found)
            rc = weft_cli_usage_error("build", "%s has no function %s", config, argv[i]);
    }
    if (!rc)
        rc = build_functions(app, argv + optind, (size_t)(argc - optind));
    weft_app_free(app);
    return rc;
}
