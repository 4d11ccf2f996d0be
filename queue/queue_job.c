/* queue_job.c: the daemon's injections.  Each one's message and envelope
 * pipes are read as data arrives, without blocking, so one event loop
 * serves every client at once instead of a process per message; once
 * the envelope is complete the job is checked and written exactly as the
 * standalone program does (queue_inject_write) and goes to the commit
 * thread. */
#include "queue.h"
#include "exitcodes.h"
#include "kv.h"
#include "log.h"
#include "settings.h"
#include "wire_queue.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void job_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void queue_job_init(struct queue_job *j, int msgfd, int envfd)
{
	/* the spool keeps the pointer; cf.queue_dir never changes */
	static char tmpdir[PATH_MAX];

	if (!tmpdir[0])
		snprintf(tmpdir, sizeof tmpdir, "%s/tmp", cf.queue_dir);
	memset(j, 0, sizeof *j);
	j->msgfd = msgfd;
	j->envfd = envfd;
	j->fd = -1;
	j->afd = -1;
	j->replyfd = -1;
	queue_spool_init(&j->sp, tmpdir);
	queue_dkim_init(&j->dk);
	j->sp.tap = queue_dkim_feed;
	j->sp.tap_arg = &j->dk;
}

void queue_job_free(struct queue_job *j)
{
	if (j->fd >= 0) { /* written, never committed: not in new/ */
		close(j->fd);
		unlink(j->tmp);
	}
	queue_archive_drop(j);
	job_close_fd(&j->msgfd);
	job_close_fd(&j->envfd);
	qfile_free(&j->q);
	free(j->env);
	queue_spool_free(&j->sp);
	queue_dkim_free(&j->dk);
	j->env = NULL;
	j->fd = -1;
}

/* From the main thread (a refusal) or a commit thread (the verdict);
 * never both for one connection at once. */
void queue_job_reply(int fd, const struct queue_result *r,
		     const char *receipt)
{
	struct kv k;

	kv_init(&k);
	kv_addf(&k, WIRE_QUEUE_STATUS, "%d", r->status);
	if (r->status != 0 && r->reason != QREASON_NONE)
		kv_add(&k, WIRE_QUEUE_REASON, qreason_name(r->reason));
	if (r->qid[0] && strcmp(r->qid, "-") != 0)
		kv_add(&k, WIRE_QUEUE_ID, r->qid);
	kv_add(&k, WIRE_QUEUE_TEXT, r->text);
	if (r->status == 0 && receipt && *receipt)
		kv_add(&k, ADMIT_WIRE_RECEIPT, receipt);
	if (kv_send(&k, fd) < 0)
		log_warn("queue.sock: reply lost: %s", strerror(errno));
	kv_free(&k);
}

/* status EXIT_TEMP: the reason comes from errno (a full disk or not). */
static int job_fail(struct queue_job *j, int status, enum qreason reason,
		    const char *what)
{
	j->r.status = status;
	j->r.reason = status == EXIT_TEMP ? qreason_errno(errno) : reason;
	snprintf(j->r.text, sizeof j->r.text, "%s%s%s", what,
		 status == EXIT_TEMP ? ": " : "",
		 status == EXIT_TEMP ? strerror(errno) : "");
	return -1;
}

/* A read that failed: past a limit (EFBIG) for good, else for now. */
static int job_read_fail(struct queue_job *j, const char *what)
{
	if (errno != EFBIG)
		return job_fail(j, EXIT_TEMP, QREASON_IO, what);
	j->r.status = EXIT_PERM;
	j->r.reason = QREASON_TOOBIG;
	snprintf(j->r.text, sizeof j->r.text, "%s: over %lld bytes", what,
		 (long long)(j->envfd >= 0 || j->inl == JOB_ENV ? QUEUE_ENV_MAX
								: j->sp.max));
	return -1;
}

int queue_job_poll_fd(const struct queue_job *j)
{
	return j->envfd >= 0 ? j->envfd : j->msgfd;
}

/* The end of the message pipe is the end of the message only while the
 * client still waits for the answer: the envelope came first, so a
 * client that gave up mid-message (relay-send past inject_timeout, or
 * killed) leaves a pipe that ends early.  It hangs up before it closes
 * the pipe; queuing what came would send a message cut short, and its
 * next try would send it again.  1 when the client's socket is gone. */
static int job_client_gone(const struct queue_job *j)
{
	struct pollfd p = { .fd = j->replyfd, .events = 0 };

	return j->replyfd >= 0 && poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLHUP | POLLERR));
}

int queue_job_step(struct queue_job *j)
{
	int rc;

	if (j->envfd >= 0) {
		rc = queue_env_feed(j->envfd, &j->env, &j->envlen, &j->envcap);
		if (rc < 0)
			return job_read_fail(j, "reading envelope");
		if (rc == 0)
			return 0;
		job_close_fd(&j->envfd);
		if (queue_inject_check(j) < 0)
			return -1; /* the message is never read */
	}
	rc = queue_spool_feed(&j->sp, j->msgfd);
	if (rc < 0)
		return job_read_fail(j, "reading message");
	if (rc == 0)
		return 0;
	job_close_fd(&j->msgfd);
	if (job_client_gone(j)) {
		j->r.status = EXIT_TEMP;
		j->r.reason = QREASON_IO;
		snprintf(j->r.text, sizeof j->r.text, "client hung up before "
			 "the end of the message: nothing queued");
		return -1;
	}
	return queue_inject_write(j) < 0 ? -1 : 1;
}

int queue_job_frame(struct queue_job *j, const char *p, size_t n)
{
	int rc = 0;

	if (n == 0) {
		if (j->inl == JOB_MSG) {
			j->inl = JOB_ENV;
			return 0;
		}
		j->inl = JOB_DONE;
		if (j->dead)
			return -1;
		return queue_inject_write(j) < 0 ? -1 : 1;
	}
	if (j->dead)
		return 0;
	if (j->inl == JOB_MSG && queue_spool_add(&j->sp, p, n) < 0)
		rc = job_read_fail(j, "reading message");
	else if (j->inl == JOB_ENV &&
		 queue_env_append(&j->env, &j->envlen, &j->envcap, p, n) < 0)
		rc = job_read_fail(j, "reading envelope");
	if (rc < 0) { /* what came is not needed: the rest is dropped too */
		j->dead = 1;
		queue_spool_drop(&j->sp);
	}
	return 0;
}
