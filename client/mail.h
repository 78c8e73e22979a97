/*
 * One RFC 5322 message, as a mail gateway hands it over or a .eml file holds it, as an
 * interaction record of channel email (CONTRACT §1), for `touchline import mail`. A pure
 * function over a buffer (no I/O; iconv for charsets), so that it can be tested and fuzzed
 * on any bytes; it never reads outside the buffer, whatever the message holds.
 *
 * The mapping: Message-ID is the external_id (required); the customer is From on an inbound
 * message and the first address of To on an outbound one (one address: every identifier of
 * a record belongs to one person), with the display name as the customer's name, and the
 * other side's address is the agent; the direction is given, or follows from the sender's
 * domain (company_domains); Subject is the subject; Date (else the newest Received stamp) is
 * occurred_at; the body is the first text/plain part that is not an attachment (else the
 * first text/html one reduced to its text, html.h), found through nested multipart parts,
 * decoded from base64 or quoted-printable and converted from its charset to UTF-8, with line breaks
 * as "\n", cut at MAIL_BODY_MAX bytes on a character boundary; thread is the first Message-ID of
 * References, else In-Reply-To, else the message's own Message-ID, so that replies share their
 * first message's thread. Headers are unfolded and their RFC 2047 encoded-words decoded (B and Q,
 * any charset iconv knows: UTF-8, windows-1256, ISO-8859-6...). Bytes that are not valid in their
 * charset become U+FFFD rather than failing the message.
 */
#ifndef TOUCHLINE_MAIL_H
#define TOUCHLINE_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The contract's limit on body, in bytes. */
#define MAIL_BODY_MAX 65536

enum mail_error {
    MAIL_EINVALID = -1, /* the message lacks what a record needs; err names the header */
    MAIL_ENOMEM = -2,
    MAIL_EINTERNAL = -3, /* from and to the company's own domains only: no customer */
};

struct mail_opts {
    const char *source; /* the record's source */
    bool outbound;      /* the business sent it: the customer is in To, not From */
    /*
     * The business's own mail domains (borrowed; a domain covers its subdomains). When there
     * are any, they decide instead of outbound: a message From one of them is outbound and
     * its customer the first To address outside them (none: MAIL_EINTERNAL), any other is
     * inbound from its sender.
     */
    const char *const *company_domains;
    size_t ncompany;
    /*
     * When not 0, the body is cut further so that the record serialized with
     * json_dumps(JSON_COMPACT) fits in max_line bytes: the daemon's [ingest] max_line_bytes
     * bounds the whole line, not only the body.
     */
    size_t max_line;
};

/*
 * Maps the message in msg (len bytes, need not be NUL-terminated) to a record. Returns 0 with
 * *out set (a new reference), or a negative enum mail_error with err naming the header at fault
 * ("Message-ID: missing (it is the record's external_id)").
 */
int mail_to_record(const char *msg, size_t len, const struct mail_opts *opts, json_t **out,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* True when the address (n bytes) is of one of opts' company domains. */
bool mail_is_company(const struct mail_opts *opts, const char *addr, size_t n);

/*
 * Decodes a header value (n bytes, folded or not): unfolds it and decodes its RFC 2047
 * encoded-words to UTF-8. Returns a new NUL-terminated string (the caller frees it), or NULL
 * when out of memory.
 */
char *mail_decode_header(const char *s, size_t n) __attribute__((warn_unused_result));

#endif
