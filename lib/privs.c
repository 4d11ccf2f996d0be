/* privs.c: dropping root for good. */
#include "privs.h"
#include "exitcodes.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void privs_file_modes(void)
{
	umask(022);
}

/* The child: drop (exits on failure: nothing written), open, write the
 * errno (0 for opened) into fd. */
static void can_open_child(int fd, const char *path, const char *user,
			   const char *extra_group)
{
	int e = 0, k;

	privs_drop(user, extra_group);
	k = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (k < 0)
		e = errno;
	if (write(fd, &e, sizeof e) != (ssize_t)sizeof e)
		_exit(1);
	_exit(0);
}

int privs_can_open(const char *path, const char *user,
		   const char *extra_group)
{
	int p[2], e = -1, status;
	pid_t pid;

	if (!privs_is_root())
		return 0;
	fflush(NULL); /* nothing buffered twice should the child exit() */
	if (pipe(p) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		can_open_child(p[1], path, user, extra_group);
	}
	close(p[1]);
	if (read(p[0], &e, sizeof e) != (ssize_t)sizeof e)
		e = -1;
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (e < 0)
		errno = ECHILD;
	return e;
}

int privs_is_root(void)
{
	return getuid() == 0 || geteuid() == 0;
}

/* The kernel clears the parent-death signal when the uid changes: set
 * again after the drop what relay-master set before exec, so that its
 * daemons do not outlive it (kill -9, the OOM killer).  A parent that
 * died before it was set again never sends it: then it is raised here. */
static void privs_keep_deathsig(int sig, pid_t parent)
{
	if (!sig)
		return;
	if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0)
		log_fatalx(EXIT_TEMP, "prctl PR_SET_PDEATHSIG");
	if (getppid() != parent)
		raise(sig);
}

int privs_drop(const char *user, const char *extra_group)
{
	struct passwd *pw;
	gid_t groups[2];
	int ngroups = 1, deathsig = 0;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	pid_t parent = getppid();

	if (!privs_is_root())
		return 0;
	if (prctl(PR_GET_PDEATHSIG, &deathsig, 0, 0, 0) < 0)
		deathsig = 0;
	pw = getpwnam(user);
	if (!pw)
		log_fatal(EXIT_TEMP, "no such user %s (run make install)", user);
	if (pw->pw_uid == 0)
		log_fatal(EXIT_TEMP, "user %s has uid 0", user);
	groups[0] = pw->pw_gid;
	if (extra_group) {
		struct group *gr = getgrnam(extra_group);
		if (!gr)
			log_fatal(EXIT_TEMP, "no such group %s", extra_group);
		groups[ngroups++] = gr->gr_gid;
	}
	if (setgroups((size_t)ngroups, groups) < 0)
		log_fatalx(EXIT_TEMP, "setgroups");
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
		log_fatalx(EXIT_TEMP, "setresgid");
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		log_fatalx(EXIT_TEMP, "setresuid");
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
		log_fatal(EXIT_TEMP, "privileges were not dropped");
	if (setuid(0) == 0)
		log_fatal(EXIT_TEMP, "root could be regained");
	/* no setuid program (su, mount) or file capability raises us now,
	 * nor anything we exec (relay-listen's workers inherit it) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_fatalx(EXIT_TEMP, "prctl PR_SET_NO_NEW_PRIVS");
	privs_undumpable();
	privs_keep_deathsig(deathsig, parent);
	return 0;
}

void privs_undumpable(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_fatalx(EXIT_TEMP, "prctl PR_SET_DUMPABLE");
}

long privs_nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > LONG_MAX
		       ? -1 : (long)rl.rlim_cur;
}
