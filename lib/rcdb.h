/* rcdb.h: read-only access to a CDB file (tinycdb) that makecdb may
 * replace at any time (write + rename): rcdb_refresh() notices a new
 * inode and reopens, so the next lookup sees the new rules while a lookup
 * in progress keeps the old mapping. */
#ifndef RCDB_H
#define RCDB_H

#include <cdb.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct rcdb {
	char *path;
	int fd;             /* -1 when not open (missing file) */
	struct cdb cdb;
	dev_t dev;
	ino_t ino;
	struct stat bad;    /* the last file that did not load (st_ino 0: none) */
	int bad_errno;      /* why */
};

int rcdb_init(struct rcdb *r, const char *path);
/* Reopen when the file was replaced: 1 reopened; 0 unchanged, missing,
 * or the same file failing as before; -1 (errno set) a new file, or a
 * new error, kept it from loading.  The old data stays in use.  A file
 * that is no CDB (EPROTO) is not tried again until it is replaced; other
 * errors (EMFILE, ENOMEM) are tried again at each call, so -1 comes once
 * for each file and error. */
int rcdb_refresh(struct rcdb *r);
void rcdb_close(struct rcdb *r);

/* Find key; copy the value (NUL-terminated) into val[valsz]: returns the
 * value length, -1 when not found, -2 when it does not fit or on error. */
long rcdb_get(struct rcdb *r, const char *key, size_t keylen, char *val,
	      size_t valsz);
/* Same with a NUL-terminated key. */
long rcdb_gets(struct rcdb *r, const char *key, char *val, size_t valsz);

#endif
