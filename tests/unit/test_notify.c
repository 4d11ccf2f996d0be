/* test_notify.c: the daemon's side of the readiness pipe (lib/notify.h):
 * the descriptor is taken from the environment and the name dropped,
 * kept from exec'd programs and from forked children, never blocks on a
 * full pipe (relay-master behind) and is given up, without a signal,
 * once relay-master has gone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "t.h"

static int p[2];

/* Bytes waiting in the pipe's read end (non-blocking). */
static int pending(void)
{
	char buf[256];
	ssize_t got;
	int n = 0;

	while ((got = read(p[0], buf, sizeof buf)) > 0)
		n += (int)got;
	return n;
}

static void past_beat_interval(void)
{
	struct timespec ts = { NOTIFY_BEAT_MS / 1000,
			       (NOTIFY_BEAT_MS % 1000) * 1000000L + 50000000L };

	nanosleep(&ts, NULL);
}

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_take(void)
{
	char num[16];

	snprintf(num, sizeof num, "%d", p[1]);
	setenv(NOTIFY_ENV, num, 1);
	notify_keep_private();
	T_CHECK("the name is dropped from the environment",
		getenv(NOTIFY_ENV) == NULL);
	T_CHECK("close-on-exec", fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	T_CHECK("non-blocking", fcntl(p[1], F_GETFL) & O_NONBLOCK);
	notify_beat();
	T_CHECK("no beat before the ready byte", pending() == 0);
	notify_ready();
	notify_ready();
	T_CHECK("one ready byte", pending() == 1);
	notify_beat();
	T_CHECK("no second byte within NOTIFY_BEAT_MS", pending() == 0);
	past_beat_interval();
	notify_beat();
	T_CHECK("a beat once NOTIFY_BEAT_MS passed", pending() == 1);
}

static void test_forked_child(void)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fd_open(p[1]) ? 1 : 0);
	T_CHECK("a forked child does not hold the pipe",
		pid > 0 && waitpid(pid, &status, 0) == pid &&
		WIFEXITED(status) && WEXITSTATUS(status) == 0);
	T_CHECK("the daemon still does", fd_open(p[1]));
}

static volatile sig_atomic_t rang;

static void on_alarm(int sig)
{
	(void)sig;
	rang = 1;
}

static void test_full_pipe(void)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	char buf[4096] = { 0 };

	sigaction(SIGALRM, &sa, NULL);
	/* a write that blocks (the pipe left blocking) is cut by the alarm */
	alarm(5);
	while (!rang && write(p[1], buf, sizeof buf) > 0)
		;
	alarm(0);
	T_CHECK("the pipe fills without blocking", !rang);
	past_beat_interval();
	/* a beat that blocks would retry after EINTR: the alarm kills */
	signal(SIGALRM, SIG_DFL);
	alarm(3);
	notify_beat();
	alarm(0);
	T_CHECK("a full pipe: the beat returns", 1);
	T_CHECK("a full pipe: the descriptor is kept", fd_open(p[1]));
	pending();
}

static void test_reader_gone(void)
{
	signal(SIGPIPE, SIG_IGN); /* as every daemon before it beats */
	close(p[0]);
	past_beat_interval();
	notify_beat();
	T_CHECK("relay-master gone: the descriptor is given up",
		!fd_open(p[1]) && errno == EBADF);
	past_beat_interval();
	notify_beat(); /* nothing left to write to: no crash */
	T_CHECK("relay-master gone: later beats do nothing", 1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* lines kept if an alarm kills */
	/* the write end stays blocking: notify_keep_private must make it not */
	if (pipe(p) < 0 || p[1] < 3 ||
	    fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		return 1;
	test_take();
	test_forked_child();
	test_full_pipe();
	test_reader_gone();
	return t_done();
}
