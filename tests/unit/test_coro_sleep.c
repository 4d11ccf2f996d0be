// links:
/* test_coro_sleep.c: a coroutine's sleep lets the others run and ends
 * on time; a coroutine's connect to a unix listener whose backlog is
 * full (usock_connect_for) waits without holding up the others, gets
 * through once the listener accepts, and gives up at its timeout;
 * outside a coroutine it blocks as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coro.h"
#include "t.h"
#include "usock.h"

static int ticks;       /* the ticker's turns */
static int ticking;     /* the ticker goes on while set */

static void ticker(void *arg)
{
	(void)arg;
	while (ticking) {
		ticks++;
		coro_sleep(5);
	}
}

static long slept_ms;
static int ticks_during;

static void sleeper(void *arg)
{
	long t0 = coro_now_ms();
	int before = ticks;

	coro_sleep(*(int *)arg);
	slept_ms = coro_now_ms() - t0;
	ticks_during = ticks - before;
	ticking = 0;
}

static void run_all(void)
{
	for (int i = 0; i < 1000 && coro_count() > 0; i++)
		coro_sched_run(-1, NULL, 0);
}

static void test_sleep(void)
{
	int ms = 60;

	ticking = 1;
	coro_spawn(ticker, NULL, NULL, CORO_STACK_DEFAULT);
	coro_spawn(sleeper, &ms, NULL, CORO_STACK_DEFAULT);
	run_all();
	T_CHECK("sleep lasts its time", slept_ms >= 60 && slept_ms < 1000);
	T_CHECK("others run meanwhile", ticks_during >= 2);
	T_CHECK("outside a coroutine: a plain sleep", coro_sleep(1) == 0);
}

static char path[108];
static int lfd = -1;
static int pending[16];
static int npending;

/* A listener that never accepts, its backlog filled. */
static void listener_full(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(path, sizeof path, "/tmp/test_coro_sleep.%d", (int)getpid());
	unlink(path);
	strcpy(sun.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    listen(lfd, 0) < 0)
		abort();
	for (npending = 0; npending < 16; npending++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			T_CHECK("backlog full: EAGAIN", errno == EAGAIN);
			close(fd);
			break;
		}
		pending[npending] = fd;
	}
}

static int conn_fd, conn_errno;
static long conn_ms;

static void connecter(void *arg)
{
	long t0 = coro_now_ms();

	conn_fd = usock_connect_for(path, *(int *)arg);
	conn_errno = errno;
	conn_ms = coro_now_ms() - t0;
	ticking = 0;
}

/* After 100 ms, the listener takes one: room for the waiting connect. */
static void acceptor(void *arg)
{
	(void)arg;
	coro_sleep(100);
	close(accept(lfd, NULL, NULL));
}

static void test_connect_full(void)
{
	int t = 300;

	listener_full();
	ticks = 0;
	ticking = 1;
	coro_spawn(ticker, NULL, NULL, CORO_STACK_DEFAULT);
	coro_spawn(connecter, &t, NULL, CORO_STACK_DEFAULT);
	run_all();
	T_CHECK("full backlog: gives up", conn_fd < 0 && conn_errno == ETIMEDOUT);
	T_CHECK("at its timeout", conn_ms >= 300 && conn_ms < 1500);
	T_CHECK("others run while it waits", ticks >= 5);

	t = 2000;
	ticks = 0;
	ticking = 1;
	coro_spawn(ticker, NULL, NULL, CORO_STACK_DEFAULT);
	coro_spawn(connecter, &t, NULL, CORO_STACK_DEFAULT);
	coro_spawn(acceptor, NULL, NULL, CORO_STACK_DEFAULT);
	run_all();
	T_CHECK("room comes: connected", conn_fd >= 0);
	T_CHECK("soon after", conn_ms >= 90 && conn_ms < 1500);
	T_CHECK("non-blocking in a coroutine",
		conn_fd >= 0 && (fcntl(conn_fd, F_GETFL) & O_NONBLOCK));
	close(conn_fd);

	close(accept(lfd, NULL, NULL)); /* room for one */
	conn_fd = usock_connect_for(path, 300);
	T_CHECK("outside a coroutine: a blocking socket",
		conn_fd >= 0 && !(fcntl(conn_fd, F_GETFL) & O_NONBLOCK));
	close(conn_fd);
	while (npending > 0)
		close(pending[--npending]);
	close(lfd);
	unlink(path);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (coro_sched_init() < 0)
		abort();
	test_sleep();
	test_connect_full();
	return t_done();
}
