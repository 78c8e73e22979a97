#include "format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textwidth.h"

/* Spaces between two columns. */
#define GAP 2
/* The summary is what the agent reads: other columns give up width before it is this narrow. */
#define MIN_SUMMARY 24
/* A time the server sent that is not RFC 3339 is shown as it is, up to this many columns. */
#define MAX_TIME 25

#define LRM   "\xE2\x80\x8E"
#define BOLD  "\033[1m"
#define DIM   "\033[2m"
#define RESET "\033[0m"

enum column {
    COL_TIME,
    COL_CHANNEL,
    COL_DIRECTION,
    COL_STATUS,
    COL_AGENT,
    COL_SUMMARY,
    NCOLS,
};

static const struct {
    const char *title;
    const char *key; /* the item's field shown, for the plain ones */
    size_t max;      /* widest the column gets; 0 for no limit */
} columns[NCOLS] = {
    [COL_TIME] = {"TIME", "occurred_at", MAX_TIME},
    [COL_CHANNEL] = {"CHANNEL", "channel", 10},
    [COL_DIRECTION] = {"DIRECTION", "direction", 9},
    [COL_STATUS] = {"STATUS", "status", 12},
    [COL_AGENT] = {"AGENT", "agent", 16},
    [COL_SUMMARY] = {"SUMMARY", NULL, 0},
};

int format_kind_parse(const char *s, enum format_kind *out)
{
    if (strcmp(s, "table") == 0) {
        *out = FORMAT_TABLE;
    } else if (strcmp(s, "json") == 0) {
        *out = FORMAT_JSON;
    } else if (strcmp(s, "ndjson") == 0) {
        *out = FORMAT_NDJSON;
    } else {
        return -1;
    }
    return 0;
}

/* Reads n digits at *p into *v and moves *p past them. Returns 0, or -1. */
static int digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

static int expect(const char **p, const char *one_of)
{
    if (**p == '\0' || strchr(one_of, **p) == NULL) {
        return -1;
    }
    (*p)++;
    return 0;
}

/* Parses RFC 3339 (date, 'T', time, optional fraction, 'Z' or an offset) to a time_t. */
static int parse_rfc3339(const char *s, time_t *out)
{
    int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (digits(&p, 4, &year) < 0 || expect(&p, "-") < 0 || digits(&p, 2, &mon) < 0 ||
        expect(&p, "-") < 0 || digits(&p, 2, &day) < 0 || expect(&p, "Tt ") < 0 ||
        digits(&p, 2, &hour) < 0 || expect(&p, ":") < 0 || digits(&p, 2, &min) < 0 ||
        expect(&p, ":") < 0 || digits(&p, 2, &sec) < 0) {
        return -1;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') {
            return -1;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(&p, 2, &oh) < 0 || expect(&p, ":") < 0 || digits(&p, 2, &om) < 0 || oh > 23 ||
            om > 59) {
            return -1;
        }
    } else {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 ||
        min > 59 || sec > 60) {
        return -1;
    }
    struct tm tm = {
        .tm_year = year - 1900,
        .tm_mon = mon - 1,
        .tm_mday = day,
        .tm_hour = hour,
        .tm_min = min,
        .tm_sec = sec,
    };
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31)) {
        return -1;
    }
    /* 10:00+03:30 is 06:30Z. */
    *out = t - sign * (oh * 3600 + om * 60);
    return 0;
}

int format_time(const char *iso, bool utc, char *out, size_t outlen)
{
    time_t t;
    struct tm tm;
    if (outlen == 0) {
        return -1;
    }
    if (parse_rfc3339(iso, &t) < 0) {
        snprintf(out, outlen, "%s", iso);
        return -1;
    }
    if (utc) {
        gmtime_r(&t, &tm);
    } else {
        /* localtime_r need not look at TZ again; tzset makes it. */
        tzset();
        localtime_r(&t, &tm);
    }
    if (strftime(out, outlen, utc ? "%Y-%m-%d %H:%MZ" : "%Y-%m-%d %H:%M", &tm) == 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Line breaks, tabs, controls (ESC among them) and spaces: a run of them is one space. */
static bool blank(uint32_t cp)
{
    return cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/* Embeddings, overrides and isolates: they change the order of what follows them on the line. */
static bool direction_format(uint32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *format_cell(const char *s)
{
    size_t len = strlen(s);
    if (len > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    /* Each invalid byte may grow into a 3-byte U+FFFD. */
    char *out = malloc(3 * len + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0, i = 0;
    bool space = false;
    while (i < len) {
        uint32_t cp;
        size_t n = textwidth_decode(s + i, len - i, &cp);
        const char *src = s + i;
        i += n;
        if (blank(cp)) {
            space = o > 0;
            continue;
        }
        if (direction_format(cp)) {
            continue;
        }
        if (space) {
            out[o++] = ' ';
            space = false;
        }
        if (cp == TEXTWIDTH_REPLACEMENT) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(out + o, src, n);
            o += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* True when s holds a right-to-left letter (Hebrew, Arabic, Syriac, Thaana, N'Ko... and their
 * presentation forms). */
static bool has_rtl(const char *s)
{
    size_t len = strlen(s), i = 0;
    while (i < len) {
        uint32_t cp;
        i += textwidth_decode(s + i, len - i, &cp);
        if ((cp >= 0x0590 && cp <= 0x08FF) || (cp >= 0xFB1D && cp <= 0xFDFF) ||
            (cp >= 0xFE70 && cp <= 0xFEFE) || (cp >= 0x10800 && cp <= 0x10FFF) ||
            (cp >= 0x1E800 && cp <= 0x1EFFF)) {
            return true;
        }
    }
    return false;
}

/* The cell text of a field: strings cleaned, numbers written out; NULL for absent, empty or
 * other values, which show as "-". */
static int field_text(const json_t *item, const char *key, char **out)
{
    const json_t *v = json_object_get(item, key);
    char num[64];
    const char *s = NULL;
    *out = NULL;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%g", json_real_value(v));
        s = num;
    }
    if (s == NULL) {
        return 0;
    }
    char *c = format_cell(s);
    if (c == NULL) {
        return -1;
    }
    if (c[0] == '\0') {
        free(c);
        return 0;
    }
    *out = c;
    return 0;
}

struct row {
    char *cell[NCOLS]; /* NULL shows as "-" */
};

static void rows_free(struct row *rows, size_t n)
{
    if (rows == NULL) {
        return;
    }
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < NCOLS; c++) {
            free(rows[r].cell[c]);
        }
    }
    free(rows);
}

static int row_fill(struct row *row, const json_t *item, bool utc)
{
    const char *when = json_string_value(json_object_get(item, "occurred_at"));
    if (when != NULL) {
        char buf[64];
        /* A time that does not parse is shown as the server wrote it. */
        (void)format_time(when, utc, buf, sizeof(buf));
        row->cell[COL_TIME] = format_cell(buf);
        if (row->cell[COL_TIME] == NULL) {
            return -1;
        }
    }
    for (int c = COL_CHANNEL; c <= COL_AGENT; c++) {
        if (field_text(item, columns[c].key, &row->cell[c]) < 0) {
            return -1;
        }
    }
    /* What the agent reads first: the subject, else the body. */
    if (field_text(item, "subject", &row->cell[COL_SUMMARY]) < 0) {
        return -1;
    }
    if (row->cell[COL_SUMMARY] == NULL && field_text(item, "body", &row->cell[COL_SUMMARY]) < 0) {
        return -1;
    }
    return 0;
}

static const char *shown(const char *cell)
{
    return cell != NULL ? cell : "-";
}

/*
 * Writes s cut to *left columns and takes what it used from *left. Returns 1 when s did not
 * fit (nothing more should follow), 0 when it did, -1 when out of memory.
 */
static int put_budget(FILE *out, const char *s, size_t *left, const char *before, const char *after)
{
    char *t = textwidth_truncate(s, *left);
    if (t == NULL) {
        return -1;
    }
    size_t w = textwidth(t);
    fprintf(out, "%s%s%s", before, t, after);
    int cut = strcmp(t, s) != 0;
    free(t);
    *left -= w < *left ? w : *left;
    return cut;
}

/* One line: the customer's name, id and identities, cut to width. */
static int customer_line(FILE *out, const json_t *customer, const struct format_opts *o,
                         size_t width)
{
    char *name = NULL, *id = NULL, *ids = NULL;
    char *buf = NULL;
    size_t buflen = 0;
    size_t left = width;
    int rc = -1, r = 0;
    if (field_text(customer, "name", &name) < 0 || field_text(customer, "id", &id) < 0) {
        goto out;
    }
    FILE *m = open_memstream(&buf, &buflen);
    if (m == NULL) {
        goto out;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(customer, "identities"), i, e)
    {
        char *kind = NULL, *value = NULL;
        if (field_text(e, "kind", &kind) == 0 && field_text(e, "value", &value) == 0) {
            fprintf(m, "%s%s %s", i > 0 ? ", " : "", shown(kind), shown(value));
        }
        free(kind);
        free(value);
    }
    if (fclose(m) != 0) {
        goto out;
    }
    ids = format_cell(buf);
    if (ids == NULL) {
        goto out;
    }
    if (name != NULL) {
        bool rtl = has_rtl(name);
        r = put_budget(out, name, &left, o->color ? BOLD : "",
                       o->color ? (rtl ? LRM RESET : RESET) : (rtl ? LRM : ""));
    }
    const char *rest[] = {shown(id), ids};
    for (size_t k = 0; k < 2 && r == 0; k++) {
        if (rest[k][0] == '\0') {
            continue;
        }
        if (name != NULL || k > 0) {
            if (left <= GAP) {
                break;
            }
            fprintf(out, "%*s", GAP, "");
            left -= GAP;
        }
        r = put_budget(out, rest[k], &left, "", "");
    }
    if (r < 0) {
        goto out;
    }
    fputc('\n', out);
    rc = 0;
out:
    free(buf);
    free(ids);
    free(id);
    free(name);
    return rc;
}

/* Column widths from the content; the summary takes what is left of width. */
static void layout(const struct row *rows, size_t n, size_t width, size_t w[NCOLS])
{
    for (int c = 0; c < NCOLS; c++) {
        w[c] = textwidth(columns[c].title);
    }
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < COL_SUMMARY; c++) {
            size_t cw = textwidth(shown(rows[r].cell[c]));
            if (columns[c].max > 0 && cw > columns[c].max) {
                cw = columns[c].max;
            }
            w[c] = cw > w[c] ? cw : w[c];
        }
    }
    /* Narrow terminals: the agent, status and channel columns give way first. */
    static const int give[] = {COL_AGENT, COL_STATUS, COL_CHANNEL};
    for (size_t k = 0; k < sizeof(give) / sizeof(give[0]); k++) {
        int c = give[k];
        size_t used = 0;
        for (int d = 0; d < COL_SUMMARY; d++) {
            used += w[d] + GAP;
        }
        size_t floor = textwidth(columns[c].title);
        size_t want = used + MIN_SUMMARY;
        if (want > width && w[c] > floor) {
            size_t over = want - width;
            w[c] -= over < w[c] - floor ? over : w[c] - floor;
        }
    }
    size_t used = 0;
    for (int c = 0; c < COL_SUMMARY; c++) {
        used += w[c] + GAP;
    }
    w[COL_SUMMARY] = width > used + MIN_SUMMARY ? width - used : MIN_SUMMARY;
}

/* Writes one line of cells, the bold titles when title. Returns 0, or -1 out of memory. */
static int table_line(FILE *out, const char *const cells[NCOLS], const size_t w[NCOLS], bool color,
                      bool title)
{
    if (title && color) {
        fputs(BOLD, out);
    }
    for (int c = 0; c < NCOLS; c++) {
        const char *s = cells[c];
        /* The last column is not padded: no trailing spaces. */
        char *t =
            c < COL_SUMMARY ? textwidth_fit(s, w[c], TEXTWIDTH_LEFT) : textwidth_truncate(s, w[c]);
        if (t == NULL) {
            return -1;
        }
        bool dim = color && !title && c == COL_TIME;
        fprintf(out, "%s%s%s", dim ? DIM : "", t, dim ? RESET : "");
        if (c < COL_SUMMARY) {
            fprintf(out, "%s%*s", has_rtl(t) ? LRM : "", GAP, "");
        }
        free(t);
    }
    fputs(title && color ? RESET "\n" : "\n", out);
    return 0;
}

static int table(FILE *out, const json_t *customer, const json_t *items,
                 const struct format_opts *o)
{
    size_t width = o->width > 0 ? o->width : FORMAT_DEFAULT_WIDTH;
    size_t n = json_array_size(items);
    struct row *rows = NULL;
    int rc = -1;
    if (customer != NULL && customer_line(out, customer, o, width) < 0) {
        goto out;
    }
    if (n == 0) {
        fputs("(no interactions)\n", out);
        rc = 0;
        goto out;
    }
    rows = calloc(n, sizeof(*rows));
    if (rows == NULL) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        if (row_fill(&rows[r], json_array_get(items, r), o->utc) < 0) {
            goto out;
        }
    }
    size_t w[NCOLS];
    layout(rows, n, width, w);
    const char *cells[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        cells[c] = columns[c].title;
    }
    if (table_line(out, cells, w, o->color, true) < 0) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < NCOLS; c++) {
            cells[c] = shown(rows[r].cell[c]);
        }
        if (table_line(out, cells, w, o->color, false) < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    rows_free(rows, n);
    return rc;
}

int format_ndjson(FILE *out, const json_t *items)
{
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        if (json_dumpf(item, out, JSON_COMPACT) < 0 || fputc('\n', out) == EOF) {
            return -1;
        }
    }
    return 0;
}

static int document(FILE *out, const json_t *customer, const json_t *items)
{
    int rc = -1;
    json_t *doc = json_object();
    json_t *none = json_array();
    if (doc == NULL || none == NULL) {
        goto out;
    }
    /* jansson takes a reference even to what it only reads; the casts do not write. */
    if (json_object_set(doc, "customer", customer != NULL ? (json_t *)customer : json_null()) < 0 ||
        json_object_set(doc, "items", items != NULL ? (json_t *)items : none) < 0) {
        goto out;
    }
    if (json_dumpf(doc, out, JSON_INDENT(2)) < 0 || fputc('\n', out) == EOF) {
        goto out;
    }
    rc = 0;
out:
    json_decref(none);
    json_decref(doc);
    return rc;
}

int format_timeline(FILE *out, const json_t *customer, const json_t *items,
                    const struct format_opts *o)
{
    int rc = -1;
    switch (o->kind) {
    case FORMAT_TABLE:
        rc = table(out, customer, items, o);
        break;
    case FORMAT_JSON:
        rc = document(out, customer, items);
        break;
    case FORMAT_NDJSON:
        rc = format_ndjson(out, items);
        break;
    }
    if (ferror(out)) {
        rc = -1;
    }
    return rc;
}
