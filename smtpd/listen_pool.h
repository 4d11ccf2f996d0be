/* listen_pool.h: relay-listen's pool of long-lived relay-smtpd workers
 * (relay-smtpd -w).  Each worker gets, on its control socket, the
 * listening sockets and a slot in the shared cap table (listen_slots.h),
 * and accepts its connections itself.  relay-listen keeps
 * cf.smtpd_workers_min workers idle (a worker whose claim left fewer
 * idle wakes it with one byte), trims extra idle ones after
 * cf.smtpd_max_idle seconds, replaces every worker when relay.conf
 * changed, and frees a dead worker's slot when it reaps it.  Listeners
 * on different addresses (listen_sock_reach) have workers of their own,
 * cf.smtpd_workers_min idle each.  A worker
 * leaves by itself after cf.smtpd_max_use sessions.  Retiring = closing
 * the control socket: the worker sees EOF and exits. */
#ifndef LISTEN_POOL_H
#define LISTEN_POOL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "listen_sock.h"
#include "listen_slots.h"

struct listen_worker {
	pid_t pid;
	int fd;              /* control socket; -1 once retired or gone */
	int retired;         /* we closed fd: its exit is expected */
	size_t slot;         /* its entry in the cap table */
	size_t group;        /* the listeners it accepts on (listen_sock_reach) */
	unsigned gen;        /* relay.conf generation it was started with */
	time_t born;
};

struct listen_pool {
	struct listen_worker *w; /* n entries, until their pid is reaped */
	size_t n, cap;
	struct listen_slots *slots;
	int slots_fd;
	const struct listen_sock *socks; /* what the workers accept on */
	size_t nsocks;
	size_t group_of[LISTEN_SOCK_MAX]; /* each socket's group */
	size_t ngroups;          /* each has its own workers */
	unsigned gen;
	struct stat conf_st;     /* relay.conf as the workers read it */
	time_t conf_checked;     /* when it was last looked at */
	int conf_skipped;        /* a look was skipped since (same second) */
	time_t hold_until;       /* no spawning: workers died young */
};

/* -1 when the shared table cannot be made. */
int listen_pool_init(struct listen_pool *p, const struct listen_sock *socks,
		     size_t nsocks);
/* Workers waiting for a connection (of every group). */
size_t listen_pool_idle(const struct listen_pool *p);
/* Start workers until cf.smtpd_workers_min are idle in each group. */
void listen_pool_fill(struct listen_pool *p, time_t now);
/* w[i]'s control socket is readable: a wake-up byte (1), or the worker
 * closed it (0: its slot goes when its pid is reaped). */
int listen_pool_input(struct listen_pool *p, size_t i);
/* A child was reaped: forget it and free its slot; 1 when it was a
 * worker. */
int listen_pool_reaped(struct listen_pool *p, pid_t pid, time_t now);
/* Retire idle workers beyond cf.smtpd_workers_min idle for longer than
 * cf.smtpd_max_idle; a changed relay.conf retires every worker (a busy
 * one ends its session first). */
void listen_pool_trim(struct listen_pool *p, time_t now);
/* Retire every worker: their exits are expected (relay-listen is
 * stopping). */
void listen_pool_retire_all(struct listen_pool *p);
/* Retire every worker and free the table (the workers exit by
 * themselves; relay-listen is stopping). */
void listen_pool_free(struct listen_pool *p);

#endif
