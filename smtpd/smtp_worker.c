/* smtp_worker.c: the pool worker's loop (see smtp_worker.h). */
#include "smtp_worker.h"
#include "metrics.h"
#include "smtp_session.h"
#include "smtp_stop.h"
#include "listen_slots.h"
#include "listen_sock.h"
#include "exitcodes.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "settings.h"
#include "coro.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Set by the parent-death signal or SIGTERM, before the listeners are
 * closed (once: a second signal must not close numbers reused since). */
static volatile sig_atomic_t orphaned;
static struct worker *the_worker;

/* In a signal handler: accept no more. */
static void worker_unlisten(void)
{
	if (orphaned)
		return;
	orphaned = 1;
	if (the_worker)
		for (size_t i = 0; i < the_worker->n; i++) {
			/* out of the sessions' epoll first: other workers
			 * keep the socket open, so closing ours would not */
			if (the_worker->multi)
				coro_sched_unwatch(the_worker->ls[i].fd);
			close(the_worker->ls[i].fd);
		}
}

static void on_parent_death(int sig)
{
	(void)sig;
	worker_unlisten();
}

int smtp_worker_listener(const struct kv_msg *m, struct listen_sock *ls)
{
	const char *tls = kv_get_or(m, SMTP_WORKER_TLS, "");
	const char *fixed = kv_get_or(m, SMTP_WORKER_FIXED, "");
	const char *name = kv_get_or(m, SMTP_WORKER_NAME, "?");
	const char *ip = kv_get_or(m, SMTP_WORKER_LOCALIP, "");
	const char *port = kv_get_or(m, SMTP_WORKER_LOCALPORT, "");

	if (strcmp(kv_get_or(m, SMTP_WORKER_OP, ""), SMTP_WORKER_OP_LISTENER) ||
	    (strcmp(tls, "0") && strcmp(tls, "1")) ||
	    (strcmp(fixed, "0") && strcmp(fixed, "1")) ||
	    strlen(ip) >= sizeof ls->localip || strlen(port) >= sizeof ls->localport ||
	    strlen(name) >= sizeof ls->name)
		return -1;
	memset(ls, 0, sizeof *ls);
	ls->fd = -1;
	ls->tls = tls[0] == '1';
	ls->fixed = fixed[0] == '1';
	strcpy(ls->localip, ip);
	strcpy(ls->localport, port);
	strcpy(ls->name, name);
	return 0;
}

/* One set-up frame with one descriptor: *fd gets it. */
static int setup_frame(struct ns_reader *rd, struct kv_msg *m, int *fd)
{
	char *payload;
	size_t len;
	int fds[1], nfds = 0;

	if (ns_reader_next_fds(rd, &payload, &len, fds, &nfds, 1) < 0 ||
	    nfds != 1) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	*fd = fds[0];
	if (kv_parse(m, payload, len) < 0) {
		close(*fd);
		return -1;
	}
	return 0;
}

/* "op=pool" with the cap table, then one "op=listener" per socket. */
static int worker_setup(struct worker *w, struct ns_reader *rd)
{
	static struct kv_msg m; /* 8 KiB: not on the stack */
	long want;
	int fd;

	if (setup_frame(rd, &m, &fd) < 0 ||
	    strcmp(kv_get_or(&m, SMTP_WORKER_OP, ""), SMTP_WORKER_OP_POOL) != 0)
		return -1;
	w->slots = listen_slots_attach(fd);
	close(fd);
	w->slot = (size_t)strtoul(kv_get_or(&m, SMTP_WORKER_SLOT, "0"), NULL, 10);
	w->idle_min = (size_t)strtoul(kv_get_or(&m, SMTP_WORKER_IDLE_MIN, "0"),
				      NULL, 10);
	want = strtol(kv_get_or(&m, SMTP_WORKER_LISTENERS, "0"), NULL, 10);
	if (!w->slots || w->slot >= listen_slots_cap(w->slots) || want < 1 ||
	    want > LISTEN_SOCK_MAX)
		return -1;
	for (w->n = 0; w->n < (size_t)want; w->n++) {
		if (setup_frame(rd, &m, &fd) < 0)
			return -1;
		if (smtp_worker_listener(&m, &w->ls[w->n]) < 0) {
			close(fd);
			return -1;
		}
		w->ls[w->n].fd = fd;
	}
	return 0;
}

/* The control socket and every listener in one epoll set; the
 * listeners EPOLLEXCLUSIVE, so that a connection wakes one idle worker
 * rather than all of them. */
static int worker_epoll(struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LISTEN_SOCK_MAX };

	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ctl, &ev) < 0)
		return -1;
	for (size_t i = 0; i < w->n; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u64 = i;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ls[i].fd, &ev) < 0)
			return -1;
	}
	return 0;
}

/* When relay-listen dies, drop its sockets at once (signal handler):
 * the sessions go on.  On SIGTERM (the relay stops) drop them too, and
 * cut the sessions (smtp_stop.h). */
static void worker_orphan_signal(struct worker *w)
{
	struct sigaction sa;
	pid_t parent = getppid();

	the_worker = w;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_parent_death;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGHUP, &sa, NULL);
	smtp_stop_init(worker_unlisten);
	prctl(PR_SET_PDEATHSIG, SIGHUP);
	if (getppid() != parent || parent == 1)
		raise(SIGHUP); /* it died before the prctl */
}

static void worker_serve(struct worker *w, int fd, const struct listen_peer *pe)
{
	struct smtp_peer p = {
		.ip = pe->ip, .port = pe->port, .localip = pe->localip,
		.localport = pe->localport, .tls = pe->tls,
	};

	smtp_session_run(fd, fd, &p);
	/* the slot before the close: the client's next connection, made
	 * as soon as it sees the close, finds the slot free */
	listen_slots_release(w->slots, w->slot, time(NULL));
	w->uses++;
}

const char *smtp_worker_verdict(struct worker *w, size_t i,
				const struct listen_peer *p,
				enum listen_caps_verdict v,
				const struct listen_slots_seen *seen)
{
	char l[METRICS_LABELS_MAX];

	metrics_add(METRIC_SMTPD_CONNECTIONS, 1,
		    metrics_labels(l, sizeof l, "listener", p->localport,
				   "outcome", v == LISTEN_CAPS_OK ? "accepted" :
				   v == LISTEN_CAPS_GLOBAL ? "refused_conn_max" :
				   "refused_conn_per_ip", NULL));
	if (v != LISTEN_CAPS_OK) {
		log_info("refused %s port=%s: %s (%zu open)", p->ip, p->localport,
			 v == LISTEN_CAPS_GLOBAL ? "conn_max" : "conn_per_ip",
			 seen->open);
		return "Too many connections, try again later";
	}
	log_batch(1); /* one write with the session's lines */
	log_info("connect %s:%s to %s pid=%ld (%zu open, %zu from ip)",
		 p->ip, p->port, w->ls[i].name, (long)w->pid, seen->open,
		 seen->from_ip);
	return NULL;
}

int smtp_worker_take(struct worker *w, size_t i, int flags,
		     struct listen_peer *p, struct ipaddr *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd;

	if (orphaned)
		return -1; /* the listeners are closed */
	fd = accept4(w->ls[i].fd, (struct sockaddr *)&ss, &len,
		     SOCK_CLOEXEC | flags);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
		    !orphaned)
			log_warn("accept on %s: %s", w->ls[i].name, strerror(errno));
		return -1; /* another worker took it */
	}
	listen_sock_peer(fd, &ss, &w->ls[i], p);
	if (ipaddr_parse(p->ip, ip) < 0)
		memset(ip, 0, sizeof *ip);
	return fd;
}

/* Accept one connection on listener i, if one is still waiting, and
 * serve it or refuse it by the caps; fd is closed here. */
static void worker_accept(struct worker *w, size_t i)
{
	struct listen_slots_seen seen;
	struct listen_peer p;
	struct ipaddr ip;
	enum listen_caps_verdict v;
	const char *refusal;
	int fd = smtp_worker_take(w, i, 0, &p, &ip);

	if (fd < 0)
		return;
	v = listen_slots_claim(w->slots, w->slot, &ip, &seen);
	refusal = smtp_worker_verdict(w, i, &p, v, &seen);
	if (refusal)
		listen_sock_refuse(fd, "4.7.0", refusal);
	else {
		if (seen.idle < w->idle_min &&
		    send(w->ctl, (char[]){ SMTP_WORKER_LOW }, 1,
			 MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* full or gone: relay-listen has a wake-up pending
			 * or is on its way out */
		}
		worker_serve(w, fd, &p);
	}
	close(fd);
}

/* 1 when the control socket says relay-listen retired us (EOF). */
int smtp_worker_ctl(struct worker *w)
{
	char buf[64];
	ssize_t r = recv(w->ctl, buf, sizeof buf, MSG_DONTWAIT);

	return r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
}

/* Retired: the wake-up of a connection may have come to us with the
 * EOF, and no other idle worker had it; serve what is waiting (one at
 * most), then go. */
static void worker_last(struct worker *w)
{
	long before = w->uses;

	for (size_t i = 0; i < w->n && w->uses == before; i++)
		worker_accept(w, i);
}

/* One wake-up: 1 when the worker is to go.  The control socket first: a
 * retired worker serves no new session beyond worker_last's. */
static int worker_wake(struct worker *w, const struct epoll_event *ev, int k)
{
	long before = w->uses;

	for (int j = 0; j < k; j++)
		if (ev[j].data.u64 == LISTEN_SOCK_MAX && smtp_worker_ctl(w)) {
			worker_last(w);
			return 1;
		}
	for (int j = 0; j < k && w->uses == before && !orphaned; j++)
		if (ev[j].data.u64 < LISTEN_SOCK_MAX)
			worker_accept(w, (size_t)ev[j].data.u64);
	return 0;
}

int smtp_worker_run(int ctl)
{
	static struct worker w;
	struct ns_reader rd;

	w.ctl = ctl;
	w.pid = getpid();
	if (ns_reader_init(&rd, ctl) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	if (worker_setup(&w, &rd) < 0 || worker_epoll(&w) < 0)
		log_fatal(EXIT_TEMP, "worker: bad set-up from relay-listen");
	ns_reader_free(&rd);
	w.multi = cf.smtpd_sessions_per_worker > 1;
	worker_orphan_signal(&w);
	if (w.multi)
		return smtp_worker_multi(&w, &orphaned);
	while (!orphaned && w.uses < cf.smtpd_max_use) {
		struct epoll_event ev[LISTEN_SOCK_MAX + 1];
		int k = epoll_wait(w.ep, ev, LISTEN_SOCK_MAX + 1, -1);
		if (k < 0 && errno != EINTR)
			log_fatalx(EXIT_TEMP, "epoll_wait");
		if (k > 0 && worker_wake(&w, ev, k))
			break;
	}
	return EXIT_DONE;
}
