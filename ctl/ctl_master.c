/* ctl_master.c: relayctl start, stop and status.  They talk to
 * relay-master only through its files in run/: master.pid, status
 * ("name pid uid started restarts" a line) and ready (written once every
 * daemon is up and the listeners listen). */
#include "ctl.h"
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTL_START_WAIT 30.0
#define CTL_STOP_WAIT 20.0

static void ctl_run_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", cf.run_dir, name);
}

/* The first number in a file, or 0. */
static long ctl_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static int ctl_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

long ctl_master_pid(void)
{
	char path[PATH_MAX], comm[64] = "";
	long pid;
	FILE *f;

	ctl_run_path(path, sizeof path, "master.pid");
	pid = ctl_read_long(path);
	if (!ctl_alive(pid))
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(comm, sizeof comm, f))
			comm[0] = '\0';
		fclose(f);
	}
	return strncmp(comm, "relay-master", 12) == 0 ? pid : 0;
}

static double ctl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ctl_nap(void)
{
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	nanosleep(&nap, NULL);
}

/* The last n lines of the log (from its last 16 KiB), for a failed start. */
static void ctl_log_tail(int n)
{
	static char buf[16384];
	int fd = open(cf.log_file, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t len;
	char *p;

	if (fd < 0) {
		fprintf(stderr, "relayctl: no log at %s\n", cf.log_file);
		return;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)sizeof buf)
		lseek(fd, end - (off_t)sizeof buf, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	len = read(fd, buf, sizeof buf);
	close(fd);
	if (len <= 0)
		return;
	p = buf + len;
	if (p[-1] == '\n')
		p--;
	while (p > buf && n > 0)
		if (*--p == '\n')
			n--;
	if (*p == '\n')
		p++;
	fprintf(stderr, "--- last lines of %s:\n", cf.log_file);
	fwrite(p, 1, (size_t)(buf + len - p), stderr);
}

/* In the child: become a session leader with stdio on /dev/null. */
static void ctl_exec_master(void)
{
	char self[PATH_MAX], path[PATH_MAX + 16], *slash;
	ssize_t r = readlink("/proc/self/exe", self, sizeof self - 1);
	int fd = open("/dev/null", O_RDWR);

	if (r < 0 || fd < 0)
		_exit(111);
	self[r] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof path, "%s/relay-master", self);
	setsid();
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	execl(path, "relay-master", "-d", cf.dir, (char *)NULL);
	_exit(111);
}

/* "-w SECONDS" (how long start waits), or the default; -1 when bad. */
static double ctl_start_wait(int argc, char **argv)
{
	char *end;
	double w;

	if (argc == 0)
		return CTL_START_WAIT;
	if (argc != 2 || strcmp(argv[0], "-w") != 0)
		return -1;
	w = strtod(argv[1], &end);
	return *end || w <= 0 || w > 3600 ? -1 : w;
}

/* Wait for run/ready naming pid; 0 ready, 111 (with the log's tail) when
 * relay-master exited or wait seconds passed. */
static int ctl_start_wait_ready(pid_t pid, double wait)
{
	char ready[PATH_MAX];
	double deadline = ctl_now() + wait;
	int status;

	ctl_run_path(ready, sizeof ready, "ready");
	while (ctl_now() < deadline) {
		if (ctl_read_long(ready) == (long)pid) {
			printf("relaybox: started (relay-master pid %ld)\n", (long)pid);
			ctl_reload_tell_start();
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "relayctl: relay-master exited (status %d)\n",
				WIFEXITED(status) ? WEXITSTATUS(status)
						  : 128 + WTERMSIG(status));
			ctl_log_tail(20);
			return 111;
		}
		ctl_nap();
	}
	fprintf(stderr, "relayctl: relay-master (pid %ld) not ready after %.0f s; "
			"it keeps trying (relayctl stop ends it)\n", (long)pid, wait);
	ctl_log_tail(20);
	return 111;
}

int ctl_start(int argc, char **argv)
{
	double wait = ctl_start_wait(argc, argv);
	long running;
	pid_t pid;

	if (wait < 0)
		return fprintf(stderr, "usage: relayctl start [-w SECONDS]\n"), 100;
	running = ctl_master_pid();
	if (running) {
		printf("relaybox: already running (relay-master pid %ld)\n", running);
		return 0;
	}
	pid = fork();
	if (pid < 0)
		return perror("relayctl: fork"), 111;
	if (pid == 0)
		ctl_exec_master();
	return ctl_start_wait_ready(pid, wait);
}

/* relay.conf has an error (ctl_conf_error): say it, and what is done
 * all the same.  The running relay keeps the settings it started with;
 * start (and reload) refuse the file. */
static void ctl_conf_warn(const char *doing)
{
	if (ctl_conf_error)
		fprintf(stderr, "relayctl: warning: %s; %s (relayctl start "
				"refuses relay.conf until it is fixed)\n",
			ctl_conf_error, doing);
}

int ctl_stop(int argc, char **argv)
{
	double deadline = ctl_now() + CTL_STOP_WAIT;
	long pid = ctl_master_pid();
	char doing[96];

	(void)argv;
	if (argc > 0)
		return fprintf(stderr, "usage: relayctl stop\n"), 100;
	snprintf(doing, sizeof doing, "stopping the running relay "
		 "(relay-master pid %ld) anyway", pid);
	ctl_conf_warn(pid ? doing : "no relay is running");
	if (!pid) {
		printf("relaybox: not running\n");
		return 0;
	}
	if (kill((pid_t)pid, SIGTERM) < 0)
		return perror("relayctl: kill"), 111;
	while (ctl_now() < deadline) {
		if (!ctl_alive(pid)) {
			printf("relaybox: stopped\n");
			return 0;
		}
		ctl_nap();
	}
	fprintf(stderr, "relayctl: relay-master pid %ld still running after %.0f s\n",
		pid, CTL_STOP_WAIT);
	return 111;
}

/* The effective uid from /proc/<pid>/status ("Uid: real eff saved fs"). */
static long ctl_proc_uid(long pid)
{
	char path[64], line[256];
	long ruid, euid = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Uid: %ld %ld", &ruid, &euid) == 2)
			break;
	fclose(f);
	return euid;
}

static void ctl_duration(char *buf, size_t n, long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, n, "%ldd%02ldh%02ldm", s / 86400, s / 3600 % 24,
			 s / 60 % 60);
	else if (s >= 3600)
		snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

/* One line of run/status; returns 1 when that daemon runs. */
static int ctl_status_line(const char *line)
{
	char name[64], up[32], user[64];
	long pid, uid, started;
	int restarts, running;
	struct passwd *pw;

	if (sscanf(line, "%63s %ld %ld %ld %d", name, &pid, &uid, &started,
		   &restarts) != 5)
		return 1;
	running = ctl_alive(pid);
	if (!running) {
		printf("%-14s stopped   restarts %d\n", name, restarts);
		return 0;
	}
	uid = ctl_proc_uid(pid);
	pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
	ctl_duration(up, sizeof up, (long)time(NULL) - started);
	printf("%-14s running   pid %-7ld uid %-5ld %-12s up %-10s restarts %d\n",
	       name, pid, uid, user, up, restarts);
	return 1;
}

/* Entries in a queue folder, or -1 when it cannot be read. */
static long ctl_count_dir(const char *sub)
{
	char path[PATH_MAX];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof path, "%s/%s", cf.queue_dir, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int ctl_status(int argc, char **argv)
{
	char path[PATH_MAX], line[512];
	long pid = ctl_master_pid();
	int all = 1;
	FILE *f;

	(void)argv;
	if (argc > 0)
		return fprintf(stderr, "usage: relayctl status\n"), 100;
	ctl_conf_warn(pid ? "the running relay keeps the settings it "
			    "started with" : "no relay is running");
	if (!pid) {
		printf("relay-master   not running (instance %s)\n", cf.dir);
		return 3;
	}
	ctl_run_path(path, sizeof path, "status");
	f = fopen(path, "r");
	if (!f) {
		printf("relay-master   running   pid %ld, but no %s\n", pid, path);
		return 1;
	}
	while (fgets(line, sizeof line, f))
		all &= ctl_status_line(line);
	fclose(f);
	ctl_run_path(path, sizeof path, "ready");
	printf("ready          %s\n", access(path, F_OK) == 0 ? "yes" : "no");
	printf("queue          %ld in new/, %ld held\n", ctl_count_dir("new"),
	       ctl_count_dir("hold"));
	return all ? 0 : 1;
}
