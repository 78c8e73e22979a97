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
    PGconn *pg;
    struct event *io;
    int io_fd;
    short io_what;
    struct event *timer;
    enum step step;
    size_t current;
    bool *applied;
    size_t n_migrations;
    int count;
    bool failed;
    bool no_table; /* SQL_CHECK found no schema_migrations: a database never migrated */
    char *err;
    size_t errlen;
};

static void on_io(evutil_socket_t fd, short what, void *arg);

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
        /* libpq's messages span lines; a log line must not. */
        for (char *p = m->err; *p != '\0'; p++) {
            if (*p == '\n' || *p == '\t') {
                *p = ' ';
            }
        }
        size_t n = strlen(m->err);
        while (n > 0 && m->err[n - 1] == ' ') {
            m->err[--n] = '\0';
        }
    }
    m->failed = true;
    m->step = STEP_DONE;
    event_base_loopexit(m->base, NULL);
}

static int watch(struct migrate *m, short what)
{
    int fd = PQsocket(m->pg);
    if (fd < 0) {
        return -1;
    }
    if (m->io != NULL && (m->io_fd != fd || m->io_what != what)) {
        event_free(m->io);
        m->io = NULL;
    }
    if (m->io == NULL) {
        m->io = event_new(m->base, fd, what | EV_PERSIST, on_io, m);
        m->io_fd = fd;
        m->io_what = what;
        if (m->io == NULL || event_add(m->io, NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Sends sql (one or more statements) and waits for its results. */
static void send_sql(struct migrate *m, const char *sql)
{
    if (PQsendQuery(m->pg, sql) != 1) {
        fail(m, "sending to the database: %s", PQerrorMessage(m->pg));
        return;
    }
    int f = PQflush(m->pg);
    if (f < 0 || watch(m, f == 1 ? EV_READ | EV_WRITE : EV_READ) < 0) {
        fail(m, "sending to the database: %s", PQerrorMessage(m->pg));
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
            event_base_loopexit(m->base, NULL);
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
        event_base_loopexit(m->base, NULL);
        return;
    case STEP_CONNECT:
    case STEP_DONE:
        return;
    }
}

static void on_result(struct migrate *m, PGresult *res)
{
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

static void on_connected(struct migrate *m)
{
    evtimer_del(m->timer);
    if (PQsetnonblocking(m->pg, 1) != 0) {
        fail(m, "database: %s", PQerrorMessage(m->pg));
        return;
    }
    m->step = STEP_CHECK;
    send_sql(m, SQL_CHECK);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct migrate *m = arg;
    if (m->step == STEP_CONNECT) {
        switch (PQconnectPoll(m->pg)) {
        case PGRES_POLLING_READING:
            if (watch(m, EV_READ) < 0) {
                fail(m, "cannot watch the database socket");
            }
            return;
        case PGRES_POLLING_WRITING:
            if (watch(m, EV_WRITE) < 0) {
                fail(m, "cannot watch the database socket");
            }
            return;
        case PGRES_POLLING_OK:
            on_connected(m);
            return;
        case PGRES_POLLING_FAILED:
        case PGRES_POLLING_ACTIVE:
            fail(m, "cannot connect to the database: %s", PQerrorMessage(m->pg));
            return;
        }
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(m->pg);
        if (f < 0 || (f == 0 && watch(m, EV_READ) < 0)) {
            fail(m, "sending to the database: %s", PQerrorMessage(m->pg));
            return;
        }
    }
    if (!(what & EV_READ)) {
        return;
    }
    if (PQconsumeInput(m->pg) != 1) {
        fail(m, "the database connection broke: %s", PQerrorMessage(m->pg));
        return;
    }
    while (m->step != STEP_DONE && !PQisBusy(m->pg)) {
        PGresult *res = PQgetResult(m->pg);
        if (res == NULL) {
            step_done(m);
            return;
        }
        on_result(m, res);
        PQclear(res);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail(arg, "cannot connect to the database: no answer in time");
}

int migrate_run(const char *dsn, int connect_timeout_s, char *err, size_t errlen)
{
    struct migrate m = {.err = err, .errlen = errlen};
    int rc = -1;
    for (const struct migration *mg = migrate_embedded; mg->name != NULL; mg++) {
        m.n_migrations++;
    }
    m.applied = calloc(m.n_migrations + 1, sizeof(*m.applied));
    m.base = event_base_new();
    m.timer = m.base != NULL ? evtimer_new(m.base, on_timeout, &m) : NULL;
    if (m.applied == NULL || m.timer == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *const values[] = {dsn, "touchlined-migrate", timeout, NULL};
    m.pg = PQconnectStartParams(keys, values, 1);
    if (m.pg == NULL || PQstatus(m.pg) == CONNECTION_BAD) {
        snprintf(err, errlen, "cannot connect to the database: %s",
                 m.pg != NULL ? PQerrorMessage(m.pg) : "out of memory");
        goto out;
    }
    struct timeval tv = {connect_timeout_s, 0};
    evtimer_add(m.timer, &tv);
    if (watch(&m, EV_WRITE) < 0) {
        snprintf(err, errlen, "cannot watch the database socket");
        goto out;
    }
    event_base_dispatch(m.base);
    if (!m.failed && m.step == STEP_DONE) {
        rc = m.count;
    } else if (!m.failed) {
        snprintf(err, errlen, "migration stopped before it finished");
    }
out:
    if (m.io != NULL) {
        event_free(m.io);
    }
    if (m.timer != NULL) {
        event_free(m.timer);
    }
    if (m.base != NULL) {
        event_base_free(m.base);
    }
    /* Closing the connection rolls back whatever a failure left open. */
    PQfinish(m.pg);
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
