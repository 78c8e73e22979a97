/*
 * Erasure that stays erased (docs/security.md, "What erasure removes and keeps"): after
 * DELETE /v1/customers/{id}, a resend of an erased record is answered erased:true and not
 * stored, also while an adapter keeps resending during the erasure; a new contact from the
 * same phone is a new customer; nothing of the person is left in any table; and every admin
 * action leaves an audit entry without personal data. (Erasure with records in the spool
 * during an outage is in test_faults.c, which owns a cluster it may stop.)
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define PHONE      "09127654321"
#define PHONE_NORM "9127654321"
#define SECRET     "Sara said her daughter's name is Parisa"

static void record_line(char *out, size_t outlen, int i)
{
    snprintf(out, outlen,
             "{\"source\":\"asterisk-1\",\"external_id\":\"sara-%d\",\"channel\":\"phone\","
             "\"occurred_at\":\"2026-11-20T10:0%d:00Z\",\"customer\":{\"phone\":\"" PHONE "\","
             "\"email\":\"sara.k@example.com\",\"name\":\"Sara Karimi\"},\"body\":\"" SECRET
             " %d\"}",
             i, i % 10, i);
}

/* Sends record i; returns its answer (parsed). */
static json_t *send_record(int fd, int i)
{
    char line[1024];
    record_line(line, sizeof(line), i);
    char *a = harness_roundtrip(fd, line);
    json_t *j = harness_parse_answer(a);
    free(a);
    return j;
}

static void erase(const struct harness_daemon *d, const char *customer)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", customer);
    char *body = NULL;
    int st = harness_http(d->http_port, "DELETE", path, NULL, NULL, &body);
    if (st != 200) {
        fail_msg("DELETE %s: %d %s", path, st, body != NULL ? body : "");
    }
    free(body);
}

/* Asserts that no table holds the person's phone, e-mail, name or words. */
static void assert_nothing_left(const struct harness_daemon *d)
{
    PGconn *pg = harness_pg(d->dbname);
    const char *needles[] = {PHONE_NORM, "sara.k@example.com", "Sara Karimi", SECRET};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
        char where[512];
        long n = harness_rows_containing(pg, needles[i], where, sizeof(where));
        if (n != 0) {
            fail_msg("%ld rows still hold \"%s\", in: %s", n, needles[i], where);
        }
    }
    PQfinish(pg);
}

static void resend_after_erasure_is_answered_erased(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "erase_resend", NULL);
    int fd = harness_connect(d.tcp_port);
    char customer[64] = "";
    for (int i = 0; i < 3; i++) {
        json_t *j = send_record(fd, i);
        snprintf(customer, sizeof(customer), "%s",
                 json_string_value(json_object_get(j, "customer_id")));
        json_decref(j);
    }
    erase(&d, customer);
    assert_nothing_left(&d);
    /* The adapter resends what it had sent: each is acknowledged, erased, not stored. */
    for (int i = 0; i < 3; i++) {
        json_t *j = send_record(fd, i);
        assert_true(json_is_true(json_object_get(j, "ok")));
        assert_true(json_is_true(json_object_get(j, "erased")));
        assert_null(json_object_get(j, "customer_id"));
        json_decref(j);
    }
    assert_nothing_left(&d);
    /* A genuinely new contact from the same phone is a new customer. */
    json_t *j = send_record(fd, 7);
    assert_false(json_is_true(json_object_get(j, "erased")));
    const char *fresh = json_string_value(json_object_get(j, "customer_id"));
    assert_non_null(fresh);
    assert_string_not_equal(fresh, customer);
    json_decref(j);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 1);
    /* Tombstones: one per key of each erased record, none naming it. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.tombstones"), 6);
    assert_int_equal(harness_rows_containing(pg, "sara-0", NULL, 0), 0);
    /* The audit entry names who, not whom. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.audit WHERE action = "
                                          "'erase' AND principal = 'anonymous' AND "
                                          "length(customer_hash) = 64"),
                     1);
    PQfinish(pg);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/metrics", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "touchline_records_erased_total 3"));
    free(body);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* An adapter that keeps resending the person's last records, one connection, pipelined. */
struct resender {
    int port;
    atomic_bool stop;
    atomic_long sent, answered, erased, stored;
    pthread_t thread;
};

static void *resender_main(void *arg)
{
    struct resender *r = arg;
    int fd = harness_connect(r->port);
    while (!atomic_load(&r->stop)) {
        char buf[8192];
        size_t len = 0;
        for (int i = 0; i < 5; i++) {
            record_line(buf + len, sizeof(buf) - len, 10 + i);
            len += strlen(buf + len);
            buf[len++] = '\n';
        }
        if (harness_send(fd, buf, len) < 0) {
            break;
        }
        atomic_fetch_add(&r->sent, 5);
        for (int i = 0; i < 5; i++) {
            char *a = harness_read_line(fd, 15000);
            if (a == NULL) {
                close(fd);
                return NULL;
            }
            atomic_fetch_add(&r->answered, 1);
            if (strstr(a, "\"erased\":true") != NULL) {
                atomic_fetch_add(&r->erased, 1);
            } else if (strstr(a, "\"customer_id\"") != NULL) {
                atomic_fetch_add(&r->stored, 1);
            }
            free(a);
        }
    }
    close(fd);
    return NULL;
}

static void erasure_while_adapter_resends(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "erase_busy", NULL);
    int fd = harness_connect(d.tcp_port);
    json_t *j = send_record(fd, 10);
    char customer[64];
    snprintf(customer, sizeof(customer), "%s",
             json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    close(fd);
    struct resender r = {.port = d.tcp_port};
    assert_int_equal(pthread_create(&r.thread, NULL, resender_main, &r), 0);
    while (atomic_load(&r.stored) < 20) {
        usleep(1000);
    }
    erase(&d, customer);
    /* Keep resending a while after the erasure. */
    long erased_at_erase = atomic_load(&r.answered);
    while (atomic_load(&r.answered) < erased_at_erase + 50) {
        usleep(1000);
    }
    atomic_store(&r.stop, true);
    pthread_join(r.thread, NULL);
    print_message("resent %ld: %ld answered duplicate before the erasure, %ld erased\n",
                  atomic_load(&r.sent), atomic_load(&r.stored), atomic_load(&r.erased));
    assert_true(atomic_load(&r.erased) >= 50);
    assert_nothing_left(&d);
    assert_int_equal(harness_stop(&d), 0);
}

/* Merges and exports are audited too; GET /v1/audit lists the log, newest first. */
static void admin_actions_are_audited(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "erase_audit", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[64], b[64];
    json_t *j = send_record(fd, 1);
    snprintf(a, sizeof(a), "%s", json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    char *ans = harness_roundtrip(
        fd, "{\"source\":\"web\",\"channel\":\"web\",\"occurred_at\":\"2026-11-20T10:00:00Z\","
            "\"customer\":{\"web\":\"visitor-1\"}}");
    j = harness_parse_answer(ans);
    snprintf(b, sizeof(b), "%s", json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(ans);
    close(fd);
    char path[128], body_in[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", a);
    snprintf(body_in, sizeof(body_in), "{\"from\":\"%s\"}", b);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "POST", path, body_in, NULL, &body), 200);
    free(body);
    snprintf(path, sizeof(path), "/v1/customers/%s/export", a);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 200);
    free(body);
    erase(&d, a);
    assert_int_equal(harness_http(d.http_port, "GET", "/v1/audit", NULL, NULL, &body), 200);
    json_t *log = json_loads(body, 0, NULL);
    assert_non_null(log);
    json_t *items = json_object_get(log, "items");
    assert_int_equal(json_array_size(items), 3);
    const char *actions[] = {"erase", "export", "merge"};
    const char *hash = NULL;
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(it, "action")), actions[i]);
        assert_string_equal(json_string_value(json_object_get(it, "principal")), "anonymous");
        const char *h = json_string_value(json_object_get(it, "customer_hash"));
        assert_int_equal(strlen(h), 64);
        /* One customer, one hash; and not the id in any form. */
        if (hash != NULL) {
            assert_string_equal(h, hash);
        }
        hash = h;
    }
    assert_null(strstr(body, a));
    json_decref(log);
    free(body);
    assert_nothing_left(&d);
    assert_int_equal(harness_stop(&d), 0);
}

/* The export holds every record, in pages, as one JSON document. */
static void export_streams_everything(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "erase_export", NULL);
    int fd = harness_connect(d.tcp_port);
    enum { N = 1234 };
    size_t cap = (size_t)N * 400, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        record_line(buf + len, cap - len, 100 + i);
        len += strlen(buf + len);
        buf[len++] = '\n';
    }
    assert_int_equal(harness_send(fd, buf, len), 0);
    free(buf);
    char customer[64] = "";
    for (int i = 0; i < N; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        json_t *j = harness_parse_answer(a);
        const char *c = json_string_value(json_object_get(j, "customer_id"));
        assert_non_null(c);
        snprintf(customer, sizeof(customer), "%s", c);
        json_decref(j);
        free(a);
    }
    close(fd);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/export", customer);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 200);
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    if (doc == NULL) {
        fail_msg("the export is not JSON: %s", jerr.text);
    }
    free(body);
    assert_string_equal(json_string_value(json_object_get(doc, "customer_id")), customer);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "profile"), "name")),
                        "Sara Karimi");
    json_t *items = json_object_get(doc, "interactions");
    assert_int_equal(json_array_size(items), N);
    /* Oldest first, each with what it carried. */
    json_t *first = json_array_get(items, 0);
    assert_non_null(strstr(json_string_value(json_object_get(first, "body")), SECRET));
    assert_true(json_array_size(json_object_get(first, "identifiers")) >= 2);
    json_t *ids = json_object_get(doc, "identities");
    assert_int_equal(json_array_size(ids), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(json_string_value(json_object_get(json_array_get(ids, i), "first_record")));
    }
    json_decref(doc);
    /* The client writes the same document as it comes. */
    char cmd[1024], outpath[256];
    snprintf(outpath, sizeof(outpath), "%s/touchline-export-%d.json", harness_tmp_dir(),
             (int)getpid());
    snprintf(cmd, sizeof(cmd), "'%s' --url http://127.0.0.1:%d customer export --phone %s >'%s'",
             getenv("TOUCHLINE_TEST_CLIENT"), d.http_port, PHONE, outpath);
    char *out = NULL;
    assert_int_equal(harness_run(cmd, &out), 0);
    free(out);
    doc = json_load_file(outpath, 0, &jerr);
    if (doc == NULL) {
        fail_msg("touchline customer export wrote no JSON: %s", jerr.text);
    }
    assert_int_equal(json_array_size(json_object_get(doc, "interactions")), N);
    json_decref(doc);
    unlink(outpath);
    /* Not an admin's business to export what does not exist. */
    assert_int_equal(harness_http(d.http_port, "GET",
                                  "/v1/customers/0190a000-0000-7000-8000-000000000000/export", NULL,
                                  NULL, &body),
                     404);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resend_after_erasure_is_answered_erased),
        cmocka_unit_test(erasure_while_adapter_resends),
        cmocka_unit_test(admin_actions_are_audited),
        cmocka_unit_test(export_streams_everything),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
