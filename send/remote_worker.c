/* remote_worker.c: one worker process serves one relay-send connection:
 * a job frame in, a result frame out, until EOF.  Between jobs it waits
 * with a timeout so that idle cached connections are closed on time. */
#include "remote.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "ns.h"
#include "settings.h"

/* relay-send gives a job 4 x connect_timeout + 3 x remote_timeout, then
 * drops the worker and defers the recipients.  A worker still talking to
 * a server after that could deliver what relay-send retries later: the
 * job stops itself at 9/10 of that budget instead (relay-send then sees
 * EOF and defers; only a final reply lost this way duplicates). */
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

/* One job.  A frame that cannot be parsed is a bug in relay-send: it
 * is logged and the connection dropped (relay-send sees EOF). */
static int worker_one(int fd, char *payload, size_t len)
{
	static struct kv_msg m;
	struct remote_job job;
	struct kv out;
	char err[256];
	int rc;

	if (kv_parse(&m, payload, len) < 0) {
		log_warn("dropping relay-send: malformed frame");
		return -1;
	}
	if (remote_job_parse(&job, &m, err, sizeof err) < 0) {
		log_warn("dropping relay-send: %s", err);
		return -1;
	}
	alarm((unsigned)remote_worker_budget());
	remote_deliver_job(&job);
	alarm(0);
	kv_init(&out);
	remote_job_result(&job, &out);
	rc = kv_send(&out, fd);
	kv_free(&out);
	remote_job_free(&job);
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

int remote_worker_run(int fd)
{
	struct ns_reader rd;
	char *payload;
	size_t len;
	int rc = EXIT_DONE;

	if (ns_reader_init(&rd, fd) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	signal(SIGALRM, worker_alarm);
	for (;;) {
		/* pending still counts the frame returned last (rd.consumed):
		 * wait (and expire the cache) only when nothing else is in */
		if (ns_reader_pending(&rd) == rd.consumed && worker_wait(fd) < 0)
			break;
		int r = ns_reader_next(&rd, &payload, &len);
		if (r < 0) {
			if (errno != 0)
				log_warn("relay-send connection: %s",
					 errno == EPROTO ? "garbage frame"
							 : strerror(errno));
			break;
		}
		if (r == 0)
			continue;
		if (worker_one(fd, payload, len) < 0) {
			rc = EXIT_TEMP;
			break;
		}
	}
	remote_cache_flush();
	ns_reader_free(&rd);
	return rc;
}
