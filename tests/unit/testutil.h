/*
 * testutil.h — shared by the cmocka unit tests: global init, temporary directories, paths to
 * ../shared data, and assertion macros that print statuses by name.
 *
 * Each test file: `#include "testutil.h"`, tests as `static void name(void **state)`, and
 * `int main(void) { const struct CMUnitTest t[] = {...}; return belt_test_run(t, n); }`
 * through BELT_TEST_MAIN(tests).
 */
#ifndef BELT_TESTUTIL_H
#define BELT_TESTUTIL_H

#include "belt_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the above first
#include <cmocka.h>

#include "belt.h"

/* Assert a belt_status is BELT_OK; on failure print its name and the error message. */
#define BELT_ASSERT_OK(expr)                                                                       \
    do {                                                                                           \
        belt_status st_ = (expr);                                                                  \
        if (st_ != BELT_OK)                                                                        \
            fail_msg("%s returned %s", #expr, belt_status_name(st_));                              \
    } while (0)
#define BELT_ASSERT_OK_ERR(expr, err)                                                              \
    do {                                                                                           \
        belt_status st_ = (expr);                                                                  \
        if (st_ != BELT_OK)                                                                        \
            fail_msg("%s returned %s: %s", #expr, belt_status_name(st_), (err)->msg);              \
    } while (0)
#define BELT_ASSERT_STATUS(expr, want)                                                             \
    do {                                                                                           \
        belt_status st_ = (expr);                                                                  \
        if (st_ != (want))                                                                         \
            fail_msg("%s returned %s, expected %s", #expr, belt_status_name(st_),                  \
                     belt_status_name(want));                                                      \
    } while (0)
/* Assert that haystack contains needle (prints both otherwise). */
#define BELT_ASSERT_CONTAINS(haystack, needle)                                                     \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (!h_ || !strstr(h_, n_))                                                                \
            fail_msg("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_);                 \
    } while (0)

/* Run a cmocka group after belt_global_init(); returns cmocka's result. */
int belt_test_run(const char *group, const struct CMUnitTest *tests, size_t n);
#define BELT_TEST_MAIN(tests)                                                                      \
    int main(void)                                                                                 \
    {                                                                                              \
        return belt_test_run(__FILE__, tests, sizeof(tests) / sizeof(tests[0]));                   \
    }

/* Make a fresh temporary directory; returns its path (static storage per call site is not
 * used: the caller passes a buffer of at least 256 bytes). */
const char *belt_test_tmpdir(char *buf, size_t cap);
/* Remove a directory tree made by belt_test_tmpdir. */
void belt_test_rmrf(const char *path);
/* Write a whole file; fails the test on error. */
void belt_test_write_file(const char *path, const char *content);
/* Read a whole file (caller frees with belt_free); fails the test on error. */
char *belt_test_read_file(const char *path);
/* Path to ../shared (from $BELT_SHARED_DIR) joined with rel, or NULL if the directory is not
 * there (tests that need shared data then skip). */
const char *belt_test_shared_path(const char *rel, char *buf, size_t cap);

#endif
