#include "format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textwidth.h"

/* Spaces between two columns, and between a label and its value. */
#define GAP 2
/* The last column (the summary, the subject) is what the agent reads: other columns give up
 * width before it is this narrow. */
#define MIN_LAST 24
/* Labelled lines: a value gets at least this many columns, whatever the width. */
#define MIN_VALUE 24
/* A time the server sent that is not RFC 3339 is shown as it is, up to this many columns. */
#define MAX_TIME 25
/* The most columns a table has. */
#define MAX_COLS 8
/* Once every column that may go has gone, the last column takes what is left, but at least
 * this many columns (the line then wraps: narrower than FORMAT_MIN_WIDTH is not asked for). */
#define MIN_LAST_DROPPED 8

#define LRM   "\xE2\x80\x8E"
#define BOLD  "\033[1m"
#define DIM   "\033[2m"
#define RESET "\033[0m"

/* One column of a table. */
struct column {
    const char *title;
    size_t max;                 /* widest the column gets; 0 for no limit */
    enum textwidth_align align; /* of the cells; titles are always left */
    int give; /* on a narrow terminal columns give up width in this order, 1 first; 0 never */
    int drop; /* and then they go in this order, 1 first; 0 never */
    bool dim; /* dimmed in color: the times, which the eye skips over */
};

/*
 * Rows of cells under columns: the one table renderer of the client (timeline rows, open
 * threads). Columns are as wide as their widest cell, up to their max; the last one takes the
 * width that is left, at least MIN_LAST, and is not padded. When that does not fit, the last
 * column stays at MIN_LAST, the columns with a give rank narrow down to their title, and then
 * the ones with a drop rank go, one after the other (docs/client.md, touchline(1) say the
 * order to users). FORMAT_FULL_WIDTH lays the table out for a pipe: no column is cut.
 */
struct table {
    const struct column *cols;
    size_t ncols; /* 2..MAX_COLS */
    size_t nrows;
    char **cells; /* nrows * ncols, owned; NULL shows as "-" */
};

/* Interactions, in the timeline and in the context's latest-per-channel rows. */
enum item_column {
    COL_TIME,
    COL_CHANNEL,
    COL_DIRECTION,
    COL_STATUS,
    COL_AGENT,
    COL_SUMMARY,
    NCOLS,
};

static const struct column item_columns[NCOLS] = {
    [COL_TIME] = {.title = "TIME", .max = MAX_TIME, .align = TEXTWIDTH_LEFT, .dim = true},
    [COL_CHANNEL] = {.title = "CHANNEL", .max = 10, .align = TEXTWIDTH_LEFT, .give = 3, .drop = 4},
    [COL_DIRECTION] = {.title = "DIRECTION", .max = 9, .align = TEXTWIDTH_LEFT, .drop = 1},
    [COL_STATUS] = {.title = "STATUS", .max = 12, .align = TEXTWIDTH_LEFT, .give = 2, .drop = 3},
    [COL_AGENT] = {.title = "AGENT", .max = 16, .align = TEXTWIDTH_LEFT, .give = 1, .drop = 2},
    [COL_SUMMARY] = {.title = "SUMMARY", .max = 0, .align = TEXTWIDTH_LEFT},
};

/* The item's field each plain column shows. */
static const char *const item_keys[NCOLS] = {
    [COL_CHANNEL] = "channel",
    [COL_DIRECTION] = "direction",
    [COL_STATUS] = "status",
    [COL_AGENT] = "agent",
};

/* The context's open threads. */
enum thread_column {
    THR_THREAD,
    THR_CHANNEL,
    THR_RECORDS,
    THR_LAST,
    THR_SUBJECT,
    THR_NCOLS,
};

static const struct column thread_columns[THR_NCOLS] = {
    [THR_THREAD] = {.title = "THREAD", .max = 24, .align = TEXTWIDTH_LEFT, .give = 1, .drop = 3},
    [THR_CHANNEL] = {.title = "CHANNEL", .max = 10, .align = TEXTWIDTH_LEFT, .give = 2, .drop = 2},
    [THR_RECORDS] = {.title = "RECORDS", .max = 9, .align = TEXTWIDTH_RIGHT, .drop = 1},
    [THR_LAST] = {.title = "LAST ACTIVITY", .max = MAX_TIME, .align = TEXTWIDTH_LEFT, .dim = true},
    [THR_SUBJECT] = {.title = "SUBJECT", .max = 0, .align = TEXTWIDTH_LEFT},
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

/* The cell text of the time in field key: local or UTC, as the server wrote it when it does
 * not parse; NULL when absent. */
static int time_text(const json_t *obj, const char *key, bool utc, char **out)
{
    const char *when = json_string_value(json_object_get(obj, key));
    *out = NULL;
    if (when == NULL) {
        return 0;
    }
    char buf[64];
    /* A time that does not parse is shown as the server wrote it. */
    (void)format_time(when, utc, buf, sizeof(buf));
    *out = format_cell(buf);
    return *out != NULL ? 0 : -1;
}

/* A table of nrows rows under cols, every cell NULL; NULL when out of memory. */
static struct table *table_new(const struct column *cols, size_t ncols, size_t nrows)
{
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->cols = cols;
    t->ncols = ncols;
    t->nrows = nrows;
    t->cells = calloc(nrows > 0 ? nrows * ncols : 1, sizeof(*t->cells));
    if (t->cells == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

static void table_free(struct table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(t);
}

/* Fills the cells of one interaction (item_columns). Returns 0, or -1 when out of memory. */
static int item_fill(char **cell, const json_t *item, bool utc)
{
    if (time_text(item, "occurred_at", utc, &cell[COL_TIME]) < 0) {
        return -1;
    }
    for (int c = COL_CHANNEL; c <= COL_AGENT; c++) {
        if (field_text(item, item_keys[c], &cell[c]) < 0) {
            return -1;
        }
    }
    /* What the agent reads first: the subject, else the body. */
    if (field_text(item, "subject", &cell[COL_SUMMARY]) < 0) {
        return -1;
    }
    if (cell[COL_SUMMARY] == NULL && field_text(item, "body", &cell[COL_SUMMARY]) < 0) {
        return -1;
    }
    return 0;
}

/* Fills the cells of one open thread (thread_columns). Returns 0, or -1 when out of memory. */
static int thread_fill(char **cell, const json_t *thread, bool utc)
{
    if (field_text(thread, "thread", &cell[THR_THREAD]) < 0 ||
        field_text(thread, "channel", &cell[THR_CHANNEL]) < 0 ||
        field_text(thread, "records", &cell[THR_RECORDS]) < 0 ||
        time_text(thread, "last_at", utc, &cell[THR_LAST]) < 0 ||
        field_text(thread, "subject", &cell[THR_SUBJECT]) < 0) {
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

/* Columns that the visible ones other than the last take, with their gaps. */
static size_t used_width(const struct table *t, const size_t w[MAX_COLS], const bool hide[MAX_COLS])
{
    size_t used = 0;
    for (size_t c = 0; c + 1 < t->ncols; c++) {
        used += hide[c] ? 0 : w[c] + GAP;
    }
    return used;
}

/*
 * Column widths from the content, and which columns go (hide): the last column takes what is
 * left of width. With FORMAT_FULL_WIDTH nothing is cut and nothing goes.
 */
static void layout(const struct table *t, size_t width, size_t w[MAX_COLS], bool hide[MAX_COLS])
{
    size_t last = t->ncols - 1;
    bool full = width == FORMAT_FULL_WIDTH;
    size_t natural[MAX_COLS];
    int most_drop = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        natural[c] = textwidth(t->cols[c].title);
        hide[c] = false;
        most_drop = t->cols[c].drop > most_drop ? t->cols[c].drop : most_drop;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < last; c++) {
            size_t cw = textwidth(shown(t->cells[r * t->ncols + c]));
            if (!full && t->cols[c].max > 0 && cw > t->cols[c].max) {
                cw = t->cols[c].max;
            }
            natural[c] = cw > natural[c] ? cw : natural[c];
        }
    }
    if (full) {
        memcpy(w, natural, sizeof(natural));
        w[last] = FORMAT_FULL_WIDTH;
        return;
    }
    /* Narrow terminals: with the last column at MIN_LAST, the columns that matter least give
     * way first, down to their title; when that is not enough, they go one by one, and the
     * ones left take their natural width again. */
    for (int gone = 0;; gone++) {
        for (size_t c = 0; c < last; c++) {
            hide[c] = t->cols[c].drop > 0 && t->cols[c].drop <= gone;
            w[c] = natural[c];
        }
        for (int rank = 1; rank <= (int)t->ncols; rank++) {
            for (size_t c = 0; c < last; c++) {
                if (t->cols[c].give != rank || hide[c]) {
                    continue;
                }
                size_t floor = textwidth(t->cols[c].title);
                size_t want = used_width(t, w, hide) + MIN_LAST;
                if (want > width && w[c] > floor) {
                    size_t over = want - width;
                    w[c] -= over < w[c] - floor ? over : w[c] - floor;
                }
            }
        }
        if (used_width(t, w, hide) + MIN_LAST <= width || gone >= most_drop) {
            break;
        }
    }
    size_t used = used_width(t, w, hide);
    w[last] = width > used + MIN_LAST_DROPPED ? width - used : MIN_LAST_DROPPED;
}

/* Writes one line of cells, the bold titles when title, without the hidden columns. Returns
 * 0, or -1 out of memory. */
static int table_line(FILE *out, const struct table *t, const char *const cells[MAX_COLS],
                      const size_t w[MAX_COLS], const bool hide[MAX_COLS], bool color, bool title)
{
    size_t last = t->ncols - 1;
    if (title && color) {
        fputs(BOLD, out);
    }
    for (size_t c = 0; c < t->ncols; c++) {
        if (hide[c]) {
            continue;
        }
        const char *s = cells[c];
        /* The last column is not padded: no trailing spaces. */
        enum textwidth_align align = title ? TEXTWIDTH_LEFT : t->cols[c].align;
        char *f = c < last ? textwidth_fit(s, w[c], align) : textwidth_truncate(s, w[c]);
        if (f == NULL) {
            return -1;
        }
        bool dim = color && !title && t->cols[c].dim;
        fprintf(out, "%s%s%s", dim ? DIM : "", f, dim ? RESET : "");
        if (c < last) {
            fprintf(out, "%s%*s", has_rtl(f) ? LRM : "", GAP, "");
        }
        free(f);
    }
    fputs(title && color ? RESET "\n" : "\n", out);
    return 0;
}

/* Writes the titles and the rows of t, lined up in width columns. Returns 0, or -1 when out of
 * memory. */
static int table_write(FILE *out, const struct table *t, size_t width, bool color)
{
    size_t w[MAX_COLS];
    bool hide[MAX_COLS];
    const char *cells[MAX_COLS];
    layout(t, width, w, hide);
    for (size_t c = 0; c < t->ncols; c++) {
        cells[c] = t->cols[c].title;
    }
    if (table_line(out, t, cells, w, hide, color, true) < 0) {
        return -1;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            cells[c] = shown(t->cells[r * t->ncols + c]);
        }
        if (table_line(out, t, cells, w, hide, color, false) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Interactions (an array, newest first) as a table, or "(no interactions)". Returns 0, or -1
 * when out of memory. */
static int items_table(FILE *out, const json_t *items, const struct format_opts *o, size_t width)
{
    size_t n = json_array_size(items);
    if (n == 0) {
        fputs("(no interactions)\n", out);
        return 0;
    }
    int rc = -1;
    struct table *t = table_new(item_columns, NCOLS, n);
    if (t == NULL) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        if (item_fill(t->cells + r * NCOLS, json_array_get(items, r), o->utc) < 0) {
            goto out;
        }
    }
    rc = table_write(out, t, width, o->color);
out:
    table_free(t);
    return rc;
}

/* Open threads (an array, latest activity first) as a table, or "(none)". Returns 0, or -1
 * when out of memory. */
static int threads_table(FILE *out, const json_t *threads, const struct format_opts *o,
                         size_t width)
{
    size_t n = json_array_size(threads);
    if (n == 0) {
        fputs("(none)\n", out);
        return 0;
    }
    int rc = -1;
    struct table *t = table_new(thread_columns, THR_NCOLS, n);
    if (t == NULL) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        if (thread_fill(t->cells + r * THR_NCOLS, json_array_get(threads, r), o->utc) < 0) {
            goto out;
        }
    }
    rc = table_write(out, t, width, o->color);
out:
    table_free(t);
    return rc;
}

static size_t width_of(const struct format_opts *o)
{
    return o->width > 0 ? o->width : FORMAT_DEFAULT_WIDTH;
}

static int table(FILE *out, const json_t *customer, const json_t *items,
                 const struct format_opts *o)
{
    size_t width = width_of(o);
    if (customer != NULL && customer_line(out, customer, o, width) < 0) {
        return -1;
    }
    return items_table(out, items, o, width);
}

/*
 * Labelled lines, "Last seen     2026-11-21 18:40": the labels in a column as wide as the
 * widest of them (by display width) plus GAP, each value on its own line, cut to what the
 * width leaves.
 */
struct labels {
    FILE *out;
    size_t label_w;
    size_t value_w;
    bool color; /* bold labels */
};

static void labels_init(struct labels *l, FILE *out, const char *const *names, size_t n,
                        const struct format_opts *o)
{
    size_t lw = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = textwidth(names[i]);
        lw = w > lw ? w : lw;
    }
    size_t width = width_of(o);
    l->out = out;
    l->label_w = lw + GAP;
    l->value_w = width > l->label_w + MIN_VALUE ? width - l->label_w : MIN_VALUE;
    l->color = o->color;
}

/* Writes one line: label ("" under the previous one) and value (a cell; NULL shows as "-").
 * Returns 0, or -1 when out of memory. */
static int labelled(const struct labels *l, const char *label, const char *value)
{
    char *v = textwidth_truncate(shown(value), l->value_w);
    if (v == NULL) {
        return -1;
    }
    size_t lw = textwidth(label);
    bool bold = l->color && label[0] != '\0';
    fprintf(l->out, "%s%s%s%*s%s%s\n", bold ? BOLD : "", label, bold ? RESET : "",
            (int)(lw < l->label_w ? l->label_w - lw : 0), "", v, has_rtl(v) ? LRM : "");
    free(v);
    return 0;
}

/* Key-value pairs shown under one label, the keys lined up: identities, traits. */
struct pairs {
    size_t n;
    char **key; /* cells; NULL shows as "-" */
    char **val;
};

static int pairs_alloc(struct pairs *p, size_t n)
{
    p->n = 0;
    p->key = calloc(n > 0 ? n : 1, sizeof(*p->key));
    p->val = calloc(n > 0 ? n : 1, sizeof(*p->val));
    return p->key != NULL && p->val != NULL ? 0 : -1;
}

static void pairs_free(struct pairs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->key[i]);
        free(p->val[i]);
    }
    free(p->key);
    free(p->val);
}

/* Writes the pairs as "key  value" lines under label ("-" when there are none). Returns 0, or
 * -1 when out of memory. */
static int pairs_write(const struct labels *l, const char *label, const struct pairs *p)
{
    if (p->n == 0) {
        return labelled(l, label, NULL);
    }
    size_t kw = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t w = textwidth(shown(p->key[i]));
        kw = w > kw ? w : kw;
    }
    for (size_t i = 0; i < p->n; i++) {
        const char *k = shown(p->key[i]);
        char *line = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&line, &len);
        if (m == NULL) {
            return -1;
        }
        /* A right-to-left key is closed by a mark, so that the value stays to its right. */
        fprintf(m, "%s%s%*s%s", k, has_rtl(k) ? LRM : "", (int)(kw - textwidth(k) + GAP), "",
                shown(p->val[i]));
        int rc = fclose(m) == 0 ? labelled(l, i == 0 ? label : "", line) : -1;
        free(line);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* The identities of a profile ([{"kind":…,"value":…}]) as pairs. Returns 0, or -1. */
static int identity_pairs(const json_t *identities, struct pairs *p)
{
    if (pairs_alloc(p, json_array_size(identities)) < 0) {
        return -1;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(identities, i, e)
    {
        p->n++;
        if (field_text(e, "kind", &p->key[i]) < 0 || field_text(e, "value", &p->val[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The traits of a profile (a JSON object) as pairs: strings as they are, other values as
 * compact JSON. Returns 0, or -1. */
static int trait_pairs(const json_t *traits, struct pairs *p)
{
    if (pairs_alloc(p, json_object_size(traits)) < 0) {
        return -1;
    }
    const char *k;
    json_t *v;
    /* jansson's iteration macro wants a non-const object; it only reads it. */
    json_object_foreach((json_t *)traits, k, v)
    {
        size_t i = p->n++;
        char *dump = NULL;
        const char *s = json_string_value(v);
        if (s == NULL) {
            dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (dump == NULL) {
                return -1;
            }
            s = dump;
        }
        p->key[i] = format_cell(k);
        p->val[i] = format_cell(s);
        free(dump);
        if (p->key[i] == NULL || p->val[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* One channel's count, for ordering them. */
struct channel_count {
    const char *channel; /* borrowed from the profile */
    json_int_t n;
};

/* The busiest channel first; equal counts by name, so that the order does not depend on the
 * order of the server's keys (jsonb sorts them by length). */
static int by_count(const void *a, const void *b)
{
    const struct channel_count *x = a, *y = b;
    if (x->n != y->n) {
        return x->n > y->n ? -1 : 1;
    }
    return strcmp(x->channel, y->channel);
}

/* "6: phone 4, chat 1, email 1" from a profile's interactions and counts; NULL (shown "-")
 * when it has neither. Returns 0, or -1 when out of memory. */
static int counts_text(const json_t *customer, char **out)
{
    char *total = NULL, *buf = NULL;
    size_t len = 0, n = 0;
    int rc = -1;
    *out = NULL;
    const json_t *counts = json_object_get(customer, "counts");
    struct channel_count *cc = calloc(json_object_size(counts) + 1, sizeof(*cc));
    if (cc == NULL || field_text(customer, "interactions", &total) < 0) {
        goto out;
    }
    const char *k;
    json_t *v;
    /* jansson's iteration macro wants a non-const object; it only reads it. */
    json_object_foreach((json_t *)counts, k, v)
    {
        if (json_is_integer(v)) {
            cc[n].channel = k;
            cc[n].n = json_integer_value(v);
            n++;
        }
    }
    if (total == NULL && n == 0) {
        rc = 0;
        goto out;
    }
    qsort(cc, n, sizeof(*cc), by_count);
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL) {
        goto out;
    }
    fputs(total != NULL ? total : "?", m);
    for (size_t i = 0; i < n; i++) {
        fprintf(m, "%s%s %" JSON_INTEGER_FORMAT, i == 0 ? ": " : ", ", cc[i].channel, cc[i].n);
    }
    if (fclose(m) != 0) {
        goto out;
    }
    /* Channel names come from the server: cleaned like any cell. */
    *out = format_cell(buf);
    rc = *out != NULL ? 0 : -1;
out:
    free(buf);
    free(total);
    free(cc);
    return rc;
}

static int profile_lines(FILE *out, const json_t *c, const struct format_opts *o)
{
    static const char *const names[] = {"Name",       "Id",        "Identities",   "Traits",
                                        "First seen", "Last seen", "Interactions", "Merged ids"};
    struct labels l;
    labels_init(&l, out, names, sizeof(names) / sizeof(names[0]), o);
    char *name = NULL, *id = NULL, *first = NULL, *last = NULL, *counts = NULL;
    struct pairs ids = {0}, traits = {0};
    int rc = -1;
    if (field_text(c, "name", &name) < 0 || field_text(c, "id", &id) < 0 ||
        time_text(c, "first_seen", o->utc, &first) < 0 ||
        time_text(c, "last_seen", o->utc, &last) < 0 || counts_text(c, &counts) < 0 ||
        identity_pairs(json_object_get(c, "identities"), &ids) < 0 ||
        trait_pairs(json_object_get(c, "traits"), &traits) < 0) {
        goto out;
    }
    if (labelled(&l, "Name", name) < 0 || labelled(&l, "Id", id) < 0 ||
        pairs_write(&l, "Identities", &ids) < 0 || pairs_write(&l, "Traits", &traits) < 0 ||
        labelled(&l, "First seen", first) < 0 || labelled(&l, "Last seen", last) < 0 ||
        labelled(&l, "Interactions", counts) < 0) {
        goto out;
    }
    const json_t *merged = json_object_get(c, "merged_ids");
    if (json_array_size(merged) == 0 && labelled(&l, "Merged ids", NULL) < 0) {
        goto out;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(merged, i, e)
    {
        char *cell = format_cell(json_is_string(e) ? json_string_value(e) : "?");
        int r = cell != NULL ? labelled(&l, i == 0 ? "Merged ids" : "", cell) : -1;
        free(cell);
        if (r < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    pairs_free(&traits);
    pairs_free(&ids);
    free(counts);
    free(last);
    free(first);
    free(id);
    free(name);
    return rc;
}

/* "3 h ago": how long s seconds are, in the largest whole unit. */
static void age_text(long long s, char *out, size_t outlen)
{
    bool future = s < 0;
    unsigned long long a = future ? 0ULL - (unsigned long long)s : (unsigned long long)s;
    const char *unit = "s";
    if (a >= 86400) {
        a /= 86400;
        unit = "d";
    } else if (a >= 3600) {
        a /= 3600;
        unit = "h";
    } else if (a >= 60) {
        a /= 60;
        unit = "min";
    } else if (!future) {
        snprintf(out, outlen, "just now");
        return;
    }
    /* A record dated after the server's clock: say so rather than "-2 h ago". */
    snprintf(out, outlen, future ? "in %llu %s" : "%llu %s ago", a, unit);
}

/* Builds "<what> (<time>)" into *out; what or the time may be missing. Returns 0, or -1. */
static int with_time(const char *what, const char *when, char **out)
{
    *out = NULL;
    if (what == NULL && when == NULL) {
        return 0;
    }
    size_t n = (what != NULL ? strlen(what) : 0) + (when != NULL ? strlen(when) : 0) + 4;
    *out = malloc(n);
    if (*out == NULL) {
        return -1;
    }
    if (what != NULL && when != NULL) {
        snprintf(*out, n, "%s (%s)", what, when);
    } else {
        snprintf(*out, n, "%s", what != NULL ? what : when);
    }
    return 0;
}

/* "3 h ago (2026-11-21 18:40)", "never" for a customer without interactions. */
static int last_contact_text(const json_t *ctx, bool utc, char **out)
{
    char *when = NULL;
    char age[64];
    const json_t *secs = json_object_get(ctx, "seconds_since_last_contact");
    *out = NULL;
    if (time_text(ctx, "last_contact_at", utc, &when) < 0) {
        return -1;
    }
    if (when == NULL && !json_is_number(secs)) {
        free(when);
        *out = strdup("never");
        return *out != NULL ? 0 : -1;
    }
    /* The server counts the seconds against its own clock: the client's does not matter. */
    if (json_is_number(secs)) {
        age_text((long long)json_number_value(secs), age, sizeof(age));
    }
    int rc = with_time(json_is_number(secs) ? age : NULL, when, out);
    free(when);
    return rc;
}

/* "4 contacts on 2 channels". */
static int recent_text(const json_t *ctx, char **out)
{
    const json_t *d = json_object_get(ctx, "last_7_days");
    const json_t *contacts = json_object_get(d, "contacts");
    const json_t *channels = json_object_get(d, "channels");
    char buf[128];
    *out = NULL;
    if (!json_is_integer(contacts)) {
        return 0;
    }
    json_int_t n = json_integer_value(contacts);
    int len =
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT " contact%s", n, n == 1 ? "" : "s");
    if (json_is_integer(channels) && n > 0) {
        json_int_t k = json_integer_value(channels);
        snprintf(buf + len, sizeof(buf) - (size_t)len, " on %" JSON_INTEGER_FORMAT " channel%s", k,
                 k == 1 ? "" : "s");
    }
    *out = strdup(buf);
    return *out != NULL ? 0 : -1;
}

/* "negative (2026-11-21 18:40)" from {"value":…,"at":…}; NULL (shown "-") for null. */
static int valued_text(const json_t *ctx, const char *key, bool utc, char **out)
{
    const json_t *v = json_object_get(ctx, key);
    char *value = NULL, *when = NULL;
    *out = NULL;
    int rc = -1;
    if (field_text(v, "value", &value) < 0 || time_text(v, "at", utc, &when) < 0) {
        goto out;
    }
    rc = value != NULL ? with_time(value, when, out) : 0;
out:
    free(when);
    free(value);
    return rc;
}

/* A section's title, bold in color, after an empty line. */
static void heading(FILE *out, const char *title, bool color)
{
    fprintf(out, "\n%s%s%s\n", color ? BOLD : "", title, color ? RESET : "");
}

static int context_screen(FILE *out, const json_t *ctx, const struct format_opts *o)
{
    static const char *const names[] = {"Last contact", "Last 7 days", "Stage", "Sentiment",
                                        "Score"};
    static const char *const keys[] = {"stage", "sentiment", "score"};
    size_t width = width_of(o);
    struct labels l;
    labels_init(&l, out, names, sizeof(names) / sizeof(names[0]), o);
    char *text = NULL;
    int rc = -1;
    const json_t *customer = json_object_get(ctx, "customer");
    if (json_is_object(customer) && customer_line(out, customer, o, width) < 0) {
        goto out;
    }
    if (last_contact_text(ctx, o->utc, &text) < 0 || labelled(&l, names[0], text) < 0) {
        goto out;
    }
    free(text);
    if (recent_text(ctx, &text) < 0 || labelled(&l, names[1], text) < 0) {
        goto out;
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        free(text);
        if (valued_text(ctx, keys[k], o->utc, &text) < 0 || labelled(&l, names[2 + k], text) < 0) {
            goto out;
        }
    }
    heading(out, "Open threads", o->color);
    if (threads_table(out, json_object_get(ctx, "open_threads"), o, width) < 0) {
        goto out;
    }
    heading(out, "Latest on each channel", o->color);
    if (items_table(out, json_object_get(ctx, "last_by_channel"), o, width) < 0) {
        goto out;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

/* "سارا کریمی  0193…": who a profile is, on one line; NULL when it names no one. */
static int who_text(const json_t *customer, char **out)
{
    char *name = NULL, *id = NULL;
    *out = NULL;
    int rc = -1;
    if (field_text(customer, "name", &name) < 0 || field_text(customer, "id", &id) < 0) {
        goto out;
    }
    if (name != NULL || id != NULL) {
        size_t n = (name != NULL ? strlen(name) : 0) + (id != NULL ? strlen(id) : 0) + 8;
        *out = malloc(n);
        if (*out == NULL) {
            goto out;
        }
        /* The mark keeps a right-to-left name from swapping places with the id. */
        snprintf(*out, n, "%s%s%s%s", name != NULL ? name : "",
                 name != NULL && has_rtl(name) ? LRM : "", name != NULL && id != NULL ? "  " : "",
                 id != NULL ? id : "");
    }
    rc = 0;
out:
    free(id);
    free(name);
    return rc;
}

static int erasure_lines(FILE *out, const json_t *erasure, const json_t *customer,
                         const struct format_opts *o)
{
    static const char *const names[] = {"Erased", "Customers", "Identities", "Interactions",
                                        "Erasure id"};
    static const char *const keys[] = {"customers", "identities", "interactions", "erasure_id"};
    struct labels l;
    labels_init(&l, out, names, sizeof(names) / sizeof(names[0]), o);
    char *text = NULL;
    int rc = -1;
    if (who_text(customer, &text) < 0 || labelled(&l, names[0], text) < 0) {
        goto out;
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        free(text);
        if (field_text(erasure, keys[k], &text) < 0 || labelled(&l, names[1 + k], text) < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    free(text);
    return rc;
}

/* "3 identities" from the size n. */
static void count_of(FILE *out, const char *sep, size_t n, const char *one, const char *many)
{
    fprintf(out, "%s%zu %s", sep, n, n == 1 ? one : many);
}

int format_erase_notice(FILE *out, const json_t *customer)
{
    char *who = NULL;
    if (who_text(customer, &who) < 0) {
        return -1;
    }
    const json_t *n = json_object_get(customer, "interactions");
    fprintf(out, "this would erase %s%s for good, with everything recorded about them: ",
            who != NULL ? "customer " : "the customer", who != NULL ? who : "");
    count_of(out, "", json_array_size(json_object_get(customer, "identities")), "identity",
             "identities");
    if (json_is_integer(n) && json_integer_value(n) >= 0) {
        count_of(out, ", ", (size_t)json_integer_value(n), "interaction", "interactions");
    }
    size_t merged = json_array_size(json_object_get(customer, "merged_ids"));
    if (merged > 0) {
        count_of(out, ", ", merged, "customer merged into them", "customers merged into them");
    }
    free(who);
    return ferror(out) ? -1 : 0;
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

static int document(FILE *out, const json_t *customer, const json_t *items, const char *next_cursor)
{
    int rc = -1;
    json_t *doc = json_object();
    json_t *none = json_array();
    if (doc == NULL || none == NULL) {
        goto out;
    }
    /* jansson takes a reference even to what it only reads; the casts do not write. */
    if (json_object_set(doc, "customer", customer != NULL ? (json_t *)customer : json_null()) < 0 ||
        json_object_set(doc, "items", items != NULL ? (json_t *)items : none) < 0 ||
        json_object_set_new(doc, "next_cursor",
                            next_cursor != NULL ? json_string(next_cursor) : json_null()) < 0) {
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

int format_timeline(FILE *out, const json_t *customer, const json_t *items, const char *next_cursor,
                    const struct format_opts *o)
{
    int rc = -1;
    switch (o->kind) {
    case FORMAT_TABLE:
        rc = table(out, customer, items, o);
        break;
    case FORMAT_JSON:
        rc = document(out, customer, items, next_cursor);
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

/* The JSON forms of one answer: indented by 2, or compact on one line. */
static int object_json(FILE *out, const json_t *obj, enum format_kind kind)
{
    size_t flags = kind == FORMAT_JSON ? JSON_INDENT(2) : JSON_COMPACT;
    if (json_dumpf(obj, out, flags) < 0 || fputc('\n', out) == EOF) {
        return -1;
    }
    return 0;
}

/* Writes obj by opts: as a table by table_fn, else as JSON. Returns 0, or -1. */
static int object_out(FILE *out, const json_t *obj, const struct format_opts *o,
                      int (*table_fn)(FILE *, const json_t *, const struct format_opts *))
{
    int rc = -1;
    switch (o->kind) {
    case FORMAT_TABLE:
        rc = table_fn(out, obj, o);
        break;
    case FORMAT_JSON:
    case FORMAT_NDJSON:
        rc = object_json(out, obj, o->kind);
        break;
    }
    if (ferror(out)) {
        rc = -1;
    }
    return rc;
}

int format_customer(FILE *out, const json_t *customer, const struct format_opts *o)
{
    return object_out(out, customer, o, profile_lines);
}

int format_context(FILE *out, const json_t *context, const struct format_opts *o)
{
    return object_out(out, context, o, context_screen);
}

int format_erasure(FILE *out, const json_t *erasure, const json_t *customer,
                   const struct format_opts *o)
{
    int rc = o->kind == FORMAT_TABLE ? erasure_lines(out, erasure, customer, o)
                                     : object_json(out, erasure, o->kind);
    return ferror(out) ? -1 : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Provenance: GET /v1/customers/{id}/identities, GET /v1/why, POST …/unmerge. */

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : dflt;
}

/* Writes o's key (dflt when absent) cleaned as a cell: an adapter's external id or a merge's
 * reason is anyone's text, and must not reach the terminal as escape sequences. */
static void put_str(FILE *out, const json_t *o, const char *key, const char *dflt)
{
    char *c = format_cell(str_or(o, key, dflt));
    fputs(c != NULL ? c : dflt, out);
    free(c);
}

/* " at <time>" of o's key, in the zone opts asks for; nothing when absent. */
static void at_time(FILE *out, const json_t *o, const char *key, const struct format_opts *opts)
{
    const char *iso = json_string_value(json_object_get(o, key));
    char buf[64];
    if (iso != NULL) {
        (void)format_time(iso, opts->utc, buf, sizeof(buf));
        fprintf(out, " at %s", buf);
    }
}

/* "record <source>/<external_id or id>" of a record object; "no record" when absent. */
static void record_ref(FILE *out, const json_t *rec)
{
    if (!json_is_object(rec)) {
        fputs("no record kept", out);
        return;
    }
    fputs("record ", out);
    put_str(out, rec, "source", "?");
    fputc('/', out);
    put_str(out, rec, "external_id", str_or(rec, "id", "?"));
}

/* One identity line: "  email ali@example.ir  first seen … with record mail/m1 (customer …)". */
static void identity_line(FILE *out, const char *indent, const json_t *ident,
                          const struct format_opts *opts)
{
    fprintf(out, "%s%s ", indent, str_or(ident, "kind", "?"));
    put_str(out, ident, "value", "?");
    fputs(": first seen", out);
    at_time(out, ident, "first_seen", opts);
    fputs(", ", out);
    record_ref(out, json_object_get(ident, "first_record"));
    const char *first = json_string_value(json_object_get(ident, "first_customer"));
    if (first != NULL) {
        fprintf(out, ", first customer %s", first);
    }
    fputc('\n', out);
}

/* One merge line: "  merge 3: <merged> into <survivor> at …, record crm/j1, linked by …". */
static void merge_line(FILE *out, const char *indent, const json_t *m,
                       const struct format_opts *opts)
{
    fprintf(out, "%smerge %lld: %s into %s", indent,
            (long long)json_integer_value(json_object_get(m, "merge_id")), str_or(m, "merged", "?"),
            str_or(m, "survivor", "?"));
    at_time(out, m, "merged_at", opts);
    const char *principal = json_string_value(json_object_get(m, "principal"));
    if (principal != NULL) {
        fputs(", by hand (", out);
        put_str(out, m, "reason", "manual");
        fprintf(out, ", %s)", principal);
    } else {
        fputs(", ", out);
        record_ref(out, json_object_get(m, "record"));
    }
    const json_t *links = json_object_get(m, "identifiers");
    size_t i;
    const json_t *l;
    json_array_foreach(links, i, l)
    {
        fprintf(out, "%s%s ", i == 0 ? ", linked by " : " + ", str_or(l, "kind", "?"));
        put_str(out, l, "value", "?");
    }
    if (json_object_get(m, "undone_at") != NULL) {
        fputs("; undone", out);
        at_time(out, m, "undone_at", opts);
        fprintf(out, " by %s", str_or(m, "undone_by", "?"));
    }
    fputc('\n', out);
}

static int identities_lines(FILE *out, const json_t *p, const struct format_opts *opts)
{
    fprintf(out, "Customer %s\nIdentities:\n", str_or(p, "customer_id", "?"));
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(p, "identities"), i, v)
    {
        identity_line(out, "  ", v, opts);
    }
    const json_t *merges = json_object_get(p, "merges");
    fputs(json_array_size(merges) > 0 ? "Merges:\n" : "Merges: none\n", out);
    json_array_foreach(merges, i, v)
    {
        merge_line(out, "  ", v, opts);
    }
    json_array_foreach(json_object_get(p, "kept_apart"), i, v)
    {
        fprintf(out, "%s  pair %lld: kept apart from %s since an unmerge of merge %lld",
                i == 0 ? "Kept apart:\n" : "",
                (long long)json_integer_value(json_object_get(v, "apart_id")),
                str_or(v, "other", "?"),
                (long long)json_integer_value(json_object_get(v, "merge_id")));
        at_time(out, v, "since", opts);
        fputc('\n', out);
    }
    return 0;
}

int format_identities(FILE *out, const json_t *provenance, const struct format_opts *opts)
{
    return object_out(out, provenance, opts, identities_lines);
}

static int why_lines(FILE *out, const json_t *w, const struct format_opts *opts)
{
    const json_t *a = json_object_get(w, "a"), *b = json_object_get(w, "b");
    if (!json_is_true(json_object_get(w, "joined"))) {
        fprintf(out, "%s %s and %s %s are two customers: %s and %s\n", str_or(a, "kind", "?"),
                str_or(a, "value", "?"), str_or(b, "kind", "?"), str_or(b, "value", "?"),
                str_or(a, "customer", "?"), str_or(b, "customer", "?"));
        return 0;
    }
    fprintf(out, "%s %s and %s %s are one customer, %s:\n", str_or(a, "kind", "?"),
            str_or(a, "value", "?"), str_or(b, "kind", "?"), str_or(b, "value", "?"),
            str_or(w, "customer", "?"));
    identity_line(out, "  ", a, opts);
    identity_line(out, "  ", b, opts);
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(w, "merges"), i, m)
    {
        merge_line(out, "  ", m, opts);
    }
    if (json_array_size(json_object_get(w, "merges")) == 0) {
        fputs("  (no merge: they came to this customer by records carrying them)\n", out);
    }
    return 0;
}

int format_why(FILE *out, const json_t *why, const struct format_opts *opts)
{
    return object_out(out, why, opts, why_lines);
}

static int unmerge_lines(FILE *out, const json_t *u, const struct format_opts *opts)
{
    (void)opts;
    fprintf(
        out,
        "Merge %lld undone: customer %s is back, with %lld identities and %lld interactions "
        "taken from customer %s.\nThe two are kept apart (pair %lld; DELETE "
        "/v1/customers/%s/apart/%lld lets them merge again).\n",
        (long long)json_integer_value(json_object_get(u, "merge_id")), str_or(u, "restored", "?"),
        (long long)json_integer_value(json_object_get(u, "identities")),
        (long long)json_integer_value(json_object_get(u, "interactions")),
        str_or(u, "customer", "?"), (long long)json_integer_value(json_object_get(u, "apart_id")),
        str_or(u, "restored", "?"), (long long)json_integer_value(json_object_get(u, "apart_id")));
    return 0;
}

int format_unmerge(FILE *out, const json_t *unmerge, const struct format_opts *opts)
{
    return object_out(out, unmerge, opts, unmerge_lines);
}

/* GET /v1/conflicts, or the answer of POST /v1/conflicts/{id}/resolve (it has a status). */
static int conflicts_lines(FILE *out, const json_t *answer, const struct format_opts *o)
{
    (void)o;
    size_t i;
    const json_t *c;
    const json_t *list = json_object_get(answer, "conflicts");
    if (json_object_get(answer, "status") != NULL) {
        fprintf(out, "Conflict %lld %s.\n",
                (long long)json_integer_value(json_object_get(answer, "conflict_id")),
                str_or(answer, "status", "?"));
        return 0;
    }
    if (json_array_size(list) == 0) {
        fputs("(no conflicts)\n", out);
    }
    json_array_foreach(list, i, c)
    {
        const json_t *rec = json_object_get(c, "record");
        bool named = json_string_value(json_object_get(rec, "external_id")) != NULL;
        fprintf(out, "%lld  %s  %s: merging %s into %s would give %lld %s identifiers",
                (long long)json_integer_value(json_object_get(c, "conflict_id")),
                str_or(c, "at", "?"), named ? "record" : "a record", str_or(c, "other", "?"),
                str_or(c, "customer", "?"),
                (long long)json_integer_value(json_object_get(c, "would_have")),
                str_or(c, "kind", "?"));
        if (named) {
            fputs("; record ", out);
            put_str(out, rec, "external_id", "?");
        }
        fprintf(out, "  [%s]\n", str_or(c, "status", "?"));
    }
    json_array_foreach(json_object_get(answer, "suspects"), i, c)
    {
        fprintf(out, "%s%s ", i == 0 ? "Suspects:\n" : "", str_or(c, "kind", "?"));
        put_str(out, c, "value", "?");
        fprintf(out, " linked %lld customers in the last day\n",
                (long long)json_integer_value(json_object_get(c, "customers")));
    }
    return 0;
}

int format_conflicts(FILE *out, const json_t *answer, const struct format_opts *opts)
{
    return object_out(out, answer, opts, conflicts_lines);
}

/* True when word can go to a POSIX shell as it is, without quotes. */
static bool shell_safe(const char *word)
{
    if (word[0] == '\0') {
        return false;
    }
    for (const char *p = word; *p != '\0'; p++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./_-",
                   *p) == NULL) {
            return false;
        }
    }
    return true;
}

int format_shell_words(FILE *out, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            fputc(' ', out);
        }
        if (shell_safe(words[i])) {
            fputs(words[i], out);
            continue;
        }
        /* In single quotes everything is literal but the quote itself: '\'' writes one. */
        fputc('\'', out);
        for (const char *p = words[i]; *p != '\0'; p++) {
            if (*p == '\'') {
                fputs("'\\''", out);
            } else {
                fputc(*p, out);
            }
        }
        fputc('\'', out);
    }
    return ferror(out) ? -1 : 0;
}

int format_more(FILE *out, const char *const *words, size_t n)
{
    fputs("More interactions: ", out);
    if (format_shell_words(out, words, n) < 0 || fputc('\n', out) == EOF) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Analytics: GET /v1/stats, /v1/missed and /v1/customers/{id}/journey */

/* "45 s", "12 min", "3 h", "2 d": a duration in its largest whole unit; "-" for none. */
static void duration_text(const json_t *v, char *out, size_t outlen)
{
    if (!json_is_number(v)) {
        snprintf(out, outlen, "-");
        return;
    }
    age_text((long long)json_number_value(v), out, outlen);
    /* age_text says "3 h ago"; a duration is "3 h". */
    char *ago = strstr(out, " ago");
    if (ago != NULL) {
        *ago = '\0';
    } else if (strcmp(out, "just now") == 0) {
        snprintf(out, outlen, "%lld s", (long long)json_number_value(v));
    }
}

/* A new cell from printf-style text; NULL when out of memory. */
static char *cellf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cellf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    return s;
}

/* The integer at a path of two member names (b may be NULL), 0 when absent. */
static long long int_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b != NULL) {
        v = json_object_get(v, b);
    }
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* A share 0..1 as "12.5%", "-" for null. */
static void percent_text(const json_t *v, char *out, size_t outlen)
{
    if (json_is_number(v)) {
        snprintf(out, outlen, "%.1f%%", json_number_value(v) * 100);
    } else {
        snprintf(out, outlen, "-");
    }
}

enum stats_column {
    ST_KEY,
    ST_RECORDS,
    ST_MISSED,
    ST_CALLBACK,
    ST_RESPONSE,
    ST_REPEAT,
    ST_SENTIMENT,
    ST_SCORE,
    ST_NCOLS,
};

static const struct column stats_columns[ST_NCOLS] = {
    [ST_KEY] = {.title = "GROUP", .max = 24, .align = TEXTWIDTH_LEFT, .give = 1},
    [ST_RECORDS] = {.title = "RECORDS", .max = 9, .align = TEXTWIDTH_RIGHT},
    [ST_MISSED] = {.title = "MISSED OPEN/ALL", .max = 26, .align = TEXTWIDTH_RIGHT},
    [ST_CALLBACK] = {.title = "CALL-BACK P50", .max = 14, .align = TEXTWIDTH_RIGHT},
    [ST_RESPONSE] = {.title = "1ST RESPONSE P50", .max = 16, .align = TEXTWIDTH_RIGHT},
    [ST_REPEAT] = {.title = "REPEAT 24H (OTHER CH.)", .max = 24, .align = TEXTWIDTH_RIGHT},
    [ST_SENTIMENT] = {.title = "+ / = / -", .max = 14, .align = TEXTWIDTH_RIGHT},
    [ST_SCORE] = {.title = "SCORE", .max = 0, .align = TEXTWIDTH_LEFT},
};

/* Fills the cells of one row of figures (the totals or a group). Returns 0, or -1. */
static int stats_fill(char **cell, const char *key, const json_t *f)
{
    char a[32], b[32];
    const json_t *mc = json_object_get(f, "missed_calls");
    const json_t *rc24 = json_object_get(json_object_get(f, "repeat_contacts"), "within_24h");
    const json_t *sent = json_object_get(f, "sentiment");
    const json_t *score = json_object_get(sent, "score");
    cell[ST_KEY] = format_cell(key);
    cell[ST_RECORDS] = cellf("%lld", int_at(f, "interactions", NULL));
    cell[ST_MISSED] = cellf("%lld/%lld (%lld over SLA)", int_at(mc, "open", NULL),
                            int_at(mc, "total", NULL), int_at(mc, "breached", NULL));
    duration_text(json_object_get(json_object_get(mc, "callback_s"), "p50"), a, sizeof(a));
    cell[ST_CALLBACK] = cellf("%s", a);
    duration_text(
        json_object_get(json_object_get(json_object_get(f, "first_response"), "response_s"), "p50"),
        a, sizeof(a));
    cell[ST_RESPONSE] = cellf("%s", a);
    percent_text(json_object_get(rc24, "share"), a, sizeof(a));
    percent_text(json_object_get(rc24, "other_channel_share"), b, sizeof(b));
    cell[ST_REPEAT] = cellf("%s (%s)", a, b);
    cell[ST_SENTIMENT] = cellf("%lld / %lld / %lld", int_at(sent, "positive", NULL),
                               int_at(sent, "neutral", NULL), int_at(sent, "negative", NULL));
    const json_t *mean = json_object_get(score, "mean");
    cell[ST_SCORE] = json_is_number(mean) ? cellf("%.2f (n=%lld)", json_number_value(mean),
                                                  int_at(score, "count", NULL))
                                          : cellf("-");
    for (int c = 0; c < ST_NCOLS; c++) {
        if (cell[c] == NULL) {
            return -1;
        }
    }
    return 0;
}

enum funnel_column {
    FN_ENTRY,
    FN_PRE,
    FN_PURCHASE,
    FN_POST,
    FN_DROP,
    FN_NCOLS,
};

static const struct column funnel_columns[FN_NCOLS] = {
    [FN_ENTRY] = {.title = "ENTRY CHANNEL", .max = 16, .align = TEXTWIDTH_LEFT},
    [FN_PRE] = {.title = "PRE-PURCHASE", .max = 12, .align = TEXTWIDTH_RIGHT},
    [FN_PURCHASE] = {.title = "PURCHASE", .max = 12, .align = TEXTWIDTH_RIGHT},
    [FN_POST] = {.title = "POST-PURCHASE", .max = 13, .align = TEXTWIDTH_RIGHT},
    [FN_DROP] = {.title = "DROP-OFF (PRE>PURCHASE, PURCHASE>POST)",
                 .max = 0,
                 .align = TEXTWIDTH_LEFT},
};

static int funnel_fill(char **cell, const char *key, const json_t *f)
{
    char a[32], b[32];
    const json_t *d = json_object_get(f, "drop_off");
    cell[FN_ENTRY] = format_cell(key);
    cell[FN_PRE] = cellf("%lld", int_at(f, "pre_purchase", NULL));
    cell[FN_PURCHASE] = cellf("%lld", int_at(f, "purchase", NULL));
    cell[FN_POST] = cellf("%lld", int_at(f, "post_purchase", NULL));
    percent_text(json_object_get(d, "pre_purchase_to_purchase"), a, sizeof(a));
    percent_text(json_object_get(d, "purchase_to_post_purchase"), b, sizeof(b));
    cell[FN_DROP] = cellf("%s, %s", a, b);
    for (int c = 0; c < FN_NCOLS; c++) {
        if (cell[c] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* The key of a group as shown: "(none)" for null. */
static const char *key_text(const json_t *g)
{
    const char *k = json_string_value(json_object_get(g, "key"));
    return k != NULL ? k : "(none)";
}

/* Rows "all" then one per element of groups, filled by fill, as one table. */
static int groups_table(FILE *out, const struct column *cols, size_t ncols, const json_t *total,
                        const json_t *groups, int (*fill)(char **, const char *, const json_t *),
                        const struct format_opts *o)
{
    size_t n = json_array_size(groups);
    int rc = -1;
    struct table *t = table_new(cols, ncols, n + 1);
    if (t == NULL || fill(t->cells, "all", total) < 0) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        const json_t *g = json_array_get(groups, r);
        if (fill(t->cells + (r + 1) * ncols, key_text(g), g) < 0) {
            goto out;
        }
    }
    rc = table_write(out, t, width_of(o), o->color);
out:
    table_free(t);
    return rc;
}

static int stats_screen(FILE *out, const json_t *stats, const struct format_opts *o)
{
    char since[40], until[40], sla[32];
    (void)format_time(json_string_value(json_object_get(stats, "since")), o->utc, since,
                      sizeof(since));
    (void)format_time(json_string_value(json_object_get(stats, "until")), o->utc, until,
                      sizeof(until));
    duration_text(json_object_get(stats, "callback_sla_s"), sla, sizeof(sla));
    const char *by = json_string_value(json_object_get(stats, "by"));
    fprintf(out, "%s%s to %s%s, by %s, call-back SLA %s\n\n", o->color ? BOLD : "", since, until,
            o->color ? RESET : "", by != NULL ? by : "nothing (totals)", sla);
    if (groups_table(out, stats_columns, ST_NCOLS, json_object_get(stats, "totals"),
                     json_object_get(stats, "groups"), stats_fill, o) < 0) {
        return -1;
    }
    const json_t *funnel = json_object_get(stats, "funnel");
    fprintf(out, "\n%sStage funnel%s\n", o->color ? BOLD : "", o->color ? RESET : "");
    return groups_table(out, funnel_columns, FN_NCOLS, json_object_get(funnel, "total"),
                        json_object_get(funnel, "by_entry_channel"), funnel_fill, o);
}

int format_stats(FILE *out, const json_t *stats, const struct format_opts *o)
{
    return object_out(out, stats, o, stats_screen);
}

enum missed_column {
    MS_WAITING,
    MS_MISSED_AT,
    MS_PHONE,
    MS_NAME,
    MS_CALLS,
    MS_SINCE,
    MS_NCOLS,
};

static const struct column missed_columns[MS_NCOLS] = {
    [MS_WAITING] = {.title = "WAITING", .max = 12, .align = TEXTWIDTH_RIGHT},
    [MS_MISSED_AT] = {.title = "FIRST MISSED",
                      .max = MAX_TIME,
                      .align = TEXTWIDTH_LEFT,
                      .dim = true},
    [MS_PHONE] = {.title = "PHONE", .max = 16, .align = TEXTWIDTH_LEFT},
    [MS_NAME] = {.title = "NAME", .max = 24, .align = TEXTWIDTH_LEFT, .give = 1},
    [MS_CALLS] = {.title = "OPEN/CALLS", .max = 10, .align = TEXTWIDTH_RIGHT},
    [MS_SINCE] = {.title = "SINCE THEN", .max = 0, .align = TEXTWIDTH_LEFT},
};

/* "email 1, chat 2": what the customer did since the missed call; NULL for nothing. */
static char *since_text(const json_t *since)
{
    const json_t *counts = json_object_get(since, "counts");
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (f == NULL) {
        return NULL;
    }
    const char *k;
    const json_t *v;
    bool first = true;
    json_object_foreach((json_t *)counts, k, v)
    {
        fprintf(f, "%s%s %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
        first = false;
    }
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    if (first) {
        free(s);
        return strdup("-");
    }
    char *cell = format_cell(s);
    free(s);
    return cell;
}

static int missed_fill(char **cell, const json_t *item, bool utc)
{
    char a[32];
    duration_text(json_object_get(item, "age_s"), a, sizeof(a));
    bool late = json_is_true(json_object_get(item, "breached"));
    cell[MS_WAITING] = cellf("%s%s", late ? "! " : "", a);
    if (time_text(item, "first_missed_at", utc, &cell[MS_MISSED_AT]) < 0) {
        return -1;
    }
    const json_t *phones = json_object_get(item, "phones");
    cell[MS_PHONE] = json_array_size(phones) > 0
                         ? format_cell(json_string_value(json_array_get(phones, 0)))
                         : cellf("-");
    if (field_text(item, "name", &cell[MS_NAME]) < 0) {
        return -1;
    }
    cell[MS_CALLS] =
        cellf("%lld/%lld", int_at(item, "open", NULL), int_at(item, "missed_calls", NULL));
    cell[MS_SINCE] = since_text(json_object_get(item, "since"));
    return cell[MS_WAITING] != NULL && cell[MS_PHONE] != NULL && cell[MS_CALLS] != NULL &&
                   cell[MS_SINCE] != NULL
               ? 0
               : -1;
}

static int missed_screen(FILE *out, const json_t *worklist, const struct format_opts *o)
{
    const json_t *items = json_object_get(worklist, "items");
    size_t n = json_array_size(items);
    char sla[32];
    duration_text(json_object_get(worklist, "callback_sla_s"), sla, sizeof(sla));
    fprintf(out, "%s%zu customer%s to call back%s (oldest first; \"!\" past the %s SLA)%s\n",
            o->color ? BOLD : "", n, n == 1 ? "" : "s",
            json_is_true(json_object_get(worklist, "truncated")) ? ", and more" : "", sla,
            o->color ? RESET : "");
    if (n == 0) {
        return 0;
    }
    int rc = -1;
    struct table *t = table_new(missed_columns, MS_NCOLS, n);
    if (t == NULL) {
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        if (missed_fill(t->cells + r * MS_NCOLS, json_array_get(items, r), o->utc) < 0) {
            goto out;
        }
    }
    rc = table_write(out, t, width_of(o), o->color);
out:
    table_free(t);
    return rc;
}

int format_missed(FILE *out, const json_t *worklist, const struct format_opts *o)
{
    return object_out(out, worklist, o, missed_screen);
}

/* The journey map: a CHANNEL column, then one per stage. */
#define JOURNEY_STAGES 4

static const struct column journey_columns[1 + JOURNEY_STAGES] = {
    {.title = "CHANNEL", .max = 10, .align = TEXTWIDTH_LEFT},
    {.title = "PRE-PURCHASE", .max = 34, .align = TEXTWIDTH_LEFT, .give = 1},
    {.title = "PURCHASE", .max = 34, .align = TEXTWIDTH_LEFT, .give = 2},
    {.title = "POST-PURCHASE", .max = 34, .align = TEXTWIDTH_LEFT, .give = 3},
    {.title = "UNSTAGED", .max = 0, .align = TEXTWIDTH_LEFT},
};

static const char *const journey_stages[JOURNEY_STAGES] = {"pre_purchase", "purchase",
                                                           "post_purchase", "unstaged"};

/* One touchpoint in a cell: "11-02 08:00 + 8 viewed product" (sentiment +, =, -; score). */
static char *touchpoint_text(const json_t *tp, bool utc)
{
    char when[40];
    (void)format_time(json_string_value(json_object_get(tp, "occurred_at")), utc, when,
                      sizeof(when));
    const char *s = json_string_value(json_object_get(tp, "sentiment"));
    const char *mark = s == NULL                    ? ""
                       : strcmp(s, "positive") == 0 ? " +"
                       : strcmp(s, "negative") == 0 ? " -"
                                                    : " =";
    const json_t *score = json_object_get(tp, "score");
    char sc[16] = "";
    if (json_is_integer(score)) {
        snprintf(sc, sizeof(sc), " %lld", (long long)json_integer_value(score));
    }
    const char *dir = json_string_value(json_object_get(tp, "direction"));
    const char *sum = json_string_value(json_object_get(tp, "summary"));
    /* Month-day and time: the year is in the heading. */
    char *raw = cellf("%s %s%s%s%s%s", strlen(when) > 5 ? when + 5 : when,
                      dir != NULL && strcmp(dir, "outbound") == 0 ? "→" : "←", mark, sc,
                      sum != NULL ? " " : "", sum != NULL ? sum : "");
    char *cell = raw != NULL ? format_cell(raw) : NULL;
    free(raw);
    return cell;
}

static int journey_screen(FILE *out, const json_t *journey, const struct format_opts *o)
{
    const json_t *tps = json_object_get(journey, "touchpoints");
    const json_t *channels = json_object_get(journey, "channels");
    const json_t *cells = json_object_get(journey, "cells");
    const char *name = json_string_value(json_object_get(journey, "name"));
    fprintf(out, "%s%s%s%s  %s\n", o->color ? BOLD : "", name != NULL ? name : "(no name)",
            name != NULL && has_rtl(name) ? LRM : "", o->color ? RESET : "",
            json_string_value(json_object_get(journey, "customer_id")));
    fprintf(out,
            "%zu touchpoint%s%s; ← inbound, → outbound, + positive, = neutral, - negative, "
            "then the score\n\n",
            json_array_size(tps), json_array_size(tps) == 1 ? "" : "s",
            json_is_true(json_object_get(journey, "truncated")) ? " (the latest)" : "");
    if (json_array_size(tps) == 0) {
        return 0;
    }
    /* Each channel takes as many lines as its fullest cell has touchpoints. */
    size_t nrows = 0, nch = json_array_size(channels);
    size_t *lines = calloc(nch > 0 ? nch : 1, sizeof(*lines));
    if (lines == NULL) {
        return -1;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(cells, i, c)
    {
        for (size_t r = 0; r < nch; r++) {
            if (json_equal(json_array_get(channels, r), json_object_get(c, "channel"))) {
                size_t k = json_array_size(json_object_get(c, "touchpoints"));
                lines[r] = k > lines[r] ? k : lines[r];
            }
        }
    }
    size_t *first = calloc(nch > 0 ? nch : 1, sizeof(*first));
    for (size_t r = 0; first != NULL && r < nch; r++) {
        first[r] = nrows;
        nrows += lines[r];
    }
    int rc = -1;
    struct table *t = first != NULL ? table_new(journey_columns, 1 + JOURNEY_STAGES, nrows) : NULL;
    if (t == NULL) {
        goto out;
    }
    for (size_t r = 0; r < nch; r++) {
        t->cells[first[r] * t->ncols] = format_cell(json_string_value(json_array_get(channels, r)));
        if (t->cells[first[r] * t->ncols] == NULL) {
            goto out;
        }
    }
    json_array_foreach(cells, i, c)
    {
        size_t r = 0, s = 0;
        while (r < nch && !json_equal(json_array_get(channels, r), json_object_get(c, "channel"))) {
            r++;
        }
        const char *stage = json_string_value(json_object_get(c, "stage"));
        while (s < JOURNEY_STAGES && (stage == NULL || strcmp(journey_stages[s], stage) != 0)) {
            s++;
        }
        if (r == nch || s == JOURNEY_STAGES) {
            continue; /* a stage this client does not know */
        }
        const json_t *idx = json_object_get(c, "touchpoints");
        for (size_t k = 0; k < json_array_size(idx); k++) {
            const json_t *tp =
                json_array_get(tps, (size_t)json_integer_value(json_array_get(idx, k)));
            char **cell = &t->cells[(first[r] + k) * t->ncols + 1 + s];
            *cell = touchpoint_text(tp, o->utc);
            if (*cell == NULL) {
                goto out;
            }
        }
    }
    /* A map, not a record: empty cells and a channel's further lines stay blank. */
    for (size_t k = 0; k < t->nrows * t->ncols; k++) {
        if (t->cells[k] == NULL && (t->cells[k] = strdup("")) == NULL) {
            goto out;
        }
    }
    rc = table_write(out, t, width_of(o), o->color);
out:
    table_free(t);
    free(first);
    free(lines);
    return rc;
}

int format_journey(FILE *out, const json_t *journey, const struct format_opts *o)
{
    return object_out(out, journey, o, journey_screen);
}
