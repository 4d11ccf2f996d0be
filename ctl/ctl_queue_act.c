/* ctl_queue_act.c: relayctl queue hold|release|delete: renames between
 * new/ and hold/, or unlinks (with state/<id>), made as durable as the
 * daemons' own changes (queue/QUEUE.md).
 *
 * relay-queue fsyncs new/ many times a second, so the new/ side of a
 * rename out of it reaches the disk at once; the other side would wait
 * for writeback, and a power cut in between loses the message.  So each
 * rename is followed by an fsync of its destination, then of its source.
 *
 * A message answered from its pool file is named new/<qid> by a link
 * beside pool/<name> and keeps two links until relay-queue's naming
 * thread removes the pool name.  Deleting new/<qid> in that window would
 * leave a sealed pool file with no other name, which relay-queue's next
 * start delivers: so delete waits for the file to have one link. */
#include "ctl_queue.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CTLQ_POLL_NS 10000000L /* 10 ms between looks at the link count */
#define CTLQ_POLLS 200         /* about 2 s a command: the naming thread's
				* round is ms */
/* file times lag the clock by a tick, or by up to a second where the
 * filesystem keeps whole seconds (ext4 with small inodes) */
#define CTLQ_CTIME_SLACK_NS 2000000000LL

static int ctlq_dir_open(const char *sub)
{
	char path[PATH_MAX];
	int fd;

	/* no O_NOFOLLOW needed: relaysend by now (ctl_queue.c), and an
	 * fsync is all that is done with it */
	snprintf(path, sizeof path, "%s/%s", cf.queue_dir, sub);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "relayctl: %s: %s\n", path, strerror(errno));
	return fd;
}

static int ctlq_dir_sync(int fd, const char *sub)
{
	if (fsync(fd) == 0)
		return 0;
	fprintf(stderr, "relayctl: %s/%s: fsync: %s\n", cf.queue_dir, sub,
		strerror(errno));
	return -1;
}

/* 0 once the file at path has one link (its last lstat in *st, or
 * st_nlink 0 when gone: the unlink says what it is), -1 when it still
 * has more when the command's *polls are used up (one budget for a
 * command: delete --all does not wait 2 s a message). */
static int ctlq_one_link(const char *path, int *polls, struct stat *st)
{
	const struct timespec pause = { 0, CTLQ_POLL_NS };

	for (;;) {
		if (lstat(path, st) < 0)
			memset(st, 0, sizeof *st);
		if (st->st_nlink <= 1)
			return 0;
		if (*polls <= 0)
			return -1;
		--*polls;
		nanosleep(&pause, NULL);
	}
}

/* hold/release/delete: what to do with a selected message.  The queue
 * directories are opened once per command and synced (above): after
 * each rename its destination, then its source; after a delete, once at
 * the end, each directory something left. */
enum { CTLQ_NEW, CTLQ_HOLD, CTLQ_STATE, CTLQ_POOL, CTLQ_NDIRS };
static const char *const ctlq_dirs[CTLQ_NDIRS] = { "new", "hold", "state",
						   "pool" };

struct ctlq_act {
	const char *cmd;        /* the command's name: hold */
	const char *verb;       /* what was done: held */
	int from, to;           /* rename from → to; to < 0: delete */
	struct ctlq_sel sel;
	int matched, done;
	int fd[CTLQ_NDIRS];     /* -1 when not needed */
	int removed[CTLQ_NDIRS]; /* delete: synced at the end */
	int polls;              /* delete: the link waits left */
	long long pool_synced;  /* delete: when the last fsync of pool/
				 * began (ns), or 0 */
};

/* 0 moved and durable, 1 moved but a sync failed, -1 not moved.  Never
 * over a file already there (RENAME_NOREPLACE): two files with one id
 * (a clock stepped back under relay-queue's ids, or one put there by
 * hand) stay two, for the operator to look at. */
static int ctlq_rename(struct ctlq_act *a, const char *qid, const char *src)
{
	char dst[PATH_MAX];
	int rc = 0;

	snprintf(dst, sizeof dst, "%s/%s/%s", cf.queue_dir, ctlq_dirs[a->to],
		 qid);
	if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "relayctl: %s: %s/%s exists already "
				"(another file with that id): not moved\n", qid,
				ctlq_dirs[a->to], qid);
		else
			fprintf(stderr, "relayctl: %s: %s\n", qid,
				strerror(errno));
		return -1;
	}
	if (ctlq_dir_sync(a->fd[a->to], ctlq_dirs[a->to]) < 0)
		rc = 1;
	if (ctlq_dir_sync(a->fd[a->from], ctlq_dirs[a->from]) < 0)
		rc = 1;
	return rc;
}

static long long ctlq_ns(const struct timespec *t)
{
	return t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* pool/ fsync'd unless the last fsync began after st's last change of
 * links (the naming thread's unlink of the pool name sets its ctime),
 * with a margin for the kernel's coarse file timestamps. */
static int ctlq_pool_sync(struct ctlq_act *a, const struct stat *st)
{
	struct timespec now;

	if (a->pool_synced &&
	    ctlq_ns(&st->st_ctim) + CTLQ_CTIME_SLACK_NS < a->pool_synced)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (ctlq_dir_sync(a->fd[CTLQ_POOL], ctlq_dirs[CTLQ_POOL]) < 0)
		return -1;
	a->pool_synced = ctlq_ns(&now);
	return 0;
}

/* A file with a second link is a message relay-queue is still naming
 * (above): it is left alone unless that link goes within the command's
 * ~2 s.  The naming thread's unlink of the pool name is not synced, and
 * after a power cut a sealed pool name whose message is gone from new/
 * would be delivered again: pool/ is fsync'd before an unlink unless
 * that fsync began after the file's last change of links. */
static int ctlq_remove(struct ctlq_act *a, const struct ctlq_msg *m,
		       const char *src)
{
	char path[PATH_MAX];
	struct stat st;

	if (ctlq_one_link(src, &a->polls, &st) < 0) {
		fprintf(stderr, "relayctl: %s: being queued, try again (if it "
			"stays so, relay-queue could not name it: see its "
			"log)\n", m->name);
		return -1;
	}
	if (ctlq_pool_sync(a, &st) < 0)
		return -1;
	if (unlink(src) < 0 && errno != ENOENT) {
		fprintf(stderr, "relayctl: %s: %s\n", m->name, strerror(errno));
		return -1;
	}
	a->removed[strcmp(m->sub, "hold") == 0 ? CTLQ_HOLD : CTLQ_NEW] = 1;
	/* one it had when listed and now gone: relay-send removed it as
	 * the message left its memory; synced all the same */
	snprintf(path, sizeof path, "%s/state/%s", cf.queue_dir, m->name);
	if (unlink(path) == 0 || (errno == ENOENT && m->st.file))
		a->removed[CTLQ_STATE] = 1;
	return 0;
}

static int ctlq_act_one(struct ctlq_msg *m, void *arg)
{
	struct ctlq_act *a = arg;
	char src[PATH_MAX];
	int rc;

	if (!ctlq_selected(&a->sel, m))
		return 0;
	a->matched++;
	snprintf(src, sizeof src, "%s/%s/%s", cf.queue_dir, m->sub, m->name);
	rc = a->to >= 0 ? ctlq_rename(a, m->name, src) : ctlq_remove(a, m, src);
	if (rc < 0)
		return 1;
	printf("%s: %s\n", m->name, a->verb);
	a->done++;
	return rc;
}

/* Open what the command syncs; 0, or -1 with the error printed. */
static int ctlq_act_open(struct ctlq_act *a)
{
	for (int i = 0; i < CTLQ_NDIRS; i++)
		a->fd[i] = -1;
	for (int i = 0; i < CTLQ_NDIRS; i++) {
		if (a->to >= 0 && i != a->from && i != a->to)
			continue;
		if ((a->fd[i] = ctlq_dir_open(ctlq_dirs[i])) < 0)
			return -1;
	}
	return 0;
}

static int ctlq_act_close(struct ctlq_act *a)
{
	int rc = 0;

	for (int i = 0; i < CTLQ_NDIRS; i++) {
		if (a->removed[i] && ctlq_dir_sync(a->fd[i], ctlq_dirs[i]) < 0)
			rc = 1;
		if (a->fd[i] >= 0)
			close(a->fd[i]);
	}
	return rc;
}

static int ctlq_act(struct ctlq_act *a, int argc, char **argv)
{
	int rc = 0;

	if (ctlq_parse_sel(argc, argv, &a->sel) < 0) {
		fprintf(stderr, "usage: relayctl queue %s ID...|--from PAT|--to "
				"PAT|--all\n", a->cmd);
		return 100;
	}
	if (ctlq_act_open(a) < 0) {
		ctlq_act_close(a);
		return 111;
	}
	rc |= ctlq_each(ctlq_dirs[a->from], ctlq_act_one, a);
	if (a->to < 0) /* delete: held messages too */
		rc |= ctlq_each("hold", ctlq_act_one, a);
	rc |= ctlq_act_close(a);
	ctlq_trigger();
	if (!a->matched) {
		fprintf(stderr, "relayctl: queue %s: no message matched\n",
			a->cmd);
		return 100;
	}
	return rc ? 111 : 0;
}

int ctlq_hold(int argc, char **argv)
{
	struct ctlq_act a = { .cmd = "hold", .verb = "held", .from = CTLQ_NEW,
			      .to = CTLQ_HOLD };
	return ctlq_act(&a, argc, argv);
}

int ctlq_release(int argc, char **argv)
{
	struct ctlq_act a = { .cmd = "release", .verb = "released",
			      .from = CTLQ_HOLD, .to = CTLQ_NEW };
	return ctlq_act(&a, argc, argv);
}

int ctlq_delete(int argc, char **argv)
{
	struct ctlq_act a = { .cmd = "delete", .verb = "deleted",
			      .from = CTLQ_NEW, .to = -1, .polls = CTLQ_POLLS };
	return ctlq_act(&a, argc, argv);
}
