/* smtp_worker.h: relay-smtpd as a long-lived pool worker of relay-listen
 * (relay-smtpd -w).  At start relay-listen sends on the control socket
 * (fd 0) the workers' shared cap table and its listening sockets (frames
 * with the descriptors attached, see ARCHITECTURE.md); from then on the
 * worker accepts connections itself, one session at a time, so no
 * connection costs a hop through relay-listen.  The caps stay exact: a
 * connection is served only after its claim in the shared table
 * (listen_slots.h).  The worker exits after cf.smtpd_max_use sessions,
 * when relay-listen closes the control socket (retired), and when
 * relay-listen dies (it then drops the listening sockets at once, so
 * that a restarted relay-listen can bind them, and ends any session it
 * is serving first). */
#ifndef SMTP_WORKER_H
#define SMTP_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "listen_caps.h"
#include "listen_slots.h"
#include "listen_sock.h"

struct kv_msg;

/* The worker writes this byte to the control socket when a claim left
 * fewer idle workers than cf.smtpd_workers_min: relay-listen starts
 * more. */
#define SMTP_WORKER_LOW 'l'

/* The set-up frames relay-listen sends, defined once for both sides:
 * op=pool (the cap table attached) with the worker's slot, the idle
 * minimum and the number of listeners; then one op=listener (its socket
 * attached) per listener. */
#define SMTP_WORKER_OP "op"
#define SMTP_WORKER_OP_POOL "pool"
#define SMTP_WORKER_SLOT "slot"
#define SMTP_WORKER_IDLE_MIN "idle_min"
#define SMTP_WORKER_LISTENERS "listeners"
#define SMTP_WORKER_OP_LISTENER "listener"
#define SMTP_WORKER_TLS "tls"             /* "1": implicit TLS */
#define SMTP_WORKER_FIXED "fixed"         /* "1": bound to one address */
#define SMTP_WORKER_LOCALIP "localip"     /* with fixed=1 */
#define SMTP_WORKER_LOCALPORT "localport" /* with fixed=1 */
#define SMTP_WORKER_NAME "name"

/* A listener from an "op=listener" frame (its fd not set here); -1 when
 * the frame is not one (pure; unit tested). */
int smtp_worker_listener(const struct kv_msg *m, struct listen_sock *ls);

/* The worker's state (for smtp_worker*.c). */
struct worker {
	int ctl, ep;
	struct listen_slots *slots;
	size_t slot;
	size_t idle_min;     /* relay-listen's cf.smtpd_workers_min */
	struct listen_sock ls[LISTEN_SOCK_MAX];
	size_t n;
	long uses;
	pid_t pid;           /* ours, for the log */
	int multi;           /* sessions as coroutines (smtp_worker_multi.c) */
	long open;           /* sessions open now (multi) */
};

/* Accept on listener i (flags for accept4 beside SOCK_CLOEXEC): the
 * client's fd with p and ip filled, or -1 (none waiting). */
int smtp_worker_take(struct worker *w, size_t i, int flags,
		     struct listen_peer *p, struct ipaddr *ip);
/* Count and log the caps' verdict v on a connection from p on listener
 * i: NULL when it is served, else the text to refuse it with. */
const char *smtp_worker_verdict(struct worker *w, size_t i,
				const struct listen_peer *p,
				enum listen_caps_verdict v,
				const struct listen_slots_seen *seen);
/* 1 when the control socket says relay-listen retired us (EOF). */
int smtp_worker_ctl(struct worker *w);
/* Serve up to cf.smtpd_sessions_per_worker sessions at once, each a
 * coroutine, until retired, orphaned (*orphaned set by the signal
 * handler) or cf.smtpd_max_use sessions were served; the exit status. */
int smtp_worker_multi(struct worker *w, volatile sig_atomic_t *orphaned);

/* Set up from the control socket ctl, then serve connections until
 * retired; returns the exit status. */
int smtp_worker_run(int ctl);

#endif
