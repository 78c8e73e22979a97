#include "tls.h"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "log.h"

struct tls {
    SSL_CTX *ctx;
};

/* The log of failed handshakes is process-wide: OpenSSL's info callback has no argument of
 * ours but the SSL, and a flood on two listeners shares one budget anyway. */
static struct log_limit handshake_log;

/* Writes the peer of ssl's socket into out ("?" when it has none). */
static void peer_of(const SSL *ssl, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = SSL_get_fd(ssl);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(out, outlen, "%s:%d", host, port);
}

/* A fatal alert we send ends a handshake that failed: say with whom and why. */
static void on_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) == 0 || (where & SSL_CB_WRITE) == 0 ||
        strcmp(SSL_alert_type_string(ret), "F") != 0) {
        return;
    }
    unsigned long suppressed = 0;
    if (!log_limit_allow(&handshake_log, 5, &suppressed)) {
        return;
    }
    char peer[80];
    peer_of(ssl, peer, sizeof(peer));
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    }
    log_warn("tls %s: handshake refused: %s%s%s (plaintext to a TLS port, a certificate "
             "missing or not trusted, or no common protocol; %lu such lines suppressed before)",
             peer, SSL_alert_desc_string_long(ret), reason[0] != '\0' ? ": " : "", reason,
             suppressed);
}

/* The reason of the last OpenSSL error, for messages. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "unknown error");
    } else {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
    return buf;
}

static SSL_CTX *load(const struct tls_params *p, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        errmsg_set(err, errlen, "tls: cannot create a context: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Writes may resume from another buffer address once libevent moved its data. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_info_callback(ctx, on_info);
    if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
        errmsg_set(err, errlen, "[tls] cert %s: %s", p->cert, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) != 1) {
        errmsg_set(err, errlen, "[tls] key %s: %s", p->key, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        errmsg_set(err, errlen, "[tls] key %s does not belong to the certificate %s", p->key,
                   p->cert);
        goto fail;
    }
    if (p->client_ca != NULL && p->client_ca[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->client_ca);
        if (SSL_CTX_load_verify_locations(ctx, p->client_ca, NULL) != 1 || names == NULL) {
            errmsg_set(err, errlen, "[tls] client_ca %s: %s", p->client_ca,
                       ssl_reason(why, sizeof(why)));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_log_failure(struct bufferevent *bev, const char *peer)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    unsigned long suppressed = 0;
    if (e == 0 || !log_limit_allow(&handshake_log, 5, &suppressed)) {
        return;
    }
    char reason[256];
    ERR_error_string_n(e, reason, sizeof(reason));
    log_warn("tls %s: connection refused: %s (plaintext to a TLS port, a certificate missing or "
             "not trusted, or no common protocol; %lu such lines suppressed before)",
             peer, reason, suppressed);
}

struct tls *tls_new(const struct tls_params *p, char *err, size_t errlen)
{
    struct tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = load(p, err, errlen);
    if (t->ctx == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

int tls_reload(struct tls *t, const struct tls_params *p, char *err, size_t errlen)
{
    SSL_CTX *ctx = load(p, err, errlen);
    if (ctx == NULL) {
        return -1;
    }
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    return 0;
}

struct bufferevent *tls_bufferevent(struct tls *t, struct event_base *base, evutil_socket_t fd,
                                    int options)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL) {
        return NULL;
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void tls_free(struct tls *t)
{
    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ctx);
    free(t);
}
