/*
 * What touchline prints: a customer's timeline, profile, context (the screen-pop) and the
 * account of an erasure, as aligned tables and labelled lines for an agent at a terminal, as
 * one JSON document, or as one JSON object per line for scripts. The functions take the
 * documents the API answered (parsed, borrowed) and a stream, so tests compare the output byte
 * for byte without a network or a terminal. Nothing here reads the clock: ages ("3 h ago") are
 * the server's count of seconds, times follow TZ (or UTC), so the output depends on the input.
 *
 * Tables and labelled lines are lined up by display width (textwidth), so Persian, Arabic, CJK
 * and emoji line up with Latin text. Text is never reordered: right-to-left text goes out in its
 * logical order, and a left-to-right mark follows every cell that holds right-to-left letters, so
 * that a terminal that lays out bidirectional text keeps the columns in their order (a Persian
 * agent name next to an Arabic summary would otherwise swap places). Cells are one line each: line
 * breaks and control characters (escape sequences among them) become single spaces.
 */
#ifndef TOUCHLINE_FORMAT_H
#define TOUCHLINE_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <stdint.h>

#define FORMAT_DEFAULT_WIDTH 120
/* The narrowest terminal tables are laid out for: a time and the summary still fit. */
#define FORMAT_MIN_WIDTH 40
/* A width for a pipe or a file: no value is cut and no column left out. */
#define FORMAT_FULL_WIDTH SIZE_MAX

enum format_kind {
    FORMAT_TABLE,
    FORMAT_JSON,
    FORMAT_NDJSON,
};

struct format_opts {
    enum format_kind kind;
    bool utc;     /* times in UTC with a Z, instead of the local zone (TZ) */
    bool color;   /* ANSI bold titles and dim times; for a terminal without NO_COLOR */
    size_t width; /* columns a table line may take; 0 for FORMAT_DEFAULT_WIDTH; on a narrow
                     one the summary narrows, then the least useful columns go */
};

/* Reads "table", "json" or "ndjson" into *out. Returns 0, or -1 for anything else. */
int format_kind_parse(const char *s, enum format_kind *out) __attribute__((warn_unused_result));

/*
 * Writes an RFC 3339 time ("2026-11-19T06:45:11.000000Z", any offset) to out as
 * "2026-11-19 10:15" in the local zone (TZ, read again on each call), or "2026-11-19 06:45Z"
 * with utc. Returns 0, or -1 when iso is not such a time (then out holds iso, cut to fit).
 */
int format_time(const char *iso, bool utc, char *out, size_t outlen);

/*
 * s as one table cell: runs of line breaks, tabs, spaces and other control characters become
 * one space, leading and trailing ones go, invalid UTF-8 becomes U+FFFD, and explicit
 * direction embeddings, overrides and isolates (U+202A-202E, U+2066-2069) are dropped so that
 * one cell cannot reorder the rest of the line. Returns a new string (the caller frees it), or
 * NULL when out of memory.
 */
char *format_cell(const char *s) __attribute__((warn_unused_result));

/*
 * Writes the timeline of customer (the profile; may be NULL) with items (an array of
 * interactions, newest first) in the form opts asks for: for FORMAT_TABLE a line naming the
 * customer, their id and identities, then the table (or "(no interactions)"); for FORMAT_JSON
 * {"customer":…,"items":[…],"next_cursor":…} indented by 2 with UTF-8 as it is, next_cursor
 * (the server's cursor of the page after items, or NULL for null) passed as the API's
 * before=; for FORMAT_NDJSON the items, one compact object a line. Both documents are
 * borrowed. Returns 0, or -1 when out of memory or writing failed.
 */
int format_timeline(FILE *out, const json_t *customer, const json_t *items, const char *next_cursor,
                    const struct format_opts *opts) __attribute__((warn_unused_result));

/*
 * Writes a customer's profile (the answer of GET /v1/customers/{id}; borrowed) in the form opts
 * asks for: for FORMAT_TABLE labelled lines (name, id, identities, traits, first and last seen,
 * interactions in all and per channel, busiest first, merged-away ids), the values cut to
 * opts->width; for FORMAT_JSON the object indented by 2 with UTF-8 as it is; for FORMAT_NDJSON the
 * object on one line. Returns 0, or -1 when out of memory or writing failed.
 */
int format_customer(FILE *out, const json_t *customer, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/*
 * Writes a customer's context (the answer of GET /v1/customers/{id}/context; borrowed). For
 * FORMAT_TABLE a screen-pop: the line naming the customer and their identities (as
 * format_timeline's), then labelled lines for the last contact ("3 h ago" from the server's
 * seconds_since_last_contact, and its time), contacts and channels in the last 7 days, the
 * latest stage, sentiment and score with their times, then a table of the open threads and the
 * latest interaction on each channel as timeline rows. The JSON forms as format_customer.
 * Returns 0, or -1 when out of memory or writing failed.
 */
int format_context(FILE *out, const json_t *context, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/*
 * Writes what an erasure removed: erasure is the server's answer to DELETE /v1/customers/{id},
 * customer the profile looked up before it (may be NULL), both borrowed. For FORMAT_TABLE
 * labelled lines: who was erased, how many customers, identities and interactions, and the
 * erasure id; the JSON forms write the server's answer as format_customer does. Returns 0, or
 * -1 when out of memory or writing failed.
 */
int format_erasure(FILE *out, const json_t *erasure, const json_t *customer,
                   const struct format_opts *opts) __attribute__((warn_unused_result));

/*
 * Provenance answers (borrowed), for FORMAT_TABLE as lines a person reads, else as JSON like
 * format_customer: the identities of a customer with the record that first brought each, its
 * merges and the pairs kept apart (GET /v1/customers/{id}/identities); how two identifiers came
 * to be one customer (GET /v1/why); what an unmerge did (POST /v1/customers/{id}/unmerge).
 * Return 0, or -1 when out of memory or writing failed.
 */
int format_identities(FILE *out, const json_t *provenance, const struct format_opts *opts)
    __attribute__((warn_unused_result));
int format_why(FILE *out, const json_t *why, const struct format_opts *opts)
    __attribute__((warn_unused_result));
int format_unmerge(FILE *out, const json_t *unmerge, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/* GET /v1/conflicts, or a conflict resolved (touchline conflicts). */
int format_conflicts(FILE *out, const json_t *answer, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/*
 * Writes, without a line break, what erasing customer (a profile; borrowed) would remove:
 * "this would erase customer <name>  <id> for good, with everything recorded about them:
 * 3 identities, 41 interactions, 1 customer merged into them". Returns 0, or -1 when out of
 * memory or writing failed.
 */
int format_erase_notice(FILE *out, const json_t *customer) __attribute__((warn_unused_result));

/* Writes each element of items as one compact JSON line (the items are borrowed), so that a
 * long timeline can go out page by page. Returns 0, or -1 when writing failed. */
int format_ndjson(FILE *out, const json_t *items) __attribute__((warn_unused_result));

/*
 * Writes words (n of them) as one POSIX shell command line: each word as it is when it needs
 * no quoting, else in single quotes, so that it can be pasted back. Returns 0, or -1 when
 * writing failed.
 */
int format_shell_words(FILE *out, const char *const *words, size_t n)
    __attribute__((warn_unused_result));

/*
 * Writes the last line of a timeline table that did not show every interaction: "More
 * interactions: " and the command (words, as format_shell_words) that shows the next ones.
 * Never cut to the width, so that the command can be copied whole. Returns 0, or -1 when
 * writing failed.
 */
int format_more(FILE *out, const char *const *words, size_t n) __attribute__((warn_unused_result));

/*
 * Writes the analytics figures (the answer of GET /v1/stats; borrowed). For FORMAT_TABLE a
 * heading (range, grouping, call-back SLA), a table with a row for all records and one per
 * group (records, open/all missed calls and breaches, median call-back and first-response
 * times, repeat contacts within 24 h and the share on another channel, the sentiment mix, the
 * mean score), then the stage funnel by entry channel. The JSON forms as format_customer.
 * Returns 0, or -1 when out of memory or writing failed.
 */
int format_stats(FILE *out, const json_t *stats, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/*
 * Writes the call-back worklist (the answer of GET /v1/missed; borrowed). For FORMAT_TABLE one
 * row per customer, oldest first: how long they have waited ("!" past the SLA), their first
 * missed call, phone, name, open and all missed calls, and what they did since on each channel.
 * The JSON forms as format_customer. Returns 0, or -1.
 */
int format_missed(FILE *out, const json_t *worklist, const struct format_opts *opts)
    __attribute__((warn_unused_result));

/*
 * Writes a customer's journey (the answer of GET /v1/customers/{id}/journey; borrowed). For
 * FORMAT_TABLE the map: stages as columns, channels as rows (each as many lines as its fullest
 * cell), each touchpoint in time order as "MM-DD HH:MM", its direction (← →), sentiment (+ = -),
 * score and summary; lined up by display width like the other tables. The JSON forms as
 * format_customer. Returns 0, or -1.
 */
int format_journey(FILE *out, const json_t *journey, const struct format_opts *opts)
    __attribute__((warn_unused_result));

#endif
