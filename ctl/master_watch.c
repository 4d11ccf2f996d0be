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
#include "dns.h"
#include "notify.h"
#include "settings.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WATCH_READS_MAX 16 /* reads per pipe and round; more is flood */

/* Longer limits for the daemons whose loops wait longer without a
 * beat (master_watch_init); 0: daemon_hang_timeout as set. */
static long watch_redis_least, watch_rpt_least;

/* least seconds, or 0 when daemon_hang_timeout already leaves that much
 * room (or is 0: no watch), with a log line that says why and for whom. */
static long watch_need(long least, const char *why, const char *whom)
{
	long set = cf.daemon_hang_timeout;

	if (set <= 0 || set >= least)
		return 0;
	master_log("warning", "daemon_hang_timeout %ld is too short for %s: "
		   "%ld s applied to %s", set, why, least, whom);
	return least;
}

/* Waits a daemon's main loop makes without a beat in between, as its
 * configuration has it: a limit that does not leave room for them would
 * kill it for waiting, again and again, while they last.  That daemon's
 * limit is raised, and the log says so; the others keep the setting.
 * - relay-policy and relay-metrics with a shared rate_store (not
 *   "local": no Redis) wait for Redis an exchange at a time, each up to
 *   rate_store_timeout: room for two in a row.
 * - relay-send with tls_rpt = yes looks up a policy domain's TLSRPT
 *   record in its loop: up to DNS_WAIT_MAX when the resolver does not
 *   answer (lib/dns.h).
 * A wait in a loop of our own beats instead (notify_wait_fd: relay-send
 * waiting for relay-queue, relay-metrics' alert mail) and needs no room. */
void master_watch_init(void)
{
	long redis = (cf.rate_store_timeout + 999) / 1000;
	char why[160];

	watch_redis_least = watch_rpt_least = 0;
	if (cf.rate_store && *cf.rate_store &&
	    strcmp(cf.rate_store, "local") != 0) {
		snprintf(why, sizeof why, "rate_store_timeout %ld ms "
			 "(relay-policy waits that long for Redis)",
			 cf.rate_store_timeout);
		watch_redis_least = watch_need(2 * redis + NOTIFY_HANG_MIN, why,
					       "relay-policy and relay-metrics");
	}
	if (cf.tls_rpt)
		watch_rpt_least = watch_need(DNS_WAIT_MAX + NOTIFY_HANG_MIN,
					     "tls_rpt = yes (relay-send waits "
					     "for a TLSRPT lookup in its loop)",
					     "relay-send");
}

/* c's limit in seconds: daemon_hang_timeout, or its raised one. */
static long watch_limit(const struct master_child *c)
{
	long limit = cf.daemon_hang_timeout;

	if ((!strcmp(c->name, "relay-policy") ||
	     !strcmp(c->name, "relay-metrics")) && watch_redis_least > limit)
		limit = watch_redis_least;
	if (!strcmp(c->name, "relay-send") && watch_rpt_least > limit)
		limit = watch_rpt_least;
	return limit;
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

/* c's limit for a log line: the setting, and what applies if raised. */
static void watch_limit_text(const struct master_child *c, char *buf,
			     size_t n)
{
	long limit = watch_limit(c);

	if (limit == cf.daemon_hang_timeout)
		snprintf(buf, n, "daemon_hang_timeout %ld", limit);
	else
		snprintf(buf, n, "daemon_hang_timeout %ld, raised to %ld",
			 cf.daemon_hang_timeout, limit);
}

/* SIGKILL c, which has said nothing for `silent` seconds. */
static void watch_kill(struct master_child *c, double silent)
{
	char limit[80];

	watch_limit_text(c, limit, sizeof limit);
	master_log("fatal", "%s pid=%ld hangs: silent for %.0f s "
		   "(%s): SIGKILL, then restarted",
		   c->name, (long)c->pid, silent, limit);
	kill(c->pid, SIGKILL);
	c->hang_killed = 1; /* counted when reaped (MASTER_HANG_MAX) */
	master_child_notify_close(c); /* not serving: run/ready goes */
	c->slow_said = 1; /* it served: not "not ready yet" until reaped */
}

/* c has run for `took` seconds without its ready byte: slow or stuck in
 * its start, which cannot be told apart from here; said once. */
static void watch_not_ready(struct master_child *c, double took)
{
	char limit[80];

	watch_limit_text(c, limit, sizeof limit);
	master_log("warning", "%s pid=%ld has not said it serves after %.0f s "
		   "(%s): still starting, or stuck",
		   c->name, (long)c->pid, took, limit);
	c->slow_said = 1;
}

void master_watch_beats(void)
{
	struct master_child *c;
	double now;
	long limit;
	int i;

	for (i = 0; (c = master_child_at(i)); i++) {
		now = master_now();
		limit = watch_limit(c);
		if (c->pid && c->notifies && !c->serving && !c->slow_said &&
		    limit > 0 && now - c->started_mono >= (double)limit)
			watch_not_ready(c, now - c->started_mono);
		if (!c->pid || !c->serving)
			continue;
		/* read before judging: a relay-master that was itself held
		 * up finds the bytes that came meanwhile */
		if (watch_read(c))
			c->last_beat = now;
		if (limit > 0 && now - c->last_beat >= (double)limit)
			watch_kill(c, now - c->last_beat);
	}
}
