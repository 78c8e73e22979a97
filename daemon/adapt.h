/*
 * What other systems send, mapped to interaction records (CONTRACT §1): Segment's tracking
 * API messages, Twilio's SMS webhooks and Chatwoot's message webhooks. Each mapping builds
 * the record as JSON, which then goes through record_parse like any line on the TCP port, so
 * that these records are validated, normalized and rejected exactly as the others are.
 * docs/adapters.md lists the mappings field by field. Pure code: no I/O.
 */
#ifndef TOUCHLINED_ADAPT_H
#define TOUCHLINED_ADAPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "jsondoc.h"

/* How Segment's userId becomes an identifier. */
struct adapt_segment_opts {
    const char *source;
    /* NULL or "": userId is a web identifier; otherwise external "<system>:<userId>". */
    const char *user_id_system;
};

/*
 * One Segment message (the object msg of doc) as a record. type is the call it came by
 * ("track", "identify", "page", "screen", "group", "alias"), or NULL to take the message's
 * own "type" (in a batch). now_us is the time it was received (microseconds since the
 * epoch). Returns the record as JSON text (malloc'd), or NULL with err naming what is
 * wrong.
 */
char *adapt_segment(const struct jsondoc *doc, const struct jsondoc_value *msg, const char *type,
                    const struct adapt_segment_opts *opts, int64_t now_us, char *err,
                    size_t errlen);

/*
 * A Twilio webhook's form parameters as a record: an incoming message (status false), or a
 * status callback of an outbound one (status true), which carries the new status of the
 * record with the same MessageSid (see docs/protocol.md, "Status updates").
 */
char *adapt_twilio(const struct http_param *p, int n, bool status, const char *source,
                   int64_t now_us, char *err, size_t errlen);

/* The value of form parameter key, or NULL. */
const char *adapt_param(const struct http_param *p, int n, const char *key);

/*
 * A Chatwoot webhook as a record. Events other than message_created set *ignored and return
 * NULL with err saying which event it was.
 */
char *adapt_chatwoot(const struct jsondoc *doc, const char *source, int64_t now_us, bool *ignored,
                     char *err, size_t errlen);

/* The Twilio message status in the record's words (CONTRACT §1), or NULL when unknown. */
const char *adapt_twilio_status(const char *twilio_status);

#endif
