/*
 * Error messages for the caller's buffer: every fallible function that explains itself
 * takes (char *err, size_t errlen) and fills it through errmsg_set, so that the message is
 * reported once, where the error is handled. errmsg_quote makes a user's value safe to put
 * in such a message, which later travels as a JSON string.
 */
#ifndef TOUCHLINE_ERRMSG_H
#define TOUCHLINE_ERRMSG_H

#include <stddef.h>

/* Formats into err (errlen bytes, always NUL-terminated); NULL or 0 does nothing. */
void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes s into buf (buflen >= 16) in double quotes, cut short with "..." so that a huge
 * value cannot make a huge message. The cut never splits a UTF-8 sequence, and bytes that
 * are not valid UTF-8 (or are control characters) become '?', so the message is always
 * valid UTF-8 text. Returns buf.
 */
const char *errmsg_quote(const char *s, char *buf, size_t buflen);

#endif
