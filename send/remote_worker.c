/* remote_worker.c: one worker process serves one relay-send connection:
 * job frames in, one result frame out per job, in order, until EOF.
 * relay-send may queue several jobs; while a message's dot is being
 * sent, the job behind it is read ahead (remote_worker_peek) so that its
 * commands can go out in the same write.  Between jobs the worker waits
 * with a timeout so that idle cached connections are closed on time. */
#include "remote.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "ns.h"
#include "settings.h"
#include "wire_remote.h"

/* relay-send gives a job wire_remote_job_budget() seconds, then drops
 * the worker and defers the recipients.  A worker still talking to
 * a server after that could deliver what relay-send retries later: the
 * job stops itself at 9/10 of that budget instead, or up to a second
 * before (worker_alarm; relay-send then sees EOF and defers; only a final
 * reply lost this way duplicates). */
long remote_worker_budget(void)
{
	return wire_remote_job_budget() * 9 / 10 + 1;
}

/* The budget's alarm costs no system call per job: it is set when a job
 * starts and none is pending, and left pending when the job ends.  When
 * it goes off the handler looks at the job running then: none, and it
 * is simply not set again until the next job; one younger than the
 * budget, and it is set again for what that job has left; else the
 * worker stops.  (Two alarm() calls per job were an eighth of the
 * worker's system calls.)  The handler returns, so it is installed with
 * SA_RESTART, and every wait (io_wait, res_nsend, conn_alive) polls again
 * on EINTR. */
static volatile sig_atomic_t worker_busy;     /* a job runs */
static volatile sig_atomic_t worker_started;  /* when (worker_secs) */
static volatile sig_atomic_t worker_armed;    /* an alarm is pending */

/* Seconds on the monotonic clock (async-signal-safe, and no system
 * call: the vDSO). */
static long worker_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

static void worker_alarm(int sig)
{
	static const char msg[] = "relay-remote: warning: job over its time "
				  "budget: worker stops\n";
	long left = remote_worker_budget() - (worker_secs() - worker_started);
	int saved = errno;

	(void)sig;
	if (!worker_busy || left > 0) {
		worker_armed = worker_busy;
		if (worker_busy)
			alarm((unsigned)left);
		errno = saved;
		return;
	}
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(EXIT_TEMP);
	_exit(EXIT_TEMP);
}

static void worker_arm(void)
{
	worker_started = (sig_atomic_t)worker_secs();
	worker_busy = 1;
	if (!worker_armed) {
		worker_armed = 1;
		alarm((unsigned)remote_worker_budget());
	}
}

static void worker_alarm_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = worker_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

/* The connection to relay-send, and the job read ahead by
 * remote_worker_peek: one of two jobs (30 KiB each) that trade places
 * when the one ahead becomes the current one, never copied. */
static struct ns_reader worker_rd;
static struct remote_job worker_jobs[2];
static struct remote_job *worker_ahead = &worker_jobs[1];
static int worker_has_ahead;
static int worker_bad_ahead;    /* a frame that did not parse was read */
static unsigned long worker_seq;
/* The queue files that came with the frames (one each, SCM_RIGHTS, on
 * the frame's first byte), in frame order: a frame that is complete has
 * brought its descriptor, so the oldest one here is the next frame's. */
#define WORKER_FDS 16
static int worker_fds[WORKER_FDS];
static int worker_nfds;

static int worker_fd_take(void)
{
	int fd;

	if (worker_nfds == 0)
		return -1;
	fd = worker_fds[0];
	worker_nfds--;
	memmove(worker_fds, worker_fds + 1,
		(size_t)worker_nfds * sizeof *worker_fds);
	return fd;
}

/* Parse a frame into job.  A frame that cannot be parsed is a bug in
 * relay-send: it is logged and the connection dropped (relay-send sees
 * EOF).  A post frame (a TLS-RPT report) is answered here: 2, no job;
 * read ahead behind a job it would be answered out of order, so there
 * (ahead) it is refused like a bad frame. */
static int worker_parse(struct remote_job *job, char *payload, size_t len,
			int ahead)
{
	static struct kv_msg m;
	char err[256];

	if (kv_parse(&m, payload, len) < 0) {
		log_warn("dropping relay-send: malformed frame");
		return -1;
	}
	if (kv_get(&m, WIRE_REMOTE_POST)) {
		if (ahead)
			return -1;
		return remote_post_frame(worker_rd.fd, &m, worker_fd_take()) < 0
			       ? -1 : 2;
	}
	if (remote_job_parse(job, &m, err, sizeof err) < 0) {
		log_warn("dropping relay-send: %s", err);
		return -1;
	}
	job->seq = ++worker_seq;
	job->qfd = worker_fd_take();
	return 0;
}

struct remote_job *remote_worker_peek(void)
{
	char *payload;
	size_t len;

	if (worker_has_ahead)
		return worker_ahead;
	if (worker_bad_ahead || worker_rd.buf == NULL)
		return NULL;
	/* a frame already read, else one waiting in the socket (relay-send
	 * writes a frame whole): one recv that does not wait.  EOF and
	 * errors come back to the loop's next read. */
	int r = ns_reader_try_fds(&worker_rd, &payload, &len, worker_fds,
				  &worker_nfds, WORKER_FDS);
	if (r != 1)
		return NULL;
	if (worker_parse(worker_ahead, payload, len, 1) < 0) {
		worker_bad_ahead = 1;
		return NULL;
	}
	worker_has_ahead = 1;
	return worker_ahead;
}

/* The result frame's buffer is kept from job to job (two mallocs and
 * a free a job less), unless a job of many recipients made it big. */
#define WORKER_OUT_KEEP 16384

/* One job: deliver it and answer its result frame.  relay-send counts
 * a message as delivered only once it has the result, so the RSET or
 * QUIT of the connection comes after it: a slow server must not delay
 * the result, or widen the window in which a killed worker makes a
 * delivered message go again.  The log lines (one per recipient, in one
 * write) come before it, so whoever reads the log once relay-send has
 * the result finds them.  The connection is cached (or closed) before
 * the next frame is read: the next job never meets it half-closed. */
static int worker_one(int fd, struct remote_job *job)
{
	static struct kv out; /* zeroed: as kv_init leaves it */
	int rc;

	worker_arm();
	log_batch(1);
	remote_deliver_job(job);
	kv_reset(&out);
	remote_job_result(job, &out);
	log_batch(0);
	rc = kv_send(&out, fd);
	remote_deliver_keep(job);
	if (out.cap > WORKER_OUT_KEEP)
		kv_free(&out);
	remote_job_free(job);
	worker_busy = 0;
	return rc;
}

/* Wait for the next frame, expiring cached connections meanwhile. */
static int worker_wait(int fd)
{
	for (;;) {
		int ms = remote_cache_expire();
		int w = io_wait(fd, POLLIN, ms < 0 ? -1 : ms + 10);
		if (w != 0)
			return w;
	}
}

/* The next job into *job: the one read ahead (the two trade places),
 * else the next frame (waiting for it).  1 with **job, 0 to stop
 * cleanly, -1 on a bad frame. */
static int worker_next(int fd, struct remote_job **job)
{
	char *payload;
	size_t len;

	for (;;) {
		if (worker_has_ahead) {
			struct remote_job *done = *job;
			*job = worker_ahead;
			worker_ahead = done;
			worker_has_ahead = 0;
			return 1;
		}
		if (worker_bad_ahead)
			return -1;
		/* pending still counts the frame returned last (consumed):
		 * wait (and expire the cache) only when nothing else is in */
		if (ns_reader_pending(&worker_rd) == worker_rd.consumed &&
		    worker_wait(fd) < 0)
			return 0;
		int r = ns_reader_next_fds(&worker_rd, &payload, &len,
					   worker_fds, &worker_nfds, WORKER_FDS);
		if (r < 0) {
			if (errno != 0)
				log_warn("relay-send connection: %s",
					 errno == EPROTO ? "garbage frame"
							 : strerror(errno));
			return 0;
		}
		if (r == 1) {
			int p = worker_parse(*job, payload, len, 0);
			if (p == 2)
				continue; /* a post, answered */
			return p < 0 ? -1 : 1;
		}
	}
}

int remote_worker_run(int fd)
{
	struct remote_job *job = &worker_jobs[0];
	int rc = EXIT_DONE, r;

	if (ns_reader_init(&worker_rd, fd) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	worker_alarm_init();
	while ((r = worker_next(fd, &job)) == 1)
		if (worker_one(fd, job) < 0) {
			rc = EXIT_TEMP;
			break;
		}
	if (r < 0)
		rc = EXIT_TEMP;
	remote_cache_flush();
	ns_reader_free(&worker_rd);
	while (worker_nfds)
		close(worker_fd_take());
	return rc;
}
