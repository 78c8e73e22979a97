/*
 * What every fuzz harness shares: the libFuzzer entry points' prototypes (each harness
 * defines both, so that the same file links into a libFuzzer binary built with clang and into
 * the plain regression runner built with gcc, see regress_main.c), and the checks a harness
 * makes beyond "no crash": a property that does not hold is reported through fuzzcheck_fail,
 * which aborts, so that libFuzzer saves the input and the regression test fails.
 */
#ifndef TOUCHLINE_FUZZCHECK_H
#define TOUCHLINE_FUZZCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per input; returns 0 (libFuzzer's contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called once before the first input; harnesses set up what stays constant. Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reports a broken property with a printf-style explanation on stderr and aborts. */
void fuzzcheck_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* True when the n bytes at s are valid UTF-8 (no overlong forms, surrogates or > U+10FFFF). */
bool fuzzcheck_utf8(const char *s, size_t n);

/*
 * A NUL-terminated copy of the n bytes at data (which may hold NULs of their own). Aborts when
 * out of memory, since a harness has nothing better to do. The caller frees it.
 */
char *fuzzcheck_cstr(const uint8_t *data, size_t n);

#endif
