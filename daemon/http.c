#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "analytics.h"
#include "auth.h"
#include "batch.h"
#include "config.h"
#include "console.h"
#include "db.h"
#include "deliver.h"
#include "errmsg.h"
#include "hin.h"
#include "httpreply.h"
#include "ingest.h"
#include "live.h"
#include "jsondoc.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "normalize.h"
#include "record.h"
#include "replica.h"
#include "retention.h"
#include "spool.h"
#include "store.h"
#include "tls.h"

#define TIMELINE_DEFAULT_LIMIT 50
#define TIMELINE_MAX_LIMIT     500
#define MAX_PARAMS             16

/*
 * A connection that has not yet sent a whole request. libevent's timeouts restart with
 * every byte read, so a client that sends its headers a byte a second would hold the
 * connection for ever; this deadline cuts it off http.timeout_s after it connected. The
 * extra reference keeps the bufferevent (and its socket) alive until the deadline is gone.
 */
struct pending_conn {
    struct http *h;
    struct bufferevent *bev;
    struct event *timer;
    LIST_ENTRY(pending_conn) link;
};

struct http {
    struct http_params p;
    struct evhttp *evh;
    int port;
    int inflight;
    LIST_HEAD(, pending_conn) pending;
    LIST_HEAD(, export) exports; /* streaming, to cancel when their client goes */
    /* Open client connections, to count them: libevent has no hook for a new one, so a
     * connection is noted at its first request and forgotten when it closes. */
    struct evhttp_connection **conns;
    size_t n_conns, cap_conns;
    unsigned long requests;
    unsigned long merges_manual;
    unsigned long auth_failures;
    unsigned long forbidden;
    unsigned long rate_limited;
    struct log_limit auth_log;
};

/* Records per page of an export: a page is held in memory once as it goes out. */
#define EXPORT_PAGE_RECORDS 200

/*
 * GET /v1/customers/{id}/export, streamed: the head (profile, identities, merges) and then
 * the records a page at a time, the next page asked for only once the previous one is
 * written to the socket, so that memory stays at one page whatever the person's history.
 */
struct export
{
    struct http *h;
    struct evhttp_request *req; /* NULL once the client went away */
    struct evhttp_connection *evcon;
    LIST_ENTRY(export) link;
    char id[RECORD_UUID_LEN + 1];
    char principal[64];
    bool head_done; /* the head was sent: errors can no longer change the status */
    bool page_outstanding;
    unsigned long pages;
    /* The current job's outcome. */
    char *text;
    char last_ts[40];
    char last_id[RECORD_UUID_LEN + 1];
    int n;
    char sqlstate[6];
    char errmsg[256];
};

/* One request waiting for the database. */
struct query {
    struct http *h;
    struct evhttp_request *req;
    const char *statement;
    int nparams;
    char *params[STORE_TIMELINE_NPARAMS];
    char not_found[320]; /* handle_merge words it in up to 300 bytes */
    /* Outcome. */
    bool have_row;
    char *body; /* JSON text from the database, NULL when it answered NULL */
    char sqlstate[6];
    char errmsg[256];
};

void http_params_free(struct http_param *p, int n)
{
    for (int i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
}

static int parse_pairs(const char *q, struct http_param *out, int max, int plus_is_space);

/* '+' stays '+': phone numbers are written with it far more often than form-encoded spaces
 * are. */
int http_parse_query(const char *q, struct http_param *out, int max)
{
    return parse_pairs(q, out, max, 0);
}

int http_parse_form(const char *q, struct http_param *out, int max)
{
    return parse_pairs(q, out, max, 1);
}

static int parse_pairs(const char *q, struct http_param *out, int max, int plus_is_space)
{
    int n = 0;
    if (q == NULL) {
        return 0;
    }
    while (*q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
        if (len > 0) {
            if (n >= max) {
                http_params_free(out, n);
                return -1;
            }
            const char *eq = memchr(q, '=', len);
            size_t klen = eq != NULL ? (size_t)(eq - q) : len;
            char *k = strndup(q, klen);
            char *v = eq != NULL ? strndup(eq + 1, len - klen - 1) : strdup("");
            size_t dk = 0, dv = 0;
            char *kd = k != NULL ? evhttp_uridecode(k, plus_is_space, &dk) : NULL;
            char *vd = v != NULL ? evhttp_uridecode(v, plus_is_space, &dv) : NULL;
            free(k);
            free(v);
            if (kd == NULL || vd == NULL || strlen(kd) != dk || strlen(vd) != dv) {
                free(kd);
                free(vd);
                http_params_free(out, n);
                return -1;
            }
            out[n].key = kd;
            out[n].value = vd;
            n++;
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return n;
}

int http_parse_cursor(const char *cursor, char ts[28], char id[37])
{
    /* Microseconds since the epoch, negative before 1970, then '-' and the id's hex. */
    bool neg = cursor[0] == '-';
    const char *digits = neg ? cursor + 1 : cursor;
    const char *dash = strchr(digits, '-');
    if (dash == NULL || dash == digits || dash - digits > 19 || strlen(dash + 1) != 32) {
        return -1;
    }
    int64_t us = 0;
    for (const char *p = digits; p < dash; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        if (us > (INT64_MAX - 9) / 10) {
            return -1;
        }
        us = us * 10 + (*p - '0');
    }
    us = neg ? -us : us;
    /* Years 1..9999 only, like the records themselves. */
    if (us < -62135596800000000LL || us > 253402300799999999LL) {
        return -1;
    }
    const char *hex = dash + 1;
    int o = 0;
    for (int i = 0; i < 32; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return -1;
        }
        if (i == 8 || i == 12 || i == 16 || i == 20) {
            id[o++] = '-';
        }
        id[o++] = c;
    }
    id[o] = '\0';
    record_format_time(us, ts);
    return 0;
}

static void query_free(struct query *q)
{
    for (int i = 0; i < STORE_TIMELINE_NPARAMS; i++) {
        free(q->params[i]);
    }
    free(q->body);
    free(q);
}

static int query_send(PGconn *conn, void *arg)
{
    struct query *q = arg;
    return db_send_prepared(conn, q->statement, q->nparams, (const char *const *)q->params);
}

/* The SQLSTATE and primary message of a failed statement, for the answer and the log. */
static void copy_error(const PGresult *res, char (*sqlstate)[6], char (*errmsg)[256])
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(*sqlstate, sizeof(*sqlstate), "%s", s != NULL ? s : "");
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(*errmsg, sizeof(*errmsg), "%s", m != NULL ? m : "query failed");
}

static int query_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct query *q = arg;
    (void)conn;
    (void)index;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        q->have_row = true;
        if (!PQgetisnull(res, 0, 0)) {
            q->body = strdup(PQgetvalue(res, 0, 0));
        }
    } else if (st == PGRES_FATAL_ERROR) {
        copy_error(res, &q->sqlstate, &q->errmsg);
    }
    return 0;
}

static void query_done(enum db_outcome outcome, void *arg)
{
    struct query *q = arg;
    q->h->inflight--;
    if (outcome == DB_LOST) {
        httpreply_error(q->req, 503, "unavailable", "the database connection was lost; retry");
    } else if (strncmp(q->sqlstate, "22", 2) == 0) {
        log_debug("http query %s refused: %s", q->statement, q->errmsg);
        httpreply_error(q->req, 400, "invalid_request", q->errmsg);
    } else if (strcmp(q->sqlstate, "P0002") == 0) {
        /* A function's "no such thing", with a message naming it. */
        httpreply_error(q->req, 404, "not_found", q->errmsg);
    } else if (strncmp(q->sqlstate, "40", 2) == 0 || strcmp(q->sqlstate, "55P03") == 0) {
        /* Deadlock or serialization: a concurrent change to the same customers. */
        log_warn("http query %s gave way to a concurrent change: %s (SQLSTATE %s)", q->statement,
                 q->errmsg, q->sqlstate);
        httpreply_error(q->req, 503, "unavailable", "a concurrent change got in the way; retry");
    } else if (q->sqlstate[0] != '\0') {
        log_error("http query %s failed: %s (SQLSTATE %s)", q->statement, q->errmsg, q->sqlstate);
        httpreply_error(q->req, 500, "internal", "the query failed; see the daemon's log");
    } else if (!q->have_row || q->body == NULL) {
        httpreply_error(q->req, 404, "not_found", q->not_found);
    } else {
        if (strcmp(q->statement, STORE_MERGE_MANUAL) == 0) {
            q->h->merges_manual++;
        }
        httpreply_json(q->req, 200, q->body, strlen(q->body));
    }
    query_free(q);
}

static const struct db_job_ops query_ops = {query_send, query_result, query_done};

/*
 * Reads that may be answered from a replica's slightly older data (docs/scaling.md). The
 * context (screen pop) stays on the primary: an agent's screen must show the record that
 * just arrived; so do merges and erasure, which write, and GET /v1/stats, which first brings
 * the analytics facts up to date (docs/analytics.md) and then reads a few thousand sums.
 */
static bool replica_may_answer(const char *statement)
{
    static const char *const reads[] = {STORE_FIND, STORE_PROFILE, STORE_TIMELINE};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        if (strcmp(statement, reads[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Takes ownership of q. */
static void query_run(struct http *h, struct query *q)
{
    q->h = h;
    struct db *db = replica_may_answer(q->statement) ? replica_pick(h->p.replica) : NULL;
    if (db_submit(db != NULL ? db : h->p.db, &query_ops, q) < 0) {
        httpreply_error(q->req, 503, "unavailable", "the database is unavailable; retry later");
        query_free(q);
        return;
    }
    h->inflight++;
}

static void export_free(struct export *e)
{
    LIST_REMOVE(e, link);
    free(e->text);
    free(e);
}

static int export_send(PGconn *conn, void *arg)
{
    struct export *e = arg;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", EXPORT_PAGE_RECORDS);
    if (!e->head_done) {
        const char *p[] = {e->id, e->principal};
        return db_send_prepared(conn, STORE_EXPORT_HEAD, 2, p);
    }
    const char *p[] = {e->id, e->pages > 0 ? e->last_ts : NULL, e->pages > 0 ? e->last_id : NULL,
                       limit};
    return db_send_prepared(conn, STORE_EXPORT_PAGE, 4, p);
}

static int export_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct export *e = arg;
    (void)conn;
    (void)index;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        free(e->text);
        e->text = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
        if (PQnfields(res) == 4) {
            snprintf(e->last_ts, sizeof(e->last_ts), "%s", PQgetvalue(res, 0, 1));
            snprintf(e->last_id, sizeof(e->last_id), "%s", PQgetvalue(res, 0, 2));
            e->n = atoi(PQgetvalue(res, 0, 3));
        }
    } else if (st == PGRES_FATAL_ERROR) {
        copy_error(res, &e->sqlstate, &e->errmsg);
    }
    return 0;
}

static void export_done(enum db_outcome outcome, void *arg);
static const struct db_job_ops export_ops = {export_send, export_result, export_done};

/* Asks for the next part; false when the database cannot take the job. */
static bool export_next(struct export *e)
{
    if (db_submit(e->h->p.db, &export_ops, e) < 0) {
        return false;
    }
    e->h->inflight++;
    e->page_outstanding = true;
    return true;
}

/* Ends a stream that failed half way: the client sees a document cut short (not valid
 * JSON) and the connection closed, never a complete-looking one. */
static void export_abort(struct export *e, const char *why)
{
    log_error("http: export of customer %s stopped after %lu pages: %s", e->id, e->pages, why);
    if (e->req != NULL) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(e->req);
        evhttp_send_reply_end(e->req);
        if (evcon != NULL) {
            evhttp_connection_free_on_completion(evcon);
        }
    }
    export_free(e);
}

static void export_chunk_written(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct export *e = arg;
    if (e->req == NULL) {
        export_free(e);
        return;
    }
    if (!export_next(e)) {
        export_abort(e, "the database is unavailable");
    }
}

static void export_done(enum db_outcome outcome, void *arg)
{
    struct export *e = arg;
    e->h->inflight--;
    e->page_outstanding = false;
    if (e->req == NULL) {
        export_free(e);
        return;
    }
    bool failed = outcome == DB_LOST || e->sqlstate[0] != '\0';
    if (!e->head_done) {
        if (outcome == DB_LOST) {
            httpreply_error(e->req, 503, "unavailable", "the database connection was lost; retry");
        } else if (e->sqlstate[0] != '\0') {
            log_error("http export of %s failed: %s (SQLSTATE %s)", e->id, e->errmsg, e->sqlstate);
            httpreply_error(e->req, 500, "internal", "the export failed; see the daemon's log");
        } else if (e->text == NULL) {
            char msg[80];
            snprintf(msg, sizeof(msg), "no customer %s", e->id);
            httpreply_error(e->req, 404, "not_found", msg);
        }
        if (failed || e->text == NULL) {
            export_free(e);
            return;
        }
        log_info("http: principal=%s exports customer %s", e->principal, e->id);
        httpreply_data_headers(e->req, "application/json; charset=utf-8");
        evhttp_send_reply_start(e->req, 200, "OK");
        struct evbuffer *buf = evbuffer_new();
        size_t len = strlen(e->text);
        /* The head object, opened again for the records: {...,"interactions":[ */
        if (buf == NULL || len < 2 || e->text[len - 1] != '}') {
            evbuffer_free(buf);
            export_abort(e, "out of memory");
            return;
        }
        evbuffer_add(buf, e->text, len - 1);
        evbuffer_add_printf(buf, ",\"interactions\":[");
        e->head_done = true;
        evhttp_send_reply_chunk_with_cb(e->req, buf, export_chunk_written, e);
        evbuffer_free(buf);
        return;
    }
    if (failed || e->text == NULL) {
        export_abort(e, outcome == DB_LOST ? "the database connection was lost" : e->errmsg);
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        export_abort(e, "out of memory");
        return;
    }
    size_t len = strlen(e->text);
    if (e->n > 0 && len > 2) {
        /* The page's array without its brackets, after a comma unless it is the first. */
        if (e->pages > 0) {
            evbuffer_add(buf, ",", 1);
        }
        evbuffer_add(buf, e->text + 1, len - 2);
        e->pages++;
    }
    free(e->text);
    e->text = NULL;
    if (e->n < EXPORT_PAGE_RECORDS) {
        evbuffer_add_printf(buf, "]}\n");
        evhttp_send_reply_chunk(e->req, buf);
        evbuffer_free(buf);
        evhttp_send_reply_end(e->req);
        export_free(e);
        return;
    }
    evhttp_send_reply_chunk_with_cb(e->req, buf, export_chunk_written, e);
    evbuffer_free(buf);
}

static void handle_export(struct http *h, struct evhttp_request *req, const char *id,
                          const char *principal)
{
    struct export *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    e->h = h;
    e->req = req;
    e->evcon = evhttp_request_get_connection(req);
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->principal, sizeof(e->principal), "%s", principal);
    LIST_INSERT_HEAD(&h->exports, e, link);
    if (!export_next(e)) {
        httpreply_error(req, 503, "unavailable", "the database is unavailable; retry later");
        export_free(e);
    }
}

static struct query *query_new(struct evhttp_request *req, const char *statement, int nparams)
{
    struct query *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        httpreply_error(req, 500, "internal", "out of memory");
        return NULL;
    }
    q->req = req;
    q->statement = statement;
    q->nparams = nparams;
    return q;
}

/* Sets parameter i to a copy of v (NULL: SQL NULL). Returns 0 or -1. */
static int query_param(struct query *q, int i, const char *v)
{
    if (v == NULL) {
        return 0;
    }
    q->params[i] = strdup(v);
    return q->params[i] != NULL ? 0 : -1;
}

static bool is_uuid(const char *s, char out[RECORD_UUID_LEN + 1])
{
    return record_canonical_uuid(s, out) == 0;
}

/* Normalizes identifier parameter p (kind = its key) into kind_name/norm; answers 400 and
 * returns -1 when it is not an identifier or does not normalize. */
static int identifier_param(const struct http *h, struct evhttp_request *req,
                            const struct http_param *p, const char **kind_name,
                            char norm[NORMALIZE_MAX + 1])
{
    char msg[300], qk[72], qv[120];
    enum ident_kind kind;
    const char *why;
    if (normalize_kind_parse(p->key, &kind) < 0) {
        snprintf(msg, sizeof(msg), "%s: unknown parameter (phone, email, chat, web, external)",
                 errmsg_quote(p->key, qk, sizeof(qk)));
        httpreply_error(req, 400, "invalid_request", msg);
        return -1;
    }
    if (normalize_identifier(kind, p->value, strlen(p->value), &h->p.cfg->record_opts.norm, norm,
                             &why) < 0) {
        snprintf(msg, sizeof(msg), "%s: %s %s", p->key, errmsg_quote(p->value, qv, sizeof(qv)),
                 why);
        httpreply_error(req, 400, "invalid_request", msg);
        return -1;
    }
    *kind_name = normalize_kind_name(kind);
    return 0;
}

static void handle_find(struct http *h, struct evhttp_request *req, const struct http_param *p,
                        int np)
{
    const struct http_param *ident = NULL;
    for (int i = 0; i < np; i++) {
        enum ident_kind k;
        bool is_kind = normalize_kind_parse(p[i].key, &k) == 0;
        if (is_kind && ident != NULL) {
            httpreply_error(req, 400, "invalid_request",
                            "give exactly one of phone, email, chat, web, external");
            return;
        }
        ident = &p[i];
        if (!is_kind) {
            break; /* identifier_param names it */
        }
    }
    if (ident == NULL) {
        httpreply_error(req, 400, "invalid_request",
                        "give one identifier: ?phone=, ?email=, ?chat=, ?web= or ?external=");
        return;
    }
    const char *kind_name;
    char norm[NORMALIZE_MAX + 1];
    if (identifier_param(h, req, ident, &kind_name, norm) < 0) {
        return;
    }
    struct query *q = query_new(req, STORE_FIND, 2);
    if (q == NULL) {
        return;
    }
    snprintf(q->not_found, sizeof(q->not_found), "no customer with %s %.200s", kind_name, norm);
    if (query_param(q, 0, kind_name) < 0 || query_param(q, 1, norm) < 0) {
        httpreply_error(req, 500, "internal", "out of memory");
        query_free(q);
        return;
    }
    query_run(h, q);
}

/*
 * Runs statement with params (n of them, NULL for SQL NULL) and answers its JSON, or 404
 * with not_found when it answers NULL.
 */
static void run_statement(struct http *h, struct evhttp_request *req, const char *statement,
                          const char *const *params, int n, const char *not_found)
{
    struct query *q = query_new(req, statement, n);
    if (q == NULL) {
        return;
    }
    snprintf(q->not_found, sizeof(q->not_found), "%.200s", not_found);
    for (int i = 0; i < n; i++) {
        if (query_param(q, i, params[i]) < 0) {
            httpreply_error(req, 500, "internal", "out of memory");
            query_free(q);
            return;
        }
    }
    query_run(h, q);
}

/*
 * The body of a POST that must be exactly {"<key>": <value>}, so that a typo in the key is an
 * error rather than an action on something else. Returns the parsed body (the caller frees
 * it) with *value set (NULL when the key is missing), or NULL after answering 400; shape
 * describes the body for messages.
 */
static struct jsondoc *body_with_one_key(struct evhttp_request *req, const char *key,
                                         const char *shape, const struct jsondoc_value **value)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *text = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
    char msg[400], qv[80], perr[200];
    struct jsondoc *body = jsondoc_parse(text, len, perr, sizeof(perr));
    if (body == NULL) {
        snprintf(msg, sizeof(msg), "body: not JSON (%s); send %s", perr, shape);
        httpreply_error(req, 400, "invalid_request", msg);
        return NULL;
    }
    const struct jsondoc_value *root = jsondoc_root(body);
    if (root->type != JSONDOC_OBJECT) {
        snprintf(msg, sizeof(msg), "body: send %s", shape);
        httpreply_error(req, 400, "invalid_request", msg);
        jsondoc_free(body);
        return NULL;
    }
    for (const struct jsondoc_value *v = jsondoc_child(body, root); v != NULL;
         v = jsondoc_next(body, v)) {
        if (strcmp(v->key, key) != 0) {
            snprintf(msg, sizeof(msg), "%s: unknown field (the body is %s)",
                     errmsg_quote(v->key, qv, sizeof(qv)), shape);
            httpreply_error(req, 400, "invalid_request", msg);
            jsondoc_free(body);
            return NULL;
        }
    }
    *value = jsondoc_get(body, root, key);
    return body;
}

/* POST /v1/customers/{id}/merge {"from":"<id>"}. */
static void handle_merge(struct http *h, struct evhttp_request *req, const char *id,
                         const char *principal)
{
    char msg[256], qv[80], from[RECORD_UUID_LEN + 1];
    const struct jsondoc_value *f = NULL;
    struct jsondoc *body = body_with_one_key(req, "from", "{\"from\":\"<customer id>\"}", &f);
    if (body == NULL) {
        return;
    }
    if (f == NULL || f->type != JSONDOC_STRING) {
        httpreply_error(req, 400, "invalid_request", "from: missing or not a string");
        jsondoc_free(body);
        return;
    }
    if (!is_uuid(f->text, from)) {
        snprintf(msg, sizeof(msg), "from: %s is not a customer id (a UUID)",
                 errmsg_quote(f->text, qv, sizeof(qv)));
        httpreply_error(req, 400, "invalid_request", msg);
        jsondoc_free(body);
        return;
    }
    jsondoc_free(body);
    snprintf(msg, sizeof(msg), "no customer %s", id);
    const char *params[] = {id, from, principal};
    run_statement(h, req, STORE_MERGE_MANUAL, params, 3, msg);
}

/* POST /v1/customers/{id}/unmerge {"merge_id":<n>}: undoes one merge of the customer. */
static void handle_unmerge(struct http *h, struct evhttp_request *req, const char *id,
                           const char *principal)
{
    const struct jsondoc_value *m = NULL;
    struct jsondoc *body = body_with_one_key(req, "merge_id", "{\"merge_id\":<merge id>}", &m);
    if (body == NULL) {
        return;
    }
    if (m == NULL || m->type != JSONDOC_INTEGER || m->integer <= 0) {
        httpreply_error(req, 400, "invalid_request",
                        "merge_id: missing or not a merge id (a positive whole number, listed "
                        "by GET /v1/customers/{id}/identities)");
        jsondoc_free(body);
        return;
    }
    char merge[24], msg[128];
    snprintf(merge, sizeof(merge), "%lld", m->integer);
    jsondoc_free(body);
    log_info("http: principal=%s undoes merge %s of customer %s", principal, merge, id);
    snprintf(msg, sizeof(msg), "no customer %s", id);
    const char *params[] = {id, merge, principal};
    run_statement(h, req, STORE_UNMERGE, params, 3, msg);
}

/* A positive whole number in a path; answers 400 naming what and returns -1 when not. */
static int path_number(struct evhttp_request *req, const char *text, const char *what, char out[24])
{
    char *end;
    long long n = strtoll(text, &end, 10);
    if (text[0] < '1' || text[0] > '9' || *end != '\0' || n <= 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s: not a positive whole number", what);
        httpreply_error(req, 400, "invalid_request", msg);
        return -1;
    }
    snprintf(out, 24, "%lld", n);
    return 0;
}

/* DELETE /v1/customers/{id}/apart/{apart_id}: lets the pair merge again. */
static void handle_remove_apart(struct http *h, struct evhttp_request *req, const char *id,
                                const char *apart, const char *principal)
{
    char num[24], msg[160];
    if (path_number(req, apart, "apart id", num) < 0) {
        return;
    }
    log_info("http: principal=%s removes pair %s kept apart, of customer %s", principal, num, id);
    snprintf(msg, sizeof(msg), "customer %s has no pair kept apart with id %s", id, num);
    const char *params[] = {id, num, principal};
    run_statement(h, req, STORE_REMOVE_APART, params, 3, msg);
}

/* GET /v1/why?<kind>=<value>&<kind>=<value>: how two identifiers came to be one customer. */
static void handle_why(struct http *h, struct evhttp_request *req, const struct http_param *p,
                       int np)
{
    if (np != 2) {
        httpreply_error(req, 400, "invalid_request",
                        "give two identifiers, e.g. ?phone=09123456789&email=sara@example.com");
        return;
    }
    const char *k[2];
    char v[2][NORMALIZE_MAX + 1];
    for (int i = 0; i < 2; i++) {
        if (identifier_param(h, req, &p[i], &k[i], v[i]) < 0) {
            return;
        }
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "no customer has %s %.100s, or none has %s %.100s", k[0], v[0], k[1],
             v[1]);
    const char *params[] = {k[0], v[0], k[1], v[1]};
    run_statement(h, req, STORE_WHY, params, 4, msg);
}

/* GET /v1/conflicts[?all=true][&limit=N]: the review queue of merges a limit refused. */
static void handle_conflicts(struct http *h, struct evhttp_request *req, const struct http_param *p,
                             int np)
{
    const char *all = "false";
    long limit = 100;
    for (int i = 0; i < np; i++) {
        char *end;
        if (strcmp(p[i].key, "all") == 0 &&
            (strcmp(p[i].value, "true") == 0 || strcmp(p[i].value, "false") == 0)) {
            all = p[i].value;
        } else if (strcmp(p[i].key, "limit") != 0 || p[i].value[0] == '\0' ||
                   (limit = strtol(p[i].value, &end, 10)) < 1 || limit > 1000 || *end != '\0') {
            httpreply_error(req, 400, "invalid_request",
                            "parameters: all=true|false, limit=1..1000");
            return;
        }
    }
    char lim[24], threshold[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(threshold, sizeof(threshold), "%d", h->p.cfg->identity_suspect_customers_per_day);
    const char *params[] = {all, lim, threshold};
    run_statement(h, req, STORE_CONFLICTS, params, 3, "no conflicts");
}

/* POST /v1/conflicts/{id}/resolve {"action":"merge"|"dismiss"}. */
static void handle_resolve_conflict(struct http *h, struct evhttp_request *req, const char *id,
                                    const char *principal)
{
    char num[24], action[16], msg[96];
    if (path_number(req, id, "conflict id", num) < 0) {
        return;
    }
    const struct jsondoc_value *a = NULL;
    struct jsondoc *body =
        body_with_one_key(req, "action", "{\"action\":\"merge\"|\"dismiss\"}", &a);
    if (body == NULL) {
        return;
    }
    if (a == NULL || a->type != JSONDOC_STRING) {
        httpreply_error(req, 400, "invalid_request",
                        "action: missing or not \"merge\" or \"dismiss\"");
        jsondoc_free(body);
        return;
    }
    snprintf(action, sizeof(action), "%.15s", a->text);
    jsondoc_free(body);
    log_info("http: principal=%s resolves conflict %s: %s", principal, num, action);
    snprintf(msg, sizeof(msg), "no conflict %s", num);
    const char *params[] = {num, action, principal};
    run_statement(h, req, STORE_RESOLVE_CONFLICT, params, 3, msg);
}

static void handle_timeline(struct http *h, struct evhttp_request *req, const char *id,
                            const struct http_param *p, int np)
{
    char msg[300], qv[72];
    long limit = TIMELINE_DEFAULT_LIMIT;
    const char *before = NULL, *channel = NULL, *since = NULL, *until = NULL;
    for (int i = 0; i < np; i++) {
        const char *k = p[i].key, *v = p[i].value;
        if (strcmp(k, "limit") == 0) {
            char *end;
            errno = 0;
            limit = strtol(v, &end, 10);
            if (errno != 0 || *v == '\0' || *end != '\0' || limit < 1 ||
                limit > TIMELINE_MAX_LIMIT) {
                snprintf(msg, sizeof(msg), "limit: %s must be an integer 1-%d",
                         errmsg_quote(v, qv, sizeof(qv)), TIMELINE_MAX_LIMIT);
                httpreply_error(req, 400, "invalid_request", msg);
                return;
            }
        } else if (strcmp(k, "before") == 0 || strcmp(k, "cursor") == 0) {
            before = v;
        } else if (strcmp(k, "channel") == 0) {
            channel = v;
        } else if (strcmp(k, "since") == 0) {
            since = v;
        } else if (strcmp(k, "until") == 0) {
            until = v;
        } else {
            snprintf(msg, sizeof(msg),
                     "%s: unknown parameter (limit, before, channel, since, until)",
                     errmsg_quote(k, qv, sizeof(qv)));
            httpreply_error(req, 400, "invalid_request", msg);
            return;
        }
    }
    if (channel != NULL) {
        bool ok = record_channel_index(channel) >= 0;
        if (!ok) {
            snprintf(msg, sizeof(msg), "channel: %s is not a channel",
                     errmsg_quote(channel, qv, sizeof(qv)));
            httpreply_error(req, 400, "invalid_request", msg);
            return;
        }
    }
    char since_ts[RECORD_TS_LEN + 1], until_ts[RECORD_TS_LEN + 1];
    int64_t us;
    if (since != NULL) {
        if (record_parse_time(since, &us) < 0) {
            snprintf(msg, sizeof(msg), "since: %s is not an RFC 3339 timestamp",
                     errmsg_quote(since, qv, sizeof(qv)));
            httpreply_error(req, 400, "invalid_request", msg);
            return;
        }
        record_format_time(us, since_ts);
    }
    if (until != NULL) {
        if (record_parse_time(until, &us) < 0) {
            snprintf(msg, sizeof(msg), "until: %s is not an RFC 3339 timestamp",
                     errmsg_quote(until, qv, sizeof(qv)));
            httpreply_error(req, 400, "invalid_request", msg);
            return;
        }
        record_format_time(us, until_ts);
    }
    char cur_ts[RECORD_TS_LEN + 1], cur_id[RECORD_UUID_LEN + 1];
    if (before != NULL && http_parse_cursor(before, cur_ts, cur_id) < 0) {
        httpreply_error(req, 400, "invalid_request", "before: not a cursor this API returned");
        return;
    }
    struct query *q = query_new(req, STORE_TIMELINE, STORE_TIMELINE_NPARAMS);
    if (q == NULL) {
        return;
    }
    snprintf(q->not_found, sizeof(q->not_found), "no customer %s", id);
    char lim[16];
    snprintf(lim, sizeof(lim), "%ld", limit);
    if (query_param(q, 0, id) < 0 || query_param(q, 1, lim) < 0 ||
        query_param(q, 2, before != NULL ? cur_ts : NULL) < 0 ||
        query_param(q, 3, before != NULL ? cur_id : NULL) < 0 || query_param(q, 4, channel) < 0 ||
        query_param(q, 5, since != NULL ? since_ts : NULL) < 0 ||
        query_param(q, 6, until != NULL ? until_ts : NULL) < 0) {
        httpreply_error(req, 500, "internal", "out of memory");
        query_free(q);
        return;
    }
    query_run(h, q);
}

/* GET /v1/audit?limit=&before=: the admin actions, newest first. */
static void handle_audit(struct http *h, struct evhttp_request *req, const struct http_param *p,
                         int np)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        return;
    }
    long limit = 100;
    const char *before = NULL;
    char msg[200], qv[72];
    for (int i = 0; i < np; i++) {
        char *end;
        long v = strtol(p[i].value, &end, 10);
        bool number = p[i].value[0] != '\0' && *end == '\0';
        if (strcmp(p[i].key, "limit") == 0 && number && v >= 1 && v <= 1000) {
            limit = v;
        } else if (strcmp(p[i].key, "before") == 0 && number && v >= 1) {
            before = p[i].value;
        } else {
            snprintf(msg, sizeof(msg), "%s: limit takes 1-1000, before an entry id",
                     errmsg_quote(p[i].key, qv, sizeof(qv)));
            httpreply_error(req, 400, "invalid_request", msg);
            return;
        }
    }
    char lim[16];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[] = {lim, before};
    run_statement(h, req, STORE_AUDIT, params, 2, "no audit log");
}

/* GET /v1/customers/{id}/stream (customer) or /v1/stream (NULL): Server-Sent Events. */
static void handle_stream(struct http *h, struct evhttp_request *req, const char *customer)
{
    if (h->p.live == NULL) {
        httpreply_error(req, 404, "not_found", "live streams are off ([live] max_streams = 0)");
        return;
    }
    live_stream(h->p.live, req, customer);
}

/* GET /v1/stats, /v1/missed and /v1/customers/{id}/journey: parse, then one statement. */
static void handle_analytics(struct http *h, struct evhttp_request *req, const char *statement,
                             const char *id, const struct http_param *p, int np)
{
    struct analytics_query aq;
    char msg[300], not_found[128] = "";
    int sla = h->p.cfg->analytics_callback_sla_s;
    int rc;
    if (strcmp(statement, STORE_STATS) == 0) {
        rc = analytics_parse_stats(p, np, sla, &aq, msg, sizeof(msg));
    } else if (strcmp(statement, STORE_MISSED) == 0) {
        rc = analytics_parse_missed(p, np, sla, &aq, msg, sizeof(msg));
    } else {
        rc = analytics_parse_journey(id, p, np, &aq, msg, sizeof(msg));
        snprintf(not_found, sizeof(not_found), "no customer %s", id);
    }
    if (rc < 0) {
        httpreply_error(req, 400, "invalid_request", msg);
        return;
    }
    run_statement(h, req, statement, aq.values, aq.n, not_found);
}

/* /healthz (readiness false) or /readyz. */
static void handle_health(struct http *h, struct evhttp_request *req, bool readiness)
{
    const struct http_params *d = &h->p;
    if (!readiness) {
        static const char ok[] = "{\"status\":\"ok\"}";
        httpreply_json(req, 200, ok, sizeof(ok) - 1);
        return;
    }
    bool db_up = db_available(d->db);
    uint64_t spool_bytes_now = d->spool != NULL ? spool_bytes(d->spool) : 0;
    /* Not ready well before the spool is full, so that a balancer sends elsewhere while
     * this instance can still take what is in flight. */
    bool spool_high = d->spool != NULL && spool_bytes_now >= spool_max_bytes(d->spool) / 10 * 9;
    bool ready = db_up && !d->status->leaving && !spool_high;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "ready");
    jsonw_bool(&w, ready);
    jsonw_key(&w, "database");
    jsonw_bool(&w, db_up);
    jsonw_key(&w, "schema");
    jsonw_string(&w, migrate_latest());
    jsonw_key(&w, "migrations");
    jsonw_string(&w, d->status->schema_ready ? "current" : "pending");
    jsonw_key(&w, "database_connections");
    jsonw_int(&w, db_connections_up(d->db));
    jsonw_key(&w, "pending_records");
    jsonw_int(&w, (long long)deliver_pending(d->deliver));
    if (d->spool != NULL) {
        jsonw_key(&w, "spool");
        jsonw_object_begin(&w);
        jsonw_key(&w, "spooling");
        jsonw_bool(&w, deliver_spooling(d->deliver));
        jsonw_key(&w, "records");
        jsonw_int(&w, (long long)spool_records(d->spool));
        jsonw_key(&w, "bytes");
        jsonw_int(&w, (long long)spool_bytes_now);
        jsonw_key(&w, "max_bytes");
        jsonw_int(&w, (long long)spool_max_bytes(d->spool));
        jsonw_object_end(&w);
    }
    char reason[700];
    reason[0] = '\0';
    if (!d->status->schema_ready) {
        snprintf(reason, sizeof(reason),
                 "waiting for the database to apply the migrations (records go to the spool)%s%s",
                 d->status->migrate_error[0] != '\0' ? ": " : "", d->status->migrate_error);
    } else if (!db_up) {
        snprintf(reason, sizeof(reason), "database unreachable: %s", db_last_error(d->db));
    } else if (d->status->leaving) {
        snprintf(reason, sizeof(reason), "shutting down");
    } else if (spool_high) {
        snprintf(reason, sizeof(reason), "the spool is over 90%% full");
    }
    if (reason[0] != '\0') {
        jsonw_key(&w, "reason");
        jsonw_string(&w, reason);
    }
    jsonw_object_end(&w);
    size_t len = 0;
    char *text = jsonw_take(&w, &len);
    if (text == NULL) {
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    httpreply_json(req, ready ? 200 : 503, text, len);
    free(text);
}

/* Logs a refused request with its peer and principal (never its token), rate-limited. */
static void log_refused(struct http *h, struct evhttp_request *req, const char *what)
{
    unsigned long suppressed = 0;
    if (!log_limit_allow(&h->auth_log, 5, &suppressed)) {
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const char *addr = "?";
    ev_uint16_t port = 0;
    if (evcon != NULL) {
        char *a = NULL;
        evhttp_connection_get_peer(evcon, &a, &port);
        addr = a != NULL ? a : "?";
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    log_warn("http %s:%u %s: %s (%lu such lines suppressed before)", addr, (unsigned)port,
             path != NULL ? path : "?", what, suppressed);
}

/*
 * Checks the request's token when principals are configured and that its principal holds
 * scope; answers 401, 403 or 429 otherwise. Sets *who to the principal (NULL: anonymous,
 * without principals; borrowed for this request). Returns true to go on.
 */
static bool authorized(struct http *h, struct evhttp_request *req, enum auth_scope scope,
                       struct auth_principal **who)
{
    const struct config *cfg = h->p.cfg;
    *who = NULL;
    if (!auth_enabled(cfg->auth)) {
        return true;
    }
    char token[512] = "";
    if (httpreply_token(req, token, sizeof(token)) < 0) {
        token[0] = '\0';
    }
    if (token[0] == '\0') {
        h->auth_failures++;
        log_refused(h, req, "unauthorized: no token");
        httpreply_error(req, 401, "unauthorized", "send Authorization: Bearer <token>");
        return false;
    }
    struct auth_principal *p = auth_check_token(cfg->auth, token);
    if (p == NULL) {
        h->auth_failures++;
        log_refused(h, req, "unauthorized: unknown token");
        httpreply_error(req, 401, "unauthorized", "unknown token");
        return false;
    }
    if (!auth_principal_may(p, scope)) {
        char msg[160], scopes[32], what[200];
        auth_scopes_text((unsigned)scope, scopes, sizeof(scopes));
        snprintf(msg, sizeof(msg), "principal %s lacks the %s scope this endpoint needs",
                 auth_principal_name(p), scopes);
        snprintf(what, sizeof(what), "forbidden: %s", msg);
        h->forbidden++;
        log_refused(h, req, what);
        httpreply_error(req, 403, "forbidden", msg);
        return false;
    }
    int wait_s = auth_principal_take(p, true, 1);
    if (wait_s > 0) {
        char msg[160], retry[16];
        snprintf(msg, sizeof(msg), "principal %s is over its read rate; retry in %d s",
                 auth_principal_name(p), wait_s);
        snprintf(retry, sizeof(retry), "%d", wait_s);
        h->rate_limited++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
        httpreply_error(req, 429, "unavailable", msg);
        return false;
    }
    *who = p;
    return true;
}

static void pending_free(struct pending_conn *p)
{
    LIST_REMOVE(p, link);
    event_free(p->timer);
    bufferevent_decref(p->bev);
    free(p);
}

static void on_header_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct pending_conn *p = arg;
    (void)fd;
    (void)what;
    evutil_socket_t s = bufferevent_getfd(p->bev);
    if (s >= 0) {
        /* libevent then sees the end of the connection and closes it as usual. */
        log_info("http: a client sent no complete request in %d s; closing its connection",
                 p->h->p.cfg->http_timeout_s);
        shutdown(s, SHUT_RDWR);
    }
    pending_free(p);
}

/* evhttp's hook for making each new connection's bufferevent: where the deadline starts. */
static struct bufferevent *new_bufferevent(struct event_base *base, void *arg)
{
    struct http *h = arg;
    struct bufferevent *bev = h->p.cfg->tls_http && h->p.tls != NULL
                                  ? tls_bufferevent(h->p.tls, base, -1, BEV_OPT_CLOSE_ON_FREE)
                                  : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct pending_conn *p = bev != NULL ? calloc(1, sizeof(*p)) : NULL;
    if (p == NULL) {
        return bev; /* served without a deadline */
    }
    p->h = h;
    p->bev = bev;
    p->timer = evtimer_new(base, on_header_deadline, p);
    struct timeval tv = {h->p.cfg->http_timeout_s, 0};
    if (p->timer == NULL || evtimer_add(p->timer, &tv) < 0) {
        if (p->timer != NULL) {
            event_free(p->timer);
        }
        free(p);
        return bev;
    }
    bufferevent_incref(bev);
    LIST_INSERT_HEAD(&h->pending, p, link);
    return bev;
}

/* A whole request came: its connection's header deadline is met. */
static void request_arrived(struct http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    for (struct pending_conn *p = LIST_FIRST(&h->pending); p != NULL && bev != NULL;
         p = LIST_NEXT(p, link)) {
        if (p->bev == bev) {
            pending_free(p);
            return;
        }
    }
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct http *h = arg;
    struct export *e, *next;
    for (e = LIST_FIRST(&h->exports); e != NULL; e = next) {
        next = LIST_NEXT(e, link);
        if (e->evcon == evcon && e->req != NULL) {
            /* The stream's request goes with its connection; a job still running finds
             * req NULL and frees the export. */
            e->req = NULL;
            if (!e->page_outstanding) {
                export_free(e);
            }
        }
    }
    if (h->p.live != NULL) {
        live_connection_closed(h->p.live, evcon);
    }
    for (size_t i = 0; i < h->n_conns; i++) {
        if (h->conns[i] == evcon) {
            h->conns[i] = h->conns[--h->n_conns];
            return;
        }
    }
}

static void note_connection(struct http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL) {
        return;
    }
    for (size_t i = 0; i < h->n_conns; i++) {
        if (h->conns[i] == evcon) {
            return;
        }
    }
    if (h->n_conns == h->cap_conns) {
        size_t cap = h->cap_conns == 0 ? 16 : h->cap_conns * 2;
        struct evhttp_connection **c = realloc(h->conns, cap * sizeof(*c));
        if (c == NULL) {
            return; /* only the count is off */
        }
        h->conns = c;
        h->cap_conns = cap;
    }
    h->conns[h->n_conns++] = evcon;
    evhttp_connection_set_closecb(evcon, conn_closed, h);
}

/* A counter family with one sample per listener. */
static void by_listener(FILE *f, const char *name, const char *help, unsigned long tcp,
                        unsigned long http)
{
    metrics_family(f, name, "counter", help);
    metrics_sample(f, name, "listener=\"tcp\"", (double)tcp);
    metrics_sample(f, name, "listener=\"http\"", (double)http);
}

/* GET /metrics: every module's counts, in the Prometheus text format. */
static void handle_metrics(struct http *h, struct evhttp_request *req)
{
    const struct http_params *d = &h->p;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    const struct ingest_stats *is = ingest_get_stats(d->ingest);
    const struct batch_stats *bs = batch_get_stats(d->batch);
    metrics_family(f, "touchline_build_info", "gauge", "Version of touchlined, always 1.");
    metrics_sample(f, "touchline_build_info", "version=\"" TOUCHLINE_VERSION "\"", 1);
    metrics_write_one(f, "touchline_start_time_seconds", "gauge",
                      "When the daemon started, in seconds since the epoch.", (double)d->started);
    metrics_write_by_source(f, "touchline_records_accepted_total",
                            "Records acknowledged (stored, or spooled) for the first time, by "
                            "adapter source and channel.",
                            &is->sources, is->accepted_by);
    metrics_write_by_source(f, "touchline_records_duplicate_total",
                            "Records answered duplicate:true (already stored), by source and "
                            "channel.",
                            &is->sources, is->duplicates_by);
    metrics_write_one(f, "touchline_records_erased_total", "counter",
                      "Records of erased people answered erased:true and not stored again.",
                      (double)bs->erased);
    metrics_family(f, "touchline_records_rejected_total", "counter",
                   "Lines answered ok:false, by error code.");
    for (int e = 0; e < INGEST_ERROR_COUNT; e++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "code=\"%s\"", ingest_error_code((enum ingest_error)e));
        metrics_sample(f, "touchline_records_rejected_total", labels, (double)is->rejected[e]);
    }
    metrics_write_one(f, "touchline_records_pending", "gauge",
                      "Records received and not yet answered (waiting for the database).",
                      (double)deliver_pending(d->deliver));
    const struct deliver_stats *ds = deliver_get_stats(d->deliver);
    metrics_write_one(f, "touchline_spool_records", "gauge",
                      "Records in the spool not yet stored in PostgreSQL.",
                      d->spool != NULL ? (double)spool_records(d->spool) : 0);
    metrics_write_one(f, "touchline_spool_bytes", "gauge", "Bytes of the spool files.",
                      d->spool != NULL ? (double)spool_bytes(d->spool) : 0);
    metrics_write_one(f, "touchline_spooled_total", "counter",
                      "Records acknowledged from the spool while PostgreSQL was unavailable.",
                      (double)ds->spooled);
    metrics_write_one(f, "touchline_spool_replayed_total", "counter",
                      "Spooled records since stored in PostgreSQL (or found stored already).",
                      (double)ds->replayed);
    metrics_write_one(f, "touchline_spool_rejected_total", "counter",
                      "Spooled records PostgreSQL refused on replay (kept in rejected.ndjson).",
                      (double)ds->replay_rejected);
    metrics_write_one(f, "touchline_spool_refused_total", "counter",
                      "Records answered unavailable because the spool was full or failing.",
                      (double)ds->spool_refused);
    metrics_write_histogram(f, "touchline_batch_records", "Records per committed batch.",
                            &bs->records);
    metrics_write_histogram(f, "touchline_batch_commit_seconds",
                            "Time from sending a batch to the database to its COMMIT.",
                            &bs->commit_seconds);
    metrics_write_one(f, "touchline_batch_retries_total", "counter",
                      "Batches written again after a conflict or a failing record.",
                      (double)bs->retries);
    metrics_write_one(f, "touchline_batch_merge_lock_waits_total", "counter",
                      "Batches run again because their merges needed identifier locks another "
                      "batch held; the next attempt takes them in order.",
                      (double)bs->merge_waits);
    metrics_write_one(f, "touchline_identity_conflicts_total", "counter",
                      "Merges refused by a per-kind identifier limit (GET /v1/conflicts).",
                      (double)bs->conflicts);
    metrics_family(f, "touchline_merges_total", "counter",
                   "Customers merged into another, by what caused it.");
    metrics_sample(f, "touchline_merges_total", "reason=\"ingest\"", (double)bs->merges);
    metrics_sample(f, "touchline_merges_total", "reason=\"manual\"", (double)h->merges_manual);
    metrics_write_one(f, "touchline_database_connections", "gauge",
                      "Database connections up (of database.pool_size).",
                      (double)db_connections_up(d->db));
    metrics_write_one(f, "touchline_database_connects_total", "counter",
                      "Database connections established; more than the pool size means "
                      "reconnects.",
                      (double)db_connects_total(d->db));
    metrics_family(f, "touchline_connections", "gauge", "Open client connections, by listener.");
    metrics_sample(f, "touchline_connections", "listener=\"tcp\"",
                   (double)ingest_connections(d->ingest));
    metrics_sample(f, "touchline_connections", "listener=\"http\"", (double)h->n_conns);
    metrics_write_one(f, "touchline_tcp_connections_total", "counter",
                      "TCP ingest connections accepted.", (double)is->connections_total);
    metrics_write_one(f, "touchline_tcp_lines_total", "counter", "Lines read on TCP connections.",
                      (double)is->lines);
    metrics_write_one(f, "touchline_tcp_read_pauses_total", "counter",
                      "Times reading a TCP connection stopped for backpressure.",
                      (double)is->paused);
    metrics_write_one(f, "touchline_http_requests_total", "counter", "HTTP requests received.",
                      (double)h->requests);
    by_listener(f, "touchline_auth_failures_total",
                "Attempts with no token or an unknown one, by listener.", is->auth_failures,
                h->auth_failures);
    by_listener(f, "touchline_forbidden_total",
                "Requests and records refused as out of their principal's scope, by listener.",
                is->forbidden, h->forbidden);
    by_listener(f, "touchline_rate_limited_total",
                "Records and requests refused as over their principal's rate, by listener.",
                is->rate_limited, h->rate_limited);
    metrics_write_one(f, "touchline_tcp_connections_refused_total", "counter",
                      "TCP connections closed at accept by max_connections, "
                      "max_connections_per_ip or max_unauthenticated.",
                      (double)is->refused);
    if (d->live != NULL) {
        const struct live_stats *ls = live_get_stats(d->live);
        metrics_write_one(f, "touchline_live_streams", "gauge", "Live streams (SSE) open.",
                          (double)ls->streams);
        metrics_write_one(f, "touchline_live_notifications_total", "counter",
                          "Notifications of committed batches heard from PostgreSQL.",
                          (double)ls->notifications);
        metrics_write_one(f, "touchline_live_events_total", "counter",
                          "Events written to live streams.", (double)ls->events);
        metrics_write_one(f, "touchline_live_dropped_total", "counter",
                          "Live streams closed because their client fell behind.",
                          (double)ls->dropped);
        metrics_write_one(f, "touchline_live_refused_total", "counter",
                          "Live streams refused at [live] max_streams.", (double)ls->refused);
    }
    const struct hin_stats *hs = hin_get_stats(d->hin);
    metrics_write_one(f, "touchline_records_updated_total", "counter",
                      "Records answered duplicate whose status moved the stored record's forward.",
                      (double)is->updated);
    metrics_write_one(f, "touchline_http_ingest_requests_total", "counter",
                      "Requests that carried records (interactions, Segment, webhooks) answered.",
                      (double)hs->requests);
    metrics_write_one(f, "touchline_http_ingest_shed_total", "counter",
                      "Ingest requests answered 503 because too many records waited for the "
                      "database (or the daemon was stopping).",
                      (double)hs->shed);
    metrics_family(f, "touchline_webhook_auth_failures_total", "counter",
                   "Webhook and Segment calls refused for a bad or missing signature, token or "
                   "write key.");
    metrics_sample(f, "touchline_webhook_auth_failures_total", "hook=\"twilio\"",
                   (double)hs->bad_signature);
    metrics_sample(f, "touchline_webhook_auth_failures_total", "hook=\"chatwoot\"",
                   (double)hs->bad_hook_token);
    metrics_sample(f, "touchline_webhook_auth_failures_total", "hook=\"segment\"",
                   (double)hs->bad_write_key);
    metrics_write_one(f, "touchline_webhook_ignored_total", "counter",
                      "Webhook events answered 200 and not recorded (other Chatwoot events).",
                      (double)hs->ignored);
    metrics_write_one(f, "touchline_retention_deleted_total", "counter",
                      "Interactions deleted by [retention] keep_days.",
                      (double)retention_deleted(d->retention));
    metrics_write_one(f, "touchline_retention_passes_total", "counter",
                      "Retention passes that reached the end of the table.",
                      (double)retention_passes(d->retention));
    if (d->replica != NULL) {
        metrics_write_one(f, "touchline_replica_lag_seconds", "gauge",
                          "How far the read replica is behind the primary (-1: unknown).",
                          replica_lag_s(d->replica));
        metrics_write_one(f, "touchline_replica_fallbacks_total", "counter",
                          "Reads sent to the primary because the replica was down or behind.",
                          (double)replica_fallbacks(d->replica));
    }
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        free(text);
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    evbuffer_add(buf, text, len);
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
}

static void route(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    h->requests++;
    request_arrived(h, req);
    note_connection(h, req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (path == NULL) {
        httpreply_error(req, 400, "invalid_request", "no path");
        return;
    }
    log_debug("http %s %s", method == EVHTTP_REQ_GET ? "GET" : "other", path);
    if (h->p.cfg->console_enabled && console_serve(req, path)) {
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        handle_health(h, req, strcmp(path, "/readyz") == 0);
        return;
    }
    /* Unauthenticated like the health checks: scrapers rarely carry tokens, and the page
     * holds counts, not customer data. */
    if (strcmp(path, "/metrics") == 0) {
        handle_metrics(h, req);
        return;
    }
    /* The Segment API and the webhooks authenticate by their own means. */
    if (hin_route_public(h->p.hin, req, path, h->p.status->draining)) {
        return;
    }
    /* Records need ingest; erasure, merges and their undoing, resolving a conflict, exports
     * and the audit log admin; the rest read. */
    size_t pathlen = strlen(path);
    bool ingest = strcmp(path, "/v1/interactions") == 0;
    bool admin = method == EVHTTP_REQ_DELETE || strcmp(path, "/v1/audit") == 0 ||
                 (pathlen > 6 && strcmp(path + pathlen - 6, "/merge") == 0) ||
                 (pathlen > 8 && strcmp(path + pathlen - 8, "/unmerge") == 0) ||
                 (pathlen > 8 && strcmp(path + pathlen - 8, "/resolve") == 0) ||
                 (pathlen > 7 && strcmp(path + pathlen - 7, "/export") == 0);
    struct auth_principal *who;
    if (!authorized(h, req, ingest ? AUTH_INGEST : admin ? AUTH_ADMIN : AUTH_READ, &who)) {
        return;
    }
    const char *principal = auth_principal_name(who);
    if (ingest) {
        hin_interactions(h->p.hin, req, who, h->p.status->draining);
        return;
    }
    struct http_param params[MAX_PARAMS];
    int np = http_parse_query(evhttp_uri_get_query(uri), params, MAX_PARAMS);
    if (np < 0) {
        httpreply_error(req, 400, "invalid_request", "malformed query string");
        return;
    }
    if (strcmp(path, "/v1/stream") == 0) {
        if (method != EVHTTP_REQ_GET) {
            httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        } else if (np > 0) {
            httpreply_error(req, 400, "invalid_request", "this endpoint takes no parameters");
        } else {
            handle_stream(h, req, NULL);
        }
        goto out;
    }
    if (strcmp(path, "/v1/audit") == 0) {
        handle_audit(h, req, params, np);
        goto out;
    }
    if (strcmp(path, "/v1/stats") == 0 || strcmp(path, "/v1/missed") == 0) {
        if (method != EVHTTP_REQ_GET) {
            httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        } else {
            handle_analytics(h, req, path[4] == 's' ? STORE_STATS : STORE_MISSED, NULL, params, np);
        }
        goto out;
    }
    if (strcmp(path, "/v1/why") == 0 || strcmp(path, "/v1/conflicts") == 0) {
        if (method != EVHTTP_REQ_GET) {
            httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        } else if (path[4] == 'w') {
            handle_why(h, req, params, np);
        } else {
            handle_conflicts(h, req, params, np);
        }
        goto out;
    }
    static const char cprefix[] = "/v1/conflicts/";
    if (strncmp(path, cprefix, sizeof(cprefix) - 1) == 0) {
        const char *cid = path + sizeof(cprefix) - 1;
        const char *tail = strchr(cid, '/');
        char num[32];
        if (tail == NULL || strcmp(tail, "/resolve") != 0 || (size_t)(tail - cid) >= sizeof(num)) {
            httpreply_error(req, 404, "not_found", "no such endpoint");
        } else if (method != EVHTTP_REQ_POST) {
            httpreply_error(req, 405, "method_not_allowed", "this endpoint answers POST");
        } else {
            snprintf(num, sizeof(num), "%.*s", (int)(tail - cid), cid);
            handle_resolve_conflict(h, req, num, principal);
        }
        goto out;
    }
    static const char prefix[] = "/v1/customers";
    size_t plen = sizeof(prefix) - 1;
    if (strncmp(path, prefix, plen) != 0 || (path[plen] != '\0' && path[plen] != '/')) {
        httpreply_error(req, 404, "not_found", "no such endpoint");
        goto out;
    }
    const char *rest = path + plen;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (method != EVHTTP_REQ_GET) {
            httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        } else {
            handle_find(h, req, params, np);
        }
        goto out;
    }
    rest++;
    const char *slash = strchr(rest, '/');
    char idtext[64];
    size_t idlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    char id[RECORD_UUID_LEN + 1];
    snprintf(idtext, sizeof(idtext), "%.*s", (int)(idlen < 63 ? idlen : 63), rest);
    if (idlen > 63 || !is_uuid(idtext, id)) {
        httpreply_error(req, 400, "invalid_request", "customer id: not a UUID");
        goto out;
    }
    /* What each endpoint under /v1/customers/{id} answers to. */
    const char *sub = slash != NULL ? slash : "";
    bool get_only = strcmp(sub, "/timeline") == 0 || strcmp(sub, "/context") == 0 ||
                    strcmp(sub, "/stream") == 0 || strcmp(sub, "/journey") == 0 ||
                    strcmp(sub, "/export") == 0 || strcmp(sub, "/identities") == 0;
    bool post_only = strcmp(sub, "/merge") == 0 || strcmp(sub, "/unmerge") == 0;
    bool apart = strncmp(sub, "/apart/", 7) == 0 && sub[7] != '\0';
    if (!get_only && !post_only && !apart && sub[0] != '\0') {
        httpreply_error(req, 404, "not_found", "no such endpoint");
        goto out;
    }
    if (get_only && method != EVHTTP_REQ_GET) {
        httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET");
        goto out;
    }
    if (post_only && method != EVHTTP_REQ_POST) {
        httpreply_error(req, 405, "method_not_allowed", "this endpoint answers POST");
        goto out;
    }
    if (apart && method != EVHTTP_REQ_DELETE) {
        httpreply_error(req, 405, "method_not_allowed", "this endpoint answers DELETE");
        goto out;
    }
    if (sub[0] == '\0' && method != EVHTTP_REQ_GET && method != EVHTTP_REQ_DELETE) {
        httpreply_error(req, 405, "method_not_allowed", "this endpoint answers GET and DELETE");
        goto out;
    }
    if (strcmp(sub, "/timeline") != 0 && strcmp(sub, "/journey") != 0 && np > 0) {
        httpreply_error(req, 400, "invalid_request", "this endpoint takes no parameters");
        goto out;
    }
    char not_found[128];
    snprintf(not_found, sizeof(not_found), "no customer %s", id);
    if (strcmp(sub, "/timeline") == 0) {
        handle_timeline(h, req, id, params, np);
    } else if (strcmp(sub, "/journey") == 0) {
        handle_analytics(h, req, STORE_JOURNEY, id, params, np);
    } else if (strcmp(sub, "/context") == 0) {
        char sla[16];
        snprintf(sla, sizeof(sla), "%d", h->p.cfg->analytics_callback_sla_s);
        const char *p2[] = {id, sla};
        run_statement(h, req, STORE_CONTEXT, p2, 2, not_found);
    } else if (strcmp(sub, "/stream") == 0) {
        handle_stream(h, req, id);
    } else if (strcmp(sub, "/identities") == 0) {
        const char *p1[] = {id};
        run_statement(h, req, STORE_IDENTITIES, p1, 1, not_found);
    } else if (strcmp(sub, "/merge") == 0) {
        handle_merge(h, req, id, principal);
    } else if (strcmp(sub, "/unmerge") == 0) {
        handle_unmerge(h, req, id, principal);
    } else if (apart) {
        handle_remove_apart(h, req, id, sub + 7, principal);
    } else if (strcmp(sub, "/export") == 0) {
        handle_export(h, req, id, principal);
    } else if (method == EVHTTP_REQ_DELETE && h->p.spool != NULL && spool_records(h->p.spool) > 0) {
        /* Records in the spool are not in PostgreSQL yet, so the erasure would leave them no
         * tombstone and their replay would store the person again: erase once they are in. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        httpreply_error(req, 503, "unavailable",
                        "records acknowledged while PostgreSQL was away are still in the spool; "
                        "the erasure waits until they are stored: retry");
    } else if (method == EVHTTP_REQ_DELETE) {
        log_info("http: principal=%s erases customer %s", principal, id);
        const char *p2[] = {id, principal};
        run_statement(h, req, STORE_ERASE, p2, 2, not_found);
    } else {
        const char *p1[] = {id};
        run_statement(h, req, STORE_PROFILE, p1, 1, not_found);
    }
out:
    http_params_free(params, np);
}

struct http *http_new(const struct http_params *p)
{
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        log_error("http: out of memory");
        return NULL;
    }
    h->p = *p;
    const struct http_params *d = &h->p;
    h->evh = evhttp_new(d->base);
    if (h->evh == NULL) {
        log_error("http: cannot create the server");
        goto fail;
    }
    char host[256];
    int port;
    if (config_split_listen(d->cfg->listen_http, host, sizeof(host), &port) < 0) {
        log_error("http: bad listen address %s", d->cfg->listen_http);
        goto fail;
    }
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(h->evh, host, (ev_uint16_t)port);
    if (bs == NULL) {
        log_error("http: cannot listen on %s: %s", d->cfg->listen_http, strerror(errno));
        goto fail;
    }
    /* Answers over 16 KiB go out in two writes; with Nagle on, the second waits for the
     * client's delayed ACK, 40 ms on a keep-alive connection. Accepted sockets inherit the
     * option from the listener on Linux. */
    int one = 1;
    if (setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) <
        0) {
        log_warn("http: cannot set TCP_NODELAY: %s; large answers may be delayed", strerror(errno));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    evhttp_set_timeout(h->evh, d->cfg->http_timeout_s);
    evhttp_set_max_body_size(h->evh, (ev_ssize_t)d->cfg->http_max_body_bytes);
    evhttp_set_max_headers_size(h->evh, 64 * 1024);
    evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                           EVHTTP_REQ_HEAD);
    /* A client whose body is refused (413) while it still sends gets the answer rather than
     * a reset. */
    evhttp_set_flags(h->evh, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(h->evh, route, h);
    evhttp_set_bevcb(h->evh, new_bufferevent, h);
    return h;
fail:
    http_free(h);
    return NULL;
}

void http_free(struct http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->evh != NULL) {
        evhttp_free(h->evh);
    }
    while (!LIST_EMPTY(&h->pending)) {
        pending_free(LIST_FIRST(&h->pending));
    }
    free(h->conns);
    free(h);
}

int http_inflight(const struct http *h)
{
    return h->inflight + hin_inflight(h->p.hin);
}

int http_port(const struct http *h)
{
    return h->port;
}
