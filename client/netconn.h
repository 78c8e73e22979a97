/*
 * Opening a TCP connection for the client's two protocols (NDJSON lines over TCP, HTTP): every
 * address the host name resolves to, tried in turn with a non-blocking connect, all within one
 * deadline, so that "no answer within N ms" means N ms whatever the name resolves to.
 */
#ifndef TOUCHLINE_NETCONN_H
#define TOUCHLINE_NETCONN_H

#include <stddef.h>

#define NETCONN_ERESOLVE (-1) /* the name did not resolve; err says why */
#define NETCONN_ECONNECT (-2) /* no address took the connection; errno says why */

/* CLOCK_MONOTONIC in milliseconds, the clock of every deadline here. */
long long netconn_now_ms(void);

/* Waits until fd is ready for events (poll's) or the deadline passes. Returns 0, or -1 with
 * errno (ETIMEDOUT when the deadline passed). */
int netconn_wait(int fd, short events, long long deadline);

/*
 * Connects to host:port before deadline. Returns 0 with *fd, a non-blocking socket;
 * NETCONN_ERESOLVE with err filled ("resolve HOST: ..."); or NETCONN_ECONNECT with errno
 * set to the last address's failure (ETIMEDOUT once the deadline passed).
 */
int netconn_open(const char *host, int port, long long deadline, int *fd, char *err, size_t errlen);

#endif
