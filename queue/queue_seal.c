/* queue_seal.c: the seal of a queue file (lib/qfile.h, QFILE_SEAL_*).
 * A message written into a pool file whose name is already durable is
 * answered once the file alone is fsync'd; it is named in new/ after the
 * 250 (queue_commit.c).  If relay-queue dies, or the power goes, in
 * between, the only trace is the pool file, and after a power cut a pool
 * file may hold any mix of the old and the new message's blocks.  The
 * seal tells the two apart: the file's SHA-256, written into the header
 * just before its fsync, is right only for a file that was whole.  At
 * start every pool file whose seal is right and whose qid is not its own
 * name (a retired message keeps its own) is a message someone was told
 * is queued: it is named in new/ (queue/QUEUE.md, "The seal"). */
#include "queue.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int queue_seal_begin(struct queue_seal *s)
{
	s->md = EVP_MD_CTX_new();
	if (s->md && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) == 1)
		return 0;
	queue_seal_free(s);
	errno = ENOMEM;
	return -1;
}

void queue_seal_add(struct queue_seal *s, const void *p, size_t n)
{
	if (s->md && EVP_DigestUpdate(s->md, p, n) != 1)
		queue_seal_free(s); /* _end then fails */
}

int queue_seal_end(struct queue_seal *s, char *hex)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int ok = s->md && EVP_DigestFinal_ex(s->md, d, &n) == 1 &&
		 n * 2 == QFILE_SEAL_HEX;

	queue_seal_free(s);
	for (unsigned i = 0; ok && i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (!ok)
		errno = EIO;
	return ok ? 0 : -1;
}

void queue_seal_undo(int fd)
{
	char zeros[QFILE_SEAL_HEX];

	memset(zeros, '0', sizeof zeros);
	if (pwrite(fd, zeros, sizeof zeros, QFILE_SEAL_OFF) == sizeof zeros &&
	    fdatasync(fd) < 0) {
		/* best effort: the disk is failing already */
	}
}

void queue_seal_free(struct queue_seal *s)
{
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}

/* The stored seal (hex) when the head of a file is a sealed header:
 * 1, or 0 (not a queue file, or a seal still all zeros). */
static int seal_stored(const char *buf, size_t n, char *hex)
{
	static const char head[] = QFILE_MAGIC "\n" QFILE_SEAL_KEY "=";

	if (n < QFILE_SEAL_OFF + QFILE_SEAL_HEX + 1 ||
	    memcmp(buf, head, QFILE_SEAL_OFF) != 0 ||
	    buf[QFILE_SEAL_OFF + QFILE_SEAL_HEX] != '\n')
		return 0;
	memcpy(hex, buf + QFILE_SEAL_OFF, QFILE_SEAL_HEX);
	hex[QFILE_SEAL_HEX] = '\0';
	return strspn(hex, "0") != QFILE_SEAL_HEX &&
	       strspn(hex, "0123456789abcdef") == QFILE_SEAL_HEX;
}

/* The qid of a sealed file whose seal is right: the line after the
 * seal ("qid=", qfile_format's order). */
static int seal_qid(const char *buf, size_t n, char *qid, size_t qn)
{
	size_t at = QFILE_SEAL_OFF + QFILE_SEAL_HEX + 1, len;
	const char *nl;

	if (n < at + 4 || memcmp(buf + at, "qid=", 4) != 0)
		return 0;
	at += 4;
	nl = memchr(buf + at, '\n', n - at);
	len = nl ? (size_t)(nl - (buf + at)) : 0;
	if (!len || len >= qn)
		return 0;
	memcpy(qid, buf + at, len);
	qid[len] = '\0';
	return 1;
}

/* 1 when fd's seal is right (its qid in qid), 0 when it is not a sealed
 * queue file or the seal is wrong, -1 when that could not be read. */
static int seal_check(int fd, char *qid, size_t qn)
{
	char buf[65536], stored[QFILE_SEAL_HEX + 1], calc[QFILE_SEAL_HEX + 1];
	struct queue_seal s;
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	off_t off = 0;

	if (n < 0)
		return -1;
	if (!seal_stored(buf, (size_t)n, stored) ||
	    !seal_qid(buf, (size_t)n, qid, qn))
		return 0;
	if (queue_seal_begin(&s) < 0)
		return -1;
	memset(buf + QFILE_SEAL_OFF, '0', QFILE_SEAL_HEX);
	while (n > 0) {
		queue_seal_add(&s, buf, (size_t)n);
		off += n;
		n = pread(fd, buf, sizeof buf, off);
	}
	if (n < 0) {
		queue_seal_free(&s);
		return -1;
	}
	if (queue_seal_end(&s, calc) < 0)
		return -1;
	return strcmp(calc, stored) == 0;
}

/* 1 when dir/name is the file st describes. */
static int seal_same(int dirfd, const char *name, const struct stat *st)
{
	struct stat o;

	return dirfd >= 0 &&
	       fstatat(dirfd, name, &o, AT_SYMLINK_NOFOLLOW) == 0 &&
	       o.st_ino == st->st_ino && o.st_dev == st->st_dev;
}

/* The pool name is a second name of a message still queued under q:
 * SEAL_NAMED, or SEAL_LEAVE when the inode counts one link for the two
 * (a power cut before the link's inode write, no e2fsck since): an unlink
 * would then free the message under its other name. */
static int seal_extra(const char *q, const char *name, const struct stat *st)
{
	if (st->st_nlink >= 2)
		return SEAL_NAMED;
	log_warn("%s: pool/%s and its queue name share an inode counted "
		 "once (run e2fsck on the queue's filesystem); pool/%s left "
		 "alone", q, name, name);
	return SEAL_LEAVE;
}

/* pool/<name> opened: what it is. */
static int seal_classify(const struct queue_seal_dirs *d, const char *name,
			 int fd, char *qid, size_t qn)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return SEAL_LEAVE;
	/* only relay-queue's own plain files: pool/ is writable by
	 * relay-send's group (queue_pool.c drops the others) */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return SEAL_POOL;
	/* a retire (relay-send's rename from new/ or hold/) only half on
	 * disk: the message is still queued under this name */
	if (seal_same(d->new, name, &st) || seal_same(d->hold, name, &st))
		return seal_extra(name, name, &st);
	if ((r = seal_check(fd, qid, qn)) <= 0)
		return r < 0 ? SEAL_LEAVE : SEAL_POOL; /* never answered */
	if (strcmp(qid, name) == 0)
		return SEAL_POOL; /* a retired message */
	if (seal_same(d->new, qid, &st) || seal_same(d->hold, qid, &st) ||
	    seal_same(d->pool, qid, &st))
		return seal_extra(qid, name, &st);
	return SEAL_UNNAMED;
}

int queue_seal_recover(const struct queue_seal_dirs *d, const char *name,
		       char *qid, size_t qn)
{
	int fd = openat(d->pool, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0) /* a link or another's file: queue_pool.c drops it */
		return errno == ELOOP || errno == EACCES ? SEAL_POOL
							  : SEAL_LEAVE;
	r = seal_classify(d, name, fd, qid, qn);
	close(fd);
	if (r != SEAL_UNNAMED)
		return r;
	if (linkat(d->pool, name, d->new, qid, 0) < 0) {
		log_warn("%s: sealed in pool/%s but cannot be named in new/: "
			 "%s; tried again", qid, name, strerror(errno));
		return SEAL_UNNAMED;
	}
	log_info("%s: recovered from pool/%s (committed, not yet named)",
		 qid, name);
	return SEAL_NAMED;
}
