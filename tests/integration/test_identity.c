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

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v == NULL) {
        fail_msg("no string \"%s\" in the answer", key);
    }
    return v;
}

/* The id of the one merge of customer c whose merged-away customer is `merged`. */
static long long merge_id_of(const struct harness_daemon *d, const char *c, const char *merged)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/identities", c);
    json_t *j = harness_http_json(d, "GET", path, NULL, NULL, 200);
    long long id = -1;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "merges"), i, m)
    {
        if (strcmp(jstr(m, "merged"), merged) == 0 && json_object_get(m, "undone_at") == NULL) {
            id = json_integer_value(json_object_get(m, "merge_id"));
        }
    }
    json_decref(j);
    if (id < 0) {
        fail_msg("customer %s has no merge of %s", c, merged);
    }
    return id;
}

static json_t *unmerge(const struct harness_daemon *d, const char *c, long long merge, int want)
{
    char path[128], body[64];
    snprintf(path, sizeof(path), "/v1/customers/%s/unmerge", c);
    snprintf(body, sizeof(body), "{\"merge_id\":%lld}", merge);
    return harness_http_json(d, "POST", path, body, NULL, want);
}

/* The live customer id `id` stands for now. */
static void current(const struct harness_daemon *d, const char *id, char out[40])
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", id);
    json_t *j = harness_http_json(d, "GET", path, NULL, NULL, 200);
    snprintf(out, 40, "%s", jstr(j, "id"));
    json_decref(j);
}

/* Rows of touchline.<table> on customer id, with the further condition `and` ("" for none). */
static long count_of(const struct harness_daemon *d, const char *table, const char *id,
                     const char *and)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM touchline.%s WHERE customer_id = '%s'%s",
             table, id, and);
    PGconn *pg = harness_pg(d->dbname);
    long n = count(pg, sql);
    PQfinish(pg);
    return n;
}

/*
 * Provenance: each identity names the record that first brought it and the customer it first
 * belonged to; the merge names the record that joined them and the identifiers that linked
 * the two; why answers the chain between two identifiers.
 */
static void identities_and_why_show_where_each_identifier_came_from(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "provenance", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40];
    strcpy(a, send_record(fd, "shop", "v1", "web", "{\"web\":\"anon-1\"}"));
    strcpy(b, send_record(fd, "mail", "m1", "email", "{\"email\":\"ali@example.ir\"}"));
    send_record(fd, "shop", "v2", "web", "{\"web\":\"anon-1\",\"email\":\"Ali@Example.IR\"}");
    close(fd);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/identities", b);
    json_t *j = harness_http_json(&d, "GET", path, NULL, NULL, 200);
    assert_string_equal(jstr(j, "customer_id"), a);
    json_t *ids = json_object_get(j, "identities");
    assert_int_equal(json_array_size(ids), 2);
    /* Sorted by kind: email, then web. */
    json_t *email = json_array_get(ids, 0), *web = json_array_get(ids, 1);
    assert_string_equal(jstr(email, "value"), "ali@example.ir");
    assert_string_equal(jstr(json_object_get(email, "first_record"), "external_id"), "m1");
    assert_string_equal(jstr(json_object_get(email, "first_record"), "source"), "mail");
    assert_string_equal(jstr(email, "first_customer"), b);
    assert_non_null(json_object_get(email, "first_seen"));
    assert_string_equal(jstr(json_object_get(web, "first_record"), "external_id"), "v1");
    assert_string_equal(jstr(web, "first_customer"), a);
    json_t *merges = json_object_get(j, "merges");
    assert_int_equal(json_array_size(merges), 1);
    json_t *m = json_array_get(merges, 0);
    assert_string_equal(jstr(m, "survivor"), a);
    assert_string_equal(jstr(m, "merged"), b);
    assert_string_equal(jstr(m, "reason"), "ingest");
    assert_string_equal(jstr(m, "source"), "shop");
    assert_string_equal(jstr(json_object_get(m, "record"), "external_id"), "v2");
    /* The linking identifiers, with the customer each belonged to. */
    json_t *links = json_object_get(m, "identifiers");
    assert_int_equal(json_array_size(links), 2);
    assert_string_equal(jstr(json_array_get(links, 0), "value"), "ali@example.ir");
    assert_string_equal(jstr(json_array_get(links, 0), "customer"), b);
    assert_string_equal(jstr(json_array_get(links, 1), "value"), "anon-1");
    assert_string_equal(jstr(json_array_get(links, 1), "customer"), a);
    json_decref(j);

    j = harness_http_json(&d, "GET", "/v1/why?web=anon-1&email=ALI@example.ir", NULL, NULL, 200);
    assert_true(json_is_true(json_object_get(j, "joined")));
    assert_string_equal(jstr(j, "customer"), a);
    assert_string_equal(
        jstr(json_object_get(json_object_get(j, "a"), "first_record"), "external_id"), "v1");
    assert_string_equal(
        jstr(json_object_get(json_object_get(j, "b"), "first_record"), "external_id"), "m1");
    assert_int_equal(json_array_size(json_object_get(j, "merges")), 1);
    assert_string_equal(
        jstr(json_object_get(json_array_get(json_object_get(j, "merges"), 0), "record"),
             "external_id"),
        "v2");
    json_decref(j);
    j = harness_http_json(&d, "GET", "/v1/why?web=anon-1&phone=09120000000", NULL, NULL, 404);
    json_decref(j);
    j = harness_http_json(&d, "GET", "/v1/why?web=anon-1", NULL, NULL, 400);
    json_decref(j);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Unmerge, simple: the merged-away customer comes back with its id, its identity and its
 * records, including one that arrived after the merge carrying only its identifier; the record
 * that joined them stays. The pair is then kept apart until the rule is removed.
 */
static void unmerge_restores_the_customer_and_keeps_the_pair_apart(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "unmerge", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40];
    strcpy(a, send_record(fd, "pbx", "c1", "phone", "{\"phone\":\"09121111111\"}"));
    strcpy(b, send_record(fd, "mail", "m1", "email", "{\"email\":\"sara@example.com\"}"));
    assert_string_equal(send_record(fd, "crm", "j1", "web",
                                    "{\"phone\":\"09121111111\",\"email\":\"sara@example.com\"}"),
                        a);
    /* After the merge, a record with the merged-away customer's identifier alone. */
    assert_string_equal(send_record(fd, "mail", "m2", "email", "{\"email\":\"sara@example.com\"}"),
                        a);
    long long merge = merge_id_of(&d, a, b);
    json_t *j = unmerge(&d, a, merge, 200);
    assert_string_equal(jstr(j, "restored"), b);
    assert_string_equal(jstr(j, "customer"), a);
    assert_int_equal(json_integer_value(json_object_get(j, "identities")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "interactions")), 2);
    long long apart = json_integer_value(json_object_get(j, "apart_id"));
    json_decref(j);
    /* Undone once only. */
    json_decref(unmerge(&d, a, merge, 400));

    char now[40];
    current(&d, b, now);
    assert_string_equal(now, b);
    assert_int_equal(count_of(&d, "interactions", b, " AND external_id IN ('m1', 'm2')"), 2);
    assert_int_equal(count_of(&d, "interactions", a, " AND external_id IN ('c1', 'j1')"), 2);
    /* New records find each side again. */
    assert_string_equal(send_record(fd, "mail", "m3", "email", "{\"email\":\"sara@example.com\"}"),
                        b);
    assert_string_equal(send_record(fd, "pbx", "c2", "phone", "{\"phone\":\"+989121111111\"}"), a);
    /* Kept apart: the joining identifiers together no longer merge the two. */
    assert_string_equal(send_record(fd, "crm", "j2", "web",
                                    "{\"phone\":\"09121111111\",\"email\":\"sara@example.com\"}"),
                        a);
    current(&d, b, now);
    assert_string_equal(now, b);
    char path[160];
    snprintf(path, sizeof(path), "/v1/customers/%s/identities", b);
    j = harness_http_json(&d, "GET", path, NULL, NULL, 200);
    json_t *ka = json_array_get(json_object_get(j, "kept_apart"), 0);
    assert_non_null(ka);
    assert_string_equal(jstr(ka, "other"), a);
    assert_int_equal(json_integer_value(json_object_get(ka, "apart_id")), apart);
    json_decref(j);
    /* Removed, the next joining record merges them again. */
    snprintf(path, sizeof(path), "/v1/customers/%s/apart/%lld", b, apart);
    json_decref(harness_http_json(&d, "DELETE", path, NULL, NULL, 200));
    json_decref(harness_http_json(&d, "DELETE", path, NULL, NULL, 404));
    assert_string_equal(send_record(fd, "crm", "j3", "web",
                                    "{\"phone\":\"09121111111\",\"email\":\"sara@example.com\"}"),
                        a);
    current(&d, b, now);
    assert_string_equal(now, a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Chained A <- B <- C: C was merged into B, then B into A. Undoing B's merge brings B back
 * with C's identities and records (C redirects to B again); undoing C's merge afterwards
 * brings C back from B.
 */
static void unmerge_of_a_chain_brings_back_what_came_with_the_merged_customer(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "unmergechain", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40], c[40], now[40];
    strcpy(a, send_record(fd, "s", "a", "web", "{\"web\":\"w-a\"}"));
    strcpy(b, send_record(fd, "s", "b", "web", "{\"web\":\"w-b\"}"));
    strcpy(c, send_record(fd, "s", "c", "web", "{\"web\":\"w-c\"}"));
    assert_string_equal(send_record(fd, "s", "bc", "web", "{\"web\":[\"w-b\",\"w-c\"]}"), b);
    assert_string_equal(send_record(fd, "s", "ab", "web", "{\"web\":[\"w-a\",\"w-b\"]}"), a);
    json_decref(unmerge(&d, a, merge_id_of(&d, a, b), 200));
    current(&d, b, now);
    assert_string_equal(now, b);
    current(&d, c, now);
    assert_string_equal(now, b);
    assert_string_equal(send_record(fd, "s", "c2", "web", "{\"web\":\"w-c\"}"), b);
    assert_string_equal(send_record(fd, "s", "a2", "web", "{\"web\":\"w-a\"}"), a);
    /* b, c, bc and c2 are B's; a, ab and a2 are A's. */
    assert_int_equal(count_of(&d, "interactions", b, ""), 4);
    assert_int_equal(count_of(&d, "interactions", a, ""), 3);
    json_decref(unmerge(&d, b, merge_id_of(&d, b, c), 200));
    current(&d, c, now);
    assert_string_equal(now, c);
    assert_int_equal(count_of(&d, "interactions", c, ""), 2);
    assert_int_equal(count_of(&d, "identities", c, ""), 1);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* A manual merge made after the automatic one stays when the automatic one is undone, and a
 * merge of another customer is refused. */
static void unmerge_keeps_a_later_manual_merge(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "unmergemanual", NULL);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40], x[40], now[40];
    strcpy(a, send_record(fd, "s", "a", "phone", "{\"phone\":\"09122222222\"}"));
    strcpy(b, send_record(fd, "s", "b", "email", "{\"email\":\"b@example.com\"}"));
    strcpy(x, send_record(fd, "s", "x", "chat", "{\"chat\":\"telegram:@x\"}"));
    send_record(fd, "s", "ab", "sms", "{\"phone\":\"09122222222\",\"email\":\"b@example.com\"}");
    char path[128], body[96];
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", a);
    snprintf(body, sizeof(body), "{\"from\":\"%s\"}", x);
    json_decref(harness_http_json(&d, "POST", path, body, NULL, 200));
    long long merge = merge_id_of(&d, a, b);
    /* Not a merge of B. */
    json_decref(unmerge(&d, b, merge_id_of(&d, a, x) + 1000, 404));
    json_decref(unmerge(&d, a, merge, 200));
    current(&d, x, now);
    assert_string_equal(now, a);
    current(&d, b, now);
    assert_string_equal(now, b);
    assert_string_equal(send_record(fd, "s", "x2", "chat", "{\"chat\":\"telegram:@x\"}"), a);
    assert_string_equal(send_record(fd, "s", "b2", "email", "{\"email\":\"b@example.com\"}"), b);
    /* The manual merge can be undone too: X comes back. */
    json_decref(unmerge(&d, a, merge_id_of(&d, a, x), 200));
    current(&d, x, now);
    assert_string_equal(now, x);
    assert_int_equal(count_of(&d, "interactions", x, ""), 2);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* The value of an unlabelled sample of /metrics. */
static double metric(const struct harness_daemon *d, const char *name)
{
    double v = harness_metric(d, name);
    if (v == -2) {
        fail_msg("no %s in /metrics", name);
    }
    return v;
}

/*
 * Merge protection: with at most 2 phones per customer, a record that would merge a third
 * phone's customer into one with two does not merge; it goes to the customer of its e-mail
 * address (email before phone in the default priority) and the conflict waits for review,
 * where a person merges or dismisses it.
 */
static void a_merge_past_a_limit_is_refused_and_queued_for_review(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_IDENTITY_MAX_PHONE=2",
                         "TOUCHLINE_IDENTITY_SUSPECT_CUSTOMERS_PER_DAY=1", NULL};
    struct harness_daemon d;
    harness_start(&d, "limits", env);
    int fd = harness_connect(d.tcp_port);
    char sara[40], other[40], third[40], now[40];
    strcpy(sara, send_record(fd, "s", "1", "sms",
                             "{\"email\":\"sara@example.com\",\"phone\":\"09121111111\"}"));
    assert_string_equal(send_record(fd, "s", "2", "sms",
                                    "{\"email\":\"sara@example.com\",\"phone\":\"09122222222\"}"),
                        sara);
    strcpy(other, send_record(fd, "s", "3", "phone", "{\"phone\":\"09123333333\"}"));
    strcpy(third, send_record(fd, "s", "4", "phone", "{\"phone\":\"09124444444\"}"));
    /* A third phone by merging: refused; the record goes to the e-mail's customer. */
    assert_string_equal(send_record(fd, "s", "5", "sms",
                                    "{\"phone\":\"09123333333\",\"email\":\"sara@example.com\"}"),
                        sara);
    current(&d, other, now);
    assert_string_equal(now, other);
    assert_int_equal(count_of(&d, "identities", sara, ""), 3);
    /* Another one, to be dismissed. */
    send_record(fd, "s", "6", "sms", "{\"phone\":\"09124444444\",\"email\":\"sara@example.com\"}");
    close(fd);
    assert_true(metric(&d, "touchline_identity_conflicts_total") == 2);

    json_t *j = harness_http_json(&d, "GET", "/v1/conflicts", NULL, NULL, 200);
    json_t *list = json_object_get(j, "conflicts");
    assert_int_equal(json_array_size(list), 2);
    /* Newest first. */
    json_t *c4 = json_array_get(list, 0), *c3 = json_array_get(list, 1);
    assert_string_equal(jstr(c3, "customer"), sara);
    assert_string_equal(jstr(c3, "other"), other);
    assert_string_equal(jstr(c3, "kind"), "phone");
    assert_int_equal(json_integer_value(json_object_get(c3, "would_have")), 3);
    assert_string_equal(jstr(json_object_get(c3, "record"), "external_id"), "5");
    assert_string_equal(jstr(c4, "other"), third);
    /* sara@example.com linked 3 customers today: a suspect. */
    json_t *sus = json_array_get(json_object_get(j, "suspects"), 0);
    assert_non_null(sus);
    assert_string_equal(jstr(sus, "value"), "sara@example.com");
    assert_int_equal(json_integer_value(json_object_get(sus, "customers")), 3);
    long long id3 = json_integer_value(json_object_get(c3, "conflict_id"));
    long long id4 = json_integer_value(json_object_get(c4, "conflict_id"));
    json_decref(j);

    char path[96];
    snprintf(path, sizeof(path), "/v1/conflicts/%lld/resolve", id3);
    json_decref(harness_http_json(&d, "POST", path, "{\"action\":\"merge\"}", NULL, 200));
    json_decref(harness_http_json(&d, "POST", path, "{\"action\":\"merge\"}", NULL, 400));
    current(&d, other, now);
    assert_string_equal(now, sara);
    snprintf(path, sizeof(path), "/v1/conflicts/%lld/resolve", id4);
    json_decref(harness_http_json(&d, "POST", path, "{\"action\":\"maybe\"}", NULL, 400));
    json_decref(harness_http_json(&d, "POST", path, "{\"action\":\"dismiss\"}", NULL, 200));
    current(&d, third, now);
    assert_string_equal(now, third);
    json_decref(harness_http_json(&d, "POST", "/v1/conflicts/999/resolve",
                                  "{\"action\":\"dismiss\"}", NULL, 404));
    j = harness_http_json(&d, "GET", "/v1/conflicts", NULL, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "conflicts")), 0);
    json_decref(j);
    j = harness_http_json(&d, "GET", "/v1/conflicts?all=true", NULL, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "conflicts")), 2);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "conflicts"), 0), "status"),
                        "dismissed");
    json_decref(j);
    assert_int_equal(harness_stop(&d), 0);
}

/* never_merge patterns: every no-reply address and every number of an office range attach
 * records but never merge customers; a pattern that is not a regular expression is refused at
 * start. */
static void never_merge_patterns_keep_shared_values_from_merging(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_IDENTITY_NEVER_MERGE=email:^noreply@, phone:^\\+98210000",
                         NULL};
    struct harness_daemon d;
    harness_start(&d, "nmpatterns", env);
    int fd = harness_connect(d.tcp_port);
    char a[40], b[40];
    strcpy(a, send_record(fd, "x", "1", "email",
                          "{\"email\":\"NoReply@shop.example\",\"phone\":\"09121111111\"}"));
    strcpy(b, send_record(fd, "x", "2", "email",
                          "{\"email\":\"noreply@shop.example\",\"phone\":\"09122222222\"}"));
    assert_string_not_equal(a, b);
    strcpy(a, send_record(fd, "x", "3", "phone",
                          "{\"phone\":\"021 0000 1234\",\"email\":\"one@example.com\"}"));
    strcpy(b, send_record(fd, "x", "4", "phone",
                          "{\"phone\":\"+982100001234\",\"email\":\"two@example.com\"}"));
    assert_string_not_equal(a, b);
    /* A number outside the range still merges. */
    send_record(fd, "x", "5", "phone", "{\"phone\":\"02100011234\",\"email\":\"one@example.com\"}");
    assert_string_equal(send_record(fd, "x", "6", "phone",
                                    "{\"phone\":\"02100011234\",\"email\":\"two@example.com\"}"),
                        a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);

    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof(cmd),
             "TOUCHLINE_IDENTITY_NEVER_MERGE='email:^(' %s --check-config 2>&1 </dev/null",
             getenv("TOUCHLINE_TEST_DAEMON"));
    assert_int_not_equal(harness_run(cmd, &out), 0);
    if (strstr(out, "never_merge: email:^( is not a regular expression") == NULL) {
        fail_msg("unexpected: %s", out);
    }
    free(out);
}

/* A WhatsApp (Viber, Signal, SMS) handle is a phone number: the chat identifier also yields
 * the phone, normalized by the same rules (Persian digits included), so both are one customer;
 * a Telegram handle that looks like a number does not, nor does a handle that is not one. */
static void phone_based_chat_handles_are_the_phone_too(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "chatphone", NULL);
    int fd = harness_connect(d.tcp_port);
    char c[40];
    strcpy(c, send_record(fd, "cw", "1", "chat", "{\"chat\":\"WhatsApp:+98 ۹۱۲ ۱۱۱ ۱۱۱۱\"}"));
    assert_string_equal(send_record(fd, "pbx", "1", "phone", "{\"phone\":\"09121111111\"}"), c);
    assert_string_equal(send_record(fd, "cw", "2", "chat", "{\"chat\":\"viber:09121111111\"}"), c);
    char tg[40];
    strcpy(tg, send_record(fd, "cw", "3", "chat", "{\"chat\":\"telegram:+989122222222\"}"));
    assert_string_not_equal(send_record(fd, "pbx", "2", "phone", "{\"phone\":\"+989122222222\"}"),
                            tg);
    send_record(fd, "cw", "4", "chat", "{\"chat\":\"whatsapp:sara\"}");
    close(fd);
    assert_int_equal(count_of(&d, "identities", c, " AND kind = 'phone'"), 1);
    assert_int_equal(count_of(&d, "identities", c, ""), 3);
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
        cmocka_unit_test(identities_and_why_show_where_each_identifier_came_from),
        cmocka_unit_test(unmerge_restores_the_customer_and_keeps_the_pair_apart),
        cmocka_unit_test(unmerge_of_a_chain_brings_back_what_came_with_the_merged_customer),
        cmocka_unit_test(unmerge_keeps_a_later_manual_merge),
        cmocka_unit_test(a_merge_past_a_limit_is_refused_and_queued_for_review),
        cmocka_unit_test(never_merge_patterns_keep_shared_values_from_merging),
        cmocka_unit_test(phone_based_chat_handles_are_the_phone_too),
        cmocka_unit_test(control_characters_inside_identifiers_are_refused),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
