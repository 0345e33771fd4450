/* toml: a strict TOML 1.0 parser (Debian ships no C TOML library).
 *
 * Parses a whole document into a tree of weft_toml_value_t. Every value remembers the
 * line it was defined on, so that the manifest layer can say "weft.toml:12: unknown key
 * 'tiemout' in [[function]]". Anything TOML 1.0 rejects is rejected, with
 * "FILE:LINE:COL: what".
 */
#ifndef WEFT_TOML_H
#define WEFT_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

typedef enum {
    WEFT_TOML_STRING,
    WEFT_TOML_INTEGER,
    WEFT_TOML_FLOAT,
    WEFT_TOML_BOOL,
    WEFT_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    WEFT_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    WEFT_TOML_DATE_LOCAL,     /* 1979-05-27 */
    WEFT_TOML_TIME_LOCAL,     /* 07:32:00 */
    WEFT_TOML_ARRAY,
    WEFT_TOML_TABLE,
} weft_toml_type_t;

typedef struct weft_toml_value weft_toml_value_t;

typedef struct weft_toml_kv {
    char *key; /* NUL-terminated; keys with embedded NUL are kept whole in key_len */
    size_t key_len;
    weft_toml_value_t *value;
} weft_toml_kv_t;

struct weft_toml_value {
    weft_toml_type_t type;
    int line; /* 1-based line where the value (or table header) was defined */
    union {
        struct {
            char *ptr; /* NUL-terminated; may contain NUL (see len) */
            size_t len;
        } str;     /* STRING; and the date/time kinds hold their canonical text here */
        int64_t i; /* INTEGER */
        double f;  /* FLOAT */
        bool b;    /* BOOL */
        struct {
            weft_toml_value_t **items;
            size_t len;
        } arr; /* ARRAY (arrays of tables too) */
        struct {
            weft_toml_kv_t *items; /* in document order */
            size_t len;
        } tab; /* TABLE */
    } u;
};

/* Parses text[0..len) (need not be NUL-terminated). name is used in error messages.
 * On success *root is a TABLE owned by the caller (weft_toml_free). */
int weft_toml_parse(const char *text, size_t len, const char *name, weft_toml_value_t **root,
                    weft_error_t *err);
void weft_toml_free(weft_toml_value_t *v);

/* Looks up key in a TABLE; NULL if absent or v is not a table. */
const weft_toml_value_t *weft_toml_get(const weft_toml_value_t *table, const char *key);

#endif
