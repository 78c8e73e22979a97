/*
 * The one JSON writer: every JSON text the daemon sends or stores is written through it, so
 * that every string is escaped the same way, control characters included (RFC 8259 §7).
 * lib/jsondoc reads; this writes.
 *
 * A writer appends to one growing buffer and keeps the commas itself: callers say what comes
 * next (a key, a value, the start or end of an object or array). Allocation failures are
 * remembered and reported once, by jsonw_take. Not thread-safe; callable from callbacks.
 */
#ifndef TOUCHLINE_JSONW_H
#define TOUCHLINE_JSONW_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting a writer tracks; deeper writes fail (jsonw_take returns NULL). */
#define JSONW_MAX_DEPTH 32

struct jsonw {
    char *buf;
    size_t len, cap;
    bool failed;
    unsigned depth;
    bool after_key;
    bool has_member[JSONW_MAX_DEPTH + 1]; /* the container at each depth has a member */
    bool is_object[JSONW_MAX_DEPTH + 1];  /* and is an object (else an array) */
};

/* An empty writer; nothing is allocated until the first write. */
void jsonw_init(struct jsonw *w);

/* Frees the buffer (when not taken). Safe on an initialized or taken writer. */
void jsonw_free(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);

/* An object member's name; the member's value is the next write. */
void jsonw_key(struct jsonw *w, const char *key);

/* A string value (NUL-terminated; NULL writes null), escaped. */
void jsonw_string(struct jsonw *w, const char *s);
/* A string value of n bytes (no NUL needed), escaped. */
void jsonw_string_len(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, long long v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A value that is JSON text already (n bytes), written as it is: the caller vouches for it. */
void jsonw_json(struct jsonw *w, const char *json, size_t n);

/* Bytes outside the JSON structure (a line end, a separator of a line format). */
void jsonw_append(struct jsonw *w, const char *s, size_t n);

/*
 * The text written so far (malloc'd, NUL-terminated, length in *len unless len is NULL),
 * which the caller now owns; the writer is empty again. NULL when a write failed (out of
 * memory, nesting too deep or unbalanced), and then nothing is owned.
 */
char *jsonw_take(struct jsonw *w, size_t *len);

/*
 * s (n bytes) as a JSON string with its quotes into out, which must hold what a call with
 * out == NULL returned. Returns the length written (or needed). For writers of their own
 * (jsondoc_dump) that size the output first.
 */
size_t jsonw_escape(char *out, const char *s, size_t n);

#endif
