/* master_child.c: the daemons relay-master runs, in start order.  Each is
 * started as root when the master is root and drops to its own uid itself
 * (privs_drop); the master keeps root only to restart them.  A daemon that
 * dies is restarted at most once a second; one that keeps dying soon after
 * starting, or keeps being killed as hung (master_watch.c), is reported
 * loudly and retried every MASTER_SLOW_RETRY seconds. */
#include "master.h"
#include "admit.h"
#include "notify.h"
#include "privs.h"
#include "runsock.h"
#include "settings.h"
#include "stopsig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MASTER_QUICK_DEATH 10.0  /* died this soon after start: "quick" */
#define MASTER_QUICK_MAX 10      /* this many in a row: slow down */
#define MASTER_SLOW_RETRY 30.0
/* Killed as hung this many times in a row: slow down too.  Each of those
 * deaths may come long after its start (the kill waits for the hang
 * limit, the hang may come after its ready byte), so they are counted on
 * their own; a daemon that had served MASTER_HANG_FORGET seconds before
 * it went silent hung once, not in a loop, and starts the count anew. */
#define MASTER_HANG_MAX 3
#define MASTER_HANG_FORGET 600.0

/* Every daemon says when it serves (lib/notify.h): after the checks of
 * its start (rules.cdb readable, socket listening), so a daemon that
 * dies of its configuration never makes the relay "ready" for the
 * moment it lived; then their main loops beat on the same pipe
 * (master_watch.c).  relay-metrics too: readiness does not wait for it,
 * but one that hangs is restarted like the others. */
static struct master_child children[] = {
	{ .name = "relay-policy", .user = &cf.user_policy,
	  .sock = RUNSOCK_POLICY_NAME, .admit_key = 1, .notifies = 1,
	  .notify_fd = -1 },
	{ .name = "relay-queue", .args = "-l", .user = &cf.user_queue,
	  .sock = RUNSOCK_QUEUE_NAME, .admit_key = 1, .notifies = 1,
	  .notify_fd = -1 },
	{ .name = "relay-remote", .user = &cf.user_remote,
	  .sock = RUNSOCK_REMOTE_NAME, .notifies = 1, .notify_fd = -1 },
	{ .name = "relay-send", .user = &cf.user_send, .notifies = 1,
	  .notify_fd = -1 },
	{ .name = "relay-listen", .user = &cf.user_smtpd, .tls_store = 1,
	  .notifies = 1, .notify_fd = -1, .stop_sig = STOPSIG_RELAY },
	/* off the mail path: readiness does not wait for it; started only
	 * with metrics_listen set; the TLS store for a non-loopback address */
	{ .name = "relay-metrics", .user = &cf.user_metrics, .tls_store = 1,
	  .off_path = 1, .notifies = 1, .notify_fd = -1 },
};

/* The admission key (lib/admit.h): made once per run of the master, so a
 * restarted relay-policy or relay-queue gets the one the other holds;
 * only in memory, and handed to those two alone. */
static struct admit_key child_admit_key;
#define NCHILDREN (int)(sizeof children / sizeof children[0])

static char child_bindir[PATH_MAX];
static int child_errfd = -1;
static int child_stopping;
static time_t master_started;
static pid_t child_master_pid;

double master_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct master_child *master_child_at(int i)
{
	return i >= 0 && i < NCHILDREN ? &children[i] : NULL;
}

/* 0, or -1 when the path does not fit (then it is not started). */
static int child_path(const struct master_child *c, char *buf, size_t n)
{
	int r = snprintf(buf, n, "%s/%s", child_bindir, c->name);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

void master_child_init(const char *bindir, int errfd)
{
	char path[PATH_MAX];
	int i;

	snprintf(child_bindir, sizeof child_bindir, "%s", bindir);
	child_errfd = errfd;
	master_started = time(NULL);
	child_master_pid = getpid();
	if (admit_key_new(&child_admit_key) < 0)
		master_log("warning", "no random admission key: %s; relay-queue "
			   "refuses relay-smtpd's messages", strerror(errno));
	for (i = 0; i < NCHILDREN; i++) {
		children[i].present = child_path(&children[i], path,
						 sizeof path) == 0 &&
				      access(path, X_OK) == 0;
		if (children[i].off_path && !*cf.metrics_listen) {
			children[i].present = 0;
			continue;
		}
		if (!children[i].present)
			master_log("warning", "%s not found: not started", path);
	}
}

/* What stops c with the whole relay: SIGTERM, or its own (stopsig.h). */
static int child_stop_signal(const struct master_child *c)
{
	return c->stop_sig ? c->stop_sig : SIGTERM;
}

/* In the child, between fork and exec: nothing here may return.  The
 * daemon gets /dev/null on 0, the log pipe on 1 and 2, the admission key
 * or the TLS store on 3, its readiness pipe on 4 (notify_w, -1 for
 * none), and no other descriptor of ours. */
static void child_exec(const struct master_child *c, int notify_w)
{
	char path[PATH_MAX];
	char *argv[6];
	int n = 0, null, on3 = 0;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* the daemon dies with its master even on SIGKILL (privs_drop sets
	 * it again after the uid change, which clears it); a master that
	 * died before this line never sends it */
	prctl(PR_SET_PDEATHSIG, child_stop_signal(c));
	if (getppid() != child_master_pid)
		_exit(111);
	null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, 0) < 0 || dup2(child_errfd, 1) < 0 ||
	    dup2(child_errfd, 2) < 0)
		_exit(111);
	if (null > 2)
		close(null);
	unsetenv(ADMIT_KEY_ENV);
	if (c->admit_key && child_admit_key.ok) {
		if (admit_key_pass(&child_admit_key) < 0)
			_exit(111);
		on3 = 1;
	}
	if (child_path(c, path, sizeof path) < 0)
		_exit(111);
	argv[n++] = (char *)c->name;
	argv[n++] = "-d";
	argv[n++] = cf.dir;
	if (c->args)
		argv[n++] = (char *)c->args;
	argv[n] = NULL;
	if (c->tls_store)
		on3 |= master_tls_to_child();
	unsetenv(NOTIFY_ENV);
	if (notify_w >= 0 && notify_pass(notify_w) < 0)
		_exit(111);
	if (!on3)
		close(3);
	closefrom(notify_w >= 0 ? NOTIFY_FD + 1 : 4);
	execv(path, argv);
	dprintf(2, "relay-master[%ld]: fatal: exec %s: %s\n", (long)getppid(),
		path, strerror(errno));
	_exit(111);
}

/* The readiness pipe of a daemon that notifies: the read end in c, the
 * write end returned, above the descriptors child_exec places (so no
 * dup2 there lands on it); -1 when c does not notify or on failure
 * (logged). */
static int child_notify_pipe(struct master_child *c)
{
	int p[2], w;

	if (!c->notifies)
		return -1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		master_log("warning", "pipe for %s: %s", c->name, strerror(errno));
		return -1;
	}
	w = fcntl(p[1], F_DUPFD_CLOEXEC, NOTIFY_FD + 1);
	close(p[1]);
	if (w < 0) {
		master_log("warning", "pipe for %s: %s", c->name, strerror(errno));
		close(p[0]);
		return -1;
	}
	c->notify_fd = p[0];
	return w;
}

void master_child_notify_close(struct master_child *c)
{
	if (c->notify_fd >= 0)
		close(c->notify_fd);
	c->notify_fd = -1;
	c->serving = 0;
}

static void child_start(struct master_child *c)
{
	int notify_w;
	pid_t pid;

	master_child_notify_close(c);
	notify_w = child_notify_pipe(c);
	if (c->notifies && notify_w < 0) {
		/* without its pipe it could never say it listens, and the
		 * instance would never be ready: started again in a second */
		c->next_start = master_now() + 1.0;
		return;
	}
	pid = fork();
	if (pid < 0) {
		master_log("warning", "fork for %s: %s", c->name, strerror(errno));
		c->next_start = master_now() + 1.0;
		if (notify_w >= 0)
			close(notify_w);
		master_child_notify_close(c);
		return;
	}
	if (pid == 0)
		child_exec(c, notify_w);
	if (notify_w >= 0)
		close(notify_w);
	if (c->started)
		c->restarts++;
	c->pid = pid;
	c->slow_said = 0;
	c->hang_killed = 0;
	c->started = time(NULL);
	c->started_mono = master_now();
	c->next_start = c->started_mono + 1.0;
	master_log("info", "started %s pid=%ld", c->name, (long)pid);
}

double master_child_start_due(void)
{
	double now = master_now(), wait = -1, d;
	int i, changed = 0;

	for (i = 0; i < NCHILDREN && !child_stopping; i++) {
		struct master_child *c = &children[i];
		if (!c->present || c->pid)
			continue;
		if (c->next_start <= now) {
			child_start(c);
			changed = 1;
			continue;
		}
		d = c->next_start - now;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (changed)
		master_child_write_status();
	return wait;
}

static struct master_child *child_by_pid(pid_t pid)
{
	int i;
	for (i = 0; i < NCHILDREN; i++)
		if (children[i].pid == pid)
			return &children[i];
	return NULL;
}

/* Count c's kills as hung in a row (MASTER_HANG_MAX): a run that ended
 * otherwise, and lived past MASTER_QUICK_DEATH, ends the row. */
static void child_count_hang(struct master_child *c, double lived)
{
	if (c->hang_killed)
		c->hang_kills = c->last_beat - c->ready_mono <
				MASTER_HANG_FORGET ? c->hang_kills + 1 : 1;
	else if (lived >= MASTER_QUICK_DEATH)
		c->hang_kills = 0;
}

/* Log how c ended and decide when it may start again. */
static void child_died(struct master_child *c, int status)
{
	double now = master_now(), lived = now - c->started_mono;

	if (WIFSIGNALED(status))
		master_log(child_stopping ? "info" : "warning",
			   "%s pid=%ld killed by signal %d", c->name,
			   (long)c->pid, WTERMSIG(status));
	else
		master_log(child_stopping ? "info" : "warning",
			   "%s pid=%ld exited with status %d", c->name,
			   (long)c->pid, WEXITSTATUS(status));
	c->pid = 0;
	master_child_notify_close(c);
	c->quick_deaths = lived < MASTER_QUICK_DEATH ? c->quick_deaths + 1 : 0;
	child_count_hang(c, lived);
	if (c->next_start < now)
		c->next_start = now;
	if (c->hang_killed && c->hang_kills >= MASTER_HANG_MAX) {
		c->next_start = now + MASTER_SLOW_RETRY;
		master_log("fatal", "%s was killed as hung %d times in a row: "
			   "retrying every %.0f s; look at the lines above",
			   c->name, c->hang_kills, MASTER_SLOW_RETRY);
	} else if (c->quick_deaths >= MASTER_QUICK_MAX) {
		c->next_start = now + MASTER_SLOW_RETRY;
		master_log("fatal",
			   "%s died %d times in a row within %.0f s of starting: "
			   "retrying every %.0f s; look at the lines above",
			   c->name, c->quick_deaths, MASTER_QUICK_DEATH,
			   MASTER_SLOW_RETRY);
	}
}

void master_child_reap(void)
{
	struct master_child *c;
	int status, changed = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		c = child_by_pid(pid);
		if (!c)
			continue;
		child_died(c, status);
		changed = 1;
	}
	if (changed)
		master_child_write_status();
}

/* Only the pipes still waiting for their ready byte: after it, the
 * beats are read at each round (master_watch.c), not polled, or a pipe
 * with a byte in it would wake the loop at once, again and again. */
int master_child_notify_poll(struct pollfd *pf, int max)
{
	int i;

	for (i = 0; i < NCHILDREN && i < max; i++) {
		pf[i].fd = children[i].serving ? -1 : children[i].notify_fd;
		pf[i].events = POLLIN;
		pf[i].revents = 0;
	}
	return i;
}

/* A byte: the daemon serves, and the hang clock starts (the pipe stays
 * open for its beats); end of file without it: it never will (it dies,
 * and is restarted with a new pipe). */
void master_child_notify_read(const struct pollfd *pf, int n)
{
	char buf[16];
	ssize_t got;
	int i;

	for (i = 0; i < n && i < NCHILDREN; i++) {
		struct master_child *c = &children[i];
		if (pf[i].fd < 0 || pf[i].fd != c->notify_fd ||
		    !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(c->notify_fd, buf, sizeof buf);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			master_child_notify_close(c);
			continue;
		}
		c->serving = 1;
		c->last_beat = c->ready_mono = master_now();
		master_log("info", "%s pid=%ld is ready", c->name, (long)c->pid);
	}
}

static int child_running_count(void)
{
	int i, n = 0;
	for (i = 0; i < NCHILDREN; i++)
		n += children[i].pid != 0;
	return n;
}

void master_child_stop_all(double grace)
{
	double deadline = master_now() + grace;
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	int i;

	child_stopping = 1;
	for (i = NCHILDREN - 1; i >= 0; i--) /* listener first */
		if (children[i].pid)
			kill(children[i].pid, child_stop_signal(&children[i]));
	while (child_running_count() && master_now() < deadline) {
		nanosleep(&nap, NULL);
		master_child_reap();
		master_log_drain();
	}
	for (i = 0; i < NCHILDREN; i++) {
		if (!children[i].pid)
			continue;
		master_log("warning", "%s pid=%ld did not stop: SIGKILL",
			   children[i].name, (long)children[i].pid);
		kill(children[i].pid, SIGKILL);
		waitpid(children[i].pid, NULL, 0);
		children[i].pid = 0;
	}
	master_log_drain();
	master_child_write_status();
}

static long child_uid(const struct master_child *c)
{
	struct passwd *pw;

	if (!c || !privs_is_root())
		return (long)getuid();
	pw = getpwnam(*c->user);
	return pw ? (long)pw->pw_uid : -1;
}

void master_child_write_status(void)
{
	char text[NCHILDREN * 128 + 128];
	size_t len;
	int i;

	len = (size_t)snprintf(text, sizeof text, "relay-master %ld %ld %lld 0\n",
			       (long)getpid(), (long)getuid(),
			       (long long)master_started);
	for (i = 0; i < NCHILDREN && len < sizeof text; i++) {
		const struct master_child *c = &children[i];
		if (!c->present)
			continue;
		len += (size_t)snprintf(text + len, sizeof text - len,
					"%s %ld %ld %lld %d\n", c->name,
					(long)c->pid, child_uid(c),
					(long long)c->started, c->restarts);
	}
	master_run_write("status", text);
}
