/*
 * Fuzz target "textwidth": display width of arbitrary bytes, and the cut, pad and fit that
 * the client's tables are made of. The first byte is the column count, the second the
 * alignment; the rest is the text. Checks: the module's UTF-8 decoder agrees with
 * normalize_utf8_decode and with an independent validator on every byte sequence; a prefix
 * ends on a code point boundary and fits; what truncate, pad and fit return is valid UTF-8 of
 * exactly the width they promise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "normalize.h"
#include "textwidth.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Both decoders, at every position a decoder stops at. */
static void check_decoders(const char *s, size_t len)
{
    size_t i = 0;
    bool all_valid = true;
    while (i < len) {
        uint32_t cp;
        size_t n = textwidth_decode(s + i, len - i, &cp);
        if (n == 0 || n > 4 || n > len - i) {
            fuzzcheck_fail("textwidth_decode took %zu bytes at %zu of %zu", n, i, len);
        }
        unsigned ncp;
        int nl = normalize_utf8_decode((const unsigned char *)s + i, len - i, &ncp);
        bool literal_fffd = n == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0;
        if (nl > 0) {
            if ((size_t)nl != n || ncp != cp) {
                fuzzcheck_fail("decoders disagree at %zu: %d bytes U+%04X against %zu bytes U+%04X",
                               i, nl, ncp, n, (unsigned)cp);
            }
        } else if (cp != TEXTWIDTH_REPLACEMENT || literal_fffd) {
            fuzzcheck_fail(
                "normalize_utf8_decode rejects what textwidth_decode read as U+%04X at %zu",
                (unsigned)cp, i);
        }
        if (nl < 0) {
            all_valid = false;
        }
        int w = textwidth_cp(cp);
        if (w < 0 || w > 2) {
            fuzzcheck_fail("U+%04X is %d columns", (unsigned)cp, w);
        }
        i += n;
    }
    if (all_valid != fuzzcheck_utf8(s, len)) {
        fuzzcheck_fail("the decoders and the validator disagree on validity");
    }
}

static void check_prefix(const char *s, size_t len, size_t cols)
{
    size_t width = 0;
    size_t p = textwidth_prefix(s, len, cols, &width);
    if (p > len || width > cols || textwidth_n(s, p) != width) {
        fuzzcheck_fail("prefix of %zu columns: %zu bytes, %zu columns", cols, p, width);
    }
    /* On a boundary, and as long as it can be: the next code point does not fit. */
    size_t i = 0;
    uint32_t cp = 0;
    while (i < p) {
        i += textwidth_decode(s + i, len - i, &cp);
    }
    if (i != p) {
        fuzzcheck_fail("prefix of %zu bytes ends inside a code point", p);
    }
    if (p < len) {
        textwidth_decode(s + p, len - p, &cp);
        if (width + (size_t)textwidth_cp(cp) <= cols) {
            fuzzcheck_fail("prefix stops at %zu bytes though U+%04X still fits", p, (unsigned)cp);
        }
    }
}

static void check_result(const char *what, char *out, size_t want_cols, bool exact)
{
    if (out == NULL) {
        fuzzcheck_fail("%s: NULL", what);
    }
    size_t n = strlen(out);
    if (!fuzzcheck_utf8(out, n)) {
        fuzzcheck_fail("%s: not valid UTF-8", what);
    }
    size_t w = textwidth_n(out, n);
    if (exact ? w != want_cols : w > want_cols) {
        fuzzcheck_fail("%s: %zu columns, %s %zu", what, w, exact ? "want" : "limit", want_cols);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t cols = data[0];
    enum textwidth_align align = (data[1] & 1) ? TEXTWIDTH_RIGHT : TEXTWIDTH_LEFT;
    const char *raw = (const char *)data + 2;
    size_t len = size - 2;

    check_decoders(raw, len);
    check_prefix(raw, len, cols);

    char *s = fuzzcheck_cstr(data + 2, len);
    size_t slen = strlen(s);
    size_t w = textwidth(s);
    if (w != textwidth_n(s, slen) || w > 2 * slen) {
        fuzzcheck_fail("textwidth %zu for %zu bytes", w, slen);
    }
    char *t = textwidth_truncate(s, cols);
    if (t != NULL && w <= cols && textwidth(t) != w) {
        fuzzcheck_fail("text that fits was changed in width by truncate");
    }
    if (t != NULL && w > cols && cols > 0 &&
        (strlen(t) < 3 || strcmp(t + strlen(t) - 3, TEXTWIDTH_ELLIPSIS) != 0)) {
        fuzzcheck_fail("cut text does not end in an ellipsis");
    }
    check_result("truncate", t, cols, false);
    check_result("pad", textwidth_pad(s, cols, align), w > cols ? w : cols, true);
    check_result("fit", textwidth_fit(s, cols, align), cols, true);
    free(s);
    return 0;
}
