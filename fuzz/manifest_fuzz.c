/* libFuzzer target for the manifest loaders (src/app: weft.toml, WAGI's modules.toml,
 * Spin's spin.toml) on top of the TOML parser: what weft_app_parse makes of any text.
 *
 * The input's first byte picks the format (its value modulo 3: weft, WAGI, Spin), the
 * rest is the manifest. It must either load into an app model whose references hold
 * (every index names an element that exists, every name is set, a trigger's target is
 * never NONE, each line is within the text), or be refused with a message that names the
 * manifest ("fuzz.toml:LINE: ...") and leaves no app behind; anything else (a crash, a
 * sanitizer report, a broken invariant) is a finding. How to run: fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static int max_line;

static void check_line(int line) {
    if (line < 0 || line > max_line)
        abort();
}

static void check_ref(const weft_app_t *app, const weft_app_ref_t *r, bool may_be_none) {
    switch (r->kind) {
    case WEFT_APP_REF_NONE:
        if (!may_be_none)
            abort();
        break;
    case WEFT_APP_REF_TARGET:
        if (r->index >= app->ntargets)
            abort();
        break;
    case WEFT_APP_REF_FUNCTION:
        if (r->index >= app->nfunctions)
            abort();
        break;
    default:
        abort();
    }
    check_line(r->line);
}

static void check_app(const weft_app_t *app) {
    if (!app->path || !app->dir)
        abort();
    for (size_t i = 0; i < app->nfunctions; i++)
        if (!app->functions[i].name)
            abort();
    for (size_t i = 0; i < app->nroutes; i++) {
        const weft_app_route_t *r = &app->routes[i];
        if (!r->path || (r->function != SIZE_MAX && r->function >= app->nfunctions))
            abort();
        check_line(r->line);
    }
    for (size_t i = 0; i < app->nbrokers; i++) {
        const weft_app_broker_t *b = &app->brokers[i];
        if (!b->name || strlen(b->name) > WEFT_APP_MAX_NAME || !b->max_deliveries)
            abort();
        check_line(b->line);
    }
    for (size_t i = 0; i < app->ntargets; i++) {
        const weft_app_target_t *t = &app->targets[i];
        if (!t->name || (!t->url && t->function >= app->nfunctions))
            abort();
        check_line(t->line);
    }
    for (size_t i = 0; i < app->ntriggers; i++) {
        const weft_app_trigger_t *t = &app->triggers[i];
        if (!t->name || strlen(t->name) > WEFT_APP_MAX_NAME || t->broker >= app->nbrokers ||
            (t->nfilters && !t->filters))
            abort();
        check_ref(app, &t->target, false);
        check_ref(app, &t->delivery.dead_letter, true);
        if (!t->delivery.parallelism || t->delivery.parallelism > WEFT_APP_MAX_PARALLELISM)
            abort();
        check_line(t->line);
    }
    for (size_t i = 0; i < app->nredis_triggers; i++) {
        const weft_app_redis_trigger_t *r = &app->redis_triggers[i];
        if (!r->address || !r->channel || r->function >= app->nfunctions)
            abort();
        check_line(r->line);
    }
    for (size_t i = 0; i < app->nsources; i++) {
        const weft_app_source_t *s = &app->sources[i];
        if (!s->address || !s->channel || s->broker >= app->nbrokers)
            abort();
        check_line(s->line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    static const weft_app_format_t formats[] = {WEFT_APP_WEFT, WEFT_APP_WAGI, WEFT_APP_SPIN};
    weft_app_format_t format = formats[data[0] % 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    max_line = 1;
    for (size_t i = 0; i < len; i++)
        max_line += text[i] == '\n';
    weft_app_t *app = NULL;
    weft_error_t err = {0};
    int rc = weft_app_parse(text, len, "fuzz.toml", "/fuzz", format, &app, &err);
    if (rc == 0) {
        if (!app || app->format != format)
            abort();
        check_app(app);
        weft_app_free(app);
    } else if (app || strncmp(err.msg, "fuzz.toml", 9) != 0) {
        abort();
    }
    return 0;
}
