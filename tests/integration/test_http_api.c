/*
 * The read side of the HTTP API (CONTRACT §4) as implemented so far: lookups by every kind
 * of identifier, profiles, timeline paging and filters, the 400 and 404 answers, and
 * bearer/basic authentication.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

static json_t *get_json(const struct harness_daemon *d, const char *path, int want_status)
{
    char *body = NULL;
    int st = harness_http(d->http_port, "GET", path, NULL, NULL, &body);
    if (st != want_status) {
        fail_msg("GET %s: %d, wanted %d: %s", path, st, want_status, body ? body : "");
    }
    json_t *j = json_loads(body != NULL ? body : "", 0, NULL);
    free(body);
    assert_non_null(j);
    return j;
}

static void assert_error(const struct harness_daemon *d, const char *path, int status,
                         const char *code, const char *needle)
{
    json_t *j = get_json(d, path, status);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    if (needle != NULL && strstr(m, needle) == NULL) {
        fail_msg("GET %s: message does not say \"%s\": %s", path, needle, m);
    }
    json_decref(j);
}

static void send_lines(const struct harness_daemon *d, const char *data, int lines)
{
    int fd = harness_connect(d->tcp_port);
    assert_int_equal(harness_send(fd, data, strlen(data)), 0);
    for (int i = 0; i < lines; i++) {
        char *a = harness_read_line(fd, 15000);
        if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
            fail_msg("line %d: %s", i + 1, a != NULL ? a : "(no answer)");
        }
        free(a);
    }
    close(fd);
}

static void lookup_by_every_identifier_kind(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_lookup", NULL);
    send_lines(&d,
               "{\"source\":\"s\",\"external_id\":\"1\",\"channel\":\"web\",\"occurred_at\":"
               "\"2026-11-18T08:02:11Z\",\"customer\":{\"phone\":\"09123456789\",\"email\":"
               "\"Sara@Example.com\",\"chat\":\"telegram:@sara_k\",\"web\":\"anon-1\","
               "\"external\":\"shop:1\",\"name\":\"سارا\"}}\n"
               "{\"source\":\"s\",\"external_id\":\"2\",\"channel\":\"sms\",\"occurred_at\":"
               "\"2026-11-19T10:00:00+03:30\",\"customer\":{\"phone\":\"+989123456789\"}}\n",
               2);
    static const char *const paths[] = {
        "/v1/customers?phone=%DB%B0%DB%B9%DB%B1%DB%B2%DB%B3%DB%B4%DB%B5%DB%B6%DB%B7%DB%B8%DB%B9",
        "/v1/customers?phone=+989123456789",
        "/v1/customers?email=SARA%40EXAMPLE.COM",
        "/v1/customers?chat=Telegram:@sara_k",
        "/v1/customers?web=anon-1",
        "/v1/customers?external=shop:1",
    };
    char id[64] = "";
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *p = get_json(&d, paths[i], 200);
        const char *pid = json_string_value(json_object_get(p, "id"));
        assert_non_null(pid);
        if (id[0] == '\0') {
            snprintf(id, sizeof(id), "%s", pid);
        }
        assert_string_equal(pid, id);
        json_decref(p);
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", id);
    json_t *p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "سارا");
    assert_int_equal(json_integer_value(json_object_get(p, "interactions")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "counts"), "sms")), 1);
    assert_string_equal(json_string_value(json_object_get(p, "first_seen")),
                        "2026-11-18T08:02:11.000000Z");
    assert_string_equal(json_string_value(json_object_get(p, "last_seen")),
                        "2026-11-19T06:30:00.000000Z");
    assert_int_equal(json_array_size(json_object_get(p, "identities")), 5);
    json_decref(p);
    assert_int_equal(harness_stop(&d), 0);
}

static void errors_400_and_404(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_errors", NULL);
    assert_error(&d, "/v1/customers?phone=12", 400, "invalid_request", "phone");
    assert_error(&d, "/v1/customers", 400, "invalid_request", NULL);
    assert_error(&d, "/v1/customers?phone=0912&email=a@b.c", 400, "invalid_request", NULL);
    assert_error(&d, "/v1/customers?colour=blue", 400, "invalid_request", "colour");
    assert_error(&d, "/v1/customers/not-a-uuid", 400, "invalid_request", "UUID");
    assert_error(&d, "/v1/customers?email=nobody@example.com", 404, "not_found", "nobody");
    assert_error(&d, "/v1/customers/0190a000-0000-7000-8000-000000000000", 404, "not_found", NULL);
    assert_error(&d, "/v1/customers/0190a000-0000-7000-8000-000000000000/timeline", 404,
                 "not_found", NULL);
    const char *id = "0190a000-0000-7000-8000-000000000000";
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?before=abc", id);
    assert_error(&d, path, 400, "invalid_request", "before");
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=0", id);
    assert_error(&d, path, 400, "invalid_request", "limit");
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=501", id);
    assert_error(&d, path, 400, "invalid_request", "limit");
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?channel=fax", id);
    assert_error(&d, path, 400, "invalid_request", "channel");
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?since=yesterday", id);
    assert_error(&d, path, 400, "invalid_request", "since");
    assert_error(&d, "/v1/nothing", 404, "not_found", NULL);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "POST", "/v1/customers", "{}", NULL, &body), 405);
    free(body);
    json_t *h = get_json(&d, "/healthz", 200);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);
    h = get_json(&d, "/readyz", 200);
    assert_true(json_is_true(json_object_get(h, "ready")));
    json_decref(h);
    assert_int_equal(harness_stop(&d), 0);
}

/* 120 records, some sharing a timestamp: pages of 50 return each once, newest first. */
static void timeline_pages_filters_and_order(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_pages", NULL);
    enum { N = 120 };
    char *buf = malloc(N * 256);
    assert_non_null(buf);
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        n += (size_t)snprintf(buf + n, N * 256 - n,
                              "{\"source\":\"p\",\"external_id\":\"%d\",\"channel\":\"%s\","
                              "\"occurred_at\":\"2026-11-%02dT10:00:00Z\",\"customer\":"
                              "{\"phone\":\"09120000001\"}}\n",
                              i, i % 3 == 0 ? "sms" : "phone", 1 + i / 5);
    }
    send_lines(&d, buf, N);
    free(buf);
    json_t *p = get_json(&d, "/v1/customers?phone=09120000001", 200);
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(p, "id")));
    json_decref(p);
    char path[512], cursor[128] = "";
    int seen = 0, pages = 0;
    char last_ts[64] = "9999", last_id[64] = "";
    do {
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=50%s%s", id,
                 cursor[0] ? "&before=" : "", cursor);
        json_t *t = get_json(&d, path, 200);
        json_t *items = json_object_get(t, "items");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            const char *ts = json_string_value(json_object_get(it, "occurred_at"));
            const char *iid = json_string_value(json_object_get(it, "id"));
            int c = strcmp(ts, last_ts);
            /* Strictly descending by (occurred_at, id). */
            assert_true(c < 0 || (c == 0 && strcmp(iid, last_id) < 0));
            snprintf(last_ts, sizeof(last_ts), "%s", ts);
            snprintf(last_id, sizeof(last_id), "%s", iid);
            seen++;
        }
        const char *next = json_string_value(json_object_get(t, "next_cursor"));
        snprintf(cursor, sizeof(cursor), "%s", next != NULL ? next : "");
        json_decref(t);
        pages++;
    } while (cursor[0] != '\0' && pages < 10);
    assert_int_equal(seen, N);
    assert_int_equal(pages, 3);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=500&channel=sms", id);
    json_t *t = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 40);
    json_decref(t);
    /* since is inclusive, until exclusive: days 2 and 3 hold records 5..14. */
    snprintf(path, sizeof(path),
             "/v1/customers/%s/timeline?limit=500&since=2026-11-02T10:00:00Z"
             "&until=2026-11-04T10:00:00Z",
             id);
    t = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 10);
    json_decref(t);
    assert_int_equal(harness_stop(&d), 0);
}

static void bearer_and_basic_authentication(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_AUTH_TOKENS=reader:reader-token-1", NULL};
    struct harness_daemon d;
    harness_start(&d, "http_auth", env);
    char *body = NULL;
    const char *path = "/v1/customers?phone=09121112233";
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL, NULL, &body), 401);
    free(body);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL,
                                  "Authorization: Bearer wrong-token-9\r\n", &body),
                     401);
    free(body);
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL,
                                  "Authorization: Bearer reader-token-1\r\n", &body),
                     404);
    free(body);
    /* base64("reader-token-1:") */
    assert_int_equal(harness_http(d.http_port, "GET", path, NULL,
                                  "Authorization: Basic cmVhZGVyLXRva2VuLTE6\r\n", &body),
                     404);
    free(body);
    assert_int_equal(harness_http(d.http_port, "GET", "/healthz", NULL, NULL, &body), 200);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lookup_by_every_identifier_kind),
        cmocka_unit_test(errors_400_and_404),
        cmocka_unit_test(timeline_pages_filters_and_order),
        cmocka_unit_test(bearer_and_basic_authentication),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
