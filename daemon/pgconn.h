/*
 * One non-blocking PostgreSQL connection driven by a libevent loop: the one place that
 * connects (PQconnectStartParams / PQconnectPoll under a connect timeout), flushes (PQflush,
 * watching write readiness only while it returns 1, and read readiness always, since libpq
 * may need to read before it can send), re-reads PQsocket() after every poll, and drains
 * results (PQconsumeInput, then PQgetResult only while !PQisBusy). The database pool (db.c)
 * and the migrations (migrate.c) both run on it; what to send and what a result means stays
 * with them.
 */
#ifndef TOUCHLINED_PGCONN_H
#define TOUCHLINED_PGCONN_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stddef.h>

struct pgconn;

enum pgconn_loss {
    PGCONN_CONNECT_FAILED,  /* the server refused or could not be reached */
    PGCONN_CONNECT_TIMEOUT, /* no connection within the connect timeout */
    PGCONN_BROKEN,          /* an established connection broke */
};

/* Called from the loop. The connection may be closed (pgconn_close) from any of them. */
struct pgconn_ops {
    /* The connection is up and non-blocking: send something. */
    void (*connected)(struct pgconn *pc, void *arg);
    /* One result, in order; NULL once at the end of each statement's results. The driver
     * clears res after the call. */
    void (*result)(struct pgconn *pc, PGresult *res, void *arg);
    /* The connection is gone and already closed; why is valid during the call only. */
    void (*lost)(struct pgconn *pc, enum pgconn_loss loss, const char *why, void *arg);
    /* Optional (NULL: notifications are dropped): one notification of a channel the
     * connection LISTENs on, after the results that arrived with it. */
    void (*notified)(struct pgconn *pc, const char *channel, const char *payload, void *arg);
};

/* Borrows base and ops. NULL when out of memory. */
struct pgconn *pgconn_new(struct event_base *base, const struct pgconn_ops *ops, void *arg);

/* Closes and frees; NULL is fine. Calls no callback. */
void pgconn_free(struct pgconn *pc);

/*
 * Starts connecting to dsn (a connection string or URI) as application_name; ops->connected
 * or ops->lost follows. Returns 0, or -1 with err filled when libpq refused at once (then no
 * callback follows).
 */
int pgconn_start(struct pgconn *pc, const char *dsn, const char *application_name,
                 int connect_timeout_s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The libpq connection to queue statements on, or NULL when not connected. */
PGconn *pgconn_pg(const struct pgconn *pc);

/* Sends what was queued, watching for write readiness while libpq has more to send. Returns
 * 0, or -1 when the connection failed (the caller closes it). */
int pgconn_flush(struct pgconn *pc) __attribute__((warn_unused_result));

/* libpq's message for the last failure, on one line; "" when closed. */
const char *pgconn_error(struct pgconn *pc);

/* Closes the connection (a failed one, or at the end); calls no callback. Idempotent. */
void pgconn_close(struct pgconn *pc);

#endif
