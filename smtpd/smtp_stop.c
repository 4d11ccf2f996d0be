/* smtp_stop.c: SIGTERM cuts every session (see smtp_stop.h). */
#include "smtp_stop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* The sessions' sockets by number: the handler shuts down what is set.
 * Sized by the hard descriptor limit (a worker raises its soft one to
 * it); calloc'd, so only the pages of the numbers used are touched.  A
 * socket past it (no table: out of memory) is not woken, but its next
 * read still fails. */
#define STOP_FDS_MAX (1 << 20)

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t *watched;
static size_t watched_cap;
static volatile sig_atomic_t watched_top = -1; /* highest number set */
static void (*stop_also)(void);

static void on_stop(int sig)
{
	int e = errno;

	(void)sig;
	stopping = 1;
	if (stop_also)
		stop_also();
	for (int fd = 0; fd <= watched_top; fd++)
		if (watched[fd])
			shutdown(fd, SHUT_RD); /* a waiting read sees the end */
	errno = e;
}

void smtp_stop_init(void (*also)(void))
{
	struct rlimit rl;
	struct sigaction sa;

	watched_cap = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		watched_cap = rl.rlim_max == RLIM_INFINITY ||
			      rl.rlim_max > STOP_FDS_MAX ? STOP_FDS_MAX
							 : (size_t)rl.rlim_max;
	watched = calloc(watched_cap, sizeof *watched);
	if (!watched)
		watched_cap = 0;
	stop_also = also;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGHUP); /* a pool worker's other handler */
	sigaction(SIGTERM, &sa, NULL);
}

void smtp_stop_watch(int fd)
{
	if (fd < 0 || (size_t)fd >= watched_cap)
		return;
	watched[fd] = 1;
	if (fd > watched_top)
		watched_top = fd;
	if (stopping) /* came between accept and here */
		shutdown(fd, SHUT_RD);
}

void smtp_stop_forget(int fd)
{
	if (fd >= 0 && (size_t)fd < watched_cap)
		watched[fd] = 0;
}

int smtp_stop_requested(void)
{
	return stopping;
}
