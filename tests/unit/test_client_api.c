/*
 * The client's view of the customer API, against a fake server: the exact requests for a
 * lookup, for each timeline page, for the context, a merge and an erasure; paging by
 * next_cursor up to --limit, a server that sends more than asked or a cursor that does not
 * move; and error answers (404, 400, 5xx, not JSON) turned into results and the server's own
 * message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fake_http.h"
#include "testmain.h"

#define ID "01a204c2-159b-79d9-9586-9df2cd800a8a"

/* "HTTP/1.1 <status>" with body as JSON; the buffer is static per slot. */
static const char *answer(int slot, int status, const char *body)
{
    static char buf[FAKE_HTTP_MAX][2048];
    snprintf(buf[slot], sizeof(buf[slot]),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             status, strlen(body), body);
    return buf[slot];
}

static void client_for(const struct fake_http *f, struct http_client *c)
{
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    assert_int_equal(http_client_init(c, url, NULL, 5000, err, sizeof(err)), 0);
}

/* The request line of what the server received. */
static void expect_request_line(const char *req, const char *want)
{
    assert_non_null(req);
    const char *eol = strstr(req, "\r\n");
    assert_non_null(eol);
    if ((size_t)(eol - req) != strlen(want) || memcmp(req, want, strlen(want)) != 0) {
        fail_msg("request line \"%.*s\", want \"%s\"", (int)(eol - req), req, want);
    }
}

static void find_customer_by_persian_phone(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {answer(0, 200, "{\"id\":\"" ID "\",\"name\":\"سارا کریمی\"}")};
    assert_int_equal(fake_http_start(&f, answers, 1, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *customer = NULL;
    char err[256] = "";
    assert_int_equal(api_find_customer(&c, "phone", "۰۹۱۲ ۳۴۵", &customer, err, sizeof(err)),
                     API_OK);
    fake_http_stop(&f);
    expect_request_line(f.requests[0],
                        "GET /v1/customers?phone=%DB%B0%DB%B9%DB%B1%DB%B2%20%DB%B3%DB%B4%DB%B5 "
                        "HTTP/1.1");
    assert_string_equal(json_string_value(json_object_get(customer, "name")), "سارا کریمی");
    json_decref(customer);
    fake_http_free(&f);
}

static void error_answers_become_results(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 404,
               "{\"error\":{\"code\":\"not_found\",\"message\":\"no customer with phone "
               "+989123456789\"}}"),
        answer(1, 400, "{\"error\":{\"code\":\"invalid_request\",\"message\":\"phone: bad\"}}"),
        answer(2, 401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"unknown token\"}}"),
        answer(3, 502, "<html>\n<b>Bad Gateway</b></html>"),
        answer(4, 200, "[1,2]"),
        answer(5, 200, "not json"),
    };
    assert_int_equal(fake_http_start(&f, answers, 6, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *customer = NULL;
    char err[256] = "";
    assert_int_equal(api_find_customer(&c, "phone", "09123456789", &customer, err, sizeof(err)),
                     API_NOT_FOUND);
    assert_string_equal(err, "no customer with phone +989123456789");
    assert_null(customer);
    assert_int_equal(api_find_customer(&c, "phone", "12", &customer, err, sizeof(err)),
                     API_INVALID);
    assert_string_equal(err, "phone: bad");
    assert_int_equal(api_get_customer(&c, ID, &customer, err, sizeof(err)), API_FAILED);
    assert_string_equal(err, "the server answered 401: unknown token");
    assert_int_equal(api_get_customer(&c, ID, &customer, err, sizeof(err)), API_FAILED);
    char want[128];
    snprintf(want, sizeof(want), "127.0.0.1:%d answered 502: <html> <b>Bad Gateway</b></html>",
             f.port);
    assert_string_equal(err, want);
    assert_int_equal(api_get_customer(&c, ID, &customer, err, sizeof(err)), API_FAILED);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(api_get_customer(&c, ID, &customer, err, sizeof(err)), API_FAILED);
    assert_non_null(strstr(err, "not a JSON object: "));
    assert_null(customer);
    fake_http_stop(&f);
    expect_request_line(f.requests[2], "GET /v1/customers/" ID " HTTP/1.1");
    fake_http_free(&f);
}

struct seen {
    size_t pages;
    size_t items;
    char ids[16][8];
};

static int remember(const json_t *items, void *arg)
{
    struct seen *s = arg;
    size_t i;
    const json_t *it;
    s->pages++;
    json_array_foreach(items, i, it)
    {
        assert_true(s->items < 16);
        snprintf(s->ids[s->items++], 8, "%s", json_string_value(json_object_get(it, "id")));
    }
    return 0;
}

static void timeline_pages_up_to_the_limit(void **state)
{
    (void)state;
    struct fake_http f;
    /* Page 2 sends three items although one was asked for: only one is shown. */
    const char *answers[] = {
        answer(0, 200, "{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"next_cursor\":\"c/1=\"}"),
        answer(1, 200,
               "{\"items\":[{\"id\":\"c\"},{\"id\":\"d\"},{\"id\":\"e\"}],\"next_cursor\":\"c2\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 2, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    struct api_timeline_query q = {
        .channel = "sms", .since = "2026-11-01T00:00:00+03:30", .until = NULL, .max = 3};
    struct seen s = {0};
    char err[256] = "";
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_OK);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "GET /v1/customers/" ID "/timeline?limit=3&channel=sms"
                                       "&since=2026-11-01T00%3A00%3A00%2B03%3A30 HTTP/1.1");
    expect_request_line(f.requests[1], "GET /v1/customers/" ID "/timeline?limit=1&channel=sms"
                                       "&since=2026-11-01T00%3A00%3A00%2B03%3A30&before=c%2F1%3D "
                                       "HTTP/1.1");
    assert_int_equal(s.pages, 2);
    assert_int_equal(s.items, 3);
    assert_string_equal(s.ids[0], "a");
    assert_string_equal(s.ids[1], "b");
    assert_string_equal(s.ids[2], "c");
    fake_http_free(&f);
}

static void timeline_all_stops_at_the_last_page(void **state)
{
    (void)state;
    struct fake_http f;
    /* The third page repeats the cursor: no fourth request, though it names one. */
    const char *answers[] = {
        answer(0, 200, "{\"items\":[{\"id\":\"a\"}],\"next_cursor\":\"k1\"}"),
        answer(1, 200, "{\"items\":[{\"id\":\"b\"}],\"next_cursor\":\"k2\"}"),
        answer(2, 200, "{\"items\":[{\"id\":\"c\"}],\"next_cursor\":\"k2\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 3, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    struct api_timeline_query q = {.max = 0};
    struct seen s = {0};
    char err[256] = "";
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_OK);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "GET /v1/customers/" ID "/timeline?limit=500 HTTP/1.1");
    expect_request_line(f.requests[2],
                        "GET /v1/customers/" ID "/timeline?limit=500&before=k2 HTTP/1.1");
    assert_int_equal(s.items, 3);
    assert_int_equal(f.served, 3);
    fake_http_free(&f);
}

static void timeline_null_cursor_and_empty_page_end_it(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200, "{\"items\":[{\"id\":\"a\"}],\"next_cursor\":null}"),
        answer(1, 200, "{\"items\":[],\"next_cursor\":\"more\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 2, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    struct api_timeline_query q = {.max = 50};
    struct seen s = {0};
    char err[256] = "";
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_OK);
    assert_int_equal(s.items, 1);
    assert_int_equal(s.pages, 1);
    /* A page without items, though it names a cursor, ends the paging too. */
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_OK);
    assert_int_equal(s.pages, 2);
    assert_int_equal(s.items, 1);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "GET /v1/customers/" ID "/timeline?limit=50 HTTP/1.1");
    fake_http_free(&f);
}

/* --before starts after a cursor; when --limit stops the paging, the cursor to read on with
 * comes back, and none when the last page was shown or the server sent more than asked. */
static void timeline_before_and_the_cursor_to_read_on(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200, "{\"items\":[{\"id\":\"c\"},{\"id\":\"d\"}],\"next_cursor\":\"k2\"}"),
        answer(1, 200, "{\"items\":[{\"id\":\"e\"}],\"next_cursor\":null}"),
        answer(2, 200, "{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"next_cursor\":\"k9\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 3, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    struct api_timeline_query q = {.before = "k1", .max = 2};
    struct seen s = {0};
    char err[256] = "", *next = NULL;
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, &next, err, sizeof(err)), API_OK);
    assert_string_equal(next, "k2");
    assert_int_equal(s.items, 2);
    free(next);
    q.before = "k2";
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, &next, err, sizeof(err)), API_OK);
    assert_null(next);
    assert_int_equal(s.items, 3);
    /* Two items sent (one was asked for: a server that ignores the limit): the cursor it names is
     * past an item not shown, so none comes back. */
    q.before = NULL;
    q.max = 1;
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, &next, err, sizeof(err)), API_OK);
    assert_null(next);
    assert_int_equal(s.items, 4);
    fake_http_stop(&f);
    expect_request_line(f.requests[0],
                        "GET /v1/customers/" ID "/timeline?limit=2&before=k1 HTTP/1.1");
    expect_request_line(f.requests[1],
                        "GET /v1/customers/" ID "/timeline?limit=2&before=k2 HTTP/1.1");
    expect_request_line(f.requests[2], "GET /v1/customers/" ID "/timeline?limit=1 HTTP/1.1");
    fake_http_free(&f);
}

static int refuse(const json_t *items, void *arg)
{
    (void)items;
    (void)arg;
    return -42;
}

static void timeline_errors(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200, "{\"next_cursor\":null}"),
        answer(1, 200, "{\"items\":[],\"next_cursor\":5}"),
        answer(2, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no customer " ID "\"}}"),
        answer(3, 200, "{\"items\":[{\"id\":\"a\"}],\"next_cursor\":\"n\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 4, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    struct api_timeline_query q = {.max = 10};
    struct seen s = {0};
    char err[256] = "";
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_FAILED);
    assert_non_null(strstr(err, "without an items array"));
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_FAILED);
    assert_int_equal(api_timeline(&c, ID, &q, remember, &s, NULL, err, sizeof(err)), API_NOT_FOUND);
    assert_string_equal(err, "no customer " ID);
    /* What the callback returns stops the paging and comes back. */
    assert_int_equal(api_timeline(&c, ID, &q, refuse, NULL, NULL, err, sizeof(err)), -42);
    assert_int_equal(s.items, 0);
    fake_http_stop(&f);
    assert_int_equal(f.served, 4);
    fake_http_free(&f);
}

/* The body of what the server received (after the blank line). */
static const char *request_body(const char *req)
{
    assert_non_null(req);
    const char *b = strstr(req, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void lookup_by_id_or_by_identifier(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200, "{\"id\":\"" ID "\"}"),
        answer(1, 200, "{\"id\":\"" ID "\"}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 2, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *customer = NULL;
    char err[256] = "";
    assert_int_equal(api_lookup(&c, "customer", ID, &customer, err, sizeof(err)), API_OK);
    json_decref(customer);
    assert_int_equal(api_lookup(&c, "external", "shop:55 120", &customer, err, sizeof(err)),
                     API_OK);
    json_decref(customer);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "GET /v1/customers/" ID " HTTP/1.1");
    expect_request_line(f.requests[1], "GET /v1/customers?external=shop%3A55%20120 HTTP/1.1");
    fake_http_free(&f);
}

static void context_request_and_answer(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200,
               "{\"customer\":{\"id\":\"" ID "\",\"name\":\"سارا کریمی\"},"
               "\"seconds_since_last_contact\":300,\"open_threads\":[]}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 1, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *ctx = NULL;
    char err[256] = "";
    assert_int_equal(api_context(&c, ID, &ctx, err, sizeof(err)), API_OK);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "GET /v1/customers/" ID "/context HTTP/1.1");
    assert_int_equal(json_integer_value(json_object_get(ctx, "seconds_since_last_contact")), 300);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ctx, "customer"), "name")), "سارا کریمی");
    json_decref(ctx);
    fake_http_free(&f);
}

static void merge_posts_from_as_json(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200, "{\"id\":\"" ID "\",\"merged_ids\":[\"m1\"]}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 1, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *survivor = NULL;
    char err[256] = "";
    /* A quote in the id cannot break the body out of its string. */
    assert_int_equal(api_merge(&c, ID, "m1\",\"x\":\"", &survivor, err, sizeof(err)), API_OK);
    fake_http_stop(&f);
    expect_request_line(f.requests[0], "POST /v1/customers/" ID "/merge HTTP/1.1");
    assert_non_null(strstr(f.requests[0], "\r\nContent-Type: application/json\r\n"));
    assert_string_equal(request_body(f.requests[0]), "{\"from\":\"m1\\\",\\\"x\\\":\\\"\"}");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(survivor, "merged_ids"), 0)), "m1");
    json_decref(survivor);
    fake_http_free(&f);
}

static void erase_sends_delete(void **state)
{
    (void)state;
    struct fake_http f;
    const char *answers[] = {
        answer(0, 200,
               "{\"erased\":true,\"erasure_id\":12,\"customers\":2,\"identities\":3,"
               "\"interactions\":41}"),
    };
    assert_int_equal(fake_http_start(&f, answers, 1, 0), 0);
    struct http_client c;
    client_for(&f, &c);
    json_t *erasure = NULL;
    char err[256] = "";
    assert_int_equal(api_erase(&c, "a/b", &erasure, err, sizeof(err)), API_OK);
    fake_http_stop(&f);
    /* The id is one path segment: a slash in it cannot reach another endpoint. */
    expect_request_line(f.requests[0], "DELETE /v1/customers/a%2Fb HTTP/1.1");
    assert_string_equal(request_body(f.requests[0]), "");
    assert_int_equal(json_integer_value(json_object_get(erasure, "erasure_id")), 12);
    json_decref(erasure);
    fake_http_free(&f);
}

/* Each of context, merge and erase: 404 is API_NOT_FOUND, 400 API_INVALID (both with the
 * server's message as it is), 500 and 503 API_FAILED naming the status, a 200 that is not an
 * object API_FAILED; nothing is handed back on an error. */
static void context_merge_erase_error_answers(void **state)
{
    (void)state;
    enum { CONTEXT, MERGE, ERASE };
    static const char *const names[] = {"context", "merge", "erase"};
    for (int call = CONTEXT; call <= ERASE; call++) {
        struct fake_http f;
        const char *answers[] = {
            answer(0, 404,
                   "{\"error\":{\"code\":\"not_found\",\"message\":\"no customer " ID "\"}}"),
            answer(1, 400,
                   "{\"error\":{\"code\":\"invalid_request\",\"message\":\"from: already one "
                   "customer\"}}"),
            answer(2, 500, "{\"error\":{\"code\":\"internal\",\"message\":\"boom\"}}"),
            answer(3, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"no database\"}}"),
            answer(4, 200, "[]"),
        };
        static const struct {
            int rc;
            const char *err;
        } want[] = {
            {API_NOT_FOUND, "no customer " ID},
            {API_INVALID, "from: already one customer"},
            {API_FAILED, "the server answered 500: boom"},
            {API_FAILED, "the server answered 503: no database"},
            {API_FAILED, NULL},
        };
        assert_int_equal(fake_http_start(&f, answers, 5, 0), 0);
        struct http_client c;
        client_for(&f, &c);
        for (size_t i = 0; i < 5; i++) {
            json_t *out = NULL;
            char err[256] = "";
            int rc = call == CONTEXT ? api_context(&c, ID, &out, err, sizeof(err))
                     : call == MERGE ? api_merge(&c, ID, ID, &out, err, sizeof(err))
                                     : api_erase(&c, ID, &out, err, sizeof(err));
            if (rc != want[i].rc) {
                fail_msg("%s, answer %zu: %d, want %d (%s)", names[call], i, rc, want[i].rc, err);
            }
            assert_null(out);
            if (want[i].err != NULL) {
                assert_string_equal(err, want[i].err);
            } else {
                assert_non_null(strstr(err, "not a JSON object"));
            }
        }
        fake_http_stop(&f);
        assert_int_equal(f.served, 5);
        fake_http_free(&f);
    }
}

/* Nobody listening: API_FAILED saying where it tried. */
static void context_without_a_server(void **state)
{
    (void)state;
    int port = fake_http_closed_port();
    assert_true(port > 0);
    char url[64], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    struct http_client c;
    assert_int_equal(http_client_init(&c, url, NULL, 2000, err, sizeof(err)), 0);
    json_t *out = NULL;
    assert_int_equal(api_context(&c, ID, &out, err, sizeof(err)), API_FAILED);
    assert_null(out);
    assert_non_null(strstr(err, "connect"));
    assert_int_equal(api_erase(&c, ID, &out, err, sizeof(err)), API_FAILED);
    assert_non_null(strstr(err, "connect"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_customer_by_persian_phone),
        cmocka_unit_test(error_answers_become_results),
        cmocka_unit_test(timeline_pages_up_to_the_limit),
        cmocka_unit_test(timeline_all_stops_at_the_last_page),
        cmocka_unit_test(timeline_null_cursor_and_empty_page_end_it),
        cmocka_unit_test(timeline_before_and_the_cursor_to_read_on),
        cmocka_unit_test(timeline_errors),
        cmocka_unit_test(lookup_by_id_or_by_identifier),
        cmocka_unit_test(context_request_and_answer),
        cmocka_unit_test(merge_posts_from_as_json),
        cmocka_unit_test(erase_sends_delete),
        cmocka_unit_test(context_merge_erase_error_answers),
        cmocka_unit_test(context_without_a_server),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
