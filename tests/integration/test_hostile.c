/*
 * Hostile input over real sockets against the real daemon: invalid UTF-8, NUL bytes, numbers
 * out of range, JSON nested 10 000 deep, a 100 MB line, 5 000 connections that send nothing,
 * and a slowloris HTTP client. Each case checks what a client sees: the answer the contract
 * promises (or the connection closed), and that the daemon keeps serving everyone else.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

static const char GOOD[] = "{\"source\":\"hostile\",\"channel\":\"sms\",\"occurred_at\":"
                           "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"+989121112233\"}}";

/* Under valgrind or the sanitizers everything is slower: "promptly" gets more room. */
static bool slow_daemon(void)
{
    const char *w = getenv("TOUCHLINE_TEST_DAEMON_WRAPPER");
    return w != NULL && w[0] != '\0';
}

static long long prompt_ms(void)
{
    return slow_daemon() ? 10000 : harness_sanitized() ? 4000 : 2000;
}

/* The harness's, under the names this file uses. */
#define parse(line) harness_parse_answer(line)
#define assert_error(line, code, needle, lineno)                                                   \
    harness_assert_error_answer((line), (code), (needle), (lineno))

static void assert_ok(const char *answer)
{
    json_t *j = parse(answer);
    if (!json_is_true(json_object_get(j, "ok"))) {
        fail_msg("expected ok, got: %s", answer);
    }
    assert_int_equal(strlen(json_string_value(json_object_get(j, "customer_id"))), 36);
    json_decref(j);
}

/* Sends len bytes as one line (adding the newline) and returns the answer. */
static char *roundtrip_bytes(int fd, const char *line, size_t len)
{
    assert_int_equal(harness_send(fd, line, len), 0);
    assert_int_equal(harness_send(fd, "\n", 1), 0);
    char *answer = harness_read_line(fd, 15000);
    if (answer == NULL) {
        fail_msg("no answer to a line of %zu bytes: %.120s", len, line);
    }
    return answer;
}

static long count_rows(const struct harness_daemon *d, const char *sql)
{
    PGconn *pg = harness_pg(d->dbname);
    long n = harness_sql_long(pg, sql);
    PQfinish(pg);
    return n;
}

static void invalid_utf8_is_invalid_json_naming_it(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "h_utf8", NULL);
    int fd = harness_connect(d.tcp_port);
    static const char *const bad[] = {
        /* A byte that never occurs in UTF-8, in a value. */
        "{\"source\":\"hostile\",\"channel\":\"sms\",\"subject\":\"caf\xff\"}",
        /* An overlong '/', in a key. */
        "{\"sour\xc0\xaf"
        "ce\":\"hostile\"}",
        /* An encoded surrogate. */
        "{\"body\":\"\xed\xa0\x80\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *a = roundtrip_bytes(fd, bad[i], strlen(bad[i]));
        assert_error(a, "invalid_json", "UTF-8", (long)i + 1);
        free(a);
    }
    /*
     * Valid UTF-8, but a bad escape right before a Persian letter: the parser's message quotes
     * the text near the error cut after the letter's first byte, and the answer must still
     * carry a message (valid UTF-8, since it is a JSON string), not lose it.
     */
    char *a =
        harness_roundtrip(fd, "{\"subject\":\"\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 \\\xd9\xbe\"}");
    assert_error(a, "invalid_json", "escape", (long)(sizeof(bad) / sizeof(bad[0])) + 1);
    free(a);
    /* The connection goes on. */
    a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    close(fd);
    assert_int_equal(count_rows(&d, "SELECT count(*) FROM touchline.interactions"), 1);
    assert_int_equal(harness_stop(&d), 0);
}

static void nul_bytes_inside_a_line(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "h_nul", NULL);
    int fd = harness_connect(d.tcp_port);
    /* A raw NUL inside a string, then one between tokens. */
    static const char in_string[] = "{\"source\":\"host\0ile\",\"channel\":\"sms\"}";
    char *a = roundtrip_bytes(fd, in_string, sizeof(in_string) - 1);
    assert_error(a, "invalid_json", "0x0", 1);
    free(a);
    static const char between[] = "{\"source\":\"hostile\",\0\"channel\":\"sms\"}";
    a = roundtrip_bytes(fd, between, sizeof(between) - 1);
    assert_error(a, "invalid_json", NULL, 2);
    free(a);
    /* An escaped NUL in an identifier: C strings would cut it short, so it is refused. */
    a = harness_roundtrip(fd, "{\"source\":\"hostile\",\"channel\":\"sms\",\"occurred_at\":"
                              "\"2026-11-20T10:00:00Z\",\"customer\":{\"web\":\"anon\\u0000x\"}}");
    assert_error(a, "invalid_json", "\\u0000", 3);
    free(a);
    /* A line that is only a NUL. */
    a = roundtrip_bytes(fd, "\0", 1);
    assert_error(a, "invalid_json", NULL, 4);
    free(a);
    a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    close(fd);
    assert_int_equal(count_rows(&d, "SELECT count(*) FROM touchline.interactions"), 1);
    assert_int_equal(harness_stop(&d), 0);
}

static void numbers_out_of_range(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "h_numbers", NULL);
    int fd = harness_connect(d.tcp_port);
    static const struct {
        const char *extra; /* appended to a valid record */
        const char *code;
        const char *needle;
    } cases[] = {
        {"\"duration_s\":1e30", "invalid_record", "duration_s"},
        {"\"duration_s\":-1", "invalid_record", "duration_s"},
        {"\"duration_s\":2147483648", "invalid_record", "duration_s"},
        {"\"duration_s\":12.5", "invalid_record", "duration_s"},
        {"\"score\":11", "invalid_record", "score"},
        {"\"score\":-1", "invalid_record", "score"},
        {"\"score\":10.0", "invalid_record", "score"},
        {"\"score\":-9223372036854775808", "invalid_record", "score"},
        /* Beyond the parser's numbers: refused as JSON, naming the member that holds them. */
        {"\"score\":18446744073709551616", "invalid_json", "in \"score\": integer"},
        {"\"duration_s\":1e400", "invalid_json", "in \"duration_s\": number out of range"},
    };
    char line[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(line, sizeof(line), "%.*s,%s}", (int)strlen(GOOD) - 1, GOOD, cases[i].extra);
        char *a = harness_roundtrip(fd, line);
        assert_error(a, cases[i].code, cases[i].needle, (long)i + 1);
        free(a);
    }
    /* In range at both ends is fine. */
    snprintf(line, sizeof(line), "%.*s,\"duration_s\":2147483647,\"score\":0}",
             (int)strlen(GOOD) - 1, GOOD);
    char *a = harness_roundtrip(fd, line);
    assert_ok(a);
    free(a);
    close(fd);
    assert_int_equal(count_rows(&d, "SELECT count(*) FROM touchline.interactions WHERE "
                                    "duration_s = 2147483647 AND score = 0"),
                     1);
    assert_int_equal(harness_stop(&d), 0);
}

/* open + n times middle + close ... n times end, NUL-terminated. */
static char *nested(const char *open, const char *close, int n, const char *middle)
{
    size_t lo = strlen(open), lc = strlen(close), lm = strlen(middle);
    char *s = malloc((lo + lc) * (size_t)n + lm + 1);
    assert_non_null(s);
    char *p = s;
    for (int i = 0; i < n; i++, p += lo) {
        memcpy(p, open, lo);
    }
    memcpy(p, middle, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc) {
        memcpy(p, close, lc);
    }
    *p = '\0';
    return s;
}

static void json_nested_ten_thousand_levels(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "h_nested", NULL);
    int fd = harness_connect(d.tcp_port);
    char *arrays = nested("[", "]", 10000, "");
    char *a = harness_roundtrip(fd, arrays);
    assert_error(a, "invalid_json", "depth", 1);
    free(a);
    char *objects = nested("{\"a\":", "}", 10000, "1");
    a = harness_roundtrip(fd, objects);
    assert_error(a, "invalid_json", "depth", 2);
    free(a);
    /* Deep inside an otherwise valid record. */
    char *deep = nested("[", "]", 10000, "");
    size_t n = strlen(GOOD) + strlen(deep) + 64;
    char *rec = malloc(n);
    assert_non_null(rec);
    snprintf(rec, n, "%.*s,\"attributes\":{\"x\":%s}}", (int)strlen(GOOD) - 1, GOOD, deep);
    a = harness_roundtrip(fd, rec);
    assert_error(a, "invalid_json", "depth", 3);
    free(a);
    /* Unclosed: 10 000 opening brackets and the line ends. */
    arrays[10000] = '\0';
    a = harness_roundtrip(fd, arrays);
    assert_error(a, "invalid_json", NULL, 4);
    free(a);
    a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/healthz", NULL, NULL, &body), 200);
    free(body);
    free(arrays);
    free(objects);
    free(deep);
    free(rec);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* The daemon's peak resident memory in kB (VmHWM), or -1. */
static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

static void hundred_megabyte_line_then_next_line_answered(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "h_100mb", NULL);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    long before = peak_rss_kb(d.pid);
    /* 100 MB without a newline, sent in 1 MB pieces, then the newline and a good line. */
    enum { PIECE = 1 << 20, PIECES = 100 };
    char *piece = malloc(PIECE);
    assert_non_null(piece);
    memset(piece, 'x', PIECE);
    piece[0] = '{';
    long long start = harness_now_ms();
    for (int i = 0; i < PIECES; i++) {
        if (harness_send(fd, piece, PIECE) != 0) {
            fail_msg("the daemon stopped reading after %d MB: %s", i, strerror(errno));
        }
        piece[0] = 'x';
    }
    assert_int_equal(harness_send(fd, "\n", 1), 0);
    a = harness_read_line(fd, 15000);
    assert_non_null(a);
    assert_error(a, "too_large", "max_line_bytes", 2);
    free(a);
    a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    print_message("100 MB line skipped in %lld ms\n", harness_now_ms() - start);
    /* Memory stays bounded: the daemon keeps at most one line's worth of input. ASan's
     * quarantine and valgrind change what resident memory means, so only plain builds. */
    long after = peak_rss_kb(d.pid);
    if (!harness_sanitized() && !slow_daemon() && before > 0 && after > 0) {
        print_message("daemon peak RSS %ld kB before, %ld kB after\n", before, after);
        assert_true(after - before < 32 * 1024);
    }
    free(piece);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* The value of the metric line "name{labels} value" on the page, or -1. */
static double metric(const char *page, const char *series)
{
    const char *p = page;
    size_t n = strlen(series);
    while ((p = strstr(p, series)) != NULL) {
        if ((p == page || p[-1] == '\n') && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
        p += n;
    }
    return -1;
}

static double tcp_connections(const struct harness_daemon *d)
{
    char *page = NULL;
    int st = harness_http(d->http_port, "GET", "/metrics", NULL, NULL, &page);
    assert_int_equal(st, 200);
    double v = metric(page, "touchline_connections{listener=\"tcp\"}");
    free(page);
    return v;
}

enum { IDLE_CONNS = 5000 };

static void five_thousand_silent_connections(void **state)
{
    (void)state;
    /* Room for 5 000 sockets here and in the daemon, which inherits the limit. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t want = IDLE_CONNS + 512;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        print_message("open files limit %lu < %lu: cannot hold 5 000 connections\n",
                      (unsigned long)rl.rlim_cur, (unsigned long)want);
        skip();
    }
    const int idle_s = 3;
    const char *env[] = {"TOUCHLINE_INGEST_IDLE_TIMEOUT_S=3", NULL};
    struct harness_daemon d;
    harness_start(&d, "h_idle", env);

    int *fds = malloc(sizeof(int) * IDLE_CONNS);
    assert_non_null(fds);
    long long start = harness_now_ms();
    for (int i = 0; i < IDLE_CONNS; i++) {
        fds[i] = harness_connect(d.tcp_port);
    }
    long long opened = harness_now_ms();
    print_message("%d connections opened in %lld ms\n", IDLE_CONNS, opened - start);

    /* Another client is served promptly meanwhile, on a new connection. */
    int fd = harness_connect(d.tcp_port);
    long long worst = 0;
    for (int i = 0; i < 50; i++) {
        char line[512];
        snprintf(line, sizeof(line),
                 "{\"source\":\"hostile\",\"external_id\":\"busy-%d\",\"channel\":\"sms\","
                 "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":"
                 "\"+98912111%04d\"}}",
                 i, i);
        long long t0 = harness_now_ms();
        char *a = harness_roundtrip(fd, line);
        long long took = harness_now_ms() - t0;
        worst = took > worst ? took : worst;
        assert_ok(a);
        free(a);
    }
    print_message("50 records answered, slowest in %lld ms\n", worst);
    assert_true(worst <= prompt_ms());
    /* The daemon holds them all (the metric counts the busy one too), unless some already
     * timed out, which only a slow start can make happen. */
    double held = tcp_connections(&d);
    if (harness_now_ms() - opened < (idle_s - 1) * 1000) {
        assert_true(held >= IDLE_CONNS);
    }
    close(fd);

    /* Each silent connection is closed once idle_timeout_s passed: the client reads EOF. */
    long long deadline = opened + (idle_s + (slow_daemon() ? 60 : 15)) * 1000;
    int closed = 0;
    for (int i = 0; i < IDLE_CONNS; i++) {
        long long left = deadline - harness_now_ms();
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        char c;
        if (left > 0 && poll(&p, 1, (int)left) == 1 && recv(fds[i], &c, 1, 0) <= 0) {
            closed++;
        }
        close(fds[i]);
    }
    long long all_closed = harness_now_ms();
    print_message("%d of %d silent connections closed by the daemon %lld ms after opening\n",
                  closed, IDLE_CONNS, all_closed - opened);
    assert_int_equal(closed, IDLE_CONNS);
    assert_true(all_closed - opened >= (idle_s - 1) * 1000);
    assert_int_equal(count_rows(&d, "SELECT count(*) FROM touchline.interactions"), 50);
    /* And it goes on accepting. */
    fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, GOOD);
    assert_ok(a);
    free(a);
    close(fd);
    free(fds);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * A client that sends its request headers one byte a second. Other HTTP clients are served
 * promptly all along, and the daemon cuts the slow one off once http.timeout_s has passed
 * since it connected: with one byte a second it never sits idle for that long, so a timer
 * that only counts silence would keep it (and the descriptor) forever.
 */
static void slowloris_http_client(void **state)
{
    (void)state;
    const int timeout_s = 2;
    const char *env[] = {"TOUCHLINE_HTTP_TIMEOUT_S=2", NULL};
    struct harness_daemon d;
    harness_start(&d, "h_slowloris", env);

    int slow = harness_connect(d.http_port);
    static const char request[] = "GET /v1/customers?phone=09121112233 HTTP/1.1\r\n"
                                  "Host: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    long long start = harness_now_ms();
    long long limit_ms = (timeout_s + (slow_daemon() ? 20 : 3)) * 1000LL;
    long long cut_after = -1;
    int sent = 0;
    while (cut_after < 0 && harness_now_ms() - start < limit_ms + 2000 &&
           (size_t)sent < sizeof(request) - 1) {
        /* Cut off: the daemon closed (EOF, a reset, or a 408 answer before closing). */
        struct pollfd p = {.fd = slow, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            char buf[256];
            ssize_t r = recv(slow, buf, sizeof(buf), MSG_DONTWAIT);
            if (r <= 0 || memcmp(buf, "HTTP/1.1 408", 12) == 0) {
                cut_after = harness_now_ms() - start;
                break;
            }
        }
        if (send(slow, request + sent, 1, MSG_NOSIGNAL) != 1) {
            cut_after = harness_now_ms() - start;
            break;
        }
        sent++;
        /* Meanwhile, everyone else. */
        char *body = NULL;
        long long t0 = harness_now_ms();
        int st = harness_http(d.http_port, "GET", "/healthz", NULL, NULL, &body);
        long long took = harness_now_ms() - t0;
        free(body);
        assert_int_equal(st, 200);
        if (took > prompt_ms()) {
            fail_msg("GET /healthz took %lld ms while a slow client sends headers", took);
        }
        usleep(1000000);
    }
    close(slow);
    print_message("slow client sent %d bytes; cut off after %lld ms\n", sent, cut_after);
    if (cut_after < 0) {
        fail_msg("a client sending a header byte a second was not cut off within %lld ms "
                 "(http.timeout_s = %d)",
                 limit_ms, timeout_s);
    }
    assert_true(cut_after <= limit_ms);
    /* Not before its time either: the deadline is http.timeout_s, not any slowness. */
    assert_true(cut_after >= (timeout_s - 1) * 1000LL);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "GET", "/healthz", NULL, NULL, &body), 200);
    free(body);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_utf8_is_invalid_json_naming_it),
        cmocka_unit_test(nul_bytes_inside_a_line),
        cmocka_unit_test(numbers_out_of_range),
        cmocka_unit_test(json_nested_ten_thousand_levels),
        cmocka_unit_test(hundred_megabyte_line_then_next_line_answered),
        cmocka_unit_test(five_thousand_silent_connections),
        cmocka_unit_test(slowloris_http_client),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
