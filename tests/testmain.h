/*
 * Shared main() for the cmocka programs: each program defines its cases in one array and
 * calls testmain_run(), which lists them with --list (how CTest finds them), runs only the
 * case named by argv[1] when one is given (how CTest runs them, one CTest test per case) or
 * every case otherwise; and the helpers several programs need.
 */
#ifndef TOUCHLINE_TESTMAIN_H
#define TOUCHLINE_TESTMAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#define testmain_run(argc, argv, tests, setup, teardown)                                           \
    (testmain_list((argc), (argv), (tests), sizeof(tests) / sizeof((tests)[0])),                   \
     testmain_filter((argc), (argv)), cmocka_run_group_tests((tests), (setup), (teardown)))

/*
 * With "--list" as argv[1]: prints the name of each case, one a line, and exits 0. CTest
 * learns the cases this way when the program is built (tests/discover_cases.cmake), so that
 * a case is registered however its line is written.
 */
void testmain_list(int argc, char **argv, const struct CMUnitTest *tests, size_t n);

/* Applies argv[1], if any, as the cmocka test filter. */
void testmain_filter(int argc, char **argv);

/* Everything left to read from f (NUL-terminated, malloc'd; its length in *len unless NULL). */
char *testmain_read_stream(FILE *f, size_t *len);

/* A file's whole text (NUL-terminated, malloc'd; its length in *len unless NULL), or NULL
 * when it cannot be opened. */
char *testmain_read_file(const char *path, size_t *len);

/* A fixture's whole text (tests/fixtures/name, found through TOUCHLINE_TEST_FIXTURES, which
 * CTest sets), NUL-terminated and malloc'd; fails the test when it cannot be read. */
char *testmain_fixture(const char *name, size_t *len);

/*
 * A datagram socket bound to name, as a service manager makes its notification socket: a
 * path (a stale file there is removed first), or a name in the abstract namespace when it
 * starts with '@'. Fails the test when it cannot bind.
 */
int testmain_notify_listen(const char *name);

/* The path of tests/fixtures/golden/name (found through TOUCHLINE_TEST_FIXTURES), malloc'd;
 * fails the test when the variable is not set. */
char *testmain_golden_path(const char *name);

/*
 * Asserts that got (len bytes) is tests/fixtures/golden/name byte for byte; on a difference
 * it names the first differing line and leaves got in <name>.actual in the working directory
 * for diff -u. With TOUCHLINE_UPDATE_GOLDEN set it rewrites the golden file instead.
 */
void testmain_expect_golden(const char *name, const char *got, size_t len);

/* A string of n copies of unit, for inputs at and past a limit. The caller frees it. */
char *testmain_repeat(const char *unit, size_t n);

#endif
