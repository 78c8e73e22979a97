/*
 * Unit tests of lib/jsonw, the one JSON writer: commas and nesting, every control character
 * escaped, and failures reported by jsonw_take rather than written as broken JSON. Each text
 * it writes is read back with lib/jsondoc.
 */
#include "testmain.h"

#include <stdlib.h>
#include <string.h>

#include "jsondoc.h"
#include "jsonw.h"

/* Takes w's text, asserts it equals expected and that jsondoc reads it. */
static void assert_text(struct jsonw *w, const char *expected)
{
    size_t len = 0;
    char *text = jsonw_take(w, &len);
    assert_non_null(text);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    char msg[200];
    struct jsondoc *doc = jsondoc_parse(text, len, msg, sizeof(msg));
    if (doc == NULL) {
        fail_msg("%s does not parse: %s", text, msg);
    }
    jsondoc_free(doc);
    free(text);
}

static void objects_arrays_and_commas(void **state)
{
    (void)state;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "ok");
    jsonw_bool(&w, true);
    jsonw_key(&w, "n");
    jsonw_int(&w, -42);
    jsonw_key(&w, "list");
    jsonw_array_begin(&w);
    jsonw_string(&w, "a");
    jsonw_null(&w);
    jsonw_object_begin(&w);
    jsonw_object_end(&w);
    jsonw_array_begin(&w);
    jsonw_array_end(&w);
    jsonw_json(&w, "{\"x\":1}", 7);
    jsonw_array_end(&w);
    jsonw_key(&w, "none");
    jsonw_string(&w, NULL);
    jsonw_object_end(&w);
    assert_text(&w, "{\"ok\":true,\"n\":-42,\"list\":[\"a\",null,{},[],{\"x\":1}],\"none\":null}");
}

static void every_control_character_is_escaped(void **state)
{
    (void)state;
    char all[40];
    for (int c = 1; c < 0x20; c++) {
        all[c - 1] = (char)c;
    }
    all[31] = '"';
    all[32] = '\\';
    all[33] = '\0';
    struct jsonw w;
    jsonw_init(&w);
    jsonw_array_begin(&w);
    jsonw_string(&w, all);
    jsonw_string(&w, "visitor\tone");
    jsonw_array_end(&w);
    size_t len;
    char *text = jsonw_take(&w, &len);
    assert_non_null(text);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] < 0x20) {
            fail_msg("raw control character 0x%02x at %zu of %s", text[i], i, text);
        }
    }
    assert_non_null(strstr(text, "\"\\u0001\\u0002"));
    assert_non_null(strstr(text, "\\b\\t\\n\\u000B\\f\\r"));
    assert_non_null(strstr(text, "\\u001F\\\"\\\\\""));
    assert_non_null(strstr(text, "\"visitor\\tone\""));
    /* And it reads back as the same bytes. */
    char msg[200];
    struct jsondoc *doc = jsondoc_parse(text, len, msg, sizeof(msg));
    assert_non_null(doc);
    const struct jsondoc_value *first = jsondoc_child(doc, jsondoc_root(doc));
    assert_string_equal(first->text, all);
    jsondoc_free(doc);
    free(text);
}

static void string_len_and_append(void **state)
{
    (void)state;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "k\"ey");
    jsonw_string_len(&w, "abcdef", 3);
    jsonw_object_end(&w);
    jsonw_append(&w, "\n", 1);
    size_t len;
    char *text = jsonw_take(&w, &len);
    assert_string_equal(text, "{\"k\\\"ey\":\"abc\"}\n");
    free(text);
    /* Taken: the writer is empty and usable again. */
    jsonw_array_begin(&w);
    jsonw_array_end(&w);
    assert_text(&w, "[]");
}

static void long_texts_grow_the_buffer(void **state)
{
    (void)state;
    char *big = testmain_repeat("x\n", 50000);
    struct jsonw w;
    jsonw_init(&w);
    jsonw_string(&w, big);
    size_t len;
    char *text = jsonw_take(&w, &len);
    assert_non_null(text);
    assert_int_equal(len, 50000 * 3 + 2);
    free(text);
    free(big);
}

static void misuse_fails_at_take(void **state)
{
    (void)state;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w); /* never closed */
    assert_null(jsonw_take(&w, NULL));
    jsonw_array_end(&w); /* nothing open */
    assert_null(jsonw_take(&w, NULL));
    jsonw_array_begin(&w);
    jsonw_key(&w, "k"); /* a key in an array */
    jsonw_array_end(&w);
    assert_null(jsonw_take(&w, NULL));
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) {
        jsonw_array_begin(&w);
    }
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) {
        jsonw_array_end(&w);
    }
    assert_null(jsonw_take(&w, NULL));
    jsonw_free(&w);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(objects_arrays_and_commas),
        cmocka_unit_test(every_control_character_is_escaped),
        cmocka_unit_test(string_len_and_append),
        cmocka_unit_test(long_texts_grow_the_buffer),
        cmocka_unit_test(misuse_fails_at_take),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
