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

/* What is applied, read before anything else: when every migration of this daemon is there,
 * nothing more is sent, so a role that may only read and write rows can run the daemon.
 * (CREATE ... IF NOT EXISTS below checks the CREATE privilege even when the object exists.) */
static const char SQL_CHECK[] = "SELECT version, checksum FROM touchline.schema_migrations";

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
    STEP_CHECK, /* SQL_CHECK: is anything to do? */
    STEP_BEGIN,
    STEP_APPLY, /* migrate_embedded[current] */
    STEP_COMMIT,
    STEP_DONE,
};

struct migrate {
    struct event_base *base;
    migrate_done_fn done;
    void *done_arg;
    struct event *finish_ev; /* calls done from a stack of its own */
    bool unreachable;        /* the failure was reaching the database: worth retrying */
    char errbuf[1024];
    struct pgconn *pc;
    PGconn *pg; /* pgconn_pg(pc) once connected */
    enum step step;
    size_t current;
    bool *applied;
    size_t n_migrations;
    int count;
    bool failed;
    bool no_table; /* SQL_CHECK found no schema_migrations: a database never migrated */
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

/* The owner hears of the end once the pgconn callback that ended it has returned, so that
 * it may free m from done. */
static void on_finish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct migrate *m = arg;
    /* Closing the connection rolls back whatever a failure left open. */
    pgconn_close(m->pc);
    if (m->failed) {
        m->done(-1, m->unreachable, m->errbuf, m->done_arg);
    } else {
        m->done(m->count, false, NULL, m->done_arg);
    }
}

static void finish(struct migrate *m)
{
    static const struct timeval now = {0, 0};
    evtimer_add(m->finish_ev, &now);
}

static void fail(struct migrate *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct migrate *m, const char *fmt, ...)
{
    if (!m->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->errbuf, sizeof(m->errbuf), fmt, ap);
        va_end(ap);
    }
    m->failed = true;
    m->step = STEP_DONE;
    finish(m);
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
    case STEP_CHECK: {
        size_t missing = 0;
        for (size_t i = 0; i < m->n_migrations; i++) {
            missing += !m->applied[i];
        }
        if (!m->no_table && missing == 0) {
            m->step = STEP_DONE;
            finish(m);
            return;
        }
        m->step = STEP_BEGIN;
        send_sql(m, SQL_BEGIN);
        return;
    }
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
        finish(m);
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
        case STEP_CHECK: {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            /* undefined_table, invalid_schema_name: nothing applied yet. */
            if (state != NULL && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0)) {
                m->no_table = true;
                return;
            }
            fail(m, "reading touchline.schema_migrations: %s", msg);
            return;
        }
        case STEP_BEGIN: {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (state != NULL && strcmp(state, "42501") == 0) {
                fail(m,
                     "the schema needs migrations (newest %s) and this database role may not "
                     "apply them: run touchlined --migrate as the role that owns the schema "
                     "(docs/deploy.md): %s",
                     migrate_latest(), msg);
                return;
            }
            fail(m, "preparing touchline.schema_migrations: %s", msg);
            return;
        }
        case STEP_COMMIT:
            fail(m, "committing the migrations: %s", msg);
            return;
        case STEP_CONNECT:
        case STEP_DONE:
            fail(m, "%s", msg);
            return;
        }
    }
    if ((m->step == STEP_CHECK || m->step == STEP_BEGIN) && st == PGRES_TUPLES_OK &&
        PQnfields(res) == 2 && strcmp(PQfname(res, 0), "version") == 0) {
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
    m->step = STEP_CHECK;
    send_sql(m, SQL_CHECK);
}

static void on_lost(struct pgconn *pc, enum pgconn_loss loss, const char *why, void *arg)
{
    (void)pc;
    struct migrate *m = arg;
    m->unreachable = true;
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

static const struct pgconn_ops migrate_ops = {on_connected, on_result, on_lost, NULL};

struct migrate *migrate_start(struct event_base *base, const char *dsn, int connect_timeout_s,
                              migrate_done_fn done, void *arg)
{
    struct migrate *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->base = base;
    m->done = done;
    m->done_arg = arg;
    for (const struct migration *mg = migrate_embedded; mg->name != NULL; mg++) {
        m->n_migrations++;
    }
    m->applied = calloc(m->n_migrations + 1, sizeof(*m->applied));
    m->finish_ev = evtimer_new(base, on_finish, m);
    m->pc = pgconn_new(base, &migrate_ops, m);
    if (m->applied == NULL || m->finish_ev == NULL || m->pc == NULL) {
        migrate_free(m);
        return NULL;
    }
    char why[512];
    if (pgconn_start(m->pc, dsn, "touchlined-migrate", connect_timeout_s, why, sizeof(why)) < 0) {
        /* The DSN's syntax was checked with the configuration, so this is the environment
         * (a host name that does not resolve yet): worth trying again. */
        m->unreachable = true;
        fail(m, "cannot connect to the database: %s", why);
    }
    return m;
}

void migrate_free(struct migrate *m)
{
    if (m == NULL) {
        return;
    }
    pgconn_free(m->pc);
    if (m->finish_ev != NULL) {
        event_free(m->finish_ev);
    }
    free(m->applied);
    free(m);
}

struct run_result {
    struct event_base *base;
    int applied;
    char *err;
    size_t errlen;
};

static void run_done(int applied, bool unreachable, const char *err, void *arg)
{
    (void)unreachable;
    struct run_result *r = arg;
    r->applied = applied;
    if (applied < 0) {
        snprintf(r->err, r->errlen, "%s", err);
    }
    event_base_loopexit(r->base, NULL);
}

int migrate_run(const char *dsn, int connect_timeout_s, char *err, size_t errlen)
{
    struct run_result r = {.applied = -1, .err = err, .errlen = errlen};
    snprintf(err, errlen, "out of memory");
    r.base = event_base_new();
    struct migrate *m =
        r.base != NULL ? migrate_start(r.base, dsn, connect_timeout_s, run_done, &r) : NULL;
    if (m != NULL) {
        snprintf(err, errlen, "migration stopped before it finished");
        event_base_dispatch(r.base);
    }
    migrate_free(m);
    if (r.base != NULL) {
        event_base_free(r.base);
    }
    return r.applied;
}

const char *migrate_latest(void)
{
    const char *latest = "";
    for (const struct migration *m = migrate_embedded; m->name != NULL; m++) {
        latest = m->name;
    }
    return latest;
}
