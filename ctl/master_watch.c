/* master_watch.c: daemons that hang instead of dying.  After its ready
 * byte a mail-path daemon's main loop writes one more byte to its
 * readiness pipe at least every 2 * NOTIFY_BEAT_MS (lib/notify.h), even
 * when idle.  relay-master reads those bytes at each round of its loop
 * (at least once a second) and SIGKILLs a daemon that has been silent
 * for daemon_hang_timeout seconds: stopped (SIGSTOP), deadlocked, stuck
 * in a loop or in a system call that does not end.  The reaper then
 * restarts it as any daemon that died (master_child.c, with its
 * back-off), and run/ready is removed until the new one is ready.  The
 * clock starts at the ready byte: what a daemon does before it serves
 * (relay-queue's recovery of many pool files) is not timed, only named
 * once it has taken that long, so that a relay that stays "not ready"
 * says which daemon it waits for. */
#include "master.h"
#include "notify.h"
#include "settings.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#define WATCH_READS_MAX 16 /* reads per pipe and round; more is flood */

/* The limit applied: daemon_hang_timeout, or more (master_watch_init). */
static long watch_limit;

/* relay-policy (and relay-metrics) wait for Redis in their main loop, an
 * exchange at a time, each up to rate_store_timeout: a limit that does
 * not leave room for two of them in a row would kill them for waiting
 * while Redis is slow or gone, again and again.  It is raised, and the
 * log says so. */
void master_watch_init(void)
{
	long redis = (cf.rate_store_timeout + 999) / 1000;
	long least = 2 * redis + NOTIFY_HANG_MIN;

	watch_limit = cf.daemon_hang_timeout;
	if (watch_limit <= 0 || !cf.rate_store || !*cf.rate_store ||
	    watch_limit >= least)
		return;
	master_log("warning", "daemon_hang_timeout %ld is too short for "
		   "rate_store_timeout %ld ms (relay-policy waits that long "
		   "for Redis): %ld s applied", cf.daemon_hang_timeout,
		   cf.rate_store_timeout, least);
	watch_limit = least;
}

/* Empty c's pipe; 1 when a byte came.  End of file (the daemon closed
 * it or is exiting) closes our end but keeps the clock: one that lives
 * on without its pipe is as silent as one that hangs. */
static int watch_read(struct master_child *c)
{
	char buf[64];
	ssize_t got;
	int heard = 0, i;

	for (i = 0; i < WATCH_READS_MAX && c->notify_fd >= 0; i++) {
		got = read(c->notify_fd, buf, sizeof buf);
		if (got > 0) {
			heard = 1;
			continue;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got == 0 || errno != EAGAIN) {
			close(c->notify_fd);
			c->notify_fd = -1;
		}
		break;
	}
	return heard;
}

/* SIGKILL c, which has said nothing for `silent` seconds. */
static void watch_kill(struct master_child *c, double silent)
{
	master_log("fatal", "%s pid=%ld hangs: silent for %.0f s "
		   "(daemon_hang_timeout %ld): SIGKILL, then restarted",
		   c->name, (long)c->pid, silent, watch_limit);
	kill(c->pid, SIGKILL);
	master_child_notify_close(c); /* not serving: run/ready goes */
	c->slow_said = 1; /* it served: not "not ready yet" until reaped */
}

/* c has run for `took` seconds without its ready byte: slow or stuck in
 * its start, which cannot be told apart from here; said once. */
static void watch_not_ready(struct master_child *c, double took)
{
	master_log("warning", "%s pid=%ld has not said it serves after %.0f s "
		   "(daemon_hang_timeout %ld): still starting, or stuck",
		   c->name, (long)c->pid, took, watch_limit);
	c->slow_said = 1;
}

void master_watch_beats(void)
{
	struct master_child *c;
	double now;
	int i;

	for (i = 0; (c = master_child_at(i)); i++) {
		now = master_now();
		if (c->pid && c->notifies && !c->serving && !c->slow_said &&
		    watch_limit > 0 &&
		    now - c->started_mono >= (double)watch_limit)
			watch_not_ready(c, now - c->started_mono);
		if (!c->pid || !c->serving)
			continue;
		/* read before judging: a relay-master that was itself held
		 * up finds the bytes that came meanwhile */
		if (watch_read(c))
			c->last_beat = now;
		if (watch_limit > 0 &&
		    now - c->last_beat >= (double)watch_limit)
			watch_kill(c, now - c->last_beat);
	}
}
