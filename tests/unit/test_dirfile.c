// links:
/* test_dirfile.c: a new file is made under a fresh unpredictable name and
 * never through a name already there; folders reached through a link,
 * or that others can write, are refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirfile.h"
#include "t.h"

static char dir[] = "/tmp/test_dirfile.XXXXXX";

static void test_tmp(int dfd)
{
	char a[DIRFILE_TMPMAX], b[DIRFILE_TMPMAX];
	struct stat st;
	int fa = dirfile_tmp(dfd, "status", 0600, a);
	int fb = dirfile_tmp(dfd, "status", 0600, b);

	T_CHECK("dirfile_tmp: two new files", fa >= 0 && fb >= 0);
	T_CHECK("dirfile_tmp: <name>.tmp. and 16 hex digits",
		strlen(a) == strlen("status.tmp.") + 16 &&
		!strncmp(a, "status.tmp.", 11) &&
		strspn(a + 11, "0123456789abcdef") == 16);
	T_CHECK("dirfile_tmp: a different name each time", strcmp(a, b) != 0);
	T_CHECK("dirfile_tmp: a regular file, mode kept",
		fstatat(dfd, a, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	T_CHECK("dirfile_tmp: a name with a slash refused",
		dirfile_tmp(dfd, "a/b", 0600, b) < 0 && errno == EINVAL);
	T_CHECK("dirfile_replace: renamed over the name",
		write(fa, "x", 1) == 1 && close(fa) == 0 &&
		dirfile_replace(dfd, a, "status", 1) == 0 &&
		faccessat(dfd, a, F_OK, 0) < 0 &&
		fstatat(dfd, "status", &st, 0) == 0 && st.st_size == 1);
	close(fb);
	unlinkat(dfd, b, 0);
	unlinkat(dfd, "status", 0);
}

static void test_dirs(void)
{
	char path[64], err[128] = "";
	const char *name = NULL;
	int fd;

	snprintf(path, sizeof path, "%s/link", dir);
	T_CHECK("dirfile_open_dir: a link to a folder refused",
		symlink(".", path) == 0 && dirfile_open_dir(path) < 0);
	snprintf(path, sizeof path, "%s/link/x", dir);
	T_CHECK("dirfile_open_parent: a link as the folder refused",
		dirfile_open_parent(path, &name) < 0);
	snprintf(path, sizeof path, "%s/x", dir);
	fd = dirfile_open_parent(path, &name);
	T_CHECK("dirfile_open_parent: the folder and the name",
		fd >= 0 && name && !strcmp(name, "x"));
	T_CHECK("dirfile_trusted: a folder of ours, 0700",
		fd >= 0 && fchmod(fd, 0700) == 0 &&
		dirfile_trusted(fd, err, sizeof err) == 0);
	T_CHECK("dirfile_trusted: group-writable refused",
		fchmod(fd, 0770) == 0 && dirfile_trusted(fd, err, sizeof err) < 0);
	T_STREQ("dirfile_trusted: says why", err,
		"is writable by its group (mode 0770)");
	T_CHECK("dirfile_trusted: world-writable (sticky too) refused",
		fchmod(fd, 01777) == 0 && dirfile_trusted(fd, err, sizeof err) < 0);
	if (geteuid() == 0) {
		T_CHECK("dirfile_trusted: another uid's folder refused",
			fchmod(fd, 0700) == 0 && fchown(fd, 65534, 0) == 0 &&
			dirfile_trusted(fd, err, sizeof err) < 0);
		T_STREQ("dirfile_trusted: names the owner", err,
			"belongs to uid 65534, not to root");
		fchown(fd, 0, 0);
	}
	fchmod(fd, 0700);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/link", dir);
	unlink(path);
}

int main(void)
{
	int dfd;

	if (!mkdtemp(dir) || (dfd = dirfile_open_dir(dir)) < 0)
		return 1;
	test_tmp(dfd);
	test_dirs();
	close(dfd);
	rmdir(dir);
	return t_done();
}
