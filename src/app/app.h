/* app: a manifest turned into one app model.
 *
 * weft reads its own weft.toml and, so that a WAGI or Spin user's files run unchanged,
 * WAGI's modules.toml / wagi.toml and Spin's spin.toml (manifest versions 1 and 2,
 * spin.c). All become the same weft_app_t: a list of functions (a module with everything
 * needed to run it) and a list of routes that point at them.
 * weft.toml may also declare the events half: brokers, targets and triggers (a WAGI
 * file or a spin.toml declares none). The layers above (gateway, events) never look at
 * TOML.
 *
 * A relative path in weft.toml or spin.toml is relative to the manifest's folder, and
 * the model holds it joined to that folder. A relative path in a WAGI file is relative to the
 * working directory, as WAGI resolves it (WAGI's own examples/modules.toml names
 * examples/hello.wat and is run from the folder above), and is held as written.
 *
 * In weft.toml an unknown key or a value of the wrong type is an error that names the
 * file, the line and the key ("weft.toml:12: unknown key 'tiemout' in [[function]]
 * 'hello'"). In a WAGI file unknown keys are only warned about, because WAGI itself
 * ignored them and its users' files must keep working. A spin.toml's unknown keys are
 * errors, as Spin's own; keys Spin knows and weft does not implement are warnings.
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
 * allocate without end. WEFT_APP_MAX_FUNCTIONS bounds each list of the app (functions,
 * routes, brokers, targets, triggers); WEFT_APP_MAX_LIST each list inside an item. */
#define WEFT_APP_MAX_FUNCTIONS 4096
#define WEFT_APP_MAX_LIST 4096

/* The state folder (brokers' logs, triggers' positions), relative to the manifest's
 * folder unless [app] state_dir says otherwise. */
#define WEFT_APP_DEFAULT_STATE_DIR ".weft"
/* A broker's and a trigger's name: 1 to WEFT_APP_MAX_NAME lower-case letters, digits
 * and '-', starting and ending with a letter or a digit (a DNS label, as Kubernetes
 * names Knative's brokers and triggers): it appears unescaped in URLs
 * (/brokers/NAME) and may name files in the state folder. */
#define WEFT_APP_MAX_NAME 63
/* [server] token's length bound. */
#define WEFT_APP_MAX_TOKEN 4096
/* Broker defaults and bounds. Every broker accepts an event of WEFT_APP_MIN_EVENT_SIZE
 * (64 KiB), so max_event_size may not be set below it. */
#define WEFT_APP_DEFAULT_RETENTION_NS (24ull * 3600 * 1000000000ull)
#define WEFT_APP_DEFAULT_MAX_EVENT_SIZE (1ull << 20)
#define WEFT_APP_MIN_EVENT_SIZE (64ull << 10)
#define WEFT_APP_MAX_EVENT_SIZE (64ull << 20)
/* Delivery defaults: retry, backoff_policy and backoff_delay are the brokers' defaults
 * the Knative Operator installs (config-br-defaults: retry 10, exponential, PT0.2S;
 * Knative's spec itself retries nothing unless told); timeout, retry_after_max and
 * parallelism are weft's choice. */
#define WEFT_APP_DEFAULT_RETRY 10
#define WEFT_APP_DEFAULT_BACKOFF_DELAY_NS (200ull * 1000000ull)
#define WEFT_APP_DEFAULT_DELIVERY_TIMEOUT_NS (30ull * 1000000000ull)
#define WEFT_APP_DEFAULT_RETRY_AFTER_MAX_NS (60ull * 1000000000ull)
#define WEFT_APP_DEFAULT_PARALLELISM 64
/* Bounds on delivery. Retries: a sane count (exponential backoff from 200ms waits past
 * a day after 19 of them); delay x 2^n overflows 64 bits long before 100, so whoever
 * computes it saturates. Parallelism: events of one trigger in flight, each up to its
 * broker's max_event_size in memory. */
#define WEFT_APP_MAX_RETRY 100
#define WEFT_APP_MAX_PARALLELISM 1024
/* A CloudEvents attribute name in a filter: 1 to 20 lower-case letters or digits. */
#define WEFT_APP_MAX_ATTRIBUTE_NAME 20

typedef enum {
    WEFT_APP_WEFT, /* weft.toml */
    WEFT_APP_WAGI, /* modules.toml / wagi.toml */
    WEFT_APP_SPIN, /* spin.toml, manifest version 1 or 2 (spin.c) */
} weft_app_format_t;

/* How a request reaches a function's module. */
typedef enum {
    WEFT_APP_EXECUTOR_CGI = 0,  /* WAGI's CGI mapping: weft.toml, WAGI files, and Spin's
                                   executor = { type = "wagi" } */
    WEFT_APP_EXECUTOR_SPIN,     /* Spin's HTTP handler: the export handle-http-request
                                   with Spin 1's canonical-ABI records (spin.toml's
                                   default executor) */
    WEFT_APP_EXECUTOR_MESSAGES, /* no HTTP handler: a spin.toml component that only
                                   Redis triggers use (its module need not export
                                   handle-http-request); no route names it */
} weft_app_executor_t;

/* One entry of a Spin component's configuration (v1 [component.config], v2
 * [component.NAME.variables]), its template already resolved against the app's
 * [variables] (and SPIN_VARIABLE_* of the environment) when the manifest was read:
 * what spin-config.get-config answers for name. */
typedef struct weft_app_config {
    char *name;  /* lower-case letters, digits and '_', as Spin's keys */
    char *value; /* the resolved text */
    bool secret; /* some variable it uses is secret: never logged */
} weft_app_config_t;

/* A function's build (weft.toml's and spin.toml's `build` table), run by `weft build`,
 * `weft up --build` and `weft up --watch`. */
typedef struct weft_app_build {
    char *command; /* run with /bin/sh -c; NULL: the function has no build */
    char *workdir; /* where it runs, resolved against the manifest's folder (that folder
                      when absent) */
    char **watch;  /* globs relative to workdir whose changes rebuild it (--watch) */
    size_t nwatch;
    int line;
} weft_app_build_t;

/* One entry of a Spin component's `files`, mounted read-only by weft_app_load. */
typedef struct weft_app_files {
    char *source;      /* relative to the manifest's folder: a glob ("static/[*].html"), a
                          file or a folder (its whole tree), mounted at the same relative
                          path under the guest's "/" when destination is NULL; else the
                          file or folder placed at destination */
    char *destination; /* the guest path ("/assets"), or NULL */
    int line;
} weft_app_files_t;

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

/* What a function may use of the services weft gives guests (host.h): the names of
 * weft.toml's key_value_stores (Spin's key), blob_containers, document_collections and
 * publish (brokers of the app). Empty lists grant nothing; a call of a service on a
 * name not listed answers "access denied". KV stores and document collections follow
 * the rule of function names (letters, digits, '-', '_', '.'; at most
 * WEFT_APP_MAX_STORE_NAME bytes); blob containers are 1 to 63 of [a-z0-9-]. */
#define WEFT_APP_MAX_STORE_NAME 128
typedef struct weft_app_grants {
    char **kv; /* NULL-terminated, like every list below; NULL when empty */
    size_t nkv;
    char **blob;
    size_t nblob;
    char **doc;
    size_t ndoc;
    char **publish;
    size_t npublish;
} weft_app_grants_t;

typedef struct weft_app_function {
    char *name;       /* weft.toml: its name; WAGI: the module's route; Spin: the component's */
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
    weft_app_grants_t grants; /* the services it may use (weft.toml only) */
    int publish_line;         /* where publish was given */
    weft_app_executor_t executor;
    /* From a spin.toml: the function gets Spin's request headers (spin-full-url, ...;
     * as X_* variables under the WAGI executor) and Spin 1's host interfaces
     * (spin-config, wasi-outbound-http, key-value). */
    bool spin;
    weft_app_config_t *config; /* Spin's component configuration, resolved */
    size_t nconfig;
    weft_app_build_t build;
    /* spin.toml's files and exclude_files (globs matched against paths relative to the
     * manifest's folder, '*' crossing '/' as Spin's do). weft_app_load turns them into
     * volumes: a folder placed with { source, destination } and no exclude_files is a
     * read-only volume at destination; everything else is copied afresh into
     * <state_dir>/spin-files/<name>/, mounted read-only at "/". */
    weft_app_files_t *files;
    size_t nfiles;
    char **exclude_files;
    size_t nexclude_files;
    int line;        /* where it was declared */
    int source_line; /* where its module / source was named */
} weft_app_function_t;

/* A route answered by the gateway itself (Spin's static_response). */
typedef struct weft_app_static {
    unsigned status;     /* 100..599; Spin's default 200 */
    char **header_names; /* in manifest order */
    char **header_values;
    size_t nheaders;
    char *body; /* NULL: empty */
    size_t body_len;
} weft_app_static_t;

/* A route. Its path is one of:
 *   "/exact"              the path itself
 *   "/prefix/..."         the prefix and everything below it (WAGI's and Spin's
 *                         trailing wildcard; "/..." is everything)
 *   "/users/:id/..."      Spin's named single-segment wildcards, with or without a
 *                         trailing wildcard: ":id" matches one non-empty segment
 * The gateway tries the most specific first (gateway.h). */
typedef struct weft_app_route {
    char *path;       /* as above; for a spin.toml, the base path joined to the route */
    size_t function;  /* index in weft_app_t.functions; SIZE_MAX for a static response */
    char *entrypoint; /* NULL: the function's */
    /* spin.toml: the route as the trigger wrote it (spin-raw-component-route), and the
     * base it is under (spin-base-path: v1's trigger.base or v2's
     * [application.trigger.http] base, "/" when none); NULL elsewhere. */
    char *raw;
    char *base;
    weft_app_static_t *static_response; /* non-NULL: answered without a function */
    int line;
} weft_app_route_t;

/* ---- The events half (weft.toml only) ------------------------------------------------ */

/* [[broker]]: a durable log of CloudEvents, fed by POST /brokers/NAME. */
typedef struct weft_app_broker {
    char *name;              /* unique among brokers; see WEFT_APP_MAX_NAME */
    uint64_t retention_ns;   /* how long delivered events stay readable; positive;
                                WEFT_APP_DEFAULT_RETENTION_NS (24h) by default */
    uint64_t max_event_size; /* larger events are refused (413); WEFT_APP_MIN_EVENT_SIZE
                                to WEFT_APP_MAX_EVENT_SIZE, 1 MiB by default */
    /* backend: where its log lives, a journal location (store.h) that several weft nodes
     * share (redis://..., redis+unix://...); NULL: the embedded log in state_dir.
     * claim_after: on a shared log, how long a node may hold an event without word
     * before another node takes it over; WEFT_APP_DEFAULT_CLAIM_AFTER_NS by default.
     * max_deliveries: on a shared log, how many times an event may be handed to a node
     * (read, taken over, read again by a node started under the same name) before it
     * goes to the dead-letter target instead of the target; positive,
     * WEFT_APP_DEFAULT_MAX_DELIVERIES by default; only with a backend. */
    char *backend;
    uint64_t claim_after_ns;
    uint32_t max_deliveries;
    int line;
} weft_app_broker_t;
#define WEFT_APP_DEFAULT_CLAIM_AFTER_NS (30ull * 1000000000ull)
#define WEFT_APP_DEFAULT_MAX_DELIVERIES 10u

/* How a URL target receives an event: the HTTP binding's binary mode (ce-* headers,
 * data as the body) or structured mode (application/cloudevents+json). */
typedef enum {
    WEFT_APP_MODE_BINARY = 0, /* "binary", the default */
    WEFT_APP_MODE_STRUCTURED, /* "structured" */
} weft_app_mode_t;

/* [[target]]: where a trigger delivers, exactly one of an http(s) URL and a [[function]]
 * of the app. Its name is unique among targets and functions both (a trigger's target
 * names either), and follows the rule of function names (letters, digits, - _ .). */
typedef struct weft_app_target {
    char *name;
    char *url;            /* "http://..." or "https://...", checked: a host, a port in
                             1..65535 if any, printable ASCII only; NULL for a function */
    size_t function;      /* url NULL: index in weft_app_t.functions */
    weft_app_mode_t mode; /* URL targets; a function target is called in binary mode
                             (mode = "structured" on one is refused) */
    int line;
} weft_app_target_t;

/* What a trigger's target or delivery.dead_letter names: a [[target]], or a
 * [[function]] named directly (called as a function target would call it). */
typedef enum {
    WEFT_APP_REF_NONE = 0, /* nothing named (no dead_letter) */
    WEFT_APP_REF_TARGET,   /* weft_app_t.targets[index] */
    WEFT_APP_REF_FUNCTION, /* weft_app_t.functions[index] */
} weft_app_ref_kind_t;

typedef struct weft_app_ref {
    weft_app_ref_kind_t kind;
    size_t index;
    int line; /* where it was named; 0 for NONE */
} weft_app_ref_t;

/* A filter of a trigger: Knative's subscriptions-API dialects as a tree. Each filter
 * table of the manifest holds exactly one dialect key:
 *   { exact = { type = "a" } }      EXACT: the attribute exists and equals value
 *   { prefix = { type = "io." } }   PREFIX: ... starts with value
 *   { suffix = { type = ".done" } } SUFFIX: ... ends with value
 *   { all = [ F, ... ] }            ALL: every child matches (at least one child)
 *   { any = [ F, ... ] }            ANY: some child matches (at least one child)
 *   { not = F }                     NOT: its one child does not match
 *   { cesql = "EXPR" }              CESQL: the CloudEvents SQL expression is true
 * An exact / prefix / suffix table naming several attributes ({ exact = { type = "a",
 * source = "b" } }) is read as ALL of one EXACT (PREFIX, SUFFIX) per attribute, in the
 * order written: a leaf always holds one attribute. Attribute names are CloudEvents
 * names (1 to WEFT_APP_MAX_ATTRIBUTE_NAME lower-case letters or digits, not "data")
 * and values are not empty, as the subscriptions API requires. A CESQL expression is
 * held as written (not empty): the events layer parses it when the app starts and
 * refuses it with this filter's line. Nothing here matches every event by accident: an
 * empty dialect table, an empty all / any and an empty value are refused. */
typedef enum {
    WEFT_APP_FILTER_EXACT,
    WEFT_APP_FILTER_PREFIX,
    WEFT_APP_FILTER_SUFFIX,
    WEFT_APP_FILTER_ALL,
    WEFT_APP_FILTER_ANY,
    WEFT_APP_FILTER_NOT,
    WEFT_APP_FILTER_CESQL,
} weft_app_filter_kind_t;

typedef struct weft_app_filter weft_app_filter_t;
struct weft_app_filter {
    weft_app_filter_kind_t kind;
    char *attribute;             /* EXACT, PREFIX, SUFFIX: the attribute's name */
    char *value;                 /* EXACT, PREFIX, SUFFIX: the value; CESQL: the
                                    expression */
    weft_app_filter_t *children; /* ALL, ANY: nchildren >= 1; NOT: exactly 1 */
    size_t nchildren;
    int line; /* where it was written (a leaf's or a CESQL's: its value's) */
};

/* Retry delays: linear waits backoff_delay * n before retry n (n = 1, 2, ...),
 * exponential backoff_delay * 2^n, as Knative's data-plane spec says. */
typedef enum {
    WEFT_APP_BACKOFF_EXPONENTIAL = 0, /* "exponential", the default */
    WEFT_APP_BACKOFF_LINEAR,          /* "linear" */
} weft_app_backoff_t;

/* A trigger's delivery = { ... }; every field has its default when the key (or the whole
 * table) is absent. */
typedef struct weft_app_delivery {
    uint32_t retry; /* attempts after the first, 0..100; default 10 */
    weft_app_backoff_t backoff_policy;
    uint64_t backoff_delay_ns;   /* default 200ms; 0 retries at once */
    uint64_t timeout_ns;         /* bounds each attempt; positive; default 30s */
    weft_app_ref_t dead_letter;  /* where an event goes after its last attempt; kind
                                    NONE: nowhere (it is logged as given up) */
    uint64_t retry_after_max_ns; /* caps a Retry-After on 429 and 503; default 60s;
                                    0: Retry-After is ignored (Knative's PT0S) */
    uint32_t parallelism;        /* events of this trigger in flight at once,
                                    1..WEFT_APP_MAX_PARALLELISM; default 64 */
    int line;                    /* of the delivery table; the trigger's if absent */
} weft_app_delivery_t;

/* Where a trigger starts reading its broker the first time it runs (once it has a
 * position, it goes on from there). */
typedef enum {
    WEFT_APP_FROM_LATEST = 0, /* "latest", the default: events ingested from then on */
    WEFT_APP_FROM_EARLIEST,   /* "earliest": every event the broker still retains */
} weft_app_from_t;

/* [[trigger]]: delivers the events of one broker that pass its filters to one target.
 * Its name keys its durable position in the state folder: renaming a trigger (or
 * changing what its default name is made of) starts it afresh, as a new trigger, from
 * `from`. */
typedef struct weft_app_trigger {
    char *name;                 /* as given, or "<broker>-<target>-<n>": the target's name
                                   lower-cased with every character but a-z, 0-9 and '-'
                                   made '-', n counting the unnamed triggers of that broker
                                   and target from 1 in manifest order; unique among
                                   triggers; see WEFT_APP_MAX_NAME */
    bool named;                 /* false: the name is the default one */
    size_t broker;              /* index in weft_app_t.brokers */
    weft_app_ref_t target;      /* never NONE */
    weft_app_filter_t *filters; /* all must match; none (absent or []): every event */
    size_t nfilters;
    weft_app_delivery_t delivery;
    weft_app_from_t from;
    int line;
} weft_app_trigger_t;

/* ---- Redis channels ------------------------------------------------------------------ */

/* Where a Redis channel is read from: a location as store.h's Redis backends take it
 * ("redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", "redis+unix://..."), checked here only
 * for its scheme (the store layer reads the rest when it subscribes). A channel name is
 * 1 to WEFT_APP_MAX_CHANNEL bytes, any but NUL (Redis allows any bytes). */
#define WEFT_APP_MAX_CHANNEL 1024

/* Spin's Redis trigger (spin.toml v1's trigger = { type = "redis" } with
 * [component.trigger] channel, v2's [[trigger.redis]]) and weft.toml's [[redis_trigger]]:
 * each message PUBLISHed on channel at address calls the function once, with the
 * message: a module exporting Spin's handle-redis-message through it, any other on
 * stdin (invoke.h, weft_function_message). */
typedef struct weft_app_redis_trigger {
    char *address; /* resolved (Spin's variables, the application's default address) */
    char *channel;
    size_t function; /* index in weft_app_t.functions */
    int line;
} weft_app_redis_trigger_t;

/* weft.toml's [[source]] type = "redis": each message on channel at address becomes a
 * CloudEvent ingested into broker (events.h, "Sources"). */
typedef struct weft_app_source {
    char *address;
    char *channel;
    size_t broker;      /* index in weft_app_t.brokers */
    char *event_type;   /* the events' type; WEFT_APP_REDIS_EVENT_TYPE by default */
    char *event_source; /* the events' source; NULL: the address without its user
                           information, query and fragment */
    char *content_type; /* datacontenttype; NULL: none */
    int line;
} weft_app_source_t;
#define WEFT_APP_REDIS_EVENT_TYPE "io.redis.pubsub.message"

typedef struct weft_app {
    weft_app_format_t format;
    char *path;      /* the manifest as given */
    char *dir;       /* its folder (weft.toml's relative paths were resolved against it) */
    char *name;      /* [app] name, or NULL */
    char *state_dir; /* weft.toml: [app] state_dir, or WEFT_APP_DEFAULT_STATE_DIR, joined
                        to the manifest's folder when relative; spin.toml: the default;
                        NULL for a WAGI file */
    weft_app_function_t *functions;
    size_t nfunctions;
    weft_app_route_t *routes;
    size_t nroutes;
    /* [server]; NULL / 0 when the manifest does not say (the command line, then the
     * gateway's defaults decide). Every number given is positive. */
    char *listen;
    /* [server] token: the bearer token weft's own endpoints (/brokers, /kv, /blobs,
     * /docs, /_weft) require; NULL: they answer loopback clients only. 1 to
     * WEFT_APP_MAX_TOKEN visible ASCII characters. */
    char *token;
    /* [server] log_format: "text" or "json" (NULL: not said); access_log: "-" (stdout)
     * or a file, resolved against the manifest's folder (NULL: none). */
    char *log_format;
    char *access_log;
    /* [server] node: this weft's name among the nodes that share brokers (1 to
     * WEFT_APP_MAX_NAME of [A-Za-z0-9_.:-]); NULL: not said (weft up uses
     * HOSTNAME:PORT). Give each node its own, the same across its restarts. */
    char *node;
    /* [store]: where the services' stores live, as store.h's locations (redis://...,
     * postgresql://...); NULL: the embedded stores under state_dir. blobs defaults to
     * documents when that is a PostgreSQL location. */
    char *store_key_value;
    char *store_documents;
    char *store_blobs;
    uint64_t max_body;
    uint64_t max_header_bytes;  /* request line and headers */
    uint64_t header_timeout_ns; /* to receive a request head */
    uint64_t idle_timeout_ns;   /* keep-alive connection between requests */
    uint32_t max_connections;   /* open at once */
    uint64_t max_response;      /* a guest's stdout */
    uint64_t max_stderr_bytes;  /* a guest's stderr logged per request ... */
    uint32_t max_stderr_lines;  /* ... whichever comes first */
    /* The events half, in manifest order (empty for a WAGI file). */
    weft_app_broker_t *brokers;
    size_t nbrokers;
    weft_app_target_t *targets;
    size_t ntargets;
    weft_app_trigger_t *triggers;
    size_t ntriggers;
    /* Redis channels, in manifest order: Spin's Redis triggers (spin.toml and weft.toml)
     * and the broker sources (weft.toml). */
    weft_app_redis_trigger_t *redis_triggers;
    size_t nredis_triggers;
    weft_app_source_t *sources;
    size_t nsources;
} weft_app_t;

typedef struct weft_app_opts {
    const char *cache_dir; /* the artifact cache, whose wat/ folder holds converted .wat
                              files; NULL: its default ($XDG_CACHE_HOME/weft or
                              ~/.cache/weft) */
    /* For building only (weft build): a spin.toml's required variables may have no
     * value (their uses read as ""), as spin build needs none, and no files are
     * staged. */
    bool build_only;
} weft_app_opts_t;

/* Parses text[0..len) as a manifest of the given format. name is used in messages; dir
 * is the manifest's folder, which weft.toml's and spin.toml's relative paths are
 * resolved against (a WAGI file's stay relative to the working directory). No file other
 * than the text is read, no .wat is converted and no component file is copied
 * (weft_app_load does that); a spin.toml's variables are resolved from the environment.
 * A weft.toml must declare a function or a broker; a WAGI file a [[module]]; a spin.toml
 * a component or a trigger. On success *out is owned by the caller
 * (weft_app_free). */
int weft_app_parse(const char *text, size_t len, const char *name, const char *dir,
                   weft_app_format_t format, weft_app_t **out, weft_error_t *err);

/* Reads the manifest at path (format from its name: weft.toml is weft's, wagi.toml and
 * modules.toml are WAGI's, spin.toml is Spin's; any other name is Spin's if its top level
 * has spin_manifest_version or spin_version, WAGI's if it opens a [[module]] table, else
 * weft's), parses it and converts every .wat source to a .wasm with wat2wasm (into the
 * cache, named by the hash of the text, so a changed .wat is converted again). A WAGI file
 * whose relative module or volume path is missing from the working directory but
 * present beside the manifest is refused with a message saying so (WEFT_ENOTFOUND). A
 * spin.toml's component files are put in place (weft_app_function_t.files): copied into
 * <state_dir>/spin-files/<component>/, made afresh on every load. */
int weft_app_load(const char *path, const weft_app_opts_t *opts, weft_app_t **out,
                  weft_error_t *err);

/* The manifest `weft up` reads when none is named: ./weft.toml, else ./wagi.toml, else
 * ./modules.toml, else Spin's ./spin.toml. Returns NULL when none exists. */
const char *weft_app_find_default(void);

/* Is s a valid [server] token (also --token and WEFT_TOKEN)? */
bool weft_app_token_valid(const char *s);
/* Is s a valid [server] node (also --node)? */
bool weft_app_node_valid(const char *s);

/* Where the services' stores live (host.h): <state_dir>/stores, or .weft/stores beside
 * a WAGI file. malloc'd; NULL when out of memory. */
char *weft_app_stores_path(const weft_app_t *app);

/* Where a running `weft up` of app writes its URL, for weft send, describe and watch:
 * <state_dir>/address, or .weft/address beside a WAGI file (which has no state folder).
 * malloc'd; NULL when out of memory. */
char *weft_app_address_path(const weft_app_t *app);

void weft_app_free(weft_app_t *app);

/* Reads "trap", "default" or "refuse" (the manifest's unknown_imports, `weft run
 * --unknown-imports`); WEFT_EINVAL for anything else. */
int weft_app_unknown_imports_parse(const char *s, weft_app_unknown_imports_t *out);

#endif
