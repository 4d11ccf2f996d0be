// links:
/* test_coro.c: sessions as coroutines.  Many line readers in one
 * process over socketpairs: a silent peer times out alone, at its own
 * deadline, while the others finish; a peer that never sends holds no
 * one up; a deep stack stays within the coroutine's; a long idle one
 * gives its deep stack pages back; one whose reads never wait yields
 * after its run budget, so the others and the deadlines are served. */
#include <poll.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro.h"
#include "io.h"
#include "t.h"

#define NSESS 200
#define SILENT_MS 2000 /* the silent session's deadline: the others end first */

struct reader {
	int fd;
	int timeout_ms;
	int got, err;
	long done_ms;
	char line[64];
};

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Blocking-style code, as a session is written. */
static void reader_run(void *arg)
{
	struct reader *r = arg;
	struct io *io = malloc(sizeof *io);
	size_t len;
	unsigned flags;

	io_init(io, r->fd, r->fd, r->timeout_ms);
	while (io_getline(io, r->line, sizeof r->line, &len, &flags) == 1) {
		r->got++;
		if (io_puts(io, "250 ok\r\n") < 0 || io_flush(io) < 0)
			break;
	}
	r->err = io->err;
	r->done_ms = ms_now();
	free(io);
}

static struct reader rd[NSESS];
static int peer[NSESS];

static void test_many(void)
{
	long t0 = ms_now();
	int ok = 1, silent_timed_out, others_done = 1;
	char buf[64];

	T_CHECK("scheduler", coro_sched_init() == 0);
	for (int i = 0; i < NSESS; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			abort();
		rd[i] = (struct reader){ .fd = sv[0],
					 .timeout_ms = i == 0 ? SILENT_MS : 5000 };
		peer[i] = sv[1];
		if (!coro_spawn(reader_run, &rd[i], NULL, CORO_STACK_DEFAULT))
			ok = 0;
	}
	T_CHECK("spawned", ok && coro_count() == NSESS);
	/* all but the first talk, then hang up; the first stays silent */
	coro_sched_run(0, NULL, 0);
	for (int i = 1; i < NSESS; i++)
		if (write(peer[i], "HELO a\r\nNOOP\r\n", 14) != 14)
			abort();
	/* everyone but the silent one answered before its deadline: a
	 * scheduler held by it would serve them after (a count, not a time
	 * bound, so that a busy machine does not fail it) */
	int all = 0;
	while (!all && ms_now() - t0 < 2 * SILENT_MS) {
		coro_sched_run(10, NULL, 0);
		all = 1;
		for (int i = 1; i < NSESS; i++)
			all &= rd[i].got == 2;
	}
	T_CHECK("the silent peer held no one up", all && rd[0].done_ms == 0);
	for (int i = 1; i < NSESS; i++) {
		if (read(peer[i], buf, sizeof buf) != 16)
			ok = 0;
		close(peer[i]);
	}
	T_CHECK("each got its two replies", ok);
	while (coro_count() > 0 && ms_now() - t0 < SILENT_MS + 3000)
		coro_sched_run(-1, NULL, 0);
	for (int i = 1; i < NSESS; i++)
		if (rd[i].got != 2 || rd[i].err != IO_ERR_EOF)
			others_done = 0;
	silent_timed_out = rd[0].err == IO_ERR_TIMEOUT && rd[0].got == 0 &&
			   rd[0].done_ms - t0 >= SILENT_MS - 10 &&
			   rd[0].done_ms - t0 < SILENT_MS + 3000;
	T_CHECK("a silent peer times out at its own deadline", silent_timed_out);
	T_CHECK("the others ended at their peers' close", others_done);
	T_CHECK("all finished", coro_count() == 0);
	close(peer[0]);
	for (int i = 0; i < NSESS; i++) {
		coro_forget(rd[i].fd); /* its number is used again below */
		close(rd[i].fd);
	}
}

static int deep(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	return n ? deep(n - 1) + pad[0] : 0;
}

static int deep_result;
static void deep_run(void *arg)
{
	(void)arg;
	deep_result = deep(40); /* ~40 KiB of frames */
}

/* A watched fd of the caller's own comes back as its tag. */
static void test_tags_and_stack(void)
{
	int sv[2];
	uint64_t tags[4];
	int n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	T_CHECK("watch", coro_sched_watch(sv[0], EPOLLIN, 7) == 0);
	if (write(sv[1], "x", 1) != 1)
		abort();
	n = coro_sched_run(100, tags, 4);
	T_CHECK("own fd comes back tagged", n == 1 && tags[0] == 7);
	coro_sched_unwatch(sv[0]);
	close(sv[0]);
	close(sv[1]);
	coro_spawn(deep_run, NULL, NULL, CORO_STACK_DEFAULT);
	while (coro_count() > 0)
		coro_sched_run(-1, NULL, 0);
	T_CHECK("deep calls fit the stack", deep_result > 0);
	T_CHECK("not in a coroutine outside", coro_self() == NULL);
}

/* Idle: a coroutine that once ran deep, then waits long for its peer,
 * gives those stack pages back (and its hook runs); what its frames
 * hold above where it waits is intact when it runs again. */
static uintptr_t deep_page; /* an address, not a pointer kept */
static int idle_calls, idle_ok;

static void idle_hook(void *arg)
{
	idle_calls += arg == &idle_calls;
}

static int deep_touch(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	if (n == 0)
		deep_page = (uintptr_t)pad;
	return n ? deep_touch(n - 1) + pad[0] : 0;
}

static void idle_run(void *arg)
{
	int fd = *(int *)arg;
	volatile char mine[256];
	char c;

	memset((char *)mine, 'm', sizeof mine);
	coro_idle_hook(idle_hook, &idle_calls);
	deep_touch(40);
	if (coro_wait(fd, POLLIN, 10000) == 1 && read(fd, &c, 1) == 1)
		idle_ok = mine[0] == 'm' && mine[sizeof mine - 1] == 'm';
}

static int resident(uintptr_t p)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *at = (void *)(p & ~(uintptr_t)(page - 1));

	return mincore(at, page, &v) == 0 && (v & 1);
}

static void test_idle_trim(void)
{
	int sv[2];
	long t0 = ms_now();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	coro_spawn(idle_run, &sv[0], NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0);
	T_CHECK("deep stack pages touched", deep_page && resident(deep_page));
	T_CHECK("not trimmed while it has just run", idle_calls == 0);
	while (idle_calls == 0 && ms_now() - t0 < 4 * CORO_IDLE_MS)
		coro_sched_run(-1, NULL, 0);
	T_CHECK("trimmed after waiting 1 to 2 idle periods",
		idle_calls == 1 && ms_now() - t0 >= CORO_IDLE_MS);
	T_CHECK("its deep stack pages given back", !resident(deep_page));
	for (int i = 0; i < 3; i++)
		coro_sched_run(CORO_IDLE_MS, NULL, 0);
	T_CHECK("trimmed once, not again while it waits", idle_calls == 1);
	if (write(sv[1], "x", 1) != 1)
		abort();
	while (coro_count() > 0)
		coro_sched_run(-1, NULL, 0);
	T_CHECK("its live frames intact after", idle_ok);
	coro_forget(sv[0]);
	close(sv[0]);
	close(sv[1]);
}

/* The run budget: a reader whose every read finds bytes (a client that
 * keeps its socket full; here a read plug-in that never runs dry and
 * takes 100 us a call) lets another coroutine run, and a waiter's
 * deadline expire, after about CORO_RUN_US, not once it is done. */
#define HOG_MS 300
static long hog_t0, other_at;
static int hog_reads, other_reads, waiter_reads, waiter_rc = -2;

static ssize_t endless_read(struct io *io, void *buf, size_t n)
{
	struct timespec a, b;

	(void)io;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec <
	       100000);
	memset(buf, 'x', n < 64 ? n : 64);
	return n < 64 ? (ssize_t)n : 64;
}

static void hog_run(void *arg)
{
	struct io *io = malloc(sizeof *io);
	char buf[64];

	(void)arg;
	io_init(io, -1, -1, 1000);
	io->read = endless_read;
	hog_t0 = ms_now();
	while (ms_now() - hog_t0 < HOG_MS && io_read(io, buf, sizeof buf) > 0)
		hog_reads++;
	free(io);
}

static void other_run(void *arg)
{
	(void)arg;
	other_at = ms_now();
	other_reads = hog_reads;
}

static void waiter_run(void *arg)
{
	waiter_rc = coro_wait(*(int *)arg, POLLIN, 20);
	waiter_reads = hog_reads;
}

static void test_run_budget(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	coro_spawn(waiter_run, &sv[0], NULL, CORO_STACK_DEFAULT);
	coro_sched_run(0, NULL, 0); /* it waits, its deadline 20 ms on */
	coro_spawn(hog_run, NULL, NULL, CORO_STACK_DEFAULT);
	coro_spawn(other_run, NULL, NULL, CORO_STACK_DEFAULT);
	while (coro_count() > 0)
		coro_sched_run(-1, NULL, 0);
	/* counted in reads of 0.1 ms, not timed: a busy machine makes the
	 * reads fewer, not more */
	T_CHECK("a reader that never waits lets another run within its budget",
		other_at && other_reads <= 2 * CORO_RUN_US / 100);
	T_CHECK("not at its first read: it ran its budget",
		other_reads >= 2);
	T_CHECK("a deadline expires meanwhile, not after it",
		waiter_rc == 0 && waiter_reads < hog_reads &&
		waiter_reads <= 20 * 10 + 2 * CORO_RUN_US / 100);
	T_CHECK("the reader went on after", hog_reads > other_reads);
	coro_forget(sv[0]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_many();
	test_tags_and_stack();
	test_idle_trim();
	test_run_budget();
	return t_done();
}
