/*
 * Unit tests of client/logrecord: the record `touchline log` sends, from its options. Each
 * case compares the whole record, serialized, with what the daemon should receive.
 */
#include "testmain.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "logrecord.h"

/* 2026-11-20T10:00:00Z in microseconds since the epoch. */
#define NOW_US  1795168800000000LL
#define NOW_TXT "2026-11-20T10:00:00.000000Z"

static struct logrecord *new_record(void)
{
    struct logrecord *lr = logrecord_new();
    assert_non_null(lr);
    return lr;
}

static void set(struct logrecord *lr, const char *option, const char *value)
{
    assert_int_equal(logrecord_set(lr, option, value), LOGRECORD_OK);
}

/* Builds lr and asserts the record serializes (compact, in order) to want. */
static void expect_record(struct logrecord *lr, const char *want)
{
    json_t *rec = NULL;
    const char *bad = "unset";
    assert_int_equal(logrecord_build(lr, NOW_US, &rec, &bad), LOGRECORD_OK);
    assert_null(bad);
    char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    json_decref(rec);
}

static void minimal_record_gets_source_and_now(void **state)
{
    (void)state;
    struct logrecord *lr = new_record();
    set(lr, "channel", "phone");
    set(lr, "phone", "09123456789");
    set(lr, "summary", "asked about the invoice");
    assert_null(logrecord_missing(lr));
    expect_record(lr, "{\"channel\":\"phone\",\"body\":\"asked about the invoice\","
                      "\"source\":\"touchline-cli\",\"occurred_at\":\"" NOW_TXT "\","
                      "\"customer\":{\"phone\":\"09123456789\"}}");
    logrecord_free(lr);
}

static void every_option_lands_in_its_field(void **state)
{
    (void)state;
    struct logrecord *lr = new_record();
    set(lr, "channel", "email");
    set(lr, "subject", "Refund");
    set(lr, "direction", "outbound");
    set(lr, "agent", "reza");
    set(lr, "status", "sent");
    set(lr, "thread", "T-9");
    set(lr, "stage", "post_purchase");
    set(lr, "sentiment", "negative");
    set(lr, "summary", "sent the form");
    set(lr, "external-id", "m-1");
    set(lr, "name", "سارا");
    set(lr, "email", "sara@example.com");
    set(lr, "tag", "refund");
    set(lr, "tag", "vip");
    set(lr, "source", "crm");
    set(lr, "occurred-at", "2026-11-01T08:00:00+03:30");
    assert_int_equal(logrecord_set_number(lr, "duration", 42), LOGRECORD_OK);
    assert_int_equal(logrecord_set_number(lr, "score", 7), LOGRECORD_OK);
    expect_record(lr, "{\"channel\":\"email\",\"subject\":\"Refund\",\"direction\":\"outbound\","
                      "\"agent\":\"reza\",\"status\":\"sent\",\"thread\":\"T-9\","
                      "\"stage\":\"post_purchase\",\"sentiment\":\"negative\","
                      "\"body\":\"sent the form\",\"external_id\":\"m-1\",\"duration_s\":42,"
                      "\"score\":7,\"source\":\"crm\","
                      "\"occurred_at\":\"2026-11-01T08:00:00+03:30\","
                      "\"customer\":{\"name\":\"سارا\",\"email\":\"sara@example.com\"},"
                      "\"tags\":[\"refund\",\"vip\"]}");
    logrecord_free(lr);
}

static void repeated_identifiers_become_an_array(void **state)
{
    (void)state;
    struct logrecord *lr = new_record();
    set(lr, "channel", "sms");
    set(lr, "phone", "09120000001");
    set(lr, "email", "a@example.com");
    set(lr, "phone", "09120000002");
    set(lr, "phone", "09120000003");
    set(lr, "summary", "x");
    expect_record(lr, "{\"channel\":\"sms\",\"body\":\"x\",\"source\":\"touchline-cli\","
                      "\"occurred_at\":\"" NOW_TXT "\",\"customer\":{\"phone\":[\"09120000001\","
                      "\"09120000002\",\"09120000003\"],\"email\":\"a@example.com\"}}");
    logrecord_free(lr);
}

static void missing_names_the_first_required_option(void **state)
{
    (void)state;
    struct logrecord *lr = new_record();
    assert_string_equal(logrecord_missing(lr), "--channel C");
    set(lr, "channel", "chat");
    assert_string_equal(logrecord_missing(lr), "--phone, --email, --chat, --web or --external");
    /* A name alone does not say who the customer is. */
    set(lr, "name", "Sara");
    assert_string_equal(logrecord_missing(lr), "--phone, --email, --chat, --web or --external");
    set(lr, "chat", "telegram:@sara_k");
    assert_string_equal(logrecord_missing(lr), "--summary TEXT");
    set(lr, "summary", "hi");
    assert_null(logrecord_missing(lr));
    logrecord_free(lr);
}

static void invalid_utf8_and_unknown_options_are_refused(void **state)
{
    (void)state;
    struct logrecord *lr = new_record();
    assert_int_equal(logrecord_set(lr, "summary", "bad \xff"), LOGRECORD_NOT_UTF8);
    assert_int_equal(logrecord_set(lr, "phone", "\xc3"), LOGRECORD_NOT_UTF8);
    assert_int_equal(logrecord_set(lr, "tag", "\xff"), LOGRECORD_NOT_UTF8);
    assert_int_equal(logrecord_set(lr, "colour", "red"), LOGRECORD_UNKNOWN);
    assert_int_equal(logrecord_set_number(lr, "summary", 1), LOGRECORD_UNKNOWN);
    set(lr, "channel", "phone");
    set(lr, "phone", "09123456789");
    set(lr, "summary", "hi");
    /* source is checked when the record is built, after what is missing was said. */
    set(lr, "source", "pbx\xff");
    json_t *rec = NULL;
    const char *bad = NULL;
    assert_int_equal(logrecord_build(lr, NOW_US, &rec, &bad), LOGRECORD_NOT_UTF8);
    assert_null(rec);
    assert_string_equal(bad, "source");
    logrecord_free(lr);

    lr = new_record();
    set(lr, "occurred-at", "\xfe");
    assert_int_equal(logrecord_build(lr, NOW_US, &rec, &bad), LOGRECORD_NOT_UTF8);
    assert_string_equal(bad, "occurred-at");
    logrecord_free(lr);
    logrecord_free(NULL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_record_gets_source_and_now),
        cmocka_unit_test(every_option_lands_in_its_field),
        cmocka_unit_test(repeated_identifiers_become_an_array),
        cmocka_unit_test(missing_names_the_first_required_option),
        cmocka_unit_test(invalid_utf8_and_unknown_options_are_refused),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
