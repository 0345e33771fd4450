/* app: a manifest turned into one app model.
 *
 * weft reads its own weft.toml and, so that a WAGI user's files run unchanged, WAGI's
 * modules.toml / wagi.toml. Both become the same weft_app_t: a list of functions (a
 * module with everything needed to run it) and a list of routes that point at them.
 * The layers above (gateway, events) never look at TOML.
 *
 * A relative path in weft.toml is relative to the manifest's folder, and the model
 * holds it joined to that folder. A relative path in a WAGI file is relative to the
 * working directory, as WAGI resolves it (WAGI's own examples/modules.toml names
 * examples/hello.wat and is run from the folder above), and is held as written.
 *
 * In weft.toml an unknown key or a value of the wrong type is an error that names the
 * file, the line and the key ("weft.toml:12: unknown key 'tiemout' in [[function]]
 * 'hello'"). In a WAGI file unknown keys are only warned about, because WAGI itself
 * ignored them and its users' files must keep working.
 *
 * The schema of weft.toml is in README.md ("weft.toml").
 */
#ifndef WEFT_APP_H
#define WEFT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* Per-function defaults when the manifest says nothing. */
#define WEFT_APP_DEFAULT_TIMEOUT_NS (30ull * 1000000000ull)
#define WEFT_APP_DEFAULT_ENTRYPOINT "_start"
#define WEFT_APP_DEFAULT_LISTEN "127.0.0.1:3000"
#define WEFT_APP_DEFAULT_MAX_BODY (16ull << 20)
/* Bounds on what one manifest may declare, so a hostile file cannot make weft
 * allocate without end. */
#define WEFT_APP_MAX_FUNCTIONS 4096
#define WEFT_APP_MAX_LIST 4096

typedef enum {
    WEFT_APP_WEFT, /* weft.toml */
    WEFT_APP_WAGI, /* modules.toml / wagi.toml */
} weft_app_format_t;

typedef struct weft_app_volume {
    char *guest; /* path the guest sees, e.g. "/data" */
    char *host;  /* host directory, resolved as the file's format says */
    bool readonly;
    int line; /* where it was declared */
} weft_app_volume_t;

/* What calls of the module's imports that weft does not provide do (`unknown_imports`,
 * wasmtime's unknown-imports-trap / unknown-imports-default). */
typedef enum {
    WEFT_APP_UNKNOWN_IMPORTS_REFUSE = 0, /* the module is refused, the import named */
    WEFT_APP_UNKNOWN_IMPORTS_TRAP,       /* "trap": a call of one traps */
    WEFT_APP_UNKNOWN_IMPORTS_DEFAULT,    /* "default": a call of one returns zeros */
} weft_app_unknown_imports_t;

typedef struct weft_app_function {
    char *name;       /* weft.toml: its name; WAGI: the module's route */
    char *source;     /* the module as written in the manifest */
    char *wasm;       /* path of the .wasm to load, resolved as the file's format says;
                         a .wat source is held here until weft_app_load converts it
                         and puts the .wasm */
    char *entrypoint; /* export called for a request; "_start" by default */
    char *argv;       /* argv template ("${SCRIPT_NAME} ${ARGS}"), NULL: the default */
    char **env;       /* "NAME=value", in manifest order */
    size_t nenv;
    char **allowed_hosts; /* outbound HTTP; empty denies all */
    size_t nallowed;
    weft_app_volume_t *volumes;
    size_t nvolumes;
    uint64_t timeout_ns;           /* 0: no limit */
    uint64_t max_memory;           /* bytes; 0: the module's own maximum */
    uint32_t http_max_concurrency; /* 0: default */
    weft_app_unknown_imports_t unknown_imports;
    int line;        /* where it was declared */
    int source_line; /* where its module / source was named */
} weft_app_function_t;

typedef struct weft_app_route {
    char *path;       /* "/exact" or "/prefix/..." */
    size_t function;  /* index in weft_app_t.functions */
    char *entrypoint; /* NULL: the function's */
    int line;
} weft_app_route_t;

typedef struct weft_app {
    weft_app_format_t format;
    char *path; /* the manifest as given */
    char *dir;  /* its folder (weft.toml's relative paths were resolved against it) */
    char *name; /* [app] name, or NULL */
    weft_app_function_t *functions;
    size_t nfunctions;
    weft_app_route_t *routes;
    size_t nroutes;
    /* [server]; NULL / 0 when the manifest does not say (the command line, then the
     * gateway's defaults decide). Every number given is positive. */
    char *listen;
    uint64_t max_body;
    uint64_t max_header_bytes;  /* request line and headers */
    uint64_t header_timeout_ns; /* to receive a request head */
    uint64_t idle_timeout_ns;   /* keep-alive connection between requests */
    uint32_t max_connections;   /* open at once */
    uint64_t max_response;      /* a guest's stdout */
    uint64_t max_stderr_bytes;  /* a guest's stderr logged per request ... */
    uint32_t max_stderr_lines;  /* ... whichever comes first */
} weft_app_t;

typedef struct weft_app_opts {
    const char *cache_dir; /* the artifact cache, whose wat/ folder holds converted .wat
                              files; NULL: its default ($XDG_CACHE_HOME/weft or
                              ~/.cache/weft) */
} weft_app_opts_t;

/* Parses text[0..len) as a manifest of the given format. name is used in messages; dir
 * is the manifest's folder, which weft.toml's relative paths are resolved against (a
 * WAGI file's stay relative to the working directory). No file other than the text is
 * read and no .wat is converted (weft_app_load does that). On success *out is owned by
 * the caller (weft_app_free). */
int weft_app_parse(const char *text, size_t len, const char *name, const char *dir,
                   weft_app_format_t format, weft_app_t **out, weft_error_t *err);

/* Reads the manifest at path (format from its name: weft.toml is weft's, wagi.toml and
 * modules.toml are WAGI's, any other name is WAGI's if it opens a [[module]] table),
 * parses it and converts every .wat source to a .wasm with wat2wasm (into the cache,
 * named by the hash of the text, so a changed .wat is converted again). A WAGI file
 * whose relative module or volume path is missing from the working directory but
 * present beside the manifest is refused with a message saying so (WEFT_ENOTFOUND). */
int weft_app_load(const char *path, const weft_app_opts_t *opts, weft_app_t **out,
                  weft_error_t *err);

/* The manifest `weft up` reads when none is named: ./weft.toml, else ./wagi.toml, else
 * ./modules.toml. Returns NULL when none exists. */
const char *weft_app_find_default(void);

void weft_app_free(weft_app_t *app);

/* Reads "trap", "default" or "refuse" (the manifest's unknown_imports, `weft run
 * --unknown-imports`); WEFT_EINVAL for anything else. */
int weft_app_unknown_imports_parse(const char *s, weft_app_unknown_imports_t *out);

#endif
