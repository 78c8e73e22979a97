#include "batch.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "store.h"

/* Whole-batch retries (deadlocks, lock timeouts) before a record is answered unavailable. */
#define MAX_ATTEMPTS 20

struct item {
    TAILQ_ENTRY(item) link;
    struct record *rec;
    char *idents_json;
    batch_cb cb;
    void *arg;
    int attempts;
    /* Filled from the database's answer. */
    bool answered;
    bool duplicate;
    char id[RECORD_UUID_LEN + 1];
    char customer_id[RECORD_UUID_LEN + 1];
};
TAILQ_HEAD(item_queue, item);

struct job {
    struct batch *b;
    size_t n;
    struct item **items;
    int failed_index; /* statement index of the first error, -1 if none */
    char sqlstate[6];
    char errmsg[300];
};

struct batch {
    struct event_base *base;
    struct db *db;
    struct batch_params p;
    struct item_queue queue;
    size_t queued;
    size_t inflight_records;
    int inflight_jobs;
    struct event *timer;
    bool timer_armed;
    struct batch_stats stats;
};

static void try_flush(struct batch *b, bool force);

static void answer(struct batch *b, struct item *it, enum batch_outcome outcome,
                   const char *message)
{
    struct batch_result res = {.outcome = outcome, .message = message};
    switch (outcome) {
    case BATCH_STORED:
        res.duplicate = it->duplicate;
        memcpy(res.id, it->id, sizeof(res.id));
        memcpy(res.customer_id, it->customer_id, sizeof(res.customer_id));
        if (it->duplicate) {
            b->stats.duplicates++;
        } else {
            b->stats.stored++;
        }
        break;
    case BATCH_INVALID:
        memcpy(res.id, it->rec->id, sizeof(res.id));
        b->stats.rejected++;
        break;
    case BATCH_UNAVAILABLE:
        memcpy(res.id, it->rec->id, sizeof(res.id));
        b->stats.unavailable++;
        break;
    }
    it->cb(&res, it->arg);
    record_free(it->rec);
    free(it->idents_json);
    free(it);
}

static char *idents_json(const struct record *rec)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < rec->n_idents; i++) {
        const struct record_ident *id = &rec->idents[i];
        json_t *o = json_pack("{s:s, s:s, s:b}", "k", normalize_kind_name(id->kind), "v", id->value,
                              "m", !id->never_merge);
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

static int send_batch(PGconn *conn, void *arg)
{
    struct job *job = arg;
    json_t *keys = json_array();
    if (keys == NULL) {
        return -1;
    }
    char key[NORMALIZE_MAX + 32];
    for (size_t i = 0; i < job->n; i++) {
        const struct record *rec = job->items[i]->rec;
        for (size_t k = 0; k < rec->n_idents; k++) {
            snprintf(key, sizeof(key), "%s:%s", normalize_kind_name(rec->idents[k].kind),
                     rec->idents[k].value);
            if (json_array_append_new(keys, json_string(key)) < 0) {
                json_decref(keys);
                return -1;
            }
        }
    }
    char *keys_text = json_dumps(keys, JSON_COMPACT);
    json_decref(keys);
    if (keys_text == NULL) {
        return -1;
    }
    const char *lock_params[1] = {keys_text};
    int ok = PQsendQueryPrepared(conn, STORE_LOCK, 1, lock_params, NULL, NULL, 0);
    free(keys_text);
    if (ok != 1) {
        return -1;
    }
    for (size_t i = 0; i < job->n; i++) {
        const struct record *rec = job->items[i]->rec;
        char duration[24], score[8];
        snprintf(duration, sizeof(duration), "%lld", rec->duration_s);
        snprintf(score, sizeof(score), "%d", rec->score);
        const char *v[STORE_INGEST_NPARAMS] = {
            rec->id,
            rec->source,
            rec->external_id,
            rec->channel,
            rec->direction,
            rec->occurred_at,
            job->items[i]->idents_json,
            rec->name,
            rec->traits_json,
            rec->agent,
            rec->status,
            rec->has_duration ? duration : NULL,
            rec->subject,
            rec->body,
            rec->thread,
            rec->stage,
            rec->sentiment,
            rec->has_score ? score : NULL,
            rec->tags_json,
            rec->attributes_json,
        };
        if (PQsendQueryPrepared(conn, STORE_INGEST, STORE_INGEST_NPARAMS, v, NULL, NULL, 0) != 1) {
            return -1;
        }
    }
    return 0;
}

static void on_result(const PGresult *res, int index, void *arg)
{
    struct job *job = arg;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR) {
        if (job->failed_index < 0) {
            job->failed_index = index;
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            snprintf(job->sqlstate, sizeof(job->sqlstate), "%s", state != NULL ? state : "");
            const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(job->errmsg, sizeof(job->errmsg), "%s",
                     m != NULL ? m : PQresultErrorMessage(res));
        }
        return;
    }
    if (st != PGRES_TUPLES_OK || index == 0) {
        return;
    }
    size_t i = (size_t)index - 1;
    if (i >= job->n || PQntuples(res) != 1 || PQnfields(res) != 3) {
        return;
    }
    struct item *it = job->items[i];
    snprintf(it->id, sizeof(it->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(it->customer_id, sizeof(it->customer_id), "%s", PQgetvalue(res, 0, 1));
    it->duplicate = PQgetvalue(res, 0, 2)[0] == 't';
    it->answered = true;
}

/* Errors that say nothing about the records themselves: run the batch again. */
static bool retryable(const char *sqlstate)
{
    return strncmp(sqlstate, "40", 2) == 0 || strcmp(sqlstate, "55P03") == 0 ||
           strncmp(sqlstate, "53", 2) == 0 || strncmp(sqlstate, "57", 2) == 0 ||
           strncmp(sqlstate, "08", 2) == 0 || sqlstate[0] == '\0';
}

/* Puts items back at the head of the queue, in their original order. */
static void requeue(struct batch *b, struct item **items, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (items[i] == NULL) {
            continue;
        }
        items[i]->answered = false;
        items[i]->attempts++;
        TAILQ_INSERT_HEAD(&b->queue, items[i], link);
        b->queued++;
    }
}

static void on_done(enum db_outcome outcome, void *arg)
{
    struct job *job = arg;
    struct batch *b = job->b;
    b->inflight_jobs--;
    b->inflight_records -= job->n;
    if (outcome == DB_LOST) {
        /* Whether the transaction committed is unknown: no ack, the client resends and the
         * idempotency key makes that safe. */
        for (size_t i = 0; i < job->n; i++) {
            answer(b, job->items[i], BATCH_UNAVAILABLE,
                   "the database connection was lost; the record was not acknowledged, resend it");
        }
    } else if (job->failed_index < 0) {
        for (size_t i = 0; i < job->n; i++) {
            struct item *it = job->items[i];
            if (it->answered) {
                answer(b, it, BATCH_STORED, NULL);
            } else {
                answer(b, it, BATCH_INVALID, "the database returned no result for this record");
            }
        }
    } else {
        size_t bad = (size_t)job->failed_index - 1;
        bool per_record = job->failed_index >= 1 && bad < job->n && !retryable(job->sqlstate);
        b->stats.retries++;
        if (per_record) {
            char msg[400];
            snprintf(msg, sizeof(msg), "rejected by the database: %s", job->errmsg);
            log_warn("record %s from source %s rejected by the database: %s (SQLSTATE %s)",
                     job->items[bad]->rec->id, job->items[bad]->rec->source, job->errmsg,
                     job->sqlstate);
            answer(b, job->items[bad], BATCH_INVALID, msg);
            job->items[bad] = NULL;
        } else {
            log_info("batch of %zu records retried after SQLSTATE %s: %s", job->n, job->sqlstate,
                     job->errmsg);
        }
        /* Records that keep failing for reasons outside themselves are answered so that
         * they cannot circle forever. */
        for (size_t i = 0; i < job->n; i++) {
            if (job->items[i] != NULL && job->items[i]->attempts >= MAX_ATTEMPTS) {
                answer(b, job->items[i], BATCH_UNAVAILABLE,
                       "the database kept failing this batch; resend the record later");
                job->items[i] = NULL;
            }
        }
        requeue(b, job->items, job->n);
    }
    free(job->items);
    free(job);
    try_flush(b, true);
}

static const struct db_job_ops batch_ops = {send_batch, on_result, on_done};

static void fail_all_queued(struct batch *b, const char *message)
{
    struct item *it;
    while ((it = TAILQ_FIRST(&b->queue)) != NULL) {
        TAILQ_REMOVE(&b->queue, it, link);
        b->queued--;
        answer(b, it, BATCH_UNAVAILABLE, message);
    }
}

/* Sends one batch if a connection can take it; force: do not wait for the batch to fill. */
static void try_flush(struct batch *b, bool force)
{
    while (b->queued > 0 && b->inflight_jobs < b->p.max_concurrent &&
           (force || b->queued >= (size_t)b->p.max_records)) {
        size_t n = b->queued < (size_t)b->p.max_records ? b->queued : (size_t)b->p.max_records;
        struct job *job = calloc(1, sizeof(*job));
        struct item **items = calloc(n, sizeof(*items));
        if (job == NULL || items == NULL) {
            free(job);
            free(items);
            log_error("out of memory forming a batch of %zu records; retrying on the next one", n);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            items[i] = TAILQ_FIRST(&b->queue);
            TAILQ_REMOVE(&b->queue, items[i], link);
        }
        b->queued -= n;
        job->b = b;
        job->n = n;
        job->items = items;
        job->failed_index = -1;
        if (db_submit(b->db, &batch_ops, job) < 0) {
            /* Put them back and answer everything queued: nothing can be written now. */
            requeue(b, items, n);
            free(items);
            free(job);
            fail_all_queued(b, "the database is unavailable; the record was not stored, resend "
                               "it later");
            return;
        }
        b->inflight_jobs++;
        b->inflight_records += n;
        b->stats.batches++;
    }
    if (b->queued > 0 && !b->timer_armed && b->inflight_jobs < b->p.max_concurrent) {
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
    TAILQ_INIT(&b->queue);
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
    fail_all_queued(b, "the daemon is shutting down; the record was not stored, resend it");
    event_free(b->timer);
    free(b);
}

int batch_submit(struct batch *b, struct record *rec, batch_cb cb, void *arg)
{
    struct item *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        record_free(rec);
        return -1;
    }
    it->idents_json = idents_json(rec);
    if (it->idents_json == NULL) {
        free(it);
        record_free(rec);
        return -1;
    }
    it->rec = rec;
    it->cb = cb;
    it->arg = arg;
    TAILQ_INSERT_TAIL(&b->queue, it, link);
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
