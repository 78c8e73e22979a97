#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>

void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

const char *errmsg_quote(const char *s, char *buf, size_t buflen)
{
    /* Room for the quotes, "..." and the NUL. */
    size_t max = buflen - 6, o = 0;
    const unsigned char *p = (const unsigned char *)s;
    buf[o++] = '"';
    while (*p != '\0') {
        size_t n = utf8_seq(p);
        if (o + (n == 0 ? 1 : n) > max) {
            break;
        }
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7F))) {
            buf[o++] = '?';
            p++;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            buf[o++] = (char)*p++;
        }
    }
    if (*p != '\0') {
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
