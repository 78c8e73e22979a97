#include "pgconn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgconn {
    struct event_base *base;
    const struct pgconn_ops *ops;
    void *arg;
    PGconn *pg;
    bool connecting;
    struct event *io; /* re-created when the socket or the readiness wanted changes */
    int io_fd;
    short io_what;
    struct event *timer; /* the connect timeout */
    int nulls;           /* consecutive NULL results: two mean nothing more has arrived */
    char error[512];
};

static void on_io(evutil_socket_t fd, short what, void *arg);

struct pgconn *pgconn_new(struct event_base *base, const struct pgconn_ops *ops, void *arg)
{
    struct pgconn *pc = calloc(1, sizeof(*pc));
    if (pc == NULL) {
        return NULL;
    }
    pc->base = base;
    pc->ops = ops;
    pc->arg = arg;
    return pc;
}

void pgconn_close(struct pgconn *pc)
{
    if (pc->io != NULL) {
        event_free(pc->io);
        pc->io = NULL;
    }
    if (pc->timer != NULL) {
        evtimer_del(pc->timer);
    }
    if (pc->pg != NULL) {
        PQfinish(pc->pg);
        pc->pg = NULL;
    }
    pc->connecting = false;
}

void pgconn_free(struct pgconn *pc)
{
    if (pc == NULL) {
        return;
    }
    pgconn_close(pc);
    if (pc->timer != NULL) {
        event_free(pc->timer);
    }
    free(pc);
}

PGconn *pgconn_pg(const struct pgconn *pc)
{
    return pc->connecting ? NULL : pc->pg;
}

/* Keeps msg on one line: libpq's messages span lines; logs and JSON want one. */
static void set_error(struct pgconn *pc, const char *msg)
{
    snprintf(pc->error, sizeof(pc->error), "%s", msg != NULL ? msg : "");
    for (char *p = pc->error; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }
    size_t n = strlen(pc->error);
    while (n > 0 && pc->error[n - 1] == ' ') {
        pc->error[--n] = '\0';
    }
}

const char *pgconn_error(struct pgconn *pc)
{
    if (pc->pg != NULL) {
        set_error(pc, PQerrorMessage(pc->pg));
    }
    return pc->error;
}

/* Closes, then tells the owner, which may free or restart pc. */
static void lose(struct pgconn *pc, enum pgconn_loss loss, const char *why)
{
    char msg[sizeof(pc->error)];
    snprintf(msg, sizeof(msg), "%s", why != NULL ? why : pgconn_error(pc));
    set_error(pc, msg);
    pgconn_close(pc);
    pc->ops->lost(pc, loss, pc->error, pc->arg);
}

/* Waits for the given readiness on the connection's current socket. */
static int watch(struct pgconn *pc, short what)
{
    int fd = PQsocket(pc->pg);
    if (fd < 0) {
        return -1;
    }
    if (pc->io != NULL && (pc->io_fd != fd || pc->io_what != what)) {
        event_free(pc->io);
        pc->io = NULL;
    }
    if (pc->io == NULL) {
        pc->io = event_new(pc->base, fd, what | EV_PERSIST, on_io, pc);
        if (pc->io == NULL) {
            return -1;
        }
        pc->io_fd = fd;
        pc->io_what = what;
        if (event_add(pc->io, NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pgconn *pc = arg;
    if (pc->connecting) {
        lose(pc, PGCONN_CONNECT_TIMEOUT, "connect timeout");
    }
}

int pgconn_start(struct pgconn *pc, const char *dsn, const char *application_name,
                 int connect_timeout_s, char *err, size_t errlen)
{
    pgconn_close(pc);
    if (pc->timer == NULL && (pc->timer = evtimer_new(pc->base, on_timeout, pc)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *const values[] = {dsn, application_name, timeout, NULL};
    pc->pg = PQconnectStartParams(keys, values, 1);
    if (pc->pg == NULL || PQstatus(pc->pg) == CONNECTION_BAD) {
        set_error(pc, pc->pg != NULL ? PQerrorMessage(pc->pg) : "out of memory");
        snprintf(err, errlen, "%s", pc->error);
        pgconn_close(pc);
        return -1;
    }
    pc->connecting = true;
    /* PQconnectPoll enforces no timeout of its own in this mode. */
    struct timeval tv = {connect_timeout_s, 0};
    evtimer_add(pc->timer, &tv);
    if (watch(pc, EV_WRITE) < 0) {
        snprintf(err, errlen, "cannot watch the database socket");
        pgconn_close(pc);
        return -1;
    }
    return 0;
}

static void poll_connect(struct pgconn *pc)
{
    switch (PQconnectPoll(pc->pg)) {
    case PGRES_POLLING_READING:
        if (watch(pc, EV_READ) < 0) {
            lose(pc, PGCONN_CONNECT_FAILED, "cannot watch the database socket");
        }
        return;
    case PGRES_POLLING_WRITING:
        if (watch(pc, EV_WRITE) < 0) {
            lose(pc, PGCONN_CONNECT_FAILED, "cannot watch the database socket");
        }
        return;
    case PGRES_POLLING_OK:
        evtimer_del(pc->timer);
        pc->connecting = false;
        pc->nulls = 0;
        if (PQsetnonblocking(pc->pg, 1) != 0 || watch(pc, EV_READ) < 0) {
            lose(pc, PGCONN_BROKEN, NULL);
            return;
        }
        pc->ops->connected(pc, pc->arg);
        return;
    case PGRES_POLLING_FAILED:
    case PGRES_POLLING_ACTIVE:
        break;
    }
    lose(pc, PGCONN_CONNECT_FAILED, NULL);
}

int pgconn_flush(struct pgconn *pc)
{
    if (pc->pg == NULL) {
        return -1;
    }
    int f = PQflush(pc->pg);
    if (f < 0 || watch(pc, f == 1 ? EV_READ | EV_WRITE : EV_READ) < 0) {
        return -1;
    }
    return 0;
}

/* Hands over every result that has fully arrived; stops when pc is closed by a callback. */
static void drain(struct pgconn *pc)
{
    while (pc->pg != NULL && !PQisBusy(pc->pg)) {
        PGresult *res = PQgetResult(pc->pg);
        if (res == NULL) {
            /* End of one statement's results; two in a row means nothing more is here
             * (in pipeline mode PQgetResult keeps answering NULL when idle). */
            if (++pc->nulls >= 2) {
                return;
            }
            pc->ops->result(pc, NULL, pc->arg);
            continue;
        }
        /* A Sync is not followed by a NULL: one more NULL means nothing more. */
        pc->nulls = PQresultStatus(res) == PGRES_PIPELINE_SYNC ? 1 : 0;
        pc->ops->result(pc, res, pc->arg);
        PQclear(res);
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct pgconn *pc = arg;
    if (pc->connecting) {
        poll_connect(pc);
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(pc->pg);
        if (f < 0 || (f == 0 && watch(pc, EV_READ) < 0)) {
            lose(pc, PGCONN_BROKEN, NULL);
            return;
        }
    }
    if (!(what & EV_READ)) {
        return;
    }
    if (PQconsumeInput(pc->pg) != 1) {
        lose(pc, PGCONN_BROKEN, NULL);
        return;
    }
    pc->nulls = 0;
    drain(pc);
    /* Notifications come between results, at any time; libpq keeps them until asked. */
    PGnotify *n;
    while (pc->pg != NULL && (n = PQnotifies(pc->pg)) != NULL) {
        if (pc->ops->notified != NULL) {
            pc->ops->notified(pc, n->relname, n->extra, pc->arg);
        }
        PQfreemem(n);
    }
    if (pc->pg == NULL) {
        return;
    }
    if (PQstatus(pc->pg) == CONNECTION_BAD) {
        lose(pc, PGCONN_BROKEN, NULL);
        return;
    }
    /* A callback may have queued more, whose output is still buffered. */
    if (pgconn_flush(pc) < 0) {
        lose(pc, PGCONN_BROKEN, NULL);
    }
}
