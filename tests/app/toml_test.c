/* The TOML parser against the toml-test corpus (every TOML 1.0.0 case), then a few
 * direct checks of what the corpus does not look at: line numbers, error messages,
 * the named bounds.
 *
 * Corpus: $TESTDATA/toml-test/tests/files-toml-1.0.0 lists the cases. A valid/X.toml
 * must parse to what valid/X.json says (tagged JSON, see shared/testdata/README.md);
 * an invalid/X.toml must be rejected. Prints "N passed, N failed" for the corpus. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/toml.h"
#include "test.h"

/* Paths in the corpus are short; anything longer is skipped as a broken list line. */
#define TOML_TEST_MAX_PATH 4096

static int corpus_passed, corpus_failed;

/* ---- corpus ------------------------------------------------------------------------ */

/* The repository root, from this file's path, for when TESTDATA is not set. */
static void default_testdata(char *out, size_t cap) {
    const char *self = __FILE__;
    const char *suffix = "tests/app/toml_test.c";
    size_t n = strlen(self), sn = strlen(suffix);
    size_t root = n >= sn && strcmp(self + n - sn, suffix) == 0 ? n - sn : 0;
    snprintf(out, cap, "%.*s%s../shared/testdata", (int)root, self, root ? "" : "./");
}

/* Datetimes compare as text once the spellings TOML allows for one value agree:
 * 't'/' ' for 'T', 'z' for 'Z', and trailing zeros of a fraction of a second
 * ("56.600Z" is "56.6Z"). */
static void normalize_datetime(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < cap; i++) {
        char c = in[i];
        if (c == 't' || (c == ' ' && i == 10))
            c = 'T';
        else if (c == 'z')
            c = 'Z';
        out[o++] = c;
    }
    out[o] = 0;
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    char *end = dot + 1;
    while (*end >= '0' && *end <= '9')
        end++;
    char *last = end;
    while (last > dot + 1 && last[-1] == '0')
        last--;
    if (last == dot + 1)
        last = dot; /* ".000" says nothing */
    memmove(last, end, strlen(end) + 1);
}

/* jansson cannot hold a NUL inside an object key, and the corpus has one
 * ("\u0000" = ...). So the JSON is read with every \u0000 escape turned into
 * U+10FFFF (a noncharacter the corpus never uses), and the TOML side's NUL bytes are
 * turned into the same before comparing. */
#define NUL_MARK "\xF4\x8F\xBF\xBF"

static void mark_nuls(const char *s, size_t len, weft_buf_t *out) {
    out->len = 0;
    weft_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (s[i])
            weft_buf_append(out, &s[i], 1);
        else
            weft_buf_append(out, NUL_MARK, 4);
    }
}

static json_t *load_json(const char *path, char *why, size_t cap) {
    uint8_t *text = NULL;
    size_t len = 0;
    weft_error_t err = {0};
    json_t *j = NULL;
    if (weft_file_read(path, &text, &len, &err)) {
        snprintf(why, cap, "%.900s", err.msg);
        return NULL;
    }
    weft_buf_t b = {0};
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\\' && i + 1 < len) {
            if (len - i >= 6 && memcmp(text + i, "\\u0000", 6) == 0) {
                weft_buf_puts(&b, "\\uDBFF\\uDFFF");
                i += 5;
            } else {
                weft_buf_append(&b, text + i, 2); /* an escape: never split it */
                i++;
            }
        } else
            weft_buf_append(&b, &text[i], 1);
    }
    json_error_t jerr;
    j = json_loadb((const char *)b.data, b.len, 0, &jerr);
    if (!j)
        snprintf(why, cap, "cannot read %.900s: %.100s", path, jerr.text);
    weft_buf_free(&b);
    free(text);
    return j;
}

static const char *tag_of(weft_toml_type_t t) {
    switch (t) {
    case WEFT_TOML_STRING:
        return "string";
    case WEFT_TOML_INTEGER:
        return "integer";
    case WEFT_TOML_FLOAT:
        return "float";
    case WEFT_TOML_BOOL:
        return "bool";
    case WEFT_TOML_DATETIME:
        return "datetime";
    case WEFT_TOML_DATETIME_LOCAL:
        return "datetime-local";
    case WEFT_TOML_DATE_LOCAL:
        return "date-local";
    case WEFT_TOML_TIME_LOCAL:
        return "time-local";
    default:
        return "?";
    }
}

static bool same_leaf(const weft_toml_value_t *v, json_t *j, char *why, size_t cap) {
    json_t *jt = json_object_get(j, "type"), *jv = json_object_get(j, "value");
    if (!json_is_object(j) || json_object_size(j) != 2 || !json_is_string(jt) ||
        !json_is_string(jv)) {
        snprintf(why, cap, "expected a %s, found a non-leaf in the JSON", tag_of(v->type));
        return false;
    }
    const char *type = json_string_value(jt), *text = json_string_value(jv);
    if (strcmp(type, tag_of(v->type)) != 0) {
        snprintf(why, cap, "type %s, expected %s", tag_of(v->type), type);
        return false;
    }
    switch (v->type) {
    case WEFT_TOML_STRING: {
        weft_buf_t got = {0};
        mark_nuls(v->u.str.ptr, v->u.str.len, &got);
        bool ok = v->u.str.ptr[v->u.str.len] == 0 && got.len == json_string_length(jv) &&
                  memcmp(got.data, text, got.len) == 0;
        weft_buf_free(&got);
        if (!ok)
            snprintf(why, cap, "string \"%s\", expected \"%s\"", v->u.str.ptr, text);
        return ok;
    }
    case WEFT_TOML_INTEGER: {
        long long want = strtoll(text, NULL, 10);
        if (want == v->u.i)
            return true;
        snprintf(why, cap, "integer %lld, expected %s", (long long)v->u.i, text);
        return false;
    }
    case WEFT_TOML_FLOAT: {
        double f = v->u.f;
        bool ok;
        if (strcmp(text, "nan") == 0 || strcmp(text, "+nan") == 0 || strcmp(text, "-nan") == 0)
            ok = isnan(f);
        else if (strcmp(text, "inf") == 0 || strcmp(text, "+inf") == 0)
            ok = isinf(f) && f > 0;
        else if (strcmp(text, "-inf") == 0)
            ok = isinf(f) && f < 0;
        else {
            double want = strtod(text, NULL);
            ok = f == want && !signbit(f) == !signbit(want);
        }
        if (!ok)
            snprintf(why, cap, "float %.17g, expected %s", f, text);
        return ok;
    }
    case WEFT_TOML_BOOL:
        if (strcmp(text, v->u.b ? "true" : "false") == 0)
            return true;
        snprintf(why, cap, "bool %d, expected %s", v->u.b, text);
        return false;
    default: {
        char a[128], b[128];
        normalize_datetime(v->u.str.ptr, a, sizeof a);
        normalize_datetime(text, b, sizeof b);
        if (strcmp(a, b) == 0)
            return true;
        snprintf(why, cap, "%s %s, expected %s", type, v->u.str.ptr, text);
        return false;
    }
    }
}

/* Compares v with the tagged JSON j; on a difference says where and what in why. The
 * TOML side decides what a JSON object is: a TOML table is compared as a table even
 * if its keys happen to be "type" and "value". */
static bool same_value(const weft_toml_value_t *v, json_t *j, char *why, size_t cap) {
    if (v->type == WEFT_TOML_TABLE) {
        if (!json_is_object(j) || json_object_size(j) != v->u.tab.len) {
            snprintf(why, cap, "table of %zu keys, expected %s of %zu", v->u.tab.len,
                     json_is_object(j) ? "an object" : "a non-object", json_object_size(j));
            return false;
        }
        for (size_t i = 0; i < v->u.tab.len; i++) {
            const weft_toml_kv_t *kv = &v->u.tab.items[i];
            weft_buf_t key = {0};
            mark_nuls(kv->key, kv->key_len, &key);
            json_t *jc = json_object_getn(j, (const char *)key.data, key.len);
            weft_buf_free(&key);
            if (!jc) {
                snprintf(why, cap, "unexpected key '%s'", kv->key);
                return false;
            }
            if (!same_value(kv->value, jc, why, cap)) {
                char inner[512];
                snprintf(inner, sizeof inner, "%s", why);
                snprintf(why, cap, "%s: %s", kv->key, inner);
                return false;
            }
        }
        return true;
    }
    if (v->type == WEFT_TOML_ARRAY) {
        if (!json_is_array(j) || json_array_size(j) != v->u.arr.len) {
            snprintf(why, cap, "array of %zu, expected %s of %zu", v->u.arr.len,
                     json_is_array(j) ? "an array" : "a non-array", json_array_size(j));
            return false;
        }
        for (size_t i = 0; i < v->u.arr.len; i++) {
            if (!same_value(v->u.arr.items[i], json_array_get(j, i), why, cap)) {
                char inner[512];
                snprintf(inner, sizeof inner, "%s", why);
                snprintf(why, cap, "[%zu]: %s", i, inner);
                return false;
            }
        }
        return true;
    }
    return same_leaf(v, j, why, cap);
}

static void corpus_case(const char *dir, const char *rel) {
    char path[TOML_TEST_MAX_PATH], why[1024] = "";
    bool valid = strncmp(rel, "valid/", 6) == 0;
    uint8_t *text = NULL;
    size_t len = 0;
    weft_error_t err = {0};
    weft_toml_value_t *root = NULL;
    json_t *want = NULL;
    bool ok = false;
    int pn = snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (pn < 0 || (size_t)pn >= sizeof path) {
        snprintf(why, sizeof why, "path too long");
        goto done;
    }
    if (weft_file_read(path, &text, &len, &err)) {
        snprintf(why, sizeof why, "cannot read: %.900s", err.msg);
        goto done;
    }
    int rc = weft_toml_parse((const char *)text, len, rel, &root, &err);
    if (!valid) {
        ok = rc != 0 && root == NULL && err.code == WEFT_ECONFIG;
        if (!ok)
            snprintf(why, sizeof why, "parsed, but it should be rejected");
        goto done;
    }
    if (rc) {
        snprintf(why, sizeof why, "rejected: %.900s", err.msg);
        goto done;
    }
    size_t n = strlen(path);
    memcpy(path + n - 5, ".json", 6);
    if (!(want = load_json(path, why, sizeof why)))
        goto done;
    ok = same_value(root, want, why, sizeof why);
done:
    if (ok)
        corpus_passed++;
    else {
        corpus_failed++;
        fprintf(stderr, "FAIL %s: %s\n", rel, why);
    }
    json_decref(want);
    weft_toml_free(root);
    free(text);
}

static void run_corpus(void) {
    char data[TOML_TEST_MAX_PATH], dir[TOML_TEST_MAX_PATH], list[TOML_TEST_MAX_PATH];
    const char *env = getenv("TESTDATA");
    if (env && *env)
        snprintf(data, sizeof data, "%s", env);
    else
        default_testdata(data, sizeof data);
    snprintf(dir, sizeof dir, "%.3000s/toml-test/tests", data);
    snprintf(list, sizeof list, "%.3500s/files-toml-1.0.0", dir);
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s (set TESTDATA to shared/testdata)\n", list);
        corpus_failed++;
        return;
    }
    char line[TOML_TEST_MAX_PATH];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        size_t n = strlen(line);
        /* The list names the .json files too; they are read with their .toml. */
        if (n < 5 || strcmp(line + n - 5, ".toml") != 0)
            continue;
        if (strncmp(line, "valid/", 6) != 0 && strncmp(line, "invalid/", 8) != 0)
            continue;
        corpus_case(dir, line);
    }
    fclose(f);
    /* A list that names no case (emptied, or laid out otherwise) must not pass as a
     * corpus that all passed. */
    if (corpus_passed + corpus_failed == 0) {
        fprintf(stderr, "%s names no valid/ or invalid/ .toml case\n", list);
        corpus_failed++;
    }
}

/* ---- direct checks ---------------------------------------------------------------- */

static weft_toml_value_t *parse_ok(const char *text) {
    weft_toml_value_t *root = NULL;
    weft_error_t err = {0};
    if (weft_toml_parse(text, strlen(text), "t.toml", &root, &err) != 0) {
        fprintf(stderr, "unexpected error: %s\n", err.msg);
        return NULL;
    }
    return root;
}

/* The error message for text, or "" if it parsed. */
static const char *parse_err(const char *text, size_t len, weft_error_t *err) {
    weft_toml_value_t *root = NULL;
    memset(err, 0, sizeof *err);
    if (weft_toml_parse(text, len, "t.toml", &root, err) == 0) {
        weft_toml_free(root);
        return "";
    }
    return err->msg;
}

static void test_lines_are_recorded(void) {
    weft_toml_value_t *root = parse_ok("# manifest\n"
                                       "name = \"x\"\n"
                                       "\n"
                                       "[server]\r\n"
                                       "port = 8080\n"
                                       "hosts = [\n"
                                       "  \"a\",\n"
                                       "  \"b\",\n"
                                       "]\n"
                                       "[[function]]\n"
                                       "route = '/a'\n"
                                       "[[function]]\n"
                                       "text = \"\"\"\n"
                                       "one\n"
                                       "two\"\"\"\n"
                                       "after = 1\n");
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK_EQ_INT(root->line, 1);
    CHECK_EQ_INT(weft_toml_get(root, "name")->line, 2);
    const weft_toml_value_t *server = weft_toml_get(root, "server");
    CHECK_EQ_INT(server->line, 4);
    CHECK_EQ_INT(weft_toml_get(server, "port")->line, 5);
    const weft_toml_value_t *hosts = weft_toml_get(server, "hosts");
    CHECK_EQ_INT(hosts->line, 6);
    CHECK_EQ_INT(hosts->u.arr.items[1]->line, 8);
    const weft_toml_value_t *fns = weft_toml_get(root, "function");
    CHECK_EQ_INT(fns->type, WEFT_TOML_ARRAY);
    CHECK_EQ_INT(fns->u.arr.len, 2);
    CHECK_EQ_INT(fns->u.arr.items[0]->line, 10);
    CHECK_EQ_INT(fns->u.arr.items[1]->line, 12);
    CHECK_EQ_INT(weft_toml_get(fns->u.arr.items[0], "route")->line, 11);
    const weft_toml_value_t *text = weft_toml_get(fns->u.arr.items[1], "text");
    CHECK_EQ_INT(text->line, 13);
    CHECK_EQ_STR(text->u.str.ptr, "one\ntwo");
    CHECK_EQ_INT(weft_toml_get(fns->u.arr.items[1], "after")->line, 16);
    weft_toml_free(root);
}

static void test_implicit_table_takes_the_line_of_its_definition(void) {
    weft_toml_value_t *root = parse_ok("[a.b]\nx = 1\n\n[a]\ny = 2\n");
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK_EQ_INT(weft_toml_get(root, "a")->line, 4);
    CHECK_EQ_INT(weft_toml_get(weft_toml_get(root, "a"), "b")->line, 1);
    weft_toml_free(root);
}

static void test_error_messages_name_file_line_column_and_key(void) {
    weft_error_t err;
    const char *dup = "name = 1\n[t]\nx = 2\n[u]\nname = 3\nx = 4\nx = 5\n";
    CHECK_EQ_STR(parse_err(dup, strlen(dup), &err),
                 "t.toml:7:1: duplicate key 'x' (first defined on line 6)");
    CHECK_EQ_INT(err.code, WEFT_ECONFIG);
    const char *dotted = "a.b.c = 1\n  a.b.c = 2\n";
    CHECK_EQ_STR(parse_err(dotted, strlen(dotted), &err),
                 "t.toml:2:7: duplicate key 'a.b.c' (first defined on line 1)");
    const char *twice = "[server]\nport = 1\n\n[server]\n";
    CHECK_EQ_STR(parse_err(twice, strlen(twice), &err),
                 "t.toml:4:2: table 'server' is already defined (line 1)");
    const char *header = "[a.b]\nz = 1\n[a]\nb.y = 2\n";
    CHECK_EQ_STR(parse_err(header, strlen(header), &err),
                 "t.toml:4:1: cannot add to table 'b' with a dotted key: it is defined by a "
                 "[header] on line 1");
    const char *inl = "p = {x = 1}\n[p.q]\n";
    CHECK_EQ_STR(parse_err(inl, strlen(inl), &err),
                 "t.toml:2:2: cannot add to 'p': it is an inline table (line 1)");
    const char *aot = "a = [1]\n[[a]]\n";
    CHECK_EQ_STR(parse_err(aot, strlen(aot), &err),
                 "t.toml:2:3: cannot append to 'a' with [[ ]]: it holds a value of type array "
                 "(line 1)");
    /* Columns count characters, not bytes. */
    const char *col = "k = \"\xC3\xA9\xC3\xA9\" x\n";
    CHECK_EQ_STR(parse_err(col, strlen(col), &err),
                 "t.toml:1:10: expected the end of the line after a value, found 'x'");
    const char *utf8 = "a = 1\nb = \"\xC3\x28\"\n";
    CHECK_EQ_STR(parse_err(utf8, strlen(utf8), &err),
                 "t.toml:2:6: invalid UTF-8 (byte 0xC3); TOML documents must be UTF-8");
    const char *cr = "a = 1\rb = 2\n";
    CHECK_EQ_STR(parse_err(cr, strlen(cr), &err),
                 "t.toml:1:6: carriage return not followed by a line feed");
    const char *big = "n = 9223372036854775808\n";
    CHECK_EQ_STR(parse_err(big, strlen(big), &err),
                 "t.toml:1:5: integer 9223372036854775808 does not fit in 64 bits");
    const char *esc = "s = \"\\uD800\"\n";
    CHECK_EQ_STR(parse_err(esc, strlen(esc), &err),
                 "t.toml:1:6: \\uD800 is not a Unicode scalar value");
    const char *feb = "d = 2023-02-29\n";
    CHECK_EQ_STR(parse_err(feb, strlen(feb), &err),
                 "t.toml:1:5: invalid date 2023-02-29: no such day in the calendar");
}

/* TOML 1.0 leaves open whether a dotted key may go through a table that so far only
 * exists as the parent in a [header]; weft lets it, and the table then counts as
 * defined by dotted keys. */
static void test_dotted_keys_may_define_an_implicit_table(void) {
    weft_error_t err;
    const char *ok = "[x.y.z]\n[x]\ny.w = 1\n";
    CHECK_EQ_STR(parse_err(ok, strlen(ok), &err), "");
    const char *again = "[x.y.z]\n[x]\ny.w = 1\n[x.y]\n";
    CHECK_EQ_STR(parse_err(again, strlen(again), &err),
                 "t.toml:4:4: table 'x.y' is already defined by dotted keys (line 3)");
}

static void test_nesting_is_bounded(void) {
    weft_error_t err;
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof text, "a = ");
    for (int i = 0; i < 300; i++)
        text[n++] = '[';
    text[n] = 0;
    CHECK(strstr(parse_err(text, n, &err), "nested more than 128 deep") != NULL);
    n = (size_t)snprintf(text, sizeof text, "a = ");
    for (int i = 0; i < 300; i++)
        text[n++] = '{', text[n++] = 'a', text[n++] = '=';
    CHECK(strstr(parse_err(text, n, &err), "nested more than 128 deep") != NULL);
    /* 128 levels are fine: the root is level 0. */
    n = (size_t)snprintf(text, sizeof text, "a = ");
    for (int i = 0; i < 128; i++)
        text[n++] = '[';
    for (int i = 0; i < 128; i++)
        text[n++] = ']';
    text[n] = 0;
    CHECK_EQ_STR(parse_err(text, n, &err), "");
}

static void test_text_need_not_be_nul_terminated(void) {
    const char text[] = {'a', ' ', '=', ' ', '1', '2', '3'};
    weft_toml_value_t *root = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_toml_parse(text, 6, "t.toml", &root, &err), 0);
    if (root) {
        CHECK_EQ_INT(weft_toml_get(root, "a")->u.i, 12);
        weft_toml_free(root);
    }
    root = NULL;
    CHECK_EQ_INT(weft_toml_parse(NULL, 0, "t.toml", &root, &err), 0);
    CHECK(root != NULL && root->type == WEFT_TOML_TABLE && root->u.tab.len == 0);
    weft_toml_free(root);
}

static void test_values_keep_their_exact_form(void) {
    weft_toml_value_t *root = parse_ok("min = -9223372036854775808\n"
                                       "max = 0x7FFF_FFFF_FFFF_FFFF\n"
                                       "nul = \"a\\u0000b\"\n"
                                       "dt = 1979-05-27 07:32:00.50z\n"
                                       "off = 1979-05-27t07:32:00-07:00\n"
                                       "crlf = '''\r\nx\r\ny'''\n"
                                       "\"\\u0000k\" = true\n");
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK(weft_toml_get(root, "min")->u.i == INT64_MIN);
    CHECK(weft_toml_get(root, "max")->u.i == INT64_MAX);
    const weft_toml_value_t *nul = weft_toml_get(root, "nul");
    CHECK_EQ_INT(nul->u.str.len, 3);
    CHECK(memcmp(nul->u.str.ptr, "a\0b", 4) == 0);
    CHECK_EQ_INT(weft_toml_get(root, "dt")->type, WEFT_TOML_DATETIME);
    CHECK_EQ_STR(weft_toml_get(root, "dt")->u.str.ptr, "1979-05-27T07:32:00.50Z");
    CHECK_EQ_STR(weft_toml_get(root, "off")->u.str.ptr, "1979-05-27T07:32:00-07:00");
    CHECK_EQ_STR(weft_toml_get(root, "crlf")->u.str.ptr, "x\ny");
    const weft_toml_kv_t *last = &root->u.tab.items[root->u.tab.len - 1];
    CHECK_EQ_INT(last->key_len, 2);
    CHECK(memcmp(last->key, "\0k", 3) == 0);
    CHECK(weft_toml_get(root, "nul")->u.str.ptr != NULL);
    CHECK(weft_toml_get(weft_toml_get(root, "min"), "x") == NULL);
    weft_toml_free(root);
}

static void test_large_tables_find_duplicates(void) {
    weft_buf_t b = {0};
    for (int i = 0; i < 2000; i++)
        weft_buf_printf(&b, "k%d = %d\n", i, i);
    weft_toml_value_t *root = parse_ok((const char *)b.data);
    CHECK(root != NULL);
    if (root) {
        CHECK_EQ_INT(root->u.tab.len, 2000);
        CHECK_EQ_INT(weft_toml_get(root, "k1999")->u.i, 1999);
        CHECK_EQ_INT(weft_toml_get(root, "k1999")->line, 2000);
        weft_toml_free(root);
    }
    weft_buf_printf(&b, "k1234 = 0\n");
    weft_error_t err;
    CHECK_EQ_STR(parse_err((const char *)b.data, b.len, &err),
                 "t.toml:2001:1: duplicate key 'k1234' (first defined on line 1235)");
    weft_buf_free(&b);
}

int main(void) {
    run_corpus();
    printf("%d passed, %d failed\n", corpus_passed, corpus_failed);
    test_lines_are_recorded();
    test_implicit_table_takes_the_line_of_its_definition();
    test_error_messages_name_file_line_column_and_key();
    test_dotted_keys_may_define_an_implicit_table();
    test_nesting_is_bounded();
    test_text_need_not_be_nul_terminated();
    test_values_keep_their_exact_form();
    test_large_tables_find_duplicates();
    int unit = TEST_DONE();
    return corpus_failed || unit ? 1 : 0;
}
