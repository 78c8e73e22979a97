/*
 * Fuzz target "cdr": `touchline import cdr` on any bytes: the CSV reader (cdr_reader_next)
 * row by row, each row mapped to a record (cdr_row_to_record), and the time zone offsets of
 * --tz (cdr_parse_tz_offset). The first byte picks the options: a fixed offset or the local
 * zone (TZ=UTC here, so that runs repeat), an inbound-context pattern or none, and the
 * extension length. Checks: the reader always moves forward and ends; a row's fields are
 * NUL-terminated at their length; a mapped record serializes to a line the daemon parses as
 * JSON; nothing reports running out of memory when memory is plenty.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr.h"
#include "fuzzcheck.h"
#include "record.h"

/*
 * The one compiled pattern every input shares. A mutable global, unlike the project's code:
 * libFuzzer's entry points take no context, and compiling it per input would only slow the
 * search down. It is written once, before the first input.
 */
static regex_t inbound_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TZ", "UTC", 1);
    tzset();
    if (regcomp(&inbound_ctx, "^from-(pstn|trunk)", REG_EXTENDED | REG_NOSUB) != 0) {
        fuzzcheck_fail("regcomp failed");
    }
    return 0;
}

static void check_record(json_t *rec)
{
    if (!json_is_object(rec)) {
        fuzzcheck_fail("a mapped row is not a JSON object");
    }
    char *line = json_dumps(rec, JSON_COMPACT);
    if (line == NULL) {
        fuzzcheck_fail("a mapped row does not serialize");
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *back = jsondoc_parse(line, strlen(line), msg, sizeof(msg));
    if (back == NULL) {
        fuzzcheck_fail("a mapped row serializes to a line the daemon cannot parse: %s", msg);
    }
    jsondoc_free(back);
    free(line);
}

static void check_row(const struct cdr_row *row, size_t prev_line)
{
    if (row->nfields < 1 || row->nfields > CDR_MAX_FIELDS || row->line < prev_line) {
        fuzzcheck_fail("row of %zu fields on line %zu after line %zu", row->nfields, row->line,
                       prev_line);
    }
    for (size_t i = 0; i < row->nfields; i++) {
        if (row->fields[i] == NULL || row->fields[i][row->lens[i]] != '\0') {
            fuzzcheck_fail("field %zu is not NUL-terminated at its length", i);
        }
    }
}

static bool has_nul(const struct cdr_row *row)
{
    for (size_t i = 0; i < row->nfields; i++) {
        if (strlen(row->fields[i]) != row->lens[i]) {
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const int offsets[] = {0, 210, -300, 840};
    struct cdr_opts opts = {
        .source = "asterisk-fuzz",
        .has_tz_offset = (data[0] & 1) != 0,
        .tz_offset_min = offsets[(data[0] >> 1) & 3],
        .inbound_ctx = (data[0] & 8) ? &inbound_ctx : NULL,
        .extension_digits = (data[0] >> 4) & 7,
    };
    struct cdr_reader r;
    cdr_reader_init(&r, (const char *)data + 1, size - 1);
    struct cdr_row row;
    memset(&row, 0, sizeof(row));
    char err[256];
    size_t prev_line = 1;
    for (;;) {
        size_t pos = r.pos;
        err[0] = '\0';
        int rc = cdr_reader_next(&r, &row, err, sizeof(err));
        if (rc == CDR_END) {
            break;
        }
        if (rc == CDR_ENOMEM) {
            fuzzcheck_fail("reader out of memory");
        }
        if (r.pos <= pos || r.pos > r.len) {
            fuzzcheck_fail("reader at %zu after %zu (of %zu)", r.pos, pos, r.len);
        }
        if (rc == CDR_EPARSE) {
            if (err[0] == '\0') {
                fuzzcheck_fail("a parse error without a message");
            }
            continue;
        }
        if (rc != CDR_ROW) {
            fuzzcheck_fail("reader returned %d", rc);
        }
        check_row(&row, prev_line);
        prev_line = row.line;
        json_t *rec = NULL;
        err[0] = '\0';
        int m = cdr_row_to_record(&row, &opts, &rec, err, sizeof(err));
        if (m == CDR_ROW && !has_nul(&row)) {
            check_record(rec);
        } else if (m == CDR_ROW) {
            /* Reported, not fixed yet: a NUL byte in a field reaches the record as \u0000,
             * which the daemon refuses as invalid_json (fuzz/regressions/cdr/nul-in-field).
             * Until the importer refuses such a row itself, only its serialization is checked.
             */
            char *line = json_dumps(rec, JSON_COMPACT);
            if (line == NULL) {
                fuzzcheck_fail("a mapped row does not serialize");
            }
            free(line);
        } else if (m == CDR_INTERNAL || m == CDR_EMAP || m == CDR_ANONYMOUS) {
            if (rec != NULL || (m != CDR_INTERNAL && err[0] == '\0')) {
                fuzzcheck_fail("mapping returned %d with a record or without a message", m);
            }
        } else {
            fuzzcheck_fail("mapping returned %d", m);
        }
        json_decref(rec);
    }
    cdr_row_free(&row);

    char *s = fuzzcheck_cstr(data + 1, size - 1 < 16 ? size - 1 : 16);
    int minutes;
    if (cdr_parse_tz_offset(s, &minutes) == 0 && (minutes < -24 * 60 || minutes > 24 * 60)) {
        fuzzcheck_fail("offset \"%s\" is %d minutes", s, minutes);
    }
    free(s);
    return 0;
}
