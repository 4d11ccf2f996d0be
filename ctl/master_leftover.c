/* master_leftover.c: daemons of an earlier run that outlived their
 * relay-master.  They get SIGTERM as it dies (the parent-death signal,
 * lib/privs.c), but a relay-send still running on the queue (one that
 * has not stopped yet, an older release's, one started by hand) must
 * never get a second one beside it: both would send every message
 * (lib/sendlock.h).  So before starting anything, relay-master waits a
 * little for the queue's lock to be free, then refuses to start, naming
 * the holder and whatever else the earlier run's run/status lists that
 * still runs. */
#include "master.h"
#include "sendlock.h"
#include "settings.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MASTER_LEFTOVER_WAIT 5.0 /* seconds: a dying one's SIGTERM */

/* pid runs program name on this instance: its arguments are
 * "[/path/]name -d DIR" (as relay-master starts them). */
static int leftover_is(long pid, const char *name)
{
	char path[64], buf[PATH_MAX + 128], want[PATH_MAX + 64];
	const char *base;
	size_t n, len, wn;
	FILE *f;

	if (pid <= 0 || kill((pid_t)pid, 0) < 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	len = strlen(buf); /* argv[0] */
	base = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
	wn = (size_t)snprintf(want, sizeof want, "-d%c%s%c", 0, cf.dir, 0);
	return !strcmp(base, name) && wn < sizeof want && n >= len + 1 + wn &&
	       !memcmp(buf + len + 1, want, wn);
}

/* Append "name pid N, " for each daemon of the earlier run's run/status
 * that still runs (the holder of the lock aside); pids gets " N". */
static void leftover_others(long holder, char *list, size_t ln, char *pids,
			    size_t pn)
{
	char path[PATH_MAX], line[256], name[64];
	long pid;
	FILE *f;

	snprintf(path, sizeof path, "%s/status", cf.run_dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %ld", name, &pid) != 2 || pid == holder ||
		    !strcmp(name, "relay-master") || !leftover_is(pid, name))
			continue;
		snprintf(list + strlen(list), ln - strlen(list), "%s pid %ld, ",
			 name, pid);
		snprintf(pids + strlen(pids), pn - strlen(pids), " %ld", pid);
	}
	fclose(f);
}

static void leftover_refuse(long holder)
{
	char list[1024] = "", pids[256] = "", who[64] = "a relay-send";

	if (holder > 0) {
		snprintf(who, sizeof who, "relay-send pid %ld", holder);
		snprintf(pids, sizeof pids, " %ld", holder);
	}
	leftover_others(holder, list, sizeof list, pids, sizeof pids);
	if (*list)
		list[strlen(list) - 2] = '\0'; /* the last ", " */
	master_fatal(0, "%s still delivers from %s (it holds %s)%s%s: a "
		     "second relay-send would send every message twice; not "
		     "started: stop %s (kill%s), then start again", who,
		     cf.queue_dir, SENDLOCK_NAME, *list ? "; still running "
		     "from an earlier run too: " : "", list,
		     *list ? "them" : "it", *pids ? pids : " ...");
}

void master_leftover_check(void)
{
	double deadline = master_now() + MASTER_LEFTOVER_WAIT;
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	long holder;
	int said = 0;

	while ((holder = sendlock_holder(cf.queue_dir)) != 0) {
		if (master_now() >= deadline)
			leftover_refuse(holder);
		if (!said++)
			master_log("warning", "relay-send pid %ld holds %s/%s: "
				   "waiting up to %.0f s for it to stop", holder,
				   cf.queue_dir, SENDLOCK_NAME,
				   MASTER_LEFTOVER_WAIT);
		nanosleep(&nap, NULL);
	}
}
