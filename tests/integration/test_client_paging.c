/*
 * Paging through a long timeline with the touchline client against the real daemon: --format
 * json keeps the server's next_cursor and --before reads on from it, the table's last line is
 * a command that shows the next page, and --all --format ndjson streams every page. The
 * customer has 1 000 interactions, two pages of the API's 500 and more.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define RECORDS 1000
#define PHONE   "+989121000000"

/* Runs the client with args against d, stdout only. Returns the exit status. */
static int client(const struct harness_daemon *d, const char *args, char **out)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "TZ=UTC NO_COLOR=1 %s --url http://127.0.0.1:%d %s 2>/dev/null", bin,
             d->http_port, args);
    return harness_run(cmd, out);
}

/* Sends RECORDS calls of one customer, a minute apart, newest last, over one connection. */
static void load_calls(const struct harness_daemon *d)
{
    size_t cap = (size_t)RECORDS * 256, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < RECORDS; i++) {
        len +=
            (size_t)snprintf(buf + len, cap - len,
                             "{\"source\":\"pbx\",\"external_id\":\"call-%04d\",\"channel\":"
                             "\"phone\",\"occurred_at\":\"2026-10-%02dT%02d:%02d:00Z\","
                             "\"customer\":{\"phone\":\"" PHONE "\"},\"subject\":\"call %04d\"}\n",
                             i, 1 + i / 1440, i / 60 % 24, i % 60, i);
    }
    int fd = harness_connect(d->tcp_port);
    assert_int_equal(harness_send(fd, buf, len), 0);
    for (int i = 0; i < RECORDS; i++) {
        char *a = harness_read_line(fd, 30000);
        assert_non_null(a);
        if (strstr(a, "\"ok\":true") == NULL) {
            fail_msg("record %d refused: %s", i, a);
        }
        free(a);
    }
    close(fd);
    free(buf);
}

/* The subject of item i of items: "call 0999" for the newest. */
static const char *subject(const json_t *items, size_t i)
{
    return json_string_value(json_object_get(json_array_get(items, i), "subject"));
}

/* --format json page after page, each --before the previous next_cursor, until null: every
 * record once, newest first, in pages of --limit. */
static void json_paging_round_trip(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_paging_json", NULL);
    load_calls(&d);
    char *cursor = NULL, *out = NULL, args[512];
    size_t seen = 0, pages = 0;
    do {
        snprintf(args, sizeof(args), "timeline --phone 09121000000 --format json --limit 300%s%s",
                 cursor != NULL ? " --before " : "", cursor != NULL ? cursor : "");
        assert_int_equal(client(&d, args, &out), 0);
        json_t *doc = json_loads(out, 0, NULL);
        if (!json_is_object(doc)) {
            fail_msg("touchline %s: not one JSON object: %s", args, out);
        }
        free(out);
        json_t *items = json_object_get(doc, "items");
        const json_t *next = json_object_get(doc, "next_cursor");
        /* The key is always there: a string, or null on the last page. */
        assert_true(json_is_string(next) || json_is_null(next));
        size_t n = json_array_size(items);
        assert_int_equal(n, seen + 300 <= RECORDS ? 300 : RECORDS - seen);
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof(want), "call %04zu", RECORDS - 1 - seen - i);
            assert_non_null(subject(items, i));
            assert_string_equal(subject(items, i), want);
        }
        seen += n;
        pages++;
        free(cursor);
        cursor = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
        json_decref(doc);
    } while (cursor != NULL);
    assert_int_equal(seen, RECORDS);
    assert_int_equal(pages, 4);

    /* --all --format ndjson: the same 1 000 in the same order, one a line. */
    assert_int_equal(client(&d, "timeline --phone 09121000000 --all --format ndjson", &out), 0);
    size_t lines = 0;
    for (char *line = out, *eol; (eol = strchr(line, '\n')) != NULL; line = eol + 1) {
        *eol = '\0';
        json_t *item = json_loads(line, 0, NULL);
        assert_non_null(item);
        char want[32];
        snprintf(want, sizeof(want), "call %04zu", RECORDS - 1 - lines);
        assert_string_equal(json_string_value(json_object_get(item, "subject")), want);
        json_decref(item);
        lines++;
    }
    assert_int_equal(lines, RECORDS);
    free(out);

    /* --all --format json: one document, nothing after it. */
    assert_int_equal(client(&d, "timeline --phone 09121000000 --all --format json", &out), 0);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "items")), RECORDS);
    assert_true(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);
    free(out);

    /* A cursor the server never gave is the user's mistake. */
    assert_int_equal(client(&d, "timeline --phone 09121000000 --before nonsense", &out), 2);
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/* The table's last line is the command for the next page; run as it is printed, it shows the
 * next ones, and the last page has no such line. */
static void table_says_how_to_see_more(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_paging_table", NULL);
    load_calls(&d);
    char *out = NULL;
    assert_int_equal(client(&d, "timeline --phone '0912 100 0000' --utc --limit 3", &out), 0);
    char *more = strstr(out, "More interactions: touchline --url http://127.0.0.1:");
    if (more == NULL) {
        fail_msg("no last line naming the next page in:\n%s", out);
    }
    assert_non_null(strstr(out, "call 0999\n"));
    assert_non_null(strstr(out, "call 0997\n"));
    assert_null(strstr(out, "call 0996"));
    /* The same selector as typed, quoted for the shell, the options, then the cursor. */
    assert_non_null(strstr(more, " timeline --phone '0912 100 0000' --limit 3 --utc --before "));
    char *eol = strchr(more, '\n');
    assert_non_null(eol);
    assert_string_equal(eol, "\n");
    *eol = '\0';

    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "TZ=UTC NO_COLOR=1 %s%s", bin,
             more + strlen("More interactions: touchline"));
    char *next = NULL;
    assert_int_equal(harness_run(cmd, &next), 0);
    if (strstr(next, "call 0996\n") == NULL || strstr(next, "call 0994\n") == NULL ||
        strstr(next, "call 0997") != NULL || strstr(next, "call 0993") != NULL) {
        fail_msg("%s\nshows, not calls 0996 to 0994:\n%s", cmd, next);
    }
    assert_non_null(strstr(next, "More interactions: "));
    free(next);
    free(out);

    /* Everything fits: no such line. */
    assert_int_equal(client(&d, "timeline --phone 09121000000 --since 2026-10-01T16:38:00Z", &out),
                     0);
    assert_non_null(strstr(out, "call 0998"));
    assert_null(strstr(out, "More interactions"));
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_paging_round_trip),
        cmocka_unit_test(table_says_how_to_see_more),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
