// links: send/send_msg.c send/send_dest.c send/send_qfd.c send/send_stfile.c send/send_ready.c send/send_cust.c send/send_sched.c
/* test_send_qfd.c: a message the watch of new/ named keeps the file its
 * load opened for its first job (send/send_qfd.c): the job's descriptor
 * is that file, no second open; a message loaded by a scan keeps none;
 * at most the cap the descriptor limit allows are kept; dropping or
 * retiring a message closes its descriptor. */
#include "../../send/send.h"
#include "t.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char qdir[256];

static void put_msg(const char *id)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/new/%s", qdir, id);
	if (!(f = fopen(path, "w")))
		return;
	fprintf(f, "relaybox-queue 1\nqid=%s\ntime=1000\n"
		"from=a@example.com\nrcpt=b@example.org\n\nSubject: x\r\n"
		"\r\nhello\r\n", id);
	fclose(f);
}

/* fd is the file new/<id> (the same inode). */
static int is_file(int fd, const char *id)
{
	char path[PATH_MAX];
	struct stat a, b;

	snprintf(path, sizeof path, "%s/new/%s", qdir, id);
	return fd >= 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

int main(void)
{
	char tmpl[] = "/tmp/test_send_qfd.XXXXXX", path[PATH_MAX], id[16];
	struct send_msgs ms = { 0 };
	struct send_msg *m[6];
	struct rlimit rl;
	int fd, kept = 0;

	if (!mkdtemp(tmpl))
		return 1;
	/* the cap: (limit - workers (0 here) - 64 spare) / 2 = 3 */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	rl.rlim_cur = 70;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	send_msg_owners_init();
	snprintf(qdir, sizeof qdir, "%s", tmpl);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", qdir, i ? "pool" : "new");
		mkdir(path, 0700);
	}
	put_msg("BB00");
	m[0] = send_msg_load(qdir, "BB00", 0);
	T_CHECK("a scanned message keeps no descriptor",
		m[0] && !m[0]->qfd_kept && send_qfd_take(m[0]) == -1);

	put_msg("BB01");
	m[1] = send_msg_load(qdir, "BB01", 1);
	T_CHECK("a watched message keeps its file", m[1] && m[1]->qfd_kept &&
		is_file(m[1]->qfd, "BB01"));
	fd = m[1] ? send_qfd_take(m[1]) : -1;
	T_CHECK("its first job takes that file", is_file(fd, "BB01"));
	T_CHECK("a second job opens it again", m[1] && send_qfd_take(m[1]) == -1);
	if (fd >= 0)
		close(fd);

	for (int i = 2; i < 6; i++) {
		snprintf(id, sizeof id, "BB0%d", i);
		put_msg(id);
		m[i] = send_msg_load(qdir, id, 1);
		kept += m[i] && m[i]->qfd_kept;
	}
	T_CHECK("no more are kept than the cap", kept == 3);
	for (int i = 0; i < 6; i++)
		if (m[i])
			send_msg_add(&ms, m[i]);
	fd = m[2] ? m[2]->qfd : -1;
	if (m[2])
		send_msg_drop(&ms, m[2]);
	T_CHECK("dropping a message closes its descriptor", fd >= 0 && !fd_open(fd));
	put_msg("BB06");
	m[2] = send_msg_load(qdir, "BB06", 1);
	T_CHECK("a dropped message's room is taken again",
		m[2] && m[2]->qfd_kept);
	fd = m[3] && m[3]->qfd_kept ? m[3]->qfd : -1;
	if (m[3])
		send_msg_remove(qdir, m[3]);
	T_CHECK("retiring a message to pool/ closes its descriptor",
		fd >= 0 && !fd_open(fd) && m[3] && !m[3]->qfd_kept);
	if (m[2])
		send_msg_add(&ms, m[2]);
	while (ms.n)
		send_msg_drop(&ms, ms.v[0]);
	for (size_t i = 0; i < ms.ncust; i++) {
		free(ms.cust[i]->ready.v);
		free(ms.cust[i]);
	}
	free(ms.cust);
	free(ms.ready.v);
	free(ms.v);

	snprintf(path, sizeof path, "rm -rf '%s'", qdir);
	if (system(path) != 0)
		return 1;
	return t_done();
}
