/*
 * Unit tests of daemon/notify: messages reach a datagram socket named by NOTIFY_SOCKET, as a
 * path or as an @abstract name; nothing happens without NOTIFY_SOCKET; names that cannot be
 * a unix socket address and sockets nobody listens on are errors, not crashes.
 */
#include "testmain.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static int teardown(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

/* The next datagram on fd as a string, or fails after a second. */
static void receive(int fd, char *buf, size_t len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    ssize_t n = recv(fd, buf, len - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
}

static void path_socket_gets_the_message(void **state)
{
    (void)state;
    char path[108];
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof(path), "%s/tl-notify-unit-%d.sock", tmp, (int)getpid());
    int fd = testmain_notify_listen(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(notify_enabled());
    assert_int_equal(notify_send("READY=1\nSTATUS=serving: tcp port %d", 5170), 1);
    char buf[512];
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=serving: tcp port 5170");
    assert_int_equal(notify_reloading(), 1);
    receive(fd, buf, sizeof(buf));
    /* MONOTONIC_USEC is the time of CLOCK_MONOTONIC, which is never 0 on a running system. */
    unsigned long long usec = 0;
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec > 0);
    close(fd);
    unlink(path);
}

static void abstract_socket_gets_the_message(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@touchline-notify-unit-%d", (int)getpid());
    int fd = testmain_notify_listen(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(notify_send("STOPPING=1"), 1);
    char buf[64];
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1");
    close(fd);
}

static void unset_or_empty_sends_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_false(notify_enabled());
    assert_int_equal(notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_false(notify_enabled());
    assert_int_equal(notify_send("READY=1"), 0);
}

static void bad_names_and_absent_listeners_fail(void **state)
{
    (void)state;
    /* Relative paths, a bare "@" and names too long for sun_path cannot be addresses. */
    setenv("NOTIFY_SOCKET", "relative/notify.sock", 1);
    assert_int_equal(notify_send("READY=1"), -1);
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_int_equal(notify_send("READY=1"), -1);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(notify_send("READY=1"), -1);
    /* A well-formed name nobody listens on. */
    setenv("NOTIFY_SOCKET", "/nonexistent-touchline-dir/notify.sock", 1);
    assert_int_equal(notify_send("READY=1"), -1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(path_socket_gets_the_message, NULL, teardown),
        cmocka_unit_test_setup_teardown(abstract_socket_gets_the_message, NULL, teardown),
        cmocka_unit_test_setup_teardown(unset_or_empty_sends_nothing, NULL, teardown),
        cmocka_unit_test_setup_teardown(bad_names_and_absent_listeners_fail, NULL, teardown),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
