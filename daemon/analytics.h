/*
 * The analytics endpoints' query strings (docs/api.md, "Analytics"): GET /v1/stats,
 * GET /v1/missed and GET /v1/customers/{id}/journey. Each parser checks every parameter and
 * turns them into the text parameters of the endpoint's statement (store.h), so that a bad
 * request is refused, naming the parameter, before it reaches the database. Pure functions;
 * they may be called from any callback.
 */
#ifndef TOUCHLINED_ANALYTICS_H
#define TOUCHLINED_ANALYTICS_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "record.h"

#define ANALYTICS_MAX_PARAMS    5
#define ANALYTICS_DEFAULT_LIMIT 100
#define ANALYTICS_MAX_LIMIT     1000

/* The statement parameters of one request: values[i] is NULL for SQL NULL and otherwise
 * points into the struct's own buffers. */
struct analytics_query {
    const char *values[ANALYTICS_MAX_PARAMS];
    int n;
    char since[RECORD_TS_LEN + 1];
    char until[RECORD_TS_LEN + 1];
    char by[16];
    char flag[8];
    char number[16];
    char sla[16];
};

/*
 * GET /v1/stats?since=&until=&by=: fills q with (since, until, by, callback_sla_s).
 * Returns 0, or -1 with err naming the bad parameter.
 */
int analytics_parse_stats(const struct http_param *p, int np, int sla_s, struct analytics_query *q,
                          char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * GET /v1/missed?open=&since=&until=&limit=: fills q with (since, until, open, limit,
 * callback_sla_s). Returns 0, or -1 with err naming the bad parameter.
 */
int analytics_parse_missed(const struct http_param *p, int np, int sla_s, struct analytics_query *q,
                           char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * GET /v1/customers/{id}/journey?since=&until=: fills q with (id, since, until); id is
 * borrowed and must outlive q. Returns 0, or -1 with err naming the bad parameter.
 */
int analytics_parse_journey(const char *id, const struct http_param *p, int np,
                            struct analytics_query *q, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
