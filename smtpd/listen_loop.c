/* listen_loop.c: the accept loop (see listen_loop.h). */
#include "listen_loop.h"
#include "listen_caps.h"
#include "listen_pool.h"
#include "listen_spawn.h"
#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "settings.h"
#include "stopsig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The loop's state: the caps and, unless smtpd_workers_min = 0 (one
 * relay-smtpd per connection), the worker pool. */
struct listen_state {
	struct listen_caps caps;
	struct listen_pool pool;
	int pooled;
	/* no worker is idle and none may start (they died at start): we
	 * accept and refuse, so that clients hear a 421 instead of waiting */
	int stand_in;
};

static int sigpipe_w = -1;
static volatile sig_atomic_t got_term;
/* STOPSIG_RELAY: the whole relay stops, the sessions end too */
static volatile sig_atomic_t got_stop_all;

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGTERM || sig == SIGINT || sig == STOPSIG_RELAY)
		got_term = 1;
	if (sig == STOPSIG_RELAY)
		got_stop_all = 1;
	if (write(sigpipe_w, "x", 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = e;
}

static int signals_init(void)
{
	struct sigaction sa;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		log_fatalx(EXIT_TEMP, "pipe");
	sigpipe_w = p[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(STOPSIG_RELAY, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return p[0];
}

/* A dead worker's session slot goes with it (kill -9 mid-session). */
static void reap(struct listen_state *ls)
{
	pid_t pid;
	int st, busy, worker;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		busy = listen_caps_release(&ls->caps, pid);
		worker = ls->pooled &&
			 listen_pool_reaped(&ls->pool, pid, time(NULL));
		if (!busy && !worker)
			log_warn("reaped unknown child %ld", (long)pid);
	}
}

/* The whole relay stops (STOPSIG_RELAY): relay-master stops relay-queue
 * and relay-policy at the same moment, so an open session could no
 * longer end well (only 4xx), and a relay-smtpd left running would
 * outlive the relay unseen.  Every child (pool worker or per-connection
 * relay-smtpd) gets SIGTERM, on which it tells its clients 421 and ends
 * its sessions (nothing in them was acknowledged: the clients send
 * again); those not gone within LISTEN_STOP_WAIT_MS get SIGKILL, well
 * inside relay-master's 5 s. */
#define LISTEN_STOP_WAIT_MS 2000

static size_t children_left(const struct listen_state *st)
{
	return st->caps.n + (st->pooled ? st->pool.n : 0);
}

static void children_signal(const struct listen_state *st, int sig)
{
	for (size_t i = 0; i < st->caps.n; i++)
		kill(st->caps.conn[i].pid, sig);
	for (size_t i = 0; st->pooled && i < st->pool.n; i++)
		kill(st->pool.w[i].pid, sig);
}

/* Reap for up to ms milliseconds, until no child is left. */
static void children_wait(struct listen_state *st, int ms)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	for (int waited = 0; children_left(st) && waited < ms; waited += 20) {
		nanosleep(&nap, NULL);
		reap(st);
	}
}

static void children_end(struct listen_state *st)
{
	size_t n = children_left(st);

	if (!n)
		return;
	log_info("stopping with the relay: ending %zu relay-smtpd", n);
	if (st->pooled)
		listen_pool_retire_all(&st->pool);
	children_signal(st, SIGTERM);
	children_wait(st, LISTEN_STOP_WAIT_MS);
	if (!children_left(st))
		return;
	log_warn("stopping: %zu relay-smtpd did not end: SIGKILL",
		 children_left(st));
	children_signal(st, SIGKILL);
	children_wait(st, LISTEN_STOP_WAIT_MS);
}

/* Serve (one relay-smtpd per connection) or refuse one accepted
 * connection; fd is closed here.  Pool workers accept by themselves: a
 * pooled relay-listen accepts only while none can (stand_in), to refuse. */
static void serve(struct listen_state *st, int fd,
		  const struct sockaddr_storage *ss, const struct listen_sock *ls)
{
	struct listen_caps *caps = &st->caps;
	struct listen_peer p;
	struct ipaddr ip;
	enum listen_caps_verdict v;
	pid_t pid;

	listen_sock_peer(fd, ss, ls, &p);
	if (st->pooled) {
		log_warn("refused %s port=%s: no smtpd worker can start",
			 p.ip, p.localport);
		listen_sock_refuse(fd, "4.3.0", "Service temporarily unavailable");
		close(fd);
		return;
	}
	if (ipaddr_parse(p.ip, &ip) < 0)
		memset(&ip, 0, sizeof ip);
	v = listen_caps_check(caps, &ip);
	if (v != LISTEN_CAPS_OK) {
		log_info("refused %s port=%s: %s (%zu open)", p.ip, p.localport,
			 v == LISTEN_CAPS_GLOBAL ? "conn_max" : "conn_per_ip",
			 caps->n);
		listen_sock_refuse(fd, "4.7.0", "Too many connections, try again later");
	} else if ((pid = listen_spawn(fd, &p)) < 0) {
		listen_sock_refuse(fd, "4.3.0", "Service temporarily unavailable");
	} else {
		listen_caps_add(caps, &ip, pid);
		log_info("connect %s:%s to %s pid=%ld (%zu open, %zu from ip)",
			 p.ip, p.port, ls->name, (long)pid, caps->n,
			 listen_caps_count(caps, &ip));
	}
	close(fd);
}

/* Accept what is waiting on one listener (bounded per round). */
static void accept_some(struct listen_state *st, const struct listen_sock *ls)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s: %s", ls->name, strerror(errno));
			return;
		}
		serve(st, fd, &ss, ls);
	}
}

/* The workers whose control socket is readable (pf[0..n) are the
 * workers' entries, idx their index): wake-up bytes, or gone. */
static void pool_input(struct listen_state *st, const struct pollfd *pf,
		       const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
			listen_pool_input(&st->pool, idx[i]);
}

/* Build the poll set: the signal pipe, the listeners (when there is no
 * pool: pool workers accept by themselves), then the workers' control
 * sockets; returns how many.  *pf and *idx grow as needed. */
static size_t poll_set(struct listen_state *st, struct listen_sock *socks,
		       size_t n, int sigfd, struct pollfd **pf, size_t **idx,
		       size_t *cap)
{
	size_t k = 0, want = n + 1 + st->pool.n;

	if (want > *cap) {
		struct pollfd *np = realloc(*pf, want * sizeof **pf);
		size_t *ni = np ? realloc(*idx, want * sizeof **idx) : NULL;
		if (np)
			*pf = np;
		if (!np || !ni)
			log_fatal(EXIT_TEMP, "out of memory");
		*idx = ni;
		*cap = want;
	}
	(*pf)[k].fd = sigfd;
	(*pf)[k++].events = POLLIN;
	for (size_t i = 0; i < n; i++) {
		(*pf)[k].fd = st->pooled && !st->stand_in ? -1 : socks[i].fd;
		(*pf)[k++].events = POLLIN;
	}
	for (size_t i = 0; i < st->pool.n; i++)
		if (st->pool.w[i].fd >= 0) {
			(*idx)[k] = i;
			(*pf)[k].fd = st->pool.w[i].fd;
			(*pf)[k++].events = POLLIN;
		}
	return k;
}

int listen_loop_run(struct listen_sock *socks, size_t n)
{
	static struct listen_state st;
	struct pollfd *pf = NULL;
	size_t *idx = NULL, cap = 0, k;
	char drain[64];
	int sigfd;

	st.pooled = cf.smtpd_workers_min > 0;
	if (listen_caps_init(&st.caps, (size_t)cf.conn_max, (size_t)cf.conn_per_ip,
			     (int)cf.conn_per_ip_prefix6) < 0 ||
	    (st.pooled && listen_pool_init(&st.pool, socks, n) < 0))
		log_fatal(EXIT_TEMP, "out of memory");
	sigfd = signals_init();
	while (!got_term) {
		time_t now = time(NULL);
		notify_beat();
		if (st.pooled) {
			listen_pool_trim(&st.pool, now);
			listen_pool_fill(&st.pool, now);
		}
		st.stand_in = st.pooled && now < st.pool.hold_until &&
			      listen_pool_idle(&st.pool) == 0;
		k = poll_set(&st, socks, n, sigfd, &pf, &idx, &cap);
		/* the pool's trim and fill, and the beat, at least as often */
		if (poll(pf, k, NOTIFY_BEAT_MS) < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "poll");
		pool_input(&st, pf + n + 1, idx + n + 1, k - n - 1);
		/* a child's exit always comes with a SIGCHLD, which writes to
		 * the pipe: no waitpid (a system call) on other wake-ups */
		if (pf[0].revents & POLLIN) {
			while (read(sigfd, drain, sizeof drain) > 0)
				;
			reap(&st);
		}
		for (size_t i = 0; i < n && !got_term && (!st.pooled || st.stand_in); i++)
			if (pf[i + 1].revents & POLLIN)
				accept_some(&st, &socks[i]);
	}
	for (size_t i = 0; i < n; i++)
		close(socks[i].fd);
	if (got_stop_all)
		children_end(&st);
	if (st.pooled)
		listen_pool_free(&st.pool);
	if (!got_stop_all)
		log_info("stopping: sessions left finish on their own");
	listen_caps_free(&st.caps);
	free(pf);
	free(idx);
	return EXIT_DONE;
}
