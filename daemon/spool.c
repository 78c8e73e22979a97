#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "errmsg.h"
#include "log.h"

#define HEADER   8
#define NAME_FMT "%016" PRIu64 ".seg"

/* One append on its way to the disk, then back to the loop. */
struct req {
    struct req *next;
    spool_cb cb;
    void *arg;
    int status;
    size_t len;
    char data[];
};

struct seg {
    uint64_t seq;
    uint64_t size;     /* bytes written and fsynced: what may be read */
    size_t records;    /* records within size */
    uint64_t read_off; /* the loop's reading position */
    size_t read_n;     /* records read */
    size_t done_n;     /* records read and done */
    bool active;       /* the writer appends to it */
};

struct spool {
    char *dir;
    uint64_t max_bytes;
    uint64_t segment_bytes;
    struct event_base *base;
    struct event *notify_ev;
    int notify[2];

    /* Shared between the loop and the writer, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct req *pending, **pending_tail;
    struct req *done, **done_tail;
    struct seg *segs;
    size_t n_segs, cap_segs;
    uint64_t bytes;   /* segment sizes plus appends not yet written */
    size_t n_records; /* not yet done, pending appends included */
    uint64_t next_seq;
    bool retire; /* the loop asks the writer to close an active segment that is all done */
    bool stop;

    /* The writer's own. */
    pthread_t thread;
    bool thread_started;
    int active_fd;
    char *buf;
    size_t buf_cap;

    /* The loop's own: the segment being read. */
    int read_fd;
    uint64_t read_seq;
    uint64_t open_failed_seq;
};

static void seg_path(const struct spool *s, uint64_t seq, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/" NAME_FMT, s->dir, seq);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Makes a new file's directory entry durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int full_write(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int full_pread(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            return -EIO;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static struct seg *seg_find(struct spool *s, uint64_t seq)
{
    for (size_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].seq == seq) {
            return &s->segs[i];
        }
    }
    return NULL;
}

/* Adds a segment at the end (seqs only grow). Under mu. */
static struct seg *seg_add(struct spool *s, uint64_t seq)
{
    if (s->n_segs == s->cap_segs) {
        size_t cap = s->cap_segs == 0 ? 8 : s->cap_segs * 2;
        struct seg *n = realloc(s->segs, cap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        s->segs = n;
        s->cap_segs = cap;
    }
    struct seg *g = &s->segs[s->n_segs++];
    memset(g, 0, sizeof(*g));
    g->seq = seq;
    return g;
}

static bool seg_all_done(const struct seg *g)
{
    return g->read_off == g->size && g->done_n == g->records;
}

/* --- The writer thread. --- */

static void writer_notify(struct spool *s);

/* Starts a new active segment. Under mu for the list; the file work happens outside. */
static int writer_roll(struct spool *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t seq = s->next_seq++;
    for (size_t i = 0; i < s->n_segs; i++) {
        s->segs[i].active = false;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->active_fd >= 0) {
        close(s->active_fd); /* already fsynced with the group that filled it */
        s->active_fd = -1;
    }
    char path[4096];
    seg_path(s, seq, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        log_error("spool: cannot create %s: %s", path, strerror(e));
        return -e;
    }
    int rc = sync_dir(s->dir);
    if (rc < 0) {
        log_error("spool: cannot sync directory %s: %s", s->dir, strerror(-rc));
        close(fd);
        unlink(path);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    struct seg *g = seg_add(s, seq);
    if (g != NULL) {
        g->active = true;
    }
    pthread_mutex_unlock(&s->mu);
    if (g == NULL) {
        close(fd);
        unlink(path);
        return -ENOMEM;
    }
    s->active_fd = fd;
    return 0;
}

/* The active segment's durable size, or 0 without one. */
static uint64_t active_size(struct spool *s)
{
    uint64_t size = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].active) {
            size = s->segs[i].size;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return size;
}

/* Writes the records of group[0..n) into the active segment and fsyncs. */
static int writer_put(struct spool *s, struct req **group, size_t n, size_t bytes)
{
    if (bytes > s->buf_cap) {
        char *b = realloc(s->buf, bytes);
        if (b == NULL) {
            return -ENOMEM;
        }
        s->buf = b;
        s->buf_cap = bytes;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        put_u32((unsigned char *)s->buf + o, (uint32_t)group[i]->len);
        put_u32((unsigned char *)s->buf + o + 4, crc32c(0, group[i]->data, group[i]->len));
        memcpy(s->buf + o + HEADER, group[i]->data, group[i]->len);
        o += HEADER + group[i]->len;
    }
    uint64_t before = active_size(s);
    int rc = full_write(s->active_fd, s->buf, o);
    if (rc == 0 && fdatasync(s->active_fd) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        /* What follows goes to a new segment: this one may end in a partial write, which is
         * past its recorded size (never read back, and cut off at the next start). */
        if (ftruncate(s->active_fd, (off_t)before) < 0) {
            log_error("spool: cannot cut a failed write off the active segment: %s",
                      strerror(errno));
        }
        close(s->active_fd);
        s->active_fd = -1;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n_segs; i++) {
            s->segs[i].active = false;
        }
        pthread_mutex_unlock(&s->mu);
        writer_notify(s); /* the loop may now delete it, if everything in it is done */
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].active) {
            s->segs[i].size += o;
            s->segs[i].records += n;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Writes a list of appends, in order, rolling segments as they fill. */
static void writer_group(struct spool *s, struct req *list)
{
    struct req *group[256];
    while (list != NULL) {
        uint64_t size = active_size(s);
        if (s->active_fd < 0 || (size > 0 && size + HEADER + list->len > s->segment_bytes)) {
            int rc = writer_roll(s);
            if (rc < 0) {
                for (struct req *r = list; r != NULL; r = r->next) {
                    r->status = rc;
                }
                return;
            }
        }
        /* As many as fit in this segment (at least one), and fit the group array. */
        size_t n = 0, bytes = 0;
        uint64_t room = s->segment_bytes - active_size(s);
        struct req *r = list;
        while (r != NULL && n < sizeof(group) / sizeof(group[0]) &&
               (n == 0 || bytes + HEADER + r->len <= room)) {
            group[n++] = r;
            bytes += HEADER + r->len;
            r = r->next;
        }
        int rc = writer_put(s, group, n, bytes);
        for (size_t i = 0; i < n; i++) {
            group[i]->status = rc;
        }
        if (rc < 0) {
            log_error("spool: writing %zu records failed: %s", n, strerror(-rc));
        }
        list = r;
    }
}

static void writer_notify(struct spool *s)
{
    ssize_t w;
    do {
        w = write(s->notify[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so the loop is already due to look. */
}

static void *writer_main(void *arg)
{
    struct spool *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->pending == NULL && !s->stop && !s->retire) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
        struct req *list = s->pending;
        s->pending = NULL;
        s->pending_tail = &s->pending;
        if (list == NULL && s->retire) {
            s->retire = false;
            struct seg *active = NULL;
            for (size_t i = 0; i < s->n_segs; i++) {
                if (s->segs[i].active) {
                    active = &s->segs[i];
                }
            }
            if (active != NULL && seg_all_done(active)) {
                active->active = false;
                close(s->active_fd);
                s->active_fd = -1;
                pthread_mutex_unlock(&s->mu);
                writer_notify(s);
                pthread_mutex_lock(&s->mu);
            }
            continue;
        }
        if (list == NULL && s->stop) {
            break;
        }
        pthread_mutex_unlock(&s->mu);

        writer_group(s, list);

        pthread_mutex_lock(&s->mu);
        for (struct req *r = list; r != NULL;) {
            struct req *next = r->next;
            r->next = NULL;
            if (r->status < 0) {
                s->bytes -= HEADER + r->len;
                s->n_records--;
            }
            *s->done_tail = r;
            s->done_tail = &r->next;
            r = next;
        }
        pthread_mutex_unlock(&s->mu);
        writer_notify(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* --- The loop's side. --- */

static void spool_done_check(struct spool *s, uint64_t seq);

/* Deletes the segments whose records are all done. */
static void collect(struct spool *s)
{
    for (;;) {
        uint64_t seq = 0;
        bool found = false;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n_segs; i++) {
            struct seg *g = &s->segs[i];
            if (!g->active && seg_all_done(g)) {
                seq = g->seq;
                s->bytes -= g->size;
                memmove(g, g + 1, (s->n_segs - i - 1) * sizeof(*g));
                s->n_segs--;
                found = true;
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (!found) {
            return;
        }
        if (s->read_fd >= 0 && s->read_seq == seq) {
            close(s->read_fd);
            s->read_fd = -1;
        }
        char path[4096];
        seg_path(s, seq, path, sizeof(path));
        if (unlink(path) < 0) {
            log_error("spool: cannot delete %s: %s", path, strerror(errno));
        } else {
            log_debug("spool: %s replayed and deleted", path);
        }
    }
}

static void answer_done(struct spool *s)
{
    pthread_mutex_lock(&s->mu);
    struct req *list = s->done;
    s->done = NULL;
    s->done_tail = &s->done;
    pthread_mutex_unlock(&s->mu);
    while (list != NULL) {
        struct req *next = list->next;
        list->cb(list->status, list->arg);
        free(list);
        list = next;
    }
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct spool *s = arg;
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    answer_done(s);
    collect(s);
}

/*
 * Checks one segment file at open: returns the length of its valid prefix and the records
 * in it, cutting off (and logging) anything after. Negative errno on a read error.
 */
static int64_t check_segment(const char *path, size_t *records)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    uint64_t size = (uint64_t)st.st_size, off = 0;
    size_t n = 0;
    char *payload = NULL;
    size_t cap = 0;
    const char *why = NULL;
    while (off < size) {
        unsigned char h[HEADER];
        if (size - off < HEADER) {
            why = "a partial record header";
            break;
        }
        if (full_pread(fd, h, HEADER, off) < 0) {
            why = "an unreadable record header";
            break;
        }
        uint32_t len = get_u32(h), crc = get_u32(h + 4);
        if (len > SPOOL_MAX_RECORD || len > size - off - HEADER) {
            why = len > SPOOL_MAX_RECORD ? "an impossible record length" : "a partial record";
            break;
        }
        if (len > cap) {
            char *p = realloc(payload, len);
            if (p == NULL) {
                free(payload);
                close(fd);
                return -ENOMEM;
            }
            payload = p;
            cap = len;
        }
        if (full_pread(fd, payload, len, off + HEADER) < 0) {
            why = "an unreadable record";
            break;
        }
        if (crc32c(0, payload, len) != crc) {
            why = "a record whose checksum does not match";
            break;
        }
        off += HEADER + len;
        n++;
    }
    free(payload);
    if (off < size) {
        log_warn("spool: %s: %s at byte %" PRIu64 "; cut off %" PRIu64
                 " bytes after %zu good records (a write the daemon never acknowledged)",
                 path, why, off, size - off, n);
        if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    close(fd);
    *records = n;
    return (int64_t)off;
}

static int seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Finds, checks and lists the segments a previous run left. */
static int load_segments(struct spool *s, char *err, size_t errlen)
{
    DIR *dir = opendir(s->dir);
    if (dir == NULL) {
        errmsg_set(err, errlen, "spool: cannot open %s: %s", s->dir, strerror(errno));
        return -1;
    }
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        uint64_t seq;
        char tail[8];
        if (strlen(e->d_name) != 20 || sscanf(e->d_name, "%16" SCNu64 "%7s", &seq, tail) != 2 ||
            strcmp(tail, ".seg") != 0) {
            continue;
        }
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            uint64_t *p = realloc(seqs, cap * sizeof(*p));
            if (p == NULL) {
                free(seqs);
                closedir(dir);
                errmsg_set(err, errlen, "spool: out of memory");
                return -1;
            }
            seqs = p;
        }
        seqs[n++] = seq;
    }
    closedir(dir);
    if (n > 1) {
        /* Not with n == 0: seqs is NULL then, and qsort's pointer must not be. */
        qsort(seqs, n, sizeof(*seqs), seq_cmp);
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        seg_path(s, seqs[i], path, sizeof(path));
        size_t records = 0;
        int64_t size = check_segment(path, &records);
        if (size < 0) {
            errmsg_set(err, errlen, "spool: cannot check %s: %s", path, strerror((int)-size));
            free(seqs);
            return -1;
        }
        s->next_seq = seqs[i] + 1;
        if (records == 0) {
            unlink(path);
            continue;
        }
        struct seg *g = seg_add(s, seqs[i]);
        if (g == NULL) {
            free(seqs);
            errmsg_set(err, errlen, "spool: out of memory");
            return -1;
        }
        g->size = (uint64_t)size;
        g->records = records;
        s->bytes += (uint64_t)size;
        s->n_records += records;
        total += records;
    }
    free(seqs);
    if (total > 0) {
        log_warn("spool: %zu records (%" PRIu64 " bytes) left by a previous run in %s; they "
                 "are replayed once the database is reachable",
                 total, s->bytes, s->dir);
    }
    return 0;
}

struct spool *spool_open(struct event_base *base, const struct spool_params *p, char *err,
                         size_t errlen)
{
    struct spool *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errmsg_set(err, errlen, "spool: out of memory");
        return NULL;
    }
    s->base = base;
    s->max_bytes = p->max_bytes;
    s->segment_bytes = p->segment_bytes;
    s->notify[0] = s->notify[1] = -1;
    s->active_fd = -1;
    s->read_fd = -1;
    s->next_seq = 1;
    s->pending_tail = &s->pending;
    s->done_tail = &s->done;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->dir = strdup(p->dir);
    if (s->dir == NULL) {
        errmsg_set(err, errlen, "spool: out of memory");
        goto fail;
    }
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        errmsg_set(err, errlen, "spool: cannot create %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    if (load_segments(s, err, errlen) < 0) {
        goto fail;
    }
    if (pipe2(s->notify, O_NONBLOCK | O_CLOEXEC) < 0) {
        errmsg_set(err, errlen, "spool: cannot make a pipe: %s", strerror(errno));
        goto fail;
    }
    s->notify_ev = event_new(base, s->notify[0], EV_READ | EV_PERSIST, on_notify, s);
    if (s->notify_ev == NULL || event_add(s->notify_ev, NULL) < 0) {
        errmsg_set(err, errlen, "spool: cannot watch the writer");
        goto fail;
    }
    int rc = pthread_create(&s->thread, NULL, writer_main, s);
    if (rc != 0) {
        errmsg_set(err, errlen, "spool: cannot start the writer thread: %s", strerror(rc));
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    spool_close(s);
    return NULL;
}

void spool_close(struct spool *s)
{
    if (s == NULL) {
        return;
    }
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        answer_done(s);
        /* The writer may have retired a replayed active segment just now, and the loop that
         * would delete it on the writer's notice has ended: delete it here, or the next
         * start would replay it all again. */
        collect(s);
    }
    if (s->notify_ev != NULL) {
        event_free(s->notify_ev);
    }
    for (int i = 0; i < 2; i++) {
        if (s->notify[i] >= 0) {
            close(s->notify[i]);
        }
    }
    if (s->active_fd >= 0) {
        close(s->active_fd);
    }
    if (s->read_fd >= 0) {
        close(s->read_fd);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->segs);
    free(s->buf);
    free(s->dir);
    free(s);
}

int spool_append(struct spool *s, const void *data, size_t len, spool_cb cb, void *arg)
{
    if (len > SPOOL_MAX_RECORD) {
        return -ENOSPC;
    }
    struct req *r = malloc(sizeof(*r) + len);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->next = NULL;
    r->cb = cb;
    r->arg = arg;
    r->status = 0;
    r->len = len;
    memcpy(r->data, data, len);
    pthread_mutex_lock(&s->mu);
    if (s->bytes + HEADER + len > s->max_bytes) {
        pthread_mutex_unlock(&s->mu);
        free(r);
        return -ENOSPC;
    }
    s->bytes += HEADER + len;
    s->n_records++;
    *s->pending_tail = r;
    s->pending_tail = &r->next;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/*
 * A record that was durable cannot be read back (the disk lost it after the fsync): reading
 * the rest of its segment is impossible, since the framing is gone. Rather than stop replay
 * for good, the segment's unread records are counted lost, loudly, and a hard link keeps
 * the file as <name>.corrupt for whoever wants to dig; replay goes on with the next segment.
 */
static void give_up_segment(struct spool *s, uint64_t seq, uint64_t off, const char *path, int rc)
{
    size_t lost = 0;
    pthread_mutex_lock(&s->mu);
    struct seg *g = seg_find(s, seq);
    if (g != NULL) {
        lost = g->records - g->read_n;
        g->read_off = g->size;
        g->read_n = g->records;
        g->done_n += lost;
        s->n_records -= lost;
    }
    pthread_mutex_unlock(&s->mu);
    char keep[4200];
    snprintf(keep, sizeof(keep), "%s.corrupt", path);
    bool kept = link(path, keep) == 0;
    log_error("spool: %s: the record at byte %" PRIu64 " cannot be read back (%s); %zu "
              "acknowledged records from there on are lost%s%s",
              path, off, strerror(-rc), lost, kept ? "; the file is kept as " : "",
              kept ? keep : "");
    spool_done_check(s, seq);
}

int spool_next(struct spool *s, char **data, size_t *len, uint64_t *token)
{
    pthread_mutex_lock(&s->mu);
    struct seg *g = NULL;
    for (size_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].read_off < s->segs[i].size) {
            g = &s->segs[i];
            break;
        }
    }
    if (g == NULL) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    uint64_t seq = g->seq, off = g->read_off, size = g->size;
    pthread_mutex_unlock(&s->mu);

    char path[4096];
    seg_path(s, seq, path, sizeof(path));
    if (s->read_fd < 0 || s->read_seq != seq) {
        if (s->read_fd >= 0) {
            close(s->read_fd);
        }
        s->read_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->read_fd < 0) {
            int e = errno;
            /* Retried every replay tick: said once per segment. */
            if (s->open_failed_seq != seq) {
                s->open_failed_seq = seq;
                log_error("spool: cannot open %s: %s; replay waits for it", path, strerror(e));
            }
            return -e;
        }
        s->read_seq = seq;
    }
    unsigned char h[HEADER];
    int rc = full_pread(s->read_fd, h, HEADER, off);
    uint32_t n = get_u32(h);
    if (rc == 0 && (n > SPOOL_MAX_RECORD || off + HEADER + n > size)) {
        rc = -EIO;
    }
    char *buf = rc == 0 ? malloc(n + 1) : NULL;
    if (rc == 0 && buf == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = full_pread(s->read_fd, buf, n, off + HEADER);
    }
    if (rc == 0 && crc32c(0, buf, n) != get_u32(h + 4)) {
        rc = -EIO;
    }
    if (rc < 0) {
        free(buf);
        /* Only a record that is not there as written is given up; running out of memory
         * is not the record's fault, and the next tick tries again. */
        if (rc == -EIO) {
            give_up_segment(s, seq, off, path, rc);
        }
        return rc;
    }
    buf[n] = '\0';
    pthread_mutex_lock(&s->mu);
    g = seg_find(s, seq);
    if (g != NULL) {
        g->read_off += HEADER + n;
        g->read_n++;
    }
    pthread_mutex_unlock(&s->mu);
    *data = buf;
    *len = n;
    *token = seq;
    return 1;
}

/* Deletes segment seq if all its records are done, or asks the writer to close it first. */
static void spool_done_check(struct spool *s, uint64_t seq)
{
    bool collect_now = false;
    pthread_mutex_lock(&s->mu);
    struct seg *g = seg_find(s, seq);
    if (g != NULL && seg_all_done(g)) {
        if (g->active) {
            s->retire = true;
            pthread_cond_signal(&s->cv);
        } else {
            collect_now = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (collect_now) {
        collect(s);
    }
}

void spool_done(struct spool *s, uint64_t token)
{
    pthread_mutex_lock(&s->mu);
    struct seg *g = seg_find(s, token);
    if (g != NULL && g->done_n < g->read_n) {
        g->done_n++;
        s->n_records--;
    }
    pthread_mutex_unlock(&s->mu);
    spool_done_check(s, token);
}

void spool_rewind(struct spool *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_segs; i++) {
        struct seg *g = &s->segs[i];
        s->n_records += g->done_n;
        g->read_off = 0;
        g->read_n = 0;
        g->done_n = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

size_t spool_records(const struct spool *s)
{
    struct spool *m = (struct spool *)s;
    pthread_mutex_lock(&m->mu);
    size_t n = m->n_records;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t spool_bytes(const struct spool *s)
{
    struct spool *m = (struct spool *)s;
    pthread_mutex_lock(&m->mu);
    uint64_t n = m->bytes;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t spool_max_bytes(const struct spool *s)
{
    return s->max_bytes;
}

bool spool_empty(const struct spool *s)
{
    struct spool *m = (struct spool *)s;
    pthread_mutex_lock(&m->mu);
    bool empty = m->n_records == 0 && m->pending == NULL && m->done == NULL;
    pthread_mutex_unlock(&m->mu);
    return empty;
}
