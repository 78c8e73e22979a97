/*
 * Terminal display width of UTF-8 text, so that tables line up when they hold Persian,
 * Arabic, CJK or emoji: combining marks (Arabic harakat among them), joiners and direction
 * marks take no column, wide East Asian characters and emoji take two. Invalid UTF-8 counts
 * as one column per byte and is never read past its end. Pure code.
 */
#ifndef TOUCHLINE_TEXTWIDTH_H
#define TOUCHLINE_TEXTWIDTH_H

#include <stddef.h>
#include <stdio.h>

/* Columns one code point takes: 0, 1 or 2. */
int textwidth_cp(unsigned cp);

/* Columns the first len bytes of s take. */
size_t textwidth_n(const char *s, size_t len);

/* Columns a NUL-terminated string takes. */
size_t textwidth(const char *s);

/*
 * Writes s to out cut to at most cols columns (ending in "…" when cut, on a code point
 * boundary), then pads with spaces to exactly cols columns when pad is set. Newlines, tabs
 * and other control characters are written as spaces. Returns the columns written.
 */
size_t textwidth_fit(FILE *out, const char *s, size_t cols, int pad);

#endif
