/* The touchline client against the real daemon: what an agent sees and the exit codes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

static int client(const struct harness_daemon *d, const char *args, char **out)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TZ=UTC NO_COLOR=1 %s --url http://127.0.0.1:%d %s 2>&1", bin,
             d != NULL ? d->http_port : 1, args);
    return harness_run(cmd, out);
}

static void timeline_of_sample_customer_by_persian_digits(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client", NULL);
    size_t len;
    char *data = harness_fixture("sample.ndjson", &len);
    int fd = harness_connect(d.tcp_port);
    assert_int_equal(harness_send(fd, data, len), 0);
    for (int i = 0; i < 16; i++) {
        char *a = harness_read_line(fd, 15000);
        assert_non_null(a);
        free(a);
    }
    close(fd);
    free(data);
    char *out = NULL;
    assert_int_equal(client(&d, "timeline --phone '۰۹۱۲ ۳۴۵ ۶۷۸۹' --utc", &out), 0);
    /* The name, the header, and entries of all five channels, oldest last. */
    assert_non_null(strstr(out, "سارا کریمی"));
    assert_non_null(strstr(out, "TIME "));
    static const char *const channels[] = {"phone", "sms", "email", "chat", "web"};
    for (size_t i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof(needle), "  %s ", channels[i]);
        if (strstr(out, needle) == NULL) {
            fail_msg("no %s entry in:\n%s", channels[i], out);
        }
    }
    assert_non_null(strstr(out, "2026-11-22 09:00Z  email"));
    assert_non_null(strstr(out, "survey response"));
    assert_true(strstr(out, "survey response") < strstr(out, "viewed product"));
    free(out);
    /* The same person by email; JSON carries 11 items. */
    assert_int_equal(
        client(&d, "timeline --email SARA.KARIMI@example.com --format json --all", &out), 0);
    assert_non_null(strstr(out, "\"customer\""));
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, "\"occurred_at\"")) != NULL; p++) {
        n++;
    }
    assert_int_equal(n, 11);
    free(out);
    /* --limit pages through the API's cursor. */
    assert_int_equal(client(&d, "timeline --chat telegram:@sara_k --format ndjson --limit 4", &out),
                     0);
    n = 0;
    for (const char *p = out; *p; p++) {
        n += *p == '\n';
    }
    assert_int_equal(n, 4);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

static void exit_codes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_exit", NULL);
    char *out = NULL;
    assert_int_equal(client(&d, "timeline --email nobody@example.com", &out), 1);
    assert_non_null(strstr(out, "no customer"));
    free(out);
    assert_int_equal(client(&d, "timeline --phone 12", &out), 2);
    assert_non_null(strstr(out, "phone"));
    free(out);
    assert_int_equal(client(&d, "timeline", &out), 2);
    free(out);
    assert_int_equal(client(&d, "timeline --phone 0912 --format xml", &out), 2);
    free(out);
    assert_int_equal(client(&d, "frobnicate", &out), 2);
    free(out);
    assert_int_equal(client(&d, "timeline --help", &out), 0);
    assert_non_null(strstr(out, "Usage: touchline timeline"));
    free(out);
    assert_int_equal(client(&d, "--version", &out), 0);
    assert_non_null(strstr(out, "touchline "));
    free(out);
    assert_int_equal(harness_stop(&d), 0);
    /* Nobody listening: a network error. */
    assert_int_equal(client(&d, "timeline --phone 09123456789", &out), 3);
    assert_non_null(strstr(out, "connect"));
    free(out);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeline_of_sample_customer_by_persian_digits),
        cmocka_unit_test(exit_codes),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
