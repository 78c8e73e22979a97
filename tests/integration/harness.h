/*
 * Integration test harness: a fresh database per test in the PostgreSQL that CTest's `pg`
 * fixture started (scripts/pg start build/test-pg), the real touchlined started as a child
 * process on free ports, and plain sockets to talk to it over TCP and HTTP. Blocking calls
 * are fine here: this is the test's side, not the daemon's.
 */
#ifndef TOUCHLINE_HARNESS_H
#define TOUCHLINE_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "testmain.h"

struct harness_daemon {
    pid_t pid;
    int tcp_port;
    int http_port;
    char dbname[64];
    char dsn[256];
    char log_path[256];
    /* The notification socket the harness made and named in NOTIFY_SOCKET (as a service
     * manager does), when notify_ours; the daemon says READY=1 and its ports there. */
    bool notify_ours;
    int notify_fd;
};

/* DSN of the test cluster's database dbname. */
void harness_dsn(const char *dbname, char *out, size_t outlen);

/* Drops and creates database dbname. Fails the test on error. */
void harness_create_db(const char *dbname);

/* A connection to dbname; fails the test on error. */
PGconn *harness_pg(const char *dbname);

/* Runs sql (no parameters) and returns the first column of the first row as a long. */
long harness_sql_long(PGconn *pg, const char *sql);

/*
 * Starts touchlined against a fresh database named after name, with listeners on free
 * ports. env: extra "KEY=VALUE" strings (NULL-terminated array, may be NULL). Waits until
 * it logs that it started. Fails the test on error.
 */
void harness_start(struct harness_daemon *d, const char *name, const char *const *env);

/* Starts touchlined on an existing database (d->dbname set), e.g. after a restart. */
void harness_restart(struct harness_daemon *d, const char *const *env);

/*
 * Forks touchlined on d->dsn with the tests' environment (listeners on free ports, country
 * code 98, no TOUCHLINE_CONFIG), stdout and stderr into d->log_path. args go after the binary
 * (NULL-terminated, at most 8, may be NULL); env entries "KEY=VALUE" are set and "KEY" alone
 * removed. With wrap, TOUCHLINE_TEST_DAEMON_WRAPPER (valgrind) goes in front. Unless env sets
 * NOTIFY_SOCKET itself, the harness binds a notification socket of its own and names it in
 * NOTIFY_SOCKET. Sets d->pid and does not wait: harness_wait_ready does.
 */
void harness_spawn(struct harness_daemon *d, const char *const *args, const char *const *env,
                   bool wrap);

/* Reads the ports from a notification message of the daemon (READY=1 with "STATUS=serving:
 * tcp port N, http port M", or the STATUS it sends while it waits for its database) into d;
 * true once both are there. */
bool harness_ports_from_ready(struct harness_daemon *d, const char *msg);

/*
 * Waits up to timeout_ms for READY=1 with the ports on the harness's notification socket
 * (the daemon says it once its listeners are up and its database pool has a connection).
 * True when it came; false on timeout or when the daemon exited first (d->pid is then
 * reaped and 0).
 */
bool harness_wait_ready(struct harness_daemon *d, int timeout_ms);

/* Sends SIGTERM and waits (up to 30 s). Returns the exit status, or -1 if killed by a
 * signal or not exited in time (then it is killed). */
int harness_stop(struct harness_daemon *d);

/*
 * Registers (add) or forgets a child process that must not outlive the test program: the
 * ones still registered at exit (a failed assertion skipped their stop) are killed.
 */
void harness_track_child(pid_t pid, bool add);

/* True when the daemon's log contains text. */
bool harness_log_contains(const struct harness_daemon *d, const char *text);

/* The value of a metric without labels on d's /metrics; -2 when the page has none. */
double harness_metric(const struct harness_daemon *d, const char *name);

/* Waits up to ms for the daemon's log to contain text; true when it did. */
bool harness_wait_log(const struct harness_daemon *d, const char *text, long ms);

/* True when the suite runs under the sanitizers (TOUCHLINE_TEST_SANITIZED), several times
 * slower and with memory held in quarantine. */
bool harness_sanitized(void);

/* A connected TCP socket to 127.0.0.1:port. Fails the test on error. */
int harness_connect(int port);

/* Writes all of buf. Returns 0 or -1. */
int harness_send(int fd, const char *buf, size_t len);

/* Reads one line (without '\n') into a malloc'd string; NULL on EOF/timeout. */
char *harness_read_line(int fd, int timeout_ms);

/* Sends one line and returns the one answer line (malloc'd). Fails the test on timeout. */
char *harness_roundtrip(int fd, const char *line);

/* Parses one answer line as JSON (a new reference); fails the test when it is not JSON. */
json_t *harness_parse_answer(const char *line);

/*
 * Asserts an error answer {"ok":false,"error":code,...} whose message is there and contains
 * needle (NULL: any), for line lineno (0: any). An answer without its message is as useless
 * to an adapter's operator as none.
 */
void harness_assert_error_answer(const char *line, const char *code, const char *needle,
                                 long lineno);

/*
 * HTTP request to 127.0.0.1:port. Returns the status code (or -1) and the body in *body
 * (malloc'd, may be NULL). method "GET", "POST"...; payload may be NULL.
 */
int harness_http(int port, const char *method, const char *path, const char *payload,
                 const char *extra_headers, char **body);

/*
 * The same with plen bytes of payload (may hold NUL bytes) and a Content-Type (NULL:
 * application/json, "": none).
 */
int harness_http_raw(int port, const char *method, const char *path, const char *content_type,
                     const char *payload, size_t plen, const char *extra_headers, char **body);

/*
 * Sends a request (payload and extra header lines may be NULL) to d's HTTP port; asserts the
 * status and a JSON body, which it returns (a new reference). Fails the test otherwise.
 */
json_t *harness_http_json(const struct harness_daemon *d, const char *method, const char *path,
                          const char *payload, const char *headers, int want_status);

/*
 * Asserts an HTTP error answer {"error":{"code":code,"message":"...needle..."}} with this
 * status (code NULL: any code; needle NULL: any message, but one there).
 */
void harness_assert_http_error(const struct harness_daemon *d, const char *method, const char *path,
                               const char *payload, const char *headers, int status,
                               const char *code, const char *needle);

/*
 * Sends data (n NDJSON lines, optionally after an auth line answered first) over one TCP
 * connection and asserts that each is accepted; copies each answer's id and customer_id into
 * ids/customers (arrays of n strings of 37 bytes, may be NULL).
 */
void harness_ingest(const struct harness_daemon *d, const char *auth_line, const char *data, int n,
                    char (*ids)[37], char (*customers)[37]);

/* Replaces a file's text at once (written aside, then renamed). Fails the test on error. */
void harness_write_file(const char *path, const char *text);

/* $TMPDIR, or /tmp. */
const char *harness_tmp_dir(void);

/* Runs a command line via /bin/sh, capturing stdout into *out (malloc'd). Returns the exit
 * status, or -1. */
int harness_run(const char *cmd, char **out);

/*
 * Rows of every table of the touchline schema whose text contains needle (what an erasure
 * must leave none of); where, when not NULL, gets the names of the tables that hold some.
 */
long harness_rows_containing(PGconn *pg, const char *needle, char *where, size_t wherelen);

/* Files directly in dir whose bytes contain needle (0 when dir does not exist). */
long harness_files_containing(const char *dir, const char *needle);

/*
 * Runs argv (argv[0] the program's path) on a pseudo-terminal of cols columns, as a user at a
 * shell would: stdin, stdout and stderr are the terminal. env entries "KEY=VALUE" are set in
 * the child, "KEY" alone removed (env may be NULL). Returns all it wrote, with the terminal's
 * \r\n (the caller frees it), and its wait status in *status. Fails the test on error.
 */
char *harness_run_on_terminal(char *const *argv, const char *const *env, unsigned short cols,
                              int *status);

/* Milliseconds on a monotonic clock. */
long long harness_now_ms(void);

/* A TCP port free on 127.0.0.1 right now (taken by whoever binds it next). */
int harness_free_port(void);

/* Debian's haproxy on the shipped packaging/haproxy.cfg in front of two daemons. */
struct harness_balancer {
    pid_t pid;
    int tcp_port, http_port, stats_port; /* where clients connect, and its statistics */
    char log_path[256];
};

/* Starts it in the foreground with the two daemons' ports in the environment the
 * configuration reads them from. Fails the test when haproxy is not installed. */
void harness_balancer_start(struct harness_balancer *b, const struct harness_daemon *d1,
                            const struct harness_daemon *d2);

/* Stops it; fine when not started. */
void harness_balancer_stop(struct harness_balancer *b);

/* Waits up to ms until HAProxy sees server (touchlined1, touchlined2) up (want_up) or down
 * in both backends. */
bool harness_balancer_wait(const struct harness_balancer *b, const char *server, bool want_up,
                           long ms);

#endif
