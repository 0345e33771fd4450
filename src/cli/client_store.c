/* client_store: `weft kv`, `weft blob` and `weft doc`, the services of a running
 * `weft up` over its HTTP API (/kv, /blobs, /docs: src/gateway/store_api.c), found as
 * `weft send` finds it (--url, else the address file) and with the same token (--token,
 * else $WEFT_TOKEN). Blobs go both ways as streams: neither side holds one whole.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "util/util.h"

#define STORE_CLIENT_CONNECT_TIMEOUT_S 10L
/* A transfer that moves no byte for this long is given up (a large blob may take any
 * time as long as it moves). */
#define STORE_CLIENT_STALL_S 60L
/* The most of an answer kept in memory (a listing page, an error). */
#define STORE_CLIENT_MAX_ANSWER (64u << 20)
/* A value or document read from stdin or the command line. */
#define STORE_CLIENT_MAX_INPUT (64u << 20)

static const char kv_help[] =
    "usage: weft kv get STORE KEY\n"
    "       weft kv set STORE KEY [VALUE] [--ttl MS] [--if-match VERSION | --if-absent]\n"
    "       weft kv delete STORE KEY [--if-match VERSION]\n"
    "       weft kv list STORE [--prefix P]\n"
    "\n"
    "The key-value service of the running 'weft up' (its HTTP API: /kv/STORE/KEY).\n"
    "get prints the value as stored (bytes, no newline added); set takes VALUE, else\n"
    "stdin, and prints the new version; list prints the keys, one a line, every page.\n"
    "--ttl MS: the key expires MS milliseconds after the set. --if-match VERSION: only\n"
    "if the key holds that version (412 otherwise); --if-absent: only if it does not\n"
    "exist.\n"
    "\n"
    "options (every subcommand):\n"
    "  --url URL             the server's base URL (default: the one the manifest's\n"
    "                        running weft up wrote to <state_dir>/address)\n"
    "  -c, --config FILE     the manifest (default ./weft.toml)\n"
    "  --token TOKEN         the bearer token weft up was given (default: $WEFT_TOKEN)\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 on a 2xx answer; 1 otherwise, with the status and the server's\n"
    "message on stderr; 2 for a usage mistake.\n";

static const char blob_help[] =
    "usage: weft blob put CONTAINER NAME FILE|- [--content-type TYPE]\n"
    "       weft blob get CONTAINER NAME [-o FILE]\n"
    "       weft blob delete CONTAINER NAME [--if-match VERSION]\n"
    "       weft blob list CONTAINER [--prefix P]\n"
    "\n"
    "The blob service of the running 'weft up' (/blobs/CONTAINER/NAME). put sends FILE\n"
    "(- : stdin) and prints what was stored (size, SHA-256, version); get writes the\n"
    "blob to stdout or to -o FILE (written only when the answer is a 2xx); list prints\n"
    "the names, one a line. --if-match VERSION as for weft kv; put --if-absent too.\n"
    "\n"
    "options (every subcommand): --url URL, -c FILE, --token TOKEN, -h (as weft kv)\n";

static const char doc_help[] =
    "usage: weft doc get COLLECTION ID\n"
    "       weft doc put COLLECTION ID JSON|- [--if-match VERSION | --if-absent]\n"
    "       weft doc delete COLLECTION ID [--if-match VERSION]\n"
    "       weft doc query COLLECTION [FIELD=VALUE ...]\n"
    "\n"
    "The document service of the running 'weft up' (/docs/COLLECTION/ID). put stores\n"
    "a JSON object (the argument, or stdin for -) and prints its version; get prints\n"
    "it; query prints the documents whose top-level FIELD equals VALUE for every pair,\n"
    "one {\"id\", \"version\", \"doc\"} object a line, every page. A VALUE that is a JSON\n"
    "scalar (3, true, null, \"3\") is compared as that; any other as a string.\n"
    "\n"
    "options (every subcommand): --url URL, -c FILE, --token TOKEN, -h (as weft kv)\n";

/* ---- HTTP -------------------------------------------------------------------------- */

/* "Authorization: Bearer TOKEN" (weft_client_token), or NULL. */
static const char *auth_line;

typedef struct xfer {
    long status;
    FILE *out;       /* a 2xx body goes here, when set ... */
    weft_buf_t body; /* ... else here, as does any other answer's */
    bool too_long;
    bool write_failed;
    CURL *c;
    /* An upload from a file. */
    FILE *in;
} xfer_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    xfer_t *x = arg;
    size_t len = size * n;
    if (!x->status)
        curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->out && x->status >= 200 && x->status < 300) {
        if (fwrite(p, 1, len, x->out) != len) {
            x->write_failed = true;
            return 0;
        }
        return len;
    }
    if (x->body.len + len > STORE_CLIENT_MAX_ANSWER) {
        x->too_long = true;
        return 0;
    }
    return weft_buf_append(&x->body, p, len) ? 0 : len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg) {
    xfer_t *x = arg;
    size_t got = fread(p, 1, size * n, x->in);
    if (!got && ferror(x->in))
        return CURL_READFUNC_ABORT;
    return got;
}

typedef struct store_req {
    const char *method;
    const char *url;
    const void *body; /* a body in memory ... */
    size_t len;
    bool has_body;
    FILE *in;               /* ... or read from a file */
    long long in_size;      /* its size, or -1 (chunked) */
    const char *headers[4]; /* more header lines; NULL-ended */
    FILE *out;              /* a 2xx body's destination; NULL: kept in x->body */
} store_req_t;

/* One request; 0 with the answer in *x (its status may be any), or 1 after saying why
 * the transfer failed. */
static int perform(const char *cmd, const weft_client_server_t *s, const store_req_t *r,
                   xfer_t *x) {
    char detail[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "weft %s: cannot start libcurl\n", cmd);
        return WEFT_EXIT_ERROR;
    }
    x->c = c;
    x->out = r->out;
    x->in = r->in;
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (auth_line)
        h = curl_slist_append(h, auth_line);
    for (size_t i = 0; i < 4 && r->headers[i]; i++)
        h = curl_slist_append(h, r->headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, STORE_CLIENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STORE_CLIENT_STALL_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    if (!strcmp(r->method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (r->in) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        if (r->in_size >= 0)
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_size);
    } else if (r->has_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (!x->status)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
    int out = 0;
    if (x->write_failed) {
        fprintf(stderr, "weft %s: cannot write the answer: %s\n", cmd, strerror(errno));
        out = WEFT_EXIT_ERROR;
    } else if (x->too_long) {
        fprintf(stderr, "weft %s: %s: the answer is longer than %u MiB\n", cmd, r->url,
                STORE_CLIENT_MAX_ANSWER >> 20);
        out = WEFT_EXIT_ERROR;
    } else if (rc != CURLE_OK) {
        weft_client_transfer_error(cmd, s, r->url, c, rc, detail);
        out = WEFT_EXIT_ERROR;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    x->c = NULL;
    return out;
}

/* An answer other than a 2xx: its status and the server's message on stderr; 1. */
static int refused(const char *cmd, const char *url, const xfer_t *x) {
    fprintf(stderr, "weft %s: %s: HTTP %ld %s", cmd, url, x->status,
            weft_http_reason((unsigned)x->status));
    if (x->body.len) {
        size_t n = x->body.len;
        while (n && (x->body.data[n - 1] == '\n' || x->body.data[n - 1] == '\r'))
            n--;
        fprintf(stderr, ": %.*s", (int)n, (const char *)x->body.data);
    }
    fputc('\n', stderr);
    return WEFT_EXIT_ERROR;
}

static bool ok(const xfer_t *x) {
    return x->status >= 200 && x->status < 300;
}

/* ---- Arguments --------------------------------------------------------------------- */

typedef struct opts {
    const char *config, *url, *token;
    const char *prefix;
    const char *if_match;
    bool if_absent;
    const char *ttl;
    const char *output;
    const char *content_type;
    char *args[8];
    int nargs;
    char **rest; /* doc query's FIELD=VALUE pairs */
    int nrest;
} opts_t;

/* Parses argv (argv[0] the subcommand). 0, or the exit status of a usage error / help. */
static int parse(const char *cmd, const char *help, int argc, char **argv, opts_t *o, bool *done) {
    static const struct option longs[] = {{"config", required_argument, 0, 'c'},
                                          {"url", required_argument, 0, 'u'},
                                          {"token", required_argument, 0, 'K'},
                                          {"prefix", required_argument, 0, 'p'},
                                          {"if-match", required_argument, 0, 'm'},
                                          {"if-absent", no_argument, 0, 'a'},
                                          {"ttl", required_argument, 0, 't'},
                                          {"content-type", required_argument, 0, 'T'},
                                          {"output", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    *done = false;
    int c;
    optind = 1;
    /* '-' alone is an argument (stdin), as getopt takes it. */
    while ((c = getopt_long(argc, argv, "c:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 'K':
            o->token = optarg;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'm':
            o->if_match = optarg;
            break;
        case 'a':
            o->if_absent = true;
            break;
        case 't':
            o->ttl = optarg;
            break;
        case 'T':
            o->content_type = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            *done = true;
            return 0;
        default:
            return weft_cli_usage_error(cmd, "unknown option");
        }
    }
    o->rest = argv + optind;
    o->nrest = argc - optind;
    for (int i = optind; i < argc && o->nargs < 8; i++)
        o->args[o->nargs++] = argv[i];
    if (o->if_match && o->if_absent)
        return weft_cli_usage_error(cmd, "--if-match and --if-absent: give one");
    if (o->if_match) {
        char *end;
        unsigned long long v = strtoull(o->if_match, &end, 10);
        if (!*o->if_match || *end || !v)
            return weft_cli_usage_error(cmd, "--if-match %s: expected a version (a number > 0)",
                                        o->if_match);
    }
    return 0;
}

/* The "If-Match" / "If-None-Match" line the options ask for, into buf; NULL: none. */
static const char *condition(const opts_t *o, char *buf, size_t cap) {
    if (o->if_match) {
        snprintf(buf, cap, "If-Match: \"%s\"", o->if_match);
        return buf;
    }
    return o->if_absent ? "If-None-Match: *" : NULL;
}

/* base + "/" + prefix + "/" + escaped name [+ "/" + escaped item], into *url. */
static int build_url(CURL *c, weft_buf_t *url, const weft_client_server_t *s, const char *api,
                     const char *name, const char *item) {
    char *n = curl_easy_escape(c, name, 0), *i = item ? curl_easy_escape(c, item, 0) : NULL;
    int rc = !n || (item && !i) ||
             weft_buf_printf(url, "%s/%s/%s%s%s", s->base, api, n, item ? "/" : "", item ? i : "");
    curl_free(n);
    curl_free(i);
    return rc;
}

/* Appends "?name=value" or "&name=value", escaped. */
static int add_query(CURL *c, weft_buf_t *url, const char *name, const char *value) {
    char *n = curl_easy_escape(c, name, 0), *v = curl_easy_escape(c, value, 0);
    int rc = !n || !v ||
             weft_buf_printf(url, "%s%s=%s", strchr((char *)url->data, '?') ? "&" : "?", n, v);
    curl_free(n);
    curl_free(v);
    return rc;
}

static int read_stream(const char *cmd, FILE *f, const char *what, weft_buf_t *out) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > STORE_CLIENT_MAX_INPUT) {
            fprintf(stderr, "weft %s: %s is larger than %u MiB\n", cmd, what,
                    STORE_CLIENT_MAX_INPUT >> 20);
            return WEFT_EXIT_ERROR;
        }
        if (weft_buf_append(out, chunk, n))
            return WEFT_EXIT_ERROR;
    }
    if (ferror(f)) {
        fprintf(stderr, "weft %s: reading %s: %s\n", cmd, what, strerror(errno));
        return WEFT_EXIT_ERROR;
    }
    return 0;
}

/* Prints "version N" from a PUT's answer ({"version": N, ...}), and the rest of a blob's. */
static void print_written(const xfer_t *x, bool blob) {
    json_error_t jerr;
    json_t *j = json_loadb((const char *)x->body.data, x->body.len, 0, &jerr);
    if (blob && j)
        printf("%s: %lld bytes, %s, sha256 %s, version %lld\n",
               json_string_value(json_object_get(j, "name")),
               (long long)json_integer_value(json_object_get(j, "size")),
               json_string_value(json_object_get(j, "content_type")),
               json_string_value(json_object_get(j, "sha256")),
               (long long)json_integer_value(json_object_get(j, "version")));
    else if (j)
        printf("version %lld%s\n", (long long)json_integer_value(json_object_get(j, "version")),
               x->status == 201 ? " (created)" : "");
    json_decref(j);
}

/* GET url's pages of a listing: member what's strings (or, for items, each object as a
 * compact JSON line), following "next". */
static int list_pages(const char *cmd, const weft_client_server_t *s, CURL *c, const char *base,
                      const char *what) {
    char *after = NULL;
    int rc = 0;
    for (;;) {
        weft_buf_t url = {0};
        if (weft_buf_puts(&url, base) || (after && add_query(c, &url, "after", after))) {
            weft_buf_free(&url);
            rc = WEFT_EXIT_ERROR;
            break;
        }
        xfer_t x = {0};
        store_req_t r = {.method = "GET", .url = (const char *)url.data};
        rc = perform(cmd, s, &r, &x);
        if (!rc && !ok(&x))
            rc = refused(cmd, (const char *)url.data, &x);
        json_t *j = NULL;
        if (!rc) {
            json_error_t jerr;
            j = json_loadb((const char *)x.body.data, x.body.len, 0, &jerr);
            json_t *list = json_object_get(j, what);
            if (!json_is_array(list)) {
                fprintf(stderr, "weft %s: %s: the answer is not a listing\n", cmd,
                        (const char *)url.data);
                rc = WEFT_EXIT_ERROR;
            }
            size_t i;
            json_t *v;
            json_array_foreach(list, i, v) {
                if (json_is_string(v)) {
                    puts(json_string_value(v));
                } else {
                    json_dumpf(v, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                    putchar('\n');
                }
            }
        }
        free(after);
        after = NULL;
        json_t *next = json_object_get(j, "next");
        if (!rc && json_is_true(json_object_get(j, "more")) && json_is_string(next))
            after = strdup(json_string_value(next));
        json_decref(j);
        weft_buf_free(&x.body);
        weft_buf_free(&url);
        if (rc || !after)
            break;
    }
    free(after);
    return rc;
}

/* ---- The commands -------------------------------------------------------------------- */

typedef enum { SVC_KV, SVC_BLOB, SVC_DOC } svc_t;

static int store_main(svc_t svc, int argc, char **argv) {
    const char *cmd = svc == SVC_KV ? "kv" : svc == SVC_BLOB ? "blob" : "doc";
    const char *help = svc == SVC_KV ? kv_help : svc == SVC_BLOB ? blob_help : doc_help;
    const char *api = svc == SVC_KV ? "kv" : svc == SVC_BLOB ? "blobs" : "docs";
    if (argc < 2)
        return weft_cli_usage_error(cmd, "missing a subcommand");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(help, stdout);
        return 0;
    }
    const char *sub = argv[1];
    char label[32];
    snprintf(label, sizeof label, "%s %s", cmd, sub);
    opts_t o = {0};
    bool done;
    int rc = parse(label, help, argc - 1, argv + 1, &o, &done);
    if (rc || done)
        return rc;
    /* The arguments each subcommand takes: at least min, at most max (-1: any). */
    int min, max;
    bool list = !strcmp(sub, "list") || !strcmp(sub, "query");
    if (!strcmp(sub, "get") || !strcmp(sub, "delete"))
        min = max = 2;
    else if (svc == SVC_KV && !strcmp(sub, "set"))
        min = 2, max = 3;
    else if (svc != SVC_KV && !strcmp(sub, "put"))
        min = max = 3;
    else if ((svc != SVC_DOC && !strcmp(sub, "list")) || (svc == SVC_DOC && !strcmp(sub, "query")))
        min = 1, max = svc == SVC_DOC ? -1 : 1;
    else
        return weft_cli_usage_error(cmd, "unknown subcommand '%s' (see weft %s --help)", sub, cmd);
    if (o.nrest < min || (max >= 0 && o.nrest > max))
        return weft_cli_usage_error(label, "expected %d%s argument%s", min,
                                    max != min ? " or more" : "", min == 1 ? "" : "s");
    if (o.ttl && !(svc == SVC_KV && !strcmp(sub, "set")))
        return weft_cli_usage_error(label, "--ttl goes with weft kv set");
    if (o.prefix && !(list && svc != SVC_DOC))
        return weft_cli_usage_error(label, "--prefix goes with list");
    if (o.output && !(svc == SVC_BLOB && !strcmp(sub, "get")))
        return weft_cli_usage_error(label, "-o goes with weft blob get");
    if (o.content_type && !(svc == SVC_BLOB && !strcmp(sub, "put")))
        return weft_cli_usage_error(label, "--content-type goes with weft blob put");
    if ((o.if_match || o.if_absent) && (list || !strcmp(sub, "get")))
        return weft_cli_usage_error(label, "--if-match and --if-absent go with writes");
    if (o.if_absent && !strcmp(sub, "delete"))
        return weft_cli_usage_error(label, "--if-absent goes with writes");
    if (o.ttl) {
        char *end;
        long long ms = strtoll(o.ttl, &end, 10);
        if (!*o.ttl || *end || ms < 1)
            return weft_cli_usage_error(label, "--ttl %s: expected milliseconds, at least 1",
                                        o.ttl);
    }
    if (svc == SVC_KV && !strcmp(sub, "set") && o.nrest == 2 && isatty(0))
        return weft_cli_usage_error(label, "missing VALUE (or pipe it to stdin)");
    for (int i = 1; svc == SVC_DOC && list && i < o.nrest; i++)
        if (!strchr(o.rest[i], '=') || o.rest[i][0] == '=')
            return weft_cli_usage_error(label, "%s: expected FIELD=VALUE", o.rest[i]);

    weft_client_server_t s;
    if (weft_client_locate(label, o.url, o.config, &s))
        return WEFT_EXIT_ERROR;
    auth_line = weft_client_token(o.token, true);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *esc = curl_easy_init();
    weft_buf_t url = {0}, input = {0};
    xfer_t x = {0};
    FILE *in = NULL, *out = NULL;
    char *tmp_out = NULL;
    char cond[64];
    rc = WEFT_EXIT_ERROR;
    if (!esc || build_url(esc, &url, &s, api, o.rest[0], list ? NULL : o.rest[1]))
        goto done;

    if (list) {
        if (o.prefix && add_query(esc, &url, "prefix", o.prefix))
            goto done;
        for (int i = 1; i < o.nrest; i++) {
            char *eq = strchr(o.rest[i], '=');
            *eq = 0;
            int bad = add_query(esc, &url, o.rest[i], eq + 1);
            *eq = '=';
            if (bad)
                goto done;
        }
        rc = list_pages(label, &s, esc, (const char *)url.data,
                        svc == SVC_KV     ? "keys"
                        : svc == SVC_BLOB ? "names"
                                          : "items");
        goto done;
    }

    store_req_t r = {.url = NULL};
    if (!strcmp(sub, "get")) {
        r.method = "GET";
        if (svc != SVC_DOC)
            r.out = stdout;
        if (o.output) {
            /* Written beside the file, renamed over it once the whole blob is in. */
            if (asprintf(&tmp_out, "%s.weft-%d", o.output, (int)getpid()) < 0)
                goto done;
            if (!(out = fopen(tmp_out, "wb"))) {
                fprintf(stderr, "weft %s: %s: %s\n", label, tmp_out, strerror(errno));
                goto done;
            }
            r.out = out;
        }
    } else if (!strcmp(sub, "delete")) {
        r.method = "DELETE";
        r.headers[0] = condition(&o, cond, sizeof cond);
    } else {
        r.method = "PUT";
        r.headers[0] = condition(&o, cond, sizeof cond);
        const char *src = o.nrest > 2 ? o.rest[2] : NULL;
        if (svc == SVC_BLOB) {
            static char ctype[300];
            snprintf(ctype, sizeof ctype, "Content-Type: %s",
                     o.content_type ? o.content_type : "application/octet-stream");
            r.headers[r.headers[0] ? 1 : 0] = ctype;
            if (!strcmp(src, "-")) {
                in = stdin;
                r.in_size = -1;
            } else {
                struct stat st;
                if (!(in = fopen(src, "rb")) || fstat(fileno(in), &st)) {
                    fprintf(stderr, "weft %s: %s: %s\n", label, src, strerror(errno));
                    goto done;
                }
                r.in_size = (long long)st.st_size;
            }
            r.in = in;
        } else {
            if (!src || !strcmp(src, "-")) {
                if (read_stream(label, stdin, "stdin", &input))
                    goto done;
            } else if (weft_buf_puts(&input, src)) {
                goto done;
            }
            r.body = input.data;
            r.len = input.len;
            r.has_body = true;
            if (svc == SVC_DOC)
                r.headers[r.headers[0] ? 1 : 0] = "Content-Type: application/json";
        }
        if (o.ttl && add_query(esc, &url, "ttl", o.ttl))
            goto done;
    }
    r.url = (const char *)url.data;
    if (perform(label, &s, &r, &x))
        goto done;
    if (!ok(&x)) {
        rc = refused(label, r.url, &x);
        goto done;
    }
    rc = 0;
    if (!strcmp(sub, "get") && svc == SVC_DOC) {
        fwrite(x.body.data, 1, x.body.len, stdout);
        if (x.body.len && x.body.data[x.body.len - 1] != '\n')
            putchar('\n');
    } else if (!strcmp(r.method, "PUT")) {
        print_written(&x, svc == SVC_BLOB);
    }
    if (out) {
        FILE *f = out;
        out = NULL;
        if (fclose(f) || rename(tmp_out, o.output)) {
            fprintf(stderr, "weft %s: %s: %s\n", label, o.output, strerror(errno));
            rc = WEFT_EXIT_ERROR;
        }
    }
done:
    if (out)
        fclose(out);
    if (tmp_out) {
        unlink(tmp_out); /* gone already when it was renamed */
        free(tmp_out);
    }
    if (in && in != stdin)
        fclose(in);
    if (fflush(stdout))
        rc = WEFT_EXIT_ERROR;
    weft_buf_free(&x.body);
    weft_buf_free(&url);
    weft_buf_free(&input);
    if (esc)
        curl_easy_cleanup(esc);
    return rc;
}

int weft_cli_kv(int argc, char **argv) {
    return store_main(SVC_KV, argc, argv);
}

int weft_cli_blob(int argc, char **argv) {
    return store_main(SVC_BLOB, argc, argv);
}

int weft_cli_doc(int argc, char **argv) {
    return store_main(SVC_DOC, argc, argv);
}
