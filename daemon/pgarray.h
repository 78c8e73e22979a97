/*
 * PostgreSQL array literals ({"a","b\"c",NULL}) built from C strings, so that a batch's
 * column values travel as one text parameter per column and the server reads them with
 * its array parser (unnest), far cheaper than building and parsing JSON for every record.
 * Pure code.
 */
#ifndef TOUCHLINED_PGARRAY_H
#define TOUCHLINED_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>

struct pgarray {
    char *buf;
    size_t len;
    size_t cap;
    size_t n;
    bool failed; /* an allocation failed: pgarray_text() returns NULL */
};

void pgarray_init(struct pgarray *a);

/* Appends an element: the string, quoted and escaped, or NULL as SQL NULL. */
void pgarray_add(struct pgarray *a, const char *s);

/* The literal, valid until the next add or free; NULL after an allocation failure. */
const char *pgarray_text(struct pgarray *a);

void pgarray_free(struct pgarray *a);

#endif
