#include "netconn.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errmsg.h"

long long netconn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int netconn_wait(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - netconn_now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (r > 0) {
            return 0;
        }
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

/* Connects fd to addr before deadline. Returns 0, or -1 with errno. */
static int connect_one(int fd, const struct addrinfo *a, long long deadline)
{
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS || netconn_wait(fd, POLLOUT, deadline) < 0) {
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
        return -1;
    }
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

int netconn_open(const char *host, int port, long long deadline, int *fd, char *err, size_t errlen)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        errmsg_set(err, errlen, "resolve %s: %s", host,
                   gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return NETCONN_ERESOLVE;
    }
    int last = ECONNREFUSED;
    *fd = -1;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            last = errno;
            continue;
        }
        if (connect_one(s, a, deadline) == 0) {
            *fd = s;
            break;
        }
        last = errno;
        close(s);
        if (last == ETIMEDOUT) {
            /* The deadline is spent; the other addresses would fail at once. */
            break;
        }
    }
    freeaddrinfo(ai);
    if (*fd < 0) {
        errno = last;
        return NETCONN_ECONNECT;
    }
    return 0;
}
