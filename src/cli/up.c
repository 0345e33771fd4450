/* weft up: serve the app's functions over HTTP until SIGINT or SIGTERM.
 *
 * Once the modules are loaded, SIGINT and SIGTERM are blocked in every thread (the
 * gateway's threads inherit the mask) and taken by sigwait() here, so shutdown runs as ordinary
 * code: stop accepting, let the requests in flight finish, exit 0. A second signal during that wait
 * ends the process at once, for the user who does not want to wait.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "host/host.h"
#include "invoke/invoke.h"
#include "util/util.h"

#define WEFT_UP_MAX_ENV 4096
/* Longest line of an --env-file. */
#define WEFT_UP_MAX_ENV_LINE 65536

static const char up_help[] =
    "usage: weft up [options]\n"
    "\n"
    "Serves the functions of an app over HTTP, a fresh instance per request. Reads\n"
    "./weft.toml, else ./wagi.toml or ./modules.toml (WAGI's format), else ./spin.toml\n"
    "(Spin's, manifest version 1 or 2), unless -c names a file. It listens at once and\n"
    "serves the functions once every module is compiled (GET /readyz: 503 until then).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE       the manifest\n"
    "  --listen ADDR:PORT      where to listen (default: [server] listen, else\n"
    "                          127.0.0.1:3000); port 0 picks a free one\n"
    "  --env NAME=VALUE        an environment variable for every function (NAME alone\n"
    "                          passes weft's own value)\n"
    "  --env-file FILE         NAME=VALUE lines ('#' comments, optional quotes)\n"
    "  --max-body SIZE         largest request body; larger ones get 413 (default 16MiB)\n"
    "  --max-header-bytes SIZE largest request line and headers; larger get 431\n"
    "                          (default 64KiB, at most 408KiB)\n"
    "  --header-timeout DURATION  a request head not received in time gets 408\n"
    "                          (default 10s)\n"
    "  --idle-timeout DURATION a keep-alive connection idle that long is closed\n"
    "                          (default 60s)\n"
    "  --max-connections N     connections open at once; more wait to be accepted\n"
    "                          (default 10000, less if the open-file limit says so)\n"
    "  --max-response SIZE     largest guest output; larger is a 500 (default 64MiB)\n"
    "  --workers N             most guests running at once on worker threads (default\n"
    "                          64); one per core starts at once, more only while guests\n"
    "                          wait (short guests run on the I/O threads: see README)\n"
    "  --tls-cert FILE         serve HTTPS with this PEM certificate ...\n"
    "  --tls-key FILE          ... and this PEM private key\n"
    "  --token TOKEN           the bearer token weft's own endpoints require (below);\n"
    "                          default: $WEFT_TOKEN, else [server] token\n"
    "  --cache-dir DIR         artifact cache (default $XDG_CACHE_HOME/weft)\n"
    "  --node NAME             its name among the nodes that share brokers on Redis\n"
    "                          (default: [server] node, else HOSTNAME:PORT)\n"
    "  --log-format text|json  the log on stderr: 'weft: ' lines (default), or one JSON\n"
    "                          object a line (default: [server] log_format)\n"
    "  --access-log FILE|-     a line per request, Apache's combined format plus the\n"
    "                          duration and request id, appended to FILE or on stdout\n"
    "                          (default: [server] access_log, else none)\n"
    "  --no-reload             do not watch the manifest and the modules for changes\n"
    "  --build                 run each function's build command first (as 'weft\n"
    "                          build'); a failed build ends weft up\n"
    "  --watch                 build first, then rebuild a function whenever a file its\n"
    "                          build.watch globs match changes, and serve the new module\n"
    "                          once it builds (see below)\n"
    "  -q, --quiet             no compile progress\n"
    "  -h, --help              this help\n"
    "\n"
    "Global variables come first in a guest's environment, the function's own next,\n"
    "the CGI variables last; a later one replaces an earlier one of the same name.\n"
    "\n"
    "While it runs, weft up watches the manifest and every function's module: when one\n"
    "changes (or on SIGHUP) the app is loaded again and served without a restart;\n"
    "requests and deliveries under way finish on the previous configuration, and an\n"
    "edit that does not load is reported and the running configuration kept. The\n"
    "server's own settings ([server], --listen and the other options) take effect at the\n"
    "next start, and an edit of [app] state_dir is refused (the brokers' log cannot move\n"
    "while weft runs). The URL served is written to <state_dir>/address for weft send,\n"
    "describe and watch.\n"
    "\n"
    "With --watch, a change to a file a function's build.watch globs match (relative to\n"
    "its build's workdir; '**' is any number of folders) runs its build command again\n"
    "once the files have been quiet for 200 ms, its output in the log; a build that\n"
    "succeeds reloads the app as an edit of the manifest does, and one that fails is\n"
    "logged and the previous version kept serving. A function without build.watch is\n"
    "not rebuilt; its module is watched as always.\n"
    "\n"
    "weft's own endpoints (/brokers/..., /_weft/..., and the services over HTTP: /kv,\n"
    "/blobs, /docs) are protected; a function's routes and /healthz never are. With a\n"
    "token (--token, else the WEFT_TOKEN environment variable, else [server] token),\n"
    "every request to them must carry \"Authorization: Bearer TOKEN\" (else 401), from\n"
    "any client. Without one they answer only clients on a loopback address (else 403).\n";

typedef struct env_list {
    char *v[WEFT_UP_MAX_ENV];
    size_t n;
} env_list_t;

static int env_add(env_list_t *e, const char *name, size_t nlen, const char *value) {
    if (e->n == WEFT_UP_MAX_ENV)
        return weft_cli_usage_error("up", "more than %d environment variables", WEFT_UP_MAX_ENV);
    if (!nlen)
        return weft_cli_usage_error("up", "an environment variable has an empty name");
    if (asprintf(&e->v[e->n], "%.*s=%s", (int)nlen, name, value) < 0)
        return 1;
    e->n++;
    return 0;
}

static int env_arg(env_list_t *e, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (eq)
        return env_add(e, arg, (size_t)(eq - arg), eq + 1);
    const char *v = getenv(arg);
    return v ? env_add(e, arg, strlen(arg), v) : 0;
}

/* A .env file: NAME=VALUE per line, blank lines and '#' comments skipped, an
 * "export " prefix allowed, and one pair of matching quotes around VALUE removed. */
static int env_file(env_list_t *e, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "weft up: --env-file %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = malloc(WEFT_UP_MAX_ENV_LINE);
    int rc = line ? 0 : 1, lineno = 0;
    while (!rc && fgets(line, WEFT_UP_MAX_ENV_LINE, f)) {
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (!strncmp(s, "export ", 7))
            s += 7;
        char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            fprintf(stderr, "weft up: %s:%d: expected NAME=VALUE\n", path, lineno);
            rc = 2;
            break;
        }
        char *name_end = eq;
        while (name_end > s && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        char *v = eq + 1;
        size_t vn = strlen(v);
        if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
            v[vn - 1] = 0;
            v++;
        }
        rc = env_add(e, s, (size_t)(name_end - s), v);
    }
    free(line);
    fclose(f);
    return rc;
}

static void print_route(void *arg, const char *pattern, const char *function,
                        const char *entrypoint) {
    if (function && !strcmp(entrypoint, "(broker)"))
        printf("  %-30s broker %s (POST CloudEvents; GET the live page)\n", pattern, function);
    else if (function && !strcmp(entrypoint, "(events)"))
        printf("  %-30s broker %s (GET Server-Sent Events)\n", pattern, function);
    else if (function)
        printf("  %-30s %s%s%s\n", pattern, function, strcmp(entrypoint, "_start") ? " " : "",
               strcmp(entrypoint, "_start") ? entrypoint : "");
    else if (entrypoint && !strcmp(entrypoint, "(static)"))
        printf("  %-30s (static response)\n", pattern);
    else if (!strcmp(pattern, "/healthz"))
        printf("  %-30s (weft: health check)\n", pattern);
    else if (!strcmp(pattern, "/readyz"))
        printf("  %-30s (weft: readiness check)\n", pattern);
    else if (!strcmp(pattern, "/_weft/metrics"))
        printf("  %-30s (weft: metrics for Prometheus)\n", pattern);
    else if (!strncmp(pattern, "/_weft/", 7))
        printf("  %-30s (weft: the app's state as JSON)\n", pattern);
    /* The services' API (/kv/..., /blobs/..., /docs/...) goes unlisted: the log's line on
     * weft's own endpoints names it, and the listing stays what the examples show. */
}

/* Allocations from this size up (a guest's large response, a large request body) are
 * mapped and unmapped on their own. By default glibc raises that threshold to the
 * largest block freed so far (up to 32 MiB), after which such buffers come from the
 * heap of the thread that ran the request and are kept there once freed: on the
 * fault-mix soak, one or two max_response-sized stdout buffers (16 MiB each) stayed in
 * RSS in some runs. */
#define WEFT_UP_MMAP_THRESHOLD (1u << 20)

/* "  redis redis://HOST:PORT/DB channel      function" (Spin lists its active channels
 * so), the address without its user information (it may hold a password). */
static void print_channel(const char *kind, const char *address, const char *channel,
                          const char *to) {
    const char *start = strstr(address, "://");
    start = start ? start + 3 : address;
    const char *end = start + strcspn(start, "/?#"), *at = NULL;
    for (const char *p = start; p < end; p++)
        if (*p == '@')
            at = p;
    printf("  %-6s %.*s%.*s %-20s %s\n", kind, (int)(start - address), address,
           (int)strcspn(at ? at + 1 : start, "?#"), at ? at + 1 : start, channel, to);
}

static weft_function_t *site_function(void *arg, const char *name) {
    return weft_gateway_site_function(arg, name);
}

static void site_release(void *arg) {
    weft_gateway_site_release(arg);
}

/* The events half's configuration of a site: its app's brokers and triggers, their
 * function targets the site's functions, the site held until the events layer lets
 * go of it. */
static weft_events_config_t events_config(weft_gateway_site_t *site, const weft_app_t *app) {
    weft_gateway_site_retain(site);
    return (weft_events_config_t){.app = app,
                                  .function = site_function,
                                  .function_arg = site,
                                  .release = site_release,
                                  .release_arg = site};
}

/* ---- Reloading ----------------------------------------------------------------------- */

/* How often the watched files are looked at, and how long they must stay unchanged
 * before a reload (an editor or a compiler may write in several steps). */
#define WEFT_UP_WATCH_NS (500ull * 1000000ull)
#define WEFT_UP_SETTLE_NS (200ull * 1000000ull)

/* --watch: how long the sources must stay quiet before a rebuild, and how often a
 * running build is looked at. */
#define WEFT_UP_SOURCES_SETTLE_NS (200ull * 1000000ull)
/* ... at most this long: files that never stop changing in a watched folder (matched or
 * not) do not hold a build back for ever. */
#define WEFT_UP_SOURCES_SETTLE_MAX_NS (2000ull * 1000000ull)
#define WEFT_UP_BUILD_POLL_NS (50ull * 1000000ull)

/* What a watched file looked like: a change of any of these is a change. */
typedef struct stamp {
    char *path;
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} stamp_t;

typedef struct watch {
    stamp_t *files; /* the manifest first, then each function's module */
    size_t n;
} watch_t;

static void stamp_take(stamp_t *s) {
    struct stat st;
    s->exists = stat(s->path, &st) == 0;
    s->dev = s->exists ? st.st_dev : 0;
    s->ino = s->exists ? st.st_ino : 0;
    s->size = s->exists ? st.st_size : 0;
    s->mtime = s->exists ? st.st_mtim : (struct timespec){0};
}

static bool stamp_same(const stamp_t *a, const stamp_t *b) {
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void watch_free(watch_t *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->files[i].path);
    free(w->files);
    *w = (watch_t){0};
}

/* Watches config and the module of every function of app: the file the manifest
 * names (a .wat source, not the .wasm weft converted it into). */
static int watch_set(watch_t *w, const char *config, const weft_app_t *app) {
    watch_t next = {.files = calloc(app->nfunctions + 1, sizeof *next.files)};
    if (!next.files)
        return WEFT_ENOMEM;
    for (size_t i = 0; i <= app->nfunctions; i++) {
        const weft_app_function_t *f = i ? &app->functions[i - 1] : NULL;
        size_t n = f && f->source ? strlen(f->source) : 0;
        char *path = NULL;
        if (!f)
            path = strdup(config);
        else if (n < 4 || strcmp(f->source + n - 4, ".wat"))
            path = strdup(f->wasm);
        else if (f->source[0] == '/' || app->format == WEFT_APP_WAGI)
            path = strdup(f->source); /* WAGI: relative to the working directory */
        else if (asprintf(&path, "%s/%s", app->dir, f->source) < 0)
            path = NULL;
        if (!(next.files[next.n].path = path)) {
            watch_free(&next);
            return WEFT_ENOMEM;
        }
        stamp_take(&next.files[next.n++]);
    }
    watch_free(w);
    *w = next;
    return 0;
}

/* Has a watched file changed since it was last looked at? Takes the new looks. */
static bool watch_changed(watch_t *w) {
    bool changed = false;
    for (size_t i = 0; i < w->n; i++) {
        stamp_t now = {.path = w->files[i].path};
        stamp_take(&now);
        if (!stamp_same(&now, &w->files[i]))
            changed = true;
        w->files[i] = now;
    }
    return changed;
}

/* A publish call of a guest (host.h, weft_services_publish_fn): an ingest request to the
 * broker, waited for. */
typedef struct publish_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    unsigned status;
    char *msg;
    size_t msg_size;
} publish_wait_t;

static void publish_done(void *arg, unsigned status, const char *body) {
    publish_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    snprintf(w->msg, w->msg_size, "%s", body ? body : "");
    /* The body ends with a newline: the message should not. */
    size_t n = strlen(w->msg);
    while (n && (w->msg[n - 1] == '\n' || w->msg[n - 1] == '\r'))
        w->msg[--n] = 0;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

typedef struct up up_t;
static unsigned publish(void *arg, const char *broker, const char *const *names,
                        const char *const *values, size_t n, const uint8_t *data, size_t len,
                        char *msg, size_t msg_size);

typedef struct up {
    const char *config;
    weft_gateway_t *gw;
    weft_events_t *_Atomic events; /* set once the triggers run; publish reads it */
    const weft_app_t *running;     /* the app served now (its site owns it, or up does) */
    weft_app_opts_t aopts;
    watch_t watch;
    /* --watch: the builds' sources, and the signals as a descriptor to poll beside them
     * (-1 without --watch). */
    weft_cli_source_watch_t *sources;
    int sigfd;
    bool hup; /* a SIGHUP read while waiting for something else */
    /* The Redis triggers and sources running (they hold the site whose functions they
     * call). */
    weft_channels_t *channels;
} up_t;

/* Replaces the running Redis triggers and sources by app's (site's functions). When app
 * needs the very subscriptions running, they are kept and only the configuration
 * behind them changes: no message is lost. Otherwise the old subscriptions end (their
 * calls under way finish) before the new ones begin, so that no message is handled
 * twice; one published in between is lost, as one published while a subscriber is away
 * always is. site NULL only stops them. */
static int channels_set(up_t *u, weft_gateway_site_t *site, const weft_app_t *app,
                        weft_error_t *err) {
    weft_channels_config_t cfg = {0};
    if (site) {
        weft_gateway_site_retain(site); /* released through cfg.release */
        cfg = (weft_channels_config_t){.app = app,
                                       .function = site_function,
                                       .function_arg = site,
                                       .events = u->events,
                                       .release = site_release,
                                       .release_arg = site};
        if (u->channels && weft_channels_update(u->channels, &cfg)) {
            weft_log("%s: the Redis subscriptions are kept", u->config);
            return 0;
        }
    }
    weft_channels_stop(u->channels);
    u->channels = NULL;
    if (!site)
        return 0;
    if (!app->nredis_triggers && !app->nsources) {
        site_release(site);
        return 0;
    }
    return weft_channels_start(&cfg, &u->channels, err);
}

/* ---- --watch: rebuilding ------------------------------------------------------------ */

/* Watches the sources of app's builds (replacing what was watched); says what is
 * watched when say is set (at the start). */
static void sources_set(up_t *u, const weft_app_t *app, bool say) {
    weft_error_t err = {0};
    weft_cli_source_watch_t *next = NULL;
    if (weft_cli_source_watch_create(app, &next, &err)) {
        weft_log("%s: the sources are no longer watched: %s", u->config, err.msg);
        return;
    }
    weft_cli_source_watch_carry(next, u->sources);
    weft_cli_source_watch_free(u->sources);
    u->sources = next;
    for (size_t i = 0; say && i < app->nfunctions; i++) {
        const weft_app_function_t *f = &app->functions[i];
        if (!f->build.command)
            continue;
        if (!f->build.nwatch) {
            weft_log("--watch: %s has a build command but no build.watch globs: it is not "
                     "rebuilt on changes (its module is watched as always)",
                     f->name);
            continue;
        }
        weft_buf_t globs = {0};
        for (size_t g = 0; g < f->build.nwatch; g++)
            weft_buf_printf(&globs, "%s%s", g ? ", " : "", f->build.watch[g]);
        weft_log("--watch: %s is rebuilt when %s change (relative to %s)", f->name,
                 globs.data ? (const char *)globs.data : "",
                 f->build.workdir ? f->build.workdir : app->dir);
        weft_buf_free(&globs);
    }
}

/* Waits up to ns for a signal (its number; a SIGHUP only when hup, else it is kept in
 * u->hup for later) or for a change of the sources (0); -1 when the time ran out. */
static int wait_for(up_t *u, bool hup, uint64_t ns) {
    uint64_t end = weft_now_ns() + ns;
    for (;;) {
        uint64_t now = weft_now_ns();
        int ms = now >= end ? 0 : (int)((end - now + 999999) / 1000000);
        struct pollfd p[2] = {
            {.fd = u->sigfd, .events = POLLIN},
            {.fd = u->sources ? weft_cli_source_watch_fd(u->sources) : -1, .events = POLLIN}};
        int n = poll(p, 2, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(u->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo != SIGHUP || hup)
                    return (int)si.ssi_signo;
                u->hup = true;
            }
            continue;
        }
        if (p[1].revents & POLLIN)
            return 0;
        return -1;
    }
}

/* Builds f as --watch does, its output into the log. Returns 0 when it built, 1 when it
 * failed (logged), or the stop signal that came meanwhile (the build is stopped). */
static int rebuild_one(up_t *u, const weft_app_t *app, const weft_app_function_t *f) {
    weft_error_t err = {0};
    pid_t pid;
    uint64_t t0 = weft_now_ns();
    if (weft_cli_build_spawn(app, f, 2, true, &pid, &err)) {
        weft_log("%s", err.msg);
        return 1;
    }
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        int sig = wait_for(u, false, WEFT_UP_BUILD_POLL_NS);
        if (sig == 0)
            weft_cli_source_watch_read(u->sources); /* built again afterwards */
        if (sig == SIGINT || sig == SIGTERM) {
            kill(-pid, SIGTERM);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return sig;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        weft_log("%s: built in %.1f s", f->name, (double)(weft_now_ns() - t0) / 1e9);
        return 0;
    }
    char how[128];
    weft_cli_build_status(status, how, sizeof how);
    weft_log("build of %s failed (%s); still serving the previous version", f->name, how);
    return 1;
}

static void reload(up_t *u, const char *why);

/* Rebuilds every function whose sources changed, in manifest order, then serves what
 * was built through the reload an edit of the manifest gets. Returns the stop signal
 * that came meanwhile, or 0. */
static int rebuild(up_t *u) {
    const weft_app_t *app = u->running;
    size_t built = 0;
    for (size_t i = 0; i < app->nfunctions; i++) {
        if (!weft_cli_source_watch_take(u->sources, i))
            continue;
        const weft_app_function_t *f = &app->functions[i];
        const char *why = weft_cli_source_watch_why(u->sources, i);
        weft_log("%s: %s changed: building: %s", f->name, why && *why ? why : "a source",
                 f->build.command);
        int rc = rebuild_one(u, app, f);
        if (rc == SIGINT || rc == SIGTERM)
            return rc;
        built += rc == 0;
    }
    if (built) {
        reload(u, built == 1 ? "a function was rebuilt" : "functions were rebuilt");
        /* The modules are served (or refused) now: the poll need not see them again. */
        watch_changed(&u->watch);
    }
    return 0;
}

/* Settings that only a restart applies: said, not applied. */
static void restart_only(const weft_app_t *was, const weft_app_t *now) {
    bool listen = (was->listen == NULL) != (now->listen == NULL) ||
                  (was->listen && strcmp(was->listen, now->listen));
    if (listen || was->max_body != now->max_body ||
        was->max_header_bytes != now->max_header_bytes ||
        was->header_timeout_ns != now->header_timeout_ns ||
        was->idle_timeout_ns != now->idle_timeout_ns ||
        was->max_connections != now->max_connections || was->max_response != now->max_response ||
        was->max_stderr_bytes != now->max_stderr_bytes ||
        was->max_stderr_lines != now->max_stderr_lines ||
        (was->token == NULL) != (now->token == NULL) ||
        (was->token && strcmp(was->token, now->token)))
        weft_log("%s: the [server] settings changed: they take effect at the next start",
                 now->path);
}

/* Loads the manifest again and serves it: the gateway's new site and the events' new
 * configuration are both built before either is swapped in, so an edit that does not
 * load changes nothing. */
static void reload(up_t *u, const char *why) {
    weft_error_t err = {0};
    weft_app_t *app = NULL;
    weft_gateway_site_t *site = NULL;
    weft_events_conf_t *conf = NULL;
    uint64_t t0 = weft_now_ns();
    weft_log("%s: %s: reloading", u->config, why);
    if (weft_app_load(u->config, &u->aopts, &app, &err))
        goto fail;
    if (weft_gateway_site_create(u->gw, app, &site, &err)) {
        weft_app_free(app); /* the site did not take it */
        goto fail;
    }
    weft_events_config_t cfg = events_config(site, app);
    if (weft_events_prepare(u->events, &cfg, &conf, &err) ||
        weft_gateway_site_add_brokers(site, u->events, &err))
        goto fail;
    restart_only(u->running, app);
    weft_events_commit(u->events, conf);
    weft_gateway_swap(u->gw, site);
    u->running = app;
    if (channels_set(u, site, app, &err))
        weft_log("%s: the Redis triggers and sources are not running: %s", u->config, err.msg);
    if (watch_set(&u->watch, u->config, app))
        weft_log("%s: out of memory: changes are no longer watched", u->config);
    if (u->sources)
        sources_set(u, app, false);
    weft_log("%s: reloaded in %.0f ms: %zu function%s, %zu route%s, %zu broker%s, %zu "
             "trigger%s",
             u->config, (double)(weft_now_ns() - t0) / 1e6, app->nfunctions,
             app->nfunctions == 1 ? "" : "s", app->nroutes, app->nroutes == 1 ? "" : "s",
             app->nbrokers, app->nbrokers == 1 ? "" : "s", app->ntriggers,
             app->ntriggers == 1 ? "" : "s");
    if (app->nredis_triggers || app->nsources)
        weft_log("%s: %zu Redis trigger%s and %zu source%s on %zu subscription%s", u->config,
                 app->nredis_triggers, app->nredis_triggers == 1 ? "" : "s", app->nsources,
                 app->nsources == 1 ? "" : "s", weft_channels_count(u->channels),
                 weft_channels_count(u->channels) == 1 ? "" : "s");
    return;
fail:
    weft_log("%s: not reloaded, still serving the previous configuration: %s", u->config, err.msg);
    if (conf)
        weft_events_discard(conf); /* releases its hold on the site */
    if (site)
        weft_gateway_site_release(site); /* and the app with it */
}

/* ---- publish ---------------------------------------------------------------------- */

static unsigned publish(void *arg, const char *broker, const char *const *names,
                        const char *const *values, size_t n, const uint8_t *data, size_t len,
                        char *msg, size_t msg_size) {
    up_t *u = arg;
    weft_events_t *ev = u->events;
    if (!ev) {
        snprintf(msg, msg_size, "the brokers are not running");
        return 503;
    }
    weft_header_t headers[n ? n : 1];
    for (size_t i = 0; i < n; i++)
        headers[i] = (weft_header_t){names[i], values[i]};
    publish_wait_t w = {.lock = PTHREAD_MUTEX_INITIALIZER,
                        .cond = PTHREAD_COND_INITIALIZER,
                        .msg = msg,
                        .msg_size = msg_size};
    weft_events_ingest(ev, broker, headers, n, data, len, publish_done, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return w.status;
}

/* ---- The address file ---------------------------------------------------------------- */

static int address_write(const char *path, const char *url) {
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) {
        *slash = 0;
        weft_mkdirs(dir, 0700);
    }
    free(dir);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%s\n", url);
    if (fclose(f) || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Removes the file only if it still names this server (another weft up may have
 * started on the same app since). */
static void address_remove(const char *path, const char *url) {
    char line[512] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = strlen(url);
    bool ours = fgets(line, sizeof line, f) && !strncmp(line, url, n) && line[n] == '\n';
    fclose(f);
    if (ours)
        unlink(path);
}

int weft_cli_up(int argc, char **argv) {
    mallopt(M_MMAP_THRESHOLD, WEFT_UP_MMAP_THRESHOLD);
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"env", required_argument, 0, 'e'},
                                         {"env-file", required_argument, 0, 'f'},
                                         {"max-body", required_argument, 0, 'b'},
                                         {"max-header-bytes", required_argument, 0, 'H'},
                                         {"header-timeout", required_argument, 0, 'T'},
                                         {"idle-timeout", required_argument, 0, 'I'},
                                         {"max-connections", required_argument, 0, 'n'},
                                         {"max-response", required_argument, 0, 'r'},
                                         {"workers", required_argument, 0, 'w'},
                                         {"tls-cert", required_argument, 0, 'C'},
                                         {"tls-key", required_argument, 0, 'K'},
                                         {"cache-dir", required_argument, 0, 'd'},
                                         {"token", required_argument, 0, 't'},
                                         {"log-format", required_argument, 0, 'L'},
                                         {"node", required_argument, 0, 'N'},
                                         {"access-log", required_argument, 0, 'A'},
                                         {"no-reload", no_argument, 0, 'R'},
                                         {"build", no_argument, 0, 'B'},
                                         {"watch", no_argument, 0, 'W'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static env_list_t env;
    const char *config = NULL;
    weft_gateway_config_t gcfg = {0};
    bool watch = true, build = false, watch_sources = false;
    const char *log_format = NULL, *node_name = NULL;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'l':
            gcfg.listen = optarg;
            break;
        case 'e':
            rc = env_arg(&env, optarg);
            break;
        case 'f':
            rc = env_file(&env, optarg);
            break;
        case 'b':
            if (weft_parse_size(optarg, &gcfg.max_body) || !gcfg.max_body)
                return weft_cli_usage_error("up", "--max-body %s: expected a size like 16MiB",
                                            optarg);
            break;
        case 'H':
            if (weft_parse_size(optarg, &gcfg.max_header_bytes) || !gcfg.max_header_bytes)
                return weft_cli_usage_error(
                    "up", "--max-header-bytes %s: expected a size like 64KiB", optarg);
            break;
        case 'T':
            if (weft_parse_duration(optarg, &gcfg.header_timeout_ns) || !gcfg.header_timeout_ns)
                return weft_cli_usage_error(
                    "up", "--header-timeout %s: expected a duration like 10s", optarg);
            break;
        case 'I':
            if (weft_parse_duration(optarg, &gcfg.idle_timeout_ns) || !gcfg.idle_timeout_ns)
                return weft_cli_usage_error("up", "--idle-timeout %s: expected a duration like 60s",
                                            optarg);
            break;
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1000000)
                return weft_cli_usage_error("up", "--max-connections %s: expected 1 to 1000000",
                                            optarg);
            gcfg.max_connections = (size_t)n;
            break;
        }
        case 'r':
            if (weft_parse_size(optarg, &gcfg.max_response) || !gcfg.max_response)
                return weft_cli_usage_error("up", "--max-response %s: expected a size like 64MiB",
                                            optarg);
            break;
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 4096)
                return weft_cli_usage_error("up", "--workers %s: expected 1 to 4096", optarg);
            gcfg.workers = (size_t)n;
            break;
        }
        case 'C':
            gcfg.tls_cert = optarg;
            break;
        case 'K':
            gcfg.tls_key = optarg;
            break;
        case 'd':
            gcfg.cache_dir = optarg;
            break;
        case 't':
            if (!weft_app_token_valid(optarg))
                return weft_cli_usage_error(
                    "up", "--token: expected 1 to %d visible ASCII characters", WEFT_APP_MAX_TOKEN);
            gcfg.token = optarg;
            break;
        case 'N':
            if (!weft_app_node_valid(optarg))
                return weft_cli_usage_error("up", "--node %s: expected 1 to %d of [A-Za-z0-9_.:-]",
                                            optarg, WEFT_APP_MAX_NAME);
            node_name = optarg;
            break;
        case 'L':
            if (strcmp(optarg, "text") && strcmp(optarg, "json"))
                return weft_cli_usage_error("up", "--log-format %s: expected text or json", optarg);
            log_format = optarg;
            break;
        case 'A':
            if (!*optarg)
                return weft_cli_usage_error("up", "--access-log: expected a file, or - for stdout");
            gcfg.access_log = optarg;
            break;
        case 'R':
            watch = false;
            break;
        case 'B':
            build = true;
            break;
        case 'W':
            watch_sources = build = true;
            break;
        case 'q':
            gcfg.quiet = true;
            break;
        case 'h':
            fputs(up_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("up", "unknown option");
        }
        if (rc)
            return rc;
    }
    if (optind != argc)
        return weft_cli_usage_error("up", "unexpected argument '%s'", argv[optind]);
    if ((gcfg.tls_cert == NULL) != (gcfg.tls_key == NULL))
        return weft_cli_usage_error("up", "--tls-cert and --tls-key go together");
    if (watch_sources && !watch)
        return weft_cli_usage_error("up", "--watch reloads what it builds: not with --no-reload");
    if (!config && !(config = weft_app_find_default())) {
        fprintf(stderr, "weft up: no weft.toml, wagi.toml, modules.toml or spin.toml here; "
                        "name one with -c FILE\n");
        return 1;
    }

    weft_error_t err = {0};
    weft_app_t *app = NULL;
    weft_gateway_t *gw = NULL;
    weft_events_t *events = NULL;
    weft_services_t *services = NULL;
    char *address = NULL, *stores = NULL;
    up_t u = {.config = config, .aopts = {.cache_dir = gcfg.cache_dir}, .sigfd = -1};
    if (weft_invoke_init(&err) || weft_app_load(config, &u.aopts, &app, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (!log_format)
        log_format = app->log_format;
    if (log_format && !strcmp(log_format, "json"))
        weft_gateway_log_json();
    if (!gcfg.access_log)
        gcfg.access_log = app->access_log;
    /* The modules are built before anything is compiled or served. */
    if (build && (rc = weft_cli_build_app(app)))
        goto out;
    u.running = app;
    if (!gcfg.listen)
        gcfg.listen = app->listen ? app->listen : WEFT_APP_DEFAULT_LISTEN;
    if (!gcfg.max_body)
        gcfg.max_body = app->max_body;
    if (!gcfg.max_header_bytes)
        gcfg.max_header_bytes = app->max_header_bytes;
    if (!gcfg.header_timeout_ns)
        gcfg.header_timeout_ns = app->header_timeout_ns;
    if (!gcfg.idle_timeout_ns)
        gcfg.idle_timeout_ns = app->idle_timeout_ns;
    if (!gcfg.max_connections)
        gcfg.max_connections = app->max_connections;
    if (!gcfg.max_response)
        gcfg.max_response = app->max_response;
    gcfg.max_stderr_bytes = app->max_stderr_bytes;
    gcfg.max_stderr_lines = app->max_stderr_lines;
    gcfg.env = (const char *const *)env.v;
    gcfg.nenv = env.n;
    /* The services' stores open at their first use: an app that uses none pays nothing. */
    weft_services_config_t scfg = {.publish = publish,
                                   .publish_arg = &u,
                                   .kv_location = app->store_key_value,
                                   .doc_location = app->store_documents,
                                   .blob_location = app->store_blobs};
    if (!(stores = weft_app_stores_path(app)) || !(scfg.location = stores) ||
        weft_services_create(&scfg, &services, &err)) {
        fprintf(stderr, "weft: %s\n", stores ? err.msg : "out of memory");
        rc = 1;
        goto out;
    }
    gcfg.services = services;
    /* The token: the command line's, else the environment's, else the manifest's. */
    const char *token_from = "--token";
    if (!gcfg.token && (gcfg.token = getenv("WEFT_TOKEN")) && *gcfg.token) {
        token_from = "WEFT_TOKEN";
        if (!weft_app_token_valid(gcfg.token)) {
            fprintf(stderr, "weft up: WEFT_TOKEN: expected 1 to %d visible ASCII characters\n",
                    WEFT_APP_MAX_TOKEN);
            rc = WEFT_EXIT_USAGE;
            goto out;
        }
    }
    if (gcfg.token && !*gcfg.token)
        gcfg.token = NULL;
    if (!gcfg.token && (gcfg.token = app->token))
        token_from = "[server] token";
    /* Blocked after the modules are compiled (a Ctrl-C while the compiler runs just
     * ends weft) and before the server's threads exist, so that they inherit it. */
    sigset_t stop, waited;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    waited = stop;
    sigaddset(&waited, SIGHUP);
    /* The server listens while the modules compile: /healthz answers, /readyz says 503
     * until every function is compiled and every broker open, other paths 503. Its
     * threads block the signals themselves: a Ctrl-C while the compiler runs ends weft. */
    if (weft_gateway_create_empty(&gcfg, &gw, &err) || weft_gateway_start(gw, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        rc = err.code == WEFT_EUSAGE ? 2 : 1; /* a bad --listen is a usage mistake */
        goto out;
    }
    u.gw = gw;
    weft_log("listening on %s; ready once every function is compiled and every broker open "
             "(GET /readyz)",
             weft_gateway_url(gw));
    weft_gateway_site_t *site = NULL;
    if (weft_gateway_load(gw, app, &site, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        rc = err.code == WEFT_EUSAGE ? 2 : 1;
        goto out;
    }
    /* Served once its brokers' routes are in: a site never changes while it serves. */
    weft_events_config_t ecfg = events_config(site, app);
    /* Its name among the nodes sharing a broker: [server] node, else HOSTNAME:PORT, the
     * same across restarts, so that it takes up what it left pending at once. */
    char node[WEFT_APP_MAX_NAME + 1], host[64] = "weft";
    const char *port = strrchr(weft_gateway_url(gw), ':');
    gethostname(host, sizeof host - 1);
    snprintf(node, sizeof node, "%s:%s", host, port ? port + 1 : "0");
    ecfg.node = node_name ? node_name : app->node ? app->node : node;
    if (weft_events_create(&ecfg, &events, &err) ||
        weft_gateway_site_add_brokers(site, events, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        weft_gateway_site_release(site);
        rc = 1;
        goto out;
    }
    weft_gateway_swap(gw, site);
    if (pthread_sigmask(SIG_BLOCK, &waited, NULL) || weft_events_start(events, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    u.events = events;
    if (channels_set(&u, site, app, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    weft_gateway_set_ready(gw, true);
    if (gcfg.token)
        weft_log("weft's own endpoints (/brokers, /_weft, and the services over HTTP: /kv, "
                 "/blobs, /docs) require the bearer token of %s",
                 token_from);
    else
        weft_log("no token set: weft's own endpoints (/brokers, /_weft, and the services over "
                 "HTTP: /kv, /blobs, /docs) answer loopback clients only");
    printf("Serving %s (%zu function%s", config, app->nfunctions, app->nfunctions == 1 ? "" : "s");
    if (app->nbrokers)
        printf(", %zu broker%s, %zu trigger%s", app->nbrokers, app->nbrokers == 1 ? "" : "s",
               app->ntriggers, app->ntriggers == 1 ? "" : "s");
    printf("):\n");
    weft_gateway_each_route(gw, print_route, NULL);
    for (size_t i = 0; i < app->nredis_triggers; i++)
        print_channel("redis", app->redis_triggers[i].address, app->redis_triggers[i].channel,
                      app->functions[app->redis_triggers[i].function].name);
    for (size_t i = 0; i < app->nsources; i++)
        print_channel("source", app->sources[i].address, app->sources[i].channel,
                      app->brokers[app->sources[i].broker].name);
    printf("Ready: serving on %s\n", weft_gateway_url(gw));
    fflush(stdout);
    if (!(address = weft_app_address_path(app)) || address_write(address, weft_gateway_url(gw)))
        weft_log("%s: could not write the address file: weft send, describe and watch will "
                 "need --url",
                 address ? address : "<state_dir>/address");
    if (watch && watch_set(&u.watch, config, app))
        weft_log("%s: out of memory: changes are not watched", config);
    if (watch_sources) {
        if ((u.sigfd = signalfd(-1, &waited, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
            weft_log("--watch: signalfd: %s: the sources are not watched", strerror(errno));
        else
            sources_set(&u, app, true);
    }

    int sig = 0;
    uint64_t next_look = weft_now_ns() + WEFT_UP_WATCH_NS;
    for (;;) {
        if (u.sigfd >= 0) {
            uint64_t now = weft_now_ns();
            sig = u.hup ? SIGHUP : wait_for(&u, true, next_look > now ? next_look - now : 0);
            u.hup = false;
        } else {
            struct timespec tick = {0, (long)WEFT_UP_WATCH_NS};
            sig = sigtimedwait(&waited, NULL, &tick);
        }
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP) {
            reload(&u, "SIGHUP");
            continue;
        }
        if (sig == 0) {
            /* The sources: once some file a glob matches changed, wait until they are
             * quiet, then build; again while files changed during the build. */
            size_t marked = weft_cli_source_watch_read(u.sources);
            while (marked) {
                uint64_t settled_by = weft_now_ns() + WEFT_UP_SOURCES_SETTLE_MAX_NS;
                while ((sig = wait_for(&u, false, WEFT_UP_SOURCES_SETTLE_NS)) == 0) {
                    weft_cli_source_watch_read(u.sources);
                    if (weft_now_ns() >= settled_by)
                        break;
                }
                if (sig == SIGINT || sig == SIGTERM || (sig = rebuild(&u)))
                    break;
                marked = weft_cli_source_watch_read(u.sources);
            }
            if (sig == SIGINT || sig == SIGTERM)
                break;
            continue;
        }
        if (u.sigfd >= 0 && weft_now_ns() < next_look)
            continue;
        next_look = weft_now_ns() + WEFT_UP_WATCH_NS;
        if (!watch || !watch_changed(&u.watch))
            continue;
        /* Changed: wait until the files stay as they are for a moment. */
        do {
            struct timespec settle = {0, (long)WEFT_UP_SETTLE_NS};
            sig = sigtimedwait(&stop, NULL, &settle);
        } while (sig < 0 && watch_changed(&u.watch));
        if (sig == SIGINT || sig == SIGTERM)
            break;
        reload(&u, "changed");
    }
    weft_log("%s: finishing the requests in flight (again to stop now)",
             sig == SIGINT ? "SIGINT" : "SIGTERM");
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    weft_gateway_stop(gw, 0);
    channels_set(&u, NULL, NULL, &err); /* no more messages: before the brokers stop */
    u.events = NULL;                    /* a guest still running publishes no more */
    weft_events_stop(events);
    weft_log("stopped");
out:
    if (address && gw)
        address_remove(address, weft_gateway_url(gw));
    free(address);
    watch_free(&u.watch);
    weft_cli_source_watch_free(u.sources);
    if (u.sigfd >= 0)
        close(u.sigfd);
    /* The channels and the events first: they hold sites (and so functions) of the
     * gateway. */
    channels_set(&u, NULL, NULL, &err);
    weft_events_free(events);
    weft_gateway_free(gw);
    weft_services_free(services);
    free(stores);
    weft_app_free(app);
    for (size_t i = 0; i < env.n; i++)
        free(env.v[i]);
    env.n = 0;
    return rc;
}
