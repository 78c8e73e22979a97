#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pg_port(void)
{
    const char *dir = getenv("TOUCHLINE_TEST_PGDIR");
    if (dir == NULL) {
        fail_msg("TOUCHLINE_TEST_PGDIR is not set: run the integration tests through ctest");
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/port", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot read %s: is the test PostgreSQL running (scripts/pg start)?", path);
    }
    int port = 0;
    if (fscanf(f, "%d", &port) != 1) {
        port = 0;
    }
    fclose(f);
    assert_true(port > 0);
    return port;
}

void harness_dsn(const char *dbname, char *out, size_t outlen)
{
    snprintf(out, outlen, "host=127.0.0.1 port=%d user=touchline dbname=%s", pg_port(), dbname);
}

PGconn *harness_pg(const char *dbname)
{
    char dsn[256];
    harness_dsn(dbname, dsn, sizeof(dsn));
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("connect %s: %s", dsn, PQerrorMessage(pg));
    }
    PQsetNoticeProcessor(pg, NULL, NULL);
    return pg;
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

void harness_create_db(const char *dbname)
{
    PGconn *pg = harness_pg("postgres");
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
    r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(pg);
}

long harness_sql_long(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    long v = PQgetisnull(r, 0, 0) ? -1 : strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

bool harness_log_contains(const struct harness_daemon *d, const char *text)
{
    char *log = testmain_read_file(d->log_path, NULL);
    bool found = log != NULL && strstr(log, text) != NULL;
    free(log);
    return found;
}

bool harness_wait_log(const struct harness_daemon *d, const char *text, long ms)
{
    long long deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline) {
        if (harness_log_contains(d, text)) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

double harness_metric(const struct harness_daemon *d, const char *name)
{
    char *body = NULL;
    assert_int_equal(harness_http(d->http_port, "GET", "/metrics", NULL, NULL, &body), 200);
    double v = -2;
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = body != NULL ? strstr(body, needle) : NULL;
    if (p != NULL) {
        v = strtod(p + strlen(needle), NULL);
    }
    free(body);
    return v;
}

/*
 * Daemons still running when the test program exits (a failed assertion jumps out of the
 * test before harness_stop) are killed, so that no test leaves a process behind.
 */
#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
}

void harness_track_child(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(kill_children);
        registered = true;
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (add ? children[i] == 0 : children[i] == pid) {
            children[i] = add ? pid : 0;
            return;
        }
    }
}

/* Words of TOUCHLINE_TEST_DAEMON_WRAPPER used at most. */
#define MAX_WRAPPER_ARGS 32

bool harness_sanitized(void)
{
    const char *s = getenv("TOUCHLINE_TEST_SANITIZED");
    return s != NULL && s[0] != '\0';
}

/* True when the daemon runs under a wrapper such as valgrind, and so much slower. */
static bool daemon_wrapped(void)
{
    const char *w = getenv("TOUCHLINE_TEST_DAEMON_WRAPPER");
    return w != NULL && w[0] != '\0';
}

/* Longest argument list harness_spawn passes after the binary. */
#define MAX_DAEMON_ARGS 8

/*
 * Execs the daemon (in the child) with args. When wrap is set, TOUCHLINE_TEST_DAEMON_WRAPPER,
 * split at white space, goes in front of its command line: scripts/test --valgrind sets it to
 * "valgrind ..." so that every integration test's daemon runs under memcheck. The wrapper must
 * exec the daemon in the same process, as valgrind does, since tests signal and wait for that
 * pid.
 */
static void exec_daemon(const char *bin, const char *const *args, bool wrap)
{
    char *argv[MAX_WRAPPER_ARGS + MAX_DAEMON_ARGS + 2];
    int n = 0;
    char *words = wrap && daemon_wrapped() ? strdup(getenv("TOUCHLINE_TEST_DAEMON_WRAPPER")) : NULL;
    char *save = NULL;
    for (char *w = words != NULL ? strtok_r(words, " \t", &save) : NULL;
         w != NULL && n < MAX_WRAPPER_ARGS; w = strtok_r(NULL, " \t", &save)) {
        argv[n++] = w;
    }
    argv[n++] = (char *)bin;
    for (int i = 0; args != NULL && args[i] != NULL && i < MAX_DAEMON_ARGS; i++) {
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    execvp(argv[0], argv);
}

void harness_spawn(struct harness_daemon *d, const char *const *args, const char *const *env,
                   bool wrap)
{
    const char *bin = getenv("TOUCHLINE_TEST_DAEMON");
    if (bin == NULL) {
        fail_msg("TOUCHLINE_TEST_DAEMON is not set: run through ctest");
    }
    unlink(d->log_path);
    if (d->notify_ours) {
        close(d->notify_fd);
        d->notify_ours = false;
    }
    bool manager_given = false;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        manager_given = manager_given || strncmp(env[i], "NOTIFY_SOCKET=", 14) == 0;
    }
    static unsigned spawned;
    char notify[108];
    snprintf(notify, sizeof(notify), "@touchline-harness-%d-%u", (int)getpid(), ++spawned);
    if (!manager_given) {
        d->notify_fd = testmain_notify_listen(notify);
        d->notify_ours = true;
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        setenv("TOUCHLINE_DATABASE_DSN", d->dsn, 1);
        setenv("TOUCHLINE_LISTEN_TCP", "127.0.0.1:0", 1);
        setenv("TOUCHLINE_LISTEN_HTTP", "127.0.0.1:0", 1);
        setenv("TOUCHLINE_IDENTITY_DEFAULT_COUNTRY_CODE", "98", 1);
        unsetenv("TOUCHLINE_CONFIG");
        if (!manager_given) {
            setenv("NOTIFY_SOCKET", notify, 1);
        } else {
            unsetenv("NOTIFY_SOCKET");
        }
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            if (strchr(env[i], '=') != NULL) {
                putenv((char *)env[i]);
            } else {
                unsetenv(env[i]);
            }
        }
        exec_daemon(bin, args, wrap);
        _exit(127);
    }
    d->pid = pid;
    harness_track_child(pid, true);
}

bool harness_ports_from_ready(struct harness_daemon *d, const char *msg)
{
    const char *t = strstr(msg, "tcp port ");
    const char *h = strstr(msg, "http port ");
    if (t == NULL || h == NULL) {
        return false;
    }
    d->tcp_port = atoi(t + strlen("tcp port "));
    d->http_port = atoi(h + strlen("http port "));
    return d->tcp_port > 0 && d->http_port > 0;
}

/* Reads notification messages until one has want ("READY=1", or NULL: the ports) or
 * timeout_ms passes; false also when the daemon exited (d->pid is then reaped and 0).
 * *ready: whether the message that ended the wait was READY=1. */
static bool wait_notify(struct harness_daemon *d, const char *want, int timeout_ms, bool *ready)
{
    *ready = false;
    assert_true(d->notify_ours);
    long long deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        struct pollfd p = {.fd = d->notify_fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char msg[1024];
            ssize_t n = recv(d->notify_fd, msg, sizeof(msg) - 1, 0);
            if (n > 0) {
                msg[n] = '\0';
                bool ports = harness_ports_from_ready(d, msg);
                if (want == NULL ? ports : strstr(msg, want) != NULL) {
                    *ready = strstr(msg, "READY=1") != NULL;
                    return true;
                }
            }
            continue;
        }
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            harness_track_child(d->pid, false);
            d->pid = 0;
            return false;
        }
    }
    return false;
}

bool harness_wait_ready(struct harness_daemon *d, int timeout_ms)
{
    bool ready;
    return wait_notify(d, "READY=1", timeout_ms, &ready) && d->tcp_port > 0 && d->http_port > 0;
}

/*
 * Starts the daemon, verbose, and waits for its ports (a STATUS message while it waits for the
 * database, or READY=1), then for READY=1 (listeners up, pool connected) a little longer:
 * tests of a daemon started without its database go on without it.
 */
static void spawn(struct harness_daemon *d, const char *const *env)
{
    static const char *const verbose[] = {"-v", NULL};
    harness_spawn(d, verbose, env, true);
    pid_t pid = d->pid;
    int start_s = daemon_wrapped() ? 120 : 20;
    bool ready;
    if (wait_notify(d, NULL, start_s * 1000, &ready)) {
        if (!ready && !harness_wait_ready(d, daemon_wrapped() ? 60000 : 4000) && d->pid == 0) {
            char *out = testmain_read_file(d->log_path, NULL);
            fail_msg("touchlined exited at start:\n%s", out ? out : "");
        }
        return;
    }
    char *out = testmain_read_file(d->log_path, NULL);
    if (d->pid == 0) {
        fail_msg("touchlined exited at start:\n%s", out ? out : "");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("touchlined did not say its ports within %d s:\n%s", start_s, out ? out : "");
}

void harness_start(struct harness_daemon *d, const char *name, const char *const *env)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dbname, sizeof(d->dbname), "t_%.40s_%d", name, (int)getpid());
    harness_create_db(d->dbname);
    harness_dsn(d->dbname, d->dsn, sizeof(d->dsn));
    const char *tmp = harness_tmp_dir();
    snprintf(d->log_path, sizeof(d->log_path), "%s/touchlined-%s.log", tmp, d->dbname);
    spawn(d, env);
}

void harness_restart(struct harness_daemon *d, const char *const *env)
{
    d->tcp_port = d->http_port = 0;
    spawn(d, env);
}

int harness_stop(struct harness_daemon *d)
{
    if (d->notify_ours) {
        close(d->notify_fd);
        d->notify_ours = false;
    }
    if (d->pid <= 0) {
        return -1;
    }
    kill(d->pid, SIGTERM);
    long long deadline = harness_now_ms() + 30000;
    int status = 0;
    while (harness_now_ms() < deadline) {
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid) {
            harness_track_child(d->pid, false);
            if (WIFSIGNALED(status)) {
                print_message("touchlined (pid %d) was killed by signal %d\n", (int)d->pid,
                              WTERMSIG(status));
            }
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    harness_track_child(d->pid, false);
    d->pid = 0;
    return -1;
}

int harness_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
    }
    return fd;
}

int harness_send(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

char *harness_read_line(int fd, int timeout_ms)
{
    size_t cap = 256, n = 0;
    char *line = malloc(cap);
    assert_non_null(line);
    long long deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - harness_now_ms();
        if (left <= 0) {
            free(line);
            return NULL;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            free(line);
            return NULL;
        }
        char c;
        /* One byte at a time keeps the harness simple; answers are short. */
        ssize_t got = recv(fd, &c, 1, 0);
        if (got <= 0) {
            free(line);
            return NULL;
        }
        if (c == '\n') {
            line[n] = '\0';
            return line;
        }
        if (n + 1 >= cap) {
            cap *= 2;
            line = realloc(line, cap);
            assert_non_null(line);
        }
        line[n++] = c;
    }
}

char *harness_roundtrip(int fd, const char *line)
{
    size_t len = strlen(line);
    assert_int_equal(harness_send(fd, line, len), 0);
    assert_int_equal(harness_send(fd, "\n", 1), 0);
    char *answer = harness_read_line(fd, 15000);
    if (answer == NULL) {
        fail_msg("no answer to: %.200s", line);
    }
    return answer;
}

int harness_http(int port, const char *method, const char *path, const char *payload,
                 const char *extra_headers, char **body)
{
    return harness_http_raw(port, method, path, NULL, payload,
                            payload != NULL ? strlen(payload) : 0, extra_headers, body);
}

int harness_http_raw(int port, const char *method, const char *path, const char *content_type,
                     const char *payload, size_t plen, const char *extra_headers, char **body)
{
    *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    char head[4096];
    const char *ct = content_type != NULL ? content_type : "application/json";
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "%s%s%sContent-Length: %zu\r\n\r\n",
                      method, path, extra_headers != NULL ? extra_headers : "",
                      ct[0] != '\0' ? "Content-Type: " : "", ct, ct[0] != '\0' ? "\r\n" : "", plen);
    if (harness_send(fd, head, (size_t)hn) < 0 ||
        (plen > 0 && harness_send(fd, payload, plen) < 0)) {
        close(fd);
        return -1;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 15000) <= 0) {
            break;
        }
        if (n + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return -1;
    }
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep != NULL) {
        const char *b = sep + 4;
        /* evhttp answers with Content-Length or chunked; de-chunk the latter. */
        if (strstr(buf, "Transfer-Encoding: chunked") != NULL &&
            strstr(buf, "Transfer-Encoding: chunked") < sep) {
            char *out = malloc(strlen(b) + 1);
            assert_non_null(out);
            size_t o = 0;
            for (;;) {
                char *end;
                unsigned long sz = strtoul(b, &end, 16);
                if (end == b || sz == 0) {
                    break;
                }
                b = strstr(end, "\r\n");
                if (b == NULL) {
                    break;
                }
                b += 2;
                memcpy(out + o, b, sz);
                o += sz;
                b += sz + 2;
            }
            out[o] = '\0';
            *body = out;
        } else {
            *body = strdup(b);
        }
    }
    free(buf);
    return status;
}

int harness_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char *buf = testmain_read_stream(p, NULL);
    int st = pclose(p);
    if (out != NULL) {
        *out = buf;
    } else {
        free(buf);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *harness_run_on_terminal(char *const *argv, const char *const *env, unsigned short cols,
                              int *status)
{
    struct winsize ws = {.ws_row = 24, .ws_col = cols};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0) {
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq == NULL) {
                unsetenv(env[i]);
            } else {
                char key[128];
                snprintf(key, sizeof(key), "%.*s", (int)(eq - env[i]), env[i]);
                setenv(key, eq + 1, 1);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    harness_track_child(pid, true);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        assert_true(poll(&p, 1, 60000) > 0);
        ssize_t got = read(master, buf + len, cap - 1 - len);
        /* EIO: the program exited and closed its side. */
        if (got <= 0) {
            assert_true(got == 0 || errno == EIO);
            break;
        }
        len += (size_t)got;
        assert_true(len < cap - 1);
    }
    buf[len] = '\0';
    assert_int_equal(waitpid(pid, status, 0), pid);
    harness_track_child(pid, false);
    close(master);
    return buf;
}

json_t *harness_parse_answer(const char *line)
{
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (j == NULL) {
        fail_msg("answer is not JSON: %s (%s)", line, err.text);
    }
    return j;
}

void harness_assert_error_answer(const char *line, const char *code, const char *needle,
                                 long lineno)
{
    json_t *j = harness_parse_answer(line);
    const char *c = json_string_value(json_object_get(j, "error"));
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!json_is_false(json_object_get(j, "ok")) || c == NULL || strcmp(c, code) != 0) {
        fail_msg("expected error %s, got: %s", code, line);
    }
    if (m == NULL || m[0] == '\0') {
        fail_msg("error answer without a message: %s", line);
    }
    if (needle != NULL && strstr(m, needle) == NULL) {
        fail_msg("message does not name \"%s\": %s", needle, line);
    }
    if (lineno > 0) {
        assert_int_equal(json_integer_value(json_object_get(j, "line")), lineno);
    }
    json_decref(j);
}

const char *harness_tmp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp != NULL ? tmp : "/tmp";
}

void harness_write_file(const char *path, const char *text)
{
    /* Written aside and renamed, so that a reader never sees half a file. */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* Frees what it allocated before failing, so that a failure shows no leak reports. */
json_t *harness_http_json(const struct harness_daemon *d, const char *method, const char *path,
                          const char *payload, const char *headers, int want_status)
{
    char *body = NULL;
    int st = harness_http(d->http_port, method, path, payload, headers, &body);
    char shown[1024];
    snprintf(shown, sizeof(shown), "%s", body != NULL ? body : "(no body)");
    json_t *j = body != NULL ? json_loads(body, 0, NULL) : NULL;
    free(body);
    if (st != want_status) {
        json_decref(j);
        fail_msg("%s %.200s: status %d, wanted %d: %s", method, path, st, want_status, shown);
    }
    if (j == NULL) {
        fail_msg("%s %.200s: the body is not JSON: %s", method, path, shown);
    }
    return j;
}

void harness_assert_http_error(const struct harness_daemon *d, const char *method, const char *path,
                               const char *payload, const char *headers, int status,
                               const char *code, const char *needle)
{
    json_t *j = harness_http_json(d, method, path, payload, headers, status);
    json_t *e = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *m = json_string_value(json_object_get(e, "message"));
    bool ok = c != NULL && (code == NULL || strcmp(c, code) == 0) && m != NULL && m[0] != '\0' &&
              (needle == NULL || strstr(m, needle) != NULL);
    if (!ok) {
        char shown[1024];
        snprintf(shown, sizeof(shown), "code %s, message %s", c != NULL ? c : "(none)",
                 m != NULL ? m : "(none)");
        json_decref(j);
        fail_msg("%s %.200s: wanted code %s with a message naming \"%s\"; got %s", method, path,
                 code != NULL ? code : "(any)", needle != NULL ? needle : "", shown);
    }
    json_decref(j);
}

void harness_ingest(const struct harness_daemon *d, const char *auth_line, const char *data, int n,
                    char (*ids)[37], char (*customers)[37])
{
    int fd = harness_connect(d->tcp_port);
    if (auth_line != NULL) {
        char *a = harness_roundtrip(fd, auth_line);
        bool ok = strstr(a, "\"ok\":true") != NULL;
        free(a);
        if (!ok) {
            close(fd);
            fail_msg("auth refused");
        }
    }
    assert_int_equal(harness_send(fd, data, strlen(data)), 0);
    for (int i = 0; i < n; i++) {
        char *a = harness_read_line(fd, 15000);
        if (a == NULL) {
            close(fd);
            fail_msg("no answer for line %d", i + 1);
        }
        json_t *j = json_loads(a, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *cust = json_string_value(json_object_get(j, "customer_id"));
        if (!json_is_true(json_object_get(j, "ok")) || id == NULL || cust == NULL ||
            strlen(id) != 36 || strlen(cust) != 36) {
            char shown[512];
            snprintf(shown, sizeof(shown), "%s", a);
            json_decref(j);
            free(a);
            close(fd);
            fail_msg("line %d not accepted: %s", i + 1, shown);
        }
        if (ids != NULL) {
            memcpy(ids[i], id, 37);
        }
        if (customers != NULL) {
            memcpy(customers[i], cust, 37);
        }
        json_decref(j);
        free(a);
    }
    close(fd);
}

/* ---- HAProxy in front of two daemons (packaging/haproxy.cfg) ---- */

/* A TCP port free on 127.0.0.1 right now (taken by whoever binds it next). */
int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts Debian's haproxy in the foreground on the shipped configuration, with the ports of
 * the two daemons in the environment it reads them from. */
void harness_balancer_start(struct harness_balancer *b, const struct harness_daemon *d1,
                            const struct harness_daemon *d2)
{
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    assert_non_null(src);
    if (system("command -v haproxy >/dev/null 2>&1") != 0) {
        fail_msg("haproxy is not installed (scripts/deps installs it)");
    }
    b->tcp_port = harness_free_port();
    b->http_port = harness_free_port();
    b->stats_port = harness_free_port();
    snprintf(b->log_path, sizeof(b->log_path), "%s/haproxy-%d.log", harness_tmp_dir(),
             (int)getpid());
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/packaging/haproxy.cfg", src);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        char v[64];
        snprintf(v, sizeof(v), "127.0.0.1:%d", b->tcp_port);
        setenv("TOUCHLINE_LB_TCP", v, 1);
        snprintf(v, sizeof(v), "127.0.0.1:%d", b->http_port);
        setenv("TOUCHLINE_LB_HTTP", v, 1);
        snprintf(v, sizeof(v), "127.0.0.1:%d", b->stats_port);
        setenv("TOUCHLINE_LB_STATS", v, 1);
        const struct harness_daemon *ds[2] = {d1, d2};
        for (int i = 0; i < 2; i++) {
            char k[32];
            snprintf(k, sizeof(k), "TOUCHLINE_D%d_TCP", i + 1);
            snprintf(v, sizeof(v), "%d", ds[i]->tcp_port);
            setenv(k, v, 1);
            snprintf(k, sizeof(k), "TOUCHLINE_D%d_HTTP", i + 1);
            snprintf(v, sizeof(v), "%d", ds[i]->http_port);
            setenv(k, v, 1);
        }
        execlp("haproxy", "haproxy", "-db", "-f", cfg, (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    harness_track_child(pid, true);
}

void harness_balancer_stop(struct harness_balancer *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        harness_track_child(b->pid, false);
        b->pid = 0;
    }
}

/* The status HAProxy gives server (touchlined1, touchlined2) in backend: "UP", "DOWN",
 * "UP 1/2"... from its CSV statistics; "" when it does not answer. */
static void balancer_status(const struct harness_balancer *b, const char *backend,
                            const char *server, char *out, size_t outlen)
{
    out[0] = '\0';
    char *body = NULL;
    if (harness_http(b->stats_port, "GET", "/stats;csv", NULL, NULL, &body) != 200 ||
        body == NULL) {
        free(body);
        return;
    }
    /* "# pxname,svname,...,status,...": the column of status, then the server's row. Empty
     * fields are common, hence strsep. */
    int col = -1;
    char *rest = body;
    for (char *line = strsep(&rest, "\n"); line != NULL; line = strsep(&rest, "\n")) {
        bool header = line[0] == '#';
        char *fields = header ? line + 2 : line;
        char *f;
        for (int i = 0; (f = strsep(&fields, ",")) != NULL; i++) {
            if (header && strcmp(f, "status") == 0) {
                col = i;
            } else if (!header && ((i == 0 && strcmp(f, backend) != 0) ||
                                   (i == 1 && strcmp(f, server) != 0))) {
                break;
            } else if (!header && i == col) {
                snprintf(out, outlen, "%s", f);
                break;
            }
        }
        if (out[0] != '\0') {
            break;
        }
    }
    free(body);
}

/* Waits until HAProxy sees server as up (want_up) or down in both backends. */
bool harness_balancer_wait(const struct harness_balancer *b, const char *server, bool want_up,
                           long ms)
{
    long long deadline = harness_now_ms() + ms;
    const char *backends[] = {"touchlined_ingest", "touchlined_http"};
    while (harness_now_ms() < deadline) {
        int ok = 0;
        for (int i = 0; i < 2; i++) {
            char st[32];
            balancer_status(b, backends[i], server, st, sizeof(st));
            ok += want_up ? strcmp(st, "UP") == 0 : strncmp(st, "DOWN", 4) == 0;
        }
        if (ok == 2) {
            return true;
        }
        usleep(50000);
    }
    return false;
}

long harness_rows_containing(PGconn *pg, const char *needle, char *where, size_t wherelen)
{
    /* Every table of the schema, each row as text (jsonb and arrays included). */
    PGresult *r = PQexec(pg, "SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = 'touchline' AND table_type = 'BASE TABLE' "
                             "ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("listing tables: %s", PQresultErrorMessage(r));
    }
    long total = 0;
    if (where != NULL && wherelen > 0) {
        where[0] = '\0';
    }
    for (int i = 0; i < PQntuples(r); i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM touchline.\"%s\" t WHERE strpos(t::text, $1) > 0",
                 PQgetvalue(r, i, 0));
        const char *params[] = {needle};
        PGresult *c = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(c) != PGRES_TUPLES_OK) {
            fail_msg("%s: %s", sql, PQresultErrorMessage(c));
        }
        long n = atol(PQgetvalue(c, 0, 0));
        if (n > 0 && where != NULL) {
            size_t used = strlen(where);
            snprintf(where + used, wherelen - used, "%s ", PQgetvalue(r, i, 0));
        }
        total += n;
        PQclear(c);
    }
    PQclear(r);
    return total;
}

long harness_files_containing(const char *dir, const char *needle)
{
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        return 0;
    }
    long n = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *data = testmain_read_file(path, &len);
        if (data != NULL && memmem(data, len, needle, strlen(needle)) != NULL) {
            n++;
        }
        free(data);
    }
    closedir(dh);
    return n;
}
