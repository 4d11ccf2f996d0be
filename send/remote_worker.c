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

/* relay-send gives a job 4 x connect_timeout + 3 x remote_timeout, then
 * drops the worker and defers the recipients.  A worker still talking to
 * a server after that could deliver what relay-send retries later: the
 * job stops itself at 9/10 of that budget instead, or up to a second
 * before (worker_arm; relay-send then sees EOF and defers; only a final
 * reply lost this way duplicates). */
long remote_worker_budget(void)
{
	return (4 * cf.connect_timeout + 3 * cf.remote_timeout) * 9 / 10 + 1;
}

static void worker_alarm(int sig)
{
	static const char msg[] = "relay-remote: warning: job over its time "
				  "budget: worker stops\n";
	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(EXIT_TEMP);
	_exit(EXIT_TEMP);
}

/* The connection to relay-send and the job read ahead by
 * remote_worker_peek. */
static struct ns_reader worker_rd;
static struct remote_job worker_ahead;
static int worker_has_ahead;
static int worker_bad_ahead;    /* a frame that did not parse was read */
static unsigned long worker_seq;

/* Parse a frame into job.  A frame that cannot be parsed is a bug in
 * relay-send: it is logged and the connection dropped (relay-send sees
 * EOF). */
static int worker_parse(struct remote_job *job, char *payload, size_t len)
{
	static struct kv_msg m;
	char err[256];

	if (kv_parse(&m, payload, len) < 0) {
		log_warn("dropping relay-send: malformed frame");
		return -1;
	}
	if (remote_job_parse(job, &m, err, sizeof err) < 0) {
		log_warn("dropping relay-send: %s", err);
		return -1;
	}
	job->seq = ++worker_seq;
	return 0;
}

static int worker_readable(void)
{
	struct pollfd p = { .fd = worker_rd.fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

struct remote_job *remote_worker_peek(void)
{
	char *payload;
	size_t len;

	if (worker_has_ahead)
		return &worker_ahead;
	if (worker_bad_ahead || worker_rd.buf == NULL)
		return NULL;
	/* a frame already read, else one waiting in the socket: relay-send
	 * writes a frame whole, so the read does not wait for its end.  EOF
	 * and errors come back to the loop's next read. */
	int r = ns_reader_buffered(&worker_rd, &payload, &len);
	if (r == 0 && worker_readable())
		r = ns_reader_next(&worker_rd, &payload, &len);
	if (r != 1)
		return NULL;
	if (worker_parse(&worker_ahead, payload, len) < 0) {
		worker_bad_ahead = 1;
		return NULL;
	}
	worker_has_ahead = 1;
	return &worker_ahead;
}

/* The budget's alarm: set at a job's start, but at most once a second
 * (a job may then be stopped up to a second early), and cleared only
 * before the worker waits for work: jobs queued back to back cost no
 * system call each. */
static time_t worker_armed;     /* when it was set; 0: not set */

static void worker_arm(void)
{
	time_t now = time(NULL);

	if (worker_armed != now) {
		alarm((unsigned)remote_worker_budget());
		worker_armed = now;
	}
}

static void worker_disarm(void)
{
	if (worker_armed) {
		alarm(0);
		worker_armed = 0;
	}
}

/* One job: deliver it and answer its result frame.  Its log lines (one
 * per recipient) go out in one write. */
static int worker_one(int fd, struct remote_job *job)
{
	struct kv out;
	int rc;

	worker_arm();
	log_batch(1);
	remote_deliver_job(job);
	log_batch(0);
	kv_init(&out);
	remote_job_result(job, &out);
	rc = kv_send(&out, fd);
	kv_free(&out);
	remote_job_free(job);
	return rc;
}

/* Wait for the next frame, expiring cached connections meanwhile. */
static int worker_wait(int fd)
{
	worker_disarm();
	for (;;) {
		int ms = remote_cache_expire();
		int w = io_wait(fd, POLLIN, ms < 0 ? -1 : ms + 10);
		if (w != 0)
			return w;
	}
}

/* The next job: the one read ahead, else the next frame (waiting for
 * it).  1 with *job, 0 to stop cleanly, -1 on a bad frame. */
static int worker_next(int fd, struct remote_job *job)
{
	char *payload;
	size_t len;

	for (;;) {
		if (worker_has_ahead) {
			*job = worker_ahead;
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
		int r = ns_reader_next(&worker_rd, &payload, &len);
		if (r < 0) {
			if (errno != 0)
				log_warn("relay-send connection: %s",
					 errno == EPROTO ? "garbage frame"
							 : strerror(errno));
			return 0;
		}
		if (r == 1)
			return worker_parse(job, payload, len) < 0 ? -1 : 1;
	}
}

int remote_worker_run(int fd)
{
	struct remote_job job;
	int rc = EXIT_DONE, r;

	if (ns_reader_init(&worker_rd, fd) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	signal(SIGALRM, worker_alarm);
	while ((r = worker_next(fd, &job)) == 1)
		if (worker_one(fd, &job) < 0) {
			rc = EXIT_TEMP;
			break;
		}
	if (r < 0)
		rc = EXIT_TEMP;
	remote_cache_flush();
	ns_reader_free(&worker_rd);
	return rc;
}
