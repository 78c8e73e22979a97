/*
 * Unit tests of lib/jsondoc, the parser of every TCP line the daemon ingests: what it accepts
 * (every value type, escapes, UTF-8 byte for byte, numbers at their bounds, depth at its
 * limit), what it refuses and the message the sender reads then (column in characters, the
 * problem named, always valid UTF-8), the navigation API, and jsondoc_dump's text, which must
 * parse back to the same document.
 */
#include "testmain.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsondoc.h"
#include "record.h"

/* The daemon's own message buffer, so that no message is cut shorter here than there. */
#define MSG_MAX RECORD_MSG_MAX

/* Hex escapes, so that the bytes under test are exactly these; names say the characters. */
#define SALAM   "\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85"         /* Persian "salam", 4 characters */
#define MARHABA "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7" /* Arabic "marhaba", 5 characters */
#define PE      "\xD9\xBE"                                 /* U+067E */
#define GAF     "\xDA\xAF"                                 /* U+06AF */
#define YEH     "\xDB\x8C"                                 /* U+06CC, the Persian yeh */
#define ZWNJ    "\xE2\x80\x8C"                             /* U+200C, inside Persian words */
#define FA_ONE  "\xDB\xB1"                                 /* U+06F1 */
#define GRIN    "\xF0\x9F\x98\x80"                         /* U+1F600 */
#define THUMB   "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"         /* U+1F44D U+1F3FD */

/*
 * Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF), written here rather
 * than borrowed from lib/normalize, which jsondoc itself uses to decide.
 */
static bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], cp, len, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) {
            return false;
        }
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

static struct jsondoc *parse_ok_at(const char *text, size_t len, int line)
{
    char msg[MSG_MAX] = "";
    struct jsondoc *doc = jsondoc_parse(text, len, msg, sizeof(msg));
    if (doc == NULL) {
        fail_msg("line %d: refused: %s", line, msg);
    }
    return doc;
}

#define PARSE_OK(text)          parse_ok_at((text), strlen(text), __LINE__)
#define PARSE_OK_LEN(text, len) parse_ok_at((text), (len), __LINE__)

/*
 * Asserts a refusal, with the message a sender can be shown: starting "invalid JSON at
 * column " or "invalid UTF-8 at column ", and valid UTF-8 because it travels in a JSON
 * answer. The message is left in msg.
 */
static void refuse_at(const char *text, size_t len, char *msg, size_t msglen, int line)
{
    strcpy(msg, "(no message)");
    struct jsondoc *doc = jsondoc_parse(text, len, msg, msglen);
    if (doc != NULL) {
        jsondoc_free(doc);
        fail_msg("line %d: accepted", line);
    }
    if (strncmp(msg, "invalid JSON at column ", 23) != 0 &&
        strncmp(msg, "invalid UTF-8 at column ", 24) != 0) {
        fail_msg("line %d: message without its column: %s", line, msg);
    }
    if (!utf8_valid(msg, strlen(msg))) {
        fail_msg("line %d: message is not valid UTF-8", line);
    }
}

/* Asserts a refusal whose message contains needle. */
static void refused_with_at(const char *text, size_t len, const char *needle, int line)
{
    char msg[MSG_MAX];
    refuse_at(text, len, msg, sizeof(msg), line);
    if (strstr(msg, needle) == NULL) {
        fail_msg("line %d: message \"%s\" does not contain \"%s\"", line, msg, needle);
    }
}

/* Asserts a refusal whose message starts with prefix (which pins the column). */
static void refused_prefix_at(const char *text, size_t len, const char *prefix, int line)
{
    char msg[MSG_MAX];
    refuse_at(text, len, msg, sizeof(msg), line);
    if (strncmp(msg, prefix, strlen(prefix)) != 0) {
        fail_msg("line %d: message \"%s\" does not start with \"%s\"", line, msg, prefix);
    }
}

#define REFUSED(text, needle)             refused_with_at((text), strlen(text), (needle), __LINE__)
#define REFUSED_LEN(text, len, needle)    refused_with_at((text), (len), (needle), __LINE__)
#define REFUSED_AT(text, prefix)          refused_prefix_at((text), strlen(text), (prefix), __LINE__)
#define REFUSED_AT_LEN(text, len, prefix) refused_prefix_at((text), (len), (prefix), __LINE__)

/* Parses text, a single string, and asserts its decoded bytes. */
static void string_is_at(const char *text, const char *bytes, size_t n, int line)
{
    struct jsondoc *doc = parse_ok_at(text, strlen(text), line);
    const struct jsondoc_value *v = jsondoc_root(doc);
    if (v->type != JSONDOC_STRING) {
        fail_msg("line %d: type %d, not a string", line, (int)v->type);
    }
    if (v->len != n || memcmp(v->text, bytes, n) != 0) {
        fail_msg("line %d: decoded to %zu bytes \"%s\", expected %zu", line, v->len, v->text, n);
    }
    /* Callers treat text as a C string. */
    if (v->text[n] != '\0') {
        fail_msg("line %d: not NUL-terminated", line);
    }
    jsondoc_free(doc);
}

#define STRING_IS(text, bytes) string_is_at((text), (bytes), sizeof(bytes) - 1, __LINE__)

/* Asserts that jsondoc_dump(doc, v, set_key, set_value) writes want, and the length it says. */
static void dump_of_is_at(const struct jsondoc *doc, const struct jsondoc_value *v,
                          const char *set_key, const char *set_value, const char *want, int line)
{
    size_t len = 0;
    char *out = jsondoc_dump(doc, v, set_key, set_value, &len);
    if (out == NULL || strcmp(out, want) != 0 || len != strlen(want)) {
        fail_msg("line %d: dumped as \"%s\" (%zu bytes), expected \"%s\"", line,
                 out != NULL ? out : "(null)", len, want);
    }
    free(out);
}

#define DUMP_OF_IS(doc, v, key, value, want)                                                       \
    dump_of_is_at((doc), (v), (key), (value), (want), __LINE__)

/* The dump of the root of text, compared with expected. */
static void dump_is_at(const char *text, const char *expected, int line)
{
    struct jsondoc *doc = parse_ok_at(text, strlen(text), line);
    dump_of_is_at(doc, jsondoc_root(doc), NULL, NULL, expected, line);
    jsondoc_free(doc);
}

#define DUMP_IS(text, expected) dump_is_at((text), (expected), __LINE__)

/* Value for value, members in order with equal keys; a and b's own keys are not compared. */
static bool values_equal(const struct jsondoc *da, const struct jsondoc_value *a,
                         const struct jsondoc *db, const struct jsondoc_value *b)
{
    if (a->type != b->type || a->count != b->count) {
        return false;
    }
    switch (a->type) {
    case JSONDOC_NULL:
    case JSONDOC_FALSE:
    case JSONDOC_TRUE:
        return true;
    case JSONDOC_INTEGER:
        return a->integer == b->integer && a->len == b->len && strcmp(a->text, b->text) == 0;
    case JSONDOC_REAL:
    case JSONDOC_STRING:
        return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
    case JSONDOC_ARRAY:
    case JSONDOC_OBJECT:
        break;
    }
    const struct jsondoc_value *x = jsondoc_child(da, a), *y = jsondoc_child(db, b);
    for (; x != NULL && y != NULL; x = jsondoc_next(da, x), y = jsondoc_next(db, y)) {
        if (a->type == JSONDOC_OBJECT &&
            (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0)) {
            return false;
        }
        if (!values_equal(da, x, db, y)) {
            return false;
        }
    }
    return x == NULL && y == NULL;
}

/* Dumps v, parses the dump back and asserts the same value, and the same text a second time. */
static void round_trip_at(const struct jsondoc *doc, const struct jsondoc_value *v, int line)
{
    size_t len = 0;
    char *out = jsondoc_dump(doc, v, NULL, NULL, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    struct jsondoc *back = parse_ok_at(out, len, line);
    if (!values_equal(doc, v, back, jsondoc_root(back))) {
        fail_msg("line %d: %s parsed back to a different value", line, out);
    }
    char *again = jsondoc_dump(back, jsondoc_root(back), NULL, NULL, NULL);
    assert_non_null(again);
    if (strcmp(out, again) != 0) {
        fail_msg("line %d: dumped as %s, then as %s", line, out, again);
    }
    free(again);
    jsondoc_free(back);
    free(out);
}

#define ROUND_TRIP(doc, v) round_trip_at((doc), (v), __LINE__)

/*
 * An object of n members "k001": 1, "k002": 2, ..., except that the first member is named
 * first_key and the last last_key when they are not NULL (JSON text, escapes allowed). Free it.
 */
static char *object_of(size_t n, const char *first_key, const char *last_key)
{
    size_t cap =
        2 + n * 32 + (first_key ? strlen(first_key) : 0) + (last_key ? strlen(last_key) : 0);
    char *s = malloc(cap);
    assert_non_null(s);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 1; i <= n; i++) {
        const char *k = i == 1 && first_key ? first_key : i == n && last_key ? last_key : NULL;
        int w = k != NULL ? snprintf(s + o, cap - o, "%s\"%s\":%zu", i > 1 ? "," : "", k, i)
                          : snprintf(s + o, cap - o, "%s\"k%03zu\":%zu", i > 1 ? "," : "", i, i);
        assert_true(w > 0 && (size_t)w < cap - o);
        o += (size_t)w;
    }
    assert_true(o + 2 <= cap);
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

/* depth nested arrays, the innermost empty. Free it. */
static char *nested_arrays(size_t depth)
{
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

/* depth nested objects {"a":{"a":...{}}}, the innermost empty. Free it. */
static char *nested_objects(size_t depth)
{
    char *open = testmain_repeat("{\"a\":", depth - 1), *close = testmain_repeat("}", depth - 1);
    size_t ol = strlen(open), cl = strlen(close);
    char *s = malloc(ol + 2 + cl + 1);
    assert_non_null(s);
    memcpy(s, open, ol);
    memcpy(s + ol, "{}", 2);
    memcpy(s + ol + 2, close, cl + 1);
    free(open);
    free(close);
    return s;
}

/* ---- Value types and navigation ---- */

static void value_types_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum jsondoc_type type;
    } cases[] = {
        {"null", JSONDOC_NULL},    {"false", JSONDOC_FALSE}, {"true", JSONDOC_TRUE},
        {"0", JSONDOC_INTEGER},    {"-17", JSONDOC_INTEGER}, {"1.5", JSONDOC_REAL},
        {"\"s\"", JSONDOC_STRING}, {"\"\"", JSONDOC_STRING}, {"[]", JSONDOC_ARRAY},
        {"{}", JSONDOC_OBJECT},    {"[1]", JSONDOC_ARRAY},   {"{\"a\":1}", JSONDOC_OBJECT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jsondoc *doc = PARSE_OK(cases[i].text);
        const struct jsondoc_value *root = jsondoc_root(doc);
        if (root->type != cases[i].type) {
            fail_msg("%s: type %d, expected %d", cases[i].text, (int)root->type,
                     (int)cases[i].type);
        }
        assert_null(root->key);
        jsondoc_free(doc);
    }

    /* Scalars have neither children nor siblings; empty containers have no child. */
    struct jsondoc *doc = PARSE_OK("[null,false,true,-3,2.5,\"x\",[],{}]");
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->type, JSONDOC_ARRAY);
    assert_int_equal(root->count, 8);
    static const enum jsondoc_type order[] = {JSONDOC_NULL,    JSONDOC_FALSE, JSONDOC_TRUE,
                                              JSONDOC_INTEGER, JSONDOC_REAL,  JSONDOC_STRING,
                                              JSONDOC_ARRAY,   JSONDOC_OBJECT};
    size_t n = 0;
    for (const struct jsondoc_value *c = jsondoc_child(doc, root); c; c = jsondoc_next(doc, c)) {
        assert_true(n < 8);
        assert_int_equal(c->type, order[n]);
        assert_null(c->key);
        assert_null(jsondoc_child(doc, c));
        assert_int_equal(c->count, 0);
        if (c->type == JSONDOC_INTEGER) {
            assert_int_equal(c->integer, -3);
            assert_string_equal(c->text, "-3");
        } else if (c->type == JSONDOC_STRING) {
            assert_string_equal(c->text, "x");
            assert_int_equal(c->len, 1);
        }
        n++;
    }
    assert_int_equal(n, 8);
    assert_null(jsondoc_next(doc, root));
    jsondoc_free(doc);
}

static void navigation_child_next_get(void **state)
{
    (void)state;
    struct jsondoc *doc =
        PARSE_OK("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"},\"ab\":2,\"\":3}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->type, JSONDOC_OBJECT);
    assert_int_equal(root->count, 5);

    /* Members in the order sent, with their keys. */
    static const char *keys[] = {"a", "b", "c", "ab", ""};
    size_t n = 0;
    for (const struct jsondoc_value *m = jsondoc_child(doc, root); m; m = jsondoc_next(doc, m)) {
        assert_true(n < 5);
        assert_non_null(m->key);
        assert_string_equal(m->key, keys[n]);
        assert_int_equal(m->key_len, strlen(keys[n]));
        n++;
    }
    assert_int_equal(n, 5);

    const struct jsondoc_value *a = jsondoc_get(doc, root, "a");
    assert_non_null(a);
    assert_int_equal(a->type, JSONDOC_INTEGER);
    assert_int_equal(a->integer, 1);
    /* A key that is a prefix of another finds its own member. */
    const struct jsondoc_value *ab = jsondoc_get(doc, root, "ab");
    assert_non_null(ab);
    assert_int_equal(ab->integer, 2);
    const struct jsondoc_value *empty = jsondoc_get(doc, root, "");
    assert_non_null(empty);
    assert_int_equal(empty->integer, 3);
    assert_null(jsondoc_get(doc, root, "abc"));
    assert_null(jsondoc_get(doc, root, "A"));
    assert_null(jsondoc_get(doc, root, "d")); /* only the object's own members */

    const struct jsondoc_value *b = jsondoc_get(doc, root, "b");
    assert_non_null(b);
    assert_int_equal(b->type, JSONDOC_ARRAY);
    assert_int_equal(b->count, 3);
    const struct jsondoc_value *b0 = jsondoc_child(doc, b);
    assert_non_null(b0);
    assert_int_equal(b0->type, JSONDOC_TRUE);
    const struct jsondoc_value *b1 = jsondoc_next(doc, b0);
    assert_non_null(b1);
    assert_int_equal(b1->type, JSONDOC_FALSE);
    const struct jsondoc_value *b2 = jsondoc_next(doc, b1);
    assert_non_null(b2);
    assert_int_equal(b2->type, JSONDOC_NULL);
    assert_null(jsondoc_next(doc, b2));

    const struct jsondoc_value *c = jsondoc_get(doc, root, "c");
    assert_non_null(c);
    assert_int_equal(c->count, 1);
    const struct jsondoc_value *d = jsondoc_get(doc, c, "d");
    assert_non_null(d);
    assert_string_equal(d->text, "e");
    assert_string_equal(d->key, "d");

    /* jsondoc_get on anything but an object: NULL, even for an array holding the "key". */
    assert_null(jsondoc_get(doc, b, "a"));
    assert_null(jsondoc_get(doc, a, "a"));
    assert_null(jsondoc_get(doc, d, "d"));
    assert_null(jsondoc_get(doc, b0, "a"));
    /* Array elements have no name; "" must not match one. */
    assert_null(jsondoc_get(doc, b, ""));
    jsondoc_free(doc);

    doc = PARSE_OK("[{\"a\":1}]");
    assert_null(jsondoc_get(doc, jsondoc_root(doc), "a"));
    jsondoc_free(doc);
    doc = PARSE_OK("\"a\"");
    assert_null(jsondoc_get(doc, jsondoc_root(doc), "a"));
    jsondoc_free(doc);
}

static void many_values(void **state)
{
    (void)state;
    /* Far more values than the first allocation holds, so that it grows while parsing. */
    const size_t n = 20000;
    char *body = testmain_repeat("[1,\"ab\",{\"k\":null}],", n);
    size_t bl = strlen(body);
    body[bl - 1] = ']';
    char *text = malloc(bl + 2);
    assert_non_null(text);
    text[0] = '[';
    memcpy(text + 1, body, bl + 1);
    free(body);

    struct jsondoc *doc = PARSE_OK(text);
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->count, n);
    size_t seen = 0;
    for (const struct jsondoc_value *c = jsondoc_child(doc, root); c; c = jsondoc_next(doc, c)) {
        assert_int_equal(c->type, JSONDOC_ARRAY);
        assert_int_equal(c->count, 3);
        const struct jsondoc_value *one = jsondoc_child(doc, c);
        assert_int_equal(one->integer, 1);
        const struct jsondoc_value *ab = jsondoc_next(doc, one);
        assert_string_equal(ab->text, "ab");
        const struct jsondoc_value *obj = jsondoc_next(doc, ab);
        assert_non_null(jsondoc_get(doc, obj, "k"));
        seen++;
    }
    assert_int_equal(seen, n);
    ROUND_TRIP(doc, root);
    jsondoc_free(doc);
    free(text);
}

static void parse_reads_only_len_bytes(void **state)
{
    (void)state;
    /* An exact-size heap copy with no NUL after it: AddressSanitizer sees any read past len. */
    static const char line[] = "{\"a\":[1,\"x\"]}";
    char *exact = malloc(sizeof(line) - 1);
    assert_non_null(exact);
    memcpy(exact, line, sizeof(line) - 1);
    struct jsondoc *doc = PARSE_OK_LEN(exact, sizeof(line) - 1);
    assert_int_equal(jsondoc_get(doc, jsondoc_root(doc), "a")->count, 2);
    jsondoc_free(doc);
    free(exact);

    /* Values that end exactly at len, each refused when cut one byte short. */
    static const char *const tails[] = {"-0.5e7", "true", "null", "false", "\"s\"", "[1]", "{}"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t n = strlen(tails[i]);
        char *t = malloc(n);
        assert_non_null(t);
        memcpy(t, tails[i], n);
        doc = PARSE_OK_LEN(t, n);
        jsondoc_free(doc);
        /* Cut one byte short: refused, without reading the missing byte. */
        char msg[MSG_MAX];
        refuse_at(t, n - 1, msg, sizeof(msg), __LINE__);
        free(t);
    }

    char *digits = malloc(5);
    assert_non_null(digits);
    memcpy(digits, "12345", 5);
    doc = PARSE_OK_LEN(digits, 5);
    assert_int_equal(jsondoc_root(doc)->integer, 12345);
    jsondoc_free(doc);
    free(digits);

    /* What lies after len is not part of the text. */
    doc = PARSE_OK_LEN("[1]garbage", 3);
    assert_int_equal(jsondoc_root(doc)->count, 1);
    jsondoc_free(doc);
    doc = PARSE_OK_LEN("12345", 2);
    assert_int_equal(jsondoc_root(doc)->integer, 12);
    assert_string_equal(jsondoc_root(doc)->text, "12");
    jsondoc_free(doc);
}

static void document_outlives_its_input(void **state)
{
    (void)state;
    /* The daemon reuses its line buffer while the document is still in use. */
    char *line = strdup("{\"k" SALAM "\":\"v\\n" GRIN "\",\"n\":1.25}");
    assert_non_null(line);
    struct jsondoc *doc = PARSE_OK(line);
    memset(line, 'x', strlen(line));
    free(line);
    const struct jsondoc_value *root = jsondoc_root(doc);
    const struct jsondoc_value *v = jsondoc_get(doc, root, "k" SALAM);
    assert_non_null(v);
    assert_string_equal(v->text, "v\n" GRIN);
    const struct jsondoc_value *n = jsondoc_get(doc, root, "n");
    assert_non_null(n);
    assert_string_equal(n->text, "1.25");
    char *out = jsondoc_dump(doc, root, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "{\"k" SALAM "\":\"v\\n" GRIN "\",\"n\":1.25}");
    free(out);
    jsondoc_free(doc);
}

static void refusal_message_buffer(void **state)
{
    (void)state;
    /* No buffer at all, or a tiny one: still refused, and nothing written out of bounds. */
    assert_null(jsondoc_parse("[1,]", 4, NULL, 0));
    assert_null(jsondoc_parse("[1,]", 4, NULL, 100));
    char tiny[8];
    memset(tiny, '#', sizeof(tiny));
    assert_null(jsondoc_parse("[1,]", 4, tiny, 1));
    assert_int_equal(tiny[0], '\0');
    assert_int_equal(tiny[1], '#');
    assert_null(jsondoc_parse("[1,]", 4, tiny, 5));
    assert_string_equal(tiny, "inva");
    assert_int_equal(tiny[5], '#');
    char *big = malloc(MSG_MAX);
    assert_non_null(big);
    memset(big, '#', MSG_MAX);
    assert_null(jsondoc_parse("[1,]", 4, big, 0));
    assert_int_equal(big[0], '#');
    free(big);
}

/* ---- Strings ---- */

static void strings_escapes(void **state)
{
    (void)state;
    STRING_IS("\"\\\"\"", "\"");
    STRING_IS("\"\\\\\"", "\\");
    STRING_IS("\"\\/\"", "/");
    STRING_IS("\"\\b\"", "\b");
    STRING_IS("\"\\f\"", "\f");
    STRING_IS("\"\\n\"", "\n");
    STRING_IS("\"\\r\"", "\r");
    STRING_IS("\"\\t\"", "\t");
    STRING_IS("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", "a\"b\\c/d\be\ff\ng\rh\ti");
    /* \u in every UTF-8 length, upper and lower case hex. */
    STRING_IS("\"\\u0041\"", "A");
    STRING_IS("\"\\u007f\"", "\x7F");
    STRING_IS("\"\\u0001\"", "\x01");
    STRING_IS("\"\\u00e9\\u00E9\"", "\xC3\xA9\xC3\xA9");
    STRING_IS("\"\\u0080\"", "\xC2\x80");
    STRING_IS("\"\\u07FF\"", "\xDF\xBF");
    STRING_IS("\"\\u0800\"", "\xE0\xA0\x80");
    STRING_IS("\"\\u0633\\u0644\\u0627\\u0645\"", SALAM);
    STRING_IS("\"\\u200c\"", ZWNJ);
    STRING_IS("\"\\uFFFF\"", "\xEF\xBF\xBF");
    STRING_IS("\"\\uE000\"", "\xEE\x80\x80"); /* just past the surrogates */
    STRING_IS("\"\\uD7FF\"", "\xED\x9F\xBF"); /* just before them */
    /* Surrogate pairs become one 4-byte character, never two 3-byte halves (CESU-8). */
    STRING_IS("\"\\uD83D\\uDE00\"", GRIN);
    STRING_IS("\"\\ud83d\\ude00\"", GRIN);
    STRING_IS("\"\\uD800\\uDC00\"", "\xF0\x90\x80\x80");
    STRING_IS("\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF");
    STRING_IS("\"\\uD83D\\uDC4D\\uD83C\\uDFFD\"", THUMB);
    STRING_IS("\"x\\uD83D\\uDE00y\\u0633z\"", "x" GRIN "y\xD8\xB3z");
    /* Escapes in keys are decoded too. */
    struct jsondoc *doc = PARSE_OK("{\"\\u0633\\n\\uD83D\\uDE00\":1}");
    const struct jsondoc_value *m = jsondoc_child(doc, jsondoc_root(doc));
    assert_int_equal(m->key_len, 7);
    assert_memory_equal(m->key, "\xD8\xB3\n" GRIN, 7);
    assert_ptr_equal(jsondoc_get(doc, jsondoc_root(doc), "\xD8\xB3\n" GRIN), m);
    jsondoc_free(doc);
}

static void strings_utf8_byte_exact(void **state)
{
    (void)state;
    STRING_IS("\"" SALAM "\"", SALAM);
    STRING_IS("\"" MARHABA "\"", MARHABA);
    STRING_IS("\"" PE GAF YEH ZWNJ FA_ONE "\"", PE GAF YEH ZWNJ FA_ONE);
    STRING_IS("\"" GRIN THUMB "\"", GRIN THUMB);
    STRING_IS("\"a " SALAM " b " GRIN " \xC3\xA9 \xE2\x82\xAC \x7F\"",
              "a " SALAM " b " GRIN " \xC3\xA9 \xE2\x82\xAC \x7F");
    STRING_IS("\"\xF4\x8F\xBF\xBF\"", "\xF4\x8F\xBF\xBF"); /* U+10FFFF, the last character */

    /* Keys too, found by their bytes. */
    struct jsondoc *doc = PARSE_OK("{\"" SALAM "\":\"" MARHABA "\",\"" GRIN "\":[\"" THUMB "\"]}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    const struct jsondoc_value *v = jsondoc_get(doc, root, SALAM);
    assert_non_null(v);
    assert_string_equal(v->text, MARHABA);
    assert_int_equal(v->len, sizeof(MARHABA) - 1);
    assert_int_equal(v->key_len, sizeof(SALAM) - 1);
    v = jsondoc_get(doc, root, GRIN);
    assert_non_null(v);
    assert_string_equal(jsondoc_child(doc, v)->text, THUMB);
    jsondoc_free(doc);
}

static void strings_control_characters_refused(void **state)
{
    (void)state;
    /* A raw NUL: the line holds one, so it goes with its length. */
    static const char nul[] = "\"a\0b\"";
    REFUSED_LEN(nul, sizeof(nul) - 1, "control character 0x0");
    REFUSED_AT_LEN(nul, sizeof(nul) - 1, "invalid JSON at column 3: ");
    static const char nul_key[] = "{\"a\0\":1}";
    REFUSED_LEN(nul_key, sizeof(nul_key) - 1, "control character 0x0");

    for (unsigned c = 0x01; c < 0x20; c++) {
        char text[8], needle[32];
        snprintf(text, sizeof(text), "[\"%c\"]", (char)c);
        snprintf(needle, sizeof(needle), "control character 0x%X", c);
        REFUSED(text, needle);
        REFUSED_AT(text, "invalid JSON at column 3: ");
    }
    REFUSED("\"line\nbreak\"", "control character 0xA");
    REFUSED("{\"a\tb\":1}", "control character 0x9");
    /* DEL is not a control character to JSON. */
    STRING_IS("\"\x7F\"", "\x7F");
}

static void strings_nul_escape_refused(void **state)
{
    (void)state;
    REFUSED("\"\\u0000\"", "\\u0000");
    REFUSED("\"abc\\u0000def\"", "\\u0000");
    REFUSED("{\"a\\u0000\":1}", "\\u0000");
    REFUSED("[\"x\",\"\\u0000\"]", "\\u0000");
    REFUSED_AT("\"ab\\u0000\"", "invalid JSON at column 4: ");
    /* A NUL spelled any other way is still \u0000; the neighbours are fine. */
    REFUSED("\"\\u0000\\u0041\"", "\\u0000");
    STRING_IS("\"\\u0001\"", "\x01");
    STRING_IS("\"\\u0100\"", "\xC4\x80");
}

static void strings_surrogates_refused(void **state)
{
    (void)state;
    /* Lone high surrogates: at the end, before another character, before a non-surrogate. */
    REFUSED("\"\\uD800\"", "high surrogate");
    REFUSED("\"\\uD83D\"", "high surrogate");
    REFUSED("\"\\uDBFF\"", "high surrogate");
    REFUSED("\"\\uD83Dx\"", "high surrogate");
    REFUSED("\"\\uD83D\\u0041\"", "high surrogate");
    REFUSED("\"\\uD83D\\uD83D\"", "high surrogate");
    REFUSED("\"\\uD83D\\n\"", "high surrogate");
    REFUSED("\"\\uD83D\\uE000\"", "high surrogate");
    REFUSED("\"\\uD83D", "high surrogate");
    REFUSED("\"\\uD83D\\uDE0\"", "high surrogate");
    REFUSED("{\"\\uD800\":1}", "high surrogate");
    REFUSED_AT("\"ab\\uD800\"", "invalid JSON at column 4: ");
    /* Lone low surrogates, first or after a complete pair. */
    REFUSED("\"\\uDC00\"", "low surrogate");
    REFUSED("\"\\uDE00\"", "low surrogate");
    REFUSED("\"\\uDFFF\"", "low surrogate");
    REFUSED("\"\\uD83D\\uDE00\\uDE00\"", "low surrogate");
    REFUSED("\"x\\udc00\"", "low surrogate");
    REFUSED_AT("\"ab\\uDC00\"", "invalid JSON at column 4: ");
}

static void strings_bad_escapes_refused(void **state)
{
    (void)state;
    REFUSED("\"\\x41\"", "invalid escape \\x");
    REFUSED_AT("\"ab\\x\"", "invalid JSON at column 4: ");
    REFUSED("\"\\a\"", "invalid escape \\a");
    REFUSED("\"\\'\"", "invalid escape \\'");
    REFUSED("\"\\U0041\"", "invalid escape \\U");
    REFUSED("\"\\0\"", "invalid escape \\0");
    REFUSED("\"\\ \"", "escape");
    REFUSED("\"\\\x7F\"", "escape");
    static const char backslash_nul[] = "\"\\\0\"";
    REFUSED_LEN(backslash_nul, sizeof(backslash_nul) - 1, "escape");
    /* \u needs four hex digits. */
    REFUSED("\"\\u\"", "four hexadecimal digits");
    REFUSED("\"\\u12\"", "four hexadecimal digits");
    REFUSED("\"\\u123\"", "four hexadecimal digits");
    REFUSED("\"\\u12G4\"", "four hexadecimal digits");
    REFUSED("\"\\u-123\"", "four hexadecimal digits");
    REFUSED("\"\\u 123\"", "four hexadecimal digits");
    REFUSED("\"\\u12", "four hexadecimal digits");
    /*
     * A backslash before a Persian letter: the message must not quote half of the letter,
     * or the answer carrying it would not be valid UTF-8 (refuse_at checks that).
     */
    REFUSED("\"\\" SALAM "\"", "escape");
    REFUSED("\"\\" PE "\"", "escape");
    REFUSED("\"\\" GRIN "\"", "escape");
    REFUSED("{\"\\" SALAM "\":1}", "escape");
    REFUSED_AT("\"" SALAM "\\" SALAM "\"", "invalid JSON at column 6: ");
}

static void strings_unterminated_refused(void **state)
{
    (void)state;
    REFUSED("\"", "unterminated string");
    REFUSED("\"abc", "unterminated string");
    REFUSED("\"abc\\\"", "unterminated string"); /* the quote is escaped */
    REFUSED("\"abc\\", "unterminated string");
    REFUSED("\"" SALAM, "unterminated string");
    REFUSED("[\"abc", "unterminated string");
    REFUSED("[\"abc]", "unterminated string");
    REFUSED("{\"a", "unterminated string");
    REFUSED("{\"a\":\"b", "unterminated string");
    REFUSED("{\"a\":\"b}", "unterminated string");
}

static void strings_invalid_utf8_refused(void **state)
{
    (void)state;
    /* Overlong '/', a UTF-16 surrogate encoded, a byte that never occurs, a cut sequence. */
    REFUSED_AT("\"\xC0\xAF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"ab\xED\xA0\x80\"", "invalid UTF-8 at column 4: ");
    REFUSED_AT("\"\xFF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"ab\xE2\x82", "invalid UTF-8 at column 4: ");
    REFUSED_AT("\"\xF0\x9F\x98", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xD8", "invalid UTF-8 at column 2: ");
    /* More of the same kinds. */
    REFUSED_AT("\"\xC1\xBF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xE0\x80\xAF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xF0\x80\x80\xAF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xED\xBF\xBF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xF4\x90\x80\x80\"", "invalid UTF-8 at column 2: "); /* past U+10FFFF */
    REFUSED_AT("\"\xFE\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xF8\x88\x80\x80\x80\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\x80\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xBF\"", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\"\xD8\"", "invalid UTF-8 at column 2: ");      /* cut by the quote */
    REFUSED_AT("\"\xE2\x82z\"", "invalid UTF-8 at column 2: "); /* cut by a letter */
    REFUSED_AT("\"caf\xE9\"", "invalid UTF-8 at column 5: ");   /* Latin-1 */
    /* In keys, after other characters, and outside strings. */
    REFUSED_AT("{\"\xFF\":1}", "invalid UTF-8 at column 3: ");
    REFUSED_AT("\"" SALAM "\xFF\"", "invalid UTF-8 at column 6: ");
    REFUSED_AT("[\xFF]", "invalid UTF-8 at column 2: ");
    REFUSED_AT("\xC0\xAF", "invalid UTF-8 at column 1: ");
    REFUSED_AT("[1,\xE2\x82", "invalid UTF-8 at column 4: ");
    REFUSED_AT("{\"a\":1}\xFF", "invalid UTF-8 at column 8: ");
    /* A valid non-ASCII character where JSON wants a token is a JSON error, named. */
    REFUSED_AT("[" SALAM "]", "invalid JSON at column 2: ");
    REFUSED("[" SALAM "]", "U+0633");
}

static void columns_count_characters(void **state)
{
    (void)state;
    /* { " a " : " س ل ا م " , x: x is the 13th character and the 17th byte. */
    REFUSED_AT("{\"a\":\"" SALAM "\",x", "invalid JSON at column 13: ");
    REFUSED_AT("{\"a\":\"" SALAM "\",}", "invalid JSON at column 13: ");
    REFUSED_AT("{\"a\":\"" SALAM "\",\"b\":01}", "invalid JSON at column 17 in \"b\": ");
    /* An emoji is one character of four bytes, a Persian letter one of two. */
    REFUSED_AT("[\"" GRIN "\",]", "invalid JSON at column 6: ");
    REFUSED_AT("[\"" THUMB GRIN "\" 1]", "invalid JSON at column 8: ");
    REFUSED_AT("[\"" MARHABA ZWNJ "\", 01]", "invalid JSON at column 12: ");
    REFUSED_AT("{\"" SALAM "\":tru}", "invalid JSON at column 9 in \"" SALAM "\": ");
    /* Column 1 is the first character. */
    REFUSED_AT("x", "invalid JSON at column 1: ");
    REFUSED_AT("", "invalid JSON at column 1: ");
    REFUSED_AT("[1,", "invalid JSON at column 4: ");
    REFUSED_AT("   ]", "invalid JSON at column 4: ");
}

/* An error inside a member's value names the innermost member, so that the sender of a
 * long line knows which field to fix; an error between members names none. */
static void messages_name_the_member(void **state)
{
    (void)state;
    REFUSED_AT("{\"source\":\"x\",\"score\":18446744073709551616}",
               "invalid JSON at column 23 in \"score\": integer out of range");
    REFUSED_AT("{\"attributes\":{\"codes\":[1,\"\xff\"]}}",
               "invalid UTF-8 at column 28 in \"codes\": ");
    REFUSED_AT("{\"attributes\":{\"a\" 1}}", "invalid JSON at column 20 in \"attributes\": ");
    REFUSED_AT("{\"subject\":\"a\\qb\"}",
               "invalid JSON at column 14 in \"subject\": invalid escape");
    REFUSED_AT("{\"a\":1 \"b\":2}", "invalid JSON at column 8: ");
    REFUSED_AT("{\"a\":{\"b\":1},\"a\":2}", "invalid JSON at column 19: duplicate key \"a\"");
}

/* ---- Numbers ---- */

static void numbers_grammar_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"01", "must not start with 0"},
        {"00", "must not start with 0"},
        {"-01", "must not start with 0"},
        {"01.5", "must not start with 0"},
        {"[01]", "must not start with 0"},
        {"-", "digit"},
        {"--1", "digit"},
        {"-a", "digit"},
        {"- 1", "digit"},
        {"-.5", "digit"},
        {"1.", "digit after the decimal point"},
        {"1.e5", "digit after the decimal point"},
        {"[1.]", "digit after the decimal point"},
        {".5", "expected a value"},
        {"+1", "expected a value"},
        {"1e", "digit in the exponent"},
        {"1e+", "digit in the exponent"},
        {"1e-", "digit in the exponent"},
        {"1E", "digit in the exponent"},
        {"1.5e+x", "digit in the exponent"},
        {"1e5.0", "end of the line"},
        {"1.5.2", "end of the line"},
        {"0x10", "end of the line"},
        {"1_000", "end of the line"},
        {"Infinity", "expected a value"},
        {"-Infinity", "digit"},
        {"NaN", "expected a value"},
        {"\xD9\xA1", "expected a value"}, /* U+0661, an Arabic-Indic one */
        {FA_ONE, "expected a value"},     /* a Persian one */
        {"-" FA_ONE, "digit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused_with_at(cases[i].text, strlen(cases[i].text), cases[i].needle, __LINE__);
    }
    REFUSED_AT("[1, 01]", "invalid JSON at column 5: ");
    REFUSED_AT("-", "invalid JSON at column 2: ");
    REFUSED_AT("1.", "invalid JSON at column 3: ");
    REFUSED_AT("1e+", "invalid JSON at column 4: ");
}

static void numbers_integer_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long value;
    } ok[] = {
        {"0", 0},
        {"-0", 0},
        {"7", 7},
        {"-7", -7},
        {"4294967296", 4294967296LL},
        {"9223372036854775806", 9223372036854775806LL},
        {"9223372036854775807", 9223372036854775807LL},
        {"-9223372036854775807", -9223372036854775807LL},
        {"-9223372036854775808", -9223372036854775807LL - 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct jsondoc *doc = PARSE_OK(ok[i].text);
        const struct jsondoc_value *v = jsondoc_root(doc);
        if (v->type != JSONDOC_INTEGER || v->integer != ok[i].value) {
            fail_msg("%s: type %d value %lld", ok[i].text, (int)v->type, v->integer);
        }
        assert_string_equal(v->text, ok[i].text);
        jsondoc_free(doc);
    }
    static const char *const out_of_range[] = {
        "9223372036854775808",     "-9223372036854775809", "9223372036854775810",
        "10000000000000000000",    "18446744073709551615", "18446744073709551616",
        "-18446744073709551616",   "92233720368547758070", "99999999999999999999999999999",
        "[1,9223372036854775808]",
    };
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++) {
        refused_with_at(out_of_range[i], strlen(out_of_range[i]), "integer", __LINE__);
    }
    REFUSED_AT("[1,9223372036854775808]", "invalid JSON at column 4: ");
    /* Inside an object, next to the largest accepted. */
    struct jsondoc *doc = PARSE_OK("{\"max\":9223372036854775807,\"min\":-9223372036854775808}");
    assert_int_equal(jsondoc_get(doc, jsondoc_root(doc), "max")->integer, 9223372036854775807LL);
    assert_true(jsondoc_get(doc, jsondoc_root(doc), "min")->integer == -9223372036854775807LL - 1);
    jsondoc_free(doc);
}

static void numbers_reals(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double value;
    } ok[] = {
        {"1.5", 1.5},
        {"1e5", 1e5},
        {"1E5", 1e5},
        {"1e+5", 1e5},
        {"25e-1", 2.5},
        {"-0.0", -0.0},
        {"0.0", 0.0},
        {"1e0", 1.0},
        {"1e-400", 0.0},
        {"-1e-400", -0.0},
        {"4.9e-324", 4.9e-324},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"-1.7976931348623157e308", -1.7976931348623157e308},
        /* A real may have more digits than an integer may: it is a double, not 64 bits. */
        {"9223372036854775808.0", 9223372036854775808.0},
        {"12345678901234567890123e-3", 12345678901234567890.123},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct jsondoc *doc = PARSE_OK(ok[i].text);
        const struct jsondoc_value *v = jsondoc_root(doc);
        if (v->type != JSONDOC_REAL) {
            fail_msg("%s: type %d, not a real", ok[i].text, (int)v->type);
        }
        assert_string_equal(v->text, ok[i].text);
        double d = strtod(v->text, NULL);
        assert_true(d == ok[i].value);
        assert_int_equal(signbit(d) != 0, signbit(ok[i].value) != 0);
        jsondoc_free(doc);
    }
    REFUSED("1e400", "out of range");
    REFUSED("-1e400", "out of range");
    REFUSED("1.8e308", "out of range");
    REFUSED("-1.8e308", "out of range");
    REFUSED("[0.5,1e99999]", "out of range");
    REFUSED_AT("[0.5,1e400]", "invalid JSON at column 6: ");
}

static void numbers_keep_their_text(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK("[1E5,0.10,-0,1e+05,2.50,100,-0.0,1E-7]");
    static const struct {
        const char *text;
        enum jsondoc_type type;
    } want[] = {
        {"1E5", JSONDOC_REAL},   {"0.10", JSONDOC_REAL}, {"-0", JSONDOC_INTEGER},
        {"1e+05", JSONDOC_REAL}, {"2.50", JSONDOC_REAL}, {"100", JSONDOC_INTEGER},
        {"-0.0", JSONDOC_REAL},  {"1E-7", JSONDOC_REAL},
    };
    size_t n = 0;
    const struct jsondoc_value *root = jsondoc_root(doc);
    for (const struct jsondoc_value *c = jsondoc_child(doc, root); c; c = jsondoc_next(doc, c)) {
        assert_true(n < sizeof(want) / sizeof(want[0]));
        assert_string_equal(c->text, want[n].text);
        assert_int_equal(c->len, strlen(want[n].text));
        assert_int_equal(c->type, want[n].type);
        n++;
    }
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    char *out = jsondoc_dump(doc, root, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "[1E5,0.10,-0,1e+05,2.50,100,-0.0,1E-7]");
    free(out);
    jsondoc_free(doc);

    /* -0 is the integer 0, kept as "-0". */
    doc = PARSE_OK("-0");
    assert_int_equal(jsondoc_root(doc)->integer, 0);
    assert_string_equal(jsondoc_root(doc)->text, "-0");
    jsondoc_free(doc);
}

/* ---- Objects ---- */

static void objects_duplicate_keys_small(void **state)
{
    (void)state;
    REFUSED("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    REFUSED("{\"a\":1,\"a\":1}", "duplicate key \"a\"");
    REFUSED("{\"a\":1,\"b\":2,\"c\":3,\"b\":4}", "duplicate key \"b\"");
    REFUSED("{\"\":1,\"\":2}", "duplicate key \"\"");
    REFUSED("{\"source\":\"x\",\"source\":\"y\"}", "duplicate key \"source\"");
    REFUSED("{\"" SALAM "\":1,\"x\":2,\"" SALAM "\":3}", "duplicate key \"" SALAM "\"");
    /* In a nested object, and a duplicate across two objects is no duplicate. */
    REFUSED("{\"o\":{\"k\":1,\"k\":2}}", "duplicate key \"k\"");
    REFUSED("[{\"k\":1},{\"k\":1,\"k\":1}]", "duplicate key \"k\"");
    struct jsondoc *doc = PARSE_OK("{\"k\":{\"k\":{\"k\":1}},\"j\":[{\"k\":1},{\"k\":2}]}");
    jsondoc_free(doc);
    /* 16 and 17 members: both sides of where the check changes method. */
    for (size_t n = 15; n <= 18; n++) {
        char *text = object_of(n, "dup", "dup");
        REFUSED(text, "duplicate key \"dup\"");
        free(text);
        text = object_of(n, "dup", "dux");
        doc = PARSE_OK(text);
        assert_int_equal(jsondoc_root(doc)->count, n);
        jsondoc_free(doc);
        free(text);
    }
}

static void objects_duplicate_keys_large(void **state)
{
    (void)state;
    /* 100 members, the 1st and 100th named alike. */
    char *text = object_of(100, "dup", "dup");
    REFUSED(text, "duplicate key \"dup\"");
    free(text);
    /* Keys that sort first and last, and one equal to a generated key. */
    text = object_of(100, "", "");
    REFUSED(text, "duplicate key \"\"");
    free(text);
    text = object_of(100, "zzzzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzzzzzz");
    REFUSED(text, "duplicate key \"zzzzzzzzzzzzzzzzzzzz\"");
    free(text);
    text = object_of(100, "k050", NULL);
    REFUSED(text, "duplicate key \"k050\"");
    free(text);
    text = object_of(100, NULL, "k002");
    REFUSED(text, "duplicate key \"k002\"");
    free(text);
    text = object_of(100, SALAM, SALAM);
    REFUSED(text, "duplicate key \"" SALAM "\"");
    free(text);
    /* Decoded before they are compared: \u0061 is "a". */
    text = object_of(100, "a", "\\u0061");
    REFUSED(text, "duplicate key \"a\"");
    free(text);
    text = object_of(100, "\\u0633\\u0644\\u0627\\u0645", SALAM);
    REFUSED(text, "duplicate key \"" SALAM "\"");
    free(text);

    /* Without the duplicate: accepted, every member there. */
    text = object_of(100, "dup", "dux");
    struct jsondoc *doc = PARSE_OK(text);
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->count, 100);
    assert_int_equal(jsondoc_get(doc, root, "dup")->integer, 1);
    assert_int_equal(jsondoc_get(doc, root, "dux")->integer, 100);
    assert_int_equal(jsondoc_get(doc, root, "k050")->integer, 50);
    assert_null(jsondoc_get(doc, root, "k100"));
    jsondoc_free(doc);
    free(text);
}

static void objects_duplicate_key_message_long(void **state)
{
    (void)state;
    /* A 300-letter Persian key: quoted cut short, never in the middle of a letter. */
    char *key = testmain_repeat(SALAM, 75);
    for (size_t n = 2; n <= 100; n += 98) {
        char *text = object_of(n, key, key);
        char msg[MSG_MAX];
        refuse_at(text, strlen(text), msg, sizeof(msg), __LINE__);
        assert_non_null(strstr(msg, "duplicate key \"" SALAM));
        assert_non_null(strstr(msg, "...\""));
        free(text);
    }
    free(key);
}

static void objects_distinct_keys_accepted(void **state)
{
    (void)state;
    /* Keys sharing a prefix, or differing only in their last byte or length. */
    struct jsondoc *doc =
        PARSE_OK("{\"abc\":1,\"abd\":2,\"ab\":3,\"abcd\":4,\"abc \":5,\"Abc\":6,\"\":7}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->count, 7);
    assert_int_equal(jsondoc_get(doc, root, "abc")->integer, 1);
    assert_int_equal(jsondoc_get(doc, root, "abd")->integer, 2);
    assert_int_equal(jsondoc_get(doc, root, "ab")->integer, 3);
    assert_int_equal(jsondoc_get(doc, root, "abcd")->integer, 4);
    assert_int_equal(jsondoc_get(doc, root, "abc ")->integer, 5);
    assert_int_equal(jsondoc_get(doc, root, "Abc")->integer, 6);
    assert_int_equal(jsondoc_get(doc, root, "")->integer, 7);
    jsondoc_free(doc);
    /* Persian words one letter apart; a ZWNJ makes a different key. */
    doc = PARSE_OK("{\"" SALAM "\":1,\"" SALAM YEH "\":2,\"" SALAM ZWNJ YEH "\":3}");
    assert_int_equal(jsondoc_root(doc)->count, 3);
    jsondoc_free(doc);

    /* 100 members "prefix-long-common-part-NNN", unique only in their last digits. */
    char *text = malloc(100 * 48 + 3);
    assert_non_null(text);
    size_t o = 0;
    text[o++] = '{';
    for (int i = 0; i < 100; i++) {
        o += (size_t)sprintf(text + o, "%s\"prefix-long-common-part-%03d\":%d", i ? "," : "", i, i);
    }
    text[o++] = '}';
    text[o] = '\0';
    doc = PARSE_OK(text);
    root = jsondoc_root(doc);
    assert_int_equal(root->count, 100);
    assert_int_equal(jsondoc_get(doc, root, "prefix-long-common-part-099")->integer, 99);
    assert_int_equal(jsondoc_get(doc, root, "prefix-long-common-part-000")->integer, 0);
    jsondoc_free(doc);
    free(text);
}

static void objects_escaped_keys_compare_decoded(void **state)
{
    (void)state;
    REFUSED("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"");
    REFUSED("{\"\\u0061\":1,\"a\":2}", "duplicate key \"a\"");
    REFUSED("{\"a/b\":1,\"a\\/b\":2}", "duplicate key \"a/b\"");
    REFUSED("{\"\\u00e9\":1,\"\xC3\xA9\":2}", "duplicate key \"\xC3\xA9\"");
    REFUSED("{\"\\uD83D\\uDE00\":1,\"" GRIN "\":2}", "duplicate key \"" GRIN "\"");
    REFUSED("{\"\\u0633\":1,\"\xD8\xB3\":2}", "duplicate key \"\xD8\xB3\"");
    /* The control character is quoted as '?', so that the message stays printable. */
    REFUSED("{\"a\\nb\":1,\"a\\u000ab\":2}", "duplicate key \"a?b\"");
    /* Escapes that decode to different keys are distinct. */
    struct jsondoc *doc = PARSE_OK("{\"\\u0061\":1,\"\\u0062\":2,\"a\\\\u0061\":3}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(jsondoc_get(doc, root, "a")->integer, 1);
    assert_int_equal(jsondoc_get(doc, root, "b")->integer, 2);
    assert_int_equal(jsondoc_get(doc, root, "a\\u0061")->integer, 3);
    jsondoc_free(doc);
}

/* ---- Depth ---- */

static void depth_arrays(void **state)
{
    (void)state;
    char *text = nested_arrays(JSONDOC_MAX_DEPTH);
    struct jsondoc *doc = PARSE_OK(text);
    const struct jsondoc_value *v = jsondoc_root(doc);
    for (int i = 1; i < JSONDOC_MAX_DEPTH; i++) {
        assert_int_equal(v->type, JSONDOC_ARRAY);
        assert_int_equal(v->count, 1);
        v = jsondoc_child(doc, v);
        assert_non_null(v);
    }
    assert_int_equal(v->type, JSONDOC_ARRAY);
    assert_int_equal(v->count, 0);
    ROUND_TRIP(doc, jsondoc_root(doc));
    jsondoc_free(doc);
    free(text);

    text = nested_arrays(JSONDOC_MAX_DEPTH + 1);
    REFUSED(text, "depth");
    free(text);
    /* Far deeper: refused the same, without exhausting the stack. */
    text = nested_arrays(100000);
    REFUSED(text, "depth");
    free(text);

    /* The limit counts every level, whatever holds it. */
    char *inner = nested_arrays(JSONDOC_MAX_DEPTH - 1);
    size_t il = strlen(inner);
    text = malloc(il + 8);
    assert_non_null(text);
    snprintf(text, il + 8, "{\"a\":%s}", inner);
    doc = PARSE_OK(text);
    jsondoc_free(doc);
    free(text);
    free(inner);
    inner = nested_arrays(JSONDOC_MAX_DEPTH);
    il = strlen(inner);
    text = malloc(il + 8);
    assert_non_null(text);
    snprintf(text, il + 8, "{\"a\":%s}", inner);
    REFUSED(text, "depth");
    free(text);
    free(inner);

    /* Siblings do not add up: many arrays side by side at the limit. */
    inner = nested_arrays(JSONDOC_MAX_DEPTH - 1);
    il = strlen(inner);
    text = malloc(3 * (il + 1) + 2);
    assert_non_null(text);
    snprintf(text, 3 * (il + 1) + 2, "[%s,%s,%s]", inner, inner, inner);
    doc = PARSE_OK(text);
    assert_int_equal(jsondoc_root(doc)->count, 3);
    jsondoc_free(doc);
    free(text);
    free(inner);
}

static void depth_objects(void **state)
{
    (void)state;
    char *text = nested_objects(JSONDOC_MAX_DEPTH);
    struct jsondoc *doc = PARSE_OK(text);
    const struct jsondoc_value *v = jsondoc_root(doc);
    for (int i = 1; i < JSONDOC_MAX_DEPTH; i++) {
        assert_int_equal(v->type, JSONDOC_OBJECT);
        v = jsondoc_get(doc, v, "a");
        assert_non_null(v);
    }
    assert_int_equal(v->type, JSONDOC_OBJECT);
    assert_int_equal(v->count, 0);
    ROUND_TRIP(doc, jsondoc_root(doc));
    jsondoc_free(doc);
    free(text);

    text = nested_objects(JSONDOC_MAX_DEPTH + 1);
    REFUSED(text, "depth");
    free(text);
    text = nested_objects(50000);
    REFUSED(text, "depth");
    free(text);
}

/* ---- Whitespace, trailing garbage, empty input, literals, structure ---- */

static void whitespace_around_tokens(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK(
        " \t\r\n{ \t\"a\" \r: \n[ 1 ,\t2.5 , \"x\" ] , \"b\"\n:\ttrue , \"c\" : { } }\r\n ");
    const struct jsondoc_value *root = jsondoc_root(doc);
    assert_int_equal(root->count, 3);
    const struct jsondoc_value *a = jsondoc_get(doc, root, "a");
    assert_int_equal(a->count, 3);
    assert_string_equal(jsondoc_child(doc, a)->text, "1");
    assert_string_equal(jsondoc_next(doc, jsondoc_child(doc, a))->text, "2.5");
    assert_int_equal(jsondoc_get(doc, root, "b")->type, JSONDOC_TRUE);
    assert_int_equal(jsondoc_get(doc, root, "c")->count, 0);
    jsondoc_free(doc);
    doc = PARSE_OK("  42  ");
    assert_int_equal(jsondoc_root(doc)->integer, 42);
    assert_string_equal(jsondoc_root(doc)->text, "42");
    jsondoc_free(doc);
    doc = PARSE_OK("[ ]");
    assert_int_equal(jsondoc_root(doc)->count, 0);
    jsondoc_free(doc);
    doc = PARSE_OK("{\n}");
    assert_int_equal(jsondoc_root(doc)->count, 0);
    jsondoc_free(doc);
    /* Spaces inside a string are the string's (a raw tab is a control character there). */
    STRING_IS("\"  a  b \"", "  a  b ");

    /* Only the four JSON whitespace characters. */
    REFUSED("\f1", "control character 0xC");
    REFUSED("\v1", "control character 0xB");
    REFUSED("[1,\f2]", "control character 0xC");
    REFUSED("1\v", "control character 0xB");
    REFUSED("\xC2\xA0"
            "1",
            "U+00A0"); /* no-break space */
    REFUSED("[1,\xE2\x80\x8B"
            "2]",
            "U+200B");                   /* zero width space */
    REFUSED("\xEF\xBB\xBF{}", "U+FEFF"); /* a byte order mark */
    REFUSED("{\"a\"" ZWNJ ":1}", "U+200C");
}

static void trailing_garbage_refused(void **state)
{
    (void)state;
    REFUSED("{} {}", "the end of the line");
    REFUSED_AT("{} {}", "invalid JSON at column 4: ");
    REFUSED("1 2", "the end of the line");
    REFUSED_AT("1 2", "invalid JSON at column 3: ");
    REFUSED("[1]]", "the end of the line");
    REFUSED("{}}", "the end of the line");
    REFUSED("\"a\" \"b\"", "the end of the line");
    REFUSED("null null", "the end of the line");
    REFUSED("{}x", "found 'x'");
    REFUSED("{},", "the end of the line");
    REFUSED("[]\n[]", "the end of the line");
    REFUSED("{}" SALAM, "U+0633");
    static const char nul_after[] = "[1]\0";
    REFUSED_LEN(nul_after, sizeof(nul_after) - 1, "control character 0x0");
    static const char nul_number[] = "1\0";
    REFUSED_LEN(nul_number, sizeof(nul_number) - 1, "control character 0x0");
    static const char nul_inside[] = "[1\0]";
    REFUSED_LEN(nul_inside, sizeof(nul_inside) - 1, "control character 0x0");
}

static void empty_input_refused(void **state)
{
    (void)state;
    REFUSED("", "the end of the line");
    REFUSED(" ", "the end of the line");
    REFUSED("   \t  ", "the end of the line");
    REFUSED("\r\n", "the end of the line");
    REFUSED_LEN("{}", 0, "the end of the line");
    REFUSED_AT("   ", "invalid JSON at column 4: ");
}

static void literal_typos_refused(void **state)
{
    (void)state;
    static const char *const typos[] = {
        "tru",  "nul",       "fals",  "falsey",      "truee",        "nulll",    "t",
        "n",    "f",         "True",  "NULL",        "FALSE",        "ture",     "nil",
        "none", "undefined", "[tru]", "{\"a\":nul}", "[true false]", "truenull",
    };
    for (size_t i = 0; i < sizeof(typos) / sizeof(typos[0]); i++) {
        char msg[MSG_MAX];
        refuse_at(typos[i], strlen(typos[i]), msg, sizeof(msg), __LINE__);
    }
    REFUSED("tru", "expected a value");
    REFUSED_AT("tru", "invalid JSON at column 1: ");
    REFUSED("falsey", "found 'y'");
    REFUSED_AT("falsey", "invalid JSON at column 6: ");
    REFUSED_AT("[1,nul]", "invalid JSON at column 4: ");
    REFUSED_LEN("null", 3, "expected a value");
}

static void structure_errors_refused(void **state)
{
    (void)state;
    REFUSED("[1,]", "expected a value");
    REFUSED("[,1]", "expected a value");
    REFUSED("[1,,2]", "expected a value");
    REFUSED("[1 2]", "expected ',' or ']'");
    REFUSED("[1:2]", "expected ',' or ']'");
    REFUSED("[1}", "expected ',' or ']'");
    REFUSED("[", "expected a value");
    REFUSED("[1", "expected ',' or ']'");
    REFUSED("]", "expected a value");
    REFUSED("{\"a\":1,}", "member name in double quotes");
    REFUSED("{,}", "member name in double quotes");
    REFUSED("{a:1}", "member name in double quotes");
    REFUSED("{'a':1}", "member name in double quotes");
    REFUSED("{1:2}", "member name in double quotes");
    REFUSED("{\"a\"}", "expected ':'");
    REFUSED("{\"a\" 1}", "expected ':'");
    REFUSED("{\"a\",1}", "expected ':'");
    REFUSED("{\"a\"=1}", "expected ':'");
    REFUSED("{\"a\":}", "expected a value");
    REFUSED("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    REFUSED("{\"a\":1]", "expected ',' or '}'");
    REFUSED("{", "member name in double quotes");
    REFUSED("{\"a\":1", "expected ',' or '}'");
    REFUSED("}", "expected a value");
    REFUSED("{\"a\"::1}", "expected a value");
}

/* ---- jsondoc_dump ---- */

static void dump_compact(void **state)
{
    (void)state;
    DUMP_IS("{ \"a\" : [1, 2.50, \"x\\ny\"] }", "{\"a\":[1,2.50,\"x\\ny\"]}");
    DUMP_IS(" [ ] ", "[]");
    DUMP_IS(" { } ", "{}");
    DUMP_IS("[ null , true , false ]", "[null,true,false]");
    DUMP_IS("{\"a\" : {\"b\" : [ {} , [] ]} , \"c\" : -1}", "{\"a\":{\"b\":[{},[]]},\"c\":-1}");
    DUMP_IS("\"s\"", "\"s\"");
    DUMP_IS("null", "null");
    DUMP_IS("true", "true");
    DUMP_IS("false", "false");
    DUMP_IS(" -0 ", "-0");
    DUMP_IS("1E5", "1E5");
    /* Two-character escapes where JSON has them; '/' needs none. */
    DUMP_IS("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
    DUMP_IS("\"a/b\"", "\"a/b\"");
    /* Other control characters as \u00XX, upper case; DEL is not one. */
    DUMP_IS("\"\\u0001\\u001f\\u001F\\u000b\\u0010\\u007f\"",
            "\"\\u0001\\u001F\\u001F\\u000B\\u0010\x7F\"");
    DUMP_IS("\"\\u000A\\u0008\\u000c\\u000D\\u0009\\u0022\\u005C\"", "\"\\n\\b\\f\\r\\t\\\"\\\\\"");
    /* Keys are escaped like values. */
    DUMP_IS("{\"a\\\"b\\n\\u0002\":1}", "{\"a\\\"b\\n\\u0002\":1}");
    /* Members in the order sent. */
    DUMP_IS("{\"z\":1,\"a\":2,\"m\":3}", "{\"z\":1,\"a\":2,\"m\":3}");
}

static void dump_utf8_raw(void **state)
{
    (void)state;
    DUMP_IS("\"" SALAM "\"", "\"" SALAM "\"");
    DUMP_IS("{\"" SALAM "\":\"" MARHABA " " GRIN THUMB "\"}",
            "{\"" SALAM "\":\"" MARHABA " " GRIN THUMB "\"}");
    DUMP_IS("[\"" PE GAF YEH ZWNJ FA_ONE "\"]", "[\"" PE GAF YEH ZWNJ FA_ONE "\"]");
    /* Escaped non-ASCII characters come out as their UTF-8 bytes. */
    DUMP_IS("\"\\u0633\\u0644\\u0627\\u0645\"", "\"" SALAM "\"");
    DUMP_IS("\"\\uD83D\\uDE00\"", "\"" GRIN "\"");
    DUMP_IS("\"\\u00e9\\u200C\"", "\"\xC3\xA9" ZWNJ "\"");
}

static void dump_nested_value(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK("{\"a\":{\"b\":[1,{\"c\":\"" SALAM
                                   "\"}],\"d\":null},\"e\":[\"x\\ty\",2.50],\"f\":-7}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    const struct jsondoc_value *a = jsondoc_get(doc, root, "a");
    size_t len = 0;
    char *out = jsondoc_dump(doc, a, NULL, NULL, &len);
    assert_non_null(out);
    /* The value alone, without the key it has in its parent, nor its siblings. */
    assert_string_equal(out, "{\"b\":[1,{\"c\":\"" SALAM "\"}],\"d\":null}");
    assert_int_equal(len, strlen(out));
    free(out);
    const struct jsondoc_value *b = jsondoc_get(doc, a, "b");
    DUMP_OF_IS(doc, b, NULL, NULL, "[1,{\"c\":\"" SALAM "\"}]");
    DUMP_OF_IS(doc, jsondoc_next(doc, jsondoc_child(doc, b)), NULL, NULL, "{\"c\":\"" SALAM "\"}");
    const struct jsondoc_value *e = jsondoc_get(doc, root, "e");
    out = jsondoc_dump(doc, jsondoc_child(doc, e), NULL, NULL, &len);
    assert_non_null(out);
    assert_string_equal(out, "\"x\\ty\"");
    assert_int_equal(len, 6);
    free(out);
    out = jsondoc_dump(doc, jsondoc_next(doc, jsondoc_child(doc, e)), NULL, NULL, &len);
    assert_non_null(out);
    assert_string_equal(out, "2.50");
    assert_int_equal(len, 4);
    free(out);
    out = jsondoc_dump(doc, jsondoc_get(doc, root, "f"), NULL, NULL, &len);
    assert_non_null(out);
    assert_string_equal(out, "-7");
    free(out);
    DUMP_OF_IS(doc, jsondoc_get(doc, a, "d"), NULL, NULL, "null");
    ROUND_TRIP(doc, a);
    ROUND_TRIP(doc, b);
    ROUND_TRIP(doc, e);
    jsondoc_free(doc);
}

static void dump_len(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK("{\"k\":\"" SALAM "\\n\\u0001\",\"n\":[1,2]}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    size_t len = 12345;
    char *out = jsondoc_dump(doc, root, NULL, NULL, &len);
    assert_non_null(out);
    static const char want[] = "{\"k\":\"" SALAM "\\n\\u0001\",\"n\":[1,2]}";
    assert_string_equal(out, want);
    /* Bytes, not characters, and without the terminating NUL. */
    assert_int_equal(len, sizeof(want) - 1);
    free(out);
    /* len is optional. */
    DUMP_OF_IS(doc, root, NULL, NULL, want);
    /* With set_key, len counts the member written. */
    out = jsondoc_dump(doc, root, "id", "x", &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    assert_int_equal(len, sizeof(want) - 1 + strlen("\"id\":\"x\","));
    free(out);
    jsondoc_free(doc);
}

static void dump_set_key_replaces(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK("{\"a\":1,\"src\":\"old\",\"b\":[2]}");
    const struct jsondoc_value *root = jsondoc_root(doc);
    size_t len = 0;
    char *out = jsondoc_dump(doc, root, "src", "new", &len);
    assert_non_null(out);
    /* Written first, and the original member dropped. */
    assert_string_equal(out, "{\"src\":\"new\",\"a\":1,\"b\":[2]}");
    assert_int_equal(len, strlen(out));
    free(out);
    /* Whatever the member held is replaced by the string, an object included. */
    jsondoc_free(doc);
    doc = PARSE_OK("{\"src\":{\"x\":[1,2]},\"a\":1}");
    DUMP_OF_IS(doc, jsondoc_root(doc), "src", "y", "{\"src\":\"y\",\"a\":1}");
    jsondoc_free(doc);
    /* The only member, and the last one. */
    doc = PARSE_OK("{\"src\":1}");
    DUMP_OF_IS(doc, jsondoc_root(doc), "src", "y", "{\"src\":\"y\"}");
    jsondoc_free(doc);
    doc = PARSE_OK("{\"a\":1,\"b\":2,\"src\":3}");
    DUMP_OF_IS(doc, jsondoc_root(doc), "src", "y", "{\"src\":\"y\",\"a\":1,\"b\":2}");
    jsondoc_free(doc);
    /* A member sent escaped is the same member. */
    doc = PARSE_OK("{\"\\u0073rc\":1,\"" SALAM "\":2}");
    DUMP_OF_IS(doc, jsondoc_root(doc), "src", "y", "{\"src\":\"y\",\"" SALAM "\":2}");
    DUMP_OF_IS(doc, jsondoc_root(doc), SALAM, MARHABA, "{\"" SALAM "\":\"" MARHABA "\",\"src\":1}");
    /* A key that only starts like a member's is another key. */
    DUMP_OF_IS(doc, jsondoc_root(doc), "sr", "y", "{\"sr\":\"y\",\"src\":1,\"" SALAM "\":2}");
    jsondoc_free(doc);
    /* The document itself is not changed by a dump. */
    doc = PARSE_OK("{\"src\":\"old\"}");
    out = jsondoc_dump(doc, jsondoc_root(doc), "src", "new", NULL);
    free(out);
    assert_string_equal(jsondoc_get(doc, jsondoc_root(doc), "src")->text, "old");
    DUMP_OF_IS(doc, jsondoc_root(doc), NULL, NULL, "{\"src\":\"old\"}");
    jsondoc_free(doc);
}

static void dump_set_key_adds(void **state)
{
    (void)state;
    struct jsondoc *doc = PARSE_OK("{\"a\":1,\"b\":{\"src\":2}}");
    size_t len = 0;
    char *out = jsondoc_dump(doc, jsondoc_root(doc), "src", "new", &len);
    assert_non_null(out);
    /* Added first; a member of the same name in a nested object is not touched. */
    assert_string_equal(out, "{\"src\":\"new\",\"a\":1,\"b\":{\"src\":2}}");
    assert_int_equal(len, strlen(out));
    free(out);
    jsondoc_free(doc);
    doc = PARSE_OK("{}");
    out = jsondoc_dump(doc, jsondoc_root(doc), "src", "new", &len);
    assert_non_null(out);
    assert_string_equal(out, "{\"src\":\"new\"}");
    assert_int_equal(len, 13);
    free(out);
    /* Key and value are escaped like any string. */
    DUMP_OF_IS(doc, jsondoc_root(doc), "k\"\n", "v\\\t\x01" SALAM,
               "{\"k\\\"\\n\":\"v\\\\\\t\\u0001" SALAM "\"}");
    DUMP_OF_IS(doc, jsondoc_root(doc), "", "", "{\"\":\"\"}");
    jsondoc_free(doc);
    /* On a nested object, applied to that object. */
    doc = PARSE_OK("{\"o\":{\"a\":1}}");
    const struct jsondoc_value *o = jsondoc_get(doc, jsondoc_root(doc), "o");
    DUMP_OF_IS(doc, o, "a", "x", "{\"a\":\"x\"}");
    jsondoc_free(doc);
}

static void dump_set_key_ignored_on_non_object(void **state)
{
    (void)state;
    static const char *const texts[] = {"[1,{\"src\":2}]", "[]", "\"src\"", "12", "null", "true"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct jsondoc *doc = PARSE_OK(texts[i]);
        size_t len = 0;
        char *out = jsondoc_dump(doc, jsondoc_root(doc), "src", "new", &len);
        assert_non_null(out);
        assert_string_equal(out, texts[i]);
        assert_int_equal(len, strlen(texts[i]));
        free(out);
        jsondoc_free(doc);
    }
    struct jsondoc *doc = PARSE_OK("{\"a\":[{\"src\":1}]}");
    const struct jsondoc_value *a = jsondoc_get(doc, jsondoc_root(doc), "a");
    char *out = jsondoc_dump(doc, a, "src", "new", NULL);
    assert_non_null(out);
    assert_string_equal(out, "[{\"src\":1}]");
    free(out);
    jsondoc_free(doc);
}

static void dump_round_trip(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\",\"p\":\"" SALAM
        " " MARHABA ZWNJ "\",\"e\":\"\\uD83D\\uDE00" THUMB "\",\"n\":[0,-0,1E5,0.10,"
        "-9223372036854775808,9223372036854775807,1e-400,-0.0,2.50],\"l\":[true,false,null],"
        "\"o\":{\"\":{},\"x\":[[]],\"\\u00e9\\n\":{\"deep\":[{\"k\":\"v\"}]}}}",
        "[]",
        "{}",
        "\"\"",
        " [ 1 , [ 2 , [ 3 ] ] , { \"a\" : { \"b\" : null } } ] ",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct jsondoc *doc = PARSE_OK(texts[i]);
        ROUND_TRIP(doc, jsondoc_root(doc));
        jsondoc_free(doc);
    }

    /* With set_key, the dump parses back to the document with that one member changed. */
    struct jsondoc *doc = PARSE_OK(texts[0]);
    const struct jsondoc_value *root = jsondoc_root(doc);
    char *out = jsondoc_dump(doc, root, "p", "\"\n" GRIN, NULL);
    assert_non_null(out);
    struct jsondoc *back = PARSE_OK(out);
    const struct jsondoc_value *broot = jsondoc_root(back);
    assert_int_equal(broot->count, root->count);
    const struct jsondoc_value *p = jsondoc_get(back, broot, "p");
    assert_non_null(p);
    assert_ptr_equal(p, jsondoc_child(back, broot));
    assert_int_equal(p->type, JSONDOC_STRING);
    assert_string_equal(p->text, "\"\n" GRIN);
    for (const struct jsondoc_value *m = jsondoc_child(doc, root); m; m = jsondoc_next(doc, m)) {
        if (strcmp(m->key, "p") == 0) {
            continue;
        }
        const struct jsondoc_value *bm = jsondoc_get(back, broot, m->key);
        assert_non_null(bm);
        assert_true(values_equal(doc, m, back, bm));
    }
    jsondoc_free(back);
    free(out);
    out = jsondoc_dump(doc, root, "added", "1", NULL);
    assert_non_null(out);
    back = PARSE_OK(out);
    assert_int_equal(jsondoc_root(back)->count, root->count + 1);
    assert_string_equal(jsondoc_get(back, jsondoc_root(back), "added")->text, "1");
    assert_int_equal(jsondoc_get(back, jsondoc_root(back), "added")->type, JSONDOC_STRING);
    jsondoc_free(back);
    free(out);
    jsondoc_free(doc);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(value_types_accepted),
        cmocka_unit_test(navigation_child_next_get),
        cmocka_unit_test(many_values),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(document_outlives_its_input),
        cmocka_unit_test(refusal_message_buffer),
        cmocka_unit_test(strings_escapes),
        cmocka_unit_test(strings_utf8_byte_exact),
        cmocka_unit_test(strings_control_characters_refused),
        cmocka_unit_test(strings_nul_escape_refused),
        cmocka_unit_test(strings_surrogates_refused),
        cmocka_unit_test(strings_bad_escapes_refused),
        cmocka_unit_test(strings_unterminated_refused),
        cmocka_unit_test(strings_invalid_utf8_refused),
        cmocka_unit_test(columns_count_characters),
        cmocka_unit_test(messages_name_the_member),
        cmocka_unit_test(numbers_grammar_refused),
        cmocka_unit_test(numbers_integer_bounds),
        cmocka_unit_test(numbers_reals),
        cmocka_unit_test(numbers_keep_their_text),
        cmocka_unit_test(objects_duplicate_keys_small),
        cmocka_unit_test(objects_duplicate_keys_large),
        cmocka_unit_test(objects_duplicate_key_message_long),
        cmocka_unit_test(objects_distinct_keys_accepted),
        cmocka_unit_test(objects_escaped_keys_compare_decoded),
        cmocka_unit_test(depth_arrays),
        cmocka_unit_test(depth_objects),
        cmocka_unit_test(whitespace_around_tokens),
        cmocka_unit_test(trailing_garbage_refused),
        cmocka_unit_test(empty_input_refused),
        cmocka_unit_test(literal_typos_refused),
        cmocka_unit_test(structure_errors_refused),
        cmocka_unit_test(dump_compact),
        cmocka_unit_test(dump_utf8_raw),
        cmocka_unit_test(dump_nested_value),
        cmocka_unit_test(dump_len),
        cmocka_unit_test(dump_set_key_replaces),
        cmocka_unit_test(dump_set_key_adds),
        cmocka_unit_test(dump_set_key_ignored_on_non_object),
        cmocka_unit_test(dump_round_trip),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
