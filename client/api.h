/*
 * The daemon's customer API (CONTRACT §4) as touchline uses it: find a customer by an
 * identifier or by id, read their timeline page by page (following the opaque next_cursor) and
 * their context, merge two customers and erase one. Answers come back as parsed JSON objects;
 * error answers become an enum api_result and the server's own message ("no customer with
 * phone +989123456789"), so that the command line can pick its exit status and say what went
 * wrong. Blocking, like the HTTP client below it.
 */
#ifndef TOUCHLINE_API_H
#define TOUCHLINE_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>

#include "http_client.h"

/* Most items asked for in one request: the daemon's limit on ?limit=. */
#define API_PAGE_MAX 500

enum api_result {
    API_OK = 0,
    API_NOT_FOUND = -1, /* 404 */
    API_INVALID = -2,   /* 400: the server refused what the user gave (a malformed phone...) */
    API_FAILED = -3,    /* network, server error, or an answer that makes no sense */
};

/*
 * GET /v1/customers?<kind>=<value>, kind one of phone, email, chat, web, external and value
 * as the user wrote it (the server normalizes it). Returns API_OK with *customer set to the
 * profile (the caller releases it with json_decref), or a negative enum api_result with err
 * holding the server's message or what failed.
 */
int api_find_customer(const struct http_client *c, const char *kind, const char *value,
                      json_t **customer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* GET /v1/customers/{id}: the profile; a merged-away id answers the survivor's. Returns as
 * api_find_customer. */
int api_get_customer(const struct http_client *c, const char *id, json_t **customer, char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/*
 * The customer a command line names: kind "customer" with an id (GET /v1/customers/{id}), or
 * one of the identifier kinds with a value (as api_find_customer). Returns as
 * api_find_customer.
 */
int api_lookup(const struct http_client *c, const char *kind, const char *value, json_t **customer,
               char *err, size_t errlen) __attribute__((warn_unused_result));

struct api_timeline_query {
    const char *channel; /* NULL for every channel */
    const char *since;   /* RFC 3339, or NULL */
    const char *until;   /* RFC 3339, or NULL */
    const char *before;  /* a next_cursor an earlier answer gave: start after it; or NULL */
    size_t max;          /* items wanted in all; 0 for every one */
};

/*
 * Called with each page's items, newest first, never more than are still wanted; items is
 * borrowed for the call. Returns 0 to go on, or a negative value to stop the paging with it.
 */
typedef int (*api_items_fn)(const json_t *items, void *arg);

/*
 * Reads the timeline of customer id (GET /v1/customers/{id}/timeline) page after page, from
 * q->before on, following next_cursor until q->max items came or there are no more, and hands
 * each page to fn. When next is not NULL, *next is set to the cursor that reads on after the
 * last item handed over (a string the caller frees), or NULL when there is nothing after it.
 * Returns API_OK, what fn returned when it was negative, or a negative enum api_result with
 * err set (then *next is NULL).
 */
int api_timeline(const struct http_client *c, const char *id, const struct api_timeline_query *q,
                 api_items_fn fn, void *arg, char **next, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * GET /v1/customers/{id}/context: what an agent needs when the customer calls or writes.
 * Returns API_OK with *context set (the caller releases it with json_decref), or a negative
 * enum api_result with err set.
 */
int api_context(const struct http_client *c, const char *id, json_t **context, char *err,
                size_t errlen) __attribute__((warn_unused_result));

/*
 * POST /v1/customers/{id}/merge {"from":from}: merges customer from into customer id. Returns
 * API_OK with *survivor set to the survivor's profile (the caller releases it), or a negative
 * enum api_result with err set: API_INVALID when from is not an id or both are already one
 * customer, API_NOT_FOUND when either is unknown.
 */
int api_merge(const struct http_client *c, const char *id, const char *from, json_t **survivor,
              char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Writes everything the server holds about customer id (GET /v1/customers/{id}/export, the
 * admin scope) to out as it arrives, without holding it in memory. Returns API_OK or a
 * negative enum api_result with err set.
 */
int api_export(const struct http_client *c, const char *id, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * DELETE /v1/customers/{id}: erases the customer, every customer merged into them and all their
 * records. Returns API_OK with *erasure set to the server's account of it ({"erased":true,
 * "erasure_id":…, "customers":…, "identities":…, "interactions":…}; the caller releases it),
 * or a negative enum api_result with err set.
 */
int api_erase(const struct http_client *c, const char *id, json_t **erasure, char *err,
              size_t errlen) __attribute__((warn_unused_result));

/*
 * GET /v1/stats: the analytics figures for [since, until) (RFC 3339, NULL for the server's
 * defaults), grouped by `by` (NULL: totals only). Returns API_OK with *stats set (the caller
 * releases it with json_decref), or a negative enum api_result with err set.
 */
int api_stats(const struct http_client *c, const char *since, const char *until, const char *by,
              json_t **stats, char *err, size_t errlen) __attribute__((warn_unused_result));

/* GET /v1/missed: the call-back worklist (open: only open missed calls; limit as text, NULL
 * for the server's default). Returns as api_stats. */
int api_missed(const struct http_client *c, bool open, const char *since, const char *until,
               const char *limit, json_t **worklist, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* GET /v1/customers/{id}/journey: one customer's touchpoint map. Returns as api_stats
 * (API_NOT_FOUND for an unknown customer). */
int api_journey(const struct http_client *c, const char *id, const char *since, const char *until,
                json_t **journey, char *err, size_t errlen) __attribute__((warn_unused_result));

/* GET /v1/customers/{id}/identities: where each identity came from, the customer's merges and
 * the pairs kept apart. Returns as api_context. */
int api_identities(const struct http_client *c, const char *id, json_t **provenance, char *err,
                   size_t errlen) __attribute__((warn_unused_result));

/* GET /v1/why?<kind1>=<value1>&<kind2>=<value2>: how the two identifiers came to be one
 * customer (or that they are two). Returns as api_context; API_NOT_FOUND when either is
 * unknown. */
int api_why(const struct http_client *c, const char *kind1, const char *value1, const char *kind2,
            const char *value2, json_t **why, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* POST /v1/customers/{id}/unmerge {"merge_id":merge}: undoes one merge. Returns as api_merge,
 * with *result the server's account of it. */
int api_unmerge(const struct http_client *c, const char *id, long long merge, json_t **result,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* GET /v1/conflicts[?all=true]: the review queue. Returns as api_context. */
int api_conflicts(const struct http_client *c, bool all, json_t **answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* POST /v1/conflicts/{id}/resolve {"action":action}. Returns as api_context; API_INVALID when
 * the conflict is closed already or the action unknown. */
int api_resolve_conflict(const struct http_client *c, const char *id, const char *action,
                         json_t **answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
