/* mkfile.c: atomic replacement of a file (mkfile.h). */
#include "mkfile.h"

#include <errno.h>
#include <fcntl.h>
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

static void mkfile_close_dir(struct mkfile *f)
{
	if (f->dfd >= 0)
		close(f->dfd);
	f->dfd = -1;
}

int mkfile_openat(struct mkfile *f, int dfd, const char *name,
		  const char *path, int secret)
{
	char tmp[DIRFILE_TMPMAX];

	f->path = path;
	f->failed = 0;
	f->fd = -1;
	f->tmpname[0] = '\0';
	snprintf(f->name, sizeof f->name, "%s", name);
	snprintf(f->tmp, sizeof f->tmp, "%s", path);
	f->dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (f->dfd >= 0)
		f->fd = dirfile_tmp(f->dfd, name, secret ? 0600 : 0644, tmp);
	if (f->fd >= 0) { /* ours to remove from now on */
		snprintf(f->tmpname, sizeof f->tmpname, "%s", tmp);
		snprintf(f->tmp, sizeof f->tmp, "%s%s", path,
			 tmp + strlen(name));
	}
	if (f->fd < 0 || (secret && mkfile_secret(f->fd) < 0)) {
		fprintf(stderr, "makecdb: %s: %s\n", f->tmp, strerror(errno));
		mkfile_abort(f);
		return -1;
	}
	return 0;
}

int mkfile_open(struct mkfile *f, const char *path, int secret)
{
	const char *name;
	int dfd, rc;

	if ((dfd = dirfile_open_parent(path, &name)) < 0) {
		fprintf(stderr, "makecdb: the folder of %s: %s\n", path,
			errno == ELOOP || errno == ENOTDIR ? "not a folder, or "
			"a symbolic link (not followed: name the folder it "
			"points to)" : strerror(errno));
		return -1;
	}
	rc = mkfile_openat(f, dfd, name, path, secret);
	close(dfd);
	return rc;
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
	int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

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
		mkfile_abort(f);
		return -1;
	}
	return 0;
}

int mkfile_commit(struct mkfile *f)
{
	if (dirfile_replace(f->dfd, f->tmpname, f->name, 0) < 0) {
		fprintf(stderr, "makecdb: rename %s: %s\n", f->path,
			strerror(errno));
		mkfile_abort(f);
		return -1;
	}
	fsync(f->dfd);
	mkfile_close_dir(f);
	return 0;
}

void mkfile_abort(struct mkfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->dfd >= 0 && f->tmpname[0])
		unlinkat(f->dfd, f->tmpname, 0);
	f->tmpname[0] = '\0';
	mkfile_close_dir(f);
}
