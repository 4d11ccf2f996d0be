/* rcdb.h: read-only access to a CDB file (tinycdb) that makecdb may
 * replace at any time (write + rename): rcdb_refresh() notices a new
 * inode and reopens, so the next lookup sees the new rules while a lookup
 * in progress keeps the old mapping. */
#ifndef RCDB_H
#define RCDB_H

#include <cdb.h>
#include <stddef.h>
#include <sys/types.h>

struct rcdb {
	char *path;
	int fd;             /* -1 when not open (missing file) */
	struct cdb cdb;
	dev_t dev;
	ino_t ino;
};

int rcdb_init(struct rcdb *r, const char *path);
/* Reopen when the file was replaced; 1 reopened, 0 unchanged, -1 error
 * (the old data stays in use). */
int rcdb_refresh(struct rcdb *r);
void rcdb_close(struct rcdb *r);

/* Find key; copy the value (NUL-terminated) into val[valsz]: returns the
 * value length, -1 when not found, -2 when it does not fit or on error. */
long rcdb_get(struct rcdb *r, const char *key, size_t keylen, char *val,
	      size_t valsz);
/* Same with a NUL-terminated key. */
long rcdb_gets(struct rcdb *r, const char *key, char *val, size_t valsz);

#endif
