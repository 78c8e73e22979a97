#include "replica.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * The replica's lag: nothing when it has replayed all it received (an idle primary sends
 * nothing, so the time since the last replayed transaction would grow without any lag),
 * else the age of the last transaction it replayed. A server that is not in recovery (a
 * read_dsn naming a primary) has none.
 */
static const char LAG_SQL[] =
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END";

/* How often the lag is measured. */
#define PROBE_INTERVAL_MS 1000

struct replica {
    struct db *db;
    struct event *probe_timer;
    bool probing;   /* a probe job is queued or running */
    bool lag_known; /* the last probe answered */
    double lag_s;
    int max_lag_s;
    bool behind; /* last decision, so that a change is logged once */
    unsigned long fallbacks;
};

static int probe_send(PGconn *conn, void *arg)
{
    (void)arg;
    if (PQsendQueryParams(conn, LAG_SQL, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        return -1;
    }
    return PQpipelineSync(conn) == 1 ? 0 : -1;
}

static int probe_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    (void)conn;
    (void)index;
    struct replica *r = arg;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        r->lag_s = strtod(PQgetvalue(res, 0, 0), NULL);
        r->lag_known = true;
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        log_warn("replica: lag probe failed: %s", PQresultErrorMessage(res));
        r->lag_known = false;
    }
    return 0;
}

static void probe_done(enum db_outcome outcome, void *arg)
{
    struct replica *r = arg;
    r->probing = false;
    if (outcome == DB_LOST) {
        r->lag_known = false;
    }
}

static const struct db_job_ops probe_ops = {probe_send, probe_result, probe_done};

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct replica *r = arg;
    if (!r->probing) {
        if (db_submit(r->db, &probe_ops, r) == 0) {
            r->probing = true;
        } else {
            r->lag_known = false; /* no connection */
        }
    }
    static const struct timeval next = {PROBE_INTERVAL_MS / 1000,
                                        (PROBE_INTERVAL_MS % 1000) * 1000};
    evtimer_add(r->probe_timer, &next);
}

struct replica *replica_new(struct event_base *base, const struct replica_params *params)
{
    struct replica *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->max_lag_s = params->max_lag_s;
    r->lag_s = -1;
    r->db = db_new(base, &params->db);
    r->probe_timer = evtimer_new(base, on_probe, r);
    if (r->db == NULL || r->probe_timer == NULL) {
        replica_free(r);
        return NULL;
    }
    static const struct timeval now = {0, 0};
    evtimer_add(r->probe_timer, &now);
    return r;
}

void replica_free(struct replica *r)
{
    if (r == NULL) {
        return;
    }
    if (r->probe_timer != NULL) {
        event_free(r->probe_timer);
    }
    /* Done with DB_LOST for a probe still queued: probe_done only touches r. */
    db_free(r->db);
    free(r);
}

struct db *replica_pick(struct replica *r)
{
    if (r == NULL) {
        return NULL;
    }
    bool usable = db_available(r->db) && r->lag_known && r->lag_s <= (double)r->max_lag_s;
    if (usable == r->behind) {
        r->behind = !usable;
        if (usable) {
            log_info("replica: reads go to the replica again (lag %.1f s)", r->lag_s);
        } else if (!r->lag_known || !db_available(r->db)) {
            log_warn("replica: unreachable or its lag unknown; reads go to the primary");
        } else {
            log_warn("replica: %.1f s behind (read_max_lag_s %d); reads go to the primary",
                     r->lag_s, r->max_lag_s);
        }
    }
    if (!usable) {
        r->fallbacks++;
        return NULL;
    }
    return r->db;
}

double replica_lag_s(const struct replica *r)
{
    return r != NULL && r->lag_known ? r->lag_s : -1;
}

unsigned long replica_fallbacks(const struct replica *r)
{
    return r != NULL ? r->fallbacks : 0;
}

void replica_set_max_lag(struct replica *r, int max_lag_s)
{
    if (r != NULL) {
        r->max_lag_s = max_lag_s;
    }
}
