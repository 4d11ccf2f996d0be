/* queue_name.c: the daemon's answers and names after a round's fsyncs
 * (queue_commit.c).  A message written into a pool file whose name is
 * durable (POOL_DURABLE) and sealed (queue_seal.c) is on disk, findable
 * and checkable, once its file is fsync'd: it is answered then, and
 * named in new/ afterwards by the naming thread (a link, an fsync of new/,
 * then the pool name unlinked), so its client's 250 waits for one disk
 * flush instead of two.  The other jobs of the round (a tmp/ file, a pool
 * name not yet synced, an archive copy) are renamed into new/ by the same
 * thread and answered after that fsync of new/, as before.  While it
 * names one round the commit thread syncs the next: rounds no longer
 * wait for the fsync of new/.
 *
 * A link, not a rename: without a journal the two directories of a
 * rename reach the disk separately, and a power cut could leave the
 * message with neither name.  If relay-queue dies before the pool name
 * is gone, its start names the message (queue_seal_recover); if the link
 * fails (the disk full) the message keeps its pool name and the link is
 * tried again every second. */
#include "queue.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An answered job's names, kept past its answer: the main thread may
 * free the job as soon as it is marked done. */
struct name_rec {
	char pool[QFILE_ID_MAX]; /* its name in pool/ */
	char qid[QFILE_ID_MAX];  /* its name in new/ */
	int named;
	unsigned tries;          /* links that failed */
	int err;                 /* the last one's errno */
};

struct name_round {
	struct name_round *next;
	struct queue_job *slow; /* answered after the fsync of new/ */
	size_t n;
	struct name_rec rec[];
};

static struct {
	pthread_mutex_t mu;
	sem_t sem;
	struct name_round *todo;
	struct name_round *unnamed; /* a link failed: tried again */
	atomic_int retry;           /* unnamed is not empty */
} nm = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void name_rec_init(struct name_rec *c, const char *pool,
			  const char *qid)
{
	snprintf(c->pool, sizeof c->pool, "%s", pool);
	snprintf(c->qid, sizeof c->qid, "%s", qid);
	c->named = 0;
	c->tries = 0;
	c->err = 0;
}

static int name_fast(const struct queue_job *j)
{
	return j->r.status == -1 && j->sealed && strrchr(j->tmp, '/');
}

static void name_push(struct name_round *r)
{
	pthread_mutex_lock(&nm.mu);
	r->next = nm.todo;
	nm.todo = r;
	pthread_mutex_unlock(&nm.mu);
	sem_post(&nm.sem);
}

/* new/<qid> exists: 1 when it is this pool file (linked by an
 * earlier try whose fsync of new/ failed), not another message. */
static int name_is_ours(const struct name_rec *c, int newfd)
{
	struct stat st;

	return fstatat(queue_pool_dirfd(), c->pool, &st,
		       AT_SYMLINK_NOFOLLOW) == 0 &&
	       queue_dirs_same(newfd, c->qid, &st);
}

/* A failed link is tried again every second; it is logged at the
 * first try, when its error changes and at the 2nd, 4th, 8th... so that
 * a full disk does not fill the log. */
static void name_failed(struct name_rec *c, int e)
{
	c->tries++;
	if (e != c->err || !(c->tries & (c->tries - 1)))
		log_warn("%s: queued (sealed in pool/%s) but not named in "
			 "new/ (try %u): %s; tried again every second",
			 c->qid, c->pool, c->tries,
			 e == EEXIST ? "the name is taken" : strerror(e));
	c->err = e;
}

static void name_linked(struct name_rec *c)
{
	c->named = 1;
	if (c->tries)
		log_info("%s: named in new/ after %u failed tries", c->qid,
			 c->tries);
}

/* Link each answered message into new/; the number named, now or by
 * an earlier try (all want the fsync of new/ before the pool name goes). */
static int name_link(struct name_round *r, int newfd)
{
	int named = 0, e;

	for (size_t i = 0; i < r->n; i++) {
		struct name_rec *c = &r->rec[i];

		if (!c->named &&
		    linkat(queue_pool_dirfd(), c->pool, newfd, c->qid, 0) < 0) {
			e = errno;
			if (e == EEXIST && name_is_ours(c, newfd))
				name_linked(c);
			else
				name_failed(c, e);
		} else if (!c->named) {
			name_linked(c);
		}
		named += c->named;
	}
	return named;
}

/* hold/, opened once (cf.queue_dir does not change). */
static int name_holddir(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = queue_dirs_open(cf.queue_dir, "hold");
	return fd;
}

/* The pool name of a message linked into new/ and synced goes.  When
 * the operator held the message meanwhile, relayctl's rename into hold/
 * is not synced: hold/ is fsync'd first (the name stays only if that
 * fails, and comes back at the next start, a duplicate at worst).
 * Delivered and retired into pool/<qid> already, or deleted: it goes. */
static void name_drop(const struct name_rec *c)
{
	int hold = name_holddir();
	struct stat st;

	/* hold/ unopened (EMFILE) or unreadable: the message may be there */
	if (hold < 0 || (fstatat(hold, c->qid, &st, AT_SYMLINK_NOFOLLOW) < 0
			 ? errno != ENOENT : fsync(hold) < 0)) {
		log_warn("%s: hold/: %s: pool/%s kept", c->qid,
			 strerror(errno), c->pool);
		return;
	}
	unlinkat(queue_pool_dirfd(), c->pool, 0);
}

/* After the fsync of new/ (e: its errno, or 0): the pool names go; a
 * message still unnamed is kept for the next try.  When that fsync
 * failed, the named ones keep their pool names until the next start: a
 * later fsync of the same directory may return 0 without the lost
 * write (Linux reports a write-back error once), so it proves nothing. */
static void name_done(struct name_round *r, int e)
{
	size_t left = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (!r->rec[i].named)
			r->rec[left++] = r->rec[i];
		else if (!e)
			name_drop(&r->rec[i]);
	}
	r->n = left;
	if (!left) {
		free(r);
		return;
	}
	r->slow = NULL;
	r->next = nm.unnamed;
	nm.unnamed = r;
	atomic_store(&nm.retry, 1);
}

/* A batch of rounds (and the unnamed ones of before): the answered
 * messages linked, the others renamed and answered, one fsync of new/. */
static void name_rounds(struct name_round *list)
{
	struct name_round *r, *next;
	struct queue_job *slow = NULL, *j, *jn;
	int newfd = queue_commit_newdir(), named = 0, any, e;

	for (r = nm.unnamed; r && r->next; r = r->next)
		;
	if (r) { /* retried with this batch */
		r->next = list;
		list = nm.unnamed;
		nm.unnamed = NULL;
		atomic_store(&nm.retry, 0);
	}
	for (r = list; r; r = r->next) {
		named += name_link(r, newfd);
		for (j = r->slow; j; j = jn) {
			jn = j->next;
			j->next = slow;
			slow = j;
		}
	}
	e = queue_commit_name_rest(slow, named);
	any = named > 0;
	for (j = slow; j; j = j->next)
		any |= j->r.status == EXIT_DONE;
	queue_commit_finish(slow); /* the jobs are the main thread's now */
	if (any)
		queue_dirs_trigger(cf.queue_dir);
	if (e)
		log_warn("fsync %s/new: %s: the messages named in this round "
			 "keep their pool names until relay-queue restarts",
			 cf.queue_dir, strerror(e));
	for (r = list; r; r = next) {
		next = r->next;
		name_done(r, e);
	}
	if (queue_pool_sync() < 0)
		log_warn("fsync %s/pool: %s: no message is answered before "
			 "its name in new/ until relay-queue restarts",
			 cf.queue_dir, strerror(errno));
}

static void *name_thread(void *arg)
{
	struct name_round *list;

	(void)arg;
	for (;;) {
		if (sem_wait(&nm.sem) < 0)
			continue; /* EINTR */
		pthread_mutex_lock(&nm.mu);
		list = nm.todo;
		nm.todo = NULL;
		pthread_mutex_unlock(&nm.mu);
		if (list || atomic_load(&nm.retry))
			name_rounds(list);
	}
	return NULL;
}

int queue_name_start(void)
{
	pthread_t t;

	if (sem_init(&nm.sem, 0, 0) < 0 ||
	    pthread_create(&t, NULL, name_thread, NULL) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

void queue_name_later(const char *pool, const char *qid)
{
	struct name_round *r = malloc(sizeof *r + sizeof *r->rec);

	if (!r)
		return; /* the next start tries again */
	r->slow = NULL;
	r->n = 1;
	name_rec_init(&r->rec[0], pool, qid);
	name_push(r);
}

void queue_name_tick(void)
{
	if (atomic_load(&nm.retry))
		sem_post(&nm.sem);
}

/* The round's jobs that need a name before their answer, to the naming
 * thread; the others are answered at once (status 0 when sealed in a
 * durable pool file, else their failure). */
void queue_name_round(struct queue_job *list)
{
	struct queue_job *now = NULL, *slow = NULL, *j, *next;
	struct name_round *r;
	size_t n = 0;

	for (j = list; j; j = j->next)
		n += name_fast(j);
	r = malloc(sizeof *r + n * sizeof *r->rec);
	if (r)
		r->n = 0;
	/* else every job the slow way, here */
	for (j = list; j; j = next) {
		next = j->next;
		if (r && name_fast(j)) {
			name_rec_init(&r->rec[r->n++],
				      strrchr(j->tmp, '/') + 1, j->q.qid);
			queue_commit_done_ok(j);
		}
		if (j->r.status != -1) {
			j->next = now;
			now = j;
		} else {
			j->next = slow;
			slow = j;
		}
	}
	queue_commit_finish(now);
	if (!r) {
		queue_commit_name_rest(slow, 0);
		queue_commit_finish(slow);
		queue_dirs_trigger(cf.queue_dir);
		return;
	}
	r->slow = slow;
	name_push(r);
}
