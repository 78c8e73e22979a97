/*
 * One JSON text, parsed into a read-only document in two allocations: the values in one
 * array, their decoded strings in one arena. Every ingested line goes through it, and a
 * general-purpose tree with an allocation per value and per key cost the daemon more CPU than
 * everything else it does with a record.
 *
 * It accepts what RFC 8259 accepts, strictly: UTF-8 only (no overlong forms, no surrogates),
 * no duplicate keys, no NUL characters (raw or \u0000), integers within 64 bits, reals within
 * a double, at most JSONDOC_MAX_DEPTH nested arrays and objects. A number keeps the text it
 * was sent as, so serializing a value gives its numbers back digit for digit.
 */
#ifndef TOUCHLINE_JSONDOC_H
#define TOUCHLINE_JSONDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONDOC_MAX_DEPTH 2048

enum jsondoc_type {
    JSONDOC_NULL,
    JSONDOC_FALSE,
    JSONDOC_TRUE,
    JSONDOC_INTEGER,
    JSONDOC_REAL,
    JSONDOC_STRING,
    JSONDOC_ARRAY,
    JSONDOC_OBJECT,
};

struct jsondoc_value {
    enum jsondoc_type type;
    uint32_t count; /* array elements, object members */
    uint32_t first; /* index of the first element or member; 0: none */
    uint32_t next;  /* index of the next sibling; 0: none */
    /* Strings: the decoded text; numbers: the text as sent. NUL-terminated, and NUL-free. */
    const char *text;
    size_t len;
    long long integer;
    const char *key; /* an object member's name, decoded; NULL elsewhere */
    size_t key_len;
};

struct jsondoc;

/*
 * Parses len bytes. Returns the document, or NULL with msg filled: "invalid JSON at column
 * N: …" or "invalid UTF-8 at column N: …", N counted in characters from 1.
 */
struct jsondoc *jsondoc_parse(const char *text, size_t len, char *msg, size_t msglen);

void jsondoc_free(struct jsondoc *doc);

/* The top-level value. */
const struct jsondoc_value *jsondoc_root(const struct jsondoc *doc);

/* An array's or object's first child, and a child's next sibling; NULL past the end. */
const struct jsondoc_value *jsondoc_child(const struct jsondoc *doc, const struct jsondoc_value *v);
const struct jsondoc_value *jsondoc_next(const struct jsondoc *doc, const struct jsondoc_value *v);

/* An object's member named key, or NULL (also when obj is not an object). */
const struct jsondoc_value *jsondoc_get(const struct jsondoc *doc, const struct jsondoc_value *obj,
                                        const char *key);

/* Iterates the children of v: for (c = jsondoc_child(d, v); c; c = jsondoc_next(d, c)). */

/*
 * v as compact JSON text (malloc'd, NUL-terminated, length in *len unless len is NULL), or
 * NULL when out of memory. When v is an object and set_key is not NULL, the member set_key
 * is written first with the string set_value instead of whatever it held, and added when
 * v had none.
 */
char *jsondoc_dump(const struct jsondoc *doc, const struct jsondoc_value *v, const char *set_key,
                   const char *set_value, size_t *len);

#endif
