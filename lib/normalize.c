#include "normalize.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[IDENT_KIND_COUNT] = {"phone", "email", "chat", "web",
                                                         "external"};

/*
 * First code point of each run of ten Unicode decimal digits (general category Nd). Users
 * type numbers in Persian (U+06F0) and Arabic-Indic (U+0660) digits every day; the others
 * are here so that no script's digits are rejected.
 */
static const unsigned digit_zeros[] = {
    0x0030,  0x0660,  0x06F0,  0x07C0,  0x0966,  0x09E6,  0x0A66,  0x0AE6,  0x0B66,  0x0BE6,
    0x0C66,  0x0CE6,  0x0D66,  0x0DE6,  0x0E50,  0x0ED0,  0x0F20,  0x1040,  0x1090,  0x17E0,
    0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA620,
    0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,  0xFF10,  0x104A0, 0x10D30, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2,
    0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
};

void normalize_opts_default(struct normalize_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    strcpy(opts->country_code, "98");
    strcpy(opts->trunk_prefix, "0");
}

const char *normalize_kind_name(enum ident_kind kind)
{
    if ((unsigned)kind >= IDENT_KIND_COUNT) {
        return "?";
    }
    return kind_names[kind];
}

int normalize_kind_parse(const char *name, enum ident_kind *out)
{
    for (int i = 0; i < IDENT_KIND_COUNT; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum ident_kind)i;
            return 0;
        }
    }
    return -1;
}

int normalize_utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    if (n == 0) {
        return -1;
    }
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2;
        c &= 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        c &= 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return -1;
    }
    if ((size_t)len > n) {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return -1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        return -1;
    }
    *cp = c;
    return len;
}

/* Returns the digit value 0-9 of a Unicode decimal digit, or -1. */
static int digit_value(unsigned cp)
{
    for (size_t i = 0; i < sizeof(digit_zeros) / sizeof(digit_zeros[0]); i++) {
        if (cp >= digit_zeros[i] && cp < digit_zeros[i] + 10) {
            return (int)(cp - digit_zeros[i]);
        }
    }
    return -1;
}

/* White space of any script, as pasted from phones, spreadsheets and web forms. */
static bool is_space(unsigned cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/*
 * Invisible direction marks: a number copied out of Persian or Arabic text often carries
 * them, and they are no more part of the number than a space is.
 */
static bool is_bidi_mark(unsigned cp)
{
    return cp == 0x200E || cp == 0x200F || cp == 0x061C || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

static int normalize_phone(const char *in, size_t len, const struct normalize_opts *opts, char *out,
                           const char **why)
{
    char digits[72];
    size_t n = 0;
    bool plus = false;
    size_t i = 0;
    while (i < len) {
        unsigned cp;
        int l = normalize_utf8_decode((const unsigned char *)in + i, len - i, &cp);
        if (l < 0) {
            *why = "is not valid UTF-8";
            return -1;
        }
        i += (size_t)l;
        int d = digit_value(cp);
        if (d >= 0) {
            if (n >= 64) {
                *why = "is too long for a phone number";
                return -1;
            }
            digits[n++] = (char)('0' + d);
        } else if (cp == '+' || cp == 0xFF0B) {
            if (n > 0 || plus) {
                *why = "has a '+' that is not at the start";
                return -1;
            }
            plus = true;
        } else if (is_space(cp) || is_bidi_mark(cp) || cp == '-' || cp == '.' || cp == '(' ||
                   cp == ')' || cp == 0x2010 || cp == 0x2011 || cp == 0x2012 || cp == 0x2013) {
            continue;
        } else {
            *why = "has a character that is not a digit (must be + and 8-15 digits)";
            return -1;
        }
    }
    digits[n] = '\0';
    /* 64 digits at most, plus '+' and a country code of at most 7 characters. */
    char result[96];
    size_t tlen = strlen(opts->trunk_prefix);
    if (plus) {
        snprintf(result, sizeof(result), "+%s", digits);
    } else if (n >= 2 && digits[0] == '0' && digits[1] == '0') {
        snprintf(result, sizeof(result), "+%s", digits + 2);
    } else if (tlen > 0 && opts->country_code[0] != '\0' && n > tlen &&
               strncmp(digits, opts->trunk_prefix, tlen) == 0) {
        snprintf(result, sizeof(result), "+%s%s", opts->country_code, digits + tlen);
    } else {
        *why = "is not an international number (must be + and 8-15 digits, or start with 00 or "
               "the trunk prefix)";
        return -1;
    }
    size_t ndig = strlen(result) - 1;
    if (ndig < 8 || ndig > 15) {
        *why = "must be + and 8-15 digits";
        return -1;
    }
    memcpy(out, result, ndig + 2);
    return 0;
}

/* Trims white space at both ends; returns the trimmed span in start and end. */
static int trim(const char *in, size_t len, size_t *start, size_t *end, const char **why)
{
    size_t s = 0, e = len;
    /* Validate the whole value first so that trimming never splits a sequence. */
    size_t i = 0;
    bool first_nonspace_seen = false;
    size_t last_nonspace_end = 0;
    while (i < len) {
        unsigned cp;
        int l = normalize_utf8_decode((const unsigned char *)in + i, len - i, &cp);
        if (l < 0) {
            *why = "is not valid UTF-8";
            return -1;
        }
        if (cp < 0x20 && !is_space(cp)) {
            *why = "has a control character";
            return -1;
        }
        if (!is_space(cp)) {
            if (!first_nonspace_seen) {
                s = i;
                first_nonspace_seen = true;
            }
            last_nonspace_end = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (!first_nonspace_seen) {
        *why = "is empty";
        return -1;
    }
    e = last_nonspace_end;
    *start = s;
    *end = e;
    return 0;
}

/*
 * Trims as trim() does, then refuses a tab, newline or other control character left inside:
 * it is no part of anyone's id, and kept it would make one visitor two customers. UTF-8
 * continuation bytes are all >= 0x80, so a byte test is exact.
 */
static int trim_checked(const char *in, size_t len, size_t *start, size_t *end, const char **why)
{
    if (trim(in, len, start, end, why) < 0) {
        return -1;
    }
    for (size_t k = *start; k < *end; k++) {
        if ((unsigned char)in[k] < 0x20) {
            *why = "has a control character";
            return -1;
        }
    }
    return 0;
}

static size_t count_code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

static int normalize_email(const char *in, size_t len, char *out, const char **why)
{
    size_t s, e;
    if (trim_checked(in, len, &s, &e, why) < 0) {
        return -1;
    }
    if (e - s > 254) {
        *why = "is longer than 254 bytes";
        return -1;
    }
    size_t at = 0, ats = 0;
    for (size_t i = s; i < e; i++) {
        char c = in[i];
        if (c == '@') {
            ats++;
            at = i;
        } else if (c == ' ' || c == '\t') {
            *why = "has white space inside";
            return -1;
        }
    }
    if (ats != 1) {
        *why = "must have exactly one @";
        return -1;
    }
    if (at == s || at == e - 1) {
        *why = "must have text on both sides of the @";
        return -1;
    }
    size_t n = 0;
    for (size_t i = s; i < e; i++) {
        char c = in[i];
        /* ASCII only: lower-casing other scripts needs Unicode tables and mail servers do
         * not agree on it anyway. */
        out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return 0;
}

static int normalize_chat(const char *in, size_t len, char *out, const char **why)
{
    size_t s, e;
    if (trim(in, len, &s, &e, why) < 0) {
        return -1;
    }
    const char *colon = memchr(in + s, ':', e - s);
    if (colon == NULL) {
        *why = "must be provider:handle (e.g. telegram:@sara_k)";
        return -1;
    }
    size_t plen = (size_t)(colon - (in + s));
    if (plen == 0 || plen > 32) {
        *why = "must start with a provider name of 1-32 characters [a-z0-9_-]";
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = in[s + i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            *why = "has a provider name that is not [a-z0-9_-]";
            return -1;
        }
        out[n++] = c;
    }
    out[n++] = ':';
    size_t hs, he;
    const char *handle = colon + 1;
    size_t hlen = (size_t)((in + e) - handle);
    if (trim(handle, hlen, &hs, &he, why) < 0) {
        *why = "has an empty handle";
        return -1;
    }
    if (trim_checked(handle, hlen, &hs, &he, why) < 0) {
        return -1;
    }
    if (count_code_points(handle + hs, he - hs) > 256 || he - hs > NORMALIZE_MAX - n) {
        *why = "has a handle longer than 256 characters";
        return -1;
    }
    memcpy(out + n, handle + hs, he - hs);
    out[n + he - hs] = '\0';
    return 0;
}

static int normalize_plain(const char *in, size_t len, char *out, const char **why)
{
    size_t s, e;
    if (trim_checked(in, len, &s, &e, why) < 0) {
        return -1;
    }
    if (count_code_points(in + s, e - s) > 128) {
        *why = "is longer than 128 characters";
        return -1;
    }
    memcpy(out, in + s, e - s);
    out[e - s] = '\0';
    return 0;
}

int normalize_identifier(enum ident_kind kind, const char *in, size_t len,
                         const struct normalize_opts *opts, char *out, const char **why)
{
    if (len > 4 * NORMALIZE_MAX) {
        *why = "is too long";
        return -1;
    }
    switch (kind) {
    case IDENT_PHONE:
        return normalize_phone(in, len, opts, out, why);
    case IDENT_EMAIL:
        return normalize_email(in, len, out, why);
    case IDENT_CHAT:
        return normalize_chat(in, len, out, why);
    case IDENT_WEB:
    case IDENT_EXTERNAL:
        return normalize_plain(in, len, out, why);
    case IDENT_KIND_COUNT:
        break;
    }
    *why = "is of an unknown kind";
    return -1;
}
