/*
 * The batcher: coalesces records from every ingest path into batches bounded by count and
 * time, spread over lanes (one per database connection, by an identifier hash, so that two
 * batches in flight rarely wait for each other's identifier locks), and hands each batch to
 * the database pool as one transaction (txn.c). Every record's submitter is called back
 * exactly once, only after the transaction committed (or with the reason it was not stored).
 * A batch the database rejects because of some record is written again as two halves, the
 * failing half halved again, until the record stands alone and is answered BATCH_INVALID
 * (O(log n) transactions); deadlocks and serialization failures retry the whole batch.
 */
#ifndef TOUCHLINED_BATCH_H
#define TOUCHLINED_BATCH_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "metrics.h"
#include "record.h"
#include "resolve.h"

enum batch_outcome {
    BATCH_STORED = 0,      /* committed; duplicate says whether it was already there */
    BATCH_INVALID = -1,    /* the database rejected this record: invalid_record */
    BATCH_UNAVAILABLE = -2 /* not stored: the database is unreachable; safe to resend */
};

struct batch_result {
    enum batch_outcome outcome;
    int duplicate;
    bool erased;  /* BATCH_STORED only: a record of an erased person, not stored again */
    bool updated; /* a duplicate whose status moved the stored record's forward */
    char id[RECORD_UUID_LEN + 1];
    char customer_id[RECORD_UUID_LEN + 1];
    const char *message; /* for errors; valid during the callback only */
    struct record *rec;  /* the record, valid during the callback only */
};

/* Called once per submitted record, from the event loop. */
typedef void (*batch_cb)(const struct batch_result *res, void *arg);

struct batch_params {
    int max_records;
    int max_delay_ms;
    int max_concurrent;           /* batches in flight at once: the database pool size */
    bool notify;                  /* NOTIFY each batch's customers after its COMMIT (live) */
    struct resolve_limits limits; /* merge protection */
};

struct batch;

/* Borrows base and db. NULL on allocation failure. */
struct batch *batch_new(struct event_base *base, struct db *db, const struct batch_params *p);

/* Frees the batcher; records not yet written are answered BATCH_UNAVAILABLE. NULL is fine. */
void batch_free(struct batch *b);

/* Queues rec (takes ownership) for writing; cb(arg) is called exactly once, possibly before
 * batch_submit returns (when the database is known to be down). Returns 0, or -1 on
 * allocation failure, in which case cb is not called and rec is freed. */
int batch_submit(struct batch *b, struct record *rec, batch_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Records submitted and not yet answered. */
size_t batch_pending(const struct batch *b);

/* Answers BATCH_UNAVAILABLE, in order, every record queued and not yet sent. */
void batch_fail_queued(struct batch *b, const char *message);

/* Writes what is queued without waiting for the delay (drain on shutdown). */
void batch_flush(struct batch *b);

void batch_set_params(struct batch *b, const struct batch_params *p);

struct batch_stats {
    unsigned long batches;
    unsigned long stored;
    unsigned long duplicates;
    unsigned long erased; /* records of erased people, not stored */
    unsigned long rejected;
    unsigned long unavailable;
    unsigned long retries;
    unsigned long merges;             /* customers merged away by committed batches */
    unsigned long merge_waits;        /* batches run again to take their merge locks in order */
    unsigned long conflicts;          /* merges refused by an identifier limit */
    struct metrics_histogram records; /* records per committed batch */
    struct metrics_histogram commit_seconds; /* from sending a batch to its COMMIT */
};
const struct batch_stats *batch_get_stats(const struct batch *b);

#endif
