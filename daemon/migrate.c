#include "migrate.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Any constant will do as long as every touchlined uses the same one. */
static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(7463686972)";
static const char SQL_BOOTSTRAP[] =
    "CREATE SCHEMA IF NOT EXISTS touchline;"
    "CREATE TABLE IF NOT EXISTS touchline.schema_migrations ("
    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";
static const char SQL_APPLIED[] = "SELECT 1 FROM touchline.schema_migrations WHERE version = $1";
static const char SQL_RECORD[] = "INSERT INTO touchline.schema_migrations (version) VALUES ($1)";

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
}

/* Runs sql; returns 0, or -1 with err set. */
static int exec_ok(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, int *ntuples, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        errf(err, errlen, "%s: %s", what, PQresultErrorMessage(res));
        rc = -1;
    } else if (ntuples != NULL) {
        *ntuples = PQntuples(res);
    }
    PQclear(res);
    return rc;
}

int migrate_apply(const char *dsn, int connect_timeout_s, char *err, size_t errlen)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *const values[] = {dsn, "touchlined-migrate", timeout, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    int applied = 0;
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        errf(err, errlen, "cannot connect to the database: %s",
             conn != NULL ? PQerrorMessage(conn) : "out of memory");
        applied = -1;
        goto out;
    }
    /* Several statements in one simple query: BEGIN must be separate for the lock to hold
     * until our COMMIT. */
    if (exec_ok(conn, "BEGIN", "BEGIN", 0, NULL, NULL, err, errlen) < 0 ||
        exec_ok(conn, "taking the migration lock", SQL_LOCK, 0, NULL, NULL, err, errlen) < 0) {
        applied = -1;
        goto out;
    }
    PGresult *res = PQexec(conn, SQL_BOOTSTRAP);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        errf(err, errlen, "creating touchline.schema_migrations: %s", PQresultErrorMessage(res));
        PQclear(res);
        applied = -1;
        goto out;
    }
    PQclear(res);
    for (const struct migration *m = migrate_embedded; m->name != NULL; m++) {
        const char *params[1] = {m->name};
        int n = 0;
        if (exec_ok(conn, "reading touchline.schema_migrations", SQL_APPLIED, 1, params, &n, err,
                    errlen) < 0) {
            applied = -1;
            goto out;
        }
        if (n > 0) {
            continue;
        }
        res = PQexec(conn, m->sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            errf(err, errlen, "migration %s failed: %s", m->name, PQresultErrorMessage(res));
            PQclear(res);
            applied = -1;
            goto out;
        }
        PQclear(res);
        if (exec_ok(conn, "recording the migration", SQL_RECORD, 1, params, NULL, err, errlen) <
            0) {
            applied = -1;
            goto out;
        }
        log_info("migration applied name=%s", m->name);
        applied++;
    }
    if (exec_ok(conn, "COMMIT", "COMMIT", 0, NULL, NULL, err, errlen) < 0) {
        applied = -1;
    }
out:
    PQfinish(conn);
    return applied;
}

const char *migrate_latest(void)
{
    const char *latest = "";
    for (const struct migration *m = migrate_embedded; m->name != NULL; m++) {
        latest = m->name;
    }
    return latest;
}
