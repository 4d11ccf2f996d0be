/* dirfile.c: files made inside an opened folder (dirfile.h). */
#include "dirfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DIRFILE_TRIES 8 /* EEXIST on 64 random bits: someone guessing */

int dirfile_open_dir(const char *path)
{
	return open(*path ? path : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
}

int dirfile_open_parent(const char *path, const char **name)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;

	if (slash && !len)
		len = 1; /* "/name": the root */
	if (len >= sizeof dir)
		return errno = ENAMETOOLONG, -1;
	memcpy(dir, path, len);
	dir[len] = '\0';
	*name = slash ? slash + 1 : path;
	return dirfile_open_dir(dir);
}

int dirfile_owner_ok(const struct stat *st, uid_t uid, const char *who,
		     char *err, size_t n)
{
	char uname[32];

	if (!who) {
		snprintf(uname, sizeof uname, "uid %ld", (long)uid);
		who = uname;
	}
	if (st->st_uid != uid && st->st_uid != 0) {
		snprintf(err, n, "belongs to uid %ld, not to %s or root",
			 (long)st->st_uid, who);
		return -1;
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink != 1) {
		snprintf(err, n, "has %ld names (a hard link?)",
			 (long)st->st_nlink);
		return -1;
	}
	return 0;
}

int dirfile_trusted(int dfd, char *err, size_t n)
{
	struct stat st;

	if (fstat(dfd, &st) < 0) {
		snprintf(err, n, "%s", strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, n, "belongs to uid %ld, not to root%s",
			 (long)st.st_uid, geteuid() ? " or you" : "");
		return errno = EPERM, -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, n, "is writable by %s (mode %04o)",
			 st.st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned)(st.st_mode & 07777));
		return errno = EPERM, -1;
	}
	return 0;
}

int dirfile_tmp(int dfd, const char *name, mode_t mode, char *tmp)
{
	unsigned char r[8];
	int fd = -1, len;

	if (strchr(name, '/'))
		return errno = EINVAL, -1;
	for (int i = 0; i < DIRFILE_TRIES && fd < 0; i++) {
		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
			return -1;
		len = snprintf(tmp, DIRFILE_TMPMAX,
			       "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", name,
			       r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
		if (len < 0 || len >= DIRFILE_TMPMAX)
			return errno = ENAMETOOLONG, -1;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				      O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	return fd;
}

int dirfile_replace(int dfd, const char *tmp, const char *name, int sync)
{
	if (renameat(dfd, tmp, dfd, name) < 0)
		return -1;
	return sync && fsync(dfd) < 0 ? -1 : 0;
}
