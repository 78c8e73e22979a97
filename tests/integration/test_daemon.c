/*
 * The touchlined process (daemon/main.c, daemon/config.c, daemon/daemon.c, daemon/migrate.c):
 * command line, configuration errors and masking, migrations alone and by two daemons at
 * once, draining on SIGTERM, reloading on SIGHUP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "record.h"
#include "testmain.h"

static const char *daemon_bin(void)
{
    const char *bin = getenv("TOUCHLINE_TEST_DAEMON");
    if (bin == NULL) {
        fail_msg("TOUCHLINE_TEST_DAEMON is not set: run through ctest");
    }
    return bin;
}

/*
 * Runs touchlined with args (a shell-quoted argument string) and env (shell assignments,
 * may be ""), TOUCHLINE_CONFIG unset. Returns the exit status; *out gets stdout and *err
 * stderr (malloc'd).
 */
static int run_daemon(const char *env, const char *args, char **out, char **err)
{
    char err_path[512];
    snprintf(err_path, sizeof(err_path), "%s/touchlined-cli-%d.err", harness_tmp_dir(),
             (int)getpid());
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "env -u TOUCHLINE_CONFIG %s '%s' %s 2>'%s'", env, daemon_bin(), args,
             err_path);
    int st = harness_run(cmd, out);
    *err = testmain_read_file(err_path, NULL);
    assert_non_null(*err);
    unlink(err_path);
    return st;
}

/* Asserts that text contains needle, showing text when it does not. */
static void assert_contains(const char *text, const char *needle, const char *what)
{
    if (text == NULL || strstr(text, needle) == NULL) {
        fail_msg("%s does not contain \"%s\":\n%s", what, needle, text != NULL ? text : "");
    }
}

static void assert_lacks(const char *text, const char *needle, const char *what)
{
    if (text != NULL && strstr(text, needle) != NULL) {
        fail_msg("%s contains \"%s\":\n%s", what, needle, text);
    }
}

static void help_prints_usage_on_stdout(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run_daemon("", "--help", &out, &err), 0);
    assert_contains(out, "Usage: touchlined", "stdout of --help");
    assert_contains(out, "--check-config", "stdout of --help");
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(run_daemon("", "-h", &out, &err), 0);
    assert_contains(out, "Usage: touchlined", "stdout of -h");
    free(out);
    free(err);
}

static void unknown_option_exits_2(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run_daemon("", "--no-such-option", &out, &err), 2);
    assert_string_equal(out, "");
    assert_contains(err, "Usage: touchlined", "stderr of a bad option");
    free(out);
    free(err);
    assert_int_equal(run_daemon("", "stray-argument", &out, &err), 2);
    assert_string_equal(out, "");
    assert_contains(err, "stray-argument", "stderr of a stray argument");
    free(out);
    free(err);
}

static void version_prints_name_and_version(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run_daemon("", "--version", &out, &err), 0);
    char want[64];
    snprintf(want, sizeof(want), "touchlined %s\n", TOUCHLINE_VERSION);
    assert_string_equal(out, want);
    free(out);
    free(err);
    assert_int_equal(run_daemon("", "-V", &out, &err), 0);
    assert_string_equal(out, want);
    free(out);
    free(err);
}

static void check_config_masks_secrets(void **state)
{
    (void)state;
    static const char *const dsns[] = {
        "host=127.0.0.1 port=1 user=touchline password=hunter2secret dbname=x",
        "password=hunter2secret host=127.0.0.1 dbname=x",
        "host=127.0.0.1 password = 'hunter2secret with space' dbname=x",
        "postgresql://touchline:hunter2secret@127.0.0.1:1/x?sslmode=disable",
        "postgresql://127.0.0.1:1/x?user=touchline&password=hunter2secret",
    };
    for (size_t i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        char env[512];
        snprintf(env, sizeof(env),
                 "TOUCHLINE_DATABASE_DSN=\"%s\" "
                 "TOUCHLINE_AUTH_TOKENS=reader:reader-token-hunter3",
                 dsns[i]);
        char *out, *err;
        int st = run_daemon(env, "--check-config", &out, &err);
        if (st != 0) {
            fail_msg("--check-config with %s: exit %d:\n%s", dsns[i], st, err);
        }
        assert_contains(out, "[database]", "--check-config");
        /* The dsn line itself says that a password was there, and keeps the rest. */
        const char *dsn = strstr(out, "\ndsn = ");
        if (dsn == NULL) {
            fail_msg("no dsn line:\n%s", out);
        }
        const char *eol = strchr(dsn + 1, '\n');
        int dlen = eol != NULL ? (int)(eol - dsn - 1) : (int)strlen(dsn + 1);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", dlen, dsn + 1);
        assert_contains(line, "***", "the dsn line");
        assert_contains(line, "127.0.0.1", "the dsn line");
        assert_lacks(out, "hunter2secret", "--check-config");
        assert_lacks(out, "with space", "--check-config");
        assert_lacks(out, "reader-token-hunter3", "--check-config");
        assert_contains(out, "principal = reader scopes=", "--check-config");
        assert_lacks(err, "hunter2secret", "stderr of --check-config");
        free(out);
        free(err);
    }
}

static void config_file_unknown_key_exits_2(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/touchlined-unknown-key-%d.conf", harness_tmp_dir(),
             (int)getpid());
    harness_write_file(path, "# a comment\n[log]\nlevel = info\n\n[ingest]\nmax_lines = 5\n");
    char args[600], *out, *err;
    snprintf(args, sizeof(args), "--check-config -c '%s'", path);
    assert_int_equal(run_daemon("", args, &out, &err), 2);
    char where[600];
    snprintf(where, sizeof(where), "%s:6", path);
    assert_contains(err, where, "stderr");
    assert_contains(err, "max_lines", "stderr");
    assert_string_equal(out, "");
    free(out);
    free(err);
    /* The same through TOUCHLINE_CONFIG, and without --check-config: it never starts. */
    char env[600];
    snprintf(env, sizeof(env), "TOUCHLINE_CONFIG='%s'", path);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s '%s' 2>&1", env, daemon_bin());
    char *both = NULL;
    assert_int_equal(harness_run(cmd, &both), 2);
    assert_contains(both, where, "output");
    assert_contains(both, "max_lines", "output");
    free(both);
    unlink(path);
}

static void bad_environment_value_exits_2(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(
        run_daemon("TOUCHLINE_INGEST_MAX_LINE_BYTES=abc", "--check-config", &out, &err), 2);
    assert_contains(err, "TOUCHLINE_INGEST_MAX_LINE_BYTES", "stderr");
    assert_contains(err, "abc", "stderr");
    assert_string_equal(out, "");
    free(out);
    free(err);
    /* Out of range is as bad as not a number. */
    assert_int_equal(run_daemon("TOUCHLINE_INGEST_MAX_LINE_BYTES=1", "--check-config", &out, &err),
                     2);
    assert_contains(err, "TOUCHLINE_INGEST_MAX_LINE_BYTES", "stderr");
    free(out);
    free(err);
    /* And a good value is taken. */
    assert_int_equal(
        run_daemon("TOUCHLINE_INGEST_MAX_LINE_BYTES=4096", "--check-config", &out, &err), 0);
    assert_contains(out, "max_line_bytes = 4096  ; environment TOUCHLINE_INGEST_MAX_LINE_BYTES\n",
                    "--check-config");
    free(out);
    free(err);
}

/* The migration files of the source tree (NNN_*.sql), as CMake embeds them. */
static int count_migration_files(void)
{
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    if (src == NULL) {
        fail_msg("TOUCHLINE_SOURCE_DIR is not set: run through ctest");
    }
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/sql", src);
    DIR *dp = opendir(dir);
    if (dp == NULL) {
        fail_msg("cannot open %s: %s", dir, strerror(errno));
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len > 8 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
            s[2] <= '9' && s[3] == '_' && strcmp(s + len - 4, ".sql") == 0) {
            n++;
        }
    }
    closedir(dp);
    assert_true(n > 0);
    return n;
}

static void unique_dbname(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "t_%.40s_%d", name, (int)getpid());
}

static void migrate_creates_schema_once(void **state)
{
    (void)state;
    int files = count_migration_files();
    char db[64], dsn[256], env[400];
    unique_dbname("migrate", db, sizeof(db));
    harness_create_db(db);
    harness_dsn(db, dsn, sizeof(dsn));
    snprintf(env, sizeof(env), "TOUCHLINE_DATABASE_DSN='%s'", dsn);
    char *out, *err;
    int st = run_daemon(env, "--migrate", &out, &err);
    if (st != 0) {
        fail_msg("--migrate: exit %d:\n%s", st, err);
    }
    char want[64];
    snprintf(want, sizeof(want), "applied=%d", files);
    assert_contains(err, want, "log of the first --migrate");
    free(out);
    free(err);
    PGconn *pg = harness_pg(db);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.schema_migrations"),
                     files);
    assert_int_equal(
        harness_sql_long(pg, "SELECT count(*) FROM touchline.schema_migrations WHERE version "
                             "!~ '^[0-9]{3}_.*\\.sql$'"),
        0);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                          "'touchline' AND tablename IN ('customers', "
                                          "'identities', 'interactions', 'merges')"),
                     4);
    /* Migrating alone starts nothing: no daemon left connected to this database (a backend
     * may take a moment to go away after its client exited). */
    long left = -1;
    for (int i = 0; i < 50 && left != 0; i++) {
        left = harness_sql_long(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                    "current_database() AND application_name LIKE 'touchlined%'");
        if (left != 0) {
            usleep(100 * 1000);
        }
    }
    assert_int_equal(left, 0);
    st = run_daemon(env, "--migrate", &out, &err);
    if (st != 0) {
        fail_msg("second --migrate: exit %d:\n%s", st, err);
    }
    assert_contains(err, "applied=0", "log of the second --migrate");
    free(out);
    free(err);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.schema_migrations"),
                     files);
    PQfinish(pg);
}

/*
 * Starts touchlined (no -v, so that the configured log level shows, and never under the
 * valgrind wrapper: these tests time its start) with extra arguments args. Does not wait.
 */
static void spawn(struct harness_daemon *d, const char *const *args)
{
    static const char *const env[] = {"TOUCHLINE_LOG_LEVEL", NULL};
    harness_spawn(d, args, env, false);
}

/* Waits until the daemon says READY=1 with its ports on the notification socket. */
static void wait_started(struct harness_daemon *d)
{
    if (harness_wait_ready(d, 20000)) {
        return;
    }
    char *out = testmain_read_file(d->log_path, NULL);
    fail_msg("touchlined %s:\n%s", d->pid == 0 ? "exited at start" : "not ready within 20 s",
             out ? out : "");
}

/* harness_stop for a daemon of this file. */
static int stop(struct harness_daemon *d)
{
    pid_t pid = d->pid;
    int st = harness_stop(d);
    harness_track_child(pid, false);
    return st;
}

static void init_daemon(struct harness_daemon *d, const char *db, const char *tag)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dbname, sizeof(d->dbname), "%s", db);
    harness_dsn(db, d->dsn, sizeof(d->dsn));
    snprintf(d->log_path, sizeof(d->log_path), "%s/touchlined-%s-%s.log", harness_tmp_dir(), db,
             tag);
}

/* The "applied=N" of the daemon's "schema current" log line, or -1. */
static int applied_in_log(const struct harness_daemon *d)
{
    char *log = testmain_read_file(d->log_path, NULL);
    const char *p = log != NULL ? strstr(log, "schema current: applied=") : NULL;
    int n = p != NULL ? atoi(p + strlen("schema current: applied=")) : -1;
    free(log);
    return n;
}

static void assert_accepted(const char *answer)
{
    if (strstr(answer, "\"ok\":true") == NULL) {
        fail_msg("not accepted: %s", answer);
    }
}

static void two_daemons_migrate_one_database(void **state)
{
    (void)state;
    int files = count_migration_files();
    char db[64];
    unique_dbname("two_daemons", db, sizeof(db));
    harness_create_db(db);
    struct harness_daemon a, b;
    init_daemon(&a, db, "a");
    init_daemon(&b, db, "b");
    spawn(&a, NULL);
    spawn(&b, NULL);
    wait_started(&a);
    wait_started(&b);
    /* One applied every migration, the other waited for the lock and found none to do. */
    int na = applied_in_log(&a), nb = applied_in_log(&b);
    if (!((na == files && nb == 0) || (na == 0 && nb == files))) {
        fail_msg("applied: %d and %d, wanted %d and 0", na, nb, files);
    }
    PGconn *pg = harness_pg(db);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.schema_migrations"),
                     files);
    assert_int_equal(
        harness_sql_long(pg, "SELECT count(DISTINCT version) FROM touchline.schema_migrations"),
        files);
    /* Both serve. */
    int fa = harness_connect(a.tcp_port), fb = harness_connect(b.tcp_port);
    char *r = harness_roundtrip(fa, "{\"source\":\"a\",\"channel\":\"sms\",\"occurred_at\":"
                                    "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":"
                                    "\"09120000001\"}}");
    assert_accepted(r);
    free(r);
    r = harness_roundtrip(fb, "{\"source\":\"b\",\"channel\":\"sms\",\"occurred_at\":"
                              "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":"
                              "\"09120000001\"}}");
    assert_accepted(r);
    free(r);
    close(fa);
    close(fb);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 2);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.customers"), 1);
    PQfinish(pg);
    assert_int_equal(stop(&a), 0);
    assert_int_equal(stop(&b), 0);
    unlink(a.log_path);
    unlink(b.log_path);
}

/*
 * 3000 records in one write and SIGTERM, right after the write or once the first answer is
 * back (so that many records are surely in flight): whatever the daemon took it answers and
 * commits, it answers nothing it did not commit, and it exits 0.
 */
static void sigterm_drain(const char *name, bool after_first_answer)
{
    enum { N = 3000 };
    struct harness_daemon d;
    harness_start(&d, name, NULL);
    size_t cap = (size_t)N * 200, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        len += (size_t)snprintf(buf + len, cap - len,
                                "{\"source\":\"drain\",\"external_id\":\"drain-%d\",\"channel\":"
                                "\"sms\",\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                                "{\"phone\":\"09120%06d\"}}\n",
                                i, i % 200);
    }
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
    assert_true(w > 0);
    size_t sent = (size_t)w;
    bool signalled = !after_first_answer;
    if (signalled) {
        assert_int_equal(kill(d.pid, SIGTERM), 0);
    }
    /* Keep sending what the socket takes (the daemon may still read or discard it) and read
     * answers until the daemon ends the connection. */
    size_t acap = 1 << 20, alen = 0;
    char *ans = malloc(acap);
    assert_non_null(ans);
    bool sending = sent < len, eof = false;
    long long deadline = harness_now_ms() + 25000;
    while (!eof && harness_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sending ? POLLOUT : 0)};
        int r = poll(&p, 1, 1000);
        if (r < 0 && errno != EINTR) {
            fail_msg("poll: %s", strerror(errno));
        }
        if (r <= 0) {
            continue;
        }
        if (sending && (p.revents & POLLOUT)) {
            w = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                sending = false; /* the daemon closed; what it did not read got no answer */
            }
            sending = sending && sent < len;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (alen + 65536 > acap) {
                acap *= 2;
                ans = realloc(ans, acap);
                assert_non_null(ans);
            }
            ssize_t n = recv(fd, ans + alen, acap - alen - 1, 0);
            if (n > 0) {
                alen += (size_t)n;
                if (!signalled && memchr(ans, '\n', alen) != NULL) {
                    assert_int_equal(kill(d.pid, SIGTERM), 0);
                    signalled = true;
                }
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = true;
            }
        }
    }
    close(fd);
    if (!eof) {
        fail_msg("the daemon did not end the connection within 25 s");
    }
    ans[alen] = '\0';
    /* Answer i is line i's, accepted, never a duplicate. */
    int ok = 0;
    char *save = NULL;
    for (char *line = strtok_r(ans, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j == NULL || !json_is_true(json_object_get(j, "ok")) ||
            !json_is_false(json_object_get(j, "duplicate"))) {
            fail_msg("answer %d is not an acceptance: %s", ok + 1, line);
        }
        char ext[32], want[RECORD_UUID_LEN + 1];
        snprintf(ext, sizeof(ext), "drain-%d", ok);
        record_derive_id("drain", ext, want);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id == NULL || strcmp(id, want) != 0) {
            fail_msg("answer %d is for %s, wanted %s (%s)", ok + 1, id ? id : "?", want, ext);
        }
        json_decref(j);
        ok++;
    }
    assert_true(ok <= N);
    assert_true(signalled);
    if (after_first_answer) {
        assert_true(ok > 0);
    }
    print_message("%s: %d of %d records answered before the daemon stopped\n", name, ok, N);
    assert_int_equal(harness_stop(&d), 0);
    assert_true(harness_log_contains(&d, "drained"));
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), ok);
    /* Exactly the answered lines, 0..ok-1. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions WHERE "
                                          "substr(external_id, 7)::int >= (SELECT count(*) FROM "
                                          "touchline.interactions)"),
                     0);
    PQfinish(pg);
    free(ans);
    free(buf);
}

static void sigterm_right_after_write_drains(void **state)
{
    (void)state;
    sigterm_drain("drain_at_once", false);
}

static void sigterm_with_records_in_flight_drains(void **state)
{
    (void)state;
    sigterm_drain("drain_in_flight", true);
}

/*
 * A service manager or an operator may repeat SIGTERM while the daemon drains and exits: the
 * repeats must neither kill it (the drain still ends with every answered record stored) nor
 * change its exit status. SIGTERM is sent every 2 ms from the first until the daemon is gone,
 * so that some arrive while it tears down (under the sanitizers that includes the leak check
 * at exit, which takes long enough to be hit every time).
 */
static void sigterm_repeated_while_exiting_exits_0(void **state)
{
    (void)state;
    enum { N = 200 };
    struct harness_daemon d;
    harness_start(&d, "sigterm_again", NULL);
    int fd = harness_connect(d.tcp_port);
    for (int i = 0; i < N; i++) {
        char line[256];
        int n = snprintf(line, sizeof(line),
                         "{\"source\":\"again\",\"external_id\":\"again-%d\",\"channel\":"
                         "\"sms\",\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                         "{\"phone\":\"09120%06d\"}}\n",
                         i, i % 20);
        assert_int_equal(harness_send(fd, line, (size_t)n), 0);
    }
    /* After the first answer the rest are in flight; answers are read on while signalling. */
    char *first = harness_read_line(fd, 20000);
    assert_non_null(first);
    assert_accepted(first);
    free(first);
    int answered = 1, signals = 0, status = 0;
    pid_t r = 0;
    bool eof = false;
    char buf[65536];
    size_t have = 0;
    long long deadline = harness_now_ms() + 30000;
    while (r == 0 && harness_now_ms() < deadline) {
        if (!eof) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 2) > 0) {
                ssize_t n = recv(fd, buf + have, sizeof(buf) - have - 1, 0);
                if (n <= 0) {
                    eof = n == 0 || (errno != EAGAIN && errno != EINTR);
                    if (eof) {
                        /* The daemon waits for our side to close before it counts as drained. */
                        close(fd);
                        fd = -1;
                    }
                } else {
                    have += (size_t)n;
                    buf[have] = '\0';
                    char *nl;
                    while ((nl = strchr(buf, '\n')) != NULL) {
                        *nl = '\0';
                        assert_accepted(buf);
                        answered++;
                        have -= (size_t)(nl + 1 - buf);
                        memmove(buf, nl + 1, have + 1);
                    }
                }
            }
        } else {
            usleep(2000);
        }
        assert_int_equal(kill(d.pid, SIGTERM), 0);
        signals++;
        r = waitpid(d.pid, &status, WNOHANG);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (r != d.pid) {
        fail_msg("touchlined did not exit within 30 s of %d SIGTERMs", signals);
    }
    harness_track_child(d.pid, false);
    d.pid = 0;
    print_message("sigterm_again: %d of %d answered, %d SIGTERMs until the daemon exited\n",
                  answered, N, signals);
    if (!WIFEXITED(status)) {
        char *log = testmain_read_file(d.log_path, NULL);
        fail_msg("touchlined was killed by signal %d after %d SIGTERMs:\n%s",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0, signals, log != NULL ? log : "");
    }
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(eof);
    assert_true(harness_log_contains(&d, "drained"));
    /* Every answered record is stored, and only those. */
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), answered);
    PQfinish(pg);
}

/* True when the log has a line containing both a and b. */
static bool log_has_line(const struct harness_daemon *d, const char *a, const char *b)
{
    char *log = testmain_read_file(d->log_path, NULL);
    bool found = false;
    char *save = NULL;
    for (char *line = log != NULL ? strtok_r(log, "\n", &save) : NULL; line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    }
    free(log);
    return found;
}

static bool wait_log_line(const struct harness_daemon *d, const char *a, const char *b)
{
    long long deadline = harness_now_ms() + 10000;
    while (harness_now_ms() < deadline) {
        if (log_has_line(d, a, b)) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

static const char RECORD[] = "{\"source\":\"hup\",\"channel\":\"sms\",\"occurred_at\":"
                             "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09120000002\"}}";

/* Starts the daemon on a fresh database named after name (into db, 64 bytes) with the config
 * file conf (512 bytes) holding "[log] level = info". */
static void start_with_config_file(struct harness_daemon *d, const char *name, char *db, char *conf)
{
    unique_dbname(name, db, 64);
    harness_create_db(db);
    init_daemon(d, db, name);
    snprintf(conf, 512, "%s/touchlined-%s.conf", harness_tmp_dir(), db);
    harness_write_file(conf, "[log]\nlevel = info\n");
    const char *args[] = {"-c", conf, NULL};
    spawn(d, args);
    wait_started(d);
}

static void sighup_reloads_config_file(void **state)
{
    (void)state;
    char db[64], conf[512];
    struct harness_daemon d;
    start_with_config_file(&d, "sighup", db, conf);
    int fd1 = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd1, RECORD);
    assert_accepted(a);
    free(a);
    assert_true(harness_log_contains(&d, "info "));
    assert_false(harness_log_contains(&d, "debug "));
    harness_write_file(conf, "[log]\nlevel = debug\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    if (!wait_log_line(&d, "configuration reloaded", "level=debug")) {
        char *log = testmain_read_file(d.log_path, NULL);
        fail_msg("no reload in the log:\n%s", log != NULL ? log : "");
    }
    /* A new connection is now logged at debug level. */
    int fd2 = harness_connect(d.tcp_port);
    if (!wait_log_line(&d, "debug", "connected")) {
        char *log = testmain_read_file(d.log_path, NULL);
        fail_msg("no debug line for a new connection:\n%s", log != NULL ? log : "");
    }
    /* The connection made before the reload still works, and so does the new one. */
    a = harness_roundtrip(fd1, RECORD);
    assert_accepted(a);
    free(a);
    a = harness_roundtrip(fd2, RECORD);
    assert_accepted(a);
    free(a);
    close(fd1);
    close(fd2);
    /* A broken file is refused and the running configuration stays. */
    harness_write_file(conf, "[log]\nlevel = loud\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_log_line(&d, "reload failed", "loud"));
    int fd3 = harness_connect(d.tcp_port);
    a = harness_roundtrip(fd3, RECORD);
    assert_accepted(a);
    free(a);
    close(fd3);
    PGconn *pg = harness_pg(db);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 4);
    PQfinish(pg);
    assert_int_equal(stop(&d), 0);
    unlink(conf);
    unlink(d.log_path);
}

/* The customer_id of an accepted answer, into out (40 bytes). */
static void customer_of(const char *answer, char *out)
{
    assert_accepted(answer);
    const char *c = strstr(answer, "\"customer_id\":\"");
    assert_non_null(c);
    snprintf(out, 40, "%.36s", c + strlen("\"customer_id\":\""));
}

/*
 * SIGHUP applies every reloadable option, identity.never_merge among them, and names each
 * option that changed but only takes effect on restart, keeping its running value.
 */
static void sighup_reloads_never_merge_and_names_what_needs_a_restart(void **state)
{
    (void)state;
    char db[64], conf[512];
    struct harness_daemon d;
    start_with_config_file(&d, "sighup_nm", db, conf);
    static const char shared[] =
        "{\"source\":\"hup\",\"external_id\":\"%s\",\"channel\":\"sms\",\"occurred_at\":"
        "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"02188001234\",\"email\":\"%s\"}}";
    char line[512], first[40], second[40], third[40];
    int fd = harness_connect(d.tcp_port);
    snprintf(line, sizeof(line), shared, "1", "sara@example.com");
    char *a = harness_roundtrip(fd, line);
    customer_of(a, first);
    free(a);
    /* Not yet never_merge: a second person on the same line is taken for the first. */
    snprintf(line, sizeof(line), shared, "2", "ali@example.com");
    a = harness_roundtrip(fd, line);
    customer_of(a, second);
    free(a);
    assert_string_equal(second, first);

    harness_write_file(conf, "[log]\nlevel = info\n"
                             "[identity]\nnever_merge = phone:021 8800 1234\n"
                             "[http]\ntimeout_s = 9\n"
                             "[spool]\nmax_mb = 7\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    if (!wait_log_line(&d, "configuration reloaded", "never_merge=1")) {
        char *log = testmain_read_file(d.log_path, NULL);
        fail_msg("no reload of never_merge in the log:\n%s", log != NULL ? log : "");
    }
    assert_true(log_has_line(&d, "restart", "[http] timeout_s"));
    assert_true(log_has_line(&d, "restart", "[spool] max_mb"));
    assert_false(log_has_line(&d, "restart", "never_merge"));
    assert_false(log_has_line(&d, "restart", "[log] level"));

    /* Now the shared line attaches a third person's record without making them one. */
    snprintf(line, sizeof(line), shared, "3", "reza@example.com");
    a = harness_roundtrip(fd, line);
    customer_of(a, third);
    free(a);
    assert_string_not_equal(third, first);
    close(fd);
    assert_int_equal(stop(&d), 0);
    unlink(conf);
    unlink(d.log_path);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_prints_usage_on_stdout),
        cmocka_unit_test(unknown_option_exits_2),
        cmocka_unit_test(version_prints_name_and_version),
        cmocka_unit_test(check_config_masks_secrets),
        cmocka_unit_test(config_file_unknown_key_exits_2),
        cmocka_unit_test(bad_environment_value_exits_2),
        cmocka_unit_test(migrate_creates_schema_once),
        cmocka_unit_test(two_daemons_migrate_one_database),
        cmocka_unit_test(sigterm_right_after_write_drains),
        cmocka_unit_test(sigterm_with_records_in_flight_drains),
        cmocka_unit_test(sigterm_repeated_while_exiting_exits_0),
        cmocka_unit_test(sighup_reloads_config_file),
        cmocka_unit_test(sighup_reloads_never_merge_and_names_what_needs_a_restart),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
