/* smtp_worker_multi.c: a pool worker serving many sessions at once
 * (smtpd_sessions_per_worker > 1).  Each session is the same blocking-
 * style code as in a worker serving one at a time, run as a coroutine
 * (coro.h): where it would wait for its client, for relay-policy or for
 * relay-queue it yields, and the scheduler's epoll runs whichever
 * session can go on.  Its timeouts are its own deadlines, so a slow
 * client holds up no other session.  Each session has a cap slot of its
 * own in the shared table (listen_slots_claim_session), so conn_max and
 * conn_per_ip stay exact across workers. */
#include "smtp_worker.h"
#include "coro.h"
#include "exitcodes.h"
#include "log.h"
#include "privs.h"
#include "settings.h"
#include "smtp_queue.h"
#include "smtp_session.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Tags of the worker's own fds in the scheduler (below CORO_TAG_MAX). */
#define TAG_CTL LISTEN_SOCK_MAX

struct msession {
	struct worker *w;
	int fd;
	size_t slot;                    /* its cap slot */
	struct listen_peer p;
	struct smtp_queue_state *queue; /* made at its first message */
};

/* Before a session runs again: the queue client is its own. */
static void msession_enter(void *arg)
{
	struct msession *m = arg;
	smtp_queue_use(&m->queue);
}

static void msession_run(void *arg)
{
	struct msession *m = arg;
	struct smtp_peer p = {
		.ip = m->p.ip, .port = m->p.port, .localip = m->p.localip,
		.localport = m->p.localport, .tls = m->p.tls,
	};

	smtp_session_serve(m->fd, &p);
	smtp_queue_state_free(&m->queue);
	smtp_queue_use(NULL);
	/* the slot before the close (as smtp_worker.c's worker_serve) */
	listen_slots_release_session(m->w->slots, m->slot);
	coro_close(m->fd); /* out of the epoll set: the number is reused */
	m->w->uses++;
	m->w->open--;
	free(m);
}

/* Start a session on fd, or refuse it; fd is the session's or closed. */
static void multi_start(struct worker *w, size_t i, int fd,
			const struct listen_peer *p, const struct ipaddr *ip)
{
	struct listen_slots_seen seen;
	enum listen_caps_verdict v;
	struct msession *m;
	const char *refusal;
	long slot = listen_slots_claim_session(w->slots, w->slot, ip, &seen, &v);

	refusal = smtp_worker_verdict(w, i, p, v, &seen);
	if (refusal) {
		listen_sock_refuse(fd, "4.7.0", refusal);
		close(fd);
		return;
	}
	m = calloc(1, sizeof *m);
	if (m) {
		*m = (struct msession){ .w = w, .fd = fd, .slot = (size_t)slot,
					.p = *p };
		if (coro_spawn(msession_run, m, msession_enter,
			       CORO_STACK_DEFAULT)) {
			w->open++;
			return;
		}
		free(m);
	}
	log_warn("%s: no memory for a session", p->ip);
	listen_slots_release_session(w->slots, (size_t)slot);
	listen_sock_refuse(fd, "4.3.0", "Service temporarily unavailable");
	close(fd);
}

/* Accepting or not: the listeners in the scheduler's epoll or out. */
static void multi_listen(struct worker *w, int on, int *listening)
{
	if (on == *listening)
		return;
	for (size_t i = 0; i < w->n; i++)
		if (on)
			coro_sched_watch(w->ls[i].fd, EPOLLIN | EPOLLEXCLUSIVE, i);
		else
			coro_sched_unwatch(w->ls[i].fd);
	*listening = on;
}

/* Sessions at once: the setting, cut to what the descriptors allow (a
 * session holds its client, its policy and at times its queue socket). */
static long sessions_max;

/* Whether a new session may start now. */
static int multi_room(const struct worker *w)
{
	return w->open < sessions_max &&
	       w->uses + w->open < cf.smtpd_max_use;
}

/* What is waiting on listener i, while there is room. */
static void multi_accept(struct worker *w, size_t i)
{
	for (int k = 0; k < 64 && multi_room(w); k++) {
		struct listen_peer p;
		struct ipaddr ip;
		int fd = smtp_worker_take(w, i, SOCK_NONBLOCK, &p, &ip);
		if (fd < 0)
			return;
		multi_start(w, i, fd, &p, &ip);
	}
}

/* Wake relay-listen: it counts its idle workers and starts more. */
static void multi_wake(struct worker *w)
{
	if (send(w->ctl, (char[]){ SMTP_WORKER_LOW }, 1,
		 MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* full or gone: a wake-up is pending, or it is going */
	}
}

/* Used up: relay-listen is to start another worker meanwhile. */
static void multi_drain(struct worker *w)
{
	listen_slots_drain(w->slots, w->slot);
	multi_wake(w);
}

/* At the session cap the worker is not idle for relay-listen, which
 * starts another (else conn_max above the workers' caps would leave
 * clients waiting in the backlog); idle again when a session ends. */
static void multi_full(struct worker *w, int *full)
{
	int now_full = w->open >= sessions_max;

	if (now_full == *full)
		return;
	*full = now_full;
	listen_slots_full(w->slots, w->slot, now_full, time(NULL));
	if (now_full)
		multi_wake(w);
}

/* The sessions' log lines are kept (log_batch) and written together at
 * most LOG_HOLD_MS after the first of them was seen kept, or when a
 * write's worth (PIPE_BUF) is kept: one write for the lines of many
 * sessions instead of one or two a session, each a wake-up of the log
 * pipe's reader too.  A line is that late at most. */
#define LOG_HOLD_MS 10
static long log_since; /* when kept lines were first seen; 0: none */

/* How long the scheduler may wait for the log's sake: -1 when nothing
 * is kept, else what is left of the hold. */
static int log_wait_ms(void)
{
	long now, left;

	if (!log_held_bytes()) {
		log_since = 0;
		return -1;
	}
	now = coro_now_ms();
	if (!log_since)
		log_since = now;
	left = log_since + LOG_HOLD_MS - now;
	return left > 0 ? (int)left : 0;
}

/* The kept lines out once their hold is over. */
static void log_write_due(void)
{
	if (log_since && log_held_bytes() &&
	    coro_now_ms() - log_since >= LOG_HOLD_MS) {
		log_batch(0);
		log_batch(1);
		log_since = 0;
	}
}

int smtp_worker_multi(struct worker *w, volatile sig_atomic_t *orphaned)
{
	int accepting = 1, listening = 0, full = 0;
	uint64_t tags[LISTEN_SOCK_MAX + 1];

	long fds = privs_nofile_raise();

	sessions_max = cf.smtpd_sessions_per_worker;
	if (fds > 0 && (fds - 64) / 3 < sessions_max)
		sessions_max = fds > 128 ? (fds - 64) / 3 : 16;
	close(w->ep); /* the one-at-a-time loop's: its wake-ups go nowhere */
	w->ep = -1;
	if (coro_sched_init() < 0 ||
	    coro_sched_watch(w->ctl, EPOLLIN, TAG_CTL) < 0)
		log_fatal(EXIT_TEMP, "worker: epoll");
	log_batch(1);
	for (;;) {
		/* orphaned: the listeners are closed (and out of epoll);
		 * used up: the sessions open finish, then the worker goes */
		if (accepting && !*orphaned &&
		    w->uses + w->open >= cf.smtpd_max_use)
			multi_drain(w);
		if (*orphaned || w->uses + w->open >= cf.smtpd_max_use)
			accepting = 0;
		if (accepting)
			multi_full(w, &full);
		if (!*orphaned)
			multi_listen(w, accepting && multi_room(w), &listening);
		if (!accepting && w->open == 0)
			break;
		int k = coro_sched_run(log_wait_ms(), tags, LISTEN_SOCK_MAX + 1);
		if (k < 0)
			log_fatal(EXIT_TEMP, "epoll_wait");
		log_write_due();
		for (int j = 0; j < k; j++) {
			if (tags[j] == TAG_CTL) {
				if (smtp_worker_ctl(w)) { /* retired */
					accepting = 0;
					coro_sched_unwatch(w->ctl);
				}
			} else if (accepting && !*orphaned)
				multi_accept(w, (size_t)tags[j]);
		}
	}
	log_batch(0);
	return EXIT_DONE;
}
