/* send_watch.c: incremental pickup of new/.  An inotify watch on new/
 * names each message as relay-queue links or renames it in, so a wake-up
 * loads just those instead of reading the whole directory (which made a
 * burst of n messages cost O(n^2)).  It also names messages that left
 * (held, deleted).  When the kernel's event queue overflows, or inotify
 * is not available, the caller falls back to a full scan; the scan every
 * 30 seconds stays, so a lost event only delays.
 * The same inotify fd watches rules.cdb's directory and queue/ for the
 * names rules.cdb and flush, so that the loop looks at those two files
 * when they change instead of on every wake-up (a stat each, up to three
 * times per message).  Their events come in order with those of new/: a
 * message named after a new rules.cdb is routed by it. */
#include "send.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_IN (IN_CREATE | IN_MOVED_TO)
#define WATCH_OUT (IN_DELETE | IN_MOVED_FROM)

/* The watches of send_watch_files: a directory and the name in it. */
struct watch_file {
	int wd;                 /* -1: not watched */
	int bit;                /* SEND_WATCH_RULES or SEND_WATCH_FLUSH */
	char name[NAME_MAX + 1];
};
static struct watch_file watch_files[2] = { { -1, SEND_WATCH_RULES, "" },
					    { -1, SEND_WATCH_FLUSH, "" } };

#define WATCH_FILE (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
		    IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR)

/* Watch path's directory for events naming its last component.  A
 * symbolic link (its target may change elsewhere) is not watched. */
static void watch_file_add(int fd, struct watch_file *f, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return;
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 :
			 (int)(slash - path), path);
	snprintf(f->name, sizeof f->name, "%s", slash ? slash + 1 : path);
	if (f->name[0])
		f->wd = inotify_add_watch(fd, dir, WATCH_FILE);
}

int send_watch_files(int fd, const char *rules, const char *qdir)
{
	char path[PATH_MAX];

	if (fd < 0)
		return 0;
	watch_file_add(fd, &watch_files[0], rules);
	snprintf(path, sizeof path, "%s/flush", qdir);
	watch_file_add(fd, &watch_files[1], path);
	return send_watch_watching();
}

int send_watch_watching(void)
{
	int mask = 0;

	for (size_t i = 0; i < sizeof watch_files / sizeof watch_files[0]; i++)
		if (watch_files[i].wd >= 0)
			mask |= watch_files[i].bit;
	return mask;
}

/* An event of a file watch: its bit when it names the file; a watch
 * the kernel dropped (its directory went away) is forgotten, and the
 * caller looks at the file on every wake-up again.  -1: not a file
 * watch. */
static int watch_file_event(const struct inotify_event *ev)
{
	int got = -1;

	for (size_t i = 0; i < sizeof watch_files / sizeof watch_files[0]; i++) {
		struct watch_file *f = &watch_files[i];
		if (f->wd < 0 || ev->wd != f->wd)
			continue;
		if (got < 0) /* both may share a directory: look on */
			got = 0;
		if (ev->mask & IN_IGNORED) {
			f->wd = -1;
			got |= f->bit;
		} else if (ev->len && strcmp(ev->name, f->name) == 0) {
			got |= f->bit;
		}
	}
	return got;
}

int send_watch_open(const char *qdir)
{
	char path[PATH_MAX];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(path, sizeof path, "%s/new", qdir);
	if (inotify_add_watch(fd, path, WATCH_IN | WATCH_OUT | IN_ONLYDIR) < 0) {
		log_warn("inotify on %s: %s; scanning instead", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* One event of new/: load a new name, mark a known one that left as
 * gone.  SEND_WATCH_NEW when that changed anything (our own unlinks and
 * renames into pool/ come here already gone: nothing to do). */
static int watch_event(struct send_msgs *ms, const char *qdir,
		       const struct inotify_event *ev)
{
	struct send_msg *m;

	if (!ev->len || !qfile_id_ok(ev->name))
		return 0;
	m = send_msg_find(ms, ev->name);
	if (ev->mask & WATCH_IN) {
		if (!m && (m = send_msg_load(qdir, ev->name, 1))) {
			m->picked = send_now();
			send_msg_add(ms, m);
			return SEND_WATCH_NEW;
		}
		if (m && m->gone) {
			m->gone = 0; /* back (released) before it was dropped */
			send_ready_set(ms, m, 0);
			return SEND_WATCH_NEW;
		}
	} else if (m && !m->gone) {
		m->gone = 1;
		send_ready_set(ms, m, 0);
		return SEND_WATCH_NEW;
	}
	return 0;
}

int send_watch_read(int fd, struct send_msgs *ms, const char *qdir)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int got = 0;
	ssize_t n;

	/* another read only when this one may have stopped for want of
	 * room (poll is level-triggered: what is left wakes us again) */
	do {
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			int f = watch_file_event(ev);
			if (f >= 0)
				got |= f;
			else if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED))
				got |= SEND_WATCH_LOST;
			else
				got |= watch_event(ms, qdir, ev);
			p += sizeof *ev + ev->len;
		}
	} while ((size_t)n > sizeof buf - sizeof(struct inotify_event) - NAME_MAX - 1);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		got |= SEND_WATCH_LOST;
	return got;
}
