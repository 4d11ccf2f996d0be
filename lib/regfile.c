/* regfile.c: opening a regular file safely by name (regfile.h). */
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int refuse(int fd, const char *why, char *err, size_t n)
{
	if (fd >= 0)
		close(fd);
	snprintf(err, n, "%s: refused", why);
	errno = EPERM;
	return -1;
}

/* a system error: say it, keep errno */
static int fail(int fd, char *err, size_t n)
{
	int e = errno;

	snprintf(err, n, "%s", strerror(e));
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

int regfile_open(const char *path, struct stat *st, char *err, size_t n)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat own;
	char why[64];

	if (!st)
		st = &own;
	if (fd < 0 && errno == ELOOP)
		return refuse(-1, "a symbolic link", err, n);
	if (fd < 0 || fstat(fd, st) < 0)
		return fail(fd, err, n);
	if (!S_ISREG(st->st_mode))
		return refuse(fd, S_ISFIFO(st->st_mode) ? "a FIFO, not "
			      "a regular file" : "not a regular file", err, n);
	if (st->st_nlink != 1) {
		snprintf(why, sizeof why, "%ld names (a hard link?)",
			 (long)st->st_nlink);
		return refuse(fd, why, err, n);
	}
	/* a regular file never blocks, but its readers expect a plain fd */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return fail(fd, err, n);
	return fd;
}

FILE *regfile_fopen(const char *path, char *err, size_t n)
{
	int fd = regfile_open(path, NULL, err, n);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "r")))
		fail(fd, err, n);
	return f;
}
