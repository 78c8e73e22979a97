#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"
#include "record.h"
#include "strlist.h"
#include "token.h"

#define NAME_MAX_LEN 63

struct auth_principal {
    int refs;
    char name[NAME_MAX_LEN + 1];
    unsigned scopes;
    char *channels; /* '|'-separated channel names; NULL: every channel */
    char *sources;  /* '|'-separated fnmatch patterns */
    unsigned char (*hashes)[TOKEN_HASH_LEN];
    size_t n_hashes;
    bool legacy;
    /* Rate limits (0: none) and their buckets. */
    double rate, burst, read_rate;
    double bucket_w, bucket_r;
    double last_w, last_r;
};

struct auth {
    struct auth_principal **p;
    size_t n;
    bool legacy;
};

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {{"ingest", AUTH_INGEST}, {"read", AUTH_READ}, {"admin", AUTH_ADMIN}};

#define N_SCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

struct auth_principal *auth_principal_ref(const struct auth_principal *p)
{
    struct auth_principal *m = (struct auth_principal *)p;
    if (m != NULL) {
        m->refs++;
    }
    return m;
}

void auth_principal_unref(struct auth_principal *p)
{
    if (p == NULL || --p->refs > 0) {
        return;
    }
    free(p->channels);
    free(p->sources);
    free(p->hashes);
    free(p);
}

void auth_free(struct auth *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        auth_principal_unref(a->p[i]);
    }
    free(a->p);
    free(a);
}

bool auth_enabled(const struct auth *a)
{
    return a != NULL && a->n > 0;
}

bool auth_has_legacy(const struct auth *a)
{
    return a != NULL && a->legacy;
}

size_t auth_count(const struct auth *a)
{
    return a != NULL ? a->n : 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != '@') {
            return false;
        }
    }
    return true;
}

struct auth_principal *auth_find_principal(const struct auth *a, const char *name)
{
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        if (strcmp(a->p[i]->name, name) == 0) {
            return a->p[i];
        }
    }
    return NULL;
}

static int add_hash(struct auth_principal *p, const unsigned char h[TOKEN_HASH_LEN])
{
    unsigned char(*g)[TOKEN_HASH_LEN] = realloc(p->hashes, (p->n_hashes + 1) * sizeof(*g));
    if (g == NULL) {
        return -1;
    }
    p->hashes = g;
    memcpy(p->hashes[p->n_hashes++], h, TOKEN_HASH_LEN);
    return 0;
}

static struct auth_principal *principal_new(const char *name)
{
    struct auth_principal *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->refs = 1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->sources = strdup("*");
    if (p->sources == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static int table_add(struct auth *a, struct auth_principal *p)
{
    struct auth_principal **g = realloc(a->p, (a->n + 1) * sizeof(*g));
    if (g == NULL) {
        return -1;
    }
    a->p = g;
    a->p[a->n++] = p;
    return 0;
}

static int parse_scopes(const char *v, unsigned *out)
{
    char copy[128];
    if (strlen(v) >= sizeof(copy) || v[0] == '\0') {
        return -1;
    }
    snprintf(copy, sizeof(copy), "%s", v);
    unsigned bits = 0;
    char *save = NULL;
    for (char *s = strtok_r(copy, "|", &save); s != NULL; s = strtok_r(NULL, "|", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < N_SCOPES; i++) {
            if (strcmp(s, scope_names[i].name) == 0) {
                bit = scope_names[i].bit;
            }
        }
        if (bit == 0) {
            return -1;
        }
        bits |= bit;
    }
    *out = bits;
    return 0;
}

static int parse_channels(const char *v)
{
    char copy[256];
    if (strlen(v) >= sizeof(copy) || v[0] == '\0') {
        return -1;
    }
    snprintf(copy, sizeof(copy), "%s", v);
    char *save = NULL;
    for (char *s = strtok_r(copy, "|", &save); s != NULL; s = strtok_r(NULL, "|", &save)) {
        if (record_channel_index(s) < 0) {
            return -1;
        }
    }
    return 0;
}

static int parse_rate(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d > 0) || d > 1e9) {
        return -1;
    }
    *out = d;
    return 0;
}

static void token_field_error(const char *name, const char *where, char *err, size_t errlen)
{
    errmsg_set(err, errlen,
               "%s: [auth] principal %s: token= takes a hash, sha256:<64 hex>, never the token "
               "itself; make a token and its hash with touchlined --hash-token",
               where, name);
}

/*
 * A further entry of a principal already defined: only more token= (a line holds two hashes
 * at most, and rotation adds one while the old one still works).
 */
static int add_tokens(struct auth_principal *p, char *save, const char *where, char *err,
                      size_t errlen)
{
    for (char *f = strtok_r(NULL, " \t", &save); f != NULL; f = strtok_r(NULL, " \t", &save)) {
        unsigned char h[TOKEN_HASH_LEN];
        if (strncmp(f, "token=", 6) != 0) {
            errmsg_set(err, errlen,
                       "%s: [auth] principal %s is defined twice: a further entry of the same "
                       "name may only add token=",
                       where, p->name);
            return -1;
        }
        if (token_parse_hash(f + 6, h) < 0) {
            token_field_error(p->name, where, err, errlen);
            return -1;
        }
        if (add_hash(p, h) < 0) {
            errmsg_set(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* One entry of [auth] principal: "NAME key=value ...". */
static int parse_principal(struct auth *a, char *entry, const char *where, char *err, size_t errlen)
{
    char *save = NULL;
    char *name = strtok_r(entry, " \t", &save);
    if (name == NULL) {
        return 0;
    }
    if (!valid_name(name)) {
        errmsg_set(err, errlen,
                   "%s: [auth] principal: name \"%.64s\" must be 1-63 of [A-Za-z0-9._@-]", where,
                   name);
        return -1;
    }
    struct auth_principal *prev = auth_find_principal(a, name);
    if (prev != NULL) {
        return add_tokens(prev, save, where, err, errlen);
    }
    struct auth_principal *p = principal_new(name);
    if (p == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    bool have_scopes = false;
    for (char *f = strtok_r(NULL, " \t", &save); f != NULL; f = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(f, '=');
        if (eq == NULL) {
            errmsg_set(err, errlen, "%s: [auth] principal %s: \"%.64s\" is not key=value", where,
                       name, f);
            goto fail;
        }
        *eq = '\0';
        const char *k = f, *v = eq + 1;
        if (strcmp(k, "token") == 0) {
            unsigned char h[TOKEN_HASH_LEN];
            if (token_parse_hash(v, h) < 0) {
                token_field_error(name, where, err, errlen);
                goto fail;
            }
            if (add_hash(p, h) < 0) {
                errmsg_set(err, errlen, "out of memory");
                goto fail;
            }
        } else if (strcmp(k, "scopes") == 0) {
            if (parse_scopes(v, &p->scopes) < 0) {
                errmsg_set(err, errlen,
                           "%s: [auth] principal %s: scopes=\"%.64s\": give ingest, read, admin "
                           "joined by |",
                           where, name, v);
                goto fail;
            }
            have_scopes = true;
        } else if (strcmp(k, "channels") == 0) {
            if (parse_channels(v) < 0) {
                errmsg_set(err, errlen,
                           "%s: [auth] principal %s: channels=\"%.64s\": give channels (phone, "
                           "sms, email, chat, web, social, in_person, other) joined by |",
                           where, name, v);
                goto fail;
            }
            free(p->channels);
            p->channels = strdup(v);
            if (p->channels == NULL) {
                errmsg_set(err, errlen, "out of memory");
                goto fail;
            }
        } else if (strcmp(k, "sources") == 0) {
            if (v[0] == '\0' || strlen(v) > 512) {
                errmsg_set(err, errlen,
                           "%s: [auth] principal %s: sources= takes patterns joined by |", where,
                           name);
                goto fail;
            }
            free(p->sources);
            p->sources = strdup(v);
            if (p->sources == NULL) {
                errmsg_set(err, errlen, "out of memory");
                goto fail;
            }
        } else if (strcmp(k, "rate") == 0 || strcmp(k, "burst") == 0 ||
                   strcmp(k, "read_rate") == 0) {
            double *slot = k[0] == 'b' ? &p->burst : k[1] == 'a' ? &p->rate : &p->read_rate;
            if (parse_rate(v, slot) < 0) {
                errmsg_set(err, errlen,
                           "%s: [auth] principal %s: %s=\"%.32s\" must be a number > 0", where,
                           name, k, v);
                goto fail;
            }
        } else {
            errmsg_set(err, errlen,
                       "%s: [auth] principal %s: unknown key \"%.32s\" (scopes, token, channels, "
                       "sources, rate, burst, read_rate)",
                       where, name, k);
            goto fail;
        }
    }
    if (!have_scopes) {
        errmsg_set(err, errlen,
                   "%s: [auth] principal %s: give its scopes, e.g. scopes=ingest or scopes=read",
                   where, name);
        goto fail;
    }
    if (p->n_hashes == 0) {
        errmsg_set(err, errlen,
                   "%s: [auth] principal %s: give at least one token=sha256:<hash> (touchlined "
                   "--hash-token makes one)",
                   where, name);
        goto fail;
    }
    if (p->burst == 0) {
        p->burst = p->rate;
    }
    p->bucket_w = p->burst;
    p->bucket_r = p->read_rate;
    if (table_add(a, p) < 0) {
        errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    return 0;
fail:
    auth_principal_unref(p);
    return -1;
}

/* One entry of the older [auth] tokens: "name:secret[:pattern|...]". */
static int parse_legacy(struct auth *a, char *item, const char *where, char *err, size_t errlen)
{
    char *c1 = strchr(item, ':');
    if (c1 == NULL || c1 == item || c1[1] == '\0' || c1[1] == ':') {
        errmsg_set(err, errlen, "%s: [auth] tokens: entry %zu must be name:secret[:sources]", where,
                   a->n + 1);
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
    if (!valid_name(item)) {
        errmsg_set(err, errlen, "%s: [auth] tokens: name \"%.64s\" must be 1-63 of [A-Za-z0-9._@-]",
                   where, item);
        return -1;
    }
    if (strlen(secret) < 8) {
        errmsg_set(err, errlen,
                   "%s: [auth] tokens: the token of \"%s\" is shorter than 8 characters", where,
                   item);
        return -1;
    }
    unsigned char h[TOKEN_HASH_LEN];
    token_hash(secret, strlen(secret), h);
    struct auth_principal *p = auth_find_principal(a, item);
    if (p != NULL) {
        if (!p->legacy || strcmp(p->sources, sources) != 0) {
            errmsg_set(err, errlen,
                       "%s: [auth] tokens: principal %s is defined twice with different rights",
                       where, item);
            return -1;
        }
        if (add_hash(p, h) < 0) {
            errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    p = principal_new(item);
    if (p == NULL || add_hash(p, h) < 0) {
        auth_principal_unref(p);
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    free(p->sources);
    p->sources = strdup(sources);
    /* What every token could do before principals had scopes. */
    p->scopes = AUTH_INGEST | AUTH_READ | AUTH_ADMIN;
    p->legacy = true;
    if (p->sources == NULL || table_add(a, p) < 0) {
        auth_principal_unref(p);
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    a->legacy = true;
    return 0;
}

/* One list's entries and where errors go. */
struct entry_ctx {
    struct auth *a;
    int (*fn)(struct auth *a, char *entry, const char *where, char *err, size_t errlen);
    const char *where;
    char *err;
    size_t errlen;
};

static int entry_cb(char *entry, void *arg)
{
    struct entry_ctx *ctx = arg;
    return ctx->fn(ctx->a, entry, ctx->where, ctx->err, ctx->errlen);
}

int auth_parse(const char *principals, const char *legacy_tokens, const char *where,
               struct auth **out, char *err, size_t errlen)
{
    *out = NULL;
    struct auth *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    struct entry_ctx pc = {a, parse_principal, where, err, errlen};
    struct entry_ctx lc = {a, parse_legacy, where, err, errlen};
    int rc = strlist_each(principals, entry_cb, &pc);
    if (rc == 0) {
        rc = strlist_each(legacy_tokens, entry_cb, &lc);
    }
    if (rc != 0) {
        if (rc == -2) {
            errmsg_set(err, errlen, "out of memory");
        }
        auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

struct auth_principal *auth_check_token(const struct auth *a, const char *token)
{
    if (a == NULL || token == NULL) {
        return NULL;
    }
    unsigned char h[TOKEN_HASH_LEN];
    token_hash(token, strlen(token), h);
    struct auth_principal *found = NULL;
    /* Every hash is compared, found or not, so that timing tells nothing. */
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < a->p[i]->n_hashes; j++) {
            if (token_hash_equal(a->p[i]->hashes[j], h)) {
                found = a->p[i];
            }
        }
    }
    return found;
}

const char *auth_principal_name(const struct auth_principal *p)
{
    return p != NULL ? p->name : "anonymous";
}

bool auth_principal_may(const struct auth_principal *p, enum auth_scope scope)
{
    return p != NULL && (p->scopes & (unsigned)scope) != 0;
}

static bool in_bar_list(const char *list, const char *item, bool patterns)
{
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", list);
    char *save = NULL;
    for (char *s = strtok_r(copy, "|", &save); s != NULL; s = strtok_r(NULL, "|", &save)) {
        s = strlist_trim(s);
        if (patterns ? fnmatch(s, item, 0) == 0 : strcmp(s, item) == 0) {
            return true;
        }
    }
    return false;
}

bool auth_principal_may_write(const struct auth_principal *p, const char *channel,
                              const char *source, char *why, size_t whylen)
{
    if (!auth_principal_may(p, AUTH_INGEST)) {
        errmsg_set(why, whylen, "principal %s has no ingest scope", auth_principal_name(p));
        return false;
    }
    if (p->channels != NULL && !in_bar_list(p->channels, channel, false)) {
        errmsg_set(why, whylen, "channel: principal %s may not write records of channel %s",
                   p->name, channel);
        return false;
    }
    if (!in_bar_list(p->sources, source, true)) {
        errmsg_set(why, whylen, "source: principal %s may not write records of source %s", p->name,
                   source);
        return false;
    }
    return true;
}

void auth_scopes_text(unsigned scopes, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_SCOPES; i++) {
        if ((scopes & scope_names[i].bit) != 0 && n < outlen) {
            n += (size_t)snprintf(out + n, outlen - n, "%s%s", n > 0 ? "|" : "",
                                  scope_names[i].name);
        }
    }
}

void auth_print(const struct auth *a, FILE *out)
{
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        const struct auth_principal *p = a->p[i];
        char scopes[64];
        auth_scopes_text(p->scopes, scopes, sizeof(scopes));
        fprintf(out, "principal = %s scopes=%s", p->name, scopes);
        if (p->channels != NULL) {
            fprintf(out, " channels=%s", p->channels);
        }
        if (strcmp(p->sources, "*") != 0) {
            fprintf(out, " sources=%s", p->sources);
        }
        if (p->rate > 0) {
            fprintf(out, " rate=%g burst=%g", p->rate, p->burst);
        }
        if (p->read_rate > 0) {
            fprintf(out, " read_rate=%g", p->read_rate);
        }
        for (size_t j = 0; j < p->n_hashes; j++) {
            fprintf(out, " token=sha256:%02x%02x...(masked)", p->hashes[j][0], p->hashes[j][1]);
        }
        fprintf(out, "%s\n", p->legacy ? "  ; from [auth] tokens: a token in clear" : "");
    }
}

static int take(double rate, double burst, double *bucket, double *last, double cost, double now)
{
    if (rate <= 0) {
        return 0;
    }
    if (*last > 0) {
        *bucket = fmin(burst, *bucket + (now - *last) * rate);
    }
    *last = now;
    if (*bucket >= cost) {
        *bucket -= cost;
        return 0;
    }
    double wait = (cost - *bucket) / rate;
    return wait < 1 ? 1 : (int)ceil(wait);
}

int auth_principal_take(struct auth_principal *p, bool reads, double cost)
{
    if (p == NULL) {
        return 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return reads ? take(p->read_rate, fmax(p->read_rate, 1), &p->bucket_r, &p->last_r, cost, now_s)
                 : take(p->rate, fmax(p->burst, 1), &p->bucket_w, &p->last_w, cost, now_s);
}
