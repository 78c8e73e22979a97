/*
 * Identity resolution for a whole batch, as a plan. Given the batch's records in order and
 * what the database already knows about their identifiers (looked up under the batch's
 * identifier locks), it decides, exactly as if the records were applied one by one (CONTRACT
 * §2), which customers to create, which existing customers to merge into which, which
 * identifiers to add, and the customer each record ends up with when the batch commits.
 * The database then applies the plan with a handful of set-wise statements. Pure code.
 */
#ifndef TOUCHLINED_RESOLVE_H
#define TOUCHLINED_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

/* An identifier the database already has, with its customer. */
struct resolve_known {
    enum ident_kind kind;
    const char *value;
    const char *customer; /* uuid text; ids made by record_uuid7 sort by creation */
};

/* Existing customers merged because of record `record`: losers into survivor, in order.
 * finals[i] is the customer losers[i] ends in once the whole batch is applied (survivor,
 * or whoever absorbs survivor later in the batch). */
struct resolve_merge {
    size_t record;
    const char *survivor;
    const char **losers;
    const char **finals;
    size_t n_losers;
};

struct resolve_new_customer {
    const char *id;
    const char *name;  /* last name given, or NULL */
    char *traits_json; /* merged traits, or NULL */
};

struct resolve_update {
    const char *id;    /* existing customer */
    const char *name;  /* or NULL */
    char *traits_json; /* or NULL */
};

struct resolve_identity {
    enum ident_kind kind;
    const char *value;
    const char *customer;
    size_t record; /* the record that first brought it (index as given) */
};

/* Two existing customers an unmerge separated: no record merges them again. */
struct resolve_apart {
    const char *a, *b; /* uuid texts */
};

/* How many identifiers of a kind an existing customer holds. */
struct resolve_count {
    const char *customer;
    enum ident_kind kind;
    int n;
};

/* What the database says about the customers a plan would merge (asked only when it does). */
struct resolve_facts {
    const struct resolve_apart *apart;
    size_t n_apart;
    const struct resolve_count *counts;
    size_t n_counts;
};

/* Merge protection (docs/identity.md): a merge that would give one customer more than max[k]
 * identifiers of kind k (0: no limit) does not happen; the record goes to the customer of its
 * identifier of the kind first in priority. */
struct resolve_limits {
    int max[IDENT_KIND_COUNT];
    enum ident_kind priority[IDENT_KIND_COUNT]; /* most trusted kind first */
};

/* A merge refused by a limit: record `record` joined `customer` (where it went) and `other`,
 * and merging them would have given one customer `would_have` identifiers of `kind`. */
struct resolve_conflict {
    size_t record;
    const char *customer;
    const char *other;
    enum ident_kind kind;
    int would_have;
};

struct resolve_plan {
    /* For each record (index as given): the customer it belongs to at commit; NULL for a
     * record that was skipped. */
    const char **record_customer;
    struct resolve_new_customer *created; /* in creation order */
    size_t n_created;
    struct resolve_merge *merges; /* in the order they must be applied */
    size_t n_merges;
    struct resolve_update *updates;
    size_t n_updates;
    struct resolve_identity *identities; /* identifiers to insert */
    size_t n_identities;
    struct resolve_conflict *conflicts; /* merges refused by a limit */
    size_t n_conflicts;
    void *priv; /* owned storage */
};

/*
 * Plans the batch. recs[i] with skip[i] set (duplicates) take no part. Borrows recs and
 * known for the plan's lifetime; known must be sorted by customer. The customer created first is
 * the one with the smallest id; customers created by this batch are newer than any existing one.
 * facts (NULL: none known) may forbid merges: a record reaching two customers kept apart goes
 * to the older and leaves the other as it is; with limits (NULL: none), facts' counts decide
 * which merges a limit refuses (without facts, existing customers count as holding none).
 * Returns 0, or -1 on allocation failure.
 */
int resolve_batch(struct record *const *recs, const bool *skip, size_t n,
                  const struct resolve_known *known, size_t n_known,
                  const struct resolve_facts *facts, const struct resolve_limits *limits,
                  struct resolve_plan *plan) __attribute__((warn_unused_result));

/* Frees what resolve_batch allocated; safe on a zeroed plan. */
void resolve_plan_free(struct resolve_plan *plan);

#endif
