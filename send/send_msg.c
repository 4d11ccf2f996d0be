/* send_msg.c: the messages of new/ in memory.  The queue file's header
 * gives the envelope, state/<id> the results so far; a result is
 * appended and fsync'd as it is applied in memory.  Should that write
 * fail (a full disk), memory is ahead of the disk: the message then
 * stays in memory until its file is out of new/, so that only a restart
 * of relay-send acts on it again. */
#include "send.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned msg_hash(const char *s)
{
	unsigned h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % 4096;
}

struct send_msg *send_msg_find(struct send_msgs *ms, const char *qid)
{
	for (struct send_msg *m = ms->hash[msg_hash(qid)]; m; m = m->hnext)
		if (strcmp(m->q.qid, qid) == 0)
			return m;
	return NULL;
}

/* Who may have made a file in new/: relay-queue, relay-send (which
 * moves finished files to pool/ for relay-queue to reuse) and root (the
 * operator), or, in an unprivileged instance, the one uid everything
 * runs as. */
static uid_t msg_owners[3];
static int msg_nowners;

void send_msg_owners_init(void)
{
	const char *users[] = { cf.user_queue, cf.user_send };
	struct passwd *pw;

	msg_nowners = 0;
	if (!privs_is_root()) {
		msg_owners[msg_nowners++] = getuid();
		return;
	}
	msg_owners[msg_nowners++] = 0;
	for (size_t i = 0; i < 2; i++)
		if (users[i] && (pw = getpwnam(users[i])))
			msg_owners[msg_nowners++] = pw->pw_uid;
}

static int msg_owner_ok(uid_t uid)
{
	for (int i = 0; i < msg_nowners; i++)
		if (msg_owners[i] == uid)
			return 1;
	return 0;
}

/* A file in new/ that relay-queue did not make is not mail to send:
 * logged, and moved to hold/ for the operator to look at.  Never over a
 * held message with the same id (RENAME_NOREPLACE): then it stays in
 * new/, refused again at each scan. */
static void msg_refuse(const char *qdir, const char *qid, const char *why)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof from, "%s/new/%s", qdir, qid);
	snprintf(to, sizeof to, "%s/hold/%s", qdir, qid);
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		log_warn("%s: refused: %s; moved to hold/", qid, why);
	else if (errno == EEXIST)
		log_warn("%s: refused: %s; hold/%s exists already (another "
			 "file with that id): left in new/", qid, why, qid);
	else
		log_warn("%s: refused: %s; cannot move it to hold/: %s", qid,
			 why, strerror(errno));
}

int send_msg_open(const char *qdir, const char *qid)
{
	char path[PATH_MAX], why[128];
	struct stat st;
	int fd;

	snprintf(path, sizeof path, "%s/new/%s", qdir, qid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		/* relay-queue's files are always readable by group_queue */
		if (errno == ELOOP || errno == EACCES) {
			msg_refuse(qdir, qid, errno == ELOOP ? "a symbolic link"
							     : "not readable");
			errno = EPERM;
		}
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && msg_owner_ok(st.st_uid))
		return fd;
	close(fd);
	if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	else
		snprintf(why, sizeof why, "made by uid %ld, not by relay-queue",
			 (long)st.st_uid);
	msg_refuse(qdir, qid, why);
	errno = EPERM;
	return -1;
}

/* A file that does not read as a queue file (e EBADMSG: damaged, or its
 * header names another id) would be tried at every scan and never
 * delivered, bounced or expired: it goes to hold/ once, where relayctl
 * lists it as unreadable.  A read error or no memory may pass: that is
 * only logged. */
static void msg_unreadable(const char *qdir, const char *qid,
			   const char *err, int e)
{
	char why[256];

	if (e != EBADMSG) {
		log_warn("%s: cannot load: %s", qid, err);
		return;
	}
	snprintf(why, sizeof why, "unreadable queue file: %s", err);
	msg_refuse(qdir, qid, why);
}

struct send_msg *send_msg_load(const char *qdir, const char *qid, int keep)
{
	char path[PATH_MAX], err[200];
	struct send_msg *m = calloc(1, sizeof *m);
	int fd, rc;

	if (!m)
		return NULL;
	if ((fd = send_msg_open(qdir, qid)) < 0) {
		if (errno != EPERM)
			log_warn("%s: cannot load: %s", qid, strerror(errno));
		free(m);
		return NULL;
	}
	rc = qfile_load_fd(fd, &m->q, err, sizeof err);
	if (rc < 0 || strcmp(m->q.qid, qid) != 0) {
		int e = rc < 0 ? errno : EBADMSG;
		close(fd);
		msg_unreadable(qdir, qid, rc < 0 ? err : "its header names "
			       "another queue id", e);
		if (rc == 0)
			qfile_free(&m->q);
		free(m);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/state/%s", qdir, qid);
	if (qstate_init(&m->st, m->q.nrcpt) < 0 ||
	    (send_stfile_may(qid) && qstate_load(path, &m->st) < 0) ||
	    !(m->busy = calloc(m->q.nrcpt, 1))) {
		log_warn("%s: cannot load state", qid);
		close(fd);
		qstate_free(&m->st);
		qfile_free(&m->q);
		free(m);
		return NULL;
	}
	if (keep)
		send_qfd_keep(m, fd);
	else
		close(fd);
	return m;
}

void send_msg_add(struct send_msgs *ms, struct send_msg *m)
{
	unsigned h = msg_hash(m->q.qid);
	if (ms->n == ms->cap) {
		size_t ncap = ms->cap ? ms->cap * 2 : 256;
		struct send_msg **nv = realloc(ms->v, ncap * sizeof *nv);
		if (!nv)
			return; /* stays on disk: the next scan tries again */
		ms->v = nv;
		ms->cap = ncap;
	}
	m->hnext = ms->hash[h];
	ms->hash[h] = m;
	m->vidx = ms->n;
	ms->v[ms->n++] = m;
	m->hidx = SIZE_MAX;
	/* before it enters a heap: its customer says which */
	m->cust = send_cust_get(ms, qfile_get_info(&m->q, QFILE_INFO_CUSTOMER));
	send_ready_set(ms, m, 0); /* new: due now */
}

void send_msg_drop(struct send_msgs *ms, struct send_msg *m)
{
	struct send_msg **pp = &ms->hash[msg_hash(m->q.qid)];

	while (*pp && *pp != m)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = m->hnext;
	send_ready_remove(ms, m);
	send_dest_leave(ms, m);
	send_qfd_close(m);
	ms->v[m->vidx] = ms->v[--ms->n];
	ms->v[m->vidx]->vidx = m->vidx;
	qstate_free(&m->st);
	qfile_free(&m->q);
	free(m->busy);
	free(m);
}

size_t send_msg_scan(struct send_msgs *ms, const char *qdir)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t loaded = 0;
	DIR *d;

	snprintf(path, sizeof path, "%s/new", qdir);
	d = opendir(path);
	if (!d)
		return 0;
	for (size_t i = 0; i < ms->n; i++)
		ms->v[i]->seen = 0;
	while ((de = readdir(d))) {
		struct send_msg *m;
		notify_beat(); /* a big queue's scan is the main loop's work */
		if (!qfile_id_ok(de->d_name))
			continue;
		m = send_msg_find(ms, de->d_name);
		if (!m && (m = send_msg_load(qdir, de->d_name, 0))) {
			send_msg_add(ms, m);
			loaded++;
		}
		if (m)
			m->seen = 1;
	}
	closedir(d);
	for (size_t i = 0; i < ms->n; i++)
		if (!ms->v[i]->seen && !ms->v[i]->gone) {
			ms->v[i]->gone = 1;
			send_ready_set(ms, ms->v[i], 0);
		}
	return loaded;
}

/* Apply formatted result lines to m->st in memory. */
static void msg_apply(struct send_msg *m, const char *lines, size_t len)
{
	const char *p = lines;

	while (p < lines + len) {
		char line[QSTATE_LINE_MAX + 2];
		const char *nl = memchr(p, '\n', (size_t)(lines + len - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(lines + len - p);
		if (l >= sizeof line)
			l = sizeof line - 1;
		memcpy(line, p, l);
		line[l] = '\0';
		qstate_apply(&m->st, line);
		p = nl ? nl + 1 : lines + len;
	}
}

int send_msg_record(const char *qdir, struct send_msg *m, const char *lines,
		    size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/state/%s", qdir, m->q.qid);
	m->st.file = 1; /* created by the append, even one that failed */
	send_stfile_add(m->q.qid);
	/* applied even when not written: left pending, a delivered
	 * recipient would be sent again at once, and again, for as long as
	 * the disk refuses; now only a restart of relay-send does it */
	msg_apply(m, lines, len);
	if (qstate_append(path, lines, len) < 0) {
		log_warn("%s: state write failed: %s; the results are kept in "
			 "memory only", m->q.qid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Files up to this size are handed back for reuse; bigger ones would
 * hold their disk space in pool/ until reused. */
#define SEND_POOL_FILE_MAX (64 * 1024)

/* A file with a second name: a message answered from its pool file
 * whose pool name relay-queue has not yet removed (queue/QUEUE.md, "The
 * seal"). */
static int msg_still_pooled(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_nlink > 1;
}

/* Take a finished message out of new/: a small one into pool/, where
 * relay-queue writes a later message into it instead of making a new
 * inode (queue/queue_pool.c); RENAME_NOREPLACE, so a pool name that
 * relay-queue may be writing is never swapped.  Else, or when that
 * fails, an unlink; errno as unlink's (ENOENT: the message was held).
 * One still pooled goes into pool/ whatever its size: pool/<qid> tells
 * relay-queue's start that it was delivered, where an unlink would
 * leave the sealed pool name alone to be taken for a message not yet
 * named, and delivered again; if that rename fails it is not unlinked
 * but kept (EBUSY), its results recorded, for a later pass. */
static int msg_retire(const char *qdir, struct send_msg *m,
		      const char *path)
{
	char pool[PATH_MAX];
	int pooled = -1, e; /* -1: not looked at */

	send_qfd_close(m); /* relay-queue may write over it in pool/ */
	if (m->q.size <= SEND_POOL_FILE_MAX ||
	    (pooled = msg_still_pooled(path))) {
		snprintf(pool, sizeof pool, "%s/pool/%s", qdir, m->q.qid);
		if (renameat2(AT_FDCWD, path, AT_FDCWD, pool,
			      RENAME_NOREPLACE) == 0)
			return 0;
		e = errno;
		if (pooled < 0)
			pooled = msg_still_pooled(path);
		if (pooled) {
			log_warn("%s: delivered, not retired into pool/ while "
				 "relay-queue names it (%s): kept in new/ "
				 "until a later pass", m->q.qid, strerror(e));
			errno = EBUSY;
			return -1;
		}
	}
	return unlink(path);
}

/* Out of new/: its state file goes too. */
static void msg_gone(const char *qdir, struct send_msg *m)
{
	char path[PATH_MAX];

	if (m->st.file) {
		snprintf(path, sizeof path, "%s/state/%s", qdir, m->q.qid);
		if (unlink(path) == 0 || errno == ENOENT) {
			send_stfile_del(m->q.qid);
			m->st.file = 0;
		}
	}
	m->gone = 1;
}

/* Is qid in new/ or hold/?  new/ is looked at again after hold/: a
 * release (hold/ to new/) between the first two looks hides it from
 * both, and once hold/ misses it the rename is done, so the third finds
 * it (unless it was held again in that instant: two commands). */
static int msg_queued(const char *qdir, const char *qid)
{
	char newp[PATH_MAX], hold[PATH_MAX];

	snprintf(newp, sizeof newp, "%s/new/%s", qdir, qid);
	snprintf(hold, sizeof hold, "%s/hold/%s", qdir, qid);
	return access(newp, F_OK) == 0 || access(hold, F_OK) == 0 ||
	       access(newp, F_OK) == 0;
}

void send_msg_left(const char *qdir, struct send_msg *m)
{
	m->gone = 1;
	if (m->st.file && !msg_queued(qdir, m->q.qid))
		msg_gone(qdir, m);
}

/* The common case costs no state file and no fsync: the removal of
 * new/<id> is the record of "done" (QUEUE.md, relay-send's states).
 * Should it not be durable (power loss before the directory reaches
 * the disk), the message comes back and is delivered again: a
 * duplicate, never a loss. */
int send_msg_done(const char *qdir, struct send_msg *m, const char *lines,
		  size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/new/%s", qdir, m->q.qid);
	if (msg_retire(qdir, m, path) < 0) {
		/* held (hold/<id>) or unlinkable: the results must be on
		 * disk for whoever finds the message next */
		if (errno != ENOENT && errno != EBUSY)
			log_warn("%s: unlink: %s", m->q.qid, strerror(errno));
		return send_msg_record(qdir, m, lines, len);
	}
	msg_apply(m, lines, len);
	msg_gone(qdir, m);
	return 0;
}

int send_msg_remove(const char *qdir, struct send_msg *m)
{
	char path[PATH_MAX];

	/* new/ first: a crash in between leaves an orphan state file
	 * (swept at start), never a message without its state; one still
	 * in new/ (kept, or its unlink failed) keeps its state, and stays in
	 * memory (-1): its results may be there only */
	snprintf(path, sizeof path, "%s/new/%s", qdir, m->q.qid);
	if (msg_retire(qdir, m, path) == 0) {
		msg_gone(qdir, m);
		return 0;
	}
	if (errno == ENOENT) {
		send_msg_left(qdir, m); /* moved by relayctl meanwhile */
		return 0;
	}
	if (errno != EBUSY)
		log_warn("%s: unlink: %s", m->q.qid, strerror(errno));
	return -1;
}

/* Remove state files whose message is neither in new/ nor in hold/:
 * left by a crash between the two unlinks of send_msg_remove, or
 * results appended just after a relayctl queue delete.  The others are
 * the state files send_stfile knows of at start. */
void send_msg_sweep(const char *qdir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof path, "%s/state", qdir);
	if (!(d = opendir(path)))
		return; /* send_stfile_may stays 1 for every message */
	while ((errno = 0, de = readdir(d))) {
		notify_beat(); /* at start, after the ready byte */
		if (!qfile_id_ok(de->d_name))
			continue;
		if (msg_queued(qdir, de->d_name)) {
			send_stfile_add(de->d_name);
			continue;
		}
		snprintf(path, sizeof path, "%s/state/%s", qdir, de->d_name);
		if (unlink(path) == 0)
			log_info("%s: removed orphan state file", de->d_name);
		else
			send_stfile_add(de->d_name);
	}
	if (errno == 0)
		send_stfile_listed();
	closedir(d);
}
