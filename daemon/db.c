#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "pgconn.h"

enum dbc_state {
    DBC_DOWN,       /* waiting for the reconnect timer */
    DBC_CONNECTING, /* PQconnectPoll in progress */
    DBC_PREPARING,  /* prepared statements sent, waiting for their Sync */
    DBC_READY,      /* idle */
    DBC_BUSY,       /* running one job */
};

struct db_job {
    TAILQ_ENTRY(db_job) link;
    const struct db_job_ops *ops;
    void *arg;
};
TAILQ_HEAD(job_queue, db_job);

struct db_conn {
    struct db *db;
    int index;
    enum dbc_state state;
    struct pgconn *pc;
    struct event *timer; /* reconnect backoff */
    int backoff_ms;
    struct db_job *job; /* running job, when BUSY */
    int result_index;
};

struct db {
    struct event_base *base;
    char *dsn;
    int connect_timeout_s;
    int reconnect_max_s;
    const struct db_statement *statements;
    int n_statements;
    const char *application_name; /* borrowed */
    char *listen;                 /* the LISTEN statement, or NULL */
    void (*listening)(void *arg);
    void (*notified)(void *arg, const char *payload);
    void *listen_arg;
    int pool_size;
    struct db_conn *conns;
    struct job_queue queue;
    int queued;
    unsigned long connects;
    bool closing; /* in db_free: refuse new jobs from done callbacks */
    bool started; /* connecting: db_start was called */
    char last_error[256];
};

static void conn_start(struct db_conn *c);
static bool db_reachable(const struct db *db);
static void dispatch(struct db *db);

static void set_last_error(struct db *db, const char *msg)
{
    size_t n = strnlen(msg != NULL ? msg : "", sizeof(db->last_error) - 1);
    memcpy(db->last_error, msg != NULL ? msg : "", n);
    db->last_error[n] = '\0';
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct db_conn *c = arg;
    switch (c->state) {
    case DBC_DOWN:
        conn_start(c);
        break;
    case DBC_CONNECTING:
    case DBC_PREPARING:
    case DBC_READY:
    case DBC_BUSY:
        break;
    }
}

static void conn_schedule_retry(struct db_conn *c)
{
    c->state = DBC_DOWN;
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    c->backoff_ms *= 2;
    if (c->backoff_ms > c->db->reconnect_max_s * 1000) {
        c->backoff_ms = c->db->reconnect_max_s * 1000;
    }
}

/* Drops the connection (why NULL: libpq's reason); a running job learns that its outcome is
 * unknown. */
static void conn_lost(struct db_conn *c, const char *why)
{
    struct db *db = c->db;
    set_last_error(db, why != NULL ? why : pgconn_error(c->pc));
    log_error("database connection %d lost: %s", c->index, db->last_error);
    pgconn_close(c->pc);
    evtimer_del(c->timer);
    struct db_job *job = c->job;
    c->job = NULL;
    conn_schedule_retry(c);
    if (job != NULL) {
        job->ops->done(DB_LOST, job->arg);
        free(job);
    }
    /* With every connection down, queued work would wait for an unknown time: fail it now
     * so that clients hear "unavailable" and may retry. */
    if (!db_reachable(db)) {
        while ((job = TAILQ_FIRST(&db->queue)) != NULL) {
            TAILQ_REMOVE(&db->queue, job, link);
            db->queued--;
            job->ops->done(DB_LOST, job->arg);
            free(job);
        }
    }
}

static void conn_start(struct db_conn *c)
{
    struct db *db = c->db;
    char err[sizeof(db->last_error)];
    if (pgconn_start(c->pc, db->dsn, db->application_name, db->connect_timeout_s, err,
                     sizeof(err)) < 0) {
        set_last_error(db, err);
        log_error("database connection %d: %s", c->index, db->last_error);
        conn_schedule_retry(c);
        return;
    }
    c->state = DBC_CONNECTING;
}

/* Connected: prepare every statement in one pipeline, then the connection is ready. */
static void conn_on_connected(struct pgconn *pc, void *arg)
{
    struct db_conn *c = arg;
    struct db *db = c->db;
    PGconn *pg = pgconn_pg(pc);
    c->backoff_ms = 100;
    db->connects++;
    log_info("database connection %d up: server %d, host=%s port=%s db=%s", c->index,
             PQserverVersion(pg), PQhost(pg), PQport(pg), PQdb(pg));
    if (PQenterPipelineMode(pg) != 1) {
        conn_lost(c, NULL);
        return;
    }
    for (int i = 0; i < db->n_statements; i++) {
        const struct db_statement *s = &db->statements[i];
        if (PQsendPrepare(pg, s->name, s->sql, s->nparams, NULL) != 1) {
            conn_lost(c, NULL);
            return;
        }
    }
    if (db->listen != NULL &&
        PQsendQueryParams(pg, db->listen, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        conn_lost(c, NULL);
        return;
    }
    if (PQpipelineSync(pg) != 1) {
        conn_lost(c, NULL);
        return;
    }
    c->state = DBC_PREPARING;
    c->result_index = 0;
    if (pgconn_flush(pc) < 0) {
        conn_lost(c, NULL);
    }
}

static void conn_on_result(struct pgconn *pc, PGresult *res, void *arg)
{
    struct db_conn *c = arg;
    if (res == NULL) {
        return; /* results are counted, not their ends */
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
        if (c->state == DBC_PREPARING) {
            c->state = DBC_READY;
            log_debug("database connection %d ready", c->index);
            if (c->db->listening != NULL) {
                c->db->listening(c->db->listen_arg);
            }
            dispatch(c->db);
            return;
        }
        struct db_job *job = c->job;
        c->job = NULL;
        c->state = DBC_READY;
        if (job != NULL) {
            job->ops->done(DB_DONE, job->arg);
            free(job);
        }
        dispatch(c->db);
        return;
    }
    if (c->state == DBC_PREPARING) {
        if (st != PGRES_COMMAND_OK) {
            char msg[512];
            snprintf(msg, sizeof(msg), "preparing statements: %s", PQresultErrorMessage(res));
            conn_lost(c, msg);
            return;
        }
    } else if (c->job == NULL && st == PGRES_FATAL_ERROR) {
        /* An error with no statement running: the server is closing the connection
         * (administrator command, shutdown). Do not wait for the socket to say so. */
        char msg[512];
        snprintf(msg, sizeof(msg), "server closed the connection: %s", PQresultErrorMessage(res));
        conn_lost(c, msg);
        return;
    } else if (c->job != NULL &&
               c->job->ops->result(pgconn_pg(pc), res, c->result_index, c->job->arg) < 0) {
        conn_lost(c, NULL);
        return;
    }
    c->result_index++;
}

static void conn_on_lost(struct pgconn *pc, enum pgconn_loss loss, const char *why, void *arg)
{
    (void)pc;
    struct db_conn *c = arg;
    if (loss == PGCONN_CONNECT_TIMEOUT) {
        log_warn("database connection %d: no answer within %d s, retrying", c->index,
                 c->db->connect_timeout_s);
        set_last_error(c->db, why);
        c->state = DBC_DOWN;
        conn_start(c);
        return;
    }
    conn_lost(c, why);
}

static void conn_on_notified(struct pgconn *pc, const char *channel, const char *payload, void *arg)
{
    struct db_conn *c = arg;
    (void)pc;
    (void)channel; /* the pool LISTENs on one channel */
    if (c->db->notified != NULL) {
        c->db->notified(c->db->listen_arg, payload);
    }
}

static const struct pgconn_ops conn_ops = {conn_on_connected, conn_on_result, conn_on_lost,
                                           conn_on_notified};

static void conn_run(struct db_conn *c, struct db_job *job)
{
    c->job = job;
    c->state = DBC_BUSY;
    c->result_index = 0;
    if (job->ops->send(pgconn_pg(c->pc), job->arg) < 0 || pgconn_flush(c->pc) < 0) {
        conn_lost(c, NULL);
    }
}

static void dispatch(struct db *db)
{
    for (int i = 0; i < db->pool_size && !TAILQ_EMPTY(&db->queue); i++) {
        struct db_conn *c = &db->conns[i];
        if (c->state != DBC_READY) {
            continue;
        }
        struct db_job *job = TAILQ_FIRST(&db->queue);
        TAILQ_REMOVE(&db->queue, job, link);
        db->queued--;
        conn_run(c, job);
    }
}

struct db *db_new(struct event_base *base, const struct db_params *params)
{
    struct db *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return NULL;
    }
    db->base = base;
    db->dsn = strdup(params->dsn);
    db->pool_size = params->pool_size;
    db->connect_timeout_s = params->connect_timeout_s;
    db->reconnect_max_s = params->reconnect_max_s;
    db->statements = params->statements;
    db->n_statements = params->n_statements;
    db->application_name =
        params->application_name != NULL ? params->application_name : "touchlined";
    db->listening = params->listening;
    db->notified = params->notified;
    db->listen_arg = params->listen_arg;
    TAILQ_INIT(&db->queue);
    db->conns = calloc((size_t)db->pool_size, sizeof(*db->conns));
    if (db->dsn == NULL || db->conns == NULL) {
        goto fail;
    }
    if (params->listen != NULL) {
        /* The channel is the caller's constant, quoted as an identifier all the same. */
        size_t n = strlen(params->listen) + 16;
        db->listen = malloc(n);
        if (db->listen == NULL || strchr(params->listen, '"') != NULL) {
            goto fail;
        }
        snprintf(db->listen, n, "LISTEN \"%s\"", params->listen);
    }
    for (int i = 0; i < db->pool_size; i++) {
        struct db_conn *c = &db->conns[i];
        c->db = db;
        c->index = i;
        c->backoff_ms = 100;
        c->timer = evtimer_new(base, conn_on_timer, c);
        c->pc = pgconn_new(base, &conn_ops, c);
        if (c->timer == NULL || c->pc == NULL) {
            goto fail;
        }
    }
    if (!params->deferred) {
        db_start(db);
    }
    return db;
fail:
    db_free(db);
    return NULL;
}

int db_send_prepared(PGconn *conn, const char *name, int n, const char *const *params)
{
    if (PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0) != 1) {
        return -1;
    }
    return PQpipelineSync(conn) == 1 ? 0 : -1;
}

void db_start(struct db *db)
{
    if (db->started) {
        return;
    }
    db->started = true;
    for (int i = 0; i < db->pool_size; i++) {
        conn_start(&db->conns[i]);
    }
}

void db_free(struct db *db)
{
    if (db == NULL) {
        return;
    }
    db->closing = true;
    for (int i = 0; db->conns != NULL && i < db->pool_size; i++) {
        struct db_conn *c = &db->conns[i];
        if (c->timer != NULL) {
            event_free(c->timer);
        }
        pgconn_free(c->pc);
        if (c->job != NULL) {
            c->job->ops->done(DB_LOST, c->job->arg);
            free(c->job);
        }
    }
    struct db_job *job;
    while ((job = TAILQ_FIRST(&db->queue)) != NULL) {
        TAILQ_REMOVE(&db->queue, job, link);
        job->ops->done(DB_LOST, job->arg);
        free(job);
    }
    free(db->conns);
    free(db->dsn);
    free(db->listen);
    free(db);
}

bool db_available(const struct db *db)
{
    for (int i = 0; i < db->pool_size; i++) {
        if (db->conns[i].state == DBC_READY || db->conns[i].state == DBC_BUSY) {
            return true;
        }
    }
    return false;
}

/* True unless every connection is down and waiting to retry. */
static bool db_reachable(const struct db *db)
{
    if (db->closing) {
        return false;
    }
    for (int i = 0; i < db->pool_size; i++) {
        if (db->conns[i].state != DBC_DOWN) {
            return true;
        }
    }
    return false;
}

int db_submit(struct db *db, const struct db_job_ops *ops, void *arg)
{
    if (!db_reachable(db)) {
        return -1;
    }
    struct db_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return -1;
    }
    job->ops = ops;
    job->arg = arg;
    TAILQ_INSERT_TAIL(&db->queue, job, link);
    db->queued++;
    dispatch(db);
    return 0;
}

int db_jobs_pending(const struct db *db)
{
    int n = db->queued;
    for (int i = 0; i < db->pool_size; i++) {
        n += db->conns[i].job != NULL;
    }
    return n;
}

int db_connections_up(const struct db *db)
{
    int n = 0;
    for (int i = 0; i < db->pool_size; i++) {
        n += db->conns[i].state == DBC_READY || db->conns[i].state == DBC_BUSY;
    }
    return n;
}

unsigned long db_connects_total(const struct db *db)
{
    return db->connects;
}

void db_set_timeouts(struct db *db, int connect_timeout_s, int reconnect_max_s)
{
    db->connect_timeout_s = connect_timeout_s;
    db->reconnect_max_s = reconnect_max_s;
}

const char *db_last_error(const struct db *db)
{
    return db->last_error;
}
