#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "jsonw.h"
#include "log.h"
#include "spool.h"

/* Spooled records handed to the batcher at once during replay. */
#define REPLAY_WINDOW 2000
/* How often to look whether replay can start (or go on after a failure). */
#define REPLAY_TICK_MS 100

static const struct timeval replay_tick = {0, REPLAY_TICK_MS * 1000};

/* An ingest path's pause and resume callbacks (Fluent Bit's cb_pause / cb_resume). */
struct flow {
    deliver_flow_cb pause;
    deliver_flow_cb resume;
    void *arg;
};

struct deliver {
    struct deliver_params p;
    struct event *tick;
    /* Backpressure: above high records pending every path is paused, at low resumed. */
    size_t high, low;
    bool paused;
    struct flow *flows;
    size_t n_flows;
    bool spooling;
    bool stopping;
    bool rewind_wanted; /* replay failed half way: start again once nothing is in flight */
    bool full_logged;   /* "spool full" said once per episode */
    bool in_pump;       /* a replay answered at once must not start pump() again */
    unsigned rewinds;   /* in a row, for the backoff */
    struct timeval resume_at;
    size_t replay_inflight;
    size_t appends_inflight;
    unsigned long ticks;
    size_t direct_inflight;
    struct deliver_stats stats;
};

/* A record on its way: straight to the database, or to the spool. */
struct sub {
    struct deliver *dl;
    deliver_cb cb;
    void *arg;
    char id[RECORD_UUID_LEN + 1];
};

/* A spooled record being replayed. */
struct replay {
    struct deliver *dl;
    uint64_t token;
};

static void pump(struct deliver *dl);

/* Pauses or resumes every ingest path as the backlog crosses a watermark. Called after every
 * change of deliver_pending(). */
static void check_backlog(struct deliver *dl)
{
    size_t pending = deliver_pending(dl);
    bool was = dl->paused;
    if (!dl->paused && pending >= dl->high) {
        dl->paused = true;
        log_info("%zu records wait for the database; reading paused", pending);
    } else if (dl->paused && pending <= dl->low) {
        dl->paused = false;
        log_info("backlog down to %zu records; reading resumed", pending);
    }
    if (was == dl->paused) {
        return;
    }
    for (size_t i = 0; i < dl->n_flows; i++) {
        const struct flow *f = &dl->flows[i];
        (dl->paused ? f->pause : f->resume)(f->arg);
    }
}

static void answer(struct sub *s, enum batch_outcome outcome, bool spooled, const char *message)
{
    struct deliver_result res = {.outcome = outcome, .spooled = spooled, .message = message};
    snprintf(res.id, sizeof(res.id), "%s", s->id);
    s->cb(&res, s->arg);
    free(s);
}

static void on_spooled(int status, void *arg)
{
    struct sub *s = arg;
    struct deliver *dl = s->dl;
    dl->appends_inflight--;
    if (status == 0) {
        dl->stats.spooled++;
        answer(s, BATCH_STORED, true, NULL);
    } else {
        dl->stats.spool_refused++;
        answer(s, BATCH_UNAVAILABLE, false,
               "the database is unavailable and the spool cannot be written; the record was "
               "not stored, resend it later");
    }
    check_backlog(dl);
}

/* Appends rec to the spool and answers s once that is durable. Takes s. */
static void to_spool(struct deliver *dl, struct record *rec, struct sub *s)
{
    struct spool *sp = dl->p.spool;
    if (!evtimer_pending(dl->tick, NULL)) {
        log_warn("spool: the database does not take records; spooling them to %s until it "
                 "does",
                 dl->p.cfg->spool_dir);
        evtimer_add(dl->tick, &replay_tick);
    }
    dl->spooling = true;
    size_t len = 0;
    char *line = record_to_line(rec, &len);
    int rc = line != NULL ? spool_append(sp, line, len, on_spooled, s) : -ENOMEM;
    free(line);
    if (rc < 0) {
        dl->stats.spool_refused++;
        if (rc == -ENOSPC && !dl->full_logged) {
            dl->full_logged = true;
            log_warn("spool: full (%llu of %llu bytes); answering unavailable until replay "
                     "makes room",
                     (unsigned long long)spool_bytes(sp), (unsigned long long)spool_max_bytes(sp));
        }
        answer(s, BATCH_UNAVAILABLE, false,
               rc == -ENOSPC ? "the database is unavailable and the spool is full; the "
                               "record was not stored, resend it later"
                             : "out of memory");
        return;
    }
    dl->full_logged = false;
    dl->appends_inflight++;
}

static void on_stored(const struct batch_result *res, void *arg)
{
    struct sub *s = arg;
    struct deliver *dl = s->dl;
    dl->direct_inflight--;
    if (res->outcome == BATCH_UNAVAILABLE && dl->p.spool != NULL && res->rec != NULL) {
        /* Not acknowledged by the database, and perhaps not stored: the spool takes it, and
         * replay finds it stored already if its batch did commit. */
        to_spool(dl, res->rec, s);
        return;
    }
    struct deliver_result out = {.outcome = res->outcome,
                                 .duplicate = res->duplicate,
                                 .erased = res->erased,
                                 .updated = res->updated,
                                 .message = res->message};
    memcpy(out.id, res->id, sizeof(out.id));
    memcpy(out.customer_id, res->customer_id, sizeof(out.customer_id));
    s->cb(&out, s->arg);
    free(s);
    check_backlog(dl);
}

int deliver_submit(struct deliver *dl, struct record *rec, deliver_cb cb, void *arg)
{
    struct sub *s = malloc(sizeof(*s));
    if (s == NULL) {
        record_free(rec);
        return -1;
    }
    s->dl = dl;
    s->cb = cb;
    s->arg = arg;
    memcpy(s->id, rec->id, sizeof(s->id));
    if (dl->p.spool != NULL && (dl->spooling || !db_available(dl->p.db))) {
        if (!dl->spooling) {
            /* Records still queued for the database are older than this one: they go to the
             * spool first. */
            dl->spooling = true;
            batch_fail_queued(dl->p.batch, "the database is unavailable");
        }
        to_spool(dl, rec, s);
        record_free(rec);
        check_backlog(dl);
        return 0;
    }
    dl->direct_inflight++;
    if (batch_submit(dl->p.batch, rec, on_stored, s) < 0) {
        dl->direct_inflight--;
        free(s);
        return -1;
    }
    check_backlog(dl);
    return 0;
}

/* Keeps a replayed record the database refused, with why: it was acknowledged. */
static void dead_letter(struct deliver *dl, const char *line, size_t len, const char *why)
{
    dl->stats.replay_rejected++;
    char path[4096];
    snprintf(path, sizeof(path), "%s/rejected.ndjson", dl->p.cfg->spool_dir);
    log_error("spool: a spooled record was refused on replay (%s); kept in %s", why, path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("spool: cannot open %s: %s; the record is lost: %.*s", path, strerror(errno),
                  (int)(len < 2000 ? len : 2000), line);
        return;
    }
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "reason");
    jsonw_string(&w, why);
    jsonw_object_end(&w);
    jsonw_append(&w, "\t", 1);
    size_t n = 0;
    char *head = jsonw_take(&w, &n);
    if (head == NULL || write(fd, head, n) != (ssize_t)n || write(fd, line, len) != (ssize_t)len ||
        write(fd, "\n", 1) != 1 || fdatasync(fd) < 0) {
        log_error("spool: cannot write %s: %s; the record is lost: %.*s", path, strerror(errno),
                  (int)(len < 2000 ? len : 2000), line);
    }
    free(head);
    close(fd);
}

/* Back to writing straight to the database once the spool is replayed in full. */
static void check_replayed(struct deliver *dl)
{
    struct spool *sp = dl->p.spool;
    if (dl->spooling && dl->replay_inflight == 0 && dl->appends_inflight == 0 && spool_empty(sp)) {
        dl->spooling = false;
        evtimer_del(dl->tick);
        log_info("spool: replayed in full (%lu records so far); records go straight to the "
                 "database again",
                 dl->stats.replayed);
    }
}

static void on_replayed(const struct batch_result *res, void *arg)
{
    struct replay *r = arg;
    struct deliver *dl = r->dl;
    struct spool *sp = dl->p.spool;
    dl->replay_inflight--;
    switch (res->outcome) {
    case BATCH_STORED:
        dl->stats.replayed++;
        dl->rewinds = 0;
        spool_done(sp, r->token);
        break;
    case BATCH_INVALID: {
        size_t len = 0;
        char *line = res->rec != NULL ? record_to_line(res->rec, &len) : NULL;
        dead_letter(dl, line != NULL ? line : res->id, line != NULL ? len : strlen(res->id),
                    res->message != NULL ? res->message : "refused");
        free(line);
        spool_done(sp, r->token);
        break;
    }
    case BATCH_UNAVAILABLE:
        dl->rewind_wanted = true;
        break;
    }
    free(r);
    if (!dl->in_pump) {
        pump(dl);
    }
    check_backlog(dl);
}

/* Hands spooled records to the batcher while the database takes them. */
static void pump_records(struct deliver *dl);

static void pump(struct deliver *dl)
{
    dl->in_pump = true;
    pump_records(dl);
    dl->in_pump = false;
}

static void pump_records(struct deliver *dl)
{
    struct spool *sp = dl->p.spool;
    if (!dl->spooling || dl->stopping) {
        return;
    }
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    if (dl->rewind_wanted) {
        if (dl->replay_inflight > 0) {
            return; /* the last answer of the interrupted replay comes back here */
        }
        /* Records after the failed one may have committed in other lanes: start again from
         * the oldest record not done; the ones stored meanwhile answer duplicate. Each
         * failure in a row doubles the wait (up to 25 s), so that a database that keeps
         * failing, or a record it keeps failing on, costs a retry now and then rather than a
         * busy loop. */
        unsigned wait_ms = REPLAY_TICK_MS << (dl->rewinds < 8 ? dl->rewinds : 8);
        dl->rewinds++;
        log_warn("spool: replay interrupted (the database failed again); resuming from the "
                 "oldest record not yet stored in %u ms",
                 wait_ms);
        spool_rewind(sp);
        dl->rewind_wanted = false;
        struct timeval wait = {wait_ms / 1000, (wait_ms % 1000) * 1000};
        evutil_timeradd(&now, &wait, &dl->resume_at);
        return;
    }
    if (evutil_timercmp(&now, &dl->resume_at, <)) {
        return;
    }
    while (dl->replay_inflight < REPLAY_WINDOW && !dl->rewind_wanted && db_available(dl->p.db)) {
        char *data = NULL;
        size_t len = 0;
        uint64_t token = 0;
        int rc = spool_next(sp, &data, &len, &token);
        if (rc <= 0) {
            break; /* nothing more now, or a read error already logged: the tick retries */
        }
        struct record *rec = NULL;
        char msg[RECORD_MSG_MAX];
        if (record_parse(data, len, &dl->p.cfg->record_opts, &rec, msg, sizeof(msg)) != RECORD_OK) {
            /* Valid when spooled; the configuration (never_merge, trunk prefix) changed. */
            dead_letter(dl, data, len, msg);
            free(data);
            spool_done(sp, token);
            continue;
        }
        free(data);
        struct replay *r = malloc(sizeof(*r));
        if (r == NULL) {
            record_free(rec);
            dl->rewind_wanted = true;
            return;
        }
        r->dl = dl;
        r->token = token;
        dl->replay_inflight++;
        if (batch_submit(dl->p.batch, rec, on_replayed, r) < 0) {
            dl->replay_inflight--;
            free(r);
            dl->rewind_wanted = true;
            return;
        }
    }
    check_replayed(dl);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *dl = arg;
    (void)fd;
    (void)what;
    pump(dl);
    /* Say how much waits, every 10 s while it lasts. */
    if (dl->spooling && ++dl->ticks % (10000 / REPLAY_TICK_MS) == 0) {
        struct spool *sp = dl->p.spool;
        log_info("spool: %zu records (%llu bytes) waiting for the database; %lu replayed so far",
                 spool_records(sp), (unsigned long long)spool_bytes(sp), dl->stats.replayed);
    }
    if (dl->spooling && !dl->stopping) {
        evtimer_add(dl->tick, &replay_tick);
    }
}

struct deliver *deliver_new(const struct deliver_params *p)
{
    struct deliver *dl = calloc(1, sizeof(*dl));
    if (dl == NULL) {
        return NULL;
    }
    dl->p = *p;
    dl->high = SIZE_MAX;
    dl->low = SIZE_MAX;
    dl->tick = evtimer_new(p->base, on_tick, dl);
    if (dl->tick == NULL) {
        free(dl);
        return NULL;
    }
    if (p->spool != NULL && !spool_empty(p->spool)) {
        /* What a previous run left goes first. */
        dl->spooling = true;
        evtimer_add(dl->tick, &replay_tick);
    }
    return dl;
}

void deliver_free(struct deliver *dl)
{
    if (dl == NULL) {
        return;
    }
    event_free(dl->tick);
    free(dl->flows);
    free(dl);
}

int deliver_add_flow(struct deliver *dl, deliver_flow_cb pause, deliver_flow_cb resume, void *arg)
{
    struct flow *grown = realloc(dl->flows, (dl->n_flows + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    dl->flows = grown;
    dl->flows[dl->n_flows++] = (struct flow){pause, resume, arg};
    if (dl->paused) {
        pause(arg);
    }
    return 0;
}

void deliver_set_watermarks(struct deliver *dl, size_t high, size_t low)
{
    dl->high = high;
    dl->low = low < high ? low : high;
    check_backlog(dl);
}

size_t deliver_pending(const struct deliver *dl)
{
    return dl->direct_inflight + dl->appends_inflight + dl->replay_inflight;
}

bool deliver_spooling(const struct deliver *dl)
{
    return dl->spooling;
}

void deliver_stop(struct deliver *dl)
{
    dl->stopping = true;
    evtimer_del(dl->tick);
}

void deliver_write_answer(const struct deliver_result *res, struct jsonw *w)
{
    jsonw_object_begin(w);
    jsonw_key(w, "ok");
    jsonw_bool(w, true);
    jsonw_key(w, "id");
    jsonw_string(w, res->id);
    if (res->erased) {
        /* A record of an erased person: acknowledged, so that it is not resent, not stored. */
        jsonw_key(w, "erased");
        jsonw_bool(w, true);
    } else if (res->spooled) {
        jsonw_key(w, "spooled");
        jsonw_bool(w, true);
    } else {
        jsonw_key(w, "customer_id");
        jsonw_string(w, res->customer_id);
        jsonw_key(w, "duplicate");
        jsonw_bool(w, res->duplicate);
        if (res->updated) {
            jsonw_key(w, "updated");
            jsonw_bool(w, true);
        }
    }
    jsonw_object_end(w);
}

const struct deliver_stats *deliver_get_stats(const struct deliver *dl)
{
    return &dl->stats;
}
