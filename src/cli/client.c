/* client: the commands that talk to a running `weft up` over HTTP, as TriggerMesh's
 * tmctl does to its local broker: `weft send` (an event to a broker or any CloudEvents
 * sink), `weft describe` (GET /_weft/describe as tables) and `weft watch` (a broker's
 * Server-Sent Events, one line per event). Built into weft-net.so: they use libcurl.
 *
 * The server is found by --url, else through the manifest: `weft up` writes its URL
 * to <state_dir>/address while it runs.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "client.h"
#include "events/cesql.h"
#include "events/codec.h"
#include "util/util.h"

/* The defaults of `weft send`, as tmctl's send-event has its own ("triggermesh-cli",
 * "triggermesh-local-event"). */
#define CLIENT_DEFAULT_SOURCE "weft-cli"
#define CLIENT_DEFAULT_TYPE "weft.cli.event"
/* The most data, or -f file, `weft send` reads: a broker's largest max_event_size. */
#define CLIENT_MAX_INPUT WEFT_APP_MAX_EVENT_SIZE
/* --ext options of one `weft send`. */
#define CLIENT_MAX_EXT 64
/* The most of an answer's body kept (send, describe, an error of watch). */
#define CLIENT_MAX_ANSWER (16u << 20)
#define CLIENT_CONNECT_TIMEOUT_S 10L
/* A whole send or describe. */
#define CLIENT_TIMEOUT_S 60L
/* watch: a stream silent this long (three keep-alives missed) is taken as broken. */
#define CLIENT_WATCH_SILENCE_S 45L
/* watch: the longest SSE line or message read (a 64 MiB event, base64, and some). */
#define CLIENT_MAX_SSE_MESSAGE (96u << 20)
/* watch: how much of an event's data its line shows. */
#define CLIENT_WATCH_DATA_MAX 200
#define CLIENT_MAX_URL 4096

/* ---- Finding the server --------------------------------------------------------------- */

typedef weft_client_server_t server_t;

/* "Authorization: Bearer TOKEN" for every request of this command, or "" (set by
 * weft_client_token). */
static char auth_line[WEFT_APP_MAX_TOKEN + 64];

const char *weft_client_token(const char *opt, bool env) {
    const char *t = opt ? opt : env ? getenv("WEFT_TOKEN") : NULL;
    if (t && !*t)
        t = NULL;
    auth_line[0] = 0;
    if (t)
        snprintf(auth_line, sizeof auth_line, "Authorization: Bearer %s", t);
    return t ? auth_line : NULL;
}

/* The manifest -c names, or the default one; NULL with a message when there is none. */
static weft_app_t *load_manifest(const char *cmd, const char *config) {
    if (!config && !(config = weft_app_find_default())) {
        fprintf(stderr,
                "weft %s: no weft.toml here to find the running weft up by: run this in the "
                "app's folder, name the manifest with -c FILE, or pass --url\n",
                cmd);
        return NULL;
    }
    weft_error_t err = {0};
    weft_app_t *app = NULL;
    if (weft_app_load(config, NULL, &app, &err)) {
        fprintf(stderr, "weft %s: %s\n", cmd, err.msg);
        return NULL;
    }
    return app;
}

/* The base URL of the running `weft up`: url (--url) when given, else the one line of
 * app's address file (weft_app_address_path). */
static int find_server(const char *cmd, const char *url, const weft_app_t *app, server_t *s) {
    s->from[0] = 0;
    if (url) {
        snprintf(s->base, sizeof s->base, "%s", url);
    } else {
        char *path = weft_app_address_path(app);
        if (!path) {
            fprintf(stderr, "weft %s: out of memory\n", cmd);
            return WEFT_EXIT_ERROR;
        }
        snprintf(s->from, sizeof s->from, "%s", path);
        free(path);
        FILE *f = fopen(s->from, "r");
        if (!f) {
            if (errno == ENOENT)
                fprintf(stderr,
                        "weft %s: no running weft up found: %s does not exist (start `weft up` "
                        "here, or pass --url)\n",
                        cmd, s->from);
            else
                fprintf(stderr, "weft %s: %s: %s\n", cmd, s->from, strerror(errno));
            return WEFT_EXIT_ERROR;
        }
        if (!fgets(s->base, sizeof s->base, f))
            s->base[0] = 0;
        fclose(f);
        s->base[strcspn(s->base, "\r\n")] = 0;
        if (strncmp(s->base, "http://", 7) && strncmp(s->base, "https://", 8)) {
            fprintf(stderr,
                    "weft %s: %s does not hold a URL (weft up writes one there while it runs); "
                    "pass --url\n",
                    cmd, s->from);
            return WEFT_EXIT_ERROR;
        }
    }
    size_t n = strlen(s->base);
    while (n && s->base[n - 1] == '/')
        s->base[--n] = 0;
    return 0;
}

/* The broker commands default to: the manifest's only one. */
static const char *default_broker(const char *cmd, const weft_app_t *app) {
    if (app->nbrokers == 1)
        return app->brokers[0].name;
    if (!app->nbrokers) {
        fprintf(stderr, "weft %s: %s declares no [[broker]]\n", cmd, app->path);
        return NULL;
    }
    weft_buf_t names = {0};
    for (size_t i = 0; i < app->nbrokers; i++)
        weft_buf_printf(&names, "%s%s", i ? ", " : "", app->brokers[i].name);
    weft_cli_usage_error(cmd, "%s declares brokers %s: name one with --broker", app->path,
                         names.data ? (char *)names.data : "");
    weft_buf_free(&names);
    return NULL;
}

/* A broker's name as the manifest allows it; it goes into a URL unescaped. */
static bool broker_name_valid(const char *s) {
    size_t n = strlen(s);
    if (!n || n > WEFT_APP_MAX_NAME || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct answer {
    long status;
    char reason[128]; /* the status line's, or a standard one */
    char content_type[256];
    weft_buf_t body; /* at most CLIENT_MAX_ANSWER */
} answer_t;

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t len = size * n;
    if (len > 5 && !strncmp(p, "HTTP/", 5)) {
        /* "HTTP/1.1 202 Accepted\r\n": a new status line (after a 100 or a redirect). */
        a->reason[0] = 0;
        a->content_type[0] = 0;
        const char *sp = memchr(p, ' ', len);
        const char *end = p + len;
        if (sp && end - sp > 5) {
            const char *r = sp + 5;
            size_t rl = (size_t)(end - r);
            while (rl && (r[rl - 1] == '\r' || r[rl - 1] == '\n'))
                rl--;
            snprintf(a->reason, sizeof a->reason, "%.*s", (int)rl, r);
        }
    } else if (len > 13 && !strncasecmp(p, "content-type:", 13)) {
        const char *v = p + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(a->content_type, sizeof a->content_type, "%.*s", (int)vl, v);
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t len = size * n;
    if (a->body.len + len > CLIENT_MAX_ANSWER)
        return 0; /* a transfer error: the answer is too large to be one of ours */
    return weft_buf_append(&a->body, p, len) ? 0 : len;
}

/* Says why a transfer to url failed (the system's reason when connecting failed: "Connection
 * refused"), and where url came from. */
static void transfer_error(const char *cmd, const server_t *s, const char *url, CURL *c,
                           CURLcode rc, const char *detail) {
    long os_errno = 0;
    if (rc == CURLE_COULDNT_CONNECT)
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno)
        fprintf(stderr, "weft %s: cannot connect to %s: %s", cmd, url, strerror((int)os_errno));
    else
        fprintf(stderr, "weft %s: %s: %s", cmd, url, detail[0] ? detail : curl_easy_strerror(rc));
    if (s && s->from[0] && rc == CURLE_COULDNT_CONNECT)
        fprintf(stderr, " (the address in %s: is weft up still running?)", s->from);
    fputc('\n', stderr);
}

/* One request; the answer in *a (free its body). Returns 0, or 1 after saying why the
 * transfer failed. */
static int http_request(const char *cmd, const server_t *s, const char *method, const char *url,
                        struct curl_slist *headers, const void *body, size_t len, answer_t *a) {
    char detail[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "weft %s: cannot start libcurl\n", cmd);
        return WEFT_EXIT_ERROR;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    struct curl_slist *mine = NULL;
    if (auth_line[0]) {
        if (headers)
            curl_slist_append(headers, auth_line);
        else
            headers = mine = curl_slist_append(NULL, auth_line);
    }
    if (headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(mine);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
        if (!a->reason[0])
            snprintf(a->reason, sizeof a->reason, "%s", weft_http_reason((unsigned)a->status));
    }
    if (rc != CURLE_OK)
        transfer_error(cmd, s, url, c, rc, detail);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : WEFT_EXIT_ERROR;
}

/* The answer's body on f, ending with a newline. */
static void print_body(FILE *f, const answer_t *a) {
    if (!a->body.len)
        return;
    fwrite(a->body.data, 1, a->body.len, f);
    if (a->body.data[a->body.len - 1] != '\n')
        fputc('\n', f);
}

/* JSON text pretty, in the order written; the text itself if it is not JSON. */
static void print_pretty(FILE *f, const char *text, size_t len) {
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (j) {
        json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        json_decref(j);
    } else {
        fwrite(text, 1, len, f);
    }
    fputc('\n', f);
}

/* ---- weft send ------------------------------------------------------------------------- */

static const char send_help[] =
    "usage: weft send [--broker NAME | --url URL] [options] [DATA... | -f FILE]\n"
    "\n"
    "Sends a CloudEvent to a broker of the running 'weft up' (POST /brokers/NAME), or to\n"
    "any CloudEvents sink with --url, and prints the event and the answer, as tmctl's\n"
    "send-event does. Exits 0 when the answer is a 2xx; else 1, with the status and the\n"
    "body on stderr.\n"
    "\n"
    "DATA (the arguments, joined by spaces) is the event's data: JSON when it parses as\n"
    "JSON (datacontenttype application/json), else text (text/plain). Without DATA, the\n"
    "data is read from stdin when it is not a terminal; else the event has none.\n"
    "\n"
    "options:\n"
    "  --broker NAME         the broker (default: the manifest's only [[broker]])\n"
    "  --url URL             POST to this URL instead (any CloudEvents sink)\n"
    "  --token TOKEN         the bearer token weft up was given (default: $WEFT_TOKEN,\n"
    "                        which is not sent to a --url: name it there)\n"
    "  -c, --config FILE     the manifest, to find the running weft up by\n"
    "                        (<state_dir>/address; default ./weft.toml)\n"
    "  --type TYPE           the event's type (default " CLIENT_DEFAULT_TYPE ")\n"
    "  --source SOURCE       its source (default " CLIENT_DEFAULT_SOURCE ")\n"
    "  --id ID               its id (default: a new random UUID)\n"
    "  --ext NAME=VALUE      an extension attribute (NAME: 1 to 20 lower-case letters or\n"
    "                        digits), or an optional attribute such as subject, time or\n"
    "                        datacontenttype; repeatable\n"
    "  --structured          send in structured mode (application/cloudevents+json)\n"
    "                        rather than binary mode (ce-* headers)\n"
    "  -f, --file FILE       send the events of FILE ('-': stdin) instead: a JSON array\n"
    "                        of events is sent as one batch\n"
    "                        (application/cloudevents-batch+json), one JSON object as a\n"
    "                        structured event; an event without id, source or\n"
    "                        specversion gets the defaults (--source, --type fill the\n"
    "                        events lacking them when given)\n"
    "  -h, --help            this help\n"
    "\n"
    "Every event gets specversion 1.0 and, unless --ext time=... says otherwise, the\n"
    "current time.\n";

/* Now, in RFC 3339 with milliseconds, UTC. */
static void now_rfc3339(char out[32]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char s[24];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03uZ", s, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* All of f, at most CLIENT_MAX_INPUT bytes. */
static int read_all(const char *cmd, FILE *f, const char *name, weft_buf_t *out) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > CLIENT_MAX_INPUT) {
            fprintf(stderr, "weft %s: %s: more than %u MiB\n", cmd, name,
                    (unsigned)(CLIENT_MAX_INPUT >> 20));
            return WEFT_EXIT_ERROR;
        }
        if (weft_buf_append(out, chunk, n))
            return WEFT_EXIT_ERROR;
    }
    if (ferror(f)) {
        fprintf(stderr, "weft %s: %s: %s\n", cmd, name, strerror(errno));
        return WEFT_EXIT_ERROR;
    }
    return 0;
}

typedef struct send_opts {
    const char *config, *broker, *url, *type, *source, *id, *file;
    const char *ext[CLIENT_MAX_EXT];
    size_t next;
    bool structured;
} send_opts_t;

/* The attributes `weft send` sets from options of their own, not --ext. */
static const char *ext_refused(const char *name) {
    if (!strcmp(name, "id"))
        return "use --id";
    if (!strcmp(name, "source"))
        return "use --source";
    if (!strcmp(name, "type"))
        return "use --type";
    if (!strcmp(name, "specversion"))
        return "weft sends 1.0";
    if (!strcmp(name, "data") || !strcmp(name, "data_base64"))
        return "data is DATA, or -f FILE";
    return NULL;
}

/* The one event of the options and DATA. Returns 0, or an exit status after a message. */
static int event_from_options(const send_opts_t *o, const weft_buf_t *data, bool has_data,
                              weft_ce_t *ev) {
    char id[37], now[32];
    weft_uuid4(id);
    now_rfc3339(now);
    if (weft_ce_set(ev, "specversion", WEFT_CE_SPECVERSION, WEFT_CE_STRING) ||
        weft_ce_set(ev, "id", o->id ? o->id : id, WEFT_CE_STRING) ||
        weft_ce_set(ev, "source", o->source ? o->source : CLIENT_DEFAULT_SOURCE, WEFT_CE_URI_REF) ||
        weft_ce_set(ev, "type", o->type ? o->type : CLIENT_DEFAULT_TYPE, WEFT_CE_STRING) ||
        weft_ce_set(ev, "time", now, WEFT_CE_TIMESTAMP))
        return WEFT_EXIT_ERROR;
    for (size_t i = 0; i < o->next; i++) {
        const char *eq = strchr(o->ext[i], '=');
        char name[WEFT_CE_NAME_MAX + 1];
        size_t nlen = eq ? (size_t)(eq - o->ext[i]) : 0;
        if (!eq || !weft_ce_name_valid(o->ext[i], nlen))
            return weft_cli_usage_error("send",
                                        "--ext %s: expected NAME=VALUE, NAME 1 to %d lower-case "
                                        "letters or digits",
                                        o->ext[i], WEFT_CE_NAME_MAX);
        memcpy(name, o->ext[i], nlen);
        name[nlen] = 0;
        const char *why = ext_refused(name);
        if (why)
            return weft_cli_usage_error("send", "--ext %s: %s", o->ext[i], why);
        if (weft_ce_set(ev, name, eq + 1, weft_ce_attr_type(name)))
            return WEFT_EXIT_ERROR;
    }
    if (has_data) {
        if (weft_ce_set_data(ev, data->data, data->len))
            return WEFT_EXIT_ERROR;
        if (!weft_ce_get(ev, "datacontenttype")) {
            json_error_t jerr;
            json_t *j = json_loadb((const char *)data->data, data->len, JSON_DECODE_ANY, &jerr);
            const char *ct = j                                        ? "application/json"
                             : weft_utf8_valid(data->data, data->len) ? "text/plain"
                                                                      : "application/octet-stream";
            json_decref(j);
            if (weft_ce_set(ev, "datacontenttype", ct, WEFT_CE_STRING))
                return WEFT_EXIT_ERROR;
        }
    }
    weft_error_t err = {0};
    if (weft_ce_validate(ev, &err))
        return weft_cli_usage_error("send", "%s", err.msg);
    return 0;
}

/* Gives an event of -f FILE the defaults it lacks. */
static int event_defaults(const send_opts_t *o, json_t *e) {
    char id[37];
    weft_uuid4(id);
    if (!json_object_get(e, "specversion"))
        json_object_set_new(e, "specversion", json_string(WEFT_CE_SPECVERSION));
    if (!json_object_get(e, "id"))
        json_object_set_new(e, "id", json_string(id));
    if (!json_object_get(e, "source"))
        json_object_set_new(e, "source",
                            json_string(o->source ? o->source : CLIENT_DEFAULT_SOURCE));
    if (o->type && !json_object_get(e, "type"))
        json_object_set_new(e, "type", json_string(o->type));
    return 0;
}

/* The events of -f FILE, encoded: a batch for an array, structured for an object. */
static int message_from_file(const send_opts_t *o, weft_ce_http_msg_t *msg, weft_buf_t *shown,
                             bool *batch) {
    weft_buf_t text = {0};
    int rc = WEFT_EXIT_ERROR;
    weft_ce_t *events = NULL;
    size_t nevents = 0;
    json_t *j = NULL;
    char *compact = NULL;
    weft_error_t err = {0};
    const char *name = strcmp(o->file, "-") ? o->file : "stdin";
    FILE *f = strcmp(o->file, "-") ? fopen(o->file, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "weft send: %s: %s\n", o->file, strerror(errno));
        return WEFT_EXIT_ERROR;
    }
    rc = read_all("send", f, name, &text);
    if (f != stdin)
        fclose(f);
    if (rc)
        goto out;
    rc = WEFT_EXIT_ERROR;
    json_error_t jerr;
    j = json_loadb(text.len ? (const char *)text.data : "", text.len, 0, &jerr);
    if (!j || (!json_is_array(j) && !json_is_object(j))) {
        if (!j)
            fprintf(stderr, "weft send: %s:%d:%d: %s\n", name, jerr.line, jerr.column, jerr.text);
        else
            fprintf(stderr,
                    "weft send: %s: expected a JSON object (one event) or an array of events\n",
                    name);
        goto out;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            if (!json_is_object(e)) {
                fprintf(stderr, "weft send: %s: event [%zu] is not a JSON object\n", name, i);
                goto out;
            }
            event_defaults(o, e);
        }
    } else {
        event_defaults(o, j);
    }
    if (!(compact = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto out;
    size_t clen = strlen(compact);
    *batch = json_is_array(j);
    if (*batch) {
        if (weft_ce_json_decode_batch((uint8_t *)compact, clen, 0, 0, &events, &nevents, &err) ||
            weft_ce_encode_http_batch(events, nevents, msg, &err) ||
            weft_ce_json_encode_batch(events, nevents, shown, &err)) {
            fprintf(stderr, "weft send: %s: %s\n", name, err.msg);
            goto out;
        }
    } else {
        events = calloc(1, sizeof *events);
        if (!events)
            goto out;
        nevents = 1;
        if (weft_ce_json_decode((uint8_t *)compact, clen, 0, 0, events, &err) ||
            weft_ce_encode_http(events, WEFT_CE_MODE_STRUCTURED, msg, &err) ||
            weft_ce_json_encode(events, shown, &err)) {
            fprintf(stderr, "weft send: %s: %s\n", name, err.msg);
            goto out;
        }
    }
    rc = 0;
out:
    /* A binary message borrows the event's data; batched and structured ones do not. */
    if (events)
        weft_ce_free_array(events, nevents);
    free(compact);
    json_decref(j);
    weft_buf_free(&text);
    return rc;
}

int weft_cli_send(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"broker", required_argument, 0, 'b'},
        {"url", required_argument, 0, 'u'},    {"type", required_argument, 0, 't'},
        {"source", required_argument, 0, 's'}, {"id", required_argument, 0, 'i'},
        {"ext", required_argument, 0, 'e'},    {"structured", no_argument, 0, 'S'},
        {"file", required_argument, 0, 'f'},   {"token", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    send_opts_t o = {0};
    const char *token = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'b':
            if (!broker_name_valid(optarg))
                return weft_cli_usage_error("send",
                                            "--broker %s: a broker's name is 1 to %d lower-case "
                                            "letters, digits and '-'",
                                            optarg, WEFT_APP_MAX_NAME);
            o.broker = optarg;
            break;
        case 'u':
            o.url = optarg;
            break;
        case 't':
            o.type = optarg;
            break;
        case 's':
            o.source = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'e':
            if (o.next == CLIENT_MAX_EXT)
                return weft_cli_usage_error("send", "more than %d --ext options", CLIENT_MAX_EXT);
            o.ext[o.next++] = optarg;
            break;
        case 'S':
            o.structured = true;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'K':
            token = optarg;
            break;
        case 'h':
            fputs(send_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("send", "unknown option");
        }
    }
    /* WEFT_TOKEN goes to weft up only, never to another sink named by --url. */
    weft_client_token(token, !o.url);
    if (o.broker && o.url)
        return weft_cli_usage_error("send", "--broker and --url: give one (--url is the whole "
                                            "URL to POST to)");
    if (o.url && strncmp(o.url, "http://", 7) && strncmp(o.url, "https://", 8))
        return weft_cli_usage_error("send", "--url %s: expected an http:// or https:// URL", o.url);
    if (o.file && (optind < argc || o.id || o.next || o.structured))
        return weft_cli_usage_error("send", "-f FILE sends the file's events: DATA, --id, --ext "
                                            "and --structured go with one event of the options");

    /* What to send. */
    int rc = WEFT_EXIT_ERROR;
    weft_buf_t data = {0}, shown = {0};
    weft_ce_t ev = {0};
    weft_ce_http_msg_t msg = {0};
    weft_app_t *app = NULL;
    struct curl_slist *headers = NULL;
    answer_t a = {0};
    const char *mode;
    bool batch = false;
    if (o.file) {
        if ((rc = message_from_file(&o, &msg, &shown, &batch)))
            goto out;
        mode = batch ? "batched mode" : "structured mode";
    } else {
        bool has_data = false;
        if (optind < argc) {
            for (int i = optind; i < argc; i++)
                if (weft_buf_printf(&data, "%s%s", i > optind ? " " : "", argv[i]))
                    goto out;
            has_data = true;
        } else if (!isatty(0)) {
            if (read_all("send", stdin, "stdin", &data))
                goto out;
            has_data = data.len > 0;
        }
        if ((rc = event_from_options(&o, &data, has_data, &ev)))
            goto out;
        weft_error_t err = {0};
        rc = WEFT_EXIT_ERROR;
        if (weft_ce_encode_http(&ev, o.structured ? WEFT_CE_MODE_STRUCTURED : WEFT_CE_MODE_BINARY,
                                &msg, &err) ||
            weft_ce_json_encode(&ev, &shown, &err)) {
            fprintf(stderr, "weft send: %s\n", err.msg);
            goto out;
        }
        mode = o.structured ? "structured mode" : "binary mode";
    }
    rc = WEFT_EXIT_ERROR;

    /* Where to. */
    char url[CLIENT_MAX_URL + 128];
    server_t s = {0};
    if (o.url) {
        snprintf(url, sizeof url, "%s", o.url);
    } else {
        if (!(app = load_manifest("send", o.config)))
            goto out;
        const char *broker = o.broker ? o.broker : default_broker("send", app);
        if (!broker) {
            rc = app->nbrokers ? WEFT_EXIT_USAGE : WEFT_EXIT_ERROR;
            goto out;
        }
        if (find_server("send", NULL, app, &s))
            goto out;
        snprintf(url, sizeof url, "%s/brokers/%s", s.base, broker);
    }

    for (size_t i = 0; i < msg.nheaders; i++) {
        char *line;
        if (asprintf(&line, "%.*s: %.*s", (int)msg.headers[i].name_len, msg.headers[i].name,
                     (int)msg.headers[i].value_len, msg.headers[i].value) < 0)
            goto out;
        struct curl_slist *n = curl_slist_append(headers, line);
        free(line);
        if (!n)
            goto out;
        headers = n;
    }
    /* A body without a Content-Type header (binary mode, no datacontenttype) would get
     * curl's form type; an empty value removes it. And no "Expect: 100-continue". */
    bool has_ct = false;
    for (size_t i = 0; i < msg.nheaders; i++)
        has_ct |= !strcmp(msg.headers[i].name, "content-type");
    const char *extra[] = {"Expect:", has_ct ? NULL : "Content-Type:"};
    for (size_t i = 0; i < 2; i++) {
        struct curl_slist *n = extra[i] ? curl_slist_append(headers, extra[i]) : headers;
        if (!n)
            goto out;
        headers = n;
    }

    printf("Destination: %s (%s)\n", url, mode);
    printf("Event%s:\n", batch ? "s" : "");
    print_pretty(stdout, (const char *)shown.data, shown.len);
    fflush(stdout);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (http_request("send", o.url ? NULL : &s, "POST", url, headers, msg.body, msg.body_len, &a))
        goto out;
    if (a.status >= 200 && a.status < 300) {
        printf("Response: HTTP %ld%s%s\n", a.status, a.reason[0] ? " " : "", a.reason);
        print_body(stdout, &a);
        rc = 0;
    } else {
        fprintf(stderr, "weft send: HTTP %ld%s%s\n", a.status, a.reason[0] ? " " : "", a.reason);
        print_body(stderr, &a);
        rc = WEFT_EXIT_ERROR;
    }
out:
    curl_slist_free_all(headers);
    weft_buf_free(&a.body);
    weft_ce_http_msg_free(&msg);
    weft_ce_clear(&ev);
    weft_buf_free(&data);
    weft_buf_free(&shown);
    if (app)
        weft_app_free(app);
    return rc;
}

/* ---- weft describe ---------------------------------------------------------------------- */

static const char describe_help[] =
    "usage: weft describe [--json] [--url URL | -c FILE]\n"
    "\n"
    "Shows the state of the running 'weft up' (GET /_weft/describe), as tmctl describe\n"
    "does: its brokers (events stored, ingested and rejected since it started), triggers\n"
    "(filters as written, '*' for none; deliveries, retries, failures, dead letters and\n"
    "lag), targets, functions (the tier each runs on) and routes.\n"
    "\n"
    "options:\n"
    "  --json                the JSON as the server gives it (pretty)\n"
    "  --url URL             the server's base URL (default: the one the manifest's\n"
    "                        running weft up wrote to <state_dir>/address)\n"
    "  --token TOKEN         the bearer token weft up was given (default: $WEFT_TOKEN)\n"
    "  -c, --config FILE     the manifest (default ./weft.toml)\n"
    "  -h, --help            this help\n";

#define TABLE_MAX_COLS 10
#define TABLE_PAD 3

typedef struct table {
    size_t ncols;
    char **cells; /* rows * ncols, row 0 the heading */
    size_t nrows;
} table_t;

static int table_row(table_t *t, const char *const *cells) {
    char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *grown);
    if (!grown)
        return -1;
    t->cells = grown;
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "-");
    t->nrows++;
    return 0;
}

/* Prints the table, columns aligned (widths in characters, not bytes), and frees it;
 * nothing when it has no row below its heading. */
static void table_print(table_t *t) {
    size_t width[TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t w = 0;
            for (; s && *s; s++)
                w += ((unsigned char)*s & 0xc0) != 0x80;
            if (w > width[i])
                width[i] = w;
        }
    if (t->nrows > 1) {
        for (size_t r = 0; r < t->nrows; r++) {
            for (size_t i = 0; i < t->ncols; i++) {
                const char *s = t->cells[r * t->ncols + i];
                s = s ? s : "";
                size_t w = 0;
                for (const char *p = s; *p; p++)
                    w += ((unsigned char)*p & 0xc0) != 0x80;
                fputs(s, stdout);
                if (i + 1 < t->ncols)
                    printf("%*s", (int)(width[i] - w + TABLE_PAD), "");
            }
            putchar('\n');
        }
        putchar('\n');
    }
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
}

/* A member as table text: strings as they are, numbers and booleans written, null and
 * absence "-". buf holds the text when it is not a string of j. */
static const char *cell(json_t *obj, const char *key, char *buf, size_t size) {
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return "-";
}

static void describe_tables(json_t *d) {
    char b[8][64];
    size_t i;
    json_t *x;

    const char *bh[] = {"Broker", "Stored", "Ingested", "Rejected"};
    table_t t = {.ncols = 4};
    table_row(&t, bh);
    json_array_foreach(json_object_get(d, "brokers"), i, x) {
        const char *row[] = {cell(x, "name", b[0], 64), cell(x, "stored", b[1], 64),
                             cell(x, "ingested", b[2], 64), cell(x, "rejected", b[3], 64)};
        table_row(&t, row);
    }
    table_print(&t);

    const char *th[] = {"Trigger", "Broker", "Target",        "Filter", "Delivered",
                        "Retried", "Failed", "Dead-lettered", "Lag"};
    t = (table_t){.ncols = 9};
    table_row(&t, th);
    json_array_foreach(json_object_get(d, "triggers"), i, x) {
        json_t *f = json_object_get(x, "filter");
        const char *row[] = {
            cell(x, "name", b[0], 64),      cell(x, "broker", b[1], 64),
            cell(x, "target", b[2], 64),    json_is_string(f) ? json_string_value(f) : "*",
            cell(x, "delivered", b[3], 64), cell(x, "retried", b[4], 64),
            cell(x, "failed", b[5], 64),    cell(x, "dead_lettered", b[6], 64),
            cell(x, "lag", b[7], 64)};
        table_row(&t, row);
    }
    table_print(&t);

    const char *gh[] = {"Target", "Kind", "URL or function", "Mode"};
    t = (table_t){.ncols = 4};
    table_row(&t, gh);
    json_array_foreach(json_object_get(d, "targets"), i, x) {
        bool url = json_is_string(json_object_get(x, "url"));
        const char *row[] = {cell(x, "name", b[0], 64), url ? "url" : "function",
                             cell(x, url ? "url" : "function", b[1], 64),
                             url ? cell(x, "mode", b[2], 64) : "-"};
        table_row(&t, row);
    }
    table_print(&t);

    const char *fh[] = {"Function", "Module", "Tier"};
    t = (table_t){.ncols = 3};
    table_row(&t, fh);
    json_array_foreach(json_object_get(d, "functions"), i, x) {
        json_t *opt = json_object_get(x, "optimized");
        const char *row[] = {cell(x, "name", b[0], 64), cell(x, "module", b[1], 64),
                             json_is_boolean(opt) ? (json_is_true(opt) ? "optimized" : "fast")
                                                  : "-"};
        table_row(&t, row);
    }
    table_print(&t);

    const char *rh[] = {"Route", "Kind", "Name", "Entrypoint"};
    t = (table_t){.ncols = 4};
    table_row(&t, rh);
    json_array_foreach(json_object_get(d, "routes"), i, x) {
        bool broker = json_is_string(json_object_get(x, "broker"));
        const char *row[] = {cell(x, "route", b[0], 64), broker ? "broker" : "function",
                             cell(x, broker ? "broker" : "function", b[1], 64),
                             broker ? "-" : cell(x, "entrypoint", b[2], 64)};
        table_row(&t, row);
    }
    table_print(&t);
}

/* --url, else -c / the default manifest's address; shared by describe and watch. When
 * app_out is given, the manifest is loaded even with --url when one is there (for the
 * default broker). */
static int locate(const char *cmd, const char *url, const char *config, server_t *s,
                  weft_app_t **app_out);

int weft_client_locate(const char *cmd, const char *url, const char *config,
                       weft_client_server_t *s) {
    return locate(cmd, url, config, s, NULL);
}

void weft_client_transfer_error(const char *cmd, const weft_client_server_t *s, const char *url,
                                CURL *c, CURLcode rc, const char *detail) {
    transfer_error(cmd, s, url, c, rc, detail);
}

static int locate(const char *cmd, const char *url, const char *config, server_t *s,
                  weft_app_t **app_out) {
    weft_app_t *app = NULL;
    if (!url || (app_out && (config || weft_app_find_default()))) {
        if (!(app = load_manifest(cmd, config)))
            return WEFT_EXIT_ERROR;
    }
    int rc = find_server(cmd, url, app, s);
    if (app_out && !rc)
        *app_out = app;
    else if (app)
        weft_app_free(app);
    return rc;
}

int weft_cli_describe(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"url", required_argument, 0, 'u'},
        {"json", no_argument, 0, 'j'},         {"token", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *config = NULL, *base = NULL, *token = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'u':
            base = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'K':
            token = optarg;
            break;
        case 'h':
            fputs(describe_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("describe", "unknown option");
        }
    }
    if (optind < argc)
        return weft_cli_usage_error("describe", "unexpected argument '%s'", argv[optind]);
    weft_client_token(token, true);
    server_t s;
    if (locate("describe", base, config, &s, NULL))
        return WEFT_EXIT_ERROR;
    char url[CLIENT_MAX_URL + 32];
    snprintf(url, sizeof url, "%s/_weft/describe", s.base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    answer_t a = {0};
    int rc = WEFT_EXIT_ERROR;
    json_t *d = NULL;
    if (http_request("describe", &s, "GET", url, NULL, NULL, 0, &a))
        goto out;
    if (a.status != 200) {
        fprintf(stderr, "weft describe: %s: HTTP %ld%s%s\n", url, a.status, a.reason[0] ? " " : "",
                a.reason);
        print_body(stderr, &a);
        goto out;
    }
    json_error_t jerr;
    d = json_loadb(a.body.len ? (const char *)a.body.data : "", a.body.len, 0, &jerr);
    if (!json_is_object(d)) {
        fprintf(stderr, "weft describe: %s: the answer is not a JSON object (%s)\n", url,
                d ? "another JSON value" : jerr.text);
        goto out;
    }
    if (as_json) {
        json_dumpf(d, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        describe_tables(d);
    }
    rc = 0;
out:
    json_decref(d);
    weft_buf_free(&a.body);
    return rc;
}

/* ---- weft watch -------------------------------------------------------------------------- */

static const char watch_help[] =
    "usage: weft watch [BROKER] [--since earliest] [--filter CESQL] [--json] [--url URL | -c "
    "FILE]\n"
    "\n"
    "Prints the events a broker of the running 'weft up' ingests, as they arrive (GET\n"
    "/brokers/BROKER/events, Server-Sent Events), as tmctl watch does: one line per\n"
    "event, with its time (the event's, else now), type, source, id and data (compact\n"
    "JSON or text, cut at "
    "200"
    " characters). Ends on Ctrl-C, or when the server closes the\n"
    "stream (it says so on stderr).\n"
    "\n"
    "options:\n"
    "  BROKER                the broker (default: the manifest's only [[broker]])\n"
    "  --since earliest      start with every event the broker still holds (default:\n"
    "                        from the next one)\n"
    "  --filter CESQL        only the events for which the CloudEvents SQL expression\n"
    "                        is true (as 'weft cesql' evaluates it)\n"
    "  --json                each event as its structured-mode JSON, one a line\n"
    "  --url URL             the server's base URL (default: the one the manifest's\n"
    "                        running weft up wrote to <state_dir>/address)\n"
    "  --token TOKEN         the bearer token weft up was given (default: $WEFT_TOKEN)\n"

    "  -c, --config FILE     the manifest (default ./weft.toml)\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 on Ctrl-C or when the server ends the stream; 1 when the broker is\n"
    "unknown, the filter does not parse (the server's message is printed), or the\n"
    "connection fails.\n";

typedef struct watch {
    CURL *curl;
    bool json;
    long status; /* 0 until the first byte of the body */
    bool is_stream;
    answer_t answer; /* headers; the body of an answer other than a stream */
    weft_buf_t line;
    weft_buf_t data; /* the message's data lines, joined by '\n' */
    bool has_data;
    bool after_cr; /* the last byte ended a line with '\r': a '\n' next belongs to it */
    char id[64];   /* the last event's id: field */
    bool too_long;
    bool out_closed; /* stdout's reader left */
    const char *broker;
} watch_t;

static void on_interrupt(int sig) {
    (void)sig;
    /* Ctrl-C ends a watch as its normal end: every line printed so far is out (stdout is
     * line-buffered). */
    _exit(0);
}

/* s[0..n) on one line: control characters as \n, \t or \xNN, cut at
 * CLIENT_WATCH_DATA_MAX characters (a UTF-8 sequence never split) with "...". */
static void put_data(weft_buf_t *out, const char *s, size_t n) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xc0) != 0x80) {
            if (chars == CLIENT_WATCH_DATA_MAX) {
                weft_buf_puts(out, "...");
                return;
            }
            chars++;
        }
        if (ch == '\n')
            weft_buf_puts(out, "\\n");
        else if (ch == '\t')
            weft_buf_puts(out, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            weft_buf_printf(out, "\\x%02x", ch);
        else
            weft_buf_append(out, &s[i], 1);
    }
}

/* One event's line: time, type, source, id, data. */
static void print_event(const char *json, size_t len) {
    json_error_t jerr;
    json_t *e = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(e)) {
        /* Not an event: shown as it came rather than dropped. */
        printf("%.*s\n", (int)len, json);
        json_decref(e);
        return;
    }
    char now[32], b[4][64];
    const char *time = cell(e, "time", b[0], 64);
    if (!strcmp(time, "-")) {
        now_rfc3339(now);
        time = now;
    }
    weft_buf_t line = {0};
    weft_buf_printf(&line, "%s %s %s %s", time, cell(e, "type", b[1], 64),
                    cell(e, "source", b[2], 64), cell(e, "id", b[3], 64));
    json_t *data = json_object_get(e, "data");
    json_t *b64 = json_object_get(e, "data_base64");
    if (json_is_string(data)) {
        weft_buf_puts(&line, " ");
        put_data(&line, json_string_value(data), json_string_length(data));
    } else if (data) {
        char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (text) {
            weft_buf_puts(&line, " ");
            put_data(&line, text, strlen(text));
            free(text);
        }
    } else if (json_is_string(b64)) {
        weft_buf_puts(&line, " base64:");
        put_data(&line, json_string_value(b64), json_string_length(b64));
    }
    if (line.data)
        puts((const char *)line.data);
    weft_buf_free(&line);
    json_decref(e);
}

/* The event's JSON on one line: as it came, unless the stream split it over several
 * data: lines. */
static void print_json_line(const char *json, size_t len) {
    json_error_t jerr;
    json_t *e = memchr(json, '\n', len) ? json_loadb(json, len, 0, &jerr) : NULL;
    char *one = e ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (one)
        puts(one);
    else
        printf("%.*s\n", (int)len, json);
    free(one);
    json_decref(e);
}

/* A whole message (the blank line after it came): an event unless it has no data. */
static void watch_dispatch(watch_t *w) {
    if (w->has_data) {
        const char *json = w->data.data ? (const char *)w->data.data : "";
        if (w->json)
            print_json_line(json, w->data.len);
        else
            print_event(json, w->data.len);
        if (fflush(stdout) == EOF || ferror(stdout))
            w->out_closed = true;
    }
    w->data.len = 0;
    w->has_data = false;
}

/* One line of the stream (without its end): a field, a comment, or the blank line that
 * ends a message (the EventSource interpretation). */
static void watch_line(watch_t *w, const char *l, size_t n) {
    if (!n) {
        watch_dispatch(w);
        return;
    }
    if (l[0] == ':') /* a comment: ": keep-alive" */
        return;
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ')
        v++, vlen--;
    if (flen == 4 && !memcmp(l, "data", 4)) {
        if (w->has_data)
            weft_buf_puts(&w->data, "\n");
        weft_buf_append(&w->data, v, vlen);
        if (!w->data.data)
            weft_buf_puts(&w->data, "");
        w->has_data = true;
    } else if (flen == 2 && !memcmp(l, "id", 2)) {
        snprintf(w->id, sizeof w->id, "%.*s", (int)vlen, v);
    } /* event:, retry: and unknown fields are ignored */
}

/* Headers of the stream; once they are all in and say it is one, a note that the watch
 * has begun (what tmctl's "Watching..." says): events from now on will show. */
static size_t on_stream_header(char *p, size_t size, size_t n, void *arg) {
    watch_t *w = arg;
    size_t len = on_header(p, size, n, &w->answer);
    if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200 && !strncasecmp(w->answer.content_type, "text/event-stream", 17))
            fprintf(stderr, "weft watch: watching %s (Ctrl-C to stop)\n", w->broker);
    }
    return len;
}

static size_t on_stream(char *p, size_t size, size_t n, void *arg) {
    watch_t *w = arg;
    size_t len = size * n;
    if (!w->status) {
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->status);
        w->is_stream =
            w->status == 200 && !strncasecmp(w->answer.content_type, "text/event-stream", 17);
    }
    if (!w->is_stream)
        return on_body(p, size, n, &w->answer);
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (ch == '\n' && w->after_cr) {
            w->after_cr = false;
            continue;
        }
        w->after_cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            watch_line(w, w->line.data ? (const char *)w->line.data : "", w->line.len);
            w->line.len = 0;
            if (w->out_closed)
                return 0;
            continue;
        }
        if (w->line.len + w->data.len >= CLIENT_MAX_SSE_MESSAGE) {
            w->too_long = true;
            return 0;
        }
        if (weft_buf_append(&w->line, &ch, 1))
            return 0;
    }
    return len;
}

int weft_cli_watch(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"url", required_argument, 0, 'u'},
        {"since", required_argument, 0, 's'},  {"filter", required_argument, 0, 'f'},
        {"json", no_argument, 0, 'j'},         {"token", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *config = NULL, *base = NULL, *filter = NULL, *broker = NULL, *token = NULL;
    bool earliest = false;
    watch_t w = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'u':
            base = optarg;
            break;
        case 's':
            if (strcmp(optarg, "earliest"))
                return weft_cli_usage_error("watch",
                                            "--since %s: expected earliest (without --since: "
                                            "from the next event)",
                                            optarg);
            earliest = true;
            break;
        case 'f':
            filter = optarg;
            break;
        case 'j':
            w.json = true;
            break;
        case 'K':
            token = optarg;
            break;
        case 'h':
            fputs(watch_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("watch", "unknown option");
        }
    }
    if (optind < argc)
        broker = argv[optind++];
    if (optind < argc)
        return weft_cli_usage_error("watch", "unexpected argument '%s'", argv[optind]);
    if (broker && !broker_name_valid(broker))
        return weft_cli_usage_error("watch",
                                    "%s: a broker's name is 1 to %d lower-case letters, digits "
                                    "and '-'",
                                    broker, WEFT_APP_MAX_NAME);
    if (!broker && base && !config && !weft_app_find_default())
        return weft_cli_usage_error("watch", "missing BROKER");
    weft_client_token(token, true);

    server_t s;
    weft_app_t *app = NULL;
    if (locate("watch", base, config, &s, broker ? NULL : &app))
        return WEFT_EXIT_ERROR;
    int rc = WEFT_EXIT_ERROR;
    char *escaped = NULL;
    weft_buf_t url = {0};
    char detail[CURL_ERROR_SIZE] = "";
    if (!broker && app && !(broker = default_broker("watch", app))) {
        rc = app->nbrokers ? WEFT_EXIT_USAGE : WEFT_EXIT_ERROR;
        goto out;
    }
    if (!broker) {
        rc = weft_cli_usage_error("watch", "missing BROKER");
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(w.curl = curl_easy_init()))
        goto out;
    w.broker = broker;
    weft_buf_printf(&url, "%s/brokers/%s/events", s.base, broker);
    if (earliest)
        weft_buf_puts(&url, "?since=earliest");
    if (filter) {
        if (!(escaped = curl_easy_escape(w.curl, filter, 0)))
            goto out;
        weft_buf_printf(&url, "%sfilter=%s", earliest ? "&" : "?", escaped);
    }
    if (!url.data)
        goto out;

    /* Every event's line goes out as it is printed, also into a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    CURL *cu = w.curl;
    curl_easy_setopt(cu, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
    /* No whole-transfer limit: a stream runs until it ends. A silent one is broken. */
    curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, CLIENT_WATCH_SILENCE_S);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_stream_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, &w);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
    if (hdrs && auth_line[0])
        curl_slist_append(hdrs, auth_line);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(cu);
    curl_slist_free_all(hdrs);
    if (!w.status)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &w.status);
    if (w.out_closed) {
        rc = 0; /* the reader of stdout left (`weft watch | head -3`) */
    } else if (w.too_long) {
        fprintf(stderr, "weft watch: a message of the stream is longer than %u MiB\n",
                CLIENT_MAX_SSE_MESSAGE >> 20);
    } else if (w.status && !w.is_stream) {
        if (!w.answer.reason[0])
            snprintf(w.answer.reason, sizeof w.answer.reason, "%s",
                     weft_http_reason((unsigned)w.status));
        if (w.status == 200)
            fprintf(stderr,
                    "weft watch: %s: the answer is %s, not an event stream (is this weft "
                    "up?)\n",
                    (const char *)url.data,
                    w.answer.content_type[0] ? w.answer.content_type : "without a type");
        else
            fprintf(stderr, "weft watch: %s: HTTP %ld%s%s\n", (const char *)url.data, w.status,
                    w.answer.reason[0] ? " " : "", w.answer.reason);
        print_body(stderr, &w.answer);
    } else if (cc == CURLE_OK || cc == CURLE_PARTIAL_FILE) {
        watch_dispatch(&w); /* a message the server's end cut short of its blank line */
        fprintf(stderr, "weft watch: the server closed the stream%s%s%s\n",
                w.id[0] ? " (last event id " : "", w.id, w.id[0] ? ")" : "");
        rc = 0;
    } else if (cc == CURLE_OPERATION_TIMEDOUT && w.is_stream) {
        fprintf(stderr,
                "weft watch: nothing from the server for %lds, not even a keep-alive: "
                "giving up\n",
                CLIENT_WATCH_SILENCE_S);
    } else {
        transfer_error("watch", &s, (const char *)url.data, cu, cc, detail);
    }
out:
    if (w.curl)
        curl_easy_cleanup(w.curl);
    curl_free(escaped);
    weft_buf_free(&url);
    weft_buf_free(&w.line);
    weft_buf_free(&w.data);
    weft_buf_free(&w.answer.body);
    if (app)
        weft_app_free(app);
    return rc;
}

/* ---- For weft create ---------------------------------------------------------------------- */

int weft_cli_filter_check(int argc, char **argv) {
    if (argc != 2)
        return weft_cli_usage_error("create", "filter-check takes one EXPRESSION");
    weft_error_t err = {0};
    weft_cesql_t *expr = NULL;
    int rc = weft_cesql_parse(argv[1], &expr, &err);
    if (!rc)
        rc = weft_cesql_check(expr, &err);
    weft_cesql_free(expr);
    if (rc)
        return weft_cli_usage_error("create", "--filter: %s", err.msg);
    return 0;
}
