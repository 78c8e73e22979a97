/*
 * The record `touchline log` sends (CONTRACT section 1), built from its options one at a time:
 * an option's name says which field it sets ("summary" is the body, "name" the customer's
 * display name, "phone" an identifier that may be repeated), so that the command's parser only
 * walks argv and this module alone knows the record's shape.
 *
 * Not thread-safe; no callbacks. Strings given are copied.
 */
#ifndef TOUCHLINE_LOGRECORD_H
#define TOUCHLINE_LOGRECORD_H

#include <jansson.h>
#include <stdint.h>

enum logrecord_result {
    LOGRECORD_OK = 0,
    LOGRECORD_NOT_UTF8 = -1, /* the value is not valid UTF-8 */
    LOGRECORD_NOMEM = -2,
    LOGRECORD_UNKNOWN = -3, /* not an option that sets a field */
};

/* The source a record has when --source is not given. */
#define LOGRECORD_DEFAULT_SOURCE "touchline-cli"

struct logrecord;

/* A record with nothing set yet. Returns it (the caller frees it), or NULL without memory. */
struct logrecord *logrecord_new(void) __attribute__((warn_unused_result));

/* Releases lr; NULL is fine. */
void logrecord_free(struct logrecord *lr);

/*
 * Applies the text option named option (without its dashes) with value: an identifier kind
 * (phone, email, chat, web, external: repeated ones make an array), name, summary, tag
 * (repeatable), a record field named like its option (channel, subject, direction, agent,
 * status, thread, stage, sentiment), external-id, source or occurred-at (both checked when
 * the record is built). Returns an enum logrecord_result.
 */
int logrecord_set(struct logrecord *lr, const char *option, const char *value)
    __attribute__((warn_unused_result));

/* Applies the whole-number option duration or score. Returns an enum logrecord_result. */
int logrecord_set_number(struct logrecord *lr, const char *option, long long n)
    __attribute__((warn_unused_result));

/*
 * What the record still lacks, as the options that would give it ("--channel C",
 * "--phone, --email, --chat, --web or --external", "--summary TEXT"): the first one missing,
 * or NULL when it has everything required. The string is static.
 */
const char *logrecord_missing(const struct logrecord *lr);

/*
 * The record to send: the fields set, then source, occurred_at (now_us, microseconds since
 * the epoch, when occurred-at was not given), customer and tags. Returns LOGRECORD_OK with a
 * new reference in *out, or LOGRECORD_NOT_UTF8 with the option at fault ("source",
 * "occurred-at") in *bad_option, or LOGRECORD_NOMEM. Call it once, after logrecord_missing
 * answered NULL.
 */
int logrecord_build(struct logrecord *lr, int64_t now_us, json_t **out, const char **bad_option)
    __attribute__((warn_unused_result));

#endif
