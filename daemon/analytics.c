#include "analytics.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* The group keys of GET /v1/stats, as sql/009_analytics.sql's stats_by_keys() lists them. */
static const char *const by_keys[] = {"channel", "source", "stage", "agent", "day"};

/* Parses an RFC 3339 time into out (UTC, microseconds). Returns 0, or -1 with err set. */
static int parse_time(const char *name, const char *v, char out[RECORD_TS_LEN + 1], char *err,
                      size_t errlen)
{
    int64_t us;
    char qv[72];
    if (record_parse_time(v, &us) < 0) {
        errmsg_set(err, errlen, "%s: %s is not an RFC 3339 timestamp", name,
                   errmsg_quote(v, qv, sizeof(qv)));
        return -1;
    }
    record_format_time(us, out);
    return 0;
}

static int unknown(const char *key, const char *known, char *err, size_t errlen)
{
    char qk[72];
    errmsg_set(err, errlen, "%s: unknown parameter (%s)", errmsg_quote(key, qk, sizeof(qk)), known);
    return -1;
}

/* since and until, when p is one of them: 1 when it was, 0 when not, -1 on a bad value. */
static int range_param(const struct http_param *p, struct analytics_query *q, bool *has_since,
                       bool *has_until, char *err, size_t errlen)
{
    if (strcmp(p->key, "since") == 0) {
        *has_since = true;
        return parse_time("since", p->value, q->since, err, errlen) < 0 ? -1 : 1;
    }
    if (strcmp(p->key, "until") == 0) {
        *has_until = true;
        return parse_time("until", p->value, q->until, err, errlen) < 0 ? -1 : 1;
    }
    return 0;
}

int analytics_parse_stats(const struct http_param *p, int np, int sla_s, struct analytics_query *q,
                          char *err, size_t errlen)
{
    bool has_since = false, has_until = false, has_by = false;
    char qv[72];
    memset(q, 0, sizeof(*q));
    for (int i = 0; i < np; i++) {
        int r = range_param(&p[i], q, &has_since, &has_until, err, errlen);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            continue;
        }
        if (strcmp(p[i].key, "by") != 0) {
            return unknown(p[i].key, "since, until, by", err, errlen);
        }
        has_by = false;
        for (size_t k = 0; k < sizeof(by_keys) / sizeof(by_keys[0]); k++) {
            if (strcmp(p[i].value, by_keys[k]) == 0) {
                snprintf(q->by, sizeof(q->by), "%s", by_keys[k]);
                has_by = true;
            }
        }
        if (!has_by) {
            errmsg_set(err, errlen, "by: %s is not one of channel, source, stage, agent, day",
                       errmsg_quote(p[i].value, qv, sizeof(qv)));
            return -1;
        }
    }
    snprintf(q->sla, sizeof(q->sla), "%d", sla_s);
    q->values[0] = has_since ? q->since : NULL;
    q->values[1] = has_until ? q->until : NULL;
    q->values[2] = has_by ? q->by : NULL;
    q->values[3] = q->sla;
    q->n = 4;
    return 0;
}

int analytics_parse_missed(const struct http_param *p, int np, int sla_s, struct analytics_query *q,
                           char *err, size_t errlen)
{
    bool has_since = false, has_until = false, open = true;
    long limit = ANALYTICS_DEFAULT_LIMIT;
    char qv[72];
    memset(q, 0, sizeof(*q));
    for (int i = 0; i < np; i++) {
        int r = range_param(&p[i], q, &has_since, &has_until, err, errlen);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            continue;
        }
        const char *k = p[i].key, *v = p[i].value;
        if (strcmp(k, "open") == 0) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                errmsg_set(err, errlen, "open: %s must be true or false",
                           errmsg_quote(v, qv, sizeof(qv)));
                return -1;
            }
            open = strcmp(v, "true") == 0;
        } else if (strcmp(k, "limit") == 0) {
            char *end;
            errno = 0;
            limit = strtol(v, &end, 10);
            if (errno != 0 || *v == '\0' || *end != '\0' || limit < 1 ||
                limit > ANALYTICS_MAX_LIMIT) {
                errmsg_set(err, errlen, "limit: %s must be an integer 1-%d",
                           errmsg_quote(v, qv, sizeof(qv)), ANALYTICS_MAX_LIMIT);
                return -1;
            }
        } else {
            return unknown(k, "open, since, until, limit", err, errlen);
        }
    }
    snprintf(q->flag, sizeof(q->flag), "%s", open ? "true" : "false");
    snprintf(q->number, sizeof(q->number), "%ld", limit);
    snprintf(q->sla, sizeof(q->sla), "%d", sla_s);
    q->values[0] = has_since ? q->since : NULL;
    q->values[1] = has_until ? q->until : NULL;
    q->values[2] = q->flag;
    q->values[3] = q->number;
    q->values[4] = q->sla;
    q->n = 5;
    return 0;
}

int analytics_parse_journey(const char *id, const struct http_param *p, int np,
                            struct analytics_query *q, char *err, size_t errlen)
{
    bool has_since = false, has_until = false;
    memset(q, 0, sizeof(*q));
    for (int i = 0; i < np; i++) {
        int r = range_param(&p[i], q, &has_since, &has_until, err, errlen);
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            return unknown(p[i].key, "since, until", err, errlen);
        }
    }
    q->values[0] = id;
    q->values[1] = has_since ? q->since : NULL;
    q->values[2] = has_until ? q->until : NULL;
    q->n = 3;
    return 0;
}
