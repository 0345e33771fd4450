/* A reload whose old trigger has a delivery that outlasts its reload_grace_ns
 * (events.h): the successor waits for the grace, the old delivery is then canceled
 * unacknowledged, and the successor delivers that event again, then what was ingested
 * meanwhile; a third configuration committed during the grace takes over from the
 * first. The first configuration's grace is GRACE_NS. */
#include "events/evtest.h"

/* Short enough for the test command, long enough to see the successor wait. */
#define GRACE_NS (5ull * 1000000000ull)

static atomic_int released[4];
static void on_release(void *arg) {
    released[(intptr_t)arg]++;
}

static const char *manifest = "[[broker]]\nname = \"orders\"\n"
                              "[[target]]\nname = \"keep\"\nurl = \"http://127.0.0.1:%d/\"\n"
                              "[[trigger]]\nname = \"kept\"\nbroker = \"orders\"\n"
                              "target = \"keep\"\ndelivery = { timeout = \"120s\" }\n";

int main(void) {
    ev_sink_t *keep = ev_sink_start();
    char dir[64] = "";
    weft_app_t *app1 = ev_app(dir, manifest, keep->port);
    CHECK(app1 != NULL);
    if (!app1)
        return TEST_DONE();
    weft_events_config_t cfg = {
        .app = app1, .release = on_release, .release_arg = (void *)1, .reload_grace_ns = GRACE_NS};
    weft_events_t *ev = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_events_create(&cfg, &ev, &err), 0);
    CHECK_EQ_INT(weft_events_start(ev, &err), 0);
    CHECK_EQ_INT(ev_send(ev, "orders", "first", "a"), 202);
    CHECK(ev_sink_wait(keep, 1, 10000));

    /* "stuck" is under way (the sink answers in 100 s) when the commit comes. */
    keep->delay_ms = 100000;
    CHECK_EQ_INT(ev_send(ev, "orders", "stuck", "a"), 202);
    ev_sleep_ms(300);
    weft_app_t *app2 = ev_app(dir, manifest, keep->port);
    weft_events_config_t cfg2 = {.app = app2, .release = on_release, .release_arg = (void *)2};
    weft_events_conf_t *conf = NULL;
    CHECK_EQ_INT(weft_events_prepare(ev, &cfg2, &conf, &err), 0);
    uint64_t t0 = weft_now_ns();
    weft_events_commit(ev, conf);
    keep->delay_ms = 0; /* from now on the sink answers at once */
    CHECK_EQ_INT(ev_send(ev, "orders", "meanwhile", "a"), 202);

    /* Nothing is delivered before the grace is over: the successor waits. */
    ev_sleep_ms(2000);
    CHECK_EQ_INT(ev_sink_count(keep, "meanwhile"), 0);
    CHECK_EQ_INT(released[1], 0);
    /* A third configuration meanwhile: the second one's trigger never ran, so the second
     * goes at once, and the third's trigger takes over from the first's. */
    weft_app_t *app3 = ev_app(dir, manifest, keep->port);
    weft_events_config_t cfg3 = {.app = app3, .release = on_release, .release_arg = (void *)3};
    CHECK_EQ_INT(weft_events_prepare(ev, &cfg3, &conf, &err), 0);
    weft_events_commit(ev, conf);
    for (int i = 0; i < 100 && !released[2]; i++)
        ev_sleep_ms(10);
    CHECK_EQ_INT(released[2], 1);
    CHECK_EQ_INT(released[1], 0);
    CHECK_EQ_INT(ev_sink_count(keep, "meanwhile"), 0);
    for (int i = 0; i < 4500 && ev_sink_count(keep, "meanwhile") == 0; i++)
        ev_sleep_ms(10);
    uint64_t waited = weft_now_ns() - t0;
    CHECK(waited >= GRACE_NS);
    CHECK(waited < GRACE_NS + 10000000000ull);
    CHECK_EQ_INT(ev_sink_count(keep, "meanwhile"), 1);
    CHECK(ev_sink_wait(keep, 3, 5000));
    CHECK_EQ_INT(ev_sink_count(keep, "stuck"), 1); /* again, by the successor */
    CHECK_EQ_INT(ev_sink_count(keep, "first"), 1);
    for (int i = 0; i < 500 && !released[1]; i++)
        ev_sleep_ms(10);
    CHECK_EQ_INT(released[1], 1);

    weft_events_free(ev);
    CHECK_EQ_INT(released[3], 1);
    weft_app_free(app1);
    weft_app_free(app2);
    weft_app_free(app3);
    ev_sink_stop(keep);
    ev_rmdir(dir);
    return TEST_DONE();
}
