/*
 * Interaction records (CONTRACT §1): parsing one JSON line, validating every field with a
 * message that names it, normalizing the customer's identifiers (§2), deriving the record id,
 * and converting the timestamp to UTC. Used by every ingest path (TCP, HTTP) so that all of
 * them accept and reject exactly the same records. Pure code: no I/O.
 */
#ifndef TOUCHLINE_RECORD_H
#define TOUCHLINE_RECORD_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsondoc.h"
#include "normalize.h"

#define RECORD_MAX_IDENTS 32
#define RECORD_TAGS_MAX   32
#define RECORD_MSG_MAX    512
#define RECORD_UUID_LEN   36
#define RECORD_TS_LEN     27 /* 2026-11-18T05:45:00.000000Z */

enum record_status {
    RECORD_OK = 0,
    RECORD_EJSON = -1,   /* not JSON, invalid UTF-8: invalid_json */
    RECORD_EINVALID = -2 /* JSON, but not a valid record: invalid_record */
};

struct record_ident {
    enum ident_kind kind;
    char *value; /* normalized, owned */
    bool never_merge;
};

/* A never_merge pattern: identifiers of kind whose normalized value matches re. */
struct record_pattern {
    enum ident_kind kind;
    regex_t re; /* POSIX extended, REG_NOSUB */
};

struct record_opts {
    struct normalize_opts norm;
    /* Normalized "kind:value" identifiers that attach records but never cause a merge. */
    const char *const *never_merge;
    size_t n_never_merge;
    /* The same by pattern. */
    const struct record_pattern *never_merge_patterns;
    size_t n_never_merge_patterns;
    /* Comma-separated chat providers whose handles are phone numbers (whatsapp,viber,…): such
     * a chat identifier also yields the phone identifier, when its handle is a number. NULL:
     * none. */
    const char *phone_chat_providers;
};

/*
 * A validated record. The string fields borrow from doc, which the record owns; NULL means
 * absent. attributes_json, traits_json and tags_json are compact JSON texts, owned.
 */
struct record {
    struct jsondoc *doc;
    char id[RECORD_UUID_LEN + 1];
    bool id_given; /* the record carried its id rather than having it derived */
    const char *source;
    const char *external_id;
    const char *channel;
    const char *direction;
    char occurred_at[RECORD_TS_LEN + 1];
    const char *agent;
    const char *status;
    bool has_duration;
    long long duration_s;
    const char *subject;
    const char *body;
    const char *thread;
    const char *stage;
    const char *sentiment;
    bool has_score;
    int score;
    char *tags_json;
    size_t n_tags;
    const char *tags[RECORD_TAGS_MAX];
    char *attributes_json;
    const char *name;
    char *traits_json;
    size_t n_idents;
    struct record_ident idents[RECORD_MAX_IDENTS];
};

/*
 * Validates a parsed line (jsondoc_parse) as a record, taking doc whatever the outcome. On
 * success returns RECORD_OK and *out, a new record that owns doc. Otherwise returns
 * RECORD_EINVALID with msg naming the field ("occurred_at: \"yesterday\" is not an RFC 3339
 * timestamp").
 */
int record_from_doc(struct jsondoc *doc, const struct record_opts *opts, struct record **out,
                    char *msg, size_t msglen) __attribute__((warn_unused_result));

/* Parses and validates one line: RECORD_OK, RECORD_EJSON or RECORD_EINVALID. */
int record_parse(const char *line, size_t len, const struct record_opts *opts, struct record **out,
                 char *msg, size_t msglen) __attribute__((warn_unused_result));

/* True when s is a valid source name: 1-64 characters of [A-Za-z0-9._:-]. */
bool record_valid_source(const char *s);

/* Frees a record; NULL is fine. */
void record_free(struct record *rec);

/*
 * The record as one compact JSON line (no newline) carrying its final id, so that reading
 * it back later gives the same record and the same idempotency key: what the spool keeps.
 * malloc'd; NULL when out of memory.
 */
char *record_to_line(const struct record *rec, size_t *len);

/* The channels of CONTRACT §1, in a fixed order (NULL-terminated). */
#define RECORD_CHANNELS 8
extern const char *const record_channels[RECORD_CHANNELS + 1];

/* The index of channel in record_channels, or -1. */
int record_channel_index(const char *channel);

/*
 * Parses an RFC 3339 timestamp ("2026-11-18T09:15:00+03:30", optional fraction, Z or
 * offset) into microseconds since the epoch, UTC. Returns 0 or -1.
 */
int record_parse_time(const char *s, int64_t *us_out) __attribute__((warn_unused_result));

/* Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (out: 28 bytes). */
void record_format_time(int64_t us, char out[RECORD_TS_LEN + 1]);

/* The id of a record without one: UUIDv5 (nil namespace) of source NUL external_id. */
void record_derive_id(const char *source, const char *external_id, char out[RECORD_UUID_LEN + 1]);

/*
 * A new time-ordered UUID (version 7: 48 bits of Unix milliseconds, 12 bits of sub-millisecond
 * time, 62 random bits). Ids made later compare greater as strings, which is how "the
 * customer created first" is told without reading a sequence.
 */
void record_uuid7(char out[RECORD_UUID_LEN + 1]);

/* Canonical lower-case form of a UUID string. Returns 0, or -1 if s is not a UUID. */
int record_canonical_uuid(const char *s, char out[RECORD_UUID_LEN + 1])
    __attribute__((warn_unused_result));

#endif
