/*
 * Several daemons on one database (docs/scaling.md, "Several daemons"): identity resolution
 * stays exact whichever daemon each record reaches. Three daemons, one sender each; every
 * person's identifiers are spread over the three, and the records that join them reach
 * different daemons at the same moment. Afterwards each person is exactly one customer
 * holding all their identifiers, and no two people share one.
 *
 * Reads on a streaming replica ([database] read_dsn): a private primary and a replica made
 * by scripts/pg (pg_basebackup, real replication); lookups are answered from the replica
 * while it keeps up, from the primary once it is further behind than read_max_lag_s, and
 * the context (screen pop) always from the primary.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define DAEMONS 3
/* SQL: the number of the person an identifier i.value belongs to (see person_phone…). */
#define PERSON "(regexp_match(i.value, '^(?:\\+98913|person|visitor-)0*([0-9]+)'))[1]"
/* Unanswered lines a sender keeps in flight. */
#define WINDOW 100

/* Person p's identifiers. */
static void person_phone(long p, char *out, size_t len)
{
    snprintf(out, len, "+98913%07ld", p);
}

static void person_email(long p, char *out, size_t len)
{
    snprintf(out, len, "person%ld@scale.example", p);
}

static void person_web(long p, char *out, size_t len)
{
    snprintf(out, len, "visitor-%ld", p);
}

/*
 * Record k (0, 1, 2) of person p: {phone}, {email, phone}, {web, email}. Together they join
 * the three identifiers into one customer; record k of person p goes to daemon (p + k) % 3,
 * so that each daemon sees every kind of record and the three of one person race.
 */
static int person_record(const char *source, long p, int k, char *out, size_t len)
{
    char phone[32], email[64], web[32];
    person_phone(p, phone, sizeof(phone));
    person_email(p, email, sizeof(email));
    person_web(p, web, sizeof(web));
    char customer[200];
    if (k == 0) {
        snprintf(customer, sizeof(customer), "{\"phone\":\"%s\"}", phone);
    } else if (k == 1) {
        snprintf(customer, sizeof(customer), "{\"email\":\"%s\",\"phone\":\"%s\"}", email, phone);
    } else {
        snprintf(customer, sizeof(customer), "{\"web\":\"%s\",\"email\":\"%s\"}", web, email);
    }
    static const char *const channel[] = {"phone", "email", "web"};
    return snprintf(out, len,
                    "{\"source\":\"%s\",\"external_id\":\"p%ld-%d\",\"channel\":\"%s\","
                    "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":%s}\n",
                    source, p, k, channel[k], customer);
}

struct sender {
    pthread_t thread;
    int daemon;
    int port;
    long people;
    const char *source;
    /* Counted by the sender, read after the join. */
    long ok, duplicates, unavailable, other;
    char first_error[300];
};

/* Sends, in person order, every record that goes to this sender's daemon, WINDOW at a time,
 * and sends again what was answered unavailable, as an adapter does. */
static void *sender_main(void *arg)
{
    struct sender *s = arg;
    int fd = harness_connect(s->port);
    long total = s->people; /* one record of each person goes to each daemon */
    long *todo = malloc((size_t)total * sizeof(*todo));
    if (todo == NULL) {
        snprintf(s->first_error, sizeof(s->first_error), "out of memory");
        close(fd);
        return NULL;
    }
    for (long p = 0; p < total; p++) {
        todo[p] = p;
    }
    long n_todo = total;
    char *buf = malloc((size_t)WINDOW * 512);
    while (n_todo > 0 && buf != NULL) {
        long batch = n_todo < WINDOW ? n_todo : WINDOW;
        size_t len = 0;
        for (long i = 0; i < batch; i++) {
            long p = todo[i];
            int k = (int)((s->daemon - p % DAEMONS + DAEMONS) % DAEMONS);
            len += (size_t)person_record(s->source, p, k, buf + len, 512);
        }
        if (harness_send(fd, buf, len) != 0) {
            snprintf(s->first_error, sizeof(s->first_error), "send failed");
            break;
        }
        long again = 0;
        for (long i = 0; i < batch; i++) {
            char *a = harness_read_line(fd, 60000);
            if (a == NULL) {
                snprintf(s->first_error, sizeof(s->first_error), "no answer within 60 s");
                n_todo = 0;
                break;
            }
            if (strncmp(a, "{\"ok\":true", 10) == 0) {
                s->ok++;
                s->duplicates += strstr(a, "\"duplicate\":true") != NULL;
            } else if (strstr(a, "\"error\":\"unavailable\"") != NULL) {
                s->unavailable++;
                todo[again++] = todo[i];
            } else {
                s->other++;
                if (s->first_error[0] == '\0') {
                    snprintf(s->first_error, sizeof(s->first_error), "%.250s", a);
                }
            }
            free(a);
        }
        if (n_todo == 0) {
            break;
        }
        /* The unanswered go first next round, then the rest in order. */
        memmove(todo + again, todo + batch, (size_t)(n_todo - batch) * sizeof(*todo));
        n_todo = n_todo - batch + again;
        if (again > 0) {
            usleep(100 * 1000);
        }
    }
    free(buf);
    free(todo);
    close(fd);
    return NULL;
}

static void three_daemons_spread_identifiers_resolve_exactly(void **state)
{
    (void)state;
    long long t0 = harness_now_ms();
    long people = harness_sanitized() ? 1500 : 6000;
    struct harness_daemon d[DAEMONS];
    harness_start(&d[0], "scale3", NULL);
    for (int i = 1; i < DAEMONS; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        memcpy(d[i].dbname, d[0].dbname, sizeof(d[i].dbname));
        memcpy(d[i].dsn, d[0].dsn, sizeof(d[i].dsn));
        snprintf(d[i].log_path, sizeof(d[i].log_path), "%s/touchlined-%s-%d.log", harness_tmp_dir(),
                 d[i].dbname, i);
        harness_restart(&d[i], NULL);
    }
    char source[64];
    snprintf(source, sizeof(source), "scale-%d", (int)getpid());
    struct sender s[DAEMONS];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < DAEMONS; i++) {
        s[i].daemon = i;
        s[i].port = d[i].tcp_port;
        s[i].people = people;
        s[i].source = source;
        assert_int_equal(pthread_create(&s[i].thread, NULL, sender_main, &s[i]), 0);
    }
    long ok = 0, unavailable = 0, other = 0, duplicates = 0;
    for (int i = 0; i < DAEMONS; i++) {
        pthread_join(s[i].thread, NULL);
        ok += s[i].ok;
        unavailable += s[i].unavailable;
        other += s[i].other;
        duplicates += s[i].duplicates;
        if (s[i].first_error[0] != '\0') {
            fail_msg("sender %d: %s", i, s[i].first_error);
        }
    }
    for (int i = 0; i < DAEMONS; i++) {
        assert_int_equal(harness_stop(&d[i]), 0);
    }

    PGconn *pg = harness_pg(d[0].dbname);
    long stored = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions");
    /* Each person's identifiers (the person's number is in each of them), by the customer
     * they end in after redirects. */
    long split =
        harness_sql_long(pg, "SELECT count(*) FROM (SELECT " PERSON " AS person "
                             "FROM touchline.identities i GROUP BY 1 "
                             "HAVING count(DISTINCT touchline.survivor(i.customer_id)) > 1) s");
    long shared =
        harness_sql_long(pg, "SELECT count(*) FROM (SELECT touchline.survivor(i.customer_id) FROM "
                             "touchline.identities i GROUP BY 1 "
                             "HAVING count(DISTINCT " PERSON ") > 1) s");
    long identities = harness_sql_long(pg, "SELECT count(*) FROM touchline.identities");
    long customers =
        harness_sql_long(pg, "SELECT count(*) FROM touchline.customers WHERE merged_into IS NULL");
    long misplaced = harness_sql_long(
        pg, "SELECT count(*) FROM touchline.identities i JOIN touchline.customers c "
            "ON c.id = i.customer_id WHERE c.merged_into IS NOT NULL");
    PQfinish(pg);
    printf("scale three_daemons: people=%ld records=%ld acked=%ld stored=%ld customers=%ld "
           "identities=%ld split=%ld shared=%ld misplaced=%ld unavailable_answers=%ld "
           "duplicate_answers=%ld seconds=%.1f\n",
           people, people * DAEMONS, ok, stored, customers, identities, split, shared, misplaced,
           unavailable, duplicates, (double)(harness_now_ms() - t0) / 1000.0);
    fflush(stdout);
    assert_int_equal(other, 0);
    assert_int_equal(ok, people * DAEMONS);
    assert_int_equal(stored, people * DAEMONS);
    assert_int_equal(identities, people * 3);
    /* No person split into two customers, no two people merged into one. */
    assert_int_equal(split, 0);
    assert_int_equal(shared, 0);
    assert_int_equal(customers, people);
    /* No identifier left pointing at a merged-away customer (CONTRACT §2). */
    assert_int_equal(misplaced, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Reads on a replica */

/* Runs scripts/pg with args; returns the port of the DSN it prints (0 when none). */
static int pg_script(const char *args)
{
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    assert_non_null(src);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TOUCHLINE_PG_SHARED_BUFFERS=32MB '%s/scripts/pg' %s 2>&1", src,
             args);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    if (st != 0) {
        fail_msg("scripts/pg %s failed (%d):\n%s", args, st, out != NULL ? out : "");
    }
    const char *p = out != NULL ? strstr(out, "host=127.0.0.1 port=") : NULL;
    int port = p != NULL ? atoi(p + strlen("host=127.0.0.1 port=")) : 0;
    free(out);
    return port;
}

static char replica_dirs[2][600];

static void stop_replica_clusters(void)
{
    for (int i = 1; i >= 0; i--) {
        if (replica_dirs[i][0] != '\0') {
            char args[700];
            snprintf(args, sizeof(args), "stop '%s'", replica_dirs[i]);
            const char *src = getenv("TOUCHLINE_SOURCE_DIR");
            char cmd[1500];
            snprintf(cmd, sizeof(cmd), "'%s/scripts/pg' %s >/dev/null 2>&1", src, args);
            if (system(cmd) != 0) {
                fprintf(stderr, "scale: could not stop %s\n", replica_dirs[i]);
            }
            replica_dirs[i][0] = '\0';
        }
    }
}

static PGconn *connect_port(int port, const char *dbname)
{
    char dsn[200];
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d user=touchline dbname=%s", port, dbname);
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("connect %s: %s", dsn, PQerrorMessage(pg));
    }
    return pg;
}

static void exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
}

/* A metric's value from /metrics, or -2 when it is not there. */

static int find_phone(const struct harness_daemon *d, const char *phone)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers?phone=%%2B%s", phone + 1);
    char *body = NULL;
    int st = harness_http(d->http_port, "GET", path, NULL, NULL, &body);
    free(body);
    return st;
}

/* Waits until the metric satisfies the bound (above: > v; else <= v). */
static bool wait_metric(const struct harness_daemon *d, const char *name, bool above, double v,
                        long ms)
{
    long long deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline) {
        double m = harness_metric(d, name);
        if (above ? m > v : (m >= 0 && m <= v)) {
            return true;
        }
        usleep(100 * 1000);
    }
    return false;
}

static void reads_go_to_the_replica_until_it_lags(void **state)
{
    (void)state;
    const char *shared = getenv("TOUCHLINE_TEST_PGDIR");
    assert_non_null(shared);
    snprintf(replica_dirs[0], sizeof(replica_dirs[0]), "%s-scale-primary", shared);
    snprintf(replica_dirs[1], sizeof(replica_dirs[1]), "%s-scale-replica", shared);
    atexit(stop_replica_clusters);
    char args[1400];
    snprintf(args, sizeof(args), "start '%s'", replica_dirs[0]);
    int primary = pg_script(args);
    snprintf(args, sizeof(args), "replica '%s' '%s'", replica_dirs[1], replica_dirs[0]);
    int replica = pg_script(args);
    assert_true(primary > 0 && replica > 0);

    char db[64];
    snprintf(db, sizeof(db), "r_%d", (int)getpid());
    PGconn *admin = connect_port(primary, "postgres");
    exec_ok(admin, "SET client_min_messages = warning");
    PGresult *r = PQexec(admin, "SELECT datname FROM pg_database WHERE datname LIKE 'r\\_%'");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "DROP DATABASE \"%s\" WITH (FORCE)", PQgetvalue(r, i, 0));
        exec_ok(admin, sql);
    }
    PQclear(r);
    char sql[200];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    exec_ok(admin, sql);
    PQfinish(admin);

    /* read_max_lag_s in a file, so that SIGHUP can lower it. */
    char conf[512], conf_env[600], read_env[300];
    snprintf(conf, sizeof(conf), "%s/touchlined-%s.conf", harness_tmp_dir(), db);
    harness_write_file(conf, "[database]\nread_max_lag_s = 3600\n");
    snprintf(conf_env, sizeof(conf_env), "TOUCHLINE_CONFIG=%s", conf);
    snprintf(read_env, sizeof(read_env),
             "TOUCHLINE_DATABASE_READ_DSN=host=127.0.0.1 port=%d user=touchline dbname=%s", replica,
             db);
    const char *env[] = {conf_env, read_env, NULL};
    struct harness_daemon d;
    memset(&d, 0, sizeof(d));
    snprintf(d.dbname, sizeof(d.dbname), "%s", db);
    snprintf(d.dsn, sizeof(d.dsn), "host=127.0.0.1 port=%d user=touchline dbname=%s", primary, db);
    snprintf(d.log_path, sizeof(d.log_path), "%s/touchlined-%s.log", harness_tmp_dir(), db);
    harness_restart(&d, env);

    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, "{\"source\":\"r\",\"external_id\":\"1\",\"channel\":\"sms\","
                                    "\"occurred_at\":\"2026-11-20T10:00:00Z\","
                                    "\"customer\":{\"phone\":\"+989121110001\"}}");
    assert_non_null(strstr(a, "\"ok\":true"));
    free(a);
    /* The replica keeps up: the lookup is answered (from it) and the lag is small. */
    assert_true(wait_metric(&d, "touchline_replica_lag_seconds", false, 1, 10000));
    long long deadline = harness_now_ms() + 10000;
    while (find_phone(&d, "+989121110001") != 200 && harness_now_ms() < deadline) {
        usleep(50 * 1000);
    }
    assert_int_equal(find_phone(&d, "+989121110001"), 200);
    double fallbacks_before = harness_metric(&d, "touchline_replica_fallbacks_total");

    /* Replay paused: a new customer is on the primary only. A lookup still goes to the
     * replica (within the 3600 s allowed) and does not find them; the context goes to the
     * primary and does. */
    PGconn *rep = connect_port(replica, db);
    exec_ok(rep, "SELECT pg_wal_replay_pause()");
    a = harness_roundtrip(fd, "{\"source\":\"r\",\"external_id\":\"2\",\"channel\":\"sms\","
                              "\"occurred_at\":\"2026-11-20T10:01:00Z\","
                              "\"customer\":{\"phone\":\"+989121110002\"}}");
    const char *cid = strstr(a, "\"customer_id\":\"");
    assert_non_null(cid);
    char path[200];
    snprintf(path, sizeof(path), "/v1/customers/%.36s/context", cid + 15);
    free(a);
    int on_replica = find_phone(&d, "+989121110002");
    char *body = NULL;
    int context = harness_http(d.http_port, "GET", path, NULL, NULL, &body);
    free(body);

    /* The operator allows 1 s: once the replica is further behind, reads go to the
     * primary, which has the new customer. */
    harness_write_file(conf, "[database]\nread_max_lag_s = 1\n");
    kill(d.pid, SIGHUP);
    bool lagging = wait_metric(&d, "touchline_replica_lag_seconds", true, 1, 15000);
    int on_primary = find_phone(&d, "+989121110002");
    double fallbacks = harness_metric(&d, "touchline_replica_fallbacks_total");

    /* Replay resumed: the replica catches up and answers again. */
    exec_ok(rep, "SELECT pg_wal_replay_resume()");
    bool caught_up = wait_metric(&d, "touchline_replica_lag_seconds", false, 1, 15000);
    int after = find_phone(&d, "+989121110002");
    PQfinish(rep);
    close(fd);
    printf("scale replica: lookup_while_paused=%d context_while_paused=%d lagging=%s "
           "lookup_when_behind=%d fallbacks=%.0f caught_up=%s lookup_after=%d\n",
           on_replica, context, lagging ? "yes" : "no", on_primary, fallbacks - fallbacks_before,
           caught_up ? "yes" : "no", after);
    fflush(stdout);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(on_replica, 404);
    assert_int_equal(context, 200);
    assert_true(lagging);
    assert_int_equal(on_primary, 200);
    assert_true(fallbacks - fallbacks_before >= 1);
    assert_true(caught_up);
    assert_int_equal(after, 200);
    stop_replica_clusters();
}

/* ---------------------------------------------------------------------------------------- */
/* Retention */

/* Sends n records (line i from make(i)) over fd, WINDOW lines at a time; asserts each ok. */
static void send_all(int fd, long n, int (*make)(long i, char *out, size_t len))
{
    char *buf = malloc((size_t)WINDOW * 512);
    assert_non_null(buf);
    for (long done = 0; done < n;) {
        long batch = n - done < WINDOW ? n - done : WINDOW;
        size_t len = 0;
        for (long i = 0; i < batch; i++) {
            len += (size_t)make(done + i, buf + len, 512);
        }
        assert_int_equal(harness_send(fd, buf, len), 0);
        for (long i = 0; i < batch; i++) {
            char *a = harness_read_line(fd, 60000);
            assert_non_null(a);
            if (strncmp(a, "{\"ok\":true", 10) != 0) {
                fail_msg("record %ld refused: %s", done + i, a);
            }
            free(a);
        }
        done += batch;
    }
    free(buf);
}

/* Old records of 300 customers, in 2020. */
static int old_record(long i, char *out, size_t len)
{
    return snprintf(out, len,
                    "{\"source\":\"ret\",\"external_id\":\"old-%ld\",\"channel\":\"sms\","
                    "\"occurred_at\":\"2020-03-%02ldT10:00:00Z\",\"status\":\"sent\","
                    "\"direction\":\"outbound\",\"customer\":{\"phone\":\"+98912555%04ld\"}}\n",
                    i, 1 + i % 28, i % 300);
}

/* Records of the last days, of the same customers. */
static int new_record(long i, char *out, size_t len)
{
    time_t t = time(NULL) - 86400 * (i % 5);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return snprintf(out, len,
                    "{\"source\":\"ret\",\"external_id\":\"new-%ld\",\"channel\":\"sms\","
                    "\"occurred_at\":\"%s\",\"customer\":{\"phone\":\"+98912555%04ld\"}}\n",
                    i, ts, i % 300);
}

/* Old records with a new one after every RET_OLD_PER_NEW of them (fewer under the
 * sanitizers), so that the old ones are spread over the table as late records leave them. */
#define RET_NEW         200
#define RET_OLD_PER_NEW (harness_sanitized() ? 30 : 60)
static int mixed_record(long i, char *out, size_t len)
{
    long period = RET_OLD_PER_NEW + 1;
    return i % period == period - 1 ? new_record(i / period, out, len)
                                    : old_record(i - i / period, out, len);
}

/*
 * [retention] keep_days, switched on by SIGHUP: every interaction older than that goes, in
 * chunks (more than one chunk's worth here, spread between newer records), with its status
 * history; newer interactions, customers and identities stay, and /metrics counts what went.
 */
static void retention_deletes_what_is_older_than_keep_days(void **state)
{
    (void)state;
    long new_n = RET_NEW, old_n = RET_NEW * RET_OLD_PER_NEW;
    char conf[512], conf_env[600];
    snprintf(conf, sizeof(conf), "%s/touchlined-ret-%d.conf", harness_tmp_dir(), (int)getpid());
    harness_write_file(conf, "[retention]\nkeep_days = 0\n");
    snprintf(conf_env, sizeof(conf_env), "TOUCHLINE_CONFIG=%s", conf);
    const char *env[] = {conf_env, NULL};
    struct harness_daemon d;
    harness_start(&d, "retention", env);
    int fd = harness_connect(d.tcp_port);
    send_all(fd, old_n + new_n, mixed_record);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    long customers = harness_sql_long(pg, "SELECT count(*) FROM touchline.customers");
    long identities = harness_sql_long(pg, "SELECT count(*) FROM touchline.identities");
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"),
                     old_n + new_n);

    harness_write_file(conf, "[retention]\nkeep_days = 30\n");
    kill(d.pid, SIGHUP);
    /* A pass ends when a chunk reaches the end of the table. */
    wait_metric(&d, "touchline_retention_passes_total", true, 0, 60000);
    double passes = harness_metric(&d, "touchline_retention_passes_total");
    long left = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions "
                                     "WHERE occurred_at < now() - interval '30 days'");
    long kept = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions");
    long history = harness_sql_long(pg, "SELECT count(*) FROM touchline.status_history h "
                                        "LEFT JOIN touchline.interactions i "
                                        "ON i.id = h.interaction_id WHERE i.id IS NULL");
    long customers_after = harness_sql_long(pg, "SELECT count(*) FROM touchline.customers");
    long identities_after = harness_sql_long(pg, "SELECT count(*) FROM touchline.identities");
    PQfinish(pg);
    double deleted = harness_metric(&d, "touchline_retention_deleted_total");
    assert_int_equal(harness_stop(&d), 0);
    printf("scale retention: old=%ld new=%ld passes=%.0f left_old=%ld kept=%ld "
           "deleted_metric=%.0f orphan_history=%ld customers=%ld->%ld identities=%ld->%ld\n",
           old_n, new_n, passes, left, kept, deleted, history, customers, customers_after,
           identities, identities_after);
    fflush(stdout);
    assert_true(passes >= 1);
    assert_int_equal(left, 0);
    assert_int_equal(kept, new_n);
    assert_int_equal((long)deleted, old_n);
    assert_int_equal(history, 0);
    assert_int_equal(customers_after, customers);
    assert_int_equal(identities_after, identities);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_daemons_spread_identifiers_resolve_exactly),
        cmocka_unit_test(reads_go_to_the_replica_until_it_lags),
        cmocka_unit_test(retention_deletes_what_is_older_than_keep_days),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
