/*
 * GET /metrics against the real daemon: after known traffic (stored, duplicate and rejected
 * records, a merge at ingest and one by hand) every counter has exactly the value that
 * traffic implies, and the page is valid Prometheus text exposition format as checked by a
 * strict parser here (Debian ships no promtool without the whole server).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

#define MAX_SERIES 512

struct series {
    char key[256]; /* name{labels} exactly as written */
    char name[128];
    char le[32]; /* the le label of a bucket, else "" */
    double value;
};

struct page {
    struct series s[MAX_SERIES];
    int n;
};

static bool metric_name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':')) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':')) {
            return false;
        }
    }
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Why the parser refused the page. */
static char parse_error[512];

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(parse_error, sizeof(parse_error), __VA_ARGS__);                                   \
        return false;                                                                              \
    } while (0)

/*
 * Parses the label set at p (after '{'); sets *end past '}' and le to the le value. Fails
 * the test on bad syntax, a bad name, a bad escape or a repeated label.
 */
static bool parse_labels(const char *p, const char **end, char *le, size_t lelen, int lineno)
{
    char seen[16][64];
    int nseen = 0;
    le[0] = '\0';
    while (*p != '}') {
        const char *eq = strchr(p, '=');
        if (eq == NULL || !metric_name_ok(p, (size_t)(eq - p)) || eq[1] != '"') {
            BAD("line %d: bad label at \"%.40s\"", lineno, p);
        }
        char lname[64];
        snprintf(lname, sizeof(lname), "%.*s", (int)(eq - p), p);
        for (int i = 0; i < nseen; i++) {
            if (strcmp(seen[i], lname) == 0) {
                BAD("line %d: label %s twice", lineno, lname);
            }
        }
        if (nseen < 16) {
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", lname);
        }
        char value[256];
        size_t v = 0;
        const char *q = eq + 2;
        for (; *q != '"'; q++) {
            if (*q == '\0' || *q == '\n') {
                BAD("line %d: unterminated label value", lineno);
            }
            if (*q == '\\') {
                q++;
                if (*q != '\\' && *q != '"' && *q != 'n') {
                    BAD("line %d: bad escape \\%c in a label value", lineno, *q);
                }
            }
            if (v + 1 < sizeof(value)) {
                value[v++] = *q;
            }
        }
        value[v] = '\0';
        if (strcmp(lname, "le") == 0) {
            snprintf(le, lelen, "%.*s", (int)lelen - 1, value);
        }
        p = q + 1;
        if (*p == ',') {
            p++;
        } else if (*p != '}') {
            BAD("line %d: expected ',' or '}' after a label", lineno);
        }
    }
    *end = p + 1;
    return true;
}

static bool parse_value(const char *s, int lineno, double *out)
{
    if (strcmp(s, "+Inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return true;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end != '\0') {
        BAD("line %d: bad value \"%s\"", lineno, s);
    }
    return true;
}

/* Checks the buckets of histogram family f: cumulative, le increasing, +Inf == _count. */
static bool check_histogram(const struct page *pg, const char *f)
{
    char bucket[160], count[160];
    snprintf(bucket, sizeof(bucket), "%s_bucket", f);
    snprintf(count, sizeof(count), "%s_count", f);
    double last_le = -INFINITY, last = 0, inf = -1, n = -1;
    bool have_sum = false;
    for (int i = 0; i < pg->n; i++) {
        const struct series *s = &pg->s[i];
        if (strcmp(s->name, bucket) == 0) {
            if (s->le[0] == '\0') {
                BAD("%s: a bucket without le", f);
            }
            double le;
            if (!parse_value(s->le, 0, &le)) {
                return false;
            }
            if (le <= last_le || s->value < last) {
                BAD("%s: buckets not increasing at le=%s", f, s->le);
            }
            last_le = le;
            last = s->value;
            if (isinf(le)) {
                inf = s->value;
            }
        } else if (strcmp(s->name, count) == 0) {
            n = s->value;
        } else if (has_suffix(s->name, "_sum") && strncmp(s->name, f, strlen(f)) == 0) {
            have_sum = true;
        }
    }
    if (inf < 0 || n < 0 || inf != n || !have_sum) {
        BAD("%s: needs an le=\"+Inf\" bucket equal to _count, and _sum", f);
    }
    return true;
}

/*
 * Parses a whole page strictly: HELP and TYPE once per family and before its samples,
 * families contiguous, sample names belonging to the current family (counters end in
 * _total, histograms have only _bucket/_sum/_count), valid labels and values, no series
 * twice, a newline at the end.
 */
static bool parse_page(const char *text, struct page *pg)
{
    char family[128] = "", type[16] = "";
    char done[64][128];
    int ndone = 0;
    pg->n = 0;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n') {
        BAD("the page does not end with a newline");
    }
    int lineno = 0;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        p = nl + 1;
        lineno++;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            char name[128], rest[900];
            if (sscanf(line + 7, "%127s %899[^\n]", name, rest) != 2 ||
                !metric_name_ok(name, strlen(name))) {
                BAD("line %d: bad comment line: %.200s", lineno, line);
            }
            if (strcmp(name, family) != 0) {
                for (int i = 0; i < ndone; i++) {
                    if (strcmp(done[i], name) == 0) {
                        BAD("line %d: family %s appears twice", lineno, name);
                    }
                }
                if (family[0] != '\0' && ndone < 64) {
                    snprintf(done[ndone++], sizeof(done[0]), "%s", family);
                }
                snprintf(family, sizeof(family), "%s", name);
                type[0] = '\0';
            }
            if (line[2] == 'T') {
                if (type[0] != '\0') {
                    BAD("line %d: second TYPE for %s", lineno, name);
                }
                if (strcmp(rest, "counter") != 0 && strcmp(rest, "gauge") != 0 &&
                    strcmp(rest, "histogram") != 0) {
                    BAD("line %d: type %.40s", lineno, rest);
                }
                snprintf(type, sizeof(type), "%.15s", rest);
            }
            continue;
        }
        if (line[0] == '#' || line[0] == '\0') {
            BAD("line %d: unexpected line: \"%.200s\"", lineno, line);
        }
        if (pg->n == MAX_SERIES) {
            BAD("too many series");
        }
        struct series *s = &pg->s[pg->n];
        size_t nlen = strcspn(line, "{ ");
        if (!metric_name_ok(line, nlen) || nlen >= sizeof(s->name)) {
            BAD("line %d: bad metric name: %.200s", lineno, line);
        }
        snprintf(s->name, sizeof(s->name), "%.*s", (int)nlen, line);
        const char *after = line + nlen;
        if (*after == '{') {
            if (!parse_labels(after + 1, &after, s->le, sizeof(s->le), lineno)) {
                return false;
            }
        }
        if (*after != ' ' || after[1] == '\0' || strchr(after + 1, ' ') != NULL) {
            BAD("line %d: expected one space and a value: %.200s", lineno, line);
        }
        snprintf(s->key, sizeof(s->key), "%.*s", (int)(after - line), line);
        if (!parse_value(after + 1, lineno, &s->value)) {
            return false;
        }
        if (type[0] == '\0') {
            BAD("line %d: sample %s before its TYPE", lineno, s->name);
        }
        bool belongs;
        if (strcmp(type, "histogram") == 0) {
            char b[160], su[160], c[160];
            snprintf(b, sizeof(b), "%s_bucket", family);
            snprintf(su, sizeof(su), "%s_sum", family);
            snprintf(c, sizeof(c), "%s_count", family);
            belongs =
                strcmp(s->name, b) == 0 || strcmp(s->name, su) == 0 || strcmp(s->name, c) == 0;
        } else {
            belongs = strcmp(s->name, family) == 0;
        }
        if (!belongs) {
            BAD("line %d: %s is not of family %s", lineno, s->name, family);
        }
        if (strcmp(type, "counter") == 0 && (!has_suffix(s->name, "_total") || s->value < 0)) {
            BAD("line %d: counter %s must end in _total and be >= 0", lineno, s->name);
        }
        for (int i = 0; i < pg->n; i++) {
            if (strcmp(pg->s[i].key, s->key) == 0) {
                BAD("line %d: series %s twice", lineno, s->key);
            }
        }
        pg->n++;
        if (strcmp(type, "histogram") == 0 && strcmp(s->name + strlen(family), "_count") == 0) {
            if (!check_histogram(pg, family)) {
                return false;
            }
        }
    }
    return true;
}

/* The value of series key (name{labels} as written); fails when absent. */
static double value_of(const struct page *pg, const char *key)
{
    for (int i = 0; i < pg->n; i++) {
        if (strcmp(pg->s[i].key, key) == 0) {
            return pg->s[i].value;
        }
    }
    fail_msg("no series %s", key);
    return 0;
}

static bool present(const struct page *pg, const char *key)
{
    for (int i = 0; i < pg->n; i++) {
        if (strcmp(pg->s[i].key, key) == 0) {
            return true;
        }
    }
    return false;
}

static void scrape(const struct harness_daemon *d, struct page *pg)
{
    char *body = NULL;
    int st = harness_http(d->http_port, "GET", "/metrics", NULL, NULL, &body);
    if (st != 200 || body == NULL) {
        free(body);
        fail_msg("GET /metrics: status %d", st);
    }
    bool ok = parse_page(body, pg);
    if (!ok) {
        fprintf(stderr, "%s", body);
        free(body);
        fail_msg("GET /metrics is not valid exposition format: %s", parse_error);
    }
    free(body);
}

/* Sends lines on a new connection and reads n answers; returns the fd, still open. */
static int send_all(const struct harness_daemon *d, const char *lines, int n)
{
    int fd = harness_connect(d->tcp_port);
    assert_int_equal(harness_send(fd, lines, strlen(lines)), 0);
    for (int i = 0; i < n; i++) {
        char *a = harness_read_line(fd, 15000);
        if (a == NULL) {
            close(fd);
            fail_msg("no answer for line %d", i + 1);
        }
        free(a);
    }
    return fd;
}

#define REC(src, xid, chan, ident)                                                                 \
    "{\"source\":\"" src "\",\"external_id\":\"" xid "\",\"channel\":\"" chan                      \
    "\",\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{" ident "}}\n"

static void counters_match_known_traffic(void **state)
{
    (void)state;
    struct harness_daemon d;
    const char *env[] = {"TOUCHLINE_INGEST_MAX_LINE_BYTES=1024", NULL};
    harness_start(&d, "metrics", env);

    /* Before any traffic: every family is there, valid, and zero where it counts records. */
    static struct page pg;
    scrape(&d, &pg);
    assert_true(value_of(&pg, "touchline_build_info{version=\"" TOUCHLINE_VERSION "\"}") == 1);
    assert_true(value_of(&pg, "touchline_records_rejected_total{code=\"invalid_json\"}") == 0);
    assert_true(value_of(&pg, "touchline_batch_records_count") == 0);
    assert_false(
        present(&pg, "touchline_records_accepted_total{source=\"twilio\",channel=\"sms\"}"));
    /* The harness polls while the daemon starts: count requests from here on. */
    double requests_before = value_of(&pg, "touchline_http_requests_total");

    /* Connection 1: three sms from twilio, two calls from asterisk, one resend, three bad
     * lines (broken JSON, no channel, too long). */
    char big[1400];
    memset(big, 'x', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    char lines[4096];
    snprintf(lines, sizeof(lines), "%s%s%s%s%s%s%s%s%s",
             REC("twilio", "s1", "sms", "\"phone\":\"09120000001\""),
             REC("twilio", "s2", "sms", "\"phone\":\"09120000002\""),
             REC("twilio", "s3", "sms", "\"phone\":\"09120000003\""),
             REC("asterisk-1", "c1", "phone", "\"phone\":\"09120000001\""),
             REC("asterisk-1", "c2", "phone", "\"email\":\"x@example.com\""),
             REC("twilio", "s1", "sms", "\"phone\":\"09120000001\""), "{\"broken\n",
             "{\"source\":\"twilio\",\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":{"
             "\"phone\":\"09120000009\"}}\n",
             big);
    int fd = send_all(&d, lines, 9);
    close(fd);
    /* Connection 2, after those committed: a mail joining two customers (one ingest merge). */
    fd = send_all(
        &d, REC("mail", "m1", "email", "\"phone\":\"09120000002\",\"email\":\"x@example.com\""), 1);
    /* And one merge by hand. */
    char *body = NULL;
    int st = harness_http(d.http_port, "GET", "/v1/customers?phone=09120000003", NULL, NULL, &body);
    assert_int_equal(st, 200);
    char into[40];
    char *idp = strstr(body, "\"id\": \"");
    if (idp == NULL) {
        idp = strstr(body, "\"id\":\"");
    }
    assert_non_null(idp);
    idp = strchr(idp + 4, '"') + 1;
    snprintf(into, sizeof(into), "%.36s", idp);
    free(body);
    body = NULL;
    st = harness_http(d.http_port, "GET", "/v1/customers?phone=09120000001", NULL, NULL, &body);
    assert_int_equal(st, 200);
    idp = strstr(body, "\"id\": \"");
    if (idp == NULL) {
        idp = strstr(body, "\"id\":\"");
    }
    assert_non_null(idp);
    idp = strchr(idp + 4, '"') + 1;
    char path[128], payload[96];
    snprintf(payload, sizeof(payload), "{\"from\":\"%.36s\"}", idp);
    free(body);
    body = NULL;
    snprintf(path, sizeof(path), "/v1/customers/%s/merge", into);
    assert_int_equal(harness_http(d.http_port, "POST", path, payload, NULL, &body), 200);
    free(body);

    scrape(&d, &pg);
    static const struct {
        const char *key;
        double want;
    } want[] = {
        {"touchline_records_accepted_total{source=\"twilio\",channel=\"sms\"}", 3},
        {"touchline_records_accepted_total{source=\"asterisk-1\",channel=\"phone\"}", 2},
        {"touchline_records_accepted_total{source=\"mail\",channel=\"email\"}", 1},
        {"touchline_records_duplicate_total{source=\"twilio\",channel=\"sms\"}", 1},
        {"touchline_records_rejected_total{code=\"invalid_json\"}", 1},
        {"touchline_records_rejected_total{code=\"invalid_record\"}", 1},
        {"touchline_records_rejected_total{code=\"too_large\"}", 1},
        {"touchline_records_rejected_total{code=\"unauthorized\"}", 0},
        {"touchline_records_rejected_total{code=\"forbidden\"}", 0},
        {"touchline_records_rejected_total{code=\"unavailable\"}", 0},
        {"touchline_records_pending", 0},
        /* Every record that reached the database, the resend included. */
        {"touchline_batch_records_sum", 7},
        {"touchline_merges_total{reason=\"ingest\"}", 1},
        {"touchline_merges_total{reason=\"manual\"}", 1},
        {"touchline_database_connections", 2},
        {"touchline_database_connects_total", 2},
        {"touchline_tcp_connections_total", 2},
        {"touchline_connections{listener=\"tcp\"}", 1},
        {"touchline_connections{listener=\"http\"}", 1},
        {"touchline_tcp_lines_total", 10},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        double got = value_of(&pg, want[i].key);
        if (got != want[i].want) {
            fail_msg("%s is %g, wanted %g", want[i].key, got, want[i].want);
        }
    }
    /* Two lookups, the merge and this scrape. */
    assert_true(value_of(&pg, "touchline_http_requests_total") == requests_before + 4);
    assert_false(
        present(&pg, "touchline_records_duplicate_total{source=\"mail\",channel=\"email\"}"));
    double batches = value_of(&pg, "touchline_batch_records_count");
    assert_true(batches >= 2 && batches <= 7);
    assert_true(value_of(&pg, "touchline_batch_commit_seconds_count") == batches);
    assert_true(value_of(&pg, "touchline_batch_commit_seconds_sum") > 0);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

/* The parser above is strict: pages that break the format are refused. */
static void parser_refuses_bad_pages(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x_total 1\n",                            /* no TYPE */
        "# TYPE x_total counter\nx_total 1",      /* no newline */
        "# TYPE x counter\nx 1\n",                /* counter w/o _total */
        "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n", /* label twice */
        "# TYPE x gauge\nx{a=\"\\q\"} 1\n",       /* bad escape */
        "# TYPE x gauge\nx one\n",                /* bad value */
        "# TYPE x gauge\nx 1\nx 2\n",             /* series twice */
        "# TYPE x gauge\ny 1\n",                  /* wrong family */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    };
    static struct page pg;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_page(bad[i], &pg)) {
            fail_msg("the parser accepted bad page %zu: %s", i, bad[i]);
        }
    }
    bool ok =
        parse_page("# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                   "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n# TYPE g gauge\ng{a=\"x\\\"y\"} "
                   "-1\n",
                   &pg);
    if (!ok) {
        fail_msg("a good page refused: %s", parse_error);
    }
    assert_int_equal(pg.n, 5);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_match_known_traffic),
        cmocka_unit_test(parser_refuses_bad_pages),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
