/* sendlock.h: one relay-send per queue.  Two schedulers on one queue
 * would deliver every message twice, so relay-send holds an exclusive
 * flock(2) on QUEUE/SENDLOCK_NAME for its whole life, with its pid
 * written in the file; a second relay-send, or a relay-master about to
 * start one, finds it taken and names that pid.  The lock goes with the
 * last descriptor of it: a process that dies, however, leaves it. */
#ifndef SENDLOCK_H
#define SENDLOCK_H

#define SENDLOCK_NAME "send.lock"

/* relay-send: take it (the file is created, mode 0640, when missing)
 * and keep it until exit.  0; -1 when another process holds it, with
 * *holder the pid written in the file (0 when unknown); -2 on another
 * failure, errno set. */
int sendlock_take(const char *queue_dir, long *holder);
/* In a child forked without exec: close our descriptor of it (closing,
 * not unlocking, which would free it for relay-send too). */
void sendlock_forget(void);
/* Who holds it, without keeping it: 0 when nobody (or no file), else
 * the pid written in it, -1 when that is unknown. */
long sendlock_holder(const char *queue_dir);

#endif
