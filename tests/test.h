/* A minimal assertion kit for weft's C tests: each CHECK names the expression and the
 * line; main() returns TEST_DONE(), so ctest sees a failure. */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H
#include <stdio.h>
#include <string.h>

static int weft_test_failures;
static int weft_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        weft_test_checks++;                                                                        \
        if (!(cond)) {                                                                             \
            weft_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        weft_test_checks++;                                                                        \
        if (a_ != b_) {                                                                            \
            weft_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    a_, #b, b_);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        weft_test_checks++;                                                                        \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            weft_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
        }                                                                                          \
    } while (0)

/* main's return value: 1 when a check failed, or when none was made (a test that
 * checks nothing would otherwise pass whatever weft does). */
#define TEST_DONE()                                                                                \
    (printf("%d checks, %d failed\n", weft_test_checks, weft_test_failures),                       \
     weft_test_checks == 0 ? (fprintf(stderr, "the test made no check\n"), 1)                      \
     : weft_test_failures  ? 1                                                                     \
                           : 0)
#endif
