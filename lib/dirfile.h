/* dirfile.h: making and replacing files inside a folder root opened,
 * never by a path another uid could redirect.  The folder is opened
 * with O_DIRECTORY|O_NOFOLLOW (its last component is not a link); a new
 * file is created in it under an unpredictable temporary name
 * (<name>.tmp.<16 hex digits from getrandom>) with
 * O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted there in advance (a
 * link, a file of someone else's) is ever opened, truncated or chowned;
 * it is then renamed over <name> with renameat.  relay-master's run/
 * files, makecdb's CDBs, the rules history and `relayctl rules
 * rollback` all go through here (ARCHITECTURE.md "Files and folders").
 *
 * dirfile_owner_ok is the owner check of relay-master's layout (an
 * entry is the owner's or root's, a file has one name); dirfile_trusted
 * asks more of a folder root keeps its own files in by name (the rules
 * history, the folder of relay.rules): that nobody but root can write
 * it, since a uid that can write a folder can put names in it. */
#ifndef DIRFILE_H
#define DIRFILE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#define DIRFILE_TMPMAX (NAME_MAX + 1)

/* The folder path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC, or -1
 * with errno (ELOOP or ENOTDIR: a symbolic link, or not a folder). */
int dirfile_open_dir(const char *path);
/* The folder that holds path, opened as dirfile_open_dir does, *name
 * pointing to path's last component; -1 with errno. */
int dirfile_open_parent(const char *path, const char **name);
/* 0 when st (what was opened) belongs to uid or root and, not being a
 * folder, has one name; else -1 with err ("belongs to uid N, not to
 * USER or root"; who names uid, NULL: "uid N"). */
int dirfile_owner_ok(const struct stat *st, uid_t uid, const char *who,
		     char *err, size_t n);
/* 0 when the folder dfd can be written by the effective uid (root, or
 * the developer running unprivileged) alone: owned by it or by root,
 * not group or other writable.  -1 with err (errno EPERM when refused). */
int dirfile_trusted(int dfd, char *err, size_t n);
/* A new file for name in dfd: tmp[DIRFILE_TMPMAX] gets its name (mode,
 * less the umask).  The descriptor (O_WRONLY|O_CLOEXEC), or -1 with
 * errno. */
int dirfile_tmp(int dfd, const char *name, mode_t mode, char *tmp);
/* renameat tmp over name in dfd, then fsync dfd when sync; -1 with
 * errno (tmp left for the caller to remove). */
int dirfile_replace(int dfd, const char *tmp, const char *name, int sync);

#endif
