/*
 * touchlined under a service manager (daemon/notify.c and its calls in daemon/daemon.c): the
 * test owns the datagram socket NOTIFY_SOCKET names, as systemd does for Type=notify, and
 * checks what arrives there against what a client sees: READY=1 only once both ports accept
 * connections and records are committed, RELOADING=1 then READY=1 around a SIGHUP reload that
 * leaves open connections working, STOPPING=1 on SIGTERM and then a clean exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/* Fails the test showing (the end of) the daemon's log. */
static void fail_with_log(const struct harness_daemon *d, const char *what)
{
    /* fail_msg does not return: the log is copied to the stack so that nothing leaks. */
    char tail[8192] = "(none)";
    char *log = testmain_read_file(d->log_path, NULL);
    if (log != NULL) {
        size_t n = strlen(log);
        snprintf(tail, sizeof(tail), "%s", n >= sizeof(tail) ? log + n - sizeof(tail) + 1 : log);
        free(log);
    }
    fail_msg("%s; the daemon's log:\n%s", what, tail);
}

/* True when msg (lines "KEY=VALUE") has the line want. */
static bool has_line(const char *msg, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = msg; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len == n && memcmp(p, want, n) == 0) {
            return true;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return false;
}

/* The next message on fd into buf, or false after timeout_ms. */
static bool notify_next(int fd, char *buf, size_t len, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        return false;
    }
    ssize_t n = recv(fd, buf, len - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    return true;
}

/*
 * Waits for a message with the line want, failing the test when another message comes
 * first, the daemon exits, or nothing arrives within 20 s. The message goes to buf.
 */
static void expect_message(const struct harness_daemon *d, int fd, const char *want, char *buf,
                           size_t len)
{
    long long deadline = harness_now_ms() + 20000;
    while (harness_now_ms() < deadline) {
        if (notify_next(fd, buf, len, 100)) {
            if (strncmp(buf, "STATUS=starting:", 16) == 0 && strchr(buf, '\n') == NULL) {
                continue; /* the ports while the database is awaited: a status, no state */
            }
            if (!has_line(buf, want)) {
                char what[700];
                snprintf(what, sizeof(what), "waiting for %s, the daemon sent \"%s\"", want, buf);
                fail_with_log(d, what);
            }
            return;
        }
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            harness_track_child(d->pid, false);
            char what[300];
            snprintf(what, sizeof(what), "the daemon exited (status %d) before sending %s", status,
                     want);
            fail_with_log(d, what);
        }
    }
    char what[200];
    snprintf(what, sizeof(what), "no %s within 20 s", want);
    fail_with_log(d, what);
}

/*
 * Starts touchlined on a fresh database with listeners on free ports, stdout and stderr into
 * d->log_path, NOTIFY_SOCKET=notify and, when conf is not NULL, "-c conf". Does not wait.
 */
static void spawn(struct harness_daemon *d, const char *name, const char *conf, const char *notify)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dbname, sizeof(d->dbname), "t_%s_%d", name, (int)getpid());
    harness_create_db(d->dbname);
    harness_dsn(d->dbname, d->dsn, sizeof(d->dsn));
    snprintf(d->log_path, sizeof(d->log_path), "%s/touchlined-%s.log", harness_tmp_dir(),
             d->dbname);
    char notify_env[512];
    snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", notify);
    const char *const env[] = {notify_env, "TOUCHLINE_LOG_LEVEL",
                               "TOUCHLINE_INGEST_MAX_INFLIGHT_PER_CONNECTION", NULL};
    const char *const args[] = {"-c", conf, NULL};
    harness_spawn(d, conf != NULL ? args : NULL, env, false);
}

/* Reads the ports from the daemon's READY=1 message msg; fails when they are not there. */
static void read_ports(struct harness_daemon *d, const char *msg)
{
    if (!harness_ports_from_ready(d, msg)) {
        fail_with_log(d, "READY=1 came without the daemon's ports");
    }
}

/*
 * With no manager listening there is no READY=1 to read: the ports come from the daemon's
 * "started" log line, the one place besides the notification that names them.
 */
static void read_ports_from_log(struct harness_daemon *d)
{
    char *log = testmain_read_file(d->log_path, NULL);
    const char *p = log != NULL ? strstr(log, " started: tcp=") : NULL;
    const char *t = p != NULL ? strstr(p, "(port ") : NULL;
    const char *h = t != NULL ? strstr(t + 6, "(port ") : NULL;
    if (h != NULL) {
        d->tcp_port = atoi(t + 6);
        d->http_port = atoi(h + 6);
    }
    free(log);
    if (d->tcp_port <= 0 || d->http_port <= 0) {
        fail_with_log(d, "no ports in the daemon's log");
    }
}

static const char RECORD[] = "{\"source\":\"svc\",\"channel\":\"sms\",\"occurred_at\":"
                             "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09120000003\"}}";

/* Asserts that the answer accepts a committed record (not one spooled for later). */
static void assert_committed(const char *answer)
{
    if (strstr(answer, "\"ok\":true") == NULL || strstr(answer, "\"customer_id\"") == NULL) {
        fail_msg("not accepted and committed: %s", answer);
    }
}

/*
 * Sends one SIGTERM (a second one could arrive after the daemon has given its signal
 * handling back, and kill it), expects STOPPING=1, then exit status 0 within 30 s.
 */
static void stop_expecting_notification(struct harness_daemon *d, int nfd)
{
    char msg[512];
    assert_int_equal(kill(d->pid, SIGTERM), 0);
    expect_message(d, nfd, "STOPPING=1", msg, sizeof(msg));
    long long deadline = harness_now_ms() + 30000;
    int status = 0;
    pid_t r;
    while ((r = waitpid(d->pid, &status, WNOHANG)) == 0 && harness_now_ms() < deadline) {
        usleep(10000);
    }
    if (r != d->pid) {
        fail_with_log(d, "the daemon did not exit within 30 s of SIGTERM");
    }
    harness_track_child(d->pid, false);
    d->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char what[96];
        snprintf(what, sizeof(what), "after SIGTERM: %s %d",
                 WIFEXITED(status) ? "exit status" : "killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        fail_with_log(d, what);
    }
    assert_true(harness_log_contains(d, "drained"));
}

/*
 * The whole life under systemd: READY=1 when it serves, a reload of the log level and a
 * limit with RELOADING=1 then READY=1 while a connection stays open, STOPPING=1 and exit 0.
 */
static void notify_ready_reload_stop(void **state)
{
    (void)state;
    char sock[300], conf[300];
    snprintf(sock, sizeof(sock), "%s/tl-notify-%d.sock", harness_tmp_dir(), (int)getpid());
    snprintf(conf, sizeof(conf), "%s/touchlined-service-%d.conf", harness_tmp_dir(), (int)getpid());
    int nfd = testmain_notify_listen(sock);
    harness_write_file(conf, "[log]\nlevel = info\n[ingest]\nmax_inflight_per_connection = 1000\n");
    struct harness_daemon d;
    spawn(&d, "service", conf, sock);

    /* The first message is READY=1, and by then everything a client needs works at once. */
    char msg[512];
    expect_message(&d, nfd, "READY=1", msg, sizeof(msg));
    read_ports(&d, msg);
    if (!harness_log_contains(&d, "database connection 0 up")) {
        fail_with_log(&d, "READY=1 came before the database pool was up");
    }
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/healthz", NULL, NULL, &body), 200);
    free(body);
    body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/readyz", NULL, NULL, &body), 200);
    free(body);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, RECORD);
    assert_committed(a);
    free(a);
    assert_false(harness_log_contains(&d, "debug "));

    /* SIGHUP with a new log level and a new limit: RELOADING=1, then READY=1. */
    harness_write_file(conf, "[log]\nlevel = debug\n[ingest]\nmax_inflight_per_connection = 7\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    expect_message(&d, nfd, "RELOADING=1", msg, sizeof(msg));
    if (strstr(msg, "MONOTONIC_USEC=") == NULL) {
        fail_msg("RELOADING=1 without MONOTONIC_USEC: \"%s\"", msg);
    }
    expect_message(&d, nfd, "READY=1", msg, sizeof(msg));
    if (!harness_log_contains(&d, "configuration reloaded") ||
        !harness_log_contains(&d, "level=debug") ||
        !harness_log_contains(&d, "max_inflight_per_connection=7")) {
        fail_with_log(&d, "READY=1 after RELOADING=1, but the new settings are not in force");
    }
    /* The connection opened before the reload goes on working. */
    a = harness_roundtrip(fd, RECORD);
    assert_committed(a);
    free(a);
    close(fd);
    PGconn *pg = harness_pg(d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 2);
    PQfinish(pg);

    /* A reload the daemon refuses still ends with READY=1: it serves as before. */
    harness_write_file(conf, "[log]\nlevel = loud\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    expect_message(&d, nfd, "RELOADING=1", msg, sizeof(msg));
    expect_message(&d, nfd, "READY=1", msg, sizeof(msg));
    assert_true(harness_log_contains(&d, "reload failed"));

    stop_expecting_notification(&d, nfd);
    /* Nothing after STOPPING=1. */
    assert_false(notify_next(nfd, msg, sizeof(msg), 200));
    close(nfd);
    unlink(sock);
    unlink(conf);
    unlink(d.log_path);
}

/* systemd may name its socket in the abstract namespace ("@..."); that works the same. */
static void notify_abstract_socket(void **state)
{
    (void)state;
    char name[108];
    snprintf(name, sizeof(name), "@touchline-test-notify-%d", (int)getpid());
    int nfd = testmain_notify_listen(name);
    struct harness_daemon d;
    spawn(&d, "service_abstract", NULL, name);
    char msg[512];
    expect_message(&d, nfd, "READY=1", msg, sizeof(msg));
    read_ports(&d, msg);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, RECORD);
    assert_committed(a);
    free(a);
    close(fd);
    stop_expecting_notification(&d, nfd);
    close(nfd);
    unlink(d.log_path);
}

/*
 * A NOTIFY_SOCKET nobody listens on (the manager went away, a stale variable) costs a
 * warning, not the service: the daemon serves and stops as usual.
 */
static void notify_socket_gone_still_serves(void **state)
{
    (void)state;
    struct harness_daemon d;
    spawn(&d, "service_gone", NULL, "/nonexistent-touchline-dir/notify.sock");
    long long deadline = harness_now_ms() + 20000;
    while (!harness_log_contains(&d, "cannot tell the service manager READY=1")) {
        if (harness_now_ms() > deadline) {
            fail_with_log(&d, "no warning about the unreachable NOTIFY_SOCKET within 20 s");
        }
        usleep(20000);
    }
    read_ports_from_log(&d);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, RECORD);
    assert_committed(a);
    free(a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
    assert_true(harness_log_contains(&d, "cannot tell the service manager STOPPING=1"));
    unlink(d.log_path);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notify_ready_reload_stop),
        cmocka_unit_test(notify_abstract_socket),
        cmocka_unit_test(notify_socket_gone_still_serves),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
