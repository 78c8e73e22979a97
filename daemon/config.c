#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "errmsg.h"
#include "strlist.h"

enum opt_type {
    OPT_STRING,
    OPT_INT,
    OPT_SECONDS, /* an int of seconds, which may be written with a unit: 90s, 30m, 1h, 2d */
    OPT_LIST,    /* comma-separated; a key repeated in the file appends */
    OPT_BOOL,    /* an int 0/1, written yes/no, true/false, on/off, 1/0 */
};

struct option_def {
    const char *section;
    const char *key;
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max;
    bool secret;
    bool reloadable;
    const char *help;
    /* Reloadable options: what must happen for a new value to take effect (CONFIG_APPLY_*;
     * none when the value is read where it is used). */
    unsigned apply;
};

#define OFF(f) offsetof(struct config, f)

static const struct option_def options[] = {
    {"listen", "tcp", OPT_STRING, OFF(listen_tcp), "127.0.0.1:5170", 0, 0, false, false,
     "TCP ingest protocol (CONTRACT section 3), host:port", 0},
    {"listen", "http", OPT_STRING, OFF(listen_http), "127.0.0.1:8170", 0, 0, false, false,
     "HTTP API, host:port", 0},
    {"listen", "shutdown_delay_s", OPT_INT, OFF(listen_shutdown_delay_s), "0", 0, 300, false, true,
     "after SIGTERM, keep serving this long with /readyz answering 503, so that a load "
     "balancer takes this daemon out of rotation before it stops accepting",
     0},
    {"database", "dsn", OPT_STRING, OFF(database_dsn), "dbname=touchline", 0, 0, true, false,
     "libpq connection string", 0},
    {"database", "read_dsn", OPT_STRING, OFF(database_read_dsn), "", 0, 0, true, false,
     "libpq connection string of a streaming replica for profile, timeline, lookup and stats "
     "reads; empty: every read goes to dsn",
     0},
    {"database", "read_max_lag_s", OPT_INT, OFF(database_read_max_lag_s), "5", 0, 86400, false,
     true, "reads go to the primary while the replica is more than this many seconds behind",
     CONFIG_APPLY_DATABASE},
    {"database", "pool_size", OPT_INT, OFF(database_pool_size), "2", 1, 64, false, false,
     "connections to PostgreSQL", 0},
    {"database", "connect_timeout_s", OPT_INT, OFF(database_connect_timeout_s), "10", 1, 3600,
     false, true, "give up a connection attempt after this long", CONFIG_APPLY_DATABASE},
    {"database", "reconnect_max_s", OPT_INT, OFF(database_reconnect_max_s), "10", 1, 3600, false,
     true, "longest wait between reconnection attempts", CONFIG_APPLY_DATABASE},
    {"ingest", "max_line_bytes", OPT_INT, OFF(ingest_max_line_bytes), "65536", 1024, 64 << 20,
     false, true, "longer lines are answered too_large", 0},
    {"ingest", "batch_max_records", OPT_INT, OFF(ingest_batch_max_records), "1000", 1, 10000, false,
     true, "records written in one transaction at most", CONFIG_APPLY_BATCH},
    {"ingest", "batch_max_delay_ms", OPT_INT, OFF(ingest_batch_max_delay_ms), "5", 0, 10000, false,
     true, "how long a record may wait for its batch to fill", CONFIG_APPLY_BATCH},
    {"ingest", "max_inflight_per_connection", OPT_INT, OFF(ingest_max_inflight_per_connection),
     "1000", 1, 1000000, false, true, "unanswered lines per connection before reading pauses",
     CONFIG_APPLY_INGEST},
    {"ingest", "max_pending_records", OPT_INT, OFF(ingest_max_pending_records), "20000", 1,
     10000000, false, true, "records waiting for the database before all reading pauses",
     CONFIG_APPLY_INGEST},
    {"ingest", "max_connections", OPT_INT, OFF(ingest_max_connections), "10000", 1, 1000000, false,
     true, "TCP connections at once; more are closed at accept", 0},
    {"ingest", "idle_timeout_s", OPT_INT, OFF(ingest_idle_timeout_s), "300", 0, 86400 * 7, false,
     true, "close a TCP connection idle this long (0: never)", 0},
    {"ingest", "max_connections_per_ip", OPT_INT, OFF(ingest_max_connections_per_ip), "1000", 1,
     1000000, false, true,
     "TCP connections from one address at once, loopback exempt; more are closed at accept", 0},
    {"ingest", "max_unauthenticated", OPT_INT, OFF(ingest_max_unauthenticated), "256", 1, 1000000,
     false, true,
     "TCP connections that have not sent their token yet, while authentication is on; more are "
     "closed at accept, so that a flood cannot take the places of authenticated adapters",
     0},
    {"http", "max_body_bytes", OPT_INT, OFF(http_max_body_bytes), "5242880", 1024, 1 << 30, false,
     false, "larger request bodies (and gzip bodies inflating to more) are answered 413", 0},
    {"http", "timeout_s", OPT_INT, OFF(http_timeout_s), "30", 1, 3600, false, false,
     "close an HTTP connection idle this long, or without a whole first request "
     "this long after connecting",
     0},
    {"console", "enabled", OPT_INT, OFF(console_enabled), "1", 0, 1, false, false,
     "1: serve the web console at / on the HTTP port; 0: the API only", 0},
    {"live", "notify", OPT_INT, OFF(live_notify), "1", 0, 1, false, false,
     "1: each committed batch NOTIFYs its customers, for the live streams of every daemon "
     "on the database; 0: no live updates",
     0},
    {"live", "max_streams", OPT_INT, OFF(live_max_streams), "256", 0, 100000, false, false,
     "live streams (GET /v1/customers/{id}/stream) open at once; more are answered 503", 0},
    {"live", "max_buffer_kb", OPT_INT, OFF(live_max_buffer_kb), "1024", 16, 1 << 20, false, false,
     "unsent KiB a stream may hold before it is closed (the client reconnects)", 0},
    {"live", "heartbeat_s", OPT_INT, OFF(live_heartbeat_s), "15", 1, 3600, false, false,
     "a comment line goes to each stream this often, so that proxies keep it open", 0},
    {"segment", "write_keys", OPT_LIST, OFF(segment_write_keys), "", 0, 0, true, true,
     "name:write-key:source for the Segment-compatible API; the write key is the Basic user "
     "name, name the principal, source the records' source",
     0},
    {"segment", "user_id", OPT_STRING, OFF(segment_user_id), "web", 0, 0, false, true,
     "what Segment's userId is: web (a web identifier) or external:<system>", 0},
    {"twilio", "auth_tokens", OPT_LIST, OFF(twilio_auth_tokens), "", 0, 0, true, true,
     "auth tokens that sign Twilio's webhooks (several while rotating); none: hooks off", 0},
    {"twilio", "public_url", OPT_STRING, OFF(twilio_public_url), "", 0, 0, false, true,
     "scheme://host[:port] of the daemon as Twilio reaches it (behind proxies); empty: "
     "http://<Host header>",
     0},
    {"twilio", "source", OPT_STRING, OFF(twilio_source), "twilio", 0, 0, false, true,
     "the source of records from the Twilio hooks", 0},
    {"chatwoot", "hooks", OPT_LIST, OFF(chatwoot_hooks), "", 0, 0, true, true,
     "name:secret:source per Chatwoot webhook; the secret goes in the URL (?token=) or the "
     "X-Touchline-Token header",
     0},
    {"identity", "default_country_code", OPT_STRING, OFF(identity_default_country_code), "98", 0, 0,
     false, false, "country code put in place of the trunk prefix of a national number", 0},
    {"identity", "trunk_prefix", OPT_STRING, OFF(identity_trunk_prefix), "0", 0, 0, false, false,
     "national trunk prefix; empty: national numbers are rejected", 0},
    {"identity", "never_merge", OPT_LIST, OFF(identity_never_merge), "", 0, 0, false, true,
     "kind:value identifiers that attach records but never merge customers "
     "(shared lines, info@ addresses)",
     0},
    {"identity", "phone_chat_providers", OPT_LIST, OFF(identity_phone_chat_providers),
     "whatsapp,viber,signal,sms", 0, 0, false, true,
     "chat providers whose handles are phone numbers: chat whatsapp:+98912... also yields "
     "phone +98912...",
     0},
    {"identity", "max_phone", OPT_INT, OFF(identity_max[IDENT_PHONE]), "0", 0, 1000000, false,
     false,
     "a merge that would give a customer more phone numbers than this does not happen "
     "(0: no limit)",
     0},
    {"identity", "max_email", OPT_INT, OFF(identity_max[IDENT_EMAIL]), "0", 0, 1000000, false,
     false, "the same for e-mail addresses", 0},
    {"identity", "max_chat", OPT_INT, OFF(identity_max[IDENT_CHAT]), "0", 0, 1000000, false, false,
     "the same for chat handles", 0},
    {"identity", "max_web", OPT_INT, OFF(identity_max[IDENT_WEB]), "0", 0, 1000000, false, false,
     "the same for web ids", 0},
    {"identity", "max_external", OPT_INT, OFF(identity_max[IDENT_EXTERNAL]), "0", 0, 1000000, false,
     false, "the same for external ids", 0},
    {"identity", "priority", OPT_STRING, OFF(identity_priority), "external,email,phone,chat,web", 0,
     0, false, false,
     "identifier kinds, most trusted first: a record whose merge a limit refused goes to the "
     "customer of its identifier of the first kind it carries",
     0},
    {"identity", "suspect_customers_per_day", OPT_INT, OFF(identity_suspect_customers_per_day),
     "10", 1, 1000000, false, true,
     "an identifier linking more customers than this in a day is listed as suspect "
     "(GET /v1/conflicts, /metrics)",
     0},
    {"auth", "principal", OPT_LIST, OFF(auth_principal), "", 0, 0, true, true,
     "NAME scopes=ingest|read|admin token=sha256:HASH [channels=a|b] [sources=pattern|...] "
     "[rate=N] [burst=N] [read_rate=N]; repeat the key for each principal, and with NAME "
     "token=... alone to add a token; none (and no tokens): no authentication",
     0},
    {"auth", "tokens", OPT_LIST, OFF(auth_tokens), "", 0, 0, true, true,
     "older form, tokens in clear with every scope: name:secret[:source-pattern|...]; "
     "use principal with hashed tokens instead",
     0},
    {"auth", "allow_unauthenticated", OPT_BOOL, OFF(auth_allow_unauthenticated), "no", 0, 1, false,
     false,
     "yes: serve without authentication even on an address other than loopback "
     "(a warning at each start)",
     0},
    {"log", "level", OPT_STRING, OFF(log_level), "info", 0, 0, false, true,
     "error, warn, info or debug", CONFIG_APPLY_LOG},
    {"spool", "dir", OPT_STRING, OFF(spool_dir), "", 0, 0, false, false,
     "directory for records acknowledged while PostgreSQL is unavailable; empty: none "
     "(such records are answered unavailable)",
     0},
    {"spool", "max_mb", OPT_INT, OFF(spool_max_mb), "1024", 1, 1 << 20, false, false,
     "spool size limit in MiB; past it records are answered unavailable", 0},
    {"analytics", "callback_sla", OPT_SECONDS, OFF(analytics_callback_sla_s), "3600", 1,
     86400 * 365, false, true,
     "a missed call still open after this long is a breach (seconds, or with a unit: 30m, 1h, "
     "2d)",
     0},
    {"retention", "keep_days", OPT_INT, OFF(retention_keep_days), "0", 0, 36500, false, true,
     "delete interactions that happened more than this many days ago, hourly (0: keep all)",
     CONFIG_APPLY_RETENTION},
    {"tls", "tcp", OPT_BOOL, OFF(tls_tcp), "no", 0, 1, false, false,
     "yes: the TCP listener speaks TLS only (cert and key needed)", 0},
    {"tls", "http", OPT_BOOL, OFF(tls_http), "no", 0, 1, false, false,
     "yes: the HTTP listener speaks TLS only, https (cert and key needed)", 0},
    {"tls", "cert", OPT_STRING, OFF(tls_cert), "", 0, 0, false, true,
     "PEM certificate chain of the listeners; read again on SIGHUP, even when the path is the "
     "same",
     0},
    {"tls", "key", OPT_STRING, OFF(tls_key), "", 0, 0, false, true,
     "PEM private key of the certificate; read again on SIGHUP", 0},
    {"tls", "client_ca", OPT_STRING, OFF(tls_client_ca), "", 0, 0, false, true,
     "PEM CA certificates: when set, a client must present a certificate they signed (mutual "
     "TLS); empty: none asked for",
     0},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Options held in an int: counts, and durations in seconds. */
static bool is_int(const struct option_def *o)
{
    return o->type == OPT_INT || o->type == OPT_SECONDS || o->type == OPT_BOOL;
}

_Static_assert(N_OPTIONS <= CONFIG_MAX_OPTIONS, "raise CONFIG_MAX_OPTIONS");

static char **str_slot(struct config *cfg, const struct option_def *o)
{
    return (char **)((char *)cfg + o->offset);
}

static int *int_slot(struct config *cfg, const struct option_def *o)
{
    return (int *)((char *)cfg + o->offset);
}

static const struct option_def *find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].section, section) == 0 && strcmp(options[i].key, key) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

/* Sets one option from text. append: a repeated list key adds to the list. */
static int set_option(struct config *cfg, const struct option_def *o, const char *value,
                      bool append, char *why, size_t whylen)
{
    switch (o->type) {
    case OPT_INT:
    case OPT_SECONDS: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        while (*end == ' ') {
            end++;
        }
        if (o->type == OPT_SECONDS && errno == 0 && end != value && *end != '\0' &&
            end[1] == '\0') {
            long unit = *end == 's'   ? 1
                        : *end == 'm' ? 60
                        : *end == 'h' ? 3600
                        : *end == 'd' ? 86400
                                      : 0;
            if (unit > 0 && v >= 0 && v <= o->max) {
                v *= unit;
                end++;
            }
        }
        if (errno != 0 || end == value || *end != '\0') {
            errmsg_set(why, whylen, "\"%s\" is not an integer", value);
            return -1;
        }
        if (v < o->min || v > o->max) {
            errmsg_set(why, whylen, "%ld is out of range %ld-%ld", v, o->min, o->max);
            return -1;
        }
        *int_slot(cfg, o) = (int)v;
        return 0;
    }
    case OPT_BOOL: {
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
                *int_slot(cfg, o) = strcasecmp(value, yes[i]) == 0;
                return 0;
            }
        }
        errmsg_set(why, whylen, "\"%s\" is not yes or no", value);
        return -1;
    }
    case OPT_STRING:
    case OPT_LIST: {
        char **slot = str_slot(cfg, o);
        char *nv;
        if (append && o->type == OPT_LIST && *slot != NULL && (*slot)[0] != '\0' &&
            value[0] != '\0') {
            size_t n = strlen(*slot) + strlen(value) + 2;
            nv = malloc(n);
            if (nv != NULL) {
                snprintf(nv, n, "%s,%s", *slot, value);
            }
        } else {
            nv = strdup(value);
        }
        if (nv == NULL) {
            errmsg_set(why, whylen, "out of memory");
            return -1;
        }
        free(*slot);
        *slot = nv;
        return 0;
    }
    }
    errmsg_set(why, whylen, "unknown option type");
    return -1;
}

struct parse_state {
    struct config *cfg;
    const char *path;
    FILE *f;
    int line;      /* line being parsed */
    int next_line; /* line the next read starts on */
    bool seen[N_OPTIONS];
    bool failed;
    char *err;
    size_t errlen;
};

/* An fgets wrapper that counts lines, since the Debian build of inih reports none. */
static char *reader(char *str, int num, void *stream)
{
    struct parse_state *st = stream;
    char *r = fgets(str, num, st->f);
    if (r == NULL) {
        return NULL;
    }
    st->line = st->next_line;
    size_t n = strlen(r);
    if (n > 0 && r[n - 1] == '\n') {
        st->next_line++;
    } else if (!feof(st->f) && !st->failed) {
        errmsg_set(st->err, st->errlen,
                   "%s:%d: line longer than %d bytes (repeat a list key to split "
                   "a long list)",
                   st->path, st->line, num - 2);
        st->failed = true;
    }
    return r;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;
    if (st->failed) {
        return 0;
    }
    const struct option_def *o = find_option(section, name);
    if (o == NULL) {
        errmsg_set(st->err, st->errlen, "%s:%d: unknown key \"%s\" in section [%s]", st->path,
                   st->line, name, section);
        st->failed = true;
        return 0;
    }
    size_t idx = (size_t)(o - options);
    if (st->seen[idx] && o->type != OPT_LIST) {
        errmsg_set(st->err, st->errlen, "%s:%d: [%s] %s is set twice", st->path, st->line, section,
                   name);
        st->failed = true;
        return 0;
    }
    char why[256];
    if (set_option(st->cfg, o, value, st->seen[idx], why, sizeof(why)) < 0) {
        errmsg_set(st->err, st->errlen, "%s:%d: [%s] %s: %s", st->path, st->line, section, name,
                   why);
        st->failed = true;
        return 0;
    }
    st->seen[idx] = true;
    st->cfg->origin[idx] = CONFIG_FILE;
    st->cfg->origin_line[idx] = st->line;
    return 1;
}

static void env_name(const struct option_def *o, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "TOUCHLINE_%s_%s", o->section, o->key);
    for (size_t i = 0; i < n && i < outlen; i++) {
        out[i] = (char)toupper((unsigned char)out[i]);
    }
}

/* The context of one list option's items: where the config came from, and its errors. */
struct item_ctx {
    struct config *cfg;
    const char *where;
    char *err;
    size_t errlen;
};

/* A never_merge entry whose value starts with "^": a POSIX extended regular expression
 * matched against normalized values of that kind. */
static int add_never_merge_pattern(struct config *cfg, enum ident_kind kind, const char *kname,
                                   const char *pattern, char *err, size_t errlen, const char *where)
{
    struct record_pattern *grown =
        realloc(cfg->never_merge_patterns,
                (cfg->n_never_merge_patterns + 1) * sizeof(*cfg->never_merge_patterns));
    if (grown == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->never_merge_patterns = grown;
    struct record_pattern *pt = &grown[cfg->n_never_merge_patterns];
    pt->kind = kind;
    int rc = regcomp(&pt->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &pt->re, why, sizeof(why));
        errmsg_set(err, errlen,
                   "%s: [identity] never_merge: %s:%s is not a regular expression (%s)", where,
                   kname, pattern, why);
        return -1;
    }
    cfg->n_never_merge_patterns++;
    cfg->record_opts.never_merge_patterns = cfg->never_merge_patterns;
    cfg->record_opts.n_never_merge_patterns = cfg->n_never_merge_patterns;
    return 0;
}

/* One kind of identity.priority, most trusted first. */
static int add_priority(char *item, void *arg)
{
    struct item_ctx *ctx = arg;
    struct config *cfg = ctx->cfg;
    char *err = ctx->err;
    size_t errlen = ctx->errlen;
    const char *where = ctx->where;
    enum ident_kind k = IDENT_PHONE;
    bool known = normalize_kind_parse(item, &k) == 0;
    bool seen = false;
    for (size_t i = 0; i < cfg->n_priority && known; i++) {
        seen = seen || cfg->priority[i] == k;
    }
    if (!known || seen) {
        errmsg_set(err, errlen,
                   "%s: [identity] priority: \"%s\" is %s (kinds: external, email, phone, chat, "
                   "web, each once)",
                   where, item, known ? "named twice" : "not an identifier kind");
        return -1;
    }
    cfg->priority[cfg->n_priority++] = k;
    return 0;
}

/* identity.priority: the kinds it leaves out follow in the default order. */
static int parse_priority(struct item_ctx *ctx)
{
    struct config *cfg = ctx->cfg;
    static const enum ident_kind dflt[IDENT_KIND_COUNT] = {IDENT_EXTERNAL, IDENT_EMAIL, IDENT_PHONE,
                                                           IDENT_CHAT, IDENT_WEB};
    cfg->n_priority = 0;
    int rc = strlist_each(cfg->identity_priority, add_priority, ctx);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < IDENT_KIND_COUNT; i++) {
        bool seen = false;
        for (size_t j = 0; j < cfg->n_priority; j++) {
            seen = seen || cfg->priority[j] == dflt[i];
        }
        if (!seen) {
            cfg->priority[cfg->n_priority++] = dflt[i];
        }
    }
    return 0;
}

static int add_never_merge(char *item, void *arg)
{
    struct item_ctx *ctx = arg;
    struct config *cfg = ctx->cfg;
    char *err = ctx->err;
    size_t errlen = ctx->errlen;
    const char *where = ctx->where;
    char *colon = strchr(item, ':');
    enum ident_kind kind;
    if (colon == NULL) {
        errmsg_set(err, errlen, "%s: [identity] never_merge: \"%s\" must be kind:value", where,
                   item);
        return -1;
    }
    *colon = '\0';
    if (normalize_kind_parse(item, &kind) < 0) {
        errmsg_set(err, errlen, "%s: [identity] never_merge: unknown identifier kind \"%s\"", where,
                   item);
        return -1;
    }
    if (colon[1] == '^') {
        return add_never_merge_pattern(cfg, kind, item, colon + 1, err, errlen, where);
    }
    char norm[NORMALIZE_MAX + 1];
    const char *why;
    if (normalize_identifier(kind, colon + 1, strlen(colon + 1), &cfg->record_opts.norm, norm,
                             &why) < 0) {
        errmsg_set(err, errlen, "%s: [identity] never_merge: %s \"%s\" %s", where, item, colon + 1,
                   why);
        return -1;
    }
    char **grown = realloc(cfg->never_merge, (cfg->n_never_merge + 1) * sizeof(char *));
    if (grown == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->never_merge = grown;
    size_t len = strlen(item) + strlen(norm) + 2;
    char *entry = malloc(len);
    if (entry == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    snprintf(entry, len, "%s:%s", item, norm);
    cfg->never_merge[cfg->n_never_merge++] = entry;
    cfg->record_opts.never_merge = (const char *const *)cfg->never_merge;
    cfg->record_opts.n_never_merge = cfg->n_never_merge;
    return 0;
}

/* Parses name:secret:source into a new entry of *list. what names the key in messages. */
static int add_entry(struct config_token **list, size_t *n, const char *what, char *item, char *err,
                     size_t errlen, const char *where)
{
    const char *shape = "name:secret:source";
    char *c1 = strchr(item, ':');
    if (c1 == NULL || c1 == item || c1[1] == '\0' || c1[1] == ':') {
        errmsg_set(err, errlen, "%s: %s: entry %zu must be %s", where, what, *n + 1, shape);
        return -1;
    }
    *c1 = '\0';
    char *secret = c1 + 1;
    char *c2 = strchr(secret, ':');
    if (c2 == NULL || !record_valid_source(c2 + 1)) {
        errmsg_set(err, errlen, "%s: %s: entry %zu must be %s, source 1-64 of [A-Za-z0-9._:-]",
                   where, what, *n + 1, shape);
        return -1;
    }
    *c2 = '\0';
    const char *source = c2 + 1;
    if (strlen(secret) < 8) {
        errmsg_set(err, errlen, "%s: %s: the secret of \"%s\" is shorter than 8 characters", where,
                   what, item);
        return -1;
    }
    struct config_token *grown = realloc(*list, (*n + 1) * sizeof(struct config_token));
    if (grown == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    *list = grown;
    struct config_token *t = &grown[*n];
    t->name = strdup(item);
    t->secret = strdup(secret);
    t->sources = strdup(source);
    (*n)++;
    if (t->name == NULL || t->secret == NULL || t->sources == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int add_write_key(char *item, void *arg)
{
    struct item_ctx *ctx = arg;
    struct config *cfg = ctx->cfg;
    char *err = ctx->err;
    size_t errlen = ctx->errlen;
    const char *where = ctx->where;
    return add_entry(&cfg->write_keys, &cfg->n_write_keys, "[segment] write_keys", item, err,
                     errlen, where);
}

static int add_chatwoot_hook(char *item, void *arg)
{
    struct item_ctx *ctx = arg;
    struct config *cfg = ctx->cfg;
    char *err = ctx->err;
    size_t errlen = ctx->errlen;
    const char *where = ctx->where;
    return add_entry(&cfg->chatwoot, &cfg->n_chatwoot, "[chatwoot] hooks", item, err, errlen,
                     where);
}

static int add_twilio_token(char *item, void *arg)
{
    struct item_ctx *ctx = arg;
    struct config *cfg = ctx->cfg;
    char *err = ctx->err;
    size_t errlen = ctx->errlen;
    const char *where = ctx->where;
    if (strlen(item) < 8) {
        errmsg_set(err, errlen, "%s: [twilio] auth_tokens: entry %zu is shorter than 8 characters",
                   where, cfg->n_twilio_tokens + 1);
        return -1;
    }
    char **grown = realloc(cfg->twilio_tokens, (cfg->n_twilio_tokens + 1) * sizeof(char *));
    if (grown == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->twilio_tokens = grown;
    grown[cfg->n_twilio_tokens] = strdup(item);
    if (grown[cfg->n_twilio_tokens] == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->n_twilio_tokens++;
    return 0;
}

static bool digits_only(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n > maxlen) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int config_split_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return -1;
        }
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return -1;
        }
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) {
        return -1;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535) {
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int validate(struct config *cfg, char *err, size_t errlen)
{
    const char *where = cfg->path != NULL ? cfg->path : "config";
    char host[256];
    int port;
    if (config_split_listen(cfg->listen_tcp, host, sizeof(host), &port) < 0) {
        errmsg_set(err, errlen, "%s: [listen] tcp: \"%s\" is not host:port", where,
                   cfg->listen_tcp);
        return -1;
    }
    if (config_split_listen(cfg->listen_http, host, sizeof(host), &port) < 0) {
        errmsg_set(err, errlen, "%s: [listen] http: \"%s\" is not host:port", where,
                   cfg->listen_http);
        return -1;
    }
    if (log_level_parse(cfg->log_level, &cfg->level) < 0) {
        errmsg_set(err, errlen, "%s: [log] level: \"%s\" is not error, warn, info or debug", where,
                   cfg->log_level);
        return -1;
    }
    if (!digits_only(cfg->identity_default_country_code, 4)) {
        errmsg_set(err, errlen, "%s: [identity] default_country_code: \"%s\" must be 1-4 digits",
                   where, cfg->identity_default_country_code);
        return -1;
    }
    if (!digits_only(cfg->identity_trunk_prefix, 4)) {
        errmsg_set(err, errlen, "%s: [identity] trunk_prefix: \"%s\" must be up to 4 digits", where,
                   cfg->identity_trunk_prefix);
        return -1;
    }
    normalize_opts_default(&cfg->record_opts.norm);
    snprintf(cfg->record_opts.norm.country_code, sizeof(cfg->record_opts.norm.country_code), "%s",
             cfg->identity_default_country_code);
    snprintf(cfg->record_opts.norm.trunk_prefix, sizeof(cfg->record_opts.norm.trunk_prefix), "%s",
             cfg->identity_trunk_prefix);
    if ((cfg->tls_tcp || cfg->tls_http) && (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')) {
        errmsg_set(err, errlen, "%s: [tls] %s = yes needs [tls] cert and key", where,
                   cfg->tls_tcp ? "tcp" : "http");
        return -1;
    }
    if (strcmp(cfg->segment_user_id, "web") != 0 &&
        (strncmp(cfg->segment_user_id, "external:", 9) != 0 || cfg->segment_user_id[9] == '\0' ||
         strchr(cfg->segment_user_id + 9, ':') != NULL)) {
        errmsg_set(err, errlen, "%s: [segment] user_id: \"%s\" must be web or external:<system>",
                   where, cfg->segment_user_id);
        return -1;
    }
    if (!record_valid_source(cfg->twilio_source)) {
        errmsg_set(err, errlen, "%s: [twilio] source: \"%s\" is not a source name", where,
                   cfg->twilio_source);
        return -1;
    }
    size_t ul = strlen(cfg->twilio_public_url);
    if (ul > 0 && ((strncmp(cfg->twilio_public_url, "http://", 7) != 0 &&
                    strncmp(cfg->twilio_public_url, "https://", 8) != 0) ||
                   cfg->twilio_public_url[ul - 1] == '/')) {
        errmsg_set(err, errlen,
                   "%s: [twilio] public_url: \"%s\" must be http(s)://host[:port][/prefix] "
                   "without a trailing /",
                   where, cfg->twilio_public_url);
        return -1;
    }
    /* A copy of its own: record_opts moves with the derived values on reload. */
    cfg->phone_chat_providers = strdup(cfg->identity_phone_chat_providers);
    if (cfg->phone_chat_providers == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->record_opts.phone_chat_providers = cfg->phone_chat_providers;
    struct item_ctx ctx = {cfg, where, err, errlen};
    int rc = parse_priority(&ctx);
    if (rc == 0) {
        rc = strlist_each(cfg->identity_never_merge, add_never_merge, &ctx);
    }
    if (rc == 0) {
        rc = strlist_each(cfg->segment_write_keys, add_write_key, &ctx);
    }
    if (rc == 0) {
        rc = strlist_each(cfg->chatwoot_hooks, add_chatwoot_hook, &ctx);
    }
    if (rc == 0) {
        rc = strlist_each(cfg->twilio_auth_tokens, add_twilio_token, &ctx);
    }
    if (rc == -2) {
        errmsg_set(err, errlen, "out of memory");
    }
    if (rc != 0 ||
        auth_parse(cfg->auth_principal, cfg->auth_tokens, where, &cfg->auth, err, errlen) < 0) {
        return -1;
    }
    /* A daemon reachable from the network without authentication lets anyone read and
     * erase every customer: only on purpose. */
    const char *listens[] = {cfg->listen_tcp, cfg->listen_http};
    const char *names[] = {"tcp", "http"};
    for (size_t i = 0; i < 2 && !auth_enabled(cfg->auth) && !cfg->auth_allow_unauthenticated; i++) {
        if (config_split_listen(listens[i], host, sizeof(host), &port) == 0 &&
            !config_host_is_loopback(host)) {
            errmsg_set(err, errlen,
                       "%s: [listen] %s = %s is not a loopback address and [auth] has no "
                       "principal: add one (touchlined --hash-token makes a token; see "
                       "docs/security.md), or set [auth] allow_unauthenticated = yes "
                       "(TOUCHLINE_AUTH_ALLOW_UNAUTHENTICATED=yes) to serve everyone",
                       where, names[i], listens[i]);
            return -1;
        }
    }
    return 0;
}

bool config_host_is_loopback(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (strcmp(host, "localhost") == 0) {
        return true;
    }
    if (inet_pton(AF_INET, host, buf) == 1) {
        return buf[0] == 127;
    }
    if (inet_pton(AF_INET6, host, buf) == 1) {
        static const unsigned char v6_loopback[16] = {[15] = 1};
        return memcmp(buf, v6_loopback, 16) == 0;
    }
    return false;
}

void config_warn(const struct config *cfg)
{
    if (cfg->path != NULL && cfg->world_readable) {
        log_warn("%s can be read by every user of this machine, and it may hold the database "
                 "password and token hashes: chmod o-r %s (or 0640 with the daemon's group)",
                 cfg->path, cfg->path);
    }
    if (auth_has_legacy(cfg->auth)) {
        log_warn("[auth] tokens keeps tokens in clear and grants each every scope (ingest, read, "
                 "admin): move them to [auth] principal entries with hashed tokens "
                 "(touchlined --hash-token; docs/security.md)");
    }
    char host[256];
    int port;
    const char *listens[] = {cfg->listen_tcp, cfg->listen_http};
    for (size_t i = 0; i < 2 && !auth_enabled(cfg->auth); i++) {
        if (config_split_listen(listens[i], host, sizeof(host), &port) == 0 &&
            !config_host_is_loopback(host)) {
            log_warn("authentication is off on %s, an address other than loopback "
                     "([auth] allow_unauthenticated = yes): anyone who reaches it may write, "
                     "read and erase customers",
                     listens[i]);
        }
    }
}

/* Not options of the daemon, but names the client, the tests and the tools read. */
static const char *const env_foreign[] = {
    "TOUCHLINE_CONFIG",      "TOUCHLINE_URL",
    "TOUCHLINE_TOKEN",       "TOUCHLINE_TCP",
    "TOUCHLINE_CACERT",      "TOUCHLINE_SOURCE_DIR",
    "TOUCHLINE_FAULTS_SEED", "TOUCHLINE_PG_SHARED_BUFFERS",
    "TOUCHLINE_DB_PASSWORD",
};

bool config_env_ignored(const char *name)
{
    for (size_t i = 0; i < sizeof(env_foreign) / sizeof(env_foreign[0]); i++) {
        if (strcmp(name, env_foreign[i]) == 0) {
            return true;
        }
    }
    return strncmp(name, "TOUCHLINE_TEST_", 15) == 0;
}

/* Levenshtein distance of two short strings (longer ones count as far apart). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 127 || lb > 127) {
        return SIZE_MAX;
    }
    size_t row[128];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void env_name(const struct option_def *o, char *out, size_t outlen);

/* Refuses a TOUCHLINE_ variable that is no option: a typo would silently leave a default
 * (no authentication, another database) in place. */
static int check_unknown_env(char *err, size_t errlen)
{
    extern char **environ;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "TOUCHLINE_", 10) != 0) {
            continue;
        }
        char name[128];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1),
                 *e);
        if (config_env_ignored(name)) {
            continue;
        }
        bool known = false;
        size_t best = SIZE_MAX;
        char nearest[128] = "";
        for (size_t i = 0; i < N_OPTIONS && !known; i++) {
            char opt[128];
            env_name(&options[i], opt, sizeof(opt));
            known = strcmp(opt, name) == 0;
            size_t dist = edit_distance(name, opt);
            if (dist < best) {
                best = dist;
                snprintf(nearest, sizeof(nearest), "%s", opt);
            }
        }
        if (!known) {
            errmsg_set(err, errlen,
                       "environment %s is not an option of touchlined (did you mean %s?); "
                       "unset it or correct it",
                       name, nearest);
            return -1;
        }
    }
    return 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    char why[256];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (set_option(cfg, &options[i], options[i].def, false, why, sizeof(why)) < 0) {
            errmsg_set(err, errlen, "default of [%s] %s: %s", options[i].section, options[i].key,
                       why);
            return -1;
        }
    }
    if (path != NULL) {
        cfg->path = strdup(path);
        if (cfg->path == NULL) {
            errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        struct parse_state st = {
            .cfg = cfg, .path = path, .next_line = 1, .err = err, .errlen = errlen};
        st.f = fopen(path, "r");
        if (st.f == NULL) {
            errmsg_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            return -1;
        }
        struct stat sb;
        /* The file may hold the DSN's password and token hashes. */
        cfg->world_readable = fstat(fileno(st.f), &sb) == 0 && (sb.st_mode & S_IROTH) != 0;
        int rc = ini_parse_stream(reader, &st, handler, &st);
        fclose(st.f);
        if (st.failed) {
            return -1;
        }
        if (rc != 0) {
            errmsg_set(err, errlen, "%s:%d: not an INI line (expected [section] or key = value)",
                       path, rc > 0 ? rc : st.line);
            return -1;
        }
    }
    if (check_unknown_env(err, errlen) < 0) {
        return -1;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char name[128];
        env_name(&options[i], name, sizeof(name));
        const char *v = getenv(name);
        if (v == NULL) {
            continue;
        }
        if (set_option(cfg, &options[i], v, false, why, sizeof(why)) < 0) {
            errmsg_set(err, errlen, "environment %s: %s", name, why);
            return -1;
        }
        cfg->origin[i] = CONFIG_ENV;
    }
    return validate(cfg, err, errlen);
}

/* Frees what validate() derives from the options, so that it can derive them again. */
static void free_derived(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_never_merge; i++) {
        free(cfg->never_merge[i]);
    }
    free(cfg->never_merge);
    auth_free(cfg->auth);
    cfg->auth = NULL;
    for (size_t i = 0; i < cfg->n_never_merge_patterns; i++) {
        regfree(&cfg->never_merge_patterns[i].re);
    }
    free(cfg->never_merge_patterns);
    struct config_token *lists[] = {cfg->write_keys, cfg->chatwoot};
    size_t counts[] = {cfg->n_write_keys, cfg->n_chatwoot};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            free(lists[l][i].name);
            free(lists[l][i].secret);
            free(lists[l][i].sources);
        }
        free(lists[l]);
    }
    for (size_t i = 0; i < cfg->n_twilio_tokens; i++) {
        free(cfg->twilio_tokens[i]);
    }
    free(cfg->twilio_tokens);
    cfg->never_merge = NULL;
    cfg->n_never_merge = 0;
    cfg->record_opts.never_merge = NULL;
    cfg->record_opts.n_never_merge = 0;
    cfg->never_merge_patterns = NULL;
    cfg->n_never_merge_patterns = 0;
    cfg->record_opts.never_merge_patterns = NULL;
    cfg->record_opts.n_never_merge_patterns = 0;
    free(cfg->phone_chat_providers);
    cfg->phone_chat_providers = NULL;
    cfg->record_opts.phone_chat_providers = NULL;
    cfg->write_keys = cfg->chatwoot = NULL;
    cfg->n_write_keys = cfg->n_chatwoot = 0;
    cfg->twilio_tokens = NULL;
    cfg->n_twilio_tokens = 0;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!is_int(&options[i])) {
            free(*str_slot(cfg, &options[i]));
        }
    }
    free_derived(cfg);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

static bool option_equal(struct config *a, struct config *b, const struct option_def *o)
{
    if (is_int(o)) {
        return *int_slot(a, o) == *int_slot(b, o);
    }
    const char *x = *str_slot(a, o), *y = *str_slot(b, o);
    return strcmp(x != NULL ? x : "", y != NULL ? y : "") == 0;
}

static void swap_slots(struct config *a, struct config *b, const struct option_def *o)
{
    if (is_int(o)) {
        int t = *int_slot(a, o);
        *int_slot(a, o) = *int_slot(b, o);
        *int_slot(b, o) = t;
    } else {
        char *t = *str_slot(a, o);
        *str_slot(a, o) = *str_slot(b, o);
        *str_slot(b, o) = t;
    }
}

int config_reload(struct config *cur, struct config *fresh, unsigned *apply, char *fixed,
                  size_t fixedlen, char *err, size_t errlen)
{
    *apply = 0;
    size_t nfixed = 0;
    fixed[0] = '\0';
    /* First fresh becomes what will run: its reloadable values, and the running ones of the
     * options that need a restart. */
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        if (o->reloadable || option_equal(cur, fresh, o)) {
            continue;
        }
        int n = snprintf(fixed + nfixed, fixedlen - nfixed, "%s[%s] %s", nfixed > 0 ? ", " : "",
                         o->section, o->key);
        nfixed = n > 0 && (size_t)n < fixedlen - nfixed ? nfixed + (size_t)n : nfixed;
        if (is_int(o)) {
            *int_slot(fresh, o) = *int_slot(cur, o);
            continue;
        }
        char *copy = strdup(*str_slot(cur, o));
        if (copy == NULL) {
            errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        free(*str_slot(fresh, o));
        *str_slot(fresh, o) = copy;
    }
    /* Derived values follow from that mix (a never_merge phone is normalized with the
     * running country code). */
    free_derived(fresh);
    if (validate(fresh, err, errlen) < 0) {
        return -1;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        if (o->reloadable && !option_equal(cur, fresh, o)) {
            swap_slots(cur, fresh, o);
            *apply |= o->apply;
        }
        if (o->reloadable) {
            unsigned char origin = cur->origin[i];
            int line = cur->origin_line[i];
            cur->origin[i] = fresh->origin[i];
            cur->origin_line[i] = fresh->origin_line[i];
            fresh->origin[i] = origin;
            fresh->origin_line[i] = line;
        }
    }
    struct config t = *cur;
    cur->level = fresh->level;
    cur->record_opts = fresh->record_opts;
    cur->never_merge = fresh->never_merge;
    cur->n_never_merge = fresh->n_never_merge;
    cur->auth = fresh->auth;
    cur->never_merge_patterns = fresh->never_merge_patterns;
    cur->n_never_merge_patterns = fresh->n_never_merge_patterns;
    cur->phone_chat_providers = fresh->phone_chat_providers;
    memcpy(cur->priority, fresh->priority, sizeof(cur->priority));
    cur->n_priority = fresh->n_priority;
    cur->write_keys = fresh->write_keys;
    cur->n_write_keys = fresh->n_write_keys;
    cur->chatwoot = fresh->chatwoot;
    cur->n_chatwoot = fresh->n_chatwoot;
    fresh->level = t.level;
    fresh->record_opts = t.record_opts;
    fresh->never_merge = t.never_merge;
    fresh->n_never_merge = t.n_never_merge;
    fresh->auth = t.auth;
    fresh->never_merge_patterns = t.never_merge_patterns;
    fresh->n_never_merge_patterns = t.n_never_merge_patterns;
    fresh->phone_chat_providers = t.phone_chat_providers;
    fresh->write_keys = t.write_keys;
    fresh->n_write_keys = t.n_write_keys;
    fresh->chatwoot = t.chatwoot;
    fresh->n_chatwoot = t.n_chatwoot;
    return 0;
}

/* Copies src to out with the value after every "password" key (key=value or URI query
 * key=value) replaced by ***. */
static void mask_password_params(const char *src, char *out, size_t outlen, char sep)
{
    size_t n = 0;
    const char *p = src;
    while (*p != '\0' && n + 1 < outlen) {
        if (strncmp(p, "password", 8) == 0 &&
            (p == src || p[-1] == ' ' || p[-1] == '?' || p[-1] == '&' || p[-1] == sep)) {
            const char *q = p + 8;
            while (*q == ' ') {
                q++;
            }
            if (*q == '=') {
                q++;
                while (*q == ' ') {
                    q++;
                }
                n += (size_t)snprintf(out + n, outlen - n, "password=***");
                if (*q == '\'') {
                    q++;
                    while (*q != '\0' && *q != '\'') {
                        q += (*q == '\\' && q[1] != '\0') ? 2 : 1;
                    }
                    if (*q == '\'') {
                        q++;
                    }
                } else {
                    while (*q != '\0' && *q != ' ' && *q != '&') {
                        q++;
                    }
                }
                p = q;
                if (n >= outlen) {
                    n = outlen - 1;
                }
                continue;
            }
        }
        out[n++] = *p++;
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

/* Appends len bytes of s to out (outlen bytes, n used), cutting at the end; keeps the NUL. */
static void append(char *out, size_t outlen, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < len && *n + 1 < outlen; i++) {
        out[(*n)++] = s[i];
    }
    out[*n] = '\0';
}

/*
 * The DSN as libpq reads it, every option set written as keyword='value' and the password
 * as ***: the fallback when the textual masking below may have missed a password written in
 * a form it does not know. "(a DSN libpq cannot parse)" when libpq cannot read it either.
 */
static void mask_dsn_rebuilt(const char *dsn, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    if (opts == NULL) {
        static const char none[] = "(a DSN libpq cannot parse)";
        append(out, outlen, &n, none, sizeof(none) - 1);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }
        if (n > 0) {
            append(out, outlen, &n, " ", 1);
        }
        append(out, outlen, &n, o->keyword, strlen(o->keyword));
        if (strcmp(o->keyword, "password") == 0) {
            append(out, outlen, &n, "=***", 4);
            continue;
        }
        append(out, outlen, &n, "='", 2);
        for (const char *v = o->val; *v != '\0'; v++) {
            if (*v == '\'' || *v == '\\') {
                append(out, outlen, &n, "\\", 1);
            }
            append(out, outlen, &n, v, 1);
        }
        append(out, outlen, &n, "'", 1);
    }
    PQconninfoFree(opts);
}

/* True when libpq would find a password in dsn and that password shows in text. */
static bool password_shows(const char *dsn, const char *text)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    if (opts == NULL) {
        /* Unreadable for libpq: it connects to nothing, but say nothing of it either. */
        return true;
    }
    bool shows = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0' &&
            strstr(text, o->val) != NULL) {
            shows = true;
        }
    }
    PQconninfoFree(opts);
    return shows;
}

static void mask_dsn_text(const char *dsn, char *out, size_t outlen);

void config_mask_dsn(const char *dsn, char *out, size_t outlen)
{
    if (outlen == 0) {
        return;
    }
    mask_dsn_text(dsn, out, outlen);
    /* The text masking keeps the DSN as the operator wrote it; libpq, which reads more
     * forms than it knows (any white space, percent-encoded keywords...), has the last word
     * on whether the password still shows. */
    if (password_shows(dsn, out)) {
        mask_dsn_rebuilt(dsn, out, outlen);
    }
}

static void mask_dsn_text(const char *dsn, char *out, size_t outlen)
{
    /* Both key=value DSNs and postgresql://user:pass@host/db?password=... URIs. */
    if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0) {
        char tmp[2048];
        const char *auth = strstr(dsn, "://") + 3;
        const char *slash = strchr(auth, '/');
        const char *at = strchr(auth, '@');
        if (at != NULL && slash != NULL && at > slash) {
            at = NULL; /* an @ in the path or query is not user info */
        }
        const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL) {
            snprintf(tmp, sizeof(tmp), "%.*s:***%s", (int)(colon - dsn), dsn, at);
        } else {
            snprintf(tmp, sizeof(tmp), "%s", dsn);
        }
        mask_password_params(tmp, out, outlen, '?');
        return;
    }
    mask_password_params(dsn, out, outlen, ' ');
}

/* "# default", "# file:line" or "# environment NAME" after a printed value. */
static void print_origin(const struct config *cfg, size_t i, FILE *out)
{
    char name[128];
    switch ((enum config_origin)cfg->origin[i]) {
    case CONFIG_DEFAULT:
        fprintf(out, "  ; default\n");
        return;
    case CONFIG_FILE:
        fprintf(out, "  ; file %s:%d\n", cfg->path, cfg->origin_line[i]);
        return;
    case CONFIG_ENV:
        env_name(&options[i], name, sizeof(name));
        fprintf(out, "  ; environment %s\n", name);
        return;
    }
    fputc('\n', out);
}

void config_print(const struct config *cfg, FILE *out)
{
    const char *section = "";
    fprintf(out, "# effective configuration%s%s\n", cfg->path ? " from " : "",
            cfg->path ? cfg->path : " (defaults and environment)");
    fprintf(out, "# after each value: where it came from (default, file:line or environment)\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        if (strcmp(section, o->section) != 0) {
            fprintf(out, "%s[%s]\n", i == 0 ? "" : "\n", o->section);
            section = o->section;
        }
        if (o->type == OPT_BOOL) {
            fprintf(out, "%s = %s", o->key, *int_slot((struct config *)cfg, o) ? "yes" : "no");
            print_origin(cfg, i, out);
            continue;
        }
        if (is_int(o)) {
            fprintf(out, "%s = %d", o->key, *int_slot((struct config *)cfg, o));
            print_origin(cfg, i, out);
            continue;
        }
        const char *v = *str_slot((struct config *)cfg, o);
        if (o->secret && strcmp(o->key, "dsn") == 0) {
            char masked[1024];
            config_mask_dsn(v, masked, sizeof(masked));
            fprintf(out, "%s = %s", o->key, masked);
        } else if (o->secret && strcmp(o->section, "auth") == 0) {
            /* Principals of both auth keys are printed once, under the first, from the
             * parsed table: hashes masked, tokens in clear never. */
            if (strcmp(o->key, "principal") == 0) {
                fprintf(out, "# principal: %zu", auth_count(cfg->auth));
                print_origin(cfg, i, out);
                auth_print(cfg->auth, out);
            } else {
                fprintf(out, "# %s: %s (shown as principal lines above)", o->key,
                        v[0] != '\0' ? "set" : "empty");
                print_origin(cfg, i, out);
            }
            continue;
        } else if (o->secret && strcmp(o->section, "twilio") == 0) {
            fprintf(out, "%s = ", o->key);
            for (size_t t = 0; t < cfg->n_twilio_tokens; t++) {
                fprintf(out, "%s***", t ? "," : "");
            }
        } else if (o->secret) {
            const struct config_token *list =
                strcmp(o->section, "segment") == 0 ? cfg->write_keys : cfg->chatwoot;
            size_t n = strcmp(o->section, "segment") == 0 ? cfg->n_write_keys : cfg->n_chatwoot;
            fprintf(out, "%s = ", o->key);
            for (size_t t = 0; t < n; t++) {
                fprintf(out, "%s%s:***:%s", t ? "," : "", list[t].name, list[t].sources);
            }
        } else {
            fprintf(out, "%s = %s", o->key, v);
        }
        print_origin(cfg, i, out);
    }
}

const struct config_token *config_find_secret(const struct config_token *list, size_t n,
                                              const char *secret)
{
    size_t tl = strlen(secret);
    const struct config_token *found = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = list[i].secret;
        /* Compare every entry in constant time so timing does not reveal a prefix. */
        if (strlen(s) == tl && CRYPTO_memcmp(s, secret, tl) == 0) {
            found = &list[i];
        }
    }
    return found;
}
