/*
 * Unit tests of lib/record (CONTRACT section 1 and the identifier rules of section 2): the
 * fixture files line by line, id derivation, RFC 3339 parsing, every limit on both sides of
 * its boundary, and hostile JSON.
 */
#include "testmain.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define PERSIAN_S "\xd8\xb3" /* U+0633, two bytes */

#define BASE_TS    "2026-11-20T10:00:00Z"
#define BASE_PHONE "+989121112233"

static void opts_init(struct record_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    normalize_opts_default(&opts->norm);
}

/* A valid minimal record to which a test adds or replaces fields. */
static json_t *base_record(void)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:{s:s}}", "source", "test-src", "channel", "phone",
                          "occurred_at", BASE_TS, "customer", "phone", BASE_PHONE);
    assert_non_null(r);
    return r;
}

/* Sets field of root to a new string (valid UTF-8 only). */
static void set_str(json_t *root, const char *field, const char *value)
{
    json_t *s = json_string(value);
    assert_non_null(s);
    assert_int_equal(json_object_set_new(root, field, s), 0);
}

/* Validates root (a reference the helper consumes) as the line it serializes to. */
static int from_json(json_t *root, const struct record_opts *opts, struct record **rec, char *msg,
                     size_t msglen)
{
    char *text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    assert_non_null(text);
    int rc = record_parse(text, strlen(text), opts, rec, msg, msglen);
    free(text);
    return rc;
}

/* Validates root (a reference the helper consumes) and asserts acceptance. */
static struct record *accept_json_at(json_t *root, const struct record_opts *opts, int line)
{
    struct record *rec = NULL;
    char msg[RECORD_MSG_MAX] = "";
    int rc = from_json(root, opts, &rec, msg, sizeof(msg));
    if (rc != RECORD_OK) {
        fail_msg("line %d: record rejected with %d: %s", line, rc, msg);
    }
    assert_non_null(rec);
    return rec;
}

/* Parses a text line and asserts the status; needle (if any) must be in the message. */
static struct record *parse_line_at(const char *line, size_t len, int expected_rc,
                                    const char *needle, int at)
{
    struct record_opts opts;
    opts_init(&opts);
    struct record *rec = (struct record *)1;
    char msg[RECORD_MSG_MAX] = "";
    int rc = record_parse(line, len, &opts, &rec, msg, sizeof(msg));
    if (rc != expected_rc) {
        record_free(rc == RECORD_OK ? rec : NULL);
        fail_msg("line %d: expected status %d, got %d (%s)", at, expected_rc, rc, msg);
    }
    if (rc != RECORD_OK) {
        assert_null(rec);
        if (msg[0] == '\0') {
            fail_msg("line %d: rejected without a message", at);
        }
        if (needle != NULL && strstr(msg, needle) == NULL) {
            fail_msg("line %d: message \"%s\" does not name \"%s\"", at, msg, needle);
        }
        return NULL;
    }
    assert_non_null(rec);
    return rec;
}

/* record_from_doc ignores opts when it fails before the customer; pass defaults anyway. */
static struct record *accept_default_at(json_t *root, int line)
{
    struct record_opts opts;
    opts_init(&opts);
    return accept_json_at(root, &opts, line);
}

static void reject_default_at(json_t *root, const char *needle, int line)
{
    struct record_opts opts;
    opts_init(&opts);
    struct record *rec = (struct record *)1;
    char msg[RECORD_MSG_MAX] = "";
    int rc = from_json(root, &opts, &rec, msg, sizeof(msg));
    if (rc != RECORD_EINVALID) {
        record_free(rc == RECORD_OK ? rec : NULL);
        fail_msg("line %d: expected RECORD_EINVALID naming \"%s\", got %d (%s)", line, needle, rc,
                 msg);
    }
    assert_null(rec);
    if (strstr(msg, needle) == NULL) {
        fail_msg("line %d: message \"%s\" does not name \"%s\"", line, msg, needle);
    }
}

#define ACCEPT(root)                 accept_default_at((root), __LINE__)
#define REJECT(root, needle)         reject_default_at((root), (needle), __LINE__)
#define PARSE_OK(text)               parse_line_at((text), strlen(text), RECORD_OK, NULL, __LINE__)
#define PARSE_FAIL(text, rc, needle) parse_line_at((text), strlen(text), (rc), (needle), __LINE__)

/* The identifier of this kind and value in rec, or NULL. */
static const struct record_ident *find_ident(const struct record *rec, enum ident_kind kind,
                                             const char *value)
{
    for (size_t i = 0; i < rec->n_idents; i++) {
        if (rec->idents[i].kind == kind && strcmp(rec->idents[i].value, value) == 0) {
            return &rec->idents[i];
        }
    }
    return NULL;
}

/* Opens a fixture file named by TOUCHLINE_TEST_FIXTURES (set by CTest). */
static FILE *open_fixture(const char *name)
{
    const char *dir = getenv("TOUCHLINE_TEST_FIXTURES");
    if (dir == NULL) {
        dir = "tests/fixtures";
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot open %s (set TOUCHLINE_TEST_FIXTURES)", path);
    }
    return f;
}

/* Reads the lines of a fixture without their newlines; returns the count. */
static size_t read_lines(const char *name, char ***lines_out)
{
    FILE *f = open_fixture(name);
    char **lines = NULL;
    size_t n = 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        if (len > 0 && buf[len - 1] == '\n') {
            buf[--len] = '\0';
        }
        lines = realloc(lines, (n + 1) * sizeof(*lines));
        assert_non_null(lines);
        lines[n] = strdup(buf);
        assert_non_null(lines[n]);
        n++;
    }
    free(buf);
    fclose(f);
    *lines_out = lines;
    return n;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(lines[i]);
    }
    free(lines);
}

/* ---- fixtures ---- */

static void sample_fixture_all_valid(void **state)
{
    (void)state;
    char **lines;
    size_t n = read_lines("sample.ndjson", &lines);
    assert_int_equal(n, 16);
    struct record *recs[16] = {NULL};
    for (size_t i = 0; i < n; i++) {
        recs[i] = parse_line_at(lines[i], strlen(lines[i]), RECORD_OK, NULL, (int)i + 1);
    }

    /* Line 1: web, defaults. */
    assert_string_equal(recs[0]->source, "web-shop");
    assert_string_equal(recs[0]->channel, "web");
    assert_string_equal(recs[0]->direction, "inbound");
    assert_string_equal(recs[0]->occurred_at, "2026-11-18T08:02:11.000000Z");
    assert_string_equal(recs[0]->attributes_json,
                        "{\"page\":\"/products/rice-cooker-x2\",\"referrer\":\"instagram\"}");
    assert_false(recs[0]->id_given);
    /* Line 2: email lower-cased, name kept. */
    assert_int_equal(recs[1]->n_idents, 2);
    assert_non_null(find_ident(recs[1], IDENT_EMAIL, "sara.karimi@example.com"));
    assert_non_null(find_ident(recs[1], IDENT_WEB, "anon-7f3c2a"));
    assert_string_equal(recs[1]->name, "سارا کریمی");
    /* Line 3: +03:30 converted to UTC. */
    assert_string_equal(recs[2]->occurred_at, "2026-11-18T05:45:00.000000Z");
    assert_string_equal(recs[2]->thread, "mail-thread-881");
    /* Line 5: Persian digits and the trunk prefix; the id derived from source and external_id. */
    assert_int_equal(recs[4]->n_idents, 1);
    assert_int_equal(recs[4]->idents[0].kind, IDENT_PHONE);
    assert_string_equal(recs[4]->idents[0].value, "+989123456789");
    assert_string_equal(recs[4]->id, "3cc595a0-d81c-56c7-992f-5eddaca7ef67");
    assert_string_equal(recs[4]->status, "missed");
    assert_true(recs[4]->has_duration);
    assert_int_equal(recs[4]->duration_s, 0);
    /* Line 7 and 8: other spellings of the same phone. */
    assert_string_equal(recs[6]->idents[0].value, "+989123456789");
    assert_int_equal(recs[6]->duration_s, 214);
    assert_int_equal(recs[7]->n_idents, 3);
    assert_non_null(find_ident(recs[7], IDENT_PHONE, "+989123456789"));
    assert_non_null(find_ident(recs[7], IDENT_EMAIL, "sara.karimi@example.com"));
    assert_non_null(find_ident(recs[7], IDENT_EXTERNAL, "shop:55120"));
    /* Line 9: chat. */
    assert_non_null(find_ident(recs[8], IDENT_CHAT, "telegram:@sara_k"));
    assert_string_equal(recs[8]->sentiment, "negative");
    /* Line 11: score and tags. */
    assert_true(recs[10]->has_score);
    assert_int_equal(recs[10]->score, 9);
    assert_string_equal(recs[10]->tags_json, "[\"nps\"]");
    /* Lines 12-15: Saudi numbers in every spelling. */
    assert_string_equal(recs[11]->idents[0].value, "+966501234567");
    assert_string_equal(recs[11]->occurred_at, "2026-11-20T09:00:00.000000Z");
    assert_string_equal(recs[12]->idents[0].value, "+966501234567");
    assert_non_null(find_ident(recs[13], IDENT_PHONE, "+966501234567"));
    assert_non_null(find_ident(recs[14], IDENT_CHAT, "whatsapp:+966501234567"));
    assert_int_equal(recs[14]->score, 10);
    /* Line 16 repeats line 5: the same derived id. */
    assert_string_equal(recs[15]->id, recs[4]->id);

    for (size_t i = 0; i < n; i++) {
        record_free(recs[i]);
    }
    free_lines(lines, n);
}

static void malformed_fixture(void **state)
{
    (void)state;
    static const struct {
        int rc;
        const char *needle;
    } expected[] = {
        {RECORD_EJSON, NULL},
        {RECORD_EJSON, NULL},
        {RECORD_EINVALID, "channel"},
        {RECORD_EINVALID, "occurred_at"},
        {RECORD_EINVALID, "customer"},
        {RECORD_EINVALID, "customer.phone"},
        {RECORD_EINVALID, "customer.email"},
        {RECORD_EINVALID, "score"},
        {RECORD_EINVALID, "colour"},
        {RECORD_EINVALID, "source"},
        {RECORD_EINVALID, NULL},
        {RECORD_EINVALID, "duration_s"},
        {RECORD_EINVALID, "id"},
        {RECORD_OK, NULL},
    };
    char **lines;
    size_t n = read_lines("malformed.ndjson", &lines);
    assert_int_equal(n, sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < n; i++) {
        struct record *rec = parse_line_at(lines[i], strlen(lines[i]), expected[i].rc,
                                           expected[i].needle, (int)i + 1);
        record_free(rec);
    }
    free_lines(lines, n);
}

/* ---- ids ---- */

static void id_derived_uuid5(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "source", "twilio");
    set_str(r, "external_id", "SM123");
    struct record *a = ACCEPT(r);
    /* uuid5(nil namespace, "twilio\0SM123"), computed independently. */
    assert_string_equal(a->id, "7cb33dda-50f1-58df-9790-c17926acbb6e");
    assert_false(a->id_given);

    char direct[RECORD_UUID_LEN + 1];
    record_derive_id("twilio", "SM123", direct);
    assert_string_equal(direct, a->id);

    r = base_record();
    set_str(r, "source", "twilio");
    set_str(r, "external_id", "SM123");
    set_str(r, "body", "another body does not matter");
    struct record *b = ACCEPT(r);
    assert_string_equal(b->id, a->id);

    r = base_record();
    set_str(r, "source", "twilio-2");
    set_str(r, "external_id", "SM123");
    struct record *c = ACCEPT(r);
    assert_string_not_equal(c->id, a->id);
    assert_int_equal(c->id[14], '5');

    /* The NUL separator: ("ab", "c") and ("a", "bc") differ. */
    char x[RECORD_UUID_LEN + 1], y[RECORD_UUID_LEN + 1];
    record_derive_id("ab", "c", x);
    record_derive_id("a", "bc", y);
    assert_string_not_equal(x, y);

    record_free(a);
    record_free(b);
    record_free(c);
}

static void id_random_v4_without_external_id(void **state)
{
    (void)state;
    struct record *a = ACCEPT(base_record());
    struct record *b = ACCEPT(base_record());
    assert_int_equal(strlen(a->id), RECORD_UUID_LEN);
    assert_int_equal(a->id[14], '4');
    assert_non_null(strchr("89ab", a->id[19]));
    assert_int_equal(b->id[14], '4');
    assert_string_not_equal(a->id, b->id);
    assert_false(a->id_given);
    record_free(a);
    record_free(b);
}

static void id_given_canonicalized(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "id", "3CC595A0-D81C-56C7-992F-5EDDACA7EF67");
    set_str(r, "external_id", "ignored-for-the-id");
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->id, "3cc595a0-d81c-56c7-992f-5eddaca7ef67");
    assert_true(rec->id_given);
    record_free(rec);

    r = base_record();
    set_str(r, "id", "not-a-uuid");
    REJECT(r, "id");
    r = base_record();
    set_str(r, "id", "3cc595a0d81c56c7992f5eddaca7ef67");
    REJECT(r, "id");
    r = base_record();
    json_object_set_new(r, "id", json_integer(7));
    REJECT(r, "id");

    char out[RECORD_UUID_LEN + 1];
    assert_int_equal(record_canonical_uuid("00000000-0000-0000-0000-00000000000A", out), 0);
    assert_string_equal(out, "00000000-0000-0000-0000-00000000000a");
    assert_int_equal(record_canonical_uuid("00000000-0000-0000-0000-00000000000g", out), -1);
    assert_int_equal(record_canonical_uuid("", out), -1);
}

/* ---- time ---- */

static void check_time(const char *in, const char *expected, int line)
{
    int64_t us = 0;
    char out[RECORD_TS_LEN + 1];
    if (record_parse_time(in, &us) != 0) {
        fail_msg("line %d: \"%s\" rejected, expected %s", line, in, expected);
    }
    record_format_time(us, out);
    if (strcmp(out, expected) != 0) {
        fail_msg("line %d: \"%s\" gave %s, expected %s", line, in, out, expected);
    }
}

static void check_time_rejected(const char *in, int line)
{
    int64_t us = 0;
    if (record_parse_time(in, &us) == 0) {
        fail_msg("line %d: \"%s\" accepted, expected a rejection", line, in);
    }
}

#define TIME_OK(in, expected) check_time((in), (expected), __LINE__)
#define TIME_BAD(in)          check_time_rejected((in), __LINE__)

static void time_offsets_to_utc(void **state)
{
    (void)state;
    TIME_OK("2026-11-18T09:15:00+03:30", "2026-11-18T05:45:00.000000Z");
    TIME_OK("2026-11-18T05:45:00Z", "2026-11-18T05:45:00.000000Z");
    TIME_OK("2026-11-18t05:45:00z", "2026-11-18T05:45:00.000000Z");
    TIME_OK("2026-11-18T05:45:00+00:00", "2026-11-18T05:45:00.000000Z");
    TIME_OK("2026-11-18T05:45:00-00:00", "2026-11-18T05:45:00.000000Z");
    TIME_OK("2026-11-18T00:15:00-05:30", "2026-11-18T05:45:00.000000Z");
    /* Crossing day and year boundaries both ways. */
    TIME_OK("2026-12-31T22:30:00-05:00", "2027-01-01T03:30:00.000000Z");
    TIME_OK("2026-01-01T01:00:00+03:30", "2025-12-31T21:30:00.000000Z");
    TIME_OK("2026-03-01T00:00:00+01:00", "2026-02-28T23:00:00.000000Z");
    TIME_OK("2024-03-01T00:00:00+01:00", "2024-02-29T23:00:00.000000Z");

    int64_t us = -1;
    assert_int_equal(record_parse_time("1970-01-01T00:00:00Z", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(record_parse_time("2026-11-18T09:15:00+03:30", &us), 0);
    assert_int_equal(us, 1794980700LL * 1000000);
    assert_int_equal(record_parse_time("1970-01-01T00:00:01.000001Z", &us), 0);
    assert_int_equal(us, 1000001);
    assert_int_equal(record_parse_time("1969-12-31T23:59:59.5Z", &us), 0);
    assert_int_equal(us, -500000);
    char out[RECORD_TS_LEN + 1];
    record_format_time(-500000, out);
    assert_string_equal(out, "1969-12-31T23:59:59.500000Z");
}

static void time_fractions(void **state)
{
    (void)state;
    TIME_OK("2026-11-18T05:45:00.5Z", "2026-11-18T05:45:00.500000Z");
    TIME_OK("2026-11-18T05:45:00.000001Z", "2026-11-18T05:45:00.000001Z");
    TIME_OK("2026-11-18T05:45:00.123456Z", "2026-11-18T05:45:00.123456Z");
    /* Truncated to microseconds, never rounded (rounding could change the second). */
    TIME_OK("2026-11-18T05:45:00.123456789Z", "2026-11-18T05:45:00.123456Z");
    TIME_OK("2026-11-18T05:45:59.9999999+03:30", "2026-11-18T02:15:59.999999Z");
    TIME_BAD("2026-11-18T05:45:00.Z");
    TIME_BAD("2026-11-18T05:45:00,5Z");
}

static void time_calendar_rules(void **state)
{
    (void)state;
    TIME_OK("2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000000Z");
    TIME_OK("2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000000Z");
    TIME_BAD("2026-02-29T12:00:00Z");
    TIME_BAD("1900-02-29T12:00:00Z");
    TIME_BAD("2026-04-31T12:00:00Z");
    TIME_BAD("2026-13-01T12:00:00Z");
    TIME_BAD("2026-00-01T12:00:00Z");
    TIME_BAD("2026-01-00T12:00:00Z");
    TIME_BAD("2026-01-32T12:00:00Z");
    TIME_OK("2026-12-31T23:59:59Z", "2026-12-31T23:59:59.000000Z");
    TIME_BAD("2026-11-18T24:00:00Z");
    TIME_BAD("2026-11-18T23:60:00Z");
    TIME_BAD("2026-11-18T23:59:61Z");
}

static void time_syntax_rejected(void **state)
{
    (void)state;
    TIME_BAD("2026-11-18T09:15:00");
    TIME_BAD("2026-11-18");
    TIME_BAD("2026-11-18T09:15Z");
    TIME_BAD("2026-11-18T09:15:00+0330");
    TIME_BAD("2026-11-18T09:15:00+03");
    TIME_BAD("2026-11-18T09:15:00+24:00");
    TIME_BAD("2026-11-18T09:15:00+03:60");
    TIME_BAD("2026-11-18T09:15:00Z ");
    TIME_BAD(" 2026-11-18T09:15:00Z");
    TIME_BAD("2026-11-18T09:15:00ZZ");
    TIME_BAD("26-11-18T09:15:00Z");
    TIME_BAD("2026/11/18T09:15:00Z");
    TIME_BAD("yesterday");
    TIME_BAD("");
}

static void time_in_record(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "occurred_at", "2026-11-18T09:15:00.1234567+03:30");
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->occurred_at, "2026-11-18T05:45:00.123456Z");
    record_free(rec);

    r = base_record();
    set_str(r, "occurred_at", "2026-11-18T09:15:00");
    REJECT(r, "occurred_at");
    r = base_record();
    json_object_del(r, "occurred_at");
    REJECT(r, "occurred_at");
    r = base_record();
    json_object_set_new(r, "occurred_at", json_integer(1794980700));
    REJECT(r, "occurred_at");
}

/*
 * Valid RFC 3339 input whose UTC time falls outside years 0001-9999 cannot be stored as
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" (PostgreSQL rejects year 0000, and year 10000 does not fit):
 * the record must be rejected naming occurred_at rather than accepted with a broken time.
 */
static void time_utc_out_of_range_rejected(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "occurred_at", "0001-01-01T00:00:00Z");
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->occurred_at, "0001-01-01T00:00:00.000000Z");
    record_free(rec);
    r = base_record();
    set_str(r, "occurred_at", "9999-12-31T23:59:59.999999Z");
    rec = ACCEPT(r);
    assert_string_equal(rec->occurred_at, "9999-12-31T23:59:59.999999Z");
    record_free(rec);

    r = base_record();
    set_str(r, "occurred_at", "0001-01-01T00:00:00+00:01");
    REJECT(r, "occurred_at");
    r = base_record();
    set_str(r, "occurred_at", "9999-12-31T23:59:59-23:59");
    REJECT(r, "occurred_at");
}

/* ---- fields ---- */

static void all_fields_kept(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "external_id", "1763460911.131");
    set_str(r, "direction", "outbound");
    set_str(r, "agent", "reza");
    set_str(r, "status", "answered");
    json_object_set_new(r, "duration_s", json_integer(214));
    set_str(r, "subject", "سفارش");
    set_str(r, "body", "notes");
    set_str(r, "thread", "case-9");
    set_str(r, "stage", "purchase");
    set_str(r, "sentiment", "positive");
    json_object_set_new(r, "score", json_integer(7));
    json_object_set_new(r, "tags", json_pack("[s,s]", "nps", "vip"));
    json_object_set_new(r, "attributes", json_pack("{s:i}", "order_id", 55120));
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->source, "test-src");
    assert_string_equal(rec->external_id, "1763460911.131");
    assert_string_equal(rec->channel, "phone");
    assert_string_equal(rec->direction, "outbound");
    assert_string_equal(rec->occurred_at, "2026-11-20T10:00:00.000000Z");
    assert_string_equal(rec->agent, "reza");
    assert_string_equal(rec->status, "answered");
    assert_true(rec->has_duration);
    assert_int_equal(rec->duration_s, 214);
    assert_string_equal(rec->subject, "سفارش");
    assert_string_equal(rec->body, "notes");
    assert_string_equal(rec->thread, "case-9");
    assert_string_equal(rec->stage, "purchase");
    assert_string_equal(rec->sentiment, "positive");
    assert_true(rec->has_score);
    assert_int_equal(rec->score, 7);
    assert_string_equal(rec->tags_json, "[\"nps\",\"vip\"]");
    assert_string_equal(rec->attributes_json, "{\"order_id\":55120}");
    assert_null(rec->name);
    assert_null(rec->traits_json);
    record_free(rec);

    /* Absent optional fields are NULL or flagged absent. */
    rec = ACCEPT(base_record());
    assert_null(rec->external_id);
    assert_null(rec->agent);
    assert_null(rec->status);
    assert_false(rec->has_duration);
    assert_null(rec->subject);
    assert_null(rec->body);
    assert_null(rec->thread);
    assert_null(rec->stage);
    assert_null(rec->sentiment);
    assert_false(rec->has_score);
    assert_null(rec->tags_json);
    assert_null(rec->attributes_json);
    record_free(rec);
}

static void required_fields(void **state)
{
    (void)state;
    static const char *const required[] = {"source", "channel", "occurred_at", "customer"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        json_t *r = base_record();
        assert_int_equal(json_object_del(r, required[i]), 0);
        REJECT(r, required[i]);
    }
    json_t *r = base_record();
    set_str(r, "channel", "fax");
    REJECT(r, "channel");
    static const char *const channels[] = {"phone", "sms",    "email",     "chat",
                                           "web",   "social", "in_person", "other"};
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
        r = base_record();
        set_str(r, "channel", channels[i]);
        struct record *rec = ACCEPT(r);
        assert_string_equal(rec->channel, channels[i]);
        record_free(rec);
    }
}

static void direction_default_inbound(void **state)
{
    (void)state;
    struct record *rec = ACCEPT(base_record());
    assert_string_equal(rec->direction, "inbound");
    record_free(rec);
    static const char *const dirs[] = {"inbound", "outbound", "internal"};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = base_record();
        set_str(r, "direction", dirs[i]);
        rec = ACCEPT(r);
        assert_string_equal(rec->direction, dirs[i]);
        record_free(rec);
    }
    json_t *r = base_record();
    set_str(r, "direction", "sideways");
    REJECT(r, "direction");
    r = base_record();
    set_str(r, "direction", "Inbound");
    REJECT(r, "direction");
}

static void status_per_channel(void **state)
{
    (void)state;
    static const struct {
        const char *channel, *status;
        bool ok;
    } cases[] = {
        {"phone", "answered", true}, {"phone", "missed", true},    {"phone", "busy", true},
        {"phone", "failed", true},   {"phone", "voicemail", true}, {"phone", "delivered", false},
        {"phone", "read", false},    {"sms", "delivered", true},   {"sms", "received", true},
        {"sms", "sent", true},       {"sms", "read", true},        {"sms", "failed", true},
        {"sms", "answered", false},  {"email", "read", true},      {"email", "voicemail", false},
        {"chat", "sent", true},      {"phone", "ANSWERED", false}, {"sms", "lost", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = base_record();
        set_str(r, "channel", cases[i].channel);
        set_str(r, "status", cases[i].status);
        if (cases[i].ok) {
            struct record *rec = ACCEPT(r);
            assert_string_equal(rec->status, cases[i].status);
            record_free(rec);
        } else {
            REJECT(r, "status");
        }
    }
}

static void enums_stage_sentiment(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "stage", "checkout");
    REJECT(r, "stage");
    r = base_record();
    set_str(r, "sentiment", "angry");
    REJECT(r, "sentiment");
    r = base_record();
    set_str(r, "stage", "post_purchase");
    set_str(r, "sentiment", "neutral");
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->stage, "post_purchase");
    assert_string_equal(rec->sentiment, "neutral");
    record_free(rec);
}

static void limit_source(void **state)
{
    (void)state;
    char *s64 = testmain_repeat("a", 64), *s65 = testmain_repeat("a", 65);
    json_t *r = base_record();
    set_str(r, "source", s64);
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->source, s64);
    record_free(rec);
    r = base_record();
    set_str(r, "source", s65);
    REJECT(r, "source");
    free(s64);
    free(s65);

    r = base_record();
    set_str(r, "source", "Az09._:-");
    rec = ACCEPT(r);
    record_free(rec);
    static const char *const bad[] = {"", "bad source!", "web/shop", "سارا", "a@b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = base_record();
        set_str(r, "source", bad[i]);
        REJECT(r, "source");
    }
}

static void limit_subject_in_characters(void **state)
{
    (void)state;
    char *s512 = testmain_repeat(PERSIAN_S, 512), *s513 = testmain_repeat(PERSIAN_S, 513);
    assert_int_equal(strlen(s512), 1024);
    json_t *r = base_record();
    set_str(r, "subject", s512);
    struct record *rec = ACCEPT(r);
    assert_string_equal(rec->subject, s512);
    record_free(rec);
    r = base_record();
    set_str(r, "subject", s513);
    REJECT(r, "subject");
    free(s512);
    free(s513);
}

static void limit_body_in_bytes(void **state)
{
    (void)state;
    char *b = testmain_repeat("x", 65536);
    json_t *r = base_record();
    set_str(r, "body", b);
    struct record *rec = ACCEPT(r);
    assert_int_equal(strlen(rec->body), 65536);
    record_free(rec);
    free(b);

    b = testmain_repeat("x", 65537);
    r = base_record();
    set_str(r, "body", b);
    REJECT(r, "body");
    free(b);

    /* 32 768 Persian letters are 65 536 bytes; one more is over the byte limit. */
    b = testmain_repeat(PERSIAN_S, 32768);
    r = base_record();
    set_str(r, "body", b);
    rec = ACCEPT(r);
    record_free(rec);
    free(b);
    b = testmain_repeat(PERSIAN_S, 32769);
    r = base_record();
    set_str(r, "body", b);
    REJECT(r, "body");
    free(b);
}

static void limit_other_strings(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        size_t max;
    } cases[] = {{"agent", 128}, {"external_id", 256}, {"thread", 256}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *ok = testmain_repeat(PERSIAN_S, cases[i].max),
             *over = testmain_repeat(PERSIAN_S, cases[i].max + 1);
        json_t *r = base_record();
        set_str(r, cases[i].field, ok);
        struct record *rec = ACCEPT(r);
        record_free(rec);
        r = base_record();
        set_str(r, cases[i].field, over);
        REJECT(r, cases[i].field);
        r = base_record();
        json_object_set_new(r, cases[i].field, json_integer(5));
        REJECT(r, cases[i].field);
        free(ok);
        free(over);
    }
}

static void limit_tags(void **state)
{
    (void)state;
    json_t *tags = json_array();
    for (int i = 0; i < 32; i++) {
        char t[16];
        snprintf(t, sizeof(t), "t%d", i);
        json_array_append_new(tags, json_string(t));
    }
    json_t *r = base_record();
    json_object_set(r, "tags", tags);
    struct record *rec = ACCEPT(r);
    assert_non_null(rec->tags_json);
    assert_non_null(strstr(rec->tags_json, "\"t31\""));
    record_free(rec);

    json_array_append_new(tags, json_string("t32"));
    r = base_record();
    json_object_set_new(r, "tags", tags);
    REJECT(r, "tags");

    char *t64 = testmain_repeat(PERSIAN_S, 64), *t65 = testmain_repeat(PERSIAN_S, 65);
    r = base_record();
    json_object_set_new(r, "tags", json_pack("[s,s]", "ok", t64));
    rec = ACCEPT(r);
    record_free(rec);
    r = base_record();
    json_object_set_new(r, "tags", json_pack("[s,s]", "ok", t65));
    REJECT(r, "tags");
    free(t64);
    free(t65);

    r = base_record();
    json_object_set_new(r, "tags", json_pack("[s,i]", "ok", 5));
    REJECT(r, "tags");
    r = base_record();
    set_str(r, "tags", "nps");
    REJECT(r, "tags");
}

static void limit_attributes(void **state)
{
    (void)state;
    /* {"k":"xxx..."} is the value plus 8 bytes serialized. */
    char *v = testmain_repeat("x", 16384 - 8);
    json_t *r = base_record();
    json_object_set_new(r, "attributes", json_pack("{s:s}", "k", v));
    struct record *rec = ACCEPT(r);
    assert_int_equal(strlen(rec->attributes_json), 16384);
    record_free(rec);
    free(v);

    v = testmain_repeat("x", 16384 - 7);
    r = base_record();
    json_object_set_new(r, "attributes", json_pack("{s:s}", "k", v));
    REJECT(r, "attributes");
    free(v);

    r = base_record();
    json_object_set_new(r, "attributes", json_pack("[i]", 1));
    REJECT(r, "attributes");
    r = base_record();
    json_object_set_new(r, "attributes", json_pack("{s:{s:[i,b,n]}}", "a", "b", 1, 1));
    rec = ACCEPT(r);
    assert_string_equal(rec->attributes_json, "{\"a\":{\"b\":[1,true,null]}}");
    record_free(rec);
}

static void limit_score(void **state)
{
    (void)state;
    for (int s = 0; s <= 10; s++) {
        json_t *r = base_record();
        json_object_set_new(r, "score", json_integer(s));
        struct record *rec = ACCEPT(r);
        assert_true(rec->has_score);
        assert_int_equal(rec->score, s);
        record_free(rec);
    }
    json_t *bad[] = {json_integer(11), json_integer(-1), json_string("9"), json_real(9.5),
                     json_true()};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *r = base_record();
        json_object_set_new(r, "score", bad[i]);
        REJECT(r, "score");
    }
}

static void limit_duration(void **state)
{
    (void)state;
    json_t *r = base_record();
    json_object_set_new(r, "duration_s", json_integer(0));
    struct record *rec = ACCEPT(r);
    assert_true(rec->has_duration);
    assert_int_equal(rec->duration_s, 0);
    record_free(rec);
    r = base_record();
    json_object_set_new(r, "duration_s", json_integer(86400));
    rec = ACCEPT(r);
    assert_int_equal(rec->duration_s, 86400);
    record_free(rec);
    json_t *bad[] = {json_integer(-1), json_real(1.5), json_string("10")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = base_record();
        json_object_set_new(r, "duration_s", bad[i]);
        REJECT(r, "duration_s");
    }
}

static void unknown_top_level_field(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(r, "colour", "blue");
    REJECT(r, "colour");
    r = base_record();
    set_str(r, "Source", "x");
    REJECT(r, "Source");
    /* A known field in a customer object is still unknown at the top level. */
    r = base_record();
    set_str(r, "phone", "+989121112233");
    REJECT(r, "phone");
}

/* ---- customer ---- */

static void customer_unknown_field(void **state)
{
    (void)state;
    json_t *r = base_record();
    set_str(json_object_get(r, "customer"), "fax", "+982188776655");
    REJECT(r, "fax");
    r = base_record();
    set_str(json_object_get(r, "customer"), "fax", "+982188776655");
    REJECT(r, "customer");
}

static void customer_shape(void **state)
{
    (void)state;
    json_t *r = base_record();
    json_object_set_new(r, "customer", json_string("+989121112233"));
    REJECT(r, "customer");
    r = base_record();
    json_object_set_new(r, "customer", json_object());
    REJECT(r, "customer");
    /* A name alone is no identifier. */
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:s}", "name", "سارا"));
    REJECT(r, "customer");
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:I}", "phone", (json_int_t)989121112233LL));
    REJECT(r, "customer.phone");
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:[]}", "email"));
    REJECT(r, "customer");
}

static void customer_arrays(void **state)
{
    (void)state;
    json_t *r = base_record();
    json_object_set_new(r, "customer",
                        json_pack("{s:[s,s], s:[s,s], s:s, s:s, s:s, s:s, s:{s:s}}", "phone",
                                  "0912 345 6789", "+966 50 123 4567", "email", "Sara@Example.COM",
                                  "info@shop.ir", "chat", "Telegram:@sara_k", "web", " anon-1 ",
                                  "external", "shopify:5512", "name", "سارا", "traits", "city",
                                  "Tehran"));
    struct record *rec = ACCEPT(r);
    assert_int_equal(rec->n_idents, 7);
    assert_non_null(find_ident(rec, IDENT_PHONE, "+989123456789"));
    assert_non_null(find_ident(rec, IDENT_PHONE, "+966501234567"));
    assert_non_null(find_ident(rec, IDENT_EMAIL, "sara@example.com"));
    assert_non_null(find_ident(rec, IDENT_EMAIL, "info@shop.ir"));
    assert_non_null(find_ident(rec, IDENT_CHAT, "telegram:@sara_k"));
    assert_non_null(find_ident(rec, IDENT_WEB, "anon-1"));
    assert_non_null(find_ident(rec, IDENT_EXTERNAL, "shopify:5512"));
    assert_string_equal(rec->name, "سارا");
    assert_string_equal(rec->traits_json, "{\"city\":\"Tehran\"}");
    for (size_t i = 0; i < rec->n_idents; i++) {
        assert_false(rec->idents[i].never_merge);
    }
    record_free(rec);

    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:[s,i]}", "phone", "+989121112233", 5));
    REJECT(r, "customer.phone");
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:[s,s]}", "phone", "+989121112233", "12"));
    REJECT(r, "customer.phone");
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:s, s:[i]}", "web", "w", "traits", 1));
    REJECT(r, "customer.traits");
}

static void customer_duplicates_collapse(void **state)
{
    (void)state;
    json_t *r = base_record();
    json_object_set_new(r, "customer",
                        json_pack("{s:[s,s,s,s], s:[s,s]}", "phone", "0912 345 6789",
                                  "+989123456789", "۰۹۱۲۳۴۵۶۷۸۹", "00989123456789", "email",
                                  "Sara@Example.com", " sara@example.COM "));
    struct record *rec = ACCEPT(r);
    assert_int_equal(rec->n_idents, 2);
    assert_non_null(find_ident(rec, IDENT_PHONE, "+989123456789"));
    assert_non_null(find_ident(rec, IDENT_EMAIL, "sara@example.com"));
    record_free(rec);

    /* The same text under two kinds is two identifiers. */
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:s, s:s}", "web", "x-1", "external", "x-1"));
    rec = ACCEPT(r);
    assert_int_equal(rec->n_idents, 2);
    record_free(rec);
}

static void customer_too_many_identifiers(void **state)
{
    (void)state;
    json_t *webs = json_array();
    for (int i = 0; i < RECORD_MAX_IDENTS + 1; i++) {
        char w[16];
        snprintf(w, sizeof(w), "w%d", i);
        json_array_append_new(webs, json_string(w));
    }
    json_t *r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:O}", "web", webs));
    REJECT(r, "customer");
    json_array_remove(webs, 0);
    r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:o}", "web", webs));
    struct record *rec = ACCEPT(r);
    assert_int_equal(rec->n_idents, RECORD_MAX_IDENTS);
    record_free(rec);
}

static void customer_never_merge_flags(void **state)
{
    (void)state;
    static const char *const nm[] = {"phone:+982188776655", "email:info@shop.ir",
                                     "web:+989121112233"};
    struct record_opts opts;
    opts_init(&opts);
    opts.never_merge = nm;
    opts.n_never_merge = 3;
    json_t *r = base_record();
    json_object_set_new(r, "customer",
                        json_pack("{s:[s,s], s:s, s:s}", "phone", "021 8877 6655", BASE_PHONE,
                                  "email", "Info@Shop.IR", "web", "info@shop.ir"));
    struct record *rec = accept_json_at(r, &opts, __LINE__);
    assert_int_equal(rec->n_idents, 4);
    const struct record_ident *id = find_ident(rec, IDENT_PHONE, "+982188776655");
    assert_non_null(id);
    assert_true(id->never_merge);
    id = find_ident(rec, IDENT_EMAIL, "info@shop.ir");
    assert_non_null(id);
    assert_true(id->never_merge);
    /* Same value, other kind: not listed. */
    id = find_ident(rec, IDENT_PHONE, BASE_PHONE);
    assert_non_null(id);
    assert_false(id->never_merge);
    id = find_ident(rec, IDENT_WEB, "info@shop.ir");
    assert_non_null(id);
    assert_false(id->never_merge);
    record_free(rec);
}

static void customer_uses_configured_country(void **state)
{
    (void)state;
    struct record_opts opts;
    opts_init(&opts);
    strcpy(opts.norm.country_code, "966");
    json_t *r = base_record();
    json_object_set_new(r, "customer", json_pack("{s:s}", "phone", "050 123 4567"));
    struct record *rec = accept_json_at(r, &opts, __LINE__);
    assert_string_equal(rec->idents[0].value, "+966501234567");
    record_free(rec);
}

/* ---- hostile JSON ---- */

static void json_duplicate_keys(void **state)
{
    (void)state;
    PARSE_FAIL("{\"source\":\"a\",\"source\":\"b\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
               "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"}}",
               RECORD_EJSON, NULL);
    PARSE_FAIL("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
               "\",\"customer\":{\"phone\":\"" BASE_PHONE "\",\"phone\":\"+989121112244\"}}",
               RECORD_EJSON, NULL);
}

static void json_invalid_utf8(void **state)
{
    (void)state;
    PARSE_FAIL("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
               "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},\"body\":\"caf\xe9\"}",
               RECORD_EJSON, NULL);
    PARSE_FAIL("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
               "\",\"customer\":{\"web\":\"\xed\xa0\x80\"}}",
               RECORD_EJSON, NULL);
    /* A lone surrogate escape is not a character either. */
    PARSE_FAIL("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
               "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},\"body\":\"\\ud800\"}",
               RECORD_EJSON, NULL);
}

/*
 * Rejected with either code: for NUL (valid JSON text, but no record string may hold it) and
 * for JSON texts that are not objects.
 */
static void reject_either_at(const char *line, int at)
{
    struct record_opts opts;
    opts_init(&opts);
    struct record *rec = (struct record *)1;
    char msg[RECORD_MSG_MAX] = "";
    int rc = record_parse(line, strlen(line), &opts, &rec, msg, sizeof(msg));
    if (rc == RECORD_OK) {
        record_free(rec);
        fail_msg("line %d: \"%s\" was accepted", at, line);
    }
    assert_true(rc == RECORD_EJSON || rc == RECORD_EINVALID);
    assert_null(rec);
    assert_true(msg[0] != '\0');
}

static void json_nul_escape(void **state)
{
    (void)state;
    reject_either_at("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
                     "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},\"body\":\"a\\u0000b\"}",
                     __LINE__);
    reject_either_at("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
                     "\",\"customer\":{\"web\":\"anon\\u0000-1\"}}",
                     __LINE__);
    reject_either_at("{\"source\":\"a\\u0000b\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
                     "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"}}",
                     __LINE__);
    reject_either_at("{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
                     "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},\"tags\":[\"a\\u0000\"]}",
                     __LINE__);
    /* A raw NUL byte inside the line. */
    static const char raw[] = "{\"source\":\"a\0b\",\"channel\":\"phone\"}";
    struct record_opts opts;
    opts_init(&opts);
    struct record *rec = NULL;
    char msg[RECORD_MSG_MAX] = "";
    assert_int_equal(record_parse(raw, sizeof(raw) - 1, &opts, &rec, msg, sizeof(msg)),
                     RECORD_EJSON);
    assert_null(rec);
}

static void json_deep_nesting(void **state)
{
    (void)state;
    const size_t depth = 10000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    PARSE_FAIL(deep, RECORD_EJSON, NULL);
    /* Unclosed, and inside an object. */
    deep[depth] = '\0';
    PARSE_FAIL(deep, RECORD_EJSON, NULL);
    free(deep);

    const char *prefix = "{\"source\":\"a\",\"channel\":\"phone\",\"occurred_at\":\"" BASE_TS
                         "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},\"attributes\":{\"a\":";
    size_t pl = strlen(prefix);
    char *line = malloc(pl + 2 * depth + 3);
    assert_non_null(line);
    memcpy(line, prefix, pl);
    for (size_t i = 0; i < depth; i++) {
        line[pl + i] = '[';
        line[pl + depth + i] = ']';
    }
    memcpy(line + pl + 2 * depth, "}}", 3);
    PARSE_FAIL(line, RECORD_EJSON, NULL);
    free(line);
}

static void json_not_a_record(void **state)
{
    (void)state;
    PARSE_FAIL("", RECORD_EJSON, NULL);
    PARSE_FAIL("   ", RECORD_EJSON, NULL);
    PARSE_FAIL("{", RECORD_EJSON, NULL);
    PARSE_FAIL("{} {}", RECORD_EJSON, NULL);
    PARSE_FAIL("{\"source\":'a'}", RECORD_EJSON, NULL);
    PARSE_FAIL("[1,2,3]", RECORD_EINVALID, NULL);
    reject_either_at("\"a record\"", __LINE__);
    reject_either_at("null", __LINE__);
    reject_either_at("42", __LINE__);
    PARSE_FAIL("{}", RECORD_EINVALID, "source");
}

static void parse_reads_only_len_bytes(void **state)
{
    (void)state;
    const char *line = "{\"source\":\"a\",\"channel\":\"sms\",\"occurred_at\":\"" BASE_TS
                       "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"}}GARBAGE";
    struct record *rec =
        parse_line_at(line, strlen(line) - strlen("GARBAGE"), RECORD_OK, NULL, __LINE__);
    assert_string_equal(rec->channel, "sms");
    /* The record owns what it points into: it outlives the caller's JSON. */
    assert_string_equal(rec->idents[0].value, BASE_PHONE);
    record_free(rec);
    record_free(NULL);
}

static void record_outlives_its_line(void **state)
{
    (void)state;
    struct record_opts opts;
    opts_init(&opts);
    static const char text[] = "{\"source\":\"test-src\",\"channel\":\"phone\",\"occurred_at\":"
                               "\"" BASE_TS "\",\"customer\":{\"phone\":\"" BASE_PHONE "\"},"
                               "\"tags\":[\"vip\",\"\\u0633\"]}";
    char *line = strdup(text);
    assert_non_null(line);
    struct record *rec = NULL;
    char msg[RECORD_MSG_MAX];
    assert_int_equal(record_parse(line, strlen(line), &opts, &rec, msg, sizeof(msg)), RECORD_OK);
    memset(line, 'x', strlen(line));
    free(line);
    /* The record keeps its own copy: its strings are still valid. */
    assert_string_equal(rec->source, "test-src");
    assert_string_equal(rec->occurred_at, "2026-11-20T10:00:00.000000Z");
    assert_int_equal(rec->n_tags, 2);
    assert_string_equal(rec->tags[0], "vip");
    assert_string_equal(rec->tags[1], PERSIAN_S);
    assert_string_equal(rec->tags_json, "[\"vip\",\"" PERSIAN_S "\"]");
    record_free(rec);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sample_fixture_all_valid),
        cmocka_unit_test(malformed_fixture),
        cmocka_unit_test(id_derived_uuid5),
        cmocka_unit_test(id_random_v4_without_external_id),
        cmocka_unit_test(id_given_canonicalized),
        cmocka_unit_test(time_offsets_to_utc),
        cmocka_unit_test(time_fractions),
        cmocka_unit_test(time_calendar_rules),
        cmocka_unit_test(time_syntax_rejected),
        cmocka_unit_test(time_in_record),
        cmocka_unit_test(time_utc_out_of_range_rejected),
        cmocka_unit_test(all_fields_kept),
        cmocka_unit_test(required_fields),
        cmocka_unit_test(direction_default_inbound),
        cmocka_unit_test(status_per_channel),
        cmocka_unit_test(enums_stage_sentiment),
        cmocka_unit_test(limit_source),
        cmocka_unit_test(limit_subject_in_characters),
        cmocka_unit_test(limit_body_in_bytes),
        cmocka_unit_test(limit_other_strings),
        cmocka_unit_test(limit_tags),
        cmocka_unit_test(limit_attributes),
        cmocka_unit_test(limit_score),
        cmocka_unit_test(limit_duration),
        cmocka_unit_test(unknown_top_level_field),
        cmocka_unit_test(customer_unknown_field),
        cmocka_unit_test(customer_shape),
        cmocka_unit_test(customer_arrays),
        cmocka_unit_test(customer_duplicates_collapse),
        cmocka_unit_test(customer_too_many_identifiers),
        cmocka_unit_test(customer_never_merge_flags),
        cmocka_unit_test(customer_uses_configured_country),
        cmocka_unit_test(json_duplicate_keys),
        cmocka_unit_test(json_invalid_utf8),
        cmocka_unit_test(json_nul_escape),
        cmocka_unit_test(json_deep_nesting),
        cmocka_unit_test(json_not_a_record),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(record_outlives_its_line),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
