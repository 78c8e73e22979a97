/*
 * The daemon: the one place that wires the modules together. It owns the event loop, the
 * configuration, the database pool, the batcher, the deliverer, the spool and the listeners,
 * hands each module its collaborators in its constructor, and keeps its own state private.
 * Signals arrive as events: SIGTERM/SIGINT drain and stop, SIGHUP reloads.
 */
#ifndef TOUCHLINED_DAEMON_H
#define TOUCHLINED_DAEMON_H

#include "config.h"

struct daemon;

/*
 * Sets up everything from cfg (takes ownership of its contents; cfg is left empty):
 * migrations, database pool, spool, listeners. Returns the daemon, or NULL with the reason
 * logged (everything it had set up is freed).
 */
struct daemon *daemon_new(struct config *cfg) __attribute__((warn_unused_result));

/* Runs the loop until drained after SIGTERM/SIGINT. Returns the exit code. */
int daemon_run(struct daemon *d);

/* Frees everything. NULL is fine. */
void daemon_free(struct daemon *d);

#endif
