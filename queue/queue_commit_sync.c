/* queue_commit_sync.c: step 2 of the group commit (queue_commit.c):
 * every file of a round fsync'd, side by side. */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <unistd.h>

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
			queue_commit_fail(j, "write", errno);
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
void queue_commit_fsync(struct queue_job *list)
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
			queue_commit_fail(j, "write archive copy", j->aerr);
		if (j->r.status == -1 || j->fd < 0)
			continue;
		if (j->sealed)
			queue_seal_undo(j->fd);
		close(j->fd);
		j->fd = -1;
		unlink(j->tmp);
		queue_archive_drop(j);
	}
}

