#include "cdr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "errmsg.h"

/* cdr_csv's columns, in its order. */
enum {
    COL_ACCOUNTCODE,
    COL_SRC,
    COL_DST,
    COL_DCONTEXT,
    COL_CLID,
    COL_CHANNEL,
    COL_DSTCHANNEL,
    COL_LASTAPP,
    COL_LASTDATA,
    COL_START,
    COL_ANSWER,
    COL_END,
    COL_DURATION,
    COL_BILLSEC,
    COL_DISPOSITION,
    COL_AMAFLAGS,
    COL_UNIQUEID_OR_USERFIELD,
    COL_USERFIELD,
};

/* The id of a row without a uniqueid: "row-" and a UUID. */
#define ROW_ID_LEN (4 + 36)
/* Longest value copied into attributes, and longest agent (CONTRACT §1). */
#define ATTR_MAX  256
#define AGENT_MAX 128

void cdr_reader_init(struct cdr_reader *r, const char *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->line = 1;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        r->pos = 3;
    }
}

void cdr_row_free(struct cdr_row *row)
{
    free(row->store);
    memset(row, 0, sizeof(*row));
}

/* Appends n bytes to the row's storage at *used. Returns 0 or -1 (out of memory). */
static int store_put(struct cdr_row *row, size_t *used, const char *s, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (row->cap - *used < n) {
        if (n > SIZE_MAX / 2 - *used) {
            return -1;
        }
        size_t cap = row->cap == 0 ? 1024 : row->cap;
        while (cap - *used < n) {
            cap *= 2;
        }
        char *p = realloc(row->store, cap);
        if (p == NULL) {
            return -1;
        }
        row->store = p;
        row->cap = cap;
    }
    memcpy(row->store + *used, s, n);
    *used += n;
    return 0;
}

/* Moves the reader past the end of the current line, for recovery after a bad row. */
static void skip_line(struct cdr_reader *r)
{
    const char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
    if (nl == NULL) {
        r->pos = r->len;
        return;
    }
    r->pos = (size_t)(nl - r->buf) + 1;
    r->line++;
}

int cdr_reader_next(struct cdr_reader *r, struct cdr_row *row, char *err, size_t errlen)
{
    const char *b = r->buf;
    /* Blank lines are no rows. */
    for (;;) {
        if (r->pos >= r->len) {
            return CDR_END;
        }
        if (b[r->pos] == '\n') {
            r->pos++;
            r->line++;
        } else if (b[r->pos] == '\r' && r->pos + 1 < r->len && b[r->pos + 1] == '\n') {
            r->pos += 2;
            r->line++;
        } else {
            break;
        }
    }
    row->line = r->line;
    row->nfields = 0;
    size_t used = 0;
    size_t offs[CDR_MAX_FIELDS];
    for (;;) {
        if (row->nfields == CDR_MAX_FIELDS) {
            errmsg_set(err, errlen, "more than %d fields", CDR_MAX_FIELDS);
            skip_line(r);
            return CDR_EPARSE;
        }
        size_t start = used;
        if (r->pos < r->len && b[r->pos] == '"') {
            size_t qline = r->line;
            r->pos++;
            for (;;) {
                if (r->pos >= r->len) {
                    errmsg_set(err, errlen,
                               "field %zu: the quote opened on line %zu is never closed",
                               row->nfields + 1, qline);
                    return CDR_EPARSE;
                }
                /* Copy the run up to the next quote at once. */
                const char *q = memchr(b + r->pos, '"', r->len - r->pos);
                size_t run = q != NULL ? (size_t)(q - (b + r->pos)) : r->len - r->pos;
                for (size_t i = 0; i < run; i++) {
                    r->line += b[r->pos + i] == '\n';
                }
                if (store_put(row, &used, b + r->pos, run) < 0) {
                    return CDR_ENOMEM;
                }
                r->pos += run;
                if (q == NULL) {
                    continue;
                }
                if (r->pos + 1 < r->len && b[r->pos + 1] == '"') {
                    if (store_put(row, &used, "\"", 1) < 0) {
                        return CDR_ENOMEM;
                    }
                    r->pos += 2;
                    continue;
                }
                r->pos++;
                break;
            }
            if (r->pos < r->len && b[r->pos] != ',' && b[r->pos] != '\n' &&
                !(b[r->pos] == '\r' && r->pos + 1 < r->len && b[r->pos + 1] == '\n')) {
                errmsg_set(err, errlen, "field %zu: text after the closing quote",
                           row->nfields + 1);
                skip_line(r);
                return CDR_EPARSE;
            }
        } else {
            size_t e = r->pos;
            while (e < r->len && b[e] != ',' && b[e] != '\n') {
                e++;
            }
            size_t n = e - r->pos;
            /* The '\r' of a CRLF ends the line; it is no part of the field. */
            if (e < r->len && b[e] == '\n' && n > 0 && b[e - 1] == '\r') {
                n--;
            }
            if (store_put(row, &used, b + r->pos, n) < 0) {
                return CDR_ENOMEM;
            }
            r->pos += n;
        }
        if (store_put(row, &used, "", 1) < 0) {
            return CDR_ENOMEM;
        }
        offs[row->nfields] = start;
        row->lens[row->nfields] = used - start - 1;
        row->nfields++;
        if (r->pos >= r->len) {
            break;
        }
        if (b[r->pos] == ',') {
            r->pos++;
            continue;
        }
        /* A line end: "\n" or "\r\n". */
        r->pos += b[r->pos] == '\r' ? 2 : 1;
        r->line++;
        break;
    }
    for (size_t i = 0; i < row->nfields; i++) {
        row->fields[i] = row->store + offs[i];
    }
    return CDR_ROW;
}

int cdr_parse_tz_offset(const char *s, int *minutes)
{
    if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
        *minutes = 0;
        return 0;
    }
    if (s[0] != '+' && s[0] != '-') {
        return -1;
    }
    int d[4], n = 0;
    for (const char *p = s + 1; *p != '\0'; p++) {
        if (*p == ':' && n == 2 && p == s + 3) {
            continue;
        }
        if (*p < '0' || *p > '9' || n == 4) {
            return -1;
        }
        d[n++] = *p - '0';
    }
    if (n != 4 && n != 2) {
        return -1;
    }
    int h = d[0] * 10 + d[1], m = n == 4 ? d[2] * 10 + d[3] : 0;
    if (h > 23 || m > 59) {
        return -1;
    }
    *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

/* Reads exactly n ASCII digits at s. Returns the number or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * Converts Asterisk's "YYYY-MM-DD HH:MM:SS" (local time, or at the fixed offset of opts) to
 * RFC 3339 in out. Returns 0 or -1.
 */
static int start_time(const char *s, size_t len, const struct cdr_opts *opts, char *out,
                      size_t outlen)
{
    if (len != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' ||
        s[16] != ':') {
        return -1;
    }
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
        mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60) {
        return -1;
    }
    /* A round trip through timegm refuses days a month does not have (02-30). */
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    struct tm back;
    time_t day = timegm(&tm);
    if (gmtime_r(&day, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1) {
        return -1;
    }
    if (opts->has_tz_offset) {
        int off = opts->tz_offset_min < 0 ? -opts->tz_offset_min : opts->tz_offset_min;
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, mo, d, h, mi, se,
                 opts->tz_offset_min < 0 ? '-' : '+', off / 60, off % 60);
        return 0;
    }
    struct tm local = {.tm_year = y - 1900,
                       .tm_mon = mo - 1,
                       .tm_mday = d,
                       .tm_hour = h,
                       .tm_min = mi,
                       .tm_sec = se,
                       .tm_isdst = -1};
    time_t t = mktime(&local);
    struct tm utc;
    if (t == (time_t)-1 || gmtime_r(&t, &utc) == NULL) {
        return -1;
    }
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
             utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    return 0;
}

/* True for an internal extension: 1 to max ASCII digits. */
static bool is_extension(const char *s, size_t len, unsigned max)
{
    if (len == 0 || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/*
 * Contexts of a stock Asterisk / FreePBX dialplan that calls from a trunk enter by (prefixes:
 * from-did-direct, from-pstn-e164-us, from-trunk-sip-provider...). A call into one of them is
 * inbound even when dst is a DID rather than an extension.
 */
static const char *const default_inbound_contexts[] = {
    "from-pstn",         "from-trunk", "from-did",    "ext-did",     "from-external",
    "from-sip-external", "from-dahdi", "from-zaptel", "from-analog", "from-digital",
};

static bool default_inbound(const char *ctx)
{
    for (size_t i = 0; i < sizeof(default_inbound_contexts) / sizeof(default_inbound_contexts[0]);
         i++) {
        if (strncmp(ctx, default_inbound_contexts[i], strlen(default_inbound_contexts[i])) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * True for what may be a customer's telephone number: a digit at least, and only digits, a
 * leading '+' and the separators the daemon drops. "s" (the start of an IVR or a queue), "i",
 * "h", "*97" (a feature code) are places in the dialplan, not numbers.
 */
static bool is_number(const char *s, size_t len)
{
    size_t nd = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            nd++;
        } else if (!(c == '+' && i == 0) && c != ' ' && c != '-' && c != '.' && c != '(' &&
                   c != ')') {
            return false;
        }
    }
    return nd > 0;
}

/*
 * True for a caller who withheld the number: what PBXs and carriers write instead of one
 * ("anonymous", "Anonymous", "unknown", "restricted", "private", "withheld", "unavailable",
 * empty), or a number made of zeros.
 */
static bool is_withheld(const char *s, size_t len)
{
    if (!is_number(s, len)) {
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '1' && s[i] <= '9') {
            return false;
        }
    }
    return true;
}

/* True for an Asterisk uniqueid: [systemname-]seconds.sequence. */
static bool is_uniqueid(const char *s, size_t len)
{
    const char *dash = memchr(s, '-', len);
    const char *p = s, *end = s + len;
    if (dash != NULL) {
        /* systemname may hold dashes too: the id is what follows the last one. */
        const char *last = dash;
        for (const char *q = dash; q < end; q++) {
            if (*q == '-') {
                last = q;
            }
        }
        p = last + 1;
    }
    size_t before = 0, after = 0;
    bool dot = false;
    for (; p < end; p++) {
        if (*p == '.' && !dot) {
            dot = true;
        } else if (*p >= '0' && *p <= '9') {
            *(dot ? &after : &before) += 1;
        } else {
            return false;
        }
    }
    return dot && before > 0 && after > 0;
}

/* The peer of an Asterisk channel name: "PJSIP/101-0000002a" -> "101", "Local/101@ctx-..;1"
 * -> "101". Returns its length (0 for none) and its start in *peer. */
static size_t channel_peer(const char *ch, size_t len, const char **peer)
{
    const char *slash = memchr(ch, '/', len);
    if (slash == NULL) {
        return 0;
    }
    const char *p = slash + 1, *end = ch + len;
    const char *stop = end;
    for (const char *q = p; q < end; q++) {
        if (*q == '@') {
            stop = q;
            break;
        }
        if (*q == '-') {
            stop = q; /* the last '-' starts the channel's sequence number */
        }
    }
    *peer = p;
    return (size_t)(stop - p);
}

/* Sets key to the string s (n bytes). Returns 0, or -1 when s is not valid UTF-8 or no memory. */
static int set_str(json_t *obj, const char *key, const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v == NULL) {
        return -1;
    }
    return json_object_set_new(obj, key, v);
}

/*
 * The display name of a caller ID: "Sara" <0912...> or Sara <0912...>; none when it is empty
 * or only repeats the number. Returns its length and its start in *name.
 */
static size_t clid_name(const char *clid, size_t len, const char **name)
{
    const char *lt = NULL;
    for (size_t i = len; i > 0; i--) {
        if (clid[i - 1] == '<') {
            lt = clid + i - 1;
            break;
        }
    }
    if (lt == NULL) {
        return 0;
    }
    const char *s = clid, *e = lt;
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    if (e - s >= 2 && *s == '"' && e[-1] == '"') {
        s++;
        e--;
    }
    size_t n = (size_t)(e - s);
    const char *gt = memchr(lt, '>', (size_t)(clid + len - lt));
    size_t numlen = gt != NULL ? (size_t)(gt - lt - 1) : 0;
    if (n == 0 || (n == numlen && memcmp(s, lt + 1, n) == 0)) {
        return 0;
    }
    *name = s;
    return n;
}

static int map_status(const char *disp, json_t *rec)
{
    static const char *const map[][2] = {
        {"ANSWERED", "answered"}, {"NO ANSWER", "missed"},  {"BUSY", "busy"},
        {"FAILED", "failed"},     {"CONGESTION", "failed"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(disp, map[i][0]) == 0) {
            return json_object_set_new(rec, "status", json_string(map[i][1]));
        }
    }
    return 0;
}

/* The row's id when it has no uniqueid: a UUIDv5 of its fields, each ended by NUL. */
static int row_hash(const struct cdr_row *row, char out[ROW_ID_LEN + 1])
{
    size_t n = 0;
    for (size_t i = 0; i < row->nfields; i++) {
        n += row->lens[i] + 1;
    }
    char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        return -1;
    }
    size_t at = 0;
    for (size_t i = 0; i < row->nfields; i++) {
        memcpy(buf + at, row->fields[i], row->lens[i] + 1);
        at += row->lens[i] + 1;
    }
    uuid_t ns, u;
    uuid_clear(ns);
    uuid_generate_sha1(u, ns, buf, n);
    free(buf);
    memcpy(out, "row-", 4);
    uuid_unparse_lower(u, out + 4);
    return 0;
}

int cdr_row_to_record(const struct cdr_row *row, const struct cdr_opts *opts, json_t **out,
                      char *err, size_t errlen)
{
    static const char *const col_names[] = {
        "accountcode", "src",     "dst",         "dcontext", "clid",     "channel",
        "dstchannel",  "lastapp", "lastdata",    "start",    "answer",   "end",
        "duration",    "billsec", "disposition", "amaflags", "uniqueid", "userfield",
    };
    *out = NULL;
    char q[96];
    const char *col = NULL; /* the column at fault when a string cannot be set */
    int rc = CDR_EMAP;
    json_t *rec = NULL, *cust = NULL, *attrs = NULL;
    if (row->nfields < CDR_MIN_COLUMNS || row->nfields > CDR_MAX_COLUMNS) {
        errmsg_set(err, errlen, "%zu columns; a Master.csv row has %d to %d", row->nfields,
                   CDR_MIN_COLUMNS, CDR_MAX_COLUMNS);
        return CDR_EMAP;
    }
    const char *const *f = row->fields;
    const size_t *l = row->lens;
    const char *uniqueid = NULL, *userfield = NULL;
    size_t uniqueid_len = 0, userfield_len = 0;
    if (row->nfields == 18 || (row->nfields == 17 && is_uniqueid(f[16], l[16]))) {
        uniqueid = f[16];
        uniqueid_len = l[16];
        if (row->nfields == 18) {
            userfield = f[17];
            userfield_len = l[17];
        }
    } else if (row->nfields == 17) {
        userfield = f[16];
        userfield_len = l[16];
    }

    unsigned ext = opts->extension_digits > 0 ? opts->extension_digits : CDR_EXTENSION_DIGITS;
    bool dst_ext = is_extension(f[COL_DST], l[COL_DST], ext);
    bool src_ext = is_extension(f[COL_SRC], l[COL_SRC], ext);
    bool ctx_in = opts->inbound_ctx != NULL
                      ? regexec(opts->inbound_ctx, f[COL_DCONTEXT], 0, NULL, 0) == 0
                      : default_inbound(f[COL_DCONTEXT]);
    /* A destination that is no number ("s" of an IVR) is a place in the dialplan: the call
     * came in, it did not go out to a customer named "s". */
    bool inbound = dst_ext || ctx_in || !is_number(f[COL_DST], l[COL_DST]);
    int cust_col = inbound ? COL_SRC : COL_DST;
    if (inbound && is_withheld(f[COL_SRC], l[COL_SRC])) {
        /* A record needs a customer identifier (CONTRACT §1), and this caller gave none. */
        errmsg_set(err, errlen, "src: %s, the caller withheld the number",
                   l[COL_SRC] == 0 ? "empty" : errmsg_quote(f[COL_SRC], q, sizeof(q)));
        return CDR_ANONYMOUS;
    }
    if (inbound && src_ext) {
        return CDR_INTERNAL;
    }
    char when[40];
    if (start_time(f[COL_START], l[COL_START], opts, when, sizeof(when)) < 0) {
        errmsg_set(err, errlen, "start: %s is not a time YYYY-MM-DD HH:MM:SS",
                   errmsg_quote(f[COL_START], q, sizeof(q)));
        return CDR_EMAP;
    }
    long long billsec = -1;
    if (l[COL_BILLSEC] > 0) {
        billsec = 0;
        for (size_t i = 0; i < l[COL_BILLSEC]; i++) {
            char c = f[COL_BILLSEC][i];
            if (c < '0' || c > '9' || billsec > 214748364LL) {
                errmsg_set(err, errlen, "billsec: %s is not a number of seconds",
                           errmsg_quote(f[COL_BILLSEC], q, sizeof(q)));
                return CDR_EMAP;
            }
            billsec = billsec * 10 + (c - '0');
        }
    }

    rec = json_object();
    cust = json_object();
    attrs = json_object();
    if (rec == NULL || cust == NULL || attrs == NULL) {
        rc = CDR_ENOMEM;
        goto fail;
    }
    char hash[ROW_ID_LEN + 1];
    const char *ext_id = uniqueid;
    size_t ext_id_len = uniqueid_len;
    if (uniqueid == NULL || uniqueid_len == 0 || uniqueid_len > 256) {
        if (row_hash(row, hash) < 0) {
            rc = CDR_ENOMEM;
            goto fail;
        }
        ext_id = hash;
        ext_id_len = strlen(hash);
    }
    col = "source";
    if (set_str(rec, "source", opts->source, strlen(opts->source)) < 0) {
        goto fail;
    }
    col = "uniqueid";
    if (set_str(rec, "external_id", ext_id, ext_id_len) < 0 ||
        json_object_set_new(rec, "channel", json_string("phone")) < 0 ||
        json_object_set_new(rec, "direction", json_string(inbound ? "inbound" : "outbound")) < 0 ||
        json_object_set_new(rec, "occurred_at", json_string(when)) < 0) {
        goto fail;
    }
    col = col_names[cust_col];
    if (set_str(cust, "phone", f[cust_col], l[cust_col]) < 0) {
        goto fail;
    }
    const char *name;
    size_t name_len = inbound ? clid_name(f[COL_CLID], l[COL_CLID], &name) : 0;
    if (name_len > 0) {
        /* A caller-ID name in another encoding is dropped rather than losing the call. */
        json_t *v = json_stringn(name, name_len);
        if (v != NULL && json_object_set_new(cust, "name", v) < 0) {
            rc = CDR_ENOMEM;
            goto fail;
        }
    }
    if (json_object_set(rec, "customer", cust) < 0) {
        rc = CDR_ENOMEM;
        goto fail;
    }
    const char *agent = NULL;
    size_t agent_len = 0;
    if (inbound && strcmp(f[COL_DISPOSITION], "ANSWERED") == 0) {
        /* The member of a queue or ring group who answered, not the queue's number. */
        agent_len = channel_peer(f[COL_DSTCHANNEL], l[COL_DSTCHANNEL], &agent);
    }
    if (agent_len == 0) {
        int agent_col = inbound ? COL_DST : COL_SRC;
        if (inbound ? dst_ext : src_ext) {
            agent = f[agent_col];
            agent_len = l[agent_col];
        } else {
            int chan_col = inbound ? COL_DSTCHANNEL : COL_CHANNEL;
            agent_len = channel_peer(f[chan_col], l[chan_col], &agent);
        }
    }
    if (agent_len > 0 && agent_len <= AGENT_MAX) {
        json_t *v = json_stringn(agent, agent_len);
        if (v != NULL && json_object_set_new(rec, "agent", v) < 0) {
            rc = CDR_ENOMEM;
            goto fail;
        }
    }
    /*
     * Queue() answers the caller's channel itself, so a caller who gave up waiting in a queue
     * is ANSWERED in the CDR, with no member's channel: that is a missed call, and billsec
     * was the wait, not talk.
     */
    bool abandoned = inbound && strcmp(f[COL_LASTAPP], "Queue") == 0 && l[COL_DSTCHANNEL] == 0 &&
                     strcmp(f[COL_DISPOSITION], "ANSWERED") == 0;
    if (abandoned) {
        if (json_object_set_new(rec, "status", json_string("missed")) < 0 ||
            json_object_set_new(attrs, "queue_abandoned", json_true()) < 0 ||
            (billsec >= 0 && json_object_set_new(attrs, "wait_s", json_integer(billsec)) < 0)) {
            rc = CDR_ENOMEM;
            goto fail;
        }
        billsec = 0;
    } else if (map_status(f[COL_DISPOSITION], rec) < 0) {
        rc = CDR_ENOMEM;
        goto fail;
    }
    if (billsec >= 0 && json_object_set_new(rec, "duration_s", json_integer(billsec)) < 0) {
        rc = CDR_ENOMEM;
        goto fail;
    }
    /* What else an agent may want to see of the call; values too long or not UTF-8 are left
     * out rather than failing the call. */
    static const int attr_cols[] = {COL_ACCOUNTCODE, COL_DCONTEXT, COL_CHANNEL,
                                    COL_DSTCHANNEL,  COL_LASTAPP,  COL_DISPOSITION};
    for (size_t i = 0; i < sizeof(attr_cols) / sizeof(attr_cols[0]); i++) {
        int c = attr_cols[i];
        if (l[c] > 0 && l[c] <= ATTR_MAX) {
            json_t *v = json_stringn(f[c], l[c]);
            if (v != NULL && json_object_set_new(attrs, col_names[c], v) < 0) {
                rc = CDR_ENOMEM;
                goto fail;
            }
        }
    }
    if (userfield != NULL && userfield_len > 0 && userfield_len <= ATTR_MAX) {
        json_t *v = json_stringn(userfield, userfield_len);
        if (v != NULL && json_object_set_new(attrs, "userfield", v) < 0) {
            rc = CDR_ENOMEM;
            goto fail;
        }
    }
    if (json_object_size(attrs) > 0 && json_object_set(rec, "attributes", attrs) < 0) {
        rc = CDR_ENOMEM;
        goto fail;
    }
    json_decref(cust);
    json_decref(attrs);
    *out = rec;
    return CDR_ROW;

fail:
    if (rc == CDR_EMAP) {
        errmsg_set(err, errlen, "%s: not valid UTF-8 text", col != NULL ? col : "row");
    } else {
        errmsg_set(err, errlen, "out of memory");
    }
    json_decref(rec);
    json_decref(cust);
    json_decref(attrs);
    return rc;
}
