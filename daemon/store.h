/*
 * Every SQL statement the daemon runs after start-up, as named constants in one place, and
 * the list of them that each database connection prepares. Merges, erasure and the read-side
 * JSON live in sql/ as functions of the touchline schema; the write path's set-wise
 * statements (lock, lookup, duplicates, inserts, updates) are written out in store.c, each
 * with its parameters described beside it. txn.c runs the write path, http.c the rest.
 */
#ifndef TOUCHLINED_STORE_H
#define TOUCHLINED_STORE_H

#include "db.h"

/* Statement names, prepared on every connection; parameters are described in store.c (and,
 * for STORE_ADD_INTERACTIONS, named below). */
#define STORE_LOCK             "tl_lock"
#define STORE_LOOKUP           "tl_lookup"
#define STORE_DUPLICATES       "tl_duplicates"
#define STORE_CREATE_CUSTOMERS "tl_create_customers"
#define STORE_MERGE_FACTS      "tl_merge_facts"
#define STORE_MERGE            "tl_merge"
#define STORE_UPDATE_CUSTOMERS "tl_update_customers"
#define STORE_ADD_IDENTITIES   "tl_add_identities"
#define STORE_ADD_CONFLICTS    "tl_add_conflicts"
#define STORE_ADD_INTERACTIONS "tl_add_interactions"
#define STORE_APPLY_STATUSES   "tl_apply_statuses"
#define STORE_FIND             "tl_find"             /* $1 kind, $2 value -> profile json or NULL */
#define STORE_PROFILE          "tl_profile"          /* $1 uuid -> profile json or NULL */
#define STORE_TIMELINE         "tl_timeline"         /* -> timeline json or NULL */
#define STORE_CONTEXT          "tl_context"          /* $1 uuid, $2 sla_s -> context or NULL */
#define STORE_MERGE_MANUAL     "tl_merge_manual"     /* $1 into, $2 from, $3 actor -> profile */
#define STORE_ERASE            "tl_erase"            /* $1 uuid, $2 actor -> erasure json or NULL */
#define STORE_EXPORT_HEAD      "tl_export_head"      /* $1 uuid, $2 actor -> export head or NULL */
#define STORE_EXPORT_PAGE      "tl_export_page"      /* $1 uuid, $2/$3 cursor, $4 limit -> page */
#define STORE_AUDIT            "tl_audit"            /* $1 limit, $2 before id -> audit json */
#define STORE_STATS            "tl_stats"            /* see analytics_parse_stats -> stats json */
#define STORE_MISSED           "tl_missed"           /* see analytics_parse_missed -> worklist */
#define STORE_JOURNEY          "tl_journey"          /* see analytics_parse_journey -> or NULL */
#define STORE_IDENTITIES       "tl_identities"       /* $1 uuid -> provenance json or NULL */
#define STORE_WHY              "tl_why"              /* $1 kind, $2 value, $3 kind, $4 value */
#define STORE_UNMERGE          "tl_unmerge"          /* $1 uuid, $2 merge id, $3 actor */
#define STORE_REMOVE_APART     "tl_remove_apart"     /* $1 uuid, $2 apart id, $3 actor */
#define STORE_CONFLICTS        "tl_conflicts"        /* $1 all, $2 limit, $3 threshold */
#define STORE_RESOLVE_CONFLICT "tl_resolve_conflict" /* $1 id, $2 action, $3 actor */
#define STORE_RETENTION        "tl_retention"        /* $1 keep_days, $2 limit -> rows deleted */

/* Live updates (daemon/live.c): the batch's notification, and what a listener reads back. */
#define STORE_XACT_ID       "tl_xact_id"       /* -> the transaction's id, as text */
#define STORE_NOTIFY        "tl_notify"        /* $1 xact id, $2 text[] chunks of ids */
#define STORE_LIVE_SURVIVOR "tl_live_survivor" /* $1 uuid -> the survivor's id, or no row */
#define STORE_LIVE_RECORDS  "tl_live_records"  /* $1 uuid[], $2 xid8 -> (customer, json) */

/* The channel of STORE_NOTIFY. A payload is the committing transaction's id, then its
 * customers separated by spaces: "<uuid>" for one that got records, "<loser>><survivor>"
 * for one merged away. */
#define STORE_NOTIFY_CHANNEL "touchline_records"
/* Bytes of customer ids per notification: PostgreSQL takes payloads under 8000 bytes. */
#define STORE_NOTIFY_CHUNK 7800

#define STORE_TIMELINE_NPARAMS 7

/*
 * The parameters of STORE_ADD_INTERACTIONS, by name: $1 is STORE_IC_ID, and so on, in the
 * order of the columns SQL_ADD_INTERACTIONS (store.c) lists. Each is an array literal with
 * one element per record. Bound in one place, txn.c's bind_interaction.
 */
enum store_interaction_column {
    STORE_IC_ID,          /* uuid */
    STORE_IC_SOURCE,      /* text */
    STORE_IC_EXTERNAL_ID, /* text */
    STORE_IC_CUSTOMER_ID, /* uuid */
    STORE_IC_CHANNEL,     /* text */
    STORE_IC_DIRECTION,   /* text */
    STORE_IC_OCCURRED_AT, /* timestamptz */
    STORE_IC_AGENT,       /* text */
    STORE_IC_STATUS,      /* text */
    STORE_IC_DURATION_S,  /* integer */
    STORE_IC_SUBJECT,     /* text */
    STORE_IC_BODY,        /* text */
    STORE_IC_THREAD,      /* text */
    STORE_IC_STAGE,       /* text */
    STORE_IC_SENTIMENT,   /* text */
    STORE_IC_SCORE,       /* smallint */
    STORE_IC_TAGS,        /* a text[] literal of its own */
    STORE_IC_ATTRIBUTES,  /* JSON text */
    STORE_IC_IDENTIFIERS, /* JSON text: [{"k":kind,"v":value,"m":mergeable}] */
    STORE_IC_COUNT,
};

extern const struct db_statement store_statements[];
extern const int store_n_statements;

/* What the live module's own connection prepares. */
extern const struct db_statement store_live_statements[];
extern const int store_live_n_statements;

#endif
