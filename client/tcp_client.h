/*
 * A small blocking client for the daemon's TCP ingest protocol (CONTRACT §3): lines go out,
 * one answer line per line comes back, in order. Lines are pipelined: tcp_client_send only
 * queues a line, and the socket is driven both ways under poll() whenever the queue grows
 * large and at the end, so an import never waits a round trip per record, and answers are
 * read as they arrive (the daemon stops reading a client that leaves its answers unread, so a
 * client that only wrote would stall). Each answer goes to a callback with the number of the
 * line it answers, counted from 1 on this connection, as the daemon counts them.
 *
 * Blocking is all a short-lived command needs; what bounds the wait is timeout_ms without any
 * progress, not a deadline for the whole exchange (an import of a large file may take long).
 * Failures return a negative enum tcp_client_error and write what failed, with the address,
 * into the caller's buffer ("connect to 127.0.0.1:5170: Connection refused").
 */
#ifndef TOUCHLINE_TCP_CLIENT_H
#define TOUCHLINE_TCP_CLIENT_H

#include <stddef.h>

#define TCP_CLIENT_DEFAULT_ADDR "127.0.0.1:5170"
#define TCP_CLIENT_TIMEOUT_MS   30000
/* Longest answer line accepted; the daemon's are a few hundred bytes. */
#define TCP_CLIENT_MAX_ANSWER 65536

enum tcp_client_error {
    TCP_CLIENT_EADDR = -1,     /* the address, or a line to send, is unusable */
    TCP_CLIENT_ERESOLVE = -2,  /* the host name does not resolve */
    TCP_CLIENT_ECONNECT = -3,  /* no address accepted the connection */
    TCP_CLIENT_EIO = -4,       /* sending or receiving failed */
    TCP_CLIENT_ETIMEOUT = -5,  /* nothing moved for timeout_ms */
    TCP_CLIENT_ECLOSED = -6,   /* the daemon closed before answering every line */
    TCP_CLIENT_EPROTOCOL = -7, /* an answer too long, or more answers than lines */
    TCP_CLIENT_ENOMEM = -8,
};

/*
 * Called with each answer line (without its line break; line is borrowed for the call, and
 * NUL-terminated) and the number of the line it answers. Returns 0 to go on, or a negative
 * value to stop: the call that was driving the socket then returns that value.
 */
typedef int (*tcp_client_answer_fn)(const char *line, size_t len, size_t lineno, void *arg);

struct tcp_client;

/*
 * Splits "host:port" ("[v6 address]:port" for IPv6) into host (at most hostlen - 1 bytes) and
 * *port. Returns 0, or TCP_CLIENT_EADDR with err set.
 */
int tcp_client_parse_addr(const char *addr, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen) __attribute__((warn_unused_result));

/*
 * Connects to addr ("host:port", or "tls://host:port" for TLS, the server verified against
 * cacert, NULL for the system's CAs, and by name); fn (with arg) receives the answers.
 * timeout_ms is the longest wait for any progress (0 for TCP_CLIENT_TIMEOUT_MS). Returns 0
 * with *out set (free it with tcp_client_free), or a negative enum tcp_client_error with err
 * set.
 */
int tcp_client_connect(const char *addr, const char *cacert, int timeout_ms,
                       tcp_client_answer_fn fn, void *arg, struct tcp_client **out, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/*
 * Queues one line (len bytes, no line break in it; the '\n' is added) and, when much is
 * queued, moves bytes until less is, handing answers to the callback on the way. Returns 0,
 * what the callback returned when negative, or a negative enum tcp_client_error with err set.
 */
int tcp_client_send(struct tcp_client *c, const char *line, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Sends what is queued, half-closes the connection, and reads until every line sent has its
 * answer. Returns 0, what the callback returned when negative, or a negative enum
 * tcp_client_error with err set (TCP_CLIENT_ECLOSED when the daemon closed first: it does so
 * after an unauthorized answer, or when it stops).
 */
int tcp_client_finish(struct tcp_client *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Sends what is queued and hands over the answers that arrive, without closing: returns 0
 * once every line has its answer or wait_ms has passed (0: what can move now, without
 * waiting), for a client that keeps its connection open and sends as lines come. Returns a
 * negative enum tcp_client_error with err set when the connection fails, or when answers are
 * owed and nothing moved for the connection's timeout_ms (TCP_CLIENT_ETIMEOUT).
 */
int tcp_client_flush(struct tcp_client *c, int wait_ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The connection's socket, to poll for answers beside other descriptors. */
int tcp_client_fd(const struct tcp_client *c);

/* Lines queued so far, and answers received so far. */
size_t tcp_client_sent(const struct tcp_client *c);
size_t tcp_client_answered(const struct tcp_client *c);

/* Closes the connection and frees c; NULL is fine. */
void tcp_client_free(struct tcp_client *c);

#endif
