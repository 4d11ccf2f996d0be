/* send_worker_result.c: a job's end as relay-send sees it.  relay-
 * remote answers each job, in order, with one result frame (rcpt=,
 * relay=, tls=, nodsn=, tlsrpt=): it is parsed here, each recipient's
 * result logged and recorded (one append + fsync, or the message done),
 * success notices owed sent, and the job taken off its worker so the
 * next in line starts.  The connections and the handing out of jobs
 * are send_worker.c's. */
#include "send.h"
#include "send_worker.h"
#include "addr.h"
#include "dsn.h"
#include "kv.h"
#include "log.h"
#include "settings.h"
#include "wire_remote.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* The part of a result's log line after to=<>: it is the same for most
 * recipients of a job, so send_worker_finish formats it once per change. */
static void worker_log_tail(char *buf, size_t n, const struct send_msg *m,
			    char st, int code, const char *text,
			    const char *relay, const char *tls, long long now)
{
	char t[3 * 400], rl[300], tl[160];
	const char *word = st == 'D' ? "sent" : st == 'B' ? "bounced"
							  : "deferred";
	log_field(t, sizeof t, text, strlen(text));
	log_clean(rl, sizeof rl, relay, strlen(relay));
	log_clean(tl, sizeof tl, tls, strlen(tls));
	snprintf(buf, n, "relay=%s delay=%llds tls=%s status=%s (%d %s)",
		 *rl ? rl : "none", now - m->q.arrival, *tl ? tl : "none", word,
		 code, t);
}

static void worker_log(const struct send_msg *m, size_t i, const char *tail)
{
	char to[3 * ADDR_MAX + 1];

	log_field(to, sizeof to, m->q.rcpt[i], strlen(m->q.rcpt[i]));
	log_info("%s: to=<%s> %s", m->q.qid, to, tail);
}

/* 1 when the job's results are all D and complete the message: every
 * other recipient is D already and no other job is in flight. */
static int worker_completes(const struct send_job *j,
			    const struct send_worker_res *res)
{
	const struct send_msg *m = j->msg;

	if (m->nbusy != j->nidx)
		return 0;
	for (size_t k = 0; k < j->nidx; k++)
		if (res[k].st != 'D')
			return 0;
	for (size_t i = 0; i < m->q.nrcpt; i++)
		if (!m->busy[i] && m->st.r[i].status != 'D')
			return 0;
	return 1;
}

/* The success notices a job's results owe (relay-remote's "nodsn"),
 * sent before the results are recorded (send_bounce_relayed).  One that
 * cannot be queued now is owed: an "R <index>" line for each of its
 * recipients goes into lines (room for j->nidx of them) with the
 * results, and the loop sends it later (send_bounce_owed).  Returns the
 * length added. */
static size_t worker_relayed(struct send_job *j,
			     const struct send_worker_res *res,
			     const char *relay, char *lines, size_t cap)
{
	struct send_dsn_rcpt r[SEND_JOB_RCPT_MAX];
	size_t idx[SEND_JOB_RCPT_MAX], n = 0, len = 0;

	for (size_t k = 0; k < j->nidx; k++) {
		struct dsn_rcpt p = qfile_dsn(&j->msg->q, j->idx[k]);
		if (res[k].st != 'D' || !res[k].nodsn ||
		    !(p.notify & DSN_NOTIFY_SUCCESS))
			continue;
		r[n] = (struct send_dsn_rcpt){ j->msg->q.rcpt[j->idx[k]],
					       res[k].code, res[k].text, relay,
					       send_now(), p.orcpt, 0 };
		idx[n++] = j->idx[k];
	}
	/* n: and gcc -O2 sees no r[] read unset */
	if (!n || send_bounce_relayed(cf.queue_dir, j->msg, r, n) == 0)
		return 0;
	for (size_t k = 0; k < n && lines; k++) {
		int l = snprintf(lines + len, cap - len, "R %zu\n", idx[k]);
		if (l > 0 && (size_t)l < cap - len)
			len += (size_t)l;
	}
	log_info("%s: success notification owed: sent later",
		 j->msg->q.qid);
	return len;
}

/* The job is over, or never started (worker_lost): its recipients and
 * its customer's slot are free again, and its message is due: finish,
 * retry or drop it next pass (a job that never started leaves no state
 * line and counts no attempt).  A customer that was at its limit is
 * taken again by that pass (send_cust_full), and so is the line of its
 * destination (send_dest.c): the slot goes to the next message at once,
 * not at the next retry. */
void send_worker_release(struct send_msgs *ms, struct send_job *j,
			 const char *dest)
{
	struct send_msg *m = j->msg;

	for (size_t k = 0; k < j->nidx; k++)
		m->busy[j->idx[k]] = 0;
	m->nbusy -= j->nidx;
	if (m->cust)
		m->cust->inflight--;
	j->msg = NULL;
	j->nidx = 0;
	send_ready_set(ms, m, 0);
	send_dest_released(ms, dest);
}

/* 1 when the job delivered to one of its recipients at least: the
 * rest refused for "too many recipients" then go again at once, and
 * as each such job delivers to someone, the retries end. */
static int worker_delivered(const struct send_job *j,
			    const struct send_worker_res *res)
{
	for (size_t k = 0; k < j->nidx; k++)
		if (res[k].st == 'D')
			return 1;
	return 0;
}

/* Record the first job's results (one append + fsync, or none at all
 * when they complete the message: send_msg_done), then take it off the
 * worker; the next one in line starts.  A recipient the worker did not
 * report is deferred. */
void send_worker_finish(struct send_msgs *ms, struct send_worker *w,
			const struct send_worker_res *res, const char *relay,
			const char *tls, long long now)
{
	struct send_job *j = send_worker_head(w);
	struct send_msg *m = j->msg;
	size_t cap = j->nidx * (QSTATE_LINE_MAX + 2 + 32) + 1, len = 0, owed;
	char *lines = malloc(cap), txt[QSTATE_TEXT_MAX], tail[3 * 400 + 600];
	const struct send_worker_res *prev = NULL; /* what txt, tail are for */
	int delivered = worker_delivered(j, res);

	for (size_t k = 0; lines && k < j->nidx; k++) {
		size_t i = j->idx[k];
		char st = res[k].st ? res[k].st : 'T';
		int code = res[k].st ? res[k].code : 451;
		const char *text = res[k].st ? res[k].text
					     : "4.3.0 no result from delivery agent";
		long long next = st != 'T' ? 0
			: delivered && wire_remote_too_many(code, text) ? now
			: now + send_sched_delay(m->st.r[i].attempts + 1,
						 cf.retry_min, cf.retry_max,
						 (unsigned)random());
		if (!prev || prev->st != res[k].st || prev->code != res[k].code ||
		    (res[k].st && strcmp(prev->text, res[k].text) != 0)) {
			snprintf(txt, sizeof txt, "%s%s%s%s", *relay ? "{" : "",
				 relay, *relay ? "} " : "", text);
			worker_log_tail(tail, sizeof tail, m, st, code, text,
					relay, tls, now);
			prev = &res[k];
		}
		len += qstate_format(lines + len, cap - len, i, st, now, next,
				     code, txt);
		worker_log(m, i, tail);
		send_metrics_result(m, i, st, now);
		send_abuse_result(st, code, text, m->q.rcpt[i]);
	}
	send_abuse_flush(m);
	owed = worker_relayed(j, res, relay, lines ? lines + len : NULL,
			      lines ? cap - len : 0);
	len += owed;
	/* a failed state write is logged there; the results still
	 * count in memory */
	if (!lines)
		log_warn("%s: results not recorded (no memory); will try again",
			 m->q.qid);
	else if (!owed && worker_completes(j, res))
		send_msg_done(cf.queue_dir, m, lines, len);
	else
		send_msg_record(cf.queue_dir, m, lines, len);
	free(lines);
	w->last_ms = send_worker_ms() - j->started_ms;
	send_worker_release(ms, j, w->dest);
	w->head = (w->head + 1) % SEND_WORKER_DEPTH;
	if (--w->njobs)
		send_worker_start(send_worker_head(w), now);
}

/* "<index> <D|T|B> <code> <text>": *off is where the text starts.  (By
 * hand: sscanf was a tenth of relay-send's time with 50 recipients.) */
static int worker_rcpt(const char *v, unsigned long *idx, char *st, int *code,
		       int *off)
{
	const char *p = v;
	char *end;

	if (*p < '0' || *p > '9')
		return -1;
	*idx = strtoul(p, &end, 10);
	p = end;
	if (p[0] != ' ' || !p[1] || !strchr("DTB", p[1]) || p[2] != ' ')
		return -1;
	*st = p[1];
	p += 3;
	if (*p < '0' || *p > '9')
		return -1;
	*code = (int)strtol(p, &end, 10);
	if (end - p != 3 || (*end != ' ' && *end != '\0'))
		return -1;
	while (*end == ' ')
		end++;
	*off = (int)(end - v);
	return 0;
}

/* "nodsn=<index>": mark that recipient's result. */
static void worker_nodsn(const struct send_job *j,
			 struct send_worker_res *res, const char *v)
{
	char *end;
	unsigned long idx = strtoul(v, &end, 10);

	for (size_t k = 0; *v && !*end && k < j->nidx; k++)
		if (j->idx[k] == idx)
			res[k].nodsn = 1;
}

/* A result frame: rcpt=<index> <D|T|B> <code> <text>, relay=, tls=;
 * it answers the first job in line. */
int send_worker_result(struct send_msgs *ms, struct send_worker *w,
		       char *payload, size_t len, long long now)
{
	struct send_worker_res res[SEND_JOB_RCPT_MAX];
	struct send_job *j = send_worker_head(w);
	struct kv_msg msg;

	if (!j || kv_parse(&msg, payload, len) < 0)
		return -1;
	memset(res, 0, sizeof res);
	for (size_t p = 0; p < msg.n; p++) {
		unsigned long idx;
		int code, off = 0;
		char st;
		if (strcmp(msg.pair[p].key, WIRE_REMOTE_TLSRPT) == 0) {
			send_tlsrpt_note(msg.pair[p].value);
			continue;
		}
		if (strcmp(msg.pair[p].key, WIRE_REMOTE_NODSN) == 0) {
			worker_nodsn(j, res, msg.pair[p].value);
			continue;
		}
		if (strcmp(msg.pair[p].key, WIRE_REMOTE_RCPT) != 0)
			continue;
		if (worker_rcpt(msg.pair[p].value, &idx, &st, &code, &off) < 0)
			return -1;
		for (size_t k = 0; k < j->nidx; k++)
			if (j->idx[k] == idx)
				res[k] = (struct send_worker_res){
					st, code, msg.pair[p].value + off,
					res[k].nodsn };
	}
	send_worker_finish(ms, w, res, kv_get_or(&msg, WIRE_REMOTE_RELAY, ""),
		      kv_get_or(&msg, WIRE_REMOTE_TLS, ""), now);
	return 0;
}
