/* One channel message to a function (weft_function_message): a module exporting Spin
 * 1's handle-redis-message gets the payload through it (tests/guests/spin_redis.c, the
 * canonical ABI by hand), and its answer counts as Spin counts it: ok(()) and
 * err(success) handled, err(error), a trap and a record out of bounds not; any other
 * module (tests/guests/redis_stdin.c) gets the payload on stdin and REDIS_CHANNEL, and
 * a non-zero exit is not handled. What either prints reaches on_stderr, line by line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoke/invoke.h"
#include "test.h"

static char lines[4096];

static void on_line(void *arg, const char *line, size_t len) {
    (void)arg;
    size_t n = strlen(lines);
    snprintf(lines + n, sizeof lines - n, "%.*s\n", (int)len, line);
}

/* Sends payload on channel to f: whether it was handled; its lines in `lines`. */
static bool send(weft_function_t *f, const char *channel, const char *payload,
                 weft_call_end_t *end) {
    lines[0] = 0;
    weft_message_t msg = {channel, (const uint8_t *)payload, strlen(payload)};
    weft_call_opts_t opts = {.on_stderr = on_line};
    weft_call_outcome_t out;
    weft_error_t err = {0};
    bool handled = true;
    CHECK_EQ_INT(weft_function_message(f, &msg, &opts, &out, &handled, &err), 0);
    if (end)
        *end = out.end;
    return handled;
}

static weft_function_t *load(const char *name, const char *guest, weft_app_executor_t ex,
                             weft_app_function_t *def, char *path, size_t size) {
    snprintf(path, size, "%s/%s", getenv("GUESTS"), guest);
    *def = (weft_app_function_t){.name = (char *)name,
                                 .source = path,
                                 .wasm = path,
                                 .entrypoint = "_start",
                                 .timeout_ns = 10000000000ull,
                                 .executor = ex,
                                 .spin = ex == WEFT_APP_EXECUTOR_MESSAGES};
    weft_function_opts_t opts = {.quiet = true};
    weft_function_t *f = NULL;
    weft_error_t err = {0};
    if (weft_function_load(def, &opts, &f, &err))
        fprintf(stderr, "%s: %s\n", guest, err.msg);
    return f;
}

int main(void) {
    setenv("XDG_CACHE_HOME",
           getenv("WEFT_TEST_CACHE") ? getenv("WEFT_TEST_CACHE") : "/tmp/weft-test-cache", 0);
    weft_error_t err = {0};
    if (weft_invoke_init(&err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char p1[4096], p2[4096];
    weft_app_function_t d1, d2;
    weft_function_t *spin =
        load("handler", "spin_redis.wasm", WEFT_APP_EXECUTOR_MESSAGES, &d1, p1, sizeof p1);
    weft_function_t *wasi =
        load("stdin", "redis_stdin.wasm", WEFT_APP_EXECUTOR_CGI, &d2, p2, sizeof p2);
    CHECK(spin && wasi);
    if (!spin || !wasi)
        return TEST_DONE();
    weft_call_end_t end;

    /* Spin's handler: the payload through handle-redis-message, its stdout to the log. */
    CHECK(send(spin, "messages", "hello", &end));
    CHECK_EQ_STR(lines, "spin-redis got [hello] (5 bytes)\n");
    CHECK_EQ_INT(end, WEFT_CALL_RETURNED);
    CHECK(send(spin, "messages", "", NULL));
    CHECK_EQ_STR(lines, "spin-redis got [] (0 bytes)\n");
    CHECK(send(spin, "messages", "success", NULL)); /* err(success): handled, as Spin */
    CHECK(!send(spin, "messages", "fail", NULL));   /* err(error) */
    CHECK(!send(spin, "messages", "badret", NULL)); /* a record out of bounds */
    CHECK(!send(spin, "messages", "trap", &end));
    CHECK_EQ_INT(end, WEFT_CALL_TRAPPED);
    CHECK(send(spin, "messages", "again", NULL)); /* a fresh instance each time */
    CHECK_EQ_STR(lines, "spin-redis got [again] (5 bytes)\n");

    /* Any other module: stdin and REDIS_CHANNEL. */
    CHECK(send(wasi, "orders", "from stdin", &end));
    CHECK_EQ_STR(lines, "wasi-redis got [from stdin] on orders\n");
    CHECK_EQ_INT(end, WEFT_CALL_RETURNED);      /* main returned 0: _start returns */
    CHECK(!send(wasi, "orders", "fail", &end)); /* exit 3 */
    CHECK_EQ_INT(end, WEFT_CALL_EXITED);

    weft_function_release(spin);
    weft_function_release(wasi);
    return TEST_DONE();
}
