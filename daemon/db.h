/*
 * A small pool of non-blocking PostgreSQL connections driven by the event loop, each one a
 * daemon/pgconn (which connects, flushes and drains without ever blocking the loop). Work is
 * submitted as jobs: a job queues its statements in pipeline mode, gets every result in
 * order, and is told once that its pipeline ended (the Sync arrived, so an implicit
 * transaction has committed or rolled back) or that the connection was lost first.
 */
#ifndef TOUCHLINED_DB_H
#define TOUCHLINED_DB_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct db;

enum db_outcome {
    DB_DONE = 0,  /* the pipeline's Sync arrived: look at each result for errors */
    DB_LOST = -1, /* the connection broke before the Sync: the outcome is unknown */
};

struct db_job_ops {
    /* Queues the job's first statements on conn (in pipeline mode). A job ends its pipeline
     * with PQpipelineSync, at once or from result() after reading what it sent first (after
     * PQsendFlushRequest). Returns 0, or -1 if libpq refused (the connection is then treated
     * as lost). Called from the loop. */
    int (*send)(PGconn *conn, void *arg);
    /* One result, in order; index counts statements from 0. Must not keep res. May queue
     * more statements on conn. Returns 0, or -1 if libpq refused to queue. */
    int (*result)(PGconn *conn, const PGresult *res, int index, void *arg);
    /* Exactly once, last. The job may free arg here. */
    void (*done)(enum db_outcome outcome, void *arg);
};

struct db_statement {
    const char *name;
    const char *sql;
    int nparams;
};

struct db_params {
    const char *dsn;
    int pool_size;
    int connect_timeout_s;
    int reconnect_max_s;
    const struct db_statement *statements; /* prepared on every connection */
    int n_statements;
    bool deferred;                /* connect only once db_start is called (after the migrations) */
    const char *application_name; /* as pg_stat_activity shows it; NULL: "touchlined" */
    /*
     * Optional: a channel every connection LISTENs on (with the statements, so again after
     * each reconnect). listening(arg) is called each time a connection is ready and
     * listening (notifications sent while it was down are lost: the caller catches up);
     * notified(arg, payload) for each notification, from the loop. Borrowed.
     */
    const char *listen;
    void (*listening)(void *arg);
    void (*notified)(void *arg, const char *payload);
    void *listen_arg;
};

/* For a job's send(): queues the prepared statement name with n parameters (NULL: SQL NULL),
 * then the Sync that ends the job's pipeline. Returns 0, or -1 if libpq refused. */
int db_send_prepared(PGconn *conn, const char *name, int n, const char *const *params)
    __attribute__((warn_unused_result));

/* Starts connecting, unless params->deferred. Borrows base and params->statements; copies
 * the rest. NULL on error. */
struct db *db_new(struct event_base *base, const struct db_params *params);

/* Closes every connection; jobs still queued are done with DB_LOST. NULL is fine. */
void db_free(struct db *db);

/* Starts connecting a pool made with deferred; does nothing when it has started. */
void db_start(struct db *db);

/* Queues a job; it runs on the first ready connection, in submission order. Returns 0, or
 * -1 when no connection is up (the caller answers "unavailable"). Callable from callbacks. */
int db_submit(struct db *db, const struct db_job_ops *ops, void *arg)
    __attribute__((warn_unused_result));

/* True when at least one connection is ready or busy. */
bool db_available(const struct db *db);

/* Jobs queued and running. */
int db_jobs_pending(const struct db *db);

/* Connections up and connection attempts that succeeded since start (reconnects + 1). */
int db_connections_up(const struct db *db);
unsigned long db_connects_total(const struct db *db);

/* Changes timeouts on reload. */
void db_set_timeouts(struct db *db, int connect_timeout_s, int reconnect_max_s);

/* A short description of the last connection error, for /readyz and logs. */
const char *db_last_error(const struct db *db);

#endif
