/* runsock.c: the daemons' sockets in run/ (runsock.h). */
#include "runsock.h"
#include "log.h"
#include "settings.h"
#include "usock.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	char **user;            /* the uid that listens, when root runs it */
} runsock_table[RUNSOCK_COUNT] = {
	[RUNSOCK_POLICY] = { RUNSOCK_POLICY_NAME, &cf.user_policy },
	[RUNSOCK_QUEUE] = { RUNSOCK_QUEUE_NAME, &cf.user_queue },
	[RUNSOCK_REMOTE] = { RUNSOCK_REMOTE_NAME, &cf.user_remote },
};

const char *runsock_name(enum runsock s)
{
	return runsock_table[s].name;
}

int runsock_path(enum runsock s, char *buf, size_t n)
{
	return (size_t)snprintf(buf, n, "%s/%s", cf.run_dir,
				runsock_table[s].name) < n ? 0 : -1;
}

int runsock_listen(enum runsock s, char *path, size_t n)
{
	if (runsock_path(s, path, n) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return usock_listen(path, 0666);
}

int runsock_listening(int lfd)
{
	return listen(lfd, USOCK_BACKLOG);
}

/* The daemon's user's uid, looked up once per process and name: a
 * getpwnam reads and parses /etc/passwd (seven system calls), and
 * relay-smtpd connects for every session.  -1: no such user. */
static long runsock_user_uid(enum runsock s)
{
	static struct {
		char name[64];
		long uid;
	} seen[RUNSOCK_COUNT];
	const char *name = *runsock_table[s].user;
	struct passwd *pw;

	if (!name || !*name)
		return -1;
	if (strcmp(seen[s].name, name) == 0)
		return seen[s].uid;
	pw = getpwnam(name);
	if (!pw || strlen(name) >= sizeof seen[s].name)
		return pw ? (long)pw->pw_uid : -1; /* not kept: looked up again */
	strcpy(seen[s].name, name);
	seen[s].uid = (long)pw->pw_uid;
	return seen[s].uid;
}

/* Who should be listening on path: the owner of its folder when that is
 * not root (an unprivileged instance), else the daemon's user.  -1: no
 * one known (then only root is accepted). */
static long runsock_expected(enum runsock s, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	if (stat(*dir ? dir : "/", &st) == 0 && st.st_uid != 0)
		return (long)st.st_uid;
	return runsock_user_uid(s);
}

int runsock_connect(enum runsock s, const char *path)
{
	return runsock_connect_for(s, path, 0);
}

int runsock_connect_for(enum runsock s, const char *path, int timeout_ms)
{
	uid_t peer;
	long want;
	int fd = usock_connect_for(path, timeout_ms);

	if (fd < 0)
		return -1;
	if (usock_peer_uid(fd, &peer) < 0) {
		close(fd);
		return -1;
	}
	if (peer == 0 || (long)peer == (want = runsock_expected(s, path)))
		return fd;
	log_warn("%s: listened on by uid %ld, not by %s (uid %ld): refused",
		 path, (long)peer, *runsock_table[s].user ?
		 *runsock_table[s].user : "?", want);
	close(fd);
	errno = EPERM;
	return -1;
}
