// links: queue/queue_commit.c queue/queue_archive.c queue/queue_inject.c queue/queue_job.c queue/queue_env.c queue/queue_spool.c queue/queue_received.c queue/queue_dirs.c queue/queue_pool.c queue/queue_admit.c queue/queue_dkim.c queue/queue_dkim_hdr.c queue/queue_dkim_keys.c queue/queue_dkim_ed.c
/* test_queue_commit.c: the group commit (queue/queue_commit.c) on a real
 * directory: a batch of written jobs all end up in new/ under their own
 * ids with status 0 and nothing left in tmp/ (the message bytes are let
 * go as soon as the file is written); a job whose name is already
 * taken in new/ gets 111 and the existing file is not replaced (linkat
 * and RENAME_NOREPLACE never overwrite); ids from one process strictly
 * increase. */
#include "../../queue/queue.h"
#include "exitcodes.h"
#include "settings.h"
#include "t.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_queue_commit.XXXXXX";

static int count(const char *sub)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if (!(d = opendir(path)))
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A job with its message and envelope in, written to its file. */
static int job_make(struct queue_job *j, const char *rcpt, const char *msg)
{
	char env[200];
	int n = snprintf(env, sizeof env, "Iip=192.0.2.1%cFa@example.com%c"
			 "T%s%c%c", 0, 0, rcpt, 0, 0);

	queue_job_init(j, -1, -1);
	j->env = malloc((size_t)n);
	memcpy(j->env, env, (size_t)n);
	j->envlen = (size_t)n;
	j->sp.mem = strdup(msg);
	j->sp.len = strlen(msg);
	j->sp.total = (off_t)j->sp.len;
	return queue_inject_write(j);
}

static int file_has(const char *qid, const char *text)
{
	char path[PATH_MAX], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/new/%s", dir, qid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static void test_batch(void)
{
	struct queue_job j[5];
	int written = 0, ok = 0, mine = 0;

	for (int i = 0; i < 5; i++) {
		char rcpt[64], msg[64];
		snprintf(rcpt, sizeof rcpt, "r%d@example.org", i);
		snprintf(msg, sizeof msg, "Subject: m%d\r\n\r\nbody %d\r\n", i, i);
		written += job_make(&j[i], rcpt, msg) == 0;
		j[i].next = i ? &j[i - 1] : NULL;
	}
	T_CHECK("batch: 5 files written", written == 5);
	/* written: the message bytes are let go at once (the daemon keeps
	 * a job until the client's next request), its size is kept */
	T_CHECK("batch: the spool is freed once written, its size kept",
		j[0].sp.mem == NULL && j[0].sp.fd < 0 &&
		j[0].sp.total == (off_t)strlen("Subject: m0\r\n\r\nbody 0\r\n"));
	queue_commit_batch(&j[4]);
	for (int i = 0; i < 5; i++) {
		char want[64];
		snprintf(want, sizeof want, "body %d\r\n", i);
		ok += j[i].r.status == EXIT_DONE &&
		      strcmp(j[i].r.qid, j[i].q.qid) == 0 && j[i].fd < 0;
		mine += file_has(j[i].q.qid, want);
	}
	T_CHECK("batch: every job status 0 with its id", ok == 5);
	T_CHECK("batch: each new/<id> holds its own message", mine == 5);
	T_CHECK("batch: five files in new/", count("new") == 5);
	T_CHECK("batch: tmp/ clean", count("tmp") == 0);
	for (int i = 0; i < 5; i++)
		queue_job_free(&j[i]);
}

static void test_taken(void)
{
	char path[PATH_MAX];
	struct queue_job j;
	int fd;

	T_CHECK("taken: written", job_make(&j, "t@example.org",
					   "Subject: t\r\n\r\nnew one\r\n") == 0);
	snprintf(path, sizeof path, "%s/new/%s", dir, j.q.qid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		if (write(fd, "older file\n", 11) != 11) {
			/* checked below */
		}
		close(fd);
	}
	queue_commit_batch(&j);
	T_CHECK("taken: status 111", j.r.status == EXIT_TEMP);
	T_CHECK("taken: the existing file is not replaced",
		file_has(j.q.qid, "older file"));
	T_CHECK("taken: tmp/ clean", count("tmp") == 0);
	queue_job_free(&j);
	unlink(path);
}

static void test_ids(void)
{
	char a[QFILE_ID_MAX], b[QFILE_ID_MAX];
	int up = 1;

	queue_dirs_newid(a, sizeof a);
	for (int i = 0; i < 10000; i++) {
		queue_dirs_newid(b, sizeof b);
		up &= strlen(a) == strlen(b) && strcmp(a, b) < 0;
		memcpy(a, b, sizeof a);
	}
	T_CHECK("ids: 10000 in a row strictly increase", up);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	cf.queue_dir = dir;
	cf.hostname = "relay.test";
	T_CHECK("queue directories made", queue_dirs_ensure(dir) == 0);
	test_batch();
	test_taken();
	test_ids();
	{
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0) {
			/* a leftover in /tmp is harmless */
		}
	}
	return t_done();
}
