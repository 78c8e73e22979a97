#include "follow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netconn.h"
#include "sender.h"

/* Rows sent and not yet answered, and bytes read ahead of the rows handled: what bounds the
 * follower's memory when the daemon is slow or away. */
#define MAX_INFLIGHT 10000
#define MAX_AHEAD    ((size_t)1 << 20)
/* The longest row waited for: a file holding more without a row end is broken there. */
#define MAX_ROW ((size_t)1 << 20)
/* A line left incomplete at the end of a rotated file is waited for this long. */
#define ROTATE_GRACE_MS 1000
/* Pauses between attempts to reach the daemon. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* The longest sleep when nothing happens: a check of the file without inotify's word. */
#define IDLE_MS 1000
/* The wait for answers per turn of the loop while some are owed. */
#define ANSWER_WAIT_MS 100

struct follower {
    const struct importer_target *t;
    const struct cdr_opts *co;
    const struct follow_opts *fo;
    char *state_path;
    int fd; /* the file read; -1 while it does not exist */
    dev_t dev;
    ino_t ino;
    char *name; /* what fd was opened as, for messages */
    char *buf;  /* the file's bytes from offset base on */
    size_t len, cap;
    off_t base;
    size_t base_line;     /* the line buf[0] is on */
    size_t parsed;        /* buf[0..parsed) was made into rows, sent or skipped */
    off_t committed;      /* every row before this offset was answered or skipped */
    off_t tail_end;       /* the end of the last row sent or skipped */
    size_t inflight;      /* rows sent without an answer yet */
    bool retry;           /* an answer asked for a resend: go back to committed */
    int fatal;            /* an enum importer_status to stop with; 0 for none */
    long long rotated_ms; /* when the path was seen naming another file; -1: not seen */
    /* What the state file says now. */
    bool saved;
    dev_t saved_dev;
    ino_t saved_ino;
    off_t saved_off;
    /* The daemon. */
    struct sender *s;
    long long connect_ms; /* when to try to connect next */
    int backoff_ms;
    /* Since the start. */
    size_t stored, duplicate, rejected, internal, withheld;
};

/* The line byte offset off of the buffer is on. */
static size_t line_at(const struct follower *f, off_t off)
{
    size_t n = f->base_line;
    const char *p = f->buf, *end = f->buf + (off - f->base);
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Everything before row_end is done with: answered, or never to be sent. */
static void row_done(struct follower *f, off_t row_end)
{
    f->tail_end = row_end;
    if (f->inflight == 0) {
        f->committed = row_end;
    }
}

static void on_answer(size_t tag, const struct sender_answer *a, void *arg)
{
    struct follower *f = arg;
    off_t end = (off_t)tag;
    f->inflight--;
    switch (a->outcome) {
    case SENDER_STORED:
    case SENDER_SPOOLED:
        f->stored++;
        break;
    case SENDER_DUPLICATE:
        f->duplicate++;
        break;
    case SENDER_REJECTED:
        f->rejected++;
        /* The row ends with its line break: the line before the end is its (last) line. */
        fprintf(f->t->err, "%s: %s line %zu: %s: %s\n", f->t->cmd, f->name, line_at(f, end) - 1,
                a->error, a->message);
        break;
    case SENDER_FORBIDDEN:
        fprintf(f->t->err, "%s: %s: %s (the token may not write this source)\n", f->t->cmd,
                a->error, a->message);
        f->fatal = IMPORTER_FAILED;
        return;
    case SENDER_UNAVAILABLE:
    case SENDER_UNKNOWN:
        if (!f->retry) {
            fprintf(f->t->err, "%s: %s: %s (sending it again)\n", f->t->cmd, a->error, a->message);
        }
        f->retry = true;
        return;
    }
    if (!f->retry && f->fatal == 0) {
        f->committed = f->inflight == 0 ? f->tail_end : end;
    }
}

/* Writes the state file if it does not say committed already. Returns 0 or -1 (said). */
static int save_state(struct follower *f)
{
    if (f->fd < 0 || (f->saved && f->saved_dev == f->dev && f->saved_ino == f->ino &&
                      f->saved_off == f->committed)) {
        return 0;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(f->t->err, "%s: state file %s: %s\n", f->t->cmd, tmp, strerror(errno));
        return -1;
    }
    char text[512];
    int n = snprintf(text, sizeof(text),
                     "# touchline import cdr --follow: every row before offset is acknowledged\n"
                     "dev %" PRIuMAX "\nino %" PRIuMAX "\noffset %" PRIdMAX "\nline %zu\n",
                     (uintmax_t)f->dev, (uintmax_t)f->ino, (intmax_t)f->committed,
                     line_at(f, f->committed));
    bool ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, f->state_path) < 0) {
        fprintf(f->t->err, "%s: state file %s: %s\n", f->t->cmd, f->state_path,
                strerror(ok ? errno : e));
        unlink(tmp);
        return -1;
    }
    /* The rename itself is durable once the directory is. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", f->state_path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    f->saved = true;
    f->saved_dev = f->dev;
    f->saved_ino = f->ino;
    f->saved_off = f->committed;
    return 0;
}

struct state {
    bool found;
    uintmax_t dev, ino;
    intmax_t offset;
    size_t line;
};

/* Reads the state file. Returns 0 (st->found false when there is none) or -1 (said). */
static int load_state(struct follower *f, struct state *st)
{
    memset(st, 0, sizeof(*st));
    FILE *in = fopen(f->state_path, "re");
    if (in == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        fprintf(f->t->err, "%s: state file %s: %s\n", f->t->cmd, f->state_path, strerror(errno));
        return -1;
    }
    char line[256];
    int have = 0;
    while (fgets(line, sizeof(line), in) != NULL) {
        have += sscanf(line, "dev %ju", &st->dev) == 1;
        have += sscanf(line, "ino %ju", &st->ino) == 1;
        have += sscanf(line, "offset %jd", &st->offset) == 1;
        have += sscanf(line, "line %zu", &st->line) == 1;
    }
    fclose(in);
    if (have != 4 || st->offset < 0 || st->line < 1) {
        fprintf(f->t->err,
                "%s: state file %s: not one this command wrote (remove it to start over)\n",
                f->t->cmd, f->state_path);
        return -1;
    }
    st->found = true;
    return 0;
}

/* Starts reading the file open on fd (taken), named name, at offset on line. */
static int use_file(struct follower *f, int fd, const char *name, off_t offset, size_t line)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0 || lseek(fd, offset, SEEK_SET) < 0) {
        fprintf(f->t->err, "%s: %s: %s\n", f->t->cmd, name, strerror(errno));
        close(fd);
        return -1;
    }
    char *n = strdup(name);
    if (n == NULL) {
        close(fd);
        return -1;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->name);
    f->name = n;
    f->fd = fd;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    f->base = f->committed = f->tail_end = offset;
    f->base_line = line;
    f->len = f->parsed = 0;
    f->rotated_ms = -1;
    return 0;
}

/* Counts the line breaks of fd's first end bytes: the line a start at end is on, less 1. */
static size_t count_lines(int fd, off_t end)
{
    char chunk[65536];
    size_t n = 0;
    off_t at = 0;
    while (at < end) {
        size_t want = end - at < (off_t)sizeof(chunk) ? (size_t)(end - at) : sizeof(chunk);
        ssize_t r = pread(fd, chunk, want, at);
        if (r <= 0) {
            break;
        }
        for (ssize_t i = 0; i < r; i++) {
            n += chunk[i] == '\n';
        }
        at += r;
    }
    return n;
}

/*
 * Looks beside the followed file for the one the state names (renamed by a rotation while the
 * follower was stopped). Returns an open descriptor and its path in found, or -1.
 */
static int find_rotated(const struct follower *f, const struct state *st, char *found,
                        size_t foundlen)
{
    char d[4096], b[4096];
    snprintf(d, sizeof(d), "%s", f->fo->path);
    snprintf(b, sizeof(b), "%s", f->fo->path);
    const char *dir = dirname(d), *base = basename(b);
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        return -1;
    }
    int fd = -1;
    struct dirent *e;
    size_t blen = strlen(base);
    while (fd < 0 && (e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] == '\0') {
            continue;
        }
        snprintf(found, foundlen, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(found, &sb) == 0 && (uintmax_t)sb.st_dev == st->dev &&
            (uintmax_t)sb.st_ino == st->ino) {
            fd = open(found, O_RDONLY | O_CLOEXEC);
        }
    }
    closedir(dh);
    return fd;
}

/* Opens the followed file when it is not open yet; the state decides where to start. */
static int open_start(struct follower *f, const struct state *st)
{
    int fd = open(f->fo->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) < 0) {
        close(fd);
        fd = -1;
    }
    if (st->found &&
        (fd < 0 || (uintmax_t)sb.st_dev != st->dev || (uintmax_t)sb.st_ino != st->ino)) {
        char old[4096];
        int ofd = find_rotated(f, st, old, sizeof(old));
        if (ofd >= 0) {
            if (fd >= 0) {
                close(fd);
            }
            fprintf(f->t->out, "%s: %s was rotated while stopped: finishing %s from line %zu\n",
                    f->t->cmd, f->fo->path, old, st->line);
            fflush(f->t->out);
            return use_file(f, ofd, old, (off_t)st->offset, st->line);
        }
        if (fd >= 0) {
            fprintf(f->t->err,
                    "%s: %s is another file than the state file names, and the old one is not "
                    "beside it: starting the new one at its first line\n",
                    f->t->cmd, f->fo->path);
            return use_file(f, fd, f->fo->path, 0, 1);
        }
    }
    if (fd < 0) {
        if (errno != ENOENT) {
            fprintf(f->t->err, "%s: %s: %s\n", f->t->cmd, f->fo->path, strerror(errno));
            return -1;
        }
        return 1; /* not there yet: Asterisk writes it with the first call */
    }
    if (st->found) {
        if (st->offset > sb.st_size) {
            fprintf(f->t->err,
                    "%s: %s is shorter than when last read: truncated, reading it from "
                    "its start\n",
                    f->t->cmd, f->fo->path);
            return use_file(f, fd, f->fo->path, 0, 1);
        }
        return use_file(f, fd, f->fo->path, (off_t)st->offset, st->line);
    }
    if (f->fo->from_end) {
        return use_file(f, fd, f->fo->path, sb.st_size, count_lines(fd, sb.st_size) + 1);
    }
    return use_file(f, fd, f->fo->path, 0, 1);
}

/* Reads what the file has beyond what is buffered (within the bounds). Returns true at EOF. */
static bool read_more(struct follower *f)
{
    /* Drop what is committed from the front when it is most of the buffer. */
    size_t done = (size_t)(f->committed - f->base);
    if (done > 0 && (done >= f->len / 2 || done > MAX_AHEAD)) {
        f->base_line = line_at(f, f->committed);
        memmove(f->buf, f->buf + done, f->len - done);
        f->len -= done;
        f->parsed -= done;
        f->base = f->committed;
    }
    while (f->len - f->parsed < MAX_AHEAD + MAX_ROW && f->inflight < MAX_INFLIGHT) {
        if (f->cap - f->len < 65536) {
            size_t cap = f->cap == 0 ? 262144 : f->cap * 2;
            char *p = realloc(f->buf, cap);
            if (p == NULL) {
                return false;
            }
            f->buf = p;
            f->cap = cap;
        }
        ssize_t r = read(f->fd, f->buf + f->len, f->cap - f->len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return true;
        }
        f->len += (size_t)r;
    }
    return false;
}

/* The end of the last complete row in buf[parsed..len): a line break outside quotes. */
static size_t complete_end(const struct follower *f)
{
    bool quoted = false;
    size_t end = f->parsed;
    for (size_t i = f->parsed; i < f->len; i++) {
        if (f->buf[i] == '"') {
            quoted = !quoted;
        } else if (f->buf[i] == '\n' && !quoted) {
            end = i + 1;
        }
    }
    return end;
}

/* The connection is gone or asked for a resend: drop it, and go back to the first row owed. */
static void lost(struct follower *f, const char *why)
{
    if (why != NULL) {
        fprintf(f->t->err, "%s: %s; trying again in %d s\n", f->t->cmd, why, f->backoff_ms / 1000);
    }
    sender_free(f->s);
    f->s = NULL;
    f->inflight = 0;
    f->retry = false;
    f->parsed = (size_t)(f->committed - f->base);
    f->tail_end = f->committed;
    f->connect_ms = netconn_now_ms() + f->backoff_ms;
    f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
}

/* Takes a sender error: fatal ones stop the follower, the others reconnect. */
static void send_failed(struct follower *f, int rc, const char *err)
{
    if (rc == SENDER_ENET) {
        lost(f, err);
        return;
    }
    fprintf(f->t->err, "%s: %s\n", f->t->cmd, err);
    f->fatal = rc == SENDER_EUSAGE ? IMPORTER_INVALID : IMPORTER_FAILED;
}

/* Sends the complete rows read and not yet handled. */
static void send_rows(struct follower *f)
{
    size_t end = complete_end(f);
    if (end == f->parsed) {
        if (f->len - f->parsed >= MAX_ROW) {
            /* No row ends within MAX_ROW: a quote never closed. Skip to the next line. */
            const char *nl = memchr(f->buf + f->parsed, '\n', f->len - f->parsed);
            size_t skip = nl != NULL ? (size_t)(nl - f->buf) + 1 : f->len;
            fprintf(f->t->err, "%s: %s line %zu: no row end within %zu bytes: skipped\n", f->t->cmd,
                    f->name, line_at(f, f->base + (off_t)f->parsed), MAX_ROW);
            f->rejected++;
            f->parsed = skip;
            row_done(f, f->base + (off_t)skip);
        }
        return;
    }
    size_t start = f->parsed;
    size_t line0 = line_at(f, f->base + (off_t)start);
    struct cdr_reader r;
    struct cdr_row row = {0};
    char err[512], where[4200];
    cdr_reader_init(&r, f->buf + start, end - start);
    while (f->inflight < MAX_INFLIGHT && f->fatal == 0) {
        int rc = cdr_reader_next(&r, &row, err, sizeof(err));
        if (rc == CDR_END) {
            break;
        }
        off_t row_end = f->base + (off_t)(start + r.pos);
        snprintf(where, sizeof(where), "%s line %zu", f->name, line0 + row.line - 1);
        if (rc == CDR_ENOMEM) {
            fprintf(f->t->err, "%s: out of memory\n", f->t->cmd);
            f->fatal = IMPORTER_FAILED;
            break;
        }
        if (rc == CDR_EPARSE) {
            fprintf(f->t->err, "%s: %s: %s\n", f->t->cmd, where, err);
            rc = IMPORTER_ROW_REJECTED;
        } else {
            rc =
                importer_cdr_row(f->t, f->co, &row, where, f->s, (size_t)row_end, err, sizeof(err));
        }
        if (rc < 0) {
            send_failed(f, rc, err);
            break;
        }
        switch ((enum importer_row)rc) {
        case IMPORTER_ROW_SENT:
            f->inflight++;
            f->tail_end = row_end;
            break;
        case IMPORTER_ROW_INTERNAL:
            f->internal++;
            row_done(f, row_end);
            break;
        case IMPORTER_ROW_WITHHELD:
            f->withheld++;
            row_done(f, row_end);
            break;
        case IMPORTER_ROW_REJECTED:
            f->rejected++;
            row_done(f, row_end);
            break;
        }
        if (f->s == NULL) {
            break; /* lost: parsed was set back */
        }
        f->parsed = start + r.pos;
    }
    cdr_row_free(&row);
}

/*
 * Notices a rotation (the path names another file) or a truncation, and moves to the new
 * start once everything of the old one is answered.
 */
static void check_file(struct follower *f)
{
    struct stat cur, now_at_path;
    if (fstat(f->fd, &cur) == 0 && cur.st_size < f->base + (off_t)f->len) {
        if (f->inflight > 0) {
            return; /* the answers for the old content first */
        }
        fprintf(f->t->out, "%s: %s was truncated: reading it from its start\n", f->t->cmd, f->name);
        fflush(f->t->out);
        int fd = dup(f->fd);
        if (fd >= 0) {
            char name[4096];
            snprintf(name, sizeof(name), "%s", f->name);
            (void)use_file(f, fd, name, 0, 1);
        }
        return;
    }
    if (stat(f->fo->path, &now_at_path) < 0 ||
        (now_at_path.st_dev == f->dev && now_at_path.st_ino == f->ino)) {
        return;
    }
    long long now = netconn_now_ms();
    if (f->rotated_ms < 0) {
        f->rotated_ms = now;
    }
    bool rows_left = complete_end(f) > f->parsed;
    if (f->inflight > 0 || rows_left ||
        (f->parsed < f->len && now - f->rotated_ms < ROTATE_GRACE_MS)) {
        return;
    }
    if (f->parsed < f->len) {
        fprintf(f->t->err, "%s: %s line %zu: left incomplete by a rotation: skipped\n", f->t->cmd,
                f->name, line_at(f, f->base + (off_t)f->parsed));
    }
    int fd = open(f->fo->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return; /* replaced again meanwhile: the next turn sees it */
    }
    fprintf(f->t->out, "%s: %s was rotated: following the new file\n", f->t->cmd, f->fo->path);
    fflush(f->t->out);
    if (use_file(f, fd, f->fo->path, 0, 1) == 0) {
        (void)save_state(f);
    }
}

static void status(struct follower *f, const char *what)
{
    FILE *out = f->t->out;
    fprintf(out, "%s: %s %s at line %zu: %zu stored, %zu duplicate, %zu rejected", f->t->cmd, what,
            f->fd >= 0 ? f->name : f->fo->path, f->fd >= 0 ? line_at(f, f->committed) : (size_t)1,
            f->stored, f->duplicate, f->rejected);
    char skipped[128];
    importer_cdr_skipped(skipped, sizeof(skipped), f->internal, f->withheld);
    fputs(skipped, out);
    fprintf(out, ", %zu awaiting an answer%s\n", f->inflight,
            f->s == NULL && f->connect_ms > 0 ? " (the daemon is not reachable)" : "");
    fflush(out);
}

/* Blocks SIGTERM and SIGINT and returns a signalfd for them, or -1 (said). */
static int stop_signals(const struct importer_target *t, sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0) {
        fprintf(t->err, "%s: sigprocmask: %s\n", t->cmd, strerror(errno));
        return -1;
    }
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        fprintf(t->err, "%s: signalfd: %s\n", t->cmd, strerror(errno));
        sigprocmask(SIG_SETMASK, old, NULL);
    }
    return fd;
}

int follow_cdr(const struct importer_target *t, const struct cdr_opts *co,
               const struct follow_opts *fo)
{
    struct follower f = {.t = t, .co = co, .fo = fo, .fd = -1, .rotated_ms = -1};
    int status_rc = IMPORTER_INVALID;
    int sfd = -1, ifd = -1;
    sigset_t old;
    f.backoff_ms = BACKOFF_MIN_MS;
    if (fo->state_path != NULL) {
        f.state_path = strdup(fo->state_path);
    } else if (asprintf(&f.state_path, "%s%s", fo->path, FOLLOW_STATE_SUFFIX) < 0) {
        f.state_path = NULL;
    }
    if (f.state_path == NULL) {
        fprintf(t->err, "%s: out of memory\n", t->cmd);
        return IMPORTER_FAILED;
    }
    struct state st;
    if (load_state(&f, &st) < 0) {
        goto out;
    }
    sfd = stop_signals(t, &old);
    if (sfd < 0) {
        status_rc = IMPORTER_FAILED;
        goto out;
    }
    /* New lines, rotations and truncations show as events on the file's directory. */
    char d[4096];
    snprintf(d, sizeof(d), "%s", fo->path);
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd >= 0 && inotify_add_watch(ifd, dirname(d),
                                      IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                          IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
        close(ifd);
        ifd = -1;
    }
    int rc = open_start(&f, &st);
    if (rc < 0) {
        goto out;
    }
    /* A state file that cannot be written is found now, not after the first row. */
    if (rc == 0 && !st.found && save_state(&f) < 0) {
        goto out;
    }
    status(&f, "following");
    long long next_status =
        fo->status_interval_s > 0 ? netconn_now_ms() + fo->status_interval_s * 1000LL : -1;
    bool stopping = false;
    char err[512];
    while (!stopping && f.fatal == 0) {
        long long now = netconn_now_ms();
        if (f.fd < 0 && open_start(&f, &st) < 0) {
            goto out;
        }
        if (f.s == NULL && now >= f.connect_ms) {
            rc = sender_open(t->addr, t->token, t->cacert, on_answer, &f, &f.s, err, sizeof(err));
            if (rc == SENDER_ENET) {
                lost(&f, err);
            } else if (rc < 0) {
                send_failed(&f, rc, err);
                break;
            }
        }
        if (f.fd >= 0) {
            bool eof = read_more(&f);
            if (f.s != NULL) {
                send_rows(&f);
            }
            if (eof) {
                check_file(&f);
            }
        }
        if (f.s != NULL && f.fatal == 0) {
            rc = sender_flush(f.s, f.inflight > 0 ? ANSWER_WAIT_MS : 0, err, sizeof(err));
            if (rc < 0) {
                send_failed(&f, rc, err);
            } else if (f.retry) {
                lost(&f, "the daemon asked for a resend");
            } else if (f.inflight == 0) {
                f.backoff_ms = BACKOFF_MIN_MS;
            }
        }
        if (save_state(&f) < 0) {
            f.fatal = IMPORTER_INVALID;
        }
        now = netconn_now_ms();
        if (next_status >= 0 && now >= next_status) {
            status(&f, "following");
            next_status = now + fo->status_interval_s * 1000LL;
        }
        /* Sleep until a signal, a change in the directory, the next status or connection
         * attempt; not at all while answers are owed (sender_flush waited for them) or rows
         * wait to be read. */
        int wait = ifd >= 0 ? IDLE_MS : IDLE_MS / 4;
        if (f.inflight > 0 || (f.s != NULL && complete_end(&f) > f.parsed)) {
            wait = 0;
        }
        if (f.s == NULL && f.connect_ms - now < wait) {
            wait = f.connect_ms > now ? (int)(f.connect_ms - now) : 0;
        }
        if (next_status >= 0 && next_status - now < wait) {
            wait = next_status > now ? (int)(next_status - now) : 0;
        }
        /* The daemon says nothing unasked: its socket readable with nothing in flight is the
         * daemon closing the connection (its idle timeout, a restart), noticed now rather than
         * when the next row is sent. */
        struct pollfd p[3] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = f.s != NULL && f.inflight == 0 ? sender_fd(f.s) : -1, .events = POLLIN},
            {.fd = ifd, .events = POLLIN}};
        if (poll(p, 3, wait) < 0 && errno != EINTR) {
            fprintf(t->err, "%s: poll: %s\n", t->cmd, strerror(errno));
            f.fatal = IMPORTER_FAILED;
        }
        if (p[1].fd >= 0 && p[1].revents != 0) {
            fprintf(t->err, "%s: the daemon closed the connection; connecting again\n", t->cmd);
            lost(&f, NULL);
            f.connect_ms = netconn_now_ms(); /* an orderly close: at once */
        }
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            stopping = true;
        }
        char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (ifd >= 0 && read(ifd, ev, sizeof(ev)) > 0) {
            /* Only a wake-up: the file itself says what changed. */
        }
    }
    /* Stopping: the answers to what was sent, then the state that names them. */
    if (f.s != NULL && f.inflight > 0 && f.fatal == 0) {
        rc = sender_flush(f.s, FOLLOW_DRAIN_MS, err, sizeof(err));
        if (rc < 0) {
            fprintf(t->err, "%s: %s\n", t->cmd, err);
        }
    }
    if (f.fatal == 0 || f.fatal == IMPORTER_FAILED) {
        (void)save_state(&f);
    }
    status(&f, f.fatal == 0 ? "stopped" : "gave up");
    status_rc = f.fatal != 0 ? f.fatal : IMPORTER_OK;
out:
    sender_free(f.s);
    if (sfd >= 0) {
        close(sfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    if (ifd >= 0) {
        close(ifd);
    }
    if (f.fd >= 0) {
        close(f.fd);
    }
    free(f.buf);
    free(f.name);
    free(f.state_path);
    return status_rc;
}
