#include "format.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textwidth.h"

#define COL_GAP 2

int format_parse(const char *s, enum format_kind *out)
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

void format_time(const char *iso, bool utc, char *out, size_t outlen)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        snprintf(out, outlen, "%s", iso);
        return;
    }
    if (utc) {
        strftime(out, outlen, "%Y-%m-%d %H:%MZ", &tm);
        return;
    }
    time_t t = timegm(&tm);
    struct tm local;
    localtime_r(&t, &local);
    strftime(out, outlen, "%Y-%m-%d %H:%M", &local);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* What the agent reads first: the subject, else the body, on one line. */
static const char *summary(const json_t *item)
{
    const char *s = str(item, "subject");
    return s != NULL ? s : str(item, "body");
}

static void header(FILE *out, const json_t *profile, const struct format_opts *o)
{
    if (profile == NULL) {
        return;
    }
    const char *name = str(profile, "name");
    const char *id = str(profile, "id");
    fprintf(out, "%s%s%s%s%s", o->color ? "\033[1m" : "", name != NULL ? name : "",
            name != NULL ? "  " : "", id != NULL ? id : "", o->color ? "\033[0m" : "");
    const json_t *ids = json_object_get(profile, "identities");
    size_t i;
    const json_t *e;
    json_array_foreach(ids, i, e)
    {
        fprintf(out, "%s%s %s", i == 0 ? "\n  " : ", ", str(e, "kind") ? str(e, "kind") : "?",
                str(e, "value") ? str(e, "value") : "?");
    }
    fputc('\n', out);
}

void format_timeline(FILE *out, const json_t *profile, const json_t *items,
                     const struct format_opts *o)
{
    size_t i;
    const json_t *item;
    if (o->kind == FORMAT_NDJSON) {
        json_array_foreach(items, i, item)
        {
            json_dumpf(item, out, JSON_COMPACT);
            fputc('\n', out);
        }
        return;
    }
    if (o->kind == FORMAT_JSON) {
        json_t *doc = json_object();
        if (doc == NULL) {
            return;
        }
        json_object_set(doc, "customer", profile != NULL ? (json_t *)profile : json_null());
        json_object_set(doc, "items", (json_t *)items);
        json_dumpf(doc, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(doc);
        return;
    }
    header(out, profile, o);
    static const char *const titles[] = {"TIME",   "CHANNEL", "DIRECTION",
                                         "STATUS", "AGENT",   "SUMMARY"};
    static const char *const keys[] = {NULL, "channel", "direction", "status", "agent", NULL};
    /* Column widths from the content, the summary taking what is left. */
    size_t widths[6];
    for (int c = 0; c < 6; c++) {
        widths[c] = textwidth(titles[c]);
    }
    char when[64];
    json_array_foreach(items, i, item)
    {
        format_time(str(item, "occurred_at") ? str(item, "occurred_at") : "-", o->utc, when,
                    sizeof(when));
        size_t w = textwidth(when);
        widths[0] = w > widths[0] ? w : widths[0];
        for (int c = 1; c < 5; c++) {
            const char *v = str(item, keys[c]);
            w = textwidth(v != NULL ? v : "-");
            if (c == 4 && w > 16) {
                w = 16;
            }
            widths[c] = w > widths[c] ? w : widths[c];
        }
    }
    size_t used = 0;
    for (int c = 0; c < 5; c++) {
        used += widths[c] + COL_GAP;
    }
    widths[5] = o->width > 0 && (size_t)o->width > used + 10 ? (size_t)o->width - used : 10;
    for (int c = 0; c < 6; c++) {
        if (o->color && c == 0) {
            fputs("\033[1m", out);
        }
        textwidth_fit(out, titles[c], widths[c], c < 5);
        if (c < 5) {
            fprintf(out, "%*s", COL_GAP, "");
        }
    }
    fputs(o->color ? "\033[0m\n" : "\n", out);
    json_array_foreach(items, i, item)
    {
        format_time(str(item, "occurred_at") ? str(item, "occurred_at") : "-", o->utc, when,
                    sizeof(when));
        if (o->color) {
            fputs("\033[2m", out);
        }
        textwidth_fit(out, when, widths[0], 1);
        if (o->color) {
            fputs("\033[0m", out);
        }
        fprintf(out, "%*s", COL_GAP, "");
        for (int c = 1; c < 5; c++) {
            const char *v = str(item, keys[c]);
            textwidth_fit(out, v != NULL ? v : "-", widths[c], 1);
            fprintf(out, "%*s", COL_GAP, "");
        }
        const char *s = summary(item);
        textwidth_fit(out, s != NULL ? s : "-", widths[5], 0);
        fputc('\n', out);
    }
}
