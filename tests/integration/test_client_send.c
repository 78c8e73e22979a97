/*
 * The sending commands of the touchline client (log, import cdr, import mail) run as a user
 * would run them, against the real daemon: what they print, their exit status, and what the
 * daemon's HTTP API then shows on the customer's timeline.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/*
 * Runs `touchline ARGS` with the daemon's TCP port (no daemon: a port nobody listens on), its
 * stdin from the fixture named by input (or nothing), stdout and, when with_stderr, stderr in
 * *out. env is prepended ("TOUCHLINE_TOKEN=x" or ""). Returns the exit status.
 */
static int run(const struct harness_daemon *d, const char *env, const char *args, const char *input,
               bool with_stderr, char **out)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    const char *fixtures = getenv("TOUCHLINE_TEST_FIXTURES");
    assert_non_null(bin);
    assert_non_null(fixtures);
    char in[1024] = "< /dev/null";
    if (input != NULL) {
        snprintf(in, sizeof(in), "< '%s/%s'", fixtures, input);
    }
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "cd '%s' && TZ=UTC TOUCHLINE_TCP=127.0.0.1:%d %s %s %s %s %s",
             fixtures, d != NULL ? d->tcp_port : 1, env, bin, args, in,
             with_stderr ? "2>&1" : "2>/dev/null");
    return harness_run(cmd, out);
}

/* run(), which must exit with status; otherwise the test fails showing what was printed. */
static void expect_run(int status, const struct harness_daemon *d, const char *env,
                       const char *args, const char *input, bool with_stderr, char **out)
{
    int got = run(d, env, args, input, with_stderr, out);
    if (got != status) {
        fail_msg("touchline %s: exit %d, not %d; it printed:\n%s", args, got, status, *out);
    }
}

static void expect_in(const char *out, const char *text)
{
    if (strstr(out, text) == NULL) {
        fail_msg("expected \"%s\" in:\n%s", text, out);
    }
}

/* The Authorization header for daemons started with AUTH_ENV. */
#define AUTH_HEADER "Authorization: Bearer pbx-secret-1\r\n"

/* GET path from the daemon's HTTP API (with headers, or NULL), which must answer 200 with
 * JSON. */
static json_t *get(const struct harness_daemon *d, const char *path, const char *headers)
{
    char *body = NULL;
    int status = harness_http(d->http_port, "GET", path, NULL, headers, &body);
    if (status != 200) {
        fail_msg("GET %s: %d %s", path, status, body != NULL ? body : "");
    }
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    if (j == NULL) {
        fail_msg("GET %s: not JSON: %s", path, body);
    }
    free(body);
    return j;
}

/* The timeline items of the customer found by query ("phone=%2B98..."), newest first;
 * *customer gets the profile. headers as for get. */
static json_t *timeline_of(const struct harness_daemon *d, const char *query, json_t **customer,
                           const char *headers)
{
    char path[512];
    snprintf(path, sizeof(path), "/v1/customers?%s", query);
    *customer = get(d, path, headers);
    const char *id = json_string_value(json_object_get(*customer, "id"));
    assert_non_null(id);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", id);
    json_t *page = get(d, path, headers);
    json_t *items = json_incref(json_object_get(page, "items"));
    json_decref(page);
    assert_true(json_is_array(items));
    return items;
}

static const char *field(const json_t *item, const char *key)
{
    const char *s = json_string_value(json_object_get(item, key));
    if (s == NULL) {
        fail_msg("no %s in %s", key, json_dumps(item, JSON_COMPACT));
    }
    return s;
}

static void log_then_visible_on_the_timeline(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_log", NULL);
    char *out = NULL;
    /* Persian digits, two identifiers of one person, every kind of option. */
    expect_run(0, &d, "",
               "log --channel phone --phone '۰۹۱۲ ۳۴۵ ۶۷۸۹' --email Sara.Karimi@example.com "
               "--summary 'asked about the warranty' --subject 'warranty' --direction inbound "
               "--status answered --duration 95 --agent reza --stage pre_purchase --sentiment "
               "positive --score 9 --tag warranty --tag vip --name 'سارا کریمی' --external-id "
               "call-1 --thread T-42 --occurred-at 2026-11-20T08:00:00+03:30 --format text",
               NULL, true, &out);
    assert_int_equal(strncmp(out, "stored ", 7), 0);
    expect_in(out, " for customer ");
    free(out);

    json_t *customer = NULL;
    json_t *items = timeline_of(&d, "phone=%2B989123456789", &customer, NULL);
    assert_string_equal(field(customer, "name"), "سارا کریمی");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_string_equal(field(it, "body"), "asked about the warranty");
    assert_string_equal(field(it, "source"), "touchline-cli");
    assert_string_equal(field(it, "external_id"), "call-1");
    assert_string_equal(field(it, "channel"), "phone");
    assert_string_equal(field(it, "status"), "answered");
    assert_string_equal(field(it, "agent"), "reza");
    assert_string_equal(field(it, "thread"), "T-42");
    assert_string_equal(field(it, "occurred_at"), "2026-11-20T04:30:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(it, "duration_s")), 95);
    assert_int_equal(json_integer_value(json_object_get(it, "score")), 9);
    assert_int_equal(json_array_size(json_object_get(it, "tags")), 2);
    json_decref(items);
    json_decref(customer);

    /* The same external id again: a duplicate, exit 0; as JSON, the daemon's answer. */
    expect_run(0, &d, "",
               "log --channel phone --phone 09123456789 --summary again "
               "--external-id call-1 --format json",
               NULL, false, &out);
    json_t *ans = json_loads(out, 0, NULL);
    assert_non_null(ans);
    assert_true(json_is_true(json_object_get(ans, "ok")));
    assert_true(json_is_true(json_object_get(ans, "duplicate")));
    json_decref(ans);
    free(out);
    expect_run(0, &d, "",
               "log --channel phone --phone 09123456789 --summary again "
               "--external-id call-1 --format text",
               NULL, false, &out);
    expect_in(out, "duplicate: already stored as ");
    free(out);

    /* Without --occurred-at the record happened now: it is the newest. */
    expect_run(0, &d, "", "log --channel sms --phone 09123456789 --summary 'now'", NULL, false,
               &out);
    free(out);
    items = timeline_of(&d, "email=sara.karimi%40example.com", &customer, NULL);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(field(json_array_get(items, 0), "body"), "now");
    assert_string_equal(field(json_array_get(items, 0), "source"), "touchline-cli");
    json_decref(items);
    json_decref(customer);
    assert_int_equal(harness_stop(&d), 0);
}

static const char *const AUTH_ENV[] = {
    "TOUCHLINE_AUTH_TOKENS=pbx:pbx-secret-1:asterisk-*|mail|touchline-cli", NULL};

static void log_exit_codes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_log_exit", AUTH_ENV);
    char *out = NULL;
    const char *ok = "log --channel phone --phone 09123456789 --summary hi";
    /* Usage: exit 2, naming what is wrong. */
    expect_run(2, &d, "", "log --channel phone --phone 09123456789", NULL, true, &out);
    expect_in(out, "--summary");
    free(out);
    expect_run(2, &d, "", "log --channel phone --summary hi", NULL, true, &out);
    expect_in(out, "--phone, --email");
    free(out);
    expect_run(2, &d, "", "log --frobnicate", NULL, true, &out);
    expect_in(out, "unknown option --frobnicate");
    free(out);
    expect_run(2, &d, "", "log --score abc", NULL, true, &out);
    expect_in(out, "--score: \"abc\" is not a whole number");
    free(out);
    expect_run(2, &d, "", "log --format xml", NULL, true, &out);
    expect_in(out, "--format");
    free(out);
    expect_run(0, &d, "", "log --help", NULL, false, &out);
    expect_in(out, "Usage: touchline log");
    free(out);
    /* Checked before sending: the validator's own message. */
    expect_run(2, &d, "TOUCHLINE_TOKEN=pbx-secret-1",
               "log --channel phone --phone 09123456789 "
               "--summary hi --score 11",
               NULL, true, &out);
    expect_in(out, "score: 11 is out of range 0-10");
    free(out);
    /* Refused by the daemon as invalid: its message, exit 2. */
    expect_run(2, &d, "TOUCHLINE_TOKEN=pbx-secret-1", "log --channel phone --phone 12 --summary hi",
               NULL, true, &out);
    expect_in(out, "invalid_record: customer.phone");
    free(out);
    /* No token, a wrong one, a source the token may not write: exit 3. */
    expect_run(3, &d, "", ok, NULL, true, &out);
    expect_in(out, "unauthorized");
    expect_in(out, "--token");
    free(out);
    expect_run(3, &d, "",
               "log --token wrong-token --channel phone --phone 09123456789 "
               "--summary hi",
               NULL, true, &out);
    expect_in(out, "unauthorized");
    free(out);
    expect_run(3, &d, "TOUCHLINE_TOKEN=pbx-secret-1",
               "log --channel phone --phone 09123456789 --summary hi --source twilio", NULL, true,
               &out);
    expect_in(out, "forbidden");
    free(out);
    /* The token from the environment, or from the global option. */
    expect_run(0, &d, "TOUCHLINE_TOKEN=pbx-secret-1", ok, NULL, true, &out);
    expect_in(out, "\"ok\":true");
    free(out);
    expect_run(0, &d, "",
               "--token pbx-secret-1 log --channel phone --phone 09123456789 "
               "--summary hi --format text",
               NULL, true, &out);
    expect_in(out, "stored ");
    free(out);
    expect_run(2, &d, "TOUCHLINE_TOKEN=pbx-secret-1",
               "log --tcp nowhere --channel phone "
               "--phone 09123456789 --summary hi",
               NULL, true, &out);
    expect_in(out, "host:port");
    free(out);
    assert_int_equal(harness_stop(&d), 0);
    /* Nobody listening: a network error. */
    expect_run(3, &d, "TOUCHLINE_TOKEN=pbx-secret-1", ok, NULL, true, &out);
    expect_in(out, "connect to 127.0.0.1:");
    free(out);
}

static void import_cdr_then_reimport(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_cdr", NULL);
    char *out = NULL;
    const char *args = "import cdr cdr/Master.csv --source asterisk-tehran-1 --tz-offset +03:30 "
                       "--inbound-context '^from-(trunk|pstn)$'";
    expect_run(0, &d, "", args, NULL, true, &out);
    assert_string_equal(out, "5 stored, 0 duplicate, 0 rejected\n");
    free(out);
    /* Again: nothing is stored twice. */
    expect_run(0, &d, "", args, NULL, true, &out);
    assert_string_equal(out, "0 stored, 5 duplicate, 0 rejected\n");
    free(out);

    /* Sara called in (answered) and was called back (busy). */
    json_t *customer = NULL;
    json_t *items = timeline_of(&d, "phone=%2B989121234567", &customer, NULL);
    assert_string_equal(field(customer, "name"), "Sara Karimi");
    assert_int_equal(json_array_size(items), 2);
    json_t *busy = json_array_get(items, 0), *answered = json_array_get(items, 1);
    assert_string_equal(field(busy, "direction"), "outbound");
    assert_string_equal(field(busy, "status"), "busy");
    assert_string_equal(field(busy, "agent"), "103");
    assert_string_equal(field(answered, "direction"), "inbound");
    assert_string_equal(field(answered, "status"), "answered");
    assert_string_equal(field(answered, "agent"), "101");
    assert_string_equal(field(answered, "external_id"), "1763537502.118");
    assert_string_equal(field(answered, "source"), "asterisk-tehran-1");
    assert_string_equal(field(answered, "occurred_at"), "2026-11-19T06:31:42.000000Z");
    assert_int_equal(json_integer_value(json_object_get(answered, "duration_s")), 214);
    json_decref(items);
    json_decref(customer);
    /* Through the trunk context: inbound, the caller is the customer. */
    items = timeline_of(&d, "phone=%2B989125556677", &customer, NULL);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(field(json_array_get(items, 0), "direction"), "inbound");
    assert_string_equal(field(json_array_get(items, 0), "agent"), "104");
    json_decref(items);
    json_decref(customer);
    /* The outbound call to Riyadh. */
    items = timeline_of(&d, "phone=%2B966501234567", &customer, NULL);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(field(json_array_get(items, 0), "direction"), "outbound");
    json_decref(items);
    json_decref(customer);

    expect_run(2, &d, "", "import cdr no-such-file.csv", NULL, true, &out);
    expect_in(out, "no-such-file.csv");
    free(out);
    expect_run(2, &d, "", "import cdr", NULL, true, &out);
    expect_in(out, "which file");
    free(out);
    expect_run(2, &d, "", "import cdr x.csv --tz-offset 3", NULL, true, &out);
    expect_in(out, "--tz-offset");
    free(out);
    expect_run(0, &d, "", "import cdr --help", NULL, false, &out);
    expect_in(out, "Usage: touchline import cdr FILE");
    expect_in(out, "inbound");
    free(out);
    expect_run(2, &d, "", "import", NULL, true, &out);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

static void import_cdr_rejections_name_their_lines(void **state)
{
    (void)state;
    struct harness_daemon d;
    /* With auth on, the daemon's line 1 is the auth line: the mapping back must allow it. */
    harness_start(&d, "send_cdr_bad", AUTH_ENV);
    char *out = NULL;
    expect_run(2, &d, "TOUCHLINE_TOKEN=pbx-secret-1",
               "import cdr cdr/bad.csv --source asterisk-tehran-1", NULL, false, &out);
    assert_string_equal(out, "1 stored, 0 duplicate, 2 rejected, 1 skipped (calls between "
                             "extensions), 1 skipped (the caller withheld the number)\n");
    free(out);
    expect_run(2, &d, "TOUCHLINE_TOKEN=pbx-secret-1",
               "import cdr cdr/bad.csv --source asterisk-tehran-1", NULL, true, &out);
    expect_in(out, "line 2: 5 columns");
    expect_in(out, "line 3: start: \"20/11/2026 09:30\"");
    expect_in(out, "0 stored, 1 duplicate, 2 rejected");
    /* A withheld caller is counted, not named line by line (a year of CDRs has thousands). */
    assert_null(strstr(out, "line 4"));
    free(out);
    /* The row without a uniqueid was stored under a hash of the row; its userfield kept. */
    json_t *customer = NULL;
    json_t *items = timeline_of(&d, "phone=%2B989127778899", &customer, AUTH_HEADER);
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(strncmp(field(json_array_get(items, 0), "external_id"), "row-", 4), 0);
    json_decref(items);
    json_decref(customer);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Thousands of rows over one connection, the daemon holding back after a few dozen unanswered
 * lines: the client must keep reading answers while it writes (a client that only wrote would
 * stall), and map every answer back to its row.
 */
static void import_cdr_pipelines_a_large_file(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_INGEST_MAX_INFLIGHT_PER_CONNECTION=64", NULL};
    struct harness_daemon d;
    harness_start(&d, "send_cdr_big", env);
    const char *tmp = harness_tmp_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/touchline-big-%d.csv", tmp, (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    enum { ROWS = 6000 };
    for (int i = 0; i < ROWS; i++) {
        /* Every thousandth row, from row 501 on, has a withheld caller number. */
        char src[32];
        if (i % 1000 == 500) {
            snprintf(src, sizeof(src), "anonymous");
        } else {
            snprintf(src, sizeof(src), "0912%07d", i);
        }
        fprintf(
            f,
            "\"\",\"%s\",\"%d\",\"from-internal\",\"\"\"Caller %d\"\" <%s>\",\"SIP/trunk-%08x\","
            "\"SIP/%d-%08x\",\"Dial\",\"SIP/%d,30\",\"2026-11-21 %02d:%02d:%02d\",\"\",\"\",%d,%d,"
            "\"ANSWERED\",\"DOCUMENTATION\",\"1763700000.%d\",\"\"\n",
            src, 100 + i % 50, i, src, (unsigned)i, 100 + i % 50, (unsigned)i, 100 + i % 50,
            i / 3600 % 24, i / 60 % 60, i % 60, 30 + i % 100, 20 + i % 100, i);
    }
    assert_int_equal(fclose(f), 0);
    char args[1024], *out = NULL;
    snprintf(args, sizeof(args), "import cdr '%s' --tz-offset +03:30", path);
    expect_run(0, &d, "", args, NULL, true, &out);
    assert_string_equal(out,
                        "5994 stored, 0 duplicate, 0 rejected, 6 skipped (the caller withheld the "
                        "number)\n");
    free(out);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 5994);
    PQfinish(pg);
    unlink(path);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * A stock FreePBX Master.csv imported with no option at all: IVR and queue calls are inbound
 * from the caller, the queue member who answered is the agent, withheld callers are skipped
 * with a count and the run succeeds.
 */
static void import_cdr_freepbx_defaults(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_cdr_freepbx", NULL);
    char *out = NULL;
    expect_run(0, &d, "", "import cdr cdr/freepbx.csv --tz-offset +03:30", NULL, true, &out);
    assert_string_equal(out, "9 stored, 0 duplicate, 0 rejected, 1 skipped (calls between "
                             "extensions), 3 skipped (the caller withheld the number)\n");
    free(out);
    json_t *customer = NULL;
    json_t *items = timeline_of(&d, "phone=%2B989351112233", &customer, NULL);
    assert_string_equal(field(customer, "name"), "علی رضایی");
    assert_int_equal(json_array_size(items), 2);
    /* Newest first: the missed queue call, then the one member 2001 answered. */
    assert_string_equal(field(json_array_get(items, 0), "status"), "missed");
    assert_string_equal(field(json_array_get(items, 1), "status"), "answered");
    assert_string_equal(field(json_array_get(items, 1), "agent"), "2001");
    assert_string_equal(field(json_array_get(items, 1), "direction"), "inbound");
    json_decref(items);
    json_decref(customer);
    /* Sara's two IVR calls came in; nobody called a customer named "s". */
    items = timeline_of(&d, "phone=%2B989121234567", &customer, NULL);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(field(json_array_get(items, 0), "direction"), "inbound");
    assert_string_equal(field(json_array_get(items, 1), "direction"), "inbound");
    json_decref(items);
    json_decref(customer);
    char *body = NULL;
    assert_int_equal(
        harness_http(d.http_port, "GET", "/v1/customers?phone=s", NULL, NULL, &body) / 100, 4);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

static void import_mail_stores_the_decoded_message(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_mail", NULL);
    char *out = NULL;
    expect_run(0, &d, "", "import mail --source mail-gw --format text",
               "mail/persian-alternative.eml", true, &out);
    assert_int_equal(strncmp(out, "stored ", 7), 0);
    free(out);
    json_t *customer = get(&d, "/v1/customers?email=sara.karimi%40example.com", NULL);
    assert_string_equal(field(customer, "name"), "سارا کریمی");
    json_decref(customer);
    /* The reply, sent by the shop: the customer is its first recipient. */
    expect_run(0, &d, "", "import mail --source mail-gw --direction outbound",
               "mail/outbound-reply.eml", true, &out);
    expect_in(out, "\"ok\":true");
    free(out);
    json_t *items = timeline_of(&d, "email=sara.karimi%40example.com", &customer, NULL);
    /* The name the newest message gave her (in the reply's To). */
    assert_string_equal(field(customer, "name"), "Sara Karimi");
    assert_int_equal(json_array_size(items), 2);
    json_t *reply = json_array_get(items, 0), *first = json_array_get(items, 1);
    assert_string_equal(field(first, "subject"), "سوال درباره گارانتی پلوپز");
    assert_string_equal(field(first, "body"), "سلام،\nگارانتی پلوپز X2 چند ساله است؟\nممنون\nسارا");
    assert_string_equal(field(first, "channel"), "email");
    assert_string_equal(field(first, "direction"), "inbound");
    assert_string_equal(field(first, "external_id"), "<CAF3k2-persian@mail.example.com>");
    assert_string_equal(field(first, "occurred_at"), "2026-11-18T05:45:00.000000Z");
    assert_string_equal(field(reply, "direction"), "outbound");
    assert_string_equal(field(reply, "agent"), "reza@shop.example.ir");
    assert_string_equal(field(reply, "subject"), "Re: سوال about the warranty");
    json_decref(items);
    json_decref(customer);

    /* Again: a duplicate. */
    expect_run(0, &d, "", "import mail --source mail-gw --format text",
               "mail/persian-alternative.eml", true, &out);
    expect_in(out, "duplicate: already stored as ");
    free(out);
    /* A message that cannot be a record: exit 2, naming the header. */
    expect_run(2, &d, "", "import mail", "mail/no-message-id.eml", true, &out);
    expect_in(out, "Message-ID: missing");
    free(out);
    expect_run(2, &d, "", "import mail --direction sideways", NULL, true, &out);
    expect_in(out, "--direction");
    free(out);
    expect_run(0, &d, "", "import mail --help", NULL, false, &out);
    expect_in(out, "Usage: touchline import mail");
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * A whole Maildir (new/ and cur/, as Postfix or Dovecot deliver it), the company's domain
 * setting each message's direction: HTML-only mail in windows-1256 stored as its text, KOI8-R
 * and Latin-1 decoded, mail within the company skipped and counted, the one message without
 * a Message-ID named by its file; imported again, every message is a duplicate.
 */
static void import_maildir_once_each(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_maildir", NULL);
    char *out = NULL;
    const char *args = "import mail --maildir maildir --source mail-gw --company-domain "
                       "shop.example.ir";
    expect_run(2, &d, "", args, NULL, false, &out);
    assert_string_equal(out, "5 stored, 0 duplicate, 1 rejected, 1 skipped (within the company)\n");
    free(out);
    expect_run(2, &d, "", args, NULL, true, &out);
    expect_in(out, "maildir/new/1763720100.M107P2207.mx1: Message-ID: missing");
    expect_in(out, "0 stored, 5 duplicate, 1 rejected, 1 skipped (within the company)\n");
    free(out);
    /* The same through the environment, as a service's unit would set it. */
    expect_run(2, &d, "TOUCHLINE_COMPANY_DOMAINS=example.org,shop.example.ir",
               "import mail --maildir maildir --source mail-gw", NULL, false, &out);
    assert_string_equal(out, "0 stored, 5 duplicate, 1 rejected, 1 skipped (within the company)\n");
    free(out);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 5);
    PQfinish(pg);

    /* The HTML-only question and the shop's answer, on one timeline, one thread. */
    json_t *customer = NULL;
    json_t *items = timeline_of(&d, "email=m.rezaei%40example.com", &customer, NULL);
    assert_int_equal(json_array_size(items), 2);
    json_t *answer = json_array_get(items, 0), *question = json_array_get(items, 1);
    assert_string_equal(field(question, "direction"), "inbound");
    assert_string_equal(field(question, "subject"), "پيگيري سفارش");
    expect_in(field(question, "body"), "سفارش شماره ۵۵۱۲۰ هنوز نرسيده است.");
    assert_null(strstr(field(question, "body"), "color"));
    assert_string_equal(field(answer, "direction"), "outbound");
    assert_string_equal(field(answer, "agent"), "support@shop.example.ir");
    assert_string_equal(field(answer, "thread"), field(question, "thread"));
    json_decref(items);
    json_decref(customer);
    items = timeline_of(&d, "email=jose%40example.ru", &customer, NULL);
    assert_string_equal(field(customer, "name"), "José Pérez");
    assert_string_equal(field(json_array_get(items, 0), "body"),
                        "Здравствуйте, заказ 4410 пришёл повреждённым.");
    json_decref(items);
    json_decref(customer);

    expect_run(2, &d, "", "import mail --maildir no-such-dir", NULL, true, &out);
    expect_in(out, "no-such-dir/new");
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Runs `touchline ARGS` (split on spaces) on a pseudo-terminal: stdout and stderr are the
 * terminal, as for a user at a shell. Returns all it wrote (the caller frees it); the exit
 * status goes to *status.
 */
static char *run_on_terminal(const struct harness_daemon *d, const char *args, int *status)
{
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", d->tcp_port);
    static const char *const env[] = {"TERM=xterm", NULL};
    char *argv[16] = {getenv("TOUCHLINE_TEST_CLIENT")};
    int n = 1;
    char *copy = strdup(args);
    assert_non_null(copy);
    for (char *tok = strtok(copy, " "); tok != NULL && n < 13; tok = strtok(NULL, " ")) {
        argv[n++] = tok;
    }
    argv[n++] = "--tcp";
    argv[n++] = tcp;
    argv[n] = NULL;
    char *out = harness_run_on_terminal(argv, env, 120, status);
    free(copy);
    return out;
}

/*
 * A long import on a terminal shows its progress on one line redrawn in place, which is
 * erased at the end so that the summary is what stays; through a pipe nothing of it shows.
 */
static void import_progress_on_a_terminal(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "send_progress", NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/touchline-progress-%d.csv", harness_tmp_dir(), (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    enum { ROWS = 3000 };
    for (int i = 0; i < ROWS; i++) {
        fprintf(f,
                "\"\",\"0912%07d\",\"s\",\"from-pstn\",\"\",\"PJSIP/trunk-%08x\",\"\",\"Hangup\","
                "\"\",\"2026-11-21 %02d:%02d:%02d\",\"\",\"\",5,0,\"NO ANSWER\",\"DOCUMENTATION\","
                "\"1763900000.%d\",\"\"\n",
                i, (unsigned)i, i / 3600 % 24, i / 60 % 60, i % 60, i);
    }
    assert_int_equal(fclose(f), 0);
    char args[600];
    snprintf(args, sizeof(args), "import cdr %s --tz-offset +03:30", path);
    int st;
    char *out = run_on_terminal(&d, args, &st);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The last drawing has every count, the share done; then the line is erased. */
    const char *last = "\r3000 sent";
    char *at = strstr(out, last);
    if (at == NULL || strstr(at, ": 3000 stored, 0 duplicate, 0 rejected; 100%\033[K") == NULL ||
        strstr(at, "\r\033[K3000 stored, 0 duplicate, 0 rejected\r\n") == NULL) {
        fail_msg("no progress line, or not erased before the summary, in:\n%s", out);
    }
    free(out);
    /* Again through a pipe (both streams): the summary alone. */
    snprintf(args, sizeof(args), "import cdr '%s' --tz-offset +03:30", path);
    expect_run(0, &d, "", args, NULL, true, &out);
    assert_string_equal(out, "0 stored, 3000 duplicate, 0 rejected\n");
    free(out);
    unlink(path);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_then_visible_on_the_timeline),
        cmocka_unit_test(log_exit_codes),
        cmocka_unit_test(import_cdr_then_reimport),
        cmocka_unit_test(import_cdr_rejections_name_their_lines),
        cmocka_unit_test(import_cdr_pipelines_a_large_file),
        cmocka_unit_test(import_cdr_freepbx_defaults),
        cmocka_unit_test(import_maildir_once_each),
        cmocka_unit_test(import_progress_on_a_terminal),
        cmocka_unit_test(import_mail_stores_the_decoded_message),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
