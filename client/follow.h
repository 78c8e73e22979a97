/*
 * `touchline import cdr --follow FILE`: Asterisk's Master.csv read as Asterisk appends to it,
 * each complete row sent to the daemon as importer_cdr sends it, for as long as the process
 * runs (beside Asterisk, as a systemd unit).
 *
 * What it guarantees:
 * - Only complete rows are sent: a row is complete at a line break outside quotes, so a line
 *   Asterisk is still writing waits for its end.
 * - The position is kept in a state file (device, inode, byte offset, line) written aside,
 *   fsynced and renamed over the old one, and it only ever names a row whose record the
 *   daemon acknowledged (or that was skipped or rejected): a restart resumes at the first
 *   row not yet acknowledged, so it skips nothing and resends nothing acknowledged.
 * - tail -F's view of the file: renamed away and replaced (logrotate), the rest of the old
 *   file is read and acknowledged before the new one is started; truncated in place
 *   (copytruncate), it is read again from its start. A file replaced while the follower was
 *   stopped is looked for beside the new one (Master.csv.1, Master.csv-20261206...) by its
 *   inode, and its unread rest is sent first.
 * - The daemon unreachable, restarting or answering `unavailable`: the follower reconnects
 *   with a growing pause (1 s to 30 s) and resends from the first unacknowledged row (the
 *   daemon absorbs what was stored already as duplicates). A connection the daemon closes
 *   while nothing is in flight (its idle timeout) is replaced at once.
 * - SIGTERM or SIGINT: no new row is read, the answers to what was sent are awaited (at most
 *   FOLLOW_DRAIN_MS), the state saved, a last status printed, and it exits 0.
 *
 * New lines are noticed through inotify on the file's directory (within milliseconds), with
 * a check every second besides. A status line goes to t->out every status_interval seconds.
 */
#ifndef TOUCHLINE_FOLLOW_H
#define TOUCHLINE_FOLLOW_H

#include <stdbool.h>

#include "cdr.h"
#include "importer.h"

/* The longest wait for the answers in flight when stopping. */
#define FOLLOW_DRAIN_MS 10000
/* Default seconds between status lines. */
#define FOLLOW_STATUS_INTERVAL 60
/* The state file's name when none is given: FILE and this suffix. */
#define FOLLOW_STATE_SUFFIX ".touchline-state"

struct follow_opts {
    const char *path;           /* the Master.csv followed (borrowed) */
    const char *state_path;     /* NULL: path FOLLOW_STATE_SUFFIX */
    bool from_end;              /* without a state file, start at the end, not the start */
    unsigned status_interval_s; /* 0: no periodic status line */
};

/*
 * Follows fo->path until SIGTERM or SIGINT (which it blocks and takes through a signalfd).
 * Returns IMPORTER_OK after a clean stop, IMPORTER_INVALID when the file or the state file
 * cannot be used, IMPORTER_FAILED when the daemon refuses the token or the source (retrying
 * would not help).
 */
int follow_cdr(const struct importer_target *t, const struct cdr_opts *co,
               const struct follow_opts *fo);

#endif
