/* notify.h: readiness and liveness from a daemon to relay-master.
 * relay-master hands each daemon (relay-metrics too) the write end of a
 * pipe on NOTIFY_FD and names it in NOTIFY_ENV.  The daemon writes one newline
 * there once it serves (past the checks of its start; relay-listen:
 * after binding and listening on every address), before it forks, as
 * s6's notification-fd: the byte, not a text, is the message; end of
 * file without it means "not ready".  It then keeps the pipe, and its
 * main loop writes one more byte at most every NOTIFY_BEAT_MS (a
 * heartbeat): relay-master kills and restarts a daemon it has not heard
 * from for daemon_hang_timeout seconds (relay.conf, ctl/master_watch.c). */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stddef.h>

#define NOTIFY_FD 4
#define NOTIFY_ENV "RELAYBOX_NOTIFY_FD"

/* The longest a daemon's main loop waits before it calls notify_beat
 * again, and the shortest time between two bytes it writes: an idle
 * daemon is heard from at least every 2 * NOTIFY_BEAT_MS. */
#define NOTIFY_BEAT_MS 1000
/* The smallest daemon_hang_timeout (seconds) besides 0 (off): above the
 * idle gap between two beats, with a second to spare. */
#define NOTIFY_HANG_MIN 3

/* In the child between fork and exec: put fd on NOTIFY_FD and name it
 * in the environment; 0, or -1 on failure. */
int notify_pass(int fd);
/* In the daemon at start: take the descriptor NOTIFY_ENV names (and
 * drop the name, so no program it runs finds it), keep it from its own
 * children (close-on-exec, closed in a forked child at once) and never
 * block on it.  Nothing when NOTIFY_ENV is not set, e.g. run by hand. */
void notify_keep_private(void);
/* In the daemon: tell the supervisor it serves (once). */
void notify_ready(void);
/* In the daemon's main loop, once per round: a byte when the last one
 * is NOTIFY_BEAT_MS old.  Never blocks: a full pipe means the
 * supervisor is behind, and it has bytes to read. */
void notify_beat(void);
/* A bounded wait of a main loop that may be longer than
 * daemon_hang_timeout: poll fd for events until deadline (monotime_ms),
 * NOTIFY_BEAT_MS at a time, beating between.  0 when it is ready, or -1
 * with errno (ETIMEDOUT at the deadline). */
int notify_wait_fd(int fd, short events, long long deadline);
/* All of buf into the non-blocking fd by deadline, waiting with
 * notify_wait_fd: 0, or -1 with errno (EPIPE: the reader is gone; the
 * caller ignores SIGPIPE). */
int notify_write_fd(int fd, const char *buf, size_t len, long long deadline);

#endif
