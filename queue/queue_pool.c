/* queue_pool.c: queue files are used again instead of being made anew.
 * Creating a file per message was most of the daemon's CPU: ext4 without
 * a journal scans for recently deleted inodes on every allocation, and
 * the create holds tmp/'s lock while the commit threads wait to rename.
 * So relay-send renames a small finished message into pool/ instead of
 * unlinking it, and injection overwrites a pool file, cuts it to length,
 * fsyncs it and renames it into new/ as it would a tmp/ file.  Overwritten
 * blocks also spare ext4 the conversion of freshly allocated ones.
 *
 * A name that arrived in pool/ is not used before an fsync of new/ that
 * began after we saw it: until then, after a power cut, the delivered
 * message could still be named in new/, and overwriting its inode would
 * make that name point at another message.  Under load the group commit
 * fsyncs new/ all the time; when quiet, queue_pool_tick does it.
 *
 * A name is durable (POOL_DURABLE) after an fsync of pool/ itself that
 * began after we saw it: relay-send's rename into pool/ is not synced,
 * and a message answered before it is named in new/ (queue_commit.c)
 * must be found in pool/ after a power cut.  The commit's naming thread
 * fsyncs pool/ when names are waiting (queue_pool_sync).
 *
 * The daemon's main thread owns the list; the commit threads only count
 * their fsyncs of new/ and pool/ (queue_pool_dirsync_*, queue_pool_sync). */
#include "queue.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define POOL_KEEP 1024   /* names kept; more are unlinked as they come */
#define POOL_START 256   /* empty files made at start when fewer exist */
/* New names are read from inotify when taking, not when they arrive (a
 * wake-up of the daemon per delivered message): when fewer than POOL_LOW
 * are kept, every POOL_READ_EVERY takes, or at once when none is; and
 * once a second (queue_pool_tick), so the kernel's queue stays short. */
#define POOL_LOW 256
#define POOL_READ_EVERY 32

struct pool_entry {
	char name[QFILE_ID_MAX];
	unsigned long seen;  /* new/'s dirsync tickets started when it came */
	unsigned long pseen; /* pool/'s */
};

static struct {
	int dirfd, ifd;
	struct pool_entry v[POOL_KEEP]; /* a ring, oldest first */
	size_t head, n;
	unsigned takes;  /* since the last read of inotify */
} pool = { .dirfd = -1, .ifd = -1 };

/* fsyncs of a directory: started, and the highest ticket finished. */
struct dirsync {
	atomic_ulong started, done;
};
static struct dirsync sync_new, sync_pool;
/* An fsync of pool/ failed: a later one may return 0 without the lost
 * write, so no name is durable (POOL_DURABLE) until the next start. */
static atomic_int pool_sync_failed;
/* pool/'s tickets started when the newest name was read: a sync is
 * wanted while it is not done */
static atomic_ulong pool_newest;

static unsigned long dirsync_begin(struct dirsync *d)
{
	return atomic_fetch_add(&d->started, 1) + 1;
}

static void dirsync_end(struct dirsync *d, unsigned long ticket)
{
	unsigned long v = atomic_load(&d->done);
	while (v < ticket &&
	       !atomic_compare_exchange_weak(&d->done, &v, ticket))
		;
}

unsigned long queue_pool_dirsync_begin(void)
{
	return dirsync_begin(&sync_new);
}

void queue_pool_dirsync_end(unsigned long ticket)
{
	dirsync_end(&sync_new, ticket);
}

int queue_pool_dirfd(void)
{
	return pool.dirfd;
}

int queue_pool_broken(void)
{
	return atomic_load(&pool_sync_failed);
}

/* An fsync of pool/ with its ticket, whether names wait or not. */
static int pool_sync_now(void)
{
	unsigned long t;

	t = dirsync_begin(&sync_pool);
	if (fsync(pool.dirfd) < 0) {
		atomic_store(&pool_sync_failed, 1);
		return -1;
	}
	dirsync_end(&sync_pool, t);
	return 0;
}

/* After a failed fsync no name is durable until the next start, so no
 * later one is tried (nor its failure logged again). */
int queue_pool_sync(void)
{
	if (pool.dirfd < 0 || atomic_load(&pool_sync_failed) ||
	    atomic_load(&pool_newest) < atomic_load(&sync_pool.done))
		return 0;
	return pool_sync_now();
}

static int pool_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < QFILE_ID_MAX && s[0] != '.' &&
	       strspn(s, "0123456789ABCDEFP") == n;
}

/* A regular file with a second name.  In pool/ that is a message
 * answered from its pool file, delivered and retired into pool/<qid>
 * before the naming thread removed the pool name: pool/<qid> is what
 * tells the next start that it was delivered ("The seal"), so it is
 * neither unlinked nor written over; unused, it waits for that start. */
static int pool_two_names(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_nlink > 1;
}

/* A name arrived: keep it, or unlink it when the ring is full. */
static void pool_add(const char *name, unsigned long seen,
		     unsigned long pseen)
{
	struct pool_entry *e;
	struct stat st;

	if (!pool_name_ok(name))
		return;
	if (pool.n == POOL_KEEP) {
		if (fstatat(pool.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !pool_two_names(&st))
			unlinkat(pool.dirfd, name, 0);
		return;
	}
	e = &pool.v[(pool.head + pool.n++) % POOL_KEEP];
	snprintf(e->name, sizeof e->name, "%s", name);
	e->seen = seen;
	e->pseen = pseen;
	atomic_store(&pool_newest, pseen);
}

/* A list of pool names (the start's scan). */
struct pool_names {
	char (*v)[QFILE_ID_MAX];
	size_t n, cap;
};

static void pool_names_add(struct pool_names *g, const char *name)
{
	size_t len = strlen(name);

	if (len >= QFILE_ID_MAX)
		return; /* not a pool name (pool_name_ok) */
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		void *nv = realloc(g->v, cap * sizeof *g->v);
		if (!nv)
			return; /* the name stays: the next start drops it */
		g->v = nv;
		g->cap = cap;
	}
	memcpy(g->v[g->n++], name, len + 1);
}

/* Names whose message is queued under another name (queue_seal_recover)
 * go once new/, hold/ and pool/ are fsync'd, so that a power cut cannot
 * leave the message without a name (the other name may be a hold or a
 * retire that nobody synced). */
static void pool_names_drop(struct pool_names *g,
			    const struct queue_seal_dirs *d)
{
	if (g->n && fsync(d->new) == 0 && fsync(d->hold) == 0 &&
	    pool_sync_now() == 0)
		for (size_t i = 0; i < g->n; i++)
			unlinkat(pool.dirfd, g->v[i], 0);
	free(g->v);
}

/* The names the start's scan saw, sorted: inotify reports again those
 * that arrived while it ran, and a name kept twice would be written
 * into by two messages at once.  Freed after the first read. */
static struct pool_names scanned;

static int pool_name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int pool_scanned(const char *name)
{
	return scanned.n &&
	       bsearch(name, scanned.v, scanned.n, sizeof *scanned.v,
		       pool_name_cmp);
}

static void pool_scanned_free(void)
{
	free(scanned.v);
	memset(&scanned, 0, sizeof scanned);
}

/* One name found by the scan. */
static void pool_scan_one(const struct queue_seal_dirs *sd, const char *name,
			  struct pool_names *gone)
{
	char qid[QFILE_ID_MAX];
	unsigned long seen, pseen;

	if (!pool_name_ok(name))
		return;
	pool_names_add(&scanned, name); /* out of memory: a repeat possible */
	/* the name was there before these loads: a sync begun later has it
	 * (the naming thread may sync while the scan runs) */
	seen = atomic_load(&sync_new.started);
	pseen = atomic_load(&sync_pool.started);
	switch (queue_seal_recover(sd, name, qid, sizeof qid)) {
	case SEAL_POOL:
		pool_add(name, seen, pseen);
		break;
	case SEAL_NAMED:
		pool_names_add(gone, name);
		break;
	case SEAL_UNNAMED:
		queue_name_later(name, qid);
		break;
	default: /* SEAL_LEAVE */
		break;
	}
}

/* Files left from before (a restart): all usable after one fsync of
 * new/ and one of pool/, which the caller makes.  A sealed message not
 * yet named in new/ is named first (queue_seal_recover).  Without new/
 * and hold/ to look in, no file is touched: any could be a message. */
static void pool_scan(const char *qdir)
{
	int fd = openat(pool.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct queue_seal_dirs sd = { pool.dirfd,
				      queue_dirs_open(qdir, "new"),
				      queue_dirs_open(qdir, "hold"), NULL, 0 };
	struct pool_names gone = { 0 };
	struct dirent *de;
	int ok = sd.new >= 0 && sd.hold >= 0 && queue_seal_inodes(&sd) == 0;

	if (d && !ok)
		log_warn("%s/new or hold: %s: the files of pool/ are left "
			 "alone", qdir, strerror(errno));
	while (d && ok && (de = readdir(d)))
		pool_scan_one(&sd, de->d_name, &gone);
	queue_seal_inodes_free(&sd);
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	pool_names_drop(&gone, &sd);
	if (scanned.n)
		qsort(scanned.v, scanned.n, sizeof *scanned.v, pool_name_cmp);
	if (sd.new >= 0)
		close(sd.new);
	if (sd.hold >= 0)
		close(sd.hold);
}

/* A fresh queue starts with some files, so the first messages after an
 * installation do not pay for inodes either. */
static void pool_fill(void)
{
	char name[QFILE_ID_MAX];

	while (pool.n < POOL_START) {
		queue_dirs_newid(name, sizeof name);
		name[strlen(name) - 1] = 'P'; /* never a message's id */
		int fd = openat(pool.dirfd, name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0)
			return;
		queue_inject_group(fd);
		close(fd);
		/* made after the scan's fsync of pool/: durable after the
		 * next one only */
		pool_add(name, 0, atomic_load(&sync_pool.started));
	}
}

static void pool_read(void);

int queue_pool_start(const char *qdir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/pool", qdir);
	pool.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pool.dirfd < 0) {
		log_warn("no %s: queue files are not reused", path);
		return -1;
	}
	pool.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pool.ifd >= 0 &&
	    inotify_add_watch(pool.ifd, path, IN_MOVED_TO | IN_ONLYDIR) < 0) {
		close(pool.ifd);
		pool.ifd = -1;
	}
	pool_scan(qdir);
	pool_read(); /* what arrived during the scan, without repeats */
	pool_scanned_free();
	pool_fill();
	queue_pool_tick(qdir); /* makes what the scan found usable */
	return 0;
}

/* Names relay-send moved in since the last read.  A read that did not
 * fill the buffer took all there was: no second read to hear EAGAIN. */
static void pool_read(void)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = 0;

	pool.takes = 0;
	while (pool.ifd >= 0 &&
	       (n = read(pool.ifd, buf, sizeof buf)) > 0) {
		/* read after the read: every rename in buf came before it,
		 * so only an fsync begun later is sure to carry them */
		unsigned long seen = atomic_load(&sync_new.started),
			      pseen = atomic_load(&sync_pool.started);
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			/* lost names (an overflow) stay as files until
			 * the next start's scan: scanning now could add a
			 * name twice, or one being written */
			if (ev->len && !(ev->mask & IN_Q_OVERFLOW) &&
			    !pool_scanned(ev->name))
				pool_add(ev->name, seen, pseen);
			p += sizeof *ev + ev->len;
		}
		if ((size_t)n + sizeof(struct inotify_event) + NAME_MAX + 1 <=
		    sizeof buf)
			break;
	}
}

/* A file made by pool_fill has the queue's group only from its fchown
 * on: one left by a kill in between would hold a message relay-send
 * cannot read, answered 250 and then held as unreadable. */
static int pool_group_ok(int fd, const struct stat *st)
{
	gid_t gid = queue_inject_gid();

	return gid == (gid_t)-1 || st->st_gid == gid ||
	       queue_inject_group(fd) == 0;
}

/* Only our own plain files: pool/ is writable by relay-send's group, so
 * a link or a file of someone else's is dropped, never written through. */
static int pool_open(const char *name, off_t *size)
{
	static uid_t euid = (uid_t)-1; /* a system call per message else */
	struct stat st;
	int fd = openat(pool.dirfd, name,
			O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP || errno == EACCES) /* a link, not ours */
			unlinkat(pool.dirfd, name, 0);
		return -1;
	}
	if (euid == (uid_t)-1)
		euid = geteuid(); /* privileges are dropped by now */
	if (fstat(fd, &st) < 0) {
		st.st_mode = 0; /* not ours to judge: dropped */
		st.st_nlink = 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != euid ||
	    !pool_group_ok(fd, &st)) {
		close(fd);
		if (!pool_two_names(&st))
			unlinkat(pool.dirfd, name, 0);
		errno = EPERM;
		return -1;
	}
	*size = st.st_size;
	return fd;
}

int queue_pool_take(const char *qdir, char *path, size_t n, off_t *size,
		    int *durable)
{
	unsigned long done;

	if (pool.n == 0 || (pool.n < POOL_LOW && ++pool.takes >= POOL_READ_EVERY))
		pool_read();
	done = atomic_load(&sync_new.done);
	while (pool.n > 0) {
		struct pool_entry *e = &pool.v[pool.head];
		int fd;

		if (e->seen >= done)
			return -1; /* not yet safe; the rest came later */
		pool.head = (pool.head + 1) % POOL_KEEP;
		pool.n--;
		fd = pool_open(e->name, size);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE ||
			       errno == ENOMEM)) {
			/* kept for the next take, not forgotten with the
			 * rest of the ring */
			pool.head = (pool.head + POOL_KEEP - 1) % POOL_KEEP;
			pool.n++;
			return -1;
		}
		if (fd >= 0) {
			snprintf(path, n, "%s/pool/%s", qdir, e->name);
			*durable = e->pseen < atomic_load(&sync_pool.done) &&
				   !atomic_load(&pool_sync_failed);
			return fd;
		}
	}
	return -1;
}

/* Once a second: names waiting for an fsync of new/ get one when the
 * commit threads have not made it meanwhile. */
void queue_pool_tick(const char *qdir)
{
	char path[PATH_MAX];
	unsigned long t;

	size_t last;

	pool_read();
	if (queue_pool_sync() < 0)
		log_warn("fsync %s/pool: %s", qdir, strerror(errno));
	last = (pool.head + pool.n - 1) % POOL_KEEP;
	if (pool.n == 0 || pool.v[last].seen < atomic_load(&sync_new.done))
		return; /* the newest is usable, so all are */
	snprintf(path, sizeof path, "%s/new", qdir);
	t = queue_pool_dirsync_begin();
	if (queue_dirs_sync(path) == 0)
		queue_pool_dirsync_end(t);
}
