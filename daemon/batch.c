#include "batch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/queue.h>

#include "jsonw.h"
#include "log.h"
#include "pgarray.h"
#include "resolve.h"
#include "store.h"

/* Whole-batch retries for reasons outside the records (lost or failing database) before a
 * record is answered unavailable. Waiting for another batch of touchline's own is not one of
 * them: see contention(). */
#define MAX_ATTEMPTS 20

/* Raised by touchline.try_lock_customer_identifiers (sql/006_identity.sql): a merge needs
 * identifier locks another writer holds; DETAIL lists every key it needs. */
#define SQLSTATE_MERGE_LOCKS "TL001"

/* At most this many keys carried from a failed attempt to the next one of a lane. */
#define MAX_EXTRA_KEYS 65536

/* Statements of the first step: lock, lookup, duplicates. */
#define STEP1_STATEMENTS 3

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

/* What the first step learned, copied out of the results. */
struct known_store {
    struct resolve_known *rows;
    size_t n;
    char *arena;
};

struct job {
    struct batch *b;
    struct lane *lane;
    size_t n;
    struct timespec sent;
    struct item **items;
    /* Step one. */
    struct known_store known;
    bool *skip;   /* duplicate of a stored record or of an earlier one in the batch */
    long *dup_of; /* index of the earlier record in this batch, or -1 */
    char (*dup_id)[RECORD_UUID_LEN + 1];
    char (*dup_customer)[RECORD_UUID_LEN + 1];
    bool *erased; /* a tombstone of an erasure matches it */
    /* Between the steps, only when the first plan merges customers: what the database says
     * about them (pairs kept apart), and the plan made again with it. */
    int facts_index; /* statement index of the question, -1 if not asked */
    struct resolve_apart *apart;
    size_t n_apart;
    struct resolve_count *counts;
    size_t n_counts;
    char *facts_arena;
    /* Step two. */
    struct resolve_plan plan;
    bool planned;
    int interactions_index; /* statement index of the insert, -1 if none */
    bool *inserted;
    int status_index;    /* statement index of the status updates, -1 if none */
    size_t *status_item; /* the item of each status update sent, in order */
    size_t n_status;
    bool *updated; /* a duplicate whose status moved the stored record's forward */
    /* The first error. */
    int failed_index;
    char sqlstate[6];
    char errmsg[300];
    char *detail; /* its DETAIL, or NULL */
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
    resolve_plan_free(&job->plan);
    free(job->known.rows);
    free(job->known.arena);
    free(job->skip);
    free(job->dup_of);
    free(job->dup_id);
    free(job->dup_customer);
    free(job->erased);
    free(job->inserted);
    free(job->status_item);
    free(job->updated);
    free(job->items);
    free(job->detail);
    free(job->apart);
    free(job->counts);
    free(job->facts_arena);
    free(job);
}

static int send_prepared(PGconn *conn, const char *name, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* Sends a statement whose parameters are the literals of n arrays, then frees them. */
static int send_arrays(PGconn *conn, const char *name, struct pgarray *cols, int n)
{
    const char *params[STORE_INTERACTION_COLUMNS];
    int rc = 0;
    for (int c = 0; c < n; c++) {
        params[c] = pgarray_text(&cols[c]);
        rc |= params[c] == NULL ? -1 : 0;
    }
    if (rc == 0) {
        rc = send_prepared(conn, name, n, params);
    }
    for (int c = 0; c < n; c++) {
        pgarray_free(&cols[c]);
    }
    return rc;
}

/* Step one: lock the batch's identifiers, read what is known about them and its records. */
static int send_step1(PGconn *conn, void *arg)
{
    struct job *job = arg;
    struct pgarray keys[2], dups[4];
    for (int c = 0; c < 4; c++) {
        pgarray_init(&dups[c]);
    }
    for (int c = 0; c < 2; c++) {
        pgarray_init(&keys[c]);
    }
    for (size_t i = 0; i < job->n; i++) {
        const struct record *r = job->items[i]->rec;
        for (size_t k = 0; k < r->n_idents; k++) {
            pgarray_add(&keys[0], normalize_kind_name(r->idents[k].kind));
            pgarray_add(&keys[1], r->idents[k].value);
        }
        pgarray_add(&dups[0], r->id);
        pgarray_add(&dups[1], r->id_given || r->external_id == NULL ? "t" : "f");
        pgarray_add(&dups[2], r->source);
        pgarray_add(&dups[3], r->external_id);
    }
    struct pgarray extra;
    pgarray_init(&extra);
    for (size_t e = 0; e < job->lane->n_extra; e++) {
        char key[24];
        snprintf(key, sizeof(key), "%lld", job->lane->extra[e]);
        pgarray_add(&extra, key);
    }
    const char *k[3] = {pgarray_text(&keys[0]), pgarray_text(&keys[1]),
                        job->lane->n_extra > 0 ? pgarray_text(&extra) : NULL};
    int rc = k[0] != NULL && k[1] != NULL && (job->lane->n_extra == 0 || k[2] != NULL) &&
                     send_prepared(conn, STORE_LOCK, 3, k) == 0 &&
                     send_prepared(conn, STORE_LOOKUP, 2, k) == 0
                 ? 0
                 : -1;
    pgarray_free(&keys[0]);
    pgarray_free(&keys[1]);
    pgarray_free(&extra);
    if (rc < 0 || send_arrays(conn, STORE_DUPLICATES, dups, 4) < 0) {
        for (int c = 0; c < 4; c++) {
            pgarray_free(&dups[c]);
        }
        return -1;
    }
    /* No Sync yet: the transaction stays open while the daemon plans step two. */
    return PQsendFlushRequest(conn) == 1 ? 0 : -1;
}

static int copy_known(struct job *job, const PGresult *res)
{
    int rows = PQntuples(res);
    size_t bytes = 0;
    for (int r = 0; r < rows; r++) {
        bytes += (size_t)PQgetlength(res, r, 1) + (size_t)PQgetlength(res, r, 2) + 2;
    }
    job->known.rows = calloc((size_t)rows + 1, sizeof(*job->known.rows));
    job->known.arena = malloc(bytes + 1);
    if (job->known.rows == NULL || job->known.arena == NULL) {
        return -1;
    }
    char *a = job->known.arena;
    for (int r = 0; r < rows; r++) {
        struct resolve_known *k = &job->known.rows[job->known.n];
        if (normalize_kind_parse(PQgetvalue(res, r, 0), &k->kind) < 0) {
            continue;
        }
        size_t vl = (size_t)PQgetlength(res, r, 1);
        memcpy(a, PQgetvalue(res, r, 1), vl + 1);
        k->value = a;
        a += vl + 1;
        size_t cl = (size_t)PQgetlength(res, r, 2);
        memcpy(a, PQgetvalue(res, r, 2), cl + 1);
        k->customer = a;
        a += cl + 1;
        job->known.n++;
    }
    return 0;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

struct sort_ctx {
    const struct job *job;
    int key; /* 0: id, 1: (source, external_id) */
};

static int cmp_items(const void *pa, const void *pb, void *arg)
{
    const struct sort_ctx *ctx = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const struct record *ra = ctx->job->items[a]->rec, *rb = ctx->job->items[b]->rec;
    int c = ctx->key == 0 ? strcmp(ra->id, rb->id)
                          : (cmp_str(ra->source, rb->source) != 0
                                 ? cmp_str(ra->source, rb->source)
                                 : cmp_str(ra->external_id, rb->external_id));
    return c != 0 ? c : (a < b ? -1 : a > b);
}

/* Marks records repeated inside the batch as duplicates of their first occurrence. */
static int find_repeats(struct job *job)
{
    size_t *order = malloc(job->n * sizeof(*order));
    if (order == NULL) {
        return -1;
    }
    for (int key = 0; key < 2; key++) {
        for (size_t i = 0; i < job->n; i++) {
            order[i] = i;
        }
        struct sort_ctx ctx = {job, key};
        qsort_r(order, job->n, sizeof(*order), cmp_items, &ctx);
        for (size_t i = 1; i < job->n; i++) {
            const struct record *prev = job->items[order[i - 1]]->rec;
            const struct record *cur = job->items[order[i]]->rec;
            bool same = key == 0 ? strcmp(prev->id, cur->id) == 0
                                 : cur->external_id != NULL && prev->external_id != NULL &&
                                       strcmp(prev->source, cur->source) == 0 &&
                                       strcmp(prev->external_id, cur->external_id) == 0;
            size_t later = order[i];
            if (same && !job->skip[later]) {
                /* Point at the earliest occurrence, itself possibly stored already. */
                long first = (long)order[i - 1];
                while (job->dup_of[first] >= 0) {
                    first = job->dup_of[first];
                }
                job->skip[later] = true;
                job->dup_of[later] = first;
            }
        }
    }
    free(order);
    return 0;
}

/* The identifiers a record carried, as JSON ([{"k":…,"v":…,"m":…}]), kept with the record. */
static char *identifiers_json(const struct record *r)
{
    struct jsonw w;
    jsonw_init(&w);
    jsonw_array_begin(&w);
    for (size_t k = 0; k < r->n_idents; k++) {
        jsonw_object_begin(&w);
        jsonw_key(&w, "k");
        jsonw_string(&w, normalize_kind_name(r->idents[k].kind));
        jsonw_key(&w, "v");
        jsonw_string(&w, r->idents[k].value);
        jsonw_key(&w, "m");
        jsonw_bool(&w, !r->idents[k].never_merge);
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    return jsonw_take(&w, NULL);
}

static int send_interactions(PGconn *conn, struct job *job)
{
    struct pgarray cols[STORE_INTERACTION_COLUMNS];
    for (int c = 0; c < STORE_INTERACTION_COLUMNS; c++) {
        pgarray_init(&cols[c]);
    }
    int rc = 0;
    for (size_t i = 0; i < job->n && rc == 0; i++) {
        if (job->skip[i]) {
            continue;
        }
        const struct record *r = job->items[i]->rec;
        char duration[24], score[8];
        snprintf(duration, sizeof(duration), "%lld", r->duration_s);
        snprintf(score, sizeof(score), "%d", r->score);
        char *idents = identifiers_json(r);
        /* Tags as an array literal of their own, which the server casts to text[] as it
         * reads the column: cheaper than parsing them as JSON row by row. */
        struct pgarray tags;
        pgarray_init(&tags);
        for (size_t t = 0; t < r->n_tags; t++) {
            pgarray_add(&tags, r->tags[t]);
        }
        const char *tags_text = r->tags_json != NULL ? pgarray_text(&tags) : NULL;
        const char *v[STORE_INTERACTION_COLUMNS] = {
            r->id,          r->source,
            r->external_id, job->plan.record_customer[i],
            r->channel,     r->direction,
            r->occurred_at, r->agent,
            r->status,      r->has_duration ? duration : NULL,
            r->subject,     r->body,
            r->thread,      r->stage,
            r->sentiment,   r->has_score ? score : NULL,
            tags_text,      r->attributes_json,
            idents,
        };
        rc = idents == NULL || (r->tags_json != NULL && tags_text == NULL) ? -1 : 0;
        for (int c = 0; c < STORE_INTERACTION_COLUMNS && rc == 0; c++) {
            pgarray_add(&cols[c], v[c]);
        }
        free(idents);
        pgarray_free(&tags);
    }
    if (rc != 0) {
        for (int c = 0; c < STORE_INTERACTION_COLUMNS; c++) {
            pgarray_free(&cols[c]);
        }
        return -1;
    }
    return send_arrays(conn, STORE_ADD_INTERACTIONS, cols, STORE_INTERACTION_COLUMNS);
}

/*
 * Sends the status updates of the batch: every record that repeats one already stored (or
 * one earlier in the batch) and carries a status. The database moves the stored status only
 * forward (sql/007_status_updates.sql); index is the statement's place in the pipeline.
 */
static int send_statuses(PGconn *conn, struct job *job, int index)
{
    struct pgarray cols[5];
    for (int c = 0; c < 5; c++) {
        pgarray_init(&cols[c]);
    }
    job->n_status = 0;
    for (size_t i = 0; i < job->n; i++) {
        const struct record *r = job->items[i]->rec;
        if (!job->skip[i] || r->status == NULL) {
            continue;
        }
        long first = job->dup_of[i];
        const char *target = first < 0          ? job->dup_id[i]
                             : job->skip[first] ? job->dup_id[first]
                                                : job->items[first]->rec->id;
        if (target[0] == '\0') {
            continue;
        }
        char duration[24];
        snprintf(duration, sizeof(duration), "%lld", r->duration_s);
        pgarray_add(&cols[0], target);
        pgarray_add(&cols[1], r->status);
        pgarray_add(&cols[2], r->occurred_at);
        pgarray_add(&cols[3], r->has_duration ? duration : NULL);
        pgarray_add(&cols[4], r->attributes_json);
        job->status_item[job->n_status++] = i;
    }
    if (job->n_status == 0) {
        for (int c = 0; c < 5; c++) {
            pgarray_free(&cols[c]);
        }
        return 0;
    }
    job->status_index = index;
    return send_arrays(conn, STORE_APPLY_STATUSES, cols, 5);
}

/* Sends customers to create or update: ids, names and traits (JSON texts) as arrays. The
 * plan's two structs share these fields, so one sender takes them through a stride. */
static int send_customers(PGconn *conn, const char *statement, const char *const *ids,
                          const char *const *names, char *const *traits, size_t n, size_t stride)
{
    struct pgarray cols[3];
    for (int c = 0; c < 3; c++) {
        pgarray_init(&cols[c]);
    }
    for (size_t i = 0; i < n; i++) {
        pgarray_add(&cols[0], *(const char *const *)((const char *)ids + i * stride));
        pgarray_add(&cols[1], *(const char *const *)((const char *)names + i * stride));
        pgarray_add(&cols[2], *(char *const *)((const char *)traits + i * stride));
    }
    return send_arrays(conn, statement, cols, 3);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Queues the batch's notification for the live streams (STORE_NOTIFY): each customer that
 * got a record once, and "loser>survivor" for each merge, in chunks that fit a payload.
 */
static int send_notify(PGconn *conn, struct job *job)
{
    const struct resolve_plan *plan = &job->plan;
    const char **ids = malloc((job->n + 1) * sizeof(*ids));
    if (ids == NULL) {
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < job->n; i++) {
        if (!job->skip[i]) {
            ids[n++] = plan->record_customer[i];
        }
    }
    qsort(ids, n, sizeof(*ids), cmp_strp);
    struct pgarray chunks;
    pgarray_init(&chunks);
    char chunk[STORE_NOTIFY_CHUNK + 2 * RECORD_UUID_LEN + 2];
    size_t len = 0;
    /* Customers first, then merges; a token goes where the chunk has room for it. */
    for (size_t i = 0, m = 0, l = 0; i < n || m < plan->n_merges;) {
        char token[2 * RECORD_UUID_LEN + 2];
        if (i < n) {
            if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0) {
                i++;
                continue;
            }
            snprintf(token, sizeof(token), "%s", ids[i++]);
        } else {
            const struct resolve_merge *mg = &plan->merges[m];
            if (l >= mg->n_losers) {
                m++;
                l = 0;
                continue;
            }
            snprintf(token, sizeof(token), "%s>%s", mg->losers[l], mg->finals[l]);
            l++;
        }
        size_t tl = strlen(token);
        if (len > 0 && len + 1 + tl > STORE_NOTIFY_CHUNK) {
            pgarray_add(&chunks, chunk);
            len = 0;
        }
        len +=
            (size_t)snprintf(chunk + len, sizeof(chunk) - len, "%s%s", len > 0 ? " " : "", token);
    }
    if (len > 0) {
        pgarray_add(&chunks, chunk);
    }
    free(ids);
    if (chunks.n == 0) {
        pgarray_free(&chunks);
        return 0;
    }
    return send_arrays(conn, STORE_NOTIFY, &chunks, 1);
}

/* Plans the batch from what step one (and the facts, once known) said. */
static int make_plan(struct job *job, const struct resolve_facts *facts)
{
    struct record **recs = malloc(job->n * sizeof(*recs));
    if (recs == NULL) {
        return -1;
    }
    for (size_t i = 0; i < job->n; i++) {
        recs[i] = job->items[i]->rec;
    }
    resolve_plan_free(&job->plan);
    int rc = resolve_batch(recs, job->skip, job->n, job->known.rows, job->known.n, facts,
                           &job->b->p.limits, &job->plan);
    free(recs);
    return rc;
}

/* Asks what the database knows about the customers the plan merges: the statement at index
 * `index`, results read by copy_facts. Flushed, not synced: the transaction stays open. */
static int send_facts(PGconn *conn, struct job *job, int index)
{
    struct pgarray ids;
    pgarray_init(&ids);
    for (size_t m = 0; m < job->plan.n_merges; m++) {
        const struct resolve_merge *mg = &job->plan.merges[m];
        pgarray_add(&ids, mg->survivor);
        for (size_t l = 0; l < mg->n_losers; l++) {
            pgarray_add(&ids, mg->losers[l]);
        }
    }
    job->facts_index = index;
    int rc = send_arrays(conn, STORE_MERGE_FACTS, &ids, 1);
    return rc == 0 && PQsendFlushRequest(conn) == 1 ? 0 : -1;
}

/* Keeps the facts' answer: pairs kept apart (rows with other set) and identifier counts
 * (rows with kind set). */
static int copy_facts(struct job *job, const PGresult *res)
{
    int rows = PQntuples(res);
    job->apart = calloc((size_t)rows + 1, sizeof(*job->apart));
    job->counts = calloc((size_t)rows + 1, sizeof(*job->counts));
    job->facts_arena = malloc((size_t)rows * 2 * (RECORD_UUID_LEN + 1) + 1);
    if (job->apart == NULL || job->counts == NULL || job->facts_arena == NULL) {
        return -1;
    }
    char *a = job->facts_arena;
    for (int r = 0; r < rows; r++) {
        if (PQgetlength(res, r, 0) != RECORD_UUID_LEN) {
            continue;
        }
        struct resolve_count *c = &job->counts[job->n_counts];
        if (!PQgetisnull(res, r, 2) && normalize_kind_parse(PQgetvalue(res, r, 2), &c->kind) == 0) {
            memcpy(a, PQgetvalue(res, r, 0), RECORD_UUID_LEN + 1);
            c->customer = a;
            a += RECORD_UUID_LEN + 1;
            c->n = (int)strtol(PQgetvalue(res, r, 3), NULL, 10);
            job->n_counts++;
            continue;
        }
        if (PQgetisnull(res, r, 1) || PQgetlength(res, r, 1) != RECORD_UUID_LEN) {
            continue;
        }
        struct resolve_apart *ap = &job->apart[job->n_apart++];
        memcpy(a, PQgetvalue(res, r, 0), RECORD_UUID_LEN + 1);
        ap->a = a;
        a += RECORD_UUID_LEN + 1;
        memcpy(a, PQgetvalue(res, r, 1), RECORD_UUID_LEN + 1);
        ap->b = a;
        a += RECORD_UUID_LEN + 1;
    }
    return 0;
}

/* The merges a limit refused, for the review queue (GET /v1/conflicts). */
static int send_conflicts(PGconn *conn, struct job *job)
{
    struct pgarray cols[6];
    for (int c = 0; c < 6; c++) {
        pgarray_init(&cols[c]);
    }
    int rc = 0;
    for (size_t i = 0; i < job->plan.n_conflicts && rc == 0; i++) {
        const struct resolve_conflict *c = &job->plan.conflicts[i];
        const struct record *r = job->items[c->record]->rec;
        char *idents = identifiers_json(r);
        char would[16];
        snprintf(would, sizeof(would), "%d", c->would_have);
        rc = idents != NULL ? 0 : -1;
        pgarray_add(&cols[0], r->id);
        pgarray_add(&cols[1], c->customer);
        pgarray_add(&cols[2], c->other);
        pgarray_add(&cols[3], normalize_kind_name(c->kind));
        pgarray_add(&cols[4], would);
        pgarray_add(&cols[5], idents);
        free(idents);
    }
    if (rc < 0) {
        for (int c = 0; c < 6; c++) {
            pgarray_free(&cols[c]);
        }
        return -1;
    }
    log_info("%zu merge(s) refused by an identifier limit in a batch of %zu records; see GET "
             "/v1/conflicts",
             job->plan.n_conflicts, job->n);
    return send_arrays(conn, STORE_ADD_CONFLICTS, cols, 6);
}

/* Step two: apply the plan set-wise, its statements from index `index` on, then Sync, which
 * commits. */
static int send_step2(PGconn *conn, struct job *job, int index)
{
    job->planned = true;
    struct resolve_plan *plan = &job->plan;
    if (plan->n_created > 0) {
        const struct resolve_new_customer *c = plan->created;
        if (send_customers(conn, STORE_CREATE_CUSTOMERS, &c->id, &c->name, &c->traits_json,
                           plan->n_created, sizeof(*c)) < 0) {
            return -1;
        }
        index++;
    }
    if (plan->n_merges > 0) {
        struct pgarray cols[6];
        for (int c = 0; c < 6; c++) {
            pgarray_init(&cols[c]);
        }
        size_t merged = 0;
        for (size_t m = 0; m < plan->n_merges; m++) {
            const struct resolve_merge *mg = &plan->merges[m];
            const struct record *r = job->items[mg->record]->rec;
            char *idents = identifiers_json(r);
            if (idents == NULL) {
                for (int c = 0; c < 6; c++) {
                    pgarray_free(&cols[c]);
                }
                return -1;
            }
            for (size_t l = 0; l < mg->n_losers; l++) {
                pgarray_add(&cols[0], mg->survivor);
                pgarray_add(&cols[1], mg->losers[l]);
                pgarray_add(&cols[2], mg->finals[l]);
                pgarray_add(&cols[3], r->id);
                pgarray_add(&cols[4], r->source);
                pgarray_add(&cols[5], idents);
                merged++;
            }
            free(idents);
        }
        log_info("merging %zu customer(s) in a batch of %zu records", merged, job->n);
        if (send_arrays(conn, STORE_MERGE, cols, 6) < 0) {
            return -1;
        }
        index++;
    }
    if (plan->n_updates > 0) {
        const struct resolve_update *u = plan->updates;
        if (send_customers(conn, STORE_UPDATE_CUSTOMERS, &u->id, &u->name, &u->traits_json,
                           plan->n_updates, sizeof(*u)) < 0) {
            return -1;
        }
        index++;
    }
    if (plan->n_identities > 0) {
        struct pgarray cols[4];
        for (int c = 0; c < 4; c++) {
            pgarray_init(&cols[c]);
        }
        for (size_t i = 0; i < plan->n_identities; i++) {
            pgarray_add(&cols[0], normalize_kind_name(plan->identities[i].kind));
            pgarray_add(&cols[1], plan->identities[i].value);
            pgarray_add(&cols[2], plan->identities[i].customer);
            pgarray_add(&cols[3], job->items[plan->identities[i].record]->rec->id);
        }
        if (send_arrays(conn, STORE_ADD_IDENTITIES, cols, 4) < 0) {
            return -1;
        }
        index++;
    }
    if (plan->n_conflicts > 0) {
        if (send_conflicts(conn, job) < 0) {
            return -1;
        }
        index++;
    }
    size_t count = 0;
    for (size_t i = 0; i < job->n; i++) {
        count += !job->skip[i];
    }
    job->interactions_index = -1;
    if (count > 0) {
        if (send_interactions(conn, job) < 0) {
            return -1;
        }
        job->interactions_index = index;
        index++;
    }
    /* After the insert: an update may be for a record of this very batch. */
    if (send_statuses(conn, job, index) < 0) {
        return -1;
    }
    if (job->b->p.notify && send_notify(conn, job) < 0) {
        return -1;
    }
    return PQpipelineSync(conn) == 1 ? 0 : -1;
}

static void note_error(struct job *job, const PGresult *res, int index)
{
    if (job->failed_index >= 0) {
        return;
    }
    job->failed_index = index;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(job->sqlstate, sizeof(job->sqlstate), "%s", state != NULL ? state : "");
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(job->errmsg, sizeof(job->errmsg), "%s", m != NULL ? m : PQresultErrorMessage(res));
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    job->detail = detail != NULL ? strdup(detail) : NULL;
}

static int on_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct job *job = arg;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR) {
        note_error(job, res, index);
    } else if (st == PGRES_TUPLES_OK && index == 1) {
        if (copy_known(job, res) < 0) {
            return -1;
        }
    } else if (st == PGRES_TUPLES_OK && index == 2) {
        for (int r = 0; r < PQntuples(res); r++) {
            long n = strtol(PQgetvalue(res, r, 0), NULL, 10) - 1; /* ordinality counts from 1 */
            if (n >= 0 && (size_t)n < job->n && PQgetvalue(res, r, 3)[0] == 't') {
                /* Erased wins over stored: a copy stored by a batch that committed after the
                 * erasure began is gone with it. */
                job->skip[n] = true;
                job->erased[n] = true;
                continue;
            }
            if (n < 0 || (size_t)n >= job->n || job->skip[n]) {
                continue;
            }
            job->skip[n] = true;
            snprintf(job->dup_id[n], sizeof(job->dup_id[n]), "%s", PQgetvalue(res, r, 1));
            snprintf(job->dup_customer[n], sizeof(job->dup_customer[n]), "%s",
                     PQgetvalue(res, r, 2));
        }
    } else if (st == PGRES_TUPLES_OK && index == job->facts_index) {
        if (copy_facts(job, res) < 0) {
            return -1;
        }
    } else if (st == PGRES_TUPLES_OK && index == job->status_index) {
        for (int r = 0; r < PQntuples(res); r++) {
            long k = strtol(PQgetvalue(res, r, 0), NULL, 10) - 1;
            if (k >= 0 && (size_t)k < job->n_status) {
                job->updated[job->status_item[k]] = true;
            }
        }
    } else if (st == PGRES_COMMAND_OK && index == job->interactions_index) {
        /* All or nothing: the insert has no ON CONFLICT. */
        for (size_t i = 0; i < job->n; i++) {
            job->inserted[i] = !job->skip[i];
        }
    }
    if (index == STEP1_STATEMENTS - 1) {
        if (job->failed_index >= 0) {
            return PQpipelineSync(conn) == 1 ? 0 : -1;
        }
        if (find_repeats(job) < 0 || make_plan(job, NULL) < 0) {
            return -1;
        }
        /* Only a batch that merges asks whether its customers may be merged. */
        return job->plan.n_merges > 0 ? send_facts(conn, job, STEP1_STATEMENTS)
                                      : send_step2(conn, job, STEP1_STATEMENTS);
    }
    if (index == job->facts_index) {
        if (job->failed_index >= 0) {
            return PQpipelineSync(conn) == 1 ? 0 : -1;
        }
        struct resolve_facts facts = {job->apart, job->n_apart, job->counts, job->n_counts};
        if (make_plan(job, &facts) < 0) {
            return -1;
        }
        return send_step2(conn, job, index + 1);
    }
    return 0;
}

/* Errors that say nothing about the records themselves: run the batch again. */
static bool retryable(const char *sqlstate)
{
    return strncmp(sqlstate, "40", 2) == 0 || strcmp(sqlstate, "55P03") == 0 ||
           strcmp(sqlstate, SQLSTATE_MERGE_LOCKS) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
           strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "08", 2) == 0 ||
           sqlstate[0] == '\0';
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
    /* A record repeated inside the batch is answered as its first occurrence was stored. */
    for (size_t i = 0; i < job->n; i++) {
        long first = job->dup_of[i];
        if (first < 0) {
            continue;
        }
        if (job->erased[first]) {
            job->erased[i] = true;
        } else if (job->dup_customer[first][0] != '\0') {
            memcpy(job->dup_id[i], job->dup_id[first], sizeof(job->dup_id[i]));
            memcpy(job->dup_customer[i], job->dup_customer[first], sizeof(job->dup_customer[i]));
        } else if (job->inserted[first]) {
            snprintf(job->dup_id[i], sizeof(job->dup_id[i]), "%s", job->items[first]->rec->id);
            snprintf(job->dup_customer[i], sizeof(job->dup_customer[i]), "%s",
                     job->plan.record_customer[first]);
        }
    }
    size_t again = 0;
    for (size_t i = 0; i < job->n; i++) {
        struct item *it = job->items[i];
        if (job->erased[i]) {
            answer_erased(b, it);
            job->items[i] = NULL;
        } else if (job->skip[i] && job->dup_customer[i][0] != '\0') {
            answer_updated(b, it, BATCH_STORED, true, job->updated[i], job->dup_id[i],
                           job->dup_customer[i], NULL);
            job->items[i] = NULL;
        } else if (!job->skip[i] && job->inserted[i]) {
            answer(b, it, BATCH_STORED, false, NULL, job->plan.record_customer[i], NULL);
            job->items[i] = NULL;
        } else {
            /* Stored meanwhile by another writer (or repeating such a record): a retry
             * finds it and answers duplicate. */
            again++;
        }
    }
    if (again > 0) {
        b->stats.retries++;
        log_info("%zu records of a batch were stored meanwhile by another writer; rechecking",
                 again);
        requeue(b, job->items, job->n, true);
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
    } else if (job->failed_index < 0 && job->planned) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        metrics_observe(&b->stats.records, (double)job->n);
        metrics_observe(&b->stats.commit_seconds, (double)(now.tv_sec - job->sent.tv_sec) +
                                                      (now.tv_nsec - job->sent.tv_nsec) / 1e9);
        b->stats.merges += job->plan.n_merges;
        b->stats.conflicts += job->plan.n_conflicts;
        job->lane->n_extra = 0;
        finish_committed(b, job);
    } else {
        bool per_record = job->failed_index >= STEP1_STATEMENTS && !retryable(job->sqlstate);
        b->stats.retries++;
        if (per_record && job->n == 1) {
            char msg[400];
            snprintf(msg, sizeof(msg), "rejected by the database: %s", job->errmsg);
            log_warn("record %s from source %s rejected by the database: %s (SQLSTATE %s)",
                     job->items[0]->rec->id, job->items[0]->rec->source, job->errmsg,
                     job->sqlstate);
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
                     job->n, job->sqlstate, job->errmsg, half, job->n - half);
            job->items[0]->chunk = half;
            job->items[half]->chunk = job->n - half;
            requeue(b, job->items, job->n, false);
            job_free(job);
            try_flush(b, true);
            return;
        } else if (strcmp(job->sqlstate, SQLSTATE_MERGE_LOCKS) == 0) {
            b->stats.merge_waits++;
            size_t keys = lane_add_extra(job->lane, job->detail);
            log_info("batch of %zu records: %s; running it again, taking its %zu merge "
                     "lock(s) in order with its own",
                     job->n, job->errmsg, keys);
        } else {
            log_info("batch of %zu records retried after SQLSTATE %s: %s", job->n,
                     job->sqlstate[0] ? job->sqlstate : "-", job->errmsg);
        }
        /* Records that keep failing for reasons outside themselves are answered so that
         * they cannot circle forever. */
        for (size_t i = 0; i < job->n; i++) {
            if (job->items[i] != NULL && job->items[i]->attempts >= MAX_ATTEMPTS) {
                log_warn("record %s answered unavailable after %d failed attempts, the last "
                         "with SQLSTATE %s: %s",
                         job->items[i]->rec->id, MAX_ATTEMPTS, job->sqlstate, job->errmsg);
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
        requeue(b, job->items, job->n, !contention(job->sqlstate));
    }
    job_free(job);
    try_flush(b, true);
}

static const struct db_job_ops batch_ops = {send_step1, on_result, on_done};

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

static struct job *job_new(struct batch *b, size_t n)
{
    struct job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return NULL;
    }
    job->b = b;
    job->n = n;
    job->failed_index = -1;
    job->facts_index = -1;
    job->interactions_index = -1;
    job->items = calloc(n, sizeof(*job->items));
    job->skip = calloc(n, sizeof(*job->skip));
    job->dup_of = malloc(n * sizeof(*job->dup_of));
    job->dup_id = calloc(n, sizeof(*job->dup_id));
    job->dup_customer = calloc(n, sizeof(*job->dup_customer));
    job->inserted = calloc(n, sizeof(*job->inserted));
    job->erased = calloc(n, sizeof(*job->erased));
    job->status_index = -1;
    job->status_item = calloc(n, sizeof(*job->status_item));
    job->updated = calloc(n, sizeof(*job->updated));
    if (job->items == NULL || job->skip == NULL || job->dup_of == NULL || job->dup_id == NULL ||
        job->dup_customer == NULL || job->inserted == NULL || job->status_item == NULL ||
        job->erased == NULL || job->updated == NULL) {
        job_free(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        job->dup_of[i] = -1;
    }
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
        struct job *job = job_new(b, n);
        if (job == NULL) {
            log_error("out of memory forming a batch of %zu records; retrying on the next one", n);
            return;
        }
        job->lane = l;
        for (size_t i = 0; i < n; i++) {
            job->items[i] = TAILQ_FIRST(&l->queue);
            TAILQ_REMOVE(&l->queue, job->items[i], link);
            job->items[i]->chunk = 0;
        }
        l->queued -= n;
        b->queued -= n;
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
