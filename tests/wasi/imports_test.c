/* imports: the signatures weft gives the engine must be the real preview1 types, and
 * the C functions must have those types; a mismatch would make the engine accept a
 * module and then call a host function with the wrong C signature.
 *
 * Two independent checks:
 *  1. wasm2c's own declarations for a guest that imports every function (built by
 *     wasi-libc: $GUESTS/wasi_all_imports.wasm) spell the same signatures as
 *     weft_wasi_imports();
 *  2. in src/wasi/wasi.h, the C parameter list of each WEFT_WASI_FUNCTIONS entry
 *     spells its signature string (uint32_t = i, uint64_t = I). */
#include <ctype.h>

#include "harness.h"

static const char *sig_of(const char *name) {
    size_t n;
    const weft_import_def_t *defs = weft_wasi_imports(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(defs[i].name, name))
            return defs[i].sig;
    return NULL;
}

/* Reads a whole file, NUL-terminated; NULL if it cannot. */
static char *slurp(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    size_t got = fread(s, 1, (size_t)len, fp);
    s[got] = '\0';
    fclose(fp);
    return s;
}

/* "u32 Z_wasi_snapshot_preview1Z_fd_seek(struct Z_..._instance_t*, u32, u64, u32, u32);" */
static int check_wasm2c(const char *guests) {
    char tmp[] = "/tmp/weft-imports.XXXXXX";
    if (!mkdtemp(tmp))
        return -1;
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "wasm2c %s/wasi_all_imports.wasm -o %s/all.c", guests, tmp);
    int rc = system(cmd);
    CHECK_EQ_INT(rc, 0);
    snprintf(cmd, sizeof cmd, "%s/all.h", tmp);
    char *h = slurp(cmd);
    CHECK(h != NULL);
    int seen = 0;
    const char *prefix = "Z_wasi_snapshot_preview1Z_";
    for (char *p = h ? strstr(h, prefix) : NULL; p; p = strstr(p + 1, prefix)) {
        /* a declaration: the return type starts the line */
        char *line = p;
        while (line > h && line[-1] != '\n')
            line--;
        if (line == p || strncmp(line, "extern", 6) == 0)
            continue;
        char *paren = strchr(p, '(');
        if (!paren || paren[-1] == ' ')
            continue;
        char name[64] = {0};
        size_t nl = (size_t)(paren - p) - strlen(prefix);
        if (nl >= sizeof name)
            continue;
        memcpy(name, p + strlen(prefix), nl);
        char sig[32] = {0};
        size_t k = 0;
        char *end = strchr(paren, ')');
        for (char *a = strchr(paren, ','); a && a < end && k < 20; a = strchr(a + 1, ',')) {
            while (*++a == ' ')
                ;
            sig[k++] = !strncmp(a, "u32", 3)   ? 'i'
                       : !strncmp(a, "u64", 3) ? 'I'
                       : !strncmp(a, "f32", 3) ? 'f'
                       : !strncmp(a, "f64", 3) ? 'F'
                                               : '?';
        }
        sig[k++] = ':';
        if (!strncmp(line, "u32 ", 4))
            sig[k++] = 'i';
        else if (!strncmp(line, "u64 ", 4))
            sig[k++] = 'I';
        const char *ours = sig_of(name);
        if (!ours || strcmp(ours, sig) != 0)
            fprintf(stderr, "%s: wasm2c says %s, weft says %s\n", name, sig, ours ? ours : "-");
        CHECK(ours && !strcmp(ours, sig));
        seen++;
    }
    free(h);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return seen;
}

static int check_header(const char *src) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/src/wasi/wasi.h", src);
    char *h = slurp(path);
    CHECK(h != NULL);
    if (!h)
        return 0;
    /* join continued lines */
    char *w = h;
    for (char *r = h; *r; r++) {
        if (r[0] == '\\' && r[1] == '\n') {
            r++;
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
    int seen = 0;
    char *body = strstr(h, "#define WEFT_WASI_FUNCTIONS(X)");
    char *stop = body ? strstr(body, "#define WEFT_WASI_DECLARE_") : NULL;
    for (char *x = body ? strstr(body, " X(") : NULL; x && x < stop; x = strstr(x + 1, " X(")) {
        char name[64] = {0}, sig[32] = {0};
        if (sscanf(x, " X(%63[a-z_], \"%31[iIfF:]\"", name, sig) != 2)
            continue;
        char *params = strstr(x + 3, "(weft_guest_t");
        char *next = strstr(x + 3, " X(");
        CHECK(params && (!next || params < next));
        char *end = params ? strchr(params, ')') : NULL;
        char spelled[32] = {0};
        size_t k = 0;
        for (char *t = params; t && t < end && k < 20; t++) {
            if (!strncmp(t, "uint32_t", 8))
                spelled[k++] = 'i', t += 7;
            else if (!strncmp(t, "uint64_t", 8))
                spelled[k++] = 'I', t += 7;
        }
        /* every function returns the errno (u32) */
        snprintf(spelled + k, sizeof spelled - k, ":i");
        if (strcmp(spelled, sig))
            fprintf(stderr, "%s: C parameters say %s, signature says %s\n", name, spelled, sig);
        CHECK_EQ_STR(spelled, sig);
        CHECK_EQ_STR(sig_of(name), sig);
        seen++;
    }
    free(h);
    return seen;
}

int main(void) {
    const char *guests = getenv("GUESTS"), *src = getenv("SRC");
    if (!guests || !src) {
        fprintf(stderr, "imports_test: needs GUESTS and SRC (set by ctest)\n");
        return 1;
    }
    CHECK_EQ_INT(check_wasm2c(guests), 46);
    CHECK_EQ_INT(check_header(src), 45); /* all but proc_exit, declared apart */
    CHECK_EQ_STR(sig_of("proc_exit"), "i:");
    return TEST_DONE();
}
