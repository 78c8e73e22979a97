/*
 * The HTTP ways in (CONTRACT §4 write, §6): POST /v1/interactions, the Segment-compatible
 * tracking API, and the Twilio and Chatwoot webhooks. Every record goes through the same
 * validation, batching, identity resolution and spool as on TCP (see intake.h), and a
 * request is answered only once each of its records is committed, spooled or rejected.
 * While too many records wait for the database, ingest requests are answered 503 with
 * Retry-After without their bodies being parsed or their records queued (the HTTP layer has
 * read each body already, up to http.max_body_bytes per connection).
 */
#ifndef TOUCHLINED_HIN_H
#define TOUCHLINED_HIN_H

#include <event2/http.h>
#include <stdbool.h>

#include "config.h"
#include "deliver.h"
#include "http.h"
#include "ingest.h"

struct hin;
struct auth_principal;

struct hin_deps {
    struct deliver *deliver;
    const struct config *cfg;   /* borrowed; reloads change its values in place */
    struct ingest_stats *stats; /* the record counters TCP keeps too */
    void (*backlog_changed)(void *arg);
    void *arg;
};

struct hin_stats {
    unsigned long requests;       /* ingest requests answered */
    unsigned long shed;           /* answered 503 because of the backlog */
    unsigned long bad_signature;  /* Twilio webhooks without a valid signature */
    unsigned long bad_hook_token; /* Chatwoot webhooks without a valid token */
    unsigned long bad_write_key;  /* Segment calls with an unknown write key */
    unsigned long ignored;        /* webhook events answered 200 and not recorded */
};

/* NULL when out of memory. */
struct hin *hin_new(const struct hin_deps *deps);

/* Frees; requests still waiting are dropped unanswered (the daemon is exiting). NULL is
 * fine. */
void hin_free(struct hin *h);

/* POST /v1/interactions, after authentication: who is the caller's principal (auth.h; its
 * ingest scope, channels and sources are checked per record), NULL when authentication is
 * off. */
void hin_interactions(struct hin *h, struct evhttp_request *req, struct auth_principal *who,
                      bool draining);

/* The Segment API and the webhooks, which authenticate by their own means. Returns false when
 * path is none of theirs (nothing was answered). */
bool hin_route_public(struct hin *h, struct evhttp_request *req, const char *path, bool draining);

/* Requests waiting for their records' answers. */
int hin_inflight(const struct hin *h);

const struct hin_stats *hin_get_stats(const struct hin *h);

/*
 * Twilio's signature of a webhook: base64(HMAC-SHA1(token, url + each parameter's name and
 * value, sorted by name)). out holds at least 32 bytes. Pure; exposed for tests.
 */
void hin_twilio_signature(const char *token, const char *url, const struct http_param *p, int n,
                          char *out, size_t cap);

#endif
