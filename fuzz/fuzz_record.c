/*
 * Fuzz target "record": one input is one TCP line, run through the daemon's whole line path
 * (record_parse: JSON parse, validation, identifier normalization, id derivation, time
 * conversion). Beyond "no crash, no leak, no undefined behaviour" it checks what the daemon
 * relies on afterwards: an error always comes with a message that is valid UTF-8 (it travels
 * as a JSON string in the answer), and an accepted record is canonical (a UUID id, a UTC
 * timestamp that reads back to itself, identifiers that normalize to themselves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "normalize.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_json_text(const char *what, const char *text)
{
    if (text == NULL) {
        return;
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *j = jsondoc_parse(text, strlen(text), msg, sizeof(msg));
    if (j == NULL) {
        fuzzcheck_fail("%s is not JSON: %s", what, msg);
    }
    jsondoc_free(j);
}

static void check_record(const struct record *rec, const struct record_opts *opts)
{
    char canon[RECORD_UUID_LEN + 1];
    if (record_canonical_uuid(rec->id, canon) != 0 || strcmp(canon, rec->id) != 0) {
        fuzzcheck_fail("id \"%s\" is not a canonical UUID", rec->id);
    }
    if (!rec->id_given && rec->external_id != NULL) {
        record_derive_id(rec->source, rec->external_id, canon);
        if (strcmp(canon, rec->id) != 0) {
            fuzzcheck_fail("id %s is not the one derived from source and external_id", rec->id);
        }
    }
    if (rec->source == NULL || rec->source[0] == '\0' || strlen(rec->source) > 64 ||
        strspn(rec->source, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") !=
            strlen(rec->source)) {
        fuzzcheck_fail("source %s broke its rule", rec->source ? rec->source : "(null)");
    }
    if (rec->channel == NULL || record_channel_index(rec->channel) < 0) {
        fuzzcheck_fail("channel is not one of the contract's");
    }
    int64_t us;
    char again[RECORD_TS_LEN + 1];
    if (strlen(rec->occurred_at) != RECORD_TS_LEN ||
        record_parse_time(rec->occurred_at, &us) != 0) {
        fuzzcheck_fail("occurred_at \"%s\" does not read back", rec->occurred_at);
    }
    record_format_time(us, again);
    if (strcmp(again, rec->occurred_at) != 0) {
        fuzzcheck_fail("occurred_at \"%s\" reads back as \"%s\"", rec->occurred_at, again);
    }
    if (rec->n_idents < 1 || rec->n_idents > RECORD_MAX_IDENTS) {
        fuzzcheck_fail("%zu identifiers", rec->n_idents);
    }
    for (size_t i = 0; i < rec->n_idents; i++) {
        const struct record_ident *id = &rec->idents[i];
        char norm[NORMALIZE_MAX + 1];
        const char *why = NULL;
        size_t len = strlen(id->value);
        if (len > NORMALIZE_MAX || !fuzzcheck_utf8(id->value, len)) {
            fuzzcheck_fail("identifier %zu is too long or not UTF-8", i);
        }
        /* A stored identifier must be found again by the same normalization (HTTP lookups
         * normalize what they are given). */
        if (normalize_identifier(id->kind, id->value, len, &opts->norm, norm, &why) != 0 ||
            strcmp(norm, id->value) != 0) {
            fuzzcheck_fail("identifier %s:\"%s\" does not normalize to itself",
                           normalize_kind_name(id->kind), id->value);
        }
        for (size_t k = 0; k < i; k++) {
            if (rec->idents[k].kind == id->kind && strcmp(rec->idents[k].value, id->value) == 0) {
                fuzzcheck_fail("identifier %s:\"%s\" is listed twice",
                               normalize_kind_name(id->kind), id->value);
            }
        }
    }
    if (rec->has_score && (rec->score < 0 || rec->score > 10)) {
        fuzzcheck_fail("score %d", rec->score);
    }
    if (rec->has_duration && rec->duration_s < 0) {
        fuzzcheck_fail("duration_s %lld", rec->duration_s);
    }
    if (rec->attributes_json != NULL && strlen(rec->attributes_json) > 16 * 1024) {
        fuzzcheck_fail("attributes of %zu bytes", strlen(rec->attributes_json));
    }
    check_json_text("tags", rec->tags_json);
    check_json_text("attributes", rec->attributes_json);
    check_json_text("traits", rec->traits_json);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * What the spool keeps of an acknowledged record (record_to_line) must read back as the same
 * record with the same idempotency key, or a replay would store something else.
 */
static void check_round_trip(struct record *rec, const struct record_opts *opts)
{
    size_t len = 0;
    char *line = record_to_line(rec, &len);
    if (line == NULL || len != strlen(line)) {
        fuzzcheck_fail("record_to_line failed");
    }
    struct record *back = NULL;
    char msg[RECORD_MSG_MAX];
    if (record_parse(line, len, opts, &back, msg, sizeof(msg)) != RECORD_OK) {
        fuzzcheck_fail("the record's line does not parse back: %s\n%s", msg, line);
    }
    bool same =
        strcmp(back->id, rec->id) == 0 && same_str(back->source, rec->source) &&
        same_str(back->external_id, rec->external_id) && same_str(back->channel, rec->channel) &&
        same_str(back->direction, rec->direction) &&
        strcmp(back->occurred_at, rec->occurred_at) == 0 && same_str(back->agent, rec->agent) &&
        same_str(back->status, rec->status) && back->has_duration == rec->has_duration &&
        back->duration_s == rec->duration_s && same_str(back->subject, rec->subject) &&
        same_str(back->body, rec->body) && same_str(back->thread, rec->thread) &&
        same_str(back->stage, rec->stage) && same_str(back->sentiment, rec->sentiment) &&
        back->has_score == rec->has_score && back->score == rec->score &&
        same_str(back->tags_json, rec->tags_json) &&
        same_str(back->attributes_json, rec->attributes_json) && same_str(back->name, rec->name) &&
        same_str(back->traits_json, rec->traits_json) && back->n_idents == rec->n_idents;
    for (size_t i = 0; same && i < rec->n_idents; i++) {
        same = back->idents[i].kind == rec->idents[i].kind &&
               strcmp(back->idents[i].value, rec->idents[i].value) == 0 &&
               back->idents[i].never_merge == rec->idents[i].never_merge;
    }
    if (!same) {
        fuzzcheck_fail("the record's line reads back as another record:\n%s", line);
    }
    record_free(back);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The daemon's defaults, with never_merge entries so that their matching runs too. */
    static const char *const never_merge[] = {"phone:+982100000000", "email:info@example.com"};
    struct record_opts opts = {.never_merge = never_merge, .n_never_merge = 2};
    normalize_opts_default(&opts.norm);

    char msg[RECORD_MSG_MAX];
    memset(msg, 0x55, sizeof(msg));
    struct record *rec = NULL;
    int rc = record_parse((const char *)data, size, &opts, &rec, msg, sizeof(msg));
    if (rc == RECORD_OK) {
        if (rec == NULL) {
            fuzzcheck_fail("RECORD_OK without a record");
        }
        check_record(rec, &opts);
        check_round_trip(rec, &opts);
    } else if (rc == RECORD_EJSON || rc == RECORD_EINVALID) {
        size_t n = strnlen(msg, sizeof(msg));
        if (rec != NULL || n == 0 || n == sizeof(msg)) {
            fuzzcheck_fail("error %d without a message, or with a record", rc);
        }
        if (!fuzzcheck_utf8(msg, n)) {
            fuzzcheck_fail("error message is not valid UTF-8: %s", msg);
        }
    } else {
        fuzzcheck_fail("record_parse returned %d", rc);
    }
    record_free(rec);

    /* The timestamp parser on raw text as well: what it accepts formats and reads back. */
    if (size <= 64) {
        char *s = fuzzcheck_cstr(data, size);
        int64_t us, us2;
        if (record_parse_time(s, &us) == 0) {
            char ts[RECORD_TS_LEN + 1];
            record_format_time(us, ts);
            if (record_parse_time(ts, &us2) != 0 || us2 != us) {
                fuzzcheck_fail("\"%s\" formats as \"%s\", which does not read back", s, ts);
            }
        }
        free(s);
    }
    return 0;
}
