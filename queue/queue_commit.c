/* queue_commit.c: group commit.  Making a message durable costs an fsync
 * of its file and one of new/, and those, not the CPU, bound injection.
 * So the daemon's commit thread takes every file written since its last
 * round and:
 *   1. starts write-back of all of them (sync_file_range), so the fsyncs
 *      find their data already on its way (with a journal, the first
 *      fsync's commit carries every file's block allocation);
 *   2. fsyncs each file (data and inode durable), a big round's files
 *      shared out among helper threads so that their waits overlap;
 *   3. renames each tmp/<id> into new/;
 *   4. fsyncs new/ once for the whole batch;
 * and only then are the clients told status 0 (by the commit thread
 * itself: the main loop does not wake for it).  While a round runs the
 * next batch gathers, so the batch grows with the load: one fsync of
 * new/ per group instead of per message.  A crash between 3 and 4 leaves
 * renamed files nobody was told about: relay-send delivers them (a
 * duplicate at worst if the client retries, never a loss). */
#include "queue.h"
#include "archive.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One thread: while its round runs the next group gathers, so groups
 * grow with the load and each costs one fsync of new/.  More threads make
 * smaller groups (more fsyncs, more wake-ups) and contend on the
 * directories.  Measured on this box, accept run, 20 sessions x 8000,
 * paired with two threads: relay-queue CPU -16% (lower in 5 of 5 pairs),
 * 3.0-3.4 instead of 4.0-4.3 context switches per message, msg/s ahead
 * in 4 of 5 pairs; with no pool files (every message a new tmp/ file)
 * 0.44 instead of 0.79 ms CPU per message and ahead in 3 of 3.  Four
 * threads with overlapped rounds cost more still.  The price: a message
 * arriving during a round waits for it to end (a big message's fsync
 * delays the others' answers, never their durability).  Starting each
 * file's fsync as soon as it is written (a pool of fsync threads, the
 * round naming only what is synced) made groups of 2-2.6 files instead
 * of 4 and cost relay-queue 25-40% more CPU, for no gain in the bench's
 * rows (bench/README.md, "Each file's fsync started at once"). */
#ifndef COMMIT_THREADS
#define COMMIT_THREADS 1
#endif

/* A semaphore, not a condition variable: glibc takes the mutex back
 * after a wait as if contended, so every round's unlock was a futex
 * system call; sem_post/sem_wait enter the kernel only to sleep or to
 * wake a sleeper, and the mutex stays uncontended. */
static pthread_mutex_t commit_mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t commit_sem;
static struct queue_job *commit_todo;
static int commit_wake = -1;

static void commit_fail(struct queue_job *j, const char *what, int e)
{
	j->r.status = EXIT_TEMP;
	j->r.reason = qreason_errno(e);
	snprintf(j->r.text, sizeof j->r.text, "%s: %s", what, strerror(e));
}

/* Give the written file its name in new/ (rename of tmp/<id>).  An
 * existing new/<id> is never replaced. */
static int commit_name(struct queue_job *j, int newfd)
{
	int rc = renameat2(AT_FDCWD, j->tmp, newfd, j->q.qid,
			   RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) /* not on this filesystem */
		rc = renameat(AT_FDCWD, j->tmp, newfd, j->q.qid);
	return rc;
}

/* Step 2 for the archive copies, beside the messages' fsyncs (a
 * thread of its own for the round): each file's fsync waits for its own
 * inode write, and two of them in a row made a message with a copy cost
 * two waits.  It only fsyncs: what failed is handled after the join. */
static void *commit_sync_copies(void *arg)
{
	for (struct queue_job *j = arg; j; j = j->next)
		j->aerr = j->afd >= 0 && fsync(j->afd) < 0 ? (errno ? errno : EIO)
							   : 0;
	return NULL;
}

/* Step 2's fsyncs side by side.  Each waits for its own file's writes
 * and the disk's cache flush; one after another, a round of n files
 * took n such waits, and under the accept load the commit thread spent
 * nine tenths of its time in fsync with the clients waiting for the
 * round.  The round's files are dealt out to the commit thread and up
 * to SYNC_HELPERS threads kept for it, so the waits overlap (the block
 * layer merges the flushes asked for together).  Job k of the list is
 * stripe k % (helpers + 1)'s: only that thread touches its verdict.
 * One file a thread: a thread's fsyncs in a row were each a wait for
 * the disk, and the round (so every client of it and of the next one)
 * waited for the longest row.  With three files a thread and four
 * threads, a client among the accept run's 20 waited a median 4.8-6.3 ms
 * for its 250 after the dot; with a thread a file 1.7-3.3 ms, and the
 * accept row went from 2.9-3.2x Postfix to 4.2x (alternated runs, a
 * loaded machine).  Idle helpers sleep in a semaphore. */
#define SYNC_HELPERS 15
#define SYNC_PER_THREAD 1
static struct {
	sem_t go[SYNC_HELPERS], done;
	struct queue_job *list;  /* the round's, set before the posts */
	int stride;
	int n;                   /* helpers started; -1: not yet tried */
} sync_pool = { .n = -1 };

static void sync_stripe(struct queue_job *list, int k, int stride)
{
	int i = 0;

	for (struct queue_job *j = list; j; j = j->next)
		if (i++ % stride == k && j->r.status == -1 && fsync(j->fd) < 0)
			commit_fail(j, "write", errno);
}

static void *sync_helper(void *arg)
{
	int k = (int)(intptr_t)arg;

	for (;;) {
		if (sem_wait(&sync_pool.go[k - 1]) < 0)
			continue; /* EINTR */
		sync_stripe(sync_pool.list, k, sync_pool.stride);
		sem_post(&sync_pool.done);
	}
	return NULL;
}

/* The helpers, started at the first round that wants them. */
static void sync_pool_start(void)
{
	pthread_t t;

	sync_pool.n = 0;
	if (sem_init(&sync_pool.done, 0, 0) < 0)
		return;
	while (sync_pool.n < SYNC_HELPERS) {
		int k = sync_pool.n + 1;
		if (sem_init(&sync_pool.go[k - 1], 0, 0) < 0 ||
		    pthread_create(&t, NULL, sync_helper, (void *)(intptr_t)k))
			break;
		pthread_detach(t);
		sync_pool.n++;
	}
}

/* fsync every file of the list still under way. */
static void sync_files(struct queue_job *list)
{
	int n = 0, used;

	for (struct queue_job *j = list; j; j = j->next)
		n += j->r.status == -1;
	/* a helper for every file of the round after the first, up to
	 * SYNC_HELPERS */
	used = n / SYNC_PER_THREAD - 1;
	if (used > 0 && sync_pool.n < 0)
		sync_pool_start();
	if (used > sync_pool.n)
		used = sync_pool.n;
	if (used < 0)
		used = 0;
	sync_pool.list = list;
	sync_pool.stride = used + 1;
	for (int k = 0; k < used; k++)
		sem_post(&sync_pool.go[k]);
	sync_stripe(list, 0, used + 1);
	for (int k = 0; k < used; k++)
		while (sem_wait(&sync_pool.done) < 0)
			; /* EINTR */
}

/* Step 2: a job whose fsync fails (of the message or of its archive
 * copy) is finished (111), its files gone. */
static void commit_sync(struct queue_job *list)
{
	struct queue_job *j;
	pthread_t t;
	int helper = 0;

	for (j = list; j && j->afd < 0; j = j->next)
		;
	if (j)
		helper = pthread_create(&t, NULL, commit_sync_copies, list) == 0;
	sync_files(list);
	if (helper)
		pthread_join(t, NULL);
	else
		commit_sync_copies(list);
	for (j = list; j; j = j->next) {
		if (j->r.status == -1 && j->aerr)
			commit_fail(j, "write archive copy", j->aerr);
		if (j->r.status == -1 || j->fd < 0)
			continue;
		close(j->fd);
		j->fd = -1;
		unlink(j->tmp);
		queue_archive_drop(j);
	}
}

/* The archive copy is named first: a message in new/ always has its
 * copy named beside it (neither durable before step 4). */
static int commit_name_copy(struct queue_job *j)
{
	int rc = 0, e;

	if (j->afd < 0)
		return 0;
	rc = renameat2(AT_FDCWD, j->atmp, AT_FDCWD, j->anew,
		       RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL)
		rc = renameat(AT_FDCWD, j->atmp, AT_FDCWD, j->anew);
	e = errno;
	if (rc < 0)
		unlink(j->atmp);
	close(j->afd);
	j->afd = -1;
	errno = e; /* the rename's, for the verdict */
	return rc;
}

/* Step 3: 1 when the job is in new/ (not yet durable). */
static int commit_link(struct queue_job *j, int newfd)
{
	int rc = commit_name_copy(j);

	if (rc < 0) {
		commit_fail(j, "rename archive copy", errno);
		unlink(j->tmp);
	} else if ((rc = commit_name(j, newfd)) < 0) {
		commit_fail(j, "rename", errno);
		unlink(j->tmp);
		/* its copy stays: an archived message the client will send
		 * again (an extra copy, never a missing one) */
	}
	close(j->fd);
	j->fd = -1;
	return rc == 0;
}

/* Step 4 for maildir copies: the new/ of each customer's folder (an
 * address's copy is in the queue's new/, synced with the group). */
static void commit_archive_dirs(struct queue_job *list)
{
	char dir[PATH_MAX], last[PATH_MAX] = "";

	for (struct queue_job *j = list; j; j = j->next) {
		char *slash;
		int fd;

		if (j->r.status != -1 || j->akind != ARCHIVE_FOLDER)
			continue;
		snprintf(dir, sizeof dir, "%s", j->anew);
		if ((slash = strrchr(dir, '/')))
			*slash = '\0';
		if (!strcmp(dir, last))
			continue; /* the same folder, synced just now */
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0) {
			commit_fail(j, "fsync archive", errno);
			last[0] = '\0';
		} else {
			snprintf(last, sizeof last, "%s", dir);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* new/, opened once: cf.queue_dir does not change while we run. */
static int commit_newdir(void)
{
	static int fd = -1;
	char newdir[PATH_MAX];

	if (fd < 0) {
		snprintf(newdir, sizeof newdir, "%s/new", cf.queue_dir);
		fd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

/* Steps 1-2 for a group: all the fsyncs before any name (a name made
 * between two fsyncs would put a directory change in the journal and
 * make the next fsync wait for another commit). */
static void commit_sync_all(struct queue_job *list)
{
	int newfd = commit_newdir(), oe = errno;
	struct queue_job *j;

	for (j = list; j; j = j->next) {
		j->r.status = -1;
		if (newfd < 0)
			commit_fail(j, "open new", oe); /* freeing removes tmp */
		else if ((list->next || j->afd >= 0) && /* alone, its fsync
							   starts it anyway */
			 (sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WRITE) ||
			  (j->afd >= 0 && sync_file_range(j->afd, 0, 0,
						SYNC_FILE_RANGE_WRITE)))) {
			/* only a hint: the fsync is the real thing */
		}
	}
	commit_sync(list);
}

/* Step 3 for a synced group; the number named. */
static int commit_link_all(struct queue_job *list)
{
	int linked = 0;
	for (struct queue_job *j = list; j; j = j->next)
		if (j->r.status == -1)
			linked += commit_link(j, commit_newdir());
	return linked;
}

/* After step 4 (e: its errno, or 0): the verdicts. */
static void commit_verdicts(struct queue_job *list, int e)
{
	for (struct queue_job *j = list; j; j = j->next) {
		if (j->r.status != -1)
			continue;
		if (e) {
			/* the name may not be durable: say so; relay-send
			 * may still deliver it (a duplicate, never a loss) */
			commit_fail(j, "fsync new", e);
			continue;
		}
		j->r.status = EXIT_DONE;
		snprintf(j->r.qid, sizeof j->r.qid, "%s", j->q.qid);
		snprintf(j->r.text, sizeof j->r.text, "queued as %s",
			 j->q.qid);
	}
}

static int commit_dirsync(int linked)
{
	unsigned long ticket;

	if (!linked)
		return 0;
	ticket = queue_pool_dirsync_begin();
	if (fsync(commit_newdir()) < 0)
		return errno ? errno : EIO;
	queue_pool_dirsync_end(ticket);
	return 0;
}

void queue_commit_batch(struct queue_job *list)
{
	int linked;

	commit_sync_all(list);
	linked = commit_link_all(list);
	commit_archive_dirs(list);
	commit_verdicts(list, commit_dirsync(linked));
}

/* A group's verdicts are out (after the fsync of new/): each job is
 * logged and answered here, so that the main thread does not wake for
 * it, then marked done, after which the main thread may free it at any
 * moment (so nothing of it is touched after that: one atomic or both
 * marks it and says whether the main thread wants a wake-up).  One
 * wake-up of relay-send for the group. */
static void commit_finish(struct queue_job *list)
{
	struct queue_job *j, *next;
	int any = 0, wake = 0;

	log_batch(1); /* the group's lines in one write (this thread's) */
	for (j = list; j; j = j->next)
		queue_inject_report(j);
	log_batch(0);
	for (j = list; j; j = j->next) {
		if (j->replyfd >= 0)
			queue_job_reply(j->replyfd, &j->r, j->r.receipt);
		any |= j->r.status == EXIT_DONE;
	}
	if (any)
		queue_dirs_trigger(cf.queue_dir);
	for (j = list; j; j = next) {
		next = j->next;
		wake |= atomic_fetch_or(&j->cstate, COMMIT_DONE) & COMMIT_WAKE;
	}
	if (wake && write(commit_wake, "c", 1) < 0) {
		/* full: the main loop has a wake-up pending anyway */
	}
}

/* Whole rounds: the thread takes every job waiting, makes them durable
 * (queue_commit_batch) and answers them.  Rounds used to overlap (name
 * the last group, fsync the new one, then new/), which with a journal
 * saves a commit per round; this box's ext4 has none, and there the
 * overlap only made each message wait two rounds instead of one.  Every
 * file is fsync'd before its name exists, and no client hears status 0
 * before the fsync of new/ that follows its name. */
static void *commit_thread(void *arg)
{
	struct queue_job *batch;

	(void)arg;
	for (;;) {
		if (sem_wait(&commit_sem) < 0)
			continue; /* EINTR */
		pthread_mutex_lock(&commit_mu);
		batch = commit_todo;
		commit_todo = NULL;
		pthread_mutex_unlock(&commit_mu);
		if (!batch)
			continue; /* taken by the round of an earlier post */
		queue_commit_batch(batch);
		commit_finish(batch);
	}
	return NULL;
}

int queue_commit_start(void)
{
	int p[2], started = 0;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	commit_wake = p[1];
	if (sem_init(&commit_sem, 0, 0) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	commit_newdir(); /* opened before the threads share it */
	for (int i = 0; i < COMMIT_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, commit_thread, NULL) == 0) {
			pthread_detach(t);
			started++;
		}
	}
	if (!started) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	return p[0];
}

void queue_commit_add(struct queue_job *j, int wake)
{
	atomic_init(&j->cstate, wake ? COMMIT_WAKE : 0);
	queue_commit_push(j);
}

void queue_commit_answer(struct queue_job *j)
{
	j->next = NULL;
	commit_finish(j);
}

void queue_commit_push(struct queue_job *j)
{
	pthread_mutex_lock(&commit_mu);
	j->next = commit_todo;
	commit_todo = j;
	pthread_mutex_unlock(&commit_mu);
	sem_post(&commit_sem);
}

int queue_commit_done(struct queue_job *j, int wake)
{
	int st;

	if (!wake)
		return (atomic_load(&j->cstate) & COMMIT_DONE) != 0;
	j->wake = 1;
	st = atomic_fetch_or(&j->cstate, COMMIT_WAKE);
	return (st & COMMIT_DONE) != 0;
}
