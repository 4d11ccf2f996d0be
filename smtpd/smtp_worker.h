/* smtp_worker.h: relay-smtpd as a long-lived pool worker of relay-listen
 * (relay-smtpd -w): sessions arrive one after another on the control
 * socket (fd 0) as a frame with the client socket attached (SCM_RIGHTS),
 * and each one ends with a "done" frame back, so relay-listen's caps stay
 * exact.  The frames are documented in ARCHITECTURE.md. */
#ifndef SMTP_WORKER_H
#define SMTP_WORKER_H

#include <stddef.h>

struct smtp_peer;
struct kv_msg;

/* The frame the worker writes back after each session ("op=done"). */
#define SMTP_WORKER_DONE "8:op=done\n,"

/* Take the session's facts from a parsed "op=session" frame; -1 when
 * it is not one (pure; unit tested). */
int smtp_worker_peer(const struct kv_msg *m, struct smtp_peer *p);

/* Serve sessions from the control socket ctl until it reaches EOF
 * (relay-listen retires the worker); returns the exit status. */
int smtp_worker_run(int ctl);

#endif
