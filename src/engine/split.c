/* split: cuts a large module.c into translation units the C compiler runs on at once. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* gcc -O2 spends its time evenly over all functions, so a large module compiles about
 * n times faster as n translation units on n cores. wasm2c 1.0.32 writes one file whose
 * layout is regular: helpers (macros and static inline functions), then
 * s_module_initialized, func_types, prototypes of the module's functions (w2c_*), the
 * init functions and segments, the definitions of the w2c_* functions, and last the
 * exports and instantiate. The split keeps everything in module.c but moves runs of
 * definitions to part<i>.c, each of which gets the helpers, the prototypes and
 * func_types as extern. The w2c_* functions lose `static` (they stay hidden: the object
 * is built with -fvisibility=hidden). Definitions that refer to data or element
 * segments (bulk memory, table.init) stay in module.c; if there are any, nothing is
 * split. */

typedef struct span {
    const char *p;
    size_t n;
} span_t;

/* Is the line at p ("static <type> w2c_name(" ...) a module function's prototype or
 * definition? */
static bool is_w2c_function_line(const char *p, const char *end) {
    if ((size_t)(end - p) < 8 || memcmp(p, "static ", 7) != 0)
        return false;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    const char *name = weft_find_in(p, eol, " w2c_");
    if (!name)
        return false;
    name += 5;
    while (name < eol && (isalnum((unsigned char)*name) || *name == '_'))
        name++;
    return name < eol && *name == '(';
}

/* Appends [p, end) with "static " removed from the w2c_* function lines. */
static void append_unstatic(weft_buf_t *b, const char *p, const char *end) {
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        eol = eol ? eol + 1 : end;
        if (is_w2c_function_line(p, end))
            p += 7;
        weft_buf_append(b, p, (size_t)(eol - p));
        p = eol;
    }
}

/* Splits tmp/module.c into at most want parts; *nparts says how many (1: unchanged). */
int weft_split_module_c(const char *tmp, int want, int *nparts, weft_error_t *err) {
    *nparts = 1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    uint8_t *data = NULL;
    size_t len;
    int rc = weft_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    const char *c = (const char *)data, *end = c + len;
    weft_buf_t bufs[WEFT_MAX_PARTS] = {{0}};
    span_t chunks[WEFT_MAX_PARTS];
    const char *init = weft_find_in(c, end, "\nstatic bool s_module_initialized = false;\n");
    const char *ft = init ? weft_find_in(init, end, "\nstatic u32 func_types[") : NULL;
    const char *elem = ft ? weft_find_in(ft, end, "\nstatic void init_elem_instances(") : NULL;
    const char *defs = elem ? weft_find_in(elem, end, "\n}\n") : NULL;
    const char *defs_end = NULL;
    if (defs) {
        defs += 3;
        const char *e1 = weft_find_in(defs, end, "\n/* export: ");
        const char *e2 = weft_find_in(defs, end, "\nstatic void init_instance_import(");
        defs_end = e1 && (!e2 || e1 < e2) ? e1 + 1 : e2 ? e2 + 1 : NULL;
    }
    if (!defs || !defs_end || defs_end <= defs)
        goto out; /* not the layout this was written for: compile as one unit */
    unsigned ntypes = 0;
    if (sscanf(ft + strlen("\nstatic u32 func_types["), "%u", &ntypes) != 1)
        goto out;

    /* Cut the definitions into want runs of about equal size, at function starts. */
    size_t total = (size_t)(defs_end - defs);
    const char *at = defs;
    int n = 0;
    for (int i = 0; i < want && at < defs_end; i++) {
        const char *target =
            i == want - 1 ? defs_end : defs + total * (size_t)(i + 1) / (size_t)want;
        const char *cut =
            target >= defs_end ? defs_end : weft_find_in(target, defs_end, "\nstatic ");
        cut = cut && cut < defs_end ? cut + 1 : defs_end;
        chunks[n++] = (span_t){at, (size_t)(cut - at)};
        at = cut;
    }
    for (int i = 1; i < n; i++) {
        const char *e = chunks[i].p + chunks[i].n;
        if (weft_find_in(chunks[i].p, e, "data_segment_") ||
            weft_find_in(chunks[i].p, e, "elem_segment_") ||
            weft_find_in(chunks[i].p, e, "s_module_initialized"))
            goto out;
    }
    if (n < 2)
        goto out;

    /* module.c: all but chunks 1.., func_types made visible to the parts. */
    weft_buf_t *m = &bufs[0];
    weft_buf_append(m, c, (size_t)(ft + 1 - c));
    weft_buf_puts(m, "u32 func_types[");
    append_unstatic(m, ft + strlen("\nstatic u32 func_types["), chunks[0].p + chunks[0].n);
    weft_buf_append(m, defs_end, (size_t)(end - defs_end));
    /* The parts: helpers, func_types, prototypes, their run of definitions. */
    for (int i = 1; i < n; i++) {
        weft_buf_t *b = &bufs[i];
        weft_buf_append(b, c, (size_t)(init + 1 - c));
        weft_buf_printf(b, "extern u32 func_types[%u];\n", ntypes);
        for (const char *q = init + 1; q < defs;) {
            const char *eol = memchr(q, '\n', (size_t)(defs - q));
            eol = eol ? eol + 1 : defs;
            if (is_w2c_function_line(q, defs) && eol - q >= 3 && eol[-2] == ';')
                append_unstatic(b, q, eol);
            q = eol;
        }
        append_unstatic(b, chunks[i].p, chunks[i].p + chunks[i].n);
    }
    for (int i = 0; i < n && !rc; i++) {
        char out_path[PATH_MAX];
        if (i == 0)
            snprintf(out_path, sizeof out_path, "%s/module.c", tmp);
        else
            snprintf(out_path, sizeof out_path, "%s/part%d.c", tmp, i);
        rc = weft_file_write_atomic(out_path, bufs[i].data, bufs[i].len, err);
    }
    if (!rc)
        *nparts = n;
out:
    for (int i = 0; i < WEFT_MAX_PARTS; i++)
        weft_buf_free(&bufs[i]);
    free(data);
    return rc;
}
