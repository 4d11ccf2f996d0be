/* notify.h: readiness notification from a daemon to relay-master.
 * relay-master hands a daemon the write end of a pipe on NOTIFY_FD and
 * names it in NOTIFY_ENV; the daemon writes one newline there once it
 * serves (past the checks of its start; relay-listen: after binding and
 * listening on every address) and closes it, before it forks.  The contract is s6's notification-fd: the byte, not
 * a text, is the message; end of file without it means "not ready". */
#ifndef NOTIFY_H
#define NOTIFY_H

#define NOTIFY_FD 4
#define NOTIFY_ENV "RELAYBOX_NOTIFY_FD"

/* In the child between fork and exec: put fd on NOTIFY_FD and name it
 * in the environment; 0, or -1 on failure. */
int notify_pass(int fd);
/* In the daemon: tell the supervisor it is ready (once; nothing when
 * NOTIFY_ENV is not set, e.g. run by hand). */
void notify_ready(void);
/* In the daemon at start: keep the descriptor from its own children
 * (close-on-exec); a daemon that dies before notify_ready closes it. */
void notify_keep_private(void);

#endif
