#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Longest message we send: a few short KEY=VALUE lines. */
#define NOTIFY_MAX_MESSAGE 1024

bool notify_enabled(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    return path != NULL && path[0] != '\0';
}

/*
 * Fills sa from NOTIFY_SOCKET's value. Returns the address length, or -1 for a name that is
 * neither an absolute path nor an abstract one, or too long for a unix socket address.
 */
static int notify_address(const char *name, struct sockaddr_un *sa)
{
    size_t len = strlen(name);
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof(sa->sun_path)) {
        return -1;
    }
    memcpy(sa->sun_path, name, len);
    /* An abstract name is the path with a NUL for the '@'; its length counts exactly its
     * bytes, with no terminating NUL, or the manager would not recognize it. */
    if (name[0] == '@') {
        sa->sun_path[0] = '\0';
        return (int)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    if (len == sizeof(sa->sun_path)) {
        return -1; /* no room left for the terminating NUL of a path */
    }
    return (int)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* Length of msg's first line: log lines stay one line, and it names the message well. */
static int first_line(const char *msg)
{
    return (int)strcspn(msg, "\n");
}

int notify_send(const char *fmt, ...)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    char msg[NOTIFY_MAX_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(msg)) {
        log_warn("service manager notification too long, not sent: %.*s", first_line(msg), msg);
        return -1;
    }
    struct sockaddr_un sa;
    int salen = notify_address(name, &sa);
    if (salen < 0) {
        log_warn("NOTIFY_SOCKET=%s is neither an absolute path nor an @abstract name that fits a "
                 "unix socket address; the service manager is not told %.*s",
                 name, first_line(msg), msg);
        return -1;
    }
    int rc = -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("cannot tell the service manager (%s): socket: %s", name, strerror(errno));
        goto out;
    }
    ssize_t sent;
    do {
        sent = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
                      (socklen_t)salen);
    } while (sent < 0 && errno == EINTR);
    if (sent != n) {
        log_warn("cannot tell the service manager %.*s at %s: %s", first_line(msg), msg, name,
                 sent < 0 ? strerror(errno) : "short write");
        goto out;
    }
    log_debug("told the service manager %.*s", first_line(msg), msg);
    rc = 1;
out:
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

int notify_reloading(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) < 0) {
        return notify_send("RELOADING=1");
    }
    unsigned long long usec =
        (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000ULL;
    return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}
