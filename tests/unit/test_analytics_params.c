/*
 * daemon/analytics.c: the query strings of GET /v1/stats, /v1/missed and
 * /v1/customers/{id}/journey become the statements' parameters, or an error naming the
 * parameter, before anything reaches the database.
 */
#include <stdio.h>
#include <string.h>

#include "analytics.h"
#include "testmain.h"

#define P(k, v)                                                                                    \
    {                                                                                              \
        (char *)(k), (char *)(v)                                                                   \
    }

static void stats_defaults_and_values(void **state)
{
    (void)state;
    struct analytics_query q;
    char err[256];
    assert_int_equal(analytics_parse_stats(NULL, 0, 3600, &q, err, sizeof(err)), 0);
    assert_int_equal(q.n, 4);
    assert_null(q.values[0]);
    assert_null(q.values[1]);
    assert_null(q.values[2]);
    assert_string_equal(q.values[3], "3600");

    struct http_param p[] = {P("since", "2026-11-02T03:30:00+03:30"),
                             P("until", "2026-11-03T00:00:00Z"), P("by", "agent")};
    assert_int_equal(analytics_parse_stats(p, 3, 60, &q, err, sizeof(err)), 0);
    assert_string_equal(q.values[0], "2026-11-02T00:00:00.000000Z"); /* in UTC */
    assert_string_equal(q.values[1], "2026-11-03T00:00:00.000000Z");
    assert_string_equal(q.values[2], "agent");
    assert_string_equal(q.values[3], "60");
}

static void stats_errors_name_the_parameter(void **state)
{
    (void)state;
    struct analytics_query q;
    char err[256];
    struct http_param bad_since[] = {P("since", "yesterday")};
    assert_int_equal(analytics_parse_stats(bad_since, 1, 3600, &q, err, sizeof(err)), -1);
    assert_string_equal(err, "since: \"yesterday\" is not an RFC 3339 timestamp");
    struct http_param bad_by[] = {P("by", "week")};
    assert_int_equal(analytics_parse_stats(bad_by, 1, 3600, &q, err, sizeof(err)), -1);
    assert_string_equal(err, "by: \"week\" is not one of channel, source, stage, agent, day");
    struct http_param unknown[] = {P("limit", "5")};
    assert_int_equal(analytics_parse_stats(unknown, 1, 3600, &q, err, sizeof(err)), -1);
    assert_string_equal(err, "\"limit\": unknown parameter (since, until, by)");
}

static void missed_parameters(void **state)
{
    (void)state;
    struct analytics_query q;
    char err[256];
    assert_int_equal(analytics_parse_missed(NULL, 0, 1800, &q, err, sizeof(err)), 0);
    assert_int_equal(q.n, 5);
    assert_string_equal(q.values[2], "true");
    assert_string_equal(q.values[3], "100");
    assert_string_equal(q.values[4], "1800");
    struct http_param p[] = {P("open", "false"), P("limit", "1000")};
    assert_int_equal(analytics_parse_missed(p, 2, 1800, &q, err, sizeof(err)), 0);
    assert_string_equal(q.values[2], "false");
    assert_string_equal(q.values[3], "1000");
    static const char *const bad[][3] = {
        {"open", "yes", "open: \"yes\" must be true or false"},
        {"limit", "0", "limit: \"0\" must be an integer 1-1000"},
        {"limit", "1001", "limit: \"1001\" must be an integer 1-1000"},
        {"limit", "12x", "limit: \"12x\" must be an integer 1-1000"},
        {"by", "day", "\"by\": unknown parameter (open, since, until, limit)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_param b[] = {P(bad[i][0], bad[i][1])};
        assert_int_equal(analytics_parse_missed(b, 1, 1800, &q, err, sizeof(err)), -1);
        assert_string_equal(err, bad[i][2]);
    }
}

static void journey_parameters(void **state)
{
    (void)state;
    struct analytics_query q;
    char err[256];
    static const char id[] = "0190a000-0000-7000-8000-000000000000";
    struct http_param p[] = {P("until", "2026-11-03T00:00:00Z")};
    assert_int_equal(analytics_parse_journey(id, p, 1, &q, err, sizeof(err)), 0);
    assert_int_equal(q.n, 3);
    assert_string_equal(q.values[0], id);
    assert_null(q.values[1]);
    assert_string_equal(q.values[2], "2026-11-03T00:00:00.000000Z");
    struct http_param b[] = {P("channel", "sms")};
    assert_int_equal(analytics_parse_journey(id, b, 1, &q, err, sizeof(err)), -1);
    assert_string_equal(err, "\"channel\": unknown parameter (since, until)");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_defaults_and_values),
        cmocka_unit_test(stats_errors_name_the_parameter),
        cmocka_unit_test(missed_parameters),
        cmocka_unit_test(journey_parameters),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
