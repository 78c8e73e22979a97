/*
 * Unit tests of daemon/pgarray: the array literals every batch column travels as must
 * escape exactly the characters PostgreSQL's array parser treats specially.
 */
#include "testmain.h"

#include <stdlib.h>
#include <string.h>

#include "pgarray.h"

static void empty_array(void **state)
{
    (void)state;
    struct pgarray a;
    pgarray_init(&a);
    assert_string_equal(pgarray_text(&a), "{}");
    pgarray_free(&a);
}

static void quotes_backslashes_nulls_and_text(void **state)
{
    (void)state;
    struct pgarray a;
    pgarray_init(&a);
    pgarray_add(&a, "plain");
    pgarray_add(&a, NULL);
    pgarray_add(&a, "");
    pgarray_add(&a, "say \"hi\"\\now");
    pgarray_add(&a, "\"\\");
    pgarray_add(&a, "سلام, {NULL} \"x\"");
    assert_string_equal(pgarray_text(&a), "{\"plain\",NULL,\"\",\"say \\\"hi\\\"\\\\now\","
                                          "\"\\\"\\\\\",\"سلام, {NULL} \\\"x\\\"\"}");
    pgarray_free(&a);
}

static void long_values_grow_the_buffer(void **state)
{
    (void)state;
    struct pgarray a;
    pgarray_init(&a);
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, 'b', 69999);
    big[69999] = '\0';
    big[35000] = '"';
    for (int i = 0; i < 3; i++) {
        pgarray_add(&a, big);
    }
    const char *t = pgarray_text(&a);
    assert_non_null(t);
    /* Three quoted values of 69 999 bytes with one escape each, two commas, two braces. */
    assert_int_equal(strlen(t), 3 * (69999 + 1 + 2) + 2 + 2);
    assert_int_equal(t[1 + 1 + 35000], '\\');
    assert_int_equal(t[1 + 1 + 35001], '"');
    free(big);
    pgarray_free(&a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_array),
        cmocka_unit_test(quotes_backslashes_nulls_and_text),
        cmocka_unit_test(long_values_grow_the_buffer),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
