/* queue_archive.c: the customer's archive copy (lib/archive.h), written
 * beside the message by the same injection and made durable by the same
 * commit round, so that a status 0 (the client's 250) means both are on
 * disk and a failure to write the copy fails the injection (111).
 *
 * To an address the copy is a queue file of its own (sender <>, the one
 * recipient): every queue file holds the message exactly as it will be
 * sent, and relay-send and relay-remote deliver it like any other.  To a
 * maildir it is written straight into archive_dir/<customer>/tmp and
 * renamed into new/ at the commit. */
#include "queue.h"
#include "archive.h"
#include "io.h"
#include "log.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The customer's archive setting: rules.cdb is read again when makecdb
 * replaced it, so a new archive= needs no restart. */
static void archive_lookup(const char *customer, struct archive_conf *ac)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	memset(ac, 0, sizeof *ac);
	if (!customer || !*customer)
		return;
	snprintf(key, sizeof key, "customer:%s", customer);
	if (rcdb_gets(queue_rules(), key, val, sizeof val) >= 0)
		archive_conf_get(val, ac);
}

/* a/b into buf; -1 (ENAMETOOLONG) when it does not fit. */
static int archive_path(char *buf, size_t n, const char *a, const char *b)
{
	int k = snprintf(buf, n, "%s/%s", a, b);

	if (k < 0 || (size_t)k >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* archive_dir/<customer> into dir.  A customer name is makecdb's
 * [a-z0-9._-]; one starting with a dot could name a folder above, and
 * is refused. */
static int archive_folder(const char *customer, char *dir, size_t n)
{
	if (customer[0] == '.' || strchr(customer, '/')) {
		errno = EINVAL;
		return -1;
	}
	return archive_path(dir, n, cf.archive_dir, customer);
}

/* Its {tmp,new,cur}, made when missing (owned by relay-queue, 0700: only
 * it writes there, the operator reads as root). */
static int archive_maildir_make(const char *dir)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char p[PATH_MAX];

	if ((mkdir(cf.archive_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -1;
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++)
		if (archive_path(p, sizeof p, dir, sub[i]) < 0 ||
		    (mkdir(p, 0700) < 0 && errno != EEXIST))
			return -1;
	return 0;
}

/* A maildir copy's tmp/ file; the folder is made the first time (an
 * open per message, not five mkdirs). */
static int archive_open_maildir(struct queue_job *j, const char *customer)
{
	char dir[PATH_MAX], sub[PATH_MAX], name[256];
	int fd, flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	if (archive_folder(customer, dir, sizeof dir) < 0 ||
	    archive_maildir_name(name, sizeof name, j->q.arrival, j->q.qid,
				 cf.hostname) < 0 ||
	    archive_path(sub, sizeof sub, dir, "tmp") < 0 ||
	    archive_path(j->atmp, sizeof j->atmp, sub, name) < 0 ||
	    archive_path(sub, sizeof sub, dir, "new") < 0 ||
	    archive_path(j->anew, sizeof j->anew, sub, name) < 0)
		return -1;
	fd = open(j->atmp, flags, 0600);
	if (fd < 0 && errno == ENOENT && archive_maildir_make(dir) == 0)
		fd = open(j->atmp, flags, 0600);
	return fd;
}

/* The copy's file, named in j->atmp, its final name in j->anew. */
static int archive_open(struct queue_job *j, const struct archive_conf *ac,
			const char *customer, off_t *oldsize, int *reused)
{
	int fd;

	*reused = 0;
	if (ac->kind == ARCHIVE_FOLDER)
		return archive_open_maildir(j, customer);
	fd = queue_inject_open(j->aqid, sizeof j->aqid, j->atmp,
			       sizeof j->atmp, oldsize, reused);
	snprintf(j->anew, sizeof j->anew, "%s/new/%s", cf.queue_dir, j->aqid);
	return fd;
}

/* To an address: the queue file's header in front of the report. */
static char *archive_qheader(struct queue_job *j, const char *to, size_t *n)
{
	char *rcpt[1] = { (char *)to };
	struct qfile c = { .arrival = j->q.arrival, .from = "", .rcpt = rcpt,
			   .nrcpt = 1, .ninfo = 1 };

	snprintf(c.qid, sizeof c.qid, "%s", j->aqid);
	c.info[0].key = ARCHIVE_INFO;
	c.info[0].value = j->q.qid;
	return qfile_format(&c, n);
}

/* Header (address only), report head, signatures, Received, message,
 * report tail; the length written in *len. */
static int archive_fill(int fd, struct queue_job *j,
			const struct archive_conf *ac, const char *pre,
			off_t *len)
{
	unsigned char rnd[8];
	char bound[128], tail[160], *qh = NULL, *head;
	size_t qn = 0, hn, pn = strlen(pre);
	int tn, rc = -1;

	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		memset(rnd, 0, sizeof rnd); /* the qid alone is unique enough */
	snprintf(bound, sizeof bound, "=_relaybox_%s_%02x%02x%02x%02x%02x%02x"
		 "%02x%02x", j->q.qid, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	tn = archive_journal_tail(bound, tail, sizeof tail);
	head = archive_journal_head(&j->q, ac->kind == ARCHIVE_ADDR ?
				    ac->addr : NULL, cf.hostname, bound, &hn);
	if (ac->kind == ARCHIVE_ADDR)
		qh = archive_qheader(j, ac->addr, &qn);
	if (!head || tn < 0 || (ac->kind == ARCHIVE_ADDR && !qh))
		errno = ENOMEM;
	else if (io_write_all(fd, qh ? qh : "", qn) == 0 &&
		 io_write_all(fd, head, hn) == 0 &&
		 io_write_all(fd, pre, pn) == 0 &&
		 queue_spool_copy(&j->sp, fd, NULL) == 0 &&
		 io_write_all(fd, tail, (size_t)tn) == 0) {
		*len = (off_t)(qn + hn + pn + (size_t)tn) + j->sp.total;
		rc = 0;
	}
	free(qh);
	free(head);
	return rc;
}

int queue_archive_write(struct queue_job *j, const char *pre)
{
	const char *cust = qfile_get_info(&j->q, ADMIT_WIRE_CUSTOMER);
	struct archive_conf ac;
	off_t oldsize = 0, len = 0;
	int fd, reused;

	archive_lookup(cust, &ac);
	if (ac.kind == ARCHIVE_NONE)
		return 0;
	fd = archive_open(j, &ac, cust, &oldsize, &reused);
	if (fd < 0) {
		int e = errno;
		log_warn("%s: archive copy: cannot create it: %s", j->q.qid,
			 strerror(e));
		errno = e; /* the reason for the client (nospace: 452) */
		return -1;
	}
	if (ac.kind == ARCHIVE_ADDR && !reused)
		queue_inject_group(fd);
	if (archive_fill(fd, j, &ac, pre, &len) < 0 ||
	    (reused && oldsize > len && ftruncate(fd, len) < 0)) {
		int e = errno;
		log_warn("%s: archive copy: write: %s", j->q.qid,
			 strerror(e));
		close(fd);
		unlink(j->atmp);
		errno = e;
		return -1;
	}
	j->afd = fd;
	j->akind = ac.kind;
	return 0;
}

void queue_archive_drop(struct queue_job *j)
{
	if (j->afd < 0)
		return;
	close(j->afd);
	unlink(j->atmp);
	j->afd = -1;
}

void queue_archive_report(const struct queue_job *j)
{
	if (j->akind == ARCHIVE_ADDR) {
		log_info("%s: archive=%s", j->q.qid, j->aqid);
		log_info("%s: from=<> nrcpt=1 archive copy of %s", j->aqid,
			 j->q.qid);
	} else if (j->akind == ARCHIVE_FOLDER) {
		log_info("%s: archive=%s", j->q.qid, strrchr(j->anew, '/') + 1);
	}
}
