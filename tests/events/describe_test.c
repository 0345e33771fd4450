/* weft_events_describe (events.h) after known traffic: a broker's stored, latest,
 * ingested and rejected (events, not requests), each trigger's counts (delivered,
 * retried, failed, dead_lettered, filtered_out), position and lag, its filters written
 * back in weft.toml's syntax, and the targets. The targets are sinks of this process
 * (evtest.h): one answering 200, one 503. */
#include <jansson.h>

#include "events/evtest.h"

static json_t *find(json_t *list, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(
        list, i, v) if (!strcmp(json_string_value(json_object_get(v, "name")), name)) return v;
    return NULL;
}

static long long num(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static json_t *describe(weft_events_t *ev) {
    weft_buf_t out = {0};
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_events_describe(ev, &out, &err), 0);
    json_error_t je;
    json_t *root = json_loadb((const char *)out.data, out.len, 0, &je);
    CHECK(root != NULL);
    weft_buf_free(&out);
    return root;
}

/* Waits until every trigger's lag is 0 and its counts add up to the events read. */
static json_t *settled(weft_events_t *ev, long long events) {
    json_t *root = NULL;
    for (int i = 0; i < 1000; i++) {
        json_decref(root);
        root = describe(ev);
        bool done = root != NULL;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(root, "triggers"), k, t) {
            long long finished = num(t, "filtered_out") + num(t, "dead_lettered") +
                                 num(t, "failed") + num(t, "delivered");
            done = done && num(t, "lag") == 0 && finished == events;
        }
        if (done)
            break;
        ev_sleep_ms(20);
    }
    return root;
}

#define EV(id, type)                                                                               \
    "{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"test\",\"type\":\"" type "\"}"

int main(void) {
    ev_sink_t *ok = ev_sink_start(), *bad = ev_sink_start();
    bad->status = 503;
    char dir[64] = "";
    weft_app_t *app = ev_app(
        dir,
        "[[broker]]\nname = \"orders\"\n"
        "[[target]]\nname = \"ok\"\nurl = \"http://127.0.0.1:%d/\"\n"
        "[[target]]\nname = \"bad\"\nurl = \"http://127.0.0.1:%d/x\"\nmode = \"structured\"\n"
        "[[trigger]]\nname = \"all\"\nbroker = \"orders\"\ntarget = \"ok\"\n"
        "[[trigger]]\nname = \"only-a\"\nbroker = \"orders\"\ntarget = \"ok\"\n"
        "filters = [{ exact = { type = \"a\" } }, { any = [{ prefix = { source = \"te\" } }, "
        "{ not = { suffix = { source = \"x\" } } }] }]\n"
        "[[trigger]]\nname = \"to-dl\"\nbroker = \"orders\"\ntarget = \"bad\"\n"
        "filters = [{ cesql = \"type IN ('c', \\\"x\\\\\\\\y\\\")\" }]\n"
        "delivery = { retry = 2, backoff_delay = \"10ms\", dead_letter = \"ok\" }\n"
        "[[trigger]]\nname = \"gives-up\"\nbroker = \"orders\"\ntarget = \"bad\"\n"
        "filters = [{ exact = { type = \"b\" } }]\ndelivery = { retry = 0 }\n",
        ok->port, bad->port);
    CHECK(app != NULL);
    if (!app)
        return TEST_DONE();
    weft_events_config_t cfg = {.app = app};
    weft_events_t *ev = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_events_create(&cfg, &ev, &err), 0);
    CHECK_EQ_INT(weft_events_start(ev, &err), 0);

    /* 5 events accepted in 3 requests; 2 refused in 2 (one not an event, one batch of
     * 2 too large), and one for a broker that is not: no broker's count. */
    CHECK_EQ_INT(ev_send(ev, "orders", "e1", "a"), 202);
    CHECK_EQ_INT(ev_send(ev, "orders", "e2", "b"), 202);
    CHECK_EQ_INT(ev_post(ev, "orders", "application/cloudevents-batch+json",
                         "[" EV("e3", "a") "," EV("e4", "a") "," EV("e5", "c") "]"),
                 202);
    CHECK_EQ_INT(ev_post(ev, "orders", "application/cloudevents+json", "{\"id\":\"x\"}"), 400);
    CHECK_EQ_INT(ev_send(ev, "nope", "e9", "a"), 404);

    json_t *root = settled(ev, 5);
    json_t *b = find(json_object_get(root, "brokers"), "orders");
    CHECK(b != NULL);
    CHECK_EQ_INT(num(b, "stored"), 5);
    CHECK_EQ_INT(num(b, "latest"), 5);
    CHECK_EQ_INT(num(b, "ingested"), 5);
    CHECK_EQ_INT(num(b, "rejected"), 1);

    json_t *triggers = json_object_get(root, "triggers");
    json_t *all = find(triggers, "all"), *a = find(triggers, "only-a");
    json_t *dl = find(triggers, "to-dl"), *gu = find(triggers, "gives-up");
    CHECK(all && a && dl && gu);
    CHECK_EQ_INT(num(all, "delivered"), 5);
    CHECK_EQ_INT(num(all, "filtered_out"), 0);
    CHECK_EQ_INT(num(all, "position"), 5);
    CHECK_EQ_INT(num(all, "lag"), 0);
    CHECK(json_is_null(json_object_get(all, "filter")));
    CHECK(json_is_null(json_object_get(all, "dead_letter")));
    CHECK_EQ_STR(json_string_value(json_object_get(all, "broker")), "orders");
    CHECK_EQ_STR(json_string_value(json_object_get(all, "target")), "ok");

    CHECK_EQ_INT(num(a, "delivered"), 3);
    CHECK_EQ_INT(num(a, "filtered_out"), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(a, "filter")),
                 "{ exact = { type = \"a\" } }, { any = [{ prefix = { source = \"te\" } }, "
                 "{ not = { suffix = { source = \"x\" } } }] }");

    /* e5: 3 attempts to a 503 (2 retries), then the dead letter. */
    CHECK_EQ_INT(num(dl, "delivered"), 0);
    CHECK_EQ_INT(num(dl, "retried"), 2);
    CHECK_EQ_INT(num(dl, "dead_lettered"), 1);
    CHECK_EQ_INT(num(dl, "failed"), 0);
    CHECK_EQ_INT(num(dl, "filtered_out"), 4);
    CHECK_EQ_STR(json_string_value(json_object_get(dl, "dead_letter")), "ok");
    CHECK_EQ_STR(json_string_value(json_object_get(dl, "filter")),
                 "{ cesql = \"type IN ('c', \\\"x\\\\\\\\y\\\")\" }");

    /* e2: one attempt, no dead letter: given up. */
    CHECK_EQ_INT(num(gu, "failed"), 1);
    CHECK_EQ_INT(num(gu, "retried"), 0);
    CHECK_EQ_INT(num(gu, "filtered_out"), 4);

    json_t *targets = json_object_get(root, "targets");
    CHECK_EQ_INT(json_array_size(targets), 2);
    json_t *tb = find(targets, "bad");
    CHECK(tb != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(tb, "mode")), "structured");
    CHECK(strstr(json_string_value(json_object_get(tb, "url")), "/x") != NULL);
    json_decref(root);

    weft_events_free(ev);
    weft_app_free(app);
    ev_sink_stop(ok);
    ev_sink_stop(bad);
    ev_rmdir(dir);
    return TEST_DONE();
}
