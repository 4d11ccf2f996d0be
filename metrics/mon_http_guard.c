/* mon_http_guard.c: a deadline for a request's headers.  libmicrohttpd's
 * timeout counts from the last byte received, so a client that sends one
 * header byte every few seconds holds a connection slot for ever; with
 * enough of them no scrape gets in (a per-address limit, mon_http.c,
 * does not stop many local addresses).  Here every connection is
 * recorded when it opens and again when a request ends (keep-alive: the
 * next request's headers), marked when its headers are complete, and a
 * thread shuts down, once a second, the sockets still without complete
 * headers MON_HTTP_HEADER_SECONDS later; libmicrohttpd then sees the
 * end of the stream and closes the connection itself.  A slot leaves
 * the table (under the lock) before libmicrohttpd closes its socket, so
 * a shutdown never reaches a descriptor that was reused meanwhile.
 * The same thread logs, in one line a second at most, the requests that
 * libmicrohttpd ended at its own timeout (MON_HTTP_IDLE_SECONDS with
 * nothing moving): past the header deadline that is a client that does
 * not take its answer, which holds a slot until then. */
#include "mon_http.h"
#include "mon_http_guard.h"

#include "log.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct guard_slot {
	int fd;          /* -1: free */
	int waiting;     /* its headers are not complete yet */
	time_t since;    /* monotonic seconds: opened, or last request ended */
};

static struct guard_slot slots[MON_HTTP_CONN_MAX];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_wake = PTHREAD_COND_INITIALIZER;
static pthread_t guard_thread;
static int guard_running, guard_stop;
static unsigned long timed_out; /* requests ended by the timeout, unlogged */

static time_t guard_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void mon_http_guard_notify(void *cls, struct MHD_Connection *c,
			   void **socket_context,
			   enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct guard_slot *s = *socket_context;
	size_t i;

	(void)cls;
	pthread_mutex_lock(&guard_lock);
	if (code == MHD_CONNECTION_NOTIFY_CLOSED && s) {
		s->fd = -1;
		*socket_context = NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_STARTED &&
		   (ci = MHD_get_connection_info(
			    c, MHD_CONNECTION_INFO_CONNECTION_FD))) {
		for (i = 0; i < MON_HTTP_CONN_MAX && slots[i].fd >= 0; i++)
			;
		/* the table is as large as the connection limit */
		if (i < MON_HTTP_CONN_MAX) {
			slots[i] = (struct guard_slot){ ci->connect_fd, 1,
							guard_now() };
			*socket_context = &slots[i];
		}
	}
	pthread_mutex_unlock(&guard_lock);
}

static struct guard_slot *guard_slot_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void mon_http_guard_headers_done(struct MHD_Connection *c)
{
	struct guard_slot *s;

	pthread_mutex_lock(&guard_lock);
	if ((s = guard_slot_of(c)))
		s->waiting = 0;
	pthread_mutex_unlock(&guard_lock);
}

void mon_http_guard_completed(void *cls, struct MHD_Connection *c,
			      void **state,
			      enum MHD_RequestTerminationCode toe)
{
	struct guard_slot *s;

	(void)cls, (void)state;
	pthread_mutex_lock(&guard_lock);
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		timed_out++;
	if ((s = guard_slot_of(c))) {
		s->waiting = 1;
		s->since = guard_now();
	}
	pthread_mutex_unlock(&guard_lock);
}

static void guard_sweep(time_t now)
{
	for (size_t i = 0; i < MON_HTTP_CONN_MAX; i++)
		if (slots[i].fd >= 0 && slots[i].waiting &&
		    now - slots[i].since >= MON_HTTP_HEADER_SECONDS) {
			shutdown(slots[i].fd, SHUT_RDWR);
			slots[i].waiting = 0; /* once */
		}
}

/* The requests the timeout ended since the last line, if any; outside
 * the lock (a write to the log may wait). */
static void guard_log_timed_out(void)
{
	unsigned long n = timed_out;

	if (!n)
		return;
	timed_out = 0;
	pthread_mutex_unlock(&guard_lock);
	log_warn("closed %lu connection%s after %d s with nothing moving: "
		 "a client that does not read its answer", n, n == 1 ? "" : "s",
		 MON_HTTP_IDLE_SECONDS);
	pthread_mutex_lock(&guard_lock);
}

static void *guard_main(void *arg)
{
	struct timespec at;

	(void)arg;
	pthread_mutex_lock(&guard_lock);
	while (!guard_stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += 1;
		pthread_cond_timedwait(&guard_wake, &guard_lock, &at);
		guard_sweep(guard_now());
		guard_log_timed_out(); /* a line a second at most */
	}
	pthread_mutex_unlock(&guard_lock);
	return NULL;
}

int mon_http_guard_start(void)
{
	for (size_t i = 0; i < MON_HTTP_CONN_MAX; i++)
		slots[i].fd = -1;
	guard_stop = 0;
	guard_running = pthread_create(&guard_thread, NULL, guard_main,
				       NULL) == 0;
	return guard_running ? 0 : -1;
}

void mon_http_guard_stop(void)
{
	if (!guard_running)
		return;
	pthread_mutex_lock(&guard_lock);
	guard_stop = 1;
	pthread_cond_signal(&guard_wake);
	pthread_mutex_unlock(&guard_lock);
	pthread_join(guard_thread, NULL);
	guard_running = 0;
}
