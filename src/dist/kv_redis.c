/* kv_redis: the key-value store on Redis (store.h), through hiredis.
 *
 * Locations: redis.c's (redis:// and redis+unix://, with prefix=P, by default "weft",
 * which begins every key of the KV).
 *
 * Layout, under K = "P:kv:" (every named store S of the KV under K + len(S) + ":" + S +
 * ":", a length so that no name can reach into another's keys):
 *   K N:S:k:KEY  a hash: v the value, ver its version, b the bytes it counts (key +
 *                value), exp when it expires (ms since the epoch; absent: never)
 *   K N:S:idx    a sorted set of the store's keys, all of score 0: ZRANGEBYLEX lists
 *                them in byte order (memcmp), which is what paging promises
 *   K version    the counter versions are drawn from (INCR: one per KV, never reset)
 *   K bytes      the bytes of every key held, for max_bytes
 *   K exp        a sorted set of the hashes that expire, by expiry
 * Expiry is weft's, not Redis's (an entry Redis dropped would stay listed): an expired
 * key is absent to every call and deleted by later writes (64 at a time, as the
 * embedded backend does) or by purge. Every write is one Lua script, so the conditions
 * (if_version, if_absent), the size cap and the write happen atomically; standalone
 * Redis only (the scripts touch keys they are not given, which Redis Cluster refuses).
 *
 * Acknowledged: a call returns 0 once Redis has answered it, so the write is applied
 * in Redis's memory; whether it survives a restart of Redis is Redis's persistence
 * (appendonly yes with appendfsync always: fsynced before the answer).
 *
 * Connections from a pool (redis.c: one per call at once, reconnected with a backoff,
 * each loss and reconnection logged). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#define PURGE_BATCH 1000

typedef struct rks {
    struct rks *next;
    char *base; /* "P:kv:N:S:" */
    char *idx;  /* base + "idx" */
} rks_t;

typedef struct rkv {
    dist_redis_t addr;
    const char *server; /* addr's, for messages */
    char *describe;     /* "Redis key-value HOST:PORT db 0, keys weft:kv:*" */
    char *k;            /* "P:kv:" */
    uint64_t max_bytes;
    rpool_t pool;       /* the connections */
    pthread_mutex_t mu; /* guards stores */
    rks_t *stores;
} rkv_t;

/* ---- Scripts --------------------------------------------------------------------------- */

/* What every script shares: drop(dk) deletes one entry (its hash, its place in its store's
 * index and in the expiry set, its bytes); purge(now, max) drops up to max expired ones.
 * K: ARGV[1], the KV's prefix "P:kv:". */
#define LUA_COMMON                                                                                 \
    "local K = ARGV[1]\n"                                                                          \
    "local function drop(dk)\n"                                                                    \
    "  local b = redis.call('HGET', dk, 'b')\n"                                                    \
    "  redis.call('ZREM', K .. 'exp', dk)\n"                                                       \
    "  if not b then return 0 end\n"                                                               \
    "  local rest = string.sub(dk, #K + 1)\n"                                                      \
    "  local c = string.find(rest, ':', 1, true)\n"                                                \
    "  local n = tonumber(string.sub(rest, 1, c - 1))\n"                                           \
    "  local base = K .. string.sub(rest, 1, c + n) .. ':'\n"                                      \
    "  redis.call('ZREM', base .. 'idx', string.sub(dk, #base + 3))\n"                             \
    "  redis.call('DEL', dk)\n"                                                                    \
    "  redis.call('DECRBY', K .. 'bytes', b)\n"                                                    \
    "  return 1\n"                                                                                 \
    "end\n"                                                                                        \
    "local function purge(now, max)\n"                                                             \
    "  local l = redis.call('ZRANGEBYSCORE', K .. 'exp', '-inf', now, 'LIMIT', 0, max)\n"          \
    "  for _, dk in ipairs(l) do drop(dk) end\n"                                                   \
    "  return #l\n"                                                                                \
    "end\n"

/* ARGV: K, key, value, now, expires (0: never), if_version (0: none), if_absent (0/1),
 * max_bytes (0: none). KEYS: the entry's hash, its store's index. Answers {status, n}:
 * ok and the new version, exists / version / absent and the version held, full and the
 * bytes held. */
static const char lua_set[] = LUA_COMMON
    "local dk, idx, key, val = KEYS[1], KEYS[2], ARGV[2], ARGV[3]\n"
    "local now, max = tonumber(ARGV[4]), tonumber(ARGV[8])\n"
    "purge(now, 64)\n"
    "local cur = redis.call('HMGET', dk, 'ver', 'exp')\n"
    "if cur[1] and cur[2] and tonumber(cur[2]) <= now then drop(dk); cur = {false, false} end\n"
    "if ARGV[7] == '1' and cur[1] then return {'exists', cur[1]} end\n"
    "if ARGV[6] ~= '0' and cur[1] ~= ARGV[6] then\n"
    "  if cur[1] then return {'version', cur[1]} end\n"
    "  return {'absent', '0'}\n"
    "end\n"
    "local old = tonumber(redis.call('HGET', dk, 'b') or '0')\n"
    "local add = #key + #val\n"
    "if max > 0 then\n"
    "  local total = tonumber(redis.call('GET', K .. 'bytes') or '0')\n"
    "  if total - old + add > max then\n"
    "    while purge(now, 1000) == 1000 do end\n"
    "    total = tonumber(redis.call('GET', K .. 'bytes') or '0')\n"
    "    if total - old + add > max then return {'full', tostring(total)} end\n"
    "  end\n"
    "end\n"
    "local v = redis.call('INCR', K .. 'version')\n"
    "redis.call('HSET', dk, 'v', val, 'ver', v, 'b', add)\n"
    "if ARGV[5] ~= '0' then\n"
    "  redis.call('HSET', dk, 'exp', ARGV[5])\n"
    "  redis.call('ZADD', K .. 'exp', ARGV[5], dk)\n"
    "else\n"
    "  redis.call('HDEL', dk, 'exp')\n"
    "  redis.call('ZREM', K .. 'exp', dk)\n"
    "end\n"
    "redis.call('ZADD', idx, 0, key)\n"
    "redis.call('INCRBY', K .. 'bytes', add - old)\n"
    "return {'ok', tostring(v)}\n";

/* ARGV: K, now, if_version. KEYS: the entry's hash. {ok | absent | version, held}. */
static const char lua_del[] =
    LUA_COMMON "local dk, now = KEYS[1], tonumber(ARGV[2])\n"
               "local cur = redis.call('HMGET', dk, 'ver', 'exp')\n"
               "if not cur[1] then return {'absent', '0'} end\n"
               "if cur[2] and tonumber(cur[2]) <= now then drop(dk); return {'absent', '0'} end\n"
               "if ARGV[3] ~= '0' and cur[1] ~= ARGV[3] then return {'version', cur[1]} end\n"
               "drop(dk)\n"
               "return {'ok', cur[1]}\n";

/* ARGV: K, now, the store's base, min, max (ZRANGEBYLEX bounds), want. KEYS: the store's
 * index. Up to want keys in the range that have not expired, in order. */
static const char lua_list[] = LUA_COMMON
    "local idx, now, base, min, max = KEYS[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]\n"
    "local want = tonumber(ARGV[6])\n"
    "local out = {}\n"
    "while #out < want do\n"
    "  local batch = redis.call('ZRANGEBYLEX', idx, min, max, 'LIMIT', 0, want)\n"
    "  for _, k in ipairs(batch) do\n"
    "    local s = redis.call('ZSCORE', K .. 'exp', base .. 'k:' .. k)\n"
    "    if not s or tonumber(s) > now then\n"
    "      out[#out + 1] = k\n"
    "      if #out == want then break end\n"
    "    end\n"
    "  end\n"
    "  if #batch < want then break end\n"
    "  min = '(' .. batch[#batch]\n"
    "end\n"
    "return out\n";

/* ARGV: K, now, max. How many expired entries were dropped (at most max). */
static const char lua_purge[] = LUA_COMMON "return purge(tonumber(ARGV[2]), tonumber(ARGV[3]))\n";

static int run(rkv_t *r, int argc, const char **argv, const size_t *lens, redisReply **out,
               weft_error_t *err) {
    return rpool_run(&r->pool, argc, argv, lens, out, err);
}

static int script(rkv_t *r, const char *lua, int nkeys, int nargs, const char **args,
                  const size_t *lens, redisReply **out, weft_error_t *err) {
    return rpool_script(&r->pool, lua, nkeys, nargs, args, lens, out, err);
}

/* ---- Opening --------------------------------------------------------------------------- */

static void rkv_free(rkv_t *r) {
    rpool_clear(&r->pool);
    for (rks_t *s = r->stores, *next; s; s = next) {
        next = s->next;
        free(s->base);
        free(s->idx);
        free(s);
    }
    dist_redis_clear(&r->addr);
    free(r->describe);
    free(r->k);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int rkv_open(const char *location, const weft_kv_options_t *opts, void **self,
                    weft_error_t *err) {
    rkv_t *r = calloc(1, sizeof *r);
    if (!r)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    pthread_mutex_init(&r->mu, NULL);
    rpool_init(&r->pool, &r->addr, "key-value");
    r->max_bytes = opts->max_bytes;
    int rc = dist_redis_parse(location, &r->addr, err);
    if (!rc) {
        r->server = r->addr.server;
        if (asprintf(&r->k, "%s:kv:", r->addr.prefix) < 0 ||
            asprintf(&r->describe, "Redis key-value %s db %d, keys %s*", r->server, r->addr.db,
                     r->k) < 0)
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    }
    /* Connect now, so that a wrong location is said at open. */
    if (!rc) {
        rconn_t *c = rpool_take(&r->pool);
        rc = c ? rconn_ensure(c, err)
               : weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
        if (c)
            rpool_give(&r->pool, c);
    }
    if (rc) {
        rkv_free(r);
        return rc;
    }
    *self = r;
    return 0;
}

static void rkv_close(void *self) {
    rkv_free(self);
}

static const char *rkv_describe(void *self) {
    return ((rkv_t *)self)->describe;
}

static int rkv_store(void *self, const char *name, void **out, weft_error_t *err) {
    rkv_t *r = self;
    rks_t *s = calloc(1, sizeof *s);
    if (!s || asprintf(&s->base, "%s%zu:%s:", r->k, strlen(name), name) < 0 ||
        asprintf(&s->idx, "%sidx", s->base) < 0) {
        if (s) {
            free(s->base);
            free(s);
        }
        return weft_error_set(err, WEFT_ENOMEM, "key-value: store %s: out of memory", name);
    }
    pthread_mutex_lock(&r->mu);
    s->next = r->stores;
    r->stores = s;
    pthread_mutex_unlock(&r->mu);
    *out = s;
    return 0;
}

/* The hash of key in store s: "BASE" "k:" key (malloc'd). */
static char *entry_key(const rks_t *s, const char *key, size_t *len) {
    size_t b = strlen(s->base), k = strlen(key);
    char *dk = malloc(b + 2 + k + 1);
    if (dk) {
        memcpy(dk, s->base, b);
        memcpy(dk + b, "k:", 2);
        memcpy(dk + b + 2, key, k + 1);
        *len = b + 2 + k;
    }
    return dk;
}

/* ---- Calls ----------------------------------------------------------------------------- */

static int rkv_get(void *self, void *st, const char *key, int64_t now_ms, uint8_t **value,
                   size_t *len, uint64_t *version, weft_error_t *err) {
    rkv_t *r = self;
    size_t dlen;
    char *dk = entry_key(st, key, &dlen);
    if (!dk)
        return weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    const char *argv[] = {"HMGET", dk, value ? "v" : "b", "ver", "exp"};
    size_t lens[] = {5, dlen, 1, 3, 3};
    redisReply *rep = NULL;
    int rc = run(r, 5, argv, lens, &rep, err);
    free(dk);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
        freeReplyObject(rep);
        return weft_error_set(err, WEFT_EIO, "key-value: redis %s: an unexpected answer to HMGET",
                              r->server);
    }
    redisReply *v = rep->element[0], *ver = rep->element[1], *exp = rep->element[2];
    bool found = v->type == REDIS_REPLY_STRING && ver->type == REDIS_REPLY_STRING &&
                 !(exp->type == REDIS_REPLY_STRING && strtoll(exp->str, NULL, 10) <= now_ms);
    if (found) {
        *version = strtoull(ver->str, NULL, 10);
        if (value) {
            uint8_t *copy = malloc(v->len + 1);
            if (!copy) {
                rc = weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
            } else {
                memcpy(copy, v->str, v->len);
                copy[v->len] = 0;
                *value = copy;
                *len = v->len;
            }
        }
    } else {
        rc = weft_error_set(err, WEFT_ENOTFOUND, "key-value: no key %.80s", key);
    }
    freeReplyObject(rep);
    return rc;
}

/* Reads a script's {status, number} answer. */
static int status_of(rkv_t *r, redisReply *rep, const char **status, uint64_t *n,
                     weft_error_t *err) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_STRING)
        return weft_error_set(err, WEFT_EIO, "key-value: redis %s: an unexpected answer",
                              r->server);
    *status = rep->element[0]->str;
    *n = strtoull(rep->element[1]->str, NULL, 10);
    return 0;
}

static int rkv_set(void *self, void *st, const char *key, const void *value, size_t len,
                   const weft_kv_set_options_t *o, int64_t now_ms, uint64_t *version,
                   weft_error_t *err) {
    rkv_t *r = self;
    rks_t *s = st;
    size_t dlen;
    char *dk = entry_key(s, key, &dlen);
    if (!dk)
        return weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    char now[24], exp[24], ifv[24], max[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(exp, sizeof exp, "%" PRId64, o->ttl_ms > 0 ? now_ms + o->ttl_ms : 0);
    snprintf(ifv, sizeof ifv, "%" PRIu64, o->if_version);
    snprintf(max, sizeof max, "%" PRIu64, r->max_bytes);
    const char *args[] = {dk, s->idx, r->k, key, value, now, exp, ifv, o->if_absent ? "1" : "0",
                          max};
    size_t lens[] = {dlen,        strlen(s->idx), strlen(r->k), strlen(key), len,
                     strlen(now), strlen(exp),    strlen(ifv),  1,           strlen(max)};
    redisReply *rep = NULL;
    int rc = script(r, lua_set, 2, 10, args, lens, &rep, err);
    free(dk);
    const char *status;
    uint64_t n = 0;
    if (!rc && !(rc = status_of(r, rep, &status, &n, err))) {
        if (!strcmp(status, "ok"))
            *version = n;
        else if (!strcmp(status, "exists"))
            rc = weft_error_set(err, WEFT_ECONFLICT, "key-value: key %.80s exists (version %llu)",
                                key, (unsigned long long)n);
        else if (!strcmp(status, "version"))
            rc = weft_error_set(err, WEFT_ECONFLICT,
                                "key-value: key %.80s holds version %llu, not %llu", key,
                                (unsigned long long)n, (unsigned long long)o->if_version);
        else if (!strcmp(status, "absent"))
            rc = weft_error_set(err, WEFT_ECONFLICT,
                                "key-value: key %.80s is absent, not at version %llu", key,
                                (unsigned long long)o->if_version);
        else
            rc = weft_error_set(err, WEFT_ELIMIT,
                                "key-value: %s is full: %llu bytes of keys and values, and %.80s "
                                "would add %zu (the store's max_bytes is %llu)",
                                r->describe, (unsigned long long)n, key, strlen(key) + len,
                                (unsigned long long)r->max_bytes);
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rkv_delete(void *self, void *st, const char *key, uint64_t if_version, int64_t now_ms,
                      weft_error_t *err) {
    rkv_t *r = self;
    size_t dlen;
    char *dk = entry_key(st, key, &dlen);
    if (!dk)
        return weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    char now[24], ifv[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(ifv, sizeof ifv, "%" PRIu64, if_version);
    const char *args[] = {dk, r->k, now, ifv};
    size_t lens[] = {dlen, strlen(r->k), strlen(now), strlen(ifv)};
    redisReply *rep = NULL;
    int rc = script(r, lua_del, 1, 4, args, lens, &rep, err);
    free(dk);
    const char *status;
    uint64_t n = 0;
    if (!rc && !(rc = status_of(r, rep, &status, &n, err))) {
        if (!strcmp(status, "absent"))
            rc = weft_error_set(err, WEFT_ENOTFOUND, "key-value: no key %.80s", key);
        else if (!strcmp(status, "version"))
            rc = weft_error_set(err, WEFT_ECONFLICT,
                                "key-value: key %.80s holds version %llu, not %llu", key,
                                (unsigned long long)n, (unsigned long long)if_version);
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rkv_list(void *self, void *st, const char *prefix, const char *after, size_t limit,
                    int64_t now_ms, weft_store_names_t *page, weft_error_t *err) {
    rkv_t *r = self;
    rks_t *s = st;
    char *end = dist_prefix_end(prefix);
    if (*prefix && !end)
        return weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    /* The range: past after, from prefix on, before end. */
    weft_buf_t min = {0}, max = {0};
    int brc;
    if (*after && strcmp(after, prefix) >= 0)
        brc = weft_buf_printf(&min, "(%s", after);
    else if (*prefix)
        brc = weft_buf_printf(&min, "[%s", prefix);
    else
        brc = weft_buf_puts(&min, "-");
    brc = brc || (end ? weft_buf_printf(&max, "(%s", end) : weft_buf_puts(&max, "+"));
    free(end);
    char now[24], want[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(want, sizeof want, "%zu", limit + 1);
    int rc = 0;
    redisReply *rep = NULL;
    if (brc) {
        rc = weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    } else {
        const char *args[] = {
            s->idx, r->k, now, s->base, (const char *)min.data, (const char *)max.data, want};
        rc = script(r, lua_list, 1, 7, args, NULL, &rep, err);
    }
    weft_buf_free(&min);
    weft_buf_free(&max);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return weft_error_set(err, WEFT_EIO, "key-value: redis %s: an unexpected answer",
                              r->server);
    }
    size_t n = rep->elements > limit ? limit : rep->elements;
    page->names = calloc(n ? n : 1, sizeof *page->names);
    if (!page->names)
        rc = weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!(page->names[i] = strndup(rep->element[i]->str, rep->element[i]->len)))
            rc = weft_error_set(err, WEFT_ENOMEM, "key-value: out of memory");
        else
            page->n++;
    }
    page->more = !rc && rep->elements > limit;
    freeReplyObject(rep);
    if (rc)
        dist_names_free(page);
    return rc;
}

static int rkv_purge(void *self, int64_t now_ms, uint64_t *deleted, weft_error_t *err) {
    rkv_t *r = self;
    char now[24], max[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(max, sizeof max, "%d", PURGE_BATCH);
    const char *args[] = {r->k, now, max};
    int rc = 0;
    for (;;) {
        redisReply *rep = NULL;
        rc = script(r, lua_purge, 0, 3, args, NULL, &rep, err);
        if (rc)
            break;
        long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
        freeReplyObject(rep);
        *deleted += (uint64_t)n;
        if (n < PURGE_BATCH)
            break;
    }
    return rc;
}

/* One table for each scheme (redis://, redis+unix://), the same functions behind both. */
#define RKV_OPS(scheme_)                                                                           \
    {                                                                                              \
        .scheme = scheme_, .open = rkv_open, .close = rkv_close, .describe = rkv_describe,         \
        .store = rkv_store, .get = rkv_get, .set = rkv_set, .delete_ = rkv_delete,                 \
        .list = rkv_list, .purge = rkv_purge,                                                      \
    }
const weft_kv_ops_t weft_kv_redis_ops = RKV_OPS("redis");
const weft_kv_ops_t weft_kv_redis_unix_ops = RKV_OPS("redis+unix");
