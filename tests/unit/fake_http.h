/*
 * A tiny HTTP server on 127.0.0.1 for the client's unit tests: a thread accepts connections one
 * after another, keeps the bytes of each request (head and Content-Length body) and answers
 * each with the next canned answer, written as it is, then closes. It lets the tests check
 * what the client sends and how it reads Content-Length, chunked and read-until-close bodies,
 * without the daemon. Header-only (static functions) so that a test_*.c includes it without a
 * build change.
 */
#ifndef TOUCHLINE_FAKE_HTTP_H
#define TOUCHLINE_FAKE_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_HTTP_MAX 8

struct fake_http {
    int fd;
    int port;
    pthread_t thread;
    const char *answers[FAKE_HTTP_MAX]; /* borrowed; NULL: close without answering */
    size_t n;
    int delay_ms; /* wait this long before answering, so that the client times out */
    char *requests[FAKE_HTTP_MAX];
    size_t served;
};

static inline char *fake_http_read_request(int fd)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        return NULL;
    }
    size_t want = 0; /* total bytes, once the head is in */
    for (;;) {
        if (want > 0 && n >= want) {
            break;
        }
        if (n == cap) {
            break;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
        buf[n] = '\0';
        char *end = want == 0 ? strstr(buf, "\r\n\r\n") : NULL;
        if (end != NULL) {
            size_t body = 0;
            for (char *p = buf; p < end; p++) {
                if (strncasecmp(p, "\r\nContent-Length:", 17) == 0) {
                    body = strtoul(p + 17, NULL, 10);
                }
            }
            want = (size_t)(end + 4 - buf) + body;
        }
    }
    buf[n] = '\0';
    return buf;
}

static inline void *fake_http_run(void *arg)
{
    struct fake_http *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0) {
            break;
        }
        int c = accept(f->fd, NULL, NULL);
        if (c < 0) {
            break;
        }
        f->requests[i] = fake_http_read_request(c);
        if (f->delay_ms > 0) {
            struct timespec ts = {f->delay_ms / 1000, (long)(f->delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        const char *a = f->answers[i];
        size_t len = a != NULL ? strlen(a) : 0, off = 0;
        while (off < len) {
            ssize_t w = send(c, a + off, len - off, MSG_NOSIGNAL);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        shutdown(c, SHUT_WR);
        close(c);
        f->served = i + 1;
    }
    return NULL;
}

/* Listens on 127.0.0.1 (f->port) and answers the next n connections with answers, in order.
 * Returns 0, or -1. */
static inline int fake_http_start(struct fake_http *f, const char *const *answers, size_t n,
                                  int delay_ms)
{
    memset(f, 0, sizeof(*f));
    if (n > FAKE_HTTP_MAX) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        f->answers[i] = answers[i];
    }
    f->n = n;
    f->delay_ms = delay_ms;
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->fd, 8) < 0 ||
        getsockname(f->fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(f->fd);
        return -1;
    }
    f->port = ntohs(sa.sin_port);
    if (pthread_create(&f->thread, NULL, fake_http_run, f) != 0) {
        close(f->fd);
        return -1;
    }
    return 0;
}

/* Waits for the server to have answered (or given up), and closes it. The requests stay. */
static inline void fake_http_stop(struct fake_http *f)
{
    pthread_join(f->thread, NULL);
    close(f->fd);
}

static inline void fake_http_free(struct fake_http *f)
{
    for (size_t i = 0; i < FAKE_HTTP_MAX; i++) {
        free(f->requests[i]);
        f->requests[i] = NULL;
    }
}

/* A port nothing listens on: bound, then closed. Returns it, or -1. */
static inline int fake_http_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

#endif
