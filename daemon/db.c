#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"

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
    PGconn *pg;
    struct event *io; /* socket readiness; re-created when the socket changes */
    int io_fd;
    short io_what;
    struct event *timer; /* reconnect backoff and connect timeout */
    int backoff_ms;
    struct db_job *job; /* running job, when BUSY */
    int result_index;
    int nulls; /* consecutive NULL results: no progress */
};

struct db {
    struct event_base *base;
    char *dsn;
    int connect_timeout_s;
    int reconnect_max_s;
    const struct db_statement *statements;
    int n_statements;
    char *listen; /* the LISTEN statement, or NULL */
    void (*listening)(void *arg);
    void (*notified)(void *arg, const char *payload);
    void *listen_arg;
    int pool_size;
    struct db_conn *conns;
    struct job_queue queue;
    int queued;
    unsigned long connects;
    bool closing; /* in db_free: refuse new jobs from done callbacks */
    char last_error[256];
};

static void conn_start(struct db_conn *c);
static bool db_reachable(const struct db *db);
static void conn_on_io(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct db *db);

static void set_last_error(struct db *db, const char *msg)
{
    snprintf(db->last_error, sizeof(db->last_error), "%s", msg != NULL ? msg : "");
    /* libpq messages span lines; logs and JSON want one. */
    for (char *p = db->last_error; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }
    size_t n = strlen(db->last_error);
    while (n > 0 && db->last_error[n - 1] == ' ') {
        db->last_error[--n] = '\0';
    }
}

/* Waits for the given readiness on the connection's current socket. */
static int conn_watch(struct db_conn *c, short what)
{
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        return -1;
    }
    if (c->io != NULL && (c->io_fd != fd || c->io_what != what)) {
        event_free(c->io);
        c->io = NULL;
    }
    if (c->io == NULL) {
        c->io = event_new(c->db->base, fd, what | EV_PERSIST, conn_on_io, c);
        if (c->io == NULL) {
            return -1;
        }
        c->io_fd = fd;
        c->io_what = what;
        if (event_add(c->io, NULL) < 0) {
            return -1;
        }
    }
    return 0;
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
        log_warn("database connection %d: no answer within %d s, retrying", c->index,
                 c->db->connect_timeout_s);
        set_last_error(c->db, "connect timeout");
        PQfinish(c->pg);
        c->pg = NULL;
        if (c->io != NULL) {
            event_free(c->io);
            c->io = NULL;
        }
        c->state = DBC_DOWN;
        conn_start(c);
        break;
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

/* Drops the connection; a running job learns that its outcome is unknown. */
static void conn_lost(struct db_conn *c, const char *why)
{
    struct db *db = c->db;
    const char *pqmsg = c->pg != NULL ? PQerrorMessage(c->pg) : "";
    set_last_error(db, why != NULL ? why : pqmsg);
    log_error("database connection %d lost: %s", c->index, db->last_error);
    if (c->io != NULL) {
        event_free(c->io);
        c->io = NULL;
    }
    evtimer_del(c->timer);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
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
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", db->connect_timeout_s);
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *const values[] = {db->dsn, "touchlined", timeout, NULL};
    c->pg = PQconnectStartParams(keys, values, 1);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        set_last_error(db, c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory");
        log_error("database connection %d: %s", c->index, db->last_error);
        PQfinish(c->pg);
        c->pg = NULL;
        conn_schedule_retry(c);
        return;
    }
    c->state = DBC_CONNECTING;
    /* PQconnectPoll enforces no timeout of its own in this mode. */
    struct timeval tv = {db->connect_timeout_s, 0};
    evtimer_add(c->timer, &tv);
    if (conn_watch(c, EV_WRITE) < 0) {
        conn_lost(c, "cannot watch the database socket");
    }
}

static void conn_prepare(struct db_conn *c)
{
    struct db *db = c->db;
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_lost(c, NULL);
        return;
    }
    for (int i = 0; i < db->n_statements; i++) {
        const struct db_statement *s = &db->statements[i];
        if (PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL) != 1) {
            conn_lost(c, NULL);
            return;
        }
    }
    if (db->listen != NULL &&
        PQsendQueryParams(c->pg, db->listen, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        conn_lost(c, NULL);
        return;
    }
    if (PQpipelineSync(c->pg) != 1) {
        conn_lost(c, NULL);
        return;
    }
    c->state = DBC_PREPARING;
    c->result_index = 0;
    c->nulls = 0;
    int f = PQflush(c->pg);
    if (f < 0 || conn_watch(c, f == 1 ? EV_READ | EV_WRITE : EV_READ) < 0) {
        conn_lost(c, NULL);
    }
}

static void conn_poll_connect(struct db_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (conn_watch(c, EV_READ) < 0) {
            conn_lost(c, "cannot watch the database socket");
        }
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, EV_WRITE) < 0) {
            conn_lost(c, "cannot watch the database socket");
        }
        return;
    case PGRES_POLLING_OK:
        evtimer_del(c->timer);
        c->backoff_ms = 100;
        c->db->connects++;
        log_info("database connection %d up: server %d, host=%s port=%s db=%s", c->index,
                 PQserverVersion(c->pg), PQhost(c->pg), PQport(c->pg), PQdb(c->pg));
        conn_prepare(c);
        return;
    case PGRES_POLLING_FAILED:
    case PGRES_POLLING_ACTIVE:
        break;
    }
    evtimer_del(c->timer);
    conn_lost(c, NULL);
}

/* Reads every result that has fully arrived. */
static void conn_drain(struct db_conn *c)
{
    while (c->pg != NULL && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            /* End of one statement's results; two in a row means nothing more is here. */
            if (++c->nulls >= 2) {
                return;
            }
            continue;
        }
        c->nulls = 0;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            c->nulls = 1;
            if (c->state == DBC_PREPARING) {
                c->state = DBC_READY;
                log_debug("database connection %d ready", c->index);
                if (c->db->listening != NULL) {
                    c->db->listening(c->db->listen_arg);
                }
                dispatch(c->db);
                continue;
            }
            struct db_job *job = c->job;
            c->job = NULL;
            c->state = DBC_READY;
            if (job != NULL) {
                job->ops->done(DB_DONE, job->arg);
                free(job);
            }
            dispatch(c->db);
            continue;
        }
        if (c->state == DBC_PREPARING) {
            if (st != PGRES_COMMAND_OK) {
                char msg[512];
                snprintf(msg, sizeof(msg), "preparing statements: %s", PQresultErrorMessage(res));
                PQclear(res);
                conn_lost(c, msg);
                return;
            }
        } else if (c->job == NULL && st == PGRES_FATAL_ERROR) {
            /* An error with no statement running: the server is closing the connection
             * (administrator command, shutdown). Do not wait for the socket to say so. */
            char msg[512];
            snprintf(msg, sizeof(msg), "server closed the connection: %s",
                     PQresultErrorMessage(res));
            PQclear(res);
            conn_lost(c, msg);
            return;
        } else if (c->job != NULL &&
                   c->job->ops->result(c->pg, res, c->result_index, c->job->arg) < 0) {
            PQclear(res);
            conn_lost(c, NULL);
            return;
        }
        c->result_index++;
        PQclear(res);
    }
}

/* Hands over the notifications that arrived (they come between results, at any time). */
static void conn_notifications(struct db_conn *c)
{
    PGnotify *n;
    while (c->pg != NULL && (n = PQnotifies(c->pg)) != NULL) {
        if (c->db->notified != NULL) {
            c->db->notified(c->db->listen_arg, n->extra);
        }
        PQfreemem(n);
    }
}

static void conn_on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct db_conn *c = arg;
    switch (c->state) {
    case DBC_DOWN:
        return;
    case DBC_CONNECTING:
        conn_poll_connect(c);
        return;
    case DBC_PREPARING:
    case DBC_READY:
    case DBC_BUSY:
        break;
    }
    if (what & EV_WRITE) {
        int f = PQflush(c->pg);
        if (f < 0) {
            conn_lost(c, NULL);
            return;
        }
        if (f == 0 && conn_watch(c, EV_READ) < 0) {
            conn_lost(c, NULL);
            return;
        }
    }
    if (what & EV_READ) {
        if (PQconsumeInput(c->pg) != 1) {
            conn_lost(c, NULL);
            return;
        }
        c->nulls = 0;
        conn_drain(c);
        conn_notifications(c);
        if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_BAD) {
            conn_lost(c, NULL);
            return;
        }
        /* Draining may have sent a new job whose output is still buffered. */
        if (c->pg != NULL && c->state == DBC_BUSY) {
            int f = PQflush(c->pg);
            if (f < 0 || conn_watch(c, f == 1 ? EV_READ | EV_WRITE : EV_READ) < 0) {
                conn_lost(c, NULL);
            }
        }
    }
}

static void conn_run(struct db_conn *c, struct db_job *job)
{
    c->job = job;
    c->state = DBC_BUSY;
    c->result_index = 0;
    c->nulls = 0;
    if (job->ops->send(c->pg, job->arg) < 0) {
        conn_lost(c, NULL);
        return;
    }
    int f = PQflush(c->pg);
    if (f < 0 || conn_watch(c, f == 1 ? EV_READ | EV_WRITE : EV_READ) < 0) {
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
        if (c->timer == NULL) {
            goto fail;
        }
    }
    for (int i = 0; i < db->pool_size; i++) {
        conn_start(&db->conns[i]);
    }
    return db;
fail:
    db_free(db);
    return NULL;
}

void db_free(struct db *db)
{
    if (db == NULL) {
        return;
    }
    db->closing = true;
    for (int i = 0; db->conns != NULL && i < db->pool_size; i++) {
        struct db_conn *c = &db->conns[i];
        if (c->io != NULL) {
            event_free(c->io);
        }
        if (c->timer != NULL) {
            event_free(c->timer);
        }
        if (c->pg != NULL) {
            PQfinish(c->pg);
        }
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
