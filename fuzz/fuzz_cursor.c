/*
 * Fuzz target "cursor": the timeline cursor of the HTTP API ("<microseconds>-<32 hex>"),
 * which clients hand back verbatim and may forge. Checks: what is accepted yields a UTC
 * timestamp that reads back and a canonical UUID, and the cursor rebuilt from them is
 * accepted with the same result.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "http.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_parsed(const char *cursor, const char ts[28], const char id[37])
{
    int64_t us;
    char canon[RECORD_UUID_LEN + 1];
    if (strnlen(ts, 28) != RECORD_TS_LEN || record_parse_time(ts, &us) != 0) {
        fuzzcheck_fail("cursor \"%s\" gave a timestamp that does not read back", cursor);
    }
    if (strnlen(id, 37) != RECORD_UUID_LEN || record_canonical_uuid(id, canon) != 0 ||
        strcmp(canon, id) != 0) {
        fuzzcheck_fail("cursor \"%s\" gave an id that is not a canonical UUID", cursor);
    }
    char rebuilt[80], hex[33];
    size_t o = 0;
    for (size_t i = 0; id[i] != '\0'; i++) {
        if (id[i] != '-') {
            hex[o++] = id[i];
        }
    }
    hex[o] = '\0';
    snprintf(rebuilt, sizeof(rebuilt), "%" PRId64 "-%s", us, hex);
    char ts2[28], id2[37];
    if (http_parse_cursor(rebuilt, ts2, id2) != 0 || strcmp(ts, ts2) != 0 || strcmp(id, id2) != 0) {
        fuzzcheck_fail("cursor \"%s\" rebuilt as \"%s\" does not give the same", cursor, rebuilt);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzzcheck_cstr(data, size);
    char ts[28], id[37];
    memset(ts, 0x55, sizeof(ts));
    memset(id, 0x55, sizeof(id));
    if (http_parse_cursor(s, ts, id) == 0) {
        check_parsed(s, ts, id);
    }
    free(s);
    return 0;
}
