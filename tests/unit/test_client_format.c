/*
 * What touchline prints, byte for byte against tests/fixtures/golden/: the table with a
 * Persian name, Persian and Arabic text lined up by display width, UTC and local times, cut
 * summaries, missing fields, colors; the JSON and NDJSON forms. The input is what the API
 * answers (golden/api-customer.json, golden/api-timeline.json).
 *
 * On a mismatch the test names the first differing line and writes what it got next to the
 * test binary as <golden>.actual, for diff -u. After a deliberate change of the output,
 * TOUCHLINE_UPDATE_GOLDEN=1 rewrites the golden files; review them with git diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "testmain.h"

static char *fixture_path(const char *name)
{
    const char *dir = getenv("TOUCHLINE_TEST_FIXTURES");
    if (dir == NULL) {
        fail_msg("TOUCHLINE_TEST_FIXTURES is not set (ctest sets it to tests/fixtures)");
    }
    size_t n = strlen(dir) + strlen(name) + sizeof("/golden/");
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/golden/%s", dir, name);
    return p;
}

static json_t *load_json(const char *name)
{
    char *path = fixture_path(name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (j == NULL) {
        fail_msg("%s:%d: %s", path, err.line, err.text);
    }
    free(path);
    return j;
}

/* The customer profile and the items of the timeline page, as the API answers them. */
struct input {
    json_t *customer;
    json_t *page;
    const json_t *items;
};

static void input_load(struct input *in)
{
    in->customer = load_json("api-customer.json");
    in->page = load_json("api-timeline.json");
    in->items = json_object_get(in->page, "items");
    assert_true(json_is_array(in->items));
}

static void input_free(struct input *in)
{
    json_decref(in->customer);
    json_decref(in->page);
}

/* Renders with format_timeline into a string (the caller frees it); *len gets its length. */
static char *render(const json_t *customer, const json_t *items, const struct format_opts *o,
                    size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(format_timeline(f, customer, items, o), 0);
    assert_int_equal(fclose(f), 0);
    *len = n;
    return buf;
}

/* Copies line number `line` (1-based) of s (n bytes) into out, for a message. */
static void nth_line(const char *s, size_t n, size_t line, char *out, size_t outlen)
{
    size_t i = 0;
    for (size_t l = 1; l < line && i < n; i++) {
        l += s[i] == '\n';
    }
    size_t end = i;
    while (end < n && s[end] != '\n') {
        end++;
    }
    snprintf(out, outlen, "%.*s%s", (int)(end - i), s + i, end < n ? "" : "<end of output>");
}

static void expect_golden(const char *name, const char *got, size_t len)
{
    char *path = fixture_path(name);
    if (getenv("TOUCHLINE_UPDATE_GOLDEN") != NULL) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(got, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        print_message("rewrote %s\n", path);
        free(path);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open golden file %s", path);
    }
    char *want = NULL;
    size_t wlen = 0;
    FILE *m = open_memstream(&want, &wlen);
    assert_non_null(m);
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fwrite(chunk, 1, r, m);
    }
    fclose(f);
    assert_int_equal(fclose(m), 0);
    size_t i = 0;
    while (i < len && i < wlen && got[i] == want[i]) {
        i++;
    }
    if (i < len || i < wlen) {
        size_t line = 1;
        for (size_t k = 0; k < i; k++) {
            line += got[k] == '\n';
        }
        char cwd[512], actual[1024];
        snprintf(actual, sizeof(actual), "%s/%s.actual",
                 getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".", name);
        FILE *a = fopen(actual, "wb");
        if (a != NULL) {
            fwrite(got, 1, len, a);
            fclose(a);
        }
        char wl[1024], gl[1024];
        nth_line(want, wlen, line, wl, sizeof(wl));
        nth_line(got, len, line, gl, sizeof(gl));
        fail_msg("output differs from %s at line %zu (byte %zu of %zu, expected %zu bytes):\n"
                 "  expected: %s\n"
                 "  got:      %s\n"
                 "what was got is in %s: diff -u %s %s",
                 path, line, i, len, wlen, wl, gl, actual, path, actual);
    }
    free(want);
    free(path);
}

static void golden_table(const char *name, const struct format_opts *o)
{
    struct input in;
    input_load(&in);
    size_t len;
    char *out = render(in.customer, in.items, o, &len);
    expect_golden(name, out, len);
    free(out);
    input_free(&in);
}

static void table_utc(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 120};
    golden_table("timeline-utc.txt", &o);
}

static void table_default_width_is_120(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true};
    golden_table("timeline-utc.txt", &o);
}

/* Local time follows TZ; a POSIX zone string, so that the test needs no tzdata. */
static void table_local_time_in_tehran(void **state)
{
    (void)state;
    char *old = getenv("TZ") != NULL ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "<+0330>-03:30", 1);
    struct format_opts o = {.kind = FORMAT_TABLE, .width = 120};
    golden_table("timeline-tehran.txt", &o);
    if (old != NULL) {
        setenv("TZ", old, 1);
    } else {
        unsetenv("TZ");
    }
    free(old);
    tzset();
}

/* 80 columns: summaries and the customer line are cut with "…", columns still line up. */
static void table_cut_to_80_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 80};
    golden_table("timeline-80.txt", &o);
}

static void table_colors(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .color = true, .width = 120};
    golden_table("timeline-color.txt", &o);
}

static void json_document(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_JSON};
    golden_table("timeline-out.json", &o);
}

static void ndjson_one_item_a_line(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_NDJSON};
    golden_table("timeline-out.ndjson", &o);
}

static void table_missing_fields_and_no_customer(void **state)
{
    (void)state;
    json_t *items = json_loads("[{\"channel\":\"other\"},{\"occurred_at\":\"yesterday\","
                               "\"status\":\"\",\"agent\":null,\"body\":\"\\n\\t\"}]",
                               0, NULL);
    assert_non_null(items);
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 80};
    size_t len;
    char *out = render(NULL, items, &o, &len);
    /* No customer line; every absent, null or blank value is "-"; a time that does not
     * parse is shown as it came. */
    assert_string_equal(out, "TIME       CHANNEL  DIRECTION  STATUS  AGENT  SUMMARY\n"
                             "-          other    -          -       -      -\n"
                             "yesterday  -        -          -       -      -\n");
    free(out);
    json_decref(items);
}

static void table_without_items(void **state)
{
    (void)state;
    json_t *items = json_array();
    json_t *customer = json_loads("{\"id\":\"01a204c2-159b-79d9-9586-9df2cd800a8a\","
                                  "\"name\":null,\"identities\":[{\"kind\":\"web\","
                                  "\"value\":\"anon-77\"}]}",
                                  0, NULL);
    assert_non_null(items);
    assert_non_null(customer);
    struct format_opts o = {.kind = FORMAT_TABLE, .width = 120};
    size_t len;
    char *out = render(customer, items, &o, &len);
    assert_string_equal(out, "01a204c2-159b-79d9-9586-9df2cd800a8a  web anon-77\n"
                             "(no interactions)\n");
    free(out);
    o.kind = FORMAT_JSON;
    out = render(NULL, items, &o, &len);
    assert_string_equal(out, "{\n  \"customer\": null,\n  \"items\": []\n}\n");
    free(out);
    o.kind = FORMAT_NDJSON;
    out = render(customer, items, &o, &len);
    assert_string_equal(out, "");
    free(out);
    json_decref(customer);
    json_decref(items);
}

static void expect_cell(const char *in, const char *want)
{
    char *got = format_cell(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void cells_are_one_clean_line(void **state)
{
    (void)state;
    expect_cell("", "");
    expect_cell("  \n\t ", "");
    expect_cell("line one\r\nline two\n\nthree", "line one line two three");
    expect_cell("سلام\u2028دنیا", "سلام دنیا");
    /* An escape sequence cannot reach the terminal. */
    expect_cell("\033[31mred\033[0m", "[31mred [0m");
    /* Embeddings, overrides and isolates go; marks and joiners stay. */
    expect_cell("a\u202eb\u2067c\u2069d\u202c", "abcd");
    expect_cell("می\u200cخواهم\u200f", "می\u200cخواهم\u200f");
    expect_cell("ab\xFF", "ab\xEF\xBF\xBD");
    /* Logical order is kept as it is: nothing is reversed. */
    expect_cell("شكراً ۱۲۳ abc", "شكراً ۱۲۳ abc");
}

static void times_in_utc_and_local(void **state)
{
    (void)state;
    char *old = getenv("TZ") != NULL ? strdup(getenv("TZ")) : NULL;
    char when[64];
    assert_int_equal(format_time("2026-11-19T06:45:11.000000Z", true, when, sizeof(when)), 0);
    assert_string_equal(when, "2026-11-19 06:45Z");
    /* An offset is honoured: 10:15+03:30 is 06:45Z. */
    assert_int_equal(format_time("2026-11-19T10:15:59+03:30", true, when, sizeof(when)), 0);
    assert_string_equal(when, "2026-11-19 06:45Z");
    assert_int_equal(format_time("2026-11-19t06:45:11-01:00", true, when, sizeof(when)), 0);
    assert_string_equal(when, "2026-11-19 07:45Z");
    /* Local time across midnight, from TZ as it is now. */
    setenv("TZ", "<+0330>-03:30", 1);
    assert_int_equal(format_time("2026-11-19T21:00:00.5Z", false, when, sizeof(when)), 0);
    assert_string_equal(when, "2026-11-20 00:30");
    setenv("TZ", "UTC0", 1);
    assert_int_equal(format_time("2026-11-19T21:00:00Z", false, when, sizeof(when)), 0);
    assert_string_equal(when, "2026-11-19 21:00");
    /* Not RFC 3339: -1, and the text as it is. */
    static const char *const bad[] = {"yesterday",
                                      "2026-11-19",
                                      "2026-11-19T06:45Z",
                                      "2026-02-30T00:00:00Z",
                                      "2026-11-19T24:00:00Z",
                                      "2026-11-19T06:45:11",
                                      "2026-11-19T06:45:11.Z",
                                      "2026-11-19T06:45:11Zjunk",
                                      ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (format_time(bad[i], true, when, sizeof(when)) != -1) {
            fail_msg("\"%s\" was taken for a time: %s", bad[i], when);
        }
        assert_string_equal(when, bad[i]);
    }
    if (old != NULL) {
        setenv("TZ", old, 1);
    } else {
        unsetenv("TZ");
    }
    free(old);
    tzset();
}

static void format_names(void **state)
{
    (void)state;
    enum format_kind k = FORMAT_TABLE;
    assert_int_equal(format_kind_parse("json", &k), 0);
    assert_int_equal(k, FORMAT_JSON);
    assert_int_equal(format_kind_parse("ndjson", &k), 0);
    assert_int_equal(k, FORMAT_NDJSON);
    assert_int_equal(format_kind_parse("table", &k), 0);
    assert_int_equal(k, FORMAT_TABLE);
    assert_int_equal(format_kind_parse("xml", &k), -1);
    assert_int_equal(format_kind_parse("JSON", &k), -1);
    assert_int_equal(k, FORMAT_TABLE);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_utc),
        cmocka_unit_test(table_default_width_is_120),
        cmocka_unit_test(table_local_time_in_tehran),
        cmocka_unit_test(table_cut_to_80_columns),
        cmocka_unit_test(table_colors),
        cmocka_unit_test(json_document),
        cmocka_unit_test(ndjson_one_item_a_line),
        cmocka_unit_test(table_missing_fields_and_no_customer),
        cmocka_unit_test(table_without_items),
        cmocka_unit_test(cells_are_one_clean_line),
        cmocka_unit_test(times_in_utc_and_local),
        cmocka_unit_test(format_names),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
