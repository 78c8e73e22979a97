/*
 * The TCP ingest protocol (CONTRACT §3) against the real daemon and PostgreSQL: every error
 * code, answers in order under pipelining, idempotent resends, line limits.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/* The harness's, under the names this file uses. */
#define parse(line) harness_parse_answer(line)
#define assert_error(line, code, needle, lineno)                                                   \
    harness_assert_error_answer((line), (code), (needle), (lineno))

/* Asserts an accepted answer; copies its customer_id if out is not NULL. */
static void assert_ok(const char *line, bool duplicate, char *id_out, char *customer_out)
{
    json_t *j = parse(line);
    if (!json_is_true(json_object_get(j, "ok"))) {
        fail_msg("expected ok, got: %s", line);
    }
    assert_int_equal(json_is_true(json_object_get(j, "duplicate")), duplicate);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *cust = json_string_value(json_object_get(j, "customer_id"));
    assert_non_null(id);
    assert_non_null(cust);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(strlen(cust), 36);
    if (id_out != NULL) {
        strcpy(id_out, id);
    }
    if (customer_out != NULL) {
        strcpy(customer_out, cust);
    }
    json_decref(j);
}

static const char GOOD[] = "{\"source\":\"test\",\"channel\":\"phone\",\"occurred_at\":"
                           "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"+989121112233\"}}";

static void sample_fixture_end_to_end(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "sample", NULL);
    size_t len;
    char *data = testmain_fixture("sample.ndjson", &len);
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, data, len), 0);
    char ids[16][40], cust[16][40];
    for (int i = 0; i < 16; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        assert_ok(a, i == 15, ids[i], cust[i]);
        free(a);
    }
    /* The resend of line 5 carries line 5's id and the customer it belongs to now. */
    assert_string_equal(ids[15], ids[4]);
    assert_string_equal(cust[15], cust[0]);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 15);
    assert_int_equal(
        harness_sql_long(pg, "SELECT count(*) FROM touchline.customers WHERE merged_into IS NULL"),
        2);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions i "
                                          "JOIN touchline.identities d ON d.customer_id = "
                                          "i.customer_id WHERE d.kind = 'email' AND d.value = "
                                          "'sara.karimi@example.com'"),
                     11);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions i "
                                          "JOIN touchline.identities d ON d.customer_id = "
                                          "i.customer_id WHERE d.kind = 'phone' AND d.value = "
                                          "'+966501234567'"),
                     4);
    PQfinish(pg);
    free(data);
    assert_int_equal(harness_stop(&d), 0);
}

static void malformed_fixture_each_line_answered(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "malformed", NULL);
    size_t len;
    char *data = testmain_fixture("malformed.ndjson", &len);
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, data, len), 0);
    static const struct {
        const char *code;
        const char *field;
    } expect[13] = {
        {"invalid_json", NULL},
        {"invalid_json", NULL},
        {"invalid_record", "channel"},
        {"invalid_record", "occurred_at"},
        {"invalid_record", "customer"},
        {"invalid_record", "customer.phone"},
        {"invalid_record", "customer.email"},
        {"invalid_record", "score"},
        {"invalid_record", "colour"},
        {"invalid_record", "source"},
        {"invalid_record", "object"},
        {"invalid_record", "duration_s"},
        {"invalid_record", "id"},
    };
    for (int i = 0; i < 13; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        assert_error(a, expect[i].code, expect[i].field, i + 1);
        free(a);
    }
    char *a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_ok(a, false, NULL, NULL);
    free(a);
    close(fd);
    free(data);
    assert_int_equal(harness_stop(&d), 0);
}

/* The exact exchange of the foundation issue: two bad lines, then a good one. */
static void broken_json_then_missing_field_then_good(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "broken", NULL);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, "{\"broken");
    assert_error(a, "invalid_json", NULL, 1);
    free(a);
    a = harness_roundtrip(fd, "{\"source\":\"x\"}");
    assert_error(a, "invalid_record", "channel", 2);
    free(a);
    a = harness_roundtrip(fd, GOOD);
    assert_ok(a, false, NULL, NULL);
    free(a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

static void too_large_line_is_skipped(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_INGEST_MAX_LINE_BYTES=2048", NULL};
    struct harness_daemon d;
    harness_start(&d, "too_large", env);
    int fd = harness_connect(d.tcp_port);
    /* One line just over the limit, one of 3 MB, then a good line: each answered. */
    size_t big = 3 * 1024 * 1024;
    char *line = malloc(big + 1);
    assert_non_null(line);
    memset(line, 'x', big);
    line[big] = '\n';
    assert_int_equal(harness_send(fd, line, 2049), 0);
    assert_int_equal(harness_send(fd, "\n", 1), 0);
    assert_int_equal(harness_send(fd, line, big + 1), 0);
    assert_int_equal(harness_send(fd, GOOD, strlen(GOOD)), 0);
    assert_int_equal(harness_send(fd, "\n", 1), 0);
    char *a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_error(a, "too_large", "max_line_bytes", 1);
    free(a);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_error(a, "too_large", "max_line_bytes", 2);
    free(a);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_ok(a, false, NULL, NULL);
    free(a);
    /* A line of exactly the limit is not too large. */
    char exact[2049];
    memset(exact, ' ', sizeof(exact));
    memcpy(exact, GOOD, strlen(GOOD));
    exact[2048] = '\n';
    assert_int_equal(harness_send(fd, exact, sizeof(exact)), 0);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_ok(a, false, NULL, NULL);
    free(a);
    free(line);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

static const char *const AUTH_ENV[] = {
    "TOUCHLINE_AUTH_TOKENS=pbx:pbx-secret-1:asterisk-*|test,web:web-secret-2", NULL};

static void unauthorized_closes_connection(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "unauth", AUTH_ENV);
    /* A record before authenticating. */
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, GOOD);
    assert_error(a, "unauthorized", "auth", 1);
    free(a);
    assert_null(harness_read_line(fd, 5000)); /* closed */
    close(fd);
    /* A wrong token. */
    fd = harness_connect(d.tcp_port);
    a = harness_roundtrip(fd, "{\"auth\":\"wrong-token-123\"}");
    assert_error(a, "unauthorized", "token", 1);
    free(a);
    assert_null(harness_read_line(fd, 5000));
    close(fd);
    assert_true(harness_log_contains(&d, "authentication failed"));
    assert_false(harness_log_contains(&d, "wrong-token-123"));
    assert_int_equal(harness_stop(&d), 0);
}

static void forbidden_source_for_principal(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "forbidden", AUTH_ENV);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, "{\"auth\":\"pbx-secret-1\"}");
    json_t *j = parse(a);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(j, "principal")), "pbx");
    json_decref(j);
    free(a);
    a = harness_roundtrip(fd,
                          "{\"source\":\"twilio\",\"channel\":\"sms\",\"occurred_at\":"
                          "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"+989121112233\"}}");
    assert_error(a, "forbidden", "source", 2);
    free(a);
    a = harness_roundtrip(fd, "{\"source\":\"asterisk-tehran-1\",\"channel\":\"phone\","
                              "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":"
                              "\"+989121112233\"}}");
    assert_ok(a, false, NULL, NULL);
    free(a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

static void exec_admin(const char *sql)
{
    PGconn *pg = harness_pg("postgres");
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(pg);
}

static void unavailable_while_database_unreachable(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "unavail", NULL);
    char sql[512];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS false", d.dbname);
    exec_admin(sql);
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s'",
             d.dbname);
    exec_admin(sql);
    /* Every line is still answered: unavailable, so the adapter keeps it and resends. */
    int fd = harness_connect(d.tcp_port);
    long long deadline = harness_now_ms() + 10000;
    bool saw_unavailable = false;
    while (!saw_unavailable && harness_now_ms() < deadline) {
        char *a = harness_roundtrip(fd, GOOD);
        saw_unavailable = strstr(a, "\"unavailable\"") != NULL;
        free(a);
    }
    assert_true(saw_unavailable);
    /* Readiness follows within moments (an idle connection learns of it from the server). */
    char *body = NULL;
    int status = 0;
    deadline = harness_now_ms() + 5000;
    while (harness_now_ms() < deadline) {
        free(body);
        status = harness_http(d.http_port, "GET", "/readyz", NULL, NULL, &body);
        if (status == 503) {
            break;
        }
        usleep(50000);
    }
    assert_int_equal(status, 503);
    assert_non_null(strstr(body, "database"));
    free(body);
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS true", d.dbname);
    exec_admin(sql);
    /* The daemon reconnects by itself and the resend is stored once. */
    deadline = harness_now_ms() + 20000;
    bool stored = false;
    while (!stored && harness_now_ms() < deadline) {
        char *a = harness_roundtrip(fd, GOOD);
        stored = strstr(a, "\"ok\":true") != NULL;
        free(a);
        if (!stored) {
            usleep(100000);
        }
    }
    assert_true(stored);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 1);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

/* 10 000 lines in one write; every 7th is invalid. Answers come back in input order. */
static void ten_thousand_pipelined_lines_answered_in_order(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "pipeline", NULL);
    enum { N = 10000 };
    size_t cap = (size_t)N * 220, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        if (i % 7 == 3) {
            n += (size_t)snprintf(buf + n, cap - n, "{\"source\":\"pipe\",\"line\":%d}\n", i);
        } else {
            n += (size_t)snprintf(buf + n, cap - n,
                                  "{\"id\":\"00000000-0000-4000-8000-%012d\",\"source\":\"pipe\","
                                  "\"channel\":\"sms\",\"occurred_at\":\"2026-11-20T10:00:00Z\","
                                  "\"customer\":{\"phone\":\"+98912%07d\"}}\n",
                                  i, i % 500);
        }
    }
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, buf, n), 0);
    shutdown(fd, SHUT_WR);
    int ok = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        char *a = harness_read_line(fd, 30000);
        if (a == NULL) {
            fail_msg("no answer for line %d", i + 1);
        }
        json_t *j = parse(a);
        if (i % 7 == 3) {
            assert_true(json_is_false(json_object_get(j, "ok")));
            assert_int_equal(json_integer_value(json_object_get(j, "line")), i + 1);
            bad++;
        } else {
            char expect[40];
            snprintf(expect, sizeof(expect), "00000000-0000-4000-8000-%012d", i);
            assert_string_equal(json_string_value(json_object_get(j, "id")), expect);
            ok++;
        }
        json_decref(j);
        free(a);
    }
    assert_null(harness_read_line(fd, 5000)); /* closed after the last answer */
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), ok);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.customers WHERE "
                                          "merged_into IS NULL"),
                     500);
    PQfinish(pg);
    assert_int_equal(ok + bad, N);
    free(buf);
    assert_int_equal(harness_stop(&d), 0);
}

static void duplicate_resend_stored_once(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "dup", NULL);
    int fd = harness_connect(d.tcp_port);
    static const char rec[] =
        "{\"source\":\"twilio\",\"external_id\":\"SM-dup-1\",\"channel\":\"sms\",\"occurred_at\":"
        "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"+989121112233\"},\"body\":\"سلام\"}";
    char id1[40], c1[40], id2[40], c2[40];
    char *a = harness_roundtrip(fd, rec);
    assert_ok(a, false, id1, c1);
    free(a);
    a = harness_roundtrip(fd, rec);
    assert_ok(a, true, id2, c2);
    free(a);
    assert_string_equal(id1, id2);
    assert_string_equal(c1, c2);
    /* Same id given explicitly, on another connection. */
    char with_id[512];
    snprintf(with_id, sizeof(with_id),
             "{\"id\":\"%s\",\"source\":\"other\",\"channel\":\"sms\",\"occurred_at\":"
             "\"2026-11-21T10:00:00Z\",\"customer\":{\"phone\":\"+989121112233\"}}",
             id1);
    int fd2 = harness_connect(d.tcp_port);
    a = harness_roundtrip(fd2, with_id);
    assert_ok(a, true, id2, NULL);
    assert_string_equal(id1, id2);
    free(a);
    close(fd);
    close(fd2);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 1);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

static void line_endings_and_last_line_without_newline(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "eol", NULL);
    int fd = harness_connect(d.tcp_port);
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s\r\n\n%s", GOOD, GOOD);
    assert_int_equal(harness_send(fd, buf, (size_t)n), 0);
    shutdown(fd, SHUT_WR);
    char *a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_ok(a, false, NULL, NULL);
    free(a);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_error(a, "invalid_json", "empty", 2);
    free(a);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    json_t *j = parse(a);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    free(a);
    assert_null(harness_read_line(fd, 5000));
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sample_fixture_end_to_end),
        cmocka_unit_test(malformed_fixture_each_line_answered),
        cmocka_unit_test(broken_json_then_missing_field_then_good),
        cmocka_unit_test(too_large_line_is_skipped),
        cmocka_unit_test(unauthorized_closes_connection),
        cmocka_unit_test(forbidden_source_for_principal),
        cmocka_unit_test(unavailable_while_database_unreachable),
        cmocka_unit_test(ten_thousand_pipelined_lines_answered_in_order),
        cmocka_unit_test(duplicate_resend_stored_once),
        cmocka_unit_test(line_endings_and_last_line_without_newline),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
