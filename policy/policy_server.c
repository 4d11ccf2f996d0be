/* policy_server.c: relay-policy's event loop.  Every connection is one
 * SMTP session; requests are answered in order, one reply frame each.
 * Only a password check runs outside the loop (policy_auth.c), and while
 * it runs that connection's socket is not read (one request, one reply).
 *
 * The sessions' sockets are in an epoll set, each put in once at its
 * accept: a wake-up costs what is ready, not a look at every connection
 * (poll over a few dozen kept connections was a third of relay-policy's
 * CPU per message).  While a password check or the shared rate store is
 * waited for, the loop polls its set as it is built for that moment (the
 * check's pipe instead of the session's socket, the store's socket):
 * rare, and exactly as before. */
#include "policy_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "privs.h"
#include "rate_store.h"
#include "usock.h"

/* one per relay-smtpd session: a worker serving many sessions at once
 * (smtpd_sessions_per_worker) holds one for each */
#define CONN_MAX 16384

static struct policy_conn *conns[CONN_MAX];
static size_t nconn;
static volatile sig_atomic_t stopping;

/* The epoll set: every session's socket (level-triggered: what one read
 * leaves wakes us again, as with poll), the listener and the rule files'
 * watch.  Events of the listener and the watch carry these tags, a
 * session's its conn. */
#define TAG_LISTEN 1
#define TAG_WATCH 2
static int ep = -1;
/* sessions waiting on a password check or the shared store: while there
 * are any, the loop polls (poll_set) */
static size_t nspecial;

/* Count c as waiting (AUTH, store) or not, after anything that may have
 * changed it. */
static void conn_note(struct policy_conn *c)
{
	int special = c->auth.pid || c->store_wait;

	if (special == c->special)
		return;
	c->special = special;
	if (special)
		nspecial++;
	else
		nspecial--;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void conn_free(struct policy_conn *c)
{
	/* out of the set before the close: a password check's child holds
	 * a copy of the fd, which would keep it in */
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->special)
		nspecial--;
	if (c->client_fd >= 0)
		close(c->client_fd);
	policy_auth_cancel(&c->auth);
	/* gone without a reset or a commit: count what it reserved */
	rate_store_txn_drop(c->txn, (long)time(NULL));
	ns_reader_free(&c->rd);
	close(c->fd);
	free(c);
}

static int peer_allowed(const struct policy_srv *srv, int fd, uid_t *uid)
{
	if (usock_peer_uid(fd, uid) < 0)
		return 0;
	for (int i = 0; i < srv->nallow; i++)
		if (srv->allow[i] == *uid)
			return 1;
	log_warn("refused a connection from uid %ld", (long)*uid);
	return 0;
}

static void accept_one(struct policy_srv *srv, int lfd)
{
	struct policy_conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	uid_t uid;

	if (fd < 0)
		return;
	if (nconn == CONN_MAX || !peer_allowed(srv, fd, &uid) ||
	    !(c = calloc(1, sizeof *c))) {
		if (nconn == CONN_MAX)
			log_warn("too many sessions (%d)", CONN_MAX);
		close(fd);
		return;
	}
	c->fd = fd;
	c->auth.fd = -1;
	c->uid = uid;
	c->client_fd = -1;
	c->txn = rate_store_txn_new();
	if (!c->txn || ns_reader_init(&c->rd, fd) < 0) {
		rate_store_txn_free(c->txn);
		close(fd);
		free(c);
		return;
	}
	policy_session_init(&c->s, "");
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){
			      .events = EPOLLIN, .data.ptr = c }) < 0) {
		log_warn("epoll: %s", strerror(errno));
		rate_store_txn_free(c->txn);
		ns_reader_free(&c->rd);
		close(fd);
		free(c);
		return;
	}
	c->idx = nconn;
	conns[nconn++] = c;
}

static void conn_drop(size_t i)
{
	conn_free(conns[i]);
	conns[i] = conns[--nconn];
	if (i < nconn)
		conns[i]->idx = i;
}

/* A reply that could not go: smtpd gone (EPIPE) or not reading. */
static void reply_failed(struct policy_conn *c)
{
	if (errno == EPIPE)
		c->deaf = 1;
	else
		c->dead = 1;
}

static void send_reply(struct policy_conn *c, struct kv *rep)
{
	errno = 0;
	if (!c->deaf && kv_send(rep, c->fd) < 0)
		reply_failed(c);
	kv_reset(rep);
}

/* Replies to the requests of one read go out in one write: smtpd sends
 * a held frame (helo) with the next request, and waking it once for
 * both answers is half the cost of twice. */
struct reply_batch {
	char buf[8192];
	size_t len;
};

static void batch_flush(struct policy_conn *c, struct reply_batch *b)
{
	size_t off = 0;

	while (off < b->len && !c->dead && !c->deaf) {
		ssize_t w = write(c->fd, b->buf + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			reply_failed(c); /* smtpd reads every answer: it is gone */
		else if (w == 0)
			c->dead = 1;
		else
			off += (size_t)w;
	}
	b->len = 0;
}

static void batch_add(struct policy_conn *c, struct reply_batch *b,
		      struct kv *rep)
{
	size_t n;

	if (rep->failed) {
		c->dead = 1;
	} else if (c->deaf) {
		/* nobody to read it */
	} else if ((n = ns_encode(b->buf + b->len, sizeof b->buf - b->len,
				  rep->buf ? rep->buf : "", rep->len))) {
		b->len += n;
	} else { /* no room: what is batched first, then this one alone */
		batch_flush(c, b);
		send_reply(c, rep);
	}
	kv_reset(rep);
}

/* A read that also takes the client's socket relay-smtpd attaches to
 * phase=connect, kept for that request (the last one to come replaces
 * any before it). */
static int serve_read(struct policy_conn *c, char **payload, size_t *len)
{
	int fds[4], nfds = 0;
	int r = ns_reader_next_fds(&c->rd, payload, len, fds, &nfds, 4);

	for (int i = 0; i < nfds; i++) {
		if (c->client_fd >= 0)
			close(c->client_fd);
		c->client_fd = fds[i];
	}
	return r;
}

/* Answer every complete request buffered or readable now.  One read per
 * wake-up: poll is level-triggered, so bytes that come later wake us
 * again, and a second read would mostly say EAGAIN. */
static void serve(struct policy_srv *srv, struct policy_conn *c,
		  struct kv *rep)
{
	static struct reply_batch b;
	char *payload;
	size_t len;
	int r, first = 1;

	b.len = 0;
	while (!c->dead && !c->auth.pid && !c->store_wait) {
		r = first ? serve_read(c, &payload, &len)
			  : ns_reader_buffered(&c->rd, &payload, &len);
		first = 0;
		if (r == 0)
			break;
		if (r < 0) {
			if (errno)
				log_warn("dropping a peer: %s", strerror(errno));
			c->dead = 1;
			break;
		}
		r = policy_phase_handle(srv, c, payload, len, rep);
		if (r < 0) {
			log_warn("dropping a peer that sent a bad request");
			c->dead = 1;
		} else if (r == 0) {
			batch_add(c, &b, rep);
		}
	}
	batch_flush(c, &b);
}

static void handle_ready(struct policy_srv *srv, struct pollfd *pfd,
			 struct kv *rep)
{
	for (size_t i = 0; i < nconn; i++) {
		struct policy_conn *c = conns[i];
		if (!pfd[i + 1].revents)
			continue;
		if (c->auth.pid) {
			policy_phase_auth_done(srv, c, rep);
			send_reply(c, rep);
		}
		serve(srv, c, rep);
		conn_note(c);
	}
	for (size_t i = 0; i < nconn;) {
		if (conns[i]->dead)
			conn_drop(i);
		else
			i++;
	}
}

/* The log lines are kept from one wake-up to the next: written (one
 * write) once per HOLD_MS instead of once per wake-up, which is once per
 * request or two under load.  They go HOLD_MS after they were first
 * held, busy or not (the poll's timeout then: one wake-up more at the
 * end of a burst, not one per pause between requests), so a log line is
 * that late at most.  (The counters file takes no lock at all: readers
 * follow its seqlock, lib/rate_file.h.) */
#define HOLD_MS 10

static int held;
static long held_since;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hold_start(void)
{
	if (held)
		return;
	log_batch(1);
	held = 1;
	held_since = now_ms();
}

/* The poll's timeout: what is left of the hold, or a second. */
static int hold_left(void)
{
	long left;

	if (!held)
		return 1000;
	left = held_since + HOLD_MS - now_ms();
	return left < 0 ? 0 : left > HOLD_MS ? HOLD_MS : (int)left;
}

static void hold_end(void)
{
	if (!held)
		return;
	log_batch(0);
	held = 0;
}

/* The poll set: the listening socket, each session (or its password
 * check), and last the rule files' watch: poll looks at the fds in
 * order, so a file replaced before a request was sent is seen in the
 * poll that sees the request. */
static size_t poll_set(struct pollfd *pfd, int lfd, int wfd)
{
	pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (size_t i = 0; i < nconn; i++) {
		struct policy_conn *c = conns[i];
		pfd[i + 1] = (struct pollfd){
			.fd = c->store_wait ? -1 : c->auth.pid ? c->auth.fd
							     : c->fd,
			.events = POLLIN };
	}
	/* the shared rate store's socket while a script is in flight */
	pfd[nconn + 1] = (struct pollfd){ .fd = rate_store_fd(),
					  .events = POLLIN };
	pfd[nconn + 2] = (struct pollfd){ .fd = wfd, .events = POLLIN };
	return nconn + 3;
}

/* The store answered c's RCPT (rate_store_on_rcpt): reply now, and
 * serve what c sent meanwhile in the loop (resume). */
static struct policy_srv *the_srv;

static void store_done(void *tag, enum rate_verdict r)
{
	struct policy_conn *c = tag;
	struct kv rep;

	kv_init(&rep);
	policy_phase_rcpt_done(the_srv, c, r, &rep);
	send_reply(c, &rep);
	kv_free(&rep);
	c->store_wait = 0;
	c->resume = 1;
	conn_note(c);
}

static void serve_resumed(struct policy_srv *srv, struct kv *rep)
{
	if (!rate_store_shared())
		return;
	for (size_t i = 0; i < nconn; i++)
		if (conns[i]->resume) {
			conns[i]->resume = 0;
			serve(srv, conns[i], rep);
			conn_note(conns[i]);
		}
}

/* At most NOTIFY_BEAT_MS (hold_left's second): the loop beats. */
static int poll_wait(void)
{
	int h = hold_left(), s = rate_store_wait_ms();
	int w = s >= 0 && s < h ? s : h;
	return w < NOTIFY_BEAT_MS ? w : NOTIFY_BEAT_MS;
}

/* After a wait that found rc events (0: timed out): the store's replies,
 * and on a timeout the idle work (0 back); else the rule files when
 * their watch woke us (one look for all the requests of this wake-up,
 * which came together) and the hold for what they bring (1 back). */
static int woke(struct policy_srv *srv, int rc, int watch, struct kv *rep)
{
	rate_store_poll(); /* replies that came, timeouts passed */
	serve_resumed(srv, rep);
	if (rc == 0) {
		if (hold_left() == 0 || !held)
			hold_end();
		rate_store_tick();
		policy_db_idle(&srv->db);
		return 0;
	}
	if (watch)
		policy_db_events(&srv->db);
	policy_db_batch_next(&srv->db);
	hold_start();
	return 1;
}

/* One wake-up of the poll loop (a password check or the shared store
 * in play); 0, or -1 on error. */
static int run_poll(struct policy_srv *srv, int lfd, struct kv *rep)
{
	static struct pollfd pfd[CONN_MAX + 3];
	size_t n = poll_set(pfd, lfd, policy_db_fd(&srv->db));
	int rc = poll(pfd, n, poll_wait());

	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	if (!woke(srv, rc, pfd[n - 1].revents != 0, rep))
		return 0;
	if (nconn)
		handle_ready(srv, pfd, rep);
	if (hold_left() == 0)
		hold_end();
	if (pfd[0].revents & POLLIN)
		accept_one(srv, lfd);
	return 0;
}

/* One wake-up of the epoll loop: the sessions that sent something are
 * served, the others not looked at; 0, or -1 on error. */
static int run_epoll(struct policy_srv *srv, int lfd, struct kv *rep)
{
	static struct epoll_event ev[CONN_MAX + 2];
	int rc = epoll_wait(ep, ev, (int)nconn + 2, poll_wait());
	int watch = 0, listen = 0;

	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < rc; i++) {
		watch |= ev[i].data.u64 == TAG_WATCH;
		listen |= ev[i].data.u64 == TAG_LISTEN;
	}
	if (!woke(srv, rc, watch, rep))
		return 0;
	for (int i = 0; i < rc; i++) {
		struct policy_conn *c = ev[i].data.ptr;
		if (ev[i].data.u64 == TAG_WATCH || ev[i].data.u64 == TAG_LISTEN)
			continue;
		serve(srv, c, rep);
		conn_note(c);
	}
	for (int i = 0; i < rc; i++) { /* each conn comes once */
		struct policy_conn *c = ev[i].data.ptr;
		if (ev[i].data.u64 != TAG_WATCH &&
		    ev[i].data.u64 != TAG_LISTEN && c->dead)
			conn_drop(c->idx);
	}
	if (hold_left() == 0)
		hold_end();
	if (listen)
		accept_one(srv, lfd);
	return 0;
}

/* The epoll set with the listener and the rule files' watch (edge-
 * triggered: policy_db_events reads it dry; one closed meanwhile can
 * only bring an event that finds nothing); 0 or -1. */
static int epoll_start(int lfd, int wfd)
{
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event){
			      .events = EPOLLIN, .data.u64 = TAG_LISTEN }) < 0 ||
	    (wfd >= 0 &&
	     epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &(struct epoll_event){
			       .events = EPOLLIN | EPOLLET,
			       .data.u64 = TAG_WATCH }) < 0)) {
		log_warn("epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int policy_server_run(struct policy_srv *srv, int lfd)
{
	struct kv rep;

	signal(SIGPIPE, SIG_IGN);
	(void)privs_nofile_raise();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fd_nonblock(lfd);
	if (epoll_start(lfd, policy_db_fd(&srv->db)) < 0)
		return -1;
	srv->db.batch = 1;
	the_srv = srv;
	rate_store_on_rcpt(store_done);
	kv_init(&rep);
	while (!stopping) {
		notify_beat();
		/* the shared store's socket and the checks' pipes come and go:
		 * polled, as the set is built for each wake-up */
		int rc = nspecial || rate_store_shared()
				 ? run_poll(srv, lfd, &rep)
				 : run_epoll(srv, lfd, &rep);
		if (rc < 0) {
			log_warn("poll: %s", strerror(errno));
			break;
		}
	}
	hold_end();
	while (nconn)
		conn_free(conns[--nconn]);
	kv_free(&rep);
	close(ep);
	ep = -1;
	return 0;
}
