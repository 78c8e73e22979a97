/*
 * Access tokens: a new one is 256 random bits written as "tl_" and 43 base64url characters;
 * the daemon keeps only its SHA-256, written "sha256:<64 hex>" in the configuration, so that
 * a leaked configuration file or backup does not leak a credential. Shared by touchlined
 * (--hash-token, checking) and touchline (token new).
 */
#ifndef TOUCHLINE_TOKEN_H
#define TOUCHLINE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_TEXT_MAX  48 /* "tl_" + 43 + NUL, rounded up */
#define TOKEN_HASH_LEN  32
#define TOKEN_HASH_TEXT 72 /* "sha256:" + 64 hex + NUL, rounded up */

/* Writes a new random token into out. Returns 0, or -1 when the system has no randomness. */
int token_new(char out[TOKEN_TEXT_MAX]) __attribute__((warn_unused_result));

/* SHA-256 of the token's bytes. */
void token_hash(const char *token, size_t len, unsigned char out[TOKEN_HASH_LEN]);

/* The hash as configuration text, "sha256:<64 lower-case hex>". */
void token_hash_text(const char *token, size_t len, char out[TOKEN_HASH_TEXT]);

/* Parses "sha256:<64 hex>" (either case). Returns 0, or -1 when text is anything else. */
int token_parse_hash(const char *text, unsigned char out[TOKEN_HASH_LEN])
    __attribute__((warn_unused_result));

/* True when the two hashes are equal, compared in constant time. */
bool token_hash_equal(const unsigned char a[TOKEN_HASH_LEN], const unsigned char b[TOKEN_HASH_LEN]);

#endif
