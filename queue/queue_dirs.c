/* queue_dirs.c: the queue directories, message ids and the trigger. */
#include "queue.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const dirs_sub[] = { "tmp", "new", "state", "hold",
					      "pool" };

int queue_dirs_ensure(const char *qdir)
{
	char path[PATH_MAX];
	int rc = 0;

	if (mkdir(qdir, 0750) < 0 && errno != EEXIST)
		return -1;
	for (size_t i = 0; i < sizeof dirs_sub / sizeof *dirs_sub; i++) {
		snprintf(path, sizeof path, "%s/%s", qdir, dirs_sub[i]);
		if (mkdir(path, 0770) == 0)
			chmod(path, i == 0 ? 0700 : 0770); /* past the umask */
		else if (errno != EEXIST)
			rc = -1;
	}
	snprintf(path, sizeof path, "%s/trigger", qdir);
	if (mkfifo(path, 0660) < 0 && errno != EEXIST)
		rc = -1;
	return rc;
}

/* Strictly increasing within a process (a microsecond is skipped ahead
 * when two ids would share one), so with the pid in it an id is unique
 * without looking (the rename into new/ is RENAME_NOREPLACE anyway). */
void queue_dirs_newid(char *id, size_t n)
{
	static unsigned long long last;
	static unsigned long pid;
	struct timeval tv;
	unsigned long long us;

	gettimeofday(&tv, NULL);
	us = (unsigned long long)tv.tv_sec * 1000000ULL +
	     (unsigned long long)tv.tv_usec;
	if (us <= last)
		us = last + 1;
	last = us;
	if (!pid)
		pid = (unsigned long)getpid() & 0xfffff;
	snprintf(id, n, "%08llX%05llX%05lX%X", us / 1000000ULL,
		 us % 1000000ULL, pid, 0u);
}

/* The trigger's write end stays open: an open and a close of the FIFO
 * per message were two system calls and a path lookup.  It is dropped
 * when a write fails for any reason but a full FIFO (EPIPE: relay-send
 * went away; it reopens the same FIFO when it starts again, and our next
 * trigger opens it anew).  The commit threads share it, hence the lock. */
static pthread_mutex_t dirs_trig_mu = PTHREAD_MUTEX_INITIALIZER;
static int dirs_trig_fd = -1;

void queue_dirs_trigger(const char *qdir)
{
	char path[PATH_MAX];

	pthread_mutex_lock(&dirs_trig_mu);
	if (dirs_trig_fd < 0) {
		snprintf(path, sizeof path, "%s/trigger", qdir);
		/* ENXIO: nobody reads; the scheduler's rescan finds it */
		dirs_trig_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	}
	if (dirs_trig_fd >= 0 && write(dirs_trig_fd, "", 1) < 0 &&
	    errno != EAGAIN) { /* EAGAIN: full, the scheduler is awake */
		close(dirs_trig_fd);
		dirs_trig_fd = -1;
	}
	pthread_mutex_unlock(&dirs_trig_mu);
}

/* 1 when qdir/sub/name is the same inode as st: a crash on a filesystem
 * without a journal can leave a renamed file under both names with one
 * link counted; unlinking the tmp/ name would free the queued message. */
static int dirs_same(const char *qdir, const char *sub, const char *name,
		     const struct stat *st)
{
	char path[PATH_MAX];
	struct stat o;

	snprintf(path, sizeof path, "%s/%s/%s", qdir, sub, name);
	return lstat(path, &o) == 0 && o.st_ino == st->st_ino &&
	       o.st_dev == st->st_dev;
}

void queue_dirs_sweep(const char *qdir, long long now, long age)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof path, "%s/tmp", qdir);
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/tmp/%s", qdir, de->d_name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    now - st.st_mtime <= age)
			continue;
		if (dirs_same(qdir, "new", de->d_name, &st) ||
		    dirs_same(qdir, "hold", de->d_name, &st))
			log_warn("%s: tmp/ name of a queued message left",
				 de->d_name);
		else if (unlink(path) == 0)
			log_info("%s: removed stale tmp file", de->d_name);
	}
	closedir(d);
}

int queue_dirs_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int queue_dirs_open(const char *qdir, const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", qdir, sub);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int queue_dirs_same(int dirfd, const char *name, const struct stat *st)
{
	struct stat o;

	return dirfd >= 0 &&
	       fstatat(dirfd, name, &o, AT_SYMLINK_NOFOLLOW) == 0 &&
	       o.st_ino == st->st_ino && o.st_dev == st->st_dev;
}

long long queue_now(void)
{
	return (long long)time(NULL);
}
