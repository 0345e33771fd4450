/* weft create: appends a [[broker]], [[target]] or [[trigger]] to weft.toml, as
 * TriggerMesh's `tmctl create` adds components to its manifest.
 *
 * The manifest is never half-written nor left invalid: every byte already in it is kept,
 * the block goes after a blank line, and the whole new text is first written to a
 * temporary file in the manifest's folder (so that relative paths and state_dir resolve
 * as they will) and loaded as `weft up` loads it. Only when that succeeds does the
 * temporary file replace the manifest, by rename(), with the manifest's mode and owner;
 * otherwise the loader's message is printed, with the manifest's name in place of the
 * temporary one, and the manifest is untouched. A running `weft up` notices the change
 * itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "host/host.h"
#include "util/util.h"

/* tmctl names a trigger "<broker>-trigger-<8 hex digits of a hash of its target and
 * filter>"; so does weft when --name is not given (SHA-256 where tmctl uses MD5). */
#define CREATE_HASH_HEX 8

static const char create_help[] =
    "usage: weft create broker NAME [-c FILE]\n"
    "       weft create target NAME (--url URL [--structured] | --function F) [-c FILE]\n"
    "       weft create trigger --broker B --target T [--name N] [--event-types LIST]\n"
    "                           [--filter CESQL] [--from earliest|latest] [-c FILE]\n"
    "\n"
    "Appends a [[broker]], [[target]] or [[trigger]] to the app's weft.toml, keeping\n"
    "every byte already in it, and prints what it appended. The new manifest is loaded\n"
    "first, as 'weft up' would load it: when it does not load (a trigger naming an\n"
    "unknown broker, a name already taken, a filter that does not parse), the message\n"
    "is printed and the file is left as it was. A running 'weft up' picks the change up\n"
    "itself. Without a manifest, 'weft create broker' starts ./weft.toml.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     the manifest (default: ./weft.toml)\n"
    "  --url URL             target: deliver by HTTP POST to URL\n"
    "  --structured          target: in structured mode (application/cloudevents+json)\n"
    "                        rather than binary mode\n"
    "  --function F          target: call the app's [[function]] F\n"
    "  --broker B            trigger: the broker it reads\n"
    "  --target T            trigger: a [[target]] or a [[function]]\n"
    "  --name N              trigger: its name (default: B-trigger-XXXXXXXX, a hash of\n"
    "                        its target and filters, as tmctl names them)\n"
    "  --event-types LIST    trigger: only events whose type is one of LIST, comma-\n"
    "                        separated: 'a' exactly, 'a*' starting with a, '*a' ending\n"
    "                        with a\n"
    "  --filter CESQL        trigger: only events for which the CloudEvents SQL\n"
    "                        expression is true (with --event-types: both)\n"
    "  --from earliest       trigger: start from every event the broker retains\n"
    "                        (default latest: from the next one)\n"
    "  -h, --help            this help\n"
    "\n"
    "examples:\n"
    "  weft create broker orders\n"
    "  weft create target display --url http://127.0.0.1:9000/\n"
    "  weft create trigger --broker orders --target display --event-types 'io.shop.*'\n";

typedef enum { KIND_BROKER, KIND_TARGET, KIND_TRIGGER } create_kind_t;

typedef struct create_opts {
    create_kind_t kind;
    const char *config;
    const char *name;
    const char *url;
    bool structured;
    const char *function;
    const char *broker;
    const char *target;
    const char *event_types;
    const char *filter;
    const char *from;
} create_opts_t;

/* ---- TOML text ------------------------------------------------------------------------ */

/* s as a TOML basic string: quotes, backslashes and control characters escaped. */
static int toml_quote(weft_buf_t *b, const char *s) {
    int rc = weft_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = weft_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            rc = weft_buf_puts(b, "\\n");
        else if (*p == '\t')
            rc = weft_buf_puts(b, "\\t");
        else if (*p == '\r')
            rc = weft_buf_puts(b, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            rc = weft_buf_printf(b, "\\u%04X", *p);
        else
            rc = weft_buf_append(b, p, 1);
    }
    return rc ? rc : weft_buf_puts(b, "\"");
}

/* One --event-types item as a filter on type: "a" exact, "a*" prefix, "*a" suffix. */
static int type_filter(weft_buf_t *b, const char *item, size_t len) {
    const char *dialect = "exact";
    if (len && item[0] == '*') {
        dialect = "suffix";
        item++;
        len--;
    } else if (len && item[len - 1] == '*') {
        dialect = "prefix";
        len--;
    }
    if (!len)
        return weft_cli_usage_error("create", "--event-types: '*' alone matches every type; "
                                              "leave --event-types out for that");
    if (memchr(item, '*', len))
        return weft_cli_usage_error("create",
                                    "--event-types: '%.*s': '*' goes at one end only (for "
                                    "more, use --filter \"type LIKE '...'\")",
                                    (int)len, item);
    char *value = strndup(item, len);
    if (!value)
        return WEFT_EXIT_ERROR;
    int rc = weft_buf_printf(b, "{ %s = { type = ", dialect) || toml_quote(b, value) ||
             weft_buf_puts(b, " } }");
    free(value);
    return rc ? WEFT_EXIT_ERROR : 0;
}

/* The value of `filters`, or an empty buffer for none: the --event-types (one filter,
 * or { any = [...] } of several) and the --filter expression; the list is "all must
 * match". */
static int trigger_filters(const create_opts_t *o, weft_buf_t *b) {
    int rc = 0;
    size_t n = 0;
    weft_buf_t types = {0};
    if (o->event_types) {
        const char *p = o->event_types;
        for (;;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            while (len && (*p == ' ' || *p == '\t'))
                p++, len--;
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            if (!len) {
                rc = weft_cli_usage_error("create", "--event-types: an empty type in '%s'",
                                          o->event_types);
                goto out;
            }
            if ((n && weft_buf_puts(&types, ", ")) || (rc = type_filter(&types, p, len)))
                goto out;
            n++;
            if (!end)
                break;
            p = end + 1;
        }
    }
    rc = WEFT_EXIT_ERROR;
    if (n || o->filter)
        if (weft_buf_puts(b, "["))
            goto out;
    if (n == 1 && weft_buf_append(b, types.data, types.len))
        goto out;
    if (n > 1 && weft_buf_printf(b, "{ any = [%s] }", (const char *)types.data))
        goto out;
    if (o->filter && (weft_buf_puts(b, n ? ", { cesql = " : "{ cesql = ") ||
                      toml_quote(b, o->filter) || weft_buf_puts(b, " }")))
        goto out;
    if ((n || o->filter) && weft_buf_puts(b, "]"))
        goto out;
    rc = 0;
out:
    weft_buf_free(&types);
    return rc;
}

/* "<broker>-trigger-<hash>", the broker's part cut so that the whole is a valid name. */
static int trigger_name(const create_opts_t *o, const weft_buf_t *filters, char *out, size_t size) {
    weft_buf_t key = {0};
    if (weft_buf_printf(&key, "%s-%s", o->target, filters->len ? (char *)filters->data : ""))
        return WEFT_EXIT_ERROR;
    uint8_t hash[32];
    char hex[65];
    weft_sha256(key.data, key.len, hash);
    weft_buf_free(&key);
    weft_hex(hash, CREATE_HASH_HEX / 2, hex);
    int keep = WEFT_APP_MAX_NAME - (int)strlen("-trigger-") - CREATE_HASH_HEX;
    int blen = (int)strlen(o->broker);
    if (blen > keep)
        blen = keep;
    while (blen > 0 && o->broker[blen - 1] == '-')
        blen--;
    snprintf(out, size, "%.*s-trigger-%.*s", blen, o->broker, CREATE_HASH_HEX, hex);
    return 0;
}

/* The block to append, without the blank line before it. */
static int make_block(const create_opts_t *o, weft_buf_t *b) {
    int rc = WEFT_EXIT_ERROR;
    weft_buf_t filters = {0};
    switch (o->kind) {
    case KIND_BROKER:
        if (!weft_buf_puts(b, "[[broker]]\nname = ") && !toml_quote(b, o->name) &&
            !weft_buf_puts(b, "\n"))
            rc = 0;
        break;
    case KIND_TARGET:
        if (weft_buf_puts(b, "[[target]]\nname = ") || toml_quote(b, o->name) ||
            weft_buf_puts(b, o->url ? "\nurl = " : "\nfunction = ") ||
            toml_quote(b, o->url ? o->url : o->function) || weft_buf_puts(b, "\n") ||
            (o->structured && weft_buf_puts(b, "mode = \"structured\"\n")))
            break;
        rc = 0;
        break;
    case KIND_TRIGGER: {
        if ((rc = trigger_filters(o, &filters)))
            break;
        rc = WEFT_EXIT_ERROR;
        char name[WEFT_APP_MAX_NAME + 1];
        if (!o->name && trigger_name(o, &filters, name, sizeof name))
            break;
        if (weft_buf_puts(b, "[[trigger]]\nname = ") || toml_quote(b, o->name ? o->name : name) ||
            weft_buf_puts(b, "\nbroker = ") || toml_quote(b, o->broker) ||
            weft_buf_puts(b, "\ntarget = ") || toml_quote(b, o->target) || weft_buf_puts(b, "\n"))
            break;
        if (filters.len && weft_buf_printf(b, "filters = %s\n", (char *)filters.data))
            break;
        if (o->from &&
            (weft_buf_puts(b, "from = ") || toml_quote(b, o->from) || weft_buf_puts(b, "\n")))
            break;
        rc = 0;
        break;
    }
    }
    weft_buf_free(&filters);
    return rc;
}

/* ---- The manifest --------------------------------------------------------------------- */

/* Lines in s[0..n) up to its end (the number of the line that follows it, less one). */
static int count_lines(const uint8_t *s, size_t n) {
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

/* Replaces every occurrence of from in msg with to (in place, cut to the buffer). */
static void replace_all(char *msg, size_t size, const char *from, const char *to) {
    char out[WEFT_ERROR_MAX];
    size_t o = 0, flen = strlen(from), tlen = strlen(to);
    for (const char *p = msg; *p && o + 1 < sizeof out;) {
        if (flen && !strncmp(p, from, flen)) {
            size_t n = tlen < sizeof out - 1 - o ? tlen : sizeof out - 1 - o;
            memcpy(out + o, to, n);
            o += n;
            p += flen;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    snprintf(msg, size, "%s", out);
}

/* Writes text to a new file beside path (same folder, so that the manifest's relative
 * paths resolve alike) with the given mode; its name into tmp. */
static int write_temp(const char *path, const weft_buf_t *text, mode_t mode, char *tmp,
                      size_t size) {
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(tmp, size, "%.*s.%s.create-%d.tmp", dlen, path, slash ? slash + 1 : path,
             (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (fd < 0) {
        fprintf(stderr, "weft create: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < text->len) {
        ssize_t w = write(fd, text->data + off, text->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    /* The umask may have narrowed the mode given to open. */
    if (off < text->len || fchmod(fd, mode & 07777) || fsync(fd)) {
        fprintf(stderr, "weft create: cannot write %s: %s\n", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    return 0;
}

/* A --filter is parsed as weft up will parse it, by the CESQL parser in the plugin:
 * the manifest's loader holds the expression as written. */
static int filter_check(const char *expr) {
    weft_error_t err = {0};
    const weft_net_plugin_t *net = weft_net_plugin_get(&err);
    const weft_plugin_command_t *cmd = net ? weft_plugin_command(&net->head, "filter-check") : NULL;
    if (!cmd) {
        fprintf(stderr, "weft create: cannot check --filter: %s\n",
                net ? "weft-net.so has no command filter-check" : err.msg);
        return WEFT_EXIT_ERROR;
    }
    char *argv[] = {"filter-check", (char *)expr, NULL};
    return cmd->run(2, argv);
}

static int create_run(const create_opts_t *o) {
    char real[PATH_MAX];
    const char *config = o->config;
    bool exists = true;
    if (!config && !(config = weft_app_find_default())) {
        config = "weft.toml";
        exists = false;
    }
    struct stat st;
    if (stat(config, &st) != 0) {
        if (errno != ENOENT) {
            fprintf(stderr, "weft create: %s: %s\n", config, strerror(errno));
            return WEFT_EXIT_ERROR;
        }
        exists = false;
        st.st_mode = 0644;
    }
    /* What messages call it: as the user named it. */
    const char *shown = config;
    /* Writing through a symbolic link replaces the file it points at, not the link. */
    if (exists && realpath(config, real))
        config = real;

    weft_error_t err = {0};
    uint8_t *old = NULL;
    size_t old_len = 0;
    /* A manifest that does not load as it is may still load with the block (one that
     * declares nothing to serve yet, before its first broker): its error is told only
     * if the new text fails too. */
    weft_error_t before = {0};
    if (exists) {
        weft_app_t *app = NULL;
        weft_app_format_t format = WEFT_APP_WEFT;
        if (!weft_app_load(shown, NULL, &app, &before)) {
            format = app->format;
            weft_app_free(app);
        }
        if (format != WEFT_APP_WEFT) {
            fprintf(stderr,
                    "weft create: %s is a %s file, which has no brokers, targets or "
                    "triggers: they go in a weft.toml\n",
                    shown, format == WEFT_APP_WAGI ? "WAGI" : "Spin");
            return WEFT_EXIT_ERROR;
        }
        if (weft_file_read(config, &old, &old_len, &err)) {
            fprintf(stderr, "weft create: %s\n", err.msg);
            return WEFT_EXIT_ERROR;
        }
    }

    int rc = WEFT_EXIT_ERROR;
    weft_buf_t block = {0}, text = {0};
    char tmp[PATH_MAX + 64];
    tmp[0] = 0;
    if ((rc = make_block(o, &block)))
        goto out;
    rc = WEFT_EXIT_ERROR;
    /* Every byte kept; a newline to end its last line, then a blank line. */
    if (old_len && weft_buf_append(&text, old, old_len))
        goto out;
    if (old_len && old[old_len - 1] != '\n' && weft_buf_puts(&text, "\n"))
        goto out;
    if (text.len && !(text.len >= 2 && text.data[text.len - 2] == '\n') &&
        weft_buf_puts(&text, "\n"))
        goto out;
    int first = count_lines(text.data, text.len) + 1;
    if (weft_buf_append(&text, block.data, block.len))
        goto out;
    int last = count_lines(text.data, text.len);

    if (write_temp(config, &text, st.st_mode, tmp, sizeof tmp))
        goto out;
    weft_app_t *app = NULL;
    if (weft_app_load(tmp, NULL, &app, &err)) {
        replace_all(err.msg, sizeof err.msg, tmp, shown);
        if (before.msg[0])
            fprintf(stderr, "weft create: %s does not load as it is: %s\n", shown, before.msg);
        else
            fprintf(stderr, "weft create: %s\n", err.msg);
        fprintf(stderr, "weft create: %s left unchanged (the new block would be its lines %d-%d)\n",
                shown, first, last);
        goto out;
    }
    weft_app_free(app);
    if (exists && (st.st_uid != getuid() || st.st_gid != getgid()) &&
        chown(tmp, st.st_uid, st.st_gid) != 0) {
        /* Not ours to give away: the file keeps our ownership, as an editor would. */
    }
    if (rename(tmp, config) != 0) {
        fprintf(stderr, "weft create: cannot replace %s: %s\n", shown, strerror(errno));
        goto out;
    }
    tmp[0] = 0;
    printf("%s: added (lines %d-%d):\n\n", shown, first, last);
    fwrite(block.data, 1, block.len, stdout);
    rc = 0;
out:
    if (tmp[0])
        unlink(tmp);
    weft_buf_free(&block);
    weft_buf_free(&text);
    free(old);
    return rc;
}

int weft_cli_create(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"url", required_argument, 0, 'u'},
        {"structured", no_argument, 0, 's'},   {"function", required_argument, 0, 'f'},
        {"broker", required_argument, 0, 'b'}, {"target", required_argument, 0, 't'},
        {"name", required_argument, 0, 'n'},   {"event-types", required_argument, 0, 'e'},
        {"filter", required_argument, 0, 'F'}, {"from", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    create_opts_t o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'u':
            o.url = optarg;
            break;
        case 's':
            o.structured = true;
            break;
        case 'f':
            o.function = optarg;
            break;
        case 'b':
            o.broker = optarg;
            break;
        case 't':
            o.target = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'e':
            o.event_types = optarg;
            break;
        case 'F':
            o.filter = optarg;
            break;
        case 'r':
            if (strcmp(optarg, "earliest") && strcmp(optarg, "latest"))
                return weft_cli_usage_error("create", "--from %s: expected earliest or latest",
                                            optarg);
            o.from = optarg;
            break;
        case 'h':
            fputs(create_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("create", "unknown option");
        }
    }
    /* The kind: the first argument that is not an option (getopt moved them last). */
    if (optind >= argc)
        return weft_cli_usage_error("create", "missing what to create: broker, target or trigger");
    const char *kind = argv[optind++];
    if (!strcmp(kind, "broker"))
        o.kind = KIND_BROKER;
    else if (!strcmp(kind, "target"))
        o.kind = KIND_TARGET;
    else if (!strcmp(kind, "trigger"))
        o.kind = KIND_TRIGGER;
    else
        return weft_cli_usage_error("create",
                                    "cannot create '%s': expected broker, target or "
                                    "trigger",
                                    kind);
    /* Which options go with which kind. */
    bool target_opts = o.url || o.structured || o.function;
    bool trigger_opts = o.broker || o.target || o.event_types || o.filter || o.from;
    if (o.kind != KIND_TRIGGER) {
        if (optind >= argc)
            return weft_cli_usage_error("create", "missing the %s's NAME", kind);
        if (o.name)
            return weft_cli_usage_error("create", "a %s's name is its argument, not --name", kind);
        o.name = argv[optind++];
    }
    if (optind < argc)
        return weft_cli_usage_error("create", "unexpected argument '%s'", argv[optind]);
    switch (o.kind) {
    case KIND_BROKER:
        if (target_opts || trigger_opts)
            return weft_cli_usage_error("create", "a broker takes only its NAME (and -c)");
        break;
    case KIND_TARGET:
        if (trigger_opts)
            return weft_cli_usage_error("create", "--broker, --target, --event-types, --filter "
                                                  "and --from are a trigger's");
        if (!o.url == !o.function)
            return weft_cli_usage_error("create", "a target needs one of --url URL and "
                                                  "--function F");
        if (o.structured && !o.url)
            return weft_cli_usage_error("create", "--structured is for a --url target (a "
                                                  "function is called in binary mode)");
        break;
    case KIND_TRIGGER:
        if (target_opts)
            return weft_cli_usage_error("create", "--url, --function and --structured are a "
                                                  "target's");
        if (!o.broker || !o.target)
            return weft_cli_usage_error("create", "a trigger needs --broker B and --target T");
        if (o.filter) {
            int rc = filter_check(o.filter);
            if (rc)
                return rc;
        }
        break;
    }
    return create_run(&o);
}
