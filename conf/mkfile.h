/* mkfile.h: replacing a live file atomically.  The new content goes to a
 * temp file beside the target, is fsync'd, and only then renamed over it
 * (and the directory fsync'd), so a reader sees the old file or the new
 * one, never half of one.  makecdb writes rules.cdb and users.cdb this
 * way, and a rollback puts an older set back the same way.
 *
 * makecdb and relayctl run as root: the target's folder is opened once
 * (O_DIRECTORY|O_NOFOLLOW) and everything happens in it by descriptor,
 * the temp file made under an unpredictable name with O_EXCL|O_NOFOLLOW
 * (lib/dirfile.h), so a name planted in that folder by another uid is
 * never followed, truncated or chowned. */
#ifndef MKFILE_H
#define MKFILE_H

#include <limits.h>

#include "dirfile.h"

struct mkfile {
	const char *path;
	char tmp[PATH_MAX];  /* the temp file's path, for messages */
	char tmpname[DIRFILE_TMPMAX], name[NAME_MAX + 1];
	int dfd;             /* the folder of path */
	int fd;
	int failed;      /* an errno once something went wrong */
};

/* Create path's temp file.  secret: the password hashes of users.cdb,
 * readable by relay-policy's group alone as root (0640 root:group of
 * user_policy), 0600 otherwise; else 0644.  0, or -1 after a message. */
int mkfile_open(struct mkfile *f, const char *path, int secret);
/* The same in the folder dfd already opened (dirfile_open_dir) that
 * holds path, whose last component is name; dfd stays the caller's. */
int mkfile_openat(struct mkfile *f, int dfd, const char *name,
		  const char *path, int secret);
/* Append n bytes (an error is kept in failed and reported at finish). */
void mkfile_write(struct mkfile *f, const void *buf, unsigned long n);
/* Copy the whole of file src into f. */
void mkfile_copy(struct mkfile *f, const char *src);
/* Flush to disk and close; -1 (temp removed, message given) on failure. */
int mkfile_finish(struct mkfile *f);
/* Rename the finished temp over the target and fsync the directory. */
int mkfile_commit(struct mkfile *f);
/* Give up: close and remove the temp (also after mkfile_finish). */
void mkfile_abort(struct mkfile *f);

#endif
