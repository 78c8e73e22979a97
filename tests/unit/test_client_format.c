/*
 * The client's output, byte for byte: a table with a Persian name and an Arabic body lined up
 * by display width, JSON and NDJSON, UTC and local times, and the HTTP client's URL handling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "http_client.h"
#include "testmain.h"

static const char PROFILE[] =
    "{\"id\":\"01a204c2-159b-79d9-9586-9df2cd800a8a\",\"name\":\"سارا کریمی\","
    "\"identities\":[{\"kind\":\"email\",\"value\":\"sara.karimi@example.com\"},"
    "{\"kind\":\"phone\",\"value\":\"+989123456789\"}]}";

static const char ITEMS[] =
    "[{\"id\":\"a\",\"channel\":\"sms\",\"direction\":\"inbound\",\"occurred_at\":"
    "\"2026-11-20T12:30:00.000000Z\",\"status\":\"received\",\"body\":\"شكراً، هل يمكن "
    "التوصيل يوم الخميس؟\"},"
    "{\"id\":\"b\",\"channel\":\"phone\",\"direction\":\"outbound\",\"occurred_at\":"
    "\"2026-11-19T06:45:11.000000Z\",\"status\":\"answered\",\"agent\":\"رضا\","
    "\"subject\":\"call back\",\"body\":\"ignored: the subject wins\"},"
    "{\"id\":\"c\",\"channel\":\"web\",\"direction\":\"inbound\",\"occurred_at\":"
    "\"2026-11-18T08:02:11.000000Z\"}]";

static char *render(const struct format_opts *o)
{
    json_t *profile = json_loads(PROFILE, 0, NULL);
    json_t *items = json_loads(ITEMS, 0, NULL);
    assert_non_null(profile);
    assert_non_null(items);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    format_timeline(f, profile, items, o);
    fclose(f);
    json_decref(profile);
    json_decref(items);
    return buf;
}

static void table_utc_golden(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 120};
    char *out = render(&o);
    const char *expect =
        "سارا کریمی  01a204c2-159b-79d9-9586-9df2cd800a8a\n"
        "  email sara.karimi@example.com, phone +989123456789\n"
        "TIME               CHANNEL  DIRECTION  STATUS    AGENT  SUMMARY\n"
        "2026-11-20 12:30Z  sms      inbound    received  -      شكراً، هل يمكن التوصيل يوم "
        "الخميس؟\n"
        "2026-11-19 06:45Z  phone    outbound   answered  رضا    call back\n"
        "2026-11-18 08:02Z  web      inbound    -         -      -\n";
    assert_string_equal(out, expect);
    free(out);
}

static void table_cuts_summary_to_width(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 70};
    char *out = render(&o);
    /* 70 columns leave 14 for the summary: 13 columns of text (the tanween takes none)
     * and an ellipsis. */
    assert_non_null(strstr(out, "  شكراً، هل يمكن…\n"));
    free(out);
}

static void table_local_time_follows_tz(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Tehran", 1);
    tzset();
    char when[64];
    format_time("2026-11-19T06:45:11.000000Z", false, when, sizeof(when));
    assert_string_equal(when, "2026-11-19 10:15");
    format_time("2026-11-19T06:45:11.000000Z", true, when, sizeof(when));
    assert_string_equal(when, "2026-11-19 06:45Z");
    format_time("not a time", false, when, sizeof(when));
    assert_string_equal(when, "not a time");
    unsetenv("TZ");
    tzset();
}

static void ndjson_one_item_per_line(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_NDJSON};
    char *out = render(&o);
    const char *first_nl = strchr(out, '\n');
    assert_non_null(first_nl);
    assert_memory_equal(out, "{\"id\":\"a\",", 10);
    size_t lines = 0;
    for (const char *p = out; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 3);
    assert_non_null(strstr(out, "الخميس"));
    free(out);
}

static void json_has_customer_and_items(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_JSON};
    char *out = render(&o);
    json_error_t err;
    json_t *doc = json_loads(out, 0, &err);
    assert_non_null(doc);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "customer"), "name")), "سارا کریمی");
    assert_int_equal(json_array_size(json_object_get(doc, "items")), 3);
    /* UTF-8 as it is, not \u escapes. */
    assert_non_null(strstr(out, "سارا"));
    json_decref(doc);
    free(out);
}

static void url_parse_and_encode(void **state)
{
    (void)state;
    struct http_url u;
    char err[256];
    assert_int_equal(http_url_parse("http://127.0.0.1:8170", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8170);
    assert_string_equal(u.prefix, "");
    assert_int_equal(http_url_parse("http://tl.example/api/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.prefix, "/api");
    assert_int_equal(http_url_parse("http://[::1]:9/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(http_url_parse("https://x", &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "https"));
    assert_int_equal(http_url_parse("http://x:99999", &u, err, sizeof(err)), -1);
    char enc[128] = "";
    assert_int_equal(http_urlencode("+98 ۰۹", enc, sizeof(enc)), 0);
    assert_string_equal(enc, "%2B98%20%DB%B0%DB%B9");
    char tiny[4] = "";
    assert_int_equal(http_urlencode("abcd", tiny, sizeof(tiny)), -1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_utc_golden),
        cmocka_unit_test(table_cuts_summary_to_width),
        cmocka_unit_test(table_local_time_follows_tz),
        cmocka_unit_test(ndjson_one_item_per_line),
        cmocka_unit_test(json_has_customer_and_items),
        cmocka_unit_test(url_parse_and_encode),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
