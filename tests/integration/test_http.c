/*
 * The HTTP read API (CONTRACT section 4; daemon/http.c, sql/002_queries.sql) against the real
 * daemon: records go in over TCP, then lookups by every kind of identifier, profiles,
 * timeline order and paging, filters, merged-away ids, errors, health and authentication.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define UUID_LEN 36

/* An unknown but well-formed customer id. */
static const char NO_SUCH_ID[] = "0190a000-0000-7000-8000-000000000000";

static json_t *request_json(const struct harness_daemon *d, const char *method, const char *path,
                            const char *payload, const char *headers, int want_status)
{
    return harness_http_json(d, method, path, payload, headers, want_status);
}

/* GET path (with extra header lines, may be NULL); asserts the status, returns the body. */
static json_t *get_json_h(const struct harness_daemon *d, const char *path, const char *headers,
                          int want_status)
{
    return request_json(d, "GET", path, NULL, headers, want_status);
}

static json_t *get_json(const struct harness_daemon *d, const char *path, int want_status)
{
    return get_json_h(d, path, NULL, want_status);
}

static void assert_http_error(const struct harness_daemon *d, const char *method, const char *path,
                              const char *payload, const char *headers, int status,
                              const char *code, const char *needle)
{
    harness_assert_http_error(d, method, path, payload, headers, status, code, needle);
}

static void assert_get_error(const struct harness_daemon *d, const char *path, int status,
                             const char *code, const char *needle)
{
    assert_http_error(d, "GET", path, NULL, NULL, status, code, needle);
}

static void ingest(const struct harness_daemon *d, const char *auth_line, const char *data, int n,
                   char (*ids)[UUID_LEN + 1], char (*customers)[UUID_LEN + 1])
{
    harness_ingest(d, auth_line, data, n, ids, customers);
}

/* True when s is "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
static bool is_api_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (s == NULL || strlen(s) != sizeof(shape) - 1) {
        return false;
    }
    for (size_t i = 0; shape[i] != '\0'; i++) {
        bool ok = shape[i] == 'd' ? s[i] >= '0' && s[i] <= '9' : s[i] == shape[i];
        if (!ok) {
            return false;
        }
    }
    return true;
}

static void assert_json_equal(json_t *got, json_t *want, const char *what)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("%s:\n got  %s\n want %s", what, g != NULL ? g : "?", w != NULL ? w : "?");
    }
}

/* Sara: four records on three channels, every kind of identifier, written in several forms. */
static const char SARA[] =
    "{\"source\":\"s\",\"external_id\":\"1\",\"channel\":\"web\",\"occurred_at\":"
    "\"2026-11-18T08:02:11.5Z\",\"customer\":{\"phone\":\"09123456789\",\"email\":"
    "\"Sara@Example.com\",\"chat\":\"Telegram:@sara_k\",\"web\":\"anon-1\","
    "\"external\":\"shop:1\",\"name\":\"سارا\"}}\n"
    "{\"source\":\"s\",\"external_id\":\"2\",\"channel\":\"sms\",\"occurred_at\":"
    "\"2026-11-19T10:00:00+03:30\",\"customer\":{\"phone\":\"+989123456789\"}}\n"
    "{\"source\":\"s\",\"external_id\":\"3\",\"channel\":\"sms\",\"occurred_at\":"
    "\"2026-11-18T20:00:00.000001Z\",\"customer\":{\"phone\":\"+98 912 345 6789\"}}\n"
    "{\"source\":\"s\",\"external_id\":\"4\",\"channel\":\"email\",\"occurred_at\":"
    "\"2026-11-18T09:00:00Z\",\"customer\":{\"email\":\"SARA@example.com\"}}\n"
    /* Someone else, so that a lookup cannot succeed by returning the only customer. */
    "{\"source\":\"s\",\"external_id\":\"5\",\"channel\":\"phone\",\"occurred_at\":"
    "\"2026-11-18T09:00:00Z\",\"customer\":{\"phone\":\"09121110000\",\"email\":"
    "\"reza@example.com\",\"chat\":\"telegram:@reza\",\"web\":\"anon-2\",\"external\":"
    "\"shop:2\"}}\n";

static void find_by_every_identifier_kind(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_find", NULL);
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL, SARA, 5, NULL, cust);
    for (int i = 1; i < 4; i++) {
        assert_string_equal(cust[i], cust[0]);
    }
    assert_string_not_equal(cust[4], cust[0]);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", cust[0]);
    json_t *profile = get_json(&d, path, 200);
    static const char *const paths[] = {
        /* ۰۹۱۲۳۴۵۶۷۸۹: the national form in Persian digits, percent-encoded UTF-8. */
        "/v1/customers?phone=%DB%B0%DB%B9%DB%B1%DB%B2%DB%B3%DB%B4%DB%B5%DB%B6%DB%B7%DB%B8%DB%B9",
        /* ٠٩١٢٣٤٥٦٧٨٩: the same in Arabic-Indic digits. */
        "/v1/customers?phone=%D9%A0%D9%A9%D9%A1%D9%A2%D9%A3%D9%A4%D9%A5%D9%A6%D9%A7%D9%A8%D9%A9",
        "/v1/customers?phone=%2B989123456789",
        "/v1/customers?phone=+989123456789",
        "/v1/customers?phone=0098%20(912)%20345-6789",
        "/v1/customers?email=SARA%40EXAMPLE.COM",
        "/v1/customers?email=%20Sara@Example.Com%20",
        "/v1/customers?chat=TELEGRAM:%40sara_k",
        "/v1/customers?chat=telegram:@sara_k",
        "/v1/customers?web=anon-1",
        "/v1/customers?web=%20anon-1",
        "/v1/customers?external=shop:1",
        "/v1/customers?external=shop%3A1",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *p = get_json(&d, paths[i], 200);
        /* A lookup answers the whole profile, the same as GET /v1/customers/{id}. */
        assert_json_equal(p, profile, paths[i]);
        json_decref(p);
    }
    json_t *other = get_json(&d, "/v1/customers?web=anon-2", 200);
    assert_string_equal(json_string_value(json_object_get(other, "id")), cust[4]);
    json_decref(other);
    json_decref(profile);
    assert_int_equal(harness_stop(&d), 0);
}

static void profile_fields(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_profile", NULL);
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL, SARA, 5, NULL, cust);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", cust[0]);
    json_t *p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[0]);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "سارا");
    /* Sorted by kind, then value; each stored in its normalized form. */
    json_t *want = json_loads("[{\"kind\":\"chat\",\"value\":\"telegram:@sara_k\"},"
                              "{\"kind\":\"email\",\"value\":\"sara@example.com\"},"
                              "{\"kind\":\"external\",\"value\":\"shop:1\"},"
                              "{\"kind\":\"phone\",\"value\":\"+989123456789\"},"
                              "{\"kind\":\"web\",\"value\":\"anon-1\"}]",
                              0, NULL);
    assert_non_null(want);
    assert_json_equal(json_object_get(p, "identities"), want, "identities");
    json_decref(want);
    want = json_loads("{\"web\":1,\"sms\":2,\"email\":1}", 0, NULL);
    assert_json_equal(json_object_get(p, "counts"), want, "counts");
    json_decref(want);
    assert_true(json_is_integer(json_object_get(p, "interactions")));
    assert_int_equal(json_integer_value(json_object_get(p, "interactions")), 4);
    assert_string_equal(json_string_value(json_object_get(p, "first_seen")),
                        "2026-11-18T08:02:11.500000Z");
    assert_string_equal(json_string_value(json_object_get(p, "last_seen")),
                        "2026-11-19T06:30:00.000000Z");
    assert_true(is_api_time(json_string_value(json_object_get(p, "created_at"))));
    json_t *merged = json_object_get(p, "merged_ids");
    assert_true(json_is_array(merged));
    assert_int_equal(json_array_size(merged), 0);
    assert_true(json_is_object(json_object_get(p, "traits")));
    json_decref(p);
    /* The id is accepted in upper case too; it is answered in canonical form. */
    char upper[UUID_LEN + 1];
    for (int i = 0; i <= UUID_LEN; i++) {
        upper[i] = (char)(cust[0][i] >= 'a' && cust[0][i] <= 'f' ? cust[0][i] - 32 : cust[0][i]);
    }
    snprintf(path, sizeof(path), "/v1/customers/%s", upper);
    p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[0]);
    json_decref(p);
    assert_int_equal(harness_stop(&d), 0);
}

static void unknown_identifier_and_id_are_404(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_404", NULL);
    ingest(&d, NULL, SARA, 5, NULL, NULL);
    assert_get_error(&d, "/v1/customers?email=nobody@example.com", 404, "not_found", NULL);
    assert_get_error(&d, "/v1/customers?phone=09129999999", 404, "not_found", NULL);
    assert_get_error(&d, "/v1/customers?chat=telegram:@nobody", 404, "not_found", NULL);
    assert_get_error(&d, "/v1/customers?web=anon-999", 404, "not_found", NULL);
    assert_get_error(&d, "/v1/customers?external=shop:999", 404, "not_found", NULL);
    char path[160];
    snprintf(path, sizeof(path), "/v1/customers/%s", NO_SUCH_ID);
    assert_get_error(&d, path, 404, "not_found", NULL);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", NO_SUCH_ID);
    assert_get_error(&d, path, 404, "not_found", NULL);
    assert_int_equal(harness_stop(&d), 0);
}

static void bad_requests_are_400(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_400", NULL);
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL, SARA, 5, NULL, cust);
    assert_get_error(&d, "/v1/customers?phone=12", 400, "invalid_request", "phone");
    assert_get_error(&d, "/v1/customers?phone=%DB%B0%DB%B9", 400, "invalid_request", "phone");
    assert_get_error(&d, "/v1/customers?email=not-an-address", 400, "invalid_request", "email");
    assert_get_error(&d, "/v1/customers", 400, "invalid_request", NULL);
    assert_get_error(&d, "/v1/customers?phone=09123456789&email=sara@example.com", 400,
                     "invalid_request", NULL);
    assert_get_error(&d, "/v1/customers?colour=blue", 400, "invalid_request", "colour");
    assert_get_error(&d, "/v1/customers?web=anon-1&colour=blue", 400, "invalid_request", "colour");
    assert_get_error(&d, "/v1/customers/not-a-uuid", 400, "invalid_request", NULL);
    assert_get_error(&d, "/v1/customers/0190a000-0000-7000-8000-00000000000", 400,
                     "invalid_request", NULL);
    assert_get_error(&d, "/v1/customers/not-a-uuid/timeline", 400, "invalid_request", NULL);
    /* Timeline parameters, on a customer that exists so only the parameter can be wrong. */
    static const struct {
        const char *query;
        const char *needle;
    } bad[] = {
        {"before=abc", "before"},     {"limit=0", "limit"},
        {"limit=501", "limit"},       {"limit=-1", "limit"},
        {"limit=ten", "limit"},       {"channel=fax", "channel"},
        {"since=yesterday", "since"}, {"until=2026-13-01T00:00:00Z", "until"},
        {"colour=blue", "colour"},
    };
    char path[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline?%s", cust[0], bad[i].query);
        assert_get_error(&d, path, 400, "invalid_request", bad[i].needle);
    }
    /* The limits themselves are fine. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=1", cust[0]);
    json_t *t = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 1);
    json_decref(t);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=500", cust[0]);
    t = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 4);
    json_decref(t);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Bad values that are not ASCII, or not UTF-8 at all, are still a 400: the message that
 * quotes them must stay valid UTF-8 (cut on a character boundary, bad bytes replaced).
 */
static void non_ascii_bad_values_are_400(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_400_utf8", NULL);
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL, SARA, 5, NULL, cust);
    /* head, then cjk times U+4E2D (three bytes, percent-encoded); a head without a leading
     * '/' is a query of Sara's timeline. */
    static const struct {
        const char *head;
        int cjk;
        const char *needle;
    } bad[] = {
        /* Valid UTF-8, but longer than a message quotes. */
        {"/v1/customers?web=", 130, "web"},
        {"/v1/customers?external=", 130, "external"},
        {"/v1/customers?phone=", 40, "phone"},
        {"/v1/customers?chat=", 40, "chat"},
        {"/v1/customers?email=", 40, "email"},
        {"/v1/customers?x", 30, NULL},
        {"x", 30, NULL},
        {"limit=", 20, "limit"},
        {"channel=", 20, "channel"},
        {"since=", 20, "since"},
        {"until=", 20, "until"},
        /* Not UTF-8. */
        {"/v1/customers?web=%FF", 0, "web"},
        {"/v1/customers?email=%C3%28@example.com", 0, "email"},
        {"/v1/customers?%FF=1", 0, NULL},
        {"since=%FF", 0, "since"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[2048];
        size_t o;
        if (bad[i].head[0] == '/') {
            o = (size_t)snprintf(path, sizeof(path), "%s", bad[i].head);
        } else {
            o = (size_t)snprintf(path, sizeof(path), "/v1/customers/%s/timeline?%s", cust[0],
                                 bad[i].head);
        }
        for (int k = 0; k < bad[i].cjk; k++) {
            o += (size_t)snprintf(path + o, sizeof(path) - o, "%%E4%%B8%%AD");
        }
        assert_true(o < sizeof(path));
        assert_get_error(&d, path, 400, "invalid_request", bad[i].needle);
    }
    assert_int_equal(harness_stop(&d), 0);
}

struct entry {
    char ts[48];
    char id[UUID_LEN + 1];
};

/* Newest first; ties on occurred_at by id, descending. */
static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(y->ts, x->ts);
    return c != 0 ? c : strcmp(y->id, x->id);
}

/* Asserts that items hold exactly want[0..n) in this order. */
static void assert_items(json_t *items, const struct entry *want, size_t n, const char *what)
{
    if (!json_is_array(items) || json_array_size(items) != n) {
        fail_msg("%s: %zu items, wanted %zu", what, json_array_size(items), n);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *ts = json_string_value(json_object_get(it, "occurred_at"));
        if (id == NULL || ts == NULL || strcmp(id, want[i].id) != 0 ||
            strcmp(ts, want[i].ts) != 0) {
            fail_msg("%s: item %zu is %s at %s, wanted %s at %s", what, i, id ? id : "?",
                     ts ? ts : "?", want[i].id, want[i].ts);
        }
    }
}

static void timeline_newest_first_ties_by_id_descending(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_ties", NULL);
    /* Sent in an order that is neither ascending nor descending by id. */
    static const char ids[5][UUID_LEN + 1] = {
        "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000005",
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000004",
        "00000000-0000-4000-8000-000000000003",
    };
    static const char *const times[5] = {
        "2026-11-20T10:00:00.000000Z", "2026-11-20T10:00:00.000000Z", "2026-11-21T08:00:00.000000Z",
        "2026-11-20T10:00:00.000000Z", "2026-11-20T09:59:59.999999Z",
    };
    char data[2048];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(data + n, sizeof(data) - n,
                              "{\"id\":\"%s\",\"source\":\"t\",\"channel\":\"sms\",\"occurred_at\":"
                              "\"%s\",\"customer\":{\"phone\":\"09120000005\"}}\n",
                              ids[i], times[i]);
    }
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL, data, 5, NULL, cust);
    static const struct entry want[5] = {
        {"2026-11-21T08:00:00.000000Z", "00000000-0000-4000-8000-000000000001"},
        {"2026-11-20T10:00:00.000000Z", "00000000-0000-4000-8000-000000000005"},
        {"2026-11-20T10:00:00.000000Z", "00000000-0000-4000-8000-000000000004"},
        {"2026-11-20T10:00:00.000000Z", "00000000-0000-4000-8000-000000000002"},
        {"2026-11-20T09:59:59.999999Z", "00000000-0000-4000-8000-000000000003"},
    };
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", cust[0]);
    json_t *t = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(t, "customer_id")), cust[0]);
    assert_items(json_object_get(t, "items"), want, 5, "timeline");
    json_t *next = json_object_get(t, "next_cursor");
    assert_non_null(next);
    assert_true(json_is_null(next));
    json_decref(t);
    /* Pages of two cut through the tie and still give each entry once, in order. */
    char cursor[128] = "";
    for (int page = 0; page < 3; page++) {
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=2%s%s", cust[0],
                 cursor[0] != '\0' ? "&before=" : "", cursor);
        t = get_json(&d, path, 200);
        size_t count = page < 2 ? 2 : 1;
        assert_items(json_object_get(t, "items"), want + page * 2, count, path);
        const char *c = json_string_value(json_object_get(t, "next_cursor"));
        if (page < 2) {
            assert_non_null(c);
            snprintf(cursor, sizeof(cursor), "%s", c);
        } else {
            assert_true(json_is_null(json_object_get(t, "next_cursor")));
        }
        json_decref(t);
    }
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * 1 200 entries in 400 groups of three sharing a timestamp, the oldest 100 groups before
 * 1970, all with fractions of a second: pages of 50 end inside ties, and the last cursors
 * point before the epoch. Every entry comes exactly once, in order.
 */
static void timeline_paging_returns_each_entry_once(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_paging", NULL);
    enum { N = 1200, LIMIT = 50, PAGES = N / LIMIT };
    struct entry *want = calloc(N, sizeof(*want));
    char(*ids)[UUID_LEN + 1] = calloc(N, sizeof(*ids));
    char(*cust)[UUID_LEN + 1] = calloc(N, sizeof(*cust));
    size_t cap = (size_t)N * 256, n = 0;
    char *data = malloc(cap);
    assert_non_null(want);
    assert_non_null(ids);
    assert_non_null(cust);
    assert_non_null(data);
    for (int i = 0; i < N; i++) {
        int g = i / 3;
        if (g < 300) {
            snprintf(want[i].ts, sizeof(want[i].ts), "2026-11-%02dT%02d:00:00.%06dZ", 28 - g / 24,
                     23 - g % 24, 123456 + g);
        } else {
            int k = g - 300;
            snprintf(want[i].ts, sizeof(want[i].ts), "1969-12-31T23:%02d:%02d.%06dZ", 59 - k / 10,
                     59 - (k % 10) * 5, 250000 + g);
        }
        /* Sent oldest first, so that insertion order is no help. */
        n += (size_t)snprintf(data + n, cap - n,
                              "{\"source\":\"p\",\"external_id\":\"page-%d\",\"channel\":\"%s\","
                              "\"occurred_at\":\"%s\",\"customer\":{\"phone\":\"09120000001\"}}\n",
                              N - 1 - i, i % 2 == 0 ? "sms" : "phone", want[i].ts);
    }
    ingest(&d, NULL, data, N, ids, cust);
    for (int i = 0; i < N; i++) {
        memcpy(want[i].id, ids[i], UUID_LEN + 1);
        assert_string_equal(cust[i], cust[0]);
    }
    qsort(want, N, sizeof(*want), entry_cmp);
    char path[256], cursor[128] = "";
    int pages = 0;
    size_t seen = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=%d%s%s", cust[0], LIMIT,
                 cursor[0] != '\0' ? "&before=" : "", cursor);
        json_t *t = get_json(&d, path, 200);
        size_t count = N - seen < LIMIT ? N - seen : LIMIT;
        assert_items(json_object_get(t, "items"), want + seen, count, path);
        seen += count;
        pages++;
        json_t *next = json_object_get(t, "next_cursor");
        assert_non_null(next);
        if (json_is_null(next)) {
            json_decref(t);
            break;
        }
        assert_true(json_is_string(next));
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(t);
        assert_true(pages < PAGES);
    }
    assert_int_equal(pages, PAGES);
    assert_int_equal(seen, N);
    /* One page of everything gives the same order. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=500", cust[0]);
    json_t *t = get_json(&d, path, 200);
    assert_items(json_object_get(t, "items"), want, 500, "limit=500");
    assert_true(json_is_string(json_object_get(t, "next_cursor")));
    json_decref(t);
    /* Without a limit: 50 entries. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", cust[0]);
    t = get_json(&d, path, 200);
    assert_items(json_object_get(t, "items"), want, 50, "default limit");
    assert_true(json_is_string(json_object_get(t, "next_cursor")));
    json_decref(t);
    free(data);
    free(cust);
    free(ids);
    free(want);
    assert_int_equal(harness_stop(&d), 0);
}

static void timeline_channel_since_until(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_filters", NULL);
    /* One record per hour 00..09 on 2026-11-20, channels cycling sms, phone, email. */
    static const char *const channels[3] = {"sms", "phone", "email"};
    enum { N = 10 };
    char data[N * 256];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        n += (size_t)snprintf(data + n, sizeof(data) - n,
                              "{\"source\":\"f\",\"external_id\":\"%d\",\"channel\":\"%s\","
                              "\"occurred_at\":\"2026-11-20T%02d:00:00Z\",\"customer\":{\"email\":"
                              "\"filter@example.com\"}}\n",
                              i, channels[i % 3], i);
    }
    /* And a record with every optional field, to check what an item carries. */
    n += (size_t)snprintf(
        data + n, sizeof(data) - n, "%s",
        "{\"id\":\"00000000-0000-4000-8000-0000000000aa\",\"source\":\"pbx-1\",\"external_id\":"
        "\"call-1\",\"channel\":\"phone\",\"direction\":\"outbound\",\"occurred_at\":"
        "\"2026-11-19T12:00:00.25+01:00\",\"customer\":{\"email\":\"filter@example.com\"},"
        "\"agent\":\"ali\",\"status\":\"answered\",\"duration_s\":42,\"subject\":\"refund\","
        "\"body\":\"خرید\",\"thread\":\"T-9\",\"stage\":\"post_purchase\",\"sentiment\":"
        "\"positive\",\"score\":9,\"tags\":[\"vip\",\"re,fund {x}\",\"q\\\"t\\\\s\",\"NULL\"],"
        "\"attributes\":{\"queue\":\"q1\","
        "\"n\":[1,null]}}\n");
    char ids[N + 1][UUID_LEN + 1], cust[N + 1][UUID_LEN + 1];
    ingest(&d, NULL, data, N + 1, ids, cust);
    char path[512];
    /* channel=sms: records 9, 6, 3, 0. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?channel=sms", cust[0]);
    json_t *t = get_json(&d, path, 200);
    json_t *items = json_object_get(t, "items");
    assert_int_equal(json_array_size(items), 4);
    static const int sms[4] = {9, 6, 3, 0};
    for (size_t i = 0; i < 4; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(it, "id")), ids[sms[i]]);
        assert_string_equal(json_string_value(json_object_get(it, "channel")), "sms");
    }
    json_decref(t);
    /* since 03:00 inclusive, until 07:00 exclusive: records 6, 5, 4, 3. */
    snprintf(path, sizeof(path),
             "/v1/customers/%s/timeline?since=2026-11-20T03:00:00Z&until=2026-11-20T07:00:00Z",
             cust[0]);
    t = get_json(&d, path, 200);
    items = json_object_get(t, "items");
    assert_int_equal(json_array_size(items), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, i), "id")),
                            ids[6 - i]);
    }
    json_decref(t);
    /* The same bounds written with an offset, and a channel on top: of 3..6 only 4 is a
     * phone call. */
    snprintf(path, sizeof(path),
             "/v1/customers/%s/timeline?channel=phone&since=2026-11-20T06:30:00%%2B03:30"
             "&until=2026-11-20T10:30:00%%2B03:30",
             cust[0]);
    t = get_json(&d, path, 200);
    items = json_object_get(t, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[4]);
    json_decref(t);
    /* until equal to since: nothing. */
    snprintf(path, sizeof(path),
             "/v1/customers/%s/timeline?since=2026-11-20T03:00:00Z&until=2026-11-20T03:00:00Z",
             cust[0]);
    t = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 0);
    assert_true(json_is_null(json_object_get(t, "next_cursor")));
    json_decref(t);
    /* The full record, oldest of all, as the timeline shows it. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline?until=2026-11-20T00:00:00Z", cust[0]);
    t = get_json(&d, path, 200);
    items = json_object_get(t, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *want = json_loads(
        "{\"id\":\"00000000-0000-4000-8000-0000000000aa\",\"source\":\"pbx-1\",\"external_id\":"
        "\"call-1\",\"channel\":\"phone\",\"direction\":\"outbound\",\"occurred_at\":"
        "\"2026-11-19T11:00:00.250000Z\",\"agent\":\"ali\",\"status\":\"answered\","
        "\"duration_s\":42,\"subject\":\"refund\",\"body\":\"خرید\",\"thread\":\"T-9\","
        "\"stage\":\"post_purchase\",\"sentiment\":\"positive\",\"score\":9,\"tags\":[\"vip\","
        "\"re,fund "
        "{x}\",\"q\\\"t\\\\s\",\"NULL\"],\"attributes\":{\"queue\":\"q1\",\"n\":[1,null]}}",
        0, NULL);
    assert_non_null(want);
    assert_json_equal(json_array_get(items, 0), want, "full item");
    json_decref(want);
    json_decref(t);
    assert_int_equal(harness_stop(&d), 0);
}

static void merged_away_id_answers_survivor(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_merged", NULL);
    char ids[3][UUID_LEN + 1], cust[3][UUID_LEN + 1];
    ingest(&d, NULL,
           "{\"source\":\"m\",\"external_id\":\"1\",\"channel\":\"phone\",\"occurred_at\":"
           "\"2026-11-01T10:00:00Z\",\"customer\":{\"phone\":\"09125550001\"}}\n",
           1, ids, cust);
    ingest(&d, NULL,
           "{\"source\":\"m\",\"external_id\":\"2\",\"channel\":\"email\",\"occurred_at\":"
           "\"2026-11-02T10:00:00Z\",\"customer\":{\"email\":\"merge@example.com\"}}\n",
           1, ids + 1, cust + 1);
    assert_string_not_equal(cust[0], cust[1]);
    ingest(&d, NULL,
           "{\"source\":\"m\",\"external_id\":\"3\",\"channel\":\"chat\",\"occurred_at\":"
           "\"2026-11-03T10:00:00Z\",\"customer\":{\"phone\":\"+989125550001\",\"email\":"
           "\"merge@example.com\"}}\n",
           1, ids + 2, cust + 2);
    /* Merged into the one created first. */
    const char *survivor = cust[0], *old = cust[1];
    assert_string_equal(cust[2], survivor);
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s", old);
    json_t *p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), survivor);
    json_t *merged = json_object_get(p, "merged_ids");
    assert_int_equal(json_array_size(merged), 1);
    assert_string_equal(json_string_value(json_array_get(merged, 0)), old);
    assert_int_equal(json_integer_value(json_object_get(p, "interactions")), 3);
    assert_int_equal(json_array_size(json_object_get(p, "identities")), 2);
    snprintf(path, sizeof(path), "/v1/customers/%s", survivor);
    json_t *sp = get_json(&d, path, 200);
    assert_json_equal(p, sp, "profile of the merged-away id");
    json_decref(sp);
    json_decref(p);
    p = get_json(&d, "/v1/customers?email=merge@example.com", 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), survivor);
    json_decref(p);
    /* The merged-away id's timeline is the survivor's, all three records. */
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", old);
    json_t *t = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(t, "customer_id")), survivor);
    json_t *items = json_object_get(t, "items");
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, i), "id")),
                            ids[2 - i]);
    }
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", survivor);
    json_t *st = get_json(&d, path, 200);
    assert_json_equal(t, st, "timeline of the merged-away id");
    json_decref(st);
    json_decref(t);
    assert_int_equal(harness_stop(&d), 0);
}

static bool array_has_string(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) {
            return true;
        }
    }
    return false;
}

/* Z merged into Y, then Y into X: Z answers X, and X lists both as merged away. */
static void merge_chain_answers_final_survivor(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_chain", NULL);
    static const char *const lines[5] = {
        "{\"source\":\"c\",\"external_id\":\"1\",\"channel\":\"phone\",\"occurred_at\":"
        "\"2026-11-01T10:00:00Z\",\"customer\":{\"phone\":\"09125550002\"}}\n",
        "{\"source\":\"c\",\"external_id\":\"2\",\"channel\":\"email\",\"occurred_at\":"
        "\"2026-11-02T10:00:00Z\",\"customer\":{\"email\":\"chain@example.com\"}}\n",
        "{\"source\":\"c\",\"external_id\":\"3\",\"channel\":\"chat\",\"occurred_at\":"
        "\"2026-11-03T10:00:00Z\",\"customer\":{\"chat\":\"telegram:@chain\"}}\n",
        "{\"source\":\"c\",\"external_id\":\"4\",\"channel\":\"chat\",\"occurred_at\":"
        "\"2026-11-04T10:00:00Z\",\"customer\":{\"email\":\"chain@example.com\",\"chat\":"
        "\"telegram:@chain\"}}\n",
        "{\"source\":\"c\",\"external_id\":\"5\",\"channel\":\"sms\",\"occurred_at\":"
        "\"2026-11-05T10:00:00Z\",\"customer\":{\"phone\":\"09125550002\",\"email\":"
        "\"chain@example.com\"}}\n",
    };
    char ids[5][UUID_LEN + 1], cust[5][UUID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        ingest(&d, NULL, lines[i], 1, ids + i, cust + i);
    }
    const char *x = cust[0], *y = cust[1], *z = cust[2];
    assert_string_not_equal(x, y);
    assert_string_not_equal(y, z);
    assert_string_not_equal(x, z);
    assert_string_equal(cust[3], y);
    assert_string_equal(cust[4], x);
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s", x);
    json_t *px = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(px, "id")), x);
    json_t *merged = json_object_get(px, "merged_ids");
    assert_int_equal(json_array_size(merged), 2);
    assert_true(array_has_string(merged, y));
    assert_true(array_has_string(merged, z));
    assert_int_equal(json_integer_value(json_object_get(px, "interactions")), 5);
    assert_int_equal(json_array_size(json_object_get(px, "identities")), 3);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", x);
    json_t *tx = get_json(&d, path, 200);
    assert_int_equal(json_array_size(json_object_get(tx, "items")), 5);
    for (int i = 0; i < 3; i++) {
        const char *id = i == 0 ? x : i == 1 ? y : z;
        snprintf(path, sizeof(path), "/v1/customers/%s", id);
        json_t *p = get_json(&d, path, 200);
        assert_json_equal(p, px, path);
        json_decref(p);
        snprintf(path, sizeof(path), "/v1/customers/%s/timeline", id);
        json_t *t = get_json(&d, path, 200);
        assert_json_equal(t, tx, path);
        json_decref(t);
    }
    json_decref(tx);
    json_decref(px);
    assert_int_equal(harness_stop(&d), 0);
}

/* The raw response to a GET, head and body, for checking headers. */
static char *raw_get(int port, const char *path)
{
    int fd = harness_connect(port);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(harness_send(fd, req, (size_t)n), 0);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        char *line = harness_read_line(fd, 5000);
        if (line == NULL) {
            break;
        }
        size_t l = strlen(line);
        if (len + l + 2 > cap) {
            cap = (len + l + 2) * 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        memcpy(buf + len, line, l);
        len += l;
        buf[len++] = '\n';
        free(line);
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* "YYYY-MM-DDTHH:MM:SSZ" for now - ago seconds. One now serves a whole test: read again
 * for the expected values, the clock may have passed a second since the records were sent. */
static void ago(time_t now, long ago_s, char out[32])
{
    time_t t = now - ago_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The same time as the API writes it. */
static void ago_api(time_t now, long ago_s, char out[40])
{
    char t[32];
    ago(now, ago_s, t);
    snprintf(out, 40, "%.19s.000000Z", t);
}

/* The external_id of each item of an array of interactions, joined by ',' into out. */
static void external_ids(json_t *items, char *out, size_t outlen)
{
    size_t n = 0;
    json_t *it;
    size_t i;
    out[0] = '\0';
    json_array_foreach(items, i, it)
    {
        const char *x = json_string_value(json_object_get(it, "external_id"));
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i > 0 ? "," : "", x ? x : "?");
        if (n >= outlen) {
            break;
        }
    }
}

/*
 * Layla's history over four weeks and five channels, and what the context says of it: the
 * latest record per channel, which threads are open (the customer spoke last, or nobody
 * tagged it resolved), the latest stage, sentiment and score, and the last seven days.
 */
static void context_of_a_scripted_history(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_context", NULL);
    static const struct {
        const char *xid, *channel, *direction, *thread, *extra;
        long ago_s;
    } script[] = {
        {"e1", "email", "inbound", "T-1", ",\"subject\":\"طلب ٤٥٦\",\"stage\":\"pre_purchase\"",
         10 * 86400},
        {"e2", "email", "outbound", "T-1", ",\"subject\":\"Re: طلب ٤٥٦\",\"tags\":[\"resolved\"]",
         9 * 86400},
        {"w1", "web", "inbound", NULL, ",\"score\":9", 8 * 86400},
        {"e3", "email", "inbound", "T-2", ",\"subject\":\"شكرا\",\"tags\":[\"resolved\"]",
         5 * 86400},
        {"c1", "chat", "inbound", "C-7",
         ",\"body\":\"مرحبا، أريد تتبع طلبي رقم ٤٥٦\",\"sentiment\":\"negative\"", 3 * 86400},
        {"c2", "chat", "outbound", "C-7", "", 3 * 86400 - 60},
        {"p1", "phone", "inbound", NULL,
         ",\"status\":\"answered\",\"stage\":\"purchase\",\"score\":4,\"duration_s\":95",
         2 * 86400},
        {"s1", "sms", "inbound", "S-1", ",\"sentiment\":\"neutral\",\"body\":\"وينك؟\"", 3600},
    };
    enum { N = sizeof(script) / sizeof(script[0]) };
    char data[8192], when[32];
    size_t n = 0;
    time_t now = time(NULL);
    for (int i = 0; i < N; i++) {
        ago(now, script[i].ago_s, when);
        char thread[64] = "";
        if (script[i].thread != NULL) {
            snprintf(thread, sizeof(thread), ",\"thread\":\"%s\"", script[i].thread);
        }
        n += (size_t)snprintf(data + n, sizeof(data) - n,
                              "{\"source\":\"ctx\",\"external_id\":\"%s\",\"channel\":\"%s\","
                              "\"direction\":\"%s\",\"occurred_at\":\"%s\",\"customer\":{"
                              "\"phone\":\"+966 50 123 4567\",\"email\":\"layla@example.com\","
                              "\"name\":\"ليلى العتيبي\"}%s%s}\n",
                              script[i].xid, script[i].channel, script[i].direction, when, thread,
                              script[i].extra);
    }
    char cust[N][UUID_LEN + 1];
    ingest(&d, NULL, data, N, NULL, cust);
    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s/context", cust[0]);
    json_t *c = get_json(&d, path, 200);

    json_t *who = json_object_get(c, "customer");
    assert_string_equal(json_string_value(json_object_get(who, "id")), cust[0]);
    assert_string_equal(json_string_value(json_object_get(who, "name")), "ليلى العتيبي");
    json_t *want_ids = json_loads("[{\"kind\":\"email\",\"value\":\"layla@example.com\"},"
                                  "{\"kind\":\"phone\",\"value\":\"+966501234567\"}]",
                                  0, NULL);
    assert_json_equal(json_object_get(who, "identities"), want_ids, "identities");
    json_decref(want_ids);

    char want[64];
    ago_api(now, 3600, want);
    assert_string_equal(json_string_value(json_object_get(c, "last_contact_at")), want);
    json_int_t since = json_integer_value(json_object_get(c, "seconds_since_last_contact"));
    assert_in_range(since, 3600, 3600 + 30);
    assert_true(is_api_time(json_string_value(json_object_get(c, "now"))));

    char got[256];
    external_ids(json_object_get(c, "last_by_channel"), got, sizeof(got));
    assert_string_equal(got, "s1,p1,c2,e3,w1");
    json_t *chat = json_array_get(json_object_get(c, "last_by_channel"), 2);
    assert_string_equal(json_string_value(json_object_get(chat, "direction")), "outbound");

    /* T-1 was answered and resolved; T-2 is resolved but the customer wrote last. */
    json_t *threads = json_object_get(c, "open_threads");
    assert_int_equal(json_array_size(threads), 3);
    static const struct {
        const char *thread, *channel, *dir, *subject;
        int records;
        long first_ago, last_ago;
    } open[] = {
        {"S-1", "sms", "inbound", NULL, 1, 3600, 3600},
        {"C-7", "chat", "outbound", NULL, 2, 3 * 86400, 3 * 86400 - 60},
        {"T-2", "email", "inbound", "شكرا", 1, 5 * 86400, 5 * 86400},
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *t = json_array_get(threads, i);
        assert_string_equal(json_string_value(json_object_get(t, "thread")), open[i].thread);
        assert_string_equal(json_string_value(json_object_get(t, "channel")), open[i].channel);
        assert_string_equal(json_string_value(json_object_get(t, "last_direction")), open[i].dir);
        assert_int_equal(json_integer_value(json_object_get(t, "records")), open[i].records);
        ago_api(now, open[i].first_ago, want);
        assert_string_equal(json_string_value(json_object_get(t, "first_at")), want);
        ago_api(now, open[i].last_ago, want);
        assert_string_equal(json_string_value(json_object_get(t, "last_at")), want);
        if (open[i].subject != NULL) {
            assert_string_equal(json_string_value(json_object_get(t, "subject")), open[i].subject);
        } else {
            assert_null(json_object_get(t, "subject"));
        }
    }

    static const struct {
        const char *key, *value;
        long ago_s;
    } latest[] = {
        {"stage", "purchase", 2 * 86400},
        {"sentiment", "neutral", 3600},
    };
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(c, latest[i].key);
        assert_string_equal(json_string_value(json_object_get(v, "value")), latest[i].value);
        ago_api(now, latest[i].ago_s, want);
        assert_string_equal(json_string_value(json_object_get(v, "at")), want);
    }
    json_t *score = json_object_get(c, "score");
    assert_int_equal(json_integer_value(json_object_get(score, "value")), 4);
    ago_api(now, 2 * 86400, want);
    assert_string_equal(json_string_value(json_object_get(score, "at")), want);

    /* e3, c1, c2, p1, s1: five records on email, chat, phone and sms. */
    json_t *week = json_object_get(c, "last_7_days");
    assert_int_equal(json_integer_value(json_object_get(week, "contacts")), 5);
    assert_int_equal(json_integer_value(json_object_get(week, "channels")), 4);
    json_decref(c);

    /* A customer without records: nulls and zeros, no made-up values. */
    ingest(&d, NULL,
           "{\"source\":\"ctx\",\"external_id\":\"old\",\"channel\":\"sms\",\"occurred_at\":"
           "\"2020-01-01T00:00:00Z\",\"customer\":{\"phone\":\"+966501110000\"}}\n",
           1, NULL, cust);
    snprintf(path, sizeof(path), "/v1/customers/%s/context", cust[0]);
    c = get_json(&d, path, 200);
    assert_true(json_is_null(json_object_get(c, "stage")));
    assert_true(json_is_null(json_object_get(c, "sentiment")));
    assert_true(json_is_null(json_object_get(c, "score")));
    assert_int_equal(json_array_size(json_object_get(c, "open_threads")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "last_by_channel")), 1);
    week = json_object_get(c, "last_7_days");
    assert_int_equal(json_integer_value(json_object_get(week, "contacts")), 0);
    json_decref(c);

    snprintf(path, sizeof(path), "/v1/customers/%s/context", NO_SUCH_ID);
    assert_get_error(&d, path, 404, "not_found", NO_SUCH_ID);
    assert_get_error(&d, "/v1/customers/not-a-uuid/context", 400, "invalid_request", "customer id");
    snprintf(path, sizeof(path), "/v1/customers/%s/context?limit=3", cust[0]);
    assert_get_error(&d, path, 400, "invalid_request", "no parameters");
    snprintf(path, sizeof(path), "/v1/customers/%s/context", cust[0]);
    assert_http_error(&d, "POST", path, "{}", NULL, 405, "method_not_allowed", "GET");
    assert_int_equal(harness_stop(&d), 0);
}

/* Two customers, one of them merged into the other by hand; every way it can be refused. */
static void merge_by_hand(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_merge", NULL);
    char cust[3][UUID_LEN + 1];
    ingest(&d, NULL,
           "{\"source\":\"m\",\"external_id\":\"1\",\"channel\":\"phone\",\"occurred_at\":"
           "\"2026-11-01T10:00:00Z\",\"customer\":{\"phone\":\"09121234567\",\"name\":\"Ali\"}}\n"
           "{\"source\":\"m\",\"external_id\":\"2\",\"channel\":\"email\",\"occurred_at\":"
           "\"2026-11-02T10:00:00Z\",\"customer\":{\"email\":\"ali@example.com\","
           "\"traits\":{\"vip\":true}}}\n"
           "{\"source\":\"m\",\"external_id\":\"3\",\"channel\":\"sms\",\"occurred_at\":"
           "\"2026-11-03T10:00:00Z\",\"customer\":{\"phone\":\"09127654321\"}}\n",
           3, NULL, cust);
    assert_string_not_equal(cust[0], cust[1]);
    char path[256], body[128];
    /* The newer customer survives when asked to: the URL names the survivor. */
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", cust[1]);
    snprintf(body, sizeof(body), "{\"from\":\"%s\"}", cust[0]);
    json_t *p = request_json(&d, "POST", path, body, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[1]);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "Ali");
    assert_true(json_is_true(json_object_get(json_object_get(p, "traits"), "vip")));
    assert_int_equal(json_integer_value(json_object_get(p, "interactions")), 2);
    assert_int_equal(json_array_size(json_object_get(p, "identities")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "merged_ids"), 0)),
                        cust[0]);
    json_decref(p);

    /* The merged-away id answers the survivor, its timeline too. */
    snprintf(path, sizeof(path), "/v1/customers/%s", cust[0]);
    p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[1]);
    json_decref(p);
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", cust[0]);
    p = get_json(&d, path, 200);
    assert_string_equal(json_string_value(json_object_get(p, "customer_id")), cust[1]);
    char got[64];
    external_ids(json_object_get(p, "items"), got, sizeof(got));
    assert_string_equal(got, "2,1");
    json_decref(p);
    /* New records of the merged-away customer's phone go to the survivor. */
    char after[1][UUID_LEN + 1];
    ingest(&d, NULL,
           "{\"source\":\"m\",\"external_id\":\"4\",\"channel\":\"phone\",\"occurred_at\":"
           "\"2026-11-04T10:00:00Z\",\"customer\":{\"phone\":\"+989121234567\"}}\n",
           1, NULL, after);
    assert_string_equal(after[0], cust[1]);
    PGconn *pg = harness_pg(d.dbname);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.merges WHERE survivor = '%s' AND merged = '%s' "
             "AND reason = 'manual' AND actor = 'anonymous'",
             cust[1], cust[0]);
    assert_int_equal(harness_sql_long(pg, sql), 1);
    PQfinish(pg);

    /* Refusals. */
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", cust[1]);
    assert_http_error(&d, "POST", path, body, NULL, 400, "invalid_request", "already part");
    snprintf(body, sizeof(body), "{\"from\":\"%s\"}", NO_SUCH_ID);
    assert_http_error(&d, "POST", path, body, NULL, 404, "not_found", NO_SUCH_ID);
    assert_http_error(&d, "POST", path, "{\"frm\":\"x\"}", NULL, 400, "invalid_request", "frm");
    assert_http_error(&d, "POST", path, "{\"from\":\"x\"}", NULL, 400, "invalid_request", "from");
    assert_http_error(&d, "POST", path, "{\"from\":7}", NULL, 400, "invalid_request", "from");
    assert_http_error(&d, "POST", path, "[]", NULL, 400, "invalid_request", "body");
    assert_http_error(&d, "POST", path, "{\"from\":", NULL, 400, "invalid_request", "JSON");
    assert_http_error(&d, "POST", path, NULL, NULL, 400, "invalid_request", "body");
    assert_http_error(&d, "GET", path, NULL, NULL, 405, "method_not_allowed", "POST");
    snprintf(body, sizeof(body), "{\"from\":\"%s\"}", cust[2]);
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", NO_SUCH_ID);
    assert_http_error(&d, "POST", path, body, NULL, 404, "not_found", NO_SUCH_ID);
    assert_http_error(&d, "POST", "/v1/customers/nope/merge", body, NULL, 400, "invalid_request",
                      "customer id");
    assert_int_equal(harness_stop(&d), 0);
}

/* Rows of any table of the touchline schema whose text contains any of the needles. */
static long rows_mentioning(PGconn *pg, const char *const *needles, int n)
{
    PGresult *r = PQexec(pg, "SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = 'touchline' AND table_type = 'BASE TABLE'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 5);
    long total = 0;
    for (int t = 0; t < PQntuples(r); t++) {
        for (int i = 0; i < n; i++) {
            const char *params[] = {needles[i]};
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM touchline.%s x "
                     "WHERE strpos(lower(row_to_json(x)::text), lower($1)) > 0",
                     PQgetvalue(r, t, 0));
            PGresult *c = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
            assert_int_equal(PQresultStatus(c), PGRES_TUPLES_OK);
            total += atol(PQgetvalue(c, 0, 0));
            PQclear(c);
        }
    }
    PQclear(r);
    return total;
}

/*
 * Erasing a person who was merged from two customers: no row of theirs stays in any table
 * (ids, identifiers, names, content), one audit row says what was removed without saying
 * who, and everyone else is untouched.
 */
static void erase_leaves_no_trace(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_erase", NULL);
    char cust[5][UUID_LEN + 1];
    ingest(&d, NULL,
           "{\"source\":\"e\",\"external_id\":\"1\",\"channel\":\"phone\",\"occurred_at\":"
           "\"2026-11-01T10:00:00Z\",\"customer\":{\"phone\":\"09121234567\","
           "\"name\":\"نرگس\"}}\n"
           "{\"source\":\"e\",\"external_id\":\"2\",\"channel\":\"email\",\"occurred_at\":"
           "\"2026-11-02T10:00:00Z\",\"customer\":{\"email\":\"narges@example.com\"},"
           "\"body\":\"secret-content-xyz\"}\n",
           2, NULL, cust);
    /* Then, once they are two customers, a record joining them and someone else's. */
    ingest(&d, NULL,
           "{\"source\":\"e\",\"external_id\":\"3\",\"channel\":\"chat\",\"occurred_at\":"
           "\"2026-11-03T10:00:00Z\",\"customer\":{\"email\":\"narges@example.com\","
           "\"phone\":\"+989121234567\",\"chat\":\"telegram:@narges\"}}\n"
           "{\"source\":\"e\",\"external_id\":\"4\",\"channel\":\"sms\",\"occurred_at\":"
           "\"2026-11-03T11:00:00Z\",\"customer\":{\"phone\":\"09120000000\"}}\n",
           2, NULL, cust + 2);
    assert_string_not_equal(cust[0], cust[1]);
    char merged_away[UUID_LEN + 1], other[UUID_LEN + 1];
    snprintf(merged_away, sizeof(merged_away), "%s",
             strcmp(cust[0], cust[1]) < 0 ? cust[1] : cust[0]);
    snprintf(other, sizeof(other), "%s", cust[3]);
    const char *needles[] = {cust[0],   cust[1], "+989121234567",     "narges@example.com",
                             "@narges", "نرگس",  "secret-content-xyz"};
    PGconn *pg = harness_pg(d.dbname);
    assert_true(rows_mentioning(pg, needles, 7) > 0);

    char path[256];
    snprintf(path, sizeof(path), "/v1/customers/%s", merged_away);
    json_t *e = request_json(&d, "DELETE", path, NULL, NULL, 200);
    assert_true(json_is_true(json_object_get(e, "erased")));
    assert_int_equal(json_integer_value(json_object_get(e, "customers")), 2);
    assert_int_equal(json_integer_value(json_object_get(e, "identities")), 3);
    assert_int_equal(json_integer_value(json_object_get(e, "interactions")), 3);
    json_int_t audit = json_integer_value(json_object_get(e, "erasure_id"));
    json_decref(e);

    assert_int_equal(rows_mentioning(pg, needles, 7), 0);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.erasures WHERE id = %lld AND customers = 2 AND "
             "identities = 3 AND interactions = 3 AND merges = 1 AND actor = 'anonymous'",
             (long long)audit);
    assert_int_equal(harness_sql_long(pg, sql), 1);
    /* Everyone else is still there. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM touchline.interactions WHERE customer_id = '%s'", other);
    assert_int_equal(harness_sql_long(pg, sql), 1);
    PQfinish(pg);

    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/customers/%s", cust[i]);
        assert_get_error(&d, path, 404, "not_found", cust[i]);
        assert_http_error(&d, "DELETE", path, NULL, NULL, 404, "not_found", cust[i]);
    }
    assert_get_error(&d, "/v1/customers?phone=09121234567", 404, "not_found", NULL);
    snprintf(path, sizeof(path), "/v1/customers/%s", other);
    json_t *p = get_json(&d, path, 200);
    json_decref(p);
    /* The person writing again is a new customer. */
    char again[1][UUID_LEN + 1];
    ingest(&d, NULL,
           "{\"source\":\"e\",\"external_id\":\"5\",\"channel\":\"sms\",\"occurred_at\":"
           "\"2026-11-05T10:00:00Z\",\"customer\":{\"phone\":\"09121234567\"}}\n",
           1, NULL, again);
    assert_string_not_equal(again[0], cust[0]);
    assert_string_not_equal(again[0], cust[1]);
    assert_http_error(&d, "DELETE", "/v1/customers/nope", NULL, NULL, 400, "invalid_request",
                      "customer id");
    snprintf(path, sizeof(path), "/v1/customers/%s/timeline", other);
    assert_http_error(&d, "DELETE", path, NULL, NULL, 405, "method_not_allowed", "GET");
    assert_int_equal(harness_stop(&d), 0);
}

static void health_ready_unknown_path_and_method(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "http_health", NULL);
    json_t *h = get_json(&d, "/healthz", 200);
    json_t *want = json_loads("{\"status\":\"ok\"}", 0, NULL);
    assert_json_equal(h, want, "/healthz");
    json_decref(want);
    json_decref(h);
    h = get_json(&d, "/readyz", 200);
    assert_true(json_is_true(json_object_get(h, "ready")));
    json_decref(h);
    char *raw = raw_get(d.http_port, "/healthz");
    if (strncmp(raw, "HTTP/1.1 200", 12) != 0 ||
        strstr(raw, "Content-Type: application/json") == NULL) {
        fail_msg("/healthz: not a 200 with Content-Type application/json:\n%s", raw);
    }
    free(raw);
    assert_get_error(&d, "/v1/nothing", 404, "not_found", NULL);
    /* "/" is the web console's page (test_console); "/v1" alone is no endpoint. */
    assert_get_error(&d, "/v1", 404, "not_found", NULL);
    assert_get_error(&d, "/v1/customersx", 404, "not_found", NULL);
    char path[160];
    snprintf(path, sizeof(path), "/v1/customers/%s/nothing", NO_SUCH_ID);
    assert_get_error(&d, path, 404, "not_found", NULL);
    assert_http_error(&d, "POST", "/v1/customers", NULL, NULL, 405, NULL, NULL);
    assert_int_equal(harness_stop(&d), 0);
}

static void bearer_and_basic_authentication(void **state)
{
    (void)state;
    const char *env[] = {"TOUCHLINE_AUTH_TOKENS=reader:reader-token-1", NULL};
    struct harness_daemon d;
    harness_start(&d, "http_auth", env);
    char cust[1][UUID_LEN + 1];
    ingest(&d, "{\"auth\":\"reader-token-1\"}",
           "{\"source\":\"a\",\"channel\":\"sms\",\"occurred_at\":\"2026-11-20T10:00:00Z\","
           "\"customer\":{\"phone\":\"09121112233\"}}\n",
           1, NULL, cust);
    const char *path = "/v1/customers?phone=09121112233";
    assert_http_error(&d, "GET", path, NULL, NULL, 401, "unauthorized", NULL);
    assert_http_error(&d, "GET", path, NULL, "Authorization: Bearer wrong-token-9\r\n", 401,
                      "unauthorized", NULL);
    assert_http_error(&d, "GET", path, NULL, "Authorization: Bearer \r\n", 401, "unauthorized",
                      NULL);
    /* base64("wrong-token-9:") */
    assert_http_error(&d, "GET", path, NULL, "Authorization: Basic d3JvbmctdG9rZW4tOTo=\r\n", 401,
                      "unauthorized", NULL);
    json_t *p = get_json_h(&d, path, "Authorization: Bearer reader-token-1\r\n", 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[0]);
    json_decref(p);
    /* base64("reader-token-1:") */
    p = get_json_h(&d, path, "Authorization: Basic cmVhZGVyLXRva2VuLTE6\r\n", 200);
    assert_string_equal(json_string_value(json_object_get(p, "id")), cust[0]);
    json_decref(p);
    char tl[160];
    snprintf(tl, sizeof(tl), "/v1/customers/%s/timeline", cust[0]);
    assert_http_error(&d, "GET", tl, NULL, NULL, 401, "unauthorized", NULL);
    json_t *t = get_json_h(&d, tl, "Authorization: Bearer reader-token-1\r\n", 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 1);
    json_decref(t);
    json_t *h = get_json(&d, "/healthz", 200);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);
    assert_false(harness_log_contains(&d, "wrong-token-9"));
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_by_every_identifier_kind),
        cmocka_unit_test(profile_fields),
        cmocka_unit_test(unknown_identifier_and_id_are_404),
        cmocka_unit_test(bad_requests_are_400),
        cmocka_unit_test(non_ascii_bad_values_are_400),
        cmocka_unit_test(timeline_newest_first_ties_by_id_descending),
        cmocka_unit_test(timeline_paging_returns_each_entry_once),
        cmocka_unit_test(timeline_channel_since_until),
        cmocka_unit_test(merged_away_id_answers_survivor),
        cmocka_unit_test(merge_chain_answers_final_survivor),
        cmocka_unit_test(context_of_a_scripted_history),
        cmocka_unit_test(merge_by_hand),
        cmocka_unit_test(erase_leaves_no_trace),
        cmocka_unit_test(health_ready_unknown_path_and_method),
        cmocka_unit_test(bearer_and_basic_authentication),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
