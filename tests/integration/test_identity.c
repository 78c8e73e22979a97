/*
 * Identity resolution (CONTRACT §2) end to end: normalization of what adapters send,
 * merges of existing customers and their redirects, never_merge identifiers, and many
 * connections racing to write one person's identifiers.
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

/* Sends one record for these customer fields and returns its customer_id (static buf). */
static const char *send_record(int fd, const char *source, const char *external_id,
                               const char *channel, const char *customer_json)
{
    static char customer[40];
    char line[2048];
    snprintf(line, sizeof(line),
             "{\"source\":\"%s\",\"external_id\":\"%s\",\"channel\":\"%s\","
             "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":%s}",
             source, external_id, channel, customer_json);
    char *a = harness_roundtrip(fd, line);
    json_t *j = json_loads(a, 0, NULL);
    if (j == NULL || !json_is_true(json_object_get(j, "ok"))) {
        fail_msg("not accepted: %s -> %s", line, a);
    }
    snprintf(customer, sizeof(customer), "%s",
             json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(a);
    return customer;
}

static long count(PGconn *pg, const char *sql)
{
    return harness_sql_long(pg, sql);
}

static void spellings_of_one_person_resolve_to_one_customer(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "spellings", NULL);
    int fd = harness_connect(d.tcp_port);
    char first[40];
    strcpy(first, send_record(fd, "a", "1", "phone", "{\"phone\":\"۰۹۱۲ ۳۴۵ ۶۷۸۹\"}"));
    static const char *const same[] = {
        "{\"phone\":\"09123456789\"}",
        "{\"phone\":\"+98 (912) 345-6789\"}",
        "{\"phone\":\"00989123456789\"}",
        "{\"phone\":\"+٩٨٩١٢٣٤٥٦٧٨٩\"}",
        "{\"phone\":\"０９１２３４５６７８９\"}",
        "{\"phone\":\"0912.345.6789\"}",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char ext[16];
        snprintf(ext, sizeof(ext), "p%zu", i);
        const char *c = send_record(fd, "a", ext, "sms", same[i]);
        if (strcmp(c, first) != 0) {
            fail_msg("%s resolved to %s, not %s", same[i], c, first);
        }
    }
    char mail[40];
    strcpy(mail, send_record(fd, "m", "1", "email", "{\"email\":\" Sara.Karimi@Example.COM \"}"));
    assert_string_equal(
        send_record(fd, "m", "2", "email", "{\"email\":\"sara.karimi@example.com\"}"), mail);
    char chat[40];
    strcpy(chat, send_record(fd, "c", "1", "chat", "{\"chat\":\"Telegram: @sara_k \"}"));
    assert_string_equal(send_record(fd, "c", "2", "chat", "{\"chat\":\"telegram:@sara_k\"}"), chat);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities WHERE kind = 'phone' "
                               "AND value = '+989123456789'"),
                     1);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities"), 3);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities WHERE kind = 'chat' "
                               "AND value = 'telegram:@sara_k'"),
                     1);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

static void other_country_code_from_config(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_IDENTITY_DEFAULT_COUNTRY_CODE=966", NULL};
    struct harness_daemon d;
    harness_start(&d, "country", env);
    int fd = harness_connect(d.tcp_port);
    char a[40];
    strcpy(a, send_record(fd, "r", "1", "phone", "{\"phone\":\"0501234567\"}"));
    assert_string_equal(send_record(fd, "r", "2", "sms", "{\"phone\":\"+966 50 123 4567\"}"), a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

static void record_joining_two_customers_merges_into_the_older(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "merge", NULL);
    int fd = harness_connect(d.tcp_port);
    char older[40], newer[40];
    strcpy(older, send_record(fd, "w", "1", "web", "{\"web\":\"anon-1\"}"));
    strcpy(newer, send_record(fd, "m", "1", "email", "{\"email\":\"ali@example.ir\"}"));
    assert_string_not_equal(older, newer);
    send_record(fd, "m", "2", "email", "{\"email\":\"ali@example.ir\",\"phone\":\"09121111111\"}");
    /* The joining record: the newer customer is merged into the older one. */
    assert_string_equal(
        send_record(fd, "w", "2", "web", "{\"web\":\"anon-1\",\"email\":\"ali@example.ir\"}"),
        older);
    /* Every identifier of the merged-away customer now answers the survivor. */
    assert_string_equal(send_record(fd, "p", "1", "phone", "{\"phone\":\"+989121111111\"}"), older);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.customers WHERE id = '%s' AND merged_into = '%s'",
             newer, older);
    assert_int_equal(count(pg, sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.merges WHERE survivor = '%s' AND merged = '%s' "
             "AND reason = 'ingest' AND interaction_id IS NOT NULL",
             older, newer);
    assert_int_equal(count(pg, sql), 1);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities i JOIN "
                               "touchline.customers c ON c.id = i.customer_id WHERE "
                               "c.merged_into IS NOT NULL"),
                     0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.interactions WHERE customer_id = '%s'", older);
    assert_int_equal(count(pg, sql), 5);
    PQfinish(pg);
    /* The merged-away id is redirected to the survivor over HTTP. */
    char path[128], *body = NULL;
    snprintf(path, sizeof(path), "/v1/customers/%s", newer);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 200);
    json_t *p = json_loads(body, 0, NULL);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "id")), older);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "merged_ids"), 0)),
                        newer);
    json_decref(p);
    free(body);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", newer);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 200);
    p = json_loads(body, 0, NULL);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "customer_id")), older);
    assert_int_equal(json_array_size(json_object_get(p, "items")), 5);
    json_decref(p);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

static void merge_of_three_customers_and_chained_redirects(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "merge3", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40], c[40];
    strcpy(a, send_record(fd, "s", "1", "web", "{\"web\":\"w-a\"}"));
    strcpy(b, send_record(fd, "s", "2", "web", "{\"web\":\"w-b\"}"));
    strcpy(c, send_record(fd, "s", "3", "web", "{\"web\":\"w-c\"}"));
    /* b absorbs c first, then a absorbs b: c must end up pointing at a, not at b. */
    assert_string_equal(send_record(fd, "s", "4", "web", "{\"web\":[\"w-b\",\"w-c\"]}"), b);
    assert_string_equal(send_record(fd, "s", "5", "web", "{\"web\":[\"w-a\",\"w-b\"]}"), a);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM touchline.customers WHERE merged_into = '%s'",
             a);
    assert_int_equal(count(pg, sql), 2);
    assert_int_equal(
        count(pg, "SELECT count(*) FROM touchline.customers WHERE merged_into IS NULL"), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.interactions WHERE customer_id = '%s'", a);
    assert_int_equal(count(pg, sql), 5);
    PQfinish(pg);
    char path[128], *body = NULL;
    snprintf(path, sizeof(path), "/v1/customers/%s", c);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 200);
    assert_non_null(strstr(body, a));
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

static void never_merge_identifier_attaches_but_never_merges(void **state)
{
    (void)state;
    const char *env[] = {
        "TOUCHLINE_IDENTITY_NEVER_MERGE=phone:021 8800 1234, email:info@shop.example.ir", NULL};
    struct harness_daemon d;
    harness_start(&d, "nevermerge", env);
    int fd = harness_connect(d.tcp_port);
    char sara[40], ali[40], office[40];
    strcpy(sara, send_record(fd, "x", "1", "phone",
                             "{\"phone\":\"+982188001234\",\"email\":\"sara@example.com\"}"));
    strcpy(ali, send_record(fd, "x", "2", "phone",
                            "{\"phone\":\"02188001234\",\"email\":\"ali@example.com\"}"));
    /* The shared office line does not make Ali into Sara. */
    assert_string_not_equal(sara, ali);
    /* A record carrying only the shared line attaches to the customer that has it. */
    strcpy(office, send_record(fd, "x", "3", "phone", "{\"phone\":\"+98 21 8800 1234\"}"));
    assert_string_equal(office, sara);
    /* Both people still resolve to themselves. */
    assert_string_equal(send_record(fd, "x", "4", "email", "{\"email\":\"ali@example.com\"}"), ali);
    assert_string_equal(send_record(fd, "x", "5", "email",
                                    "{\"email\":[\"info@shop.example.ir\",\"sara@example.com\"]}"),
                        sara);
    assert_string_equal(send_record(fd, "x", "6", "email",
                                    "{\"email\":[\"info@shop.example.ir\",\"ali@example.com\"]}"),
                        ali);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.merges"), 0);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.customers"), 2);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * A control character inside an identifier (a tab or newline pasted with a web visitor id)
 * is refused with invalid_record naming the field, as any other bad value is: stored, it would
 * make two spellings of one visitor two customers. At either end it is trimmed like a space.
 */
static void control_characters_inside_identifiers_are_refused(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "ctlchars", NULL);
    int fd = harness_connect(d.tcp_port);
    static const struct {
        const char *customer;
        const char *field;
    } bad[] = {
        {"{\"web\":\"visitor\\tone\"}", "customer.web"},
        {"{\"external\":\"shop\\n42\"}", "customer.external"},
        {"{\"chat\":\"telegram:@sara\\r_k\"}", "customer.chat"},
        {"{\"email\":\"sara\\n@example.com\"}", "customer.email"},
        {"{\"web\":[\"ok-visitor\",\"visitor\\u000bone\"]}", "customer.web"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line),
                 "{\"source\":\"s\",\"channel\":\"web\",\"occurred_at\":\"2026-11-30T12:00:00Z\","
                 "\"customer\":%s}",
                 bad[i].customer);
        char *a = harness_roundtrip(fd, line);
        char needle[64];
        snprintf(needle, sizeof(needle), "%s: ", bad[i].field);
        harness_assert_error_answer(a, "invalid_record", needle, 0);
        if (strstr(a, "control character") == NULL) {
            fail_msg("%s answered %s, not naming the control character", line, a);
        }
        free(a);
    }
    /* Trimmed at the ends, like any white space. */
    char web[40];
    strcpy(web, send_record(fd, "s", "t1", "web", "{\"web\":\"\\tvisitor-one\\n\"}"));
    assert_string_equal(send_record(fd, "s", "t2", "web", "{\"web\":\"visitor-one\"}"), web);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.interactions"), 2);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities WHERE kind = 'web' "
                               "AND value = 'visitor-one'"),
                     1);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * 8 connections send, at once, records that chain one person's identifiers: connection i
 * links phone i and email i, then email i and phone i+1, in many rounds, for several people.
 * Whatever order the batches commit in, each person ends as exactly one customer, and no
 * identifier points at a merged-away customer.
 */
static void eight_connections_chaining_identifiers_end_in_one_customer(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_INGEST_BATCH_MAX_RECORDS=7", "TOUCHLINE_DATABASE_POOL_SIZE=4",
                         NULL};
    struct harness_daemon d;
    harness_start(&d, "chain8", env);
    enum { CONNS = 8, PEOPLE = 6, ROUNDS = 4 };
    int fds[CONNS];
    size_t cap = 1 << 20;
    char *bufs[CONNS];
    size_t lens[CONNS];
    int lines[CONNS];
    for (int c = 0; c < CONNS; c++) {
        fds[c] = harness_connect(d.tcp_port);
        bufs[c] = malloc(cap);
        assert_non_null(bufs[c]);
        lens[c] = 0;
        lines[c] = 0;
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int p = 0; p < PEOPLE; p++) {
            for (int c = 0; c < CONNS; c++) {
                /* Rotate which link each connection sends so that links race both ways. */
                int i = (c + r + p) % CONNS;
                int next = (i + 1) % CONNS;
                lens[c] += (size_t)snprintf(
                    bufs[c] + lens[c], cap - lens[c],
                    "{\"source\":\"chain\",\"channel\":\"chat\",\"occurred_at\":"
                    "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"+98912%02d%05d\","
                    "\"email\":\"p%d-%d@example.com\"}}\n"
                    "{\"source\":\"chain\",\"channel\":\"email\",\"occurred_at\":"
                    "\"2026-11-20T10:00:01Z\",\"customer\":{\"email\":\"p%d-%d@example.com\","
                    "\"phone\":\"+98912%02d%05d\"}}\n",
                    p, i, p, i, p, i, p, next);
                lines[c] += 2;
            }
        }
    }
    /* Write everything before reading anything, interleaved in chunks. */
    size_t off[CONNS] = {0};
    bool more = true;
    while (more) {
        more = false;
        for (int c = 0; c < CONNS; c++) {
            size_t n = lens[c] - off[c] < 4096 ? lens[c] - off[c] : 4096;
            if (n > 0) {
                assert_int_equal(harness_send(fds[c], bufs[c] + off[c], n), 0);
                off[c] += n;
                more = true;
            }
        }
    }
    for (int c = 0; c < CONNS; c++) {
        for (int l = 0; l < lines[c]; l++) {
            char *a = harness_read_line(fds[c], 30000);
            if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
                fail_msg("connection %d line %d: %s", c, l + 1, a != NULL ? a : "(no answer)");
            }
            free(a);
        }
        close(fds[c]);
        free(bufs[c]);
    }
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(
        count(pg, "SELECT count(*) FROM touchline.customers WHERE merged_into IS NULL"), PEOPLE);
    assert_int_equal(count(pg, "SELECT count(DISTINCT customer_id) FROM touchline.identities"),
                     PEOPLE);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities"), PEOPLE * CONNS * 2);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.identities i JOIN "
                               "touchline.customers c ON c.id = i.customer_id WHERE "
                               "c.merged_into IS NOT NULL"),
                     0);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.interactions i JOIN "
                               "touchline.customers c ON c.id = i.customer_id WHERE "
                               "c.merged_into IS NOT NULL"),
                     0);
    /* Each person's identifiers all share one customer. */
    assert_int_equal(count(pg, "SELECT count(*) FROM (SELECT split_part(value, '-', 1) AS person, "
                               "count(DISTINCT customer_id) AS n FROM touchline.identities "
                               "WHERE kind = 'email' GROUP BY 1) x WHERE n <> 1"),
                     0);
    assert_int_equal(count(pg, "SELECT count(*) FROM touchline.interactions"),
                     CONNS * PEOPLE * ROUNDS * 2);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spellings_of_one_person_resolve_to_one_customer),
        cmocka_unit_test(other_country_code_from_config),
        cmocka_unit_test(record_joining_two_customers_merges_into_the_older),
        cmocka_unit_test(merge_of_three_customers_and_chained_redirects),
        cmocka_unit_test(never_merge_identifier_attaches_but_never_merges),
        cmocka_unit_test(eight_connections_chaining_identifiers_end_in_one_customer),
        cmocka_unit_test(control_characters_inside_identifiers_are_refused),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
