/* coro.c: coroutines and one epoll set (see coro.h). */
#include "coro.h"
#include "coro_deadline.h"
#include "coro_fdw.h"
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
	int started;          /* it has run */
	int ran;              /* since the last idle sweep */
	int trimmed;          /* idle memory given back since it last ran */
	long run_us;          /* coro_maybe_yield's first look since it was
			       * resumed, 0 none yet */
};

static struct {
	int ep;
	struct coro_ctx main;
	struct coro *cur, *all, *ready, *ready_tail;
	int ready_new;        /* none ready but new ones (not yet run) */
	size_t n;
	struct coro_deadlines deadlines;
	const void *main_bottom;  /* ASan: the main stack */
	size_t main_size;
	long sweep_at;            /* the next idle sweep (trim_idle) */
	int sweep_due;            /* a coroutine ran since the last one */
} S = { .ep = -1 };

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long coro_now_ms(void)
{
	return now_us() / 1000;
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
	if (!S.ready_tail)
		S.ready_new = 1;
	if (c->started)
		S.ready_new = 0;
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
	c->started = 1;
	c->ran = 1;
	c->trimmed = 0;
	c->run_us = 0;
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

/* c waits no more: out of the deadlines and off its fd. */
static void wait_end(struct coro *c, int result)
{
	struct coro_fdw *w = coro_fdw_at(c->wait_fd);

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
	struct coro_fdw *w = coro_fdw_at((int)(uint32_t)data);

	if (!w || !w->events || w->gen != ((data >> 32) & CORO_FDW_GEN_MASK))
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

	/* only new coroutines to run (the caller's, just made): they run
	 * now, without a look at the fds that could find nothing for them;
	 * the next round looks */
	k = S.ready && S.ready_new
		    ? 0
		    : epoll_wait(S.ep, ev, 256,
				 wait_ms(timeout_ms, coro_now_ms()));
	if (k < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < k; i++) {
		if (ev[i].data.u64 & CORO_FDW_DATA_BIT)
			fd_event(ev[i].data.u64, ev[i].events);
		else if (ntags < max)
			tags[ntags++] = ev[i].data.u64;
	}
	if (coro_deadline_first(&S.deadlines) || S.sweep_due)
		now = coro_now_ms();
	if (coro_deadline_first(&S.deadlines))
		expire(now);
	run_ready();
	if (S.sweep_due)
		trim_idle(now);
	return ntags;
}

int coro_wait(int fd, short events, int timeout_ms)
{
	struct coro *c = S.cur;
	struct coro_fdw *w;
	uint32_t want = coro_fdw_want(events);

	if (!c || fd < 0 || !(w = coro_fdw_get(fd)))
		return -1;
#if CORO_FDW_CHECK
	if (w->events)
		coro_fdw_check(fd, w);
#endif
	if ((!w->events || (want & ~w->events & EPOLLOUT)) &&
	    coro_fdw_register(S.ep, fd, w, want & EPOLLOUT) < 0)
		return errno == EPERM ? 1 : -1; /* a file: always ready */
	if (w->seen & want) { /* came while nobody waited */
		w->seen &= ~want;
		w->drained = 0;
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
		c->deadline.at = coro_now_ms() + timeout_ms;
		if (coro_deadline_add(&S.deadlines, &c->deadline) < 0) {
			w->waiter = NULL;
			c->wait_fd = -1;
			return -1;
		}
	}
	c->result = -1;
	c->state = CORO_WAITING;
	to_main(c, 0);
	if (c->result == 1 && (w = coro_fdw_at(fd)))
		w->drained = 0; /* until a read says so again */
	return c->result;
}

void coro_read_done(int fd, int drained)
{
	struct coro_fdw *w = coro_fdw_at(fd);

	if (!w)
		return;
	w->drained = drained && w->events;
	/* an edge kept from before is stale once a read found the end: a
	 * wait would return at once for it, and the read after say EAGAIN */
	if (drained)
		w->seen &= ~(uint32_t)EPOLLIN;
}

int coro_read_first(int fd)
{
	struct coro_fdw *w = coro_fdw_at(fd);

	/* drained is set on an fd out of the set by coro_read_none only */
	return !w || !w->drained ||
	       (w->seen & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR));
}

void coro_read_none(int fd)
{
	struct coro_fdw *w;

	if (!S.cur || fd < 0 || !(w = coro_fdw_get(fd)))
		return;
	w->drained = 1;
	w->seen &= ~(uint32_t)EPOLLIN; /* read since, or it would be there */
}

int coro_fd_hung(int fd)
{
	struct coro_fdw *w = coro_fdw_at(fd);

	if (!S.cur || !w || !w->events)
		return -1;
	return (w->seen & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
}

/* fd's record reset; out of the epoll set too when del. */
static void fd_forget(int fd, int del)
{
	struct coro_fdw *w = coro_fdw_at(fd);

	if (!w)
		return;
	if (w->events && del)
		epoll_ctl(S.ep, EPOLL_CTL_DEL, fd, NULL);
	if (w->waiter) /* cannot be: the fd's coroutine is the one running */
		wait_end(w->waiter, -1);
	w->events = 0;
	w->seen = 0;
	w->drained = 0;
}

void coro_forget(int fd)
{
	fd_forget(fd, 1);
}

int coro_close(int fd)
{
	fd_forget(fd, 0);
	return close(fd);
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

/* Measured from the first look after it was resumed, not from the
 * resume itself: no clock read for a coroutine that only waits. */
void coro_maybe_yield(void)
{
	struct coro *c = S.cur;
	long now;

	if (!c)
		return;
	now = now_us();
	if (!c->run_us)
		c->run_us = now;
	else if (now - c->run_us >= CORO_RUN_US)
		coro_yield(); /* resumed: run_us starts afresh */
}

int coro_sleep(int ms)
{
	struct coro *c = S.cur;

	if (!c)
		return poll(NULL, 0, ms) < 0 && errno != EINTR ? -1 : 0;
	if (ms <= 0) {
		coro_yield();
		return 0;
	}
	c->wait_fd = -1;
	c->deadline.at = coro_now_ms() + ms;
	if (coro_deadline_add(&S.deadlines, &c->deadline) < 0)
		return -1;
	c->result = -1;
	c->state = CORO_WAITING;
	to_main(c, 0);
	return 0;
}
