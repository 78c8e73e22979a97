/*
 * Live streams (docs/console.md, docs/api.md "Live updates"): Server-Sent Events that push a
 * customer's new records to the console within a second of their COMMIT, whichever daemon on
 * the database stored them. Each batch NOTIFYs its customers and its transaction id right
 * after its COMMIT (batch.c notify_committed, STORE_NOTIFY); this module keeps its own non-blocking
 * connection that LISTENs (a one-connection db pool, so it reconnects like the others), reads back
 * the rows that the notifying transaction wrote for the customers someone watches, and writes them
 * to the streams. Streams are bounded in number and in unsent bytes each; a stream whose client
 * does not keep up is closed, and the client reconnects and catches up from the timeline.
 */
#ifndef TOUCHLINED_LIVE_H
#define TOUCHLINED_LIVE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;
struct evhttp_connection;
struct live;

struct live_params {
    const char *dsn;
    int connect_timeout_s;
    int reconnect_max_s;
    int max_streams;
    size_t max_buffer_bytes; /* unsent bytes of one stream before it is closed */
    int heartbeat_s;
    int write_timeout_s; /* a stream whose writes do not drain this long is closed */
    bool deferred;       /* connect only once live_start is called (after the migrations) */
};

/* Starts connecting and listening. Borrows base; copies params. NULL on error (logged). */
struct live *live_new(struct event_base *base, const struct live_params *params);

/* Starts connecting, when created deferred. */
void live_start(struct live *l);

/* Ends every stream and closes the connection. NULL is fine. */
void live_free(struct live *l);

/*
 * Answers req (an authorized GET) with a stream: of customer's records when customer is a
 * canonical UUID (a merged-away id follows its survivor; 404 when unknown), or of "activity"
 * events for every committed batch when customer is NULL. 503 when the streams are at their
 * limit or the database is unreachable. Takes over req; callable from evhttp callbacks.
 */
void live_stream(struct live *l, struct evhttp_request *req, const char *customer);

/* Tells the module that an HTTP connection closed, so that its stream (if any) ends. */
void live_connection_closed(struct live *l, struct evhttp_connection *evcon);

/* Ends every stream cleanly (graceful stop): clients reconnect to another daemon. */
void live_end_streams(struct live *l);

struct live_stats {
    size_t streams;              /* open now */
    unsigned long notifications; /* received from PostgreSQL */
    unsigned long events;        /* events written to streams */
    unsigned long dropped;       /* streams closed because their client fell behind */
    unsigned long refused;       /* streams refused at the limit */
};
const struct live_stats *live_get_stats(const struct live *l);

#endif
