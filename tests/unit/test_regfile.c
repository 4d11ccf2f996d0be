/* test_regfile.c: regfile_open takes a regular file with one name and
 * refuses, without blocking, a link, a FIFO, a folder, a hard link. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regfile.h"
#include "t.h"

static char dir[] = "/tmp/test_regfile.XXXXXX";

static const struct {
	const char *name, *why; /* why NULL: taken */
	int err;
} cases[] = {
	{ "file", NULL, 0 },
	{ "link", "a symbolic link: refused", EPERM },
	{ "fifo", "a FIFO, not a regular file: refused", EPERM },
	{ "folder", "not a regular file: refused", EPERM },
	{ "hard", "2 names (a hard link?): refused", EPERM },
	{ "absent", "No such file or directory", ENOENT },
};

int main(void)
{
	char err[128], name[64];
	struct stat st;
	FILE *f;
	int fd;

	if (!mkdtemp(dir) || chdir(dir) < 0)
		return 1;
	fd = open("file", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "x\n", 2) != 2 || close(fd) < 0 ||
	    symlink("file", "link") < 0 || mkfifo("fifo", 0600) < 0 ||
	    mkdir("folder", 0700) < 0 ||
	    (fd = open("two", O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    close(fd) < 0 || link("two", "hard") < 0)
		return 1;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		*err = '\0';
		errno = 0;
		fd = regfile_open(cases[i].name, &st, err, sizeof err);
		snprintf(name, sizeof name, "regfile_open %s", cases[i].name);
		if (!cases[i].why) {
			T_CHECK(name, fd >= 0 && S_ISREG(st.st_mode) &&
					  !(fcntl(fd, F_GETFL) & O_NONBLOCK));
			close(fd);
			continue;
		}
		T_CHECK(name, fd < 0 && errno == cases[i].err);
		strcat(name, ": why");
		T_STREQ(name, err, cases[i].why);
	}
	f = regfile_fopen("file", err, sizeof err);
	T_CHECK("regfile_fopen reads the file", f && fgetc(f) == 'x');
	if (f)
		fclose(f);
	T_CHECK("regfile_fopen refuses a FIFO",
		!regfile_fopen("fifo", err, sizeof err) && errno == EPERM);
	for (const char *n = "file\0link\0fifo\0two\0hard\0"; *n;
	     n += strlen(n) + 1)
		unlink(n);
	rmdir("folder");
	rmdir(dir);
	return t_done();
}
