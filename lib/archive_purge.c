/* archive_purge.c: the retention of a customer's archive maildir
 * (archive.h).  Everything is reached through descriptors opened with
 * O_NOFOLLOW, so a link planted in the folder leads nowhere. */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* One subfolder: by the arrival in the name (new/, cur/), or by the
 * mtime (tmp/: a file never named, whatever its name says). */
static int purge_sub(int dirfd, const char *sub, long long before,
		     int by_mtime, long *removed, long *kept)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? 0 : -1;
	}
	while ((e = readdir(d))) {
		struct stat st;
		long long t;

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		t = by_mtime ? (long long)st.st_mtime
			     : archive_maildir_time(e->d_name);
		if (t >= 0 && t < before && unlinkat(fd, e->d_name, 0) == 0)
			(*removed)++;
		else if (!by_mtime)
			(*kept)++;
	}
	closedir(d);
	return 0;
}

int archive_purge_folder(int dirfd, long long before, long long now,
			 long *removed, long *kept)
{
	if (purge_sub(dirfd, "new", before, 0, removed, kept) < 0 ||
	    purge_sub(dirfd, "cur", before, 0, removed, kept) < 0 ||
	    purge_sub(dirfd, "tmp", now - ARCHIVE_TMP_AGE, 1, removed,
		      kept) < 0)
		return -1;
	return 0;
}
