/* rcdb.c: CDB lookups that follow atomic replacement of the file. */
#include "rcdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rcdb_open(struct rcdb *r)
{
	struct stat st;
	struct cdb c;
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || cdb_init(&c, fd) < 0) {
		close(fd);
		return -1;
	}
	if (r->fd >= 0) {
		cdb_free(&r->cdb);
		close(r->fd);
	}
	r->fd = fd;
	r->cdb = c;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	return 0;
}

int rcdb_init(struct rcdb *r, const char *path)
{
	r->path = strdup(path);
	r->fd = -1;
	r->dev = 0;
	r->ino = 0;
	r->bad.st_ino = 0;
	r->bad_errno = 0;
	if (!r->path)
		return -1;
	if (rcdb_open(r) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* The same file: an inode number freed by a bad file's replacement may
 * come back, with another change time. */
static int rcdb_same_stat(const struct stat *a, const struct stat *b)
{
	return b->st_ino && a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int rcdb_refresh(struct rcdb *r)
{
	struct stat st;

	if (stat(r->path, &st) < 0)
		return 0; /* keep what we have */
	if (r->fd >= 0 && st.st_dev == r->dev && st.st_ino == r->ino)
		return 0;
	/* a file that is no CDB stays so; anything else (EMFILE, ENOMEM)
	 * may pass, so it is tried again, and said again only when the
	 * file or the error changes */
	if (rcdb_same_stat(&st, &r->bad) && r->bad_errno == EPROTO)
		return 0;
	if (rcdb_open(r) < 0) {
		int e = errno, again = rcdb_same_stat(&st, &r->bad) &&
				       e == r->bad_errno;

		r->bad = st;
		r->bad_errno = e;
		errno = e;
		return again ? 0 : -1;
	}
	r->bad.st_ino = 0;
	return 1;
}

void rcdb_close(struct rcdb *r)
{
	if (r->fd >= 0) {
		cdb_free(&r->cdb);
		close(r->fd);
	}
	r->fd = -1;
	free(r->path);
	r->path = NULL;
}

long rcdb_get(struct rcdb *r, const char *key, size_t keylen, char *val,
	      size_t valsz)
{
	unsigned vlen;

	if (r->fd < 0)
		return -1;
	if (cdb_find(&r->cdb, key, (unsigned)keylen) <= 0)
		return -1;
	vlen = cdb_datalen(&r->cdb);
	if (vlen + 1 > valsz)
		return -2;
	if (cdb_read(&r->cdb, val, vlen, cdb_datapos(&r->cdb)) < 0)
		return -2;
	val[vlen] = '\0';
	return (long)vlen;
}

long rcdb_gets(struct rcdb *r, const char *key, char *val, size_t valsz)
{
	return rcdb_get(r, key, strlen(key), val, valsz);
}
