/* test_runsock.c: runsock_connect talks only to the uid that should be
 * listening.  A listener of the caller's own uid in the caller's own
 * folder (an unprivileged instance) is accepted; as root, a listener of
 * another uid (nobody) put into a root-owned folder is refused with
 * EPERM before a byte is sent, while the same listener in a folder that
 * nobody owns (its own unprivileged instance) is accepted, and root's
 * own listener is accepted anywhere.  Not root: the uid cases are
 * skipped with a note. */
#include "t.h"
#include "runsock.h"
#include "usock.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char top[] = "/tmp/test_runsock.XXXXXX";

/* A child that listens on path as pw's uid and gid (NULL: as we are);
 * the parent only connects.  Returns its pid once the socket is there. */
static pid_t listener(const char *path, const struct passwd *pw)
{
	int ready[2];
	char c;
	pid_t pid;

	if (pipe(ready) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (pw && (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
			_exit(1);
		int fd = usock_listen(path, 0666);
		if (fd < 0 || write(ready[1], "l", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* 1 when runsock_connect accepted the listener on path. */
static int accepted(const char *path)
{
	int fd = runsock_connect(RUNSOCK_POLICY, path);

	if (fd < 0)
		return errno == EPERM ? 0 : -1;
	close(fd);
	return 1;
}

static void own_instance(void)
{
	char path[PATH_MAX];
	pid_t pid;

	snprintf(path, sizeof path, "%s/own.sock", top);
	pid = listener(path, NULL);
	T_CHECK("our own listener in our own folder: accepted",
		pid > 0 && accepted(path) == 1);
	stop(pid);
}

static void as_root(void)
{
	char sub[PATH_MAX], there[PATH_MAX], path[PATH_MAX];
	struct passwd *pw = getpwnam("nobody");
	pid_t pid;

	if (!pw) {
		printf("SKIP runsock: no user nobody\n");
		return;
	}
	snprintf(sub, sizeof sub, "%s/nobody", top);
	snprintf(there, sizeof there, "%s/nobody/s.sock", top);
	snprintf(path, sizeof path, "%s/policy.sock", top);
	if (mkdir(sub, 0755) < 0 || chown(sub, pw->pw_uid, pw->pw_gid) < 0)
		return;
	pid = listener(there, pw);
	T_CHECK("nobody's listener in nobody's own folder: accepted",
		pid > 0 && accepted(there) == 1);
	T_CHECK("nobody's listener moved into root's folder: refused (EPERM)",
		rename(there, path) == 0 && accepted(path) == 0);
	stop(pid);
	unlink(path);
	pid = listener(path, NULL);
	T_CHECK("root's listener in root's folder: accepted",
		pid > 0 && accepted(path) == 1);
	stop(pid);
	unlink(path);
	rmdir(sub);
}

int main(void)
{
	char path[PATH_MAX];

	if (!mkdtemp(top))
		return 1;
	chmod(top, 0755);
	own_instance();
	if (geteuid() == 0)
		as_root();
	else
		printf("SKIP runsock: not root, no other uid to listen as\n");
	snprintf(path, sizeof path, "%s/own.sock", top);
	unlink(path);
	rmdir(top);
	return t_done();
}
