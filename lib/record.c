#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "errmsg.h"

#define ATTRIBUTES_MAX (16 * 1024)
#define BODY_MAX       65536
#define TAG_CHARS_MAX  64
#define NAME_CHARS_MAX 256

const char *const record_channels[RECORD_CHANNELS + 1] = {
    "phone", "sms", "email", "chat", "web", "social", "in_person", "other", NULL};
static const char *const directions[] = {"inbound", "outbound", "internal", NULL};
static const char *const phone_statuses[] = {"answered", "missed",    "busy",
                                             "failed",   "voicemail", NULL};
static const char *const message_statuses[] = {"received", "sent",   "delivered",
                                               "read",     "failed", NULL};
static const char *const stages[] = {"pre_purchase", "purchase", "post_purchase", NULL};
static const char *const sentiments[] = {"positive", "neutral", "negative", NULL};

/* Top-level fields of CONTRACT §1; anything else is rejected so typos never lose data. */
static const char *const known_fields[] = {
    "id",        "source", "external_id", "channel",    "direction", "occurred_at", "customer",
    "agent",     "status", "duration_s",  "subject",    "body",      "thread",      "stage",
    "sentiment", "score",  "tags",        "attributes", NULL};

static bool in_set(const char *s, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(s, *set) == 0) {
            return true;
        }
    }
    return false;
}

/* "a, b or c" for messages. */
static void join_set(const char *const *set, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; set[i] != NULL && n < outlen; i++) {
        const char *sep = i == 0 ? "" : (set[i + 1] == NULL ? " or " : ", ");
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", sep, set[i]);
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* Optional string field with a length limit in characters (or bytes when bytes is set). */
static int get_string(const struct jsondoc *doc, const struct jsondoc_value *obj, const char *field,
                      size_t max, bool bytes, const char **out, char *msg, size_t msglen)
{
    const struct jsondoc_value *v = jsondoc_get(doc, obj, field);
    *out = NULL;
    if (v == NULL || v->type == JSONDOC_NULL) {
        return 0;
    }
    if (v->type != JSONDOC_STRING) {
        errmsg_set(msg, msglen, "%s: must be a string", field);
        return -1;
    }
    /* The parser refuses NUL characters, so the text is all of the string. */
    const char *s = v->text;
    size_t n = bytes ? v->len : utf8_chars(s);
    if (n > max) {
        errmsg_set(msg, msglen, "%s: is %zu %s long, the limit is %zu", field, n,
                   bytes ? "bytes" : "characters", max);
        return -1;
    }
    *out = s;
    return 0;
}

static int get_enum(const struct jsondoc *doc, const struct jsondoc_value *obj, const char *field,
                    const char *const *set, const char **out, char *msg, size_t msglen)
{
    if (get_string(doc, obj, field, 64, false, out, msg, msglen) < 0) {
        return -1;
    }
    if (*out != NULL && !in_set(*out, set)) {
        char allowed[256], q[96];
        join_set(set, allowed, sizeof(allowed));
        errmsg_set(msg, msglen, "%s: %s is not one of %s", field, errmsg_quote(*out, q, sizeof(q)),
                   allowed);
        return -1;
    }
    return 0;
}

static int get_integer(const struct jsondoc *doc, const struct jsondoc_value *obj,
                       const char *field, long long min, long long max, bool *has, long long *out,
                       char *msg, size_t msglen)
{
    const struct jsondoc_value *v = jsondoc_get(doc, obj, field);
    *has = false;
    if (v == NULL || v->type == JSONDOC_NULL) {
        return 0;
    }
    if (v->type != JSONDOC_INTEGER) {
        errmsg_set(msg, msglen, "%s: must be an integer", field);
        return -1;
    }
    long long x = v->integer;
    if (x < min || x > max) {
        errmsg_set(msg, msglen, "%s: %lld is out of range %lld-%lld", field, x, min, max);
        return -1;
    }
    *has = true;
    *out = x;
    return 0;
}

bool record_valid_source(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* True when the comma-separated list holds name (len bytes), blanks around items ignored. */
static bool list_has(const char *list, const char *name, size_t len)
{
    for (const char *p = list; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ", ");
        if (n == len && n > 0 && strncmp(p, name, n) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

static int add_ident(struct record *rec, enum ident_kind kind, const char *raw, size_t rawlen,
                     const struct record_opts *opts, char *msg, size_t msglen);

/* A chat handle of a provider whose handles are phone numbers (WhatsApp, Viber, …) is also
 * the customer's phone, so that "chat whatsapp:+98912…" and "phone 0912…" are one customer.
 * A handle that is not a number adds nothing. */
static int add_chat_phone(struct record *rec, const char *chat, const struct record_opts *opts,
                          char *msg, size_t msglen)
{
    const char *colon = strchr(chat, ':');
    if (colon == NULL || !list_has(opts->phone_chat_providers, chat, (size_t)(colon - chat))) {
        return 0;
    }
    char norm[NORMALIZE_MAX + 1];
    const char *why = NULL;
    const char *handle = colon + 1;
    if (normalize_identifier(IDENT_PHONE, handle, strlen(handle), &opts->norm, norm, &why) < 0) {
        return 0;
    }
    return add_ident(rec, IDENT_PHONE, norm, strlen(norm), opts, msg, msglen);
}

static int add_ident(struct record *rec, enum ident_kind kind, const char *raw, size_t rawlen,
                     const struct record_opts *opts, char *msg, size_t msglen)
{
    char norm[NORMALIZE_MAX + 1];
    const char *why = NULL;
    char q[96];
    const char *kname = normalize_kind_name(kind);
    if (normalize_identifier(kind, raw, rawlen, &opts->norm, norm, &why) < 0) {
        errmsg_set(msg, msglen, "customer.%s: %s %s", kname, errmsg_quote(raw, q, sizeof(q)), why);
        return -1;
    }
    for (size_t i = 0; i < rec->n_idents; i++) {
        if (rec->idents[i].kind == kind && strcmp(rec->idents[i].value, norm) == 0) {
            return 0;
        }
    }
    if (rec->n_idents >= RECORD_MAX_IDENTS) {
        errmsg_set(msg, msglen, "customer: more than %d identifiers", RECORD_MAX_IDENTS);
        return -1;
    }
    char *copy = strdup(norm);
    if (copy == NULL) {
        errmsg_set(msg, msglen, "customer.%s: out of memory", kname);
        return -1;
    }
    struct record_ident *id = &rec->idents[rec->n_idents++];
    id->kind = kind;
    id->value = copy;
    id->never_merge = false;
    size_t klen = strlen(kname);
    for (size_t i = 0; i < opts->n_never_merge; i++) {
        const char *nm = opts->never_merge[i];
        if (strncmp(nm, kname, klen) == 0 && nm[klen] == ':' && strcmp(nm + klen + 1, norm) == 0) {
            id->never_merge = true;
            break;
        }
    }
    for (size_t i = 0; i < opts->n_never_merge_patterns && !id->never_merge; i++) {
        const struct record_pattern *pt = &opts->never_merge_patterns[i];
        id->never_merge = pt->kind == kind && regexec(&pt->re, norm, 0, NULL, 0) == 0;
    }
    if (kind == IDENT_CHAT && opts->phone_chat_providers != NULL) {
        return add_chat_phone(rec, id->value, opts, msg, msglen);
    }
    return 0;
}

/* An object-valued field as compact JSON text of at most ATTRIBUTES_MAX bytes, in *out. */
static int dump_object(const struct jsondoc *doc, const struct jsondoc_value *v, const char *field,
                       char **out, char *msg, size_t msglen)
{
    if (v->type != JSONDOC_OBJECT) {
        errmsg_set(msg, msglen, "%s: must be an object", field);
        return -1;
    }
    size_t n = 0;
    *out = jsondoc_dump(doc, v, NULL, NULL, &n);
    if (*out == NULL) {
        errmsg_set(msg, msglen, "%s: out of memory", field);
        return -1;
    }
    if (n > ATTRIBUTES_MAX) {
        errmsg_set(msg, msglen, "%s: %zu bytes serialized, the limit is %d", field, n,
                   ATTRIBUTES_MAX);
        return -1;
    }
    return 0;
}

static int parse_customer(struct record *rec, const struct jsondoc_value *cust,
                          const struct record_opts *opts, char *msg, size_t msglen)
{
    if (cust == NULL || cust->type == JSONDOC_NULL) {
        errmsg_set(msg, msglen, "customer: missing (required, with at least one identifier)");
        return -1;
    }
    if (cust->type != JSONDOC_OBJECT) {
        errmsg_set(msg, msglen, "customer: must be an object");
        return -1;
    }
    const struct jsondoc *doc = rec->doc;
    for (const struct jsondoc_value *v = jsondoc_child(doc, cust); v != NULL;
         v = jsondoc_next(doc, v)) {
        const char *key = v->key;
        enum ident_kind kind;
        if (normalize_kind_parse(key, &kind) == 0) {
            if (v->type == JSONDOC_STRING) {
                if (add_ident(rec, kind, v->text, v->len, opts, msg, msglen) < 0) {
                    return -1;
                }
            } else if (v->type == JSONDOC_ARRAY) {
                size_t i = 0;
                for (const struct jsondoc_value *item = jsondoc_child(doc, v); item != NULL;
                     item = jsondoc_next(doc, item), i++) {
                    if (item->type != JSONDOC_STRING) {
                        errmsg_set(msg, msglen, "customer.%s[%zu]: must be a string", key, i);
                        return -1;
                    }
                    if (add_ident(rec, kind, item->text, item->len, opts, msg, msglen) < 0) {
                        return -1;
                    }
                }
            } else if (v->type != JSONDOC_NULL) {
                errmsg_set(msg, msglen, "customer.%s: must be a string or an array of strings",
                           key);
                return -1;
            }
        } else if (strcmp(key, "name") == 0) {
            if (v->type != JSONDOC_STRING && v->type != JSONDOC_NULL) {
                errmsg_set(msg, msglen, "customer.name: must be a string");
                return -1;
            }
            if (v->type == JSONDOC_STRING) {
                rec->name = v->text;
                if (utf8_chars(rec->name) > NAME_CHARS_MAX) {
                    errmsg_set(msg, msglen, "customer.name: longer than %d characters",
                               NAME_CHARS_MAX);
                    return -1;
                }
            }
        } else if (strcmp(key, "traits") == 0) {
            if (v->type != JSONDOC_NULL &&
                dump_object(doc, v, "customer.traits", &rec->traits_json, msg, msglen) < 0) {
                return -1;
            }
        } else {
            char q[96];
            errmsg_set(msg, msglen,
                       "customer.%s: unknown field (known: phone, email, chat, web, "
                       "external, name, traits)",
                       errmsg_quote(key, q, sizeof(q)) /* quoted */);
            return -1;
        }
    }
    if (rec->n_idents == 0) {
        errmsg_set(msg, msglen,
                   "customer: needs at least one identifier (phone, email, chat, web, external)");
        return -1;
    }
    return 0;
}

static int parse_tags(struct record *rec, const struct jsondoc_value *tags, char *msg,
                      size_t msglen)
{
    if (tags == NULL || tags->type == JSONDOC_NULL) {
        return 0;
    }
    if (tags->type != JSONDOC_ARRAY) {
        errmsg_set(msg, msglen, "tags: must be an array of strings");
        return -1;
    }
    if (tags->count > RECORD_TAGS_MAX) {
        errmsg_set(msg, msglen, "tags: %u items, the limit is %d", tags->count, RECORD_TAGS_MAX);
        return -1;
    }
    size_t i = 0;
    for (const struct jsondoc_value *t = jsondoc_child(rec->doc, tags); t != NULL;
         t = jsondoc_next(rec->doc, t), i++) {
        if (t->type != JSONDOC_STRING) {
            errmsg_set(msg, msglen, "tags[%zu]: must be a string", i);
            return -1;
        }
        if (utf8_chars(t->text) > TAG_CHARS_MAX) {
            errmsg_set(msg, msglen, "tags[%zu]: longer than %d characters", i, TAG_CHARS_MAX);
            return -1;
        }
        rec->tags[rec->n_tags++] = t->text;
    }
    rec->tags_json = jsondoc_dump(rec->doc, tags, NULL, NULL, NULL);
    if (rec->tags_json == NULL) {
        errmsg_set(msg, msglen, "tags: out of memory");
        return -1;
    }
    return 0;
}

int record_canonical_uuid(const char *s, char out[RECORD_UUID_LEN + 1])
{
    uuid_t u;
    if (strlen(s) != RECORD_UUID_LEN || uuid_parse(s, u) != 0) {
        return -1;
    }
    uuid_unparse_lower(u, out);
    return 0;
}

void record_derive_id(const char *source, const char *external_id, char out[RECORD_UUID_LEN + 1])
{
    uuid_t ns, u;
    uuid_clear(ns);
    size_t sl = strlen(source), el = strlen(external_id);
    char stackbuf[512];
    char *name = sl + el + 1 <= sizeof(stackbuf) ? stackbuf : malloc(sl + el + 1);
    if (name == NULL) {
        /* Only reachable for an external_id near its 256-character limit under memory
         * exhaustion; a random id still lets the (source, external_id) constraint dedupe. */
        uuid_generate_random(u);
        uuid_unparse_lower(u, out);
        return;
    }
    memcpy(name, source, sl);
    name[sl] = '\0';
    memcpy(name + sl + 1, external_id, el);
    uuid_generate_sha1(u, ns, name, sl + el + 1);
    if (name != stackbuf) {
        free(name);
    }
    uuid_unparse_lower(u, out);
}

void record_uuid7(char out[RECORD_UUID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned sub = (unsigned)((uint64_t)(ts.tv_nsec % 1000000) * 4096 / 1000000);
    for (int i = 0; i < 6; i++) {
        u[i] = (unsigned char)(ms >> (40 - 8 * i));
    }
    u[6] = (unsigned char)(0x70 | ((sub >> 8) & 0x0f));
    u[7] = (unsigned char)(sub & 0xff);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    uuid_unparse_lower(u, out);
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int record_parse_time(const char *s, int64_t *us_out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (parse_digits(&p, 4, &y) < 0 || *p++ != '-' || parse_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        parse_digits(&p, 2, &d) < 0) {
        return -1;
    }
    if (*p != 'T' && *p != 't') {
        return -1;
    }
    p++;
    if (parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &mi) < 0 || *p++ != ':' ||
        parse_digits(&p, 2, &se) < 0) {
        return -1;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) {
        return -1;
    }
    int dim = mdays[mo - 1] + (mo == 2 && leap(y));
    if (d > dim) {
        return -1;
    }
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        int64_t scale = 100000;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6) {
                frac_us += (*p - '0') * scale;
                scale /= 10;
            }
            digits++;
            p++;
        }
        if (digits == 0) {
            return -1;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) < 0 || *p++ != ':' || parse_digits(&p, 2, &om) < 0) {
            return -1;
        }
        if (oh > 23 || om > 59) {
            return -1;
        }
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    int64_t secs =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    /* In UTC the time must still fall in years 1-9999, as PostgreSQL and the format need. */
    if (secs < -62135596800LL || secs > 253402300799LL) {
        return -1;
    }
    *us_out = secs * 1000000 + frac_us;
    return 0;
}

void record_format_time(int64_t us, char out[RECORD_TS_LEN + 1])
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char buf[96];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)y, (int)m, (int)d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
    memcpy(out, buf, RECORD_TS_LEN);
    out[RECORD_TS_LEN] = '\0';
}

void record_free(struct record *rec)
{
    if (rec == NULL) {
        return;
    }
    for (size_t i = 0; i < rec->n_idents; i++) {
        free(rec->idents[i].value);
    }
    free(rec->tags_json);
    free(rec->attributes_json);
    free(rec->traits_json);
    jsondoc_free(rec->doc);
    free(rec);
}

int record_from_doc(struct jsondoc *doc, const struct record_opts *opts, struct record **out,
                    char *msg, size_t msglen)
{
    *out = NULL;
    const struct jsondoc_value *root = jsondoc_root(doc);
    if (root->type != JSONDOC_OBJECT) {
        errmsg_set(msg, msglen, "a record must be a JSON object");
        jsondoc_free(doc);
        return RECORD_EINVALID;
    }
    struct record *rec = calloc(1, sizeof(*rec));
    if (rec == NULL) {
        errmsg_set(msg, msglen, "out of memory");
        jsondoc_free(doc);
        return RECORD_EINVALID;
    }
    rec->doc = doc;
    char q[96];
    for (const struct jsondoc_value *v = jsondoc_child(doc, root); v != NULL;
         v = jsondoc_next(doc, v)) {
        if (!in_set(v->key, known_fields)) {
            errmsg_set(msg, msglen, "%s: unknown field", errmsg_quote(v->key, q, sizeof(q)));
            goto invalid;
        }
    }

    /* Required fields first, in the order the contract lists them. */
    if (get_string(doc, root, "source", 64, false, &rec->source, msg, msglen) < 0) {
        goto invalid;
    }
    if (rec->source == NULL) {
        errmsg_set(msg, msglen, "source: missing (required)");
        goto invalid;
    }
    if (!record_valid_source(rec->source)) {
        errmsg_set(msg, msglen, "source: %s must be 1-64 characters of [A-Za-z0-9._:-]",
                   errmsg_quote(rec->source, q, sizeof(q)));
        goto invalid;
    }
    if (get_enum(doc, root, "channel", record_channels, &rec->channel, msg, msglen) < 0) {
        goto invalid;
    }
    if (rec->channel == NULL) {
        errmsg_set(msg, msglen, "channel: missing (required)");
        goto invalid;
    }
    const char *ts;
    if (get_string(doc, root, "occurred_at", 64, false, &ts, msg, msglen) < 0) {
        goto invalid;
    }
    if (ts == NULL) {
        errmsg_set(msg, msglen, "occurred_at: missing (required)");
        goto invalid;
    }
    int64_t us;
    if (record_parse_time(ts, &us) < 0) {
        errmsg_set(msg, msglen,
                   "occurred_at: %s is not an RFC 3339 timestamp "
                   "(2026-11-18T09:15:00+03:30 or ...Z)",
                   errmsg_quote(ts, q, sizeof(q)));
        goto invalid;
    }
    record_format_time(us, rec->occurred_at);
    if (parse_customer(rec, jsondoc_get(doc, root, "customer"), opts, msg, msglen) < 0) {
        goto invalid;
    }

    if (get_string(doc, root, "external_id", 256, false, &rec->external_id, msg, msglen) < 0) {
        goto invalid;
    }
    if (rec->external_id != NULL && rec->external_id[0] == '\0') {
        errmsg_set(msg, msglen, "external_id: must not be empty");
        goto invalid;
    }
    const char *id;
    if (get_string(doc, root, "id", 64, false, &id, msg, msglen) < 0) {
        goto invalid;
    }
    if (id != NULL) {
        if (record_canonical_uuid(id, rec->id) < 0) {
            errmsg_set(msg, msglen, "id: %s is not a UUID", errmsg_quote(id, q, sizeof(q)));
            goto invalid;
        }
        rec->id_given = true;
    } else if (rec->external_id != NULL) {
        record_derive_id(rec->source, rec->external_id, rec->id);
    } else {
        uuid_t u;
        uuid_generate_random(u);
        uuid_unparse_lower(u, rec->id);
    }
    if (get_enum(doc, root, "direction", directions, &rec->direction, msg, msglen) < 0) {
        goto invalid;
    }
    if (rec->direction == NULL) {
        rec->direction = "inbound";
    }
    if (get_string(doc, root, "agent", 128, false, &rec->agent, msg, msglen) < 0) {
        goto invalid;
    }
    const char *const *statuses = NULL;
    if (strcmp(rec->channel, "phone") == 0) {
        statuses = phone_statuses;
    } else if (strcmp(rec->channel, "web") != 0 && strcmp(rec->channel, "in_person") != 0 &&
               strcmp(rec->channel, "other") != 0) {
        statuses = message_statuses;
    }
    if (get_string(doc, root, "status", 64, false, &rec->status, msg, msglen) < 0) {
        goto invalid;
    }
    if (rec->status != NULL) {
        bool ok = statuses != NULL ? in_set(rec->status, statuses)
                                   : in_set(rec->status, phone_statuses) ||
                                         in_set(rec->status, message_statuses);
        if (!ok) {
            char allowed[256];
            join_set(statuses != NULL ? statuses : message_statuses, allowed, sizeof(allowed));
            errmsg_set(msg, msglen, "status: %s is not a status of channel %s (%s)",
                       errmsg_quote(rec->status, q, sizeof(q)), rec->channel, allowed);
            goto invalid;
        }
    }
    long long x;
    if (get_integer(doc, root, "duration_s", 0, 2147483647LL, &rec->has_duration, &x, msg, msglen) <
        0) {
        goto invalid;
    }
    rec->duration_s = rec->has_duration ? x : 0;
    if (get_string(doc, root, "subject", 512, false, &rec->subject, msg, msglen) < 0 ||
        get_string(doc, root, "body", BODY_MAX, true, &rec->body, msg, msglen) < 0 ||
        get_string(doc, root, "thread", 256, false, &rec->thread, msg, msglen) < 0 ||
        get_enum(doc, root, "stage", stages, &rec->stage, msg, msglen) < 0 ||
        get_enum(doc, root, "sentiment", sentiments, &rec->sentiment, msg, msglen) < 0) {
        goto invalid;
    }
    if (get_integer(doc, root, "score", 0, 10, &rec->has_score, &x, msg, msglen) < 0) {
        goto invalid;
    }
    rec->score = rec->has_score ? (int)x : 0;
    if (parse_tags(rec, jsondoc_get(doc, root, "tags"), msg, msglen) < 0) {
        goto invalid;
    }
    const struct jsondoc_value *attrs = jsondoc_get(doc, root, "attributes");
    if (attrs != NULL && attrs->type != JSONDOC_NULL &&
        dump_object(doc, attrs, "attributes", &rec->attributes_json, msg, msglen) < 0) {
        goto invalid;
    }
    *out = rec;
    return RECORD_OK;

invalid:
    record_free(rec);
    return RECORD_EINVALID;
}

int record_parse(const char *line, size_t len, const struct record_opts *opts, struct record **out,
                 char *msg, size_t msglen)
{
    *out = NULL;
    struct jsondoc *doc = jsondoc_parse(line, len, msg, msglen);
    if (doc == NULL) {
        return RECORD_EJSON;
    }
    return record_from_doc(doc, opts, out, msg, msglen);
}

int record_channel_index(const char *channel)
{
    for (int i = 0; i < RECORD_CHANNELS; i++) {
        if (strcmp(channel, record_channels[i]) == 0) {
            return i;
        }
    }
    return -1;
}

char *record_to_line(const struct record *rec, size_t *len)
{
    return jsondoc_dump(rec->doc, jsondoc_root(rec->doc), "id", rec->id, len);
}
