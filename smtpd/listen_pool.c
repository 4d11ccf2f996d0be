/* listen_pool.c: relay-listen's pool of relay-smtpd workers (see
 * listen_pool.h).  A plain array, like listen_caps: a scan of a few
 * hundred entries costs less than one system call. */
#include "listen_pool.h"
#include "smtp_worker.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "settings.h"
#include "usock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void conf_stat(struct stat *st)
{
	char path[4096];

	memset(st, 0, sizeof *st);
	snprintf(path, sizeof path, "%s/relay.conf", cf.dir);
	if (stat(path, st) < 0)
		memset(st, 0, sizeof *st);
}

int listen_pool_init(struct listen_pool *p)
{
	memset(p, 0, sizeof *p);
	conf_stat(&p->conf_st);
	return 0;
}

size_t listen_pool_idle(const struct listen_pool *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].fd >= 0 && !p->w[i].busy)
			k++;
	return k;
}

/* Close the control socket: the worker sees EOF and exits. */
static void retire(struct listen_worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->retired = 1;
}

/* A new idle worker, or NULL. */
static struct listen_worker *spawn(struct listen_pool *p, time_t now)
{
	struct listen_worker *w;
	int fd;
	pid_t pid;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct listen_worker *nw = realloc(p->w, cap * sizeof *nw);
		if (!nw)
			return NULL;
		p->w = nw;
		p->cap = cap;
	}
	if ((pid = listen_spawn_worker(&fd)) < 0)
		return NULL;
	w = &p->w[p->n++];
	memset(w, 0, sizeof *w);
	w->pid = pid;
	w->fd = fd;
	w->gen = p->gen;
	w->born = w->idle_since = now;
	return w;
}

void listen_pool_fill(struct listen_pool *p, time_t now)
{
	size_t idle = listen_pool_idle(p);

	while (idle < (size_t)cf.smtpd_workers_min && now >= p->hold_until &&
	       spawn(p, now))
		idle++;
}

/* The most recently used idle worker (its pages are warm, and the
 * others stay idle long enough to be trimmed), or NULL. */
static struct listen_worker *pick(struct listen_pool *p)
{
	struct listen_worker *best = NULL;

	for (size_t i = 0; i < p->n; i++) {
		struct listen_worker *w = &p->w[i];
		if (w->fd >= 0 && !w->busy && (!best || w->last > best->last))
			best = w;
	}
	return best;
}

/* The session frame: the facts relay-smtpd would get from UCSPI. */
static int send_session(struct listen_worker *w, int fd,
			const struct listen_peer *peer)
{
	char frame[512];
	struct kv k;
	size_t n;

	kv_init(&k);
	kv_add(&k, "op", "session");
	kv_add(&k, "ip", peer->ip);
	kv_add(&k, "port", peer->port);
	kv_add(&k, "localip", peer->localip);
	kv_add(&k, "localport", peer->localport);
	kv_add(&k, "tls", peer->tls ? "1" : "0");
	n = k.failed ? 0 : ns_encode(frame, sizeof frame, k.buf, k.len);
	kv_free(&k);
	if (!n)
		return -1;
	return usock_send_fds(w->fd, frame, n, &fd, 1);
}

/* Read the "done" frames that came since the last poll; each releases
 * its slot through done_fn.  One poll (no wait) finds them, instead of a
 * read on every busy worker's socket (most of which would say EAGAIN). */
static void sweep(struct listen_pool *p, time_t now,
		  void (*done_fn)(void *, pid_t), void *arg)
{
	static struct pollfd *pf;
	static size_t *idx, cap;
	size_t k = 0;

	if (cap < p->n) {
		struct pollfd *np = realloc(pf, p->n * sizeof *pf);
		size_t *ni = np ? realloc(idx, p->n * sizeof *idx) : NULL;
		if (np)
			pf = np;
		if (!ni)
			return; /* the main loop's poll finds them anyway */
		idx = ni;
		cap = p->n;
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].fd >= 0 && p->w[i].busy) {
			pf[k] = (struct pollfd){ .fd = p->w[i].fd, .events = POLLIN };
			idx[k++] = i;
		}
	if (k == 0 || poll(pf, k, 0) <= 0)
		return;
	for (size_t j = 0; j < k; j++) {
		pid_t pid;
		if (!pf[j].revents)
			continue;
		if ((pid = listen_pool_input(p, idx[j], now)) > 0 && done_fn)
			done_fn(arg, pid);
	}
}

pid_t listen_pool_hand(struct listen_pool *p, int fd,
		       const struct listen_peer *peer, time_t now,
		       void (*done_fn)(void *, pid_t), void *arg)
{
	/* a worker may have died since it was last seen idle: try a few */
	for (int tries = 0; tries < 3; tries++) {
		struct listen_worker *w = pick(p);
		if (!w) {
			/* a session may have ended since the poll (the client
			 * reconnects as soon as it has its 221): use that
			 * worker rather than start one more */
			sweep(p, now, done_fn, arg);
			w = pick(p);
		}
		if (!w && !(w = spawn(p, now)))
			return -1;
		if (send_session(w, fd, peer) == 0) {
			w->busy = 1;
			w->uses++;
			return w->pid;
		}
		log_warn("worker pid=%ld took no session: %s", (long)w->pid,
			 strerror(errno));
		retire(w);
	}
	return -1;
}

/* A session ended on w: retire it when it has served enough or was
 * started with an older relay.conf. */
static void session_done(struct listen_pool *p, struct listen_worker *w,
			 time_t now)
{
	w->busy = 0;
	w->idle_since = now;
	w->last = ++p->seq;
	if (w->uses >= cf.smtpd_max_use || w->gen != p->gen)
		retire(w);
}

pid_t listen_pool_input(struct listen_pool *p, size_t i, time_t now)
{
	static const char done[] = SMTP_WORKER_DONE;
	struct listen_worker *w = &p->w[i];
	ssize_t r = read(w->fd, w->in + w->inlen, sizeof done - 1 - w->inlen);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		if (w->busy)
			log_warn("worker pid=%ld gone during a session", (long)w->pid);
		close(w->fd); /* the slot goes when the pid is reaped */
		w->fd = -1;
		return 0;
	}
	w->inlen += (size_t)r;
	if (memcmp(w->in, done, w->inlen) != 0 || (!w->busy)) {
		log_warn("worker pid=%ld: bad frame, killed", (long)w->pid);
		kill(w->pid, SIGKILL);
		retire(w);
		return 0;
	}
	if (w->inlen < sizeof done - 1)
		return 0;
	w->inlen = 0;
	session_done(p, w, now);
	return w->pid;
}

int listen_pool_reaped(struct listen_pool *p, pid_t pid, time_t now)
{
	for (size_t i = 0; i < p->n; i++) {
		struct listen_worker *w = &p->w[i];
		if (w->pid != pid)
			continue;
		if (!w->retired && w->uses == 0 && now - w->born < 2) {
			/* died before serving: a broken binary or relay.conf
			 * must not become a fork loop */
			log_warn("worker pid=%ld exited at start; pausing", (long)pid);
			p->hold_until = now + 1;
		}
		retire(w);
		p->w[i] = p->w[--p->n];
		return 1;
	}
	return 0;
}

void listen_pool_trim(struct listen_pool *p, time_t now)
{
	struct stat st;
	size_t idle = listen_pool_idle(p);

	/* a stat per loop round would be one system call per connection:
	 * once a second is soon enough to see a new relay.conf */
	if (now != p->conf_checked) {
		p->conf_checked = now;
		p->conf_skipped = 0;
		conf_stat(&st);
	} else {
		p->conf_skipped = 1; /* look again in a second (waiting) */
		st = p->conf_st;
	}
	if (st.st_ino != p->conf_st.st_ino || st.st_dev != p->conf_st.st_dev ||
	    st.st_size != p->conf_st.st_size ||
	    st.st_mtim.tv_sec != p->conf_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != p->conf_st.st_mtim.tv_nsec) {
		p->conf_st = st;
		p->gen++;
		log_info("relay.conf changed: replacing the smtpd workers");
	}
	for (size_t i = 0; i < p->n; i++) {
		struct listen_worker *w = &p->w[i];
		if (w->fd < 0 || w->busy)
			continue;
		if (w->gen != p->gen) {
			retire(w);
		} else if (idle > (size_t)cf.smtpd_workers_min &&
			   now - w->idle_since >= cf.smtpd_max_idle) {
			retire(w);
			idle--;
		}
	}
}

void listen_pool_retire_all(struct listen_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		retire(&p->w[i]);
}

void listen_pool_free(struct listen_pool *p)
{
	listen_pool_retire_all(p);
	free(p->w);
	p->w = NULL;
	p->n = p->cap = 0;
}

int listen_pool_waiting(const struct listen_pool *p, time_t now)
{
	return listen_pool_idle(p) > (size_t)cf.smtpd_workers_min ||
	       now < p->hold_until || p->conf_skipped;
}
