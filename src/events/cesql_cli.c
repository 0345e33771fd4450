/* weft cesql [--event FILE] [--] EXPRESSION: try a CESQL expression on an event before
 * it goes into a trigger's filter (cesql.h, weft_cesql_cli). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cesql.h"
#include "codec.h"

/* The exit statuses of cli.h (WEFT_EXIT_ERROR, WEFT_EXIT_USAGE): the events layer does
 * not include the cli's header. */
#define CESQL_EXIT_ERROR 1
#define CESQL_EXIT_USAGE 2

/* The event used without --event: only the required attributes. */
#define CESQL_DEFAULT_ID "1"
#define CESQL_DEFAULT_SOURCE "/weft/cesql"
#define CESQL_DEFAULT_TYPE "weft.cesql.test"

static const char cesql_help[] =
    "usage: weft cesql [--event FILE] [--] EXPRESSION\n"
    "\n"
    "Evaluates a CloudEvents SQL expression (CESQL 1.0, what a trigger's cesql filter\n"
    "holds) against an event and prints its value as JSON: true, 42, \"text\".\n"
    "EXPRESSION is always the last argument, also when it begins with '-'; quote it\n"
    "for the shell: weft cesql \"type LIKE 'io.%' AND EXISTS subject\".\n"
    "\n"
    "options:\n"
    "  --event FILE          the event, in structured-mode JSON (as a body of type\n"
    "                        application/cloudevents+json). Without it, an event with\n"
    "                        only the required attributes: specversion \"1.0\",\n"
    "                        id \"" CESQL_DEFAULT_ID "\", source \"" CESQL_DEFAULT_SOURCE
    "\", type \"" CESQL_DEFAULT_TYPE "\"\n"
    "  -h, --help            this help\n"
    "  --                    ends the options: EXPRESSION may then be spelled like one\n"
    "\n"
    "An attribute is a String, or an Integer or a Boolean when FILE gives it as a JSON\n"
    "number or boolean. A trigger's filter passes an event only when the value is the\n"
    "Boolean true and no error was raised.\n"
    "\n"
    "Exit status: 0 when evaluation raised no error. 1 when it raised one (parse, math,\n"
    "cast, missing attribute, missing function, function evaluation): the value that\n"
    "evaluation yields all the same is printed, and the first error on stderr, with the\n"
    "column of the expression it comes from; 1 also when FILE is no valid event.\n"
    "2 for a usage error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As cli.h's weft_cli_usage_error prints it. */
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft cesql: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'weft cesql --help')\n");
    va_end(ap);
    return CESQL_EXIT_USAGE;
}

/* ---- The event ------------------------------------------------------------------------ */

/* The event of --event FILE: structured-mode JSON, read and checked by the codec
 * (codec.h) as the broker reads a structured event. */
static int read_event(const char *path, weft_ce_t *ev, weft_error_t *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = weft_file_read(path, &bytes, &len, err);
    if (rc)
        return rc;
    if ((rc = weft_ce_json_decode(bytes, len, 0, 0, ev, err)))
        weft_error_prefix(err, "%s", path);
    free(bytes);
    return rc;
}

static int default_event(weft_ce_t *ev) {
    if (weft_ce_set(ev, "specversion", WEFT_CE_SPECVERSION, WEFT_CE_STRING) ||
        weft_ce_set(ev, "id", CESQL_DEFAULT_ID, WEFT_CE_STRING) ||
        weft_ce_set(ev, "source", CESQL_DEFAULT_SOURCE, WEFT_CE_URI_REF) ||
        weft_ce_set(ev, "type", CESQL_DEFAULT_TYPE, WEFT_CE_STRING))
        return WEFT_ENOMEM;
    return 0;
}

/* ---- The command ---------------------------------------------------------------------- */

/* Under a parse error, the expression with a caret at the column, when it fits a line. */
static void show_column(const char *text, const char *msg) {
    unsigned column;
    if (sscanf(msg, "column %u:", &column) != 1 || strlen(text) > 120)
        return;
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return;
    fprintf(stderr, "  %s\n  %*s^\n", text, (int)column - 1, "");
}

int weft_cesql_cli(int argc, char **argv) {
    const char *event_path = NULL;
    bool dashdash = false;
    if (argc < 2)
        return usage_error("missing EXPRESSION");
    int last = argc - 1;
    for (int i = 1; i < last; i++) {
        const char *a = argv[i];
        if (dashdash)
            return usage_error("unexpected argument '%s' after --: EXPRESSION is one argument "
                               "(quote it)",
                               a);
        if (!strcmp(a, "--")) {
            dashdash = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(cesql_help, stdout);
            return 0;
        } else if (!strcmp(a, "--event") || !strncmp(a, "--event=", 8)) {
            if (event_path)
                return usage_error("--event given twice");
            if (a[7] == '=')
                event_path = a + 8;
            else if (i + 1 < last)
                event_path = argv[++i];
            else
                return usage_error("--event needs a FILE, and EXPRESSION comes after it");
            if (!*event_path)
                return usage_error("--event needs a FILE");
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option %s (EXPRESSION, the last argument, may begin "
                               "with '-')",
                               a);
        } else {
            return usage_error("unexpected argument '%s': EXPRESSION is one argument, the last "
                               "(quote it)",
                               a);
        }
    }
    /* A last argument that is one of the options is taken as that option (an expression
     * spelled like one follows --). */
    const char *text = argv[last];
    if (!dashdash && (!strcmp(text, "--help") || !strcmp(text, "-h"))) {
        fputs(cesql_help, stdout);
        return 0;
    }
    if (!dashdash &&
        (!strcmp(text, "--") || !strcmp(text, "--event") || !strncmp(text, "--event=", 8)))
        return usage_error("missing EXPRESSION after %s", text);

    weft_ce_t ev = {0};
    weft_error_t err = {0};
    weft_cesql_t *expr = NULL;
    weft_buf_t json = {0};
    weft_cesql_value_t value = {0};
    weft_cesql_error_t eerr;
    int status = CESQL_EXIT_ERROR;
    if (event_path ? read_event(event_path, &ev, &err) : default_event(&ev)) {
        fprintf(stderr, "weft: %s\n", event_path ? err.msg : "out of memory");
        goto done;
    }
    if (weft_cesql_parse(text, &expr, &err)) {
        fprintf(stderr, "weft: %s error: %s\n", weft_cesql_error_kind_name(WEFT_CESQL_EPARSE),
                err.msg);
        show_column(text, err.msg);
        goto done;
    }
    int rc = weft_cesql_eval(expr, &ev, &value, &eerr);
    if (rc == WEFT_ENOMEM || weft_cesql_value_json(&value, &json)) {
        fprintf(stderr, "weft: out of memory\n");
        goto done;
    }
    printf("%s\n", (const char *)json.data);
    if (rc) {
        fprintf(stderr, "weft: %s error: column %u: %s", weft_cesql_error_kind_name(eerr.kind),
                eerr.column, eerr.message);
        if (eerr.count > 1)
            fprintf(stderr, " (and %u more error%s)", eerr.count - 1, eerr.count > 2 ? "s" : "");
        fputc('\n', stderr);
        goto done;
    }
    status = 0;
done:
    fflush(stdout);
    weft_buf_free(&json);
    weft_cesql_value_clear(&value);
    weft_cesql_free(expr);
    weft_ce_clear(&ev);
    return status;
}
