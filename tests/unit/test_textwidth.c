/* Display width of Persian, Arabic, CJK and emoji text, and cutting/padding by columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testmain.h"
#include "textwidth.h"

static char *fit(const char *s, size_t cols, int pad)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    textwidth_fit(f, s, cols, pad);
    fclose(f);
    return buf;
}

static void ascii_is_one_column_each(void **state)
{
    (void)state;
    assert_int_equal(textwidth("hello"), 5);
    assert_int_equal(textwidth(""), 0);
}

static void persian_letters_one_column_zwnj_and_harakat_none(void **state)
{
    (void)state;
    assert_int_equal(textwidth("سارا"), 4);
    /* می‌گیریم: ZWNJ (U+200C) takes no column. */
    assert_int_equal(textwidth("می\u200cگیریم"), 7);
    /* Arabic with harakat: مُحَمَّد is 4 letters. */
    assert_int_equal(textwidth("مُحَمَّد"), 4);
    assert_int_equal(textwidth("\u200f+98\u200e"), 3);
}

static void cjk_and_emoji_two_columns(void **state)
{
    (void)state;
    assert_int_equal(textwidth("漢字"), 4);
    assert_int_equal(textwidth("😀"), 2);
    assert_int_equal(textwidth("ａ"), 2);
}

static void invalid_utf8_counts_bytes(void **state)
{
    (void)state;
    assert_int_equal(textwidth("a\xff\xfe"), 3);
    assert_int_equal(textwidth_n("\xe2\x82", 2), 2); /* truncated sequence */
}

static void fit_pads_by_columns(void **state)
{
    (void)state;
    char *s = fit("سارا", 6, 1);
    assert_string_equal(s, "سارا  ");
    free(s);
    s = fit("漢字", 5, 1);
    assert_string_equal(s, "漢字 ");
    free(s);
}

static void fit_cuts_on_code_points_with_ellipsis(void **state)
{
    (void)state;
    char *s = fit("سلام دنیا", 5, 0);
    assert_string_equal(s, "سلام…");
    free(s);
    s = fit("漢字漢字", 5, 1);
    /* Two wide characters and the ellipsis make 5 columns. */
    assert_string_equal(s, "漢字…");
    free(s);
    s = fit("line\nbreak", 20, 0);
    assert_string_equal(s, "line break");
    free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_is_one_column_each),
        cmocka_unit_test(persian_letters_one_column_zwnj_and_harakat_none),
        cmocka_unit_test(cjk_and_emoji_two_columns),
        cmocka_unit_test(invalid_utf8_counts_bytes),
        cmocka_unit_test(fit_pads_by_columns),
        cmocka_unit_test(fit_cuts_on_code_points_with_ellipsis),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
