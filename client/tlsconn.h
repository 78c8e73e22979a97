/*
 * TLS for the client's connections (https:// URLs, and tls:// for the TCP port): OpenSSL on
 * the connected non-blocking socket, every step bounded by the caller's deadline. The server
 * is verified against a CA file (--cacert) or the system's trust store, and by name: its
 * certificate must be for the host the URL names.
 */
#ifndef TOUCHLINE_TLSCONN_H
#define TOUCHLINE_TLSCONN_H

#include <stddef.h>
#include <sys/types.h>

struct tlsconn;

/*
 * Handshakes on fd (connected, non-blocking; borrowed, not closed by tlsconn_free) as a client
 * of host, trusting cafile (NULL or "": the system's store), before deadline (netconn's
 * clock). NULL with err saying why (an untrusted certificate, a name mismatch, a server that
 * does not speak TLS).
 */
struct tlsconn *tlsconn_start(int fd, const char *host, const char *cafile, long long deadline,
                              char *err, size_t errlen);

/* Reads up to len bytes: > 0 bytes, 0 at the end of the stream, -1 with errno (ETIMEDOUT,
 * EIO). Waits until deadline for the first byte. */
ssize_t tlsconn_read(struct tlsconn *t, void *buf, size_t len, long long deadline);

/* Reads what is there without waiting: as tlsconn_read, or -1 with errno EAGAIN. */
ssize_t tlsconn_read_now(struct tlsconn *t, void *buf, size_t len);

/* Writes what it can of len bytes without waiting: bytes written, or -1 with errno (EAGAIN
 * when nothing could go now, EPIPE when the peer is gone). */
ssize_t tlsconn_write_now(struct tlsconn *t, const void *buf, size_t len);

/* Decrypted bytes waiting to be read (that poll cannot see). */
int tlsconn_pending(const struct tlsconn *t);

/* Writes all of len bytes before deadline. Returns 0, or -1 with errno. */
int tlsconn_write(struct tlsconn *t, const void *buf, size_t len, long long deadline);

/* Sends close_notify (without waiting) and frees. NULL is fine. */
void tlsconn_free(struct tlsconn *t);

#endif
