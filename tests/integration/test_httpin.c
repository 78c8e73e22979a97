/*
 * The HTTP ways in (issue 13; CONTRACT §4 write and §6; daemon/hin.c, daemon/intake.c,
 * daemon/adapt.c, sql/007_status_updates.sql) against the real daemon: POST /v1/interactions
 * in its three forms, status updates on TCP and HTTP, the Segment-compatible API, the Twilio
 * and Chatwoot webhooks, each with realistic payloads (tests/fixtures/http/) and every way
 * of sending them wrong. The real clients are Node packages pinned in tests/package.json:
 * Twilio's signatures come from Twilio's helper library, and the Segment SDK for Node sends
 * a thousand events through its own batching.
 */
#include <jansson.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "testmain.h"

#define AUTH       "Authorization: Bearer shop-token-1\r\n"
#define AUTH_OTHER "Authorization: Bearer other-token-1\r\n"
/* Basic base64("wk-shop-0001:") */
#define WRITE_KEY "Authorization: Basic d2stc2hvcC0wMDAxOg==\r\n"
#define PUBLIC    "https://touchline.example.com"

static const char *const ENV[] = {
    "TOUCHLINE_AUTH_TOKENS=shop:shop-token-1:web-shop|mail-gw|asterisk-*|tcp-*|twilio,"
    "other:other-token-1:other-*",
    "TOUCHLINE_SEGMENT_WRITE_KEYS=shopweb:wk-shop-0001:segment-shop",
    "TOUCHLINE_TWILIO_AUTH_TOKENS=tw-old-token-0001,tw-new-token-0002",
    "TOUCHLINE_TWILIO_PUBLIC_URL=" PUBLIC,
    "TOUCHLINE_CHATWOOT_HOOKS=cw:cw-secret-0001:chatwoot-main",
    NULL,
};

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/*
 * POSTs len bytes of body with a Content-Type and extra header lines; asserts the status and
 * returns the body parsed as JSON (NULL when it is not JSON and json is false).
 */
static json_t *post_raw(const struct harness_daemon *d, const char *path, const char *ctype,
                        const char *body, size_t len, const char *headers, int want, bool json,
                        char **text_out)
{
    char *text = NULL;
    int st = harness_http_raw(d->http_port, "POST", path, ctype, body, len, headers, &text);
    char shown[1200];
    snprintf(shown, sizeof(shown), "%s", text != NULL ? text : "(no body)");
    json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;
    if (text_out != NULL) {
        *text_out = text;
    } else {
        free(text);
    }
    if (st != want) {
        json_decref(j);
        fail_msg("POST %s: status %d, wanted %d: %s", path, st, want, shown);
    }
    if (json && j == NULL) {
        fail_msg("POST %s: the body is not JSON: %s", path, shown);
    }
    return j;
}

static json_t *post(const struct harness_daemon *d, const char *path, const char *ctype,
                    const char *body, const char *headers, int want)
{
    return post_raw(d, path, ctype, body, strlen(body), headers, want, true, NULL);
}

/* Asserts an error answer: {"error":{"code":code,"message":…needle…}}. Takes j. */
static void assert_error(json_t *j, const char *code, const char *needle)
{
    json_t *e = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *m = json_string_value(json_object_get(e, "message"));
    bool ok = c != NULL && strcmp(c, code) == 0 && m != NULL && m[0] != '\0' &&
              (needle == NULL || strstr(m, needle) != NULL);
    char shown[1024];
    char *dump = json_dumps(j, JSON_COMPACT);
    snprintf(shown, sizeof(shown), "%s", dump != NULL ? dump : "");
    free(dump);
    json_decref(j);
    if (!ok) {
        fail_msg("wanted error %s naming \"%s\", got %s", code, needle != NULL ? needle : "",
                 shown);
    }
}

/* The i-th per-record answer of a results body. */
static json_t *result(json_t *j, size_t i)
{
    json_t *r = json_array_get(json_object_get(j, "results"), i);
    if (r == NULL) {
        char *dump = json_dumps(j, JSON_COMPACT);
        char shown[1024];
        snprintf(shown, sizeof(shown), "%s", dump != NULL ? dump : "");
        free(dump);
        fail_msg("no result %zu in %s", i, shown);
    }
    return r;
}

static void assert_result_ok(json_t *j, size_t i, bool duplicate)
{
    json_t *r = result(j, i);
    if (!json_is_true(json_object_get(r, "ok")) ||
        json_is_true(json_object_get(r, "duplicate")) != duplicate ||
        json_string_length(json_object_get(r, "customer_id")) != 36) {
        char *dump = json_dumps(r, JSON_COMPACT);
        char shown[512];
        snprintf(shown, sizeof(shown), "%s", dump != NULL ? dump : "");
        free(dump);
        fail_msg("result %zu: wanted ok with duplicate:%s, got %s", i, duplicate ? "true" : "false",
                 shown);
    }
}

static long count(const struct harness_daemon *d, const char *sql)
{
    PGconn *pg = harness_pg(d->dbname);
    long n = harness_sql_long(pg, sql);
    PQfinish(pg);
    return n;
}

static long records(const struct harness_daemon *d)
{
    return count(d, "SELECT count(*) FROM touchline.interactions");
}

/* One text value of SQL. */
static char *sql_text(const struct harness_daemon *d, const char *sql)
{
    PGconn *pg = harness_pg(d->dbname);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(pg);
        fail_msg("%s: %s", sql, msg);
    }
    char *v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return v;
}

static void assert_sql_text(const struct harness_daemon *d, const char *sql, const char *want)
{
    char *got = sql_text(d, sql);
    char shown[1024];
    snprintf(shown, sizeof(shown), "%s", got);
    bool same = strcmp(got, want) == 0;
    free(got);
    if (!same) {
        fail_msg("%s\n  got:    %s\n  wanted: %s", sql, shown, want);
    }
}

/* gzip of len bytes of data. */
static char *gzip_bytes(const char *data, size_t len, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Runs a Node script of tests/node with arguments (already shell-quoted); returns its
 * stdout with the trailing newline cut. */
static char *node(const char *script, const char *args)
{
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    if (src == NULL) {
        fail_msg("TOUCHLINE_SOURCE_DIR is not set: run through ctest");
    }
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "node '%s/tests/node/%s' %s", src, script, args) > 0);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    free(cmd);
    if (st != 0) {
        fail_msg("node %s failed (%d): %s (is tests/node_modules installed? scripts/node-deps)",
                 script, st, out != NULL ? out : "");
    }
    size_t n = out != NULL ? strlen(out) : 0;
    while (n > 0 && out[n - 1] == '\n') {
        out[--n] = '\0';
    }
    return out;
}

/* The X-Twilio-Signature header line Twilio would send: computed by Twilio's library. */
static void twilio_sign(const char *token, const char *url, const char *form, char *hdr, size_t cap)
{
    char args[8192];
    snprintf(args, sizeof(args), "'%s' '%s' '%s'", token, url, form);
    char *sig = node("twilio_sign.js", args);
    snprintf(hdr, cap, "X-Twilio-Signature: %s\r\n", sig);
    free(sig);
}

/* A fixture's text, trailing newlines cut (form bodies are one line). */
static char *fixture_line(const char *name)
{
    char *s = testmain_fixture(name, NULL);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n') {
        s[--n] = '\0';
    }
    return s;
}

/* Sends lines over TCP (after the auth line) and returns the answers, one per line. */
static json_t *tcp_send(const struct harness_daemon *d, const char *line)
{
    int fd = harness_connect(d->tcp_port);
    char *a = harness_roundtrip(fd, "{\"auth\":\"shop-token-1\"}");
    free(a);
    a = harness_roundtrip(fd, line);
    close(fd);
    json_t *j = harness_parse_answer(a);
    free(a);
    return j;
}

/* ---------------------------------------------------------------------------------------- */
/* POST /v1/interactions */

/* NDJSON, a JSON array, one object: the same records, stored once, answered in order. */
static void interactions_ndjson_array_and_single(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_forms", ENV);
    char *nd = testmain_fixture("http/interactions.ndjson", NULL);
    json_t *j = post(&d, "/v1/interactions", "application/x-ndjson", nd, AUTH, 200);
    for (size_t i = 0; i < 3; i++) {
        assert_result_ok(j, i, false);
    }
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 3);
    /* One person: the shop's order, the Arabic mail and the call share her email. */
    const char *c0 = json_string_value(json_object_get(result(j, 0), "customer_id"));
    const char *c2 = json_string_value(json_object_get(result(j, 2), "customer_id"));
    assert_string_equal(c0, c2);
    json_decref(j);
    assert_int_equal(records(&d), 3);

    /* The same records as one JSON array: each a duplicate, nothing written twice. */
    char *arr = malloc(strlen(nd) + 8);
    assert_non_null(arr);
    strcpy(arr, "[");
    char *save = NULL;
    bool first = true;
    for (char *line = strtok_r(nd, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        strcat(arr, first ? "" : ",");
        strcat(arr, line);
        first = false;
    }
    strcat(arr, "]");
    j = post(&d, "/v1/interactions", "application/json", arr, AUTH, 200);
    for (size_t i = 0; i < 3; i++) {
        assert_result_ok(j, i, true);
    }
    json_decref(j);
    free(arr);
    free(nd);
    assert_int_equal(records(&d), 3);

    /* One object, with Content-Type parameters as browsers send them. */
    j = post(&d, "/v1/interactions", "application/json; charset=utf-8",
             "{\"source\":\"mail-gw\",\"external_id\":\"<b2@mail.example.com>\",\"channel\":"
             "\"email\",\"direction\":\"outbound\",\"occurred_at\":\"2026-12-01T10:30:00Z\","
             "\"customer\":{\"email\":\"LEILA.AHMADI@example.com\"},\"subject\":\"پاسخ: "
             "استفسار عن الضمان\",\"body\":\"الضمان سنتان.\"}",
             AUTH, 200);
    assert_result_ok(j, 0, false);
    json_decref(j);
    assert_int_equal(records(&d), 4);
    assert_sql_text(&d,
                    "SELECT body FROM touchline.interactions WHERE external_id = "
                    "'<CAF9a1@mail.example.com>'",
                    "مرحباً، كم سنة ضمان جهاز الطهي؟ شكراً");
    assert_int_equal(harness_stop(&d), 0);
}

/* Every bad request is answered with its named error, and stores nothing. */
static void interactions_bad_inputs_store_nothing(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_bad", ENV);
    static const char good[] =
        "{\"source\":\"web-shop\",\"external_id\":\"ok-1\",\"channel\":\"web\",\"occurred_at\":"
        "\"2026-12-01T08:00:00Z\",\"customer\":{\"web\":\"anon-1\"},\"subject\":\"بازدید\"}";

    assert_error(
        post(&d, "/v1/interactions", "application/json", "{\"source\":\"web-shop\",", AUTH, 400),
        "invalid_json", "invalid JSON");
    assert_error(post(&d, "/v1/interactions", "text/plain", good, AUTH, 415),
                 "unsupported_media_type", "application/x-ndjson");
    assert_error(post(&d, "/v1/interactions", "application/json",
                      "{\"source\":\"web-shop\",\"occurred_at\":\"2026-12-01T08:00:00Z\","
                      "\"customer\":{\"web\":\"anon-1\"}}",
                      AUTH, 400),
                 "invalid_record", "channel");
    assert_error(post(&d, "/v1/interactions", "application/json", "", AUTH, 400), "invalid_json",
                 "no record");
    assert_error(post(&d, "/v1/interactions", "application/json", "[]", AUTH, 400), "invalid_json",
                 "no record");
    assert_error(post(&d, "/v1/interactions", "application/json", good, NULL, 401), "unauthorized",
                 "Bearer");
    assert_error(post(&d, "/v1/interactions", "application/json", good,
                      "Authorization: Bearer not-a-token\r\n", 401),
                 "unauthorized", "unknown token");
    /* A principal may write only its own sources. */
    assert_error(post(&d, "/v1/interactions", "application/json", good, AUTH_OTHER, 403),
                 "forbidden", "source");
    assert_error(
        post(&d, "/v1/interactions", "application/json", "{\"auth\":\"shop-token-1\"}", AUTH, 400),
        "invalid_record", "auth");

    /* Over the body limit (5 MiB by default). */
    size_t big = 6u << 20;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    memcpy(huge, good, sizeof(good) - 1);
    json_decref(
        post_raw(&d, "/v1/interactions", "application/json", huge, big, AUTH, 413, false, NULL));
    free(huge);

    /* A gzip bomb: 64 MiB of spaces in 64 KiB. */
    size_t bomb_len = 64u << 20, glen = 0;
    char *bomb = malloc(bomb_len);
    assert_non_null(bomb);
    memset(bomb, ' ', bomb_len);
    memcpy(bomb, good, sizeof(good) - 1);
    char *gz = gzip_bytes(bomb, bomb_len, &glen);
    free(bomb);
    assert_true(glen < 200 * 1024);
    assert_error(post_raw(&d, "/v1/interactions", "application/json", gz, glen,
                          AUTH "Content-Encoding: gzip\r\n", 413, true, NULL),
                 "too_large", "inflates");
    free(gz);
    assert_error(post(&d, "/v1/interactions", "application/json", good,
                      AUTH "Content-Encoding: gzip\r\n", 400),
                 "invalid_request", "gzip");
    assert_error(post(&d, "/v1/interactions", "application/json", good,
                      AUTH "Content-Encoding: br\r\n", 415),
                 "unsupported_media_type", "gzip");
    assert_int_equal(records(&d), 0);

    /* One bad line among good ones: 207, the good ones stored, the bad one named. */
    char mixed[2048];
    snprintf(mixed, sizeof(mixed), "%s\n{\"source\":\"web-shop\",\"channel\":\"fax\"}\n", good);
    json_t *j = post(&d, "/v1/interactions", "application/x-ndjson", mixed, AUTH, 207);
    assert_result_ok(j, 0, false);
    json_t *r = result(j, 1);
    assert_false(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(r, "error")), "invalid_record");
    assert_int_equal(json_integer_value(json_object_get(r, "line")), 2);
    json_decref(j);
    /* gzip done right is read like any body. */
    size_t zl = 0;
    char *z = gzip_bytes(mixed, strlen(mixed), &zl);
    j = post_raw(&d, "/v1/interactions", "application/x-ndjson", z, zl,
                 AUTH "Content-Encoding: gzip\r\n", 207, true, NULL);
    assert_result_ok(j, 0, true);
    json_decref(j);
    free(z);
    assert_int_equal(records(&d), 1);
    assert_int_equal(harness_stop(&d), 0);
}

/* Sends a whole HTTP request on a new connection without reading the answer; returns the
 * socket. */
static int send_request(int port, const char *path, const char *ctype, const char *body)
{
    int fd = harness_connect(port);
    char *req = NULL;
    assert_true(asprintf(&req,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" AUTH
                         "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                         path, ctype, strlen(body), body) > 0);
    assert_int_equal(harness_send(fd, req, strlen(req)), 0);
    free(req);
    return fd;
}

/* Everything the peer sends until it closes (head and body), within 20 s. */
static char *read_all(int fd)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    long long deadline = harness_now_ms() + 20000;
    while (harness_now_ms() < deadline && n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0) {
            continue;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

/*
 * While more records wait for the database than [ingest] max_pending_records, a request is
 * answered 503 with Retry-After before its body is parsed; the records already taken are
 * answered once the database takes them.
 */
static void interactions_shed_load_with_retry_after(void **state)
{
    (void)state;
    static const char *const env[] = {"TOUCHLINE_INGEST_MAX_PENDING_RECORDS=2",
                                      "TOUCHLINE_AUTH_TOKENS=shop:shop-token-1:*", NULL};
    struct harness_daemon d;
    harness_start(&d, "hin_shed", env);
    /* The database holds the batch: a lock on the records' table. */
    PGconn *pg = harness_pg(d.dbname);
    PGresult *r = PQexec(pg, "BEGIN; LOCK TABLE touchline.interactions IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    static const char three[] =
        "{\"source\":\"web-shop\",\"external_id\":\"s1\",\"channel\":\"web\",\"occurred_at\":"
        "\"2026-12-01T08:00:00Z\",\"customer\":{\"web\":\"anon-1\"}}\n"
        "{\"source\":\"web-shop\",\"external_id\":\"s2\",\"channel\":\"web\",\"occurred_at\":"
        "\"2026-12-01T08:00:00Z\",\"customer\":{\"web\":\"anon-2\"}}\n"
        "{\"source\":\"web-shop\",\"external_id\":\"s3\",\"channel\":\"web\",\"occurred_at\":"
        "\"2026-12-01T08:00:00Z\",\"customer\":{\"web\":\"anon-3\"}}\n";
    int first = send_request(d.http_port, "/v1/interactions", "application/x-ndjson", three);
    /* Wait until the daemon holds them (its pending gauge), then ask again. */
    long long deadline = harness_now_ms() + 10000;
    bool held = false;
    while (!held && harness_now_ms() < deadline) {
        char *m = NULL;
        assert_int_equal(harness_http(d.http_port, "GET", "/metrics", NULL, NULL, &m), 200);
        held = strstr(m, "\ntouchline_records_pending 3\n") != NULL;
        free(m);
        usleep(held ? 0 : 20000);
    }
    assert_true(held);
    int second = send_request(d.http_port, "/v1/interactions", "application/x-ndjson", three);
    char *shed = read_all(second);
    close(second);
    char shown[600];
    snprintf(shown, sizeof(shown), "%.500s", shed);
    bool is_503 = strncmp(shed, "HTTP/1.1 503", 12) == 0 && strstr(shed, "Retry-After: 1") &&
                  strstr(shed, "\"unavailable\"") && strstr(shed, "max_pending_records");
    free(shed);
    if (!is_503) {
        fail_msg("wanted 503 with Retry-After while shedding, got: %s", shown);
    }
    r = PQexec(pg, "COMMIT");
    PQclear(r);
    PQfinish(pg);
    char *ok = read_all(first);
    close(first);
    snprintf(shown, sizeof(shown), "%.500s", ok);
    bool is_200 = strncmp(ok, "HTTP/1.1 200", 12) == 0 && strstr(ok, "\"accepted\":3");
    free(ok);
    if (!is_200) {
        fail_msg("wanted the held request answered 200 once the database took it, got: %s", shown);
    }
    assert_int_equal(records(&d), 3);
    assert_int_equal(harness_stop(&d), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Status updates */

static json_t *sms(const struct harness_daemon *d, const char *status, const char *when, int want)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"source\":\"tcp-sms\",\"external_id\":\"msg-501\",\"channel\":\"sms\","
             "\"direction\":\"outbound\",\"occurred_at\":\"%s\",\"customer\":{\"phone\":"
             "\"09125550101\"},\"status\":\"%s\",\"body\":\"کد تخفیف شما: ۴۴۱۰\"}",
             when, status);
    return post(d, "/v1/interactions", "application/json", body, AUTH, want);
}

/* The same key with a later status moves the status forward, on TCP and HTTP alike; never
 * backwards; a plain resend stays a duplicate; the history keeps each change. */
static void status_updates_move_forward_only(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_status", ENV);
    json_t *a = tcp_send(&d, "{\"source\":\"tcp-sms\",\"external_id\":\"msg-501\",\"channel\":"
                             "\"sms\",\"direction\":\"outbound\",\"occurred_at\":\"2026-12-03T"
                             "10:00:00Z\",\"customer\":{\"phone\":\"09125550101\"},\"status\":"
                             "\"sent\",\"body\":\"کد تخفیف شما: ۴۴۱۰\"}");
    assert_true(json_is_true(json_object_get(a, "ok")));
    assert_true(json_is_false(json_object_get(a, "duplicate")));
    json_decref(a);

    json_t *j = sms(&d, "delivered", "2026-12-03T10:00:05Z", 200);
    assert_result_ok(j, 0, true);
    assert_true(json_is_true(json_object_get(result(j, 0), "updated")));
    json_decref(j);
    /* Late and repeated: nothing moves, and the answer says so by leaving "updated" out. */
    a = tcp_send(&d, "{\"source\":\"tcp-sms\",\"external_id\":\"msg-501\",\"channel\":\"sms\","
                     "\"direction\":\"outbound\",\"occurred_at\":\"2026-12-03T10:00:00Z\","
                     "\"customer\":{\"phone\":\"09125550101\"},\"status\":\"sent\"}");
    assert_true(json_is_true(json_object_get(a, "duplicate")));
    assert_null(json_object_get(a, "updated"));
    json_decref(a);
    j = sms(&d, "delivered", "2026-12-03T10:00:05Z", 200);
    assert_null(json_object_get(result(j, 0), "updated"));
    json_decref(j);
    j = sms(&d, "failed", "2026-12-03T10:00:09Z", 200);
    assert_null(json_object_get(result(j, 0), "updated"));
    json_decref(j);
    /* read is past delivered, over TCP this time. */
    a = tcp_send(&d, "{\"source\":\"tcp-sms\",\"external_id\":\"msg-501\",\"channel\":\"sms\","
                     "\"direction\":\"outbound\",\"occurred_at\":\"2026-12-03T10:07:00Z\","
                     "\"customer\":{\"phone\":\"09125550101\"},\"status\":\"read\"}");
    assert_true(json_is_true(json_object_get(a, "updated")));
    json_decref(a);
    assert_int_equal(records(&d), 1);
    assert_sql_text(&d, "SELECT status || ' ' || body FROM touchline.interactions",
                    "read کد تخفیف شما: ۴۴۱۰");
    assert_sql_text(&d,
                    "SELECT string_agg(coalesce(previous, '-') || '>' || status || '@' || "
                    "to_char(occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), ' ' ORDER BY seq) "
                    "FROM touchline.status_history",
                    "sent>delivered@10:00:05 delivered>read@10:07:00");

    /* A call's final disposition: missed, then answered with its duration, in one request
     * (the update is for a record of the same batch). */
    j = post(&d, "/v1/interactions", "application/x-ndjson",
             "{\"source\":\"asterisk-tehran-1\",\"external_id\":\"1733.9\",\"channel\":\"phone\","
             "\"occurred_at\":\"2026-12-03T11:00:00Z\",\"customer\":{\"phone\":\"09125550101\"},"
             "\"status\":\"missed\"}\n"
             "{\"source\":\"asterisk-tehran-1\",\"external_id\":\"1733.9\",\"channel\":\"phone\","
             "\"occurred_at\":\"2026-12-03T11:00:40Z\",\"customer\":{\"phone\":\"09125550101\"},"
             "\"status\":\"answered\",\"duration_s\":95}\n"
             "{\"source\":\"asterisk-tehran-1\",\"external_id\":\"1733.9\",\"channel\":\"phone\","
             "\"occurred_at\":\"2026-12-03T11:00:00Z\",\"customer\":{\"phone\":\"09125550101\"},"
             "\"status\":\"voicemail\"}\n",
             AUTH, 200);
    assert_result_ok(j, 0, false);
    assert_true(json_is_true(json_object_get(result(j, 1), "updated")));
    assert_null(json_object_get(result(j, 2), "updated"));
    const char *cust = json_string_value(json_object_get(result(j, 0), "customer_id"));
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?channel=phone", cust);
    json_decref(j);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, AUTH, &body), 200);
    json_t *t = json_loads(body, 0, NULL);
    free(body);
    json_t *call = json_array_get(json_object_get(t, "items"), 0);
    if (call == NULL) {
        call = json_array_get(json_object_get(t, "interactions"), 0);
    }
    assert_non_null(call);
    assert_string_equal(json_string_value(json_object_get(call, "status")), "answered");
    assert_int_equal(json_integer_value(json_object_get(call, "duration_s")), 95);
    json_t *h = json_object_get(call, "status_history");
    assert_int_equal(json_array_size(h), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "previous")),
                        "missed");
    json_decref(t);
    assert_int_equal(records(&d), 2);
    assert_int_equal(harness_stop(&d), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Segment */

/* A batch of every call type from the fixture: stored once, mapped as docs/adapters.md says. */
static void segment_batch_maps_every_call(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_segment", ENV);
    char *batch = testmain_fixture("http/segment_batch.json", NULL);
    json_t *j = post(&d, "/v1/batch", "application/json", batch, WRITE_KEY, 200);
    assert_true(json_is_true(json_object_get(j, "success")));
    for (size_t i = 0; i < 6; i++) {
        assert_result_ok(j, i, false);
    }
    json_decref(j);
    assert_int_equal(records(&d), 6);
    /* The same batch gzipped, by the short alias: all duplicates. */
    size_t zl = 0;
    char *z = gzip_bytes(batch, strlen(batch), &zl);
    j = post_raw(&d, "/v1/b", "application/json", z, zl, WRITE_KEY "Content-Encoding: gzip\r\n",
                 200, true, NULL);
    for (size_t i = 0; i < 6; i++) {
        assert_result_ok(j, i, true);
    }
    json_decref(j);
    free(z);
    free(batch);
    assert_int_equal(records(&d), 6);

    /* Field by field. */
    assert_sql_text(&d,
                    "SELECT string_agg(external_id || ':' || subject, ' ' ORDER BY occurred_at) "
                    "FROM touchline.interactions WHERE source = 'segment-shop' AND channel = "
                    "'web'",
                    "seg-id-1:identify seg-pg-1:صفحه اصلی seg-sc-1:سبد خرید seg-gr-1:group "
                    "seg-al-1:alias seg-tr-1:Order Completed");
    assert_sql_text(&d,
                    "SELECT attributes->>'product' || ' ' || (attributes->>'total') || ' ' || "
                    "array_to_string(tags, ',') FROM touchline.interactions WHERE external_id = "
                    "'seg-tr-1'",
                    "کتری برقی 1250000 segment:track");
    assert_sql_text(
        &d,
        "SELECT attributes->>'group_id' || ' ' || (attributes->'group_traits'->>'name') "
        "FROM touchline.interactions WHERE external_id = 'seg-gr-1'",
        "company-77 شرکت نمونه");
    /* One person: anonymous id, user id, the aliased previous id, email and phone. */
    assert_int_equal(count(&d, "SELECT count(DISTINCT customer_id) FROM touchline.identities"), 1);
    assert_sql_text(&d,
                    "SELECT string_agg(kind || '=' || value, ' ' ORDER BY kind, value) FROM "
                    "touchline.identities",
                    "email=reza.moradi@example.com phone=+989125550101 web=anon-5c2e "
                    "web=anon-old-11 web=user-4410");
    assert_sql_text(&d, "SELECT name || ' ' || (traits->>'plan') FROM touchline.customers",
                    "رضا مرادی طلایی");
    /* page: originalTimestamp moved by the client's clock error (none here). */
    assert_sql_text(&d,
                    "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM "
                    "touchline.interactions WHERE external_id = 'seg-pg-1'",
                    "2026-12-02 07:01");

    /* Each call by its own path and its alias. */
    static const char *const paths[][2] = {
        {"/v1/track", "{\"userId\":\"user-4410\",\"event\":\"Signed Up\",\"messageId\":\"c1\"}"},
        {"/v1/t", "{\"userId\":\"user-4410\",\"event\":\"Signed Up\",\"messageId\":\"c2\"}"},
        {"/v1/identify", "{\"userId\":\"user-4410\",\"messageId\":\"c3\",\"traits\":{\"city\":"
                         "\"شیراز\"}}"},
        {"/v1/i", "{\"anonymousId\":\"anon-5c2e\",\"messageId\":\"c4\"}"},
        {"/v1/page", "{\"anonymousId\":\"anon-5c2e\",\"name\":\"Cart\",\"messageId\":\"c5\"}"},
        {"/v1/p", "{\"anonymousId\":\"anon-5c2e\",\"name\":\"Cart\",\"messageId\":\"c6\"}"},
        {"/v1/screen", "{\"userId\":\"user-4410\",\"name\":\"Home\",\"messageId\":\"c7\"}"},
        {"/v1/group", "{\"userId\":\"user-4410\",\"groupId\":\"g1\",\"messageId\":\"c8\"}"},
        {"/v1/alias", "{\"userId\":\"user-4410\",\"previousId\":\"anon-9\",\"messageId\":\"c9\"}"},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        j = post(&d, paths[i][0], "application/json", paths[i][1], WRITE_KEY, 200);
        assert_true(json_is_true(json_object_get(j, "success")));
        assert_result_ok(j, 0, false);
        json_decref(j);
    }
    assert_int_equal(records(&d), 15);
    assert_int_equal(count(&d, "SELECT count(DISTINCT customer_id) FROM touchline.identities"), 1);
    assert_sql_text(&d, "SELECT traits->>'city' FROM touchline.customers", "شیراز");
    assert_int_equal(harness_stop(&d), 0);
}

/* What Segment's SDKs must see for what they must not retry (4xx) and for what they must
 * (5xx); nothing stored for any. */
static void segment_refusals(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_segment_bad", ENV);
    static const char msg[] = "{\"userId\":\"u1\",\"event\":\"x\",\"messageId\":\"m1\"}";
    assert_error(post(&d, "/v1/track", "application/json", msg, NULL, 401), "unauthorized",
                 "write key");
    /* base64("wrong-key-1:") */
    assert_error(post(&d, "/v1/track", "application/json", msg,
                      "Authorization: Basic d3Jvbmcta2V5LTE6\r\n", 401),
                 "unauthorized", "unknown write key");
    assert_error(post(&d, "/v1/track", "application/json", "{\"userId\":", WRITE_KEY, 400),
                 "invalid_json", "invalid JSON");
    assert_error(post(&d, "/v1/track", "application/xml", msg, WRITE_KEY, 415),
                 "unsupported_media_type", "application/json");
    assert_error(post(&d, "/v1/track", "application/json", "{\"event\":\"x\",\"messageId\":\"m\"}",
                      WRITE_KEY, 400),
                 "invalid_record", "anonymousId");
    assert_error(post(&d, "/v1/track", "application/json", "{\"userId\":\"u\"}", WRITE_KEY, 400),
                 "invalid_record", "event");
    assert_error(post(&d, "/v1/batch", "application/json", "{\"batch\":{}}", WRITE_KEY, 400),
                 "invalid_request", "batch");
    /* 32 KB a message, 500 KB a batch. */
    size_t n = 40 * 1024;
    char *big = malloc(n + 200);
    assert_non_null(big);
    int k = snprintf(big, 200, "{\"userId\":\"u1\",\"event\":\"x\",\"properties\":{\"p\":\"");
    memset(big + k, 'a', n);
    strcpy(big + k + n, "\"}}");
    assert_error(post(&d, "/v1/track", "application/json", big, WRITE_KEY, 413), "too_large",
                 "32768");
    /* The same message inside a batch: refused alone, the other message stored. */
    char *b = malloc(n + 400);
    assert_non_null(b);
    snprintf(b, n + 400,
             "{\"batch\":[{\"type\":\"track\",%s,{\"type\":\"track\",\"userId\":"
             "\"u2\",\"event\":\"ok\",\"messageId\":\"m2\"}]}",
             big + 1);
    json_t *j = post(&d, "/v1/batch", "application/json", b, WRITE_KEY, 400);
    assert_string_equal(json_string_value(json_object_get(result(j, 0), "error")), "too_large");
    assert_result_ok(j, 1, false);
    json_decref(j);
    free(b);
    free(big);
    assert_int_equal(records(&d), 1);
    size_t bn = 600 * 1024;
    char *huge = malloc(bn + 64);
    assert_non_null(huge);
    memset(huge, ' ', bn);
    memcpy(huge, "{\"batch\":[]}", 12);
    huge[bn] = '\0';
    assert_error(post(&d, "/v1/batch", "application/json", huge, WRITE_KEY, 413), "too_large",
                 "512000");
    free(huge);
    /* A bomb: 8 MiB inflated from a few KiB. */
    size_t bl = 8u << 20, gl = 0;
    char *bomb = malloc(bl);
    assert_non_null(bomb);
    memset(bomb, ' ', bl);
    memcpy(bomb, "{\"batch\":[]}", 12);
    char *gz = gzip_bytes(bomb, bl, &gl);
    free(bomb);
    assert_error(post_raw(&d, "/v1/batch", "application/json", gz, gl,
                          WRITE_KEY "Content-Encoding: gzip\r\n", 413, true, NULL),
                 "too_large", "inflates");
    free(gz);
    assert_int_equal(records(&d), 1);
    /* The refused write keys are counted. */
    char *metrics = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/metrics", NULL, NULL, &metrics), 200);
    assert_non_null(strstr(metrics, "touchline_webhook_auth_failures_total{hook=\"segment\"} 2"));
    free(metrics);
    assert_int_equal(harness_stop(&d), 0);
}

/* The Segment SDK for Node, unmodified, with its host option: 1 000 events through its own
 * batching, each stored once, and the web user is the person who called. */
static void segment_sdk_thousand_events_one_person(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_segment_sdk", ENV);
    json_t *a = tcp_send(&d, "{\"source\":\"asterisk-tehran-1\",\"external_id\":\"1734.1\","
                             "\"channel\":\"phone\",\"occurred_at\":\"2026-12-04T09:00:00Z\","
                             "\"customer\":{\"phone\":\"۰۹۱۲۵۵۵۰۱۹۹\"},\"status\":\"answered\","
                             "\"duration_s\":61}");
    assert_true(json_is_true(json_object_get(a, "ok")));
    char call_customer[64];
    snprintf(call_customer, sizeof(call_customer), "%s",
             json_string_value(json_object_get(a, "customer_id")));
    json_decref(a);
    char args[512];
    snprintf(args, sizeof(args),
             "'http://127.0.0.1:%d' wk-shop-0001 web-user-77 '+989125550199' "
             "1000",
             d.http_port);
    char *out = node("segment_load.js", args);
    json_t *r = json_loads(out, 0, NULL);
    if (r == NULL || json_integer_value(json_object_get(r, "failed")) != 0) {
        fail_msg("the SDK reported failures: %s", out);
    }
    /* Its own batching: far fewer requests than events. */
    long requests = (long)json_integer_value(json_object_get(r, "http_requests"));
    printf("segment sdk: %s\n", out);
    assert_true(requests > 1 && requests < 500);
    json_decref(r);
    free(out);
    assert_int_equal(count(&d, "SELECT count(*) FROM touchline.interactions WHERE source = "
                               "'segment-shop' AND 'segment:track' = ANY (tags)"),
                     1000);
    assert_int_equal(count(&d, "SELECT count(DISTINCT external_id) FROM touchline.interactions "
                               "WHERE external_id LIKE 'load-web-user-77-%'"),
                     1000);
    assert_int_equal(records(&d), 1002);
    char want[200];
    snprintf(want, sizeof(want), "%s", call_customer);
    assert_sql_text(&d,
                    "SELECT string_agg(DISTINCT touchline.survivor(customer_id)::text, ',') FROM "
                    "touchline.interactions",
                    want);
    assert_int_equal(harness_stop(&d), 0);
}

/* The write keys change on SIGHUP, without a restart. */
static void segment_write_keys_reload(void **state)
{
    (void)state;
    char conf[512], env_conf[600];
    snprintf(conf, sizeof(conf), "%s/touchlined-hin-reload-%d.conf", harness_tmp_dir(),
             (int)getpid());
    harness_write_file(conf, "[segment]\nwrite_keys = a:key-aaaa-1:seg-a\n");
    snprintf(env_conf, sizeof(env_conf), "TOUCHLINE_CONFIG=%s", conf);
    const char *env[] = {env_conf, NULL};
    struct harness_daemon d;
    harness_start(&d, "hin_reload", env);
    /* base64("key-bbbb-2:") */
    static const char key_b[] = "Authorization: Basic a2V5LWJiYmItMjo=\r\n";
    static const char key_a[] = "Authorization: Basic a2V5LWFhYWEtMTo=\r\n";
    static const char msg[] = "{\"userId\":\"u1\",\"event\":\"x\",\"messageId\":\"r1\"}";
    assert_error(post(&d, "/v1/track", "application/json", msg, key_b, 401), "unauthorized",
                 "unknown write key");
    harness_write_file(conf, "[segment]\nwrite_keys = b:key-bbbb-2:seg-b\n");
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    harness_wait_log(&d, "configuration reloaded", 10000);
    json_decref(post(&d, "/v1/track", "application/json", msg, key_b, 200));
    assert_error(post(&d, "/v1/track", "application/json", msg, key_a, 401), "unauthorized",
                 "unknown write key");
    assert_sql_text(&d, "SELECT source FROM touchline.interactions", "seg-b");
    assert_int_equal(harness_stop(&d), 0);
    unlink(conf);
}

/* ---------------------------------------------------------------------------------------- */
/* Twilio */

static json_t *twilio_post(const struct harness_daemon *d, const char *path, const char *form,
                           const char *sig_header, int want, char **text)
{
    return post_raw(d, path, "application/x-www-form-urlencoded", form, strlen(form), sig_header,
                    want, false, text);
}

/* An incoming SMS signed by Twilio's library: stored once, answered with empty TwiML; its
 * delivery callbacks move the outbound message's status forward only. */
static void twilio_sms_and_status_callbacks(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_twilio", ENV);
    char *form = fixture_line("http/twilio_sms.form");
    char sig[256];
    twilio_sign("tw-old-token-0001", PUBLIC "/v1/hooks/twilio/sms", form, sig, sizeof(sig));
    char *text = NULL;
    json_decref(twilio_post(&d, "/v1/hooks/twilio/sms", form, sig, 200, &text));
    assert_non_null(strstr(text, "<Response/>"));
    free(text);
    /* Twilio resends a webhook it had no answer to: a duplicate. The new token (rotation)
     * signs as well. */
    twilio_sign("tw-new-token-0002", PUBLIC "/v1/hooks/twilio/sms", form, sig, sizeof(sig));
    json_decref(twilio_post(&d, "/v1/hooks/twilio/sms", form, sig, 200, NULL));
    free(form);
    assert_int_equal(records(&d), 1);
    assert_sql_text(
        &d,
        "SELECT concat_ws(' | ', source, external_id, channel, direction, status, body, "
        "attributes->'media'->0->>'content_type', attributes->>'to') FROM "
        "touchline.interactions",
        "twilio | SM9f1c0e6a2b3d4c5e6f708192a3b4c5d6 | sms | inbound | received | "
        "سلام، سفارش من کی می\u200cرسد؟ | image/jpeg | +14155550123");
    assert_sql_text(&d, "SELECT value FROM touchline.identities", "+989125550101");

    /* The outbound message, logged by the sending system with Twilio's MessageSid. */
    json_t *j =
        post(&d, "/v1/interactions", "application/json",
             "{\"source\":\"twilio\",\"external_id\":\"SMb7e2f0a1c3d5e7f9a1b3c5d7e9f1a3b5\","
             "\"channel\":\"sms\",\"direction\":\"outbound\",\"occurred_at\":"
             "\"2026-12-02T08:20:00Z\",\"customer\":{\"phone\":\"+989125550101\"},"
             "\"status\":\"sent\",\"body\":\"سفارش شما امروز ارسال شد\"}",
             AUTH, 200);
    json_decref(j);
    char *tmpl = fixture_line("http/twilio_status.form");
    static const char *const seq[][2] = {
        {"delivered", "delivered"}, {"sent", "delivered"}, {"undelivered", "delivered"},
        {"delivered", "delivered"}, {"read", "read"},
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        char f[1024] = "";
        const char *p = tmpl;
        for (const char *m; (m = strstr(p, "STATUS")) != NULL; p = m + 6) {
            strncat(f, p, (size_t)(m - p));
            strcat(f, seq[i][0]);
        }
        strcat(f, p);
        twilio_sign("tw-new-token-0002", PUBLIC "/v1/hooks/twilio/status", f, sig, sizeof(sig));
        json_decref(twilio_post(&d, "/v1/hooks/twilio/status", f, sig, 200, NULL));
        char q[256];
        snprintf(q, sizeof(q),
                 "SELECT status FROM touchline.interactions WHERE external_id = "
                 "'SMb7e2f0a1c3d5e7f9a1b3c5d7e9f1a3b5'");
        assert_sql_text(&d, q, seq[i][1]);
    }
    free(tmpl);
    assert_int_equal(records(&d), 2);
    assert_sql_text(&d,
                    "SELECT string_agg(previous || '>' || status || ':' || "
                    "(detail->>'twilio_status'), ' ' ORDER BY seq) FROM touchline.status_history",
                    "sent>delivered:delivered delivered>read:read");
    assert_int_equal(harness_stop(&d), 0);
}

/* Without Twilio's valid signature over the public URL: 403, nothing stored, counted. */
static void twilio_bad_signatures_refused(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_twilio_bad", ENV);
    char *form = fixture_line("http/twilio_sms.form");
    char sig[256];
    assert_error(twilio_post(&d, "/v1/hooks/twilio/sms", form, NULL, 403, NULL), "forbidden",
                 "X-Twilio-Signature");
    /* An unknown token's signature. */
    twilio_sign("not-our-token-99", PUBLIC "/v1/hooks/twilio/sms", form, sig, sizeof(sig));
    assert_error(twilio_post(&d, "/v1/hooks/twilio/sms", form, sig, 403, NULL), "forbidden",
                 "X-Twilio-Signature");
    /* Signed for another URL (the status hook), or the body changed after signing. */
    twilio_sign("tw-old-token-0001", PUBLIC "/v1/hooks/twilio/status", form, sig, sizeof(sig));
    assert_error(twilio_post(&d, "/v1/hooks/twilio/sms", form, sig, 403, NULL), "forbidden",
                 "public_url");
    twilio_sign("tw-old-token-0001", PUBLIC "/v1/hooks/twilio/sms", form, sig, sizeof(sig));
    char *tampered = strdup(form);
    assert_non_null(tampered);
    char *from = strstr(tampered, "From=%2B98912");
    assert_non_null(from);
    from[strlen("From=%2B98912")] = '9';
    assert_error(twilio_post(&d, "/v1/hooks/twilio/sms", tampered, sig, 403, NULL), "forbidden",
                 NULL);
    free(tampered);
    /* Signed right, but not a form. */
    assert_error(post_raw(&d, "/v1/hooks/twilio/sms", "application/json", form, strlen(form), sig,
                          415, true, NULL),
                 "unsupported_media_type", "x-www-form-urlencoded");
    /* Signed right, but missing the sender. */
    static const char nofrom[] = "MessageSid=SMaa11&Body=hi&To=%2B14155550123";
    twilio_sign("tw-old-token-0001", PUBLIC "/v1/hooks/twilio/sms", nofrom, sig, sizeof(sig));
    json_t *j = twilio_post(&d, "/v1/hooks/twilio/sms", nofrom, sig, 400, NULL);
    assert_string_equal(json_string_value(json_object_get(result(j, 0), "error")),
                        "invalid_record");
    json_decref(j);
    free(form);
    assert_int_equal(records(&d), 0);
    char *metrics = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/metrics", NULL, NULL, &metrics), 200);
    assert_non_null(strstr(metrics, "touchline_webhook_auth_failures_total{hook=\"twilio\"} 4"));
    free(metrics);
    assert_int_equal(harness_stop(&d), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Chatwoot */

#define CW_HOOK "/v1/hooks/chatwoot?token=cw-secret-0001"

static void chatwoot_messages(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "hin_chatwoot", ENV);
    static const char *const files[] = {"http/chatwoot_incoming.json",
                                        "http/chatwoot_outgoing.json", "http/chatwoot_private.json",
                                        "http/chatwoot_webwidget.json"};
    for (size_t i = 0; i < 4; i++) {
        char *body = testmain_fixture(files[i], NULL);
        json_t *j = post(&d, i == 1 ? "/v1/hooks/chatwoot" : CW_HOOK, "application/json", body,
                         i == 1 ? "X-Touchline-Token: cw-secret-0001\r\n" : NULL, 200);
        assert_result_ok(j, 0, false);
        json_decref(j);
        free(body);
    }
    assert_int_equal(records(&d), 4);
    assert_sql_text(&d,
                    "SELECT string_agg(concat_ws('/', external_id, channel, direction, status, "
                    "thread, agent), ' ' ORDER BY external_id) FROM touchline.interactions",
                    "90211/chat/inbound/received/118 90212/chat/outbound/sent/118/مریم "
                    "(پشتیبانی) 90213/chat/internal/sent/118/مریم (پشتیبانی) "
                    "90300/chat/inbound/received/130");
    assert_sql_text(&d, "SELECT body FROM touchline.interactions WHERE external_id = '90211'",
                    "السلام عليكم، هل الطلب رقم A-1001 في الطريق؟");
    /* The WhatsApp contact: phone, email, Chatwoot identifier and chat handle, one person. */
    assert_sql_text(&d,
                    "SELECT string_agg(kind || '=' || value, ' ' ORDER BY kind, value) FROM "
                    "touchline.identities i WHERE customer_id = (SELECT customer_id FROM "
                    "touchline.interactions WHERE external_id = '90211')",
                    "chat=whatsapp:989125550101 email=reza.moradi@example.com "
                    "external=chatwoot:user-4410 phone=+989125550101");
    assert_sql_text(&d,
                    "SELECT value FROM touchline.identities WHERE customer_id = (SELECT "
                    "customer_id FROM touchline.interactions WHERE external_id = '90300')",
                    "chatwoot:b6f1e2a0-4d3c-4b5a-9e8f-7a6b5c4d3e2f");
    /* A resend is a duplicate; other events are answered and not recorded. */
    char *body = testmain_fixture("http/chatwoot_incoming.json", NULL);
    json_t *j = post(&d, CW_HOOK, "application/json", body, NULL, 200);
    assert_result_ok(j, 0, true);
    json_decref(j);
    free(body);
    body = testmain_fixture("http/chatwoot_status_changed.json", NULL);
    j = post(&d, CW_HOOK, "application/json", body, NULL, 200);
    assert_true(json_is_true(json_object_get(j, "ignored")));
    json_decref(j);
    /* Without the hook's token: 403, nothing stored. */
    assert_error(post(&d, "/v1/hooks/chatwoot", "application/json", body, NULL, 403), "forbidden",
                 "token");
    assert_error(
        post(&d, "/v1/hooks/chatwoot?token=guess-1234", "application/json", body, NULL, 403),
        "forbidden", "token");
    free(body);
    assert_error(post(&d, CW_HOOK, "application/json", "{\"event\":", NULL, 400), "invalid_json",
                 NULL);
    assert_error(post(&d, CW_HOOK, "application/json",
                      "{\"event\":\"message_created\",\"id\":5,\"message_type\":\"incoming\"}",
                      NULL, 400),
                 "invalid_record", "contact");
    assert_int_equal(records(&d), 4);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interactions_ndjson_array_and_single),
        cmocka_unit_test(interactions_bad_inputs_store_nothing),
        cmocka_unit_test(interactions_shed_load_with_retry_after),
        cmocka_unit_test(status_updates_move_forward_only),
        cmocka_unit_test(segment_batch_maps_every_call),
        cmocka_unit_test(segment_refusals),
        cmocka_unit_test(segment_sdk_thousand_events_one_person),
        cmocka_unit_test(segment_write_keys_reload),
        cmocka_unit_test(twilio_sms_and_status_callbacks),
        cmocka_unit_test(twilio_bad_signatures_refused),
        cmocka_unit_test(chatwoot_messages),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
