/* master_run.c: relay-master's own files in run/ (master.pid, status,
 * ready).  run/ belongs to root and only root writes there (the layout
 * makes it 0755), but a file is still never written by name: each is
 * written to a new temporary file of an unpredictable name, created
 * with O_EXCL|O_NOFOLLOW in the opened folder, then renamed over <name>
 * (lib/dirfile.h), so a link left there (by an older, world-writable
 * run/) leads nowhere. */
#include "master.h"
#include "dirfile.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run_dirfd(void)
{
	int fd = dirfile_open_dir(cf.run_dir);

	if (fd < 0)
		master_log("warning", "open %s: %s", cf.run_dir, strerror(errno));
	return fd;
}

int master_run_write(const char *name, const char *text)
{
	char tmp[DIRFILE_TMPMAX];
	size_t len = strlen(text);
	int dfd, fd, rc = -1;

	if ((dfd = run_dirfd()) < 0)
		return -1;
	fd = dirfile_tmp(dfd, name, 0644, tmp);
	if (fd < 0)
		goto out;
	rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	if (close(fd) < 0 || rc < 0 || dirfile_replace(dfd, tmp, name, 0) < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		rc = -1;
	}
out:
	if (rc < 0)
		master_log("warning", "write %s/%s: %s", cf.run_dir, name,
			   strerror(errno));
	close(dfd);
	return rc;
}

void master_run_remove(const char *name)
{
	int dfd = run_dirfd();

	if (dfd < 0)
		return;
	unlinkat(dfd, name, 0);
	close(dfd);
}
