/*
 * The HTTP API (CONTRACT §4) on libevent's evhttp: routing, authentication, parameter
 * validation, and answering from asynchronous database jobs so that a query never blocks
 * the loop. Answers and errors are JSON: {"error":{"code":…,"message":…}}.
 */
#ifndef TOUCHLINED_HTTP_H
#define TOUCHLINED_HTTP_H

#include <event2/event.h>
#include <stdbool.h>
#include <time.h>

struct batch;
struct config;
struct db;
struct deliver;
struct evhttp_request;
struct hin;
struct ingest;
struct live;
struct replica;
struct retention;
struct spool;
struct tls;
struct http;

/* What the daemon's state means for HTTP, owned and updated by daemon.c; http only reads it. */
struct http_status {
    bool leaving;  /* told to stop: /readyz answers 503 from now on */
    bool draining; /* stopping: ingest requests are refused */
    bool schema_ready;
    char migrate_error[512]; /* why the migrations have not run yet, "" when they have */
};

/* The collaborators, all borrowed for the life of the server: queries go to db (or a
 * replica); hin serves the HTTP ways in for records; the rest is read for /readyz and
 * /metrics. */
struct http_params {
    struct event_base *base;
    const struct config *cfg; /* read at each use */
    struct db *db;
    struct replica *replica; /* NULL without database.read_dsn */
    struct retention *retention;
    struct batch *batch;
    struct deliver *deliver;
    struct spool *spool; /* NULL: no spool */
    struct ingest *ingest;
    struct hin *hin;
    struct tls *tls;   /* NULL unless a listener serves TLS */
    struct live *live; /* NULL when [live] max_streams is 0 */
    time_t started;
    const struct http_status *status;
};

/* Listens on cfg->listen_http. NULL with the reason logged. */
struct http *http_new(const struct http_params *p);

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

/* The same for an application/x-www-form-urlencoded body, where '+' is a space. */
int http_parse_form(const char *q, struct http_param *out, int max)
    __attribute__((warn_unused_result));

/* Frees the n pairs at p. */
void http_params_free(struct http_param *p, int n);

#endif
