/*
 * Sending interaction records to touchlined (CONTRACT §3) for `touchline log` and
 * `touchline import`: the {"auth":…} line first when there is a token, then the records
 * pipelined over one connection (tcp_client), each answer parsed, classified and handed back
 * with the caller's tag for that record (a CSV line number), and counts for a summary. Also
 * the check made before sending: lib/record.h's validator, so that a bad record gets the
 * daemon's own message without a trip to it.
 */
#ifndef TOUCHLINE_SENDER_H
#define TOUCHLINE_SENDER_H

#include <jansson.h>
#include <stddef.h>

/* How records are serialized for the wire; callers that size a record use the same. */
#define SENDER_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)
/* The daemon's default [ingest] max_line_bytes. */
#define SENDER_MAX_LINE 65536

enum sender_error {
    SENDER_EUSAGE = -1, /* the address or the token is unusable as given */
    SENDER_ENET = -2,   /* network failure, timeout, or the daemon closed early */
    SENDER_EAUTH = -3,  /* the daemon answered unauthorized (and closed) */
    SENDER_ENOMEM = -4,
};

enum sender_outcome {
    SENDER_STORED,      /* ok: written */
    SENDER_DUPLICATE,   /* ok: already stored, nothing written twice */
    SENDER_SPOOLED,     /* ok: in the daemon's spool until PostgreSQL is back */
    SENDER_REJECTED,    /* invalid_json, invalid_record, too_large: the record is at fault */
    SENDER_FORBIDDEN,   /* the token may not write records of this source */
    SENDER_UNAVAILABLE, /* the database is unreachable; resending later is safe */
    SENDER_UNKNOWN,     /* an answer that is not what CONTRACT §3 describes */
};

/* One answer, as parsed; every string borrows from the answer and lives as long as it. */
struct sender_answer {
    enum sender_outcome outcome;
    const char *id;          /* ok answers; NULL otherwise */
    const char *customer_id; /* ok answers but spooled ones; NULL otherwise */
    const char *error;       /* the error code of a refused record; NULL otherwise */
    const char *message;     /* its message; NULL otherwise */
    const char *line;        /* the answer line as the daemon wrote it */
    size_t len;
};

struct sender_counts {
    size_t stored, duplicate, spooled, rejected, forbidden, unavailable, unknown;
};

/*
 * Called for each record's answer with the tag given to sender_add. a is borrowed for the
 * call. Returns nothing: every answer is counted whatever the caller does with it.
 */
typedef void (*sender_report_fn)(size_t tag, const struct sender_answer *a, void *arg);

struct sender;

/*
 * Parses one answer line into *a, which borrows from *root (a new reference the caller
 * releases with json_decref, possibly NULL when the line is not JSON: then a->outcome is
 * SENDER_UNKNOWN and a->message says so). Never fails otherwise.
 */
void sender_parse_answer(const char *line, size_t len, struct sender_answer *a, json_t **root);

/*
 * Checks record the way the daemon will (lib/record.h), with the default phone rules. A
 * phone number the default rules refuse is left to the daemon, whose country code and trunk
 * prefix may differ. Returns 0, or -1 with msg naming the field as the daemon's would.
 */
int sender_check(json_t *record, char *msg, size_t msglen) __attribute__((warn_unused_result));

/*
 * Connects to addr ("host:port") and, when token is not NULL or "", queues the auth line.
 * report (with arg) receives each record's answer. Returns 0 with *out set (free it with
 * sender_free), or a negative enum sender_error with err set.
 */
int sender_open(const char *addr, const char *token, const char *cacert, sender_report_fn report,
                void *arg, struct sender **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Queues record (serialized with SENDER_DUMP_FLAGS) tagged tag; answers to earlier records
 * may be reported during the call. Returns 0, or a negative enum sender_error with err set;
 * after an error only sender_free is of use.
 */
int sender_add(struct sender *s, const json_t *record, size_t tag, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Sends what is queued and waits until every record has its answer. Returns 0, or a negative
 * enum sender_error with err set (sender_unanswered then says how many records got none).
 */
int sender_close(struct sender *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Sends what is queued and reports the answers that arrive, keeping the connection open (for
 * a sender fed as lines come, `import cdr --follow`): returns 0 once every record has its
 * answer or after wait_ms (0: without waiting). Returns a negative enum sender_error with err
 * set when the connection failed or stalled; then only sender_free is of use.
 */
int sender_flush(struct sender *s, int wait_ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The connection's socket: readable when answers wait for sender_flush. */
int sender_fd(const struct sender *s);

/* The answers counted so far. */
const struct sender_counts *sender_counts(const struct sender *s);

/* Records queued that have no answer (yet, or ever after a failure). */
size_t sender_unanswered(const struct sender *s);

/* Closes the connection and frees s; NULL is fine. */
void sender_free(struct sender *s);

#endif
