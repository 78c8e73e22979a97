#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w)
{
    memset(w, 0, sizeof(*w));
}

void jsonw_free(struct jsonw *w)
{
    free(w->buf);
    jsonw_init(w);
}

/* Makes room for n more bytes and a NUL. */
static bool reserve(struct jsonw *w, size_t n)
{
    if (w->failed) {
        return false;
    }
    if (w->len + n + 1 <= w->cap) {
        return true;
    }
    size_t cap = w->cap != 0 ? w->cap : 128;
    while (cap < w->len + n + 1) {
        cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = b;
    w->cap = cap;
    return true;
}

void jsonw_append(struct jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
    }
}

/* What goes before a value (or a key): a comma after an earlier member. */
static void before_value(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->is_object[w->depth]) {
        w->failed = true; /* a member's value without its key */
        return;
    }
    if (w->has_member[w->depth]) {
        jsonw_append(w, ",", 1);
    }
    w->has_member[w->depth] = true;
}

static void open_container(struct jsonw *w, const char *c)
{
    before_value(w);
    bool object = c[0] == '{';
    if (w->depth >= JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->depth++;
    w->has_member[w->depth] = false;
    w->is_object[w->depth] = object;
    jsonw_append(w, c, 1);
}

static void close_container(struct jsonw *w, const char *c)
{
    if (w->depth == 0 || w->after_key || w->is_object[w->depth] != (c[0] == '}')) {
        w->failed = true;
        return;
    }
    w->depth--;
    jsonw_append(w, c, 1);
}

void jsonw_object_begin(struct jsonw *w)
{
    open_container(w, "{");
}

void jsonw_object_end(struct jsonw *w)
{
    close_container(w, "}");
}

void jsonw_array_begin(struct jsonw *w)
{
    open_container(w, "[");
}

void jsonw_array_end(struct jsonw *w)
{
    close_container(w, "]");
}

size_t jsonw_escape(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    if (out != NULL) {
        out[k] = '"';
    }
    k++;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc != NULL) {
            if (out != NULL) {
                memcpy(out + k, esc, 2);
            }
            k += 2;
        } else if (c < 0x20) {
            if (out != NULL) {
                memcpy(out + k, "\\u00", 4);
                out[k + 4] = hex[c >> 4];
                out[k + 5] = hex[c & 15];
            }
            k += 6;
        } else {
            if (out != NULL) {
                out[k] = (char)c;
            }
            k++;
        }
    }
    if (out != NULL) {
        out[k] = '"';
    }
    return k + 1;
}

static void put_string(struct jsonw *w, const char *s, size_t n)
{
    size_t need = jsonw_escape(NULL, s, n);
    if (reserve(w, need)) {
        jsonw_escape(w->buf + w->len, s, n);
        w->len += need;
        w->buf[w->len] = '\0';
    }
}

void jsonw_key(struct jsonw *w, const char *key)
{
    if (!w->is_object[w->depth] || w->after_key) {
        w->failed = true;
        return;
    }
    if (w->has_member[w->depth]) {
        jsonw_append(w, ",", 1);
    }
    w->has_member[w->depth] = true;
    put_string(w, key, strlen(key));
    jsonw_append(w, ":", 1);
    w->after_key = true;
}

void jsonw_string_len(struct jsonw *w, const char *s, size_t n)
{
    before_value(w);
    put_string(w, s, n);
}

void jsonw_string(struct jsonw *w, const char *s)
{
    if (s == NULL) {
        jsonw_null(w);
        return;
    }
    jsonw_string_len(w, s, strlen(s));
}

void jsonw_json(struct jsonw *w, const char *json, size_t n)
{
    before_value(w);
    jsonw_append(w, json, n);
}

void jsonw_int(struct jsonw *w, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    jsonw_json(w, num, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    jsonw_json(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    jsonw_json(w, "null", 4);
}

char *jsonw_take(struct jsonw *w, size_t *len)
{
    if (w->failed || w->depth != 0 || w->after_key || !reserve(w, 0)) {
        jsonw_free(w);
        return NULL;
    }
    char *text = w->buf;
    if (len != NULL) {
        *len = w->len;
    }
    jsonw_init(w);
    return text;
}
