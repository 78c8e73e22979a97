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
