/*
 * Merges under contention (docs/identity.md, "Concurrency"): batches that merge customers
 * while other batches hold the identifiers those merges need, on one daemon and on several
 * sharing one database. Every record must be stored, none refused, and each person must end
 * as exactly one customer holding exactly that person's identifiers.
 */
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "harness.h"
#include "testmain.h"

struct buf {
    char *p;
    size_t len, cap;
    long lines;
};

static void buf_line(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_line(struct buf *b, const char *fmt, ...)
{
    if (b->cap - b->len < 4096) {
        b->cap = b->cap ? b->cap * 2 : 1 << 16;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < b->cap - b->len);
    b->len += (size_t)n;
    b->lines++;
}

/*
 * Sends every line of b on fds[0..n) (line i on fds[i % n]) before reading any answer, then
 * reads them all. Returns how many answers were not ok; prints the first few.
 */
static long send_burst(const int *fds, int n, const struct buf *b)
{
    struct buf per[8] = {{0}};
    assert_true(n >= 1 && n <= 8);
    const char *line = b->p;
    for (long i = 0; i < b->lines; i++) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        buf_line(&per[i % n], "%.*s\n", (int)(end - line), line);
        line = end + 1;
    }
    size_t off[8] = {0};
    bool more = true;
    while (more) {
        more = false;
        for (int c = 0; c < n; c++) {
            size_t len = per[c].len - off[c] < 65536 ? per[c].len - off[c] : 65536;
            if (len > 0) {
                assert_int_equal(harness_send(fds[c], per[c].p + off[c], len), 0);
                off[c] += len;
                more = true;
            }
        }
    }
    long bad = 0;
    for (int c = 0; c < n; c++) {
        for (long l = 0; l < per[c].lines; l++) {
            char *a = harness_read_line(fds[c], 120000);
            if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
                if (bad++ < 5) {
                    print_message("connection %d answer %ld: %s\n", c, l + 1,
                                  a != NULL ? a : "(no answer)");
                }
            }
            free(a);
        }
        free(per[c].p);
    }
    return bad;
}

#define REC_FMT                                                                                    \
    "{\"source\":\"%s\",\"external_id\":\"%s-%ld\",\"channel\":\"chat\","                          \
    "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":%s}\n"

/*
 * The lane the daemon gives a record (daemon/batch.c, lane_of): its smallest identifier
 * hash, over two lanes. Only used to arrange the burst so that it is adversarial; were the
 * daemon to spread records otherwise, the test would still pass or fail on what it stores.
 */
static unsigned lane_of(const int *kinds, const char *const *values, int n)
{
    uint32_t best = UINT32_MAX;
    for (int k = 0; k < n; k++) {
        uint32_t h = 2166136261u ^ (uint32_t)kinds[k];
        for (const char *p = values[k]; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 16777619u;
        }
        best = h < best ? h : best;
    }
    return best % 2;
}

/*
 * True when the web id comes before the e-mail address in the order in which batches take
 * identifier locks (touchline.lock_identifiers: hashtextextended of "kind:value"), with all
 * web ids before all e-mail addresses: a batch waiting for an e-mail address another batch
 * holds then already holds its web ids.
 */
static bool low_web_high_email(PGconn *pg, const char *web, const char *email)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT (hashtextextended('web:%s', 0) < 0 AND "
             "hashtextextended('email:%s', 0) > 0)::int",
             web, email);
    return harness_sql_long(pg, sql) == 1;
}

enum { K_PHONE = 0, K_EMAIL = 1, K_WEB = 3 };

/*
 * The burst of the report. Before it, each person is two customers: A with a phone, B with
 * an e-mail address and a web id. The burst carries, per person, a record joining the phone
 * and the e-mail address (a merge of B into A, which must also lock B's web id), a record
 * with the web id alone and one with the e-mail address alone. People are picked so that the
 * joining record travels on one lane and the two others on the other lane, half of them each
 * way: each lane's batch merges customers whose web ids the other lane's batch holds, and
 * both share e-mail addresses, so each retried batch at once retakes what the other needs.
 */
static void two_lanes_of_merges_needing_each_others_locks_store_everything(void **state)
{
    (void)state;
    /* With a spool: contention must not pass for a database that does not take records. */
    char spool_env[300];
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s/tl-mergelanes-spool-%d",
             harness_tmp_dir(), (int)getpid());
    const char *env[] = {"TOUCHLINE_DATABASE_POOL_SIZE=2",
                         "TOUCHLINE_INGEST_BATCH_MAX_DELAY_MS=200",
                         "TOUCHLINE_INGEST_MAX_INFLIGHT_PER_CONNECTION=5000", spool_env, NULL};
    struct harness_daemon d;
    harness_start(&d, "mergelanes", env);
    enum { EACH_WAY = 330 };
    int fd = harness_connect(d.tcp_port);
    PGconn *pg = harness_pg(d.dbname);
    struct buf seed = {0}, burst = {0};
    char cust[256], phone[32], email[64], web[32];
    int way[2] = {0, 0};
    long people = 0;
    for (long p = 0; way[0] < EACH_WAY || way[1] < EACH_WAY; p++) {
        assert_true(p < 1000000);
        /* Different numbers in each identifier, so that their lanes do not go together. */
        snprintf(phone, sizeof(phone), "+98912%07ld", 3 * p);
        snprintf(email, sizeof(email), "p%ld@example.com", p);
        snprintf(web, sizeof(web), "w-%ld", 7 * p + 1);
        const int jk[2] = {K_PHONE, K_EMAIL};
        const char *jv[2] = {phone, email};
        const int ek[1] = {K_EMAIL}, wk[1] = {K_WEB};
        const char *ev[1] = {email}, *wv[1] = {web};
        unsigned join = lane_of(jk, jv, 2);
        if (!low_web_high_email(pg, web, email) || lane_of(wk, wv, 1) == join ||
            lane_of(ek, ev, 1) == join || way[join] >= EACH_WAY) {
            continue;
        }
        way[join]++;
        people++;
        snprintf(cust, sizeof(cust), "{\"phone\":\"%s\"}", phone);
        buf_line(&seed, REC_FMT, "seed", "a", p, cust);
        snprintf(cust, sizeof(cust), "{\"email\":\"%s\",\"web\":\"%s\"}", email, web);
        buf_line(&seed, REC_FMT, "seed", "b", p, cust);
        snprintf(cust, sizeof(cust), "{\"phone\":\"%s\",\"email\":\"%s\"}", phone, email);
        buf_line(&burst, REC_FMT, "burst", "join", p, cust);
        snprintf(cust, sizeof(cust), "{\"web\":\"%s\"}", web);
        buf_line(&burst, REC_FMT, "burst", "web", p, cust);
        snprintf(cust, sizeof(cust), "{\"email\":\"%s\"}", email);
        buf_line(&burst, REC_FMT, "burst", "email", p, cust);
    }
    assert_int_equal(send_burst(&fd, 1, &seed), 0);
    long bad = send_burst(&fd, 1, &burst);
    close(fd);
    free(seed.p);
    free(burst.p);
    assert_int_equal(bad, 0);
    assert_int_equal(
        harness_sql_long(pg, "SELECT count(*) FROM touchline.customers WHERE merged_into IS NULL"),
        people);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"),
                     5 * people);
    /* Each person's three identifiers and five records are on one live customer. */
    assert_int_equal(harness_sql_long(pg,
                                      "SELECT count(*) FROM (SELECT customer_id FROM "
                                      "touchline.identities GROUP BY 1 HAVING count(*) <> 3) x"),
                     0);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions i JOIN "
                                          "touchline.customers c ON c.id = i.customer_id "
                                          "WHERE c.merged_into IS NOT NULL"),
                     0);
    PQfinish(pg);
    assert_false(harness_log_contains(&d, "kept failing"));
    /* No batch of touchline's own waits out of the global order, so none is cancelled by a
     * lock timeout (SQLSTATE 55P03). */
    assert_false(harness_log_contains(&d, "55P03"));
    assert_false(harness_log_contains(&d, "spool: the database does not take records"));
    assert_int_equal(harness_stop(&d), 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", strchr(spool_env, '=') + 1);
    assert_int_equal(system(cmd), 0);
}

/*
 * A labelled population (bench/gen.c) written through n_daemons daemons on one database,
 * over conns connections each, all at once. The truth: identifiers that some record carries
 * together belong to one person, and nothing else links two identifiers (gen's records carry
 * one identifier, or a phone and an e-mail address of the same customer). Then recall 1:
 * each such group of identifiers is on one customer; precision 1: no customer holds
 * identifiers of two groups; and no record is refused.
 */
static void population(const char *name, int n_daemons, int conns, long customers, long records,
                       double two_ids)
{
    const char *env[] = {"TOUCHLINE_DATABASE_POOL_SIZE=2",
                         "TOUCHLINE_INGEST_MAX_INFLIGHT_PER_CONNECTION=5000", NULL};
    struct harness_daemon d[3];
    assert_true(n_daemons >= 1 && n_daemons <= 3 && n_daemons * conns <= 8);
    harness_start(&d[0], name, env);
    for (int i = 1; i < n_daemons; i++) {
        d[i] = d[0];
        snprintf(d[i].log_path, sizeof(d[i].log_path), "%s/touchlined-%.40s-%d.log",
                 harness_tmp_dir(), d[0].dbname, i);
        harness_restart(&d[i], env);
    }
    PGconn *pg = harness_pg(d[0].dbname);
    /* Which customers have a record linking their phone and e-mail address. */
    bool *linked = calloc((size_t)customers, sizeof(*linked));
    assert_non_null(linked);
    struct gen_config cfg = {.run = name, .seed = 7, .customers = customers, .two_ids = two_ids};
    struct gen_record *r = malloc(sizeof(*r));
    char *line = malloc(GEN_LINE_MAX);
    assert_non_null(r);
    assert_non_null(line);
    struct buf all = {0};
    for (long i = 0; i < records; i++) {
        gen_record(&cfg, i, r);
        size_t n = gen_json(r, line, GEN_LINE_MAX);
        assert_true(n > 0);
        buf_line(&all, "%.*s", (int)n, line);
        linked[r->customer] = linked[r->customer] || r->n_ids == 2;
    }
    /* The truth, as (kind, value, group) rows. */
    PGresult *res = PQexec(pg, "CREATE TABLE truth (kind text COLLATE \"C\", value text COLLATE "
                               "\"C\", grp text, PRIMARY KEY (kind, value))");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexec(pg, "COPY truth FROM STDIN");
    assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
    PQclear(res);
    for (long c = 0; c < customers; c++) {
        struct gen_ident ids[GEN_CUSTOMER_IDS];
        gen_customer_identities(c, ids);
        for (int k = 0; k < GEN_CUSTOMER_IDS; k++) {
            bool pe = k < 2 && linked[c];
            int n = snprintf(line, GEN_LINE_MAX, "%s\t%s\t%ld:%s\n", ids[k].kind, ids[k].norm, c,
                             pe ? "pe" : ids[k].kind);
            assert_int_equal(PQputCopyData(pg, line, n), 1);
        }
    }
    assert_int_equal(PQputCopyEnd(pg, NULL), 1);
    res = PQgetResult(pg);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    while ((res = PQgetResult(pg)) != NULL) {
        PQclear(res);
    }

    int fds[8];
    for (int i = 0; i < n_daemons * conns; i++) {
        fds[i] = harness_connect(d[i % n_daemons].tcp_port);
    }
    long bad = send_burst(fds, n_daemons * conns, &all);
    for (int i = 0; i < n_daemons * conns; i++) {
        close(fds[i]);
    }
    free(all.p);
    free(r);
    free(line);
    free(linked);
    assert_int_equal(bad, 0);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), records);
    /* Every identifier stored is one the records carried, and no two people share one. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.identities i "
                                          "LEFT JOIN truth t USING (kind, value) "
                                          "WHERE t.grp IS NULL"),
                     0);
    /* Recall: each group on one customer. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM (SELECT t.grp FROM truth t JOIN "
                                          "touchline.identities i USING (kind, value) GROUP BY "
                                          "1 HAVING count(DISTINCT i.customer_id) > 1) x"),
                     0);
    /* Precision: each customer holds one group. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM (SELECT i.customer_id FROM "
                                          "truth t JOIN touchline.identities i USING (kind, "
                                          "value) GROUP BY 1 HAVING count(DISTINCT t.grp) > 1) x"),
                     0);
    /* Nothing left on a merged-away customer. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions i JOIN "
                                          "touchline.customers c ON c.id = i.customer_id "
                                          "WHERE c.merged_into IS NOT NULL"),
                     0);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.identities i JOIN "
                                          "touchline.customers c ON c.id = i.customer_id "
                                          "WHERE c.merged_into IS NOT NULL"),
                     0);
    assert_true(harness_sql_long(pg, "SELECT count(*) FROM touchline.merges") > 0);
    PQfinish(pg);
    for (int i = 0; i < n_daemons; i++) {
        assert_false(harness_log_contains(&d[i], "kept failing"));
        assert_int_equal(harness_stop(&d[i]), 0);
    }
}

/* Tens of thousands of people, half the records carrying two identifiers, one daemon. */
static void high_merge_rate_population_is_exact_and_fully_stored(void **state)
{
    (void)state;
    population("mergepop", 1, 4, 20000, 60000, 0.5);
}

/* The unify population on three daemons sharing one database. */
static void three_daemons_on_one_database_unify_exactly(void **state)
{
    (void)state;
    population("mergepop3", 3, 2, 11429, 57145, 0.5);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_lanes_of_merges_needing_each_others_locks_store_everything),
        cmocka_unit_test(high_merge_rate_population_is_exact_and_fully_stored),
        cmocka_unit_test(three_daemons_on_one_database_unify_exactly),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
