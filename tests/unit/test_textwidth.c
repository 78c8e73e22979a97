/*
 * Display width of ASCII, Persian (ZWNJ, harakat), Arabic, CJK and emoji text; UTF-8 decoding
 * of invalid input without reading past its end; cutting on code point boundaries; padding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testmain.h"
#include "textwidth.h"

/* Checks a returned string and frees it. */
static void expect_str(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void ascii_is_one_column_each(void **state)
{
    (void)state;
    assert_int_equal(textwidth(""), 0);
    assert_int_equal(textwidth("hello"), 5);
    assert_int_equal(textwidth("+98 912-345-6789"), 16);
    assert_int_equal(textwidth_n("hello", 3), 3);
}

static void control_characters_take_no_column(void **state)
{
    (void)state;
    assert_int_equal(textwidth_cp(0x00), 0);
    assert_int_equal(textwidth_cp('\n'), 0);
    assert_int_equal(textwidth_cp(0x1B), 0);
    assert_int_equal(textwidth_cp(0x7F), 0);
    assert_int_equal(textwidth_cp(0x85), 0);
    assert_int_equal(textwidth_cp(0x9F), 0);
    assert_int_equal(textwidth_cp(0xA0), 1);
    assert_int_equal(textwidth("a\tb\r\n"), 2);
}

static void persian_zwnj_and_digits(void **state)
{
    (void)state;
    assert_int_equal(textwidth("سارا کریمی"), 10);
    /* می‌خواهم: seven letters and a ZWNJ (U+200C), which takes no column. */
    assert_int_equal(textwidth("می\u200cخواهم"), 7);
    assert_int_equal(textwidth_cp(0x200C), 0);
    assert_int_equal(textwidth_cp(0x200D), 0);
    /* Persian and Arabic-Indic digits are ordinary one-column characters. */
    assert_int_equal(textwidth("۰۹۱۲۳۴۵۶۷۸۹"), 11);
    assert_int_equal(textwidth("٠١٢"), 3);
}

static void arabic_harakat_take_no_column(void **state)
{
    (void)state;
    assert_int_equal(textwidth("مرحبا"), 5);
    /* مُحَمَّدٌ: four letters, five harakat (damma, fatha, shadda, fatha, dammatan). */
    assert_int_equal(textwidth("مُحَمَّدٌ"), 4);
    assert_int_equal(textwidth_cp(0x064B), 0); /* fathatan, first of the range */
    assert_int_equal(textwidth_cp(0x0651), 0); /* shadda */
    assert_int_equal(textwidth_cp(0x065F), 0); /* wavy hamza below, last of the range */
    assert_int_equal(textwidth_cp(0x0660), 1); /* Arabic-Indic digit zero, just after */
    assert_int_equal(textwidth_cp(0x064A), 1); /* yeh, just before */
    /* هٰذا: the superscript alef U+0670 rides on the heh. */
    assert_int_equal(textwidth("هٰذا"), 3);
    assert_int_equal(textwidth_cp(0x06D6), 0);
    assert_int_equal(textwidth_cp(0x06ED), 0);
    assert_int_equal(textwidth_cp(0x06DD), 1); /* end of ayah: visible */
    assert_int_equal(textwidth_cp(0x0627), 1); /* alef */
}

static void bidi_controls_and_variation_selectors_take_none(void **state)
{
    (void)state;
    static const uint32_t zero[] = {0x200E, 0x200F, 0x061C,  0x202A, 0x202B, 0x202C,
                                    0x202D, 0x202E, 0x2066,  0x2067, 0x2068, 0x2069,
                                    0xFE00, 0xFE0F, 0xE0100, 0xFEFF, 0x200B, 0x0301};
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        if (textwidth_cp(zero[i]) != 0) {
            fail_msg("U+%04X takes %d columns, want 0", zero[i], textwidth_cp(zero[i]));
        }
    }
    /* RLM +98 LRM: only the three visible characters count. */
    assert_int_equal(textwidth("\u200f+98\u200e"), 3);
    assert_int_equal(textwidth("\u2067سلام\u2069"), 4);
}

static void cjk_hangul_fullwidth_and_emoji_take_two(void **state)
{
    (void)state;
    assert_int_equal(textwidth("漢字"), 4);
    assert_int_equal(textwidth("한국어"), 6);
    assert_int_equal(textwidth("ＡＢ"), 4);
    assert_int_equal(textwidth("\u3000"), 2); /* ideographic space */
    assert_int_equal(textwidth("😀"), 2);
    assert_int_equal(textwidth("👍"), 2);
    assert_int_equal(textwidth_cp(0x1F300), 2);
    assert_int_equal(textwidth_cp(0x1FAFF), 2);
    assert_int_equal(textwidth_cp(0x20000), 2);
    assert_int_equal(textwidth_cp(0x2FFFD), 2);
    assert_int_equal(textwidth_cp(0x2026), 1); /* the ellipsis we cut with */
    assert_int_equal(textwidth_cp(0xFFFD), 1);
    assert_int_equal(textwidth("a漢😀b"), 6);
}

static void decode_valid_sequences(void **state)
{
    (void)state;
    uint32_t cp;
    assert_int_equal(textwidth_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(textwidth_decode("\xD8\xB3", 2, &cp), 2); /* س */
    assert_int_equal(cp, 0x0633);
    assert_int_equal(textwidth_decode("\xE2\x80\x8C", 3, &cp), 3); /* ZWNJ */
    assert_int_equal(cp, 0x200C);
    assert_int_equal(textwidth_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(textwidth_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(textwidth_decode("", 0, &cp), 0);
}

/* Decodes s (n bytes) and checks the lengths of the code points it finds, all U+FFFD. */
static void expect_invalid(const char *s, size_t n, const size_t *lens, size_t count)
{
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = textwidth_decode(s + i, n - i, &cp);
        assert_true(k < count);
        assert_int_equal(cp, TEXTWIDTH_REPLACEMENT);
        assert_int_equal(l, lens[k]);
        i += l;
        k++;
    }
    assert_int_equal(k, count);
}

static void decode_replaces_invalid_sequences(void **state)
{
    (void)state;
    /* Stray continuation byte, bytes that never occur. */
    expect_invalid("\x80", 1, (const size_t[]){1}, 1);
    expect_invalid("\xFF\xFE", 2, (const size_t[]){1, 1}, 2);
    /* Overlong '/' (C0 AF) and overlong NUL in three bytes (E0 80 80). */
    expect_invalid("\xC0\xAF", 2, (const size_t[]){1, 1}, 2);
    expect_invalid("\xE0\x80\x80", 3, (const size_t[]){1, 1, 1}, 3);
    /* A UTF-16 surrogate (ED A0 80) and a code point above U+10FFFF (F4 90 80 80). */
    expect_invalid("\xED\xA0\x80", 3, (const size_t[]){1, 1, 1}, 3);
    expect_invalid("\xF4\x90\x80\x80", 4, (const size_t[]){1, 1, 1, 1}, 4);
    /* A truncated sequence is one replacement: its maximal valid start. */
    expect_invalid("\xE2\x82", 2, (const size_t[]){2}, 1);
    expect_invalid("\xF0\x9F\x98", 3, (const size_t[]){3}, 1);
    /* ...and what interrupts it is decoded on its own. */
    uint32_t cp;
    assert_int_equal(textwidth_decode("\xE2\x82"
                                      "A",
                                      3, &cp),
                     2);
    assert_int_equal(cp, TEXTWIDTH_REPLACEMENT);
    assert_int_equal(textwidth("a\xFF\xFE"), 3);
    assert_int_equal(textwidth("\xD8"), 1);
}

static void decode_never_reads_past_the_end(void **state)
{
    (void)state;
    /* The first two bytes of € in a buffer of exactly two: under ASan, a read of a third byte
     * fails the test. */
    char *buf = malloc(2);
    assert_non_null(buf);
    memcpy(buf, "\xE2\x82", 2);
    uint32_t cp;
    assert_int_equal(textwidth_decode(buf, 2, &cp), 2);
    assert_int_equal(cp, TEXTWIDTH_REPLACEMENT);
    assert_int_equal(textwidth_n(buf, 2), 1);
    assert_int_equal(textwidth_prefix(buf, 2, 5, NULL), 2);
    /* A length shorter than the buffer is honoured too. */
    assert_int_equal(textwidth_decode("\xE2\x82\xAC", 1, &cp), 1);
    assert_int_equal(cp, TEXTWIDTH_REPLACEMENT);
    free(buf);
}

static void prefix_stops_on_code_point_boundaries(void **state)
{
    (void)state;
    size_t w = 99;
    /* 漢 fits in 3 columns, 字 would make 4. */
    assert_int_equal(textwidth_prefix("漢字", 6, 3, &w), 3);
    assert_int_equal(w, 2);
    /* The harakat after the last letter that fits stay with it: م ُ is 4 bytes. */
    assert_int_equal(textwidth_prefix("مُحَمَّد", strlen("مُحَمَّد"), 1, &w), 4);
    assert_int_equal(w, 1);
    assert_int_equal(textwidth_prefix("abc", 3, 0, &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(textwidth_prefix("abc", 3, 10, &w), 3);
    assert_int_equal(w, 3);
}

static void truncate_appends_an_ellipsis_when_cut(void **state)
{
    (void)state;
    expect_str(textwidth_truncate("سلام دنیا", 9), "سلام دنیا");
    expect_str(textwidth_truncate("سلام دنیا", 5), "سلام…");
    expect_str(textwidth_truncate("سلام دنیا", 1), "…");
    expect_str(textwidth_truncate("سلام دنیا", 0), "");
    expect_str(textwidth_truncate("", 3), "");
    /* Never half a wide character: 漢 and … make 3 of the 4 columns. */
    expect_str(textwidth_truncate("漢字漢字", 5), "漢字…");
    expect_str(textwidth_truncate("漢字漢字", 4), "漢…");
    /* Harakat stay on their letter, the ZWNJ is kept with what precedes it. */
    expect_str(textwidth_truncate("مُحَمَّد", 3), "مُحَ…");
    expect_str(textwidth_truncate("می\u200cخواهم", 3), "می\u200c…");
    expect_str(textwidth_truncate("👍👍👍", 4), "👍…");
    /* Invalid bytes come out as U+FFFD, and count as one column each. */
    expect_str(textwidth_truncate("ab\xFF"
                                  "cd",
                                  10),
               "ab\xEF\xBF\xBD"
               "cd");
    expect_str(textwidth_truncate("ab\xFF"
                                  "cd",
                                  4),
               "ab\xEF\xBF\xBD…");
}

static void pad_left_and_right_by_columns(void **state)
{
    (void)state;
    expect_str(textwidth_pad("سارا", 6, TEXTWIDTH_LEFT), "سارا  ");
    expect_str(textwidth_pad("سارا", 6, TEXTWIDTH_RIGHT), "  سارا");
    expect_str(textwidth_pad("漢字", 5, TEXTWIDTH_LEFT), "漢字 ");
    expect_str(textwidth_pad("مُحَمَّد", 5, TEXTWIDTH_LEFT), "مُحَمَّد ");
    expect_str(textwidth_pad("12", 5, TEXTWIDTH_RIGHT), "   12");
    /* Already as wide or wider: unchanged, never cut. */
    expect_str(textwidth_pad("hello", 3, TEXTWIDTH_LEFT), "hello");
    expect_str(textwidth_pad("", 2, TEXTWIDTH_LEFT), "  ");
}

static void fit_gives_exactly_the_columns(void **state)
{
    (void)state;
    expect_str(textwidth_fit("Hello, world", 8, TEXTWIDTH_LEFT), "Hello, …");
    expect_str(textwidth_fit("ab", 4, TEXTWIDTH_RIGHT), "  ab");
    /* 漢… is 3 columns; one space makes 4. */
    expect_str(textwidth_fit("漢字漢字", 4, TEXTWIDTH_LEFT), "漢… ");
    /* The tanween after the alef takes no column and stays. */
    expect_str(textwidth_fit("شكراً جزيلاً", 5, TEXTWIDTH_LEFT), "شكراً…");
    char *s = textwidth_fit("a漢😀bcdefgh", 7, TEXTWIDTH_LEFT);
    assert_non_null(s);
    assert_int_equal(textwidth(s), 7);
    free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_is_one_column_each),
        cmocka_unit_test(control_characters_take_no_column),
        cmocka_unit_test(persian_zwnj_and_digits),
        cmocka_unit_test(arabic_harakat_take_no_column),
        cmocka_unit_test(bidi_controls_and_variation_selectors_take_none),
        cmocka_unit_test(cjk_hangul_fullwidth_and_emoji_take_two),
        cmocka_unit_test(decode_valid_sequences),
        cmocka_unit_test(decode_replaces_invalid_sequences),
        cmocka_unit_test(decode_never_reads_past_the_end),
        cmocka_unit_test(prefix_stops_on_code_point_boundaries),
        cmocka_unit_test(truncate_appends_an_ellipsis_when_cut),
        cmocka_unit_test(pad_left_and_right_by_columns),
        cmocka_unit_test(fit_gives_exactly_the_columns),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
