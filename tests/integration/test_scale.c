/*
 * Several daemons on one database (docs/scaling.md, "Several daemons"): identity resolution
 * stays exact whichever daemon each record reaches. Three daemons, one sender each; every
 * person's identifiers are spread over the three, and the records that join them reach
 * different daemons at the same moment. Afterwards each person is exactly one customer
 * holding all their identifiers, and no two people share one.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define DAEMONS 3
/* SQL: the number of the person an identifier i.value belongs to (see person_phone…). */
#define PERSON "(regexp_match(i.value, '^(?:\\+98913|person|visitor-)0*([0-9]+)'))[1]"
/* Unanswered lines a sender keeps in flight. */
#define WINDOW 100

static bool sanitized(void)
{
    const char *s = getenv("TOUCHLINE_TEST_SANITIZED");
    return s != NULL && s[0] != '\0';
}

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
    long people = sanitized() ? 1500 : 6000;
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_daemons_spread_identifiers_resolve_exactly),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
