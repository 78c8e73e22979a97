/*
 * RFC 5322 messages as records (client/mail.c): multipart/alternative with a base64 UTF-8
 * Persian text part, quoted-printable Arabic in ISO-8859-6, encoded-word headers in UTF-8 and
 * windows-1256 (B and Q, split across folded lines), nested multiparts with an attachment,
 * outbound messages, dates, threads, the body limit, and messages that cannot be records.
 * Fixtures: tests/fixtures/mail/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"
#include "testmain.h"

/* A fixture of tests/fixtures/mail/. */
static char *fixture(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "mail/%s", name);
    return testmain_fixture(path, len);
}

static json_t *parse(const char *msg, size_t len, bool outbound)
{
    struct mail_opts o = {.source = "mail-gw", .outbound = outbound};
    json_t *rec = NULL;
    char err[256];
    if (mail_to_record(msg, len, &o, &rec, err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }
    return rec;
}

static json_t *parse_fixture(const char *name, bool outbound)
{
    size_t len;
    char *msg = fixture(name, &len);
    json_t *rec = parse(msg, len, outbound);
    free(msg);
    return rec;
}

static const char *str(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    if (s == NULL) {
        fail_msg("no %s in the record", key);
    }
    return s;
}

static const char *cust(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(json_object_get(rec, "customer"), key));
}

static void multipart_alternative_base64_persian(void **state)
{
    (void)state;
    json_t *rec = parse_fixture("persian-alternative.eml", false);
    assert_string_equal(str(rec, "source"), "mail-gw");
    assert_string_equal(str(rec, "external_id"), "<CAF3k2-persian@mail.example.com>");
    assert_string_equal(str(rec, "channel"), "email");
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(str(rec, "status"), "received");
    assert_string_equal(str(rec, "occurred_at"), "2026-11-18T09:15:00+03:30");
    /* The daemon normalizes the address; the client sends it as written. */
    assert_string_equal(cust(rec, "email"), "Sara.Karimi@Example.COM");
    assert_string_equal(cust(rec, "name"), "سارا کریمی");
    assert_string_equal(str(rec, "agent"), "support@shop.example.ir");
    /* Two encoded-words on two lines, a character split between them. */
    assert_string_equal(str(rec, "subject"), "سوال درباره گارانتی پلوپز");
    /* The text part, not the HTML one; CRLF became LF, the trailing line break is gone. */
    assert_string_equal(str(rec, "body"), "سلام،\nگارانتی پلوپز X2 چند ساله است؟\nممنون\nسارا");
    /* The first Message-ID of the folded References. */
    assert_string_equal(str(rec, "thread"), "<first-771@mail.example.com>");
    json_decref(rec);
}

static void quoted_printable_arabic_and_windows_1256_subject(void **state)
{
    (void)state;
    json_t *rec = parse_fixture("arabic-qp.eml", false);
    assert_string_equal(str(rec, "external_id"), "<20261120123000.4411@mail.example.sa>");
    assert_string_equal(str(rec, "body"), "شكراً، هل يمكن التوصيل يوم الخميس؟\nمع التحية،\n"
                                          "خالد العتيبي");
    /* windows-1256 has no Farsi yeh: Persian written in it uses the Arabic one (U+064A). */
    assert_string_equal(str(rec, "subject"), "سوال درباره گارانتي پلوپز");
    /* From folded over two lines, its encoded name inside quotes (as mailers do). */
    assert_string_equal(cust(rec, "email"), "khalid@example.sa");
    assert_string_equal(cust(rec, "name"), "خالد العتيبي");
    assert_string_equal(str(rec, "agent"), "orders@shop.example.ir");
    assert_string_equal(str(rec, "occurred_at"), "2026-11-20T12:30:00+03:00");
    /* No References: In-Reply-To names the thread. */
    assert_string_equal(str(rec, "thread"), "<order-55120-confirm@shop.example.ir>");
    json_decref(rec);
}

static void outbound_nested_multipart_skips_the_attachment(void **state)
{
    (void)state;
    json_t *rec = parse_fixture("outbound-reply.eml", true);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(str(rec, "status"), "sent");
    /* The first member of the To group, only: a record's identifiers are one person's. */
    assert_string_equal(cust(rec, "email"), "sara.karimi@example.com");
    assert_string_equal(cust(rec, "name"), "Sara Karimi");
    assert_string_equal(str(rec, "agent"), "reza@shop.example.ir");
    assert_string_equal(str(rec, "subject"), "Re: سوال about the warranty");
    assert_string_equal(str(rec, "body"),
                        "سلام سارا خانم،\nگارانتی دو ساله است.\n-- \nرضا، پشتیبانی فروشگاه");
    /* An obsolete date: two-digit year, no seconds. */
    assert_string_equal(str(rec, "occurred_at"), "2026-11-18T11:40:00+03:30");
    /* Neither References nor In-Reply-To: the message starts its own thread. */
    assert_string_equal(str(rec, "thread"), "<reply-991@shop.example.ir>");
    json_decref(rec);
}

static void folded_and_encoded_headers(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Re: plain\r\n\tcontinued", "Re: plain continued"},
        {" =?UTF-8?Q?=D8=B3=D9=88=D8=A7=D9=84?= about", "سوال about"},
        {"=?utf-8?q?a_b?=  =?utf-8?q?_c?=", "a b c"}, /* the space between words goes */
        {"=?UTF-8?B?2LPZiNin2Q==?=\r\n =?UTF-8?B?hA==?= x", "سوال x"},
        {"=?iso-8859-6?Q?=D3=E4=C7=E5?=", "سلام"},
        {"=?UTF-8*fa?B?2LPZhNin2YU=?=", "سلام"}, /* RFC 2231 language */
        {"=?bogus", "=?bogus"},
        {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
        {"=?no-such-charset?Q?abc?=", "abc"},
        {"=?UTF-8?B?/w==?=", "\xEF\xBF\xBD"}, /* invalid UTF-8 becomes U+FFFD */
        {"a\x01z", "a z"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = mail_decode_header(cases[i].in, strlen(cases[i].in));
        assert_non_null(got);
        if (strcmp(got, cases[i].out) != 0) {
            fail_msg("case %zu: \"%s\" decoded to \"%s\", not \"%s\"", i, cases[i].in, got,
                     cases[i].out);
        }
        free(got);
    }
}

/* Returns the message mail_to_record gives for msg, which must be refused. */
static void refused(const char *msg, bool outbound, const char *expect)
{
    struct mail_opts o = {.source = "mail", .outbound = outbound};
    json_t *rec = NULL;
    char err[256] = "";
    assert_int_equal(mail_to_record(msg, strlen(msg), &o, &rec, err, sizeof(err)), MAIL_EINVALID);
    assert_null(rec);
    if (strstr(err, expect) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", expect, err);
    }
}

static void messages_that_cannot_be_records(void **state)
{
    (void)state;
    size_t len;
    char *msg = fixture("no-message-id.eml", &len);
    struct mail_opts o = {.source = "mail"};
    json_t *rec = NULL;
    char err[256] = "";
    assert_int_equal(mail_to_record(msg, len, &o, &rec, err, sizeof(err)), MAIL_EINVALID);
    assert_null(rec);
    assert_string_equal(err, "Message-ID: missing (it is the record's external_id)");
    free(msg);
    refused("", false, "Message-ID: missing");
    refused("Message-ID:  \r\n\r\n", false, "Message-ID: empty");
    refused("Message-ID: <a@b>\nDate: Tue, 18 Nov 2026 09:15:00 +0330\n\nx", false,
            "From: missing");
    refused("Message-ID: <a@b>\nFrom: undisclosed-recipients:;\nDate: Tue, 18 Nov 2026 09:15:00 "
            "+0330\n\nx",
            false, "From: no address in it");
    refused("Message-ID: <a@b>\nFrom: a@b\nDate: Tue, 18 Nov 2026 09:15:00 +0330\n\nx", true,
            "To: missing (the customer of an outbound message)");
    refused("Message-ID: <a@b>\nFrom: a@b\n\nx", false, "Date: missing");
    refused("Message-ID: <a@b>\nFrom: a@b\nDate: yesterday\n\nx", false,
            "Date: \"yesterday\" is not an RFC 5322 date");
    refused("Message-ID: <a@b>\nFrom: a@b\nDate: Mon, 30 Feb 2026 10:00:00 +0000\n\nx", false,
            "Date:");
}

static void dates_and_fallbacks(void **state)
{
    (void)state;
    static const struct {
        const char *date, *out;
    } cases[] = {
        {"Tue, 18 Nov 2026 09:15:00 +0330", "2026-11-18T09:15:00+03:30"},
        {"18 Nov 2026 09:15 -0500", "2026-11-18T09:15:00-05:00"},
        {"Tue, 18 Nov 2026 09:15:00 GMT", "2026-11-18T09:15:00+00:00"},
        {"Tue, 18 Nov 2026 09:15:00 PDT", "2026-11-18T09:15:00-07:00"},
        {"Tue,\r\n 18 Nov 2026 09:15:00 +0330 (IRST)", "2026-11-18T09:15:00+03:30"},
        {"Wed, 31 Dec 98 23:59:60 +0000", "1998-12-31T23:59:59+00:00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512];
        snprintf(msg, sizeof(msg), "Message-ID: <a@b>\nFrom: a@b\nDate: %s\n\nx", cases[i].date);
        json_t *rec = parse(msg, strlen(msg), false);
        if (strcmp(str(rec, "occurred_at"), cases[i].out) != 0) {
            fail_msg("case %zu: %s gave %s", i, cases[i].date, str(rec, "occurred_at"));
        }
        json_decref(rec);
    }
    /* No Date: the newest Received stamp (the first header). */
    const char *msg = "Received: from a by b; Tue, 18 Nov 2026 05:45:02 +0000\n"
                      "Received: from c by a; Tue, 18 Nov 2026 05:45:00 +0000\n"
                      "Message-ID: <a@b>\nFrom: \"Sara\" <s@example.com>\n\nbody";
    json_t *rec = parse(msg, strlen(msg), false);
    assert_string_equal(str(rec, "occurred_at"), "2026-11-18T05:45:02+00:00");
    assert_string_equal(str(rec, "body"), "body");
    /* No To: no agent; no Subject: no subject. */
    assert_null(json_object_get(rec, "agent"));
    assert_null(json_object_get(rec, "subject"));
    json_decref(rec);
}

static void body_is_cut_on_a_character_boundary(void **state)
{
    (void)state;
    /* 40 000 two-byte letters: 80 000 bytes, over the contract's 65 536. */
    const char *head = "Message-ID: <long@example.com>\nFrom: a@example.com\n"
                       "Date: Tue, 18 Nov 2026 09:15:00 +0330\nContent-Type: text/plain; "
                       "charset=utf-8\n\n";
    size_t hl = strlen(head), n = hl + 40000 * 2 + 1;
    char *msg = malloc(n);
    assert_non_null(msg);
    memcpy(msg, head, hl);
    /* "x" first, so that a cut at an even offset would split a letter. */
    msg[hl] = 'x';
    for (size_t i = 0; i < 40000; i++) {
        memcpy(msg + hl + 1 + 2 * i, "س", 2);
    }
    json_t *rec = parse(msg, n, false);
    const char *body = str(rec, "body");
    size_t bl = strlen(body);
    assert_true(bl <= MAIL_BODY_MAX);
    assert_true(bl >= MAIL_BODY_MAX - 1);
    assert_int_equal(bl % 2, 1); /* "x" and whole letters */
    json_decref(rec);

    /* With max_line, the whole record fits in the daemon's line. */
    struct mail_opts o = {.source = "mail", .max_line = 65536};
    char err[256];
    assert_int_equal(mail_to_record(msg, n, &o, &rec, err, sizeof(err)), 0);
    char *line = json_dumps(rec, JSON_COMPACT);
    assert_non_null(line);
    assert_true(strlen(line) <= 65536);
    assert_true(strlen(line) > 65536 - 8);
    body = str(rec, "body");
    assert_int_equal(strlen(body) % 2, 1);
    free(line);
    json_decref(rec);
    free(msg);
}

/* Every prefix of every fixture (a message cut anywhere) is either a record or refused,
 * without a crash or, under the sanitizers, a read out of bounds. */
static void any_prefix_is_safe(void **state)
{
    (void)state;
    static const char *const names[] = {"persian-alternative.eml",    "arabic-qp.eml",
                                        "outbound-reply.eml",         "no-message-id.eml",
                                        "html-only-windows-1256.eml", "outbound-company.eml"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t len;
        char *buf = fixture(names[k], &len);
        for (size_t cut = 0; cut <= len; cut++) {
            char *copy = malloc(cut > 0 ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, buf, cut);
            /* Every third cut with the company's domains deciding the direction. */
            static const char *const domains[] = {"shop.example.ir"};
            struct mail_opts o = {.source = "mail",
                                  .outbound = cut % 2 == 1,
                                  .max_line = 300,
                                  .company_domains = domains,
                                  .ncompany = cut % 3 == 0};
            json_t *rec = NULL;
            char err[256];
            int rc = mail_to_record(copy, cut, &o, &rec, err, sizeof(err));
            assert_true(rc == 0 || rc == MAIL_EINVALID || rc == MAIL_EINTERNAL);
            assert_true((rc == 0) == (rec != NULL));
            json_decref(rec);
            free(copy);
        }
        free(buf);
    }
}

/* Parses a fixture with the company's domains given; returns the code, the record in *rec. */
static int parse_company(const char *name, json_t **rec, char *err, size_t errlen)
{
    static const char *const domains[] = {"shop.example.ir", "example.org"};
    struct mail_opts o = {.source = "mail-gw", .company_domains = domains, .ncompany = 2};
    size_t len;
    char *msg = fixture(name, &len);
    *rec = NULL;
    int rc = mail_to_record(msg, len, &o, rec, err, errlen);
    free(msg);
    return rc;
}

/* An HTML-only message in windows-1256 (quoted-printable): its text, in UTF-8, is the body;
 * script, style and head are not; references (&#1781; Persian digits, &amp;, &nbsp;) decoded.
 * windows-1256 has no Persian yeh: such mail writes the Arabic one, and so does the record. */
static void html_only_windows_1256_becomes_text(void **state)
{
    (void)state;
    json_t *rec = parse_fixture("html-only-windows-1256.eml", false);
    assert_string_equal(cust(rec, "name"), "محمد رضايي");
    assert_string_equal(str(rec, "subject"), "پيگيري سفارش");
    assert_string_equal(str(rec, "body"), "سلام،\nسفارش شماره ۵۵۱۲۰ هنوز نرسيده است.\n\n"
                                          "لطفاً پيگيري کنيد & خبر دهيد <فوري>\n\nبا تشکر محمد");
    json_decref(rec);
}

static void koi8_body_and_latin1_words(void **state)
{
    (void)state;
    json_t *rec = parse_fixture("koi8-latin1.eml", false);
    assert_string_equal(cust(rec, "name"), "José Pérez");
    assert_string_equal(str(rec, "subject"), "Café order");
    assert_string_equal(str(rec, "body"), "Здравствуйте, заказ 4410 пришёл повреждённым.");
    json_decref(rec);
}

/* With the company's domains the sender's domain sets the direction, the customer is the
 * first address outside them, and mail within the company has no customer. */
static void company_domains_set_the_direction(void **state)
{
    (void)state;
    json_t *rec;
    char err[256];
    assert_int_equal(parse_company("persian-alternative.eml", &rec, err, sizeof(err)), 0);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(cust(rec, "email"), "Sara.Karimi@Example.COM");
    json_decref(rec);
    /* To: archive@ (the company's) first, then the customer. */
    assert_int_equal(parse_company("outbound-company.eml", &rec, err, sizeof(err)), 0);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(str(rec, "status"), "sent");
    assert_string_equal(cust(rec, "email"), "m.rezaei@example.com");
    assert_string_equal(cust(rec, "name"), "محمد رضایی");
    assert_string_equal(str(rec, "agent"), "support@shop.example.ir");
    assert_string_equal(str(rec, "thread"), "<html-1256-77@mail.example.com>");
    json_decref(rec);
    /* A subdomain (mail.shop.example.ir) is the company's too. */
    assert_int_equal(parse_company("internal.eml", &rec, err, sizeof(err)), MAIL_EINTERNAL);
    assert_null(rec);
    assert_non_null(strstr(err, "within the company"));
    static const char *const one[] = {"shop.example.ir"};
    struct mail_opts o = {.company_domains = one, .ncompany = 1};
    assert_true(mail_is_company(&o, "a@SHOP.example.IR", 17));
    assert_true(mail_is_company(&o, "a@mail.shop.example.ir", 22));
    assert_false(mail_is_company(&o, "a@evilshop.example.ir", 21));
    assert_false(mail_is_company(&o, "shop.example.ir", 15));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multipart_alternative_base64_persian),
        cmocka_unit_test(quoted_printable_arabic_and_windows_1256_subject),
        cmocka_unit_test(outbound_nested_multipart_skips_the_attachment),
        cmocka_unit_test(folded_and_encoded_headers),
        cmocka_unit_test(messages_that_cannot_be_records),
        cmocka_unit_test(dates_and_fallbacks),
        cmocka_unit_test(body_is_cut_on_a_character_boundary),
        cmocka_unit_test(html_only_windows_1256_becomes_text),
        cmocka_unit_test(koi8_body_and_latin1_words),
        cmocka_unit_test(company_domains_set_the_direction),
        cmocka_unit_test(any_prefix_is_safe),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
