#include "ingest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "batch.h"
#include "config.h"
#include "deliver.h"
#include "jsonw.h"
#include "log.h"
#include "tls.h"

/* Output not yet read by the client beyond which we stop reading its input. */
#define OUT_HIGH_WATER (256 * 1024)

static const char *const error_codes[INGEST_ERROR_COUNT] = {
    "invalid_json", "invalid_record", "too_large", "unauthorized", "forbidden", "unavailable"};

struct slot {
    char *text; /* the answer line, NULL while waiting */
    size_t len;
};

struct conn {
    LIST_ENTRY(conn) link;
    struct ingest *ing;
    struct bufferevent *bev;
    char peer[64];
    char ip[INET6_ADDRSTRLEN]; /* for the per-address limit */
    unsigned long lines;
    /* Answers in input order: a ring of slots for sequence numbers head..next-1. */
    struct slot *slots;
    size_t cap;
    unsigned long head;
    unsigned long next;
    int refs;  /* tickets in the batcher + frames on the stack */
    int depth; /* socket callbacks on the stack: they close, not on_stored */
    bool authed;
    /* Who authenticated (a reference: it outlives a reload that removes it); NULL while
     * not authenticated, or authenticated when the daemon had no principals. */
    struct auth_principal *principal;
    bool skipping; /* discarding the rest of an over-long line */
    bool reading;
    bool paused;    /* could not process input at the last check */
    bool eof;       /* the client will send nothing more */
    bool closing;   /* close once every answer is written */
    bool dead;      /* socket closed; freed when refs drop to 0 */
    bool lingering; /* answers sent and write side shut; waiting for the peer's EOF */
};
LIST_HEAD(conn_list, conn);

struct ticket {
    struct conn *c;
    unsigned long seq;
    unsigned long line;
    int source_slot; /* for the counters by source and channel */
    int channel;
};

struct ingest {
    struct event_base *base;
    const struct config *cfg;
    struct deliver *deliver;
    struct tls *tls;
    struct evconnlistener *listener;
    struct conn_list conns;
    size_t nconns;
    int port;
    bool draining;
    bool global_paused;
    size_t unauthenticated; /* open connections that have not authenticated */
    struct log_limit auth_log;
    struct ingest_stats stats;
};

static void conn_update_reading(struct conn *c);
static void conn_process(struct conn *c);

const char *ingest_error_code(enum ingest_error e)
{
    return (unsigned)e < INGEST_ERROR_COUNT ? error_codes[e] : "internal";
}

static void conn_free(struct conn *c)
{
    for (unsigned long s = c->head; s < c->next; s++) {
        free(c->slots[s % c->cap].text);
    }
    free(c->slots);
    auth_principal_unref(c->principal);
    free(c);
}

static void conn_ref(struct conn *c)
{
    c->refs++;
}

static void conn_unref(struct conn *c)
{
    if (--c->refs == 0 && c->dead) {
        conn_free(c);
    }
}

/* Closes the socket now; the struct lives on while tickets still point at it. */
static void conn_close(struct conn *c, const char *why)
{
    if (c->dead) {
        return;
    }
    log_debug("tcp %s closed: %s (lines=%lu)", c->peer, why, c->lines);
    c->dead = true;
    bufferevent_free(c->bev);
    c->bev = NULL;
    LIST_REMOVE(c, link);
    c->ing->nconns--;
    if (!c->authed) {
        c->ing->unauthenticated--;
    }
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    conn_ref(c);
    conn_close(c, what & BEV_EVENT_TIMEOUT ? "peer did not close in time" : "peer closed");
    conn_unref(c);
}

/*
 * Ends a connection whose answers are all written. Closing a socket that still has unread
 * input makes the kernel send a reset, and a reset can make the peer discard answers it
 * has not read yet; so unless the peer already closed its side, shut down ours, discard
 * what it still sends, and close on its EOF or after a short wait.
 */
static void conn_finish(struct conn *c, const char *why)
{
    if (c->dead || c->lingering) {
        return;
    }
    if (c->eof) {
        conn_close(c, why);
        return;
    }
    log_debug("tcp %s finishing: %s (lines=%lu)", c->peer, why, c->lines);
    c->lingering = true;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    bufferevent_setcb(c->bev, linger_read, NULL, linger_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    struct timeval tv = {2, 0};
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

static bool conn_finished(const struct conn *c)
{
    return !c->dead && !c->lingering && (c->closing || c->eof || c->ing->draining) &&
           c->head == c->next && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/* Moves answers whose predecessors are all answered to the socket. */
static void conn_flush_answers(struct conn *c)
{
    if (c->dead) {
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (c->head < c->next) {
        struct slot *s = &c->slots[c->head % c->cap];
        if (s->text == NULL) {
            break;
        }
        evbuffer_add(out, s->text, s->len);
        free(s->text);
        s->text = NULL;
        c->head++;
    }
}

static int conn_grow(struct conn *c)
{
    size_t ncap = c->cap == 0 ? 16 : c->cap * 2;
    struct slot *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL) {
        return -1;
    }
    for (unsigned long s = c->head; s < c->next; s++) {
        ns[s % ncap] = c->slots[s % c->cap];
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return 0;
}

/* Reserves the next answer slot. Returns its sequence number, or -1 without memory. */
static long conn_reserve(struct conn *c)
{
    if (c->next - c->head >= c->cap && conn_grow(c) < 0) {
        return -1;
    }
    c->slots[c->next % c->cap].text = NULL;
    return (long)c->next++;
}

/* Puts a finished answer line (text, ending in '\n', taken over) into its slot. */
static void conn_set_line(struct conn *c, unsigned long seq, char *line, size_t len)
{
    struct slot *s = &c->slots[seq % c->cap];
    s->text = line;
    s->len = len;
    conn_flush_answers(c);
}

/* Ends the answer w holds with its newline and puts it into its slot. */
static void conn_set_answer(struct conn *c, unsigned long seq, struct jsonw *w)
{
    jsonw_append(w, "\n", 1);
    size_t len;
    char *text = jsonw_take(w, &len);
    if (text == NULL) {
        /* Without memory for the answer, a fixed one: the client resends what was not acked. */
        static const char oom[] =
            "{\"ok\":false,\"error\":\"unavailable\",\"message\":\"out of memory\"}\n";
        text = strdup(oom);
        len = sizeof(oom) - 1;
        if (text == NULL) {
            c->closing = true;
            return;
        }
    }
    conn_set_line(c, seq, text, len);
}

static void answer_error(struct conn *c, unsigned long seq, unsigned long line,
                         enum ingest_error code, const char *message)
{
    c->ing->stats.rejected[code]++;
    log_debug("tcp %s line %lu: %s: %s", c->peer, line, error_codes[code], message);
    struct jsonw w;
    jsonw_init(&w);
    ingest_write_error(&w, code, message, line);
    conn_set_answer(c, seq, &w);
}

/* The members of a rejection answer (CONTRACT §3), inside an object the caller opened. */
static void error_fields(struct jsonw *w, enum ingest_error code, const char *message,
                         unsigned long line)
{
    jsonw_key(w, "ok");
    jsonw_bool(w, false);
    jsonw_key(w, "error");
    jsonw_string(w, ingest_error_code(code));
    if (message != NULL) {
        jsonw_key(w, "message");
        jsonw_string(w, message);
    }
    jsonw_key(w, "line");
    jsonw_int(w, (long long)line);
}

/* unavailable with the seconds after which a retry may pass, for a principal over its rate. */
static void answer_rate_limited(struct conn *c, unsigned long seq, unsigned long line, int wait_s)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "principal %s is over its rate limit; retry in %d s",
             auth_principal_name(c->principal), wait_s);
    c->ing->stats.rejected[INGEST_UNAVAILABLE]++;
    c->ing->stats.rate_limited++;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    error_fields(&w, INGEST_UNAVAILABLE, msg, line);
    jsonw_key(&w, "retry_after_s");
    jsonw_int(&w, wait_s);
    jsonw_object_end(&w);
    conn_set_answer(c, seq, &w);
}

/* Logs a failed authentication, at most a few lines a second whatever the flood. */
static void log_auth_failure(struct conn *c, const char *why)
{
    unsigned long suppressed = 0;
    c->ing->stats.auth_failures++;
    if (log_limit_allow(&c->ing->auth_log, 5, &suppressed)) {
        log_warn("tcp %s: authentication failed: %s (%lu such lines suppressed before)", c->peer,
                 why, suppressed);
    }
}

void ingest_write_error(struct jsonw *w, enum ingest_error code, const char *message,
                        unsigned long line)
{
    jsonw_object_begin(w);
    error_fields(w, code, message, line);
    jsonw_object_end(w);
}

static void on_stored(const struct deliver_result *res, void *arg)
{
    struct ticket *t = arg;
    struct conn *c = t->c;
    struct ingest *ing = c->ing;
    if (!c->dead) {
        switch (res->outcome) {
        case BATCH_STORED: {
            if (res->erased) {
                /* counted below */
            } else if (res->duplicate) {
                ing->stats.duplicates++;
                ing->stats.duplicates_by[t->source_slot][t->channel]++;
            } else {
                ing->stats.accepted++;
                ing->stats.accepted_by[t->source_slot][t->channel]++;
            }
            ing->stats.updated += res->updated;
            struct jsonw w;
            jsonw_init(&w);
            deliver_write_answer(res, &w);
            conn_set_answer(c, t->seq, &w);
            break;
        }
        case BATCH_INVALID:
            answer_error(c, t->seq, t->line, INGEST_INVALID_RECORD, res->message);
            break;
        case BATCH_UNAVAILABLE:
            answer_error(c, t->seq, t->line, INGEST_UNAVAILABLE, res->message);
            break;
        }
        conn_update_reading(c);
        if (c->depth == 0 && conn_finished(c)) {
            conn_finish(c, "all answers written");
        }
    }
    free(t);
    conn_unref(c);
}

static void handle_auth(struct conn *c, unsigned long seq, unsigned long line,
                        const struct jsondoc *doc)
{
    const struct config *cfg = c->ing->cfg;
    const struct jsondoc_value *root = jsondoc_root(doc);
    const struct jsondoc_value *tok = jsondoc_get(doc, root, "auth");
    if (root->count != 1 || tok->type != JSONDOC_STRING) {
        answer_error(c, seq, line, INGEST_INVALID_RECORD,
                     "auth: a control object is {\"auth\":\"<token>\"} and nothing else");
        return;
    }
    struct auth_principal *p = NULL;
    if (auth_enabled(cfg->auth)) {
        p = auth_check_token(cfg->auth, tok->text);
        if (p == NULL) {
            log_auth_failure(c, "unknown token");
            answer_error(c, seq, line, INGEST_UNAUTHORIZED, "auth: unknown token");
            c->closing = true;
            return;
        }
    }
    auth_principal_unref(c->principal);
    c->principal = auth_principal_ref(p);
    if (!c->authed) {
        c->ing->unauthenticated--;
    }
    c->authed = true;
    log_info("tcp %s authenticated principal=%s", c->peer, auth_principal_name(p));
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "ok");
    jsonw_bool(&w, true);
    jsonw_key(&w, "principal");
    jsonw_string(&w, auth_principal_name(p));
    jsonw_object_end(&w);
    conn_set_answer(c, seq, &w);
}

/* True when the connection must authenticate before anything else. */
static bool conn_needs_auth(const struct conn *c)
{
    return !c->authed && auth_enabled(c->ing->cfg->auth);
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
    struct ingest *ing = c->ing;
    const struct config *cfg = ing->cfg;
    unsigned long lineno = c->lines;
    long seq = conn_reserve(c);
    if (seq < 0) {
        log_error("tcp %s: out of memory for answers; closing", c->peer);
        c->closing = true;
        return;
    }
    ing->stats.lines++;
    char msg[RECORD_MSG_MAX];
    if (len == 0) {
        answer_error(c, (unsigned long)seq, lineno, INGEST_INVALID_JSON, "empty line");
        return;
    }
    struct jsondoc *doc = jsondoc_parse(line, len, msg, sizeof(msg));
    if (doc == NULL) {
        if (conn_needs_auth(c)) {
            log_auth_failure(c, "a line before authenticating");
            answer_error(c, (unsigned long)seq, lineno, INGEST_UNAUTHORIZED,
                         "authentication required: send {\"auth\":\"<token>\"} first");
            c->closing = true;
            return;
        }
        answer_error(c, (unsigned long)seq, lineno, INGEST_INVALID_JSON, msg);
        return;
    }
    if (jsondoc_get(doc, jsondoc_root(doc), "auth") != NULL) {
        handle_auth(c, (unsigned long)seq, lineno, doc);
        jsondoc_free(doc);
        return;
    }
    if (conn_needs_auth(c)) {
        jsondoc_free(doc);
        log_auth_failure(c, "a record before authenticating");
        answer_error(c, (unsigned long)seq, lineno, INGEST_UNAUTHORIZED,
                     "authentication required: send {\"auth\":\"<token>\"} first");
        c->closing = true;
        return;
    }
    struct record *rec = NULL;
    int rc = record_from_doc(doc, &cfg->record_opts, &rec, msg, sizeof(msg));
    if (rc != RECORD_OK) {
        answer_error(c, (unsigned long)seq, lineno, INGEST_INVALID_RECORD, msg);
        return;
    }
    /* A connection authenticated while the daemon had no principals has none: once
     * principals are configured it may write nothing. */
    if (auth_enabled(cfg->auth) || c->principal != NULL) {
        if (!auth_principal_may_write(c->principal, rec->channel, rec->source, msg, sizeof(msg))) {
            record_free(rec);
            ing->stats.forbidden++;
            answer_error(c, (unsigned long)seq, lineno, INGEST_FORBIDDEN, msg);
            return;
        }
        int wait_s = auth_principal_take(c->principal, false, 1);
        if (wait_s > 0) {
            record_free(rec);
            answer_rate_limited(c, (unsigned long)seq, lineno, wait_s);
            return;
        }
    }
    struct ticket *t = malloc(sizeof(*t));
    if (t == NULL) {
        record_free(rec);
        answer_error(c, (unsigned long)seq, lineno, INGEST_UNAVAILABLE, "out of memory");
        return;
    }
    t->c = c;
    t->seq = (unsigned long)seq;
    t->line = lineno;
    t->source_slot = metrics_source_slot(&ing->stats.sources, rec->source);
    t->channel = record_channel_index(rec->channel);
    conn_ref(c);
    if (deliver_submit(ing->deliver, rec, on_stored, t) < 0) {
        free(t);
        conn_unref(c);
        answer_error(c, (unsigned long)seq, lineno, INGEST_UNAVAILABLE, "out of memory");
    }
}

/* True when the connection may take another line from its input buffer. */
static bool conn_can_process(const struct conn *c)
{
    const struct ingest *ing = c->ing;
    return !c->dead && !c->closing && !ing->draining && !ing->global_paused &&
           c->next - c->head < (unsigned long)ing->cfg->ingest_max_inflight_per_connection &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) < OUT_HIGH_WATER;
}

static void conn_update_reading(struct conn *c)
{
    if (c->dead || c->lingering) {
        return;
    }
    bool process = conn_can_process(c);
    bool want = process && !c->eof;
    if (want != c->reading) {
        c->reading = want;
        if (want) {
            bufferevent_enable(c->bev, EV_READ);
        } else {
            bufferevent_disable(c->bev, EV_READ);
            if (!c->eof) {
                c->ing->stats.paused++;
            }
        }
    }
    /* Lines buffered while paused produce no new read event: process them from the loop. */
    if (process && c->paused && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
    c->paused = !process;
}

static void conn_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t max_line = (size_t)c->ing->cfg->ingest_max_line_bytes;
    while (conn_can_process(c)) {
        if (c->skipping) {
            struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
            if (p.pos < 0) {
                evbuffer_drain(in, evbuffer_get_length(in));
                break;
            }
            evbuffer_drain(in, (size_t)p.pos + 1);
            c->skipping = false;
            continue;
        }
        size_t eol_len = 0;
        struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
        size_t avail = evbuffer_get_length(in);
        if (p.pos < 0) {
            if (avail > max_line + 1) {
                c->lines++;
                long seq = conn_reserve(c);
                if (seq >= 0) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "line longer than max_line_bytes (%zu)", max_line);
                    c->ing->stats.lines++;
                    answer_error(c, (unsigned long)seq, c->lines, INGEST_TOO_LARGE, msg);
                }
                evbuffer_drain(in, avail);
                c->skipping = true;
                continue;
            }
            if (c->eof && avail > 0) {
                /* The last line of a stream that ends without a newline. */
                p.pos = (ev_ssize_t)avail;
                eol_len = 0;
            } else {
                break;
            }
        }
        size_t len = (size_t)p.pos;
        c->lines++;
        const char *line = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        size_t content = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
        if (content > max_line) {
            long seq = conn_reserve(c);
            if (seq >= 0) {
                char msg[128];
                snprintf(msg, sizeof(msg), "line longer than max_line_bytes (%zu)", max_line);
                c->ing->stats.lines++;
                answer_error(c, (unsigned long)seq, c->lines, INGEST_TOO_LARGE, msg);
            }
        } else {
            handle_line(c, line, content);
        }
        if (c->dead) {
            return;
        }
        evbuffer_drain(in, len + eol_len);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    conn_ref(c);
    c->depth++;
    conn_process(c);
    conn_update_reading(c);
    if (!c->dead && conn_finished(c)) {
        conn_finish(c, c->closing ? "closed after an error" : "end of input");
    }
    c->depth--;
    conn_unref(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    conn_ref(c);
    c->depth++;
    if (conn_finished(c)) {
        conn_finish(c, c->closing ? "closed after an error" : "end of input");
    } else {
        conn_update_reading(c);
    }
    c->depth--;
    conn_unref(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    conn_ref(c);
    c->depth++;
    if (what & BEV_EVENT_EOF) {
        /* Half-closed: answer everything already sent, then close. */
        c->eof = true;
        c->reading = false;
        conn_process(c);
        if (conn_finished(c)) {
            conn_close(c, "end of input");
        }
    } else if (what & BEV_EVENT_ERROR) {
        if (c->ing->tls != NULL && c->ing->cfg->tls_tcp) {
            tls_log_failure(c->bev, c->peer);
        }
        conn_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    } else if (what & BEV_EVENT_TIMEOUT) {
        if (c->head == c->next) {
            conn_close(c, "idle timeout");
        } else {
            bufferevent_enable(c->bev, EV_READ);
        }
    }
    c->depth--;
    conn_unref(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)l;
    (void)socklen;
    struct ingest *ing = arg;
    const struct config *cfg = ing->cfg;
    const char *refuse =
        ing->draining                                        ? "draining"
        : ing->nconns >= (size_t)cfg->ingest_max_connections ? "max_connections reached"
        : auth_enabled(cfg->auth) && ing->unauthenticated >= (size_t)cfg->ingest_max_unauthenticated
            ? "max_unauthenticated reached (connections that have not sent their "
              "token yet)"
            : NULL;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    /* Loopback peers are exempt: a local TLS terminator or balancer makes every client come
     * from 127.0.0.1, and local adapters are the machine's own. */
    if (refuse == NULL && !config_host_is_loopback(host)) {
        size_t same = 0;
        struct conn *o;
        LIST_FOREACH(o, &ing->conns, link)
        {
            same += strcmp(o->ip, host) == 0;
        }
        if (same >= (size_t)cfg->ingest_max_connections_per_ip) {
            refuse = "max_connections_per_ip reached";
        }
    }
    if (refuse != NULL) {
        unsigned long suppressed = 0;
        ing->stats.refused++;
        if (log_limit_allow(&ing->auth_log, 5, &suppressed)) {
            log_warn("tcp: connection from %s refused: %s (%lu such lines suppressed before)", host,
                     refuse, suppressed);
        }
        evutil_closesocket(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->ing = ing;
    /* TLS: the handshake runs inside the bufferevent, without blocking the loop; lines are
     * read and answered the same way once it is done. */
    c->bev = cfg->tls_tcp && ing->tls != NULL
                 ? tls_bufferevent(ing->tls, ing->base, fd, BEV_OPT_CLOSE_ON_FREE)
                 : bufferevent_socket_new(ing->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    snprintf(c->ip, sizeof(c->ip), "%s", host);
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    LIST_INSERT_HEAD(&ing->conns, c, link);
    ing->nconns++;
    ing->unauthenticated++;
    ing->stats.connections_total++;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    /* The input buffer never holds more than one line beyond the limit. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, (size_t)cfg->ingest_max_line_bytes + 2);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUT_HIGH_WATER / 2, 0);
    if (cfg->ingest_idle_timeout_s > 0) {
        struct timeval tv = {cfg->ingest_idle_timeout_s, 0};
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
    c->reading = false;
    conn_update_reading(c);
    log_debug("tcp %s connected", c->peer);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: log and keep listening; the loop retries on the next event. */
    log_error("tcp accept failed: %s", evutil_socket_error_to_string(err));
}

/* Backpressure from deliver: every connection stops reading, or reads again. */
static void set_paused(struct ingest *ing, bool paused)
{
    ing->global_paused = paused;
    ingest_update_reading(ing);
}

static void on_pause(void *arg)
{
    set_paused(arg, true);
}

static void on_resume(void *arg)
{
    set_paused(arg, false);
}

struct ingest *ingest_new(const struct ingest_params *p)
{
    struct ingest *ing = calloc(1, sizeof(*ing));
    if (ing == NULL) {
        log_error("tcp: out of memory");
        return NULL;
    }
    ing->base = p->base;
    ing->cfg = p->cfg;
    ing->deliver = p->deliver;
    ing->tls = p->tls;
    LIST_INIT(&ing->conns);
    const struct config *cfg = p->cfg;
    char host[256];
    int port;
    if (config_split_listen(cfg->listen_tcp, host, sizeof(host), &port) < 0) {
        log_error("tcp: bad listen address %s", cfg->listen_tcp);
        goto fail;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        log_error("tcp: cannot resolve listen address %s: %s", cfg->listen_tcp, gai_strerror(gai));
        goto fail;
    }
    ing->listener = evconnlistener_new_bind(ing->base, on_accept, ing,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                            ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (ing->listener == NULL) {
        log_error("tcp: cannot listen on %s: %s", cfg->listen_tcp, strerror(errno));
        goto fail;
    }
    evconnlistener_set_error_cb(ing->listener, on_accept_error);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(evconnlistener_get_fd(ing->listener), (struct sockaddr *)&bound, &blen) == 0) {
        ing->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    if (deliver_add_flow(ing->deliver, on_pause, on_resume, ing) < 0) {
        log_error("tcp: out of memory");
        evconnlistener_free(ing->listener);
        goto fail;
    }
    return ing;
fail:
    free(ing);
    return NULL;
}

void ingest_free(struct ingest *ing)
{
    if (ing == NULL) {
        return;
    }
    struct conn *c;
    while ((c = LIST_FIRST(&ing->conns)) != NULL) {
        conn_ref(c);
        conn_close(c, "daemon exit");
        conn_unref(c);
    }
    if (ing->listener != NULL) {
        evconnlistener_free(ing->listener);
    }
    metrics_sources_free(&ing->stats.sources);
    free(ing);
}

void ingest_drain(struct ingest *ing)
{
    ing->draining = true;
    if (ing->listener != NULL) {
        evconnlistener_disable(ing->listener);
    }
    struct conn *c, *tmp;
    for (c = LIST_FIRST(&ing->conns); c != NULL; c = tmp) {
        tmp = LIST_NEXT(c, link);
        conn_ref(c);
        conn_update_reading(c);
        if (conn_finished(c)) {
            conn_finish(c, "draining");
        }
        conn_unref(c);
    }
}

int ingest_drained(const struct ingest *ing)
{
    return ing->draining && ing->nconns == 0;
}

void ingest_update_reading(struct ingest *ing)
{
    struct conn *c, *tmp;
    for (c = LIST_FIRST(&ing->conns); c != NULL; c = tmp) {
        tmp = LIST_NEXT(c, link);
        conn_update_reading(c);
    }
}

size_t ingest_connections(const struct ingest *ing)
{
    return ing->nconns;
}

int ingest_port(const struct ingest *ing)
{
    return ing->port;
}

const struct ingest_stats *ingest_get_stats(const struct ingest *ing)
{
    return &ing->stats;
}

struct ingest_stats *ingest_shared_stats(struct ingest *ing)
{
    return &ing->stats;
}
