/*
 * Comma-separated lists as configuration writes them ("a, b,c"): each item trimmed of
 * blanks, empty items skipped.
 */
#ifndef TOUCHLINE_STRLIST_H
#define TOUCHLINE_STRLIST_H

/*
 * Calls fn(item, arg) for each non-empty trimmed item of list (NULL: none); item is a
 * writable copy fn may cut up. Stops at the first non-zero return and returns it; -2 when
 * memory runs out.
 */
int strlist_each(const char *list, int (*fn)(char *item, void *arg), void *arg)
    __attribute__((warn_unused_result));

/* Trims blanks (spaces, tabs) at both ends in place; returns the first kept character. */
char *strlist_trim(char *s);

#endif
