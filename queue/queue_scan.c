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
 * slow scanner then delays only the messages it scans. */
#include "queue.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Threads, i.e. scans at once: rspamd answers in milliseconds, and the
 * commit, not the scan, bounds a busy relay; more only when the scanner
 * is slow, when it is the limit anyway. */
#define SCAN_THREADS 8

static pthread_mutex_t scan_mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t scan_sem;
static struct queue_job *scan_head, *scan_tail;
static int scan_running;

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

/* The verdict for one job: on to the commit, or answered here. */
static void scan_one(struct queue_job *j)
{
	struct queue_rspamd_verdict v;
	char err[300];
	int fd = open(j->tmp, O_RDONLY | O_CLOEXEC), rc = -1, spam;

	if (fd < 0)
		snprintf(err, sizeof err, "open %.200s: %s", j->tmp,
			 strerror(errno));
	else
		rc = queue_rspamd_check(cf.scan_rspamd, cf.scan_timeout * 1000,
					fd, j->msgoff, j->msgend, &j->q, &v,
					err, sizeof err);
	if (fd >= 0)
		close(fd);
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

static void *scan_thread(void *arg)
{
	struct queue_job *j;

	(void)arg;
	for (;;) {
		if (sem_wait(&scan_sem) < 0)
			continue; /* EINTR */
		pthread_mutex_lock(&scan_mu);
		j = scan_head;
		if (j && !(scan_head = j->next))
			scan_tail = NULL;
		pthread_mutex_unlock(&scan_mu);
		if (j)
			scan_one(j);
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
	atomic_init(&j->cstate, wake ? COMMIT_WAKE : 0);
	j->next = NULL;
	pthread_mutex_lock(&scan_mu);
	if (scan_tail)
		scan_tail->next = j;
	else
		scan_head = j;
	scan_tail = j;
	pthread_mutex_unlock(&scan_mu);
	sem_post(&scan_sem);
}
