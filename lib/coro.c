/* coro.c: coroutines and one epoll set (see coro.h). */
#include "coro.h"
#include "coro_deadline.h"
#include "coro_ctx.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#include <sanitizer/common_interface_defs.h>
/* instrumented frames are several times larger */
#define CORO_STACK_FACTOR 4
#else
#define CORO_ASAN 0
#define CORO_STACK_FACTOR 1
#endif
/* The test build checks that no fd is closed without coro_forget. */
#define CORO_CHECK CORO_ASAN

enum coro_state { CORO_READY, CORO_WAITING, CORO_RUNNING, CORO_DONE };

struct coro {
	struct coro_ctx ctx;
	char *map;            /* guard page + stack */
	size_t maplen;
	coro_fn *fn;
	void *arg;
	void (*enter)(void *);
	enum coro_state state;
	struct coro_deadline deadline;  /* in S.deadlines while it waits */
	int wait_fd;          /* the fd it waits on, -1 none */
	int result;           /* what coro_wait returns */
	struct coro *next, *prev;  /* every coroutine */
	struct coro *ready_next;
	void *fake_stack;     /* ASan's, while switched out */
	void (*idle)(void *); /* coro_idle_hook's */
	void *idle_arg;
	int ran;              /* since the last idle sweep */
	int trimmed;          /* idle memory given back since it last ran */
};

/* A descriptor a coroutine waited on: registered once, edge-triggered,
 * for everything a wait can ask; an event goes to the coroutine waiting
 * for it, or is kept in seen until one does.  Indexed by fd number;
 * coro_forget takes it out before the number can be reused.  gen, in
 * each registration's epoll data, tells an event for the fd of a
 * previous life (still open elsewhere) from one for this one. */
struct fdwatch {
	struct coro *waiter;
	uint32_t want;        /* the waiter's EPOLL* bits */
	uint32_t seen;        /* EPOLL* bits come while nobody wanted them */
	uint32_t gen;
	int registered;
#if CORO_CHECK
	dev_t dev;            /* what was registered, to catch a reuse */
	ino_t ino;
#endif
};

#define FD_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
/* epoll data of a watched fd: this bit, gen << 32, fd; never a tag */
#define FD_DATA_BIT (1ULL << 63)
#define FD_GEN_MASK 0x7fffffffu

static struct {
	int ep;
	struct coro_ctx main;
	struct coro *cur, *all, *ready, *ready_tail;
	size_t n;
	struct coro_deadlines deadlines;
	struct fdwatch *fds;  /* [nfds] */
	size_t nfds;
	const void *main_bottom;  /* ASan: the main stack */
	size_t main_size;
	long sweep_at;            /* the next idle sweep (trim_idle) */
	int sweep_due;            /* a coroutine ran since the last one */
} S = { .ep = -1 };

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int coro_sched_init(void)
{
	if (S.ep < 0)
		S.ep = epoll_create1(EPOLL_CLOEXEC);
	return S.ep < 0 ? -1 : 0;
}

int coro_sched_watch(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	return tag < CORO_TAG_MAX ? epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) : -1;
}

int coro_sched_unwatch(int fd)
{
	return epoll_ctl(S.ep, EPOLL_CTL_DEL, fd, NULL);
}

struct coro *coro_self(void)
{
	return S.cur;
}

size_t coro_count(void)
{
	return S.n;
}

static void make_ready(struct coro *c)
{
	c->state = CORO_READY;
	c->ready_next = NULL;
	if (S.ready_tail)
		S.ready_tail->ready_next = c;
	else
		S.ready = c;
	S.ready_tail = c;
}

/* The coroutine's side of a switch back to the scheduler. */
static void to_main(struct coro *c, int finishing)
{
#if CORO_ASAN
	__sanitizer_start_switch_fiber(finishing ? NULL : &c->fake_stack,
				       S.main_bottom, S.main_size);
#else
	(void)finishing;
#endif
	coro_ctx_switch(&c->ctx, &S.main);
#if CORO_ASAN
	__sanitizer_finish_switch_fiber(c->fake_stack, &S.main_bottom,
					&S.main_size);
#endif
}

static void trampoline(void)
{
	struct coro *c = S.cur;

#if CORO_ASAN
	__sanitizer_finish_switch_fiber(NULL, &S.main_bottom, &S.main_size);
#endif
	c->fn(c->arg);
	c->state = CORO_DONE;
	to_main(c, 1);
	abort(); /* a finished coroutine is never resumed */
}

struct coro *coro_spawn(coro_fn *fn, void *arg, void (*enter)(void *),
			size_t stack)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct coro *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	stack = (stack * CORO_STACK_FACTOR + page - 1) / page * page;
	c->maplen = stack + page;
	c->map = coro_ctx_stack_get(c->maplen, page);
	if (!c->map ||
	    coro_ctx_make(&c->ctx, c->map + page, stack, trampoline) < 0) {
		if (c->map)
			coro_ctx_stack_put(c->map, c->maplen);
		free(c);
		return NULL;
	}
	c->fn = fn;
	c->arg = arg;
	c->enter = enter;
	c->wait_fd = -1;
	c->next = S.all;
	if (S.all)
		S.all->prev = c;
	S.all = c;
	S.n++;
	make_ready(c);
	return c;
}

static void coro_free(struct coro *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		S.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	S.n--;
	coro_ctx_stack_put(c->map, c->maplen);
	free(c);
}

static void run_one(struct coro *c)
{
	void *fake = NULL;

	if (c->enter)
		c->enter(c->arg);
	c->state = CORO_RUNNING;
	c->ran = 1;
	c->trimmed = 0;
	S.sweep_due = 1;
	S.cur = c;
#if CORO_ASAN
	__sanitizer_start_switch_fiber(&fake, c->ctx.stack, c->ctx.size);
#endif
	coro_ctx_switch(&S.main, &c->ctx);
#if CORO_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	(void)fake;
	S.cur = NULL;
	if (c->state == CORO_DONE)
		coro_free(c);
}

/* Every coroutine ready now; those made ready meanwhile wait for the
 * next round (a coroutine that yields in a loop cannot starve the
 * others or the epoll wait). */
static void run_ready(void)
{
	struct coro *c = S.ready;

	S.ready = S.ready_tail = NULL;
	while (c) {
		struct coro *next = c->ready_next;
		run_one(c);
		c = next;
	}
}

/* How long epoll may wait: the caller's limit, cut to the nearest
 * deadline; 0 when something is ready. */
static int wait_ms(int timeout_ms, long now)
{
	struct coro_deadline *d = coro_deadline_first(&S.deadlines);
	long t = timeout_ms;

	if (S.ready)
		return 0;
	if (d) {
		long left = d->at > now ? d->at - now : 0;
		if (t < 0 || left < t)
			t = left;
	}
	if (S.sweep_due && (t < 0 || S.sweep_at - now < t))
		t = S.sweep_at > now ? S.sweep_at - now : 0;
	return (int)t;
}

/* A coroutine idle since the sweep before last: the stack pages below
 * the page it waits in hold nothing (a deeper call of an earlier command
 * touched them: a TLS handshake, a policy request), and what its idle
 * hook keeps (io buffers) neither; both go back to the kernel, to be
 * touched again, zeroed, if it runs that deep again. */
static void trim(struct coro *c)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *lo = c->ctx.stack, *sp = coro_ctx_sp(&c->ctx);

	if (sp > lo && sp <= lo + c->ctx.size) {
		char *hi = (char *)((uintptr_t)sp & ~(uintptr_t)(page - 1));
		if (hi > lo)
			madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
	}
	if (c->idle)
		c->idle(c->idle_arg);
	c->trimmed = 1;
}

/* Every CORO_IDLE_MS while coroutines run: those that waited through a
 * whole period are trimmed, once.  Long-idle sessions (thousands of
 * them) then cost their few live pages; a busy one is never trimmed, so
 * a message pays no page faults for it.  One walk of every coroutine a
 * second at most, and none once all are trimmed. */
static void trim_idle(long now)
{
	int trimmed = 0;

	if (!S.sweep_due || now < S.sweep_at)
		return;
	S.sweep_due = 0;
	S.sweep_at = now + CORO_IDLE_MS;
	for (struct coro *c = S.all; c; c = c->next) {
		if (c->state != CORO_WAITING)
			continue;
		if (c->ran) {
			c->ran = 0;
			S.sweep_due = 1;
		} else if (!c->trimmed) {
			trim(c);
			trimmed++;
		}
	}
	/* what they freed when they went idle (a TLS handshake's buffers,
	 * a message's) lies in holes between what they keep: whole free
	 * pages of the heap go back too */
	if (trimmed)
		malloc_trim(0);
}

static struct fdwatch *fdw_at(int fd)
{
	return fd >= 0 && (size_t)fd < S.nfds ? &S.fds[fd] : NULL;
}

/* The record of fd, the table grown to hold it; NULL out of memory. */
static struct fdwatch *fdw_get(int fd)
{
	if ((size_t)fd >= S.nfds) {
		size_t n = S.nfds ? S.nfds : 256;
		while (n <= (size_t)fd)
			n *= 2;
		struct fdwatch *v = realloc(S.fds, n * sizeof *v);
		if (!v)
			return NULL;
		memset(v + S.nfds, 0, (n - S.nfds) * sizeof *v);
		S.fds = v;
		S.nfds = n;
	}
	return &S.fds[fd];
}

/* c waits no more: out of the deadlines and off its fd. */
static void wait_end(struct coro *c, int result)
{
	struct fdwatch *w = fdw_at(c->wait_fd);

	if (w && w->waiter == c)
		w->waiter = NULL;
	c->wait_fd = -1;
	coro_deadline_del(&S.deadlines, &c->deadline);
	c->result = result;
	make_ready(c);
}

/* Only what is due: the heap's first ones. */
static void expire(long now)
{
	struct coro_deadline *d;

	while ((d = coro_deadline_first(&S.deadlines)) && d->at <= now) {
		struct coro *c = (struct coro *)((char *)d -
						 offsetof(struct coro, deadline));
		wait_end(c, 0);
	}
}

/* An event of a watched fd: to its waiter when it wants it, else kept. */
static void fd_event(uint64_t data, uint32_t events)
{
	struct fdwatch *w = fdw_at((int)(uint32_t)data);

	if (!w || !w->registered || w->gen != ((data >> 32) & FD_GEN_MASK))
		return; /* a previous life of the fd number */
	if (w->waiter && (events & w->want)) {
		w->seen |= events & ~w->want;
		wait_end(w->waiter, 1);
	} else
		w->seen |= events;
}

int coro_sched_run(int timeout_ms, uint64_t *tags, int max)
{
	struct epoll_event ev[256];
	int k, ntags = 0;
	long now = 0;

	k = epoll_wait(S.ep, ev, 256, wait_ms(timeout_ms, now_ms()));
	if (k < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < k; i++) {
		if (ev[i].data.u64 & FD_DATA_BIT)
			fd_event(ev[i].data.u64, ev[i].events);
		else if (ntags < max)
			tags[ntags++] = ev[i].data.u64;
	}
	if (coro_deadline_first(&S.deadlines) || S.sweep_due)
		now = now_ms();
	if (coro_deadline_first(&S.deadlines))
		expire(now);
	run_ready();
	if (S.sweep_due)
		trim_idle(now);
	return ntags;
}

/* Into the epoll set for good (until coro_forget): 0, or -1 with errno
 * (EPERM: a regular file, which is always ready). */
static int fd_register(int fd, struct fdwatch *w)
{
	struct epoll_event ev = { .events = FD_EVENTS };

	w->gen = (w->gen + 1) & FD_GEN_MASK;
	ev.data.u64 = FD_DATA_BIT | (uint64_t)w->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) < 0 &&
	    (errno != EEXIST || epoll_ctl(S.ep, EPOLL_CTL_MOD, fd, &ev) < 0))
		return -1;
	w->registered = 1;
	w->seen = 0;
#if CORO_CHECK
	struct stat st;
	if (fstat(fd, &st) == 0) {
		w->dev = st.st_dev;
		w->ino = st.st_ino;
	}
#endif
	return 0;
}

#if CORO_CHECK
/* A registered fd is still the file registered: one closed without
 * coro_forget would never wake its next waiter. */
static void fd_check(int fd, const struct fdwatch *w)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_dev != w->dev || st.st_ino != w->ino) {
		fprintf(stderr, "coro: fd %d was closed without coro_forget\n",
			fd);
		abort();
	}
}
#endif

/* poll(2) bits as the epoll bits a wait for them is woken by. */
static uint32_t want_of(short events)
{
	uint32_t want = EPOLLERR | EPOLLHUP;

	if (events & POLLIN)
		want |= EPOLLIN | EPOLLRDHUP;
	if (events & POLLOUT)
		want |= EPOLLOUT;
	if (events & POLLRDHUP)
		want |= EPOLLRDHUP;
	return want;
}

int coro_wait(int fd, short events, int timeout_ms)
{
	struct coro *c = S.cur;
	struct fdwatch *w;
	uint32_t want = want_of(events);

	if (!c || fd < 0 || !(w = fdw_get(fd)))
		return -1;
	if (!w->registered && fd_register(fd, w) < 0)
		return errno == EPERM ? 1 : -1; /* a file: always ready */
#if CORO_CHECK
	fd_check(fd, w);
#endif
	if (w->seen & want) { /* came while nobody waited */
		w->seen &= ~want;
		return 1;
	}
	if (w->waiter) { /* an fd is one coroutine's */
		errno = EBUSY;
		return -1;
	}
	w->waiter = c;
	w->want = want;
	c->wait_fd = fd;
	if (timeout_ms > 0) {
		c->deadline.at = now_ms() + timeout_ms;
		if (coro_deadline_add(&S.deadlines, &c->deadline) < 0) {
			w->waiter = NULL;
			c->wait_fd = -1;
			return -1;
		}
	}
	c->result = -1;
	c->state = CORO_WAITING;
	to_main(c, 0);
	return c->result;
}

void coro_forget(int fd)
{
	struct fdwatch *w = fdw_at(fd);

	if (!w)
		return;
	if (w->registered)
		epoll_ctl(S.ep, EPOLL_CTL_DEL, fd, NULL);
	if (w->waiter) /* cannot be: the fd's coroutine is the one running */
		wait_end(w->waiter, -1);
	w->registered = 0;
	w->seen = 0;
}

void coro_idle_hook(void (*fn)(void *arg), void *arg)
{
	if (S.cur) {
		S.cur->idle = fn;
		S.cur->idle_arg = arg;
	}
}

void coro_yield(void)
{
	struct coro *c = S.cur;

	if (!c)
		return;
	make_ready(c);
	to_main(c, 0);
}
