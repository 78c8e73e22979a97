/*
 * Reads on a streaming replica ([database] read_dsn): a pool of its own on the replica, and
 * a probe that measures the replica's lag every second. Requests that may read slightly old
 * data (profile, timeline, lookups, stats) ask replica_pick() for the pool to use; it
 * answers the replica's only while the replica is connected and its last measured lag is
 * within read_max_lag_s, and NULL otherwise, so that reads fall back to the primary rather
 * than show data older than the operator allowed. Everything that writes, or must read its
 * own writes, never asks.
 */
#ifndef TOUCHLINED_REPLICA_H
#define TOUCHLINED_REPLICA_H

#include <event2/event.h>
#include <stdbool.h>

#include "db.h"

struct replica;

struct replica_params {
    struct db_params db; /* dsn, pool size, timeouts and the statements to prepare */
    int max_lag_s;       /* above this, reads go to the primary */
};

/* Starts connecting and probing. Borrows base and params->db.statements; copies the rest.
 * NULL when out of memory. */
struct replica *replica_new(struct event_base *base, const struct replica_params *params)
    __attribute__((warn_unused_result));

/* Closes the pool; jobs still queued are done with DB_LOST. NULL is fine. */
void replica_free(struct replica *r);

/* The pool a read may go to now, or NULL: use the primary's. r may be NULL (no replica).
 * Counts each fallback. Callable from callbacks. */
struct db *replica_pick(struct replica *r);

/* The last measured lag in seconds, or -1 when none is known (not connected yet, probe
 * failed). */
double replica_lag_s(const struct replica *r);

/* Reads sent to the primary because the replica was down or behind. */
unsigned long replica_fallbacks(const struct replica *r);

/* Changes the lag bound (reload). */
void replica_set_max_lag(struct replica *r, int max_lag_s);

#endif
