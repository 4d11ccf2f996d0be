/* notify.c: readiness notification (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

void notify_keep_private(void)
{
	int fd = notify_fd_of_env();

	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void notify_ready(void)
{
	int fd = notify_fd_of_env();
	ssize_t n;

	if (fd < 0)
		return;
	unsetenv(NOTIFY_ENV);
	do
		n = write(fd, "\n", 1);
	while (n < 0 && errno == EINTR);
	close(fd);
}
