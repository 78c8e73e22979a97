/*
 * Unit tests of lib/normalize (CONTRACT section 2): every normalization rule of every
 * identifier kind, with the exact output string, and a reason on every rejection.
 */
#include "testmain.h"

#include <string.h>

#include "normalize.h"

/* 128 and 129 copies of a two-byte Persian letter (U+0633, "س"). */
#define PERSIAN_S "\xd8\xb3"

static void default_opts(struct normalize_opts *opts)
{
    normalize_opts_default(opts);
}

/* Asserts that in normalizes to expected; reports the caller's line on failure. */
static void check_ok(enum ident_kind kind, const struct normalize_opts *opts, const char *in,
                     const char *expected, int line)
{
    char out[NORMALIZE_MAX + 1];
    const char *why = NULL;
    memset(out, 'X', sizeof(out));
    int rc = normalize_identifier(kind, in, strlen(in), opts, out, &why);
    if (rc != 0) {
        fail_msg("line %d: %s \"%s\" rejected (%s), expected \"%s\"", line,
                 normalize_kind_name(kind), in, why != NULL ? why : "(why not set)", expected);
    }
    if (strcmp(out, expected) != 0) {
        fail_msg("line %d: %s \"%s\" normalized to \"%s\", expected \"%s\"", line,
                 normalize_kind_name(kind), in, out, expected);
    }
}

/* Asserts that in (len bytes) is rejected with a non-empty reason. */
static void check_rejected_len(enum ident_kind kind, const struct normalize_opts *opts,
                               const char *in, size_t len, int line)
{
    char out[NORMALIZE_MAX + 1];
    const char *why = NULL;
    int rc = normalize_identifier(kind, in, len, opts, out, &why);
    if (rc != -1) {
        out[NORMALIZE_MAX] = '\0';
        fail_msg("line %d: %s \"%.*s\" accepted as \"%s\", expected a rejection", line,
                 normalize_kind_name(kind), (int)len, in, rc == 0 ? out : "(rc not 0 or -1)");
    }
    if (why == NULL || why[0] == '\0') {
        fail_msg("line %d: %s \"%.*s\" rejected without a reason in why", line,
                 normalize_kind_name(kind), (int)len, in);
    }
}

#define OK(kind, opts, in, expected) check_ok((kind), (opts), (in), (expected), __LINE__)
#define REJECTED(kind, opts, in)     check_rejected_len((kind), (opts), (in), strlen(in), __LINE__)

/* ---- options and kinds ---- */

static void opts_default_values(void **state)
{
    (void)state;
    struct normalize_opts opts;
    memset(&opts, 'X', sizeof(opts));
    normalize_opts_default(&opts);
    assert_string_equal(opts.country_code, "98");
    assert_string_equal(opts.trunk_prefix, "0");
}

static void kind_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"phone", "email", "chat", "web", "external"};
    for (int i = 0; i < IDENT_KIND_COUNT; i++) {
        enum ident_kind k = IDENT_KIND_COUNT;
        assert_string_equal(normalize_kind_name((enum ident_kind)i), names[i]);
        assert_int_equal(normalize_kind_parse(names[i], &k), 0);
        assert_int_equal(k, i);
    }
    enum ident_kind k;
    assert_int_equal(normalize_kind_parse("fax", &k), -1);
    assert_int_equal(normalize_kind_parse("", &k), -1);
}

static void utf8_decode_rules(void **state)
{
    (void)state;
    unsigned cp = 0;
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xdb\xb0", 2, &cp), 2);
    assert_int_equal(cp, 0x06F0);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xef\xbc\x90", 3, &cp), 3);
    assert_int_equal(cp, 0xFF10);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    /* Truncated, overlong, surrogate, stray continuation byte, invalid lead byte. */
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xdb\xb0", 1, &cp), -1);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xc0\xb0", 2, &cp), -1);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp), -1);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\x80", 1, &cp), -1);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"\xff", 1, &cp), -1);
    assert_int_equal(normalize_utf8_decode((const unsigned char *)"", 0, &cp), -1);
}

/* ---- phone ---- */

static void phone_international_unchanged(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "+989123456789", "+989123456789");
    OK(IDENT_PHONE, &o, "+966501234567", "+966501234567");
}

static void phone_persian_digits(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "۰۹۱۲ ۳۴۵ ۶۷۸۹", "+989123456789");
    OK(IDENT_PHONE, &o, "+۹۸۹۱۲۳۴۵۶۷۸۹", "+989123456789");
}

static void phone_arabic_indic_digits(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "+٩٦٦٥٠١٢٣٤٥٦٧", "+966501234567");
    OK(IDENT_PHONE, &o, "٠٩١٢٣٤٥٦٧٨٩", "+989123456789");
}

static void phone_fullwidth_digits(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "０９１２３４５６７８９", "+989123456789");
    OK(IDENT_PHONE, &o, "+９６６５０１２３４５６７", "+966501234567");
}

static void phone_mixed_scripts(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "0912 ۳۴۵ ٦٧٨９", "+989123456789");
}

static void phone_separators_dropped(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "+98 (912) 345-67.89", "+989123456789");
    OK(IDENT_PHONE, &o, "0912-345-6789", "+989123456789");
    OK(IDENT_PHONE, &o, "0912.345.6789", "+989123456789");
    OK(IDENT_PHONE, &o, "(0912) 345 6789", "+989123456789");
    OK(IDENT_PHONE, &o, "  +98 912 345 6789  ", "+989123456789");
}

static void phone_leading_00(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "00989123456789", "+989123456789");
    OK(IDENT_PHONE, &o, "00 966 50 123 4567", "+966501234567");
    OK(IDENT_PHONE, &o, "۰۰۹۶۶۵۰۱۲۳۴۵۶۷", "+966501234567");
}

static void phone_trunk_prefix_default_country(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "09123456789", "+989123456789");
    OK(IDENT_PHONE, &o, "021 8877 6655", "+982188776655");
}

static void phone_configured_country(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    strcpy(o.country_code, "966");
    strcpy(o.trunk_prefix, "0");
    OK(IDENT_PHONE, &o, "050 123 4567", "+966501234567");
    OK(IDENT_PHONE, &o, "٠٥٠١٢٣٤٥٦٧", "+966501234567");
    /* International forms are not touched by the national rule. */
    OK(IDENT_PHONE, &o, "+989123456789", "+989123456789");
    OK(IDENT_PHONE, &o, "00989123456789", "+989123456789");
}

static void phone_configured_trunk(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    strcpy(o.country_code, "7");
    strcpy(o.trunk_prefix, "8");
    OK(IDENT_PHONE, &o, "8 912 345-67-89", "+79123456789");
    /* With trunk prefix 8 a leading 0 is no trunk prefix. */
    REJECTED(IDENT_PHONE, &o, "09123456789");
}

static void phone_empty_trunk_disables_rule(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    o.trunk_prefix[0] = '\0';
    REJECTED(IDENT_PHONE, &o, "09123456789");
    REJECTED(IDENT_PHONE, &o, "۰۹۱۲ ۳۴۵ ۶۷۸۹");
    OK(IDENT_PHONE, &o, "+989123456789", "+989123456789");
    OK(IDENT_PHONE, &o, "00989123456789", "+989123456789");
}

static void phone_without_prefix_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o, "9123456789");
    REJECTED(IDENT_PHONE, &o, "12");
}

static void phone_digit_count_limits(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o, "+1234567");
    OK(IDENT_PHONE, &o, "+12345678", "+12345678");
    OK(IDENT_PHONE, &o, "+123456789012345", "+123456789012345");
    REJECTED(IDENT_PHONE, &o, "+1234567890123456");
    /* The count applies after the trunk rule: 0 + 13 digits gives 98 + 13 = 15 digits. */
    OK(IDENT_PHONE, &o, "01234567890123", "+981234567890123");
    REJECTED(IDENT_PHONE, &o, "012345678901234");
    REJECTED(IDENT_PHONE, &o, "0012345678901234567890");
    REJECTED(IDENT_PHONE, &o, "+");
    REJECTED(IDENT_PHONE, &o,
             "+000000000000000000000000000000000000000000000000000000000000000000"
             "000000000000000000000000");
}

static void phone_letters_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o, "+98912345678a");
    REJECTED(IDENT_PHONE, &o, "0912 CALL NOW");
    REJECTED(IDENT_PHONE, &o, "+98912x3456789");
    REJECTED(IDENT_PHONE, &o, "tel:+989123456789");
}

static void phone_plus_in_middle_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o, "98+9123456789");
    REJECTED(IDENT_PHONE, &o, "+98+9123456789");
    REJECTED(IDENT_PHONE, &o, "++989123456789");
    REJECTED(IDENT_PHONE, &o, "+989123456789+");
}

static void phone_invalid_utf8_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o,
             "+98912\xff"
             "3456789");
    REJECTED(IDENT_PHONE, &o, "+989123456789\xdb");
    REJECTED(IDENT_PHONE, &o,
             "+98912\xc0\xb0"
             "3456789");
}

static void phone_bidi_marks_ignored(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_PHONE, &o, "\u200f+989123456789\u200f", "+989123456789");
    OK(IDENT_PHONE, &o, "\u200e۰۹۱۲ ۳۴۵ ۶۷۸۹\u200f", "+989123456789");
    OK(IDENT_PHONE, &o, "\u202a+966 50 123 4567\u202c", "+966501234567");
}

static void phone_empty_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_PHONE, &o, "");
    REJECTED(IDENT_PHONE, &o, "   ");
    REJECTED(IDENT_PHONE, &o, "- ( ) .");
}

static void phone_reads_only_len_bytes(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    char out[NORMALIZE_MAX + 1];
    const char *why = NULL;
    const char *in = "+989123456789 and then garbage";
    assert_int_equal(normalize_identifier(IDENT_PHONE, in, 13, &o, out, &why), 0);
    assert_string_equal(out, "+989123456789");
}

/* ---- email ---- */

static void email_trimmed_and_lowercased(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_EMAIL, &o, "Sara.Karimi@Example.COM", "sara.karimi@example.com");
    OK(IDENT_EMAIL, &o, "  SARA.KARIMI@example.com \t", "sara.karimi@example.com");
    OK(IDENT_EMAIL, &o, "sara.karimi@example.com", "sara.karimi@example.com");
}

static void email_non_ascii_kept(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_EMAIL, &o, "Sára@Example.COM", "sára@example.com");
    OK(IDENT_EMAIL, &o, "سارا@Example.IR", "سارا@example.ir");
    /* Only ASCII letters are lower-cased. */
    OK(IDENT_EMAIL, &o, "ÁB@X.IR", "Áb@x.ir");
}

static void email_at_sign_rules(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_EMAIL, &o, "no-at-sign.example.com");
    REJECTED(IDENT_EMAIL, &o, "a@b@example.com");
    REJECTED(IDENT_EMAIL, &o, "@x");
    REJECTED(IDENT_EMAIL, &o, "x@");
    REJECTED(IDENT_EMAIL, &o, "@");
    REJECTED(IDENT_EMAIL, &o, "  @example.com ");
    REJECTED(IDENT_EMAIL, &o, "sara@ ");
    OK(IDENT_EMAIL, &o, "a@b", "a@b");
}

static void email_empty_and_invalid_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_EMAIL, &o, "");
    REJECTED(IDENT_EMAIL, &o, "   ");
    REJECTED(IDENT_EMAIL, &o, "sa\xffra@example.com");
    REJECTED(IDENT_EMAIL, &o, "sa ra@example.com");
}

/* ---- chat ---- */

static void chat_provider_lowercased_handle_trimmed(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_CHAT, &o, "telegram:@sara_k", "telegram:@sara_k");
    OK(IDENT_CHAT, &o, "Telegram:@sara_k", "telegram:@sara_k");
    OK(IDENT_CHAT, &o, "  WhatsApp:  +989121234567  ", "whatsapp:+989121234567");
    OK(IDENT_CHAT, &o, "My_Bot-2:Sara K", "my_bot-2:Sara K");
    /* The handle keeps its case and its own colons. */
    OK(IDENT_CHAT, &o, "matrix:@Sara:example.org", "matrix:@Sara:example.org");
    OK(IDENT_CHAT, &o, "telegram:سارا", "telegram:سارا");
}

static void chat_rejections(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    REJECTED(IDENT_CHAT, &o, "telegram");
    REJECTED(IDENT_CHAT, &o, "@sara_k");
    REJECTED(IDENT_CHAT, &o, "telegram:");
    REJECTED(IDENT_CHAT, &o, "telegram:   ");
    REJECTED(IDENT_CHAT, &o, ":@sara_k");
    REJECTED(IDENT_CHAT, &o, "tele gram:@sara_k");
    REJECTED(IDENT_CHAT, &o, "tele.gram:@sara_k");
    REJECTED(IDENT_CHAT, &o, "télégram:@sara_k");
    REJECTED(IDENT_CHAT, &o, "");
    REJECTED(IDENT_CHAT, &o, "telegram:@sa\xffra");
}

/* ---- web and external ---- */

static void plain_trimmed(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    OK(IDENT_WEB, &o, "  anon-7f3c2a\t", "anon-7f3c2a");
    OK(IDENT_WEB, &o, "Anon-7F3C2A", "Anon-7F3C2A");
    OK(IDENT_EXTERNAL, &o, " shopify:5512 ", "shopify:5512");
    OK(IDENT_EXTERNAL, &o, "shop:سارا 1", "shop:سارا 1");
}

/* Control characters are trimmed at the ends and refused inside, for every trimmed kind. */
static void control_characters_inside_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    static const char *const inside[] = {"\t", "\n", "\r", "\v", "\f", "\x01", "\x1f"};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        char v[64];
        snprintf(v, sizeof(v), "anon%sone", inside[i]);
        REJECTED(IDENT_WEB, &o, v);
        REJECTED(IDENT_EXTERNAL, &o, v);
        snprintf(v, sizeof(v), "telegram:@sa%sra", inside[i]);
        REJECTED(IDENT_CHAT, &o, v);
        snprintf(v, sizeof(v), "sara%s@example.com", inside[i]);
        REJECTED(IDENT_EMAIL, &o, v);
    }
    char out[NORMALIZE_MAX + 1];
    const char *why = NULL;
    assert_int_equal(normalize_identifier(IDENT_WEB, "visitor\tone", 11, &o, out, &why), -1);
    assert_string_equal(why, "has a control character");
    OK(IDENT_WEB, &o, "\n\tanon one\r\n", "anon one");
    OK(IDENT_CHAT, &o, "telegram:\t@sara_k\n", "telegram:@sara_k");
}

static void plain_length_limit(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    char ascii128[130], persian128[2 * 129 + 1], persian129[2 * 129 + 1];
    memset(ascii128, 'a', 129);
    ascii128[129] = '\0';
    persian128[0] = persian129[0] = '\0';
    for (int i = 0; i < 128; i++) {
        strcat(persian128, PERSIAN_S);
    }
    strcpy(persian129, persian128);
    strcat(persian129, PERSIAN_S);
    assert_int_equal(strlen(persian128), 256);

    for (enum ident_kind k = IDENT_WEB; k <= IDENT_EXTERNAL; k++) {
        REJECTED(k, &o, ascii128); /* 129 ASCII characters */
        ascii128[128] = '\0';      /* now 128 */
        OK(k, &o, ascii128, ascii128);
        ascii128[128] = 'a';
        OK(k, &o, persian128, persian128);
        REJECTED(k, &o, persian129);
    }
    /* Trimmed first, then counted. */
    char padded[140];
    memset(padded, 'a', 128);
    padded[128] = '\0';
    char expected[130];
    strcpy(expected, padded);
    memmove(padded + 2, padded, 129);
    padded[0] = padded[1] = ' ';
    strcat(padded, "  ");
    OK(IDENT_WEB, &o, padded, expected);
}

static void plain_empty_and_invalid_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    for (enum ident_kind k = IDENT_WEB; k <= IDENT_EXTERNAL; k++) {
        REJECTED(k, &o, "");
        REJECTED(k, &o, "  \t ");
        REJECTED(k, &o, "anon\xff");
    }
}

static void unknown_kind_rejected(void **state)
{
    (void)state;
    struct normalize_opts o;
    default_opts(&o);
    check_rejected_len(IDENT_KIND_COUNT, &o, "x", 1, __LINE__);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opts_default_values),
        cmocka_unit_test(kind_names_round_trip),
        cmocka_unit_test(utf8_decode_rules),
        cmocka_unit_test(phone_international_unchanged),
        cmocka_unit_test(phone_persian_digits),
        cmocka_unit_test(phone_arabic_indic_digits),
        cmocka_unit_test(phone_fullwidth_digits),
        cmocka_unit_test(phone_mixed_scripts),
        cmocka_unit_test(phone_separators_dropped),
        cmocka_unit_test(phone_leading_00),
        cmocka_unit_test(phone_trunk_prefix_default_country),
        cmocka_unit_test(phone_configured_country),
        cmocka_unit_test(phone_configured_trunk),
        cmocka_unit_test(phone_empty_trunk_disables_rule),
        cmocka_unit_test(phone_without_prefix_rejected),
        cmocka_unit_test(phone_digit_count_limits),
        cmocka_unit_test(phone_letters_rejected),
        cmocka_unit_test(phone_plus_in_middle_rejected),
        cmocka_unit_test(phone_invalid_utf8_rejected),
        cmocka_unit_test(phone_bidi_marks_ignored),
        cmocka_unit_test(phone_empty_rejected),
        cmocka_unit_test(phone_reads_only_len_bytes),
        cmocka_unit_test(email_trimmed_and_lowercased),
        cmocka_unit_test(email_non_ascii_kept),
        cmocka_unit_test(email_at_sign_rules),
        cmocka_unit_test(email_empty_and_invalid_rejected),
        cmocka_unit_test(chat_provider_lowercased_handle_trimmed),
        cmocka_unit_test(chat_rejections),
        cmocka_unit_test(plain_trimmed),
        cmocka_unit_test(control_characters_inside_rejected),
        cmocka_unit_test(plain_length_limit),
        cmocka_unit_test(plain_empty_and_invalid_rejected),
        cmocka_unit_test(unknown_kind_rejected),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
