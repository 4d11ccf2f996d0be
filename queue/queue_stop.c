/* queue_stop.c: relay-queue's stop.  SIGTERM (relay-master's stop, and
 * the parent-death signal it sets) used to end the daemon where it
 * stood, and with it the abuse evidence of up to the last second:
 * abuse/accounts and abuse/suspended are written at most once a second
 * (queue_abuse_tick), so an alert or a suspension just logged could be
 * gone after the restart.  The main loop now sees the request, counts
 * the signals relay-send had already sent (queue_listen.c: they are in
 * the socket, and relay-send counts them as given), writes those files
 * and only then dies of the same signal, which relay-master logs as
 * before.  Messages need none of this: a 250 is on disk first.
 *
 * Only the main thread takes SIGTERM.  The other threads block it from
 * their start (they inherit the mask), so none of their system calls
 * is ever cut short by the handler. */
#include "queue.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* seconds a main loop held up elsewhere may take before SIGALRM's
 * default action ends the daemon anyway (relay-master waits 5) */
#define QUEUE_STOP_GRACE 4

static volatile sig_atomic_t stop_asked;

static void stop_on_term(int sig)
{
	(void)sig;
	stop_asked = 1;
	alarm(QUEUE_STOP_GRACE);
}

static void stop_mask(int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	pthread_sigmask(how, &s, NULL);
}

void queue_stop_block(void)
{
	stop_mask(SIG_BLOCK);
}

void queue_stop_arm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stop_on_term;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	stop_mask(SIG_UNBLOCK);
}

int queue_stop_asked(void)
{
	return stop_asked != 0;
}

void queue_stop_now(void)
{
	queue_abuse_stop();
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
}
