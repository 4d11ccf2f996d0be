// links: queue/queue_seal.c queue/queue_dirs.c
/* test_queue_seal.c: relay-queue's start (queue/queue_seal.c) on a pool
 * file that is also a queued message's file while its inode counts one
 * link (two names counted once: a power cut, no e2fsck since).  It is
 * set aside under a dot name, which no later start takes for a free pool
 * file, and nothing else is touched.  The inode set of new/ and hold/ is
 * given by hand, as the state cannot be made on a healthy filesystem. */
#include "../../queue/queue.h"
#include "t.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_queue_seal.XXXXXX";

static int sub_open(const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	mkdir(path, 0700);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int pool_has(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/pool/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_set_aside(void)
{
	static const char head[] =
		"relaybox-queue 1\nseal=0000000000000000000000000000000000000000"
		"000000000000000000000000\nqid=6B16AAAAAAAAAAAAAB0\ntime=1\n"
		"from=a@b.c\nrcpt=d@e.f\n\nSubject: x\r\n\r\nx\r\n";
	struct queue_seal_dirs d = { sub_open("pool"), sub_open("new"),
				     sub_open("hold"), NULL, 0 };
	char qid[QFILE_ID_MAX] = "";
	struct stat st;
	ino_t ino;
	int fd = openat(d.pool, "6B16AAAAAAAAAAAAAP", O_WRONLY | O_CREAT, 0600);

	T_CHECK("seal: a pool file written", fd >= 0 &&
		write(fd, head, sizeof head - 1) == (ssize_t)sizeof head - 1 &&
		fstat(fd, &st) == 0 && st.st_nlink == 1);
	if (fd >= 0)
		close(fd);
	ino = st.st_ino;
	d.ino = &ino; /* as if new/ named it too */
	d.nino = 1;
	T_CHECK("seal: one link counted, queued: left alone",
		queue_seal_recover(&d, "6B16AAAAAAAAAAAAAP", qid, sizeof qid) ==
			SEAL_LEAVE);
	T_CHECK("seal: set aside under a dot name",
		!pool_has("6B16AAAAAAAAAAAAAP") &&
		pool_has(SEAL_ASIDE "6B16AAAAAAAAAAAAAP"));
	T_CHECK("seal: the file itself untouched",
		fstatat(d.pool, SEAL_ASIDE "6B16AAAAAAAAAAAAAP", &st, 0) == 0 &&
		st.st_ino == ino && st.st_size == (off_t)sizeof head - 1);
	d.ino = NULL;
	d.nino = 0;
	close(d.pool);
	close(d.new);
	close(d.hold);
}

int main(void)
{
	char cmd[PATH_MAX + 16];

	if (!mkdtemp(dir))
		return 1;
	test_set_aside();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		perror("rm");
	return t_done();
}
