/* The touchline client against the real daemon: what an agent sees and the exit codes. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

static int client(const struct harness_daemon *d, const char *args, char **out)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TZ=UTC NO_COLOR=1 %s --url http://127.0.0.1:%d %s 2>&1", bin,
             d != NULL ? d->http_port : 1, args);
    return harness_run(cmd, out);
}

/* What client() keeps of the client's output. */
enum stream {
    OUT_AND_ERR,
    OUT_ONLY,
    ERR_ONLY,
};

/* Runs the client like client(), keeping only stdout or only stderr. */
static int client_stream(const struct harness_daemon *d, enum stream which, const char *args,
                         char **out)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    static const char *const redirect[] = {
        [OUT_AND_ERR] = "2>&1",
        [OUT_ONLY] = "2>/dev/null",
        [ERR_ONLY] = "2>&1 >/dev/null",
    };
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TZ=UTC NO_COLOR=1 %s --url http://127.0.0.1:%d %s %s", bin,
             d != NULL ? d->http_port : 1, args, redirect[which]);
    return harness_run(cmd, out);
}

/* Sends the records of fixture sample.ndjson (16 lines) and waits for every answer. */
static void load_sample(const struct harness_daemon *d)
{
    size_t len;
    char *data = testmain_fixture("sample.ndjson", &len);
    int fd = harness_connect(d->tcp_port);
    assert_int_equal(harness_send(fd, data, len), 0);
    for (int i = 0; i < 16; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        free(a);
    }
    close(fd);
    free(data);
}

/* Sends one record and fails unless it was accepted. */
static void send_record(const struct harness_daemon *d, const char *line)
{
    int fd = harness_connect(d->tcp_port);
    char *a = harness_roundtrip(fd, line);
    if (strstr(a, "\"ok\":true") == NULL) {
        fail_msg("record refused: %s", a);
    }
    free(a);
    close(fd);
}

/* The output of the client's --format json or ndjson, parsed: one JSON object. */
static json_t *client_json(const struct harness_daemon *d, const char *args)
{
    char *out = NULL;
    int rc = client_stream(d, OUT_ONLY, args, &out);
    if (rc != 0) {
        fail_msg("touchline %s: exit %d: %s", args, rc, out);
    }
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!json_is_object(j)) {
        fail_msg("touchline %s: not one JSON object (%s): %s", args, err.text, out);
    }
    free(out);
    return j;
}

/* The id of the customer args (a selector) names, from customer show --format ndjson. */
static char *customer_id(const struct harness_daemon *d, const char *selector)
{
    char args[512];
    snprintf(args, sizeof(args), "customer show %s --format ndjson", selector);
    json_t *j = client_json(d, args);
    const char *id = json_string_value(json_object_get(j, "id"));
    assert_non_null(id);
    char *copy = strdup(id);
    assert_non_null(copy);
    json_decref(j);
    return copy;
}

/*
 * Gives the sample's Persian customer a merged-away customer: a visitor seen alone first, then
 * logged in with her email, so that the second record merges the two (the sample alone comes
 * in one batch, which makes one customer without a merge). She then has 13 interactions, 5 on
 * the web. Returns the visitor's customer id, merged away (the caller frees it).
 */
static char *merge_a_visitor_into_sara(const struct harness_daemon *d)
{
    send_record(d, "{\"source\":\"web-shop\",\"external_id\":\"evt-0201\",\"channel\":\"web\","
                   "\"occurred_at\":\"2026-11-23T10:00:00Z\",\"customer\":{\"web\":"
                   "\"anon-second\"},\"subject\":\"viewed cart\"}");
    char *visitor = customer_id(d, "--web anon-second");
    send_record(d, "{\"source\":\"web-shop\",\"external_id\":\"evt-0202\",\"channel\":\"web\","
                   "\"occurred_at\":\"2026-11-23T10:05:00Z\",\"customer\":{\"web\":"
                   "\"anon-second\",\"email\":\"sara.karimi@example.com\"},\"subject\":"
                   "\"logged in\"}");
    return visitor;
}

static void expect_in(const char *out, const char *needle)
{
    if (strstr(out, needle) == NULL) {
        fail_msg("no \"%s\" in:\n%s", needle, out);
    }
}

static void timeline_of_sample_customer_by_persian_digits(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client", NULL);
    size_t len;
    char *data = testmain_fixture("sample.ndjson", &len);
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, data, len), 0);
    for (int i = 0; i < 16; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        free(a);
    }
    close(fd);
    free(data);
    char *out = NULL;
    assert_int_equal(client(&d, "timeline --phone '۰۹۱۲ ۳۴۵ ۶۷۸۹' --utc", &out), 0);
    /* The name, the header, and entries of all five channels, oldest last. */
    assert_non_null(strstr(out, "سارا کریمی"));
    assert_non_null(strstr(out, "TIME "));
    static const char *const channels[] = {"phone", "sms", "email", "chat", "web"};
    for (size_t i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof(needle), "  %s ", channels[i]);
        if (strstr(out, needle) == NULL) {
            fail_msg("no %s entry in:\n%s", channels[i], out);
        }
    }
    assert_non_null(strstr(out, "2026-11-22 09:00Z  email"));
    assert_non_null(strstr(out, "survey response"));
    assert_true(strstr(out, "survey response") < strstr(out, "viewed product"));
    free(out);
    /* The same person by email; JSON carries 11 items. */
    assert_int_equal(
        client(&d, "timeline --email SARA.KARIMI@example.com --format json --all", &out), 0);
    assert_non_null(strstr(out, "\"customer\""));
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, "\"occurred_at\"")) != NULL; p++) {
        n++;
    }
    assert_int_equal(n, 11);
    free(out);
    /* --limit pages through the API's cursor. */
    assert_int_equal(client(&d, "timeline --chat telegram:@sara_k --format ndjson --limit 4", &out),
                     0);
    n = 0;
    for (const char *p = out; *p; p++) {
        n += *p == '\n';
    }
    assert_int_equal(n, 4);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

static void exit_codes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_exit", NULL);
    char *out = NULL;
    assert_int_equal(client(&d, "timeline --email nobody@example.com", &out), 1);
    assert_non_null(strstr(out, "no customer"));
    free(out);
    assert_int_equal(client(&d, "timeline --phone 12", &out), 2);
    assert_non_null(strstr(out, "phone"));
    free(out);
    assert_int_equal(client(&d, "timeline", &out), 2);
    free(out);
    assert_int_equal(client(&d, "timeline --phone 0912 --format xml", &out), 2);
    free(out);
    /* An option of another command is refused, not ignored. */
    assert_int_equal(client(&d, "timeline --phone 09121234567 --merge 3", &out), 2);
    free(out);
    assert_int_equal(
        client(&d, "customer unmerge --phone 09121234567 --merge 3 --since 2026-01-01", &out), 2);
    free(out);
    assert_int_equal(client(&d, "frobnicate", &out), 2);
    free(out);
    assert_int_equal(client(&d, "timeline --help", &out), 0);
    assert_non_null(strstr(out, "Usage: touchline timeline"));
    free(out);
    assert_int_equal(client(&d, "--version", &out), 0);
    assert_non_null(strstr(out, "touchline "));
    free(out);
    assert_int_equal(harness_stop(&d), 0);
    /* Nobody listening: a network error. */
    assert_int_equal(client(&d, "timeline --phone 09123456789", &out), 3);
    assert_non_null(strstr(out, "connect"));
    free(out);
}

/* customer show: the merged profile of the sample's Persian customer, found by Persian
 * digits, in labelled lines; JSON and NDJSON carry the server's object. */
static void customer_show_of_sample_customer(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_show", NULL);
    load_sample(&d);
    char *visitor = merge_a_visitor_into_sara(&d);
    char *out = NULL;
    assert_int_equal(client(&d, "customer show --phone '۰۹۱۲ ۳۴۵ ۶۷۸۹' --utc", &out), 0);
    expect_in(out, "Name          سارا کریمی");
    expect_in(out, "Identities    ");
    static const char *const ids[] = {"+989123456789", "sara.karimi@example.com",
                                      "telegram:@sara_k", "shop:55120", "anon-7f3c2a"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        expect_in(out, ids[i]);
    }
    expect_in(out, "anon-second");
    /* The email at 09:15 in Tehran; the visitor's login. */
    expect_in(out, "First seen    2026-11-18 05:45Z\n");
    expect_in(out, "Last seen     2026-11-23 10:05Z\n");
    /* Busiest channel first, whatever order the server's keys come in. */
    expect_in(out, "Interactions  13: web 5, email 3, chat 2, phone 2, sms 1\n");
    char line[128];
    snprintf(line, sizeof(line), "Merged ids    %s\n", visitor);
    expect_in(out, line);
    free(visitor);
    free(out);

    json_t *j = client_json(&d, "customer show --email SARA.KARIMI@example.com --format json");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "سارا کریمی");
    assert_int_equal(json_integer_value(json_object_get(j, "interactions")), 13);
    assert_int_equal(json_array_size(json_object_get(j, "merged_ids")), 1);
    /* A merged-away id answers the survivor. */
    char args[256];
    snprintf(args, sizeof(args), "customer show --customer %s --format ndjson",
             json_string_value(json_array_get(json_object_get(j, "merged_ids"), 0)));
    json_t *via_old = client_json(&d, args);
    assert_true(json_equal(json_object_get(via_old, "id"), json_object_get(j, "id")));
    json_decref(via_old);
    json_decref(j);
    /* ndjson: one line. */
    assert_int_equal(client_stream(&d, OUT_ONLY,
                                   "customer show --chat telegram:@sara_k "
                                   "--format ndjson",
                                   &out),
                     0);
    assert_non_null(strchr(out, '\n'));
    assert_string_equal(strchr(out, '\n'), "\n");
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/* context: the screen-pop of a customer who wrote three hours ago, in Arabic, on a thread that
 * is still open, and of the sample's customer; the JSON forms are the server's object. */
static void context_screen_pop(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_context", NULL);
    load_sample(&d);
    /* Five hours ago a request with a subject, three hours and half a minute ago (by this
     * clock: the server counts "3 h") the Arabic message, on the same thread. */
    for (int k = 0; k < 2; k++) {
        time_t t = time(NULL) - (k == 0 ? 5 : 3) * 3600 - 30;
        struct tm tm;
        gmtime_r(&t, &tm);
        char when[32], line[1024];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(line, sizeof(line),
                 "{\"source\":\"twilio\",\"external_id\":\"SM-ctx-%d\",\"channel\":\"sms\","
                 "\"direction\":\"inbound\",\"occurred_at\":\"%s\",\"customer\":{\"phone\":"
                 "\"+966 50 765 4321\",\"name\":\"خالد العتيبي\"},\"thread\":\"T-456\",%s}",
                 k, when,
                 k == 0 ? "\"subject\":\"طلب ٤٥٦\",\"sentiment\":\"neutral\",\"score\":6"
                        : "\"body\":\"مرحبا، أريد تتبع طلبي رقم ٤٥٦\"");
        send_record(&d, line);
    }
    char *out = NULL;
    assert_int_equal(client(&d, "context --phone +966507654321 --utc", &out), 0);
    expect_in(out, "خالد العتيبي");
    expect_in(out, "phone +966507654321");
    expect_in(out, "Last contact  3 h ago (");
    expect_in(out, "Last 7 days   2 contacts on 1 channel\n");
    expect_in(out, "Stage         -\n");
    expect_in(out, "Sentiment     neutral (");
    expect_in(out, "Score         6 (");
    expect_in(out, "Open threads\nTHREAD ");
    /* The thread: two records, the subject of the first. */
    expect_in(out, "T-456   sms            2  ");
    expect_in(out, "طلب ٤٥٦");
    expect_in(out, "Latest on each channel\nTIME ");
    expect_in(out, "sms      inbound    -       -      مرحبا، أريد تتبع طلبي رقم ٤٥٦\n");
    free(out);

    /* The sample's customer: older contacts, two open threads, the latest per channel. */
    assert_int_equal(client(&d, "context --email sara.karimi@example.com --utc", &out), 0);
    expect_in(out, "سارا کریمی");
    expect_in(out, "(2026-11-22 09:00Z)");
    expect_in(out, "Stage         post_purchase (2026-11-22 09:00Z)\n");
    expect_in(out, "Sentiment     positive (2026-11-22 09:00Z)\n");
    expect_in(out, "Score         9 (2026-11-22 09:00Z)\n");
    expect_in(out, "mail-thread-881");
    expect_in(out, "cw-conv-4410");
    expect_in(out, "2026-11-22 09:00Z  email    inbound");
    expect_in(out, "2026-11-21 18:33Z  chat     outbound");
    assert_true(strstr(out, "mail-thread-881") < strstr(out, "Latest on each channel"));
    free(out);

    json_t *j = client_json(&d, "context --email sara.karimi@example.com --format json");
    assert_true(json_is_object(json_object_get(j, "customer")));
    assert_int_equal(json_array_size(json_object_get(j, "last_by_channel")), 5);
    json_t *one = client_json(&d, "context --email sara.karimi@example.com --format ndjson");
    /* Both forms carry the same answer, the server's clock aside. */
    json_object_del(j, "now");
    json_object_del(one, "now");
    json_object_del(j, "seconds_since_last_contact");
    json_object_del(one, "seconds_since_last_contact");
    assert_true(json_equal(j, one));
    json_decref(one);
    json_decref(j);
    assert_int_equal(harness_stop(&d), 0);
}

/* customer merge: the sample's Saudi customer into the Persian one, by hand. */
static void customer_merge_by_hand(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_merge", NULL);
    load_sample(&d);
    char *sara = customer_id(&d, "--email sara.karimi@example.com");
    char *khalid = customer_id(&d, "--phone +966501234567");
    assert_string_not_equal(sara, khalid);
    char args[512];
    char *out = NULL;
    snprintf(args, sizeof(args), "customer merge --email sara.karimi@example.com --from %s --utc",
             khalid);
    assert_int_equal(client(&d, args, &out), 0);
    /* The survivor's profile, with the other's identities and id. */
    expect_in(out, "Name          سارا کریمی");
    expect_in(out, "+966501234567");
    expect_in(out, "khalid@example.sa");
    expect_in(out, khalid);
    free(out);
    char *now = customer_id(&d, "--phone +966501234567");
    assert_string_equal(now, sara);
    free(now);
    /* Already one customer: the server's 400, exit 2. */
    assert_int_equal(client(&d, args, &out), 2);
    free(out);
    /* --from not an id: 2; unknown: 1; missing: 2. */
    assert_int_equal(
        client(&d, "customer merge --email sara.karimi@example.com --from khalid", &out), 2);
    expect_in(out, "from");
    free(out);
    assert_int_equal(client(&d,
                            "customer merge --email sara.karimi@example.com --from "
                            "01a204c2-159b-79d9-9586-9df2cd800a8a",
                            &out),
                     1);
    free(out);
    assert_int_equal(
        client_stream(&d, ERR_ONLY, "customer merge --email sara.karimi@example.com", &out), 2);
    expect_in(out, "--from");
    free(out);
    free(khalid);
    free(sara);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * customer identities, why and unmerge, as an agent uses them: the visitor merged into Sara is
 * listed with the record that joined them, why names that record, and unmerge brings the
 * visitor back under its own id.
 */
static void customer_why_and_unmerge(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_unmerge", NULL);
    load_sample(&d);
    char *visitor = merge_a_visitor_into_sara(&d);
    char *sara = customer_id(&d, "--email sara.karimi@example.com");
    char *out = NULL;
    assert_int_equal(client(&d, "customer identities --web anon-second --utc", &out), 0);
    expect_in(out, "web anon-second: first seen");
    expect_in(out, "record web-shop/evt-0201");
    expect_in(out, "record web-shop/evt-0202, linked by email sara.karimi@example.com + web "
                   "anon-second");
    expect_in(out, visitor);
    free(out);
    assert_int_equal(client(&d,
                            "customer why --web anon-second --email SARA.KARIMI@example.com "
                            "--utc",
                            &out),
                     0);
    expect_in(out, "are one customer, ");
    expect_in(out, sara);
    expect_in(out, "record web-shop/evt-0202");
    free(out);
    /* The merge id, from the JSON form. */
    char args[512];
    snprintf(args, sizeof(args), "customer identities --customer %s --format json", sara);
    json_t *j = client_json(&d, args);
    json_t *m = json_array_get(json_object_get(j, "merges"), 0);
    assert_non_null(m);
    long long merge = json_integer_value(json_object_get(m, "merge_id"));
    json_decref(j);
    snprintf(args, sizeof(args), "customer unmerge --email sara.karimi@example.com --merge %lld",
             merge);
    assert_int_equal(client(&d, args, &out), 0);
    expect_in(out, "undone: customer ");
    expect_in(out, visitor);
    free(out);
    char *back = customer_id(&d, "--web anon-second");
    assert_string_equal(back, visitor);
    free(back);
    /* Twice: the server's 400, exit 2. Unknown merge: 1. One identifier only: usage, 2. */
    assert_int_equal(client(&d, args, &out), 2);
    free(out);
    assert_int_equal(
        client(&d, "customer unmerge --email sara.karimi@example.com --merge 999", &out), 1);
    free(out);
    assert_int_equal(client_stream(&d, ERR_ONLY, "customer why --web anon-second", &out), 2);
    expect_in(out, "two identifiers");
    free(out);
    assert_int_equal(
        client(&d, "customer why --web anon-second --email sara.karimi@example.com", &out), 0);
    expect_in(out, "are two customers");
    free(out);
    free(visitor);
    free(sara);
    assert_int_equal(harness_stop(&d), 0);
}

/* touchline conflicts: the review queue of merges a limit refused, and resolving one. */
static void conflicts_list_and_resolve(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_IDENTITY_MAX_EMAIL=1", NULL};
    struct harness_daemon d;
    harness_start(&d, "client_conflicts", env);
    char *out = NULL;
    assert_int_equal(client(&d, "conflicts", &out), 0);
    expect_in(out, "(no conflicts)");
    free(out);
    send_record(&d, "{\"source\":\"crm\",\"external_id\":\"1\",\"channel\":\"email\","
                    "\"occurred_at\":\"2026-11-23T10:00:00Z\",\"customer\":{\"email\":"
                    "\"a@example.com\",\"phone\":\"09121111111\"}}");
    send_record(&d, "{\"source\":\"crm\",\"external_id\":\"2\",\"channel\":\"email\","
                    "\"occurred_at\":\"2026-11-23T10:01:00Z\",\"customer\":{\"email\":"
                    "\"b@example.com\"}}");
    /* Joins the two: two e-mail addresses on one customer, past the limit of 1. */
    send_record(&d, "{\"source\":\"crm\",\"external_id\":\"3\",\"channel\":\"email\","
                    "\"occurred_at\":\"2026-11-23T10:02:00Z\",\"customer\":{\"email\":"
                    "\"b@example.com\",\"phone\":\"09121111111\"}}");
    assert_int_equal(client(&d, "conflicts", &out), 0);
    expect_in(out, "would give 2 email identifiers; record 3  [open]");
    free(out);
    json_t *j = client_json(&d, "conflicts --format json");
    long long id = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "conflicts"), 0), "conflict_id"));
    json_decref(j);
    char args[128];
    snprintf(args, sizeof(args), "conflicts --resolve %lld --action dismiss", id);
    assert_int_equal(client(&d, args, &out), 0);
    expect_in(out, "dismissed");
    free(out);
    assert_int_equal(client(&d, args, &out), 2);
    free(out);
    assert_int_equal(client(&d, "conflicts --resolve 999 --action merge", &out), 1);
    free(out);
    assert_int_equal(client_stream(&d, ERR_ONLY, "conflicts --resolve 1", &out), 2);
    expect_in(out, "--action merge|dismiss");
    free(out);
    assert_int_equal(client(&d, "conflicts --all", &out), 0);
    expect_in(out, "[dismissed]");
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/* customer forget: refuses without --yes (and erases nothing), erases with it, and the
 * customer is gone; the JSON form is the server's answer. */
static void customer_forget_needs_yes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_forget", NULL);
    load_sample(&d);
    free(merge_a_visitor_into_sara(&d));
    char *out = NULL;
    assert_int_equal(client_stream(&d, ERR_ONLY, "customer forget --phone 09123456789", &out), 2);
    expect_in(out, "this would erase customer سارا کریمی");
    expect_in(out, "6 identities, 13 interactions");
    expect_in(out, "1 customer merged into them");
    expect_in(out, "--yes");
    free(out);
    char *id = customer_id(&d, "--phone 09123456789");
    assert_int_equal(client(&d, "customer forget --phone 09123456789 --yes", &out), 0);
    expect_in(out, "Erased        سارا کریمی");
    expect_in(out, id);
    expect_in(out, "Customers     2\n");
    expect_in(out, "Identities    6\n");
    expect_in(out, "Interactions  13\n");
    expect_in(out, "Erasure id    ");
    free(out);
    assert_int_equal(client(&d, "customer show --phone 09123456789", &out), 1);
    expect_in(out, "no customer");
    free(out);
    char args[256];
    snprintf(args, sizeof(args), "customer forget --customer %s --yes", id);
    assert_int_equal(client(&d, args, &out), 1);
    free(out);
    snprintf(args, sizeof(args), "timeline --customer %s", id);
    assert_int_equal(client(&d, args, &out), 1);
    free(out);
    free(id);
    /* The other customer, erased in JSON. */
    json_t *j = client_json(&d, "customer forget --email khalid@example.sa --yes --format json");
    assert_true(json_is_true(json_object_get(j, "erased")));
    assert_int_equal(json_integer_value(json_object_get(j, "customers")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "interactions")), 4);
    json_decref(j);
    assert_int_equal(harness_stop(&d), 0);
}

/* Every command and subcommand has --help on stdout; touchline --help lists every command. */
static void help_everywhere(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        const char *usage;
    } helps[] = {
        {"context --help", "Usage: touchline context "},
        {"customer --help", "Usage: touchline customer "},
        {"customer show --help", "Usage: touchline customer show "},
        {"customer merge --help", "Usage: touchline customer merge "},
        {"customer forget --help", "Usage: touchline customer forget "},
        {"customer identities --help", "Usage: touchline customer identities "},
        {"customer why --help", "Usage: touchline customer why "},
        {"customer unmerge --help", "Usage: touchline customer unmerge "},
        {"conflicts --help", "Usage: touchline conflicts "},
        {"timeline --help", "Usage: touchline timeline "},
        {"log --help", "Usage: touchline log"},
        {"import --help", "Usage: touchline import"},
    };
    char *out = NULL;
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        int rc = client_stream(NULL, OUT_ONLY, helps[i].args, &out);
        if (rc != 0 || strncmp(out, helps[i].usage, strlen(helps[i].usage)) != 0) {
            fail_msg("touchline %s: exit %d, stdout:\n%s", helps[i].args, rc, out);
        }
        free(out);
    }
    assert_int_equal(client_stream(NULL, OUT_ONLY, "--help", &out), 0);
    static const char *const commands[] = {"timeline", "context", "customer", "log", "import"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        char needle[32];
        snprintf(needle, sizeof(needle), "\n  %s ", commands[i]);
        expect_in(out, needle);
    }
    free(out);
}

/* Bad usage: exit 2 and a message on stderr naming what was wrong, before any request. */
static void bad_usage_of_customer_commands(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        const char *names;
    } bad[] = {
        {"customer", "subcommand"},
        {"customer frobnicate --phone 1", "frobnicate"},
        {"customer show --bogus", "--bogus"},
        {"customer show", "--phone"},
        {"customer show --phone 1 --email a@b.c", "only one"},
        {"customer show --phone 1 --format xml", "xml"},
        {"customer show --phone 1 --yes", "--yes"},
        {"customer forget --phone 1 --utc", "--utc"},
        {"customer merge --phone 1 --limit 3 --from x", "--limit"},
        {"context --phone 1 --from x", "--from"},
        {"context --phone", "--phone"},
        {"context --phone 1 extra", "extra"},
    };
    char *out = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* No daemon: a request would be a network error, 3. */
        int rc = client_stream(NULL, ERR_ONLY, bad[i].args, &out);
        if (rc != 2 || strstr(out, bad[i].names) == NULL) {
            fail_msg("touchline %s: exit %d, want 2 and \"%s\" on stderr:\n%s", bad[i].args, rc,
                     bad[i].names, out);
        }
        free(out);
    }
}

/* Not found 1, the server's 400 2, network 3, for context and show. */
static void customer_commands_exit_codes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_exit2", NULL);
    char *out = NULL;
    assert_int_equal(client(&d, "context --email nobody@example.com", &out), 1);
    expect_in(out, "no customer");
    free(out);
    assert_int_equal(client(&d, "context --customer 01a204c2-159b-79d9-9586-9df2cd800a8a", &out),
                     1);
    free(out);
    assert_int_equal(client(&d, "customer show --customer not-an-id", &out), 2);
    free(out);
    assert_int_equal(client(&d, "context --phone 12", &out), 2);
    expect_in(out, "phone");
    free(out);
    assert_int_equal(client(&d, "customer forget --web nobody --yes", &out), 1);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(client(&d, "context --phone 09123456789", &out), 3);
    expect_in(out, "connect");
    free(out);
    assert_int_equal(client(&d, "customer show --phone 09123456789", &out), 3);
    free(out);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeline_of_sample_customer_by_persian_digits),
        cmocka_unit_test(exit_codes),
        cmocka_unit_test(customer_show_of_sample_customer),
        cmocka_unit_test(context_screen_pop),
        cmocka_unit_test(customer_merge_by_hand),
        cmocka_unit_test(customer_why_and_unmerge),
        cmocka_unit_test(conflicts_list_and_resolve),
        cmocka_unit_test(customer_forget_needs_yes),
        cmocka_unit_test(help_everywhere),
        cmocka_unit_test(bad_usage_of_customer_commands),
        cmocka_unit_test(customer_commands_exit_codes),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
