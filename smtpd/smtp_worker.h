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

#include <stddef.h>

struct kv_msg;
struct listen_sock;

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

/* Set up from the control socket ctl, then serve connections until
 * retired; returns the exit status. */
int smtp_worker_run(int ctl);

#endif
