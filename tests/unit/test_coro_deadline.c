// links:
/* test_coro_deadline.c: the deadline heap against a plain scan over
 * random adds and removals, and coroutines that time out in the order
 * of their deadlines, each at its own, whatever the order they began. */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro.h"
#include "coro_deadline.h"
#include "t.h"

#define NODES 500

static struct coro_deadline node[NODES];
static int in[NODES];

/* The earliest of the nodes in, by a scan; -1 when none. */
static long scan_first(void)
{
	long best = -1;
	for (int i = 0; i < NODES; i++)
		if (in[i] && (best < 0 || node[i].at < best))
			best = node[i].at;
	return best;
}

static void test_heap(void)
{
	struct coro_deadlines h = { 0 };
	int agree = 1, slots = 1;

	srand(20);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % NODES;
		if (in[i] && rand() % 3 == 0) {
			coro_deadline_del(&h, &node[i]);
			in[i] = 0;
		} else if (!in[i]) {
			node[i].at = rand() % 1000; /* equal keys too */
			if (coro_deadline_add(&h, &node[i]) < 0)
				abort();
			in[i] = 1;
		}
		struct coro_deadline *f = coro_deadline_first(&h);
		long want = scan_first();
		if ((f ? f->at : -1) != want)
			agree = 0;
		/* a node is in the heap exactly when it was put in */
		if (!!node[i].slot != in[i])
			slots = 0;
	}
	T_CHECK("heap first = earliest by scan, 20000 random steps", agree);
	T_CHECK("each node knows whether it is in", slots);
	for (int i = 0; i < NODES; i++)
		if (in[i])
			coro_deadline_del(&h, &node[i]);
	T_CHECK("empty after taking every node out",
		coro_deadline_first(&h) == NULL && h.n == 0);
	coro_deadline_free(&h);
}

#define NWAIT 40

struct waiter {
	int fd, timeout_ms, rc;
	long ended;
};

static struct waiter wt[NWAIT];
static int order[NWAIT], nended;

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void waiter_run(void *arg)
{
	struct waiter *w = arg;
	w->rc = coro_wait(w->fd, POLLIN, w->timeout_ms);
	w->ended = ms_now();
	order[nended++] = (int)(w - wt);
}

/* Deadlines 30, 50, ... ms apart, begun in a shuffled order. */
static void test_expiry_order(void)
{
	int peer[NWAIT], sorted = 1, on_time = 1;
	long t0 = ms_now();

	for (int i = 0; i < NWAIT; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			abort();
		wt[i] = (struct waiter){ .fd = sv[0],
					 .timeout_ms = 30 + 20 * ((i * 17) % NWAIT) };
		peer[i] = sv[1];
		coro_spawn(waiter_run, &wt[i], NULL, CORO_STACK_DEFAULT);
	}
	while (coro_count() > 0 && ms_now() - t0 < 5000)
		coro_sched_run(-1, NULL, 0);
	for (int k = 0; k < NWAIT; k++) {
		struct waiter *w = &wt[order[k]];
		if (k > 0 && w->timeout_ms < wt[order[k - 1]].timeout_ms)
			sorted = 0;
		if (w->rc != 0 || w->ended - t0 < w->timeout_ms ||
		    w->ended - t0 > w->timeout_ms + 500)
			on_time = 0;
	}
	T_CHECK("every waiter ended", nended == NWAIT);
	T_CHECK("they time out in the order of their deadlines", sorted);
	T_CHECK("each at its own deadline", on_time);
	for (int i = 0; i < NWAIT; i++) {
		coro_forget(wt[i].fd);
		close(wt[i].fd);
		close(peer[i]);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (coro_sched_init() < 0)
		abort();
	test_heap();
	test_expiry_order();
	return t_done();
}
