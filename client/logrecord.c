/*
 * The record of `touchline log`, built option by option. The fields keep the order the
 * options came in, then source, occurred_at, customer and tags: what the daemon gets, and
 * what --format json shows back, read in the order the user typed.
 */
#include "logrecord.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "record.h"

struct logrecord {
    json_t *rec;  /* the record's own fields */
    json_t *cust; /* the customer object: identifiers and name */
    json_t *tags;
    char *source;      /* NULL: LOGRECORD_DEFAULT_SOURCE */
    char *occurred_at; /* NULL: now */
};

/* Options whose record field has the option's own name. */
static const char *const same_name_fields[] = {
    "channel", "subject", "direction", "agent", "status", "thread", "stage", "sentiment",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

struct logrecord *logrecord_new(void)
{
    struct logrecord *lr = calloc(1, sizeof(*lr));
    if (lr == NULL) {
        return NULL;
    }
    lr->rec = json_object();
    lr->cust = json_object();
    lr->tags = json_array();
    if (lr->rec == NULL || lr->cust == NULL || lr->tags == NULL) {
        logrecord_free(lr);
        return NULL;
    }
    return lr;
}

void logrecord_free(struct logrecord *lr)
{
    if (lr == NULL) {
        return;
    }
    json_decref(lr->rec);
    json_decref(lr->cust);
    json_decref(lr->tags);
    free(lr->source);
    free(lr->occurred_at);
    free(lr);
}

/* Adds identifier value (taken) of kind to the customer: a string, an array when repeated. */
static int add_identifier(json_t *cust, const char *kind, json_t *v)
{
    json_t *old = json_object_get(cust, kind);
    if (old == NULL) {
        return json_object_set_new(cust, kind, v) == 0 ? LOGRECORD_OK : LOGRECORD_NOMEM;
    }
    if (json_is_string(old)) {
        json_t *arr = json_array();
        if (arr == NULL || json_array_append(arr, old) < 0 ||
            json_object_set_new(cust, kind, arr) < 0) {
            json_decref(v);
            return LOGRECORD_NOMEM;
        }
        old = arr;
    }
    return json_array_append_new(old, v) == 0 ? LOGRECORD_OK : LOGRECORD_NOMEM;
}

/* Replaces *slot with a copy of value. */
static int keep_copy(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL) {
        return LOGRECORD_NOMEM;
    }
    free(*slot);
    *slot = copy;
    return LOGRECORD_OK;
}

int logrecord_set(struct logrecord *lr, const char *option, const char *value)
{
    /* Checked at build time, after what is missing has been said. */
    if (strcmp(option, "source") == 0) {
        return keep_copy(&lr->source, value);
    }
    if (strcmp(option, "occurred-at") == 0) {
        return keep_copy(&lr->occurred_at, value);
    }
    json_t *target = lr->rec;
    const char *field = option;
    enum ident_kind kind;
    bool identifier = normalize_kind_parse(option, &kind) == 0;
    if (strcmp(option, "summary") == 0) {
        field = "body";
    } else if (strcmp(option, "external-id") == 0) {
        field = "external_id";
    } else if (strcmp(option, "name") == 0) {
        target = lr->cust;
    } else if (strcmp(option, "tag") != 0 && !identifier &&
               !in_list(option, same_name_fields,
                        sizeof(same_name_fields) / sizeof(same_name_fields[0]))) {
        return LOGRECORD_UNKNOWN;
    }
    json_t *v = json_string(value);
    if (v == NULL) {
        return LOGRECORD_NOT_UTF8;
    }
    if (identifier) {
        return add_identifier(lr->cust, option, v);
    }
    if (strcmp(option, "tag") == 0) {
        return json_array_append_new(lr->tags, v) == 0 ? LOGRECORD_OK : LOGRECORD_NOMEM;
    }
    return json_object_set_new(target, field, v) == 0 ? LOGRECORD_OK : LOGRECORD_NOMEM;
}

int logrecord_set_number(struct logrecord *lr, const char *option, long long n)
{
    const char *field = strcmp(option, "score") == 0      ? "score"
                        : strcmp(option, "duration") == 0 ? "duration_s"
                                                          : NULL;
    if (field == NULL) {
        return LOGRECORD_UNKNOWN;
    }
    return json_object_set_new(lr->rec, field, json_integer(n)) == 0 ? LOGRECORD_OK
                                                                     : LOGRECORD_NOMEM;
}

const char *logrecord_missing(const struct logrecord *lr)
{
    if (json_object_get(lr->rec, "channel") == NULL) {
        return "--channel C";
    }
    /* A name alone does not say who the customer is. */
    if (json_object_size(lr->cust) == (json_object_get(lr->cust, "name") != NULL)) {
        return "--phone, --email, --chat, --web or --external";
    }
    if (json_object_get(lr->rec, "body") == NULL) {
        return "--summary TEXT";
    }
    return NULL;
}

int logrecord_build(struct logrecord *lr, int64_t now_us, json_t **out, const char **bad_option)
{
    char now[RECORD_TS_LEN + 1];
    const char *occurred_at = lr->occurred_at;
    *out = NULL;
    *bad_option = NULL;
    if (occurred_at == NULL) {
        record_format_time(now_us, now);
        occurred_at = now;
    }
    json_t *src = json_string(lr->source != NULL ? lr->source : LOGRECORD_DEFAULT_SOURCE);
    json_t *when = json_string(occurred_at);
    if (src == NULL || when == NULL) {
        *bad_option = src == NULL ? "source" : "occurred-at";
        json_decref(src);
        json_decref(when);
        return LOGRECORD_NOT_UTF8;
    }
    if (json_object_set_new(lr->rec, "source", src) < 0 ||
        json_object_set_new(lr->rec, "occurred_at", when) < 0 ||
        json_object_set(lr->rec, "customer", lr->cust) < 0 ||
        (json_array_size(lr->tags) > 0 && json_object_set(lr->rec, "tags", lr->tags) < 0)) {
        return LOGRECORD_NOMEM;
    }
    *out = json_incref(lr->rec);
    return LOGRECORD_OK;
}
