/*
 * The daemon's configuration: one table of {section, key, type, offset, default, limits,
 * reloadable, secret} drives parsing the INI file, the TOUCHLINE_<SECTION>_<KEY> environment
 * overrides (for containers), validation, and --check-config's printout. A config is parsed
 * into a fresh struct and only swapped in when it is entirely valid.
 */
#ifndef TOUCHLINED_CONFIG_H
#define TOUCHLINED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "record.h"

struct auth;

/* A webhook's secret: a Segment write key or a Chatwoot hook ({name, secret, source}). */
struct config_token {
    char *name;    /* principal */
    char *secret;  /* the secret itself */
    char *sources; /* the one source its records are given */
};

/* Where an option's effective value came from, for --check-config. */
enum config_origin {
    CONFIG_DEFAULT = 0,
    CONFIG_FILE,
    CONFIG_ENV,
};

#define CONFIG_MAX_OPTIONS 64

struct config {
    char *path; /* file it was read from, or NULL */

    char *listen_tcp;
    char *listen_http;
    int listen_shutdown_delay_s;

    char *database_dsn;
    char *database_read_dsn; /* empty: reads go to the primary too */
    int database_read_max_lag_s;
    int database_pool_size;
    int database_connect_timeout_s;
    int database_reconnect_max_s;

    int ingest_max_line_bytes;
    int ingest_batch_max_records;
    int ingest_batch_max_delay_ms;
    int ingest_max_inflight_per_connection;
    int ingest_max_pending_records;
    int ingest_max_connections;
    int ingest_idle_timeout_s;
    int ingest_max_connections_per_ip;
    int ingest_max_unauthenticated;

    int http_max_body_bytes;
    int http_timeout_s;

    int console_enabled;      /* serve the web console at "/" */
    int live_notify;          /* NOTIFY each committed batch's customers (live updates) */
    int live_max_streams;     /* live streams (SSE) open at once */
    int live_max_buffer_kb;   /* unsent bytes per stream before it is dropped */
    int live_heartbeat_s;     /* comment line sent on an idle stream */
    char *segment_write_keys; /* comma-separated name:key:source */
    char *segment_user_id;    /* "web", or "external:<system>" */
    char *twilio_auth_tokens; /* comma-separated */
    char *twilio_public_url;  /* scheme://host[:port] as Twilio reaches the daemon */
    char *twilio_source;
    char *chatwoot_hooks; /* comma-separated name:secret:source */

    char *identity_default_country_code;
    char *identity_trunk_prefix;
    char *identity_never_merge;          /* comma-separated kind:value, as written */
    char *identity_phone_chat_providers; /* comma-separated */
    int identity_max[IDENT_KIND_COUNT];  /* per kind, 0: no limit */
    char *identity_priority;             /* comma-separated kinds */
    int identity_suspect_customers_per_day;

    char *auth_principal;           /* comma-separated "NAME scopes=... token=sha256:..." entries */
    char *auth_tokens;              /* older form: comma-separated name:secret[:pattern|pattern] */
    int auth_allow_unauthenticated; /* 0 or 1 */

    char *log_level;

    char *spool_dir; /* empty: no spool */
    int spool_max_mb;

    int analytics_callback_sla_s;

    int retention_keep_days; /* 0: keep everything */

    char *tls_cert;
    char *tls_key;
    char *tls_client_ca; /* empty: no client certificates asked for */
    int tls_tcp;         /* 0 or 1: the TCP listener serves TLS */
    int tls_http;        /* 0 or 1: the HTTP listener serves TLS (https) */

    /* Derived by config_load from the raw values above. */
    enum log_level level;
    struct record_opts record_opts;
    char **never_merge; /* normalized kind:value */
    size_t n_never_merge;
    struct auth *auth;   /* principals of auth_principal and auth_tokens; empty: no auth */
    bool world_readable; /* the file can be read by every user */
    unsigned char origin[CONFIG_MAX_OPTIONS];    /* enum config_origin, by option */
    int origin_line[CONFIG_MAX_OPTIONS];         /* line in the file when from the file */
    struct record_pattern *never_merge_patterns; /* kind:^regex entries */
    size_t n_never_merge_patterns;
    enum ident_kind priority[IDENT_KIND_COUNT]; /* identity_priority, completed */
    char *phone_chat_providers;                 /* record_opts' copy */
    size_t n_priority;
    /* Segment write keys and Chatwoot hooks, each {name, secret, source}: the one source they
     * write is in .sources. */
    struct config_token *write_keys;
    size_t n_write_keys;
    struct config_token *chatwoot;
    size_t n_chatwoot;
    char **twilio_tokens;
    size_t n_twilio_tokens;
};

/*
 * Loads defaults, then the file at path (NULL: none), then TOUCHLINE_* environment
 * variables, and validates the result into *cfg. Returns 0, or -1 with err naming the file,
 * line and key (or the environment variable) and what is wrong. cfg must be freed with
 * config_free() either way.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void config_free(struct config *cfg);

/* What must happen for a reloaded option to take effect; options read where they are used
 * need nothing. */
enum config_apply {
    CONFIG_APPLY_LOG = 1 << 0,       /* log_set_level */
    CONFIG_APPLY_DATABASE = 1 << 1,  /* the pool's timeouts */
    CONFIG_APPLY_BATCH = 1 << 2,     /* the batcher's size and delay */
    CONFIG_APPLY_INGEST = 1 << 3,    /* re-evaluate whether connections read */
    CONFIG_APPLY_RETENTION = 1 << 4, /* retention_set_days */
};

/*
 * SIGHUP: applies fresh (just loaded with config_load) to the running cur, by the option
 * table: every reloadable option takes fresh's value; every other option that changed keeps
 * cur's, and is named ("[section] key", comma-separated) in fixed for a warning. Sets *apply
 * to the CONFIG_APPLY_* bits of the options that changed. Returns 0, or -1 with err set and
 * cur untouched (the mix of new and kept values is invalid). Free fresh with config_free()
 * either way: it then holds the values replaced. Pointers into cur's strings taken before
 * stay valid only for options that did not change.
 */
int config_reload(struct config *cur, struct config *fresh, unsigned *apply, char *fixed,
                  size_t fixedlen, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writes the effective configuration as INI, secrets masked. */
void config_print(const struct config *cfg, FILE *out);

/* Copies the DSN with any password=... value masked, for logs. */
void config_mask_dsn(const char *dsn, char *out, size_t outlen);

/*
 * Environment variables that start with TOUCHLINE_ and are not the daemon's options but
 * belong to the client, the tests or the tools (TOUCHLINE_CONFIG, TOUCHLINE_URL, ...): the
 * daemon ignores these and refuses any other unknown TOUCHLINE_ variable.
 */
bool config_env_ignored(const char *name);

/*
 * Logs what is allowed but weakens the daemon: a world-readable file, tokens in clear
 * ([auth] tokens), no authentication on an address other than loopback. Called at each
 * start and reload, and by --check-config.
 */
void config_warn(const struct config *cfg);

/* True when host (of a listen address) is a loopback address or "localhost". */
bool config_host_is_loopback(const char *host);

/* The entry of n whose secret equals secret (constant-time compare), or NULL. */
const struct config_token *config_find_secret(const struct config_token *list, size_t n,
                                              const char *secret);

/* Splits "host:port" (IPv6 as [addr]:port). Returns 0, or -1. */
int config_split_listen(const char *s, char *host, size_t hostlen, int *port)
    __attribute__((warn_unused_result));

#endif
