/*
 * Fuzz target "normalize": normalize_identifier for every kind with varied options. The
 * first byte picks the kind (one value past the last is an unknown kind), the second the
 * lengths of the country code and trunk prefix, whose digits follow; the rest is the
 * identifier. Checks: a normalized value is NUL-terminated within NORMALIZE_MAX, valid UTF-8,
 * has its kind's shape (CONTRACT §2) and normalizes to itself, since the daemon looks stored
 * identifiers up by normalizing what it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "normalize.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_shape(enum ident_kind kind, const char *v, size_t n)
{
    switch (kind) {
    case IDENT_PHONE:
        if (v[0] != '+' || n < 9 || n > 16 || strspn(v + 1, "0123456789") != n - 1) {
            fuzzcheck_fail("phone \"%s\" is not + and 8-15 digits", v);
        }
        break;
    case IDENT_EMAIL: {
        const char *at = strchr(v, '@');
        if (at == NULL || strchr(at + 1, '@') != NULL || at == v || at[1] == '\0' || n > 254) {
            fuzzcheck_fail("email \"%s\" does not have one @ with text on both sides", v);
        }
        for (size_t i = 0; i < n; i++) {
            if (v[i] >= 'A' && v[i] <= 'Z') {
                fuzzcheck_fail("email \"%s\" is not lower-cased", v);
            }
        }
        break;
    }
    case IDENT_CHAT: {
        size_t plen = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-");
        if (plen == 0 || plen > 32 || v[plen] != ':' || v[plen + 1] == '\0') {
            fuzzcheck_fail("chat \"%s\" is not provider:handle", v);
        }
        break;
    }
    case IDENT_WEB:
    case IDENT_EXTERNAL:
        if (n == 0) {
            fuzzcheck_fail("empty %s identifier", normalize_kind_name(kind));
        }
        break;
    case IDENT_KIND_COUNT:
        fuzzcheck_fail("an unknown kind was accepted");
    }
    if (v[0] == ' ' || v[n - 1] == ' ' || v[0] == '\t' || v[n - 1] == '\t') {
        fuzzcheck_fail("\"%s\" is not trimmed", v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    enum ident_kind kind = (enum ident_kind)(data[0] % (IDENT_KIND_COUNT + 1));
    size_t cc_len = data[1] & 7u, tp_len = (data[1] >> 3) & 7u;
    data += 2;
    size -= 2;
    struct normalize_opts opts;
    normalize_opts_default(&opts);
    if (data[-1] & 0x80u) {
        /* Options as a configuration could set them: digits, short. */
        if (cc_len + tp_len > size) {
            return 0;
        }
        for (size_t i = 0; i < cc_len; i++) {
            opts.country_code[i] = (char)('0' + data[i] % 10);
        }
        opts.country_code[cc_len] = '\0';
        for (size_t i = 0; i < tp_len; i++) {
            opts.trunk_prefix[i] = (char)('0' + data[cc_len + i] % 10);
        }
        opts.trunk_prefix[tp_len] = '\0';
        data += cc_len + tp_len;
        size -= cc_len + tp_len;
    }

    char out[NORMALIZE_MAX + 1];
    memset(out, 0x55, sizeof(out));
    const char *why = NULL;
    int rc = normalize_identifier(kind, (const char *)data, size, &opts, out, &why);
    if (rc == 0) {
        size_t n = strnlen(out, sizeof(out));
        if (n == sizeof(out)) {
            fuzzcheck_fail("normalized value is not NUL-terminated within NORMALIZE_MAX");
        }
        if (!fuzzcheck_utf8(out, n)) {
            fuzzcheck_fail("normalized value is not valid UTF-8");
        }
        check_shape(kind, out, n);
        char again[NORMALIZE_MAX + 1];
        const char *why2 = NULL;
        if (normalize_identifier(kind, out, n, &opts, again, &why2) != 0) {
            fuzzcheck_fail("%s \"%s\" does not normalize again: %s", normalize_kind_name(kind), out,
                           why2 ? why2 : "(no reason)");
        }
        if (strcmp(again, out) != 0) {
            fuzzcheck_fail("%s \"%s\" normalizes again to \"%s\"", normalize_kind_name(kind), out,
                           again);
        }
    } else if (rc == -1) {
        if (why == NULL || why[0] == '\0' || !fuzzcheck_utf8(why, strlen(why))) {
            fuzzcheck_fail("rejected without a reason");
        }
    } else {
        fuzzcheck_fail("normalize_identifier returned %d", rc);
    }

    /* The kind names read back, and only they parse. */
    char *s = fuzzcheck_cstr(data, size < 16 ? size : 16);
    enum ident_kind k;
    if (normalize_kind_parse(s, &k) == 0 && strcmp(normalize_kind_name(k), s) != 0) {
        fuzzcheck_fail("kind \"%s\" parses to %s", s, normalize_kind_name(k));
    }
    free(s);
    return 0;
}
