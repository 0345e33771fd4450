/* The sources of an app's builds, watched with inotify for `weft up --watch` (cli.h).
 *
 * inotify watches one directory, not a tree: every directory below a function's build
 * workdir that one of its globs can reach (a prefix of a path the glob matches) gets a
 * watch of its own, and a directory created or moved in later is added, with its own
 * subdirectories, when its parent's event says so (files already in it count as
 * changed). Directories are held by their real path, so that functions whose workdirs
 * name the same folder differently share watches. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util/util.h"

/* Directories watched at most, and how deep below a workdir: a "**" glob over
 * a large tree must not exhaust the user's inotify watches (8192 by default on older
 * kernels) nor recurse without end. */
#define WEFT_CLI_MAX_SOURCE_DIRS 4096
#define WEFT_CLI_MAX_SOURCE_DEPTH 64
#define WEFT_CLI_SOURCE_EVENTS                                                                     \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |       \
     IN_MOVE_SELF)

typedef struct pattern {
    char **seg; /* the glob split at '/', "" and "." left out */
    size_t n;
} pattern_t;

typedef struct source_fn {
    char *name;    /* the function's */
    char *workdir; /* real path; NULL: the function's sources are not watched */
    pattern_t *globs;
    size_t nglobs;
    char *module; /* the real path of its module's folder, then its name */
    bool marked;
    char *why; /* relative to workdir */
} source_fn_t;

typedef struct source_dir {
    int wd;
    char *path; /* real path */
} source_dir_t;

struct weft_cli_source_watch {
    int fd;
    source_fn_t *fns;
    size_t nfns;
    source_dir_t *dirs;
    size_t ndirs;
    bool full_said; /* WEFT_CLI_MAX_SOURCE_DIRS was reached and logged */
};

/* ---- globs ----------------------------------------------------------------------------- */

static int split(const char *s, char ***out, size_t *n) {
    char *copy = strdup(s);
    if (!copy)
        return WEFT_ENOMEM;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == '/';
    char **seg = calloc(cap, sizeof *seg);
    if (!seg) {
        free(copy);
        return WEFT_ENOMEM;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!(seg[k] = strdup(t))) {
            for (size_t i = 0; i < k; i++)
                free(seg[i]);
            free(seg);
            free(copy);
            return WEFT_ENOMEM;
        }
        k++;
    }
    free(copy);
    *out = seg;
    *n = k;
    return 0;
}

static void segs_free(char **seg, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(seg[i]);
    free(seg);
}

/* Does the path s[0..ns) match the glob p[0..np)? With prefix, may s be a directory on
 * the way to a match (some path below it match)? */
static bool match(char *const *p, size_t np, char *const *s, size_t ns, bool prefix) {
    if (ns == 0) {
        if (prefix)
            return np > 0;
        for (size_t i = 0; i < np; i++)
            if (strcmp(p[i], "**"))
                return false;
        return true;
    }
    if (np == 0)
        return false;
    if (!strcmp(p[0], "**")) {
        if (match(p + 1, np - 1, s, ns, prefix))
            return true;
        return s[0][0] != '.' && match(p, np, s + 1, ns - 1, prefix);
    }
    return fnmatch(p[0], s[0], FNM_PERIOD) == 0 && match(p + 1, np - 1, s + 1, ns - 1, prefix);
}

/* The path relative to fn's workdir ("" for the workdir itself), or NULL when path is
 * not in it. */
static const char *relative(const source_fn_t *fn, const char *path) {
    size_t n = strlen(fn->workdir);
    if (strncmp(path, fn->workdir, n))
        return NULL;
    if (!path[n])
        return "";
    if (!strcmp(fn->workdir, "/"))
        return path + 1;
    return path[n] == '/' ? path + n + 1 : NULL;
}

/* Does some glob of fn match path (prefix: may match below it)? */
static bool fn_matches(const source_fn_t *fn, const char *path, bool prefix) {
    if (!fn->workdir)
        return false;
    const char *rel = relative(fn, path);
    if (!rel)
        return false;
    char **seg;
    size_t n;
    if (split(rel, &seg, &n))
        return prefix; /* out of memory: rather watch too much */
    bool yes = false;
    for (size_t i = 0; i < fn->nglobs && !yes; i++)
        yes = match(fn->globs[i].seg, fn->globs[i].n, seg, n, prefix);
    segs_free(seg, n);
    return yes;
}

/* ---- directories ------------------------------------------------------------------------ */

static source_dir_t *dir_by_wd(weft_cli_source_watch_t *w, int wd) {
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

static void mark(weft_cli_source_watch_t *w, const char *path) {
    for (size_t i = 0; i < w->nfns; i++) {
        source_fn_t *fn = &w->fns[i];
        /* The module, and files named after it: wasm-ld writes hello.wasm.tmpXXXX, then
         * renames it. */
        if (fn->module && !strncmp(path, fn->module, strlen(fn->module)))
            continue;
        if (!fn_matches(fn, path, false))
            continue;
        fn->marked = true;
        char *why = strdup(relative(fn, path));
        if (why) {
            free(fn->why);
            fn->why = why;
        }
    }
}

/* Watches path (a real path) if some function's globs can reach below it, then its
 * subdirectories; with mark_files, the files found in it count as changed (a directory
 * that appeared after its parent was watched). */
static void dir_add(weft_cli_source_watch_t *w, const char *path, int depth, bool mark_files) {
    bool wanted = false;
    for (size_t i = 0; i < w->nfns && !wanted; i++)
        wanted = fn_matches(&w->fns[i], path, true);
    if (!wanted || depth > WEFT_CLI_MAX_SOURCE_DEPTH)
        return;
    if (w->ndirs == WEFT_CLI_MAX_SOURCE_DIRS) {
        if (!w->full_said)
            weft_log("--watch: %d directories watched already: %s and others are not "
                     "(narrow the build.watch globs)",
                     WEFT_CLI_MAX_SOURCE_DIRS, path);
        w->full_said = true;
        return;
    }
    int wd = inotify_add_watch(w->fd, path, WEFT_CLI_SOURCE_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW);
    if (wd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            weft_log("--watch: cannot watch %s: %s", path, strerror(errno));
        return;
    }
    if (!dir_by_wd(w, wd)) {
        char *copy = strdup(path);
        source_dir_t *dirs = copy ? realloc(w->dirs, (w->ndirs + 1) * sizeof *dirs) : NULL;
        if (!dirs) {
            free(copy);
            inotify_rm_watch(w->fd, wd);
            return;
        }
        w->dirs = dirs;
        w->dirs[w->ndirs++] = (source_dir_t){.wd = wd, .path = copy};
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", path, strcmp(path, "/") ? "/" : "",
                             e->d_name) >= sizeof sub)
            continue;
        struct stat st;
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN && lstat(sub, &st) == 0)
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        if (type == DT_DIR)
            dir_add(w, sub, depth + 1, mark_files);
        else if (mark_files && type == DT_REG)
            mark(w, sub);
    }
    closedir(d);
}

static void dir_forget(weft_cli_source_watch_t *w, int wd) {
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd) {
            free(w->dirs[i].path);
            w->dirs[i] = w->dirs[--w->ndirs];
            return;
        }
}

/* ---- the watch ---------------------------------------------------------------------------- */

/* The real path of path's folder joined to its name (the file itself may not exist). */
static char *real_file(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
    const char *name = slash ? slash + 1 : copy;
    if (slash)
        *slash = 0;
    char real[PATH_MAX], *out = NULL;
    if (realpath(dir, real) && asprintf(&out, "%s/%s", strcmp(real, "/") ? real : "", name) < 0)
        out = NULL;
    free(copy);
    return out;
}

int weft_cli_source_watch_create(const weft_app_t *app, weft_cli_source_watch_t **out,
                                 weft_error_t *err) {
    *out = NULL;
    weft_cli_source_watch_t *w = calloc(1, sizeof *w);
    if (!w || !(w->fns = calloc(app->nfunctions ? app->nfunctions : 1, sizeof *w->fns))) {
        free(w);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    w->nfns = app->nfunctions;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        weft_error_set(err, WEFT_EIO, "--watch: inotify: %s", strerror(errno));
        weft_cli_source_watch_free(w);
        return WEFT_EIO;
    }
    for (size_t i = 0; i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        source_fn_t *fn = &w->fns[i];
        if (!(fn->name = strdup(f->name)))
            goto nomem;
        if (!f->build.command || !f->build.nwatch)
            continue;
        const char *workdir = f->build.workdir ? f->build.workdir : app->dir;
        char real[PATH_MAX];
        if (!realpath(workdir, real)) {
            weft_log("--watch: %s: the build's workdir %s: %s; its sources are not watched",
                     f->name, workdir, strerror(errno));
            continue;
        }
        if (!(fn->globs = calloc(f->build.nwatch, sizeof *fn->globs)))
            goto nomem;
        for (size_t g = 0; g < f->build.nwatch; g++) {
            if (split(f->build.watch[g], &fn->globs[g].seg, &fn->globs[g].n))
                goto nomem;
            fn->nglobs++;
        }
        if (!(fn->workdir = strdup(real)))
            goto nomem;
        fn->module = f->wasm ? real_file(f->wasm) : NULL;
    }
    for (size_t i = 0; i < w->nfns; i++)
        if (w->fns[i].workdir)
            dir_add(w, w->fns[i].workdir, 0, false);
    *out = w;
    return 0;
nomem:
    weft_cli_source_watch_free(w);
    return weft_error_set(err, WEFT_ENOMEM, "out of memory");
}

int weft_cli_source_watch_fd(const weft_cli_source_watch_t *w) {
    return w->fd;
}

size_t weft_cli_source_watch_read(weft_cli_source_watch_t *w) {
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (e->mask & IN_Q_OVERFLOW) {
                /* Events were lost: whatever changed, every function may have. */
                for (size_t i = 0; i < w->nfns; i++)
                    w->fns[i].marked = w->fns[i].workdir != NULL;
                continue;
            }
            if (e->mask & IN_IGNORED) {
                dir_forget(w, e->wd);
                continue;
            }
            source_dir_t *d = dir_by_wd(w, e->wd);
            if (!d || !e->len)
                continue;
            char path[PATH_MAX];
            if ((size_t)snprintf(path, sizeof path, "%s%s%s", d->path,
                                 strcmp(d->path, "/") ? "/" : "", e->name) >= sizeof path)
                continue;
            if (e->mask & IN_ISDIR) {
                if (e->mask & (IN_CREATE | IN_MOVED_TO))
                    dir_add(w, path, 0, true);
            } else if (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
                mark(w, path);
            }
        }
    }
    return weft_cli_source_watch_marked(w);
}

bool weft_cli_source_watch_take(weft_cli_source_watch_t *w, size_t i) {
    if (i >= w->nfns || !w->fns[i].marked)
        return false;
    w->fns[i].marked = false;
    return true;
}

void weft_cli_source_watch_carry(weft_cli_source_watch_t *to, weft_cli_source_watch_t *from) {
    if (!from)
        return;
    weft_cli_source_watch_read(from);
    for (size_t i = 0; i < from->nfns; i++) {
        if (!from->fns[i].marked)
            continue;
        for (size_t j = 0; j < to->nfns; j++)
            if (to->fns[j].workdir && !strcmp(to->fns[j].name, from->fns[i].name)) {
                to->fns[j].marked = true;
                free(to->fns[j].why);
                to->fns[j].why = from->fns[i].why;
                from->fns[i].why = NULL;
            }
    }
}

size_t weft_cli_source_watch_marked(const weft_cli_source_watch_t *w) {
    size_t marked = 0;
    for (size_t i = 0; i < w->nfns; i++)
        marked += w->fns[i].marked;
    return marked;
}

const char *weft_cli_source_watch_why(const weft_cli_source_watch_t *w, size_t i) {
    return i < w->nfns ? w->fns[i].why : NULL;
}

void weft_cli_source_watch_free(weft_cli_source_watch_t *w) {
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->nfns; i++) {
        source_fn_t *fn = &w->fns[i];
        for (size_t g = 0; g < fn->nglobs; g++)
            segs_free(fn->globs[g].seg, fn->globs[g].n);
        free(fn->globs);
        free(fn->name);
        free(fn->workdir);
        free(fn->module);
        free(fn->why);
    }
    free(w->fns);
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i].path);
    free(w->dirs);
    free(w);
}
