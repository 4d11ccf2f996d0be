/* listen_pool.h: relay-listen's pool of long-lived relay-smtpd workers
 * (relay-smtpd -w).  Each worker has its own control socket; an accepted
 * connection goes to an idle worker as a frame with the socket attached,
 * and the worker writes "op=done" back when the session is over.  The
 * pool keeps cf.smtpd_workers_min idle workers ready, grows on demand
 * (relay-listen's caps bound it by cf.conn_max busy ones), retires a
 * worker after cf.smtpd_max_use sessions, trims extra idle ones after
 * cf.smtpd_max_idle seconds, and replaces every worker when relay.conf
 * changed.  Retiring = closing the control socket: the worker sees EOF
 * and exits; a session is never handed to a worker on its way out. */
#ifndef LISTEN_POOL_H
#define LISTEN_POOL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "listen_spawn.h"

struct listen_worker {
	pid_t pid;
	int fd;              /* control socket; -1 once retired or gone */
	int busy;            /* a session was handed and not done yet */
	int retired;         /* we closed fd: its exit is expected */
	long uses;           /* sessions handed */
	unsigned gen;        /* relay.conf generation it was started with */
	time_t born, idle_since;
	unsigned long last;  /* order of its last session's end (0: none) */
	char in[16];         /* a "done" frame being read */
	size_t inlen;
};

struct listen_pool {
	struct listen_worker *w; /* n entries, until their pid is reaped */
	size_t n, cap;
	unsigned gen;
	unsigned long seq;        /* sessions ended so far */
	struct stat conf_st;     /* relay.conf as the workers read it */
	time_t conf_checked;     /* when it was last looked at */
	int conf_skipped;        /* a look was skipped since (same second) */
	time_t hold_until;       /* no spawning: workers died young */
};

int listen_pool_init(struct listen_pool *p);
/* Idle workers ready for a session. */
size_t listen_pool_idle(const struct listen_pool *p);
/* Start workers until cf.smtpd_workers_min are idle. */
void listen_pool_fill(struct listen_pool *p, time_t now);
/* Hand fd (not closed here) to an idle worker, starting one when none
 * is idle; returns the worker's pid, -1 when no worker could take it.
 * Sessions found over meanwhile are reported to done_fn(arg, pid). */
pid_t listen_pool_hand(struct listen_pool *p, int fd,
		       const struct listen_peer *peer, time_t now,
		       void (*done_fn)(void *, pid_t), void *arg);
/* w[i]'s control socket is readable: returns the pid whose session is
 * over (a "done" frame), 0 when none is. */
pid_t listen_pool_input(struct listen_pool *p, size_t i, time_t now);
/* A child was reaped: forget it; 1 when it was a worker. */
int listen_pool_reaped(struct listen_pool *p, pid_t pid, time_t now);
/* Retire idle workers beyond cf.smtpd_workers_min idle for longer than
 * cf.smtpd_max_idle; a changed relay.conf retires every idle worker
 * (busy ones when their session ends). */
void listen_pool_trim(struct listen_pool *p, time_t now);
/* Retire every worker (SIGTERM: running sessions finish). */
void listen_pool_retire_all(struct listen_pool *p);
/* Retire every worker and free the table (the workers exit by
 * themselves; relay-listen is stopping). */
void listen_pool_free(struct listen_pool *p);
/* Whether trim/fill has work to do later (a poll timeout is wanted). */
int listen_pool_waiting(const struct listen_pool *p, time_t now);

#endif
