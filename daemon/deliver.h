/*
 * Where an accepted record goes: to PostgreSQL through the batcher while the database takes
 * records, or to the local spool while it does not (unreachable, or failing a batch), and
 * from the spool back to PostgreSQL once it does again.
 *
 * Once one record has gone to the spool, every later one follows it there until the spool
 * has been replayed in full: records reach the database in the order they were spooled,
 * and a record spooled earlier is never overtaken by a newer one going straight to the
 * database. Replay goes through the normal batch path with each record's original id, so a
 * record already stored (say, a batch that committed as its connection broke) is answered
 * duplicate rather than stored twice. A replayed record the database refuses is kept in
 * <spool.dir>/rejected.ndjson with the reason, since it was acknowledged.
 */
#ifndef TOUCHLINED_DELIVER_H
#define TOUCHLINED_DELIVER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "record.h"

struct db;
struct batch;
struct spool;
struct config;
struct deliver;

struct deliver_result {
    enum batch_outcome outcome;
    bool duplicate;
    bool spooled; /* durable in the spool, not yet in PostgreSQL: no customer id yet */
    bool erased;  /* a record of an erased person: acknowledged, not stored */
    bool updated; /* a duplicate that moved the stored record's status forward */
    char id[RECORD_UUID_LEN + 1];
    char customer_id[RECORD_UUID_LEN + 1];
    const char *message; /* for errors; valid during the callback only */
};

typedef void (*deliver_cb)(const struct deliver_result *res, void *arg);

struct deliver_stats {
    unsigned long spooled;         /* records acknowledged from the spool */
    unsigned long replayed;        /* spooled records since committed (or found stored) */
    unsigned long replay_rejected; /* spooled records the database refused */
    unsigned long spool_refused;   /* records answered unavailable: spool full or failing */
};

/* The collaborators, all borrowed for the life of the deliverer. */
struct deliver_params {
    struct event_base *base;
    struct batch *batch;
    struct db *db;            /* whether the database takes records now */
    struct spool *spool;      /* NULL: no spool */
    const struct config *cfg; /* spool.dir, and record_opts to read spooled records back */
};

/* NULL when out of memory. */
struct deliver *deliver_new(const struct deliver_params *p);
void deliver_free(struct deliver *dl);

/*
 * Backpressure flows down from here. An ingest path (TCP, HTTP) registers a pause and a resume
 * callback; when the records accepted and not yet answered (deliver_pending) reach the high
 * watermark every path is paused, and when they fall to the low watermark every path is
 * resumed: the shape of Fluent Bit's cb_pause / cb_resume. A path registered while paused is
 * paused at once. The callbacks run from the loop, inside deliver_submit or an answer, and
 * must only stop or start reading (not submit). Returns 0, or -1 when out of memory.
 */
typedef void (*deliver_flow_cb)(void *arg);
int deliver_add_flow(struct deliver *dl, deliver_flow_cb pause, deliver_flow_cb resume, void *arg)
    __attribute__((warn_unused_result));

/* Sets the watermarks (at start and on reload: [ingest] max_pending_records and half of it)
 * and pauses or resumes at once if the backlog is already past them. Until called, nothing
 * is paused. */
void deliver_set_watermarks(struct deliver *dl, size_t high, size_t low);

/* Takes rec; cb(arg) is called exactly once, possibly before this returns. Returns 0, or
 * -1 when out of memory (cb is not called, rec is freed). Any ingest path may call it. */
int deliver_submit(struct deliver *dl, struct record *rec, deliver_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Records accepted and not yet answered (waiting for the database or for the disk), and
 * spooled records being replayed. */
size_t deliver_pending(const struct deliver *dl);

/* True while records go to the spool rather than to the database. */
bool deliver_spooling(const struct deliver *dl);

/* Stops replaying (graceful stop): what is spooled stays for the next start. */
void deliver_stop(struct deliver *dl);

struct jsonw;

/*
 * The answer object of a stored (or spooled, or duplicate, or updated) record, as the TCP
 * protocol and the HTTP API give it (CONTRACT §3), into w. Pure.
 */
void deliver_write_answer(const struct deliver_result *res, struct jsonw *w);

const struct deliver_stats *deliver_get_stats(const struct deliver *dl);

#endif
