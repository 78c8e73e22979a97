#include "importer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "progress.h"
#include "sender.h"

/* Largest CSV read from stdin; a file is mapped instead, whatever its size. */
#define CSV_STDIN_MAX ((size_t)1 << 30)

/* What the single-record commands keep of their one answer. */
struct one {
    const struct importer_target *t;
    int status;
    bool answered;
};

/* Prints a refused record's answer; returns the exit status it calls for. */
static int refused(const struct importer_target *t, const char *where,
                   const struct sender_answer *a)
{
    fprintf(t->err, "%s: %s%s%s: %s%s\n", t->cmd, where, where[0] != '\0' ? ": " : "", a->error,
            a->message, a->outcome == SENDER_UNAVAILABLE ? " (resending later is safe)" : "");
    return a->outcome == SENDER_REJECTED ? IMPORTER_INVALID : IMPORTER_FAILED;
}

static void one_answer(size_t tag, const struct sender_answer *a, void *arg)
{
    (void)tag;
    struct one *o = arg;
    const struct importer_target *t = o->t;
    o->answered = true;
    if (t->json) {
        fprintf(t->out, "%.*s\n", (int)(a->len > INT32_MAX ? INT32_MAX : a->len), a->line);
    }
    switch (a->outcome) {
    case SENDER_STORED:
    case SENDER_DUPLICATE:
    case SENDER_SPOOLED:
        o->status = IMPORTER_OK;
        if (t->json) {
            break;
        }
        if (a->outcome == SENDER_SPOOLED) {
            fprintf(t->out,
                    "spooled %s: the database is unreachable; the daemon stores it once it is "
                    "back\n",
                    a->id != NULL ? a->id : "?");
        } else {
            fprintf(t->out, "%s%s for customer %s\n",
                    a->outcome == SENDER_STORED ? "stored " : "duplicate: already stored as ",
                    a->id != NULL ? a->id : "?", a->customer_id != NULL ? a->customer_id : "?");
        }
        break;
    case SENDER_REJECTED:
    case SENDER_FORBIDDEN:
    case SENDER_UNAVAILABLE:
    case SENDER_UNKNOWN:
        o->status = refused(t, "", a);
        break;
    }
}

/* Reports a sender failure; returns the exit status it calls for. */
static int sender_failed(const struct importer_target *t, int rc, const char *err)
{
    fprintf(t->err, "%s: %s\n", t->cmd, err);
    return rc == SENDER_EUSAGE ? IMPORTER_INVALID : IMPORTER_FAILED;
}

int importer_send_one(const struct importer_target *t, json_t *record)
{
    char err[512];
    if (sender_check(record, err, sizeof(err)) < 0) {
        fprintf(t->err, "%s: %s\n", t->cmd, err);
        return IMPORTER_INVALID;
    }
    struct one o = {.t = t, .status = IMPORTER_FAILED};
    struct sender *s = NULL;
    int rc = sender_open(t->addr, t->token, t->cacert, one_answer, &o, &s, err, sizeof(err));
    if (rc == 0) {
        rc = sender_add(s, record, 0, err, sizeof(err));
    }
    if (rc == 0) {
        rc = sender_close(s, err, sizeof(err));
    }
    sender_free(s);
    if (rc < 0) {
        return sender_failed(t, rc, err);
    }
    if (!o.answered) {
        fprintf(t->err, "%s: the daemon did not answer\n", t->cmd);
        return IMPORTER_FAILED;
    }
    fflush(t->out);
    return o.status;
}

/* Reads all of in (at most max bytes). Returns a malloc'd buffer, or NULL with err set. */
static char *read_all(FILE *in, size_t max, size_t *len, char *err, size_t errlen)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                snprintf(err, errlen, "the input is larger than %zu MiB", max >> 20);
                free(buf);
                return NULL;
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                snprintf(err, errlen, "out of memory");
                free(buf);
                return NULL;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, in);
        n += r;
        if (r == 0) {
            if (ferror(in)) {
                snprintf(err, errlen, "reading the input: %s", strerror(errno));
                free(buf);
                return NULL;
            }
            break;
        }
    }
    *len = n;
    return buf;
}

int importer_mail(const struct importer_target *t, const struct mail_opts *opts, FILE *in)
{
    char err[512];
    size_t len;
    char *msg = read_all(in, IMPORTER_MAIL_MAX, &len, err, sizeof(err));
    if (msg == NULL) {
        fprintf(t->err, "%s: %s\n", t->cmd, err);
        return IMPORTER_INVALID;
    }
    json_t *rec = NULL;
    int rc = mail_to_record(msg, len, opts, &rec, err, sizeof(err));
    free(msg);
    if (rc == MAIL_EINTERNAL) {
        /* Nothing wrong with it: it has no customer to be on the timeline of. */
        fprintf(t->out, "skipped: %s\n", err);
        return IMPORTER_OK;
    }
    if (rc < 0) {
        fprintf(t->err, "%s: %s\n", t->cmd, err);
        return rc == MAIL_EINVALID ? IMPORTER_INVALID : IMPORTER_FAILED;
    }
    rc = importer_send_one(t, rec);
    json_decref(rec);
    return rc;
}

/* The state of one CDR import. */
struct cdr_run {
    const struct importer_target *t;
    size_t local_rejected; /* rows refused before sending: unmappable, invalid */
    size_t internal;       /* calls between extensions: skipped */
    size_t withheld;       /* callers who withheld their number: skipped */
};

static void cdr_answer(size_t line, const struct sender_answer *a, void *arg)
{
    struct cdr_run *run = arg;
    if (a->outcome == SENDER_STORED || a->outcome == SENDER_DUPLICATE ||
        a->outcome == SENDER_SPOOLED) {
        return;
    }
    char where[32];
    snprintf(where, sizeof(where), "line %zu", line);
    (void)refused(run->t, where, a);
}

int importer_cdr_row(const struct importer_target *t, const struct cdr_opts *opts,
                     const struct cdr_row *row, const char *where, struct sender *s, size_t tag,
                     char *err, size_t errlen)
{
    json_t *rec = NULL;
    int rc = cdr_row_to_record(row, opts, &rec, err, errlen);
    switch (rc) {
    case CDR_INTERNAL:
        return IMPORTER_ROW_INTERNAL;
    case CDR_ANONYMOUS:
        return IMPORTER_ROW_WITHHELD;
    case CDR_ENOMEM:
        return SENDER_ENOMEM;
    case CDR_ROW:
        if (sender_check(rec, err, errlen) == 0) {
            break;
        }
        /* Refused here as the daemon would refuse it. */
        __attribute__((fallthrough));
    default:
        fprintf(t->err, "%s: %s: %s\n", t->cmd, where, err);
        json_decref(rec);
        return IMPORTER_ROW_REJECTED;
    }
    rc = sender_add(s, rec, tag, err, errlen);
    json_decref(rec);
    return rc < 0 ? rc : IMPORTER_ROW_SENT;
}

void importer_cdr_skipped(char *buf, size_t len, size_t internal, size_t withheld)
{
    int n = 0;
    buf[0] = '\0';
    if (internal > 0) {
        n = snprintf(buf, len, ", %zu skipped (calls between extensions)", internal);
    }
    if (withheld > 0 && n >= 0 && (size_t)n < len) {
        snprintf(buf + n, len - (size_t)n, ", %zu skipped (the caller withheld the number)",
                 withheld);
    }
}

/*
 * Prints the summary of an import over s: "N stored, D duplicate, R rejected", skipped (a
 * clause of its own, ", 3 skipped (...)", or ""), and what else happened. Returns the exit
 * status: status when it is not IMPORTER_OK already, else what the answers call for.
 */
static int summarize(const struct importer_target *t, const struct sender *s, size_t local_rejected,
                     const char *skipped, int status)
{
    const struct sender_counts *c = sender_counts(s);
    size_t rejected = local_rejected + c->rejected;
    size_t unanswered = sender_unanswered(s);
    fprintf(t->out, "%zu stored, %zu duplicate, %zu rejected", c->stored + c->spooled, c->duplicate,
            rejected);
    if (c->spooled > 0) {
        fprintf(t->out, ", %zu of them spooled until the database is back", c->spooled);
    }
    fputs(skipped, t->out);
    if (c->forbidden > 0) {
        fprintf(t->out, ", %zu forbidden", c->forbidden);
    }
    if (c->unavailable > 0) {
        fprintf(t->out, ", %zu unavailable", c->unavailable);
    }
    if (c->unknown > 0) {
        fprintf(t->out, ", %zu with an answer not understood", c->unknown);
    }
    if (unanswered > 0) {
        fprintf(t->out, ", %zu not acknowledged (importing again is safe)", unanswered);
    }
    fprintf(t->out, "\n");
    fflush(t->out);
    if (status == IMPORTER_OK) {
        if (c->forbidden > 0 || c->unavailable > 0 || c->unknown > 0) {
            status = IMPORTER_FAILED;
        } else if (rejected > 0) {
            status = IMPORTER_INVALID;
        }
    }
    return status;
}

/* Fills st for a progress line from the sender's counts. */
static void progress_fill(struct progress_state *st, const struct sender *s, size_t sent,
                          size_t local_rejected)
{
    const struct sender_counts *c = sender_counts(s);
    st->sent = sent;
    st->stored = c->stored + c->spooled;
    st->duplicate = c->duplicate;
    st->rejected = c->rejected + local_rejected;
}

/* The file's bytes: mapped when it is a regular file, read when it is a pipe or stdin. */
struct input {
    char *data;
    size_t len;
    bool mapped;
};

static int input_open(struct input *in, const char *path, char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    if (strcmp(path, "-") == 0) {
        in->data = read_all(stdin, CSV_STDIN_MAX, &in->len, err, errlen);
        return in->data != NULL ? 0 : -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode)) {
        in->len = (size_t)st.st_size;
        if (in->len > 0) {
            void *p = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                goto out;
            }
            in->data = p;
            in->mapped = true;
        }
        rc = 0;
        goto out;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1; /* the FILE owns it now */
    in->data = read_all(f, CSV_STDIN_MAX, &in->len, err, errlen);
    fclose(f);
    rc = in->data != NULL ? 0 : -1;
out:
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

static void input_close(struct input *in)
{
    if (in->mapped) {
        munmap(in->data, in->len);
    } else {
        free(in->data);
    }
    memset(in, 0, sizeof(*in));
}

int importer_cdr(const struct importer_target *t, const struct cdr_opts *opts, const char *path)
{
    char err[512];
    struct input in;
    if (input_open(&in, path, err, sizeof(err)) < 0) {
        fprintf(t->err, "%s: %s\n", t->cmd, err);
        return IMPORTER_INVALID;
    }
    struct cdr_run run = {.t = t};
    struct sender *s = NULL;
    struct cdr_row row = {0};
    struct progress *pg = NULL;
    struct progress_state ps = {.total = in.len};
    size_t sent = 0;
    int status = IMPORTER_OK;
    int rc = sender_open(t->addr, t->token, t->cacert, cdr_answer, &run, &s, err, sizeof(err));
    if (rc < 0) {
        status = sender_failed(t, rc, err);
        goto out;
    }
    pg = progress_new(t->err);
    struct cdr_reader r;
    cdr_reader_init(&r, in.data != NULL ? in.data : "", in.len);
    for (;;) {
        if (pg != NULL) {
            progress_fill(&ps, s, sent, run.local_rejected);
            ps.done = r.pos;
            progress_update(pg, &ps, 0);
        }
        rc = cdr_reader_next(&r, &row, err, sizeof(err));
        if (rc == CDR_END) {
            break;
        }
        if (rc == CDR_ENOMEM) {
            fprintf(t->err, "%s: out of memory\n", t->cmd);
            status = IMPORTER_FAILED;
            goto summary;
        }
        char where[32];
        snprintf(where, sizeof(where), "line %zu", row.line);
        if (rc != CDR_ROW) {
            fprintf(t->err, "%s: %s: %s\n", t->cmd, where, err);
            run.local_rejected++;
            continue;
        }
        rc = importer_cdr_row(t, opts, &row, where, s, row.line, err, sizeof(err));
        switch (rc) {
        case IMPORTER_ROW_SENT:
            sent++;
            break;
        case IMPORTER_ROW_INTERNAL:
            run.internal++;
            break;
        case IMPORTER_ROW_WITHHELD:
            run.withheld++;
            break;
        case IMPORTER_ROW_REJECTED:
            run.local_rejected++;
            break;
        default:
            status = sender_failed(t, rc, err);
            goto summary;
        }
    }
    rc = sender_close(s, err, sizeof(err));
    if (rc < 0) {
        status = sender_failed(t, rc, err);
    }

summary:
    if (pg != NULL) {
        progress_fill(&ps, s, sent, run.local_rejected);
        ps.done = r.pos;
        progress_update(pg, &ps, 1);
        progress_end(pg);
    }
    char skipped[128];
    importer_cdr_skipped(skipped, sizeof(skipped), run.internal, run.withheld);
    status = summarize(t, s, run.local_rejected, skipped, status);
out:
    cdr_row_free(&row);
    sender_free(s);
    input_close(&in);
    return status;
}

/* The state of one Maildir import. */
struct maildir_run {
    const struct importer_target *t;
    char **names; /* the messages' paths, sorted; the sender's tags index them */
    size_t n, cap;
};

static void maildir_answer(size_t i, const struct sender_answer *a, void *arg)
{
    struct maildir_run *run = arg;
    if (a->outcome == SENDER_STORED || a->outcome == SENDER_DUPLICATE ||
        a->outcome == SENDER_SPOOLED) {
        return;
    }
    (void)refused(run->t, run->names[i], a);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the messages of dir/sub (files not starting with '.') to run->names. */
static int list_messages(struct maildir_run *run, const char *dir, const char *sub, char *err,
                         size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL) {
        errmsg_set(err, errlen, "%s: %s (a Maildir has new/ and cur/)", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (run->n == run->cap) {
            size_t cap = run->cap == 0 ? 256 : run->cap * 2;
            char **p = realloc(run->names, cap * sizeof(*p));
            if (p == NULL) {
                rc = -1;
                break;
            }
            run->names = p;
            run->cap = cap;
        }
        if (asprintf(&run->names[run->n], "%s/%s", path, e->d_name) < 0) {
            rc = -1;
            break;
        }
        run->n++;
    }
    closedir(d);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
    }
    return rc;
}

int importer_maildir(const struct importer_target *t, const struct mail_opts *opts, const char *dir)
{
    char err[512];
    struct maildir_run run = {.t = t};
    struct sender *s = NULL;
    struct progress *pg = NULL;
    struct progress_state ps = {0};
    size_t sent = 0, local_rejected = 0, internal = 0, i = 0;
    int status = IMPORTER_OK;
    if (list_messages(&run, dir, "new", err, sizeof(err)) < 0 ||
        list_messages(&run, dir, "cur", err, sizeof(err)) < 0) {
        fprintf(t->err, "%s: %s\n", t->cmd, err);
        status = IMPORTER_INVALID;
        goto out;
    }
    /* In name order: Maildir names begin with the delivery time. */
    qsort(run.names, run.n, sizeof(*run.names), by_name);
    int rc = sender_open(t->addr, t->token, t->cacert, maildir_answer, &run, &s, err, sizeof(err));
    if (rc < 0) {
        status = sender_failed(t, rc, err);
        goto out;
    }
    pg = progress_new(t->err);
    ps.total = run.n;
    for (i = 0; i < run.n; i++) {
        if (pg != NULL) {
            progress_fill(&ps, s, sent, local_rejected);
            ps.done = i;
            progress_update(pg, &ps, 0);
        }
        FILE *in = fopen(run.names[i], "rb");
        size_t len = 0;
        char *msg = NULL;
        if (in == NULL) {
            snprintf(err, sizeof(err), "%s", strerror(errno));
        } else {
            msg = read_all(in, IMPORTER_MAIL_MAX, &len, err, sizeof(err));
            fclose(in);
        }
        if (msg == NULL) {
            if (in == NULL && errno == ENOENT) {
                continue; /* moved from new/ to cur/ by a mail reader meanwhile: listed there
                             too, or read already */
            }
            fprintf(t->err, "%s: %s: %s\n", t->cmd, run.names[i], err);
            local_rejected++;
            continue;
        }
        json_t *rec = NULL;
        rc = mail_to_record(msg, len, opts, &rec, err, sizeof(err));
        free(msg);
        if (rc == MAIL_ENOMEM) {
            fprintf(t->err, "%s: out of memory\n", t->cmd);
            status = IMPORTER_FAILED;
            goto summary;
        }
        if (rc == MAIL_EINTERNAL) {
            internal++;
            continue;
        }
        if (rc == 0 && sender_check(rec, err, sizeof(err)) < 0) {
            rc = MAIL_EINVALID;
        }
        if (rc < 0) {
            fprintf(t->err, "%s: %s: %s\n", t->cmd, run.names[i], err);
            local_rejected++;
            json_decref(rec);
            continue;
        }
        rc = sender_add(s, rec, i, err, sizeof(err));
        json_decref(rec);
        if (rc < 0) {
            status = sender_failed(t, rc, err);
            goto summary;
        }
        sent++;
    }
    rc = sender_close(s, err, sizeof(err));
    if (rc < 0) {
        status = sender_failed(t, rc, err);
    }
summary:
    if (pg != NULL) {
        progress_fill(&ps, s, sent, local_rejected);
        ps.done = i;
        progress_update(pg, &ps, 1);
        progress_end(pg);
    }
    char skipped[64] = "";
    if (internal > 0) {
        snprintf(skipped, sizeof(skipped), ", %zu skipped (within the company)", internal);
    }
    status = summarize(t, s, local_rejected, skipped, status);
out:
    sender_free(s);
    for (size_t k = 0; k < run.n; k++) {
        free(run.names[k]);
    }
    free(run.names);
    return status;
}
