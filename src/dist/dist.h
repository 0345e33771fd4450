/* dist: the distributed backends of the stores (store.h, "Distributed backends"):
 * key-value on Redis (kv_redis.c), subscriptions to Redis channels (sub_redis.c),
 * documents and blobs on PostgreSQL (doc_pg.c, blob_pg.c, sharing pg.c), built into
 * the plugin weft-dist.so (plugin.c) with hiredis and libpq, which the weft binary never links. The
 * plugin binds back to weft only through util.h; what the files here share is below. */
#ifndef WEFT_DIST_DIST_H
#define WEFT_DIST_DIST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

extern const weft_kv_ops_t weft_kv_redis_ops, weft_kv_redis_unix_ops;
extern const weft_doc_ops_t weft_doc_pg_ops, weft_doc_postgres_ops;
extern const weft_blob_ops_t weft_blob_pg_ops, weft_blob_postgres_ops;

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
