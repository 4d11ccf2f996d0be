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

/* Number the listeners' groups: the same listen_sock_reach, one group. */
static void group_socks(struct listen_pool *p)
{
	char key[LISTEN_SOCK_MAX][64], k[64];

	p->ngroups = 0;
	for (size_t i = 0; i < p->nsocks && i < LISTEN_SOCK_MAX; i++) {
		size_t g = 0;
		listen_sock_reach(&p->socks[i], k, sizeof k);
		while (g < p->ngroups && strcmp(key[g], k))
			g++;
		if (g == p->ngroups)
			memcpy(key[p->ngroups++], k, sizeof k);
		p->group_of[i] = g;
	}
}

int listen_pool_init(struct listen_pool *p, const struct listen_sock *socks,
		     size_t nsocks)
{
	size_t cap;

	memset(p, 0, sizeof *p);
	conf_stat(&p->conf_st);
	p->socks = socks;
	p->nsocks = nsocks;
	group_socks(p);
	/* busy workers that are on their way out (retired, or over
	 * conn_max and refusing) hold slots while their replacements run */
	cap = 2 * (size_t)cf.conn_max +
	      p->ngroups * (size_t)cf.smtpd_workers_min + 8;
	p->slots = listen_slots_create(cap, (size_t)cf.conn_max,
				       (size_t)cf.conn_per_ip,
				       (int)cf.conn_per_ip_prefix6, &p->slots_fd);
	return p->slots ? 0 : -1;
}

static int worker_idle(const struct listen_pool *p, const struct listen_worker *w)
{
	return w->fd >= 0 &&
	       listen_slots_get(p->slots, w->slot).state == SLOT_IDLE;
}

size_t listen_pool_idle(const struct listen_pool *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		k += (size_t)worker_idle(p, &p->w[i]);
	return k;
}

static size_t idle_in(const struct listen_pool *p, size_t g)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		k += (size_t)(p->w[i].group == g && worker_idle(p, &p->w[i]));
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

static int send_frame(int sock, struct kv *k, int fd)
{
	char frame[512];
	size_t n = k->failed ? 0 : ns_encode(frame, sizeof frame, k->buf, k->len);

	kv_free(k);
	return n ? usock_send_fds(sock, frame, n, &fd, 1) : -1;
}

/* The worker's set-up: its slot with the table, then its group's
 * listeners. */
static int send_setup(const struct listen_pool *p, int sock, size_t slot,
		      size_t group)
{
	char num[3][32];
	struct kv k;
	size_t n = 0;

	for (size_t i = 0; i < p->nsocks; i++)
		n += p->group_of[i] == group;
	snprintf(num[0], sizeof num[0], "%zu", slot);
	/* a worker sees the idle ones of every group: it wakes us below
	 * the sum of the minimums (and the loop looks again at least each
	 * second, when it beats: lib/notify.h) */
	snprintf(num[1], sizeof num[1], "%zu",
		 (size_t)cf.smtpd_workers_min * p->ngroups);
	snprintf(num[2], sizeof num[2], "%zu", n);
	kv_init(&k);
	kv_add(&k, SMTP_WORKER_OP, SMTP_WORKER_OP_POOL);
	kv_add(&k, SMTP_WORKER_SLOT, num[0]);
	kv_add(&k, SMTP_WORKER_IDLE_MIN, num[1]);
	kv_add(&k, SMTP_WORKER_LISTENERS, num[2]);
	if (send_frame(sock, &k, p->slots_fd) < 0)
		return -1;
	for (size_t i = 0; i < p->nsocks; i++) {
		const struct listen_sock *ls = &p->socks[i];
		if (p->group_of[i] != group)
			continue;
		kv_init(&k);
		kv_add(&k, SMTP_WORKER_OP, SMTP_WORKER_OP_LISTENER);
		kv_add(&k, SMTP_WORKER_TLS, ls->tls ? "1" : "0");
		kv_add(&k, SMTP_WORKER_FIXED, ls->fixed ? "1" : "0");
		kv_add(&k, SMTP_WORKER_LOCALIP, ls->fixed ? ls->localip : "");
		kv_add(&k, SMTP_WORKER_LOCALPORT, ls->fixed ? ls->localport : "");
		kv_add(&k, SMTP_WORKER_NAME, ls->name);
		if (send_frame(sock, &k, ls->fd) < 0)
			return -1;
	}
	return 0;
}

static int grow(struct listen_pool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 16;
	struct listen_worker *nw;

	if (p->n < p->cap)
		return 0;
	if (!(nw = realloc(p->w, cap * sizeof *nw)))
		return -1;
	p->w = nw;
	p->cap = cap;
	return 0;
}

/* A new idle worker for group g; -1 when none could be started. */
static int spawn(struct listen_pool *p, size_t g, time_t now)
{
	struct listen_worker *w;
	long slot;
	int fd;
	pid_t pid;

	if (grow(p) < 0 || (slot = listen_slots_take(p->slots, now)) < 0)
		return -1;
	if ((pid = listen_spawn_worker(&fd)) < 0) {
		listen_slots_free(p->slots, (size_t)slot);
		return -1;
	}
	w = &p->w[p->n++];
	memset(w, 0, sizeof *w);
	w->pid = pid;
	w->fd = fd;
	w->slot = (size_t)slot;
	w->gen = p->gen;
	w->born = now;
	w->group = g;
	if (send_setup(p, fd, w->slot, g) < 0) {
		/* not retired: one that died this young pauses spawning */
		log_warn("worker pid=%ld took no set-up: %s", (long)pid,
			 strerror(errno));
		close(w->fd);
		w->fd = -1; /* the slot goes when it is reaped */
		return -1;
	}
	return 0;
}

void listen_pool_fill(struct listen_pool *p, time_t now)
{
	for (size_t g = 0; g < p->ngroups; g++) {
		size_t idle = idle_in(p, g);
		while (idle < (size_t)cf.smtpd_workers_min &&
		       now >= p->hold_until && spawn(p, g, now) == 0)
			idle++;
	}
}

int listen_pool_input(struct listen_pool *p, size_t i)
{
	struct listen_worker *w = &p->w[i];
	char buf[64];
	ssize_t r = read(w->fd, buf, sizeof buf);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		close(w->fd); /* the slot goes when the pid is reaped */
		w->fd = -1;
		return 0;
	}
	return 1;
}

int listen_pool_reaped(struct listen_pool *p, pid_t pid, time_t now)
{
	for (size_t i = 0; i < p->n; i++) {
		struct listen_worker *w = &p->w[i];
		if (w->pid != pid)
			continue;
		if (!w->retired && now - w->born < 2 &&
		    listen_slots_get(p->slots, w->slot).uses == 0) {
			/* died before serving: a broken binary or relay.conf
			 * must not become a fork loop */
			log_warn("worker pid=%ld exited at start; pausing", (long)pid);
			p->hold_until = now + 1;
		}
		retire(w);
		listen_slots_free(p->slots, w->slot);
		p->w[i] = p->w[--p->n];
		return 1;
	}
	return 0;
}

/* Has relay.conf changed since the workers read it?  A stat per loop
 * round would be one system call per wake-up: once a second is soon
 * enough to see a new relay.conf. */
static void conf_check(struct listen_pool *p, time_t now)
{
	struct stat st;

	if (now == p->conf_checked) {
		p->conf_skipped = 1; /* look again in a second (waiting) */
		return;
	}
	p->conf_checked = now;
	p->conf_skipped = 0;
	conf_stat(&st);
	if (st.st_ino != p->conf_st.st_ino || st.st_dev != p->conf_st.st_dev ||
	    st.st_size != p->conf_st.st_size ||
	    st.st_mtim.tv_sec != p->conf_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != p->conf_st.st_mtim.tv_nsec) {
		p->conf_st = st;
		p->gen++;
		log_info("relay.conf changed: replacing the smtpd workers");
	}
}

void listen_pool_trim(struct listen_pool *p, time_t now)
{
	size_t idle[LISTEN_SOCK_MAX];

	for (size_t g = 0; g < p->ngroups; g++)
		idle[g] = idle_in(p, g);
	conf_check(p, now);
	for (size_t i = 0; i < p->n; i++) {
		struct listen_worker *w = &p->w[i];
		struct listen_slot s;
		if (w->fd < 0)
			continue;
		if (w->gen != p->gen) {
			retire(w); /* a busy one ends its session first */
			continue;
		}
		s = listen_slots_get(p->slots, w->slot);
		if (s.state == SLOT_IDLE &&
		    idle[w->group] > (size_t)cf.smtpd_workers_min &&
		    now - s.idle_since >= cf.smtpd_max_idle) {
			retire(w);
			idle[w->group]--;
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
