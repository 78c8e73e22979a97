/*
 * `touchline import cdr --follow` against the real daemon, as it runs beside Asterisk: rows
 * appended to Master.csv reach PostgreSQL within a second, a half-written row waits for its
 * end, a rotation (renamed away, a new file) loses nothing, a restart goes on where the
 * acknowledged rows end (also across a rotation that happened while it was stopped), and no
 * row is ever sent twice: not after SIGTERM, not after SIGKILL between rows. Counted in
 * PostgreSQL and in what the follower says it got back (0 duplicate).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

struct follower {
    pid_t pid;
    char log[512];
};

/* One inbound call, number i, as cdr_csv writes it (18 columns), with a Persian caller name. */
static void row(char *out, size_t len, int i)
{
    snprintf(out, len,
             "\"\",\"0912%07d\",\"s\",\"from-pstn\",\"\"\"مشتری %d\"\" <0912%07d>\","
             "\"PJSIP/trunk-%08x\",\"\",\"BackGround\",\"custom/welcome\",\"2026-11-22 "
             "%02d:%02d:%02d\",\"\",\"\",5,0,\"NO ANSWER\",\"DOCUMENTATION\",\"1763800000.%d\","
             "\"\"\n",
             i, i, i, (unsigned)i, i / 3600 % 24, i / 60 % 60, i % 60, i);
}

/* Appends bytes to path the way cdr_csv does: open, write, close. */
static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

/* Appends rows first..last (inclusive). */
static void append_rows(const char *path, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char r[512];
        row(r, sizeof(r), i);
        append(path, r);
    }
}

/* Starts the follower on path; extra (NULL or up to two words) goes at the end. */
static void start_with(struct follower *fl, const struct harness_daemon *d, const char *dir,
                       const char *path, int run, const char *const *extra);

static void start(struct follower *fl, const struct harness_daemon *d, const char *dir,
                  const char *path, int run)
{
    start_with(fl, d, dir, path, run, NULL);
}

static void start_with(struct follower *fl, const struct harness_daemon *d, const char *dir,
                       const char *path, int run, const char *const *extra)
{
    snprintf(fl->log, sizeof(fl->log), "%s/follow-%d.log", dir, run);
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", d->tcp_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(fl->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            _exit(127);
        }
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        const char *argv[20] = {"touchline",
                                "import",
                                "cdr",
                                "--follow",
                                "",
                                "--tcp",
                                "",
                                "--source",
                                "asterisk-follow",
                                "--tz-offset",
                                "+03:30",
                                "--status-interval",
                                "1"};
        int n = 13;
        argv[4] = path;
        argv[6] = tcp;
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 19; i++) {
            argv[n++] = extra[i];
        }
        argv[n] = NULL;
        execv(getenv("TOUCHLINE_TEST_CLIENT"), (char *const *)argv);
        _exit(127);
    }
    fl->pid = pid;
    harness_track_child(pid, true);
}

/* Waits (up to 30 s) for the follower's exit; returns its wait status. */
static int wait_exit(struct follower *fl)
{
    long long deadline = harness_now_ms() + 30000;
    int status = 0;
    while (waitpid(fl->pid, &status, WNOHANG) != fl->pid) {
        if (harness_now_ms() > deadline) {
            fail_msg("the follower did not exit within 30 s");
        }
        usleep(10000);
    }
    harness_track_child(fl->pid, false);
    return status;
}

/* Signals the follower and waits for its exit; returns its wait status. */
static int stop(struct follower *fl, int sig)
{
    kill(fl->pid, sig);
    return wait_exit(fl);
}

static long count(PGconn *pg)
{
    return harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions");
}

/* Waits until PostgreSQL holds want records; returns the milliseconds it took. */
static long long wait_count(PGconn *pg, long want, const struct follower *fl)
{
    long long t0 = harness_now_ms(), deadline = t0 + 30000;
    long n;
    while ((n = count(pg)) != want) {
        if (n > want || harness_now_ms() > deadline) {
            char *log = testmain_read_file(fl->log, NULL);
            fail_msg("%ld records stored, not %ld; the follower said:\n%s", n, want,
                     log != NULL ? log : "");
        }
        usleep(5000);
    }
    return harness_now_ms() - t0;
}

/* Waits until the state file says every byte of path was acknowledged. */
static void wait_state_at_end(const char *state, const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    char want[64];
    snprintf(want, sizeof(want), "offset %lld\n", (long long)sb.st_size);
    long long deadline = harness_now_ms() + 30000;
    for (;;) {
        char *text = testmain_read_file(state, NULL);
        bool at_end = text != NULL && strstr(text, want) != NULL;
        free(text);
        if (at_end) {
            return;
        }
        if (harness_now_ms() > deadline) {
            fail_msg("the state file %s never said %s", state, want);
        }
        usleep(5000);
    }
}

static void expect_log(const struct follower *fl, const char *text)
{
    char *log = testmain_read_file(fl->log, NULL);
    if (log == NULL || strstr(log, text) == NULL) {
        fail_msg("expected \"%s\" in what the follower said:\n%s", text, log != NULL ? log : "");
    }
    free(log);
}

/* Waits until the follower said text. */
static void wait_log(const struct follower *fl, const char *text)
{
    long long deadline = harness_now_ms() + 30000;
    for (;;) {
        char *log = testmain_read_file(fl->log, NULL);
        bool found = log != NULL && strstr(log, text) != NULL;
        if (!found && harness_now_ms() > deadline) {
            fail_msg("the follower never said \"%s\":\n%s", text, log != NULL ? log : "");
        }
        free(log);
        if (found) {
            return;
        }
        usleep(10000);
    }
}

/* A daemon on a fresh database, a connection to it, and a directory for Master.csv. */
struct scene {
    struct harness_daemon d;
    PGconn *pg;
    char dir[256];
    char path[300];  /* dir/Master.csv, not there yet */
    char state[330]; /* its default state file */
};

static void scene_start(struct scene *sc, const char *name, const char *const *env)
{
    harness_start(&sc->d, name, env);
    sc->pg = harness_pg(sc->d.dbname);
    snprintf(sc->dir, sizeof(sc->dir), "%s/touchline-%s-%d", harness_tmp_dir(), name,
             (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", sc->dir, sc->dir);
    assert_int_equal(system(cmd), 0);
    snprintf(sc->path, sizeof(sc->path), "%s/Master.csv", sc->dir);
    snprintf(sc->state, sizeof(sc->state), "%s.touchline-state", sc->path);
}

static void scene_end(struct scene *sc)
{
    PQfinish(sc->pg);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sc->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(harness_stop(&sc->d), 0);
}

static void follows_rotates_restarts_and_never_resends(void **state)
{
    (void)state;
    struct scene sc;
    scene_start(&sc, "follow", NULL);
    struct harness_daemon *d = &sc.d;
    PGconn *pg = sc.pg;
    const char *dir = sc.dir, *path = sc.path, *statef = sc.state;
    char rotated[330];

    /* What Asterisk wrote before the follower ever ran is sent first. */
    append_rows(path, 1, 50);
    struct follower fl;
    start(&fl, d, dir, path, 1);
    wait_count(pg, 50, &fl);

    /* Appended rows, one at a time: each within a second. */
    long long worst = 0;
    for (int i = 51; i <= 55; i++) {
        append_rows(path, i, i);
        long long ms = wait_count(pg, i, &fl);
        worst = ms > worst ? ms : worst;
    }
    print_message("slowest pick-up of an appended row: %lld ms\n", worst);
    assert_true(worst < 1000);

    /* Half a row waits for the rest. */
    char r[512];
    row(r, sizeof(r), 56);
    size_t half = strlen(r) / 2;
    char first[512];
    memcpy(first, r, half);
    first[half] = '\0';
    wait_state_at_end(statef, path);
    char *before = testmain_read_file(statef, NULL);
    append(path, first);
    usleep(300000);
    assert_int_equal(count(pg), 55);
    char *after = testmain_read_file(statef, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    append(path, r + half);
    wait_count(pg, 56, &fl);

    /* logrotate: renamed away, one more row lands in the old file, a new file begins. */
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    assert_int_equal(rename(path, rotated), 0);
    append_rows(rotated, 57, 57);
    append_rows(path, 58, 59);
    wait_count(pg, 59, &fl);
    expect_log(&fl, "was rotated: following the new file");

    /* SIGTERM: a clean stop, the state saved. */
    int st = stop(&fl, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    expect_log(&fl, "stopped");
    expect_log(&fl, "59 stored, 0 duplicate, 0 rejected");

    /* While it is stopped: two rows, then a rotation with its own name, then one row. */
    append_rows(path, 60, 61);
    snprintf(rotated, sizeof(rotated), "%s-20261122", path);
    assert_int_equal(rename(path, rotated), 0);
    append_rows(path, 62, 62);
    start(&fl, d, dir, path, 2);
    wait_count(pg, 62, &fl);
    expect_log(&fl, "was rotated while stopped");

    /* SIGKILL between rows: once everything is acknowledged and saved. */
    wait_state_at_end(statef, path);
    st = stop(&fl, SIGKILL);
    assert_true(WIFSIGNALED(st));
    append_rows(path, 63, 64);
    start(&fl, d, dir, path, 3);
    wait_count(pg, 64, &fl);
    wait_state_at_end(statef, path);
    st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    /* This run sent the two new rows only: nothing before them again. */
    expect_log(&fl, "2 stored, 0 duplicate, 0 rejected");
    assert_int_equal(count(pg), 64);
    assert_int_equal(harness_sql_long(pg, "SELECT count(DISTINCT external_id) FROM "
                                          "touchline.interactions WHERE source = "
                                          "'asterisk-follow'"),
                     64);
    scene_end(&sc);
}

/*
 * A copytruncate rotation (the file cut to nothing in place) is read again from its start, and
 * the daemon going away and coming back loses nothing: the follower reconnects and sends what
 * it had not got answers for.
 */
static void truncation_and_a_daemon_restart(void **state)
{
    (void)state;
    struct scene sc;
    scene_start(&sc, "follow_trunc", NULL);
    struct harness_daemon *d = &sc.d;
    PGconn *pg = sc.pg;
    const char *dir = sc.dir, *path = sc.path, *state_path = sc.state;
    append_rows(path, 1, 10);
    struct follower fl;
    start(&fl, d, dir, path, 1);
    wait_count(pg, 10, &fl);
    wait_state_at_end(state_path, path);
    assert_int_equal(truncate(path, 0), 0);
    append_rows(path, 11, 12);
    wait_count(pg, 12, &fl);
    expect_log(&fl, "was truncated");

    /* The daemon stops and comes back on the same database (new ports: the follower is
     * started again on them, as systemd would after a configuration change). */
    assert_int_equal(harness_stop(d), 0);
    append_rows(path, 13, 14);
    wait_log(&fl, "Connection refused");
    int st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    expect_log(&fl, "the daemon is not reachable");
    harness_restart(d, NULL);
    PQfinish(pg);
    pg = sc.pg = harness_pg(d->dbname);
    start(&fl, d, dir, path, 2);
    wait_count(pg, 14, &fl);
    wait_state_at_end(state_path, path);
    st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    expect_log(&fl, "2 stored, 0 duplicate, 0 rejected");
    scene_end(&sc);
}

/* The daemon closes connections idle for its idle_timeout_s: the follower reconnects when it
 * happens, so that the first row after a quiet night is as quick as any. */
static void idle_close_is_noticed(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_INGEST_IDLE_TIMEOUT_S=1", NULL};
    struct scene sc;
    scene_start(&sc, "follow_idle", env);
    struct harness_daemon *d = &sc.d;
    PGconn *pg = sc.pg;
    const char *dir = sc.dir, *path = sc.path;
    append_rows(path, 1, 1);
    struct follower fl;
    start(&fl, d, dir, path, 1);
    wait_count(pg, 1, &fl);
    wait_log(&fl, "the daemon closed the connection");
    append_rows(path, 2, 2);
    long long ms = wait_count(pg, 2, &fl);
    print_message("a row after the idle connection was closed: %lld ms\n", ms);
    assert_true(ms < 1000);
    int st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    expect_log(&fl, "2 stored, 0 duplicate, 0 rejected");
    scene_end(&sc);
}

/* --state puts the position where the unit keeps it (the CDR directory is Asterisk's, not
 * writable); --from-end starts a first run at the end, leaving the history out. */
static void state_path_and_from_end(void **state)
{
    (void)state;
    struct scene sc;
    scene_start(&sc, "follow_state", NULL);
    struct harness_daemon *d = &sc.d;
    PGconn *pg = sc.pg;
    const char *dir = sc.dir, *path = sc.path;
    char statef[340];
    snprintf(statef, sizeof(statef), "%s/state", dir);
    assert_int_equal(mkdir(statef, 0755), 0);
    snprintf(statef, sizeof(statef), "%s/state/asterisk-1.state", dir);
    append_rows(path, 1, 20);
    const char *extra[] = {"--state", statef, "--from-end", NULL};
    struct follower fl;
    start_with(&fl, d, dir, path, 1, extra);
    wait_state_at_end(statef, path);
    wait_log(&fl, "at line 21:");
    append_rows(path, 21, 22);
    wait_count(pg, 2, &fl);
    int st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Only the state file named was written. */
    char beside[340];
    snprintf(beside, sizeof(beside), "%s.touchline-state", path);
    assert_int_not_equal(access(beside, F_OK), 0);
    /* A restart with the same state (--from-end has no say once there is one). */
    append_rows(path, 23, 23);
    start_with(&fl, d, dir, path, 2, extra);
    wait_count(pg, 3, &fl);
    wait_state_at_end(statef, path);
    st = stop(&fl, SIGTERM);
    assert_int_equal(WEXITSTATUS(st), 0);
    expect_log(&fl, "1 stored, 0 duplicate, 0 rejected");
    /* A state file that is not one: refused, exit 2, nothing sent. */
    harness_write_file(statef, "offset banana\n");
    start_with(&fl, d, dir, path, 3, extra);
    st = wait_exit(&fl);
    assert_int_equal(WEXITSTATUS(st), 2);
    expect_log(&fl, "not one this command wrote");
    assert_int_equal(count(pg), 3);
    scene_end(&sc);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follows_rotates_restarts_and_never_resends),
        cmocka_unit_test(truncation_and_a_daemon_restart),
        cmocka_unit_test(idle_close_is_noticed),
        cmocka_unit_test(state_path_and_from_end),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
