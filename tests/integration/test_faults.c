/*
 * Faults (issue "Never lose an acknowledged record"; CONTRACT §3, daemon/spool.c and
 * daemon/deliver.c). A load driver inside the test sends records over 16 connections and
 * resends every record that was not acknowledged, the way an adapter does, while the daemon
 * is killed with SIGKILL (under load, and while it spools and replays), while PostgreSQL is
 * stopped for seconds or restarted in the middle of batches and of a replay (with and
 * without the spool), and a spool left with a corrupt tail is replayed. Each case ends by
 * counting in PostgreSQL and prints one line starting "faults <case>: acked=… stored=…
 * lost=… duplicated=…". Every record carries a unique (source, external_id), so "exactly once" can
 * be checked; each also carries a body derived from it, so a record mangled on its way through the
 * spool shows too.
 *
 * The cases that stop PostgreSQL run their own private cluster (scripts/pg, next to the
 * shared test cluster in the build directory, kept between runs so that initdb runs once),
 * never the shared one that other tests use at the same time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "record.h"
#include "testmain.h"

/* Connections of the load driver, and unanswered lines each keeps in flight. */
#define WORKERS 16
#define WINDOW  100
/* A line left unanswered this long on a live connection is a hang: the worker reports it
 * and reconnects, so that the test ends with a message instead of a timeout. */
#define STALL_MS 20000
/* "The daemon never stopped answering": the longest a line may wait for its answer. */
#define GAP_BOUND_MS 5000
/* How long an adapter waits before resending a record answered "unavailable". */
#define UNAVAILABLE_BACKOFF_MS 100
/* How long the load may take before the case gives up (each case must stay under 2 min). */
#define LOAD_DEADLINE_MS 90000
/* How long the daemon may take to replay its spool once PostgreSQL is back. */
#define DRAIN_DEADLINE_MS 60000

/* ---------------------------------------------------------------------------------------- */
/* Small helpers */

/* A seed for the random moments, printed so that a failing run can be tried again with the
 * same choices (TOUCHLINE_FAULTS_SEED); the timing of the machine still varies. */
static unsigned pick_seed(const char *name)
{
    const char *env = getenv("TOUCHLINE_FAULTS_SEED");
    unsigned seed = env != NULL ? (unsigned)strtoul(env, NULL, 10)
                                : (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
    printf("faults %s: seed %u (set TOUCHLINE_FAULTS_SEED to repeat)\n", name, seed);
    fflush(stdout);
    return seed;
}

/* A uniformly random integer in [lo, hi]. */
static long pick(unsigned *seed, long lo, long hi)
{
    return lo + (long)(rand_r(seed) % (unsigned)(hi - lo + 1));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* The last lines of the daemon's log, for failure messages (malloc'd). */
static char *log_tail(const struct harness_daemon *d)
{
    size_t len = 0;
    char *log = testmain_read_file(d->log_path, &len);
    if (log == NULL) {
        char *none = strdup("(no log)");
        assert_non_null(none);
        return none;
    }
    if (len > 4000) {
        memmove(log, log + len - 4000, 4001);
    }
    return log;
}

/* A fresh spool directory under $TMPDIR. */
static void make_spool_dir(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/touchline-faults-%s-XXXXXX", harness_tmp_dir(), name);
    if (mkdtemp(out) == NULL) {
        fail_msg("mkdtemp %s: %s", out, strerror(errno));
    }
}

/* Files in dir (other than . and ..), and the name of the greatest *.seg in last_seg. */
static int dir_files(const char *dir, char *last_seg, size_t seglen, char *names, size_t nameslen)
{
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    int n = 0;
    if (last_seg != NULL) {
        last_seg[0] = '\0';
    }
    if (names != NULL) {
        names[0] = '\0';
    }
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        n++;
        size_t l = strlen(e->d_name);
        if (last_seg != NULL && l > 4 && strcmp(e->d_name + l - 4, ".seg") == 0 &&
            strcmp(e->d_name, last_seg) > 0) {
            snprintf(last_seg, seglen, "%s", e->d_name);
        }
        if (names != NULL) {
            size_t used = strlen(names);
            snprintf(names + used, nameslen - used, "%s ", e->d_name);
        }
    }
    closedir(dh);
    return n;
}

static void remove_spool_dir(const char *dir)
{
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(dh);
    rmdir(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* A private PostgreSQL cluster, for the cases that stop it */

/*
 * The private cluster to stop at exit: a failed assertion jumps out of the case before its
 * own stop, and a cluster left running would hold memory and a port for good. atexit takes
 * no argument, hence the one static.
 */
static char running_cluster[600];

static void stop_running_cluster(void)
{
    if (running_cluster[0] != '\0') {
        const char *src = getenv("TOUCHLINE_SOURCE_DIR");
        char cmd[1400];
        snprintf(cmd, sizeof(cmd), "'%s/scripts/pg' stop '%s' >/dev/null 2>&1",
                 src != NULL ? src : ".", running_cluster);
        if (system(cmd) != 0) {
            fprintf(stderr, "faults: could not stop the private cluster in %s\n", running_cluster);
        }
        running_cluster[0] = '\0';
    }
}

struct cluster {
    char dir[600];
    int port;
};

/* Runs scripts/pg cmd on the cluster; returns the port its DSN names (start), or 0. */
static int pg_script(const struct cluster *c, const char *cmd)
{
    const char *src = getenv("TOUCHLINE_SOURCE_DIR");
    if (src == NULL) {
        fail_msg("TOUCHLINE_SOURCE_DIR is not set: run through ctest");
    }
    char line[1600];
    /* A small shared_buffers: this cluster only holds a few thousand rows, and runs next to
     * the shared test cluster and perhaps another private one. */
    snprintf(line, sizeof(line), "TOUCHLINE_PG_SHARED_BUFFERS=32MB '%s/scripts/pg' %s '%s' 2>&1",
             src, cmd, c->dir);
    char *out = NULL;
    int st = harness_run(line, &out);
    if (st != 0) {
        fail_msg("scripts/pg %s %s failed (%d):\n%s", cmd, c->dir, st, out != NULL ? out : "");
    }
    int port = 0;
    const char *p = out != NULL ? strstr(out, "host=127.0.0.1 port=") : NULL;
    if (p != NULL) {
        port = atoi(p + strlen("host=127.0.0.1 port="));
    }
    free(out);
    return port;
}

/* Starts (creating it the first time) the private cluster of this case. */
static void cluster_start(struct cluster *c, const char *name)
{
    if (c->dir[0] == '\0') {
        const char *shared = getenv("TOUCHLINE_TEST_PGDIR");
        if (shared == NULL) {
            fail_msg("TOUCHLINE_TEST_PGDIR is not set: run through ctest");
        }
        snprintf(c->dir, sizeof(c->dir), "%s-faults-%s", shared, name);
    }
    snprintf(running_cluster, sizeof(running_cluster), "%s", c->dir);
    static bool registered;
    if (!registered) {
        atexit(stop_running_cluster);
        registered = true;
    }
    int port = pg_script(c, "start");
    assert_true(port > 0);
    if (c->port != 0 && port != c->port) {
        /* The daemon keeps the DSN it started with and would never find the server again. */
        fail_msg("the private cluster came back on port %d instead of %d (the port was taken "
                 "meanwhile); run the case again",
                 port, c->port);
    }
    c->port = port;
}

static void cluster_stop(struct cluster *c)
{
    pg_script(c, "stop");
}

static void cluster_done(struct cluster *c)
{
    pg_script(c, "stop");
    running_cluster[0] = '\0';
}

static void cluster_dsn(const struct cluster *c, const char *dbname, char *out, size_t outlen)
{
    snprintf(out, outlen, "host=127.0.0.1 port=%d user=touchline dbname=%s", c->port, dbname);
}

static PGconn *pg_connect(const char *dsn)
{
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail_msg("connect %s: %s", dsn, PQerrorMessage(pg));
    }
    return pg;
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void pg_exec(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
}

/*
 * A daemon on a fresh database of the private cluster: d is filled in as harness_start
 * would, then started with harness_restart (which keeps dsn and dbname).
 */
static void start_on_cluster(struct harness_daemon *d, const struct cluster *c, const char *name,
                             const char *const *env)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dbname, sizeof(d->dbname), "f_%.40s_%d", name, (int)getpid());
    char dsn[256];
    cluster_dsn(c, "postgres", dsn, sizeof(dsn));
    PGconn *pg = pg_connect(dsn);
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    /* The databases of earlier runs go: crash recovery fsyncs every file of the cluster, and
     * takes seconds more with every database left behind. */
    PGresult *r = PQexec(pg, "SELECT datname FROM pg_database WHERE datname LIKE 'f\\_%'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("listing databases: %s", PQresultErrorMessage(r));
    }
    char sql[256];
    for (int i = 0; i < PQntuples(r); i++) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
                 PQgetvalue(r, i, 0));
        pg_exec(pg, sql);
    }
    PQclear(r);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d->dbname);
    pg_exec(pg, sql);
    PQfinish(pg);
    cluster_dsn(c, d->dbname, d->dsn, sizeof(d->dsn));
    snprintf(d->log_path, sizeof(d->log_path), "%s/touchlined-%s.log", harness_tmp_dir(),
             d->dbname);
    harness_restart(d, env);
}

/* ---------------------------------------------------------------------------------------- */
/* The load driver */

struct load;

struct worker {
    struct load *load;
    pthread_t thread;
    int index;
    /* Read by the main thread while the load runs. */
    atomic_size_t acked; /* records of this worker acknowledged at least once */
    atomic_bool finished;
    /* The worker's own until it is joined. */
    unsigned long ok, spooled, duplicate, unavailable, other_errors, wrong_id, stalls;
    unsigned long connects, breaks;
    long long max_gap_ms;
    char first_error[400];
};

struct load {
    char source[64];
    size_t n;
    double rate; /* new records per second over all workers; 0: as fast as answered */
    long long started_ms;
    atomic_int port; /* the daemon's TCP port; 0 while it is down */
    atomic_bool abort;
    unsigned char *acks; /* times each record was acknowledged (saturating); by its worker */
    struct worker w[WORKERS];
};

/* Record i: its external id, and the whole line. */
static void record_ext(size_t i, char *out, size_t outlen)
{
    snprintf(out, outlen, "r%zu", i);
}

static int record_line(const struct load *L, size_t i, char *out, size_t outlen)
{
    char ext[32];
    record_ext(i, ext, sizeof(ext));
    time_t t = (time_t)(1767225600 + (long long)i); /* 2026-01-01 + i seconds */
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* 5 000 customers, so that records of different connections share identifiers. */
    return snprintf(out, outlen,
                    "{\"source\":\"%s\",\"external_id\":\"%s\",\"channel\":\"sms\","
                    "\"direction\":\"inbound\",\"occurred_at\":\"%s\","
                    "\"customer\":{\"phone\":\"0912%07zu\"},\"body\":\"%s via faults\"}\n",
                    L->source, ext, ts, i % 5000, ext);
}

/* Keeps the first unexpected thing a worker saw, for the failure message. */
static void note_error(struct worker *w, const char *what, const char *detail)
{
    if (w->first_error[0] == '\0') {
        snprintf(w->first_error, sizeof(w->first_error), "%s%.300s", what, detail);
    }
}

/* The worker's state of one connection and its records. */
struct wstate {
    int fd;
    size_t *retry; /* records to send again */
    size_t n_retry;
    size_t next_fresh; /* the next record never sent: index + WORKERS * next_fresh */
    size_t owned, remaining;
    size_t ring_idx[WINDOW];
    long long ring_t[WINDOW];
    size_t head, count;
    char out[WINDOW * 512];
    size_t out_len, out_off;
    char in[1 << 16];
    size_t in_len;
    long long resume_ms; /* no sending before this (after an "unavailable") */
};

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The connection broke: every unanswered record goes back to be sent again. */
static void drop_connection(struct worker *w, struct wstate *s)
{
    close(s->fd);
    s->fd = -1;
    w->breaks++;
    while (s->count > 0) {
        s->retry[s->n_retry++] = s->ring_idx[s->head];
        s->head = (s->head + 1) % WINDOW;
        s->count--;
    }
    s->out_len = s->out_off = 0;
    s->in_len = 0;
}

/* One answer line, for the oldest unanswered record. */
static void on_answer(struct worker *w, struct wstate *s, const char *line, long long now)
{
    struct load *L = w->load;
    size_t idx = s->ring_idx[s->head];
    long long gap = now - s->ring_t[s->head];
    s->head = (s->head + 1) % WINDOW;
    s->count--;
    if (gap > w->max_gap_ms) {
        w->max_gap_ms = gap;
    }
    if (strncmp(line, "{\"ok\":true", 10) == 0) {
        w->ok++;
        char ext[32], want[RECORD_UUID_LEN + 1];
        record_ext(idx, ext, sizeof(ext));
        record_derive_id(L->source, ext, want);
        const char *id = strstr(line, "\"id\":\"");
        if (id == NULL || strncmp(id + 6, want, RECORD_UUID_LEN) != 0) {
            /* The answer belongs to another line: answers are out of order. */
            w->wrong_id++;
            note_error(w, "an answer with the wrong id: ", line);
        }
        if (strstr(line, "\"spooled\":true") != NULL) {
            w->spooled++;
        }
        if (strstr(line, "\"duplicate\":true") != NULL) {
            w->duplicate++;
        }
        if (L->acks[idx] == 0) {
            s->remaining--;
            atomic_fetch_add(&w->acked, 1);
        }
        if (L->acks[idx] < 255) {
            L->acks[idx]++;
        }
    } else if (strstr(line, "\"error\":\"unavailable\"") != NULL) {
        w->unavailable++;
        s->retry[s->n_retry++] = idx;
        s->resume_ms = now + UNAVAILABLE_BACKOFF_MS;
    } else {
        /* Every record is valid: any other answer is a defect. Not resent (it would be
         * refused again); the case fails on other_errors. */
        w->other_errors++;
        note_error(w, "an unexpected answer: ", line);
        s->remaining--;
    }
}

/* Queues lines while the window and the rate allow. */
static void fill(struct worker *w, struct wstate *s, long long now)
{
    struct load *L = w->load;
    if (now < s->resume_ms) {
        return;
    }
    while (s->count < WINDOW) {
        size_t idx;
        if (s->n_retry > 0) {
            idx = s->retry[--s->n_retry];
        } else {
            idx = (size_t)w->index + WORKERS * s->next_fresh;
            if (idx >= L->n) {
                return;
            }
            if (L->rate > 0) {
                double allowed = L->rate / WORKERS * (double)(now - L->started_ms) / 1000.0 + 1;
                if ((double)s->next_fresh >= allowed) {
                    return;
                }
            }
            s->next_fresh++;
        }
        if (s->out_off > 0) {
            memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
            s->out_len -= s->out_off;
            s->out_off = 0;
        }
        int n = record_line(L, idx, s->out + s->out_len, sizeof(s->out) - s->out_len);
        if (n <= 0 || (size_t)n >= sizeof(s->out) - s->out_len) {
            /* Cannot happen with WINDOW lines of < 512 bytes; keep the record for later. */
            s->retry[s->n_retry++] = idx;
            return;
        }
        s->out_len += (size_t)n;
        size_t slot = (s->head + s->count) % WINDOW;
        s->ring_idx[slot] = idx;
        s->ring_t[slot] = now;
        s->count++;
    }
}

/* Reads what arrived and handles every complete answer. Returns -1 when the connection
 * broke. */
static int drain_answers(struct worker *w, struct wstate *s)
{
    for (;;) {
        ssize_t r = recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);
        if (r == 0) {
            return -1;
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        s->in_len += (size_t)r;
        long long now = harness_now_ms();
        char *start = s->in, *nl;
        while ((nl = memchr(start, '\n', s->in_len - (size_t)(start - s->in))) != NULL) {
            *nl = '\0';
            if (s->count == 0) {
                w->other_errors++;
                note_error(w, "an answer to no line: ", start);
            } else {
                on_answer(w, s, start, now);
            }
            start = nl + 1;
        }
        size_t rest = s->in_len - (size_t)(start - s->in);
        memmove(s->in, start, rest);
        s->in_len = rest;
        if (s->in_len == sizeof(s->in)) {
            note_error(w, "an answer line longer than 64 KiB", "");
            return -1;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct load *L = w->load;
    struct wstate *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        note_error(w, "out of memory", "");
        atomic_store(&w->finished, true);
        return NULL;
    }
    s->fd = -1;
    s->owned = L->n > (size_t)w->index ? (L->n - (size_t)w->index + WORKERS - 1) / WORKERS : 0;
    s->remaining = s->owned;
    s->retry = malloc((s->owned + 1) * sizeof(*s->retry));
    if (s->retry == NULL) {
        note_error(w, "out of memory", "");
        goto out;
    }
    while (s->remaining > 0 && !atomic_load(&L->abort)) {
        if (s->fd < 0) {
            int port = atomic_load(&L->port);
            if (port == 0 || (s->fd = try_connect(port)) < 0) {
                sleep_ms(50);
                continue;
            }
            w->connects++;
        }
        long long now = harness_now_ms();
        fill(w, s, now);
        if (s->count > 0 && now - s->ring_t[s->head] > STALL_MS) {
            w->stalls++;
            note_error(w, "a line was not answered for 20 s on a live connection", "");
            drop_connection(w, s);
            continue;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (s->out_off < s->out_len) {
            p.events |= POLLOUT;
        }
        int rc = poll(&p, 1, 20);
        if (rc < 0 && errno != EINTR) {
            drop_connection(w, s);
            continue;
        }
        if (rc <= 0) {
            continue;
        }
        if (p.revents & POLLOUT) {
            ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                drop_connection(w, s);
                continue;
            }
            if (n > 0) {
                s->out_off += (size_t)n;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (drain_answers(w, s) < 0) {
                drop_connection(w, s);
                continue;
            }
        }
    }
out:
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s->retry);
    free(s);
    atomic_store(&w->finished, true);
    return NULL;
}

static struct load *load_new(const char *name, size_t n, double rate)
{
    struct load *L = calloc(1, sizeof(*L));
    assert_non_null(L);
    snprintf(L->source, sizeof(L->source), "faults-%s-%d-%lld", name, (int)getpid(),
             harness_now_ms() % 100000);
    L->n = n;
    L->rate = rate;
    L->acks = calloc(n, 1);
    assert_non_null(L->acks);
    return L;
}

static void load_free(struct load *L)
{
    free(L->acks);
    free(L);
}

static void load_start(struct load *L, int port)
{
    atomic_store(&L->port, port);
    L->started_ms = harness_now_ms();
    for (int i = 0; i < WORKERS; i++) {
        L->w[i].load = L;
        L->w[i].index = i;
        assert_int_equal(pthread_create(&L->w[i].thread, NULL, worker_main, &L->w[i]), 0);
    }
}

static size_t load_acked(struct load *L)
{
    size_t n = 0;
    for (int i = 0; i < WORKERS; i++) {
        n += atomic_load(&L->w[i].acked);
    }
    return n;
}

static bool load_finished(struct load *L)
{
    for (int i = 0; i < WORKERS; i++) {
        if (!atomic_load(&L->w[i].finished)) {
            return false;
        }
    }
    return true;
}

static void load_join(struct load *L)
{
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(L->w[i].thread, NULL);
    }
}

/* True when the daemon exited by itself (it is reaped and forgotten then). */
static bool daemon_died(struct harness_daemon *d, int *status)
{
    if (d->pid > 0 && waitpid(d->pid, status, WNOHANG) == d->pid) {
        harness_track_child(d->pid, false);
        d->pid = 0;
        return true;
    }
    return false;
}

/*
 * Waits until every record is acknowledged (or the deadline, or the daemon dies), then joins
 * the workers. Fails the case on the deadline or a dead daemon, after the join.
 */
static void load_wait(struct load *L, struct harness_daemon *d, long long deadline)
{
    int status = 0;
    bool died = false;
    while (!load_finished(L) && harness_now_ms() < deadline) {
        if (daemon_died(d, &status)) {
            died = true;
            break;
        }
        sleep_ms(20);
    }
    bool late = !load_finished(L);
    atomic_store(&L->abort, true);
    load_join(L);
    if (died) {
        char *log = log_tail(d);
        fail_msg("touchlined died under load (status 0x%x); acked %zu of %zu; log:\n%s", status,
                 load_acked(L), L->n, log);
    }
    if (late) {
        char *log = log_tail(d);
        fail_msg("the load did not finish in time: acked %zu of %zu; log:\n%s", load_acked(L), L->n,
                 log);
    }
}

/* Totals of the workers, once joined. */
struct totals {
    unsigned long ok, spooled, duplicate, unavailable, other_errors, wrong_id, stalls;
    unsigned long connects, breaks;
    long long max_gap_ms;
    size_t acked, acked_twice;
    const char *first_error;
};

static void load_totals(const struct load *L, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    t->first_error = "";
    for (int i = 0; i < WORKERS; i++) {
        const struct worker *w = &L->w[i];
        t->ok += w->ok;
        t->spooled += w->spooled;
        t->duplicate += w->duplicate;
        t->unavailable += w->unavailable;
        t->other_errors += w->other_errors;
        t->wrong_id += w->wrong_id;
        t->stalls += w->stalls;
        t->connects += w->connects;
        t->breaks += w->breaks;
        if (w->max_gap_ms > t->max_gap_ms) {
            t->max_gap_ms = w->max_gap_ms;
        }
        if (t->first_error[0] == '\0' && w->first_error[0] != '\0') {
            t->first_error = w->first_error;
        }
    }
    for (size_t i = 0; i < L->n; i++) {
        t->acked += L->acks[i] > 0;
        t->acked_twice += L->acks[i] > 1;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting for the spool, counting in PostgreSQL */

/* The /readyz document (NULL when the daemon does not answer it). */
static json_t *readyz(const struct harness_daemon *d)
{
    char *body = NULL;
    int st = harness_http(d->http_port, "GET", "/readyz", NULL, NULL, &body);
    json_t *doc = st > 0 && body != NULL ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return doc;
}

/* Waits until the daemon reports its spool empty and the database up: everything spooled is
 * in PostgreSQL. */
static void wait_spool_empty(struct harness_daemon *d)
{
    long long deadline = harness_now_ms() + DRAIN_DEADLINE_MS;
    char last[600] = "";
    while (harness_now_ms() < deadline) {
        json_t *doc = readyz(d);
        json_t *spool = json_object_get(doc, "spool");
        bool done = json_is_true(json_object_get(doc, "database")) && json_is_object(spool) &&
                    json_integer_value(json_object_get(spool, "records")) == 0 &&
                    json_is_false(json_object_get(spool, "spooling"));
        char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        snprintf(last, sizeof(last), "%s", text != NULL ? text : "(no answer)");
        free(text);
        json_decref(doc);
        if (done) {
            return;
        }
        int status;
        if (daemon_died(d, &status)) {
            char *log = log_tail(d);
            fail_msg("touchlined died while replaying its spool (status 0x%x); log:\n%s", status,
                     log);
        }
        sleep_ms(100);
    }
    char *log = log_tail(d);
    fail_msg("the spool was not replayed within %d s; /readyz: %s; log:\n%s",
             DRAIN_DEADLINE_MS / 1000, last, log);
}

struct tally {
    long stored, duplicated, lost, wrong_body, foreign;
};

/* Counts this run's records in PostgreSQL against what the load driver saw acknowledged. */
static void tally(const struct load *L, const char *dsn, struct tally *t)
{
    memset(t, 0, sizeof(*t));
    PGconn *pg = pg_connect(dsn);
    const char *params[1] = {L->source};
    PGresult *r = PQexecParams(pg,
                               "SELECT external_id, body = external_id || ' via faults' "
                               "FROM touchline.interactions WHERE source = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("counting: %s", PQresultErrorMessage(r));
    }
    unsigned char *seen = calloc(L->n, 1);
    assert_non_null(seen);
    t->stored = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *ext = PQgetvalue(r, i, 0);
        char *end = NULL;
        unsigned long long idx = ext[0] == 'r' ? strtoull(ext + 1, &end, 10) : 0;
        if (ext[0] != 'r' || end == NULL || *end != '\0' || idx >= L->n) {
            t->foreign++;
            continue;
        }
        if (seen[idx]) {
            t->duplicated++;
        }
        seen[idx] = 1;
        if (strcmp(PQgetvalue(r, i, 1), "t") != 0) {
            t->wrong_body++;
        }
    }
    for (size_t i = 0; i < L->n; i++) {
        if (L->acks[i] > 0 && !seen[i]) {
            t->lost++;
        }
    }
    free(seen);
    PQclear(r);
    PQfinish(pg);
}

/* Prints the case's line, then asserts: all acked, none lost, none twice, nothing odd. */
static void report_and_check(const char *name, const struct load *L, const struct totals *t,
                             const struct tally *y, long long started_ms, const char *extra)
{
    printf("faults %s: acked=%zu stored=%ld lost=%ld duplicated=%ld acked_twice=%zu "
           "spooled_answers=%lu unavailable_answers=%lu duplicate_answers=%lu reconnects=%lu "
           "max_answer_ms=%lld%s seconds=%.1f\n",
           name, t->acked, y->stored, y->lost, y->duplicated, t->acked_twice, t->spooled,
           t->unavailable, t->duplicate, t->breaks, t->max_gap_ms, extra,
           (double)(harness_now_ms() - started_ms) / 1000.0);
    fflush(stdout);
    if (t->other_errors > 0 || t->wrong_id > 0 || t->stalls > 0) {
        fail_msg("%lu unexpected answers, %lu answers with the wrong id, %lu hangs; first: %s",
                 t->other_errors, t->wrong_id, t->stalls, t->first_error);
    }
    assert_int_equal(t->acked, L->n);
    assert_int_equal(y->lost, 0);
    assert_int_equal(y->duplicated, 0);
    assert_int_equal(y->foreign, 0);
    assert_int_equal(y->wrong_body, 0);
    assert_int_equal(y->stored, (long)t->acked);
}

/* The spool directory holds nothing once everything is replayed (no rejected.ndjson
 * either: a record refused on replay would be an acknowledged record not stored). */
static void assert_spool_dir_empty(const char *dir)
{
    char names[2000];
    int n = dir_files(dir, NULL, 0, names, sizeof(names));
    if (n != 0) {
        fail_msg("the spool directory %s still holds: %s", dir, names);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The cases */

/* kill -9 of the daemon, then (after starting the cluster c, unless NULL: the daemon does
 * not start without its database) a start on the same database and spool; the load's
 * workers reconnect to the new port. */
static void daemon_kill9_restart(struct harness_daemon *d, struct load *L, const char *const *env,
                                 struct cluster *c)
{
    /* Workers must not reconnect to the old port, which another test's daemon may take. */
    atomic_store(&L->port, 0);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    harness_track_child(d->pid, false);
    d->pid = 0;
    if (c != NULL) {
        cluster_start(c, NULL);
    }
    harness_restart(d, env);
    atomic_store(&L->port, d->tcp_port);
}

/*
 * kill -9 of the daemon three times at random moments while 16 connections send 50 000
 * records and resend what was not acknowledged: after the last restart, every acknowledged
 * record is in PostgreSQL exactly once.
 */
static void kill9_under_load_loses_nothing(void **state)
{
    (void)state;
    long long t0 = harness_now_ms();
    unsigned seed = pick_seed("kill9");
    size_t n = 50000; /* the number; fast enough under ASan too */
    char spool[512], spool_env[600];
    make_spool_dir(spool, sizeof(spool), "kill9");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
    /* Reconnecting at least every second (default: up to 10 s) keeps each case short. */
    const char *env[] = {spool_env, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL};
    struct harness_daemon d;
    harness_start(&d, "faults_kill9", env);

    struct load *L = load_new("kill9", n, 0);
    load_start(L, d.tcp_port);
    /* Each kill at a random point of the load (kill k between (10 + 25k)% and (30 + 25k)% of
     * the records acknowledged) plus a random few milliseconds, so that it lands while
     * records are in flight, not after the last one: the load runs at tens of thousands of
     * records a second. */
    int kills = 0;
    size_t acked_at_kill[3] = {0, 0, 0};
    long long deadline = t0 + LOAD_DEADLINE_MS;
    for (int k = 0; k < 3; k++) {
        size_t target = n / 10 + (size_t)pick(&seed, 0, (long)(n / 5)) + (size_t)k * n / 4;
        while (load_acked(L) < target && !load_finished(L) && harness_now_ms() < deadline &&
               kill(d.pid, 0) == 0) {
            sleep_ms(5);
        }
        sleep_ms(pick(&seed, 0, 20));
        if (load_finished(L) || harness_now_ms() >= deadline) {
            break; /* fails on kills != 3 below */
        }
        int status;
        if (daemon_died(&d, &status)) {
            atomic_store(&L->abort, true);
            load_join(L);
            char *log = log_tail(&d);
            fail_msg("touchlined died under load before kill %d (status 0x%x):\n%s", k + 1, status,
                     log);
        }
        acked_at_kill[kills++] = load_acked(L);
        daemon_kill9_restart(&d, L, env, NULL);
    }
    load_wait(L, &d, deadline);
    struct totals t;
    load_totals(L, &t);
    wait_spool_empty(&d);
    int st = harness_stop(&d);

    struct tally y;
    tally(L, d.dsn, &y);
    char extra[128];
    snprintf(extra, sizeof(extra), " kills=%d acked_at_kills=%zu/%zu/%zu", kills, acked_at_kill[0],
             acked_at_kill[1], acked_at_kill[2]);
    report_and_check("kill9", L, &t, &y, t0, extra);
    assert_int_equal(st, 0);
    assert_int_equal(kills, 3);
    for (int k = 0; k < kills; k++) {
        assert_true(acked_at_kill[k] < n); /* each kill happened under load */
    }
    /* Killed connections lost answers: their records were resent. */
    assert_true(t.breaks >= 3);
    assert_spool_dir_empty(spool);
    remove_spool_dir(spool);
    load_free(L);
}

/* What a fault needs: the cluster, the daemon (restarted with env), the load. */
struct fault {
    struct cluster *c;
    struct harness_daemon *d;
    struct load *L;
    const char *const *env;
    unsigned seed;
    char extra[256];
};

struct outage_case {
    const char *name;
    bool spool;
    size_t n;
    double rate;
    /* Makes the fault while the load runs; says what happened in f->extra and returns
     * whether it hit what it was meant to (asserted once the load is joined). */
    bool (*outage)(struct fault *f);
};

/*
 * Drives a load at rate through the faults made by outage() on a private cluster: with the
 * spool the daemon keeps answering "spooled"; without it, "unavailable" and the driver
 * resends. Either way, once PostgreSQL is back every acknowledged record is stored once and
 * no line waited long for its answer.
 */
static void run_outage_case(const struct outage_case *oc)
{
    long long t0 = harness_now_ms();
    unsigned seed = pick_seed(oc->name);
    struct cluster c = {0};
    cluster_start(&c, oc->name);
    char spool[512] = "", spool_env[600] = "";
    /* Reconnecting at least every second (default: up to 10 s) keeps each case short. */
    const char *env[4] = {"TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL, NULL, NULL};
    if (oc->spool) {
        make_spool_dir(spool, sizeof(spool), oc->name);
        snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
        env[1] = spool_env;
    }
    struct harness_daemon d;
    start_on_cluster(&d, &c, oc->name, env);

    struct load *L = load_new(oc->name, oc->n, oc->rate);
    load_start(L, d.tcp_port);
    struct fault f = {.c = &c, .d = &d, .L = L, .env = env, .seed = seed};
    bool landed = oc->outage(&f);
    load_wait(L, &d, t0 + LOAD_DEADLINE_MS);
    struct totals t;
    load_totals(L, &t);
    if (oc->spool) {
        wait_spool_empty(&d);
    }
    int st = harness_stop(&d);
    struct tally y;
    tally(L, d.dsn, &y);
    report_and_check(oc->name, L, &t, &y, t0, f.extra);
    if (!landed) {
        fail_msg("the fault did not land as planned:%s", f.extra);
    }
    assert_int_equal(st, 0);
    /* The daemon never stopped answering: no line waited long for its answer. */
    if (t.max_gap_ms > GAP_BOUND_MS) {
        fail_msg("a line waited %lld ms for its answer (bound %d ms)", t.max_gap_ms, GAP_BOUND_MS);
    }
    if (oc->spool) {
        /* The outage was bridged by the spool: acknowledged there, never refused. */
        assert_true(t.spooled > 0);
        assert_int_equal(t.unavailable, 0);
        assert_spool_dir_empty(spool);
        remove_spool_dir(spool);
    } else {
        /* Without a spool the outage shows, and the resends made the data whole. */
        assert_true(t.unavailable > 0);
        assert_int_equal(t.spooled, 0);
    }
    load_free(L);
    cluster_done(&c);
}

/* Waits until a share of the load is acknowledged, so that the fault lands under load. */
static void wait_acked(struct load *L, size_t want)
{
    long long deadline = harness_now_ms() + 30000;
    while (load_acked(L) < want && !load_finished(L) && harness_now_ms() < deadline) {
        sleep_ms(5);
    }
}

/* PostgreSQL stopped for about 5 s under load, then started again; records must have been
 * acknowledged while it was down. */
static bool outage_stop_start(struct fault *f)
{
    struct load *L = f->L;
    wait_acked(L, L->n / 5 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    cluster_stop(f->c);
    long long stopped = harness_now_ms();
    size_t before = load_acked(L);
    sleep_ms(5000);
    size_t during = load_acked(L) - before;
    bool under_load = !load_finished(L);
    cluster_start(f->c, NULL);
    snprintf(f->extra, sizeof(f->extra), " outage_ms=%lld acked_during_outage=%zu",
             harness_now_ms() - stopped, during);
    return during > 0 && under_load;
}

/* True when one of the daemon's connections is inside a transaction: a batch in flight. */
static bool batch_in_flight(PGconn *admin, const char *dbname)
{
    const char *params[1] = {dbname};
    PGresult *r = PQexecParams(admin,
                               "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
                               "pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                               1, NULL, params, NULL, NULL, 0);
    bool busy = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return busy;
}

/* Waits (up to 10 s) until one of the daemon's connections is inside a transaction. */
static bool wait_batch_in_flight(PGconn *admin, const char *dbname)
{
    long long deadline = harness_now_ms() + 10000;
    while (harness_now_ms() < deadline) {
        if (batch_in_flight(admin, dbname)) {
            return true;
        }
    }
    return false;
}

/* Terminates the daemon's backends once one of them is inside a transaction. Returns how
 * many were terminated; *in_batch says whether a batch was in flight. */
static int terminate_mid_batch(const struct cluster *c, const struct harness_daemon *d,
                               bool *in_batch)
{
    char dsn[256];
    cluster_dsn(c, "postgres", dsn, sizeof(dsn));
    PGconn *admin = pg_connect(dsn);
    *in_batch = wait_batch_in_flight(admin, d->dbname);
    const char *params[1] = {d->dbname};
    PGresult *r = PQexecParams(admin,
                               "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = $1 AND pid <> pg_backend_pid()",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("pg_terminate_backend: %s", PQresultErrorMessage(r));
    }
    int terminated = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(admin);
    return terminated;
}

/* True once pid has exited. Not our child, so a zombie counts as gone: where PID 1 does
 * not reap orphans (some containers), it stays one. */
static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) < 0) {
        return errno == ESRCH;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *stat_text = testmain_read_file(path, NULL);
    /* "pid (comm) S ...": the state follows the last ')'. */
    const char *paren = stat_text != NULL ? strrchr(stat_text, ')') : NULL;
    bool zombie = paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
    free(stat_text);
    return zombie;
}

/*
 * Immediate shutdown (SIGQUIT to the postmaster: every backend dies at once, the next start
 * recovers from the WAL), then a start. The signal goes straight to the postmaster rather
 * than through scripts/pg, so that it lands within a millisecond of the decision, while the
 * batch seen in flight still is.
 */
static void cluster_crash_restart(struct cluster *c)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", c->dir);
    char *text = testmain_read_file(path, NULL);
    if (text == NULL) {
        fail_msg("cannot read %s: %s", path, strerror(errno));
    }
    pid_t pid = (pid_t)atol(text);
    free(text);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGQUIT), 0);
    long long deadline = harness_now_ms() + 30000;
    while (!process_gone(pid) && harness_now_ms() < deadline) {
        sleep_ms(10);
    }
    cluster_start(c, NULL);
}

/* Without a spool: backends terminated mid-batch, then PostgreSQL crashed and restarted
 * mid-batch; the answers in between are "unavailable". */
static bool outage_restart(struct fault *f)
{
    struct load *L = f->L;
    wait_acked(L, L->n / 10 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    bool in_batch1 = false;
    int terminated = terminate_mid_batch(f->c, f->d, &in_batch1);

    wait_acked(L, L->n / 2 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    char dsn[256];
    cluster_dsn(f->c, "postgres", dsn, sizeof(dsn));
    PGconn *admin = pg_connect(dsn);
    bool in_batch2 = wait_batch_in_flight(admin, f->d->dbname);
    PQfinish(admin);
    long long t = harness_now_ms();
    cluster_crash_restart(f->c);
    snprintf(f->extra, sizeof(f->extra), " terminated=%d in_batch=%s/%s restart_ms=%lld",
             terminated, in_batch1 ? "yes" : "no", in_batch2 ? "yes" : "no", harness_now_ms() - t);
    /* The faults must have hit batches in flight, or the case proves little. */
    return in_batch1 && in_batch2 && terminated > 0;
}

/* The spool's records waiting, and whether the database is up, from /readyz (-1: no
 * answer). */
static long spool_waiting(const struct harness_daemon *d, bool *db_up)
{
    json_t *doc = readyz(d);
    *db_up = json_is_true(json_object_get(doc, "database"));
    json_t *rec = json_object_get(json_object_get(doc, "spool"), "records");
    long n = json_is_integer(rec) ? (long)json_integer_value(rec) : -1;
    json_decref(doc);
    return n;
}

/*
 * With the spool: backends terminated mid-batch; then PostgreSQL stopped for 2 s so that a
 * backlog builds up in the spool; then, once the daemon replays it, PostgreSQL crashed and
 * restarted in the middle of a replay batch. The daemon must say the replay was
 * interrupted, and resume it.
 */
static bool outage_restart_in_replay(struct fault *f)
{
    struct load *L = f->L;
    struct cluster *c = f->c;
    struct harness_daemon *d = f->d;
    wait_acked(L, L->n / 10 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    bool in_batch1 = false;
    int terminated = terminate_mid_batch(c, d, &in_batch1);

    wait_acked(L, L->n * 3 / 10 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    cluster_stop(c);
    sleep_ms(2000);
    cluster_start(c, NULL);
    char dsn[256];
    cluster_dsn(c, "postgres", dsn, sizeof(dsn));
    PGconn *admin = pg_connect(dsn);
    /* Replay under way: the database up for the daemon, the spool shrinking (records
     * replayed: a transaction seen at the moment might otherwise be a new connection's
     * setup) but not yet empty, and a batch of the daemon's in flight. */
    long waiting = 0, first = -1;
    bool in_replay = false;
    long long deadline = harness_now_ms() + 15000;
    while (!in_replay && harness_now_ms() < deadline) {
        bool db_up = false;
        waiting = spool_waiting(d, &db_up);
        if (waiting <= 0 && db_up) {
            break; /* replayed in full before we looked: the case fails below */
        }
        if (db_up && first < 0) {
            first = waiting;
        }
        in_replay = db_up && waiting > 0 && waiting < first && batch_in_flight(admin, d->dbname);
    }
    PQfinish(admin);
    size_t log_before = 0;
    free(testmain_read_file(d->log_path, &log_before));
    long long t = harness_now_ms();
    cluster_crash_restart(c);
    long long restart_ms = harness_now_ms() - t;
    /* The daemon saw its replay fail: a batch lost with its connection (the replay starts
     * again from the oldest record not done), or one the server ended with an error (the
     * batch is retried). Either way it says so in its log. */
    bool interrupted = false;
    deadline = harness_now_ms() + 10000;
    while (!interrupted && harness_now_ms() < deadline) {
        size_t len = 0;
        char *log = testmain_read_file(d->log_path, &len);
        const char *since = log != NULL && len >= log_before ? log + log_before : "";
        interrupted = strstr(since, "spool: replay interrupted") != NULL ||
                      strstr(since, "retried after SQLSTATE") != NULL;
        free(log);
        sleep_ms(20);
    }
    snprintf(f->extra, sizeof(f->extra),
             " terminated=%d in_batch=%s spool_at_crash=%ld/%ld replay_interrupted=%s "
             "restart_ms=%lld",
             terminated, in_batch1 ? "yes" : "no", waiting, first, interrupted ? "yes" : "no",
             restart_ms);
    return in_batch1 && terminated > 0 && in_replay && interrupted;
}

/*
 * kill -9 while the spool is in use: first while PostgreSQL is down and records are being
 * spooled (the next daemon starts once PostgreSQL is back, since it migrates first, and
 * replays what the killed one left while new records keep coming), then in the middle of
 * that replay.
 */
static bool outage_kill_while_spooling(struct fault *f)
{
    struct load *L = f->L;
    struct harness_daemon *d = f->d;
    wait_acked(L, L->n / 10 + (size_t)pick(&f->seed, 0, (long)(L->n / 10)));
    cluster_stop(f->c);
    sleep_ms(pick(&f->seed, 1500, 2500));
    bool db_up = true;
    long waiting1 = spool_waiting(d, &db_up);
    bool spooling = !db_up && waiting1 > 0;
    daemon_kill9_restart(d, L, f->env, f->c);
    bool left = harness_log_contains(d, "left by a previous run");

    /* Replay under way (the database up, the spool shrinking but not yet empty) and the
     * clients back (records acknowledged since the start). */
    size_t acked_at_start = load_acked(L);
    long at_start = spool_waiting(d, &db_up);
    long waiting2 = at_start;
    long long deadline = harness_now_ms() + 10000;
    while (harness_now_ms() < deadline) {
        waiting2 = spool_waiting(d, &db_up);
        if (waiting2 <= 0 || (db_up && waiting2 < at_start && load_acked(L) > acked_at_start)) {
            break;
        }
        sleep_ms(2);
    }
    daemon_kill9_restart(d, L, f->env, NULL);
    snprintf(f->extra, sizeof(f->extra),
             " kills=2 spool_at_kill1=%ld left_at_start=%s spool_at_kill2=%ld/%ld", waiting1,
             left ? "yes" : "no", waiting2, at_start);
    return spooling && left && db_up && waiting2 > 0 && waiting2 < at_start;
}

/*
 * PostgreSQL stopped for several seconds under load, then started: every acknowledged
 * record stored exactly once; the daemon never stopped answering (spooled answers).
 */
static void pg_stopped_under_load_spools(void **state)
{
    (void)state;
    const struct outage_case oc = {
        .name = "pgstop",
        .spool = true,
        /* About 12 s of load: the outage starts after 2-4 s and ends with load to spare. */
        .n = harness_sanitized() ? 12000 : 24000,
        .rate = harness_sanitized() ? 1000 : 2000,
        .outage = outage_stop_start,
    };
    run_outage_case(&oc);
}

/* PostgreSQL's connections reset in the middle of a batch, with the spool: also in the
 * middle of replaying it. */
static void pg_restart_mid_batch_with_spool(void **state)
{
    (void)state;
    const struct outage_case oc = {
        .name = "pgrestart",
        .spool = true,
        /* About 8 s of load, for three faults. */
        .n = harness_sanitized() ? 16000 : 32000,
        .rate = harness_sanitized() ? 2000 : 4000,
        .outage = outage_restart_in_replay,
    };
    run_outage_case(&oc);
}

/* The same without a spool: the answers are "unavailable" and resends make it whole. */
static void pg_restart_mid_batch_without_spool(void **state)
{
    (void)state;
    const struct outage_case oc = {
        .name = "pgrestart_nospool",
        .spool = false,
        .n = harness_sanitized() ? 12000 : 20000,
        .rate = harness_sanitized() ? 2000 : 4000,
        .outage = outage_restart,
    };
    run_outage_case(&oc);
}

/* kill -9 while records are being spooled and while the spool is replayed. */
static void kill9_while_spooling_and_replaying(void **state)
{
    (void)state;
    const struct outage_case oc = {
        .name = "kill9spool",
        .spool = true,
        /* About 10 s of load: the faults take 5-7 s. */
        .n = harness_sanitized() ? 15000 : 30000,
        .rate = harness_sanitized() ? 1500 : 3000,
        .outage = outage_kill_while_spooling,
    };
    run_outage_case(&oc);
}

/* Appends len bytes to path. */
static void append_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) {
        fail_msg("open %s: %s", path, strerror(errno));
    }
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/*
 * One round of the corrupt-tail case: with PostgreSQL stopped, n records are answered
 * spooled; the daemon is killed; garbage is appended to the last segment; PostgreSQL and the
 * daemon start again. The daemon must cut the garbage off (saying so), store the n records
 * once and leave the spool directory empty.
 */
static void corrupt_round(struct cluster *c, struct harness_daemon *d, const char *const *env,
                          const char *spool, const char *name, size_t n, bool bad_crc)
{
    long long t0 = harness_now_ms();
    cluster_stop(c);
    struct load *L = load_new(name, n, 0);
    load_start(L, d->tcp_port);
    load_wait(L, d, t0 + LOAD_DEADLINE_MS);
    struct totals t;
    load_totals(L, &t);
    /* Every record went to the spool: the database was down for all of them. */
    assert_int_equal(t.spooled, n);

    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    harness_track_child(d->pid, false);
    d->pid = 0;

    char seg[64], path[1024];
    assert_true(dir_files(spool, seg, sizeof(seg), NULL, 0) > 0);
    assert_true(seg[0] != '\0');
    snprintf(path, sizeof(path), "%s/%s", spool, seg);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned char garbage[1024];
    size_t glen;
    if (bad_crc) {
        /* A well-framed, valid record whose checksum does not match: if the daemon trusted
         * it, one more record than was acknowledged would be stored. */
        char line[512];
        int ln = record_line(L, n, line, sizeof(line));
        assert_true(ln > 0 && (size_t)ln < sizeof(garbage) - 8);
        ln--; /* the spool keeps records without their newline */
        put_le32(garbage, (uint32_t)ln);
        put_le32(garbage + 4, 0xdeadbeef);
        memcpy(garbage + 8, line, (size_t)ln);
        glen = 8 + (size_t)ln;
    } else {
        /* A torn header: 5 of its 8 bytes. */
        memcpy(garbage, "\x40\x00\x00\x00\x12", 5);
        glen = 5;
    }
    append_bytes(path, garbage, glen);

    cluster_start(c, NULL);
    harness_restart(d, env);
    char want[512];
    /* The segment holds this round's n records only: the last round's was replayed and
     * deleted, and a restarted daemon appends to a new segment. */
    snprintf(want, sizeof(want), "%s: %s at byte %lld; cut off %zu bytes after %zu good records",
             seg, bad_crc ? "a record whose checksum does not match" : "a partial record header",
             (long long)st.st_size, glen, n);
    if (!harness_log_contains(d, want)) {
        char *log = log_tail(d);
        fail_msg("the daemon's log does not say \"%s\":\n%s", want, log);
    }
    wait_spool_empty(d);
    struct tally y;
    tally(L, d->dsn, &y);
    char extra[128];
    snprintf(extra, sizeof(extra), " garbage=%s:%zu_bytes",
             bad_crc ? "bad_crc_record" : "torn_header", glen);
    report_and_check(name, L, &t, &y, t0, extra);
    assert_spool_dir_empty(spool);
    load_free(L);
}

/* A corrupt spool tail is repaired at start: a record with a wrong checksum, then a torn
 * header. */
static void corrupt_spool_tail_repaired_at_start(void **state)
{
    (void)state;
    struct cluster c = {0};
    cluster_start(&c, "corrupt");
    char spool[512], spool_env[600];
    make_spool_dir(spool, sizeof(spool), "corrupt");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
    const char *env[] = {spool_env, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL};
    struct harness_daemon d;
    start_on_cluster(&d, &c, "corrupt", env);
    size_t n = harness_sanitized() ? 500 : 2000;
    corrupt_round(&c, &d, env, spool, "corrupt_crc", n, true);
    corrupt_round(&c, &d, env, spool, "corrupt_torn", n, false);
    assert_int_equal(harness_stop(&d), 0);
    remove_spool_dir(spool);
    cluster_done(&c);
}

/* NDJSON of n records of round k for POST /v1/interactions (malloc'd). */
static char *http_round(int k, int n)
{
    size_t cap = (size_t)n * 300 + 1;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(body + len, cap - len,
                                "{\"source\":\"http-faults\",\"external_id\":\"h-%d-%d\","
                                "\"channel\":\"chat\",\"occurred_at\":\"2026-12-05T10:00:00Z\","
                                "\"customer\":{\"chat\":\"telegram:@user_%d\"},\"body\":"
                                "\"سلام %d-%d\"}\n",
                                k, i, i % 50, k, i);
    }
    return body;
}

/*
 * POST /v1/interactions while PostgreSQL is stopped: every request is answered 200 with each
 * record "spooled":true, and every record is in PostgreSQL, once, after it comes back.
 */
static void http_ingest_spools_while_pg_stopped(void **state)
{
    (void)state;
    struct cluster c = {0};
    cluster_start(&c, "http");
    char spool[512], spool_env[600];
    make_spool_dir(spool, sizeof(spool), "http");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
    const char *env[] = {spool_env, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL};
    struct harness_daemon d;
    start_on_cluster(&d, &c, "http", env);
    enum { ROUNDS = 5, PER_ROUND = 100 };
    long stored_direct = 0, spooled = 0;
    for (int k = 0; k < ROUNDS; k++) {
        if (k == 1) {
            cluster_stop(&c);
            /* From here on the daemon knows the database is away. */
            long long deadline = harness_now_ms() + 20000;
            bool down = false;
            while (!down && harness_now_ms() < deadline) {
                json_t *doc = readyz(&d);
                down = json_is_false(json_object_get(doc, "database"));
                json_decref(doc);
                usleep(down ? 0 : 50000);
            }
            assert_true(down);
        }
        char *body = http_round(k, PER_ROUND);
        char *answer = NULL;
        int st = harness_http_raw(d.http_port, "POST", "/v1/interactions", "application/x-ndjson",
                                  body, strlen(body), NULL, &answer);
        free(body);
        json_t *j = answer != NULL ? json_loads(answer, 0, NULL) : NULL;
        if (st != 200 || j == NULL) {
            char shown[600];
            snprintf(shown, sizeof(shown), "%.500s", answer != NULL ? answer : "(none)");
            free(answer);
            json_decref(j);
            fail_msg("round %d: status %d: %s", k, st, shown);
        }
        free(answer);
        json_t *results = json_object_get(j, "results");
        assert_int_equal(json_array_size(results), PER_ROUND);
        for (size_t i = 0; i < PER_ROUND; i++) {
            json_t *r = json_array_get(results, i);
            assert_true(json_is_true(json_object_get(r, "ok")));
            bool sp = json_is_true(json_object_get(r, "spooled"));
            /* Up: committed, with a customer. Down: spooled, without one yet. */
            assert_int_equal(sp, k > 0);
            assert_int_equal(json_object_get(r, "customer_id") != NULL, k == 0);
            spooled += sp;
            stored_direct += !sp;
        }
        json_decref(j);
    }
    cluster_start(&c, NULL);
    wait_spool_empty(&d);
    PGconn *pg = pg_connect(d.dsn);
    long stored = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions WHERE "
                                       "source = 'http-faults'");
    long bodies = harness_sql_long(pg, "SELECT count(*) FROM touchline.interactions WHERE body = "
                                       "'سلام ' || substr(external_id, 3)");
    PQfinish(pg);
    printf("faults http_ingest: acked=%d stored=%ld spooled=%ld direct=%ld\n", ROUNDS * PER_ROUND,
           stored, spooled, stored_direct);
    assert_int_equal(stored, ROUNDS * PER_ROUND);
    assert_int_equal(bodies, ROUNDS * PER_ROUND);
    assert_int_equal(harness_stop(&d), 0);
    assert_spool_dir_empty(spool);
    remove_spool_dir(spool);
    cluster_done(&c);
}

/* ---------------------------------------------------------------------------------------- */
/* Two daemons behind HAProxy (packaging/haproxy.cfg, docs/scaling.md) */

static void kill9_and_restart(struct harness_daemon *d, const char *const *env)
{
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    harness_track_child(d->pid, false);
    d->pid = 0;
    harness_restart(d, env);
}

/*
 * Two daemons on one database behind HAProxy with the shipped configuration, 16 adapters
 * sending through it and resending what was not acknowledged: daemon 1 is killed (SIGKILL)
 * under load and started again, then daemon 2; then daemon 1 is stopped with SIGTERM and
 * must leave HAProxy's rotation (its /readyz answering 503) while it still runs. Every
 * acknowledged record is stored exactly once.
 */
static void haproxy_failover_loses_nothing(void **state)
{
    (void)state;
    long long t0 = harness_now_ms();
    size_t n = harness_sanitized() ? 12000 : 30000;
    char spool1[512], spool2[512], sp1[600], sp2[600];
    make_spool_dir(spool1, sizeof(spool1), "haproxy1");
    make_spool_dir(spool2, sizeof(spool2), "haproxy2");
    snprintf(sp1, sizeof(sp1), "TOUCHLINE_SPOOL_DIR=%s", spool1);
    snprintf(sp2, sizeof(sp2), "TOUCHLINE_SPOOL_DIR=%s", spool2);
    /* Fixed ports, so that a restarted daemon is where HAProxy looks for it. */
    char t1[64], h1[64], t2[64], h2[64];
    snprintf(t1, sizeof(t1), "TOUCHLINE_LISTEN_TCP=127.0.0.1:%d", harness_free_port());
    snprintf(h1, sizeof(h1), "TOUCHLINE_LISTEN_HTTP=127.0.0.1:%d", harness_free_port());
    snprintf(t2, sizeof(t2), "TOUCHLINE_LISTEN_TCP=127.0.0.1:%d", harness_free_port());
    snprintf(h2, sizeof(h2), "TOUCHLINE_LISTEN_HTTP=127.0.0.1:%d", harness_free_port());
    /* The delay must exceed HAProxy's "inter 500ms fall 2". */
    const char *env1[] = {
        sp1, t1, h1, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", "TOUCHLINE_LISTEN_SHUTDOWN_DELAY_S=3",
        NULL};
    const char *env2[] = {
        sp2, t2, h2, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", "TOUCHLINE_LISTEN_SHUTDOWN_DELAY_S=3",
        NULL};
    struct harness_daemon d1, d2;
    harness_start(&d1, "faults_haproxy", env1);
    memset(&d2, 0, sizeof(d2));
    memcpy(d2.dbname, d1.dbname, sizeof(d2.dbname));
    memcpy(d2.dsn, d1.dsn, sizeof(d2.dsn));
    snprintf(d2.log_path, sizeof(d2.log_path), "%s/touchlined-%s-2.log", harness_tmp_dir(),
             d2.dbname);
    harness_restart(&d2, env2);

    struct harness_balancer b = {0};
    harness_balancer_start(&b, &d1, &d2);
    if (!harness_balancer_wait(&b, "touchlined1", true, 10000) ||
        !harness_balancer_wait(&b, "touchlined2", true, 10000)) {
        char *log = testmain_read_file(b.log_path, NULL);
        fail_msg("HAProxy did not see both daemons up; its log:\n%s", log != NULL ? log : "");
    }

    struct load *L = load_new("haproxy", n, harness_sanitized() ? 1500 : 3000);
    load_start(L, b.tcp_port);
    wait_acked(L, n / 5);
    size_t at_kill1 = load_acked(L);
    kill9_and_restart(&d1, env1);
    bool back1 = harness_balancer_wait(&b, "touchlined1", true, 10000);
    wait_acked(L, n / 2);
    size_t at_kill2 = load_acked(L);
    kill9_and_restart(&d2, env2);
    bool back2 = harness_balancer_wait(&b, "touchlined2", true, 10000);
    wait_acked(L, n * 3 / 4);
    size_t at_term = load_acked(L);

    /* SIGTERM: out of the rotation first, while the process still serves. */
    kill(d1.pid, SIGTERM);
    bool left = harness_balancer_wait(&b, "touchlined1", false, 2500);
    bool alive_when_left = kill(d1.pid, 0) == 0 && waitpid(d1.pid, NULL, WNOHANG) == 0;
    int st1 = harness_stop(&d1); /* waits for the exit the SIGTERM started */

    load_wait(L, &d2, t0 + LOAD_DEADLINE_MS);
    struct totals t;
    load_totals(L, &t);
    wait_spool_empty(&d2);
    harness_restart(&d1, env1); /* replays whatever daemon 1 had spooled */
    wait_spool_empty(&d1);
    assert_int_equal(harness_stop(&d1), 0);
    int st2 = harness_stop(&d2);
    harness_balancer_stop(&b);

    struct tally y;
    tally(L, d2.dsn, &y);
    char extra[200];
    snprintf(extra, sizeof(extra),
             " acked_at_kill1=%zu acked_at_kill2=%zu acked_at_term=%zu back=%s/%s "
             "left_rotation_before_exit=%s",
             at_kill1, at_kill2, at_term, back1 ? "yes" : "no", back2 ? "yes" : "no",
             left && alive_when_left ? "yes" : "no");
    report_and_check("haproxy", L, &t, &y, t0, extra);
    assert_true(back1 && back2);
    assert_true(left && alive_when_left);
    assert_int_equal(st1, 0);
    assert_int_equal(st2, 0);
    assert_true(at_kill1 < n && at_kill2 < n && at_term < n);
    /* The kills broke connections, whose records were resent through HAProxy. */
    assert_true(t.breaks >= 2);
    assert_spool_dir_empty(spool1);
    assert_spool_dir_empty(spool2);
    remove_spool_dir(spool1);
    remove_spool_dir(spool2);
    load_free(L);
}

/* ---------------------------------------------------------------------------------------- */
/* Starting while PostgreSQL is away (docs/scaling.md) */

/*
 * With a spool, the daemon starts while its database is not there: first with a host name
 * that does not resolve (as in a compose file whose database container is not up yet),
 * then with PostgreSQL stopped. It listens, acknowledges into the spool, says in /readyz
 * that the migrations wait, and once PostgreSQL starts it migrates, replays, and every
 * acknowledged record is stored once.
 */
static void starts_without_database_and_stores_everything_once(void **state)
{
    (void)state;
    long long t0 = harness_now_ms();
    struct cluster c = {0};
    cluster_start(&c, "nodb");
    struct harness_daemon d;
    char spool[512], spool_env[600];
    make_spool_dir(spool, sizeof(spool), "nodb");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
    const char *env[] = {spool_env, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL};

    /* A host name that does not resolve: up, spooling, and saying why. */
    memset(&d, 0, sizeof(d));
    snprintf(d.dbname, sizeof(d.dbname), "f_nodb_%d", (int)getpid());
    snprintf(d.dsn, sizeof(d.dsn), "host=touchline-db-not-yet.invalid dbname=%s connect_timeout=2",
             d.dbname);
    snprintf(d.log_path, sizeof(d.log_path), "%s/touchlined-%s-dns.log", harness_tmp_dir(),
             d.dbname);
    harness_restart(&d, env);
    int fd = harness_connect(d.tcp_port);
    char *a = harness_roundtrip(fd, "{\"source\":\"nodb-dns\",\"external_id\":\"1\","
                                    "\"channel\":\"sms\",\"occurred_at\":\"2026-11-20T10:00:00Z\","
                                    "\"customer\":{\"phone\":\"+989121112222\"}}");
    bool dns_spooled = strstr(a, "\"spooled\":true") != NULL;
    free(a);
    close(fd);
    json_t *doc = readyz(&d);
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    bool dns_said = json_is_string(json_object_get(doc, "migrations")) &&
                    strcmp(json_string_value(json_object_get(doc, "migrations")), "pending") == 0 &&
                    reason != NULL && strstr(reason, "migrations") != NULL;
    json_decref(doc);
    int dns_stop = harness_stop(&d);
    remove_spool_dir(spool);
    make_spool_dir(spool, sizeof(spool), "nodb");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);

    /* PostgreSQL stopped: a fresh database of the private cluster, then the cluster down. */
    start_on_cluster(&d, &c, "nodb", env);
    assert_int_equal(harness_stop(&d), 0);
    char dsn[256];
    cluster_dsn(&c, "postgres", dsn, sizeof(dsn));
    PGconn *pg = pg_connect(dsn);
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    char sql[200];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", d.dbname);
    pg_exec(pg, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d.dbname);
    pg_exec(pg, sql); /* empty: the migrations are still to be applied */
    PQfinish(pg);
    cluster_stop(&c);
    harness_restart(&d, env);

    struct load *L = load_new("nodb", harness_sanitized() ? 2000 : 6000, 2000);
    load_start(L, d.tcp_port);
    wait_acked(L, L->n / 2);
    size_t acked_down = load_acked(L);
    doc = readyz(&d);
    bool pending = json_is_string(json_object_get(doc, "migrations")) &&
                   strcmp(json_string_value(json_object_get(doc, "migrations")), "pending") == 0;
    json_decref(doc);
    cluster_start(&c, NULL);
    load_wait(L, &d, t0 + LOAD_DEADLINE_MS);
    struct totals t;
    load_totals(L, &t);
    wait_spool_empty(&d);
    doc = readyz(&d);
    bool current = json_is_string(json_object_get(doc, "migrations")) &&
                   strcmp(json_string_value(json_object_get(doc, "migrations")), "current") == 0;
    json_decref(doc);
    int st = harness_stop(&d);
    struct tally y;
    tally(L, d.dsn, &y);
    char extra[200];
    snprintf(extra, sizeof(extra),
             " unresolvable_host_spooled=%s acked_while_down=%zu migrations=%s->%s",
             dns_spooled && dns_said && dns_stop == 0 ? "yes" : "no", acked_down,
             pending ? "pending" : "?", current ? "current" : "?");
    report_and_check("nodb", L, &t, &y, t0, extra);
    assert_true(dns_spooled);
    assert_true(dns_said);
    assert_int_equal(dns_stop, 0);
    assert_true(acked_down > 0);
    assert_true(pending && current);
    assert_true(t.spooled > 0);
    assert_int_equal(t.unavailable, 0);
    assert_int_equal(st, 0);
    assert_spool_dir_empty(spool);
    remove_spool_dir(spool);
    load_free(L);
    cluster_done(&c);
}

/* ---------------------------------------------------------------------------------------- */
/* Erasure with the person's records in the spool (docs/security.md) */

#define ERASE_PHONE  "09125550101"
#define ERASE_SECRET "Nima asked us to forget his address, 12 Golestan St"

static char *erase_record(int i)
{
    char *line = malloc(512);
    assert_non_null(line);
    snprintf(line, 512,
             "{\"source\":\"asterisk-1\",\"external_id\":\"nima-%d\",\"channel\":\"phone\","
             "\"occurred_at\":\"2026-11-20T10:0%d:00Z\",\"customer\":{\"phone\":\"" ERASE_PHONE
             "\"},\"body\":\"" ERASE_SECRET "\"}",
             i, i);
    return line;
}

static void forget_during_outage_with_records_in_spool(void **state)
{
    (void)state;
    struct cluster c = {0};
    cluster_start(&c, "forget");
    char spool[512], spool_env[600];
    make_spool_dir(spool, sizeof(spool), "forget");
    snprintf(spool_env, sizeof(spool_env), "TOUCHLINE_SPOOL_DIR=%s", spool);
    const char *env[] = {spool_env, "TOUCHLINE_DATABASE_RECONNECT_MAX_S=1", NULL};
    struct harness_daemon d;
    start_on_cluster(&d, &c, "forget", env);
    int fd = harness_connect(d.tcp_port);
    char *line = erase_record(0);
    char *a = harness_roundtrip(fd, line);
    free(line);
    json_t *j = harness_parse_answer(a);
    free(a);
    char customer[64];
    snprintf(customer, sizeof(customer), "%s",
             json_string_value(json_object_get(j, "customer_id")));
    json_decref(j);

    /* PostgreSQL goes away; the person's next records are acknowledged from the spool. */
    cluster_stop(&c);
    for (int i = 1; i <= 3; i++) {
        line = erase_record(i);
        a = harness_roundtrip(fd, line);
        free(line);
        if (strstr(a, "\"spooled\":true") == NULL) {
            fail_msg("record %d during the outage: %s", i, a);
        }
        free(a);
    }
    assert_true(harness_files_containing(spool, ERASE_SECRET) > 0);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s", customer);
    char *body = NULL;
    assert_int_equal(harness_http(d.http_port, "DELETE", path, NULL, NULL, &body), 503);
    free(body);

    /* Back: the erasure is refused until the spool is in, then done, and it holds. */
    cluster_start(&c, "forget");
    long long deadline = harness_now_ms() + DRAIN_DEADLINE_MS;
    int st = 0, refused = 0;
    while (harness_now_ms() < deadline) {
        st = harness_http(d.http_port, "DELETE", path, NULL, NULL, &body);
        free(body);
        if (st == 200) {
            break;
        }
        refused++;
        sleep_ms(50);
    }
    assert_int_equal(st, 200);
    wait_spool_empty(&d);
    /* The adapter resends all of them: each answered erased, none stored. */
    for (int i = 0; i <= 3; i++) {
        line = erase_record(i);
        a = harness_roundtrip(fd, line);
        free(line);
        if (strstr(a, "\"erased\":true") == NULL) {
            fail_msg("record %d resent after the erasure: %s", i, a);
        }
        free(a);
    }
    close(fd);
    print_message("forget: the erasure was refused %d times while the spool was replayed\n",
                  refused);
    PGconn *pg = pg_connect(d.dsn);
    const char *needles[] = {"9125550101", ERASE_SECRET, "nima-"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
        char where[256];
        long n = harness_rows_containing(pg, needles[i], where, sizeof(where));
        if (n != 0) {
            fail_msg("%ld rows still hold \"%s\", in %s", n, needles[i], where);
        }
        if (harness_files_containing(spool, needles[i]) != 0) {
            char names[1024];
            dir_files(spool, NULL, 0, names, sizeof(names));
            fail_msg("a spool file still holds \"%s\": %s", needles[i], names);
        }
    }
    PQfinish(pg);
    assert_int_equal(harness_stop(&d), 0);
    remove_spool_dir(spool);
    cluster_done(&c);
}

int main(int argc, char **argv)
{
    /* A worker writing to a connection the daemon just dropped must see EPIPE, not die. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill9_under_load_loses_nothing),
        cmocka_unit_test(pg_stopped_under_load_spools),
        cmocka_unit_test(pg_restart_mid_batch_with_spool),
        cmocka_unit_test(pg_restart_mid_batch_without_spool),
        cmocka_unit_test(kill9_while_spooling_and_replaying),
        cmocka_unit_test(corrupt_spool_tail_repaired_at_start),
        cmocka_unit_test(haproxy_failover_loses_nothing),
        cmocka_unit_test(forget_during_outage_with_records_in_spool),
        cmocka_unit_test(starts_without_database_and_stores_everything_once),
        cmocka_unit_test(http_ingest_spools_while_pg_stopped),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
