/*
 * Unit tests of daemon/config: defaults, the INI file, TOUCHLINE_* environment overrides,
 * errors that name file, line and key, derived never_merge identifiers and auth tokens, and
 * that secrets never reach a printout.
 */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "token.h"

/* Every environment variable a test sets; unset before and after each test. */
static const char *const test_env[] = {
    "TOUCHLINE_INGEST_MAX_LINE_BYTES",
    "TOUCHLINE_LISTEN_TCP",
    "TOUCHLINE_AUTH_TOKENS",
    "TOUCHLINE_DATABASE_POOL_SIZE",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(test_env) / sizeof(test_env[0]); i++) {
        unsetenv(test_env[i]);
    }
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* Writes content to a new file in /tmp; returns its path (free it, and unlink the file). */
static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/touchline-test-config-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    return path;
}

static void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* Loads content as a config file and asserts success. */
static void load_ok_at(const char *content, struct config *cfg, int line)
{
    char *path = write_temp(content);
    char err[512] = "";
    int rc = config_load(path, cfg, err, sizeof(err));
    remove_temp(path);
    if (rc != 0) {
        fail_msg("line %d: config_load failed: %s", line, err);
    }
}

/*
 * Loads content as a config file and asserts failure with an error naming "<file>:<err_line>"
 * (err_line > 0), or the file alone (err_line 0), and containing each needle.
 */
static void load_fails_at(const char *content, int err_line, const char *needle1,
                          const char *needle2, int line)
{
    char *path = write_temp(content);
    struct config cfg;
    char err[512] = "";
    int rc = config_load(path, &cfg, err, sizeof(err));
    config_free(&cfg);
    char where[300];
    if (err_line > 0) {
        snprintf(where, sizeof(where), "%s:%d:", path, err_line);
    } else {
        snprintf(where, sizeof(where), "%s", path);
    }
    remove_temp(path);
    if (rc != -1) {
        fail_msg("line %d: config_load accepted a bad file (rc %d)", line, rc);
    }
    if (strstr(err, where) == NULL) {
        fail_msg("line %d: error \"%s\" does not name \"%s\"", line, err, where);
    }
    if (needle1 != NULL && strstr(err, needle1) == NULL) {
        fail_msg("line %d: error \"%s\" does not name \"%s\"", line, err, needle1);
    }
    if (needle2 != NULL && strstr(err, needle2) == NULL) {
        fail_msg("line %d: error \"%s\" does not name \"%s\"", line, err, needle2);
    }
}

#define LOAD_OK(content, cfg) load_ok_at((content), (cfg), __LINE__)
#define LOAD_FAILS(content, err_line, n1, n2)                                                      \
    load_fails_at((content), (err_line), (n1), (n2), __LINE__)

/* config_print into a string (free it). */
static char *print_to_string(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_print(cfg, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    return buf;
}

/* ---- defaults, file, environment ---- */

static void defaults(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    int rc = config_load(NULL, &cfg, err, sizeof(err));
    if (rc != 0) {
        fail_msg("defaults rejected: %s", err);
    }
    assert_null(cfg.path);
    assert_string_equal(cfg.listen_tcp, "127.0.0.1:5170");
    assert_string_equal(cfg.listen_http, "127.0.0.1:8170");
    assert_int_equal(cfg.database_pool_size, 2);
    assert_int_equal(cfg.ingest_max_line_bytes, 65536);
    assert_string_equal(cfg.identity_default_country_code, "98");
    assert_string_equal(cfg.identity_trunk_prefix, "0");
    assert_string_equal(cfg.record_opts.norm.country_code, "98");
    assert_string_equal(cfg.record_opts.norm.trunk_prefix, "0");
    assert_int_equal(cfg.level, LOG_INFO);
    assert_false(auth_enabled(cfg.auth));
    assert_int_equal(cfg.n_never_merge, 0);
    assert_int_equal(cfg.record_opts.n_never_merge, 0);
    config_free(&cfg);
}

static void file_overrides(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("# touchlined test configuration\n"
            "[listen]\n"
            "tcp = 0.0.0.0:6000\n"
            "http = [::1]:9000\n"
            "\n"
            "; database\n"
            "[database]\n"
            "pool_size = 8\n"
            "dsn = host=db user=t password=secret dbname=t\n"
            "\n"
            "[ingest]\n"
            "max_line_bytes = 131072\n"
            "\n"
            "[identity]\n"
            "default_country_code = 966\n"
            "trunk_prefix =\n"
            "\n"
            "[log]\n"
            "level = debug\n"
            "[auth]\n"
            "allow_unauthenticated = yes\n",
            &cfg);
    assert_non_null(cfg.path);
    assert_string_equal(cfg.listen_tcp, "0.0.0.0:6000");
    assert_string_equal(cfg.listen_http, "[::1]:9000");
    assert_int_equal(cfg.database_pool_size, 8);
    assert_string_equal(cfg.database_dsn, "host=db user=t password=secret dbname=t");
    assert_int_equal(cfg.ingest_max_line_bytes, 131072);
    assert_string_equal(cfg.identity_default_country_code, "966");
    assert_string_equal(cfg.record_opts.norm.country_code, "966");
    assert_string_equal(cfg.record_opts.norm.trunk_prefix, "");
    assert_int_equal(cfg.level, LOG_DEBUG);
    /* Keys not in the file keep their defaults. */
    assert_int_equal(cfg.database_connect_timeout_s, 10);
    assert_int_equal(cfg.ingest_batch_max_records, 1000);
    config_free(&cfg);
}

static void environment_wins_over_file(void **state)
{
    (void)state;
    assert_int_equal(setenv("TOUCHLINE_INGEST_MAX_LINE_BYTES", "2048", 1), 0);
    assert_int_equal(setenv("TOUCHLINE_LISTEN_TCP", "127.0.0.1:7000", 1), 0);
    struct config cfg;
    LOAD_OK("[listen]\ntcp = 0.0.0.0:6000\nhttp = 0.0.0.0:6001\n"
            "[ingest]\nmax_line_bytes = 131072\n[auth]\nallow_unauthenticated = on\n",
            &cfg);
    assert_int_equal(cfg.ingest_max_line_bytes, 2048);
    assert_string_equal(cfg.listen_tcp, "127.0.0.1:7000");
    /* Not overridden: the file's value. */
    assert_string_equal(cfg.listen_http, "0.0.0.0:6001");
    config_free(&cfg);

    /* Without a file, over the defaults. */
    char err[512] = "";
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.ingest_max_line_bytes, 2048);
    assert_string_equal(cfg.listen_tcp, "127.0.0.1:7000");
    config_free(&cfg);

    unsetenv("TOUCHLINE_INGEST_MAX_LINE_BYTES");
    unsetenv("TOUCHLINE_LISTEN_TCP");
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.ingest_max_line_bytes, 65536);
    assert_string_equal(cfg.listen_tcp, "127.0.0.1:5170");
    config_free(&cfg);
}

static void environment_errors_name_variable(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(setenv("TOUCHLINE_INGEST_MAX_LINE_BYTES", "lots", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    assert_non_null(strstr(err, "TOUCHLINE_INGEST_MAX_LINE_BYTES"));

    assert_int_equal(setenv("TOUCHLINE_INGEST_MAX_LINE_BYTES", "10", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    assert_non_null(strstr(err, "TOUCHLINE_INGEST_MAX_LINE_BYTES"));
    unsetenv("TOUCHLINE_INGEST_MAX_LINE_BYTES");

    assert_int_equal(setenv("TOUCHLINE_LISTEN_TCP", "nowhere", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    assert_non_null(strstr(err, "tcp"));
    assert_non_null(strstr(err, "nowhere"));
}

static void missing_file(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(config_load("/nonexistent/touchlined.conf", &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    assert_non_null(strstr(err, "/nonexistent/touchlined.conf"));
}

/* ---- errors naming file:line and key ---- */

static void error_unknown_key(void **state)
{
    (void)state;
    LOAD_FAILS("[ingest]\nmax_line_bytes = 2048\nmax_line_byte = 2048\n", 3, "max_line_byte", NULL);
}

static void error_unknown_section(void **state)
{
    (void)state;
    LOAD_FAILS("[listen]\ntcp = 127.0.0.1:1\n\n[nosuch]\nfoo = 1\n", 5, "foo", "nosuch");
    /* A known key in the wrong section is unknown there. */
    LOAD_FAILS("[database]\ntcp = 127.0.0.1:1\n", 2, "tcp", "database");
}

static void error_not_an_integer(void **state)
{
    (void)state;
    LOAD_FAILS("[database]\npool_size = two\n", 2, "pool_size", "two");
    LOAD_FAILS("[database]\n\npool_size = 3x\n", 3, "pool_size", NULL);
    LOAD_FAILS("[database]\npool_size =\n", 2, "pool_size", NULL);
    LOAD_FAILS("[database]\npool_size = 99999999999999999999999\n", 2, "pool_size", NULL);
}

static void error_out_of_range(void **state)
{
    (void)state;
    LOAD_FAILS("[database]\npool_size = 0\n", 2, "pool_size", NULL);
    LOAD_FAILS("[database]\npool_size = 65\n", 2, "pool_size", NULL);
    LOAD_FAILS("[database]\npool_size = -1\n", 2, "pool_size", NULL);
    LOAD_FAILS("[ingest]\nmax_line_bytes = 100\n", 2, "max_line_bytes", NULL);

    struct config cfg;
    LOAD_OK("[database]\npool_size = 64\n", &cfg);
    assert_int_equal(cfg.database_pool_size, 64);
    config_free(&cfg);
    LOAD_OK("[database]\npool_size = 1\n", &cfg);
    assert_int_equal(cfg.database_pool_size, 1);
    config_free(&cfg);
}

static void error_key_set_twice(void **state)
{
    (void)state;
    LOAD_FAILS("[database]\npool_size = 2\npool_size = 3\n", 3, "pool_size", NULL);
    LOAD_FAILS("[listen]\ntcp = 127.0.0.1:1\n[ingest]\nmax_line_bytes = 2048\n[listen]\n"
               "tcp = 127.0.0.1:2\n",
               6, "tcp", NULL);
}

static void error_not_ini(void **state)
{
    (void)state;
    LOAD_FAILS("[listen]\ntcp = 127.0.0.1:1\nthis is not ini\n", 3, NULL, NULL);
}

static void error_bad_listen(void **state)
{
    (void)state;
    LOAD_FAILS("[listen]\ntcp = localhost\n", 0, "tcp", "localhost");
    LOAD_FAILS("[listen]\ntcp = 127.0.0.1:99999\n", 0, "tcp", NULL);
    LOAD_FAILS("[listen]\ntcp = 127.0.0.1:port\n", 0, "tcp", NULL);
    LOAD_FAILS("[listen]\nhttp = :8170\n", 0, "http", NULL);
    LOAD_FAILS("[listen]\nhttp = [::1\n", 0, "http", NULL);
}

static void split_listen(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    assert_int_equal(config_split_listen("127.0.0.1:5170", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 5170);
    assert_int_equal(config_split_listen("[::1]:8170", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8170);
    assert_int_equal(config_split_listen("localhost:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 80);
    assert_int_equal(config_split_listen("localhost", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen("localhost:", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen(":80", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen("h:65536", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen("h:-1", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen("[::1]8170", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_listen("[::1:8170", host, sizeof(host), &port), -1);
    /* A host that does not fit the buffer is an error, not a truncation. */
    assert_int_equal(config_split_listen("averyveryverylonghostname:1", host, 8, &port), -1);
}

static void error_bad_log_level(void **state)
{
    (void)state;
    LOAD_FAILS("[log]\nlevel = verbose\n", 0, "level", "verbose");
    static const struct {
        const char *name;
        enum log_level level;
    } levels[] = {
        {"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof(text), "[log]\nlevel = %s\n", levels[i].name);
        struct config cfg;
        LOAD_OK(text, &cfg);
        assert_int_equal(cfg.level, levels[i].level);
        config_free(&cfg);
    }
}

static void error_bad_identity(void **state)
{
    (void)state;
    LOAD_FAILS("[identity]\ndefault_country_code = +98\n", 0, "default_country_code", NULL);
    LOAD_FAILS("[identity]\ntrunk_prefix = x\n", 0, "trunk_prefix", NULL);
}

/* ---- never_merge ---- */

static void never_merge_normalized(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("[identity]\n"
            "never_merge = phone:0912 345 6789\n"
            "never_merge = email:Info@Shop.IR, chat:Telegram:@ShopBot\n",
            &cfg);
    assert_int_equal(cfg.n_never_merge, 3);
    assert_string_equal(cfg.never_merge[0], "phone:+989123456789");
    assert_string_equal(cfg.never_merge[1], "email:info@shop.ir");
    assert_string_equal(cfg.never_merge[2], "chat:telegram:@ShopBot");
    assert_int_equal(cfg.record_opts.n_never_merge, 3);
    assert_ptr_equal(cfg.record_opts.never_merge, cfg.never_merge);

    /* The record parser sees them through record_opts. */
    const char *line = "{\"source\":\"pbx\",\"channel\":\"phone\",\"occurred_at\":"
                       "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":[\"۰۹۱۲ ۳۴۵ ۶۷۸۹\","
                       "\"+989121112233\"]}}";
    struct record *rec = NULL;
    char msg[RECORD_MSG_MAX] = "";
    int rc = record_parse(line, strlen(line), &cfg.record_opts, &rec, msg, sizeof(msg));
    if (rc != RECORD_OK) {
        fail_msg("record rejected: %s", msg);
    }
    assert_int_equal(rec->n_idents, 2);
    for (size_t i = 0; i < rec->n_idents; i++) {
        bool shared = strcmp(rec->idents[i].value, "+989123456789") == 0;
        assert_int_equal(rec->idents[i].never_merge, shared);
    }
    record_free(rec);
    config_free(&cfg);
}

static void never_merge_uses_configured_country(void **state)
{
    (void)state;
    struct config cfg;
    /* The country code comes after never_merge in the file: order must not matter. */
    LOAD_OK("[identity]\nnever_merge = phone:050 123 4567\ndefault_country_code = 966\n", &cfg);
    assert_int_equal(cfg.n_never_merge, 1);
    assert_string_equal(cfg.never_merge[0], "phone:+966501234567");
    config_free(&cfg);
}

static void never_merge_errors(void **state)
{
    (void)state;
    LOAD_FAILS("[identity]\nnever_merge = phone:12\n", 0, "never_merge", NULL);
    LOAD_FAILS("[identity]\nnever_merge = fax:+982188776655\n", 0, "never_merge", "fax");
    LOAD_FAILS("[identity]\nnever_merge = info@shop.ir\n", 0, "never_merge", NULL);
    LOAD_FAILS("[identity]\nnever_merge = email:info.shop.ir\n", 0, "never_merge", NULL);
}

/* ---- principals and tokens ---- */

/* A token's hash as the config writes it. */
static const char *hash_of(const char *token, char out[TOKEN_HASH_TEXT])
{
    token_hash_text(token, strlen(token), out);
    return out;
}

static void principals_parsed(void **state)
{
    (void)state;
    char h1[TOKEN_HASH_TEXT], h2[TOKEN_HASH_TEXT], h3[TOKEN_HASH_TEXT], text[1024];
    snprintf(text, sizeof(text),
             "[auth]\n"
             "principal = asterisk scopes=ingest channels=phone sources=asterisk-*|pbx "
             "token=%s\n"
             "principal = asterisk token=%s\n"
             "principal = agents scopes=read|admin token=%s rate=5 read_rate=20\n",
             hash_of("tl_asterisk-old-token", h1), hash_of("tl_asterisk-new-token", h2),
             hash_of("tl_agents-token-1", h3));
    struct config cfg;
    LOAD_OK(text, &cfg);
    assert_int_equal(auth_count(cfg.auth), 2);
    assert_false(auth_has_legacy(cfg.auth));
    /* Both tokens of a principal (rotation) name it; nothing else does. */
    struct auth_principal *p = auth_check_token(cfg.auth, "tl_asterisk-old-token");
    assert_non_null(p);
    assert_string_equal(auth_principal_name(p), "asterisk");
    assert_ptr_equal(auth_check_token(cfg.auth, "tl_asterisk-new-token"), p);
    assert_null(auth_check_token(cfg.auth, "tl_asterisk-new-toke"));
    assert_null(auth_check_token(cfg.auth, "TL_ASTERISK-NEW-TOKEN"));
    assert_null(auth_check_token(cfg.auth, ""));
    assert_null(auth_check_token(cfg.auth, h1)); /* the hash is not a token */
    assert_null(auth_check_token(cfg.auth, "asterisk"));
    assert_true(auth_principal_may(p, AUTH_INGEST));
    assert_false(auth_principal_may(p, AUTH_READ));
    assert_false(auth_principal_may(p, AUTH_ADMIN));
    char why[200];
    assert_true(auth_principal_may_write(p, "phone", "asterisk-tehran-1", why, sizeof(why)));
    assert_true(auth_principal_may_write(p, "phone", "pbx", why, sizeof(why)));
    assert_false(auth_principal_may_write(p, "sms", "asterisk-tehran-1", why, sizeof(why)));
    assert_non_null(strstr(why, "channel"));
    assert_false(auth_principal_may_write(p, "phone", "pbx2", why, sizeof(why)));
    assert_non_null(strstr(why, "source"));
    assert_false(auth_principal_may_write(p, "phone", "my-asterisk-1", why, sizeof(why)));

    struct auth_principal *a = auth_check_token(cfg.auth, "tl_agents-token-1");
    assert_non_null(a);
    assert_string_equal(auth_principal_name(a), "agents");
    assert_true(auth_principal_may(a, AUTH_READ));
    assert_true(auth_principal_may(a, AUTH_ADMIN));
    assert_false(auth_principal_may_write(a, "phone", "pbx", why, sizeof(why)));
    assert_non_null(strstr(why, "ingest"));
    assert_ptr_equal(auth_find_principal(cfg.auth, "agents"), a);
    assert_null(auth_find_principal(cfg.auth, "nobody"));

    /* A reference outlives the table, as a connection's does across a reload. */
    struct auth_principal *kept = auth_principal_ref(p);
    config_free(&cfg);
    assert_string_equal(auth_principal_name(kept), "asterisk");
    auth_principal_unref(kept);
}

static void principal_errors(void **state)
{
    (void)state;
    char h[TOKEN_HASH_TEXT], text[512];
    hash_of("tl_some-token-123", h);
    /* A token in clear where its hash belongs: refused, pointing at --hash-token. */
    LOAD_FAILS("[auth]\nprincipal = pbx scopes=ingest token=tl_some-token-123\n", 0, "--hash-token",
               "pbx");
    snprintf(text, sizeof(text), "[auth]\nprincipal = pbx token=%s\n", h);
    LOAD_FAILS(text, 0, "scopes", "pbx");
    LOAD_FAILS("[auth]\nprincipal = pbx scopes=ingest\n", 0, "token", "pbx");
    snprintf(text, sizeof(text), "[auth]\nprincipal = pbx scopes=write token=%s\n", h);
    LOAD_FAILS(text, 0, "scopes", "ingest, read, admin");
    snprintf(text, sizeof(text), "[auth]\nprincipal = pbx scopes=ingest channels=fax token=%s\n",
             h);
    LOAD_FAILS(text, 0, "channels", NULL);
    snprintf(text, sizeof(text), "[auth]\nprincipal = pbx scopes=ingest colour=red token=%s\n", h);
    LOAD_FAILS(text, 0, "colour", NULL);
    snprintf(text, sizeof(text), "[auth]\nprincipal = pbx scopes=ingest rate=-1 token=%s\n", h);
    LOAD_FAILS(text, 0, "rate", NULL);
    snprintf(text, sizeof(text),
             "[auth]\nprincipal = pbx scopes=ingest token=%s\nprincipal = pbx scopes=read "
             "token=%s\n",
             h, h);
    LOAD_FAILS(text, 0, "twice", "pbx");
    snprintf(text, sizeof(text),
             "[auth]\nprincipal = pbx scopes=ingest token=%s\nprincipal = pbx sources=x "
             "token=%s\n",
             h, h);
    LOAD_FAILS(text, 0, "only add token=", "pbx");
    snprintf(text, sizeof(text), "[auth]\nprincipal = p/x scopes=ingest token=%s\n", h);
    LOAD_FAILS(text, 0, "name", NULL);
}

/* The older [auth] tokens still work: hashed on load, every scope, source patterns. */
static void legacy_tokens(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("[auth]\n"
            "tokens = asterisk:s3cret-ast-token:asterisk-*|twilio, web:web-write-key-123\n"
            "tokens = crm:12345678\n",
            &cfg);
    assert_int_equal(auth_count(cfg.auth), 3);
    assert_true(auth_has_legacy(cfg.auth));
    struct auth_principal *p = auth_check_token(cfg.auth, "s3cret-ast-token");
    assert_non_null(p);
    assert_string_equal(auth_principal_name(p), "asterisk");
    assert_true(auth_principal_may(p, AUTH_READ));
    assert_true(auth_principal_may(p, AUTH_ADMIN));
    char why[200];
    assert_true(auth_principal_may_write(p, "phone", "asterisk-tehran-1", why, sizeof(why)));
    assert_true(auth_principal_may_write(p, "sms", "twilio", why, sizeof(why)));
    assert_false(auth_principal_may_write(p, "sms", "twilio-2", why, sizeof(why)));
    assert_false(auth_principal_may_write(p, "phone", "asterisk", why, sizeof(why)));
    p = auth_check_token(cfg.auth, "web-write-key-123");
    assert_non_null(p);
    assert_true(auth_principal_may_write(p, "web", "anything.at:all", why, sizeof(why)));
    assert_string_equal(auth_principal_name(auth_check_token(cfg.auth, "12345678")), "crm");
    config_free(&cfg);

    assert_int_equal(setenv("TOUCHLINE_AUTH_TOKENS", "ops:env-token-0001", 1), 0);
    LOAD_OK("[auth]\ntokens = file:file-token-0001\n", &cfg);
    assert_int_equal(auth_count(cfg.auth), 1);
    assert_non_null(auth_check_token(cfg.auth, "env-token-0001"));
    assert_null(auth_check_token(cfg.auth, "file-token-0001"));
    config_free(&cfg);
    unsetenv("TOUCHLINE_AUTH_TOKENS");

    LOAD_FAILS("[auth]\ntokens = ops:1234567\n", 0, "tokens", "ops");
    LOAD_FAILS("[auth]\ntokens = ops\n", 0, "tokens", NULL);
    LOAD_FAILS("[auth]\ntokens = :secret-secret\n", 0, "tokens", NULL);
    LOAD_FAILS("[auth]\ntokens = ops:\n", 0, "tokens", NULL);
}

static void new_tokens_are_random_and_hash(void **state)
{
    (void)state;
    char a[TOKEN_TEXT_MAX], b[TOKEN_TEXT_MAX], ha[TOKEN_HASH_TEXT];
    assert_int_equal(token_new(a), 0);
    assert_int_equal(token_new(b), 0);
    assert_string_not_equal(a, b);
    /* "tl_" and 43 base64url characters: 256 random bits. */
    assert_int_equal(strlen(a), 46);
    assert_int_equal(
        strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    token_hash_text("abc", 3, ha);
    assert_string_equal(ha,
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char raw[TOKEN_HASH_LEN];
    assert_int_equal(token_parse_hash(ha, raw), 0);
    assert_int_equal(raw[0], 0xba);
    assert_int_equal(token_parse_hash("sha256:ba78", raw), -1);
    assert_int_equal(token_parse_hash("md5:ba7816bf8f01cfea414140de5dae2223", raw), -1);
}

/* No principal on an address other than loopback: refused unless allowed explicitly. */
static void auth_required_off_loopback(void **state)
{
    (void)state;
    LOAD_FAILS("[listen]\ntcp = 0.0.0.0:5170\n", 0, "allow_unauthenticated", "0.0.0.0:5170");
    LOAD_FAILS("[listen]\nhttp = [2001:db8::1]:8170\n", 0, "allow_unauthenticated", "http");
    struct config cfg;
    LOAD_OK("[listen]\ntcp = [::1]:5170\nhttp = localhost:8170\n", &cfg);
    config_free(&cfg);
    LOAD_OK("[listen]\ntcp = 0.0.0.0:5170\n[auth]\nallow_unauthenticated = yes\n", &cfg);
    assert_true(cfg.auth_allow_unauthenticated);
    config_free(&cfg);
    LOAD_OK("[listen]\ntcp = 0.0.0.0:5170\n[auth]\ntokens = pbx:pbx-token-123\n", &cfg);
    config_free(&cfg);
    LOAD_FAILS("[auth]\nallow_unauthenticated = maybe\n", 2, "yes or no", NULL);
    assert_true(config_host_is_loopback("127.0.0.2"));
    assert_false(config_host_is_loopback("10.0.0.1"));
    assert_false(config_host_is_loopback("db.example.com"));
}

/* A misspelled TOUCHLINE_ variable is an error naming the nearest option. */
static void unknown_environment_variable(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(setenv("TOUCHLINE_AUTH_TOKEN", "ops:env-token-0001", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    unsetenv("TOUCHLINE_AUTH_TOKEN");
    assert_non_null(strstr(err, "TOUCHLINE_AUTH_TOKEN "));
    assert_non_null(strstr(err, "did you mean TOUCHLINE_AUTH_TOKENS?"));

    assert_int_equal(setenv("TOUCHLINE_DATABSE_DSN", "dbname=x", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    unsetenv("TOUCHLINE_DATABSE_DSN");
    assert_non_null(strstr(err, "did you mean TOUCHLINE_DATABASE_DSN?"));

    /* The client's and the tools' variables are not the daemon's business. */
    assert_int_equal(setenv("TOUCHLINE_URL", "http://x", 1), 0);
    assert_int_equal(setenv("TOUCHLINE_TEST_SOMETHING", "1", 1), 0);
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), 0);
    config_free(&cfg);
    unsetenv("TOUCHLINE_URL");
    unsetenv("TOUCHLINE_TEST_SOMETHING");
}

/* --check-config says where each value came from, and never shows a token or its hash. */
static void print_shows_origins(void **state)
{
    (void)state;
    char h[TOKEN_HASH_TEXT], text[512];
    hash_of("tl_reader-token-1", h);
    snprintf(text, sizeof(text),
             "[database]\npool_size = 3\n[auth]\nprincipal = reader scopes=read token=%s\n", h);
    assert_int_equal(setenv("TOUCHLINE_INGEST_MAX_LINE_BYTES", "2048", 1), 0);
    struct config cfg;
    LOAD_OK(text, &cfg);
    char *out = print_to_string(&cfg);
    assert_non_null(strstr(out, "pool_size = 3  ; file "));
    assert_non_null(strstr(out, "max_line_bytes = 2048  ; environment "
                                "TOUCHLINE_INGEST_MAX_LINE_BYTES"));
    assert_non_null(strstr(out, "tcp = 127.0.0.1:5170  ; default"));
    assert_non_null(strstr(out, "principal = reader scopes=read token=sha256:"));
    assert_null(strstr(out, "tl_reader-token-1"));
    assert_null(strstr(out, h + 12)); /* not even most of the hash */
    free(out);
    config_free(&cfg);
}

/* ---- secrets ---- */

static void check_mask(const char *dsn, const char *expected, int line)
{
    char out[512];
    memset(out, 'X', sizeof(out));
    config_mask_dsn(dsn, out, sizeof(out));
    if (strcmp(out, expected) != 0) {
        fail_msg("line %d: \"%s\" masked as \"%s\", expected \"%s\"", line, dsn, out, expected);
    }
}

#define MASK(dsn, expected) check_mask((dsn), (expected), __LINE__)

static void mask_dsn_keyword_form(void **state)
{
    (void)state;
    MASK("host=db user=u password=secret dbname=t", "host=db user=u password=*** dbname=t");
    MASK("password=secret", "password=***");
    MASK("password = secret host=db", "password=*** host=db");
    MASK("host=db password='se cret \\' x' dbname=t", "host=db password=*** dbname=t");
    MASK("host=db dbname=t", "host=db dbname=t");
    MASK("", "");
}

static void mask_dsn_uri_form(void **state)
{
    (void)state;
    MASK("postgresql://u:secret@h/db", "postgresql://u:***@h/db");
    MASK("postgres://u:secret@h:5432/db?sslmode=require",
         "postgres://u:***@h:5432/db?sslmode=require");
    MASK("postgresql://u@h/db", "postgresql://u@h/db");
    MASK("postgresql://h/db", "postgresql://h/db");
}

/* libpq also takes the password as a URI query parameter; it must not leak either. */
static void mask_dsn_uri_query_password(void **state)
{
    (void)state;
    char out[512];
    config_mask_dsn("postgresql://u@h/db?password=secret&sslmode=require", out, sizeof(out));
    if (strstr(out, "secret") != NULL) {
        fail_msg("password leaked: \"%s\"", out);
    }
    assert_non_null(strstr(out, "sslmode=require"));
    config_mask_dsn("postgresql://h/db?sslmode=require&password=secret", out, sizeof(out));
    if (strstr(out, "secret") != NULL) {
        fail_msg("password leaked: \"%s\"", out);
    }
}

/* Forms libpq reads that a textual mask could miss (found by fuzz/fuzz_config.c). */
static void mask_dsn_forms_only_libpq_knows(void **state)
{
    (void)state;
    static const char *const dsns[] = {
        "host=db\tpassword=topsecret9",          "password\n=topsecret9 host=db",
        "user='a b'password=topsecret9",         "postgresql://h/db?pass%77ord=topsecret9",
        "host=db password=top&secret9 dbname=t", "host=db password=topsecret9 password=x",
    };
    char out[512];
    for (size_t i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        config_mask_dsn(dsns[i], out, sizeof(out));
        if (strstr(out, "topsecret9") != NULL || strstr(out, "top&secret9") != NULL) {
            fail_msg("password leaked from \"%s\": \"%s\"", dsns[i], out);
        }
    }
    /* What libpq cannot read is not shown at all. */
    config_mask_dsn("host='unterminated password=topsecret9", out, sizeof(out));
    assert_null(strstr(out, "topsecret9"));
}

static void mask_dsn_small_buffer(void **state)
{
    (void)state;
    char out[16];
    for (size_t n = 1; n <= sizeof(out); n++) {
        memset(out, 'X', sizeof(out));
        config_mask_dsn("host=db password=secret", out, n);
        assert_true(strlen(out) < n);
        assert_null(strstr(out, "secret"));
        memset(out, 'X', sizeof(out));
        config_mask_dsn("postgresql://u:secret@h/db", out, n);
        assert_true(strlen(out) < n);
        assert_null(strstr(out, "secret"));
    }
}

static void print_hides_secrets(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("[database]\ndsn = host=db user=t password=pg-secret-pw dbname=t\n"
            "[auth]\ntokens = asterisk:s3cret-ast-token:asterisk-*|twilio, "
            "web:web-write-key-123\n",
            &cfg);
    char *text = print_to_string(&cfg);
    assert_null(strstr(text, "pg-secret-pw"));
    assert_null(strstr(text, "s3cret-ast-token"));
    assert_null(strstr(text, "web-write-key-123"));
    assert_non_null(strstr(text, "password=***"));
    assert_non_null(strstr(text, "asterisk"));
    assert_non_null(strstr(text, "tcp = 127.0.0.1:5170"));
    assert_non_null(strstr(text, "max_line_bytes = 65536"));
    free(text);
    config_free(&cfg);

    LOAD_OK("[database]\ndsn = postgresql://touchline:pg-secret-pw@db.internal/touchline\n", &cfg);
    text = print_to_string(&cfg);
    assert_null(strstr(text, "pg-secret-pw"));
    assert_non_null(strstr(text, "postgresql://touchline:***@db.internal/touchline"));
    free(text);
    config_free(&cfg);
}

static void print_round_trips(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("[listen]\ntcp = 0.0.0.0:6000\n[database]\npool_size = 5\n"
            "[auth]\nallow_unauthenticated = yes\n"
            "[identity]\nnever_merge = phone:0912 345 6789\n",
            &cfg);
    char *text = print_to_string(&cfg);
    config_free(&cfg);
    /* The printout (without secrets) is itself a valid configuration with the same values. */
    LOAD_OK(text, &cfg);
    free(text);
    assert_string_equal(cfg.listen_tcp, "0.0.0.0:6000");
    assert_int_equal(cfg.database_pool_size, 5);
    assert_int_equal(cfg.n_never_merge, 1);
    assert_string_equal(cfg.never_merge[0], "phone:+989123456789");
    config_free(&cfg);
}

static void free_is_idempotent(void **state)
{
    (void)state;
    struct config cfg;
    char err[512];
    assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), 0);
    config_free(&cfg);
    config_free(&cfg);
    config_free(NULL);
}

/* ---- merge protection ---- */

static void identity_limits_priority_and_patterns(void **state)
{
    (void)state;
    struct config cfg;
    LOAD_OK("[identity]\nmax_phone = 5\nmax_web = 20\npriority = phone, web\n"
            "never_merge = email:^noreply@, phone:021 8800 1234\n",
            &cfg);
    assert_int_equal(cfg.identity_max[IDENT_PHONE], 5);
    assert_int_equal(cfg.identity_max[IDENT_WEB], 20);
    assert_int_equal(cfg.identity_max[IDENT_EMAIL], 0);
    /* Those it leaves out follow in the default order. */
    static const enum ident_kind want[IDENT_KIND_COUNT] = {IDENT_PHONE, IDENT_WEB, IDENT_EXTERNAL,
                                                           IDENT_EMAIL, IDENT_CHAT};
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        assert_int_equal(cfg.priority[k], want[k]);
    }
    assert_int_equal(cfg.n_never_merge, 1);
    assert_int_equal(cfg.n_never_merge_patterns, 1);
    assert_int_equal(regexec(&cfg.never_merge_patterns[0].re, "noreply@shop.ir", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&cfg.never_merge_patterns[0].re, "a.noreply@shop.ir", 0, NULL, 0),
                         0);
    config_free(&cfg);
    LOAD_OK("", &cfg);
    static const enum ident_kind dflt[IDENT_KIND_COUNT] = {IDENT_EXTERNAL, IDENT_EMAIL, IDENT_PHONE,
                                                           IDENT_CHAT, IDENT_WEB};
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        assert_int_equal(cfg.priority[k], dflt[k]);
    }
    config_free(&cfg);
    LOAD_FAILS("[identity]\npriority = email, fax\n", 0, "priority", "\"fax\" is not");
    LOAD_FAILS("[identity]\npriority = email, email\n", 0, "priority", "named twice");
    LOAD_FAILS("[identity]\nnever_merge = email:^(a\n", 0, "never_merge",
               "not a regular expression");
    LOAD_FAILS("[identity]\nmax_phone = -1\n", 3 - 1, "max_phone", NULL);
}

/* config_reload follows the option table: reloadable options are applied with their hooks
 * named, the others keep their running value and are named for the warning. */
static void reload_follows_the_option_table(void **state)
{
    (void)state;
    struct config cur, fresh;
    load_ok_at("[listen]\ntcp = 127.0.0.1:5170\n[log]\nlevel = info\n[spool]\ndir = /var/a\n", &cur,
               __LINE__);
    const char *tcp_before = cur.listen_tcp;
    load_ok_at("[listen]\ntcp = 127.0.0.1:6000\n[log]\nlevel = debug\n[spool]\ndir = /var/b\n"
               "[identity]\nnever_merge = phone:021 8800 1234\n[ingest]\nbatch_max_records = 7\n",
               &fresh, __LINE__);
    unsigned apply = 0;
    char fixed[256], err[256];
    assert_int_equal(config_reload(&cur, &fresh, &apply, fixed, sizeof(fixed), err, sizeof(err)),
                     0);
    config_free(&fresh);
    assert_string_equal(fixed, "[listen] tcp, [spool] dir");
    assert_int_equal(apply, CONFIG_APPLY_LOG | CONFIG_APPLY_BATCH);
    /* Kept, and the very same string, since modules may have borrowed it. */
    assert_ptr_equal(cur.listen_tcp, tcp_before);
    assert_string_equal(cur.listen_tcp, "127.0.0.1:5170");
    assert_string_equal(cur.spool_dir, "/var/a");
    /* Applied, derived values included. */
    assert_int_equal(cur.level, LOG_DEBUG);
    assert_int_equal(cur.ingest_batch_max_records, 7);
    assert_int_equal(cur.n_never_merge, 1);
    assert_string_equal(cur.never_merge[0], "phone:+982188001234");
    assert_int_equal(cur.record_opts.n_never_merge, 1);
    assert_ptr_equal(cur.record_opts.never_merge, cur.never_merge);
    /* Nothing changed: nothing to apply, nothing to name. */
    load_ok_at("[listen]\ntcp = 127.0.0.1:5170\n[log]\nlevel = debug\n[spool]\ndir = /var/a\n"
               "[identity]\nnever_merge = phone:021 8800 1234\n[ingest]\nbatch_max_records = 7\n",
               &fresh, __LINE__);
    assert_int_equal(config_reload(&cur, &fresh, &apply, fixed, sizeof(fixed), err, sizeof(err)),
                     0);
    config_free(&fresh);
    assert_string_equal(fixed, "");
    assert_int_equal(apply, 0);
    assert_int_equal(cur.n_never_merge, 1);
    config_free(&cur);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(file_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(environment_wins_over_file, setup, teardown),
        cmocka_unit_test_setup_teardown(environment_errors_name_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(error_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(error_unknown_section, setup, teardown),
        cmocka_unit_test_setup_teardown(error_not_an_integer, setup, teardown),
        cmocka_unit_test_setup_teardown(error_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(error_key_set_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(error_not_ini, setup, teardown),
        cmocka_unit_test_setup_teardown(error_bad_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(split_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(error_bad_log_level, setup, teardown),
        cmocka_unit_test_setup_teardown(error_bad_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(never_merge_normalized, setup, teardown),
        cmocka_unit_test_setup_teardown(never_merge_uses_configured_country, setup, teardown),
        cmocka_unit_test_setup_teardown(never_merge_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(principals_parsed, setup, teardown),
        cmocka_unit_test_setup_teardown(principal_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(legacy_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(new_tokens_are_random_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_required_off_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_environment_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(print_shows_origins, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_dsn_keyword_form, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_dsn_uri_form, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_dsn_uri_query_password, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_dsn_forms_only_libpq_knows, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_dsn_small_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(print_hides_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(print_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(free_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(identity_limits_priority_and_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_follows_the_option_table, setup, teardown),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
