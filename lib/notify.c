/* notify.c: readiness and liveness notification (see notify.h). */
#include "notify.h"
#include "monotime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int notify_fd = -1;
static long long notify_last_ms; /* monotonic time of the last byte */
static int notify_said_ready;    /* beats only after the ready byte */

/* The descriptor NOTIFY_ENV names, or -1 (unset or malformed). */
static int notify_fd_of_env(void)
{
	const char *v = getenv(NOTIFY_ENV);
	char *end;
	long fd;

	if (!v)
		return -1;
	fd = strtol(v, &end, 10);
	if (*end || end == v || fd < 3 || fd > 1024)
		return -1;
	return (int)fd;
}

int notify_pass(int fd)
{
	char num[16];

	if (fd != NOTIFY_FD && dup2(fd, NOTIFY_FD) < 0)
		return -1;
	snprintf(num, sizeof num, "%d", NOTIFY_FD);
	return setenv(NOTIFY_ENV, num, 1);
}

/* pthread_atfork's child handler: a forked child (a worker, a password
 * check, relay-smtpd before its exec) never speaks for the daemon, so a
 * stuck main loop is not hidden by a child that still beats. */
static void notify_forget_in_child(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}

void notify_keep_private(void)
{
	int fd = notify_fd_of_env();

	unsetenv(NOTIFY_ENV);
	if (fd < 0 || notify_fd >= 0)
		return;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	notify_fd = fd;
	pthread_atfork(NULL, NULL, notify_forget_in_child);
}

/* One byte; a full pipe is fine, a closed one (no reader) is given up. */
static void notify_write(void)
{
	ssize_t n;

	do
		n = write(notify_fd, "\n", 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN) {
		close(notify_fd);
		notify_fd = -1;
	}
	notify_last_ms = monotime_ms();
}

void notify_ready(void)
{
	if (notify_fd >= 0 && !notify_said_ready)
		notify_write();
	notify_said_ready = 1;
}

void notify_beat(void)
{
	if (notify_fd >= 0 && notify_said_ready &&
	    monotime_ms() - notify_last_ms >= NOTIFY_BEAT_MS)
		notify_write();
}

int notify_wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - monotime_ms();
		int rc;

		if (left <= 0)
			return errno = ETIMEDOUT, -1;
		notify_beat();
		rc = poll(&p, 1, left > NOTIFY_BEAT_MS ? NOTIFY_BEAT_MS
						: (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

int notify_write_fd(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			if (notify_wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}
