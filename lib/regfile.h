/* regfile.h: open, by name, a file to read in a folder another uid can
 * write (a daemon's folder: abuse/, dkim/, secrets/), without trusting
 * what that uid may have put there: a symbolic link is not followed
 * (O_NOFOLLOW), a FIFO does not block (O_NONBLOCK), and only a regular
 * file with one name (no hard link to another file) is taken.  The
 * descriptor comes back blocking again.  ARCHITECTURE.md "Files and
 * folders" has the rule: root (or any part that reads a lower uid's
 * folder) goes by name only through this. */
#ifndef REGFILE_H
#define REGFILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

/* The descriptor (O_RDONLY|O_CLOEXEC), st filled when not NULL; or -1:
 * errno ENOENT when there is nothing, EPERM when refused, other errors
 * as open(2); err says why ("a symbolic link: refused"), without the
 * path, which the caller names. */
int regfile_open(const char *path, struct stat *st, char *err, size_t n);
/* The same as a stdio stream. */
FILE *regfile_fopen(const char *path, char *err, size_t n);

#endif
