/* weft new: a project from one of the templates the binary carries (templates/ in the
 * source tree, embedded at build time by scripts/embed_templates.cmake), as `spin new`
 * makes one from Spin's: every file of templates/NAME/content/ is copied with
 * {{project-name}} replaced by the project's name.
 *
 * The project is written into a hidden sibling folder first and renamed into place once
 * every file is there, so that a failure leaves nothing half-made and an existing
 * folder is never written into. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util/util.h"

typedef struct new_template {
    const char *name;
    const char *description;
} new_template_t;

typedef struct new_template_file {
    const char *template_name;
    const char *path; /* relative to the project's folder */
    const unsigned char *data;
    size_t len;
} new_template_file_t;

#include "embedded_templates.h"

#define NTEMPLATES (sizeof weft_templates / sizeof weft_templates[0])
#define NTEMPLATE_FILES (sizeof weft_template_files / sizeof weft_template_files[0])
/* A project's name: a letter, then letters, digits, '-' and '_'. It becomes the name of
 * its function (and of the .wasm), so it follows that rule, without '.'. */
#define WEFT_NEW_MAX_NAME 63
#define WEFT_NEW_PLACEHOLDER "{{project-name}}"

static const char new_help[] =
    "usage: weft new [options] TEMPLATE NAME\n"
    "       weft new --list\n"
    "\n"
    "Creates the folder NAME holding a new project from TEMPLATE: a weft.toml whose\n"
    "function is built from src/main.c by 'weft build', the source, a .gitignore and a\n"
    "README.md. NAME (a letter, then letters, digits, '-' and '_') names the function\n"
    "and its module. An existing folder is never written into.\n"
    "\n"
    "options:\n"
    "  -t, --template TEMPLATE  the template (instead of the first argument, as\n"
    "                         'spin new -t TEMPLATE NAME')\n"
    "  -o, --output DIR       create the project in DIR rather than ./NAME\n"
    "  -l, --list             list the templates\n"
    "  -h, --help             this help\n"
    "\n"
    "Then: cd NAME && weft build && weft up (or weft up --watch, which rebuilds and\n"
    "reloads the function whenever its sources change).\n";

static void list_templates(void) {
    for (size_t i = 0; i < NTEMPLATES; i++)
        printf("%-10s %s\n", weft_templates[i].name, weft_templates[i].description);
}

static const new_template_t *template_find(const char *name) {
    for (size_t i = 0; i < NTEMPLATES; i++)
        if (!strcmp(weft_templates[i].name, name))
            return &weft_templates[i];
    return NULL;
}

static bool name_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > WEFT_NEW_MAX_NAME ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* data with every {{project-name}} replaced by name, into out. */
static int substitute(const unsigned char *data, size_t len, const char *name, weft_buf_t *out) {
    const char *ph = WEFT_NEW_PLACEHOLDER;
    size_t phlen = strlen(ph);
    size_t i = 0, start = 0;
    while (i + phlen <= len) {
        if (!memcmp(data + i, ph, phlen)) {
            if (weft_buf_append(out, data + start, i - start) || weft_buf_puts(out, name))
                return WEFT_ENOMEM;
            i += phlen;
            start = i;
        } else {
            i++;
        }
    }
    return weft_buf_append(out, data + start, len - start);
}

/* Writes the file at dir/path, making its folders. */
static int write_file(const char *dir, const char *path, const weft_buf_t *content,
                      weft_error_t *err) {
    char full[4096];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, path) >= sizeof full)
        return weft_error_set(err, WEFT_EINVAL, "%s/%s: path too long", dir, path);
    char *slash = strrchr(full, '/');
    *slash = 0;
    if (weft_mkdirs(full, 0755))
        return weft_error_set(err, WEFT_EIO, "cannot create %s: %s", full, strerror(errno));
    *slash = '/';
    FILE *f = fopen(full, "wx");
    if (!f)
        return weft_error_set(err, WEFT_EIO, "cannot create %s: %s", full, strerror(errno));
    size_t w = content->len ? fwrite(content->data, 1, content->len, f) : 0;
    if (fclose(f) || w != content->len)
        return weft_error_set(err, WEFT_EIO, "cannot write %s", full);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int weft_cli_new(int argc, char **argv) {
    static const struct option opts[] = {{"template", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'},
                                         {"list", no_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *template_name = NULL, *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:o:lh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            template_name = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'l':
            list_templates();
            return 0;
        case 'h':
            fputs(new_help, stdout);
            return 0;
        default:
            return weft_cli_usage_error("new", "unknown option");
        }
    }
    int want = template_name ? 1 : 2;
    if (argc - optind != want)
        return weft_cli_usage_error("new", argc - optind < want
                                               ? "expected TEMPLATE NAME ('weft new --list' "
                                                 "lists the templates)"
                                               : "too many arguments");
    if (!template_name)
        template_name = argv[optind++];
    const char *name = argv[optind];
    const new_template_t *t = template_find(template_name);
    if (!t) {
        char known[256] = "";
        for (size_t i = 0; i < NTEMPLATES; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     weft_templates[i].name);
        return weft_cli_usage_error("new", "unknown template '%s' (the templates: %s)",
                                    template_name, known);
    }
    if (!name_valid(name))
        return weft_cli_usage_error("new",
                                    "'%s' is not a project name: a letter, then letters, "
                                    "digits, '-' and '_', at most %d",
                                    name, WEFT_NEW_MAX_NAME);
    /* "dir/" names dir: its hidden sibling is made beside it, not in it. */
    char out_buf[4096];
    snprintf(out_buf, sizeof out_buf, "%s", output ? output : name);
    for (size_t n = strlen(out_buf); n > 1 && out_buf[n - 1] == '/';)
        out_buf[--n] = 0;
    output = out_buf;
    struct stat st;
    if (lstat(output, &st) == 0) {
        fprintf(stderr,
                "weft new: %s already exists; nothing was written (choose another "
                "NAME, or --output DIR)\n",
                output);
        return WEFT_EXIT_ERROR;
    }

    /* The hidden sibling folder the project is made in. */
    char tmp[4096];
    const char *slash = strrchr(output, '/');
    int dirlen = slash ? (int)(slash - output + 1) : 0;
    if ((size_t)snprintf(tmp, sizeof tmp, "%.*s.%s.weft-new-%d", dirlen, output,
                         slash ? slash + 1 : output, (int)getpid()) >= sizeof tmp) {
        fprintf(stderr, "weft new: %s: path too long\n", output);
        return WEFT_EXIT_ERROR;
    }
    weft_error_t err = {0};
    weft_buf_t content = {0};
    int rc = 0;
    if (mkdir(tmp, 0755)) {
        weft_error_set(&err, WEFT_EIO, "cannot create %s: %s", tmp, strerror(errno));
        rc = 1;
    }
    for (size_t i = 0; !rc && i < NTEMPLATE_FILES; i++) {
        const new_template_file_t *f = &weft_template_files[i];
        if (strcmp(f->template_name, t->name))
            continue;
        content.len = 0;
        if (substitute(f->data, f->len, name, &content)) {
            weft_error_set(&err, WEFT_ENOMEM, "out of memory");
            rc = 1;
        } else {
            rc = write_file(tmp, f->path, &content, &err);
        }
    }
    /* rename() would replace an empty folder made meanwhile: look again just before. */
    if (!rc && lstat(output, &st) == 0) {
        weft_error_set(&err, WEFT_EIO, "%s already exists; nothing was written", output);
        rc = 1;
    } else if (!rc && rename(tmp, output)) {
        weft_error_set(&err, WEFT_EIO, "cannot create %s: %s", output, strerror(errno));
        rc = 1;
    }
    weft_buf_free(&content);
    if (rc) {
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        fprintf(stderr, "weft new: %s\n", err.msg);
        return WEFT_EXIT_ERROR;
    }
    printf("Created %s from the template %s:\n", output, t->name);
    for (size_t i = 0; i < NTEMPLATE_FILES; i++)
        if (!strcmp(weft_template_files[i].template_name, t->name))
            printf("  %s/%s\n", output, weft_template_files[i].path);
    printf("Next: cd %s && weft build && weft up\n", output);
    return 0;
}
