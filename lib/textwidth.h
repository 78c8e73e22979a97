/*
 * How many terminal columns UTF-8 text takes, so that tables line up when they hold Persian,
 * Arabic, CJK or emoji: combining marks (Arabic harakat among them), joiners, direction marks
 * and variation selectors take none, East Asian wide and fullwidth characters and emoji take
 * two, control characters none, everything else one. On top of that: cutting a string to a
 * number of columns on a code point boundary (with "…" when something was cut) and padding it
 * to a number of columns.
 *
 * Text is never reordered: right-to-left text stays in its logical order, which is what a
 * terminal expects to receive. Invalid UTF-8 is never read past its end and counts as one
 * U+FFFD REPLACEMENT CHARACTER per maximal invalid subsequence (the Unicode recommendation);
 * the strings this module returns are valid UTF-8, with U+FFFD in place of invalid input.
 * Pure code: no state, safe anywhere, including callbacks.
 */
#ifndef TOUCHLINE_TEXTWIDTH_H
#define TOUCHLINE_TEXTWIDTH_H

#include <stddef.h>
#include <stdint.h>

/* What a cut string ends with: U+2026 HORIZONTAL ELLIPSIS, one column. */
#define TEXTWIDTH_ELLIPSIS    "\xE2\x80\xA6"
#define TEXTWIDTH_REPLACEMENT 0xFFFDu

enum textwidth_align {
    TEXTWIDTH_LEFT,  /* text first, spaces after it */
    TEXTWIDTH_RIGHT, /* spaces first */
};

/*
 * Decodes the code point at s, of which len bytes may be read. Returns how many bytes it
 * took (0 only when len is 0) and stores the code point in *cp, or U+FFFD for an invalid,
 * overlong, surrogate or truncated sequence (then the bytes returned are the maximal invalid
 * subsequence, at least 1).
 */
size_t textwidth_decode(const char *s, size_t len, uint32_t *cp);

/* Columns code point cp takes: 0, 1 or 2. */
int textwidth_cp(uint32_t cp);

/* Columns the first len bytes of s take. */
size_t textwidth_n(const char *s, size_t len);

/* Columns the NUL-terminated string s takes. */
size_t textwidth(const char *s);

/*
 * Length in bytes of the longest prefix of s (len bytes) that takes at most cols columns; it
 * ends on a code point boundary and keeps zero-width code points that follow the last one that
 * fits (a letter's harakat stay with it). Stores the prefix's columns in *width when width is
 * not NULL.
 */
size_t textwidth_prefix(const char *s, size_t len, size_t cols, size_t *width);

/*
 * s cut to at most cols columns: unchanged when it fits, else the longest prefix of cols - 1
 * columns followed by "…". Returns a new string (the caller frees it), or NULL when out of
 * memory.
 */
char *textwidth_truncate(const char *s, size_t cols) __attribute__((warn_unused_result));

/*
 * s padded with spaces to cols columns, aligned left or right; s as it is when it already
 * takes cols columns or more. Returns a new string (the caller frees it), or NULL when out of
 * memory.
 */
char *textwidth_pad(const char *s, size_t cols, enum textwidth_align align)
    __attribute__((warn_unused_result));

/*
 * s cut (as textwidth_truncate) and padded (as textwidth_pad) to exactly cols columns: one
 * table cell. Returns a new string (the caller frees it), or NULL when out of memory.
 */
char *textwidth_fit(const char *s, size_t cols, enum textwidth_align align)
    __attribute__((warn_unused_result));

#endif
