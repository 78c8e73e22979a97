/*
 * Rendering of what the API answers for people and for scripts: a customer's timeline as an
 * aligned table (by display width, so Persian and Arabic text lines up), as JSON, or as one
 * JSON object per line. Takes parsed documents and a stream, so tests compare the output
 * byte for byte without a network.
 */
#ifndef TOUCHLINE_FORMAT_H
#define TOUCHLINE_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

enum format_kind {
    FORMAT_TABLE,
    FORMAT_JSON,
    FORMAT_NDJSON,
};

struct format_opts {
    enum format_kind kind;
    bool utc;   /* times in UTC instead of the local zone (TZ) */
    bool color; /* ANSI bold and dim; only for a terminal without NO_COLOR */
    int width;  /* total table width in columns */
};

/* "table", "json", "ndjson". Returns 0, or -1. */
int format_parse(const char *s, enum format_kind *out) __attribute__((warn_unused_result));

/*
 * Writes "2026-11-19T06:35:00.000000Z" as "2026-11-19 10:05" in the local zone, or
 * "2026-11-19 06:35Z" with utc. Unparseable input is copied as it is.
 */
void format_time(const char *iso, bool utc, char *out, size_t outlen);

/* Writes a timeline: profile (may be NULL) and the items array, borrowed. */
void format_timeline(FILE *out, const json_t *profile, const json_t *items,
                     const struct format_opts *opts);

#endif
