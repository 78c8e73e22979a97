#include "retention.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "store.h"

/* Rows deleted in one transaction: small enough to hold few locks for a short time. */
#define CHUNK 5000
/* Where a pass starts: before the table's first row. */
#define FIRST_ROW "(0,0)"
/* A row position as PostgreSQL prints a tid: "(block,offset)". */
#define TID_LEN 32
/* After a chunk, the next one waits PACE times as long as the chunk took: a pass takes at
 * most a quarter of one pool connection, and ingest keeps the rest (docs/scaling.md). */
#define PACE 3
/* Between passes, and before the first one after start (the pool connects meanwhile). */
#define PASS_INTERVAL_S 3600
#define FIRST_PASS_S    2

struct retention {
    struct event *timer;
    struct db *db;
    int keep_days;
    /* A chunk's job is in the pool: the job holds this object's address, so freeing waits
     * for nothing but marks the job orphaned. */
    struct chunk *inflight;
    /* Where the next chunk of this pass looks from (sql/012_retention_cursor.sql). */
    char after[TID_LEN];
    unsigned long pass_deleted;
    unsigned long deleted, passes;
};

struct chunk {
    struct retention *r; /* NULL once the retention object is gone */
    int keep_days;
    char days[16];
    char limit[16];
    char after[TID_LEN];
    long deleted; /* -1 until answered */
    long scanned; /* old rows it looked at: fewer than CHUNK at the end of the table */
    char last[TID_LEN];
    struct timespec sent; /* when a connection took it, not when it was queued */
};

static void schedule_ms(struct retention *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

static void schedule(struct retention *r, int seconds)
{
    schedule_ms(r, seconds * 1000L);
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static int chunk_send(PGconn *conn, void *arg)
{
    struct chunk *c = arg;
    clock_gettime(CLOCK_MONOTONIC, &c->sent);
    const char *params[3] = {c->days, c->limit, c->after};
    return db_send_prepared(conn, STORE_RETENTION, 3, params);
}

static int chunk_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    (void)conn;
    (void)index;
    struct chunk *c = arg;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 3) {
        c->deleted = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        c->scanned = strtol(PQgetvalue(res, 0, 1), NULL, 10);
        snprintf(c->last, sizeof(c->last), "%s", PQgetvalue(res, 0, 2));
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR && c->r != NULL) {
        log_warn("retention: deleting old interactions failed: %s", PQresultErrorMessage(res));
    }
    return 0;
}

static void chunk_done(enum db_outcome outcome, void *arg)
{
    struct chunk *c = arg;
    struct retention *r = c->r;
    long deleted = outcome == DB_DONE ? c->deleted : -1;
    /* Rows that were locked are left for the next pass: the end of the table ends a pass. */
    bool more = deleted >= 0 && c->scanned == CHUNK;
    bool reloaded = false;
    long took_ms = ms_since(&c->sent);
    if (r != NULL) {
        r->inflight = NULL;
        /* keep_days changed during the chunk: the rows it passed over may be due now. */
        reloaded = c->keep_days != r->keep_days;
        /* Only a full chunk of an unchanged pass goes on from its last row; the end of a
         * pass, a failure and a reload start again from the table's first row. */
        bool goes_on = more && !reloaded;
        snprintf(r->after, sizeof(r->after), "%s", goes_on ? c->last : FIRST_ROW);
    }
    free(c);
    if (r == NULL) {
        return;
    }
    if (deleted < 0) {
        log_warn("retention: a chunk did not complete; trying again in %d s", PASS_INTERVAL_S);
        schedule(r, PASS_INTERVAL_S);
        return;
    }
    r->deleted += (unsigned long)deleted;
    r->pass_deleted += (unsigned long)deleted;
    if (reloaded) {
        schedule(r, 0);
        return;
    }
    if (more) {
        schedule_ms(r, took_ms > 0 ? took_ms * PACE : 0);
        return;
    }
    r->passes++;
    if (r->pass_deleted > 0) {
        log_info("retention: deleted %lu interactions older than %d days", r->pass_deleted,
                 r->keep_days);
    }
    r->pass_deleted = 0;
    schedule(r, PASS_INTERVAL_S);
}

static const struct db_job_ops chunk_ops = {chunk_send, chunk_result, chunk_done};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct retention *r = arg;
    if (r->keep_days <= 0 || r->inflight != NULL) {
        return;
    }
    struct chunk *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_warn("retention: out of memory; trying again in %d s", PASS_INTERVAL_S);
        schedule(r, PASS_INTERVAL_S);
        return;
    }
    c->r = r;
    c->keep_days = r->keep_days;
    c->deleted = -1;
    snprintf(c->after, sizeof(c->after), "%s", r->after);
    snprintf(c->days, sizeof(c->days), "%d", r->keep_days);
    snprintf(c->limit, sizeof(c->limit), "%d", CHUNK);
    if (db_submit(r->db, &chunk_ops, c) < 0) {
        /* The database is away: the next pass comes soon enough. */
        free(c);
        schedule(r, FIRST_PASS_S * 30);
        return;
    }
    r->inflight = c;
}

struct retention *retention_new(struct event_base *base, struct db *db, int keep_days)
{
    struct retention *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->db = db;
    snprintf(r->after, sizeof(r->after), FIRST_ROW);
    r->timer = evtimer_new(base, on_timer, r);
    if (r->timer == NULL) {
        free(r);
        return NULL;
    }
    retention_set_days(r, keep_days);
    return r;
}

void retention_free(struct retention *r)
{
    if (r == NULL) {
        return;
    }
    if (r->inflight != NULL) {
        r->inflight->r = NULL;
    }
    event_free(r->timer);
    free(r);
}

void retention_set_days(struct retention *r, int keep_days)
{
    bool start = keep_days > 0 && keep_days != r->keep_days;
    r->keep_days = keep_days;
    if (start && r->inflight == NULL) {
        /* Between two chunks of a pass: the new cut-off may take rows the pass went by. */
        snprintf(r->after, sizeof(r->after), FIRST_ROW);
        schedule(r, FIRST_PASS_S);
    }
}

unsigned long retention_deleted(const struct retention *r)
{
    return r != NULL ? r->deleted : 0;
}

unsigned long retention_passes(const struct retention *r)
{
    return r != NULL ? r->passes : 0;
}
