#include "tlsconn.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "netconn.h"

struct tlsconn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    short want; /* the poll events the last call that could not finish waits for */
};

/*
 * OpenSSL writes with write(2), which raises SIGPIPE on a connection the server closed; the
 * plain sockets use MSG_NOSIGNAL. So SIGPIPE is held back around TLS writes, and one it
 * raised is taken off again: the write fails with EPIPE instead of killing the client.
 */
static void pipe_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void pipe_restore(const sigset_t *old)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) && !sigismember(old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        int saved = errno;
        sigtimedwait(&set, NULL, &zero);
        errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

void tlsconn_free(struct tlsconn *t)
{
    if (t == NULL) {
        return;
    }
    if (t->ssl != NULL) {
        sigset_t old;
        pipe_block(&old);
        SSL_shutdown(t->ssl);
        pipe_restore(&old);
        SSL_free(t->ssl);
    }
    SSL_CTX_free(t->ctx);
    free(t);
}

/*
 * What a failed SSL call (its return rc) means: -1 with errno EAGAIN and t->want set to the
 * poll events to wait for, or another errno (closed: EPIPE or, for reads, 0 returned by the
 * caller); eof_errno is what a silent close of the socket becomes.
 */
static int classify(struct tlsconn *t, int rc, int eof_errno)
{
    switch (SSL_get_error(t->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        t->want = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        t->want = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        errno = 0;
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR) {
            t->want = POLLIN | POLLOUT;
            errno = EAGAIN;
            return -1;
        }
        if (errno == 0) {
            errno = eof_errno;
        }
        return errno == 0 ? 0 : -1;
    default:
        errno = eof_errno != 0 ? eof_errno : EIO;
        return -1;
    }
}

struct tlsconn *tlsconn_start(int fd, const char *host, const char *cafile, long long deadline,
                              char *err, size_t errlen)
{
    struct tlsconn *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    t->fd = fd;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        errmsg_set(err, errlen, "cannot set up TLS");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* A server that closes without close_notify has still said all it had to. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* The TCP client writes from a buffer that may move and grow between tries. */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    int loaded = cafile != NULL && cafile[0] != '\0'
                     ? SSL_CTX_load_verify_locations(t->ctx, cafile, NULL)
                     : SSL_CTX_set_default_verify_paths(t->ctx);
    if (loaded != 1) {
        errmsg_set(err, errlen, "cannot read the CA certificates %s", cafile != NULL ? cafile : "");
        goto fail;
    }
    t->ssl = SSL_new(t->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1 ||
        SSL_set_tlsext_host_name(t->ssl, host) != 1 || SSL_set1_host(t->ssl, host) != 1) {
        errmsg_set(err, errlen, "cannot set up TLS for %s", host);
        goto fail;
    }
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(t->ssl);
        if (rc == 1) {
            return t;
        }
        if (classify(t, rc, EIO) < 0 && errno == EAGAIN) {
            if (netconn_wait(t->fd, t->want, deadline) < 0) {
                errmsg_set(err, errlen, "TLS handshake with %s: %s", host,
                           errno == ETIMEDOUT ? "no answer in time" : strerror(errno));
                goto fail;
            }
            continue;
        }
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK) {
            errmsg_set(err, errlen, "TLS: the certificate of %s is not trusted: %s", host,
                       X509_verify_cert_error_string(v));
        } else {
            unsigned long code = ERR_peek_last_error();
            char reason[256] = "the connection closed during the handshake";
            if (code != 0) {
                ERR_error_string_n(code, reason, sizeof(reason));
            }
            errmsg_set(err, errlen, "TLS handshake with %s failed (does it speak TLS?): %s", host,
                       reason);
        }
        goto fail;
    }
fail:
    tlsconn_free(t);
    return NULL;
}

ssize_t tlsconn_read_now(struct tlsconn *t, void *buf, size_t len)
{
    ERR_clear_error();
    int rc = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return rc > 0 ? rc : classify(t, rc, 0);
}

ssize_t tlsconn_read(struct tlsconn *t, void *buf, size_t len, long long deadline)
{
    for (;;) {
        ssize_t n = tlsconn_read_now(t, buf, len);
        if (n >= 0 || errno != EAGAIN) {
            return n;
        }
        if (netconn_wait(t->fd, t->want, deadline) < 0) {
            return -1;
        }
    }
}

ssize_t tlsconn_write_now(struct tlsconn *t, const void *buf, size_t len)
{
    ERR_clear_error();
    sigset_t old;
    pipe_block(&old);
    int rc = SSL_write(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    pipe_restore(&old);
    if (rc > 0) {
        return rc;
    }
    return classify(t, rc, EPIPE) == 0 ? (errno = EPIPE, -1) : -1;
}

int tlsconn_pending(const struct tlsconn *t)
{
    return SSL_pending(t->ssl);
}

int tlsconn_write(struct tlsconn *t, const void *buf, size_t len, long long deadline)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = tlsconn_write_now(t, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (errno != EAGAIN || netconn_wait(t->fd, t->want, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}
