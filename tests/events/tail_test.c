/* Tails of a broker's log (events.h: weft_events_tail_*): where a tail starts (after a
 * seq, the earliest retained event, the next one ingested), its CESQL filter, its
 * notify, and what it refuses. */
#include "events/evtest.h"

typedef struct got {
    uint64_t seq[64];
    char json[64][512];
    size_t n;
} got_t;

static void collect(void *arg, uint64_t seq, const char *json, size_t len) {
    got_t *g = arg;
    CHECK_EQ_INT(strlen(json), len);
    CHECK(!strchr(json, '\n'));
    if (g->n < 64) {
        g->seq[g->n] = seq;
        snprintf(g->json[g->n], sizeof g->json[0], "%s", json);
        g->n++;
    }
}

static atomic_int notified;
static void on_notify(void *arg) {
    (void)arg;
    notified++;
}

/* Reads everything the tail has now, into g; returns the records read. */
static long drain(weft_events_tail_t *t, got_t *g) {
    long total = 0, n;
    weft_error_t err = {0};
    while ((n = weft_events_tail_read(t, 2, collect, g, &err)) > 0)
        total += n;
    CHECK_EQ_INT(n, 0);
    return total;
}

int main(void) {
    char dir[64] = "";
    weft_app_t *app = ev_app(dir, "[[broker]]\nname = \"orders\"\n");
    CHECK(app != NULL);
    if (!app)
        return TEST_DONE();
    weft_events_config_t cfg = {.app = app};
    weft_events_t *ev = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_events_create(&cfg, &ev, &err), 0);
    CHECK_EQ_INT(weft_events_start(ev, &err), 0);

    CHECK_EQ_INT(ev_send(ev, "orders", "e1", "a"), 202);
    CHECK_EQ_INT(ev_send(ev, "orders", "e2", "b"), 202);

    /* latest: nothing of what is already there; what comes next, with a notify. */
    weft_events_tail_t *latest = NULL;
    weft_events_tail_opts_t o = {.broker = "orders", .notify = on_notify};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &latest, &err), 0);
    got_t g = {0};
    CHECK_EQ_INT(weft_events_tail_read(latest, 10, collect, &g, &err), 0);
    CHECK_EQ_INT(notified, 0);
    CHECK_EQ_INT(ev_send(ev, "orders", "e3", "a"), 202);
    CHECK(notified >= 1);
    CHECK_EQ_INT(drain(latest, &g), 1);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.seq[0], 3);
    CHECK(strstr(g.json[0], "\"id\":\"e3\"") != NULL);
    CHECK(strstr(g.json[0], "\"data\":{\"n\":\"e3\"}") != NULL);

    /* earliest: everything retained, in order. */
    weft_events_tail_t *all = NULL;
    o = (weft_events_tail_opts_t){.broker = "orders", .earliest = true};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &all, &err), 0);
    got_t ga = {0};
    CHECK_EQ_INT(drain(all, &ga), 3);
    CHECK_EQ_INT(ga.n, 3);
    CHECK(ga.n == 3 && ga.seq[0] == 1 && ga.seq[1] == 2 && ga.seq[2] == 3);
    CHECK(strstr(ga.json[1], "\"type\":\"b\"") != NULL);

    /* after: what follows that seq (an SSE client's Last-Event-ID). */
    weft_events_tail_t *after = NULL;
    o = (weft_events_tail_opts_t){.broker = "orders", .after = 1, .earliest = true};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &after, &err), 0);
    got_t gb = {0};
    CHECK_EQ_INT(drain(after, &gb), 2);
    CHECK(gb.n == 2 && gb.seq[0] == 2 && gb.seq[1] == 3);

    /* A filter: only type a; records read still count those it skips. */
    weft_events_tail_t *filtered = NULL;
    o = (weft_events_tail_opts_t){.broker = "orders", .earliest = true, .filter = "type = 'a'"};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &filtered, &err), 0);
    got_t gf = {0};
    CHECK_EQ_INT(weft_events_tail_read(filtered, 10, collect, &gf, &err), 3);
    CHECK(gf.n == 2 && gf.seq[0] == 1 && gf.seq[1] == 3);

    /* A batch of two: both read, in order. */
    CHECK_EQ_INT(ev_post(ev, "orders", "application/cloudevents-batch+json",
                         "[{\"specversion\":\"1.0\",\"id\":\"e4\",\"source\":\"test\","
                         "\"type\":\"a\"},{\"specversion\":\"1.0\",\"id\":\"e5\",\"source\":"
                         "\"test\",\"type\":\"c\"}]"),
                 202);
    CHECK_EQ_INT(drain(filtered, &gf), 2);
    CHECK(gf.n == 3 && gf.seq[2] == 4);

    /* Closed: no notify any more. */
    weft_events_tail_close(latest);
    int before = notified;
    CHECK_EQ_INT(ev_send(ev, "orders", "e6", "a"), 202);
    CHECK_EQ_INT(notified, before);

    /* Refused: a filter that does not parse (where it says), a broker that is not. */
    weft_events_tail_t *bad = NULL;
    o = (weft_events_tail_opts_t){.broker = "orders", .filter = "type = "};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &bad, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "column") != NULL);
    CHECK(bad == NULL);
    o = (weft_events_tail_opts_t){.broker = "nope"};
    CHECK_EQ_INT(weft_events_tail_open(ev, &o, &bad, &err), WEFT_ENOTFOUND);
    CHECK(strstr(err.msg, "nope") != NULL);

    weft_events_tail_close(all);
    weft_events_tail_close(after);
    weft_events_tail_close(filtered);
    weft_events_free(ev);
    weft_app_free(app);
    ev_rmdir(dir);
    return TEST_DONE();
}
