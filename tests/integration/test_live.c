/*
 * Live streams (daemon/live.c; docs/api.md "Live updates") against the real daemon and
 * PostgreSQL: a customer's stream gets a record sent over TCP as soon as it is committed,
 * also when another daemon on the same database stored it (LISTEN/NOTIFY, no sticky
 * sessions); a merge moves the stream to the survivor; the all-customers stream hears
 * activity; tokens, the stream limit and a client that does not read are handled.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/* How long a committed record may take to reach a stream: the console's promise is a second;
 * sanitizers and valgrind slow the daemon several times over. */
static long live_budget_ms(void)
{
    return harness_sanitized() ? 5000 : 1000;
}

/* Sends one record line over TCP and returns its answer's customer_id (malloc'd). */
static char *send_record(int port, const char *line)
{
    int fd = harness_connect(port);
    char *answer = harness_roundtrip(fd, line);
    close(fd);
    json_t *j = harness_parse_answer(answer);
    if (!json_is_true(json_object_get(j, "ok"))) {
        fail_msg("record refused: %s", answer);
    }
    char *customer = strdup(json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(answer);
    return customer;
}

/* A customer made by a first record: a call from phone. Returns the id (malloc'd). */
static char *customer_with_call(int tcp_port, const char *phone)
{
    char line[256];
    snprintf(line, sizeof(line),
             "{\"source\":\"pbx\",\"channel\":\"phone\",\"occurred_at\":"
             "\"2026-12-01T09:00:00Z\",\"customer\":{\"phone\":\"%s\"}}",
             phone);
    return send_record(tcp_port, line);
}

/*
 * Opens GET path as a stream with extra header lines (may be NULL). Returns the socket after
 * the status line, whose code is in *status.
 */
static int open_stream(int port, const char *path, const char *headers, int *status)
{
    int fd = harness_connect(port);
    char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n", path,
             headers != NULL ? headers : "");
    assert_int_equal(harness_send(fd, req, strlen(req)), 0);
    char *line = harness_read_line(fd, 10000);
    assert_non_null(line);
    *status = 0;
    sscanf(line, "HTTP/1.1 %d", status);
    free(line);
    return fd;
}

/*
 * Reads the stream until an event of this type whose data contains needle (NULL: any)
 * arrives within timeout_ms; returns its data (malloc'd) or NULL. Chunk-size lines of the
 * chunked encoding are read past like any other line that is not "event:" or "data:".
 */
static char *wait_event(int fd, const char *type, const char *needle, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    bool in_event = false;
    for (;;) {
        long long left = deadline - harness_now_ms();
        char *line = left > 0 ? harness_read_line(fd, (int)left) : NULL;
        if (line == NULL) {
            return NULL;
        }
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r') {
            line[--n] = '\0';
        }
        if (strncmp(line, "event: ", 7) == 0) {
            in_event = strcmp(line + 7, type) == 0;
        } else if (in_event && strncmp(line, "data: ", 6) == 0 &&
                   (needle == NULL || strstr(line, needle) != NULL)) {
            char *data = strdup(line + 6);
            free(line);
            return data;
        }
        free(line);
    }
}

/* Asserts that an event of this type with needle in its data arrives within 5 s. */
static void expect_event(int fd, const char *type, const char *needle, const char *what)
{
    char *data = wait_event(fd, type, needle, 5000);
    if (data == NULL) {
        fail_msg("no %s event with %s: %s", type, needle, what);
    }
    free(data);
}

/* Opens a customer's stream and waits for its "ready" event naming the survivor. */
static int customer_stream(int http_port, const char *customer, const char *headers)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/stream", customer);
    int status;
    int fd = open_stream(http_port, path, headers, &status);
    assert_int_equal(status, 200);
    char *ready = wait_event(fd, "ready", customer, 10000);
    if (ready == NULL) {
        fail_msg("no ready event on the stream of %s", customer);
    }
    free(ready);
    return fd;
}

/* Sends a record to tcp_port and asserts that the stream fd gets it within the budget. */
static void assert_record_arrives(int fd, int tcp_port, const char *record, const char *needle)
{
    long long t0 = harness_now_ms();
    free(send_record(tcp_port, record));
    char *data = wait_event(fd, "interaction", needle, 15000);
    long long took = harness_now_ms() - t0;
    if (data == NULL) {
        fail_msg("the record with %s never reached the stream", needle);
    }
    print_message("record reached the stream %lld ms after it was sent\n", took);
    json_t *j = json_loads(data, 0, NULL);
    free(data);
    assert_non_null(j);
    /* The timeline's item shape: the record as stored. */
    assert_non_null(json_object_get(j, "id"));
    assert_non_null(json_object_get(j, "occurred_at"));
    json_decref(j);
    if (took > live_budget_ms()) {
        fail_msg("the record took %lld ms to reach the stream (budget %ld ms)", took,
                 live_budget_ms());
    }
}

static void stream_gets_committed_records(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "live_one", NULL);
    char *cust = customer_with_call(d.tcp_port, "09121110001");
    int fd = customer_stream(d.http_port, cust, NULL);
    /* Written in Persian digits, as an adapter may send it: the same customer. */
    assert_record_arrives(fd, d.tcp_port,
                          "{\"source\":\"mail\",\"channel\":\"email\",\"external_id\":\"m-1\","
                          "\"occurred_at\":\"2026-12-01T11:00:00Z\","
                          "\"customer\":{\"phone\":\"۰۹۱۲۱۱۱۰۰۰۱\",\"email\":\"a@example.com\"},"
                          "\"subject\":\"live-subject-1\"}",
                          "live-subject-1");
    /* Another customer's record is not this stream's: the next event is the third record. */
    free(send_record(d.tcp_port, "{\"source\":\"sms-gw\",\"channel\":\"sms\","
                                 "\"occurred_at\":\"2026-12-01T12:00:00Z\","
                                 "\"customer\":{\"phone\":\"09121110002\"},\"body\":\"other\"}"));
    assert_record_arrives(fd, d.tcp_port,
                          "{\"source\":\"sms-gw\",\"channel\":\"sms\","
                          "\"occurred_at\":\"2026-12-01T13:00:00Z\","
                          "\"customer\":{\"email\":\"A@Example.com\"},\"body\":\"live-body-2\"}",
                          "live-body-2");
    /* A duplicate is not news. */
    free(send_record(d.tcp_port, "{\"source\":\"mail\",\"channel\":\"email\",\"external_id\":"
                                 "\"m-1\",\"occurred_at\":\"2026-12-01T11:00:00Z\","
                                 "\"customer\":{\"email\":\"a@example.com\"}}"));
    char *dup = wait_event(fd, "interaction", NULL, 1500);
    if (dup != NULL) {
        fail_msg("a duplicate was pushed again: %s", dup);
    }
    close(fd);
    free(cust);
    assert_int_equal(harness_stop(&d), 0);
}

/* Starts daemon a on a fresh database and b on the same one. */
static void start_two(struct harness_daemon *a, struct harness_daemon *b, const char *name)
{
    harness_start(a, name, NULL);
    *b = *a;
    snprintf(b->log_path, sizeof(b->log_path), "%s/touchlined-%s-b.log", harness_tmp_dir(),
             a->dbname);
    harness_restart(b, NULL);
}

/* Two daemons on one database: the stream is on one, the record goes to the other. */
static void two_daemons_one_database(void **state)
{
    (void)state;
    struct harness_daemon a, b;
    start_two(&a, &b, "live_two");
    char *sara = send_record(a.tcp_port, "{\"source\":\"pbx\",\"channel\":\"phone\","
                                         "\"occurred_at\":\"2026-12-01T09:00:00Z\","
                                         "\"customer\":{\"phone\":\"09122220001\"},"
                                         "\"status\":\"missed\"}");
    char *other = send_record(b.tcp_port, "{\"source\":\"web\",\"channel\":\"web\","
                                          "\"occurred_at\":\"2026-12-01T09:30:00Z\","
                                          "\"customer\":{\"email\":\"sara@example.com\"}}");
    int on_b = customer_stream(b.http_port, sara, NULL);
    int on_a = customer_stream(a.http_port, sara, NULL);
    int all_b;
    int status;
    all_b = open_stream(b.http_port, "/v1/stream", NULL, &status);
    assert_int_equal(status, 200);
    free(wait_event(all_b, "ready", NULL, 10000));
    /* Stored by a, heard on b (and on a). */
    assert_record_arrives(on_b, a.tcp_port,
                          "{\"source\":\"pbx\",\"channel\":\"phone\",\"direction\":\"outbound\","
                          "\"occurred_at\":\"2026-12-01T09:40:00Z\","
                          "\"customer\":{\"phone\":\"+989122220001\"},\"agent\":\"agent-from-a\"}",
                          "agent-from-a");
    expect_event(on_a, "interaction", "agent-from-a", "the daemon that stored it streams it too");
    expect_event(all_b, "activity", "customers", "the all-customers stream hears of it");
    /* A record naming both: the customer made later (other) is merged into sara, and a
     * stream opened on other's id follows it. */
    int on_other = customer_stream(a.http_port, other, NULL);
    free(send_record(b.tcp_port, "{\"source\":\"chat\",\"channel\":\"chat\","
                                 "\"occurred_at\":\"2026-12-01T10:00:00Z\","
                                 "\"customer\":{\"phone\":\"09122220001\","
                                 "\"email\":\"sara@example.com\"},\"body\":\"merge-me\"}"));
    expect_event(on_other, "merged", sara, "the merged-away customer's stream is told");
    expect_event(on_other, "interaction", "merge-me", "and then follows the survivor");
    expect_event(on_b, "interaction", "merge-me", "the survivor's stream gets the record");
    close(on_a);
    close(on_b);
    close(all_b);
    close(on_other);
    free(sara);
    free(other);
    assert_int_equal(harness_stop(&b), 0);
    assert_int_equal(harness_stop(&a), 0);
}

static void streams_want_a_token_and_are_bounded(void **state)
{
    (void)state;
    struct harness_daemon d;
    /* agent reads with read-secret-1, feeder writes with feed-secret-1 (their SHA-256). */
    const char *env[] = {
        "TOUCHLINE_AUTH_PRINCIPAL=agent scopes=read "
        "token=sha256:15f72194632d93610ec51629347dd77f1bfb8a9fb0ef89463beabab2bba36aff,"
        "feeder scopes=ingest "
        "token=sha256:4ce043072e73abbfd7fc2021a9514dcf92d0516cad18278fbb5be62eb3209d80",
        "TOUCHLINE_LIVE_MAX_STREAMS=1", NULL};
    harness_start(&d, "live_auth", env);
    int fd = harness_connect(d.tcp_port);
    char *ok = harness_roundtrip(fd, "{\"auth\":\"feed-secret-1\"}");
    free(ok);
    char *answer = harness_roundtrip(fd, "{\"source\":\"pbx\",\"channel\":\"phone\","
                                         "\"occurred_at\":\"2026-12-01T09:00:00Z\","
                                         "\"customer\":{\"phone\":\"09123330001\"}}");
    json_t *j = harness_parse_answer(answer);
    char cust[64];
    snprintf(cust, sizeof(cust), "%s", json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(answer);
    close(fd);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/stream", cust);
    int status;
    int s = open_stream(d.http_port, path, NULL, &status);
    assert_int_equal(status, 401);
    close(s);
    s = open_stream(d.http_port, path, "Authorization: Bearer wrong\r\n", &status);
    assert_int_equal(status, 401);
    close(s);
    /* A token of the ingest scope only may not read. */
    s = open_stream(d.http_port, path, "Authorization: Bearer feed-secret-1\r\n", &status);
    assert_int_equal(status, 403);
    close(s);
    int first = customer_stream(d.http_port, cust, "Authorization: Bearer read-secret-1\r\n");
    /* [live] max_streams = 1: a second one waits for the first to end. */
    s = open_stream(d.http_port, "/v1/stream", "Authorization: Bearer read-secret-1\r\n", &status);
    assert_int_equal(status, 503);
    close(s);
    close(first);
    /* The daemon notices the closed stream; then a new one is let in. */
    long long deadline = harness_now_ms() + 10000;
    do {
        usleep(50000);
        s = open_stream(d.http_port, "/v1/stream", "Authorization: Bearer read-secret-1\r\n",
                        &status);
        if (status != 200) {
            close(s);
        }
    } while (status != 200 && harness_now_ms() < deadline);
    assert_int_equal(status, 200);
    close(s);
    assert_int_equal(harness_stop(&d), 0);
}

/* A client that stops reading is cut off at [live] max_buffer_kb, not buffered for ever. */
static void a_client_that_does_not_read_is_dropped(void **state)
{
    (void)state;
    struct harness_daemon d;
    const char *env[] = {"TOUCHLINE_LIVE_MAX_BUFFER_KB=16", NULL};
    harness_start(&d, "live_slow", env);
    char *cust = customer_with_call(d.tcp_port, "09124440001");
    int slow = customer_stream(d.http_port, cust, NULL);
    /* From now on nothing is read from slow: the kernel's buffers fill, then the daemon's. */
    char *body = testmain_repeat("x", 60000);
    int tcp = harness_connect(d.tcp_port);
    long long deadline = harness_now_ms() + 60000;
    bool dropped = false;
    for (int i = 0; !dropped && harness_now_ms() < deadline; i++) {
        char *line = malloc(61000);
        assert_non_null(line);
        snprintf(line, 61000,
                 "{\"source\":\"mail\",\"channel\":\"email\",\"external_id\":\"big-%d\","
                 "\"occurred_at\":\"2026-12-01T10:00:00Z\","
                 "\"customer\":{\"phone\":\"09124440001\"},\"body\":\"%s\"}",
                 i, body);
        char *a = harness_roundtrip(tcp, line);
        free(a);
        free(line);
        if (i % 10 == 9) {
            char *metrics = NULL;
            assert_int_equal(harness_http(d.http_port, "GET", "/metrics", NULL, NULL, &metrics),
                             200);
            dropped = strstr(metrics, "\ntouchline_live_dropped_total 1\n") != NULL;
            free(metrics);
        }
    }
    free(body);
    close(tcp);
    close(slow);
    free(cust);
    if (!dropped) {
        fail_msg("a stream whose client read nothing was never dropped");
    }
    assert_int_equal(harness_stop(&d), 0);
}

/* The listening connection is cut: it comes back, the streams are told to catch up (what was
 * committed meanwhile was not heard), and records flow again. */
static void listener_reconnects(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "live_reconnect", NULL);
    char *cust = customer_with_call(d.tcp_port, "09126660001");
    int fd = customer_stream(d.http_port, cust, NULL);
    PGconn *pg = harness_pg(d.dbname);
    long cut = harness_sql_long(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE application_name = 'touchlined-live' "
                                    "AND datname = current_database()");
    PQfinish(pg);
    assert_int_equal(cut, 1);
    expect_event(fd, "resync", "{}", "the stream is told to catch up after the reconnection");
    assert_record_arrives(fd, d.tcp_port,
                          "{\"source\":\"sms-gw\",\"channel\":\"sms\","
                          "\"occurred_at\":\"2026-12-01T09:10:00Z\","
                          "\"customer\":{\"phone\":\"09126660001\"},\"body\":\"after-cut\"}",
                          "after-cut");
    close(fd);
    free(cust);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Two daemons behind one address: HAProxy on the shipped packaging/haproxy.cfg (round robin,
 * no stickiness). Streams opened through it land on either daemon; records stored through
 * either reach all of them.
 */
static void behind_one_address(void **state)
{
    (void)state;
    struct harness_daemon a, b;
    start_two(&a, &b, "live_proxy");
    struct harness_balancer lb = {0};
    harness_balancer_start(&lb, &a, &b);
    if (!harness_balancer_wait(&lb, "touchlined1", true, 10000) ||
        !harness_balancer_wait(&lb, "touchlined2", true, 10000)) {
        harness_balancer_stop(&lb);
        fail_msg("HAProxy never saw both daemons up (its log: %s)", lb.log_path);
    }
    char *cust = customer_with_call(a.tcp_port, "09125550001");
    /* Round robin: two streams in a row are one on each daemon. */
    int s1 = customer_stream(lb.http_port, cust, NULL);
    int s2 = customer_stream(lb.http_port, cust, NULL);
    char *m = NULL;
    assert_int_equal(harness_http(a.http_port, "GET", "/metrics", NULL, NULL, &m), 200);
    bool on_a = strstr(m, "\ntouchline_live_streams 1\n") != NULL;
    free(m);
    assert_int_equal(harness_http(b.http_port, "GET", "/metrics", NULL, NULL, &m), 200);
    bool on_b = strstr(m, "\ntouchline_live_streams 1\n") != NULL;
    free(m);
    if (!on_a || !on_b) {
        fail_msg("the proxy did not spread the two streams over the two daemons");
    }
    /* Stored through a, then through b: each stream gets both. */
    assert_record_arrives(s1, a.tcp_port,
                          "{\"source\":\"sms-gw\",\"channel\":\"sms\","
                          "\"occurred_at\":\"2026-12-01T09:10:00Z\","
                          "\"customer\":{\"phone\":\"09125550001\"},\"body\":\"via-a\"}",
                          "via-a");
    expect_event(s2, "interaction", "via-a", "the other daemon's stream has it too");
    assert_record_arrives(s2, b.tcp_port,
                          "{\"source\":\"sms-gw\",\"channel\":\"sms\","
                          "\"occurred_at\":\"2026-12-01T09:20:00Z\","
                          "\"customer\":{\"phone\":\"09125550001\"},\"body\":\"via-b\"}",
                          "via-b");
    expect_event(s1, "interaction", "via-b", "and the first stream the second record");
    close(s1);
    close(s2);
    free(cust);
    harness_balancer_stop(&lb);
    assert_int_equal(harness_stop(&b), 0);
    assert_int_equal(harness_stop(&a), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_gets_committed_records),
        cmocka_unit_test(two_daemons_one_database),
        cmocka_unit_test(streams_want_a_token_and_are_bounded),
        cmocka_unit_test(a_client_that_does_not_read_is_dropped),
        cmocka_unit_test(listener_reconnects),
        cmocka_unit_test(behind_one_address),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
