/* weft.toml's grants of services to a function (key_value_stores, blob_containers,
 * document_collections, publish) and [server] token: read into the app model, and every
 * mistake refused with FILE:LINE: and what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "test.h"

static weft_app_t *parse(const char *text, weft_error_t *err) {
    weft_app_t *app = NULL;
    memset(err, 0, sizeof *err);
    if (weft_app_parse(text, strlen(text), "weft.toml", "/srv/app", WEFT_APP_WEFT, &app, err))
        return NULL;
    return app;
}

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

#define FN "[[function]]\nname = \"f\"\nsource = \"f.wasm\"\n" /* lines 1-3 */
#define BROKER "[[broker]]\nname = \"blobs\"\n"

int main(void) {
    weft_error_t err;
    weft_app_t *app = parse(FN "key_value_stores = [\"default\", \"cache.v2\"]\n"
                               "blob_containers = [\"uploads\", \"c\"]\n"
                               "document_collections = [\"results\"]\n"
                               "publish = [\"blobs\"]\n"
                               "[server]\ntoken = \"s3cr3t-t0ken/+=\"\n" BROKER,
                            &err);
    CHECK(app != NULL);
    if (!app) {
        fprintf(stderr, "%s\n", err.msg);
        return TEST_DONE();
    }
    const weft_app_grants_t *g = &app->functions[0].grants;
    CHECK_EQ_INT(g->nkv, 2);
    CHECK_EQ_STR(g->kv[0], "default");
    CHECK_EQ_STR(g->kv[1], "cache.v2");
    CHECK(g->kv[2] == NULL);
    CHECK_EQ_INT(g->nblob, 2);
    CHECK_EQ_STR(g->blob[1], "c");
    CHECK_EQ_INT(g->ndoc, 1);
    CHECK_EQ_STR(g->doc[0], "results");
    CHECK_EQ_INT(g->npublish, 1);
    CHECK_EQ_STR(g->publish[0], "blobs");
    CHECK_EQ_STR(app->token, "s3cr3t-t0ken/+=");
    char *stores = weft_app_stores_path(app);
    CHECK_EQ_STR(stores, "/srv/app/.weft/stores");
    free(stores);
    weft_app_free(app);

    /* Nothing granted: empty lists, no token. */
    app = parse(FN, &err);
    CHECK(app && app->functions[0].grants.nkv == 0 && app->functions[0].grants.kv == NULL &&
          app->functions[0].grants.npublish == 0 && app->token == NULL);
    weft_app_free(app);

    REFUSED(FN "key_value_stores = \"default\"\n",
            "weft.toml:4: 'key_value_stores' in [[function]] 'f' must be an array of strings, "
            "not a string");
    REFUSED(FN "key_value_stores = [\"a b\"]\n",
            "weft.toml:4: 'key_value_stores' in [[function]] 'f': 'a b' may hold only letters, "
            "digits, '-', '_' and '.' (at most 128 of them)");
    REFUSED(FN "document_collections = [\"x\", \"x\"]\n",
            "weft.toml:4: 'document_collections' in [[function]] 'f': 'x' is listed twice");
    REFUSED(FN "blob_containers = [\"Uploads\"]\n",
            "weft.toml:4: 'blob_containers' in [[function]] 'f': 'Uploads' is no container name: "
            "1 to 63 lower-case letters, digits and '-'");
    REFUSED(FN "publish = [\"nope\"]\n" BROKER,
            "weft.toml:4: [[function]] 'f': publish: no [[broker]] is named 'nope'");
    REFUSED(FN "[server]\ntoken = \"has space\"\n",
            "weft.toml:5: [server] token must be 1 to 4096 visible ASCII characters (no spaces)");
    REFUSED(FN "[server]\ntoken = \"\"\n",
            "weft.toml:5: [server] token must be 1 to 4096 visible ASCII characters (no spaces)");
    CHECK(weft_app_token_valid("abc"));
    CHECK(!weft_app_token_valid("a\tb"));
    return TEST_DONE();
}
