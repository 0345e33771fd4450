/* split: cuts a large module.c into translation units of bounded size.
 *
 * A C compiler's memory and time grow with the size of what it compiles at once: the
 * 341 MB of C that wasm2c writes for a 30 MB module made each gcc -O2 grow past 7 GB.
 * So the definitions of the module's functions are cut into units of bounded size
 * (compile.c chooses how many), compiled separately (at most one compiler per core,
 * tools.c) and linked together.
 *
 * wasm2c 1.0.32 writes one file whose layout is regular: helpers (macros and static
 * inline functions), then s_module_initialized, func_types, prototypes of the module's
 * functions (static ... w2c_name(...);), the segments' bytes and the init functions,
 * the definitions of the w2c_* functions, and last the exports, init_module and
 * instantiate. The split keeps everything but the definitions in module.c and moves
 * the definitions, in runs, to unit<i>.c, each of which gets the helpers, the
 * prototypes and extern declarations of what they share with module.c: func_types and
 * the bytes of passive data and element segments (memory.init and table.init read
 * them; whether a segment was dropped is a field of the instance, which every unit
 * sees). What is shared loses `static`; it stays inside the artifact, which is built
 * with -fvisibility=hidden.
 *
 * Anything that does not fit this layout is compiled as one unit, as before: correct,
 * only slower and hungrier.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* Length of the line at p, its '\n' included. */
static size_t line_len(const char *p, const char *end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    return (size_t)((eol ? eol + 1 : end) - p);
}

/* Is the line at p ("static <type> w2c_name(" ...) a module function's prototype or
 * definition? */
static bool is_w2c_function_line(const char *p, const char *end) {
    if ((size_t)(end - p) < 8 || memcmp(p, "static ", 7) != 0)
        return false;
    const char *eol = p + line_len(p, end);
    const char *name = weft_find_in(p, eol, " w2c_");
    if (!name)
        return false;
    name += 5;
    while (name < eol && (isalnum((unsigned char)*name) || *name == '_'))
        name++;
    return name < eol && *name == '(';
}

/* A definition's first line ends with "{", a prototype's with ";". */
static bool ends_with_char(const char *p, const char *end, char c) {
    size_t n = line_len(p, end);
    while (n && (p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    return n && p[n - 1] == c;
}

/* Is the line at p the definition of a segment's bytes that the functions read
 * ("static const u8 data_segment_data_w2c_d1[] = {", the element segments' likewise)?
 * *name and *name_len get the array's name. */
static bool is_segment_line(const char *p, const char *end, const char **name, size_t *name_len) {
    static const char *const kinds[] = {
        "static const u8 data_segment_data_",
        "static const wasm_elem_segment_expr_t elem_segment_exprs_"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t kl = strlen(kinds[k]);
        if ((size_t)(end - p) > kl && !memcmp(p, kinds[k], kl)) {
            const char *n = p + strlen("static const ");
            n = memchr(n, ' ', (size_t)(end - n));
            if (!n)
                return false;
            n++;
            const char *e = n;
            while (e < end && (isalnum((unsigned char)*e) || *e == '_'))
                e++;
            if (e + 1 >= end || e[0] != '[' || e[1] != ']')
                return false;
            *name = n;
            *name_len = (size_t)(e - n);
            return true;
        }
    }
    return false;
}

/* Appends [p, end) with "static " removed from the lines that unit files share: the
 * w2c_* functions and the segments' bytes. */
static void append_unstatic(weft_buf_t *b, const char *p, const char *end) {
    while (p < end) {
        size_t n = line_len(p, end);
        const char *name;
        size_t name_len;
        if (is_w2c_function_line(p, end) || is_segment_line(p, end, &name, &name_len)) {
            p += 7;
            n -= 7;
        }
        weft_buf_append(b, p, n);
        p += n;
    }
}

int weft_split_module_c(const char *tmp, int units, int *nunits, weft_error_t *err) {
    *nunits = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/module.c", tmp);
    uint8_t *data = NULL;
    size_t len;
    int rc = weft_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    const char *c = (const char *)data, *end = c + len;
    weft_buf_t head = {0}, b = {0};

    /* The landmarks: s_module_initialized, func_types, the first prototype, the first
     * definition, the end of the definitions. */
    const char *init = weft_find_in(c, end, "\nstatic bool s_module_initialized = false;\n");
    const char *ft = init ? weft_find_in(init, end, "\nstatic u32 func_types[") : NULL;
    unsigned ntypes = 0;
    if (!ft || sscanf(ft + strlen("\nstatic u32 func_types["), "%u", &ntypes) != 1)
        goto out;
    init++;
    ft++;
    const char *defs = NULL, *protos = NULL;
    for (const char *q = ft; q < end; q += line_len(q, end)) {
        if (!is_w2c_function_line(q, end))
            continue;
        if (ends_with_char(q, end, '{')) {
            defs = q;
            break;
        }
        if (!protos)
            protos = q;
    }
    if (!defs || !protos)
        goto out;
    /* The definitions run until the first line at column 0 that neither belongs to one
     * (its body and closing brace are indented or "}") nor starts the next. */
    const char *defs_end = defs;
    while (defs_end < end) {
        size_t n = line_len(defs_end, end);
        char first = *defs_end;
        if (first == '\n' || first == ' ' || first == '}' || is_w2c_function_line(defs_end, end))
            defs_end += n;
        else
            break;
    }
    /* Everything after must be outside the definitions: exports and init. */
    if (defs_end >= end || !weft_find_in(defs_end, end, "_init_module(void)"))
        goto out;
    for (const char *q = defs_end; q < end; q += line_len(q, end))
        if (is_w2c_function_line(q, end))
            goto out;
    size_t total = (size_t)(defs_end - defs);
    size_t want = units > 0 ? (size_t)units : 1;
    if (want < 2)
        goto out;
    if (want > WEFT_MAX_UNITS)
        want = WEFT_MAX_UNITS;

    /* What every unit starts with: the helpers, func_types and the segments' bytes as
     * extern, the prototypes without static. */
    weft_buf_append(&head, c, (size_t)(init - c));
    weft_buf_printf(&head, "extern u32 func_types[%u];\n", ntypes);
    for (const char *q = ft; q < defs; q += line_len(q, defs)) {
        const char *name;
        size_t name_len;
        if (is_segment_line(q, defs, &name, &name_len)) {
            bool data = !strncmp(name, "data_", 5);
            weft_buf_printf(&head, "extern const %s %.*s[];\n",
                            data ? "u8" : "wasm_elem_segment_expr_t", (int)name_len, name);
        }
    }
    for (const char *q = protos; q < defs; q += line_len(q, defs))
        if (is_w2c_function_line(q, defs) && ends_with_char(q, defs, ';'))
            append_unstatic(&head, q, q + line_len(q, defs));

    /* The units, cut at definitions into runs of about total / want bytes. */
    const char *at = defs;
    int n = 0;
    for (size_t i = 0; i < want && at < defs_end && !rc; i++) {
        const char *target = defs + total * (i + 1) / want;
        const char *cut = defs_end;
        if (i + 1 < want && target < defs_end) {
            for (const char *q = target; q < defs_end; q++) {
                q = memchr(q, '\n', (size_t)(defs_end - q));
                if (!q || q + 1 >= defs_end)
                    break;
                if (is_w2c_function_line(q + 1, defs_end)) {
                    cut = q + 1;
                    break;
                }
            }
        }
        if (cut <= at)
            continue;
        b.len = 0;
        weft_buf_append(&b, head.data, head.len);
        append_unstatic(&b, at, cut);
        char unit[PATH_MAX];
        snprintf(unit, sizeof unit, "%s/unit%d.c", tmp, n);
        rc = weft_file_write_atomic(unit, b.data, b.len, err);
        n++;
        at = cut;
    }
    if (rc)
        goto out;

    /* module.c: all but the definitions, what the units share made visible. */
    b.len = 0;
    weft_buf_append(&b, c, (size_t)(ft - c));
    weft_buf_puts(&b, "u32 func_types[");
    append_unstatic(&b, ft + strlen("static u32 func_types["), defs);
    weft_buf_append(&b, defs_end, (size_t)(end - defs_end));
    rc = weft_file_write_atomic(path, b.data, b.len, err);
    if (!rc)
        *nunits = n;
out:
    weft_buf_free(&head);
    weft_buf_free(&b);
    free(data);
    return rc;
}
