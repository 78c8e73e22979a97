#include "pgarray.h"

#include <stdlib.h>
#include <string.h>

void pgarray_init(struct pgarray *a)
{
    memset(a, 0, sizeof(*a));
}

static bool reserve(struct pgarray *a, size_t more)
{
    if (a->failed) {
        return false;
    }
    /* Room for the element, the closing brace and the NUL. */
    size_t need = a->len + more + 3;
    if (need <= a->cap) {
        return true;
    }
    size_t cap = a->cap ? a->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    char *b = realloc(a->buf, cap);
    if (b == NULL) {
        a->failed = true;
        return false;
    }
    a->buf = b;
    a->cap = cap;
    return true;
}

void pgarray_add(struct pgarray *a, const char *s)
{
    size_t sl = s != NULL ? strlen(s) : 0;
    /* Worst case every byte is escaped, plus quotes and a comma (or the opening brace). */
    if (!reserve(a, 2 * sl + 4)) {
        return;
    }
    a->buf[a->len++] = a->n == 0 ? '{' : ',';
    if (s == NULL) {
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
    } else {
        a->buf[a->len++] = '"';
        /* Runs without a quote or backslash are copied whole: message bodies are long. */
        for (size_t i = 0; i < sl;) {
            size_t run = strcspn(s + i, "\"\\");
            memcpy(a->buf + a->len, s + i, run);
            a->len += run;
            i += run;
            if (i < sl) {
                a->buf[a->len++] = '\\';
                a->buf[a->len++] = s[i++];
            }
        }
        a->buf[a->len++] = '"';
    }
    a->n++;
}

const char *pgarray_text(struct pgarray *a)
{
    if (!reserve(a, 1)) {
        return NULL;
    }
    if (a->n == 0) {
        memcpy(a->buf, "{}", 3);
        return a->buf;
    }
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void pgarray_free(struct pgarray *a)
{
    free(a->buf);
    pgarray_init(a);
}
