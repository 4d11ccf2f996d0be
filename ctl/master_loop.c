/* master_loop.c: relay-master's event loop.  Signals arrive through a
 * signalfd (blocked otherwise, unblocked in each child before exec), the
 * daemons' stderr through the log pipe; between events the loop starts
 * daemons whose restart time has come, reads their beats (master_watch.c)
 * and checks readiness. */
#include "master.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define MASTER_STOP_GRACE 5.0
#define MASTER_LOOP_CHILDREN 16 /* at least master_child.c's table */

static int loop_ready_written;

/* run/ready exists exactly while master_ready_check holds: written when
 * it comes to hold, removed while a daemon is down or relay-listen has
 * not (again) said it listens.  Once written, only the daemons are
 * checked: /proc/net/tcp holds a line per connection (thousands), too
 * much to read at every round; a relay-listen that stops listening
 * exits, and the new one must say it listens again. */
static void loop_ready_update(void)
{
	char text[32];
	int listener;
	int ready = loop_ready_written ? master_ready_daemons(&listener)
				       : master_ready_check();

	if (ready && !loop_ready_written) {
		snprintf(text, sizeof text, "%ld\n", (long)getpid());
		if (master_run_write("ready", text) < 0)
			return;
		loop_ready_written = 1;
		master_log("info", "ready: every daemon is up and listening");
	} else if (!ready && loop_ready_written) {
		master_run_remove("ready");
		loop_ready_written = 0;
		master_log("warning", "not ready: a daemon is down or not "
			   "listening yet");
	}
}

/* Returns 1 when the loop must end. */
static int loop_signal(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			master_child_reap();
			break;
		case SIGHUP:
			master_log_reopen();
			master_tls_sighup();
			break;
		case SIGTERM:
		case SIGINT:
			master_log("info", "signal %u: stopping", si.ssi_signo);
			return 1;
		}
	}
	return 0;
}

/* After a drain, let lines pile up in the pipe for a moment: while
 * relay-master does not wait in poll, a daemon's write to the pipe wakes
 * nobody, and one drain then takes many lines in one read and one write.
 * Otherwise nearly every line costs a wake-up of relay-master, charged
 * to the daemon that logs it.  Lines are late by at most this much; the
 * pipe (enlarged in master_log_open) holds far more than comes meanwhile. */
#define MASTER_LOG_PAUSE_NS 5000000L

static void loop_pause(void)
{
	struct timespec ts = { 0, MASTER_LOG_PAUSE_NS };

	nanosleep(&ts, NULL);
}

static int loop_timeout(void)
{
	double due = master_child_start_due();
	int ms = loop_ready_written ? 1000 : 100;

	if (due >= 0 && due * 1000 < ms)
		ms = (int)(due * 1000) + 1;
	return ms;
}

int master_loop_run(void)
{
	struct pollfd pfd[2 + MASTER_LOOP_CHILDREN];
	sigset_t set;
	int sfd, nn, stop = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		master_fatal(1, "signalfd");
	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = master_log_fd();
	pfd[1].events = POLLIN;
	while (!stop) {
		int timeout = loop_timeout();
		int n;
		nn = master_child_notify_poll(pfd + 2, MASTER_LOOP_CHILDREN);
		n = poll(pfd, (nfds_t)(2 + nn), timeout);
		if (n < 0 && errno != EINTR)
			master_fatal(1, "poll");
		if (n > 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
			master_log_drain();
		if (n > 0)
			master_child_notify_read(pfd + 2, nn);
		master_watch_beats();
		/* reaping without a SIGCHLD finds nothing: only on a signal,
		 * and on the timeout as a safety net */
		if (n == 0 || (n > 0 && pfd[0].revents)) {
			stop = loop_signal(sfd);
			master_child_reap(); /* SIGCHLDs coalesce: reap all */
		}
		if (!stop)
			master_tls_tick();
		if (!stop)
			loop_ready_update();
		if (!stop && n > 0 && (pfd[1].revents & POLLIN))
			loop_pause();
	}
	master_child_stop_all(MASTER_STOP_GRACE);
	close(sfd);
	return 0;
}
