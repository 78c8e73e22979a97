/*
 * The HTTP client: URL parsing and percent-encoding (pure functions), then whole exchanges
 * with a fake server on 127.0.0.1: the request bytes, Content-Length, chunked and
 * read-until-close bodies, the body cap, a timeout, a refused connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_http.h"
#include "http_client.h"
#include "testmain.h"

static void expect_url(const char *url, const char *host, int port, const char *prefix)
{
    struct http_client_url u;
    char err[256] = "";
    if (http_client_url_parse(url, &u, err, sizeof(err)) != 0) {
        fail_msg("%s: %s", url, err);
    }
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.prefix, prefix);
}

static void expect_bad_url(const char *url, const char *says)
{
    struct http_client_url u;
    char err[256] = "";
    assert_int_equal(http_client_url_parse(url, &u, err, sizeof(err)), HTTP_CLIENT_EURL);
    if (strstr(err, says) == NULL) {
        fail_msg("%s: error \"%s\" does not say \"%s\"", url, err, says);
    }
}

static void url_parse_accepts(void **state)
{
    (void)state;
    expect_url("http://127.0.0.1:8170", "127.0.0.1", 8170, "");
    expect_url("http://127.0.0.1:8170/", "127.0.0.1", 8170, "");
    expect_url("http://touchline.example", "touchline.example", 80, "");
    expect_url("HTTP://tl.example:80/api/v1//", "tl.example", 80, "/api/v1");
    expect_url("http://[::1]:9000/x", "::1", 9000, "/x");
    expect_url("http://[fe80::1]", "fe80::1", 80, "");
    expect_url("http://h:65535", "h", 65535, "");
    expect_url("http://h:1", "h", 1, "");
    /* https: port 443 unless given, and TLS on. */
    expect_url("https://tl.example", "tl.example", 443, "");
    expect_url("HTTPS://tl.example:8443/api", "tl.example", 8443, "/api");
    struct http_client_url u;
    char err[256];
    assert_int_equal(http_client_url_parse("https://tl.example", &u, err, sizeof(err)), 0);
    assert_true(u.tls);
    assert_int_equal(http_client_url_parse("http://tl.example", &u, err, sizeof(err)), 0);
    assert_false(u.tls);
}

static void url_parse_refuses(void **state)
{
    (void)state;
    expect_bad_url("ftp://tl.example", "must start with http:// or https://");
    expect_bad_url("https://", "no host");
    expect_bad_url("127.0.0.1:8170", "must start with http://");
    expect_bad_url("http://", "no host");
    expect_bad_url("http://:8170", "no host");
    expect_bad_url("http://h:", "no port");
    expect_bad_url("http://h:0", "1 to 65535");
    expect_bad_url("http://h:65536", "1 to 65535");
    expect_bad_url("http://h:99999999999999999999", "1 to 65535");
    expect_bad_url("http://h:80x", "1 to 65535");
    expect_bad_url("http://h:-1", "1 to 65535");
    expect_bad_url("http://[::1", "without ']'");
    expect_bad_url("http://[::1]x:80", "after the IPv6");
    expect_bad_url("http://user:pw@h", "--token");
    expect_bad_url("http://h/?a=1", "query");
    expect_bad_url("http://h/#top", "query or fragment");
    expect_bad_url("http://h o", "not a host");
    expect_bad_url("http://h/a b", "unusable path");
}

static void expect_encoded(const char *in, const char *want)
{
    char *got = http_client_urlencode(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void urlencode_utf8_bytes(void **state)
{
    (void)state;
    expect_encoded("", "");
    expect_encoded("AZaz09-._~", "AZaz09-._~");
    expect_encoded("+98 912", "%2B98%20912");
    expect_encoded("a&b=c/d?e#f%", "a%26b%3Dc%2Fd%3Fe%23f%25");
    expect_encoded("telegram:@sara_k", "telegram%3A%40sara_k");
    /* Persian digits zero and nine: U+06F0 is DB B0, U+06F9 is DB B9. */
    expect_encoded("۰۹", "%DB%B0%DB%B9");
    expect_encoded("سارا", "%D8%B3%D8%A7%D8%B1%D8%A7");
    expect_encoded("\x01\x7F\xFF", "%01%7F%FF");
}

static void query_add_appends(void **state)
{
    (void)state;
    char *path = strdup("/v1/customers");
    assert_non_null(path);
    assert_int_equal(http_client_query_add(&path, "phone", "۰۹۱۲ ۳۴۵"), 0);
    assert_string_equal(path, "/v1/customers?phone=%DB%B0%DB%B9%DB%B1%DB%B2%20%DB%B3%DB%B4%DB%B5");
    assert_int_equal(http_client_query_add(&path, "before", "a=b&c"), 0);
    assert_string_equal(path, "/v1/customers?phone=%DB%B0%DB%B9%DB%B1%DB%B2%20%DB%B3%DB%B4%DB%B5"
                              "&before=a%3Db%26c");
    assert_int_equal(http_client_query_add(&path, "e", ""), 0);
    assert_string_equal(path + strlen(path) - 3, "&e=");
    free(path);
}

static void init_checks_the_token(void **state)
{
    (void)state;
    struct http_client c;
    char err[256] = "";
    assert_int_equal(http_client_init(&c, "http://h:1", "s3cret", 0, err, sizeof(err)), 0);
    assert_string_equal(c.token, "s3cret");
    assert_int_equal(c.timeout_ms, HTTP_CLIENT_TIMEOUT_MS);
    assert_int_equal(http_client_init(&c, "http://h:1", "", 250, err, sizeof(err)), 0);
    assert_null(c.token);
    assert_int_equal(c.timeout_ms, 250);
    assert_int_equal(http_client_init(&c, "http://h:1", "a\r\nX-Evil: 1", 0, err, sizeof(err)),
                     HTTP_CLIENT_EURL);
    assert_non_null(strstr(err, "control character"));
    assert_int_equal(http_client_init(&c, "https://h", NULL, 0, err, sizeof(err)), 0);
    assert_true(c.url.tls);
}

/* Serves answer once and GETs path (or POSTs json) from it. Returns what the client
 * returned; *request gets what the server received (the caller frees it). */
static int exchange(const char *answer, const char *token, int delay_ms, int timeout_ms,
                    const char *path, const char *json, struct http_client_response *resp,
                    char *err, size_t errlen, char **request)
{
    struct fake_http f;
    const char *answers[] = {answer};
    assert_int_equal(fake_http_start(&f, answers, 1, delay_ms), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/", f.port);
    struct http_client c;
    assert_int_equal(http_client_init(&c, url, token, timeout_ms, err, errlen), 0);
    int rc = json != NULL ? http_client_post_json(&c, path, json, resp, err, errlen)
                          : http_client_get(&c, path, resp, err, errlen);
    fake_http_stop(&f);
    *request = f.requests[0];
    f.requests[0] = NULL;
    fake_http_free(&f);
    return rc;
}

static void get_sends_a_well_formed_request(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "tok-1", 0, 0,
                      "/v1/customers?phone=%2B98", NULL, &r, err, sizeof(err), &req);
    assert_int_equal(rc, 0);
    assert_non_null(req);
    const char *want_start = "GET /api/v1/customers?phone=%2B98 HTTP/1.1\r\nHost: 127.0.0.1:";
    assert_memory_equal(req, want_start, strlen(want_start));
    assert_non_null(strstr(req, "\r\nAuthorization: Bearer tok-1\r\n"));
    assert_non_null(strstr(req, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(req, "\r\nAccept: application/json\r\n"));
    assert_null(strstr(req, "Content-Length"));
    assert_string_equal(req + strlen(req) - 4, "\r\n\r\n");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 2);
    assert_string_equal(r.body, "{}");
    http_client_response_free(&r);
    free(req);
}

static void post_sends_the_json_body(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    const char *json = "{\"from\":\"سارا\"}";
    int rc = exchange("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", NULL, 0, 0,
                      "/v1/customers/x/merge", json, &r, err, sizeof(err), &req);
    assert_int_equal(rc, 0);
    assert_non_null(req);
    assert_memory_equal(req, "POST /api/v1/customers/x/merge HTTP/1.1\r\n", 41);
    assert_null(strstr(req, "Authorization"));
    char cl[64];
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(json));
    assert_non_null(strstr(req, cl));
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    assert_string_equal(strstr(req, "\r\n\r\n") + 4, json);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.body, "");
    http_client_response_free(&r);
    free(req);
}

static void body_by_content_length_ignores_what_follows(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange("HTTP/1.1 404 Not Found\r\ncontent-length:  5 \r\nX-A: b\r\n\r\nhello"
                      "GARBAGE",
                      NULL, 0, 0, "/", NULL, &r, err, sizeof(err), &req);
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.len, 5);
    assert_string_equal(r.body, "hello");
    http_client_response_free(&r);
    free(req);
}

static void chunked_body(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                      "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n"
                      "X-Trailer: 1\r\n\r\n",
                      NULL, 0, 0, "/", NULL, &r, err, sizeof(err), &req);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Wikipedia in \r\n\r\nchunks.");
    assert_int_equal(r.len, 24);
    http_client_response_free(&r);
    free(req);
}

/* A big chunked body crosses the client's read buffer many times. */
static void large_chunked_body(void **state)
{
    (void)state;
    size_t chunks = 40, size = 5000;
    size_t cap = 128 + chunks * (size + 16);
    char *answer = malloc(cap);
    assert_non_null(answer);
    size_t n = (size_t)snprintf(answer, cap,
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, "
                                "chunked\r\n\r\n");
    for (size_t i = 0; i < chunks; i++) {
        n += (size_t)snprintf(answer + n, cap - n, "%zx\r\n", size);
        memset(answer + n, 'a' + (int)(i % 26), size);
        n += size;
        n += (size_t)snprintf(answer + n, cap - n, "\r\n");
    }
    snprintf(answer + n, cap - n, "0\r\n\r\n");
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange(answer, NULL, 0, 0, "/", NULL, &r, err, sizeof(err), &req);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(r.len, chunks * size);
    for (size_t i = 0; i < chunks; i++) {
        assert_int_equal(r.body[i * size], 'a' + (int)(i % 26));
        assert_int_equal(r.body[i * size + size - 1], 'a' + (int)(i % 26));
    }
    http_client_response_free(&r);
    free(req);
    free(answer);
}

static void body_until_close(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange("HTTP/1.0 503 Service Unavailable\r\n\r\n{\"error\":{}}\n", NULL, 0, 0, "/",
                      NULL, &r, err, sizeof(err), &req);
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"error\":{}}\n");
    http_client_response_free(&r);
    free(req);
}

static void interim_answer_is_skipped(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256], *req = NULL;
    int rc = exchange("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
                      NULL, 0, 0, "/", NULL, &r, err, sizeof(err), &req);
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "1");
    http_client_response_free(&r);
    free(req);
}

static void expect_failure(const char *answer, int code, const char *says)
{
    struct http_client_response r;
    char err[256] = "", *req = NULL;
    int rc = exchange(answer, NULL, 0, 0, "/", NULL, &r, err, sizeof(err), &req);
    if (rc != code || strstr(err, says) == NULL) {
        fail_msg("answer \"%.40s\": got %d \"%s\", want %d \"%s\"", answer, rc, err, code, says);
    }
    assert_null(r.body);
    free(req);
}

static void malformed_answers_fail(void **state)
{
    (void)state;
    expect_failure("SSH-2.0-OpenSSH\r\n\r\n", HTTP_CLIENT_EPROTOCOL, "did not answer HTTP/1.x");
    expect_failure("HTTP/1.1 20 OK\r\n\r\n", HTTP_CLIENT_EPROTOCOL, "did not answer HTTP");
    expect_failure("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", HTTP_CLIENT_EPROTOCOL,
                   "malformed header");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", HTTP_CLIENT_EPROTOCOL,
                   "bad Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
                   HTTP_CLIENT_EPROTOCOL, "bad Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", HTTP_CLIENT_EIO,
                   "5 bytes before the end of the body");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                   HTTP_CLIENT_EPROTOCOL, "bad chunk size");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                   HTTP_CLIENT_EPROTOCOL, "chunk longer than its size");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Le", HTTP_CLIENT_EPROTOCOL,
                   "before the end of its headers");
    expect_failure(NULL, HTTP_CLIENT_EPROTOCOL, "before the end of its headers");
}

/* A body over 64 MiB is refused from its Content-Length, before any of it is read. */
static void body_over_the_cap_fails(void **state)
{
    (void)state;
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n", HTTP_CLIENT_ETOOBIG,
                   "over 64 MiB");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                   HTTP_CLIENT_ETOOBIG, "over 64 MiB");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "FFFFFFFFFFFFFFFFFFFF\r\n",
                   HTTP_CLIENT_ETOOBIG, "over 64 MiB");
}

static void headers_over_the_limit_fail(void **state)
{
    (void)state;
    size_t n = 10000;
    char *answer = malloc(n + 64);
    assert_non_null(answer);
    strcpy(answer, "HTTP/1.1 200 OK\r\nX-Long: ");
    size_t l = strlen(answer);
    memset(answer + l, 'x', n);
    strcpy(answer + l + n, "\r\n\r\n");
    expect_failure(answer, HTTP_CLIENT_ETOOBIG, "8 KiB a line");
    free(answer);
}

static void timeout_names_the_server(void **state)
{
    (void)state;
    struct http_client_response r;
    char err[256] = "", *req = NULL;
    int rc = exchange("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL, 1500, 200, "/", NULL,
                      &r, err, sizeof(err), &req);
    assert_int_equal(rc, HTTP_CLIENT_ETIMEOUT);
    if (strstr(err, "read from 127.0.0.1:") != err ||
        strstr(err, "no answer within 200 ms") == NULL) {
        fail_msg("%s", err);
    }
    free(req);
}

static void refused_connection_names_the_address(void **state)
{
    (void)state;
    int port = fake_http_closed_port();
    assert_true(port > 0);
    char url[64], want[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: Connection refused", port);
    struct http_client c;
    assert_int_equal(http_client_init(&c, url, NULL, 2000, err, sizeof(err)), 0);
    struct http_client_response r;
    assert_int_equal(http_client_get(&c, "/healthz", &r, err, sizeof(err)), HTTP_CLIENT_ECONNECT);
    assert_string_equal(err, want);
    assert_null(r.body);
    /* A path that would break the request line is refused before connecting. */
    assert_int_equal(http_client_get(&c, "/a b", &r, err, sizeof(err)), HTTP_CLIENT_EURL);
    assert_int_equal(http_client_get(&c, "x", &r, err, sizeof(err)), HTTP_CLIENT_EURL);
}

static void unknown_host_fails_to_resolve(void **state)
{
    (void)state;
    struct http_client c;
    char err[256] = "";
    assert_int_equal(
        http_client_init(&c, "http://no-such-host.invalid:1", NULL, 2000, err, sizeof(err)), 0);
    struct http_client_response r;
    assert_int_equal(http_client_get(&c, "/", &r, err, sizeof(err)), HTTP_CLIENT_ERESOLVE);
    assert_memory_equal(err, "resolve no-such-host.invalid: ", 30);
    http_client_response_free(&r);
    http_client_response_free(NULL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_parse_accepts),
        cmocka_unit_test(url_parse_refuses),
        cmocka_unit_test(urlencode_utf8_bytes),
        cmocka_unit_test(query_add_appends),
        cmocka_unit_test(init_checks_the_token),
        cmocka_unit_test(get_sends_a_well_formed_request),
        cmocka_unit_test(post_sends_the_json_body),
        cmocka_unit_test(body_by_content_length_ignores_what_follows),
        cmocka_unit_test(chunked_body),
        cmocka_unit_test(large_chunked_body),
        cmocka_unit_test(body_until_close),
        cmocka_unit_test(interim_answer_is_skipped),
        cmocka_unit_test(malformed_answers_fail),
        cmocka_unit_test(body_over_the_cap_fails),
        cmocka_unit_test(headers_over_the_limit_fail),
        cmocka_unit_test(timeout_names_the_server),
        cmocka_unit_test(refused_connection_names_the_address),
        cmocka_unit_test(unknown_host_fails_to_resolve),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
