/* store: the journal's contract (store.h) against its SQLite backend, on real files in a
 * temporary folder: what goes in comes out, batches are all-or-nothing, keys dedupe,
 * positions last, retention deletes only what every consumer finished, concurrent
 * appends lose nothing and leave no gap, and a kill -9 loses no acknowledged record. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

static char dir[256];

static void path_of(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

static weft_journal_t *open_at(const char *name, const weft_journal_options_t *opts) {
    char path[512];
    path_of(path, sizeof path, name);
    weft_journal_t *j = NULL;
    weft_error_t err = {0};
    int rc = weft_journal_open(path, opts, &j, &err);
    if (rc)
        fprintf(stderr, "open %s: %s\n", path, err.msg);
    CHECK_EQ_INT(rc, 0);
    return j;
}

static weft_journal_stream_t *stream_of(weft_journal_t *j, const char *name) {
    weft_journal_stream_t *s = NULL;
    weft_error_t err = {0};
    int rc = weft_journal_stream(j, name, &s, &err);
    if (rc)
        fprintf(stderr, "stream %s: %s\n", name, err.msg);
    CHECK_EQ_INT(rc, 0);
    return s;
}

/* Appends one record (key: NULL for none) and returns its ack. */
static weft_journal_ack_t append1(weft_journal_stream_t *s, const char *data, const char *key) {
    weft_journal_entry_t e = {data, strlen(data), key, key ? strlen(key) : 0};
    weft_journal_ack_t ack = {0};
    weft_error_t err = {0};
    int rc = weft_journal_append(s, &e, 1, &ack, &err);
    if (rc)
        fprintf(stderr, "append %s: %s\n", data, err.msg);
    CHECK_EQ_INT(rc, 0);
    return ack;
}

/* Every record of the stream after `after`, paging 7 at a time. */
static size_t read_all(weft_journal_stream_t *s, uint64_t after, uint64_t *seqs, char **datas,
                       size_t max) {
    size_t n = 0;
    for (;;) {
        weft_journal_page_t page;
        weft_error_t err = {0};
        int rc = weft_journal_read(s, after, 7, 0, &page, &err);
        if (rc)
            fprintf(stderr, "read: %s\n", err.msg);
        CHECK_EQ_INT(rc, 0);
        if (rc || page.n == 0) {
            weft_journal_page_free(&page);
            return n;
        }
        for (size_t i = 0; i < page.n; i++) {
            if (n < max) {
                if (seqs)
                    seqs[n] = page.records[i].seq;
                if (datas)
                    datas[n] = strndup((const char *)page.records[i].data, page.records[i].len);
            }
            n++;
            after = page.records[i].seq;
        }
        weft_journal_page_free(&page);
    }
}

/* Runs sql on the file at path with a connection of the test's own; the first column of
 * the rows, joined by ',', into out. */
static int sql_on(const char *path, const char *sql, char *out, size_t size) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    size_t used = 0;
    if (out)
        out[0] = '\0';
    while (rc == SQLITE_OK || rc == SQLITE_ROW)
        if ((rc = sqlite3_step(st)) == SQLITE_ROW && out)
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "",
                                     (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : rc;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_records_come_back_as_appended_and_after_reopening(void) {
    weft_journal_t *j = open_at("roundtrip/events.db", NULL);
    CHECK(strstr(weft_journal_describe(j), "SQLite journal ") != NULL);
    CHECK(strstr(weft_journal_describe(j), "roundtrip/events.db") != NULL);
    weft_journal_stream_t *s = stream_of(j, "default");
    CHECK_EQ_INT(weft_journal_latest(s), 0);
    weft_journal_page_t page;
    CHECK_EQ_INT(weft_journal_read(s, 0, 10, 0, &page, NULL), 0);
    CHECK_EQ_INT(page.n, 0);
    weft_journal_page_free(&page);

    int64_t before = now_ms();
    char big[5000];
    memset(big, 'x', sizeof big);
    weft_journal_entry_t e[3] = {
        {"first", 5, NULL, 0}, {NULL, 0, NULL, 0}, {big, sizeof big, NULL, 0}};
    weft_journal_ack_t acks[3];
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_append(s, e, 3, acks, &err), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(acks[i].seq, i + 1);
        CHECK(!acks[i].duplicate);
    }
    CHECK_EQ_INT(weft_journal_latest(s), 3);
    /* The same handle for the same name. */
    weft_journal_stream_t *again = NULL;
    CHECK_EQ_INT(weft_journal_stream(j, "default", &again, NULL), 0);
    CHECK(again == s);

    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(weft_journal_read(s, 0, 10, 0, &page, &err), 0);
        CHECK_EQ_INT(page.n, 3);
        if (page.n == 3) {
            CHECK_EQ_INT(page.records[0].seq, 1);
            CHECK(page.records[0].len == 5 && memcmp(page.records[0].data, "first", 5) == 0);
            CHECK_EQ_INT(page.records[1].len, 0);
            CHECK(page.records[1].data != NULL);
            CHECK(page.records[2].len == sizeof big &&
                  memcmp(page.records[2].data, big, sizeof big) == 0);
            CHECK(page.records[0].time_ms >= before - 1000 &&
                  page.records[0].time_ms <= now_ms() + 1000);
            CHECK(page.records[1].time_ms >= page.records[0].time_ms);
        }
        weft_journal_page_free(&page);
        /* Paging: after 1, one record; a byte bound stops after the record that reaches
         * it, never before the first. */
        CHECK_EQ_INT(weft_journal_read(s, 1, 1, 0, &page, &err), 0);
        CHECK(page.n == 1 && page.records[0].seq == 2);
        weft_journal_page_free(&page);
        CHECK_EQ_INT(weft_journal_read(s, 0, 10, 3, &page, &err), 0);
        CHECK(page.n == 1 && page.records[0].seq == 1);
        weft_journal_page_free(&page);
        CHECK_EQ_INT(weft_journal_read(s, 2, 10, 1, &page, &err), 0);
        CHECK(page.n == 1 && page.records[0].seq == 3);
        weft_journal_page_free(&page);
        CHECK_EQ_INT(weft_journal_read(s, 3, 10, 0, &page, &err), 0);
        CHECK_EQ_INT(page.n, 0);
        weft_journal_page_free(&page);

        weft_journal_close(j);
        j = open_at("roundtrip/events.db", NULL);
        s = stream_of(j, "default");
        CHECK_EQ_INT(weft_journal_latest(s), 3);
    }
    /* Streams are apart: another one starts at 1. */
    weft_journal_stream_t *other = stream_of(j, "other");
    CHECK_EQ_INT(append1(other, "o1", NULL).seq, 1);
    CHECK_EQ_INT(append1(s, "fourth", NULL).seq, 4);
    weft_journal_close(j);
}

static void test_a_journal_is_opened_by_one_owner_and_only_if_it_is_one(void) {
    weft_journal_t *j = open_at("owner/events.db", NULL), *second = NULL;
    char path[512];
    path_of(path, sizeof path, "owner/events.db");
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_open(path, NULL, &second, &err), WEFT_EIO);
    CHECK(strstr(err.msg, "in use") != NULL && strstr(err.msg, path) != NULL);
    weft_journal_close(j);
    /* "sqlite:" says the backend; a URL of another one is refused by name. */
    char loc[600];
    snprintf(loc, sizeof loc, "sqlite:%s", path);
    CHECK_EQ_INT(weft_journal_open(loc, NULL, &j, &err), 0);
    weft_journal_close(j);
    CHECK_EQ_INT(weft_journal_open("kafka://127.0.0.1:9092/0", NULL, &j, &err), WEFT_EUNSUPPORTED);
    CHECK(strstr(err.msg, "no journal backend \"kafka\"") != NULL);

    path_of(path, sizeof path, "owner/notes.txt");
    FILE *f = fopen(path, "w");
    fputs("these are not records, and this is no database: it is longer than a page header "
          "so that SQLite reads it as a file of its own and not as an empty one.\n",
          f);
    fclose(f);
    CHECK(weft_journal_open(path, NULL, &j, &err) != 0);
    CHECK(strstr(err.msg, "not a weft journal") != NULL && strstr(err.msg, path) != NULL);

    path_of(path, sizeof path, "owner/other.db");
    CHECK_EQ_INT(sql_on(path, "CREATE TABLE t(x)", NULL, 0), 0);
    CHECK(weft_journal_open(path, NULL, &j, &err) != 0);
    CHECK(strstr(err.msg, "not a weft journal (a SQLite database of another program)") != NULL);
}

static void test_bad_arguments_are_refused_with_what_is_wrong(void) {
    weft_journal_options_t opts = {.max_record_bytes = 100};
    weft_journal_t *j = open_at("args/events.db", &opts);
    weft_journal_stream_t *s = stream_of(j, "b"), *t = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_stream(j, "", &t, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_journal_stream(j, "a\nb", &t, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "control character") != NULL);
    char longname[WEFT_JOURNAL_MAX_NAME + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_EQ_INT(weft_journal_stream(j, longname, &t, &err), WEFT_EINVAL);
    char big[101] = {0};
    weft_journal_entry_t e[2] = {{"ok", 2, NULL, 0}, {big, sizeof big, NULL, 0}};
    weft_journal_ack_t acks[2];
    CHECK_EQ_INT(weft_journal_append(s, e, 2, acks, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "record 1 of the batch holds 101 bytes (at most 100)") != NULL);
    CHECK_EQ_INT(weft_journal_append(s, e, 0, acks, &err), WEFT_EINVAL);
    CHECK_EQ_INT(weft_journal_position_set(s, "t", 1, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "past the stream's last record") != NULL);
    CHECK_EQ_INT(weft_journal_latest(s), 0);
    weft_journal_close(j);
}

/* ---- All-or-nothing --------------------------------------------------------------------- */

typedef struct outcome {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int pending;
    int status[8];
    weft_journal_ack_t acks[8][4];
    char message[8][256];
} outcome_t;

typedef struct slot {
    outcome_t *o;
    int i;
} slot_t;

static void record_outcome(void *arg, int status, const weft_journal_ack_t *acks, size_t n,
                           const char *message) {
    slot_t *sl = arg;
    outcome_t *o = sl->o;
    pthread_mutex_lock(&o->mu);
    o->status[sl->i] = status;
    if (status == 0)
        memcpy(o->acks[sl->i], acks, n * sizeof *acks);
    else
        snprintf(o->message[sl->i], sizeof o->message[sl->i], "%s", message);
    o->pending--;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->mu);
}

static void test_a_batch_that_does_not_fit_leaves_nothing_and_fails_alone(void) {
    /* A journal capped at 256 KiB: a batch whose third record does not fit fails after
     * the first two were written, as on a full disk. */
    weft_journal_options_t opts = {.max_bytes = 256 << 10};
    weft_journal_t *j = open_at("full/events.db", &opts);
    weft_journal_stream_t *s = stream_of(j, "b");
    static char huge[400 << 10];
    memset(huge, 'h', sizeof huge);
    weft_journal_entry_t bad[3] = {
        {"one", 3, "k1", 2}, {"two", 3, "k2", 2}, {huge, sizeof huge, NULL, 0}};
    weft_journal_ack_t acks[3];
    weft_error_t err = {0};
    int rc = weft_journal_append(s, bad, 3, acks, &err);
    CHECK_EQ_INT(rc, WEFT_ELIMIT);
    CHECK(strstr(err.msg, "max_bytes 262144") != NULL);
    CHECK_EQ_INT(weft_journal_latest(s), 0);
    CHECK_EQ_INT(read_all(s, 0, NULL, NULL, 0), 0);

    /* Batches queued together share a transaction: the one that does not fit fails, the
     * others are stored, and their seqs leave no gap. */
    outcome_t o = {.pending = 3};
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cond, NULL);
    slot_t slots[3] = {{&o, 0}, {&o, 1}, {&o, 2}};
    weft_journal_entry_t good1[2] = {{"a", 1, "k1", 2}, {"b", 1, NULL, 0}};
    weft_journal_entry_t good2[1] = {{"c", 1, "k2", 2}};
    CHECK_EQ_INT(weft_journal_append_async(s, good1, 2, record_outcome, &slots[0], &err), 0);
    CHECK_EQ_INT(weft_journal_append_async(s, bad, 3, record_outcome, &slots[1], &err), 0);
    CHECK_EQ_INT(weft_journal_append_async(s, good2, 1, record_outcome, &slots[2], &err), 0);
    pthread_mutex_lock(&o.mu);
    while (o.pending)
        pthread_cond_wait(&o.cond, &o.mu);
    pthread_mutex_unlock(&o.mu);
    CHECK_EQ_INT(o.status[0], 0);
    CHECK_EQ_INT(o.status[1], WEFT_ELIMIT);
    CHECK(strstr(o.message[1], "full") != NULL);
    CHECK_EQ_INT(o.status[2], 0);
    CHECK(o.acks[0][0].seq == 1 && o.acks[0][1].seq == 2 && o.acks[2][0].seq == 3);
    CHECK(!o.acks[0][0].duplicate && !o.acks[2][0].duplicate); /* k1, k2 were not kept */
    uint64_t seqs[8];
    char *datas[8] = {0};
    CHECK_EQ_INT(read_all(s, 0, seqs, datas, 8), 3);
    CHECK_EQ_STR(datas[0], "a");
    CHECK_EQ_STR(datas[1], "b");
    CHECK_EQ_STR(datas[2], "c");
    for (int i = 0; i < 8; i++)
        free(datas[i]);
    pthread_mutex_destroy(&o.mu);
    pthread_cond_destroy(&o.cond);
    weft_journal_close(j);
}

static void test_an_async_append_keeps_a_copy_of_what_it_was_given(void) {
    /* An event loop hands over a request's body and frees it at once. */
    weft_journal_t *j = open_at("copy/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    outcome_t o = {.pending = 8};
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cond, NULL);
    slot_t slots[8];
    for (int i = 0; i < 8; i++) {
        char *data = malloc(32), *key = malloc(32);
        int len = snprintf(data, 32, "body %d", i);
        snprintf(key, 32, "key %d", i);
        weft_journal_entry_t e = {data, (size_t)len, key, strlen(key)};
        slots[i] = (slot_t){&o, i};
        CHECK_EQ_INT(weft_journal_append_async(s, &e, 1, record_outcome, &slots[i], NULL), 0);
        memset(data, 'X', 32);
        memset(key, 'X', 32);
        free(data);
        free(key);
    }
    pthread_mutex_lock(&o.mu);
    while (o.pending)
        pthread_cond_wait(&o.cond, &o.mu);
    pthread_mutex_unlock(&o.mu);
    char *datas[8] = {0};
    CHECK_EQ_INT(read_all(s, 0, NULL, datas, 8), 8);
    for (int i = 0; i < 8; i++) {
        char want[32];
        snprintf(want, sizeof want, "body %d", i);
        CHECK_EQ_STR(datas[o.acks[i][0].seq - 1], want);
        free(datas[i]);
    }
    /* The keys were copied too: "key 3" is held. */
    weft_journal_ack_t a = append1(s, "body 3 again", "key 3");
    CHECK(a.duplicate && a.seq == o.acks[3][0].seq);
    pthread_mutex_destroy(&o.mu);
    pthread_cond_destroy(&o.cond);
    weft_journal_close(j);
}

/* ---- Dedupe ----------------------------------------------------------------------------- */

static void test_a_key_the_stream_holds_is_stored_once_until_trimmed(void) {
    weft_journal_t *j = open_at("dedupe/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b"), *t = stream_of(j, "c");
    weft_journal_ack_t a = append1(s, "ev1", "3:me1");
    CHECK(a.seq == 1 && !a.duplicate);
    a = append1(s, "ev1 again", "3:me1");
    CHECK(a.seq == 1 && a.duplicate);
    /* Twice in one batch: the second is the first's duplicate. */
    weft_journal_entry_t e[3] = {{"x", 1, "3:me2", 5}, {"y", 1, NULL, 0}, {"x'", 2, "3:me2", 5}};
    weft_journal_ack_t acks[3];
    CHECK_EQ_INT(weft_journal_append(s, e, 3, acks, NULL), 0);
    CHECK(acks[0].seq == 2 && !acks[0].duplicate);
    CHECK(acks[1].seq == 3 && !acks[1].duplicate);
    CHECK(acks[2].seq == 2 && acks[2].duplicate);
    /* Keys are per stream. */
    a = append1(t, "ev1 elsewhere", "3:me1");
    CHECK(a.seq == 1 && !a.duplicate);
    char *datas[8] = {0};
    CHECK_EQ_INT(read_all(s, 0, NULL, datas, 8), 3);
    CHECK_EQ_STR(datas[0], "ev1");
    CHECK_EQ_STR(datas[1], "x");
    for (int i = 0; i < 8; i++)
        free(datas[i]);
    /* Across a restart too. */
    weft_journal_close(j);
    j = open_at("dedupe/events.db", NULL);
    s = stream_of(j, "b");
    a = append1(s, "ev1 after restart", "3:me1");
    CHECK(a.seq == 1 && a.duplicate);
    CHECK_EQ_INT(weft_journal_latest(s), 3);
    /* Once its record is trimmed, the key is free again. */
    uint64_t deleted = 0;
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, NULL), 0);
    CHECK_EQ_INT(deleted, 3);
    a = append1(s, "ev1 after retention", "3:me1");
    CHECK(a.seq == 4 && !a.duplicate);
    weft_journal_close(j);
}

/* Bytes malloc has handed out and not had back (SQLite's allocations included). */
static size_t allocated(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void test_trimmed_keys_give_their_memory_back(void) {
    /* The SQLite backend answers dedupe from a table in memory: 16 bytes a slot, at a load
     * of at most 0.7. Trimming a backlog of keyed records must free it again. */
    enum { BACKLOG = 240000, BATCH = 4000 };
    weft_journal_t *j = open_at("keymemory/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    static weft_journal_entry_t e[BATCH];
    static weft_journal_ack_t acks[BATCH];
    static char keys[BATCH][24];
    for (int done = 0; done < BACKLOG; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            int len = snprintf(keys[i], sizeof keys[i], "2:me%d", done + i);
            e[i] = (weft_journal_entry_t){"r", 1, keys[i], (size_t)len};
        }
        CHECK_EQ_INT(weft_journal_append(s, e, BATCH, acks, NULL), 0);
    }
    size_t full = allocated();
    uint64_t deleted = 0;
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, NULL), 0);
    CHECK_EQ_INT(deleted, BACKLOG);
    size_t trimmed = allocated();
    /* 240,000 keys need 2^19 slots, 8 MiB. */
    printf("allocated with %d keys: %zu KiB; after trimming them: %zu KiB\n", BACKLOG, full >> 10,
           trimmed >> 10);
    /* Where malloc is not glibc's (a sanitizer's), its figures say nothing. */
    char *volatile probe = malloc(8u << 20);
    bool counted = allocated() >= trimmed + (8u << 20);
    free(probe);
    if (counted)
        CHECK(trimmed + (6u << 20) < full);
    else
        printf("malloc's figures do not count allocations here: not checked\n");
    /* And the keys are free again. */
    CHECK(!append1(s, "again", "2:me7").duplicate);
    weft_journal_close(j);
}

/* ---- Positions -------------------------------------------------------------------------- */

static void test_positions_survive_a_restart_and_deletion_forgets_them(void) {
    weft_journal_t *j = open_at("positions/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    for (int i = 0; i < 5; i++)
        append1(s, "r", NULL);
    uint64_t pos = 99;
    CHECK_EQ_INT(weft_journal_position_get(s, "to-display", &pos), WEFT_ENOTFOUND);
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_position_set(s, "to-display", 2, &err), 0);
    CHECK_EQ_INT(weft_journal_position_set(s, "to-transform", 5, &err), 0);
    CHECK_EQ_INT(weft_journal_position_set(s, "to-display", 4, &err), 0);
    CHECK_EQ_INT(weft_journal_position_get(s, "to-display", &pos), 0);
    CHECK_EQ_INT(pos, 4);
    CHECK_EQ_INT(weft_journal_position_set(s, "to-display", 6, &err), WEFT_EINVAL);
    weft_journal_close(j);

    j = open_at("positions/events.db", NULL);
    s = stream_of(j, "b");
    CHECK_EQ_INT(weft_journal_position_get(s, "to-display", &pos), 0);
    CHECK_EQ_INT(pos, 4);
    CHECK_EQ_INT(weft_journal_position_get(s, "to-transform", &pos), 0);
    CHECK_EQ_INT(pos, 5);
    /* A position may go back (a consumer replays). */
    CHECK_EQ_INT(weft_journal_position_set(s, "to-transform", 1, &err), 0);
    CHECK_EQ_INT(weft_journal_position_delete(s, "to-display", &err), 0);
    CHECK_EQ_INT(weft_journal_position_get(s, "to-display", &pos), WEFT_ENOTFOUND);
    /* flush makes them durable without a close: a second connection sees them. */
    CHECK_EQ_INT(weft_journal_flush(j, &err), 0);
    char path[512], rows[256];
    path_of(path, sizeof path, "positions/events.db");
    CHECK_EQ_INT(sql_on(path, "SELECT consumer || '=' || seq FROM positions", rows, sizeof rows),
                 0);
    CHECK_EQ_STR(rows, "to-transform=1");
    weft_journal_close(j);

    j = open_at("positions/events.db", NULL);
    s = stream_of(j, "b");
    CHECK_EQ_INT(weft_journal_position_get(s, "to-display", &pos), WEFT_ENOTFOUND);
    CHECK_EQ_INT(weft_journal_position_get(s, "to-transform", &pos), 0);
    CHECK_EQ_INT(pos, 1);
    weft_journal_close(j);
}

/* ---- Retention -------------------------------------------------------------------------- */

static void test_retention_deletes_only_old_records_every_consumer_finished(void) {
    weft_journal_t *j = open_at("retention/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    weft_error_t err = {0};
    uint64_t first = 9, last = 9;
    CHECK_EQ_INT(weft_journal_bounds(s, &first, &last, &err), 0);
    CHECK(first == 0 && last == 0); /* empty */
    for (int i = 0; i < 10; i++)
        append1(s, "r", NULL);
    CHECK_EQ_INT(weft_journal_bounds(s, &first, &last, &err), 0);
    CHECK(first == 1 && last == 10);
    CHECK_EQ_INT(weft_journal_position_set(s, "slow", 3, &err), 0);
    CHECK_EQ_INT(weft_journal_position_set(s, "fast", 7, &err), 0);
    uint64_t deleted = 99, seqs[16];
    /* Younger than the retention: nothing goes, finished or not. */
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() - 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    /* Old enough: only what the slowest consumer finished. */
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 3);
    CHECK_EQ_INT(read_all(s, 0, seqs, NULL, 16), 7);
    CHECK_EQ_INT(seqs[0], 4);
    CHECK_EQ_INT(weft_journal_bounds(s, &first, &last, &err), 0);
    CHECK(first == 4 && last == 10); /* what is stored: the last minus the first plus one */
    /* A consumer at 0 ("earliest") holds everything back. */
    CHECK_EQ_INT(weft_journal_position_set(s, "new", 0, &err), 0);
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    /* The consumers with a position, and after one is removed, the others. */
    weft_store_names_t names;
    CHECK_EQ_INT(weft_journal_consumers(s, &names, &err), 0);
    CHECK_EQ_INT(names.n, 3);
    weft_store_names_free(&names);
    /* Consumers removed no longer hold records back. */
    CHECK_EQ_INT(weft_journal_position_delete(s, "new", &err), 0);
    CHECK_EQ_INT(weft_journal_consumers(s, &names, &err), 0);
    CHECK_EQ_INT(names.n, 2);
    for (size_t i = 0; i < names.n; i++)
        CHECK(!strcmp(names.names[i], "slow") || !strcmp(names.names[i], "fast"));
    weft_store_names_free(&names);
    CHECK_EQ_INT(weft_journal_position_delete(s, "slow", &err), 0);
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 4);
    CHECK_EQ_INT(read_all(s, 0, seqs, NULL, 16), 3);
    CHECK_EQ_INT(seqs[0], 8);
    /* Without consumers, every old record goes; the seqs go on where they were, also
     * after a restart. */
    CHECK_EQ_INT(weft_journal_position_delete(s, "fast", &err), 0);
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 3);
    CHECK_EQ_INT(read_all(s, 0, NULL, NULL, 0), 0);
    CHECK_EQ_INT(weft_journal_latest(s), 10);
    CHECK_EQ_INT(weft_journal_bounds(s, &first, &last, &err), 0);
    CHECK(first == 0 && last == 0); /* empty again, its latest seq still 10 */
    weft_journal_close(j);
    j = open_at("retention/events.db", NULL);
    s = stream_of(j, "b");
    CHECK_EQ_INT(weft_journal_latest(s), 10);
    CHECK_EQ_INT(append1(s, "r11", NULL).seq, 11);

    /* Many records go in several chunks, with appends between them. */
    enum { MANY = 4500 };
    static weft_journal_entry_t e[MANY];
    static weft_journal_ack_t acks[MANY];
    for (int i = 0; i < MANY; i++)
        e[i] = (weft_journal_entry_t){"m", 1, NULL, 0};
    CHECK_EQ_INT(weft_journal_append(s, e, MANY, acks, &err), 0);
    CHECK_EQ_INT(weft_journal_position_set(s, "all", 11 + MANY - 1, &err), 0);
    CHECK_EQ_INT(weft_journal_trim(s, now_ms() + 60000, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, MANY);
    CHECK_EQ_INT(read_all(s, 0, seqs, NULL, 16), 1);
    CHECK_EQ_INT(seqs[0], 11 + MANY);
    weft_journal_close(j);
}

/* ---- Concurrency ------------------------------------------------------------------------ */

enum { THREADS = 16, PER_THREAD = 300 };

typedef struct appender {
    weft_journal_stream_t *s;
    int id;
    uint64_t seqs[PER_THREAD];
    int failures;
} appender_t;

static void *append_many(void *arg) {
    appender_t *a = arg;
    for (int i = 0; i < PER_THREAD;) {
        /* Singles and batches of three, as single and batched requests come. */
        int n = (i % 4 == 0 && i + 3 <= PER_THREAD) ? 3 : 1;
        char data[3][32];
        weft_journal_entry_t e[3];
        for (int k = 0; k < n; k++) {
            snprintf(data[k], sizeof data[k], "t%d-%d", a->id, i + k);
            e[k] = (weft_journal_entry_t){data[k], strlen(data[k]), data[k], strlen(data[k])};
        }
        weft_journal_ack_t acks[3];
        weft_error_t err = {0};
        if (weft_journal_append(a->s, e, (size_t)n, acks, &err) != 0) {
            fprintf(stderr, "append: %s\n", err.msg);
            a->failures++;
            return NULL;
        }
        for (int k = 0; k < n; k++)
            a->seqs[i + k] = acks[k].seq;
        i += n;
    }
    return NULL;
}

static void test_concurrent_appends_are_all_there_once_without_gaps(void) {
    weft_journal_t *j = open_at("concurrent/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b"), *t = stream_of(j, "c");
    static appender_t a[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (appender_t){.s = i % 2 ? t : s, .id = i};
        pthread_create(&th[i], NULL, append_many, &a[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(a[i].failures, 0);
    weft_journal_stream_t *streams[2] = {s, t};
    for (int k = 0; k < 2; k++) {
        size_t total = (size_t)THREADS / 2 * PER_THREAD;
        static uint64_t seqs[THREADS * PER_THREAD];
        static char *datas[THREADS * PER_THREAD];
        size_t n = read_all(streams[k], 0, seqs, datas, total);
        CHECK_EQ_INT(n, total);
        CHECK_EQ_INT(weft_journal_latest(streams[k]), total);
        int gaps = 0, wrong = 0;
        for (size_t i = 0; i < n && i < total; i++)
            if (seqs[i] != i + 1)
                gaps++;
        /* Each acknowledged seq holds what its appender sent, so each record is there
         * exactly once. */
        for (int i = k == 0 ? 0 : 1; i < THREADS; i += 2)
            for (int r = 0; r < PER_THREAD; r++) {
                char want[32];
                snprintf(want, sizeof want, "t%d-%d", i, r);
                uint64_t seq = a[i].seqs[r];
                if (seq < 1 || seq > n || strcmp(datas[seq - 1], want) != 0)
                    wrong++;
            }
        CHECK_EQ_INT(gaps, 0);
        CHECK_EQ_INT(wrong, 0);
        for (size_t i = 0; i < n && i < total; i++)
            free(datas[i]);
    }
    weft_journal_close(j);
}

/* ---- Waking readers --------------------------------------------------------------------- */

typedef struct waiter_arg {
    weft_journal_stream_t *s;
    uint64_t after, got;
    int timeout_ms;
} waiter_arg_t;

static void *wait_thread(void *arg) {
    waiter_arg_t *w = arg;
    w->got = weft_journal_wait(w->s, w->after, w->timeout_ms);
    return NULL;
}

typedef struct watched {
    pthread_mutex_t mu;
    int calls;
    uint64_t latest;
} watched_t;

static void on_commit(void *arg, uint64_t latest) {
    watched_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->latest = latest;
    pthread_mutex_unlock(&w->mu);
}

static void test_readers_are_woken_by_commits_not_by_polling(void) {
    weft_journal_t *j = open_at("wake/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    append1(s, "r1", NULL);
    /* Nothing new: wait times out with latest unchanged. */
    uint64_t t0 = weft_now_ns();
    CHECK_EQ_INT(weft_journal_wait(s, 1, 100), 1);
    CHECK(weft_now_ns() - t0 >= 90000000ull);
    CHECK_EQ_INT(weft_journal_wait(s, 0, 5000), 1); /* already past: at once */

    watched_t w = {.calls = 0};
    pthread_mutex_init(&w.mu, NULL);
    weft_journal_watch_t *watch = NULL;
    CHECK_EQ_INT(weft_journal_watch(s, on_commit, &w, &watch, NULL), 0);
    waiter_arg_t wa = {s, 1, 0, 10000};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &wa);
    usleep(50000);
    t0 = weft_now_ns();
    append1(s, "r2", NULL);
    pthread_join(th, NULL);
    CHECK_EQ_INT(wa.got, 2);
    CHECK(weft_now_ns() - t0 < 5000000000ull);
    pthread_mutex_lock(&w.mu);
    CHECK_EQ_INT(w.calls, 1);
    CHECK_EQ_INT(w.latest, 2);
    pthread_mutex_unlock(&w.mu);
    /* A duplicate adds nothing: no call. Unwatched: no more calls. */
    append1(s, "dup", "k");
    append1(s, "dup", "k");
    weft_journal_unwatch(s, watch);
    append1(s, "r5", NULL);
    pthread_mutex_lock(&w.mu);
    CHECK_EQ_INT(w.calls, 2);
    CHECK_EQ_INT(w.latest, 3);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);

    /* wake ends a wait early, without records. */
    wa = (waiter_arg_t){s, 4, 0, 10000};
    pthread_create(&th, NULL, wait_thread, &wa);
    usleep(50000);
    t0 = weft_now_ns();
    weft_journal_wake(s);
    pthread_join(th, NULL);
    CHECK_EQ_INT(wa.got, 4);
    CHECK(weft_now_ns() - t0 < 5000000000ull);
    weft_journal_close(j);
}

/* ---- Bounded queue ---------------------------------------------------------------------- */

typedef struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int pending, ok;
} counter_t;

static void count_done(void *arg, int status, const weft_journal_ack_t *acks, size_t n,
                       const char *message) {
    counter_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->pending--;
    if (status == 0)
        c->ok++;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void test_appends_beyond_the_queue_bound_are_refused_not_queued(void) {
    weft_journal_options_t opts = {.max_queued_bytes = 4096};
    weft_journal_t *j = open_at("queue/events.db", &opts);
    weft_journal_stream_t *s = stream_of(j, "b");
    counter_t c = {.pending = 0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cond, NULL);
    char data[1000];
    memset(data, 'q', sizeof data);
    weft_journal_entry_t e = {data, sizeof data, NULL, 0};
    int accepted = 0, refused = 0;
    weft_error_t err = {0};
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&c.mu);
        c.pending++;
        pthread_mutex_unlock(&c.mu);
        int rc = weft_journal_append_async(s, &e, 1, count_done, &c, &err);
        if (rc == 0) {
            accepted++;
        } else {
            CHECK_EQ_INT(rc, WEFT_ELIMIT);
            refused++;
            pthread_mutex_lock(&c.mu);
            c.pending--;
            pthread_mutex_unlock(&c.mu);
        }
    }
    pthread_mutex_lock(&c.mu);
    while (c.pending)
        pthread_cond_wait(&c.cond, &c.mu);
    pthread_mutex_unlock(&c.mu);
    CHECK(refused > 0);
    CHECK(strstr(err.msg, "max_queued_bytes 4096") != NULL);
    CHECK_EQ_INT(c.ok, accepted);
    CHECK_EQ_INT(weft_journal_latest(s), accepted);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cond);
    weft_journal_close(j);
}

/* ---- kill -9 ---------------------------------------------------------------------------- */

enum { CRASH_THREADS = 4, CRASH_ACKS = 3000 };

typedef struct crasher {
    weft_journal_stream_t *s;
    int id, fd;
} crasher_t;

/* The child's appenders: append forever, writing "seq thread i" for each acknowledged
 * record (one write(2) of less than PIPE_BUF: lines do not mix). */
static void *crash_appender(void *arg) {
    crasher_t *c = arg;
    for (int i = 0;; i++) {
        char data[64];
        snprintf(data, sizeof data, "c%d-%d", c->id, i);
        weft_journal_entry_t e = {data, strlen(data), data, strlen(data)};
        weft_journal_ack_t ack;
        if (weft_journal_append(c->s, &e, 1, &ack, NULL) != 0)
            _exit(3);
        char line[96];
        int len = snprintf(line, sizeof line, "%" PRIu64 " %d %d\n", ack.seq, c->id, i);
        if (write(c->fd, line, (size_t)len) != len)
            _exit(4);
    }
    return NULL;
}

static void test_kill_9_loses_no_acknowledged_record(void) {
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char path[512];
        path_of(path, sizeof path, "crash/events.db");
        weft_journal_t *j = NULL;
        weft_journal_stream_t *s = NULL;
        if (weft_journal_open(path, NULL, &j, NULL) || weft_journal_stream(j, "b", &s, NULL))
            _exit(2);
        static crasher_t c[CRASH_THREADS];
        pthread_t th[CRASH_THREADS];
        for (int i = 0; i < CRASH_THREADS; i++) {
            c[i] = (crasher_t){s, i, fds[1]};
            pthread_create(&th[i], NULL, crash_appender, &c[i]);
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    static uint64_t seq[CRASH_ACKS];
    static int who[CRASH_ACKS], idx[CRASH_ACKS];
    int acked = 0;
    while (acked < CRASH_ACKS &&
           fscanf(in, "%" SCNu64 " %d %d", &seq[acked], &who[acked], &idx[acked]) == 3)
        acked++;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(in);
    CHECK_EQ_INT(acked, CRASH_ACKS);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    weft_journal_t *j = open_at("crash/events.db", NULL);
    weft_journal_stream_t *s = stream_of(j, "b");
    uint64_t latest = weft_journal_latest(s);
    static uint64_t seqs[CRASH_ACKS * 4];
    static char *datas[CRASH_ACKS * 4];
    size_t max = sizeof seqs / sizeof seqs[0];
    size_t n = read_all(s, 0, seqs, datas, max);
    int gaps = 0, missing = 0;
    for (size_t i = 0; i < n && i < max; i++)
        if (seqs[i] != i + 1)
            gaps++;
    for (int a = 0; a < acked; a++) {
        char want[64];
        snprintf(want, sizeof want, "c%d-%d", who[a], idx[a]);
        if (seq[a] < 1 || seq[a] > n || seq[a] > max || strcmp(datas[seq[a] - 1], want) != 0)
            missing++;
    }
    printf("kill -9: %d acknowledged, %zu in the journal after restart (latest %" PRIu64
           "), %d missing, %d gaps\n",
           acked, n, latest, missing, gaps);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(gaps, 0);
    CHECK_EQ_INT(latest, n);
    for (size_t i = 0; i < n && i < max; i++)
        free(datas[i]);
    /* The journal goes on after the last record that made it. */
    CHECK_EQ_INT(append1(s, "after", NULL).seq, n + 1);
    weft_journal_close(j);
}

static void timed_out(int sig) {
    static const char msg[] = "journal_test: no progress for 120 s: an append or a wait never "
                              "completed\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(1);
    _exit(1);
}

#define TEST(name)                                                                                 \
    { #name, name }
static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
    TEST(test_records_come_back_as_appended_and_after_reopening),
    TEST(test_a_journal_is_opened_by_one_owner_and_only_if_it_is_one),
    TEST(test_bad_arguments_are_refused_with_what_is_wrong),
    TEST(test_a_batch_that_does_not_fit_leaves_nothing_and_fails_alone),
    TEST(test_an_async_append_keeps_a_copy_of_what_it_was_given),
    TEST(test_a_key_the_stream_holds_is_stored_once_until_trimmed),
    TEST(test_trimmed_keys_give_their_memory_back),
    TEST(test_positions_survive_a_restart_and_deletion_forgets_them),
    TEST(test_retention_deletes_only_old_records_every_consumer_finished),
    TEST(test_concurrent_appends_are_all_there_once_without_gaps),
    TEST(test_readers_are_woken_by_commits_not_by_polling),
    TEST(test_appends_beyond_the_queue_bound_are_refused_not_queued),
    TEST(test_kill_9_loses_no_acknowledged_record),
};

/* journal_test [WORD]: the tests whose name holds WORD (all without it). */
int main(int argc, char **argv) {
    signal(SIGALRM, timed_out);
    alarm(120);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/weft-journal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (argc < 2 || strstr(tests[i].name, argv[1]))
            tests[i].run();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
