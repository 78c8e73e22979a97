/*
 * The TCP ingest protocol (CONTRACT §3): newline-delimited JSON records in, one answer line
 * per input line out, in order, with pipelining. Lines are validated here and handed to the
 * batcher; an answer is written only when every earlier line of the connection has its
 * answer, and an "ok" only once the batcher reports the record committed.
 *
 * Reading stops (per connection) while too many of its lines are unanswered or its output
 * is not being read, and (for every connection) while too many records wait for the
 * database; it resumes below half of each bound.
 */
#ifndef TOUCHLINED_INGEST_H
#define TOUCHLINED_INGEST_H

#include "metrics.h"
#include <stddef.h>

struct daemon;
struct ingest;

/* Listens on cfg listen_tcp. Borrows d. NULL with the reason logged. */
struct ingest *ingest_new(struct daemon *d);

/* Closes every connection at once and frees. NULL is fine. */
void ingest_free(struct ingest *ing);

/* Stops accepting and reading; connections close once their answers are written. */
void ingest_drain(struct ingest *ing);

/* True once draining and no connection is left. */
int ingest_drained(const struct ingest *ing);

/* Re-evaluates every connection's reading after a limit or the global backlog changed. */
void ingest_update_reading(struct ingest *ing);

size_t ingest_connections(const struct ingest *ing);

/* The port actually bound (useful when configured as 0). */
int ingest_port(const struct ingest *ing);

struct ingest_stats {
    struct metrics_sources sources;
    metrics_by_source accepted_by; /* stored for the first time */
    metrics_by_source duplicates_by;
    unsigned long connections_total;
    unsigned long lines;
    unsigned long accepted;
    unsigned long duplicates;
    unsigned long updated;       /* duplicates that moved a stored record's status forward */
    unsigned long rejected[8];   /* by enum ingest_error */
    unsigned long paused;        /* times reading was paused */
    unsigned long auth_failures; /* unknown tokens, lines before authenticating */
    unsigned long forbidden;     /* records out of their principal's scope */
    unsigned long rate_limited;  /* records over their principal's rate */
    unsigned long refused;       /* connections closed at accept by a limit */
};

enum ingest_error {
    INGEST_INVALID_JSON = 0,
    INGEST_INVALID_RECORD,
    INGEST_TOO_LARGE,
    INGEST_UNAUTHORIZED,
    INGEST_FORBIDDEN,
    INGEST_UNAVAILABLE,
    INGEST_ERROR_COUNT,
};

const char *ingest_error_code(enum ingest_error e);

struct jsonw;

/* The answer object of a refused line or record (CONTRACT §3), into w: {"ok":false,"error":
 * code,"message":…,"line":line}. The HTTP ways in answer their records with it too. */
void ingest_write_error(struct jsonw *w, enum ingest_error code, const char *message,
                        unsigned long line);
const struct ingest_stats *ingest_get_stats(const struct ingest *ing);

/* The same counters, for the HTTP ways in to count their records with the TCP ones. */
struct ingest_stats *ingest_shared_stats(struct ingest *ing);

#endif
