/* master_layout.c: the instance's directories, created when missing and
 * given their owners and modes on every start (ARCHITECTURE.md "Instance
 * layout" is the contract).  Owners are set only when running as root:
 * a developer's unprivileged instance belongs to the developer.
 *
 * Root works here in folders that other uids can write (queue/ belongs
 * to relayqueue), so it never goes by name past the folder it opened:
 * each entry is made with mkdirat/mkfifoat/openat(O_EXCL) in its parent,
 * opened with O_NOFOLLOW, checked with fstat (type, owner, one link) and
 * only then given its owner and mode with fchown/fchmod on what was
 * opened.  An entry that is not what it should be (a symbolic link, a
 * file where a folder belongs, another uid's file) stops the start with
 * a fatal line: a tampered queue is not something to run on. */
#include "master.h"
#include "abuse.h"
#include "dirfile.h"
#include "dkimkey.h"
#include "metrics.h"
#include "sts.h"
#include "tlsrpt.h"
#include "privs.h"
#include "rate_stats.h"
#include "sendlock.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum layout_kind { LAYOUT_DIR, LAYOUT_FIFO, LAYOUT_FILE };

struct layout_entry {
	char **base;            /* a path setting, e.g. &cf.queue_dir */
	const char *sub;        /* under it, or "" */
	enum layout_kind kind;
	mode_t mode;            /* when root */
	mode_t mode_user;       /* when not root */
	char **owner;           /* NULL = root */
	char **group;           /* NULL = the owner's primary group */
};

#define MLAYOUT(who, user)                                                 \
	{ &cf.dir, METRICS_DIR "/" who, LAYOUT_FILE, 0640, 0, &cf.user,    \
	  &cf.user_metrics }

/* Why these modes: relay-queue (user_queue) is the only writer of tmp/
 * and new/; relay-send (user_send, in group_queue) reads new/, moves
 * finished messages from it into pool/ (for reuse) or removes them, and
 * owns state/; relayctl drops to those uids for its queue commands.
 * run/ belongs to root and only root writes there: each daemon binds its
 * socket before it drops root (lib/runsock.h), and relay-master's own
 * files must not be replaceable by anyone else (master_run.c).
 * Parents come before their children. */
static const struct layout_entry layout[] = {
	{ &cf.run_dir, "", LAYOUT_DIR, 0755, 0755, NULL, NULL },
	{ &cf.secrets_dir, "", LAYOUT_DIR, 0700, 0700, &cf.user_remote, NULL },
	/* DKIM keys: relay-queue signs, and nobody else reads them */
	{ &cf.dir, DKIMKEY_DIR, LAYOUT_DIR, 0700, 0700, &cf.user_queue, NULL },
	/* archive copies to maildirs (lib/archive.h): relay-queue writes
	 * one folder per customer; the operator reads them as root */
	{ &cf.archive_dir, "", LAYOUT_DIR, 0700, 0700, &cf.user_queue, NULL },
	/* abuse monitoring (lib/abuse.h): relay-queue writes the state and
	 * the suspensions, relay-policy and relayctl read them */
	{ &cf.dir, ABUSE_DIR, LAYOUT_DIR, 0755, 0755, &cf.user_queue, NULL },
	/* MTA-STS policies: relay-remote's workers cache what they fetch */
	{ &cf.dir, STS_CACHE_DIR, LAYOUT_DIR, 0700, 0700, &cf.user_remote,
	  NULL },
	/* TLS-RPT records: relay-send keeps and reports them */
	{ &cf.dir, TLSRPT_DIR, LAYOUT_DIR, 0700, 0700, &cf.user_send, NULL },
	{ &cf.queue_dir, "", LAYOUT_DIR, 0750, 0755, &cf.user_queue,
	  &cf.group_queue },
	{ &cf.queue_dir, "tmp", LAYOUT_DIR, 0700, 0700, &cf.user_queue, NULL },
	{ &cf.queue_dir, "new", LAYOUT_DIR, 0770, 0755, &cf.user_queue,
	  &cf.group_queue },
	{ &cf.queue_dir, "state", LAYOUT_DIR, 0750, 0755, &cf.user_send,
	  &cf.group_queue },
	{ &cf.queue_dir, "hold", LAYOUT_DIR, 0770, 0755, &cf.user_queue,
	  &cf.group_queue },
	{ &cf.queue_dir, "pool", LAYOUT_DIR, 0770, 0755, &cf.user_queue,
	  &cf.group_queue },
	{ &cf.queue_dir, "trigger", LAYOUT_FIFO, 0660, 0600, &cf.user_queue,
	  &cf.group_queue },
	/* relay-send's lock on the queue (lib/sendlock.h): it cannot create
	 * files in queue/ (relay-queue's); unprivileged, it makes it */
	{ &cf.queue_dir, SENDLOCK_NAME, LAYOUT_FILE, 0640, 0, &cf.user_send,
	  NULL },
	/* the rate counters (lib/rate_stats.h): relay-policy's folder, where
	 * it creates, sets aside and grows the file after dropping root;
	 * setgid, so what it makes there is relay-metrics' to read */
	{ &cf.dir, RATE_DIR, LAYOUT_DIR, 02750, 0755, &cf.user_policy,
	  &cf.user_metrics },
	/* each publisher's metrics area (lib/metrics.h), created for it as
	 * for the counters; the group of user_metrics (a user group of the
	 * same name, conf/mkusers.sh) reads, relay-metrics never writes */
	{ &cf.dir, METRICS_DIR, LAYOUT_DIR, 0755, 0755, NULL, NULL },
	MLAYOUT(METRICS_SMTPD, user_smtpd), MLAYOUT(METRICS_POLICY, user_policy),
	MLAYOUT(METRICS_QUEUE, user_queue), MLAYOUT(METRICS_SEND, user_send),
	MLAYOUT(METRICS_REMOTE, user_remote),
};

static void layout_owner(const struct layout_entry *e, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	struct group *gr;

	*uid = 0;
	*gid = 0;
	if (e->owner) {
		pw = getpwnam(*e->owner);
		if (!pw)
			master_fatal(0, "no such user %s (run conf/mkusers.sh)",
				  *e->owner);
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (e->group) {
		gr = getgrnam(*e->group);
		if (!gr)
			master_fatal(0, "no such group %s (run conf/mkusers.sh)",
				  *e->group);
		*gid = gr->gr_gid;
	}
}

/* Create name in the folder dfd when it is missing (EEXIST is fine: what
 * exists is checked after it is opened). */
static void layout_make(int dfd, const char *name, const char *path,
			const struct layout_entry *e, mode_t mode)
{
	int fd, rc = -1;

	switch (e->kind) {
	case LAYOUT_DIR:
		rc = mkdirat(dfd, name, mode);
		break;
	case LAYOUT_FIFO:
		rc = mkfifoat(dfd, name, mode);
		break;
	case LAYOUT_FILE:
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC, mode);
		rc = fd < 0 ? -1 : close(fd);
		break;
	}
	if (rc < 0 && errno != EEXIST)
		master_fatal(1, "create %s", path);
}

/* Open what is there without following a link and without blocking on
 * a FIFO; then check it is the kind of thing the entry names. */
static int layout_open(int dfd, const char *name, const char *path,
		       const struct layout_entry *e, struct stat *st)
{
	static const char *const what[] = { "a folder", "a FIFO", "a file" };
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd, ok;

	if (e->kind == LAYOUT_DIR)
		flags |= O_DIRECTORY;
	fd = openat(dfd, name, flags);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		master_fatal(0, "%s is not %s (a symbolic link?): refused",
			     path, what[e->kind]);
	if (fd < 0 || fstat(fd, st) < 0)
		master_fatal(1, "open %s", path);
	ok = e->kind == LAYOUT_DIR ? S_ISDIR(st->st_mode) :
	     e->kind == LAYOUT_FIFO ? S_ISFIFO(st->st_mode) :
	     S_ISREG(st->st_mode);
	if (!ok)
		master_fatal(0, "%s is not %s: refused", path, what[e->kind]);
	return fd;
}

/* Root only: what is there must already be the owner's or root's, and a
 * file must have no second name (a hard link to another file would hand
 * that file over). */
static void layout_check_owner(const struct stat *st, const char *path,
			       const struct layout_entry *e, uid_t uid)
{
	char why[128];

	if (dirfile_owner_ok(st, uid, e->owner ? *e->owner : "root", why,
			     sizeof why) < 0)
		master_fatal(0, "%s %s: refused", path, why);
}

/* The folder that holds the entry, and the entry's name in it.  A base
 * path is the operator's: its parent is opened as configured.  A sub
 * entry's parent is the base, which may belong to a daemon's uid: it is
 * opened without following a link, like every entry. */
static int layout_parent(const struct layout_entry *e, char *path, size_t n,
			 const char **name)
{
	char *slash;
	int fd;

	if ((size_t)snprintf(path, n, "%s%s%s", *e->base, *e->sub ? "/" : "",
			     e->sub) >= n)
		master_fatal(0, "path too long: %s", *e->base);
	slash = strrchr(path, '/');
	if (*e->sub) {
		*name = e->sub;
		fd = open(*e->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
	} else if (slash) {
		*name = slash + 1;
		*slash = '\0';
		fd = open(*path ? path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	} else {
		*name = path;
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		master_fatal(1, "open the folder of %s", path);
	return fd;
}

static void layout_one(const struct layout_entry *e, int root)
{
	char path[PATH_MAX];
	const char *name;
	mode_t mode = root ? e->mode : e->mode_user;
	uid_t uid = 0;
	gid_t gid = 0;
	struct stat st;
	int dfd, fd;

	if (e->kind == LAYOUT_FILE && !root)
		return;
	dfd = layout_parent(e, path, sizeof path, &name);
	layout_make(dfd, name, path, e, mode);
	fd = layout_open(dfd, name, path, e, &st);
	close(dfd);
	if (root) {
		layout_owner(e, &uid, &gid);
		layout_check_owner(&st, path, e, uid);
		if (fchown(fd, uid, gid) < 0)
			master_fatal(1, "chown %s", path);
	}
	if (fchmod(fd, mode) < 0)
		master_fatal(1, "chmod %s", path);
	close(fd);
}

/* A counters_file of the operator's, elsewhere than RATE_FILE: created
 * empty for relay-policy, which may not create files in a folder not its
 * own (to set a damaged file aside or grow it, that folder must be
 * user_policy's; relay.conf.sample says so). */
static const struct layout_entry counters_elsewhere = {
	&cf.counters_file, "", LAYOUT_FILE, 0640, 0, &cf.user_policy,
	&cf.user_metrics
};

static int counters_default(char *want, size_t n)
{
	snprintf(want, n, "%s/%s", cf.dir, RATE_FILE);
	return !strcmp(cf.counters_file, want);
}

/* An older relay-master left the counters user_policy's at each start,
 * but an older relay-policy that set a damaged file aside made the new
 * one as root, and an operator may have copied one in: hand it to
 * user_policy (0640, group user_metrics) before the move, as relay-policy
 * now opens it after its drop.  Root reads nothing of it.  -1 (logged):
 * not a file of one name owned by root or user_policy; it stays. */
static int old_counters_hand_over(int dfd, int root)
{
	uid_t uid;
	gid_t gid;
	struct stat st;
	int fd, ok;

	if (!root)
		return 0;
	layout_owner(&counters_elsewhere, &uid, &gid);
	fd = openat(dfd, RATE_OLD_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
	ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     st.st_nlink == 1 && (st.st_uid == 0 || st.st_uid == uid) &&
	     fchown(fd, uid, gid) == 0 && fchmod(fd, 0640) == 0;
	if (!ok)
		master_log("warning", "%s/%s is not a file of root's or %s "
			   "with one name, or cannot be handed over: it is "
			   "left there, unused", cf.dir, RATE_OLD_FILE,
			   cf.user_policy);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Releases before RATE_DIR kept the counters in DIR itself, where
 * relay-policy can neither rename nor replace them: move them into the
 * folder once, by rename only, never over a file there (want:
 * RATE_FILE's path, counters_file's default). */
static void layout_old_counters(const char *want, int root)
{
	struct stat st;
	int dfd, rfd = -1;

	dfd = open(cf.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstatat(dfd, RATE_OLD_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto done;
	if (old_counters_hand_over(dfd, root) < 0)
		goto done;
	rfd = openat(dfd, RATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				   O_CLOEXEC);
	if (rfd >= 0 && renameat2(dfd, RATE_OLD_FILE, rfd, RATE_NAME,
				  RENAME_NOREPLACE) == 0)
		master_log("info", "counters of an older release moved from "
			   "%s/%s to %s", cf.dir, RATE_OLD_FILE, want);
	else
		master_log("warning", "cannot move %s/%s to %s (%s): it is "
			   "left there, unused", cf.dir, RATE_OLD_FILE, want,
			   strerror(errno));
done:
	if (rfd >= 0)
		close(rfd);
	if (dfd >= 0)
		close(dfd);
}

void master_layout_create(void)
{
	char path[PATH_MAX];
	int root = privs_is_root();
	size_t i;

	for (i = 0; i < sizeof layout / sizeof layout[0]; i++)
		layout_one(&layout[i], root);
	if (counters_default(path, sizeof path))
		layout_old_counters(path, root);
	else
		layout_one(&counters_elsewhere, root);
}
