#include "intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "log.h"

/* One record's place in the answer, and what deliver's callback needs to find it. */
struct ticket {
    struct intake *in; /* NULL once the intake is freed: the answer is dropped */
    size_t index;
};

struct intake {
    struct deliver *dl;
    struct ingest_stats *stats;
    intake_done_cb done;
    void *arg;
    struct intake_result *items;
    struct ticket **tickets; /* outstanding, by item; NULL when answered */
    size_t n, cap;
    size_t waiting;
    bool sealed;
    bool done_called;
    char **sources; /* copies of the records' sources, for the answers' counters */
};

struct intake *intake_new(struct deliver *dl, struct ingest_stats *stats, intake_done_cb done,
                          void *arg)
{
    struct intake *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        return NULL;
    }
    in->dl = dl;
    in->stats = stats;
    in->done = done;
    in->arg = arg;
    return in;
}

void intake_free(struct intake *in)
{
    if (in == NULL) {
        return;
    }
    for (size_t i = 0; i < in->n; i++) {
        free(in->items[i].message);
        free(in->sources[i]);
        if (in->tickets[i] != NULL) {
            in->tickets[i]->in = NULL; /* deliver still holds it and frees it when it answers */
        }
    }
    free(in->items);
    free(in->tickets);
    free(in->sources);
    free(in);
}

static void maybe_done(struct intake *in)
{
    if (in->sealed && in->waiting == 0 && !in->done_called) {
        in->done_called = true;
        in->done(in, in->arg);
    }
}

/* A new item, unanswered. Returns its index, or -1 when out of memory. */
static long add_item(struct intake *in)
{
    if (in->n == in->cap) {
        size_t cap = in->cap == 0 ? 8 : in->cap * 2;
        struct intake_result *items = realloc(in->items, cap * sizeof(*items));
        if (items == NULL) {
            return -1;
        }
        in->items = items;
        struct ticket **t = realloc(in->tickets, cap * sizeof(*t));
        if (t == NULL) {
            return -1;
        }
        in->tickets = t;
        char **s = realloc(in->sources, cap * sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        in->sources = s;
        in->cap = cap;
    }
    size_t i = in->n++;
    memset(&in->items[i], 0, sizeof(in->items[i]));
    in->items[i].channel = -1;
    in->tickets[i] = NULL;
    in->sources[i] = NULL;
    return (long)i;
}

static void set_error(struct intake *in, size_t i, enum ingest_error code, const char *message)
{
    struct intake_result *r = &in->items[i];
    r->answered = true;
    r->ok = false;
    r->error = code;
    r->message = strdup(message != NULL ? message : ingest_error_code(code));
    in->stats->rejected[code]++;
}

int intake_reject(struct intake *in, enum ingest_error code, const char *message)
{
    long i = add_item(in);
    if (i < 0) {
        return -1;
    }
    set_error(in, (size_t)i, code, message);
    return 0;
}

static void on_delivered(const struct deliver_result *res, void *arg)
{
    struct ticket *t = arg;
    struct intake *in = t->in;
    if (in == NULL) {
        free(t);
        return;
    }
    in->tickets[t->index] = NULL;
    struct intake_result *r = &in->items[t->index];
    free(t);
    in->waiting--;
    switch (res->outcome) {
    case BATCH_STORED: {
        r->answered = true;
        r->ok = true;
        r->duplicate = res->duplicate;
        r->spooled = res->spooled;
        r->updated = res->updated;
        memcpy(r->id, res->id, sizeof(r->id));
        memcpy(r->customer_id, res->customer_id, sizeof(r->customer_id));
        int slot = metrics_source_slot(&in->stats->sources, r->source);
        int ch = r->channel >= 0 ? r->channel : 0;
        if (res->duplicate) {
            in->stats->duplicates++;
            in->stats->duplicates_by[slot][ch]++;
        } else {
            in->stats->accepted++;
            in->stats->accepted_by[slot][ch]++;
        }
        in->stats->updated += res->updated;
        break;
    }
    case BATCH_INVALID:
        set_error(in, r - in->items, INGEST_INVALID_RECORD, res->message);
        break;
    case BATCH_UNAVAILABLE:
        set_error(in, r - in->items, INGEST_UNAVAILABLE, res->message);
        break;
    }
    maybe_done(in);
}

int intake_submit(struct intake *in, struct record *rec)
{
    long i = add_item(in);
    if (i < 0) {
        record_free(rec);
        return -1;
    }
    struct intake_result *r = &in->items[i];
    in->sources[i] = strdup(rec->source);
    r->source = in->sources[i] != NULL ? in->sources[i] : "_unknown";
    r->channel = record_channel_index(rec->channel);
    struct ticket *t = malloc(sizeof(*t));
    if (t == NULL) {
        record_free(rec);
        set_error(in, (size_t)i, INGEST_UNAVAILABLE, "out of memory");
        return -1;
    }
    t->in = in;
    t->index = (size_t)i;
    in->tickets[i] = t;
    in->waiting++;
    if (deliver_submit(in->dl, rec, on_delivered, t) < 0) {
        in->tickets[i] = NULL;
        in->waiting--;
        free(t);
        set_error(in, (size_t)i, INGEST_UNAVAILABLE, "out of memory");
        return -1;
    }
    return 0;
}

void intake_seal(struct intake *in)
{
    in->sealed = true;
    maybe_done(in);
}

size_t intake_count(const struct intake *in)
{
    return in->n;
}

const struct intake_result *intake_result(const struct intake *in, size_t i)
{
    return &in->items[i];
}

size_t intake_ok(const struct intake *in)
{
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++) {
        n += in->items[i].ok;
    }
    return n;
}

size_t intake_rejected(const struct intake *in, enum ingest_error code)
{
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++) {
        n += in->items[i].answered && !in->items[i].ok && in->items[i].error == code;
    }
    return n;
}

void intake_write_answer(const struct intake *in, size_t i, struct jsonw *w)
{
    const struct intake_result *r = &in->items[i];
    if (r->ok) {
        struct deliver_result res = {.outcome = BATCH_STORED,
                                     .duplicate = r->duplicate,
                                     .spooled = r->spooled,
                                     .updated = r->updated};
        memcpy(res.id, r->id, sizeof(res.id));
        memcpy(res.customer_id, r->customer_id, sizeof(res.customer_id));
        deliver_write_answer(&res, w);
        return;
    }
    ingest_write_error(w, r->error, r->message != NULL ? r->message : "out of memory", i + 1);
}
