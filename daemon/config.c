#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "errmsg.h"

enum opt_type {
    OPT_STRING,
    OPT_INT,
    OPT_SECONDS, /* an int of seconds, which may be written with a unit: 90s, 30m, 1h, 2d */
    OPT_LIST,    /* comma-separated; a key repeated in the file appends */
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
    {"http", "max_body_bytes", OPT_INT, OFF(http_max_body_bytes), "5242880", 1024, 1 << 30, false,
     false, "larger request bodies (and gzip bodies inflating to more) are answered 413", 0},
    {"http", "timeout_s", OPT_INT, OFF(http_timeout_s), "30", 1, 3600, false, false,
     "close an HTTP connection idle this long, or without a whole first request "
     "this long after connecting",
     0},
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
    {"auth", "tokens", OPT_LIST, OFF(auth_tokens), "", 0, 0, true, true,
     "name:secret[:source-pattern|...]; none: no authentication", 0},
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
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Options held in an int: counts, and durations in seconds. */
static bool is_int(const struct option_def *o)
{
    return o->type == OPT_INT || o->type == OPT_SECONDS;
}

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
    return 1;
}

static void env_name(const struct option_def *o, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "TOUCHLINE_%s_%s", o->section, o->key);
    for (size_t i = 0; i < n && i < outlen; i++) {
        out[i] = (char)toupper((unsigned char)out[i]);
    }
}

static char *trim_inplace(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

/* What one item of a comma-separated list option adds to the config. */
typedef int (*item_fn)(struct config *cfg, char *item, char *err, size_t errlen, const char *where);

/* Calls fn for each non-empty, trimmed item of a comma-separated list. Returns 0 or -1. */
static int for_each_item(struct config *cfg, const char *list, item_fn fn, char *err, size_t errlen,
                         const char *where)
{
    char *copy = strdup(list);
    if (copy == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        char *item = trim_inplace(tok);
        if (*item != '\0') {
            rc = fn(cfg, item, err, errlen, where);
        }
    }
    free(copy);
    return rc;
}

static int add_never_merge(struct config *cfg, char *item, char *err, size_t errlen,
                           const char *where)
{
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

/* Parses name:secret[:sources] into a new entry of *list. what names the key in messages;
 * one_source: sources must be one source name (not patterns) and is required. */
static int add_entry(struct config_token **list, size_t *n, const char *what, bool one_source,
                     char *item, char *err, size_t errlen, const char *where)
{
    const char *shape = one_source ? "name:secret:source" : "name:secret[:sources]";
    char *c1 = strchr(item, ':');
    if (c1 == NULL || c1 == item || c1[1] == '\0' || c1[1] == ':') {
        errmsg_set(err, errlen, "%s: %s: entry %zu must be %s", where, what, *n + 1, shape);
        return -1;
    }
    *c1 = '\0';
    char *secret = c1 + 1;
    char *c2 = strchr(secret, ':');
    const char *sources = "*";
    if (c2 != NULL) {
        *c2 = '\0';
        sources = c2 + 1;
    }
    if (one_source && (c2 == NULL || !record_valid_source(sources))) {
        errmsg_set(err, errlen, "%s: %s: entry %zu must be %s, source 1-64 of [A-Za-z0-9._:-]",
                   where, what, *n + 1, shape);
        return -1;
    }
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
    t->sources = strdup(sources);
    (*n)++;
    if (t->name == NULL || t->secret == NULL || t->sources == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int add_token(struct config *cfg, char *item, char *err, size_t errlen, const char *where)
{
    return add_entry(&cfg->tokens, &cfg->n_tokens, "[auth] tokens", false, item, err, errlen,
                     where);
}

static int add_write_key(struct config *cfg, char *item, char *err, size_t errlen,
                         const char *where)
{
    return add_entry(&cfg->write_keys, &cfg->n_write_keys, "[segment] write_keys", true, item, err,
                     errlen, where);
}

static int add_chatwoot_hook(struct config *cfg, char *item, char *err, size_t errlen,
                             const char *where)
{
    return add_entry(&cfg->chatwoot, &cfg->n_chatwoot, "[chatwoot] hooks", true, item, err, errlen,
                     where);
}

static int add_twilio_token(struct config *cfg, char *item, char *err, size_t errlen,
                            const char *where)
{
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
    if (for_each_item(cfg, cfg->identity_never_merge, add_never_merge, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->auth_tokens, add_token, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->segment_write_keys, add_write_key, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->chatwoot_hooks, add_chatwoot_hook, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->twilio_auth_tokens, add_twilio_token, err, errlen, where) < 0) {
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
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        free(cfg->tokens[i].name);
        free(cfg->tokens[i].secret);
        free(cfg->tokens[i].sources);
    }
    free(cfg->tokens);
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
    cfg->tokens = NULL;
    cfg->n_tokens = 0;
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
    }
    struct config t = *cur;
    cur->level = fresh->level;
    cur->record_opts = fresh->record_opts;
    cur->never_merge = fresh->never_merge;
    cur->n_never_merge = fresh->n_never_merge;
    cur->tokens = fresh->tokens;
    cur->n_tokens = fresh->n_tokens;
    cur->write_keys = fresh->write_keys;
    cur->n_write_keys = fresh->n_write_keys;
    cur->chatwoot = fresh->chatwoot;
    cur->n_chatwoot = fresh->n_chatwoot;
    cur->twilio_tokens = fresh->twilio_tokens;
    cur->n_twilio_tokens = fresh->n_twilio_tokens;
    fresh->level = t.level;
    fresh->record_opts = t.record_opts;
    fresh->never_merge = t.never_merge;
    fresh->n_never_merge = t.n_never_merge;
    fresh->tokens = t.tokens;
    fresh->n_tokens = t.n_tokens;
    fresh->write_keys = t.write_keys;
    fresh->n_write_keys = t.n_write_keys;
    fresh->chatwoot = t.chatwoot;
    fresh->n_chatwoot = t.n_chatwoot;
    fresh->twilio_tokens = t.twilio_tokens;
    fresh->n_twilio_tokens = t.n_twilio_tokens;
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

void config_print(const struct config *cfg, FILE *out)
{
    const char *section = "";
    fprintf(out, "# effective configuration%s%s\n", cfg->path ? " from " : "",
            cfg->path ? cfg->path : " (defaults and environment)");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        if (strcmp(section, o->section) != 0) {
            fprintf(out, "%s[%s]\n", i == 0 ? "" : "\n", o->section);
            section = o->section;
        }
        if (is_int(o)) {
            fprintf(out, "%s = %d\n", o->key, *int_slot((struct config *)cfg, o));
            continue;
        }
        const char *v = *str_slot((struct config *)cfg, o);
        if (o->secret && strcmp(o->key, "dsn") == 0) {
            char masked[1024];
            config_mask_dsn(v, masked, sizeof(masked));
            fprintf(out, "%s = %s\n", o->key, masked);
        } else if (o->secret && strcmp(o->section, "twilio") == 0) {
            fprintf(out, "%s = ", o->key);
            for (size_t t = 0; t < cfg->n_twilio_tokens; t++) {
                fprintf(out, "%s***", t ? "," : "");
            }
            fputc('\n', out);
        } else if (o->secret) {
            const struct config_token *list = strcmp(o->section, "segment") == 0 ? cfg->write_keys
                                              : strcmp(o->section, "chatwoot") == 0 ? cfg->chatwoot
                                                                                    : cfg->tokens;
            size_t n = strcmp(o->section, "segment") == 0    ? cfg->n_write_keys
                       : strcmp(o->section, "chatwoot") == 0 ? cfg->n_chatwoot
                                                             : cfg->n_tokens;
            fprintf(out, "%s = ", o->key);
            for (size_t t = 0; t < n; t++) {
                fprintf(out, "%s%s:***:%s", t ? "," : "", list[t].name, list[t].sources);
            }
            fputc('\n', out);
        } else {
            fprintf(out, "%s = %s\n", o->key, v);
        }
    }
}

const struct config_token *config_find_token(const struct config *cfg, const char *token)
{
    return config_find_secret(cfg->tokens, cfg->n_tokens, token);
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

bool config_token_allows(const struct config_token *tok, const char *source)
{
    char patterns[1024];
    snprintf(patterns, sizeof(patterns), "%s", tok->sources);
    char *save = NULL;
    for (char *p = strtok_r(patterns, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save)) {
        if (fnmatch(trim_inplace(p), source, 0) == 0) {
            return true;
        }
    }
    return false;
}
