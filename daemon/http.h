/*
 * The HTTP API (CONTRACT §4) on libevent's evhttp: routing, authentication, parameter
 * validation, and answering from asynchronous database jobs so that a query never blocks
 * the loop. Answers and errors are JSON: {"error":{"code":…,"message":…}}.
 */
#ifndef TOUCHLINED_HTTP_H
#define TOUCHLINED_HTTP_H

struct daemon;
struct evhttp_request;
struct http;

/* Listens on cfg listen_http. Borrows d. NULL with the reason logged. */
struct http *http_new(struct daemon *d);

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
