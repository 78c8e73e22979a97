/*
 * The HTTP API (CONTRACT §4) on libevent's evhttp: routing, authentication, parameter
 * validation, and answering from asynchronous database jobs so that a query never blocks
 * the loop. Answers and errors are JSON: {"error":{"code":…,"message":…}}.
 */
#ifndef TOUCHLINED_HTTP_H
#define TOUCHLINED_HTTP_H

#include <event2/event.h>
#include <time.h>

struct batch;
struct config;
struct db;
struct deliver;
struct ingest;
struct spool;
struct http;

/* The collaborators, all borrowed for the life of the server: queries go to db; the rest is
 * read for /readyz and /metrics. */
struct http_params {
    struct event_base *base;
    const struct config *cfg; /* read at each use */
    struct db *db;
    struct batch *batch;
    struct deliver *deliver;
    struct spool *spool; /* NULL: no spool */
    struct ingest *ingest;
    time_t started;
};

/* Listens on cfg->listen_http. NULL with the reason logged. */
struct http *http_new(const struct http_params *p);

/* The daemon is stopping: /readyz answers 503 "shutting down" from now on. */
void http_set_draining(struct http *h);

/* Stops accepting and frees; requests in flight are dropped. NULL is fine. */
void http_free(struct http *h);

/* Requests whose database answer is still outstanding. */
int http_inflight(const struct http *h);

/* The port actually bound. */
int http_port(const struct http *h);

/* Parses a timeline cursor "<microseconds>-<32 hex>" into a timestamp and a UUID.
 * Returns 0 or -1. Pure; exposed for tests. */
int http_parse_cursor(const char *cursor, char ts[28], char id[37])
    __attribute__((warn_unused_result));

/* One pair of a query string, percent-decoded; key and value are owned (free both). */
struct http_param {
    char *key;
    char *value;
};

/*
 * Splits a query string (NULL: none) into at most max decoded pairs at out, skipping empty
 * ones. Returns the count, or -1 (then out holds nothing to free) when there are more than
 * max pairs, a pair decodes to a NUL byte, or memory runs out. Pure; exposed for tests.
 */
int http_parse_query(const char *q, struct http_param *out, int max)
    __attribute__((warn_unused_result));

#endif
