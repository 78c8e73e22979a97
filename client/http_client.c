#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"
#include "netconn.h"
#include "tlsconn.h"

/* Limits on what the server sends before the body: one header line, all of them. */
#define MAX_HEADER_LINE 8192
#define MAX_HEADERS     65536
/* The request head: method, prefix and path, host, version, the Authorization line (three
 * parts, all empty without a token), the body's headers. */
#define REQUEST_HEAD                                                                               \
    "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: touchline/%s\r\n"                                 \
    "Accept: application/json\r\nConnection: close\r\n%s%s%s%s\r\n"
/* Interim 1xx answers skipped before the real one; the daemon sends none. */
#define MAX_INTERIM 8

/* True when s holds a byte that cannot go into a request line or header as it is. */
static bool has_ctl_or_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F) {
            return true;
        }
    }
    return false;
}

int http_client_url_parse(const char *url, struct http_client_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->tls = strncasecmp(url, "https://", 8) == 0;
    if (!out->tls && strncasecmp(url, "http://", 7) != 0) {
        errmsg_set(err, errlen, "%s: the URL must start with http:// or https://", url);
        return HTTP_CLIENT_EURL;
    }
    if (strpbrk(url, "?#") != NULL) {
        errmsg_set(err, errlen, "%s: a query or fragment has no place in the API's URL", url);
        return HTTP_CLIENT_EURL;
    }
    const char *auth = url + (out->tls ? 8 : 7);
    size_t alen = strcspn(auth, "/");
    const char *aend = auth + alen;
    if (memchr(auth, '@', alen) != NULL) {
        errmsg_set(err, errlen, "%s: user names in the URL are not supported; use --token", url);
        return HTTP_CLIENT_EURL;
    }
    const char *host = auth, *hend, *colon = NULL;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL) {
            errmsg_set(err, errlen, "%s: '[' without ']' around the IPv6 address", url);
            return HTTP_CLIENT_EURL;
        }
        host = auth + 1;
        hend = close;
        if (close + 1 < aend) {
            if (close[1] != ':') {
                errmsg_set(err, errlen, "%s: unexpected text after the IPv6 address", url);
                return HTTP_CLIENT_EURL;
            }
            colon = close + 1;
        }
    } else {
        colon = memchr(auth, ':', alen);
        hend = colon != NULL ? colon : aend;
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0) {
        errmsg_set(err, errlen, "%s: no host", url);
        return HTTP_CLIENT_EURL;
    }
    if (hlen >= sizeof(out->host) || has_ctl_or_space(host, hlen)) {
        errmsg_set(err, errlen, "%s: not a host name", url);
        return HTTP_CLIENT_EURL;
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = out->tls ? 443 : 80;
    if (colon != NULL) {
        long port = 0;
        const char *p = colon + 1;
        if (p == aend) {
            errmsg_set(err, errlen, "%s: no port after ':'", url);
            return HTTP_CLIENT_EURL;
        }
        for (; p < aend; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                break;
            }
            port = port * 10 + (*p - '0');
        }
        if (p != aend || port < 1 || port > 65535) {
            errmsg_set(err, errlen, "%s: the port must be a number from 1 to 65535", url);
            return HTTP_CLIENT_EURL;
        }
        out->port = (int)port;
    }
    size_t plen = strlen(aend);
    while (plen > 0 && aend[plen - 1] == '/') {
        plen--;
    }
    if (plen >= sizeof(out->prefix) || has_ctl_or_space(aend, plen)) {
        errmsg_set(err, errlen, "%s: unusable path", url);
        return HTTP_CLIENT_EURL;
    }
    memcpy(out->prefix, aend, plen);
    out->prefix[plen] = '\0';
    return 0;
}

int http_client_init(struct http_client *c, const char *url, const char *token, int timeout_ms,
                     char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    int rc = http_client_url_parse(url, &c->url, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (token != NULL && token[0] != '\0') {
        for (const char *p = token; *p != '\0'; p++) {
            unsigned char ch = (unsigned char)*p;
            /* A line break would end the header and let the token write others. */
            if (ch < 0x20 || ch == 0x7F) {
                errmsg_set(err, errlen, "the token holds a control character (a line break?)");
                return HTTP_CLIENT_EURL;
            }
        }
        c->token = token;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : HTTP_CLIENT_TIMEOUT_MS;
    return 0;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Writes the encoding of s to out (room for 3 * strlen(s) + 1). Returns its length. */
static size_t encode_into(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (unreserved(*p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return n;
}

char *http_client_urlencode(const char *s)
{
    size_t len = strlen(s);
    if (len > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    char *out = malloc(3 * len + 1);
    if (out == NULL) {
        return NULL;
    }
    encode_into(out, s);
    return out;
}

int http_client_query_add(char **path, const char *key, const char *value)
{
    size_t plen = strlen(*path), klen = strlen(key), vlen = strlen(value);
    if (klen > SIZE_MAX / 8 || vlen > SIZE_MAX / 8 || plen > SIZE_MAX / 2) {
        return HTTP_CLIENT_ENOMEM;
    }
    char sep = strchr(*path, '?') != NULL ? '&' : '?';
    char *p = realloc(*path, plen + 3 * klen + 3 * vlen + 3);
    if (p == NULL) {
        return HTTP_CLIENT_ENOMEM;
    }
    *path = p;
    p += plen;
    *p++ = sep;
    p += encode_into(p, key);
    *p++ = '=';
    encode_into(p, value);
    return 0;
}

void http_client_response_free(struct http_client_response *resp)
{
    if (resp == NULL) {
        return;
    }
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = 0;
}

/* One exchange: the socket, its deadline, a read buffer, and whom to name in errors. */
struct conn {
    int fd;
    struct tlsconn *tls; /* https: the socket's TLS, else NULL */
    long long deadline;  /* CLOCK_MONOTONIC, ms */
    int timeout_ms;
    char where[300]; /* host:port, [v6]:port */
    char *err;
    size_t errlen;
    char buf[16384];
    size_t start, end; /* unread bytes are buf[start..end) */
};

/* The body as it arrives, capped at HTTP_CLIENT_MAX_BODY. */
struct body {
    char *data;
    size_t len, cap;
    FILE *sink; /* when set, bytes go on to it as they come instead of piling up */
};

/* Hands what the body holds to its sink, if it has one. Returns 0 or HTTP_CLIENT_EIO. */
static int body_drain(struct conn *c, struct body *b)
{
    if (b->sink == NULL || b->len == 0) {
        return 0;
    }
    if (fwrite(b->data, 1, b->len, b->sink) != b->len) {
        errmsg_set(c->err, c->errlen, "cannot write the answer of %s: %s", c->where,
                   strerror(errno));
        return HTTP_CLIENT_EIO;
    }
    b->len = 0;
    return 0;
}

/* Reports a failed step ("read from 127.0.0.1:8170: ...") for errno e. Returns the code. */
static int conn_fail(struct conn *c, const char *what, int e)
{
    if (e == ETIMEDOUT) {
        errmsg_set(c->err, c->errlen, "%s %s: no answer within %d ms", what, c->where,
                   c->timeout_ms);
        return HTTP_CLIENT_ETIMEOUT;
    }
    errmsg_set(c->err, c->errlen, "%s %s: %s", what, c->where, strerror(e));
    return HTTP_CLIENT_EIO;
}

/* Connects c->fd to one of url's addresses. Returns 0 or a negative code, err set. */
static int conn_open(struct conn *c, const struct http_client_url *url)
{
    switch (netconn_open(url->host, url->port, c->deadline, &c->fd, c->err, c->errlen)) {
    case 0:
        if (url->tls) {
            c->tls = tlsconn_start(c->fd, url->host, url->cacert, c->deadline, c->err, c->errlen);
            return c->tls != NULL ? 0 : HTTP_CLIENT_ECONNECT;
        }
        return 0;
    case NETCONN_ERESOLVE:
        return HTTP_CLIENT_ERESOLVE;
    default: {
        int rc = conn_fail(c, "connect to", errno);
        return rc == HTTP_CLIENT_EIO ? HTTP_CLIENT_ECONNECT : rc;
    }
    }
}

static int conn_send(struct conn *c, const char *buf, size_t len)
{
    if (c->tls != NULL) {
        return tlsconn_write(c->tls, buf, len, c->deadline) == 0 ? 0
                                                                 : conn_fail(c, "send to", errno);
    }
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (netconn_wait(c->fd, POLLOUT, c->deadline) < 0) {
                return conn_fail(c, "send to", errno);
            }
        } else {
            return conn_fail(c, "send to", n < 0 ? errno : EPIPE);
        }
    }
    return 0;
}

/* Reads more into the buffer. Returns 1 when bytes came, 0 at the end of the stream, or a
 * negative code with err set. */
static int conn_fill(struct conn *c)
{
    if (c->start == c->end) {
        c->start = c->end = 0;
    } else if (c->end == sizeof(c->buf)) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->tls != NULL) {
        ssize_t n = tlsconn_read(c->tls, c->buf + c->end, sizeof(c->buf) - c->end, c->deadline);
        if (n < 0) {
            return conn_fail(c, "read from", errno);
        }
        c->end += (size_t)n;
        return n > 0;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->end, sizeof(c->buf) - c->end, 0);
        if (n > 0) {
            c->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return conn_fail(c, "read from", errno);
        }
        if (netconn_wait(c->fd, POLLIN, c->deadline) < 0) {
            return conn_fail(c, "read from", errno);
        }
    }
}

/* Reads one line ending in LF into line (without CR LF, NUL-terminated). *budget is what may
 * still be read of the headers. Returns 0 or a negative code with err set. */
static int conn_line(struct conn *c, char *line, size_t cap, size_t *budget)
{
    size_t n = 0;
    for (;;) {
        while (c->start < c->end) {
            char ch = c->buf[c->start++];
            if (*budget == 0 || n + 1 >= cap) {
                errmsg_set(c->err, c->errlen, "%s answered with headers over %s", c->where,
                           *budget == 0 ? "64 KiB in all" : "8 KiB a line");
                return HTTP_CLIENT_ETOOBIG;
            }
            (*budget)--;
            if (ch == '\n') {
                if (n > 0 && line[n - 1] == '\r') {
                    n--;
                }
                line[n] = '\0';
                return 0;
            }
            line[n++] = ch;
        }
        int r = conn_fill(c);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            errmsg_set(c->err, c->errlen, "%s closed the connection before the end of its headers",
                       c->where);
            return HTTP_CLIENT_EPROTOCOL;
        }
    }
}

static int body_reserve(struct conn *c, struct body *b, size_t more)
{
    if (more > HTTP_CLIENT_MAX_BODY - b->len) {
        errmsg_set(c->err, c->errlen, "%s answered with a body over %zu MiB", c->where,
                   HTTP_CLIENT_MAX_BODY >> 20);
        return HTTP_CLIENT_ETOOBIG;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        errmsg_set(c->err, c->errlen, "out of memory reading the answer of %s", c->where);
        return HTTP_CLIENT_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Appends exactly n body bytes, or up to the end of the stream when to_eof. */
static int conn_body(struct conn *c, struct body *b, size_t n, bool to_eof)
{
    int rc = body_reserve(c, b, to_eof ? 0 : n);
    if (rc < 0) {
        return rc;
    }
    for (;;) {
        size_t have = c->end - c->start;
        size_t take = to_eof ? have : (have < n ? have : n);
        if (take > 0) {
            rc = body_reserve(c, b, take);
            if (rc < 0) {
                return rc;
            }
            memcpy(b->data + b->len, c->buf + c->start, take);
            b->len += take;
            c->start += take;
            if (b->len >= 65536 && (rc = body_drain(c, b)) < 0) {
                return rc;
            }
            n -= to_eof ? 0 : take;
        }
        if (!to_eof && n == 0) {
            return 0;
        }
        int r = conn_fill(c);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            if (to_eof) {
                return 0;
            }
            errmsg_set(c->err, c->errlen,
                       "%s closed the connection %zu bytes before the end of the body", c->where,
                       n);
            return HTTP_CLIENT_EIO;
        }
    }
}

/* Reads a chunked body (RFC 9112 §7.1): size lines, data, CRLF, trailers up to a blank line. */
static int conn_chunked(struct conn *c, struct body *b)
{
    char line[MAX_HEADER_LINE];
    size_t budget = MAX_HEADERS;
    for (;;) {
        /* Chunk-size lines and trailers are small; their budget is the headers' one. */
        int rc = conn_line(c, line, sizeof(line), &budget);
        if (rc < 0) {
            return rc;
        }
        size_t size = 0;
        const char *p = line;
        for (; isxdigit((unsigned char)*p); p++) {
            int d = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
            /* Past the cap the size only needs to stay past it, without overflowing. */
            if (size <= HTTP_CLIENT_MAX_BODY) {
                size = size * 16 + (size_t)d;
            }
        }
        if (p == line || (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t')) {
            errmsg_set(c->err, c->errlen, "%s sent a bad chunk size \"%.40s\"", c->where, line);
            return HTTP_CLIENT_EPROTOCOL;
        }
        if (size == 0) {
            break;
        }
        if (size > HTTP_CLIENT_MAX_BODY) {
            /* Let body_reserve word the error. */
            size = HTTP_CLIENT_MAX_BODY + 1;
        }
        rc = conn_body(c, b, size, false);
        if (rc < 0) {
            return rc;
        }
        rc = conn_line(c, line, sizeof(line), &budget);
        if (rc < 0) {
            return rc;
        }
        if (line[0] != '\0') {
            errmsg_set(c->err, c->errlen, "%s sent a chunk longer than its size", c->where);
            return HTTP_CLIENT_EPROTOCOL;
        }
    }
    /* Trailers, which we have no use for. */
    do {
        int rc = conn_line(c, line, sizeof(line), &budget);
        if (rc < 0) {
            return rc;
        }
    } while (line[0] != '\0');
    return 0;
}

/* What the headers say about the body. */
struct head {
    int status;
    bool chunked;
    bool has_length;
    size_t length;
};

static int conn_head(struct conn *c, struct head *h)
{
    char line[MAX_HEADER_LINE];
    size_t budget = MAX_HEADERS;
    memset(h, 0, sizeof(*h));
    int rc = conn_line(c, line, sizeof(line), &budget);
    if (rc < 0) {
        return rc;
    }
    /* HTTP/1.x SP 3DIGIT [SP reason] */
    if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
        !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
        !isdigit((unsigned char)line[11]) || (line[12] != '\0' && line[12] != ' ')) {
        errmsg_set(c->err, c->errlen, "%s did not answer HTTP/1.x: \"%.60s\"", c->where, line);
        return HTTP_CLIENT_EPROTOCOL;
    }
    h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    for (;;) {
        rc = conn_line(c, line, sizeof(line), &budget);
        if (rc < 0) {
            return rc;
        }
        if (line[0] == '\0') {
            return 0;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            errmsg_set(c->err, c->errlen, "%s sent a malformed header \"%.60s\"", c->where, line);
            return HTTP_CLIENT_EPROTOCOL;
        }
        *colon = '\0';
        char *v = colon + 1;
        v += strspn(v, " \t");
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
            v[--vl] = '\0';
        }
        if (strcasecmp(line, "Transfer-Encoding") == 0) {
            /* The last coding decides how the body ends. */
            h->chunked = vl >= 7 && strcasecmp(v + vl - 7, "chunked") == 0;
        } else if (strcasecmp(line, "Content-Length") == 0) {
            size_t n = 0;
            const char *p = v;
            for (; *p >= '0' && *p <= '9'; p++) {
                n = n > HTTP_CLIENT_MAX_BODY ? n : n * 10 + (size_t)(*p - '0');
            }
            if (p == v || *p != '\0' || (h->has_length && n != h->length)) {
                errmsg_set(c->err, c->errlen, "%s sent a bad Content-Length \"%.40s\"", c->where,
                           v);
                return HTTP_CLIENT_EPROTOCOL;
            }
            h->has_length = true;
            h->length = n;
        }
    }
}

static int request(const struct http_client *hc, const char *method, const char *path,
                   const char *json, FILE *sink, struct http_client_response *resp, char *err,
                   size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    if (path[0] != '/' || has_ctl_or_space(path, strlen(path))) {
        errmsg_set(err, errlen, "request path must start with '/' and hold no spaces: \"%.80s\"",
                   path);
        return HTTP_CLIENT_EURL;
    }
    int rc;
    char *head = NULL;
    struct body b = {0};
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return HTTP_CLIENT_ENOMEM;
    }
    c->fd = -1;
    c->err = err;
    c->errlen = errlen;
    c->timeout_ms = hc->timeout_ms > 0 ? hc->timeout_ms : HTTP_CLIENT_TIMEOUT_MS;
    c->deadline = netconn_now_ms() + c->timeout_ms;
    bool v6 = strchr(hc->url.host, ':') != NULL;
    snprintf(c->where, sizeof(c->where), "%s%s%s:%d", v6 ? "[" : "", hc->url.host, v6 ? "]" : "",
             hc->url.port);

    char length[128] = "";
    if (json != NULL) {
        snprintf(length, sizeof(length),
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(json));
    }
    char host[300];
    if (hc->url.port == 80) {
        snprintf(host, sizeof(host), "%s%s%s", v6 ? "[" : "", hc->url.host, v6 ? "]" : "");
    } else {
        snprintf(host, sizeof(host), "%s", c->where);
    }

    const char *bearer = hc->token != NULL ? "Authorization: Bearer " : "";
    const char *token = hc->token != NULL ? hc->token : "";
    const char *crlf = hc->token != NULL ? "\r\n" : "";
    int hn = snprintf(NULL, 0, REQUEST_HEAD, method, hc->url.prefix, path, host, TOUCHLINE_VERSION,
                      bearer, token, crlf, length);
    head = hn >= 0 ? malloc((size_t)hn + 1) : NULL;
    if (head == NULL) {
        errmsg_set(err, errlen, "out of memory");
        rc = HTTP_CLIENT_ENOMEM;
        goto out;
    }
    snprintf(head, (size_t)hn + 1, REQUEST_HEAD, method, hc->url.prefix, path, host,
             TOUCHLINE_VERSION, bearer, token, crlf, length);

    rc = conn_open(c, &hc->url);
    if (rc < 0) {
        goto out;
    }
    rc = conn_send(c, head, (size_t)hn);
    if (rc == 0 && json != NULL) {
        rc = conn_send(c, json, strlen(json));
    }
    if (rc < 0) {
        goto out;
    }
    struct head h;
    int interim = 0;
    do {
        rc = conn_head(c, &h);
        if (rc < 0) {
            goto out;
        }
    } while (h.status >= 100 && h.status < 200 && ++interim < MAX_INTERIM);
    if (h.status < 200) {
        errmsg_set(err, errlen, "%s sent only interim answers", c->where);
        rc = HTTP_CLIENT_EPROTOCOL;
        goto out;
    }
    if (h.status == 200) {
        b.sink = sink;
    }
    if (h.status == 204 || h.status == 304) {
        rc = body_reserve(c, &b, 0);
    } else if (h.chunked) {
        rc = conn_chunked(c, &b);
    } else if (h.has_length) {
        rc = conn_body(c, &b, h.length, false);
    } else {
        rc = conn_body(c, &b, 0, true);
    }
    if (rc == 0) {
        rc = body_drain(c, &b);
    }
    if (rc < 0) {
        goto out;
    }
    b.data[b.len] = '\0';
    resp->status = h.status;
    resp->body = b.data;
    resp->len = b.len;
    b.data = NULL;
out:
    free(b.data);
    free(head);
    tlsconn_free(c->tls);
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c);
    return rc;
}

int http_client_get(const struct http_client *c, const char *path,
                    struct http_client_response *resp, char *err, size_t errlen)
{
    return request(c, "GET", path, NULL, NULL, resp, err, errlen);
}

int http_client_post_json(const struct http_client *c, const char *path, const char *json,
                          struct http_client_response *resp, char *err, size_t errlen)
{
    return request(c, "POST", path, json != NULL ? json : "", NULL, resp, err, errlen);
}

int http_client_delete(const struct http_client *c, const char *path,
                       struct http_client_response *resp, char *err, size_t errlen)
{
    return request(c, "DELETE", path, NULL, NULL, resp, err, errlen);
}

int http_client_get_to(const struct http_client *c, const char *path, FILE *out,
                       struct http_client_response *resp, char *err, size_t errlen)
{
    return request(c, "GET", path, NULL, out, resp, err, errlen);
}
