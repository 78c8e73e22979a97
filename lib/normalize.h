/*
 * Customer identifier normalization (CONTRACT §2). Every identifier is normalized before it
 * is looked up or stored, so that "۰۹۱۲ ۳۴۵ ۶۷۸۹", "0912-345-6789" and "+989123456789" are one
 * phone number and "Sara@Example.COM" and "sara@example.com" one email address.
 * Pure code: no allocation, no I/O, safe to call from anywhere.
 */
#ifndef TOUCHLINE_NORMALIZE_H
#define TOUCHLINE_NORMALIZE_H

#include <stddef.h>

enum ident_kind {
    IDENT_PHONE = 0,
    IDENT_EMAIL,
    IDENT_CHAT,
    IDENT_WEB,
    IDENT_EXTERNAL,
    IDENT_KIND_COUNT,
};

/* Longest normalized identifier, in bytes, without the NUL. */
#define NORMALIZE_MAX 512

struct normalize_opts {
    char country_code[8]; /* digits, no '+': "98" */
    char trunk_prefix[8]; /* "0"; empty disables the trunk rule */
};

/* Fills opts with the defaults: country code "98", trunk prefix "0". */
void normalize_opts_default(struct normalize_opts *opts);

/* "phone", "email", "chat", "web", "external". */
const char *normalize_kind_name(enum ident_kind kind);

/* Returns 0 and sets *out for a known kind name, -1 otherwise. */
int normalize_kind_parse(const char *name, enum ident_kind *out)
    __attribute__((warn_unused_result));

/*
 * Normalizes len bytes at in (UTF-8, need not be NUL-terminated) into out, which must hold
 * NORMALIZE_MAX + 1 bytes. Returns 0, or -1 with *why set to a static phrase saying what is
 * wrong with the value (for messages such as `customer.phone: "12" <why>`).
 */
int normalize_identifier(enum ident_kind kind, const char *in, size_t len,
                         const struct normalize_opts *opts, char *out, const char **why)
    __attribute__((warn_unused_result));

/*
 * Decodes one UTF-8 code point at s (n bytes available). Returns its length in bytes and
 * stores the code point, or returns -1 for an invalid or truncated sequence.
 */
int normalize_utf8_decode(const unsigned char *s, size_t n, unsigned *cp);

#endif
