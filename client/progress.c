#include "progress.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netconn.h"

struct progress {
    FILE *tty;
    long long start_ms;
    long long drawn_ms; /* when last drawn; -1: never */
};

struct progress *progress_new(FILE *tty)
{
    const char *term = getenv("TERM");
    if (tty == NULL || !isatty(fileno(tty)) || (term != NULL && strcmp(term, "dumb") == 0)) {
        return NULL;
    }
    struct progress *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->tty = tty;
    p->start_ms = netconn_now_ms();
    p->drawn_ms = -1;
    return p;
}

/* Appends to buf at *at (snprintf's way: *at may pass len, nothing is written past it). */
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*at < len ? buf + *at : NULL, *at < len ? len - *at : 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *at += (size_t)n;
    }
}

size_t progress_format(char *buf, size_t len, const struct progress_state *st)
{
    size_t at = 0;
    if (len > 0) {
        buf[0] = '\0';
    }
    put(buf, len, &at, "%llu sent", (unsigned long long)st->sent);
    if (st->elapsed_ms >= 1000) {
        put(buf, len, &at, ", %llu/s",
            (unsigned long long)(st->sent * 1000 / (uint64_t)st->elapsed_ms));
    }
    put(buf, len, &at, ": %llu stored, %llu duplicate, %llu rejected",
        (unsigned long long)st->stored, (unsigned long long)st->duplicate,
        (unsigned long long)st->rejected);
    if (st->total > 0) {
        uint64_t done = st->done < st->total ? st->done : st->total;
        put(buf, len, &at, "; %llu%%", (unsigned long long)(done * 100 / st->total));
        /* The time left at the pace so far, once there is a pace to speak of. */
        if (done > 0 && done < st->total && st->elapsed_ms >= 1000) {
            double left_s =
                (double)st->elapsed_ms / 1000.0 * (double)(st->total - done) / (double)done;
            unsigned long long s = (unsigned long long)(left_s + 0.5);
            if (s >= 3600) {
                put(buf, len, &at, ", %llu:%02llu:%02llu left", s / 3600, s / 60 % 60, s % 60);
            } else {
                put(buf, len, &at, ", %llu:%02llu left", s / 60, s % 60);
            }
        }
    }
    return at < len ? at : (len > 0 ? len - 1 : 0);
}

void progress_update(struct progress *p, struct progress_state *st, int force)
{
    if (p == NULL) {
        return;
    }
    long long now = netconn_now_ms();
    if (!force && p->drawn_ms >= 0 && now - p->drawn_ms < PROGRESS_REDRAW_MS) {
        return;
    }
    st->elapsed_ms = now - p->start_ms;
    char line[256];
    progress_format(line, sizeof(line), st);
    /* Erase to the end of the line: the previous drawing may have been longer. */
    fprintf(p->tty, "\r%s\033[K", line);
    fflush(p->tty);
    p->drawn_ms = now;
}

void progress_end(struct progress *p)
{
    if (p == NULL) {
        return;
    }
    if (p->drawn_ms >= 0) {
        fprintf(p->tty, "\r\033[K");
        fflush(p->tty);
    }
    free(p);
}
