#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "normalize.h"

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

const char *errmsg_quote(const char *s, char *buf, size_t buflen)
{
    /* Room for the quotes, "..." and the NUL. */
    size_t max = buflen - 6, o = 0;
    const unsigned char *p = (const unsigned char *)s;
    buf[o++] = '"';
    size_t left = strlen(s);
    while (*p != '\0') {
        unsigned cp;
        int l = normalize_utf8_decode(p, left, &cp);
        size_t n = l < 0 ? 0 : (size_t)l;
        if (o + (n == 0 ? 1 : n) > max) {
            break;
        }
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7F))) {
            buf[o++] = '?';
            p++;
            left--;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            buf[o++] = (char)*p++;
        }
        left -= n;
    }
    if (*p != '\0') {
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
