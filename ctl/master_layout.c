/* master_layout.c: the instance's directories, created when missing and
 * given their owners and modes on every start (ARCHITECTURE.md "Instance
 * layout" is the contract).  Owners are set only when running as root:
 * a developer's unprivileged instance belongs to the developer. */
#include "master.h"
#include "dkimkey.h"
#include "privs.h"
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

/* Why these modes: relay-queue (user_queue) is the only writer of tmp/
 * and new/; relay-send (user_send, in group_queue) reads new/, moves
 * finished messages from it into pool/ (for reuse) or removes them, and
 * owns state/; relayctl runs as root.
 * run/ is sticky and world-writable because each daemon creates its own
 * socket there after dropping root, and may replace only its own. */
static const struct layout_entry layout[] = {
	{ &cf.run_dir, "", LAYOUT_DIR, 01777, 0755, NULL, NULL },
	{ &cf.secrets_dir, "", LAYOUT_DIR, 0700, 0700, &cf.user_remote, NULL },
	/* DKIM keys: relay-queue signs, and nobody else reads them */
	{ &cf.dir, DKIMKEY_DIR, LAYOUT_DIR, 0700, 0700, &cf.user_queue, NULL },
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
	/* the counters file is created empty for relay-policy, which cannot
	 * create files in a root-owned DIR; relay-policy sizes it itself */
	{ &cf.counters_file, "", LAYOUT_FILE, 0640, 0, &cf.user_policy, NULL },
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

static int layout_make(const char *path, const struct layout_entry *e,
		       mode_t mode)
{
	int fd;

	switch (e->kind) {
	case LAYOUT_DIR:
		return mkdir(path, mode);
	case LAYOUT_FIFO:
		return mkfifo(path, mode);
	case LAYOUT_FILE:
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		return fd < 0 ? -1 : close(fd);
	}
	return -1;
}

static void layout_one(const struct layout_entry *e, int root)
{
	char path[PATH_MAX];
	mode_t mode = root ? e->mode : e->mode_user;
	uid_t uid;
	gid_t gid;

	if (e->kind == LAYOUT_FILE && !root)
		return;
	if ((size_t)snprintf(path, sizeof path, "%s%s%s", *e->base,
			     *e->sub ? "/" : "", e->sub) >= sizeof path)
		master_fatal(0, "path too long: %s", *e->base);
	if (layout_make(path, e, mode) < 0 && errno != EEXIST)
		master_fatal(1, "create %s", path);
	if (root) {
		layout_owner(e, &uid, &gid);
		if (chown(path, uid, gid) < 0)
			master_fatal(1, "chown %s", path);
	}
	if (chmod(path, mode) < 0)
		master_fatal(1, "chmod %s", path);
}

void master_layout_create(void)
{
	int root = privs_is_root();
	size_t i;

	for (i = 0; i < sizeof layout / sizeof layout[0]; i++)
		layout_one(&layout[i], root);
}
