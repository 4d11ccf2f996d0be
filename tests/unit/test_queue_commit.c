// links: queue/queue_commit.c queue/queue_commit_sync.c queue/queue_name.c queue/queue_seal.c queue/queue_archive.c queue/queue_inject.c queue/queue_job.c queue/queue_env.c queue/queue_spool.c queue/queue_received.c queue/queue_dirs.c queue/queue_pool.c queue/queue_admit.c queue/queue_dkim.c queue/queue_dkim_hdr.c queue/queue_dkim_keys.c queue/queue_rules.c queue/queue_dkim_ed.c
/* test_queue_commit.c: the group commit (queue/queue_commit.c) on a real
 * directory: a batch of written jobs all end up in new/ under their own
 * ids with status 0 and nothing left in tmp/ (the message bytes are let
 * go as soon as the file is written); a job whose name is already
 * taken in new/ gets 111 and the existing file is not replaced (linkat
 * and RENAME_NOREPLACE never overwrite); ids from one process strictly
 * increase; a big round's fsyncs, dealt out to threads, fail only the
 * job whose own fsync failed.  A customer's archive copy (queue_archive.c) is committed
 * with its message: to a maildir, a file per message there at status 0;
 * to an address, a second queue file naming its message; a copy whose
 * name is taken fails the message (111) and neither is left behind.
 * The daemon's way (the commit thread, jobs handed over one by one)
 * likewise, each job answered on its own socket. */
#include "../../queue/queue.h"
#include "archive.h"
#include "exitcodes.h"
#include "settings.h"
#include "t.h"

#include <cdb.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
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

/* A job with its message and envelope in (for customer cust, or none),
 * written to its file(s). */
static int job_make_for(struct queue_job *j, const char *cust,
			const char *rcpt, const char *msg)
{
	char env[300], info[100] = "";
	int n;

	if (cust)
		n = snprintf(info, sizeof info, "Icustomer=%s%c", cust, 0);
	else
		n = 0;
	memcpy(env, info, (size_t)n);
	n += snprintf(env + n, sizeof env - (size_t)n,
		      "Iip=192.0.2.1%cFa@example.com%cT%s%c%c", 0, 0, rcpt, 0,
		      0);

	queue_job_init(j, -1, -1);
	j->env = malloc((size_t)n);
	memcpy(j->env, env, (size_t)n);
	j->envlen = (size_t)n;
	j->sp.mem = strdup(msg);
	j->sp.len = strlen(msg);
	j->sp.total = (off_t)j->sp.len;
	return queue_inject_write(j);
}

static int job_make(struct queue_job *j, const char *rcpt, const char *msg)
{
	return job_make_for(j, NULL, rcpt, msg);
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

/* A round of 20: its fsyncs are dealt out to helper threads.  One file
 * whose fsync fails (a pipe in its place) fails that job alone (111);
 * every other job is durable in new/ with its own message. */
static void test_big_batch(void)
{
	enum { N = 20, BAD = 7 };
	struct queue_job j[N];
	int written = 0, ok = 0, mine = 0, p[2], before = count("new");

	for (int i = 0; i < N; i++) {
		char rcpt[64], msg[64];
		snprintf(rcpt, sizeof rcpt, "big%d@example.org", i);
		snprintf(msg, sizeof msg, "Subject: b%d\r\n\r\nbig %d\r\n", i, i);
		written += job_make(&j[i], rcpt, msg) == 0;
		j[i].next = i ? &j[i - 1] : NULL;
	}
	T_CHECK("big batch: 20 files written", written == N);
	if (pipe(p) == 0) { /* fsync of a pipe: EINVAL */
		dup2(p[0], j[BAD].fd);
		close(p[0]);
		close(p[1]);
	}
	queue_commit_batch(&j[N - 1]);
	for (int i = 0; i < N; i++) {
		char want[64];
		if (i == BAD)
			continue;
		snprintf(want, sizeof want, "big %d\r\n", i);
		ok += j[i].r.status == EXIT_DONE && j[i].fd < 0;
		mine += file_has(j[i].q.qid, want);
	}
	T_CHECK("big batch: the job whose fsync failed gets 111",
		j[BAD].r.status == EXIT_TEMP);
	T_CHECK("big batch: every other job status 0", ok == N - 1);
	T_CHECK("big batch: each in new/ with its own message", mine == N - 1);
	T_CHECK("big batch: 19 more files in new/", count("new") == before + N - 1);
	for (int i = 0; i < N; i++)
		queue_job_free(&j[i]);
	T_CHECK("big batch: tmp/ clean", count("tmp") == 0);
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

/* rules.cdb: customer "md" archives to the maildir, "ad" to an address. */
static void archive_rules(void)
{
	static char path[PATH_MAX], adir[PATH_MAX];
	struct cdb_make cm;
	int fd;

	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	snprintf(adir, sizeof adir, "%s/archive", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cdb_make_start(&cm, fd);
	cdb_make_add(&cm, "customer:md", 11, "archive=maildir\n", 16);
	cdb_make_add(&cm, "customer:ad", 11, "archive=j@archive.test\n", 23);
	cdb_make_finish(&cm);
	close(fd);
	cf.rules_cdb = path;
	cf.archive_dir = adir;
}

static int file_in(const char *sub, const char *name, const char *text)
{
	char path[PATH_MAX], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 && strstr(buf, text) != NULL;
}

static void test_archive_maildir(void)
{
	struct queue_job j[3];
	char name[200], want[100];
	int ok = 0, copies = 0;

	for (int i = 0; i < 3; i++) {
		job_make_for(&j[i], "md", "m@example.org",
			     "Subject: archived\r\n\r\nbody\r\n");
		j[i].next = i ? &j[i - 1] : NULL;
	}
	queue_commit_batch(&j[2]);
	for (int i = 0; i < 3; i++) {
		ok += j[i].r.status == EXIT_DONE && j[i].afd < 0;
		archive_maildir_name(name, sizeof name, j[i].q.arrival,
				     j[i].q.qid, cf.hostname);
		snprintf(want, sizeof want, "qid: %s\r\n", j[i].q.qid);
		copies += file_in("archive/md/new", name, want) &&
			  file_in("archive/md/new", name, "\r\nbody\r\n");
	}
	T_CHECK("archive maildir: every job status 0", ok == 3);
	T_CHECK("archive maildir: each copy named in new/ at status 0",
		copies == 3 && count("archive/md/new") == 3);
	T_CHECK("archive maildir: its tmp/ clean", count("archive/md/tmp") == 0);
	for (int i = 0; i < 3; i++)
		queue_job_free(&j[i]);
}

static void test_archive_taken(void)
{
	char path[PATH_MAX];
	struct queue_job j;
	int before = count("new"), fd;

	job_make_for(&j, "md", "m@example.org", "Subject: x\r\n\r\nx\r\n");
	fd = open(j.anew, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s", j.anew);
	queue_commit_batch(&j);
	T_CHECK("archive taken: status 111", j.r.status == EXIT_TEMP);
	T_CHECK("archive taken: the message is not in new/ either",
		count("new") == before && count("tmp") == 0 &&
		count("archive/md/tmp") == 0);
	queue_job_free(&j);
	unlink(path);
}

static void test_archive_address(void)
{
	struct queue_job j;
	char want[200];

	job_make_for(&j, "ad", "m@example.org", "Subject: y\r\n\r\nyy\r\n");
	queue_commit_batch(&j);
	snprintf(want, sizeof want, "\narchive=%s\nfrom=\nrcpt=j@archive.test"
		 "\n\n", j.q.qid);
	T_CHECK("archive address: status 0", j.r.status == EXIT_DONE);
	T_CHECK("archive address: the copy is a queue file of its own",
		file_has(j.aqid, want) && file_has(j.aqid, "\r\nyy\r\n") &&
		file_has(j.aqid, "rcpt: <m@example.org>\r\n"));
	T_CHECK("archive address: the message's file has no trace of it",
		file_has(j.q.qid, "rcpt=m@example.org\n\n") &&
		!file_has(j.q.qid, "archive"));
	queue_job_free(&j);
}

/* The daemon's commit thread (queue_commit_start), jobs handed over one
 * by one as the main thread does, so they fall into rounds as they come:
 * every good job ends in new/ with its own message, answered status=0
 * on its reply socket; a job whose file's fsync fails gets 111, no
 * status=0, and is not named; one whose archive copy's fsync fails gets
 * 111 and neither file is named; tmp/ is left clean. */
enum { P_N = 12, P_BAD = 3, P_BAD_COPY = 8, P_COPY = 5 };

static int daemon_job_make(struct queue_job *j, int i)
{
	char rcpt[64], msg[100];

	snprintf(rcpt, sizeof rcpt, "r%d@example.org", i);
	snprintf(msg, sizeof msg, "Subject: p%d\r\n\r\ndaemon %d\r\n", i, i);
	return job_make_for(j, i == P_COPY || i == P_BAD_COPY ? "ad" : NULL,
			    rcpt, msg);
}

/* fsync of a pipe fails (EINVAL): put one where the file was. */
static void break_fsync(int fd)
{
	int p[2];

	if (pipe(p) == 0) {
		dup2(p[0], fd);
		close(p[0]);
		close(p[1]);
	}
}

/* Every job of the daemon test answered, within 20 s. */
static int wait_all(struct queue_job *j)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	for (int tries = 0; tries < 4000; tries++) {
		int done = 0;
		for (int i = 0; i < P_N; i++)
			done += queue_commit_done(&j[i], 0);
		if (done == P_N)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* The status=0 frame on each good job's reply socket. */
static int replied_ok(int fd)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 && memmem(buf, (size_t)n, "status=0\n", 9) != NULL;
}

static void test_daemon(void)
{
	static struct queue_job j[P_N];
	int sp[P_N][2], written = 0, ok = 0, mine = 0, replies = 0;
	int before = count("new");
	char want[64], copyqid[QFILE_ID_MAX];

	for (int i = 0; i < P_N; i++)
		written += daemon_job_make(&j[i], i) == 0;
	T_CHECK("daemon: 12 jobs written", written == P_N);
	T_CHECK("daemon: the copies written",
		j[P_COPY].afd >= 0 && j[P_BAD_COPY].afd >= 0);
	snprintf(copyqid, sizeof copyqid, "%s", j[P_BAD_COPY].aqid);
	break_fsync(j[P_BAD].fd);
	break_fsync(j[P_BAD_COPY].afd);
	for (int i = 0; i < P_N; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]) < 0)
			sp[i][0] = sp[i][1] = -1;
		j[i].replyfd = sp[i][1];
		queue_commit_add(&j[i], 0);
	}
	T_CHECK("daemon: every job answered", wait_all(j));
	for (int i = 0; i < P_N; i++) {
		if (i == P_BAD || i == P_BAD_COPY)
			continue;
		snprintf(want, sizeof want, "daemon %d\r\n", i);
		ok += j[i].r.status == EXIT_DONE && j[i].fd < 0;
		mine += file_has(j[i].q.qid, want);
		replies += replied_ok(sp[i][0]);
	}
	T_CHECK("daemon: every good job status 0", ok == P_N - 2);
	T_CHECK("daemon: each in new/ with its own message", mine == P_N - 2);
	T_CHECK("daemon: each answered status=0", replies == P_N - 2);
	T_CHECK("daemon: an archived job's copy named with it",
		file_has(j[P_COPY].aqid, "daemon 5"));
	T_CHECK("daemon: a failed fsync gives 111, nothing named",
		j[P_BAD].r.status == EXIT_TEMP && !file_has(j[P_BAD].q.qid, "") &&
		!replied_ok(sp[P_BAD][0]));
	T_CHECK("daemon: a failed copy fsync gives 111, neither named",
		j[P_BAD_COPY].r.status == EXIT_TEMP &&
		!file_has(j[P_BAD_COPY].q.qid, "") && !file_has(copyqid, ""));
	T_CHECK("daemon: new/ holds the good jobs and one copy",
		count("new") == before + P_N - 2 + 1);
	T_CHECK("daemon: tmp/ clean", count("tmp") == 0);
	for (int i = 0; i < P_N; i++) {
		queue_job_free(&j[i]);
		close(sp[i][0]);
		close(sp[i][1]);
	}
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
	test_big_batch();
	test_taken();
	archive_rules();
	test_archive_maildir();
	test_archive_taken();
	test_archive_address();
	T_CHECK("commit threads started", queue_commit_start() >= 0);
	test_daemon();
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
