/* Timeline cursors: what the API hands out is read back exactly, before 1970 too. */
#include <string.h>

#include "http.h"
#include "testmain.h"

static void cursor_round_trips_after_1970(void **state)
{
    (void)state;
    char ts[28], id[37];
    assert_int_equal(http_parse_cursor("1795285812000000-a22e997a14a150a09885eac58fc815a9", ts, id),
                     0);
    assert_string_equal(ts, "2026-11-21T18:30:12.000000Z");
    assert_string_equal(id, "a22e997a-14a1-50a0-9885-eac58fc815a9");
}

static void cursor_before_1970_is_negative(void **state)
{
    (void)state;
    char ts[28], id[37];
    assert_int_equal(http_parse_cursor("-100000000-a22e997a14a150a09885eac58fc815a9", ts, id), 0);
    assert_string_equal(ts, "1969-12-31T23:58:20.000000Z");
}

static void malformed_cursors_rejected(void **state)
{
    (void)state;
    char ts[28], id[37];
    static const char *const bad[] = {
        "",
        "abc",
        "-a22e997a14a150a09885eac58fc815a9",
        "12-a22e997a14a150a09885eac58fc815a",  /* 31 hex digits */
        "12-A22E997A14A150A09885EAC58FC815A9", /* upper case is not what we hand out */
        "1x-a22e997a14a150a09885eac58fc815a9",
        "-62135596800000001-a22e997a14a150a09885eac58fc815a9", /* before year 1 */
        "253402300800000000-a22e997a14a150a09885eac58fc815a9", /* after year 9999 */
        "99999999999999999999-a22e997a14a150a09885eac58fc815a9",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (http_parse_cursor(bad[i], ts, id) != -1) {
            fail_msg("accepted %s", bad[i]);
        }
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursor_round_trips_after_1970),
        cmocka_unit_test(cursor_before_1970_is_negative),
        cmocka_unit_test(malformed_cursors_rejected),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
