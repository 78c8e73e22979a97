/*
 * The service manager's notification protocol (systemd's sd_notify, without libsystemd):
 * when the daemon is started with NOTIFY_SOCKET in its environment (systemd's Type=notify
 * does that), it tells the manager "READY=1" once it serves, "RELOADING=1" and then
 * "READY=1" around a SIGHUP reload, and "STOPPING=1" when it starts to drain. A message is
 * one datagram of "KEY=VALUE" lines to the unix socket NOTIFY_SOCKET names: an absolute path,
 * or a name in the abstract namespace when it starts with '@'. Without NOTIFY_SOCKET every
 * call does nothing, so the daemon behaves the same by hand, in a container and in tests.
 */
#ifndef TOUCHLINED_NOTIFY_H
#define TOUCHLINED_NOTIFY_H

#include <stdbool.h>

/* True when NOTIFY_SOCKET is set, i.e. a service manager waits for our messages. */
bool notify_enabled(void);

/*
 * Formats one message (printf-style; lines separated by '\n') and sends it as one datagram.
 * Returns 1 when sent, 0 when NOTIFY_SOCKET is unset (nothing to do), -1 when it could not be
 * sent: the reason is logged here as a warning, since the manager notices a missing READY=1
 * by itself and the daemon has nothing else to do about it. Opens and closes its own socket,
 * so it keeps no state; callable from callbacks.
 */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Sends "RELOADING=1" with the MONOTONIC_USEC newer systemd versions want with it. Returns
 * as notify_send() does.
 */
int notify_reloading(void);

#endif
