/* app internals shared by its files (app.c: weft.toml's functions and routes, WAGI's
 * files and the model; app_events.c: the event sections; spin.c: spin.toml); not part of
 * the layer's contract.
 *
 * The weft_app_get_* readers take a table, a key and where the table is, and return 0
 * when the key is absent (leaving *out as it was: the caller's default) or holds a
 * valid value, else an error naming the file, the line, the key and what is wrong.
 */
#ifndef WEFT_APP_INTERNAL_H
#define WEFT_APP_INTERNAL_H

#include "app.h"
#include "toml.h"

/* What one parse needs to say where an error is. */
typedef struct ctx {
    const char *name; /* the manifest, for messages */
    const char *base; /* what relative paths are resolved against: the manifest's folder
                         (weft.toml), or NULL for the working directory (WAGI) */
    weft_app_format_t format;
    weft_error_t *err;
    bool build_only; /* weft_app_opts_t's */
} ctx_t;

/* Names the table a key sits in, for messages: "'timeout' in [[function]] 'hello'",
 * "'delivery.retry' in [[trigger]] 'to-transform'". */
typedef struct where {
    const char *section; /* "[server]", "[[function]]", "the top level" */
    const char *item;    /* the item's name or route, or NULL */
    const char *table;   /* the inline table of the item that holds the keys
                            ("delivery"), or NULL for the item's own keys */
} where_t;

/* Sets c->err to "NAME:LINE: message" (WEFT_ECONFIG) and returns WEFT_ECONFIG. */
int weft_app_fail(ctx_t *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int weft_app_nomem(ctx_t *c);
/* "a string", "an integer", ...: what a value is, for messages. */
const char *weft_app_type_name(const weft_toml_value_t *v);
/* "'KEY' in SECTION 'ITEM'" into buf, which it returns. */
const char *weft_app_where_key(const where_t *w, const char *key, char *buf, size_t size);
/* "... must be WANT, not a string". */
int weft_app_fail_type(ctx_t *c, const where_t *w, const char *key, const weft_toml_value_t *v,
                       const char *want);
/* Every key of table t is one of keys[] (NULL-terminated): an unknown key is an error in
 * weft.toml and a warning in a WAGI file. */
int weft_app_check_keys(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                        const char *const *keys);

/* Readers: *out borrowed from the TOML tree (strings) or set (numbers). */
int weft_app_get_string(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                        const char **out);
/* A string ("30s", "500ms") or an integer number of seconds. */
int weft_app_get_duration(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                          uint64_t *out);
int weft_app_get_positive_duration(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                                   const char *key, uint64_t *out);
/* A positive size: a string ("64MiB") or an integer number of bytes. */
int weft_app_get_size(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                      uint64_t *out);
int weft_app_get_u32(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                     uint32_t *out);
int weft_app_get_positive_u32(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                              const char *key, uint32_t *out);
/* An array of strings, copied into a NULL-terminated list (*n counts them). */
int weft_app_get_strings(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                         char ***out, size_t *n);
/* A string, copied; *out stays NULL when the key is absent. */
int weft_app_dup_string(ctx_t *c, const weft_toml_value_t *t, const where_t *w, const char *key,
                        char **out);
/* Names of stores (key_value_stores): the rule of function names, none twice. */
int weft_app_get_store_names(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                             const char *key, char ***out, size_t *n);
/* f's source and wasm from a module path (or file://), resolved against c->base. */
int weft_app_set_source(ctx_t *c, weft_app_function_t *f, const char *src, int line);
/* t's environment = { NAME = "value" } into f->env. */
int weft_app_add_env(ctx_t *c, weft_app_function_t *f, const weft_toml_value_t *t,
                     const where_t *w);
/* Appends a function with the defaults (line from t) and points *out at it. */
int weft_app_new_function(ctx_t *c, weft_app_t *app, const weft_toml_value_t *t,
                          weft_app_function_t **out);

/* A function's build table (key "build" of t): command required, workdir resolved
 * against the manifest's folder (that folder when absent), watch a list of globs. */
int weft_app_get_build(ctx_t *c, const weft_toml_value_t *t, const where_t *w,
                       weft_app_build_t *out);

/* Makes room for item n of an array of items of the given size (zeroed), doubling it at
 * powers of two; what ("brokers") names the list when it would pass
 * WEFT_APP_MAX_FUNCTIONS items. */
int weft_app_grow(ctx_t *c, void **items, size_t n, size_t size, const char *what);
/* Joins a relative path to dir; with no dir (the working directory) it stays as
 * written. NULL when out of memory. */
char *weft_app_resolve(const char *dir, const char *p);
/* A function's name: letters, digits, '-', '_' and '.'. */
bool weft_app_valid_name(const char *s);

/* The event sections of weft.toml (app_events.c), read after [[function]] and
 * [[route]]: [[broker]], then [[target]], then [[trigger]], each of which may name what
 * the ones before it declared. */
int weft_app_parse_brokers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
int weft_app_parse_targets(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
int weft_app_parse_triggers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
/* Redis channels (app_channels.c): weft.toml's [[redis_trigger]] and [[source]], read
 * after [[broker]]; a Redis trigger added to app (spin.c too), its address and channel
 * checked (who names the table in messages); an address's scheme checked. */
int weft_app_parse_redis_triggers(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
int weft_app_parse_sources(ctx_t *c, const weft_toml_value_t *v, weft_app_t *app);
int weft_app_add_redis_trigger(ctx_t *c, weft_app_t *app, const char *address, const char *channel,
                               size_t function, int line, const char *who);
int weft_app_redis_address_check(ctx_t *c, const char *address, int line, const char *who);
void weft_app_channels_free(weft_app_t *app);
/* spin.toml, manifest version 1 or 2 (spin.c): the whole file into app. */
int weft_app_parse_spin(ctx_t *c, const weft_toml_value_t *root, weft_app_t *app);
/* Frees a static response (NULL: nothing). */
void weft_app_static_free(weft_app_static_t *st);
/* Does the text look like a spin.toml (a top-level spin_manifest_version or
 * spin_version)? */
bool weft_app_spin_detect(const char *text, size_t len);
/* weft_app_load's part for a spin.toml: each function's files are put where the guest
 * sees them (spin.c). */
int weft_app_spin_stage_files(weft_app_t *app, weft_error_t *err);

/* Frees what those put in app (its brokers, targets and triggers). */
void weft_app_events_free(weft_app_t *app);

#endif
