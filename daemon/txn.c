#include "txn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "log.h"
#include "pgarray.h"
#include "resolve.h"
#include "store.h"

/* The statement each step runs. */
static const char *const step_statement[TXN_STEP_COUNT] = {
    [TXN_LOCK] = STORE_LOCK,
    [TXN_LOOKUP] = STORE_LOOKUP,
    [TXN_DUPLICATES] = STORE_DUPLICATES,
    [TXN_MERGE_FACTS] = STORE_MERGE_FACTS,
    [TXN_CREATE_CUSTOMERS] = STORE_CREATE_CUSTOMERS,
    [TXN_MERGE] = STORE_MERGE,
    [TXN_UPDATE_CUSTOMERS] = STORE_UPDATE_CUSTOMERS,
    [TXN_ADD_IDENTITIES] = STORE_ADD_IDENTITIES,
    [TXN_ADD_CONFLICTS] = STORE_ADD_CONFLICTS,
    [TXN_ADD_INTERACTIONS] = STORE_ADD_INTERACTIONS,
    [TXN_APPLY_STATUSES] = STORE_APPLY_STATUSES,
    [TXN_NOTIFY] = STORE_XACT_ID,
};

/* What the lookup learned, copied out of its result. */
struct known_store {
    struct resolve_known *rows;
    size_t n;
    char *arena;
};

struct txn {
    struct record **recs;
    size_t n;
    const struct resolve_limits *limits;
    const long long *extra;
    size_t n_extra;
    /* The steps sent, in order: sent[i] is what the i-th result answers. */
    enum txn_step sent[TXN_STEP_COUNT];
    int n_sent;
    /* The first half. */
    struct known_store known;
    bool *skip;   /* duplicate of a stored record or of an earlier one in the batch */
    long *dup_of; /* index of the earlier record in this batch, or -1 */
    char (*dup_id)[RECORD_UUID_LEN + 1];
    char (*dup_customer)[RECORD_UUID_LEN + 1];
    bool *erased; /* a tombstone of an erasure matches it */
    /* Between the halves, only when the first plan merges customers: what the database says
     * about them (pairs kept apart, identifier counts); the plan is then made again. */
    struct resolve_apart *apart;
    size_t n_apart;
    struct resolve_count *counts;
    size_t n_counts;
    char *facts_arena;
    /* The second half. */
    struct resolve_plan plan;
    bool planned;
    bool inserted;       /* the insert of the records succeeded (all or nothing) */
    size_t *status_item; /* the record of each status update sent, in order */
    size_t n_status;
    bool *updated;                /* a duplicate whose status moved the stored record's forward */
    bool notify;                  /* NOTIFY the batch's customers after COMMIT (live streams) */
    struct pgarray notify_chunks; /* what to notify, ready when TXN_NOTIFY answered */
    char xact_id[24];             /* the batch's transaction id, from TXN_NOTIFY */
    bool settled;                 /* repeats resolved after the commit */
    /* The first error. */
    bool failed;
    enum txn_step failed_step;
    char sqlstate[6];
    char errmsg[300];
    char *detail; /* its DETAIL, or NULL */
};

void txn_free(struct txn *t)
{
    if (t == NULL) {
        return;
    }
    resolve_plan_free(&t->plan);
    pgarray_free(&t->notify_chunks);
    free(t->known.rows);
    free(t->known.arena);
    free(t->skip);
    free(t->dup_of);
    free(t->dup_id);
    free(t->dup_customer);
    free(t->erased);
    free(t->status_item);
    free(t->updated);
    free(t->recs);
    free(t->detail);
    free(t->apart);
    free(t->counts);
    free(t->facts_arena);
    free(t);
}

struct txn *txn_new(struct record *const *recs, size_t n, const struct txn_params *p)
{
    struct txn *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->n = n;
    t->notify = p->notify;
    pgarray_init(&t->notify_chunks);
    t->limits = p->limits;
    t->extra = p->extra;
    t->n_extra = p->n_extra;
    t->erased = calloc(n, sizeof(*t->erased));
    t->status_item = calloc(n, sizeof(*t->status_item));
    t->updated = calloc(n, sizeof(*t->updated));
    t->recs = malloc(n * sizeof(*t->recs));
    t->skip = calloc(n, sizeof(*t->skip));
    t->dup_of = malloc(n * sizeof(*t->dup_of));
    t->dup_id = calloc(n, sizeof(*t->dup_id));
    t->dup_customer = calloc(n, sizeof(*t->dup_customer));
    if (t->recs == NULL || t->skip == NULL || t->dup_of == NULL || t->dup_id == NULL ||
        t->dup_customer == NULL || t->erased == NULL || t->status_item == NULL ||
        t->updated == NULL) {
        txn_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        t->recs[i] = recs[i];
        t->dup_of[i] = -1;
    }
    return t;
}

/* Sends the statement of a step and notes which step the next result answers. */
static int send_step(struct txn *t, PGconn *conn, enum txn_step step, int n,
                     const char *const *params)
{
    if (PQsendQueryPrepared(conn, step_statement[step], n, params, NULL, NULL, 0) != 1) {
        return -1;
    }
    t->sent[t->n_sent++] = step;
    return 0;
}

/* Sends a step whose parameters are the literals of n arrays, then frees them. */
static int send_arrays(struct txn *t, PGconn *conn, enum txn_step step, struct pgarray *cols, int n)
{
    const char *params[STORE_IC_COUNT];
    int rc = 0;
    for (int c = 0; c < n; c++) {
        params[c] = pgarray_text(&cols[c]);
        rc |= params[c] == NULL ? -1 : 0;
    }
    if (rc == 0) {
        rc = send_step(t, conn, step, n, params);
    }
    for (int c = 0; c < n; c++) {
        pgarray_free(&cols[c]);
    }
    return rc;
}

/* The first half: lock the batch's identifiers, read what is known about them and its
 * records, and keep the transaction open (a flush request, no Sync) while the plan is made. */
int txn_send(PGconn *conn, void *arg)
{
    struct txn *t = arg;
    struct pgarray keys[2], dups[4];
    for (int c = 0; c < 4; c++) {
        pgarray_init(&dups[c]);
    }
    for (int c = 0; c < 2; c++) {
        pgarray_init(&keys[c]);
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct record *r = t->recs[i];
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
    for (size_t e = 0; e < t->n_extra; e++) {
        char key[24];
        snprintf(key, sizeof(key), "%lld", t->extra[e]);
        pgarray_add(&extra, key);
    }
    const char *k[3] = {pgarray_text(&keys[0]), pgarray_text(&keys[1]),
                        t->n_extra > 0 ? pgarray_text(&extra) : NULL};
    int rc = k[0] != NULL && k[1] != NULL && (t->n_extra == 0 || k[2] != NULL) &&
                     send_step(t, conn, TXN_LOCK, 3, k) == 0 &&
                     send_step(t, conn, TXN_LOOKUP, 2, k) == 0
                 ? 0
                 : -1;
    pgarray_free(&keys[0]);
    pgarray_free(&keys[1]);
    pgarray_free(&extra);
    if (rc < 0 || send_arrays(t, conn, TXN_DUPLICATES, dups, 4) < 0) {
        for (int c = 0; c < 4; c++) {
            pgarray_free(&dups[c]);
        }
        return -1;
    }
    /* No Sync yet: the transaction stays open while the daemon plans the second half. */
    return PQsendFlushRequest(conn) == 1 ? 0 : -1;
}

static int copy_known(struct txn *t, const PGresult *res)
{
    int rows = PQntuples(res);
    size_t bytes = 0;
    for (int r = 0; r < rows; r++) {
        bytes += (size_t)PQgetlength(res, r, 1) + (size_t)PQgetlength(res, r, 2) + 2;
    }
    t->known.rows = calloc((size_t)rows + 1, sizeof(*t->known.rows));
    t->known.arena = malloc(bytes + 1);
    if (t->known.rows == NULL || t->known.arena == NULL) {
        return -1;
    }
    char *a = t->known.arena;
    for (int r = 0; r < rows; r++) {
        struct resolve_known *k = &t->known.rows[t->known.n];
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
        t->known.n++;
    }
    return 0;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

struct sort_ctx {
    const struct txn *t;
    int key; /* 0: id, 1: (source, external_id) */
};

static int cmp_items(const void *pa, const void *pb, void *arg)
{
    const struct sort_ctx *ctx = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const struct record *ra = ctx->t->recs[a], *rb = ctx->t->recs[b];
    int c = ctx->key == 0 ? strcmp(ra->id, rb->id)
                          : (cmp_str(ra->source, rb->source) != 0
                                 ? cmp_str(ra->source, rb->source)
                                 : cmp_str(ra->external_id, rb->external_id));
    return c != 0 ? c : (a < b ? -1 : a > b);
}

/* Marks records repeated inside the batch as duplicates of their first occurrence. */
static int find_repeats(struct txn *t)
{
    size_t *order = malloc(t->n * sizeof(*order));
    if (order == NULL) {
        return -1;
    }
    for (int key = 0; key < 2; key++) {
        for (size_t i = 0; i < t->n; i++) {
            order[i] = i;
        }
        struct sort_ctx ctx = {t, key};
        qsort_r(order, t->n, sizeof(*order), cmp_items, &ctx);
        for (size_t i = 1; i < t->n; i++) {
            const struct record *prev = t->recs[order[i - 1]];
            const struct record *cur = t->recs[order[i]];
            bool same = key == 0 ? strcmp(prev->id, cur->id) == 0
                                 : cur->external_id != NULL && prev->external_id != NULL &&
                                       strcmp(prev->source, cur->source) == 0 &&
                                       strcmp(prev->external_id, cur->external_id) == 0;
            size_t later = order[i];
            if (same && !t->skip[later]) {
                /* Point at the earliest occurrence, itself possibly stored already. */
                long first = (long)order[i - 1];
                while (t->dup_of[first] >= 0) {
                    first = t->dup_of[first];
                }
                t->skip[later] = true;
                t->dup_of[later] = first;
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

/*
 * The one place the insert's parameters are bound, by name (their order is SQL_ADD_INTERACTIONS's,
 * in store.c): one row of v for record i. duration, score and tags are buffers for the text of
 * those columns. Returns 0, or -1 when out of memory (v[STORE_IC_IDENTIFIERS] is then NULL).
 */
static int bind_interaction(const struct txn *t, size_t i, const char *v[STORE_IC_COUNT],
                            char duration[24], char score[8], struct pgarray *tags)
{
    const struct record *r = t->recs[i];
    snprintf(duration, 24, "%lld", r->duration_s);
    snprintf(score, 8, "%d", r->score);
    /* Tags as an array literal of their own, which the server casts to text[] as it reads
     * the column: cheaper than parsing them as JSON row by row. */
    for (size_t g = 0; g < r->n_tags; g++) {
        pgarray_add(tags, r->tags[g]);
    }
    v[STORE_IC_ID] = r->id;
    v[STORE_IC_SOURCE] = r->source;
    v[STORE_IC_EXTERNAL_ID] = r->external_id;
    v[STORE_IC_CUSTOMER_ID] = t->plan.record_customer[i];
    v[STORE_IC_CHANNEL] = r->channel;
    v[STORE_IC_DIRECTION] = r->direction;
    v[STORE_IC_OCCURRED_AT] = r->occurred_at;
    v[STORE_IC_AGENT] = r->agent;
    v[STORE_IC_STATUS] = r->status;
    v[STORE_IC_DURATION_S] = r->has_duration ? duration : NULL;
    v[STORE_IC_SUBJECT] = r->subject;
    v[STORE_IC_BODY] = r->body;
    v[STORE_IC_THREAD] = r->thread;
    v[STORE_IC_STAGE] = r->stage;
    v[STORE_IC_SENTIMENT] = r->sentiment;
    v[STORE_IC_SCORE] = r->has_score ? score : NULL;
    v[STORE_IC_TAGS] = r->tags_json != NULL ? pgarray_text(tags) : NULL;
    v[STORE_IC_ATTRIBUTES] = r->attributes_json;
    v[STORE_IC_IDENTIFIERS] = identifiers_json(r);
    return v[STORE_IC_IDENTIFIERS] == NULL || (r->tags_json != NULL && v[STORE_IC_TAGS] == NULL)
               ? -1
               : 0;
}

static int send_interactions(PGconn *conn, struct txn *t)
{
    struct pgarray cols[STORE_IC_COUNT];
    for (int c = 0; c < STORE_IC_COUNT; c++) {
        pgarray_init(&cols[c]);
    }
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        if (t->skip[i]) {
            continue;
        }
        const char *v[STORE_IC_COUNT];
        char duration[24], score[8];
        struct pgarray tags;
        pgarray_init(&tags);
        rc = bind_interaction(t, i, v, duration, score, &tags);
        for (int c = 0; c < STORE_IC_COUNT && rc == 0; c++) {
            pgarray_add(&cols[c], v[c]);
        }
        free((char *)v[STORE_IC_IDENTIFIERS]);
        pgarray_free(&tags);
    }
    if (rc != 0) {
        for (int c = 0; c < STORE_IC_COUNT; c++) {
            pgarray_free(&cols[c]);
        }
        return -1;
    }
    return send_arrays(t, conn, TXN_ADD_INTERACTIONS, cols, STORE_IC_COUNT);
}

/* Sends customers to create or update: ids, names and traits (JSON texts) as arrays. The
 * plan's two structs share these fields, so one sender takes them through a stride. */
static int send_customers(struct txn *t, PGconn *conn, enum txn_step step, const char *const *ids,
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
    return send_arrays(t, conn, step, cols, 3);
}

/*
 * Sends the status updates of the batch: every record that repeats one already stored (or
 * one earlier in the batch) and carries a status. The database moves the stored status only
 * forward (sql/007_status_updates.sql).
 */
static int send_statuses(PGconn *conn, struct txn *t)
{
    struct pgarray cols[5];
    for (int c = 0; c < 5; c++) {
        pgarray_init(&cols[c]);
    }
    t->n_status = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct record *r = t->recs[i];
        if (!t->skip[i] || r->status == NULL) {
            continue;
        }
        long first = t->dup_of[i];
        const char *target = first < 0        ? t->dup_id[i]
                             : t->skip[first] ? t->dup_id[first]
                                              : t->recs[first]->id;
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
        t->status_item[t->n_status++] = i;
    }
    if (t->n_status == 0) {
        for (int c = 0; c < 5; c++) {
            pgarray_free(&cols[c]);
        }
        return 0;
    }
    return send_arrays(t, conn, TXN_APPLY_STATUSES, cols, 5);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Prepares the batch's notification for the live streams: each customer that got a record
 * once, and "loser>survivor" for each merge, in chunks that fit a payload; and asks for the
 * transaction's id, which the listeners read the batch's rows back by. The notification is
 * sent after the COMMIT (txn_notification).
 */
static int send_notify(PGconn *conn, struct txn *t)
{
    const struct resolve_plan *plan = &t->plan;
    const char **ids = malloc((t->n + 1) * sizeof(*ids));
    if (ids == NULL) {
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->skip[i]) {
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
    pgarray_free(&t->notify_chunks);
    t->notify_chunks = chunks;
    return send_step(t, conn, TXN_NOTIFY, 0, NULL);
}

/* Plans the batch from what the first half (and the facts, once known) said. */
static int make_plan(struct txn *t, const struct resolve_facts *facts)
{
    resolve_plan_free(&t->plan);
    return resolve_batch(t->recs, t->skip, t->n, t->known.rows, t->known.n, facts, t->limits,
                         &resolve_env_default, &t->plan);
}

/* Asks what the database knows about the customers the plan merges (TXN_MERGE_FACTS, read
 * by copy_facts). Flushed, not synced: the transaction stays open. */
static int send_facts(PGconn *conn, struct txn *t)
{
    struct pgarray ids;
    pgarray_init(&ids);
    for (size_t m = 0; m < t->plan.n_merges; m++) {
        const struct resolve_merge *mg = &t->plan.merges[m];
        pgarray_add(&ids, mg->survivor);
        for (size_t l = 0; l < mg->n_losers; l++) {
            pgarray_add(&ids, mg->losers[l]);
        }
    }
    return send_arrays(t, conn, TXN_MERGE_FACTS, &ids, 1) == 0 && PQsendFlushRequest(conn) == 1
               ? 0
               : -1;
}

/* Keeps the facts' answer: pairs kept apart (rows with other set) and identifier counts
 * (rows with kind set). */
static int copy_facts(struct txn *t, const PGresult *res)
{
    int rows = PQntuples(res);
    t->apart = calloc((size_t)rows + 1, sizeof(*t->apart));
    t->counts = calloc((size_t)rows + 1, sizeof(*t->counts));
    t->facts_arena = malloc((size_t)rows * 2 * (RECORD_UUID_LEN + 1) + 1);
    if (t->apart == NULL || t->counts == NULL || t->facts_arena == NULL) {
        return -1;
    }
    char *a = t->facts_arena;
    for (int r = 0; r < rows; r++) {
        if (PQgetlength(res, r, 0) != RECORD_UUID_LEN) {
            continue;
        }
        struct resolve_count *c = &t->counts[t->n_counts];
        if (!PQgetisnull(res, r, 2) && normalize_kind_parse(PQgetvalue(res, r, 2), &c->kind) == 0) {
            memcpy(a, PQgetvalue(res, r, 0), RECORD_UUID_LEN + 1);
            c->customer = a;
            a += RECORD_UUID_LEN + 1;
            c->n = (int)strtol(PQgetvalue(res, r, 3), NULL, 10);
            t->n_counts++;
            continue;
        }
        if (PQgetisnull(res, r, 1) || PQgetlength(res, r, 1) != RECORD_UUID_LEN) {
            continue;
        }
        struct resolve_apart *ap = &t->apart[t->n_apart++];
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
static int send_conflicts(PGconn *conn, struct txn *t)
{
    struct pgarray cols[6];
    for (int c = 0; c < 6; c++) {
        pgarray_init(&cols[c]);
    }
    int rc = 0;
    for (size_t i = 0; i < t->plan.n_conflicts && rc == 0; i++) {
        const struct resolve_conflict *c = &t->plan.conflicts[i];
        const struct record *r = t->recs[c->record];
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
             t->plan.n_conflicts, t->n);
    return send_arrays(t, conn, TXN_ADD_CONFLICTS, cols, 6);
}

/* The second half: apply the plan set-wise, then Sync, which commits. */
static int send_step2(PGconn *conn, struct txn *t)
{
    t->planned = true;
    struct resolve_plan *plan = &t->plan;
    if (plan->n_created > 0) {
        const struct resolve_new_customer *c = plan->created;
        if (send_customers(t, conn, TXN_CREATE_CUSTOMERS, &c->id, &c->name, &c->traits_json,
                           plan->n_created, sizeof(*c)) < 0) {
            return -1;
        }
    }
    if (plan->n_merges > 0) {
        struct pgarray cols[6];
        for (int c = 0; c < 6; c++) {
            pgarray_init(&cols[c]);
        }
        size_t merged = 0;
        for (size_t m = 0; m < plan->n_merges; m++) {
            const struct resolve_merge *mg = &plan->merges[m];
            const struct record *r = t->recs[mg->record];
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
        log_info("merging %zu customer(s) in a batch of %zu records", merged, t->n);
        if (send_arrays(t, conn, TXN_MERGE, cols, 6) < 0) {
            return -1;
        }
    }
    if (plan->n_updates > 0) {
        const struct resolve_update *u = plan->updates;
        if (send_customers(t, conn, TXN_UPDATE_CUSTOMERS, &u->id, &u->name, &u->traits_json,
                           plan->n_updates, sizeof(*u)) < 0) {
            return -1;
        }
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
            pgarray_add(&cols[3], t->recs[plan->identities[i].record]->id);
        }
        if (send_arrays(t, conn, TXN_ADD_IDENTITIES, cols, 4) < 0) {
            return -1;
        }
    }
    if (plan->n_conflicts > 0 && send_conflicts(conn, t) < 0) {
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < t->n; i++) {
        count += !t->skip[i];
    }
    if (count > 0 && send_interactions(conn, t) < 0) {
        return -1;
    }
    /* After the insert: an update may be for a record of this very batch. */
    if (send_statuses(conn, t) < 0 || (t->notify && send_notify(conn, t) < 0)) {
        return -1;
    }
    return PQpipelineSync(conn) == 1 ? 0 : -1;
}

static void note_error(struct txn *t, const PGresult *res, enum txn_step step)
{
    if (t->failed) {
        return;
    }
    t->failed = true;
    t->failed_step = step;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", state != NULL ? state : "");
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(t->errmsg, sizeof(t->errmsg), "%s", m != NULL ? m : PQresultErrorMessage(res));
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    t->detail = detail != NULL ? strdup(detail) : NULL;
}

/* Records the duplicates the database found, by position in the batch (from 1). */
static void read_duplicates(struct txn *t, const PGresult *res)
{
    for (int r = 0; r < PQntuples(res); r++) {
        long n = strtol(PQgetvalue(res, r, 0), NULL, 10) - 1;
        if (n >= 0 && (size_t)n < t->n && PQgetvalue(res, r, 3)[0] == 't') {
            /* Erased wins over stored: a copy stored by a batch that committed after the
             * erasure began is gone with it. */
            t->skip[n] = true;
            t->erased[n] = true;
            continue;
        }
        if (n < 0 || (size_t)n >= t->n || t->skip[n]) {
            continue;
        }
        t->skip[n] = true;
        snprintf(t->dup_id[n], sizeof(t->dup_id[n]), "%s", PQgetvalue(res, r, 1));
        snprintf(t->dup_customer[n], sizeof(t->dup_customer[n]), "%s", PQgetvalue(res, r, 2));
    }
}

int txn_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct txn *t = arg;
    if (index < 0 || index >= t->n_sent) {
        return 0; /* the statements aborted after an error: nothing of ours */
    }
    enum txn_step step = t->sent[index];
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR) {
        note_error(t, res, step);
    } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        switch (step) {
        case TXN_LOOKUP:
            if (copy_known(t, res) < 0) {
                return -1;
            }
            break;
        case TXN_DUPLICATES:
            read_duplicates(t, res);
            break;
        case TXN_MERGE_FACTS:
            if (copy_facts(t, res) < 0) {
                return -1;
            }
            break;
        case TXN_ADD_INTERACTIONS:
            /* All or nothing: the insert has no ON CONFLICT. */
            t->inserted = true;
            break;
        case TXN_APPLY_STATUSES:
            for (int r = 0; r < PQntuples(res); r++) {
                long k = strtol(PQgetvalue(res, r, 0), NULL, 10) - 1;
                if (k >= 0 && (size_t)k < t->n_status) {
                    t->updated[t->status_item[k]] = true;
                }
            }
            break;
        case TXN_NOTIFY:
            if (PQntuples(res) == 1) {
                snprintf(t->xact_id, sizeof(t->xact_id), "%s", PQgetvalue(res, 0, 0));
            }
            break;
        case TXN_LOCK:
        case TXN_CREATE_CUSTOMERS:
        case TXN_MERGE:
        case TXN_UPDATE_CUSTOMERS:
        case TXN_ADD_IDENTITIES:
        case TXN_ADD_CONFLICTS:
        case TXN_STEP_COUNT:
            break;
        }
    }
    /* The end of the first half: plan and send the second, or end here after an error. */
    if (step == TXN_DUPLICATES) {
        if (t->failed) {
            return PQpipelineSync(conn) == 1 ? 0 : -1;
        }
        if (find_repeats(t) < 0 || make_plan(t, NULL) < 0) {
            return -1;
        }
        /* Only a batch that merges asks whether its customers may be merged. */
        return t->plan.n_merges > 0 ? send_facts(conn, t) : send_step2(conn, t);
    }
    /* Between the halves: plan again with what the database said about the merges. */
    if (step == TXN_MERGE_FACTS) {
        if (t->failed) {
            return PQpipelineSync(conn) == 1 ? 0 : -1;
        }
        struct resolve_facts facts = {t->apart, t->n_apart, t->counts, t->n_counts};
        if (make_plan(t, &facts) < 0) {
            return -1;
        }
        return send_step2(conn, t);
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

/* A record repeated inside the batch is answered as its first occurrence was stored. */
static void settle(struct txn *t)
{
    for (size_t i = 0; i < t->n; i++) {
        long first = t->dup_of[i];
        if (first < 0) {
            continue;
        }
        if (t->erased[first]) {
            t->erased[i] = true;
        } else if (t->dup_customer[first][0] != '\0') {
            memcpy(t->dup_id[i], t->dup_id[first], sizeof(t->dup_id[i]));
            memcpy(t->dup_customer[i], t->dup_customer[first], sizeof(t->dup_customer[i]));
        } else if (t->inserted && !t->skip[first]) {
            snprintf(t->dup_id[i], sizeof(t->dup_id[i]), "%s", t->recs[first]->id);
            snprintf(t->dup_customer[i], sizeof(t->dup_customer[i]), "%s",
                     t->plan.record_customer[first]);
        }
    }
    t->settled = true;
}

enum txn_end txn_end(struct txn *t)
{
    if (!t->failed && t->planned) {
        if (!t->settled) {
            settle(t);
        }
        return TXN_COMMITTED;
    }
    return t->failed && t->failed_step >= TXN_CREATE_CUSTOMERS && !retryable(t->sqlstate)
               ? TXN_FAILED_ON_RECORDS
               : TXN_FAILED_RETRY;
}

const char *txn_sqlstate(const struct txn *t)
{
    return t->sqlstate;
}

const char *txn_errmsg(const struct txn *t)
{
    return t->errmsg;
}

enum txn_fate txn_record(const struct txn *t, size_t i, const char **id, const char **customer,
                         bool *updated)
{
    *updated = false;
    if (t->erased[i]) {
        *id = t->recs[i]->id;
        *customer = "";
        return TXN_ERASED;
    }
    if (t->skip[i] && t->dup_customer[i][0] != '\0') {
        *updated = t->updated[i];
        *id = t->dup_id[i];
        *customer = t->dup_customer[i];
        return TXN_DUPLICATE;
    }
    if (!t->skip[i] && t->inserted) {
        *id = t->recs[i]->id;
        *customer = t->plan.record_customer[i];
        return TXN_STORED;
    }
    *id = t->recs[i]->id;
    *customer = "";
    return TXN_AGAIN;
}

size_t txn_merges(const struct txn *t)
{
    return t->plan.n_merges;
}

size_t txn_conflicts(const struct txn *t)
{
    return t->plan.n_conflicts;
}

const char *txn_detail(const struct txn *t)
{
    return t->detail;
}

int txn_notification(struct txn *t, const char **xact_id, const char **chunks)
{
    if (!t->notify || t->xact_id[0] == '\0' || t->notify_chunks.n == 0) {
        return 0;
    }
    *xact_id = t->xact_id;
    *chunks = pgarray_text(&t->notify_chunks);
    return *chunks != NULL ? 1 : -1;
}
