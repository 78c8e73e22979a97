#include "daemon.h"

#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "batch.h"
#include "db.h"
#include "deliver.h"
#include "hin.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "replica.h"
#include "retention.h"
#include "spool.h"
#include "store.h"
#include "tls.h"

/* How long a graceful stop may take before the daemon exits anyway. */
#define DRAIN_DEADLINE_S 30

struct daemon {
    struct event_base *base;
    struct config cfg;
    struct db *db;
    struct replica *replica; /* NULL without database.read_dsn */
    struct retention *retention;
    struct batch *batch;
    struct spool *spool; /* NULL when spool.dir is not set */
    struct deliver *deliver;
    struct ingest *ingest;
    struct hin *hin; /* the HTTP ways in for records, served by http */
    struct http *http;
    struct tls *tls;   /* NULL unless a listener serves TLS */
    struct live *live; /* NULL when [live] max_streams is 0 */
    struct event *ev_term;
    struct event *ev_int;
    struct event *ev_hup;
    struct event *drain_deadline;
    struct event *drain_timer;
    struct event *leave_timer; /* SIGTERM's shutdown delay, before the drain */
    /* leaving, draining, schema_ready, migrate_error: what http reads for /readyz and its
     * ingest routes (http_params.status). */
    struct http_status status;
    /* With a spool the daemon starts before the database answers and applies the
     * migrations on its loop (migrate, retried by migrate_timer); the pool connects after. */
    struct migrate *migrate;
    struct event *migrate_timer;
    int migrate_backoff_ms;
    int exit_code;
    time_t started;
};

/* What the batcher takes from the configuration. */
static struct batch_params batch_params_of(const struct config *c)
{
    struct batch_params bp = {.max_records = c->ingest_batch_max_records,
                              .max_delay_ms = c->ingest_batch_max_delay_ms,
                              .max_concurrent = c->database_pool_size,
                              .notify = c->live_notify != 0};
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        bp.limits.max[k] = c->identity_max[k];
        bp.limits.priority[k] = c->priority[k];
    }
    return bp;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    batch_flush(d->batch);
    bool idle = ingest_drained(d->ingest) && batch_pending(d->batch) == 0 &&
                deliver_pending(d->deliver) == 0 && http_inflight(d->http) == 0;
    if (idle) {
        if (d->spool != NULL && spool_records(d->spool) > 0) {
            log_info("drained: every acknowledged record is committed or spooled (%zu records "
                     "in %s, replayed at the next start); exiting",
                     spool_records(d->spool), d->cfg.spool_dir);
        } else {
            log_info("drained: every acknowledged record is committed; exiting");
        }
        event_base_loopexit(d->base, NULL);
        return;
    }
    static const struct timeval tick = {0, 50 * 1000};
    evtimer_add(d->drain_timer, &tick);
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_warn("drain deadline of %d s reached with %zu records unanswered (they were not "
             "acknowledged and may be resent); exiting",
             DRAIN_DEADLINE_S, batch_pending(d->batch));
    event_base_loopexit(d->base, NULL);
}

/* Starts the graceful stop (SIGTERM, SIGINT). */
static void daemon_stop(struct daemon *d)
{
    if (d->status.draining) {
        return;
    }
    d->status.leaving = true;
    d->status.draining = true;
    notify_send("STOPPING=1\nSTATUS=draining: answering what is in flight");
    log_info("stopping: no new connections; answering what is in flight (pending=%zu "
             "connections=%zu)",
             batch_pending(d->batch), ingest_connections(d->ingest));
    ingest_drain(d->ingest);
    /* Streams end now, so that their clients reconnect to a daemon that stays. */
    if (d->live != NULL) {
        live_end_streams(d->live);
    }
    deliver_stop(d->deliver);
    batch_flush(d->batch);
    struct timeval now = {0, 0};
    evtimer_add(d->drain_timer, &now);
    d->drain_deadline = evtimer_new(d->base, on_drain_deadline, d);
    if (d->drain_deadline != NULL) {
        struct timeval tv = {DRAIN_DEADLINE_S, 0};
        evtimer_add(d->drain_deadline, &tv);
    }
}

/* Backpressure: every ingest path pauses at max_pending_records and resumes at half. */
static void set_watermarks(struct daemon *d)
{
    size_t high = (size_t)d->cfg.ingest_max_pending_records;
    deliver_set_watermarks(d->deliver, high, high / 2);
}

static void reload(struct daemon *d)
{
    struct config fresh;
    char err[512], fixed[512];
    unsigned apply = 0;
    if (config_load(d->cfg.path, &fresh, err, sizeof(err)) < 0 ||
        config_reload(&d->cfg, &fresh, &apply, fixed, sizeof(fixed), err, sizeof(err)) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        config_free(&fresh);
        return;
    }
    config_free(&fresh);
    if (fixed[0] != '\0') {
        log_warn("reload: %s changed but take effect only on restart; keeping the running "
                 "values",
                 fixed);
    }
    struct config *cur = &d->cfg;
    /* The hooks of what changed; everything else is read where it is used. */
    if (apply & CONFIG_APPLY_LOG) {
        log_set_level(cur->level);
    }
    if (apply & CONFIG_APPLY_DATABASE) {
        db_set_timeouts(d->db, cur->database_connect_timeout_s, cur->database_reconnect_max_s);
        replica_set_max_lag(d->replica, cur->database_read_max_lag_s);
    }
    if (apply & CONFIG_APPLY_BATCH) {
        struct batch_params bp = batch_params_of(cur);
        batch_set_params(d->batch, &bp);
    }
    if (apply & CONFIG_APPLY_RETENTION) {
        retention_set_days(d->retention, cur->retention_keep_days);
    }
    if (apply & CONFIG_APPLY_INGEST) {
        set_watermarks(d);
        ingest_update_reading(d->ingest);
    }
    /* The certificate and key are read again even when their paths did not change: that is
     * how a renewed certificate comes in. Connections keep the one they started with. */
    if (d->tls != NULL) {
        struct tls_params tp = {cur->tls_cert, cur->tls_key, cur->tls_client_ca};
        char terr[512];
        if (tls_reload(d->tls, &tp, terr, sizeof(terr)) < 0) {
            log_error("reload: %s; the listeners keep the certificate they had", terr);
        } else {
            log_info("tls: certificate %s loaded again", cur->tls_cert);
        }
    }
    log_info("configuration reloaded from %s: level=%s batch_max_records=%d "
             "max_inflight_per_connection=%d principals=%zu never_merge=%zu",
             cur->path != NULL ? cur->path : "(environment)", cur->log_level,
             cur->ingest_batch_max_records, cur->ingest_max_inflight_per_connection,
             auth_count(cur->auth), cur->n_never_merge);
    config_warn(cur);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading configuration");
        /* The manager hears of a reload only once it has heard READY=1 (the pool has been up:
         * see on_ready_check) and not while draining; READY=1 follows a failed reload too,
         * since the daemon goes on serving with the configuration it had. */
        bool tell = !d->status.draining && db_connects_total(d->db) > 0;
        if (tell) {
            notify_reloading();
        }
        reload(d);
        if (tell) {
            notify_send("READY=1\nSTATUS=serving");
        }
        return;
    }
    if (d->status.draining) {
        /* A repeated stop signal changes nothing: the drain has its own deadline. */
        log_debug("%s received while draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
    int delay = d->cfg.listen_shutdown_delay_s;
    if (sig == SIGTERM && delay > 0 && !d->status.leaving && d->leave_timer != NULL) {
        /* A balancer polling /readyz sees 503 and stops sending new connections here while
         * this daemon still serves; only then does it stop accepting. A second signal during
         * the delay stops at once. */
        d->status.leaving = true;
        notify_send("STATUS=leaving the load balancer's rotation for %d s", delay);
        log_info("SIGTERM received: /readyz answers 503 for %d s (listen.shutdown_delay_s), "
                 "then stopping",
                 delay);
        struct timeval tv = {delay, 0};
        evtimer_add(d->leave_timer, &tv);
        return;
    }
    log_info("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    daemon_stop(d);
}

static void on_leave_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_stop(arg);
}

/*
 * Tells the service manager READY=1 once the daemon serves: the listeners are up when this
 * first runs (at the end of daemon_init) and the database pool has a connection. The pool
 * tells no one when it connects, so this looks again every 20 ms until it has; one-shot
 * events need no field of their own and are freed with the loop.
 */
static void on_ready_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    if (d->status.draining) {
        return;
    }
    if (!db_available(d->db)) {
        static const struct timeval again = {0, 20 * 1000};
        if (event_base_once(d->base, -1, EV_TIMEOUT, on_ready_check, d, &again) < 0) {
            log_warn("cannot schedule the readiness check; the service manager is not told "
                     "READY=1");
        }
        return;
    }
    notify_send("READY=1\nSTATUS=serving: tcp port %d, http port %d", ingest_port(d->ingest),
                http_port(d->http));
}

static void migrate_begin(struct daemon *d);

static void on_migrate_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    migrate_begin(arg);
}

static void on_migrated(int applied, bool unreachable, const char *err, void *arg)
{
    struct daemon *d = arg;
    /* err lives in the migration: copied before it is freed. */
    snprintf(d->status.migrate_error, sizeof(d->status.migrate_error), "%s",
             applied >= 0 || err == NULL ? "" : err);
    err = d->status.migrate_error;
    migrate_free(d->migrate);
    d->migrate = NULL;
    if (applied >= 0) {
        d->status.schema_ready = true;
        log_info("schema current: applied=%d latest=%s; the database takes records", applied,
                 migrate_latest());
        db_start(d->db);
        if (d->live != NULL) {
            live_start(d->live);
        }
        return;
    }
    if (!unreachable) {
        /* A migration itself failed: no retry will help, and a daemon that never writes is
         * worse than one that says so. What the spool holds stays for the next start. */
        log_error("the migrations failed: %s; stopping (what the spool holds stays there)", err);
        d->exit_code = 1;
        daemon_stop(d);
        return;
    }
    int max_ms = d->cfg.database_reconnect_max_s * 1000;
    d->migrate_backoff_ms = d->migrate_backoff_ms < 100 ? 100 : d->migrate_backoff_ms * 2;
    if (d->migrate_backoff_ms > max_ms) {
        d->migrate_backoff_ms = max_ms;
    }
    log_warn("database not ready for the migrations (%s); records go to the spool; trying again "
             "in %d ms",
             err, d->migrate_backoff_ms);
    struct timeval tv = {d->migrate_backoff_ms / 1000, (d->migrate_backoff_ms % 1000) * 1000};
    evtimer_add(d->migrate_timer, &tv);
}

static void migrate_begin(struct daemon *d)
{
    if (d->status.draining) {
        return;
    }
    d->migrate = migrate_start(d->base, d->cfg.database_dsn, d->cfg.database_connect_timeout_s,
                               on_migrated, d);
    if (d->migrate == NULL) {
        log_error("cannot start the migrations: out of memory");
        d->exit_code = 1;
        daemon_stop(d);
    }
}

static int daemon_init(struct daemon *d, struct config *cfg)
{
    d->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    d->started = time(NULL);
    log_set_level(d->cfg.level);

    char masked[1024];
    config_mask_dsn(d->cfg.database_dsn, masked, sizeof(masked));
    char err[1024];
    /* Without a spool there is nowhere to put records until the database answers: refuse
     * to start (the service manager restarts us). With one, start at once and migrate on
     * the loop (migrate_begin, at the end). */
    bool wait_for_db = d->cfg.spool_dir[0] != '\0';
    if (!wait_for_db) {
        int applied =
            migrate_run(d->cfg.database_dsn, d->cfg.database_connect_timeout_s, err, sizeof(err));
        if (applied < 0) {
            log_error("database %s: %s", masked, err);
            return -1;
        }
        log_info("schema current: applied=%d latest=%s", applied, migrate_latest());
        d->status.schema_ready = true;
    }

    d->base = event_base_new();
    if (d->base == NULL) {
        log_error("cannot create the event loop");
        return -1;
    }
    struct db_params dp = {
        .dsn = d->cfg.database_dsn,
        .pool_size = d->cfg.database_pool_size,
        .connect_timeout_s = d->cfg.database_connect_timeout_s,
        .reconnect_max_s = d->cfg.database_reconnect_max_s,
        .statements = store_statements,
        .n_statements = store_n_statements,
        .deferred = wait_for_db,
    };
    d->db = db_new(d->base, &dp);
    d->retention = d->db != NULL ? retention_new(d->base, d->db, d->cfg.retention_keep_days) : NULL;
    if (d->retention == NULL) {
        log_error("cannot set up the database pool: out of memory");
        return -1;
    }
    if (d->db != NULL && d->cfg.database_read_dsn[0] != '\0') {
        struct replica_params rp = {.db = dp, .max_lag_s = d->cfg.database_read_max_lag_s};
        rp.db.dsn = d->cfg.database_read_dsn;
        d->replica = replica_new(d->base, &rp);
        if (d->replica == NULL) {
            log_error("cannot set up the read replica's pool: out of memory");
            return -1;
        }
    }
    struct batch_params bp = batch_params_of(&d->cfg);
    d->batch = d->db != NULL ? batch_new(d->base, d->db, &bp) : NULL;
    if (d->batch == NULL) {
        log_error("cannot set up the database pool: out of memory");
        return -1;
    }
    if (d->cfg.spool_dir[0] != '\0') {
        struct spool_params sp = {
            .dir = d->cfg.spool_dir,
            .max_bytes = (uint64_t)d->cfg.spool_max_mb << 20,
            .segment_bytes = SPOOL_SEGMENT_BYTES,
        };
        d->spool = spool_open(d->base, &sp, err, sizeof(err));
        if (d->spool == NULL) {
            log_error("%s", err);
            return -1;
        }
    }
    struct deliver_params dlp = {
        .base = d->base, .batch = d->batch, .db = d->db, .spool = d->spool, .cfg = &d->cfg};
    d->deliver = deliver_new(&dlp);
    if (d->deliver == NULL) {
        log_error("out of memory");
        return -1;
    }
    if (d->cfg.tls_tcp || d->cfg.tls_http) {
        struct tls_params tp = {d->cfg.tls_cert, d->cfg.tls_key, d->cfg.tls_client_ca};
        d->tls = tls_new(&tp, err, sizeof(err));
        if (d->tls == NULL) {
            log_error("%s", err);
            return -1;
        }
    }
    set_watermarks(d);
    struct ingest_params ip = {
        .base = d->base, .cfg = &d->cfg, .deliver = d->deliver, .tls = d->tls};
    d->ingest = ingest_new(&ip);
    if (d->ingest == NULL) {
        return -1;
    }
    if (d->cfg.live_max_streams > 0) {
        struct live_params lp = {
            .dsn = d->cfg.database_dsn,
            .connect_timeout_s = d->cfg.database_connect_timeout_s,
            .reconnect_max_s = d->cfg.database_reconnect_max_s,
            .max_streams = d->cfg.live_max_streams,
            .max_buffer_bytes = (size_t)d->cfg.live_max_buffer_kb << 10,
            .heartbeat_s = d->cfg.live_heartbeat_s,
            .write_timeout_s = d->cfg.http_timeout_s,
            .deferred = wait_for_db,
        };
        d->live = live_new(d->base, &lp);
        if (d->live == NULL) {
            return -1;
        }
    }
    struct hin_deps hd = {
        .deliver = d->deliver,
        .cfg = &d->cfg,
        .stats = ingest_shared_stats(d->ingest),
    };
    d->hin = hin_new(&hd);
    if (d->hin == NULL) {
        log_error("out of memory");
        return -1;
    }
    struct http_params hp = {
        .base = d->base,
        .cfg = &d->cfg,
        .db = d->db,
        .replica = d->replica,
        .retention = d->retention,
        .batch = d->batch,
        .deliver = d->deliver,
        .spool = d->spool,
        .ingest = d->ingest,
        .hin = d->hin,
        .tls = d->tls,
        .live = d->live,
        .started = d->started,
        .status = &d->status,
    };
    d->http = http_new(&hp);
    if (d->http == NULL) {
        return -1;
    }
    d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
    d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
    d->drain_timer = evtimer_new(d->base, on_drain_tick, d);
    d->leave_timer = evtimer_new(d->base, on_leave_timer, d);
    d->migrate_timer = evtimer_new(d->base, on_migrate_retry, d);
    if (d->ev_term == NULL || d->ev_int == NULL || d->ev_hup == NULL || d->drain_timer == NULL ||
        d->leave_timer == NULL || d->migrate_timer == NULL || evsignal_add(d->ev_term, NULL) < 0 ||
        evsignal_add(d->ev_int, NULL) < 0 || evsignal_add(d->ev_hup, NULL) < 0) {
        log_error("cannot install signal handlers");
        return -1;
    }
    log_info("touchlined %s started: tcp=%s (port %d) http=%s (port %d) database=%s config=%s "
             "pool=%d batch=%d/%dms tls=%s",
             TOUCHLINE_VERSION, d->cfg.listen_tcp, ingest_port(d->ingest), d->cfg.listen_http,
             http_port(d->http), masked, d->cfg.path != NULL ? d->cfg.path : "(none)",
             d->cfg.database_pool_size, d->cfg.ingest_batch_max_records,
             d->cfg.ingest_batch_max_delay_ms,
             d->cfg.tls_tcp && d->cfg.tls_http ? "tcp,http"
             : d->cfg.tls_tcp                  ? "tcp"
             : d->cfg.tls_http                 ? "http"
                                               : "none");
    config_warn(&d->cfg);
    if (wait_for_db) {
        log_info("applying the migrations once the database answers; records go to the spool "
                 "until then");
        migrate_begin(d);
    }
    if (notify_enabled()) {
        /* The ports are known now; READY=1 waits for the database, which may take a while
         * (with a spool the daemon serves before it answers), and says them again. */
        if (!db_available(d->db)) {
            notify_send("STATUS=starting: tcp port %d, http port %d; waiting for the database",
                        ingest_port(d->ingest), http_port(d->http));
        }
        on_ready_check(-1, 0, d);
    }
    return 0;
}

int daemon_run(struct daemon *d)
{
    if (event_base_dispatch(d->base) < 0) {
        log_error("event loop failed");
        return 1;
    }
    return d->exit_code;
}

struct daemon *daemon_new(struct config *cfg)
{
    struct daemon *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        log_error("out of memory");
        config_free(cfg);
        return NULL;
    }
    if (daemon_init(d, cfg) < 0) {
        daemon_free(d);
        return NULL;
    }
    return d;
}

void daemon_free(struct daemon *d)
{
    if (d == NULL) {
        return;
    }
    /* Database first: jobs still running are answered while connections and HTTP requests
     * they answer still exist. */
    if (d->deliver != NULL) {
        deliver_stop(d->deliver);
    }
    migrate_free(d->migrate);
    d->migrate = NULL;
    retention_free(d->retention);
    d->retention = NULL;
    replica_free(d->replica);
    d->replica = NULL;
    db_free(d->db);
    d->db = NULL;
    /* Then what is queued: records that the database did not take go to the spool, which
     * writes them and answers before the connections go. */
    batch_free(d->batch);
    spool_close(d->spool);
    deliver_free(d->deliver);
    ingest_free(d->ingest);
    /* Streams before the HTTP server, whose connections they write to. */
    live_free(d->live);
    d->live = NULL;
    http_free(d->http);
    tls_free(d->tls);
    hin_free(d->hin);
    struct event *evs[] = {d->ev_term,     d->ev_int,      d->ev_hup,       d->drain_deadline,
                           d->drain_timer, d->leave_timer, d->migrate_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (evs[i] != NULL) {
            event_free(evs[i]);
        }
    }
    if (d->base != NULL) {
        event_base_free(d->base);
    }
    config_free(&d->cfg);
    free(d);
}
