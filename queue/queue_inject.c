/* queue_inject.c: one injection, the durable path.  The message is held
 * (queue_spool) until the envelope is in, then tmp/<id> is written
 * (header, Received, message), fsync'd, renamed into new/<id>, and new/
 * is fsync'd: only then is the status 0.  Any failure removes tmp/<id>. */
#include "queue.h"
#include "exitcodes.h"
#include "io.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ENOSPC and friends are worth a retry; nothing on our side is permanent
 * except a bad envelope. */
static void inject_fail(struct queue_result *r, int status, const char *what)
{
	r->status = status;
	snprintf(r->text, sizeof r->text, "%s", what);
}

static void inject_failx(struct queue_result *r, const char *what)
{
	char buf[200];
	snprintf(buf, sizeof buf, "%s: %s", what, strerror(errno));
	inject_fail(r, EXIT_TEMP, buf);
}

/* Queue files are group-readable by relay-send and relay-remote. */
static void inject_group(int fd)
{
	struct group *gr;
	if (!cf.group_queue || !*cf.group_queue)
		return;
	gr = getgrnam(cf.group_queue);
	if (gr && fchown(fd, (uid_t)-1, gr->gr_gid) < 0) {
		/* not a member (a developer's run): the owner's group stays */
	}
}

/* Write header + Received + message into fd and fsync it. */
static int inject_file(int fd, struct qfile *q, struct queue_spool *sp,
		       long long now)
{
	size_t hlen;
	char *hdr = qfile_format(q, &hlen);
	char *rcv = queue_received(q, cf.hostname, now);
	int rc = -1;

	if (!hdr || !rcv)
		errno = ENOMEM;
	else if (io_write_all(fd, hdr, hlen) == 0 &&
		 io_write_all(fd, rcv, strlen(rcv)) == 0 &&
		 queue_spool_copy(sp, fd) == 0 && fsync(fd) == 0)
		rc = 0;
	free(hdr);
	free(rcv);
	return rc;
}

/* Create tmp/<id>, write, rename into new/<id>, sync new/. */
static void inject_commit(struct qfile *q, struct queue_spool *sp,
			  struct queue_result *r)
{
	char tmp[PATH_MAX], new[PATH_MAX], newdir[PATH_MAX];
	long long now = queue_now();
	int fd = -1;

	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		queue_dirs_newid(q->qid, sizeof q->qid);
		snprintf(tmp, sizeof tmp, "%s/tmp/%s", cf.queue_dir, q->qid);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return inject_failx(r, "create tmp");
	q->arrival = now;
	inject_group(fd);
	snprintf(new, sizeof new, "%s/new/%s", cf.queue_dir, q->qid);
	snprintf(newdir, sizeof newdir, "%s/new", cf.queue_dir);
	if (inject_file(fd, q, sp, now) < 0) {
		inject_failx(r, "write");
		close(fd);
		unlink(tmp);
		return;
	}
	if (close(fd) < 0 || rename(tmp, new) < 0) {
		inject_failx(r, "rename");
		unlink(tmp);
		return;
	}
	if (queue_dirs_sync(newdir) < 0) {
		/* the rename may not be durable: say so; relay-send may still
		 * deliver it, which is a duplicate at worst, never a loss */
		inject_failx(r, "fsync new");
		return;
	}
	r->status = EXIT_DONE;
	snprintf(r->qid, sizeof r->qid, "%s", q->qid);
	snprintf(r->text, sizeof r->text, "queued as %s", q->qid);
}

static void inject_log(const struct qfile *q, off_t size)
{
	char from[300], ip[80];
	const char *i = qfile_get_info(q, "ip");
	log_clean(from, sizeof from, q->from, strlen(q->from));
	log_clean(ip, sizeof ip, i ? i : "", i ? strlen(i) : 0);
	log_info("%s: from=<%s> nrcpt=%zu size=%lld ip=%s", q->qid, from,
		 q->nrcpt, (long long)size, *ip ? ip : "-");
}

void queue_inject(int msgfd, int envfd, struct queue_result *r)
{
	char tmpdir[PATH_MAX], err[200];
	struct queue_spool sp;
	struct qfile q;
	char *env = NULL;
	size_t envlen;

	memset(r, 0, sizeof *r);
	memset(&q, 0, sizeof q);
	queue_dirs_ensure(cf.queue_dir);
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", cf.queue_dir);
	queue_spool_init(&sp, tmpdir);
	if (queue_spool_fill(&sp, msgfd) < 0)
		inject_failx(r, "reading message");
	else if (queue_env_read(envfd, &env, &envlen) < 0)
		inject_fail(r, errno == EFBIG ? EXIT_PERM : EXIT_TEMP,
			    "reading envelope");
	else if (queue_env_parse(env, envlen, &q, err, sizeof err) < 0)
		inject_fail(r, EXIT_PERM, err);
	else
		inject_commit(&q, &sp, r);
	if (r->status == EXIT_DONE) {
		inject_log(&q, sp.total);
		queue_dirs_trigger(cf.queue_dir);
	} else {
		log_warn("injection refused: %s (status %d)", r->text,
			 r->status);
	}
	qfile_free(&q);
	free(env);
	queue_spool_free(&sp);
}
