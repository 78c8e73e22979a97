/*
 * Fuzz target "query": the HTTP API's query-string parser (http_parse_query), which every
 * GET /v1/customers... request runs on what the client sent. Checks: the pairs counted are
 * the non-empty '&'-separated pieces, at most 16 of them (the daemon's MAX_PARAMS), and a
 * refusal has a reason a client could see (too many pairs, or %00).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzzcheck.h"
#include "http.h"

#define MAX_PAIRS 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int count_pieces(const char *q)
{
    int n = 0;
    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        n += len > 0;
        q += len;
        q += *q == '&';
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fuzzcheck_cstr(data, size);
    struct http_param p[MAX_PAIRS];
    int n = http_parse_query(q, p, MAX_PAIRS);
    int pieces = count_pieces(q);
    if (n >= 0) {
        if (n != pieces || n > MAX_PAIRS) {
            fuzzcheck_fail("%d pairs from %d pieces", n, pieces);
        }
        for (int i = 0; i < n; i++) {
            if (p[i].key == NULL || p[i].value == NULL) {
                fuzzcheck_fail("pair %d has a NULL", i);
            }
            free(p[i].key);
            free(p[i].value);
        }
    } else if (n == -1) {
        if (pieces <= MAX_PAIRS && strcasestr(q, "%00") == NULL) {
            fuzzcheck_fail("refused %d pieces without %%00", pieces);
        }
    } else {
        fuzzcheck_fail("http_parse_query returned %d", n);
    }
    free(q);
    return 0;
}
