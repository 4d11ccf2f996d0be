/* relay-master: the supervisor that systemd runs.  It creates the
 * instance's directories, starts every daemon (root only to restart them;
 * each drops to its own uid), restarts those that die, turns their stderr
 * into log/relay.log, writes run/master.pid, run/status and run/ready,
 * and stops everything on SIGTERM.  Usage: relay-master [-f] [-d DIR] */
#include "master.h"
#include "exitcodes.h"
#include "log.h"
#include "privs.h"
#include "rstore.h"
#include "runsock.h"
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The daemons live next to relay-master. */
static void main_bindir(char *buf, size_t n)
{
	ssize_t r = readlink("/proc/self/exe", buf, n - 1);
	char *slash;

	if (r < 0)
		log_fatalx(EXIT_TEMP, "readlink /proc/self/exe");
	buf[r] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

static void main_run_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", cf.run_dir, name);
}

/* Another master on this instance?  The pid file names a live process
 * whose name is relay-master. */
static long main_other_master(void)
{
	char path[PATH_MAX], comm[64] = "";
	long pid = 0;
	FILE *f;

	main_run_path(path, sizeof path, "master.pid");
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) < 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(comm, sizeof comm, f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "relay-master", 12) == 0 ? pid : 0;
}

/* Leftovers of a previous run that would mislead readiness or status. */
static void main_clean_run(void)
{
	int s;

	master_run_remove("ready");
	master_run_remove("status");
	master_run_remove("reload");
	for (s = 0; s < RUNSOCK_COUNT; s++)
		master_run_remove(runsock_name((enum runsock)s));
}

static void main_pidfile(int create)
{
	char text[32];

	if (!create) {
		master_run_remove("master.pid");
		master_run_remove("ready");
		return;
	}
	snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (master_run_write("master.pid", text) < 0)
		master_fatal(0, "cannot write %s/master.pid", cf.run_dir);
}

/* An install made before the Redis AUTH file left secrets/ (the folder
 * relay-remote owns, so relay-remote can swap or read it): still read
 * there, until the operator moves it. */
static void main_warn_auth_old(void)
{
	const char *path;
	int old;

	if (!strcmp(cf.rate_store, "local"))
		return;
	path = rstore_auth_path(&old);
	if (old)
		master_log("warning", "%s: the Redis login is in relay-remote's "
			   "folder: move it to %s (mv, as root) and change the "
			   "password (INSTALL.md, \"shared limits\")", path,
			   cf.rate_store_auth);
}

/* relay-smtpd reads relay.conf again after relay-listen dropped to
 * user_smtpd: one it cannot read would get every session a 421 while
 * the instance says it is ready. */
static void main_check_conf(void)
{
	char path[PATH_MAX];
	int e;

	settings_path(path, sizeof path, "relay.conf");
	e = privs_can_open(path, cf.user_smtpd, NULL);
	if (e != 0)
		master_fatal(0, "%s: user %s (relay-smtpd) cannot read it: %s "
			     "(make it 0644)", path, cf.user_smtpd,
			     strerror(e < 0 ? errno : e));
}

static void main_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
	const char *dir = settings_default_dir();
	char bindir[PATH_MAX];
	int opt, foreground = 0, errfd, rc;
	long other;

	/* what our caller left open is not for the daemons (libbsd:
	 * close_range where the kernel has it) */
	closefrom(3);
	log_init("relay-master");
	privs_file_modes();
	while ((opt = getopt(argc, argv, "d:f")) != -1) {
		if (opt == 'd')
			dir = optarg;
		else if (opt == 'f')
			foreground = 1;
		else {
			fprintf(stderr, "usage: relay-master [-f] [-d DIR]\n");
			return EXIT_PERM;
		}
	}
	settings_load(dir);
	main_bindir(bindir, sizeof bindir);
	main_signals();
	errfd = master_log_open(foreground);
	master_layout_create();
	main_check_conf();
	if ((other = main_other_master()))
		master_fatal(0, "already running as pid %ld", other);
	master_leftover_check(); /* before run/status goes */
	if (!privs_is_root())
		master_log("info", "not running as root: all daemons run as uid %ld",
			   (long)getuid());
	main_clean_run();
	main_pidfile(1);
	master_log("info", "starting in %s (daemons from %s)", cf.dir, bindir);
	main_warn_auth_old();
	master_tls_init();
	master_watch_init();
	master_child_init(bindir, errfd);
	rc = master_loop_run();
	main_pidfile(0);
	master_log("info", "stopped");
	return rc;
}
