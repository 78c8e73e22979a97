#include "live.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "db.h"
#include "httpreply.h"
#include "jsonw.h"
#include "log.h"
#include "pgarray.h"
#include "record.h"
#include "store.h"

/* Activity events of the all-customers stream are sent at most this often. */
#define ACTIVITY_MS 250

enum stream_state {
    STREAM_RESOLVING, /* waiting for the customer's survivor */
    STREAM_OPEN,      /* headers sent, events flow */
};

struct stream {
    struct live *l;
    TAILQ_ENTRY(stream) link;
    struct evhttp_request *req;
    enum stream_state state;
    bool all;   /* every customer's activity, not one customer's records */
    bool found; /* the customer exists (resolving) */
    char customer[RECORD_UUID_LEN + 1];
};
TAILQ_HEAD(stream_list, stream);

/* One read-back of a notification's rows. */
struct fetch {
    struct live *l;
    char *params[2];
};

struct live {
    struct event_base *base;
    struct db *db;
    struct live_params p;
    struct stream_list streams;
    struct event *heartbeat;
    struct event *activity;
    bool activity_armed;
    unsigned long activity_customers;
    bool listened_once;
    struct live_stats stats;
};

/* Closes the stream's connection at once (its client fell behind or the daemon stops). */
static void stream_free(struct stream *s)
{
    TAILQ_REMOVE(&s->l->streams, s, link);
    if (s->state == STREAM_OPEN) {
        s->l->stats.streams--;
    }
    free(s);
}

/* Ends the stream with the chunked reply's last chunk; the connection may live on. */
static void stream_end(struct stream *s)
{
    struct evhttp_request *req = s->req;
    bool open = s->state == STREAM_OPEN;
    stream_free(s);
    if (open) {
        evhttp_send_reply_end(req);
    }
}

/* The client's unsent bytes are over the bound: drop its connection rather than buffer. */
static void stream_drop(struct stream *s)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
    log_warn("live: a stream of %s fell behind by more than %zu bytes; closing it",
             s->all ? "all customers" : s->customer, s->l->p.max_buffer_bytes);
    s->l->stats.dropped++;
    stream_free(s);
    if (evcon != NULL) {
        evhttp_connection_free(evcon); /* frees the request too */
    }
}

/* Writes one event ("event: type", data lines, blank line). Returns false when the stream
 * was dropped. */
static bool stream_send(struct stream *s, const char *type, const char *data)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
    if (evcon == NULL) {
        /* libevent detached the request from its failed connection and left it to us. */
        stream_end(s);
        return false;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    if (evbuffer_get_length(bufferevent_get_output(bev)) > s->l->p.max_buffer_bytes) {
        stream_drop(s);
        return false;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        return true;
    }
    if (type != NULL) {
        evbuffer_add_printf(buf, "event: %s\n", type);
    }
    /* Each line of data is its own "data:" line; JSON from the database has none. */
    for (const char *p = data; p != NULL;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        evbuffer_add_printf(buf, "%s%.*s\n", type != NULL ? "data: " : ":", (int)n, p);
        p = nl != NULL ? nl + 1 : NULL;
    }
    evbuffer_add(buf, "\n", 1);
    evhttp_send_reply_chunk(s->req, buf);
    evbuffer_free(buf);
    if (type != NULL) {
        s->l->stats.events++;
    }
    return true;
}

/* Sends type/data to every open stream that matches: all (the activity streams) or this
 * customer's. */
static void broadcast(struct live *l, bool all, const char *customer, const char *type,
                      const char *data)
{
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&l->streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->state != STREAM_OPEN || s->all != all ||
            (customer != NULL && strcmp(s->customer, customer) != 0)) {
            continue;
        }
        stream_send(s, type, data);
    }
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct live *l = arg;
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&l->streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->state == STREAM_OPEN) {
            stream_send(s, NULL, "");
        }
    }
}

static void on_activity(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct live *l = arg;
    char data[64];
    snprintf(data, sizeof(data), "{\"customers\":%lu}", l->activity_customers);
    l->activity_armed = false;
    l->activity_customers = 0;
    broadcast(l, true, NULL, "activity", data);
}

/* {"k1":"v1","k2":"v2"} (keys NULL: fewer members), malloc'd; NULL when out of memory. The
 * values come from notifications, which anyone who may NOTIFY could send: escaped. */
static char *event_data(const char *k1, const char *v1, const char *k2, const char *v2)
{
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    if (k1 != NULL) {
        jsonw_key(&w, k1);
        jsonw_string(&w, v1);
    }
    if (k2 != NULL) {
        jsonw_key(&w, k2);
        jsonw_string(&w, v2);
    }
    jsonw_object_end(&w);
    return jsonw_take(&w, NULL);
}

/* ---- reading back what a notification names ---- */

static void fetch_free(struct fetch *f)
{
    free(f->params[0]);
    free(f->params[1]);
    free(f);
}

static int fetch_send(PGconn *conn, void *arg)
{
    struct fetch *f = arg;
    return db_send_prepared(conn, STORE_LIVE_RECORDS, 2, (const char *const *)f->params);
}

static int fetch_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct fetch *f = arg;
    (void)conn;
    (void)index;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("live: reading back notified records failed: %s",
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        return 0;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        broadcast(f->l, false, PQgetvalue(res, r, 0), "interaction", PQgetvalue(res, r, 1));
    }
    return 0;
}

static void fetch_done(enum db_outcome outcome, void *arg)
{
    struct fetch *f = arg;
    if (outcome == DB_LOST) {
        /* The reconnection tells every stream to catch up (on_listening). */
        log_info("live: the connection was lost while reading back records");
    }
    fetch_free(f);
}

static const struct db_job_ops fetch_ops = {fetch_send, fetch_result, fetch_done};

static bool watched(const struct live *l, const char *customer)
{
    const struct stream *s;
    TAILQ_FOREACH(s, &l->streams, link)
    {
        if (s->state == STREAM_OPEN && !s->all && strcmp(s->customer, customer) == 0) {
            return true;
        }
    }
    return false;
}

/* A customer merged away: its streams follow the survivor, and their clients are told. */
static void follow_merge(struct live *l, const char *loser, const char *survivor)
{
    char *data = event_data("from", loser, "into", survivor);
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&l->streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->all || strcmp(s->customer, loser) != 0) {
            continue;
        }
        snprintf(s->customer, sizeof(s->customer), "%s", survivor);
        if (s->state == STREAM_OPEN && data != NULL) {
            stream_send(s, "merged", data);
        }
    }
    free(data);
}

/* "<xid8> <uuid> <loser>><survivor> …" (STORE_NOTIFY). */
static void on_notified(void *arg, const char *payload)
{
    struct live *l = arg;
    l->stats.notifications++;
    const char *sp = strchr(payload, ' ');
    if (sp == NULL || sp == payload || sp - payload > 20) {
        log_warn("live: ignoring a notification that is not touchline's");
        return;
    }
    char xid[24];
    snprintf(xid, sizeof(xid), "%.*s", (int)(sp - payload), payload);
    struct pgarray wanted;
    pgarray_init(&wanted);
    unsigned long customers = 0;
    for (const char *p = sp + 1; *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char tok[2 * RECORD_UUID_LEN + 2];
        if (n < sizeof(tok)) {
            memcpy(tok, p, n);
            tok[n] = '\0';
            char *gt = strchr(tok, '>');
            if (gt != NULL) {
                *gt = '\0';
                follow_merge(l, tok, gt + 1);
            } else {
                customers++;
                if (watched(l, tok)) {
                    pgarray_add(&wanted, tok);
                }
            }
        }
        p = end != NULL ? end + 1 : p + n;
    }
    l->activity_customers += customers;
    if (!l->activity_armed && customers > 0) {
        struct timeval tv = {0, ACTIVITY_MS * 1000};
        l->activity_armed = evtimer_add(l->activity, &tv) == 0;
    }
    if (wanted.n == 0) {
        pgarray_free(&wanted);
        return;
    }
    struct fetch *f = calloc(1, sizeof(*f));
    const char *list = pgarray_text(&wanted);
    if (f != NULL && list != NULL) {
        f->l = l;
        f->params[0] = strdup(list);
        f->params[1] = strdup(xid);
    }
    pgarray_free(&wanted);
    if (f == NULL || f->params[0] == NULL || f->params[1] == NULL) {
        log_error("live: out of memory reading back notified records");
        if (f != NULL) {
            fetch_free(f);
        }
        return;
    }
    if (db_submit(l->db, &fetch_ops, f) < 0) {
        fetch_free(f);
    }
}

/* (Re)connected and listening: whatever was committed meanwhile was not heard, so every
 * stream is told to catch up from the timeline. */
static void on_listening(void *arg)
{
    struct live *l = arg;
    if (l->listened_once) {
        log_info("live: listening again; streams catch up");
        broadcast(l, false, NULL, "resync", "{}");
        broadcast(l, true, NULL, "resync", "{}");
    }
    l->listened_once = true;
}

/* ---- opening a stream ---- */

static void stream_open(struct stream *s)
{
    struct evhttp_request *req = s->req;
    httpreply_data_headers(req, "text/event-stream; charset=utf-8");
    /* nginx: do not buffer this answer (docs/console.md, behind a reverse proxy). */
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    if (evhttp_request_get_connection(req) == NULL) {
        /* The client left while the customer was looked up. */
        stream_free(s);
        evhttp_send_reply_end(req);
        return;
    }
    /* A stream's client sends nothing after its request: no read timeout (the connection's
     * is http.timeout_s), but a write that does not drain within it still ends a client that
     * is gone, which the heartbeats find out. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    struct timeval wt;
    wt.tv_sec = s->l->p.write_timeout_s;
    wt.tv_usec = 0;
    bufferevent_set_timeouts(bev, NULL, &wt);
    s->state = STREAM_OPEN;
    s->l->stats.streams++;
    char *data = s->all ? event_data(NULL, NULL, NULL, NULL)
                        : event_data("customer_id", s->customer, NULL, NULL);
    /* A client that reconnects waits a little, whatever its own default. */
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL) {
        evbuffer_add_printf(buf, "retry: 1000\n\n");
        evhttp_send_reply_chunk(req, buf);
        evbuffer_free(buf);
    }
    stream_send(s, "ready", data != NULL ? data : "{}");
    free(data);
}

static int resolve_send(PGconn *conn, void *arg)
{
    struct stream *s = arg;
    const char *params[1] = {s->customer};
    return db_send_prepared(conn, STORE_LIVE_SURVIVOR, 1, params);
}

static int resolve_result(PGconn *conn, const PGresult *res, int index, void *arg)
{
    struct stream *s = arg;
    (void)conn;
    (void)index;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(s->customer, sizeof(s->customer), "%s", PQgetvalue(res, 0, 0));
        s->found = true;
    }
    return 0;
}

static void resolve_done(enum db_outcome outcome, void *arg)
{
    struct stream *s = arg;
    struct evhttp_request *req = s->req;
    if (outcome == DB_LOST) {
        stream_free(s);
        httpreply_error(req, 503, "unavailable", "the database connection was lost; retry");
    } else if (!s->found) {
        char msg[80];
        snprintf(msg, sizeof(msg), "no customer %s", s->customer);
        stream_free(s);
        httpreply_error(req, 404, "not_found", msg);
    } else {
        stream_open(s);
    }
}

static const struct db_job_ops resolve_ops = {resolve_send, resolve_result, resolve_done};

void live_stream(struct live *l, struct evhttp_request *req, const char *customer)
{
    size_t open = 0;
    struct stream *s;
    TAILQ_FOREACH(s, &l->streams, link)
    {
        open++;
    }
    if (open >= (size_t)l->p.max_streams) {
        l->stats.refused++;
        httpreply_error(req, 503, "unavailable", "too many live streams are open; retry later");
        return;
    }
    /* A customer's stream opens once its lookup ran on the listening connection, so after
     * that connection LISTENs (a lookup waits while it connects). The all-customers stream
     * has no lookup: it opens only while the connection is up, or it could miss what is
     * committed before. */
    if (customer == NULL && !db_available(l->db)) {
        httpreply_error(req, 503, "unavailable", "the database is unavailable; retry later");
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        httpreply_error(req, 500, "internal", "out of memory");
        return;
    }
    s->l = l;
    s->req = req;
    s->state = STREAM_RESOLVING;
    s->all = customer == NULL;
    TAILQ_INSERT_TAIL(&l->streams, s, link);
    if (s->all) {
        stream_open(s);
        return;
    }
    snprintf(s->customer, sizeof(s->customer), "%s", customer);
    if (db_submit(l->db, &resolve_ops, s) < 0) {
        stream_free(s);
        httpreply_error(req, 503, "unavailable", "the database is unavailable; retry later");
    }
}

void live_connection_closed(struct live *l, struct evhttp_connection *evcon)
{
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&l->streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        /* libevent detached the request from its failed connection and left it to us. */
        if (s->state == STREAM_OPEN && evhttp_request_get_connection(s->req) == NULL) {
            (void)evcon;
            stream_end(s);
        }
    }
}

void live_end_streams(struct live *l)
{
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&l->streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->state == STREAM_OPEN) {
            stream_end(s);
        }
    }
}

const struct live_stats *live_get_stats(const struct live *l)
{
    return &l->stats;
}

struct live *live_new(struct event_base *base, const struct live_params *params)
{
    struct live *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        log_error("live: out of memory");
        return NULL;
    }
    l->base = base;
    l->p = *params;
    TAILQ_INIT(&l->streams);
    l->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, l);
    l->activity = evtimer_new(base, on_activity, l);
    struct timeval hb = {params->heartbeat_s, 0};
    if (l->heartbeat == NULL || l->activity == NULL || event_add(l->heartbeat, &hb) < 0) {
        log_error("live: cannot create timers");
        goto fail;
    }
    struct db_params dp = {
        .dsn = params->dsn,
        .pool_size = 1,
        .connect_timeout_s = params->connect_timeout_s,
        .reconnect_max_s = params->reconnect_max_s,
        .statements = store_live_statements,
        .n_statements = store_live_n_statements,
        .listen = STORE_NOTIFY_CHANNEL,
        .listening = on_listening,
        .notified = on_notified,
        .listen_arg = l,
        .deferred = params->deferred,
        /* So that an operator sees which connection listens. */
        .application_name = "touchlined-live",
    };
    l->db = db_new(base, &dp);
    if (l->db == NULL) {
        log_error("live: cannot set up the listening connection: out of memory");
        goto fail;
    }
    return l;
fail:
    live_free(l);
    return NULL;
}

void live_start(struct live *l)
{
    db_start(l->db);
}

void live_free(struct live *l)
{
    if (l == NULL) {
        return;
    }
    live_end_streams(l);
    /* Streams still resolving are answered by db_free (DB_LOST). */
    db_free(l->db);
    if (l->heartbeat != NULL) {
        event_free(l->heartbeat);
    }
    if (l->activity != NULL) {
        event_free(l->activity);
    }
    free(l);
}
