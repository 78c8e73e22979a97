/*
 * Fuzz target "mail": `touchline import mail` on any bytes (mail_to_record: headers,
 * RFC 2047 words, nested multipart, base64 and quoted-printable, charsets through iconv),
 * and mail_decode_header on the same bytes. The first byte picks inbound or outbound and the
 * line limit. Checks: a record serializes to a line the daemon parses as JSON, its body stays
 * within the contract's limit, and within the line limit unless the body is already gone; a
 * refusal names the header; nothing reports running out of memory when memory is plenty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "mail.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_record(json_t *rec, size_t max_line)
{
    if (!json_is_object(rec)) {
        fuzzcheck_fail("the record is not a JSON object");
    }
    char *line = json_dumps(rec, JSON_COMPACT);
    if (line == NULL) {
        fuzzcheck_fail("the record does not serialize");
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *back = jsondoc_parse(line, strlen(line), msg, sizeof(msg));
    if (back == NULL) {
        fuzzcheck_fail("the record serializes to a line the daemon cannot parse: %s", msg);
    }
    jsondoc_free(back);
    json_t *body = json_object_get(rec, "body");
    size_t blen = json_is_string(body) ? json_string_length(body) : 0;
    if (blen > MAIL_BODY_MAX) {
        fuzzcheck_fail("body of %zu bytes", blen);
    }
    if (max_line > 0 && strlen(line) > max_line && blen > 0) {
        fuzzcheck_fail("a line of %zu bytes over the limit of %zu still has a body of %zu",
                       strlen(line), max_line, blen);
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const size_t max_lines[] = {0, 65536, 2048, 512};
    static const char *const domains[] = {"shop.example.ir", "example.com"};
    struct mail_opts opts = {
        .source = "mail-gw",
        .outbound = (data[0] & 1) != 0,
        .max_line = max_lines[(data[0] >> 1) & 3],
        /* Bit 3: the company's domains decide the direction. */
        .company_domains = domains,
        .ncompany = (data[0] & 8) != 0 ? 2 : 0,
    };
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    json_t *rec = NULL;
    char err[256];
    err[0] = '\0';
    int rc = mail_to_record(msg, len, &opts, &rec, err, sizeof(err));
    if (rc == 0) {
        check_record(rec, opts.max_line);
    } else if (rc == MAIL_EINVALID || (rc == MAIL_EINTERNAL && opts.ncompany > 0)) {
        if (rec != NULL || err[0] == '\0') {
            fuzzcheck_fail("refused with a record or without a message");
        }
    } else {
        fuzzcheck_fail("mail_to_record returned %d: %s", rc, err);
    }
    json_decref(rec);

    char *h = mail_decode_header(msg, len < 4096 ? len : 4096);
    if (h == NULL) {
        fuzzcheck_fail("mail_decode_header returned NULL");
    }
    free(h);
    return 0;
}
