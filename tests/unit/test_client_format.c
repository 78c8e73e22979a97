/*
 * What touchline prints, byte for byte against tests/fixtures/golden/: the timeline table with
 * a Persian name, Persian and Arabic text lined up by display width, UTC and local times, cut
 * summaries, missing fields, colors; the JSON and NDJSON forms; the same for a customer's
 * profile (labelled lines) and context (the screen-pop), and what an erasure prints. The input
 * is what the API answers (golden/api-customer.json, api-timeline.json, api-profile.json,
 * api-context.json).
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
#include "textwidth.h"
#include "testmain.h"

static char *fixture_path(const char *name)
{
    return testmain_golden_path(name);
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

/* The JSON form carries the cursor of the next page, to be passed back as --before. */
static void json_document_keeps_the_next_cursor(void **state)
{
    (void)state;
    json_t *items = json_loads("[{\"id\":\"a\"}]", 0, NULL);
    assert_non_null(items);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    struct format_opts o = {.kind = FORMAT_JSON};
    assert_int_equal(format_timeline(f, NULL, items, "1763625600000000-0193ab", &o), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf,
                        "{\n  \"customer\": null,\n  \"items\": [\n    {\n      \"id\": \"a\"\n"
                        "    }\n  ],\n  \"next_cursor\": \"1763625600000000-0193ab\"\n}\n");
    free(buf);
    json_decref(items);
}

/* The last line of a table with more to see: a command that can be pasted back as it is. */
static void more_line_quotes_for_the_shell(void **state)
{
    (void)state;
    const char *words[] = {"touchline",  "timeline",
                           "--phone",    "0912 345 6789",
                           "--chat",     "telegram:@sara_k",
                           "--external", "it's",
                           "--since",    "",
                           "--before",   "1763625600000000-0193ab"};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(format_more(f, words, sizeof(words) / sizeof(words[0])), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "More interactions: touchline timeline --phone '0912 345 6789' "
                             "--chat telegram:@sara_k --external 'it'\\''s' --since '' "
                             "--before 1763625600000000-0193ab\n");
    free(buf);
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
    assert_int_equal(format_timeline(f, customer, items, NULL, o), 0);
    assert_int_equal(fclose(f), 0);
    *len = n;
    return buf;
}

static void expect_golden(const char *name, const char *got, size_t len)
{
    testmain_expect_golden(name, got, len);
}

/* Fails unless every line of out takes at most width columns on a terminal (a narrow table
 * that wraps is what the golden files must not hold). Colors' escapes would count: not for
 * them. */
static void expect_lines_fit(const char *out, size_t width)
{
    for (const char *line = out; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (textwidth_n(line, len) > width) {
            fail_msg("a line wider than %zu columns: %.*s", width, (int)len, line);
        }
        line += len + (eol != NULL);
    }
}

static void golden_table(const char *name, const struct format_opts *o)
{
    struct input in;
    input_load(&in);
    size_t len;
    char *out = render(in.customer, in.items, o, &len);
    expect_golden(name, out, len);
    if (o->kind == FORMAT_TABLE && !o->color && o->width != FORMAT_FULL_WIDTH) {
        expect_lines_fit(out, o->width > 0 ? o->width : FORMAT_DEFAULT_WIDTH);
    }
    free(out);
    input_free(&in);
}

/* Sets TZ to tz (a POSIX zone string, so that the tests need no tzdata) and returns the old
 * value, for tz_restore. */
static char *tz_set(const char *tz)
{
    char *old = getenv("TZ") != NULL ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    return old;
}

static void tz_restore(char *old)
{
    if (old != NULL) {
        setenv("TZ", old, 1);
    } else {
        unsetenv("TZ");
    }
    free(old);
    tzset();
}

#define TEHRAN "<+0330>-03:30"

typedef int (*view_fn)(FILE *, const json_t *, const struct format_opts *);

/* Renders doc with fn into a string (the caller frees it). */
static char *render_view(view_fn fn, const json_t *doc, const struct format_opts *o)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(fn(f, doc, o), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Renders the API answer in fixture input with fn and compares it with golden file name. */
static void golden_view(view_fn fn, const char *input, const char *name,
                        const struct format_opts *o)
{
    json_t *doc = load_json(input);
    char *out = render_view(fn, doc, o);
    expect_golden(name, out, strlen(out));
    if (o->kind == FORMAT_TABLE && !o->color && o->width != FORMAT_FULL_WIDTH) {
        expect_lines_fit(out, o->width > 0 ? o->width : FORMAT_DEFAULT_WIDTH);
    }
    free(out);
    json_decref(doc);
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

/* 60 columns: the summary at its narrowest, direction and agent left out, the Persian and
 * Arabic cells still lined up. */
static void table_at_60_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 60};
    golden_table("timeline-60.txt", &o);
}

/* 40 columns: only the time and the summary; no line wider than 40. */
static void table_at_40_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 40};
    golden_table("timeline-40.txt", &o);
}

/* A pipe: every value whole, the columns still lined up. */
static void table_full_width_cuts_nothing(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = FORMAT_FULL_WIDTH};
    golden_table("timeline-full.txt", &o);
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
    assert_string_equal(out,
                        "{\n  \"customer\": null,\n  \"items\": [],\n  \"next_cursor\": null\n}\n");
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

/* Provenance names records by their source's ids, which are anyone's text: cleaned as cells. */
static void provenance_cleans_what_adapters_wrote(void **state)
{
    (void)state;
    json_t *p = json_loads(
        "{\"customer_id\":\"c1\",\"identities\":[{\"kind\":\"phone\",\"value\":\"+989121234567\","
        "\"first_record\":{\"source\":\"pbx\",\"external_id\":\"x\\u001b[2Jy\\nz\"}}],"
        "\"merges\":[{\"merge_id\":1,\"merged\":\"c2\",\"survivor\":\"c1\","
        "\"principal\":\"ops\",\"reason\":\"dup\\u001b]0;t\\u0007\"}]}",
        0, NULL);
    assert_non_null(p);
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true};
    char *out = render_view(format_identities, p, &o);
    assert_null(strchr(out, '\033'));
    assert_null(strchr(out, '\a'));
    assert_non_null(strstr(out, "record pbx/x [2Jy z"));
    assert_non_null(strstr(out, "by hand (dup ]0;t, ops)"));
    free(out);
    json_decref(p);
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

/* The profile: labelled lines, identities and traits lined up under their label, the Persian
 * name and address kept in logical order with a closing mark, CJK and emoji traits, other
 * JSON values compact, a control sequence in a trait made harmless. */
static void customer_table_utc(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 120};
    golden_view(format_customer, "api-profile.json", "customer-utc.txt", &o);
}

static void customer_table_local_time_in_tehran(void **state)
{
    (void)state;
    char *old = tz_set(TEHRAN);
    struct format_opts o = {.kind = FORMAT_TABLE, .width = 120};
    golden_view(format_customer, "api-profile.json", "customer-tehran.txt", &o);
    tz_restore(old);
}

/* 80 columns: the long Persian address is cut with "…", the rest fits. */
static void customer_table_cut_to_80_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 80};
    golden_view(format_customer, "api-profile.json", "customer-80.txt", &o);
}

static void customer_table_at_40_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 40};
    golden_view(format_customer, "api-profile.json", "customer-40.txt", &o);
}

static void customer_json_and_ndjson(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_JSON};
    golden_view(format_customer, "api-profile.json", "customer-out.json", &o);
    o.kind = FORMAT_NDJSON;
    golden_view(format_customer, "api-profile.json", "customer-out.ndjson", &o);
}

static void customer_table_sparse_profile(void **state)
{
    (void)state;
    json_t *c = json_loads("{\"id\":\"01a2\",\"name\":\"\",\"identities\":[],\"traits\":{},"
                           "\"counts\":{},\"first_seen\":null,\"merged_ids\":[]}",
                           0, NULL);
    assert_non_null(c);
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true};
    char *out = render_view(format_customer, c, &o);
    assert_string_equal(out, "Name          -\n"
                             "Id            01a2\n"
                             "Identities    -\n"
                             "Traits        -\n"
                             "First seen    -\n"
                             "Last seen     -\n"
                             "Interactions  -\n"
                             "Merged ids    -\n");
    free(out);
    json_decref(c);
}

/* The screen-pop: who, "3 h ago" from the server's count, the last 7 days, stage, sentiment
 * and score, open threads (a CJK and emoji thread, a long Persian subject), the latest
 * interaction per channel with an Arabic message body. */
static void context_table_utc(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 120};
    golden_view(format_context, "api-context.json", "context-utc.txt", &o);
}

/* The screen-pop's two tables at 60 and 40 columns: threads lose records, then channel and
 * thread; the latest per channel as the timeline. */
static void context_table_at_60_and_40_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 60};
    golden_view(format_context, "api-context.json", "context-60.txt", &o);
    o.width = 40;
    golden_view(format_context, "api-context.json", "context-40.txt", &o);
}

static void context_table_local_time_in_tehran(void **state)
{
    (void)state;
    char *old = tz_set(TEHRAN);
    struct format_opts o = {.kind = FORMAT_TABLE, .width = 120};
    golden_view(format_context, "api-context.json", "context-tehran.txt", &o);
    tz_restore(old);
}

/* 80 columns: the thread ids give way before the subjects, which are cut with "…". */
static void context_table_cut_to_80_columns(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .width = 80};
    golden_view(format_context, "api-context.json", "context-80.txt", &o);
}

static void context_table_colors(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true, .color = true, .width = 120};
    golden_view(format_context, "api-context.json", "context-color.txt", &o);
}

static void context_json_and_ndjson(void **state)
{
    (void)state;
    struct format_opts o = {.kind = FORMAT_JSON};
    golden_view(format_context, "api-context.json", "context-out.json", &o);
    o.kind = FORMAT_NDJSON;
    golden_view(format_context, "api-context.json", "context-out.ndjson", &o);
}

/* A customer nobody heard from: "never", no threads, no interactions, nulls as "-". */
static void context_of_a_silent_customer(void **state)
{
    (void)state;
    json_t *c = json_loads("{\"customer\":{\"id\":\"01a2\",\"name\":\"Ada\",\"identities\":"
                           "[{\"kind\":\"web\",\"value\":\"anon-1\"}]},"
                           "\"now\":\"2026-11-21T21:52:40Z\",\"last_contact_at\":null,"
                           "\"seconds_since_last_contact\":null,\"last_by_channel\":[],"
                           "\"open_threads\":[],\"stage\":null,\"sentiment\":null,"
                           "\"score\":null,\"last_7_days\":{\"contacts\":0,\"channels\":0}}",
                           0, NULL);
    assert_non_null(c);
    struct format_opts o = {.kind = FORMAT_TABLE, .utc = true};
    char *out = render_view(format_context, c, &o);
    assert_string_equal(out, "Ada  01a2  web anon-1\n"
                             "Last contact  never\n"
                             "Last 7 days   0 contacts\n"
                             "Stage         -\n"
                             "Sentiment     -\n"
                             "Score         -\n"
                             "\n"
                             "Open threads\n"
                             "(none)\n"
                             "\n"
                             "Latest on each channel\n"
                             "(no interactions)\n");
    free(out);
    json_decref(c);
}

/* "How long ago" is the server's count in its largest whole unit; one contact, one channel. */
static void context_ages_and_counts(void **state)
{
    (void)state;
    static const struct {
        long long secs;
        const char *line;
    } cases[] = {
        {0, "Last contact  just now (2026-11-21 18:40Z)\n"},
        {59, "Last contact  just now (2026-11-21 18:40Z)\n"},
        {60, "Last contact  1 min ago (2026-11-21 18:40Z)\n"},
        {3599, "Last contact  59 min ago (2026-11-21 18:40Z)\n"},
        {3600, "Last contact  1 h ago (2026-11-21 18:40Z)\n"},
        {86399, "Last contact  23 h ago (2026-11-21 18:40Z)\n"},
        {86400 * 40 + 5, "Last contact  40 d ago (2026-11-21 18:40Z)\n"},
        {-7300, "Last contact  in 2 h (2026-11-21 18:40Z)\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = json_pack("{s:s, s:I, s:{s:i, s:i}}", "last_contact_at", "2026-11-21T18:40:05Z",
                              "seconds_since_last_contact", (json_int_t)cases[i].secs,
                              "last_7_days", "contacts", 1, "channels", 1);
        assert_non_null(c);
        struct format_opts o = {.kind = FORMAT_TABLE, .utc = true};
        char *out = render_view(format_context, c, &o);
        /* A length, not a pointer into out: gcc -O2 takes the latter for one into
         * render_view's local and warns of a dangling pointer. */
        size_t first = strcspn(out, "\n");
        assert_int_equal(out[first], '\n');
        if (strncmp(out, cases[i].line, first + 1) != 0 || strlen(cases[i].line) != first + 1) {
            fail_msg("%lld s: got \"%.*s\", want \"%s\"", cases[i].secs, (int)first, out,
                     cases[i].line);
        }
        assert_non_null(strstr(out, "Last 7 days   1 contact on 1 channel\n"));
        free(out);
        json_decref(c);
    }
}

static void erasure_in_every_form(void **state)
{
    (void)state;
    json_t *erasure = json_loads("{\"erased\":true,\"erasure_id\":12,\"customers\":2,"
                                 "\"identities\":3,\"interactions\":41}",
                                 0, NULL);
    json_t *customer = load_json("api-profile.json");
    assert_non_null(erasure);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    struct format_opts o = {.kind = FORMAT_TABLE, .width = 120};
    assert_int_equal(format_erasure(f, erasure, customer, &o), 0);
    /* Without the profile, only the counts. */
    assert_int_equal(format_erasure(f, erasure, NULL, &o), 0);
    o.kind = FORMAT_JSON;
    assert_int_equal(format_erasure(f, erasure, customer, &o), 0);
    o.kind = FORMAT_NDJSON;
    assert_int_equal(format_erasure(f, erasure, customer, &o), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(
        buf, "Erased        سارا کریمی\u200e  01a204c2-159b-79d9-9586-9df2cd800a8a\u200e\n"
             "Customers     2\n"
             "Identities    3\n"
             "Interactions  41\n"
             "Erasure id    12\n"
             "Erased        -\n"
             "Customers     2\n"
             "Identities    3\n"
             "Interactions  41\n"
             "Erasure id    12\n"
             "{\n"
             "  \"erased\": true,\n"
             "  \"erasure_id\": 12,\n"
             "  \"customers\": 2,\n"
             "  \"identities\": 3,\n"
             "  \"interactions\": 41\n"
             "}\n"
             "{\"erased\":true,\"erasure_id\":12,\"customers\":2,"
             "\"identities\":3,\"interactions\":41}\n");
    free(buf);
    json_decref(customer);
    json_decref(erasure);
}

static void erase_notice_says_what_would_go(void **state)
{
    (void)state;
    json_t *customer = load_json("api-profile.json");
    json_t *bare = json_loads("{\"id\":\"01a2\",\"identities\":[{\"kind\":\"web\",\"value\":"
                              "\"x\"}],\"interactions\":1,\"merged_ids\":[]}",
                              0, NULL);
    assert_non_null(bare);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(format_erase_notice(f, customer), 0);
    fputc('\n', f);
    assert_int_equal(format_erase_notice(f, bare), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "this would erase customer سارا کریمی\u200e  "
                             "01a204c2-159b-79d9-9586-9df2cd800a8a for good, with everything "
                             "recorded about them: 5 identities, 11 interactions, 2 customers "
                             "merged into them\n"
                             "this would erase customer 01a2 for good, with everything recorded "
                             "about them: 1 identity, 1 interaction");
    free(buf);
    json_decref(bare);
    json_decref(customer);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_utc),
        cmocka_unit_test(table_default_width_is_120),
        cmocka_unit_test(json_document_keeps_the_next_cursor),
        cmocka_unit_test(more_line_quotes_for_the_shell),
        cmocka_unit_test(table_local_time_in_tehran),
        cmocka_unit_test(table_cut_to_80_columns),
        cmocka_unit_test(table_at_60_columns),
        cmocka_unit_test(table_at_40_columns),
        cmocka_unit_test(table_full_width_cuts_nothing),
        cmocka_unit_test(table_colors),
        cmocka_unit_test(json_document),
        cmocka_unit_test(ndjson_one_item_a_line),
        cmocka_unit_test(table_missing_fields_and_no_customer),
        cmocka_unit_test(table_without_items),
        cmocka_unit_test(cells_are_one_clean_line),
        cmocka_unit_test(times_in_utc_and_local),
        cmocka_unit_test(format_names),
        cmocka_unit_test(customer_table_utc),
        cmocka_unit_test(customer_table_local_time_in_tehran),
        cmocka_unit_test(customer_table_cut_to_80_columns),
        cmocka_unit_test(customer_table_at_40_columns),
        cmocka_unit_test(customer_json_and_ndjson),
        cmocka_unit_test(customer_table_sparse_profile),
        cmocka_unit_test(context_table_utc),
        cmocka_unit_test(context_table_at_60_and_40_columns),
        cmocka_unit_test(context_table_local_time_in_tehran),
        cmocka_unit_test(context_table_cut_to_80_columns),
        cmocka_unit_test(context_table_colors),
        cmocka_unit_test(context_json_and_ndjson),
        cmocka_unit_test(context_of_a_silent_customer),
        cmocka_unit_test(context_ages_and_counts),
        cmocka_unit_test(erasure_in_every_form),
        cmocka_unit_test(erase_notice_says_what_would_go),
        cmocka_unit_test(provenance_cleans_what_adapters_wrote),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
