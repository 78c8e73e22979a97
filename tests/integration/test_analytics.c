/*
 * Touchpoint analytics (docs/analytics.md, sql/009_analytics.sql, daemon/analytics.c) against
 * the real daemon and PostgreSQL: each definition on a hand-built timeline sent over TCP, with
 * merges in the middle and records arriving out of time order, then read as a user reads it
 * (GET /v1/stats, /v1/missed, /v1/customers/{id}/journey and /context).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "testmain.h"

#define UUID_LEN 36

/* One record line: external id, channel, direction, occurred_at, customer object, and any
 * further members (",\"status\":\"missed\"" …) as JSON text. */
static void rec(char **buf, const char *ext, const char *channel, const char *direction,
                const char *at, const char *customer, const char *more)
{
    char line[1024];
    snprintf(line, sizeof(line),
             "{\"source\":\"t\",\"external_id\":\"%s\",\"channel\":\"%s\",\"direction\":\"%s\","
             "\"occurred_at\":\"%s\",\"customer\":%s%s}\n",
             ext, channel, direction, at, customer, more != NULL ? more : "");
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    char *n = realloc(*buf, old + strlen(line) + 1);
    assert_non_null(n);
    memcpy(n + old, line, strlen(line) + 1);
    *buf = n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Sends every line of data; copies the customer of each into cust (may be NULL). */
static void send_all(const struct harness_daemon *d, char *data, char (*cust)[UUID_LEN + 1])
{
    harness_ingest(d, NULL, data, count_lines(data), NULL, cust);
    free(data);
}

/* The value at a path of member names ("missed_calls.callback_s.p50") in j, borrowed. */
static json_t *at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k != NULL && j != NULL;
         k = strtok_r(NULL, ".", &save)) {
        j = json_object_get(j, k);
    }
    return j;
}

static void expect_int(json_t *j, const char *path, long long want)
{
    json_t *v = at(j, path);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        char shown[128];
        snprintf(shown, sizeof(shown), "%s", t != NULL ? t : "(missing)");
        free(t);
        fail_msg("%s: got %s, wanted %lld", path, shown, want);
    }
}

static void expect_real(json_t *j, const char *path, double want)
{
    json_t *v = at(j, path);
    if (!json_is_number(v) || json_number_value(v) < want - 1e-9 ||
        json_number_value(v) > want + 1e-9) {
        fail_msg("%s: got %g, wanted %g", path, json_is_number(v) ? json_number_value(v) : -1.0,
                 want);
    }
}

static void expect_null(json_t *j, const char *path)
{
    json_t *v = at(j, path);
    if (!json_is_null(v)) {
        fail_msg("%s: wanted null", path);
    }
}

static void expect_str(json_t *j, const char *path, const char *want)
{
    const char *v = json_string_value(at(j, path));
    if (v == NULL || strcmp(v, want) != 0) {
        fail_msg("%s: got %s, wanted %s", path, v != NULL ? v : "(missing)", want);
    }
}

/* GET path (printf-style), 200, the JSON answer. */
static json_t *get(const struct harness_daemon *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *get(const struct harness_daemon *d, const char *fmt, ...)
{
    char path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return harness_http_json(d, "GET", path, NULL, NULL, 200);
}

/* The group whose key is key ("null" for JSON null) in a stats answer. */
static json_t *group(json_t *stats, const char *key)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(stats, "groups"), i, g)
    {
        json_t *k = json_object_get(g, "key");
        if ((json_is_null(k) && strcmp(key, "null") == 0) ||
            (json_is_string(k) && strcmp(json_string_value(k), key) == 0)) {
            return g;
        }
    }
    fail_msg("no group %s", key);
    return NULL;
}

#define DAY "since=2026-11-02T00:00:00Z&until=2026-11-03T00:00:00Z"

static const char X_PHONE[] = "{\"phone\":\"09120000001\"}";
static const char X_EMAIL[] = "{\"email\":\"x@example.com\"}";
static const char X_BOTH[] = "{\"phone\":\"09120000001\",\"email\":\"x@example.com\"}";
static const char Z_PHONE[] = "{\"phone\":\"09120000002\"}";
static const char Z_EMAIL[] = "{\"phone\":\"09120000002\",\"email\":\"z@example.com\"}";
static const char W_PHONE[] = "{\"phone\":\"09120000003\"}";

/*
 * X misses a call at 08:00; an agent e-mails x@example.com at 08:30, which is a customer of
 * its own until a web visit at 09:00 carries both identifiers and merges them: the call was
 * answered by that e-mail, 1800 s later. Z misses a call at 08:05 and is never reached (but
 * writes an e-mail at 09:10). W misses a call at 10:00 and gets an SMS at 10:10, which
 * arrives before the call's own record.
 */
static void missed_calls_data(const struct harness_daemon *d, char (*cust)[UUID_LEN + 1])
{
    char *b = NULL;
    rec(&b, "m1", "phone", "inbound", "2026-11-02T08:00:00Z", X_PHONE, ",\"status\":\"missed\"");
    rec(&b, "m2", "email", "outbound", "2026-11-02T08:30:00Z", X_EMAIL,
        ",\"status\":\"sent\",\"agent\":\"maryam\"");
    rec(&b, "m3", "phone", "inbound", "2026-11-02T08:05:00Z", Z_PHONE, ",\"status\":\"busy\"");
    rec(&b, "m4", "sms", "outbound", "2026-11-02T10:10:00Z", W_PHONE, ",\"status\":\"sent\"");
    rec(&b, "m5", "phone", "inbound", "2026-11-02T10:00:00Z", W_PHONE, ",\"status\":\"failed\"");
    send_all(d, b, cust);
    /* Until now X's phone and e-mail are two customers. */
    assert_string_not_equal(cust[0], cust[1]);
    b = NULL;
    rec(&b, "m6", "web", "inbound", "2026-11-02T09:00:00Z", X_BOTH, NULL);
    rec(&b, "m7", "email", "inbound", "2026-11-02T09:10:00Z", Z_EMAIL,
        ",\"subject\":\"call me back\"");
    send_all(d, b, cust + 5);
}

static void missed_calls_and_callback_time(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_missed", NULL);
    char cust[7][UUID_LEN + 1];
    missed_calls_data(&d, cust);

    json_t *s = get(&d, "/v1/stats?" DAY);
    expect_int(s, "callback_sla_s", 3600);
    expect_int(s, "totals.interactions", 7);
    expect_int(s, "totals.missed_calls.total", 3);
    expect_int(s, "totals.missed_calls.reached", 2);
    expect_int(s, "totals.missed_calls.open", 1);
    expect_int(s, "totals.missed_calls.breached", 1);
    expect_int(s, "totals.missed_calls.reached_late", 0);
    expect_real(s, "totals.missed_calls.callback_s.mean", 1200);
    expect_int(s, "totals.missed_calls.callback_s.p50", 600);
    expect_int(s, "totals.missed_calls.callback_s.p90", 1800);
    expect_int(s, "totals.missed_calls.callback_s.max", 1800);
    expect_str(s, "since", "2026-11-02T00:00:00.000000Z");
    expect_str(s, "until", "2026-11-03T00:00:00.000000Z");
    assert_int_equal(json_array_size(json_object_get(s, "groups")), 0);
    json_decref(s);

    /* By source: every record is from "t"; by agent: the missed calls have none. */
    s = get(&d, "/v1/stats?" DAY "&by=agent");
    expect_int(group(s, "null"), "missed_calls.total", 3);
    expect_int(group(s, "maryam"), "missed_calls.total", 0);
    expect_int(group(s, "maryam"), "interactions", 1);
    json_decref(s);

    /* A range that holds only W's call and not the SMS that answered it still sees it
     * answered: reaches are looked for after until too. */
    s = get(&d, "/v1/stats?since=2026-11-02T09:30:00Z&until=2026-11-02T10:05:00Z");
    expect_int(s, "totals.missed_calls.total", 1);
    expect_int(s, "totals.missed_calls.reached", 1);
    expect_int(s, "totals.missed_calls.callback_s.max", 600);
    json_decref(s);

    /* A shorter SLA makes the e-mailed call-back late. */
    harness_stop(&d);
    const char *env[] = {"TOUCHLINE_ANALYTICS_CALLBACK_SLA=20m", NULL};
    harness_restart(&d, env);
    s = get(&d, "/v1/stats?" DAY);
    expect_int(s, "callback_sla_s", 1200);
    expect_int(s, "totals.missed_calls.reached_late", 1);
    json_decref(s);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * The figures are kept as facts brought up to date when asked for: records that arrive after
 * a first answer, a merge, and an erasure each change the next answer.
 */
static void figures_follow_late_records_merges_and_erasure(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_follow", NULL);
    char *b = NULL;
    rec(&b, "a1", "phone", "inbound", "2026-11-02T08:00:00Z", X_PHONE, ",\"status\":\"missed\"");
    rec(&b, "a2", "email", "outbound", "2026-11-02T08:30:00Z", X_EMAIL, NULL);
    rec(&b, "a3", "phone", "inbound", "2026-11-02T08:05:00Z", Z_PHONE, ",\"status\":\"busy\"");
    char cust[3][UUID_LEN + 1];
    send_all(&d, b, cust);
    json_t *s = get(&d, "/v1/stats?" DAY);
    expect_int(s, "totals.missed_calls.total", 2);
    expect_int(s, "totals.missed_calls.reached", 0);
    expect_int(s, "totals.interactions", 3);
    json_decref(s);

    /* X's phone and e-mail turn out to be one person: the e-mail reached the call. */
    b = NULL;
    rec(&b, "a4", "web", "inbound", "2026-11-02T12:00:00Z", X_BOTH, NULL);
    send_all(&d, b, NULL);
    s = get(&d, "/v1/stats?" DAY);
    expect_int(s, "totals.missed_calls.reached", 1);
    expect_int(s, "totals.missed_calls.callback_s.max", 1800);
    expect_int(s, "totals.interactions", 4);
    json_decref(s);

    /* An SMS to Z that happened at 08:06 arrives only now. */
    b = NULL;
    rec(&b, "a5", "sms", "outbound", "2026-11-02T08:06:00Z", Z_PHONE, NULL);
    send_all(&d, b, NULL);
    /* This time all the facts are computed again, as after a pause with much to catch up:
     * the figures are the same as the step by step way gives. */
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT touchline.analytics_refresh(0)"), 1);
    PQfinish(pg);
    s = get(&d, "/v1/stats?" DAY);
    expect_int(s, "totals.missed_calls.reached", 2);
    expect_int(s, "totals.missed_calls.open", 0);
    expect_int(s, "totals.missed_calls.callback_s.p50", 60);
    json_decref(s);

    /* Erasing Z takes their records out of the figures. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", cust[2]);
    json_t *e = harness_http_json(&d, "DELETE", path, NULL, NULL, 200);
    json_decref(e);
    s = get(&d, "/v1/stats?" DAY "&by=channel");
    expect_int(s, "totals.missed_calls.total", 1);
    expect_int(s, "totals.interactions", 3);
    assert_int_equal(json_array_size(json_object_get(s, "groups")), 3);
    expect_int(group(s, "phone"), "interactions", 1);
    json_decref(s);
    assert_int_equal(harness_stop(&d), 0);
}

static void missed_worklist(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_worklist", NULL);
    char cust[7][UUID_LEN + 1];
    missed_calls_data(&d, cust);
    /* X's survivor: the id answered for X's first record, or the one it was merged into. */
    json_t *x = get(&d, "/v1/customers/%s", cust[1]);
    snprintf(cust[0], sizeof(cust[0]), "%s", json_string_value(json_object_get(x, "id")));
    json_decref(x);

    json_t *m = get(&d, "/v1/missed?open=true&" DAY);
    json_t *items = json_object_get(m, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *z = json_array_get(items, 0);
    expect_str(z, "customer_id", cust[2]);
    assert_string_equal(json_string_value(json_array_get(json_object_get(z, "phones"), 0)),
                        "+989120000002");
    expect_int(z, "missed_calls", 1);
    expect_int(z, "open", 1);
    assert_true(json_is_true(json_object_get(z, "breached")));
    expect_str(z, "first_missed_at", "2026-11-02T08:05:00.000000Z");
    expect_null(z, "reached_at");
    /* What Z did since: the e-mail asking for a call. */
    expect_int(z, "since.counts.email", 1);
    json_t *since0 = json_array_get(at(z, "since.items"), 0);
    expect_str(since0, "subject", "call me back");
    assert_true(json_is_false(json_object_get(m, "truncated")));
    json_decref(m);

    /* Everyone with a missed call, oldest first: X (08:00), Z (08:05), W (10:00). */
    m = get(&d, "/v1/missed?open=false&" DAY);
    items = json_object_get(m, "items");
    assert_int_equal(json_array_size(items), 3);
    expect_str(json_array_get(items, 0), "customer_id", cust[0]);
    expect_int(json_array_get(items, 0), "callback_s", 1800);
    expect_str(json_array_get(items, 1), "customer_id", cust[2]);
    expect_str(json_array_get(items, 2), "customer_id", cust[3]);
    expect_int(json_array_get(items, 2), "callback_s", 600);
    json_decref(m);

    m = get(&d, "/v1/missed?open=false&limit=2&" DAY);
    assert_int_equal(json_array_size(json_object_get(m, "items")), 2);
    assert_true(json_is_true(json_object_get(m, "truncated")));
    json_decref(m);

    /* The screen-pop of Z shows the open call. */
    json_t *c = get(&d, "/v1/customers/%s/context", cust[2]);
    json_t *pm = at(c, "pending.missed_calls");
    assert_int_equal(json_array_size(pm), 1);
    expect_str(json_array_get(pm, 0), "status", "busy");
    assert_true(json_is_true(json_object_get(json_array_get(pm, 0), "breached")));
    assert_true(json_integer_value(json_object_get(json_array_get(pm, 0), "age_s")) > 86400);
    json_decref(c);
    c = get(&d, "/v1/customers/%s/context", cust[0]);
    assert_int_equal(json_array_size(at(c, "pending.missed_calls")), 0);
    json_decref(c);
    assert_int_equal(harness_stop(&d), 0);
}

static const char C_CHAT[] = "{\"chat\":\"telegram:@cee\"}";
static const char C_BOTH[] = "{\"chat\":\"telegram:@cee\",\"email\":\"c@example.com\"}";
static const char D_PHONE[] = "{\"phone\":\"09120000004\"}";

/*
 * C writes in chat thread conv-1 at 08:00 and gets an answer in thread conv-2 at 08:05 (not
 * an answer to conv-1), then one in conv-1 at 09:00 (3600 s). C's e-mail at 08:10 has no
 * thread: the first outbound record after it, the 09:00 chat, answers it (3000 s). D's SMS
 * is never answered.
 */
static void first_response_time(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_response", NULL);
    char *b = NULL;
    rec(&b, "r3", "chat", "outbound", "2026-11-02T09:00:00Z", C_CHAT, ",\"thread\":\"conv-1\"");
    rec(&b, "r1", "chat", "inbound", "2026-11-02T08:00:00Z", C_CHAT, ",\"thread\":\"conv-1\"");
    rec(&b, "r2", "chat", "outbound", "2026-11-02T08:05:00Z", C_CHAT, ",\"thread\":\"conv-2\"");
    rec(&b, "r4", "email", "inbound", "2026-11-02T08:10:00Z", C_BOTH, NULL);
    rec(&b, "r5", "sms", "inbound", "2026-11-02T08:00:00Z", D_PHONE, NULL);
    char cust[5][UUID_LEN + 1];
    send_all(&d, b, cust);

    json_t *s = get(&d, "/v1/stats?" DAY "&by=channel");
    expect_int(s, "totals.first_response.messages", 3);
    expect_int(s, "totals.first_response.answered", 2);
    expect_int(s, "totals.first_response.unanswered", 1);
    expect_real(s, "totals.first_response.response_s.mean", 3300);
    expect_int(s, "totals.first_response.response_s.p50", 3000);
    expect_int(s, "totals.first_response.response_s.max", 3600);
    expect_int(group(s, "chat"), "first_response.messages", 1);
    expect_int(group(s, "chat"), "first_response.response_s.max", 3600);
    expect_int(group(s, "sms"), "first_response.unanswered", 1);
    expect_null(group(s, "sms"), "first_response.response_s.mean");
    json_decref(s);

    /* Until 08:30 the conv-1 chat had only the answer in conv-2: unanswered then, but the
     * figure is as of now, whatever the range. */
    s = get(&d, "/v1/stats?since=2026-11-02T07:00:00Z&until=2026-11-02T08:30:00Z");
    expect_int(s, "totals.first_response.answered", 2);
    json_decref(s);

    json_t *c = get(&d, "/v1/customers/%s/context", cust[4]);
    json_t *u = at(c, "pending.unanswered");
    assert_int_equal(json_array_size(u), 1);
    expect_str(json_array_get(u, 0), "channel", "sms");
    json_decref(c);
    c = get(&d, "/v1/customers/%s/context", cust[0]);
    assert_int_equal(json_array_size(at(c, "pending.unanswered")), 0);
    json_decref(c);
    assert_int_equal(harness_stop(&d), 0);
}

static const char E_ALL[] = "{\"phone\":\"09120000005\",\"email\":\"e@example.com\","
                            "\"chat\":\"telegram:@ee\"}";

/*
 * E's inbound contacts: an SMS the evening before the range, a call at 08:00 (12 h after the
 * SMS: a repeat on another channel), an e-mail at 10:00 (another channel), a call at 11:00
 * (the same channel within 24 h), a chat three days later (within 7 days, another channel).
 * Outbound records are no contacts. Sent in no particular order.
 */
static void repeat_contacts(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_repeat", NULL);
    char *b = NULL;
    rec(&b, "e4", "chat", "inbound", "2026-11-05T09:00:00Z", E_ALL, NULL);
    rec(&b, "e2", "email", "inbound", "2026-11-02T10:00:00Z", E_ALL, NULL);
    rec(&b, "e0", "sms", "inbound", "2026-11-01T20:00:00Z", E_ALL, NULL);
    rec(&b, "e3", "phone", "inbound", "2026-11-02T11:00:00Z", E_ALL, ",\"status\":\"answered\"");
    rec(&b, "e1", "phone", "inbound", "2026-11-02T08:00:00Z", E_ALL, ",\"status\":\"answered\"");
    rec(&b, "e5", "email", "outbound", "2026-11-02T10:30:00Z", E_ALL, NULL);
    send_all(&d, b, NULL);

    json_t *s = get(&d, "/v1/stats?since=2026-11-02T00:00:00Z&until=2026-11-09T00:00:00Z");
    expect_int(s, "totals.repeat_contacts.inbound", 4);
    expect_int(s, "totals.repeat_contacts.within_24h.total", 3);
    expect_int(s, "totals.repeat_contacts.within_24h.same_channel", 1);
    expect_int(s, "totals.repeat_contacts.within_24h.other_channel", 2);
    expect_real(s, "totals.repeat_contacts.within_24h.share", 0.75);
    expect_real(s, "totals.repeat_contacts.within_24h.other_channel_share", 0.5);
    expect_int(s, "totals.repeat_contacts.within_7d.total", 4);
    expect_int(s, "totals.repeat_contacts.within_7d.same_channel", 1);
    expect_int(s, "totals.repeat_contacts.within_7d.other_channel", 3);
    json_decref(s);

    s = get(&d, "/v1/stats?since=2026-11-02T00:00:00Z&until=2026-11-09T00:00:00Z&by=day");
    assert_int_equal(json_array_size(json_object_get(s, "groups")), 2);
    expect_int(group(s, "2026-11-02"), "repeat_contacts.within_24h.total", 3);
    expect_int(group(s, "2026-11-05"), "repeat_contacts.within_24h.total", 0);
    expect_int(group(s, "2026-11-05"), "repeat_contacts.within_7d.other_channel", 1);
    json_decref(s);
    assert_int_equal(harness_stop(&d), 0);
}

static const char F_ALL[] = "{\"web\":\"anon-f\",\"chat\":\"telegram:@ff\","
                            "\"email\":\"f@example.com\"}";
static const char G_CHAT[] = "{\"chat\":\"telegram:@gg\"}";
static const char H_WEB[] = "{\"web\":\"anon-h\"}";

static void sentiment_and_funnel_data(const struct harness_daemon *d, char (*cust)[UUID_LEN + 1])
{
    char *b = NULL;
    rec(&b, "f1", "web", "inbound", "2026-11-02T08:00:00Z", F_ALL,
        ",\"stage\":\"pre_purchase\",\"sentiment\":\"positive\",\"score\":8,"
        "\"subject\":\"viewed product\"");
    rec(&b, "f2", "chat", "inbound", "2026-11-02T09:00:00Z", F_ALL,
        ",\"stage\":\"pre_purchase\",\"sentiment\":\"neutral\",\"body\":\"کی می‌رسد؟\"");
    rec(&b, "f4", "email", "inbound", "2026-11-02T11:00:00Z", F_ALL,
        ",\"stage\":\"post_purchase\",\"sentiment\":\"negative\",\"score\":2,"
        "\"subject\":\"سفارش ۱۲۳۴ خراب رسید\"");
    rec(&b, "f3", "web", "inbound", "2026-11-02T10:00:00Z", F_ALL,
        ",\"stage\":\"purchase\",\"score\":9,\"subject\":\"checkout\"");
    rec(&b, "g1", "chat", "inbound", "2026-11-02T08:00:00Z", G_CHAT,
        ",\"stage\":\"pre_purchase\",\"sentiment\":\"negative\"");
    rec(&b, "h1", "web", "inbound", "2026-11-02T08:00:00Z", H_WEB, ",\"stage\":\"purchase\"");
    send_all(d, b, cust);
}

static void sentiment_and_stage_funnel(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_funnel", NULL);
    sentiment_and_funnel_data(&d, NULL);

    json_t *s = get(&d, "/v1/stats?" DAY "&by=channel");
    expect_int(s, "totals.sentiment.positive", 1);
    expect_int(s, "totals.sentiment.neutral", 1);
    expect_int(s, "totals.sentiment.negative", 2);
    expect_int(s, "totals.sentiment.rated", 4);
    expect_int(s, "totals.sentiment.score.count", 3);
    expect_real(s, "totals.sentiment.score.mean", 6.33);
    expect_real(group(s, "web"), "sentiment.score.mean", 8.5);
    expect_int(group(s, "chat"), "sentiment.negative", 1);
    expect_int(group(s, "email"), "sentiment.score.count", 1);

    expect_int(s, "funnel.total.pre_purchase", 2);
    expect_int(s, "funnel.total.purchase", 1);
    expect_int(s, "funnel.total.post_purchase", 1);
    expect_real(s, "funnel.total.drop_off.pre_purchase_to_purchase", 0.5);
    expect_real(s, "funnel.total.drop_off.purchase_to_post_purchase", 0);
    json_t *by = at(s, "funnel.by_entry_channel");
    assert_int_equal(json_array_size(by), 2);
    expect_str(json_array_get(by, 0), "key", "chat");
    expect_int(json_array_get(by, 0), "purchase", 0);
    expect_real(json_array_get(by, 0), "drop_off.pre_purchase_to_purchase", 1);
    expect_null(json_array_get(by, 0), "drop_off.purchase_to_post_purchase");
    expect_str(json_array_get(by, 1), "key", "web");
    expect_int(json_array_get(by, 1), "post_purchase", 1);
    json_decref(s);

    s = get(&d, "/v1/stats?" DAY "&by=stage");
    expect_int(group(s, "pre_purchase"), "sentiment.rated", 3);
    expect_int(group(s, "purchase"), "interactions", 2);
    expect_real(group(s, "purchase"), "sentiment.score.mean", 9);
    json_decref(s);
    assert_int_equal(harness_stop(&d), 0);
}

static void journey_map(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_journey", NULL);
    char cust[6][UUID_LEN + 1];
    sentiment_and_funnel_data(&d, cust);
    json_t *j = get(&d, "/v1/customers/%s/journey", cust[0]);
    expect_str(j, "customer_id", cust[0]);
    json_t *ch = json_object_get(j, "channels");
    assert_int_equal(json_array_size(ch), 3);
    assert_string_equal(json_string_value(json_array_get(ch, 0)), "web");
    assert_string_equal(json_string_value(json_array_get(ch, 1)), "chat");
    assert_string_equal(json_string_value(json_array_get(ch, 2)), "email");
    json_t *tp = json_object_get(j, "touchpoints");
    assert_int_equal(json_array_size(tp), 4);
    expect_str(json_array_get(tp, 2), "stage", "purchase"); /* time order, not arrival */
    expect_str(json_array_get(tp, 1), "summary", "کی می‌رسد؟");
    json_t *cells = json_object_get(j, "cells");
    assert_int_equal(json_array_size(cells), 4);
    expect_str(json_array_get(cells, 0), "channel", "web");
    expect_str(json_array_get(cells, 0), "stage", "pre_purchase");
    expect_str(json_array_get(cells, 1), "stage", "purchase");
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_array_get(cells, 1), "touchpoints"), 0)),
                     2);
    assert_true(json_is_false(json_object_get(j, "truncated")));
    json_decref(j);
    j = get(&d, "/v1/customers/%s/journey?since=2026-11-02T09:30:00Z", cust[0]);
    assert_int_equal(json_array_size(json_object_get(j, "touchpoints")), 2);
    json_decref(j);
    harness_assert_http_error(&d, "GET",
                              "/v1/customers/0190a000-0000-7000-8000-000000000000/journey", NULL,
                              NULL, 404, "not_found", "no customer");
    assert_int_equal(harness_stop(&d), 0);
}

/* Runs touchline against d with args (TZ=UTC, no colour: not a terminal); its stdout. */
static char *client_out(const struct harness_daemon *d, const char *args, int want_status)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TZ=UTC COLUMNS=200 %s --url http://127.0.0.1:%d %s 2>/dev/null",
             bin, d->http_port, args);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    if (st != want_status) {
        fail_msg("touchline %s: exit %d, wanted %d; output: %.500s", args, st, want_status,
                 out != NULL ? out : "");
    }
    return out;
}

/* Replaces every occurrence of what in *s by with (same length or shorter). */
static void replace_all(char *s, const char *what, const char *with)
{
    size_t wl = strlen(what), nl = strlen(with);
    assert_true(nl <= wl);
    for (char *p = strstr(s, what); p != NULL; p = strstr(p + nl, what)) {
        memcpy(p, with, nl);
        memmove(p + nl, p + wl, strlen(p + wl) + 1);
    }
}

/* Sets the members that depend on the clock or on generated customer ids to fixed values,
 * wherever they are in j. */
static void scrub_json(json_t *j, const char *const *ids, size_t n_ids)
{
    static const char *const clock_keys[] = {"generated_at", "now", "age_s", "since", "until"};
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            scrub_json(v, ids, n_ids);
        }
        return;
    }
    json_object_foreach(j, k, v)
    {
        /* A value replaced here is freed: it is not looked into afterwards. */
        json_t *fixed = NULL;
        for (size_t c = 0; c < sizeof(clock_keys) / sizeof(clock_keys[0]); c++) {
            if (strcmp(k, clock_keys[c]) == 0 && !json_is_object(v)) {
                fixed = json_string("<clock>");
            }
        }
        for (size_t c = 0; c < n_ids && fixed == NULL; c++) {
            if (json_is_string(v) && strcmp(json_string_value(v), ids[c]) == 0) {
                char name[32];
                snprintf(name, sizeof(name), "<customer %zu>", c + 1);
                fixed = json_string(name);
            }
        }
        if (fixed != NULL) {
            json_object_set_new(j, k, fixed);
        } else {
            scrub_json(v, ids, n_ids);
        }
    }
}

/* Compares touchline's JSON output, scrubbed, with golden file name. */
static void golden_json(const char *name, char *out, const char *const *ids, size_t n_ids)
{
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (j == NULL) {
        fail_msg("%s: not JSON (%s): %.300s", name, err.text, out);
    }
    scrub_json(j, ids, n_ids);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    assert_non_null(text);
    size_t len = strlen(text);
    char *t = realloc(text, len + 2);
    assert_non_null(t);
    t[len] = '\n';
    t[len + 1] = '\0';
    testmain_expect_golden(name, t, len + 1);
    free(t);
    json_decref(j);
    free(out);
}

/* Compares a table touchline printed with golden file name, customer ids replaced. */
static void golden_text(const char *name, char *out, const char *const *ids, size_t n_ids)
{
    for (size_t c = 0; c < n_ids; c++) {
        char shown[40];
        snprintf(shown, sizeof(shown), "<customer %zu>", c + 1);
        replace_all(out, ids[c], shown);
    }
    testmain_expect_golden(name, out, strlen(out));
    free(out);
}

/*
 * What touchline stats, missed and journey print, against golden files (as a table, TZ=UTC,
 * not a terminal so without colour; and as JSON, with the values that depend on the clock or
 * on generated ids replaced). After a deliberate change: TOUCHLINE_UPDATE_GOLDEN=1.
 */
static void cli_golden(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_cli", NULL);
    char cust[7][UUID_LEN + 1], fcust[6][UUID_LEN + 1];
    missed_calls_data(&d, cust);
    sentiment_and_funnel_data(&d, fcust);
    json_t *x = get(&d, "/v1/customers/%s", cust[1]);
    char xid[UUID_LEN + 1];
    snprintf(xid, sizeof(xid), "%s", json_string_value(json_object_get(x, "id")));
    json_decref(x);
    const char *ids[] = {xid, cust[2], cust[3], fcust[0], fcust[4], fcust[5]};
    size_t n = sizeof(ids) / sizeof(ids[0]);

    golden_text("stats-channel.txt",
                client_out(&d,
                           "stats --since 2026-11-02T00:00:00Z --until 2026-11-03T00:00:00Z "
                           "--by channel --utc",
                           0),
                ids, n);
    golden_json("stats-channel.json",
                client_out(&d,
                           "stats --since 2026-11-02T00:00:00Z --until 2026-11-03T00:00:00Z "
                           "--by channel --format json",
                           0),
                ids, n);
    /* The waiting time grows with the clock: only the JSON, scrubbed. */
    golden_json("missed-all.json",
                client_out(&d,
                           "missed --all --since 2026-11-02T00:00:00Z --until "
                           "2026-11-03T00:00:00Z --format json",
                           0),
                ids, n);
    golden_text("journey.txt", client_out(&d, "journey --web anon-f --utc", 0), ids, n);
    golden_json("journey.json", client_out(&d, "journey --web anon-f --format json", 0), ids, n);

    free(client_out(&d, "journey --web nobody", 1));
    free(client_out(&d, "stats --by week", 2));
    free(client_out(&d, "missed --by channel", 2));
    assert_int_equal(harness_stop(&d), 0);
}

static void bad_parameters_are_named(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "an_errors", NULL);
    static const struct {
        const char *path;
        const char *needle;
    } cases[] = {
        {"/v1/stats?since=yesterday", "since: \"yesterday\" is not an RFC 3339 timestamp"},
        {"/v1/stats?until=2026-13-01T00:00:00Z", "until:"},
        {"/v1/stats?by=week", "by: \"week\" is not one of channel, source, stage, agent, day"},
        {"/v1/stats?group=day", "\"group\": unknown parameter (since, until, by)"},
        {"/v1/stats?since=2026-11-03T00:00:00Z&until=2026-11-02T00:00:00Z",
         "until: must be after since"},
        {"/v1/stats?since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since: the range"},
        {"/v1/missed?open=maybe", "open: \"maybe\" must be true or false"},
        {"/v1/missed?limit=0", "limit:"},
        {"/v1/missed?since=x", "since:"},
        {"/v1/customers/0190a000-0000-7000-8000-000000000000/journey?by=day",
         "\"by\": unknown parameter (since, until)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        harness_assert_http_error(&d, "GET", cases[i].path, NULL, NULL, 400, "invalid_request",
                                  cases[i].needle);
    }
    harness_assert_http_error(&d, "POST", "/v1/stats", "{}", NULL, 405, "method_not_allowed", NULL);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missed_calls_and_callback_time),
        cmocka_unit_test(figures_follow_late_records_merges_and_erasure),
        cmocka_unit_test(missed_worklist),
        cmocka_unit_test(first_response_time),
        cmocka_unit_test(repeat_contacts),
        cmocka_unit_test(sentiment_and_stage_funnel),
        cmocka_unit_test(journey_map),
        cmocka_unit_test(cli_golden),
        cmocka_unit_test(bad_parameters_are_named),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
