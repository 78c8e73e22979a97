/*
 * One batch as one PostgreSQL transaction, in two halves on one pipeline (libpq_pipeline.c's
 * send_step / recv_step shape): first the batch's identifiers are locked and what the
 * database knows about them and about the records is read (a flush request, no Sync, so the
 * transaction stays open); then the daemon plans identity resolution (resolve.c) and applies
 * the plan set-wise, and the Sync commits. Every statement is a named step; results are
 * matched to the step that was sent, never to a position.
 *
 * A txn only speaks SQL: which records go into it, when it is retried and whom to answer is
 * the batcher's (batch.c).
 */
#ifndef TOUCHLINED_TXN_H
#define TOUCHLINED_TXN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "record.h"
#include "resolve.h"

/* Raised by touchline.try_lock_customer_identifiers (sql/006_identity.sql): a merge needs
 * identifier locks another writer holds; DETAIL lists every key it needs (txn_detail). */
#define SQLSTATE_MERGE_LOCKS "TL001"

enum txn_step {
    TXN_LOCK,             /* advisory locks on the batch's identifiers, in one global order */
    TXN_LOOKUP,           /* the identifiers already known, and their customers */
    TXN_DUPLICATES,       /* records of the batch already stored */
    TXN_MERGE_FACTS,      /* only when the first plan merges: pairs kept apart, counts */
    TXN_CREATE_CUSTOMERS, /* the customers the plan creates */
    TXN_MERGE,            /* the merges the plan makes */
    TXN_UPDATE_CUSTOMERS, /* names and traits of existing customers */
    TXN_ADD_IDENTITIES,   /* identifiers new to the database */
    TXN_ADD_CONFLICTS,    /* merges a limit refused, for the review queue */
    TXN_ADD_INTERACTIONS, /* the records themselves */
    TXN_APPLY_STATUSES,   /* status updates carried by records already stored */
    TXN_NOTIFY,           /* the transaction's id, for the notification sent after COMMIT */
    TXN_STEP_COUNT,
};

/* How a transaction ended, once its pipeline's Sync arrived. */
enum txn_end {
    TXN_COMMITTED,
    TXN_FAILED_ON_RECORDS, /* a write step failed for something in the records: bisect */
    TXN_FAILED_RETRY,      /* deadlock, lock timeout, server going away: run it again */
};

/* What became of one record of a committed transaction. */
enum txn_fate {
    TXN_STORED,    /* inserted now */
    TXN_DUPLICATE, /* already stored (or repeated in the batch): id and customer are the stored */
    TXN_AGAIN,     /* stored meanwhile by another writer: write it again to learn its customer */
    TXN_ERASED,    /* a record of an erased person: acknowledged, not stored */
};

struct txn;

struct txn_params {
    bool notify;                         /* ask its id, for the NOTIFY after COMMIT */
    const struct resolve_limits *limits; /* merge protection (NULL: none) */
    /* Lock keys an earlier attempt's merges found they need, taken with the batch's own. */
    const long long *extra;
    size_t n_extra;
};

/* A transaction for n records (n > 0); recs, p->limits and p->extra are borrowed until
 * txn_free. NULL when out of memory. */
struct txn *txn_new(struct record *const *recs, size_t n, const struct txn_params *p);
void txn_free(struct txn *t);

/* The db_job_ops send and result of the transaction (arg is the txn): see db.h. */
int txn_send(PGconn *conn, void *arg) __attribute__((warn_unused_result));
int txn_result(PGconn *conn, const PGresult *res, int index, void *arg)
    __attribute__((warn_unused_result));

/* After the pipeline ended (DB_DONE): how. */
enum txn_end txn_end(struct txn *t);

/* The first error (empty when none): SQLSTATE and primary message; the step that failed. */
const char *txn_sqlstate(const struct txn *t);
const char *txn_errmsg(const struct txn *t);
/* The first error's DETAIL, or NULL. */
const char *txn_detail(const struct txn *t);

/* After TXN_COMMITTED: the fate of record i, with its stored id and customer (valid until
 * txn_free); *updated: a duplicate whose status moved the stored record's forward. */
enum txn_fate txn_record(const struct txn *t, size_t i, const char **id, const char **customer,
                         bool *updated);

/* After TXN_COMMITTED: customers merged away. */
size_t txn_merges(const struct txn *t);

/* After TXN_COMMITTED: merges a limit refused. */
size_t txn_conflicts(const struct txn *t);

/*
 * After TXN_COMMITTED, with notify on: the batch's transaction id and its customers as a
 * text[] literal, for STORE_NOTIFY (both valid until txn_free). Returns 1 with them set, 0
 * when there is nothing to notify, -1 when out of memory.
 */
int txn_notification(struct txn *t, const char **xact_id, const char **chunks)
    __attribute__((warn_unused_result));

#endif
