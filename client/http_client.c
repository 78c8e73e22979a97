#include "http_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (64u << 20)

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(url, "https://", 8) == 0) {
        errf(err, errlen, "%s: https is not supported; use http:// (or a TLS proxy)", url);
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0) {
        errf(err, errlen, "%s: the URL must start with http://", url);
        return -1;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hostport = slash != NULL ? (size_t)(slash - h) : strlen(h);
    const char *hend = h + hostport;
    const char *colon = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', hostport);
        if (close == NULL) {
            errf(err, errlen, "%s: unclosed [ in the host", url);
            return -1;
        }
        if (close + 1 < hend && close[1] == ':') {
            colon = close + 1;
        }
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - h - 1), h + 1);
    } else {
        colon = memchr(h, ':', hostport);
        size_t hl = colon != NULL ? (size_t)(colon - h) : hostport;
        if (hl == 0 || hl >= sizeof(out->host)) {
            errf(err, errlen, "%s: no host", url);
            return -1;
        }
        snprintf(out->host, sizeof(out->host), "%.*s", (int)hl, h);
    }
    out->port = 80;
    if (colon != NULL) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != hend || p < 1 || p > 65535) {
            errf(err, errlen, "%s: bad port", url);
            return -1;
        }
        out->port = (int)p;
    }
    if (slash != NULL) {
        size_t pl = strlen(slash);
        while (pl > 0 && slash[pl - 1] == '/') {
            pl--;
        }
        if (pl >= sizeof(out->prefix)) {
            errf(err, errlen, "%s: path too long", url);
            return -1;
        }
        snprintf(out->prefix, sizeof(out->prefix), "%.*s", (int)pl, slash);
    }
    return 0;
}

int http_urlencode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (n + (keep ? 1 : 3) + 1 > outlen) {
            return -1;
        }
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
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

static int connect_to(const struct http_url *url, long long deadline, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", url->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(url->host, port, &hints, &ai);
    if (gai != 0) {
        errf(err, errlen, "resolve %s: %s", url->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            break;
        }
        if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr == 0) {
                break;
            }
            errno = soerr;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        errf(err, errlen, "connect to %s:%d: %s", url->host, url->port, strerror(saved));
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) < 0) {
                return -1;
            }
            continue;
        }
        return -1;
    }
    return 0;
}

/* Decodes a chunked body in place. Returns the decoded length, or -1. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long size = strtoul(body + in, &end, 16);
        char *crlf = strstr(end, "\r\n");
        if (end == body + in || crlf == NULL) {
            return -1;
        }
        in = (size_t)(crlf - body) + 2;
        if (size == 0) {
            return (long)out;
        }
        if (in + size > len) {
            return -1;
        }
        memmove(body + out, body + in, size);
        out += size;
        in += size + 2;
        if (in > len) {
            return -1;
        }
    }
}

int http_request(const struct http_url *url, const char *method, const char *path, const char *body,
                 const char *token, int timeout_ms, struct http_response *resp, char *err,
                 size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    long long deadline = now_ms() + timeout_ms;
    int fd = connect_to(url, deadline, err, errlen);
    if (fd < 0) {
        return -1;
    }
    int rc = -1;
    char *buf = NULL;
    size_t blen = body != NULL ? strlen(body) : 0;
    char head[2048];
    int hn = snprintf(head, sizeof(head),
                      "%s %s%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: touchline/%s\r\n"
                      "Accept: application/json\r\nConnection: close\r\n%s%s%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, url->prefix, path, url->host, url->port, TOUCHLINE_VERSION,
                      token != NULL ? "Authorization: Bearer " : "", token != NULL ? token : "",
                      token != NULL ? "\r\n" : "", blen);
    if (hn < 0 || (size_t)hn >= sizeof(head)) {
        errf(err, errlen, "request too long");
        goto out;
    }
    if (send_all(fd, head, (size_t)hn, deadline) < 0 ||
        (blen > 0 && send_all(fd, body, blen, deadline) < 0)) {
        errf(err, errlen, "send to %s:%d: %s", url->host, url->port, strerror(errno));
        goto out;
    }
    size_t cap = 16384, n = 0;
    buf = malloc(cap);
    if (buf == NULL) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        if (n + 4096 > cap) {
            if (cap >= MAX_BODY) {
                errf(err, errlen, "response larger than %u bytes", MAX_BODY);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                errf(err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r > 0) {
            n += (size_t)r;
            continue;
        }
        if (r == 0) {
            break;
        }
        if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline) < 0) {
                errf(err, errlen, "read from %s:%d: %s", url->host, url->port, strerror(errno));
                goto out;
            }
            continue;
        }
        errf(err, errlen, "read from %s:%d: %s", url->host, url->port, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    int status;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        errf(err, errlen, "%s:%d did not answer HTTP", url->host, url->port);
        goto out;
    }
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL) {
        errf(err, errlen, "truncated response from %s:%d", url->host, url->port);
        goto out;
    }
    *sep = '\0';
    char *b = sep + 4;
    size_t bl = n - (size_t)(b - buf);
    int chunked = 0;
    for (char *line = strstr(buf, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Transfer-Encoding:", 18) == 0 &&
            strstr(line + 20, "chunked") != NULL) {
            chunked = 1;
        }
    }
    if (chunked) {
        long dl = dechunk(b, bl);
        if (dl < 0) {
            errf(err, errlen, "bad chunked response from %s:%d", url->host, url->port);
            goto out;
        }
        bl = (size_t)dl;
    }
    resp->body = malloc(bl + 1);
    if (resp->body == NULL) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(resp->body, b, bl);
    resp->body[bl] = '\0';
    resp->len = bl;
    resp->status = status;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

void http_response_free(struct http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}
