/*
 * Asterisk Master.csv rows as records (client/cdr.c): the CSV reader on quoting, CRLF, blank
 * lines, line breaks inside fields and malformed rows (with the line each starts on), and the
 * mapping of calls: direction, customer and agent, status, duration, caller-ID name, time
 * zone, a stable id for rows without a uniqueid. Fixtures: tests/fixtures/cdr/.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr.h"
#include "testmain.h"

/* A fixture of tests/fixtures/cdr/. */
static char *fixture(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "cdr/%s", name);
    return testmain_fixture(path, len);
}

/* Reads every row of buf into rows (at most max) and returns how many; parse errors fail. */
static size_t read_rows(const char *buf, size_t len, struct cdr_row *rows, size_t max)
{
    struct cdr_reader r;
    cdr_reader_init(&r, buf, len);
    char err[256];
    size_t n = 0;
    for (;;) {
        assert_true(n < max);
        memset(&rows[n], 0, sizeof(rows[n]));
        int rc = cdr_reader_next(&r, &rows[n], err, sizeof(err));
        if (rc == CDR_END) {
            cdr_row_free(&rows[n]);
            return n;
        }
        if (rc != CDR_ROW) {
            fail_msg("row %zu: %d %s", n + 1, rc, err);
        }
        n++;
    }
}

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static const char *cust(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(json_object_get(rec, "customer"), key));
}

static json_t *map(const struct cdr_row *row, const struct cdr_opts *o)
{
    json_t *rec = NULL;
    char err[256];
    int rc = cdr_row_to_record(row, o, &rec, err, sizeof(err));
    if (rc != CDR_ROW) {
        fail_msg("line %zu: %d %s", row->line, rc, err);
    }
    return rec;
}

static const struct cdr_opts tehran = {
    .source = "asterisk-tehran-1", .has_tz_offset = true, .tz_offset_min = 210};

static void reads_quoting_crlf_and_embedded_line_breaks(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("quoting.csv", &len);
    struct cdr_row rows[4];
    assert_int_equal(read_rows(buf, len, rows, 4), 2);
    assert_int_equal(rows[0].line, 1);
    assert_int_equal(rows[0].nfields, 16);
    assert_string_equal(rows[0].fields[0], "acc,1");
    assert_string_equal(rows[0].fields[4], "\"Sara \"\"SK\"\" Karimi\" <09121234567>");
    assert_string_equal(rows[0].fields[8], "SIP/101,30,tT");
    assert_string_equal(rows[0].fields[12], "222");
    /* The CRLF of the line is no part of the last field. */
    assert_string_equal(rows[0].fields[15], "DOCUMENTATION");
    /* After a blank line; the line break inside the quotes is kept and counted. */
    assert_int_equal(rows[1].line, 3);
    assert_int_equal(rows[1].nfields, 16);
    assert_string_equal(rows[1].fields[4], "multi\r\nline clid");
    assert_string_equal(rows[1].fields[14], "NO ANSWER");
    /* The last row has no line end. */
    assert_string_equal(rows[1].fields[15], "DOCUMENTATION");
    for (size_t i = 0; i < 2; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static void maps_an_inbound_call(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("Master.csv", &len);
    struct cdr_row rows[8];
    assert_int_equal(read_rows(buf, len, rows, 8), 5);
    json_t *rec = map(&rows[0], &tehran);
    assert_string_equal(str(rec, "source"), "asterisk-tehran-1");
    assert_string_equal(str(rec, "external_id"), "1763537502.118");
    assert_string_equal(str(rec, "channel"), "phone");
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(str(rec, "occurred_at"), "2026-11-19T10:01:42+03:30");
    assert_string_equal(cust(rec, "phone"), "09121234567");
    assert_string_equal(cust(rec, "name"), "Sara Karimi");
    assert_string_equal(str(rec, "agent"), "101");
    assert_string_equal(str(rec, "status"), "answered");
    assert_int_equal(json_integer_value(json_object_get(rec, "duration_s")), 214);
    json_t *attrs = json_object_get(rec, "attributes");
    assert_string_equal(json_string_value(json_object_get(attrs, "dcontext")), "from-internal");
    assert_null(json_object_get(attrs, "userfield")); /* empty */
    json_decref(rec);

    /* A missed call; the caller-ID name is empty, so there is none. */
    rec = map(&rows[1], &tehran);
    assert_string_equal(str(rec, "status"), "missed");
    assert_int_equal(json_integer_value(json_object_get(rec, "duration_s")), 0);
    assert_null(cust(rec, "name"));
    json_decref(rec);
    for (size_t i = 0; i < 5; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static void maps_outbound_calls(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("Master.csv", &len);
    struct cdr_row rows[8];
    assert_int_equal(read_rows(buf, len, rows, 8), 5);
    /* The caller ID of an outbound call is the agent's: no customer name from it. */
    json_t *rec = map(&rows[2], &tehran);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(cust(rec, "phone"), "00966501234567");
    assert_null(cust(rec, "name"));
    assert_string_equal(str(rec, "agent"), "101");
    assert_string_equal(str(rec, "status"), "answered");
    json_t *attrs = json_object_get(rec, "attributes");
    assert_string_equal(json_string_value(json_object_get(attrs, "userfield")),
                        "follow-up, order 55120\n(second line)");
    assert_string_equal(json_string_value(json_object_get(attrs, "accountcode")), "sales");
    json_decref(rec);
    rec = map(&rows[3], &tehran);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(str(rec, "status"), "busy");
    assert_string_equal(str(rec, "agent"), "103");
    json_decref(rec);
    for (size_t i = 0; i < 5; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static void inbound_context_pattern(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("Master.csv", &len);
    struct cdr_row rows[8];
    assert_int_equal(read_rows(buf, len, rows, 8), 5);
    /* dst is a DID, not an extension: a pattern that leaves out from-trunk (it replaces the
     * stock contexts) makes the call look outbound. */
    regex_t re;
    assert_int_equal(regcomp(&re, "^from-pstn$", REG_EXTENDED | REG_NOSUB), 0);
    struct cdr_opts o = tehran;
    o.inbound_ctx = &re;
    json_t *rec = map(&rows[4], &o);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(cust(rec, "phone"), "02188776655");
    json_decref(rec);
    regfree(&re);
    assert_int_equal(regcomp(&re, "^from-(trunk|pstn)$", REG_EXTENDED | REG_NOSUB), 0);
    rec = map(&rows[4], &o);
    assert_string_equal(str(rec, "direction"), "inbound");
    json_decref(rec);
    /* Without a pattern, from-trunk is one of the stock inbound contexts. */
    rec = map(&rows[4], &tehran);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(cust(rec, "phone"), "+989125556677");
    assert_string_equal(cust(rec, "name"), "Ali");
    /* The agent is the extension the queue rang: the peer of dstchannel. */
    assert_string_equal(str(rec, "agent"), "104");
    json_decref(rec);
    regfree(&re);
    for (size_t i = 0; i < 5; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static int map_error(const char *csv, char *err, size_t errlen);

/* Maps row of a stock FreePBX Master.csv with the default options: a record, or the code. */
static int map_default(const struct cdr_row *row, json_t **rec)
{
    char err[256];
    *rec = NULL;
    return cdr_row_to_record(row, &tehran, rec, err, sizeof(err));
}

/*
 * A stock FreePBX dialplan's rows with no option given: IVR calls (dst "s"), queue calls
 * answered by a member (Local/ and PJSIP/ channels), a DID dialled through from-did-direct,
 * withheld callers in their many spellings, outbound calls busy and failed, an internal call.
 */
static void freepbx_rows_with_the_defaults(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("freepbx.csv", &len);
    struct cdr_row rows[16];
    assert_int_equal(read_rows(buf, len, rows, 16), 13);
    json_t *rec;

    /* An IVR call: inbound from the caller, not an outbound call to "s". */
    assert_int_equal(map_default(&rows[0], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(cust(rec, "phone"), "09121234567");
    assert_string_equal(cust(rec, "name"), "سارا کریمی");
    assert_string_equal(str(rec, "status"), "answered");
    assert_null(str(rec, "agent"));
    json_decref(rec);
    /* Hung up in the IVR of from-pstn: a missed inbound call. */
    assert_int_equal(map_default(&rows[1], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(str(rec, "status"), "missed");
    json_decref(rec);
    /* Queue 400 answered by member 2001 through a Local channel: 2001 is the agent. */
    assert_int_equal(map_default(&rows[2], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(cust(rec, "phone"), "09351112233");
    assert_string_equal(cust(rec, "name"), "علی رضایی");
    assert_string_equal(str(rec, "agent"), "2001");
    assert_int_equal(json_integer_value(json_object_get(rec, "duration_s")), 240);
    json_decref(rec);
    /* Queue 401 answered by PJSIP/alice. */
    assert_int_equal(map_default(&rows[3], &rec), CDR_ROW);
    assert_string_equal(str(rec, "agent"), "alice");
    json_decref(rec);
    /* A DID through from-did-direct: inbound, the extension that answered is the agent. */
    assert_int_equal(map_default(&rows[4], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "inbound");
    assert_string_equal(cust(rec, "phone"), "09127778899");
    assert_string_equal(str(rec, "agent"), "2001");
    json_decref(rec);
    /* Withheld: "anonymous", empty, "Restricted": skipped, never an error. */
    for (size_t i = 5; i <= 7; i++) {
        char err[256];
        rec = NULL;
        assert_int_equal(cdr_row_to_record(&rows[i], &tehran, &rec, err, sizeof(err)),
                         CDR_ANONYMOUS);
        assert_null(rec);
        assert_non_null(strstr(err, "withheld"));
    }
    /* Outbound from extension 2001, busy; then with the company's number as caller ID,
     * failed: the agent is the peer of channel. */
    assert_int_equal(map_default(&rows[8], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(cust(rec, "phone"), "09127778899");
    assert_string_equal(str(rec, "status"), "busy");
    assert_string_equal(str(rec, "agent"), "2001");
    assert_null(cust(rec, "name"));
    json_decref(rec);
    assert_int_equal(map_default(&rows[9], &rec), CDR_ROW);
    assert_string_equal(str(rec, "direction"), "outbound");
    assert_string_equal(str(rec, "status"), "failed");
    assert_string_equal(str(rec, "agent"), "2001");
    json_decref(rec);
    /* 2001 called 2002: no customer. */
    assert_int_equal(map_default(&rows[10], &rec), CDR_INTERNAL);
    /* Nobody in queue 400 answered: a missed call of the queue. */
    assert_int_equal(map_default(&rows[11], &rec), CDR_ROW);
    assert_string_equal(str(rec, "status"), "missed");
    assert_string_equal(str(rec, "agent"), "400");
    json_decref(rec);
    /* Zahra gave up waiting in queue 400: Queue() had answered her channel, no member's
     * channel ever joined. A missed call, the wait kept apart from the talk time. */
    assert_int_equal(map_default(&rows[12], &rec), CDR_ROW);
    assert_string_equal(str(rec, "status"), "missed");
    assert_string_equal(cust(rec, "name"), "زهرا موسوی");
    assert_int_equal(json_integer_value(json_object_get(rec, "duration_s")), 0);
    json_t *attrs = json_object_get(rec, "attributes");
    assert_true(json_is_true(json_object_get(attrs, "queue_abandoned")));
    assert_int_equal(json_integer_value(json_object_get(attrs, "wait_s")), 150);
    json_decref(rec);
    /* The answered queue call is not abandoned. */
    assert_int_equal(map_default(&rows[2], &rec), CDR_ROW);
    assert_null(json_object_get(json_object_get(rec, "attributes"), "queue_abandoned"));
    json_decref(rec);
    /* Other spellings of a withheld number. */
    static const char *const withheld[] = {"unknown",     "private",  "PRIVATE",
                                           "Unavailable", "WITHHELD", "0000"};
    for (size_t i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++) {
        char csv[512], err[256];
        snprintf(csv, sizeof(csv),
                 "\"\",\"%s\",\"s\",\"from-pstn\",\"\",\"\",\"\",\"\",\"\",\"2026-02-20 "
                 "09:30:00\",\"\",\"\",0,0,\"NO ANSWER\",\"D\"\n",
                 withheld[i]);
        assert_int_equal(map_error(csv, err, sizeof(err)), CDR_ANONYMOUS);
    }
    for (size_t i = 0; i < 13; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static void missing_uniqueid_gets_a_stable_hash(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("quoting.csv", &len);
    struct cdr_row rows[4];
    assert_int_equal(read_rows(buf, len, rows, 4), 2);
    json_t *a = map(&rows[0], &tehran);
    json_t *b = map(&rows[0], &tehran);
    json_t *c = map(&rows[1], &tehran);
    const char *id = str(a, "external_id");
    assert_non_null(id);
    assert_int_equal(strncmp(id, "row-", 4), 0);
    assert_int_equal(strlen(id), 4 + 36);
    assert_string_equal(id, str(b, "external_id"));
    assert_string_not_equal(id, str(c, "external_id"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    /* The same row read again from a fresh buffer (as on a re-import) hashes the same. */
    struct cdr_row again[4];
    assert_int_equal(read_rows(buf, len, again, 4), 2);
    a = map(&rows[1], &tehran);
    b = map(&again[1], &tehran);
    assert_string_equal(str(a, "external_id"), str(b, "external_id"));
    json_decref(a);
    json_decref(b);
    for (size_t i = 0; i < 2; i++) {
        cdr_row_free(&rows[i]);
        cdr_row_free(&again[i]);
    }
    free(buf);
}

/* A 17th column is the uniqueid when it looks like one, else the userfield. */
static void seventeen_columns(void **state)
{
    (void)state;
    const char *csv =
        "\"\",\"09121234567\",\"101\",\"c\",\"\",\"SIP/t-1\",\"SIP/"
        "101-2\",\"Dial\",\"\",\"2026-11-19 "
        "10:00:00\",\"\",\"\",0,0,\"FAILED\",\"DOCUMENTATION\",\"pbx-2-1763537502.7\"\n"
        "\"\",\"09121234567\",\"101\",\"c\",\"\",\"SIP/t-1\",\"SIP/"
        "101-2\",\"Dial\",\"\",\"2026-11-19 "
        "10:00:00\",\"\",\"\",0,0,\"FAILED\",\"DOCUMENTATION\",\"vip\"\n";
    struct cdr_row rows[4];
    assert_int_equal(read_rows(csv, strlen(csv), rows, 4), 2);
    json_t *rec = map(&rows[0], &tehran);
    assert_string_equal(str(rec, "external_id"), "pbx-2-1763537502.7");
    assert_string_equal(str(rec, "status"), "failed");
    json_decref(rec);
    rec = map(&rows[1], &tehran);
    assert_int_equal(strncmp(str(rec, "external_id"), "row-", 4), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "attributes"), "userfield")), "vip");
    json_decref(rec);
    cdr_row_free(&rows[0]);
    cdr_row_free(&rows[1]);
}

static void local_time_zone(void **state)
{
    (void)state;
    size_t len;
    char *buf = fixture("Master.csv", &len);
    struct cdr_row rows[8];
    assert_int_equal(read_rows(buf, len, rows, 8), 5);
    /* A POSIX zone three and a half hours east of UTC, without tzdata. */
    setenv("TZ", "IRST-3:30", 1);
    tzset();
    struct cdr_opts o = {.source = "asterisk"};
    json_t *rec = map(&rows[0], &o);
    assert_string_equal(str(rec, "occurred_at"), "2026-11-19T06:31:42Z");
    json_decref(rec);
    /* --tz-offset -05:00 */
    assert_int_equal(cdr_parse_tz_offset("-05:00", &o.tz_offset_min), 0);
    o.has_tz_offset = true;
    rec = map(&rows[0], &o);
    assert_string_equal(str(rec, "occurred_at"), "2026-11-19T10:01:42-05:00");
    json_decref(rec);
    int m;
    assert_int_equal(cdr_parse_tz_offset("+0330", &m), 0);
    assert_int_equal(m, 210);
    assert_int_equal(cdr_parse_tz_offset("Z", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(cdr_parse_tz_offset("03:30", &m), -1);
    assert_int_equal(cdr_parse_tz_offset("+24:00", &m), -1);
    assert_int_equal(cdr_parse_tz_offset("+03:3", &m), -1);
    for (size_t i = 0; i < 5; i++) {
        cdr_row_free(&rows[i]);
    }
    free(buf);
}

static void call_between_extensions_is_skipped(void **state)
{
    (void)state;
    const char *csv = "\"\",\"101\",\"102\",\"from-internal\",\"\"\"Reza\"\" "
                      "<101>\",\"SIP/101-1\",\"SIP/102-2\",\"Dial\",\"SIP/102\",\"2026-11-20 "
                      "11:00:00\",\"\",\"\",12,10,\"ANSWERED\",\"DOCUMENTATION\"\n";
    struct cdr_row rows[2];
    assert_int_equal(read_rows(csv, strlen(csv), rows, 2), 1);
    json_t *rec = NULL;
    char err[256];
    assert_int_equal(cdr_row_to_record(&rows[0], &tehran, &rec, err, sizeof(err)), CDR_INTERNAL);
    assert_null(rec);
    cdr_row_free(&rows[0]);
}

/* Maps row 1 of csv and returns the code, with the message in err. */
static int map_error(const char *csv, char *err, size_t errlen)
{
    struct cdr_row rows[2];
    assert_int_equal(read_rows(csv, strlen(csv), rows, 2), 1);
    json_t *rec = NULL;
    int rc = cdr_row_to_record(&rows[0], &tehran, &rec, err, errlen);
    json_decref(rec);
    cdr_row_free(&rows[0]);
    return rc;
}

static void rows_that_cannot_be_mapped(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(
        map_error("\"\",\"09121234567\",\"101\",\"from-internal\",\"x\"\n", err, sizeof(err)),
        CDR_EMAP);
    assert_non_null(strstr(err, "5 columns"));
    assert_int_equal(
        map_error("\"\",\"09121234567\",\"101\",\"c\",\"\",\"\",\"\",\"\",\"\",\"20/11/2026 "
                  "09:30\",\"\",\"\",0,0,\"FAILED\",\"D\"\n",
                  err, sizeof(err)),
        CDR_EMAP);
    assert_non_null(strstr(err, "start: \"20/11/2026 09:30\""));
    assert_int_equal(
        map_error("\"\",\"09121234567\",\"101\",\"c\",\"\",\"\",\"\",\"\",\"\",\"2026-02-30 "
                  "09:30:00\",\"\",\"\",0,0,\"FAILED\",\"D\"\n",
                  err, sizeof(err)),
        CDR_EMAP);
    assert_non_null(strstr(err, "start:"));
    assert_int_equal(
        map_error("\"\",\"09121234567\",\"101\",\"c\",\"\",\"\",\"\",\"\",\"\",\"2026-02-20 "
                  "09:30:00\",\"\",\"\",0,x1,\"FAILED\",\"D\"\n",
                  err, sizeof(err)),
        CDR_EMAP);
    assert_non_null(strstr(err, "billsec: \"x1\""));
    /* Inbound (dst is an extension) with no caller number: no customer, skipped. */
    assert_int_equal(map_error("\"\",\"\",\"101\",\"c\",\"\",\"\",\"\",\"\",\"\",\"2026-02-20 "
                               "09:30:00\",\"\",\"\",0,0,\"FAILED\",\"D\"\n",
                               err, sizeof(err)),
                     CDR_ANONYMOUS);
    assert_non_null(strstr(err, "src: empty"));
    /* A caller "number" with a byte that is no digit (here not even UTF-8) is no number:
     * named, not sent. */
    assert_int_equal(
        map_error("\"\",\"09\xff\",\"101\",\"c\",\"\",\"\",\"\",\"\",\"\",\"2026-02-20 "
                  "09:30:00\",\"\",\"\",0,0,\"FAILED\",\"D\"\n",
                  err, sizeof(err)),
        CDR_ANONYMOUS);
    assert_non_null(strstr(err, "src: \"09"));
}

static void malformed_csv_is_reported_and_skipped(void **state)
{
    (void)state;
    /* Line 2: text after a closing quote; line 3 is fine; line 4 opens a quote never closed. */
    const char *csv = "\"a\",\"b\"\n\"a\"x,\"b\"\n\"c\",\"d\"\n\"e\",\"never\nclosed\n";
    struct cdr_reader r;
    struct cdr_row row = {0};
    char err[256];
    cdr_reader_init(&r, csv, strlen(csv));
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_ROW);
    assert_int_equal(row.line, 1);
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_EPARSE);
    assert_int_equal(row.line, 2);
    assert_non_null(strstr(err, "field 1: text after the closing quote"));
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_ROW);
    assert_int_equal(row.line, 3);
    assert_string_equal(row.fields[1], "d");
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_EPARSE);
    assert_int_equal(row.line, 4);
    assert_non_null(strstr(err, "field 2: the quote opened on line 4 is never closed"));
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_END);
    /* Too many fields. */
    char wide[512] = "";
    for (int i = 0; i < CDR_MAX_FIELDS + 1; i++) {
        strcat(wide, "1,");
    }
    strcat(wide, "\n2\n");
    cdr_reader_init(&r, wide, strlen(wide));
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_EPARSE);
    assert_non_null(strstr(err, "more than"));
    assert_int_equal(cdr_reader_next(&r, &row, err, sizeof(err)), CDR_ROW);
    assert_int_equal(row.line, 2);
    cdr_row_free(&row);
}

/* Every prefix of every fixture (a file cut anywhere) reads and maps without a crash; under
 * the sanitizers, without reading out of bounds either. */
static void any_prefix_is_safe(void **state)
{
    (void)state;
    static const char *const names[] = {"Master.csv", "bad.csv", "quoting.csv", "freepbx.csv"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t len;
        char *buf = fixture(names[k], &len);
        for (size_t cut = 0; cut <= len; cut++) {
            /* An exact-size copy, so that reading past the cut is an overflow. */
            char *copy = malloc(cut > 0 ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, buf, cut);
            struct cdr_reader r;
            struct cdr_row row = {0};
            char err[256];
            cdr_reader_init(&r, copy, cut);
            int rc, rows = 0;
            while ((rc = cdr_reader_next(&r, &row, err, sizeof(err))) != CDR_END) {
                assert_true(rc == CDR_ROW || rc == CDR_EPARSE);
                assert_true(++rows < 100);
                if (rc == CDR_ROW) {
                    json_t *rec = NULL;
                    rc = cdr_row_to_record(&row, &tehran, &rec, err, sizeof(err));
                    assert_true(rc == CDR_ROW || rc == CDR_EMAP || rc == CDR_INTERNAL ||
                                rc == CDR_ANONYMOUS);
                    json_decref(rec);
                }
            }
            cdr_row_free(&row);
            free(copy);
        }
        free(buf);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_quoting_crlf_and_embedded_line_breaks),
        cmocka_unit_test(maps_an_inbound_call),
        cmocka_unit_test(maps_outbound_calls),
        cmocka_unit_test(inbound_context_pattern),
        cmocka_unit_test(freepbx_rows_with_the_defaults),
        cmocka_unit_test(missing_uniqueid_gets_a_stable_hash),
        cmocka_unit_test(seventeen_columns),
        cmocka_unit_test(local_time_zone),
        cmocka_unit_test(call_between_extensions_is_skipped),
        cmocka_unit_test(rows_that_cannot_be_mapped),
        cmocka_unit_test(malformed_csv_is_reported_and_skipped),
        cmocka_unit_test(any_prefix_is_safe),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
