/*
 * HTML mail bodies reduced to text (client/html.c): what is dropped (tags, comments, script,
 * style, head), what becomes line breaks, character references named and numbered, text that
 * only looks like markup, and any prefix of a document read without a crash or an overread.
 */
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "testmain.h"

static void expect_text(const char *html, const char *want)
{
    size_t n;
    char *got = html_to_text(html, strlen(html), &n);
    assert_non_null(got);
    assert_int_equal(n, strlen(got));
    if (strcmp(got, want) != 0) {
        fail_msg("html_to_text(%s):\n got: \"%s\"\nwant: \"%s\"", html, got, want);
    }
    free(got);
}

static void tags_blocks_and_hidden_content(void **state)
{
    (void)state;
    expect_text("", "");
    expect_text("<p>Hello <b>world</b></p>", "Hello world");
    expect_text("<HTML><HEAD><TITLE>t</TITLE><STYLE>p{}</STYLE></HEAD><BODY>body</BODY></HTML>",
                "body");
    expect_text("a<script type=\"text/javascript\">if (a > b) { x(\"</p>\"); }</script>b", "ab");
    expect_text("one<!-- <p>hidden</p> -->two", "onetwo");
    expect_text("<p>one</p><p>two</p>", "one\n\ntwo");
    expect_text("one<br>two<br/><br />three", "one\ntwo\n\nthree");
    expect_text("<ul><li>a</li><li>b</li></ul>", "a\nb");
    expect_text("<table><tr><td>x</td><td>y</td></tr></table>", "x y");
    expect_text("  lots   of\n\n  space\t ", "lots of space");
    expect_text("<a href=\"x?a=1&b=2\" title='a > b'>link</a>", "link");
    /* A quote never closed: the rest is one tag. */
    expect_text("before<a href=\"x>after", "before");
}

static void references_and_persian_text(void **state)
{
    (void)state;
    expect_text("&amp; &lt;x&gt; &quot;q&quot; &apos;", "& <x> \"q\" '");
    expect_text("می&zwnj;خواهم", "می\u200cخواهم");
    expect_text("&#1777;&#1778;&#x6F3;", "۱۲۳");
    expect_text("a&nbsp;b", "a b");
    expect_text("&#0;&#xD800;&#99999999;", "\uFFFD\uFFFD\uFFFD");
    /* Not references: kept as written. */
    expect_text("AT&T &unknown; &#; &", "AT&T &unknown; &#; &");
    expect_text("a < b and c <3", "a < b and c <3");
    expect_text("<p dir=\"rtl\">سلام، <b>سارا</b> جان</p>", "سلام، سارا جان");
}

static void any_prefix_is_safe(void **state)
{
    (void)state;
    const char *doc = "<html><head><style>x</style></head><body><p>سلام &amp; &#1777;"
                      "<script>a<b</script><!-- c --><a href='x'>y</a><br>z</p></body></html>";
    size_t len = strlen(doc);
    for (size_t cut = 0; cut <= len; cut++) {
        char *copy = malloc(cut > 0 ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, doc, cut);
        size_t n;
        char *text = html_to_text(copy, cut, &n);
        assert_non_null(text);
        assert_true(n <= 2 * cut + 8);
        free(text);
        free(copy);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tags_blocks_and_hidden_content),
        cmocka_unit_test(references_and_persian_text),
        cmocka_unit_test(any_prefix_is_safe),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
