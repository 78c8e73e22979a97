/*
 * Unit tests of daemon/adapt: each mapping's record, parsed back with record_parse as the
 * daemon does, so that a test sees what would be stored (normalized identifiers included).
 * The payloads follow what Segment's SDKs, Twilio and Chatwoot send.
 */
#include "testmain.h"

#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "record.h"

/* 2026-12-06T12:00:00Z */
#define NOW_US 1796558400000000LL

static struct record *parse(char *text, const char *err)
{
    if (text == NULL) {
        fail_msg("the mapping refused: %s", err);
    }
    struct record_opts opts = {0};
    normalize_opts_default(&opts.norm);
    struct record *rec = NULL;
    char msg[RECORD_MSG_MAX];
    if (record_parse(text, strlen(text), &opts, &rec, msg, sizeof(msg)) != RECORD_OK) {
        fail_msg("record_parse refused %s: %s", text, msg);
    }
    free(text);
    return rec;
}

static const char *ident(const struct record *r, enum ident_kind kind, int nth)
{
    for (size_t i = 0; i < r->n_idents; i++) {
        if (r->idents[i].kind == kind && nth-- == 0) {
            return r->idents[i].value;
        }
    }
    return NULL;
}

static struct record *segment(const char *json, const char *type, const char *system)
{
    char msg[RECORD_MSG_MAX];
    struct jsondoc *doc = jsondoc_parse(json, strlen(json), msg, sizeof(msg));
    assert_non_null(doc);
    struct adapt_segment_opts o = {.source = "web-shop", .user_id_system = system};
    char *text = adapt_segment(doc, jsondoc_root(doc), type, &o, NOW_US, msg, sizeof(msg));
    jsondoc_free(doc);
    return parse(text, msg);
}

/* The message's own traits win over context.traits; name, email and phone are identity. */
static void segment_identify_traits(void **state)
{
    (void)state;
    struct record *r = segment(
        "{\"type\":\"identify\",\"userId\":\"u-9\",\"messageId\":\"m-1\",\"context\":{\"traits\":"
        "{\"plan\":\"free\",\"email\":\"A@Example.com\"}},\"traits\":{\"plan\":\"طلایی\",\"name\":"
        "\"رضا\",\"phone\":\"۰۹۱۲۵۵۵۰۱۰۱\"}}",
        NULL, NULL);
    assert_string_equal(r->external_id, "m-1");
    assert_string_equal(r->channel, "web");
    assert_string_equal(r->subject, "identify");
    assert_string_equal(ident(r, IDENT_WEB, 0), "u-9");
    assert_string_equal(ident(r, IDENT_EMAIL, 0), "a@example.com");
    assert_string_equal(ident(r, IDENT_PHONE, 0), "+989125550101");
    assert_string_equal(r->name, "رضا");
    assert_string_equal(r->traits_json, "{\"plan\":\"طلایی\"}");
    assert_string_equal(r->occurred_at, "2026-12-06T12:00:00.000000Z");
    record_free(r);
}

/* userId as an external identifier of a configured system; properties kept as attributes;
 * originalTimestamp corrected by the client's clock error. */
static void segment_track_external_user_and_clock(void **state)
{
    (void)state;
    struct record *r =
        segment("{\"userId\":\"5512\",\"event\":\"Order Completed\",\"properties\":{\"total\":12.5,"
                "\"items\":[1,2]},\"originalTimestamp\":\"2026-12-06T11:00:00Z\",\"sentAt\":"
                "\"2026-12-06T11:00:10Z\"}",
                "track", "shopify");
    assert_string_equal(ident(r, IDENT_EXTERNAL, 0), "shopify:5512");
    assert_null(ident(r, IDENT_WEB, 0));
    assert_string_equal(r->subject, "Order Completed");
    assert_string_equal(r->attributes_json, "{\"total\":12.5,\"items\":[1,2]}");
    /* 11:00:00 + (12:00:00 - 11:00:10) */
    assert_string_equal(r->occurred_at, "2026-12-06T11:59:50.000000Z");
    assert_string_equal(r->tags[0], "segment:track");
    record_free(r);
}

static void segment_refusals_name_the_field(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"{\"event\":\"x\"}", "track", "userId or anonymousId"},
        {"{\"userId\":\"u\"}", "track", "event"},
        {"{\"userId\":\"u\"}", "alias", "previousId"},
        {"{\"userId\":\"u\",\"type\":\"flush\"}", NULL, "type"},
        {"{\"userId\":\"u\",\"timestamp\":\"yesterday\"}", "page", "timestamp"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[RECORD_MSG_MAX];
        struct jsondoc *doc = jsondoc_parse(cases[i][0], strlen(cases[i][0]), msg, sizeof(msg));
        assert_non_null(doc);
        struct adapt_segment_opts o = {.source = "web-shop"};
        char *text =
            adapt_segment(doc, jsondoc_root(doc), cases[i][1], &o, NOW_US, msg, sizeof(msg));
        jsondoc_free(doc);
        assert_null(text);
        assert_non_null(strstr(msg, cases[i][2]));
    }
}

static struct record *twilio(const char *form, bool status, char *err, size_t errlen)
{
    char *copy = strdup(form);
    struct http_param p[64];
    int n = http_parse_form(copy, p, 64);
    free(copy);
    assert_true(n > 0);
    char *text = adapt_twilio(p, n, status, "twilio", NOW_US, err, errlen);
    http_params_free(p, n);
    return text != NULL ? parse(text, err) : NULL;
}

/* WhatsApp through Twilio: a chat record, with the handle and the phone it is. */
static void twilio_whatsapp_and_status_words(void **state)
{
    (void)state;
    char err[RECORD_MSG_MAX];
    struct record *r = twilio("MessageSid=SM1&From=whatsapp%3A%2B989125550101&To=whatsapp%3A%2B1"
                              "4155550123&Body=%D8%B3%D9%84%D8%A7%D9%85+%F0%9F%91%8B&NumMedia=0",
                              false, err, sizeof(err));
    assert_string_equal(r->channel, "chat");
    assert_string_equal(r->direction, "inbound");
    assert_string_equal(r->body, "سلام 👋");
    assert_string_equal(ident(r, IDENT_CHAT, 0), "whatsapp:+989125550101");
    assert_string_equal(ident(r, IDENT_PHONE, 0), "+989125550101");
    record_free(r);
    static const char *const words[][2] = {
        {"queued", "sent"},        {"sent", "sent"},     {"delivered", "delivered"},
        {"undelivered", "failed"}, {"failed", "failed"}, {"read", "read"},
        {"canceled", "failed"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        char form[256];
        snprintf(form, sizeof(form),
                 "MessageSid=SM2&To=%%2B989125550101&From=%%2B14155550123&MessageStatus=%s&"
                 "ErrorCode=30003",
                 words[i][0]);
        r = twilio(form, true, err, sizeof(err));
        assert_string_equal(r->status, words[i][1]);
        assert_string_equal(r->direction, "outbound");
        assert_non_null(strstr(r->attributes_json, "\"error_code\":\"30003\""));
        record_free(r);
    }
    assert_null(
        twilio("MessageSid=SM3&To=%2B989125550101&MessageStatus=exploded", true, err, sizeof(err)));
    assert_non_null(strstr(err, "MessageStatus"));
}

static struct record *chatwoot(const char *json, bool *ignored, char *err, size_t errlen)
{
    struct jsondoc *doc = jsondoc_parse(json, strlen(json), err, errlen);
    assert_non_null(doc);
    char *text = adapt_chatwoot(doc, "chatwoot-main", NOW_US, ignored, err, errlen);
    jsondoc_free(doc);
    return text != NULL ? parse(text, err) : NULL;
}

/* An SMS inbox is the sms channel, the contact's phone the identity; activity is ignored. */
static void chatwoot_sms_inbox_and_activity(void **state)
{
    (void)state;
    char err[RECORD_MSG_MAX];
    bool ignored = false;
    struct record *r = chatwoot(
        "{\"event\":\"message_created\",\"id\":7,\"message_type\":\"incoming\",\"created_at\":"
        "1796554800,\"content\":\"hi\",\"sender\":{\"id\":3,\"phone_number\":\"+98 912 555 0101\","
        "\"type\":\"contact\"},\"conversation\":{\"id\":40,\"channel\":\"Channel::Sms\"}}",
        &ignored, err, sizeof(err));
    assert_false(ignored);
    assert_string_equal(r->channel, "sms");
    assert_string_equal(r->thread, "40");
    assert_string_equal(r->occurred_at, "2026-12-06T11:00:00.000000Z");
    assert_string_equal(ident(r, IDENT_PHONE, 0), "+989125550101");
    assert_null(ident(r, IDENT_CHAT, 0));
    record_free(r);
    r = chatwoot("{\"event\":\"message_created\",\"id\":8,\"message_type\":\"activity\"}", &ignored,
                 err, sizeof(err));
    assert_null(r);
    assert_true(ignored);
    r = chatwoot("{\"event\":\"conversation_resolved\",\"id\":8}", &ignored, err, sizeof(err));
    assert_null(r);
    assert_true(ignored);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(segment_identify_traits),
        cmocka_unit_test(segment_track_external_user_and_clock),
        cmocka_unit_test(segment_refusals_name_the_field),
        cmocka_unit_test(twilio_whatsapp_and_status_words),
        cmocka_unit_test(chatwoot_sms_inbox_and_activity),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
