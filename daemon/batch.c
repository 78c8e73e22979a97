#include "batch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "store.h"
#include "txn.h"

/* Whole-batch retries for reasons outside the records (lost or failing database) before a
 * record is answered unavailable. Waiting for another batch of touchline's own is not one of
 * them: see contention(). */
#define MAX_ATTEMPTS 20

/* At most this many keys carried from a failed attempt to the next one of a lane. */
#define MAX_EXTRA_KEYS 65536

struct item {
    TAILQ_ENTRY(item) link;
    struct record *rec;
    unsigned lane;
    batch_cb cb;
    void *arg;
    int attempts;
    /* When not 0, the next batch of its lane starting with this item holds this many items
     * at most: one half of a batch that failed on some record (see on_done). */
    size_t chunk;
};
TAILQ_HEAD(item_queue, item);

/* A batch in flight: its items, and the transaction that writes them. */
struct job {
    struct batch *b;
    struct lane *lane;
    size_t n;
    struct timespec sent;
    struct item **items;
    struct txn *txn;
};

/*
 * Records are spread over lanes, one per database connection, by a hash of an identifier,
 * and each lane has at most one batch in flight. Two batches running at once then rarely
 * share an identifier, so they rarely wait for each other's identifier locks.
 */
#define MAX_LANES 64

struct lane {
    struct item_queue queue;
    size_t queued;
    bool busy;
    /* Lock keys the lane's last batch found its merges need (SQLSTATE_MERGE_LOCKS): its next
     * batch takes them with its own, in the global order, before it reads anything. */
    long long *extra;
    size_t n_extra, cap_extra;
};

struct batch {
    struct event_base *base;
    struct db *db;
    struct batch_params p;
    struct lane lanes[MAX_LANES];
    unsigned n_lanes;
    size_t queued;
    size_t inflight_records;
    int inflight_jobs;
    struct event *timer;
    bool timer_armed;
    struct batch_stats stats;
};

static void try_flush(struct batch *b, bool force);

static void answer_updated(struct batch *b, struct item *it, enum batch_outcome outcome,
                           bool duplicate, bool updated, const char *id, const char *customer,
                           const char *message)
{
    struct batch_result res = {.outcome = outcome,
                               .duplicate = duplicate,
                               .updated = updated,
                               .message = message,
                               .rec = it->rec};
    snprintf(res.id, sizeof(res.id), "%s", id != NULL ? id : it->rec->id);
    snprintf(res.customer_id, sizeof(res.customer_id), "%s", customer != NULL ? customer : "");
    switch (outcome) {
    case BATCH_STORED:
        if (duplicate) {
            b->stats.duplicates++;
        } else {
            b->stats.stored++;
        }
        break;
    case BATCH_INVALID:
        b->stats.rejected++;
        break;
    case BATCH_UNAVAILABLE:
        b->stats.unavailable++;
        break;
    }
    it->cb(&res, it->arg);
    record_free(it->rec);
    free(it);
}

static void answer(struct batch *b, struct item *it, enum batch_outcome outcome, bool duplicate,
                   const char *id, const char *customer, const char *message)
{
    answer_updated(b, it, outcome, duplicate, false, id, customer, message);
}

/* A record of an erased person: acknowledged, so that its sender stops resending, and not
 * stored. */
static void answer_erased(struct batch *b, struct item *it)
{
    struct batch_result res = {.outcome = BATCH_STORED, .erased = true, .rec = it->rec};
    snprintf(res.id, sizeof(res.id), "%s", it->rec->id);
    b->stats.erased++;
    it->cb(&res, it->arg);
    record_free(it->rec);
    free(it);
}

static void job_free(struct job *job)
{
    if (job == NULL) {
        return;
    }
    txn_free(job->txn);
    free(job->items);
    free(job);
}

/*
 * Failures that only say another batch of touchline's own got there first: a merge that
 * found identifier locks taken (its next attempt waits for them in order, see
 * lane_add_extra), or a deadlock PostgreSQL broke by cancelling this batch while the other
 * went on. Each one means another transaction moved forward, so they are retried without
 * counting towards MAX_ATTEMPTS: contention alone never answers a record unavailable.
 */
static bool contention(const char *sqlstate)
{
    return strcmp(sqlstate, SQLSTATE_MERGE_LOCKS) == 0 || strcmp(sqlstate, "40P01") == 0;
}

/* Adds the keys of a TL001 DETAIL (an array literal of bigints) to the lane's extra keys.
 * Returns how many it read. */
static size_t lane_add_extra(struct lane *l, const char *detail)
{
    size_t n = 0;
    for (const char *p = detail; p != NULL && *p != '\0';) {
        char *end;
        long long key = strtoll(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        if (l->n_extra == l->cap_extra) {
            size_t cap = l->cap_extra ? l->cap_extra * 2 : 64;
            long long *grown =
                cap <= MAX_EXTRA_KEYS ? realloc(l->extra, cap * sizeof(*grown)) : NULL;
            if (grown == NULL) {
                break; /* the next attempt tries again with what it has */
            }
            l->extra = grown;
            l->cap_extra = cap;
        }
        l->extra[l->n_extra++] = key;
        n++;
    }
    return n;
}

/* Puts items back at the head of their lane, in their original order; attempt: count this
 * as a failed attempt of each. */
static void requeue(struct batch *b, struct item **items, size_t n, bool attempt)
{
    for (size_t i = n; i-- > 0;) {
        if (items[i] == NULL) {
            continue;
        }
        struct lane *l = &b->lanes[items[i]->lane % b->n_lanes];
        items[i]->attempts += attempt;
        TAILQ_INSERT_HEAD(&l->queue, items[i], link);
        l->queued++;
        b->queued++;
    }
}

static void finish_committed(struct batch *b, struct job *job)
{
    size_t again = 0;
    for (size_t i = 0; i < job->n; i++) {
        const char *id, *customer;
        bool updated;
        switch (txn_record(job->txn, i, &id, &customer, &updated)) {
        case TXN_STORED:
            answer(b, job->items[i], BATCH_STORED, false, NULL, customer, NULL);
            job->items[i] = NULL;
            break;
        case TXN_DUPLICATE:
            answer_updated(b, job->items[i], BATCH_STORED, true, updated, id, customer, NULL);
            job->items[i] = NULL;
            break;
        case TXN_ERASED:
            answer_erased(b, job->items[i]);
            job->items[i] = NULL;
            break;
        case TXN_AGAIN:
            /* Stored meanwhile by another writer (or repeating such a record): a retry
             * finds it and answers duplicate. */
            again++;
            break;
        }
    }
    if (again > 0) {
        b->stats.retries++;
        log_info("%zu records of a batch were stored meanwhile by another writer; rechecking",
                 again);
        requeue(b, job->items, job->n, true);
    }
}

static int job_send(PGconn *conn, void *arg)
{
    struct job *job = arg;
    return txn_send(conn, job->txn);
}

static int job_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct job *job = arg;
    return txn_result(conn, res, index, job->txn);
}

/* The live streams' notification of a committed batch, a statement of its own. */
struct notice {
    char *xact_id;
    char *chunks;
};

static int notice_send(PGconn *conn, void *arg)
{
    struct notice *nt = arg;
    const char *params[2] = {nt->xact_id, nt->chunks};
    return db_send_prepared(conn, STORE_NOTIFY, 2, params);
}

static int notice_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    (void)conn;
    (void)index;
    (void)arg;
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        log_warn("live streams: a batch's notification failed: %s", PQresultErrorMessage(res));
    }
    return 0;
}

static void notice_done(enum db_outcome outcome, void *arg)
{
    (void)outcome;
    struct notice *nt = arg;
    free(nt->xact_id);
    free(nt->chunks);
    free(nt);
}

static const struct db_job_ops notice_ops = {notice_send, notice_result, notice_done};

/*
 * Sends a committed batch's notification after its COMMIT, so that no acknowledgement waits
 * for PostgreSQL's notification-queue lock. A notification lost here (no connection) leaves
 * the streams to the resync their listener does when it reconnects.
 */
static void notify_committed(struct batch *b, struct txn *t)
{
    const char *xact_id, *chunks;
    int rc = txn_notification(t, &xact_id, &chunks);
    if (rc <= 0) {
        if (rc < 0) {
            log_warn("live streams: out of memory; a batch goes unannounced");
        }
        return;
    }
    struct notice *nt = calloc(1, sizeof(*nt));
    if (nt != NULL) {
        nt->xact_id = strdup(xact_id);
        nt->chunks = strdup(chunks);
    }
    if (nt == NULL || nt->xact_id == NULL || nt->chunks == NULL) {
        log_warn("live streams: out of memory; a batch goes unannounced");
    } else if (db_submit(b->db, &notice_ops, nt) == 0) {
        return;
    } else {
        log_debug("live streams: no database connection for a batch's notification");
    }
    if (nt != NULL) {
        notice_done(DB_LOST, nt);
    }
}

static void on_done(enum db_outcome outcome, void *arg)
{
    struct job *job = arg;
    struct batch *b = job->b;
    b->inflight_jobs--;
    b->inflight_records -= job->n;
    job->lane->busy = false;
    if (outcome == DB_LOST) {
        /* Whether the transaction committed is unknown: no ack, the client resends and the
         * idempotency key makes that safe. */
        for (size_t i = 0; i < job->n; i++) {
            answer(b, job->items[i], BATCH_UNAVAILABLE, false, NULL, NULL,
                   "the database connection was lost; the record was not acknowledged, resend it");
        }
    } else if (txn_end(job->txn) == TXN_COMMITTED) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        metrics_observe(&b->stats.records, (double)job->n);
        metrics_observe(&b->stats.commit_seconds, (double)(now.tv_sec - job->sent.tv_sec) +
                                                      (now.tv_nsec - job->sent.tv_nsec) / 1e9);
        b->stats.merges += txn_merges(job->txn);
        b->stats.conflicts += txn_conflicts(job->txn);
        job->lane->n_extra = 0;
        notify_committed(b, job->txn);
        finish_committed(b, job);
    } else {
        bool per_record = txn_end(job->txn) == TXN_FAILED_ON_RECORDS;
        const char *sqlstate = txn_sqlstate(job->txn), *errmsg = txn_errmsg(job->txn);
        b->stats.retries++;
        if (per_record && job->n == 1) {
            char msg[400];
            snprintf(msg, sizeof(msg), "rejected by the database: %s", errmsg);
            log_warn("record %s from source %s rejected by the database: %s (SQLSTATE %s)",
                     job->items[0]->rec->id, job->items[0]->rec->source, errmsg, sqlstate);
            answer(b, job->items[0], BATCH_INVALID, false, NULL, NULL, msg);
            job->items[0] = NULL;
        } else if (per_record) {
            /* Set-wise statements do not say which record failed: write each half as a
             * batch of its own, and split again only the half that fails, so one bad record
             * costs O(log n) transactions rather than one per record. The halves do not count
             * as failed attempts: they shrink until the bad record stands alone. */
            size_t half = job->n / 2;
            log_warn("batch of %zu records failed (SQLSTATE %s: %s); writing it again as two "
                     "batches of %zu and %zu",
                     job->n, sqlstate, errmsg, half, job->n - half);
            job->items[0]->chunk = half;
            job->items[half]->chunk = job->n - half;
            requeue(b, job->items, job->n, false);
            job_free(job);
            try_flush(b, true);
            return;
        } else if (strcmp(sqlstate, SQLSTATE_MERGE_LOCKS) == 0) {
            b->stats.merge_waits++;
            size_t keys = lane_add_extra(job->lane, txn_detail(job->txn));
            log_info("batch of %zu records: %s; running it again, taking its %zu merge "
                     "lock(s) in order with its own",
                     job->n, errmsg, keys);
        } else {
            log_info("batch of %zu records retried after SQLSTATE %s: %s", job->n,
                     sqlstate[0] ? sqlstate : "-", errmsg);
        }
        /* Records that keep failing for reasons outside themselves are answered so that
         * they cannot circle forever. */
        for (size_t i = 0; i < job->n; i++) {
            if (job->items[i] != NULL && job->items[i]->attempts >= MAX_ATTEMPTS) {
                log_warn("record %s answered unavailable after %d failed attempts, the last "
                         "with SQLSTATE %s: %s",
                         job->items[i]->rec->id, MAX_ATTEMPTS, sqlstate, errmsg);
                answer(b, job->items[i], BATCH_UNAVAILABLE, false, NULL, NULL,
                       "the database kept failing this batch; resend the record later");
                job->items[i] = NULL;
            }
        }
        /* Retried as the same batch, not re-formed: it may be one half of a failed one. */
        struct item *head = NULL;
        size_t left = 0;
        for (size_t i = 0; i < job->n; i++) {
            if (job->items[i] != NULL) {
                head = head != NULL ? head : job->items[i];
                left++;
            }
        }
        if (head != NULL) {
            head->chunk = left;
        }
        requeue(b, job->items, job->n, !contention(sqlstate));
    }
    job_free(job);
    try_flush(b, true);
}

static const struct db_job_ops batch_ops = {job_send, job_result, on_done};

void batch_fail_queued(struct batch *b, const char *message)
{
    for (unsigned l = 0; l < b->n_lanes; l++) {
        struct item *it;
        while ((it = TAILQ_FIRST(&b->lanes[l].queue)) != NULL) {
            TAILQ_REMOVE(&b->lanes[l].queue, it, link);
            b->lanes[l].queued--;
            b->queued--;
            answer(b, it, BATCH_UNAVAILABLE, false, NULL, NULL, message);
        }
    }
}

/* A job of the first n items of lane l, taken off its queue. */
static struct job *job_new(struct batch *b, struct lane *l, size_t n)
{
    struct job *job = calloc(1, sizeof(*job));
    struct record **recs = malloc(n * sizeof(*recs));
    if (job == NULL || recs == NULL || (job->items = calloc(n, sizeof(*job->items))) == NULL) {
        free(recs);
        job_free(job);
        return NULL;
    }
    job->b = b;
    job->lane = l;
    job->n = n;
    struct item *it = TAILQ_FIRST(&l->queue);
    for (size_t i = 0; i < n; i++, it = TAILQ_NEXT(it, link)) {
        job->items[i] = it;
        recs[i] = it->rec;
    }
    struct txn_params tp = {
        .notify = b->p.notify, .limits = &b->p.limits, .extra = l->extra, .n_extra = l->n_extra};
    job->txn = txn_new(recs, n, &tp);
    free(recs);
    if (job->txn == NULL) {
        job_free(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        TAILQ_REMOVE(&l->queue, job->items[i], link);
        job->items[i]->chunk = 0;
    }
    l->queued -= n;
    b->queued -= n;
    return job;
}

/* Sends a batch from each idle lane that has one; force: do not wait for it to fill. */
static void try_flush(struct batch *b, bool force)
{
    bool waiting = false;
    for (unsigned li = 0; li < b->n_lanes; li++) {
        struct lane *l = &b->lanes[li];
        if (l->queued == 0 || l->busy) {
            continue;
        }
        if (!force && l->queued < (size_t)b->p.max_records) {
            waiting = true;
            continue;
        }
        size_t n = l->queued < (size_t)b->p.max_records ? l->queued : (size_t)b->p.max_records;
        size_t chunk = TAILQ_FIRST(&l->queue)->chunk;
        if (chunk != 0 && chunk < n) {
            n = chunk;
        }
        struct job *job = job_new(b, l, n);
        if (job == NULL) {
            log_error("out of memory forming a batch of %zu records; retrying on the next one", n);
            return;
        }
        /* Counted in flight before it is handed over: a send that fails at once answers the
         * job (on_done) and frees it before db_submit returns. */
        clock_gettime(CLOCK_MONOTONIC, &job->sent);
        l->busy = true;
        b->inflight_jobs++;
        b->inflight_records += n;
        b->stats.batches++;
        if (db_submit(b->db, &batch_ops, job) < 0) {
            /* Not taken: put them back and answer everything queued, since nothing can be
             * written now. */
            l->busy = false;
            b->inflight_jobs--;
            b->inflight_records -= n;
            b->stats.batches--;
            for (size_t i = n; i-- > 0;) {
                TAILQ_INSERT_HEAD(&l->queue, job->items[i], link);
                l->queued++;
                b->queued++;
            }
            job_free(job);
            batch_fail_queued(b, "the database is unavailable; the record was not stored, "
                                 "resend it later");
            return;
        }
    }
    if (waiting && !b->timer_armed) {
        struct timeval tv = {b->p.max_delay_ms / 1000, (b->p.max_delay_ms % 1000) * 1000};
        evtimer_add(b->timer, &tv);
        b->timer_armed = true;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct batch *b = arg;
    b->timer_armed = false;
    try_flush(b, true);
}

struct batch *batch_new(struct event_base *base, struct db *db, const struct batch_params *p)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->base = base;
    b->db = db;
    b->p = *p;
    static const double sizes[] = {1, 10, 50, 100, 250, 500, 1000, 2500, 5000};
    static const double seconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,   0.25,   0.5,   1,    2.5,   10};
    metrics_histogram_init(&b->stats.records, sizes, sizeof(sizes) / sizeof(sizes[0]));
    metrics_histogram_init(&b->stats.commit_seconds, seconds, sizeof(seconds) / sizeof(seconds[0]));
    b->n_lanes = p->max_concurrent < 1           ? 1
                 : p->max_concurrent > MAX_LANES ? MAX_LANES
                                                 : (unsigned)p->max_concurrent;
    for (unsigned l = 0; l < MAX_LANES; l++) {
        TAILQ_INIT(&b->lanes[l].queue);
    }
    b->timer = evtimer_new(base, on_timer, b);
    if (b->timer == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

void batch_free(struct batch *b)
{
    if (b == NULL) {
        return;
    }
    batch_fail_queued(b, "the daemon is shutting down; the record was not stored, resend it");
    for (unsigned l = 0; l < MAX_LANES; l++) {
        free(b->lanes[l].extra);
    }
    event_free(b->timer);
    free(b);
}

/* The lane of a record: by its smallest identifier hash, so that the records of one person
 * mostly meet in one lane. */
static unsigned lane_of(const struct record *rec)
{
    uint32_t best = UINT32_MAX;
    for (size_t k = 0; k < rec->n_idents; k++) {
        uint32_t h = 2166136261u ^ (uint32_t)rec->idents[k].kind;
        for (const char *p = rec->idents[k].value; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 16777619u;
        }
        if (h < best) {
            best = h;
        }
    }
    return best;
}

int batch_submit(struct batch *b, struct record *rec, batch_cb cb, void *arg)
{
    struct item *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        record_free(rec);
        return -1;
    }
    it->rec = rec;
    it->cb = cb;
    it->arg = arg;
    it->lane = lane_of(rec);
    struct lane *l = &b->lanes[it->lane % b->n_lanes];
    TAILQ_INSERT_TAIL(&l->queue, it, link);
    l->queued++;
    b->queued++;
    try_flush(b, b->p.max_delay_ms == 0);
    return 0;
}

size_t batch_pending(const struct batch *b)
{
    return b->queued + b->inflight_records;
}

void batch_flush(struct batch *b)
{
    try_flush(b, true);
}

void batch_set_params(struct batch *b, const struct batch_params *p)
{
    b->p = *p;
}

const struct batch_stats *batch_get_stats(const struct batch *b)
{
    return &b->stats;
}
