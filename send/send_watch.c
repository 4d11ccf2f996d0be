/* send_watch.c: incremental pickup of new/.  An inotify watch on new/
 * names each message as relay-queue links or renames it in, so a wake-up
 * loads just those instead of reading the whole directory (which made a
 * burst of n messages cost O(n^2)).  It also names messages that left
 * (held, deleted).  When the kernel's event queue overflows, or inotify
 * is not available, the caller falls back to a full scan; the scan every
 * 30 seconds stays, so a lost event only delays. */
#include "send.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_IN (IN_CREATE | IN_MOVED_TO)
#define WATCH_OUT (IN_DELETE | IN_MOVED_FROM)

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

/* One event: load a new name, mark a known one that left as gone. */
static void watch_event(struct send_msgs *ms, const char *qdir,
			const struct inotify_event *ev)
{
	struct send_msg *m;

	if (!ev->len || !send_msg_name_ok(ev->name))
		return;
	m = send_msg_find(ms, ev->name);
	if (ev->mask & WATCH_IN) {
		if (!m && (m = send_msg_load(qdir, ev->name))) {
			m->picked = send_now();
			send_msg_add(ms, m);
		} else if (m && m->gone) {
			m->gone = 0; /* back (released) before it was dropped */
			send_ready_set(ms, m, 0);
		}
	} else if (m && !m->gone) {
		m->gone = 1; /* our own unlinks come here already gone */
		send_ready_set(ms, m, 0);
	}
}

int send_watch_read(int fd, struct send_msgs *ms, const char *qdir)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int rescan = 0;
	ssize_t n;

	/* another read only when this one may have stopped for want of
	 * room (poll is level-triggered: what is left wakes us again) */
	do {
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED))
				rescan = 1;
			else
				watch_event(ms, qdir, ev);
			p += sizeof *ev + ev->len;
		}
	} while ((size_t)n > sizeof buf - sizeof(struct inotify_event) - NAME_MAX - 1);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		rescan = 1;
	return rescan ? -1 : 0;
}
