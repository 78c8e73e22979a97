/*
 * Retention ([retention] keep_days): every hour, and once soon after start, the interactions
 * that happened more than keep_days ago are deleted, a chunk per transaction on the database
 * pool, each chunk going on from where the previous one stopped in the table until it reaches
 * the end, and paced so that ingest keeps most of the pool and no transaction holds many rows
 * locked. Off (keep_days 0) by default. What is removed and what stays is in
 * docs/scaling.md.
 */
#ifndef TOUCHLINED_RETENTION_H
#define TOUCHLINED_RETENTION_H

#include <event2/event.h>

#include "db.h"

struct retention;

/* Borrows base and db. keep_days 0: off until set. NULL when out of memory. */
struct retention *retention_new(struct event_base *base, struct db *db, int keep_days)
    __attribute__((warn_unused_result));

/* Stops (a chunk in flight is finished by the pool and its answer ignored). NULL is fine. */
void retention_free(struct retention *r);

/* Changes keep_days (reload); a new value > 0 starts a pass soon. */
void retention_set_days(struct retention *r, int keep_days);

/* Interactions deleted since start, and passes that reached the end of the table. */
unsigned long retention_deleted(const struct retention *r);
unsigned long retention_passes(const struct retention *r);

#endif
