/*
 * The web console (daemon/console.c, web/console/; docs/console.md) against the real daemon
 * and PostgreSQL: what the HTTP port answers at "/" (the files, their security headers and
 * caching, customer data never cached), and the browser test: Debian's chromium driven by
 * playwright-core (tests/browser/console.mjs) through lookup, timeline, live updates,
 * journey, dashboard and worklist, saving screenshots in the build directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/*
 * GET (or method) path with extra header lines; returns the status, and the response's
 * header block (malloc'd) in *headers and body in *body (either may be NULL).
 */
static int raw_request(int port, const char *method, const char *path, const char *extra,
                       char **headers, char **body)
{
    int fd = harness_connect(port);
    char req[1024];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
             method, path, extra != NULL ? extra : "");
    assert_int_equal(harness_send(fd, req, strlen(req)), 0);
    FILE *f = fdopen(fd, "r");
    assert_non_null(f);
    size_t len = 0;
    char *all = testmain_read_stream(f, &len);
    fclose(f);
    assert_non_null(all);
    int status = 0;
    sscanf(all, "HTTP/1.1 %d", &status);
    char *split = strstr(all, "\r\n\r\n");
    assert_non_null(split);
    *split = '\0';
    if (body != NULL) {
        *body = strdup(split + 4);
    }
    if (headers != NULL) {
        *headers = strdup(all);
    }
    free(all);
    return status;
}

/* The value of header name in a header block (copied into out), or NULL. */
static const char *header(const char *block, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = strstr(block, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ') {
                v++;
            }
            const char *end = strstr(v, "\r\n");
            size_t vl = end != NULL ? (size_t)(end - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

static void assert_header(const char *block, const char *name, const char *needle)
{
    char v[512];
    if (header(block, name, v, sizeof(v)) == NULL || strstr(v, needle) == NULL) {
        fail_msg("wanted %s with \"%s\" in:\n%s", name, needle, block);
    }
}

/* Asserts that text contains none of the NULL-terminated list of strings. */
static void assert_absent(const char *text, const char *what, const char *const *needles)
{
    for (const char *const *n = needles; *n != NULL; n++) {
        if (strstr(text, *n) != NULL) {
            fail_msg("%s contains \"%s\"", what, *n);
        }
    }
}

static void files_and_headers(void **state)
{
    (void)state;
    struct harness_daemon d;
    const char *env[] = {"TOUCHLINE_AUTH_TOKENS=agent:read-secret-2", NULL};
    harness_start(&d, "console_files", env);
    char *h = NULL, *body = NULL;
    /* The page needs no token: it holds no data until the user gives one. */
    assert_int_equal(raw_request(d.http_port, "GET", "/", NULL, &h, &body), 200);
    assert_header(h, "Content-Type", "text/html");
    assert_header(h, "Content-Security-Policy", "default-src 'self'");
    assert_header(h, "Content-Security-Policy", "frame-ancestors 'none'");
    assert_header(h, "X-Content-Type-Options", "nosniff");
    assert_header(h, "X-Frame-Options", "DENY");
    char csp[512], etag[128];
    assert_non_null(header(h, "Content-Security-Policy", csp, sizeof(csp)));
    assert_null(strstr(csp, "unsafe-inline"));
    assert_null(strstr(csp, "unsafe-eval"));
    assert_non_null(header(h, "ETag", etag, sizeof(etag)));
    /* Scripts and styles only from files: nothing inline for the policy to allow. */
    assert_non_null(strstr(body, "<script src=\"/console/app.js\""));
    /* Nothing inline, nothing from elsewhere. */
    const char *const page_never[] = {"<script>", "style=", "<style", "http://", "https://", NULL};
    assert_absent(body, "the page", page_never);
    free(h);
    free(body);
    /* The ETag answers a revalidation without the file. */
    char inm[200];
    snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", etag);
    assert_int_equal(raw_request(d.http_port, "GET", "/", inm, &h, NULL), 304);
    free(h);
    const struct {
        const char *path, *type;
    } files[] = {{"/console/app.js", "text/javascript"},
                 {"/console/style.css", "text/css"},
                 {"/console/icon.svg", "image/svg+xml"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        assert_int_equal(raw_request(d.http_port, "GET", files[i].path, NULL, &h, &body), 200);
        assert_header(h, "Content-Type", files[i].type);
        assert_header(h, "Cache-Control", "no-cache");
        assert_header(h, "X-Content-Type-Options", "nosniff");
        assert_absent(body, files[i].path, page_never + 4); /* "https://" */
        free(h);
        free(body);
    }
    /* The script never turns data into markup. */
    assert_int_equal(raw_request(d.http_port, "GET", "/console/app.js", NULL, NULL, &body), 200);
    const char *const script_never[] = {"innerHTML",      "outerHTML",    "insertAdjacentHTML",
                                        "document.write", "localStorage", NULL};
    assert_absent(body, "app.js", script_never);
    free(body);
    assert_int_equal(raw_request(d.http_port, "GET", "/console/nope.js", NULL, NULL, NULL), 404);
    assert_int_equal(raw_request(d.http_port, "POST", "/", NULL, NULL, NULL), 405);
    /* Customer data: never kept by a cache, the browser's included. */
    assert_int_equal(raw_request(d.http_port, "GET", "/v1/customers?phone=09120000000",
                                 "Authorization: Bearer read-secret-2\r\n", &h, NULL),
                     404);
    assert_header(h, "Cache-Control", "no-store");
    assert_header(h, "X-Content-Type-Options", "nosniff");
    free(h);
    /* The export too, which is streamed: it is everything about the person. */
    char cust[1][37];
    harness_ingest(&d, "{\"auth\":\"read-secret-2\"}",
                   "{\"source\":\"c\",\"external_id\":\"1\",\"channel\":\"sms\","
                   "\"occurred_at\":\"2026-11-01T10:00:00Z\","
                   "\"customer\":{\"phone\":\"09120000001\"}}\n",
                   1, NULL, cust);
    char export_path[128];
    snprintf(export_path, sizeof(export_path), "/v1/customers/%s/export", cust[0]);
    assert_int_equal(raw_request(d.http_port, "GET", export_path,
                                 "Authorization: Bearer read-secret-2\r\n", &h, NULL),
                     200);
    assert_header(h, "Content-Type", "application/json");
    assert_header(h, "Cache-Control", "no-store");
    assert_header(h, "X-Content-Type-Options", "nosniff");
    free(h);
    assert_int_equal(harness_stop(&d), 0);

    /* [console] enabled = 0: the API only. */
    const char *off[] = {"TOUCHLINE_CONSOLE_ENABLED=0", NULL};
    harness_restart(&d, off);
    assert_int_equal(raw_request(d.http_port, "GET", "/", NULL, NULL, NULL), 404);
    assert_int_equal(harness_stop(&d), 0);
}

/* Runs the browser test; its checks are printed, its exit status is the verdict. */
static void browser(void **state)
{
    (void)state;
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    assert_non_null(src);
    /* tests/node_modules: installed by the node fixture (scripts/node-deps). */
    char cmd[2048];
    char *out = NULL;
    int rc;
    struct harness_daemon d;
    /* Agents read with browser-read-1; the records come over TCP with browser-feed-1. The
     * hashes are their SHA-256 (touchlined --hash-token=-). */
    const char *env[] = {
        "TOUCHLINE_AUTH_PRINCIPAL=agents scopes=read "
        "token=sha256:002074288fa9f2127e38c4591f2c3b644dcbf0267394bf2ae8f2c6480ca31ac6,"
        "feeder scopes=ingest "
        "token=sha256:ca53aac090d812525ba74b55894fc570fb19c1992d1304f182b18df1bcbe7ef3",
        NULL};
    harness_start(&d, "console_browser", env);
    /* Screenshots: TOUCHLINE_TEST_SCREENSHOTS, or screenshots/ where ctest runs the test
     * (the build directory). */
    const char *shots = getenv("TOUCHLINE_TEST_SCREENSHOTS");
    char cwd[256], dir[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(dir, sizeof(dir), "%s/screenshots", cwd);
    if (shots != NULL) {
        snprintf(dir, sizeof(dir), "%s", shots);
    }
    mkdir(dir, 0755);
    snprintf(cmd, sizeof(cmd),
             "cd '%s/tests' && CONSOLE_URL=http://127.0.0.1:%d TCP_PORT=%d "
             "TOKEN=browser-read-1 FEED_TOKEN=browser-feed-1 SCREENSHOT_DIR='%s' "
             "node browser/console.mjs 2>&1",
             src, d.http_port, d.tcp_port, dir);
    rc = harness_run(cmd, &out);
    /* The checks, one a line (print_message would cut them short). */
    fputs(out != NULL ? out : "(no output)\n", stdout);
    fflush(stdout);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
    if (rc != 0) {
        fail_msg("the browser test failed (exit %d); its checks are above", rc);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_and_headers),
        cmocka_unit_test(browser),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
