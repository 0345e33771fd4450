/* weft: the command line. Each command is one function; usage mistakes print one line
 * and exit 2, as a shell user expects. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "engine/engine.h"
#include "host/host.h"
#include "invoke/invoke.h"
#include "util/util.h"

/* Exit status of `weft run` when the guest traps, as wasmtime does (128 + SIGABRT). */
#define WEFT_EXIT_TRAP 134
#define WEFT_MAX_RUN_ENV 4096
#define WEFT_MAX_RUN_DIRS 256
#define WEFT_MAX_RUN_HOSTS 256
#define WEFT_MAX_RUN_SOCKETS 16
#define WEFT_LISTEN_BACKLOG 128

static const char run_help[] =
    "usage: weft run [options] MODULE [ARGS...]\n"
    "\n"
    "Runs a WASI command module (.wasm, compiled through the cache, or an artifact from\n"
    "'weft compile'). Its stdin, stdout and stderr are weft's; its exit code is weft's.\n"
    "A reactor's _initialize (a module exporting it) runs first; a module without _start\n"
    "is only instantiated, unless --invoke names a function to call.\n"
    "\n"
    "options:\n"
    "  --env NAME=VALUE      set an environment variable for the guest (NAME alone\n"
    "                        passes weft's own value of NAME)\n"
    "  --dir HOST[::GUEST]   preopen directory HOST, seen by the guest as GUEST\n"
    "                        (default: the same path); append :readonly for read-only\n"
    "  --tcplisten ADDR:PORT listen on ADDR:PORT and hand the socket to the guest\n"
    "                        (sock_accept); repeatable; numbered after the preopens\n"
    "  --invoke NAME         call export NAME instead of _start, with ARGS read as its\n"
    "                        parameters (i32, i64: decimal or 0x hex; f32, f64), and\n"
    "                        print its results, one a line\n"
    "  --unknown-imports MODE  run a module that imports functions weft does not\n"
    "                        provide: 'trap' (calling one traps) or 'default' (it\n"
    "                        returns zeros); 'refuse' (the default) refuses it\n"
    "  --timeout DURATION    stop the guest after DURATION (e.g. 2s, 500ms)\n"
    "  --max-memory SIZE     limit linear memory (e.g. 64MiB)\n"
    "  --allow-host URL      let the guest send HTTP requests to URL's host\n"
    "                        (wasi_experimental_http); repeatable. Also\n"
    "                        scheme://host:port with * wildcards, or\n"
    "                        insecure:allow-all. None: every request is denied\n"
    "  --http-max-concurrency N  responses the guest may hold open at once\n"
    "  --cache-dir DIR       artifact cache (default $XDG_CACHE_HOME/weft)\n"
    "  --tier TIER           auto (default): the optimized tier if it is in the\n"
    "                        cache, else for a module of 1 MB or more the fast\n"
    "                        tier (tcc), built now if need be ('weft compile'\n"
    "                        builds the optimized one); fast; opt: wait for cc -O2\n"
    "  -h, --help            this help\n"
    "\n"
    "A trap prints one line naming it and exits with status 134.\n";

static const char compile_help[] =
    "usage: weft compile [options] MODULE.wasm\n"
    "\n"
    "Compiles a module to native code ahead of time, into the artifact cache, and\n"
    "prints the artifact's path. 'weft run' accepts that path as well.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     also write the artifact to FILE, and print FILE\n"
    "  --tier TIER           fast (tcc: compiles about ten times faster, runs\n"
    "                        several times slower), opt (cc -O2), or auto (the\n"
    "                        default: a module of 1 MB or more gets the fast tier\n"
    "                        first, then the optimized one; smaller ones opt only)\n"
    "  --unknown-imports MODE  compile a module that imports functions weft does not\n"
    "                        provide (MODE trap or default; each run chooses what\n"
    "                        calling one does, with its own --unknown-imports)\n"
    "  --cache-dir DIR       artifact cache (default $XDG_CACHE_HOME/weft)\n"
    "  -q, --quiet           no progress lines\n"
    "  -h, --help            this help\n"
    "\n"
    "FILE is a standalone artifact (as 'wasmtime compile -o' writes): 'weft run FILE'\n"
    "and the module paths of weft.toml, wagi.toml and modules.toml take it wherever\n"
    "they take a .wasm, whatever its name. A module weft refuses leaves no FILE.\n"
    "Before loading one, weft refuses it, saying which, when it is:\n"
    "  truncated or corrupted  (cut short, or its checksum does not match)\n"
    "  from another weft       (another version of weft or of its glue ABI)\n"
    "  for another CPU         (compiled for another architecture or system)\n"
    "Recompile it from its .wasm then.\n";

/* "fast", "opt" (or "optimized"), "auto". */
static int parse_tier(const char *s, weft_tier_t *out) {
    if (!strcmp(s, "fast"))
        *out = WEFT_TIER_FAST;
    else if (!strcmp(s, "opt") || !strcmp(s, "optimized"))
        *out = WEFT_TIER_OPT;
    else if (!strcmp(s, "auto"))
        *out = WEFT_TIER_AUTO;
    else
        return -1;
    return 0;
}

/* Splits "HOST::GUEST[:readonly]" (wasmtime's spelling) into a volume. */
static int parse_dir(char *spec, weft_app_volume_t *p) {
    p->readonly = false;
    size_t n = strlen(spec);
    if (n > 9 && !strcmp(spec + n - 9, ":readonly")) {
        spec[n - 9] = 0;
        p->readonly = true;
    }
    char *sep = strstr(spec, "::");
    if (sep) {
        *sep = 0;
        p->host = spec;
        p->guest = sep + 2;
    } else {
        p->host = spec;
        p->guest = spec;
    }
    return *p->host && *p->guest ? 0 : -1;
}

/* After `weft run` of a module that has no _start (nor ""): wasmtime only instantiates
 * it and says nothing; weft says why nothing more happened and what to do. */
static void note_not_a_command(const weft_function_t *fn, const char *path) {
    char exports[512];
    weft_function_exports(fn, exports, sizeof exports);
    bool reactor = weft_function_has_entry(fn, "_initialize");
    fprintf(stderr,
            "weft: %s %s; to call one of its functions, name it with --invoke NAME (%s%s)\n", path,
            reactor ? "is a reactor (it exports _initialize and no _start): ran its _initialize "
                      "only"
                    : "exports neither _start nor _initialize: instantiated it only",
            exports[0] ? "its functions: " : "it exports no functions", exports);
}

static int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {{"env", required_argument, 0, 'e'},
                                         {"dir", required_argument, 0, 'd'},
                                         {"invoke", required_argument, 0, 'i'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"max-memory", required_argument, 0, 'm'},
                                         {"cache-dir", required_argument, 0, 'c'},
                                         {"allow-host", required_argument, 0, 'a'},
                                         {"tcplisten", required_argument, 0, 'L'},
                                         {"http-max-concurrency", required_argument, 0, 'C'},
                                         {"tier", required_argument, 0, 'T'},
                                         {"unknown-imports", required_argument, 0, 'U'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char *envs[WEFT_MAX_RUN_ENV];
    static char *env_owned[WEFT_MAX_RUN_ENV];
    static weft_app_volume_t dirs[WEFT_MAX_RUN_DIRS];
    static char *hosts[WEFT_MAX_RUN_HOSTS];
    static int sockets[WEFT_MAX_RUN_SOCKETS];
    size_t nsockets = 0;
    size_t nenv = 0, ndirs = 0, nhosts = 0;
    uint32_t http_max_concurrency = 0;
    weft_app_unknown_imports_t unknown_imports = WEFT_APP_UNKNOWN_IMPORTS_REFUSE;
    char *entry = NULL; /* --invoke */
    weft_limits_t limits = {0};
    weft_compile_opts_t copts = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (nenv == WEFT_MAX_RUN_ENV)
                return weft_cli_usage_error("run", "too many --env options");
            if (!strchr(optarg, '=')) {
                const char *v = getenv(optarg);
                if (!v)
                    continue;
                size_t n = strlen(optarg) + strlen(v) + 2;
                env_owned[nenv] = malloc(n);
                if (!env_owned[nenv])
                    return WEFT_EXIT_ERROR;
                snprintf(env_owned[nenv], n, "%s=%s", optarg, v);
                envs[nenv] = env_owned[nenv];
                nenv++;
            } else {
                if (optarg[0] == '=')
                    return weft_cli_usage_error("run", "--env %s: empty variable name", optarg);
                envs[nenv++] = optarg;
            }
            break;
        case 'd':
            if (ndirs == WEFT_MAX_RUN_DIRS)
                return weft_cli_usage_error("run", "too many --dir options");
            if (parse_dir(optarg, &dirs[ndirs]))
                return weft_cli_usage_error("run", "--dir %s: expected HOST[::GUEST]", optarg);
            ndirs++;
            break;
        case 'i':
            entry = optarg;
            break;
        case 't':
            if (weft_parse_duration(optarg, &limits.timeout_ns) || !limits.timeout_ns)
                return weft_cli_usage_error("run", "--timeout %s: expected a duration like 2s",
                                            optarg);
            break;
        case 'm':
            if (weft_parse_size(optarg, &limits.max_memory) || !limits.max_memory)
                return weft_cli_usage_error("run", "--max-memory %s: expected a size like 64MiB",
                                            optarg);
            break;
        case 'c':
            copts.cache_dir = optarg;
            break;
        case 'T':
            if (parse_tier(optarg, &copts.tier))
                return weft_cli_usage_error("run", "--tier %s: expected fast, opt or auto", optarg);
            break;
        case 'a': {
            weft_error_t herr = {0};
            if (nhosts == WEFT_MAX_RUN_HOSTS)
                return weft_cli_usage_error("run", "too many --allow-host options");
            const weft_net_plugin_t *net = weft_net_plugin_get(&herr);
            if (!net) {
                fprintf(stderr, "weft: %s\n", herr.msg);
                return WEFT_EXIT_ERROR;
            }
            if (net->host_allowed_check(optarg, &herr))
                return weft_cli_usage_error("run", "--allow-host: %s", herr.msg);
            hosts[nhosts++] = optarg;
            break;
        }
        case 'L': {
            char host[256];
            weft_error_t lerr = {0};
            if (nsockets == WEFT_MAX_RUN_SOCKETS)
                return weft_cli_usage_error("run", "too many --tcplisten options");
            if (weft_tcp_listen(optarg, "--tcplisten", WEFT_LISTEN_BACKLOG, host, sizeof host,
                                &sockets[nsockets], &lerr)) {
                fprintf(stderr, "weft: %s\n", lerr.msg);
                return WEFT_EXIT_ERROR;
            }
            nsockets++;
            break;
        }
        case 'C': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > UINT32_MAX)
                return weft_cli_usage_error("run",
                                            "--http-max-concurrency %s: expected a "
                                            "number from 1",
                                            optarg);
            http_max_concurrency = (uint32_t)v;
            break;
        }
        case 'U':
            if (weft_app_unknown_imports_parse(optarg, &unknown_imports))
                return weft_cli_usage_error("run",
                                            "--unknown-imports %s: expected trap, default or "
                                            "refuse",
                                            optarg);
            break;
        case 'h':
            fputs(run_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("run", "unknown option");
        }
    }
    if (optind >= argc)
        return weft_cli_usage_error("run", "missing MODULE");
    const char *path = argv[optind];

    /* A reader that leaves (`weft run app.wasm | head`) makes writes fail with EPIPE,
     * which the guest gets as WASI's errno 64 (the wasi layer already keeps its own
     * pipe writes from raising SIGPIPE); weft's own messages, like the line naming a
     * trap, must not be killed by the signal either, so that the exit status is the
     * guest's. */
    signal(SIGPIPE, SIG_IGN);
    /* The command as a function of a one-function app. */
    weft_app_function_t def = {
        .name = (char *)path,
        .source = (char *)path,
        .wasm = (char *)path,
        .entrypoint = entry ? entry : "_start",
        .allowed_hosts = hosts,
        .nallowed = nhosts,
        .volumes = dirs,
        .nvolumes = ndirs,
        .timeout_ns = limits.timeout_ns,
        .max_memory = limits.max_memory,
        .http_max_concurrency = http_max_concurrency,
        .unknown_imports = unknown_imports,
    };
    weft_function_opts_t fopts = {.env = envs,
                                  .nenv = nenv,
                                  .cache_dir = copts.cache_dir,
                                  .tier = copts.tier == WEFT_TIER_FAST  ? WEFT_FUNCTION_TIER_FAST
                                          : copts.tier == WEFT_TIER_OPT ? WEFT_FUNCTION_TIER_OPT
                                                                        : WEFT_FUNCTION_TIER_AUTO};
    weft_error_t err = {0};
    weft_function_t *fn = NULL;
    if (weft_invoke_init(&err) || weft_function_load(&def, &fopts, &fn, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        return WEFT_EXIT_ERROR;
    }
    /* Chosen for the user, not by them: say so, to a person only. */
    if (fopts.tier == WEFT_FUNCTION_TIER_AUTO && !weft_function_optimized(fn) && isatty(2))
        fprintf(stderr,
                "weft: running the fast tier of %s; 'weft compile %s' builds the optimized "
                "one\n",
                argv[optind], argv[optind]);
    weft_buf_t results = {0};
    weft_run_opts_t ropts = {
        .entry = entry,
        .argv = (const char *const *)argv + optind,
        .argc = (size_t)(argc - optind),
        .sockets = sockets,
        .nsockets = nsockets,
        .invoke = entry != NULL,
        .params = (const char *const *)argv + optind + 1,
        .nparams = (size_t)(argc - optind - 1),
        .results = &results,
    };
    /* Without --invoke, as wasmtime: the export "" or else _start; a module with
     * neither (a reactor) is only instantiated, its _initialize run. */
    bool only_instantiate = false;
    if (!entry) {
        ropts.entry = weft_function_has_entry(fn, "") ? "" : "_start";
        only_instantiate = !weft_function_has_entry(fn, ropts.entry);
        ropts.invoke = only_instantiate;
        if (only_instantiate)
            ropts.entry = NULL;
    }
    weft_call_outcome_t out;
    int status;
    weft_crash_task(path, 0);
    if (weft_function_run(fn, &ropts, &out, &err)) {
        fprintf(stderr, "weft: %s\n", err.msg);
        status = WEFT_EXIT_ERROR;
    } else if (out.trap) {
        fflush(stdout);
        fprintf(stderr, "weft: %s: trap: %s\n", path, out.trap);
        status = WEFT_EXIT_TRAP;
    } else if (out.end == WEFT_CALL_EXITED) {
        status = (int)(out.exit_code & 0xff);
    } else {
        if (results.len)
            fwrite(results.data, 1, results.len, stdout);
        status = 0;
    }
    if (only_instantiate && status == 0)
        note_not_a_command(fn, path);
    weft_buf_free(&results);
    weft_function_release(fn);
    for (size_t i = 0; i < nenv; i++)
        free(env_owned[i]);
    for (size_t i = 0; i < nsockets; i++)
        close(sockets[i]);
    return status;
}

static int cmd_compile(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"cache-dir", required_argument, 0, 'c'},
                                         {"tier", required_argument, 0, 'T'},
                                         {"unknown-imports", required_argument, 0, 'U'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *output = NULL;
    weft_compile_opts_t copts = {0};
    int c;
    optind = 1;
    /* Options may follow the module (`weft compile app.wasm -o app.wasmc`). */
    while ((c = getopt_long(argc, argv, "ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'c':
            copts.cache_dir = optarg;
            break;
        case 'q':
            copts.quiet = true;
            break;
        case 'T':
            if (parse_tier(optarg, &copts.tier))
                return weft_cli_usage_error("compile", "--tier %s: expected fast, opt or auto",
                                            optarg);
            break;
        case 'U': {
            weft_app_unknown_imports_t mode;
            if (weft_app_unknown_imports_parse(optarg, &mode))
                return weft_cli_usage_error("compile",
                                            "--unknown-imports %s: expected trap, default or "
                                            "refuse",
                                            optarg);
            /* The artifact is the same for trap and default: only refusing differs. */
            copts.unknown_imports = mode == WEFT_APP_UNKNOWN_IMPORTS_REFUSE
                                        ? WEFT_UNKNOWN_IMPORTS_REFUSE
                                        : WEFT_UNKNOWN_IMPORTS_TRAP;
            break;
        }
        case 'h':
            fputs(compile_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("compile", "unknown option");
        }
    }
    if (optind != argc - 1)
        return weft_cli_usage_error("compile",
                                    optind >= argc ? "missing MODULE" : "one MODULE only");
    char artifact[4096];
    weft_error_t err = {0};
    weft_tier_t built;
    /* Auto: the optimized build that may follow reuses the fast one's translation. */
    copts.keep_c = copts.tier == WEFT_TIER_AUTO;
    if (weft_invoke_init(&err) ||
        weft_module_compile_tier(argv[optind], &copts, artifact, sizeof artifact, &built, &err))
        goto fail;
    /* Auto: a large module gets the fast tier first, ready to run, then the optimized. */
    if (copts.tier == WEFT_TIER_AUTO && built == WEFT_TIER_FAST) {
        if (!copts.quiet)
            fprintf(stderr, "weft: fast tier ready (%s); building the optimized tier\n", artifact);
        copts.tier = WEFT_TIER_OPT;
        if (weft_module_compile_tier(argv[optind], &copts, artifact, sizeof artifact, &built, &err))
            goto fail;
    }
    if (output) {
        uint8_t *data;
        size_t len;
        if (weft_file_read(artifact, &data, &len, &err))
            goto fail;
        int rc = weft_file_write_atomic(output, data, len, &err);
        free(data);
        if (rc) {
            weft_error_prefix(&err, "cannot write %s", output);
            goto fail;
        }
        puts(output);
    } else {
        puts(artifact);
    }
    return 0;
fail:
    fprintf(stderr, "weft: %s\n", err.msg);
    return WEFT_EXIT_ERROR;
}

/* `weft up`, `weft cesql` and the commands that talk to a running weft up (send,
 * watch, describe, kv, blob, doc) live in the network plugin with the gateway, the events layer and
 * libcurl; argv[0] names the command. */
static int cmd_plugin(int argc, char **argv) {
    weft_error_t err = {0};
    const weft_net_plugin_t *net = weft_net_plugin_get(&err);
    const weft_plugin_command_t *cmd = net ? weft_plugin_command(&net->head, argv[0]) : NULL;
    if (!cmd) {
        if (net)
            fprintf(stderr, "weft: weft-net.so has no command %s\n", argv[0]);
        else
            fprintf(stderr, "weft: %s\n", err.msg);
        return WEFT_EXIT_ERROR;
    }
    return cmd->run(argc, argv);
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"run", cmd_run, "run a WASI command module"},
    {"compile", cmd_compile, "compile a module ahead of time into the cache"},
    {"new", weft_cli_new, "create a project from a template (weft new --list)"},
    {"build", weft_cli_build, "run the build commands of an app's functions"},
    {"up", cmd_plugin, "serve an app's functions and brokers (weft.toml, wagi.toml)"},
    {"cesql", cmd_plugin, "evaluate a CloudEvents SQL expression against an event"},
    {"send", cmd_plugin, "send a CloudEvent to a broker of the running weft up, or a URL"},
    {"watch", cmd_plugin, "print the events a broker ingests, as they arrive"},
    {"describe", cmd_plugin, "show the brokers, triggers, targets and routes of weft up"},
    {"kv", cmd_plugin, "get, set, delete and list keys of the running weft up's key-value"},
    {"blob", cmd_plugin, "put, get, delete and list blobs of the running weft up"},
    {"doc", cmd_plugin, "put, get, delete and query documents of the running weft up"},
    {"create", weft_cli_create, "add a broker, target or trigger to weft.toml"},
};

static void main_help(FILE *f) {
    fprintf(f, "usage: weft [--version] [--help] COMMAND [ARGS...]\n\n"
               "weft runs WebAssembly functions as commands, HTTP handlers and event steps.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'weft COMMAND --help' tells more about a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        main_help(stderr);
        return WEFT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        main_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("weft %s\n", WEFT_VERSION);
        return 0;
    }
    weft_crash_init();
    weft_crash_thread("main");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    return weft_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
