/* The manifest layer (app/app.c): weft.toml and WAGI's modules.toml into the app
 * model, and every mistake reported as FILE:LINE: with the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "test.h"

static weft_app_t *parse(const char *text, weft_app_format_t format, weft_error_t *err) {
    weft_app_t *app = NULL;
    memset(err, 0, sizeof *err);
    if (weft_app_parse(text, strlen(text), "weft.toml", "/srv/app", format, &app, err))
        return NULL;
    return app;
}

/* The manifest must be refused with exactly this message. */
static void refused(const char *text, weft_app_format_t format, const char *msg, int line) {
    weft_error_t err;
    weft_app_t *app = parse(text, format, &err);
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
#define REFUSED(text, msg) refused(text, WEFT_APP_WEFT, msg, __LINE__)
#define REFUSED_WAGI(text, msg) refused(text, WEFT_APP_WAGI, msg, __LINE__)

int main(void) {
    weft_error_t err;

    /* ---- a full weft.toml --------------------------------------------------------- */
    weft_app_t *app = parse("[app]\n"
                            "name = \"shop\"\n"
                            "\n"
                            "[server]\n"
                            "listen = \"0.0.0.0:8080\"\n"
                            "max_body = \"1MiB\"\n"
                            "\n"
                            "[[function]]\n"
                            "name = \"cart\"\n"
                            "source = \"build/cart.wasm\"\n"
                            "route = \"/cart/...\"\n"
                            "entrypoint = \"handle\"\n"
                            "argv = \"${SCRIPT_NAME} ${ARGS}\"\n"
                            "timeout = \"2s\"\n"
                            "max_memory = \"64MiB\"\n"
                            "allowed_hosts = [\"https://api.example.com\"]\n"
                            "http_max_concurrency = 4\n"
                            "unknown_imports = \"trap\"\n"
                            "environment = { STAGE = \"test\", RETRIES = 3, DEBUG = true }\n"
                            "volumes = { \"/data\" = \"data\", \"/ro\" = { path = \"/etc/app\", "
                            "readonly = true } }\n"
                            "\n"
                            "[[function]]\n"
                            "name = \"static\"\n"
                            "source = \"file:///opt/static.wasm\"\n"
                            "timeout = 5\n"
                            "\n"
                            "[[route]]\n"
                            "path = \"/\"\n"
                            "function = \"static\"\n"
                            "\n"
                            "[[route]]\n"
                            "path = \"/cart/checkout\"\n"
                            "function = \"cart\"\n"
                            "entrypoint = \"checkout\"\n",
                            WEFT_APP_WEFT, &err);
    CHECK(app != NULL);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return TEST_DONE();
    }
    CHECK_EQ_STR(app->name, "shop");
    CHECK_EQ_STR(app->listen, "0.0.0.0:8080");
    CHECK_EQ_INT(app->max_body, 1 << 20);
    CHECK_EQ_INT(app->nfunctions, 2);
    const weft_app_function_t *f = &app->functions[0];
    CHECK_EQ_STR(f->name, "cart");
    CHECK_EQ_STR(f->source, "build/cart.wasm");
    CHECK_EQ_STR(f->wasm, "/srv/app/build/cart.wasm");
    CHECK_EQ_STR(f->entrypoint, "handle");
    CHECK_EQ_STR(f->argv, "${SCRIPT_NAME} ${ARGS}");
    CHECK_EQ_INT(f->timeout_ns, 2000000000ull);
    CHECK_EQ_INT(f->max_memory, 64ull << 20);
    CHECK_EQ_INT(f->nallowed, 1);
    CHECK_EQ_STR(f->allowed_hosts[0], "https://api.example.com");
    CHECK_EQ_INT(f->http_max_concurrency, 4);
    CHECK_EQ_INT(f->unknown_imports, WEFT_APP_UNKNOWN_IMPORTS_TRAP);
    CHECK_EQ_INT(f->nenv, 3);
    CHECK_EQ_STR(f->env[0], "STAGE=test");
    CHECK_EQ_STR(f->env[1], "RETRIES=3");
    CHECK_EQ_STR(f->env[2], "DEBUG=true");
    CHECK_EQ_INT(f->nvolumes, 2);
    CHECK_EQ_STR(f->volumes[0].guest, "/data");
    CHECK_EQ_STR(f->volumes[0].host, "/srv/app/data");
    CHECK(!f->volumes[0].readonly);
    CHECK_EQ_STR(f->volumes[1].host, "/etc/app");
    CHECK(f->volumes[1].readonly);
    f = &app->functions[1];
    CHECK_EQ_STR(f->wasm, "/opt/static.wasm");
    CHECK_EQ_STR(f->entrypoint, "_start");
    CHECK_EQ_INT(f->timeout_ns, 5000000000ull);
    CHECK_EQ_INT(f->max_memory, 0);
    CHECK_EQ_INT(f->nallowed, 0);
    CHECK_EQ_INT(f->unknown_imports, WEFT_APP_UNKNOWN_IMPORTS_REFUSE);
    CHECK_EQ_INT(app->nroutes, 3);
    CHECK_EQ_STR(app->routes[0].path, "/cart/...");
    CHECK_EQ_INT(app->routes[0].function, 0);
    CHECK(app->routes[0].entrypoint == NULL);
    CHECK_EQ_STR(app->routes[1].path, "/");
    CHECK_EQ_INT(app->routes[1].function, 1);
    CHECK_EQ_STR(app->routes[2].entrypoint, "checkout");
    CHECK_EQ_INT(app->routes[2].line, 31);
    weft_app_free(app);

    /* defaults */
    app = parse("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n", WEFT_APP_WEFT, &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->functions[0].timeout_ns, WEFT_APP_DEFAULT_TIMEOUT_NS);
        CHECK(app->listen == NULL);
        CHECK_EQ_INT(app->max_body, 0);
        CHECK_EQ_INT(app->nroutes, 0);
        weft_app_free(app);
    }

    /* [server]'s bounds of the HTTP server */
    app = parse("[server]\n"
                "max_header_bytes = \"32KiB\"\n"
                "header_timeout = \"500ms\"\n"
                "idle_timeout = 90\n"
                "max_connections = 500\n"
                "max_response = \"1MiB\"\n"
                "max_stderr_bytes = 4096\n"
                "max_stderr_lines = 10\n"
                "[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n",
                WEFT_APP_WEFT, &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->max_header_bytes, 32 << 10);
        CHECK_EQ_INT(app->header_timeout_ns, 500000000ull);
        CHECK_EQ_INT(app->idle_timeout_ns, 90000000000ull);
        CHECK_EQ_INT(app->max_connections, 500);
        CHECK_EQ_INT(app->max_response, 1 << 20);
        CHECK_EQ_INT(app->max_stderr_bytes, 4096);
        CHECK_EQ_INT(app->max_stderr_lines, 10);
        weft_app_free(app);
    }
    REFUSED("[server]\nheader_timeout = \"0s\"\n",
            "weft.toml:2: 'header_timeout' in [server] must be longer than zero");
    REFUSED("[server]\nmax_connections = 0\n",
            "weft.toml:2: 'max_connections' in [server] must be positive");
    REFUSED("[server]\nmax_stderr_lines = \"many\"\n",
            "weft.toml:2: 'max_stderr_lines' in [server] must be an integer, not a string");

    /* ---- weft.toml mistakes: file, line, key --------------------------------------- */
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\ntiemout = \"1s\"\n",
            "weft.toml:4: unknown key 'tiemout' in [[function]] 'f'");
    REFUSED("[server]\nlisten = \"x:1\"\nport = 3\n",
            "weft.toml:3: unknown key 'port' in [server]");
    REFUSED("brokers = []\n[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n",
            "weft.toml:1: unknown key 'brokers' in the top level");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n\n[[route]]\npath = \"/\"\n"
            "function = \"f\"\nentry = \"x\"\n",
            "weft.toml:8: unknown key 'entry' in [[route]] '/'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nvolumes = { \"/d\" = { path = "
            "\"d\", ro = true } }\n",
            "weft.toml:4: unknown key 'ro' in volume '/d'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\ntimeout = true\n",
            "weft.toml:4: 'timeout' in [[function]] 'f' must be a duration like \"30s\", not a "
            "boolean");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\ntimeout = \"soon\"\n",
            "weft.toml:4: 'timeout' in [[function]] 'f': 'soon' is not a duration (like \"30s\" "
            "or \"500ms\")");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nmax_memory = \"lots\"\n",
            "weft.toml:4: 'max_memory' in [[function]] 'f': 'lots' is not a size (like \"64MiB\")");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nunknown_imports = \"stub\"\n",
            "weft.toml:4: 'unknown_imports' in [[function]] 'f': 'stub' is not \"trap\", "
            "\"default\" or \"refuse\"");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nunknown_imports = true\n",
            "weft.toml:4: 'unknown_imports' in [[function]] 'f' must be a string, not a boolean");
    REFUSED("[[function]]\nname = \"f\"\nsource = 42\n",
            "weft.toml:3: 'source' in [[function]] 'f' must be a string, not an integer");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nallowed_hosts = \"*\"\n",
            "weft.toml:4: 'allowed_hosts' in [[function]] 'f' must be an array of strings, not "
            "a string");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nallowed_hosts = [\"a\", 1]\n",
            "weft.toml:4: 'allowed_hosts' in [[function]] 'f' must hold strings only, not an "
            "integer");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nhttp_max_concurrency = -1\n",
            "weft.toml:4: 'http_max_concurrency' in [[function]] 'f': -1 is out of range");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nenvironment = [\"A=1\"]\n",
            "weft.toml:4: 'environment' in [[function]] 'f' must be a table of NAME = \"value\", "
            "not an array");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n[function.environment]\nA = [1]\n",
            "weft.toml:5: environment variable 'A' must be a string, not an array");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nenvironment = { \"A=B\" = \"x\" }\n",
            "weft.toml:4: environment variable name 'A=B' is not valid");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nvolumes = { \"/d\" = 1 }\n",
            "weft.toml:4: volume '/d' must be a host path string, not an integer");
    REFUSED("[[function]]\nsource = \"f.wasm\"\n", "weft.toml:1: [[function]] needs a 'name'");
    REFUSED("[[function]]\nname = \"f\"\n",
            "weft.toml:1: [[function]] 'f' needs a 'source' (its .wasm)");
    REFUSED("[[function]]\nname = \"a b\"\nsource = \"f.wasm\"\n",
            "weft.toml:2: function name 'a b' may hold only letters, digits, '-', '_' and '.'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n[[function]]\nname = \"f\"\n"
            "source = \"g.wasm\"\n",
            "weft.toml:4: function 'f' is already declared on line 1");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n[[route]]\npath = \"/\"\n"
            "function = \"g\"\n",
            "weft.toml:6: [[route]] '/': no [[function]] is named 'g'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nroute = \"/x\"\n[[route]]\n"
            "path = \"/x\"\nfunction = \"f\"\n",
            "weft.toml:5: route '/x' is already declared on line 4");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nroute = \"/a/.../b\"\n",
            "weft.toml:4: route '/a/.../b': '...' may only end a route, as in '/prefix/...'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nroute = \"/a b\"\n",
            "weft.toml:4: route '/a b' must not contain spaces, '?' or '#'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"https://x/f.wasm\"\n",
            "weft.toml:3: module 'https://x/f.wasm': only local files (a path or file://) are "
            "supported");
    REFUSED("function = 1\n", "weft.toml:1: 'function' must be an array of tables ([[function]])");
    REFUSED("[app]\nname = \"x\"\n",
            "weft.toml:1: no functions or brokers declared: nothing to serve");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nname = \"g\"\n",
            "weft.toml:4:1: duplicate key 'name' (first defined on line 2)");

    /* ---- build: inline, as a sub-table, and its mistakes ----------------------------- */
    app = parse("[[function]]\nname = \"f\"\nsource = \"main.wasm\"\n"
                "build = { command = \"clang --target=wasm32-wasi -O2 src/main.c -o main.wasm\", "
                "workdir = \"fn\", watch = [\"src/**/*.c\", \"src/**/*.h\"] }\n"
                "[[function]]\nname = \"g\"\nsource = \"g.wasm\"\n"
                "[function.build]\ncommand = \"make\"\n"
                "[[function]]\nname = \"h\"\nsource = \"h.wasm\"\n"
                "build = { command = \"make\", workdir = \"/abs\" }\n",
                WEFT_APP_WEFT, &err);
    CHECK(app != NULL);
    if (app) {
        f = &app->functions[0];
        CHECK_EQ_STR(f->build.command, "clang --target=wasm32-wasi -O2 src/main.c -o main.wasm");
        CHECK_EQ_STR(f->build.workdir, "/srv/app/fn");
        CHECK_EQ_INT(f->build.nwatch, 2);
        CHECK_EQ_STR(f->build.watch[0], "src/**/*.c");
        CHECK_EQ_STR(f->build.watch[1], "src/**/*.h");
        CHECK_EQ_INT(f->build.line, 4);
        f = &app->functions[1];
        CHECK_EQ_STR(f->build.command, "make");
        CHECK_EQ_STR(f->build.workdir, "/srv/app"); /* the manifest's folder by default */
        CHECK_EQ_INT(f->build.nwatch, 0);
        CHECK_EQ_INT(f->build.line, 8);
        CHECK_EQ_STR(app->functions[2].build.workdir, "/abs");
        weft_app_free(app);
    }
    app = parse("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n", WEFT_APP_WEFT, &err);
    if (app) {
        CHECK(app->functions[0].build.command == NULL); /* no build */
        CHECK(app->functions[0].build.workdir == NULL);
        weft_app_free(app);
    }
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nbuild = { workdir = \".\" }\n",
            "weft.toml:4: 'build' in [[function]] 'f' needs a 'command'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nbuild = { command = [\"make\"] }\n",
            "weft.toml:4: 'build.command' in [[function]] 'f' must be a string, not an array");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nbuild = { command = \"\" }\n",
            "weft.toml:4: 'build.command' in [[function]] 'f' is empty");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\nbuild = \"make\"\n",
            "weft.toml:4: 'build' in [[function]] 'f' must be a table { command = \"...\" }, not "
            "a string");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n[function.build]\ncommand = "
            "\"make\"\nwatchs = [\"*.c\"]\n",
            "weft.toml:6: unknown key 'build.watchs' in [[function]] 'f'");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n"
            "build = { command = \"make\", watch = \"*.c\" }\n",
            "weft.toml:4: 'build.watch' in [[function]] 'f' must be an array of strings, not a "
            "string");
    REFUSED("[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n"
            "build = { command = \"make\", workdir = \"\" }\n",
            "weft.toml:4: 'build.workdir' in [[function]] 'f' is empty");

    /* ---- WAGI ------------------------------------------------------------------------ */
    /* Relative paths stay as written: WAGI opens them from the working directory. */
    app = parse("[[module]]\n"
                "route = \"/hello\"\n"
                "module = \"hello.wasm\"\n"
                "\n"
                "[[module]]\n"
                "route = \"static/...\"\n"
                "module = \"file:///abs/fileserver.wat\"\n"
                "entrypoint = \"serve\"\n"
                "volumes = { \"/\" = \"site\" }\n"
                "allowed_hosts = [\"https://example.com\", \"insecure:allow-all\"]\n"
                "http_max_concurrency = 2\n"
                "argv = \"${SCRIPT_NAME} ${ARGS}\"\n"
                "environment = { KEY = \"value\" }\n"
                "unknown_imports = \"default\"\n"
                "bindle = \"ignored/with/a/warning\"\n",
                WEFT_APP_WAGI, &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->format, WEFT_APP_WAGI);
        CHECK_EQ_INT(app->nfunctions, 2);
        CHECK_EQ_STR(app->functions[0].name, "/hello");
        CHECK_EQ_STR(app->functions[0].wasm, "hello.wasm");
        CHECK_EQ_INT(app->functions[0].source_line, 3);
        CHECK_EQ_STR(app->functions[0].entrypoint, "_start");
        CHECK_EQ_INT(app->functions[0].timeout_ns, WEFT_APP_DEFAULT_TIMEOUT_NS);
        CHECK_EQ_STR(app->functions[1].wasm, "/abs/fileserver.wat"); /* converted at load */
        CHECK_EQ_STR(app->functions[1].entrypoint, "serve");
        CHECK_EQ_STR(app->functions[1].volumes[0].guest, "/");
        CHECK_EQ_STR(app->functions[1].volumes[0].host, "site");
        CHECK_EQ_INT(app->functions[1].volumes[0].line, 9);
        CHECK_EQ_INT(app->functions[1].nallowed, 2);
        CHECK_EQ_INT(app->functions[1].http_max_concurrency, 2);
        CHECK_EQ_STR(app->functions[1].env[0], "KEY=value");
        CHECK_EQ_INT(app->functions[0].unknown_imports, WEFT_APP_UNKNOWN_IMPORTS_REFUSE);
        CHECK_EQ_INT(app->functions[1].unknown_imports, WEFT_APP_UNKNOWN_IMPORTS_DEFAULT);
        CHECK_EQ_INT(app->nroutes, 2);
        CHECK_EQ_STR(app->routes[0].path, "/hello");
        CHECK_EQ_STR(app->routes[1].path, "/static/..."); /* WAGI's missing slash, added */
        weft_app_free(app);
    }
    REFUSED_WAGI("[[module]]\nmodule = \"x.wasm\"\n", "weft.toml:1: [[module]] needs a 'route'");
    REFUSED_WAGI("[[module]]\nroute = \"/\"\n",
                 "weft.toml:1: [[module]] for route '/' needs a 'module'");
    REFUSED_WAGI("[[module]]\nroute = \"/\"\nmodule = \"x.wasm\"\nvolumes = [\"a\"]\n",
                 "weft.toml:4: 'volumes' in [[module]] '/' must be a table of \"/guest/path\" = "
                 "\"host/path\", not an array");
    REFUSED_WAGI("[[module]]\nroute = \"/\"\nmodule = \"oci:registry/x\"\n",
                 "weft.toml:3: module 'oci:registry/x': only local files (a path or file://) are "
                 "supported");
    REFUSED_WAGI("title = \"x\"\n", "weft.toml:1: no [[module]] tables: nothing to serve");
    REFUSED_WAGI("[[module]]\nroute = \"/\"\nmodule = \"x.wasm\"\nunknown_imports = \"yes\"\n",
                 "weft.toml:4: 'unknown_imports' in [[module]] '/': 'yes' is not \"trap\", "
                 "\"default\" or \"refuse\"");

    /* ---- weft_app_load: format detection and .wat conversion ------------------------ */
    char dir[] = "/tmp/weft-manifest-test.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], cache[256];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(path, sizeof path, "%s/m.wat", dir);
    FILE *w = fopen(path, "w");
    fputs("(module (func (export \"_start\")))\n", w);
    fclose(w);
    snprintf(path, sizeof path, "%s/custom-name.toml", dir);
    w = fopen(path, "w");
    fputs("  [[module]]\nroute = \"/\"\nmodule = \"m.wat\"\n", w);
    fclose(w);
    weft_app_opts_t opts = {.cache_dir = cache};
    memset(&err, 0, sizeof err);
    /* Run from the manifest's folder, as a WAGI file is meant to be. */
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_EQ_INT(chdir(dir), 0);
    CHECK_EQ_INT(weft_app_load("custom-name.toml", &opts, &app, &err), 0);
    if (app) {
        CHECK_EQ_INT(app->format, WEFT_APP_WAGI);
        const char *wasm = app->functions[0].wasm;
        CHECK(strncmp(wasm, cache, strlen(cache)) == 0);
        CHECK(strlen(wasm) > 5 && !strcmp(wasm + strlen(wasm) - 5, ".wasm"));
        CHECK(access(wasm, R_OK) == 0);
        weft_app_free(app);
    }
    w = fopen(path, "w");
    fputs("[[module]]\nroute = \"/\"\nmodule = \"broken.wat\"\n", w);
    fclose(w);
    snprintf(path, sizeof path, "%s/broken.wat", dir);
    w = fopen(path, "w");
    fputs("(module (func (export \"_start\") (i32.add)))\n", w);
    fclose(w);
    CHECK_EQ_INT(weft_app_load("custom-name.toml", &opts, &app, &err), WEFT_EMODULE);
    CHECK(strstr(err.msg, "wat2wasm failed") != NULL);
    CHECK_EQ_INT(chdir(cwd), 0);

    /* ---- weft_app_load: relative paths, run from elsewhere -------------------------- */
    /* WAGI's own layout: examples/modules.toml names examples/hello.wat and is run from the
     * folder above. */
    char sub[300], manifest[320];
    snprintf(sub, sizeof sub, "%s/examples", dir);
    CHECK_EQ_INT(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/examples/hello.wat", dir);
    w = fopen(path, "w");
    fputs("(module (func (export \"_start\")))\n", w);
    fclose(w);
    snprintf(path, sizeof path, "%s/examples/data", dir);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(manifest, sizeof manifest, "%s/examples/modules.toml", dir);
    w = fopen(manifest, "w");
    fputs("[[module]]\nroute = \"/\"\nmodule = \"examples/hello.wat\"\n"
          "volumes = { \"/data\" = \"examples/data\" }\n",
          w);
    fclose(w);
    CHECK_EQ_INT(chdir(dir), 0);
    CHECK_EQ_INT(weft_app_load("examples/modules.toml", &opts, &app, &err), 0);
    if (app) {
        CHECK(strncmp(app->functions[0].wasm, cache, strlen(cache)) == 0); /* converted */
        CHECK_EQ_STR(app->functions[0].volumes[0].host, "examples/data");
        weft_app_free(app);
    }
    /* The same file run from its own folder names what is not there; what it names
     * beside the manifest does not exist either: the usual message, at load. */
    CHECK_EQ_INT(chdir(sub), 0);
    CHECK_EQ_INT(weft_app_load("modules.toml", &opts, &app, &err), WEFT_ENOTFOUND);
    CHECK(strstr(err.msg, "examples/hello.wat") != NULL);
    /* A file written for its own folder, run from above: the error says so. */
    CHECK_EQ_INT(chdir(dir), 0);
    w = fopen(manifest, "w");
    fputs("[[module]]\nroute = \"/\"\nmodule = \"hello.wat\"\n", w);
    fclose(w);
    CHECK_EQ_INT(weft_app_load("examples/modules.toml", &opts, &app, &err), WEFT_ENOTFOUND);
    CHECK_EQ_STR(err.msg,
                 "examples/modules.toml:3: module 'hello.wat': no such file ./hello.wat; WAGI "
                 "resolves module paths against the working directory, and "
                 "examples/hello.wat exists: run weft up from examples, or use an "
                 "absolute path");
    w = fopen(manifest, "w");
    fputs("[[module]]\nroute = \"/\"\nmodule = \"examples/hello.wat\"\n\n"
          "volumes = { \"/data\" = \"data\" }\n",
          w);
    fclose(w);
    CHECK_EQ_INT(weft_app_load("examples/modules.toml", &opts, &app, &err), WEFT_ENOTFOUND);
    CHECK_EQ_STR(err.msg, "examples/modules.toml:5: volume '/data': no such folder ./data; WAGI "
                          "resolves volume paths against the working directory, and "
                          "examples/data exists: run weft up from examples, or use an "
                          "absolute path");
    /* weft.toml keeps its own rule: relative to its folder, from anywhere. */
    snprintf(manifest, sizeof manifest, "%s/examples/weft.toml", dir);
    w = fopen(manifest, "w");
    fputs(
        "[[function]]\nname = \"hello\"\nsource = \"hello.wat\"\nvolumes = { \"/d\" = \"data\" }\n",
        w);
    fclose(w);
    CHECK_EQ_INT(weft_app_load("examples/weft.toml", &opts, &app, &err), 0);
    if (app) {
        CHECK(strncmp(app->functions[0].wasm, cache, strlen(cache)) == 0);
        CHECK_EQ_STR(app->functions[0].volumes[0].host, "examples/data");
        weft_app_free(app);
    }
    CHECK_EQ_INT(chdir(cwd), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_DONE();
}
