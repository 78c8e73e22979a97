/*
 * Integration tests of who may do what (docs/security.md): every endpoint and the TCP
 * listener answered with no token, a wrong token, a token removed by SIGHUP and a token out
 * of its scope, each with its code and nothing written; rotation by SIGHUP; failed attempts
 * counted per listener and logged without the token; rate limits per principal; limits on
 * connections per address and before authentication; and hostile text stored byte for byte.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"
#include "token.h"

/* The tokens the tests use; the daemon's configuration holds only their hashes. */
#define PBX_TOKEN     "tl_pbx-token-0123456789abcdef"
#define PBX_NEW_TOKEN "tl_pbx-token-rotated-98765432"
#define READER_TOKEN  "tl_reader-token-0123456789ab"
#define ADMIN_TOKEN   "tl_admin-token-0123456789abc"
#define WRONG_TOKEN   "tl_wrong-token-0123456789abc"

static const char REC_PHONE[] =
    "{\"source\":\"asterisk-1\",\"external_id\":\"%s\",\"channel\":\"phone\",\"occurred_at\":"
    "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09121112233\"},\"body\":\"hello\"}";

/* Writes a config file with the principals (pbx_tokens: which of pbx's tokens it holds). */
static void write_config(const char *path, bool old_pbx, bool new_pbx, const char *extra)
{
    char h_old[TOKEN_HASH_TEXT], h_new[TOKEN_HASH_TEXT], h_r[TOKEN_HASH_TEXT], h_a[TOKEN_HASH_TEXT];
    token_hash_text(PBX_TOKEN, strlen(PBX_TOKEN), h_old);
    token_hash_text(PBX_NEW_TOKEN, strlen(PBX_NEW_TOKEN), h_new);
    token_hash_text(READER_TOKEN, strlen(READER_TOKEN), h_r);
    token_hash_text(ADMIN_TOKEN, strlen(ADMIN_TOKEN), h_a);
    char text[4096];
    int n = snprintf(text, sizeof(text),
                     "[auth]\n"
                     "principal = pbx scopes=ingest channels=phone sources=asterisk-* token=%s\n"
                     "principal = reader scopes=read token=%s\n"
                     "principal = admin scopes=read|admin token=%s\n",
                     old_pbx ? h_old : h_new, h_r, h_a);
    if (old_pbx && new_pbx) {
        n += snprintf(text + n, sizeof(text) - (size_t)n, "principal = pbx token=%s\n", h_new);
    }
    snprintf(text + n, sizeof(text) - (size_t)n, "%s", extra != NULL ? extra : "");
    harness_write_file(path, text);
}

struct fixture {
    struct harness_daemon d;
    char conf[512];
    char env_conf[600];
};

static void start_with_config(struct fixture *f, const char *name, const char *extra,
                              const char *const *more_env)
{
    snprintf(f->conf, sizeof(f->conf), "%s/touchlined-sec-%s-%d.conf", harness_tmp_dir(), name,
             (int)getpid());
    write_config(f->conf, true, false, extra);
    snprintf(f->env_conf, sizeof(f->env_conf), "TOUCHLINE_CONFIG=%s", f->conf);
    const char *env[8] = {f->env_conf};
    for (size_t i = 0; more_env != NULL && more_env[i] != NULL && i < 6; i++) {
        env[i + 1] = more_env[i];
    }
    harness_start(&f->d, name, env);
}

static void finish(struct fixture *f)
{
    assert_int_equal(harness_stop(&f->d), 0);
    /* Whatever happened, no token reached the log. */
    const char *tokens[] = {PBX_TOKEN, PBX_NEW_TOKEN, READER_TOKEN, ADMIN_TOKEN, WRONG_TOKEN};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        if (harness_log_contains(&f->d, tokens[i])) {
            fail_msg("the log shows the token %s", tokens[i]);
        }
    }
    unlink(f->conf);
}

static long count_sql(const struct fixture *f, const char *sql)
{
    PGconn *pg = harness_pg(f->d.dbname);
    long n = harness_sql_long(pg, sql);
    PQfinish(pg);
    return n;
}

/* An auth line's answer; asserts its principal when want_ok. */
static void tcp_auth(int fd, const char *token, const char *principal)
{
    char line[256];
    snprintf(line, sizeof(line), "{\"auth\":\"%s\"}", token);
    char *a = harness_roundtrip(fd, line);
    char want[128];
    snprintf(want, sizeof(want), "\"principal\":\"%s\"", principal);
    if (strstr(a, "\"ok\":true") == NULL || strstr(a, want) == NULL) {
        fail_msg("auth as %s: %s", principal, a);
    }
    free(a);
}

static char *record(const char *ext, const char *channel, const char *source)
{
    char *out = malloc(1024);
    assert_non_null(out);
    snprintf(out, 1024,
             "{\"source\":\"%s\",\"external_id\":\"%s\",\"channel\":\"%s\",\"occurred_at\":"
             "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09121112233\"},"
             "\"body\":\"hello\"}",
             source, ext, channel);
    return out;
}

/* Sends line on fd and asserts the answer is error code naming needle. */
static void expect_tcp_error(int fd, const char *line, const char *code, const char *needle)
{
    char *a = harness_roundtrip(fd, line);
    harness_assert_error_answer(a, code, needle, 0);
    free(a);
}

/* True when the peer closed fd (EOF within a few seconds). */
static bool closed_by_peer(int fd)
{
    char *rest = harness_read_line(fd, 5000);
    bool closed = rest == NULL;
    free(rest);
    return closed;
}

static void tcp_refuses_each_wrong_credential(void **state)
{
    (void)state;
    struct fixture f;
    start_with_config(&f, "sec_tcp", NULL, NULL);
    char *r = record("x-1", "phone", "asterisk-1");

    /* No token: unauthorized, and the connection is closed. */
    int fd = harness_connect(f.d.tcp_port);
    expect_tcp_error(fd, r, "unauthorized", "auth");
    assert_true(closed_by_peer(fd));
    close(fd);

    /* A wrong token. */
    fd = harness_connect(f.d.tcp_port);
    expect_tcp_error(fd, "{\"auth\":\"" WRONG_TOKEN "\"}", "unauthorized", "token");
    assert_true(closed_by_peer(fd));
    close(fd);

    /* A token's hash is not the token. */
    char hash[TOKEN_HASH_TEXT], line[256];
    token_hash_text(PBX_TOKEN, strlen(PBX_TOKEN), hash);
    snprintf(line, sizeof(line), "{\"auth\":\"%s\"}", hash);
    fd = harness_connect(f.d.tcp_port);
    expect_tcp_error(fd, line, "unauthorized", "token");
    close(fd);

    /* A read token writing: forbidden, record by record, the connection stays. */
    fd = harness_connect(f.d.tcp_port);
    tcp_auth(fd, READER_TOKEN, "reader");
    expect_tcp_error(fd, r, "forbidden", "ingest");
    char *r2 = record("x-2", "phone", "asterisk-1");
    expect_tcp_error(fd, r2, "forbidden", "ingest");
    free(r2);
    close(fd);

    /* The ingest token outside its channel and outside its source patterns. */
    fd = harness_connect(f.d.tcp_port);
    tcp_auth(fd, PBX_TOKEN, "pbx");
    char *sms = record("x-3", "sms", "asterisk-1");
    expect_tcp_error(fd, sms, "forbidden", "channel");
    free(sms);
    char *web = record("x-4", "phone", "web-shop");
    expect_tcp_error(fd, web, "forbidden", "source");
    free(web);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.interactions"), 0);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.customers"), 0);
    /* And within them it writes. */
    char *a = harness_roundtrip(fd, r);
    assert_non_null(strstr(a, "\"ok\":true"));
    free(a);
    close(fd);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.interactions"), 1);

    /* Failed attempts counted by listener. */
    char *body = NULL;
    assert_int_equal(harness_http(f.d.http_port, "GET", "/metrics", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "touchline_auth_failures_total{listener=\"tcp\"} 3"));
    assert_non_null(strstr(body, "touchline_forbidden_total{listener=\"tcp\"} 4"));
    free(body);
    /* The log names the principal and the peer. */
    assert_true(harness_log_contains(&f.d, "authentication failed"));
    assert_true(harness_log_contains(&f.d, "principal=reader"));
    free(r);
    finish(&f);
}

/* Every endpoint under /v1 with each kind of credential. */
struct endpoint {
    const char *method;
    const char *path; /* after /v1/customers/<id>, or the whole path when it starts with / */
    const char *payload;
    bool admin;
};

static void http_refuses_each_wrong_credential(void **state)
{
    (void)state;
    struct fixture f;
    start_with_config(&f, "sec_http", NULL, NULL);
    /* Two customers, written by pbx. */
    int fd = harness_connect(f.d.tcp_port);
    tcp_auth(fd, PBX_TOKEN, "pbx");
    char line[1024];
    snprintf(line, sizeof(line), REC_PHONE, "c-1");
    char *a = harness_roundtrip(fd, line);
    json_t *j = harness_parse_answer(a);
    char cust[64], other[64];
    snprintf(cust, sizeof(cust), "%s", json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(a);
    a = harness_roundtrip(fd, "{\"source\":\"asterisk-1\",\"external_id\":\"c-2\",\"channel\":"
                              "\"phone\",\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                              "{\"phone\":\"09124445566\"}}");
    j = harness_parse_answer(a);
    snprintf(other, sizeof(other), "%s", json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);
    free(a);
    close(fd);

    char merge_body[128];
    snprintf(merge_body, sizeof(merge_body), "{\"from\":\"%s\"}", other);
    const struct endpoint eps[] = {
        {"GET", "/v1/customers?phone=09121112233", NULL, false},
        {"GET", "", NULL, false},
        {"GET", "timeline", NULL, false},
        {"GET", "context", NULL, false},
        {"POST", "merge", merge_body, true},
        {"GET", "export", NULL, true},
        {"GET", "/v1/audit", NULL, true},
        {"DELETE", "", NULL, true},
    };
    struct {
        const char *header; /* NULL: none */
        int read_status, admin_status;
        const char *code_read, *code_admin;
    } creds[] = {
        {NULL, 401, 401, "unauthorized", "unauthorized"},
        {"Authorization: Bearer " WRONG_TOKEN "\r\n", 401, 401, "unauthorized", "unauthorized"},
        {"Authorization: Bearer " PBX_TOKEN "\r\n", 403, 403, "forbidden", "forbidden"},
        {"Authorization: Bearer " READER_TOKEN "\r\n", 200, 403, NULL, "forbidden"},
    };
    for (size_t c = 0; c < sizeof(creds) / sizeof(creds[0]); c++) {
        for (size_t e = 0; e < sizeof(eps) / sizeof(eps[0]); e++) {
            char path[256];
            if (eps[e].path[0] == '/') {
                snprintf(path, sizeof(path), "%s", eps[e].path);
            } else {
                snprintf(path, sizeof(path), "/v1/customers/%s%s%s", cust,
                         eps[e].path[0] != '\0' ? "/" : "", eps[e].path);
            }
            char *body = NULL;
            int st = harness_http(f.d.http_port, eps[e].method, path, eps[e].payload,
                                  creds[c].header, &body);
            int want = eps[e].admin ? creds[c].admin_status : creds[c].read_status;
            const char *code = eps[e].admin ? creds[c].code_admin : creds[c].code_read;
            if (st != want || (code != NULL && (body == NULL || strstr(body, code) == NULL))) {
                fail_msg("%s %s with %s: status %d, wanted %d %s: %s", eps[e].method, path,
                         creds[c].header != NULL ? creds[c].header : "no token", st, want,
                         code != NULL ? code : "", body != NULL ? body : "");
            }
            free(body);
        }
    }
    /* Nothing was merged or erased. */
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.customers"), 2);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.merges"), 0);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.interactions"), 2);
    /* The health checks and metrics need no token. */
    char *body = NULL;
    assert_int_equal(harness_http(f.d.http_port, "GET", "/healthz", NULL, NULL, &body), 200);
    free(body);
    assert_int_equal(harness_http(f.d.http_port, "GET", "/metrics", NULL, NULL, &body), 200);
    /* 8 endpoints x (no token + wrong token) */
    assert_non_null(strstr(body, "touchline_auth_failures_total{listener=\"http\"} 16"));
    /* 8 (ingest token) + 4 (read token on admin endpoints) */
    assert_non_null(strstr(body, "touchline_forbidden_total{listener=\"http\"} 12"));
    free(body);
    /* 28 refusals within a moment: at most 5 lines a second reach the log, and the next
     * line says how many were left out. */
    assert_true(harness_log_contains(&f.d, "unauthorized: no token"));
    sleep(1);
    assert_int_equal(harness_http(f.d.http_port, "GET", "/v1/customers?phone=09121112233", NULL,
                                  "Authorization: Bearer " WRONG_TOKEN "\r\n", &body),
                     401);
    free(body);
    char *log = testmain_read_file(f.d.log_path, NULL);
    assert_non_null(log);
    int lines = 0;
    for (const char *p = strstr(log, " http 127.0.0.1:"); p != NULL;
         p = strstr(p + 1, " http 127.0.0.1:")) {
        lines++;
    }
    long suppressed = 0;
    for (const char *p = strstr(log, " such lines suppressed before)"); p != NULL;
         p = strstr(p + 1, " such lines suppressed before)")) {
        const char *num = p;
        while (num > log && num[-1] >= '0' && num[-1] <= '9') {
            num--;
        }
        suppressed += strtol(num, NULL, 10);
    }
    print_message("%d refusal lines in the log, which say %ld were suppressed\n", lines,
                  suppressed);
    assert_true(lines < 28);
    assert_int_equal(lines + suppressed, 29);
    free(log);
    /* The admin may. */
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", cust);
    assert_int_equal(harness_http(f.d.http_port, "POST", path, merge_body,
                                  "Authorization: Bearer " ADMIN_TOKEN "\r\n", &body),
                     200);
    free(body);
    snprintf(path, sizeof(path), "/v1/customers/%s", cust);
    assert_int_equal(harness_http(f.d.http_port, "DELETE", path, NULL,
                                  "Authorization: Bearer " ADMIN_TOKEN "\r\n", &body),
                     200);
    free(body);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.customers"), 0);
    finish(&f);
}

/* Waits until the log has a line containing text (10 s at most). */

static void sighup_rotation_keeps_connections_refuses_removed_token(void **state)
{
    (void)state;
    struct fixture f;
    start_with_config(&f, "sec_rotate", NULL, NULL);
    int before = harness_connect(f.d.tcp_port);
    tcp_auth(before, PBX_TOKEN, "pbx");

    /* Rotation, step 1: both tokens valid. */
    write_config(f.conf, true, true, NULL);
    assert_int_equal(kill(f.d.pid, SIGHUP), 0);
    assert_true(harness_wait_log(&f.d, "principals=3", 10000));
    int both = harness_connect(f.d.tcp_port);
    tcp_auth(both, PBX_NEW_TOKEN, "pbx");
    close(both);
    both = harness_connect(f.d.tcp_port);
    tcp_auth(both, PBX_TOKEN, "pbx");
    close(both);

    /* Step 2: the old token removed. */
    write_config(f.conf, false, true, NULL);
    assert_int_equal(kill(f.d.pid, SIGHUP), 0);
    long long deadline = harness_now_ms() + 10000;
    int refused = 0;
    while (harness_now_ms() < deadline && !refused) {
        int fd = harness_connect(f.d.tcp_port);
        char *a = harness_roundtrip(fd, "{\"auth\":\"" PBX_TOKEN "\"}");
        refused = strstr(a, "unauthorized") != NULL;
        free(a);
        close(fd);
        usleep(20000);
    }
    assert_true(refused);
    /* Over HTTP too: the old token is unknown. */
    char *body = NULL;
    assert_int_equal(harness_http(f.d.http_port, "GET", "/v1/customers?phone=09121112233", NULL,
                                  "Authorization: Bearer " PBX_TOKEN "\r\n", &body),
                     401);
    free(body);
    /* The connection made before keeps working, and the new token works. */
    char line[1024];
    snprintf(line, sizeof(line), REC_PHONE, "rot-1");
    char *a = harness_roundtrip(before, line);
    assert_non_null(strstr(a, "\"ok\":true"));
    free(a);
    close(before);
    int after = harness_connect(f.d.tcp_port);
    tcp_auth(after, PBX_NEW_TOKEN, "pbx");
    snprintf(line, sizeof(line), REC_PHONE, "rot-2");
    a = harness_roundtrip(after, line);
    assert_non_null(strstr(a, "\"ok\":true"));
    free(a);
    close(after);
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.interactions"), 2);
    finish(&f);
}

/* Runs touchlined --check-config with env (shell words); returns its exit status. */
static int check_config(const char *env, char **err)
{
    char cmd[1024];
    char errpath[256];
    snprintf(errpath, sizeof(errpath), "%s/touchline-sec-check-%d.err", harness_tmp_dir(),
             (int)getpid());
    snprintf(cmd, sizeof(cmd), "env -u TOUCHLINE_CONFIG %s '%s' --check-config 2>'%s'", env,
             getenv("TOUCHLINE_TEST_DAEMON"), errpath);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    free(out);
    *err = testmain_read_file(errpath, NULL);
    unlink(errpath);
    return st;
}

static void no_auth_off_loopback_only_on_purpose(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(check_config("TOUCHLINE_LISTEN_HTTP=0.0.0.0:8170", &err), 2);
    assert_non_null(strstr(err, "allow_unauthenticated"));
    free(err);
    assert_int_equal(check_config("TOUCHLINE_LISTEN_HTTP=0.0.0.0:8170 "
                                  "TOUCHLINE_AUTH_ALLOW_UNAUTHENTICATED=yes",
                                  &err),
                     0);
    assert_non_null(strstr(err, "authentication is off on 0.0.0.0:8170"));
    free(err);
    /* A misspelled variable stops the start, naming the right one. */
    assert_int_equal(check_config("TOUCHLINE_AUTH_TOKEN=pbx:secret-secret", &err), 2);
    assert_non_null(strstr(err, "did you mean TOUCHLINE_AUTH_TOKENS?"));
    free(err);
    assert_int_equal(check_config("TOUCHLINE_DATABSE_DSN=dbname=x", &err), 2);
    assert_non_null(strstr(err, "did you mean TOUCHLINE_DATABASE_DSN?"));
    free(err);
    /* The README's old container example: a token of 6 characters. */
    assert_int_equal(check_config("TOUCHLINE_AUTH_TOKENS=asterisk:s3cret", &err), 2);
    assert_non_null(strstr(err, "shorter than 8"));
    free(err);
}

static void config_file_world_readable_warns(void **state)
{
    (void)state;
    char path[256], env[400];
    snprintf(path, sizeof(path), "%s/touchline-sec-perm-%d.conf", harness_tmp_dir(), (int)getpid());
    harness_write_file(path, "[log]\nlevel = info\n");
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(env, sizeof(env), "TOUCHLINE_CONFIG='%s'", path);
    char *err = NULL;
    assert_int_equal(check_config(env, &err), 0);
    assert_non_null(strstr(err, "can be read by every user"));
    free(err);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(check_config(env, &err), 0);
    assert_null(strstr(err, "can be read by every user"));
    free(err);
    unlink(path);
}

/* Sends 20 records of external ids prefix0..prefix19 one at a time on fd, each accepted;
 * returns the slowest answer's time in ms. */
static long long slowest_of_20(int fd, const char *prefix)
{
    long long slowest = 0;
    for (int i = 0; i < 20; i++) {
        char ext[32], line[1024];
        snprintf(ext, sizeof(ext), "%s%d", prefix, i);
        snprintf(line, sizeof(line), REC_PHONE, ext);
        long long t0 = harness_now_ms();
        char *a = harness_roundtrip(fd, line);
        long long dt = harness_now_ms() - t0;
        assert_non_null(strstr(a, "\"ok\":true"));
        free(a);
        slowest = dt > slowest ? dt : slowest;
    }
    return slowest;
}

/* A flood above one principal's rate is refused while another's records keep their pace. */
static void rate_limit_spares_other_principals(void **state)
{
    (void)state;
    char h_f[TOKEN_HASH_TEXT], extra[512];
    token_hash_text("tl_flooder-token-0123456789", 27, h_f);
    snprintf(extra, sizeof(extra),
             "principal = flooder scopes=ingest sources=flood rate=50 burst=50 token=%s\n", h_f);
    struct fixture f;
    start_with_config(&f, "sec_rate", extra, NULL);
    int calm = harness_connect(f.d.tcp_port);
    tcp_auth(calm, PBX_TOKEN, "pbx");
    /* The calm principal's pace alone. */
    long long base_max = slowest_of_20(calm, "calm-a");
    /* The flood: 2000 records pipelined at once. */
    int flood = harness_connect(f.d.tcp_port);
    tcp_auth(flood, "tl_flooder-token-0123456789", "flooder");
    enum { N = 2000 };
    size_t cap = (size_t)N * 300, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        len += (size_t)snprintf(buf + len, cap - len,
                                "{\"source\":\"flood\",\"external_id\":\"f%d\",\"channel\":\"web\","
                                "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{\"web\":"
                                "\"v%d\"}}\n",
                                i, i % 50);
    }
    assert_int_equal(harness_send(flood, buf, len), 0);
    free(buf);
    /* The calm principal meanwhile. */
    long long during_max = slowest_of_20(calm, "calm-b");
    int ok = 0, limited = 0;
    for (int i = 0; i < N; i++) {
        char *a = harness_read_line(flood, 15000);
        assert_non_null(a);
        if (strstr(a, "\"ok\":true") != NULL) {
            ok++;
        } else if (strstr(a, "\"unavailable\"") != NULL && strstr(a, "retry_after_s") != NULL) {
            limited++;
        }
        free(a);
    }
    close(flood);
    close(calm);
    print_message("flood: %d stored, %d refused; calm principal's slowest answer %lld ms alone, "
                  "%lld ms during the flood\n",
                  ok, limited, base_max, during_max);
    assert_int_equal(ok + limited, N);
    assert_true(limited > N / 2);
    /* Loosely: the flood's refusals cost the loop next to nothing. */
    assert_true(during_max < 10 * base_max + 500);
    finish(&f);
}

/* An HTTP reader over its request rate gets 429 with Retry-After. */
static void read_rate_limit_answers_429(void **state)
{
    (void)state;
    char h_r[TOKEN_HASH_TEXT], extra[512];
    token_hash_text("tl_slow-reader-token-012345", 27, h_r);
    snprintf(extra, sizeof(extra), "principal = slow scopes=read read_rate=2 token=%s\n", h_r);
    struct fixture f;
    start_with_config(&f, "sec_rrate", extra, NULL);
    int n429 = 0;
    for (int i = 0; i < 10; i++) {
        char *body = NULL;
        int st = harness_http(f.d.http_port, "GET", "/v1/customers?phone=09121112233", NULL,
                              "Authorization: Bearer tl_slow-reader-token-012345\r\n", &body);
        if (st == 429) {
            n429++;
            assert_non_null(strstr(body, "unavailable"));
        } else {
            assert_int_equal(st, 404);
        }
        free(body);
    }
    assert_true(n429 >= 5);
    /* Another reader is not slowed. */
    char *body = NULL;
    assert_int_equal(harness_http(f.d.http_port, "GET", "/v1/customers?phone=09121112233", NULL,
                                  "Authorization: Bearer " READER_TOKEN "\r\n", &body),
                     404);
    free(body);
    finish(&f);
}

/* The first IPv4 address of this machine that is not loopback, into out; false when none. */
static bool own_address(char *out, size_t outlen)
{
    struct ifaddrs *ifs = NULL;
    bool found = false;
    if (getifaddrs(&ifs) != 0) {
        return false;
    }
    for (struct ifaddrs *i = ifs; i != NULL && !found; i = i->ifa_next) {
        if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)i->ifa_addr;
            found = (ntohl(in->sin_addr.s_addr) >> 24) != 127 &&
                    inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outlen) != NULL;
        }
    }
    freeifaddrs(ifs);
    return found;
}

/* A connected TCP socket to ip:port. */
static int connect_ip(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/*
 * The limits on connections not yet authenticated and per address. Loopback peers are
 * exempt from the per-address limit (a local proxy makes every client 127.0.0.1), so the
 * daemon listens on this machine's own address and the test connects from it.
 */
static void connection_limits_per_address_and_before_auth(void **state)
{
    (void)state;
    char ip[64], listen_env[128];
    if (!own_address(ip, sizeof(ip))) {
        skip();
    }
    snprintf(listen_env, sizeof(listen_env), "TOUCHLINE_LISTEN_TCP=%s:0", ip);
    const char *env[] = {"TOUCHLINE_INGEST_MAX_UNAUTHENTICATED=2",
                         "TOUCHLINE_INGEST_MAX_CONNECTIONS_PER_IP=4", listen_env, NULL};
    struct fixture f;
    start_with_config(&f, "sec_conns", NULL, env);
    int port = f.d.tcp_port;
    /* Two silent connections fill the places for unauthenticated ones. */
    int s1 = connect_ip(ip, port);
    int s2 = connect_ip(ip, port);
    usleep(100000);
    int s3 = connect_ip(ip, port);
    assert_true(closed_by_peer(s3));
    close(s3);
    /* Once one authenticates, a new one is taken again. */
    tcp_auth(s1, PBX_TOKEN, "pbx");
    int s4 = connect_ip(ip, port);
    tcp_auth(s4, PBX_TOKEN, "pbx");
    /* 4 from this address: s1, s2, s4, s5; the fifth is closed. */
    int s5 = connect_ip(ip, port);
    tcp_auth(s5, PBX_TOKEN, "pbx");
    int s6 = connect_ip(ip, port);
    assert_true(closed_by_peer(s6));
    close(s6);
    char *body = NULL;
    assert_int_equal(harness_http(f.d.http_port, "GET", "/metrics", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "touchline_tcp_connections_refused_total 2"));
    free(body);
    close(s1);
    close(s2);
    close(s4);
    close(s5);
    finish(&f);
}

/* Text that attacks SQL, printf, terminals and the reading direction, in every string field. */
static void hostile_text_stored_byte_for_byte(void **state)
{
    (void)state;
    static const char *const payloads[] = {
        "'); DROP TABLE touchline.interactions; --",
        "\\\\' OR '1'='1' -- $$ E'\\\\x00' $1",
        "%s%s%s%n%x%p %999999d",
        "\\u202eevil\\u202c \\u2066isolate\\u2069 \\u200f\\u061c",
        /* Last: identifiers refuse control characters, so this one goes in the others. */
        "\\u0001\\u0007\\u001b[31mred\\u001b[0m\\r\\n\\t\\u007f",
    };
    const size_t n_payloads = sizeof(payloads) / sizeof(payloads[0]);
    const char *env[] = {NULL};
    struct fixture f;
    start_with_config(&f, "sec_hostile", NULL, env);
    int fd = harness_connect(f.d.tcp_port);
    tcp_auth(fd, PBX_TOKEN, "pbx");
    for (size_t i = 0; i < n_payloads; i++) {
        const char *p = payloads[i];
        bool controls = i == n_payloads - 1;
        char line[4096];
        snprintf(line, sizeof(line),
                 "{\"source\":\"asterisk-1\",\"external_id\":\"%s\",\"channel\":\"phone\","
                 "\"occurred_at\":\"2026-11-20T10:00:0%zuZ\",\"customer\":{\"phone\":"
                 "\"0912111223%zu\",\"name\":\"%s\",\"web\":\"w%s\",\"traits\":{\"t\":\"%s\"}},"
                 "\"agent\":\"%s\",\"subject\":\"%s\",\"body\":\"%s\",\"thread\":\"%s\","
                 "\"tags\":[\"%s\"],\"attributes\":{\"a\":\"%s\",\"%s\":1}}",
                 p, i, i, p, controls ? "plain" : p, p, p, p, p, p, p, p, p);
        /* What the adapter meant, decoded once by a JSON parser. */
        json_t *sent = json_loads(line, 0, NULL);
        if (sent == NULL) {
            fail_msg("payload %zu: the test's line is not JSON: %s", i, line);
        }
        const char *want = json_string_value(json_object_get(sent, "body"));
        char *a = harness_roundtrip(fd, line);
        json_t *ans = harness_parse_answer(a);
        const char *cust = json_string_value(json_object_get(ans, "customer_id"));
        if (cust == NULL) {
            fail_msg("payload %zu refused: %s", i, a);
        }
        char path[256];
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline", cust);
        char *body = NULL;
        assert_int_equal(harness_http(f.d.http_port, "GET", path, NULL,
                                      "Authorization: Bearer " READER_TOKEN "\r\n", &body),
                         200);
        json_t *tl = json_loads(body, 0, NULL);
        assert_non_null(tl);
        json_t *item = json_array_get(json_object_get(tl, "items"), 0);
        const char *fields[] = {"external_id", "agent", "subject", "body", "thread"};
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
            const char *got = json_string_value(json_object_get(item, fields[k]));
            if (got == NULL || strcmp(got, want) != 0) {
                fail_msg("payload %zu, %s: stored as %s", i, fields[k], got ? got : "(none)");
            }
        }
        const char *tag = json_string_value(json_array_get(json_object_get(item, "tags"), 0));
        assert_non_null(tag);
        assert_string_equal(tag, want);
        json_t *attrs = json_object_get(item, "attributes");
        assert_string_equal(json_string_value(json_object_get(attrs, "a")), want);
        assert_non_null(json_object_get(attrs, want));
        free(body);
        json_decref(tl);
        /* The profile: name, web identifier, traits. */
        snprintf(path, sizeof(path), "/v1/customers/%s", cust);
        assert_int_equal(harness_http(f.d.http_port, "GET", path, NULL,
                                      "Authorization: Bearer " READER_TOKEN "\r\n", &body),
                         200);
        json_t *prof = json_loads(body, 0, NULL);
        assert_non_null(prof);
        assert_string_equal(json_string_value(json_object_get(prof, "name")), want);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(prof, "traits"), "t")), want);
        bool web_found = false;
        json_t *ids = json_object_get(prof, "identities");
        for (size_t k = 0; k < json_array_size(ids); k++) {
            json_t *id = json_array_get(ids, k);
            const char *v = json_string_value(json_object_get(id, "value"));
            if (strcmp(json_string_value(json_object_get(id, "kind")), "web") == 0 && v != NULL &&
                v[0] == 'w' && strcmp(v + 1, want) == 0) {
                web_found = true;
            }
        }
        if (!web_found && !controls) {
            fail_msg("payload %zu: the web identifier is not stored as sent: %s", i, body);
        }
        free(body);
        json_decref(prof);
        json_decref(ans);
        json_decref(sent);
        free(a);
    }
    /* A control character in an identifier is refused, naming the field. */
    char *a = harness_roundtrip(fd, "{\"source\":\"asterisk-1\",\"channel\":\"phone\","
                                    "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":"
                                    "{\"web\":\"a\\u001b[31mb\"}}");
    harness_assert_error_answer(a, "invalid_record", "customer.web", 0);
    free(a);
    close(fd);
    /* And the tables are all still there. */
    assert_int_equal(count_sql(&f, "SELECT count(*) FROM touchline.interactions"), 5);
    finish(&f);
}

/* The token tools: what they print is a token and the hash the daemon takes for it. */
static void token_tools_make_working_principals(void **state)
{
    (void)state;
    char cmd[600];
    char *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s' token new", getenv("TOUCHLINE_TEST_CLIENT"));
    assert_int_equal(harness_run(cmd, &out), 0);
    char token[128], hash[128];
    assert_int_equal(sscanf(out, "%127s %127s", token, hash), 2);
    free(out);
    assert_int_equal(strlen(token), 46);
    char want[TOKEN_HASH_TEXT];
    token_hash_text(token, strlen(token), want);
    assert_string_equal(hash, want);
    /* touchlined --hash-token, and --hash-token=- for a token of one's own. */
    snprintf(cmd, sizeof(cmd), "'%s' --hash-token", getenv("TOUCHLINE_TEST_DAEMON"));
    assert_int_equal(harness_run(cmd, &out), 0);
    char token2[128], hash2[128];
    assert_int_equal(sscanf(out, "%127s %127s", token2, hash2), 2);
    free(out);
    assert_string_not_equal(token, token2);
    snprintf(cmd, sizeof(cmd), "printf '%%s\\n' '%s' | '%s' --hash-token=-", token2,
             getenv("TOUCHLINE_TEST_DAEMON"));
    assert_int_equal(harness_run(cmd, &out), 0);
    assert_non_null(strstr(out, hash2));
    free(out);
    /* A daemon configured with the two hashes takes the two tokens. */
    char conf[256], text[512], env_conf[300];
    snprintf(conf, sizeof(conf), "%s/touchlined-sec-tools-%d.conf", harness_tmp_dir(),
             (int)getpid());
    snprintf(text, sizeof(text),
             "[auth]\nprincipal = one scopes=ingest token=%s\nprincipal = two scopes=read "
             "token=%s\n",
             hash, hash2);
    harness_write_file(conf, text);
    snprintf(env_conf, sizeof(env_conf), "TOUCHLINE_CONFIG=%s", conf);
    const char *env[] = {env_conf, NULL};
    struct harness_daemon d;
    harness_start(&d, "sec_tools", env);
    int fd = harness_connect(d.tcp_port);
    tcp_auth(fd, token, "one");
    close(fd);
    char header[200], *body = NULL;
    snprintf(header, sizeof(header), "Authorization: Bearer %s\r\n", token2);
    assert_int_equal(
        harness_http(d.http_port, "GET", "/v1/customers?phone=09121112233", NULL, header, &body),
        404);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
    assert_false(harness_log_contains(&d, token));
    unlink(conf);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_refuses_each_wrong_credential),
        cmocka_unit_test(http_refuses_each_wrong_credential),
        cmocka_unit_test(sighup_rotation_keeps_connections_refuses_removed_token),
        cmocka_unit_test(no_auth_off_loopback_only_on_purpose),
        cmocka_unit_test(config_file_world_readable_warns),
        cmocka_unit_test(rate_limit_spares_other_principals),
        cmocka_unit_test(read_rate_limit_answers_429),
        cmocka_unit_test(connection_limits_per_address_and_before_auth),
        cmocka_unit_test(hostile_text_stored_byte_for_byte),
        cmocka_unit_test(token_tools_make_working_principals),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
