/* sendlock.c: one relay-send per queue (see sendlock.h). */
#include "sendlock.h"
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int sendlock_fd = -1;

static int sendlock_path(const char *queue_dir, char *buf, size_t n)
{
	int r = snprintf(buf, n, "%s/%s", queue_dir, SENDLOCK_NAME);
	if (r < 0 || (size_t)r >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The pid written in the file, 0 when none can be read. */
static long sendlock_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && *end == '\n' && pid > 0 ? pid : 0;
}

static int sendlock_write_pid(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		return -1;
	return 0;
}

int sendlock_take(const char *queue_dir, long *holder)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	*holder = 0;
	if (sendlock_path(queue_dir, path, sizeof path) < 0)
		return -2;
	/* queue/ is relay-queue's: no link followed, no FIFO waited on */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		  0640);
	if (fd < 0)
		return -2;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EPERM;
		return -2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			*holder = sendlock_pid(fd);
		close(fd);
		errno = e;
		return e == EWOULDBLOCK ? -1 : -2;
	}
	if (sendlock_write_pid(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -2;
	}
	sendlock_fd = fd;
	return 0;
}

void sendlock_forget(void)
{
	if (sendlock_fd >= 0)
		close(sendlock_fd);
	sendlock_fd = -1;
}

long sendlock_holder(const char *queue_dir)
{
	char path[PATH_MAX], err[128];
	long pid = 0;
	int fd;

	if (sendlock_path(queue_dir, path, sizeof path) < 0)
		return 0;
	fd = regfile_open(path, NULL, err, sizeof err);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		flock(fd, LOCK_UN);
	else if (errno == EWOULDBLOCK && !(pid = sendlock_pid(fd)))
		pid = -1;
	close(fd);
	return pid;
}
