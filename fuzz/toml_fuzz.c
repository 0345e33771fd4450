/* libFuzzer target for the TOML parser (src/app/toml.c).
 *
 * Any input must either parse into a tree that keeps the contract of toml.h, or be
 * refused with a "fuzz.toml:LINE:COL: ..." message; anything else (a crash, a
 * sanitizer report, a broken invariant) is a finding. How to run: fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/toml.h"

/* The parser's own bound is 128; a deeper tree means the bound leaked. */
#define TOML_FUZZ_MAX_DEPTH 130

static void check_value(const weft_toml_value_t *v, int depth, int max_line) {
    if (!v || depth > TOML_FUZZ_MAX_DEPTH || v->line < 1 || v->line > max_line)
        abort();
    switch (v->type) {
    case WEFT_TOML_STRING:
    case WEFT_TOML_DATETIME:
    case WEFT_TOML_DATETIME_LOCAL:
    case WEFT_TOML_DATE_LOCAL:
    case WEFT_TOML_TIME_LOCAL:
        if (!v->u.str.ptr || v->u.str.ptr[v->u.str.len] != 0)
            abort();
        break;
    case WEFT_TOML_INTEGER:
    case WEFT_TOML_FLOAT:
    case WEFT_TOML_BOOL:
        break;
    case WEFT_TOML_ARRAY:
        for (size_t i = 0; i < v->u.arr.len; i++)
            check_value(v->u.arr.items[i], depth + 1, max_line);
        break;
    case WEFT_TOML_TABLE:
        for (size_t i = 0; i < v->u.tab.len; i++) {
            const weft_toml_kv_t *kv = &v->u.tab.items[i];
            if (!kv->key || kv->key[kv->key_len] != 0)
                abort();
            /* Keys are unique, so a key without NUL finds exactly its own value. */
            if (strlen(kv->key) == kv->key_len && weft_toml_get(v, kv->key) != kv->value)
                abort();
            check_value(kv->value, depth + 1, max_line);
        }
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    weft_toml_value_t *root = NULL;
    weft_error_t err = {0};
    int rc = weft_toml_parse((const char *)data, size, "fuzz.toml", &root, &err);
    if (rc == 0) {
        int lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        if (!root || root->type != WEFT_TOML_TABLE)
            abort();
        check_value(root, 0, lines);
        weft_toml_free(root);
    } else if (root || (rc == WEFT_ECONFIG && strncmp(err.msg, "fuzz.toml:", 10) != 0) ||
               (rc != WEFT_ECONFIG && rc != WEFT_ENOMEM)) {
        abort();
    }
    return 0;
}
