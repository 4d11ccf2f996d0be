/* test_rcdb.c: lib/rcdb follows a CDB replaced by rename: a new file is
 * loaded; one that is no CDB leaves the old data in force, is said once
 * (-1, EPROTO) and not tried again until replaced; a passing error
 * (EMFILE) is said once and tried again at each refresh, so the new file
 * loads once the error is gone. */
#include "rcdb.h"
#include "t.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char dir[] = "/tmp/test_rcdb.XXXXXX";
static char path[PATH_MAX];

/* path replaced (write + rename) by a CDB of one key "k" = val. */
static int put_cdb(const char *val)
{
	char tmp[PATH_MAX + 8];
	struct cdb_make cm;
	int fd, ok;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	ok = cdb_make_start(&cm, fd) == 0 &&
	     cdb_make_add(&cm, "k", 1, val, (unsigned)strlen(val)) == 0 &&
	     cdb_make_finish(&cm) == 0;
	close(fd);
	return ok ? rename(tmp, path) : -1;
}

static int put_junk(void)
{
	char tmp[PATH_MAX + 8];
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	if (write(fd, "not a cdb\n", 10) != 10) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

static int value_is(struct rcdb *r, const char *want)
{
	char v[32];

	return rcdb_gets(r, "k", v, sizeof v) >= 0 && strcmp(v, want) == 0;
}

static void test_bad_file(struct rcdb *r)
{
	int rc;

	T_CHECK("rcdb: junk written", put_junk() == 0);
	errno = 0;
	rc = rcdb_refresh(r);
	T_CHECK("rcdb: junk said once, as EPROTO", rc == -1 && errno == EPROTO);
	T_CHECK("rcdb: the old data in force", value_is(r, "one"));
	T_CHECK("rcdb: the same junk not said again", rcdb_refresh(r) == 0);
	T_CHECK("rcdb: a good file after it loads",
		put_cdb("two") == 0 && rcdb_refresh(r) == 1 &&
		value_is(r, "two"));
}

static void test_passing_error(struct rcdb *r)
{
	struct rlimit old, low;
	int r1, e1, r2, r3;

	T_CHECK("rcdb: a new file", put_cdb("three") == 0);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 0; /* every open fails with EMFILE */
	setrlimit(RLIMIT_NOFILE, &low);
	r1 = rcdb_refresh(r);
	e1 = errno;
	r2 = rcdb_refresh(r);
	setrlimit(RLIMIT_NOFILE, &old);
	T_CHECK("rcdb: EMFILE said once", r1 == -1 && e1 == EMFILE && r2 == 0);
	T_CHECK("rcdb: the old data in force meanwhile", value_is(r, "two"));
	r3 = rcdb_refresh(r);
	T_CHECK("rcdb: loaded once the error is gone",
		r3 == 1 && value_is(r, "three"));
}

int main(void)
{
	struct rcdb r;
	char cmd[PATH_MAX + 16];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	T_CHECK("rcdb: first file", put_cdb("one") == 0 &&
		rcdb_init(&r, path) == 0 && value_is(&r, "one"));
	T_CHECK("rcdb: unchanged", rcdb_refresh(&r) == 0);
	test_bad_file(&r);
	test_passing_error(&r);
	rcdb_close(&r);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		perror("rm");
	return t_done();
}
