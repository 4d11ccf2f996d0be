/* queue_inject.c: one injection up to the commit.  The message is held
 * (queue_spool) until the envelope is in; the envelope is checked; then
 * tmp/<id> (or a pool file) is written in one go (header, Received,
 * message), its seal computed on the way.  Making it durable is
 * queue_commit's: seal, fsync, rename into new/, fsync of new/; only
 * then is the status 0 (in the daemon, a sealed pool file's as soon as it
 * is fsync'd: queue_name.c).  Any failure removes tmp/<id>.  The standalone
 * program and the daemon share every step; the daemon only reads the
 * pipes without blocking and commits many files at once. */
#include "queue.h"
#include "addr.h"
#include "exitcodes.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ENOSPC and friends are worth a retry; nothing on our side is permanent
 * except a bad envelope. */
static int inject_fail(struct queue_result *r, int status,
		       enum qreason reason, const char *what)
{
	r->status = status;
	r->reason = reason;
	snprintf(r->text, sizeof r->text, "%s", what);
	return -1;
}

static int inject_failx(struct queue_result *r, const char *what)
{
	char buf[200];
	snprintf(buf, sizeof buf, "%s: %s", what, strerror(errno));
	return inject_fail(r, EXIT_TEMP, qreason_errno(errno), buf);
}

/* Queue files are group-readable by relay-send and relay-remote.  The
 * group is looked up once: getgrnam per message is a file read. */
gid_t queue_inject_gid(void)
{
	static int looked;
	static gid_t gid = (gid_t)-1;
	struct group *gr;

	if (!looked && cf.group_queue && *cf.group_queue) {
		gr = getgrnam(cf.group_queue);
		if (gr)
			gid = gr->gr_gid;
	}
	looked = 1;
	return gid;
}

int queue_inject_group(int fd)
{
	static int not_member; /* a developer's run: the owner's group stays */
	gid_t gid = queue_inject_gid();

	if (gid == (gid_t)-1 || not_member || fchown(fd, (uid_t)-1, gid) == 0)
		return 0;
	not_member = errno == EPERM;
	return not_member ? 0 : -1;
}

/* writev until everything is out (a short write on a full disk). */
static int inject_writev(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Header + signatures and Received (pre) + message; one writev when
 * the message is in memory (nearly always), so a 4 KiB message costs one
 * system call.  The bytes written go to *len (a pool file is cut there:
 * no lseek), and to the seal (j->seal, written by the commit). */
static int inject_file(int fd, struct queue_job *j, const char *pre,
		       off_t *len)
{
	size_t hlen, plen = strlen(pre);
	char *hdr = qfile_format(&j->q, &hlen);
	struct queue_seal seal = { NULL };
	int rc = -1;

	/* only a durable pool file can be sealed (queue_commit_sealed) */
	if (!hdr)
		return -1; /* ENOMEM, or EMSGSIZE: inject_fill */
	if (j->reused == POOL_DURABLE && queue_seal_begin(&seal) < 0) {
		errno = ENOMEM;
		free(hdr);
		return -1;
	}
	queue_seal_add(&seal, hdr, hlen);
	queue_seal_add(&seal, pre, plen);
	j->msgoff = (off_t)hlen;
	if (j->sp.fd < 0) {
		struct iovec iov[3] = { { hdr, hlen }, { (char *)pre, plen },
					{ j->sp.mem, j->sp.len } };
		queue_seal_add(&seal, j->sp.mem ? j->sp.mem : "", j->sp.len);
		rc = inject_writev(fd, iov, 3);
		*len = (off_t)(hlen + plen + j->sp.len);
	} else if (io_write_all(fd, hdr, hlen) == 0 &&
		   io_write_all(fd, pre, plen) == 0) {
		rc = queue_spool_copy(&j->sp, fd, &seal);
		*len = (off_t)(hlen + plen) + j->sp.total;
	}
	j->seal[0] = '\0';
	if (seal.md && queue_seal_end(&seal, j->seal) < 0)
		rc = -1;
	free(hdr);
	return rc;
}

/* What goes before the message: our DKIM-Signature lines (sig, may be
 * NULL) and the Received header; malloc'd or NULL. */
static char *inject_pre(struct queue_job *j, const char *sig, long long now)
{
	char *rcv = queue_received(&j->q, cf.hostname, now), *pre;
	size_t sn = sig ? strlen(sig) : 0;

	if (!rcv)
		return NULL;
	pre = malloc(sn + strlen(rcv) + 1);
	if (pre) {
		memcpy(pre, sig ? sig : "", sn);
		strcpy(pre + sn, rcv);
	}
	free(rcv);
	return pre;
}

/* The DKIM-Signature lines (NULL: none), or -1 under dkim_fail = defer
 * when signing failed (the verdict in j->r). */
static int inject_sign(struct queue_job *j, char **sig)
{
	char err[QUEUE_DKIM_ERR_MAX];

	if (queue_dkim_finish(&j->dk, &j->q, sig, err, sizeof err) == 0)
		return 0;
	if (cf.dkim_fail && !strcmp(cf.dkim_fail, "unsigned")) {
		log_warn("%s: dkim=unsigned: signing failed (dkim_fail = "
			 "unsigned): %s", j->q.qid, err);
		return 0;
	}
	log_warn("%s: dkim=failed: %s (dkim_fail = defer)", j->q.qid, err);
	return inject_fail(&j->r, EXIT_TEMP, QREASON_SIGN,
			   "DKIM signing failed");
}

/* A pool file (queue_pool.c) when one is safe to use, else tmp/<id>,
 * named from the start.  Not an unnamed O_TMPFILE linked into
 * new/ at commit (tried: a little faster): linkat raises the inode's link
 * count, and on a filesystem without a journal (ext4 nojournal, as on
 * the test machine) nothing orders that inode write with the fsync of
 * new/, so a power cut could leave new/<id> naming an inode with no
 * links, which the kernel refuses to read: a lost message.  A rename
 * leaves the fsync'd inode as it is. */
int queue_inject_open(char *qid, size_t qn, char *path, size_t pn,
		      off_t *oldsize, int *reused)
{
	int durable, fd = queue_pool_take(cf.queue_dir, path, pn, oldsize,
					  &durable);
	char tmpdir[PATH_MAX];

	queue_dirs_newid(qid, qn);
	*reused = fd < 0 ? POOL_NEW : durable ? POOL_DURABLE : POOL_REUSED;
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", cf.queue_dir);
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		if (tries)
			queue_dirs_newid(qid, qn);
		snprintf(path, pn, "%s/%s", tmpdir, qid);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0640);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	return fd;
}

/* The file is written; a failure (-1, the verdict in j->r) removes it. */
static int inject_fill(struct queue_job *j, int fd, long long now)
{
	char *sig = NULL, *pre;
	off_t len = 0;
	int rc = -1;

	if (inject_sign(j, &sig) < 0)
		return -1;
	pre = inject_pre(j, sig, now);
	free(sig);
	/* a pool file keeps what it held beyond what was just written; not
	 * when it was no longer (written from 0, it ends where we did): a
	 * truncation per message is a system call and an inode update */
	if (!pre || inject_file(fd, j, pre, &len) < 0 ||
	    (j->reused && j->oldsize > len && ftruncate(fd, len) < 0)) {
		/* EMSGSIZE: a header over QFILE_HEADER_MAX, which relay-send
		 * could not read (an envelope under QUEUE_ENV_MAX of many long
		 * recipients expands past it): never a status 0 for that */
		if (errno == EMSGSIZE)
			inject_fail(&j->r, EXIT_PERM, QREASON_TOOBIG,
				    "queue file header too long");
		else
			inject_failx(&j->r, "write");
	} else if (queue_archive_write(j, pre) < 0)
		inject_fail(&j->r, EXIT_TEMP, qreason_errno(errno),
			    "archive copy failed");
	else
		rc = 0;
	j->msgend = len; /* the scan reads the message up to here */
	free(pre);
	return rc;
}

int queue_inject_check(struct queue_job *j)
{
	char err[200];

	if (queue_env_parse(j->env, j->envlen, &j->q, err, sizeof err) < 0)
		return inject_fail(&j->r, EXIT_PERM, QREASON_ENVELOPE, err);
	if (queue_admit_check(j) < 0)
		return -1;
	j->checked = 1;
	return 0;
}

int queue_inject_write(struct queue_job *j)
{
	long long now = queue_now();
	int fd;

	if (!j->checked && queue_inject_check(j) < 0)
		return -1;
	fd = queue_inject_open(j->q.qid, sizeof j->q.qid, j->tmp,
			       sizeof j->tmp, &j->oldsize, &j->reused);
	if (fd < 0)
		return inject_failx(&j->r, "create tmp");
	queue_admit_receipt(j);
	j->q.arrival = now;
	if (!j->reused)
		queue_inject_group(fd); /* a pool file has it already */
	if (inject_fill(j, fd, now) < 0) {
		close(fd);
		unlink(j->tmp);
		return -1;
	}
	j->fd = fd;
	queue_spool_drop(&j->sp);
	queue_dkim_free(&j->dk);
	return 0;
}

void queue_inject_report(struct queue_job *j)
{
	const struct qfile *q = &j->q;
	char from[3 * ADDR_MAX + 1], ip[3 * 64], auth[3 * ADDR_MAX + 1];
	const char *i, *a;

	if (j->r.status != EXIT_DONE) {
		log_warn("injection refused: %s (status %d)", j->r.text,
			 j->r.status);
		return;
	}
	/* ip and auth: relay-policy's, when the injection came with its
	 * proof (queue_admit.c) */
	i = qfile_get_info(q, ADMIT_WIRE_IP);
	a = qfile_get_info(q, ADMIT_WIRE_AUTH);
	log_field(from, sizeof from, q->from, strlen(q->from));
	log_field(ip, sizeof ip, i ? i : "", i ? strlen(i) : 0);
	log_field(auth, sizeof auth, a ? a : "", a ? strlen(a) : 0);
	log_info("%s: from=<%s> nrcpt=%zu size=%lld ip=%s auth=%s admitted=%s",
		 q->qid, from, q->nrcpt, (long long)j->sp.total,
		 *ip ? ip : "-", *auth ? auth : "-", j->admitted ? "policy" : "-");
	queue_archive_report(j);
	metrics_add(METRIC_QUEUE_MESSAGES, 1, "");
	metrics_add(METRIC_QUEUE_RCPTS, q->nrcpt, "");
	metrics_add(METRIC_QUEUE_BYTES, (uint64_t)j->sp.total, "");
}

/* The standalone program: the same steps, blocking, one job. */
void queue_inject(int msgfd, int envfd, struct queue_result *r)
{
	struct queue_job j;

	queue_dirs_ensure(cf.queue_dir);
	queue_job_init(&j, -1, -1); /* fd 0 and 1 are not the job's to close */
	if (queue_spool_fill(&j.sp, msgfd) < 0)
		inject_failx(&j.r, "reading message");
	else if (queue_env_read(envfd, &j.env, &j.envlen) < 0)
		inject_fail(&j.r, errno == EFBIG ? EXIT_PERM : EXIT_TEMP,
			    errno == EFBIG ? QREASON_TOOBIG : qreason_errno(errno),
			    "reading envelope");
	else if (queue_inject_write(&j) == 0)
		queue_commit_batch(&j);
	queue_inject_report(&j);
	if (j.r.status == EXIT_DONE)
		queue_dirs_trigger(cf.queue_dir);
	*r = j.r;
	queue_job_free(&j);
}
