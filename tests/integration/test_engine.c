/*
 * The ingest engine's guarantees that no single protocol exchange shows: a record the
 * database rejects inside a batch is answered alone while the rest commits, and a client
 * that never reads its answers cannot make the daemon's memory grow (reading stops), yet
 * gets every answer once it reads again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

static void exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
}

static void bad_record_in_the_middle_of_a_batch_is_rejected_alone(void **state)
{
    (void)state;
    struct harness_daemon d;
    /* A long delay so that all 21 records surely form one batch. */
    const char *env[] = {"TOUCHLINE_INGEST_BATCH_MAX_DELAY_MS=200", NULL};
    harness_start(&d, "poison", env);
    PGconn *pg = harness_pg(d.dbname);
    /* A rule only the database knows, standing for any constraint a record may break. */
    exec_ok(pg, "ALTER TABLE touchline.interactions ADD CONSTRAINT no_poison "
                "CHECK (subject IS DISTINCT FROM 'poison')");
    char buf[21 * 300];
    size_t n = 0;
    for (int i = 0; i < 21; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                              "{\"source\":\"t\",\"external_id\":\"r%d\",\"channel\":\"email\","
                              "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{\"email\":"
                              "\"c%d@example.com\"},\"subject\":\"%s\"}\n",
                              i, i % 4, i == 10 ? "poison" : "hello");
    }
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, buf, n), 0);
    for (int i = 0; i < 21; i++) {
        char *a = harness_read_line(fd, 20000);
        assert_non_null(a);
        if (i == 10) {
            assert_non_null(strstr(a, "\"ok\":false"));
            assert_non_null(strstr(a, "\"invalid_record\""));
            assert_non_null(strstr(a, "rejected by the database"));
            assert_non_null(strstr(a, "\"line\":11"));
        } else if (strstr(a, "\"ok\":true") == NULL) {
            fail_msg("line %d: %s", i + 1, a);
        }
        free(a);
    }
    close(fd);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 20);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions "
                                          "WHERE external_id = 'r10'"),
                     0);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.customers"), 4);
    PQfinish(pg);
    assert_true(harness_log_contains(&d, "writing it again as two batches"));
    assert_int_equal(harness_stop(&d), 0);
}

/* Transactions the database has ended (committed or rolled back) in dbname, read on a
 * connection of its own that ends with the read: a backend reports its counts as it exits,
 * so every count of a connection closed before this one is in. */
static long transactions_ended(const char *dbname)
{
    PGconn *pg = harness_pg("postgres");
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '%s'",
             dbname);
    long n = harness_sql_long(pg, sql);
    PQfinish(pg);
    return n;
}

/*
 * One record the database refuses in a batch of 1 000 costs O(log n) transactions, not one
 * per record: the batch is split in halves, and only the half holding the bad record is
 * split again. Counted exactly as the transactions that tried to insert records (a sequence
 * a statement trigger advances, which no rollback takes back), and, more loosely, in
 * pg_stat_database once the daemon has exited (its other work, such as retention and the
 * live listener, adds a few there).
 */
static void bad_record_in_a_batch_of_1000_costs_log_n_transactions(void **state)
{
    (void)state;
    enum { N = 1000, BAD = 437 };
    struct harness_daemon d;
    /* One connection and one batch of all N records. */
    const char *env[] = {"TOUCHLINE_DATABASE_POOL_SIZE=1",
                         "TOUCHLINE_INGEST_BATCH_MAX_RECORDS=1000",
                         "TOUCHLINE_INGEST_BATCH_MAX_DELAY_MS=2000", NULL};
    harness_start(&d, "bisect", env);
    PGconn *pg = harness_pg(d.dbname);
    exec_ok(pg, "ALTER TABLE touchline.interactions ADD CONSTRAINT no_poison "
                "CHECK (subject IS DISTINCT FROM 'poison')");
    exec_ok(pg, "CREATE SEQUENCE public.insert_attempts");
    exec_ok(pg, "CREATE FUNCTION public.count_attempt() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN PERFORM nextval('public.insert_attempts'); RETURN NULL; END$$");
    exec_ok(pg, "CREATE TRIGGER count_attempts BEFORE INSERT ON touchline.interactions "
                "FOR EACH STATEMENT EXECUTE FUNCTION public.count_attempt()");
    PQfinish(pg);
    char *buf = malloc((size_t)N * 300);
    assert_non_null(buf);
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        n += (size_t)snprintf(buf + n, (size_t)N * 300 - n,
                              "{\"source\":\"t\",\"external_id\":\"r%d\",\"channel\":\"email\","
                              "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{\"email\":"
                              "\"c%d@example.com\"},\"subject\":\"%s\"}\n",
                              i, i % 50, i == BAD ? "poison" : "hello");
    }
    long before = transactions_ended(d.dbname);
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, buf, n), 0);
    free(buf);
    for (int i = 0; i < N; i++) {
        char *a = harness_read_line(fd, 60000);
        assert_non_null(a);
        if (i == BAD) {
            harness_assert_error_answer(a, "invalid_record", "rejected by the database", BAD + 1);
        } else if (strstr(a, "\"ok\":true") == NULL) {
            fail_msg("line %d: %s", i + 1, a);
        }
        free(a);
    }
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
    long spent = transactions_ended(d.dbname) - before;
    pg = harness_pg(d.dbname);
    long attempts = harness_sql_long(pg, "SELECT last_value FROM public.insert_attempts");
    /* The whole batch fails once, then each of the ceil(log2 1000) = 10 levels of halving
     * costs two transactions: the half that commits and the half that fails again. One
     * transaction per record would be over 1 000. */
    print_message("%ld transactions inserted for a batch of %d with one bad record (%ld ended "
                  "in the database meanwhile)\n",
                  attempts, (int)N, spent);
    if (attempts > 1 + 2 * 10 || spent > 100) {
        fail_msg("%ld insert transactions, %ld in all, for a batch of %d records with one bad "
                 "record",
                 attempts, spent, (int)N);
    }
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), N - 1);
    PQfinish(pg);
}

/* The pending_records of /readyz. */
static long pending_records(const struct harness_daemon *d)
{
    char *body = NULL;
    harness_http(d->http_port, "GET", "/readyz", NULL, NULL, &body);
    assert_non_null(body);
    const char *p = strstr(body, "\"pending_records\":");
    assert_non_null(p);
    long n = strtol(p + strlen("\"pending_records\":"), NULL, 10);
    free(body);
    return n;
}

/*
 * Backpressure for every connection: while the database does not commit, reading stops once
 * [ingest] max_pending_records records wait for it, on every connection, and starts again
 * (every record answered) once the backlog falls to half of that.
 */
static void backlog_at_max_pending_records_pauses_every_connection(void **state)
{
    (void)state;
    enum { HIGH = 40, PER_CONN = 100 };
    const char *env[] = {"TOUCHLINE_INGEST_MAX_PENDING_RECORDS=40",
                         "TOUCHLINE_INGEST_BATCH_MAX_RECORDS=10", NULL};
    struct harness_daemon d;
    harness_start(&d, "backlog", env);
    /* Holds every batch at its insert until this transaction ends. */
    PGconn *lock = harness_pg(d.dbname);
    exec_ok(lock, "BEGIN");
    exec_ok(lock, "LOCK TABLE touchline.interactions IN ACCESS EXCLUSIVE MODE");
    int fds[2];
    for (int k = 0; k < 2; k++) {
        fds[k] = harness_connect(d.tcp_port);
        char buf[PER_CONN * 220];
        size_t n = 0;
        for (int i = 0; i < PER_CONN; i++) {
            n +=
                (size_t)snprintf(buf + n, sizeof(buf) - n,
                                 "{\"source\":\"bp\",\"external_id\":\"%d-%d\",\"channel\":\"sms\","
                                 "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                                 "{\"phone\":\"+98912%07d\"}}\n",
                                 k, i, k * PER_CONN + i);
        }
        assert_int_equal(harness_send(fds[k], buf, n), 0);
    }
    assert_true(harness_wait_log(&d, "reading paused", 20000));
    /* Both connections stopped taking lines at the bound, though 200 were sent. */
    usleep(200000);
    assert_int_equal(pending_records(&d), HIGH);
    exec_ok(lock, "COMMIT");
    PQfinish(lock);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < PER_CONN; i++) {
            char *a = harness_read_line(fds[k], 30000);
            assert_non_null(a);
            if (strstr(a, "\"ok\":true") == NULL) {
                fail_msg("connection %d line %d: %s", k, i + 1, a);
            }
            free(a);
        }
        close(fds[k]);
    }
    assert_true(harness_log_contains(&d, "reading resumed"));
    assert_int_equal(harness_stop(&d), 0);
}

static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

/*
 * The client writes as fast as the kernel lets it and reads nothing. The daemon must stop
 * reading (the client's writes then block for good), keep its memory bounded, and once the
 * client reads, answer every line it had accepted.
 */
static void client_that_never_reads_is_paused_then_resumed(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "noread", NULL);
    /* Small buffers on the client's socket, set before connecting so that the window is
     * negotiated with them: set after, they left the kernel room for tens of thousands of
     * lines in flight, which the daemon then had to store (48 s, and 100 s under ASan). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int small = 64 * 1024;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.tcp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    long base_rss = rss_kb(d.pid);
    /* One fixed-size line per record, so partial writes are easy to finish later. */
    char line[256];
    long sent_lines = 0;
    size_t partial = 0; /* bytes of the current line already written */
    long long stalled_since = -1;
    long long deadline = harness_now_ms() + 60000;
    long peak_rss = 0;
    int linelen = 0;
    while (harness_now_ms() < deadline) {
        if (partial == 0) {
            linelen = snprintf(line, sizeof(line),
                               "{\"source\":\"nr\",\"external_id\":\"%09ld\",\"channel\":\"sms\","
                               "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                               "{\"phone\":\"+98912%07ld\"}}\n",
                               sent_lines, sent_lines % 5000);
        }
        ssize_t w = send(fd, line + partial, (size_t)linelen - partial, MSG_NOSIGNAL);
        if (w > 0) {
            partial += (size_t)w;
            if (partial == (size_t)linelen) {
                partial = 0;
                sent_lines++;
            }
            stalled_since = -1;
            continue;
        }
        assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        long r = rss_kb(d.pid);
        peak_rss = r > peak_rss ? r : peak_rss;
        if (stalled_since < 0) {
            stalled_since = harness_now_ms();
        } else if (harness_now_ms() - stalled_since > 3000) {
            break; /* writes have been refused for 3 s: the daemon stopped reading */
        }
        usleep(20000);
    }
    assert_true(stalled_since >= 0 && harness_now_ms() - stalled_since > 3000);
    /* Stalled, not still working through a backlog: the stored count stands still. */
    PGconn *pg = harness_pg(d.dbname);
    long stored1 = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions");
    usleep(1000000);
    long stored2 = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions");
    assert_int_equal(stored1, stored2);
    assert_true(stored1 < sent_lines);
    print_message("sent %ld lines before the daemon stopped reading; %ld stored; rss %ld kB "
                  "(start %ld kB)\n",
                  sent_lines, stored1, peak_rss, base_rss);
    /* AddressSanitizer keeps freed memory in quarantine (256 MB by default), so only a
     * plain build shows the daemon's own footprint. */
    long bound_kb = harness_sanitized() ? 600 * 1024 : 64 * 1024;
    assert_true(peak_rss < bound_kb);
    /* Finish the last line, half-close, and read: every line is answered. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (partial > 0) {
        size_t left = (size_t)linelen - partial;
        /* The daemon is not reading yet, so this write may wait: read answers meanwhile. */
        long answered = 0;
        while (left > 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
            assert_true(poll(&p, 1, 10000) > 0);
            if (p.revents & POLLIN) {
                char *a = harness_read_line(fd, 10000);
                assert_non_null(a);
                assert_non_null(strstr(a, "\"ok\":true"));
                free(a);
                answered++;
            }
            if (p.revents & POLLOUT) {
                ssize_t w = send(fd, line + (linelen - (int)left), left, MSG_NOSIGNAL);
                assert_true(w > 0);
                left -= (size_t)w;
            }
        }
        sent_lines++;
        sent_lines -= answered; /* already counted */
        shutdown(fd, SHUT_WR);
        for (long i = 0; i < sent_lines; i++) {
            char *a = harness_read_line(fd, 30000);
            if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
                fail_msg("answer %ld of %ld: %s", i + 1, sent_lines, a != NULL ? a : "(none)");
            }
            free(a);
        }
        sent_lines += answered;
    } else {
        shutdown(fd, SHUT_WR);
        for (long i = 0; i < sent_lines; i++) {
            char *a = harness_read_line(fd, 30000);
            if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
                fail_msg("answer %ld of %ld: %s", i + 1, sent_lines, a != NULL ? a : "(none)");
            }
            free(a);
        }
    }
    assert_null(harness_read_line(fd, 5000));
    close(fd);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"),
                     sent_lines);
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * SIGTERM while a client is still sending: every answer the daemon wrote reaches the
 * client (the close is a FIN after the answers, not a reset that discards them), every
 * "ok" is stored, and the daemon exits 0.
 */
static void drain_under_load_delivers_every_answer(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "drain", NULL);
    enum { N = 3000 };
    size_t cap = (size_t)N * 200, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        n += (size_t)snprintf(buf + n, cap - n,
                              "{\"source\":\"drain\",\"external_id\":\"%d\",\"channel\":\"sms\","
                              "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                              "{\"phone\":\"+98912%07d\"}}\n",
                              i, i % 700);
    }
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, buf, n), 0);
    usleep(20000);
    kill(d.pid, SIGTERM);
    long ok = 0;
    char line[512];
    size_t used = 0;
    int reset = 0;
    for (;;) {
        ssize_t r = recv(fd, line + used, sizeof(line) - used - 1, 0);
        if (r < 0) {
            reset = errno == ECONNRESET;
            break;
        }
        if (r == 0) {
            break;
        }
        used += (size_t)r;
        line[used] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (strstr(line, "\"ok\":true") == NULL) {
                fail_msg("not ok: %s", line);
            }
            ok++;
            size_t rest = used - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest + 1);
            used = rest;
        }
    }
    close(fd);
    free(buf);
    assert_int_equal(reset, 0);
    assert_int_equal(harness_stop(&d), 0);
    assert_true(harness_log_contains(&d, "drained"));
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), ok);
    PQfinish(pg);
    print_message("%ld of %d lines answered before the drain closed the connection\n", ok, N);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_record_in_the_middle_of_a_batch_is_rejected_alone),
        cmocka_unit_test(bad_record_in_a_batch_of_1000_costs_log_n_transactions),
        cmocka_unit_test(client_that_never_reads_is_paused_then_resumed),
        cmocka_unit_test(backlog_at_max_pending_records_pauses_every_connection),
        cmocka_unit_test(drain_under_load_delivers_every_answer),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
