#include "testmain.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void testmain_list(int argc, char **argv, const struct CMUnitTest *tests, size_t n)
{
    if (argc != 2 || strcmp(argv[1], "--list") != 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", tests[i].name);
    }
    exit(fflush(stdout) == 0 ? 0 : 1);
}

void testmain_filter(int argc, char **argv)
{
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
}

char *testmain_repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * ul, unit, ul);
    }
    s[ul * n] = '\0';
    return s;
}

char *testmain_read_stream(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

char *testmain_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = testmain_read_stream(f, len);
    fclose(f);
    return buf;
}

char *testmain_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("TOUCHLINE_TEST_FIXTURES");
    assert_non_null(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *buf = testmain_read_file(path, len);
    if (buf == NULL) {
        fail_msg("cannot read fixture %s", path);
    }
    return buf;
}

int testmain_notify_listen(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
        salen--;
    } else {
        unlink(name);
    }
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
        fail_msg("bind %s: %s", name, strerror(errno));
    }
    return fd;
}

/* Copies line number `line` (1-based) of s (n bytes) into out, for a message. */
static void nth_line(const char *s, size_t n, size_t line, char *out, size_t outlen)
{
    size_t i = 0;
    for (size_t l = 1; l < line && i < n; i++) {
        l += s[i] == '\n';
    }
    size_t end = i;
    while (end < n && s[end] != '\n') {
        end++;
    }
    snprintf(out, outlen, "%.*s%s", (int)(end - i), s + i, end < n ? "" : "<end of output>");
}

char *testmain_golden_path(const char *name)
{
    const char *dir = getenv("TOUCHLINE_TEST_FIXTURES");
    if (dir == NULL) {
        fail_msg("TOUCHLINE_TEST_FIXTURES is not set (ctest sets it to tests/fixtures)");
    }
    size_t n = strlen(dir) + strlen(name) + sizeof("/golden/");
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/golden/%s", dir, name);
    return p;
}

void testmain_expect_golden(const char *name, const char *got, size_t len)
{
    char *path = testmain_golden_path(name);
    if (getenv("TOUCHLINE_UPDATE_GOLDEN") != NULL) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(got, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        print_message("rewrote %s\n", path);
        free(path);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open golden file %s", path);
    }
    char *want = NULL;
    size_t wlen = 0;
    FILE *m = open_memstream(&want, &wlen);
    assert_non_null(m);
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fwrite(chunk, 1, r, m);
    }
    fclose(f);
    assert_int_equal(fclose(m), 0);
    size_t i = 0;
    while (i < len && i < wlen && got[i] == want[i]) {
        i++;
    }
    if (i < len || i < wlen) {
        size_t line = 1;
        for (size_t k = 0; k < i; k++) {
            line += got[k] == '\n';
        }
        char cwd[512], actual[1024];
        snprintf(actual, sizeof(actual), "%s/%s.actual",
                 getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".", name);
        FILE *a = fopen(actual, "wb");
        if (a != NULL) {
            fwrite(got, 1, len, a);
            fclose(a);
        }
        char wl[1024], gl[1024];
        nth_line(want, wlen, line, wl, sizeof(wl));
        nth_line(got, len, line, gl, sizeof(gl));
        fail_msg("output differs from %s at line %zu (byte %zu of %zu, expected %zu bytes):\n"
                 "  expected: %s\n"
                 "  got:      %s\n"
                 "what was got is in %s: diff -u %s %s",
                 path, line, i, len, wlen, wl, gl, actual, path, actual);
    }
    free(want);
    free(path);
}
