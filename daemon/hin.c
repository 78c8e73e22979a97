#include "hin.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>
#include <zlib.h>

#include "adapt.h"
#include "auth.h"
#include "errmsg.h"
#include "httpreply.h"
#include "intake.h"
#include "jsonw.h"
#include "log.h"
#include "record.h"

/* Segment's own limits, which its SDKs size their batches by. */
#define SEGMENT_MAX_MESSAGE (32 * 1024)
#define SEGMENT_MAX_BATCH   (500 * 1024)
/* Form parameters of a Twilio webhook: about 20, plus two per media item (at most 10). */
#define TWILIO_MAX_PARAMS 128

enum hreq_kind { HREQ_INTERACTIONS, HREQ_SEGMENT, HREQ_TWILIO, HREQ_CHATWOOT };

/* One request whose records are on their way. */
struct hreq {
    LIST_ENTRY(hreq) link;
    struct hin *h;
    struct evhttp_request *req;
    struct intake *in;
    enum hreq_kind kind;
};

struct hin {
    struct hin_deps deps;
    LIST_HEAD(, hreq) reqs;
    int inflight;
    struct hin_stats stats;
};

struct hin *hin_new(const struct hin_deps *deps)
{
    struct hin *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->deps = *deps;
    LIST_INIT(&h->reqs);
    return h;
}

static void hreq_free(struct hreq *r)
{
    LIST_REMOVE(r, link);
    r->h->inflight--;
    intake_free(r->in);
    free(r);
}

void hin_free(struct hin *h)
{
    if (h == NULL) {
        return;
    }
    while (!LIST_EMPTY(&h->reqs)) {
        hreq_free(LIST_FIRST(&h->reqs));
    }
    free(h);
}

int hin_inflight(const struct hin *h)
{
    return h->inflight;
}

const struct hin_stats *hin_get_stats(const struct hin *h)
{
    return &h->stats;
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---------------------------------------------------------------------------------------- */
/* Bodies */

/* Inflates a gzip body into at most cap bytes. Returns 0, -1 when it is not gzip, -2 when it
 * inflates to more than cap, -3 when out of memory. */
static int gunzip(const unsigned char *in, size_t n, size_t cap, char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        return -3;
    }
    size_t size = n * 4 < cap ? (n * 4 > 4096 ? n * 4 : 4096) : cap;
    char *buf = malloc(size + 1);
    int rc = buf == NULL ? -3 : 0;
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    size_t have = 0;
    while (rc == 0) {
        if (have == size) {
            if (size >= cap) {
                rc = -2; /* full, and the stream goes on */
                break;
            }
            size_t nsize = size * 2 < cap ? size * 2 : cap;
            char *nb = realloc(buf, nsize + 1);
            if (nb == NULL) {
                rc = -3;
                break;
            }
            buf = nb;
            size = nsize;
        }
        z.next_out = (unsigned char *)buf + have;
        z.avail_out = (uInt)(size - have);
        int zr = inflate(&z, Z_NO_FLUSH);
        have = size - z.avail_out;
        if (zr == Z_STREAM_END) {
            /* Trailing bytes after the stream would be a second member or junk: refuse. */
            rc = z.avail_in == 0 ? 1 : -1;
        } else if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            rc = -1; /* truncated */
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? -3 : -1;
        }
    }
    inflateEnd(&z);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[have] = '\0';
    *out = buf;
    *outlen = have;
    return 0;
}

/*
 * The request's body, inflated when it is gzip, as a NUL-terminated copy of at most limit
 * bytes. Returns 0, or answers the request (413, 415, 400) and returns -1.
 */
static int read_body(struct evhttp_request *req, size_t limit, char **out, size_t *len)
{
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(buf);
    const char *enc = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
    bool gzip = enc != NULL && strcasecmp(enc, "gzip") == 0;
    if (enc != NULL && !gzip && strcasecmp(enc, "identity") != 0) {
        httpreply_error(req, 415, "unsupported_media_type",
                        "Content-Encoding: only gzip (or none) is accepted");
        return -1;
    }
    char msg[160];
    if (n > limit) {
        snprintf(msg, sizeof(msg), "the body is larger than %zu bytes", limit);
        httpreply_error(req, 413, "too_large", msg);
        return -1;
    }
    const unsigned char *data =
        n > 0 ? evbuffer_pullup(buf, (ev_ssize_t)n) : (const unsigned char *)"";
    if (data == NULL) {
        httpreply_error(req, 503, "unavailable", "out of memory");
        return -1;
    }
    if (gzip) {
        int rc = gunzip(data, n, limit, out, len);
        if (rc == -1) {
            httpreply_error(req, 400, "invalid_request",
                            "Content-Encoding: gzip, but the body is not one whole gzip stream");
        } else if (rc == -2) {
            snprintf(msg, sizeof(msg), "the body inflates to more than %zu bytes", limit);
            httpreply_error(req, 413, "too_large", msg);
        } else if (rc == -3) {
            httpreply_error(req, 503, "unavailable", "out of memory");
        }
        return rc == 0 ? 0 : -1;
    }
    *out = malloc(n + 1);
    if (*out == NULL) {
        httpreply_error(req, 503, "unavailable", "out of memory");
        return -1;
    }
    memcpy(*out, data, n);
    (*out)[n] = '\0';
    *len = n;
    return 0;
}

/* The body parsed as one JSON document, or NULL when the request was answered (400 …). */
static struct jsondoc *read_json(struct evhttp_request *req, size_t limit)
{
    char *body = NULL;
    size_t len = 0;
    if (read_body(req, limit, &body, &len) < 0) {
        return NULL;
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *doc = jsondoc_parse(body, len, msg, sizeof(msg));
    free(body);
    if (doc == NULL) {
        httpreply_error(req, 400, "invalid_json", msg);
    }
    return doc;
}

/* ---------------------------------------------------------------------------------------- */
/* Answers */

static bool method_is_post(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        return true;
    }
    httpreply_error(req, 405, "method_not_allowed", "this endpoint answers POST");
    return false;
}

/* Above the backlog bound (or draining) ingest requests are turned away before their bodies
 * are looked at: an adapter retries later, and the daemon's memory stays bounded. */
static bool shedding(struct hin *h, struct evhttp_request *req, bool draining)
{
    size_t pending = deliver_pending(h->deps.deliver);
    size_t bound = (size_t)h->deps.cfg->ingest_max_pending_records;
    if (!draining && pending < bound) {
        return false;
    }
    h->stats.shed++;
    char msg[200];
    if (draining) {
        snprintf(msg, sizeof(msg),
                 "the daemon is shutting down; resend to another instance or "
                 "later");
    } else {
        snprintf(msg, sizeof(msg),
                 "%zu records wait for the database (ingest.max_pending_records %zu); retry "
                 "later",
                 pending, bound);
    }
    httpreply_error(req, 503, "unavailable", msg);
    return true;
}

/* The status of an answer: 200 all stored, 503 all unavailable, one 4xx when every record
 * failed the same way, else 207. */
static int overall_status(const struct intake *in, enum ingest_error *code)
{
    size_t n = intake_count(in), ok = intake_ok(in);
    if (ok == n) {
        return 200;
    }
    static const int status[INGEST_ERROR_COUNT] = {400, 400, 413, 401, 403, 503};
    if (ok == 0) {
        for (int e = 0; e < INGEST_ERROR_COUNT; e++) {
            if (intake_rejected(in, (enum ingest_error)e) == n) {
                *code = (enum ingest_error)e;
                return status[e];
            }
        }
    }
    return intake_rejected(in, INGEST_UNAVAILABLE) > 0 && ok == 0 ? 503 : 207;
}

/* The first error's message, for the {"error":…} member of a 4xx/5xx answer. */
static const char *first_message(const struct intake *in)
{
    for (size_t i = 0; i < intake_count(in); i++) {
        const struct intake_result *r = intake_result(in, i);
        if (!r->ok && r->message != NULL) {
            return r->message;
        }
    }
    return "";
}

/* {"results":[…],"accepted":n,"rejected":m[,"error":{…}]} */
static void reply_results(struct evhttp_request *req, const struct intake *in, bool segment)
{
    enum ingest_error code = INGEST_INVALID_RECORD;
    int status = overall_status(in, &code);
    if (segment && status == 207) {
        /* Segment's SDKs know 200, 4xx (drop) and 5xx/429 (retry). A batch of which some
         * messages were refused is dropped by the SDK; the stored ones stay stored. */
        status = intake_rejected(in, INGEST_UNAVAILABLE) > 0 ? 503 : 400;
        code = status == 503 ? INGEST_UNAVAILABLE : INGEST_INVALID_RECORD;
    }
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    if (segment && status == 200) {
        jsonw_key(&w, "success");
        jsonw_bool(&w, true);
    }
    jsonw_key(&w, "results");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < intake_count(in); i++) {
        intake_write_answer(in, i, &w);
    }
    jsonw_array_end(&w);
    size_t ok = intake_ok(in);
    jsonw_key(&w, "accepted");
    jsonw_int(&w, (long long)ok);
    jsonw_key(&w, "rejected");
    jsonw_int(&w, (long long)(intake_count(in) - ok));
    if (status != 200 && status != 207) {
        jsonw_key(&w, "error");
        httpreply_write_error(&w, ingest_error_code(code), first_message(in));
    }
    jsonw_object_end(&w);
    size_t len = 0;
    char *text = jsonw_take(&w, &len);
    if (text == NULL) {
        httpreply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL || evbuffer_add(buf, text, len) < 0 || evbuffer_add(buf, "\n", 1) < 0) {
        free(text);
        if (buf != NULL) {
            evbuffer_free(buf);
        }
        httpreply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    free(text);
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", "application/json; charset=utf-8");
    if (status == 503) {
        evhttp_add_header(hdr, "Retry-After", "1");
    }
    evhttp_send_reply(req, status, httpreply_reason(status), buf);
    evbuffer_free(buf);
}

static void reply_twiml(struct evhttp_request *req, const struct intake *in)
{
    enum ingest_error code = INGEST_INVALID_RECORD;
    if (overall_status(in, &code) != 200) {
        /* Twilio shows the body of a failed webhook in its debugger: the named error. */
        reply_results(req, in, false);
        return;
    }
    static const char twiml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>\n";
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        httpreply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    evbuffer_add(buf, twiml, sizeof(twiml) - 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/xml; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
}

static void on_intake_done(struct intake *in, void *arg)
{
    (void)in;
    struct hreq *r = arg;
    struct hin *h = r->h;
    h->stats.requests++;
    switch (r->kind) {
    case HREQ_INTERACTIONS:
    case HREQ_CHATWOOT:
        reply_results(r->req, r->in, false);
        break;
    case HREQ_SEGMENT:
        reply_results(r->req, r->in, true);
        break;
    case HREQ_TWILIO:
        reply_twiml(r->req, r->in);
        break;
    }
    hreq_free(r);
}

/* A request that will carry records. NULL (answered 503) when out of memory. */
static struct hreq *hreq_new(struct hin *h, struct evhttp_request *req, enum hreq_kind kind)
{
    struct hreq *r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->in = intake_new(h->deps.deliver, h->deps.stats, on_intake_done, r);
    }
    if (r == NULL || r->in == NULL) {
        free(r);
        httpreply_error(req, 503, "unavailable", "out of memory");
        return NULL;
    }
    r->h = h;
    r->req = req;
    r->kind = kind;
    LIST_INSERT_HEAD(&h->reqs, r, link);
    h->inflight++;
    return r;
}

/* Every record is in: answers now, or once the last one is stored. */
static void hreq_seal(struct hreq *r)
{
    intake_seal(r->in); /* may answer and free r */
}

/* The rest of a request that ran out of memory: answered unavailable, so it is resent. */
static void reject_oom(struct intake *in)
{
    if (intake_reject(in, INGEST_UNAVAILABLE, "out of memory") < 0) {
        log_error("http: out of memory answering a request");
    }
}

/* Validates a record's JSON text, checks its source against the caller's scope, and submits
 * it. Failures become the item's answer; only running out of memory returns -1. */
static int submit_text(struct hreq *r, const char *text, size_t len, struct auth_principal *who)
{
    const struct config *cfg = r->h->deps.cfg;
    char msg[RECORD_MSG_MAX];
    if ((size_t)len > (size_t)cfg->ingest_max_line_bytes) {
        snprintf(msg, sizeof(msg), "record longer than ingest.max_line_bytes (%d)",
                 cfg->ingest_max_line_bytes);
        return intake_reject(r->in, INGEST_TOO_LARGE, msg);
    }
    struct record *rec = NULL;
    int rc = record_parse(text, len, &cfg->record_opts, &rec, msg, sizeof(msg));
    if (rc != RECORD_OK) {
        return intake_reject(r->in,
                             rc == RECORD_EJSON ? INGEST_INVALID_JSON : INGEST_INVALID_RECORD, msg);
    }
    /* The caller's principal (auth.h): its ingest scope, channels and sources. */
    if (who != NULL &&
        !auth_principal_may_write(who, rec->channel, rec->source, msg, sizeof(msg))) {
        record_free(rec);
        return intake_reject(r->in, INGEST_FORBIDDEN, msg);
    }
    if (who != NULL) {
        int wait_s = auth_principal_take(who, false, 1);
        if (wait_s > 0) {
            snprintf(msg, sizeof(msg), "principal %s is over its rate limit; retry in %d s",
                     auth_principal_name(who), wait_s);
            record_free(rec);
            return intake_reject(r->in, INGEST_UNAVAILABLE, msg);
        }
    }
    return intake_submit(r->in, rec);
}

/* A record an adapter mapping wrote (taken; NULL: refused with msg). */
static int submit_mapped(struct hreq *r, char *rec, const char *msg)
{
    if (rec == NULL) {
        return intake_reject(r->in, INGEST_INVALID_RECORD, msg);
    }
    int rc = submit_text(r, rec, strlen(rec), NULL);
    free(rec);
    return rc;
}

/* A request of one record, as a webhook's mapping made it (taken; NULL: refused with msg). */
static void submit_one(struct hin *h, struct evhttp_request *req, enum hreq_kind kind, char *rec,
                       const char *msg)
{
    struct hreq *r = hreq_new(h, req, kind);
    if (r == NULL) {
        free(rec);
        return;
    }
    if (submit_mapped(r, rec, msg) < 0) {
        reject_oom(r->in);
    }
    hreq_seal(r);
}

/* ---------------------------------------------------------------------------------------- */
/* POST /v1/interactions */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

static int submit_ndjson(struct hreq *r, const char *body, size_t len, struct auth_principal *who)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        size_t content = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
        /* Blank lines (a trailing newline, say) separate nothing and are not records. */
        if (!blank(p, content) && submit_text(r, p, content, who) < 0) {
            return -1;
        }
        p += n + 1;
    }
    return 0;
}

static int submit_json_body(struct hreq *r, const char *body, size_t len,
                            struct auth_principal *who)
{
    char msg[RECORD_MSG_MAX];
    struct jsondoc *doc = jsondoc_parse(body, len, msg, sizeof(msg));
    if (doc == NULL) {
        return intake_reject(r->in, INGEST_INVALID_JSON, msg);
    }
    const struct jsondoc_value *root = jsondoc_root(doc);
    if (root->type != JSONDOC_ARRAY) {
        jsondoc_free(doc);
        return submit_text(r, body, len, who);
    }
    int rc = 0;
    for (const struct jsondoc_value *v = jsondoc_child(doc, root); v != NULL && rc == 0;
         v = jsondoc_next(doc, v)) {
        size_t n = 0;
        char *text = jsondoc_dump(doc, v, NULL, NULL, &n);
        rc = text != NULL ? submit_text(r, text, n, who)
                          : intake_reject(r->in, INGEST_UNAVAILABLE, "out of memory");
        free(text);
    }
    jsondoc_free(doc);
    return rc;
}

void hin_interactions(struct hin *h, struct evhttp_request *req, struct auth_principal *who,
                      bool draining)
{
    if (!method_is_post(req) || shedding(h, req, draining)) {
        return;
    }
    bool ndjson = httpreply_content_type_is(req, "application/x-ndjson") ||
                  httpreply_content_type_is(req, "application/jsonl");
    if (!ndjson && !httpreply_content_type_is(req, "application/json")) {
        httpreply_error(req, 415, "unsupported_media_type",
                        "Content-Type: send application/json (a record or an array of them) or "
                        "application/x-ndjson (one record per line)");
        return;
    }
    char *body = NULL;
    size_t len = 0;
    if (read_body(req, (size_t)h->deps.cfg->http_max_body_bytes, &body, &len) < 0) {
        return;
    }
    if (blank(body, len) || (len > 0 && body[strspn(body, " \t\r\n")] == '\0')) {
        free(body);
        httpreply_error(req, 400, "invalid_json", "the body holds no record");
        return;
    }
    struct hreq *r = hreq_new(h, req, HREQ_INTERACTIONS);
    if (r == NULL) {
        free(body);
        return;
    }
    int rc = ndjson ? submit_ndjson(r, body, len, who) : submit_json_body(r, body, len, who);
    free(body);
    if (rc < 0) {
        log_warn("http: out of memory reading a request's records; the rest of it is answered "
                 "unavailable");
        reject_oom(r->in);
    }
    if (intake_count(r->in) == 0) {
        if (intake_reject(r->in, INGEST_INVALID_JSON, "the body holds no record") < 0) {
            log_error("http: out of memory answering a request");
        }
    }
    hreq_seal(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Segment */

/* The write key's entry, or a principal's token (auth.h) allowed to write source "segment"
 * of the web channel; NULL when the request was answered (401/403). *anonymous when neither
 * is configured. */
static const struct config_token *segment_auth(struct hin *h, struct evhttp_request *req,
                                               const char *body_key, struct config_token *anon)
{
    const struct config *cfg = h->deps.cfg;
    char key[512] = "";
    if (httpreply_basic_user(req, key, sizeof(key)) < 0 || key[0] == '\0') {
        snprintf(key, sizeof(key), "%s", body_key != NULL ? body_key : "");
    }
    if (cfg->n_write_keys == 0 && !auth_enabled(cfg->auth)) {
        /* Nothing configured, as for the rest of the API: one source for every caller. */
        anon->name = "anonymous";
        anon->sources = "segment";
        return anon;
    }
    const struct config_token *t = config_find_secret(cfg->write_keys, cfg->n_write_keys, key);
    if (t != NULL) {
        return t;
    }
    struct auth_principal *p = auth_check_token(cfg->auth, key);
    if (p != NULL) {
        char msg[200];
        if (!auth_principal_may_write(p, "web", "segment", msg, sizeof(msg))) {
            httpreply_error(req, 403, "forbidden", msg);
            return NULL;
        }
        anon->name = (char *)auth_principal_name(p);
        anon->sources = "segment";
        return anon;
    }
    h->stats.bad_write_key++;
    log_warn("segment: a call with %s write key refused", key[0] ? "an unknown" : "no");
    httpreply_error(req, 401, "unauthorized",
                    key[0] ? "unknown write key" : "send the write key as the Basic user name");
    return NULL;
}

static void segment(struct hin *h, struct evhttp_request *req, const char *type, bool draining)
{
    if (!method_is_post(req) || shedding(h, req, draining)) {
        return;
    }
    if (!httpreply_content_type_is(req, "application/json") &&
        !httpreply_content_type_is(req, "text/plain")) {
        httpreply_error(req, 415, "unsupported_media_type", "Content-Type: send application/json");
        return;
    }
    bool batch = type == NULL;
    size_t limit = batch ? SEGMENT_MAX_BATCH : SEGMENT_MAX_MESSAGE;
    if ((size_t)h->deps.cfg->http_max_body_bytes < limit) {
        limit = (size_t)h->deps.cfg->http_max_body_bytes;
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *doc = read_json(req, limit);
    if (doc == NULL) {
        return;
    }
    const struct jsondoc_value *root = jsondoc_root(doc);
    const struct jsondoc_value *wk = jsondoc_get(doc, root, "writeKey");
    struct config_token anon = {0};
    const struct config_token *key =
        segment_auth(h, req, wk != NULL && wk->type == JSONDOC_STRING ? wk->text : NULL, &anon);
    if (key == NULL) {
        jsondoc_free(doc);
        return;
    }
    const struct jsondoc_value *list = batch ? jsondoc_get(doc, root, "batch") : NULL;
    if (root->type != JSONDOC_OBJECT || (batch && (list == NULL || list->type != JSONDOC_ARRAY))) {
        jsondoc_free(doc);
        httpreply_error(req, 400, "invalid_request",
                        batch ? "a batch is {\"batch\":[messages…]}" : "a message is an object");
        return;
    }
    struct hreq *r = hreq_new(h, req, HREQ_SEGMENT);
    if (r == NULL) {
        jsondoc_free(doc);
        return;
    }
    char user_system[64] = "";
    const char *uid = h->deps.cfg->segment_user_id;
    if (strncmp(uid, "external:", 9) == 0) {
        snprintf(user_system, sizeof(user_system), "%s", uid + 9);
    }
    struct adapt_segment_opts opts = {.source = key->sources, .user_id_system = user_system};
    int64_t now = now_us();
    int rc = 0;
    const struct jsondoc_value *m = batch ? jsondoc_child(doc, list) : root;
    for (; m != NULL && rc == 0; m = batch ? jsondoc_next(doc, m) : NULL) {
        size_t mlen = 0;
        char *mtext = batch ? jsondoc_dump(doc, m, NULL, NULL, &mlen) : NULL;
        free(mtext);
        if (mlen > SEGMENT_MAX_MESSAGE) {
            snprintf(msg, sizeof(msg), "a message is larger than %d bytes", SEGMENT_MAX_MESSAGE);
            rc = intake_reject(r->in, INGEST_TOO_LARGE, msg);
            continue;
        }
        rc = submit_mapped(r, adapt_segment(doc, m, type, &opts, now, msg, sizeof(msg)), msg);
    }
    jsondoc_free(doc);
    if (rc < 0) {
        reject_oom(r->in);
    }
    if (intake_count(r->in) == 0) {
        /* An empty batch is what an SDK's flush of nothing sends: nothing to store. */
        intake_seal(r->in);
        return;
    }
    hreq_seal(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Twilio */

static int cmp_param(const void *a, const void *b)
{
    const struct http_param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

void hin_twilio_signature(const char *token, const char *url, const struct http_param *p, int n,
                          char *out, size_t cap)
{
    out[0] = '\0';
    struct http_param *sorted = malloc(((size_t)n + 1) * sizeof(*sorted));
    if (sorted == NULL) {
        return;
    }
    memcpy(sorted, p, (size_t)n * sizeof(*sorted));
    qsort(sorted, (size_t)n, sizeof(*sorted), cmp_param);
    size_t total = strlen(url);
    for (int i = 0; i < n; i++) {
        total += strlen(sorted[i].key) + strlen(sorted[i].value);
    }
    char *data = malloc(total + 1);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    bool ok = data != NULL;
    if (ok) {
        size_t o = 0;
        size_t l = strlen(url);
        memcpy(data + o, url, l);
        o += l;
        for (int i = 0; i < n; i++) {
            l = strlen(sorted[i].key);
            memcpy(data + o, sorted[i].key, l);
            o += l;
            l = strlen(sorted[i].value);
            memcpy(data + o, sorted[i].value, l);
            o += l;
        }
        ok = HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)data, o, mac,
                  &maclen) != NULL;
    }
    free(data);
    free(sorted);
    if (ok && cap >= 4 * ((maclen + 2) / 3) + 1) {
        EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    }
}

/* The URL Twilio signed: the configured public base (or http://<Host>) and the request's path
 * and query as sent. */
static void twilio_url(const struct config *cfg, struct evhttp_request *req, char *out, size_t cap)
{
    const char *uri = evhttp_request_get_uri(req);
    if (cfg->twilio_public_url[0] != '\0') {
        snprintf(out, cap, "%s%s", cfg->twilio_public_url, uri);
        return;
    }
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    snprintf(out, cap, "http://%s%s", host != NULL ? host : "", uri);
}

static bool twilio_signed(struct hin *h, struct evhttp_request *req, const struct http_param *p,
                          int n)
{
    const struct config *cfg = h->deps.cfg;
    const char *sig =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Twilio-Signature");
    if (sig == NULL) {
        return false;
    }
    char url[4096];
    twilio_url(cfg, req, url, sizeof(url));
    size_t sl = strlen(sig);
    bool ok = false;
    /* Every token is tried, in constant time each, so that rotation costs no timing leak. */
    for (size_t i = 0; i < cfg->n_twilio_tokens; i++) {
        char want[64];
        hin_twilio_signature(cfg->twilio_tokens[i], url, p, n, want, sizeof(want));
        if (want[0] != '\0' && strlen(want) == sl && CRYPTO_memcmp(want, sig, sl) == 0) {
            ok = true;
        }
    }
    return ok;
}

static void twilio(struct hin *h, struct evhttp_request *req, bool status, bool draining)
{
    const struct config *cfg = h->deps.cfg;
    if (!method_is_post(req)) {
        return;
    }
    if (cfg->n_twilio_tokens == 0) {
        httpreply_error(req, 404, "not_found",
                        "the Twilio hooks are off: set [twilio] auth_tokens to turn them on");
        return;
    }
    if (!httpreply_content_type_is(req, "application/x-www-form-urlencoded")) {
        httpreply_error(req, 415, "unsupported_media_type",
                        "Content-Type: Twilio sends application/x-www-form-urlencoded");
        return;
    }
    char *body = NULL;
    size_t len = 0;
    if (read_body(req, (size_t)cfg->http_max_body_bytes, &body, &len) < 0) {
        return;
    }
    struct http_param p[TWILIO_MAX_PARAMS];
    int n = strlen(body) == len ? http_parse_form(body, p, TWILIO_MAX_PARAMS) : -1;
    free(body);
    if (n < 0) {
        httpreply_error(req, 400, "invalid_request", "the form body does not decode");
        return;
    }
    if (!twilio_signed(h, req, p, n)) {
        h->stats.bad_signature++;
        log_warn("twilio: a webhook with %s X-Twilio-Signature refused",
                 evhttp_find_header(evhttp_request_get_input_headers(req), "X-Twilio-Signature")
                     ? "a wrong"
                     : "no");
        http_params_free(p, n);
        httpreply_error(req, 403, "forbidden",
                        "X-Twilio-Signature: missing or not made with a configured auth token "
                        "for this URL (check [twilio] public_url)");
        return;
    }
    if (shedding(h, req, draining)) {
        http_params_free(p, n);
        return;
    }
    char msg[RECORD_MSG_MAX];
    char *rec = adapt_twilio(p, n, status, cfg->twilio_source, now_us(), msg, sizeof(msg));
    http_params_free(p, n);
    submit_one(h, req, HREQ_TWILIO, rec, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Chatwoot */

static void chatwoot(struct hin *h, struct evhttp_request *req, bool draining)
{
    const struct config *cfg = h->deps.cfg;
    if (!method_is_post(req)) {
        return;
    }
    if (cfg->n_chatwoot == 0) {
        httpreply_error(req, 404, "not_found",
                        "the Chatwoot hook is off: set [chatwoot] hooks to turn it on");
        return;
    }
    /* Chatwoot signs nothing: the hook's URL carries a secret (?token=), or a proxy adds it
     * as a header. */
    char secret[256] = "";
    const char *hdr =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Touchline-Token");
    if (hdr != NULL) {
        snprintf(secret, sizeof(secret), "%s", hdr);
    } else {
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        struct http_param q[8];
        int nq = http_parse_query(uri != NULL ? evhttp_uri_get_query(uri) : NULL, q, 8);
        const char *t = nq > 0 ? adapt_param(q, nq, "token") : NULL;
        snprintf(secret, sizeof(secret), "%s", t != NULL ? t : "");
        if (nq > 0) {
            http_params_free(q, nq);
        }
    }
    const struct config_token *hook = config_find_secret(cfg->chatwoot, cfg->n_chatwoot, secret);
    if (hook == NULL) {
        h->stats.bad_hook_token++;
        log_warn("chatwoot: a webhook with %s token refused", secret[0] ? "a wrong" : "no");
        httpreply_error(req, 403, "forbidden",
                        "the hook's token (?token= or X-Touchline-Token) is missing or unknown");
        return;
    }
    if (!httpreply_content_type_is(req, "application/json")) {
        httpreply_error(req, 415, "unsupported_media_type", "Content-Type: send application/json");
        return;
    }
    if (shedding(h, req, draining)) {
        return;
    }
    char msg[RECORD_MSG_MAX];
    struct jsondoc *doc = read_json(req, (size_t)cfg->http_max_body_bytes);
    if (doc == NULL) {
        return;
    }
    bool ignored = false;
    char *rec = adapt_chatwoot(doc, hook->sources, now_us(), &ignored, msg, sizeof(msg));
    jsondoc_free(doc);
    if (ignored) {
        h->stats.ignored++;
        struct jsonw w;
        jsonw_init(&w);
        jsonw_object_begin(&w);
        jsonw_key(&w, "ignored");
        jsonw_bool(&w, true);
        jsonw_key(&w, "reason");
        jsonw_string(&w, msg);
        jsonw_object_end(&w);
        char *text = jsonw_take(&w, NULL);
        static const char plain[] = "{\"ignored\":true}";
        httpreply_json(req, 200, text != NULL ? text : plain,
                       text != NULL ? strlen(text) : strlen(plain));
        free(text);
        return;
    }
    submit_one(h, req, HREQ_CHATWOOT, rec, msg);
}

/* ---------------------------------------------------------------------------------------- */

bool hin_route_public(struct hin *h, struct evhttp_request *req, const char *path, bool draining)
{
    static const char *const calls[][2] = {
        {"/v1/track", "track"},   {"/v1/t", "track"},     {"/v1/identify", "identify"},
        {"/v1/i", "identify"},    {"/v1/page", "page"},   {"/v1/p", "page"},
        {"/v1/screen", "screen"}, {"/v1/group", "group"}, {"/v1/alias", "alias"},
        {"/v1/batch", NULL},      {"/v1/b", NULL},        {"/v1/import", NULL},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        if (strcmp(path, calls[i][0]) == 0) {
            segment(h, req, calls[i][1], draining);
            return true;
        }
    }
    if (strcmp(path, "/v1/hooks/twilio/sms") == 0) {
        twilio(h, req, false, draining);
        return true;
    }
    if (strcmp(path, "/v1/hooks/twilio/status") == 0) {
        twilio(h, req, true, draining);
        return true;
    }
    if (strcmp(path, "/v1/hooks/chatwoot") == 0) {
        chatwoot(h, req, draining);
        return true;
    }
    return false;
}
