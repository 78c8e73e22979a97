#include "jsondoc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "jsonw.h"
#include "normalize.h"

struct jsondoc {
    struct jsondoc_value *v;
    uint32_t n, cap;
    char arena[]; /* decoded strings and number texts; never more bytes than the input + 1 */
};

struct parser {
    const unsigned char *start, *p, *end;
    struct jsondoc *doc;
    char *out;         /* next free byte of the arena */
    const char *field; /* the innermost member whose value is being read, for messages */
    int depth;
    char *msg;
    size_t msglen;
};

static void fail_at(struct parser *ps, const unsigned char *at, bool utf8, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports an error at byte position at, its column counted in characters, and the member
 * whose value holds it when there is one: a sender can find "score" in a line of 2 KB. */
static void fail_at(struct parser *ps, const unsigned char *at, bool utf8, const char *fmt, ...)
{
    if (ps->msg == NULL || ps->msglen == 0) {
        return;
    }
    size_t column = 1;
    for (const unsigned char *q = ps->start; q < at; q++) {
        column += (*q & 0xC0) != 0x80;
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char q[96], in[112] = "";
    if (ps->field != NULL) {
        snprintf(in, sizeof(in), " in %s", errmsg_quote(ps->field, q, sizeof(q)));
    }
    errmsg_set(ps->msg, ps->msglen, "%s at column %zu%s: %s",
               utf8 ? "invalid UTF-8" : "invalid JSON", column, in, what);
}

/* Explains the byte at p where something else was expected. */
static void fail_unexpected(struct parser *ps, const char *expected)
{
    const unsigned char *p = ps->p;
    if (p >= ps->end) {
        fail_at(ps, p, false, "expected %s, found the end of the line", expected);
        return;
    }
    unsigned cp;
    if (*p >= 0x80 && normalize_utf8_decode(p, (size_t)(ps->end - p), &cp) < 0) {
        fail_at(ps, p, true, "byte 0x%02X is not valid UTF-8", *p);
    } else if (*p >= 0x80) {
        fail_at(ps, p, false, "expected %s, found U+%04X", expected, cp);
    } else if (*p < 0x20 || *p == 0x7F) {
        fail_at(ps, p, false, "expected %s, found control character 0x%X", expected, *p);
    } else {
        fail_at(ps, p, false, "expected %s, found '%c'", expected, *p);
    }
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

/* Appends a value of type t; its index in *out. */
static int new_value(struct parser *ps, enum jsondoc_type t, uint32_t *out)
{
    struct jsondoc *d = ps->doc;
    if (d->n == d->cap) {
        struct jsondoc_value *v = NULL;
        if (d->cap < UINT32_MAX / 2) {
            v = realloc(d->v, (size_t)d->cap * 2 * sizeof(*v));
        }
        if (v == NULL) {
            fail_at(ps, ps->p, false, "out of memory");
            return -1;
        }
        d->v = v;
        d->cap *= 2;
    }
    *out = d->n++;
    d->v[*out] = (struct jsondoc_value){.type = t};
    return 0;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return -1;
        }
        x = x << 4 | d;
    }
    *out = x;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* A \u escape at p (pointing at the backslash), a surrogate pair taking two. Returns the
 * code point and advances p, or -1. */
static long unicode_escape(struct parser *ps)
{
    const unsigned char *at = ps->p;
    unsigned hi, lo;
    if (ps->end - ps->p < 6 || hex4(ps->p + 2, &hi) < 0) {
        fail_at(ps, at, false, "invalid escape: \\u needs four hexadecimal digits");
        return -1;
    }
    ps->p += 6;
    if (hi == 0) {
        fail_at(ps, at, false, "\\u0000 is not allowed in a string");
        return -1;
    }
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        fail_at(ps, at, false, "invalid escape: \\u%04X is a lone low surrogate", hi);
        return -1;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        return hi;
    }
    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) < 0 ||
        lo < 0xDC00 || lo > 0xDFFF) {
        fail_at(ps, at, false, "invalid escape: \\u%04X is a high surrogate without its pair", hi);
        return -1;
    }
    ps->p += 6;
    return 0x10000 + ((long)(hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* The string at p (its opening quote), decoded into the arena. */
static int parse_string(struct parser *ps, const char **text, size_t *len)
{
    char *o = ps->out;
    *text = o;
    ps->p++;
    for (;;) {
        const unsigned char *p = ps->p, *end = ps->end;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            *o++ = (char)*p++;
        }
        ps->p = p;
        if (p == end) {
            fail_at(ps, p, false, "unterminated string");
            return -1;
        }
        unsigned c = *p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail_at(ps, p, false, "control character 0x%X in a string (escape it)", c);
            return -1;
        }
        if (c >= 0x80) {
            unsigned cp;
            int l = normalize_utf8_decode(p, (size_t)(end - p), &cp);
            if (l < 0) {
                fail_at(ps, p, true, "byte 0x%02X is not valid UTF-8", c);
                return -1;
            }
            memcpy(o, p, (size_t)l);
            o += l;
            ps->p += l;
            continue;
        }
        /* A backslash. */
        if (end - p < 2) {
            fail_at(ps, p, false, "unterminated string");
            return -1;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = p[1] != '\0' ? strchr(from, p[1]) : NULL;
        if (e != NULL) {
            *o++ = to[e - from];
            ps->p += 2;
        } else if (p[1] == 'u') {
            long cp = unicode_escape(ps);
            if (cp < 0) {
                return -1;
            }
            o = put_utf8(o, (unsigned)cp);
        } else {
            if (p[1] > 0x20 && p[1] < 0x7F) {
                fail_at(ps, p, false, "invalid escape \\%c", p[1]);
            } else {
                fail_at(ps, p, false,
                        "invalid escape: a backslash followed by a character "
                        "that cannot follow it");
            }
            return -1;
        }
    }
    *len = (size_t)(o - *text);
    *o++ = '\0';
    ps->out = o;
    return 0;
}

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static int parse_number(struct parser *ps, uint32_t i)
{
    const unsigned char *s = ps->p, *p = s, *end = ps->end;
    bool negative = p < end && *p == '-', integer = true;
    p += negative;
    if (!is_digit(p, end)) {
        ps->p = p;
        fail_unexpected(ps, "a digit");
        return -1;
    }
    if (*p == '0' && is_digit(p + 1, end)) {
        fail_at(ps, p, false, "a number must not start with 0");
        return -1;
    }
    while (is_digit(p, end)) {
        p++;
    }
    if (p < end && *p == '.') {
        integer = false;
        if (!is_digit(++p, end)) {
            ps->p = p;
            fail_unexpected(ps, "a digit after the decimal point");
            return -1;
        }
        while (is_digit(p, end)) {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        p += p < end && (*p == '+' || *p == '-');
        if (!is_digit(p, end)) {
            ps->p = p;
            fail_unexpected(ps, "a digit in the exponent");
            return -1;
        }
        while (is_digit(p, end)) {
            p++;
        }
    }
    size_t n = (size_t)(p - s);
    char *text = ps->out;
    memcpy(text, s, n);
    text[n] = '\0';
    ps->out += n + 1;
    struct jsondoc_value *v = &ps->doc->v[i];
    v->text = text;
    v->len = n;
    if (integer) {
        /* Accumulated negatively, so that LLONG_MIN fits. */
        long long x = 0;
        for (const unsigned char *q = s + negative; q < p; q++) {
            int d = *q - '0';
            if (x < (LLONG_MIN + d) / 10) {
                fail_at(ps, s, false, "integer out of range (more than 64 bits)");
                return -1;
            }
            x = x * 10 - d;
        }
        if (!negative && x == LLONG_MIN) {
            fail_at(ps, s, false, "integer out of range (more than 64 bits)");
            return -1;
        }
        v->type = JSONDOC_INTEGER;
        v->integer = negative ? x : -x;
    } else {
        /* No one calls setlocale: strtod reads '.' as the decimal point. */
        errno = 0;
        double d = strtod(text, NULL);
        if (errno == ERANGE && (d > 1.0 || d < -1.0)) {
            fail_at(ps, s, false, "number out of range (larger than a double)");
            return -1;
        }
        v->type = JSONDOC_REAL;
    }
    ps->p = p;
    return 0;
}

static int parse_value(struct parser *ps, uint32_t *out);

/* Refuses an object whose members repeat a key; small objects pairwise, large ones sorted. */
static int cmp_keys(const void *a, const void *b, void *arg)
{
    const struct jsondoc_value *v = arg;
    const struct jsondoc_value *x = &v[*(const uint32_t *)a], *y = &v[*(const uint32_t *)b];
    if (x->key_len != y->key_len) {
        return x->key_len < y->key_len ? -1 : 1;
    }
    return memcmp(x->key, y->key, x->key_len);
}

static int check_duplicates(struct parser *ps, uint32_t obj)
{
    const struct jsondoc_value *v = ps->doc->v;
    uint32_t n = v[obj].count;
    const struct jsondoc_value *dup = NULL;
    if (n <= 16) {
        for (uint32_t a = v[obj].first; a != 0 && dup == NULL; a = v[a].next) {
            for (uint32_t b = v[a].next; b != 0; b = v[b].next) {
                if (cmp_keys(&a, &b, ps->doc->v) == 0) {
                    dup = &v[a];
                    break;
                }
            }
        }
    } else {
        uint32_t *idx = malloc((size_t)n * sizeof(*idx)), k = 0;
        if (idx == NULL) {
            fail_at(ps, ps->p, false, "out of memory");
            return -1;
        }
        for (uint32_t a = v[obj].first; a != 0; a = v[a].next) {
            idx[k++] = a;
        }
        qsort_r(idx, n, sizeof(*idx), cmp_keys, ps->doc->v);
        for (k = 1; k < n && dup == NULL; k++) {
            if (cmp_keys(&idx[k - 1], &idx[k], ps->doc->v) == 0) {
                dup = &v[idx[k]];
            }
        }
        free(idx);
    }
    if (dup != NULL) {
        char q[96];
        /* At the object's closing brace, where the whole object has been seen. */
        fail_at(ps, ps->p - 1, false, "duplicate key %s", errmsg_quote(dup->key, q, sizeof(q)));
        return -1;
    }
    return 0;
}

/* An array or an object, p at its opening bracket. */
static int parse_container(struct parser *ps, uint32_t i)
{
    bool object = ps->doc->v[i].type == JSONDOC_OBJECT;
    char close = object ? '}' : ']';
    if (++ps->depth > JSONDOC_MAX_DEPTH) {
        fail_at(ps, ps->p, false, "nested deeper than %d levels (the depth limit)",
                JSONDOC_MAX_DEPTH);
        return -1;
    }
    ps->p++;
    skip_space(ps);
    uint32_t prev = 0;
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail_unexpected(ps, "a member name in double quotes");
                return -1;
            }
            if (parse_string(ps, &key, &key_len) < 0) {
                return -1;
            }
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail_unexpected(ps, "':'");
                return -1;
            }
            ps->p++;
        }
        uint32_t child;
        const char *outer = ps->field;
        ps->field = object ? key : outer;
        if (parse_value(ps, &child) < 0) {
            return -1;
        }
        ps->field = outer;
        struct jsondoc_value *v = ps->doc->v;
        v[child].key = key;
        v[child].key_len = key_len;
        if (prev == 0) {
            v[i].first = child;
        } else {
            v[prev].next = child;
        }
        prev = child;
        v[i].count++;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_space(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            break;
        }
        fail_unexpected(ps, object ? "',' or '}'" : "',' or ']'");
        return -1;
    }
    ps->p++;
    ps->depth--;
    return object ? check_duplicates(ps, i) : 0;
}

static int literal(struct parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail_unexpected(ps, "a value");
        return -1;
    }
    ps->p += n;
    return 0;
}

static int parse_value(struct parser *ps, uint32_t *out)
{
    skip_space(ps);
    if (ps->p >= ps->end) {
        fail_unexpected(ps, "a value");
        return -1;
    }
    unsigned c = *ps->p;
    enum jsondoc_type t = c == '{'   ? JSONDOC_OBJECT
                          : c == '[' ? JSONDOC_ARRAY
                          : c == '"' ? JSONDOC_STRING
                          : c == 't' ? JSONDOC_TRUE
                          : c == 'f' ? JSONDOC_FALSE
                          : c == 'n' ? JSONDOC_NULL
                                     : JSONDOC_INTEGER;
    if (t == JSONDOC_INTEGER && c != '-' && (c < '0' || c > '9')) {
        fail_unexpected(ps, "a value");
        return -1;
    }
    uint32_t i;
    if (new_value(ps, t, &i) < 0) {
        return -1;
    }
    *out = i;
    switch (t) {
    case JSONDOC_OBJECT:
    case JSONDOC_ARRAY:
        return parse_container(ps, i);
    case JSONDOC_STRING: {
        const char *text;
        size_t len;
        if (parse_string(ps, &text, &len) < 0) {
            return -1;
        }
        ps->doc->v[i].text = text;
        ps->doc->v[i].len = len;
        return 0;
    }
    case JSONDOC_TRUE:
        return literal(ps, "true", 4);
    case JSONDOC_FALSE:
        return literal(ps, "false", 5);
    case JSONDOC_NULL:
        return literal(ps, "null", 4);
    default:
        return parse_number(ps, i);
    }
}

struct jsondoc *jsondoc_parse(const char *text, size_t len, char *msg, size_t msglen)
{
    struct jsondoc *doc = NULL;
    if (len < SIZE_MAX - sizeof(*doc) - 1) {
        doc = malloc(sizeof(*doc) + len + 1);
    }
    struct parser ps = {.start = (const unsigned char *)text,
                        .p = (const unsigned char *)text,
                        .end = (const unsigned char *)text + len,
                        .doc = doc,
                        .msg = msg,
                        .msglen = msglen};
    if (doc == NULL) {
        errmsg_set(msg, msglen, "out of memory");
        return NULL;
    }
    doc->n = 0;
    doc->cap = 16;
    doc->v = malloc(doc->cap * sizeof(*doc->v));
    ps.out = doc->arena;
    uint32_t root;
    if (doc->v == NULL) {
        errmsg_set(msg, msglen, "out of memory");
        goto fail;
    }
    if (parse_value(&ps, &root) < 0) {
        goto fail;
    }
    skip_space(&ps);
    if (ps.p < ps.end) {
        fail_unexpected(&ps, "the end of the line after the value");
        goto fail;
    }
    return doc;
fail:
    jsondoc_free(doc);
    return NULL;
}

void jsondoc_free(struct jsondoc *doc)
{
    if (doc != NULL) {
        free(doc->v);
        free(doc);
    }
}

const struct jsondoc_value *jsondoc_root(const struct jsondoc *doc)
{
    return &doc->v[0];
}

const struct jsondoc_value *jsondoc_child(const struct jsondoc *doc, const struct jsondoc_value *v)
{
    return v->first != 0 ? &doc->v[v->first] : NULL;
}

const struct jsondoc_value *jsondoc_next(const struct jsondoc *doc, const struct jsondoc_value *v)
{
    return v->next != 0 ? &doc->v[v->next] : NULL;
}

const struct jsondoc_value *jsondoc_get(const struct jsondoc *doc, const struct jsondoc_value *obj,
                                        const char *key)
{
    if (obj->type != JSONDOC_OBJECT) {
        return NULL;
    }
    size_t n = strlen(key);
    for (const struct jsondoc_value *m = jsondoc_child(doc, obj); m != NULL;
         m = jsondoc_next(doc, m)) {
        if (m->key_len == n && memcmp(m->key, key, n) == 0) {
            return m;
        }
    }
    return NULL;
}

/*
 * Serialization in two passes over the same walk: with out == NULL it only counts, so that
 * the text is written into one allocation of the right size.
 */
static size_t put_string(char *out, const char *s, size_t n)
{
    return jsonw_escape(out, s, n);
}

static size_t put_raw(char *out, const char *s, size_t n)
{
    if (out != NULL) {
        memcpy(out, s, n);
    }
    return n;
}

static size_t put_value(const struct jsondoc *doc, const struct jsondoc_value *v, char *out,
                        const char *set_key, const char *set_value)
{
    size_t k = 0;
#define AT(k) (out != NULL ? out + (k) : NULL)
    switch (v->type) {
    case JSONDOC_NULL:
        return put_raw(out, "null", 4);
    case JSONDOC_FALSE:
        return put_raw(out, "false", 5);
    case JSONDOC_TRUE:
        return put_raw(out, "true", 4);
    case JSONDOC_INTEGER:
    case JSONDOC_REAL:
        return put_raw(out, v->text, v->len);
    case JSONDOC_STRING:
        return put_string(out, v->text, v->len);
    case JSONDOC_ARRAY:
    case JSONDOC_OBJECT:
        break;
    }
    bool object = v->type == JSONDOC_OBJECT;
    k += put_raw(AT(k), object ? "{" : "[", 1);
    bool first = true;
    if (object && set_key != NULL) {
        k += put_string(AT(k), set_key, strlen(set_key));
        k += put_raw(AT(k), ":", 1);
        k += put_string(AT(k), set_value, strlen(set_value));
        first = false;
    }
    for (const struct jsondoc_value *c = jsondoc_child(doc, v); c != NULL;
         c = jsondoc_next(doc, c)) {
        if (object && set_key != NULL && strlen(set_key) == c->key_len &&
            memcmp(set_key, c->key, c->key_len) == 0) {
            continue;
        }
        if (!first) {
            k += put_raw(AT(k), ",", 1);
        }
        first = false;
        if (object) {
            k += put_string(AT(k), c->key, c->key_len);
            k += put_raw(AT(k), ":", 1);
        }
        k += put_value(doc, c, AT(k), NULL, NULL);
    }
    k += put_raw(AT(k), object ? "}" : "]", 1);
#undef AT
    return k;
}

char *jsondoc_dump(const struct jsondoc *doc, const struct jsondoc_value *v, const char *set_key,
                   const char *set_value, size_t *len)
{
    if (v->type != JSONDOC_OBJECT) {
        set_key = NULL;
    }
    size_t n = put_value(doc, v, NULL, set_key, set_value);
    char *out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    put_value(doc, v, out, set_key, set_value);
    out[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return out;
}
