/*
 * loadgen — drives touchlined's TCP ingest protocol (CONTRACT §3) and measures it.
 *
 * N non-blocking connections share M records (bench/gen.c); each keeps up to W lines in
 * flight, reads the answers in order and times each line from the write that completed it to
 * the read of its answer. --rate caps the total send rate. --idle only opens and holds
 * connections, for the daemon's memory per idle connection.
 *
 * One thread, poll(2), no allocation per record: lines are generated straight into each
 * connection's output buffer, latencies go into one array sized M.
 *
 * --http-batch B drives POST /v1/interactions instead (CONTRACT §4): each connection keeps
 * one keep-alive request of B records as NDJSON in flight, and each record's answer is its
 * object in the response's "results", timed from the write that completed the request.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, SOCK_NONBLOCK */
#endif

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

#define OUT_CAP          (256 * 1024) /* a connection's unsent lines */
#define IN_CAP           (64 * 1024)  /* a connection's partial answer line */
#define MAX_ERRORS_SHOWN 5

struct slot {
    size_t end;     /* offset in out just past the line, while it is not fully written */
    int64_t t_sent; /* ns, once fully written */
};

struct conn {
    int fd;
    SSL *ssl; /* --tls: the connection's TLS, else NULL */
    bool dead;
    char *out;
    size_t out_off, out_len;
    char *in;
    size_t in_len;
    size_t req_start;  /* HTTP: where the request being queued begins in out */
    struct slot *ring; /* W slots: [head, head+count) in flight, the first `sent` written */
    unsigned head, count, sent;
    long answered;
};

struct options {
    const char *host;
    const char *port;
    int connections;
    long records;
    int window;
    double rate; /* records/s, 0: unlimited */
    double timeout_s;
    struct gen_config gen;
    char run[40];
    long idle;
    double hold_s;
    double interval_s;  /* progress line period, 0: none */
    bool tls;           /* speak TLS to the daemon's TCP port */
    const char *cacert; /* with --tls: verify the daemon against it (NULL: no verification) */
    int http_batch;     /* records per POST /v1/interactions; 0: the TCP protocol */
    size_t out_cap;
};

struct stats {
    long issued; /* lines generated and queued */
    long answered;
    long ok; /* "ok":true, including duplicates */
    long duplicate;
    long errors;
    long lost; /* in flight on a connection that broke */
    long shown;
    int32_t *lat_us; /* one per answer */
    int32_t interval_max_us;
    int64_t t_start, t_last;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: loadgen [options]\n"
            "Sends synthetic interaction records to touchlined over TCP and reports acked\n"
            "records/s and ack latency.\n"
            "\n"
            "  -H, --host HOST        daemon host (default 127.0.0.1)\n"
            "  -p, --port PORT        daemon TCP ingest port (default 5170)\n"
            "  -c, --connections N    connections (default 16)\n"
            "  -n, --records M        records to send in all (default 100000)\n"
            "  -w, --window W         unanswered lines per connection at most (default 100)\n"
            "  -r, --rate R           cap the total send rate at R records/s (default: none)\n"
            "      --customers N      distinct customers (default 100000)\n"
            "      --two-ids SHARE    share of records carrying phone + email (default 0.2)\n"
            "      --run ID           external_id prefix, unique per run (default: from the\n"
            "                         clock and pid); [A-Za-z0-9._-], at most 32 chars\n"
            "      --seed S           random seed (default 1)\n"
            "      --timeout S        give up when no answer arrives for S seconds (default 60)\n"
            "      --idle N           only open N connections, send nothing, hold them\n"
            "      --hold S           with --idle: hold for S seconds or until SIGTERM/SIGINT\n"
            "                         (default 3600)\n"
            "  -i, --interval S       a progress line on stderr every S seconds: answers,\n"
            "                         rate and worst latency of the interval (default 5)\n"
            "  -q, --quiet            no progress lines (--interval 0)\n"
            "      --tls              speak TLS (the daemon's [tls] tcp = yes); the handshakes\n"
            "                         happen before the clock starts\n"
            "      --cacert FILE      with --tls, verify the daemon's certificate against FILE\n"
            "      --http-batch B     POST /v1/interactions (--port is the HTTP port), B\n"
            "                         records of NDJSON per request, one request in flight per\n"
            "                         connection (1-400; --window is then B)\n"
            "  -h, --help             show this help\n"
            "\n"
            "Prints one line at the end:\n"
            "  loadgen acked=… ok=… duplicate=… errors=… unanswered=… seconds=… rate=…\n"
            "          p50_ms=… p99_ms=… max_ms=… …\n"
            "acked counts \"ok\":true answers (duplicates included); rate is acked per second\n"
            "from the first write to the last answer; latency runs from the write that\n"
            "completed a line to the read of its answer, over all answers.\n"
            "With --idle: loadgen idle=N connected=… failed=… closed_by_peer=… (and a line\n"
            "\"loadgen idle ready connected=…\" once every connection is up).\n"
            "Exit status: 0 every record answered, 1 some not answered or a failure, 2 usage.\n");
}

static int valid_run(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

/* Returns 0, 2 after a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum {
        OPT_CUSTOMERS = 256,
        OPT_TWO_IDS,
        OPT_RUN,
        OPT_SEED,
        OPT_TIMEOUT,
        OPT_IDLE,
        OPT_HOLD,
        OPT_TLS,
        OPT_CACERT,
        OPT_HTTP_BATCH
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"connections", required_argument, NULL, 'c'},
        {"records", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"rate", required_argument, NULL, 'r'},
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"two-ids", required_argument, NULL, OPT_TWO_IDS},
        {"run", required_argument, NULL, OPT_RUN},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"idle", required_argument, NULL, OPT_IDLE},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"tls", no_argument, NULL, OPT_TLS},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"interval", required_argument, NULL, 'i'},
        {"http-batch", required_argument, NULL, OPT_HTTP_BATCH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .host = "127.0.0.1",
        .port = "5170",
        .connections = 16,
        .records = 100000,
        .window = 100,
        .timeout_s = 60,
        .hold_s = 3600,
        .interval_s = 5,
        .gen = {.seed = 1, .customers = 100000, .two_ids = 0.2},
    };
    snprintf(o->run, sizeof(o->run), "lg%lx%x", (long)time(NULL), (unsigned)getpid());
    int opt;
    long v;
    while ((opt = getopt_long(argc, argv, "H:p:c:n:w:r:i:qh", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 'c':
            if (gen_parse_long(optarg, 1, 100000, &v) < 0) {
                bad = "--connections";
            }
            o->connections = (int)v;
            break;
        case 'n':
            if (gen_parse_long(optarg, 1, 1000000000L, &o->records) < 0) {
                bad = "--records";
            }
            break;
        case 'w':
            if (gen_parse_long(optarg, 1, 100000, &v) < 0) {
                bad = "--window";
            }
            o->window = (int)v;
            break;
        case 'r':
            if (gen_parse_double(optarg, 0, 1e9, &o->rate) < 0) {
                bad = "--rate";
            }
            break;
        case OPT_CUSTOMERS:
            if (gen_parse_long(optarg, 1, 1000000000L, &o->gen.customers) < 0) {
                bad = "--customers";
            }
            break;
        case OPT_TWO_IDS:
            if (gen_parse_double(optarg, 0, 1, &o->gen.two_ids) < 0) {
                bad = "--two-ids";
            }
            break;
        case OPT_RUN:
            if (!valid_run(optarg)) {
                bad = "--run";
            } else {
                snprintf(o->run, sizeof(o->run), "%s", optarg);
            }
            break;
        case OPT_SEED:
            if (gen_parse_long(optarg, 0, 0x7fffffffL, &v) < 0) {
                bad = "--seed";
            }
            o->gen.seed = (uint64_t)v;
            break;
        case OPT_TIMEOUT:
            if (gen_parse_double(optarg, 0.1, 1e6, &o->timeout_s) < 0) {
                bad = "--timeout";
            }
            break;
        case OPT_IDLE:
            if (gen_parse_long(optarg, 1, 1000000, &o->idle) < 0) {
                bad = "--idle";
            }
            break;
        case OPT_HOLD:
            if (gen_parse_double(optarg, 0, 1e7, &o->hold_s) < 0) {
                bad = "--hold";
            }
            break;
        case 'i':
            if (gen_parse_double(optarg, 0, 1e6, &o->interval_s) < 0) {
                bad = "--interval";
            }
            break;
        case 'q':
            o->interval_s = 0;
            break;
        case OPT_TLS:
            o->tls = true;
            break;
        case OPT_CACERT:
            o->cacert = optarg;
            break;
        case OPT_HTTP_BATCH:
            if (gen_parse_long(optarg, 1, 400, &v) < 0) {
                bad = "--http-batch";
            }
            o->http_batch = (int)v;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "loadgen: bad value for %s: \"%s\"\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loadgen: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    o->gen.run = o->run;
    o->out_cap = OUT_CAP;
    if (o->http_batch > 0) {
        o->window = o->http_batch;
        o->out_cap = (size_t)o->http_batch * GEN_LINE_MAX + 1024;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sockets */

static int resolve(const struct options *o, struct sockaddr_storage *sa, socklen_t *salen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", o->host, o->port, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A non-blocking TCP socket with its connect started; -1 on failure. */
static int start_connect(const struct sockaddr_storage *sa, socklen_t salen)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Waits until every fd's connect finished. fds that failed become -1. Returns how many
 * succeeded. */
static long finish_connects(int *fds, long n, double timeout_s)
{
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    long pending = 0;
    for (long k = 0; k < n; k++) {
        p[k].fd = fds[k];
        p[k].events = POLLOUT;
        pending += fds[k] >= 0;
    }
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    while (pending > 0 && !stop_requested) {
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            break;
        }
        int rc = poll(p, (nfds_t)n, (int)(left / 1000000) + 1);
        if (rc < 0 && errno != EINTR) {
            break;
        }
        for (long k = 0; k < n && rc > 0; k++) {
            if (p[k].fd < 0 || p[k].revents == 0) {
                continue;
            }
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(p[k].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                close(fds[k]);
                fds[k] = -1;
            }
            p[k].fd = -1; /* done either way */
            pending--;
        }
    }
    long ok = 0;
    for (long k = 0; k < n; k++) {
        if (fds[k] >= 0 && p[k].fd >= 0) {
            close(fds[k]); /* timed out */
            fds[k] = -1;
        }
        ok += fds[k] >= 0;
    }
    free(p);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Idle mode: open and hold. */

static int run_idle(const struct options *o, const struct sockaddr_storage *sa, socklen_t salen)
{
    int *fds = malloc((size_t)o->idle * sizeof(*fds));
    struct pollfd *p = calloc((size_t)o->idle, sizeof(*p));
    if (fds == NULL || p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        free(fds);
        free(p);
        return 1;
    }
    int64_t t0 = now_ns();
    long failed = 0, connected = 0;
    int first_errno = 0;
    /* In waves, so that the listen backlog is not flooded. */
    const long wave = 256;
    for (long base = 0; base < o->idle && !stop_requested; base += wave) {
        long n = o->idle - base < wave ? o->idle - base : wave;
        for (long k = 0; k < n; k++) {
            fds[base + k] = start_connect(sa, salen);
            if (fds[base + k] < 0 && first_errno == 0) {
                first_errno = errno;
            }
        }
        long up = finish_connects(fds + base, n, 30);
        if (up < 0) {
            fprintf(stderr, "loadgen: out of memory\n");
            for (long k = 0; k < base + n; k++) {
                if (fds[k] >= 0) {
                    close(fds[k]);
                }
            }
            free(fds);
            free(p);
            return 1;
        }
        connected += up;
        failed += n - up;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    if (failed > 0) {
        fprintf(stderr, "loadgen: %ld connections failed%s%s\n", failed, first_errno ? ": " : "",
                first_errno ? strerror(first_errno) : "");
    }
    printf("loadgen idle ready connected=%ld failed=%ld connect_seconds=%.2f\n", connected, failed,
           secs);
    fflush(stdout);

    long closed = 0;
    for (long k = 0; k < o->idle; k++) {
        p[k].fd = fds[k];
        p[k].events = POLLIN;
    }
    int64_t until = now_ns() + (int64_t)(o->hold_s * 1e9);
    char buf[4096];
    while (!stop_requested && now_ns() < until) {
        int rc = poll(p, (nfds_t)o->idle, 1000);
        if (rc < 0 && errno != EINTR) {
            break;
        }
        for (long k = 0; k < o->idle && rc > 0; k++) {
            if (p[k].fd < 0 || p[k].revents == 0) {
                continue;
            }
            ssize_t got = read(p[k].fd, buf, sizeof(buf));
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                close(p[k].fd);
                p[k].fd = -1;
                fds[k] = -1;
                closed++;
            }
        }
    }
    double held = (double)(now_ns() - t0) / 1e9 - secs;
    for (long k = 0; k < o->idle; k++) {
        if (fds[k] >= 0) {
            close(fds[k]);
        }
    }
    printf("loadgen idle=%ld connected=%ld failed=%ld closed_by_peer=%ld held_s=%.1f\n", o->idle,
           connected, failed, closed, held);
    free(fds);
    free(p);
    return failed == 0 && closed == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Load mode */

static void conn_kill(struct conn *c, struct stats *st, const char *why)
{
    if (c->dead) {
        return;
    }
    if (c->count > 0) {
        fprintf(stderr, "loadgen: connection lost with %u lines unanswered: %s\n", c->count, why);
    }
    st->lost += c->count;
    c->count = c->sent = 0;
    c->out_off = c->out_len = 0;
    c->dead = true;
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
}

/* Appends one generated line; false when there was no room. */
static bool conn_queue_line(struct conn *c, const struct options *o, struct stats *st,
                            struct gen_record *scratch)
{
    if (c->out_off == c->out_len && o->http_batch == 0) {
        c->out_off = c->out_len = 0; /* every slot is written, no offset refers to out */
    }
    if (o->out_cap - c->out_len < GEN_LINE_MAX) {
        return false;
    }
    gen_record(&o->gen, st->issued, scratch);
    size_t n = gen_json(scratch, c->out + c->out_len, o->out_cap - c->out_len);
    if (n == 0) {
        fprintf(stderr, "loadgen: record %ld does not fit in a line\n", st->issued);
        abort();
    }
    c->out_len += n;
    struct slot *s = &c->ring[(c->head + c->count) % (unsigned)o->window];
    s->end = c->out_len;
    s->t_sent = 0;
    c->count++;
    st->issued++;
    return true;
}

/* One SSL_write (write) or SSL_read as write(2)/read(2) would answer: bytes, 0 at the end,
 * or -1 with errno (EAGAIN when TLS waits for the socket). */
static ssize_t tls_io(struct conn *c, void *buf, size_t len, bool write)
{
    int rc = write ? SSL_write(c->ssl, buf, (int)len) : SSL_read(c->ssl, buf, (int)len);
    if (rc > 0) {
        return rc;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        if (errno == 0 || errno == EAGAIN) {
            errno = EPROTO;
        }
        return -1;
    }
}

/* Handshakes every connection (before the clock starts). Returns 0, or -1 after saying why. */
static int tls_start(struct conn *conns, int n, const struct options *o, SSL_CTX **ctxp)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return -1;
    }
    *ctxp = ctx;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->cacert != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1) {
            fprintf(stderr, "loadgen: cannot read %s\n", o->cacert);
            return -1;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    for (int k = 0; k < n; k++) {
        struct conn *c = &conns[k];
        c->ssl = SSL_new(ctx);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            return -1;
        }
        SSL_set_tlsext_host_name(c->ssl, o->host);
        for (;;) {
            int rc = SSL_connect(c->ssl);
            if (rc == 1) {
                break;
            }
            int e = SSL_get_error(c->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                char why[256];
                ERR_error_string_n(ERR_get_error(), why, sizeof(why));
                fprintf(stderr, "loadgen: TLS handshake %d failed: %s\n", k, why);
                return -1;
            }
            struct pollfd p = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
            if (poll(&p, 1, 10000) <= 0) {
                fprintf(stderr, "loadgen: TLS handshake %d timed out\n", k);
                return -1;
            }
        }
    }
    return 0;
}

/* Room kept before an HTTP request's body for its head, written once the body's length is
 * known. */
#define HTTP_HEAD_ROOM 256

/*
 * HTTP: queues one POST of up to o->http_batch records (budget at most) on an idle
 * connection. Returns the records queued.
 */
static long conn_queue_request(struct conn *c, const struct options *o, struct stats *st,
                               struct gen_record *scratch, long budget)
{
    c->out_off = c->out_len = HTTP_HEAD_ROOM;
    long n = 0;
    while (n < o->http_batch && n < budget && conn_queue_line(c, o, st, scratch)) {
        n++;
    }
    char head[HTTP_HEAD_ROOM];
    int hl = snprintf(head, sizeof(head),
                      "POST /v1/interactions HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                      "application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
                      o->host, c->out_len - HTTP_HEAD_ROOM);
    c->out_off = HTTP_HEAD_ROOM - (size_t)hl;
    memcpy(c->out + c->out_off, head, (size_t)hl);
    return n;
}

static void handle_answer(struct conn *c, const struct options *o, struct stats *st,
                          const char *line, size_t len, int64_t t);

/*
 * HTTP: takes a whole response from c->in when one is there: each object of its "results"
 * answers one record in flight, in order; a record without one (an error status) is
 * answered by the response's first line. Returns the bytes consumed, 0 when incomplete.
 */
static size_t take_response(struct conn *c, const struct options *o, struct stats *st, int64_t t)
{
    char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (hend == NULL) {
        return 0;
    }
    size_t hlen = (size_t)(hend - c->in) + 4;
    size_t clen = 0;
    const char *cl = memmem(c->in, hlen, "Content-Length:", 15);
    if (cl != NULL) {
        clen = strtoul(cl + 15, NULL, 10);
    }
    if (c->in_len < hlen + clen) {
        return 0;
    }
    const char *body = c->in + hlen, *end = body + clen;
    const char *p = memmem(body, clen, "{\"ok\":", 6);
    while (p != NULL && c->sent > 0 && !c->dead) {
        const char *next = memmem(p + 6, (size_t)(end - p - 6), "{\"ok\":", 6);
        handle_answer(c, o, st, p, (size_t)((next != NULL ? next : end) - p), t);
        p = next;
    }
    const char *eol = memchr(c->in, '\r', hlen);
    while (c->sent > 0 && !c->dead) {
        handle_answer(c, o, st, c->in, (size_t)(eol - c->in), t);
    }
    return hlen + clen;
}

static void conn_write(struct conn *c, const struct options *o, struct stats *st)
{
    while (c->out_off < c->out_len) {
        ssize_t n = c->ssl != NULL ? tls_io(c, c->out + c->out_off, c->out_len - c->out_off, true)
                                   : write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_kill(c, st, strerror(errno));
            }
            return;
        }
        c->out_off += (size_t)n;
        int64_t t = now_ns();
        if (st->t_start == 0) {
            st->t_start = t;
        }
        while (c->sent < c->count) {
            struct slot *s = &c->ring[(c->head + c->sent) % (unsigned)o->window];
            if (s->end > c->out_off) {
                break;
            }
            s->t_sent = t;
            c->sent++;
        }
    }
}

static void handle_answer(struct conn *c, const struct options *o, struct stats *st,
                          const char *line, size_t len, int64_t t)
{
    if (c->sent == 0) {
        fprintf(stderr, "loadgen: answer to a line not yet sent: %.*s\n", (int)len, line);
        conn_kill(c, st, "protocol error");
        return;
    }
    struct slot *s = &c->ring[c->head];
    int64_t us = (t - s->t_sent) / 1000;
    st->lat_us[st->answered] = us > INT32_MAX ? INT32_MAX : (int32_t)us;
    if (st->lat_us[st->answered] > st->interval_max_us) {
        st->interval_max_us = st->lat_us[st->answered];
    }
    st->answered++;
    c->answered++;
    c->head = (c->head + 1) % (unsigned)o->window;
    c->count--;
    c->sent--;
    st->t_last = t;
    if (len >= 10 && memcmp(line, "{\"ok\":true", 10) == 0) {
        st->ok++;
        if (memmem(line, len, "\"duplicate\":true", 16) != NULL) {
            st->duplicate++;
        }
    } else {
        st->errors++;
        if (st->shown++ < MAX_ERRORS_SHOWN) {
            fprintf(stderr, "loadgen: error answer: %.*s\n", (int)(len > 400 ? 400 : len), line);
        }
    }
}

static void conn_read(struct conn *c, const struct options *o, struct stats *st)
{
    for (;;) {
        ssize_t n = c->ssl != NULL ? tls_io(c, c->in + c->in_len, IN_CAP - c->in_len, false)
                                   : read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_kill(c, st, strerror(errno));
            }
            return;
        }
        if (n == 0) {
            conn_kill(c, st, "closed by the daemon");
            return;
        }
        int64_t t = now_ns();
        c->in_len += (size_t)n;
        char *p = c->in, *end = c->in + c->in_len;
        for (size_t used; o->http_batch > 0 && (used = take_response(c, o, st, t)) > 0;) {
            if (c->dead) {
                return;
            }
            c->in_len -= used;
            memmove(c->in, c->in + used, c->in_len);
            end = c->in + c->in_len;
        }
        for (; o->http_batch == 0;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL) {
                break;
            }
            handle_answer(c, o, st, p, (size_t)(nl - p), t);
            if (c->dead) {
                return;
            }
            p = nl + 1;
        }
        c->in_len = (size_t)(end - p);
        memmove(c->in, p, c->in_len);
        if (c->in_len == IN_CAP) {
            conn_kill(c, st, "answer line too long");
            return;
        }
        if ((size_t)n < IN_CAP / 2) {
            return; /* probably drained; poll again rather than pay a read for EAGAIN */
        }
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int32_t *sorted, long n, double q)
{
    if (n == 0) {
        return 0;
    }
    long k = (long)(q * (double)n + 0.5) - 1;
    if (k < 0) {
        k = 0;
    }
    if (k >= n) {
        k = n - 1;
    }
    return sorted[k] / 1000.0;
}

static int run_load(const struct options *o, const struct sockaddr_storage *sa, socklen_t salen)
{
    int rc = 1;
    int n = o->connections;
    struct conn *conns = calloc((size_t)n, sizeof(*conns));
    SSL_CTX *ctx = NULL;
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    int *fds = calloc((size_t)n, sizeof(*fds));
    struct gen_record *scratch = malloc(sizeof(*scratch));
    struct stats st = {0};
    st.lat_us = malloc((size_t)o->records * sizeof(*st.lat_us));
    if (conns == NULL || pfd == NULL || fds == NULL || scratch == NULL || st.lat_us == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        goto out;
    }
    for (int k = 0; k < n; k++) {
        conns[k].fd = -1;
    }
    for (int k = 0; k < n; k++) {
        conns[k].out = malloc(o->out_cap);
        conns[k].in = malloc(IN_CAP);
        conns[k].ring = calloc((size_t)o->window, sizeof(struct slot));
        if (conns[k].out == NULL || conns[k].in == NULL || conns[k].ring == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            goto out;
        }
        fds[k] = start_connect(sa, salen);
        if (fds[k] < 0) {
            fprintf(stderr, "loadgen: connect %s:%s: %s\n", o->host, o->port, strerror(errno));
            goto out;
        }
        conns[k].fd = fds[k];
    }
    long up = finish_connects(fds, n, 10);
    if (up != n) {
        fprintf(stderr, "loadgen: only %ld of %d connections to %s:%s succeeded\n", up < 0 ? 0 : up,
                n, o->host, o->port);
        for (int k = 0; k < n; k++) {
            conns[k].fd = fds[k];
        }
        goto out;
    }

    if (o->tls && tls_start(conns, n, o, &ctx) < 0) {
        goto out;
    }
    int64_t t_begin = now_ns(), t_progress = t_begin, t_report = t_begin;
    long last_answered = 0, reported = 0;
    unsigned rr = 0;
    for (;;) {
        int live = 0;
        for (int k = 0; k < n; k++) {
            live += !conns[k].dead;
        }
        if (live == 0 || stop_requested) {
            break;
        }
        if (st.answered + st.lost >= o->records) {
            break;
        }

        /* Queue new lines, spread round-robin over the connections. */
        int64_t t = now_ns();
        long budget = o->records - st.issued;
        if (o->rate > 0) {
            long allowed = (long)(o->rate * (double)(t - t_begin) / 1e9) + 1 - st.issued;
            if (allowed < budget) {
                budget = allowed;
            }
        }
        bool progress = true;
        while (budget > 0 && progress) {
            progress = false;
            for (int j = 0; j < n && budget > 0; j++) {
                struct conn *c = &conns[(rr + (unsigned)j) % (unsigned)n];
                if (c->dead || c->count >= (unsigned)o->window) {
                    continue;
                }
                if (o->http_batch > 0) {
                    if (c->count == 0 && c->out_off == c->out_len) {
                        budget -= conn_queue_request(c, o, &st, scratch, budget);
                        progress = true;
                    }
                    continue;
                }
                if (conn_queue_line(c, o, &st, scratch)) {
                    budget--;
                    progress = true;
                }
            }
        }
        rr++;
        for (int k = 0; k < n; k++) {
            if (!conns[k].dead && conns[k].out_off < conns[k].out_len) {
                conn_write(&conns[k], o, &st);
            }
        }

        /* Wait for answers, writability, or the next token of the rate limit. */
        int timeout = 100;
        bool room = false;
        for (int k = 0; k < n; k++) {
            room |= !conns[k].dead && conns[k].count < (unsigned)o->window;
        }
        if (o->rate > 0 && st.issued < o->records && room) {
            /* Whole milliseconds, at least one: a few records per wake-up at high rates
             * rather than a busy loop that would steal a core from the daemon. */
            double due = ((double)(st.issued + 1) / o->rate) * 1e9 - (double)(now_ns() - t_begin);
            int ms = due <= 0 ? 0 : (int)ceil(due / 1e6);
            if (ms < timeout) {
                timeout = ms;
            }
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = &conns[k];
            pfd[k].fd = c->dead ? -1 : c->fd;
            pfd[k].events = (short)(POLLIN | (c->out_off < c->out_len ? POLLOUT : 0));
            pfd[k].revents = 0;
        }
        int pr = poll(pfd, (nfds_t)n, timeout);
        if (pr < 0 && errno != EINTR) {
            fprintf(stderr, "loadgen: poll: %s\n", strerror(errno));
            goto out;
        }
        for (int k = 0; k < n && pr > 0; k++) {
            struct conn *c = &conns[k];
            if (c->dead || pfd[k].revents == 0) {
                continue;
            }
            if (pfd[k].revents & POLLOUT) {
                conn_write(c, o, &st);
            }
            if (!c->dead && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                conn_read(c, o, &st);
            }
        }

        t = now_ns();
        if (st.answered != last_answered) {
            last_answered = st.answered;
            t_progress = t;
        } else if (st.issued > st.answered + st.lost &&
                   (double)(t - t_progress) / 1e9 > o->timeout_s) {
            fprintf(stderr, "loadgen: no answer for %.0f s; giving up\n", o->timeout_s);
            break;
        }
        if (o->interval_s > 0 && (double)(t - t_report) / 1e9 >= o->interval_s) {
            fprintf(stderr,
                    "loadgen: t=%.1fs answered=%ld interval_rate=%.0f interval_max_ms=%.1f "
                    "in_flight=%ld\n",
                    (double)(t - t_begin) / 1e9, st.answered,
                    (double)(st.answered - reported) / ((double)(t - t_report) / 1e9),
                    st.interval_max_us / 1000.0, st.issued - st.answered - st.lost);
            t_report = t;
            reported = st.answered;
            st.interval_max_us = 0;
        }
    }

    long unanswered = o->records - st.answered;
    double secs = st.t_last > st.t_start ? (double)(st.t_last - st.t_start) / 1e9 : 0;
    qsort(st.lat_us, (size_t)st.answered, sizeof(*st.lat_us), cmp_i32);
    char rate_cap[32] = "none";
    if (o->rate > 0) {
        snprintf(rate_cap, sizeof(rate_cap), "%.0f", o->rate);
    }
    printf("loadgen acked=%ld ok=%ld duplicate=%ld errors=%ld unanswered=%ld seconds=%.3f "
           "rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f connections=%d window=%d "
           "rate_cap=%s customers=%ld two_ids=%.2f run=%s\n",
           st.ok, st.ok - st.duplicate, st.duplicate, st.errors, unanswered, secs,
           secs > 0 ? (double)st.ok / secs : 0.0, pct_ms(st.lat_us, st.answered, 0.50),
           pct_ms(st.lat_us, st.answered, 0.99),
           st.answered > 0 ? st.lat_us[st.answered - 1] / 1000.0 : 0.0, n, o->window, rate_cap,
           o->gen.customers, o->gen.two_ids, o->run);
    rc = unanswered == 0 ? 0 : 1;
out:
    if (conns != NULL) {
        for (int k = 0; k < n; k++) {
            SSL_free(conns[k].ssl);
            if (conns[k].fd >= 0) {
                close(conns[k].fd);
            }
            free(conns[k].out);
            free(conns[k].in);
            free(conns[k].ring);
        }
    }
    free(conns);
    SSL_CTX_free(ctx);
    free(pfd);
    free(fds);
    free(scratch);
    free(st.lat_us);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    struct sigaction sa_sig = {.sa_handler = on_signal};
    sigemptyset(&sa_sig.sa_mask);
    sigaction(SIGTERM, &sa_sig, NULL);
    sigaction(SIGINT, &sa_sig, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage sa;
    socklen_t salen;
    if (resolve(&o, &sa, &salen) < 0) {
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    return o.idle > 0 ? run_idle(&o, &sa, salen) : run_load(&o, &sa, salen);
}
