/*
 * Who may do what: principals, their hashed tokens and their scopes.
 *
 * A principal is a name, one or more token hashes (several for rotation), and scopes:
 *   ingest  write records, optionally only of some channels and of sources matching patterns
 *   read    look customers up, profiles, timelines, context
 *   admin   merge, erase, export, the audit log
 * and optional rate limits. The table is built from the configuration ([auth] principal,
 * and the older [auth] tokens, whose tokens are hashed on load) and replaced as a whole on
 * SIGHUP; a principal is reference-counted so that a connection authenticated before a
 * reload keeps what it was granted while new connections see the new table.
 *
 * The public API for every ingest path (TCP, HTTP, webhooks):
 *   - a bearer credential (a token, a Segment write key):  auth_check_token()
 *   - a webhook whose own secret was verified (Twilio signature, Chatwoot secret): the
 *     configured principal name, auth_find_principal()
 *   then auth_principal_may(p, AUTH_INGEST) and auth_principal_may_write() for each record.
 * None of these functions log or keep the token.
 */
#ifndef TOUCHLINED_AUTH_H
#define TOUCHLINED_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum auth_scope {
    AUTH_INGEST = 1u << 0,
    AUTH_READ = 1u << 1,
    AUTH_ADMIN = 1u << 2,
};

struct auth;
struct auth_principal;

/*
 * Builds the table from the text of [auth] principal (comma-separated entries
 * "NAME scopes=ingest|read|admin token=sha256:HEX [token=...] [channels=a|b]
 * [sources=pattern|...] [rate=N] [burst=N] [read_rate=N]") and of the older [auth] tokens
 * ("name:secret[:pattern|...]", granted every scope). where names the config for messages.
 * Returns 0 with *out set (an empty table when both are empty), or -1 with err filled.
 */
int auth_parse(const char *principals, const char *legacy_tokens, const char *where,
               struct auth **out, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the table; principals still referenced by connections live on. NULL is fine. */
void auth_free(struct auth *a);

/* True when the table has at least one principal: authentication is then required. */
bool auth_enabled(const struct auth *a);

/* True when some principal came from the older [auth] tokens (tokens in clear). */
bool auth_has_legacy(const struct auth *a);

size_t auth_count(const struct auth *a);

/*
 * The principal holding token, or NULL. Hashes the token and compares it with every hash of
 * every principal in constant time. The result is borrowed from the table: take a reference
 * (auth_principal_ref) to keep it past the next reload. Callable from callbacks.
 */
struct auth_principal *auth_check_token(const struct auth *a, const char *token);

/* The principal named name, or NULL (for webhooks verified by their own secret). Borrowed. */
struct auth_principal *auth_find_principal(const struct auth *a, const char *name);

/* Reference counting: ref returns p; unref frees at zero. NULL is fine for both. */
struct auth_principal *auth_principal_ref(const struct auth_principal *p);
void auth_principal_unref(struct auth_principal *p);

const char *auth_principal_name(const struct auth_principal *p);

/* True when p holds scope. */
bool auth_principal_may(const struct auth_principal *p, enum auth_scope scope);

/*
 * True when p may write a record of this channel and source (ingest scope, its channel
 * list, its source patterns). Otherwise false with why naming what is missing.
 */
bool auth_principal_may_write(const struct auth_principal *p, const char *channel,
                              const char *source, char *why, size_t whylen);

/* "ingest|read" etc., for --check-config and logs. */
void auth_scopes_text(unsigned scopes, char *out, size_t outlen);

/* Writes the table as "principal = ..." lines of configuration, token hashes masked. */
void auth_print(const struct auth *a, FILE *out);

/*
 * Token bucket of the principal's rate limit for records (reads false) or read requests
 * (reads true), now by the monotonic clock. Returns 0 when cost units may go through (and
 * takes them), or the seconds to wait (>= 1) when the principal is over its rate. A principal
 * without a limit always gets 0.
 */
int auth_principal_take(struct auth_principal *p, bool reads, double cost);

#endif
