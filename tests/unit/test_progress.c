/*
 * The progress line of long imports (client/progress.c): what it says at the start, with a
 * rate, with the share done and the time left, on hour-long imports, in a buffer too small;
 * and that it draws nothing when its stream is not a terminal.
 */
#include <stdio.h>
#include <string.h>

#include "progress.h"
#include "testmain.h"

static void says_counts_rate_share_and_time_left(void **state)
{
    (void)state;
    char buf[256];
    struct progress_state st = {0};
    progress_format(buf, sizeof(buf), &st);
    assert_string_equal(buf, "0 sent: 0 stored, 0 duplicate, 0 rejected");

    /* A rate once a second has passed; the share and time left once the size is known. */
    st = (struct progress_state){.sent = 3000,
                                 .stored = 2500,
                                 .duplicate = 400,
                                 .rejected = 7,
                                 .done = 250,
                                 .total = 1000,
                                 .elapsed_ms = 2000};
    progress_format(buf, sizeof(buf), &st);
    assert_string_equal(buf, "3000 sent, 1500/s: 2500 stored, 400 duplicate, 7 rejected; 25%, "
                             "0:06 left");
    /* Hours. */
    st.done = 1;
    st.elapsed_ms = 10000;
    progress_format(buf, sizeof(buf), &st);
    assert_non_null(strstr(buf, "; 0%, 2:46:30 left"));
    /* Done: no time left to speak of. */
    st.done = 1000;
    progress_format(buf, sizeof(buf), &st);
    assert_non_null(strstr(buf, "; 100%"));
    assert_null(strstr(buf, "left"));
    /* Cut, still terminated; the length returned is what was written. */
    char small[12];
    size_t n = progress_format(small, sizeof(small), &st);
    assert_int_equal(n, strlen(small));
    assert_string_equal(small, "3000 sent, ");
}

static void nothing_drawn_off_a_terminal(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct progress *p = progress_new(f);
    assert_null(p);
    struct progress_state st = {.sent = 1};
    progress_update(p, &st, 1);
    progress_end(p);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(says_counts_rate_share_and_time_left),
        cmocka_unit_test(nothing_drawn_off_a_terminal),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
