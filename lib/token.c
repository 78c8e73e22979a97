#include "token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_RANDOM_BYTES 32

int token_new(char out[TOKEN_TEXT_MAX])
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[TOKEN_RANDOM_BYTES + 1] = {0};
    if (RAND_bytes(raw, TOKEN_RANDOM_BYTES) != 1) {
        return -1;
    }
    size_t n = 0;
    out[n++] = 't';
    out[n++] = 'l';
    out[n++] = '_';
    /* 32 bytes are 256 bits: 42 full six-bit groups and four bits in the 43rd. */
    for (size_t bit = 0; bit < TOKEN_RANDOM_BYTES * 8; bit += 6) {
        size_t byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)raw[byte] << 8 | raw[byte + 1]) >> (10 - shift);
        out[n++] = b64url[v & 63];
    }
    out[n] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void token_hash(const char *token, size_t len, unsigned char out[TOKEN_HASH_LEN])
{
    SHA256((const unsigned char *)token, len, out);
}

void token_hash_text(const char *token, size_t len, char out[TOKEN_HASH_TEXT])
{
    unsigned char h[TOKEN_HASH_LEN];
    token_hash(token, len, h);
    int n = snprintf(out, TOKEN_HASH_TEXT, "sha256:");
    for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
        n += snprintf(out + n, (size_t)(TOKEN_HASH_TEXT - n), "%02x", h[i]);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int token_parse_hash(const char *text, unsigned char out[TOKEN_HASH_LEN])
{
    static const char prefix[] = "sha256:";
    if (strncmp(text, prefix, sizeof(prefix) - 1) != 0) {
        return -1;
    }
    const char *hex = text + sizeof(prefix) - 1;
    if (strlen(hex) != TOKEN_HASH_LEN * 2) {
        return -1;
    }
    for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

bool token_hash_equal(const unsigned char a[TOKEN_HASH_LEN], const unsigned char b[TOKEN_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, TOKEN_HASH_LEN) == 0;
}
