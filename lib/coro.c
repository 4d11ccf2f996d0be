/* coro.c: coroutines over ucontext and one epoll set (see coro.h). */
#include "coro.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
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
	ucontext_t ctx;
	char *map;            /* guard page + stack */
	size_t maplen;
	coro_fn *fn;
	void *arg;
	void (*enter)(void *);
	enum coro_state state;
	long deadline;        /* CLOCK_MONOTONIC ms; 0 none */
	int result;           /* what coro_wait returns */
	struct coro *next, *prev;  /* every coroutine */
	struct coro *ready_next;
	void *fake_stack;     /* ASan's, while switched out */
};

static struct {
	int ep;
	ucontext_t main;
	struct coro *cur, *all, *ready, *ready_tail;
	size_t n;
	const void *main_bottom;  /* ASan: the main stack */
	size_t main_size;
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
	swapcontext(&c->ctx, &S.main);
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

/* getcontext returns twice as far as the compiler knows (it never does
 * here: the context is only ever entered by makecontext's function);
 * kept apart so that the caller's locals are not thought clobbered. */
static __attribute__((noinline)) int ctx_get(ucontext_t *u)
{
	return getcontext(u);
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
	c->map = mmap(NULL, c->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->map == MAP_FAILED || mprotect(c->map, page, PROT_NONE) < 0 ||
	    ctx_get(&c->ctx) < 0) {
		if (c->map != MAP_FAILED)
			munmap(c->map, c->maplen);
		free(c);
		return NULL;
	}
	c->ctx.uc_stack.ss_sp = c->map + page;
	c->ctx.uc_stack.ss_size = stack;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, trampoline, 0);
	c->fn = fn;
	c->arg = arg;
	c->enter = enter;
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
	munmap(c->map, c->maplen);
	free(c);
}

static void run_one(struct coro *c)
{
	void *fake = NULL;

	if (c->enter)
		c->enter(c->arg);
	c->state = CORO_RUNNING;
	S.cur = c;
#if CORO_ASAN
	__sanitizer_start_switch_fiber(&fake, c->ctx.uc_stack.ss_sp,
				       c->ctx.uc_stack.ss_size);
#endif
	swapcontext(&S.main, &c->ctx);
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
 * deadline; 0 when something is ready.  A scan of every coroutine: a
 * few thousand compares per wake-up. */
static int wait_ms(int timeout_ms, long now)
{
	long t = timeout_ms;

	if (S.ready)
		return 0;
	for (struct coro *c = S.all; c; c = c->next)
		if (c->state == CORO_WAITING && c->deadline) {
			long left = c->deadline > now ? c->deadline - now : 0;
			if (t < 0 || left < t)
				t = left;
		}
	return (int)t;
}

static void expire(long now)
{
	for (struct coro *c = S.all; c; c = c->next)
		if (c->state == CORO_WAITING && c->deadline &&
		    c->deadline <= now) {
			c->result = 0;
			make_ready(c);
		}
}

int coro_sched_run(int timeout_ms, uint64_t *tags, int max)
{
	struct epoll_event ev[256];
	int k, ntags = 0;

	k = epoll_wait(S.ep, ev, 256, wait_ms(timeout_ms, now_ms()));
	if (k < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < k; i++) {
		if (ev[i].data.u64 < CORO_TAG_MAX) {
			if (ntags < max)
				tags[ntags++] = ev[i].data.u64;
			continue;
		}
		struct coro *c = ev[i].data.ptr;
		if (c->state == CORO_WAITING) {
			c->result = 1;
			make_ready(c);
		}
	}
	expire(now_ms());
	run_ready();
	return ntags;
}

int coro_wait(int fd, short events, int timeout_ms)
{
	struct coro *c = S.cur;
	struct epoll_event ev = { .events = EPOLLONESHOT, .data.ptr = c };

	if (!c)
		return -1;
	if (events & POLLIN)
		ev.events |= EPOLLIN;
	if (events & POLLOUT)
		ev.events |= EPOLLOUT;
	if (events & POLLRDHUP)
		ev.events |= EPOLLRDHUP;
	if (epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return errno == EPERM ? 1 : -1; /* a file: always ready */
	c->deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	c->result = -1;
	c->state = CORO_WAITING;
	to_main(c, 0);
	/* removed at once: the fd may be closed, or passed on, after this */
	epoll_ctl(S.ep, EPOLL_CTL_DEL, fd, NULL);
	return c->result;
}

void coro_yield(void)
{
	struct coro *c = S.cur;

	if (!c)
		return;
	make_ready(c);
	to_main(c, 0);
}
