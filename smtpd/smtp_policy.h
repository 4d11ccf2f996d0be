/* smtp_policy.h: relay-smtpd's client of relay-policy (run/policy.sock):
 * one connection per process, kept from one session to the next (each
 * session starts with phase=connect, which makes policy forget the last
 * one), one request frame, one reply frame (ARCHITECTURE.md,
 * "relay-smtpd <-> relay-policy"). */
#ifndef SMTP_POLICY_H
#define SMTP_POLICY_H

#include <stddef.h>

#include "addr.h"
#include "admit.h"
#include "kv.h"
#include "ns.h"

enum smtp_action { SMTP_ACCEPT, SMTP_REJECT, SMTP_TEMPFAIL };

/* relay-policy's proof for relay-queue with an accepted DATA, and the
 * provenance it covers, exactly as policy sent them (lib/admit.h). */
struct smtp_admit {
	char proof[ADMIT_PROOF_MAX]; /* "" when policy gave none */
	char ip[64], helo[256], auth[256], customer[128];
	char registered[256]; /* the sender, when policy knows it registered */
	char null_sender[8];  /* ADMIT_WIRE_YES: the client's sender was <> */
	char helo_named[8];   /* ADMIT_WIRE_YES: the HELO named the customer */
};

struct smtp_verdict {
	enum smtp_action action;
	int code;             /* 0 when policy gave none */
	char esc[16];
	char text[400];
	char from[ADDR_MAX + 1]; /* mail: rewritten sender (has_from) */
	int has_from;
	char customer[128];   /* mail */
	char user[256];       /* auth: the verified identity */
	struct smtp_admit admit; /* data */
};

/* Requests whose reply is always action=accept and changes nothing
 * (connect, helo, tls, commit, reset) cost no round trip of their own: a
 * held one goes out in the same write as the next request, a told one at
 * once; they carry noreply=1, so policy answers none of them.  A verdict
 * posted and then not asked for (a DATA whose message never ended) is
 * owed: read, in order, before the next verdict. */
#define SMTP_POLICY_HELD 768

struct pollfd;

struct smtp_policy {
	int fd;               /* -1 when not connected; non-blocking */
	int timeout_ms;
	struct ns_reader rd;
	char held[SMTP_POLICY_HELD]; /* encoded frames not sent yet */
	size_t heldlen;
	int heldn;            /* how many frames held */
	int owed;             /* replies to frames sent, not read yet */
	int aged;             /* of them, owed before the last write: they
				 had time to come */
	int posted;           /* the verdict after them is wanted */
	int attach;           /* the client's socket, to go with the held
				 frames (phase=connect), or -1 */
};

/* Connect to path; -1 when policy is not there. */
int smtp_policy_open(struct smtp_policy *p, const char *path,
		     int timeout_ms);
void smtp_policy_close(struct smtp_policy *p);

/* Send req (its "phase=" first), read the verdict.  -1 when policy is
 * unreachable, times out or answers garbage (the connection is then
 * closed and every later call fails too). */
int smtp_policy_ask(struct smtp_policy *p, struct kv *req,
		    struct smtp_verdict *v);
/* smtp_policy_ask in two halves, for a verdict that can wait while
 * smtpd does something else (DATA: the message is read meanwhile):
 * post sends req, verdict reads its answer (a read first: it had time to
 * come; then a wait).  Nothing else may be sent in between (it would
 * turn the verdict into an owed reply). */
int smtp_policy_post(struct smtp_policy *p, struct kv *req);
int smtp_policy_verdict(struct smtp_policy *p, struct smtp_verdict *v);

/* Send req (noreply=1 added) without a reply: hold = 1 keeps it until
 * the next request (the two go out in one write), hold = 0 sends it now
 * (it must reach policy before anything else happens: commit).  Only for
 * phases whose reply is always accept.  -1 when it could not be sent
 * (the connection is then closed). */
int smtp_policy_tell(struct smtp_policy *p, struct kv *req, int hold);

/* The client's socket goes with the next write (attached to the held
 * phase=connect, SCM_RIGHTS): policy learns the client's address from
 * the kernel, not from smtpd's word.  Forgotten with the held frames. */
void smtp_policy_attach(struct smtp_policy *p, int client_fd);

/* Whether the connection's peer is still there (one poll, no wait): 0
 * when policy closed it (restarted since), 1 otherwise.  Replies owed
 * are left to be read before the next verdict. */
int smtp_policy_alive(struct smtp_policy *p);
/* The same from a poll the caller made (with other fds: one system call
 * for all): pf polled p->fd for POLLRDHUP, polled is poll's result.
 * 1 when the peer left. */
int smtp_policy_peer_left(const struct smtp_policy *p,
			  const struct pollfd *pf, int polled);

/* At the end of the process: read the replies still owed, then close
 * (closing with bytes unread is a reset, which policy logs as an error). */
void smtp_policy_quit(struct smtp_policy *p);

/* A session among many in one process (smtp_session_serve) ends: its
 * connection, once every owed reply is read, is kept for the process's
 * next session (at most 32 kept); one out of step is closed.  p is
 * closed either way.  unpark gives p a kept one (the caller looks
 * whether policy is still at its end before using it); -1: none kept,
 * p closed. */
void smtp_policy_park(struct smtp_policy *p);
int smtp_policy_unpark(struct smtp_policy *p, int timeout_ms);

/* Drop held requests that were never sent (a session that ended before
 * its next request: the next one starts with phase=connect anyway). */
void smtp_policy_forget(struct smtp_policy *p);

/* Parse a reply payload into v (pure; unit tested).  -1 on garbage. */
int smtp_policy_parse(char *payload, size_t len, struct smtp_verdict *v);

/* Fill a missing code/esc/text from defaults ("250", "2.1.0", "Ok"). */
void smtp_policy_defaults(struct smtp_verdict *v, int code, const char *esc,
			  const char *text);

#endif
