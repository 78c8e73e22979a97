/*
 * Error messages for the caller's buffer: every fallible function that explains itself
 * takes (char *err, size_t errlen) and fills it through errmsg_set, so that the message is
 * reported once, where the error is handled.
 */
#ifndef TOUCHLINE_ERRMSG_H
#define TOUCHLINE_ERRMSG_H

#include <stddef.h>

/* Formats into err (errlen bytes, always NUL-terminated); NULL or 0 does nothing. */
void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
