/*
 * The pipelined line client (client/tcp_client.c) against a small server in a thread: tens of
 * thousands of lines through tiny socket buffers to a server that blocks writing its answers
 * (a client that only wrote, reading answers at the end, would deadlock here), answers
 * numbered in order, a server that closes early, and unusable addresses.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_client.h"
#include "testmain.h"

struct server {
    int lfd;
    int port;
    size_t lines;       /* lines read */
    size_t close_after; /* close after answering this many lines; 0: at EOF */
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Answers each line with its number and some padding, with blocking writes. */
static void *serve(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    char buf[4096], pad[201];
    memset(pad, 'x', 200);
    pad[200] = '\0';
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0) {
            break;
        }
        have += (size_t)r;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
            s->lines++;
            char ans[512];
            int n = snprintf(ans, sizeof(ans), "{\"n\":%zu,\"pad\":\"%s\"}\n", s->lines, pad);
            if (write_all(fd, ans, (size_t)n) < 0) {
                close(fd);
                return NULL;
            }
            if (s->close_after > 0 && s->lines == s->close_after) {
                /* As the daemon closes: its side first, then what the client still sends is
                 * read and dropped, so that no reset destroys answers not yet read. */
                shutdown(fd, SHUT_WR);
                while (read(fd, buf, sizeof(buf)) > 0) {
                }
                close(fd);
                return NULL;
            }
            start = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    close(fd);
    return NULL;
}

/* Listens on a free port with small buffers, which the accepted socket inherits. */
static void server_start(struct server *s, pthread_t *t)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    int small = 4096;
    assert_int_equal(setsockopt(s->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    assert_int_equal(setsockopt(s->lfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(listen(s->lfd, 4), 0);
    assert_int_equal(pthread_create(t, NULL, serve, s), 0);
}

struct seen {
    size_t answers;
    size_t out_of_order;
};

static int on_answer(const char *line, size_t len, size_t lineno, void *arg)
{
    struct seen *seen = arg;
    size_t n = 0;
    if (sscanf(line, "{\"n\":%zu,", &n) != 1 || n != lineno || strlen(line) != len) {
        seen->out_of_order++;
    }
    seen->answers++;
    return 0;
}

static void pipelines_through_small_buffers(void **state)
{
    (void)state;
    struct server s = {0};
    pthread_t t;
    server_start(&s, &t);
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    struct seen seen = {0};
    struct tcp_client *c = NULL;
    /* A stall of 5 s fails the test rather than hanging it. */
    assert_int_equal(tcp_client_connect(addr, NULL, 5000, on_answer, &seen, &c, err, sizeof(err)),
                     0);
    enum { LINES = 20000 };
    char line[400];
    memset(line, 'y', sizeof(line));
    for (size_t i = 0; i < LINES; i++) {
        int rc = tcp_client_send(c, line, sizeof(line), err, sizeof(err));
        if (rc != 0) {
            fail_msg("line %zu: %s", i + 1, err);
        }
    }
    if (tcp_client_finish(c, err, sizeof(err)) != 0) {
        fail_msg("finish: %s", err);
    }
    /* 8 MB went out while at most a few KB fit in the server's buffers: answers were read
     * on the way, in order. */
    assert_int_equal(tcp_client_sent(c), LINES);
    assert_int_equal(tcp_client_answered(c), LINES);
    assert_int_equal(seen.answers, LINES);
    assert_int_equal(seen.out_of_order, 0);
    tcp_client_free(c);
    pthread_join(t, NULL);
    assert_int_equal(s.lines, LINES);
    close(s.lfd);
}

static void server_closing_early_is_reported(void **state)
{
    (void)state;
    struct server s = {.close_after = 3};
    pthread_t t;
    server_start(&s, &t);
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    struct seen seen = {0};
    struct tcp_client *c = NULL;
    assert_int_equal(tcp_client_connect(addr, NULL, 5000, on_answer, &seen, &c, err, sizeof(err)),
                     0);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        rc = tcp_client_send(c, "{}", 2, err, sizeof(err));
    }
    if (rc == 0) {
        rc = tcp_client_finish(c, err, sizeof(err));
    }
    assert_int_equal(rc, TCP_CLIENT_ECLOSED);
    if (strstr(err, "closed the connection after 3 of 10 answers") == NULL) {
        fail_msg("unexpected message: %s", err);
    }
    /* The answers it did send were all delivered. */
    assert_int_equal(seen.answers, 3);
    tcp_client_free(c);
    pthread_join(t, NULL);
    close(s.lfd);
}

static void unusable_addresses(void **state)
{
    (void)state;
    char host[64], err[256];
    int port;
    static const char *const bad[] = {"localhost", "localhost:", ":5170",
                                      "host:0",    "host:65536", "host:51x",
                                      "::1:5170",  "[::1]5170",  "[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tcp_client_parse_addr(bad[i], host, sizeof(host), &port, err, sizeof(err)) !=
            TCP_CLIENT_EADDR) {
            fail_msg("%s was accepted", bad[i]);
        }
        assert_non_null(strstr(err, bad[i]));
    }
    assert_int_equal(
        tcp_client_parse_addr("[::1]:5170", host, sizeof(host), &port, err, sizeof(err)), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 5170);
    assert_int_equal(
        tcp_client_parse_addr("db.example.com:80", host, sizeof(host), &port, err, sizeof(err)), 0);
    assert_string_equal(host, "db.example.com");
    assert_int_equal(port, 80);

    /* Nobody listening on a port just released. */
    struct server s = {0};
    s.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&sa, &sl), 0);
    close(s.lfd);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    struct tcp_client *c = NULL;
    assert_int_equal(tcp_client_connect(addr, NULL, 2000, on_answer, NULL, &c, err, sizeof(err)),
                     TCP_CLIENT_ECONNECT);
    assert_null(c);
    assert_non_null(strstr(err, "connect to 127.0.0.1:"));
    assert_non_null(strstr(err, "refused"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelines_through_small_buffers),
        cmocka_unit_test(server_closing_early_is_reported),
        cmocka_unit_test(unusable_addresses),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
