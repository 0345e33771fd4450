/* journal_redis: the journal on Redis Streams (store.h), shared by every weft node that
 * opens the same location: one stream per broker, consumed through one consumer group
 * per trigger ("Shared streams: consumer groups").
 *
 * Locations: redis.c's (redis:// and redis+unix://, prefix=P, by default "weft").
 *
 * Layout, under E = "P:ev:" + len(NAME) + ":" + NAME + ":" for the stream called NAME:
 *   E s     the Redis stream: entry id SEQ-0 for record SEQ (so a seq is an id, and the
 *           ids are 1-0, 2-0, ... without gaps), fields d (the record), t (when it was
 *           appended: Redis's clock, in ms) and k (its dedupe key, "" for none)
 *   E seq   the counter seqs are drawn from (INCR: never reset, so a seq is never given
 *           twice even after every record is trimmed)
 *   E keys  a hash from dedupe key to the seq of the record that holds it, while the
 *           record is retained
 * A consumer group of E s is a trigger; its members are weft nodes.
 *
 * Appending is one Lua script per append, so that a batch is all-or-nothing, the
 * dedupe check and the XADD are one step, and seqs come without gaps whatever the
 * number of nodes. The appends of every thread go through one writer thread per
 * journal, which pipelines the scripts on its connection; an append is acknowledged
 * once Redis answered its script: it is in Redis's memory, and on disk as far as
 * Redis's appendfsync says (appendonly yes with appendfsync always: fsynced before the
 * answer). A connection lost with appends in flight fails them (they may or may not be
 * stored: the client's retry is a duplicate then, which the dedupe key absorbs).
 *
 * Retention (trim) deletes from the front only records older than the cutoff that every
 * group has acknowledged: below the smallest pending record of each group and at or
 * below each group's last delivered record, never a MAXLEN that drops undelivered
 * records.
 *
 * Other nodes append too: a watcher thread waits on the streams (XREAD BLOCK) and tells
 * the store layer of each new latest seq, so that waits, watches and tails see records
 * whichever node appended them.
 *
 * Connections: the writer's, the watcher's, and a pool for every other call (a blocking
 * group read takes one for its wait). Standalone Redis only (the scripts touch keys
 * derived from the stream's, which Redis Cluster refuses across slots). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"

/* Appends taken by the writer at once (pipelined). */
#define WRITE_BATCH 256
/* How long the watcher's XREAD waits before it looks at the stream list again. */
#define WATCH_BLOCK_MS 500
/* Records deleted by one run of the trim script. */
#define TRIM_CHUNK 1000

typedef struct rjs {
    struct rjs *next;
    struct rj *j;
    weft_journal_stream_t *pub;
    char *name;
    char *k_stream, *k_seq, *k_keys;
    uint64_t seen; /* the latest seq told to the store layer */
} rjs_t;

/* One append waiting for the writer: the script's arguments, copied. */
typedef struct rja {
    struct rja *next;
    rjs_t *s;
    size_t n;
    int argc;
    const char **argv;
    size_t *lens;
    size_t bytes;
    weft_journal_done_fn done;
    void *arg;
    /* argv, lens and the copies follow in the same allocation */
} rja_t;

typedef struct rj {
    dist_redis_t addr;
    char *describe;
    char *k; /* "P:ev:" */
    weft_journal_options_t opts;
    void (*notify)(weft_journal_stream_t *pub, uint64_t latest);
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cond;
    rjs_t *streams;
    rja_t *head, **tail;
    size_t queued_bytes;
    bool writing; /* the writer holds a batch */
    bool closing;
    rpool_t pool; /* for every call but the writer's and the watcher's */
    pthread_t writer, watcher;
    bool writer_started, watcher_started;
    rconn_t wconn, xconn;    /* the writer's and the watcher's */
    redisContext *loaded_on; /* the writer's connection the append script is loaded on */
    char sha[41];
} rj_t;

/* ---- Scripts --------------------------------------------------------------------------- */

/* KEYS: stream, seq, keys. ARGV: data and key of each record, in turn. The time is
 * Redis's own, so that records' times never go back whichever node appends. Answers
 * one integer per record: its new seq, or minus the seq of the record that holds its
 * key. */
static const char lua_append[] =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local out = {}\n"
    "for i = 1, #ARGV, 2 do\n"
    "  local d, k = ARGV[i], ARGV[i + 1]\n"
    "  local held = false\n"
    "  if k ~= '' then held = redis.call('HGET', KEYS[3], k) end\n"
    "  if held then\n"
    "    out[#out + 1] = -tonumber(held)\n"
    "  else\n"
    "    local seq = redis.call('INCR', KEYS[2])\n"
    "    redis.call('XADD', KEYS[1], seq .. '-0', 'd', d, 't', now, 'k', k)\n"
    "    if k ~= '' then redis.call('HSET', KEYS[3], k, seq) end\n"
    "    out[#out + 1] = seq\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: stream, keys. ARGV: cutoff (records below it may go), before (ms: records
 * appended before it may go), max. Deletes from the front up to max records that are
 * both, with their dedupe keys; answers how many. */
static const char lua_trim[] =
    "local cutoff, before, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local l = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', max)\n"
    "local n, last = 0, nil\n"
    "for _, e in ipairs(l) do\n"
    "  local seq = tonumber(string.match(e[1], '^(%d+)'))\n"
    "  local f = {}\n"
    "  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end\n"
    "  if seq >= cutoff or tonumber(f['t'] or '0') >= before then break end\n"
    "  if f['k'] and f['k'] ~= '' and redis.call('HGET', KEYS[2], f['k']) == tostring(seq) then\n"
    "    redis.call('HDEL', KEYS[2], f['k'])\n"
    "  end\n"
    "  n, last = n + 1, seq\n"
    "end\n"
    "if last then redis.call('XTRIM', KEYS[1], 'MINID', (last + 1) .. '-0') end\n"
    "return n\n";

/* Removes the members of group ARGV[1] other than ARGV[2] that have nothing pending and
 * have been idle for ARGV[3] ms or more; returns how many. One script, so that a member
 * cannot read a record between the check and its removal (which would drop the record
 * from the group unacknowledged). */
static const char lua_prune[] =
    "local group, keep, idle = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local n = 0\n"
    "for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group)) do\n"
    "  local f = {}\n"
    "  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
    "  if f['name'] ~= keep and tonumber(f['pending']) == 0 and tonumber(f['idle']) >= idle then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, f['name'])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* ---- Small pieces ---------------------------------------------------------------------- */

static uint64_t id_seq(const char *id) {
    return strtoull(id, NULL, 10);
}

static int unexpected(rj_t *j, const char *what, weft_error_t *err) {
    return weft_error_set(err, WEFT_EIO, "journal: redis %s: an unexpected answer to %s",
                          j->addr.server, what);
}

static int call(rj_t *j, int argc, const char **argv, const size_t *lens, redisReply **out,
                weft_error_t *err) {
    return rpool_run(&j->pool, argc, argv, lens, out, err);
}

static int call_script(rj_t *j, const char *lua, int nkeys, int nargs, const char **args,
                       redisReply **out, weft_error_t *err) {
    return rpool_script(&j->pool, lua, nkeys, nargs, args, NULL, out, err);
}

/* The field `name` of a stream entry's field list (an array of name, value), or NULL. */
static const redisReply *field(const redisReply *fields, const char *name) {
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1];
    return NULL;
}

/* A page of records from a list of stream entries ([id, [fields]] each; fields nil for
 * an entry deleted while pending: len 0). At most max_records, and no more once
 * max_bytes are taken (0: no bound; at least one). */
static int page_of(rj_t *j, const redisReply *list, size_t max_records, size_t max_bytes,
                   weft_journal_page_t *page, weft_error_t *err) {
    *page = (weft_journal_page_t){0};
    if (!list || list->type != REDIS_REPLY_ARRAY)
        return unexpected(j, "a read", err);
    size_t n = 0, bytes = 0;
    for (; n < list->elements && n < max_records; n++) {
        const redisReply *e = list->element[n];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            return unexpected(j, "a read", err);
        const redisReply *d = field(e->element[1], "d");
        size_t len = d && d->type == REDIS_REPLY_STRING ? d->len : 0;
        if (n > 0 && max_bytes && bytes + len > max_bytes)
            break;
        bytes += len;
    }
    if (n == 0)
        return 0;
    page->records = calloc(n, sizeof *page->records);
    uint8_t *mem = malloc(bytes + 1);
    if (!page->records || !mem) {
        free(page->records);
        free(mem);
        page->records = NULL;
        return weft_error_set(err, WEFT_ENOMEM, "journal: out of memory");
    }
    page->mem_ = mem;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = list->element[i];
        const redisReply *d = field(e->element[1], "d"), *t = field(e->element[1], "t");
        weft_journal_record_t *r = &page->records[i];
        r->seq = id_seq(e->element[0]->str);
        r->time_ms = t && t->type == REDIS_REPLY_STRING ? strtoll(t->str, NULL, 10) : 0;
        if (d && d->type == REDIS_REPLY_STRING) {
            memcpy(mem, d->str, d->len);
            r->data = mem;
            r->len = d->len;
            mem += d->len;
        }
    }
    page->n = n;
    return 0;
}

/* ---- The writer ------------------------------------------------------------------------ */

static void fail_batch(rja_t *a, const char *why) {
    for (; a; a = a->next)
        a->done(a->arg, WEFT_EIO, NULL, 0, why);
}

/* Loads the append script on the writer's connection when it is new: EVALSHA from then
 * on sends 40 bytes rather than the script. */
static int load_script(rj_t *j, weft_error_t *err) {
    if (j->loaded_on == j->wconn.c)
        return 0;
    const char *argv[] = {"SCRIPT", "LOAD", lua_append};
    redisReply *rep = NULL;
    int rc = rconn_run(&j->wconn, 3, argv, NULL, &rep, err);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40)
        rc = unexpected(j, "SCRIPT LOAD", err);
    else
        memcpy(j->sha, rep->str, 41);
    freeReplyObject(rep);
    if (!rc)
        j->loaded_on = j->wconn.c;
    return rc;
}

/* Sends a batch of appends as one pipeline and answers each. */
static void write_batch(rj_t *j, rja_t *batch) {
    weft_error_t err = {0};
    if (rconn_ensure(&j->wconn, &err) || load_script(j, &err)) {
        fail_batch(batch, err.msg);
        return;
    }
    redisContext *c = j->wconn.c;
    for (rja_t *a = batch; a; a = a->next) {
        a->argv[1] = j->sha;
        a->lens[1] = 40;
        redisAppendCommandArgv(c, a->argc, a->argv, a->lens);
    }
    if (rconn_flush(c) != REDIS_OK) {
        char why[300];
        snprintf(why, sizeof why,
                 "journal: redis %s: %s (the connection was lost: the events may or may not "
                 "have been stored)",
                 j->addr.server, c->errstr);
        rconn_drop(&j->wconn, c->errstr);
        fail_batch(batch, why);
        return;
    }
    weft_journal_ack_t *acks = NULL;
    size_t cap = 0;
    for (rja_t *a = batch; a; a = a->next) {
        void *r = NULL;
        redisReply *rep = NULL;
        int rc = j->wconn.c && redisGetReply(j->wconn.c, &r) == REDIS_OK ? 0 : -1;
        if (!j->wconn.c) {
            rc = weft_error_set(&err, WEFT_EIO,
                                "journal: redis %s: the connection was lost: the events may or "
                                "may not have been stored",
                                j->addr.server);
        } else {
            rc = rconn_check(&j->wconn, rc ? NULL : r, &rep, &err);
        }
        if (!rc && (rep->type != REDIS_REPLY_ARRAY || rep->elements != a->n))
            rc = unexpected(j, "an append", &err);
        if (!rc && cap < a->n) {
            weft_journal_ack_t *more = realloc(acks, a->n * sizeof *acks);
            if (!more)
                rc = weft_error_set(&err, WEFT_ENOMEM, "journal: out of memory");
            else
                acks = more, cap = a->n;
        }
        uint64_t latest = 0;
        for (size_t i = 0; !rc && i < a->n; i++) {
            long long v = rep->element[i]->integer;
            acks[i] = (weft_journal_ack_t){.seq = (uint64_t)(v < 0 ? -v : v), .duplicate = v < 0};
            if (v > 0 && (uint64_t)v > latest)
                latest = (uint64_t)v;
        }
        if (rep)
            freeReplyObject(rep);
        if (!rc && latest && j->notify)
            j->notify(a->s->pub, latest);
        if (rc)
            a->done(a->arg, rc, NULL, 0, err.msg);
        else
            a->done(a->arg, 0, acks, a->n, NULL);
    }
    free(acks);
}

static void *writer_main(void *arg) {
    rj_t *j = arg;
    weft_crash_thread("redis journal writer");
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->head && !j->closing)
            pthread_cond_wait(&j->cond, &j->mu);
        if (!j->head)
            break;
        rja_t *batch = j->head, *last = batch;
        size_t n = 1, bytes = batch->bytes;
        while (last->next && n < WRITE_BATCH) {
            last = last->next;
            bytes += last->bytes;
            n++;
        }
        j->head = last->next;
        if (!j->head)
            j->tail = &j->head;
        last->next = NULL;
        j->writing = true;
        pthread_mutex_unlock(&j->mu);
        write_batch(j, batch);
        pthread_mutex_lock(&j->mu);
        j->queued_bytes -= bytes;
        j->writing = false;
        pthread_cond_broadcast(&j->cond);
        while (batch) {
            rja_t *next = batch->next;
            free(batch);
            batch = next;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static int rj_append(void *self, void *st, const weft_journal_entry_t *entries, size_t n,
                     weft_journal_done_fn done, void *arg, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    if (2 * n > (size_t)INT32_MAX - 8)
        return weft_error_set(err, WEFT_EINVAL, "journal: a batch of %zu records", n);
    int argc = 6 + (int)(2 * n); /* EVALSHA sha 3 stream seq keys, then data and key each */
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += entries[i].len + entries[i].key_len;
    rja_t *a = malloc(sizeof *a + (size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!a)
        return weft_error_set(err, WEFT_ENOMEM, "journal: out of memory");
    *a = (rja_t){.s = s, .n = n, .argc = argc, .bytes = bytes, .done = done, .arg = arg};
    a->argv = (const char **)(a + 1);
    a->lens = (size_t *)(a->argv + argc);
    char *mem = (char *)(a->lens + argc);
    const char *keys[] = {"EVALSHA", "", "3", s->k_stream, s->k_seq, s->k_keys};
    for (int i = 0; i < 6; i++) {
        a->argv[i] = keys[i];
        a->lens[i] = strlen(keys[i]);
    }
    for (size_t i = 0; i < n; i++) {
        const weft_journal_entry_t *e = &entries[i];
        if (e->len)
            memcpy(mem, e->data, e->len);
        a->argv[6 + 2 * i] = mem;
        a->lens[6 + 2 * i] = e->len;
        mem += e->len;
        if (e->key_len)
            memcpy(mem, e->key, e->key_len);
        a->argv[7 + 2 * i] = mem;
        a->lens[7 + 2 * i] = e->key_len;
        mem += e->key_len;
    }
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    if (j->closing)
        rc = weft_error_set(err, WEFT_ECANCELED, "journal: closing");
    else if (j->head && j->queued_bytes + bytes > j->opts.max_queued_bytes)
        rc = weft_error_set(err, WEFT_ELIMIT,
                            "journal: %zu bytes of events are waiting for redis %s: try again",
                            j->queued_bytes, j->addr.server);
    if (!rc) {
        *j->tail = a;
        j->tail = &a->next;
        j->queued_bytes += bytes;
        pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc)
        free(a);
    return rc;
}

/* ---- The watcher ----------------------------------------------------------------------- */

/* Reads each stream's counter and tells the store layer of the ones that moved. */
static void poll_latest(rj_t *j) {
    weft_error_t err = {0};
    if (rconn_ensure(&j->xconn, &err))
        return;
    pthread_mutex_lock(&j->mu);
    size_t n = 0;
    for (rjs_t *s = j->streams; s; s = s->next)
        n++;
    rjs_t **list = calloc(n ? n : 1, sizeof *list);
    n = 0;
    for (rjs_t *s = j->streams; list && s; s = s->next)
        list[n++] = s;
    pthread_mutex_unlock(&j->mu);
    if (!list)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"GET", list[i]->k_seq};
        redisReply *rep = NULL;
        if (rconn_run(&j->xconn, 2, argv, NULL, &rep, &err))
            break;
        uint64_t latest = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
        freeReplyObject(rep);
        if (latest > list[i]->seen) {
            list[i]->seen = latest;
            if (j->notify)
                j->notify(list[i]->pub, latest);
        }
    }
    free(list);
}

/* Waits on every stream at once (XREAD BLOCK from each one's latest known seq) and
 * reports what other nodes appended. */
static void *watcher_main(void *arg) {
    rj_t *j = arg;
    weft_crash_thread("redis journal watcher");
    for (;;) {
        pthread_mutex_lock(&j->mu);
        bool closing = j->closing;
        size_t n = 0;
        for (rjs_t *s = j->streams; s; s = s->next)
            n++;
        pthread_mutex_unlock(&j->mu);
        if (closing)
            break;
        if (n == 0) {
            dist_sleep_ms(WATCH_BLOCK_MS);
            continue;
        }
        poll_latest(j);
        const char **argv = calloc(6 + 2 * n, sizeof *argv);
        char(*ids)[24] = calloc(n, sizeof *ids);
        weft_error_t err = {0};
        if (argv && ids) {
            char block[16];
            snprintf(block, sizeof block, "%d", WATCH_BLOCK_MS);
            argv[0] = "XREAD";
            argv[1] = "COUNT";
            argv[2] = "1";
            argv[3] = "BLOCK";
            argv[4] = block;
            argv[5] = "STREAMS";
            size_t i = 0;
            pthread_mutex_lock(&j->mu);
            for (rjs_t *s = j->streams; s && i < n; s = s->next, i++) {
                argv[6 + i] = s->k_stream;
                snprintf(ids[i], sizeof ids[i], "%" PRIu64 "-0", s->seen);
            }
            pthread_mutex_unlock(&j->mu);
            for (size_t k = 0; k < i; k++)
                argv[6 + i + k] = ids[k];
            redisReply *rep = NULL;
            if (rconn_run(&j->xconn, (int)(6 + 2 * i), argv, NULL, &rep, &err) == 0)
                freeReplyObject(rep);
            else
                dist_sleep_ms(WATCH_BLOCK_MS); /* Redis is away: logged by the connection */
        } else {
            dist_sleep_ms(WATCH_BLOCK_MS);
        }
        free(argv);
        free(ids);
    }
    return NULL;
}

/* ---- Opening and streams ---------------------------------------------------------------- */

static void rj_free(rj_t *j) {
    rconn_close(&j->wconn);
    rconn_close(&j->xconn);
    rpool_clear(&j->pool);
    for (rjs_t *s = j->streams, *next; s; s = next) {
        next = s->next;
        free(s->name);
        free(s->k_stream);
        free(s->k_seq);
        free(s->k_keys);
        free(s);
    }
    dist_redis_clear(&j->addr);
    free(j->describe);
    free(j->k);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cond);
    free(j);
}

static int rj_open(const char *location, const weft_journal_options_t *opts, void **self,
                   weft_error_t *err) {
    rj_t *j = calloc(1, sizeof *j);
    if (!j)
        return weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->tail = &j->head;
    j->opts = *opts;
    rpool_init(&j->pool, &j->addr, "journal");
    int rc = dist_redis_parse(location, &j->addr, err);
    if (!rc) {
        j->wconn = (rconn_t){.addr = &j->addr, .what = "journal"};
        j->xconn = (rconn_t){.addr = &j->addr, .what = "journal", .quiet = true};
        if (asprintf(&j->k, "%s:ev:", j->addr.prefix) < 0 ||
            asprintf(&j->describe, "Redis journal %s db %d, keys %s*", j->addr.server, j->addr.db,
                     j->k) < 0)
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", location);
    }
    /* Connect now, so that a wrong location is said at open. */
    if (!rc)
        rc = rconn_ensure(&j->wconn, err);
    if (!rc) {
        if (pthread_create(&j->writer, NULL, writer_main, j))
            rc = weft_error_set(err, WEFT_ENOMEM, "journal: no thread for its writer");
        else
            j->writer_started = true;
    }
    if (!rc) {
        if (pthread_create(&j->watcher, NULL, watcher_main, j))
            rc = weft_error_set(err, WEFT_ENOMEM, "journal: no thread for its watcher");
        else
            j->watcher_started = true;
    }
    if (rc) {
        pthread_mutex_lock(&j->mu);
        j->closing = true;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->mu);
        if (j->writer_started)
            pthread_join(j->writer, NULL);
        if (j->watcher_started)
            pthread_join(j->watcher, NULL);
        rj_free(j);
        return rc;
    }
    *self = j;
    return 0;
}

static void rj_close(void *self) {
    rj_t *j = self;
    pthread_mutex_lock(&j->mu);
    j->closing = true; /* the writer finishes what is queued, then stops */
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->writer, NULL);
    pthread_join(j->watcher, NULL);
    rj_free(j);
}

static const char *rj_describe(void *self) {
    return ((rj_t *)self)->describe;
}

static void rj_bind(void *self, void (*notify)(weft_journal_stream_t *pub, uint64_t latest)) {
    ((rj_t *)self)->notify = notify;
}

static int rj_stream(void *self, const char *name, weft_journal_stream_t *pub, void **out,
                     weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = calloc(1, sizeof *s);
    char *base = NULL;
    if (!s || !(s->name = strdup(name)) ||
        asprintf(&base, "%s%zu:%s:", j->k, strlen(name), name) < 0 ||
        asprintf(&s->k_stream, "%ss", base) < 0 || asprintf(&s->k_seq, "%sseq", base) < 0 ||
        asprintf(&s->k_keys, "%skeys", base) < 0) {
        if (s) {
            free(s->name);
            free(s->k_stream);
            free(s->k_seq);
            free(s);
        }
        free(base);
        return weft_error_set(err, WEFT_ENOMEM, "journal: stream %s: out of memory", name);
    }
    free(base);
    s->j = j;
    s->pub = pub;
    const char *argv[] = {"GET", s->k_seq};
    redisReply *rep = NULL;
    int rc = call(j, 2, argv, NULL, &rep, err);
    if (rc) {
        free(s->name);
        free(s->k_stream);
        free(s->k_seq);
        free(s->k_keys);
        free(s);
        return rc;
    }
    s->seen = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    if (j->notify)
        j->notify(pub, s->seen);
    pthread_mutex_lock(&j->mu);
    s->next = j->streams;
    j->streams = s;
    pthread_mutex_unlock(&j->mu);
    *out = s;
    return 0;
}

/* ---- Reading ---------------------------------------------------------------------------- */

static int rj_read(void *self, void *st, uint64_t after, size_t max_records, size_t max_bytes,
                   weft_journal_page_t *page, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    char from[32], count[24];
    snprintf(from, sizeof from, "(%" PRIu64 "-0", after);
    snprintf(count, sizeof count, "%zu", max_records);
    const char *argv[] = {"XRANGE", s->k_stream, from, "+", "COUNT", count};
    redisReply *rep = NULL;
    int rc = call(j, 6, argv, NULL, &rep, err);
    if (rc)
        return rc;
    rc = page_of(j, rep, max_records, max_bytes, page, err);
    freeReplyObject(rep);
    return rc;
}

static int rj_bounds(void *self, void *st, uint64_t *first, uint64_t *last, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    *first = *last = 0;
    const char *fwd[] = {"XRANGE", s->k_stream, "-", "+", "COUNT", "1"};
    const char *rev[] = {"XREVRANGE", s->k_stream, "+", "-", "COUNT", "1"};
    for (int k = 0; k < 2; k++) {
        redisReply *rep = NULL;
        int rc = call(j, 6, k ? rev : fwd, NULL, &rep, err);
        if (rc)
            return rc;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2)
            *(k ? last : first) = id_seq(rep->element[0]->element[0]->str);
        freeReplyObject(rep);
    }
    if (!*first || !*last)
        *first = *last = 0;
    return 0;
}

/* ---- Groups ------------------------------------------------------------------------------ */

/* Is rc an error reply that says the group (or its stream) does not exist? */
static bool no_group(int rc, const weft_error_t *err) {
    return rc == WEFT_EIO && strstr(err->msg, "NOGROUP");
}

static int rj_group_join(void *self, void *st, const char *group, bool earliest,
                         weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    const char *argv[] = {"XGROUP", "CREATE", s->k_stream, group, earliest ? "0" : "$", "MKSTREAM"};
    redisReply *rep = NULL;
    int rc = call(j, 6, argv, NULL, &rep, err);
    if (rc == WEFT_EIO && strstr(err->msg, "BUSYGROUP")) {
        *err = (weft_error_t){0};
        return 0;
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* XREADGROUP's answer ([[stream, [entries]]] or nil) as a page. */
static int group_page(rj_t *j, redisReply *rep, size_t max, weft_journal_page_t *page,
                      weft_error_t *err) {
    if (rep->type == REDIS_REPLY_NIL)
        return 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2)
        return unexpected(j, "XREADGROUP", err);
    return page_of(j, rep->element[0]->element[1], max, 0, page, err);
}

/* Sets page's deliveries from the group's pending list: the records of a member's own
 * pending read or of a claim are now pending at `consumer`, in seq order. A failure
 * leaves them 0 (not known): the records are delivered all the same. */
static void deliveries_of(rj_t *j, rjs_t *s, const char *group, const char *consumer,
                          weft_journal_page_t *page) {
    if (page->n == 0)
        return;
    weft_error_t err = {0};
    char from[32], to[32], count[24];
    snprintf(from, sizeof from, "%" PRIu64 "-0", page->records[0].seq);
    snprintf(to, sizeof to, "%" PRIu64 "-0", page->records[page->n - 1].seq);
    snprintf(count, sizeof count, "%zu", page->n);
    const char *argv[] = {"XPENDING", s->k_stream, group, from, to, count, consumer};
    redisReply *rep = NULL;
    if (call(j, 7, argv, NULL, &rep, &err))
        return;
    /* [[id, consumer, idle ms, deliveries], ...]: a merge of two lists in seq order. */
    for (size_t i = 0, k = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[3]->type != REDIS_REPLY_INTEGER)
            break;
        uint64_t seq = id_seq(e->element[0]->str);
        while (k < page->n && page->records[k].seq < seq)
            k++;
        if (k < page->n && page->records[k].seq == seq)
            page->records[k].deliveries =
                e->element[3]->integer > UINT32_MAX ? UINT32_MAX : (uint32_t)e->element[3]->integer;
    }
    freeReplyObject(rep);
}

static int rj_group_read(void *self, void *st, const char *group, const char *consumer, bool own,
                         uint64_t after, size_t max_records, int block_ms,
                         weft_journal_page_t *page, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    char count[24], block[16], from[32];
    snprintf(count, sizeof count, "%zu", max_records);
    snprintf(block, sizeof block, "%d", block_ms);
    snprintf(from, sizeof from, "%" PRIu64 "-0", after);
    const char *argv[] = {"XREADGROUP", "GROUP", group,     consumer,    "COUNT",         count,
                          "BLOCK",      block,   "STREAMS", s->k_stream, own ? from : ">"};
    const char *no_block[] = {"XREADGROUP", "GROUP",   group,       consumer,        "COUNT",
                              count,        "STREAMS", s->k_stream, own ? from : ">"};
    redisReply *rep = NULL;
    int rc = own || block_ms == 0 ? call(j, 9, no_block, NULL, &rep, err)
                                  : call(j, 11, argv, NULL, &rep, err);
    if (no_group(rc, err))
        return weft_error_set(err, WEFT_ENOTFOUND, "journal: stream %s has no group %s", s->name,
                              group);
    if (rc)
        return rc;
    rc = group_page(j, rep, max_records, page, err);
    freeReplyObject(rep);
    if (!rc && own)
        deliveries_of(j, s, group, consumer, page);
    for (size_t i = 0; !rc && !own && i < page->n; i++)
        page->records[i].deliveries = 1; /* never read before */
    return rc;
}

static int rj_group_claim(void *self, void *st, const char *group, const char *consumer,
                          uint64_t min_idle_ms, uint64_t *cursor, size_t max_records,
                          weft_journal_page_t *page, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    char idle[24], start[32], count[24];
    snprintf(idle, sizeof idle, "%" PRIu64, min_idle_ms);
    snprintf(start, sizeof start, "%" PRIu64 "-0", *cursor);
    snprintf(count, sizeof count, "%zu", max_records);
    const char *argv[] = {"XAUTOCLAIM", s->k_stream, group, consumer, idle, start, "COUNT", count};
    redisReply *rep = NULL;
    int rc = call(j, 8, argv, NULL, &rep, err);
    if (no_group(rc, err))
        return weft_error_set(err, WEFT_ENOTFOUND, "journal: stream %s has no group %s", s->name,
                              group);
    if (rc)
        return rc;
    /* [next cursor, [entries], [ids deleted while pending: Redis dropped them]] */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        rc = unexpected(j, "XAUTOCLAIM", err);
    else if (!(rc = page_of(j, rep->element[1], max_records, 0, page, err)))
        *cursor = id_seq(rep->element[0]->str);
    freeReplyObject(rep);
    if (!rc)
        deliveries_of(j, s, group, consumer, page);
    return rc;
}

/* XACK or XCLAIM ... JUSTID over a list of seqs: head[0..nhead) then the ids. */
static int over_ids(rj_t *j, const char **head, int nhead, const char *tail, const uint64_t *seqs,
                    size_t n, weft_error_t *err) {
    size_t argc = (size_t)nhead + n + (tail ? 1 : 0);
    const char **argv = calloc(argc, sizeof *argv);
    char(*ids)[24] = calloc(n, sizeof *ids);
    int rc = 0;
    if (!argv || !ids) {
        rc = weft_error_set(err, WEFT_ENOMEM, "journal: out of memory");
    } else {
        for (int i = 0; i < nhead; i++)
            argv[i] = head[i];
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "%" PRIu64 "-0", seqs[i]);
            argv[(size_t)nhead + i] = ids[i];
        }
        if (tail)
            argv[argc - 1] = tail;
        redisReply *rep = NULL;
        rc = call(j, (int)argc, argv, NULL, &rep, err);
        if (rep)
            freeReplyObject(rep);
    }
    free(argv);
    free(ids);
    return rc;
}

static int rj_group_ack(void *self, void *st, const char *group, const uint64_t *seqs, size_t n,
                        weft_error_t *err) {
    rjs_t *s = st;
    const char *head[] = {"XACK", s->k_stream, group};
    return over_ids(self, head, 3, NULL, seqs, n, err);
}

static int rj_group_hold(void *self, void *st, const char *group, const char *consumer,
                         const uint64_t *seqs, size_t n, weft_error_t *err) {
    rjs_t *s = st;
    const char *head[] = {"XCLAIM", s->k_stream, group, consumer, "0"};
    return over_ids(self, head, 5, "JUSTID", seqs, n, err);
}

/* The groups of a stream: XINFO GROUPS, a list of field lists (name, consumers,
 * pending, last-delivered-id, ...). NULL reply with rc 0: the stream does not exist. */
static int groups_of(rj_t *j, rjs_t *s, redisReply **out, weft_error_t *err) {
    const char *argv[] = {"XINFO", "GROUPS", s->k_stream};
    int rc = call(j, 3, argv, NULL, out, err);
    if (rc == WEFT_EIO && strstr(err->msg, "no such key")) {
        *err = (weft_error_t){0};
        *out = NULL;
        return 0;
    }
    if (!rc && (*out)->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(*out);
        *out = NULL;
        return unexpected(j, "XINFO GROUPS", err);
    }
    return rc;
}

/* The group's position from its XINFO GROUPS fields: below its smallest pending record
 * (XPENDING), else its last delivered one. */
static int position_of(rj_t *j, rjs_t *s, const redisReply *g, uint64_t *position,
                       uint64_t *pending, weft_error_t *err) {
    const redisReply *name = field(g, "name"), *p = field(g, "pending"),
                     *last = field(g, "last-delivered-id");
    if (!name || name->type != REDIS_REPLY_STRING || !p || p->type != REDIS_REPLY_INTEGER ||
        !last || last->type != REDIS_REPLY_STRING)
        return unexpected(j, "XINFO GROUPS", err);
    *pending = (uint64_t)p->integer;
    *position = id_seq(last->str);
    if (!*pending)
        return 0;
    const char *argv[] = {"XPENDING", s->k_stream, name->str, "-", "+", "1"};
    redisReply *rep = NULL;
    int rc = call(j, 6, argv, NULL, &rep, err);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 1 &&
        rep->element[0]->element[0]->type == REDIS_REPLY_STRING)
        *position = id_seq(rep->element[0]->element[0]->str) - 1;
    freeReplyObject(rep);
    return 0;
}

static int rj_group_state(void *self, void *st, const char *group, uint64_t *position,
                          uint64_t *pending, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    redisReply *gs = NULL;
    int rc = groups_of(j, s, &gs, err);
    if (rc)
        return rc;
    rc = WEFT_ENOTFOUND;
    for (size_t i = 0; gs && i < gs->elements && rc == WEFT_ENOTFOUND; i++) {
        const redisReply *name = field(gs->element[i], "name");
        if (name && name->type == REDIS_REPLY_STRING && strcmp(name->str, group) == 0)
            rc = position_of(j, s, gs->element[i], position, pending, err);
    }
    if (gs)
        freeReplyObject(gs);
    if (rc == WEFT_ENOTFOUND)
        weft_error_set(err, rc, "journal: stream %s has no group %s", s->name, group);
    return rc;
}

static int rj_group_prune(void *self, void *st, const char *group, const char *keep,
                          uint64_t min_idle_ms, size_t *removed, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    char idle[24];
    snprintf(idle, sizeof idle, "%" PRIu64, min_idle_ms);
    const char *args[] = {s->k_stream, group, keep, idle};
    redisReply *rep = NULL;
    int rc = call_script(j, lua_prune, 1, 4, args, &rep, err);
    if (no_group(rc, err))
        return weft_error_set(err, WEFT_ENOTFOUND, "journal: stream %s has no group %s", s->name,
                              group);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        *removed = (size_t)rep->integer;
    else
        rc = unexpected(j, "the pruning script", err);
    freeReplyObject(rep);
    return rc;
}

/* ---- Positions (the groups, on a shared stream) -------------------------------------------- */

static int rj_position_get(void *self, void *st, const char *consumer, uint64_t *seq) {
    weft_error_t err = {0};
    uint64_t pending;
    int rc = rj_group_state(self, st, consumer, seq, &pending, &err);
    return rc == WEFT_ENOTFOUND ? rc : rc ? WEFT_ENOTFOUND : 0;
}

/* Creates the group at seq, or moves it there. */
static int rj_position_set(void *self, void *st, const char *consumer, uint64_t seq,
                           weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    char id[32];
    snprintf(id, sizeof id, "%" PRIu64 "-0", seq);
    const char *create[] = {"XGROUP", "CREATE", s->k_stream, consumer, id, "MKSTREAM"};
    redisReply *rep = NULL;
    int rc = call(j, 6, create, NULL, &rep, err);
    if (rc == WEFT_EIO && strstr(err->msg, "BUSYGROUP")) {
        *err = (weft_error_t){0};
        const char *setid[] = {"XGROUP", "SETID", s->k_stream, consumer, id};
        rc = call(j, 5, setid, NULL, &rep, err);
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rj_position_delete(void *self, void *st, const char *consumer, weft_error_t *err) {
    rjs_t *s = st;
    const char *argv[] = {"XGROUP", "DESTROY", s->k_stream, consumer};
    redisReply *rep = NULL;
    int rc = call(self, 4, argv, NULL, &rep, err);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rj_consumers(void *self, void *st, weft_store_names_t *names, weft_error_t *err) {
    redisReply *gs = NULL;
    int rc = groups_of(self, st, &gs, err);
    if (rc || !gs)
        return rc;
    names->names = calloc(gs->elements ? gs->elements : 1, sizeof *names->names);
    if (!names->names)
        rc = weft_error_set(err, WEFT_ENOMEM, "journal: out of memory");
    for (size_t i = 0; !rc && i < gs->elements; i++) {
        const redisReply *name = field(gs->element[i], "name");
        if (name && name->type == REDIS_REPLY_STRING) {
            if (!(names->names[names->n] = strdup(name->str)))
                rc = weft_error_set(err, WEFT_ENOMEM, "journal: out of memory");
            else
                names->n++;
        }
    }
    freeReplyObject(gs);
    if (rc)
        dist_names_free(names);
    return rc;
}

/* Every append accepted before the call is answered once the writer's queue is empty. */
static int rj_flush(void *self, weft_error_t *err) {
    rj_t *j = self;
    (void)err;
    pthread_mutex_lock(&j->mu);
    while (j->head || j->writing)
        pthread_cond_wait(&j->cond, &j->mu);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* ---- Retention ------------------------------------------------------------------------------ */

static int rj_trim(void *self, void *st, int64_t before_ms, uint64_t *deleted, weft_error_t *err) {
    rj_t *j = self;
    rjs_t *s = st;
    /* The cutoff: the least record some group has not acknowledged. */
    redisReply *gs = NULL;
    int rc = groups_of(j, s, &gs, err);
    if (rc || !gs)
        return rc;
    uint64_t cutoff = UINT64_MAX;
    for (size_t i = 0; !rc && i < gs->elements; i++) {
        uint64_t position, pending;
        if (!(rc = position_of(j, s, gs->element[i], &position, &pending, err)) &&
            position + 1 < cutoff)
            cutoff = position + 1;
    }
    freeReplyObject(gs);
    char c[24], before[24], max[24];
    snprintf(c, sizeof c, "%" PRIu64, cutoff == UINT64_MAX ? (uint64_t)1 << 62 : cutoff);
    snprintf(before, sizeof before, "%" PRId64, before_ms);
    snprintf(max, sizeof max, "%d", TRIM_CHUNK);
    const char *args[] = {s->k_stream, s->k_keys, c, before, max};
    while (!rc) {
        redisReply *rep = NULL;
        if ((rc = call_script(j, lua_trim, 2, 5, args, &rep, err)))
            break;
        long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
        freeReplyObject(rep);
        *deleted += (uint64_t)n;
        if (n < TRIM_CHUNK)
            break;
    }
    return rc;
}

/* One table for each scheme (redis://, redis+unix://), the same functions behind both. */
#define RJ_OPS(scheme_)                                                                            \
    {                                                                                              \
        .scheme = scheme_, .open = rj_open, .close = rj_close, .describe = rj_describe,            \
        .stream = rj_stream, .append = rj_append, .read = rj_read, .bounds = rj_bounds,            \
        .position_get = rj_position_get, .position_set = rj_position_set,                          \
        .position_delete = rj_position_delete, .consumers = rj_consumers, .flush = rj_flush,       \
        .trim = rj_trim, .bind = rj_bind, .group_join = rj_group_join,                             \
        .group_read = rj_group_read, .group_claim = rj_group_claim, .group_ack = rj_group_ack,     \
        .group_hold = rj_group_hold, .group_state = rj_group_state, .group_prune = rj_group_prune, \
    }
const weft_journal_ops_t weft_journal_redis_ops = RJ_OPS("redis");
const weft_journal_ops_t weft_journal_redis_unix_ops = RJ_OPS("redis+unix");
