/*
 * TLS for the listeners (OpenSSL through libevent's bufferevent_openssl): one server context
 * built from the configured certificate, key and optional client CA (mutual TLS), TLS 1.2 at
 * least. Reloading builds a new context and swaps it in only when it loaded entirely; a
 * connection keeps the context it started with (SSL objects hold a reference), so a reload
 * drops nothing. Handshake failures (a plaintext client on a TLS port, a client without the
 * certificate mutual TLS wants) are logged with the peer, at most a few lines a second.
 */
#ifndef TOUCHLINED_TLS_H
#define TOUCHLINED_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stddef.h>

struct tls;

struct tls_params {
    const char *cert;      /* PEM certificate chain file */
    const char *key;       /* PEM private key file */
    const char *client_ca; /* PEM CA file clients must present a certificate of; "" or NULL: none */
};

/* Loads the context. NULL with err naming the file and OpenSSL's reason. */
struct tls *tls_new(const struct tls_params *p, char *err, size_t errlen);

/* Builds a new context from p and swaps it in. Returns 0, or -1 with err and the running
 * context kept. */
int tls_reload(struct tls *t, const struct tls_params *p, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * A server-side TLS bufferevent on fd (-1: set later, as evhttp does), accepting; options as
 * bufferevent_socket_new's. A peer that closes without TLS's close_notify is an EOF, not an
 * error. NULL on allocation failure (fd is not closed).
 */
struct bufferevent *tls_bufferevent(struct tls *t, struct event_base *base, evutil_socket_t fd,
                                    int options);

/*
 * Logs why the TLS connection of bev (from peer) failed, with OpenSSL's reason, within the
 * same budget as refused handshakes. For a listener that sees the failure as an event
 * (plaintext sent to a TLS port may get no alert to log). Callable from callbacks.
 */
void tls_log_failure(struct bufferevent *bev, const char *peer);

/* Frees the context; connections still using it keep it alive. NULL is fine. */
void tls_free(struct tls *t);

#endif
