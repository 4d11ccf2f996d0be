/* send_worker.c: relay-send's connections to relay-remote (run/
 * remote.sock), one per worker.  A job for a destination that answers
 * fast goes behind the job(s) a worker has just started for it
 * (worker_quick); else preferably to an idle worker
 * that last served the same destination (its cached SMTP connection can
 * then be reused), else to any idle one; when none is idle it is queued
 * behind the jobs of a worker busy with the same destination, up to
 * SEND_WORKER_DEPTH jobs in flight on one connection.  The worker then
 * finds its next job waiting when it finishes one (no round trip through
 * relay-send between messages) and can pipeline its MAIL/RCPT/DATA after
 * the previous message's dot.  Results come back in order, one frame per
 * job (read by send_worker_result.c).  At most dest_concurrency workers
 * are busy with one destination.  This file owns the connections:
 * connecting with back-off, picking a worker, sending a job, the poll
 * events and time-outs, and losing a worker (worker_lost). */
#include "send.h"
#include "send_worker.h"
#include "addr.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "runsock.h"
#include "settings.h"
#include "usock.h"
#include "wire_remote.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct send_worker *workers;
static size_t nworkers;

void send_worker_init(void)
{
	nworkers = (size_t)cf.remote_workers;
	workers = calloc(nworkers, sizeof *workers);
	if (!workers)
		nworkers = 0;
	for (size_t i = 0; i < nworkers; i++) {
		workers[i].fd = -1;
		workers[i].last_ms = LLONG_MAX; /* not known to be quick */
	}
}

int send_worker_idle(void)
{
	int n = 0;
	for (size_t i = 0; i < nworkers; i++)
		n += workers[i].fd >= 0 && !workers[i].njobs;
	return n;
}

int send_worker_room(void)
{
	int n = 0;
	for (size_t i = 0; i < nworkers; i++)
		n += workers[i].fd >= 0 &&
		     workers[i].njobs < SEND_WORKER_DEPTH;
	return n;
}

struct send_job *send_worker_head(struct send_worker *w)
{
	return w->njobs ? &w->job[w->head] : NULL;
}

/* Reconnecting to relay-remote: 50 ms after a failure (it may still be
 * starting, or restarting after a crash), doubling up to 30 s.  On a
 * monotonic clock in ms: with whole seconds a fresh start where
 * relay-send came up before relay-remote listened held every message
 * for a second. */
#define WORKER_RETRY_MIN_MS 50
#define WORKER_RETRY_MAX_MS 30000

long long send_worker_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The job becomes the first in line: relay-remote starts it now. */
void send_worker_start(struct send_job *j, long long now)
{
	j->started = now;
	j->started_ms = send_worker_ms();
	j->deadline = now + wire_remote_job_budget();
}


static int worker_open(struct send_worker *w, const char *path)
{
	w->fd = runsock_connect(RUNSOCK_REMOTE, path);
	if (w->fd >= 0 && ns_reader_init(&w->rd, w->fd) == 0) {
		fd_nonblock(w->fd);
		w->backoff_ms = 0;
		return 0;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : WORKER_RETRY_MIN_MS;
	if (w->backoff_ms > WORKER_RETRY_MAX_MS)
		w->backoff_ms = WORKER_RETRY_MAX_MS;
	w->retry_ms = send_worker_ms() + w->backoff_ms;
	return -1;
}

long send_worker_connect(long long now)
{
	char path[PATH_MAX];
	long long ms = send_worker_ms();
	long next = 60000;

	(void)now;
	runsock_path(RUNSOCK_REMOTE, path, sizeof path);
	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		if (w->fd >= 0 || (ms >= w->retry_ms && worker_open(w, path) == 0))
			continue;
		if (w->retry_ms - ms < next)
			next = (long)(w->retry_ms - ms);
	}
	return next < 0 ? 0 : next;
}

size_t send_worker_pollfds(struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < nworkers && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = workers[i].fd,
					    .events = POLLIN };
	return n;
}

static void worker_lost(struct send_msgs *ms, struct send_worker *w,
			const char *text, long long now, int ended);

/* A destination that answers within this: a job is better queued
 * behind the ones a worker has just started for it than given to an
 * idle worker.  It waits a few ms at most, and the busy worker finds
 * it at its dot and sends its commands in the same write (pipelining)
 * instead of an idle worker waking for it: about one process wake-up
 * per message instead of three on a fast smarthost.  Only the first job
 * of a worker's run costs a round trip of its own, so a quick worker
 * takes as many as its connection holds (SEND_WORKER_DEPTH; with 3, a
 * burst went out over a third more workers and runs).  A slow
 * destination (the last job took longer, or this one runs longer) gets
 * idle workers as before, and so does a fifth job: a burst still
 * spreads. */
#define WORKER_QUICK_MS 50
#define WORKER_QUICK_DEPTH SEND_WORKER_DEPTH /* jobs in flight, quick */

static int worker_quick(const struct send_worker *w, long long ms)
{
	const struct send_job *j = &w->job[w->head];

	return w->njobs < WORKER_QUICK_DEPTH && w->last_ms < WORKER_QUICK_MS &&
	       ms - j->started_ms < WORKER_QUICK_MS;
}

/* The worker to take a job for dest: one busy with dest but quick
 * (worker_quick), else an idle one that served dest last, else any idle
 * one while fewer than dest_concurrency are busy with dest, else the
 * least loaded worker busy with dest that has room.  NULL when none;
 * *full then says whether dest is at its limit (dest_concurrency
 * workers busy with it, each with all the jobs it can hold: an idle
 * worker could not take the job either). */
static struct send_worker *worker_pick(const char *dest, int *full)
{
	struct send_worker *same = NULL, *any = NULL, *stack = NULL;
	struct send_worker *quick = NULL;
	long long ms = send_worker_ms();
	long busy = 0;

	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		int match = strcmp(w->dest, dest) == 0;
		if (w->fd < 0)
			continue;
		busy += match && w->njobs;
		if (w->njobs >= SEND_WORKER_DEPTH)
			continue;
		if (w->njobs) {
			if (match && (!stack || w->njobs < stack->njobs))
				stack = w;
			if (match && !quick && worker_quick(w, ms))
				quick = w;
			continue;
		}
		if (match && !same)
			same = w;
		if (!any)
			any = w;
	}
	*full = busy >= cf.dest_concurrency;
	/* queued behind a busy worker, a job adds no connection */
	if (quick || *full)
		return quick ? quick : stack;
	return same ? same : any ? any : stack;
}

int send_worker_dest_room(const char *dest)
{
	int full;

	if (worker_pick(dest, &full))
		return 1;
	return full ? 0 : -1;
}

/* The job's frame for relay-remote: the message, its route and the
 * recipients idx[0..n) (the queue file itself goes as a descriptor). */
static void worker_job_frame(struct kv *k, const struct send_msg *m,
			     const struct send_route *r, const size_t *idx,
			     size_t n)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/new/%s", cf.queue_dir, m->q.qid);
	kv_init(k);
	kv_add(k, WIRE_REMOTE_QID, m->q.qid);
	kv_add(k, WIRE_REMOTE_FILE, path);
	kv_add(k, WIRE_REMOTE_HOST, r->host);
	if (r->host[0])
		kv_add(k, WIRE_REMOTE_VIA, r->via);
	kv_addf(k, WIRE_REMOTE_PORT, "%ld", r->port);
	kv_add(k, WIRE_REMOTE_TLS, r->tls);
	kv_add(k, WIRE_REMOTE_AUTH, r->auth);
	if (r->auth_tls[0])
		kv_add(k, WIRE_REMOTE_AUTH_TLS, r->auth_tls);
	if (r->tls_wrap)
		kv_add(k, WIRE_REMOTE_TLS_WRAP, "yes");
	kv_add(k, WIRE_REMOTE_DOMAIN, addr_domain(m->q.rcpt[idx[0]]));
	for (size_t i = 0; i < n; i++)
		kv_addf(k, WIRE_REMOTE_RCPT, "%zu %s", idx[i], m->q.rcpt[idx[i]]);
}

int send_worker_dispatch(struct send_msgs *ms, struct send_msg *m,
			 const struct send_route *r, const char *dest,
			 const size_t *idx, size_t n)
{
	int full;
	struct send_worker *w = worker_pick(dest, &full);
	struct send_job *j;
	long long now = send_now();
	struct kv k;
	int rc, qfd;

	/* no idle worker: the pass stops (as it did when a worker took one
	 * job at a time), so a backlog is not walked on every result; dest
	 * at its limit: the message waits in its line (send_dest.c) */
	if (!w)
		return full ? -2 : -1;
	if (n == 0 || n > SEND_JOB_RCPT_MAX)
		return -3;
	worker_job_frame(&k, m, r, idx, n);
	/* relay-remote has no access to the queue: the file goes with the
	 * job, opened here (and checked: relay-queue's, not a link), or as
	 * opened and checked at the load, for the first job (send_qfd.c) */
	if ((qfd = send_qfd_take(m)) < 0)
		qfd = send_msg_open(cf.queue_dir, m->q.qid);
	if (qfd < 0) {
		/* gone or refused: the next scan drops it.  Never a job
		 * without its descriptor: relay-remote takes them in order */
		kv_free(&k);
		return -3;
	}
	rc = kv_send_fds(&k, w->fd, &qfd, 1);
	close(qfd);
	kv_free(&k);
	if (rc < 0) {
		log_warn("%s: job not sent: %s", m->q.qid, strerror(errno));
		worker_lost(ms, w, "4.3.0 delivery agent went away", now, 0);
		return -1;
	}
	j = &w->job[(w->head + w->njobs++) % SEND_WORKER_DEPTH];
	j->msg = m;
	memcpy(j->idx, idx, n * sizeof *idx);
	j->nidx = n;
	if (w->njobs == 1)
		send_worker_start(j, now);
	snprintf(w->dest, sizeof w->dest, "%s", dest);
	for (size_t i = 0; i < n; i++)
		m->busy[idx[i]] = 1;
	m->nbusy += n;
	if (m->cust)
		m->cust->inflight++;
	send_ready_charge(ms, m); /* its customer's fair turns pay for it */
	return 0;
}

/* Every job on the worker deferred with reason text; the connection is
 * closed (relay-remote's worker ends, dropping what it had queued).
 * ended: the worker closed it first (it is gone).  Then only the first
 * job can have been delivered: the worker sends a message's end only
 * after the result of the job before it, and those results came before
 * the EOF.  (One exception: the job right behind a DATA message may
 * have gone out after its dot as BDAT LAST with its message, which
 * the server may have taken: it goes again, a duplicate at worst.)
 * The jobs behind the first are simply due again (another worker takes
 * them), not deferred.  Else (a time-
 * out, a bad frame) the worker may still be running and read the jobs
 * queued for it: all are deferred. */
static void worker_lost(struct send_msgs *ms, struct send_worker *w,
			const char *text, long long now, int ended)
{
	struct send_worker_res res[SEND_JOB_RCPT_MAX];

	while (ended && w->njobs > 1) {
		send_worker_release(ms, &w->job[(w->head + w->njobs - 1) %
					   SEND_WORKER_DEPTH], w->dest);
		w->njobs--;
	}
	while (w->njobs) {
		struct send_job *j = send_worker_head(w);
		for (size_t k = 0; k < j->nidx; k++)
			res[k] = (struct send_worker_res){ 'T', 451, text, 0 };
		send_worker_finish(ms, w, res, "", "", now);
	}
	w->last_ms = LLONG_MAX; /* a new connection starts unknown */
	if (w->fd >= 0) {
		close(w->fd);
		ns_reader_free(&w->rd);
	}
	w->fd = -1;
	w->retry_ms = send_worker_ms() + WORKER_RETRY_MIN_MS;
}

/* 1 when relay-remote's worker closed the connection: nothing left to
 * read and EOF (not a bad frame from a worker still running). */
static int worker_ended(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int send_worker_events(struct send_msgs *ms, const struct pollfd *pfd,
		       size_t n, long long now)
{
	int got = 0;

	for (size_t i = 0; i < n && i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		char *payload;
		size_t len;
		int rc;

		if (!pfd[i].revents || w->fd < 0)
			continue;
		/* one read; further frames only from what it brought (poll
		 * is level-triggered: the rest wakes us again) */
		rc = ns_reader_next(&w->rd, &payload, &len);
		while (rc == 1) {
			if (send_worker_result(ms, w, payload, len, now) < 0) {
				rc = -1;
				errno = EPROTO;
				break;
			}
			got++;
			rc = ns_reader_buffered(&w->rd, &payload, &len);
		}
		if (rc < 0) {
			log_warn("relay-remote connection lost: %s",
				 errno ? strerror(errno) : "EOF");
			worker_lost(ms, w, "4.3.0 delivery agent went away",
				    now, worker_ended(w->fd));
			got++;
		}
	}
	return got;
}

void send_worker_timeouts(struct send_msgs *ms, long long now)
{
	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		struct send_job *j = send_worker_head(w);
		if (!j || now < j->deadline)
			continue;
		log_warn("%s: delivery agent timed out", j->msg->q.qid);
		worker_lost(ms, w, "4.4.1 delivery timed out", now, 0);
	}
}