/*
 * Fuzz target "jsondoc": the daemon's own JSON parser against jansson, the library it
 * replaced on the line path and that the rest of the project still uses. For any input both
 * must accept or both refuse (jansson with duplicate keys refused and any top-level value
 * allowed, as the daemon called it); when both accept, the two trees must be equal, value for
 * value, and jsondoc_dump's text must parse back to the same tree. A refusal must come with a
 * message that is valid UTF-8.
 *
 * One difference is jansson's, and allowed: it reads a NUL byte right after a number or a
 * literal ("[1\0]") as nothing at all, where RFC 8259 has no place for a NUL outside a
 * string and jsondoc refuses it.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzcheck.h"
#include "jsondoc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Whether jsondoc value v equals jansson value j; path names the place for the report. */
static void same(const struct jsondoc *d, const struct jsondoc_value *v, const json_t *j, int depth)
{
    switch (v->type) {
    case JSONDOC_NULL:
    case JSONDOC_TRUE:
    case JSONDOC_FALSE:
        if (json_typeof(j) != (v->type == JSONDOC_NULL   ? JSON_NULL
                               : v->type == JSONDOC_TRUE ? JSON_TRUE
                                                         : JSON_FALSE)) {
            fuzzcheck_fail("depth %d: literal differs", depth);
        }
        return;
    case JSONDOC_INTEGER:
        if (!json_is_integer(j) || json_integer_value(j) != v->integer) {
            fuzzcheck_fail("depth %d: integer %s differs", depth, v->text);
        }
        return;
    case JSONDOC_REAL:
        if (!json_is_real(j) || json_real_value(j) != strtod(v->text, NULL)) {
            fuzzcheck_fail("depth %d: real %s differs", depth, v->text);
        }
        return;
    case JSONDOC_STRING:
        if (!json_is_string(j) || json_string_length(j) != v->len ||
            memcmp(json_string_value(j), v->text, v->len) != 0 || strlen(v->text) != v->len) {
            fuzzcheck_fail("depth %d: string differs", depth);
        }
        return;
    case JSONDOC_ARRAY: {
        if (!json_is_array(j) || json_array_size(j) != v->count) {
            fuzzcheck_fail("depth %d: array differs in size", depth);
        }
        size_t i = 0;
        for (const struct jsondoc_value *c = jsondoc_child(d, v); c != NULL;
             c = jsondoc_next(d, c), i++) {
            same(d, c, json_array_get(j, i), depth + 1);
        }
        if (i != v->count) {
            fuzzcheck_fail("depth %d: array count %u, %zu elements", depth, v->count, i);
        }
        return;
    }
    case JSONDOC_OBJECT: {
        if (!json_is_object(j) || json_object_size(j) != v->count) {
            fuzzcheck_fail("depth %d: object differs in size", depth);
        }
        size_t i = 0;
        for (const struct jsondoc_value *c = jsondoc_child(d, v); c != NULL;
             c = jsondoc_next(d, c), i++) {
            json_t *m = json_object_getn(j, c->key, c->key_len);
            if (m == NULL || jsondoc_get(d, v, c->key) != c) {
                fuzzcheck_fail("depth %d: member %zu not found", depth, i);
            }
            same(d, c, m, depth + 1);
        }
        return;
    }
    }
    fuzzcheck_fail("unknown type %d", (int)v->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512];
    struct jsondoc *d = jsondoc_parse((const char *)data, size, msg, sizeof(msg));
    json_error_t err;
    json_t *j =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    static const char nul_found[] = "found control character 0x0";
    size_t ml = d == NULL ? strlen(msg) : 0;
    bool jansson_nul_quirk = d == NULL && j != NULL && ml >= sizeof(nul_found) - 1 &&
                             strcmp(msg + ml - (sizeof(nul_found) - 1), nul_found) == 0;
    if ((d == NULL) != (j == NULL) && !jansson_nul_quirk) {
        fuzzcheck_fail("jsondoc %s, jansson %s (%s)", d != NULL ? "accepts" : "refuses",
                       j != NULL ? "accepts" : "refuses", d != NULL ? err.text : msg);
    }
    if (d == NULL) {
        json_decref(j);
        if (!fuzzcheck_utf8(msg, strlen(msg)) || msg[0] == '\0') {
            fuzzcheck_fail("the message is empty or not UTF-8");
        }
        return 0;
    }
    same(d, jsondoc_root(d), j, 0);
    size_t n;
    char *text = jsondoc_dump(d, jsondoc_root(d), NULL, NULL, &n);
    if (text == NULL || strlen(text) != n) {
        fuzzcheck_fail("dump failed or holds a NUL");
    }
    struct jsondoc *back = jsondoc_parse(text, n, msg, sizeof(msg));
    if (back == NULL) {
        fuzzcheck_fail("the dump does not parse: %s", msg);
    }
    same(back, jsondoc_root(back), j, 0);
    jsondoc_free(back);
    free(text);
    json_decref(j);
    jsondoc_free(d);
    return 0;
}
