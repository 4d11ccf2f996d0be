/* runsock.h: the daemons' sockets in run/, named once.  Each entry says
 * which socket a daemon listens on and which uid must be listening on
 * it: relay-master (readiness, clean-up), every daemon that listens or
 * connects, and relayctl go through here.
 *
 * run/ belongs to root and nobody else may create a name in it
 * (ctl/master_layout.c): a daemon binds its socket while still root,
 * then drops privileges and calls runsock_listening(), so that the
 * socket's credentials (SO_PEERCRED, as a client sees them) name the
 * daemon's uid.  runsock_connect() checks them: a client talks only to
 * the uid that should be listening (or root), never to a stranger who
 * got a socket there by some other way. */
#ifndef RUNSOCK_H
#define RUNSOCK_H

#include <stddef.h>

enum runsock {
	RUNSOCK_POLICY,         /* relay-policy, user_policy */
	RUNSOCK_QUEUE,          /* relay-queue -l, user_queue */
	RUNSOCK_REMOTE,         /* relay-remote, user_remote */
	RUNSOCK_COUNT
};

#define RUNSOCK_POLICY_NAME "policy.sock"
#define RUNSOCK_QUEUE_NAME "queue.sock"
#define RUNSOCK_REMOTE_NAME "remote.sock"

/* "policy.sock" */
const char *runsock_name(enum runsock s);
/* cf.run_dir/<name> into buf; -1 when it does not fit. */
int runsock_path(enum runsock s, char *buf, size_t n);
/* Bind run/<name> (mode 0666: the listener checks each peer's uid) and
 * listen; path gets the path for the log.  Call as root, before
 * privs_drop.  -1 with errno on failure. */
int runsock_listen(enum runsock s, char *path, size_t n);
/* After privs_drop: listen again, which makes the credentials that
 * connecting clients read (SO_PEERCRED) those of this uid. */
int runsock_listening(int lfd);
/* Connect to path (run/<name>, or a test's stand-in) and check who
 * listens: root, or the daemon's uid (the socket folder's owner when
 * that is not root: a developer's instance, where every part runs as
 * the developer).  Anyone else: a warning naming the uid, errno EPERM,
 * -1.  -1 with errno when nobody listens. */
int runsock_connect(enum runsock s, const char *path);
/* The same in a coroutine (relay-smtpd's sessions): a daemon whose
 * backlog is full (stopped, or slow to accept) is waited for without
 * holding up the other coroutines, at most timeout_ms
 * (usock_connect_for); the socket comes back non-blocking then. */
int runsock_connect_for(enum runsock s, const char *path, int timeout_ms);

#endif
