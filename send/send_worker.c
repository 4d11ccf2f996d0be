/* send_worker.c: relay-send's connections to relay-remote (run/
 * remote.sock), one per worker, one job at a time on each.  A job goes
 * preferably to the worker that last served the same destination, whose
 * cached SMTP connection can then be reused; at most dest_concurrency
 * jobs per destination are in flight. */
#include "send.h"
#include "addr.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "settings.h"
#include "usock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct send_worker {
	int fd;                 /* -1: not connected */
	struct ns_reader rd;
	struct send_msg *msg;   /* job in flight, NULL when idle */
	size_t idx[SEND_JOB_RCPT_MAX], nidx;
	char dest[400];         /* destination of the current/last job */
	long long started, deadline, retry_at;
	long backoff;
};

static struct send_worker *workers;
static size_t nworkers;

void send_worker_init(void)
{
	nworkers = (size_t)cf.remote_workers;
	workers = calloc(nworkers, sizeof *workers);
	if (!workers)
		nworkers = 0;
	for (size_t i = 0; i < nworkers; i++)
		workers[i].fd = -1;
}

int send_worker_idle(void)
{
	int n = 0;
	for (size_t i = 0; i < nworkers; i++)
		n += workers[i].fd >= 0 && !workers[i].msg;
	return n;
}

long send_worker_connect(long long now)
{
	char path[PATH_MAX];
	long next = 60000;

	snprintf(path, sizeof path, "%s/remote.sock", cf.run_dir);
	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		if (w->fd >= 0)
			continue;
		if (now >= w->retry_at) {
			w->fd = usock_connect(path);
			if (w->fd >= 0 && ns_reader_init(&w->rd, w->fd) == 0) {
				fd_nonblock(w->fd);
				w->backoff = 0;
				continue;
			}
			if (w->fd >= 0)
				close(w->fd);
			w->fd = -1;
			w->backoff = w->backoff ? w->backoff * 2 : 1;
			if (w->backoff > 30)
				w->backoff = 30;
			w->retry_at = now + w->backoff;
		}
		if ((w->retry_at - now) * 1000 < next)
			next = (long)(w->retry_at - now) * 1000;
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

/* The worker to take a job for dest: the one that served dest last, else
 * any idle one; NULL when none, or dest is at its concurrency limit. */
static struct send_worker *worker_pick(const char *dest)
{
	struct send_worker *same = NULL, *any = NULL;
	long busy = 0;

	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		int match = strcmp(w->dest, dest) == 0;
		if (w->msg && match)
			busy++;
		if (w->fd < 0 || w->msg)
			continue;
		if (match && !same)
			same = w;
		if (!any)
			any = w;
	}
	if (busy >= cf.dest_concurrency)
		return NULL;
	return same ? same : any;
}

static void worker_close(struct send_worker *w, long long now)
{
	if (w->fd >= 0) {
		close(w->fd);
		ns_reader_free(&w->rd);
	}
	w->fd = -1;
	w->retry_at = now + 1;
}

int send_worker_dispatch(struct send_msg *m, const struct send_route *r,
			 const char *dest, const size_t *idx, size_t n)
{
	struct send_worker *w = worker_pick(dest);
	char path[PATH_MAX];
	long long now = send_now();
	struct kv k;
	int rc;

	if (!w)
		return send_worker_idle() ? -2 : -1;
	if (n == 0 || n > SEND_JOB_RCPT_MAX)
		return -2;
	snprintf(path, sizeof path, "%s/new/%s", cf.queue_dir, m->q.qid);
	kv_init(&k);
	kv_add(&k, "qid", m->q.qid);
	kv_add(&k, "file", path);
	kv_add(&k, "host", r->host);
	kv_addf(&k, "port", "%ld", r->port);
	kv_add(&k, "tls", r->tls);
	kv_add(&k, "auth", r->auth);
	kv_add(&k, "domain", addr_domain(m->q.rcpt[idx[0]]));
	for (size_t i = 0; i < n; i++)
		kv_addf(&k, "rcpt", "%zu %s", idx[i], m->q.rcpt[idx[i]]);
	rc = kv_send(&k, w->fd);
	kv_free(&k);
	if (rc < 0) {
		log_warn("%s: job not sent: %s", m->q.qid, strerror(errno));
		worker_close(w, now);
		return -1;
	}
	w->msg = m;
	memcpy(w->idx, idx, n * sizeof *idx);
	w->nidx = n;
	snprintf(w->dest, sizeof w->dest, "%s", dest);
	w->started = now;
	w->deadline = now + 4 * cf.connect_timeout + 3 * cf.remote_timeout;
	for (size_t i = 0; i < n; i++)
		m->busy[idx[i]] = 1;
	m->nbusy += n;
	return 0;
}

static void worker_log(const struct send_msg *m, size_t i, char st, int code,
		       const char *text, const char *relay, const char *tls,
		       long long now)
{
	char to[300], t[400], rl[300], tl[160];
	const char *word = st == 'D' ? "sent" : st == 'B' ? "bounced"
							  : "deferred";
	log_clean(to, sizeof to, m->q.rcpt[i], strlen(m->q.rcpt[i]));
	log_clean(t, sizeof t, text, strlen(text));
	log_clean(rl, sizeof rl, relay, strlen(relay));
	log_clean(tl, sizeof tl, tls, strlen(tls));
	log_info("%s: to=<%s> relay=%s delay=%llds tls=%s status=%s (%d %s)",
		 m->q.qid, to, *rl ? rl : "none", now - m->q.arrival,
		 *tl ? tl : "none", word, code, t);
}

struct worker_res {
	char st;          /* 0: not reported */
	int code;
	const char *text;
};

/* 1 when the job's results are all D and complete the message: every
 * other recipient is D already and no other job is in flight. */
static int worker_completes(const struct send_worker *w,
			    const struct worker_res *res)
{
	const struct send_msg *m = w->msg;

	if (m->nbusy != w->nidx)
		return 0;
	for (size_t k = 0; k < w->nidx; k++)
		if (res[k].st != 'D')
			return 0;
	for (size_t i = 0; i < m->q.nrcpt; i++)
		if (!m->busy[i] && m->st.r[i].status != 'D')
			return 0;
	return 1;
}

/* Record the job's results (one append + fsync, or none at all when
 * they complete the message: send_msg_done), then free the worker.
 * A recipient the worker did not report is deferred. */
static void worker_finish(struct send_msgs *ms, struct send_worker *w,
			  const struct worker_res *res, const char *relay,
			  const char *tls, long long now)
{
	struct send_msg *m = w->msg;
	size_t cap = w->nidx * (QSTATE_LINE_MAX + 2) + 1, len = 0;
	char *lines = malloc(cap), txt[QSTATE_TEXT_MAX];

	for (size_t k = 0; lines && k < w->nidx; k++) {
		size_t i = w->idx[k];
		char st = res[k].st ? res[k].st : 'T';
		int code = res[k].st ? res[k].code : 451;
		const char *text = res[k].st ? res[k].text
					     : "4.3.0 no result from delivery agent";
		long long next = st != 'T' ? 0
			: now + send_sched_delay(m->st.r[i].attempts + 1,
						 cf.retry_min, cf.retry_max,
						 (unsigned)random());
		if (*relay)
			snprintf(txt, sizeof txt, "{%s} %s", relay, text);
		else
			snprintf(txt, sizeof txt, "%s", text);
		len += qstate_format(lines + len, cap - len, i, st, now, next,
				     code, txt);
		worker_log(m, i, st, code, text, relay, tls, now);
	}
	if (!lines || (worker_completes(w, res)
		       ? send_msg_done(cf.queue_dir, m, lines, len)
		       : send_msg_record(cf.queue_dir, m, lines, len)) < 0)
		log_warn("%s: results not recorded; will try again", m->q.qid);
	free(lines);
	for (size_t k = 0; k < w->nidx; k++)
		m->busy[w->idx[k]] = 0;
	m->nbusy -= w->nidx;
	w->msg = NULL;
	w->nidx = 0;
	send_ready_set(ms, m, 0); /* finish, retry or drop it next pass */
}

/* Every recipient of the job deferred with reason text. */
static void worker_fail(struct send_msgs *ms, struct send_worker *w,
			const char *text, long long now)
{
	struct worker_res res[SEND_JOB_RCPT_MAX];
	for (size_t k = 0; k < w->nidx; k++)
		res[k] = (struct worker_res){ 'T', 451, text };
	if (w->msg)
		worker_finish(ms, w, res, "", "", now);
}

/* A result frame: rcpt=<index> <D|T|B> <code> <text>, relay=, tls=. */
static int worker_result(struct send_msgs *ms, struct send_worker *w,
			 char *payload, size_t len, long long now)
{
	struct worker_res res[SEND_JOB_RCPT_MAX];
	struct kv_msg msg;

	if (!w->msg || kv_parse(&msg, payload, len) < 0)
		return -1;
	memset(res, 0, sizeof res);
	for (size_t p = 0; p < msg.n; p++) {
		unsigned long idx;
		int code, off = 0;
		char st;
		if (strcmp(msg.pair[p].key, "rcpt") != 0)
			continue;
		if (sscanf(msg.pair[p].value, "%lu %c %d %n", &idx, &st, &code,
			   &off) != 3 || !off || !strchr("DTB", st))
			return -1;
		for (size_t k = 0; k < w->nidx; k++)
			if (w->idx[k] == idx)
				res[k] = (struct worker_res){
					st, code, msg.pair[p].value + off };
	}
	worker_finish(ms, w, res, kv_get_or(&msg, "relay", ""),
		      kv_get_or(&msg, "tls", ""), now);
	return 0;
}

void send_worker_events(struct send_msgs *ms, const struct pollfd *pfd,
			size_t n, long long now)
{
	for (size_t i = 0; i < n && i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		char *payload;
		size_t len;
		int rc;

		if (!pfd[i].revents || w->fd < 0)
			continue;
		while ((rc = ns_reader_next(&w->rd, &payload, &len)) == 1)
			if (worker_result(ms, w, payload, len, now) < 0) {
				rc = -1;
				errno = EPROTO;
				break;
			}
		if (rc < 0) {
			log_warn("relay-remote connection lost: %s",
				 errno ? strerror(errno) : "EOF");
			worker_fail(ms, w, "4.3.0 delivery agent went away",
				    now);
			worker_close(w, now);
		}
	}
}

void send_worker_timeouts(struct send_msgs *ms, long long now)
{
	for (size_t i = 0; i < nworkers; i++) {
		struct send_worker *w = &workers[i];
		if (!w->msg || now < w->deadline)
			continue;
		log_warn("%s: delivery agent timed out", w->msg->q.qid);
		worker_fail(ms, w, "4.4.1 delivery timed out", now);
		worker_close(w, now);
	}
}
