#include "store.h"

static const char SQL_LOCK[] = "SELECT touchline.lock_identifiers($1::jsonb)";

static const char SQL_INGEST[] =
    "SELECT r_id, r_customer_id, r_duplicate FROM touchline.ingest("
    "$1::uuid, $2, $3, $4, $5, $6::timestamptz, $7::jsonb, $8, $9::jsonb, $10, $11, "
    "$12::integer, $13, $14, $15, $16, $17, $18::smallint, $19::jsonb, $20::jsonb)";

static const char SQL_FIND[] =
    "SELECT touchline.profile_json(touchline.find_customer($1, $2))::text";

static const char SQL_PROFILE[] = "SELECT touchline.profile_json($1::uuid)::text";

/* $1 customer, $2 limit, $3/$4 cursor (occurred_at, id), $5 channel, $6 since, $7 until. */
static const char SQL_TIMELINE[] =
    "SELECT touchline.timeline_json($1::uuid, $2::integer, $3::timestamptz, $4::uuid, $5, "
    "$6::timestamptz, $7::timestamptz)::text";

static const char SQL_PING[] = "SELECT max(version) FROM touchline.schema_migrations";

const struct db_statement store_statements[] = {
    {STORE_LOCK, SQL_LOCK, 1},
    {STORE_INGEST, SQL_INGEST, STORE_INGEST_NPARAMS},
    {STORE_FIND, SQL_FIND, 2},
    {STORE_PROFILE, SQL_PROFILE, 1},
    {STORE_TIMELINE, SQL_TIMELINE, STORE_TIMELINE_NPARAMS},
    {STORE_PING, SQL_PING, 0},
};
const int store_n_statements = sizeof(store_statements) / sizeof(store_statements[0]);
