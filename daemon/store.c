#include "store.h"

/*
 * A batch is one transaction in two steps (see batch.c). First, under the batch's
 * identifier locks, what the database knows: */

/* $1 kinds, $2 values, $3 extra lock keys (NULL: none; what an earlier attempt's merges
 * found they need): transaction-scoped advisory locks, in one global order. */
static const char SQL_LOCK[] =
    "SELECT touchline.lock_identifiers($1::text[], $2::text[], $3::bigint[])";

/*
 * $1 kinds, $2 values: the identifiers already known and their customers, by customer.
 * Merges keep identifiers pointing at surviving customers only, so no redirect is needed.
 *
 * Each probe is a LATERAL subquery with LIMIT 1 (the key is unique), which the planner
 * cannot flatten into a join: a plain join lets a custom plan, which sees a batch of 700
 * identifiers, prefer hashing the whole identities table to 700 index probes, and a
 * lookup that took 2 ms then took 30-100 ms, growing with the table.
 */
static const char SQL_LOOKUP[] = "SELECT i.kind, i.value, i.customer_id "
                                 "FROM unnest($1::text[], $2::text[]) AS x(k, v) "
                                 "CROSS JOIN LATERAL (SELECT kind, value, customer_id "
                                 "FROM touchline.identities "
                                 "WHERE kind = x.k AND value = x.v LIMIT 1) i "
                                 "ORDER BY i.customer_id";

/* Records already stored, by position in the batch (from 1), and whether erased: $1 ids, $2
 * whether to probe the id (an id derived from (source, external_id) needs only the second
 * probe), $3 sources, $4 external ids (NULL for none). Index probes forced as in
 * SQL_LOOKUP. */
static const char SQL_DUPLICATES[] =
    "SELECT x.n, i.id, i.customer_id, false "
    "FROM unnest($1::uuid[], $2::boolean[]) WITH ORDINALITY AS x(id, probe, n) "
    "CROSS JOIN LATERAL (SELECT id, customer_id FROM touchline.interactions "
    "WHERE id = x.id LIMIT 1) i WHERE x.probe "
    "UNION ALL "
    "SELECT x.n, i.id, i.customer_id, false "
    "FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS x(s, e, n) "
    "CROSS JOIN LATERAL (SELECT id, customer_id FROM touchline.interactions "
    "WHERE source = x.s AND external_id = x.e LIMIT 1) i "
    /* Records of an erased person (migration 008): answered erased, never stored again. */
    "UNION ALL "
    "SELECT x.n, x.id, NULL, true "
    "FROM unnest($1::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS x(id, s, e, n) "
    "WHERE EXISTS (SELECT 1 FROM touchline.tombstones t WHERE t.key = ANY (ARRAY["
    "touchline.salted_key('i', x.id::text), touchline.salted_key('x', x.s || ' ' || x.e)]))";

/* Then the plan the daemon made from that, applied set-wise: */

/* $1 ids, $2 names, $3 traits (JSON texts), in creation order. */
static const char SQL_CREATE_CUSTOMERS[] =
    "INSERT INTO touchline.customers (id, name, traits) "
    "SELECT id, name, coalesce(traits::jsonb, '{}') "
    "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, name, traits)";

/* Asked only when the plan merges: $1 the customers it would merge -> (customer, other, kind,
 * n) rows, pairs kept apart and identifier counts (see touchline.merge_facts). */
static const char SQL_MERGE_FACTS[] = "SELECT customer, other, kind, n "
                                      "FROM touchline.merge_facts($1::uuid[])";

/* Every merge of the batch: $1 survivors, $2 losers, $3 final survivors, $4 records, $5
 * sources, $6 the records' identifiers (JSON texts), one element per merged-away customer
 * (see touchline.merge_batch). */
static const char SQL_MERGE[] = "SELECT touchline.merge_batch($1::uuid[], $2::uuid[], $3::uuid[], "
                                "$4::uuid[], $5::text[], $6::text[])";

/* Merges a limit refused (see touchline.add_conflicts): $1 records, $2 customers, $3 others,
 * $4 kinds, $5 counts, $6 the records' identifiers (JSON texts). */
static const char SQL_ADD_CONFLICTS[] = "SELECT touchline.add_conflicts($1::uuid[], $2::uuid[], "
                                        "$3::uuid[], $4::text[], $5::integer[], $6::text[])";

/* $1 ids, $2 names, $3 traits (JSON texts): rows locked in id order so that writers
 * cannot deadlock, and reached through "= ANY" so that the plan is an index scan whatever
 * the table's size when the statement was prepared. */
static const char SQL_UPDATE_CUSTOMERS[] =
    "WITH l AS (SELECT id FROM touchline.customers WHERE id = ANY ($1::uuid[]) "
    "ORDER BY id FOR NO KEY UPDATE) "
    "UPDATE touchline.customers c SET name = coalesce(x.name, c.name), "
    "traits = c.traits || coalesce(x.traits::jsonb, '{}') "
    "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, name, traits) "
    "WHERE c.id = ANY ($1::uuid[]) AND c.id = x.id AND c.id IN (SELECT id FROM l)";

/*
 * The new identifiers and the records themselves, as parallel arrays (text array literals
 * built by the daemon), inserted without ON CONFLICT: under the batch's identifier locks
 * and after the duplicate check nothing can conflict but a record carrying an id already
 * used with other identifiers, and then the statement fails and the batch is retried.
 * $1 kinds, $2 values, $3 customers (also the identity's first customer), $4 the records that
 * brought them. */
static const char SQL_ADD_IDENTITIES[] =
    "INSERT INTO touchline.identities (kind, value, customer_id, origin, interaction_id) "
    "SELECT k, v, c, c, r FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[]) "
    "AS x(k, v, c, r) ORDER BY k COLLATE \"C\", v COLLATE \"C\"";

/* $1..$19: one array per column, named by enum store_interaction_column (store.h) in this
 * order; tags as array literals, attributes and identifiers as JSON texts. */
_Static_assert(STORE_IC_COUNT == 19, "SQL_ADD_INTERACTIONS takes $1..$19, one per column");
static const char SQL_ADD_INTERACTIONS[] =
    "INSERT INTO touchline.interactions (id, source, external_id, customer_id, channel, "
    "direction, occurred_at, agent, status, duration_s, subject, body, thread, stage, "
    "sentiment, score, tags, attributes, identifiers) "
    "SELECT id, source, external_id, customer_id, channel, direction, occurred_at, agent, "
    "status, duration_s, subject, body, thread, stage, sentiment, score, "
    "tags::text[], "
    "attributes::jsonb, identifiers::jsonb "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], "
    "$7::timestamptz[], $8::text[], $9::text[], $10::integer[], $11::text[], $12::text[], "
    "$13::text[], $14::text[], $15::text[], $16::smallint[], $17::text[], $18::text[], "
    "$19::text[]) AS x(id, source, external_id, customer_id, channel, direction, "
    "occurred_at, agent, status, duration_s, subject, body, thread, stage, sentiment, score, "
    "tags, attributes, identifiers)";

/*
 * Last in the batch's transaction, so that it is delivered at COMMIT and only then: one
 * notification per chunk of customer ids (usually one per batch), naming the transaction so
 * that a listener reads back exactly the rows it wrote (STORE_LIVE_RECORDS).
 */
/* The batch's own transaction id, asked inside it: the notification itself goes out after
 * the COMMIT (STORE_NOTIFY), since a transaction that has sent one takes PostgreSQL's global
 * notification-queue lock at COMMIT and so queues every other notifying batch's commit and
 * WAL flush behind its own (docs/performance.md, "The cost of live updates"). */
static const char SQL_XACT_ID[] = "SELECT pg_current_xact_id()::text";

/* $1 the batch's transaction id, $2 chunks of its customers. */
static const char SQL_NOTIFY[] =
    "SELECT pg_notify('" STORE_NOTIFY_CHANNEL "', $1 || ' ' || c) FROM unnest($2::text[]) AS c";

/* Status updates carried by records already stored (sql/007_status_updates.sql): $1 the
 * stored records' ids, $2 statuses, $3 when, $4 durations, $5 the updates' attributes
 * (JSON texts). Answers the positions of the updates that moved a status. */
static const char SQL_APPLY_STATUSES[] =
    "SELECT n FROM touchline.apply_statuses($1::uuid[], $2::text[], $3::timestamptz[], "
    "$4::integer[], $5::text[])";

/* Read side. */

static const char SQL_FIND[] =
    "SELECT touchline.profile_json(touchline.find_customer($1, $2))::text";

static const char SQL_PROFILE[] = "SELECT touchline.profile_json($1::uuid)::text";

/* $1 customer, $2 limit, $3/$4 cursor (occurred_at, id), $5 channel, $6 since, $7 until. */
static const char SQL_TIMELINE[] =
    "SELECT touchline.timeline_json($1::uuid, $2::integer, $3::timestamptz, $4::uuid, $5, "
    "$6::timestamptz, $7::timestamptz)::text";

/* The live streams: who a customer id is now, and the records one transaction wrote or moved
 * (by a merge) for some customers. xmin is the writing transaction's id for every row it
 * inserted or updated; reaching the rows through customer_id keeps it an index scan. */
static const char SQL_LIVE_SURVIVOR[] = "SELECT c.id FROM touchline.customers c "
                                        "WHERE c.id = touchline.survivor($1::uuid)";

static const char SQL_LIVE_RECORDS[] =
    "SELECT i.customer_id, touchline.interaction_json(i)::text FROM touchline.interactions i "
    "WHERE i.customer_id = ANY ($1::uuid[]) AND i.xmin = xid($2::xid8) "
    "ORDER BY i.occurred_at, i.id";

/* $2: [analytics] callback_sla in seconds. The pending items join the context here rather
 * than in context_json, so that each stays one function with one job; an unknown customer
 * stays NULL. */
static const char SQL_CONTEXT[] =
    "SELECT (touchline.context_json($1::uuid) || "
    "jsonb_build_object('pending', touchline.pending_json($1::uuid, $2::integer)))::text";

/* Customer administration: each one function that takes the locks ingest takes. */
static const char SQL_MERGE_MANUAL[] =
    "SELECT touchline.merge_manual($1::uuid, $2::uuid, $3)::text";

static const char SQL_ERASE[] = "SELECT touchline.erase_customer($1::uuid, $2)::text";

/* The right of access (migration 008): the head writes the audit entry. */
static const char SQL_EXPORT_HEAD[] = "SELECT touchline.export_head($1::uuid, $2)::text";

/* $1 customer, $2/$3 the (occurred_at, id) of the last record sent, $4 page size: the page
 * (a JSON array), the cursor of its last record, and how many it holds. */
static const char SQL_EXPORT_PAGE[] =
    "SELECT doc::text, last_ts, last_id, n "
    "FROM touchline.export_page($1::uuid, $2::timestamptz, $3::uuid, $4::integer)";

static const char SQL_AUDIT[] = "SELECT touchline.audit_json($1::integer, $2::bigint)::text";
/* Retention (sql/012_retention_cursor.sql). $1 keep_days, $2 chunk, $3 after. */
static const char SQL_RETENTION[] =
    "SELECT deleted, scanned, last_row FROM touchline.retention_delete("
    "now() - make_interval(days => $1::integer), $2::integer, $3::tid)";

/* Analytics (sql/009_analytics.sql). $1 since, $2 until, $3 by, $4 callback_sla_s. */
static const char SQL_STATS[] = "SELECT touchline.stats_json($1::timestamptz, $2::timestamptz, "
                                "$3, $4::integer)::text";

/* $1 since, $2 until, $3 open, $4 limit, $5 callback_sla_s. */
static const char SQL_MISSED[] =
    "SELECT touchline.missed_json($1::timestamptz, $2::timestamptz, $3::boolean, $4::integer, "
    "$5::integer)::text";

/* $1 customer, $2 since, $3 until. */
static const char SQL_JOURNEY[] =
    "SELECT touchline.journey_json($1::uuid, $2::timestamptz, $3::timestamptz)::text";

/* Provenance and unmerge (sql/006_identity.sql). */
static const char SQL_IDENTITIES[] = "SELECT touchline.identities_json($1::uuid)::text";

static const char SQL_WHY[] = "SELECT touchline.why_json($1, $2, $3, $4)::text";

static const char SQL_UNMERGE[] = "SELECT touchline.unmerge($1::uuid, $2::bigint, $3)::text";

/* $1 every one (else the open ones), $2 limit, $3 suspect threshold. */
static const char SQL_CONFLICTS[] =
    "SELECT touchline.conflicts_json($1::boolean, $2::integer, $3::integer)::text";

static const char SQL_RESOLVE_CONFLICT[] =
    "SELECT touchline.resolve_conflict($1::bigint, $2, $3)::text";

static const char SQL_REMOVE_APART[] =
    "SELECT touchline.remove_apart($1::uuid, $2::bigint, $3)::text";

const struct db_statement store_statements[] = {
    {STORE_LOCK, SQL_LOCK, 3},
    {STORE_LOOKUP, SQL_LOOKUP, 2},
    {STORE_DUPLICATES, SQL_DUPLICATES, 4},
    {STORE_CREATE_CUSTOMERS, SQL_CREATE_CUSTOMERS, 3},
    {STORE_MERGE_FACTS, SQL_MERGE_FACTS, 1},
    {STORE_MERGE, SQL_MERGE, 6},
    {STORE_UPDATE_CUSTOMERS, SQL_UPDATE_CUSTOMERS, 3},
    {STORE_ADD_IDENTITIES, SQL_ADD_IDENTITIES, 4},
    {STORE_ADD_CONFLICTS, SQL_ADD_CONFLICTS, 6},
    {STORE_ADD_INTERACTIONS, SQL_ADD_INTERACTIONS, STORE_IC_COUNT},
    {STORE_APPLY_STATUSES, SQL_APPLY_STATUSES, 5},
    {STORE_FIND, SQL_FIND, 2},
    {STORE_PROFILE, SQL_PROFILE, 1},
    {STORE_TIMELINE, SQL_TIMELINE, STORE_TIMELINE_NPARAMS},
    {STORE_CONTEXT, SQL_CONTEXT, 2},
    {STORE_MERGE_MANUAL, SQL_MERGE_MANUAL, 3},
    {STORE_ERASE, SQL_ERASE, 2},
    {STORE_EXPORT_HEAD, SQL_EXPORT_HEAD, 2},
    {STORE_EXPORT_PAGE, SQL_EXPORT_PAGE, 4},
    {STORE_AUDIT, SQL_AUDIT, 2},
    {STORE_STATS, SQL_STATS, 4},
    {STORE_RETENTION, SQL_RETENTION, 3},
    {STORE_MISSED, SQL_MISSED, 5},
    {STORE_JOURNEY, SQL_JOURNEY, 3},
    {STORE_XACT_ID, SQL_XACT_ID, 0},
    {STORE_NOTIFY, SQL_NOTIFY, 2},
    {STORE_IDENTITIES, SQL_IDENTITIES, 1},
    {STORE_WHY, SQL_WHY, 4},
    {STORE_UNMERGE, SQL_UNMERGE, 3},
    {STORE_REMOVE_APART, SQL_REMOVE_APART, 3},
    {STORE_CONFLICTS, SQL_CONFLICTS, 3},
    {STORE_RESOLVE_CONFLICT, SQL_RESOLVE_CONFLICT, 3},
};
const int store_n_statements = sizeof(store_statements) / sizeof(store_statements[0]);

const struct db_statement store_live_statements[] = {
    {STORE_LIVE_SURVIVOR, SQL_LIVE_SURVIVOR, 1},
    {STORE_LIVE_RECORDS, SQL_LIVE_RECORDS, 2},
};
const int store_live_n_statements =
    sizeof(store_live_statements) / sizeof(store_live_statements[0]);
