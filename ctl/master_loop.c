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
#include <unistd.h>

#define MASTER_STOP_GRACE 5.0

static int loop_ready_written;

static void loop_write_ready(void)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/ready", cf.run_dir);
	snprintf(tmp, sizeof tmp, "%s/ready.tmp", cf.run_dir);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) < 0) {
		master_log("warning", "write %s: %s", path, strerror(errno));
		return;
	}
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
			break;
		case SIGTERM:
		case SIGINT:
			master_log("info", "signal %u: stopping", si.ssi_signo);
			return 1;
		}
	}
	return 0;
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
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			master_fatal(1, "poll");
		master_log_drain();
		stop = loop_signal(sfd);
		master_child_reap(); /* a SIGCHLD can coalesce: reap anyway */
		if (!stop && !loop_ready_written && master_ready_check())
			loop_write_ready();
	}
	master_child_stop_all(MASTER_STOP_GRACE);
	close(sfd);
	return 0;
}
