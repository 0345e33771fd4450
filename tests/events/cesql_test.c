/* CESQL 1.0 (src/events/cesql.h): every operator, function, cast and error rule, the
 * parse errors with their columns, the bounds on nesting and length, filters
 * (weft_cesql_match, weft_cesql_check), JSON output, and `weft cesql` run in-process.
 *
 * The evaluation cases cover the ground of the CloudEvents CESQL conformance suite
 * (cesql_tck), many of its expressions and expected values included, with weft's own
 * cases beside them (Unicode, overflow, precedence, the limits). Each case names the
 * event it runs against: the attributes given, besides the required ones. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/cesql.h"
#include "test.h"

/* ---- Events ----------------------------------------------------------------------------- */

/* The required attributes, then attrs: "name=value;..." where a name written #name is an
 * integer attribute, ?name a boolean one, and time a timestamp. */
static void make_event(weft_ce_t *ev, const char *attrs) {
    *ev = (weft_ce_t){0};
    weft_ce_set(ev, "specversion", "1.0", WEFT_CE_STRING);
    weft_ce_set(ev, "id", "myId", WEFT_CE_STRING);
    weft_ce_set(ev, "source", "localhost.localdomain", WEFT_CE_URI_REF);
    weft_ce_set(ev, "type", "myType", WEFT_CE_STRING);
    if (!attrs)
        return;
    char *copy = strdup(attrs), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        *eq = 0;
        weft_ce_type_t type = weft_ce_attr_type(item);
        if (item[0] == '#')
            type = WEFT_CE_INTEGER, item++;
        else if (item[0] == '?')
            type = WEFT_CE_BOOLEAN, item++;
        weft_ce_set(ev, item, eq + 1, type);
    }
    free(copy);
}

/* ---- Evaluation cases ------------------------------------------------------------------ */

typedef struct eval_case {
    const char *expr;
    const char *attrs;  /* see make_event */
    const char *result; /* the value as JSON */
    const char *error;  /* the first error's kind name, NULL: none */
} eval_case_t;

static const eval_case_t eval_cases[] = {
    /* Literals. */
    {"TRUE", NULL, "true", NULL},
    {"FALSE", NULL, "false", NULL},
    {"tRuE", NULL, "true", NULL},
    {"0", NULL, "0", NULL},
    {"1", NULL, "1", NULL},
    {"+7", NULL, "7", NULL},
    {"2147483647", NULL, "2147483647", NULL},
    {"-2147483648", NULL, "-2147483648", NULL},
    {"'abc'", NULL, "\"abc\"", NULL},
    {"\"abc\"", NULL, "\"abc\"", NULL},
    {"'aBc'", NULL, "\"aBc\"", NULL},
    {"\"AbC\"", NULL, "\"AbC\"", NULL},
    {"'a\"b\\'c'", NULL, "\"a\\\"b'c\"", NULL},
    {"\"a'b\\\"c\"", NULL, "\"a'b\\\"c\"", NULL},
    {"'a\\b'", NULL, "\"a\\\\b\"", NULL},     /* a backslash before another letter stays */
    {"'a\\\\'", NULL, "\"a\\\\\\\\\"", NULL}, /* '\\' is two backslashes, then the end */
    {"\"a\\'b\"", NULL, "\"a\\\\'b\"", NULL}, /* \' in a "..." string stays as it is */
    {"''", NULL, "\"\"", NULL},
    {"'tab\there'", NULL, "\"tab\\there\"", NULL},
    {"'é ü 😀'", NULL, "\"é ü 😀\"", NULL},
    /* Sub-expressions and precedence. */
    {"(TRUE)", NULL, "true", NULL},
    {"4 * (2 + 3)", NULL, "20", NULL},
    {"(2 + 3) * 4", NULL, "20", NULL},
    {"4 * 2 + 4 / 2", NULL, "10", NULL},
    {"4 * (2 + 4) / 2", NULL, "12", NULL},
    {"2 + 3 * 4 - 6 / 2 % 2", NULL, "13", NULL},
    {"10 - 2 - 3", NULL, "5", NULL}, /* left to right */
    {"100 / 10 / 5", NULL, "2", NULL},
    {"5-3", NULL, "2", NULL},
    {"5 -3", NULL, "2", NULL},
    {"5 - -3", NULL, "8", NULL},
    {"1 + 2 = 3", NULL, "true", NULL},
    {"1 < 2 = TRUE", NULL, "true", NULL},
    /* AND, OR, XOR: one level, from the left. */
    {"FALSE AND TRUE OR TRUE", NULL, "true", NULL},
    {"TRUE OR TRUE AND FALSE", NULL, "false", NULL},
    {"TRUE OR (TRUE AND FALSE)", NULL, "true", NULL},
    {"TRUE XOR TRUE OR TRUE", NULL, "true", NULL},
    {"TRUE XOR TRUE XOR TRUE", NULL, "true", NULL},
    /* NOT and unary minus bind tightest. */
    {"NOT TRUE AND FALSE", NULL, "false", NULL},
    {"NOT (TRUE AND FALSE)", NULL, "true", NULL},
    {"NOT FALSE = FALSE", NULL, "false", NULL},
    {"-2 * 3", NULL, "-6", NULL},
    {"- 2 * 3", NULL, "-6", NULL},
    {"-(2 + 3)", NULL, "-5", NULL},
    {"NOT NOT TRUE", NULL, "true", NULL},
    /* LIKE and IN bind tighter than the binary operators. */
    {"1 + 2 IN (2)", NULL, "2", NULL},
    {"'a' LIKE 'a' = TRUE", NULL, "true", NULL},
    {"NOT 'true' LIKE 'f%'", NULL, "true", NULL},
    {"EXISTS id AND EXISTS type", NULL, "true", NULL},
    {"2 * 3 IN (6) + 1", NULL, "1", NULL},
    /* Negation. */
    {"-10", NULL, "-10", NULL},
    {"--10", NULL, "10", NULL},
    {"-'10'", NULL, "-10", NULL},
    {"--'10'", NULL, "10", NULL},
    {"-TRUE", NULL, "-1", NULL},
    {"-missing", NULL, "0", "missing attribute"},
    {"-'abc'", NULL, "0", "cast"},
    {"- -2147483648", NULL, "2147483647", "math"},
    /* NOT. */
    {"NOT TRUE", NULL, "false", NULL},
    {"NOT FALSE", NULL, "true", NULL},
    {"NOT 'TRUE'", NULL, "false", NULL},
    {"NOT 'FALSE'", NULL, "true", NULL},
    {"NOT 10", NULL, "false", NULL},
    {"NOT 0", NULL, "true", NULL},
    {"NOT missing", NULL, "false", "missing attribute"},
    {"NOT 'abc'", NULL, "true", "cast"}, /* the failed cast gives false */
    /* Arithmetic. */
    {"5 / 3", NULL, "1", NULL},
    {"-5 / 3", NULL, "-1", NULL},
    {"5 / -3", NULL, "-1", NULL},
    {"5 % 2", NULL, "1", NULL},
    {"-5 % 3", NULL, "-2", NULL},
    {"5 % -3", NULL, "2", NULL},
    {"5 / 0", NULL, "0", "math"},
    {"5 % 0", NULL, "0", "math"},
    {"missing / 0", NULL, "0", "missing attribute"},
    {"missing % 0", NULL, "0", "missing attribute"},
    {"1 / missing", NULL, "0", "missing attribute"},
    {"missing * 5", NULL, "0", "missing attribute"},
    {"missing * 5 + 1", NULL, "0", "missing attribute"},
    {"4 + 1", NULL, "5", NULL},
    {"-4 + 1", NULL, "-3", NULL},
    {"-4 + -1", NULL, "-5", NULL},
    {"4 + -1", NULL, "3", NULL},
    {"4 - 1", NULL, "3", NULL},
    {"-4 - 1", NULL, "-5", NULL},
    {"'5' + 3", NULL, "8", NULL},
    {"5 + '3'", NULL, "8", NULL},
    {"'5' + '3'", NULL, "8", NULL},
    {"5 + TRUE", NULL, "6", NULL},
    {"'abc' + 1", NULL, "1", "cast"},
    {"2147483647 + 1", NULL, "2147483647", "math"},
    {"-2147483648 - 1", NULL, "-2147483648", "math"},
    {"65536 * 65536", NULL, "2147483647", "math"},
    {"65536 * -65536", NULL, "-2147483648", "math"},
    {"-2147483648 / -1", NULL, "2147483647", "math"},
    {"-2147483648 % -1", NULL, "0", NULL},
    {"(5 / 0) + 1", NULL, "0", "math"},
    {"myint * 2", "#myint=21", "42", NULL},
    {"myext * 2", "myext=21", "42", NULL},
    /* Comparisons. */
    {"TRUE = FALSE", NULL, "false", NULL},
    {"FALSE = FALSE", NULL, "true", NULL},
    {"1 = 2", NULL, "false", NULL},
    {"2 = 2", NULL, "true", NULL},
    {"'abc' = '123'", NULL, "false", NULL},
    {"'abc' = 'abc'", NULL, "true", NULL},
    {"'abc' = 'ABC'", NULL, "false", NULL},
    {"missing = 2", NULL, "false", "missing attribute"},
    {"2 = missing", NULL, "false", "missing attribute"},
    {"TRUE != FALSE", NULL, "true", NULL},
    {"FALSE != FALSE", NULL, "false", NULL},
    {"1 != 2", NULL, "true", NULL},
    {"2 != 2", NULL, "false", NULL},
    {"'abc' != '123'", NULL, "true", NULL},
    {"'abc' != 'abc'", NULL, "false", NULL},
    {"missing != 2", NULL, "false", "missing attribute"},
    {"TRUE <> FALSE", NULL, "true", NULL},
    {"FALSE <> FALSE", NULL, "false", NULL},
    {"1 <> 2", NULL, "true", NULL},
    {"2 <> 2", NULL, "false", NULL},
    {"'abc' <> '123'", NULL, "true", NULL},
    {"'abc' <> 'abc'", NULL, "false", NULL},
    {"missing <> 2", NULL, "false", "missing attribute"},
    {"2 <= 2", NULL, "true", NULL},
    {"3 <= 2", NULL, "false", NULL},
    {"1 < 2", NULL, "true", NULL},
    {"2 < 2", NULL, "false", NULL},
    {"2 >= 2", NULL, "true", NULL},
    {"2 >= 3", NULL, "false", NULL},
    {"2 > 1", NULL, "true", NULL},
    {"2 > 2", NULL, "false", NULL},
    {"-1 < 0", NULL, "true", NULL},
    {"'10' > '9'", NULL, "true", NULL}, /* compared as Integers */
    {"missing <= 2", NULL, "false", "missing attribute"},
    {"'abc' < 1", NULL, "true", "cast"},
    /* = casts the left operand to the right one's type. */
    {"true = 'TRUE'", NULL, "false", NULL},
    {"'TRUE' = true", NULL, "true", NULL},
    {"TRUE = 'true'", NULL, "true", NULL},
    {"TRUE = \"true\" AND FALSE = \"false\"", NULL, "true", NULL},
    {"TRUE = \"TRUE\" OR FALSE = \"FALSE\"", NULL, "false", NULL},
    {"'1' = 1", NULL, "true", NULL},
    {"1 = '1'", NULL, "true", NULL},
    {"'01' = 1", NULL, "true", NULL},
    {"1 = '01'", NULL, "false", NULL},
    {"'abc' = 1", NULL, "false", "cast"},
    {"2 = TRUE", NULL, "true", NULL},
    {"0 = FALSE", NULL, "true", NULL},
    /* Logic. */
    {"FALSE AND FALSE", NULL, "false", NULL},
    {"FALSE AND TRUE", NULL, "false", NULL},
    {"TRUE AND FALSE", NULL, "false", NULL},
    {"TRUE AND TRUE", NULL, "true", NULL},
    {"false and (1 != 1 / 0)", NULL, "false", NULL},
    {"true and (1 != 1 / 0)", NULL, "false", "math"},
    {"FALSE OR FALSE", NULL, "false", NULL},
    {"FALSE OR TRUE", NULL, "true", NULL},
    {"TRUE OR FALSE", NULL, "true", NULL},
    {"TRUE OR TRUE", NULL, "true", NULL},
    {"true or (1 != 1 / 0)", NULL, "true", NULL},
    {"false or (1 != 1 / 0)", NULL, "false", "math"},
    {"FALSE XOR FALSE", NULL, "false", NULL},
    {"FALSE XOR TRUE", NULL, "true", NULL},
    {"TRUE XOR FALSE", NULL, "true", NULL},
    {"TRUE XOR TRUE", NULL, "false", NULL},
    {"1 AND 'true'", NULL, "true", NULL},
    {"0 OR 'FALSE'", NULL, "false", NULL},
    {"missing AND TRUE", NULL, "false", "missing attribute"},
    {"missing OR TRUE", NULL, "false", "missing attribute"},
    {"TRUE OR missing", NULL, "true", NULL},
    {"FALSE AND missing", NULL, "false", NULL},
    {"TRUE AND missing", NULL, "false", "missing attribute"},
    {"missing OR FALSE OR TRUE", NULL, "false", "missing attribute"},
    {"TRUE XOR missing", NULL, "false", "missing attribute"},
    {"true AND (missing = '')", NULL, "false", "missing attribute"},
    {"'yes' AND TRUE", NULL, "false", "cast"},
    {"'yes' OR TRUE", NULL, "true", "cast"}, /* the failed cast gives false */
    {"(1 / 0 = 0) OR TRUE", NULL, "false", "math"},
    /* LIKE. */
    {"'abc' LIKE 'abc'", NULL, "true", NULL},
    {"'ab\\c' LIKE 'ab\\c'", NULL, "true", NULL},
    {"'abc' NOT LIKE 'abc'", NULL, "false", NULL},
    {"'abc' LIKE 'a%b%c'", NULL, "true", NULL},
    {"'azbc' LIKE 'a%b%c'", NULL, "true", NULL},
    {"'azzzbzzzc' LIKE 'a%b%c'", NULL, "true", NULL},
    {"'a%b%c' LIKE 'a%b%c'", NULL, "true", NULL},
    {"'ac' LIKE 'abc'", NULL, "false", NULL},
    {"'' LIKE 'abc'", NULL, "false", NULL},
    {"'' LIKE '%'", NULL, "true", NULL},
    {"'' LIKE '_'", NULL, "false", NULL},
    {"'.ab.cde.' LIKE '.%.%.'", NULL, "true", NULL},
    {"'ab.cde' LIKE '.%.%.'", NULL, "false", NULL},
    {"'abc' LIKE 'a_b_c'", NULL, "false", NULL},
    {"'a_b_c' LIKE 'a_b_c'", NULL, "true", NULL},
    {"'abzc' LIKE 'a_b_c'", NULL, "false", NULL},
    {"'azbc' LIKE 'a_b_c'", NULL, "false", NULL},
    {"'azbzc' LIKE 'a_b_c'", NULL, "true", NULL},
    {"'.a.b.' LIKE '._._.'", NULL, "true", NULL},
    {"'abcd.' LIKE '._._.'", NULL, "false", NULL},
    {"'a_b_c' LIKE 'a\\_b\\_c'", NULL, "true", NULL},
    {"'a_b_c' NOT LIKE 'a\\_b\\_c'", NULL, "false", NULL},
    {"'azbzc' LIKE 'a\\_b\\_c'", NULL, "false", NULL},
    {"'abc' LIKE 'a\\_b\\_c'", NULL, "false", NULL},
    {"'abc' LIKE 'a\\%b\\%c'", NULL, "false", NULL},
    {"'a%b%c' LIKE 'a\\%b\\%c'", NULL, "true", NULL},
    {"'azbzc' LIKE 'a\\%b\\%c'", NULL, "false", NULL},
    {"'a\\\\b' LIKE 'a\\\\b'", NULL, "true", NULL}, /* backslashes before no % or _ */
    {"'a\\\\%' LIKE 'a\\\\\\%'", NULL, "true", NULL},
    {"myext LIKE 'abc%123\\%456\\_d_f'", "myext=abc123123%456_dzf", "true", NULL},
    {"myext NOT LIKE 'abc%123\\%456\\_d_f'", "myext=abc123123%456_dzf", "false", NULL},
    {"234 LIKE '23_'", NULL, "true", NULL},
    {"2344 LIKE '23%'", NULL, "true", NULL},
    {"2344 LIKE '23_'", NULL, "false", NULL},
    {"-5 LIKE '-_'", NULL, "true", NULL},
    {"TRUE LIKE 'tr%'", NULL, "true", NULL},
    {"TRUE LIKE '%ue'", NULL, "true", NULL},
    {"FALSE LIKE 'tr%'", NULL, "false", NULL},
    {"FALSE LIKE 'fal%'", NULL, "true", NULL},
    {"'aBc' LIKE 'abc'", NULL, "false", NULL},
    {"'é' LIKE '_'", NULL, "true", NULL}, /* one character, two bytes */
    {"'😀x' LIKE '__'", NULL, "true", NULL},
    {"'x😀y😀z' LIKE '%😀z'", NULL, "true", NULL},
    {"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaab' LIKE '%a%a%a%a%a%a%b'", NULL, "true", NULL},
    {"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' LIKE '%a%a%a%a%a%a%b'", NULL, "false", NULL},
    {"missing LIKE 'x%'", NULL, "false", "missing attribute"},
    {"missing NOT LIKE 'x%'", NULL, "false", "missing attribute"},
    {"\"abc\" LIKE \"a%\"", NULL, "true", NULL},
    {"'abc' like 'A%'", NULL, "false", NULL},
    /* EXISTS. */
    {"EXISTS id", NULL, "true", NULL},
    {"EXISTS specversion", NULL, "true", NULL},
    {"EXISTS source", NULL, "true", NULL},
    {"EXISTS type", NULL, "true", NULL},
    {"EXISTS time", "time=2018-04-26T14:48:09+02:00", "true", NULL},
    {"EXISTS time", NULL, "false", NULL},
    {"EXISTS myext", "myext=my extension", "true", NULL},
    {"EXISTS myext", NULL, "false", NULL},
    {"exists subject", "subject=x", "true", NULL},
    {"NOT EXISTS subject", NULL, "true", NULL},
    /* IN. */
    {"123 IN (1, 2, 3, 12, 13, 23, 123)", NULL, "true", NULL},
    {"123 NOT IN (1, 2, 3, 12, 13, 23, 123)", NULL, "false", NULL},
    {"'abc' IN ('abc', \"bcd\")", NULL, "true", NULL},
    {"'aaa' IN ('abc', \"bcd\")", NULL, "false", NULL},
    {"'aaa' NOT IN ('abc', \"bcd\")", NULL, "true", NULL},
    {"TRUE IN (TRUE, FALSE)", NULL, "true", NULL},
    {"TRUE IN (FALSE)", NULL, "false", NULL},
    {"'true' IN (TRUE, 'false')", NULL, "true", NULL},
    {"'true' IN ('TRUE', 'false')", NULL, "false", NULL},
    {"1 IN ('1', '2')", NULL, "true", NULL},
    {"'1' IN (1, 2)", NULL, "true", NULL},
    {"TRUE IN (2)", NULL, "true", NULL},
    {"source IN (myext, 'abc')", "source=http://localhost/source;myext=http://localhost/source",
     "true", NULL},
    {"type IN ('a', 'b', type)", NULL, "true", NULL},
    {"1 IN (1 + 0, 1 / 0)", NULL, "true", NULL}, /* stops at the first match */
    {"2 IN (1 / 0, 2)", NULL, "false", "math"},
    {"1 IN ('x', 1)", NULL, "true", "cast"},
    {"missing IN (1, 2)", NULL, "false", "missing attribute"},
    {"missing NOT IN (1, 2)", NULL, "false", "missing attribute"},
    {"1 IN (missing, 1)", NULL, "false", "missing attribute"},
    {"1 IN (1, missing)", NULL, "true", NULL},
    /* Attributes and their types. */
    {"id", NULL, "\"myId\"", NULL},
    {"subject", "subject=mySubject", "\"mySubject\"", NULL},
    {"subject", NULL, "false", "missing attribute"},
    {"mybool", "?mybool=true", "true", NULL},
    {"myint", "#myint=10", "10", NULL},
    {"myext", "myext=my extension", "\"my extension\"", NULL},
    {"source", "source=http://localhost/source", "\"http://localhost/source\"", NULL},
    {"time", "time=2018-04-26T14:48:09+02:00", "\"2018-04-26T14:48:09+02:00\"", NULL},
    {"myint = 10", "#myint=10", "true", NULL},
    {"myint = '10'", "#myint=10", "true", NULL},
    {"mybool = 'true'", "?mybool=true", "true", NULL},
    {"mybool AND TRUE", "?mybool=true", "true", NULL},
    {"myflag AND TRUE", "myflag=TRUE", "true", NULL},
    {"myint + 1", "#myint=-2147483648", "-2147483647", NULL},
    {"sequence = 5", "sequence=5", "true", NULL},
    {"sequence = 5", "sequence=6", "false", NULL},
    {"sequence = 5", "sequence=five", "false", "cast"},
    {"hop < ttl", "hop=5;ttl=10", "true", NULL},
    {"hop < ttl", "hop=5", "false", "missing attribute"},
    {"int(hop) < int(ttl) and int(hop) < 1000", "hop=5;ttl=10", "true", NULL},
    {"INT(hop) < INT(ttl) AND INT(hop) < 1000", "hop=5;ttl=10", "true", NULL},
    {"firstname = 'Francesco' OR subject = 'Francesco'", "subject=Francesco;firstname=Doug", "true",
     NULL},
    {"firstname = 'Francesco' OR subject = 'Francesco'", "firstname=Francesco;subject=Doug", "true",
     NULL},
    {"(firstname = 'Francesco' AND lastname = 'Guardiani') OR subject = 'Francesco Guardiani'",
     "subject=Doug;firstname=Francesco;lastname=Guardiani", "true", NULL},
    {"(firstname = 'Francesco' AND lastname = 'Guardiani') OR subject = 'Francesco Guardiani'",
     "subject=Francesco Guardiani;firstname=Doug;lastname=Davis", "true", NULL},
    {"a1b2 = 'x'", "a1b2=x", "true", NULL},
    {"1a = 'x'", "1a=x", "true", NULL},
    {"abcdefghij0123456789 = 'x'", "abcdefghij0123456789=x", "true", NULL},
    /* Filters as the Subscriptions API's dialects would write them. */
    {"source LIKE 'https://%'", "source=https://example.com", "true", NULL},
    {"source LIKE 'https://%'", "source=http://example.com", "false", NULL},
    {"myext LIKE 'custom%'", "myext=customext", "true", NULL},
    {"myext LIKE 'custom%'", NULL, "false", "missing attribute"},
    {"type like '%.error'", "type=com.github.error", "true", NULL},
    {"type like '%.error'", "type=com.github.success", "false", NULL},
    {"myext LIKE '%ext'", "myext=customext", "true", NULL},
    {"myext LIKE '%ext'", NULL, "false", "missing attribute"},
    {"id = 'myId'", NULL, "true", NULL},
    {"id = 'myId'", "id=notmyId", "false", NULL},
    {"myext = 'customext'", "myext=customext", "true", NULL},
    {"myext = 'customext'", NULL, "false", "missing attribute"},
    {"id LIKE 'my%' AND source LIKE '%.ca'", "source=http://www.some-website.ca", "true", NULL},
    {"id LIKE 'my%' AND source LIKE '%.ca'", "source=http://www.some-website.com", "false", NULL},
    {"myext LIKE 'custom%' AND type LIKE '%.error'", "myext=customext;type=com.github.error",
     "true", NULL},
    {"type LIKE 'example.%' AND myext LIKE 'custom%'", "type=example.event.type", "false",
     "missing attribute"},
    {"id LIKE 'my%' OR source LIKE '%.ca'", "source=http://www.some-website.com", "true", NULL},
    {"id LIKE 'my%' OR source LIKE '%.ca'", "id=notmyId;source=http://www.some-website.ca", "true",
     NULL},
    {"id LIKE 'my%' OR source LIKE '%.ca'", "id=notmyId;source=http://www.some-website.com",
     "false", NULL},
    {"id LIKE 'my%' OR myext LIKE '%ext'", "id=notmyId", "false", "missing attribute"},
    {"(id = 'myId' AND type LIKE '%.success') OR (id = 'notmyId' AND source LIKE 'http://%' AND "
     "type LIKE '%.warning')",
     "type=example.event.success", "true", NULL},
    {"(id = 'myId' AND type LIKE '%.success') OR (id = 'notmyId' AND source LIKE 'http://%' AND "
     "type LIKE '%.warning')",
     "id=notmyId;type=example.event.warning;source=http://localhost.localdomain", "true", NULL},
    {"(id = 'myId' AND type LIKE '%.success') OR (id = 'notmyId' AND source LIKE 'http://%' AND "
     "type LIKE '%.warning')",
     "id=notmyId;type=example.event.warning;source=https://localhost.localdomain", "false", NULL},
    /* The second group is false: AND does not evaluate the third. */
    {"(id = 'myId' OR type LIKE '%.success') AND (id = 'notmyId' OR source LIKE 'https://%' OR "
     "type LIKE '%.warning') AND (myext = 'customext')",
     "type=example.event.success;source=http://localhost.localdomain", "false", NULL},
    {"(id = 'myId' OR type LIKE '%.success') AND (id = 'notmyId' OR source LIKE 'https://%' OR "
     "type LIKE '%.warning') AND (myext = 'customext')",
     "type=example.event.success;source=https://localhost.localdomain", "false",
     "missing attribute"},
    {"(id = 'myId' OR type LIKE '%.success') AND (id = 'notmyId' OR source LIKE 'https://%' OR "
     "type LIKE '%.warning')",
     "type=example.event.warning;source=http://localhost.localdomain", "true", NULL},
    {"(id = 'myId' OR type LIKE '%.success') AND (id = 'notmyId' OR source LIKE 'https://%' OR "
     "type LIKE '%.warning')",
     "id=notmyId;type=example.event.warning;source=http://localhost.localdomain", "false", NULL},
    /* String functions. */
    {"LENGTH('abc')", NULL, "3", NULL},
    {"LENGTH('')", NULL, "0", NULL},
    {"LENGTH('2')", NULL, "1", NULL},
    {"LENGTH(TRUE)", NULL, "4", NULL},
    {"LENGTH(-123)", NULL, "4", NULL},
    {"LENGTH('héllo 😀')", NULL, "7", NULL}, /* characters, not bytes */
    {"LENGTH(missing)", NULL, "0", "missing attribute"},
    {"length(id)", NULL, "4", NULL},
    {"CONCAT('a', 'b', 'c')", NULL, "\"abc\"", NULL},
    {"CONCAT()", NULL, "\"\"", NULL},
    {"CONCAT('a')", NULL, "\"a\"", NULL},
    {"CONCAT(1, TRUE, 'x')", NULL, "\"1truex\"", NULL},
    {"CONCAT('a', missing)", NULL, "\"\"", "missing attribute"},
    {"CONCAT_WS(',', 'a', 'b', 'c')", NULL, "\"a,b,c\"", NULL},
    {"CONCAT_WS(',')", NULL, "\"\"", NULL},
    {"CONCAT_WS(',', 'a')", NULL, "\"a\"", NULL},
    {"CONCAT_WS(', ', 'a', '', 'c')", NULL, "\"a, , c\"", NULL},
    {"CONCAT_WS(0, 1, 2)", NULL, "\"102\"", NULL},
    {"CONCAT_WS()", NULL, "false", "missing function"},
    {"LOWER('ABC')", NULL, "\"abc\"", NULL},
    {"LOWER('AbC')", NULL, "\"abc\"", NULL},
    {"LOWER('abc')", NULL, "\"abc\"", NULL},
    {"LOWER('ÉÜÑ ΣΑ')", NULL, "\"éüñ σα\"", NULL},
    {"UPPER('ABC')", NULL, "\"ABC\"", NULL},
    {"UPPER('AbC')", NULL, "\"ABC\"", NULL},
    {"UPPER('abc')", NULL, "\"ABC\"", NULL},
    {"UPPER('éüñ σα 1-2')", NULL, "\"ÉÜÑ ΣΑ 1-2\"", NULL},
    {"UPPER(TRUE)", NULL, "\"TRUE\"", NULL},
    {"TRIM('   a b c   ')", NULL, "\"a b c\"", NULL},
    {"TRIM('   a b c')", NULL, "\"a b c\"", NULL},
    {"TRIM('a b c   ')", NULL, "\"a b c\"", NULL},
    {"TRIM('a b c')", NULL, "\"a b c\"", NULL},
    {"TRIM('   ')", NULL, "\"\"", NULL},
    {"TRIM('\t\n a \r\n')", NULL, "\"a\"", NULL},
    {"TRIM('\u00a0\u3000a\u2003')", NULL, "\"a\"", NULL}, /* Unicode spaces */
    {"TRIM('\x01"
     "a\x01')",
     NULL, "\"\\u0001a\\u0001\"", NULL}, /* not control characters */
    {"LEFT('abc', 2)", NULL, "\"ab\"", NULL},
    {"LEFT('abc', 10)", NULL, "\"abc\"", NULL},
    {"LEFT('abc', 3)", NULL, "\"abc\"", NULL},
    {"LEFT('abc', 0)", NULL, "\"\"", NULL},
    {"LEFT('', 0)", NULL, "\"\"", NULL},
    {"LEFT('abc', -2)", NULL, "\"abc\"", "function evaluation"},
    {"LEFT('😀é', 1)", NULL, "\"😀\"", NULL},
    {"LEFT('abc', '2')", NULL, "\"ab\"", NULL},
    {"LEFT('abc', 'x')", NULL, "\"\"", "cast"},
    {"RIGHT('abc', 2)", NULL, "\"bc\"", NULL},
    {"RIGHT('abc', 10)", NULL, "\"abc\"", NULL},
    {"RIGHT('', 0)", NULL, "\"\"", NULL},
    {"RIGHT('abc', 0)", NULL, "\"\"", NULL},
    {"RIGHT('abc', -2)", NULL, "\"abc\"", "function evaluation"},
    {"RIGHT('a😀é', 2)", NULL, "\"😀é\"", NULL},
    {"SUBSTRING('abcdef', 1)", NULL, "\"abcdef\"", NULL},
    {"SUBSTRING('abcdef', 2)", NULL, "\"bcdef\"", NULL},
    {"SUBSTRING('Quadratically', 5)", NULL, "\"ratically\"", NULL},
    {"SUBSTRING('Sakila', -3)", NULL, "\"ila\"", NULL},
    {"SUBSTRING('abcdef', 1, 6)", NULL, "\"abcdef\"", NULL},
    {"SUBSTRING('abcdef', 2, 4)", NULL, "\"bcde\"", NULL},
    {"SUBSTRING('Sakila', -5, 3)", NULL, "\"aki\"", NULL},
    {"SUBSTRING('Quadratically', 0)", NULL, "\"\"", NULL},
    {"SUBSTRING('Quadratically', 0, 1)", NULL, "\"\"", NULL},
    {"SUBSTRING('abcdef', 10)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', -10)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', 10, 10)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', -10, 10)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', 6)", NULL, "\"f\"", NULL},
    {"SUBSTRING('abcdef', 7)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', -6)", NULL, "\"abcdef\"", NULL},
    {"SUBSTRING('abcdef', -7)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('abcdef', 3, 0)", NULL, "\"\"", NULL},
    {"SUBSTRING('abcdef', 3, 2147483647)", NULL, "\"cdef\"", NULL},
    {"SUBSTRING('abcdef', 2, -1)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('', 0)", NULL, "\"\"", NULL},
    {"SUBSTRING('', 1)", NULL, "\"\"", "function evaluation"},
    {"SUBSTRING('héllo', 2, 3)", NULL, "\"éll\"", NULL},
    {"SUBSTRING('héllo', -4, 1)", NULL, "\"é\"", NULL},
    {"SUBSTRING('abc', -2147483648)", NULL, "\"\"", "function evaluation"},
    {"substring('abc', 2)", NULL, "\"bc\"", NULL},
    {"SubString('abc', 2)", NULL, "\"bc\"", NULL},
    /* Integer functions. */
    {"ABS(10)", NULL, "10", NULL},
    {"ABS(-10)", NULL, "10", NULL},
    {"ABS(0)", NULL, "0", NULL},
    {"ABS(-2147483648)", NULL, "2147483647", "math"},
    {"ABS('-5')", NULL, "5", NULL},
    {"abs(-1)", NULL, "1", NULL},
    {"aBs(-1)", NULL, "1", NULL},
    /* Casting functions. */
    {"INT('1')", NULL, "1", NULL},
    {"INT('-1')", NULL, "-1", NULL},
    {"INT('+1')", NULL, "1", NULL},
    {"INT('007')", NULL, "7", NULL},
    {"INT(1)", NULL, "1", NULL},
    {"INT(-1)", NULL, "-1", NULL},
    {"INT(TRUE)", NULL, "1", NULL},
    {"INT(FALSE)", NULL, "0", NULL},
    {"INT('ABC')", NULL, "0", "cast"},
    {"INT('')", NULL, "0", "cast"},
    {"INT(' 1')", NULL, "0", "cast"},
    {"INT('1.5')", NULL, "0", "cast"},
    {"INT('2147483647')", NULL, "2147483647", NULL},
    {"INT('2147483648')", NULL, "0", "cast"},
    {"INT('-2147483648')", NULL, "-2147483648", NULL},
    {"INT('-2147483649')", NULL, "0", "cast"},
    {"INT('99999999999999999999')", NULL, "0", "cast"},
    {"BOOL('TRUE')", NULL, "true", NULL},
    {"BOOL(\"false\")", NULL, "false", NULL},
    {"BOOL('tRuE')", NULL, "true", NULL},
    {"BOOL(TRUE)", NULL, "true", NULL},
    {"BOOL(FALSE)", NULL, "false", NULL},
    {"BOOL('ABC')", NULL, "false", "cast"},
    {"BOOL('1')", NULL, "false", "cast"},
    {"BOOL(1)", NULL, "true", NULL},
    {"BOOL(0)", NULL, "false", NULL},
    {"BOOL(100)", NULL, "true", NULL},
    {"BOOL(-50)", NULL, "true", NULL},
    {"STRING(TRUE)", NULL, "\"true\"", NULL},
    {"STRING(FALSE)", NULL, "\"false\"", NULL},
    {"STRING(1)", NULL, "\"1\"", NULL},
    {"STRING(-1)", NULL, "\"-1\"", NULL},
    {"STRING(-2147483648)", NULL, "\"-2147483648\"", NULL},
    {"STRING(\"abc\")", NULL, "\"abc\"", NULL},
    {"STRING(missing)", NULL, "\"\"", "missing attribute"},
    {"IS_INT('1')", NULL, "true", NULL},
    {"IS_INT('-2147483648')", NULL, "true", NULL},
    {"IS_INT('abc')", NULL, "false", NULL},
    {"IS_INT('2147483648')", NULL, "false", NULL},
    {"IS_INT(1)", NULL, "true", NULL},
    {"IS_INT(TRUE)", NULL, "true", NULL},
    {"IS_INT(missing)", NULL, "false", "missing attribute"},
    {"is_int(myint)", "#myint=4", "true", NULL},
    {"IS_BOOL('true')", NULL, "true", NULL},
    {"IS_BOOL('FALSE')", NULL, "true", NULL},
    {"IS_BOOL('yes')", NULL, "false", NULL},
    {"IS_BOOL(TRUE)", NULL, "true", NULL},
    {"IS_BOOL(5)", NULL, "true", NULL},
    {"Is_Bool('x')", NULL, "false", NULL},
    /* Nested calls, and errors inside them. */
    {"UPPER(CONCAT(LEFT(type, 2), '-', STRING(LENGTH(id))))", NULL, "\"MY-4\"", NULL},
    {"CONCAT(LEFT('abc', -2), 'x')", NULL, "\"\"", "function evaluation"},
    {"LENGTH(LEFT('abc', -2))", NULL, "0", "function evaluation"},
    {"ABS(1 / 0)", NULL, "0", "math"},
    {"INT(1 / 0) = 0", NULL, "false", "math"},
    /* Missing functions: false, arguments not evaluated. */
    {"FOO()", NULL, "false", "missing function"},
    {"FOO(1 / 0)", NULL, "false", "missing function"},
    {"LENGTH('a', 'b')", NULL, "false", "missing function"},
    {"SUBSTRING('a')", NULL, "false", "missing function"},
    {"SUBSTRING('a', 1, 1, 1)", NULL, "false", "missing function"},
    {"ABS()", NULL, "false", "missing function"},
    {"FOO() OR TRUE", NULL, "false", "missing function"},
    {"TRUE OR FOO()", NULL, "true", NULL},
    {"NOT FOO()", NULL, "false", "missing function"},
    /* The first error is the one reported. */
    {"missing + (1 / 0)", NULL, "0", "missing attribute"},
    {"(1 / 0) + missing", NULL, "0", "math"},
    {"INT('x') + LEFT('a', -1)", NULL, "0", "cast"},
};

static const char *error_kind_or_null(const weft_cesql_error_t *e) {
    return e->kind == WEFT_CESQL_OK ? NULL : weft_cesql_error_kind_name(e->kind);
}

static void check_eval_cases(void) {
    int failed = 0;
    for (size_t i = 0; i < sizeof eval_cases / sizeof *eval_cases; i++) {
        const eval_case_t *c = &eval_cases[i];
        weft_error_t err = {0};
        weft_cesql_t *expr = NULL;
        weft_ce_t ev;
        make_event(&ev, c->attrs);
        if (weft_cesql_parse(c->expr, &expr, &err)) {
            fprintf(stderr, "%s: does not parse: %s\n", c->expr, err.msg);
            failed++;
            weft_ce_clear(&ev);
            continue;
        }
        weft_cesql_value_t v;
        weft_cesql_error_t e;
        int rc = weft_cesql_eval(expr, &ev, &v, &e);
        weft_buf_t json = {0};
        weft_cesql_value_json(&v, &json);
        const char *kind = error_kind_or_null(&e);
        bool ok = json.data && !strcmp((char *)json.data, c->result) &&
                  ((!kind && !c->error) || (kind && c->error && !strcmp(kind, c->error))) &&
                  rc == (c->error ? WEFT_EINVAL : 0) && (c->error ? e.count >= 1 : e.count == 0);
        /* A match is the Boolean true without an error, stopping at the first error. */
        bool match = weft_cesql_match(expr, &ev, NULL);
        ok &= match == (!c->error && !strcmp(c->result, "true"));
        if (!ok) {
            fprintf(stderr, "%s [%s]: %s, error %s (%s), match %d; expected %s, error %s\n",
                    c->expr, c->attrs ? c->attrs : "", json.data ? (char *)json.data : "?",
                    kind ? kind : "none", e.message, match, c->result,
                    c->error ? c->error : "none");
            failed++;
        }
        weft_buf_free(&json);
        weft_cesql_value_clear(&v);
        weft_cesql_free(expr);
        weft_ce_clear(&ev);
    }
    CHECK_EQ_INT(failed, 0);
    printf("%zu evaluation cases\n", sizeof eval_cases / sizeof *eval_cases);
}

/* ---- Errors: where and what ------------------------------------------------------------- */

static const struct {
    const char *expr;
    const char *message; /* weft_error_t.msg */
} parse_errors[] = {
    {"", "column 1: expected an expression, found the end"},
    {"   ", "column 4: expected an expression, found the end"},
    {"1 +", "column 4: expected an expression, found the end"},
    {"type LIKE ", "column 11: LIKE takes a string literal as its pattern, found the end"},
    {"'a' LIKE b", "column 10: LIKE takes a string literal as its pattern, found b"},
    {"'a' LIKE 'a' || 'b'", "column 14: unexpected character '|'"},
    {"'a' LIKE CONCAT('a')", "column 10: LIKE takes a string literal as its pattern, found CONCAT"},
    {"ABC(", "column 5: expected an expression, found the end"},
    {"ABC)", "column 1: ABC is not an attribute name: those are lower-case letters and digits (a "
             "function call needs its parentheses)"},
    {"abc)", "column 4: unexpected ')' after a complete expression"},
    {"LENGTH('a' 'b')", "column 12: expected ',' or ')' to close the '(' at column 7, found 'b'"},
    {"(TRUE))", "column 7: unexpected ')' after a complete expression"},
    {"((TRUE)", "column 8: expected ')' to close the '(' at column 1, found the end"},
    {"(1 + 2", "column 7: expected ')' to close the '(' at column 1, found the end"},
    {"'abc", "column 1: unterminated string: no closing '"},
    {"x = \"abc", "column 5: unterminated string: no closing \""},
    {"'abc\\'", "column 1: unterminated string: no closing '"},
    {"'it''s'", "column 5: unexpected 's' after a complete expression"},
    {"2147483648", "column 1: 2147483648 is out of the Integer range (-2147483648 to 2147483647)"},
    {"-2147483649",
     "column 1: -2147483649 is out of the Integer range (-2147483648 to 2147483647)"},
    {"- 2147483648",
     "column 3: 2147483648 is out of the Integer range (-2147483648 to 2147483647)"},
    {"99999999999999999999999",
     "column 1: 99999999999999999999999 is out of the Integer range (-2147483648 to 2147483647)"},
    {"+ 1", "column 1: '+' is no unary operator: a sign belongs directly before digits"},
    {"+'1'", "column 1: '+' is no unary operator: a sign belongs directly before digits"},
    {"1 2", "column 3: unexpected 2 after a complete expression"},
    {"TRUE FALSE", "column 6: unexpected FALSE after a complete expression"},
    {"Subject = 'x'",
     "column 1: Subject is not an attribute name: those are lower-case letters and digits (a "
     "function call needs its parentheses)"},
    {"my_ext", "column 1: my_ext is not an attribute name: those are lower-case letters and digits "
               "(a function call needs its parentheses)"},
    {"abcdefghij0123456789x",
     "column 1: attribute name abcdefghij0123456789... is longer than 20 characters"},
    {"F00(1)", "column 1: F00 is not a function name: those are letters and '_'"},
    {"_F(1)", "column 1: _F is not a function name: those are letters and '_'"},
    {"EXISTS", "column 7: expected an attribute name after EXISTS, found the end"},
    {"EXISTS 'id'", "column 8: expected an attribute name after EXISTS, found 'id'"},
    {"EXISTS (id)", "column 8: expected an attribute name after EXISTS, found '('"},
    {"EXISTS TRUE", "column 8: expected an attribute name after EXISTS, found TRUE"},
    {"x IN ()", "column 7: expected an expression, found ')'"},
    {"x IN 1", "column 6: expected '(' and a list after IN, found 1"},
    {"x IN (1, 2", "column 11: expected ',' or ')' to close the '(' at column 6, found the end"},
    {"x IN (1,)", "column 9: expected an expression, found ')'"},
    {"x NOT 1", "column 7: expected LIKE or IN after NOT, found 1"},
    {"NOT", "column 4: expected an expression, found the end"},
    {"1 ! 2", "column 3: unexpected '!': 'not equal' is != or <>, negation NOT"},
    {"a == b", "column 4: expected an expression, found '='"},
    {"a = > b", "column 5: expected an expression, found '>'"},
    {"x = 1;", "column 6: unexpected character ';'"},
    {"x = @", "column 5: unexpected character '@'"},
    {"x = é", "column 5: unexpected character 'é'"},
    {"'é' = é", "column 7: unexpected character 'é'"}, /* columns count characters */
    {"x = \x01", "column 5: unexpected control character U+0001"},
    {"'ok' = \xff", "column 8: not valid UTF-8"},
    {"'\xc3'", "column 2: not valid UTF-8"},
    {"AND", "column 1: expected an expression, found AND"},
    {"a AND", "column 6: expected an expression, found the end"},
    {"a IN", "column 5: expected '(' and a list after IN, found the end"},
    {"a LIKE", "column 7: LIKE takes a string literal as its pattern, found the end"},
};

static void check_parse_errors(void) {
    for (size_t i = 0; i < sizeof parse_errors / sizeof *parse_errors; i++) {
        weft_error_t err = {0};
        weft_cesql_t *expr = NULL;
        int rc = weft_cesql_parse(parse_errors[i].expr, &expr, &err);
        CHECK_EQ_INT(rc, WEFT_EINVAL);
        CHECK(expr == NULL);
        if (strcmp(err.msg, parse_errors[i].message))
            fprintf(stderr, "for %s:\n", parse_errors[i].expr);
        CHECK_EQ_STR(err.msg, parse_errors[i].message);
    }
}

/* Evaluation errors name their column and say what is wrong. */
static const struct {
    const char *expr;
    const char *kind;
    uint32_t column;
    const char *message;
    uint32_t count;
} eval_errors[] = {
    {"1 + 5 / 0", "math", 7, "division by zero: 5 / 0", 1},
    {"5 % 0", "math", 3, "modulo by zero: 5 % 0", 1},
    {"2147483647 + 1", "math", 12, "2147483647 + 1 overflows the Integer range: 2147483647 instead",
     1},
    {"-(-2147483648)", "math", 1, "-(-2147483648) overflows the Integer range: 2147483647 instead",
     1},
    {"ABS(-2147483648)", "math", 1,
     "ABS(-2147483648) overflows the Integer range: 2147483647 instead", 1},
    {"1 + 'abc'", "cast", 5,
     "cannot cast the String 'abc' to an Integer: it is no decimal number from -2147483648 to "
     "2147483647",
     1},
    {"NOT 'maybe'", "cast", 5,
     "cannot cast the String 'maybe' to a Boolean: only true and false do", 1},
    {"x = 1", "missing attribute", 1, "the event has no attribute x", 1},
    {"TRUE AND (y = 1)", "missing attribute", 11, "the event has no attribute y", 1},
    {"FOO(1)", "missing function", 1, "no function FOO", 1},
    {"  abs(1, 2)", "missing function", 3, "ABS takes 1 argument, not 2", 1},
    {"concat_ws()", "missing function", 1, "CONCAT_WS takes 1 or more arguments, not 0", 1},
    {"SUBSTRING('a')", "missing function", 1, "SUBSTRING takes 2 or 3 arguments, not 1", 1},
    {"LEFT('abc', -1)", "function evaluation", 1, "LEFT: length -1 is negative", 1},
    {"right('abc', -1)", "function evaluation", 1, "RIGHT: length -1 is negative", 1},
    {"SUBSTRING('abc', 5)", "function evaluation", 1,
     "SUBSTRING: position 5 is outside 'abc' (3 characters)", 1},
    {"SUBSTRING('abc', 1, -1)", "function evaluation", 1, "SUBSTRING: length -1 is negative", 1},
    {"INT('a\nb')", "cast", 5,
     "cannot cast the String 'a\\x0ab' to an Integer: it is no decimal number from -2147483648 "
     "to 2147483647",
     1},
    {"INT('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')", "cast", 5,
     "cannot cast the String 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' to an Integer: it is no "
     "decimal number from -2147483648 to 2147483647",
     1},
    /* The first is reported, all are counted. */
    {"x + y + 1 / 0", "missing attribute", 1, "the event has no attribute x", 3},
    {"CONCAT(INT('a'), INT('b'), c)", "cast", 12,
     "cannot cast the String 'a' to an Integer: it is no decimal number from -2147483648 to "
     "2147483647",
     3},
};

static void check_eval_errors(void) {
    weft_ce_t ev;
    make_event(&ev, NULL);
    for (size_t i = 0; i < sizeof eval_errors / sizeof *eval_errors; i++) {
        weft_error_t err = {0};
        weft_cesql_t *expr = NULL;
        CHECK_EQ_INT(weft_cesql_parse(eval_errors[i].expr, &expr, &err), 0);
        if (!expr)
            continue;
        weft_cesql_value_t v;
        weft_cesql_error_t e;
        CHECK_EQ_INT(weft_cesql_eval(expr, &ev, &v, &e), WEFT_EINVAL);
        CHECK_EQ_STR(weft_cesql_error_kind_name(e.kind), eval_errors[i].kind);
        CHECK_EQ_INT(e.column, eval_errors[i].column);
        CHECK_EQ_STR(e.message, eval_errors[i].message);
        CHECK_EQ_INT(e.count, eval_errors[i].count);
        /* In fail-fast mode (a filter), the same first error. */
        weft_cesql_error_t f;
        CHECK(!weft_cesql_match(expr, &ev, &f));
        CHECK_EQ_INT(f.kind, e.kind);
        CHECK_EQ_STR(f.message, e.message);
        weft_cesql_value_clear(&v);
        weft_cesql_free(expr);
    }
    weft_ce_clear(&ev);

    /* Every kind has the specification's name. */
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_OK), "none");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EPARSE), "parse");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EMATH), "math");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_ECAST), "cast");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EMISSING_ATTRIBUTE), "missing attribute");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EMISSING_FUNCTION), "missing function");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EFUNCTION_EVALUATION),
                 "function evaluation");
    CHECK_EQ_STR(weft_cesql_error_kind_name(WEFT_CESQL_EGENERIC), "generic");
}

/* ---- Bounds ----------------------------------------------------------------------------- */

static char *repeat(const char *prefix, const char *unit, int n, const char *middle,
                    const char *unit2, int n2) {
    weft_buf_t b = {0};
    weft_buf_puts(&b, prefix);
    for (int i = 0; i < n; i++)
        weft_buf_puts(&b, unit);
    weft_buf_puts(&b, middle);
    for (int i = 0; i < n2; i++)
        weft_buf_puts(&b, unit2);
    return (char *)b.data;
}

static int parse_rc(const char *text, weft_error_t *err) {
    weft_cesql_t *expr = NULL;
    int rc = weft_cesql_parse(text, &expr, err);
    weft_cesql_free(expr);
    return rc;
}

static void check_bounds(void) {
    weft_error_t err = {0};
    char *text;
    const int max = WEFT_CESQL_MAX_DEPTH;
    /* Parentheses: the top level and max - 1 nested ones parse, one more does not. */
    text = repeat("", "(", max - 1, "TRUE", ")", max - 1);
    CHECK_EQ_INT(parse_rc(text, &err), 0);
    free(text);
    text = repeat("", "(", max, "TRUE", ")", max);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK_EQ_STR(err.msg, "column 101: the expression nests deeper than 100 levels");
    free(text);
    /* Far deeper: an error, not a stack overflow. */
    text = repeat("", "(", 30000, "1", ")", 30000);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "nests deeper than 100 levels") != NULL);
    free(text);
    text = repeat("", "NOT ", 15000, "TRUE", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "nests deeper than 100 levels") != NULL);
    free(text);
    text = repeat("", "-", 30000, "1", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "nests deeper than 100 levels") != NULL);
    free(text);
    text = repeat("", "ABS(", 5000, "1", ")", 5000);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    free(text);
    text = repeat("x IN (", "x IN (", 5000, "1", ")", 5001);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    free(text);
    /* A chain of one binary operator makes a tree as deep as it is long... */
    text = repeat("1", " + 1", 15000, "", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK(strstr(err.msg, "nests deeper than 100 levels") != NULL);
    free(text);
    text = repeat("1", " + 1", 98, "", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), 0);
    free(text);
    /* ...except a run of AND, OR or XOR, which is one node, however long. */
    text = repeat("type = 'a'", " OR type = 'b'", 4000, " OR type = 'myType'", "", 0);
    weft_cesql_t *expr = NULL;
    CHECK_EQ_INT(weft_cesql_parse(text, &expr, &err), 0);
    free(text);
    if (expr) {
        weft_ce_t ev;
        make_event(&ev, NULL);
        CHECK(weft_cesql_match(expr, &ev, NULL));
        weft_ce_clear(&ev);
        weft_cesql_free(expr);
    }
    /* Length. */
    text = repeat("'", "a", WEFT_CESQL_MAX_LENGTH - 2, "'", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), 0);
    free(text);
    text = repeat("'", "a", WEFT_CESQL_MAX_LENGTH - 1, "'", "", 0);
    CHECK_EQ_INT(parse_rc(text, &err), WEFT_EINVAL);
    CHECK_EQ_STR(err.msg, "the expression is longer than 65536 bytes");
    free(text);
    /* Calls with many arguments (past the evaluator's stack array). */
    text = repeat("CONCAT('x'", ", 'x'", 999, ") = '", "x", 1000);
    text = realloc(text, strlen(text) + 2);
    strcat(text, "'");
    CHECK_EQ_INT(weft_cesql_parse(text, &expr, &err), 0);
    free(text);
    if (expr) {
        weft_ce_t ev;
        make_event(&ev, NULL);
        CHECK(weft_cesql_match(expr, &ev, NULL));
        weft_ce_clear(&ev);
        weft_cesql_free(expr);
    }
}

/* Computed strings are bounded: one by WEFT_CESQL_MAX_STRING, all by
 * WEFT_CESQL_MAX_SCRATCH. */
static void check_string_limits(void) {
    weft_ce_t ev;
    make_event(&ev, NULL);
    size_t big = WEFT_CESQL_MAX_STRING / 2 + 1;
    char *value = malloc(big + 1);
    memset(value, 'a', big);
    value[big] = 0;
    weft_ce_set(&ev, "big", value, WEFT_CE_STRING);
    free(value);
    struct {
        const char *expr;
        const char *result;
        const char *kind;
    } cases[] = {
        {"LENGTH(CONCAT(big))", "524289", NULL},
        {"LENGTH(CONCAT(big, big))", "0", "function evaluation"},
        {"LENGTH(CONCAT(big, 'x', big))", "0", "function evaluation"},
        {"LENGTH(UPPER(big))", "524289", NULL},
        {"LENGTH(CONCAT_WS(big, 'a', 'b'))", "524291", NULL},
        {"LENGTH(CONCAT_WS(big, 'a', 'b', 'c'))", "0", "function evaluation"},
        /* 40 strings of half a MiB each: past the 16 MiB for one evaluation. */
        {"LENGTH(CONCAT(UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), "
         "UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), "
         "UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), "
         "UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), "
         "UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), "
         "UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big), UPPER(big)))",
         "0", "generic"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        weft_error_t err = {0};
        weft_cesql_t *expr = NULL;
        CHECK_EQ_INT(weft_cesql_parse(cases[i].expr, &expr, &err), 0);
        if (!expr)
            continue;
        weft_cesql_value_t v;
        weft_cesql_error_t e;
        weft_cesql_eval(expr, &ev, &v, &e);
        weft_buf_t json = {0};
        weft_cesql_value_json(&v, &json);
        CHECK_EQ_STR((char *)json.data, cases[i].result);
        CHECK_EQ_STR(error_kind_or_null(&e) ? error_kind_or_null(&e) : "none",
                     cases[i].kind ? cases[i].kind : "none");
        weft_buf_free(&json);
        weft_cesql_value_clear(&v);
        weft_cesql_free(expr);
    }
    weft_ce_clear(&ev);
}

/* ---- Filters ---------------------------------------------------------------------------- */

static void check_match_and_check(void) {
    weft_ce_t ev;
    make_event(&ev, "subject=hello;#n=3;?flag=true");
    static const struct {
        const char *expr;
        bool match;
        const char *check; /* weft_cesql_check's message, NULL: passes */
    } cases[] = {
        {"type = 'myType'", true, NULL},
        {"type = 'other'", false, NULL},
        {"flag", true, NULL},     /* a Boolean attribute */
        {"subject", false, NULL}, /* a String is not a Boolean */
        {"'true'", false,
         "the expression yields a String, never a Boolean: as a filter it "
         "matches no event"},
        {"1", false,
         "the expression yields an Integer, never a Boolean: as a filter it matches "
         "no event"},
        {"n * 2", false,
         "the expression yields an Integer, never a Boolean: as a filter it "
         "matches no event"},
        {"BOOL('true')", true, NULL},
        {"n = 3 AND flag", true, NULL},
        {"missing = 1 OR TRUE", false, NULL}, /* an error never matches */
        {"NOT (missing = 1)", false, NULL},
        {"TRUE OR missing = 1", true, NULL},
        {"1 / 0 = 0", false, NULL},
        {"INT(subject) = 0", false, NULL},
        {"TRUE OR FOO(1)", true, "column 9: no function FOO"},
        {"EXISTS subject AND LOWER(subject, 1) = 'x'", false,
         "column 20: LOWER takes 1 argument, not 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        weft_error_t err = {0};
        weft_cesql_t *expr = NULL;
        CHECK_EQ_INT(weft_cesql_parse(cases[i].expr, &expr, &err), 0);
        if (!expr)
            continue;
        if (weft_cesql_match(expr, &ev, NULL) != cases[i].match)
            fprintf(stderr, "match %s: expected %d\n", cases[i].expr, cases[i].match);
        CHECK(weft_cesql_match(expr, &ev, NULL) == cases[i].match);
        int rc = weft_cesql_check(expr, &err);
        CHECK_EQ_INT(rc, cases[i].check ? WEFT_EINVAL : 0);
        if (cases[i].check)
            CHECK_EQ_STR(err.msg, cases[i].check);
        CHECK_EQ_STR(weft_cesql_text(expr), cases[i].expr);
        weft_cesql_free(expr);
    }
    /* Fail-fast: the filter stops at the first error, so only one is counted. */
    weft_cesql_t *expr = NULL;
    weft_error_t err;
    weft_cesql_error_t e;
    CHECK_EQ_INT(weft_cesql_parse("x = 1 AND y = 2 AND z = 3", &expr, &err), 0);
    CHECK(!weft_cesql_match(expr, &ev, &e));
    CHECK_EQ_INT(e.count, 1);
    CHECK_EQ_STR(e.message, "the event has no attribute x");
    weft_cesql_free(expr);
    weft_ce_clear(&ev);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void check_json(void) {
    static const struct {
        weft_cesql_value_t v;
        const char *json;
    } cases[] = {
        {{.type = WEFT_CESQL_BOOLEAN, .boolean = true}, "true"},
        {{.type = WEFT_CESQL_BOOLEAN}, "false"},
        {{.type = WEFT_CESQL_INTEGER, .integer = 42}, "42"},
        {{.type = WEFT_CESQL_INTEGER, .integer = INT32_MIN}, "-2147483648"},
        {{.type = WEFT_CESQL_STRING, .string = "text"}, "\"text\""},
        {{.type = WEFT_CESQL_STRING, .string = ""}, "\"\""},
        {{.type = WEFT_CESQL_STRING, .string = "a\"b\\c\n\t\x01/é"},
         "\"a\\\"b\\\\c\\n\\t\\u0001/é\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        weft_buf_t b = {0};
        weft_cesql_value_t v = cases[i].v;
        if (v.string)
            v.len = strlen(v.string);
        CHECK_EQ_INT(weft_cesql_value_json(&v, &b), 0);
        CHECK_EQ_STR((char *)b.data, cases[i].json);
        weft_buf_free(&b);
    }
    CHECK_EQ_STR(weft_cesql_type_name(WEFT_CESQL_BOOLEAN), "Boolean");
    CHECK_EQ_STR(weft_cesql_type_name(WEFT_CESQL_INTEGER), "Integer");
    CHECK_EQ_STR(weft_cesql_type_name(WEFT_CESQL_STRING), "String");
}

/* ---- weft cesql, in-process ------------------------------------------------------------- */

typedef struct cli_out {
    int status;
    char out[4096];
    char err[4096];
} cli_out_t;

static void slurp(int fd, char *buf, size_t cap) {
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = 0;
}

/* Runs weft_cesql_cli with stdout and stderr going to temporary files. */
static void run_cli(cli_out_t *r, int argc, const char **argv) {
    char out_path[] = "/tmp/cesql-out-XXXXXX", err_path[] = "/tmp/cesql-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    unlink(out_path);
    unlink(err_path);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    r->status = weft_cesql_cli(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(out_fd, r->out, sizeof r->out);
    slurp(err_fd, r->err, sizeof r->err);
    close(out_fd);
    close(err_fd);
}

#define CLI(r, ...)                                                                                \
    do {                                                                                           \
        const char *argv_[] = {"cesql", __VA_ARGS__};                                              \
        run_cli(r, (int)(sizeof argv_ / sizeof *argv_), argv_);                                    \
    } while (0)

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void check_cli(void) {
    cli_out_t r;
    char dir[] = "/tmp/cesql-cli-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ev_path[256], bad_path[256], path[256];
    snprintf(ev_path, sizeof ev_path, "%s/ev.json", dir);
    write_file(ev_path, "{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/src\",\n"
                        " \"type\": \"io.wasm.event\", \"subject\": \"s\", \"count\": 3,\n"
                        " \"flag\": false, \"datacontenttype\": \"application/json\",\n"
                        " \"data\": {\"hi\": \"world\"}, \"gone\": null}\n");

    /* The issue's example. */
    CLI(&r, "--event", ev_path, "type LIKE 'io.%' AND EXISTS subject");
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, "true\n");
    CHECK_EQ_STR(r.err, "");
    CLI(&r, "--event", ev_path, "count * 14");
    CHECK_EQ_STR(r.out, "42\n");
    CLI(&r, "--event", ev_path, "CONCAT(subject, '\"', STRING(flag))");
    CHECK_EQ_STR(r.out, "\"s\\\"false\"\n");
    CLI(&r, "--event", ev_path, "EXISTS gone OR EXISTS data");
    CHECK_EQ_STR(r.out, "false\n");
    CLI(&r,
        "--event="
        "/dev/null",
        "TRUE");
    CHECK_EQ_INT(r.status, 1);
    /* The expression is the last argument, even when it begins with '-'. */
    CLI(&r, "-1");
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, "-1\n");
    CLI(&r, "--event", ev_path, "-count");
    CHECK_EQ_STR(r.out, "-3\n");
    CLI(&r, "--", "--1");
    CHECK_EQ_STR(r.out, "1\n");
    CLI(&r, "--", "-H");
    CHECK_EQ_INT(r.status, 1);
    CHECK(strstr(r.err, "parse error: column 2: H is not an attribute name") != NULL);
    CLI(&r, "--", "-h");
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, "0\n");
    CHECK(strstr(r.err, "missing attribute error: column 2") != NULL);
    /* The default event: only the required attributes. */
    CLI(&r, "CONCAT_WS(' ', specversion, id, source, type)");
    CHECK_EQ_STR(r.out, "\"1.0 1 /weft/cesql weft.cesql.test\"\n");
    CLI(&r, "EXISTS subject");
    CHECK_EQ_STR(r.out, "false\n");
    /* Evaluation errors: the value all the same, one line naming the error, status 1. */
    CLI(&r, "5 / 0");
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, "0\n");
    CHECK_EQ_STR(r.err, "weft: math error: column 3: division by zero: 5 / 0\n");
    CLI(&r, "subject");
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, "false\n");
    CHECK_EQ_STR(r.err, "weft: missing attribute error: column 1: the event has no attribute "
                        "subject\n");
    CLI(&r, "INT('abc') + x");
    CHECK_EQ_STR(r.out, "0\n");
    CHECK_EQ_STR(r.err, "weft: cast error: column 5: cannot cast the String 'abc' to an Integer: "
                        "it is no decimal number from -2147483648 to 2147483647 (and 1 more "
                        "error)\n");
    CLI(&r, "LEFT('abc', -1)");
    CHECK_EQ_STR(r.out, "\"abc\"\n");
    CHECK_EQ_STR(r.err, "weft: function evaluation error: column 1: LEFT: length -1 is negative\n");
    CLI(&r, "nope(1)");
    CHECK_EQ_STR(r.out, "false\n");
    CHECK_EQ_STR(r.err, "weft: missing function error: column 1: no function NOPE\n");
    /* Parse errors: no value; the column, and the expression with a caret under it. */
    CLI(&r, "type LIKE ");
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, "");
    CHECK_EQ_STR(r.err, "weft: parse error: column 11: LIKE takes a string literal as its "
                        "pattern, found the end\n  type LIKE \n            ^\n");
    /* Usage errors: status 2. */
    CLI(&r, "--event");
    CHECK_EQ_INT(r.status, 2);
    CHECK_EQ_STR(r.err, "weft cesql: missing EXPRESSION after --event (see 'weft cesql --help')\n");
    CLI(&r, "--event=x.json");
    CHECK_EQ_INT(r.status, 2);
    CLI(&r, "--", "--event"); /* minus minus event */
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, "0\n");
    const char *none[] = {"cesql"};
    run_cli(&r, 1, none);
    CHECK_EQ_INT(r.status, 2);
    CHECK_EQ_STR(r.err, "weft cesql: missing EXPRESSION (see 'weft cesql --help')\n");
    CLI(&r, "--event", ev_path);
    CHECK_EQ_INT(r.status, 2);
    CHECK(strstr(r.err, "--event needs a FILE") != NULL);
    CLI(&r, "--frob", "TRUE");
    CHECK_EQ_INT(r.status, 2);
    CHECK(strstr(r.err, "unknown option --frob") != NULL);
    CLI(&r, "type", "=", "'x'");
    CHECK_EQ_INT(r.status, 2);
    CHECK(strstr(r.err, "unexpected argument 'type': EXPRESSION is one argument") != NULL);
    CLI(&r, "--", "a", "b");
    CHECK_EQ_INT(r.status, 2);
    CLI(&r, "--event", ev_path, "--event", ev_path, "TRUE");
    CHECK_EQ_INT(r.status, 2);
    CLI(&r, "--");
    CHECK_EQ_INT(r.status, 2);
    /* Help. */
    CLI(&r, "--help");
    CHECK_EQ_INT(r.status, 0);
    CHECK(strstr(r.out, "usage: weft cesql [--event FILE] [--] EXPRESSION") != NULL);
    CHECK(strstr(r.out, "source \"/weft/cesql\"") != NULL);
    CLI(&r, "-h");
    CHECK_EQ_INT(r.status, 0);
    CLI(&r, "--help", "TRUE");
    CHECK_EQ_INT(r.status, 0);
    CLI(&r, "--event", "x.json", "--help");
    CHECK_EQ_INT(r.status, 0);
    CHECK(strstr(r.out, "usage: weft cesql") != NULL);
    /* Event files that are not events. */
    static const struct {
        const char *json;
        const char *error;
    } bad[] = {
        {"[1]", "a structured event is a JSON object"},
        {"{\"id\": ", "not valid JSON: unexpected token near end of file (line 1, column 7)"},
        {"{\"specversion\": \"1.0\", \"source\": \"/s\", \"type\": \"t\"}",
         "missing required attribute 'id'"},
        {"{\"specversion\": \"0.3\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\"}",
         "specversion: '0.3' is not supported"},
        {"{\"specversion\": \"1.0\", \"id\": 1, \"source\": \"/s\", \"type\": \"t\"}",
         "id: must be a JSON string"},
        {"{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\", "
         "\"Bad\": \"x\"}",
         "attribute name 'Bad' is not valid"},
        {"{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\", "
         "\"n\": 1.5}",
         "n: 1.5 is not an integer"},
        {"{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\", "
         "\"n\": 2147483648}",
         "n: 2147483648 is out of the integer range"},
    };
    snprintf(bad_path, sizeof bad_path, "%s/ev.json", dir);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(bad_path, bad[i].json);
        CLI(&r, "--event", bad_path, "TRUE");
        CHECK_EQ_INT(r.status, 1);
        CHECK_EQ_STR(r.out, "");
        if (!strstr(r.err, bad[i].error))
            fprintf(stderr, "for %s: %s", bad[i].json, r.err);
        CHECK(strstr(r.err, bad[i].error) != NULL);
    }
    snprintf(path, sizeof path, "%s/none.json", dir);
    CLI(&r, "--event", path, "TRUE");
    CHECK_EQ_INT(r.status, 1);
    CHECK(strstr(r.err, "none.json: No such file or directory") != NULL);
    unlink(bad_path);
    rmdir(dir);
}

int main(void) {
    check_eval_cases();
    check_parse_errors();
    check_eval_errors();
    check_bounds();
    check_string_limits();
    check_match_and_check();
    check_json();
    check_cli();
    return TEST_DONE();
}
