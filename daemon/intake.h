/*
 * The records of one HTTP request on their way to the database: each is submitted to
 * deliver as it is read, its answer (the TCP protocol's answer object, CONTRACT §3) is kept
 * in its place, and the request is answered once every record has one, which is only after
 * its commit or its spool write. Every HTTP way in (POST /v1/interactions, the Segment API,
 * the Twilio and Chatwoot hooks) collects its records in one of these, so that all of them
 * acknowledge, reject and count exactly as the TCP path does.
 *
 * Borrows the deliver it was made with; the request's owner frees it from the done callback
 * or later, never before done was called unless the daemon is exiting.
 */
#ifndef TOUCHLINED_INTAKE_H
#define TOUCHLINED_INTAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "deliver.h"
#include "ingest.h"
#include "record.h"

struct intake;

/* Called once, when the intake is sealed and every record has its answer. May be called from
 * intake_seal itself. */
typedef void (*intake_done_cb)(struct intake *in, void *arg);

struct intake_result {
    bool answered;
    bool ok;
    bool duplicate;
    bool spooled;
    bool updated; /* a duplicate whose status moved forward (see docs/protocol.md) */
    enum ingest_error error;
    char *message; /* errors only; owned */
    char id[RECORD_UUID_LEN + 1];
    char customer_id[RECORD_UUID_LEN + 1];
    const char *source; /* borrowed from the intake's copy; NULL when unknown */
    int channel;        /* record_channel_index, or -1 */
};

/* NULL when out of memory. stats (borrowed: the ingest counters, which TCP and HTTP share)
 * gets every record's outcome. */
struct intake *intake_new(struct deliver *dl, struct ingest_stats *stats, intake_done_cb done,
                          void *arg);

/* Frees; answers still outstanding are dropped (their callbacks find the intake gone).
 * NULL is fine. */
void intake_free(struct intake *in);

/* Appends a rejected item with its error. Returns 0, or -1 when out of memory. */
int intake_reject(struct intake *in, enum ingest_error code, const char *message)
    __attribute__((warn_unused_result));

/* Appends rec (taken) and submits it to deliver. Returns 0, or -1 when out of memory (rec is
 * freed and the item answered unavailable). */
int intake_submit(struct intake *in, struct record *rec) __attribute__((warn_unused_result));

/* No more items: done is called once all are answered (at once if they are). */
void intake_seal(struct intake *in);

size_t intake_count(const struct intake *in);
const struct intake_result *intake_result(const struct intake *in, size_t i);

/* Items answered ok, and rejected with each code. */
size_t intake_ok(const struct intake *in);
size_t intake_rejected(const struct intake *in, enum ingest_error code);

struct jsonw;

/* Writes item i's answer object (as on TCP, with "line": i + 1 on errors) into w. */
void intake_write_answer(const struct intake *in, size_t i, struct jsonw *w);

#endif
