/* weft.toml's events half (app/app_events.c, app_channels.c): [[broker]], [[target]],
 * [[trigger]], [[redis_trigger]], [[source]] and [app] state_dir read into the app model, the
 * defaults, and every mistake refused with FILE:LINE: and what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "test.h"

static weft_app_t *parse_in(const char *text, const char *dir, weft_app_format_t format,
                            weft_error_t *err) {
    weft_app_t *app = NULL;
    memset(err, 0, sizeof *err);
    if (weft_app_parse(text, strlen(text), "weft.toml", dir, format, &app, err))
        return NULL;
    return app;
}

static weft_app_t *parse(const char *text, weft_error_t *err) {
    return parse_in(text, "/srv/app", WEFT_APP_WEFT, err);
}

/* The manifest must be refused with exactly this message. */
static void refused(const char *text, const char *msg, int line) {
    weft_error_t err;
    weft_app_t *app = parse(text, &err);
    weft_test_checks++;
    if (app) {
        fprintf(stderr, "%s:%d: accepted, expected \"%s\"\n", __FILE__, line, msg);
        weft_test_failures++;
        weft_app_free(app);
        return;
    }
    if (strcmp(err.msg, msg)) {
        weft_test_failures++;
        fprintf(stderr, "%s:%d: error \"%s\", expected \"%s\"\n", __FILE__, line, err.msg, msg);
    }
}
#define REFUSED(text, msg) refused(text, msg, __LINE__)

/* Prefixes of the manifests below: a function, a broker, and both with a target. */
#define FN "[[function]]\nname = \"transform\"\nsource = \"t.wasm\"\n"      /* lines 1-3 */
#define BROKER "[[broker]]\nname = \"wasm\"\n"                              /* 2 lines */
#define TARGET "[[target]]\nname = \"display\"\nurl = \"http://h:9000/\"\n" /* 3 lines */
#define BASE FN BROKER TARGET                                               /* lines 1-8 */

int main(void) {
    weft_error_t err;

    /* ---- every field ---------------------------------------------------------------- */
    weft_app_t *app =
        parse("[app]\n"                                                                     /* 1 */
              "state_dir = \"/var/lib/shop\"\n"                                             /* 2 */
              "[[function]]\n"                                                              /* 3 */
              "name = \"transform\"\n"                                                      /* 4 */
              "source = \"t.wasm\"\n"                                                       /* 5 */
              "[[function]]\n"                                                              /* 6 */
              "name = \"Sink_v2\"\n"                                                        /* 7 */
              "source = \"s.wasm\"\n"                                                       /* 8 */
              "\n"                                                                          /* 9 */
              "[[broker]]\n"                                                                /* 10 */
              "name = \"wasm\"\n"                                                           /* 11 */
              "retention = \"2h\"\n"                                                        /* 12 */
              "max_event_size = \"64KiB\"\n"                                                /* 13 */
              "[[broker]]\n"                                                                /* 14 */
              "name = \"b-2\"\n"                                                            /* 15 */
              "retention = 60\n"                                                            /* 16 */
              "max_event_size = 2097152\n"                                                  /* 17 */
              "\n"                                                                          /* 18 */
              "[[target]]\n"                                                                /* 19 */
              "name = \"display\"\n"                                                        /* 20 */
              "url = \"https://user@[::1]:9000/sink?x=1\"\n"                                /* 21 */
              "mode = \"structured\"\n"                                                     /* 22 */
              "[[target]]\n"                                                                /* 23 */
              "name = \"dls\"\n"                                                            /* 24 */
              "function = \"transform\"\n"                                                  /* 25 */
              "mode = \"binary\"\n"                                                         /* 26 */
              "\n"                                                                          /* 27 */
              "[[trigger]]\n"                                                               /* 28 */
              "name = \"to-transform\"\n"                                                   /* 29 */
              "broker = \"wasm\"\n"                                                         /* 30 */
              "target = \"transform\"\n"                                                    /* 31 */
              "filters = [{ exact = { type = \"io.wasm.event\" } },\n"                      /* 32 */
              "  { prefix = { source = \"urn:\", subject = \"a\" } },\n"                    /* 33 */
              "  { suffix = { type = \".event\" } },\n"                                     /* 34 */
              "  { any = [{ cesql = \"EXISTS subject\" }, { exact = { x1 = \"y\" } }] },\n" /* 35 */
              "  { not = { all = [{ exact = { id = \"0\" } }] } }]\n"                       /* 36 */
              "delivery = { retry = 3, backoff_policy = \"linear\", backoff_delay = \"1s\", "
              "timeout = \"5s\", dead_letter = \"dls\", retry_after_max = \"30s\", "
              "parallelism = 8 }\n"         /* 37 */
              "from = \"earliest\"\n"       /* 38 */
              "[[trigger]]\n"               /* 39 */
              "broker = \"wasm\"\n"         /* 40 */
              "target = \"display\"\n"      /* 41 */
              "[[trigger]]\n"               /* 42 */
              "broker = \"wasm\"\n"         /* 43 */
              "target = \"display\"\n"      /* 44 */
              "filters = []\n"              /* 45 */
              "[trigger.delivery]\n"        /* 46 */
              "dead_letter = \"Sink_v2\"\n" /* 47 */
              "retry = 0\n"                 /* 48 */
              "backoff_delay = \"0s\"\n"    /* 49 */
              "retry_after_max = 0\n"       /* 50 */
              "[[trigger]]\n"               /* 51 */
              "broker = \"b-2\"\n"          /* 52 */
              "target = \"Sink_v2\"\n",     /* 53 */
              &err);
    CHECK(app != NULL);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return TEST_DONE();
    }
    CHECK_EQ_STR(app->state_dir, "/var/lib/shop");
    CHECK_EQ_INT(app->nbrokers, 2);
    const weft_app_broker_t *b = &app->brokers[0];
    CHECK_EQ_STR(b->name, "wasm");
    CHECK_EQ_INT(b->retention_ns, 2ull * 3600 * 1000000000ull);
    CHECK_EQ_INT(b->max_event_size, 64 << 10);
    CHECK_EQ_INT(b->line, 10);
    b = &app->brokers[1];
    CHECK_EQ_STR(b->name, "b-2");
    CHECK_EQ_INT(b->retention_ns, 60ull * 1000000000ull);
    CHECK_EQ_INT(b->max_event_size, 2 << 20);
    CHECK_EQ_INT(b->line, 14);

    CHECK_EQ_INT(app->ntargets, 2);
    const weft_app_target_t *tg = &app->targets[0];
    CHECK_EQ_STR(tg->name, "display");
    CHECK_EQ_STR(tg->url, "https://user@[::1]:9000/sink?x=1");
    CHECK_EQ_INT(tg->mode, WEFT_APP_MODE_STRUCTURED);
    CHECK_EQ_INT(tg->line, 19);
    tg = &app->targets[1];
    CHECK_EQ_STR(tg->name, "dls");
    CHECK(tg->url == NULL);
    CHECK_EQ_INT(tg->function, 0);
    CHECK_EQ_INT(tg->mode, WEFT_APP_MODE_BINARY);
    CHECK_EQ_INT(tg->line, 23);

    CHECK_EQ_INT(app->ntriggers, 4);
    const weft_app_trigger_t *tr = &app->triggers[0];
    CHECK_EQ_STR(tr->name, "to-transform");
    CHECK(tr->named);
    CHECK_EQ_INT(tr->line, 28);
    CHECK_EQ_INT(tr->broker, 0);
    CHECK_EQ_INT(tr->target.kind, WEFT_APP_REF_FUNCTION);
    CHECK_EQ_INT(tr->target.index, 0);
    CHECK_EQ_INT(tr->target.line, 31);
    CHECK_EQ_INT(tr->from, WEFT_APP_FROM_EARLIEST);
    const weft_app_delivery_t *d = &tr->delivery;
    CHECK_EQ_INT(d->retry, 3);
    CHECK_EQ_INT(d->backoff_policy, WEFT_APP_BACKOFF_LINEAR);
    CHECK_EQ_INT(d->backoff_delay_ns, 1000000000ull);
    CHECK_EQ_INT(d->timeout_ns, 5000000000ull);
    CHECK_EQ_INT(d->dead_letter.kind, WEFT_APP_REF_TARGET);
    CHECK_EQ_INT(d->dead_letter.index, 1);
    CHECK_EQ_INT(d->dead_letter.line, 37);
    CHECK_EQ_INT(d->retry_after_max_ns, 30000000000ull);
    CHECK_EQ_INT(d->parallelism, 8);
    CHECK_EQ_INT(d->line, 37);
    /* The filter tree, in manifest order. */
    CHECK_EQ_INT(tr->nfilters, 5);
    if (tr->nfilters == 5) {
        const weft_app_filter_t *f = tr->filters;
        CHECK_EQ_INT(f[0].kind, WEFT_APP_FILTER_EXACT);
        CHECK_EQ_STR(f[0].attribute, "type");
        CHECK_EQ_STR(f[0].value, "io.wasm.event");
        CHECK_EQ_INT(f[0].line, 32);
        CHECK_EQ_INT(f[0].nchildren, 0);
        /* two attributes in one prefix table: ALL of one PREFIX each */
        CHECK_EQ_INT(f[1].kind, WEFT_APP_FILTER_ALL);
        CHECK_EQ_INT(f[1].line, 33);
        CHECK_EQ_INT(f[1].nchildren, 2);
        if (f[1].nchildren == 2) {
            CHECK_EQ_INT(f[1].children[0].kind, WEFT_APP_FILTER_PREFIX);
            CHECK_EQ_STR(f[1].children[0].attribute, "source");
            CHECK_EQ_STR(f[1].children[0].value, "urn:");
            CHECK_EQ_INT(f[1].children[1].kind, WEFT_APP_FILTER_PREFIX);
            CHECK_EQ_STR(f[1].children[1].attribute, "subject");
            CHECK_EQ_STR(f[1].children[1].value, "a");
            CHECK_EQ_INT(f[1].children[1].line, 33);
        }
        CHECK_EQ_INT(f[2].kind, WEFT_APP_FILTER_SUFFIX);
        CHECK_EQ_STR(f[2].attribute, "type");
        CHECK_EQ_STR(f[2].value, ".event");
        CHECK_EQ_INT(f[2].line, 34);
        CHECK_EQ_INT(f[3].kind, WEFT_APP_FILTER_ANY);
        CHECK_EQ_INT(f[3].line, 35);
        CHECK_EQ_INT(f[3].nchildren, 2);
        if (f[3].nchildren == 2) {
            CHECK_EQ_INT(f[3].children[0].kind, WEFT_APP_FILTER_CESQL);
            CHECK_EQ_STR(f[3].children[0].value, "EXISTS subject");
            CHECK(f[3].children[0].attribute == NULL);
            CHECK_EQ_INT(f[3].children[0].line, 35);
            CHECK_EQ_INT(f[3].children[1].kind, WEFT_APP_FILTER_EXACT);
            CHECK_EQ_STR(f[3].children[1].attribute, "x1");
        }
        CHECK_EQ_INT(f[4].kind, WEFT_APP_FILTER_NOT);
        CHECK_EQ_INT(f[4].line, 36);
        CHECK_EQ_INT(f[4].nchildren, 1);
        if (f[4].nchildren == 1) {
            const weft_app_filter_t *all = &f[4].children[0];
            CHECK_EQ_INT(all->kind, WEFT_APP_FILTER_ALL);
            CHECK_EQ_INT(all->nchildren, 1);
            if (all->nchildren == 1) {
                CHECK_EQ_INT(all->children[0].kind, WEFT_APP_FILTER_EXACT);
                CHECK_EQ_STR(all->children[0].attribute, "id");
                CHECK_EQ_STR(all->children[0].value, "0");
            }
        }
    }

    /* Unnamed triggers: BROKER-TARGET-N, N counting per broker and target. */
    tr = &app->triggers[1];
    CHECK_EQ_STR(tr->name, "wasm-display-1");
    CHECK(!tr->named);
    CHECK_EQ_INT(tr->target.kind, WEFT_APP_REF_TARGET);
    CHECK_EQ_INT(tr->target.index, 0);
    CHECK_EQ_INT(tr->nfilters, 0); /* absent: every event */
    CHECK_EQ_INT(tr->from, WEFT_APP_FROM_LATEST);
    /* delivery absent: every default */
    d = &tr->delivery;
    CHECK_EQ_INT(d->retry, WEFT_APP_DEFAULT_RETRY);
    CHECK_EQ_INT(d->retry, 10);
    CHECK_EQ_INT(d->backoff_policy, WEFT_APP_BACKOFF_EXPONENTIAL);
    CHECK_EQ_INT(d->backoff_delay_ns, 200000000ull);
    CHECK_EQ_INT(d->timeout_ns, 30000000000ull);
    CHECK_EQ_INT(d->dead_letter.kind, WEFT_APP_REF_NONE);
    CHECK_EQ_INT(d->retry_after_max_ns, 60000000000ull);
    CHECK_EQ_INT(d->parallelism, 64);
    CHECK_EQ_INT(d->line, 39);
    tr = &app->triggers[2];
    CHECK_EQ_STR(tr->name, "wasm-display-2");
    CHECK_EQ_INT(tr->nfilters, 0); /* []: every event */
    d = &tr->delivery;
    CHECK_EQ_INT(d->line, 46);
    CHECK_EQ_INT(d->dead_letter.kind, WEFT_APP_REF_FUNCTION);
    CHECK_EQ_INT(d->dead_letter.index, 1);
    CHECK_EQ_INT(d->dead_letter.line, 47);
    CHECK_EQ_INT(d->retry, 0);
    CHECK_EQ_INT(d->backoff_delay_ns, 0);
    CHECK_EQ_INT(d->retry_after_max_ns, 0);
    CHECK_EQ_INT(d->backoff_policy, WEFT_APP_BACKOFF_EXPONENTIAL); /* the rest: defaults */
    CHECK_EQ_INT(d->parallelism, 64);
    /* a function's name made a name: lower case, '_' as '-' */
    tr = &app->triggers[3];
    CHECK_EQ_STR(tr->name, "b-2-sink-v2-1");
    CHECK_EQ_INT(tr->broker, 1);
    CHECK_EQ_INT(tr->target.kind, WEFT_APP_REF_FUNCTION);
    CHECK_EQ_INT(tr->target.index, 1);
    weft_app_free(app);

    /* N counts only the unnamed triggers of the same broker and target: naming another
     * trigger, or adding one elsewhere, does not rename (and so restart) this one. */
    app = parse(BASE "[[broker]]\nname = \"other\"\n"
                     "[[trigger]]\nname = \"first\"\nbroker = \"wasm\"\ntarget = \"display\"\n"
                     "[[trigger]]\nbroker = \"other\"\ntarget = \"display\"\n"
                     "[[trigger]]\nbroker = \"wasm\"\ntarget = \"transform\"\n"
                     "[[trigger]]\nbroker = \"wasm\"\ntarget = \"display\"\n"
                     "[[trigger]]\nbroker = \"wasm\"\ntarget = \"display\"\n",
                &err);
    CHECK(app != NULL);
    if (app && app->ntriggers == 5) {
        CHECK_EQ_STR(app->triggers[0].name, "first");
        CHECK_EQ_STR(app->triggers[1].name, "other-display-1");
        CHECK_EQ_STR(app->triggers[2].name, "wasm-transform-1");
        CHECK_EQ_STR(app->triggers[3].name, "wasm-display-1");
        CHECK_EQ_STR(app->triggers[4].name, "wasm-display-2");
    }
    weft_app_free(app);

    /* ---- defaults -------------------------------------------------------------------- */
    app = parse(BROKER, &err); /* a broker alone is something to serve */
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->nfunctions, 0);
        CHECK_EQ_INT(app->brokers[0].retention_ns, 24ull * 3600 * 1000000000ull);
        CHECK_EQ_INT(app->brokers[0].max_event_size, 1 << 20);
        CHECK_EQ_INT(app->brokers[0].max_deliveries, 10);
        CHECK_EQ_STR(app->state_dir, "/srv/app/.weft"); /* next to the manifest */
        weft_app_free(app);
    }
    app = parse_in(FN, ".", WEFT_APP_WEFT, &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_STR(app->state_dir, ".weft");
        CHECK_EQ_INT(app->nbrokers + app->ntargets + app->ntriggers, 0);
        weft_app_free(app);
    }
    app = parse("[app]\nstate_dir = \"state\"\n" FN, &err); /* relative to the manifest */
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_STR(app->state_dir, "/srv/app/state");
        weft_app_free(app);
    }
    /* A WAGI file has none of it. */
    app = parse_in("[[module]]\nroute = \"/\"\nmodule = \"m.wasm\"\n", "/srv/app", WEFT_APP_WAGI,
                   &err);
    CHECK(app != NULL);
    if (app) {
        CHECK(app->state_dir == NULL);
        CHECK_EQ_INT(app->nbrokers + app->ntargets + app->ntriggers, 0);
        weft_app_free(app);
    }
    weft_error_t werr;
    CHECK(parse_in("[[broker]]\nname = \"wasm\"\n", "/srv/app", WEFT_APP_WAGI, &werr) == NULL);
    CHECK_EQ_STR(werr.msg, "weft.toml:1: no [[module]] tables: nothing to serve");

    /* ---- [app] and [[broker]] mistakes ------------------------------------------------ */
    REFUSED("[app]\nstate_dir = \"\"\n" FN, "weft.toml:2: 'state_dir' in [app] is empty");
    REFUSED("[app]\nstate_dir = 1\n" FN,
            "weft.toml:2: 'state_dir' in [app] must be a string, not an integer");
    REFUSED("[app]\nname = \"x\"\n",
            "weft.toml:1: no functions or brokers declared: nothing to serve");
    REFUSED(BROKER "retension = \"1h\"\n",
            "weft.toml:3: unknown key 'retension' in [[broker]] 'wasm'");
    REFUSED("[[broker]]\nretention = \"1h\"\n", "weft.toml:1: [[broker]] needs a 'name'");
    REFUSED("[[broker]]\nname = \"Wasm\"\n",
            "weft.toml:2: broker name 'Wasm' may hold only lower-case letters, digits and '-', "
            "start and end with a letter or a digit, and be at most 63 characters long");
    REFUSED("[[broker]]\nname = \"a/b\"\n",
            "weft.toml:2: broker name 'a/b' may hold only lower-case letters, digits and '-', "
            "start and end with a letter or a digit, and be at most 63 characters long");
    REFUSED("[[broker]]\nname = \"-a\"\n",
            "weft.toml:2: broker name '-a' may hold only lower-case letters, digits and '-', "
            "start and end with a letter or a digit, and be at most 63 characters long");
    REFUSED("[[broker]]\nname = \"a234567890123456789012345678901234567890123456789012345678901"
            "234\"\n",
            "weft.toml:2: broker name "
            "'a234567890123456789012345678901234567890123456789012345678901234' may hold only "
            "lower-case letters, digits and '-', start and end with a letter or a digit, and be "
            "at most 63 characters long");
    REFUSED(BROKER BROKER, "weft.toml:3: broker 'wasm' is already declared on line 1");
    REFUSED(BROKER "retention = \"soon\"\n",
            "weft.toml:3: 'retention' in [[broker]] 'wasm': 'soon' is not a duration (like "
            "\"30s\" or \"500ms\")");
    REFUSED(BROKER "retention = \"0s\"\n",
            "weft.toml:3: 'retention' in [[broker]] 'wasm' must be longer than zero");
    REFUSED(BROKER "max_event_size = \"1KiB\"\n",
            "weft.toml:3: 'max_event_size' in [[broker]] 'wasm' must be at least 64KiB (an event "
            "of 64 KiB is always accepted), not 1024 bytes");
    REFUSED(BROKER "max_event_size = 65535\n",
            "weft.toml:3: 'max_event_size' in [[broker]] 'wasm' must be at least 64KiB (an event "
            "of 64 KiB is always accepted), not 65535 bytes");
    REFUSED(BROKER "max_event_size = \"65MiB\"\n",
            "weft.toml:3: 'max_event_size' in [[broker]] 'wasm' must be at most 64MiB, not "
            "68157440 bytes");
    REFUSED(BROKER "max_event_size = \"big\"\n",
            "weft.toml:3: 'max_event_size' in [[broker]] 'wasm': 'big' is not a size (like "
            "\"64MiB\")");
    REFUSED("broker = { name = \"x\" }\n",
            "weft.toml:1: 'broker' must be an array of tables ([[broker]])");
    /* max_deliveries: on a shared log only, positive. */
    app = parse(BROKER "backend = \"redis://h\"\nmax_deliveries = 3\n", &err);
    CHECK(app != NULL);
    if (app) {
        CHECK_EQ_INT(app->brokers[0].max_deliveries, 3);
        weft_app_free(app);
    }
    REFUSED(BROKER "max_deliveries = 3\n",
            "weft.toml:3: 'max_deliveries' in [[broker]] 'wasm' is for a broker with a 'backend' "
            "(a log several nodes share, where an event can be taken over from a node that "
            "stopped); the embedded log is read by one process");
    REFUSED(BROKER "backend = \"redis://h\"\nmax_deliveries = 0\n",
            "weft.toml:4: 'max_deliveries' in [[broker]] 'wasm' must be positive");
    REFUSED(BROKER "backend = \"redis://h\"\nmax_deliveries = \"3\"\n",
            "weft.toml:4: 'max_deliveries' in [[broker]] 'wasm' must be an integer, not a string");

    /* ---- [[target]] mistakes ----------------------------------------------------------- */
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h/\"\nmethod = \"PUT\"\n",
            "weft.toml:7: unknown key 'method' in [[target]] 't'");
    REFUSED(FN "[[target]]\nurl = \"http://h/\"\n", "weft.toml:4: [[target]] needs a 'name'");
    REFUSED(FN "[[target]]\nname = \"a b\"\nurl = \"http://h/\"\n",
            "weft.toml:5: target name 'a b' may hold only letters, digits, '-', '_' and '.'");
    REFUSED(FN TARGET TARGET, "weft.toml:7: target 'display' is already declared on line 4");
    REFUSED(FN "[[target]]\nname = \"transform\"\nurl = \"http://h/\"\n",
            "weft.toml:4: target 'transform' has the name of the [[function]] on line 1 (a "
            "trigger's 'target' names either): give it another name");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h/\"\nfunction = \"transform\"\n",
            "weft.toml:4: [[target]] 't' has both a 'url' and a 'function': give one");
    REFUSED(FN "[[target]]\nname = \"t\"\nmode = \"binary\"\n",
            "weft.toml:4: [[target]] 't' needs a 'url' or a 'function'");
    REFUSED(FN "[[target]]\nname = \"t\"\nfunction = \"nope\"\n",
            "weft.toml:6: [[target]] 't': no [[function]] is named 'nope'");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h/\"\nmode = \"json\"\n",
            "weft.toml:7: 'mode' in [[target]] 't': 'json' is not \"binary\" or \"structured\"");
    REFUSED(FN "[[target]]\nname = \"t\"\nfunction = \"transform\"\nmode = \"structured\"\n",
            "weft.toml:7: [[target]] 't': mode \"structured\" is for a 'url'; a function target "
            "is called in binary mode");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"ftp://h/\"\n",
            "weft.toml:6: [[target]] 't': url 'ftp://h/' must start with http:// or https://");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"127.0.0.1:9000\"\n",
            "weft.toml:6: [[target]] 't': url '127.0.0.1:9000' must start with http:// or "
            "https://");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http:///x\"\n",
            "weft.toml:6: [[target]] 't': url 'http:///x' has no host");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://u@:80/\"\n",
            "weft.toml:6: [[target]] 't': url 'http://u@:80/' has no host");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h:99999/\"\n",
            "weft.toml:6: [[target]] 't': url 'http://h:99999/' has an invalid port (1 to 65535)");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h:/\"\n",
            "weft.toml:6: [[target]] 't': url 'http://h:/' has an invalid port (1 to 65535)");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://[::1/\"\n",
            "weft.toml:6: [[target]] 't': url 'http://[::1/' has an IPv6 host without its "
            "closing ']'");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = \"http://h/a b\"\n",
            "weft.toml:6: [[target]] 't': url 'http://h/a b' must hold printable ASCII only, no "
            "spaces (percent-encode the rest)");
    REFUSED(FN "[[target]]\nname = \"t\"\nurl = 9000\n",
            "weft.toml:6: 'url' in [[target]] 't' must be a string, not an integer");

    /* ---- [[trigger]] mistakes ---------------------------------------------------------- */
    REFUSED(BASE "[[trigger]]\nbroker = \"wasm\"\ntarget = \"display\"\nfilter = []\n",
            "weft.toml:12: unknown key 'filter' in [[trigger]]");
    REFUSED(BASE "[[trigger]]\nname = \"t\"\nbroker = \"wasm\"\ntarget = \"display\"\n"
                 "form = \"latest\"\n",
            "weft.toml:13: unknown key 'form' in [[trigger]] 't'");
    REFUSED(BASE "[[trigger]]\nname = \"t\"\ntarget = \"display\"\n",
            "weft.toml:9: [[trigger]] 't' needs a 'broker'");
    REFUSED(BASE "[[trigger]]\nbroker = \"wasm\"\n",
            "weft.toml:9: [[trigger]] needs a 'target' (a [[target]] or a [[function]])");
    REFUSED(BASE "[[trigger]]\nname = \"t\"\nbroker = \"nope\"\ntarget = \"display\"\n",
            "weft.toml:11: [[trigger]] 't': no [[broker]] is named 'nope'");
    REFUSED(BASE "[[trigger]]\nname = \"x\"\nbroker = \"wasm\"\ntarget = \"dls\"\n",
            "weft.toml:12: [[trigger]] 'x': target 'dls' is neither a [[target]] nor a "
            "[[function]]");
    REFUSED(BASE "[[trigger]]\nname = \"Big\"\nbroker = \"wasm\"\ntarget = \"display\"\n",
            "weft.toml:10: trigger name 'Big' may hold only lower-case letters, digits and '-', "
            "start and end with a letter or a digit, and be at most 63 characters long");
    REFUSED(BASE "[[trigger]]\nname = \"t\"\nbroker = \"wasm\"\ntarget = \"display\"\n"
                 "[[trigger]]\nname = \"t\"\nbroker = \"wasm\"\ntarget = \"transform\"\n",
            "weft.toml:13: trigger 't' is already declared on line 9");
    /* an explicit name that an unnamed trigger already has */
    REFUSED(BASE "[[trigger]]\nbroker = \"wasm\"\ntarget = \"display\"\n"
                 "[[trigger]]\nname = \"wasm-display-1\"\nbroker = \"wasm\"\ntarget = "
                 "\"transform\"\n",
            "weft.toml:12: trigger 'wasm-display-1' is already declared on line 9 (an unnamed "
            "trigger is named BROKER-TARGET-N): give one of them a 'name'");
    /* two targets whose names differ only where a default name cannot */
    REFUSED(BROKER "[[target]]\nname = \"a_b\"\nurl = \"http://h/\"\n"
                   "[[target]]\nname = \"a.b\"\nurl = \"http://h/\"\n"
                   "[[trigger]]\nbroker = \"wasm\"\ntarget = \"a_b\"\n"
                   "[[trigger]]\nbroker = \"wasm\"\ntarget = \"a.b\"\n",
            "weft.toml:12: trigger 'wasm-a-b-1' is already declared on line 9 (an unnamed "
            "trigger is named BROKER-TARGET-N): give one of them a 'name'");
    REFUSED("[[broker]]\nname = \"b234567890123456789012345678901234567890\"\n"
            "[[target]]\nname = \"t234567890123456789012345\"\nurl = \"http://h/\"\n"
            "[[trigger]]\nbroker = \"b234567890123456789012345678901234567890\"\n"
            "target = \"t234567890123456789012345\"\n",
            "weft.toml:6: [[trigger]] needs a 'name': its default name "
            "('b234567890123456789012345678901234567890-t234567890123456789012345-N') would be "
            "longer than 63 characters");
    REFUSED(BASE "[[trigger]]\nname = \"t\"\nbroker = \"wasm\"\ntarget = \"display\"\n"
                 "from = \"beginning\"\n",
            "weft.toml:13: 'from' in [[trigger]] 't': 'beginning' is not \"latest\" or "
            "\"earliest\"");
    REFUSED("trigger = 1\n" FN, "weft.toml:1: 'trigger' must be an array of tables ([[trigger]])");

    /* delivery */
#define TRIGGER BASE "[[trigger]]\nname = \"t\"\nbroker = \"wasm\"\ntarget = \"display\"\n"
    REFUSED(TRIGGER "delivery = { retries = 3 }\n",
            "weft.toml:13: unknown key 'delivery.retries' in [[trigger]] 't'");
    REFUSED(TRIGGER "delivery = 3\n",
            "weft.toml:13: 'delivery' in [[trigger]] 't' must be a table like { retry = 3 }, not "
            "an integer");
    REFUSED(TRIGGER "delivery = { retry = -1 }\n",
            "weft.toml:13: 'delivery.retry' in [[trigger]] 't': -1 is out of range");
    REFUSED(TRIGGER "delivery = { retry = 101 }\n",
            "weft.toml:13: 'delivery.retry' in [[trigger]] 't' must be at most 100, not 101");
    REFUSED(TRIGGER "delivery = { retry = \"3\" }\n",
            "weft.toml:13: 'delivery.retry' in [[trigger]] 't' must be an integer, not a string");
    REFUSED(TRIGGER "delivery = { backoff_policy = \"fibonacci\" }\n",
            "weft.toml:13: 'delivery.backoff_policy' in [[trigger]] 't': 'fibonacci' is not "
            "\"exponential\" or \"linear\"");
    REFUSED(TRIGGER "delivery = { backoff_delay = \"PT0.2S\" }\n",
            "weft.toml:13: 'delivery.backoff_delay' in [[trigger]] 't': 'PT0.2S' is not a duration "
            "(like \"30s\" or \"500ms\")");
    REFUSED(TRIGGER "delivery = { timeout = \"0s\" }\n",
            "weft.toml:13: 'delivery.timeout' in [[trigger]] 't' must be longer than zero");
    REFUSED(TRIGGER "delivery = { retry_after_max = true }\n",
            "weft.toml:13: 'delivery.retry_after_max' in [[trigger]] 't' must be a duration like "
            "\"30s\", not a boolean");
    REFUSED(TRIGGER "delivery = { parallelism = 0 }\n",
            "weft.toml:13: 'delivery.parallelism' in [[trigger]] 't' must be positive");
    REFUSED(TRIGGER "delivery = { parallelism = 1025 }\n",
            "weft.toml:13: 'delivery.parallelism' in [[trigger]] 't' must be at most 1024, not "
            "1025");
    REFUSED(TRIGGER "\n[trigger.delivery]\nretry = 1\ndead_letter = \"dls\"\n",
            "weft.toml:16: [[trigger]] 't': dead_letter 'dls' is neither a [[target]] nor a "
            "[[function]]");

    /* filters */
    REFUSED(TRIGGER "filters = { exact = { type = \"a\" } }\n",
            "weft.toml:13: 'filters' in [[trigger]] 't' must be an array of filter tables like "
            "[{ exact = { type = \"...\" } }], not a table");
    REFUSED(TRIGGER "filters = [\"type = 'a'\"]\n",
            "weft.toml:13: [[trigger]] 't': a filter must be a table like { exact = { type = "
            "\"...\" } }, not a string");
    REFUSED(TRIGGER "filters = [{}]\n",
            "weft.toml:13: [[trigger]] 't': empty filter table: it needs one of exact, prefix, "
            "suffix, all, any, not or cesql");
    REFUSED(TRIGGER "filters = [{ exact = {} }]\n",
            "weft.toml:13: [[trigger]] 't': 'exact' names no attribute (an empty filter would "
            "match every event)");
    REFUSED(TRIGGER "filters = [{ prefix = {} }]\n",
            "weft.toml:13: [[trigger]] 't': 'prefix' names no attribute (an empty filter would "
            "match every event)");
    REFUSED(TRIGGER "filters = [{ exact = { type = \"a\" }, prefix = { type = \"b\" } }]\n",
            "weft.toml:13: [[trigger]] 't': a filter table holds one dialect, not both 'exact' "
            "and 'prefix' (combine filters with all = [...])");
    REFUSED(TRIGGER "filters = [{ regex = { type = \"a.*\" } }]\n",
            "weft.toml:13: [[trigger]] 't': unknown filter dialect 'regex' (exact, prefix, "
            "suffix, all, any, not or cesql)");
    REFUSED(TRIGGER "filters = [{ exact = { Type = \"a\" } }]\n",
            "weft.toml:13: [[trigger]] 't': 'Type' in 'exact' is not a CloudEvents attribute "
            "name (1 to 20 lower-case letters or digits)");
    REFUSED(TRIGGER "filters = [{ exact = { content_type = \"a\" } }]\n",
            "weft.toml:13: [[trigger]] 't': 'content_type' in 'exact' is not a CloudEvents "
            "attribute name (1 to 20 lower-case letters or digits)");
    REFUSED(TRIGGER "filters = [{ suffix = { a23456789012345678901 = \"a\" } }]\n",
            "weft.toml:13: [[trigger]] 't': 'a23456789012345678901' in 'suffix' is not a "
            "CloudEvents attribute name (1 to 20 lower-case letters or digits)");
    REFUSED(TRIGGER "filters = [{ exact = { \"\" = \"a\" } }]\n",
            "weft.toml:13: [[trigger]] 't': '' in 'exact' is not a CloudEvents attribute name (1 "
            "to 20 lower-case letters or digits)");
    REFUSED(TRIGGER "filters = [{ exact = { data = \"a\" } }]\n",
            "weft.toml:13: [[trigger]] 't': 'data' in 'exact' is the event's payload, not an "
            "attribute: filters see attributes only");
    REFUSED(TRIGGER "filters = [{ exact = { type = 1 } }]\n",
            "weft.toml:13: [[trigger]] 't': attribute 'type' in 'exact' must be a string, not an "
            "integer");
    REFUSED(TRIGGER "filters = [{ prefix = { type = \"\" } }]\n",
            "weft.toml:13: [[trigger]] 't': attribute 'type' in 'prefix' has an empty value");
    REFUSED(TRIGGER "filters = [{ exact = [\"type\"] }]\n",
            "weft.toml:13: [[trigger]] 't': 'exact' must be a table of attribute = \"value\", not "
            "an array");
    REFUSED(TRIGGER "filters = [{ all = [] }]\n",
            "weft.toml:13: [[trigger]] 't': 'all' holds no filter (it would match every event)");
    REFUSED(TRIGGER "filters = [{ any = [] }]\n",
            "weft.toml:13: [[trigger]] 't': 'any' holds no filter (it would match no event)");
    REFUSED(TRIGGER "filters = [{ any = { exact = { type = \"a\" } } }]\n",
            "weft.toml:13: [[trigger]] 't': 'any' must be an array of filter tables, not a table");
    REFUSED(TRIGGER "filters = [{ not = [{ exact = { type = \"a\" } }] }]\n",
            "weft.toml:13: [[trigger]] 't': 'not' must be a filter table, not an array");
    REFUSED(TRIGGER "filters = [{ not = {} }]\n",
            "weft.toml:13: [[trigger]] 't': empty filter table: it needs one of exact, prefix, "
            "suffix, all, any, not or cesql");
    REFUSED(TRIGGER "filters = [{ cesql = \"  \" }]\n",
            "weft.toml:13: [[trigger]] 't': 'cesql' is empty");
    REFUSED(TRIGGER "filters = [{ cesql = true }]\n",
            "weft.toml:13: [[trigger]] 't': 'cesql' must be a string (an expression), not a "
            "boolean");
    /* deep in a tree, on its own line */
    REFUSED(TRIGGER "filters = [\n  { all = [\n    { any = [{ exact = { type = \"a\" } }] },\n"
                    "    { not = { exact = { 1x = \"\" } } }\n  ] }\n]\n",
            "weft.toml:16: [[trigger]] 't': attribute '1x' in 'exact' has an empty value");
    /* the trigger's derived name in messages after it is known */
    REFUSED(BASE "[[trigger]]\nbroker = \"wasm\"\ntarget = \"display\"\nfilters = [{}]\n",
            "weft.toml:12: [[trigger]] 'wasm-display-1': empty filter table: it needs one of "
            "exact, prefix, suffix, all, any, not or cesql");

    /* ---- Redis channels: [[redis_trigger]] and [[source]] --------------------------------- */
    app = parse(BASE "[[redis_trigger]]\n"                          /* 9 */
                     "address = \"redis://:pw@127.0.0.1:6379\"\n"   /* 10 */
                     "channel = \"messages\"\n"                     /* 11 */
                     "function = \"transform\"\n"                   /* 12 */
                     "[[source]]\n"                                 /* 13 */
                     "type = \"redis\"\n"                           /* 14 */
                     "address = \"redis+unix:///run/redis.sock\"\n" /* 15 */
                     "channel = \"orders\"\n"                       /* 16 */
                     "broker = \"wasm\"\n"                          /* 17 */
                     "[[source]]\n"                                 /* 18 */
                     "type = \"redis\"\n"                           /* 19 */
                     "address = \"redis://h\"\n"                    /* 20 */
                     "channel = \"typed\"\n"                        /* 21 */
                     "broker = \"wasm\"\n"                          /* 22 */
                     "event_type = \"com.example.order\"\n"         /* 23 */
                     "event_source = \"shop\"\n"                    /* 24 */
                     "content_type = \"application/json\"\n",       /* 25 */
                &err);
    CHECK(app != NULL);
    if (!app)
        fprintf(stderr, "channels: %s\n", err.msg);
    if (app) {
        CHECK(app->nredis_triggers == 1 && app->nsources == 2);
        CHECK_EQ_STR(app->redis_triggers[0].address, "redis://:pw@127.0.0.1:6379");
        CHECK_EQ_STR(app->redis_triggers[0].channel, "messages");
        CHECK(app->redis_triggers[0].function == 0 && app->redis_triggers[0].line == 9);
        CHECK_EQ_STR(app->sources[0].event_type, WEFT_APP_REDIS_EVENT_TYPE);
        CHECK(app->sources[0].event_source == NULL && app->sources[0].content_type == NULL);
        CHECK(app->sources[0].broker == 0 && app->sources[0].line == 13);
        CHECK_EQ_STR(app->sources[1].event_type, "com.example.order");
        CHECK_EQ_STR(app->sources[1].event_source, "shop");
        CHECK_EQ_STR(app->sources[1].content_type, "application/json");
        weft_app_free(app);
    }
    REFUSED(BASE "[[redis_trigger]]\nchannel = \"c\"\nfunction = \"transform\"\n",
            "weft.toml:9: [[redis_trigger]] needs an 'address'");
    REFUSED(BASE "[[redis_trigger]]\naddress = \"http://h\"\nchannel = \"c\"\n"
                 "function = \"transform\"\n",
            "weft.toml:9: [[redis_trigger]]: address 'http://h' is not a Redis location "
            "(redis://HOST[:PORT][/DB] or redis+unix:///PATH)");
    REFUSED(BASE "[[redis_trigger]]\naddress = \"redis://h\"\nchannel = \"c\"\n"
                 "function = \"nope\"\n",
            "weft.toml:12: [[redis_trigger]]: no [[function]] is named 'nope'");
    REFUSED(BASE "[[redis_trigger]]\naddress = \"redis://h\"\nchannel = \"\"\n"
                 "function = \"transform\"\n",
            "weft.toml:9: [[redis_trigger]]: the channel is empty or holds a NUL");
    REFUSED(BASE "[[source]]\ntype = \"redis\"\naddress = \"redis://h\"\nchannel = \"c\"\n"
                 "broker = \"wasm\"\nevent_type = \"\"\n",
            "weft.toml:14: [[source]]: 'event_type' is empty");
    REFUSED(BASE "[[source]]\ntype = \"redis\"\naddress = \"redis://h\"\nchannel = \"c\"\n",
            "weft.toml:9: [[source]] needs a 'broker'");
    REFUSED(BASE "[redis_trigger]\naddress = \"redis://h\"\n",
            "weft.toml:9: 'redis_trigger' must be an array of tables ([[redis_trigger]])");
    return TEST_DONE();
}
