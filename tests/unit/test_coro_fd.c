// links:
/* test_coro_fd.c: a descriptor a coroutine waits on is put in the epoll
 * set once (coro.h).  An edge that comes while its coroutine is busy is
 * not lost; the fd stays in the set after the wait (no epoll_ctl per
 * wait) until coro_forget, for room only once it waited for room; a
 * forgotten fd number, reused, starts afresh;
 * a peer's close wakes the waiter; a wait on a closed fd fails at once;
 * coro_forget wakes a waiter with -1; a write waits for room; io's
 * reads in a coroutine (tried first, or waiting at once after a read
 * that drained the socket) lose no bytes; after coro_close of an fd
 * still open elsewhere, its number reused, only the new socket wakes;
 * after coro_read_none an fd never waited on waits before its read, and
 * a byte that came before the wait still wakes it; coro_fd_hung tells a
 * peer's close seen by the scheduler while nobody waited; an input edge
 * kept while nobody waited is dropped by a read that drained the fd (the
 * next wait waits, not returning at once for bytes already read). */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro.h"
#include "io.h"
#include "t.h"

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
}

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		abort();
}

static void drain(int fd)
{
	char b[4096];
	while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0)
		;
}

static void run_all(long limit_ms)
{
	long t0 = ms_now();
	while (coro_count() > 0 && ms_now() - t0 < limit_ms)
		coro_sched_run(50, NULL, 0);
}

/* The scheduler's epoll set, found in /proc (it keeps it to itself). */
static int epoll_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	while (d && (e = readdir(d))) {
		char path[300], link[64];
		ssize_t n;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof link - 1);
		if (n > 0 && (link[n] = '\0', strstr(link, "eventpoll")))
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* Whether the scheduler's epoll set holds fd ("tfd: N events: HEX" in
 * fdinfo), with what it asks for in *events. */
static int in_epoll_for(int fd, unsigned *events)
{
	char path[64], line[256];
	FILE *f;
	int tfd, found = 0;
	unsigned ev;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epoll_fd());
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "tfd: %d events: %x", &tfd, &ev) == 2 &&
		    tfd == fd) {
			found = 1;
			*events = ev;
		}
	fclose(f);
	return found;
}

static int in_epoll(int fd)
{
	unsigned ev;
	return in_epoll_for(fd, &ev);
}

struct busy {
	int fd;
	int rc1, rc2;
	long waited_ms;
	ssize_t got;
};

/* Waits, reads all, is busy while the next bytes come, waits again. */
static void busy_run(void *arg)
{
	struct busy *b = arg;
	char buf[16];
	long t0;

	b->rc1 = coro_wait(b->fd, POLLIN, 2000);
	drain(b->fd);
	coro_yield();
	t0 = ms_now();
	b->rc2 = coro_wait(b->fd, POLLIN, 1000);
	b->waited_ms = ms_now() - t0;
	b->got = recv(b->fd, buf, sizeof buf, MSG_DONTWAIT);
}

static void test_no_lost_edge(void)
{
	int sv[2];
	struct busy b = { 0 };
	unsigned ev = 0;

	pair(sv);
	b.fd = sv[0];
	coro_spawn(busy_run, &b, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);      /* it waits */
	put(sv[1], "a");
	coro_sched_run(100, NULL, 0);    /* woken, reads, yields */
	put(sv[1], "b");                 /* while it is busy */
	run_all(3000);
	T_CHECK("first wait woken", b.rc1 == 1);
	T_CHECK("an edge while busy is kept for the next wait",
		b.rc2 == 1 && b.waited_ms < 200 && b.got == 1);
	T_CHECK("the fd stays in the epoll set after its waits",
		in_epoll_for(sv[0], &ev) == 1);
	/* a unix socket's peer reading would wake the set each time */
	T_CHECK("waits for input only: not registered for room",
		!(ev & EPOLLOUT) && (ev & EPOLLIN));
	coro_forget(sv[0]);
	T_CHECK("coro_forget takes it out", in_epoll(sv[0]) == 0);
	close(sv[0]);
	close(sv[1]);
}

struct reuse {
	int fd, peer, newpeer;
	int rc_old, rc_new, same_number;
};

/* Waits on fd, forgets and closes it, then waits on the fd number
 * reused by a new socket. */
static void reuse_run(void *arg)
{
	struct reuse *r = arg;
	int sv[2], old = r->fd;

	r->rc_old = coro_wait(r->fd, POLLIN, 2000);
	drain(r->fd);
	coro_forget(r->fd);
	close(r->fd);
	pair(sv);
	r->same_number = sv[0] == old;
	r->fd = sv[0];
	r->newpeer = sv[1];
	r->rc_new = coro_wait(r->fd, POLLIN, 1000);
}

static void test_reused_number(void)
{
	int sv[2];
	struct reuse r = { .newpeer = -1 };

	pair(sv);
	r.fd = sv[0];
	r.peer = sv[1];
	coro_spawn(reuse_run, &r, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	put(r.peer, "x");
	coro_sched_run(100, NULL, 0);    /* it reopens and waits */
	T_CHECK("the number is reused", r.same_number && r.newpeer >= 0);
	if (r.newpeer >= 0)
		put(r.newpeer, "y");
	run_all(3000);
	T_CHECK("old fd woken", r.rc_old == 1);
	T_CHECK("a reused fd number wakes its new waiter", r.rc_new == 1);
	coro_forget(r.fd);
	close(r.fd);
	close(r.peer);
	if (r.newpeer >= 0)
		close(r.newpeer);
}

struct closing {
	int fd;
	int rc;
	long waited_ms;
	ssize_t got;
};

static void closing_run(void *arg)
{
	struct closing *c = arg;
	char buf[4];
	long t0 = ms_now();

	c->rc = coro_wait(c->fd, POLLIN, 2000);
	c->waited_ms = ms_now() - t0;
	c->got = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
}

static void test_peer_close_and_forget(void)
{
	int sv[2], sw[2];
	struct closing a = { 0 }, b = { 0 };

	pair(sv);
	pair(sw);
	a.fd = sv[0];
	b.fd = sw[0];
	coro_spawn(closing_run, &a, NULL, CORO_STACK_DEFAULT);
	coro_spawn(closing_run, &b, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);      /* both wait */
	close(sv[1]);                    /* a's peer hangs up */
	coro_forget(sw[0]);              /* b's fd is taken away */
	run_all(3000);
	T_CHECK("a peer's close wakes the waiter",
		a.rc == 1 && a.waited_ms < 200 && a.got == 0);
	T_CHECK("coro_forget wakes its waiter with -1",
		b.rc == -1 && b.waited_ms < 200);
	coro_forget(sv[0]);
	close(sv[0]);
	close(sw[0]);
	close(sw[1]);
}

static int closed_rc = 2;
static void closed_run(void *arg)
{
	int sv[2];

	(void)arg;
	pair(sv);
	close(sv[0]);
	close(sv[1]);
	closed_rc = coro_wait(sv[0], POLLIN, 2000);
}

struct writer {
	int fd;
	int rc, rounds;
	size_t sent;
};

/* Fills the socket, then waits for room (a wake-up may be spurious). */
static void writer_run(void *arg)
{
	struct writer *w = arg;
	static char chunk[4096];
	int more = 0;

	while (send(w->fd, chunk, sizeof chunk, MSG_DONTWAIT) > 0)
		w->sent += sizeof chunk;
	while (!more && w->rounds < 10) {
		w->rounds++;
		w->rc = coro_wait(w->fd, POLLOUT, 2000);
		if (w->rc != 1)
			return;
		more = send(w->fd, chunk, sizeof chunk, MSG_DONTWAIT) > 0;
	}
}

static void test_closed_and_write(void)
{
	int sv[2];
	struct writer w = { 0 };
	unsigned ev = 0;
	long t0 = ms_now();

	coro_spawn(closed_run, NULL, NULL, CORO_STACK_DEFAULT);
	run_all(3000);
	T_CHECK("a wait on a closed fd fails at once",
		closed_rc == -1 && ms_now() - t0 < 200);
	pair(sv);
	w.fd = sv[0];
	coro_spawn(writer_run, &w, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	coro_sched_run(20, NULL, 0);
	drain(sv[1]);                    /* room again */
	run_all(3000);
	T_CHECK("a full socket's writer is woken by room",
		w.sent > 0 && w.rc == 1 && w.rounds <= 3);
	T_CHECK("registered for room once it waited for it",
		in_epoll_for(sv[0], &ev) == 1 && (ev & EPOLLOUT));
	coro_forget(sv[0]);
	close(sv[0]);
	close(sv[1]);
}

struct handed {
	int fd, kept, newpeer, same_number, rc;
	char got[8];
};

/* Waits on fd, hands it on (a dup stays open, as relay-policy's copy of
 * a client socket does), coro_close's it, and waits on the number
 * reused: only the new socket's bytes may wake it. */
static void handed_run(void *arg)
{
	struct handed *h = arg;
	int sv[2], old = h->fd;
	ssize_t n;

	coro_wait(h->fd, POLLIN, 1000);
	drain(h->fd);
	h->kept = dup(h->fd);
	coro_close(h->fd);
	pair(sv);
	h->same_number = sv[0] == old;
	h->fd = sv[0];
	h->newpeer = sv[1];
	h->rc = coro_wait(h->fd, POLLIN, 2000);
	n = recv(h->fd, h->got, sizeof h->got - 1, MSG_DONTWAIT);
	if (n > 0)
		h->got[n] = '\0';
}

static void test_close_handed_on(void)
{
	int sv[2];
	struct handed h = { .kept = -1, .newpeer = -1, .rc = 2 };

	pair(sv);
	h.fd = sv[0];
	coro_spawn(handed_run, &h, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	put(sv[1], "x");
	coro_sched_run(100, NULL, 0);    /* closed, waits on the new one */
	put(sv[1], "old");               /* to the file still open elsewhere */
	coro_sched_run(50, NULL, 0);
	coro_sched_run(50, NULL, 0);
	T_CHECK("the number is reused after coro_close",
		h.same_number && h.newpeer >= 0);
	T_CHECK("the old file's bytes wake no one", h.rc == 2 && !h.got[0]);
	if (h.newpeer >= 0)
		put(h.newpeer, "new");
	run_all(3000);
	T_CHECK("the new socket's bytes wake its waiter",
		h.rc == 1 && !strcmp(h.got, "new"));
	coro_forget(h.fd);
	close(h.fd);
	close(h.kept);
	close(sv[1]);
	if (h.newpeer >= 0)
		close(h.newpeer);
}

#define BURST_LINES 600  /* of 100 bytes: several io buffers at once */

struct lines {
	int fd, got, err, late;
	long waited_ms;
};

/* Reads a burst bigger than its buffer (full reads: bytes stay in the
 * socket with no edge to come), then one more line sent later (its last
 * read drained the socket: it waits at once). */
static void lines_run(void *arg)
{
	struct lines *l = arg;
	struct io *io = malloc(sizeof *io);
	char line[128];
	size_t len;
	unsigned flags;
	long t0;

	io_init(io, l->fd, l->fd, 1000);
	while (l->got < BURST_LINES &&
	       io_getline(io, line, sizeof line, &len, &flags) == 1)
		l->got++;
	t0 = ms_now();
	if (io_getline(io, line, sizeof line, &len, &flags) == 1)
		l->late = !strcmp(line, "late");
	l->waited_ms = ms_now() - t0;
	l->err = io->err;
	free(io);
}

static void test_io_reads(void)
{
	int sv[2];
	struct lines l = { 0 };
	static char burst[BURST_LINES * 100];
	size_t off = 0;

	for (int i = 0; i < BURST_LINES; i++) {
		memset(burst + i * 100, 'a' + i % 26, 98);
		memcpy(burst + i * 100 + 98, "\r\n", 2);
	}
	pair(sv);
	l.fd = sv[0];
	coro_spawn(lines_run, &l, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);      /* it waits for its first line */
	while (off < sizeof burst) {
		ssize_t w = write(sv[1], burst + off, sizeof burst - off);
		if (w > 0)
			off += (size_t)w;
		coro_sched_run(10, NULL, 0);
	}
	coro_sched_run(50, NULL, 0);
	T_CHECK("a burst bigger than the buffer read to its end",
		l.got == BURST_LINES);
	put(sv[1], "late\r\n");
	run_all(3000);
	T_CHECK("a line after a drained read: woken for it",
		l.late && l.waited_ms < 500 && l.err == IO_ERR_NONE);
	coro_forget(sv[0]);
	close(sv[0]);
	close(sv[1]);
}

/* The end of a test with fd and a second pair others: out of the
 * scheduler, closed. */
static void forget_close(int fd, int others[2])
{
	coro_forget(fd);
	coro_forget(others[0]);
	close(fd);
	close(others[0]);
	close(others[1]);
}

struct none {
	int fd, peer, other;
	int unknown, first, rc, hung_before, hung_after;
	char got;
};

static void none_run(void *arg)
{
	struct none *n = arg;

	n->unknown = coro_fd_hung(n->fd); /* never waited on */
	coro_read_none(n->fd);
	n->first = coro_read_first(n->fd);
	put(n->peer, "x"); /* before the wait that puts fd in the set */
	n->rc = coro_wait(n->fd, POLLIN, 1000);
	if (recv(n->fd, &n->got, 1, MSG_DONTWAIT) != 1)
		n->got = 0;
	n->hung_before = coro_fd_hung(n->fd);
	coro_wait(n->other, POLLIN, 2000); /* the peer closes meanwhile */
	n->hung_after = coro_fd_hung(n->fd);
}

static void test_read_none(void)
{
	int sv[2], ov[2];
	struct none n = { 0 };

	pair(sv);
	pair(ov);
	n.fd = sv[0];
	n.peer = sv[1];
	n.other = ov[0];
	coro_spawn(none_run, &n, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	coro_sched_run(100, NULL, 0); /* the byte: it reads, then waits */
	close(sv[1]);
	coro_sched_run(100, NULL, 0); /* the close seen, nobody waiting */
	put(ov[1], "y");
	run_all(2000);
	T_CHECK("coro_fd_hung: unknown before the fd is in the set",
		n.unknown == -1);
	T_CHECK("after coro_read_none the next read waits first",
		n.first == 0);
	T_CHECK("a byte sent before that wait wakes it",
		n.rc == 1 && n.got == 'x');
	T_CHECK("coro_fd_hung: no hang-up while the peer is there",
		n.hung_before == 0);
	T_CHECK("coro_fd_hung: the peer's close seen by the scheduler",
		n.hung_after == 1);
	forget_close(sv[0], ov);
}

struct stale {
	int fd, other, rc;
};

static void stale_run(void *arg)
{
	struct stale *st = arg;
	char b[16];

	coro_wait(st->fd, POLLIN, 1000);   /* in the set; woken by "a" */
	coro_wait(st->other, POLLIN, 1000); /* busy elsewhere: "b" comes */
	while (recv(st->fd, b, sizeof b, MSG_DONTWAIT) > 0)
		;
	coro_read_done(st->fd, 1);
	st->rc = coro_wait(st->fd, POLLIN, 200); /* nothing new: times out */
}

static void test_stale_edge(void)
{
	int sv[2], ov[2];
	struct stale st = { 0 };

	pair(sv);
	pair(ov);
	st.fd = sv[0];
	st.other = ov[0];
	coro_spawn(stale_run, &st, NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	put(sv[1], "a");
	coro_sched_run(100, NULL, 0); /* woken; now waits on other */
	put(sv[1], "b");
	coro_sched_run(100, NULL, 0); /* b's edge kept: nobody waits */
	put(ov[1], "y");
	run_all(2000);
	T_CHECK("a read that drained the fd drops the edge kept from before",
		st.rc == 0);
	close(sv[1]);
	forget_close(sv[0], ov);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (coro_sched_init() < 0)
		abort();
	test_no_lost_edge();
	test_reused_number();
	test_peer_close_and_forget();
	test_closed_and_write();
	test_io_reads();
	test_close_handed_on();
	test_read_none();
	test_stale_edge();
	T_CHECK("all finished", coro_count() == 0);
	return t_done();
}
