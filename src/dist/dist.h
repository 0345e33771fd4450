/* dist: the distributed backends of the stores (store.h, "Distributed backends"):
 * key-value on Redis (kv_redis.c), the brokers' journal on Redis Streams (journal_redis.c;
 * both on redis.c's connections), subscriptions to Redis channels (sub_redis.c),
 * documents and blobs on PostgreSQL (doc_pg.c, blob_pg.c, sharing pg.c), built into the
 * plugin weft-dist.so (plugin.c) with hiredis and libpq, which the weft binary never
 * links. The plugin binds back to weft only through util.h; what the files here share is
 * below. */
#ifndef WEFT_DIST_DIST_H
#define WEFT_DIST_DIST_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

extern const weft_kv_ops_t weft_kv_redis_ops, weft_kv_redis_unix_ops;
extern const weft_doc_ops_t weft_doc_pg_ops, weft_doc_postgres_ops;
extern const weft_blob_ops_t weft_blob_pg_ops, weft_blob_postgres_ops;
extern const weft_journal_ops_t weft_journal_redis_ops, weft_journal_redis_unix_ops;

/* Subscriptions to Redis channels (sub_redis.c): the plugin table's subscribe and
 * unsubscribe. */
int dist_redis_subscribe(const char *location, const char *const *channels, size_t n,
                         weft_channel_fn fn, void *arg, weft_channel_sub_t **out,
                         weft_error_t *err);
void dist_redis_unsubscribe(weft_channel_sub_t *sub);

/* Milliseconds since the Unix epoch (the wall clock) and of CLOCK_MONOTONIC. */
int64_t dist_wall_ms(void);
int64_t dist_mono_ms(void);
void dist_sleep_ms(int ms);

/* s[0..n) with %XX decoded, malloc'd (NULL: out of memory or a bad %XX). */
char *dist_url_decode(const char *s, size_t n);

/* location with the password of its user information, if any, as "***" (for messages:
 * a location from weft.toml may hold a secret). Truncated to size. */
const char *dist_redact(const char *location, char *out, size_t size);

/* The least string past every string that begins with prefix (store/internal.h,
 * store_prefix_end): malloc'd, NULL when there is none or out of memory. */
char *dist_prefix_end(const char *prefix);

/* weft_store_names_free and weft_doc_page_free: the store layer's own are inside
 * weft-net.so, which this plugin cannot bind to. */
void dist_names_free(weft_store_names_t *page);
void dist_doc_page_free(weft_doc_page_t *page);

/* ---- Redis (redis.c) --------------------------------------------------------------- */

/* A Redis location, read (redis.c's top says its forms). */
typedef struct dist_redis {
    char *host, *path; /* one of the two */
    int port, db;
    char *user, *pass;
    char *server; /* "HOST:PORT" or PATH, for messages */
    char *prefix; /* begins every key weft writes ("weft") */
    int timeout_ms, retry_ms;
} dist_redis_t;

int dist_redis_parse(const char *location, dist_redis_t *out, weft_error_t *err);
void dist_redis_clear(dist_redis_t *r);

/* One connection to a Redis server, used by one thread at a time (its owner's lock).
 * Set addr and what (the store it serves, "key-value", for messages) and zero the rest;
 * rconn_close frees it. */
typedef struct rconn {
    const dist_redis_t *addr;
    const char *what;
    redisContext *c; /* NULL: not connected */
    bool down;       /* a loss was logged and no reconnection yet */
    bool quiet;      /* while down, a failed reconnection is not logged again */
    bool *shared;    /* NULL, or the down flag of the pool it belongs to (used instead) */
} rconn_t;

/* Connects when not connected (or found closed by the server), trying again with a
 * backoff for up to retry ms: 0, or EIO naming the server. */
int rconn_ensure(rconn_t *rc, weft_error_t *err);
/* Runs a command, connecting first if needed: *out is the reply (not an error reply;
 * the caller frees it), or an error (EIO naming the server, ELIMIT when Redis is out of
 * memory). */
int rconn_run(rconn_t *rc, int argc, const char **argv, const size_t *lens, redisReply **out,
              weft_error_t *err);
/* Runs a Lua script: args[0..nargs) are KEYS then ARGV as EVAL takes them (nkeys keys). */
#define RCONN_MAX_SCRIPT_ARGS 16
int rconn_script(rconn_t *rc, const char *lua, int nkeys, int nargs, const char **args,
                 const size_t *lens, redisReply **out, weft_error_t *err);
/* For pipelines on rc->c (after rconn_ensure): sends what redisAppendCommand queued
 * (REDIS_OK or REDIS_ERR), and turns one reply as redisGetReply gave it (NULL: the
 * connection failed, which is dropped) into rconn_run's answer. SIGPIPE-safe, as is
 * rconn_command (redisCommandArgv). */
int rconn_flush(redisContext *c);
int rconn_check(rconn_t *rc, redisReply *rep, redisReply **out, weft_error_t *err);
redisReply *rconn_command(redisContext *c, int argc, const char **argv, const size_t *lens);
/* Drops the connection (logged once until the next reconnection). */
void rconn_drop(rconn_t *rc, const char *why);
void rconn_close(rconn_t *rc);

/* Connections to one server for calls from any thread: each call takes a free one (a
 * new one when none is free, so there are as many as calls at once) and gives it back,
 * so that calls from several threads run side by side rather than queue. A loss and a
 * reconnection are logged once for the pool. */
typedef struct rpool {
    const dist_redis_t *addr;
    const char *what;
    pthread_mutex_t mu;
    struct rpooled *free;
    bool down;
} rpool_t;

void rpool_init(rpool_t *p, const dist_redis_t *addr, const char *what);
void rpool_clear(rpool_t *p);
/* A connection for one call (NULL: out of memory), to give back once done. */
rconn_t *rpool_take(rpool_t *p);
void rpool_give(rpool_t *p, rconn_t *c);
/* rconn_run and rconn_script on a connection of the pool. */
int rpool_run(rpool_t *p, int argc, const char **argv, const size_t *lens, redisReply **out,
              weft_error_t *err);
int rpool_script(rpool_t *p, const char *lua, int nkeys, int nargs, const char **args,
                 const size_t *lens, redisReply **out, weft_error_t *err);

/* ---- PostgreSQL (pg.c) ------------------------------------------------------------- */

/* One connection to PostgreSQL under a mutex, for one store. Locations are libpq's
 * connection URIs, postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DB][?PARAMS] (PARAMS
 * libpq's own, host=/socket/dir among them), plus weft's: schema=NAME (1 to 63 of
 * [a-z0-9_-], default "weft"), the PostgreSQL schema that holds the store's tables, so
 * that two stores share a database without meeting, and retry=MS (2000), how long a
 * call tries to reconnect. connect_timeout defaults to 5 s. */
typedef struct pgc pgc_t;

/* Parses location, connects (creating the schema and, under an advisory lock, the
 * tables: setup, SQL run in the schema at each connection) and returns the connection.
 * kind ("documents") names it in messages. */
int pgc_open(const char *location, const char *kind, const char *setup, pgc_t **out,
             weft_error_t *err);
void pgc_close(pgc_t *p);
/* "PostgreSQL documents HOST:PORT/DB, schema S", for messages. */
const char *pgc_describe(const pgc_t *p);
/* "postgresql HOST:PORT/DB", for messages. */
const char *pgc_server(const pgc_t *p);
void pgc_lock(pgc_t *p);
void pgc_unlock(pgc_t *p);

/* Under the lock: runs sql with params (n of them; lens and fmts NULL: text; a format
 * 1 is binary), connecting first when needed. 0 with *out the result (the caller's:
 * PQclear), or EIO naming the server (ELIMIT for a full disk), *out NULL. A connection
 * found lost before the call is reopened (retrying for up to retry ms, with a backoff);
 * one lost during the call fails it. */
int pgc_exec(pgc_t *p, const char *sql, int n, const char *const *vals, const int *lens,
             const int *fmts, PGresult **out, weft_error_t *err);
/* The same with the result's values in binary (bytea as its bytes, integers in network
 * byte order). */
int pgc_exec_binary(pgc_t *p, const char *sql, int n, const char *const *vals, const int *lens,
                    const int *fmts, PGresult **out, weft_error_t *err);
/* BEGIN / COMMIT / ROLLBACK (rollback never fails). */
int pgc_begin(pgc_t *p, weft_error_t *err);
int pgc_commit(pgc_t *p, weft_error_t *err);
void pgc_rollback(pgc_t *p);

#endif
