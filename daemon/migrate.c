#include "migrate.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "pgconn.h"

/* Any constant will do as long as every touchlined uses the same one. */
#define MIGRATION_LOCK "7463686972"

/* Opens the transaction, waits for any other daemon migrating, and lists what is applied. */
static const char SQL_BEGIN[] = "BEGIN;"
                                "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ");"
                                "SET LOCAL client_min_messages = warning;"
                                "CREATE SCHEMA IF NOT EXISTS touchline;"
                                "CREATE TABLE IF NOT EXISTS touchline.schema_migrations ("
                                " version text PRIMARY KEY, checksum text NOT NULL,"
                                " applied_at timestamptz NOT NULL DEFAULT now());"
                                "SELECT version, checksum FROM touchline.schema_migrations";
static const char SQL_RECORD[] =
    "INSERT INTO touchline.schema_migrations (version, checksum) VALUES (";
static const char SQL_COMMIT[] = "COMMIT";

enum step {
    STEP_CONNECT,
    STEP_BEGIN,
    STEP_APPLY, /* migrate_embedded[current] */
    STEP_COMMIT,
    STEP_DONE,
};

struct migrate {
    struct event_base *base;
    struct pgconn *pc;
    PGconn *pg; /* pgconn_pg(pc) once connected */
    enum step step;
    size_t current;
    bool *applied;
    size_t n_migrations;
    int count;
    bool failed;
    char *err;
    size_t errlen;
};

/* SHA-256 of a migration's text, in hex: a recorded migration whose file has changed since
 * is refused rather than silently skipped. */
static void checksum(const char *sql, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (EVP_Digest(sql, strlen(sql), md, &len, EVP_sha256(), NULL) != 1) {
        return;
    }
    for (unsigned int i = 0; i < len && i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static void fail(struct migrate *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct migrate *m, const char *fmt, ...)
{
    if (!m->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err, m->errlen, fmt, ap);
        va_end(ap);
    }
    m->failed = true;
    m->step = STEP_DONE;
    event_base_loopexit(m->base, NULL);
}

/* Sends sql (one or more statements) and waits for its results. */
static void send_sql(struct migrate *m, const char *sql)
{
    if (PQsendQuery(m->pg, sql) != 1 || pgconn_flush(m->pc) < 0) {
        fail(m, "sending to the database: %s", pgconn_error(m->pc));
    }
}

/* Starts the next migration not applied yet, or the commit. */
static void next(struct migrate *m)
{
    while (m->current < m->n_migrations && m->applied[m->current]) {
        m->current++;
    }
    if (m->current == m->n_migrations) {
        m->step = STEP_COMMIT;
        send_sql(m, SQL_COMMIT);
        return;
    }
    const struct migration *mg = &migrate_embedded[m->current];
    char sum[65];
    checksum(mg->sql, sum);
    char *lit = PQescapeLiteral(m->pg, mg->name, strlen(mg->name));
    size_t len = strlen(mg->sql) + strlen(SQL_RECORD) + (lit != NULL ? strlen(lit) : 0) + 80;
    char *sql = lit != NULL ? malloc(len) : NULL;
    if (sql == NULL) {
        PQfreemem(lit);
        fail(m, "out of memory");
        return;
    }
    /* The file and its record in one round trip; the newline ends a trailing comment. */
    snprintf(sql, len, "%s\n;%s%s, '%s')", mg->sql, SQL_RECORD, lit, sum);
    PQfreemem(lit);
    m->step = STEP_APPLY;
    send_sql(m, sql);
    free(sql);
}

/* All results of the current step have arrived. */
static void step_done(struct migrate *m)
{
    switch (m->step) {
    case STEP_BEGIN:
        next(m);
        return;
    case STEP_APPLY:
        log_info("migration applied name=%s", migrate_embedded[m->current].name);
        m->count++;
        m->current++;
        next(m);
        return;
    case STEP_COMMIT:
        m->step = STEP_DONE;
        event_base_loopexit(m->base, NULL);
        return;
    case STEP_CONNECT:
    case STEP_DONE:
        return;
    }
}

static void on_result(struct pgconn *pc, PGresult *res, void *arg)
{
    (void)pc;
    struct migrate *m = arg;
    if (res == NULL) {
        step_done(m);
        return;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR) {
        const char *msg = PQresultErrorMessage(res);
        switch (m->step) {
        case STEP_APPLY:
            fail(m, "migration %s failed: %s", migrate_embedded[m->current].name, msg);
            return;
        case STEP_BEGIN:
            fail(m, "preparing touchline.schema_migrations: %s", msg);
            return;
        case STEP_COMMIT:
            fail(m, "committing the migrations: %s", msg);
            return;
        case STEP_CONNECT:
        case STEP_DONE:
            fail(m, "%s", msg);
            return;
        }
    }
    if (m->step == STEP_BEGIN && st == PGRES_TUPLES_OK && PQnfields(res) == 2 &&
        strcmp(PQfname(res, 0), "version") == 0) {
        for (int r = 0; r < PQntuples(res); r++) {
            for (size_t i = 0; i < m->n_migrations; i++) {
                if (strcmp(PQgetvalue(res, r, 0), migrate_embedded[i].name) != 0) {
                    continue;
                }
                char sum[65];
                checksum(migrate_embedded[i].sql, sum);
                if (strcmp(PQgetvalue(res, r, 1), sum) != 0) {
                    fail(m,
                         "migration %s was applied with other contents than this touchlined's "
                         "(checksum %.12s, expected %.12s): the database belongs to another "
                         "version",
                         migrate_embedded[i].name, PQgetvalue(res, r, 1), sum);
                    return;
                }
                m->applied[i] = true;
            }
        }
    }
}

static void on_connected(struct pgconn *pc, void *arg)
{
    struct migrate *m = arg;
    m->pg = pgconn_pg(pc);
    m->step = STEP_BEGIN;
    send_sql(m, SQL_BEGIN);
}

static void on_lost(struct pgconn *pc, enum pgconn_loss loss, const char *why, void *arg)
{
    (void)pc;
    struct migrate *m = arg;
    switch (loss) {
    case PGCONN_CONNECT_FAILED:
        fail(m, "cannot connect to the database: %s", why);
        return;
    case PGCONN_CONNECT_TIMEOUT:
        fail(m, "cannot connect to the database: no answer in time");
        return;
    case PGCONN_BROKEN:
        fail(m, "the database connection broke: %s", why);
        return;
    }
}

static const struct pgconn_ops migrate_ops = {on_connected, on_result, on_lost};

int migrate_run(const char *dsn, int connect_timeout_s, char *err, size_t errlen)
{
    struct migrate m = {.err = err, .errlen = errlen};
    int rc = -1;
    for (const struct migration *mg = migrate_embedded; mg->name != NULL; mg++) {
        m.n_migrations++;
    }
    m.applied = calloc(m.n_migrations + 1, sizeof(*m.applied));
    m.base = event_base_new();
    m.pc = m.base != NULL ? pgconn_new(m.base, &migrate_ops, &m) : NULL;
    if (m.applied == NULL || m.pc == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char why[512];
    if (pgconn_start(m.pc, dsn, "touchlined-migrate", connect_timeout_s, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot connect to the database: %s", why);
        goto out;
    }
    event_base_dispatch(m.base);
    if (!m.failed && m.step == STEP_DONE) {
        rc = m.count;
    } else if (!m.failed) {
        snprintf(err, errlen, "migration stopped before it finished");
    }
out:
    /* Closing the connection rolls back whatever a failure left open. */
    pgconn_free(m.pc);
    if (m.base != NULL) {
        event_base_free(m.base);
    }
    free(m.applied);
    return rc;
}

const char *migrate_latest(void)
{
    const char *latest = "";
    for (const struct migration *m = migrate_embedded; m->name != NULL; m++) {
        latest = m->name;
    }
    return latest;
}
