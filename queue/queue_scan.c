/* queue_scan.c: the content scan, between writing a message and making
 * it durable.  A message of a customer whose scan is on (scan= in the
 * rules, else relay.conf's scan_default) goes from the main thread to a
 * scan thread instead of the commit; the thread asks rspamd
 * (queue_rspamd.c) within scan_timeout, then hands the job on to the
 * commit (clean, score-only, or a failed scan under scan_fail = pass)
 * or answers it itself: 100 reason=spam (scan=reject and a score at or
 * over the customer's scan_score), 111 reason=scan (failed, scan_fail =
 * defer).  Nothing is acknowledged before the verdict, so a refusal is
 * still possible and a failure loses nothing: the client holds the
 * message until it hears 250.  Blocking threads, not the event loop: a
 * slow scanner then delays only the messages it scans.
 *
 * The client (relay-smtpd) waits data_timeout for the answer and then
 * says 451: a message committed after that would be delivered although
 * the client sends it again.  So each job has a budget, SCAN_WAIT_SHARE
 * of data_timeout from the moment it came (the rest is for the commit
 * and the answer's way back): a job that would not have its verdict
 * within it if every scan took scan_timeout is refused at once (111
 * reason=busy), a scan is cut at the budget, and a job past it or whose
 * client hung up is never committed (111 reason=busy).
 *
 * Fairness: each customer's jobs wait in a lane of their own, and the
 * threads take the lanes in turn, one job each; one customer's burst
 * thus delays another's message by about one scan, not by the burst. */
#include "queue.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads, i.e. scans at once: rspamd answers in milliseconds, and the
 * commit, not the scan, bounds a busy relay; more only when the scanner
 * is slow, when it is the limit anyway. */
#define SCAN_THREADS 8
/* The share of data_timeout (percent) a job may spend waiting for and in
 * its scan; the rest is left for the commit and the answer. */
#define SCAN_WAIT_SHARE 90

/* One customer's jobs waiting, in arrival order; the lanes with jobs
 * form a ring, scan_last->next being the one to take from next. */
struct scan_lane {
	struct scan_lane *next;
	struct queue_job *head, *tail;
	size_t n;
	char customer[];
};

static pthread_mutex_t scan_mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t scan_sem;
static struct scan_lane *scan_last; /* NULL when no job waits */
static int scan_running;            /* threads started */
static int scan_busy;               /* threads scanning now */

static int scan_mode_name(const char *s)
{
	return !strcmp(s, "reject") ? SCAN_REJECT :
	       !strcmp(s, "score") ? SCAN_SCORE : SCAN_OFF;
}

int queue_scan_wanted(struct queue_job *j)
{
	char key[RK_KEYMAX], val[RK_VALMAX], mode[16];
	const char *cust = qfile_get_info(&j->q, ADMIT_WIRE_CUSTOMER);

	j->scan_mode = SCAN_OFF;
	if (!scan_running || !cust || !*cust)
		return 0; /* bounces, alerts: not a customer's mail */
	snprintf(mode, sizeof mode, "%s", cf.scan_default);
	j->scan_score = cf.scan_reject_score;
	snprintf(key, sizeof key, "customer:%s", cust);
	if (rcdb_gets(queue_rules(), key, val, sizeof val) >= 0) {
		rk_get(val, RK_CUST_SCAN, mode, sizeof mode);
		j->scan_score = rk_num(val, RK_CUST_SCAN_SCORE, j->scan_score);
	}
	j->scan_mode = scan_mode_name(mode);
	return j->scan_mode != SCAN_OFF;
}

/* One log line per scan, with what the abuse evidence needs. */
static void scan_log(const struct queue_job *j,
		     const struct queue_rspamd_verdict *v, const char *result)
{
	const char *c = qfile_get_info(&j->q, ADMIT_WIRE_CUSTOMER);

	log_info("%s: scan=%s score=%.2f required=%ld action=%s customer=%s "
		 "symbols=%s", j->q.qid, result, v->score, j->scan_score,
		 *v->action ? v->action : "-", c ? c : "-",
		 *v->symbols ? v->symbols : "-");
}

static void scan_metric(const char *verdict)
{
	char l[METRICS_LABELS_MAX];
	metrics_add(METRIC_SCAN_VERDICTS, 1,
		    metrics_labels(l, sizeof l, "verdict", verdict, NULL));
}

static void scan_refuse(struct queue_job *j, int status, enum qreason why,
			const char *text)
{
	j->r.status = status;
	j->r.reason = why;
	snprintf(j->r.text, sizeof j->r.text, "%s", text);
	queue_commit_answer(j);
}

/* ---- the client's wait ---- */

/* What a job may spend before its verdict (ms): relay-smtpd answers 451
 * after data_timeout without the queue's word. */
static long long scan_budget_ms(void)
{
	return (long long)cf.data_timeout * 10 * SCAN_WAIT_SHARE;
}

/* The longest one scan may take: scan_timeout, within the budget. */
static long long scan_longest_ms(void)
{
	long long t = (long long)cf.scan_timeout * 1000;

	return t < scan_budget_ms() ? t : scan_budget_ms();
}

/* What is left of j's budget (ms); <= 0 once the client may have given
 * up on it. */
static long long scan_left_ms(const struct queue_job *j)
{
	return scan_budget_ms() - (long long)(admit_now_ms() - j->scan_since);
}

/* 1 when j's client hung up: no one would hear its answer, and it will
 * send the message again. */
static int scan_client_gone(const struct queue_job *j)
{
	struct pollfd p = { .fd = j->replyfd, .events = POLLRDHUP };

	return j->replyfd >= 0 && poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLHUP | POLLERR | POLLRDHUP));
}

/* A job whose verdict came too late, or whose client is gone: never
 * committed (its client heard, or will hear, 451 and sends it again),
 * nor counted as evidence (it will be scanned again). */
static int scan_too_late(struct queue_job *j)
{
	int gone = scan_client_gone(j);

	if (!gone && scan_left_ms(j) > 0)
		return 0;
	scan_metric("late");
	log_warn("%s: scan=late: %s: not queued", j->q.qid, gone ?
		 "the client hung up before the verdict" :
		 "no verdict within the client's wait (data_timeout)");
	if (gone)
		j->replyfd = -1; /* nobody reads the answer */
	scan_refuse(j, EXIT_TEMP, QREASON_BUSY, "content scanner busy");
	return 1;
}

/* ---- the verdict ---- */

/* Ask rspamd about j within what is left of its budget; 0 with v, or -1
 * with err. */
static int scan_ask(struct queue_job *j, struct queue_rspamd_verdict *v,
		    char *err, size_t es)
{
	long long left = scan_left_ms(j), t = scan_longest_ms();
	int fd = open(j->tmp, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		snprintf(err, es, "open %.200s: %s", j->tmp, strerror(errno));
		return -1;
	}
	rc = queue_rspamd_check(cf.scan_rspamd, left < t ? (long)left : (long)t,
				fd, j->msgoff, j->msgend, &j->q, v, err, es);
	close(fd);
	return rc;
}

/* The verdict for one job: on to the commit, or answered here. */
static void scan_one(struct queue_job *j)
{
	struct queue_rspamd_verdict v;
	char err[300];
	int rc, spam;

	if (scan_too_late(j))
		return;
	rc = scan_ask(j, &v, err, sizeof err);
	if (scan_too_late(j))
		return;
	scan_metric(rc < 0 ? "failed" : v.score >= (double)j->scan_score ?
		    "spam" : "clean");
	if (rc < 0 && !strcmp(cf.scan_fail, "pass")) {
		log_warn("%s: scan=failed: %s (scan_fail = pass)", j->q.qid, err);
		queue_commit_push(j);
		return;
	}
	if (rc < 0) {
		log_warn("%s: scan=failed: %s (scan_fail = defer)", j->q.qid, err);
		scan_refuse(j, EXIT_TEMP, QREASON_SCAN, "content scan failed");
		return;
	}
	spam = v.score >= (double)j->scan_score;
	queue_abuse_scanned(j, spam, v.symbols); /* the account's evidence */
	if (spam && j->scan_mode == SCAN_REJECT) {
		scan_log(j, &v, "spam");
		scan_refuse(j, EXIT_PERM, QREASON_SPAM,
			    "content scan: spam, refused");
		return;
	}
	scan_log(j, &v, spam ? "spam-scored" : "clean");
	queue_commit_push(j);
}

/* ---- the lanes (scan_mu held) ---- */

static const char *scan_customer(const struct queue_job *j)
{
	return qfile_get_info(&j->q, ADMIT_WIRE_CUSTOMER);
}

static struct scan_lane *scan_lane_find(const char *customer)
{
	struct scan_lane *l = scan_last;

	if (l)
		do {
			if (!strcmp(l->customer, customer))
				return l;
			l = l->next;
		} while (l != scan_last);
	return NULL;
}

/* A new lane joins the ring at the end of the round. */
static struct scan_lane *scan_lane_new(const char *customer)
{
	size_t n = strlen(customer) + 1;
	struct scan_lane *l = calloc(1, sizeof *l + n);

	if (!l)
		return NULL;
	memcpy(l->customer, customer, n);
	l->next = scan_last ? scan_last->next : l;
	if (scan_last)
		scan_last->next = l;
	scan_last = l;
	return l;
}

/* The next job in turn, or NULL; an emptied lane leaves the ring. */
static struct queue_job *scan_take(void)
{
	struct scan_lane *l = scan_last ? scan_last->next : NULL;
	struct queue_job *j;

	if (!l)
		return NULL;
	j = l->head;
	l->head = j->next;
	if (l->head) { /* its next job waits for the next round */
		l->n--;
		scan_last = l;
		return j;
	}
	if (l == scan_last)
		scan_last = NULL;
	else
		scan_last->next = l->next;
	free(l);
	return j;
}

/* When a job joining lane l (NULL: a new one) would have its verdict if
 * every scan took scan_longest_ms (ms from now): the turns give it the
 * jobs of its own lane first and, of each other lane, at most one more
 * than its own lane has. */
static long long scan_wait_ms(const struct scan_lane *l)
{
	size_t mine = l ? l->n : 0, ahead = mine, idle;
	const struct scan_lane *m = scan_last;

	if (m)
		do {
			if (m != l)
				ahead += m->n < mine + 1 ? m->n : mine + 1;
			m = m->next;
		} while (m != scan_last);
	idle = (size_t)(scan_running - scan_busy);
	if (ahead < idle)
		return scan_longest_ms();
	return (long long)((ahead - idle) / (size_t)scan_running + 2) *
	       scan_longest_ms();
}

/* Into its customer's lane, or -1 when it would wait too long (or no
 * lane could be made). */
static int scan_enqueue(struct queue_job *j)
{
	struct scan_lane *l = scan_lane_find(scan_customer(j));

	if (scan_wait_ms(l) > scan_budget_ms() ||
	    (!l && !(l = scan_lane_new(scan_customer(j)))))
		return -1;
	if (l->head) {
		l->tail->next = j;
		l->n++;
	} else {
		l->head = j;
		l->n = 1;
	}
	l->tail = j;
	return 0;
}

static void *scan_thread(void *arg)
{
	struct queue_job *j;

	(void)arg;
	for (;;) {
		if (sem_wait(&scan_sem) < 0)
			continue; /* EINTR */
		pthread_mutex_lock(&scan_mu);
		if ((j = scan_take()))
			scan_busy++;
		pthread_mutex_unlock(&scan_mu);
		if (!j)
			continue;
		scan_one(j);
		pthread_mutex_lock(&scan_mu);
		scan_busy--;
		pthread_mutex_unlock(&scan_mu);
	}
	return NULL;
}

int queue_scan_start(void)
{
	if (!*cf.scan_rspamd)
		return 0;
	if (sem_init(&scan_sem, 0, 0) < 0)
		return -1;
	for (int i = 0; i < SCAN_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, scan_thread, NULL) == 0) {
			pthread_detach(t);
			scan_running++;
		}
	}
	return scan_running ? 0 : -1;
}

void queue_scan_add(struct queue_job *j, int wake)
{
	int rc;

	atomic_init(&j->cstate, wake ? COMMIT_WAKE : 0);
	j->next = NULL;
	j->scan_since = admit_now_ms();
	pthread_mutex_lock(&scan_mu);
	rc = scan_enqueue(j);
	pthread_mutex_unlock(&scan_mu);
	if (rc == 0) {
		sem_post(&scan_sem);
		return;
	}
	scan_metric("busy");
	log_warn("%s: scan=busy: its verdict could come after the client's "
		 "wait (data_timeout): not queued", j->q.qid);
	scan_refuse(j, EXIT_TEMP, QREASON_BUSY, "content scanner busy");
}
