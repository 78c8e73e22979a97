/*
 * The daemon context: the one struct that owns the event loop, the configuration, the
 * database pool, the batcher and the listeners, passed to every callback. There is no other
 * mutable state. Signals arrive as events: SIGTERM/SIGINT drain and stop, SIGHUP reloads.
 */
#ifndef TOUCHLINED_DAEMON_H
#define TOUCHLINED_DAEMON_H

#include <event2/event.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"

struct db;
struct replica;
struct retention;
struct batch;
struct deliver;
struct spool;
struct ingest;
struct http;
struct tls;
struct live;
struct hin;

struct daemon {
    struct event_base *base;
    struct config cfg;
    struct db *db;
    struct replica *replica; /* NULL without database.read_dsn */
    struct retention *retention;
    struct batch *batch;
    struct spool *spool; /* NULL when spool.dir is not set */
    struct deliver *deliver;
    struct ingest *ingest;
    struct hin *hin; /* the HTTP ways in for records, served by http */
    struct http *http;
    struct tls *tls;   /* NULL unless a listener serves TLS */
    struct live *live; /* NULL when [live] max_streams is 0 */
    struct event *ev_term;
    struct event *ev_int;
    struct event *ev_hup;
    struct event *drain_deadline;
    struct event *drain_timer;
    struct event *leave_timer; /* SIGTERM's shutdown delay, before the drain */
    bool leaving;              /* told to stop: /readyz answers 503 from now on */
    bool draining;
    /* With a spool the daemon starts before the database answers and applies the
     * migrations on its loop (migrate, retried by migrate_timer); the pool connects after. */
    struct migrate *migrate;
    struct event *migrate_timer;
    int migrate_backoff_ms;
    bool schema_ready;
    char migrate_error[512];
    int exit_code;
    time_t started;
};

/*
 * Sets up everything from cfg (takes ownership of its contents): migrations, database pool,
 * listeners. Returns 0, or -1 with the reason logged; call daemon_fini() either way.
 */
int daemon_init(struct daemon *d, struct config *cfg) __attribute__((warn_unused_result));

/* Runs the loop until drained after SIGTERM/SIGINT. Returns the exit code. */
int daemon_run(struct daemon *d);

/* Starts the graceful stop (as SIGTERM does). Callable from callbacks. */
void daemon_stop(struct daemon *d);

/* Frees everything; safe after a failed init. */
void daemon_fini(struct daemon *d);

/* Called when the records waiting for the database changed, to apply backpressure. */
void daemon_backlog_changed(struct daemon *d);

#endif
