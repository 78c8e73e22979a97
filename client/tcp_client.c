#include "tcp_client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"
#include "netconn.h"
#include "tlsconn.h"

/* Queued bytes above which tcp_client_send drives the socket until they drop below LOW. */
#define QUEUE_HIGH ((size_t)256 * 1024)
#define QUEUE_LOW  ((size_t)64 * 1024)

struct tcp_client {
    int fd;
    struct tlsconn *tls; /* tls://: the socket's TLS, else NULL */
    int timeout_ms;
    char where[300]; /* host:port, [v6]:port: who to name in messages */
    tcp_client_answer_fn fn;
    void *arg;
    size_t sent;        /* lines queued */
    size_t answered;    /* answers handed to fn */
    bool shut;          /* our side is half-closed */
    bool write_dead;    /* the daemon stopped taking bytes (EPIPE, reset): read what is left */
    bool eof;           /* the daemon closed its side */
    int write_errno;    /* why write_dead */
    long long moved_ms; /* when bytes last moved, or the first line went out after a pause */
    char *out;
    size_t out_start, out_end, out_cap; /* unsent bytes are out[out_start..out_end) */
    char *in;
    size_t in_len, in_cap; /* bytes of an answer line not yet complete */
};

int tcp_client_parse_addr(const char *addr, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen)
{
    const char *h = addr, *hend, *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL) {
            errmsg_set(err, errlen, "%s: '[' without ']' around the IPv6 address", addr);
            return TCP_CLIENT_EADDR;
        }
        h = addr + 1;
        hend = close;
        if (close[1] != ':') {
            errmsg_set(err, errlen, "%s: expected [address]:port", addr);
            return TCP_CLIENT_EADDR;
        }
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            errmsg_set(err, errlen, "%s: expected host:port", addr);
            return TCP_CLIENT_EADDR;
        }
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
            errmsg_set(err, errlen, "%s: write an IPv6 address in brackets, [::1]:5170", addr);
            return TCP_CLIENT_EADDR;
        }
        hend = colon;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= hostlen) {
        errmsg_set(err, errlen, "%s: %s", addr, hl == 0 ? "no host" : "host name too long");
        return TCP_CLIENT_EADDR;
    }
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= 0x20 || ch == 0x7F) {
            errmsg_set(err, errlen, "%s: not a host name", addr);
            return TCP_CLIENT_EADDR;
        }
    }
    long p = 0;
    const char *s = colon + 1;
    if (*s == '\0') {
        errmsg_set(err, errlen, "%s: no port after ':'", addr);
        return TCP_CLIENT_EADDR;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || p > 65535) {
            break;
        }
        p = p * 10 + (*s - '0');
    }
    if (*s != '\0' || p < 1 || p > 65535) {
        errmsg_set(err, errlen, "%s: the port must be a number from 1 to 65535", addr);
        return TCP_CLIENT_EADDR;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* Reports a failed step ("read from 127.0.0.1:5170: ...") for errno e. Returns the code. */
static int fail(const struct tcp_client *c, const char *what, int e, char *err, size_t errlen)
{
    errmsg_set(err, errlen, "%s %s: %s", what, c->where, strerror(e));
    return TCP_CLIENT_EIO;
}

int tcp_client_connect(const char *addr, const char *cacert, int timeout_ms,
                       tcp_client_answer_fn fn, void *arg, struct tcp_client **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    char host[256];
    int port;
    bool tls = strncmp(addr, "tls://", 6) == 0;
    int rc = tcp_client_parse_addr(tls ? addr + 6 : addr, host, sizeof(host), &port, err, errlen);
    if (rc < 0) {
        return rc;
    }
    struct tcp_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return TCP_CLIENT_ENOMEM;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : TCP_CLIENT_TIMEOUT_MS;
    c->fn = fn;
    c->arg = arg;
    snprintf(c->where, sizeof(c->where), strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host,
             port);

    switch (netconn_open(host, port, netconn_now_ms() + c->timeout_ms, &c->fd, err, errlen)) {
    case 0:
        break;
    case NETCONN_ERESOLVE:
        rc = TCP_CLIENT_ERESOLVE;
        goto out;
    default:
        if (errno == ETIMEDOUT) {
            errmsg_set(err, errlen, "connect to %s: no answer within %d ms", c->where,
                       c->timeout_ms);
            rc = TCP_CLIENT_ETIMEOUT;
        } else {
            errmsg_set(err, errlen, "connect to %s: %s", c->where, strerror(errno));
            rc = TCP_CLIENT_ECONNECT;
        }
        goto out;
    }
    if (tls) {
        c->tls = tlsconn_start(c->fd, host, cacert, netconn_now_ms() + c->timeout_ms, err, errlen);
        if (c->tls == NULL) {
            rc = TCP_CLIENT_ECONNECT;
            goto out;
        }
        /* Nothing to half-close under TLS: the answers are counted instead. */
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    tcp_client_free(c);
    return rc;
}

/* Hands every complete line in c->in to the callback and keeps the incomplete rest. */
static int deliver(struct tcp_client *c, char *err, size_t errlen)
{
    size_t start = 0;
    int rc = 0;
    for (;;) {
        char *line = c->in + start;
        char *nl = memchr(line, '\n', c->in_len - start);
        if (nl == NULL) {
            break;
        }
        size_t len = (size_t)(nl - line);
        start += len + 1;
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        line[len] = '\0';
        if (c->answered >= c->sent) {
            errmsg_set(err, errlen, "%s answered more lines than were sent", c->where);
            rc = TCP_CLIENT_EPROTOCOL;
            break;
        }
        c->answered++;
        rc = c->fn(line, len, c->answered, c->arg);
        if (rc < 0) {
            break;
        }
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (rc == 0 && c->in_len > TCP_CLIENT_MAX_ANSWER) {
        errmsg_set(err, errlen, "%s sent an answer longer than %d bytes", c->where,
                   TCP_CLIENT_MAX_ANSWER);
        rc = TCP_CLIENT_EPROTOCOL;
    }
    return rc;
}

/* Reads what the socket holds and delivers the complete answers. */
static int read_some(struct tcp_client *c, char *err, size_t errlen)
{
    if (c->in_cap - c->in_len < 4096) {
        size_t cap = c->in_cap == 0 ? 16384 : c->in_cap * 2;
        char *p = realloc(c->in, cap);
        if (p == NULL) {
            errmsg_set(err, errlen, "out of memory");
            return TCP_CLIENT_ENOMEM;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t r = c->tls != NULL ? tlsconn_read_now(c->tls, c->in + c->in_len, c->in_cap - c->in_len)
                               : recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        if (errno == ECONNRESET) {
            c->eof = true;
            return 0;
        }
        return fail(c, "read from", errno, err, errlen);
    }
    if (r == 0) {
        c->eof = true;
        return 0;
    }
    c->in_len += (size_t)r;
    c->moved_ms = netconn_now_ms();
    int rc = deliver(c, err, errlen);
    /* TLS may hold decrypted bytes the socket no longer signals: take them now. */
    if (rc == 0 && c->tls != NULL && tlsconn_pending(c->tls) > 0) {
        return read_some(c, err, errlen);
    }
    return rc;
}

static int write_some(struct tcp_client *c, char *err, size_t errlen)
{
    ssize_t w = c->tls != NULL
                    ? tlsconn_write_now(c->tls, c->out + c->out_start, c->out_end - c->out_start)
                    : send(c->fd, c->out + c->out_start, c->out_end - c->out_start,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        if (errno == EPIPE || errno == ECONNRESET) {
            /* The daemon closed (after "unauthorized", or stopping): its answers to what it
             * did read may still be waiting, and they say why. */
            c->write_dead = true;
            c->write_errno = errno;
            return 0;
        }
        return fail(c, "write to", errno, err, errlen);
    }
    c->out_start += (size_t)w;
    c->moved_ms = netconn_now_ms();
    if (c->out_start == c->out_end) {
        c->out_start = c->out_end = 0;
    }
    return 0;
}

/*
 * Moves bytes both ways until at most low bytes wait to be sent and, when all is set, every
 * line has its answer; with shut, our side is half-closed once nothing waits to be sent.
 * deadline_ms < 0: waits as long as bytes keep moving. Otherwise returns 0 at deadline_ms (a
 * netconn_now_ms time) too, unless nothing moved for timeout_ms while answers were owed.
 * Returns 0 or a negative code with err set.
 */
static int drive(struct tcp_client *c, size_t low, bool all, bool shut, long long deadline_ms,
                 char *err, size_t errlen)
{
    unsigned passes = 0;
    for (;;) {
        size_t queued = c->write_dead ? 0 : c->out_end - c->out_start;
        if (all && shut && queued == 0 && !c->shut && !c->write_dead && c->tls == NULL) {
            /* Tells the daemon no more lines come; it answers what it has, then closes. */
            if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
                return fail(c, "shut down the connection to", errno, err, errlen);
            }
            c->shut = true;
        }
        bool done = queued <= low && (!all || c->answered == c->sent);
        if (done) {
            return 0;
        }
        if (c->eof) {
            if (c->write_dead) {
                errmsg_set(err, errlen,
                           "%s closed the connection after %zu of %zu answers (write: %s)",
                           c->where, c->answered, c->sent, strerror(c->write_errno));
            } else {
                errmsg_set(err, errlen, "%s closed the connection after %zu of %zu answers",
                           c->where, c->answered, c->sent);
            }
            return TCP_CLIENT_ECLOSED;
        }
        int wait = c->timeout_ms;
        long long now = netconn_now_ms();
        if (deadline_ms >= 0) {
            if (now - c->moved_ms >= c->timeout_ms) {
                errmsg_set(err, errlen, "%s: no answer within %d ms (%zu of %zu lines answered)",
                           c->where, c->timeout_ms, c->answered, c->sent);
                return TCP_CLIENT_ETIMEOUT;
            }
            if (now >= deadline_ms && passes > 0) {
                return 0;
            }
            /* At least one pass over the socket, without waiting once the time is up. */
            long long left = deadline_ms > now ? deadline_ms - now : 0;
            wait = left < wait ? (int)left : wait;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (queued > 0) {
            p.events |= POLLOUT;
        }
        int r = poll(&p, 1, wait);
        passes++;
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(c, "wait for", errno, err, errlen);
        }
        if (r == 0) {
            if (deadline_ms >= 0) {
                continue; /* the checks above decide */
            }
            errmsg_set(err, errlen, "%s: no answer within %d ms (%zu of %zu lines answered)",
                       c->where, c->timeout_ms, c->answered, c->sent);
            return TCP_CLIENT_ETIMEOUT;
        }
        int rc;
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            (rc = read_some(c, err, errlen)) < 0) {
            return rc;
        }
        if ((p.revents & (POLLOUT | POLLERR)) != 0 && queued > 0 && !c->write_dead &&
            (rc = write_some(c, err, errlen)) < 0) {
            return rc;
        }
    }
}

int tcp_client_send(struct tcp_client *c, const char *line, size_t len, char *err, size_t errlen)
{
    if (memchr(line, '\n', len) != NULL) {
        errmsg_set(err, errlen, "a line to send holds a line break");
        return TCP_CLIENT_EADDR;
    }
    if (c->write_dead || c->eof) {
        /* The daemon is gone: read the answers it left, which say why, rather than queue
         * lines that can never leave. */
        int rc = drive(c, 0, true, true, -1, err, errlen);
        if (rc == 0) {
            errmsg_set(err, errlen, "%s closed the connection after %zu answers", c->where,
                       c->answered);
            rc = TCP_CLIENT_ECLOSED;
        }
        return rc;
    }
    if (c->out_cap - c->out_end < len + 1) {
        /* Unsent bytes move to the front before the buffer grows. */
        if (c->out_start > 0) {
            memmove(c->out, c->out + c->out_start, c->out_end - c->out_start);
            c->out_end -= c->out_start;
            c->out_start = 0;
        }
        if (c->out_cap - c->out_end < len + 1) {
            if (len > SIZE_MAX / 2 - c->out_end) {
                errmsg_set(err, errlen, "out of memory");
                return TCP_CLIENT_ENOMEM;
            }
            size_t cap = c->out_cap == 0 ? 65536 : c->out_cap;
            while (cap - c->out_end < len + 1) {
                cap *= 2;
            }
            char *p = realloc(c->out, cap);
            if (p == NULL) {
                errmsg_set(err, errlen, "out of memory");
                return TCP_CLIENT_ENOMEM;
            }
            c->out = p;
            c->out_cap = cap;
        }
    }
    if (c->answered == c->sent && c->out_end == c->out_start) {
        /* An answer is owed from now on: the silence before does not count against it. */
        c->moved_ms = netconn_now_ms();
    }
    memcpy(c->out + c->out_end, line, len);
    c->out[c->out_end + len] = '\n';
    c->out_end += len + 1;
    c->sent++;
    if (c->out_end - c->out_start > QUEUE_HIGH) {
        return drive(c, QUEUE_LOW, false, false, -1, err, errlen);
    }
    return 0;
}

int tcp_client_finish(struct tcp_client *c, char *err, size_t errlen)
{
    return drive(c, 0, true, true, -1, err, errlen);
}

int tcp_client_flush(struct tcp_client *c, int wait_ms, char *err, size_t errlen)
{
    return drive(c, 0, true, false, netconn_now_ms() + (wait_ms > 0 ? wait_ms : 0), err, errlen);
}

int tcp_client_fd(const struct tcp_client *c)
{
    return c->fd;
}

size_t tcp_client_sent(const struct tcp_client *c)
{
    return c->sent;
}

size_t tcp_client_answered(const struct tcp_client *c)
{
    return c->answered;
}

void tcp_client_free(struct tcp_client *c)
{
    if (c == NULL) {
        return;
    }
    tlsconn_free(c->tls);
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->out);
    free(c->in);
    free(c);
}
