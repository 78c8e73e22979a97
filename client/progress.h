/*
 * The progress line of a long import (`touchline import cdr FILE`, `import mail --maildir`)
 * on a terminal: records sent, their rate, what the daemon answered so far, and how far
 * through the input, with the time left, when its size is known. Redrawn in place ("\r",
 * erase to the end of the line) at most PROGRESS_REDRAW_MS apart, and erased at the end, so
 * that what stays on the screen is the command's summary. Nothing is drawn when the stream is
 * not a terminal: piped or logged output stays as it was.
 */
#ifndef TOUCHLINE_PROGRESS_H
#define TOUCHLINE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define PROGRESS_REDRAW_MS 200

/* What a progress line shows. */
struct progress_state {
    uint64_t sent;              /* records sent */
    uint64_t stored, duplicate; /* answered so far (spooled counts as stored) */
    uint64_t rejected;          /* by the daemon or before sending */
    uint64_t done, total;       /* input consumed, of total (same unit); total 0: unknown */
    long long elapsed_ms;       /* since the start */
};

struct progress;

/*
 * A progress line on tty (borrowed), or NULL when tty is not a terminal or TERM is "dumb":
 * every progress_* call accepts NULL and then does nothing. Returns NULL when out of memory
 * too (a progress line is not worth failing an import for).
 */
struct progress *progress_new(FILE *tty);

/*
 * Redraws the line with st (elapsed_ms is filled in) when PROGRESS_REDRAW_MS passed since the
 * last drawing, or when force is set.
 */
void progress_update(struct progress *p, struct progress_state *st, int force);

/* Erases the line and frees p; NULL is fine. */
void progress_end(struct progress *p);

/*
 * Writes the text of the line for st into buf (always NUL-terminated when len > 0), e.g.
 * "1200 sent, 3400/s: 1100 stored, 90 duplicate, 10 rejected; 35%, 0:12 left". Returns its
 * length.
 */
size_t progress_format(char *buf, size_t len, const struct progress_state *st);

#endif
