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
    OPT_LIST, /* comma-separated; a key repeated in the file appends */
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
};

#define OFF(f) offsetof(struct config, f)

static const struct option_def options[] = {
    {"listen", "tcp", OPT_STRING, OFF(listen_tcp), "127.0.0.1:5170", 0, 0, false, false,
     "TCP ingest protocol (CONTRACT section 3), host:port"},
    {"listen", "http", OPT_STRING, OFF(listen_http), "127.0.0.1:8170", 0, 0, false, false,
     "HTTP API, host:port"},
    {"database", "dsn", OPT_STRING, OFF(database_dsn), "dbname=touchline", 0, 0, true, false,
     "libpq connection string"},
    {"database", "pool_size", OPT_INT, OFF(database_pool_size), "2", 1, 64, false, false,
     "connections to PostgreSQL"},
    {"database", "connect_timeout_s", OPT_INT, OFF(database_connect_timeout_s), "10", 1, 3600,
     false, true, "give up a connection attempt after this long"},
    {"database", "reconnect_max_s", OPT_INT, OFF(database_reconnect_max_s), "10", 1, 3600, false,
     true, "longest wait between reconnection attempts"},
    {"ingest", "max_line_bytes", OPT_INT, OFF(ingest_max_line_bytes), "65536", 1024, 64 << 20,
     false, true, "longer lines are answered too_large"},
    {"ingest", "batch_max_records", OPT_INT, OFF(ingest_batch_max_records), "1000", 1, 10000, false,
     true, "records written in one transaction at most"},
    {"ingest", "batch_max_delay_ms", OPT_INT, OFF(ingest_batch_max_delay_ms), "5", 0, 10000, false,
     true, "how long a record may wait for its batch to fill"},
    {"ingest", "max_inflight_per_connection", OPT_INT, OFF(ingest_max_inflight_per_connection),
     "1000", 1, 1000000, false, true, "unanswered lines per connection before reading pauses"},
    {"ingest", "max_pending_records", OPT_INT, OFF(ingest_max_pending_records), "20000", 1,
     10000000, false, true, "records waiting for the database before all reading pauses"},
    {"ingest", "max_connections", OPT_INT, OFF(ingest_max_connections), "10000", 1, 1000000, false,
     true, "TCP connections at once; more are closed at accept"},
    {"ingest", "idle_timeout_s", OPT_INT, OFF(ingest_idle_timeout_s), "300", 0, 86400 * 7, false,
     true, "close a TCP connection idle this long (0: never)"},
    {"http", "max_body_bytes", OPT_INT, OFF(http_max_body_bytes), "16777216", 1024, 1 << 30, false,
     false, "larger request bodies are answered 413"},
    {"http", "timeout_s", OPT_INT, OFF(http_timeout_s), "30", 1, 3600, false, false,
     "close an HTTP connection idle this long, or without a whole first request "
     "this long after connecting"},
    {"identity", "default_country_code", OPT_STRING, OFF(identity_default_country_code), "98", 0, 0,
     false, false, "country code put in place of the trunk prefix of a national number"},
    {"identity", "trunk_prefix", OPT_STRING, OFF(identity_trunk_prefix), "0", 0, 0, false, false,
     "national trunk prefix; empty: national numbers are rejected"},
    {"identity", "never_merge", OPT_LIST, OFF(identity_never_merge), "", 0, 0, false, false,
     "kind:value identifiers that attach records but never merge customers "
     "(shared lines, info@ addresses)"},
    {"identity", "max_phone", OPT_INT, OFF(identity_max[IDENT_PHONE]), "0", 0, 1000000, false,
     false,
     "a merge that would give a customer more phone numbers than this does not happen "
     "(0: no limit)"},
    {"identity", "max_email", OPT_INT, OFF(identity_max[IDENT_EMAIL]), "0", 0, 1000000, false,
     false, "the same for e-mail addresses"},
    {"identity", "max_chat", OPT_INT, OFF(identity_max[IDENT_CHAT]), "0", 0, 1000000, false, false,
     "the same for chat handles"},
    {"identity", "max_web", OPT_INT, OFF(identity_max[IDENT_WEB]), "0", 0, 1000000, false, false,
     "the same for web ids"},
    {"identity", "max_external", OPT_INT, OFF(identity_max[IDENT_EXTERNAL]), "0", 0, 1000000, false,
     false, "the same for external ids"},
    {"identity", "priority", OPT_STRING, OFF(identity_priority), "external,email,phone,chat,web", 0,
     0, false, false,
     "identifier kinds, most trusted first: a record whose merge a limit refused goes to the "
     "customer of its identifier of the first kind it carries"},
    {"identity", "suspect_customers_per_day", OPT_INT, OFF(identity_suspect_customers_per_day),
     "10", 1, 1000000, false, true,
     "an identifier linking more customers than this in a day is listed as suspect "
     "(GET /v1/conflicts, /metrics)"},
    {"auth", "tokens", OPT_LIST, OFF(auth_tokens), "", 0, 0, true, true,
     "name:secret[:source-pattern|...]; none: no authentication"},
    {"log", "level", OPT_STRING, OFF(log_level), "info", 0, 0, false, true,
     "error, warn, info or debug"},
    {"spool", "dir", OPT_STRING, OFF(spool_dir), "", 0, 0, false, false,
     "directory for records acknowledged while PostgreSQL is unavailable; empty: none "
     "(such records are answered unavailable)"},
    {"spool", "max_mb", OPT_INT, OFF(spool_max_mb), "1024", 1, 1 << 20, false, false,
     "spool size limit in MiB; past it records are answered unavailable"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

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
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        while (*end == ' ') {
            end++;
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
static int add_priority(struct config *cfg, char *item, char *err, size_t errlen, const char *where)
{
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
static int parse_priority(struct config *cfg, char *err, size_t errlen, const char *where)
{
    static const enum ident_kind dflt[IDENT_KIND_COUNT] = {IDENT_EXTERNAL, IDENT_EMAIL, IDENT_PHONE,
                                                           IDENT_CHAT, IDENT_WEB};
    cfg->n_priority = 0;
    if (for_each_item(cfg, cfg->identity_priority, add_priority, err, errlen, where) < 0) {
        return -1;
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

static int add_token(struct config *cfg, char *item, char *err, size_t errlen, const char *where)
{
    char *c1 = strchr(item, ':');
    if (c1 == NULL || c1 == item || c1[1] == '\0' || c1[1] == ':') {
        errmsg_set(err, errlen, "%s: [auth] tokens: entry %zu must be name:secret[:sources]", where,
                   cfg->n_tokens + 1);
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
    if (strlen(secret) < 8) {
        errmsg_set(err, errlen,
                   "%s: [auth] tokens: the token of \"%s\" is shorter than 8 characters", where,
                   item);
        return -1;
    }
    struct config_token *grown =
        realloc(cfg->tokens, (cfg->n_tokens + 1) * sizeof(struct config_token));
    if (grown == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    cfg->tokens = grown;
    struct config_token *t = &cfg->tokens[cfg->n_tokens];
    t->name = strdup(item);
    t->secret = strdup(secret);
    t->sources = strdup(sources);
    cfg->n_tokens++;
    if (t->name == NULL || t->secret == NULL || t->sources == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
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
    if (parse_priority(cfg, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->identity_never_merge, add_never_merge, err, errlen, where) < 0 ||
        for_each_item(cfg, cfg->auth_tokens, add_token, err, errlen, where) < 0) {
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

void config_free(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].type != OPT_INT) {
            free(*str_slot(cfg, &options[i]));
        }
    }
    for (size_t i = 0; i < cfg->n_never_merge; i++) {
        free(cfg->never_merge[i]);
    }
    free(cfg->never_merge);
    for (size_t i = 0; i < cfg->n_never_merge_patterns; i++) {
        regfree(&cfg->never_merge_patterns[i].re);
    }
    free(cfg->never_merge_patterns);
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        free(cfg->tokens[i].name);
        free(cfg->tokens[i].secret);
        free(cfg->tokens[i].sources);
    }
    free(cfg->tokens);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
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
        if (o->type == OPT_INT) {
            fprintf(out, "%s = %d\n", o->key, *int_slot((struct config *)cfg, o));
            continue;
        }
        const char *v = *str_slot((struct config *)cfg, o);
        if (o->secret && strcmp(o->key, "dsn") == 0) {
            char masked[1024];
            config_mask_dsn(v, masked, sizeof(masked));
            fprintf(out, "%s = %s\n", o->key, masked);
        } else if (o->secret) {
            fprintf(out, "%s = ", o->key);
            for (size_t t = 0; t < cfg->n_tokens; t++) {
                fprintf(out, "%s%s:***:%s", t ? "," : "", cfg->tokens[t].name,
                        cfg->tokens[t].sources);
            }
            fputc('\n', out);
        } else {
            fprintf(out, "%s = %s\n", o->key, v);
        }
    }
}

const struct config_token *config_find_token(const struct config *cfg, const char *token)
{
    size_t tl = strlen(token);
    const struct config_token *found = NULL;
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        const char *s = cfg->tokens[i].secret;
        /* Compare every entry in constant time so timing does not reveal a prefix. */
        if (strlen(s) == tl && CRYPTO_memcmp(s, token, tl) == 0) {
            found = &cfg->tokens[i];
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
