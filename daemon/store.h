/*
 * Every SQL statement the daemon runs after start-up, as named constants in one place, and
 * the list of them that each database connection prepares. The logic they call lives in
 * sql/ as functions in the touchline schema; statements here only pass parameters.
 */
#ifndef TOUCHLINED_STORE_H
#define TOUCHLINED_STORE_H

#include "db.h"

/* Statement names, prepared on every connection. */
#define STORE_LOCK     "tl_lock"     /* $1 jsonb array of "kind:value" */
#define STORE_INGEST   "tl_ingest"   /* 20 parameters, see store.c */
#define STORE_FIND     "tl_find"     /* $1 kind, $2 value -> profile json or NULL */
#define STORE_PROFILE  "tl_profile"  /* $1 uuid -> profile json or NULL */
#define STORE_TIMELINE "tl_timeline" /* see store.c -> timeline json or NULL */
#define STORE_PING     "tl_ping"     /* readiness */

#define STORE_INGEST_NPARAMS   20
#define STORE_TIMELINE_NPARAMS 7

extern const struct db_statement store_statements[];
extern const int store_n_statements;

#endif
