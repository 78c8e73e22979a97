/*
 * qdrive — the query benchmark's client (docs/performance.md, "Query performance").
 *
 * Picks --requests customers at random among the live customers of the database (seeded, so
 * every run and both modes ask for the same customers in the same order) and asks for each
 * one's timeline, --limit items, on --connections connections kept open, one request in
 * flight on each:
 *   --mode http  GET /v1/customers/{id}/timeline?limit=L over HTTP/1.1 keep-alive, to
 *                touchlined;
 *   --mode sql   the statement touchlined runs for that request (daemon/store.c,
 *                STORE_TIMELINE: the same text, the same parameters), prepared once on each
 *                of the direct libpq connections.
 * Each request is timed from just before the write that sends it to the read that completes
 * its answer. Every answer is checked (HTTP 200; a timeline of the customer asked for with at
 * most L items) and folded into a digest, the same in both modes when they answered the same
 * documents. --warmup requests (other customers, from the same sequence) go first, untimed.
 *
 * One thread, poll(2), non-blocking sockets and non-blocking libpq, like loadgen; the answer
 * is checked (parsed with jansson) in both modes alike, after its time is taken.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr, memmem */
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "gen.h"
#include "store.h"

#define MAX_ANSWER       (64 * 1024 * 1024) /* bytes of one answer, at most */
#define MAX_ERRORS_SHOWN 5
#define REQ_MAX          512

enum mode { MODE_HTTP, MODE_SQL };

struct options {
    enum mode mode;
    const char *dsn;
    const char *host;
    const char *port;
    long requests;
    int connections;
    int limit;
    long seed;
    long warmup;
    double timeout_s;
};

/* What every answer adds up to. */
struct stats {
    long measured; /* answered requests that were timed */
    long ok;
    long errors;
    long shown;
    long items;
    long bytes;
    uint64_t digest;
    int32_t *lat_us; /* one per timed answer, in the order they came */
    int64_t t_first, t_last;
};

/* The run: requests 0 … warmup-1 are the warm-up, warmup … warmup+requests-1 are measured. */
struct run {
    const struct options *o;
    char (*ids)[37]; /* live customers, sorted */
    long n_ids;
    long total;
    long next;     /* next request to send */
    long answered; /* requests answered or failed */
    struct stats st;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: qdrive --mode http|sql --dsn DSN [options]\n"
            "Asks for the timelines of random customers, over touchlined's HTTP API or\n"
            "straight from PostgreSQL with the daemon's own statement, and reports latency.\n"
            "\n"
            "  -m, --mode MODE        http: GET /v1/customers/{id}/timeline on touchlined;\n"
            "                         sql: touchlined's timeline statement on direct\n"
            "                         connections to the database (required)\n"
            "  -d, --dsn DSN          the database, for the customer list and in sql mode\n"
            "                         (required)\n"
            "  -H, --host HOST        touchlined's HTTP host (default 127.0.0.1)\n"
            "  -p, --port PORT        touchlined's HTTP port (default 8170)\n"
            "  -n, --requests N       timed requests (default 10000)\n"
            "  -c, --connections K    connections, one request in flight on each (default 4)\n"
            "  -l, --limit L          items per timeline (default 50)\n"
            "      --seed S           which customers, in which order (default 1)\n"
            "      --warmup W         untimed requests first, for other customers (default 100)\n"
            "      --timeout S        give up when nothing is answered for S seconds\n"
            "                         (default 30)\n"
            "  -h, --help             show this help\n"
            "\n"
            "Prints one line:\n"
            "  qdrive mode=… requests=… ok=… errors=… seconds=… rate=… p50_ms=… p90_ms=…\n"
            "         p99_ms=… max_ms=… items=… bytes=… digest=… …\n"
            "rate is timed requests per second from the first one sent to the last one\n"
            "answered; items and bytes are the answers' totals (bytes of the JSON document,\n"
            "without HTTP's framing); digest is equal for two runs that got the same answers.\n"
            "Exit status: 0 every answer right, 1 some wrong or missing or a failure, 2 usage.\n");
}

/* Returns 0, 2 after a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_SEED = 256, OPT_WARMUP, OPT_TIMEOUT };
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"dsn", required_argument, NULL, 'd'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"requests", required_argument, NULL, 'n'},
        {"connections", required_argument, NULL, 'c'},
        {"limit", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .mode = MODE_HTTP, /* required: see have_mode */
        .host = "127.0.0.1",
        .port = "8170",
        .requests = 10000,
        .connections = 4,
        .limit = 50,
        .seed = 1,
        .warmup = 100,
        .timeout_s = 30,
    };
    int opt;
    long v;
    bool have_mode = false;
    while ((opt = getopt_long(argc, argv, "m:d:H:p:n:c:l:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'm':
            have_mode = true;
            if (strcmp(optarg, "http") == 0) {
                o->mode = MODE_HTTP;
            } else if (strcmp(optarg, "sql") == 0) {
                o->mode = MODE_SQL;
            } else {
                bad = "--mode";
            }
            break;
        case 'd':
            o->dsn = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 'n':
            if (gen_parse_long(optarg, 1, 100000000L, &o->requests) < 0) {
                bad = "--requests";
            }
            break;
        case 'c':
            if (gen_parse_long(optarg, 1, 1000, &v) < 0) {
                bad = "--connections";
            }
            o->connections = (int)v;
            break;
        case 'l':
            if (gen_parse_long(optarg, 1, 100000, &v) < 0) {
                bad = "--limit";
            }
            o->limit = (int)v;
            break;
        case OPT_SEED:
            if (gen_parse_long(optarg, 0, 0x7fffffffL, &o->seed) < 0) {
                bad = "--seed";
            }
            break;
        case OPT_WARMUP:
            if (gen_parse_long(optarg, 0, 100000000L, &o->warmup) < 0) {
                bad = "--warmup";
            }
            break;
        case OPT_TIMEOUT:
            if (gen_parse_double(optarg, 0.1, 1e6, &o->timeout_s) < 0) {
                bad = "--timeout";
            }
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "qdrive: bad value for %s: \"%s\"\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qdrive: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!have_mode || o->dsn == NULL) {
        fprintf(stderr, "qdrive: --mode and --dsn are required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests and answers */

/* The customer of request r: the measured requests are the sequence's first `requests`
 * positions in every mode and run; the warm-up takes the positions after them. */
static const char *request_customer(const struct run *run, long r)
{
    long pos = r < run->o->warmup ? run->o->requests + r : r - run->o->warmup;
    uint64_t h =
        gen_hash64((uint64_t)run->o->seed * 0x9e3779b97f4a7c15ULL ^ gen_hash64((uint64_t)pos));
    return run->ids[(long)(((h >> 32) * (uint64_t)run->n_ids) >> 32)];
}

static void report_error(struct run *run, long r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_error(struct run *run, long r, const char *fmt, ...)
{
    run->st.errors++;
    if (run->st.shown++ < MAX_ERRORS_SHOWN) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "qdrive: request %ld (customer %s): ", r, request_customer(run, r));
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

/* Request r is answered (or failed) at t. */
static void request_finished(struct run *run, long r, int64_t t_sent, int64_t t)
{
    run->answered++;
    if (r < run->o->warmup) {
        return;
    }
    struct stats *st = &run->st;
    int64_t us = (t - t_sent) / 1000;
    st->lat_us[st->measured++] = us > INT32_MAX ? INT32_MAX : (int32_t)us;
    if (st->t_first == 0 || t_sent < st->t_first) {
        st->t_first = t_sent;
    }
    if (t > st->t_last) {
        st->t_last = t;
    }
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t k = 0; k < n; k++) {
        h = (h ^ (unsigned char)s[k]) * 0x100000001b3ULL;
    }
    return h;
}

/* Checks the timeline document of request r (doc may be NULL: the database said NULL) and
 * counts it. */
static void check_answer(struct run *run, long r, const char *doc, size_t len)
{
    if (r < run->o->warmup) {
        return;
    }
    if (doc == NULL) {
        report_error(run, r, "%s", "no timeline (NULL)");
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(doc, len, 0, &jerr);
    json_t *items = json_object_get(j, "items");
    const char *cust = json_string_value(json_object_get(j, "customer_id"));
    if (j == NULL) {
        report_error(run, r, "answer is not JSON: %s", jerr.text);
    } else if (!json_is_array(items)) {
        report_error(run, r, "%s", "answer has no items array");
    } else if (json_array_size(items) > (size_t)run->o->limit) {
        report_error(run, r, "%s", "answer has more items than the limit");
    } else if (cust == NULL || strcmp(cust, request_customer(run, r)) != 0) {
        report_error(run, r, "answer is for customer %s", cust != NULL ? cust : "(none)");
    } else {
        run->st.ok++;
        run->st.items += (long)json_array_size(items);
        run->st.bytes += (long)len;
        /* Summed, so that the order in which answers arrive does not matter. */
        run->st.digest += gen_hash64(fnv1a(doc, len) ^ (uint64_t)(r - run->o->warmup));
    }
    json_decref(j);
}

/* Gives up when nothing was answered for timeout_s. Returns true to go on. */
static bool progressing(struct run *run, long *last_answered, int64_t *t_progress)
{
    int64_t t = now_ns();
    if (run->answered != *last_answered) {
        *last_answered = run->answered;
        *t_progress = t;
        return true;
    }
    if ((double)(t - *t_progress) / 1e9 > run->o->timeout_s) {
        fprintf(stderr, "qdrive: no answer for %.0f s; giving up\n", run->o->timeout_s);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP */

struct hconn {
    int fd;
    long req; /* in flight, -1: none */
    int64_t t_sent;
    char out[REQ_MAX];
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
};

/* A connected socket, non-blocking from then on; -1 on failure (errno set). The connect
 * blocks: it happens before the clock runs, or after a failure that is counted anyway. */
static int http_connect(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    int fl;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static void http_close(struct hconn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->in_len = 0;
    c->out_len = c->out_off = 0;
}

/* Fails the request in flight, if any, and reconnects. */
static void http_broken(struct run *run, struct hconn *c, const struct addrinfo *ai,
                        const char *why)
{
    if (c->req >= 0) {
        request_finished(run, c->req, c->t_sent, now_ns());
        report_error(run, c->req, "%s", why);
        c->req = -1;
    }
    http_close(c);
    c->fd = http_connect(ai);
    if (c->fd < 0) {
        fprintf(stderr, "qdrive: reconnect: %s\n", strerror(errno));
    }
}

static void http_write(struct run *run, struct hconn *c, const struct addrinfo *ai)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return;
            }
            http_broken(run, c, ai, strerror(errno));
            return;
        }
        c->out_off += (size_t)n;
    }
}

static void http_send(struct run *run, struct hconn *c, const struct addrinfo *ai, long r)
{
    int n = snprintf(c->out, sizeof(c->out),
                     "GET /v1/customers/%s/timeline?limit=%d HTTP/1.1\r\n"
                     "Host: %s:%s\r\nAccept: application/json\r\n\r\n",
                     request_customer(run, r), run->o->limit, run->o->host, run->o->port);
    c->out_len = n > 0 && (size_t)n < sizeof(c->out) ? (size_t)n : 0;
    c->out_off = 0;
    c->req = r;
    c->t_sent = now_ns();
    http_write(run, c, ai);
}

/* The value of header name in the header block [head, end), or NULL. */
static const char *header_value(const char *head, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *line = memchr(head, '\n', (size_t)(end - head)); /* past the status line */
    while (line != NULL && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
                ve--;
            }
            *len = (size_t)(ve - v);
            return v;
        }
        line = eol < end ? eol : NULL;
    }
    return NULL;
}

/* Takes one complete answer off the front of c->in, if there is one. Returns 1 when it did, 0
 * when more bytes are needed, -1 when the answer cannot be understood. */
static int http_answer(struct run *run, struct hconn *c, bool *close_after)
{
    char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (hend == NULL) {
        return c->in_len > 64 * 1024 ? -1 : 0;
    }
    size_t head_len = (size_t)(hend - c->in) + 4;
    int status = 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    size_t vl;
    const char *v = header_value(c->in, hend, "Content-Length", &vl);
    if (v == NULL || vl == 0 || vl > 12) {
        return -1; /* chunked answers are not expected from touchlined */
    }
    char num[16];
    memcpy(num, v, vl);
    num[vl] = '\0';
    long body_len;
    if (gen_parse_long(num, 0, MAX_ANSWER, &body_len) < 0) {
        return -1;
    }
    if (c->in_len < head_len + (size_t)body_len) {
        return 0;
    }
    int64_t t = now_ns();
    long r = c->req;
    c->req = -1;
    request_finished(run, r, c->t_sent, t);
    v = header_value(c->in, hend, "Connection", &vl);
    *close_after = v != NULL && vl == 5 && strncasecmp(v, "close", 5) == 0;
    const char *body = c->in + head_len;
    size_t len = (size_t)body_len;
    if (status != 200) {
        report_error(run, r, "HTTP status %d", status);
    } else {
        /* touchlined ends the document with a newline; the database's text has none. */
        if (len > 0 && body[len - 1] == '\n') {
            len--;
        }
        check_answer(run, r, body, len);
    }
    size_t used = head_len + (size_t)body_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 1;
}

static void http_read(struct run *run, struct hconn *c, const struct addrinfo *ai)
{
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t cap = c->in_cap * 2;
            char *p = cap <= MAX_ANSWER + 65536 ? realloc(c->in, cap) : NULL;
            if (p == NULL) {
                http_broken(run, c, ai, "answer too large");
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            http_broken(run, c, ai, n == 0 ? "connection closed by touchlined" : strerror(errno));
            return;
        }
        c->in_len += (size_t)n;
        bool close_after = false;
        int got = c->req >= 0 ? http_answer(run, c, &close_after) : -1;
        if (got < 0) {
            http_broken(run, c, ai, "an answer that is not HTTP/1.1 with Content-Length");
            return;
        }
        if (close_after) {
            http_broken(run, c, ai, "closed");
            return;
        }
        if (got == 1) {
            return; /* the next request goes out from the loop */
        }
    }
}

static int run_http(struct run *run)
{
    const struct options *o = run->o;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(o->host, o->port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "qdrive: %s:%s: %s\n", o->host, o->port, gai_strerror(gai));
        return -1;
    }
    int k, n = o->connections, rc = -1;
    struct hconn *conns = calloc((size_t)n, sizeof(*conns));
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    if (conns == NULL || pfd == NULL) {
        fprintf(stderr, "qdrive: out of memory\n");
        goto out;
    }
    for (k = 0; k < n; k++) {
        conns[k].req = -1;
        conns[k].in_cap = 65536;
        conns[k].in = malloc(conns[k].in_cap);
        conns[k].fd = http_connect(ai);
        if (conns[k].in == NULL || conns[k].fd < 0) {
            fprintf(stderr, "qdrive: connect to %s:%s: %s\n", o->host, o->port,
                    conns[k].in == NULL ? "out of memory" : strerror(errno));
            goto out;
        }
    }
    long last_answered = -1;
    int64_t t_progress = now_ns();
    while (run->answered < run->total) {
        int live = 0;
        for (k = 0; k < n; k++) {
            struct hconn *c = &conns[k];
            if (c->fd >= 0 && c->req < 0 && run->next < run->total) {
                http_send(run, c, ai, run->next++);
            }
            pfd[k] =
                (struct pollfd){.fd = c->fd, .events = c->out_off < c->out_len ? POLLOUT : POLLIN};
            live += c->fd >= 0;
        }
        if (live == 0) {
            fprintf(stderr, "qdrive: every connection is down\n");
            goto out;
        }
        if (poll(pfd, (nfds_t)n, 200) < 0 && errno != EINTR) {
            perror("qdrive: poll");
            goto out;
        }
        for (k = 0; k < n; k++) {
            struct hconn *c = &conns[k];
            if (c->fd >= 0 && (pfd[k].revents & POLLOUT)) {
                http_write(run, c, ai);
            }
            if (c->fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                http_read(run, c, ai);
            }
        }
        if (!progressing(run, &last_answered, &t_progress)) {
            goto out;
        }
    }
    rc = 0;
out:
    for (k = 0; conns != NULL && k < n; k++) {
        http_close(&conns[k]);
        free(conns[k].in);
    }
    free(conns);
    free(pfd);
    freeaddrinfo(ai);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* SQL */

#define SQL_STATEMENT "qdrive_timeline"

struct sconn {
    PGconn *pg;
    long req; /* in flight, -1: none */
    int64_t t_sent;
    bool answered; /* its result came; waiting for the end of its results */
    bool flushing;
};

/* touchlined's own timeline statement (daemon/store.c), so both modes run the same SQL. */
static const struct db_statement *timeline_statement(void)
{
    for (int k = 0; k < store_n_statements; k++) {
        if (strcmp(store_statements[k].name, STORE_TIMELINE) == 0) {
            return &store_statements[k];
        }
    }
    return NULL;
}

static int sql_send(struct run *run, struct sconn *c, long r)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", run->o->limit);
    /* As daemon/http.c fills them: customer, limit, cursor (time, id), channel, since, until. */
    const char *params[STORE_TIMELINE_NPARAMS] = {request_customer(run, r), limit};
    c->req = r;
    c->answered = false;
    c->t_sent = now_ns();
    if (PQsendQueryPrepared(c->pg, SQL_STATEMENT, STORE_TIMELINE_NPARAMS, params, NULL, NULL, 0) !=
        1) {
        fprintf(stderr, "qdrive: send: %s", PQerrorMessage(c->pg));
        return -1;
    }
    int f = PQflush(c->pg);
    c->flushing = f == 1;
    return f < 0 ? -1 : 0;
}

/* Reads what has arrived. Returns 0, or -1 when the connection failed. */
static int sql_read(struct run *run, struct sconn *c)
{
    if (PQconsumeInput(c->pg) != 1) {
        fprintf(stderr, "qdrive: %s", PQerrorMessage(c->pg));
        return -1;
    }
    while (c->req >= 0 && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            if (!c->answered) {
                request_finished(run, c->req, c->t_sent, now_ns());
                report_error(run, c->req, "%s", "no result");
            }
            c->req = -1;
            break;
        }
        if (!c->answered) {
            int64_t t = now_ns();
            c->answered = true;
            request_finished(run, c->req, c->t_sent, t);
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
                bool null = PQgetisnull(res, 0, 0);
                check_answer(run, c->req, null ? NULL : PQgetvalue(res, 0, 0),
                             null ? 0 : (size_t)PQgetlength(res, 0, 0));
            } else {
                report_error(run, c->req, "%s", PQresultErrorMessage(res));
            }
        }
        PQclear(res);
    }
    return 0;
}

static int run_sql(struct run *run)
{
    const struct options *o = run->o;
    const struct db_statement *stmt = timeline_statement();
    if (stmt == NULL || stmt->nparams != STORE_TIMELINE_NPARAMS) {
        fprintf(stderr, "qdrive: the daemon's timeline statement is not in store_statements\n");
        return -1;
    }
    int k, n = o->connections, rc = -1;
    struct sconn *conns = calloc((size_t)n, sizeof(*conns));
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    if (conns == NULL || pfd == NULL) {
        fprintf(stderr, "qdrive: out of memory\n");
        goto out;
    }
    for (k = 0; k < n; k++) {
        struct sconn *c = &conns[k];
        c->req = -1;
        c->pg = PQconnectdb(o->dsn);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            fprintf(stderr, "qdrive: connect: %s", PQerrorMessage(c->pg));
            goto out;
        }
        PGresult *res = PQprepare(c->pg, SQL_STATEMENT, stmt->sql, stmt->nparams, NULL);
        bool prepared = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!prepared) {
            fprintf(stderr, "qdrive: prepare: %s", PQresultErrorMessage(res));
        }
        PQclear(res);
        if (!prepared || PQsetnonblocking(c->pg, 1) != 0) {
            goto out;
        }
    }
    long last_answered = -1;
    int64_t t_progress = now_ns();
    while (run->answered < run->total) {
        for (k = 0; k < n; k++) {
            struct sconn *c = &conns[k];
            if (c->req < 0 && run->next < run->total && sql_send(run, c, run->next++) < 0) {
                goto out;
            }
            pfd[k] = (struct pollfd){.fd = PQsocket(c->pg),
                                     .events = (short)(POLLIN | (c->flushing ? POLLOUT : 0))};
        }
        if (poll(pfd, (nfds_t)n, 200) < 0 && errno != EINTR) {
            perror("qdrive: poll");
            goto out;
        }
        for (k = 0; k < n; k++) {
            struct sconn *c = &conns[k];
            if (pfd[k].revents & POLLOUT) {
                int f = PQflush(c->pg);
                if (f < 0) {
                    fprintf(stderr, "qdrive: %s", PQerrorMessage(c->pg));
                    goto out;
                }
                c->flushing = f == 1;
            }
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) && sql_read(run, c) < 0) {
                goto out;
            }
        }
        if (!progressing(run, &last_answered, &t_progress)) {
            goto out;
        }
    }
    rc = 0;
out:
    for (k = 0; conns != NULL && k < n; k++) {
        PQfinish(conns[k].pg);
    }
    free(conns);
    free(pfd);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */

/* The live customers, sorted by id. Returns 0 or -1 (reported). */
static int load_customers(struct run *run)
{
    PGconn *pg = PQconnectdb(run->o->dsn);
    PGresult *res = NULL;
    int rc = -1;
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "qdrive: connect: %s", PQerrorMessage(pg));
        goto out;
    }
    res = PQexec(pg, "SELECT id FROM touchline.customers WHERE merged_into IS NULL ORDER BY id");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "qdrive: the customers: %s", PQresultErrorMessage(res));
        goto out;
    }
    run->n_ids = PQntuples(res);
    if (run->n_ids == 0) {
        fprintf(stderr, "qdrive: the database has no customers (run qload)\n");
        goto out;
    }
    run->ids = malloc((size_t)run->n_ids * sizeof(*run->ids));
    if (run->ids == NULL) {
        fprintf(stderr, "qdrive: out of memory\n");
        goto out;
    }
    for (long k = 0; k < run->n_ids; k++) {
        snprintf(run->ids[k], sizeof(run->ids[k]), "%s", PQgetvalue(res, (int)k, 0));
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(pg);
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The q quantile (nearest rank, as loadgen) of n sorted microsecond values, in ms. */
static double pct_ms(const int32_t *sorted, long n, double q)
{
    if (n == 0) {
        return 0;
    }
    long k = (long)(q * (double)n + 0.5) - 1;
    k = k < 0 ? 0 : k >= n ? n - 1 : k;
    return sorted[k] / 1000.0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    struct run run = {.o = &o, .total = o.warmup + o.requests};
    rc = 1;
    run.st.lat_us = malloc((size_t)o.requests * sizeof(*run.st.lat_us));
    if (run.st.lat_us == NULL) {
        fprintf(stderr, "qdrive: out of memory\n");
        goto out;
    }
    if (load_customers(&run) < 0) {
        goto out;
    }
    int ran = o.mode == MODE_HTTP ? run_http(&run) : run_sql(&run);
    struct stats *st = &run.st;
    double secs = st->t_last > st->t_first ? (double)(st->t_last - st->t_first) / 1e9 : 0;
    qsort(st->lat_us, (size_t)st->measured, sizeof(*st->lat_us), cmp_i32);
    printf("qdrive mode=%s requests=%ld ok=%ld errors=%ld unanswered=%ld seconds=%.3f rate=%.0f "
           "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f items=%ld bytes=%ld "
           "digest=%016llx connections=%d limit=%d customers=%ld warmup=%ld seed=%ld\n",
           o.mode == MODE_HTTP ? "http" : "sql", o.requests, st->ok, st->errors,
           o.requests - st->measured, secs, secs > 0 ? (double)st->measured / secs : 0.0,
           pct_ms(st->lat_us, st->measured, 0.50), pct_ms(st->lat_us, st->measured, 0.90),
           pct_ms(st->lat_us, st->measured, 0.99),
           st->measured > 0 ? st->lat_us[st->measured - 1] / 1000.0 : 0.0, st->items, st->bytes,
           (unsigned long long)st->digest, o.connections, o.limit, run.n_ids, o.warmup, o.seed);
    rc = ran == 0 && st->ok == o.requests ? 0 : 1;
out:
    free(run.ids);
    free(run.st.lat_us);
    return rc;
}
