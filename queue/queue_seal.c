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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
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
		queue_seal_free(s); /* _end then fails: the job is not sealed */
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

/* 1 when buf (n bytes) starts with a queue file's magic and seal line,
 * sealed or not. */
static int seal_head(const char *buf, size_t n)
{
	static const char head[] = QFILE_MAGIC "\n" QFILE_SEAL_KEY "=";

	return n >= QFILE_SEAL_OFF + QFILE_SEAL_HEX + 1 &&
	       memcmp(buf, head, QFILE_SEAL_OFF) == 0 &&
	       buf[QFILE_SEAL_OFF + QFILE_SEAL_HEX] == '\n';
}

/* The stored seal (hex) when the head of a file is a sealed header:
 * 1, or 0 (not a queue file, or a seal still all zeros). */
static int seal_stored(const char *buf, size_t n, char *hex)
{
	if (!seal_head(buf, n))
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

/* The qid in a queue file's header, sealed or not. */
static int seal_head_qid(int fd, char *qid, size_t qn)
{
	char buf[QFILE_SEAL_OFF + QFILE_SEAL_HEX + 1 + QFILE_ID_MAX + 8];
	ssize_t n = pread(fd, buf, sizeof buf, 0);

	return n > 0 && seal_head(buf, (size_t)n) &&
	       seal_qid(buf, (size_t)n, qid, qn);
}

/* A file two names count once: renamed out of the pool's names (a dot
 * name), so that no later start takes it for a free pool file once its
 * other name is gone or its inode holds another message.  The count stays
 * wrong until e2fsck mends it. */
static void seal_set_aside(const struct queue_seal_dirs *d, const char *q,
			   const char *name)
{
	char aside[QFILE_ID_MAX + sizeof SEAL_ASIDE];

	snprintf(aside, sizeof aside, "%s%s", SEAL_ASIDE, name);
	if (renameat2(d->pool, name, d->pool, aside, RENAME_NOREPLACE) < 0)
		snprintf(aside, sizeof aside, "%s", name);
	log_warn("%s: pool/%s is a queued message's file with one link "
		 "counted (after a power cut: run e2fsck on the queue's "
		 "filesystem); left alone as pool/%s", q, name, aside);
}

/* The pool name is a second name of a message still queued: SEAL_NAMED.
 * When the inode counts one link, either a name moved since new/ and
 * hold/ were read (relay-send retired it into pool/ meanwhile: a pool
 * file) or two names are on disk for a count of one (a power cut before
 * a link's inode write, or a rename out of pool/ whose pool/ side was
 * never synced; no e2fsck since): an unlink would then free the message
 * under its other name, so the file is left alone. */
static int seal_extra(const struct queue_seal_dirs *d, int fd,
		      const char *name, const struct stat *st)
{
	char q[QFILE_ID_MAX];

	if (st->st_nlink >= 2)
		return SEAL_NAMED;
	if (!seal_head_qid(fd, q, sizeof q))
		snprintf(q, sizeof q, "-");
	/* retired meanwhile: relay-send names it pool/<its qid>; anything
	 * else (a release from hold/ racing the scan, a freed inode) is
	 * left alone */
	if (st->st_nlink == 1 && strcmp(q, name) == 0 &&
	    !queue_dirs_same(d->new, q, st) && !queue_dirs_same(d->hold, q, st))
		return SEAL_POOL;
	seal_set_aside(d, q, name);
	return SEAL_LEAVE;
}

static int seal_ino_cmp(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;

	return x < y ? -1 : x > y;
}

/* Add the inodes of dir's entries; 0, or -1 (then nothing is sure). */
static int seal_ino_add(struct queue_seal_dirs *d, int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = d->nino;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(dir)))
			break;
		if (d->nino == cap) {
			void *nv = realloc(d->ino, (cap = cap ? 2 * cap : 256) *
						   sizeof *d->ino);
			if (!nv) {
				closedir(dir);
				return -1;
			}
			d->ino = nv;
		}
		d->ino[d->nino++] = de->d_ino;
	}
	fd = errno; /* readdir's: 0 at the end */
	closedir(dir);
	return fd ? -1 : 0;
}

int queue_seal_inodes(struct queue_seal_dirs *d)
{
	d->ino = NULL;
	d->nino = 0;
	/* new/ twice: a release (hold/ to new/) between the two reads of
	 * new/ and hold/ is caught by the second, a hold by hold/'s */
	if (seal_ino_add(d, d->new) < 0 || seal_ino_add(d, d->hold) < 0 ||
	    seal_ino_add(d, d->new) < 0) {
		queue_seal_inodes_free(d);
		return -1;
	}
	qsort(d->ino, d->nino, sizeof *d->ino, seal_ino_cmp);
	return 0;
}

void queue_seal_inodes_free(struct queue_seal_dirs *d)
{
	free(d->ino);
	d->ino = NULL;
	d->nino = 0;
}

/* 1 when st is a file named in new/ or hold/: a message still queued,
 * whatever its pool name holds (a slow-path message's seal is zeros). */
static int seal_queued(const struct queue_seal_dirs *d, const struct stat *st)
{
	return d->nino && bsearch(&st->st_ino, d->ino, d->nino,
				  sizeof *d->ino, seal_ino_cmp);
}

/* A file that could not be judged (EIO, EMFILE) may be a message
 * answered and not yet named: left for the next start, and said. */
static int seal_unread(const char *name, const char *what)
{
	log_warn("pool/%s: %s: %s; left alone until relay-queue restarts",
		 name, what, strerror(errno));
	return SEAL_LEAVE;
}

/* pool/<name> opened: what it is. */
static int seal_classify(const struct queue_seal_dirs *d, const char *name,
			 int fd, char *qid, size_t qn)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return seal_unread(name, "fstat");
	/* only relay-queue's own plain files: pool/ is writable by
	 * relay-send's group (queue_pool.c drops the others) */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return SEAL_POOL;
	/* still queued under another name: a rename out of pool/ or into
	 * it (relay-send's retire) only half on disk, or a link done */
	if (seal_queued(d, &st))
		return seal_extra(d, fd, name, &st);
	/* a retired message, sealed or not: its header says so without
	 * hashing it (relay-send retires big ones too) */
	if (seal_head_qid(fd, qid, qn) && strcmp(qid, name) == 0)
		return SEAL_POOL;
	if ((r = seal_check(fd, qid, qn)) <= 0) /* 0: never answered */
		return r < 0 ? seal_unread(name, "read") : SEAL_POOL;
	if (queue_dirs_same(d->pool, qid, &st))
		return seal_extra(d, fd, name, &st);
	return SEAL_UNNAMED;
}

int queue_seal_recover(const struct queue_seal_dirs *d, const char *name,
		       char *qid, size_t qn)
{
	int fd = openat(d->pool, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0) /* a link or another's file: queue_pool.c drops it */
		return errno == ELOOP || errno == EACCES
			       ? SEAL_POOL
			       : errno == ENOENT ? SEAL_LEAVE /* gone meanwhile */
						 : seal_unread(name, "open");
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
