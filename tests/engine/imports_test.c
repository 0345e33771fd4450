/* Import providers: the engine holds WEFT_MAX_PROVIDERS tables of host functions and as
 * many loaders; one more is an error its caller sees, with a message that names what
 * was refused, never a table dropped without a word. */
#include <stdio.h>

#include "engine/engine.h"
#include "test.h"

#define N (WEFT_MAX_PROVIDERS + 1)

static char names[N][16];
static weft_import_def_t defs[N];

static int load_nothing(weft_error_t *err) {
    (void)err;
    return 0;
}

static void test_a_full_provider_table_is_an_error(void) {
    weft_error_t err = {0};
    for (int i = 0; i < WEFT_MAX_PROVIDERS; i++)
        CHECK_EQ_INT(weft_engine_provide(&defs[i], 1, &err), 0);
    CHECK(weft_engine_find_import(names[WEFT_MAX_PROVIDERS - 1], "f") ==
          &defs[WEFT_MAX_PROVIDERS - 1]);

    CHECK_EQ_INT(weft_engine_provide(&defs[N - 1], 1, &err), WEFT_ELIMIT);
    CHECK_EQ_INT(err.code, WEFT_ELIMIT);
    CHECK(strstr(err.msg, names[N - 1]) != NULL);
    CHECK(strstr(err.msg, "WEFT_MAX_PROVIDERS") != NULL);
    CHECK(weft_engine_find_import(names[N - 1], "f") == NULL);

    /* A table already held is no new entry, full or not. */
    CHECK_EQ_INT(weft_engine_provide(&defs[0], 1, NULL), 0);
}

static void test_a_full_loader_table_is_an_error(void) {
    weft_error_t err = {0};
    for (int i = 0; i < WEFT_MAX_PROVIDERS; i++)
        CHECK_EQ_INT(weft_engine_provide_loader(names[i], load_nothing, &err), 0);
    CHECK_EQ_INT(weft_engine_provide_loader("one-too-many", load_nothing, &err), WEFT_ELIMIT);
    CHECK_EQ_INT(err.code, WEFT_ELIMIT);
    CHECK(strstr(err.msg, "one-too-many") != NULL);
    CHECK(strstr(err.msg, "WEFT_MAX_PROVIDERS") != NULL);
}

int main(void) {
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "provider%d", i);
        defs[i] = (weft_import_def_t){names[i], "f", ":"};
    }
    test_a_full_provider_table_is_an_error();
    test_a_full_loader_table_is_an_error();
    return TEST_DONE();
}
