/* Spin's spin.toml (app/spin.c): manifest versions 1 and 2 read into the app model field
 * by field, each refusal checked by its message, warnings by what they say, variables
 * resolved from SPIN_VARIABLE_*, and component files staged by weft_app_load. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "test.h"

/* stderr (where weft_log writes) captured into a file while a parse runs. */
static char captured[8192];
static int saved_stderr = -1;

static void capture_start(void) {
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    dup2(fd, 2);
    close(fd);
}

static void capture_end(void) {
    fflush(stderr);
    lseek(2, 0, SEEK_SET);
    ssize_t n = read(2, captured, sizeof captured - 1);
    captured[n > 0 ? n : 0] = 0;
    dup2(saved_stderr, 2);
    close(saved_stderr);
}

static weft_app_t *parse(const char *text, weft_error_t *err) {
    weft_app_t *app = NULL;
    memset(err, 0, sizeof *err);
    capture_start();
    int rc = weft_app_parse(text, strlen(text), "spin.toml", "/srv/app", WEFT_APP_SPIN, &app, err);
    capture_end();
    return rc ? NULL : app;
}

static void refused(const char *text, const char *msg, int line) {
    weft_error_t err;
    weft_app_t *app = parse(text, &err);
    if (app) {
        fprintf(stderr, "%s:%d: accepted, expected \"%s\"\n", __FILE__, line, msg);
        weft_test_failures++;
        weft_app_free(app);
        return;
    }
    weft_test_checks++;
    if (strcmp(err.msg, msg)) {
        weft_test_failures++;
        fprintf(stderr, "%s:%d: error \"%s\", expected \"%s\"\n", __FILE__, line, err.msg, msg);
    }
}
#define REFUSED(text, msg) refused(text, msg, __LINE__)

/* The last parse warned with this text (one line of what weft_log wrote). */
static void warned(const char *msg, int line) {
    weft_test_checks++;
    if (!strstr(captured, msg)) {
        weft_test_failures++;
        fprintf(stderr, "%s:%d: no warning \"%s\" in:\n%s\n", __FILE__, line, msg, captured);
    }
}
#define WARNED(msg) warned(msg, __LINE__)

#define V2 "spin_manifest_version = 2\n[application]\nname = \"a\"\n"
#define TRIGGER "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n"

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0)
        abort();
    *slash = '/';
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *dir, const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return access(path, F_OK) == 0;
}

static void files_staged(void) {
    char dir[] = "/tmp/weft-spin-files-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "static/index.html", "<h1>hi</h1>");
    write_file(dir, "static/css/site.css", "body{}");
    write_file(dir, "static/.hidden", "h");
    write_file(dir, "static/secret/key.pem", "KEY");
    write_file(dir, "static/secret/deep/key2.pem", "KEY");
    write_file(dir, "static/old.bak", "old");
    write_file(dir, "top.txt", "top");
    write_file(dir, "docs/a.md", "a");
    write_file(dir, "docs/sub/b.md", "b");
    write_file(dir, "assets/logo.png", "png");
    write_file(dir, "assets/x.bak", "bak");
    write_file(dir, "one.txt", "one");
    write_file(dir, "other/skip.txt", "not named");
    write_file(dir, ".weft/spin-files/web/stale.txt", "from the last run");
    write_file(dir, "spin.toml",
               "spin_manifest_version = 2\n"
               "[application]\nname = \"files\"\n"
               "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n"
               "[[trigger.http]]\nroute = \"/v\"\ncomponent = \"vol\"\n"
               "[[trigger.http]]\nroute = \"/all\"\ncomponent = \"all\"\n"
               "[component.web]\nsource = \"web.wasm\"\n"
               "files = [\"static/**/*\", \"top.txt\", \"docs\", \"nomatch/*.txt\",\n"
               "         { source = \"assets\", destination = \"/assets\" },\n"
               "         { source = \"one.txt\", destination = \"/etc/one.txt\" }]\n"
               "exclude_files = [\"static/secret/*\", \"*.bak\"]\n"
               "[component.vol]\nsource = \"vol.wasm\"\n"
               "files = [{ source = \"assets\", destination = \"/data\" }]\n"
               "[component.all]\nsource = \"all.wasm\"\nfiles = [\".\"]\n");
    char loop[300];
    snprintf(loop, sizeof loop, "%s/loop", dir);
    CHECK_EQ_INT(symlink(dir, loop), 0);
    char manifest[300], staged[300];
    snprintf(manifest, sizeof manifest, "%s/spin.toml", dir);
    snprintf(staged, sizeof staged, "%s/.weft/spin-files/web", dir);
    weft_app_t *app = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_app_load(manifest, NULL, &app, &err), 0);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const weft_app_function_t *f = &app->functions[0];
    CHECK_EQ_INT(f->nvolumes, 1);
    if (f->nvolumes == 1) {
        CHECK_EQ_STR(f->volumes[0].guest, "/");
        CHECK_EQ_STR(f->volumes[0].host, staged);
        CHECK(f->volumes[0].readonly);
    }
    /* globs (with "**" and dot files), a file, a folder, placements; exclude_files, whose
     * '*' crosses '/' as in Spin ("*.bak" excludes static/old.bak) */
    static const char *const present[] = {
        "static/index.html", "static/css/site.css", "static/.hidden",  "top.txt",
        "docs/a.md",         "docs/sub/b.md",       "assets/logo.png", "etc/one.txt"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) {
        CHECK(exists(staged, present[i]));
        if (!exists(staged, present[i]))
            fprintf(stderr, "  missing: %s\n", present[i]);
    }
    static const char *const absent[] = {"static/secret/key.pem",
                                         "static/secret/deep/key2.pem",
                                         "static/old.bak",
                                         "assets/x.bak",
                                         "other/skip.txt",
                                         "stale.txt",
                                         "one.txt"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        CHECK(!exists(staged, absent[i]));
        if (exists(staged, absent[i]))
            fprintf(stderr, "  should not be there: %s\n", absent[i]);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/etc/one.txt", staged);
    uint8_t *text = NULL;
    size_t len = 0;
    CHECK_EQ_INT(weft_file_read(path, &text, &len, &err), 0);
    CHECK(len == 3 && text && !memcmp(text, "one", 3));
    free(text);
    /* A folder placed without exclude_files is mounted as it is. */
    f = &app->functions[1];
    CHECK_EQ_INT(f->nvolumes, 1);
    if (f->nvolumes == 1) {
        char assets[300];
        snprintf(assets, sizeof assets, "%s/assets", dir);
        CHECK_EQ_STR(f->volumes[0].guest, "/data");
        CHECK_EQ_STR(f->volumes[0].host, assets);
        CHECK(f->volumes[0].readonly);
    }
    CHECK(!exists(dir, ".weft/spin-files/vol")); /* nothing staged, nothing made */
    /* The whole folder: never the state folder, nor a folder behind a symbolic link */
    CHECK(exists(dir, ".weft/spin-files/all/docs/sub/b.md"));
    CHECK(exists(dir, ".weft/spin-files/all/spin.toml"));
    CHECK(!exists(dir, ".weft/spin-files/all/.weft"));
    CHECK(!exists(dir, ".weft/spin-files/all/loop"));
    /* Staged beside, then exchanged: nothing else is left in spin-files */
    char listing[512];
    snprintf(listing, sizeof listing, "ls -A '%s/.weft/spin-files' | tr '\\n' ' '", dir);
    FILE *ls = popen(listing, "r");
    char names[256] = "";
    CHECK(ls && fgets(names, sizeof names, ls) != NULL);
    if (ls)
        pclose(ls);
    CHECK_EQ_STR(names, "all web ");
    weft_app_free(app);

    /* A path that does not exist and is no glob is refused, as Spin does. */
    write_file(dir, "spin.toml",
               "spin_manifest_version = 2\n[application]\nname = \"files\"\n"
               "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n"
               "[component.web]\nsource = \"web.wasm\"\nfiles = [\"nothere.txt\"]\n");
    CHECK_EQ_INT(weft_app_load(manifest, NULL, &app, &err), WEFT_ENOTFOUND);
    snprintf(path, sizeof path,
             "%s:9: component 'web': files: 'nothere.txt' does not exist and is not a glob "
             "pattern",
             manifest);
    CHECK_EQ_STR(err.msg, path);
    write_file(dir, "spin.toml",
               "spin_manifest_version = 2\n[application]\nname = \"files\"\n"
               "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n"
               "[component.web]\nsource = \"web.wasm\"\n"
               "files = [{ source = \"gone\", destination = \"/g\" }]\n");
    CHECK_EQ_INT(weft_app_load(manifest, NULL, &app, &err), WEFT_ENOTFOUND);
    snprintf(path, sizeof path, "%s:9: component 'web': files: source 'gone' does not exist",
             manifest);
    CHECK_EQ_STR(err.msg, path);

    /* Another name: the top level decides; ./spin.toml is the last default. */
    write_file(dir, "app.toml",
               "spin_manifest_version = 2\n[application]\nname = \"x\"\n"
               "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n");
    snprintf(path, sizeof path, "%s/app.toml", dir);
    CHECK_EQ_INT(weft_app_load(path, NULL, &app, &err), 0);
    if (app) {
        CHECK_EQ_INT(app->format, WEFT_APP_SPIN);
        weft_app_free(app);
    }
    write_file(dir, "v1.toml",
               "spin_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n"
               "[[component]]\nid = \"c\"\nsource = \"c.wasm\"\n"
               "[component.trigger]\nroute = \"/\"\n");
    snprintf(path, sizeof path, "%s/v1.toml", dir);
    CHECK_EQ_INT(weft_app_load(path, NULL, &app, &err), 0);
    if (app) {
        CHECK_EQ_INT(app->format, WEFT_APP_SPIN);
        weft_app_free(app);
    }
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_EQ_INT(chdir(dir), 0);
    CHECK_EQ_STR(weft_app_find_default(), "spin.toml");
    write_file(dir, "modules.toml", "");
    CHECK_EQ_STR(weft_app_find_default(), "modules.toml");
    CHECK_EQ_INT(chdir(cwd), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void) {
    weft_error_t err;
    setenv("SPIN_VARIABLE_API_KEY", "s3cret", 1);
    unsetenv("SPIN_VARIABLE_GREETING");
    unsetenv("SPIN_CONFIG_GREETING");

    /* ---- v2, every key ---------------------------------------------------------------- */
    weft_app_t *app =
        parse("spin_manifest_version = 2\n"                                                 /* 1 */
              "\n"                                                                          /* 2 */
              "[application]\n"                                                             /* 3 */
              "name = \"shop\"\n"                                                           /* 4 */
              "version = \"1.2.0\"\n"                                                       /* 5 */
              "description = \"A shop\"\n"                                                  /* 6 */
              "authors = [\"A <a@example.com>\"]\n"                                         /* 7 */
              "[application.trigger.http]\n"                                                /* 8 */
              "base = \"/base\"\n"                                                          /* 9 */
              "\n"                                                                          /* 10 */
              "[variables]\n"                                                               /* 11 */
              "greeting = { default = \"hello\" }\n"                                        /* 12 */
              "api_key = { required = true, secret = true }\n"                              /* 13 */
              "\n"                                                                          /* 14 */
              "[[trigger.http]]\n"                                                          /* 15 */
              "route = \"/hello\"\n"                                                        /* 16 */
              "component = \"hello\"\n"                                                     /* 17 */
              "\n"                                                                          /* 18 */
              "[[trigger.http]]\n"                                                          /* 19 */
              "id = \"cgi\"\n"                                                              /* 20 */
              "route = \"/cgi/...\"\n"                                                      /* 21 */
              "component = \"legacy\"\n"                                                    /* 22 */
              "executor = { type = \"wagi\", argv = \"${SCRIPT_NAME} -v ${ARGS}\", "        /* */
              "entrypoint = \"main\" }\n"                                                   /* 23 */
              "\n"                                                                          /* 24 */
              "[[trigger.http]]\n"                                                          /* 25 */
              "route = \"/users/:id/...\"\n"                                                /* 26 */
              "component = { source = \"inline.wasm\", environment = { MODE = \"i\" } }\n"  /* 27 */
              "\n"                                                                          /* 28 */
              "[[trigger.http]]\n"                                                          /* 29 */
              "id = \"health\"\n"                                                           /* 30 */
              "route = \"/health/\"\n"                                                      /* 31 */
              "static_response = { status_code = 204, headers = { x-a = \"1\", "            /* */
              "cache-control = \"no-store\" }, body = \"ok\" }\n"                           /* 32 */
              "\n"                                                                          /* 33 */
              "[[trigger.http]]\n"                                                          /* 34 */
              "route = \"/files/*\"\n"                                                      /* 35 */
              "component = \"legacy\"\n"                                                    /* 36 */
              "executor = { type = \"wagi\", argv = \"${SCRIPT_NAME} -v ${ARGS}\", "        /* */
              "entrypoint = \"main\" }\n"                                                   /* 37 */
              "\n"                                                                          /* 38 */
              "[component.hello]\n"                                                         /* 39 */
              "source = \"target/hello.wasm\"\n"                                            /* 40 */
              "description = \"Says hello\"\n"                                              /* 41 */
              "variables = { message = \"{{ greeting }}, {{api_key}}!\", plain = \"x\" }\n" /* 42 */
              "environment = { A = \"1\" }\n"                                               /* 43 */
              "files = [\"static/**/*\", { source = \"assets\", destination = \"/assets\" }]\n"
              "exclude_files = [\"static/secret/*\"]\n"                      /* 45 */
              "allowed_outbound_hosts = [\"https://api.example.com:443\"]\n" /* 46 */
              "allowed_http_hosts = [\"example.org\"]\n"                     /* 47 */
              "key_value_stores = [\"default\", \"cache\"]\n"                /* 48 */
              "[component.hello.build]\n"                                    /* 49 */
              "command = [\"cargo build\", \"wasm-opt -O x.wasm\"]\n"        /* 50 */
              "workdir = \"hello\"\n"                                        /* 51 */
              "watch = [\"src/**/*.rs\"]\n"                                  /* 52 */
              "\n"                                                           /* 53 */
              "[component.legacy]\n"                                         /* 54 */
              "source = \"legacy.wasm\"\n"                                   /* 55 */
              "\n"                                                           /* 56 */
              "[component.unused]\n"                                         /* 57 */
              "source = \"unused.wasm\"\n"                                   /* 58 */
              "sqlite_databases = [\"default\"]\n"                           /* 59 */
              "ai_models = [\"llama2-chat\"]\n"                              /* 60 */
              "dependencies = { \"a:b\" = \"1.0\" }\n"                       /* 61 */
              "[component.unused.tool.lint]\n"                               /* 62 */
              "level = 1\n",                                                 /* 63 */
              &err);
    CHECK(app != NULL);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return TEST_DONE();
    }
    CHECK_EQ_INT(app->format, WEFT_APP_SPIN);
    CHECK_EQ_STR(app->name, "shop");
    CHECK_EQ_STR(app->state_dir, "/srv/app/.weft");
    CHECK_EQ_INT(app->nfunctions, 4);
    const weft_app_function_t *f = &app->functions[0];
    CHECK_EQ_STR(f->name, "hello");
    CHECK(f->spin);
    CHECK_EQ_INT(f->executor, WEFT_APP_EXECUTOR_SPIN);
    CHECK_EQ_STR(f->source, "target/hello.wasm");
    CHECK_EQ_STR(f->wasm, "/srv/app/target/hello.wasm");
    CHECK_EQ_STR(f->entrypoint, "_start");
    CHECK(f->argv == NULL);
    CHECK_EQ_INT(f->timeout_ns, WEFT_APP_DEFAULT_TIMEOUT_NS);
    CHECK_EQ_INT(f->max_memory, 0);
    CHECK_EQ_INT(f->line, 39);
    CHECK_EQ_INT(f->nconfig, 2);
    if (f->nconfig == 2) {
        CHECK_EQ_STR(f->config[0].name, "message");
        CHECK_EQ_STR(f->config[0].value, "hello, s3cret!");
        CHECK(f->config[0].secret);
        CHECK_EQ_STR(f->config[1].name, "plain");
        CHECK_EQ_STR(f->config[1].value, "x");
        CHECK(!f->config[1].secret);
    }
    CHECK_EQ_INT(f->nenv, 1);
    CHECK_EQ_STR(f->env[0], "A=1");
    CHECK_EQ_INT(f->nfiles, 2);
    if (f->nfiles == 2) {
        CHECK_EQ_STR(f->files[0].source, "static/**/*");
        CHECK(f->files[0].destination == NULL);
        CHECK_EQ_STR(f->files[1].source, "assets");
        CHECK_EQ_STR(f->files[1].destination, "/assets");
    }
    CHECK_EQ_INT(f->nexclude_files, 1);
    CHECK_EQ_STR(f->exclude_files[0], "static/secret/*");
    CHECK_EQ_INT(f->nvolumes, 0); /* weft_app_load mounts the files, not parse */
    CHECK_EQ_INT(f->nallowed, 2);
    if (f->nallowed == 2) {
        CHECK_EQ_STR(f->allowed_hosts[0], "https://api.example.com:443");
        CHECK_EQ_STR(f->allowed_hosts[1], "example.org");
    }
    CHECK_EQ_INT(f->grants.nkv, 2);
    if (f->grants.nkv == 2) {
        CHECK_EQ_STR(f->grants.kv[0], "default");
        CHECK_EQ_STR(f->grants.kv[1], "cache");
    }
    CHECK_EQ_STR(f->build.command, "cargo build && wasm-opt -O x.wasm");
    CHECK_EQ_STR(f->build.workdir, "/srv/app/hello");
    CHECK_EQ_INT(f->build.nwatch, 1);
    CHECK_EQ_STR(f->build.watch[0], "src/**/*.rs");
    f = &app->functions[1];
    CHECK_EQ_STR(f->name, "legacy");
    CHECK_EQ_INT(f->executor, WEFT_APP_EXECUTOR_CGI);
    CHECK(f->spin);
    CHECK_EQ_STR(f->argv, "${SCRIPT_NAME} -v ${ARGS}");
    CHECK_EQ_STR(f->entrypoint, "main");
    CHECK(f->build.command == NULL);
    f = &app->functions[2];
    CHECK_EQ_STR(f->name, "unused");
    /* The inline component, named after its trigger's generated id (normalize.rs). */
    f = &app->functions[3];
    CHECK_EQ_STR(f->name, "http-trigger1-component");
    CHECK_EQ_STR(f->wasm, "/srv/app/inline.wasm");
    CHECK_EQ_STR(f->env[0], "MODE=i");
    CHECK_EQ_INT(app->nroutes, 5);
    if (app->nroutes == 5) {
        const weft_app_route_t *r = &app->routes[0];
        CHECK_EQ_STR(r->path, "/base/hello");
        CHECK_EQ_STR(r->raw, "/hello");
        CHECK_EQ_STR(r->base, "/base");
        CHECK_EQ_INT(r->function, 0);
        CHECK(r->static_response == NULL);
        CHECK_EQ_INT(r->line, 16);
        r = &app->routes[1];
        CHECK_EQ_STR(r->path, "/base/cgi/...");
        CHECK_EQ_INT(r->function, 1);
        r = &app->routes[2];
        CHECK_EQ_STR(r->path, "/base/users/:id/...");
        CHECK_EQ_STR(r->raw, "/users/:id/...");
        CHECK_EQ_INT(r->function, 3);
        r = &app->routes[3];
        CHECK_EQ_STR(r->path, "/base/health"); /* one trailing '/' dropped, as Spin does */
        CHECK_EQ_STR(r->raw, "/health/");
        CHECK_EQ_INT(r->function, SIZE_MAX);
        CHECK(r->static_response != NULL);
        if (r->static_response) {
            const weft_app_static_t *st = r->static_response;
            CHECK_EQ_INT(st->status, 204);
            CHECK_EQ_INT(st->nheaders, 2);
            CHECK_EQ_STR(st->header_names[0], "x-a");
            CHECK_EQ_STR(st->header_values[0], "1");
            CHECK_EQ_STR(st->header_names[1], "cache-control");
            CHECK_EQ_STR(st->header_values[1], "no-store");
            CHECK_EQ_STR(st->body, "ok");
            CHECK_EQ_INT(st->body_len, 2);
        }
        r = &app->routes[4];
        CHECK_EQ_STR(r->path, "/base/files/..."); /* routefinder's "*" is Spin's "..." */
        CHECK_EQ_STR(r->raw, "/files/*");
        CHECK_EQ_INT(r->function, 1);
    }
    weft_app_free(app);
    WARNED("spin.toml:59: warning: 'sqlite_databases' in [component.unused] is not supported "
           "by weft yet: ignored");
    WARNED("spin.toml:60: warning: 'ai_models' in [component.unused] is not supported by weft "
           "yet: ignored");
    WARNED("spin.toml:61: warning: 'dependencies' in [component.unused] is not supported by "
           "weft yet: ignored");
    WARNED("spin.toml:57: warning: component 'unused' is not used by any trigger");
    WARNED("spin.toml:47: warning: 'allowed_http_hosts' in [component.hello] is deprecated in "
           "Spin 2");
    CHECK(!strstr(captured, "'tool'")); /* Spin ignores tool tables: so does weft */

    /* A variable from the environment; the legacy spelling too */
    setenv("SPIN_VARIABLE_GREETING", "hey", 1);
    app = parse(V2 "[variables]\ngreeting = { default = \"hello\" }\n" TRIGGER
                   "[component.c]\nsource = \"c.wasm\"\nvariables = { g = \"<{{ greeting }}>\" }\n",
                &err);
    CHECK(app && app->functions[0].nconfig == 1);
    if (app) {
        CHECK_EQ_STR(app->functions[0].config[0].value, "<hey>");
        CHECK(!app->functions[0].config[0].secret);
        CHECK_EQ_STR(app->routes[0].path, "/");
        CHECK_EQ_STR(app->routes[0].base, "/");
        weft_app_free(app);
    }
    unsetenv("SPIN_VARIABLE_GREETING");
    setenv("SPIN_CONFIG_GREETING", "old", 1);
    app = parse(V2 "[variables]\ngreeting = { default = \"hello\" }\n" TRIGGER
                   "[component.c]\nsource = \"c.wasm\"\nvariables = { g = \"{{ greeting }}\" }\n",
                &err);
    if (app) {
        CHECK_EQ_STR(app->functions[0].config[0].value, "old");
        weft_app_free(app);
    }
    WARNED("taken from SPIN_CONFIG_GREETING, the deprecated spelling of SPIN_VARIABLE_GREETING");
    unsetenv("SPIN_CONFIG_GREETING");
    app = parse(V2 "[variables]\ngreeting = { default = \"hello\" }\n" TRIGGER
                   "[component.c]\nsource = \"c.wasm\"\nvariables = { g = \"{{ greeting }}\" }\n",
                &err);
    if (app) {
        CHECK_EQ_STR(app->functions[0].config[0].value, "hello");
        weft_app_free(app);
    }

    /* Duplicate routes: the last wins, with a warning, as Spin's router does */
    app = parse(V2 "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"a\"\n"
                   "[[trigger.http]]\nroute = \"/x/\"\ncomponent = \"b\"\n"
                   "[component.a]\nsource = \"a.wasm\"\n[component.b]\nsource = \"b.wasm\"\n",
                &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->nroutes, 1);
        CHECK_EQ_INT(app->routes[0].function, 1);
        CHECK_EQ_STR(app->routes[0].raw, "/x/");
        weft_app_free(app);
    }
    WARNED("spin.toml:8: warning: route '/x' of component 'b' replaces the one on line 5, as "
           "Spin does: the last wins");

    /* A private endpoint: no route, a warning; a static-only app */
    app = parse(V2 "[[trigger.http]]\nroute = { private = true }\ncomponent = \"c\"\n"
                   "[[trigger.http]]\nroute = \"/...\"\nstatic_response = { body = \"x\" }\n"
                   "[component.c]\nsource = \"c.wasm\"\n",
                &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->nroutes, 1);
        CHECK_EQ_INT(app->routes[0].static_response->status, 200);
        CHECK_EQ_INT(app->routes[0].function, SIZE_MAX);
        weft_app_free(app);
    }
    WARNED("spin.toml:5: warning: route = { private = true } in [[trigger.http]] "
           "'c-http-trigger'");

    /* ---- v1, every key ---------------------------------------------------------------- */
    app = parse("spin_manifest_version = \"1\"\n"                  /* 1 */
                "name = \"old\"\n"                                 /* 2 */
                "version = \"0.1.0\"\n"                            /* 3 */
                "description = \"v1 app\"\n"                       /* 4 */
                "authors = [\"B\"]\n"                              /* 5 */
                "trigger = { type = \"http\", base = \"/v1/\" }\n" /* 6 */
                "[variables]\n"                                    /* 7 */
                "who = { default = \"world\" }\n"                  /* 8 */
                "[[component]]\n"                                  /* 9 */
                "id = \"Hello_World\"\n"                           /* 10 */
                "source = \"hello.wasm\"\n"                        /* 11 */
                "description = \"d\"\n"                            /* 12 */
                "environment = { B = \"2\" }\n"                    /* 13 */
                "files = [\"a.txt\"]\n"                            /* 14 */
                "exclude_files = [\"*.bak\"]\n"                    /* 15 */
                "allowed_http_hosts = [\"insecure:allow-all\"]\n"  /* 16 */
                "allowed_outbound_hosts = [\"redis://r:6379\"]\n"  /* 17 */
                "key_value_stores = [\"default\"]\n"               /* 18 */
                "sqlite_databases = [\"default\"]\n"               /* 19 */
                "config = { greeting = \"hi {{ who }}\" }\n"       /* 20 */
                "[component.trigger]\n"                            /* 21 */
                "route = \"/...\"\n"                               /* 22 */
                "[component.build]\n"                              /* 23 */
                "command = \"make\"\n"                             /* 24 */
                "[[component]]\n"                                  /* 25 */
                "id = \"wagi\"\n"                                  /* 26 */
                "source = \"w.wasm\"\n"                            /* 27 */
                "[component.trigger]\n"                            /* 28 */
                "route = \"w\"\n"                                  /* 29 */
                "executor = { type = \"wagi\" }\n",                /* 30 */
                &err);
    CHECK(app != NULL);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return TEST_DONE();
    }
    CHECK_EQ_STR(app->name, "old");
    CHECK_EQ_INT(app->nfunctions, 2);
    f = &app->functions[0];
    CHECK_EQ_STR(f->name, "hello-world"); /* made a v2 name, as Spin's compat.rs does */
    CHECK_EQ_STR(f->wasm, "/srv/app/hello.wasm");
    CHECK_EQ_INT(f->executor, WEFT_APP_EXECUTOR_SPIN);
    CHECK_EQ_STR(f->env[0], "B=2");
    CHECK_EQ_STR(f->files[0].source, "a.txt");
    CHECK_EQ_STR(f->exclude_files[0], "*.bak");
    CHECK_EQ_INT(f->nallowed, 2);
    if (f->nallowed == 2) {
        CHECK_EQ_STR(f->allowed_hosts[0], "redis://r:6379");
        CHECK_EQ_STR(f->allowed_hosts[1], "insecure:allow-all");
    }
    CHECK_EQ_STR(f->grants.kv[0], "default");
    CHECK_EQ_INT(f->nconfig, 1);
    CHECK_EQ_STR(f->config[0].name, "greeting");
    CHECK_EQ_STR(f->config[0].value, "hi world");
    CHECK_EQ_STR(f->build.command, "make");
    CHECK_EQ_STR(f->build.workdir, "/srv/app");
    f = &app->functions[1];
    CHECK_EQ_INT(f->executor, WEFT_APP_EXECUTOR_CGI);
    CHECK(f->argv == NULL); /* Spin's WAGI default, which is weft's */
    CHECK_EQ_STR(f->entrypoint, "_start");
    CHECK_EQ_INT(app->nroutes, 2);
    if (app->nroutes == 2) {
        CHECK_EQ_STR(app->routes[0].path, "/v1/...");
        CHECK_EQ_STR(app->routes[0].raw, "/...");
        CHECK_EQ_STR(app->routes[0].base, "/v1/");
        CHECK_EQ_STR(app->routes[1].path, "/v1/w"); /* a missing '/' added, as Spin does */
        CHECK_EQ_INT(app->routes[1].function, 1);
    }
    weft_app_free(app);
    WARNED("spin.toml:19: warning: 'sqlite_databases' in [[component]] 'Hello_World' is not "
           "supported by weft yet: ignored");
    app = parse("spin_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n", &err);
    CHECK(app == NULL);

    /* ---- Redis triggers ------------------------------------------------------------------ */
    app = parse(V2 "[application.trigger.redis]\n"                      /* 4 */
                   "address = \"redis://:{{ pass }}@localhost:6379\"\n" /* 5 */
                   "[variables]\n"                                      /* 6 */
                   "pass = { default = \"pw\", secret = true }\n"       /* 7 */
                   "chan = { default = \"orders\" }\n"                  /* 8 */
                   "[[trigger.redis]]\n"                                /* 9 */
                   "channel = \"{{ chan }}\"\n"                         /* 10 */
                   "component = \"c\"\n"                                /* 11 */
                   "[[trigger.redis]]\n"                                /* 12 */
                   "id = \"other\"\n"                                   /* 13 */
                   "address = \"redis+unix:///run/redis.sock\"\n"       /* 14 */
                   "channel = \"b\"\n"                                  /* 15 */
                   "component = { source = \"i.wasm\" }\n"              /* 16 */
                   "[[trigger.http]]\n"                                 /* 17 */
                   "route = \"/\"\n"                                    /* 18 */
                   "component = \"h\"\n"                                /* 19 */
                   "[component.c]\n"                                    /* 20 */
                   "source = \"c.wasm\"\n"                              /* 21 */
                   "[component.h]\n"                                    /* 22 */
                   "source = \"h.wasm\"\n",                             /* 23 */
                &err);
    CHECK(app != NULL);
    if (!app)
        fprintf(stderr, "redis v2: %s\n", err.msg);
    if (app) {
        CHECK(app->nredis_triggers == 2);
        CHECK_EQ_STR(app->redis_triggers[0].address, "redis://:pw@localhost:6379");
        CHECK_EQ_STR(app->redis_triggers[0].channel, "orders");
        CHECK_EQ_STR(app->functions[app->redis_triggers[0].function].name, "c");
        CHECK(app->redis_triggers[0].line == 9);
        CHECK_EQ_STR(app->redis_triggers[1].address, "redis+unix:///run/redis.sock");
        CHECK_EQ_STR(app->functions[app->redis_triggers[1].function].name, "other-component");
        /* Only Redis triggers use c: no HTTP handler is asked of it; h stays Spin's. */
        CHECK(app->functions[app->redis_triggers[0].function].executor ==
              WEFT_APP_EXECUTOR_MESSAGES);
        CHECK(app->functions[app->routes[0].function].executor == WEFT_APP_EXECUTOR_SPIN);
        CHECK(strstr(captured, "not used by any trigger") == NULL);
        weft_app_free(app);
    }
    app = parse("spin_manifest_version = \"1\"\nname = \"x\"\n"
                "trigger = { type = \"redis\", address = \"redis://localhost\" }\n"
                "[[component]]\nid = \"on_msg\"\nsource = \"c.wasm\"\n"
                "[component.trigger]\nchannel = \"messages\"\n",
                &err);
    CHECK(app != NULL);
    if (!app)
        fprintf(stderr, "redis v1: %s\n", err.msg);
    if (app) {
        CHECK(app->nredis_triggers == 1 && app->nroutes == 0);
        CHECK_EQ_STR(app->redis_triggers[0].address, "redis://localhost");
        CHECK_EQ_STR(app->redis_triggers[0].channel, "messages");
        CHECK_EQ_STR(app->functions[0].name, "on-msg");
        weft_app_free(app);
    }

    /* ---- refusals ---------------------------------------------------------------------- */
    REFUSED(V2 TRIGGER "[component.c]\nsource = { url = \"https://x.test/c.wasm\", digest = "
                       "\"sha256:00\" }\n",
            "spin.toml:8: 'source' in [component.c] is a URL https://x.test/c.wasm: weft reads "
            "no network at start; download the module and name its path");
    REFUSED(V2 TRIGGER "[component.c]\nsource = { package = \"a:b\", version = \"1.0.0\" }\n",
            "spin.toml:8: 'source' in [component.c] is a registry package: weft reads no "
            "network at start; download the module and name its path");
    REFUSED(V2 "[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:4: [[trigger.redis]] (line 4) has no 'address' and there is no default "
            "one ([application.trigger.redis] address)");
    REFUSED("spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"redis\" }\n",
            "spin.toml:3: trigger = { type = \"redis\" } needs an 'address'");
    REFUSED(V2 "[application.trigger.redis]\naddress = \"x\"\n"
               "[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:6: [[trigger.redis]] (line 6): address 'x' is not a Redis location "
            "(redis://HOST[:PORT][/DB] or redis+unix:///PATH)");
    REFUSED(V2 "[application.trigger.redis]\naddress = \"redis://h\"\nport = 1\n",
            "spin.toml:6: unknown key 'port' in [application.trigger.redis]");
    REFUSED(V2 "[application.trigger.redis]\naddress = \"redis://h\"\n"
               "[[trigger.redis]]\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:6: [[trigger.redis]] (line 6) needs a 'channel'");
    REFUSED(V2 "[[trigger.kafka]]\ntopic = \"x\"\n",
            "spin.toml:4: [[trigger.kafka]]: trigger type 'kafka' is not supported: weft has the "
            "HTTP and Redis triggers ([[trigger.http]], [[trigger.redis]])");
    REFUSED("spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"redis\", "
            "address = \"redis://h\" }\n[[component]]\nid = \"c\"\nsource = \"c.wasm\"\n"
            "[component.trigger]\nroute = \"/\"\n",
            "spin.toml:8: unknown key 'route' in [[component]] 'c' trigger");
    REFUSED(V2 "[variables]\ntoken = { required = true }\n" TRIGGER
               "[component.c]\nsource = \"c.wasm\"\nvariables = { t = \"{{ token }}\" }\n",
            "spin.toml:11: variable 'token' (line 5) is required and has no value: set "
            "SPIN_VARIABLE_TOKEN in the environment");
    REFUSED(V2 "[variables]\ntoken = { required = true }\n" TRIGGER
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:5: variable 'token' (line 5) is required and has no value: set "
            "SPIN_VARIABLE_TOKEN in the environment"); /* used or not, as Spin checks */
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nvariables = { t = \"{{ nope }}\" }\n",
            "spin.toml:9: 'variables.t' in [component.c]: '{{ nope }}' names no variable of "
            "[variables]");
    REFUSED(V2 "[variables]\nv = { default = \"x\" }\n" TRIGGER
               "[component.c]\nsource = \"c.wasm\"\nvariables = { t = \"a {{ v \" }\n",
            "spin.toml:11: 'variables.t' in [component.c]: unmatched '{{' in 'a {{ v '");
    REFUSED(V2 "[variables]\nv = { default = \"x\", required = true }\n" TRIGGER,
            "spin.toml:5: variable 'v' must be required = true or have a default, not both");
    REFUSED(V2 "[variables]\nv = { secret = true }\n" TRIGGER,
            "spin.toml:5: variable 'v' must be required = true or have a default, not neither");
    REFUSED(V2 "[variables]\nBad = { default = \"x\" }\n" TRIGGER,
            "spin.toml:5: variable name 'Bad' is not valid: lower-case letters, digits and "
            "single '_', starting with a letter (as Spin's)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nvariables = { a__b = \"x\" }\n",
            "spin.toml:9: 'variables' in [component.c]: name 'a__b' is not valid: lower-case "
            "letters, digits and single '_', starting with a letter (as Spin's)");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:5: route '/a/.../b': '...' may only end a route, as in '/prefix/...'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/a/:/b\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:5: route '/a/:/b': a ':name' segment needs a name");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/a b\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:5: route '/a b' must not contain spaces, '?' or '#'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/a*\"\ncomponent = \"c\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:5: route '/a*': '...' and '*' must be a whole segment, as in "
            "'/prefix/...'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/a\"\n",
            "spin.toml:4: [[trigger.http]] 'http-trigger1' needs a 'component' or a "
            "'static_response'");
    REFUSED(V2 "[[trigger.http]]\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:4: [[trigger.http]] 'c-http-trigger' needs a 'route'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"d\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:6: [[trigger.http]] 'd-http-trigger': no [component.d] is declared");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nstatic_response = {}\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:7: [[trigger.http]] 'c-http-trigger' has both a 'component' and a "
            "'static_response'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\nstatic_response = { status_code = 700 }\n",
            "spin.toml:6: 'status_code' in [[trigger.http]] 'http-trigger1' static_response: 700 "
            "is not an HTTP status");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nrout = \"/x\"\n"
               "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:7: unknown key 'rout' in [[trigger.http]] (line 4)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nenviroment = { A = \"1\" }\n",
            "spin.toml:9: unknown key 'enviroment' in [component.c]");
    REFUSED(V2 "nmae = \"x\"\n" TRIGGER, "spin.toml:4: unknown key 'nmae' in [application]");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n"
               "executor = { type = \"wasi\" }\n[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:7: executor type 'wasi' in [[trigger.http]] 'c-http-trigger' (wasi-http) "
            "is not supported: weft runs Spin's and WAGI's executors (\"spin\", \"wagi\")");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n"
               "executor = { type = \"spin\", argv = \"x\" }\n[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:7: unknown key 'argv' in [[trigger.http]] 'c-http-trigger' executor");
    REFUSED(V2
            "[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n"
            "[[trigger.http]]\nroute = \"/b\"\ncomponent = \"c\"\nexecutor = { type = \"wagi\" }\n"
            "[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml:10: component 'c' is used by two triggers with different executors: "
            "weft holds one executor per component");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nfiles = [\"../secret/*\"]\n",
            "spin.toml:9: [component.c] files: '../secret/*' is outside the manifest's folder "
            "(Spin maps only files within the application's folder)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nfiles = [{ source = \"/etc\", "
                       "destination = \"/etc\" }]\n",
            "spin.toml:9: [component.c] files: '/etc' is outside the manifest's folder (Spin "
            "maps only files within the application's folder)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nfiles = [{ source = \"a\" }]\n",
            "spin.toml:9: [component.c] files: a table needs both 'source' and 'destination'");
    REFUSED(V2 "[[trigger.http]]\nroute = \"/\"\ncomponent = \"My_C\"\n"
               "[component.My_C]\nsource = \"c.wasm\"\n",
            "spin.toml:7: component name 'My_C' is not valid: words of letters and digits "
            "joined by '-', each starting with a letter (as Spin's)");
    REFUSED(V2 TRIGGER "[component.c]\ndescription = \"no source\"\n",
            "spin.toml:7: [component.c] needs a 'source' (its .wasm)");
    REFUSED("spin_manifest_version = 3\n[application]\nname = \"a\"\n",
            "spin.toml:1: spin_manifest_version is not a Spin manifest version weft reads "
            "(\"1\" or 2)");
    REFUSED("[application]\nname = \"a\"\n",
            "spin.toml:1: no spin_manifest_version: a spin.toml starts with "
            "spin_manifest_version = 2 (or spin_manifest_version = \"1\")");
    REFUSED("spin_manifest_version = 2\n" TRIGGER,
            "spin.toml:1: no [application] table (Spin requires one, with a name)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nkey_value_stores = [\"a b\"]\n",
            "spin.toml:9: 'key_value_stores' in [component.c]: 'a b' may hold only letters, "
            "digits, '-', '_' and '.' (at most 128 of them)");
    REFUSED(V2 TRIGGER "[component.c]\nsource = \"c.wasm\"\nbuild = { workdir = \"x\" }\n",
            "spin.toml:9: 'build' in [component.c] needs a 'command'");
    REFUSED("spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n"
            "[[component]]\nid = \"c\"\nsource = \"c.wasm\"\n",
            "spin.toml:4: [[component]] 'c' needs a [component.trigger] with a 'route'");
    REFUSED("spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n"
            "[[component]]\nid = \"c\"\nsource = \"c.wasm\"\n[component.trigger]\nroute = "
            "\"/\"\nchannel = \"x\"\n",
            "spin.toml:9: unknown key 'channel' in [[component]] 'c' trigger");

    files_staged();
    return TEST_DONE();
}
