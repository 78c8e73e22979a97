/*
 * TLS on both listeners (docs/security.md, "TLS"), with a CA made by openssl in the test:
 * the right CA is trusted, a wrong CA and a wrong host name are not, mutual TLS refuses a
 * client without a certificate, plaintext to a TLS port and TLS to a plaintext port fail
 * cleanly (no crash, no hang, a log line), SIGHUP swaps the certificate without dropping a
 * connection, and records over TLS are acknowledged as over plaintext.
 */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"

/* A CA, a second (untrusted) one, server certificates for localhost and 127.0.0.1 signed by
 * the first (two, to see a swap), and a client certificate for mutual TLS. */
struct pki {
    char dir[256];
};

static void sh(const char *cmd)
{
    char *out = NULL;
    int st = harness_run(cmd, &out);
    if (st != 0) {
        fail_msg("%s: exit %d\n%s", cmd, st, out != NULL ? out : "");
    }
    free(out);
}

static void make_pki(struct pki *p, const char *name)
{
    snprintf(p->dir, sizeof(p->dir), "%s/touchline-tls-%s-%d", harness_tmp_dir(), name,
             (int)getpid());
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "set -e; rm -rf '%s'; mkdir -p '%s'; cd '%s'; "
             "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
             "openssl req -x509 $key -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
             "2>/dev/null; "
             "openssl req -x509 $key -keyout wrong-ca.key -out wrong-ca.pem -days 2 "
             "-subj /CN=wrong-ca 2>/dev/null; "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' >san.ext; "
             "for n in server server2; do "
             "openssl req $key -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null; "
             "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out $n.pem -days 2 -extfile san.ext 2>/dev/null; done; "
             "openssl req $key -keyout client.key -out client.csr -subj /CN=adapter "
             "2>/dev/null; "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out client.pem -days 2 2>/dev/null; "
             "printf 'subjectAltName=DNS:other.example\\n' >other.ext; "
             "openssl req $key -keyout other.key -out other.csr -subj /CN=other 2>/dev/null; "
             "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out other.pem -days 2 -extfile other.ext 2>/dev/null; "
             "cp server.pem live.pem; cp server.key live.key",
             p->dir, p->dir, p->dir);
    sh(cmd);
}

static void pki_path(const struct pki *p, const char *file, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", p->dir, file);
}

struct tls_daemon {
    struct harness_daemon d;
    char env[6][600];
};

/* Starts a daemon whose listeners serve TLS (tcp, http) with the pki's live certificate. */
static void start_tls(struct tls_daemon *t, const struct pki *p, const char *name, bool tcp,
                      bool http, bool mutual)
{
    snprintf(t->env[0], sizeof(t->env[0]), "TOUCHLINE_TLS_CERT=%s/live.pem", p->dir);
    snprintf(t->env[1], sizeof(t->env[1]), "TOUCHLINE_TLS_KEY=%s/live.key", p->dir);
    snprintf(t->env[2], sizeof(t->env[2]), "TOUCHLINE_TLS_TCP=%s", tcp ? "yes" : "no");
    snprintf(t->env[3], sizeof(t->env[3]), "TOUCHLINE_TLS_HTTP=%s", http ? "yes" : "no");
    snprintf(t->env[4], sizeof(t->env[4]), "TOUCHLINE_TLS_CLIENT_CA=%s%s", mutual ? p->dir : "",
             mutual ? "/ca.pem" : "");
    const char *env[] = {t->env[0], t->env[1], t->env[2], t->env[3], t->env[4], NULL};
    /* With https, harness_start's plaintext /readyz gets no answer: it gives up after a
     * few seconds, and the pool is up by then. */
    harness_start(&t->d, name, env);
}

/* curl with args against the daemon's HTTP port; returns curl's exit status, and the HTTP
 * status in *status (0 when none). */
static int curl(const struct pki *p, const char *args, const char *scheme, const char *host,
                int port, const char *path, int *status)
{
    char url[256], cmd[2048];
    snprintf(url, sizeof(url), "%s://%s:%d%s", scheme, host, port, path);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && curl -sS -o /dev/null -w '%%{http_code}' --max-time 10 %s '%s' 2>&1",
             p->dir, args, url);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    *status = out != NULL ? atoi(out + strspn(out, "\n")) : 0;
    print_message("curl %s %s: exit %d, %s\n", args, url, st, out != NULL ? out : "");
    free(out);
    return st;
}

/* ---- a small blocking TLS client for the TCP protocol ---- */

struct tls_conn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

/* Connects over TLS to 127.0.0.1:port as host (verified against cafile). NULL when the
 * handshake fails. */
static struct tls_conn *tls_connect(const struct pki *p, int port, const char *host,
                                    const char *cafile, bool client_cert)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    char path[512], key[512];
    pki_path(p, cafile, path, sizeof(path));
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, path, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (client_cert) {
        pki_path(p, "client.pem", path, sizeof(path));
        pki_path(p, "client.key", key, sizeof(key));
        assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, path, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    c->fd = harness_connect(port);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, host);
    SSL_set1_host(c->ssl, host);
    int rc = SSL_connect(c->ssl);
    if (rc == 1) {
        /* TLS 1.3: a server that refuses our certificate says so after the handshake;
         * a first read brings its alert in. */
        return c;
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd);
    SSL_CTX_free(c->ctx);
    free(c);
    return NULL;
}

static void tls_close(struct tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->fd);
    SSL_CTX_free(c->ctx);
    free(c);
}

/* Sends line and reads one answer line; NULL when the connection failed or closed. */
static char *tls_roundtrip(struct tls_conn *c, const char *line)
{
    size_t n = strlen(line);
    if (SSL_write(c->ssl, line, (int)n) != (int)n || SSL_write(c->ssl, "\n", 1) != 1) {
        return NULL;
    }
    char buf[4096];
    size_t len = 0;
    while (len + 1 < sizeof(buf)) {
        int r = SSL_read(c->ssl, buf + len, 1);
        if (r <= 0) {
            return NULL;
        }
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return strdup(buf);
        }
        len++;
    }
    return NULL;
}

/* The CN of the certificate the server presented on c. */
static void peer_cn(struct tls_conn *c, char *out, size_t outlen)
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outlen);
    X509_free(x);
}

static const char RECORD[] =
    "{\"source\":\"asterisk-1\",\"external_id\":\"tls-%d\",\"channel\":\"phone\",\"occurred_at\":"
    "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09121119999\"}}";

static void send_record(struct tls_conn *c, int i)
{
    char line[512];
    snprintf(line, sizeof(line), RECORD, i);
    char *a = tls_roundtrip(c, line);
    if (a == NULL || strstr(a, "\"ok\":true") == NULL) {
        fail_msg("record %d over TLS: %s", i, a != NULL ? a : "(connection failed)");
    }
    free(a);
}

/* Runs the client with args (shell words) from the pki's directory; returns its exit status
 * and what it wrote on stderr in *err. */
static int client(const struct pki *p, const char *args, char **err)
{
    char cmd[2048], errpath[300];
    snprintf(errpath, sizeof(errpath), "%s/client.err", p->dir);
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>'%s'", p->dir, getenv("TOUCHLINE_TEST_CLIENT"),
             args, errpath);
    char *out = NULL;
    int st = harness_run(cmd, &out);
    free(out);
    *err = testmain_read_file(errpath, NULL);
    print_message("touchline %s: exit %d, %s\n", args, st, *err != NULL ? *err : "");
    return st;
}

static void https_trusts_the_right_ca_only(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "https");
    struct tls_daemon t;
    start_tls(&t, &p, "tls_https", false, true, false);
    int status;
    assert_int_equal(
        curl(&p, "--cacert ca.pem", "https", "localhost", t.d.http_port, "/healthz", &status), 0);
    assert_int_equal(status, 200);
    /* A CA that did not sign the certificate: curl refuses (60), nothing served. */
    assert_int_equal(
        curl(&p, "--cacert wrong-ca.pem", "https", "localhost", t.d.http_port, "/healthz", &status),
        60);
    /* The right CA, the wrong name. */
    char args[128];
    snprintf(args, sizeof(args), "--cacert ca.pem --resolve db.example.com:%d:127.0.0.1",
             t.d.http_port);
    assert_int_equal(curl(&p, args, "https", "db.example.com", t.d.http_port, "/healthz", &status),
                     60);
    /* TLS only: 1.1 is refused. */
    assert_true(curl(&p, "--cacert ca.pem --tlsv1.1 --tls-max 1.1", "https", "localhost",
                     t.d.http_port, "/healthz", &status) != 0);
    /* Plaintext to the TLS port: refused, logged, and the daemon goes on. */
    assert_true(curl(&p, "", "http", "127.0.0.1", t.d.http_port, "/healthz", &status) != 0 ||
                status != 200);
    assert_true(harness_wait_log(&t.d, "handshake refused", 10000));
    assert_int_equal(
        curl(&p, "--cacert ca.pem", "https", "localhost", t.d.http_port, "/readyz", &status), 0);
    assert_int_equal(status, 200);
    assert_int_equal(harness_stop(&t.d), 0);
}

static void tcp_over_tls_acknowledges_and_refuses_plaintext(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "tcp");
    struct tls_daemon t;
    start_tls(&t, &p, "tls_tcp", true, false, false);
    struct tls_conn *c = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    assert_non_null(c);
    for (int i = 0; i < 5; i++) {
        send_record(c, i);
    }
    tls_close(c);
    /* Wrong CA, wrong name: the client refuses the server. */
    assert_null(tls_connect(&p, t.d.tcp_port, "localhost", "wrong-ca.pem", false));
    assert_null(tls_connect(&p, t.d.tcp_port, "db.example.com", "ca.pem", false));
    /* Plaintext to the TLS port: closed, logged, no answer. */
    int fd = harness_connect(t.d.tcp_port);
    char line[512];
    snprintf(line, sizeof(line), RECORD, 99);
    strcat(line, "\n");
    assert_int_equal(harness_send(fd, line, strlen(line)), 0);
    char *a = harness_read_line(fd, 5000);
    assert_true(a == NULL || strstr(a, "\"ok\"") == NULL);
    free(a);
    close(fd);
    assert_true(harness_wait_log(&t.d, "wrong version number", 10000));
    /* Still serving. */
    c = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    assert_non_null(c);
    send_record(c, 5);
    tls_close(c);
    PGconn *pg = harness_pg(t.d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 6);
    PQfinish(pg);
    assert_int_equal(harness_stop(&t.d), 0);
}

static void tls_client_to_plaintext_ports_fails_cleanly(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "plain");
    struct harness_daemon d;
    harness_start(&d, "tls_plain", NULL);
    assert_null(tls_connect(&p, d.tcp_port, "localhost", "ca.pem", false));
    int status;
    assert_true(
        curl(&p, "--cacert ca.pem", "https", "localhost", d.http_port, "/healthz", &status) != 0);
    /* The client too: a clean failure, exit 3. */
    char args[256], *err = NULL;
    snprintf(args, sizeof(args),
             "--url https://localhost:%d --cacert ca.pem customer show --phone 09121117777",
             d.http_port);
    assert_int_equal(client(&p, args, &err), 3);
    free(err);
    /* The daemon goes on serving plaintext. */
    int fd = harness_connect(d.tcp_port);
    char line[512];
    snprintf(line, sizeof(line), RECORD, 1);
    char *a = harness_roundtrip(fd, line);
    assert_non_null(strstr(a, "\"ok\":true"));
    free(a);
    close(fd);
    assert_int_equal(harness_stop(&d), 0);
}

static void mutual_tls_needs_a_client_certificate(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "mtls");
    struct tls_daemon t;
    start_tls(&t, &p, "tls_mutual", true, true, true);
    /* Without a certificate: the handshake, or the first read after it, fails. */
    struct tls_conn *c = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    if (c != NULL) {
        char line[512];
        snprintf(line, sizeof(line), RECORD, 1);
        char *a = tls_roundtrip(c, line);
        assert_null(a);
        tls_close(c);
    }
    int status;
    assert_true(
        curl(&p, "--cacert ca.pem", "https", "localhost", t.d.http_port, "/healthz", &status) != 0);
    /* With one the CA signed: served. */
    c = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", true);
    assert_non_null(c);
    send_record(c, 2);
    tls_close(c);
    assert_int_equal(curl(&p, "--cacert ca.pem --cert client.pem --key client.key", "https",
                          "localhost", t.d.http_port, "/healthz", &status),
                     0);
    assert_int_equal(status, 200);
    PGconn *pg = harness_pg(t.d.dbname);
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 1);
    PQfinish(pg);
    assert_int_equal(harness_stop(&t.d), 0);
}

static void sighup_swaps_the_certificate_keeping_connections(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "swap");
    struct tls_daemon t;
    start_tls(&t, &p, "tls_swap", true, false, false);
    struct tls_conn *before = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    assert_non_null(before);
    char cn[64];
    peer_cn(before, cn, sizeof(cn));
    assert_string_equal(cn, "server");
    send_record(before, 1);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd '%s' && cp server2.pem live.pem && cp server2.key live.key",
             p.dir);
    sh(cmd);
    assert_int_equal(kill(t.d.pid, SIGHUP), 0);
    assert_true(harness_wait_log(&t.d, "loaded again", 10000));
    struct tls_conn *after = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    assert_non_null(after);
    peer_cn(after, cn, sizeof(cn));
    assert_string_equal(cn, "server2");
    send_record(after, 2);
    /* The connection made before the reload goes on, on the old certificate. */
    send_record(before, 3);
    tls_close(before);
    tls_close(after);
    /* A broken key is refused and the running certificate stays. */
    snprintf(cmd, sizeof(cmd), "cd '%s' && echo broken >live.key", p.dir);
    sh(cmd);
    assert_int_equal(kill(t.d.pid, SIGHUP), 0);
    assert_true(harness_wait_log(&t.d, "keep the certificate they had", 10000));
    after = tls_connect(&p, t.d.tcp_port, "localhost", "ca.pem", false);
    assert_non_null(after);
    send_record(after, 4);
    tls_close(after);
    assert_int_equal(harness_stop(&t.d), 0);
}

/* The client over https:// and tls://: the right CA and name pass, anything else fails with
 * a reason and exit 3. */
static void client_verifies_ca_and_name(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "client");
    struct tls_daemon t;
    start_tls(&t, &p, "tls_client", true, true, false);
    char args[512], *err = NULL;
    snprintf(args, sizeof(args),
             "--cacert ca.pem log --tcp tls://localhost:%d --channel phone --phone 09121117777 "
             "--summary 'over TLS'",
             t.d.tcp_port);
    assert_int_equal(client(&p, args, &err), 0);
    free(err);
    /* After the command too, overriding the one before it. */
    snprintf(args, sizeof(args),
             "--cacert wrong-ca.pem log --tcp tls://localhost:%d --cacert ca.pem --channel phone "
             "--phone 09121117777 --summary 'over TLS, again'",
             t.d.tcp_port);
    assert_int_equal(client(&p, args, &err), 0);
    free(err);
    snprintf(args, sizeof(args),
             "--url https://localhost:%d --cacert ca.pem customer show --phone 09121117777",
             t.d.http_port);
    assert_int_equal(client(&p, args, &err), 0);
    free(err);
    /* A CA that did not sign the server's certificate. */
    snprintf(args, sizeof(args),
             "--cacert wrong-ca.pem customer show --phone 09121117777 --url https://localhost:%d",
             t.d.http_port);
    assert_int_equal(client(&p, args, &err), 3);
    assert_non_null(strstr(err, "not trusted"));
    free(err);
    snprintf(args, sizeof(args),
             "--cacert wrong-ca.pem log --tcp tls://localhost:%d --channel phone --phone "
             "09121117777 --summary 'untrusted'",
             t.d.tcp_port);
    assert_int_equal(client(&p, args, &err), 3);
    assert_non_null(strstr(err, "not trusted"));
    free(err);
    /* A certificate the right CA signed, for another name. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd '%s' && cp other.pem live.pem && cp other.key live.key", p.dir);
    sh(cmd);
    assert_int_equal(kill(t.d.pid, SIGHUP), 0);
    assert_true(harness_wait_log(&t.d, "loaded again", 10000));
    snprintf(args, sizeof(args),
             "--url https://localhost:%d --cacert ca.pem customer show --phone 09121117777",
             t.d.http_port);
    assert_int_equal(client(&p, args, &err), 3);
    assert_non_null(strstr(err, "hostname mismatch"));
    free(err);
    PGconn *pg = harness_pg(t.d.dbname);
    /* The two sent over a trusted connection, and nothing else. */
    assert_int_equal(harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions"), 2);
    PQfinish(pg);
    assert_int_equal(harness_stop(&t.d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_trusts_the_right_ca_only),
        cmocka_unit_test(tcp_over_tls_acknowledges_and_refuses_plaintext),
        cmocka_unit_test(tls_client_to_plaintext_ports_fails_cleanly),
        cmocka_unit_test(mutual_tls_needs_a_client_certificate),
        cmocka_unit_test(sighup_swaps_the_certificate_keeping_connections),
        cmocka_unit_test(client_verifies_ca_and_name),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
