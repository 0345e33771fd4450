/* The metrics registry (util.h, "Metrics"): counts from many threads, some of which end
 * before the scrape, sum exactly; a histogram's buckets are cumulative and "le" is
 * inclusive; the same name and labels give the same series; label values are escaped;
 * the exposition groups a family under one HELP and TYPE. */
#include <pthread.h>
#include <stdlib.h>

#include "test.h"
#include "util/util.h"

static weft_metric_t counted = {.name = "test_counted_total",
                                .help = "counted by every thread",
                                .type = WEFT_METRIC_COUNTER,
                                .labels = "kind=\"a\""};
static weft_metric_t counted_b = {.name = "test_counted_total",
                                  .help = "counted by every thread",
                                  .type = WEFT_METRIC_COUNTER,
                                  .labels = "kind=\"b\""};
static weft_metric_t timed = {
    .name = "test_duration_seconds", .help = "durations", .type = WEFT_METRIC_HISTOGRAM};
static weft_metric_t listed = {
    .name = "test_listed_total", .help = "listed, never counted", .type = WEFT_METRIC_COUNTER};

static uint64_t read_seven(void) {
    return 7;
}
static weft_metric_t read_gauge = {
    .name = "test_read", .help = "read at scrape", .type = WEFT_METRIC_GAUGE, .read = read_seven};

#define THREADS 8
#define COUNTS 10000

static void *count_main(void *arg) {
    (void)arg;
    for (int i = 0; i < COUNTS; i++) {
        weft_metric_add(&counted, 1);
        if (i % 2)
            weft_metric_add(&counted_b, 2);
    }
    return NULL;
}

/* The line of series in text ("name{labels} value"), its value; -1 when absent. */
static long long value_of(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return atoll(p + n + 1);
    return -1;
}

static char *render(void) {
    weft_buf_t b = {0};
    CHECK_EQ_INT(weft_metrics_render(&b), 0);
    return (char *)b.data;
}

static void test_counts_of_threads_that_ended_are_kept(void) {
    pthread_t t[THREADS];
    weft_metric_add(&counted, 5); /* this thread first: it keeps a block of its own */
    /* Two waves: the second's threads take over the first's blocks, counts and all. */
    for (int wave = 0; wave < 2; wave++) {
        for (int i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, count_main, NULL);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
    }
    char *text = render();
    CHECK_EQ_INT(value_of(text, "test_counted_total{kind=\"a\"}"), 2 * THREADS * COUNTS + 5);
    CHECK_EQ_INT(value_of(text, "test_counted_total{kind=\"b\"}"), 2 * THREADS * COUNTS);
    /* One HELP for the family, its two series after it. */
    const char *help = strstr(text, "# HELP test_counted_total counted by every thread\n"
                                    "# TYPE test_counted_total counter\n"
                                    "test_counted_total{kind=\"a\"} ");
    CHECK(help != NULL);
    CHECK(help && strstr(help, "\ntest_counted_total{kind=\"b\"} "));
    CHECK(help && !strstr(help + 1, "# HELP test_counted_total"));
    free(text);
}

static void test_histogram_buckets_are_cumulative(void) {
    weft_metric_observe_ns(&timed, 500000);      /* le 0.0005 exactly */
    weft_metric_observe_ns(&timed, 500001);      /* le 0.001 */
    weft_metric_observe_ns(&timed, 3000000);     /* le 0.005 */
    weft_metric_observe_ns(&timed, 20000000000); /* past 10: +Inf only */
    char *text = render();
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"0.0005\"}"), 1);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"0.001\"}"), 2);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"0.0025\"}"), 2);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"0.005\"}"), 3);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"10\"}"), 3);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_bucket{le=\"+Inf\"}"), 4);
    CHECK_EQ_INT(value_of(text, "test_duration_seconds_count"), 4);
    CHECK(strstr(text, "\ntest_duration_seconds_sum 20.004000001\n") != NULL);
    CHECK(strstr(text, "# TYPE test_duration_seconds histogram\n") != NULL);
    free(text);
}

static void test_series_listed_and_read(void) {
    CHECK(weft_metric_register(&listed));
    CHECK(weft_metric_register(&read_gauge));
    weft_metric_t *a =
        weft_metric_series("test_made_total", "made", WEFT_METRIC_COUNTER, "route=\"/x\"", NULL);
    weft_metric_t *b =
        weft_metric_series("test_made_total", "made", WEFT_METRIC_COUNTER, "route=\"/x\"", NULL);
    CHECK(a != NULL && a == b);
    weft_metric_add(a, 3);
    weft_metric_add(b, 4);
    char *text = render();
    CHECK_EQ_INT(value_of(text, "test_listed_total"), 0);
    CHECK_EQ_INT(value_of(text, "test_read"), 7);
    CHECK_EQ_INT(value_of(text, "test_made_total{route=\"/x\"}"), 7);
    free(text);
}

static void test_label_values_are_escaped(void) {
    char out[64] = "";
    CHECK(weft_metric_label(out, sizeof out, "route", "/a\"b\\c\nd"));
    CHECK_EQ_STR(out, "route=\"/a\\\"b\\\\c\\nd\"");
    CHECK(weft_metric_label(out, sizeof out, "code_class", "2xx"));
    CHECK_EQ_STR(out, "route=\"/a\\\"b\\\\c\\nd\",code_class=\"2xx\"");
    char small[8] = "";
    CHECK(!weft_metric_label(small, sizeof small, "route", "/too-long"));
}

int main(void) {
    test_counts_of_threads_that_ended_are_kept();
    test_histogram_buckets_are_cumulative();
    test_series_listed_and_read();
    test_label_values_are_escaped();
    return TEST_DONE();
}
