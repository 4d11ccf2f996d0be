/* master_loop.c: relay-master's event loop.  Signals arrive through a
 * signalfd (blocked otherwise, unblocked in each child before exec), the
 * daemons' stderr through the log pipe; between events the loop starts
 * daemons whose restart time has come and checks readiness. */
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

static int loop_ready_written;

static void loop_write_ready(void)
{
	char text[32];

	snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (master_run_write("ready", text) < 0)
		return;
	loop_ready_written = 1;
	master_log("info", "ready: every daemon is up and listening");
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
	struct pollfd pfd[2];
	sigset_t set;
	int sfd, stop = 0;

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
		int n = poll(pfd, 2, timeout);
		if (n < 0 && errno != EINTR)
			master_fatal(1, "poll");
		if (n > 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
			master_log_drain();
		/* reaping without a SIGCHLD finds nothing: only on a signal,
		 * and on the timeout as a safety net */
		if (n == 0 || (n > 0 && pfd[0].revents)) {
			stop = loop_signal(sfd);
			master_child_reap(); /* SIGCHLDs coalesce: reap all */
		}
		if (!stop)
			master_tls_tick();
		if (!stop && !loop_ready_written && master_ready_check())
			loop_write_ready();
		if (!stop && n > 0 && (pfd[1].revents & POLLIN))
			loop_pause();
	}
	master_child_stop_all(MASTER_STOP_GRACE);
	close(sfd);
	return 0;
}
