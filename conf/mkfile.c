/* mkfile.c: atomic replacement of a file (mkfile.h). */
#include "mkfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "settings.h"

static int mkfile_secret(int fd)
{
	struct passwd *pw = cf.user_policy ? getpwnam(cf.user_policy) : NULL;

	if (geteuid() != 0 || !pw)
		return fchmod(fd, 0600);
	if (fchown(fd, 0, pw->pw_gid) < 0)
		return -1;
	return fchmod(fd, 0640);
}

int mkfile_open(struct mkfile *f, const char *path, int secret)
{
	f->path = path;
	f->failed = 0;
	snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     secret ? 0600 : 0644);
	if (f->fd < 0 || (secret && mkfile_secret(f->fd) < 0)) {
		fprintf(stderr, "makecdb: %s: %s\n", f->tmp, strerror(errno));
		if (f->fd >= 0)
			close(f->fd), unlink(f->tmp);
		return -1;
	}
	return 0;
}

void mkfile_write(struct mkfile *f, const void *buf, unsigned long n)
{
	if (!f->failed && io_write_all(f->fd, buf, n) < 0)
		f->failed = errno ? errno : EIO;
}

void mkfile_copy(struct mkfile *f, const char *src)
{
	char buf[65536];
	ssize_t n;
	int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		f->failed = f->failed ? f->failed : errno;
		return;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		mkfile_write(f, buf, (unsigned long)n);
	if (n < 0 && !f->failed)
		f->failed = errno;
	close(fd);
}

int mkfile_finish(struct mkfile *f)
{
	if (!f->failed && fsync(f->fd) < 0)
		f->failed = errno;
	if (close(f->fd) < 0 && !f->failed)
		f->failed = errno;
	f->fd = -1;
	if (f->failed) {
		fprintf(stderr, "makecdb: %s: %s\n", f->tmp, strerror(f->failed));
		unlink(f->tmp);
		return -1;
	}
	return 0;
}

int mkfile_commit(struct mkfile *f)
{
	char dir[PATH_MAX];
	int dfd;

	if (rename(f->tmp, f->path) < 0) {
		fprintf(stderr, "makecdb: rename %s: %s\n", f->path,
			strerror(errno));
		unlink(f->tmp);
		return -1;
	}
	snprintf(dir, sizeof dir, "%s", f->path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

void mkfile_abort(struct mkfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	unlink(f->tmp);
}
