/* queue_commit.c: group commit.  Making a message durable costs an fsync
 * of its file and one of new/, and those, not the CPU, bound injection.
 * So the daemon's commit thread takes every file written since its last
 * round and:
 *   1. writes each file's seal (queue_seal.c) and starts write-back of
 *      all of them (sync_file_range), so the fsyncs find their data
 *      already on its way;
 *   2. fsyncs each file (data and inode durable), a big round's files
 *      shared out among helper threads so that their waits overlap
 *      (queue_commit_sync.c);
 *   3. renames each tmp/<id> into new/;
 *   4. fsyncs new/ once for the whole batch;
 * and only then are the clients told status 0.  In the daemon, a file
 * sealed in a pool file whose name is durable is answered after step 2
 * and named after (queue_name.c), and steps 3-4 run on the naming
 * thread while the commit thread starts the next round.  While a round
 * runs the next batch gathers, so the batch grows with the load: one
 * fsync of new/ per group instead of per message.  A crash between 3
 * and 4 leaves renamed files nobody was told about: relay-send delivers
 * them (a duplicate at worst if the client retries, never a loss). */
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

void queue_commit_fail(struct queue_job *j, const char *what, int e)
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
		queue_commit_fail(j, "rename archive copy", errno);
		unlink(j->tmp);
	} else if ((rc = commit_name(j, newfd)) < 0) {
		queue_commit_fail(j, "rename", errno);
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
			queue_commit_fail(j, "fsync archive", errno);
			last[0] = '\0';
		} else {
			snprintf(last, sizeof last, "%s", dir);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* new/, opened once: cf.queue_dir does not change while we run. */
int queue_commit_newdir(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = queue_dirs_open(cf.queue_dir, "new");
	return fd;
}

/* Steps 1-2 for a group: all the fsyncs before any name (a name made
 * between two fsyncs would put a directory change in the journal and
 * make the next fsync wait for another commit). */
static void commit_sync_all(struct queue_job *list)
{
	int newfd = queue_commit_newdir(), oe = errno;
	struct queue_job *j;

	for (j = list; j; j = j->next) {
		j->r.status = -1;
		if (newfd < 0)
			queue_commit_fail(j, "open new", oe); /* freeing removes tmp */
		else if ((j->sealed = queue_commit_sealed(j)) &&
			 pwrite(j->fd, j->seal, QFILE_SEAL_HEX, QFILE_SEAL_OFF) !=
			 QFILE_SEAL_HEX)
			queue_commit_fail(j, "write seal", errno ? errno : EIO);
		else if ((list->next || j->afd >= 0) && /* alone, its fsync
							   starts it anyway */
			 (sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WRITE) ||
			  (j->afd >= 0 && sync_file_range(j->afd, 0, 0,
						SYNC_FILE_RANGE_WRITE)))) {
			/* only a hint: the fsync is the real thing */
		}
	}
	queue_commit_fsync(list);
}

/* Step 3 for a synced group; the number named. */
static int commit_link_all(struct queue_job *list)
{
	int linked = 0;
	for (struct queue_job *j = list; j; j = j->next)
		if (j->r.status == -1)
			linked += commit_link(j, queue_commit_newdir());
	return linked;
}

/* Only these are sealed: a sealed file in pool/ is a message to name at
 * the next start, and a job named the usual way (an archive copy to name
 * first, a pool name not yet durable) must not become one if it fails. */
int queue_commit_sealed(const struct queue_job *j)
{
	return j->reused == POOL_DURABLE && j->akind == ARCHIVE_NONE &&
	       j->seal[0] && !queue_pool_broken();
}

void queue_commit_done_ok(struct queue_job *j)
{
	if (j->fd >= 0) { /* durable: freeing the job must not remove it */
		close(j->fd);
		j->fd = -1;
	}
	j->r.status = EXIT_DONE;
	snprintf(j->r.qid, sizeof j->r.qid, "%s", j->q.qid);
	snprintf(j->r.text, sizeof j->r.text, "queued as %s", j->q.qid);
}

/* After step 4 (e: its errno, or 0): the verdicts. */
static void commit_verdicts(struct queue_job *list, int e)
{
	for (struct queue_job *j = list; j; j = j->next) {
		if (j->r.status != -1)
			continue;
		if (e)
			/* the name may not be durable: say so; relay-send
			 * may still deliver it (a duplicate, never a loss) */
			queue_commit_fail(j, "fsync new", e);
		else
			queue_commit_done_ok(j);
	}
}

static int commit_dirsync(int linked)
{
	unsigned long ticket;

	if (!linked)
		return 0;
	ticket = queue_pool_dirsync_begin();
	if (fsync(queue_commit_newdir()) < 0)
		return errno ? errno : EIO;
	queue_pool_dirsync_end(ticket);
	return 0;
}

int queue_commit_name_rest(struct queue_job *list, int named)
{
	int e;

	named += commit_link_all(list);
	commit_archive_dirs(list);
	e = commit_dirsync(named);
	commit_verdicts(list, e);
	return e;
}

void queue_commit_batch(struct queue_job *list)
{
	commit_sync_all(list);
	queue_commit_name_rest(list, 0);
}

/* A group's verdicts are out: each job is logged and answered here, so
 * that the main thread does not wake for it, then marked done, after
 * which the main thread may free it at any moment (so nothing of it is
 * touched after that: one atomic or both marks it and says whether the
 * main thread wants a wake-up). */
void queue_commit_finish(struct queue_job *list)
{
	struct queue_job *j, *next;
	int wake = 0;

	log_batch(1); /* the group's lines in one write (this thread's) */
	for (j = list; j; j = j->next)
		queue_inject_report(j);
	log_batch(0);
	for (j = list; j; j = j->next)
		if (j->replyfd >= 0)
			queue_job_reply(j->replyfd, &j->r, j->r.receipt);
	for (j = list; j; j = next) {
		next = j->next;
		wake |= atomic_fetch_or(&j->cstate, COMMIT_DONE) & COMMIT_WAKE;
	}
	if (wake && write(commit_wake, "c", 1) < 0) {
		/* full: the main loop has a wake-up pending anyway */
	}
}

/* Whole rounds: the thread takes every job waiting, seals and fsyncs
 * them, and hands them to queue_name_round, which answers the ones
 * durable already and names the rest on its own thread.  Every file is
 * fsync'd before its name in new/ exists, and no client hears status 0
 * before its message can be found after a power cut: in new/ after the
 * fsync of new/ that follows its name, or sealed in a durable pool
 * file. */
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
		commit_sync_all(batch);
		queue_name_round(batch);
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
	queue_commit_newdir(); /* opened before the threads share it */
	if (queue_name_start() < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
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
	queue_commit_finish(j);
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
