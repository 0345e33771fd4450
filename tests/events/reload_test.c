/* Reloading (events.h: weft_events_prepare / commit / discard) while events flow: a
 * configuration that changes a trigger's filter, removes a trigger and adds one,
 * committed while a thread ingests without pause. Every event accepted reaches the kept
 * trigger's target at least once when both filters pass it, and none that only the old
 * filter passes and that was ingested after the commit; the added trigger gets what
 * follows the commit; the removed trigger's position is forgotten (brought back with
 * from = "earliest", it starts from the first event again); the old configuration is
 * released once handed over; a prepare that fails changes nothing; weft_events_free
 * during a hand-over returns. */
#include "events/evtest.h"

/* ---- Ingest without pause ----------------------------------------------------------------- */

#define MAX_SENT 20000

typedef struct flow {
    weft_events_t *ev;
    pthread_t thread;
    atomic_int stop;
    atomic_int n;              /* events accepted so far: ids n0, n1, ... */
    atomic_int mark;           /* n when the commit returned */
    unsigned status[MAX_SENT]; /* each one's answer */
} flow_t;

/* Even ids are type t1, odd ones t2. */
static void *flow_main(void *arg) {
    flow_t *f = arg;
    for (int i = 0; i < MAX_SENT && !f->stop; i++) {
        char id[32];
        snprintf(id, sizeof id, "n%d", i);
        f->status[i] = ev_send(f->ev, "orders", id, i % 2 ? "t2" : "t1");
        f->n = i + 1;
    }
    return NULL;
}

static atomic_int released[8];
static void on_release(void *arg) {
    released[(intptr_t)arg]++;
}

static const char *v1 = "[[broker]]\nname = \"orders\"\n"
                        "[[target]]\nname = \"keep\"\nurl = \"http://127.0.0.1:%d/\"\n"
                        "[[target]]\nname = \"gone\"\nurl = \"http://127.0.0.1:%d/\"\n"
                        "[[trigger]]\nname = \"kept\"\nbroker = \"orders\"\ntarget = \"keep\"\n"
                        "filters = [{ prefix = { type = \"t\" } }]\n"
                        "[[trigger]]\nname = \"removed\"\nbroker = \"orders\"\ntarget = \"gone\"\n"
                        "from = \"earliest\"\n";

/* v2: kept only takes t1 (its filter on line 6), removed is gone, added is new. */
static const char *v2 = "[[broker]]\nname = \"orders\"\n"
                        "[[target]]\nname = \"keep\"\nurl = \"http://127.0.0.1:%d/\"\n"
                        "[[target]]\nname = \"new\"\nurl = \"http://127.0.0.1:%d/\"\n"
                        "[[trigger]]\nname = \"kept\"\nbroker = \"orders\"\ntarget = \"keep\"\n"
                        "filters = [{ exact = { type = \"t1\" } }]\n"
                        "[[trigger]]\nname = \"added\"\nbroker = \"orders\"\ntarget = \"new\"\n";

static weft_events_conf_t *prepare(weft_events_t *ev, weft_app_t *app, intptr_t which,
                                   weft_error_t *err) {
    weft_events_config_t cfg = {.app = app, .release = on_release, .release_arg = (void *)which};
    weft_events_conf_t *conf = NULL;
    if (weft_events_prepare(ev, &cfg, &conf, err))
        return NULL;
    return conf;
}

static bool wait_released(int which, unsigned ms) {
    for (unsigned t = 0; t < ms && !released[which]; t += 10)
        ev_sleep_ms(10);
    return released[which] == 1;
}

int main(void) {
    ev_sink_t *keep = ev_sink_start(), *gone = ev_sink_start(), *fresh = ev_sink_start();
    keep->delay_ms = 20; /* deliveries under way at the commit */
    char dir[64] = "";
    weft_app_t *app1 = ev_app(dir, v1, keep->port, gone->port);
    CHECK(app1 != NULL);
    if (!app1)
        return TEST_DONE();
    weft_events_config_t cfg = {.app = app1, .release = on_release, .release_arg = (void *)1};
    weft_events_t *ev = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_events_create(&cfg, &ev, &err), 0);
    CHECK_EQ_INT(weft_events_start(ev, &err), 0);

    flow_t *f = calloc(1, sizeof *f);
    f->ev = ev;
    pthread_create(&f->thread, NULL, flow_main, f);
    while (f->n < 200)
        ev_sleep_ms(10);

    /* A prepare that fails changes nothing: a CESQL filter that does not parse (its
     * line named), a state folder other than the running one. */
    weft_app_t *bad = ev_app(dir,
                             "[[broker]]\nname = \"orders\"\n"
                             "[[target]]\nname = \"keep\"\nurl = \"http://127.0.0.1:%d/\"\n"
                             "[[trigger]]\nname = \"kept\"\nbroker = \"orders\"\n"
                             "target = \"keep\"\nfilters = [{ cesql = \"type = \" }]\n",
                             keep->port);
    CHECK(bad != NULL);
    CHECK(prepare(ev, bad, 5, &err) == NULL);
    CHECK_EQ_INT(err.code, WEFT_EINVAL);
    CHECK(strstr(err.msg, "weft.toml:10") != NULL);
    CHECK_EQ_INT(released[5], 1); /* its config released */
    char other[64] = "";
    weft_app_t *elsewhere = ev_app(other, "[[broker]]\nname = \"orders\"\n");
    CHECK(prepare(ev, elsewhere, 6, &err) == NULL);
    CHECK_EQ_INT(err.code, WEFT_ECONFIG);
    CHECK(strstr(err.msg, "state_dir") != NULL);
    CHECK_EQ_INT(released[6], 1);
    /* Still v1: removed still there, kept still taking t2. */
    weft_buf_t d = {0};
    CHECK_EQ_INT(weft_events_describe(ev, &d, &err), 0);
    CHECK(strstr((char *)d.data, "\"removed\"") != NULL);
    weft_buf_free(&d);

    /* v2, discarded once, then committed with events flowing. */
    weft_app_t *app2 = ev_app(dir, v2, keep->port, fresh->port);
    CHECK(app2 != NULL);
    weft_events_conf_t *conf = prepare(ev, app2, 7, &err);
    CHECK(conf != NULL);
    weft_events_discard(conf);
    CHECK_EQ_INT(released[7], 1);
    conf = prepare(ev, app2, 2, &err);
    CHECK(conf != NULL);
    if (!conf)
        return TEST_DONE();
    int before = f->n;
    weft_events_commit(ev, conf);
    f->mark = f->n + 1;             /* the one being sent may have been read by v1's trigger */
    CHECK(wait_released(1, 20000)); /* v1 handed over */
    while (f->n < before + 400)
        ev_sleep_ms(10);
    f->stop = 1;
    pthread_join(f->thread, NULL);
    int sent = f->n, mark = f->mark;

    /* The kept trigger: every t1 at least once; no t2 ingested after the commit. */
    CHECK(ev_sink_wait(keep, (size_t)(sent / 2), 30000));
    ev_sleep_ms(200);
    int lost = 0, late = 0, refused = 0;
    for (int i = 0; i < sent; i++) {
        char id[32];
        snprintf(id, sizeof id, "n%d", i);
        if (f->status[i] != 202) {
            refused++;
            continue;
        }
        size_t k = ev_sink_count(keep, id);
        if (i % 2 == 0 && k == 0)
            lost++;
        if (i % 2 == 1 && i > mark && k > 0)
            late++;
    }
    CHECK_EQ_INT(refused, 0);
    CHECK_EQ_INT(lost, 0);
    CHECK_EQ_INT(late, 0);
    /* The added trigger starts at the commit: everything after it. */
    int missing = 0;
    CHECK(ev_sink_wait(fresh, (size_t)(sent - mark), 30000));
    for (int i = mark; i < sent; i++) {
        char id[32];
        snprintf(id, sizeof id, "n%d", i);
        missing += ev_sink_count(fresh, id) == 0;
    }
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(ev_sink_count(fresh, "n0"), 0);
    /* The counts carried: kept's deliveries since the start. */
    CHECK_EQ_INT(weft_events_describe(ev, &d, &err), 0);
    CHECK(strstr((char *)d.data, "\"removed\"") == NULL);
    CHECK(strstr((char *)d.data, "\"added\"") != NULL);
    weft_buf_free(&d);

    /* removed comes back, from earliest: its position was forgotten, so n0 again. */
    size_t gone_n0 = ev_sink_count(gone, "n0");
    CHECK_EQ_INT(gone_n0, 1);
    weft_app_t *app3 = ev_app(dir, v1, keep->port, gone->port);
    conf = prepare(ev, app3, 3, &err);
    CHECK(conf != NULL);
    weft_events_commit(ev, conf);
    CHECK(wait_released(2, 20000));
    for (int t = 0; t < 3000 && ev_sink_count(gone, "n0") < 2; t += 10)
        ev_sleep_ms(10);
    CHECK_EQ_INT(ev_sink_count(gone, "n0"), 2);

    /* weft_events_free during a hand-over: deliveries of seconds under way. */
    keep->delay_ms = 5000;
    CHECK_EQ_INT(ev_send(ev, "orders", "slow", "t1"), 202);
    ev_sleep_ms(100);
    weft_app_t *app4 = ev_app(dir, v2, keep->port, fresh->port);
    conf = prepare(ev, app4, 4, &err);
    CHECK(conf != NULL);
    weft_events_commit(ev, conf);
    uint64_t t0 = weft_now_ns();
    weft_events_free(ev);
    CHECK(weft_now_ns() - t0 < 3000000000ull);
    CHECK_EQ_INT(released[3], 1);
    CHECK_EQ_INT(released[4], 1);

    free(f);
    weft_app_free(app1);
    weft_app_free(bad);
    weft_app_free(elsewhere);
    weft_app_free(app2);
    weft_app_free(app3);
    weft_app_free(app4);
    ev_sink_stop(keep);
    ev_sink_stop(gone);
    ev_sink_stop(fresh);
    ev_rmdir(dir);
    ev_rmdir(other);
    return TEST_DONE();
}
